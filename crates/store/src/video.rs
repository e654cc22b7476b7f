//! Sign-language video sessions: one record per session, written when it
//! ends, with what reports need beyond the consultation itself — how long
//! the citizen waited, how long the call took to connect, and the quality
//! figures each browser measured (`getStats`). The session id is the
//! floor's interaction id and so the id of the consultation the agent
//! completes.

use rusqlite::{Connection, params};
use sqlx::Row;

use crate::Result;

/// What one browser measured of the call (the latest report it sent).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoQuality {
    /// Round-trip time of the selected ICE candidate pair, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Video frames this side decoded from the other.
    pub frames_decoded: u64,
    /// RTP packets from the other side that never arrived.
    pub packets_lost: u64,
    /// RTP packets from the other side that did.
    pub packets_received: u64,
    /// From this side's start (the citizen's click, the agent's accept) to
    /// its peer connection reaching `connected`, milliseconds.
    pub connect_ms: Option<u64>,
}

/// A voice call placed during the session to a third party, with the
/// agent interpreting between the citizen and the callee.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoRelay {
    /// What the agent dialled (E.164 or a SIP address).
    pub callee: String,
    /// Unix milliseconds.
    pub placed_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// `answered`, `no_answer`, `busy`, `agent_unreachable` (the agent's
    /// phone did not answer), `cancelled` (ended before the callee
    /// answered), `failed`, or `ringing` while unknown.
    pub outcome: String,
    /// RTP packets relayed agent → callee and callee → agent.
    #[serde(default)]
    pub packets_to_callee: u64,
    #[serde(default)]
    pub packets_to_agent: u64,
}

/// One session, stored when it ends.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoSessionRecord {
    /// The interaction id (and the consultation's).
    pub id: uuid::Uuid,
    /// Unix milliseconds: the citizen's request, the agent's accept, the
    /// first browser reporting the call connected, the end.
    pub started_at: i64,
    pub accepted_at: Option<i64>,
    pub connected_at: Option<i64>,
    pub ended_at: i64,
    /// `completed` (talked), `abandoned` (left before an agent joined),
    /// `callback` (left a number for a callback or an SMS answer), `failed`
    /// (an agent accepted but media never connected).
    pub outcome: String,
    /// `citizen`, `agent`, `timeout` or `server`.
    pub ended_by: String,
    pub agent_id: Option<uuid::Uuid>,
    /// Chat messages each way.
    pub chat_from_citizen: u32,
    pub chat_from_agent: u32,
    pub citizen_quality: Option<VideoQuality>,
    pub agent_quality: Option<VideoQuality>,
    #[serde(default)]
    pub relays: Vec<VideoRelay>,
}

impl VideoSessionRecord {
    /// Milliseconds from the citizen's request to connected media, as the
    /// citizen's browser measured it (the click is there), else as the
    /// server saw it.
    pub fn setup_ms(&self) -> Option<u64> {
        self.citizen_quality
            .as_ref()
            .and_then(|q| q.connect_ms)
            .or_else(|| {
                self.connected_at
                    .map(|c| u64::try_from(c - self.started_at).unwrap_or(0))
            })
    }
}

pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE video_sessions (
    id BLOB PRIMARY KEY,
    started_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX video_sessions_by_start ON video_sessions (started_at);
"#;

pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE video_sessions (
    id UUID PRIMARY KEY,
    started_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX video_sessions_by_start ON video_sessions (started_at);
"#;

fn body_of(record: &VideoSessionRecord) -> Result<String> {
    serde_json::to_string(record).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
}

fn record_of(body: &str) -> Result<VideoSessionRecord> {
    serde_json::from_str(body).map_err(|e| crate::StoreError::Corrupt(e.to_string()))
}

/// Inserts a session record; the same session twice keeps the first.
pub(crate) fn sqlite_record(conn: &Connection, record: &VideoSessionRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO video_sessions (id, started_at, body) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![
            record.id.as_bytes().to_vec(),
            record.started_at,
            body_of(record)?
        ],
    )?;
    Ok(())
}

/// The latest sessions (newest first), or the one with this id.
pub(crate) fn sqlite_list(
    conn: &Connection,
    id: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<VideoSessionRecord>> {
    let bodies: Vec<String> = match id {
        Some(id) => conn
            .prepare("SELECT body FROM video_sessions WHERE id = ?1")?
            .query_map(params![id.as_bytes().to_vec()], |row| row.get(0))?
            .collect::<std::result::Result<_, _>>()?,
        None => conn
            .prepare("SELECT body FROM video_sessions ORDER BY started_at DESC LIMIT ?1")?
            .query_map(params![limit], |row| row.get(0))?
            .collect::<std::result::Result<_, _>>()?,
    };
    bodies.iter().map(|b| record_of(b)).collect()
}

pub(crate) async fn pg_record(pool: &sqlx::PgPool, record: &VideoSessionRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO video_sessions (id, started_at, body) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(record.id)
    .bind(record.started_at)
    .bind(body_of(record)?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn pg_list(
    pool: &sqlx::PgPool,
    id: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<VideoSessionRecord>> {
    let rows = match id {
        Some(id) => {
            sqlx::query("SELECT body FROM video_sessions WHERE id = $1")
                .bind(id)
                .fetch_all(pool)
                .await?
        }
        None => {
            sqlx::query("SELECT body FROM video_sessions ORDER BY started_at DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter()
        .map(|row| record_of(&row.try_get::<String, _>(0)?))
        .collect()
}
