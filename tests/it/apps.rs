//! Apps (issue 13, in progress): app files applied as revisions and listed, through the real
//! `berth` binary; bad files refused with the key named and nothing stored.

use berth_e2e::Berth;

const APP: &str = r#"
name = "shop-web"
image = "base/jre:8"
command = ["sh", "-c", "exec /app/bin/start"]
replicas = 3
[package]
source = "dist/shop-web.tar.gz"
path = "/app"
[resources]
cpus = 0.5
memory = "256MiB"
[placement]
pools = ["lan-sh"]
strategy = "spread"
[env.prod]
vars = { DB_URL = "jdbc:mysql://10.20.0.9/shop", DB_PASSWORD = "keyring:shop-db" }
files = { "/app/conf/app.properties" = "conf/prod.properties" }
[env.test]
replicas = 1
"#;

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("dist/shop-web.tar.gz"), b"package").unwrap();
    std::fs::write(dir.path().join("conf/prod.properties"), b"k=v\n").unwrap();
    std::fs::write(dir.path().join("shop.toml"), APP).unwrap();
    dir
}

#[test]
fn an_app_file_is_applied_as_revisions_and_listed_per_environment() {
    let berth = Berth::new();
    berth.ok(&["ipam", "pool", "add", "lan-sh", "--subnet", "10.20.0.0/24"]);
    let dir = app_dir();
    let file = dir.path().join("shop.toml");
    let file = file.to_str().unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop-web: revision 1");
    let again = berth.json(&["app", "apply", file]);
    assert_eq!((again["revision"].as_i64(), again["new"].as_bool()), (Some(1), Some(false)), "the same file is no new revision");
    std::fs::write(dir.path().join("shop.toml"), APP.replace("replicas = 3", "replicas = 4")).unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop-web: revision 2");
    let rows = berth.json(&["app", "ls"]);
    assert_eq!(
        rows,
        serde_json::json!([
            {"name": "shop-web", "env": "prod", "revision": 2, "desired": 4, "running": 0, "healthy": 0},
            {"name": "shop-web", "env": "test", "revision": 2, "desired": 1, "running": 0, "healthy": 0},
        ])
    );
    let audit = berth.json(&["audit", "--kind", "app"]);
    assert_eq!(audit.as_array().unwrap().len(), 2, "one row per new revision: {audit}");
    assert!(!berth.ok(&["audit", "--kind", "app", "--json"]).contains("jdbc:mysql"), "the audit log holds no variable's value");
}

#[test]
fn bad_app_files_name_the_key_and_store_nothing() {
    let berth = Berth::new();
    berth.ok(&["ipam", "pool", "add", "lan-sh", "--subnet", "10.20.0.0/24"]);
    let dir = app_dir();
    let file = dir.path().join("shop.toml");
    for (text, expected) in [
        (APP.replace("replicas = 3", "replicas = 3\ncolour = \"red\""), "unknown field `colour`"),
        (APP.replace("\"256MiB\"", "\"lots\""), "resources.memory: \"lots\" is not a size"),
        (APP.replace("[\"lan-sh\"]", "[\"lan-xx\"]"), "placement.pools: there is no IP pool \"lan-xx\""),
        (APP.replace("dist/shop-web.tar.gz", "dist/missing.tar.gz"), "package.source"),
        (APP.replace("replicas = 3", "replicas = 1000000000"), "is more than the 100000"),
    ] {
        std::fs::write(&file, &text).unwrap();
        let err = berth.fails(&["app", "apply", file.to_str().unwrap()]);
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert_eq!(berth.json(&["app", "ls"]), serde_json::json!([]), "nothing was stored");
    let err = berth.fails(&["app", "apply", "/no/such/app.toml"]);
    assert!(err.contains("/no/such/app.toml"), "{err}");
}
