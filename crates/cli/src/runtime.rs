//! The async runtime of the commands that talk to hosts; reads of the mirror start none.

use berth_core::Error;

/// A multi-threaded runtime with I/O and timers, one worker per core: a sync of many hosts
/// parses their snapshots side by side.
pub fn start() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|source| Error::Io { context: "starting the async runtime".into(), source })
}
