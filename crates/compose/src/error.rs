//! Errors from compose and docker, each saying what to do next.

use std::fmt;

/// Why a compose operation failed.
#[derive(Debug, Clone)]
pub enum ComposeError {
    /// Neither `docker compose` nor `docker-compose` runs.
    NotInstalled {
        /// What was tried and how it failed.
        detail: String,
    },
    /// The Docker engine does not answer.
    EngineUnreachable {
        /// The environment's `docker-host`, if set.
        docker_host: Option<String>,
        /// The client's last line.
        detail: String,
    },
    /// A compose or docker command exited non-zero.
    CommandFailed {
        /// The command, as shown to the operator (no secrets).
        command: String,
        /// The last lines of its stderr.
        detail: String,
    },
    /// drydock refused to build a command (it would touch the database or a volume).
    Refused {
        /// Why.
        reason: String,
    },
    /// Services did not become healthy: exited, unhealthy, or the wait timed out.
    NotHealthy {
        /// One line per container that is not ready, with its last log lines.
        report: String,
    },
    /// Output of docker could not be understood.
    Unexpected {
        /// What could not be parsed.
        detail: String,
    },
    /// `compose pull` failed: nothing was stopped.
    PullFailed {
        /// Each service and the image it was asked to pull.
        images: Vec<String>,
        /// The pull's error.
        detail: String,
    },
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::NotInstalled { detail } => write!(
                f,
                "neither `docker compose` nor `docker-compose` works ({detail}): install Docker Compose, or run `cargo xtask test` once on Debian to provision it"
            ),
            ComposeError::EngineUnreachable { docker_host: Some(host), detail } => write!(
                f,
                "the Docker engine at {host} does not answer ({detail}): check that it runs and that `docker-host` in Cargo.toml is right"
            ),
            ComposeError::EngineUnreachable { docker_host: None, detail } => write!(
                f,
                "the Docker engine is not running ({detail}): start it (`sudo systemctl start docker`, or `sudo dockerd &`) and try again"
            ),
            ComposeError::CommandFailed { command, detail } => write!(f, "`{command}` failed: {detail}"),
            ComposeError::Refused { reason } => write!(f, "refused: {reason}"),
            ComposeError::NotHealthy { report } => write!(f, "services did not become healthy:\n{report}"),
            ComposeError::Unexpected { detail } => write!(f, "unexpected output from docker: {detail}"),
            ComposeError::PullFailed { images, detail } => write!(
                f,
                "pulling {} failed, nothing was stopped: check the tag exists and that this machine can log in to the registry ({detail})",
                images.join(", ")
            ),
        }
    }
}

impl std::error::Error for ComposeError {}
