//! A throwaway PostgreSQL cluster from the host's binaries, stopped and deleted on drop.
//!
//! Binaries come from `DRYDOCK_PG_BIN`, else `/usr/lib/postgresql/15/bin`,
//! else the newest `/usr/lib/postgresql/*/bin`. As root, the server runs as
//! the `postgres` user (`runuser -u postgres --`). It listens on a free port of
//! 127.0.0.1 and on a unix socket in its own temporary folder, with trust
//! authentication for user `postgres`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// How the cluster trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync = off`, `full_page_writes = off`: for tests.
    Fast,
    /// PostgreSQL's defaults (fsync on): for benchmarks that count commits.
    Default,
}

/// A running cluster. Dropping it stops the server and removes its folder.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// A fresh database of a [`Cluster`].
#[derive(Debug, Clone)]
pub struct Database {
    /// Its name.
    pub name: String,
    /// `postgresql://postgres@127.0.0.1:PORT/NAME`.
    pub url: String,
}

static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Cluster {
    /// The cluster shared by the tests of this process that are running now:
    /// started by the first, stopped when the last drops its `Arc`.
    /// Panics with the reason if no cluster can start.
    pub fn shared() -> Arc<Cluster> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Cluster::start(Durability::Fast).unwrap_or_else(|e| panic!("{e}")));
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    /// Creates and starts a new cluster (about two seconds).
    pub fn start(durability: Durability) -> Result<Cluster, String> {
        let bin = pg_bin()?;
        let as_postgres = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("drydock-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cluster = Cluster { dir, bin, port: 0, as_postgres };
        if as_postgres {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to the postgres user: {e}", cluster.dir.display()))?;
        }
        let data = cluster.data();
        cluster.run(
            cluster.tool("initdb"),
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
            true,
        )?;
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 200\n",
            cluster.dir.display()
        );
        if durability == Durability::Fast {
            conf.push_str("fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n");
        }
        append(&data.join("postgresql.conf"), &conf)?;
        let mut cluster = cluster;
        let mut last_error = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            append(&data.join("postgresql.conf"), &format!("port = {}\n", cluster.port))?;
            let log = cluster.dir.join("server.log");
            match cluster.run(
                cluster.tool("pg_ctl"),
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "30".as_ref(),
                    "start".as_ref(),
                ],
                true,
            ) {
                Ok(()) => return Ok(cluster),
                Err(e) => last_error = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        }
        Err(format!("cannot start a PostgreSQL cluster in {}: {last_error}", cluster.dir.display()))
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// URL of database `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Path of a PostgreSQL program of the same version (`psql`, `pg_dump`, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Creates a fresh, empty database with a unique name.
    pub fn database(&self) -> Database {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let port = self.port.to_string();
        self.run(
            self.tool("createdb"),
            &[
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                name.as_ref(),
            ],
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Database { url: self.url_of(&name), name }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs `program args`, as `postgres` if `as_postgres` and we are root;
    /// stderr goes into the error.
    fn run(&self, program: impl AsRef<Path>, args: &[&std::ffi::OsStr], as_postgres: bool) -> Result<(), String> {
        let program = program.as_ref();
        let expr = if as_postgres && self.as_postgres {
            let mut all: Vec<&std::ffi::OsStr> =
                vec!["-u".as_ref(), "postgres".as_ref(), "--".as_ref(), program.as_os_str()];
            all.extend_from_slice(args);
            duct::cmd("runuser", all)
        } else {
            duct::cmd(program, args)
        };
        let out = expr
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{} failed: {}", program.display(), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data();
            let _ = self.run(
                self.tool("pg_ctl"),
                &["-D".as_ref(), data.as_os_str(), "-m".as_ref(), "immediate".as_ref(), "-w".as_ref(), "stop".as_ref()],
                true,
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("DRYDOCK_PG_BIN").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let default = PathBuf::from("/usr/lib/postgresql/15/bin");
    if default.join("initdb").exists() {
        return Ok(default);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries (initdb) found: `apt-get install postgresql`, or set DRYDOCK_PG_BIN".to_owned()
    })
}

/// Uid and gid of the `postgres` user, from `/etc/passwd`.
fn postgres_ids() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| "there is no `postgres` user to run the server as root: `apt-get install postgresql`".to_owned())
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot find a free port: {e}"))
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
