//! What every task needs: the workspace root, the configuration, the terminal,
//! and the way from an environment name to compose and a database URL.

use camino::Utf8PathBuf;
use config::{Config, Environment};
use eyre::{eyre, Context, Result};

use crate::ui::Ui;

/// Shared state of one `cargo xtask` run.
pub(crate) struct Ctx {
    pub(crate) root: Utf8PathBuf,
    pub(crate) config: Config,
    pub(crate) ui: Ui,
    /// Compose of each environment this run used: detected once (`compose
    /// version`, the files read for secrets), sharing its database target.
    pub(crate) composes: std::sync::Mutex<Vec<(Environment, compose::Compose)>>,
}

impl Ctx {
    pub(crate) fn new() -> Result<Ctx> {
        crate::ui::add_secrets_of_environment();
        let root = locate_workspace().map_err(crate::exit::refused)?;
        let config = Config::load(&root).map_err(|e| crate::exit::refused(e.into()))?;
        Ok(Ctx { root, config, ui: Ui::detect(), composes: Default::default() })
    }

    /// The environment `name`, checked against the configuration.
    /// An unknown or misconfigured environment is a refusal (exit 2).
    pub(crate) fn env(&self, name: &str) -> Result<Environment> {
        self.config.environment(name).map_err(|e| crate::exit::refused(e.into()))
    }

    /// Compose for `env` (v1 or v2, detected or forced by `DRYDOCK_COMPOSE`).
    /// Its declared secrets are remembered for redaction first.
    /// Detected once per environment and run, then shared.
    pub(crate) fn compose(&self, env: &Environment) -> Result<compose::Compose> {
        let mut composes = self.composes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, compose)) = composes.iter().find(|(e, _)| e == env) {
            return Ok(compose.clone());
        }
        let compose = compose::Compose::detect(env)?;
        for secret in compose.declared_secrets() {
            crate::ui::add_secret(&secret);
        }
        composes.push((env.clone(), compose.clone()));
        Ok(compose)
    }

    /// The database URL: `DATABASE_URL` if set, else derived from the running
    /// database container. Never print it unredacted.
    pub(crate) fn database_url(&self, compose: &compose::Compose) -> Result<String> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                crate::ui::add_secrets_of_url(&url);
                return Ok(url);
            }
        }
        let mut target =
            compose.database_target().wrap_err("cannot derive the database URL (set DATABASE_URL to override)")?;
        if let Some(ssh) = target.ssh_host() {
            // A remote engine over SSH: its container's address through a tunnel (xtask/src/tunnel.rs).
            let port = crate::tunnel::forward(ssh, &target.host, target.port)?;
            target = target.through_local_port(port);
        }
        let url = target.url();
        crate::ui::add_secrets_of_url(&url);
        Ok(url)
    }

    /// An environment's backups folder (tests point it elsewhere), created
    /// with mode 0700 if missing.
    pub(crate) fn backups_dir_of(&self, env: &Environment) -> Result<Utf8PathBuf> {
        let dir = env.backups().to_owned();
        std::fs::create_dir_all(&dir).wrap_err_with(|| format!("cannot create {dir}"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .wrap_err_with(|| format!("cannot set mode 0700 on {dir}"))?;
        Ok(dir)
    }
}

/// The workspace this run acts on: the parent of the `xtask` folder that
/// cargo names in `CARGO_MANIFEST_DIR` *at run time* (`cargo run` sets it).
/// Never the folder baked in at build time: with one target dir shared by two
/// checkouts, `cargo xtask` in one may run the binary built in the other.
pub(crate) fn locate_workspace() -> Result<Utf8PathBuf> {
    workspace_of(std::env::var_os("CARGO_MANIFEST_DIR"))
}

/// The workspace whose `xtask` folder is `manifest_dir`, checked.
fn workspace_of(manifest_dir: Option<std::ffi::OsString>) -> Result<Utf8PathBuf> {
    const HOW: &str = "run drydock as `cargo xtask ...` from inside the workspace, so that cargo tells it which one";
    let Some(dir) = manifest_dir.filter(|d| !d.is_empty()) else {
        return Err(eyre!("cannot tell which workspace to act on (CARGO_MANIFEST_DIR is not set): {HOW}"));
    };
    let xtask = Utf8PathBuf::from_path_buf(dir.into())
        .map_err(|d| eyre!("the workspace path {} is not UTF-8: move the checkout to a UTF-8 path", d.display()))?;
    let xtask = xtask.canonicalize_utf8().wrap_err_with(|| format!("CARGO_MANIFEST_DIR names {xtask}: {HOW}"))?;
    if !xtask.join("Cargo.toml").is_file() {
        return Err(eyre!("CARGO_MANIFEST_DIR names {xtask}, which holds no Cargo.toml: {HOW}"));
    }
    let root = xtask.parent().ok_or_else(|| eyre!("CARGO_MANIFEST_DIR names {xtask}, which has no parent: {HOW}"))?;
    if !root.join("Cargo.toml").is_file() {
        return Err(eyre!("{root} holds no Cargo.toml, so {xtask} is not the xtask of a workspace: {HOW}"));
    }
    Ok(root.to_owned())
}

/// The workspace root of a test run (cargo sets `CARGO_MANIFEST_DIR` for tests too).
#[cfg(test)]
pub(crate) fn workspace_root() -> Utf8PathBuf {
    locate_workspace().unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    /// The run-time variable decides, not the folder the binary was built in.
    #[test]
    fn the_run_time_manifest_dir_decides() {
        let other = std::env::temp_dir().join(format!("drydock-ws-{}", std::process::id()));
        std::fs::create_dir_all(other.join("xtask")).unwrap();
        std::fs::write(other.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\n").unwrap();
        std::fs::write(other.join("Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\n").unwrap();
        let found = super::workspace_of(Some(other.join("xtask").into())).unwrap();
        assert_eq!(found.as_std_path(), other.canonicalize().unwrap());
        let err = format!("{:#}", super::workspace_of(Some(other.join("nowhere").into())).unwrap_err());
        assert!(err.contains("cargo xtask"), "{err}");
        std::fs::remove_file(other.join("Cargo.toml")).unwrap();
        let err = format!("{:#}", super::workspace_of(Some(other.join("xtask").into())).unwrap_err());
        assert!(err.contains("not the xtask of a workspace"), "{err}");
        for unset in [None, Some("".into())] {
            let err = format!("{:#}", super::workspace_of(unset).unwrap_err());
            assert!(err.contains("CARGO_MANIFEST_DIR is not set") && err.contains("cargo xtask"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&other);
    }

    /// Two checkouts sharing one target dir (a global `CARGO_TARGET_DIR`, sccache):
    /// built in A, `cargo xtask` in B runs A's binary (cargo finds it fresh), which
    /// must still act on B. Reuses this test's own target dir, so little is rebuilt.
    #[test]
    fn two_checkouts_sharing_a_target_dir_each_act_on_their_own() {
        let root = super::workspace_root();
        let exe = std::env::current_exe().unwrap();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| exe.ancestors().nth(3).unwrap().to_owned());
        let base = std::env::temp_dir().join(format!("drydock-two-checkouts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (a, b) = (base.join("a"), base.join("b"));
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
            let parts = ["Cargo.toml", "Cargo.lock", ".cargo", "crates", "xtask", "demo", "migrations"];
            let mut args: Vec<std::ffi::OsString> = vec!["-a".into()];
            args.extend(parts.iter().map(|p| root.join(p).into_std_path_buf().into_os_string()));
            args.push(dir.clone().into_os_string());
            duct::cmd("cp", args).run().unwrap();
        }
        let manifest = std::fs::read_to_string(b.join("Cargo.toml")).unwrap();
        let edited = manifest
            .replacen("project-name = \"drydock-demo-prod\"", "project-name = \"drydock-demo-prod-b\"", 1)
            .replacen("\nbackups = \"backups\"", "\nbackups = \"backups-b\"", 1);
        assert_ne!(edited, manifest, "the test expects prod's project-name and backups in Cargo.toml");
        std::fs::write(b.join("Cargo.toml"), edited).unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        duct::cmd(&cargo, ["build", "-q", "-p", "xtask"])
            .dir(&a)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CARGO_MANIFEST_DIR")
            .run()
            .expect("build in checkout A");
        let out = duct::cmd(&cargo, ["xtask", "history", "prod"])
            .dir(&b)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CARGO_MANIFEST_DIR")
            .env("NO_COLOR", "1")
            .stderr_to_stdout()
            .unchecked()
            .read()
            .unwrap();
        let b_backups = b.canonicalize().unwrap().join("backups-b");
        assert!(out.contains(b_backups.to_str().unwrap()), "checkout B did not act on its own config:\n{out}");
        assert!(!out.contains(a.to_str().unwrap()), "checkout B acted on checkout A:\n{out}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
