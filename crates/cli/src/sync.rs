//! `berth sync`: mirror hosts into the database, once (a snapshot of each, side by side) or
//! following their events until interrupted.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use berth_core::model::Reachability;
use berth_core::monitor::collect;
use berth_core::sync::{self, MirrorUpdate};
use berth_core::Error;

use crate::{output, prompt, runtime, Ctx};

/// `--sample-every`: how often the containers' figures go into the history while following.
pub fn sample_every(text: &str) -> Result<std::time::Duration, Error> {
    let bad = |why: String| Error::InvalidInput { what: "--sample-every", reason: why };
    let every = humantime::parse_duration(text.trim()).map_err(|e| bad(format!("{text:?} is not a duration ({e}); write it like 10s or 1m")))?;
    if every < std::time::Duration::from_secs(1) || every > std::time::Duration::from_secs(3600) {
        return Err(bad(format!("{text} is outside 1s to 1h")));
    }
    Ok(every)
}

pub fn sync_command(ctx: &Ctx, names: Vec<String>, once: bool, every: std::time::Duration) -> Result<ExitCode, Error> {
    let (store, json) = (ctx.store(), ctx.json);
    let hosts = match names.is_empty() {
        true => store.hosts()?,
        false => names.iter().map(|n| store.host(n)).collect::<Result<Vec<_>, _>>()?,
    };
    if hosts.is_empty() {
        return Err(Error::InvalidInput { what: "host list", reason: "no hosts yet; add one with `berth host add NAME URL`".into() });
    }
    prompt::secrets_for_this_run(&hosts)?;
    let runtime = runtime::start()?;
    if once {
        let results = runtime.block_on(async {
            let tasks: Vec<_> = hosts
                .iter()
                .map(|host| {
                    let (fleet, host) = (Arc::clone(&ctx.fleet), host.clone());
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let result = sync::sync_once(&fleet, &host).await;
                        (host.config.name, result, started.elapsed())
                    })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.expect("sync task panicked"));
            }
            results
        });
        let mut failed = false;
        let mut report = Vec::new();
        for (name, result, took) in results {
            match result {
                Ok(c) => {
                    if !json {
                        eprintln!(
                            "{name}: {} containers, {} images, {} networks, {} volumes in {:.2} s",
                            c.containers,
                            c.images,
                            c.networks,
                            c.volumes,
                            took.as_secs_f64()
                        );
                    }
                    report.push(serde_json::json!({"host": name, "ok": true, "containers": c.containers,
                        "images": c.images, "networks": c.networks, "volumes": c.volumes, "seconds": took.as_secs_f64()}));
                }
                Err(e) => {
                    failed = true;
                    eprintln!("berth: {}", crate::errors::message(&e));
                    report.push(serde_json::json!({"host": name, "ok": false, "code": e.code(), "error": e.to_string()}));
                }
            }
        }
        if json {
            output::json(&report);
        }
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }

    runtime.block_on(async {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let mut seen = ctx.fleet.subscribe();
        tokio::spawn(async move {
            loop {
                match seen.recv().await {
                    Ok(MirrorUpdate::Snapshot { host, containers, .. }) => {
                        tracing::info!(%host, containers, "online; snapshot written")
                    }
                    Ok(MirrorUpdate::Status { host, state: Reachability::Offline, error, .. }) => {
                        tracing::warn!(%host, error = error.as_deref().unwrap_or(""), "offline; rows kept, reconnecting")
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // The containers' figures into the history, beside the mirror.
        let collector = tokio::spawn(collect::collect_all(Arc::clone(&ctx.fleet), hosts.clone(), every, shutdown.clone()));
        let follower = tokio::spawn(sync::follow_all(Arc::clone(&ctx.fleet), hosts, shutdown));
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
        let _ = follower.await;
        let _ = collector.await;
        Ok::<(), Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
