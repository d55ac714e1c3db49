//! Talking to the database from the xtask: does it answer?

use eyre::{Context, Result};

use crate::Ctx;

/// Checks that the database answers a query over the derived (or overridden) URL.
pub(crate) fn ping(ctx: &Ctx, compose: &compose::Compose) -> Result<()> {
    let url = ctx.database_url(compose)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let connect = tokio_postgres::connect(&url, tokio_postgres::NoTls);
        let (client, connection) = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
            .await
            .map_err(|_| eyre::eyre!("no answer within 5 s"))?
            .wrap_err("cannot connect")?;
        let handle = tokio::spawn(connection);
        client.simple_query("SELECT 1").await.wrap_err("SELECT 1 failed")?;
        drop(client);
        let _ = handle.await;
        Ok(())
    })
}
