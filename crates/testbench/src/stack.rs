//! `Stack`: the demo stack (`demo/docker-compose.prod.yml`) under a unique
//! compose project, with helpers to seed and read its database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use compose::{Compose, Flavor};
use config::Environment;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The image variables `cargo xtask test` exports; a bench run needs them all.
const IMAGE_VARS: [&str; 3] = ["POSTGRES_IMAGE", "REDIS_IMAGE", "BASE_IMAGE"];

/// Panics with the way out when the test bench's environment is missing.
pub fn require_bench() {
    for var in IMAGE_VARS {
        if std::env::var_os(var).is_none() {
            panic!("{var} is not set: run the suite with `cargo xtask test`, which provisions Docker and the local images and exports {IMAGE_VARS:?}");
        }
    }
}

/// The workspace root.
pub fn workspace_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize_utf8().expect("workspace root")
}

/// A demo stack under a unique project name; everything it created is
/// removed on drop.
pub struct Stack {
    /// The environment (`test`), pointing at the stack's compose file.
    pub env: Environment,
    /// Compose of the requested flavor for `env`.
    pub compose: Compose,
    /// The unique compose project name.
    pub project: String,
    /// The configuration `env` was read from (environment `test`).
    pub config: config::Config,
    /// A copy of `demo/` when the test edits it.
    dir: Option<Utf8PathBuf>,
}

impl Stack {
    /// The demo stack as the repository has it.
    pub fn new(tag: &str, flavor: Flavor) -> Stack {
        Stack::build(tag, flavor, None, &[])
    }

    /// The demo stack from a copy of `demo/` and `migrations/` in a temporary
    /// root, edited by `edit(root)` before use (e.g. a Dockerfile that runs a
    /// destructive command, a broken migration).
    pub fn with_demo_copy(tag: &str, flavor: Flavor, edit: impl FnOnce(&Utf8Path)) -> Stack {
        Stack::with_demo_copy_and_settings(tag, flavor, &[], edit)
    }

    /// A copy of the demo (as [`Stack::with_demo_copy`]) with extra
    /// `key = value` lines in its environment table (as [`Stack::with_settings`]);
    /// an `app-services = [...]` line replaces the default list.
    pub fn with_demo_copy_and_settings(
        tag: &str,
        flavor: Flavor,
        settings: &[&str],
        edit: impl FnOnce(&Utf8Path),
    ) -> Stack {
        let project = unique_project(tag);
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("drydock-{project}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        copy_dir(&workspace_root().join("demo"), &dir.join("demo"));
        copy_dir(&workspace_root().join("migrations"), &dir.join("migrations"));
        edit(&dir);
        Stack::build_in(project, flavor, dir.clone(), Some(dir), settings)
    }

    /// The demo stack with extra `key = value` lines in its environment table
    /// (e.g. `pg-dump = "host"`).
    pub fn with_settings(tag: &str, flavor: Flavor, settings: &[&str]) -> Stack {
        Stack::build(tag, flavor, None, settings)
    }

    fn build(tag: &str, flavor: Flavor, dir: Option<Utf8PathBuf>, settings: &[&str]) -> Stack {
        Stack::build_in(unique_project(tag), flavor, workspace_root(), dir, settings)
    }

    fn build_in(
        project: String,
        flavor: Flavor,
        root: Utf8PathBuf,
        dir: Option<Utf8PathBuf>,
        settings: &[&str],
    ) -> Stack {
        require_bench();
        let backups =
            Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("drydock-{project}-backups"));
        let apps = match settings.iter().any(|s| s.trim_start().starts_with("app-services")) {
            true => "",
            false => r#"app-services = ["api", "web", "redis"]"#,
        };
        let text = format!(
            r#"
[workspace.metadata.deploy]
migrations = "migrations"
backups = "{backups}"

[workspace.metadata.deploy.environments.test]
compose-files = ["demo/docker-compose.prod.yml"]
project-name = "{project}"
database-service = "postgres"
{apps}
health-timeout = 60
{}
"#,
            settings.join("\n")
        );
        let config = config::Config::parse(&root, &text).unwrap();
        let env = config.environment("test").unwrap();
        let compose = Compose::with_flavor(&env, flavor);
        Stack { env, compose, project, config, dir }
    }

    /// A raw compose command for this stack (test setup only).
    pub fn raw_compose(&self, args: &[&str]) -> duct::Expression {
        let (program, mut argv): (&str, Vec<String>) = match self.compose.flavor() {
            Flavor::V2 => ("docker", vec!["compose".into()]),
            Flavor::V1 => ("docker-compose", vec![]),
        };
        for f in self.env.compose_files() {
            argv.push("-f".into());
            argv.push(f.to_string());
        }
        argv.push("-p".into());
        argv.push(self.project.clone());
        argv.extend(args.iter().map(|s| s.to_string()));
        duct::cmd(program, argv).dir(self.env.root())
    }

    /// Builds and starts every service and waits until all are healthy.
    pub fn up(&self) -> &Stack {
        self.raw_compose(&["build"]).stdout_null().stderr_capture().run().expect("compose build");
        self.raw_compose(&["up", "-d"]).stdout_null().stderr_capture().run().expect("compose up");
        let all = self.env.configured_services();
        self.compose.wait_healthy(&all, Duration::from_secs(90)).expect("demo stack becomes healthy");
        self
    }

    /// Starts only the database service and waits until it is healthy.
    pub fn up_database(&self) -> &Stack {
        self.raw_compose(&["up", "-d", "postgres"]).stdout_null().stderr_capture().run().expect("compose up postgres");
        self.compose.wait_healthy(&["postgres".into()], Duration::from_secs(90)).expect("postgres becomes healthy");
        self
    }

    /// A stack with only its database running, seeded with `sql`.
    pub fn seeded(tag: &str, sql: &str) -> Stack {
        let stack = Stack::new(tag, Flavor::V2);
        stack.up_database();
        stack.psql(sql);
        stack
    }

    /// The running database container's id.
    pub fn db_container(&self) -> String {
        self.compose.database_container().expect("database container").id
    }

    /// A fault only a test injects: removes the database container behind
    /// drydock's back (`docker rm -f`, its volume stays).
    pub fn remove_database_container(&self, id: &str) {
        duct::cmd!("docker", "rm", "-f", id).stdout_null().run().expect("docker rm -f of the database container");
    }

    /// Runs SQL with psql inside the database container; returns unaligned,
    /// tuples-only output. Panics on error.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("demo", sql)
    }

    /// Like [`Stack::psql`] in another database of the same server.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let id = self.db_container();
        let out = duct::cmd!(
            "docker",
            "exec",
            "-i",
            id,
            "psql",
            "-U",
            "demo",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-At"
        )
        .stdin_bytes(sql.as_bytes().to_vec())
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .expect("docker exec psql");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "psql failed: {text}\nSQL: {sql}");
        text.trim_end().to_owned()
    }

    /// An md5 of every table's rows (ordered), to compare a database before
    /// and after an operation byte for byte.
    pub fn data_checksum(&self) -> String {
        self.psql(
            "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
               SELECT format('%s:%s', c.relname, (xpath('/row/c/text()', query_to_xml(
                 format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS c FROM %I.%I x', n.nspname, c.relname), false, true, '')))[1]::text) AS t
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')) s",
        )
    }

    /// The `docker inspect` state of the database container: (id, StartedAt).
    pub fn db_identity(&self) -> (String, String) {
        let c = self.compose.database_container().expect("database container");
        (c.id, c.started_at)
    }

    /// The backups folder of this stack's environment.
    pub fn backups(&self) -> &Utf8Path {
        self.env.backups()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let ids = |kind: &[&str]| -> Vec<String> {
            let mut args: Vec<&str> = kind.to_vec();
            args.extend(["-q", "--filter", &label]);
            duct::cmd("docker", &args)
                .stderr_null()
                .read()
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect()
        };
        let remove = |what: &[&str], ids: Vec<String>| {
            if !ids.is_empty() {
                let mut args: Vec<String> = what.iter().map(|s| s.to_string()).collect();
                args.extend(ids);
                let _ = duct::cmd("docker", args).stdout_null().stderr_null().run();
            }
        };
        remove(&["rm", "-f", "-v"], ids(&["ps", "-a"]));
        remove(&["network", "rm"], ids(&["network", "ls"]));
        remove(&["volume", "rm", "-f"], ids(&["volume", "ls"]));
        // `<project>-api` (v2) or `<project>_api` (v1): a bare `<project>*`
        // would also match the images of project `<project>0`, a sibling
        // test's stack that is still running (seen: v1's "needs to be built").
        // By name, never by id: identical builds of sibling stacks share an
        // image id, and `rmi -f ID` would untag theirs too.
        let mut images: Vec<String> = Vec::new();
        for pattern in [format!("reference={}-*", self.project), format!("reference={}_*", self.project)] {
            let found = duct::cmd!("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", pattern)
                .stderr_null()
                .read();
            images.extend(found.unwrap_or_default().lines().map(str::to_owned));
        }
        images.sort();
        images.dedup();
        remove(&["rmi", "-f"], images);
        let _ = std::fs::remove_dir_all(self.env.backups());
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn unique_project(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("ddt-{tag}-{}-{n}", std::process::id())
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
}

fn copy_dir(from: &Utf8Path, to: &Utf8Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = Utf8PathBuf::from_path_buf(entry.path()).unwrap();
        let target = to.join(path.file_name().unwrap());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
