//! Reading the mirror's images, networks and volumes, with what uses each (containers; for
//! networks their addresses). Like every read, these work with every host unreachable.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::Store;
use crate::error::{Result, StoreContext};
use crate::time::rfc3339_ms;

/// One image on one host (`berth image ls --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImageRow {
    pub host: String,
    pub id: String,
    pub tags: Vec<String>,
    pub size: Option<f64>,
    /// RFC 3339.
    pub created: Option<String>,
    /// Names of the containers (any state) made from it.
    pub containers: Vec<String>,
    /// No tag: left behind by a newer image of the same name.
    pub dangling: bool,
    /// Its layers' diff IDs, bottom first.
    pub layers: Vec<String>,
}

/// A container attached to a network, with its address there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NetworkUser {
    pub container: String,
    pub ip: Option<String>,
}

/// One network on one host (`berth network ls --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NetworkRow {
    pub host: String,
    pub id: String,
    pub name: String,
    pub driver: Option<String>,
    pub scope: Option<String>,
    pub subnets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<NetworkUser>,
    /// The IP pool that made it (IPAM), when one did: removed only through IPAM.
    pub pool: Option<String>,
    /// Docker's own networks (bridge, host, none): never removed.
    pub builtin: bool,
}

/// One volume on one host (`berth volume ls --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VolumeRow {
    pub host: String,
    pub name: String,
    pub driver: Option<String>,
    pub mountpoint: Option<String>,
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<String>,
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object().map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect()).unwrap_or_default()
}

impl Store {
    /// Every mirrored image (of one host, when named), by host then newest first.
    pub fn images(&self, host: Option<&str>) -> Result<Vec<ImageRow>> {
        if let Some(host) = host {
            self.host(host)?;
        }
        let conn = self.conn();
        let context = || "listing images".to_owned();
        // Containers by image id, per host.
        let mut users: BTreeMap<(i64, String), Vec<String>> = BTreeMap::new();
        {
            let mut stmt =
                conn.prepare_cached("SELECT host_id, image_id, name FROM containers WHERE image_id IS NOT NULL ORDER BY name").store_context(context)?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))).store_context(context)?;
            for row in rows {
                let (host_id, image, name) = row.store_context(context)?;
                users.entry((host_id, image)).or_default().push(name);
            }
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.id, h.name, i.id, i.repo_tags, i.created_ms, i.size, json_extract(i.inspect, '$.RootFS.Layers')
                 FROM images i JOIN hosts h ON h.id = i.host_id WHERE (?1 IS NULL OR h.name = ?1)
                 ORDER BY h.name, i.created_ms DESC, i.id",
            )
            .store_context(context)?;
        let rows = stmt
            .query_map([host], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .store_context(context)?;
        let mut out = Vec::new();
        for row in rows {
            let (host_id, host, id, tags, created_ms, size, layers) = row.store_context(context)?;
            let tags: Vec<String> = serde_json::from_str::<Vec<String>>(&tags).unwrap_or_default().into_iter().filter(|t| t != "<none>:<none>").collect();
            let layers = layers.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_default();
            out.push(ImageRow {
                containers: users.get(&(host_id, id.clone())).cloned().unwrap_or_default(),
                dangling: tags.is_empty(),
                host,
                id,
                tags,
                size: size.map(|s| s as f64),
                created: created_ms.map(rfc3339_ms),
                layers,
            });
        }
        Ok(out)
    }

    /// The image on `host` that `reference` (an id, an id prefix or a tag) names, if mirrored.
    pub fn image_on(&self, host: &str, reference: &str) -> Result<Option<ImageRow>> {
        let wanted = reference.trim();
        let with_latest = if wanted.rsplit('/').next().is_some_and(|last| last.contains(':')) { wanted.to_owned() } else { format!("{wanted}:latest") };
        let bare = wanted.trim_start_matches("sha256:");
        Ok(self.images(Some(host))?.into_iter().find(|i| {
            i.tags.iter().any(|t| t == wanted || *t == with_latest)
                || i.id == wanted
                || (bare.len() >= 4 && bare.bytes().all(|b| b.is_ascii_hexdigit()) && i.id.trim_start_matches("sha256:").starts_with(bare))
        }))
    }

    /// Every mirrored network, with its containers and their addresses.
    pub fn networks(&self, host: Option<&str>) -> Result<Vec<NetworkRow>> {
        if let Some(host) = host {
            self.host(host)?;
        }
        let conn = self.conn();
        let context = || "listing networks".to_owned();
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, n.id, n.name, n.driver, n.scope, n.subnets, n.inspect FROM networks n JOIN hosts h ON h.id = n.host_id
                 WHERE (?1 IS NULL OR h.name = ?1) ORDER BY h.name, n.name",
            )
            .store_context(context)?;
        let rows = stmt
            .query_map([host], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .store_context(context)?;
        let mut out = Vec::new();
        for row in rows {
            let (host, id, name, driver, scope, subnets, inspect) = row.store_context(context)?;
            let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap_or_default();
            let labels = string_map(&inspect["Labels"]);
            out.push(NetworkRow {
                builtin: matches!(name.as_str(), "bridge" | "host" | "none"),
                host,
                id,
                name,
                driver,
                scope,
                subnets: serde_json::from_str(&subnets).unwrap_or_default(),
                pool: None,
                labels,
                containers: Vec::new(),
            });
        }
        drop(stmt);
        // Attachments, from the containers' own inspect documents (a stopped container keeps
        // its network settings there, which the network's inspect leaves out).
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, c.name, n.key, json_extract(n.value, '$.NetworkID'), json_extract(n.value, '$.IPAddress')
                 FROM containers c JOIN hosts h ON h.id = c.host_id JOIN container_inspect d ON d.host_id = c.host_id AND d.container_id = c.id,
                 json_each(d.inspect, '$.NetworkSettings.Networks') n WHERE (?1 IS NULL OR h.name = ?1) ORDER BY c.name",
            )
            .store_context(context)?;
        let rows = stmt
            .query_map([host], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?, r.get::<_, Option<String>>(4)?))
            })
            .store_context(context)?;
        for row in rows {
            let (host, container, network, network_id, ip) = row.store_context(context)?;
            let found = out.iter_mut().find(|n| n.host == host && (network_id.as_deref().is_some_and(|id| !id.is_empty() && id == n.id) || n.name == network));
            if let Some(n) = found {
                n.containers.push(NetworkUser { container, ip: ip.filter(|ip| !ip.is_empty()) });
            }
        }
        Ok(out)
    }

    /// Every mirrored volume, with the containers that mount it.
    pub fn volumes(&self, host: Option<&str>) -> Result<Vec<VolumeRow>> {
        if let Some(host) = host {
            self.host(host)?;
        }
        let conn = self.conn();
        let context = || "listing volumes".to_owned();
        let mut users: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT h.name, json_extract(m.value, '$.Name'), c.name FROM containers c JOIN hosts h ON h.id = c.host_id
                     JOIN container_inspect d ON d.host_id = c.host_id AND d.container_id = c.id, json_each(d.inspect, '$.Mounts') m
                     WHERE json_extract(m.value, '$.Type') = 'volume' AND (?1 IS NULL OR h.name = ?1) ORDER BY c.name",
                )
                .store_context(context)?;
            let rows =
                stmt.query_map([host], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?))).store_context(context)?;
            for row in rows {
                let (host, volume, container) = row.store_context(context)?;
                if let Some(volume) = volume {
                    users.entry((host, volume)).or_default().push(container);
                }
            }
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, v.name, v.driver, v.mountpoint, v.inspect FROM volumes v JOIN hosts h ON h.id = v.host_id
                 WHERE (?1 IS NULL OR h.name = ?1) ORDER BY h.name, v.name",
            )
            .store_context(context)?;
        let rows = stmt
            .query_map([host], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, Option<String>>(3)?, r.get::<_, String>(4)?))
            })
            .store_context(context)?;
        let mut out = Vec::new();
        for row in rows {
            let (host, name, driver, mountpoint, inspect) = row.store_context(context)?;
            let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap_or_default();
            out.push(VolumeRow {
                containers: users.remove(&(host.clone(), name.clone())).unwrap_or_default(),
                host,
                name,
                driver,
                mountpoint,
                created: inspect["CreatedAt"].as_str().map(str::to_owned),
                labels: string_map(&inspect["Labels"]),
            });
        }
        Ok(out)
    }

    /// Each image mirrored for host `host_id`: its id and its layers (diff IDs, bottom first).
    pub fn held_layers(&self, host_id: i64) -> Result<Vec<(String, Vec<String>)>> {
        let conn = self.conn();
        let context = || "reading layers".to_owned();
        let mut stmt = conn.prepare_cached("SELECT id, json_extract(inspect, '$.RootFS.Layers') FROM images WHERE host_id = ?1").store_context(context)?;
        let rows = stmt.query_map([host_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))).store_context(context)?;
        let mut out = Vec::new();
        for row in rows {
            if let (id, Some(text)) = row.store_context(context)? {
                out.push((id, strings(&serde_json::from_str(&text).unwrap_or_default())));
            }
        }
        Ok(out)
    }

    /// The mirrored inspect document of one image (by full id).
    pub fn image_inspect(&self, host_id: i64, id: &str) -> Result<Option<String>> {
        let conn = self.conn();
        conn.query_row("SELECT inspect FROM images WHERE host_id = ?1 AND id = ?2", rusqlite::params![host_id, id], |r| r.get(0))
            .optional()
            .store_context(|| "reading an image".into())
    }
}
