//! Stop, recreate and start app services; the database keeps its id and `StartedAt`.

use compose::Flavor;
use testbench::Stack;

fn stop_leaves_database_running(flavor: Flavor) {
    let stack = Stack::new("stop", flavor);
    stack.up();
    let db_before = stack.db_identity();
    stack.compose.app_services().stop().unwrap();
    for app in stack.env.app_services().names() {
        let containers = stack.compose.containers(app).unwrap();
        assert!(!containers.is_empty(), "{app}: no container to check");
        assert!(containers.iter().all(|c| c.status == "exited"), "{app}: {containers:?}");
    }
    assert_eq!(stack.db_identity(), db_before, "database container changed");
    assert_eq!(stack.psql("SELECT 1"), "1");
}

fn recreate_gives_new_ids_and_leaves_database(flavor: Flavor) {
    let stack = Stack::new("recreate", flavor);
    stack.up();
    let db_before = stack.db_identity();
    let api_before = stack.compose.container_ids("api").unwrap();
    stack.compose.app_services().build().unwrap();
    stack.compose.app_services().stop().unwrap();
    stack.compose.app_services().up(true).unwrap();
    let all: Vec<String> = stack.env.app_services().names().to_vec();
    let ready = stack.compose.wait_healthy(&all, std::time::Duration::from_secs(60)).unwrap();
    // Only a healthcheck's word is called healthy; web has none.
    assert_eq!(ready.settled, ["web"], "{ready}");
    assert!(ready.healthy.contains(&"api".to_owned()) && ready.healthy.contains(&"redis".to_owned()), "{ready}");
    assert!(ready.to_string().contains("web running 3 s, not restarted (no healthcheck)"), "{ready}");
    let api_after = stack.compose.container_ids("api").unwrap();
    assert_eq!(api_after.len(), 1);
    assert_ne!(api_before, api_after, "api was not recreated");
    assert_eq!(stack.db_identity(), db_before, "database container changed");
}

fn database_start_is_start_not_recreate(flavor: Flavor) {
    let stack = Stack::new("dbstart", flavor);
    // First deploy: no database container yet, so it is created.
    assert!(stack.compose.start_database_if_stopped().unwrap());
    stack.compose.wait_healthy(&["postgres".into()], std::time::Duration::from_secs(60)).unwrap();
    let first = stack.db_identity();
    // Already running: nothing happens.
    assert!(!stack.compose.start_database_if_stopped().unwrap());
    assert_eq!(stack.db_identity(), first);

    // The container's id is remembered, never its state: stopped behind
    // drydock's back, it is "not running" at the very next question.
    duct::cmd!("docker", "stop", "-t", "5", &first.0).stdout_null().run().unwrap();
    let err = stack.compose.database_container().unwrap_err().to_string();
    assert!(err.contains("is not running"), "{err}");
    assert!(stack.compose.database_target().is_err(), "a stopped database still has a target");
    assert!(stack.compose.start_database_if_stopped().unwrap(), "a stopped database was not started");
    stack.compose.wait_healthy(&["postgres".into()], std::time::Duration::from_secs(60)).unwrap();
    let restarted = stack.db_identity();
    assert_eq!(restarted.0, first.0, "start recreated the database container");
    assert_ne!(restarted.1, first.1, "the database was not started again");

    // Removed behind drydock's back (the volume stays): no container is the answer.
    stack.remove_database_container(&first.0);
    assert!(stack.compose.database_container().is_err(), "a removed database container is still found");
    assert!(stack.compose.start_database_if_stopped().unwrap());
    stack.compose.wait_healthy(&["postgres".into()], std::time::Duration::from_secs(60)).unwrap();
    assert_ne!(stack.db_identity().0, first.0);
}

#[test]
fn v2_stop_leaves_database_running() {
    stop_leaves_database_running(Flavor::V2);
}

#[test]
fn v1_stop_leaves_database_running() {
    stop_leaves_database_running(Flavor::V1);
}

#[test]
fn v2_recreate_gives_new_ids_and_leaves_database() {
    recreate_gives_new_ids_and_leaves_database(Flavor::V2);
}

#[test]
fn v1_recreate_gives_new_ids_and_leaves_database() {
    recreate_gives_new_ids_and_leaves_database(Flavor::V1);
}

#[test]
fn v2_database_start_is_start_not_recreate() {
    database_start_is_start_not_recreate(Flavor::V2);
}

#[test]
fn v1_database_start_is_start_not_recreate() {
    database_start_is_start_not_recreate(Flavor::V1);
}
