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
            RestoreError::Interrupted => {
                write!(f, "restore interrupted; the transaction was rolled back, the database is unchanged")
            }
        }
    }
}

impl std::error::Error for RestoreError {}
