//! The steps pipelines are made of, and the state a run carries between them
//! ([`Run`], [`State`]). Each step is a plain function over the run that
//! returns a one-line outcome and reports progress to `run.progress`; each is
//! also runnable alone (its `alone` task). No step prints: the runner in
//! `pipeline.rs` draws. This module never imports the runner.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use eyre::{bail, eyre, Result, WrapErr};

use compose::{Apps, Compose, Decision};
use config::{Environment, MigrateOrder};

use crate::ui::{human_bytes, human_duration, Progress};
use crate::Ctx;

pub(crate) use verified::VerifiedBackup;

/// One step of a pipeline.
pub(crate) struct Step {
    /// Short name shown in progress, summaries and the journal.
    pub(crate) name: &'static str,
    /// What it does, in one line.
    pub(crate) about: &'static str,
    /// The task that runs this step alone.
    pub(crate) alone: &'static str,
    /// The step itself: returns a one-line outcome.
    pub(crate) run: fn(&mut Run) -> Result<String>,
    /// What it would do, for `--dry-run` (read-only; empty when `about` says it all);
    /// an error is the refusal the step would make.
    pub(crate) plan: fn(&Run) -> Result<Vec<String>>,
}

/// Options of a pipeline run (the flags of `deploy-ENV`, `migrate ENV`, `restore`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// Print the plan; change nothing.
    pub(crate) dry_run: bool,
    /// Apply pending migrations that contain destructive statements.
    pub(crate) allow_destructive: bool,
    /// How long to wait for another deploy's lock.
    pub(crate) lock_wait: Duration,
    /// Restart every app service, changed or not (the seed's behaviour).
    pub(crate) restart_all: bool,
    /// `migrate ENV`'s flags (drift, missing, out of order, skip backup).
    pub(crate) migrate: crate::migrate::Flags,
}

/// Where a run stands: what it has changed so far. The runner reads it to
/// bring the app back after a failure, to decide whether Ctrl-C still ends
/// the run, and to say what the operator can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Nothing changed yet.
    Untouched,
    /// App services this run stopped are not back yet; the data is as before.
    AppStopped,
    /// The data is being changed (a migration, a replay), or a change failed
    /// and the server did not confirm what it kept.
    ChangingData {
        /// App services this run stopped are not back yet.
        app_stopped: bool,
    },
    /// A change of the data failed and the server confirmed nothing of it remains.
    DataUnchanged {
        /// App services this run stopped are not back yet.
        app_stopped: bool,
    },
    /// What the run set out to put in place is live (the new release's
    /// schema or code, the restored data): from here the run finishes before
    /// it honours Ctrl-C, so new code never waits on an old schema.
    Live {
        /// App services this run stopped are not back yet.
        app_stopped: bool,
    },
}

impl State {
    /// App services this run stopped are not back yet.
    pub(crate) fn app_stopped(self) -> bool {
        match self {
            State::Untouched => false,
            State::AppStopped => true,
            State::ChangingData { app_stopped }
            | State::DataUnchanged { app_stopped }
            | State::Live { app_stopped } => app_stopped,
        }
    }

    /// The same state with the app services back.
    pub(crate) fn app_back(self) -> State {
        match self {
            State::Untouched | State::AppStopped => State::Untouched,
            State::ChangingData { .. } => State::ChangingData { app_stopped: false },
            State::DataUnchanged { .. } => State::DataUnchanged { app_stopped: false },
            State::Live { .. } => State::Live { app_stopped: false },
        }
    }

    /// The data is changing from here (app services as they are now).
    fn changing_data(self) -> State {
        State::ChangingData { app_stopped: self.app_stopped() }
    }

    /// The change is in place (app services as they are now).
    fn live(self) -> State {
        State::Live { app_stopped: self.app_stopped() }
    }

    /// The run is past the point where Ctrl-C ends it.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, State::Live { .. })
    }
}

/// The state a pipeline run carries from step to step.
pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) env: Environment,
    pub(crate) compose: Compose,
    pub(crate) options: Options,
    /// The pipeline's name, for the journal.
    pub(crate) pipeline: &'static str,
    /// The command this run is, for the deploy lock file (`cargo xtask deploy prod`).
    pub(crate) command: String,
    /// Where the run stands (what to recover, what to say).
    pub(crate) state: State,
    /// The verified backup taken by this run's BACKUP step.
    pub(crate) backup: Option<VerifiedBackup>,
    /// The deploy lock, held from LOCK to UNLOCK (dropped on failure).
    pub(crate) lock: Option<deploylock::DeployLock>,
    /// What runs before the stop, for each service that restarts:
    /// (service, image reference, image id).
    pub(crate) previous_images: Vec<(String, String, String)>,
    /// Per app service: restarts (and why) or keeps running; set by `stop`.
    pub(crate) decisions: Vec<(String, compose::Decision)>,
    /// App services whose images this run pulled.
    pub(crate) pulled: Vec<String>,
    /// Migrations ran before the start (`premigrate`), so `migrate` has nothing left.
    pub(crate) migrated_before_start: bool,
    /// Pending migrations found by `plan` (`migrate ENV`).
    pub(crate) pending: Option<usize>,
    /// `plan` read the ledger while this run held the deploy lock.
    pub(crate) planned_under_lock: bool,
    /// The ledger's row ids when `plan` read it: what the migrate step's
    /// failure path compares against (a row added since, by anyone, only
    /// makes "unchanged" false, never true).
    pub(crate) ledger_ids: Option<BTreeSet<String>>,
    /// The migrations folder, read once per run ([`Run::migrations`]): the
    /// plan shown and checked is the one applied.
    pub(crate) migrations: std::cell::OnceCell<Vec<migrate::Migration>>,
    /// The backup file a restore replays (restore pipeline only).
    pub(crate) restore: Option<RestoreInput>,
    /// Lines the runner prints after its summary (a restore's row counts).
    pub(crate) report: Vec<String>,
    /// The runner's progress display of the current step.
    pub(crate) progress: Progress,
    /// Set by Ctrl-C, SIGTERM or SIGHUP while the runner holds its guard.
    pub(crate) interrupted: &'static AtomicBool,
}

/// What a restore replays, and how.
pub(crate) struct RestoreInput {
    /// The file, verified (trailer, sidecar).
    pub(crate) verified: backup::Verified,
    /// psql for counts; the replay's own connection to the target.
    pub(crate) client: backup::PgClient,
    /// `--yes`: no question asked.
    pub(crate) confirmed: bool,
    /// The replay's figures, once it committed.
    pub(crate) replayed: Option<restore::Replayed>,
}

static NOT_INTERRUPTED: AtomicBool = AtomicBool::new(false);

impl<'a> Run<'a> {
    pub(crate) fn new(
        ctx: &'a Ctx,
        env: Environment,
        compose: Compose,
        pipeline: &'static str,
        options: Options,
    ) -> Run<'a> {
        let command = match pipeline {
            "deploy" => format!("cargo xtask deploy {}", env.name()),
            "migrate" => format!("cargo xtask migrate {}", env.name()),
            other => format!("cargo xtask run {other} {}", env.name()),
        };
        Run {
            ctx,
            env,
            compose,
            options,
            pipeline,
            command,
            state: State::Untouched,
            backup: None,
            lock: None,
            previous_images: Vec::new(),
            decisions: Vec::new(),
            pulled: Vec::new(),
            migrated_before_start: false,
            pending: None,
            planned_under_lock: false,
            ledger_ids: None,
            migrations: std::cell::OnceCell::new(),
            restore: None,
            report: Vec::new(),
            progress: Progress::hidden(ctx.ui),
            interrupted: &NOT_INTERRUPTED,
        }
    }

    /// The app services this run restarts (all of them before `stop` decided).
    pub(crate) fn restarting(&self) -> Vec<String> {
        match self.decisions.is_empty() {
            true => self.env.app_services().names().to_vec(),
            false => self.decisions.iter().filter(|(_, d)| d.restarts()).map(|(s, _)| s.clone()).collect(),
        }
    }

    /// The app services this run keeps running, unchanged.
    pub(crate) fn kept(&self) -> Vec<String> {
        self.decisions.iter().filter(|(_, d)| !d.restarts()).map(|(s, _)| s.clone()).collect()
    }

    /// `api (new image for app:2), web (--restart-all)`.
    pub(crate) fn restart_reasons(&self) -> String {
        let reasons: Vec<String> = self
            .decisions
            .iter()
            .filter_map(|(s, d)| match d {
                compose::Decision::Restart(why) => Some(format!("{s} ({why})")),
                compose::Decision::Keep => None,
            })
            .collect();
        reasons.join(", ")
    }

    /// The environment's migrations folder, read on first use and kept for
    /// the rest of the run: one run checks, plans and applies the same files
    /// (a file edited during the run is not re-read), and a history of
    /// thousands of folders is read once, not by each step.
    pub(crate) fn migrations(&self) -> Result<Vec<migrate::Migration>, migrate::MigrateError> {
        if let Some(local) = self.migrations.get() {
            return Ok(local.clone());
        }
        let local = migrate::load_dir(self.env.migrations())?;
        Ok(self.migrations.get_or_init(|| local).clone())
    }

    /// The path of this run's verified backup, if it took one.
    pub(crate) fn backup_path(&self) -> Option<&Utf8Path> {
        self.backup.as_ref().map(VerifiedBackup::path)
    }

    fn health_timeout(&self) -> Duration {
        Duration::from_secs(self.env.health_timeout_secs())
    }
}

/// The proof that this run took a verified backup: only [`BACKUP`] makes one
/// (the constructor is private to this module), and stopping app services
/// ([`stop_services`]) takes it.
mod verified {
    use camino::Utf8Path;
    use eyre::Result;

    /// A verified backup taken by this run (trailer, size, fsync, sidecar
    /// checked), and the URL its identity check proved reaches the database
    /// it is of.
    pub(crate) struct VerifiedBackup {
        taken: crate::backup::OfTarget,
    }

    impl std::fmt::Debug for VerifiedBackup {
        /// The path only: the URL holds the password.
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("VerifiedBackup").field("path", &self.taken.path).finish_non_exhaustive()
        }
    }

    impl VerifiedBackup {
        /// Takes one (the BACKUP step's only way to make the token).
        pub(super) fn take(run: &super::Run) -> Result<VerifiedBackup> {
            Ok(VerifiedBackup { taken: crate::backup::take_verified_of_target(run.ctx, &run.env, &run.progress)? })
        }

        /// The backup file.
        pub(crate) fn path(&self) -> &Utf8Path {
            &self.taken.path
        }

        /// Where the database this is a backup of was reached when it was
        /// taken (contains the password): a restore replays there, not
        /// where a URL derived before the prompt and the lock pointed.
        pub(crate) fn target_url(&self) -> &str {
            &self.taken.target_url
        }
    }
}

/// Stops `apps` (never the database): the only stop of this crate, and it
/// needs the proof of a verified backup.
fn stop_services(apps: &Apps<'_>, _backup: &VerifiedBackup) -> Result<()> {
    Ok(apps.stop()?)
}

/// Starts `apps` (`up -d --no-deps --no-build`, recreated when `recreate`)
/// and waits until they are healthy or done: the one up-then-wait-healthy.
pub(crate) fn up_and_wait(apps: &Apps<'_>, recreate: bool, timeout: Duration) -> Result<compose::Ready> {
    apps.up(recreate)?;
    Ok(apps.compose().wait_healthy(apps.names(), timeout)?)
}

/// Nothing to add to `about` in a dry run.
fn no_plan(_: &Run) -> Result<Vec<String>> {
    Ok(Vec::new())
}

/// Read-only checks; refuses with every finding at once.
pub(crate) const PREFLIGHT: Step = Step {
    name: "preflight",
    about: "read-only safety checks (destructive commands, lock file, migrations, volume, disk, engine)",
    alone: "cargo xtask check ENV",
    run: preflight,
    plan: no_plan,
};

/// Build (or pull) the app images while the old containers still serve.
pub(crate) const BUILD: Step = Step {
    name: "build",
    about: "build the app services' images, pull the pulled ones, while the old containers still serve",
    alone: "docker compose build / pull",
    run: build,
    plan: no_plan,
};

/// Take the deploy lock (starting the database first on a first deploy).
pub(crate) const LOCK: Step = Step {
    name: "lock",
    about: "take the deploy lock (on a first deploy, start the database first)",
    alone: "-",
    run: lock,
    plan: no_plan,
};

/// The deploy lock of a pipeline that never starts anything (`migrate ENV`):
/// a database that does not run is an error, not started.
pub(crate) const LOCK_RUNNING: Step = Step {
    name: "lock",
    about: "take the deploy lock (the database must be running)",
    alone: "-",
    run: lock_running,
    plan: no_plan,
};

/// Verified backup.
pub(crate) const BACKUP: Step = Step {
    name: "backup",
    about: "take a verified backup of the database",
    alone: "cargo xtask backup ENV",
    run: backup_step,
    plan: backup_plan,
};

/// Stop the app services that change (only them; never the database).
pub(crate) const STOP: Step = Step {
    name: "stop",
    about: "stop the app services whose image or configuration changed (never the database)",
    alone: "-",
    run: stop,
    plan: stop_plan,
};

/// Migrations before the start: `migrate = "before-start"`, or a first deploy.
pub(crate) const PREMIGRATE: Step = Step {
    name: "premigrate",
    about: "apply pending migrations before the start (migrate = \"before-start\", or a first deploy)",
    alone: "cargo xtask migrate ENV",
    run: premigrate_step,
    plan: migrate_order_plan,
};

/// Start the stopped app services from the new images and wait until healthy.
pub(crate) const START: Step = Step {
    name: "start",
    about: "start the changed app services from the new images, wait until healthy or done (else restore the previous images)",
    alone: "-",
    run: start,
    plan: no_plan,
};

/// Apply pending migrations after the start (no second backup).
pub(crate) const MIGRATE: Step = Step {
    name: "migrate",
    about: "apply pending migrations after the start (migrate = \"after-start\"), each atomically (no second backup)",
    alone: "cargo xtask migrate ENV",
    run: migrate_step,
    plan: pending_plan,
};

/// Release the deploy lock.
pub(crate) const UNLOCK: Step =
    Step { name: "unlock", about: "release the deploy lock", alone: "-", run: unlock, plan: no_plan };

/// `migrate ENV`: the folder and the ledger checked, the plan shown, before anything.
pub(crate) const PLAN: Step = Step {
    name: "plan",
    about: "read the migrations folder and the ledger; refuse drift, failed or missing migrations before any change",
    alone: "cargo xtask migrate ENV --dry-run",
    run: plan_step,
    plan: plan_lines,
};

/// `migrate ENV`: the pre-migration backup, when anything is pending.
pub(crate) const BACKUP_IF_PENDING: Step = Step {
    name: "backup",
    about: "take a verified backup when migrations are pending (unless --skip-backup)",
    alone: "cargo xtask backup ENV",
    run: backup_if_pending,
    plan: backup_plan,
};

/// `migrate ENV`: apply, each migration atomically with its ledger row.
pub(crate) const APPLY: Step = Step {
    name: "migrate",
    about: "apply pending migrations under the migration lock, each atomically with its ledger row",
    alone: "cargo xtask migrate ENV",
    run: apply_step,
    plan: no_plan,
};

/// Restore: the whole file read before anything, and the operator's word.
pub(crate) const CHECK_FILE: Step = Step {
    name: "check",
    about: "read the whole backup through the replay's reader (only statements pg_dump writes); the operator confirms",
    alone: "-",
    run: check_file,
    plan: check_file_plan,
};

/// Restore: stop every app service (never the database).
pub(crate) const STOP_APP: Step = Step {
    name: "stop",
    about: "stop the app services (never the database)",
    alone: "-",
    run: stop_app,
    plan: no_plan,
};

/// Restore: the replay, in one transaction.
pub(crate) const REPLAY: Step = Step {
    name: "replay",
    about: "replay the backup over drydock's own connection in one transaction (commit only if the whole file arrived)",
    alone: "-",
    run: replay,
    plan: no_plan,
};

/// Restore: start the app services again as they were.
pub(crate) const START_APP: Step = Step {
    name: "start",
    about: "start the app services again and wait until healthy",
    alone: "-",
    run: start_app,
    plan: no_plan,
};

/// Restore: what the database holds now.
pub(crate) const REPORT: Step = Step {
    name: "report",
    about: "the rows the replay restored into each table (the server's COPY tags); say whether migrations are pending",
    alone: "cargo xtask status ENV",
    run: report,
    plan: no_plan,
};

fn preflight(run: &mut Run) -> Result<String> {
    // The read-only first step: whatever stops it, nothing was changed (exit 2).
    let findings =
        crate::check::findings(run.ctx, &run.env, &run.compose, run.migrations(), run.options.allow_destructive)
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
    let apps = run.compose.app_services();
    let built: Vec<String> = run
        .compose
        .specs()?
        .into_iter()
        .filter(|s| s.built && apps.names().contains(&s.name))
        .map(|s| s.name)
        .collect();
    let pulled = apps.pulled()?.names().to_vec();
    let mut done = Vec::new();
    if !built.is_empty() {
        run.progress.message(&format!("building {}", built.join(", ")));
        apps.subset(&built)?.build()?;
        done.push(format!("built {}", built.join(", ")));
    }
    if !pulled.is_empty() {
        run.progress.message(&format!("pulling {}", pulled.join(", ")));
        apps.subset(&pulled)?.pull()?;
        done.push(format!("pulled {}", pulled.join(", ")));
    }
    run.pulled = pulled;
    Ok(if done.is_empty() { "nothing to build or pull".to_owned() } else { done.join("; ") })
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
        run.compose.wait_healthy(&[run.env.database_service().to_owned()], run.health_timeout())?;
        note = format!("; started the database service `{}` (first deploy)", run.env.database_service());
    }
    take_deploy_lock(run, note)
}

fn lock_running(run: &mut Run) -> Result<String> {
    take_deploy_lock(run, String::new())
}

/// The deploy lock, on the running database's connection; `note` ends the outcome.
fn take_deploy_lock(run: &mut Run, mut note: String) -> Result<String> {
    let url = run.ctx.database_url(&run.compose)?;
    let from = match std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        true => "DATABASE_URL, which overrides the compose database: check it",
        false => "the database container's address",
    };
    // Named by host and port only: a URL that does not parse is never
    // printed (its password could not be told apart and hidden).
    let address = match pgconn::parse(&url) {
        Ok(params) => address(&params),
        Err(e) => bail!("the database URL ({from}) cannot be read: {e}"),
    };
    let dir = run.ctx.backups_dir_of(&run.env)?;
    // A database that just turned healthy may still refuse TCP for a moment
    // (official images run their init server on the socket only): retry briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let lock = loop {
        match deploylock::acquire(&url, &dir, &run.env.name(), &run.command, run.options.lock_wait) {
            Err(deploylock::LockError::Database(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500));
            }
            // Another deploy holds it: refused, this run changed nothing (exit 2).
            Err(busy @ deploylock::LockError::Busy { .. }) => return Err(crate::exit::refused(busy.into())),
            Err(e @ deploylock::LockError::Database(_)) => {
                return Err(eyre::Report::new(e).wrap_err(format!(
                    "the database at {address} ({from}), tried for 15 s: check that it runs and is reachable (`cargo xtask status {}`)",
                    run.env.name()
                )));
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

/// `host:port` of each host a connection string names (5432 and the
/// local socket's `localhost` by default), never its role or password.
fn address(params: &pgconn::Params) -> String {
    let hosts = if params.hosts.is_empty() { vec!["localhost".to_owned()] } else { params.hosts.clone() };
    let port = |i: usize| params.ports.get(i).or(params.ports.first()).copied().unwrap_or(5432);
    hosts.iter().enumerate().map(|(i, h)| format!("{h}:{}", port(i))).collect::<Vec<_>>().join(", ")
}

fn backup_step(run: &mut Run) -> Result<String> {
    let backup = VerifiedBackup::take(run)?;
    let outcome = format!("verified {}", backup.path());
    run.backup = Some(backup);
    Ok(outcome)
}

fn backup_plan(run: &Run) -> Result<Vec<String>> {
    Ok(vec![format!(
        "would write {}/{}",
        run.env.backups(),
        backup::file_name(&run.env.name(), time::OffsetDateTime::now_utc())
    )])
}

fn stop(run: &mut Run) -> Result<String> {
    if run.backup.is_none() {
        bail!("refusing to stop the app services without a verified backup of this run");
    }
    // Under the lock and after build and pull: which services change? The
    // others keep running (no stop, no downtime) unless --restart-all.
    let mut decisions = run.compose.app_services().restart_decisions()?;
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
    let Some(backup) = &run.backup else {
        bail!("refusing to stop the app services without a verified backup of this run");
    };
    run.state = State::AppStopped;
    stop_services(&run.compose.app_services().subset(&restarting)?, backup)?;
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

/// The dry run's restart decisions, from the images present now: a built or
/// pulled service that is unchanged now may still change with the build or pull.
fn stop_plan(run: &Run) -> Result<Vec<String>> {
    if run.options.restart_all {
        return Ok(vec!["every app service (--restart-all)".to_owned()]);
    }
    let specs = run.compose.specs().unwrap_or_default();
    let apps = run.compose.app_services();
    let pulled = apps.pulled().map(|p| p.names().to_vec()).unwrap_or_default();
    Ok(match apps.restart_decisions() {
        Err(e) => vec![format!("restarts unknown ({e})")],
        Ok(decisions) => {
            let mut lines =
                vec!["only what changed (decided again after the build and pull, under the lock):".to_owned()];
            lines.extend(decisions.into_iter().map(|(service, decision)| {
                let built = specs.iter().any(|s| s.name == service && s.built);
                let line = match (&decision, built, pulled.contains(&service)) {
                    (Decision::Keep, true, _) => format!("{decision} unless the build makes a new image"),
                    (Decision::Keep, _, true) => format!("{decision} unless the pull brings a new image"),
                    _ => decision.to_string(),
                };
                format!("  {service:<14} {line}")
            }));
            lines
        }
    })
}

fn start(run: &mut Run) -> Result<String> {
    let restarting = run.restarting();
    if restarting.is_empty() {
        run.state = run.state.live();
        return Ok("nothing to start: every app service kept running".to_owned());
    }
    let apps = run.compose.app_services().subset(&restarting)?;
    run.progress.message(&format!("starting {}", apps.names().join(", ")));
    // A release that does not get healthy is rolled back by the runner's one
    // recovery (the previous images), because the app is still stopped.
    let ready = up_and_wait(&apps, true, run.health_timeout()).wrap_err("the new release did not become healthy")?;
    run.state = run.state.app_back().live();
    Ok(ready.to_string())
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
    let apps = run.compose.app_services().subset(&restarting)?;
    let healthy = up_and_wait(&apps, true, run.health_timeout()).map(drop);
    // Whatever the outcome, the pulled references name the pulled images again.
    for (id, reference) in retag_after {
        run.compose.tag_image(&id, &reference)?;
    }
    healthy
}

/// After a failure, the one way back: start the app services this run
/// stopped, from the images they ran before this run (never an unchecked
/// new release), or as they are when there is nothing older (a first
/// deploy, a restore). Returns whether that worked and what to tell.
pub(crate) fn bring_app_back(run: &mut Run) -> Option<(bool, String)> {
    if !run.state.app_stopped() {
        return None;
    }
    let from_previous = !run.previous_images.is_empty();
    let result = if from_previous {
        roll_back_images(run)
    } else {
        let restarting = run.restarting();
        let all = run.compose.app_services();
        let apps = all.subset(&restarting).unwrap_or(all);
        up_and_wait(&apps, false, run.health_timeout()).map(drop)
    };
    run.state = run.state.app_back();
    Some(match (result, from_previous) {
        (Ok(()), true) => (true, "the previous images were restored and are running, healthy".to_owned()),
        (Ok(()), false) => (true, "the app services were started again and are healthy".to_owned()),
        (Err(e), true) => (
            false,
            format!("restoring the previous images failed too ({e:#}): run `cargo xtask status {}`", run.env.name()),
        ),
        (Err(e), false) => (
            false,
            format!("the app services did NOT come back healthy ({e:#}): run `cargo xtask status {}`", run.env.name()),
        ),
    })
}

fn premigrate_step(run: &mut Run) -> Result<String> {
    let first = first_deploy(run)?;
    if run.env.migrate() != MigrateOrder::BeforeStart && !first {
        return Ok("skipped: migrate = \"after-start\" (migrations run after the start)".to_owned());
    }
    let outcome = apply_migrations(run)?;
    // The schema is the new release's now: finish the deploy (no Ctrl-C stop
    // between here and the start), so new schema and new code go together.
    run.migrated_before_start = true;
    let why = if first { "first deploy: empty schema, no ledger" } else { "migrate = \"before-start\"" };
    Ok(format!("{outcome} ({why})"))
}

fn migrate_order_plan(run: &Run) -> Result<Vec<String>> {
    let first = read_history(run).map(|h| !h.ledger_exists && h.schema_objects == 0);
    Ok(vec![match (run.env.migrate(), first) {
        (_, Ok(true)) => "before the start (first deploy: no ledger, empty schema)",
        (MigrateOrder::BeforeStart, _) => "before the start (migrate = \"before-start\")",
        (MigrateOrder::AfterStart, _) => "after the start (migrate = \"after-start\")",
    }
    .to_owned()])
}

fn migrate_step(run: &mut Run) -> Result<String> {
    if run.migrated_before_start {
        return Ok("done before the start (premigrate)".to_owned());
    }
    apply_migrations(run)
}

fn pending_plan(run: &Run) -> Result<Vec<String>> {
    Ok(match pending_migrations(run) {
        Ok(pending) if pending.is_empty() => vec!["none pending".to_owned()],
        Ok(pending) => {
            let mut lines = vec![format!("{} pending", pending.len())];
            lines.extend(pending.into_iter().map(|p| format!("  {p}")));
            lines
        }
        Err(e) => vec![format!("pending migrations unknown ({e:#})")],
    })
}

/// A first deploy: no `_prisma_migrations` table and nothing in the schema.
fn first_deploy(run: &Run) -> Result<bool> {
    let history = read_history(run)?;
    Ok(!history.ledger_exists && history.schema_objects == 0)
}

fn apply_migrations(run: &mut Run) -> Result<String> {
    // The preflight refused destructive pending statements when it could read
    // the ledger; on a first deploy the database was not running then, and
    // the app may have changed the schema since: read it again now. That read
    // is also the ledger the failure path compares with. The backup step took
    // the pre-migration backup.
    let history = read_history(run)?;
    if !run.options.allow_destructive {
        let findings = crate::check::history_findings(&run.env, &history, false);
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(|f| format!("  - {f}")).collect();
            bail!("pending migrations are destructive, nothing was migrated (deploy with --allow-destructive if intended):\n{}", list.join("\n"));
        }
    }
    if run.lock.is_some() && crate::migrate::nothing_pending(&history, run.options.migrate) {
        // This read, under the deploy lock, is the server's answer: nothing
        // to apply, so no second read under the migration lock. (A refusal
        // goes on to `deploy`, which reports it.)
        run.state = run.state.live();
        return Ok("nothing pending".to_owned());
    }
    if run.backup.is_none() {
        bail!("refusing to migrate without a verified backup of this run");
    }
    run.ledger_ids = Some(history.rows.into_iter().map(|r| r.id).collect());
    migrate_under_backup(run, crate::migrate::Backup::AlreadyTaken)
}

/// Applies the pending migrations (the backup decided by the caller); the
/// ledger then says whether a failure left the database as before.
fn migrate_under_backup(run: &mut Run, backup: crate::migrate::Backup) -> Result<String> {
    let before = match run.ledger_ids.take() {
        Some(ids) => ids,
        None => read_history(run)?.rows.into_iter().map(|r| r.id).collect(),
    };
    run.state = run.state.changing_data();
    let flags = run.options.migrate;
    match crate::migrate::deploy(run.ctx, &run.env, run.migrations(), flags, backup, &run.progress) {
        Ok(applied) => {
            run.state = run.state.live();
            let names: Vec<&str> = applied.iter().map(|a| a.name.as_str()).collect();
            Ok(match names.as_slice() {
                [] => "nothing pending".to_owned(),
                // The summary line stays a line; the ledger has every name.
                [first, .., last] if names.len() > 5 => format!("applied {} migrations, {first} … {last}", names.len()),
                _ => format!("applied {}", names.join(", ")),
            })
        }
        Err(e) => {
            // The ledger says what this run left behind: when every row it
            // wrote records a rolled-back attempt, no migration of this run
            // committed and the database is as before the run.
            let unchanged = read_history(run).is_ok_and(|h| {
                let new: Vec<_> = h.rows.iter().filter(|r| !before.contains(&r.id)).collect();
                !new.is_empty() && new.iter().all(|r| r.rolled_back_at.is_some() && !r.is_applied())
            });
            if unchanged {
                run.state = State::DataUnchanged { app_stopped: run.state.app_stopped() };
                return Err(e.wrap_err(format!(
                    "the migration failed and rolled back; the database is as before this {}",
                    run.pipeline
                )));
            }
            Err(e)
        }
    }
}

fn unlock(run: &mut Run) -> Result<String> {
    let lock = run.lock.take().ok_or_else(|| eyre!("the deploy lock is not held"))?;
    lock.release();
    Ok("released".to_owned())
}

fn plan_step(run: &mut Run) -> Result<String> {
    let (history, plan) = crate::migrate::plan_of(run.ctx, &run.env, run.migrations(), run.options.migrate)?;
    for line in crate::migrate::plan_table(run.ctx, &run.env, &plan) {
        run.progress.line(line);
    }
    run.pending = Some(plan.pending.len());
    run.planned_under_lock = run.lock.is_some();
    run.ledger_ids = Some(history.rows.into_iter().map(|r| r.id).collect());
    if plan.pending.is_empty() {
        return Ok(format!("no pending migrations, {} is up to date", run.env.name()));
    }
    Ok(format!("{} pending", plan.pending.len()))
}

fn plan_lines(run: &Run) -> Result<Vec<String>> {
    // A refusal of the plan is the dry run's refusal too (exit 2).
    let (_, plan) = crate::migrate::plan_of(run.ctx, &run.env, run.migrations(), run.options.migrate)?;
    let mut lines = crate::migrate::plan_table(run.ctx, &run.env, &plan);
    if plan.pending.is_empty() {
        lines.push(format!("no pending migrations, {} is up to date", run.env.name()));
    }
    Ok(lines)
}

fn backup_if_pending(run: &mut Run) -> Result<String> {
    if run.pending == Some(0) {
        return Ok("skipped: nothing pending".to_owned());
    }
    if run.options.migrate.skip_backup {
        run.progress
            .line(format!("{} --skip-backup: migrating without a pre-migration backup", run.ctx.ui.yellow("warning:")));
        return Ok("skipped: --skip-backup".to_owned());
    }
    backup_step(run).map_err(crate::backup::before_migration)
}

fn apply_step(run: &mut Run) -> Result<String> {
    if run.pending == Some(0) && run.planned_under_lock {
        // The plan read the ledger under the deploy lock, so no drydock run
        // changed it since; with nothing to apply there is nothing to lock.
        run.state = run.state.live();
        return Ok("nothing pending".to_owned());
    }
    let backup = match (&run.backup, run.options.migrate.skip_backup) {
        (Some(_), _) => crate::migrate::Backup::AlreadyTaken,
        (None, true) => crate::migrate::Backup::Skip,
        // Nothing was pending when planned: a migration that appeared since gets its own backup.
        (None, false) => crate::migrate::Backup::Take,
    };
    migrate_under_backup(run, backup)
}

fn input<'r>(run: &'r Run) -> Result<&'r RestoreInput> {
    run.restore.as_ref().ok_or_else(|| eyre!("this pipeline needs a backup file: run `cargo xtask restore FILE`"))
}

fn check_file(run: &mut Run) -> Result<String> {
    let ui = run.ctx.ui;
    let job = input(run)?;
    let checked = restore::check(&job.client, &job.verified).map_err(|e| {
        let refused = e.outcome() == restore::Outcome::Refused;
        if refused {
            crate::exit::refused(eyre!(e))
        } else {
            eyre!(e)
        }
    })?;
    if checked.large_object_blocks > 0 {
        run.progress.line(format!(
            "{} large-object transactions of pg_dump are folded into the restore's single transaction",
            checked.large_object_blocks
        ));
    }
    run.progress.line(format!(
        "restore {} ({}) into `{}`: its database `{}` will be replaced; app services {} stop meanwhile",
        job.verified.path,
        human_bytes(job.verified.size),
        run.env.name(),
        job.client.database().dbname,
        run.env.app_services().names().join(", ")
    ));
    if !job.confirmed {
        let env = &run.env.name();
        if !ui.tty_input() {
            return Err(crate::exit::refused(eyre!(
                "refusing to restore without confirmation: stdin is not a terminal; pass --yes to confirm"
            )));
        }
        let answer = run.progress.suspend(|| ui.ask(&format!("type `{env}` to replace the database of {env}:")))?;
        if answer != *env {
            return Err(crate::exit::refused(eyre!("confirmation did not match `{env}`; nothing was changed")));
        }
    }
    Ok(format!("{} COPY blocks, every statement one pg_dump writes", checked.copy_blocks))
}

fn check_file_plan(run: &Run) -> Result<Vec<String>> {
    let job = input(run)?;
    // A file the check refuses is the dry run's refusal too.
    let checked = restore::check(&job.client, &job.verified).map_err(|e| match e.outcome() {
        restore::Outcome::Refused => crate::exit::refused(eyre!(e)),
        _ => eyre!(e),
    })?;
    let check = format!("{} COPY blocks, every statement one pg_dump writes", checked.copy_blocks);
    Ok(vec![
        format!(
            "would replace the database `{}` of `{}` with {} ({})",
            job.client.database().dbname,
            run.env.name(),
            job.verified.path,
            human_bytes(job.verified.size)
        ),
        check,
    ])
}

fn stop_app(run: &mut Run) -> Result<String> {
    let Some(backup) = &run.backup else {
        bail!("refusing to stop the app services without a verified backup of this run");
    };
    let apps = run.compose.app_services();
    run.state = State::AppStopped;
    stop_services(&apps, backup)?;
    Ok(format!("stopped {}", apps.names().join(", ")))
}

fn replay(run: &mut Run) -> Result<String> {
    let Some(backup) = &run.backup else {
        bail!("refusing to replay without a verified backup of this run");
    };
    // The replay connects where the safety backup's identity check proved
    // the backed-up database is.
    let client = input(run)?.client.clone().with_driver_url(backup.target_url())?;
    run.state = run.state.changing_data();
    let job = input(run)?;
    let size = job.verified.size;
    let replayed = restore::replay(&client, &job.verified, run.interrupted, &mut |n| run.progress.bytes(n, Some(size)));
    match replayed {
        Ok(replayed) => {
            let outcome = format!(
                "restored from {}: {} in {}",
                job.verified.path,
                human_bytes(replayed.bytes),
                human_duration(replayed.duration)
            );
            if let Some(job) = run.restore.as_mut() {
                job.replayed = Some(replayed);
            }
            run.state = run.state.live();
            Ok(outcome)
        }
        Err(e) => {
            // Only what the server confirmed is said (crates/restore decides which it is).
            let mark: fn(eyre::Report) -> eyre::Report = match e.outcome() {
                restore::Outcome::Refused => crate::exit::refused,
                restore::Outcome::Unchanged | restore::Outcome::RolledBack => crate::exit::failed,
                restore::Outcome::Unknown => crate::exit::unknown,
            };
            if e.outcome() != restore::Outcome::Unknown {
                run.state = State::DataUnchanged { app_stopped: run.state.app_stopped() };
            }
            Err(mark(eyre!(e)))
        }
    }
}

fn start_app(run: &mut Run) -> Result<String> {
    let apps = run.compose.app_services();
    run.progress.message(&format!("starting {}", apps.names().join(", ")));
    let ready = up_and_wait(&apps, false, run.health_timeout()).wrap_err_with(|| {
        format!("app services did NOT come back healthy: check `cargo xtask status {}`", run.env.name())
    })?;
    run.state = run.state.app_back();
    Ok(format!("app services {ready}"))
}

fn report(run: &mut Run) -> Result<String> {
    let ui = run.ctx.ui;
    let job = input(run)?;
    // The server's own COPY tags of the committed replay: the rows restored,
    // not a count taken after the app services started writing again.
    let Some(r) = &job.replayed else { bail!("nothing was replayed: the report follows the replay step") };
    let rows: Vec<Vec<String>> = r.rows.iter().map(|(t, n)| vec![crate::ui::printable(t), n.to_string()]).collect();
    let mut report = ui.table_lines(&["TABLE (AS THE FILE NAMES IT)", "ROWS COPIED"], &rows);
    let mut outcome = format!("{} tables", r.rows.len());
    report.push(format!(
        "{} {} tables' rows copied, {} replayed in {}",
        ui.green("restored:"),
        r.rows.len(),
        human_bytes(r.bytes),
        human_duration(r.duration)
    ));
    match crate::migrate::pending_count(run.ctx, &run.env, &run.compose) {
        Ok(0) => {
            report.push("migrations: none pending".to_owned());
            outcome.push_str("; no migration pending");
        }
        Ok(n) => {
            report.push(format!(
                "{} {n} migrations are pending after this restore: apply them with `cargo xtask migrate {}`",
                ui.yellow("warning:"),
                run.env.name()
            ));
            outcome.push_str(&format!("; {n} migrations pending"));
        }
        Err(e) => report.push(format!(
            "{} cannot tell whether migrations are pending ({e:#}): check with `cargo xtask status {}`",
            ui.yellow("warning:"),
            run.env.name()
        )),
    }
    if let Some(path) = run.backup_path() {
        report.push(format!("to undo this restore: {}", rollback_hint(path, &run.env.name())));
    }
    run.report = report;
    Ok(outcome)
}

/// The command that restores `path` into `env`, quoted for a POSIX shell: the
/// way back printed by every pipeline that took a backup.
pub(crate) fn rollback_hint(path: &Utf8Path, env: &str) -> String {
    format!("cargo xtask restore {} --env {}", shell_quote(path.as_str()), shell_quote(env))
}

/// Quotes a word for a POSIX shell when it needs it (display only: drydock
/// never runs a shell).
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Pending migrations with their mode (`name (tx)`), for the dry run.
pub(crate) fn pending_migrations(run: &Run) -> Result<Vec<String>> {
    let history = read_history(run)?;
    let plan = migrate::plan(&history, &migrate::Options::default())?;
    Ok(plan.pending.iter().map(|p| format!("{} ({})", p.migration.name, p.mode)).collect())
}

/// The ledger and the local migrations, read without changing anything.
pub(crate) fn read_history(run: &Run) -> Result<migrate::History> {
    crate::migrate::history(run.ctx, &run.compose, run.migrations()?)
}

/// The backup path of a run, for messages.
pub(crate) fn backup_of(run: &Run) -> Option<Utf8PathBuf> {
    run.backup_path().map(Utf8Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_tag_keeps_the_repository() {
        assert_eq!(previous_tag("drydock-demo-prod-api"), "drydock-demo-prod-api:drydock-previous");
        assert_eq!(previous_tag("registry:5000/app:1.2"), "registry:5000/app:drydock-previous");
        assert_eq!(previous_tag("registry:5000/app"), "registry:5000/app:drydock-previous");
        assert_eq!(previous_tag("redis@sha256:abcd"), "redis:drydock-previous");
    }

    #[test]
    fn the_rollback_hint_is_a_copyable_command() {
        assert_eq!(
            rollback_hint(Utf8Path::new("backups/backup_prod_20260101_120000.sql"), "prod"),
            "cargo xtask restore backups/backup_prod_20260101_120000.sql --env prod"
        );
        assert_eq!(
            rollback_hint(Utf8Path::new("/b/it's x.sql"), "prod"),
            "cargo xtask restore '/b/it'\\''s x.sql' --env prod"
        );
    }

    #[test]
    fn the_state_knows_what_to_recover() {
        assert!(!State::Untouched.app_stopped());
        assert!(State::AppStopped.app_stopped());
        assert_eq!(State::AppStopped.changing_data(), State::ChangingData { app_stopped: true });
        assert_eq!(State::ChangingData { app_stopped: true }.live(), State::Live { app_stopped: true });
        assert_eq!(State::Live { app_stopped: true }.app_back(), State::Live { app_stopped: false });
        assert_eq!(State::AppStopped.app_back(), State::Untouched);
        assert!(State::Live { app_stopped: false }.is_live() && !State::AppStopped.is_live());
    }
}
