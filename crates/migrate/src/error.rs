//! What can go wrong, each saying what to do next; [`Problem`]s are what the plan refuses.

use std::fmt;
use std::time::Duration;

use camino::Utf8PathBuf;

use crate::lock::LockHolder;
use crate::mode::{Mode, ScriptError};

/// Why a migrate operation stopped.
#[derive(Debug)]
pub enum MigrateError {
    /// The migrations folder or one of its files cannot be used.
    Folder {
        /// The file or folder concerned.
        path: Utf8PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `migration_lock.toml` names another provider (or none).
    LockFile {
        /// The file or folder concerned.
        path: Utf8PathBuf,
        /// The provider the lock file names, if any.
        provider: Option<String>,
    },
    /// The database cannot be reached.
    Connect {
        /// What is wrong.
        reason: String,
    },
    /// A bookkeeping query failed (not a migration).
    Database {
        /// What drydock was asking the database.
        doing: String,
        /// What is wrong.
        reason: String,
    },
    /// Another session held the advisory lock until the deadline.
    LockTimeout {
        /// How long drydock waited for the lock.
        waited: Duration,
        /// The session that held the lock, when known.
        holder: Option<LockHolder>,
    },
    /// Validation found problems: nothing was changed.
    Refused(Vec<Problem>),
    /// A migration failed. Earlier migrations of the run stay applied.
    Failed {
        /// The migration (its folder name).
        name: String,
        /// How it runs: in a transaction or not.
        mode: Mode,
        /// The server's message, with the line in `migration.sql` when known.
        error: String,
        /// Why the record of the failure (the audit row of a rolled-back
        /// migration, the `logs` of a no-tx one) could not be written, if so.
        unrecorded: Option<String>,
    },
    /// The connection broke while a migration was in flight: whether it (and,
    /// pipelined, the ones sent after it) committed is unknown.
    ConnectionLost {
        /// The migration (its folder name).
        name: String,
        /// How it runs: in a transaction or not.
        mode: Mode,
        /// What the client saw.
        error: String,
    },
    /// A transactional migration failed, but the server did not confirm that
    /// its transaction was rolled back: what it kept is unknown.
    Unconfirmed {
        /// The migration (its folder name).
        name: String,
        /// The server's message for the failure.
        error: String,
        /// Why the rollback is not confirmed.
        reason: String,
    },
    /// The server would lex the migration with another `standard_conforming_strings`
    /// than the plan did (something changed it during the run): it did not run.
    LexingChanged {
        /// The migration (its folder name).
        name: String,
        /// The value the plan lexed it with.
        planned: bool,
        /// Why its rolled-back audit row could not be written, if so.
        unrecorded: Option<String>,
    },
    /// `resolve` cannot do what was asked.
    Resolve {
        /// The migration (its folder name).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `baseline` cannot run (a history exists, no migrations, they do not apply).
    Baseline {
        /// What is wrong.
        reason: String,
    },
}

/// One reason to refuse a deploy, found before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A row with neither `finished_at` nor `rolled_back_at` (Prisma's P3009).
    Failed {
        /// The migration (its folder name).
        name: String,
        /// The error recorded in the row's `logs`, if any.
        logs: Option<String>,
    },
    /// An applied migration's file changed since (line endings aside).
    Drift {
        /// The migration (its folder name).
        name: String,
        /// The file or folder concerned.
        path: Utf8PathBuf,
    },
    /// An applied migration has no folder.
    Missing {
        /// The migration (its folder name).
        name: String,
    },
    /// A pending migration sorts before the latest applied one.
    OutOfOrder {
        /// The migration (its folder name).
        name: String,
        /// The latest applied migration.
        latest_applied: String,
    },
    /// The schema has objects but no `_prisma_migrations` table (Prisma's P3005).
    NotEmpty {
        /// The schema searched.
        schema: String,
        /// How many objects it holds.
        objects: i64,
    },
    /// A pending migration's script cannot be sent safely.
    Script {
        /// The migration (its folder name).
        name: String,
        /// The file or folder concerned.
        path: Utf8PathBuf,
        /// Why the script cannot be sent.
        error: ScriptError,
    },
}

impl MigrateError {
    /// The message with `env` where a suggested `cargo xtask` command names the environment.
    fn render(&self, f: &mut fmt::Formatter<'_>, env: &str) -> fmt::Result {
        match self {
            MigrateError::Folder { path, reason } => write!(f, "cannot use {path}: {reason}"),
            MigrateError::LockFile { path, provider: Some(p) } => write!(
                f,
                "{path} says provider = \"{p}\", but drydock migrates PostgreSQL: set it to \"postgresql\" if these migrations were written for PostgreSQL, else point `migrations` at the right folder"
            ),
            MigrateError::LockFile { path, provider: None } => {
                write!(f, "{path} names no provider: add the line `provider = \"postgresql\"`")
            }
            MigrateError::Connect { reason } => {
                write!(f, "cannot connect to the database ({reason}): check that it runs, or set DATABASE_URL")
            }
            MigrateError::Database { doing, reason } => write!(f, "cannot {doing}: {reason}"),
            MigrateError::LockTimeout { waited, holder } => {
                write!(f, "another session held the migration lock (advisory lock {}) for {} s", crate::lock::KEY, waited.as_secs())?;
                match holder {
                    Some(h) => write!(
                        f,
                        " ({h}): wait for it to finish and retry, raise `migrate-lock-wait`, or if it is a ghost end it with `SELECT pg_terminate_backend({})`",
                        h.pid
                    ),
                    None => write!(f, ": retry, or raise `migrate-lock-wait`"),
                }
            }
            MigrateError::Refused(problems) => {
                write!(f, "refusing to migrate, nothing was changed:")?;
                for p in problems {
                    write!(f, "\n  - {}", p.in_env(env))?;
                }
                Ok(())
            }
            MigrateError::Failed { name, mode: Mode::Transaction, error, unrecorded } => {
                write!(f, "migration {name} failed and was rolled back, nothing of it remains")?;
                match unrecorded {
                    None => write!(f, " (an audit row with rolled_back_at records the attempt)")?,
                    Some(why) => write!(f, " (but its audit row could not be written: {why})")?,
                }
                write!(f, ": {error}; fix {name}/migration.sql and run again")
            }
            MigrateError::Failed { name, mode: Mode::NoTransaction, error, unrecorded } => {
                write!(f, "migration {name} (no-tx) failed and may have left partial changes: {error}; its ledger row is marked failed")?;
                if let Some(why) = unrecorded {
                    write!(f, " (without this error in its logs, which could not be written: {why})")?;
                }
                write!(f, ", so nothing more is applied until you resolve it: undo its changes and run `cargo xtask migrate resolve --rolled-back {name} {env}`, or finish it by hand and run `cargo xtask migrate resolve --applied {name} {env}`")
            }
            MigrateError::ConnectionLost { name, mode: Mode::Transaction, error } => write!(
                f,
                "outcome unknown: the connection was lost while applying migration {name} ({error}); it may or may not have committed, and so may the migrations sent after it (and if the server crashed, the last ones this run reported applied may be lost too); no audit row was written: run `cargo xtask migrate status {env}` to see what the database holds, then run again"
            ),
            MigrateError::ConnectionLost { name, mode: Mode::NoTransaction, error } => write!(
                f,
                "outcome unknown: the connection was lost while running migration {name} (no-tx) ({error}); it may have run fully, partly or not at all, and its ledger row stays marked failed: run `cargo xtask migrate status {env}`, check what {name}/migration.sql changed, then run `cargo xtask migrate resolve --applied {name} {env}` if it is complete, or undo it and run `cargo xtask migrate resolve --rolled-back {name} {env}`"
            ),
            MigrateError::Unconfirmed { name, error, reason } => write!(
                f,
                "outcome unknown: migration {name} failed ({error}), but the server did not confirm that it was rolled back ({reason}); part of it may have committed and no audit row was written: run `cargo xtask migrate status {env}` and check what {name}/migration.sql changed before running again"
            ),
            MigrateError::LexingChanged { name, planned, unrecorded } => {
                let (planned, now) = if *planned { ("on", "off") } else { ("off", "on") };
                write!(
                    f,
                    "migration {name} did not run, nothing of it remains: the server would lex it with standard_conforming_strings = {now}, but drydock planned it with {planned} (something changed the setting during the run)"
                )?;
                if let Some(why) = unrecorded {
                    write!(f, " (its audit row could not be written: {why})")?;
                }
                write!(f, "; run again, drydock then plans with the session's value")
            }
            MigrateError::Resolve { name, reason } => {
                write!(f, "cannot resolve {name}: {}", reason.replace(ENV, env))
            }
            MigrateError::Baseline { reason } => {
                write!(f, "cannot baseline, nothing was changed: {}", reason.replace(ENV, env))
            }
        }
    }
}

impl std::error::Error for MigrateError {}

impl Problem {
    /// The message with `env` where a suggested `cargo xtask` command names the environment.
    fn render(&self, f: &mut fmt::Formatter<'_>, env: &str) -> fmt::Result {
        match self {
            Problem::Failed { name, logs } => {
                write!(
                    f,
                    "migration {name} failed earlier and is not resolved (Prisma P3009): undo what it changed and run `cargo xtask migrate resolve --rolled-back {name} {env}`, or complete it by hand and run `cargo xtask migrate resolve --applied {name} {env}`"
                )?;
                if let Some(logs) = logs.as_deref().filter(|l| !l.is_empty()) {
                    write!(f, "; it logged: {}", logs.lines().next().unwrap_or(""))?;
                }
                Ok(())
            }
            Problem::Drift { name, path } => write!(
                f,
                "{path} changed after migration {name} was applied (checksum differs): restore the file from version control, or pass --allow-drift if the change is cosmetic"
            ),
            Problem::Missing { name } => write!(
                f,
                "migration {name} is applied in the database but has no folder: restore it from version control, or pass --allow-missing"
            ),
            Problem::OutOfOrder { name, latest_applied } => write!(
                f,
                "pending migration {name} sorts before the applied {latest_applied}: rename its folder to a later timestamp, or pass --allow-out-of-order if it is independent"
            ),
            Problem::NotEmpty { schema, objects } => write!(
                f,
                "schema `{schema}` has {objects} objects but no _prisma_migrations table (Prisma P3005): to adopt this database (made by `prisma db push`, or by hand), run `cargo xtask migrate baseline {env}`: it checks that the migrations give exactly this schema, then records them all as applied"
            ),
            Problem::Script { name: _, path, error } => write!(f, "{path}: {error}"),
        }
    }
}

/// The placeholder the plain `Display` of [`MigrateError`] and [`Problem`]
/// writes where the environment's name belongs (`cargo xtask migrate status ENV`);
/// [`MigrateError::in_env`] and [`Problem::in_env`] write the name instead.
pub const ENV: &str = "ENV";

/// An error or problem displayed for one environment ([`MigrateError::in_env`]).
pub struct InEnv<'a, T> {
    error: &'a T,
    env: &'a str,
}

impl MigrateError {
    /// Displays as the error does, naming `env` in the commands it suggests.
    pub fn in_env<'a>(&'a self, env: &'a str) -> InEnv<'a, MigrateError> {
        InEnv { error: self, env }
    }
}

impl Problem {
    /// Displays as the problem does, naming `env` in the commands it suggests.
    pub fn in_env<'a>(&'a self, env: &'a str) -> InEnv<'a, Problem> {
        InEnv { error: self, env }
    }
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, ENV)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, ENV)
    }
}

impl fmt::Display for InEnv<'_, MigrateError> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.render(f, self.env)
    }
}

impl fmt::Display for InEnv<'_, Problem> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.render(f, self.env)
    }
}

/// The server's message: `ERROR: ... (SQLSTATE 42P01)`, with detail, hint and context.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        return text;
    };
    let mut text = format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("; detail: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    if let Some(context) = db.where_() {
        text.push_str(&format!("; context: {}", context.replace('\n', " / ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_a_parameter_not_a_rewrite() {
        // A name that contains the placeholder stays as it is.
        let e = MigrateError::Unconfirmed { name: "add ENV`".into(), error: "e".into(), reason: "r".into() };
        let shown = e.in_env("prod").to_string();
        assert!(shown.contains("migrate status prod`") && shown.contains("add ENV`"), "{shown}");
        assert!(e.to_string().contains("migrate status ENV`"));
        let refused = MigrateError::Refused(vec![Problem::Failed { name: "m".into(), logs: None }]);
        assert!(refused.in_env("staging").to_string().contains("--rolled-back m staging`"));
    }
}
