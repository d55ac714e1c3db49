//! Integration tests of `crates/backup` against PostgreSQL in the demo
//! stack's database container.
//!
//! - `dump`: round trip into a scratch database, sidecar and mode, same-second
//!   backups, the host's pg_dump.
//! - `failures`: a failing pg_dump, a stopped container, an interruption, a
//!   full disk: no final file, no partial file.
//! - `verify`: a file cut in the middle, a corrupted sidecar, non-dumps.
//! - `retention`: `prune` deletes exactly the oldest matching files; `list`.

mod dump;
mod failures;
mod retention;
mod verify;

use backup::{Backup, BackupError, PgClient};
use camino::{Utf8Path, Utf8PathBuf};
use testbench::Stack;

/// Tables with keys, a foreign key, escapes in text, a quoted name and JSON.
pub const SEED: &str = r#"
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers (id), total numeric(10,2));
CREATE TABLE "Weird Name" (k text PRIMARY KEY, v jsonb);
INSERT INTO customers (name, note) SELECT 'c' || g, E'line1\nline2\ttab \\ end' FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total) SELECT 1 + g % 500, g * 1.5 FROM generate_series(1, 2000) g;
INSERT INTO "Weird Name" VALUES ('a', '{"x": 1}'), ('b', NULL);
"#;

/// A demo stack with only its database running, seeded.
pub fn seeded(tag: &str) -> Stack {
    Stack::seeded(tag, SEED)
}

/// A backup of the stack's database into its backups folder.
pub fn dump(stack: &Stack) -> Result<Backup, BackupError> {
    let client = PgClient::container(&stack.compose).expect("client");
    backup::dump(&client, stack.backups(), "test", &|| false, &mut |_| {})
}

/// Every file in a folder (names), sorted; empty when the folder is missing.
pub fn files(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = match dir.read_dir_utf8() {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Per-table md5 of the rows of database `db`, as `table:md5` lines.
pub fn table_checksums(stack: &Stack, db: &str) -> String {
    stack.psql_db(
        db,
        "SELECT string_agg(t, E'\\n' ORDER BY t) FROM (
           SELECT format('%I.%I:%s', n.nspname, c.relname, (xpath('/row/c/text()', query_to_xml(
             format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS c FROM %I.%I x', n.nspname, c.relname), false, true, '')))[1]::text) AS t
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')) s",
    )
}

/// Replays a dump into a new database `db` with the container's psql.
pub fn replay_into_new_database(stack: &Stack, file: &Utf8Path, db: &str) {
    stack.psql(&format!("CREATE DATABASE {db}"));
    let id = stack.db_container();
    duct::cmd!("docker", "exec", "-i", id, "psql", "-U", "demo", "-d", db, "-v", "ON_ERROR_STOP=1", "-X", "-q")
        .stdin_path(file)
        .stdout_null()
        .run()
        .expect("replay into the scratch database");
}

/// A scratch folder removed on drop.
pub struct TempDir(pub Utf8PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("drydock-backup-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
