//! Waiting for health: success, a container that never gets healthy, one that exits.

use std::time::{Duration, Instant};

use compose::{ComposeError, Flavor};
use testbench::Stack;

fn never_healthy_times_out_with_logs(flavor: Flavor) {
    let stack = Stack::with_demo_copy("unhealthy", flavor, |root| {
        // The api never creates its health file: health stays "starting".
        let compose = root.join("demo/docker-compose.prod.yml");
        let text = std::fs::read_to_string(&compose).unwrap();
        let text = text
            .replace("DATABASE_HOST: postgres", "DATABASE_HOST: postgres\n      API_NEVER_HEALTHY: \"1\"")
            .replace("retries: 5", "retries: 1000");
        std::fs::write(&compose, text).unwrap();
    });
    stack.raw_compose(&["up", "-d", "--build", "api"]).stdout_null().stderr_null().run().unwrap();
    let start = Instant::now();
    let err = stack.compose.wait_healthy(&["api".into()], Duration::from_secs(5)).unwrap_err();
    assert!(start.elapsed() >= Duration::from_secs(5));
    let msg = err.to_string();
    assert!(matches!(err, ComposeError::NotHealthy { .. }), "{msg}");
    assert!(msg.contains("timed out after 5 s") && msg.contains("api"), "{msg}");
    assert!(msg.contains("starting"), "{msg}");
}

fn exited_container_fails_at_once(flavor: Flavor) {
    let stack = Stack::with_demo_copy("exited", flavor, |root| {
        std::fs::write(
            root.join("demo/web/entrypoint.sh"),
            "#!/bin/sh\necho 'web: missing config, giving up' >&2\nexit 3\n",
        )
        .unwrap();
    });
    stack.raw_compose(&["up", "-d", "--build", "web"]).stdout_null().stderr_null().run().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    let err = stack.compose.wait_healthy(&["web".into()], Duration::from_secs(30)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(20), "did not fail fast");
    let msg = err.to_string();
    // Exited, or in a crash loop under the prod file's restart policy
    // (seen between restarts with its exit code, or running again).
    assert!(msg.contains("code 3") || msg.contains("crash loop"), "{msg}");
    assert!(msg.contains("missing config, giving up"), "last log lines missing: {msg}");
}

#[test]
fn v2_never_healthy_times_out_with_logs() {
    never_healthy_times_out_with_logs(Flavor::V2);
}

#[test]
fn v1_never_healthy_times_out_with_logs() {
    never_healthy_times_out_with_logs(Flavor::V1);
}

#[test]
fn v2_exited_container_fails_at_once() {
    exited_container_fails_at_once(Flavor::V2);
}

#[test]
fn v1_exited_container_fails_at_once() {
    exited_container_fails_at_once(Flavor::V1);
}
