//! Store-only changes (hosts, pools, leases) recorded in the audit log in the same transaction
//! as the change.
//!
//! The front ends make them through [`Audited`] (`store.audited(&row)`), which hands the op's
//! row to the one transaction of the change: the store methods run it through
//! `write_tx_recorded`, which appends what the change did (described by [`Recorded`]) before
//! committing. The row travels in a thread-local for the length of that synchronous call, so the
//! methods keep one signature for both uses; the plain methods record nothing (store tests).

use std::net::IpAddr;

use super::audit::{AuditObject, NewAuditRow, Outcome};
use super::ipam::{AddressRow, LeaseRequest};
use super::Store;
use crate::error::Result;
use crate::ipam::pool::PoolSpec;
use crate::model::{Host, HostConfig, HostKind};

thread_local! {
    static RECORDING: std::cell::RefCell<Option<NewAuditRow>> = const { std::cell::RefCell::new(None) };
}

/// What a pool or lease change appends to the audit log, from its result and the op's row.
pub(crate) trait Recorded {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow>;
}

fn recorded(template: &NewAuditRow, object: AuditObject, after: Option<serde_json::Value>) -> NewAuditRow {
    NewAuditRow { object, after, outcome: Outcome::Ok, request: None, ..template.clone() }
}

impl Recorded for () {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        vec![recorded(template, template.object.clone(), template.after.clone())]
    }
}

/// A change that may find nothing to do: recorded only when it did something.
impl Recorded for bool {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        if *self {
            ().audit_rows(template)
        } else {
            Vec::new()
        }
    }
}

impl Recorded for Host {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        let object = AuditObject { id: Some(self.id.to_string()), name: Some(self.config.name.clone()) };
        let after = serde_json::json!({"name": self.config.name, "url": self.config.endpoint.to_string(), "kind": HostKind::of(&self.config.endpoint), "labels": self.config.labels.keys().collect::<Vec<_>>()});
        vec![NewAuditRow { host: Some(self.config.name.clone()), ..recorded(template, object, Some(after)) }]
    }
}

impl Recorded for AddressRow {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        let object = AuditObject { id: Some(self.ip.clone()), name: Some(self.pool.clone()) };
        vec![NewAuditRow { host: self.host.clone().or_else(|| template.host.clone()), ..recorded(template, object, serde_json::to_value(self).ok()) }]
    }
}

impl Recorded for (AddressRow, Option<String>) {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        self.0.audit_rows(template)
    }
}

impl Recorded for Vec<AddressRow> {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        // A batch lease is one change: one row with its range, not one per address.
        if self.len() > 1 && template.action == "lease" {
            let (first, last) = (&self[0], &self[self.len() - 1]);
            let object = AuditObject { id: Some(format!("{}…{}", first.ip, last.ip)), name: Some(first.pool.clone()) };
            let after = serde_json::json!({"count": self.len(), "first": first.ip, "last": last.ip, "host": first.host, "container": first.container});
            return vec![recorded(template, object, Some(after))];
        }
        self.iter().flat_map(|row| row.audit_rows(template)).collect()
    }
}

impl Store {
    /// [`Store::write_tx`], appending the audit rows of the change when it runs for an
    /// [`Audited`] call.
    pub(super) fn write_tx_recorded<T: Recorded>(&self, what: &str, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let template = RECORDING.with(|r| r.borrow_mut().take());
        self.write_tx(what, |tx| {
            let out = f(tx)?;
            if let Some(template) = &template {
                self.audit_append_in(tx, &out.audit_rows(template))?;
            }
            Ok(out)
        })
    }

    /// Pool and lease changes recorded as `row`'s op (its actor, via, reason, host; kind and
    /// action as given).
    pub fn audited<'a>(&'a self, row: &'a NewAuditRow) -> Audited<'a> {
        Audited { store: self, row }
    }
}

/// Pool and lease changes that are recorded in the audit log in their own transaction.
pub struct Audited<'a> {
    store: &'a Store,
    row: &'a NewAuditRow,
}

impl Audited<'_> {
    pub fn add_host(&self, config: &HostConfig) -> Result<Host> {
        self.run("host", "add", AuditObject::default(), None, |s| s.add_host(config))
    }

    pub fn update_host(&self, name: &str, config: &HostConfig) -> Result<Host> {
        self.run("host", "edit", AuditObject::default(), None, |s| s.update_host(name, config))
    }

    pub fn remove_host(&self, name: &str) -> Result<()> {
        let object = AuditObject { id: None, name: Some(name.to_owned()) };
        let row = NewAuditRow { host: Some(name.to_owned()), ..self.row.clone() };
        Audited { store: self.store, row: &row }.run("host", "remove", object, None, |s| s.remove_host(name))
    }

    fn run<T>(&self, kind: &str, action: &str, object: AuditObject, after: Option<serde_json::Value>, call: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let row = NewAuditRow { kind: kind.to_owned(), action: action.to_owned(), object, after, ..self.row.clone() };
        /// Clears the row however the call ends (a panic included), so that no later call on
        /// this thread records it.
        struct Cleared;
        impl Drop for Cleared {
            fn drop(&mut self) {
                RECORDING.with(|r| r.borrow_mut().take());
            }
        }
        RECORDING.with(|r| *r.borrow_mut() = Some(row));
        let _cleared = Cleared;
        call(self.store)
    }

    fn pool_object(name: &str) -> AuditObject {
        AuditObject { id: None, name: Some(name.to_owned()) }
    }

    pub fn add_pool(&self, spec: &PoolSpec) -> Result<()> {
        // A pool read back from the hosts' labels is recorded as such.
        let action = if self.row.action == "rebuild" { "rebuild" } else { "add" };
        self.run("pool", action, Self::pool_object(&spec.name), serde_json::to_value(spec).ok(), |s| s.add_pool(spec))
    }

    pub fn remove_pool(&self, name: &str, force: bool) -> Result<()> {
        self.run("pool", "remove", Self::pool_object(name), None, |s| s.remove_pool(name, force))
    }

    pub fn lease(&self, pool: &str, request: &LeaseRequest) -> Result<AddressRow> {
        self.run("lease", "lease", Self::pool_object(pool), None, |s| s.lease(pool, request))
    }

    pub fn lease_many(&self, pool: &str, count: usize, request: &LeaseRequest) -> Result<Vec<AddressRow>> {
        self.run("lease", "lease", Self::pool_object(pool), None, |s| s.lease_many(pool, count, request))
    }

    pub fn adopt_lease(&self, pool: &str, ip: IpAddr, host: &str, container: &str) -> Result<AddressRow> {
        self.run("lease", "adopt", Self::pool_object(pool), None, |s| s.adopt_lease(pool, ip, host, container))
    }

    pub fn forget_lease(&self, pool: &str, ip: IpAddr) -> Result<()> {
        let object = AuditObject { id: Some(ip.to_string()), name: Some(pool.to_owned()) };
        self.run("lease", "forget", object, None, |s| s.forget_lease(pool, ip))
    }

    pub fn release(&self, pool: &str, ip: IpAddr) -> Result<AddressRow> {
        self.release_held(pool, ip, None)
    }

    pub fn release_held(&self, pool: &str, ip: IpAddr, holder: Option<(&str, &str)>) -> Result<AddressRow> {
        self.run("lease", "release", Self::pool_object(pool), None, |s| s.release_held(pool, ip, holder))
    }

    pub fn release_container(&self, host: &str, names: &[&str]) -> Result<Vec<AddressRow>> {
        self.run("lease", "release", AuditObject::default(), None, |s| s.release_container(host, names))
    }

    pub fn apply_app(&self, name: &str, spec: &str, digest: &str, source: Option<&str>, actor: &str) -> Result<super::apps::Applied> {
        let object = AuditObject { id: None, name: Some(name.to_owned()) };
        self.run("app", "apply", object, None, |s| s.apply_app(name, spec, digest, source, actor))
    }

    pub fn claim_lease(&self, pool: &str, ip: IpAddr, host: &str, container: &str, kin: &str) -> Result<(AddressRow, Option<String>)> {
        self.run("lease", "claim", Self::pool_object(pool), None, |s| s.claim_lease(pool, ip, host, container, kin))
    }

    pub fn set_deployment(&self, name: &str, env: &str, revision: i64, replicas: u32) -> Result<super::apps::DeploymentRow> {
        let object = AuditObject { id: None, name: Some(name.to_owned()) };
        self.run("app", &self.row.action.clone(), object, self.row.after.clone(), |s| s.set_deployment(name, env, revision, replicas))
    }

    pub fn remove_deployment(&self, name: &str, env: &str) -> Result<()> {
        let object = AuditObject { id: None, name: Some(name.to_owned()) };
        let after = serde_json::json!({ "env": env });
        self.run("app", "rm", object, Some(after), |s| s.remove_deployment(name, env))
    }

    pub fn restore_app_revision(&self, name: &str, revision: i64, spec: &str, digest: &str, applied_ms: i64) -> Result<bool> {
        let object = AuditObject { id: Some(revision.to_string()), name: Some(name.to_owned()) };
        self.run("app", "rebuild", object, None, |s| s.restore_app_revision(name, revision, spec, digest, applied_ms))
    }

    pub fn reserve(&self, pool: &str, ip: IpAddr, reason: &str) -> Result<AddressRow> {
        self.run("lease", "reserve", Self::pool_object(pool), None, |s| s.reserve(pool, ip, reason))
    }
}
