//! `cargo xtask backup [ENV]`, `cargo xtask backup verify FILE` and
//! `cargo xtask backups [ENV]`: verified backups (crates/backup), their
//! listing and retention; and the Ctrl-C/SIGTERM guard that backup and
//! restore share.

use backup::{PgClient, PgTool, Sidecar, VerifyError};
use std::sync::atomic::{AtomicBool, Ordering};

use camino::{Utf8Path, Utf8PathBuf};
use config::{Environment, PgDumpLocation};
use eyre::{bail, Context, Result};

use crate::interrupt::Interruptible;
use crate::ui::{human_bytes, human_duration, Progress};
use crate::Ctx;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Environment to back up.
    #[arg(default_value = "prod")]
    env: String,
    /// Afterwards keep only the newest N backups of this environment
    /// (default: `keep-backups` in Cargo.toml, else keep all).
    #[arg(long, value_name = "N")]
    keep: Option<usize>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check a backup's trailer and sha256 sidecar; with --restore-test, also
    /// restore it into a scratch database and compare row counts.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The backup file.
    file: Utf8PathBuf,
    /// Restore into a scratch database on the environment's server, compare
    /// each table's rows with the file, drop the scratch database.
    #[arg(long)]
    restore_test: bool,
    /// Environment whose server runs the restore test (default: from the file name).
    #[arg(long)]
    env: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Environment whose backups to list (default: all).
    env: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    if let Some(Command::Verify(verify_args)) = args.command {
        return verify(ctx, verify_args);
    }
    let env = ctx.env(&args.env)?;
    let progress = ctx.ui.progress(&format!("backing up {}", env.name()));
    let taken = take_verified(ctx, &env, &progress);
    progress.finish();
    taken?;
    if let Some(keep) = args.keep.or(env.keep_backups()) {
        prune(ctx, &env, keep)?;
    }
    Ok(())
}

/// Takes a verified backup of `env` and returns its path (`cargo xtask
/// backup`). Reports bytes to `progress`; prints path, size, duration and
/// throughput.
pub(crate) fn take_verified(ctx: &Ctx, env: &Environment, progress: &Progress) -> Result<Utf8PathBuf> {
    let client = pg_client(ctx, env, &ctx.compose(env)?)?;
    take_verified_unless(ctx, env, &client, progress, &AtomicBool::new(false))
}

/// A verified backup of the database that is about to change: the BACKUP
/// step of every pipeline, and the backups before `migrate` and `migrate
/// baseline`. The identity check ([`ensure_backup_covers_target`]) runs
/// while pg_dump streams, each mostly waiting on the engine and the server
/// (side by side, the backup step of a small database went from 0.30 to
/// 0.23 s), and the backup is returned only when both succeeded, so still
/// before the first mutation. A refusing check stops the dump (pg_dump
/// killed, its server session ended, the partial file removed); one that
/// refuses after the dump finished names the backup that was written, a
/// verified backup of the database pg_dump reaches. A check that panics
/// stops the dump too, then the panic goes on.
pub(crate) fn take_verified_of_target(ctx: &Ctx, env: &Environment, progress: &Progress) -> Result<OfTarget> {
    let compose = ctx.compose(env)?;
    // One client for the dump and the check's psql: both run where pg_dump runs.
    let client = pg_client(ctx, env, &compose)?;
    let refused = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let check = scope.spawn(|| {
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ensure_backup_covers_target(ctx, &compose, &client, &env.name())
            }));
            refused.store(!matches!(checked, Ok(Ok(_))), Ordering::Relaxed);
            checked
        });
        let taken = take_verified_unless(ctx, env, &client, progress, &refused);
        let checked = match check.join() {
            Ok(Ok(checked)) => checked,
            Ok(Err(panic)) | Err(panic) => std::panic::resume_unwind(panic),
        };
        // The check's error leads, with its mark (a mismatch is a refusal,
        // exit 2; a check that could not ask a failure, 1).
        match (checked, taken) {
            (Ok(target_url), taken) => taken.map(|path| OfTarget { path, target_url }),
            (Err(check), Ok(path)) => Err(check.wrap_err(format!(
                "the backup written meanwhile, {path}, is of the database pg_dump reaches, not known to be the target"
            ))),
            // The dump stopped because of the check, or failed on its own: say so too.
            (Err(check), Err(dump)) if !is_interrupted(&dump) => {
                Err(check.wrap_err(format!("the backup failed as well ({dump:#})")))
            }
            (Err(check), Err(_)) => Err(check),
        }
    })
}

/// A verified backup of the database about to change, and the URL the
/// identity check proved reaches that database: a mutation that follows much
/// later (a restore's replay, after the prompt and the lock) connects there.
pub(crate) struct OfTarget {
    pub(crate) path: Utf8PathBuf,
    /// Contains the password: never print it.
    pub(crate) target_url: String,
}

fn is_interrupted(report: &eyre::Report) -> bool {
    report
        .chain()
        .any(|cause| matches!(cause.downcast_ref::<backup::BackupError>(), Some(backup::BackupError::Interrupted)))
}

/// The error of a failed backup before migrations: a refusal (a backup
/// that would not be of the target) stands alone, since `--skip-backup` is
/// no fix for it; any other failure says how to go on.
pub(crate) fn before_migration(e: eyre::Report) -> eyre::Report {
    match crate::exit::of(&e) {
        crate::exit::Exit::Refused => e,
        _ => e.wrap_err("the pre-migration backup failed, nothing was migrated: fix the backup, or pass --skip-backup"),
    }
}

/// [`take_verified`], with pg_dump stopped (and its partial file removed)
/// as soon as `refused` is set, as on Ctrl-C.
fn take_verified_unless(
    ctx: &Ctx,
    env: &Environment,
    client: &PgClient,
    progress: &Progress,
    refused: &AtomicBool,
) -> Result<Utf8PathBuf> {
    let dir = ctx.backups_dir_of(env)?;
    let guard = Interruptible::enter()?;
    let ui = ctx.ui;
    if !ui.tty {
        progress.line(format!("backing up {} with {} into {dir} ...", env.name(), client.describe(PgTool::PgDump)));
    }
    let interrupted = guard.flag();
    let cancel = || interrupted.load(Ordering::Relaxed) || refused.load(Ordering::Relaxed);
    let result = backup::dump(&client, &dir, env.name(), &cancel, &mut |written| progress.bytes(written, None));
    let backup = result.wrap_err_with(|| format!("the backup of {} failed", env.name()))?;
    progress.line(format!(
        "{} {} ({}, {}, {}/s)",
        ui.green("backup:"),
        backup.path,
        human_bytes(backup.size),
        human_duration(backup.duration),
        human_bytes(backup.throughput() as u64)
    ));
    Ok(backup.path)
}

/// Refuses unless the backup [`take_verified`] takes of `env` is of the
/// database that is about to change ([`Ctx::database_url`]): in container
/// mode pg_dump reads the compose database, while `DATABASE_URL` may point
/// elsewhere. [`take_verified_of_target`] runs it beside the dump.
fn ensure_backup_covers_target(ctx: &Ctx, compose: &compose::Compose, client: &PgClient, env: &str) -> Result<String> {
    // Both sides at once: psql where pg_dump runs (`client`), and drydock's
    // own connection to the target, found on its own.
    let (dumper, target) = std::thread::scope(|scope| {
        let target = scope.spawn(|| ctx.database_url(compose).and_then(|url| Ok((target_identity(&url)?, url))));
        let dumper = dumper_identity(client);
        (dumper, target.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    // The dumper side's error leads.
    let dumper = dumper?;
    let (target, url) = target.wrap_err(CANNOT_CHECK)?;
    compare_identities(dumper, target, env)?;
    Ok(url)
}

/// Which database a session reaches: its cluster, port and name.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    system_identifier: String,
    /// The server's `port` setting: `inet_server_port()` is NULL over the
    /// container's Unix socket, where pg_dump connects in container mode.
    port: String,
    database: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database `{}` on port {} of cluster {}", self.database, self.port, self.system_identifier)
    }
}

/// One line, `sysid|port|name` (the name last: it may contain `|`).
const IDENTITY_SQL: &str = "SELECT (SELECT system_identifier FROM pg_control_system())::text || '|' || current_setting('port') || '|' || current_database()";

fn parse_identity(line: &str) -> Option<Identity> {
    let mut parts = line.trim_end_matches(['\r', '\n']).splitn(3, '|');
    Some(Identity {
        system_identifier: parts.next()?.to_owned(),
        port: parts.next()?.to_owned(),
        database: parts.next()?.to_owned(),
    })
}

/// What cannot be checked stays a failure (exit 1), not a refusal.
const CANNOT_CHECK: &str = "cannot check that the backup is of the database being changed, nothing was changed";

/// Refuses, naming what differs, unless `client` (where pg_dump runs) and
/// `url` (what gets changed) reach the same database.
#[cfg(test)]
fn ensure_same_database(client: &PgClient, url: &str, env: &str) -> Result<()> {
    compare_identities(dumper_identity(client)?, target_identity(url).wrap_err(CANNOT_CHECK)?, env)
}

/// The database pg_dump would read, asked with psql where pg_dump runs, and
/// how to name that place in messages.
fn dumper_identity(client: &PgClient) -> Result<(Identity, String)> {
    let out = client
        .query(IDENTITY_SQL)
        .wrap_err_with(|| format!("{CANNOT_CHECK}: asking {} failed", client.describe(PgTool::Psql)))?;
    let identity = parse_identity(&out).ok_or_else(|| {
        eyre::eyre!("{CANNOT_CHECK}: unexpected answer from {}: {out:?}", client.describe(PgTool::Psql))
    })?;
    Ok((identity, client.describe(PgTool::PgDump)))
}

/// Refuses (exit 2), naming what differs, unless pg_dump's database is the target.
fn compare_identities((backup, dumper): (Identity, String), target: Identity, env: &str) -> Result<()> {
    let mut differs = Vec::new();
    if backup.system_identifier != target.system_identifier {
        differs.push("cluster (system identifier)");
    }
    if backup.port != target.port {
        differs.push("port");
    }
    if backup.database != target.database {
        differs.push("database name");
    }
    if differs.is_empty() {
        return Ok(());
    }
    let fix = if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        format!("DATABASE_URL is set and overrides the target: unset it to work on {env}'s compose database, or, if it points at the right database outside compose, set `pg-dump = \"host\"` for {env} in [workspace.metadata.deploy] so pg_dump uses that URL too")
    } else {
        format!("set `pg-dump = \"host\"` for {env} in [workspace.metadata.deploy] so pg_dump uses the same URL")
    };
    // A refusal (exit 2): the configuration, not a failure, stands in the way.
    Err(crate::exit::refused(eyre::eyre!(
        "refusing to go on, nothing was changed: the backup would not be of the database being changed ({} differ): {dumper} reaches {backup}, but the target URL reaches {target}; {fix}",
        differs.join(", ")
    )))
}

/// [`Identity`] of the database at `url`, over tokio-postgres like the migration.
fn target_identity(url: &str) -> Result<Identity> {
    let rt = crate::db::runtime()?;
    rt.block_on(async {
        let client = migrate::connect(url).await?;
        let row = client
            .query_one(IDENTITY_SQL, &[])
            .await
            .map_err(|e| eyre::eyre!("cannot read the identity of the target database: {e}"))?;
        let line: String = row.get(0);
        parse_identity(&line).ok_or_else(|| eyre::eyre!("unexpected identity of the target database: {line:?}"))
    })
}

/// How pg_dump and psql reach `env`'s database: inside the database
/// container (default), or the host's programs over the URL (`pg-dump = "host"`).
pub(crate) fn pg_client(ctx: &Ctx, env: &Environment, compose: &compose::Compose) -> Result<PgClient> {
    Ok(match env.pg_dump() {
        PgDumpLocation::Container => PgClient::container(compose)?,
        PgDumpLocation::Host => PgClient::host(&ctx.database_url(compose)?)?,
    })
}

fn prune(ctx: &Ctx, env: &Environment, keep: usize) -> Result<()> {
    let removed = backup::prune(&env.backups(), &env.name(), keep)?;
    for path in &removed {
        ctx.ui.line(format!("retention (keep {keep}): deleted {path}"));
    }
    Ok(())
}

fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<()> {
    let ui = ctx.ui;
    let verified = backup::verify(&args.file)?;
    match &verified.sidecar {
        Sidecar::Matched => ui.line(format!(
            "{} {} ({}): trailer present, sha256 matches its sidecar",
            ui.green("ok:"),
            verified.path,
            human_bytes(verified.size)
        )),
        Sidecar::Missing => {
            ui.line(format!("{} {} ({}): trailer present", ui.green("ok:"), verified.path, human_bytes(verified.size)));
            ui.warn(format!("{} has no .sha256 sidecar: only its trailer vouches for it", verified.path));
        }
    }
    if !args.restore_test {
        return Ok(());
    }
    let env = ctx.env(&env_for_file(&args.file, args.env.as_deref())?)?;
    let compose = ctx.compose(&env)?;
    let client = pg_client(ctx, &env, &compose)?;
    let guard = Interruptible::enter()?;
    let progress = ui.progress(&format!("restoring into a scratch database on {}'s server", env.name()));
    let test = restore::restore_test(&client, &verified, guard.flag());
    progress.finish();
    let test = test.wrap_err("the restore test failed")?;
    let rows: Vec<Vec<String>> = test
        .tables
        .iter()
        .map(|t| {
            let restored = t.restored.map_or("missing".to_owned(), |n| n.to_string());
            let ok = if t.restored == Some(t.in_file) { ui.green("ok") } else { ui.red("MISMATCH") };
            vec![t.table.clone(), t.in_file.to_string(), restored, ok]
        })
        .collect();
    ui.table(&["TABLE", "ROWS IN FILE", "ROWS RESTORED", ""], &rows);
    let bad = test.mismatches();
    if !bad.is_empty() {
        bail!(
            "{} of {} tables restored with different row counts: do not rely on {}",
            bad.len(),
            test.tables.len(),
            verified.path
        );
    }
    ui.line(format!(
        "{} restored {} tables into {} and dropped it again in {}",
        ui.green("restore test passed:"),
        test.tables.len(),
        test.database,
        human_duration(test.duration)
    ));
    Ok(())
}

/// The environment a backup file belongs to: `--env` if given, else the
/// `backup_<env>_...` file name.
pub(crate) fn env_for_file(file: &Utf8Path, flag: Option<&str>) -> Result<String> {
    if let Some(env) = flag {
        return Ok(env.to_owned());
    }
    match file.file_name().and_then(backup::parse_name) {
        Some((env, _)) => Ok(env),
        None => bail!("cannot tell the environment from the file name {file} (not backup_<env>_YYYYMMDD_HHMMSS.sql): pass --env ENV"),
    }
}

pub(crate) fn list(ctx: &Ctx, args: ListArgs) -> Result<()> {
    let dir = match &args.env {
        Some(name) => ctx.env(name)?.backups().to_owned(),
        None => ctx.config.backups.clone(),
    };
    let backups = backup::list(&dir, args.env.as_deref())?;
    if backups.is_empty() {
        ctx.ui.line(format!("no backups in {dir}: take one with `cargo xtask backup ENV`"));
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    let rows: Vec<Vec<String>> = backups
        .iter()
        .map(|b| {
            let status = match backup::verify(&b.path) {
                Ok(v) if v.sidecar == Sidecar::Matched => ctx.ui.green("ok"),
                Ok(_) => ctx.ui.yellow("no sidecar"),
                Err(VerifyError::ChecksumMismatch { .. }) => ctx.ui.red("MISMATCH"),
                Err(VerifyError::Truncated { .. }) => ctx.ui.red("INCOMPLETE"),
                Err(e) => ctx.ui.red(&format!("BAD: {e}")),
            };
            let name = b.path.file_name().unwrap_or(b.path.as_str()).to_owned();
            vec![name, human_bytes(b.size), human_age(now - b.taken_at), status]
        })
        .collect();
    ctx.ui.table(&["NAME", "SIZE", "AGE", "CHECKSUM"], &rows);
    Ok(())
}

fn human_age(age: time::Duration) -> String {
    let secs = age.whole_seconds().max(0);
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use backup::PgClient;
    use testbench::{Cluster, Durability};

    use super::ensure_same_database;

    #[test]
    fn the_backup_must_reach_the_database_being_changed() {
        let cluster = Cluster::shared();
        let db = cluster.database();
        let client = PgClient::host(&db.url).unwrap();
        ensure_same_database(&client, &db.url, "dev").map_err(|e| format!("{e:#}")).unwrap();
        // Prisma's `?schema=` is the same database.
        ensure_same_database(&client, &format!("{}?schema=app", db.url), "dev").unwrap();

        let other = cluster.database();
        let err = format!("{:#}", ensure_same_database(&client, &other.url, "dev").unwrap_err());
        assert!(err.contains("(database name differ)"), "{err}");
        assert!(err.contains(&db.name) && err.contains(&other.name), "{err}");
        assert!(err.contains("pg-dump = \"host\""), "{err}");
        assert!(!err.contains("postgresql://"), "{err}");

        // Same database name, another cluster.
        let second = Cluster::start(Durability::Fast).unwrap();
        let first = PgClient::host(&cluster.url()).unwrap();
        let err = format!("{:#}", ensure_same_database(&first, &second.url(), "dev").unwrap_err());
        assert!(err.contains("cluster (system identifier), port"), "{err}");
    }
}
