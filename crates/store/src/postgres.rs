//! The production engine: PostgreSQL through a connection pool. Migrations
//! run under an advisory lock, so several `dasan` nodes may start together.

use dasan_core::{
    Agent, AgentId, Consultation, ConsultationId, NewAgent, NewConsultation, PhoneNumber, Role,
    Taxonomy, Timestamp,
};
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgPool, Row,
    postgres::{PgArguments, PgPoolOptions, PgRow},
    query::Query,
};

use crate::{
    Aggregates, AggregatesBuilder, AuditEntry, ConsultationFilter, Cursor, DeliveryUpdate,
    Direction, FilterSql, MessageRecord, Page, Result, SessionRecord, SqlParam, Store, StoreError,
    TokenRecord, UserRecord,
    convert::{
        agent_from_columns, agent_lists_json, consultation_from_columns, taxonomy_from_rows,
    },
    rollup,
    sqlite::now_millis,
};

/// Any fixed number works; it names Dasan's migration lock among advisory locks.
const MIGRATION_LOCK: i64 = 0x0DA5_A120;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE categories (
    code TEXT PRIMARY KEY,
    parent TEXT REFERENCES categories(code),
    name_ko TEXT NOT NULL,
    name_en TEXT NOT NULL
);
CREATE TABLE agents (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    channels TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE consultations (
    id UUID PRIMARY KEY,
    channel TEXT NOT NULL,
    category TEXT NOT NULL REFERENCES categories(code),
    -- The digits of the E.164 number as one integer (see convert::phone_key).
    citizen_phone BIGINT NOT NULL,
    agent_id UUID REFERENCES agents(id),
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    department TEXT,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX consultations_by_start ON consultations (started_at, id);
CREATE INDEX consultations_by_citizen ON consultations (citizen_phone, started_at);
CREATE TABLE api_tokens (
    id UUID PRIMARY KEY,
    secret_hash BYTEA NOT NULL UNIQUE,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL
);
"#,
    r#"
-- Rollups (see rollup.rs). Stale until the first open rebuilds them from
-- whatever the consultation table already holds.
CREATE TABLE rollup_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    time_zone TEXT NOT NULL,
    citizens_stale BOOLEAN NOT NULL,
    rollups_stale BOOLEAN NOT NULL
);
INSERT INTO rollup_settings (id, time_zone, citizens_stale, rollups_stale)
    VALUES (1, 'Asia/Seoul', TRUE, TRUE);
CREATE TABLE rollup_daily (
    day BIGINT NOT NULL,
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    consultations BIGINT NOT NULL,
    night BIGINT NOT NULL,
    handle_ms BIGINT NOT NULL,
    PRIMARY KEY (day, category, channel)
);
CREATE TABLE rollup_hourly (
    hour_start BIGINT NOT NULL,
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    consultations BIGINT NOT NULL,
    handle_ms BIGINT NOT NULL,
    PRIMARY KEY (hour_start, category, channel)
);
CREATE TABLE citizen_counts (
    citizen_phone BIGINT PRIMARY KEY,
    consultations BIGINT NOT NULL
);
CREATE INDEX citizen_counts_by_count ON citizen_counts (consultations);
"#,
    r#"
-- Browser sign-in: people with a role and an argon2 password hash, and
-- server-side sessions keyed by a hash of the cookie's secret.
CREATE TABLE users (
    id UUID PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    id_hash BYTEA PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
"#,
    // 4: each user's UI language.
    "ALTER TABLE users ADD COLUMN language TEXT;",
    r#"
-- 5: text messages both ways; outbound ones are their own outbox.
CREATE TABLE messages (
    id UUID PRIMARY KEY,
    gateway TEXT NOT NULL,
    gateway_message_id TEXT,
    direction TEXT NOT NULL,
    citizen_phone BIGINT NOT NULL,
    center_number TEXT NOT NULL,
    body TEXT NOT NULL,
    media_json TEXT NOT NULL,
    interaction_id UUID,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    cost_won BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX messages_by_gateway_id ON messages (gateway, gateway_message_id);
CREATE INDEX messages_by_citizen ON messages (citizen_phone, created_at);
CREATE INDEX messages_by_interaction ON messages (interaction_id, created_at);
CREATE INDEX messages_outbox ON messages (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE TABLE opt_outs (
    citizen_phone BIGINT PRIMARY KEY,
    at BIGINT NOT NULL
);
"#,
    r#"
-- 6: satisfaction surveys, one per consultation at most.
CREATE TABLE surveys (
    consultation_id UUID PRIMARY KEY,
    citizen_phone BIGINT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    agent_id UUID,
    consultation_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    message_id UUID,
    sent_at BIGINT,
    score BIGINT,
    answered_at BIGINT,
    skip_reason TEXT,
    -- The consultation's local day in the rollup zone (days since 1970).
    local_day BIGINT NOT NULL
);
CREATE INDEX surveys_due ON surveys (due_at) WHERE status = 'scheduled';
CREATE INDEX surveys_by_day ON surveys (local_day, status, score);
-- Per local day, channel and category: what the figures read, kept by a
-- trigger in the same transaction as every survey change.
CREATE TABLE survey_daily (
    local_day BIGINT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    sent BIGINT NOT NULL,
    responses BIGINT NOT NULL,
    satisfied BIGINT NOT NULL,
    score_sum BIGINT NOT NULL,
    PRIMARY KEY (local_day, channel, category)
);
CREATE FUNCTION surveys_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE survey_daily SET
            sent = sent - (CASE WHEN OLD.status IN ('sent', 'answered') THEN 1 ELSE 0 END),
            responses = responses - (CASE WHEN OLD.status = 'answered' THEN 1 ELSE 0 END),
            satisfied = satisfied - (CASE WHEN OLD.status = 'answered' AND COALESCE(OLD.score, 0) >= 4 THEN 1 ELSE 0 END),
            score_sum = score_sum - (CASE WHEN OLD.status = 'answered' THEN COALESCE(OLD.score, 0) ELSE 0 END)
        WHERE local_day = OLD.local_day AND channel = OLD.channel AND category = OLD.category;
    END IF;
    INSERT INTO survey_daily VALUES (NEW.local_day, NEW.channel, NEW.category,
        CASE WHEN NEW.status IN ('sent', 'answered') THEN 1 ELSE 0 END,
        CASE WHEN NEW.status = 'answered' THEN 1 ELSE 0 END,
        CASE WHEN NEW.status = 'answered' AND COALESCE(NEW.score, 0) >= 4 THEN 1 ELSE 0 END,
        CASE WHEN NEW.status = 'answered' THEN COALESCE(NEW.score, 0) ELSE 0 END)
    ON CONFLICT (local_day, channel, category) DO UPDATE SET
        sent = survey_daily.sent + EXCLUDED.sent,
        responses = survey_daily.responses + EXCLUDED.responses,
        satisfied = survey_daily.satisfied + EXCLUDED.satisfied,
        score_sum = survey_daily.score_sum + EXCLUDED.score_sum;
    RETURN NULL;
END $$;
CREATE TRIGGER surveys_daily AFTER INSERT OR UPDATE ON surveys
    FOR EACH ROW EXECUTE FUNCTION surveys_daily_apply();
CREATE INDEX surveys_by_citizen ON surveys (citizen_phone, due_at);
CREATE INDEX surveys_by_consultation_time ON surveys (consultation_at);
"#,
    crate::kb::POSTGRES_MIGRATION,
    crate::reuse::POSTGRES_MIGRATION,
    crate::care::POSTGRES_MIGRATION,
    crate::sip::POSTGRES_MIGRATION,
    crate::sip::CALLS_POSTGRES_MIGRATION,
    crate::video::POSTGRES_MIGRATION,
];

const USER_COLUMNS: &str = "u.id, u.username, u.display_name, u.role, u.password_hash, u.failed_attempts, u.locked_until, u.created_at, u.language";

fn user_from_row(row: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        display_name: row.try_get(2)?,
        role: row.try_get::<&str, _>(3)?.parse::<Role>()?,
        password_hash: row.try_get(4)?,
        failed_attempts: row.try_get(5)?,
        locked_until: row
            .try_get::<Option<i64>, _>(6)?
            .map(Timestamp::from_millis)
            .transpose()?,
        created_at: Timestamp::from_millis(row.try_get(7)?)?,
        language: row.try_get(8)?,
    })
}

fn survey_from_row(row: &PgRow) -> Result<crate::SurveyRecord> {
    let millis = |i: usize| -> Result<Option<Timestamp>> {
        Ok(row
            .try_get::<Option<i64>, _>(i)?
            .map(Timestamp::from_millis)
            .transpose()?)
    };
    Ok(crate::SurveyRecord {
        consultation_id: row.try_get(0)?,
        citizen_phone: crate::convert::phone_from_key(row.try_get(1)?)?,
        channel: row.try_get::<&str, _>(2)?.parse()?,
        category: row.try_get(3)?,
        agent_id: row.try_get(4)?,
        consultation_at: Timestamp::from_millis(row.try_get(5)?)?,
        due_at: Timestamp::from_millis(row.try_get(6)?)?,
        status: row.try_get(7)?,
        message_id: row.try_get(8)?,
        sent_at: millis(9)?,
        score: row.try_get(10)?,
        answered_at: millis(11)?,
        skip_reason: row.try_get(12)?,
    })
}

fn message_from_row(row: &PgRow) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: row.try_get(0)?,
        gateway: row.try_get(1)?,
        gateway_message_id: row.try_get(2)?,
        direction: Direction::parse(row.try_get::<&str, _>(3)?)?,
        citizen_phone: crate::convert::phone_from_key(row.try_get(4)?)?,
        center_number: row.try_get(5)?,
        body: row.try_get(6)?,
        media_json: row.try_get(7)?,
        interaction_id: row.try_get(8)?,
        status: row.try_get(9)?,
        kind: row.try_get(10)?,
        cost_won: row.try_get(11)?,
        attempts: row.try_get(12)?,
        next_attempt_at: row
            .try_get::<Option<i64>, _>(13)?
            .map(Timestamp::from_millis)
            .transpose()?,
        last_error: row.try_get(14)?,
        created_at: Timestamp::from_millis(row.try_get(15)?)?,
        updated_at: Timestamp::from_millis(row.try_get(16)?)?,
    })
}

/// One statement records a consultation and its rollups, so the single
/// write costs one round trip. `ok` is empty when the rollup zone is no
/// longer the one this node bucketed with (`$12`): then nothing is written
/// and the caller re-reads the zone and retries.
const RECORD_WITH_ROLLUPS: &str = "WITH ok AS (
    SELECT citizens_stale FROM rollup_settings WHERE id = 1 AND time_zone = $12
), c AS (
    INSERT INTO consultations (id, channel, category, citizen_phone, agent_id, started_at, ended_at, summary, outcome, department, recorded_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM ok
    RETURNING 1
), d AS (
    INSERT INTO rollup_daily (day, category, channel, consultations, night, handle_ms)
    SELECT $13, $3, $2, 1, $14, $15 FROM ok
    ON CONFLICT (day, category, channel) DO UPDATE SET
        consultations = rollup_daily.consultations + 1,
        night = rollup_daily.night + excluded.night,
        handle_ms = rollup_daily.handle_ms + excluded.handle_ms
), h AS (
    INSERT INTO rollup_hourly (hour_start, category, channel, consultations, handle_ms)
    SELECT $16, $3, $2, 1, $15 FROM ok
    ON CONFLICT (hour_start, category, channel) DO UPDATE SET
        consultations = rollup_hourly.consultations + 1,
        handle_ms = rollup_hourly.handle_ms + excluded.handle_ms
), p AS (
    INSERT INTO citizen_counts (citizen_phone, consultations)
    SELECT $4, 1 FROM ok WHERE NOT ok.citizens_stale
    ON CONFLICT (citizen_phone) DO UPDATE SET consultations = citizen_counts.consultations + 1
)
SELECT COUNT(*) FROM c";

const APPLY_DAILY: &str =
    "INSERT INTO rollup_daily (day, category, channel, consultations, night, handle_ms)
    SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[])
    ON CONFLICT (day, category, channel) DO UPDATE SET
        consultations = rollup_daily.consultations + excluded.consultations,
        night = rollup_daily.night + excluded.night,
        handle_ms = rollup_daily.handle_ms + excluded.handle_ms";
const APPLY_HOURLY: &str =
    "INSERT INTO rollup_hourly (hour_start, category, channel, consultations, handle_ms)
    SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[])
    ON CONFLICT (hour_start, category, channel) DO UPDATE SET
        consultations = rollup_hourly.consultations + excluded.consultations,
        handle_ms = rollup_hourly.handle_ms + excluded.handle_ms";
const APPLY_CITIZENS: &str = "INSERT INTO citizen_counts (citizen_phone, consultations)
    SELECT * FROM UNNEST($1::int8[], $2::int8[])
    ON CONFLICT (citizen_phone) DO UPDATE SET
        consultations = citizen_counts.consultations + excluded.consultations";

/// Adds `delta` to the rollups inside the caller's transaction: one
/// statement per table, rows in key order.
async fn apply_delta(conn: &mut sqlx::PgConnection, delta: &rollup::Delta) -> Result<()> {
    for (sql, map, with_night) in [
        (APPLY_DAILY, &delta.daily, true),
        (APPLY_HOURLY, &delta.hourly, false),
    ] {
        if map.is_empty() {
            continue;
        }
        let rows = rollup::Delta::sorted(map);
        let mut query = sqlx::query(sql)
            .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
            .bind(
                rows.iter()
                    .map(|(k, _)| k.1.clone())
                    .collect::<Vec<String>>(),
            )
            .bind(
                rows.iter()
                    .map(|(k, _)| k.2.clone())
                    .collect::<Vec<String>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, c)| c.consultations)
                    .collect::<Vec<i64>>(),
            );
        if with_night {
            query = query.bind(rows.iter().map(|(_, c)| c.night).collect::<Vec<i64>>());
        }
        query
            .bind(rows.iter().map(|(_, c)| c.handle_ms).collect::<Vec<i64>>())
            .execute(&mut *conn)
            .await?;
    }
    if !delta.citizens.is_empty() {
        let rows = delta.sorted_citizens();
        sqlx::query(APPLY_CITIZENS)
            .bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>())
            .bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn read_settings(conn: &mut sqlx::PgConnection) -> Result<rollup::Settings> {
    let row = sqlx::query(
        "SELECT time_zone, citizens_stale, rollups_stale FROM rollup_settings WHERE id = 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(rollup::Settings {
        zone: rollup::parse_zone(row.try_get::<&str, _>(0)?)?,
        citizens_stale: row.try_get(1)?,
        rollups_stale: row.try_get(2)?,
    })
}

async fn recount_citizens(conn: &mut sqlx::PgConnection) -> Result<()> {
    let mut tx = conn.begin().await?;
    tx.execute("LOCK TABLE consultations IN EXCLUSIVE MODE")
        .await?;
    tx.execute("DELETE FROM citizen_counts").await?;
    tx.execute(rollup::RECOUNT_CITIZENS).await?;
    tx.execute("UPDATE rollup_settings SET citizens_stale = FALSE WHERE id = 1")
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn rebuild_rollups_on(conn: &mut sqlx::PgConnection, zone: chrono_tz::Tz) -> Result<u64> {
    use futures_util::TryStreamExt;
    let mut tx = conn.begin().await?;
    // Writers wait until the rebuild commits; readers go on. A writer that
    // waited then sees the new zone and re-buckets (see RECORD_WITH_ROLLUPS).
    tx.execute("LOCK TABLE consultations IN EXCLUSIVE MODE")
        .await?;
    tx.execute("DELETE FROM rollup_daily").await?;
    tx.execute("DELETE FROM rollup_hourly").await?;
    tx.execute("DELETE FROM citizen_counts").await?;
    let mut delta = rollup::Delta::default();
    let mut read = 0u64;
    {
        let mut rows =
            sqlx::query("SELECT started_at, ended_at, category, channel FROM consultations")
                .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            delta.add(
                zone,
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get::<&str, _>(2)?,
                row.try_get::<&str, _>(3)?,
            );
            read += 1;
        }
    }
    apply_delta(&mut tx, &delta).await?;
    tx.execute(rollup::RECOUNT_CITIZENS).await?;
    // Surveys group by their local day in the rollup zone: re-bucket them.
    let rows = sqlx::query("SELECT consultation_id, consultation_at FROM surveys")
        .fetch_all(&mut *tx)
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut days = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<uuid::Uuid, _>(0)?);
        days.push(rollup::slot(zone, row.try_get::<i64, _>(1)?).day);
    }
    sqlx::query(
        "UPDATE surveys s SET local_day = u.day FROM UNNEST($1::uuid[], $2::bigint[]) AS u(id, day) WHERE s.consultation_id = u.id",
    )
    .bind(ids)
    .bind(days)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE rollup_settings SET time_zone = $1, citizens_stale = FALSE, rollups_stale = FALSE WHERE id = 1",
    )
    .bind(zone.name())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(read)
}

async fn run_stat_query(
    conn: &mut sqlx::PgConnection,
    query: &rollup::StatQuery,
    zone: chrono_tz::Tz,
    builder: &mut AggregatesBuilder,
) -> Result<()> {
    let rows = bind_params(sqlx::query(AssertSqlSafe(query.sql.clone())), &query.params)
        .fetch_all(&mut *conn)
        .await?;
    for row in &rows {
        rollup::fold_row(
            builder,
            zone,
            query.source,
            row.try_get(0)?,
            row.try_get::<&str, _>(1)?,
            row.try_get::<&str, _>(2)?,
            int8(row, 3)?,
            int8(row, 4)?,
            int8(row, 5)?,
        );
    }
    Ok(())
}

/// An integer column (the shared SQL casts every figure to BIGINT); NULL,
/// the `SUM` of no rows, is 0.
fn int8(row: &PgRow, index: usize) -> Result<i64> {
    Ok(row.try_get::<Option<i64>, _>(index)?.unwrap_or(0))
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    url: String,
    /// The rollup zone as last read; a write that finds it changed re-reads.
    zone: std::sync::Arc<std::sync::RwLock<chrono_tz::Tz>>,
}

/// Creates a fresh, uniquely named database on the server of `admin_url`
/// and returns its URL: one database per test, never shared.
pub async fn create_test_database(admin_url: &str) -> Result<String> {
    let name = format!("dasan_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    conn.close().await?;
    with_database(admin_url, &name)
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StoreError::InvalidUrl("no scheme".into()))?;
    let (authority, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let host = authority.split('/').next().unwrap_or(authority);
    let mut out = format!("{scheme}://{host}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn bind_params<'q>(
    mut query: Query<'q, sqlx::Postgres, PgArguments>,
    params: &[SqlParam],
) -> Query<'q, sqlx::Postgres, PgArguments> {
    for param in params {
        query = match param {
            SqlParam::Int(v) => query.bind(*v),
            SqlParam::Text(v) => query.bind(v.clone()),
            SqlParam::Uuid(v) => query.bind(*v),
        };
    }
    query
}

const CONSULTATION_COLUMNS: &str = "id, channel, category, citizen_phone, agent_id, started_at, ended_at, summary, outcome, department, recorded_at";

fn consultation_from_row(row: &PgRow) -> Result<Consultation> {
    consultation_from_columns(
        row.try_get("id")?,
        row.try_get::<&str, _>("channel")?,
        row.try_get::<&str, _>("category")?,
        row.try_get("citizen_phone")?,
        row.try_get("agent_id")?,
        row.try_get("started_at")?,
        row.try_get("ended_at")?,
        row.try_get("summary")?,
        row.try_get::<&str, _>("outcome")?,
        row.try_get::<Option<&str>, _>("department")?,
        row.try_get("recorded_at")?,
    )
}

/// Escapes a value for COPY's text format.
fn copy_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn copy_row(out: &mut String, record: &NewConsultation, recorded_at: i64) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "{}\t{}\t{}\t{}\t",
        record.id,
        record.channel.as_str(),
        record.category.as_str(),
        crate::convert::phone_key(&record.citizen_phone)
    );
    match record.agent_id {
        Some(agent) => {
            let _ = write!(out, "{agent}\t");
        }
        None => out.push_str("\\N\t"),
    }
    let _ = write!(
        out,
        "{}\t{}\t",
        record.started_at.millis(),
        record.ended_at.millis()
    );
    copy_text(out, &record.summary);
    let _ = write!(out, "\t{}\t", record.outcome.as_str());
    match &record.department {
        Some(department) => copy_text(out, department.as_str()),
        None => out.push_str("\\N"),
    }
    let _ = writeln!(out, "\t{recorded_at}");
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        let store = PgStore {
            pool,
            url: url.to_owned(),
            zone: std::sync::Arc::new(std::sync::RwLock::new(dasan_core::time::SEOUL)),
        };
        store.migrate().await?;
        store.reload_zone().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        conn.execute(sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK))
            .await?;
        let outcome = self.migrate_locked(&mut conn).await;
        let unlock = conn
            .execute(sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK))
            .await;
        outcome?;
        unlock?;
        Ok(())
    }

    async fn migrate_locked(&self, conn: &mut sqlx::PgConnection) -> Result<()> {
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .fetch_one(&mut *conn)
                .await?;
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version <= applied {
                continue;
            }
            let mut tx = conn.begin().await?;
            tx.execute(*sql).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "applied PostgreSQL migration");
        }
        // Rebuild any index a bulk load dropped and never got to rebuild.
        for (_, create) in crate::DEFERRABLE_INDEXES {
            conn.execute(*create).await?;
        }
        // Finish what an interrupted bulk load or a fresh migration left.
        let settings = read_settings(&mut *conn).await?;
        if settings.rollups_stale {
            tracing::info!("rebuilding the statistics rollups");
            rebuild_rollups_on(&mut *conn, settings.zone).await?;
        } else if settings.citizens_stale {
            recount_citizens(&mut *conn).await?;
        }
        let mut tx = conn.begin().await?;
        for category in Taxonomy::seed().iter() {
            sqlx::query(
                "INSERT INTO categories (code, parent, name_ko, name_en) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING",
            )
            .bind(category.code.as_str())
            .bind(category.parent.as_ref().map(|p| p.as_str()))
            .bind(&category.name_ko)
            .bind(&category.name_en)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reload_zone(&self) -> Result<chrono_tz::Tz> {
        let mut conn = self.pool.acquire().await?;
        let zone = read_settings(&mut conn).await?.zone;
        if let Ok(mut cached) = self.zone.write() {
            *cached = zone;
        }
        Ok(zone)
    }

    fn cached_zone(&self) -> chrono_tz::Tz {
        self.zone
            .read()
            .map(|zone| *zone)
            .unwrap_or(dasan_core::time::SEOUL)
    }

    /// The URL this store was opened with (it may hold a password: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn record_consultation(&self, record: &NewConsultation) -> Result<Consultation> {
        let recorded_at = now_millis();
        let started = record.started_at.millis();
        let mut zone = self.cached_zone();
        // Twice at most: a rebuild into another zone while this node wrote
        // with the old one makes the first attempt write nothing.
        for _ in 0..2 {
            let slot = rollup::slot(zone, started);
            let written: i64 = sqlx::query_scalar(RECORD_WITH_ROLLUPS)
                .bind(record.id.0)
                .bind(record.channel.as_str())
                .bind(record.category.as_str())
                .bind(crate::convert::phone_key(&record.citizen_phone))
                .bind(record.agent_id.map(|a| a.0))
                .bind(started)
                .bind(record.ended_at.millis())
                .bind(&record.summary)
                .bind(record.outcome.as_str())
                .bind(record.department.as_ref().map(|d| d.as_str()))
                .bind(recorded_at)
                .bind(zone.name())
                .bind(slot.day)
                .bind(i64::from(slot.night))
                .bind(record.ended_at.millis() - started)
                .bind(slot.hour_start)
                .fetch_one(&self.pool)
                .await?;
            if written == 1 {
                return Ok(Consultation {
                    record: record.clone(),
                    recorded_at: Timestamp::from_millis(recorded_at)?,
                });
            }
            zone = self.reload_zone().await?;
        }
        Err(StoreError::Database(
            "the rollup zone changed twice during one write".into(),
        ))
    }

    async fn record_consultations_bulk(&self, records: Vec<NewConsultation>) -> Result<()> {
        let recorded_at = now_millis();
        let mut tx = self.pool.begin().await?;
        // Taken first, so a rollup rebuild in progress is waited for and its
        // zone is the one read next.
        tx.execute("LOCK TABLE consultations IN ROW EXCLUSIVE MODE")
            .await?;
        let settings = read_settings(&mut tx).await?;
        let mut copy = tx
            .copy_in_raw(
                "COPY consultations (id, channel, category, citizen_phone, agent_id, started_at, ended_at, summary, outcome, department, recorded_at) FROM STDIN",
            )
            .await?;
        let mut buffer = String::with_capacity(1 << 20);
        for record in &records {
            copy_row(&mut buffer, record, recorded_at);
            if buffer.len() > (1 << 20) {
                copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
            }
        }
        if !buffer.is_empty() {
            copy.send(buffer.into_bytes()).await?;
        }
        copy.finish().await?;
        let delta = rollup::Delta::of(settings.zone, &records, !settings.citizens_stale);
        apply_delta(&mut tx, &delta).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn begin_bulk_load(&self) -> Result<bool> {
        let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM consultations)")
            .fetch_one(&self.pool)
            .await?;
        if empty {
            for (name, _) in crate::DEFERRABLE_INDEXES {
                sqlx::query(AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                    .execute(&self.pool)
                    .await?;
            }
            // Per-citizen counts are recounted in one pass at the end.
            sqlx::query("UPDATE rollup_settings SET citizens_stale = TRUE WHERE id = 1")
                .execute(&self.pool)
                .await?;
        }
        Ok(empty)
    }

    async fn finish_bulk_load(&self) -> Result<()> {
        for (_, create) in crate::DEFERRABLE_INDEXES {
            sqlx::query(*create).execute(&self.pool).await?;
        }
        let mut conn = self.pool.acquire().await?;
        if read_settings(&mut conn).await?.citizens_stale {
            recount_citizens(&mut conn).await?;
        }
        drop(conn);
        // VACUUM sets the visibility map, which index-only scans need.
        sqlx::query("VACUUM ANALYZE consultations, rollup_daily, rollup_hourly, citizen_counts")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_consultation(&self, id: ConsultationId) -> Result<Option<Consultation>> {
        let sql = format!("SELECT {CONSULTATION_COLUMNS} FROM consultations WHERE id = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(consultation_from_row)
            .transpose()
    }

    async fn list_consultations(
        &self,
        filter: &ConsultationFilter,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page> {
        let sql = FilterSql::build(filter, after, |n| format!("${n}"));
        let query = format!(
            "SELECT {CONSULTATION_COLUMNS} FROM consultations {} ORDER BY started_at DESC, id DESC LIMIT {}",
            sql.where_clause(),
            u64::from(limit) + 1
        );
        let rows = bind_params(sqlx::query(AssertSqlSafe(query)), &sql.params)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(consultation_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetched(items, limit))
    }

    async fn consultation_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        interval_millis: i64,
    ) -> Result<Vec<u64>> {
        let Some(buckets) = crate::interval_count(from, to, interval_millis) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i64, i64)> = sqlx::query_as(crate::INTERVAL_COUNTS_POSTGRES)
            .bind(from.millis())
            .bind(to.millis())
            .bind(interval_millis)
            .fetch_all(&self.pool)
            .await?;
        let mut counts = vec![0u64; buckets];
        for (bucket, count) in rows {
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot = count as u64;
            }
        }
        Ok(counts)
    }

    async fn count_consultations(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consultations")
            .fetch_one(&self.pool)
            .await?;
        Ok(count as u64)
    }

    async fn statistics_from_rollups(&self, filter: &ConsultationFilter) -> Result<Aggregates> {
        let mut tx = self.pool.begin().await?;
        // One snapshot for the rollups and the leftovers under an hour.
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let zone = read_settings(&mut tx).await?.zone;
        let mut builder = AggregatesBuilder::default();
        for query in rollup::stat_queries(filter, zone, |n| format!("${n}")) {
            run_stat_query(&mut tx, &query, zone, &mut builder).await?;
        }
        let heavy: Vec<i64> = sqlx::query_scalar(rollup::HEAVY_COUNTS)
            .fetch_all(&mut *tx)
            .await?;
        let max: i64 = sqlx::query_scalar(rollup::MAX_COUNT)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(builder.finish(heavy.into_iter().map(|n| n as u64).collect(), max as u64))
    }

    async fn statistics_exact(
        &self,
        filter: &ConsultationFilter,
        zone: chrono_tz::Tz,
    ) -> Result<Aggregates> {
        let mut tx = self.pool.begin().await?;
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let mut builder = AggregatesBuilder::default();
        for query in rollup::exact_queries(filter, |n| format!("${n}")) {
            run_stat_query(&mut tx, &query, zone, &mut builder).await?;
        }
        let row = sqlx::query(
            "SELECT COALESCE(MAX(n), 0), COALESCE(array_agg(n) FILTER (WHERE n >= 100), '{}') FROM (SELECT COUNT(*) AS n FROM consultations GROUP BY citizen_phone) counts",
        )
        .fetch_one(&mut *tx)
        .await?;
        let max: i64 = row.try_get(0)?;
        let heavy: Vec<i64> = row.try_get(1)?;
        tx.commit().await?;
        Ok(builder.finish(heavy.into_iter().map(|n| n as u64).collect(), max as u64))
    }

    async fn rollup_zone(&self) -> Result<chrono_tz::Tz> {
        self.reload_zone().await
    }

    async fn rebuild_rollups(&self, zone: chrono_tz::Tz) -> Result<u64> {
        let mut conn = self.pool.acquire().await?;
        let read = rebuild_rollups_on(&mut conn, zone).await?;
        drop(conn);
        self.reload_zone().await?;
        Ok(read)
    }

    async fn taxonomy(&self) -> Result<Taxonomy> {
        let rows =
            sqlx::query("SELECT code, parent, name_ko, name_en FROM categories ORDER BY code")
                .fetch_all(&self.pool)
                .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        taxonomy_from_rows(rows)
    }

    async fn create_agent(&self, agent: &NewAgent, id: AgentId) -> Result<Agent> {
        let (skills, channels) = agent_lists_json(agent);
        sqlx::query(
            "INSERT INTO agents (id, name, skills, channels, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.0)
        .bind(&agent.name)
        .bind(skills)
        .bind(channels)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(Agent {
            id,
            name: agent.name.clone(),
            skills: agent.skills.clone(),
            channels: agent.channels.clone(),
        })
    }

    async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>> {
        let row = sqlx::query("SELECT id, name, skills, channels FROM agents WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            agent_from_columns(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get::<&str, _>(2)?,
                row.try_get::<&str, _>(3)?,
            )
        })
        .transpose()
    }

    async fn list_agents(&self) -> Result<Vec<Agent>> {
        let rows = sqlx::query("SELECT id, name, skills, channels FROM agents ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                agent_from_columns(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get::<&str, _>(2)?,
                    row.try_get::<&str, _>(3)?,
                )
            })
            .collect()
    }

    async fn create_token(&self, record: &TokenRecord, secret_hash: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, secret_hash, role, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.id)
        .bind(secret_hash)
        .bind(record.role.as_str())
        .bind(&record.label)
        .bind(record.created_at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, secret_hash: &[u8]) -> Result<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, role, label, created_at FROM api_tokens WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(TokenRecord {
                id: row.try_get(0)?,
                role: row.try_get::<&str, _>(1)?.parse::<Role>()?,
                label: row.try_get(2)?,
                created_at: Timestamp::from_millis(row.try_get(3)?)?,
            })
        })
        .transpose()
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, username, display_name, role, password_hash, failed_attempts, locked_until, created_at, language) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(user.failed_attempts)
        .bind(user.locked_until.map(Timestamp::millis))
        .bind(user.created_at.millis())
        .bind(&user.language)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn set_sign_in_state(
        &self,
        user_id: uuid::Uuid,
        failed_attempts: i64,
        locked_until: Option<Timestamp>,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET failed_attempts = $2, locked_until = $3 WHERE id = $1")
            .bind(user_id)
            .bind(failed_attempts)
            .bind(locked_until.map(Timestamp::millis))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_message(&self, m: &MessageRecord) -> Result<bool> {
        let sql = format!(
            "INSERT INTO messages ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (gateway, gateway_message_id) DO NOTHING",
            crate::MESSAGE_COLUMNS
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(m.id)
            .bind(&m.gateway)
            .bind(&m.gateway_message_id)
            .bind(m.direction.as_str())
            .bind(crate::convert::phone_key(&m.citizen_phone))
            .bind(&m.center_number)
            .bind(&m.body)
            .bind(&m.media_json)
            .bind(m.interaction_id)
            .bind(&m.status)
            .bind(&m.kind)
            .bind(m.cost_won)
            .bind(m.attempts)
            .bind(m.next_attempt_at.map(Timestamp::millis))
            .bind(&m.last_error)
            .bind(m.created_at.millis())
            .bind(m.updated_at.millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_message(&self, id: uuid::Uuid) -> Result<Option<MessageRecord>> {
        let sql = format!(
            "SELECT {} FROM messages WHERE id = $1",
            crate::MESSAGE_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(message_from_row)
            .transpose()
    }

    async fn find_message_by_gateway_id(
        &self,
        gateway: &str,
        gateway_message_id: &str,
    ) -> Result<Option<MessageRecord>> {
        let sql = format!(
            "SELECT {} FROM messages WHERE gateway = $1 AND gateway_message_id = $2",
            crate::MESSAGE_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(gateway)
            .bind(gateway_message_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(message_from_row)
            .transpose()
    }

    async fn messages_for_citizen(
        &self,
        phone: &PhoneNumber,
        limit: u32,
    ) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {} FROM messages WHERE citizen_phone = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            crate::MESSAGE_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(crate::convert::phone_key(phone))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn messages_for_interaction(&self, id: uuid::Uuid) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {} FROM messages WHERE interaction_id = $1 ORDER BY created_at, id",
            crate::MESSAGE_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn due_outbound(&self, now: Timestamp, limit: u32) -> Result<Vec<MessageRecord>> {
        let sql = format!(
            "SELECT {} FROM messages WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
            crate::MESSAGE_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.millis())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn next_outbound_due(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM messages WHERE next_attempt_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(Timestamp::from_millis).transpose()?)
    }

    async fn update_delivery(&self, id: uuid::Uuid, u: &DeliveryUpdate) -> Result<()> {
        sqlx::query(
            "UPDATE messages SET status = $2, gateway_message_id = COALESCE($3, gateway_message_id), attempts = $4, next_attempt_at = $5, last_error = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&u.status)
        .bind(&u.gateway_message_id)
        .bind(u.attempts)
        .bind(u.next_attempt_at.map(Timestamp::millis))
        .bind(&u.last_error)
        .bind(u.at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_message_media(&self, id: uuid::Uuid, media_json: &str) -> Result<()> {
        sqlx::query("UPDATE messages SET media_json = $2 WHERE id = $1")
            .bind(id)
            .bind(media_json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_status_by_gateway_id(
        &self,
        gateway_message_id: &str,
        status: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE messages SET status = $2, updated_at = $3 WHERE direction = 'outbound' AND gateway_message_id = $1",
        )
        .bind(gateway_message_id)
        .bind(status)
        .bind(at.millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_opt_out(&self, phone: &PhoneNumber, opted_out: bool, at: Timestamp) -> Result<()> {
        let key = crate::convert::phone_key(phone);
        if opted_out {
            sqlx::query(
                "INSERT INTO opt_outs (citizen_phone, at) VALUES ($1, $2) ON CONFLICT (citizen_phone) DO NOTHING",
            )
            .bind(key)
            .bind(at.millis())
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("DELETE FROM opt_outs WHERE citizen_phone = $1")
                .bind(key)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn schedule_survey(&self, v: &crate::SurveyRecord) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        let zone = read_settings(&mut conn).await?.zone;
        let sql = format!(
            "INSERT INTO surveys ({}, local_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (consultation_id) DO NOTHING",
            crate::SURVEY_COLUMNS
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(v.consultation_id)
            .bind(crate::convert::phone_key(&v.citizen_phone))
            .bind(v.channel.as_str())
            .bind(&v.category)
            .bind(v.agent_id)
            .bind(v.consultation_at.millis())
            .bind(v.due_at.millis())
            .bind(&v.status)
            .bind(v.message_id)
            .bind(v.sent_at.map(Timestamp::millis))
            .bind(v.score)
            .bind(v.answered_at.map(Timestamp::millis))
            .bind(&v.skip_reason)
            .bind(rollup::slot(zone, v.consultation_at.millis()).day)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_surveys_bulk(&self, surveys: Vec<crate::SurveyRecord>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let zone = read_settings(&mut conn).await?.zone;
        // The rollup trigger would run per row: off for the load, then the
        // day sums are recomputed for the days the load touched.
        let mut tx = conn.begin().await?;
        tx.execute("ALTER TABLE surveys DISABLE TRIGGER surveys_daily")
            .await?;
        let mut touched: Vec<i64> = Vec::new();
        // One statement per 10,000 surveys: the columns as arrays, unnested.
        for chunk in surveys.chunks(10_000) {
            let mut days = Vec::with_capacity(chunk.len());
            let mut ids = Vec::with_capacity(chunk.len());
            let mut phones = Vec::with_capacity(chunk.len());
            let mut channels = Vec::with_capacity(chunk.len());
            let mut categories = Vec::with_capacity(chunk.len());
            let mut agents = Vec::with_capacity(chunk.len());
            let mut consultation_at = Vec::with_capacity(chunk.len());
            let mut due_at = Vec::with_capacity(chunk.len());
            let mut statuses = Vec::with_capacity(chunk.len());
            let mut sent_at = Vec::with_capacity(chunk.len());
            let mut scores = Vec::with_capacity(chunk.len());
            let mut answered_at = Vec::with_capacity(chunk.len());
            for v in chunk {
                ids.push(v.consultation_id);
                phones.push(crate::convert::phone_key(&v.citizen_phone));
                channels.push(v.channel.as_str().to_owned());
                categories.push(v.category.clone());
                agents.push(v.agent_id);
                consultation_at.push(v.consultation_at.millis());
                due_at.push(v.due_at.millis());
                statuses.push(v.status.clone());
                sent_at.push(v.sent_at.map(Timestamp::millis));
                scores.push(v.score);
                answered_at.push(v.answered_at.map(Timestamp::millis));
                days.push(rollup::slot(zone, v.consultation_at.millis()).day);
            }
            touched.extend(days.iter().copied());
            sqlx::query(
                "INSERT INTO surveys (consultation_id, citizen_phone, channel, category, agent_id, consultation_at, due_at, status, sent_at, score, answered_at, local_day) \
                 SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::uuid[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[]) \
                 ON CONFLICT (consultation_id) DO NOTHING",
            )
            .bind(ids)
            .bind(phones)
            .bind(channels)
            .bind(categories)
            .bind(agents)
            .bind(consultation_at)
            .bind(due_at)
            .bind(statuses)
            .bind(sent_at)
            .bind(scores)
            .bind(answered_at)
            .bind(days)
            .execute(&mut *tx)
            .await?;
        }
        touched.sort_unstable();
        touched.dedup();
        sqlx::query("DELETE FROM survey_daily WHERE local_day = ANY($1)")
            .bind(&touched)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO survey_daily SELECT local_day, channel, category, \
             COUNT(*) FILTER (WHERE status IN ('sent', 'answered')), \
             COUNT(*) FILTER (WHERE status = 'answered'), \
             COUNT(*) FILTER (WHERE status = 'answered' AND COALESCE(score, 0) >= 4), \
             COALESCE(SUM(score) FILTER (WHERE status = 'answered'), 0) \
             FROM surveys WHERE local_day = ANY($1) GROUP BY local_day, channel, category",
        )
        .bind(&touched)
        .execute(&mut *tx)
        .await?;
        tx.execute("ALTER TABLE surveys ENABLE TRIGGER surveys_daily")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_survey(&self, v: &crate::SurveyRecord) -> Result<()> {
        sqlx::query("UPDATE surveys SET due_at = $2, status = $3, message_id = $4, sent_at = $5, score = $6, answered_at = $7, skip_reason = $8 WHERE consultation_id = $1")
            .bind(v.consultation_id)
            .bind(v.due_at.millis())
            .bind(&v.status)
            .bind(v.message_id)
            .bind(v.sent_at.map(Timestamp::millis))
            .bind(v.score)
            .bind(v.answered_at.map(Timestamp::millis))
            .bind(&v.skip_reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_surveys(&self, now: Timestamp, limit: u32) -> Result<Vec<crate::SurveyRecord>> {
        let sql = format!(
            "SELECT {} FROM surveys WHERE status = 'scheduled' AND due_at <= $1 ORDER BY due_at LIMIT $2",
            crate::SURVEY_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.millis())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(survey_from_row).collect()
    }

    async fn last_survey_for(&self, phone: &PhoneNumber) -> Result<Option<crate::SurveyRecord>> {
        let sql = format!(
            "SELECT {} FROM surveys WHERE citizen_phone = $1 ORDER BY due_at DESC LIMIT 1",
            crate::SURVEY_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(crate::convert::phone_key(phone))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(survey_from_row)
            .transpose()
    }

    async fn survey_agents(&self, filter: &ConsultationFilter) -> Result<Vec<crate::SurveyAgent>> {
        let (clause, values) = crate::survey_filter(filter, |n| format!("${n}"));
        let sql = crate::SURVEY_AGENTS_SQL.replace("{clause}", &clause);
        let rows = bind_params(sqlx::query(AssertSqlSafe(sql)), &values)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let count =
                    |i: usize| -> Result<u64> { Ok(row.try_get::<i64, _>(i)?.max(0) as u64) };
                Ok(crate::SurveyAgent {
                    agent_id: row.try_get::<Option<uuid::Uuid>, _>(0)?,
                    sent: count(1)?,
                    responses: count(2)?,
                    satisfied: count(3)?,
                    score_sum: count(4)?,
                })
            })
            .collect()
    }

    async fn survey_for_consultation(&self, id: uuid::Uuid) -> Result<Option<crate::SurveyRecord>> {
        let sql = format!(
            "SELECT {} FROM surveys WHERE consultation_id = $1",
            crate::SURVEY_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(survey_from_row)
            .transpose()
    }

    async fn answer_survey_once(&self, id: uuid::Uuid, score: i64, at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE surveys SET status = 'answered', score = $2, answered_at = $3 WHERE consultation_id = $1 AND status = 'sent'",
        )
        .bind(id)
        .bind(score)
        .bind(at.millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn survey_months(
        &self,
        filter: &ConsultationFilter,
        zone: chrono_tz::Tz,
    ) -> Result<Vec<crate::SurveyMonth>> {
        let (clause, values) = crate::survey_filter(filter, |n| format!("${n}"));
        let mut conn = self.pool.acquire().await?;
        if read_settings(&mut conn).await?.zone == zone {
            let sql = if filter.from.is_some() || filter.to.is_some() {
                crate::SURVEY_DAYS_SQL.replace("{clause}", &clause)
            } else {
                crate::SURVEY_DAILY_SQL.replace("{clause}", &clause)
            };
            let rows = bind_params(sqlx::query(AssertSqlSafe(sql)), &values)
                .fetch_all(&mut *conn)
                .await?;
            let mut days = Vec::with_capacity(rows.len());
            for row in &rows {
                days.push((
                    row.try_get::<i64, _>(0)?,
                    row.try_get::<i64, _>(1)?,
                    row.try_get::<i64, _>(2)?,
                    row.try_get::<i64, _>(3)?,
                    row.try_get::<i64, _>(4)?,
                ));
            }
            return Ok(crate::fold_survey_days(days.into_iter()));
        }
        drop(conn);
        let sql = format!(
            "SELECT consultation_at, status, score FROM surveys WHERE status IN ('sent', 'answered'){clause}"
        );
        let rows = bind_params(sqlx::query(AssertSqlSafe(sql)), &values)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push((
                row.try_get::<i64, _>(0)?,
                row.try_get::<String, _>(1)?,
                row.try_get::<Option<i64>, _>(2)?,
            ));
        }
        Ok(crate::fold_survey_rows(out.into_iter(), zone))
    }

    async fn message_totals(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<crate::MessageTotal>> {
        let sql = crate::MESSAGE_TOTALS_SQL
            .replace("{from}", "$1")
            .replace("{to}", "$2");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from.map_or(i64::MIN, Timestamp::millis))
            .bind(to.map_or(i64::MAX, Timestamp::millis))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::MessageTotal {
                    direction: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    messages: row.try_get::<i64, _>(2)? as u64,
                    cost_won: row.try_get::<i64, _>(3)?,
                })
            })
            .collect()
    }

    async fn open_text_threads(&self, since: Timestamp) -> Result<Vec<crate::OpenThread>> {
        let sql = crate::OPEN_THREADS_SQL.replace("{since}", "$1");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(since.millis())
            .fetch_all(&self.pool)
            .await?;
        let body_sql = crate::FIRST_BODY_SQL.replace("{id}", "$1");
        let mut out = Vec::new();
        for row in rows {
            let id: uuid::Uuid = row.try_get(0)?;
            let first_body: Option<String> = sqlx::query_scalar(AssertSqlSafe(body_sql.clone()))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            out.push(crate::OpenThread {
                interaction_id: id,
                citizen_phone: crate::convert::phone_from_key(row.try_get(1)?)?,
                mms: row.try_get::<i32, _>(2)? != 0,
                first_at: Timestamp::from_millis(row.try_get(3)?)?,
                last_at: Timestamp::from_millis(row.try_get(4)?)?,
                first_body: first_body.unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn is_opted_out(&self, phone: &PhoneNumber) -> Result<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM opt_outs WHERE citizen_phone = $1")
                .bind(crate::convert::phone_key(phone))
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn set_user_language(&self, user_id: uuid::Uuid, language: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE users SET language = $2 WHERE id = $1")
            .bind(user_id)
            .bind(language)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_password(&self, user_id: uuid::Uuid, password_hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE users SET password_hash = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(user_id)
        .bind(password_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.id_hash)
        .bind(session.user_id)
        .bind(&session.csrf_token)
        .bind(session.expires_at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_session(
        &self,
        id_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(SessionRecord, UserRecord)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2"
        );
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(id_hash)
            .bind(now.millis())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        Ok(Some((
            SessionRecord {
                id_hash: id_hash.to_vec(),
                user_id: user.id,
                csrf_token: row.try_get(9)?,
                expires_at: Timestamp::from_millis(row.try_get(10)?)?,
            },
            user,
        )))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_article(
        &self,
        input: &crate::kb::ArticleInput,
        author: &str,
        at: Timestamp,
        expected_version: Option<i64>,
    ) -> Result<(crate::kb::ArticleRecord, crate::kb::SaveOutcome)> {
        crate::kb::pg_save(&self.pool, input, author, at, expected_version).await
    }

    async fn get_article(&self, id: &str) -> Result<Option<crate::kb::ArticleRecord>> {
        crate::kb::pg_get_article(&self.pool, id).await
    }

    async fn list_articles(&self) -> Result<Vec<crate::kb::ArticleRecord>> {
        crate::kb::pg_list(&self.pool).await
    }

    async fn article_versions(&self, id: &str) -> Result<Vec<crate::kb::ArticleVersion>> {
        crate::kb::pg_versions(&self.pool, id).await
    }

    async fn delete_article(&self, id: &str) -> Result<bool> {
        crate::kb::pg_delete(&self.pool, id).await
    }

    async fn kb_setting(&self, key: &str) -> Result<Option<String>> {
        crate::kb::pg_setting(&self.pool, key).await
    }

    async fn set_kb_setting(&self, key: &str, value: &str) -> Result<()> {
        crate::kb::pg_set_setting(&self.pool, key, value).await
    }

    async fn sample_citizens(
        &self,
        from: Timestamp,
        to: Timestamp,
        n: usize,
        seed: u64,
    ) -> Result<(u64, Vec<PhoneNumber>)> {
        crate::reuse::sample(
            crate::reuse::pg_citizens(&self.pool, from, to).await?,
            n,
            seed,
        )
    }

    async fn create_reuse_campaign(
        &self,
        campaign: &crate::reuse::ReuseCampaign,
        members: &[(PhoneNumber, bool)],
    ) -> Result<()> {
        crate::reuse::pg_create(&self.pool, campaign, members).await
    }

    async fn reuse_campaign(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(crate::reuse::ReuseCampaign, crate::reuse::ReuseCounts)>> {
        crate::reuse::pg_campaign(&self.pool, id).await
    }

    async fn mark_reuse_sent(
        &self,
        id: uuid::Uuid,
        phone: &PhoneNumber,
        at: Timestamp,
    ) -> Result<()> {
        crate::reuse::pg_mark_sent(&self.pool, id, phone, at).await
    }

    async fn answer_reuse(
        &self,
        phone: &PhoneNumber,
        yes: bool,
        since: Timestamp,
        at: Timestamp,
    ) -> Result<bool> {
        crate::reuse::pg_answer(&self.pool, phone, yes, since, at).await
    }

    async fn care_commit(&self, write: &crate::care::CareWrite) -> Result<crate::care::CareCommit> {
        crate::care::pg_commit(&self.pool, write).await
    }

    async fn care_get(
        &self,
        kind: crate::care::CareKind,
        id: &str,
    ) -> Result<Option<crate::care::CareRecord>> {
        crate::care::pg_get(&self.pool, kind, id).await
    }

    async fn care_list(
        &self,
        query: &crate::care::CareQuery,
    ) -> Result<Vec<crate::care::CareRecord>> {
        crate::care::pg_list(&self.pool, query).await
    }

    async fn set_sip_account(&self, account: &crate::sip::SipAccount) -> Result<()> {
        crate::sip::pg_set(&self.pool, account).await
    }

    async fn sip_account(&self, username: &str) -> Result<Option<crate::sip::SipAccount>> {
        crate::sip::pg_get(&self.pool, username).await
    }

    async fn record_call(&self, record: &crate::sip::CallRecord) -> Result<()> {
        crate::sip::pg_record_call(&self.pool, record).await
    }

    async fn calls(
        &self,
        interaction: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::sip::CallRecord>> {
        crate::sip::pg_calls(&self.pool, interaction, limit).await
    }

    async fn record_video_session(&self, record: &crate::video::VideoSessionRecord) -> Result<()> {
        crate::video::pg_record(&self.pool, record).await
    }

    async fn video_sessions(
        &self,
        id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::video::VideoSessionRecord>> {
        crate::video::pg_list(&self.pool, id, limit).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, subject) VALUES ($1, $2, $3, $4)")
            .bind(entry.at.millis())
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, subject FROM audit_log ORDER BY seq DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: Timestamp::from_millis(row.try_get(0)?)?,
                    actor: row.try_get(1)?,
                    action: row.try_get(2)?,
                    subject: row.try_get(3)?,
                })
            })
            .collect()
    }
}
