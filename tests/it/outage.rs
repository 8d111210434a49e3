//! A daemon that goes away: the host goes offline with its rows kept; when it comes back, a full
//! resync repairs every change made while Berth could not see it, even past Docker's 256-event replay.

use std::time::Duration;

use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use futures_util::{stream, StreamExt};

use crate::{host_entry, same_as_truth};

#[test]
fn offline_keeps_rows_and_return_resyncs_everything() {
    let mut d = Daemon::start();
    let tag = "outage";
    let label = format!("berth.test={tag}");
    for i in 0..5 {
        d.docker(&["run", "-d", "--name", &format!("keep-{i}"), "--label", &label, TEST_IMAGE, "sleep", "3600"]);
    }
    let berth = Berth::new();
    berth.ok(&["host", "add", "far", &d.url()]);
    let follower = berth.follow(&["far"]);
    wait_for("the first snapshot", Duration::from_secs(10), || {
        same_as_truth(&d, &d.url(), &berth, tag).and_then(|n| if n == 5 { Ok(()) } else { Err(format!("{n} rows")) })
    });

    // The daemon goes away: offline within 5 s, rows kept, reads still answer.
    d.stop();
    let offline = wait_for("the host to go offline", Duration::from_secs(5), || {
        let host = host_entry(&berth, "far");
        if host["status"] == "offline" {
            Ok(host)
        } else {
            Err(host)
        }
    });
    assert!(offline["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{offline}");
    assert_eq!(berth.json(&["ps", "-a", "--filter", &format!("label={label}")]).as_array().unwrap().len(), 5);
    let table = berth.ok(&["ps", "-a"]);
    assert!(table.contains("# far: offline, last seen"), "{table}");

    // Meanwhile the engine runs where Berth cannot see it, and a lot happens: > 256 events.
    let hidden_socket = d.folder().join("hidden.sock");
    let hidden = d.start_elsewhere(&hidden_socket);
    let since = d.docker_at(&hidden, &["version", "--format", "{{.Server.Os}}"]); // engine is up
    assert_eq!(since, "linux");
    let gap_start = chrono_now_unix();
    d.docker_at(&hidden, &["rm", "-f", "keep-0", "keep-1"]);
    d.docker_at(&hidden, &["rename", "keep-2", "renamed-2"]);
    d.docker_at(&hidden, &["start", "keep-3"]);
    let client = bollard::Docker::connect_with_unix(&hidden_socket.to_string_lossy(), 60, bollard::API_DEFAULT_VERSION).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let labels = std::collections::HashMap::from([("berth.test".to_owned(), tag.to_owned())]);
        let names: Vec<String> = (0..150).map(|i| format!("burst-{i}")).collect();
        stream::iter(names.iter())
            .for_each_concurrent(8, |name| {
                let (client, labels) = (client.clone(), labels.clone());
                async move {
                    let body = ContainerCreateBody { image: Some(TEST_IMAGE.into()), labels: Some(labels), ..Default::default() };
                    let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
                    client.create_container(Some(options), body).await.unwrap();
                }
            })
            .await;
        stream::iter(names.iter().take(120))
            .for_each_concurrent(8, |name| {
                let client = client.clone();
                async move { client.remove_container(name, None::<RemoveContainerOptions>).await.unwrap() }
            })
            .await;
    });
    // 2 removals + rename + start + 150 creates + 120 removals: 274 events, more than the daemon
    // keeps for replay, so only a full resync can repair the mirror.
    let replayable = d.docker_at(&hidden, &["events", "--since", &gap_start.to_string(), "--until", &chrono_now_unix().to_string(), "--format", "{{.Action}}"]);
    assert!(replayable.lines().count() < 274, "the daemon replays only part of the gap: {} events", replayable.lines().count());
    assert_eq!(host_entry(&berth, "far")["status"], "offline", "Berth cannot see the hidden socket");

    // Back where Berth looks: it reconnects and the full resync repairs everything.
    d.stop();
    d.start_again();
    let rows = wait_for("the resync after the gap", Duration::from_secs(30), || same_as_truth(&d, &d.url(), &berth, tag));
    assert_eq!(rows, 3 + 30);
    assert_eq!(host_entry(&berth, "far")["status"], "online");
    drop(follower);
}

fn chrono_now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
