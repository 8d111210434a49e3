//! tcp:// with mutual TLS, against a dockerd started with --tlsverify.

use std::path::Path;
use std::process::Command;

use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("running openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn make_certs(dir: &Path) {
    openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth-test-ca", "-keyout", "ca-key.pem", "-out", "ca.pem"]);
    for (who, ext) in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"), ("client", "extendedKeyUsage=clientAuth\n")] {
        std::fs::write(dir.join(format!("{who}.ext")), ext).unwrap();
        openssl(
            dir,
            &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={who}"), "-keyout", &format!("{who}-key.pem"), "-out", &format!("{who}.csr")],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
                "-out",
                &format!("{who}.pem"),
            ],
        );
    }
}

#[test]
fn tls_hosts_need_the_right_certificates() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = |f: &str| certs.path().join(f).to_string_lossy().into_owned();
    let d = Daemon::start_with(&[
        "--tlsverify".into(),
        format!("--tlscacert={}", p("ca.pem")),
        format!("--tlscert={}", p("server.pem")),
        format!("--tlskey={}", p("server-key.pem")),
        format!("--host=tcp://127.0.0.1:{port}"),
    ]);
    d.docker(&["run", "-d", "--name", "tls-box", TEST_IMAGE, "sh", "-c", "echo hello-log; echo warn-log >&2; exec sleep 3600"]);
    let url = format!("tcp://127.0.0.1:{port}");
    let berth = Berth::new();
    berth.ok(&["host", "add", "secure", &url, "--tls-ca", &p("ca.pem"), "--tls-cert", &p("client.pem"), "--tls-key", &p("client-key.pem")]);
    berth.ok(&["sync", "--once", "secure"]);
    let hosts = berth.json(&["host", "ls"]);
    assert_eq!(hosts[0]["status"], "online", "{hosts}");
    assert_eq!(hosts[0]["url"], url.as_str());

    // Exec and logs over TLS go through bollard's decoder (no hijack there): the streams stay
    // apart and the exit code is kept.
    let out = berth.run(&["exec", "secure/tls-box", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!((out.status.code(), out.stdout.as_slice(), out.stderr.as_slice()), (Some(7), &b"out\n"[..], &b"err\n"[..]));
    let logs = wait_for("the container's log", std::time::Duration::from_secs(10), || {
        let out = berth.run(&["logs", "secure/tls-box"]);
        let got = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        if got.0.contains("hello-log") && got.1.contains("warn-log") {
            Ok(got)
        } else {
            Err(got)
        }
    });
    assert_eq!(logs, ("hello-log\n".to_owned(), "warn-log\n".to_owned()));

    // "Test connection" (the app's) pings, asks the version and counts containers.
    let tls = berth_core::endpoint::TlsFiles { ca: p("ca.pem").into(), cert: p("client.pem").into(), key: p("client-key.pem").into() };
    let spec = berth_core::model::HostSpec { name: "probe".into(), url: url.clone(), tls: Some(tls), ssh: None, labels: Default::default() };
    let tested = tokio::runtime::Runtime::new().unwrap().block_on(berth_core::fleet::test_connection(&spec)).unwrap();
    assert!(tested.ok, "{tested:?}");
    assert_eq!((tested.containers, tested.server_version.is_some(), tested.rtt_ms.is_some()), (Some(1), true, true), "{tested:?}");
    assert!(tested.message.ends_with(", 1 containers"), "{}", tested.message);

    // Without client certificates the daemon hangs up: a clear failure, not a hang.
    berth.ok(&["host", "add", "plain", &url]);
    let out = berth.run(&["sync", "--once", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host \"plain\"") && err.contains("speaks TLS") && err.contains("--tls-ca"), "{err}");
}
