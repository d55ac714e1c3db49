//! Backup file names, the listing of a backups folder, and retention.

use camino::{Utf8Path, Utf8PathBuf};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::BackupError;

/// One backup file found in a backups folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// Path of the `.sql` file.
    pub path: Utf8PathBuf,
    /// The environment named in the file name.
    pub env: String,
    /// When it was taken (UTC, from the file name).
    pub taken_at: OffsetDateTime,
    /// Size in bytes.
    pub size: u64,
}

/// `backup_<env>_YYYYMMDD_HHMMSS.sql` for a moment (taken in UTC).
pub fn file_name(env: &str, at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "backup_{env}_{:04}{:02}{:02}_{:02}{:02}{:02}.sql",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The environment and time of an exact `backup_<env>_YYYYMMDD_HHMMSS.sql`
/// name; `None` for anything else (partials, sidecars, other files).
pub fn parse_name(name: &str) -> Option<(String, OffsetDateTime)> {
    let middle = name.strip_prefix("backup_")?.strip_suffix(".sql")?;
    if middle.len() < 17 || !middle.is_char_boundary(middle.len() - 16) {
        return None;
    }
    let (env, stamp) = middle.split_at(middle.len() - 16);
    let stamp = stamp.strip_prefix('_')?;
    let shape_ok = stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'_' } else { b.is_ascii_digit() });
    if env.is_empty() || !shape_ok {
        return None;
    }
    // Every byte is an ASCII digit but the `_` at 8: each field parses.
    let field = |from: usize, to: usize| stamp[from..to].parse::<u16>().ok();
    let month = Month::try_from(field(4, 6)? as u8).ok()?;
    let date = Date::from_calendar_date(field(0, 4)?.into(), month, field(6, 8)? as u8).ok()?;
    let time = Time::from_hms(field(9, 11)? as u8, field(11, 13)? as u8, field(13, 15)? as u8).ok()?;
    Some((env.to_owned(), PrimitiveDateTime::new(date, time).assume_utc()))
}

/// Backups in `dir` (of `env`, or of every environment), newest first. A
/// missing folder has no backups.
pub fn list(dir: &Utf8Path, env: Option<&str>) -> Result<Vec<BackupFile>, BackupError> {
    let entries = match dir.read_dir_utf8() {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::io("read", dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BackupError::io("read", dir, e))?;
        let Some((file_env, taken_at)) = parse_name(entry.file_name()) else {
            continue;
        };
        if env.is_some_and(|e| e != file_env) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| BackupError::io("read", entry.path(), e))?;
        if !meta.is_file() {
            continue;
        }
        found.push(BackupFile { path: entry.path().to_owned(), env: file_env, taken_at, size: meta.len() });
    }
    found.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// Deletes the oldest backups of `env` beyond the newest `keep`, with their
/// sidecars, and returns the deleted backups. Touches only files whose name is
/// exactly `backup_<env>_YYYYMMDD_HHMMSS.sql` (and that name plus `.sha256`):
/// never a `.partial`, never another environment's, never the newest.
pub fn prune(dir: &Utf8Path, env: &str, keep: usize) -> Result<Vec<Utf8PathBuf>, BackupError> {
    if keep == 0 {
        return Err(BackupError::KeepZero);
    }
    let mut removed = Vec::new();
    for old in list(dir, Some(env))?.into_iter().skip(keep) {
        std::fs::remove_file(&old.path).map_err(|e| BackupError::io("delete", &old.path, e))?;
        let sidecar = crate::verify::sidecar_path(&old.path);
        match std::fs::remove_file(&sidecar) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BackupError::io("delete", &sidecar, e)),
        }
        removed.push(old.path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_round_trip_in_utc() {
        let at = datetime!(2026-01-02 03:04:05 +02:00);
        assert_eq!(file_name("prod", at), "backup_prod_20260102_010405.sql");
        assert_eq!(
            parse_name("backup_prod_20260102_010405.sql"),
            Some(("prod".into(), datetime!(2026-01-02 01:04:05 UTC)))
        );
        assert_eq!(parse_name("backup_eu_west_20260102_010405.sql").unwrap().0, "eu_west");
    }

    #[test]
    fn only_exact_names_parse() {
        for name in [
            ".backup_prod_20260102_010405.sql.partial",
            "backup_prod_20260102_010405.sql.sha256",
            "backup_prod_20260102_010405.sql.bak",
            "backup__20260102_010405.sql",
            "backup_prod_20261302_010405.sql",
            "backup_prod_20260230_010405.sql",
            "backup_prod_20260100_010405.sql",
            "backup_prod_20260102_240405.sql",
            "backup_prod_20260102_016005.sql",
            "backup_prod_20260102_010460.sql",
            "backup_prod_2026010_0104055.sql",
            "backup_prod_20260102-010405.sql",
            "mybackup_prod_20260102_010405.sql",
            "backup_prod_20260102_010405_2.sql",
        ] {
            assert_eq!(parse_name(name), None, "{name}");
        }
    }
}
