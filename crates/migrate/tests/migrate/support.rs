//! The fixture: a fresh database of the shared cluster and a temporary migrations folder.

use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use migrate::{Applied, MigrateError, Options};
use testbench::{Cluster, Database};
use tokio_postgres::Client;

pub struct Fixture {
    pub db: Database,
    pub dir: TempDir,
    _cluster: Arc<Cluster>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let cluster = Cluster::shared();
        let db = cluster.database();
        Fixture { db, dir: TempDir::new(), _cluster: cluster }
    }

    /// The migrations folder.
    pub fn migrations(&self) -> &Utf8Path {
        &self.dir.0
    }

    /// Writes `<name>/migration.sql`.
    pub fn write(&self, name: &str, script: &str) {
        let folder = self.dir.0.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("migration.sql"), script).unwrap();
    }

    pub async fn client(&self) -> Client {
        migrate::connect(&self.db.url).await.unwrap()
    }

    /// A deploy as the xtask runs it, with default options.
    pub async fn deploy(&self) -> Result<Vec<Applied>, MigrateError> {
        self.deploy_with(&Options::default()).await
    }

    pub async fn deploy_with(&self, options: &Options) -> Result<Vec<Applied>, MigrateError> {
        let client = self.client().await;
        deploy(&client, self.migrations(), options, Duration::from_secs(10)).await
    }

    /// Rows of a query as text, for comparisons.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        rows(&self.client().await, sql).await
    }
}

/// load → lock → history → plan → apply → unlock.
pub async fn deploy(
    client: &Client,
    dir: &Utf8Path,
    options: &Options,
    wait: Duration,
) -> Result<Vec<Applied>, MigrateError> {
    let local = migrate::load_dir(dir)?;
    migrate::lock(client, wait, |_, _| {}).await?;
    let history = migrate::read_history(client, local).await?;
    let plan = migrate::plan(&history, options)?;
    let applied = migrate::apply(client, &plan, |_| {}).await;
    migrate::unlock(client).await?;
    applied
}

pub async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

pub fn names(applied: &[Applied]) -> Vec<&str> {
    applied.iter().map(|a| a.name.as_str()).collect()
}

/// A temporary folder, removed on drop.
pub struct TempDir(pub Utf8PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "drydock-migrations-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(Utf8PathBuf::from_path_buf(dir).unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
