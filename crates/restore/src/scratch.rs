//! `restore_test`: replay a backup into a scratch database on the same
//! server, count its rows, drop it.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use backup::{PgClient, Verified};

use crate::{replay, table_counts, RestoreError};

/// Rows of one table: in the backup's `COPY` block, and once restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table, as pg_dump names it.
    pub table: String,
    /// Rows in the backup file.
    pub in_file: u64,
    /// Rows in the scratch database (`None`: the table is missing there).
    pub restored: Option<u64>,
}

/// The outcome of a restore test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreTest {
    /// The scratch database used (dropped again).
    pub database: String,
    /// Every table of the backup.
    pub tables: Vec<TableCount>,
    /// Wall time, scratch database creation to drop.
    pub duration: Duration,
}

impl RestoreTest {
    /// Tables whose restored rows differ from the backup's.
    pub fn mismatches(&self) -> Vec<&TableCount> {
        self.tables.iter().filter(|t| t.restored != Some(t.in_file)).collect()
    }
}

/// Creates a scratch database on the server `client` reaches, replays the
/// backup into it, compares each table's rows with the backup's `COPY`
/// blocks, and drops the scratch database, whatever happened.
pub fn restore_test(client: &PgClient, backup: &Verified, cancel: &AtomicBool) -> Result<RestoreTest, RestoreError> {
    let start = Instant::now();
    let in_file = backup::copy_row_counts(&backup.path)
        .map_err(|e| RestoreError::Read { path: backup.path.to_string(), detail: e.to_string() })?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let database = format!("drydock_restore_test_{}_{stamp}", std::process::id());
    client.query(&format!("CREATE DATABASE {database}"))?;
    let scratch = client.with_dbname(&database);
    let restored = replay(&scratch, backup, cancel, &mut |_| {}).and_then(|_| table_counts(&scratch));
    // FORCE: a session the failed replay left behind must not keep it alive.
    let dropped = client.query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
    let restored = match (restored, dropped) {
        (restored, Err(e)) => {
            return Err(RestoreError::ScratchLeft { database, drop: e.to_string(), work: restored.err().map(Box::new) })
        }
        (restored, Ok(_)) => restored?,
    };
    let tables = in_file
        .into_iter()
        .map(|(table, rows)| TableCount { restored: restored.get(&table).copied(), table, in_file: rows })
        .collect();
    Ok(RestoreTest { database, tables, duration: start.elapsed() })
}
