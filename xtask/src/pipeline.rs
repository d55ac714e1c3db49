//! Pipelines as data: a pipeline is a named, ordered list of steps defined in
//! [`PIPELINES`]; each step is a function in `steps.rs` (also runnable alone
//! as its own task). [`run`] is the one runner of every mutation (deploy,
//! `migrate ENV`, restore): it owns the progress display, the step timings,
//! the dry-run listing, the journal, the one recovery (the app services back
//! up) and failure reporting, so steps contain none of that.
//!
//! To extend a pipeline, add a `Step` to `steps.rs` and name it in a
//! pipeline's list below; see README, "Extending a pipeline".

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eyre::{Result, WrapErr};

use crate::journal::{self, Entry, StepRecord};
use crate::steps::{self, rollback_hint, State};
use crate::ui::human_duration;
use crate::Ctx;

pub(crate) use crate::steps::{Options, Run, Step};

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

/// `cargo xtask migrate ENV`: lock, validate, back up, apply. The plan is read
/// under the deploy lock, so no restore or deploy changes the ledger between
/// the plan and the apply; with nothing pending that read is the answer.
pub(crate) const MIGRATE: Pipeline = Pipeline {
    name: "migrate",
    about:
        "check the migrations and the ledger, verified backup when anything is pending, apply each migration atomically",
    steps: &[&steps::LOCK_RUNNING, &steps::PLAN, &steps::BACKUP_IF_PENDING, &steps::APPLY, &steps::UNLOCK],
};

/// `cargo xtask restore FILE`: the database put back as it was in a backup.
pub(crate) const RESTORE: Pipeline = Pipeline {
    name: "restore",
    about: "check the file, safety backup, stop the app, replay in one transaction, start the app (cargo xtask restore FILE)",
    steps: &[
        &steps::CHECK_FILE,
        &steps::LOCK,
        &steps::BACKUP,
        &steps::STOP_APP,
        &steps::REPLAY,
        &steps::START_APP,
        &steps::UNLOCK,
        &steps::REPORT,
    ],
};

/// Every pipeline, for `cargo xtask pipelines` and `cargo xtask run PIPELINE ENV`.
pub(crate) const PIPELINES: &[&Pipeline] = &[&DEPLOY, &MIGRATE, &RESTORE];

/// Runs `pipeline` step by step, stopping at the first failure. Whatever
/// fails after the app services stopped, they are started again before this
/// returns. Prints a summary table and appends one journal line.
pub(crate) fn run(pipeline: &Pipeline, mut run: Run) -> Result<()> {
    let ui = run.ctx.ui;
    if run.options.dry_run {
        return dry_run(pipeline, &run);
    }
    ui.line(ui.bold(&format!("{} {} ({} steps)", pipeline.name, run.env.name(), pipeline.steps.len())));
    // From here on Ctrl-C and SIGTERM end the run between steps (a step that
    // streams, like the backup or the replay, stops at once), through the
    // same recovery as any failure.
    let guard = crate::interrupt::Interruptible::enter()?;
    run.interrupted = guard.flag();
    let started = Instant::now();
    let mut records = Vec::new();
    let mut failure = None;
    for (i, step) in pipeline.steps.iter().enumerate() {
        run.progress = ui.progress(&format!("[{}/{}] {}: {}", i + 1, pipeline.steps.len(), step.name, step.about));
        let t0 = Instant::now();
        let result = (step.run)(&mut run).and_then(|outcome| {
            match guard.flag().load(Ordering::SeqCst) && !run.state.is_live() {
                true => Err(eyre::eyre!("interrupted (Ctrl-C, SIGTERM or SIGHUP) after this step: {outcome}")),
                false => Ok(outcome),
            }
        });
        run.progress.finish();
        let took = t0.elapsed();
        match result {
            Ok(outcome) => {
                ui.line(ui.step_line(true, step.name, &human_duration(took), &outcome));
                records.push(StepRecord::new(step.name, took, "ok", &outcome));
            }
            Err(err) => {
                let result = match crate::exit::of(&err) {
                    crate::exit::Exit::Refused => "refused",
                    crate::exit::Exit::Unknown => "outcome unknown",
                    crate::exit::Exit::Failed => "failed",
                };
                ui.line(ui.step_line(false, step.name, &human_duration(took), &format!("{err}")));
                records.push(StepRecord::new(step.name, took, result, &format!("{err}")));
                failure = Some(err.wrap_err(format!("{} step `{}` failed", pipeline.name, step.name)));
                break;
            }
        }
    }
    run.progress = crate::ui::Progress::hidden(ui);
    let mut recovery = None;
    if failure.is_some() && run.state.app_stopped() {
        // The app comes back if it is down, still under the deploy lock.
        let t0 = Instant::now();
        run.progress = ui.progress("recover: start the app services this run stopped");
        let back = steps::bring_app_back(&mut run);
        run.progress.finish();
        if let Some((ok, note)) = back {
            ui.warn(&note);
            records.push(StepRecord::new("recover", t0.elapsed(), if ok { "ok" } else { "failed" }, &note));
            recovery = Some((ok, note));
        }
    }
    summary(&run, &records, started.elapsed());
    let entry = Entry::new(
        &run.ctx.root,
        &run.env.name(),
        run.pipeline,
        &records,
        started.elapsed(),
        steps::backup_of(&run).as_deref(),
        failure.as_ref().map(|e| format!("{e:#}")),
    );
    if let Err(e) = journal::append(&run.env.backups(), &entry) {
        ui.warn(format!("could not write the journal: {e:#}"));
    }
    // Dropping the lock releases it (after a failure; UNLOCK did on success).
    run.lock = None;
    drop(guard);
    match failure {
        None => Ok(()),
        // The app services this run stopped did not come back: what the
        // run changed was not undone, so the outcome is not "failed, rolled
        // back" (1) but unknown (3) until `status` is read.
        Some(err) if matches!(recovery, Some((false, _))) => {
            let advice = failure_advice(&run, recovery.map(|(_, note)| note));
            Err(crate::exit::unknown(err.wrap_err(advice)))
        }
        Some(err) => Err(err.wrap_err(failure_advice(&run, recovery.map(|(_, note)| note)))),
    }
}

/// What the operator can do after a failed run, from where it stands.
fn failure_advice(run: &Run, recovery: Option<String>) -> String {
    let env = &run.env.name();
    let advice = match (run.backup_path(), run.state, run.pipeline) {
        (Some(path), State::DataUnchanged { .. }, "restore") => format!(
            "the database is as before this restore (the server confirmed the rollback); the safety backup is {path}"
        ),
        (Some(path), State::DataUnchanged { .. }, _) => format!(
            "the database is as before this {} (the failed migration rolled back); the backup taken first is {path}; \
             if you need it: {}",
            run.pipeline,
            rollback_hint(path, env)
        ),
        (Some(path), State::ChangingData { .. }, "restore") => {
            format!("the outcome is not confirmed; to be sure, restore the safety backup: {}", rollback_hint(path, env))
        }
        (Some(path), State::ChangingData { .. }, _) => format!(
            "nothing was lost; the backup taken before any change is {path}; for a full rollback: {}",
            rollback_hint(path, env)
        ),
        (Some(path), State::Live { .. }, "restore") => {
            let file = run.restore.as_ref().map(|r| r.verified.path.to_string()).unwrap_or_default();
            format!("the database was restored from {file}; to undo this restore: {}", rollback_hint(path, env))
        }
        (Some(path), State::Live { .. }, _) => format!(
            "the new release is live; the backup taken before any change is {path}; for a full rollback: {}",
            rollback_hint(path, env)
        ),
        (Some(path), _, _) => {
            format!("no migration ran, the database was not changed; the backup taken first is {path}")
        }
        (None, State::Untouched | State::AppStopped, _) => "nothing was changed".to_owned(),
        (None, _, _) => format!("no backup was taken (--skip-backup); check with `cargo xtask migrate status {env}`"),
    };
    match recovery {
        Some(note) => format!("{note}; {advice}"),
        None => advice,
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
        // "restarted" only of a release that is live; otherwise it was the plan.
        let label = if run.state.is_live() { "restarted" } else { "chosen to restart" };
        ui.line(format!("{label}: {}", if restarted.is_empty() { "none" } else { &restarted }));
        let kept = run.kept();
        if !kept.is_empty() {
            ui.line(format!("kept running (unchanged): {}", kept.join(", ")));
        }
    }
    if let Some(path) = run.backup_path() {
        ui.line(format!("backup: {path}"));
    }
    for line in &run.report {
        ui.line(line);
    }
}

/// `--dry-run`: the resolved environment and what each step would do,
/// nothing executed; a refusal a step would make is the dry run's error.
fn dry_run(pipeline: &Pipeline, run: &Run) -> Result<()> {
    let ui = run.ctx.ui;
    let env = &run.env;
    ui.line(ui.bold(&format!("{} {} --dry-run: nothing will be changed", pipeline.name, env.name())));
    ui.line(format!(
        "compose:         {} {}",
        run.compose.flavor().command_name(),
        env.compose_files().iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
    ));
    ui.line(format!("project:         {}", env.project_name().unwrap_or("(compose default)")));
    ui.line(format!("database:        {} (never stopped)", env.database_service()));
    ui.line(format!("app services:    {}", env.app_services().names().join(", ")));
    ui.line("steps:");
    for (i, step) in pipeline.steps.iter().enumerate() {
        ui.line(format!("  {}. {:<10} {}", i + 1, step.name, step.about));
        let plan = (step.plan)(run)
            .wrap_err_with(|| format!("{} --dry-run: step `{}` would refuse", pipeline.name, step.name))?;
        for line in plan {
            ui.line(format!("     {:<10} {line}", ""));
        }
    }
    Ok(())
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
    if found.name == RESTORE.name {
        return Err(crate::exit::refused(eyre::eyre!(
            "the restore pipeline needs a backup file, nothing was changed: run `cargo xtask restore FILE --env {env_name}`"
        )));
    }
    let env = ctx.env(env_name).map_err(|e| crate::exit::refused(eyre::eyre!("{e:#}; nothing was changed")))?;
    let compose = ctx.compose(&env)?;
    run(found, Run::new(ctx, env, compose, found.name, options))
        .wrap_err_with(|| format!("{} of {env_name} failed", found.name))
}
