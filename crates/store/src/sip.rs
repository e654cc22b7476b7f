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
