//! `_prisma_migrations` column for column, as Prisma creates and fills it.

use crate::support::Fixture;

#[tokio::test]
async fn the_ledger_is_prismas_table() {
    let f = Fixture::new();
    f.write("20240101000000_a", "CREATE TABLE a (id int);\n");
    f.deploy().await.unwrap();
    let columns = f
        .rows(
            "SELECT column_name, data_type, character_maximum_length::text, is_nullable, column_default
               FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
        )
        .await;
    let expected: Vec<[Option<&str>; 5]> = vec![
        [Some("id"), Some("character varying"), Some("36"), Some("NO"), None],
        [Some("checksum"), Some("character varying"), Some("64"), Some("NO"), None],
        [Some("finished_at"), Some("timestamp with time zone"), None, Some("YES"), None],
        [Some("migration_name"), Some("character varying"), Some("255"), Some("NO"), None],
        [Some("logs"), Some("text"), None, Some("YES"), None],
        [Some("rolled_back_at"), Some("timestamp with time zone"), None, Some("YES"), None],
        [Some("started_at"), Some("timestamp with time zone"), None, Some("NO"), Some("now()")],
        [Some("applied_steps_count"), Some("integer"), None, Some("NO"), Some("0")],
    ];
    let expected: Vec<Vec<Option<String>>> =
        expected.iter().map(|r| r.iter().map(|c| c.map(str::to_owned)).collect()).collect();
    assert_eq!(columns, expected);
    let pk = f
        .rows("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '_prisma_migrations'::regclass AND i.indisprimary")
        .await;
    assert_eq!(pk, vec![vec![Some("id".to_owned())]]);
    let unique = f
        .rows("SELECT count(*) FROM pg_index WHERE indrelid = '_prisma_migrations'::regclass AND NOT indisprimary")
        .await;
    assert_eq!(unique[0][0].as_deref(), Some("0"), "no unique constraint on the name");
}

#[tokio::test]
async fn an_applied_row_is_what_prisma_writes() {
    let f = Fixture::new();
    let script = "CREATE TABLE a (id int);\n";
    f.write("20240101000000_a", script);
    f.write("20240102000000_b", "CREATE INDEX CONCURRENTLY a_idx ON a (id);\n");
    f.deploy().await.unwrap();
    let client = f.client().await;
    let history = migrate::read_history(&client, Vec::new()).await.unwrap();
    assert_eq!(history.rows.len(), 2);
    for row in &history.rows {
        assert_eq!(uuid::Uuid::parse_str(&row.id).unwrap().get_version_num(), 4);
        assert_eq!(row.id, row.id.to_lowercase());
        assert!(row.finished_at.unwrap() >= row.started_at);
        assert_eq!(row.logs, None);
        assert_eq!(row.rolled_back_at, None);
        assert_eq!(row.applied_steps_count, 1);
    }
    let a = history.rows.iter().find(|r| r.migration_name == "20240101000000_a").unwrap();
    // What Prisma writes: lowercase hex SHA-256 of the file's bytes, pinned
    // (`sha256sum` of the script), not recomputed with drydock's own function.
    assert_eq!(a.checksum, "c2de7559380e5ebf65caa7d59e166558e80243cf7e70006cc98d1593d94203c1");
    assert_eq!(
        migrate::checksum(script.as_bytes()),
        "c2de7559380e5ebf65caa7d59e166558e80243cf7e70006cc98d1593d94203c1"
    );
}
