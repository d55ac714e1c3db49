//! Why a restore failed, and in which state it left the database.

use std::fmt;

/// What a failed restore did to the database, as far as the server confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The file (or the database's state) was refused before anything changed.
    Refused,
    /// It failed before anything changed (no connection, services not stopped).
    Unchanged,
    /// It failed and the server confirmed the restore's transaction rolled back.
    RolledBack,
    /// The server could not confirm what it kept.
    Unknown,
}

/// Why a replay (or a restore test) failed; [`RestoreError::outcome`] says
/// in which state it left the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// Running a client program (psql for counts, compose) failed; nothing was replayed.
    Client(backup::BackupError),
    /// The backup file could not be opened or read before the replay.
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        detail: String,
    },
    /// drydock could not connect or begin the transaction: nothing changed.
    Connect {
        /// The reason (never the password).
        detail: String,
    },
    /// The file holds something pg_dump does not write: nothing was changed
    /// (refused before the replay, or its transaction confirmed rolled back).
    Refused {
        /// The file.
        path: String,
        /// The line and what it would do.
        reason: String,
    },
    /// The file has no table data (a `--schema-only` dump) while the
    /// database has rows: restoring it would delete them all.
    SchemaOnly {
        /// The file.
        path: String,
        /// Rows in the current database.
        rows: u64,
    },
    /// The replay failed and the server confirmed its transaction rolled back.
    Failed {
        /// The file.
        path: String,
        /// The line and the server's error.
        cause: String,
    },
    /// Ctrl-C or SIGTERM arrived; the server confirmed the rollback.
    Interrupted,
    /// The replay failed and the server could not confirm whether the
    /// restore's transaction committed.
    Unknown {
        /// The file.
        path: String,
        /// What went wrong.
        cause: String,
        /// Why the outcome is not known.
        why: String,
    },
    /// The restore test's scratch database could not be dropped.
    ScratchLeft {
        /// The scratch database.
        database: String,
        /// Why `DROP DATABASE` failed.
        drop: String,
        /// Why the restore test itself failed, if it did.
        work: Option<Box<RestoreError>>,
    },
}

impl RestoreError {
    /// The state the failure left the database in.
    pub fn outcome(&self) -> Outcome {
        match self {
            RestoreError::Refused { .. } | RestoreError::SchemaOnly { .. } => Outcome::Refused,
            RestoreError::Client(_) | RestoreError::Read { .. } | RestoreError::Connect { .. } => Outcome::Unchanged,
            RestoreError::Failed { .. } | RestoreError::Interrupted => Outcome::RolledBack,
            RestoreError::Unknown { .. } => Outcome::Unknown,
            // The scratch database only: the restored database is untouched.
            RestoreError::ScratchLeft { .. } => Outcome::Unchanged,
        }
    }
}

impl From<backup::BackupError> for RestoreError {
    fn from(e: backup::BackupError) -> RestoreError {
        RestoreError::Client(e)
    }
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Client(e) => write!(f, "{e}"),
            RestoreError::Read { path, detail } => {
                write!(f, "cannot read {path} ({detail}); nothing was replayed, the database is unchanged")
            }
            RestoreError::Connect { detail } => write!(
                f,
                "cannot connect to the database to replay the backup ({detail}); nothing was replayed, the database is unchanged"
            ),
            RestoreError::Refused { path, reason } => {
                write!(f, "refusing to restore {path}: {reason}; the database is unchanged")
            }
            RestoreError::SchemaOnly { path, rows } => write!(
                f,
                "refusing to restore {path}: it has no table data (a --schema-only dump?) and would delete the {rows} rows of the database; the database is unchanged"
            ),
            RestoreError::Failed { path, cause } => write!(
                f,
                "the replay of {path} failed at {cause}; the server confirmed the restore's transaction rolled back, the database is unchanged"
            ),
            RestoreError::Interrupted => write!(
                f,
                "restore interrupted; the server confirmed the restore's transaction rolled back, the database is unchanged"
            ),
            RestoreError::Unknown { path, cause, why } => write!(
                f,
                "the outcome of the restore of {path} is unknown: it failed ({cause}) and {why}; the database holds either the backup or its state before"
            ),
            RestoreError::ScratchLeft { database, drop, work } => {
                if let Some(work) = work {
                    write!(f, "{work}; ")?;
                }
                write!(
                    f,
                    "cannot drop the scratch database {database} ({drop}): drop it with `DROP DATABASE {database} WITH (FORCE)`"
                )
            }
        }
    }
}

impl std::error::Error for RestoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confirmed_outcome_says_unchanged() {
        let unknown = RestoreError::Unknown {
            path: "b.sql".into(),
            cause: "line 3: connection closed".into(),
            why: "the server cannot be asked (connection refused)".into(),
        };
        assert_eq!(unknown.outcome(), Outcome::Unknown);
        let text = unknown.to_string();
        assert!(text.contains("outcome of the restore of b.sql is unknown") && !text.contains("unchanged"), "{text}");
        let failed = RestoreError::Failed { path: "b.sql".into(), cause: "line 3: boom".into() };
        assert_eq!(failed.outcome(), Outcome::RolledBack);
        assert!(failed.to_string().contains("the server confirmed"));
        assert_eq!(RestoreError::Interrupted.outcome(), Outcome::RolledBack);
        let refused = RestoreError::Refused { path: "b.sql".into(), reason: "x".into() };
        assert_eq!(refused.outcome(), Outcome::Refused);
        assert_eq!(RestoreError::Connect { detail: "x".into() }.outcome(), Outcome::Unchanged);
    }
}
