//! Reading state: stopped and absent services, services defined, the database URL.

use compose::Flavor;
use testbench::Stack;

fn stopped_and_absent_states_read_right(flavor: Flavor) {
    let stack = Stack::new("state", flavor);
    let states = stack.compose.states().unwrap();
    assert_eq!(states.len(), stack.env.configured_services().len(), "one state per configured service");
    assert!(states.iter().all(|s| s.containers.is_empty()), "fresh project has containers");
    stack.up();
    let stopped = stack.compose.app_services().subset(&["web".into(), "redis".into()]).unwrap();
    stopped.stop().unwrap();
    let states = stack.compose.states().unwrap();
    let state = |name: &str| states.iter().find(|s| s.service == name).unwrap().containers[0].clone();
    assert_eq!(state("web").status, "exited");
    assert!(!state("web").is_ready());
    // redis has a healthcheck and no restart policy; stopped, it exits 0:
    // a stopped server, not a finished one-shot job, so a deploy starts it.
    assert_eq!((state("redis").status.as_str(), state("redis").exit_code), ("exited", 0));
    assert!(state("redis").has_healthcheck && !state("redis").is_done() && state("redis").has_failed());
    let decisions = stack.compose.app_services().restart_decisions().unwrap();
    let redis = decisions.iter().find(|(s, _)| s == "redis").map(|(_, d)| d.restarts());
    assert_eq!(redis, Some(true), "a stopped redis would be kept: {decisions:?}");
    assert_eq!(state("api").health.as_deref(), Some("healthy"));
    assert_eq!(state("postgres").status, "running");
    assert!(state("postgres")
        .mounts
        .iter()
        .any(|(kind, _, dest)| kind == "volume" && dest == "/var/lib/postgresql/data"));
}

#[test]
fn v2_stopped_and_absent_states_read_right() {
    stopped_and_absent_states_read_right(Flavor::V2);
}

#[test]
fn v1_stopped_and_absent_states_read_right() {
    stopped_and_absent_states_read_right(Flavor::V1);
}

#[test]
fn services_are_checked_against_the_compose_files() {
    let stack = Stack::new("services", Flavor::V2);
    let mut defined = stack.compose.services().unwrap();
    defined.sort();
    assert_eq!(defined, ["api", "postgres", "redis", "web"]);
    stack.compose.check().unwrap();
    let v1 = compose::Compose::with_flavor(&stack.env, Flavor::V1);
    v1.check().unwrap();
}

#[test]
fn database_url_is_derived_from_the_container() {
    let stack = Stack::new("url", Flavor::V2);
    stack.up_database();
    let target = stack.compose.database_target().unwrap();
    assert_eq!((target.user.as_str(), target.dbname.as_str(), target.port), ("demo", "demo", 5432));
    assert!(!target.to_string().contains("demo-prod-password"));
    assert!(target.url().contains("demo-prod-password"));
}
