//! The migration lock: Prisma's advisory lock 72707369, polled so that a waiting runner never hangs.

use std::fmt;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_postgres::Client;

use crate::MigrateError;

/// The advisory lock key of `prisma migrate` (so drydock and Prisma exclude each other).
pub const KEY: i64 = 72707369;

/// The session that holds the lock, as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// Its backend process id.
    pub pid: i32,
    /// Its `application_name`, as the client set it.
    pub application_name: String,
    /// When the holder's session connected: it has held the lock at most since then.
    pub since: Option<OffsetDateTime>,
    /// `active`, `idle`, `idle in transaction`, ...
    pub state: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = if self.application_name.is_empty() { "no application name" } else { &self.application_name };
        write!(f, "pid {}, {app}", self.pid)?;
        if let Some(since) = self.since {
            let since = since.to_offset(time::UtcOffset::UTC);
            write!(
                f,
                ", connected since {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                since.year(),
                u8::from(since.month()),
                since.day(),
                since.hour(),
                since.minute(),
                since.second()
            )?;
        }
        if let Some(state) = &self.state {
            write!(f, ", {state}")?;
        }
        Ok(())
    }
}

/// Takes the lock, polling `pg_try_advisory_lock` with backoff (50 ms doubling
/// to 1 s) until `wait` has passed. While waiting, `on_wait` gets the holder
/// (when known) and the time waited so far, once per poll.
pub async fn lock(
    client: &Client,
    wait: Duration,
    mut on_wait: impl FnMut(Option<&LockHolder>, Duration),
) -> Result<(), MigrateError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&KEY])
            .await
            .map_err(|e| db("take the migration lock", &e))?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        let holder = holder(client).await?;
        let waited = started.elapsed();
        if waited >= wait {
            return Err(MigrateError::LockTimeout { waited, holder });
        }
        on_wait(holder.as_ref(), waited);
        tokio::time::sleep(pause.min(wait.saturating_sub(waited))).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Releases the lock (closing the connection releases it too).
pub async fn unlock(client: &Client) -> Result<(), MigrateError> {
    client.execute("SELECT pg_advisory_unlock($1)", &[&KEY]).await.map_err(|e| db("release the migration lock", &e))?;
    Ok(())
}

/// The session holding the lock in this database, if any.
pub async fn holder(client: &Client) -> Result<Option<LockHolder>, MigrateError> {
    // A bigint key shows as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    let sql = format!(
        "SELECT l.pid, coalesce(a.application_name, ''), a.backend_start, a.state
               FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid = {} AND l.objid = {} AND l.objsubid = 1
              LIMIT 1",
        KEY >> 32,
        KEY & 0xffff_ffff
    );
    let rows = client.query(&sql, &[]).await.map_err(|e| db("find who holds the migration lock", &e))?;
    Ok(rows.first().map(|r| LockHolder { pid: r.get(0), application_name: r.get(1), since: r.get(2), state: r.get(3) }))
}

fn db(doing: &str, e: &tokio_postgres::Error) -> MigrateError {
    MigrateError::Database { doing: doing.to_owned(), reason: crate::error::describe(e) }
}
