//! Images, networks and volumes on real engines: pulls from a real registry with a login kept in
//! a real Secret Service, builds, `cp` both ways, and pushes between hosts that send only the
//! layers a target lacks (counted at the link, the 150 ms relay).

use std::process::Command;
use std::time::Duration;

use berth_e2e::netns::RemoteHost;
use berth_e2e::registry::{build_image_layers, Registry};
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{berth_binary, wait_for, Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

/// Run `script` (with `$BERTH` the binary and its --db) in a private D-Bus session with an
/// unlocked gnome-keyring: a real Secret Service.
pub(crate) fn with_keyring(berth: &Berth, script: &str, secret: &str) -> (bool, String, String) {
    let home = berth.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let full = format!("set -e\nprintf unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n{script}");
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &full])
        .current_dir(&home)
        .env("BERTH", format!("{} --db {}", berth_binary().display(), berth.db().display()))
        .env("SECRET", secret)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", &home)
        .env("BERTH_LOG", "debug")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("running dbus-run-session (./x test installs dbus-x11 and gnome-keyring)");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub(crate) fn files_hold(dir: &std::path::Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            // The keyring's own files hold the secret (encrypted, but skip them).
            if !path.ends_with("keyrings") {
                out.extend(walk(&path));
            }
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn pulls_use_the_keyring_login_show_each_layer_and_say_what_the_registry_refused() {
    let secret = "pw-Reg1stry-s3cret";
    let registry = Registry::start("ci", secret);
    let d = Daemon::start();
    build_image_layers(&d, "pulled:1", &[(2, "p-a"), (1, "p-b")]);
    let reference = registry.push_from(&d, "pulled:1");
    d.docker(&["rmi", &reference, "pulled:1"]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &d.url()]);
    let unknown = format!("{}/pulled:nope", registry.address());
    let script = format!(
        "printf '%s\\n' \"$SECRET\" | $BERTH registry login {addr} --username ci
         $BERTH image pull d {reference}
         if $BERTH image pull d {unknown} 2>unknown.err; then exit 3; fi
         $BERTH registry logout {addr}
         printf 'wrong\\n' | $BERTH registry login {addr} --username ci
         if $BERTH image pull d {reference}-x 2>wrong.err; then exit 4; fi
         cat unknown.err wrong.err >&2
         $BERTH image ls --host d --json",
        addr = registry.address(),
    );
    let (ok, stdout, stderr) = with_keyring(&berth, &script, secret);
    assert!(ok, "{stdout}\n{stderr}\nregistry: {}", registry.log());
    // Progress per layer, in Docker's words.
    assert!(stderr.contains("Pull complete"), "{stderr}");
    assert!(stdout.contains(&format!("d: pulled {reference}")), "{stdout}");
    // An unknown tag and a wrong password: the registry's words.
    assert!(stderr.contains("manifest unknown") || stderr.contains("not found"), "{stderr}");
    assert!(stderr.contains("unauthorized") || stderr.contains("authentication required"), "{stderr}");
    let json_start = stdout.find('[').unwrap();
    let images: Value = serde_json::from_str(&stdout[json_start..]).unwrap();
    let pulled = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["tags"].as_array().unwrap().iter().any(|t| t == reference.as_str()))
        .expect("the pulled image is mirrored");
    for key in ["host", "id", "tags", "size", "created", "containers", "dangling"] {
        assert!(pulled.get(key).is_some(), "{key} missing in {pulled}");
    }
    // The password is in no file Berth wrote, no log line, no output.
    assert_eq!(files_hold(berth.dir.path(), secret), Vec::<String>::new());
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "an output holds the password");
    let audit = berth.ok(&["audit", "--kind", "image", "--json"]);
    assert!(audit.contains("\"pull\"") && !audit.contains(secret), "{audit}");
}

#[test]
fn build_from_a_folder_and_cp_both_ways_with_odd_names_a_big_file_and_folders() {
    let d = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &d.url()]);
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("conf/deep")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {TEST_IMAGE}\nCOPY . /ctx/\n")).unwrap();
    std::fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();
    std::fs::write(ctx.join("debug.log"), "left out").unwrap();
    for odd in ["a b.txt", "ünï €.txt", "-dash", "quote'd"] {
        std::fs::write(ctx.join("conf").join(odd), odd).unwrap();
    }
    std::fs::write(ctx.join("conf/deep/x.properties"), "k=v\n").unwrap();
    let out = berth.ok(&["image", "build", "--host", "d", "-t", "built:1", ctx.to_str().unwrap()]);
    assert!(out.contains("d: built built:1"), "{out}");
    let listed = d.docker(&["run", "--rm", "built:1", "ls", "-A", "/ctx/conf", "/ctx"]);
    assert!(listed.contains("a b.txt") && listed.contains("-dash") && !listed.contains("debug.log"), "{listed}");
    // busybox's ls prints '?' for what is not ASCII: read the file by its name instead.
    assert_eq!(d.docker(&["run", "--rm", "built:1", "cat", "/ctx/conf/ünï €.txt"]), "ünï €.txt");
    assert!(berth.json(&["image", "ls", "--host", "d"]).as_array().unwrap().iter().any(|i| i["tags"][0] == "built:1"), "the build is mirrored at once");
    let bad = berth.fails(&["image", "build", "--host", "d", "-t", "built:2", dir.path().to_str().unwrap()]);
    assert!(bad.contains("has no Dockerfile"), "{bad}");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {TEST_IMAGE}\nRUN exit 7\n")).unwrap();
    let failed = berth.fails(&["image", "build", "--host", "d", "-t", "built:3", ctx.to_str().unwrap()]);
    assert!(failed.contains("refused to build an image") && failed.contains("non-zero code: 7"), "{failed}");

    d.docker(&["run", "-d", "--name", "cpc", "built:1", "sleep", "3600"]);
    d.docker(&["exec", "cpc", "mkdir", "-p", "/tmp"]);
    berth.ok(&["sync", "--once", "d"]);
    // A 50 MB file and a folder into the container.
    let big = dir.path().join("big.bin");
    let data: Vec<u8> = (0..50_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    berth.ok(&["cp", big.to_str().unwrap(), "d/cpc:/tmp/"]);
    assert_eq!(d.docker(&["exec", "cpc", "stat", "-c", "%s", "/tmp/big.bin"]).trim(), "50000000");
    berth.ok(&["cp", ctx.join("conf").to_str().unwrap(), "d/cpc:/tmp/conf2"]);
    assert_eq!(d.docker(&["exec", "cpc", "cat", "/tmp/conf2/ünï €.txt", "/tmp/conf2/deep/x.properties"]), "ünï €.txtk=v");
    // And out again: a folder into a new local name, a file into a folder, a tar on stdout.
    let back = dir.path().join("back");
    berth.ok(&["cp", "cpc:/tmp/conf2", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(back.join("quote'd")).unwrap(), "quote'd");
    assert_eq!(std::fs::read_to_string(back.join("deep/x.properties")).unwrap(), "k=v\n");
    berth.ok(&["cp", "d/cpc:/tmp/big.bin", back.to_str().unwrap()]);
    assert!(std::fs::read(back.join("big.bin")).unwrap() == data, "the 50 MB file came back whole");
    let tar = berth.command(&["cp", "d/cpc:/tmp/conf2/a b.txt", "-"]).output().unwrap();
    assert!(tar.status.success());
    let names: Vec<String> = tar::Archive::new(&tar.stdout[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert_eq!(names, vec!["a b.txt"]);
    // A tar on stdin unpacks into a folder of the container.
    let mut packed = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    packed.append_data(&mut header, "from-stdin.txt", &b"piped"[..]).unwrap();
    let packed = packed.into_inner().unwrap();
    let mut child = berth.command(&["cp", "-", "d/cpc:/tmp"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &packed).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(d.docker(&["exec", "cpc", "cat", "/tmp/from-stdin.txt"]), "piped");
    // Bad input: no such path, container, host or image.
    let err = berth.fails(&["cp", "d/cpc:/nope", back.to_str().unwrap()]);
    assert!(err.contains("/nope"), "{err}");
    assert!(!walk(dir.path()).iter().any(|p| p.to_string_lossy().contains(".berth-cp-")), "a failed copy left its staging folder");
    let err = berth.fails(&["cp", "ghost:/x", back.to_str().unwrap()]);
    assert!(err.contains("no container matches \"ghost\""), "{err}");
    let err = berth.fails(&["cp", "/definitely/not/here", "cpc:/tmp/"]);
    assert!(err.contains("/definitely/not/here"), "{err}");
    let err = berth.fails(&["cp", big.to_str().unwrap(), "cpc:/nodir/"]);
    assert!(err.contains("/nodir/ does not exist"), "{err}");
    let err = berth.fails(&["cp", big.to_str().unwrap(), "cpc:/no/such/dir/x"]);
    assert!(err.contains("/no/such/dir") && err.contains("does not exist"), "{err}");
    let err = berth.fails(&["image", "pull", "nohost", "busybox"]);
    assert!(err.contains("no host named \"nohost\""), "{err}");
    let err = berth.fails(&["image", "rm", "d/built:1"]);
    assert!(err.contains("used by cpc"), "{err}");
    let err = berth.fails(&["image", "pull", "d", "Bad Name"]);
    assert!(err.contains("invalid image"), "{err}");
}

#[test]
fn networks_and_volumes_show_their_users_and_are_removed_only_when_unused() {
    let d = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &d.url()]);
    d.docker(&["network", "create", "--subnet", "10.231.7.0/24", "shopnet"]);
    d.docker(&["network", "create", "--label", "berth.ipam.pool=lan-x", "poolnet"]);
    d.docker(&["volume", "create", "shopdata"]);
    d.docker(&["run", "-d", "--name", "user1", "--network", "shopnet", "--ip", "10.231.7.9", "-v", "shopdata:/data", TEST_IMAGE, "sleep", "3600"]);
    berth.ok(&["sync", "--once", "d"]);
    let networks = berth.json(&["network", "ls", "--host", "d"]);
    let shop = networks.as_array().unwrap().iter().find(|n| n["name"] == "shopnet").unwrap();
    assert_eq!(shop["containers"], serde_json::json!([{"container": "user1", "ip": "10.231.7.9"}]));
    let pool = networks.as_array().unwrap().iter().find(|n| n["name"] == "poolnet").unwrap();
    assert_eq!(pool["pool"], "lan-x");
    let volumes = berth.json(&["volume", "ls"]);
    let data = volumes.as_array().unwrap().iter().find(|v| v["name"] == "shopdata").unwrap();
    assert_eq!(data["containers"], serde_json::json!(["user1"]));

    assert!(berth.fails(&["network", "rm", "d/shopnet"]).contains("used by user1"));
    assert!(berth.fails(&["volume", "rm", "d/shopdata"]).contains("used by user1"));
    assert!(berth.fails(&["network", "rm", "d/poolnet"]).contains("belongs to IP pool \"lan-x\""));
    let err = berth.fails(&["network", "rm", "d/host"]);
    assert!(err.contains("Docker's own"), "{err}");
    berth.ok(&["rm", "-f", "d/user1"]);
    berth.ok(&["network", "rm", "d/shopnet"]);
    berth.ok(&["volume", "rm", "d/shopdata"]);
    // Gone from Docker and from the mirror at once, follower or not.
    assert!(!d.docker(&["network", "ls", "--format", "{{.Name}}"]).contains("shopnet"));
    assert!(!berth.ok(&["network", "ls"]).contains("shopnet"));
    assert!(!berth.ok(&["volume", "ls"]).contains("shopdata"));
    // A prune leaves the pool's network.
    d.docker(&["network", "create", "spare"]);
    berth.ok(&["sync", "--once", "d"]);
    let pruned = berth.ok(&["network", "prune", "d"]);
    assert!(pruned.contains("removed spare") && !pruned.contains("poolnet"), "{pruned}");
    assert!(d.docker(&["network", "ls", "--format", "{{.Name}}"]).contains("poolnet"));
    let rows = berth.json(&["audit", "--kind", "network"]);
    assert!(rows.as_array().unwrap().len() >= 2, "{rows}");
}

/// Layers of 4, 2 and 1 MiB on the busybox base; `top` seeds the top layer only.
fn app_image(d: &Daemon, tag: &str, top: &str, top_mb: u32) -> String {
    build_image_layers(d, tag, &[(4, "base-a"), (2, "base-b"), (top_mb, top)])
}

fn pushed(berth: &Berth, source: &str, to: &str) -> Vec<Value> {
    berth.json(&["image", "push", source, "--to", to]).as_array().unwrap().clone()
}

#[test]
fn push_sends_only_missing_layers_to_several_hosts_at_once_and_survives_a_cut_link() {
    let src = Daemon::start();
    let far = RemoteHost::start();
    let near = RemoteHost::start();
    // The far host over SSH behind a 150 ms relay (the sshd reaches the namespaced engine's socket).
    let sshd = Sshd::start();
    let relay_port = free_port();
    let relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(75));
    let berth = Berth::new();
    berth.ok(&["host", "add", "src", &src.url()]);
    berth.ok(&["host", "add", "near", &near.daemon.url()]);
    let known_hosts = berth.dir.path().join("known_hosts");
    let far_url = format!("ssh://root@127.0.0.1:{relay_port}{}", far.daemon.socket().display());
    berth.ok(&["host", "add", "far", &far_url, "--identity", sshd.client_key.to_str().unwrap(), "--known-hosts", known_hosts.to_str().unwrap()]);
    berth.ok(&["host", "trust", "far", "--yes"]);
    berth.ok(&["sync", "--once"]);

    let v1 = app_image(&src, "shop:1", "top-1", 1);
    let v2 = app_image(&src, "shop:2", "top-2", 1);
    // Version 1 to an empty host: everything.
    let up = relay.bytes_up();
    let first = pushed(&berth, "src/shop:1", "far");
    assert_eq!(first[0]["full_tar"], true, "{first:?}");
    assert_eq!(first[0]["image_id"], v1.as_str());
    assert_eq!(first[0]["layers_skipped"], 0);
    assert!(relay.bytes_up() - up > 7 << 20, "the whole image crossed the link");
    for key in ["host", "image_id", "layers_sent", "layers_skipped", "bytes_sent", "seconds", "full_tar"] {
        assert!(first[0].get(key).is_some(), "{key} missing");
    }

    // The export is kept for the next push of the same image: a host that lacks it gets it from
    // there, tagged as this push asks.
    let kept = berth.dir.path().join("exports").join(format!("{}.tar", v1.trim_start_matches("sha256:")));
    assert!(kept.is_file(), "the export of v1 is kept");
    src.docker(&["tag", "shop:1", "shop:one"]);
    let again = pushed(&berth, "src/shop:one", "near");
    assert!(again[0]["error"].is_null(), "{again:?}");
    assert_eq!(near.daemon.docker(&["image", "inspect", "-f", "{{.Id}} {{.RepoTags}}", &v1]), format!("{v1} [shop:one]"));

    // Version 2 to both at once: each has version 1 now, so each gets only the top layer.
    let up = relay.bytes_up();
    let second = pushed(&berth, "src/shop:2", "far,near");
    let far_result = second.iter().find(|r| r["host"] == "far").unwrap();
    let near_result = second.iter().find(|r| r["host"] == "near").unwrap();
    assert_eq!(far_result["full_tar"], false, "{second:?}");
    assert_eq!(far_result["layers_sent"], 1, "{second:?}");
    assert_eq!(near_result["full_tar"], false, "{second:?}");
    assert_eq!(near_result["layers_sent"], 1, "{second:?}");
    let layer = 1u64 << 20;
    let bytes_sent = far_result["bytes_sent"].as_u64().unwrap();
    assert!(bytes_sent < layer + layer / 10, "berth says it sent {bytes_sent}");
    let on_wire = relay.bytes_up() - up;
    assert!(on_wire < layer + layer / 4, "{on_wire} bytes crossed the link for a 1 MiB layer");
    // The pushed images run and are the source's.
    for (daemon, id) in [(&far.daemon, &v2), (&near.daemon, &v2)] {
        assert_eq!(daemon.docker(&["image", "inspect", "-f", "{{.Id}}", "shop:2"]).trim(), id.as_str());
        assert_eq!(daemon.docker(&["run", "--rm", "shop:2", "stat", "-c", "%s", "/layer-2.bin"]).trim(), "1048576");
    }
    // Mirrored at once.
    let far_images = berth.json(&["image", "ls", "--host", "far"]);
    assert!(far_images.as_array().unwrap().iter().any(|i| i["id"] == v2.as_str()), "{far_images}");

    // A cut link mid-push fails that target only and leaves no image; the retry works.
    let v3 = app_image(&src, "shop:3", "top-3", 24);
    let child = berth
        .command(&["image", "push", "src/shop:3", "--to", "far,near", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let up = relay.bytes_up();
    wait_for("the push to be under way", Duration::from_secs(30), || if relay.bytes_up() - up > 2 << 20 { Ok(()) } else { Err(relay.bytes_up() - up) });
    relay.kill();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a failed target fails the command");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let far_cut = results.iter().find(|r| r["host"] == "far").unwrap();
    assert!(far_cut["error"].is_object(), "{results:?}");
    assert!(results.iter().find(|r| r["host"] == "near").unwrap()["error"].is_null(), "the other target is unharmed");
    let missing = far.daemon.docker_at(&far.daemon.url(), &["image", "ls", "-q", "--no-trunc"]);
    assert!(!missing.contains(&v3), "a half-made image was left: {missing}");
    let _relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(75));
    let retry = pushed(&berth, "src/shop:3", "far");
    assert!(retry[0]["error"].is_null(), "{retry:?}");
    assert_eq!(far.daemon.docker(&["image", "inspect", "-f", "{{.Id}}", "shop:3"]).trim(), v3.as_str());

    // Bad input.
    let err = berth.fails(&["image", "push", "src/nosuch:1", "--to", "far"]);
    assert!(err.contains("no image \"nosuch:1\" on host \"src\""), "{err}");
    let err = berth.fails(&["image", "push", "src/shop:1", "--to", "src"]);
    assert!(err.contains("is the source host"), "{err}");
    let err = berth.fails(&["image", "push", "src/shop:1", "--to", "ghost"]);
    assert!(err.contains("no host named \"ghost\""), "{err}");
}
