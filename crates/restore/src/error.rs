//! Why a restore failed, and in which state it left the database.

use std::fmt;

/// Why a replay (or a restore test) failed. In every case the transaction
/// was rolled back: the database is as it was before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// Building or running a client command failed before psql ran.
    Client(backup::BackupError),
    /// psql could not be started.
    Spawn {
        /// The program, described.
        program: String,
        /// The operating system's reason.
        detail: String,
    },
    /// The backup file could not be read while streaming it.
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        detail: String,
    },
    /// psql failed: an error in the file, a missing role, a lost connection.
    Failed {
        /// The program, described.
        program: String,
        /// Exit code, if it exited.
        code: Option<i32>,
        /// The last lines of its error output.
        stderr: String,
    },
    /// Ctrl-C or SIGTERM arrived during the replay.
    Interrupted,
    /// The app services could not be stopped; nothing was replayed.
    Stop(String),
    /// The file has a line that would break the single transaction
    /// (`\connect`, a stray `COMMIT;`, ...): nothing was changed.
    Refused {
        /// The file.
        path: String,
        /// The line and what it does.
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
    /// psql ended abnormally and the server could not tell whether the
    /// restore's transaction committed.
    Unknown {
        /// The program, described.
        program: String,
        /// What is known.
        detail: String,
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

impl From<backup::BackupError> for RestoreError {
    fn from(e: backup::BackupError) -> RestoreError {
        RestoreError::Client(e)
    }
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Client(e) => write!(f, "{e}"),
            RestoreError::Spawn { program, detail } => {
                write!(f, "cannot start {program}: {detail}")
            }
            RestoreError::Read { path, detail } => {
                write!(f, "cannot read {path} while replaying it ({detail}); the transaction was rolled back, the database is unchanged")
            }
            RestoreError::Failed {
                program,
                code,
                stderr,
            } => {
                let code = code.map_or("a signal".to_owned(), |c| format!("code {c}"));
                write!(
                    f,
                    "the replay failed ({program} exited with {code}); the transaction was rolled back, the database is unchanged. psql said:\n{stderr}"
                )
            }
            RestoreError::Stop(detail) => write!(
                f,
                "cannot stop the app services, nothing was replayed: {detail}"
            ),
            RestoreError::Refused { path, reason } => write!(
                f,
                "refusing to restore {path}: {reason}; the database is unchanged"
            ),
            RestoreError::SchemaOnly { path, rows } => write!(
                f,
                "refusing to restore {path}: it has no table data (a --schema-only dump?) and would delete the {rows} rows of the database; the database is unchanged"
            ),
            RestoreError::Unknown { program, detail } => write!(
                f,
                "the outcome of the restore is unknown ({program} ended abnormally: {detail}); check the database with `cargo xtask status` before anything else"
            ),
            RestoreError::ScratchLeft {
                database,
                drop,
                work,
            } => {
                if let Some(work) = work {
                    write!(f, "{work}; ")?;
                }
                write!(f, "cannot drop the scratch database {database} ({drop}): drop it with `DROP DATABASE {database} WITH (FORCE)`")
            }
            RestoreError::Interrupted => {
                write!(f, "restore interrupted; the transaction was rolled back, the database is unchanged")
            }
        }
    }
}

impl std::error::Error for RestoreError {}
