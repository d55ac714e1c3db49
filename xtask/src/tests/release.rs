//! Deploys of the shapes real teams run: only what changed restarts, one-shot
//! services, migrations before the start, any environment and any pipeline.

use std::time::Duration;

use compose::Flavor;
use testbench::Stack;

use super::deploy::{add_migration, deployed, new_api_release};
use super::{backup_files, ctx, identities, options, run_on};
use crate::context::Ctx;
use crate::journal;
use crate::pipeline::{self, Options, DEPLOY};
use crate::ui::Ui;

/// (id, StartedAt) of each app service's containers.
fn app_identities(stack: &Stack) -> Vec<(String, String, String)> {
    identities(stack).into_iter().filter(|(s, _, _)| s != "postgres").collect()
}

/// The outcome of `step` in the newest journal entry.
fn last_outcome(stack: &Stack, step: &str) -> String {
    let entries = journal::read(stack.backups());
    let last = entries.last().expect("a journal entry");
    last.steps.iter().find(|s| s.name == step).map(|s| s.outcome.clone()).unwrap_or_default()
}

/// The step names of the newest journal entry whose outcome is not a skip.
fn steps_that_acted(stack: &Stack) -> Vec<String> {
    let entries = journal::read(stack.backups());
    let last = entries.last().expect("a journal entry");
    last.steps.iter().filter(|s| !s.outcome.starts_with("skipped")).map(|s| s.name.clone()).collect()
}

#[test]
fn only_what_changed_restarts() {
    let stack = deployed("onlychanged", |_| {});
    let db = stack.db_identity();

    // A no-op deploy: every app container keeps its id and start time; the
    // backup and the migrate step still run.
    let before = app_identities(&stack);
    let backups = backup_files(&stack).len();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("no-op deploy");
    assert_eq!(app_identities(&stack), before, "an unchanged app service was restarted");
    assert_eq!(backup_files(&stack).len(), backups + 1, "the backup did not run");
    assert!(last_outcome(&stack, "stop").contains("nothing to stop"), "{}", last_outcome(&stack, "stop"));
    assert_eq!(last_outcome(&stack, "migrate"), "nothing pending");

    // A new api image: the api alone restarts, and the journal says why.
    new_api_release(&stack, "2");
    let web_redis: Vec<_> = app_identities(&stack).into_iter().filter(|(s, _, _)| s != "api").collect();
    let api = stack.compose.container_ids("api").unwrap();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("deploy of a new api");
    assert_ne!(stack.compose.container_ids("api").unwrap(), api, "the api did not restart");
    let after: Vec<_> = app_identities(&stack).into_iter().filter(|(s, _, _)| s != "api").collect();
    assert_eq!(after, web_redis, "web or redis restarted though unchanged");
    let stop = last_outcome(&stack, "stop");
    assert!(stop.contains("api (new image") && stop.contains("kept web, redis"), "{stop}");

    // A changed compose configuration restarts that service.
    let file = stack.env.root().join("demo/docker-compose.prod.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("      DATABASE_HOST: postgres\n", "      DATABASE_HOST: postgres\n      FEATURE: on\n"),
    )
    .unwrap();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("deploy of a changed configuration");
    assert!(
        last_outcome(&stack, "stop").contains("api (compose configuration changed)"),
        "{}",
        last_outcome(&stack, "stop")
    );

    // --restart-all: the seed's behaviour, every app service restarts.
    let before = app_identities(&stack);
    run_on(&ctx(), &stack, &DEPLOY, Options { restart_all: true, ..options() }).expect("deploy --restart-all");
    let after = app_identities(&stack);
    for (old, new) in before.iter().zip(&after) {
        assert_ne!(old.1, new.1, "{} was not restarted by --restart-all", old.0);
    }
    assert_eq!(stack.db_identity(), db, "the database container was stopped or recreated");
}

/// A demo copy with a one-shot `seed` service (built, `restart: "no"`).
fn with_seed(tag: &str, script: &'static str) -> Stack {
    let stack = Stack::with_demo_copy_and_settings(
        tag,
        Flavor::V2,
        &[r#"app-services = ["api", "web", "redis", "seed"]"#],
        |root| {
            let seed = root.join("demo/seed");
            std::fs::create_dir_all(&seed).unwrap();
            std::fs::write(
            seed.join("Dockerfile"),
            "ARG BASE_IMAGE=debian:bookworm-slim\nFROM ${BASE_IMAGE}\nCOPY run.sh /run.sh\nENTRYPOINT [\"/bin/sh\", \"/run.sh\"]\n",
        )
        .unwrap();
            std::fs::write(seed.join("run.sh"), script).unwrap();
            let file = root.join("demo/docker-compose.prod.yml");
            let text = std::fs::read_to_string(&file).unwrap();
            let service = "  seed:\n    restart: \"no\"\n    build:\n      context: seed\n      args:\n        BASE_IMAGE: ${BASE_IMAGE:-debian:bookworm-slim}\n    depends_on:\n      - postgres\n\nvolumes:\n";
            std::fs::write(&file, text.replace("\nvolumes:\n", &format!("\n{service}"))).unwrap();
        },
    );
    stack.up_database();
    stack
}

#[test]
fn one_shot_services_count_as_done_and_their_failure_names_its_logs() {
    let stack = with_seed("oneshot", "echo seeding\nsleep 1\necho seeded\n");
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("a deploy with a one-shot service that exits 0");
    let seed = stack.compose.containers("seed").unwrap();
    assert_eq!((seed[0].status.as_str(), seed[0].exit_code), ("exited", 0), "{seed:?}");

    // Unchanged, the finished one-shot is not run again.
    let before = app_identities(&stack);
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("no-op deploy");
    assert_eq!(app_identities(&stack), before);

    // A new seed image that exits 3: a failure with its last log lines, and
    // the previous image (which exits 0) runs again.
    let old = seed[0].image_id.clone();
    std::fs::write(stack.env.root().join("demo/seed/run.sh"), "echo 'seed failed: boom'\nexit 3\n").unwrap();
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("exited (code 3)") && msg.contains("seed failed: boom"), "{msg}");
    assert!(msg.contains("previous images were restored"), "{msg}");
    let seed = stack.compose.containers("seed").unwrap();
    assert_eq!((seed[0].image_id.as_str(), seed[0].exit_code), (old.as_str(), 0));
    stack.compose.wait_healthy(&["api".into(), "web".into()], Duration::from_secs(5)).expect("api and web running");
}

#[test]
fn first_deploy_migrates_before_the_start_and_before_start_order_rolls_back_cleanly() {
    let stack = Stack::with_demo_copy_and_settings("beforestart", Flavor::V2, &[r#"migrate = "before-start""#], |_| {});
    stack.up_database();
    // First deploy: no ledger, empty schema; the migrations run before any app starts.
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("first deploy");
    let acted = steps_that_acted(&stack);
    let (pre, start) = (acted.iter().position(|s| s == "premigrate"), acted.iter().position(|s| s == "start"));
    assert!(pre.is_some() && pre < start, "{acted:?}");
    assert!(last_outcome(&stack, "premigrate").contains("applied"), "{}", last_outcome(&stack, "premigrate"));
    stack.psql(r#"INSERT INTO "User" (email, name) VALUES ('a@example.com', 'Ada');"#);

    // before-start: a new release whose migration fails is stopped, not
    // migrated, and started again from its previous image.
    let api_image = stack.compose.containers("api").unwrap()[0].image_id.clone();
    let users = stack.psql(r#"SELECT string_agg(email, ',') FROM "User""#);
    new_api_release(&stack, "2");
    add_migration(&stack, "20260301000000_broken", "CREATE TABLE half_done (id int);\nSELECT 1/0;\n");
    let msg = format!("{:#}", run_on(&ctx(), &stack, &DEPLOY, options()).unwrap_err());
    assert!(msg.contains("the database is as before"), "{msg}");
    assert_eq!(stack.compose.containers("api").unwrap()[0].image_id, api_image, "api does not run its previous image");
    stack.compose.wait_healthy(&["api".into()], Duration::from_secs(5)).expect("api healthy again");
    assert_eq!(stack.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"), "0");
    assert_eq!(stack.psql(r#"SELECT string_agg(email, ',') FROM "User""#), users);

    // Fixed: backup, stop, migrate, start, in that order.
    std::fs::write(
        stack.env.migrations().join("20260301000000_broken/migration.sql"),
        "CREATE TABLE half_done (id int);\n",
    )
    .unwrap();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("deploy after the fix");
    let acted = steps_that_acted(&stack);
    let order: Vec<usize> =
        ["backup", "stop", "premigrate", "start"].iter().map(|s| acted.iter().position(|a| a == s).unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{acted:?}");
    assert_eq!(stack.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"), "1");
}

/// A context whose configuration is the stack's (environment `test`).
fn ctx_of(stack: &Stack) -> Ctx {
    Ctx {
        root: stack.env.root().to_owned(),
        config: stack.config.clone(),
        ui: Ui { tty: false, color: false },
        composes: Default::default(),
    }
}

#[test]
fn any_environment_deploys_and_any_listed_pipeline_runs() {
    use clap::Parser;
    for argv in [
        &["cargo xtask", "deploy", "staging", "--dry-run", "--restart-all"][..],
        &["cargo xtask", "run", "deploy", "staging", "--lock-wait", "5"],
        &["cargo xtask", "deploy-prod", "--restart-all"],
    ] {
        crate::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    }
    let stack = Stack::new("anyenv", Flavor::V2);
    stack.up();
    let ctx = ctx_of(&stack);
    let before = identities(&stack);
    // Refusals say what exists and change nothing (exit 2).
    let err = pipeline::run_named(&ctx, "nope", "test", options()).unwrap_err();
    assert!(format!("{err:#}").contains("the pipelines are deploy"), "{err:#}");
    assert_eq!(crate::exit::of(&err).code(), 2);
    let err = pipeline::run_named(&ctx, "deploy", "staging", options()).unwrap_err();
    assert_eq!(crate::exit::of(&err).code(), 2, "{err:#}");
    // The dry run changes nothing.
    pipeline::deploy(&ctx, "test", Options { dry_run: true, ..options() }).expect("dry run");
    assert_eq!(identities(&stack), before);
    assert!(backup_files(&stack).is_empty());
    // `deploy test` and `run deploy test` go through the one runner: lock, journal.
    pipeline::deploy(&ctx, "test", options()).expect("deploy test");
    pipeline::run_named(&ctx, "deploy", "test", options()).expect("run deploy test");
    let entries = journal::read(stack.backups());
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.ok && e.environment == "test" && e.pipeline == "deploy"));
    assert_eq!(backup_files(&stack).len(), 2);
}

#[test]
fn a_no_op_deploy_restarts_nothing_on_compose_v1() {
    // v1 hashes the configuration differently (its hash includes the image
    // id): the decision must hold there too.
    let stack = Stack::new("noopv1", Flavor::V1);
    stack.up();
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("first deploy (v1)");
    let before = app_identities(&stack);
    run_on(&ctx(), &stack, &DEPLOY, options()).expect("no-op deploy (v1)");
    assert_eq!(app_identities(&stack), before, "compose v1: an unchanged app service was restarted");
}
