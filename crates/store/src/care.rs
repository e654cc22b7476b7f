//! The care-call programme's records (departments, enrolled seniors, planned
//! calls, escalations, notices, webhook deliveries) on both engines.
//!
//! They are kept as typed documents: the domain layer (`dasan-web`'s `care`)
//! owns each kind's JSON body, and the store indexes the few columns the
//! programme queries by — the owner (a call's or escalation's senior, a
//! member's department), a status and one time (a call's due time, an
//! escalation's opening, a delivery's next attempt). Every change goes
//! through [`CareWrite`]: compare-and-set updates on a version and
//! insert-if-absent inserts, applied in one transaction or not at all, so a
//! call's outcome, its retry and its escalation are stored together, and a
//! plan re-made for the same week inserts nothing twice.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Result, StoreError};

/// The kinds of care records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CareKind {
    Department,
    /// A user or token that acts for a department (owner: the department).
    Member,
    Senior,
    Call,
    Escalation,
    Notice,
    /// A webhook delivery to a department (status `pending` / `delivered`).
    Webhook,
    /// Programme settings (one record per key).
    Setting,
}

impl CareKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::Member => "member",
            Self::Senior => "senior",
            Self::Call => "call",
            Self::Escalation => "escalation",
            Self::Notice => "notice",
            Self::Webhook => "webhook",
            Self::Setting => "setting",
        }
    }
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CareRecord {
    pub kind: CareKind,
    pub id: String,
    /// The record it belongs to (see the module docs); empty for none.
    pub owner: String,
    pub status: String,
    /// Milliseconds since the epoch; the kind's time key.
    pub at: i64,
    /// Starts at 1; every update adds one.
    pub version: i64,
    /// JSON, owned by the domain layer.
    pub body: String,
}

/// One transaction's changes. Updates name the version they expect; if any
/// record has moved on, nothing is written.
#[derive(Debug, Clone, Default)]
pub struct CareWrite {
    pub updates: Vec<(CareRecord, i64)>,
    /// Inserted unless a record of that kind and id exists.
    pub inserts: Vec<CareRecord>,
}

/// What a [`CareWrite`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareCommit {
    /// Written; how many of the inserts were new.
    Done { inserted: u64 },
    /// An update's expected version was stale: nothing was written.
    Stale,
}

/// Which records to list, ordered by `at` then `id`.
#[derive(Debug, Clone)]
pub struct CareQuery {
    pub kind: CareKind,
    pub owner: Option<String>,
    /// Any of these; all statuses when empty.
    pub statuses: Vec<String>,
    /// `at >= from`.
    pub from: Option<i64>,
    /// `at < to`.
    pub to: Option<i64>,
    pub descending: bool,
    pub limit: u32,
}

impl CareQuery {
    pub fn all(kind: CareKind) -> CareQuery {
        CareQuery {
            kind,
            owner: None,
            statuses: Vec::new(),
            from: None,
            to: None,
            descending: false,
            limit: 100_000,
        }
    }
}

/// The largest list one query answers.
pub const MAX_LIST: u32 = 100_000;

pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE care_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX care_records_by_time ON care_records (kind, at, id);
CREATE INDEX care_records_by_owner ON care_records (kind, owner, at, id);
"#;

pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE care_records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX care_records_by_time ON care_records (kind, at, id);
CREATE INDEX care_records_by_owner ON care_records (kind, owner, at, id);
"#;

const INSERT_SQL: &str = "INSERT INTO care_records (kind, id, owner, status, at, version, body) \
     VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (kind, id) DO NOTHING";
const UPDATE_SQL: &str = "UPDATE care_records SET owner = $1, status = $2, at = $3, \
     version = version + 1, body = $4 WHERE kind = $5 AND id = $6 AND version = $7";
const GET_SQL: &str = "SELECT kind, id, owner, status, at, version, body FROM care_records \
     WHERE kind = $1 AND id = $2";

/// The SELECT for a query, with `$n` placeholders, and its text parameters
/// and integer parameters in placeholder order.
fn list_sql(query: &CareQuery) -> (String, Vec<Param>) {
    let mut params = vec![Param::Text(query.kind.as_str().to_owned())];
    let mut sql = String::from(
        "SELECT kind, id, owner, status, at, version, body FROM care_records WHERE kind = $1",
    );
    if let Some(owner) = &query.owner {
        params.push(Param::Text(owner.clone()));
        sql.push_str(&format!(" AND owner = ${}", params.len()));
    }
    if !query.statuses.is_empty() {
        let mut marks = Vec::new();
        for status in &query.statuses {
            params.push(Param::Text(status.clone()));
            marks.push(format!("${}", params.len()));
        }
        sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
    }
    if let Some(from) = query.from {
        params.push(Param::Int(from));
        sql.push_str(&format!(" AND at >= ${}", params.len()));
    }
    if let Some(to) = query.to {
        params.push(Param::Int(to));
        sql.push_str(&format!(" AND at < ${}", params.len()));
    }
    let order = if query.descending { "DESC" } else { "ASC" };
    params.push(Param::Int(i64::from(query.limit.clamp(1, MAX_LIST))));
    sql.push_str(&format!(
        " ORDER BY at {order}, id {order} LIMIT ${}",
        params.len()
    ));
    (sql, params)
}

#[derive(Debug, Clone)]
enum Param {
    Text(String),
    Int(i64),
}

fn kind_from(text: &str) -> Result<CareKind> {
    Ok(match text {
        "department" => CareKind::Department,
        "member" => CareKind::Member,
        "senior" => CareKind::Senior,
        "call" => CareKind::Call,
        "escalation" => CareKind::Escalation,
        "notice" => CareKind::Notice,
        "webhook" => CareKind::Webhook,
        "setting" => CareKind::Setting,
        other => return Err(StoreError::Corrupt(format!("care record kind {other:?}"))),
    })
}

// --- SQLite ---

/// SQLite reads `$n` as a named parameter; they are bound in order of first
/// appearance, which the SQL here keeps equal to `n`.
fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, CareRecord)> {
    Ok((
        row.get(0)?,
        CareRecord {
            kind: CareKind::Setting,
            id: row.get(1)?,
            owner: row.get(2)?,
            status: row.get(3)?,
            at: row.get(4)?,
            version: row.get(5)?,
            body: row.get(6)?,
        },
    ))
}

fn with_kind((kind, mut record): (String, CareRecord)) -> Result<CareRecord> {
    record.kind = kind_from(&kind)?;
    Ok(record)
}

pub(crate) fn sqlite_commit(conn: &mut Connection, write: &CareWrite) -> Result<CareCommit> {
    let tx = conn.transaction()?;
    for (record, expected) in &write.updates {
        let changed = tx.execute(
            UPDATE_SQL,
            params![
                record.owner,
                record.status,
                record.at,
                record.body,
                record.kind.as_str(),
                record.id,
                expected
            ],
        )?;
        if changed == 0 {
            return Ok(CareCommit::Stale);
        }
    }
    let mut inserted = 0;
    {
        let mut insert = tx.prepare_cached(INSERT_SQL)?;
        for record in &write.inserts {
            inserted += insert.execute(params![
                record.kind.as_str(),
                record.id,
                record.owner,
                record.status,
                record.at,
                record.body
            ])? as u64;
        }
    }
    tx.commit()?;
    Ok(CareCommit::Done { inserted })
}

pub(crate) fn sqlite_get(
    conn: &Connection,
    kind: CareKind,
    id: &str,
) -> Result<Option<CareRecord>> {
    conn.query_row(GET_SQL, params![kind.as_str(), id], sqlite_row)
        .optional()?
        .map(with_kind)
        .transpose()
}

pub(crate) fn sqlite_list(conn: &Connection, query: &CareQuery) -> Result<Vec<CareRecord>> {
    let (sql, params) = list_sql(query);
    let mut statement = conn.prepare_cached(&sql)?;
    let values: Vec<Box<dyn rusqlite::ToSql>> = params
        .into_iter()
        .map(|p| -> Box<dyn rusqlite::ToSql> {
            match p {
                Param::Text(t) => Box::new(t),
                Param::Int(i) => Box::new(i),
            }
        })
        .collect();
    let rows = statement.query_map(
        rusqlite::params_from_iter(values.iter().map(|v| v.as_ref())),
        sqlite_row,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(with_kind(row?)?);
    }
    Ok(out)
}

// --- PostgreSQL ---

fn pg_record(row: &sqlx::postgres::PgRow) -> Result<CareRecord> {
    let kind: String = row.try_get(0)?;
    Ok(CareRecord {
        kind: kind_from(&kind)?,
        id: row.try_get(1)?,
        owner: row.try_get(2)?,
        status: row.try_get(3)?,
        at: row.try_get(4)?,
        version: row.try_get(5)?,
        body: row.try_get(6)?,
    })
}

pub(crate) async fn pg_commit(pool: &sqlx::PgPool, write: &CareWrite) -> Result<CareCommit> {
    let mut tx = pool.begin().await?;
    for (record, expected) in &write.updates {
        let changed = sqlx::query(UPDATE_SQL)
            .bind(&record.owner)
            .bind(&record.status)
            .bind(record.at)
            .bind(&record.body)
            .bind(record.kind.as_str())
            .bind(&record.id)
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(CareCommit::Stale);
        }
    }
    let mut inserted = 0;
    for record in &write.inserts {
        inserted += sqlx::query(INSERT_SQL)
            .bind(record.kind.as_str())
            .bind(&record.id)
            .bind(&record.owner)
            .bind(&record.status)
            .bind(record.at)
            .bind(&record.body)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok(CareCommit::Done { inserted })
}

pub(crate) async fn pg_get(
    pool: &sqlx::PgPool,
    kind: CareKind,
    id: &str,
) -> Result<Option<CareRecord>> {
    sqlx::query(GET_SQL)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(|row| pg_record(&row))
        .transpose()
}

pub(crate) async fn pg_list(pool: &sqlx::PgPool, query: &CareQuery) -> Result<Vec<CareRecord>> {
    let (sql, params) = list_sql(query);
    // Built from fixed fragments; every value is a bound parameter.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for param in params {
        q = match param {
            Param::Text(t) => q.bind(t),
            Param::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(pool).await?.iter().map(pg_record).collect()
}
