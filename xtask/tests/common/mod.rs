//! Helpers shared by the binary-level tests: a stack's folder made into a
//! workspace of its own, and `cargo xtask` run in it.

#![allow(dead_code)]

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use testbench::Stack;

/// The stack's folder made into a workspace whose `prod` is the stack.
pub fn workspace(stack: &Stack) -> Utf8PathBuf {
    let root = stack.env.root().to_owned();
    std::fs::create_dir_all(root.join("xtask")).unwrap();
    std::fs::write(root.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n").unwrap();
    let manifest = format!(
        r#"[workspace]
members = []

[workspace.metadata.deploy]
migrations = "migrations"
backups = "{backups}"

[workspace.metadata.deploy.environments.prod]
compose-files = ["demo/docker-compose.prod.yml"]
project-name = "{project}"
database-service = "postgres"
app-services = ["api", "web", "redis"]
health-timeout = 60
"#,
        backups = stack.backups(),
        project = stack.project,
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    root
}

/// The one way the binary-level tests start drydock: `cargo xtask ARGS` in
/// `root` (its own workspace), no colour, no inherited `DATABASE_URL`, no stdin.
pub fn xtask(root: &Utf8Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .current_dir(root)
        .env("CARGO_MANIFEST_DIR", root.join("xtask"))
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null());
    cmd
}

/// `cargo xtask ARGS` in `root`: (exit code, stdout and stderr).
pub fn drydock(root: &Utf8Path, args: &[&str], database_url: Option<&str>) -> (i32, String) {
    let mut cmd = xtask(root, args);
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().expect("run the xtask binary");
    let text = format!(
        "$ cargo xtask {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `cargo xtask ARGS` in `root`, started but not waited for.
pub fn spawn_drydock(root: &Utf8Path, args: &[&str]) -> std::process::Child {
    xtask(root, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the xtask binary")
}

/// A psql session in the database container that holds `LOCK TABLE table
/// IN mode MODE` in an open transaction until dropped: a test's way to keep
/// a step that needs a conflicting lock waiting, whatever the machine's speed.
pub struct HeldLock {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl HeldLock {
    pub fn new(stack: &Stack, table: &str, mode: &str) -> HeldLock {
        use std::io::{BufRead, Write};
        let mut child = Command::new("docker")
            .args(["exec", "-i", &stack.db_container(), "psql", "-X", "-q", "-A", "-t", "-U", "demo", "-d", "demo"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start psql in the database container");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "BEGIN;\nLOCK TABLE {table} IN {mode} MODE;\nSELECT 'locked';").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked", "the lock on {table} was not taken");
        HeldLock { child, stdin: Some(stdin) }
    }
}

impl Drop for HeldLock {
    /// Ends the session: psql reads the end of its input and exits, its
    /// transaction rolled back (killing the docker client would leave psql
    /// running in the container), and the client is reaped.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
