//! `check`: the whole file read once, through the replay's own reader,
//! before anything is touched.

use std::io::BufReader;

use backup::{PgClient, Verified};

use crate::reader::{ReadError, Reader, Refused};
use crate::{table_counts, RestoreError};

/// What the pre-scan found in a backup that may be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `COPY … FROM stdin;` blocks (tables with data).
    pub copy_blocks: u64,
    /// pg_dump's large-object transactions, folded into the restore's.
    pub large_object_blocks: u64,
    /// Statements of pg_dump's `--clean` section, not sent (the preamble empties the database).
    pub clean_statements: u64,
}

/// Reads the whole backup through the replay's reader (see the crate
/// documentation) and refuses it when the replay would: any statement that
/// is not of a kind pg_dump writes, any psql meta-command, a `COPY` block
/// without its end. Refuses a dump with no `COPY` block at all
/// (`--schema-only`) unless the database `client` reaches has no rows
/// either: restoring it would delete them all.
pub fn check(client: &PgClient, backup: &Verified) -> Result<Checked, RestoreError> {
    let path = backup.path.to_string();
    let file = std::fs::File::open(&backup.path)
        .map_err(|e| RestoreError::Read { path: path.clone(), detail: e.to_string() })?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 20, file));
    match reader.read_all() {
        Ok(()) => {}
        Err(ReadError::Io(e)) => return Err(RestoreError::Read { path, detail: e.to_string() }),
        Err(ReadError::Refused(r)) => return Err(RestoreError::Refused { path, reason: not_a_dump(&r) }),
    }
    let counts = reader.counts().clone();
    if counts.copy_blocks == 0 {
        let rows: u64 = table_counts(client)?.values().sum();
        if rows > 0 {
            return Err(RestoreError::SchemaOnly { path, rows });
        }
    }
    Ok(Checked {
        copy_blocks: counts.copy_blocks,
        large_object_blocks: counts.large_object_blocks,
        clean_statements: counts.clean_statements,
    })
}

/// The reason of a refusal, as the operator reads it.
pub(crate) fn not_a_dump(r: &Refused) -> String {
    format!(
        "this file is not a pg_dump plain-SQL backup: {r}; restore only files made by `cargo xtask backup` or pg_dump"
    )
}
