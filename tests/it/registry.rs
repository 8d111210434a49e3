//! The harness's registry, layered test images and relay byte counters work as later image tests
//! will rely on them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use berth_e2e::registry::{build_image_layers, build_layered_image, Registry};
use berth_e2e::ssh::{free_port, DelayRelay};
use berth_e2e::{Daemon, TEST_IMAGE};

fn diff_ids(daemon: &Daemon, image: &str) -> Vec<String> {
    serde_json::from_str(&daemon.docker(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", image])).unwrap()
}

#[test]
fn a_layered_image_goes_to_the_registry_and_comes_back_the_same() {
    let d = Daemon::start();
    let registry = Registry::start("berth", "s3cret pass");
    assert_eq!(registry.address(), format!("127.0.0.1:{}", registry.port));

    let id = build_layered_image(&d, "berth-layered:v1", &[2, 1], "one");
    let base = diff_ids(&d, TEST_IMAGE).len();
    let layers = diff_ids(&d, &id);
    assert_eq!(layers.len(), base + 2, "the test image's layers and two more: {layers:?}");
    let size: u64 = d.docker(&["image", "inspect", "--format", "{{.Size}}", &id]).parse().unwrap();
    assert!(size > 3 * 1024 * 1024, "two layers of 2 and 1 MiB: {size} bytes");

    let reference = registry.push_from(&d, "berth-layered:v1");
    assert_eq!(reference, format!("{}/berth-layered:v1", registry.address()));
    d.docker(&["rmi", "berth-layered:v1", &reference]);
    assert!(!d.docker(&["image", "ls", "-q", "--no-trunc"]).contains(&id), "the image is gone from the daemon");

    // The same seed rebuilt from nothing gives the same layers; another top seed changes only the top.
    let again = build_image_layers(&d, "berth-layered:v2", &[(2, "one"), (1, "two")]);
    let again_layers = diff_ids(&d, &again);
    assert_eq!(again_layers[..=base], layers[..=base]);
    assert_ne!(again_layers[base + 1], layers[base + 1]);

    registry.docker(&d, &["pull", &reference]);
    assert_eq!(d.docker(&["image", "inspect", "--format", "{{.Id}}", &reference]), id);
    assert_eq!(diff_ids(&d, &reference), layers);

    // Without a login the registry refuses.
    let anonymous = std::process::Command::new("/usr/bin/docker")
        .arg("-H")
        .arg(d.url())
        .args(["pull", &reference])
        .env("DOCKER_CONFIG", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("no basic auth credentials"), "{}", String::from_utf8_lossy(&anonymous.stderr));
}

#[test]
fn the_delay_relay_counts_the_bytes_it_passes_each_way() {
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in echo.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    // Echo back with an extra byte, so the two ways differ.
                    if stream.write_all(&buf[..n]).and_then(|_| stream.write_all(b"!")).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let relay = DelayRelay::start(free_port(), echo_port, Duration::from_millis(5));
    assert_eq!((relay.bytes_up(), relay.bytes_down()), (0, 0));

    let mut sent = 0u64;
    let mut received = 0u64;
    for message in [&b"hello"[..], &[7u8; 100_000][..]] {
        let mut client = TcpStream::connect(("127.0.0.1", relay.port)).unwrap();
        client.write_all(message).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        sent += message.len() as u64;
        received += back.len() as u64;
        assert!(back.len() > message.len(), "the echo added a byte per chunk: {} for {}", back.len(), message.len());
    }
    // Each way's last chunk is counted before the relay passes the end of the stream on.
    assert_eq!((relay.bytes_up(), relay.bytes_down()), (sent, received));
}
