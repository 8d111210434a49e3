//! Two remote hosts, each a network namespace with its own dockerd and sshd, one reached through
//! a bastion: one `berth sync` follows both over SSH.

use std::time::Duration;

use berth_e2e::netns::RemoteHost;
use berth_e2e::ssh::Sshd;
use berth_e2e::{wait_for, Berth, TEST_IMAGE};

use crate::{host_entry, same_as_truth};

#[test]
fn one_follower_keeps_two_remote_hosts_true_one_behind_a_bastion() {
    let (a, b) = (RemoteHost::start(), RemoteHost::start());
    let bastion = Sshd::start(); // in the root namespace: it reaches both hosts over their veths
    std::fs::copy(b.sshd.client_key.with_extension("pub"), bastion.dir.path().join("authorized_keys")).unwrap();
    let berth = Berth::new();
    let known_hosts = berth.dir.path().join("known_hosts").to_string_lossy().into_owned();
    let key_a = a.sshd.client_key.to_string_lossy().into_owned();
    let key_b = b.sshd.client_key.to_string_lossy().into_owned();
    berth.ok(&["host", "add", "dc-a", &a.url(), "--identity", &key_a, "--known-hosts", &known_hosts]);
    let jump = format!("root@127.0.0.1:{}", bastion.port);
    berth.ok(&["host", "add", "dc-b", &b.url(), "--identity", &key_b, "--known-hosts", &known_hosts, "--proxy-jump", &jump]);
    for name in ["dc-a", "dc-b"] {
        berth.ok(&["host", "trust", name, "--yes"]);
    }
    for (host, tag) in [(&a, "fleet-a"), (&b, "fleet-b")] {
        for i in 0..3 {
            let label = format!("berth.test={tag}");
            host.daemon.docker(&["run", "-d", "--name", &format!("{tag}-{i}"), "--label", &label, TEST_IMAGE, "sleep", "3600"]);
        }
    }

    let _follower = berth.follow(&[]);
    for (host, tag) in [(&a, "fleet-a"), (&b, "fleet-b")] {
        wait_for(tag, Duration::from_secs(20), || {
            same_as_truth(&host.daemon, &host.daemon.url(), &berth, tag).and_then(|n| if n == 3 { Ok(()) } else { Err(format!("{n}")) })
        });
    }
    assert_eq!(host_entry(&berth, "dc-a")["status"], "online");
    assert_eq!(host_entry(&berth, "dc-b")["status"], "online");

    a.daemon.docker(&["kill", "fleet-a-0"]);
    b.daemon.docker(&["rm", "-f", "fleet-b-1"]);
    wait_for("changes on both hosts", Duration::from_secs(10), || {
        let gone = berth.json(&["ps", "-a", "--filter", "name=fleet-b-1"]).as_array().unwrap().is_empty();
        let killed = berth.json(&["ps", "-a", "--filter", "name=fleet-a-0"])[0]["state"] == "exited";
        if gone && killed {
            Ok(())
        } else {
            Err((gone, killed))
        }
    });
    let hosts: Vec<String> = berth.json(&["ps"]).as_array().unwrap().iter().map(|r| r["host"].as_str().unwrap().to_owned()).collect();
    assert!(hosts.contains(&"dc-a".to_owned()) && hosts.contains(&"dc-b".to_owned()), "{hosts:?}");
}
