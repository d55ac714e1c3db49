//! `replay`: one psql transaction of preamble, backup and completion check.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backup::{PgClient, Verified};

use crate::filter::{Filter, FilterError};
use crate::RestoreError;

/// Runs first, inside the restore's transaction: empties the database so
/// that any plain-SQL dump, with or without `--clean`, replays over it.
/// `public` is recreated as `initdb` makes it (owner and grants differ from
/// PostgreSQL 15 on), which is the state pg_dump expects to restore into.
pub const PREAMBLE: &str = r#"SET client_min_messages = warning;
SET LOCAL lock_timeout = '30s';
DO $drydock$
DECLARE
  s name;
  holders text;
BEGIN
  RAISE WARNING 'drydock-restore-txid %', pg_catalog.txid_current();
  BEGIN
    FOR s IN SELECT n.nspname FROM pg_catalog.pg_namespace n
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
               AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                               WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                                 AND d.objid = n.oid AND d.deptype = 'e')
    LOOP
      EXECUTE pg_catalog.format('DROP SCHEMA IF EXISTS %I CASCADE', s);
    END LOOP;
    PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata;
  EXCEPTION WHEN lock_not_available THEN
    SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (application %L, user %s, %s since %s)',
             a.pid, a.application_name, a.usename, a.state, a.state_change), '; ')
      INTO holders
      FROM pg_catalog.pg_stat_activity a
     WHERE a.pid <> pg_catalog.pg_backend_pid()
       AND a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_database b ON b.oid = l.database
                     WHERE l.granted AND l.locktype <> 'advisory' AND b.datname = pg_catalog.current_database());
    RAISE EXCEPTION 'drydock: another session holds locks in this database and kept them for the 30 s lock_timeout: %',
      coalesce(holders, 'it is gone now')
      USING HINT = 'stop that session (SELECT pg_terminate_backend(<pid>)) or the program it belongs to, then restore again';
  END;
  IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
    CREATE SCHEMA IF NOT EXISTS public AUTHORIZATION pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS public AUTHORIZATION %I',
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
    let read_error = |e: std::io::Error| RestoreError::Read { path: backup.path.to_string(), detail: e.to_string() };
    let mut file = std::fs::File::open(&backup.path).map_err(read_error)?;
    let app = format!("drydock_restore_{}_{}", std::process::id(), REPLAYS.fetch_add(1, Ordering::Relaxed));
    let name_session = format!("SET application_name = '{app}';");
    let program = client.describe("psql");
    let spawn_error = |e: std::io::Error| RestoreError::Spawn { program: program.clone(), detail: e.to_string() };

    let (stdin, pipe) = os_pipe::pipe().map_err(spawn_error)?;
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

    // STEP 1: stream the file through the filter, then the sentinel; stop
    // early on cancel, a refused line or a closed pipe.
    let mut buf = vec![0u8; 1 << 20];
    let mut out = std::io::BufWriter::with_capacity(1 << 20, pipe);
    let mut filter = Filter::new();
    let mut sent = 0u64;
    let mut complete = false;
    let mut refused = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(out.into_parts());
                let _ = handle.wait();
                return Err(read_error(e));
            }
        };
        let fed = if n == 0 {
            filter.finish(&mut |b: &[u8]| out.write_all(b))
        } else {
            filter.feed(&buf[..n], &mut |b: &[u8]| out.write_all(b))
        };
        match fed {
            Ok(()) => {}
            Err(FilterError::Refused(r)) => {
                refused = Some(r);
                break;
            }
            Err(FilterError::Output(_)) => break, // psql stopped reading: it failed; its status says why
        }
        if n == 0 {
            complete = out.write_all(SENTINEL).and_then(|()| out.flush()).is_ok();
            break;
        }
        sent += n as u64;
        on_progress(sent);
    }
    // Without the sentinel the completion check fails and rolls back: what is
    // still buffered is dropped, never sent.
    drop(out.into_parts());

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
    let stderr = String::from_utf8_lossy(&output.stderr);
    let replayed = Replayed { bytes: sent, duration: start.elapsed() };

    // STEP 3: say what happened, and only what is known.
    if output.status.success() && complete {
        return Ok(replayed);
    }
    if let Some(refused) = refused {
        // The stream stopped before the refused line: it cannot commit.
        let _ = settle(client, &app);
        return Err(RestoreError::Refused { path: backup.path.to_string(), reason: refused.to_string() });
    }
    let failed =
        RestoreError::Failed { program: program.clone(), code: output.status.code(), stderr: last_lines(&stderr, 12) };
    let interrupted = cancel.load(Ordering::Relaxed);
    // Rolled back for sure: the stream was cut before the sentinel (the
    // completion check cannot pass), or psql stopped on an error in the file
    // (exit code 3 with ON_ERROR_STOP) before it sent any COMMIT.
    // Also when the preamble never reported its transaction while the
    // client's stderr is whole (it exited, no signal): nothing began.
    let never_began = output.status.code().is_some() && txid_in(&stderr).is_none();
    let certain = !complete || never_began || output.status.code() == Some(3) && !interrupted;
    if certain {
        let _ = settle(client, &app);
        return Err(if interrupted { RestoreError::Interrupted } else { failed });
    }
    // The client ended abnormally (a signal, a lost connection, a cancel after
    // the last byte): the server decides. Wait until the session is gone, then
    // ask for its transaction's status.
    let unknown = |detail: String| RestoreError::Unknown { program: program.clone(), detail };
    settle(client, &app).map_err(unknown)?;
    let Some(txid) = txid_in(&stderr) else {
        return Err(unknown(format!("{failed}")));
    };
    let status = client.query(&format!("SELECT pg_catalog.txid_status({txid})")).map_err(|e| unknown(e.to_string()))?;
    match status.trim() {
        "committed" => Ok(replayed),
        "aborted" if interrupted => Err(RestoreError::Interrupted),
        "aborted" => Err(failed),
        other => Err(unknown(format!("its transaction {txid} is `{other}`; {failed}"))),
    }
}

/// Waits until no session of the replay (`application_name`) remains; after
/// 30 s, terminates what is left (an uncommitted transaction then rolls back).
fn settle(client: &PgClient, app: &str) -> Result<(), String> {
    let count = format!("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = '{app}'");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut terminated = false;
    loop {
        let left = client.query(&count).map_err(|e| e.to_string())?;
        if left.trim() == "0" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("its database session `{app}` is still there after 60 s"));
        }
        if !terminated && Instant::now() + Duration::from_secs(30) > deadline {
            terminated = true;
            client
                .query(&format!(
                    "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE application_name = '{app}'"
                ))
                .map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The restore's transaction id, as the preamble reported it on stderr.
fn txid_in(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|l| l.split_once("drydock-restore-txid ")?.1.trim().parse().ok())
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
    let lines: Vec<&str> =
        text.lines().filter(|l| !l.trim().is_empty() && !l.contains("drydock-restore-txid")).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transaction_id_is_read_from_the_preamble_warning() {
        let stderr = "WARNING:  drydock-restore-txid 7421\npsql:<stdin>:12: ERROR:  boom\n";
        assert_eq!(txid_in(stderr), Some(7421));
        assert_eq!(txid_in("ERROR:  connection lost"), None);
        assert_eq!(last_lines(stderr, 5), "psql:<stdin>:12: ERROR:  boom");
    }
}
