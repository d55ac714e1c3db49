//! Pipelines as data: a pipeline is a named, ordered list of steps defined in
//! [`PIPELINES`]; each step is a function (also runnable alone as its own
//! task). [`run`] is the one runner: it owns the progress display, the step
//! timings, the dry-run listing, the journal and failure reporting, so steps
//! contain none of that.
//!
//! To extend a pipeline, add a `Step` to `steps.rs` and name it in a
//! pipeline's list below; see README, "Extending a pipeline".

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use compose::Compose;
use config::Environment;
use eyre::{Result, WrapErr};

use crate::journal::{self, Entry, StepRecord};
use crate::steps;
use crate::ui::human_duration;
use crate::Ctx;

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
}

/// A named, ordered list of steps.
pub(crate) struct Pipeline {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) steps: &'static [&'static Step],
}

/// The safe production deploy, in the order of the runbook.
pub(crate) const DEPLOY: Pipeline = Pipeline {
    name: "deploy",
    about: "verified backup, stop only the app services that changed, restart them from new images, apply migrations",
    steps: &[
        &steps::PREFLIGHT,
        &steps::BUILD,
        &steps::LOCK,
        &steps::BACKUP,
        &steps::STOP,
        &steps::PREMIGRATE,
        &steps::START,
        &steps::MIGRATE,
        &steps::UNLOCK,
    ],
};

/// Every pipeline, for `cargo xtask pipelines` and `cargo xtask run PIPELINE ENV`.
pub(crate) const PIPELINES: &[&Pipeline] = &[&DEPLOY];

/// Options of a pipeline run (the flags of `deploy-ENV`).
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
}

/// The state a pipeline run carries from step to step.
pub(crate) struct Run<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) env: Environment,
    pub(crate) compose: Compose,
    pub(crate) options: Options,
    /// The pipeline's name, for the lock file and the journal.
    pub(crate) pipeline: &'static str,
    /// The verified backup taken by this run.
    pub(crate) backup: Option<Utf8PathBuf>,
    /// The deploy lock, held from LOCK to UNLOCK (dropped on failure).
    pub(crate) lock: Option<deploylock::DeployLock>,
    /// What runs before the stop, for each service that restarts:
    /// (service, image reference, image id).
    pub(crate) previous_images: Vec<(String, String, String)>,
    /// Per app service: restarts (and why) or keeps running; set by `stop`.
    pub(crate) decisions: Vec<(String, compose::Decision)>,
    /// App services whose images this run pulled.
    pub(crate) pulled: Vec<String>,
    /// Migrations ran before the start (`premigrate`).
    pub(crate) premigrated: bool,
    /// A migration failed, and the ledger shows nothing of this run committed.
    pub(crate) database_unchanged: bool,
    /// The app services were stopped by this run and are not yet back.
    pub(crate) app_down: bool,
    /// The new release is up: from here the run finishes (migrations
    /// included) before it honours Ctrl-C, so new code never waits on an old schema.
    pub(crate) committed: bool,
    /// The migrate step started: only then can a restore be the way back.
    pub(crate) migrating: bool,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        ctx: &'a Ctx,
        env: Environment,
        compose: Compose,
        pipeline: &'static str,
        options: Options,
    ) -> Run<'a> {
        Run {
            ctx,
            env,
            compose,
            options,
            pipeline,
            backup: None,
            lock: None,
            previous_images: Vec::new(),
            decisions: Vec::new(),
            pulled: Vec::new(),
            premigrated: false,
            database_unchanged: false,
            app_down: false,
            committed: false,
            migrating: false,
        }
    }

    /// The app services this run restarts (all of them before `stop` decided).
    pub(crate) fn restarting(&self) -> Vec<String> {
        match self.decisions.is_empty() {
            true => self.env.app_services.names().to_vec(),
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
}

/// Runs `pipeline` step by step, stopping at the first failure. Whatever
/// fails after the app services stopped, they are started again before this
/// returns. Prints a summary table and appends one journal line.
pub(crate) fn run(pipeline: &Pipeline, mut run: Run) -> Result<()> {
    let ui = run.ctx.ui;
    if run.options.dry_run {
        return dry_run(pipeline, &run);
    }
    ui.line(ui.bold(&format!("{} {} ({} steps)", pipeline.name, run.env.name, pipeline.steps.len())));
    // From here on Ctrl-C and SIGTERM end the run between steps (a step that
    // streams, like the backup, stops at once), through the same recovery as
    // any failure.
    let guard = crate::interrupt::Interruptible::enter()?;
    let started = Instant::now();
    let mut records = Vec::new();
    let mut failure = None;
    for (i, step) in pipeline.steps.iter().enumerate() {
        let bar = ui.spinner(&format!("[{}/{}] {}: {}", i + 1, pipeline.steps.len(), step.name, step.about));
        let t0 = Instant::now();
        let result =
            (step.run)(&mut run).and_then(|outcome| match guard.flag().load(Ordering::SeqCst) && !run.committed {
                true => Err(eyre::eyre!("interrupted (Ctrl-C, SIGTERM or SIGHUP) after this step: {outcome}")),
                false => Ok(outcome),
            });
        bar.finish_and_clear();
        let took = t0.elapsed();
        match result {
            Ok(outcome) => {
                ui.line(format!("{} {:<10} {:>9}  {outcome}", ui.green("ok"), step.name, human_duration(took)));
                records.push(StepRecord::new(step.name, took, "ok", &outcome));
            }
            Err(err) => {
                ui.line(format!("{} {:<10} {:>9}  {err}", ui.red("FAILED"), step.name, human_duration(took)));
                records.push(StepRecord::new(step.name, took, "failed", &format!("{err}")));
                failure = Some(err.wrap_err(format!("{} step `{}` failed", pipeline.name, step.name)));
                break;
            }
        }
    }
    if failure.is_some() {
        // The app comes back if it is down, still under the deploy lock.
        let t0 = Instant::now();
        if let Some((ok, note)) = bring_app_back(&mut run) {
            ui.warn(&note);
            records.push(StepRecord::new("recover", t0.elapsed(), if ok { "ok" } else { "failed" }, &note));
        }
    }
    summary(&run, &records, started.elapsed());
    let entry = Entry::new(&run, &records, started.elapsed(), failure.as_ref().map(|e| format!("{e:#}")));
    if let Err(e) = journal::append(&run.env.backups, &entry) {
        ui.warn(format!("could not write the journal: {e:#}"));
    }
    // Dropping the lock releases it (after a failure; UNLOCK did on success).
    run.lock = None;
    drop(guard);
    match failure {
        None => Ok(()),
        Some(err) => Err(err.wrap_err(failure_advice(&run))),
    }
}

/// After a failure: start the app services again if this run stopped them,
/// from the images they ran before this run (never an unchecked new release).
/// Returns whether that worked, and what to tell the operator.
fn bring_app_back(run: &mut Run) -> Option<(bool, String)> {
    if !run.app_down {
        return None;
    }
    let result = if run.previous_images.is_empty() {
        // First deploy: there is nothing older to go back to.
        let restarting = run.restarting();
        let apps = run.env.app_services.subset(&restarting).unwrap_or_else(|| run.env.app_services.clone());
        let timeout = Duration::from_secs(run.env.health_timeout_secs);
        run.compose
            .up(&apps, false)
            .map_err(eyre::Report::from)
            .and_then(|()| run.compose.wait_healthy(apps.names(), timeout).map_err(eyre::Report::from))
    } else {
        steps::roll_back_images(run)
    };
    run.app_down = false;
    Some(match result {
        Ok(()) => (true, "the app services were started again from their previous images and are healthy".to_owned()),
        Err(e) => (
            false,
            format!("the app services could not be brought back: {e:#}; run `cargo xtask status {}`", run.env.name),
        ),
    })
}

/// What the operator can do after a failed run.
fn failure_advice(run: &Run) -> String {
    match &run.backup {
        Some(path) if run.database_unchanged => format!(
            "the database is as before this deploy (the failed migration rolled back); the backup taken first is {path}; \
             if you need it: {}",
            crate::restore::rollback_hint(path, &run.env.name)
        ),
        Some(path) if run.migrating => format!(
            "nothing was lost; the backup taken before any change is {path}; for a full rollback: {}",
            crate::restore::rollback_hint(path, &run.env.name)
        ),
        Some(path) => format!("no migration ran, the database was not changed; the backup taken first is {path}"),
        None => "nothing was changed".to_owned(),
    }
}

fn summary(run: &Run, records: &[StepRecord], total: Duration) {
    let ui = run.ctx.ui;
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| vec![r.name.clone(), human_duration(Duration::from_secs_f64(r.seconds)), r.outcome.clone()])
        .collect();
    ui.line("");
    ui.table(&["STEP", "DURATION", "OUTCOME"], &rows);
    ui.line(format!("total {}", human_duration(total)));
    if !run.decisions.is_empty() {
        let restarted = run.restart_reasons();
        ui.line(format!("restarted: {}", if restarted.is_empty() { "none" } else { &restarted }));
        let kept = run.kept();
        if !kept.is_empty() {
            ui.line(format!("kept running (unchanged): {}", kept.join(", ")));
        }
    }
    if let Some(path) = &run.backup {
        ui.line(format!("backup: {path}"));
    }
}

/// `--dry-run`: the resolved environment and the plan, nothing executed.
fn dry_run(pipeline: &Pipeline, run: &Run) -> Result<()> {
    let ui = run.ctx.ui;
    let env = &run.env;
    ui.line(ui.bold(&format!("{} {} --dry-run: nothing will be changed", pipeline.name, env.name)));
    ui.line(format!(
        "compose:         {} {}",
        run.compose.flavor().command_name(),
        env.compose_files.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
    ));
    ui.line(format!("project:         {}", env.project_name.as_deref().unwrap_or("(compose default)")));
    ui.line(format!("database:        {} (never stopped)", env.database_service));
    ui.line(format!("app services:    {}", env.app_services.names().join(", ")));
    ui.line(format!(
        "backup would be: {}/{}",
        env.backups,
        backup::file_name(&env.name, time::OffsetDateTime::now_utc())
    ));
    let (header, services) = restart_plan(run);
    ui.line(format!("restarts:        {header}"));
    for (service, line) in services {
        ui.line(format!("  {service:<14} {line}"));
    }
    let first = steps::read_history(run).map(|h| !h.ledger_exists && h.schema_objects == 0);
    ui.line(format!(
        "migrate:         {}",
        match (env.migrate, first) {
            (_, Ok(true)) => "before the start (first deploy: no ledger, empty schema)",
            (config::MigrateOrder::BeforeStart, _) => "before the start (migrate = \"before-start\")",
            (config::MigrateOrder::AfterStart, _) => "after the start (migrate = \"after-start\")",
        }
    ));
    match steps::pending_migrations(run) {
        Ok(pending) if pending.is_empty() => ui.line("migrations:      none pending"),
        Ok(pending) => {
            ui.line(format!("migrations:      {} pending", pending.len()));
            for p in pending {
                ui.line(format!("  {p}"));
            }
        }
        Err(e) => ui.line(format!("migrations:      unknown ({e:#})")),
    }
    ui.line("steps:");
    for (i, step) in pipeline.steps.iter().enumerate() {
        ui.line(format!("  {}. {:<10} {}", i + 1, step.name, step.about));
    }
    Ok(())
}

/// The dry run's restart decisions, from the images present now: a built or
/// pulled service that is unchanged now may still change with the build or pull.
fn restart_plan(run: &Run) -> (String, Vec<(String, String)>) {
    if run.options.restart_all {
        return ("every app service (--restart-all)".to_owned(), Vec::new());
    }
    let specs = run.compose.specs().unwrap_or_default();
    let pulled = run.compose.pulled_services(&run.env.app_services).unwrap_or_default();
    match run.compose.restart_decisions(&run.env.app_services) {
        Err(e) => (format!("unknown ({e})"), Vec::new()),
        Ok(decisions) => {
            let lines = decisions
                .into_iter()
                .map(|(service, decision)| {
                    let built = specs.iter().any(|s| s.name == service && s.built);
                    let line = match (&decision, built, pulled.contains(&service)) {
                        (compose::Decision::Keep, true, _) => format!("{decision} unless the build makes a new image"),
                        (compose::Decision::Keep, _, true) => format!("{decision} unless the pull brings a new image"),
                        _ => decision.to_string(),
                    };
                    (service, line)
                })
                .collect();
            ("only what changed (decided again after the build and pull, under the lock):".to_owned(), lines)
        }
    }
}

/// `cargo xtask pipelines`: every pipeline with its steps.
pub(crate) fn list(ctx: &Ctx) -> Result<()> {
    for pipeline in PIPELINES {
        ctx.ui.line(ctx.ui.bold(&format!("{}: {}", pipeline.name, pipeline.about)));
        let rows: Vec<Vec<String>> = pipeline
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| vec![format!("{}", i + 1), s.name.to_owned(), s.about.to_owned(), s.alone.to_owned()])
            .collect();
        ctx.ui.table(&["#", "STEP", "WHAT", "ALONE"], &rows);
    }
    Ok(())
}

/// `cargo xtask deploy ENV` (and `deploy-prod`, `deploy-dev`).
pub(crate) fn deploy(ctx: &Ctx, env_name: &str, options: Options) -> Result<()> {
    run_named(ctx, DEPLOY.name, env_name, options)
}

/// `cargo xtask run PIPELINE ENV`: any pipeline of [`PIPELINES`], through
/// the one runner (lock, journal, dry run, recovery).
pub(crate) fn run_named(ctx: &Ctx, pipeline: &str, env_name: &str, options: Options) -> Result<()> {
    let Some(found) = PIPELINES.iter().find(|p| p.name == pipeline) else {
        let known: Vec<&str> = PIPELINES.iter().map(|p| p.name).collect();
        return Err(crate::exit::refused(eyre::eyre!(
            "there is no pipeline `{pipeline}`, nothing was changed: the pipelines are {} (`cargo xtask pipelines`)",
            known.join(", ")
        )));
    };
    let env = ctx.env(env_name).map_err(|e| crate::exit::refused(eyre::eyre!("{e:#}; nothing was changed")))?;
    let compose = ctx.compose(&env)?;
    run(found, Run::new(ctx, env, compose, found.name, options))
        .wrap_err_with(|| format!("{} of {env_name} failed", found.name))
}
