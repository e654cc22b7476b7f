//! Re-use survey campaigns: a sample of the citizens who used the service in a
//! period, each asked once by SMS whether they would use it again.

use dasan_core::{PhoneNumber, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::Row;

use crate::convert::{phone_from_key, phone_key};
use crate::{Result, StoreError};

/// A campaign as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseCampaign {
    pub id: uuid::Uuid,
    pub created_at: Timestamp,
    pub created_by: String,
    pub period_from: Timestamp,
    pub period_to: Timestamp,
    /// Distinct citizens who had a consultation in the period.
    pub population: i64,
    pub question: String,
}

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseCounts {
    pub sampled: u64,
    /// Not asked: opted out of texts.
    pub skipped: u64,
    pub sent: u64,
    pub responses: u64,
    pub yes: u64,
}

pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE reuse_campaigns (
    id BLOB PRIMARY KEY,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    period_from INTEGER NOT NULL,
    period_to INTEGER NOT NULL,
    population INTEGER NOT NULL,
    question TEXT NOT NULL
);
CREATE TABLE reuse_members (
    campaign_id BLOB NOT NULL,
    citizen_phone INTEGER NOT NULL,
    status TEXT NOT NULL,
    answer INTEGER,
    sent_at INTEGER,
    answered_at INTEGER,
    PRIMARY KEY (campaign_id, citizen_phone)
);
CREATE INDEX reuse_members_by_phone ON reuse_members (citizen_phone, sent_at);
"#;

pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE reuse_campaigns (
    id UUID PRIMARY KEY,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    period_from BIGINT NOT NULL,
    period_to BIGINT NOT NULL,
    population BIGINT NOT NULL,
    question TEXT NOT NULL
);
CREATE TABLE reuse_members (
    campaign_id UUID NOT NULL,
    citizen_phone BIGINT NOT NULL,
    status TEXT NOT NULL,
    answer BIGINT,
    sent_at BIGINT,
    answered_at BIGINT,
    PRIMARY KEY (campaign_id, citizen_phone)
);
CREATE INDEX reuse_members_by_phone ON reuse_members (citizen_phone, sent_at);
"#;

const COUNTS_SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status IN ('sent', 'answered') THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status = 'answered' AND answer = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) \
     FROM reuse_members WHERE campaign_id = {id}";

/// `n` of the citizens (phone keys) chosen by a partial Fisher–Yates shuffle;
/// only the chosen ones are turned back into numbers.
pub(crate) fn sample(mut keys: Vec<i64>, n: usize, seed: u64) -> Result<(u64, Vec<PhoneNumber>)> {
    // DISTINCT gives no promised order: sort so a seed means one sample.
    keys.sort_unstable();
    let population = keys.len() as u64;
    let mut rng = dasan_core::rng::Rng::seed(seed);
    let take = n.min(keys.len());
    for i in 0..take {
        let j = i + rng.below((keys.len() - i) as u64) as usize;
        keys.swap(i, j);
    }
    let chosen = keys[..take]
        .iter()
        .map(|k| phone_from_key(*k))
        .collect::<Result<_>>()?;
    Ok((population, chosen))
}

fn counts(values: [i64; 5]) -> ReuseCounts {
    let [sampled, skipped, sent, responses, yes] = values.map(|v| v.max(0) as u64);
    ReuseCounts {
        sampled,
        skipped,
        sent,
        responses,
        yes,
    }
}

fn time(millis: i64) -> Result<Timestamp> {
    Timestamp::from_millis(millis).map_err(|e| StoreError::Corrupt(e.to_string()))
}

// --- SQLite ---

pub(crate) fn sqlite_citizens(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<i64>> {
    let mut statement = conn.prepare(
        "SELECT DISTINCT citizen_phone FROM consultations WHERE started_at >= ?1 AND started_at < ?2",
    )?;
    let keys = statement
        .query_map(params![from.millis(), to.millis()], |row| {
            row.get::<_, i64>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(keys)
}

pub(crate) fn sqlite_create(
    conn: &mut Connection,
    c: &ReuseCampaign,
    members: &[(PhoneNumber, bool)],
) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO reuse_campaigns (id, created_at, created_by, period_from, period_to, population, question) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![c.id.as_bytes().as_slice(), c.created_at.millis(), c.created_by, c.period_from.millis(), c.period_to.millis(), c.population, c.question],
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO reuse_members (campaign_id, citizen_phone, status) VALUES (?1, ?2, ?3)",
        )?;
        for (phone, skipped) in members {
            let status = if *skipped { "skipped" } else { "queued" };
            insert.execute(params![
                c.id.as_bytes().as_slice(),
                phone_key(phone),
                status
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(crate) fn sqlite_campaign(
    conn: &Connection,
    id: uuid::Uuid,
) -> Result<Option<(ReuseCampaign, ReuseCounts)>> {
    let found = conn
        .query_row(
            "SELECT created_at, created_by, period_from, period_to, population, question FROM reuse_campaigns WHERE id = ?1",
            [id.as_bytes().as_slice()],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, i64>(3)?, row.get::<_, i64>(4)?, row.get::<_, String>(5)?)),
        )
        .optional()?;
    let Some((created, by, from, to, population, question)) = found else {
        return Ok(None);
    };
    let values = conn.query_row(
        &COUNTS_SQL.replace("{id}", "?1"),
        [id.as_bytes().as_slice()],
        |row| {
            Ok([
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ])
        },
    )?;
    Ok(Some((
        ReuseCampaign {
            id,
            created_at: time(created)?,
            created_by: by,
            period_from: time(from)?,
            period_to: time(to)?,
            population,
            question,
        },
        counts(values),
    )))
}

pub(crate) fn sqlite_mark_sent(
    conn: &mut Connection,
    id: uuid::Uuid,
    phone: &PhoneNumber,
    at: Timestamp,
) -> Result<()> {
    conn.execute(
        "UPDATE reuse_members SET status = 'sent', sent_at = ?3 WHERE campaign_id = ?1 AND citizen_phone = ?2 AND status = 'queued'",
        params![id.as_bytes().as_slice(), phone_key(phone), at.millis()],
    )?;
    Ok(())
}

pub(crate) fn sqlite_answer(
    conn: &mut Connection,
    phone: &PhoneNumber,
    yes: bool,
    since: Timestamp,
    at: Timestamp,
) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE reuse_members SET status = 'answered', answer = ?2, answered_at = ?4 WHERE citizen_phone = ?1 AND status = 'sent' AND sent_at >= ?3",
        params![phone_key(phone), i64::from(yes), since.millis(), at.millis()],
    )? > 0)
}

// --- PostgreSQL ---

pub(crate) async fn pg_citizens(
    pool: &sqlx::PgPool,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT citizen_phone FROM consultations WHERE started_at >= $1 AND started_at < $2",
    )
    .bind(from.millis())
    .bind(to.millis())
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn pg_create(
    pool: &sqlx::PgPool,
    c: &ReuseCampaign,
    members: &[(PhoneNumber, bool)],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO reuse_campaigns (id, created_at, created_by, period_from, period_to, population, question) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id)
    .bind(c.created_at.millis())
    .bind(&c.created_by)
    .bind(c.period_from.millis())
    .bind(c.period_to.millis())
    .bind(c.population)
    .bind(&c.question)
    .execute(&mut *tx)
    .await?;
    let phones: Vec<i64> = members.iter().map(|(p, _)| phone_key(p)).collect();
    let statuses: Vec<String> = members
        .iter()
        .map(|(_, skipped)| if *skipped { "skipped" } else { "queued" }.to_owned())
        .collect();
    sqlx::query(
        "INSERT INTO reuse_members (campaign_id, citizen_phone, status) SELECT $1, p, s FROM UNNEST($2::bigint[], $3::text[]) AS u(p, s)",
    )
    .bind(c.id)
    .bind(&phones)
    .bind(&statuses)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn pg_campaign(
    pool: &sqlx::PgPool,
    id: uuid::Uuid,
) -> Result<Option<(ReuseCampaign, ReuseCounts)>> {
    let Some(row) = sqlx::query(
        "SELECT created_at, created_by, period_from, period_to, population, question FROM reuse_campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let campaign = ReuseCampaign {
        id,
        created_at: time(row.try_get(0)?)?,
        created_by: row.try_get(1)?,
        period_from: time(row.try_get(2)?)?,
        period_to: time(row.try_get(3)?)?,
        population: row.try_get(4)?,
        question: row.try_get(5)?,
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(COUNTS_SQL.replace("{id}", "$1")))
        .bind(id)
        .fetch_one(pool)
        .await?;
    let values = [
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    ];
    Ok(Some((campaign, counts(values))))
}

pub(crate) async fn pg_mark_sent(
    pool: &sqlx::PgPool,
    id: uuid::Uuid,
    phone: &PhoneNumber,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE reuse_members SET status = 'sent', sent_at = $3 WHERE campaign_id = $1 AND citizen_phone = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(phone_key(phone))
    .bind(at.millis())
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn pg_answer(
    pool: &sqlx::PgPool,
    phone: &PhoneNumber,
    yes: bool,
    since: Timestamp,
    at: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE reuse_members SET status = 'answered', answer = $2, answered_at = $4 WHERE citizen_phone = $1 AND status = 'sent' AND sent_at >= $3",
    )
    .bind(phone_key(phone))
    .bind(i64::from(yes))
    .bind(since.millis())
    .bind(at.millis())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
