//! A generated history with every shape real Prisma histories contain.

use migrate::Mode;

use crate::support::{names, Fixture};

fn write_history(f: &Fixture) {
    f.write(
        "20240101000000_init",
        "-- CreateEnum\nCREATE TYPE \"Role\" AS ENUM ('USER');\n\n-- CreateTable\nCREATE TABLE \"User\" (\n    \"id\" SERIAL NOT NULL,\n    \"email\" TEXT NOT NULL,\n    \"role\" \"Role\" NOT NULL DEFAULT 'USER',\n    CONSTRAINT \"User_pkey\" PRIMARY KEY (\"id\")\n);\n",
    );
    // A DO block with semicolons inside, and a semicolon in a string.
    f.write(
        "20240102000000_do_block",
        "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM \"User\" WHERE email = 'a;b') THEN\n    INSERT INTO \"User\" (email) VALUES ('a;b');\n  END IF;\nEND $$;\n",
    );
    // Two folders with the same timestamp: the name is the key.
    f.write("20240103000000_a", "ALTER TABLE \"User\" ADD COLUMN \"a\" TEXT;\n");
    f.write("20240103000000_b", "ALTER TABLE \"User\" ADD COLUMN \"b\" TEXT;\n");
    // CRLF line endings.
    f.write("20240104000000_crlf", "-- AlterTable\r\nALTER TABLE \"User\" ADD COLUMN \"c\" TEXT;\r\n");
    // No final newline, ending in a comment.
    f.write("20240105000000_no_newline", "ALTER TABLE \"User\" ADD COLUMN \"d\" TEXT; -- trailing comment");
    // ALTER TYPE ... ADD VALUE (fine in a transaction on PostgreSQL >= 12).
    f.write("20240106000000_add_value", "-- AlterEnum\nALTER TYPE \"Role\" ADD VALUE 'ADMIN';\n");
    // A file whose only statement is CREATE INDEX CONCURRENTLY.
    f.write(
        "20240107000000_concurrently",
        "-- CreateIndex\nCREATE INDEX CONCURRENTLY \"User_email_idx\" ON \"User\"(\"email\");\n",
    );
    // A file with its own transaction.
    f.write("20240108000000_own_tx", "BEGIN;\nALTER TABLE \"User\" ADD COLUMN \"e\" TEXT;\nCOMMIT;\n");
    // An extension and a function with a dollar-quoted body.
    f.write(
        "20240109000000_function",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;\nCREATE FUNCTION next_id() RETURNS text AS $body$\nBEGIN\n  RETURN encode(gen_random_bytes(4), 'hex');\nEND;\n$body$ LANGUAGE plpgsql;\n",
    );
    // An empty file.
    f.write("20240110000000_empty", "");
}

#[tokio::test]
async fn a_real_world_shaped_history_applies_in_order_then_nothing_more() {
    let f = Fixture::new();
    write_history(&f);
    let local = migrate::load_dir(f.migrations()).unwrap();
    assert_eq!(local[2].name, "20240103000000_a");
    assert_eq!(local[3].name, "20240103000000_b");

    let applied = f.deploy().await.unwrap();
    assert_eq!(names(&applied), local.iter().map(|m| m.name.as_str()).collect::<Vec<_>>());
    let modes: Vec<(&str, Mode)> = applied.iter().map(|a| (a.name.as_str(), a.mode)).collect();
    assert!(modes.contains(&("20240107000000_concurrently", Mode::NoTransaction)));
    assert!(modes.contains(&("20240108000000_own_tx", Mode::NoTransaction)));
    assert!(modes.contains(&("20240106000000_add_value", Mode::Transaction)));
    assert_eq!(modes.iter().filter(|(_, m)| *m == Mode::NoTransaction).count(), 2);

    // Every change is there.
    let columns = f
        .rows("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'User'")
        .await;
    assert_eq!(columns[0][0].as_deref(), Some("a,b,c,d,e,email,id,role"));
    let labels = f.rows("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum").await;
    assert_eq!(labels[0][0].as_deref(), Some("USER,ADMIN"));
    assert_eq!(f.rows("SELECT email FROM \"User\"").await, vec![vec![Some("a;b".to_owned())]]);
    assert_eq!(
        f.rows("SELECT indisvalid::text FROM pg_index WHERE indexrelid = '\"User_email_idx\"'::regclass").await[0][0]
            .as_deref(),
        Some("true")
    );
    assert_eq!(f.rows("SELECT length(next_id())::text").await[0][0].as_deref(), Some("8"));

    // One applied row per migration, nothing else.
    let rows = f
        .rows("SELECT count(*), count(finished_at), count(rolled_back_at), sum(applied_steps_count) FROM _prisma_migrations")
        .await;
    assert_eq!(rows[0], ["11", "11", "0", "11"].map(|s| Some(s.to_owned())).to_vec());

    // Rerun: nothing pending, nothing applied, nothing recorded.
    assert!(f.deploy().await.unwrap().is_empty());
    let client = f.client().await;
    let status = migrate::status(&migrate::read_history(&client, local).await.unwrap());
    assert!(status.is_up_to_date(), "{status:?}");
    assert_eq!(f.rows("SELECT count(*) FROM _prisma_migrations").await[0][0].as_deref(), Some("11"));
}

#[tokio::test]
async fn new_migrations_are_applied_on_the_next_run() {
    let f = Fixture::new();
    f.write("20240101000000_a", "CREATE TABLE a (id int);");
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240101000000_a"]);
    f.write("20240102000000_b", "CREATE TABLE b (id int);");
    assert_eq!(names(&f.deploy().await.unwrap()), ["20240102000000_b"]);
}

#[test]
fn create_starts_a_timestamped_folder_and_the_lock_file() {
    let dir = crate::support::TempDir::new();
    let now = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let file = migrate::create(&dir.0, "Add users", now).unwrap();
    assert_eq!(file, dir.0.join("20260102030405_add_users/migration.sql"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    let lock = std::fs::read_to_string(dir.0.join("migration_lock.toml")).unwrap();
    assert!(lock.ends_with("provider = \"postgresql\"\n"));
    assert_eq!(migrate::load_dir(&dir.0).unwrap().len(), 1);
    assert!(migrate::create(&dir.0, "Add users", now).is_err(), "an existing folder is not overwritten");
}
