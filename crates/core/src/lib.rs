//! Berth's engine, free of any UI toolkit: host endpoints and connections, the SQLite mirror of
//! every host, and the sync engine that keeps the mirror true. The CLI and the desktop shell are
//! thin layers over this crate.

pub mod apps;
pub mod audit;
pub mod connect;
pub mod containers;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod exec;
pub mod fleet;
pub mod images;
pub mod ipam;
pub mod model;
pub mod monitor;
pub mod paths;
pub mod placement;
pub mod resources;
pub mod shell;
pub mod store;
pub mod sync;
pub mod time;

pub use error::{Error, Result};
pub use model::HostSummary;
