//! Monitoring: containers' figures read from each host ([`api`]: the Engine API's stats;
//! [`cgroup`]: the cgroup files of every container in one round trip; [`sample`] chooses),
//! computed as the docker CLI computes them ([`formulas`]); `berth stats` ([`live`]); each
//! host's collector writing the history ([`collect`]); alerts from events ([`alerts`]) and
//! from the rules people set ([`rules`]).

pub mod alerts;
pub mod api;
pub mod cgroup;
pub mod collect;
pub mod formulas;
pub mod live;
pub mod rules;
pub mod sample;
