//! Acting on containers: start, stop, restart, kill, pause, unpause, remove.
//!
//! An action only asks the daemon; the mirror learns the outcome from the daemon's events, like
//! any other change, so a front end shows what Docker reports rather than what it hoped for.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use bollard::query_parameters::{
    KillContainerOptions, RemoveContainerOptions, RestartContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use serde::Deserialize;

use crate::connect::{connect, Engine};
use crate::error::{Error, Result};
use crate::store::Store;

/// Seconds a stop or restart gives the container before Docker kills it.
pub const STOP_GRACE_SECONDS: i32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    /// Remove, stopping it first if it runs (the front end confirms).
    Remove,
}

impl ContainerAction {
    pub const ALL: [ContainerAction; 7] = [
        ContainerAction::Start,
        ContainerAction::Stop,
        ContainerAction::Restart,
        ContainerAction::Kill,
        ContainerAction::Pause,
        ContainerAction::Unpause,
        ContainerAction::Remove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Start => "start",
            ContainerAction::Stop => "stop",
            ContainerAction::Restart => "restart",
            ContainerAction::Kill => "kill",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Remove => "remove",
        }
    }
}

impl FromStr for ContainerAction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ContainerAction::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            Error::invalid("action", format!("{s:?}; use start, stop, restart, kill, pause, unpause or remove"))
        })
    }
}

/// Connections to the hosts actions were sent to, kept for the next action.
pub struct Actions {
    store: Arc<Store>,
    engines: tokio::sync::Mutex<HashMap<i64, Engine>>,
}

impl Actions {
    pub fn new(store: Arc<Store>) -> Actions {
        Actions { store, engines: tokio::sync::Mutex::default() }
    }

    /// Ask `host` to apply `action` to container `id` (a full id or a name on that host).
    pub async fn container(&self, host: &str, id: &str, action: ContainerAction) -> Result<()> {
        self.with_engine(host, |engine| async move { apply(&engine, id, action).await }).await
    }

    /// Run `f` over the connection kept for `host` (dialled on first use). A kept connection
    /// may have died with the daemon or the link since: then it is dialled once more and `f`
    /// runs again. Shell sessions and log streams go through here too.
    pub async fn with_engine<T, F, Fut>(&self, host: &str, f: F) -> Result<T>
    where
        F: Fn(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let host = self.store.host(host)?;
        let cached = self.engines.lock().await.get(&host.id).cloned();
        let Some(engine) = cached else {
            return f(self.connect(&host).await?).await;
        };
        match f(engine).await {
            Err(e) if e.is_connection() => {
                self.engines.lock().await.remove(&host.id);
                f(self.connect(&host).await?).await
            }
            other => other,
        }
    }

    async fn connect(&self, host: &crate::model::Host) -> Result<Engine> {
        let engine = connect(host).await?;
        self.engines.lock().await.insert(host.id, engine.clone());
        Ok(engine)
    }
}

async fn apply(engine: &Engine, id: &str, action: ContainerAction) -> Result<()> {
    let docker = &engine.docker;
    let result = match action {
        ContainerAction::Start => docker.start_container(id, None::<StartContainerOptions>).await,
        ContainerAction::Stop => {
            docker.stop_container(id, Some(StopContainerOptions { t: Some(STOP_GRACE_SECONDS), signal: None })).await
        }
        ContainerAction::Restart => {
            docker
                .restart_container(id, Some(RestartContainerOptions { t: Some(STOP_GRACE_SECONDS), signal: None }))
                .await
        }
        ContainerAction::Kill => docker.kill_container(id, None::<KillContainerOptions>).await,
        ContainerAction::Pause => docker.pause_container(id).await,
        ContainerAction::Unpause => docker.unpause_container(id).await,
        ContainerAction::Remove => {
            docker.remove_container(id, Some(RemoveContainerOptions { force: true, v: false, link: false })).await
        }
    };
    result.map_err(|e| engine.error(&format!("{} container {}", action.as_str(), short(id)), e))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
