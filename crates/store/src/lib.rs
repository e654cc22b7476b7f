//! Dasan's storage: one [`Store`] trait, two engines.
//!
//! - [`sqlite::SqliteStore`]: the embedded default, a file in the data
//!   directory, WAL with `synchronous=FULL` so that a consultation is on disk
//!   before it is acknowledged.
//! - [`postgres::PgStore`]: production, by URL.
//!
//! Every open migrates first. Times are stored as UTC milliseconds since the
//! epoch (`BIGINT`) on both engines, so both answer every query identically.
//! Only this crate knows SQL.

pub mod care;
mod convert;
pub mod kb;
pub mod postgres;
pub mod reuse;
pub mod rollup;
pub mod sip;
pub mod sqlite;
mod stats;
pub mod video;

use std::fmt;

use base64::Engine;
use chrono_tz::Tz;
use dasan_core::{
    Agent, AgentId, CategoryCode, Channel, Consultation, ConsultationId, NewAgent, NewConsultation,
    PhoneNumber, Role, Taxonomy, Timestamp,
};
use serde::Serialize;

pub use stats::{
    Aggregates, AggregatesBuilder, DayTotals, HandleTime, HandleTimes, HeavyUsers, Milestone,
    MonthCount, MonthlyAverage, Share, Statistics, Totals, compute_statistics,
};

/// Which path answered a statistics request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsSource {
    /// The rollups kept on the write path.
    Rollups,
    /// Plain `GROUP BY` over the consultations.
    Exact,
}

/// What can go wrong in storage. The HTTP layer maps these to status codes;
/// the text of `Database` is for logs, never for API bodies.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("database error: {0}")]
    Database(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(value: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(e, ref msg) = value
            && e.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Conflict(msg.clone().unwrap_or_default());
        }
        StoreError::Database(value.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(value: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &value
            && (db.is_unique_violation() || db.is_foreign_key_violation())
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Database(value.to_string())
    }
}

impl From<dasan_core::DomainError> for StoreError {
    fn from(value: dasan_core::DomainError) -> Self {
        StoreError::Corrupt(value.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which engine a URL names.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative) or `sqlite:///abs/path`.
    Sqlite(std::path::PathBuf),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::InvalidUrl("sqlite:// needs a path".into()));
            }
            Ok(DatabaseUrl::Sqlite(path.into()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(StoreError::InvalidUrl(
                "expected sqlite://PATH or postgres://...".into(),
            ))
        }
    }
}

/// Never prints a PostgreSQL password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Filters of a consultation listing. `category` matches the code and all its
/// descendants (`transport` finds `transport.taxi`).
#[derive(Debug, Clone, Default)]
pub struct ConsultationFilter {
    /// Inclusive lower bound on `started_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `started_at`.
    pub to: Option<Timestamp>,
    pub category: Option<CategoryCode>,
    pub channel: Option<Channel>,
    pub citizen_phone: Option<PhoneNumber>,
}

/// Where a page ends: newest first by `(started_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub started_at_millis: i64,
    pub id: ConsultationId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&self.started_at_millis.to_be_bytes());
        bytes.extend_from_slice(self.id.0.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        if bytes.len() != 24 {
            return Err(StoreError::InvalidCursor);
        }
        let millis = i64::from_be_bytes(
            bytes[..8]
                .try_into()
                .map_err(|_| StoreError::InvalidCursor)?,
        );
        let id = uuid::Uuid::from_slice(&bytes[8..]).map_err(|_| StoreError::InvalidCursor)?;
        Ok(Cursor {
            started_at_millis: millis,
            id: ConsultationId(id),
        })
    }
}

/// One page of consultations, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Consultation>,
    pub next_cursor: Option<Cursor>,
}

impl Page {
    /// Builds a page from a query that fetched `limit + 1` rows: the extra
    /// row only says that another page follows.
    pub(crate) fn from_overfetched(mut items: Vec<Consultation>, limit: u32) -> Self {
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|c| Cursor {
                started_at_millis: c.record.started_at.millis(),
                id: c.record.id,
            })
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// Most intervals [`Store::consultation_counts`] answers at once (a week
/// of half hours, or a year of days, fit).
pub const MAX_INTERVALS: usize = 10_000;

/// How many intervals `[from, to)` holds, or `None` for an empty range, a
/// non-positive interval or more than [`MAX_INTERVALS`].
pub(crate) fn interval_count(
    from: Timestamp,
    to: Timestamp,
    interval_millis: i64,
) -> Option<usize> {
    if interval_millis <= 0 || to <= from {
        return None;
    }
    let span = to.millis() - from.millis();
    let buckets = span / interval_millis + i64::from(span % interval_millis != 0);
    usize::try_from(buckets)
        .ok()
        .filter(|&b| b <= MAX_INTERVALS)
}

/// The columns of `messages`, in the order both engines read them.
pub(crate) const MESSAGE_COLUMNS: &str = "id, gateway, gateway_message_id, direction, citizen_phone, center_number, body, media_json, interaction_id, status, kind, cost_won, attempts, next_attempt_at, last_error, created_at, updated_at";

/// Open text threads: `?1`/`$1` is the cut-off time.
pub(crate) const OPEN_THREADS_SQL: &str = "SELECT m.interaction_id, MIN(m.citizen_phone), MAX(CASE WHEN m.kind = 'mms' THEN 1 ELSE 0 END), MIN(m.created_at), MAX(m.created_at) \
     FROM messages m WHERE m.direction = 'inbound' AND m.interaction_id IS NOT NULL AND m.created_at >= {since} \
     AND NOT EXISTS (SELECT 1 FROM consultations c WHERE c.id = m.interaction_id) \
     GROUP BY m.interaction_id ORDER BY MIN(m.created_at)";

/// The first inbound text of a thread.
pub(crate) const FIRST_BODY_SQL: &str = "SELECT body FROM messages WHERE interaction_id = {id} AND direction = 'inbound' ORDER BY created_at, id LIMIT 1";

pub(crate) const INTERVAL_COUNTS_SQLITE: &str = "SELECT (started_at - ?1) / ?3, COUNT(*) FROM consultations \
     WHERE started_at >= ?1 AND started_at < ?2 GROUP BY 1";
pub(crate) const INTERVAL_COUNTS_POSTGRES: &str = "SELECT (started_at - $1) / $3, COUNT(*) FROM consultations \
     WHERE started_at >= $1 AND started_at < $2 GROUP BY 1";

/// An API token as stored: only a hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: uuid::Uuid,
    pub role: Role,
    pub label: String,
    pub created_at: Timestamp,
}

/// A person who signs in to the browser UI. Only an argon2 hash of the
/// password is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: uuid::Uuid,
    /// Unique, compared case-sensitively.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Failed sign-ins since the last success.
    pub failed_attempts: i64,
    /// Sign-in refused until then (after repeated failures).
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The UI language the user chose (`ko`, `en`), following them from
    /// one workstation to the next; `None` until they choose.
    pub language: Option<String>,
}

/// A browser session. The store keeps a hash of the cookie's secret, never
/// the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: Vec<u8>,
    pub user_id: uuid::Uuid,
    /// Forms and cookie-authenticated writes must echo it.
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

/// Which way a text message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            other => Err(StoreError::Corrupt(format!("direction {other:?}"))),
        }
    }
}

/// One SMS/LMS/MMS, either way. Outbound messages are their own outbox:
/// `queued` or `retrying` with `next_attempt_at` until the gateway takes
/// them (`sent`), then delivery reports move `status` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: uuid::Uuid,
    /// `twilio`, `native`, or `outbound` for what Dasan sends.
    pub gateway: String,
    /// The gateway's id: unique per gateway (retried webhooks are
    /// recognised by it); for outbound, what the provider called it.
    pub gateway_message_id: Option<String>,
    pub direction: Direction,
    pub citizen_phone: PhoneNumber,
    /// The center's number the citizen wrote to or is answered from.
    pub center_number: String,
    pub body: String,
    /// Attached media as JSON (`[{"url":...,"content_type":...}]`).
    pub media_json: String,
    pub interaction_id: Option<uuid::Uuid>,
    /// inbound: `received`; outbound: `queued`, `retrying`, `sent`,
    /// `delivered`, `failed`, `undelivered`.
    pub status: String,
    /// `sms`, `lms` or `mms`.
    pub kind: String,
    pub cost_won: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A satisfaction survey after one consultation. `status` runs
/// `scheduled` → `sent` → `answered` (or `skipped` with a reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyRecord {
    pub consultation_id: uuid::Uuid,
    pub citizen_phone: PhoneNumber,
    pub channel: Channel,
    pub category: String,
    pub agent_id: Option<uuid::Uuid>,
    /// When the consultation started (the figures count by its month).
    pub consultation_at: Timestamp,
    pub due_at: Timestamp,
    pub status: String,
    pub message_id: Option<uuid::Uuid>,
    pub sent_at: Option<Timestamp>,
    /// 1..=5 once answered.
    pub score: Option<i64>,
    pub answered_at: Option<Timestamp>,
    pub skip_reason: Option<String>,
}

/// Survey outcomes per local month of the consultations they follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurveyMonth {
    pub month: String,
    pub sent: u64,
    pub responses: u64,
    /// Scores of 4 or 5.
    pub satisfied: u64,
    pub score_sum: u64,
}

/// Survey outcomes of one agent's consultations (`agent_id` None: recorded
/// without an agent, e.g. by an API client).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SurveyAgent {
    pub agent_id: Option<uuid::Uuid>,
    pub sent: u64,
    pub responses: u64,
    pub satisfied: u64,
    pub score_sum: u64,
}

pub(crate) const SURVEY_AGENTS_SQL: &str = "SELECT agent_id, CAST(COUNT(*) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' AND score >= 4 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' THEN score ELSE 0 END) AS BIGINT) \
     FROM surveys WHERE status IN ('sent', 'answered'){clause} GROUP BY agent_id";

/// Messages of one direction and kind, and what they cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageTotal {
    pub direction: String,
    pub kind: String,
    pub messages: u64,
    pub cost_won: i64,
}

/// Message totals: `{from}`/`{to}` are the bounds' placeholders.
pub(crate) const SURVEY_COLUMNS: &str = "consultation_id, citizen_phone, channel, category, agent_id, consultation_at, due_at, status, message_id, sent_at, score, answered_at, skip_reason";

/// Per local day (`local_day`, stored with each survey in the rollup
/// zone): sent, answered, satisfied, score sum. `{clause}` takes the filter.
pub(crate) const SURVEY_DAYS_SQL: &str = "SELECT local_day, \
     CAST(SUM(CASE WHEN status IN ('sent', 'answered') THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' AND score >= 4 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(SUM(CASE WHEN status = 'answered' THEN COALESCE(score, 0) ELSE 0 END) AS BIGINT) \
     FROM surveys WHERE status IN ('sent', 'answered'){clause} GROUP BY local_day";

/// The same sums from the `survey_daily` rollup (no time range: its
/// filter clause names only channel and category).
pub(crate) const SURVEY_DAILY_SQL: &str = "SELECT local_day, CAST(SUM(sent) AS BIGINT), CAST(SUM(responses) AS BIGINT), \
     CAST(SUM(satisfied) AS BIGINT), CAST(SUM(score_sum) AS BIGINT) FROM survey_daily WHERE 1 = 1{clause} GROUP BY local_day";

/// Folds per-day survey sums into months.
pub(crate) fn fold_survey_days(
    rows: impl Iterator<Item = (i64, i64, i64, i64, i64)>,
) -> Vec<SurveyMonth> {
    let mut months: std::collections::BTreeMap<String, SurveyMonth> = Default::default();
    for (day, sent, responses, satisfied, score_sum) in rows {
        // A day whose surveys moved away (a zone rebuild) keeps a row of
        // zeros in the rollup.
        if sent <= 0 && responses <= 0 {
            continue;
        }
        let Some(date) = rollup::day_to_date(day) else {
            continue;
        };
        let key = format!("{}", date.format("%Y-%m"));
        let month = months.entry(key.clone()).or_insert_with(|| SurveyMonth {
            month: key,
            ..SurveyMonth::default()
        });
        month.sent += sent.max(0) as u64;
        month.responses += responses.max(0) as u64;
        month.satisfied += satisfied.max(0) as u64;
        month.score_sum += score_sum.max(0) as u64;
    }
    months.into_values().collect()
}

/// Folds `(consultation_at millis, status, score)` rows into months.
pub(crate) fn fold_survey_rows(
    rows: impl Iterator<Item = (i64, String, Option<i64>)>,
    zone: Tz,
) -> Vec<SurveyMonth> {
    let mut months: std::collections::BTreeMap<String, SurveyMonth> = Default::default();
    for (at, status, score) in rows {
        let Ok(at) = Timestamp::from_millis(at) else {
            continue;
        };
        let date = at.local_date(zone);
        let key = format!("{}", date.format("%Y-%m"));
        let month = months.entry(key.clone()).or_insert_with(|| SurveyMonth {
            month: key,
            ..SurveyMonth::default()
        });
        if status == "sent" || status == "answered" {
            month.sent += 1;
        }
        if let (true, Some(score)) = (status == "answered", score) {
            month.responses += 1;
            month.score_sum += score.clamp(0, 5) as u64;
            if score >= 4 {
                month.satisfied += 1;
            }
        }
    }
    months.into_values().collect()
}

/// The WHERE clause of `survey_months` for a filter, with placeholders
/// made by `placeholder(n)` starting at 1, and the values in order.
pub(crate) fn survey_filter(
    filter: &ConsultationFilter,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<SqlParam>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(from) = filter.from {
        values.push(SqlParam::Int(from.millis()));
        clauses.push(format!("consultation_at >= {}", placeholder(values.len())));
    }
    if let Some(to) = filter.to {
        values.push(SqlParam::Int(to.millis()));
        clauses.push(format!("consultation_at < {}", placeholder(values.len())));
    }
    if let Some(category) = &filter.category {
        values.push(SqlParam::Text(category.as_str().to_owned()));
        let exact = placeholder(values.len());
        values.push(SqlParam::Text(format!("{}.%", category.as_str())));
        clauses.push(format!(
            "(category = {exact} OR category LIKE {})",
            placeholder(values.len())
        ));
    }
    if let Some(channel) = filter.channel {
        values.push(SqlParam::Text(channel.as_str().to_owned()));
        clauses.push(format!("channel = {}", placeholder(values.len())));
    }
    let clause = if clauses.is_empty() {
        String::new()
    } else {
        format!(" AND {}", clauses.join(" AND "))
    };
    (clause, values)
}

pub(crate) const MESSAGE_TOTALS_SQL: &str = "SELECT direction, kind, COUNT(*), CAST(COALESCE(SUM(cost_won), 0) AS BIGINT) FROM messages \
     WHERE created_at >= {from} AND created_at < {to} GROUP BY direction, kind ORDER BY direction, kind";

/// A text thread still waiting for its consultation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenThread {
    pub interaction_id: uuid::Uuid,
    pub citizen_phone: PhoneNumber,
    /// Any of its messages carried media.
    pub mms: bool,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// The first inbound text (for the category guess).
    pub first_body: String,
}

/// What a delivery attempt or report changes on an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub status: String,
    pub gateway_message_id: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub at: Timestamp,
}

/// One line of the audit log: who touched citizens' records, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// The token or user id that acted.
    pub actor: String,
    /// What was done, e.g. `consultation.read`, `consultation.list`.
    pub action: String,
    /// What it was done to (a consultation id; a phone is stored redacted).
    pub subject: String,
}

/// The storage contract every engine fulfils. The conformance suite in
/// `tests/conformance.rs` runs against each real engine.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Answers when the database does: a cheap readiness probe.
    async fn ping(&self) -> Result<()>;
    /// Stores one consultation durably; returns it as stored.
    async fn record_consultation(&self, record: &NewConsultation) -> Result<Consultation>;
    /// Stores many at once (demo history, imports); all or nothing.
    async fn record_consultations_bulk(&self, records: Vec<NewConsultation>) -> Result<()>;
    /// Prepares a large load (the demo history, an import) into an empty
    /// consultation table: drops the secondary indexes that inserts in random
    /// key order make slow. [`Store::finish_bulk_load`] rebuilds them in one
    /// sorted pass, and so does every open, should the process die first.
    /// On a table that holds data it does nothing. Returns whether it dropped.
    async fn begin_bulk_load(&self) -> Result<bool>;
    /// Rebuilds any index that [`Store::begin_bulk_load`] dropped.
    async fn finish_bulk_load(&self) -> Result<()>;
    async fn get_consultation(&self, id: ConsultationId) -> Result<Option<Consultation>>;
    async fn list_consultations(
        &self,
        filter: &ConsultationFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page>;
    async fn count_consultations(&self) -> Result<u64>;
    /// Consultations started in `[from, to)`, counted per interval of
    /// `interval_millis` from `from` (the wallboard's half hours): element
    /// `i` counts `[from + i·interval, from + (i+1)·interval)`.
    async fn consultation_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        interval_millis: i64,
    ) -> Result<Vec<u64>>;
    /// The statistics' aggregates from the rollups, bucketed in the rollup
    /// zone. The filter must not name a citizen.
    async fn statistics_from_rollups(&self, filter: &ConsultationFilter) -> Result<Aggregates>;
    /// The same aggregates by plain `GROUP BY` over the consultations, in
    /// any zone: the reference the rollups are checked against.
    async fn statistics_exact(&self, filter: &ConsultationFilter, zone: Tz) -> Result<Aggregates>;
    /// The zone the rollups' days and hours are local to.
    async fn rollup_zone(&self) -> Result<Tz>;
    /// Recomputes every rollup from the consultations, bucketed in `zone`,
    /// which becomes the rollup zone; in one transaction, with writers held
    /// off meanwhile. Returns how many consultations it read.
    async fn rebuild_rollups(&self, zone: Tz) -> Result<u64>;

    /// The statistics' aggregates, from the rollups when they can answer
    /// (same zone, no citizen filter), else by plain `GROUP BY`.
    async fn statistics(
        &self,
        filter: &ConsultationFilter,
        zone: Tz,
    ) -> Result<(Aggregates, StatsSource)> {
        if filter.citizen_phone.is_none() && self.rollup_zone().await? == zone {
            let mut aggregates = self.statistics_from_rollups(filter).await?;
            aggregates.surveys = self.survey_months(filter, zone).await?;
            Ok((aggregates, StatsSource::Rollups))
        } else {
            tracing::warn!(
                zone = zone.name(),
                "statistics computed without rollups (another zone or a citizen filter); \
                 `dasan stats rebuild --time-zone` re-buckets them"
            );
            let mut aggregates = self.statistics_exact(filter, zone).await?;
            aggregates.surveys = self.survey_months(filter, zone).await?;
            Ok((aggregates, StatsSource::Exact))
        }
    }

    async fn taxonomy(&self) -> Result<Taxonomy>;

    async fn create_agent(&self, agent: &NewAgent, id: AgentId) -> Result<Agent>;
    async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>>;
    async fn list_agents(&self) -> Result<Vec<Agent>>;

    async fn create_token(&self, record: &TokenRecord, secret_hash: &[u8]) -> Result<()>;
    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRecord>>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>>;

    /// A duplicate username is a `Conflict`.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Records the outcome of a sign-in attempt: the new failure count and
    /// lock (both cleared on success).
    async fn set_sign_in_state(
        &self,
        user_id: uuid::Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> Result<()>;
    /// Replaces a user's password hash and clears any lock.
    async fn set_password(&self, user_id: uuid::Uuid, password_hash: &str) -> Result<()>;
    async fn set_user_language(&self, user_id: uuid::Uuid, language: Option<&str>) -> Result<()>;

    /// Stores a message durably. `Ok(false)` when a message with the same
    /// gateway and gateway id exists (a retried webhook): nothing changes.
    async fn insert_message(&self, message: &MessageRecord) -> Result<bool>;
    async fn find_message(&self, id: uuid::Uuid) -> Result<Option<MessageRecord>>;
    async fn find_message_by_gateway_id(
        &self,
        gateway: &str,
        gateway_message_id: &str,
    ) -> Result<Option<MessageRecord>>;
    /// A citizen's messages, oldest first (at most `limit`, the newest).
    async fn messages_for_citizen(
        &self,
        phone: &PhoneNumber,
        limit: u32,
    ) -> Result<Vec<MessageRecord>>;
    /// A thread's messages, oldest first.
    async fn messages_for_interaction(&self, id: uuid::Uuid) -> Result<Vec<MessageRecord>>;
    /// Outbound messages waiting for a (re)try due at or before `now`.
    async fn due_outbound(&self, now: Timestamp, limit: u32) -> Result<Vec<MessageRecord>>;
    /// When the next waiting outbound message is due, if any.
    async fn next_outbound_due(&self) -> Result<Option<Timestamp>>;
    async fn update_delivery(&self, id: uuid::Uuid, update: &DeliveryUpdate) -> Result<()>;
    /// Replaces a message's media description (after its files were fetched).
    async fn set_message_media(&self, id: uuid::Uuid, media_json: &str) -> Result<()>;
    /// A delivery report: moves the status of the outbound message the
    /// provider knows as `gateway_message_id`. `Ok(false)` if unknown.
    async fn set_status_by_gateway_id(
        &self,
        gateway_message_id: &str,
        status: &str,
        at: Timestamp,
    ) -> Result<bool>;
    async fn set_opt_out(&self, phone: &PhoneNumber, opted_out: bool, at: Timestamp) -> Result<()>;
    async fn is_opted_out(&self, phone: &PhoneNumber) -> Result<bool>;
    /// Text threads with an inbound message since `since` and no
    /// consultation yet (a restart lost them from the floor), oldest first.
    async fn open_text_threads(&self, since: Timestamp) -> Result<Vec<OpenThread>>;
    /// Schedules a survey; `Ok(false)` if the consultation has one.
    async fn schedule_survey(&self, survey: &SurveyRecord) -> Result<bool>;
    async fn update_survey(&self, survey: &SurveyRecord) -> Result<()>;
    /// Stores many surveys at once (the demo history's); existing ones
    /// are left as they are.
    async fn record_surveys_bulk(&self, surveys: Vec<SurveyRecord>) -> Result<()>;
    /// Scheduled surveys due at or before `now`, oldest first.
    async fn due_surveys(&self, now: Timestamp, limit: u32) -> Result<Vec<SurveyRecord>>;
    /// The citizen's most recent survey (by due time), if any.
    async fn last_survey_for(&self, phone: &PhoneNumber) -> Result<Option<SurveyRecord>>;
    /// The survey that follows one consultation.
    async fn survey_for_consultation(&self, id: uuid::Uuid) -> Result<Option<SurveyRecord>>;
    /// Records a score on a survey still waiting for one (`sent`); false when it
    /// was answered already or is not open: a web link answers once.
    async fn answer_survey_once(&self, id: uuid::Uuid, score: i64, at: Timestamp) -> Result<bool>;
    /// Sent and answered surveys per local month of the consultations
    /// matching `filter` (its citizen filter is ignored).
    async fn survey_months(
        &self,
        filter: &ConsultationFilter,
        zone: Tz,
    ) -> Result<Vec<SurveyMonth>>;
    /// Survey outcomes per agent, for the consultations the filter selects.
    async fn survey_agents(&self, filter: &ConsultationFilter) -> Result<Vec<SurveyAgent>>;
    /// Messages created in `[from, to)` (either bound open), counted by
    /// direction and kind with their summed cost.
    async fn message_totals(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<MessageTotal>>;
    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    /// The session and its user, if it exists and has not expired at `now`.
    async fn find_session(
        &self,
        id_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(SessionRecord, UserRecord)>>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;

    /// Knowledge base ([`kb`]): adds or changes an article. Unchanged content stores
    /// nothing; with `expected_version`, a stale edit is a conflict.
    async fn save_article(
        &self,
        input: &kb::ArticleInput,
        author: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<(kb::ArticleRecord, kb::SaveOutcome)>;
    async fn get_article(&self, id: &str) -> Result<Option<kb::ArticleRecord>>;
    /// Every article, by id.
    async fn list_articles(&self) -> Result<Vec<kb::ArticleRecord>>;
    /// An article's versions, newest first (kept after a delete).
    async fn article_versions(&self, id: &str) -> Result<Vec<kb::ArticleVersion>>;
    async fn delete_article(&self, id: &str) -> Result<bool>;
    async fn kb_setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_kb_setting(&self, key: &str, value: &str) -> Result<()>;

    /// Re-use campaigns ([`reuse`]): how many distinct citizens had a
    /// consultation started in `[from, to)`, and `n` of them chosen at random
    /// (from `seed`), each once.
    async fn sample_citizens(
        &self,
        from: Timestamp,
        to: Timestamp,
        n: usize,
        seed: u64,
    ) -> Result<(u64, Vec<PhoneNumber>)>;
    /// Stores a campaign and its sample (`true`: not to be asked, opted out).
    async fn create_reuse_campaign(
        &self,
        campaign: &reuse::ReuseCampaign,
        members: &[(PhoneNumber, bool)],
    ) -> Result<()>;
    async fn reuse_campaign(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(reuse::ReuseCampaign, reuse::ReuseCounts)>>;
    async fn mark_reuse_sent(
        &self,
        id: uuid::Uuid,
        phone: &PhoneNumber,
        at: Timestamp,
    ) -> Result<()>;
    /// Records a yes/no on the citizen's questions sent since `since` and not yet
    /// answered; false when there is none.
    async fn answer_reuse(
        &self,
        phone: &PhoneNumber,
        yes: bool,
        since: Timestamp,
        at: Timestamp,
    ) -> Result<bool>;

    /// Care-programme records ([`care`]): applies one [`care::CareWrite`]
    /// in a single transaction.
    async fn care_commit(&self, write: &care::CareWrite) -> Result<care::CareCommit>;
    async fn care_get(&self, kind: care::CareKind, id: &str) -> Result<Option<care::CareRecord>>;
    async fn care_list(&self, query: &care::CareQuery) -> Result<Vec<care::CareRecord>>;

    /// SIP accounts ([`sip`]): set (replacing) and read one.
    async fn set_sip_account(&self, account: &sip::SipAccount) -> Result<()>;
    async fn sip_account(&self, username: &str) -> Result<Option<sip::SipAccount>>;

    /// Call records ([`sip::CallRecord`]): stored once when the call ends;
    /// the latest `limit`, newest first, or those of one interaction.
    async fn record_call(&self, record: &sip::CallRecord) -> Result<()>;
    async fn calls(
        &self,
        interaction: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<sip::CallRecord>>;

    /// Sign-language video sessions ([`video::VideoSessionRecord`]): stored
    /// once when the session ends; the latest `limit`, newest first, or the
    /// one with this id.
    async fn record_video_session(&self, record: &video::VideoSessionRecord) -> Result<()>;
    async fn video_sessions(
        &self,
        id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<video::VideoSessionRecord>>;
}

/// Either engine, chosen by URL at start-up.
#[derive(Clone)]
pub enum AnyStore {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl AnyStore {
    /// Opens (creating a SQLite file and its folder if needed) and migrates.
    pub async fn open(url: &DatabaseUrl) -> Result<Self> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                Ok(AnyStore::Sqlite(sqlite::SqliteStore::open(path).await?))
            }
            DatabaseUrl::Postgres(url) => {
                Ok(AnyStore::Postgres(postgres::PgStore::open(url).await?))
            }
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call.await,
            AnyStore::Postgres($store) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn ping(&self) -> Result<()> {
        delegate!(self, s => s.ping())
    }
    async fn record_consultation(&self, record: &NewConsultation) -> Result<Consultation> {
        delegate!(self, s => s.record_consultation(record))
    }
    async fn record_consultations_bulk(&self, records: Vec<NewConsultation>) -> Result<()> {
        delegate!(self, s => s.record_consultations_bulk(records))
    }
    async fn begin_bulk_load(&self) -> Result<bool> {
        delegate!(self, s => s.begin_bulk_load())
    }
    async fn finish_bulk_load(&self) -> Result<()> {
        delegate!(self, s => s.finish_bulk_load())
    }
    async fn get_consultation(&self, id: ConsultationId) -> Result<Option<Consultation>> {
        delegate!(self, s => s.get_consultation(id))
    }
    async fn list_consultations(
        &self,
        filter: &ConsultationFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page> {
        delegate!(self, s => s.list_consultations(filter, after, limit))
    }
    async fn consultation_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        interval_millis: i64,
    ) -> Result<Vec<u64>> {
        delegate!(self, s => s.consultation_counts(from, to, interval_millis))
    }
    async fn count_consultations(&self) -> Result<u64> {
        delegate!(self, s => s.count_consultations())
    }
    async fn statistics_from_rollups(&self, filter: &ConsultationFilter) -> Result<Aggregates> {
        delegate!(self, s => s.statistics_from_rollups(filter))
    }
    async fn statistics_exact(&self, filter: &ConsultationFilter, zone: Tz) -> Result<Aggregates> {
        delegate!(self, s => s.statistics_exact(filter, zone))
    }
    async fn rollup_zone(&self) -> Result<Tz> {
        delegate!(self, s => s.rollup_zone())
    }
    async fn rebuild_rollups(&self, zone: Tz) -> Result<u64> {
        delegate!(self, s => s.rebuild_rollups(zone))
    }
    async fn taxonomy(&self) -> Result<Taxonomy> {
        delegate!(self, s => s.taxonomy())
    }
    async fn create_agent(&self, agent: &NewAgent, id: AgentId) -> Result<Agent> {
        delegate!(self, s => s.create_agent(agent, id))
    }
    async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>> {
        delegate!(self, s => s.get_agent(id))
    }
    async fn list_agents(&self) -> Result<Vec<Agent>> {
        delegate!(self, s => s.list_agents())
    }
    async fn create_token(&self, record: &TokenRecord, secret_hash: &[u8]) -> Result<()> {
        delegate!(self, s => s.create_token(record, secret_hash))
    }
    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRecord>> {
        delegate!(self, s => s.find_token(secret_hash))
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        delegate!(self, s => s.append_audit(entry))
    }
    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        delegate!(self, s => s.audit_entries(limit))
    }
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        delegate!(self, s => s.create_user(user))
    }
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        delegate!(self, s => s.find_user(username))
    }
    async fn set_sign_in_state(
        &self,
        user_id: uuid::Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> Result<()> {
        delegate!(self, s => s.set_sign_in_state(user_id, failed_attempts, locked_until))
    }
    async fn set_user_language(&self, user_id: uuid::Uuid, language: Option<&str>) -> Result<()> {
        delegate!(self, s => s.set_user_language(user_id, language))
    }
    async fn insert_message(&self, message: &MessageRecord) -> Result<bool> {
        delegate!(self, s => s.insert_message(message))
    }
    async fn find_message(&self, id: uuid::Uuid) -> Result<Option<MessageRecord>> {
        delegate!(self, s => s.find_message(id))
    }
    async fn find_message_by_gateway_id(
        &self,
        gateway: &str,
        gateway_message_id: &str,
    ) -> Result<Option<MessageRecord>> {
        delegate!(self, s => s.find_message_by_gateway_id(gateway, gateway_message_id))
    }
    async fn messages_for_citizen(
        &self,
        phone: &PhoneNumber,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        delegate!(self, s => s.messages_for_citizen(phone, limit))
    }
    async fn messages_for_interaction(&self, id: uuid::Uuid) -> Result<Vec<MessageRecord>> {
        delegate!(self, s => s.messages_for_interaction(id))
    }
    async fn due_outbound(&self, now: Timestamp, limit: u32) -> Result<Vec<MessageRecord>> {
        delegate!(self, s => s.due_outbound(now, limit))
    }
    async fn next_outbound_due(&self) -> Result<Option<Timestamp>> {
        delegate!(self, s => s.next_outbound_due())
    }
    async fn update_delivery(&self, id: uuid::Uuid, update: &DeliveryUpdate) -> Result<()> {
        delegate!(self, s => s.update_delivery(id, update))
    }
    async fn set_message_media(&self, id: uuid::Uuid, media_json: &str) -> Result<()> {
        delegate!(self, s => s.set_message_media(id, media_json))
    }
    async fn set_status_by_gateway_id(
        &self,
        gateway_message_id: &str,
        status: &str,
        at: Timestamp,
    ) -> Result<bool> {
        delegate!(self, s => s.set_status_by_gateway_id(gateway_message_id, status, at))
    }
    async fn set_opt_out(&self, phone: &PhoneNumber, opted_out: bool, at: Timestamp) -> Result<()> {
        delegate!(self, s => s.set_opt_out(phone, opted_out, at))
    }
    async fn is_opted_out(&self, phone: &PhoneNumber) -> Result<bool> {
        delegate!(self, s => s.is_opted_out(phone))
    }
    async fn open_text_threads(&self, since: Timestamp) -> Result<Vec<OpenThread>> {
        delegate!(self, s => s.open_text_threads(since))
    }
    async fn message_totals(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<MessageTotal>> {
        delegate!(self, s => s.message_totals(from, to))
    }
    async fn schedule_survey(&self, survey: &SurveyRecord) -> Result<bool> {
        delegate!(self, s => s.schedule_survey(survey))
    }
    async fn update_survey(&self, survey: &SurveyRecord) -> Result<()> {
        delegate!(self, s => s.update_survey(survey))
    }
    async fn record_surveys_bulk(&self, surveys: Vec<SurveyRecord>) -> Result<()> {
        delegate!(self, s => s.record_surveys_bulk(surveys))
    }
    async fn due_surveys(&self, now: Timestamp, limit: u32) -> Result<Vec<SurveyRecord>> {
        delegate!(self, s => s.due_surveys(now, limit))
    }
    async fn last_survey_for(&self, phone: &PhoneNumber) -> Result<Option<SurveyRecord>> {
        delegate!(self, s => s.last_survey_for(phone))
    }
    async fn survey_agents(&self, filter: &ConsultationFilter) -> Result<Vec<SurveyAgent>> {
        delegate!(self, s => s.survey_agents(filter))
    }
    async fn survey_for_consultation(&self, id: uuid::Uuid) -> Result<Option<SurveyRecord>> {
        delegate!(self, s => s.survey_for_consultation(id))
    }
    async fn answer_survey_once(&self, id: uuid::Uuid, score: i64, at: Timestamp) -> Result<bool> {
        delegate!(self, s => s.answer_survey_once(id, score, at))
    }
    async fn survey_months(
        &self,
        filter: &ConsultationFilter,
        zone: Tz,
    ) -> Result<Vec<SurveyMonth>> {
        delegate!(self, s => s.survey_months(filter, zone))
    }
    async fn set_password(&self, user_id: uuid::Uuid, password_hash: &str) -> Result<()> {
        delegate!(self, s => s.set_password(user_id, password_hash))
    }
    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        delegate!(self, s => s.create_session(session))
    }
    async fn find_session(
        &self,
        id_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(SessionRecord, UserRecord)>> {
        delegate!(self, s => s.find_session(id_hash, now))
    }
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        delegate!(self, s => s.delete_session(id_hash))
    }

    async fn save_article(
        &self,
        input: &kb::ArticleInput,
        author: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<(kb::ArticleRecord, kb::SaveOutcome)> {
        delegate!(self, s => s.save_article(input, author, at, expected_version))
    }
    async fn get_article(&self, id: &str) -> Result<Option<kb::ArticleRecord>> {
        delegate!(self, s => s.get_article(id))
    }
    async fn list_articles(&self) -> Result<Vec<kb::ArticleRecord>> {
        delegate!(self, s => s.list_articles())
    }
    async fn article_versions(&self, id: &str) -> Result<Vec<kb::ArticleVersion>> {
        delegate!(self, s => s.article_versions(id))
    }
    async fn delete_article(&self, id: &str) -> Result<bool> {
        delegate!(self, s => s.delete_article(id))
    }
    async fn kb_setting(&self, key: &str) -> Result<Option<String>> {
        delegate!(self, s => s.kb_setting(key))
    }
    async fn set_kb_setting(&self, key: &str, value: &str) -> Result<()> {
        delegate!(self, s => s.set_kb_setting(key, value))
    }
    async fn sample_citizens(
        &self,
        from: Timestamp,
        to: Timestamp,
        n: usize,
        seed: u64,
    ) -> Result<(u64, Vec<PhoneNumber>)> {
        delegate!(self, s => s.sample_citizens(from, to, n, seed))
    }
    async fn create_reuse_campaign(
        &self,
        campaign: &reuse::ReuseCampaign,
        members: &[(PhoneNumber, bool)],
    ) -> Result<()> {
        delegate!(self, s => s.create_reuse_campaign(campaign, members))
    }
    async fn reuse_campaign(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(reuse::ReuseCampaign, reuse::ReuseCounts)>> {
        delegate!(self, s => s.reuse_campaign(id))
    }
    async fn mark_reuse_sent(
        &self,
        id: uuid::Uuid,
        phone: &PhoneNumber,
        at: Timestamp,
    ) -> Result<()> {
        delegate!(self, s => s.mark_reuse_sent(id, phone, at))
    }
    async fn answer_reuse(
        &self,
        phone: &PhoneNumber,
        yes: bool,
        since: Timestamp,
        at: Timestamp,
    ) -> Result<bool> {
        delegate!(self, s => s.answer_reuse(phone, yes, since, at))
    }
    async fn care_commit(&self, write: &care::CareWrite) -> Result<care::CareCommit> {
        delegate!(self, s => s.care_commit(write))
    }
    async fn care_get(&self, kind: care::CareKind, id: &str) -> Result<Option<care::CareRecord>> {
        delegate!(self, s => s.care_get(kind, id))
    }
    async fn care_list(&self, query: &care::CareQuery) -> Result<Vec<care::CareRecord>> {
        delegate!(self, s => s.care_list(query))
    }
    async fn set_sip_account(&self, account: &sip::SipAccount) -> Result<()> {
        delegate!(self, s => s.set_sip_account(account))
    }
    async fn sip_account(&self, username: &str) -> Result<Option<sip::SipAccount>> {
        delegate!(self, s => s.sip_account(username))
    }
    async fn record_call(&self, record: &sip::CallRecord) -> Result<()> {
        delegate!(self, s => s.record_call(record))
    }
    async fn calls(
        &self,
        interaction: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<sip::CallRecord>> {
        delegate!(self, s => s.calls(interaction, limit))
    }
    async fn record_video_session(&self, record: &video::VideoSessionRecord) -> Result<()> {
        delegate!(self, s => s.record_video_session(record))
    }
    async fn video_sessions(
        &self,
        id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<video::VideoSessionRecord>> {
        delegate!(self, s => s.video_sessions(id, limit))
    }
}

/// Secondary indexes a bulk load may drop, with the statements that rebuild
/// them; the same on both engines.
pub(crate) const DEFERRABLE_INDEXES: &[(&str, &str)] = &[
    (
        "consultations_by_citizen",
        "CREATE INDEX IF NOT EXISTS consultations_by_citizen ON consultations (citizen_phone, started_at)",
    ),
    (
        "surveys_by_citizen",
        "CREATE INDEX IF NOT EXISTS surveys_by_citizen ON surveys (citizen_phone, due_at)",
    ),
];

/// Builds the SQL `WHERE` conditions of a filter, shared by both engines.
/// `placeholder(n)` renders the n-th (1-based) parameter (`?n` or `$n`).
pub(crate) struct FilterSql {
    pub conditions: Vec<String>,
    pub params: Vec<SqlParam>,
}

#[derive(Debug, Clone)]
pub(crate) enum SqlParam {
    Int(i64),
    Text(String),
    Uuid(uuid::Uuid),
}

impl FilterSql {
    pub fn build(
        filter: &ConsultationFilter,
        after: Option<Cursor>,
        placeholder: impl Fn(usize) -> String,
    ) -> Self {
        let mut sql = FilterSql {
            conditions: Vec::new(),
            params: Vec::new(),
        };
        let push = |sql: &mut FilterSql, template: &str, values: Vec<SqlParam>| {
            let mut condition = template.to_owned();
            for value in values {
                sql.params.push(value);
                condition = condition.replacen("{}", &placeholder(sql.params.len()), 1);
            }
            sql.conditions.push(condition);
        };
        if let Some(from) = filter.from {
            push(
                &mut sql,
                "started_at >= {}",
                vec![SqlParam::Int(from.millis())],
            );
        }
        if let Some(to) = filter.to {
            push(
                &mut sql,
                "started_at < {}",
                vec![SqlParam::Int(to.millis())],
            );
        }
        if let Some(category) = &filter.category {
            let prefix = format!("{}.", category.as_str());
            // The prefix length is our own integer, so it is written into the
            // SQL text: PostgreSQL's substr wants an int4, not a bound int8.
            let template = format!(
                "(category = {{}} OR substr(category, 1, {}) = {{}})",
                prefix.len()
            );
            push(
                &mut sql,
                &template,
                vec![
                    SqlParam::Text(category.as_str().to_owned()),
                    SqlParam::Text(prefix),
                ],
            );
        }
        if let Some(channel) = filter.channel {
            push(
                &mut sql,
                "channel = {}",
                vec![SqlParam::Text(channel.as_str().to_owned())],
            );
        }
        if let Some(phone) = &filter.citizen_phone {
            push(
                &mut sql,
                "citizen_phone = {}",
                vec![SqlParam::Int(convert::phone_key(phone))],
            );
        }
        if let Some(cursor) = after {
            // A row-value comparison: both engines turn it into one range
            // on the (started_at, id) order. (The equivalent OR form made
            // SQLite scan from the newest row on every page.)
            push(
                &mut sql,
                "(started_at, id) < ({}, {})",
                vec![
                    SqlParam::Int(cursor.started_at_millis),
                    SqlParam::Uuid(cursor.id.0),
                ],
            );
        }
        sql
    }

    /// Adds one condition; `{}` in `template` stand for `values` in order.
    pub fn and(
        &mut self,
        template: &str,
        values: Vec<SqlParam>,
        placeholder: impl Fn(usize) -> String,
    ) {
        let mut condition = template.to_owned();
        for value in values {
            self.params.push(value);
            condition = condition.replacen("{}", &placeholder(self.params.len()), 1);
        }
        self.conditions.push(condition);
    }

    pub fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_hide_passwords() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/dasan/dasan.db").expect("ok"),
            DatabaseUrl::Sqlite("/var/lib/dasan/dasan.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://dasan-data/dasan.db").expect("ok"),
            DatabaseUrl::Sqlite("dasan-data/dasan.db".into())
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        let url = DatabaseUrl::parse("postgres://dasan:hunter2@db:5432/dasan").expect("ok");
        assert_eq!(format!("{url:?}"), "postgres://dasan:***@db:5432/dasan");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            started_at_millis: 1_700_000_000_123,
            id: ConsultationId(uuid::Uuid::from_u128(42)),
        };
        assert_eq!(
            Cursor::decode(&cursor.encode()).expect("round trip"),
            cursor
        );
        for bad in ["", "!!!", "AAAA"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
