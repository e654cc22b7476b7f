//! Bearer-token authentication. A token is `dsn_` followed by 32 random bytes
//! in base64url; the store keeps only its SHA-256, so a leaked database does
//! not leak usable tokens.

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::Engine;
use dasan_core::Role;
use dasan_store::{Store, TokenRecord};
use sha2::{Digest, Sha256};

use crate::{AppState, error::ApiError};

const PREFIX: &str = "dsn_";

/// A freshly minted token: the secret (shown once) and what is stored.
pub struct IssuedToken {
    pub secret: String,
    pub record: TokenRecord,
    pub secret_hash: Vec<u8>,
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Mints a token for `role`. Fails only if the OS has no randomness.
pub fn issue_token(role: Role, label: &str) -> Result<IssuedToken, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let now = crate::now();
    Ok(IssuedToken {
        secret_hash: hash_secret(&secret),
        record: TokenRecord {
            id: uuid::Uuid::now_v7(),
            role,
            label: label.to_owned(),
            created_at: now,
        },
        secret,
    })
}

/// Who is calling: an API token, or a signed-in user's browser session.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's or the user's id.
    pub id: uuid::Uuid,
    /// `token` or `user`.
    pub kind: &'static str,
    pub role: Role,
    /// The user's display name or the token's label (staff data, not a
    /// citizen's).
    pub name: String,
    /// For a browser session, the hash of its cookie: live streams end
    /// when the session does.
    pub session: Option<Vec<u8>>,
}

impl Caller {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }

    pub fn require(&self, allowed: impl Fn(Role) -> bool) -> Result<(), ApiError> {
        if allowed(self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return from_session(parts, state).await;
        };
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid_token", "invalid token"))?;
        // The scheme name is case-insensitive (RFC 7235); the token is not.
        let secret = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|s| s.starts_with(PREFIX) && s.len() < 200)
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "invalid token"))?;
        let record = state
            .store
            .find_token(&hash_secret(secret))
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "invalid token"))?;
        Ok(Caller {
            id: record.id,
            kind: "token",
            role: record.role,
            name: record.label,
            session: None,
        })
    }
}

/// A browser's session cookie. Anything but a read must also carry the
/// session's CSRF token in `X-CSRF-Token` (forms are checked by their own
/// handlers), so another site cannot make a signed-in browser write.
async fn from_session(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let Some((session, user)) = crate::session::current(state, &parts.headers).await? else {
        return Err(ApiError::unauthorized(
            "unauthorized",
            "sign in, or send Authorization: Bearer <token>",
        ));
    };
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let csrf = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if !safe && csrf != Some(session.csrf_token.as_str()) {
        crate::live::log_refusal(
            state,
            format!("user:{}", user.id),
            "csrf.refused",
            parts.uri.path().chars().take(200).collect(),
        )
        .await;
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong X-CSRF-Token",
        ));
    }
    Ok(Caller {
        id: user.id,
        kind: "user",
        role: user.role,
        name: user.display_name,
        session: Some(session.id_hash),
    })
}
