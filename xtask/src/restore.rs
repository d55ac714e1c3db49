//! `cargo xtask restore <file> [--env ENV] [--yes]`: replay a backup into an
//! environment's database atomically (crates/restore), with a safety backup
//! first and the app services always brought back.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use backup::Sidecar;
use camino::{Utf8Path, Utf8PathBuf};
use eyre::{bail, eyre, Context, Result};

use config::Environment;

use crate::backup::{env_for_file, pg_client, take_verified};
use crate::exit;
use crate::interrupt::Interruptible;
use crate::journal::{self, Entry, StepRecord};
use crate::ui::{human_bytes, human_duration};
use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The backup file to restore.
    file: Utf8PathBuf,
    /// Environment to restore into (default: from the file name, `backup_<env>_...`).
    #[arg(long)]
    env: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    yes: bool,
    /// Wait up to this many seconds for a deploy of the environment to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    lock_wait: u64,
}

/// The command that restores `path` into `env`, quoted for a POSIX shell: the
/// way back printed by the deploy pipeline and by restore itself.
pub(crate) fn rollback_hint(path: &Utf8Path, env: &str) -> String {
    format!("cargo xtask restore {} --env {}", shell_quote(path.as_str()), shell_quote(env))
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let start = Instant::now();
    let mut journal = Journal::default();
    let result = restore(ctx, args, &mut journal);
    // The riskiest command leaves its line in the journal whatever happened,
    // once the environment (and so its backups folder) is known.
    if let Some(env) = &journal.env {
        let error = result.as_ref().err().map(|e| compose::redact_url(&format!("{e:#}")));
        let entry = Entry {
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            user: deploylock::current_user(),
            commit: None,
            environment: env.name.clone(),
            pipeline: "restore".to_owned(),
            ok: error.is_none(),
            seconds: start.elapsed().as_secs_f64(),
            steps: journal.steps.clone(),
            backup: journal.safety.as_ref().map(|p| p.to_string()),
            error,
        };
        if let Err(e) = journal::append(&env.backups, &entry) {
            ctx.ui.warn(format!("cannot write the journal line of this restore: {e:#}"));
        }
    }
    result
}

/// What the journal line of a restore records.
#[derive(Default)]
struct Journal {
    env: Option<Environment>,
    safety: Option<Utf8PathBuf>,
    steps: Vec<StepRecord>,
}

impl Journal {
    fn step(&mut self, name: &str, since: Instant, result: &str, outcome: &str) {
        self.steps.push(StepRecord::new(name, since.elapsed(), result, outcome));
    }
}

fn restore(ctx: &Ctx, args: Args, journal: &mut Journal) -> Result<()> {
    let ui = ctx.ui;
    let start = Instant::now();

    // STEP 1: verify and read the whole file before touching anything.
    let verified = backup::verify(&args.file).map_err(|e| exit::refused(e.into()))?;
    if verified.sidecar == Sidecar::Missing {
        ui.warn(format!(
            "{} has no .sha256 sidecar (not made by drydock?): accepted on its completeness trailer alone",
            verified.path
        ));
    }
    let env_name = env_for_file(&args.file, args.env.as_deref()).map_err(exit::refused)?;
    if let Some((from, _)) = args.file.file_name().and_then(backup::parse_name) {
        if from != env_name {
            ui.warn(ui.bold(&format!(
                "CROSS-ENVIRONMENT RESTORE: {} is a backup of `{from}` and will replace the database of `{env_name}`",
                verified.path
            )));
        }
    }
    let env = ctx.env(&env_name).map_err(exit::refused)?;
    journal.env = Some(env.clone());
    let compose = ctx.compose(&env)?;
    // psql in the container counts rows; the replay connects where migrate does.
    let client = pg_client(ctx, &env, &compose)?.with_driver_url(&ctx.database_url(&compose)?)?;
    let t = Instant::now();
    let checked = match restore::check(&client, &verified) {
        Ok(checked) => checked,
        Err(e) => {
            let refused = e.outcome() == restore::Outcome::Refused;
            journal.step("check", t, if refused { "refused" } else { "failed" }, &e.to_string());
            return Err(if refused { exit::refused(eyre!(e)) } else { eyre!(e) });
        }
    };
    journal.step("check", t, "ok", &format!("{} COPY blocks, every statement one pg_dump writes", checked.copy_blocks));
    if checked.large_object_blocks > 0 {
        ui.line(format!(
            "{} large-object transactions of pg_dump are folded into the restore's single transaction",
            checked.large_object_blocks
        ));
    }
    ui.line(format!(
        "restore {} ({}) into `{}`: its database `{}` will be replaced; app services {} stop meanwhile",
        verified.path,
        human_bytes(verified.size),
        env.name,
        client.database().dbname,
        env.app_services.names().join(", ")
    ));

    // STEP 2: the operator confirms.
    confirm(ctx, &env.name, args.yes).map_err(exit::refused)?;

    // STEP 3: no deploy meanwhile; the way back, a verified backup of the current database.
    let guard = Interruptible::enter()?;
    let lock = deploylock::acquire(
        &ctx.database_url(&compose)?,
        &ctx.backups_dir_of(&env)?,
        &env.name,
        &format!("cargo xtask restore {}", verified.path),
        Duration::from_secs(args.lock_wait),
    )
    .map_err(|e| exit::refused(eyre!("{e}")))
    .wrap_err("refusing to restore while the deploy lock is held; nothing was changed")?;
    if let Some(stale) = &lock.stale {
        ui.warn(format!("replaced the lock file of a run that ended without releasing it: {stale}"));
    }
    let t = Instant::now();
    let safety = match take_verified(ctx, &env) {
        Ok(safety) => safety,
        Err(e) => {
            journal.step("safety backup", t, "failed", &format!("{e:#}"));
            return Err(e.wrap_err("the safety backup failed; nothing was changed"));
        }
    };
    journal.step("safety backup", t, "ok", safety.as_str());
    journal.safety = Some(safety.clone());
    let way_back = rollback_hint(&safety, &env.name);
    ui.line(format!("way back: {way_back}"));

    // STEP 4: stop the app, replay, start the app again whatever happened.
    let health = Duration::from_secs(env.health_timeout_secs);
    let t = Instant::now();
    let outage = restore::with_app_stopped(&compose, health, || {
        ui.line(format!("stopped {}; replaying in one transaction", env.app_services.names().join(", ")));
        let bar = ui.bytes_bar(Some(verified.size), "restoring");
        let replayed = restore::replay(&client, &verified, guard.flag(), &mut |n| bar.set_position(n));
        bar.finish_and_clear();
        replayed
    });
    drop(guard);
    let app_state = match &outage.restart {
        Ok(()) => format!("app services {} are running and healthy", env.app_services.names().join(", ")),
        Err(e) => format!("app services did NOT come back healthy ({e}): check `cargo xtask status {}`", env.name),
    };
    let replayed = match outage.work {
        Ok(replayed) => replayed,
        Err(e) => {
            // Only what the server confirmed is said (crates/restore decides which it is).
            let (result, mark): (&str, fn(eyre::Report) -> eyre::Report) = match e.outcome() {
                restore::Outcome::Refused => ("refused", exit::refused),
                restore::Outcome::Unchanged | restore::Outcome::RolledBack => ("rolled back", exit::failed),
                restore::Outcome::Unknown => ("outcome unknown", exit::unknown),
            };
            journal.step("replay", t, result, &e.to_string());
            let next = if e.outcome() == restore::Outcome::Unknown {
                format!("to be sure, restore the safety backup: {way_back}")
            } else {
                format!("the safety backup is {safety}")
            };
            return Err(mark(eyre!("{e}\n{app_state}; {next}")));
        }
    };
    journal.step("replay", t, "ok", &format!("restored from {}", verified.path));
    if outage.restart.is_err() {
        bail!("the database was restored from {}, but {app_state}", verified.path);
    }

    // STEP 5: report.
    let counts = restore::table_counts(&client)?;
    let rows: Vec<Vec<String>> = counts.iter().map(|(t, n)| vec![t.clone(), n.to_string()]).collect();
    ui.table(&["TABLE", "ROWS"], &rows);
    ui.line(format!(
        "{} {} tables, {} replayed in {} (total {}); {app_state}",
        ui.green("restored:"),
        counts.len(),
        human_bytes(replayed.bytes),
        human_duration(replayed.duration),
        human_duration(start.elapsed())
    ));
    match crate::migrate::pending_count(ctx, &env, &compose) {
        Ok(0) => ui.line("migrations: none pending"),
        Ok(n) => ui.warn(format!(
            "{n} migrations are pending after this restore: apply them with `cargo xtask migrate {}`",
            env.name
        )),
        Err(e) => ui.warn(format!(
            "cannot tell whether migrations are pending ({e:#}): check with `cargo xtask status {}`",
            env.name
        )),
    }
    ui.line(format!("to undo this restore: {}", rollback_hint(&safety, &env.name)));
    lock.release();
    Ok(())
}

/// On a terminal the operator types the environment's name; otherwise `--yes` is required.
fn confirm(ctx: &Ctx, env: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to restore without confirmation: stdin is not a terminal; pass --yes to confirm");
    }
    print!("{} ", ctx.ui.bold(&format!("type `{env}` to replace the database of {env}:")));
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != env {
        bail!("confirmation did not match `{env}`; nothing was changed");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
