//! Container state as `docker inspect` reports it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ComposeError;

/// One container, from `docker inspect`. `Debug` leaves out the container's
/// environment, which may hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// Full container id.
    pub id: String,
    /// Container name, without the leading `/`.
    pub name: String,
    /// `com.docker.compose.service` label.
    pub service: String,
    /// `State.Status`: created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// `State.Health.Status` (starting, healthy, unhealthy), if a healthcheck is defined.
    pub health: Option<String>,
    /// `State.StartedAt` (RFC 3339, as docker prints it).
    pub started_at: String,
    /// `State.ExitCode`.
    pub exit_code: i64,
    /// `Config.Image`: the image reference the container was created from.
    pub image: String,
    /// `Image`: the image id.
    pub image_id: String,
    /// A one-off `compose run` container.
    pub oneoff: bool,
    /// `RestartCount`: how often the engine restarted it (restart policy).
    pub restart_count: i64,
    /// `HostConfig.RestartPolicy.Name`: `no` (or empty), `always`, `unless-stopped`, `on-failure`.
    pub restart_policy: String,
    /// `Config.Healthcheck` is set (and not `NONE`): a long-running server.
    pub has_healthcheck: bool,
    /// `com.docker.compose.config-hash` label: the configuration compose created it from.
    pub config_hash: Option<String>,
    /// `Config.Env`, as `NAME=value` lines. May hold secrets: never print.
    pub(crate) env: Vec<String>,
    /// IP address per network name.
    pub(crate) networks: BTreeMap<String, String>,
    /// Published host ports per container port (`5432/tcp` → `5433`).
    pub(crate) ports: BTreeMap<String, String>,
    /// Mounts: (type, source name or path, destination).
    pub mounts: Vec<(String, String, String)>,
}

impl std::fmt::Debug for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerState")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("service", &self.service)
            .field("status", &self.status)
            .field("health", &self.health)
            .field("started_at", &self.started_at)
            .field("image", &self.image)
            .field("restart_count", &self.restart_count)
            .finish_non_exhaustive()
    }
}

/// A configured service and its containers.
#[derive(Debug, Clone)]
pub struct ServiceState {
    /// The service name.
    pub service: String,
    /// Its containers (usually one; none when never created).
    pub containers: Vec<ContainerState>,
}

/// Whether a deploy restarts a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Same image id, same configuration, running: it keeps running.
    Keep,
    /// It restarts, for this reason (`new image for app:2`, ...).
    Restart(String),
}

impl Decision {
    /// Does the service restart?
    pub fn restarts(&self) -> bool {
        matches!(self, Decision::Restart(_))
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Keep => f.write_str("unchanged, keeps running"),
            Decision::Restart(why) => write!(f, "restarts: {why}"),
        }
    }
}

/// One service of `compose config`, as far as deploys need it. Not `Debug`
/// on purpose (nothing here is secret, but the model it comes from may be).
#[derive(Clone, Default)]
pub struct ServiceSpec {
    /// The service name.
    pub name: String,
    /// `image:`, if set.
    pub image: Option<String>,
    /// Has a `build:` section (its image is built, not pulled).
    pub built: bool,
    /// `pull_policy`, as compose prints it (v2 writes `missing` for `if_not_present`).
    pub pull_policy: Option<String>,
    /// `restart`, if set.
    pub restart: Option<String>,
}

impl ServiceSpec {
    /// The specs in compose's resolved model ([`Compose::config_model`](crate::Compose::config_model)).
    pub(crate) fn from_model(model: serde_json::Value) -> Result<Vec<ServiceSpec>, ComposeError> {
        #[derive(Deserialize)]
        struct Model {
            #[serde(default)]
            services: BTreeMap<String, Raw>,
        }
        #[derive(Deserialize)]
        struct Raw {
            image: Option<String>,
            build: Option<serde_json::Value>,
            pull_policy: Option<String>,
            restart: Option<String>,
        }
        let model: Model = serde_json::from_value(model)
            .map_err(|e| ComposeError::Unexpected { detail: format!("compose config: {e}") })?;
        Ok(model
            .services
            .into_iter()
            .map(|(name, raw)| ServiceSpec {
                name,
                image: raw.image,
                built: raw.build.is_some_and(|b| !b.is_null()),
                pull_policy: raw.pull_policy,
                restart: raw.restart,
            })
            .collect())
    }
}

impl ContainerState {
    /// Running, and healthy where a healthcheck is defined.
    pub fn is_ready(&self) -> bool {
        self.status == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    /// How long it has been running, from `State.StartedAt`.
    pub fn uptime(&self) -> Option<std::time::Duration> {
        let started =
            time::OffsetDateTime::parse(&self.started_at, &time::format_description::well_known::Rfc3339).ok()?;
        (time::OffsetDateTime::now_utc() - started).try_into().ok()
    }

    /// A one-shot service that finished: exited 0 under a restart policy
    /// that does not start it again (`no`, `on-failure`). A seed or cache-warm
    /// job (or one others wait on with `service_completed_successfully`) is
    /// done, not failed.
    pub fn is_done(&self) -> bool {
        // A service with a healthcheck is a server, not a job: exited 0 it
        // was stopped (say, by a deploy killed before its start), not done.
        self.status == "exited"
            && self.exit_code == 0
            && !self.has_healthcheck
            && matches!(self.restart_policy.as_str(), "" | "no" | "on-failure")
    }

    /// Exited (other than a finished one-shot), dead, restarting (a crash
    /// loop) or reported unhealthy: waiting longer will not help.
    pub fn has_failed(&self) -> bool {
        (matches!(self.status.as_str(), "exited" | "dead" | "restarting") && !self.is_done())
            || self.health.as_deref() == Some("unhealthy")
    }

    /// `running (healthy)`, `exited (code 1)`, ...
    pub fn describe(&self) -> String {
        match (&self.health, self.status.as_str()) {
            (_, "exited") if self.is_done() => "done (one-shot, exited with code 0)".to_owned(),
            (_, "exited") => format!("exited (code {})", self.exit_code),
            (_, "restarting") => format!("restarting (crash loop, last exit code {})", self.exit_code),
            (Some(h), s) => format!("{s} ({h})"),
            (None, s) => s.to_owned(),
        }
    }

    /// The value of an environment variable of the container.
    pub(crate) fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    }

    pub(crate) fn parse_inspect(json: &str) -> Result<Vec<ContainerState>, ComposeError> {
        let raw: Vec<RawContainer> = serde_json::from_str(json)
            .map_err(|e| ComposeError::Unexpected { detail: format!("docker inspect: {e}") })?;
        Ok(raw.into_iter().map(RawContainer::into_state).collect())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    image: String,
    #[serde(default)]
    restart_count: i64,
    state: RawState,
    config: RawConfig,
    #[serde(default)]
    host_config: Option<RawHostConfig>,
    network_settings: RawNetworkSettings,
    #[serde(default)]
    mounts: Vec<RawMount>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    #[serde(default)]
    exit_code: i64,
    #[serde(default)]
    started_at: String,
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHostConfig {
    #[serde(default)]
    restart_policy: Option<RawRestartPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRestartPolicy {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealth {
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    image: String,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    healthcheck: Option<RawHealthcheck>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHealthcheck {
    #[serde(default)]
    test: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    #[serde(default)]
    networks: Option<BTreeMap<String, RawNetwork>>,
    #[serde(default)]
    ports: Option<BTreeMap<String, Option<Vec<RawBinding>>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBinding {
    #[serde(default)]
    host_port: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMount {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
}

impl RawContainer {
    fn into_state(self) -> ContainerState {
        let labels = self.config.labels.unwrap_or_default();
        let networks = self
            .network_settings
            .networks
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, n)| !n.ip_address.is_empty())
            .map(|(name, n)| (name, n.ip_address))
            .collect();
        let ports = self
            .network_settings
            .ports
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(port, bindings)| {
                let first = bindings?.into_iter().find(|b| !b.host_port.is_empty())?;
                Some((port, first.host_port))
            })
            .collect();
        ContainerState {
            id: self.id,
            name: self.name.trim_start_matches('/').to_owned(),
            service: labels.get("com.docker.compose.service").cloned().unwrap_or_default(),
            status: self.state.status,
            health: self.state.health.map(|h| h.status),
            started_at: self.state.started_at,
            exit_code: self.state.exit_code,
            image: self.config.image,
            image_id: self.image,
            oneoff: labels.get("com.docker.compose.oneoff").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            restart_count: self.restart_count,
            restart_policy: self.host_config.and_then(|h| h.restart_policy).map(|p| p.name).unwrap_or_default(),
            has_healthcheck: self
                .config
                .healthcheck
                .and_then(|h| h.test)
                .is_some_and(|t| t.first().is_some_and(|first| first != "NONE")),
            config_hash: labels.get("com.docker.compose.config-hash").cloned(),
            env: self.config.env.unwrap_or_default(),
            networks,
            ports,
            mounts: self.mounts.into_iter().map(|m| (m.kind, m.name.unwrap_or(m.source), m.destination)).collect(),
        }
    }
}
