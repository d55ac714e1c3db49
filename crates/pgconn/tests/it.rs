//! pgconn against a throwaway PostgreSQL cluster (`testbench::cluster`).
//!
//! - `prisma_url_connects_with_its_schema`: Prisma's parameters, `search_path`, `application_name`
//! - `keyword_string_connects`: libpq `key=value` form
//! - `silent_server_times_out`: one bound on connecting
//! - `tls_is_refused_before_connecting`: `sslmode=require`
//! - `refused_connection_names_no_secret`: nothing listens

use std::time::{Duration, Instant};

use testbench::cluster::Cluster;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn prisma_url_connects_with_its_schema() {
    let cluster = Cluster::shared();
    let db = cluster.database();
    rt().block_on(async {
        let url = format!(
            "{}?schema=app%20schema&connection_limit=5&pool_timeout=10&sslmode=prefer&pgbouncer=false&socket_timeout=30&connect_timeout=5",
            db.url.replacen("postgres@", "postgres:p%24a%7Bs%7Ds%20w'rd@", 1)
        );
        let setup = pgconn::connect(&db.url, "setup").await.unwrap();
        setup.batch_execute("CREATE SCHEMA \"app schema\"; CREATE TABLE \"app schema\".t (x int)").await.unwrap();
        let client = pgconn::connect(&url, "drydock test").await.unwrap();
        let row = client
            .query_one("SELECT current_setting('search_path'), current_setting('application_name'), current_database()", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "\"app schema\"");
        assert_eq!(row.get::<_, String>(1), "drydock test");
        assert_eq!(row.get::<_, String>(2), db.name);
        client.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
    });
}

#[test]
fn keyword_string_connects() {
    let cluster = Cluster::shared();
    let db = cluster.database();
    rt().block_on(async {
        let conninfo =
            format!("host=127.0.0.1 port={} user=postgres dbname='{}' sslmode=disable", cluster.port(), db.name);
        let client = pgconn::connect(&conninfo, "kv").await.unwrap();
        let row = client.query_one("SELECT current_database()", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), db.name);
    });
}

#[test]
fn silent_server_times_out() {
    // Accepts TCP connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let err = rt()
        .block_on(pgconn::connect(&format!("postgresql://u:secret@127.0.0.1:{port}/db?connect_timeout=1"), "t"))
        .unwrap_err();
    assert!(matches!(err, pgconn::ConnectError::Timeout(d) if d == Duration::from_secs(1)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[test]
fn tls_is_refused_before_connecting() {
    let err = rt().block_on(pgconn::connect("postgresql://u:secret@192.0.2.1/db?sslmode=require", "t")).unwrap_err();
    assert!(matches!(err, pgconn::ConnectError::TlsRequired(_)), "{err}");
}

#[test]
fn refused_connection_names_no_secret() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = rt().block_on(pgconn::connect(&format!("postgresql://u:Pa55word@127.0.0.1:{port}/db"), "t")).unwrap_err();
    assert!(matches!(err, pgconn::ConnectError::Failed(_)), "{err}");
    let text = err.to_string();
    assert!(!text.contains("Pa55word"), "{text}");
}
