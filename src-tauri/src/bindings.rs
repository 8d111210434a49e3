//! The command list and the generated TypeScript bindings (`ui/src/lib/ipc/bindings.ts`).
//!
//! The bindings are committed; `cargo test -p berth-app` fails when they differ from what the
//! Rust types say, and `BERTH_WRITE_BINDINGS=1 cargo test -p berth-app bindings` rewrites them.

use tauri_specta::{collect_commands, Builder, ErrorHandlingMode};

use crate::commands;

pub fn builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            commands::hosts::fleet,
            commands::hosts::add_host,
            commands::hosts::edit_host,
            commands::hosts::remove_host,
            commands::hosts::test_connection,
            commands::hosts::trust_host_key,
            commands::containers::containers,
            commands::containers::container_detail,
            commands::containers::container_action,
            commands::events::events,
            commands::app::ui_painted,
            commands::shell::shell_open,
            commands::shell::shell_attach,
            commands::shell::shell_input,
            commands::shell::shell_resize,
            commands::shell::shell_close,
            commands::shell::shells,
            commands::shell::logs_open,
            commands::shell::logs_close,
            commands::shell::shell_ack,
            commands::shell::logs_save,
            commands::ipam::ipam_pools,
            commands::ipam::ipam_addresses,
            commands::ipam::ipam_check,
            commands::ipam::ipam_repair,
            commands::ipam::ipam_net_apply,
            commands::ipam::ipam_run,
            commands::audit::audit,
            commands::apps::apps,
            commands::apps::app_plan,
            commands::apps::app_status,
            commands::apps::app_revisions,
            commands::apps::app_history,
            commands::apps::app_deploy,
            commands::apps::app_scale,
            commands::apps::app_rollback,
            commands::apps::app_remove,
            commands::images::images,
            commands::images::image_pull,
            commands::images::image_push,
            commands::images::image_build,
            commands::images::image_remove,
            commands::images::image_prune,
            commands::images::transfers,
            commands::images::transfer_cancel,
            commands::images::networks,
            commands::images::network_remove,
            commands::images::network_prune,
            commands::images::volumes,
            commands::images::volume_remove,
            commands::images::volume_prune,
        ])
        // Event payloads: emitted on scoped names (see events.rs), so registered as plain types.
        .typ::<crate::events::ContainersPatch>()
        .typ::<crate::error::IpcError>()
        .typ::<crate::events::ObjectsChanged>()
        .typ::<crate::events::RolloutProgress>()
        // The UI groups the per-host rows itself (one host re-read per change), in the core's shape and rule.
        .typ::<berth_core::images::ImageAcross>()
        .error_handling(ErrorHandlingMode::Throw)
        // Counts, ids and millisecond times: all far below 2^53.
        .dangerously_cast_bigints_to_number()
        // One TypeScript type per Rust type (the UI reads what Rust serialises and sends what it parses).
        .disable_serde_phases()
}

/// Where the bindings live, relative to this crate.
#[cfg(test)]
const BINDINGS_PATH: &str = "../ui/src/lib/ipc/bindings.ts";

/// The bindings as the Rust side would write them now.
#[cfg(test)]
fn render() -> String {
    let dir = std::env::temp_dir().join(format!("berth-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("bindings.ts");
    builder()
        .export(specta_typescript::Typescript::default().header("// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit.\n"), &path)
        .expect("bindings export");
    let text = std::fs::read_to_string(&path).expect("exported bindings");
    let _ = std::fs::remove_dir_all(&dir);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_are_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS_PATH);
        let fresh = render();
        if std::env::var_os("BERTH_WRITE_BINDINGS").is_some() {
            std::fs::write(&path, &fresh).expect("write bindings");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == fresh, "{} is out of date with the Rust types; run `./x bindings` and commit the result", path.display());
    }
}
