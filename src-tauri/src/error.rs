//! The one error shape that crosses the IPC boundary.

use serde::Serialize;

/// What a failed command returns to the UI: `{ code, message }`.
///
/// `code` is `berth_core::Error::code()`, for the UI to branch on; `message` is the core error's
/// `Display`, already written for the user (it names the cause and what to do about it).
#[derive(Debug, Serialize, specta::Type)]
pub struct IpcError {
    pub code: String,
    pub message: String,
}

impl From<berth_core::Error> for IpcError {
    fn from(error: berth_core::Error) -> Self {
        IpcError { code: error.code().to_owned(), message: error.to_string() }
    }
}
