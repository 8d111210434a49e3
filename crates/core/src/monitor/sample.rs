//! Reading a host's running containers: [`Sampler`] keeps the host's cgroup reader running
//! where Berth has a shell on the host and falls back to the Engine API (one-shot stats, at
//! most [`API_CONCURRENCY`] at once) for the host or for the containers it cannot read, saying
//! which it used; [`Sampler::figures`] turns two readings into the docker CLI's figures.

use crate::store::now_ms;
use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

use super::formulas::{self, Figures, Reading};
use super::{api, cgroup};
use crate::connect::{Engine, HostProgram};
use crate::error::Result;

/// One-shot stats requests in flight per host on the API path: Docker 20.10 answers each at
/// its next one-second collection, so all of a host's containers at once take one of them.
pub const API_CONCURRENCY: usize = 256;
/// How long one round of the cgroup reader may take before it counts as stuck.
pub const ROUND_LIMIT: Duration = Duration::from_secs(20);

/// Where a container's counters were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The Engine API's stats.
    Api,
    /// The cgroup files, read on the host in one round trip for all containers.
    Cgroup,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Cgroup => "cgroup",
        }
    }
}

/// A container's reading, where it came from, and when (ms since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    pub id: String,
    pub reading: Reading,
    pub source: Source,
    pub time_ms: i64,
}

/// One host's reader of container counters.
pub struct Sampler {
    program: Option<HostProgram>,
    started: bool,
    /// Why the API is used for this host (or some of its containers): said to the user.
    pub fallback: Option<String>,
    last: BTreeMap<String, Reading>,
    api_only: bool,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new(false)
    }
}

impl Sampler {
    /// A sampler for one host; `api_only` keeps to the Engine API (a setting per host).
    pub fn new(api_only: bool) -> Sampler {
        Sampler { program: None, started: false, fallback: None, last: BTreeMap::new(), api_only }
    }

    /// Whether the cgroup reader is running for this host.
    pub fn cgroup(&self) -> bool {
        self.program.is_some()
    }

    async fn start(&mut self, engine: &Engine) {
        self.started = true;
        if self.api_only {
            return; // asked for: nothing to say
        }
        match engine.start_host_program(cgroup::PROGRAM).await {
            Some(Ok(program)) => self.program = Some(program),
            Some(Err(e)) => self.fallback = Some(format!("the cgroup reader could not start on the host ({e}): the Engine API")),
            None => self.fallback = Some("Berth has no shell on this host (TCP, TLS or a named pipe): the Engine API".into()),
        }
    }

    /// One reading of each running container (`(id, pid)`): from the cgroup files where they
    /// can be read, from the API for the rest. A container that ended meanwhile is left out.
    pub async fn read(&mut self, engine: &Engine, containers: &[(String, u32)]) -> Result<Vec<Sampled>> {
        if !self.started {
            self.start(engine).await;
        }
        let mut out = Vec::with_capacity(containers.len());
        let mut rest: Vec<&str> = containers.iter().map(|(id, _)| id.as_str()).collect();
        if let Some(program) = self.program.as_mut() {
            match program.ask(&cgroup::request_line(containers), cgroup::END, ROUND_LIMIT).await {
                Ok(answer) => {
                    let time_ms = now_ms();
                    let round = cgroup::parse(&answer);
                    let mut unreadable = Vec::new();
                    for (id, result) in round.containers {
                        match result {
                            Ok(reading) => {
                                rest.retain(|r| *r != id);
                                out.push(Sampled { id, reading, source: Source::Cgroup, time_ms });
                            }
                            Err(why) => unreadable.push(why),
                        }
                    }
                    if out.is_empty() && !containers.is_empty() {
                        // None readable: the engine is elsewhere (a VM behind a local socket) or
                        // the files are hidden; the API from now on.
                        self.program = None;
                        self.fallback = Some(format!(
                            "the cgroup files of this host's containers are not readable where Berth runs ({}): the Engine API",
                            unreadable.first().map_or("no answer", String::as_str)
                        ));
                    }
                }
                Err(e) => {
                    self.program = None;
                    self.started = false; // started again next time
                    self.fallback = Some(format!("the cgroup reader stopped ({e}): the Engine API until it starts again"));
                }
            }
        }
        type Answer<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<(String, String, i64)>>> + Send + 'a>>;
        let asks: Vec<Answer<'_>> = rest
            .into_iter()
            .map(|id| {
                Box::pin(async move {
                    let doc = engine.container_stats_json(id, true).await?;
                    Ok(doc.map(|doc| (id.to_owned(), doc, now_ms())))
                }) as Answer<'_>
            })
            .collect();
        let read_api = futures_util::stream::iter(asks).buffer_unordered(API_CONCURRENCY).collect::<Vec<_>>().await;
        for result in read_api {
            match result {
                Ok(Some((id, doc, time_ms))) => {
                    let value: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
                    let (reading, _) = api::reading(&value);
                    out.push(Sampled { id, reading, source: Source::Api, time_ms });
                }
                Ok(None) => {}
                // A container that stopped between the listing and its read answers 409 or the
                // like: left out this round; a host that is gone fails the round.
                Err(e) if e.is_connection() => return Err(e),
                Err(e) => tracing::debug!(%e, "a container's stats could not be read"),
            }
        }
        Ok(out)
    }

    /// The figures of a reading against this sampler's previous one of the same container,
    /// which it then keeps.
    pub fn figures(&mut self, sampled: &Sampled) -> Figures {
        let figures = formulas::figures(self.last.get(&sampled.id), &sampled.reading);
        self.last.insert(sampled.id.clone(), sampled.reading.clone());
        figures
    }

    /// Forget the readings of containers not in `ids` (ended, removed).
    pub fn retain(&mut self, ids: &[&str]) {
        self.last.retain(|id, _| ids.contains(&id.as_str()));
    }
}
