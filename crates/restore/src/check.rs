//! `check`: the whole file read once before anything is touched, so a line
//! the replay would refuse, or a dump without data, is refused up front.

use std::io::Read;

use backup::{PgClient, Verified};

use crate::filter::{Filter, FilterError};
use crate::{table_counts, RestoreError};

/// What the pre-scan found in a backup that may be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `COPY … FROM stdin;` blocks (tables with data).
    pub copy_blocks: u64,
    /// pg_dump's large-object transactions, dropped from the replay.
    pub large_object_blocks: u64,
}

/// Reads the whole backup through the replay's filter (see the crate
/// documentation) and refuses it when the replay would: a `\connect`, `\i`,
/// `\!`, `\o`, `\set` or stray `COMMIT;` at top level. Refuses a dump with no
/// `COPY` block at all (`--schema-only`) unless the database `client`
/// reaches has no rows either: restoring it would delete them all.
pub fn check(client: &PgClient, backup: &Verified) -> Result<Checked, RestoreError> {
    let read_error = |e: std::io::Error| RestoreError::Read { path: backup.path.to_string(), detail: e.to_string() };
    let mut file = std::fs::File::open(&backup.path).map_err(read_error)?;
    let mut filter = Filter::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut discard = |_: &[u8]| Ok::<(), ()>(());
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        let fed = if n == 0 { filter.finish(&mut discard) } else { filter.feed(&buf[..n], &mut discard) };
        if let Err(FilterError::Refused(r)) = fed {
            return Err(RestoreError::Refused { path: backup.path.to_string(), reason: r.to_string() });
        }
        if n == 0 {
            break;
        }
    }
    if filter.copy_blocks == 0 {
        let rows: u64 = table_counts(client)?.values().sum();
        if rows > 0 {
            return Err(RestoreError::SchemaOnly { path: backup.path.to_string(), rows });
        }
    }
    Ok(Checked { copy_blocks: filter.copy_blocks, large_object_blocks: filter.dropped_pairs })
}
