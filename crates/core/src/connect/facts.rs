//! Docker's answers → the plain facts the store keeps. The full JSON is kept verbatim (as bollard
//! re-serialises it); the columns views filter on are pulled out of it here, once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{ContainerFacts, EngineFacts, EventRecord, ImageFacts, NetworkFacts, VolumeFacts};
use crate::time::docker_time_ms;

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("Docker models serialise")
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default()
}

/// The part of a container's inspect document the columns come from; serde skips the rest.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectHead {
    id: String,
    name: String,
    image: Option<String>,
    created: Option<String>,
    state: Option<StateHead>,
    config: Option<ConfigHead>,
    network_settings: Option<NetworkSettingsHead>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StateHead {
    status: Option<String>,
    exit_code: Option<i64>,
    started_at: Option<String>,
    finished_at: Option<String>,
    health: Option<HealthHead>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthHead {
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigHead {
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettingsHead {
    networks: Option<BTreeMap<String, EndpointHead>>,
}

#[derive(Deserialize)]
struct EndpointHead {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Columns from a container's inspect document, kept verbatim beside them.
pub fn container(inspect: String) -> Result<ContainerFacts, serde_json::Error> {
    let head: InspectHead = serde_json::from_str(&inspect)?;
    let config = head.config.unwrap_or(ConfigHead { image: None, labels: None });
    let state = head.state;
    let time = |t: Option<&String>| t.and_then(|t| docker_time_ms(t));
    let ips = head
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(network, ep)| Some((network, non_empty(ep.ip_address).or(non_empty(ep.global_ipv6_address))?)))
        .collect();
    Ok(ContainerFacts {
        name: head.name.trim_start_matches('/').to_owned(),
        image: non_empty(config.image).or_else(|| head.image.clone()).unwrap_or_default(),
        image_id: non_empty(head.image),
        state: state.as_ref().and_then(|s| s.status.clone()).unwrap_or_else(|| "unknown".into()),
        exit_code: state.as_ref().and_then(|s| s.exit_code),
        created_ms: time(head.created.as_ref()).unwrap_or(0),
        started_ms: time(state.as_ref().and_then(|s| s.started_at.as_ref())),
        finished_ms: time(state.as_ref().and_then(|s| s.finished_at.as_ref())),
        health: state.and_then(|s| s.health).and_then(|h| non_empty(h.status)),
        labels: config.labels.unwrap_or_default(),
        ips,
        id: head.id,
        inspect,
    })
}

pub fn image(inspect: &bollard::models::ImageInspect) -> ImageFacts {
    let v = to_json(inspect);
    ImageFacts {
        id: text(&v["Id"]).unwrap_or_default(),
        repo_tags: v["RepoTags"].as_array().map(|tags| tags.iter().filter_map(text).collect()).unwrap_or_default(),
        created_ms: v["Created"].as_str().and_then(docker_time_ms),
        size: v["Size"].as_i64(),
        inspect: v.to_string(),
    }
}

pub fn network(inspect: &bollard::models::NetworkInspect) -> NetworkFacts {
    let v = to_json(inspect);
    NetworkFacts {
        id: text(&v["Id"]).unwrap_or_default(),
        name: text(&v["Name"]).unwrap_or_default(),
        driver: text(&v["Driver"]),
        scope: text(&v["Scope"]),
        subnets: v["IPAM"]["Config"].as_array().map(|configs| configs.iter().filter_map(|c| text(&c["Subnet"])).collect()).unwrap_or_default(),
        inspect: v.to_string(),
    }
}

pub fn volume(volume: &bollard::models::Volume) -> VolumeFacts {
    let v = to_json(volume);
    VolumeFacts { name: text(&v["Name"]).unwrap_or_default(), driver: text(&v["Driver"]), mountpoint: text(&v["Mountpoint"]), inspect: v.to_string() }
}

pub fn engine(api_version: &str, info: &bollard::models::SystemInfo) -> EngineFacts {
    EngineFacts { api_version: api_version.to_owned(), server_version: info.server_version.clone(), info: to_json(info).to_string() }
}

pub fn event(message: &bollard::models::EventMessage) -> EventRecord {
    let v = to_json(message);
    let actor = &v["Actor"];
    let attributes = string_map(&actor["Attributes"]);
    EventRecord {
        time_ns: message.time_nano.or(message.time.map(|s| s * 1_000_000_000)).unwrap_or(0),
        kind: text(&v["Type"]).unwrap_or_else(|| "unknown".into()),
        action: message.action.clone().unwrap_or_default(),
        actor_id: text(&actor["ID"]),
        actor_name: attributes.get("name").cloned(),
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_columns_come_from_the_document_which_is_kept_verbatim() {
        let doc = r#"{"Id":"abc","Created":"2026-11-25T10:00:00.123456789Z","Name":"/shop-web","Image":"sha256:1f",
            "State":{"Status":"exited","ExitCode":3,"StartedAt":"2026-11-25T10:00:01Z","FinishedAt":"0001-01-01T00:00:00Z",
                     "Health":{"Status":"unhealthy"}},
            "Config":{"Image":"shop:1.2","Labels":{"app":"shop"}},
            "NetworkSettings":{"Networks":{"lan":{"IPAddress":"10.1.0.5"},"v6":{"IPAddress":"","GlobalIPv6Address":"fd00::5"},
                                           "none":{"IPAddress":""}}},
            "Mounts":[{"Type":"volume"}]}"#;
        let c = container(doc.to_owned()).unwrap();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.image.as_str()), ("abc", "shop-web", "shop:1.2"));
        assert_eq!((c.state.as_str(), c.exit_code, c.health.as_deref()), ("exited", Some(3), Some("unhealthy")));
        assert_eq!(c.image_id.as_deref(), Some("sha256:1f"));
        assert_eq!(c.created_ms, 1_795_600_800_123);
        assert_eq!((c.started_ms, c.finished_ms), (Some(1_795_600_801_000), None));
        assert_eq!(c.labels.get("app").map(String::as_str), Some("shop"));
        let ips: Vec<_> = c.ips.iter().map(|(n, ip)| format!("{n}={ip}")).collect();
        assert_eq!(ips, ["lan=10.1.0.5", "v6=fd00::5"]);
        assert_eq!(c.inspect, doc);

        let bare = container(r#"{"Id":"x","Name":"/y","Config":{"Labels":null}}"#.into()).unwrap();
        assert!(bare.labels.is_empty() && bare.ips.is_empty());
        assert_eq!(bare.state, "unknown");
        assert!(container("[]".into()).is_err());
    }
}
