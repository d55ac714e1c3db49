//! The steps pipelines are made of. Each is a plain function over the run's
//! state that returns a one-line outcome; each is also runnable alone (its
//! `alone` task). No step prints: the runner in `pipeline.rs` does.

use std::time::Duration;

use eyre::{bail, eyre, Result, WrapErr};

use compose::Decision;
use config::MigrateOrder;

use crate::pipeline::{Run, Step};

/// Read-only checks; refuses with every finding at once.
pub(crate) const PREFLIGHT: Step = Step {
    name: "preflight",
    about: "read-only safety checks (destructive commands, lock file, migrations, volume, disk, engine)",
    alone: "cargo xtask check ENV",
    run: preflight,
};

/// Build (or pull) the app images while the old containers still serve.
pub(crate) const BUILD: Step = Step {
    name: "build",
    about: "build the app services' images, pull the pulled ones, while the old containers still serve",
    alone: "docker compose build / pull",
    run: build,
};

/// Take the deploy lock (starting the database first on a first deploy).
pub(crate) const LOCK: Step = Step {
    name: "lock",
    about: "take the deploy lock (on a first deploy, start the database first)",
    alone: "-",
    run: lock,
};

/// Verified backup.
pub(crate) const BACKUP: Step = Step {
    name: "backup",
    about: "take a verified backup of the database",
    alone: "cargo xtask backup ENV",
    run: backup_step,
};

/// Stop the app services that change (only them; never the database).
pub(crate) const STOP: Step = Step {
    name: "stop",
    about: "stop the app services whose image or configuration changed (never the database)",
    alone: "-",
    run: stop,
};

/// Migrations before the start: `migrate = "before-start"`, or a first deploy.
pub(crate) const PREMIGRATE: Step = Step {
    name: "premigrate",
    about: "apply pending migrations before the start (migrate = \"before-start\", or a first deploy)",
    alone: "cargo xtask migrate ENV",
    run: premigrate_step,
};

/// Start the stopped app services from the new images and wait until healthy.
pub(crate) const START: Step = Step {
    name: "start",
    about: "start the changed app services from the new images, wait until healthy or done (else restore the previous images)",
    alone: "-",
    run: start,
};

/// Apply pending migrations after the start (no second backup).
pub(crate) const MIGRATE: Step = Step {
    name: "migrate",
    about: "apply pending migrations after the start (migrate = \"after-start\"), each atomically (no second backup)",
    alone: "cargo xtask migrate ENV",
    run: migrate_step,
};

/// Release the deploy lock.
pub(crate) const UNLOCK: Step = Step { name: "unlock", about: "release the deploy lock", alone: "-", run: unlock };

fn preflight(run: &mut Run) -> Result<String> {
    // The read-only first step: whatever stops it, nothing was changed (exit 2).
    let findings = crate::check::findings(run.ctx, &run.env, &run.compose, run.options.allow_destructive)
        .map_err(crate::exit::refused)?;
    if findings.is_empty() {
        return Ok("no findings".to_owned());
    }
    let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
    Err(crate::exit::refused(eyre!("{} finding(s), nothing was changed:\n{}", findings.len(), list.join("\n"))))
}

fn build(run: &mut Run) -> Result<String> {
    // Build what is built, pull what is pulled, all before anything stops:
    // a failed build or pull changes nothing.
    let apps = run.env.app_services.clone();
    let built: Vec<String> = run
        .compose
        .specs()?
        .into_iter()
        .filter(|s| s.built && apps.names().contains(&s.name))
        .map(|s| s.name)
        .collect();
    let pulled = run.compose.pulled_services(&apps)?;
    let mut done = Vec::new();
    if !built.is_empty() {
        run.compose.build(&subset(run, &built)?)?;
        done.push(format!("built {}", built.join(", ")));
    }
    if !pulled.is_empty() {
        run.compose.pull(&subset(run, &pulled)?)?;
        done.push(format!("pulled {}", pulled.join(", ")));
    }
    run.pulled = pulled;
    Ok(if done.is_empty() { "nothing to build or pull".to_owned() } else { done.join("; ") })
}

/// The app services named in `names`, as the type that stop/up take.
fn subset(run: &Run, names: &[String]) -> Result<config::AppServices> {
    run.env.app_services.subset(names).ok_or_else(|| eyre!("{} are not all app services", names.join(", ")))
}

/// `repo:drydock-previous` for an image reference `repo[:tag]`.
fn previous_tag(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let repo = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    format!("{repo}:drydock-previous")
}

fn lock(run: &mut Run) -> Result<String> {
    let mut note = String::new();
    if run.compose.start_database_if_stopped()? {
        // First deploy: the database did not run; it is started (never
        // recreated) and must be healthy before anything else.
        let timeout = Duration::from_secs(run.env.health_timeout_secs);
        run.compose.wait_healthy(&[run.env.database_service.clone()], timeout)?;
        note = format!("; started the database service `{}` (first deploy)", run.env.database_service);
    }
    let url = run.ctx.database_url(&run.compose)?;
    let dir = run.ctx.backups_dir_of(&run.env)?;
    let command = match run.pipeline {
        "deploy" => format!("cargo xtask deploy {}", run.env.name),
        other => format!("cargo xtask run {other} {}", run.env.name),
    };
    // A database that just turned healthy may still refuse TCP for a moment
    // (official images run their init server on the socket only): retry briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let lock = loop {
        match deploylock::acquire(&url, &dir, &run.env.name, &command, run.options.lock_wait) {
            Err(deploylock::LockError::Database(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500));
            }
            // Another deploy holds it: refused, this run changed nothing (exit 2).
            Err(busy @ deploylock::LockError::Busy { .. }) => return Err(crate::exit::refused(busy.into())),
            other => break other?,
        }
    };
    if let Some(stale) = &lock.stale {
        note.push_str(&format!("; replaced the lock file of a run that ended without releasing it: {stale}"));
    }
    run.lock = Some(lock);
    Ok(format!("held{note}"))
}

fn backup_step(run: &mut Run) -> Result<String> {
    crate::backup::ensure_backup_covers_target(run.ctx, &run.env)?;
    let path = crate::backup::take_verified(run.ctx, &run.env)?;
    let outcome = format!("verified {path}");
    run.backup = Some(path);
    Ok(outcome)
}

fn stop(run: &mut Run) -> Result<String> {
    if run.backup.is_none() {
        bail!("refusing to stop the app services without a verified backup of this run");
    }
    // Under the lock and after build and pull: which services change? The
    // others keep running (no stop, no downtime) unless --restart-all.
    let mut decisions = run.compose.restart_decisions(&run.env.app_services)?;
    if run.options.restart_all {
        for (_, d) in decisions.iter_mut().filter(|(_, d)| !d.restarts()) {
            *d = Decision::Restart("--restart-all".into());
        }
    }
    run.decisions = decisions;
    let restarting = run.restarting();
    // Remember the image id each of them runs now (and tag it, so nothing
    // prunes it): a release that does not start is rolled back to exactly these.
    run.previous_images.clear();
    for service in &restarting {
        for c in run.compose.containers(service)? {
            run.compose.tag_image(&c.image_id, &previous_tag(&c.image))?;
            run.previous_images.push((service.clone(), c.image.clone(), c.image_id.clone()));
        }
    }
    let kept = run.kept();
    let kept = if kept.is_empty() { String::new() } else { format!("; kept {} running (unchanged)", kept.join(", ")) };
    if restarting.is_empty() {
        return Ok(format!("nothing to stop: every app service is unchanged{kept}"));
    }
    run.app_down = true;
    run.compose.stop(&subset(run, &restarting)?)?;
    // Say "stopped" only of what ran; a service without a container is new.
    let (stopped, new): (Vec<_>, Vec<_>) = run
        .decisions
        .iter()
        .filter_map(|(s, d)| match d {
            Decision::Restart(why) => Some((s, format!("{s} ({why})"))),
            Decision::Keep => None,
        })
        .partition(|(s, _)| run.previous_images.iter().any(|(p, _, _)| p == *s));
    let list = |v: Vec<(&String, String)>| v.into_iter().map(|(_, l)| l).collect::<Vec<_>>().join(", ");
    let mut outcome = Vec::new();
    if !stopped.is_empty() {
        outcome.push(format!("stopped {}", list(stopped)));
    }
    if !new.is_empty() {
        outcome.push(format!("to create: {}", list(new)));
    }
    Ok(format!("{}{kept}", outcome.join("; ")))
}

fn start(run: &mut Run) -> Result<String> {
    let restarting = run.restarting();
    if restarting.is_empty() {
        run.committed = true;
        return Ok("nothing to start: every app service kept running".to_owned());
    }
    let apps = subset(run, &restarting)?;
    let timeout = Duration::from_secs(run.env.health_timeout_secs);
    let started = run
        .compose
        .up(&apps, true)
        .map_err(eyre::Report::from)
        .and_then(|()| run.compose.wait_healthy(apps.names(), timeout).map_err(eyre::Report::from));
    match started {
        Ok(()) => {
            run.app_down = false;
            run.committed = true;
            Ok(format!("{} healthy (or done)", apps.names().join(", ")))
        }
        Err(err) => {
            let rollback = roll_back_images(run);
            Err(err.wrap_err(match rollback {
                Ok(()) => "the new release did not become healthy; the previous images were restored and are running"
                    .to_owned(),
                Err(e) => format!(
                    "the new release did not become healthy, and restoring the previous images failed too ({e:#})"
                ),
            }))
        }
    }
}

/// Starts the services this run stopped again from exactly the image ids
/// they ran before (recorded by `stop`): each service's image reference is
/// tagged back to the old id, the containers are recreated from it, and a
/// pulled reference is then pointed at the pulled image again, so local tags
/// keep naming what the registry has while the containers run the old id.
/// A service that had no container before (first deploy) starts as it is.
pub(crate) fn roll_back_images(run: &mut Run) -> Result<()> {
    let restarting = run.restarting();
    if restarting.is_empty() {
        bail!("no app service was stopped");
    }
    let mut retag_after = Vec::new();
    for (service, old_reference, old_id) in &run.previous_images {
        // The reference compose starts the service from now: the one its
        // newest container was created from (a changed `image:` tag), else the old one.
        let reference = run
            .compose
            .containers(service)?
            .into_iter()
            .map(|c| c.image)
            .find(|r| r != old_reference)
            .unwrap_or_else(|| old_reference.clone());
        let current = run.compose.image_id(&reference)?;
        run.compose.tag_image(old_id, &reference)?;
        if let Some(current) = current.filter(|id| id != old_id && run.pulled.contains(service)) {
            retag_after.push((current, reference));
        }
    }
    let apps = subset(run, &restarting)?;
    let timeout = Duration::from_secs(run.env.health_timeout_secs);
    let healthy = run.compose.up(&apps, true).and_then(|()| run.compose.wait_healthy(apps.names(), timeout));
    // Whatever the outcome, the pulled references name the pulled images again.
    for (id, reference) in retag_after {
        run.compose.tag_image(&id, &reference)?;
    }
    healthy?;
    run.app_down = false;
    Ok(())
}

fn premigrate_step(run: &mut Run) -> Result<String> {
    let first = first_deploy(run)?;
    if run.env.migrate != MigrateOrder::BeforeStart && !first {
        return Ok("skipped: migrate = \"after-start\" (migrations run after the start)".to_owned());
    }
    let outcome = apply_migrations(run)?;
    // The schema is the new release's now: finish the deploy (no Ctrl-C stop
    // between here and the start), so new schema and new code go together.
    run.committed = true;
    run.premigrated = true;
    let why = if first { "first deploy: empty schema, no ledger" } else { "migrate = \"before-start\"" };
    Ok(format!("{outcome} ({why})"))
}

fn migrate_step(run: &mut Run) -> Result<String> {
    if run.premigrated {
        return Ok("done before the start (premigrate)".to_owned());
    }
    apply_migrations(run)
}

/// A first deploy: no `_prisma_migrations` table and nothing in the schema.
fn first_deploy(run: &Run) -> Result<bool> {
    let history = read_history(run)?;
    Ok(!history.ledger_exists && history.schema_objects == 0)
}

fn apply_migrations(run: &mut Run) -> Result<String> {
    // The preflight refused destructive pending statements when it could read
    // the ledger; on a first deploy the database was not running then, so
    // check again now. The backup step took the pre-migration backup.
    if !run.options.allow_destructive {
        let findings = crate::check::destructive_pending(run.ctx, &run.env, &run.compose)?;
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
            bail!("pending migrations are destructive, nothing was migrated (deploy with --allow-destructive if intended):\n{}", list.join("\n"));
        }
    }
    let before: Vec<String> = read_history(run)?.rows.into_iter().map(|r| r.id).collect();
    run.migrating = true;
    let applied =
        match crate::migrate::deploy(run.ctx, &run.env, Default::default(), crate::migrate::Backup::AlreadyTaken) {
            Ok(applied) => applied,
            Err(e) => {
                // The ledger says what this run left behind: when every row it
                // wrote records a rolled-back attempt, no migration of this run
                // committed and the database is as before the deploy.
                let unchanged = read_history(run).is_ok_and(|h| {
                    let new: Vec<_> = h.rows.iter().filter(|r| !before.contains(&r.id)).collect();
                    !new.is_empty() && new.iter().all(|r| r.rolled_back_at.is_some() && !r.is_applied())
                });
                if unchanged {
                    run.database_unchanged = true;
                    return Err(
                        e.wrap_err("the migration failed and rolled back; the database is as before this deploy")
                    );
                }
                return Err(e);
            }
        };
    let names: Vec<&str> = applied.iter().map(|a| a.name.as_str()).collect();
    Ok(if names.is_empty() { "nothing pending".to_owned() } else { format!("applied {}", names.join(", ")) })
}

fn unlock(run: &mut Run) -> Result<String> {
    let lock = run.lock.take().ok_or_else(|| eyre!("the deploy lock is not held"))?;
    lock.release();
    Ok("released".to_owned())
}

/// Pending migrations with their mode (`name (tx)`), for the dry run.
pub(crate) fn pending_migrations(run: &Run) -> Result<Vec<String>> {
    let history = read_history(run)?;
    let plan = migrate::plan(&history, &migrate::Options::default())?;
    Ok(plan.pending.iter().map(|p| format!("{} ({})", p.migration.name, p.mode)).collect())
}

/// The ledger and the local migrations, read without changing anything.
pub(crate) fn read_history(run: &Run) -> Result<migrate::History> {
    let local = migrate::load_dir(&run.env.migrations)?;
    let url = run.ctx.database_url(&run.compose).wrap_err("the database is not reachable")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = migrate::connect(&url).await?;
        Ok(migrate::read_history(&client, local).await?)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn previous_tag_keeps_the_repository() {
        assert_eq!(super::previous_tag("drydock-demo-prod-api"), "drydock-demo-prod-api:drydock-previous");
        assert_eq!(super::previous_tag("registry:5000/app:1.2"), "registry:5000/app:drydock-previous");
        assert_eq!(super::previous_tag("registry:5000/app"), "registry:5000/app:drydock-previous");
        assert_eq!(super::previous_tag("redis@sha256:abcd"), "redis:drydock-previous");
    }
}
