//! `dump`: pg_dump streamed to a `.partial` file, checked, synced, renamed,
//! with a sha256 sidecar; nothing that looks like a backup on any failure.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::verify::{check_complete, hex, sidecar_path, sidecar_text};
use crate::{file_name, BackupError, PgClient};

/// The options drydock dumps with; the crate documentation says why.
pub const DUMP_OPTIONS: [&str; 4] = ["--format=plain", "--clean", "--if-exists", "--no-owner"];

/// Size of each buffer the dump streams through.
const BUFFER: usize = 1 << 20;

/// Buffers queued for hashing at most (memory stays under a few MiB).
const IN_FLIGHT: usize = 4;

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

/// Dumps the database `client` reaches into `dir` as a backup of `env`.
///
/// Streams pg_dump's output through a few 1 MiB buffers into
/// `.backup_<env>_<ts>.sql.partial` (mode 0600), hashing as it goes and
/// calling `on_progress` with the bytes written so far. Then checks the exit
/// status, the header and the trailer, syncs the file, links it to its final
/// name (never replacing a file), writes the sidecar and syncs the folder.
/// Setting `cancel` (a Ctrl-C or SIGTERM handler) kills pg_dump. On any
/// error the partial file is removed and no final-named file exists.
pub fn dump(
    client: &PgClient,
    dir: &Utf8Path,
    env: &str,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Backup, BackupError> {
    let start = Instant::now();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| BackupError::io("create", dir, e))?;
    let (mut partial, mut file) = claim_partial(dir, env)?;

    // STEP 1: stream pg_dump into the partial file.
    let program = client.describe("pg_dump");
    let reader = client
        .command("pg_dump", &DUMP_OPTIONS)?
        .stdin_null()
        .stderr_capture()
        .unchecked()
        .reader()
        .map_err(|e| BackupError::Spawn { program: program.clone(), detail: e.to_string() })?;
    let finished = AtomicBool::new(false);
    let (size, sha256) = std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if cancel.load(Ordering::Relaxed) {
                    let _ = reader.kill();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let copied = copy_hashing(&reader, &mut file, &partial.path, on_progress);
        finished.store(true, Ordering::Relaxed);
        copied
    })?;
    if cancel.load(Ordering::Relaxed) {
        return Err(BackupError::Interrupted);
    }

    // STEP 2: pg_dump said it succeeded, and the file says it is complete.
    let output = reader
        .try_wait()
        .map_err(|e| BackupError::Spawn { program: program.clone(), detail: e.to_string() })?
        .ok_or_else(|| BackupError::Spawn {
            program: program.clone(),
            detail: "did not exit after closing its output".into(),
        })?;
    if !output.status.success() {
        return Err(BackupError::PgDumpFailed {
            program,
            code: output.status.code(),
            stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 10),
        });
    }
    file.sync_all().map_err(|e| BackupError::io("fsync", &partial.path, e))?;
    drop(file);
    check_complete(&partial.path).map_err(|e| BackupError::Incomplete { reason: e.to_string() })?;

    // STEP 3: the final name (never replacing a file), the sidecar, the folder synced.
    let path = publish(dir, env, &partial.path)?;
    let _ = std::fs::remove_file(&partial.path);
    partial.armed = false;
    let sidecar = write_sidecar(&path, &sha256).inspect_err(|_| {
        let _ = std::fs::remove_file(&path);
    })?;
    sync_dir(dir)?;
    Ok(Backup { path, sidecar, size, sha256, duration: start.elapsed() })
}

/// Creates `.backup_<env>_<ts>.sql.partial` exclusively, for a second whose
/// final name is free; waits for the next second when it is taken.
fn claim_partial(dir: &Utf8Path, env: &str) -> Result<(Partial, File), BackupError> {
    loop {
        let now = OffsetDateTime::now_utc();
        let name = file_name(env, now);
        let partial = dir.join(format!(".{name}.partial"));
        if !dir.join(&name).exists() {
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&partial) {
                Ok(file) => return Ok((Partial { path: partial, armed: true }, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(BackupError::io("create", &partial, e)),
            }
        }
        wait_next_second(now);
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

/// Copies `from` into `to`, returning the bytes copied and their sha256.
///
/// Hashing runs on its own thread so it does not stall the reading of
/// pg_dump's output; at most [`IN_FLIGHT`] buffers exist at once. The file is
/// synced once, at the end (a periodic `fdatasync` during the copy stalled
/// the writes and cost about 10 % of the throughput on this machine's disk).
fn copy_hashing(
    mut from: impl Read,
    to: &mut File,
    path: &Utf8Path,
    on_progress: &mut dyn FnMut(u64),
) -> Result<(u64, String), BackupError> {
    // Buffers keep their full length and travel with their fill: refilling
    // (zeroing) 1 MiB for every short pipe read cost a quarter of the throughput.
    let (to_hasher, hasher_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let hasher = s.spawn(move || {
            let mut hasher = Sha256::new();
            for (buf, n) in hasher_rx {
                hasher.update(&buf[..n]);
                let _ = recycle.send(buf);
            }
            hex(&hasher.finalize())
        });
        let copied = (|| {
            let mut total = 0u64;
            loop {
                let mut buf = recycled.try_recv().unwrap_or_else(|_| vec![0; BUFFER]);
                let n = match from.read(&mut buf) {
                    Ok(0) => return Ok(total),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(BackupError::io("read the output of pg_dump for", path, e)),
                };
                to.write_all(&buf[..n]).map_err(|e| BackupError::io("write", path, e))?;
                total += n as u64;
                on_progress(total);
                if to_hasher.send((buf, n)).is_err() {
                    return Err(BackupError::Io {
                        action: "hash".into(),
                        path: path.to_string(),
                        detail: "the hashing thread stopped".into(),
                    });
                }
            }
        })();
        drop(to_hasher);
        let sha256 = hasher.join().expect("the hashing thread does not panic");
        copied.map(|total| (total, sha256))
    })
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

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
