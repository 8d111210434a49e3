//! `berth host import`: docker contexts and DOCKER_HOST become hosts.

use berth_e2e::Berth;

fn context(config: &std::path::Path, id: &str, name: &str, host: &str) {
    let dir = config.join("contexts/meta").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

#[test]
fn contexts_and_docker_host_are_imported_once() {
    let berth = Berth::new();
    let config = berth.dir.path().join("docker");
    context(&config, "a1", "prod-fra", "ssh://ops@fra.example:2222");
    context(&config, "b2", "lab", "tcp://10.9.0.4:2376");
    std::fs::create_dir_all(config.join("contexts/tls/b2/docker")).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(config.join("contexts/tls/b2/docker").join(f), "pem").unwrap();
    }
    context(&config, "c3", "broken", "http://nope");
    let import = || {
        let out = berth
            .command(&["host", "import", "--json"])
            .env("DOCKER_CONFIG", &config)
            .env("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = import();
    let added: Vec<&str> = first.as_array().unwrap().iter().filter(|o| o["added"] == true).map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(added, ["lab", "prod-fra", "docker-host"]);
    let broken = first.as_array().unwrap().iter().find(|o| o["name"] == "broken").unwrap();
    assert!(broken["reason"].as_str().unwrap().contains("tcp://HOST:PORT"), "{broken}");

    let hosts = berth.json(&["host", "ls"]);
    let urls: Vec<&str> = hosts.as_array().unwrap().iter().map(|h| h["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["unix:///run/user/1000/docker.sock", "tcp://10.9.0.4:2376", "ssh://ops@fra.example:2222"]);

    let second = import();
    assert!(second.as_array().unwrap().iter().all(|o| o["added"] == false), "{second}");
}
