//! Integration tests of `crates/restore` against the demo stack's real
//! containers.
//!
//! - `replay`: round trip after changes, a hand-made pg_dump without
//!   `--clean`, a file name with spaces and quotes, the restore test into a
//!   scratch database.
//! - `hostile`: backups built to escape the transaction or run a program,
//!   class by class (transaction control, meta-commands, COPY forms,
//!   settings, code, drops): refused before anything changes, nothing ran in
//!   the container; a connection killed mid-replay is a confirmed rollback.
//! - `refusals`: truncated file, corrupted sidecar, random text, missing path,
//!   directory: refused, database unchanged.
//! - `rollback`: an error in the middle of a dump and an interrupted stream
//!   roll back; the app services run again afterwards.
//! - `transaction`: what would break the single transaction: pg_dump's own
//!   `BEGIN;`/`COMMIT;` around large objects, `\connect`, a straggler
//!   session's lock; a dump without data.

mod hostile;
mod refusals;
mod replay;
mod rollback;
mod transaction;

use std::sync::atomic::AtomicBool;

use backup::{Backup, PgClient, Verified};
use camino::Utf8Path;
use restore::RestoreError;
use testbench::Stack;

/// Tables with keys, a foreign key, escapes in text, a quoted name, JSON and a second schema.
pub const SEED: &str = r#"
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers (id), total numeric(10,2));
CREATE TABLE "Weird Name" (k text PRIMARY KEY, v jsonb);
CREATE SCHEMA audit;
CREATE TABLE audit.log (id bigserial PRIMARY KEY, order_id int REFERENCES public.orders (id), at timestamptz DEFAULT now());
INSERT INTO customers (name, note) SELECT 'c' || g, E'line1\nline2\ttab \\ end' FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total) SELECT 1 + g % 500, g * 1.5 FROM generate_series(1, 2000) g;
INSERT INTO "Weird Name" VALUES ('a', '{"x": 1}'), ('b', NULL);
INSERT INTO audit.log (order_id) SELECT g FROM generate_series(1, 100) g;
"#;

/// Changes after the backup: rows changed and deleted, a table added that
/// references a backed-up one, a table dropped.
pub const CHANGES: &str = r#"
UPDATE customers SET name = 'changed' WHERE id <= 10;
DELETE FROM audit.log WHERE id > 50;
CREATE TABLE after_backup (id int REFERENCES customers (id));
INSERT INTO after_backup VALUES (1), (2);
DROP TABLE "Weird Name";
"#;

/// A demo stack with only its database running, seeded.
pub fn seeded(tag: &str) -> Stack {
    Stack::seeded(tag, SEED)
}

/// The container's psql and pg_dump as `demo`.
pub fn client(stack: &Stack) -> PgClient {
    PgClient::container(&stack.compose).expect("client")
}

/// A drydock backup of the stack's database.
pub fn backup(stack: &Stack) -> Backup {
    backup::dump(&client(stack), stack.backups(), "test", &|| false, &mut |_| {}).expect("backup")
}

/// Verifies, checks then replays, as `cargo xtask restore` does.
pub fn verify_and_replay(stack: &Stack, path: &Utf8Path) -> Result<restore::Replayed, String> {
    let verified: Verified = backup::verify(path).map_err(|e| e.to_string())?;
    restore::check(&client(stack), &verified).map_err(|e| e.to_string())?;
    restore::replay(&client(stack), &verified, &AtomicBool::new(false), &mut |_| {})
        .map_err(|e: RestoreError| e.to_string())
}

/// Every table with its rows' md5, one per line, sorted: the whole data of
/// the database, to compare before and after.
pub fn snapshot(stack: &Stack) -> String {
    stack.psql(
        "SELECT string_agg(t, E'\\n' ORDER BY t) FROM (
           SELECT format('%I.%I:%s', n.nspname, c.relname, (xpath('/row/c/text()', query_to_xml(
             format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS c FROM %I.%I x', n.nspname, c.relname), false, true, '')))[1]::text) AS t
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')) s",
    )
}

/// `text` with `extra` inserted before pg_dump's completeness trailer, as a
/// hand-made file (no sidecar) next to the stack's backups.
pub fn edited(stack: &Stack, text: &str, extra: &str, name: &str) -> camino::Utf8PathBuf {
    let at = text.rfind("--\n-- PostgreSQL database dump complete").expect("trailer");
    let path = stack.backups().join(name);
    std::fs::write(&path, format!("{}{extra}\n{}", &text[..at], &text[at..])).unwrap();
    path
}
