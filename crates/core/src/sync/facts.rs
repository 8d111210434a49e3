//! Docker's answers → the plain facts the store keeps. The full JSON is kept verbatim (as bollard
//! re-serialises it); the columns views filter on are pulled out of it here, once.

use std::collections::BTreeMap;

use serde::Serialize;
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
    v.as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

pub fn container(inspect: &bollard::models::ContainerInspectResponse) -> ContainerFacts {
    let v = to_json(inspect);
    let state = &v["State"];
    let ips = v["NetworkSettings"]["Networks"]
        .as_object()
        .map(|networks| {
            networks
                .iter()
                .filter_map(|(name, ep)| {
                    let ip = text(&ep["IPAddress"]).or_else(|| text(&ep["GlobalIPv6Address"]))?;
                    Some((name.clone(), ip))
                })
                .collect()
        })
        .unwrap_or_default();
    let time = |key: &str| state[key].as_str().and_then(docker_time_ms);
    ContainerFacts {
        id: text(&v["Id"]).unwrap_or_default(),
        name: text(&v["Name"]).unwrap_or_default().trim_start_matches('/').to_owned(),
        image: text(&v["Config"]["Image"]).or_else(|| text(&v["Image"])).unwrap_or_default(),
        image_id: text(&v["Image"]),
        state: text(&state["Status"]).unwrap_or_else(|| "unknown".into()),
        exit_code: state["ExitCode"].as_i64(),
        created_ms: v["Created"].as_str().and_then(docker_time_ms).unwrap_or(0),
        started_ms: time("StartedAt"),
        finished_ms: time("FinishedAt"),
        health: text(&state["Health"]["Status"]),
        labels: string_map(&v["Config"]["Labels"]),
        ips,
        inspect: v.to_string(),
    }
}

pub fn image(inspect: &bollard::models::ImageInspect) -> ImageFacts {
    let v = to_json(inspect);
    ImageFacts {
        id: text(&v["Id"]).unwrap_or_default(),
        repo_tags: v["RepoTags"]
            .as_array()
            .map(|tags| tags.iter().filter_map(text).collect())
            .unwrap_or_default(),
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
        subnets: v["IPAM"]["Config"]
            .as_array()
            .map(|configs| configs.iter().filter_map(|c| text(&c["Subnet"])).collect())
            .unwrap_or_default(),
        inspect: v.to_string(),
    }
}

pub fn volume(volume: &bollard::models::Volume) -> VolumeFacts {
    let v = to_json(volume);
    VolumeFacts {
        name: text(&v["Name"]).unwrap_or_default(),
        driver: text(&v["Driver"]),
        mountpoint: text(&v["Mountpoint"]),
        inspect: v.to_string(),
    }
}

pub fn engine(api_version: &str, info: &bollard::models::SystemInfo) -> EngineFacts {
    EngineFacts {
        api_version: api_version.to_owned(),
        server_version: info.server_version.clone(),
        info: to_json(info).to_string(),
    }
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
