//! The one error shape that crosses the IPC boundary.

use std::collections::BTreeMap;

use serde::Serialize;

/// What a failed command returns to the UI: `{ code, message, fields, detail }`.
///
/// `code` is `berth_core::Error::code()`; the UI words the error in its own language from
/// `code` and `fields` (`errors.<code>` in its dictionaries) and shows `detail` (the daemon's or
/// the system's own words) beneath. `message` is the core's English, for logs and for a code
/// the UI does not know yet.
#[derive(Debug, Serialize, specta::Type)]
pub struct IpcError {
    pub code: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub detail: Option<String>,
}

impl IpcError {
    /// A failure of the app itself (a task that panicked), not of the core.
    pub fn internal(message: String) -> IpcError {
        IpcError { code: "internal".into(), message, fields: BTreeMap::new(), detail: None }
    }
}

impl From<berth_core::Error> for IpcError {
    fn from(error: berth_core::Error) -> Self {
        IpcError {
            code: error.code().to_owned(),
            message: error.to_string(),
            fields: error.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            detail: error.detail(),
        }
    }
}
