//! A fleet of followers whose membership changes while it runs: the desktop app's sync engine.
//!
//! `berth sync` follows a fixed list of hosts; the app adds, edits and removes hosts while it
//! runs. The supervisor owns one [`follow`] task per host, each with its own stop signal, and
//! remembers the newest live state of each (connecting, online with its round trip, offline),
//! which the store cannot know: a host stored as online by a previous run is only "connecting"
//! until this run's follower reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch};

use super::{follow, MirrorUpdate};
use crate::error::Result;
use crate::fleet::Fleet;
use crate::model::{Host, HostSummary, Reachability};
use crate::store::Store;

struct Running {
    stop: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    state: Reachability,
    rtt_ms: Option<f64>,
}

pub struct Supervisor {
    fleet: Arc<Fleet>,
    running: Mutex<HashMap<i64, Running>>,
    live: Arc<Mutex<HashMap<i64, Live>>>,
}

impl Supervisor {
    /// Must be called within a Tokio runtime: it starts the task that tracks live states.
    pub fn new(fleet: Arc<Fleet>) -> Arc<Supervisor> {
        let mut seen = fleet.subscribe();
        let live: Arc<Mutex<HashMap<i64, Live>>> = Arc::default();
        let tracked = Arc::clone(&live);
        tokio::spawn(async move {
            loop {
                match seen.recv().await {
                    Ok(MirrorUpdate::Status { host_id, state, rtt_ms, .. }) => {
                        let mut live = tracked.lock().unwrap_or_else(|p| p.into_inner());
                        let entry = live.entry(host_id).or_insert(Live { state, rtt_ms });
                        entry.state = state;
                        entry.rtt_ms = rtt_ms.or(entry.rtt_ms);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        // The audit log stays within its retention while the app runs.
        tokio::spawn(crate::audit::keep_bounded(Arc::clone(fleet.store())));
        Arc::new(Supervisor { fleet, running: Mutex::default(), live })
    }

    pub fn store(&self) -> &Arc<Store> {
        self.fleet.store()
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// Every mirror update from now on. A receiver that lags must reload what it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<MirrorUpdate> {
        self.fleet.subscribe()
    }

    /// Follow every stored host.
    pub fn follow_all(&self) -> Result<()> {
        for host in self.store().hosts()? {
            self.follow(host);
        }
        Ok(())
    }

    /// Start following a host, replacing its follower if it had one (after an edit).
    pub fn follow(&self, host: Host) {
        let (stop, shutdown) = watch::channel(false);
        let id = host.id;
        self.set_live(id, Live { state: Reachability::Connecting, rtt_ms: None });
        if let Some(old) = self.running().insert(id, Running { stop }) {
            let _ = old.stop.send(true);
            // Edited: its old connection may point elsewhere.
            self.fleet.forget_engine(id);
        }
        tokio::spawn(crate::monitor::collect::collect(Arc::clone(&self.fleet), host.clone(), crate::monitor::collect::SAMPLE_EVERY, shutdown.clone()));
        tokio::spawn(follow(Arc::clone(&self.fleet), host, shutdown));
    }

    /// Stop following a host (it was removed).
    pub fn unfollow(&self, host_id: i64) {
        if let Some(old) = self.running().remove(&host_id) {
            let _ = old.stop.send(true);
        }
        self.fleet.forget_engine(host_id);
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&host_id);
    }

    /// Stop every follower.
    pub fn stop_all(&self) {
        for (_, running) in self.running().drain() {
            let _ = running.stop.send(true);
        }
    }

    /// The stored summaries with this run's live state laid over them.
    pub fn summaries(&self) -> Result<Vec<HostSummary>> {
        let mut summaries = self.store().host_summaries()?;
        for summary in &mut summaries {
            self.overlay(summary);
        }
        Ok(summaries)
    }

    pub fn summary(&self, host_id: i64) -> Result<HostSummary> {
        let mut summary = self.store().host_summary(host_id)?;
        self.overlay(&mut summary);
        Ok(summary)
    }

    fn overlay(&self, summary: &mut HostSummary) {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(live) = live.get(&summary.id) {
            summary.status = live.state;
            summary.rtt_ms = live.rtt_ms.or(summary.rtt_ms);
        }
    }

    fn set_live(&self, host_id: i64, live: Live) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(host_id, live);
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}
