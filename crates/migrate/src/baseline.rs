//! `migrate baseline`: adopt a database made without migrations (`prisma db push`) by proving its schema is the folder's.
//!
//! The folder is applied to a scratch database on the same server, the two
//! schemas are compared (tables, views, columns with types, nullability and
//! defaults, constraints, indexes, enums, domains, sequences, extensions), and
//! only if they are equal is every migration recorded as applied, in one
//! transaction, with the rows `prisma migrate resolve --applied` writes. The
//! scratch database is dropped on every path.

use std::collections::BTreeMap;
use std::fmt;

use tokio_postgres::Client;

use crate::ledger::{self, TABLE};
use crate::plan::History;
use crate::session::{quote_ident, APPLICATION_NAME};
use crate::MigrateError;

/// What [`baseline`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// The schemas are equal: these migrations are now recorded as applied.
    Recorded(Vec<String>),
    /// The schemas differ: nothing was changed.
    Differs(Vec<Difference>),
}

/// One object whose definition differs between the live schema and the migrations' result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The object: `column "User".email`, `index "User_email_key"`, ...
    pub object: String,
    /// Its definition in the live database, if it exists there.
    pub database: Option<String>,
    /// Its definition after applying the migrations, if it exists there.
    pub migrations: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.database, &self.migrations) {
            (Some(d), None) => write!(f, "{} is in the database ({d}) but no migration creates it", self.object),
            (None, Some(m)) => write!(f, "{} is created by the migrations ({m}) but not in the database", self.object),
            (Some(d), Some(m)) => write!(f, "{}: the database has `{d}`, the migrations give `{m}`", self.object),
            (None, None) => write!(f, "{}", self.object),
        }
    }
}

/// Baselines the database of `live` (reached with `url`, whose credentials also
/// create the scratch database: it needs CREATEDB). Hold the migration lock and
/// pass a fresh [`History`]; take a verified backup first.
pub async fn baseline(live: &Client, url: &str, history: &History) -> Result<Baseline, MigrateError> {
    let refuse = |reason: String| MigrateError::Baseline { reason };
    if !history.rows.is_empty() {
        return Err(refuse(format!(
            "{TABLE} already has {} rows: baseline is for a database without migration history; run `cargo xtask migrate ENV` (or `migrate status ENV`)",
            history.rows.len()
        )));
    }
    if history.local.is_empty() {
        return Err(refuse("the migrations folder has no migration: nothing to record".into()));
    }
    let expected = scratch_schema(live, url, history).await?;
    // Compare and record in one transaction of the live database.
    let db = |doing: &str, e: tokio_postgres::Error| MigrateError::Database {
        doing: doing.to_owned(),
        reason: crate::error::describe(&e),
    };
    live.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.map_err(|e| db("begin the baseline", e))?;
    let result = compare_and_record(live, history, &expected).await;
    if !matches!(result, Ok(Baseline::Recorded(_))) {
        let _ = live.batch_execute("ROLLBACK").await;
    }
    result
}

async fn compare_and_record(
    live: &Client,
    history: &History,
    expected: &BTreeMap<String, String>,
) -> Result<Baseline, MigrateError> {
    let actual = snapshot(live, &history.schema).await?;
    let differences = diff(&actual, expected);
    if !differences.is_empty() {
        return Ok(Baseline::Differs(differences));
    }
    let mut sql = String::new();
    if !history.ledger_exists {
        sql.push_str(&format!("{};\n", ledger::create_sql(&history.schema)));
    }
    for m in &history.local {
        sql.push_str(&format!("{};\n", ledger::resolved_applied_row_sql(&history.schema, m)));
    }
    sql.push_str("COMMIT;");
    live.batch_execute(&sql).await.map_err(|e| MigrateError::Database {
        doing: format!("record the baseline in {TABLE}"),
        reason: crate::error::describe(&e),
    })?;
    Ok(Baseline::Recorded(history.local.iter().map(|m| m.name.clone()).collect()))
}

/// Creates a scratch database, applies every migration there, reads its schema
/// and drops it again (also when applying fails).
async fn scratch_schema(live: &Client, url: &str, history: &History) -> Result<BTreeMap<String, String>, MigrateError> {
    let name = format!("drydock_baseline_{}", &ledger::new_id().replace('-', "")[..16]);
    live.batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name))).await.map_err(|e| {
        MigrateError::Database {
            doing: format!(
                "create the scratch database {name} (baseline applies the migrations there; the role needs CREATEDB)"
            ),
            reason: crate::error::describe(&e),
        }
    })?;
    let result = apply_in_scratch(url, &name, history).await;
    let dropped = live.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name))).await;
    let expected = result?;
    dropped.map_err(|e| MigrateError::Database {
        doing: format!("drop the scratch database {name} (drop it by hand)"),
        reason: crate::error::describe(&e),
    })?;
    Ok(expected)
}

async fn apply_in_scratch(url: &str, name: &str, history: &History) -> Result<BTreeMap<String, String>, MigrateError> {
    let mut params = pgconn::parse(url).map_err(|e| MigrateError::Connect { reason: e.to_string() })?;
    params.dbname = Some(name.to_owned());
    let scratch = pgconn::connect_params(&params, APPLICATION_NAME)
        .await
        .map_err(|e| MigrateError::Connect { reason: format!("scratch database {name}: {e}") })?;
    scratch.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&history.schema))).await.map_err(
        |e| MigrateError::Database {
            doing: format!("create schema {} in {name}", history.schema),
            reason: crate::error::describe(&e),
        },
    )?;
    let not_applying = |e: MigrateError| MigrateError::Baseline {
        reason: format!("the migrations do not apply to an empty database, so they cannot describe this one: {e}"),
    };
    let fresh = crate::read_history(&scratch, history.local.clone()).await.map_err(not_applying)?;
    let plan = crate::plan(&fresh, &crate::Options::default()).map_err(not_applying)?;
    crate::apply(&scratch, &plan, |_| {}).await.map_err(not_applying)?;
    snapshot(&scratch, &history.schema).await
}

/// Every object of `schema` that a migration defines, as `object → definition`
/// (the ledger and extension members left out).
pub(crate) async fn snapshot(client: &Client, schema: &str) -> Result<BTreeMap<String, String>, MigrateError> {
    const SQL: &str = "
WITH rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname <> '_prisma_migrations'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
), typ AS (
  SELECT t.oid, t.typname, t.typtype, t.typbasetype, t.typtypmod, t.typnotnull, t.typdefault FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname = $1
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
)
SELECT CASE relkind WHEN 'r' THEN 'table ' WHEN 'p' THEN 'table ' WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' ELSE 'foreign table ' END || quote_ident(relname),
       CASE relkind WHEN 'p' THEN 'partitioned' WHEN 'v' THEN pg_get_viewdef(oid) WHEN 'm' THEN pg_get_viewdef(oid) ELSE '' END
       || CASE relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'column ' || quote_ident(r.relname) || '.' || quote_ident(a.attname),
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
       || CASE a.attgenerated WHEN 's' THEN ' STORED' ELSE '' END
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || quote_ident(r.relname) || '.' || quote_ident(con.conname), pg_get_constraintdef(con.oid)
  FROM pg_constraint con JOIN rel r ON r.oid = con.conrelid
UNION ALL
SELECT 'index ' || quote_ident(i.relname), pg_get_indexdef(i.oid)
  FROM pg_index x JOIN rel r ON r.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
UNION ALL
SELECT 'sequence ' || quote_ident(r.relname),
       format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' increment ' || s.seqincrement
       || ' min ' || s.seqmin || ' max ' || s.seqmax || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
  FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
UNION ALL
SELECT 'enum ' || quote_ident(t.typname), string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
  FROM typ t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname
UNION ALL
SELECT 'domain ' || quote_ident(t.typname),
       format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END || COALESCE(' DEFAULT ' || t.typdefault, '')
       || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = t.oid), '')
  FROM typ t WHERE t.typtype = 'd'
UNION ALL
SELECT 'extension ' || quote_ident(x.extname), 'in schema ' || quote_ident(n.nspname)
  FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'";
    let rows = client
        .query(SQL, &[&schema])
        .await
        .map_err(|e| MigrateError::Database { doing: "read the schema".into(), reason: crate::error::describe(&e) })?;
    Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect())
}

/// What differs between the database and the migrations' result, by object.
fn diff(database: &BTreeMap<String, String>, migrations: &BTreeMap<String, String>) -> Vec<Difference> {
    let mut objects: Vec<&String> = database.keys().chain(migrations.keys()).collect();
    objects.sort();
    objects.dedup();
    objects
        .into_iter()
        .filter(|o| database.get(*o) != migrations.get(*o))
        .map(|o| Difference {
            object: o.clone(),
            database: database.get(o).cloned(),
            migrations: migrations.get(o).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_object_and_both_definitions() {
        let db: BTreeMap<String, String> =
            [("column t.a", "text"), ("column t.b", "int4"), ("table t", "")].map(|(k, v)| (k.into(), v.into())).into();
        let mig: BTreeMap<String, String> =
            [("column t.a", "character varying(10)"), ("column t.c", "int4"), ("table t", "")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        let d: Vec<String> = diff(&db, &mig).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            [
                "column t.a: the database has `text`, the migrations give `character varying(10)`",
                "column t.b is in the database (int4) but no migration creates it",
                "column t.c is created by the migrations (int4) but not in the database",
            ]
        );
        assert!(diff(&db, &db).is_empty());
    }
}
