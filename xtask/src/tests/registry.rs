//! Pulled app services against a real registry on loopback: the pull happens
//! before anything stops, a failed pull changes nothing and names the image,
//! and a release that crashes is rolled back to the exact previous image id.

use std::time::Duration;

use compose::Flavor;
use testbench::{Registry, Stack};

use super::{backup_files, ctx, identities, options, run_on};
use crate::pipeline::DEPLOY;

/// The api of the demo copy, pulled as `reference` instead of built.
fn pull_api_as(root: &camino::Utf8Path, reference: &str) {
    let file = root.join("demo/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text.find("  api:\n").unwrap();
    let end = start + text[start..].find("    depends_on:").unwrap();
    let text =
        format!("{}  api:\n    restart: unless-stopped\n    image: {reference}\n{}", &text[..start], &text[end..]);
    std::fs::write(&file, text).unwrap();
}

/// Points the (pulled) api at another tag.
fn set_api_tag(stack: &Stack, from: &str, to: &str) {
    let file = stack.env.root().join("demo/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from));
    std::fs::write(&file, text.replace(from, to)).unwrap();
}

#[test]
fn pulled_release_that_crashes_is_rolled_back_to_the_exact_previous_image() {
    let registry = Registry::start();
    let stack = Stack::with_demo_copy("pulled", Flavor::V2, |_| {});
    let repo = format!("{}-app", stack.project);
    // v1: the demo api; v2: the same image, but it crashes at start.
    let (v1, v1_id) = registry.push_built(&stack.env.root().join("demo/api"), &repo, "v1");
    let crashing = stack.env.root().join("crashing");
    std::fs::create_dir_all(&crashing).unwrap();
    std::fs::write(
        crashing.join("Dockerfile"),
        "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo 'v2: cannot start'; exit 1\"]\n",
    )
    .unwrap();
    let (v2, v2_id) = registry.push_built(&crashing, &repo, "v2");
    pull_api_as(&stack.env.root(), &v1);
    stack.up_database();

    // First deploy: v1 is pulled (it is not local) and runs.
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("deploy of v1");
    assert_eq!(stack.compose.containers("api").unwrap()[0].image_id, v1_id);

    // A tag that does not exist: the pull fails before anything stops, and the error names the image.
    let before = identities(&stack);
    let backups = backup_files(&stack);
    set_api_tag(&stack, &v1, &format!("{}/{repo}:v3", registry.address));
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains(&format!("{repo}:v3")) && msg.contains("nothing was stopped"), "{msg}");
    assert_eq!(identities(&stack), before, "a container changed after a failed pull");
    assert_eq!(backup_files(&stack), backups, "a backup was taken after a failed pull");

    // v2 crashes at start: the api is rolled back to v1's exact image id and serves.
    set_api_tag(&stack, &format!("{}/{repo}:v3", registry.address), &v2);
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("previous images were restored") && msg.contains("v2: cannot start"), "{msg}");
    let api = stack.compose.containers("api").unwrap();
    assert_eq!(api[0].image_id, v1_id, "api does not run v1's image");
    stack.compose.wait_healthy(&["api".into()], Duration::from_secs(5)).expect("api healthy on v1");
    // The local v2 tag still names what the registry has.
    assert_eq!(stack.compose.image_id(&v2).unwrap().as_deref(), Some(v2_id.as_str()));
    drop(stack);
    drop(registry);
}
