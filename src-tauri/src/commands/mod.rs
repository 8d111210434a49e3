//! IPC commands, one module per domain. Each is glue: managed state in, one core call, error out.
//! They are registered in the single `generate_handler!` list in `main.rs`.

pub mod hosts;
