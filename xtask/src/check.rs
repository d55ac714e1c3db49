//! `cargo xtask check ENV`: the deploy preflight alone. Read-only; prints
//! every finding at once and exits 2 ("refused") when there is one.

use compose::Compose;
use config::Environment;
use eyre::Result;
use preflight::Finding;

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Environment (as configured in Cargo.toml).
    env: String,
    /// Accept pending migrations with destructive statements.
    #[arg(long)]
    allow_destructive: bool,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let env = ctx.env(&args.env)?;
    let compose = ctx.compose(&env)?;
    let findings = findings(ctx, &env, &compose, migrate::load_dir(env.migrations()), args.allow_destructive)?;
    if findings.is_empty() {
        ctx.ui.line(format!("{} {}: no findings, a deploy may go ahead", ctx.ui.green("ok"), env.name()));
        return Ok(());
    }
    for f in &findings {
        ctx.ui.line(format!("{} {f}", ctx.ui.red("refuse")));
    }
    Err(crate::exit::refused(eyre::eyre!(
        "{} finding(s) would stop a deploy of {}: fix them and run `cargo xtask check {}` again",
        findings.len(),
        env.name(),
        env.name()
    )))
}

/// Every preflight finding for `env`. Changes nothing.
pub(crate) fn findings(
    ctx: &Ctx,
    env: &Environment,
    compose: &Compose,
    local: Result<Vec<migrate::Migration>, migrate::MigrateError>,
    allow_destructive: bool,
) -> Result<Vec<Finding>> {
    let finding = |place: &str, why: String, fix: &str| Finding { place: place.to_owned(), why, fix: fix.to_owned() };
    // The engine first: nothing else can be checked without it.
    if let Err(e) = compose.ping() {
        return Ok(vec![finding("docker engine", e.to_string(), "start the engine, then run the check again")]);
    }
    let mut findings = Vec::new();
    if let Err(e) = compose.check() {
        findings.push(finding(
            "compose files",
            e.to_string(),
            "fix the compose files or the environment's keys in Cargo.toml",
        ));
    }
    match compose.definitions() {
        Err(e) => findings.push(finding("compose config", e.to_string(), "fix the compose files")),
        Ok(definitions) => {
            let apps: Vec<_> =
                definitions.iter().filter(|d| env.app_services().names().contains(&d.name)).cloned().collect();
            findings.extend(preflight::scan_services(&apps, &env.compose_files()));
            if let Some(db) = definitions.iter().find(|d| d.name == env.database_service()) {
                findings.extend(preflight::check_data_volume(db));
            }
        }
    }
    if compose.flavor() == compose::Flavor::V1 {
        if let Some(api) = compose.server_api_version().ok().filter(|v| api_at_least(v, 1, 44)) {
            findings.push(finding(
                "compose",
                format!("docker-compose v1 cannot recreate containers on this engine (API {api}, KeyError 'ContainerConfig')"),
                "install compose v2 (`docker compose`), or force it with DRYDOCK_COMPOSE=v2",
            ));
        }
    }
    match local {
        Err(e) => findings.push(finding(env.migrations().as_str(), e.to_string(), "fix the migrations folder")),
        // On a first deploy the database does not run yet: the migrate step
        // checks again once it does.
        Ok(local) => match ctx.database_url(compose) {
            Err(_) if !database_running(env, compose) => {}
            Err(e) => findings.push(finding(
                &format!("database of {}", env.name()),
                format!("{e:#}"),
                "set DATABASE_URL, or fix the database service's environment",
            )),
            Ok(url) => match ledger_findings(&url, env, local, allow_destructive) {
                Ok(found) => findings.extend(found),
                Err(e) => findings.push(finding(
                    &format!("database of {}", env.name()),
                    format!("{e:#}"),
                    "make the database reachable",
                )),
            },
        },
    }
    findings.extend(disk_finding(ctx, env, compose));
    Ok(findings)
}

/// Migration validation (failed rows, drift, ...) and, unless allowed,
/// destructive pending statements, from the live ledger. Errs when the
/// database does not answer within pgconn's connect timeout.
fn ledger_findings(
    url: &str,
    env: &Environment,
    local: Vec<migrate::Migration>,
    allow_destructive: bool,
) -> Result<Vec<Finding>> {
    let rt = crate::db::runtime()?;
    let history = rt.block_on(async {
        // pgconn's one connect timeout bounds the wait (10 s unless the URL says otherwise).
        let client = migrate::connect(url).await?;
        migrate::read_history(&client, local).await
    })?;
    Ok(history_findings(env, &history, allow_destructive))
}

/// The findings of a read history: its plan's refusal, or (unless allowed)
/// its pending migrations' destructive statements. The migrate step asks
/// again once the database runs (a first deploy's preflight could not).
pub(crate) fn history_findings(env: &Environment, history: &migrate::History, allow_destructive: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    match migrate::plan(history, &migrate::Options::default()) {
        Err(e) => out.push(Finding {
            place: format!("migrations of {}", env.name()),
            why: e.in_env(&env.name()).to_string(),
            fix: "resolve the problems listed, then deploy again".into(),
        }),
        Ok(plan) if !allow_destructive => {
            for p in &plan.pending {
                for f in &p.findings {
                    out.push(Finding {
                        place: format!("{}/{}/migration.sql:{}", env.migrations(), f.migration, f.line),
                        why: format!("pending migration {} ({})", f.kind, f.statement),
                        fix: "review it; if intended, deploy with --allow-destructive".into(),
                    });
                }
            }
        }
        Ok(_) => {}
    }
    out
}

/// `major.minor` at least `want_major.want_minor`.
fn api_at_least(version: &str, want_major: u32, want_minor: u32) -> bool {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (want_major, want_minor)
}

/// Room for a backup on the backups folder's disk, estimated from the
/// database size. A check that cannot run is a finding, never skipped.
fn disk_finding(ctx: &Ctx, env: &Environment, compose: &Compose) -> Option<Finding> {
    let cannot = |why: String, fix: &str| {
        Some(Finding { place: format!("disk room for a backup of {}", env.name()), why, fix: fix.to_owned() })
    };
    let url = match ctx.database_url(compose) {
        Ok(url) => url,
        // A first deploy (or a stopped database the deploy starts): the
        // backup step itself reports a full disk.
        Err(_) if !database_running(env, compose) => return None,
        Err(e) => {
            return cannot(format!("cannot tell the database size: {e:#}"), "start the database or set DATABASE_URL")
        }
    };
    let size = match crate::db::database_size(&url) {
        Ok(size) => size,
        Err(e) => {
            return cannot(
                format!("cannot tell the database size: {e:#}"),
                "make the database reachable (`cargo xtask status`)",
            )
        }
    };
    let dir = match ctx.backups_dir_of(env) {
        Ok(dir) => dir,
        Err(e) => return cannot(format!("{e:#}"), "create the backups folder, writable by this user"),
    };
    let Some(free) = free_bytes(&dir) else {
        return cannot(format!("`df -Pk {dir}` did not tell the free space"), "check that `df` works on this machine");
    };
    preflight::check_disk_room(&dir, free, size)
}

/// A container of the database service runs (else a deploy starts it and checks again then).
/// Unknown counts as running, so that the check reports instead of skipping.
fn database_running(env: &Environment, compose: &Compose) -> bool {
    compose.containers(&env.database_service()).map(|c| c.iter().any(|c| c.status == "running")).unwrap_or(true)
}

/// Free bytes on the file system holding `dir`, from `df -Pk`.
fn free_bytes(dir: &camino::Utf8Path) -> Option<u64> {
    let out = duct::cmd!("df", "-Pk", dir.as_str()).stderr_null().read().ok()?;
    let line = out.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_versions_compare_numerically() {
        assert!(super::api_at_least("1.44", 1, 44));
        assert!(super::api_at_least("1.50", 1, 44));
        assert!(!super::api_at_least("1.41", 1, 44));
        assert!(!super::api_at_least("1.9", 1, 44));
    }
}
