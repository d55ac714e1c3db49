//! `cargo xtask migrate ENV` (and `migrate status|new|resolve`): Prisma-compatible migrations over `crates/migrate`.

use std::time::{Duration, Instant};

use config::Environment;
use eyre::{Context, Result};
use migrate::{Event, Mode, Options, Problem, Resolution};
use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::exit::Exit;
use crate::ui::{human_duration, Progress};
use crate::Ctx;

/// `migrate ENV [flags]` applies pending migrations; the subcommands inspect and repair.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Environment to migrate (prod, dev).
    #[arg(required = true)]
    env: Option<String>,
    #[command(flatten)]
    flags: Flags,
}

/// How `migrate ENV` deploys.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub(crate) struct Flags {
    /// Print the plan (pending migrations, tx/no-tx, lint findings) and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Go on although applied migration files changed (checksum drift).
    #[arg(long)]
    pub(crate) allow_drift: bool,
    /// Go on although applied migrations have no folder.
    #[arg(long)]
    pub(crate) allow_missing: bool,
    /// Apply pending migrations that sort before the latest applied one.
    #[arg(long)]
    pub(crate) allow_out_of_order: bool,
    /// Do not take the verified backup before applying.
    #[arg(long)]
    pub(crate) skip_backup: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Compare the migrations folder with the database; exit non-zero unless up to date.
    Status {
        /// Environment (prod, dev).
        env: String,
    },
    /// Create `<UTC timestamp>_<name>/migration.sql` (and migration_lock.toml if missing).
    New {
        /// What the migration does, e.g. `add_users`.
        name: String,
    },
    /// Record a failed migration as rolled back, or a migration as applied (baselining).
    Resolve(ResolveArgs),
    /// Adopt a database made without migrations (`prisma db push`): after a verified backup, apply the
    /// folder to a scratch database on the same server, and only if its schema equals the live one record
    /// every migration as applied; otherwise print the differences and change nothing.
    Baseline {
        /// Environment (prod, dev).
        env: String,
    },
}

#[derive(clap::Args)]
struct ResolveArgs {
    /// The migration is in the database (finished by hand, or part of a baseline).
    #[arg(long, value_name = "NAME", required_unless_present = "rolled_back", conflicts_with = "rolled_back")]
    applied: Option<String>,
    /// The failed migration's changes were undone: run it again next time.
    #[arg(long, value_name = "NAME")]
    rolled_back: Option<String>,
    /// Environment (prod, dev).
    env: String,
}

/// Whether `deploy` takes the pre-migration backup.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backup {
    /// Take a verified backup when anything is pending.
    Take,
    /// The calling pipeline took one this run.
    AlreadyTaken,
    /// `--skip-backup`.
    Skip,
}

/// What `cargo xtask migrate` was asked: `migrate ENV` is a pipeline (run by
/// `deploy.rs` through the one runner); the subcommands run here.
pub(crate) enum Parsed {
    /// `migrate ENV [flags]`.
    Env(String, Flags),
    /// `migrate status|new|resolve|baseline`.
    Subcommand(Args),
}

impl Args {
    /// Splits `migrate ENV` from the subcommands.
    pub(crate) fn parsed(self) -> Parsed {
        match (&self.command, &self.env) {
            (None, Some(env)) => Parsed::Env(env.clone(), self.flags),
            _ => Parsed::Subcommand(self),
        }
    }
}

/// The subcommands of `cargo xtask migrate`.
pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    match args.command {
        Some(Command::Status { env }) => status(ctx, &ctx.env(&env)?),
        Some(Command::New { name }) => new(ctx, &name),
        Some(Command::Resolve(r)) => resolve(ctx, r),
        Some(Command::Baseline { env }) => baseline(ctx, &ctx.env(&env)?),
        None => Err(crate::exit::refused(eyre::eyre!("name an environment: `cargo xtask migrate ENV`"))),
    }
}

/// The plan of `env`'s pending migrations (`local`, the folder as the run
/// read it) and the history it was made from, read without the migration
/// lock and without changing anything (`migrate ENV` holds the deploy lock, the
/// dry run none); a refusal (drift, failed migration...) is an error.
pub(crate) fn plan_of(
    ctx: &Ctx,
    env: &Environment,
    local: Result<Vec<migrate::Migration>, migrate::MigrateError>,
    flags: Flags,
) -> Result<(migrate::History, migrate::Plan)> {
    let local = local.map_err(|e| marked(e, env))?;
    let rt = crate::db::runtime()?;
    let client = connect(ctx, env, &rt)?;
    let history = rt.block_on(migrate::read_history(&client, local)).map_err(|e| marked(e, env))?;
    let plan = migrate::plan(&history, &options_of(flags)).map_err(|e| marked(e, env))?;
    Ok((history, plan))
}

/// True when `history` plans cleanly (under `flags`) with nothing to apply.
pub(crate) fn nothing_pending(history: &migrate::History, flags: Flags) -> bool {
    migrate::plan(history, &options_of(flags)).is_ok_and(|plan| plan.pending.is_empty())
}

fn options_of(flags: Flags) -> Options {
    Options {
        allow_drift: flags.allow_drift,
        allow_missing: flags.allow_missing,
        allow_out_of_order: flags.allow_out_of_order,
    }
}

/// Applies the pending migrations of `env` (`local`, the folder as the run
/// read it), `prisma migrate deploy` made safer; returns what it applied.
/// The migrate step of every pipeline calls this; it reports to `progress`
/// and prints nothing itself.
pub(crate) fn deploy(
    ctx: &Ctx,
    env: &Environment,
    local: Result<Vec<migrate::Migration>, migrate::MigrateError>,
    flags: Flags,
    backup: Backup,
    progress: &Progress,
) -> Result<Vec<migrate::Applied>> {
    let ui = &ctx.ui;
    let started = Instant::now();
    // STEP 1: the folder and its lock file, read before connecting.
    let local = local.map_err(|e| marked(e, env))?;
    // STEP 2: connect, set the session's timeouts, take the lock.
    let rt = crate::db::runtime()?;
    let client = connect(ctx, env, &rt)?;
    let settings = migrate::Settings {
        lock_timeout: env.lock_timeout().map(str::to_owned),
        statement_timeout: env.statement_timeout().map(str::to_owned),
    };
    rt.block_on(migrate::configure(&client, &settings)).map_err(|e| marked(e, env))?;
    take_lock(env, &rt, &client, progress)?;
    // STEP 3: validate everything before the first change.
    let history = rt.block_on(migrate::read_history(&client, local)).map_err(|e| marked(e, env))?;
    let plan = migrate::plan(&history, &options_of(flags)).map_err(|e| marked(e, env))?;
    if plan.pending.is_empty() {
        rt.block_on(migrate::unlock(&client))?;
        return Ok(Vec::new());
    }
    // STEP 4: the pre-migration backup, while holding the lock.
    match backup {
        Backup::Take => {
            // Under DATABASE_URL the target may not be the database pg_dump reads.
            crate::backup::take_verified_of_target(ctx, env, progress).map_err(crate::backup::before_migration)?;
        }
        Backup::AlreadyTaken => {}
        Backup::Skip => {
            progress.line(format!("{} --skip-backup: migrating without a pre-migration backup", ui.yellow("warning:")))
        }
    }
    // STEP 5: apply, one line per migration.
    let total = plan.pending.len();
    let mut done = 0;
    let result = rt.block_on(migrate::apply(&client, &plan, |event| match event {
        Event::Started { pending, .. } => progress.message(&format!("{}/{total} {}", done + 1, pending.migration.name)),
        Event::Applied(a) => {
            done += 1;
            progress.line(format!("  applied {}  {}  {}", a.name, a.mode, human_duration(a.duration)));
        }
    }));
    let applied = result.map_err(|e| marked(e, env))?;
    rt.block_on(migrate::unlock(&client))?;
    // STEP 6: summary.
    let (tx, no_tx) = applied.iter().fold((0, 0), |(t, n), a| match a.mode {
        Mode::Transaction => (t + 1, n),
        Mode::NoTransaction => (t, n + 1),
    });
    progress.line(format!(
        "{}: applied {} migrations to {} ({tx} tx, {no_tx} no-tx) in {}",
        ui.green("ok"),
        applied.len(),
        env.name(),
        human_duration(started.elapsed())
    ));
    Ok(applied)
}

/// `migrate status ENV`: exit 0 only when nothing is pending and nothing is wrong.
fn status(ctx: &Ctx, env: &Environment) -> Result<()> {
    let ui = &ctx.ui;
    let local = migrate::load_dir(&env.migrations())?;
    let rt = crate::db::runtime()?;
    let client = connect(ctx, env, &rt)?;
    let history = rt.block_on(migrate::read_history(&client, local))?;
    let status = migrate::status(&history);
    let mut rows = Vec::new();
    for m in &history.local {
        let state = if status.applied.contains(&m.name) {
            ui.green("applied")
        } else if status.pending.iter().any(|p| p.name == m.name) {
            ui.yellow("pending")
        } else {
            ui.red("failed")
        };
        rows.push(vec![m.name.clone(), state]);
    }
    for p in &status.problems {
        if let Problem::Missing { name } = p {
            rows.push(vec![name.clone(), ui.red("applied, folder missing")]);
        }
    }
    ui.table(&["MIGRATION", "STATE"], &rows);
    for p in &status.problems {
        ui.line(format!("{} {}", ui.red("problem:"), p.in_env(&env.name())));
    }
    if status.is_up_to_date() {
        ui.line(format!(
            "{}: {} migrations applied, {} is up to date",
            ui.green("ok"),
            status.applied.len(),
            env.name()
        ));
        return Ok(());
    }
    eyre::bail!(
        "{} is not up to date: {} pending, {} problems; apply with `cargo xtask migrate {}` (or `--dry-run` to see the plan)",
        env.name(),
        status.pending.len(),
        status.problems.len(),
        env.name()
    )
}

/// `migrate new NAME`.
fn new(ctx: &Ctx, name: &str) -> Result<()> {
    let file = migrate::create(&ctx.config.migrations, name, time::OffsetDateTime::now_utc())?;
    ctx.ui.line(format!("created {file}: write the migration, then apply it with `cargo xtask migrate dev`"));
    Ok(())
}

/// `migrate resolve --applied NAME | --rolled-back NAME ENV`, under the migration lock.
fn resolve(ctx: &Ctx, args: ResolveArgs) -> Result<()> {
    let env = ctx.env(&args.env)?;
    let (name, resolution) = match (args.applied, args.rolled_back) {
        (Some(name), _) => (name, Resolution::Applied),
        (None, Some(name)) => (name, Resolution::RolledBack),
        (None, None) => eyre::bail!("pass --applied NAME or --rolled-back NAME"),
    };
    let local = migrate::load_dir(&env.migrations()).map_err(|e| marked(e, &env))?;
    let rt = crate::db::runtime()?;
    let client = connect(ctx, &env, &rt)?;
    take_lock(&env, &rt, &client, &Progress::hidden(ctx.ui))?;
    let history = rt.block_on(migrate::read_history(&client, local)).map_err(|e| marked(e, &env))?;
    rt.block_on(migrate::resolve(&client, &history, &name, resolution)).map_err(|e| marked(e, &env))?;
    rt.block_on(migrate::unlock(&client))?;
    let what = match resolution {
        Resolution::Applied => "applied",
        Resolution::RolledBack => "rolled back (it runs again on the next deploy)",
    };
    ctx.ui.line(format!("{}: recorded {name} as {what} in {}", ctx.ui.green("ok"), env.name()));
    Ok(())
}

/// `migrate baseline ENV`: prove the live schema is what the migrations give, then record them as applied.
fn baseline(ctx: &Ctx, env: &Environment) -> Result<()> {
    let ui = &ctx.ui;
    // STEP 1: the folder, the connection, the lock, the history.
    let local = migrate::load_dir(&env.migrations()).map_err(|e| marked(e, env))?;
    let rt = crate::db::runtime()?;
    let compose = ctx.compose(env)?;
    let url = ctx.database_url(&compose)?;
    let client = rt.block_on(migrate::connect(&url)).map_err(|e| marked(e, env))?;
    take_lock(env, &rt, &client, &Progress::hidden(ctx.ui))?;
    let history = rt.block_on(migrate::read_history(&client, local)).map_err(|e| marked(e, env))?;
    // STEP 2: a verified backup, unless the baseline refuses before any change anyway.
    if history.rows.is_empty() && !history.local.is_empty() {
        let progress = ui.progress(&format!("backing up {}", env.name()));
        let path = crate::backup::take_verified_of_target(ctx, env, &progress).map(|taken| taken.path);
        progress.finish();
        let path =
            path.wrap_err("the backup before the baseline failed, nothing was changed: fix the backup and run again")?;
        ui.line(format!("backup: {path}"));
    }
    // STEP 3: scratch database, comparison, and the ledger rows only if equal.
    let outcome = rt.block_on(migrate::baseline(&client, &url, &history)).map_err(|e| marked(e, env))?;
    rt.block_on(migrate::unlock(&client)).map_err(|e| marked(e, env))?;
    match outcome {
        migrate::Baseline::Recorded(names) => {
            for name in &names {
                ui.line(format!("  recorded {name}"));
            }
            ui.line(format!(
                "{}: the schema of {} is what the {} migrations give; they are recorded as applied, `cargo xtask migrate {}` applies only newer ones",
                ui.green("ok"),
                env.name(),
                names.len(),
                env.name()
            ));
            Ok(())
        }
        migrate::Baseline::Differs(differences) => {
            for d in &differences {
                ui.line(format!("{} {d}", ui.red("differs:")));
            }
            Err(crate::exit::refused(eyre::eyre!(
                "the schema of {} differs from what the migrations give ({} differences above), nothing was changed: change the migrations (or the database) until they match, then run `cargo xtask migrate baseline {}` again",
                env.name(),
                differences.len(),
                env.name()
            )))
        }
    }
}

/// Number of pending migrations of `env` (for `status`).
pub(crate) fn pending_count(ctx: &Ctx, env: &Environment, compose: &compose::Compose) -> Result<usize> {
    let local = migrate::load_dir(&env.migrations())?;
    Ok(migrate::status(&history(ctx, compose, local)?).pending.len())
}

/// The ledger and the local migrations (`local`), read without changing anything.
pub(crate) fn history(
    ctx: &Ctx,
    compose: &compose::Compose,
    local: Vec<migrate::Migration>,
) -> Result<migrate::History> {
    let url = ctx.database_url(compose).wrap_err("the database is not reachable")?;
    let rt = crate::db::runtime()?;
    let client = rt.block_on(migrate::connect(&url))?;
    Ok(rt.block_on(migrate::read_history(&client, local))?)
}

fn connect(ctx: &Ctx, env: &Environment, rt: &Runtime) -> Result<Client> {
    let compose = ctx.compose(env)?;
    let url = ctx.database_url(&compose)?;
    Ok(rt.block_on(migrate::connect(&url))?)
}

/// Takes the advisory lock, saying who holds it while waiting.
fn take_lock(env: &Environment, rt: &Runtime, client: &Client, progress: &Progress) -> Result<()> {
    let mut last: Option<(i32, Instant)> = None;
    let wait = Duration::from_secs(env.migrate_lock_wait_secs());
    rt.block_on(migrate::lock(client, wait, |holder, waited| {
        let pid = holder.map_or(0, |h| h.pid);
        if last.is_some_and(|(p, at)| p == pid && at.elapsed() < Duration::from_secs(5)) {
            return;
        }
        last = Some((pid, Instant::now()));
        let who = holder.map_or_else(|| "another session".to_owned(), |h| h.to_string());
        progress.line(format!(
            "waiting for the migration lock held by {who} ({} s of {} s)",
            waited.as_secs(),
            wait.as_secs()
        ));
    }))
    .map_err(|e| marked(e, env))?;
    Ok(())
}

/// The plan as lines: accepted problems, the pending migrations' table, destructive findings.
pub(crate) fn plan_table(ctx: &Ctx, env: &Environment, plan: &migrate::Plan) -> Vec<String> {
    let ui = &ctx.ui;
    let mut lines: Vec<String> = plan
        .accepted
        .iter()
        .map(|a| format!("{} accepted: {}", ui.yellow("warning:"), a.in_env(&env.name())))
        .collect();
    if plan.pending.is_empty() {
        return lines;
    }
    lines.push(ui.bold(&format!("{} pending migrations:", plan.pending.len())));
    let rows: Vec<Vec<String>> = plan
        .pending
        .iter()
        .map(|p| {
            let findings = if p.findings.is_empty() {
                "-".to_owned()
            } else {
                ui.yellow(&p.findings.iter().map(|f| f.kind.to_string()).collect::<Vec<_>>().join("; "))
            };
            vec![p.migration.name.clone(), p.mode.to_string(), p.reason.clone(), findings]
        })
        .collect();
    lines.extend(ui.table_lines(&["MIGRATION", "MODE", "WHY", "DESTRUCTIVE"], &rows));
    for finding in plan.pending.iter().flat_map(|p| &p.findings) {
        lines.push(format!("{} destructive: {finding}", ui.yellow("warning:")));
    }
    lines
}

/// A `crates/migrate` error marked with the exit it means ([`meaning`]).
fn marked(e: migrate::MigrateError, env: &Environment) -> eyre::Report {
    let mark = match meaning(&e) {
        Exit::Refused => crate::exit::refused,
        Exit::Failed => crate::exit::failed,
        Exit::Unknown => crate::exit::unknown,
    };
    mark(eyre::eyre!("{}", e.in_env(&env.name())))
}

/// Refused before any change, failed and rolled back as the server confirmed,
/// or outcome unknown.
fn meaning(e: &migrate::MigrateError) -> Exit {
    use migrate::MigrateError as E;
    match e {
        E::Folder { .. }
        | E::LockFile { .. }
        | E::LockTimeout { .. }
        | E::Refused(_)
        | E::Resolve { .. }
        | E::Baseline { .. } => Exit::Refused,
        E::Failed { mode: Mode::Transaction, .. } | E::LexingChanged { .. } => Exit::Failed,
        // A no-tx file may have run in part; a lost connection or an unconfirmed
        // rollback leaves what the server kept unknown.
        E::Failed { mode: Mode::NoTransaction, .. } | E::ConnectionLost { .. } | E::Unconfirmed { .. } => Exit::Unknown,
        E::Connect { .. } | E::Database { .. } => Exit::Failed,
    }
}

#[cfg(test)]
mod tests {
    use migrate::MigrateError as E;

    use super::*;

    #[test]
    fn migrate_errors_exit_with_what_the_server_confirmed() {
        let failed = |mode| E::Failed { name: "m".into(), mode, error: "e".into(), unrecorded: None };
        let cases = [
            (E::Refused(Vec::new()), Exit::Refused),
            (E::Resolve { name: "m".into(), reason: "r".into() }, Exit::Refused),
            (failed(Mode::Transaction), Exit::Failed),
            (E::LexingChanged { name: "m".into(), planned: true, unrecorded: None }, Exit::Failed),
            (failed(Mode::NoTransaction), Exit::Unknown),
            (E::ConnectionLost { name: "m".into(), mode: Mode::Transaction, error: "e".into() }, Exit::Unknown),
            (E::Unconfirmed { name: "m".into(), error: "e".into(), reason: "r".into() }, Exit::Unknown),
        ];
        for (error, exit) in cases {
            assert_eq!(meaning(&error), exit, "{error}");
        }
    }
}
