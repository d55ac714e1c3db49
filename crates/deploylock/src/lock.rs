//! Acquiring, describing and releasing the deploy lock.

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

/// First key of the two-key advisory lock: "dryd" in ASCII.
pub const DEPLOY_LOCK_CLASS: i32 = 0x6472_7964;

/// Who holds (or held) the lock, from the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id on `host`.
    pub pid: u32,
    /// `$USER` of the holder.
    pub user: String,
    /// Host name of the holder.
    pub host: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// The drydock command that holds it.
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` (pid {} by {} on {}, since {})", self.command, self.pid, self.user, self.host, self.started_at)
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another deploy holds it; `holder` from its lock file when readable,
    /// `session` from pg_stat_activity.
    Busy {
        /// The environment.
        env: String,
        /// The holder named in the lock file, if readable.
        holder: Option<Holder>,
        /// The holding database session, from `pg_stat_activity`.
        session: Option<String>,
        /// How long this run waited.
        waited: Duration,
    },
    /// The database did not answer.
    Database(String),
    /// The lock file could not be written.
    File(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Busy { env, holder, session, waited } => {
                write!(f, "another deploy of {env} is running")?;
                if let Some(h) = holder {
                    write!(f, ": {h}")?;
                }
                if let Some(s) = session {
                    write!(f, " [database session: {s}]")?;
                }
                write!(
                    f,
                    "; waited {} s. Let it finish (`cargo xtask history {env}` shows the runs), or pass `--lock-wait SECONDS` to wait",
                    waited.as_secs()
                )
            }
            LockError::Database(e) => write!(f, "cannot take the deploy lock, the database does not answer: {e}"),
            LockError::File(e) => write!(f, "cannot write the deploy lock file: {e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// A held deploy lock. Dropping it releases both parts.
pub struct DeployLock {
    runtime: tokio::runtime::Runtime,
    client: Option<tokio_postgres::Client>,
    file: Utf8PathBuf,
    key: i32,
    /// The previous holder, when its lock file was left behind by a run that
    /// ended without releasing (killed); worth a warning.
    pub stale: Option<Holder>,
}

/// Takes the deploy lock of `env`, polling until `wait` has passed.
pub fn acquire(url: &str, dir: &Utf8Path, env: &str, command: &str, wait: Duration) -> Result<DeployLock, LockError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LockError::Database(e.to_string()))?;
    let key = env_key(env);
    let file = dir.join(format!(".deploy-{env}.lock"));
    let started = Instant::now();
    let client = runtime.block_on(async {
        let client =
            pgconn::connect(url, "drydock deploy lock").await.map_err(|e| LockError::Database(e.to_string()))?;
        let mut pause = Duration::from_millis(100);
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&DEPLOY_LOCK_CLASS, &key])
                .await
                .map_err(|e| LockError::Database(e.to_string()))?;
            if row.get::<_, bool>(0) {
                return Ok(client);
            }
            if started.elapsed() >= wait {
                let session = holder_session(&client, key).await;
                return Err(LockError::Busy {
                    env: env.to_owned(),
                    holder: read_holder(&file),
                    session,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause.min(wait.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    })?;
    // We hold the advisory lock, so a lock file still present was left by a
    // run that died without releasing it.
    let stale = read_holder(&file);
    let holder = Holder {
        pid: std::process::id(),
        user: current_user(),
        host: hostname(),
        started_at: now_rfc3339(),
        command: command.to_owned(),
    };
    let text = serde_json::to_string(&holder).expect("holder serializes");
    std::fs::write(&file, text).map_err(|e| LockError::File(format!("{file}: {e}")))?;
    Ok(DeployLock { runtime, client: Some(client), file, key, stale })
}

impl DeployLock {
    /// The lock file's path.
    pub fn file(&self) -> &Utf8Path {
        &self.file
    }

    /// Releases the lock (also done on drop).
    pub fn release(mut self) {
        self.release_inner();
    }

    fn release_inner(&mut self) {
        if let Some(client) = self.client.take() {
            let key = self.key;
            self.runtime.block_on(async move {
                let _ = client.query_one("SELECT pg_advisory_unlock($1, $2)", &[&DEPLOY_LOCK_CLASS, &key]).await;
            });
            // Our own file only: another run may have taken over a stale one.
            if read_holder(&self.file).is_some_and(|h| h.pid == std::process::id() && h.host == hostname()) {
                let _ = std::fs::remove_file(&self.file);
            }
        }
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        self.release_inner();
    }
}

/// The holder named in a lock file, if one exists and parses.
fn read_holder(file: &Utf8Path) -> Option<Holder> {
    serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()
}

/// The database session holding the lock: pid, application, since when.
async fn holder_session(client: &tokio_postgres::Client, key: i32) -> Option<String> {
    let row = client
        .query_opt(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'), a.backend_start::text
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2 AND l.granted
             LIMIT 1",
            &[&DEPLOY_LOCK_CLASS, &key],
        )
        .await
        .ok()??;
    let pid: i32 = row.get(0);
    let app: String = row.get(1);
    let addr: String = row.get(2);
    let since: String = row.get(3);
    Some(format!("backend pid {pid}, application '{app}', from {addr}, since {since}"))
}

/// Second key: FNV-1a of the environment name, as i32.
fn env_key(env: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in env.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}

/// The operator's user name: `$USER`, `$LOGNAME`, else the name of the
/// process's uid in /etc/passwd (cron and CI often set neither variable).
pub fn current_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(name) = std::env::var(var) {
            if !name.is_empty() {
                return name;
            }
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next()).unwrap_or("");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid))
        .and_then(|l| l.split(':').next())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("uid {uid}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "unknown".into())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_differ_per_environment_and_from_prisma() {
        assert_ne!(super::env_key("prod"), super::env_key("dev"));
        assert_ne!(i64::from(super::DEPLOY_LOCK_CLASS), 72707369);
    }
}
