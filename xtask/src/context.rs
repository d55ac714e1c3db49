//! What every task needs: the workspace root, the configuration, the terminal,
//! and the way from an environment name to compose and a database URL.

use camino::{Utf8Path, Utf8PathBuf};
use config::{Config, Environment};
use eyre::{Context, Result};

use crate::ui::Ui;

/// Shared state of one `cargo xtask` run.
pub(crate) struct Ctx {
    pub(crate) root: Utf8PathBuf,
    pub(crate) config: Config,
    pub(crate) ui: Ui,
}

impl Ctx {
    pub(crate) fn new() -> Result<Ctx> {
        let root = workspace_root();
        let config = Config::load(&root)?;
        Ok(Ctx { root, config, ui: Ui::detect() })
    }

    /// The environment `name`, checked against the configuration.
    pub(crate) fn env(&self, name: &str) -> Result<Environment> {
        Ok(self.config.environment(name)?)
    }

    /// Compose for `env` (v1 or v2, detected or forced by `DRYDOCK_COMPOSE`).
    pub(crate) fn compose(&self, env: &Environment) -> Result<compose::Compose> {
        Ok(compose::Compose::detect(env)?)
    }

    /// The database URL: `DATABASE_URL` if set, else derived from the running
    /// database container. Never print it unredacted.
    pub(crate) fn database_url(&self, compose: &compose::Compose) -> Result<String> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                return Ok(url);
            }
        }
        compose.database_url().wrap_err("cannot derive the database URL (set DATABASE_URL to override)")
    }

    /// An environment's backups folder (tests point it elsewhere), created
    /// with mode 0700 if missing.
    pub(crate) fn backups_dir_of(&self, env: &Environment) -> Result<Utf8PathBuf> {
        let dir = env.backups.clone();
        std::fs::create_dir_all(&dir).wrap_err_with(|| format!("cannot create {dir}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .wrap_err_with(|| format!("cannot set mode 0700 on {dir}"))?;
        Ok(dir)
    }
}

/// The workspace root: the parent of this crate's folder, fixed at build time.
pub(crate) fn workspace_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_owned()
}
