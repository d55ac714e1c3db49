//! `with_app_stopped`: the app services are stopped for a piece of work and
//! always started again afterwards, whatever the work did.

use std::time::Duration;

use compose::{Compose, ComposeError};

use crate::RestoreError;

/// What happened during an outage of the app services.
#[derive(Debug)]
pub struct Outage<T> {
    /// The work's result (or why the services could not be stopped).
    pub work: Result<T, RestoreError>,
    /// Whether the app services came back healthy.
    pub restart: Result<(), ComposeError>,
}

/// Stops the app services (never the database), runs `work`, then starts
/// them again (`up -d --no-deps --no-build`) and waits until they are
/// healthy, even when stopping or the work failed.
pub fn with_app_stopped<T>(
    compose: &Compose,
    health_timeout: Duration,
    work: impl FnOnce() -> Result<T, RestoreError>,
) -> Outage<T> {
    let apps = compose.environment().app_services.clone();
    let work = match compose.stop(&apps) {
        Ok(()) => work(),
        Err(e) => Err(RestoreError::Stop(e.to_string())),
    };
    let restart = compose.up(&apps, false).and_then(|()| compose.wait_healthy(apps.names(), health_timeout));
    Outage { work, restart }
}
