//! Browser sign-in: the form at `/`, `POST /signin`, `POST /signout`, and
//! the session cookie that [`crate::auth::Caller`] accepts beside bearer
//! tokens.
//!
//! - Passwords: argon2id (PHC strings), verified on the blocking pool; an
//!   unknown username costs the same work as a wrong password.
//! - Cookie `dasan_session`: 32 random bytes, `HttpOnly; SameSite=Strict;
//!   Path=/`, `Secure` when the request came over HTTPS; the store keeps only
//!   its SHA-256. Sessions last 12 hours.
//! - CSRF: the sign-in form is protected by a double-submit cookie
//!   (`dasan_csrf` must equal the form's field); after sign-in every form and
//!   every cookie-authenticated write carries the session's token (form field
//!   `csrf` or header `X-CSRF-Token`).
//! - Lockout: five failures in a row lock the account for 15 minutes (the
//!   answer does not say whether the name exists).

use std::fmt::Write;

use axum::{
    Form, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine;
use dasan_core::{Role, Timestamp};
use dasan_store::{AuditEntry, SessionRecord, Store, UserRecord};
use serde::Deserialize;

use crate::{
    AppState,
    auth::hash_secret,
    charts::escape,
    error::ApiError,
    i18n::{Lang, t},
};

pub const SESSION_COOKIE: &str = "dasan_session";
pub const CSRF_COOKIE: &str = "dasan_csrf";
const SESSION_MILLIS: i64 = 12 * 3_600_000;
pub const MAX_FAILURES: i64 = 5;
const LOCK_MILLIS: i64 = 15 * 60_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", post(sign_in))
        .route("/signout", post(sign_out))
}

use crate::now;

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// An argon2id PHC string for `password` (blocking: call off the runtime).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string (blocking).
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A value from the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub(crate) fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if over_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session a request carries, if valid.
pub(crate) async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(SessionRecord, UserRecord)>, ApiError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE).filter(|s| s.len() < 100) else {
        return Ok(None);
    };
    Ok(state
        .store
        .find_session(&hash_secret(secret), now())
        .await?)
}

pub(crate) fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="{}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>body{{font-family:system-ui,"Noto Sans CJK KR",sans-serif;max-width:28rem;margin:3rem auto;padding:1rem;color:#1f2328}}label{{display:block;margin:.75rem 0 .25rem}}input{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}button{{margin-top:1rem;font-size:1rem;padding:.5rem 1rem}}[role=alert]{{color:#a40e26}}:focus{{outline:3px solid #bf8700}}</style></head><body><main>{body}</main></body></html>"#,
        lang.code(),
        escape(title)
    )
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in form, with a fresh double-submit CSRF cookie; `next` is the
/// page to go to after signing in.
pub(crate) fn sign_in_form(
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    message: Option<&str>,
    next: Option<&'static str>,
) -> Result<Response, ApiError> {
    let csrf = random_token()?;
    let mut body = String::new();
    let _ = write!(body, r#"<h1>{}</h1>"#, escape(t(lang, "signin.title")));
    if let Some(message) = message {
        let _ = write!(body, r#"<p role="alert">{}</p>"#, escape(message));
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/signin"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="lang" value="{}"><input type="hidden" name="next" value="{}"><label for="username">{}</label><input id="username" name="username" autocomplete="username" required autofocus><label for="password">{}</label><input id="password" name="password" type="password" autocomplete="current-password" required><button type="submit">{}</button></form><p><a href="/language?lang={}&amp;next={}">{}</a></p>"#,
        lang.code(),
        next.unwrap_or(""),
        escape(t(lang, "signin.username")),
        escape(t(lang, "signin.password")),
        escape(t(lang, "signin.submit")),
        match lang {
            Lang::Ko => "en",
            Lang::En => "ko",
        },
        next.unwrap_or("/"),
        escape(t(lang, "lang.switch")),
    );
    let mut response = (status, Html(page(lang, t(lang, "signin.title"), &body))).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, CSRF_COOKIE, &csrf, 3600),
    );
    Ok(with_security_headers(response))
}

#[derive(Debug, Default, Deserialize)]
struct HomeQuery {
    lang: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::error::ApiQuery(query): crate::error::ApiQuery<HomeQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let Some((session, user)) = current(&state, &headers).await? else {
        return sign_in_form(&headers, lang, StatusCode::OK, None, None);
    };
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>{}</h1><p>{} <strong>{}</strong> ({})</p>"#,
        escape(t(lang, "signin.title")),
        escape(t(lang, "signin.signed_in_as")),
        escape(&user.display_name),
        user.role.as_str(),
    );
    for (href, key, allowed) in [
        (
            "/desktop",
            "desktop.title",
            user.role.may_record_consultations(),
        ),
        (
            "/wallboard",
            "wallboard.title",
            user.role.may_read_statistics(),
        ),
        ("/reports", "reports.title", user.role.may_read_statistics()),
    ] {
        if allowed {
            let _ = write!(
                body,
                r#"<p><a href="{href}?lang={}">{}</a></p>"#,
                lang.code(),
                escape(t(lang, key))
            );
        }
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/signout"><input type="hidden" name="csrf" value="{}"><button type="submit">{}</button></form>"#,
        escape(&session.csrf_token),
        escape(t(lang, "signin.signout")),
    );
    Ok(with_security_headers(
        Html(page(lang, t(lang, "signin.title"), &body)).into_response(),
    ))
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    csrf: String,
    lang: Option<String>,
    next: Option<String>,
}

async fn audit(state: &AppState, actor: String, action: &str) -> Result<(), ApiError> {
    state
        .store
        .append_audit(&AuditEntry {
            at: now(),
            actor,
            action: action.to_owned(),
            subject: String::new(),
        })
        .await
        .map_err(ApiError::from)
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(None, &headers);
    let Ok(Form(form)) = form else {
        return sign_in_form(
            &headers,
            lang,
            StatusCode::BAD_REQUEST,
            Some(t(lang, "signin.bad_form")),
            None,
        );
    };
    let lang = Lang::choose(form.lang.as_deref(), &headers);
    let next = crate::pages::local_page(form.next.as_deref());
    // Double-submit: only a page this site served can know the cookie.
    if cookie(&headers, CSRF_COOKIE) != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return sign_in_form(
            &headers,
            lang,
            StatusCode::FORBIDDEN,
            Some(t(lang, "signin.csrf")),
            next,
        );
    }
    let refused =
        |status| sign_in_form(&headers, lang, status, Some(t(lang, "signin.failed")), next);
    if form.username.len() > 200 || form.password.len() > 1024 {
        return refused(StatusCode::UNAUTHORIZED);
    }
    let user = state.store.find_user(&form.username).await?;
    let now = now();
    if let Some(user) = &user
        && user.locked_until.is_some_and(|until| until > now)
    {
        return sign_in_form(
            &headers,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            Some(t(lang, "signin.locked")),
            next,
        );
    }
    // An unknown name is checked against a real hash of a throwaway
    // password: the same work, so timing does not tell which names exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = match &user {
        Some(user) => user.password_hash.clone(),
        None => {
            let dummy = tokio::task::spawn_blocking(|| {
                DUMMY
                    .get_or_init(|| hash_password("dasan-no-such-user").unwrap_or_default())
                    .clone()
            });
            dummy.await.map_err(|e| ApiError::internal(&e))?
        }
    };
    let password = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let user = match user {
        Some(user) if matches => user,
        failed => {
            if let Some(user) = failed {
                let failures = user.failed_attempts + 1;
                let lock = (failures >= MAX_FAILURES)
                    .then(|| Timestamp::from_millis(now.millis() + LOCK_MILLIS))
                    .transpose()?;
                state
                    .store
                    .set_sign_in_state(user.id, failures, lock)
                    .await?;
                audit(&state, format!("user:{}", user.id), "user.sign_in_failed").await?;
            }
            return refused(StatusCode::UNAUTHORIZED);
        }
    };
    state.store.set_sign_in_state(user.id, 0, None).await?;
    let secret = random_token()?;
    state
        .store
        .create_session(&SessionRecord {
            id_hash: hash_secret(&secret),
            user_id: user.id,
            csrf_token: random_token()?,
            expires_at: Timestamp::from_millis(now.millis() + SESSION_MILLIS)?,
        })
        .await?;
    audit(&state, format!("user:{}", user.id), "user.sign_in").await?;
    // Back to the page that asked for the sign-in, else the role's own
    // screen: the wallboard for supervisors, the desktop for agents.
    let page = next.unwrap_or(if user.role.may_read_statistics() {
        "/wallboard"
    } else if user.role.may_record_consultations() {
        "/desktop"
    } else {
        "/"
    });
    // The user's own language wins over the sign-in page's.
    let lang = match user.language.as_deref() {
        Some("en") => Lang::En,
        Some("ko") => Lang::Ko,
        _ => lang,
    };
    let target = format!("{page}?lang={}", lang.code());
    let mut response = Redirect::to(&target).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, &secret, SESSION_MILLIS / 1000),
    );
    cookies.append(header::SET_COOKIE, set_cookie(&headers, CSRF_COOKIE, "", 0));
    cookies.append(
        header::SET_COOKIE,
        set_cookie(&headers, "dasan_lang", lang.code(), 365 * 24 * 3600),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct SignOutForm {
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Some((session, user)) = current(&state, &headers).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    match form {
        Ok(Form(form)) if form.csrf == session.csrf_token => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong CSRF token",
            ));
        }
    }
    state.store.delete_session(&session.id_hash).await?;
    audit(&state, format!("user:{}", user.id), "user.sign_out").await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

/// Creates a user with a hashed password (for `dasan user add` and the demo).
pub async fn create_user(
    store: &dasan_store::AnyStore,
    username: &str,
    display_name: &str,
    role: Role,
    password: &str,
) -> Result<UserRecord, String> {
    if username.is_empty() || username.len() > 200 || username.chars().any(char::is_whitespace) {
        return Err("a username is 1 to 200 characters without spaces".into());
    }
    if password.chars().count() < 8 {
        return Err("a password has at least 8 characters".into());
    }
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| e.to_string())??;
    let user = UserRecord {
        id: uuid::Uuid::now_v7(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        role,
        password_hash,
        failed_attempts: 0,
        locked_until: None,
        created_at: now(),
        language: None,
    };
    store.create_user(&user).await.map_err(|e| match e {
        dasan_store::StoreError::Conflict(_) => format!("the username {username:?} is taken"),
        other => other.to_string(),
    })?;
    Ok(user)
}

/// Makes sure a demo account exists for `role` with a fresh random password,
/// which it returns (the demo prints it once; a restart issues new ones).
pub async fn demo_account(
    store: &dasan_store::AnyStore,
    username: &str,
    display_name: &str,
    role: Role,
) -> Result<String, String> {
    let password = random_token().map_err(|_| "no randomness".to_owned())?[..16].to_owned();
    match store.find_user(username).await.map_err(|e| e.to_string())? {
        Some(user) if user.role == role => {
            let for_hash = password.clone();
            let hash = tokio::task::spawn_blocking(move || hash_password(&for_hash))
                .await
                .map_err(|e| e.to_string())??;
            store
                .set_password(user.id, &hash)
                .await
                .map_err(|e| e.to_string())?;
        }
        Some(_) => return Err(format!("{username:?} exists with another role")),
        None => {
            create_user(store, username, display_name, role, &password).await?;
        }
    }
    Ok(password)
}
