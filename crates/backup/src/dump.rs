//! `dump`: pg_dump streamed to a `.partial` file, checked, synced, renamed,
//! with a sha256 sidecar; nothing that looks like a backup on any failure.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::verify::{check_complete, hex, sidecar_path, sidecar_text};
use crate::{file_name, BackupError, PgClient, PgTool};

/// The options drydock dumps with; the crate documentation says why.
pub const DUMP_OPTIONS: [&str; 4] = ["--format=plain", "--clean", "--if-exists", "--no-owner"];

/// Size of the buffer the written file is hashed through.
const BUFFER: usize = 1 << 20;

/// A backup on disk: complete, synced, with its sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// `<dir>/backup_<env>_YYYYMMDD_HHMMSS.sql`.
    pub path: Utf8PathBuf,
    /// The sidecar, `<path>.sha256`.
    pub sidecar: Utf8PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the file (lowercase hex).
    pub sha256: String,
    /// Wall time from start of pg_dump to the synced, renamed file.
    pub duration: Duration,
}

impl Backup {
    /// Bytes per second over the whole backup.
    pub fn throughput(&self) -> f64 {
        self.size as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// Removes the partial file unless disarmed.
struct Partial {
    path: Utf8PathBuf,
    armed: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A name for one pg_dump's server session, unique on this host.
fn session_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("drydock-backup-{}-{nanos}", std::process::id())
}

/// Ends the server session of a pg_dump whose client was killed: a pg_dump
/// run with `docker exec` outlives the killed docker client (the engine
/// does not signal it) and would go on reading, holding its table locks,
/// until it next writes. Best effort: the cancel is reported either way.
fn end_session(client: &PgClient, session: &str) {
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{session}' AND pid <> pg_backend_pid()"
    );
    let _ = client.query(&sql);
}

/// Dumps the database `client` reaches into `dir` as a backup of `env`.
///
/// pg_dump writes straight into `.backup_<env>_<ts>.sql.partial` (mode
/// 0600), hashed as it grows (one 1 MiB buffer, read back by position);
/// `on_progress` gets the bytes hashed so far. Then checks the exit status,
/// hashes the rest, checks the
/// header and the trailer, syncs the file, links it to its final
/// name (never replacing a file), writes the sidecar and syncs the folder.
/// `cancel` is asked at every poll (about every 20 ms) while pg_dump runs,
/// and once after it exits: true (a Ctrl-C or SIGTERM, a check running beside
/// the dump that refused) kills pg_dump, ends its server session and returns
/// [`BackupError::Interrupted`]. On any error the partial file is removed and
/// no final-named file exists.
pub fn dump(
    client: &PgClient,
    dir: &Utf8Path,
    env: &str,
    cancel: &dyn Fn() -> bool,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Backup, BackupError> {
    let start = Instant::now();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| BackupError::io("create", dir, e))?;
    let (mut partial, file) = claim_partial(dir, env)?;

    // STEP 1: pg_dump writes straight into the partial file (no pipe through
    // drydock: that extra hop cost about 20 % of the throughput); progress is
    // the file's size, `cancel` (Ctrl-C, SIGTERM, a refusing check) kills pg_dump.
    let program = client.describe(PgTool::PgDump);
    let spawn_error = |e: std::io::Error| BackupError::Spawn { program: program.clone(), detail: e.to_string() };
    let stdout = file.try_clone().map_err(|e| BackupError::io("open", &partial.path, e))?;
    let session = session_name();
    let handle = client
        .command(PgTool::PgDump, &DUMP_OPTIONS, &session)?
        .stdin_null()
        .stdout_file(stdout)
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(spawn_error)?;
    // The file is hashed while pg_dump writes it (positional reads: the
    // descriptor's offset is pg_dump's), so only its tail is left at exit.
    let mut hash = StreamHash::new();
    let output = loop {
        if let Some(output) = handle.try_wait().map_err(spawn_error)? {
            break output.clone();
        }
        if cancel() {
            let _ = handle.kill();
            end_session(client, &session);
            return Err(BackupError::Interrupted);
        }
        let caught_up = hash.catch_up(&file, &partial.path, CATCH_UP)?;
        on_progress(hash.total);
        if caught_up {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    if cancel() {
        return Err(BackupError::Interrupted);
    }

    // STEP 2: pg_dump said it succeeded, and the file says it is complete.
    if !output.status.success() {
        // pg_dump (or the docker client relaying it) wrote into our file.
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        if stderr.contains("no space left on device") || stderr.contains("disk quota exceeded") {
            return Err(BackupError::DiskFull { dir: dir.to_string() });
        }
        if let Some(down) = client.database_down() {
            return Err(down);
        }
        return Err(BackupError::PgDumpFailed {
            program,
            code: output.status.code(),
            stderr: compose::last_lines(&String::from_utf8_lossy(&output.stderr), 10),
        });
    }
    hash.catch_up(&file, &partial.path, u64::MAX)?;
    let (size, sha256) = hash.finish();
    let on_disk = file.metadata().map_err(|e| BackupError::io("stat", &partial.path, e))?.len();
    if on_disk != size {
        return Err(BackupError::Incomplete {
            reason: format!("{on_disk} bytes on disk but {size} hashed: the file changed while it was read"),
        });
    }
    on_progress(size);
    file.sync_all().map_err(|e| BackupError::io("fsync", &partial.path, e))?;
    check_complete(&partial.path).map_err(|e| BackupError::Incomplete { reason: e.to_string() })?;

    // STEP 3: the final name (never replacing a file), the sidecar, the folder synced.
    let path = publish(dir, env, &partial.path)?;
    let _ = std::fs::remove_file(&partial.path);
    partial.armed = false;
    // Closed (and unlocked) only now: a concurrent run never takes it for a dead one's.
    drop(file);
    let sidecar = write_sidecar(&path, &sha256).inspect_err(|_| {
        let _ = std::fs::remove_file(&path);
    })?;
    sync_dir(dir)?;
    Ok(Backup { path, sidecar, size, sha256, duration: start.elapsed() })
}

/// Creates `.backup_<env>_<ts>.sql.partial` exclusively, for a second whose
/// final name is free; waits for the next second when it is taken. The file
/// is locked (`flock`) for as long as a writer has it open: drydock, and
/// pg_dump's `docker exec`, which shares the open file and outlives a
/// SIGKILLed drydock. Then removes the partial files of dead runs (see
/// [`remove_dead_partials`]).
fn claim_partial(dir: &Utf8Path, env: &str) -> Result<(Partial, File), BackupError> {
    loop {
        let now = OffsetDateTime::now_utc();
        let name = file_name(env, now);
        let partial = dir.join(format!(".{name}.partial"));
        if !dir.join(&name).exists() {
            match OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&partial) {
                Ok(file) => {
                    file.try_lock().map_err(|e| BackupError::io("lock", &partial, std::io::Error::other(e)))?;
                    remove_dead_partials(dir, env, &partial);
                    return Ok((Partial { path: partial, armed: true }, file));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(BackupError::io("create", &partial, e)),
            }
        }
        wait_next_second(now);
    }
}

/// Removes `.backup_<env>_*.sql.partial` files (other than `ours`) that no
/// process holds locked: what a SIGKILLed or crashed run left. A partial file
/// still being written (its pg_dump alive) is locked and stays.
fn remove_dead_partials(dir: &Utf8Path, env: &str, ours: &Utf8Path) {
    let prefix = format!(".backup_{env}_");
    let Ok(entries) = dir.read_dir_utf8() else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path == ours || !name.starts_with(&prefix) || !name.ends_with(".sql.partial") {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).open(path) else { continue };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn wait_next_second(now: OffsetDateTime) {
    std::thread::sleep(Duration::from_nanos(1_000_000_000 - u64::from(now.nanosecond())) + Duration::from_millis(2));
}

/// Hard-links the partial file to a free final name (a link never replaces
/// an existing file) and returns that name.
fn publish(dir: &Utf8Path, env: &str, partial: &Utf8Path) -> Result<Utf8PathBuf, BackupError> {
    loop {
        let now = OffsetDateTime::now_utc();
        let path = dir.join(file_name(env, now));
        match std::fs::hard_link(partial, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => wait_next_second(now),
            Err(e) => return Err(BackupError::io("rename to", &path, e)),
        }
    }
}

/// At most this many bytes are hashed between two looks at pg_dump (exit,
/// Ctrl-C, progress).
const CATCH_UP: u64 = 64 << 20;

/// sha256 of a file that is still growing at its end, read back from the page
/// cache through one buffer (constant memory) by position (`pread`), never
/// moving the descriptor's offset, which pg_dump's stdout shares.
struct StreamHash {
    hasher: Sha256,
    buf: Vec<u8>,
    total: u64,
}

impl StreamHash {
    fn new() -> StreamHash {
        StreamHash { hasher: Sha256::new(), buf: vec![0; BUFFER], total: 0 }
    }

    /// Hashes what was written since the last call, up to `limit` bytes.
    /// True when it reached the current end of the file.
    fn catch_up(&mut self, file: &File, path: &Utf8Path, limit: u64) -> Result<bool, BackupError> {
        use std::os::unix::fs::FileExt;
        let mut done = 0u64;
        while done < limit {
            let n = match file.read_at(&mut self.buf, self.total) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BackupError::io("read", path, e)),
            };
            self.hasher.update(&self.buf[..n]);
            self.total += n as u64;
            done += n as u64;
        }
        Ok(false)
    }

    /// Size and sha256 (hex) of everything hashed.
    fn finish(self) -> (u64, String) {
        (self.total, hex(&self.hasher.finalize()))
    }
}

fn write_sidecar(path: &Utf8Path, sha256: &str) -> Result<Utf8PathBuf, BackupError> {
    let sidecar = sidecar_path(path);
    let tmp = Utf8PathBuf::from(format!(
        "{}/.{}.partial",
        sidecar.parent().map(Utf8Path::as_str).unwrap_or("."),
        sidecar.file_name().unwrap_or_default()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(sidecar_text(sha256, path).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &sidecar)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BackupError::io("write", &sidecar, e)
    })?;
    Ok(sidecar)
}

fn sync_dir(dir: &Utf8Path) -> Result<(), BackupError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| BackupError::io("fsync", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead run's partial file goes when the next backup claims its own; one
    /// still locked by a live writer (pg_dump outliving a killed drydock) stays.
    #[test]
    fn dead_partials_are_removed_live_ones_kept() {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("drydock-partials-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dead = dir.join(".backup_prod_20260101_000000.sql.partial");
        let live = dir.join(".backup_prod_20260101_000001.sql.partial");
        let other_env = dir.join(".backup_dev_20260101_000000.sql.partial");
        let stranger = dir.join("notes.partial");
        for f in [&dead, &live, &other_env, &stranger] {
            std::fs::write(f, "x").unwrap();
        }
        let writer = File::open(&live).unwrap();
        writer.try_lock().unwrap();
        let (mut ours, file) = claim_partial(&dir, "prod").unwrap();
        assert!(!dead.exists(), "the dead run's partial file survived");
        assert!(live.exists() && other_env.exists() && stranger.exists());
        // Ours is locked while open: a concurrent run leaves it alone.
        remove_dead_partials(&dir, "prod", &dir.join("unrelated"));
        assert!(ours.path.exists() && live.exists());
        drop(file);
        ours.armed = true;
        drop(ours);
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
