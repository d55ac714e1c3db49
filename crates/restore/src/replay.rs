//! `replay`: one psql transaction of preamble, backup and completion check.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backup::{PgClient, Verified};

use crate::RestoreError;

/// Runs first, inside the restore's transaction: empties the database so
/// that any plain-SQL dump, with or without `--clean`, replays over it.
/// `public` is recreated as `initdb` makes it (owner and grants differ from
/// PostgreSQL 15 on), which is the state pg_dump expects to restore into.
pub const PREAMBLE: &str = r#"SET client_min_messages = warning;
DO $drydock$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
             AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
  LOOP
    EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
  IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
    CREATE SCHEMA public AUTHORIZATION pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    EXECUTE pg_catalog.format('CREATE SCHEMA public AUTHORIZATION %I',
      (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10));
    GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC;
  END IF;
  COMMENT ON SCHEMA public IS 'standard public schema';
END
$drydock$;
SET drydock.restore_complete = 'off';"#;

/// Written after the last byte of the backup: the stream was complete.
const SENTINEL: &[u8] = b"\nSET drydock.restore_complete = 'on';\n";

/// Runs last, inside the restore's transaction: refuses to commit unless the
/// whole stream (file and sentinel) arrived.
pub const COMPLETION_CHECK: &str = "DO $drydock$ BEGIN
  IF pg_catalog.current_setting('drydock.restore_complete', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'drydock: the restore stream ended before the end of the backup file; rolling back';
  END IF;
END $drydock$;";

static REPLAYS: AtomicUsize = AtomicUsize::new(0);

/// A replay that committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Bytes of the backup file streamed.
    pub bytes: u64,
    /// Wall time of the whole transaction.
    pub duration: Duration,
}

/// Replays a verified backup into the database `client` reaches, inside one
/// transaction (see the crate documentation). Calls `on_progress` with the
/// bytes streamed so far. Setting `cancel` rolls the replay back.
pub fn replay(
    client: &PgClient,
    backup: &Verified,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Replayed, RestoreError> {
    let start = Instant::now();
    let read_error = |e: std::io::Error| RestoreError::Read {
        path: backup.path.to_string(),
        detail: e.to_string(),
    };
    let mut file = std::fs::File::open(&backup.path).map_err(read_error)?;
    let app = format!(
        "drydock_restore_{}_{}",
        std::process::id(),
        REPLAYS.fetch_add(1, Ordering::Relaxed)
    );
    let name_session = format!("SET application_name = '{app}';");
    let program = client.describe("psql");
    let spawn_error = |e: std::io::Error| RestoreError::Spawn {
        program: program.clone(),
        detail: e.to_string(),
    };

    let (stdin, mut pipe) = os_pipe::pipe().map_err(spawn_error)?;
    let args = [
        "-X",
        "-q",
        // the long form: compose refuses a bare `-v` anywhere in a command
        "--set=ON_ERROR_STOP=1",
        "--single-transaction",
        "-c",
        &name_session,
        "-c",
        PREAMBLE,
        "-f",
        "-",
        "-c",
        COMPLETION_CHECK,
    ];
    let handle = client
        .command("psql", &args)?
        .stdin_file(stdin)
        .stdout_null()
        .stderr_capture()
        .unchecked()
        .start()
        .map_err(spawn_error)?;

    // STEP 1: stream the file, then the sentinel; stop early on cancel or a closed pipe.
    let mut buf = vec![0u8; 1 << 20];
    let mut sent = 0u64;
    let mut complete = false;
    loop {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(pipe);
                let _ = handle.wait();
                return Err(read_error(e));
            }
        };
        if n == 0 {
            complete = pipe.write_all(SENTINEL).is_ok();
            break;
        }
        if pipe.write_all(&buf[..n]).is_err() {
            break; // psql stopped reading: it failed; its status says why
        }
        sent += n as u64;
        on_progress(sent);
    }
    drop(pipe);

    // STEP 2: wait for psql; an interruption now cancels its statement.
    let mut cancelled_backend = false;
    let output = loop {
        match handle.try_wait().map_err(spawn_error)? {
            Some(output) => break output.clone(),
            None => {
                if cancel.load(Ordering::Relaxed) && !cancelled_backend {
                    cancelled_backend = true;
                    let _ = client.query(&format!(
                        "SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity WHERE application_name = '{app}'"
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    if output.status.success() && complete {
        return Ok(Replayed {
            bytes: sent,
            duration: start.elapsed(),
        });
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(RestoreError::Interrupted);
    }
    Err(RestoreError::Failed {
        program,
        code: output.status.code(),
        stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 12),
    })
}

/// Rows per ordinary table of the database `client` reaches, named as
/// pg_dump names them (`public."Order"`).
pub fn table_counts(client: &PgClient) -> Result<BTreeMap<String, u64>, RestoreError> {
    let out = client.query(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) || '|' ||
                (xpath('/row/c/text()', query_to_xml(pg_catalog.format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
         ORDER BY 1",
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.rsplit_once('|'))
        .filter_map(|(t, n)| Some((t.to_owned(), n.trim().parse().ok()?)))
        .collect())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
