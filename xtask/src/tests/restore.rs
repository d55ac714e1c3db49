//! The restore pipeline against real containers: a failed replay rolls back
//! (exit 1) and the app runs again; a good one replaces the data; the dry
//! run changes nothing; each run leaves its journal line.

use compose::Flavor;
use testbench::Stack;

use super::{backup_files, ctx, identities, options};
use crate::journal;
use crate::pipeline::Options;
use crate::ui::Progress;

fn rows(stack: &Stack) -> String {
    stack.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM restored")
}

#[test]
fn the_restore_pipeline_rolls_back_runs_dry_and_restores() {
    let stack = Stack::new("restorepipe", Flavor::V2);
    stack.up();
    stack.psql("CREATE TABLE restored (id int); INSERT INTO restored VALUES (1)");
    let ctx = ctx();
    let good = crate::backup::take_verified(&ctx, &stack.env, &Progress::hidden(ctx.ui)).expect("backup");
    stack.psql("INSERT INTO restored VALUES (2)");
    let restore = |file: &camino::Utf8Path, options: Options| {
        let verified = backup::verify(file).unwrap();
        crate::restore::restore_into(&ctx, stack.env.clone(), stack.compose.clone(), verified, true, options)
    };

    // The server refuses a statement early on: rolled back, exit 1, app back.
    let text = std::fs::read_to_string(&good).unwrap();
    let at = text.find("CREATE TABLE public.restored").expect("the table in the dump");
    let broken = stack.backups().join("broken.sql");
    std::fs::write(&broken, format!("{}GRANT SELECT ON public.no_such_table TO PUBLIC;\n{}", &text[..at], &text[at..]))
        .unwrap();
    let err = restore(&broken, options()).unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(crate::exit::of(&err).code(), 1, "{msg}");
    assert!(msg.contains("no_such_table") && msg.contains("rolled back"), "{msg}");
    assert!(msg.contains("the app services were started again"), "{msg}");
    assert_eq!(rows(&stack), "1,2", "the failed restore changed the data");
    let apps: Vec<String> = stack.env.app_services().names().to_vec();
    stack.compose.wait_healthy(&apps, std::time::Duration::from_secs(5)).expect("app services running again");
    let last = journal::read(stack.backups()).pop().expect("a journal line of the failed restore");
    assert!(last.pipeline == "restore" && !last.ok, "{last:?}");
    assert!(last.steps.iter().any(|s| s.name == "replay" && s.result == "failed"), "{last:?}");

    // The dry run changes nothing and takes no backup.
    let before = (identities(&stack), backup_files(&stack));
    restore(&good, Options { dry_run: true, ..options() }).expect("dry run");
    assert_eq!((identities(&stack), backup_files(&stack)), before);

    // The good backup replaces the data, after a safety backup.
    restore(&good, options()).expect("restore");
    assert_eq!(rows(&stack), "1");
    let last = journal::read(stack.backups()).pop().unwrap();
    assert!(last.pipeline == "restore" && last.ok && last.backup.is_some(), "{last:?}");
    let names: Vec<&str> = last.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["check", "lock", "backup", "stop", "replay", "start", "unlock", "report"]);
}
