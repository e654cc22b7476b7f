//! SIP accounts: the credentials agents' phones register with. Only the
//! digest hash `HA1 = MD5(username:realm:password)` is kept, never the
//! password.

use rusqlite::{Connection, OptionalExtension, params};
use sqlx::Row;

use crate::Result;

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccount {
    pub username: String,
    /// The Dasan user (agent) the phone belongs to.
    pub user_id: uuid::Uuid,
    pub realm: String,
    /// Lower-case hex.
    pub ha1: String,
}

pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE sip_accounts (
    username TEXT PRIMARY KEY,
    user_id BLOB NOT NULL,
    realm TEXT NOT NULL,
    ha1 TEXT NOT NULL
);
"#;

pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE sip_accounts (
    username TEXT PRIMARY KEY,
    user_id UUID NOT NULL,
    realm TEXT NOT NULL,
    ha1 TEXT NOT NULL
);
"#;

pub(crate) fn sqlite_set(conn: &Connection, account: &SipAccount) -> Result<()> {
    conn.execute(
        "INSERT INTO sip_accounts (username, user_id, realm, ha1) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (username) DO UPDATE SET user_id = excluded.user_id, realm = excluded.realm, ha1 = excluded.ha1",
        params![
            account.username,
            account.user_id.as_bytes().to_vec(),
            account.realm,
            account.ha1
        ],
    )?;
    Ok(())
}

pub(crate) fn sqlite_get(conn: &Connection, username: &str) -> Result<Option<SipAccount>> {
    Ok(conn
        .query_row(
            "SELECT username, user_id, realm, ha1 FROM sip_accounts WHERE username = ?1",
            [username],
            |row| {
                let id: Vec<u8> = row.get(1)?;
                let user_id = uuid::Uuid::from_slice(&id).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Blob,
                        Box::new(e),
                    )
                })?;
                Ok(SipAccount {
                    username: row.get(0)?,
                    user_id,
                    realm: row.get(2)?,
                    ha1: row.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(crate) async fn pg_set(pool: &sqlx::PgPool, account: &SipAccount) -> Result<()> {
    sqlx::query(
        "INSERT INTO sip_accounts (username, user_id, realm, ha1) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO UPDATE SET user_id = excluded.user_id, realm = excluded.realm, ha1 = excluded.ha1",
    )
    .bind(&account.username)
    .bind(account.user_id)
    .bind(&account.realm)
    .bind(&account.ha1)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn pg_get(pool: &sqlx::PgPool, username: &str) -> Result<Option<SipAccount>> {
    let row =
        sqlx::query("SELECT username, user_id, realm, ha1 FROM sip_accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    row.map(|row| {
        Ok(SipAccount {
            username: row.try_get(0)?,
            user_id: row.try_get(1)?,
            realm: row.try_get(2)?,
            ha1: row.try_get(3)?,
        })
    })
    .transpose()
}

/// One phone call through the voice front door, written when the caller's
/// leg ends: who called which number, the queue, when it was queued,
/// answered and ended, and how. `interaction_id` is the floor's interaction
/// and so the id of the consultation the agent completes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    pub id: uuid::Uuid,
    pub interaction_id: Option<uuid::Uuid>,
    /// E.164; `None` for a caller without a usable number.
    pub caller: Option<String>,
    /// The number (Request-URI user part) the caller dialled.
    pub dialled: String,
    /// The category chosen in the menu (`None`: the general queue, or never
    /// queued).
    pub queue: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub queued_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: i64,
    /// `answered`, `abandoned` (hung up while queued or ringing), `ivr`
    /// (hung up before choosing), `failed`.
    pub outcome: String,
    /// `caller`, `agent`, `timeout` or `server`.
    pub ended_by: String,
    /// The agent who answered.
    pub agent_id: Option<uuid::Uuid>,
    /// Agents' phones rung (answered or not).
    pub agents_rung: u32,
    /// RTP packets relayed each way while bridged.
    pub packets_from_caller: u64,
    pub packets_from_agent: u64,
    /// RTP packets missing from each side's sequence numbers while bridged
    /// (lost before reaching Dasan).
    #[serde(default)]
    pub lost_from_caller: u64,
    #[serde(default)]
    pub lost_from_agent: u64,
    /// The keypad survey's answer (1–5), if the caller gave one.
    pub survey_score: Option<i64>,
}

impl CallRecord {
    /// Seconds from queueing to answer (or to the end, unanswered).
    pub fn wait_seconds(&self) -> Option<f64> {
        let queued = self.queued_at?;
        let until = self.answered_at.unwrap_or(self.ended_at);
        Some((until - queued).max(0) as f64 / 1000.0)
    }

    /// Seconds talking to the agent.
    pub fn talk_seconds(&self) -> Option<f64> {
        let answered = self.answered_at?;
        Some((self.ended_at - answered).max(0) as f64 / 1000.0)
    }
}

pub(crate) const CALLS_SQLITE_MIGRATION: &str = r#"
CREATE TABLE call_records (
    id BLOB PRIMARY KEY,
    interaction_id BLOB,
    started_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX call_records_by_start ON call_records (started_at);
CREATE INDEX call_records_by_interaction ON call_records (interaction_id);
"#;

pub(crate) const CALLS_POSTGRES_MIGRATION: &str = r#"
CREATE TABLE call_records (
    id UUID PRIMARY KEY,
    interaction_id UUID,
    started_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX call_records_by_start ON call_records (started_at);
CREATE INDEX call_records_by_interaction ON call_records (interaction_id);
"#;

fn body_of(record: &CallRecord) -> Result<String> {
    serde_json::to_string(record).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
}

fn record_of(body: &str) -> Result<CallRecord> {
    serde_json::from_str(body).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
}

/// Inserts a call record; the same call twice keeps the first.
pub(crate) fn sqlite_record_call(conn: &Connection, record: &CallRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO call_records (id, interaction_id, started_at, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        record.id.as_bytes().to_vec(),
        record.interaction_id.map(|i| i.as_bytes().to_vec()),
        record.started_at,
        body_of(record)?
    ])?;
    Ok(())
}

/// The latest calls (newest first), or those of one interaction.
pub(crate) fn sqlite_calls(
    conn: &Connection,
    interaction: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<CallRecord>> {
    let bodies: Vec<String> = match interaction {
        Some(id) => conn
            .prepare(
                "SELECT body FROM call_records WHERE interaction_id = ?1 ORDER BY started_at DESC LIMIT ?2",
            )?
            .query_map(params![id.as_bytes().to_vec(), limit], |row| row.get(0))?
            .collect::<std::result::Result<_, _>>()?,
        None => conn
            .prepare("SELECT body FROM call_records ORDER BY started_at DESC LIMIT ?1")?
            .query_map(params![limit], |row| row.get(0))?
            .collect::<std::result::Result<_, _>>()?,
    };
    bodies.iter().map(|b| record_of(b)).collect()
}

pub(crate) async fn pg_record_call(pool: &sqlx::PgPool, record: &CallRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO call_records (id, interaction_id, started_at, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(record.id)
    .bind(record.interaction_id)
    .bind(record.started_at)
    .bind(body_of(record)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn pg_calls(
    pool: &sqlx::PgPool,
    interaction: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<CallRecord>> {
    let rows = match interaction {
        Some(id) => {
            sqlx::query(
                "SELECT body FROM call_records WHERE interaction_id = $1 ORDER BY started_at DESC LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query("SELECT body FROM call_records ORDER BY started_at DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter()
        .map(|row| record_of(&row.try_get::<String, _>(0)?))
        .collect()
}
