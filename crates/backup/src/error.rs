//! Why a backup failed, each message saying what to do next.

use std::fmt;

/// Why a backup (or a query, a listing, a prune) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupError {
    /// Compose could not reach the database container.
    Compose {
        /// The compose error, as text.
        detail: String,
    },
    /// The connection URL could not be parsed (the URL itself is never shown).
    Url {
        /// What is wrong with it.
        reason: String,
    },
    /// A client program could not be started.
    Spawn {
        /// The program, described.
        program: String,
        /// The operating system's reason.
        detail: String,
    },
    /// A `psql` query failed.
    Query {
        /// The program, described.
        program: String,
        /// Its error output.
        stderr: String,
    },
    /// `pg_dump` exited non-zero (wrong database, container stopped, ...).
    PgDumpFailed {
        /// The program, described.
        program: String,
        /// Exit code, if it exited.
        code: Option<i32>,
        /// The last lines of its error output.
        stderr: String,
    },
    /// `pg_dump` exited 0 but the file is not a complete dump.
    Incomplete {
        /// Why.
        reason: String,
    },
    /// Ctrl-C or SIGTERM arrived during the dump.
    Interrupted,
    /// The backups folder's disk is full.
    DiskFull {
        /// The folder.
        dir: String,
    },
    /// A file operation failed.
    Io {
        /// What drydock was doing (`create`, `write`, `fsync`, ...).
        action: String,
        /// The file or folder.
        path: String,
        /// The operating system's reason.
        detail: String,
    },
    /// Retention of zero backups was asked for.
    KeepZero,
}

impl BackupError {
    pub(crate) fn compose(e: compose::ComposeError) -> BackupError {
        BackupError::Compose { detail: e.to_string() }
    }

    pub(crate) fn io(action: &str, path: impl fmt::Display, e: std::io::Error) -> BackupError {
        if e.raw_os_error() == Some(28) {
            let dir = path.to_string();
            let dir = dir.rsplit_once('/').map(|(d, _)| d.to_owned()).unwrap_or(dir);
            return BackupError::DiskFull { dir };
        }
        BackupError::Io { action: action.to_owned(), path: path.to_string(), detail: e.to_string() }
    }
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::Compose { detail } => write!(f, "cannot reach the database container: {detail}"),
            BackupError::Url { reason } => {
                write!(f, "the database URL is not a postgres:// URL drydock understands ({reason}): fix DATABASE_URL")
            }
            BackupError::Spawn { program, detail } => {
                write!(f, "cannot start {program} ({detail}): install the PostgreSQL client programs or use pg-dump = \"container\"")
            }
            BackupError::Query { program, stderr } if stderr.is_empty() => write!(
                f,
                "{program} failed without a word: `cargo xtask status ENV` shows whether the database answers, and `docker info` whether the Docker engine does"
            ),
            BackupError::Query { program, stderr } => write!(f, "{program} failed: {stderr}"),
            BackupError::PgDumpFailed { program, code, stderr } => {
                let code = code.map_or("a signal".to_owned(), |c| format!("code {c}"));
                write!(
                    f,
                    "{program} failed (exit {code}); no backup was written. Its last words:\n{stderr}\ncheck that the database runs (`cargo xtask status ENV`) and try again"
                )
            }
            BackupError::Incomplete { reason } => {
                write!(
                    f,
                    "the dump is incomplete ({reason}); no backup was written: check the database's logs and try again"
                )
            }
            BackupError::Interrupted => {
                write!(f, "backup interrupted; the partial file was removed and no backup was written")
            }
            BackupError::DiskFull { dir } => {
                write!(f, "the disk of {dir} is full; the partial file was removed and no backup was written: free space and try again")
            }
            BackupError::Io { action, path, detail } => write!(f, "cannot {action} {path}: {detail}"),
            BackupError::KeepZero => write!(f, "retention must keep at least 1 backup: use --keep 1 or more"),
        }
    }
}

impl std::error::Error for BackupError {}
