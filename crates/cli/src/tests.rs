//! How `berth`'s command lines parse: every subcommand with its flags as `--help` writes them,
//! and the refusals clap prints for bad input.

use chrono::{DateTime, Utc};
use clap::Parser;

use super::{Cli, Command};

fn parse(line: &str) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("berth").chain(line.split_whitespace()))
}

/// The command `line` parses to, as `{:?}` writes it.
fn parsed(line: &str) -> String {
    let cli = parse(line).unwrap_or_else(|e| panic!("berth {line}: {e}"));
    format!("{:?}", cli.command)
}

/// The first line of what clap prints when it refuses `line` (a usage error: exit code 2).
fn refused(line: &str) -> String {
    let error = parse(line).err().unwrap_or_else(|| panic!("berth {line} was accepted"));
    assert_eq!(error.exit_code(), 2, "berth {line}");
    error.to_string().lines().next().unwrap_or_default().to_owned()
}

#[test]
fn every_subcommand_parses_its_flags() {
    let cases = [
        ("host add x unix:///x.sock", r#"Host(Add(HostAddArgs { name: "x", url: "unix:///x.sock", labels: [], tls_ca: None, tls_cert: None, tls_key: None, identity: None, known_hosts: None, password: false, proxy_jump: None }))"#),
        ("host add x tcp://h:2376 --label a=b --label c=d --tls-ca ca.pem --tls-cert cert.pem --tls-key key.pem", r#"Host(Add(HostAddArgs { name: "x", url: "tcp://h:2376", labels: ["a=b", "c=d"], tls_ca: Some("ca.pem"), tls_cert: Some("cert.pem"), tls_key: Some("key.pem"), identity: None, known_hosts: None, password: false, proxy_jump: None }))"#),
        ("host add far ssh://me@far/run/docker.sock --identity id --known-hosts kh --password --proxy-jump me@bastion:22", r#"Host(Add(HostAddArgs { name: "far", url: "ssh://me@far/run/docker.sock", labels: [], tls_ca: None, tls_cert: None, tls_key: None, identity: Some("id"), known_hosts: Some("kh"), password: true, proxy_jump: Some("me@bastion:22") }))"#),
        ("host ls", "Host(Ls)"),
        ("host rm x", r#"Host(Rm { name: "x" })"#),
        ("host import", "Host(Import)"),
        ("host trust far", r#"Host(Trust { name: "far", yes: false })"#),
        ("host trust far --yes", r#"Host(Trust { name: "far", yes: true })"#),
        ("host password far", r#"Host(Password { name: "far", passphrase: false })"#),
        ("host password far --passphrase", r#"Host(Password { name: "far", passphrase: true })"#),
        ("sync", r#"Sync { hosts: [], once: false, sample_every: "10s" }"#),
        ("sync --once a b", r#"Sync { hosts: ["a", "b"], once: true, sample_every: "10s" }"#),
        ("ps", "Ps(PsArgs { all: false, host: None, filters: [] })"),
        ("ps -a --host a -f name=web --filter state=running", r#"Ps(PsArgs { all: true, host: Some("a"), filters: ["name=web", "state=running"] })"#),
        ("ps --all", "Ps(PsArgs { all: true, host: None, filters: [] })"),
        ("inspect a/web", r#"Inspect { container: "a/web" }"#),
        ("exec web", r#"Exec(ExecArgs { interactive: false, tty: false, size: None, user: None, workdir: None, env: [], container: "web", cmd: [] })"#),
        ("exec -it -u root -w /srv -e A=1 --env B=2 --size 40x120 web sh", r#"Exec(ExecArgs { interactive: true, tty: true, size: Some(TermSize { rows: 40, cols: 120 }), user: Some("root"), workdir: Some("/srv"), env: ["A=1", "B=2"], container: "web", cmd: ["sh"] })"#),
        ("exec --interactive --tty --user 1000:1000 --workdir / web", r#"Exec(ExecArgs { interactive: true, tty: true, size: None, user: Some("1000:1000"), workdir: Some("/"), env: [], container: "web", cmd: [] })"#),
        ("exec web -- ls -la", r#"Exec(ExecArgs { interactive: false, tty: false, size: None, user: None, workdir: None, env: [], container: "web", cmd: ["ls", "-la"] })"#),
        ("exec web -- -- x", r#"Exec(ExecArgs { interactive: false, tty: false, size: None, user: None, workdir: None, env: [], container: "web", cmd: ["--", "x"] })"#),
        ("exec web ls -la", r#"Exec(ExecArgs { interactive: false, tty: false, size: None, user: None, workdir: None, env: [], container: "web", cmd: ["ls", "-la"] })"#),
        ("logs web", r#"Logs(LogsArgs { follow: false, tail: None, since: None, timestamps: false, container: "web" })"#),
        ("logs -f -t --tail 20 --since 10m web", r#"Logs(LogsArgs { follow: true, tail: Some(Last(20)), since: Some("10m"), timestamps: true, container: "web" })"#),
        ("logs --follow --timestamps --tail all web", r#"Logs(LogsArgs { follow: true, tail: Some(All), since: None, timestamps: true, container: "web" })"#),
        ("ipam pool add lan --subnet 10.20.0.0/16", r#"Ipam(Pool(Add(PoolAddArgs { name: "lan", subnet: "10.20.0.0/16", gateway: None, ranges: [], reserved: [], segment: None, hosts: [], driver: "bridge", bridge_name: None, parent: None, quarantine: "1h" })))"#),
        ("ipam pool add lan --subnet 10.20.0.0/16 --gateway 10.20.0.1 --range 10.20.1.0/24 --reserve 10.20.0.5=printer --segment vlan20 --host a --host b,parent=eth1 --driver macvlan --bridge-name br0 --parent eth0 --quarantine 0s", r#"Ipam(Pool(Add(PoolAddArgs { name: "lan", subnet: "10.20.0.0/16", gateway: Some("10.20.0.1"), ranges: ["10.20.1.0/24"], reserved: ["10.20.0.5=printer"], segment: Some("vlan20"), hosts: ["a", "b,parent=eth1"], driver: "macvlan", bridge_name: Some("br0"), parent: Some("eth0"), quarantine: "0s" })))"#),
        ("ipam pool ls", "Ipam(Pool(Ls))"),
        ("ipam pool show lan", r#"Ipam(Pool(Show { name: "lan" }))"#),
        ("ipam pool rm lan --force", r#"Ipam(Pool(Rm { name: "lan", force: true }))"#),
        ("ipam leases", "Ipam(Leases { pool: None })"),
        ("ipam leases lan", r#"Ipam(Leases { pool: Some("lan") })"#),
        ("ipam lease lan --ip 10.20.0.9 --host a --container web", r#"Ipam(Lease { pool: "lan", ip: Some("10.20.0.9"), host: Some("a"), container: Some("web"), count: None })"#),
        ("ipam lease lan --count 3", r#"Ipam(Lease { pool: "lan", ip: None, host: None, container: None, count: Some(3) })"#),
        ("ipam release lan 10.20.0.9", r#"Ipam(Release { pool: "lan", ip: "10.20.0.9" })"#),
        ("ipam reserve lan 10.20.0.7 --reason printer", r#"Ipam(Reserve { pool: "lan", ip: "10.20.0.7", reason: Some("printer") })"#),
        ("ipam check", "Ipam(Check { repair: false, exit_code: false })"),
        ("ipam check --repair --exit-code", "Ipam(Check { repair: true, exit_code: true })"),
        ("ipam rebuild", "Ipam(Rebuild)"),
        ("net apply lan", r#"Net(Apply { pool: "lan" })"#),
        ("run --host a --pool lan --name web busybox", r#"Run(RunArgs { host: "a", pool: "lan", ip: None, name: "web", env: [], restart: "unless-stopped", image: "busybox", cmd: [] })"#),
        ("run --host a --pool lan --ip 10.20.0.9 --name web -e A=1 --restart always busybox -- sleep -1", r#"Run(RunArgs { host: "a", pool: "lan", ip: Some("10.20.0.9"), name: "web", env: ["A=1"], restart: "always", image: "busybox", cmd: ["sleep", "-1"] })"#),
        ("rm web", r#"Rm(RmArgs { force: false, containers: ["web"] })"#),
        ("rm -f web", r#"Rm(RmArgs { force: true, containers: ["web"] })"#),
        ("rm --force web db", r#"Rm(RmArgs { force: true, containers: ["web", "db"] })"#),
        ("start web", r#"Start(Targets { containers: ["web"] })"#),
        ("stop -t 3 h1/web db", r#"Stop(StopArgs { time: Some(3), containers: ["h1/web", "db"] })"#),
        ("restart --time 0 web", r#"Restart(StopArgs { time: Some(0), containers: ["web"] })"#),
        ("kill -s SIGHUP web", r#"Kill(KillArgs { signal: Some("SIGHUP"), containers: ["web"] })"#),
        ("kill web", r#"Kill(KillArgs { signal: None, containers: ["web"] })"#),
        ("pause web", r#"Pause(Targets { containers: ["web"] })"#),
        ("unpause web", r#"Unpause(Targets { containers: ["web"] })"#),
        ("audit", r#"Audit(AuditArgs { action: None, host: None, since: None, via: None, op: None, kind: None, object: None, outcome: None, limit: 100, csv: false })"#),
        ("audit --host h1 --since 10m --via external --op x --limit 5 --csv", r#"Audit(AuditArgs { action: None, host: Some("h1"), since: Some("10m"), via: Some("external"), op: Some("x"), kind: None, object: None, outcome: None, limit: 5, csv: true })"#),
        ("audit verify", r#"Audit(AuditArgs { action: Some(Verify), host: None, since: None, via: None, op: None, kind: None, object: None, outcome: None, limit: 100, csv: false })"#),
        ("audit --kind container --object web --outcome failed", r#"Audit(AuditArgs { action: None, host: None, since: None, via: None, op: None, kind: Some("container"), object: Some("web"), outcome: Some("failed"), limit: 100, csv: false })"#),
        ("audit prune --older-than 30d", r#"Audit(AuditArgs { action: Some(Prune { older_than: "30d" }), host: None, since: None, via: None, op: None, kind: None, object: None, outcome: None, limit: 100, csv: false })"#),
        ("app apply shop.toml", r#"App(Apply { file: "shop.toml" })"#),
        ("app ls", "App(Ls)"),
        ("image ls", "Image(Ls { host: None, across: false })"),
        ("image ls --across", "Image(Ls { host: None, across: true })"),
        ("image pull sgp 127.0.0.1:5000/base/jre:8", r#"Image(Pull { host: "sgp", image: "127.0.0.1:5000/base/jre:8" })"#),
        ("image push home/shop/web:1.5 --to sgp,fra", r#"Image(Push { source: "home/shop/web:1.5", to: ["sgp", "fra"] })"#),
        ("image push home/shop/web:1.5 --to sgp --to fra", r#"Image(Push { source: "home/shop/web:1.5", to: ["sgp", "fra"] })"#),
        ("image build --host h -t web:1 -f Dockerfile.prod ./web", r#"Image(Build(BuildArgs { host: "h", tag: "web:1", file: Some("Dockerfile.prod"), dir: "./web" }))"#),
        ("image rm -f h/web:1 h/web:2", r#"Image(Rm { force: true, images: ["h/web:1", "h/web:2"] })"#),
        ("image prune h --all", r#"Image(Prune { host: "h", all: true })"#),
        ("registry login 127.0.0.1:5000 --username ci", r#"Registry(Login { server: "127.0.0.1:5000", username: Some("ci") })"#),
        ("registry logout 127.0.0.1:5000", r#"Registry(Logout { server: "127.0.0.1:5000" })"#),
        ("cp ./conf sgp/web:/app/conf", r#"Cp { src: "./conf", dst: "sgp/web:/app/conf" }"#),
        ("network ls --host h", r#"Network(Ls { host: Some("h") })"#),
        ("network rm h/net", r#"Network(Rm { networks: ["h/net"] })"#),
        ("network prune h", r#"Network(Prune { host: "h" })"#),
        ("volume ls", "Volume(Ls { host: None })"),
        ("volume rm -f h/data", r#"Volume(Rm { force: true, volumes: ["h/data"] })"#),
        ("volume prune h", r#"Volume(Prune { host: "h" })"#),
        ("events", "Events { host: None, since: None, limit: 100 }"),
        ("events --host a --since 1h --limit 5", r#"Events { host: Some("a"), since: Some("1h"), limit: 5 }"#),
    ];
    for (line, expected) in cases {
        assert_eq!(parsed(line), expected, "berth {line}");
    }
}

#[test]
fn json_and_db_are_global() {
    for line in ["--json ps", "ps --json", "host ls --json", "ipam pool ls --json", "--db /tmp/x.db --json events"] {
        assert!(parse(line).unwrap().json, "berth {line}");
    }
    assert!(!parse("ps").unwrap().json);
    for line in ["--db /tmp/x.db ps", "ps --db /tmp/x.db", "host rm x --db /tmp/x.db", "ipam pool show lan --db /tmp/x.db"] {
        assert_eq!(parse(line).unwrap().db, Some("/tmp/x.db".into()), "berth {line}");
    }
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let cases = [
        (
            "exec --size 0x0 web",
            r#"error: invalid value '0x0' for '--size <ROWSxCOLS>': invalid terminal size: 0x0: rows and columns must be between 1 and 4096"#,
        ),
        (
            "exec --size 40x5000 web",
            r#"error: invalid value '40x5000' for '--size <ROWSxCOLS>': invalid terminal size: 40x5000: rows and columns must be between 1 and 4096"#,
        ),
        ("exec --size big web", r#"error: invalid value 'big' for '--size <ROWSxCOLS>': invalid terminal size: "big"; write ROWSxCOLS, e.g. 40x120"#),
        ("logs --tail some web", r#"error: invalid value 'some' for '--tail <N>': "some" is not a line count; give a number or "all""#),
        ("logs --tail=-1 web", r#"error: invalid value '-1' for '--tail <N>': "-1" is not a line count; give a number or "all""#),
        ("events --limit 0", "error: invalid value '0' for '--limit <N>': 0 is not in 1..9223372036854775807"),
        ("ipam lease lan --count 0", "error: invalid value '0' for '--count <N>': 0 is not in 1..=4294967295"),
        ("ipam lease lan --ip 10.20.0.9 --count 2", "error: the argument '--ip <IP>' cannot be used with '--count <N>'"),
        ("host add x tcp://h:2376 --tls-ca ca.pem", "error: the following required arguments were not provided:"),
        ("run --pool lan --name web busybox", "error: the following required arguments were not provided:"),
        ("rm", "error: the following required arguments were not provided:"),
        ("ps --bogus", "error: unexpected argument '--bogus' found"),
        ("image push home/web:1", "error: the following required arguments were not provided:"),
        ("image ls --host h --across", "error: the argument '--host <NAME>' cannot be used with '--across'"),
        ("cp onlyone", "error: the following required arguments were not provided:"),
    ];
    for (line, expected) in cases {
        assert_eq!(refused(line), expected, "berth {line}");
    }
}

/// What `berth exec` runs, as the core is asked to.
fn exec_spec(line: &str) -> String {
    let Command::Exec(args) = parse(line).unwrap().command else { panic!("berth {line} is not exec") };
    format!("{:?}", args.into_spec())
}

#[test]
fn exec_runs_the_command_after_the_container() {
    let cases = [
        ("exec web", r#"("web", ExecSpec { cmd: [], user: None, workdir: None, env: [], tty: false, stdin: false, size: None })"#),
        ("exec web -- ls -la", r#"("web", ExecSpec { cmd: ["ls", "-la"], user: None, workdir: None, env: [], tty: false, stdin: false, size: None })"#),
        ("exec web ls -la", r#"("web", ExecSpec { cmd: ["ls", "-la"], user: None, workdir: None, env: [], tty: false, stdin: false, size: None })"#),
        ("exec web -- -- x", r#"("web", ExecSpec { cmd: ["x"], user: None, workdir: None, env: [], tty: false, stdin: false, size: None })"#),
        (
            "exec web -- sh -c -- x",
            r#"("web", ExecSpec { cmd: ["sh", "-c", "--", "x"], user: None, workdir: None, env: [], tty: false, stdin: false, size: None })"#,
        ),
        (
            "exec -i -t --size 40x120 -e A=1 web sh",
            r#"("web", ExecSpec { cmd: ["sh"], user: None, workdir: None, env: ["A=1"], tty: true, stdin: true, size: Some(TermSize { rows: 40, cols: 120 }) })"#,
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(exec_spec(line), expected, "berth {line}");
    }
}

/// Which part of the log `berth logs` asks for, with "now" at 2026-01-01T00:10:00Z.
fn log_spec(line: &str) -> String {
    let Command::Logs(args) = parse(line).unwrap().command else { panic!("berth {line} is not logs") };
    let now: DateTime<Utc> = "2026-01-01T00:10:00Z".parse().unwrap();
    match args.into_spec(now) {
        Ok(spec) => format!("{spec:?}"),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn logs_ask_for_the_lines_the_flags_name() {
    let cases = [
        ("logs web", r#"("web", LogSpec { follow: false, tail: None, since: None, timestamps: false })"#),
        ("logs --tail all web", r#"("web", LogSpec { follow: false, tail: None, since: None, timestamps: false })"#),
        ("logs --tail 0 web", r#"("web", LogSpec { follow: false, tail: Some(0), since: None, timestamps: false })"#),
        ("logs -f -t --tail 5 web", r#"("web", LogSpec { follow: true, tail: Some(5), since: None, timestamps: true })"#),
        ("logs --since 10m web", r#"("web", LogSpec { follow: false, tail: None, since: Some(1767225600), timestamps: false })"#),
        ("logs --since 2026-01-01T00:00:01.5Z web", r#"("web", LogSpec { follow: false, tail: None, since: Some(1767225601), timestamps: false })"#),
        ("logs --since soon web", r#"error: invalid --since: "soon" is neither a duration like 10m, 2h, 1d nor an RFC 3339 time like 2026-11-25T10:00:00Z"#),
    ];
    for (line, expected) in cases {
        assert_eq!(log_spec(line), expected, "berth {line}");
    }
}
