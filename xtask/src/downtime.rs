//! `cargo xtask bench-deploy`: measures downtime, the time during which the
//! app services are not serving (not every app service has a running,
//! healthy container), for drydock's deploy and for the naive order (stop,
//! then build, then start), on the demo stack with an api build of about
//! `--build-seconds`, in one run. Prints both figures and the ratio (target:
//! drydock ≤ 0.25 × naive), and the downtime of a no-op deploy (nothing
//! changed, so nothing restarts: 0 s). Then the same for a pulled api
//! (`image: 127.0.0.1:PORT/app:TAG`, no `build:`, a registry on loopback):
//! drydock pulls before anything stops, the naive order stops, pulls, starts.
//! A benchmark, not a test: it asserts nothing.
//!
//! It runs on a demo stack under a unique compose project of its own
//! (`testbench::Stack`), removed with its volume when the benchmark ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use compose::Compose;
use config::Environment;
use eyre::{Result, WrapErr};

use crate::pipeline::{self, Options, Run, DEPLOY};
use crate::ui::human_duration;
use crate::Ctx;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Seconds the simulated api build takes.
    #[arg(long, default_value_t = 20)]
    build_seconds: u64,
    /// MiB of the new layer each pulled release brings.
    #[arg(long, default_value_t = 64)]
    pull_mib: u64,
}

pub(crate) fn run(ctx: &Ctx, args: Args) -> Result<()> {
    for (name, value) in crate::test::provision(ctx)? {
        // Single-threaded here: nothing else reads the environment yet.
        std::env::set_var(name, value);
    }
    // A demo stack under a unique project, removed with its volume on drop:
    // the benchmark cleans up what it created, and never touches a real stack.
    let stack = testbench::Stack::new("bench-deploy", compose::Flavor::V2);
    let env = stack.env.clone();
    let compose = stack.compose.clone();
    let apps = compose.app_services();
    let timeout = Duration::from_secs(env.health_timeout_secs());
    // Compose reads the build arguments from the environment; set before any thread starts.
    std::env::set_var("API_BUILD_SECONDS", args.build_seconds.to_string());

    ctx.ui.line(ctx.ui.bold(&format!("bench-deploy: preparing the demo stack (project {})", stack.project)));
    std::env::set_var("API_BUILD_ID", format!("warmup-{}", std::process::id()));
    pipeline::run(&DEPLOY, Run::new(ctx, env.clone(), compose.clone(), DEPLOY.name, Options::default()))
        .wrap_err("the warm-up deploy failed")?;

    ctx.ui.line(ctx.ui.bold("naive order: stop, build, start"));
    std::env::set_var("API_BUILD_ID", format!("naive-{}", unique()));
    let naive = measure(&compose, &env, || {
        apps.stop()?;
        apps.build()?;
        crate::steps::up_and_wait(&apps, true, timeout).map(drop)
    })?;

    ctx.ui.line(ctx.ui.bold("drydock: cargo xtask deploy (build while serving)"));
    std::env::set_var("API_BUILD_ID", format!("drydock-{}", unique()));
    let drydock = measure(&compose, &env, || {
        pipeline::run(&DEPLOY, Run::new(ctx, env.clone(), compose.clone(), DEPLOY.name, Options::default()))
    })?;

    ctx.ui.line(ctx.ui.bold("drydock: a no-op deploy (nothing rebuilt, nothing pending)"));
    let noop = measure(&compose, &env, || {
        pipeline::run(&DEPLOY, Run::new(ctx, env.clone(), compose.clone(), DEPLOY.name, Options::default()))
    })?;

    ctx.ui.line(format!("removing the bench stack {} (its containers, network and volume)", stack.project));
    drop(stack);

    let pulled = pulled_image(ctx, args.pull_mib)?;

    let ratio = drydock.as_secs_f64() / naive.as_secs_f64().max(f64::EPSILON);
    let pulled_ratio = pulled.drydock.as_secs_f64() / pulled.naive.as_secs_f64().max(f64::EPSILON);
    ctx.ui.line("");
    ctx.ui.table(
        &["ORDER", "DOWNTIME", "RATIO"],
        &[
            vec!["built api: naive (stop, build, start)".into(), human_duration(naive), "-".into()],
            vec![
                "built api: drydock deploy (build while serving)".into(),
                human_duration(drydock),
                format!("{ratio:.3}"),
            ],
            vec!["drydock no-op deploy (only what changed restarts)".into(), human_duration(noop), "-".into()],
            vec![
                format!("pulled api ({} MiB new layer): naive (stop, pull, start)", args.pull_mib),
                human_duration(pulled.naive),
                "-".into(),
            ],
            vec![
                "pulled api: drydock deploy (pull while serving)".into(),
                human_duration(pulled.drydock),
                format!("{pulled_ratio:.3}"),
            ],
        ],
    );
    for (what, ratio) in [("built", ratio), ("pulled", pulled_ratio)] {
        let verdict = if ratio <= 0.25 { ctx.ui.green("meets") } else { ctx.ui.red("misses") };
        ctx.ui.line(format!("{what}: ratio drydock/naive = {ratio:.3} ({verdict} the target of at most 0.25)"));
    }
    Ok(())
}

/// Downtimes of the pulled-image scenario.
struct Pulled {
    naive: Duration,
    drydock: Duration,
}

/// An api with `image: 127.0.0.1:PORT/app:TAG` and no `build:`, served by a
/// registry on loopback (testbench's `Registry`, removed with its images on
/// drop): the naive order (stop, pull, start) against drydock's deploy (pull
/// before anything stops), each to a new tag with a new `pull_mib` layer.
fn pulled_image(ctx: &Ctx, pull_mib: u64) -> Result<Pulled> {
    ctx.ui.line(ctx.ui.bold("pulled api: preparing a registry on loopback and three releases"));
    let registry = testbench::Registry::start();
    let repo = format!("drydock-bench-app-{}", std::process::id());
    let release = |tag: &str| -> Result<String> {
        let dir = std::env::temp_dir().join(format!("drydock-bench-release-{}-{tag}", std::process::id()));
        let dir = camino::Utf8PathBuf::from_path_buf(dir).map_err(|p| eyre::eyre!("non-UTF-8 temp dir {p:?}"))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let api = ctx.root.join("demo/api");
        std::fs::copy(api.join("entrypoint.sh"), dir.join("entrypoint.sh"))?;
        let dockerfile = std::fs::read_to_string(api.join("Dockerfile"))?;
        // A release layer of its own, as a new application build has.
        let layer = format!("RUN head -c {} /dev/urandom > /release-{tag}.bin\n", pull_mib << 20);
        std::fs::write(
            dir.join("Dockerfile"),
            dockerfile.replacen("COPY entrypoint.sh", &format!("{layer}COPY entrypoint.sh"), 1),
        )?;
        let (reference, _) = registry.push_built(&dir, &repo, tag);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(reference)
    };
    let (v1, v2, v3) = (release("v1")?, release("v2")?, release("v3")?);
    let stack = testbench::Stack::with_demo_copy("bench-pull", compose::Flavor::V2, |root| pull_api_as(root, &v1));
    let (env, compose) = (stack.env.clone(), stack.compose.clone());
    let apps = compose.app_services();
    let timeout = Duration::from_secs(env.health_timeout_secs());
    let set_tag = |from: &str, to: &str| -> Result<()> {
        let file = env.root().join("demo/docker-compose.prod.yml");
        let text = std::fs::read_to_string(&file)?;
        std::fs::write(&file, text.replace(from, to)).wrap_err_with(|| format!("cannot write {file}"))
    };
    let deploy =
        || pipeline::run(&DEPLOY, Run::new(ctx, env.clone(), compose.clone(), DEPLOY.name, Options::default()));
    stack.up_database();
    deploy().wrap_err("the warm-up deploy of the pulled api failed")?;

    ctx.ui.line(ctx.ui.bold("pulled api, naive order: stop, pull, start"));
    set_tag(&v1, &v2)?;
    let naive = measure(&compose, &env, || {
        let pulled = apps.pulled()?;
        apps.stop()?;
        if !pulled.names().is_empty() {
            pulled.pull()?;
        }
        crate::steps::up_and_wait(&apps, true, timeout).map(drop)
    })?;

    ctx.ui.line(ctx.ui.bold("pulled api, drydock: cargo xtask deploy (pull while serving)"));
    set_tag(&v2, &v3)?;
    let drydock = measure(&compose, &env, deploy)?;
    ctx.ui.line(format!("removing the bench stack {} and the registry {}", stack.project, registry.address));
    drop(stack);
    drop(registry);
    Ok(Pulled { naive, drydock })
}

/// The demo copy's api, pulled as `reference` instead of built.
fn pull_api_as(root: &camino::Utf8Path, reference: &str) {
    let file = root.join("demo/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if let (Some(start), Some(len)) =
        (text.find("  api:\n"), text.find("  api:\n").and_then(|s| text[s..].find("    depends_on:")))
    {
        let text = format!(
            "{}  api:\n    restart: unless-stopped\n    image: {reference}\n{}",
            &text[..start],
            &text[start + len..]
        );
        let _ = std::fs::write(&file, text);
    }
}

/// Runs `work` while polling app readiness; returns the total time not serving.
fn measure(compose: &Compose, env: &Environment, work: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (compose, env, done) = (compose.clone(), env.clone(), done.clone());
        std::thread::spawn(move || {
            let mut down = Duration::ZERO;
            let mut last = Instant::now();
            let mut was_serving = serving(&compose, &env);
            while !done.load(Ordering::SeqCst) {
                let now_serving = serving(&compose, &env);
                let now = Instant::now();
                if !was_serving {
                    down += now - last;
                }
                last = now;
                was_serving = now_serving;
                std::thread::sleep(Duration::from_millis(50));
            }
            if !was_serving {
                down += last.elapsed();
            }
            down
        })
    };
    let result = work();
    done.store(true, Ordering::SeqCst);
    let down = poller.join().map_err(|_| eyre::eyre!("the readiness poller panicked"))?;
    result?;
    Ok(down)
}

/// Every app service has a running, healthy container.
fn serving(compose: &Compose, env: &Environment) -> bool {
    env.app_services().names().iter().all(|s| compose.containers(s).is_ok_and(|cs| cs.iter().any(|c| c.is_ready())))
}

fn unique() -> String {
    format!("{}-{}", std::process::id(), time::OffsetDateTime::now_utc().unix_timestamp_nanos())
}
