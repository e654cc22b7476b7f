//! Browser sign-in over HTTP (through `oneshot`, on a real SQLite store):
//! the form, CSRF, lockout, session cookies, roles, sign-out.

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, app, session::create_user};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

impl Reply {
    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        })
    }

    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect("hidden field") + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    cookies: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if !cookies.is_empty() {
        let joined: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        request = request.header(header::COOKIE, joined.join("; "));
    }
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let body = match body {
        Some((content_type, text)) => {
            request = request.header(header::CONTENT_TYPE, content_type);
            Body::from(text)
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        cookies,
        location,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(fields: &[(&str, &str)]) -> Option<(&'static str, String)> {
    let encoded: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let value: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={value}")
        })
        .collect();
    Some(("application/x-www-form-urlencoded", encoded.join("&")))
}

async fn setup() -> (Router, AnyStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    create_user(&store, "kim", "김감독", Role::Supervisor, "correct horse 1")
        .await
        .expect("supervisor");
    create_user(&store, "lee", "이상담", Role::Agent, "battery staple 2")
        .await
        .expect("agent");
    let state = AppState::load(store.clone(), SEOUL).await.expect("state");
    (app(state), store, dir)
}

/// Signs in through the form as a browser would; returns the session cookie.
async fn sign_in(app: &Router, username: &str, password: &str) -> Reply {
    let page = send(app, "GET", "/", &[], &[], None).await;
    let csrf = page.cookie("dasan_csrf").expect("csrf cookie");
    assert_eq!(page.hidden("csrf"), csrf);
    send(
        app,
        "POST",
        "/signin",
        &[("dasan_csrf", &csrf)],
        &[],
        form(&[
            ("username", username),
            ("password", password),
            ("csrf", &csrf),
        ]),
    )
    .await
}

#[tokio::test]
async fn a_visitor_gets_the_korean_sign_in_form_with_a_csrf_cookie() {
    let (app, _store, _dir) = setup().await;
    let page = send(&app, "GET", "/", &[], &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.starts_with("<!doctype html><html lang=\"ko\">"));
    assert!(page.body.contains("로그인") && page.body.contains("name=\"password\""));
    let csrf = page
        .cookies
        .iter()
        .find(|c| c.starts_with("dasan_csrf="))
        .expect("csrf cookie");
    assert!(csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"));
    let english = send(&app, "GET", "/?lang=en", &[], &[], None).await;
    assert!(english.body.contains("<html lang=\"en\">") && english.body.contains("Sign in"));
    // Neither the reports nor the API are served without a session.
    assert_eq!(
        send(&app, "GET", "/reports", &[], &[], None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_in_sets_a_strict_session_cookie_and_roles_apply() {
    let (app, store, _dir) = setup().await;
    let reply = sign_in(&app, "kim", "correct horse 1").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some("/wallboard?lang=ko"));
    let set = reply
        .cookies
        .iter()
        .find(|c| c.starts_with("dasan_session="))
        .expect("session cookie");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"));
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
    let session = reply.cookie("dasan_session").expect("session");

    let reports = send(
        &app,
        "GET",
        "/reports",
        &[("dasan_session", &session)],
        &[],
        None,
    )
    .await;
    assert_eq!(reports.status, StatusCode::OK);
    assert!(reports.body.contains("상담 통계 보고서"));

    // An agent is signed in too, but the reports are not theirs.
    let agent = sign_in(&app, "lee", "battery staple 2").await;
    assert_eq!(agent.location.as_deref(), Some("/desktop?lang=ko"));
    let agent_session = agent.cookie("dasan_session").expect("session");
    let refused = send(
        &app,
        "GET",
        "/reports",
        &[("dasan_session", &agent_session)],
        &[],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // A forged cookie is nobody.
    let forged = send(
        &app,
        "GET",
        "/reports",
        &[("dasan_session", "AAAA")],
        &[],
        None,
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    // Over HTTPS (behind a proxy) the cookie is Secure.
    let page = send(
        &app,
        "GET",
        "/",
        &[],
        &[("x-forwarded-proto", "https")],
        None,
    )
    .await;
    assert!(page.cookies.iter().any(|c| c.contains("Secure")));

    let audit = store.audit_entries(10).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "user.sign_in"));
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token_and_sign_out_ends_the_session() {
    let (app, _store, _dir) = setup().await;
    let session = sign_in(&app, "lee", "battery staple 2")
        .await
        .cookie("dasan_session")
        .expect("session");
    let home = send(&app, "GET", "/", &[("dasan_session", &session)], &[], None).await;
    assert!(home.body.contains("이상담"));
    let csrf = home.hidden("csrf");
    let body = r#"{"channel":"voice","category":"water","citizen_phone":"010-2222-1200","summary":"s","started_at":"2026-11-28T10:00:00+09:00","ended_at":"2026-11-28T10:01:00+09:00","outcome":"answered"}"#;
    let without = send(
        &app,
        "POST",
        "/api/v1/consultations",
        &[("dasan_session", &session)],
        &[],
        Some(("application/json", body.to_owned())),
    )
    .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN, "{}", without.body);
    assert!(without.body.contains("\"csrf\""));
    let with = send(
        &app,
        "POST",
        "/api/v1/consultations",
        &[("dasan_session", &session)],
        &[("x-csrf-token", &csrf)],
        Some(("application/json", body.to_owned())),
    )
    .await;
    assert_eq!(with.status, StatusCode::CREATED, "{}", with.body);

    let wrong = send(
        &app,
        "POST",
        "/signout",
        &[("dasan_session", &session)],
        &[],
        form(&[("csrf", "nope")]),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let out = send(
        &app,
        "POST",
        "/signout",
        &[("dasan_session", &session)],
        &[],
        form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = send(
        &app,
        "GET",
        "/api/v1/categories",
        &[("dasan_session", &session)],
        &[],
        None,
    )
    .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone"
    );
}

#[tokio::test]
async fn forged_forms_and_repeated_failures_are_refused() {
    let (app, store, _dir) = setup().await;
    // No CSRF cookie (a form posted from another site).
    let forged = send(
        &app,
        "POST",
        "/signin",
        &[],
        &[],
        form(&[
            ("username", "kim"),
            ("password", "correct horse 1"),
            ("csrf", "x"),
        ]),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.cookie("dasan_session").is_none());
    // Garbage instead of a form.
    let garbage = send(
        &app,
        "POST",
        "/signin",
        &[],
        &[],
        Some(("text/plain", "\u{0}".into())),
    )
    .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    // Unknown name and wrong password: the same answer.
    let unknown = sign_in(&app, "nobody", "whatever 123").await;
    let wrong = sign_in(&app, "kim", "wrong password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown
            .body
            .contains("아이디 또는 비밀번호가 올바르지 않습니다.")
    );
    assert!(
        wrong
            .body
            .contains("아이디 또는 비밀번호가 올바르지 않습니다.")
    );
    for _ in 1..dasan_web::session::MAX_FAILURES {
        assert_eq!(
            sign_in(&app, "kim", "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked: even the right password waits.
    let locked = sign_in(&app, "kim", "correct horse 1").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.cookie("dasan_session").is_none());
    let user = store.find_user("kim").await.expect("find").expect("user");
    assert_eq!(user.failed_attempts, dasan_web::session::MAX_FAILURES);
    assert!(user.locked_until.is_some());
    // The other account is unaffected.
    assert_eq!(
        sign_in(&app, "lee", "battery staple 2").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_users_language_follows_them_to_a_new_browser() {
    let (app, store, _dir) = setup().await;
    let user = store.find_user("kim").await.expect("read").expect("user");
    store
        .set_user_language(user.id, Some("en"))
        .await
        .expect("language");
    // A fresh browser (no cookies) signs in on the Korean form.
    let reply = sign_in(&app, "kim", "correct horse 1").await;
    assert_eq!(reply.location.as_deref(), Some("/wallboard?lang=en"));
    assert_eq!(reply.cookie("dasan_lang").as_deref(), Some("en"));
    // Someone without a preference keeps the form's language.
    let reply = sign_in(&app, "lee", "battery staple 2").await;
    assert_eq!(reply.location.as_deref(), Some("/desktop?lang=ko"));
}
