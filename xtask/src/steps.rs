//! The steps pipelines are made of. Each is a plain function over the run's
//! state that returns a one-line outcome; each is also runnable alone (its
//! `alone` task). No step prints: the runner in `pipeline.rs` does.

use std::time::Duration;

use eyre::{bail, eyre, Result, WrapErr};

use crate::pipeline::{Run, Step};

/// Read-only checks; refuses with every finding at once.
pub(crate) const PREFLIGHT: Step = Step {
    name: "preflight",
    about: "read-only safety checks (destructive commands, lock file, migrations, volume, disk, engine)",
    alone: "cargo xtask check ENV",
    run: preflight,
};

/// Build the app images while the old containers still serve.
pub(crate) const BUILD: Step = Step {
    name: "build",
    about: "build the app services' images while the old containers still serve",
    alone: "docker compose build",
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

/// Stop the app services only.
pub(crate) const STOP: Step =
    Step { name: "stop", about: "stop the app services only (never the database)", alone: "-", run: stop };

/// Start the app services from the new images and wait until healthy.
pub(crate) const START: Step = Step {
    name: "start",
    about: "start the app services from the new images, wait until healthy (else restore the previous images)",
    alone: "-",
    run: start,
};

/// Apply pending migrations (no second backup).
pub(crate) const MIGRATE: Step = Step {
    name: "migrate",
    about: "apply pending migrations, each atomically (no second backup)",
    alone: "cargo xtask migrate ENV",
    run: migrate_step,
};

/// Release the deploy lock.
pub(crate) const UNLOCK: Step = Step { name: "unlock", about: "release the deploy lock", alone: "-", run: unlock };

fn preflight(run: &mut Run) -> Result<String> {
    let findings = crate::check::findings(run.ctx, &run.env, &run.compose, run.options.allow_destructive)?;
    if findings.is_empty() {
        return Ok("no findings".to_owned());
    }
    let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
    bail!("{} finding(s), nothing was changed:\n{}", findings.len(), list.join("\n"))
}

fn build(run: &mut Run) -> Result<String> {
    // Remember the images the app runs now, and tag them, so a release that
    // does not become healthy can be rolled back to them.
    run.previous_images.clear();
    let built: Vec<String> =
        run.compose.definitions()?.into_iter().filter(|d| d.build_context.is_some()).map(|d| d.name).collect();
    for service in run.env.app_services.names().iter().filter(|s| built.contains(s)) {
        for c in run.compose.containers(service)? {
            let tag = previous_tag(&c.image);
            run.compose.tag_image(&c.image_id, &tag)?;
            run.previous_images.push((service.clone(), c.image.clone(), c.image_id.clone()));
        }
    }
    run.compose.build(&run.env.app_services)?;
    Ok(format!("built {}", run.env.app_services.names().join(", ")))
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
    let command = format!("cargo xtask {}-{}", run.pipeline, run.env.name);
    // A database that just turned healthy may still refuse TCP for a moment
    // (official images run their init server on the socket only): retry briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let lock = loop {
        match deploylock::acquire(&url, &dir, &run.env.name, &command, run.options.lock_wait) {
            Err(deploylock::LockError::Database(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500));
            }
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
    run.app_down = true;
    run.compose.stop(&run.env.app_services)?;
    Ok(format!("stopped {}", run.env.app_services.names().join(", ")))
}

fn start(run: &mut Run) -> Result<String> {
    let apps = run.env.app_services.clone();
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
            Ok(format!("{} healthy", apps.names().join(", ")))
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

/// Points each app image reference back at the image it had before the build
/// and recreates the app containers from them.
pub(crate) fn roll_back_images(run: &mut Run) -> Result<()> {
    if run.previous_images.is_empty() {
        bail!("no previous images to restore (first deploy)");
    }
    for (_, image, id) in &run.previous_images {
        run.compose.tag_image(id, image)?;
    }
    let apps = run.env.app_services.clone();
    run.compose.up(&apps, true)?;
    run.compose.wait_healthy(apps.names(), Duration::from_secs(run.env.health_timeout_secs))?;
    run.app_down = false;
    Ok(())
}

fn migrate_step(run: &mut Run) -> Result<String> {
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
    run.migrating = true;
    let applied = crate::migrate::deploy(run.ctx, &run.env, Default::default(), crate::migrate::Backup::AlreadyTaken)?;
    let names: Vec<&str> = applied.iter().map(|a| a.name.as_str()).collect();
    Ok(if names.is_empty() { "nothing pending".to_owned() } else { format!("applied {}", names.join(", ")) })
}

fn unlock(run: &mut Run) -> Result<String> {
    let lock = run.lock.take().ok_or_else(|| eyre!("the deploy lock is not held"))?;
    lock.release();
    Ok("released".to_owned())
}

/// Pending migrations with their mode (for the dry run).
pub(crate) fn pending_migrations(run: &Run) -> Result<Vec<String>> {
    let local = migrate::load_dir(&run.env.migrations)?;
    let url = run.ctx.database_url(&run.compose).wrap_err("the database is not reachable")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = migrate::connect(&url).await?;
        let history = migrate::read_history(&client, local).await?;
        let plan = migrate::plan(&history, &migrate::Options::default())?;
        Ok(plan.pending.iter().map(|p| format!("{} ({})", p.migration.name, p.mode)).collect())
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
