//! `replay`: drydock's own connection replays the backup in one transaction
//! it opens and commits itself: no psql, so no meta-command can run.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufReader, Cursor};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backup::{PgClient, Verified};
use futures_util::{pin_mut, SinkExt};
use pgconn::Params;
use tokio_postgres::{Client, NoTls};

use crate::reader::{Item, ReadError, Reader};
use crate::RestoreError;

/// Runs first, inside the restore's transaction: empties the database so
/// that any plain-SQL dump, with or without `--clean`, replays over it.
/// `public` is recreated as `initdb` makes it (owner and grants differ from
/// PostgreSQL 15 on), which is the state pg_dump expects to restore into.
pub const PREAMBLE: &str = r#"SET LOCAL lock_timeout = '30s';
DO $drydock$
DECLARE
  s name;
  holders text;
BEGIN
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

/// Runs last, inside the restore's transaction, after
/// `SET drydock.restore_complete = 'on'` which drydock sends only once the
/// whole file was read: refuses to commit a replay cut short.
pub const COMPLETION_CHECK: &str = "DO $drydock$ BEGIN
  IF pg_catalog.current_setting('drydock.restore_complete', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'drydock: the restore stream ended before the end of the backup file; rolling back';
  END IF;
END $drydock$;";

/// The session's own settings, before `BEGIN`: the server lexes strings as
/// the reader does, whatever the database's defaults.
const SESSION: &str = "SET standard_conforming_strings = on; SET client_min_messages = warning; BEGIN";

/// `COPY` data is sent in pieces of about this many bytes (whole lines).
const COPY_CHUNK: usize = 1 << 20;

static REPLAYS: AtomicUsize = AtomicUsize::new(0);

/// A replay that committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Bytes of the backup file replayed.
    pub bytes: u64,
    /// Wall time of the whole transaction.
    pub duration: Duration,
    /// Rows the server copied into each table in the committed transaction
    /// (its `COPY n` command tags), by the table's name as the file writes
    /// it: what was restored, not a count taken once the app runs again.
    pub rows: BTreeMap<String, u64>,
}

/// Replays a verified backup into the database `client` names, over
/// drydock's own connection, inside one transaction (see the crate
/// documentation). Calls `on_progress` with the bytes read so far. Setting
/// `cancel` rolls the replay back.
pub fn replay(
    client: &PgClient,
    backup: &Verified,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Replayed, RestoreError> {
    let path = backup.path.to_string();
    let file = std::fs::File::open(&backup.path)
        .map_err(|e| RestoreError::Read { path: path.clone(), detail: e.to_string() })?;
    let app = format!("drydock restore {} {}", std::process::id(), REPLAYS.fetch_add(1, Ordering::Relaxed));
    let config = params(client)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RestoreError::Connect { detail: format!("cannot start the async runtime: {e}") })?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 20, file));
    runtime.block_on(run(&config, &app, &path, &mut reader, cancel, on_progress))
}

/// Where the connection goes: the client's driver address (the xtask's URL:
/// `DATABASE_URL`, an SSH tunnel) with its role and password, opened by
/// [`pgconn`], the workspace's one connect function.
fn params(client: &PgClient) -> Result<pgconn::Params, RestoreError> {
    let db = client.driver();
    let (host, port) = client.network_address()?;
    let mut params = pgconn::Params::default();
    params.hosts = vec![host];
    params.ports = vec![port];
    params.user = Some(db.user.clone());
    params.dbname = Some(db.dbname.clone());
    params.set_password(db.password().map(str::to_owned));
    Ok(params)
}

/// The restore's transaction, as the server knows it.
struct Session {
    xid: u64,
    pid: i32,
}

/// Why the replay stopped before `COMMIT`.
enum Stop {
    /// The server refused a statement (or the connection broke) at this line.
    Server(Option<u64>, tokio_postgres::Error),
    /// The file holds something pg_dump does not write, or cannot be read.
    Read(ReadError),
    Interrupted,
}

async fn run(
    config: &Params,
    app: &str,
    path: &str,
    reader: &mut Reader<BufReader<std::fs::File>>,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Replayed, RestoreError> {
    let start = Instant::now();
    // STEP 1: connect and begin. Nothing can change before the preamble.
    let connect_error = |e: tokio_postgres::Error| RestoreError::Connect { detail: describe(&e) };
    let db = pgconn::connect_params(config, app).await.map_err(|e| RestoreError::Connect { detail: e.to_string() })?;
    db.batch_execute(SESSION).await.map_err(connect_error)?;
    let row = db
        .query_one("SELECT pg_catalog.txid_current()::text, pg_catalog.pg_backend_pid()", &[])
        .await
        .map_err(connect_error)?;
    let session = Session { xid: row.get::<_, String>(0).parse().unwrap_or(0), pid: row.get(1) };

    // STEP 2: the preamble, every statement of the file, the completion check.
    let mut rows = BTreeMap::new();
    let stop = steps(&db, reader, cancel, on_progress, &mut rows).await.err();
    let Some(stop) = stop else {
        // STEP 3: commit, and know that it did.
        return match db.batch_execute("COMMIT").await {
            Ok(()) => Ok(Replayed { bytes: reader.bytes(), duration: start.elapsed(), rows }),
            Err(e) if e.as_db_error().is_some() => {
                Err(RestoreError::Failed { path: path.to_owned(), cause: format!("COMMIT failed: {}", describe(&e)) })
            }
            Err(e) => match ask(config, app, &session).await {
                Asked::Committed => Ok(Replayed { bytes: reader.bytes(), duration: start.elapsed(), rows }),
                Asked::Aborted => Err(RestoreError::Failed {
                    path: path.to_owned(),
                    cause: format!("the connection broke during COMMIT ({})", describe(&e)),
                }),
                Asked::Unknown(why) => Err(RestoreError::Unknown {
                    path: path.to_owned(),
                    cause: format!("the connection broke during COMMIT ({})", describe(&e)),
                    why,
                }),
            },
        };
    };

    // STEP 4: roll back, and know that it did.
    let cause = match &stop {
        Stop::Server(Some(line), e) => format!("line {line}: {}", describe(e)),
        Stop::Server(None, e) => describe(e),
        Stop::Read(ReadError::Io(e)) => format!("cannot read {path}: {e}"),
        Stop::Read(ReadError::Refused(r)) => r.to_string(),
        Stop::Interrupted => "interrupted".to_owned(),
    };
    let outcome = roll_back(&db, config, app, &session).await;
    match (outcome, stop) {
        (Asked::Aborted, Stop::Interrupted) => Err(RestoreError::Interrupted),
        (Asked::Aborted, Stop::Read(ReadError::Refused(r))) => {
            Err(RestoreError::Refused { path: path.to_owned(), reason: crate::check::not_a_dump(&r) })
        }
        (Asked::Aborted, _) => Err(RestoreError::Failed { path: path.to_owned(), cause }),
        (Asked::Committed, _) => Err(RestoreError::Unknown {
            path: path.to_owned(),
            cause,
            why: "yet the server reports the restore's transaction as committed".to_owned(),
        }),
        (Asked::Unknown(why), _) => Err(RestoreError::Unknown { path: path.to_owned(), cause, why }),
    }
}

async fn steps(
    db: &Client,
    reader: &mut Reader<BufReader<std::fs::File>>,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(u64),
    rows: &mut BTreeMap<String, u64>,
) -> Result<(), Stop> {
    guarded(db, cancel, db.batch_execute(PREAMBLE)).await.map_err(|e| stop(cancel, None, e))?;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Stop::Interrupted);
        }
        match reader.next_item().map_err(Stop::Read)? {
            Item::End => break,
            Item::Run { line, sql } => {
                // The extended protocol: the server runs at most one statement per message.
                guarded(db, cancel, db.execute_typed(&sql, &[])).await.map_err(|e| stop(cancel, Some(line), e))?;
            }
            Item::Copy { line, sql, table } => {
                let sink = guarded(db, cancel, db.copy_in::<str, Cursor<Vec<u8>>>(&sql))
                    .await
                    .map_err(|e| stop(cancel, Some(line), e))?;
                pin_mut!(sink);
                while let Some(chunk) = reader.copy_chunk(COPY_CHUNK).map_err(Stop::Read)? {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Stop::Interrupted);
                    }
                    guarded(db, cancel, sink.send(Cursor::new(chunk)))
                        .await
                        .map_err(|e| stop(cancel, Some(line), e))?;
                    on_progress(reader.bytes());
                }
                let copied =
                    guarded(db, cancel, sink.as_mut().finish()).await.map_err(|e| stop(cancel, Some(line), e))?;
                *rows.entry(table).or_default() += copied;
            }
        }
        on_progress(reader.bytes());
    }
    on_progress(reader.bytes());
    let complete = format!("SET drydock.restore_complete = 'on'; {COMPLETION_CHECK}");
    guarded(db, cancel, db.batch_execute(&complete)).await.map_err(|e| stop(cancel, None, e))?;
    Ok(())
}

fn stop(cancel: &AtomicBool, line: Option<u64>, e: tokio_postgres::Error) -> Stop {
    if cancel.load(Ordering::Relaxed) {
        Stop::Interrupted
    } else {
        Stop::Server(line, e)
    }
}

/// Runs `work`; once `cancel` is set, asks the server to cancel it.
async fn guarded<T>(
    db: &Client,
    cancel: &AtomicBool,
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    pin_mut!(work);
    let mut cancelled = false;
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(Duration::from_millis(100)), if !cancelled => {
                if cancel.load(Ordering::Relaxed) {
                    cancelled = true;
                    let _ = db.cancel_token().cancel_query(NoTls).await;
                }
            }
        }
    }
}

/// What the server says of the restore's transaction.
enum Asked {
    Committed,
    Aborted,
    Unknown(String),
}

/// Rolls the transaction back on its own connection if it is alive (the
/// server's answer confirms it), else asks the server from a new one.
async fn roll_back(db: &Client, config: &Params, app: &str, session: &Session) -> Asked {
    if !db.is_closed() {
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(30), db.batch_execute("ROLLBACK")).await {
            return Asked::Aborted;
        }
    }
    ask(config, app, session).await
}

/// `txid_status` of the restore's transaction, from a new connection, once
/// its session is gone (terminated after 10 s: it can then only roll back).
async fn ask(config: &Params, app: &str, session: &Session) -> Asked {
    let unknown = |e: tokio_postgres::Error| Asked::Unknown(format!("the server cannot be asked ({})", describe(&e)));
    let db = match tokio::time::timeout(Duration::from_secs(15), pgconn::connect_params(config, app)).await {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Asked::Unknown(format!("the server cannot be asked ({e})")),
        Err(_) => return Asked::Unknown("the server does not answer a new connection within 15 s".to_owned()),
    };
    let start = Instant::now();
    let status = format!("SELECT pg_catalog.txid_status({})", session.xid);
    let mut terminated = false;
    loop {
        let row = match db.query_one(&status, &[]).await {
            Ok(row) => row,
            Err(e) => return unknown(e),
        };
        match row.get::<_, Option<String>>(0).as_deref() {
            Some("committed") => return Asked::Committed,
            Some("aborted") => return Asked::Aborted,
            Some("in progress") => {}
            other => {
                return Asked::Unknown(format!("the server reports transaction {} as {other:?}", session.xid));
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Asked::Unknown(format!(
                "transaction {} of session pid {} is still in progress after 60 s",
                session.xid, session.pid
            ));
        }
        if !terminated && start.elapsed() > Duration::from_secs(10) {
            terminated = true;
            let _ = db
                .execute(
                    "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE pid = $1 AND application_name = $2",
                    &[&session.pid, &app],
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The server's message, detail and hint, or the client's error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
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
