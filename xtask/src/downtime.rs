//! `cargo xtask bench-deploy`: measures downtime, the time during which the
//! app services are not serving (not every app service has a running,
//! healthy container), for drydock's deploy and for the naive order (stop,
//! then build, then start), on the demo stack with an api build of about
//! `--build-seconds`, in one run. Prints both figures and the ratio (target:
//! drydock ≤ 0.25 × naive), and the downtime of a no-op deploy (nothing
//! changed, so nothing restarts: 0 s). A benchmark, not a test: it asserts nothing.
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
        crate::steps::up_and_wait(&apps, true, timeout)
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

    let ratio = drydock.as_secs_f64() / naive.as_secs_f64().max(f64::EPSILON);
    ctx.ui.line("");
    ctx.ui.table(
        &["ORDER", "DOWNTIME"],
        &[
            vec!["naive (stop, build, start)".into(), human_duration(naive)],
            vec!["drydock deploy".into(), human_duration(drydock)],
            vec!["drydock no-op deploy (only what changed restarts)".into(), human_duration(noop)],
        ],
    );
    let verdict = if ratio <= 0.25 { ctx.ui.green("meets") } else { ctx.ui.red("misses") };
    ctx.ui.line(format!("ratio drydock/naive = {ratio:.3} ({verdict} the target of at most 0.25)"));
    ctx.ui.line(format!("removing the bench stack {} (its containers, network and volume)", stack.project));
    drop(stack);
    Ok(())
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
