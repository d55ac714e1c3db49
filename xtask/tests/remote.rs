//! drydock against a second, real Docker engine reached over a real sshd
//! (`docker-host = "ssh://…"`), with the database port bound to the remote's
//! loopback only: deploy, status, backup, restore and migrate all work through
//! the SSH tunnel drydock opens, backups land on this machine, and no tunnel
//! outlives the command. Runs the `cargo xtask` binary itself.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};
use testbench::RemoteEngine;

const COMPOSE: &str = r#"services:
  postgres:
    image: drydock-local/postgres:15
    environment:
      POSTGRES_USER: demo
      POSTGRES_PASSWORD: "remote pw $$ {x}"
      POSTGRES_DB: demo
    ports:
      - "127.0.0.1:5432:5432"
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U demo -d demo"]
      interval: 1s
      timeout: 3s
      retries: 30
  api:
    restart: unless-stopped
    build:
      context: api
      args:
        BASE_IMAGE: drydock-local/debian:bookworm
    depends_on: [postgres]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/healthy"]
      interval: 1s
      timeout: 3s
      retries: 10
volumes:
  pgdata:
"#;

struct Workspace {
    dir: Utf8PathBuf,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn workspace(engine: &RemoteEngine) -> Workspace {
    let source = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap().join(format!("drydock-ws-{}", engine.alias));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("xtask")).unwrap();
    std::fs::write(dir.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n").unwrap();
    duct::cmd!("cp", "-a", source.join("migrations"), source.join("demo/api"), &dir).run().unwrap();
    std::fs::write(dir.join("compose.yml"), COMPOSE).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[workspace]\nmembers = []\n\n[workspace.metadata.deploy]\nmigrations = \"migrations\"\nbackups = \"backups\"\n\n\
             [workspace.metadata.deploy.environments.remote]\ncompose-files = [\"compose.yml\"]\n\
             project-name = \"ddt-remote-app\"\ndatabase-service = \"postgres\"\napp-services = [\"api\"]\n\
             docker-host = \"{}\"\nhealth-timeout = 120\n",
            engine.docker_host()
        ),
    )
    .unwrap();
    Workspace { dir }
}

/// Runs `cargo xtask ARGS` (this build's binary) in `ws`; returns (success, stdout + stderr).
fn drydock(engine: &RemoteEngine, ws: &Workspace, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(&ws.dir)
        .env("CARGO_MANIFEST_DIR", ws.dir.join("xtask"))
        .env("PATH", engine.path_env())
        .env("NO_COLOR", "1")
        .env_remove("DATABASE_URL")
        .env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// No ssh forward of this engine outlives a drydock command.
fn no_tunnel_left(engine: &RemoteEngine) {
    let ps = duct::cmd!("ps", "-eo", "args").read().unwrap();
    let left: Vec<&str> = ps.lines().filter(|l| l.contains(" -L ") && l.contains(&engine.alias)).collect();
    assert!(left.is_empty(), "tunnels left running: {left:?}");
}

fn remote_psql(engine: &RemoteEngine, sql: &str) -> String {
    engine
        .ssh(&[
            "docker",
            "exec",
            "-i",
            "ddt-remote-app-postgres-1",
            "psql",
            "-U",
            "demo",
            "-d",
            "demo",
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .stdin_bytes(sql.as_bytes().to_vec())
        .read()
        .unwrap()
}

#[test]
fn deploy_backup_restore_and_migrate_through_an_ssh_tunnel() {
    let engine = RemoteEngine::start(&["drydock-local/postgres:15", "drydock-local/debian:bookworm"]);
    let ws = workspace(&engine);

    let (ok, out) = drydock(&engine, &ws, &["deploy", "remote"]);
    assert!(ok, "first deploy over ssh failed:\n{out}");
    no_tunnel_left(&engine);
    // The database publishes nothing beyond the remote's own loopback.
    let ports = engine.ssh(&["docker", "port", "ddt-remote-app-postgres-1"]).read().unwrap();
    // The compose file publishes 127.0.0.1:5432: an empty answer is a failure, not a pass.
    assert!(!ports.trim().is_empty(), "docker port shows nothing for the database");
    assert!(ports.lines().all(|l| l.contains("127.0.0.1:")), "{ports}");
    assert!(!out.contains("remote pw"), "the password leaked into the output:\n{out}");

    let (ok, out) = drydock(&engine, &ws, &["status", "remote"]);
    assert!(ok && out.contains("database: answers"), "{out}");

    remote_psql(&engine, r#"INSERT INTO "User" (email, name) VALUES ('a@example.com', 'Ada');"#);
    let (ok, out) = drydock(&engine, &ws, &["backup", "remote"]);
    assert!(ok, "{out}");
    no_tunnel_left(&engine);
    let backups: Vec<_> = std::fs::read_dir(ws.dir.join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    let newest = backups.iter().max().expect("the backup landed on this machine").clone();

    remote_psql(&engine, r#"INSERT INTO "User" (email, name) VALUES ('b@example.com', 'Bob');"#);
    let (ok, out) = drydock(&engine, &ws, &["restore", newest.to_str().unwrap(), "--env", "remote", "--yes"]);
    assert!(ok, "restore over ssh failed:\n{out}");
    no_tunnel_left(&engine);
    assert_eq!(remote_psql(&engine, r#"SELECT string_agg(email, ',' ORDER BY email) FROM "User";"#), "a@example.com");

    let m = ws.dir.join("migrations/20260301000000_add_nick");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("migration.sql"), "ALTER TABLE \"User\" ADD COLUMN \"nick\" TEXT;\n").unwrap();
    let (ok, out) = drydock(&engine, &ws, &["migrate", "remote"]);
    assert!(ok, "migrate over ssh failed:\n{out}");
    assert_eq!(
        remote_psql(&engine, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'nick';"),
        "1"
    );
    no_tunnel_left(&engine);
}

#[test]
fn an_unreachable_ssh_host_is_a_clear_error() {
    let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
        .unwrap()
        .join(format!("drydock-ws-nossh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("xtask")).unwrap();
    std::fs::write(dir.join("xtask/Cargo.toml"), "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n").unwrap();
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("migrations/migration_lock.toml"), "provider = \"postgresql\"\n").unwrap();
    std::fs::write(dir.join("compose.yml"), COMPOSE).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = []\n\n[workspace.metadata.deploy]\nmigrations = \"migrations\"\nbackups = \"backups\"\n\n\
         [workspace.metadata.deploy.environments.remote]\ncompose-files = [\"compose.yml\"]\n\
         database-service = \"postgres\"\napp-services = [\"api\"]\ndocker-host = \"ssh://root@127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["status", "remote"])
        .current_dir(&dir)
        .env("CARGO_MANIFEST_DIR", dir.join("xtask"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.to_lowercase().contains("ssh") || text.contains("127.0.0.1"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
