//! Talking to the database from the xtask: does it answer, how big is it.
//! Every connection goes through `pgconn` (every URL form, one timeout), on
//! a runtime from [`runtime`], the xtask's one way to make one.

use eyre::{Context, Result};

use crate::Ctx;

/// Checks that the database answers a query over the derived (or overridden) URL.
pub(crate) fn ping(ctx: &Ctx, compose: &compose::Compose) -> Result<()> {
    let url = ctx.database_url(compose)?;
    query_one_i64(&url, "drydock status", "SELECT 1::int8").map(drop)
}

/// The size in bytes of the database at `url` (`pg_database_size`).
pub(crate) fn database_size(url: &str) -> Result<u64> {
    let size = query_one_i64(url, "drydock check", "SELECT pg_database_size(current_database())")?;
    Ok(size.max(0) as u64)
}

/// Runs `sql`, which returns one `int8`, on its own short-lived connection.
fn query_one_i64(url: &str, application_name: &str, sql: &str) -> Result<i64> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = pgconn::connect(url, application_name).await?;
        let row = tokio::time::timeout(pgconn::DEFAULT_CONNECT_TIMEOUT, client.query_one(sql, &[]))
            .await
            .map_err(|_| eyre::eyre!("no answer to `{sql}` within {} s", pgconn::DEFAULT_CONNECT_TIMEOUT.as_secs()))?
            .wrap_err_with(|| format!("`{sql}` failed"))?;
        Ok(row.get(0))
    })
}

/// The async runtime of one piece of database work: current-thread, built
/// per task rather than kept for the process, because dropping it is what
/// closes the connections of that work at once (a session that holds an
/// advisory lock must not outlive its task, also on an error path).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().wrap_err("cannot start the async runtime")
}
