//! `Apps`: app services of one [`Compose`], the only thing that builds, pulls,
//! stops or recreates services.
//!
//! An `Apps` is made only by [`Compose::app_services`] (and narrowed by
//! [`Apps::subset`]) from that compose's own environment, so it never names
//! the database service and can only act on the compose it came from: there
//! is no `Compose::stop(services)` to hand another environment's services to.
//!
//! ```compile_fail,E0599
//! // Stopping goes through `Apps`; a compose takes no service list of its own.
//! fn stop_with(compose_b: &compose::Compose, env_a: &config::Environment) {
//!     compose_b.stop(env_a.app_services());
//! }
//! ```
//!
//! ```compile_fail,E0451
//! // Nor can an `Apps` be assembled by hand around a list that names the database.
//! fn forge(compose: &compose::Compose) -> compose::Apps<'_> {
//!     compose::Apps { compose, names: vec!["postgres".to_owned()] }
//! }
//! ```

use crate::command::Cmd;
use crate::state::Decision;
use crate::{Compose, ComposeError};

/// App services of one [`Compose`] (never its database service).
#[derive(Debug, Clone)]
pub struct Apps<'c> {
    compose: &'c Compose,
    names: Vec<String>,
}

impl Compose {
    /// Every app service of this compose's environment, in configured order.
    pub fn app_services(&self) -> Apps<'_> {
        Apps { compose: self, names: self.environment().app_services().names().to_vec() }
    }
}

impl<'c> Apps<'c> {
    /// The service names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The compose these services belong to.
    pub fn compose(&self) -> &'c Compose {
        self.compose
    }

    /// The services among these named in `names`, in the order given; refused
    /// when a name is not one of them (the database service never is).
    pub fn subset(&self, names: &[String]) -> Result<Apps<'c>, ComposeError> {
        if let Some(bad) = names.iter().find(|n| !self.names.contains(n)) {
            return Err(ComposeError::Refused {
                reason: format!("`{bad}` is not an app service ({})", self.names.join(", ")),
            });
        }
        Ok(Apps { compose: self.compose, names: names.to_vec() })
    }

    /// The names as compose operands. Refuses an empty list (compose would act
    /// on every service) and, as a second lock behind the type, the database.
    fn operands(&self) -> Result<&[String], ComposeError> {
        let db = self.compose.environment().database_service();
        if self.names.is_empty() || self.names.iter().any(|n| n == db) {
            return Err(ComposeError::Refused {
                reason: format!("the database service `{db}` is never stopped or recreated"),
            });
        }
        Ok(&self.names)
    }

    /// Builds the images of these services; stops nothing.
    pub fn build(&self) -> Result<(), ComposeError> {
        self.compose.run(&Cmd::Build(self.operands()?)).map(drop)
    }

    /// Stops these services (never the database).
    pub fn stop(&self) -> Result<(), ComposeError> {
        self.compose.run(&Cmd::Stop(self.operands()?)).map(drop)
    }

    /// Starts these services without touching their dependencies and without
    /// building: `up -d --no-deps --no-build`, recreating containers whose
    /// image or configuration changed; with `force_recreate`, all of them.
    pub fn up(&self, force_recreate: bool) -> Result<(), ComposeError> {
        self.compose.run(&Cmd::Up { force_recreate, services: self.operands()? }).map(drop)
    }

    /// The services among these whose image is pulled rather than built: no
    /// `build:`, an `image:`, and a `pull_policy` that asks for it (`never` and
    /// `build` never pull; `missing`/`if_not_present` only pull an image that
    /// is absent; unset or `always` always pull).
    pub fn pulled(&self) -> Result<Apps<'c>, ComposeError> {
        let specs = self.compose.specs()?;
        let mut pulled = Vec::new();
        for name in &self.names {
            let Some(spec) = specs.iter().find(|s| &s.name == name) else { continue };
            let Some(image) = spec.image.as_deref().filter(|_| !spec.built) else { continue };
            let wanted = match spec.pull_policy.as_deref() {
                Some("never" | "build") => false,
                Some("missing" | "if_not_present") => self.compose.image_id(image)?.is_none(),
                _ => true,
            };
            if wanted {
                pulled.push(name.clone());
            }
        }
        Ok(Apps { compose: self.compose, names: pulled })
    }

    /// Pulls the images of these services (app services only; the allow-list
    /// refuses anything else). Stops nothing; on failure the error names each
    /// image and nothing else changed.
    pub fn pull(&self) -> Result<(), ComposeError> {
        self.compose.run(&Cmd::Pull(self.operands()?)).map(drop).map_err(|e| {
            let specs = self.compose.specs().unwrap_or_default();
            let images = self
                .names
                .iter()
                .map(|n| match specs.iter().find(|s| &s.name == n).and_then(|s| s.image.clone()) {
                    Some(image) => format!("{n} ({image})"),
                    None => n.clone(),
                })
                .collect();
            ComposeError::PullFailed { images, detail: e.to_string() }
        })
    }

    /// For each of these services: does a deploy have to restart it, and why?
    /// Unchanged means: every container is running (or a one-shot that
    /// finished), from the image its reference names now, with the
    /// configuration hash compose computes now. Call it after build and pull.
    pub fn restart_decisions(&self) -> Result<Vec<(String, Decision)>, ComposeError> {
        let hashes = self.compose.config_hashes()?;
        let containers = self.compose.containers_of(&self.names)?;
        let mut decisions = Vec::new();
        for service in &self.names {
            let of = containers.get(service).map(Vec::as_slice).unwrap_or_default();
            decisions.push((service.clone(), self.compose.decide(of, hashes.get(service))?));
        }
        Ok(decisions)
    }
}
