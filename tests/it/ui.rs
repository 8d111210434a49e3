//! The desktop app driven like a user would, through WebDriver: tauri-driver in front of Debian's
//! WebKitWebDriver, the real app under Xvfb, a real dockerd behind it.
//!
//! Add the engine as a host from the dialog, see its containers, stop one from the detail panel
//! (Docker reports it stopped), type a command into a web shell and read its output, read and
//! save a container's log, see an IP pool's map, kill one with the docker CLI (the row changes),
//! stop the daemon (the offline banner shows while the rows stay). Apart: a web shell over SSH,
//! and a pool's network applied and a container run with a fixed address from the IP pools view;
//! an app planned, deployed, updated and rolled back from the Apps view.
//! Screenshots of the main views go to `$BERTH_SCREENSHOTS` (default `target/screenshots`).

use std::time::Duration;

use berth_e2e::webdriver::{step, Session};
use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};

/// From the containers view: open a shell into `name`, type `echo EXPR` and see `shown` on screen
/// (the arithmetic proves the shell ran it, not merely echoed the keys).
async fn shell_echo(ui: &Session, name: &str, expr: &str, shown: &str) {
    ui.search(name).await;
    ui.click(&format!("[data-testid=container-row][data-name={name}]")).await;
    ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(10)).await;
    ui.click("[data-testid=action-shell]").await;
    ui.wait_attr("[data-testid=shell-tab]:last-child", "data-state", "open", Duration::from_secs(30)).await;
    let keys = ui.find(".shell-terminal .xterm-helper-textarea").await;
    keys.send_keys(&format!("echo {expr}{}", char::from(fantoccini::key::Key::Enter))).await.unwrap();
    ui.wait_text(".xterm-rows", shown, Duration::from_secs(20)).await;
}

fn docker_state(daemon: &Daemon, name: &str) -> String {
    daemon.docker(&["inspect", "-f", "{{.State.Status}}", name])
}

#[test]
fn a_user_adds_a_host_acts_on_containers_and_sees_it_go_offline() {
    let mut daemon = Daemon::start();
    for name in ["ui-web", "ui-worker", "ui-cron"] {
        daemon.docker(&["run", "-d", "--name", name, "--label", "berth.test=ui", "--label", "app=shop", TEST_IMAGE, "sleep", "3600"]);
    }
    daemon.docker(&["create", "--name", "ui-idle", "--label", "berth.test=ui", TEST_IMAGE, "true"]);
    daemon.docker(&["run", "-d", "--name", "ui-talk", TEST_IMAGE, "sh", "-c", "echo hello-log; echo warn-log >&2; exec sleep 3600"]);
    let berth = Berth::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A WebDriver call that never answers must fail the test, not hang the suite.
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.find("[data-testid=nav-fleet]").await;
        let title = ui.client.title().await.unwrap();
        assert_eq!(title, "Berth");

        // Add the engine as a host; test the connection first.
        ui.click("[data-testid=add-host]").await;
        ui.type_into("[data-testid=host-name]", "ui-e2e").await;
        ui.type_into("[data-testid=host-url]", &daemon.url()).await;
        ui.click("[data-testid=host-test]").await;
        ui.wait_attr("[data-testid=host-test-result]", "data-ok", "true", Duration::from_secs(20)).await;
        ui.click("[data-testid=host-save]").await;
        ui.wait_attr("[data-testid=host-row][data-host=ui-e2e]", "data-status", "online", Duration::from_secs(30)).await;
        let stored = berth.json(&["host", "ls"]);
        assert_eq!(stored[0]["name"], "ui-e2e", "the CLI sees the host the window added: {stored}");
        ui.screenshot("fleet").await;

        // Its containers, across the one host.
        ui.click("[data-testid=nav-containers]").await;
        for name in ["ui-web", "ui-worker", "ui-cron", "ui-idle"] {
            ui.search(name).await;
            let row = format!("[data-testid=container-row][data-name={name}]");
            let want = if name == "ui-idle" { "created" } else { "running" };
            ui.wait_attr(&row, "data-state", want, Duration::from_secs(20)).await;
            assert_eq!(ui.find(&row).await.attr("data-host").await.unwrap().as_deref(), Some("ui-e2e"));
        }
        ui.search("").await;
        ui.screenshot("containers").await;

        // Stop one from its detail panel, confirming; Docker reports it stopped.
        ui.search("ui-worker").await;
        ui.click("[data-testid=container-row][data-name=ui-worker]").await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(10)).await;
        ui.click_until("[data-testid=action-stop]", "[data-testid=confirm-yes]").await.click().await.unwrap();
        wait_for("Docker to report ui-worker stopped", Duration::from_secs(30), || {
            let state = docker_state(&daemon, "ui-worker");
            if state == "exited" {
                Ok(())
            } else {
                Err(state)
            }
        });
        ui.wait_attr("[data-testid=container-row][data-name=ui-worker]", "data-state", "exited", Duration::from_secs(15)).await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "exited", Duration::from_secs(15)).await;
        ui.find("[data-testid=raw-json]").await;
        ui.screenshot("detail").await;

        // Restart another from its detail: the app's change is in the audit log as the app's,
        // and in the container's own activity.
        ui.search("ui-cron").await;
        ui.click("[data-testid=container-row][data-name=ui-cron]").await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(10)).await;
        ui.click("[data-testid=action-restart]").await;
        wait_for("the app's restart in the audit log", Duration::from_secs(30), || {
            let rows = berth.json(&["audit", "--via", "app"]);
            let done = rows.as_array().unwrap().iter().any(|r| r["action"] == "restart" && r["outcome"] == "ok" && r["object"]["name"] == "ui-cron");
            if done {
                Ok(())
            } else {
                Err(rows)
            }
        });
        ui.wait_attr("[data-testid=container-activity] [data-testid=activity-row][data-action=restart]", "data-outcome", "ok", Duration::from_secs(15)).await;

        // A web shell into a running container: type a command into the terminal, read its output.
        shell_echo(&ui, "ui-web", "berth-$((6*7))", "berth-42").await;
        ui.screenshot("shell").await;

        // A container's log, stdout and stderr apart.
        ui.click("[data-testid=nav-containers]").await;
        ui.search("ui-talk").await;
        ui.click("[data-testid=container-row][data-name=ui-talk]").await;
        ui.click("[data-testid=action-logs]").await;
        ui.wait_text("[data-testid=log-line][data-stream=stdout]", "hello-log", Duration::from_secs(15)).await;
        ui.wait_text("[data-testid=log-line][data-stream=stderr]", "warn-log", Duration::from_secs(15)).await;
        ui.screenshot("logs").await;
        // Saved to a file: the whole log, read afresh from the host, in the app's Downloads folder.
        ui.click("[data-testid=logs-save]").await;
        let saved = ui.find("[data-testid=logs-saved][data-path]").await;
        let path = std::path::PathBuf::from(saved.attr("data-path").await.unwrap().expect("the saved file's path"));
        assert!(path.starts_with(berth.dir.path().join("home")), "saved outside the app's home: {}", path.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(text.contains("hello-log") && text.contains("warn-log"), "saved log: {text:?}");
        ui.click("[data-testid=nav-containers]").await;

        // IP pools: a pool made with the CLI shows with its use and its address map.
        berth.ok(&["ipam", "pool", "add", "ui-pool", "--subnet", "10.66.0.0/24", "--gateway", "10.66.0.1", "--host", "ui-e2e"]);
        berth.ok(&["ipam", "lease", "ui-pool", "--ip", "10.66.0.7", "--host", "ui-e2e", "--container", "ui-web"]);
        berth.ok(&["ipam", "reserve", "ui-pool", "10.66.0.9", "--reason", "printer"]);
        ui.click("[data-testid=nav-ipam]").await;
        ui.wait_attr("[data-testid=ipam-pool][data-name=ui-pool]", "data-leased", "1", Duration::from_secs(15)).await;
        ui.wait_attr("[data-testid=ipam-cell][data-ip='10.66.0.7']", "data-state", "leased", Duration::from_secs(15)).await;
        ui.wait_attr("[data-testid=ipam-cell][data-ip='10.66.0.9']", "data-state", "reserved", Duration::from_secs(15)).await;
        ui.wait_attr("[data-testid=ipam-cell][data-ip='10.66.0.1']", "data-state", "reserved", Duration::from_secs(15)).await;
        ui.screenshot("ipam").await;
        ui.click("[data-testid=nav-containers]").await;

        // Kill one by hand: the row follows Docker's event (and the shell open in it ends).
        ui.search("ui-web").await;
        ui.wait_attr("[data-testid=container-row][data-name=ui-web]", "data-state", "running", Duration::from_secs(10)).await;
        daemon.docker(&["kill", "ui-web"]);
        ui.wait_attr("[data-testid=container-row][data-name=ui-web]", "data-state", "exited", Duration::from_secs(15)).await;
        // Its shell tab says the shell ended, and offers to reconnect.
        ui.click("[data-testid=nav-shell]").await;
        ui.wait_attr("[data-testid=shell-tab]", "data-state", "ended", Duration::from_secs(15)).await;
        ui.find("[data-testid=shell-reconnect]").await;

        // The timeline shows the kill's abnormal exit (137).
        ui.click("[data-testid=nav-events]").await;
        ui.find("[data-testid=event-row][data-abnormal=true]").await;
        ui.screenshot("events").await;

        // The Activity view: the kill by hand stands out as external, beside the app's own changes.
        ui.click("[data-testid=nav-activity]").await;
        ui.find("[data-testid=activity-row][data-via=external][data-action=kill][data-object=ui-web]").await;
        ui.find("[data-testid=activity-row][data-via=app][data-action=restart]").await;
        ui.click("[data-testid=activity-row][data-via=external][data-action=kill]").await;
        ui.find("[data-testid=activity-detail] [data-testid=activity-diff]").await;
        ui.screenshot("activity").await;

        // The engine goes away: a banner says so, the rows stay, actions are disabled.
        daemon.stop();
        step(format_args!("daemon stopped"));
        ui.click("[data-testid=nav-containers]").await;
        ui.wait_attr("[data-testid=offline-host]", "data-host", "ui-e2e", Duration::from_secs(20)).await;
        ui.find("[data-testid=offline-banner]").await;
        // (dockerd stops its containers on the way down, so the rows say exited: Docker's last word.)
        ui.search("ui-").await;
        for name in ["ui-web", "ui-worker", "ui-cron", "ui-idle"] {
            ui.find(&format!("[data-testid=container-row][data-name={name}][data-host=ui-e2e]")).await;
        }
        ui.click("[data-testid=container-row][data-name=ui-cron]").await;
        ui.find("[data-testid=actions-disabled-reason]").await;
        let stop = ui.find("[data-testid=action-stop]").await;
        assert!(!stop.is_enabled().await.unwrap(), "actions must be disabled while the host is offline");
        ui.screenshot("offline").await;

        // Simplified Chinese: the same views, other words.
        let fleet_label = ui.find("[data-testid=nav-fleet]").await.text().await.unwrap();
        ui.find("[data-testid=lang-switch]").await.select_by_value("zh-CN").await.unwrap();
        let translated = ui.find("[data-testid=nav-fleet]").await.text().await.unwrap();
        assert_ne!(fleet_label, translated, "the language switch changes the navigation");
        ui.click("[data-testid=nav-fleet]").await;
        ui.screenshot("fleet-zh").await;
        // An error in the UI's language: testing an address nothing answers on.
        ui.click("[data-testid=add-host]").await;
        ui.type_into("[data-testid=host-name]", "lab").await;
        ui.type_into("[data-testid=host-url]", "tcp://127.0.0.1:9").await;
        ui.click("[data-testid=host-test]").await;
        ui.wait_attr("[data-testid=host-test-result]", "data-code", "unreachable", Duration::from_secs(20)).await;
        ui.wait_text("[data-testid=host-test-message-text]", "无法连接到主机 lab", Duration::from_secs(10)).await;
        ui.screenshot("error-zh").await;
        ui.click("[data-testid=host-cancel]").await;

        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(100), walk).await.is_err() {
            panic!(
                "the walk through the app did not finish within 240 s (the last `ui` line on stderr is the step that hung)\napp log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    });
}

#[test]
fn a_web_shell_reaches_a_container_over_ssh() {
    use berth_e2e::ssh::Sshd;
    let daemon = Daemon::shared();
    daemon.docker(&["run", "-d", "--name", "ui-far-box", TEST_IMAGE, "sleep", "3600"]);
    let sshd = Sshd::start();
    let berth = Berth::new();
    let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, daemon.socket().display());
    let known_hosts = berth.dir.path().join("known_hosts");
    berth.ok(&["host", "add", "far", &url, "--identity", &sshd.client_key.to_string_lossy(), "--known-hosts", &known_hosts.to_string_lossy()]);
    berth.ok(&["host", "trust", "far", "--yes"]);
    berth.ok(&["sync", "--once", "far"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.wait_attr("[data-testid=host-row][data-host=far]", "data-status", "online", Duration::from_secs(30)).await;
        ui.click("[data-testid=nav-containers]").await;
        shell_echo(&ui, "ui-far-box", "over-ssh-$((40+2))", "over-ssh-42").await;
        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(180), walk).await.is_err() {
            panic!("the SSH shell walk did not finish within 180 s\napp log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    });
}

#[test]
fn a_container_runs_with_a_fixed_address_from_the_ip_pools_view() {
    use berth_e2e::netns::RemoteHost;
    // A host in its own network namespace: the pool's bridge never touches this machine's network.
    let remote = RemoteHost::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "lan-host", &remote.daemon.url()]);
    berth.ok(&["sync", "--once"]);
    let bridge = format!("bu{}", std::process::id() % 100_000);
    berth.ok(&[
        "ipam",
        "pool",
        "add",
        "ui-lan",
        "--subnet",
        "10.88.0.0/24",
        "--gateway",
        "10.88.0.1",
        "--host",
        "lan-host,ip=10.88.0.254",
        "--bridge-name",
        &bridge,
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.click("[data-testid=nav-ipam]").await;
        ui.click("[data-testid=ipam-pool][data-name=ui-lan]").await;
        // The pool's network, created on its host from the app.
        ui.click("[data-testid=ipam-apply]").await;
        ui.wait_attr("[data-testid=ipam-net-report][data-host=lan-host]", "data-status", "created", Duration::from_secs(30)).await;
        // A container with the next free address (.1 is the gateway).
        ui.type_into("[data-testid=ipam-run-name]", "pinned").await;
        ui.type_into("[data-testid=ipam-run-image]", TEST_IMAGE).await;
        ui.type_into("[data-testid=ipam-run-command]", "sleep 3600").await;
        ui.click("[data-testid=ipam-run-submit]").await;
        ui.wait_attr("[data-testid=ipam-ran]", "data-ip", "10.88.0.2", Duration::from_secs(30)).await;
        ui.wait_attr("[data-testid=ipam-cell][data-ip='10.88.0.2']", "data-state", "leased", Duration::from_secs(15)).await;
        // An address that is taken is refused with the reason.
        ui.type_into("[data-testid=ipam-run-name]", "second").await;
        ui.type_into("[data-testid=ipam-run-image]", TEST_IMAGE).await;
        ui.type_into("[data-testid=ipam-run-ip]", "10.88.0.2").await;
        ui.click("[data-testid=ipam-run-submit]").await;
        ui.wait_text("[data-testid=ipam-ran]", "leased to container pinned on host lan-host", Duration::from_secs(30)).await;
        ui.screenshot("ipam-run").await;
        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(180), walk).await.is_err() {
            panic!("the IP pools walk did not finish within 180 s\napp log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    });
    // Docker agrees: the container runs on the pool's network with that address.
    let ip = remote.daemon.docker(&["inspect", "-f", "{{(index .NetworkSettings.Networks \"ui-lan\").IPAddress}}", "pinned"]);
    assert_eq!(ip, "10.88.0.2");
    assert!(remote.daemon.docker(&["ps", "-aq", "--filter", "name=^second$"]).is_empty(), "the refused run made no container");
}

#[test]
fn an_image_is_pulled_with_progress_pushed_to_a_second_host_and_seen_across_hosts() {
    use berth_e2e::registry::{build_image_layers, Registry};
    let registry = Registry::open();
    let home = Daemon::start();
    let far = Daemon::start();
    build_image_layers(&home, "ui-shop:1", &[(3, "ui-a"), (2, "ui-b")]);
    let reference = registry.push_from(&home, "ui-shop:1");
    home.docker(&["rmi", &reference, "ui-shop:1"]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "home", &home.url()]);
    berth.ok(&["host", "add", "far", &far.url()]);
    berth.ok(&["sync", "--once"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.wait_attr("[data-testid=host-row][data-host=far]", "data-status", "online", Duration::from_secs(30)).await;
        ui.click("[data-testid=nav-images]").await;
        ui.wait_attr("[data-testid=images-view]", "data-state", "ready", Duration::from_secs(15)).await;
        // Pull from the registry on one host: a bar per layer, then done.
        ui.click("[data-testid=pull-button]").await;
        ui.find("[data-testid=pull-host]").await.select_by_value("home").await.unwrap();
        ui.type_into("[data-testid=pull-image]", &reference).await;
        ui.click("[data-testid=pull-confirm]").await;
        ui.find("[data-testid=transfer][data-kind=pull] [data-testid=layer-bar]").await;
        ui.wait_attr("[data-testid=transfer][data-kind=pull]", "data-state", "done", Duration::from_secs(60)).await;
        ui.screenshot("image-pulled").await;
        // Push it to the other host: only from the row, to the host that lacks it.
        let row = format!("[data-testid=image-row][data-host=home][data-tags='{reference}']");
        ui.wait_attr(&row, "data-dangling", "false", Duration::from_secs(15)).await;
        ui.click(&format!("{row} [data-testid=push-button]")).await;
        let target = ui.find("[data-testid=push-target][data-host=far]").await;
        if target.prop("checked").await.unwrap().as_deref() != Some("true") {
            target.click().await.unwrap();
        }
        ui.click("[data-testid=push-confirm]").await;
        ui.wait_attr("[data-testid=transfer][data-kind=push][data-host=far]", "data-state", "done", Duration::from_secs(60)).await;
        ui.find("[data-testid=transfer][data-kind=push][data-host=far] [data-testid=transfer-push-layers]").await;
        // The cross-host table: one row for the image, on both hosts, lacking on none.
        ui.click("[data-testid=images-scope-across]").await;
        let across = format!("[data-testid=image-across-row][data-tags='{reference}']");
        ui.wait_attr(&across, "data-lacking", "", Duration::from_secs(15)).await;
        let hosts = ui.find(&across).await.attr("data-hosts").await.unwrap().unwrap_or_default();
        let mut hosts: Vec<&str> = hosts.split(',').collect();
        hosts.sort();
        assert_eq!(hosts, ["far", "home"]);
        ui.screenshot("images-across").await;
        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(180), walk).await.is_err() {
            panic!("the images walk did not finish within 180 s\napp log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    });
    // Docker agrees: the far host has the very image the registry served.
    let id = home.docker(&["image", "inspect", "-f", "{{.Id}}", &reference]);
    assert_eq!(far.docker(&["image", "inspect", "-f", "{{.Id}}", &reference]), id);
}

#[test]
fn an_app_is_planned_deployed_updated_and_rolled_back_from_the_apps_view() {
    use berth_e2e::netns::RemoteHost;
    let remote = RemoteHost::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "app-host", &remote.daemon.url()]);
    berth.ok(&["sync", "--once"]);
    let bridge = format!("ba{}", std::process::id() % 100_000);
    berth.ok(&["ipam", "pool", "add", "ui-apps", "--subnet", "10.89.0.0/24", "--host", "app-host,ip=10.89.0.254", "--bridge-name", &bridge]);
    berth.ok(&["net", "apply", "ui-apps"]);
    // The app, applied through the CLI as a developer would from the app's repository.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
    std::fs::write(dir.path().join("pkg/start"), "trap 'exit 0' TERM\ntouch /app/ready\nwhile true; do sleep 1; done\n").unwrap();
    let app = |version: &str| {
        format!(
            "name = \"walk\"\nimage = \"{TEST_IMAGE}\"\ncommand = [\"sh\", \"/app/start\"]\nreplicas = 2\n[package]\nsource = \"pkg\"\npath = \"/app\"\n\
             [placement]\npools = [\"ui-apps\"]\n[health]\ncmd = [\"test\", \"-f\", \"/app/ready\"]\ninterval = \"500ms\"\nretries = 2\n\
             [update]\nparallelism = 2\nmonitor = \"0s\"\n[env.prod]\nvars = {{ VERSION = \"{version}\" }}\n"
        )
    };
    let file = dir.path().join("walk.toml");
    std::fs::write(&file, app("1")).unwrap();
    berth.ok(&["app", "apply", file.to_str().unwrap()]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.click("[data-testid=nav-apps]").await;
        ui.click("[data-testid=app-row][data-app=walk][data-env=prod]").await;
        // The plan before the deploy: both replicas on the one host, each with a pool address.
        ui.find("[data-testid=app-detail] [data-testid=plan-row][data-replica='1']").await;
        ui.click("[data-testid=app-deploy]").await;
        ui.find("[data-testid=rollout-replica][data-replica='0']").await;
        ui.wait_attr("[data-testid=rollout-outcome]", "data-ok", "true", Duration::from_secs(60)).await;
        ui.wait_attr("[data-testid=status-row][data-replica='1']", "data-revision", "1", Duration::from_secs(15)).await;
        ui.screenshot("app-deployed").await;
        // Revision 2 applied from the CLI, deployed from the view, then rolled back to 1.
        std::fs::write(&file, app("2")).unwrap();
        berth.ok(&["app", "apply", file.to_str().unwrap()]);
        ui.click("[data-testid=app-deploy]").await;
        ui.wait_attr("[data-testid=status-row][data-replica='0']", "data-revision", "2", Duration::from_secs(60)).await;
        ui.click("[data-testid=app-rollback][data-revision='1']").await;
        ui.wait_attr("[data-testid=status-row][data-replica='0']", "data-revision", "1", Duration::from_secs(60)).await;
        ui.wait_attr("[data-testid=status-row][data-replica='1']", "data-revision", "1", Duration::from_secs(15)).await;
        ui.find("[data-testid=history-row]").await;
        ui.screenshot("app-rolled-back").await;
        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(240), walk).await.is_err() {
            panic!("the apps walk did not finish within 240 s\napp log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
    });
    // Docker agrees: both replicas run revision 1 again.
    for replica in 0..2 {
        let name = format!("walk-prod-{replica}-r1");
        assert_eq!(remote.daemon.docker(&["inspect", "-f", "{{.State.Status}} {{index .Config.Labels \"berth.revision\"}}", &name]), "running 1");
    }
}
