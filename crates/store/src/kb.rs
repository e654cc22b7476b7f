//! Knowledge-base articles with their version history, and the knowledge base's
//! settings (the synonym list), on both engines.
//!
//! Saving an article whose content has not changed stores nothing (a re-import of the
//! same file creates no versions); every real change adds a version naming its author.
//! Deleting an article keeps its versions, so a re-created id continues the numbering.

use dasan_core::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sqlx::Row;

use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    Draft,
    Published,
}

impl ArticleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// What an author writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleInput {
    pub id: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Taxonomy code.
    pub category: String,
    pub tags: Vec<String>,
    pub status: ArticleStatus,
}

/// An article as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleRecord {
    pub content: ArticleInput,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// One version of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleVersion {
    pub version: i64,
    pub content: ArticleInput,
    pub author: String,
    pub at: Timestamp,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveOutcome {
    Created,
    Updated,
    Unchanged,
}

fn same_content(a: &ArticleInput, b: &ArticleInput) -> bool {
    a == b
}

/// What both engines decide before writing: a stale expected version is a
/// conflict; unchanged content is answered with the stored article.
fn before_save(
    existing: Option<&ArticleRecord>,
    input: &ArticleInput,
    expected_version: Option<i64>,
) -> Result<Option<ArticleRecord>> {
    if let Some(expected) = expected_version
        && existing.map(|e| e.version) != Some(expected)
    {
        return Err(conflict(expected, existing.map(|e| e.version)));
    }
    Ok(existing
        .filter(|e| same_content(&e.content, input))
        .cloned())
}

fn created(existing: Option<&ArticleRecord>, at: Timestamp) -> Timestamp {
    existing.map_or(at, |e| e.created_at)
}

/// The article as a save left it.
fn after_save(
    existing: Option<&ArticleRecord>,
    input: &ArticleInput,
    version: i64,
    author: &str,
    at: Timestamp,
) -> (ArticleRecord, SaveOutcome) {
    let outcome = if existing.is_some() {
        SaveOutcome::Updated
    } else {
        SaveOutcome::Created
    };
    let record = ArticleRecord {
        content: input.clone(),
        version,
        created_at: created(existing, at),
        updated_at: at,
        updated_by: author.to_string(),
    };
    (record, outcome)
}

fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn content_from(
    id: String,
    title: String,
    body: String,
    category: String,
    tags: String,
    status: String,
) -> Result<ArticleInput> {
    Ok(ArticleInput {
        id,
        title,
        body,
        category,
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("article tags: {e}")))?,
        status: ArticleStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("article status {status:?}")))?,
    })
}

fn timestamp(millis: i64) -> Result<Timestamp> {
    Timestamp::from_millis(millis).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn conflict(expected: i64, actual: Option<i64>) -> StoreError {
    StoreError::Conflict(match actual {
        Some(v) => format!("the article is at version {v}, not {expected}"),
        None => format!("the article does not exist (expected version {expected})"),
    })
}

pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE kb_versions (
    article_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    author TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);
CREATE TABLE kb_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE kb_versions (
    article_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (article_id, version)
);
CREATE TABLE kb_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

const ARTICLE_COLUMNS: &str =
    "id, title, body, category, tags, status, version, created_at, updated_at, updated_by";

// --- SQLite ---

fn sqlite_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<String>, [i64; 3])> {
    Ok((
        vec![
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
            row.get(9)?,
        ],
        [row.get(6)?, row.get(7)?, row.get(8)?],
    ))
}

fn record_from(parts: (Vec<String>, [i64; 3])) -> Result<ArticleRecord> {
    let (mut t, [version, created, updated]) = parts;
    let updated_by = t.pop().unwrap_or_default();
    let mut it = t.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let content = content_from(next(), next(), next(), next(), next(), next())?;
    Ok(ArticleRecord {
        content,
        version,
        created_at: timestamp(created)?,
        updated_at: timestamp(updated)?,
        updated_by,
    })
}

fn sqlite_get(conn: &Connection, id: &str) -> Result<Option<ArticleRecord>> {
    let sql = format!("SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE id = ?1");
    conn.query_row(&sql, [id], sqlite_record)
        .optional()?
        .map(record_from)
        .transpose()
}

pub(crate) fn sqlite_save(
    conn: &mut Connection,
    input: &ArticleInput,
    author: &str,
    at: Timestamp,
    expected_version: Option<i64>,
) -> Result<(ArticleRecord, SaveOutcome)> {
    let tx = conn.transaction()?;
    let existing = sqlite_get(&tx, &input.id)?;
    if let Some(unchanged) = before_save(existing.as_ref(), input, expected_version)? {
        return Ok((unchanged, SaveOutcome::Unchanged));
    }
    let last: Option<i64> = tx.query_row(
        "SELECT MAX(version) FROM kb_versions WHERE article_id = ?1",
        [&input.id],
        |row| row.get(0),
    )?;
    let version = last.unwrap_or(0) + 1;
    let created_at = created(existing.as_ref(), at);
    let tags = tags_json(&input.tags);
    tx.execute(
        "INSERT INTO kb_articles (id, title, body, category, tags, status, version, created_at, updated_at, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body,
           category = excluded.category, tags = excluded.tags, status = excluded.status,
           version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![
            input.id,
            input.title,
            input.body,
            input.category,
            tags,
            input.status.as_str(),
            version,
            created_at.millis(),
            at.millis(),
            author
        ],
    )?;
    tx.execute(
        "INSERT INTO kb_versions (article_id, version, title, body, category, tags, status, author, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            input.id,
            version,
            input.title,
            input.body,
            input.category,
            tags,
            input.status.as_str(),
            author,
            at.millis()
        ],
    )?;
    tx.commit()?;
    Ok(after_save(existing.as_ref(), input, version, author, at))
}

pub(crate) fn sqlite_get_article(conn: &Connection, id: &str) -> Result<Option<ArticleRecord>> {
    sqlite_get(conn, id)
}

pub(crate) fn sqlite_list(conn: &Connection) -> Result<Vec<ArticleRecord>> {
    let sql = format!("SELECT {ARTICLE_COLUMNS} FROM kb_articles ORDER BY id");
    let mut statement = conn.prepare(&sql)?;
    let rows = statement
        .query_map([], sqlite_record)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(record_from).collect()
}

pub(crate) fn sqlite_versions(conn: &Connection, id: &str) -> Result<Vec<ArticleVersion>> {
    let mut statement = conn.prepare(
        "SELECT article_id, title, body, category, tags, status, author, version, at
         FROM kb_versions WHERE article_id = ?1 ORDER BY version DESC",
    )?;
    let rows = statement
        .query_map([id], |row| {
            Ok((
                [
                    row.get::<_, String>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ],
                row.get::<_, i64>(7)?,
                row.get::<_, i64>(8)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(version_from).collect()
}

fn version_from(parts: ([String; 7], i64, i64)) -> Result<ArticleVersion> {
    let ([id, title, body, category, tags, status, author], version, at) = parts;
    Ok(ArticleVersion {
        version,
        content: content_from(id, title, body, category, tags, status)?,
        author,
        at: timestamp(at)?,
    })
}

pub(crate) fn sqlite_delete(conn: &mut Connection, id: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM kb_articles WHERE id = ?1", [id])? == 1)
}

pub(crate) fn sqlite_setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM kb_settings WHERE key = ?1",
            [key],
            |row| row.get(0),
        )
        .optional()?)
}

pub(crate) fn sqlite_set_setting(conn: &mut Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO kb_settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}

// --- PostgreSQL ---

fn pg_record(row: &sqlx::postgres::PgRow) -> Result<ArticleRecord> {
    let text = |i: usize| row.try_get::<String, _>(i);
    record_from((
        vec![
            text(0)?,
            text(1)?,
            text(2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            text(9)?,
        ],
        [row.try_get(6)?, row.try_get(7)?, row.try_get(8)?],
    ))
}

async fn pg_get<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    id: &str,
    lock: bool,
) -> Result<Option<ArticleRecord>> {
    let sql = format!(
        "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(pg_record)
        .transpose()
}

pub(crate) async fn pg_save(
    pool: &sqlx::PgPool,
    input: &ArticleInput,
    author: &str,
    at: Timestamp,
    expected_version: Option<i64>,
) -> Result<(ArticleRecord, SaveOutcome)> {
    let mut tx = pool.begin().await?;
    // One writer per article id at a time, also for an id not stored yet.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kb:' || $1))")
        .bind(&input.id)
        .execute(&mut *tx)
        .await?;
    let existing = pg_get(&mut *tx, &input.id, true).await?;
    if let Some(unchanged) = before_save(existing.as_ref(), input, expected_version)? {
        return Ok((unchanged, SaveOutcome::Unchanged));
    }
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM kb_versions WHERE article_id = $1")
            .bind(&input.id)
            .fetch_one(&mut *tx)
            .await?;
    let version = last.unwrap_or(0) + 1;
    let created_at = created(existing.as_ref(), at);
    let tags = tags_json(&input.tags);
    sqlx::query(
        "INSERT INTO kb_articles (id, title, body, category, tags, status, version, created_at, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body,
           category = EXCLUDED.category, tags = EXCLUDED.tags, status = EXCLUDED.status,
           version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
    )
    .bind(&input.id)
    .bind(&input.title)
    .bind(&input.body)
    .bind(&input.category)
    .bind(&tags)
    .bind(input.status.as_str())
    .bind(version)
    .bind(created_at.millis())
    .bind(at.millis())
    .bind(author)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO kb_versions (article_id, version, title, body, category, tags, status, author, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&input.id)
    .bind(version)
    .bind(&input.title)
    .bind(&input.body)
    .bind(&input.category)
    .bind(&tags)
    .bind(input.status.as_str())
    .bind(author)
    .bind(at.millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(after_save(existing.as_ref(), input, version, author, at))
}

pub(crate) async fn pg_get_article(pool: &sqlx::PgPool, id: &str) -> Result<Option<ArticleRecord>> {
    pg_get(pool, id, false).await
}

pub(crate) async fn pg_list(pool: &sqlx::PgPool) -> Result<Vec<ArticleRecord>> {
    let sql = format!("SELECT {ARTICLE_COLUMNS} FROM kb_articles ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(pg_record)
        .collect()
}

pub(crate) async fn pg_versions(pool: &sqlx::PgPool, id: &str) -> Result<Vec<ArticleVersion>> {
    let rows = sqlx::query(
        "SELECT article_id, title, body, category, tags, status, author, version, at
         FROM kb_versions WHERE article_id = $1 ORDER BY version DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let text = |i: usize| row.try_get::<String, _>(i);
            version_from((
                [
                    text(0)?,
                    text(1)?,
                    text(2)?,
                    text(3)?,
                    text(4)?,
                    text(5)?,
                    text(6)?,
                ],
                row.try_get(7)?,
                row.try_get(8)?,
            ))
        })
        .collect()
}

pub(crate) async fn pg_delete(pool: &sqlx::PgPool, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM kb_articles WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn pg_setting(pool: &sqlx::PgPool, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM kb_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?,
    )
}

pub(crate) async fn pg_set_setting(pool: &sqlx::PgPool, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO kb_settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await?;
    Ok(())
}
