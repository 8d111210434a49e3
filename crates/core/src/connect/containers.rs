//! Changes to a daemon: container verbs, creation from a [`ContainerSpec`], networks from a
//! [`NetworkSpec`]. Each is one request (creation: one more per extra network); none is ever
//! sent twice (see `SshLink` for the one case a request goes over a new connection: when it
//! could not be written to the old one).

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig, Mount, MountType, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, RemoveContainerOptions, RestartContainerOptions, StartContainerOptions, StopContainerOptions,
};

use super::{is_not_found, Engine};
use crate::error::{Error, Result};
use crate::model::{ContainerSpec, MountKind, NetworkSpec, RestartPolicy};

/// API 1.44 moved the MAC address from the container's config to its endpoint on a network.
const MAC_ON_ENDPOINT: (u32, u32) = (1, 44);

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

impl Engine {
    pub async fn start_container(&self, id: &str) -> Result<()> {
        self.docker.start_container(id, None::<StartContainerOptions>).await.map_err(|e| self.error(&format!("start container {}", short(id)), e))
    }

    /// A client that waits for an answer `grace_s` seconds longer than usual: Docker answers a
    /// stop only once the grace time is over.
    fn patient(&self, grace_s: Option<i32>) -> bollard::Docker {
        let grace = u64::try_from(grace_s.unwrap_or(10).max(0)).unwrap_or(0);
        self.docker.clone().with_timeout(super::REQUEST_TIMEOUT + std::time::Duration::from_secs(grace))
    }

    /// Stop, giving the process `grace_s` seconds after SIGTERM (Docker's default when none).
    pub async fn stop_container(&self, id: &str, grace_s: Option<i32>) -> Result<()> {
        self.patient(grace_s)
            .stop_container(id, Some(StopContainerOptions { t: grace_s, signal: None }))
            .await
            .map_err(|e| self.error(&format!("stop container {}", short(id)), e))
    }

    pub async fn restart_container(&self, id: &str, grace_s: Option<i32>) -> Result<()> {
        self.patient(grace_s)
            .restart_container(id, Some(RestartContainerOptions { t: grace_s, signal: None }))
            .await
            .map_err(|e| self.error(&format!("restart container {}", short(id)), e))
    }

    /// Send `signal` (Docker's default, SIGKILL, when none).
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let options = KillContainerOptions { signal: signal.unwrap_or("SIGKILL").to_owned() };
        self.docker.kill_container(id, Some(options)).await.map_err(|e| self.error(&format!("kill container {}", short(id)), e))
    }

    pub async fn pause_container(&self, id: &str) -> Result<()> {
        self.docker.pause_container(id).await.map_err(|e| self.error(&format!("pause container {}", short(id)), e))
    }

    pub async fn unpause_container(&self, id: &str) -> Result<()> {
        self.docker.unpause_container(id).await.map_err(|e| self.error(&format!("unpause container {}", short(id)), e))
    }

    /// Remove (`force`: even while it runs). `false` when it was gone already.
    pub async fn remove_container(&self, id: &str, force: bool) -> Result<bool> {
        let options = RemoveContainerOptions { force, v: false, link: false };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.error(&format!("remove container {}", short(id)), e)),
        }
    }

    /// Create the container `spec` describes (not started); its id. Networks after the first
    /// are connected before it returns; if one fails, the container is removed again.
    pub async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let action = format!("create container {}", spec.name);
        let mac_on_endpoint = super::api_at_least(&self.api_version, MAC_ON_ENDPOINT.0, MAC_ON_ENDPOINT.1);
        let body = create_body(spec, mac_on_endpoint);
        let path = format!("/v{}/containers/create?name={}", self.api_version, url::form_urlencoded::byte_serialize(spec.name.as_bytes()).collect::<String>());
        let mut json = serde_json::to_value(&body).expect("a create body serialises");
        if let (Some(mac), false) = (&spec.mac_address, mac_on_endpoint) {
            // bollard's models follow the newest API, which has no Config.MacAddress; API 1.41
            // honours only that one.
            json["MacAddress"] = serde_json::Value::String(mac.clone());
        }
        let sent = tokio::time::timeout(super::REQUEST_TIMEOUT, self.raw.send(hyper::Method::POST, &path, Some(json.to_string())))
            .await
            .unwrap_or(Some(Err(bollard::errors::Error::RequestTimeoutError)));
        let id = match sent {
            Some(Ok((201, answer))) => serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["Id"].as_str().map(str::to_owned))
                .ok_or_else(|| Error::Docker { host: self.host.clone(), action: action.clone(), reason: "its answer has no Id".into() })?,
            Some(Ok((status_code, answer))) => {
                let message = super::message_of(&answer);
                return Err(self.error(&action, bollard::errors::Error::DockerResponseServerError { status_code, message }));
            }
            Some(Err(e)) => return Err(self.error(&action, e)),
            None => {
                let options = CreateContainerOptions { name: Some(spec.name.clone()), ..Default::default() };
                self.docker.create_container(Some(options), body).await.map_err(|e| self.error(&action, e))?.id
            }
        };
        for extra in spec.networks.iter().skip(1) {
            let request = NetworkConnectRequest { container: id.clone(), endpoint_config: Some(endpoint(extra, None)) };
            if let Err(e) = self.docker.connect_network(&extra.network, request).await {
                let error = self.error(&format!("connect container {} to network {}", spec.name, extra.network), e);
                if let Err(undo) = self.remove_container(&id, true).await {
                    tracing::warn!(%undo, "could not remove a container whose network failed");
                }
                return Err(error);
            }
        }
        Ok(id)
    }

    /// A network's inspect document; `None` when the host has no such network.
    pub async fn network_json(&self, name: &str) -> Result<Option<serde_json::Value>> {
        match self.docker.inspect_network(name, None).await {
            Ok(have) => Ok(Some(serde_json::to_value(&have).unwrap_or_default())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(&format!("inspect network {name}"), e)),
        }
    }

    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<()> {
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some(spec.driver.clone()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.clone()),
                    gateway: spec.gateway.clone(),
                    auxiliary_addresses: (!spec.aux_addresses.is_empty()).then(|| spec.aux_addresses.clone().into_iter().collect()),
                    ..Default::default()
                }]),
                options: None,
            }),
            enable_ipv6: Some(spec.ipv6),
            options: Some(spec.options.clone().into_iter().collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker.create_network(request).await.map(drop).map_err(|e| self.error(&format!("create network {}", spec.name), e))
    }
}

fn endpoint(attachment: &crate::model::NetworkAttachment, mac: Option<&str>) -> EndpointSettings {
    let ipam = (attachment.ipv4.is_some() || attachment.ipv6.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: attachment.ipv4.map(|ip| ip.to_string()),
        ipv6_address: attachment.ipv6.map(|ip| ip.to_string()),
        ..Default::default()
    });
    EndpointSettings {
        ipam_config: ipam,
        aliases: (!attachment.aliases.is_empty()).then(|| attachment.aliases.clone()),
        mac_address: mac.map(str::to_owned),
        ..Default::default()
    }
}

/// Docker's create request for `spec` (the MAC address on the endpoint only where the API has
/// it there).
fn create_body(spec: &ContainerSpec, mac_on_endpoint: bool) -> ContainerCreateBody {
    let restart = match spec.restart {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::OnFailure(0) => (RestartPolicyNameEnum::ON_FAILURE, None),
        RestartPolicy::OnFailure(n) => (RestartPolicyNameEnum::ON_FAILURE, Some(i64::from(n))),
    };
    let mounts: Vec<Mount> = spec
        .mounts
        .iter()
        .map(|m| Mount {
            typ: Some(match m.kind {
                MountKind::Bind => MountType::BIND,
                MountKind::Volume => MountType::VOLUME,
                MountKind::Tmpfs => MountType::TMPFS,
            }),
            source: (!m.source.is_empty()).then(|| m.source.clone()),
            target: Some(m.target.clone()),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let primary = spec.networks.first();
    let mac = spec.mac_address.as_deref().filter(|_| mac_on_endpoint);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        entrypoint: spec.entrypoint.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        labels: (!spec.labels.is_empty()).then(|| spec.labels.clone().into_iter().collect::<HashMap<_, _>>()),
        user: spec.user.clone(),
        working_dir: spec.workdir.clone(),
        hostname: spec.hostname.clone(),
        healthcheck: spec.health.as_ref().map(|h| bollard::models::HealthConfig {
            test: Some(std::iter::once("CMD".to_owned()).chain(h.cmd.iter().cloned()).collect()),
            interval: Some(h.interval_ms as i64 * 1_000_000),
            timeout: Some((h.interval_ms as i64).max(1000) * 1_000_000),
            retries: Some(i64::from(h.retries)),
            start_period: Some(h.start_period_ms as i64 * 1_000_000),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: primary.map(|n| n.network.clone()),
            restart_policy: Some(bollard::models::RestartPolicy { name: Some(restart.0), maximum_retry_count: restart.1 }),
            memory: spec.resources.memory_bytes,
            nano_cpus: spec.resources.nano_cpus,
            pids_limit: spec.resources.pids_limit,
            mounts: (!mounts.is_empty()).then_some(mounts),
            ..Default::default()
        }),
        networking_config: primary.map(|n| NetworkingConfig { endpoints_config: Some(HashMap::from([(n.network.clone(), endpoint(n, mac))])) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MountSpec, NetworkAttachment, Resources};

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "web1".into(),
            image: "shop/web:1.4".into(),
            cmd: vec!["sleep".into(), "60".into()],
            env: vec!["A=1".into()],
            labels: [("k".to_owned(), "v".to_owned())].into(),
            restart: RestartPolicy::OnFailure(3),
            networks: vec![
                NetworkAttachment { network: "lan".into(), ipv4: Some("10.0.0.5".parse().unwrap()), ..Default::default() },
                NetworkAttachment { network: "backend".into(), ..Default::default() },
            ],
            mac_address: Some("02:42:0a:00:00:05".into()),
            resources: Resources { memory_bytes: Some(64 << 20), nano_cpus: Some(500_000_000), pids_limit: Some(100) },
            mounts: vec![MountSpec { kind: MountKind::Tmpfs, source: String::new(), target: "/tmp".into(), read_only: false }],
            ..Default::default()
        }
    }

    #[test]
    fn a_spec_becomes_one_create_request_on_its_primary_network() {
        let body = serde_json::to_value(create_body(&spec(), false)).unwrap();
        assert_eq!(body["HostConfig"]["NetworkMode"], "lan");
        assert_eq!(body["HostConfig"]["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert_eq!(body["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(body["HostConfig"]["Mounts"][0]["Type"], "tmpfs");
        let endpoints = body["NetworkingConfig"]["EndpointsConfig"].as_object().unwrap();
        assert_eq!(endpoints.len(), 1, "API 1.41 takes one endpoint at create: {endpoints:?}");
        assert_eq!(endpoints["lan"]["IPAMConfig"]["IPv4Address"], "10.0.0.5");
        assert!(endpoints["lan"].get("MacAddress").is_none(), "before 1.44 the MAC goes in the config");
        let newer = serde_json::to_value(create_body(&spec(), true)).unwrap();
        assert_eq!(newer["NetworkingConfig"]["EndpointsConfig"]["lan"]["MacAddress"], "02:42:0a:00:00:05");
    }
}
