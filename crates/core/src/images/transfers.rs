//! Progress of pulls, pushes and builds, kept in the core (one [`Transfers`] per process, on the
//! [`crate::fleet::Fleet`]) so that a view that closes, or a page that reloads, finds them again;
//! each can be cancelled. Updates are published at most every [`PUBLISH_EVERY`] per transfer,
//! and always when one ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{AbortHandle, Abortable};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::error::{Error, Result};

/// The most often one transfer's progress is published.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(150);
/// Ended transfers kept for the views.
pub const KEEP_ENDED: usize = 50;
/// Output lines kept per transfer (a build's log).
pub const KEEP_LINES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Pull,
    Push,
    Build,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum TransferState {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// One layer of a pull (or a push's layer as sent or skipped).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LayerProgress {
    pub id: String,
    pub status: String,
    /// Bytes done and in all, where the daemon says.
    pub current: Option<f64>,
    pub total: Option<f64>,
}

/// Why a transfer failed, as the IPC edge shapes errors (`code` for the UI to word it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TransferError {
    pub code: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub detail: Option<String>,
}

impl From<&Error> for TransferError {
    fn from(e: &Error) -> TransferError {
        TransferError {
            code: e.code().to_owned(),
            message: e.to_string(),
            fields: e.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            detail: e.detail(),
        }
    }
}

/// A pull, a push to one target, or a build, as the views show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Transfer {
    pub id: u32,
    pub kind: TransferKind,
    /// The host pulled to, pushed to, or built on.
    pub host: String,
    pub image: String,
    /// A push's source host.
    pub from: Option<String>,
    pub state: TransferState,
    pub error: Option<TransferError>,
    pub layers: Vec<LayerProgress>,
    /// The last lines of output (a build's steps; a push's notes, such as a fallback to the
    /// whole image).
    pub output: Vec<String>,
    /// A push: bytes put on the wire and bytes to send in all; layers sent and skipped.
    pub bytes_sent: f64,
    pub bytes_total: f64,
    pub layers_sent: u32,
    pub layers_skipped: u32,
    pub full_tar: bool,
    pub started_ms: f64,
    pub ended_ms: Option<f64>,
}

struct Entry {
    transfer: Transfer,
    abort: Option<AbortHandle>,
    /// Cancelled before its work started: the work is never run.
    cancelled: bool,
    published: Option<Instant>,
}

/// Every transfer of this process.
pub struct Transfers {
    entries: Mutex<BTreeMap<u32, Entry>>,
    next: std::sync::atomic::AtomicU32,
    updates: broadcast::Sender<Transfer>,
}

impl Default for Transfers {
    fn default() -> Self {
        Transfers { entries: Mutex::default(), next: 1.into(), updates: broadcast::channel(1024).0 }
    }
}

impl Transfers {
    /// Start tracking a transfer.
    pub fn start(self: &Arc<Self>, kind: TransferKind, host: &str, image: &str, from: Option<&str>) -> TransferHandle {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let transfer = Transfer {
            id,
            kind,
            host: host.to_owned(),
            image: image.to_owned(),
            from: from.map(str::to_owned),
            state: TransferState::Running,
            error: None,
            layers: Vec::new(),
            output: Vec::new(),
            bytes_sent: 0.0,
            bytes_total: 0.0,
            layers_sent: 0,
            layers_skipped: 0,
            full_tar: false,
            started_ms: crate::store::now_ms() as f64,
            ended_ms: None,
        };
        let _ = self.updates.send(transfer.clone());
        self.lock().insert(id, Entry { transfer, abort: None, cancelled: false, published: None });
        TransferHandle { id, transfers: Arc::clone(self) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every transfer kept, oldest first.
    pub fn list(&self) -> Vec<Transfer> {
        self.lock().values().map(|e| e.transfer.clone()).collect()
    }

    pub fn get(&self, id: u32) -> Option<Transfer> {
        self.lock().get(&id).map(|e| e.transfer.clone())
    }

    /// Updates from now on (a lagging receiver reloads with [`Transfers::list`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Transfer> {
        self.updates.subscribe()
    }

    /// Cancel a running transfer: its request is dropped, which the daemon takes as a cancel.
    pub fn cancel(&self, id: u32) -> Result<()> {
        let mut entries = self.lock();
        let entry = entries.get_mut(&id).ok_or_else(|| Error::invalid("transfer", format!("no transfer {id}")))?;
        if entry.transfer.state == TransferState::Running {
            match &entry.abort {
                Some(abort) => abort.abort(),
                // Still preparing (a push asking its targets what they lack): its work won't run.
                None => entry.cancelled = true,
            }
        }
        Ok(())
    }
}

/// The running side of one transfer.
#[derive(Clone)]
pub struct TransferHandle {
    pub id: u32,
    transfers: Arc<Transfers>,
}

impl TransferHandle {
    /// Change the transfer; published unless one was published less than [`PUBLISH_EVERY`] ago.
    pub fn update(&self, change: impl FnOnce(&mut Transfer)) {
        let mut entries = self.transfers.lock();
        let Some(entry) = entries.get_mut(&self.id) else { return };
        change(&mut entry.transfer);
        if entry.published.is_none_or(|at| at.elapsed() >= PUBLISH_EVERY) {
            entry.published = Some(Instant::now());
            let _ = self.transfers.updates.send(entry.transfer.clone());
        }
    }

    /// Bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.transfers.get(self.id).map(|t| t.bytes_sent as u64).unwrap_or(0)
    }

    /// Add output lines (a build's), keeping the last [`KEEP_LINES`].
    pub fn output(&self, text: &str) {
        self.update(|t| {
            t.output.extend(text.lines().map(str::trim_end).filter(|l| !l.is_empty()).map(str::to_owned));
            let extra = t.output.len().saturating_sub(KEEP_LINES);
            t.output.drain(..extra);
        });
    }

    /// A layer's new status and progress.
    pub fn layer(&self, id: &str, status: &str, current: Option<i64>, total: Option<i64>) {
        self.update(|t| {
            let layer = LayerProgress { id: id.to_owned(), status: status.to_owned(), current: current.map(|c| c as f64), total: total.map(|c| c as f64) };
            match t.layers.iter_mut().find(|l| l.id == id) {
                Some(known) => *known = layer,
                None => t.layers.push(layer),
            }
        });
    }

    /// Run `work` as this transfer: cancelling it drops `work` and gives [`Error::Cancelled`].
    pub async fn run<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let (abort, registration) = AbortHandle::new_pair();
        if let Some(entry) = self.transfers.lock().get_mut(&self.id) {
            if entry.cancelled {
                abort.abort();
            }
            entry.abort = Some(abort);
        }
        let result = match Abortable::new(work, registration).await {
            Ok(result) => result,
            Err(_) => Err(Error::Cancelled { what: self.what() }),
        };
        self.finish(&result);
        result
    }

    /// End the transfer as failed before its work ran.
    pub fn fail(&self, error: &Error) {
        self.finish_with(Some(error));
    }

    fn what(&self) -> String {
        self.transfers.get(self.id).map(|t| format!("the {} of {} on {}", kind_word(t.kind), t.image, t.host)).unwrap_or_else(|| "the transfer".into())
    }

    fn finish<T>(&self, result: &Result<T>) {
        self.finish_with(result.as_ref().err());
    }

    fn finish_with(&self, error: Option<&Error>) {
        let mut entries = self.transfers.lock();
        if let Some(entry) = entries.get_mut(&self.id) {
            let t = &mut entry.transfer;
            t.ended_ms = Some(crate::store::now_ms() as f64);
            (t.state, t.error) = match error {
                None => (TransferState::Done, None),
                Some(e @ Error::Cancelled { .. }) => (TransferState::Cancelled, Some(e.into())),
                Some(e) => (TransferState::Failed, Some(e.into())),
            };
            entry.abort = None;
            let _ = self.transfers.updates.send(t.clone());
        }
        let ended: Vec<u32> = entries.iter().filter(|(_, e)| e.transfer.state != TransferState::Running).map(|(id, _)| *id).collect();
        for id in ended.iter().take(ended.len().saturating_sub(KEEP_ENDED)) {
            entries.remove(id);
        }
    }
}

fn kind_word(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Pull => "pull",
        TransferKind::Push => "push",
        TransferKind::Build => "build",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_is_kept_and_a_cancel_ends_the_work() {
        let transfers = Arc::new(Transfers::default());
        let mut updates = transfers.subscribe();
        let handle = transfers.start(TransferKind::Pull, "sgp", "shop/web:1", None);
        handle.layer("a1", "Downloading", Some(5), Some(10));
        handle.layer("a1", "Download complete", None, None);
        assert_eq!(transfers.list()[0].layers.len(), 1, "one row per layer");
        assert_eq!(updates.recv().await.unwrap().state, TransferState::Running);
        let id = handle.id;
        // While the work runs: it is dropped.
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let cancel = {
            let transfers = Arc::clone(&transfers);
            async move {
                started_rx.await.unwrap();
                transfers.cancel(id).unwrap();
            }
        };
        let work = handle.run(async {
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
            Ok(())
        });
        let (result, ()) = tokio::join!(work, cancel);
        assert_eq!(result.unwrap_err().code(), "cancelled");
        // Before the work starts (a push still preparing): the work never runs.
        let early = transfers.start(TransferKind::Push, "sgp", "shop/web:1", Some("home"));
        transfers.cancel(early.id).unwrap();
        let result: Result<()> = early.run(async { panic!("cancelled work ran") }).await;
        assert_eq!(result.unwrap_err().code(), "cancelled");
        let ended = transfers.get(id).unwrap();
        assert_eq!(ended.state, TransferState::Cancelled);
        assert!(ended.ended_ms.is_some());
        assert!(transfers.cancel(999).is_err());
    }

    #[tokio::test]
    async fn ended_transfers_are_bounded() {
        let transfers = Arc::new(Transfers::default());
        for _ in 0..KEEP_ENDED + 10 {
            let handle = transfers.start(TransferKind::Build, "h", "i", None);
            handle.run(async { Ok(()) }).await.unwrap();
        }
        assert_eq!(transfers.list().len(), KEEP_ENDED);
    }
}
