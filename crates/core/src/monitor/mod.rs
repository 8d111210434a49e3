//! Monitoring: containers' figures read from each host ([`api`]: the Engine API's stats;
//! [`cgroup`]: the cgroup files of every container in one round trip), computed as the docker
//! CLI computes them ([`formulas`]).

pub mod alerts;
pub mod api;
pub mod cgroup;
pub mod collect;
pub mod formulas;
pub mod live;
pub mod rules;
pub mod sample;
