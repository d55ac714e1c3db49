//! `cargo xtask init`: adopt an existing compose project. Reads its resolved
//! definitions (`compose config`, through `crates/compose`), finds the
//! database service (`POSTGRES_*` environment or data volume), takes every
//! other service as an app service, finds the migrations folder by its
//! `migration_lock.toml`, and writes the
//! `[workspace.metadata.deploy]` block into the root `Cargo.toml`. It shows
//! the block, refuses to replace an existing one without `--force`, and then
//! runs `check` on the new environment. It never starts or stops anything.

use camino::{Utf8Path, Utf8PathBuf};
use eyre::{eyre, Result, WrapErr};

use crate::ui::Ui;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The project's compose files, relative to the workspace root
    /// (default: the first of compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml).
    #[arg(long = "compose", value_name = "FILE")]
    compose_files: Vec<Utf8PathBuf>,
    /// Name of the environment to write.
    #[arg(long, default_value = "prod")]
    env: String,
    /// The compose project name (default: compose's own, the compose file's folder name).
    #[arg(long)]
    project_name: Option<String>,
    /// The database service, when more than one service looks like PostgreSQL.
    #[arg(long)]
    database_service: Option<String>,
    /// Replace an existing `[workspace.metadata.deploy]` block.
    #[arg(long)]
    force: bool,
}

/// The files compose itself looks for, in its order.
const DEFAULT_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// Runs before any configuration is read: a workspace without the block is what it is for.
pub(crate) fn run(args: Args) -> Result<()> {
    let root = crate::context::locate_workspace().map_err(crate::exit::refused)?;
    let ui = Ui::detect();
    let env = adopt(&root, &ui, args)?;
    // `check` runs in a process of its own, which reads the configuration just written.
    ui.line(ui.bold(&format!("==> cargo xtask check {env}")));
    let exe = std::env::current_exe().wrap_err("cannot find the running drydock binary")?;
    let status = std::process::Command::new(exe).args(["check", &env]).status()?;
    if !status.success() {
        ui.warn(format!("the block is written; fix what `cargo xtask check {env}` found (above), then deploy"));
    }
    Ok(())
}

/// Writes the block for the compose project under `root`; returns the environment's name.
pub(crate) fn adopt(root: &Utf8Path, ui: &Ui, args: Args) -> Result<String> {
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).wrap_err_with(|| format!("cannot read {manifest_path}"))?;
    if has_deploy_block(&manifest) && !args.force {
        return Err(crate::exit::refused(eyre!(
            "{manifest_path} already has a [workspace.metadata.deploy] block: edit it by hand, or rerun with --force to replace it"
        )));
    }
    let files = if args.compose_files.is_empty() {
        let found = DEFAULT_FILES.iter().find(|f| root.join(f).is_file()).ok_or_else(|| {
            crate::exit::refused(eyre!(
                "no compose file in {} ({}): name yours with --compose FILE",
                root,
                DEFAULT_FILES.join(", ")
            ))
        })?;
        vec![Utf8PathBuf::from(*found)]
    } else {
        args.compose_files.clone()
    };
    for f in &files {
        if !root.join(f).is_file() {
            return Err(crate::exit::refused(eyre!("compose file {f} does not exist under {}", root)));
        }
    }
    let project = match &args.project_name {
        Some(p) => p.clone(),
        None => default_project_name(&root.join(&files[0])),
    };

    // Compose resolves the files (extends, env files, interpolation) for us.
    let provisional =
        block(&args.env, &files, &project, "drydock-init-probe", &["drydock-init-probe-app".into()], None);
    let env = config::Config::parse(&root, &provisional)
        .and_then(|c| c.environment(&args.env))
        .wrap_err("cannot read the compose files")?;
    let compose = compose::Compose::detect(&env)?;
    let definitions = compose.definitions().wrap_err("compose cannot read the project: fix the compose files first")?;
    if definitions.is_empty() {
        return Err(crate::exit::refused(eyre!("the compose files define no service")));
    }

    let database = match &args.database_service {
        Some(name) if definitions.iter().any(|d| &d.name == name) => name.clone(),
        Some(name) => {
            return Err(crate::exit::refused(eyre!("--database-service {name}: no such service in the compose files")))
        }
        None => {
            let candidates: Vec<&str> =
                definitions.iter().filter(|d| looks_like_postgres(d)).map(|d| d.name.as_str()).collect();
            match candidates.as_slice() {
                [one] => one.to_string(),
                [] => {
                    return Err(crate::exit::refused(eyre!(
                        "no service looks like PostgreSQL (no POSTGRES_* environment, no /var/lib/postgresql/data volume): \
                         name it with --database-service"
                    )))
                }
                many => {
                    return Err(crate::exit::refused(eyre!(
                        "several services look like PostgreSQL ({}): choose with --database-service",
                        many.join(", ")
                    )))
                }
            }
        }
    };
    let apps: Vec<String> = definitions.iter().map(|d| d.name.clone()).filter(|n| *n != database).collect();
    if apps.is_empty() {
        return Err(crate::exit::refused(eyre!(
            "the compose files define only the database service: nothing to deploy"
        )));
    }
    let migrations = find_migrations(&root);
    let text = block(&args.env, &files, &project, &database, &apps, migrations.as_deref());

    let new_manifest = replace_deploy_block(&manifest, &text);
    // The result must read back as drydock will read it.
    config::Config::parse(&root, &new_manifest)
        .and_then(|c| c.environment(&args.env))
        .wrap_err("the generated block does not read back (a bug: please report it)")?;
    std::fs::write(&manifest_path, &new_manifest).wrap_err_with(|| format!("cannot write {manifest_path}"))?;

    ui.line(ui.bold(&format!("wrote to {manifest_path}:")));
    for line in text.lines() {
        ui.line(format!("  {line}"));
    }
    if migrations.is_none() {
        ui.warn("no migration_lock.toml found: `migrations` points at `migrations` (create it with `cargo xtask migrate new`)");
    }
    Ok(args.env)
}

/// PostgreSQL by its `POSTGRES_*` environment or its data volume.
fn looks_like_postgres(d: &compose::ServiceDefinition) -> bool {
    d.environment.keys().any(|k| k.starts_with("POSTGRES_"))
        || d.volumes.iter().any(|(_, target, _)| target.starts_with("/var/lib/postgresql"))
}

/// Compose's default project name: the folder of the first file, lowercased,
/// with characters compose does not allow removed.
fn default_project_name(first_file: &Utf8Path) -> String {
    let dir = first_file.parent().and_then(|p| p.canonicalize_utf8().ok()).unwrap_or_default();
    dir.file_name()
        .unwrap_or("default")
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The first folder (breadth-first, ignoring dependencies and build output)
/// holding a Prisma `migration_lock.toml`, relative to `root`.
fn find_migrations(root: &Utf8Path) -> Option<Utf8PathBuf> {
    let mut queue = vec![(root.to_owned(), 0)];
    let mut i = 0;
    while i < queue.len() {
        let (dir, depth) = queue[i].clone();
        i += 1;
        if dir.join(migrate::LOCK_FILE).is_file() {
            return dir.strip_prefix(root).ok().map(|p| if p.as_str().is_empty() { ".".into() } else { p.to_owned() });
        }
        if depth >= 5 {
            continue;
        }
        let Ok(entries) = dir.read_dir_utf8() else { continue };
        let mut subs: Vec<Utf8PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.into_path())
            .filter(|p| {
                !matches!(p.file_name(), Some("node_modules" | "target" | ".git" | "backups" | "dist" | "build"))
            })
            .collect();
        subs.sort();
        queue.extend(subs.into_iter().map(|p| (p, depth + 1)));
    }
    None
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn block(
    env: &str,
    files: &[Utf8PathBuf],
    project: &str,
    database: &str,
    apps: &[String],
    migrations: Option<&Utf8Path>,
) -> String {
    let list = |items: Vec<String>| items.join(", ");
    format!(
        "[workspace.metadata.deploy]\n\
         migrations = {}\n\
         backups = \"backups\"\n\
         \n\
         [workspace.metadata.deploy.environments.{env}]\n\
         compose-files = [{}]\n\
         project-name = {}\n\
         database-service = {}\n\
         app-services = [{}]\n",
        toml_str(migrations.map_or("migrations", |m| m.as_str())),
        list(files.iter().map(|f| toml_str(f.as_str())).collect()),
        toml_str(project),
        toml_str(database),
        list(apps.iter().map(|a| toml_str(a)).collect()),
    )
}

fn is_deploy_header(line: &str) -> bool {
    let l = line.trim();
    l == "[workspace.metadata.deploy]" || l.starts_with("[workspace.metadata.deploy.")
}

fn has_deploy_block(manifest: &str) -> bool {
    manifest.lines().any(is_deploy_header)
}

/// `manifest` with every `[workspace.metadata.deploy*]` table removed and
/// `block` put where the first one was (or at the end).
fn replace_deploy_block(manifest: &str, block: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut placed = false;
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            inside = is_deploy_header(line);
            if inside && !placed {
                out.push_str(block);
                out.push('\n');
                placed = true;
            }
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_deploy_table_and_keeps_the_rest() {
        let manifest = "[workspace]\nmembers = [\"xtask\"]\n\n[workspace.metadata.deploy]\nmigrations = \"m\"\n\n\
                        [workspace.metadata.deploy.environments.prod]\nproject-name = \"x\"\n\n[profile.dev]\ndebug = 0\n";
        let out = replace_deploy_block(manifest, "[workspace.metadata.deploy]\nmigrations = \"new\"\n");
        assert!(out.contains("migrations = \"new\""));
        assert!(!out.contains("project-name = \"x\""));
        assert!(out.contains("[profile.dev]\ndebug = 0"));
        assert!(out.starts_with("[workspace]\nmembers = [\"xtask\"]"));
        let appended = replace_deploy_block("[workspace]\n", "[workspace.metadata.deploy]\n");
        assert_eq!(appended, "[workspace]\n\n[workspace.metadata.deploy]\n");
    }

    #[test]
    fn finds_prisma_migrations_but_not_in_dependencies() {
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("drydock-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("node_modules/x/prisma/migrations")).unwrap();
        std::fs::write(dir.join("node_modules/x/prisma/migrations/migration_lock.toml"), "").unwrap();
        assert_eq!(find_migrations(&dir), None);
        std::fs::create_dir_all(dir.join("apps/api/prisma/migrations")).unwrap();
        std::fs::write(dir.join("apps/api/prisma/migrations/migration_lock.toml"), "").unwrap();
        assert_eq!(find_migrations(&dir).as_deref(), Some(Utf8Path::new("apps/api/prisma/migrations")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Against real compose (`compose config`): the demo's prod file is adopted as written
    /// in the root Cargo.toml, a second run is refused, `--force` replaces the block.
    #[test]
    fn adopts_the_demo_compose_project() {
        let source = crate::context::workspace_root();
        let dir = Utf8PathBuf::from_path_buf(std::env::temp_dir())
            .unwrap()
            .join(format!("drydock-adopt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("app/prisma/migrations")).unwrap();
        std::fs::write(dir.join("app/prisma/migrations/migration_lock.toml"), "provider = \"postgresql\"\n").unwrap();
        duct::cmd!("cp", "-a", source.join("demo"), &dir).run().unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\n").unwrap();
        let ui = Ui { tty: false, color: false };
        let args = |force| Args {
            compose_files: vec!["demo/docker-compose.prod.yml".into()],
            env: "prod".into(),
            project_name: None,
            database_service: None,
            force,
        };
        assert_eq!(adopt(&dir, &ui, args(false)).unwrap(), "prod");
        let written = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let env = config::Config::parse(&dir, &written).unwrap().environment("prod").unwrap();
        assert_eq!(env.database_service(), "postgres");
        let mut apps = env.app_services().names().to_vec();
        apps.sort();
        assert_eq!(apps, ["api", "redis", "web"]);
        assert!(written.contains("migrations = \"app/prisma/migrations\""), "{written}");
        assert!(written.contains("project-name = \"demo\""), "{written}");
        let again = adopt(&dir, &ui, args(false)).unwrap_err();
        assert_eq!(crate::exit::of(&again), crate::exit::Exit::Refused);
        assert!(format!("{again:#}").contains("--force"), "{again:#}");
        assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), written, "a refusal changes nothing");
        adopt(&dir, &ui, args(true)).unwrap();
        let forced = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert_eq!(forced.matches("[workspace.metadata.deploy]").count(), 1, "{forced}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quoting_survives_toml() {
        let text = block("prod", &["a \"b\".yml".into()], "p", "db", &["api".into()], None);
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        let files = &parsed["workspace"]["metadata"]["deploy"]["environments"]["prod"]["compose-files"];
        assert_eq!(files[0].as_str(), Some("a \"b\".yml"));
    }
}
