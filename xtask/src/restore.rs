//! `cargo xtask restore <file> [--env ENV] [--yes]`: replay a backup into an
//! environment's database atomically (crates/restore), with a safety backup
//! first and the app services always brought back.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use backup::Sidecar;
use camino::{Utf8Path, Utf8PathBuf};
use eyre::{bail, eyre, Context, Result};

use crate::backup::{env_for_file, pg_client, take_verified};
use crate::interrupt::Interruptible;
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
    let ui = ctx.ui;
    let start = Instant::now();

    // STEP 1: verify the file before touching anything.
    let verified = backup::verify(&args.file)?;
    if verified.sidecar == Sidecar::Missing {
        ui.warn(format!(
            "{} has no .sha256 sidecar (not made by drydock?): accepted on its completeness trailer alone",
            verified.path
        ));
    }
    let env_name = env_for_file(&args.file, args.env.as_deref())?;
    if let Some((from, _)) = args.file.file_name().and_then(backup::parse_name) {
        if from != env_name {
            ui.warn(ui.bold(&format!(
                "CROSS-ENVIRONMENT RESTORE: {} is a backup of `{from}` and will replace the database of `{env_name}`",
                verified.path
            )));
        }
    }
    let env = ctx.env(&env_name)?;
    let compose = ctx.compose(&env)?;
    let client = pg_client(ctx, &env, &compose)?;
    let checked = restore::check(&client, &verified)?;
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
    confirm(ctx, &env.name, args.yes)?;

    // STEP 3: no deploy meanwhile; the way back, a verified backup of the current database.
    let guard = Interruptible::enter()?;
    let lock = deploylock::acquire(
        &ctx.database_url(&compose)?,
        &ctx.backups_dir_of(&env)?,
        &env.name,
        &format!("cargo xtask restore {}", verified.path),
        Duration::from_secs(args.lock_wait),
    )
    .map_err(|e| eyre!("{e}"))
    .wrap_err("refusing to restore while the deploy lock is held; nothing was changed")?;
    if let Some(stale) = &lock.stale {
        ui.warn(format!("replaced the lock file of a run that ended without releasing it: {stale}"));
    }
    let safety = take_verified(ctx, &env).wrap_err("the safety backup failed; nothing was changed")?;
    ui.line(format!("way back: {}", rollback_hint(&safety, &env.name)));

    // STEP 4: stop the app, replay, start the app again whatever happened.
    let health = Duration::from_secs(env.health_timeout_secs);
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
            return Err(eyre!("{e}\n{app_state}; the safety backup is {safety}"))
                .wrap_err("restore failed, the database is unchanged");
        }
    };
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
