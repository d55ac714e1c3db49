//! `cargo xtask restore <file> [--env ENV] [--yes] [--dry-run]`: replay a
//! backup into an environment's database atomically (crates/restore), as the
//! `restore` pipeline: check → lock → safety backup → stop → replay → start →
//! unlock → report (steps in `steps.rs`, run by `pipeline.rs`).

use std::time::Duration;

use backup::Sidecar;
use camino::Utf8PathBuf;
use compose::Compose;
use config::Environment;
use eyre::Result;

use crate::backup::{env_for_file, pg_client};
use crate::exit;
use crate::pipeline::{self, Options, Run, RESTORE};
use crate::steps::RestoreInput;
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
    /// Check the file and print what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `cargo xtask restore`: the file verified and the environment resolved
/// (refusals, nothing changed), then the restore pipeline through the one
/// runner (journal line, `--dry-run`, the app services always back).
pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let ui = ctx.ui;
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
    let compose = ctx.compose(&env)?;
    let options =
        Options { dry_run: args.dry_run, lock_wait: Duration::from_secs(args.lock_wait), ..Options::default() };
    restore_into(ctx, env, compose, verified, args.yes, options)
}

/// Runs the restore pipeline of `verified` into `env` (`confirmed`: `--yes`).
pub(crate) fn restore_into(
    ctx: &Ctx,
    env: Environment,
    compose: Compose,
    verified: backup::Verified,
    confirmed: bool,
    options: Options,
) -> Result<()> {
    // psql where pg_dump runs reads the file's check; the replay connects
    // where the safety backup's identity check proved the database is.
    let client = pg_client(ctx, &env, &compose)?;
    let mut run = Run::new(ctx, env, compose, RESTORE.name, options);
    run.command = format!("cargo xtask restore {}", verified.path);
    run.restore = Some(RestoreInput { verified, client, confirmed, replayed: None });
    pipeline::run(&RESTORE, run)
}
