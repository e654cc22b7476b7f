//! The production engine: PostgreSQL through a connection pool. Migrations
//! run under an advisory lock, so several `dasan` nodes may start together.

use dasan_core::{
    Agent, AgentId, Consultation, ConsultationId, NewAgent, NewConsultation, Role, Taxonomy,
    Timestamp,
};
use sqlx::{
    AssertSqlSafe, Connection, Executor, PgPool, Row,
    postgres::{PgArguments, PgPoolOptions, PgRow},
    query::Query,
};

use crate::{
    AuditEntry, Buckets, ConsultationFilter, Cursor, FilterSql, Page, Result, SqlParam, Store,
    StoreError, TokenRecord,
    convert::{
        agent_from_columns, agent_lists_json, consultation_from_columns, taxonomy_from_rows,
    },
    sqlite::now_millis,
    stats::BUCKET_MILLIS,
};

/// Any fixed number works; it names Dasan's migration lock among advisory locks.
const MIGRATION_LOCK: i64 = 0x0DA5_A120;

const MIGRATIONS: &[&str] = &[r#"
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
"#];

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    url: String,
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
        };
        store.migrate().await?;
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
        sqlx::query(
            "INSERT INTO consultations (id, channel, category, citizen_phone, agent_id, started_at, ended_at, summary, outcome, department, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(record.id.0)
        .bind(record.channel.as_str())
        .bind(record.category.as_str())
        .bind(crate::convert::phone_key(&record.citizen_phone))
        .bind(record.agent_id.map(|a| a.0))
        .bind(record.started_at.millis())
        .bind(record.ended_at.millis())
        .bind(&record.summary)
        .bind(record.outcome.as_str())
        .bind(record.department.as_ref().map(|d| d.as_str()))
        .bind(recorded_at)
        .execute(&self.pool)
        .await?;
        Ok(Consultation {
            record: record.clone(),
            recorded_at: Timestamp::from_millis(recorded_at)?,
        })
    }

    async fn record_consultations_bulk(&self, records: Vec<NewConsultation>) -> Result<()> {
        let recorded_at = now_millis();
        let mut tx = self.pool.begin().await?;
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
        }
        Ok(empty)
    }

    async fn finish_bulk_load(&self) -> Result<()> {
        for (_, create) in crate::DEFERRABLE_INDEXES {
            sqlx::query(*create).execute(&self.pool).await?;
        }
        // VACUUM sets the visibility map, which index-only scans need.
        sqlx::query("VACUUM ANALYZE consultations")
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

    async fn count_consultations(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consultations")
            .fetch_one(&self.pool)
            .await?;
        Ok(count as u64)
    }

    async fn statistics_buckets(&self, filter: &ConsultationFilter) -> Result<Buckets> {
        let sql = FilterSql::build(filter, None, |n| format!("${n}"));
        let where_clause = sql.where_clause();
        let mut buckets = Buckets::default();

        let query = format!(
            "SELECT started_at / {BUCKET_MILLIS} AS bucket, COUNT(*) AS n FROM consultations {where_clause} GROUP BY 1 ORDER BY 1"
        );
        let rows = bind_params(sqlx::query(AssertSqlSafe(query)), &sql.params)
            .fetch_all(&self.pool)
            .await?;
        buckets.by_quarter_hour = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)? as u64)))
            .collect::<Result<_, sqlx::Error>>()?;

        let query = format!(
            "SELECT category, channel, COUNT(*) FROM consultations {where_clause} GROUP BY 1, 2"
        );
        let rows = bind_params(sqlx::query(AssertSqlSafe(query)), &sql.params)
            .fetch_all(&self.pool)
            .await?;
        let pairs = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<i64, _>(2)? as u64,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        (buckets.by_category, buckets.by_channel) = crate::sqlite::split_pairs(pairs);

        let query = format!(
            "SELECT n FROM (SELECT COUNT(*) AS n FROM consultations {where_clause} GROUP BY citizen_phone) counts WHERE n >= 100 ORDER BY n DESC"
        );
        let rows = bind_params(sqlx::query(AssertSqlSafe(query)), &sql.params)
            .fetch_all(&self.pool)
            .await?;
        buckets.heavy_citizen_counts = rows
            .iter()
            .map(|row| Ok(row.try_get::<i64, _>(0)? as u64))
            .collect::<Result<_, sqlx::Error>>()?;
        buckets.max_per_citizen = match buckets.heavy_citizen_counts.first() {
            Some(&max) => max,
            None => {
                let query = format!(
                    "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM consultations {where_clause} GROUP BY citizen_phone) counts"
                );
                let row = bind_params(sqlx::query(AssertSqlSafe(query)), &sql.params)
                    .fetch_one(&self.pool)
                    .await?;
                row.try_get::<i64, _>(0)? as u64
            }
        };
        Ok(buckets)
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
