//! `baseline`: a database made by `prisma db push` is adopted only when the migrations give exactly its schema.

use migrate::{Baseline, MigrateError};

use crate::support::Fixture;

const INIT: &str = "CREATE TYPE \"Role\" AS ENUM ('USER', 'ADMIN');\nCREATE TABLE \"User\" (id SERIAL PRIMARY KEY, email TEXT NOT NULL, role \"Role\" NOT NULL DEFAULT 'USER');\nCREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(email);\n";
const POST: &str = "CREATE TABLE \"Post\" (id SERIAL PRIMARY KEY, \"authorId\" INT NOT NULL REFERENCES \"User\"(id) ON DELETE CASCADE, title VARCHAR(200));\n";
const INDEX: &str = "CREATE INDEX CONCURRENTLY \"Post_authorId_idx\" ON \"Post\"(\"authorId\");\n";

/// What `prisma db push` would have made: the same schema, written differently, with data.
const PUSHED: &str = "CREATE TYPE \"Role\" AS ENUM ('USER', 'ADMIN');
CREATE TABLE \"User\" (id SERIAL NOT NULL, email TEXT NOT NULL, role \"Role\" NOT NULL DEFAULT 'USER', CONSTRAINT \"User_pkey\" PRIMARY KEY (id));
CREATE TABLE \"Post\" (id SERIAL NOT NULL, \"authorId\" INTEGER NOT NULL, title VARCHAR(200), CONSTRAINT \"Post_pkey\" PRIMARY KEY (id));
CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(email);
CREATE INDEX \"Post_authorId_idx\" ON \"Post\"(\"authorId\");
ALTER TABLE \"Post\" ADD CONSTRAINT \"Post_authorId_fkey\" FOREIGN KEY (\"authorId\") REFERENCES \"User\"(id) ON DELETE CASCADE;
INSERT INTO \"User\" (email) VALUES ('a@example.com');
INSERT INTO \"Post\" (\"authorId\", title) VALUES (1, 'hello');";

fn folder(f: &Fixture) {
    f.write("20240101000000_init", INIT);
    f.write("20240102000000_post", POST);
    f.write("20240103000000_post_index", INDEX);
}

async fn baseline(f: &Fixture) -> Result<Baseline, MigrateError> {
    let client = f.client().await;
    migrate::lock(&client, std::time::Duration::from_secs(10), |_, _| {}).await?;
    let history = migrate::read_history(&client, migrate::load_dir(f.migrations())?).await?;
    let result = migrate::baseline(&client, &f.db.url, &history).await;
    migrate::unlock(&client).await?;
    result
}

async fn count(f: &Fixture, sql: &str) -> String {
    f.rows(sql).await[0][0].clone().unwrap_or_default()
}

const SCRATCH_LEFT: &str = "SELECT count(*) FROM pg_database WHERE datname LIKE 'drydock\\_baseline\\_%'";
const LEDGER: &str = "SELECT count(*) FROM pg_tables WHERE tablename = '_prisma_migrations'";

#[tokio::test]
async fn an_equal_schema_is_recorded_as_applied_and_anything_else_changes_nothing() {
    // Equal: every migration recorded, as `prisma migrate resolve --applied` writes it.
    let f = Fixture::new();
    folder(&f);
    f.client().await.batch_execute(PUSHED).await.unwrap();
    assert!(matches!(f.deploy().await, Err(MigrateError::Refused(_))), "P3005 before the baseline");
    let recorded = baseline(&f).await.unwrap();
    assert_eq!(
        recorded,
        Baseline::Recorded(vec![
            "20240101000000_init".into(),
            "20240102000000_post".into(),
            "20240103000000_post_index".into()
        ])
    );
    let rows = f
        .rows("SELECT count(*), bool_and(finished_at IS NOT NULL AND rolled_back_at IS NULL AND applied_steps_count = 0 AND length(checksum) = 64) FROM _prisma_migrations")
        .await;
    assert_eq!(rows, vec![vec![Some("3".to_owned()), Some("t".to_owned())]]);
    assert!(f.deploy().await.unwrap().is_empty(), "nothing pending after the baseline");
    assert_eq!(count(&f, "SELECT count(*) FROM \"Post\"").await, "1", "data untouched");
    assert_eq!(count(&f, SCRATCH_LEFT).await, "0");
    // A second baseline is refused: the history exists now.
    let again = baseline(&f).await.unwrap_err();
    assert!(again.to_string().contains("already has 3 rows"), "{again}");

    // Different: each difference named, nothing recorded, no scratch database left.
    let f = Fixture::new();
    folder(&f);
    let drifted = PUSHED
        .replace("email TEXT NOT NULL", "email VARCHAR(100) NOT NULL")
        .replace("CREATE INDEX \"Post_authorId_idx\" ON \"Post\"(\"authorId\");\n", "")
        .replace("'USER', 'ADMIN'", "'USER', 'ADMIN', 'GUEST'");
    let client = f.client().await;
    client.batch_execute(&drifted).await.unwrap();
    client.batch_execute("CREATE TABLE legacy (id int)").await.unwrap();
    let Baseline::Differs(differences) = baseline(&f).await.unwrap() else { panic!("expected differences") };
    let text: Vec<String> = differences.iter().map(ToString::to_string).collect();
    let expect = [
        "column \"User\".email: the database has `character varying(100) NOT NULL`, the migrations give `text NOT NULL`",
        "enum \"Role\": the database has `'USER', 'ADMIN', 'GUEST'`, the migrations give `'USER', 'ADMIN'`",
        "index \"Post_authorId_idx\" is created by the migrations",
        "table legacy is in the database",
        "column legacy.id is in the database",
    ];
    for e in expect {
        assert!(text.iter().any(|t| t.starts_with(e)), "missing {e:?} in {text:#?}");
    }
    assert_eq!(text.len(), expect.len(), "{text:#?}");
    assert_eq!(count(&f, LEDGER).await, "0", "nothing changed");
    assert_eq!(count(&f, SCRATCH_LEFT).await, "0");

    // Migrations that do not apply to an empty database describe nothing.
    let f = Fixture::new();
    f.write("20240101000000_broken", "ALTER TABLE missing ADD COLUMN a int;\n");
    f.client().await.batch_execute("CREATE TABLE missing (a int)").await.unwrap();
    let err = baseline(&f).await.unwrap_err();
    assert!(matches!(&err, MigrateError::Baseline { .. }), "{err}");
    assert!(
        err.to_string().contains("do not apply to an empty database") && err.to_string().contains("missing"),
        "{err}"
    );
    assert_eq!(count(&f, LEDGER).await, "0");
    assert_eq!(count(&f, SCRATCH_LEFT).await, "0");
}
