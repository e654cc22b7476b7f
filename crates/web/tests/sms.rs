//! The SMS edge end to end on loopback: signed webhooks (Twilio-style and
//! native) stored idempotently and threaded on the floor, replies through the
//! outbox to a real HTTP gateway stand-in that goes down and comes back,
//! delivery reports, opt-outs, and every refusal.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::post,
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, SessionRecord, Store};
use dasan_web::{
    AppState, app, auth,
    floor::FloorConfig,
    session::create_user,
    sms::{SmsConfig, native_signature, twilio_signature},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "twilio-auth-token";
const NATIVE: &str = "native-secret";
const PUBLIC: &str = "https://center.example";

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// The gateway's media store: a real PNG, an HTML page and a file over the
/// test's 10,000-byte limit.
async fn start_media_server() -> SocketAddr {
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .expect("png");
    let app = Router::new()
        .route(
            "/photo",
            axum::routing::get(move || async move { png.clone() }),
        )
        .route(
            "/fake",
            axum::routing::get(|| async { "<html><script>alert(1)</script></html>" }),
        )
        .route(
            "/big",
            axum::routing::get(|| async {
                let mut gif = b"GIF89a".to_vec();
                gif.resize(20_000, 0);
                gif
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// The gateway stand-in: answers 503 while `down`, else 200 with its own id
/// for the message; remembers every POST it answered 200.
#[derive(Default)]
struct Gateway {
    down: bool,
    accepted: Vec<Value>,
    refused: usize,
}

async fn start_gateway() -> (SocketAddr, Arc<Mutex<Gateway>>) {
    let gateway = Arc::new(Mutex::new(Gateway {
        down: true,
        ..Gateway::default()
    }));
    let shared = gateway.clone();
    let app = Router::new().route(
        "/send",
        post(move |body: axum::body::Bytes| {
            let shared = shared.clone();
            async move {
                let mut gateway = shared.lock().expect("gateway");
                if gateway.down {
                    gateway.refused += 1;
                    return (StatusCode::SERVICE_UNAVAILABLE, String::new());
                }
                let message: Value = serde_json::from_slice(&body).expect("JSON from Dasan");
                let id = format!("GW-{}", gateway.accepted.len() + 1);
                gateway.accepted.push(message);
                (StatusCode::OK, json!({ "id": id }).to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, gateway)
}

struct Center {
    app: Router,
    store: AnyStore,
    admin: String,
    agent_cookie: String,
    other_cookie: String,
    _dir: tempfile::TempDir,
}

async fn center(gateway: Option<SocketAddr>) -> Center {
    center_with(gateway, None, None).await
}

async fn center_with(
    gateway: Option<SocketAddr>,
    auto_ack: Option<&str>,
    surveys: Option<dasan_web::survey::SurveyConfig>,
) -> Center {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let issued = auth::issue_token(Role::Admin, "gateway tests").expect("token");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("token");
    let mut sessions = Vec::new();
    for name in ["lee", "park"] {
        let user = create_user(&store, name, name, Role::Agent, "a long password")
            .await
            .expect("user");
        store
            .create_session(&SessionRecord {
                id_hash: auth::hash_secret(&format!("cookie-{name}")),
                user_id: user.id,
                csrf_token: format!("csrf-{name}"),
                expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                    .expect("time"),
            })
            .await
            .expect("session");
        sessions.push(format!("cookie-{name}"));
    }
    let mut sms = SmsConfig::new();
    sms.twilio_auth_token = Some(TOKEN.into());
    sms.native_secret = Some(NATIVE.into());
    sms.public_url = Some(PUBLIC.into());
    sms.outbound_url = gateway.map(|a| format!("http://{a}/send"));
    sms.retry_base_millis = 20;
    sms.media_dir = Some(dir.path().join("media"));
    sms.media_max_bytes = 10_000;
    sms.auto_ack = auto_ack.map(str::to_owned);
    sms.retry_max_millis = 100;
    let config = FloorConfig {
        offer_timeout_millis: 600_000,
        ..FloorConfig::default()
    };
    let state = AppState::load_with(store.clone(), SEOUL, config)
        .await
        .expect("state")
        .with_sms(sms);
    let state = match surveys {
        Some(surveys) => state.with_surveys(surveys),
        None => state,
    };
    Center {
        app: app(state),
        store,
        admin: issued.secret,
        agent_cookie: sessions[0].clone(),
        other_cookie: sessions[1].clone(),
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(params: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(params).expect("form")
}

/// A Twilio-style webhook, signed with `token` over the public URL.
async fn twilio(
    center: &Center,
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Reply {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "internal:8120");
    if let Some(token) = token {
        request = request.header(
            "x-twilio-signature",
            twilio_signature(token, &format!("{PUBLIC}{path}"), &owned),
        );
    }
    call(
        &center.app,
        request.body(Body::from(form(params))).expect("request"),
    )
    .await
}

fn sms<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("From", "010-2222-1200"),
        ("To", "+8212120"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
}

async fn api(center: &Center, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", center.admin));
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    call(&center.app, request.body(body).expect("request")).await
}

async fn as_agent(
    center: &Center,
    cookie: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, format!("dasan_session={cookie}"))
        .header("x-csrf-token", cookie.replace("cookie-", "csrf-"));
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    call(&center.app, request.body(body).expect("request")).await
}

async fn messages(center: &Center) -> Vec<Value> {
    let reply = api(
        center,
        "GET",
        "/api/v1/messages?citizen_phone=010-2222-1200",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["messages"].as_array().expect("list").clone()
}

/// Polls `condition` (bounded: a wait for background work, not a timing
/// assertion).
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_texts_are_stored_once_and_threaded() {
    let center = center(None).await;
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM1", "N26 버스 노선이 궁금합니다"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body.contains("<Response>"));
    let stored = messages(&center).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["direction"], "inbound");
    assert_eq!(stored[0]["body"], "N26 버스 노선이 궁금합니다");
    let thread = stored[0]["interaction_id"]
        .as_str()
        .expect("threaded")
        .to_owned();
    let interaction = api(
        &center,
        "GET",
        &format!("/api/v1/interactions/{thread}"),
        None,
    )
    .await
    .json();
    assert_eq!(interaction["channel"], "sms");
    assert_eq!(
        interaction["category"], "transport",
        "suggested from the words"
    );
    assert_eq!(interaction["queue"], "sms/transport");
    assert_eq!(interaction["state"], "queued");

    // The gateway retries the same webhook: acknowledged, not duplicated.
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM1", "N26 버스 노선이 궁금합니다"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(messages(&center).await.len(), 1);
    // A second text joins the open thread.
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM2", "막차 시간도요"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let stored = messages(&center).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["interaction_id"], thread.as_str());
    let interaction = api(
        &center,
        "GET",
        &format!("/api/v1/interactions/{thread}"),
        None,
    )
    .await
    .json();
    assert_eq!(interaction["messages"], 2);

    // Unsigned, wrongly signed or signed for another URL: refused, nothing stored.
    for token in [None, Some("wrong-token")] {
        let reply = twilio(&center, "/webhooks/sms/twilio", &sms("SM3", "위조"), token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "bad_signature");
    }
    let mut tampered = Request::post("/webhooks/sms/twilio")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            twilio_signature(
                TOKEN,
                &format!("{PUBLIC}/webhooks/sms/twilio"),
                &[("Body".into(), "원래".into())],
            ),
        )
        .body(Body::from(form(&[("Body", "바뀐 내용")])))
        .expect("request");
    tampered
        .headers_mut()
        .insert(header::HOST, "internal".parse().expect("host"));
    assert_eq!(
        call(&center.app, tampered).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(messages(&center).await.len(), 2);

    // Signed but malformed: a clear 4xx each, nothing stored.
    let long = "가".repeat(2001);
    let cases: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        (
            vec![("MessageSid", "SM4"), ("From", "12"), ("Body", "x")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("MessageSid", "SM5"),
                ("From", "010-2222-1200"),
                ("Body", long.as_str()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("MessageSid", "SM6"),
                ("From", "010-2222-1200"),
                ("Body", "x"),
                ("NumMedia", "many"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("MessageSid", "SM7"),
                ("From", "010-2222-1200"),
                ("NumMedia", "1"),
                ("MediaUrl0", "https://gw.example/m/1"),
                ("MediaContentType0", "application/pdf"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("MessageSid", "SM8"),
                ("From", "010-2222-1200"),
                ("NumMedia", "1"),
                ("MediaUrl0", "file:///etc/passwd"),
                ("MediaContentType0", "image/png"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![("From", "010-2222-1200"), ("Body", "no id")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("MessageSid", "SM9"),
                ("From", "010-2222-1200"),
                ("Body", ""),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (params, status) in cases {
        let reply = twilio(&center, "/webhooks/sms/twilio", &params, Some(TOKEN)).await;
        assert_eq!(reply.status, status, "{params:?}: {}", reply.body);
        assert!(reply.json()["error"]["code"].is_string());
    }
    assert_eq!(messages(&center).await.len(), 2);

    // MMS with photos, served by the gateway: the type comes from the
    // bytes (a PNG the gateway calls JPEG is kept as PNG), an HTML page
    // claimed as an image and an oversized file are refused.
    let media = start_media_server().await;
    let png_url = format!("http://{media}/photo");
    let fake_url = format!("http://{media}/fake");
    let big_url = format!("http://{media}/big");
    let mms = [
        ("MessageSid", "MM1"),
        ("From", "010-3333-1200"),
        ("Body", "보도블럭이 깨졌어요"),
        ("NumMedia", "3"),
        ("MediaUrl0", png_url.as_str()),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", fake_url.as_str()),
        ("MediaContentType1", "image/jpeg"),
        ("MediaUrl2", big_url.as_str()),
        ("MediaContentType2", "image/gif"),
    ];
    let reply = twilio(&center, "/webhooks/sms/twilio", &mms, Some(TOKEN)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut mms = Value::Null;
    for _ in 0..200 {
        let reply = api(
            &center,
            "GET",
            "/api/v1/messages?citizen_phone=01033331200",
            None,
        )
        .await;
        mms = reply.json()["messages"][0].clone();
        if mms["media"]
            .as_array()
            .is_some_and(|items| items.iter().all(|m| m["status"] != "pending"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(mms["kind"], "mms");
    assert_eq!(mms["media"][0]["status"], "stored", "{mms}");
    assert_eq!(mms["media"][0]["content_type"], "image/png");
    assert_eq!(mms["media"][0]["claimed_type"], "image/jpeg");
    assert_eq!(mms["media"][1]["status"], "refused");
    assert_eq!(mms["media"][2]["status"], "refused");
    let id = mms["id"].as_str().expect("id");
    let photo = call(
        &center.app,
        Request::get(format!("/api/v1/messages/{id}/media/0"))
            .header(header::AUTHORIZATION, format!("Bearer {}", center.admin))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(photo.status, StatusCode::OK);
    // (The helper reads bodies as text: the PNG signature's first byte is
    // not UTF-8.)
    assert!(
        photo.body.starts_with("\u{FFFD}PNG\r\n"),
        "{:?}",
        &photo.body[..8.min(photo.body.len())]
    );
    for index in [1, 2, 9] {
        let reply = api(
            &center,
            "GET",
            &format!("/api/v1/messages/{id}/media/{index}"),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{index}");
    }

    // The native JSON webhook: signed over the raw body.
    let body =
        json!({"id": "N-1", "from": "010-4444-1200", "to": "120", "body": "쓰레기 수거 문의"})
            .to_string();
    let native = |body: String, signature: String| {
        Request::post("/webhooks/sms/native")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-dasan-signature", signature)
            .body(Body::from(body))
            .expect("request")
    };
    let reply = call(
        &center.app,
        native(body.clone(), native_signature(NATIVE, body.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["duplicate"], false);
    let reply = call(
        &center.app,
        native(body.clone(), native_signature(NATIVE, body.as_bytes())),
    )
    .await;
    assert_eq!(reply.json()["duplicate"], true);
    let reply = call(
        &center.app,
        native(body.clone(), native_signature("other", body.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Inline photo bytes (native gateways may push them): checked and
    // stored before the answer.
    let inline = json!({"id": "N-3", "from": "010-6666-1200", "media": [{"content_type": "image/png", "data": PNG}]}).to_string();
    let reply = call(
        &center.app,
        native(inline.clone(), native_signature(NATIVE, inline.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = api(
        &center,
        "GET",
        "/api/v1/messages?citizen_phone=010-6666-1200",
        None,
    )
    .await;
    assert_eq!(reply.json()["messages"][0]["media"][0]["status"], "stored");
    let bad = json!({"id": "N-4", "from": "010-6666-1200", "media": [{"content_type": "image/png", "data": "%%%"}]}).to_string();
    let reply = call(
        &center.app,
        native(bad.clone(), native_signature(NATIVE, bad.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let broken = "{\"id\":".to_owned();
    let reply = call(
        &center.app,
        native(broken.clone(), native_signature(NATIVE, broken.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let odd = json!({"id": "N-2", "from": "010-4444-1200", "colour": "red"}).to_string();
    let reply = call(
        &center.app,
        native(odd.clone(), native_signature(NATIVE, odd.as_bytes())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Opt-out words are honoured and do not open a contact.
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &[
            ("MessageSid", "SM10"),
            ("From", "010-5555-1200"),
            ("Body", "수신 거부"),
        ],
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let citizen = dasan_core::PhoneNumber::parse("010-5555-1200").expect("phone");
    assert!(center.store.is_opted_out(&citizen).await.expect("opt-out"));
    let reply = api(
        &center,
        "GET",
        "/api/v1/messages?citizen_phone=010-5555-1200",
        None,
    )
    .await;
    assert!(reply.json()["messages"][0]["interaction_id"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_the_gateway_exactly_once_across_an_outage() {
    let (gateway_address, gateway) = start_gateway().await;
    let center = center(Some(gateway_address)).await;
    // The agent is available: the text is offered and accepted.
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({"presence":"available"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM1", "수도 요금이 많이 나왔어요"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let thread = messages(&center).await[0]["interaction_id"]
        .as_str()
        .expect("thread")
        .to_owned();
    let screen = as_agent(
        &center,
        &center.agent_cookie,
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await
    .json();
    assert_eq!(screen["offer"]["id"], thread.as_str());
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        &format!("/api/v1/interactions/{thread}/accept"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Another agent can neither read nor answer the thread.
    desktop_join(&center, &center.other_cookie).await;
    for (method, body) in [("GET", None), ("POST", Some(json!({"body":"x"})))] {
        let reply = as_agent(
            &center,
            &center.other_cookie,
            method,
            &format!("/api/v1/interactions/{thread}/messages"),
            body,
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method}");
    }

    // The gateway is down: the reply is accepted, kept and retried.
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        &format!("/api/v1/interactions/{thread}/messages"),
        Some(json!({"body":"확인해 보겠습니다."})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let sent = reply.json();
    assert_eq!(
        (sent["kind"].as_str(), sent["cost_won"].as_i64()),
        (Some("sms"), Some(20))
    );
    eventually("three refused attempts", async || {
        gateway.lock().expect("gateway").refused >= 3
    })
    .await;
    let thread_view = as_agent(
        &center,
        &center.agent_cookie,
        "GET",
        &format!("/api/v1/interactions/{thread}/messages"),
        None,
    )
    .await
    .json();
    let outbound = &thread_view["messages"][1];
    assert_eq!(outbound["status"], "retrying");
    assert!(outbound["attempts"].as_i64() >= Some(3));

    // Back up: delivered once, with the message's stable id.
    gateway.lock().expect("gateway").down = false;
    eventually("the reply sent", async || {
        messages(&center)
            .await
            .iter()
            .any(|m| m["direction"] == "outbound" && m["status"] == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let gateway = gateway.lock().expect("gateway");
        assert_eq!(
            gateway.accepted.len(),
            1,
            "sent exactly once: {:?}",
            gateway.accepted
        );
        let delivered = &gateway.accepted[0];
        assert_eq!(delivered["id"], sent["id"]);
        assert_eq!(delivered["to"], "+821022221200");
        assert_eq!(delivered["body"], "확인해 보겠습니다.");
    }

    // The delivery report moves the status on.
    let report = [("MessageSid", "GW-1"), ("MessageStatus", "delivered")];
    let reply = twilio(&center, "/webhooks/sms/twilio/status", &report, Some(TOKEN)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let outbound: Vec<Value> = messages(&center)
        .await
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(outbound[0]["status"], "delivered");
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio/status",
        &[("MessageSid", "GW-404"), ("MessageStatus", "delivered")],
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio/status",
        &[("MessageSid", "GW-1"), ("MessageStatus", "exploded")],
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A long reply goes as LMS at the LMS price; an empty or huge one is refused.
    let long = "수도 요금 감면 대상과 신청 방법을 안내해 드립니다. ".repeat(4);
    let reply = api(
        &center,
        "POST",
        &format!("/api/v1/interactions/{thread}/messages"),
        Some(json!({"body": long})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(
        (
            reply.json()["kind"].as_str(),
            reply.json()["cost_won"].as_i64()
        ),
        (Some("lms"), Some(50))
    );
    for body in [
        json!({"body":"   "}),
        json!({"body": "가".repeat(1001)}),
        json!({"text":"x"}),
    ] {
        let reply = api(
            &center,
            "POST",
            &format!("/api/v1/interactions/{thread}/messages"),
            Some(body),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
    eventually("the LMS sent", async || {
        gateway.lock().expect("gateway").accepted.len() == 2
    })
    .await;

    // What the texts cost, for the city's budget: one SMS (20) and one LMS (50).
    let costs = api(&center, "GET", "/api/v1/stats/messages", None).await;
    assert_eq!(costs.status, StatusCode::OK, "{}", costs.body);
    assert_eq!(costs.json()["outbound_cost_won"], 70, "{}", costs.body);
    let reply = api(
        &center,
        "GET",
        "/api/v1/stats/messages?from=not-a-date",
        None,
    )
    .await;
    assert!(reply.status.is_client_error());
    // The agent closes the thread with its consultation.
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        &format!("/api/v1/interactions/{thread}/complete"),
        Some(json!({"category":"water.bill","summary":"요금 감면 안내","outcome":"answered"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["channel"], "sms");

    // An opted-out citizen is sent nothing.
    let citizen = dasan_core::PhoneNumber::parse("010-2222-1200").expect("phone");
    center
        .store
        .set_opt_out(
            &citizen,
            true,
            dasan_core::Timestamp::from_millis(0).expect("time"),
        )
        .await
        .expect("opt out");
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM2", "또 문의합니다"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let second = messages(&center)
        .await
        .into_iter()
        .rev()
        .find(|m| m["direction"] == "inbound")
        .expect("inbound");
    let new_thread = second["interaction_id"]
        .as_str()
        .expect("a new thread")
        .to_owned();
    assert_ne!(new_thread, thread, "a closed thread is not reopened");
    let reply = api(
        &center,
        "POST",
        &format!("/api/v1/interactions/{new_thread}/messages"),
        Some(json!({"body":"안내"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    eventually("the opted-out reply settled", async || {
        messages(&center)
            .await
            .iter()
            .any(|m| m["status"] == "opted_out")
    })
    .await;
    assert_eq!(
        gateway.lock().expect("gateway").accepted.len(),
        2,
        "nothing sent to an opted-out number"
    );
}

async fn desktop_join(center: &Center, cookie: &str) {
    let reply = as_agent(center, cookie, "GET", "/api/v1/desktop/state", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_threads_come_back_after_a_restart() {
    let center = center(None).await;
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SM1", "가로등이 꺼졌어요"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let thread = messages(&center).await[0]["interaction_id"]
        .as_str()
        .expect("thread")
        .to_owned();
    // A second server on the same database: its floor starts empty.
    let mut config = SmsConfig::new();
    config.twilio_auth_token = Some(TOKEN.into());
    config.public_url = Some(PUBLIC.into());
    let restarted = AppState::load(center.store.clone(), SEOUL)
        .await
        .expect("state")
        .with_sms(config);
    assert!(
        restarted
            .floor
            .interaction(uuid::Uuid::parse_str(&thread).expect("uuid"))
            .is_none()
    );
    assert_eq!(restarted.recover_text_threads().await.expect("recover"), 1);
    assert_eq!(
        restarted.recover_text_threads().await.expect("again"),
        0,
        "idempotent"
    );
    let view = restarted
        .floor
        .interaction(uuid::Uuid::parse_str(&thread).expect("uuid"))
        .expect("back");
    assert_eq!(view.category.as_deref(), Some("safety"));
    // The citizen's next text joins the recovered thread.
    let restarted_center = Center {
        app: app(restarted),
        ..center
    };
    let reply = twilio(
        &restarted_center,
        "/webhooks/sms/twilio",
        &sms("SM2", "아직도요"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let stored = messages(&restarted_center).await;
    assert_eq!(stored[1]["interaction_id"], thread.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_acknowledgment_answers_each_new_thread_once() {
    let (gateway_address, gateway) = start_gateway().await;
    gateway.lock().expect("gateway").down = false;
    let center = center_with(
        Some(gateway_address),
        Some("120다산콜센터입니다. 곧 답변드리겠습니다."),
        None,
    )
    .await;
    for (sid, body) in [("SM1", "주차 문의"), ("SM2", "하나 더요")] {
        let reply = twilio(
            &center,
            "/webhooks/sms/twilio",
            &sms(sid, body),
            Some(TOKEN),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    eventually("the acknowledgment sent", async || {
        gateway.lock().expect("gateway").accepted.len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let gateway = gateway.lock().expect("gateway");
    assert_eq!(gateway.accepted.len(), 1, "once per thread, not per text");
    assert_eq!(
        gateway.accepted[0]["body"],
        "120다산콜센터입니다. 곧 답변드리겠습니다."
    );
    assert_eq!(
        gateway.accepted[0]["type"], "sms",
        "34 bytes of Hangul fit an SMS? {:?}",
        gateway.accepted[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_holds_several_text_threads_up_to_its_capacity() {
    let center = center(None).await;
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({"presence":"available"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let mut threads = Vec::new();
    for n in 0..4 {
        let phone = format!("010-8000-{n:04}");
        let sid = format!("SMcap{n}");
        let params = [
            ("MessageSid", sid.as_str()),
            ("From", phone.as_str()),
            ("Body", "문의드립니다"),
        ];
        let reply = twilio(&center, "/webhooks/sms/twilio", &params, Some(TOKEN)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let reply = api(
            &center,
            "GET",
            &format!("/api/v1/messages?citizen_phone={phone}"),
            None,
        )
        .await;
        threads.push(
            reply.json()["messages"][0]["interaction_id"]
                .as_str()
                .expect("thread")
                .to_owned(),
        );
    }
    // Offers come one at a time; each accepted thread leaves room for the
    // next until the agent holds three (the default text capacity).
    for thread in &threads[..3] {
        let screen = as_agent(
            &center,
            &center.agent_cookie,
            "GET",
            "/api/v1/desktop/state",
            None,
        )
        .await
        .json();
        assert_eq!(screen["offer"]["id"], thread.as_str(), "{screen}");
        let reply = as_agent(
            &center,
            &center.agent_cookie,
            "POST",
            &format!("/api/v1/interactions/{thread}/accept"),
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let screen = as_agent(
        &center,
        &center.agent_cookie,
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await
    .json();
    assert_eq!(screen["contacts"].as_array().map(Vec::len), Some(3));
    assert!(screen["offer"].is_null(), "full: the fourth waits");
    let fourth = api(
        &center,
        "GET",
        &format!("/api/v1/interactions/{}", threads[3]),
        None,
    )
    .await
    .json();
    assert_eq!(fourth["state"], "queued");
    // Closing one thread (with its consultation) frees a place for it.
    let reply = as_agent(
        &center,
        &center.agent_cookie,
        "POST",
        &format!("/api/v1/interactions/{}/complete", threads[0]),
        Some(json!({"category":"other","summary":"안내","outcome":"answered"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // (No after-work on text threads: the next one is offered at once.)
    let screen = as_agent(
        &center,
        &center.agent_cookie,
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await
    .json();
    assert_eq!(screen["offer"]["id"], threads[3].as_str(), "{screen}");
}

fn consultation_body(phone: &str) -> Value {
    json!({"channel":"voice","category":"transport","citizen_phone":phone,"summary":"노선 안내",
           "started_at":"2026-11-28T10:00:00+09:00","ended_at":"2026-11-28T10:03:10+09:00","outcome":"answered"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_goes_out_after_the_contact_and_its_answer_counts() {
    let (gateway_address, gateway) = start_gateway().await;
    gateway.lock().expect("gateway").down = false;
    let surveys = dasan_web::survey::SurveyConfig {
        delay_seconds: 0,
        quiet_hours: None,
        ..Default::default()
    };
    let center = center_with(Some(gateway_address), None, Some(surveys)).await;
    let reply = api(
        &center,
        "POST",
        "/api/v1/consultations",
        Some(consultation_body("010-2222-1200")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    eventually("the survey at the gateway", async || {
        gateway.lock().expect("gateway").accepted.len() == 1
    })
    .await;
    {
        let gateway = gateway.lock().expect("gateway");
        assert_eq!(gateway.accepted[0]["to"], "+821022221200");
        assert!(
            gateway.accepted[0]["body"]
                .as_str()
                .unwrap_or_default()
                .contains("1(매우 불만)~5(매우 만족)")
        );
    }
    // The citizen answers "5": recorded, not routed, and in the figures.
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SMs1", "5"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let stats = api(&center, "GET", "/api/v1/stats", None).await.json();
    assert_eq!(
        stats["satisfaction"]["responses"], 1,
        "{}",
        stats["satisfaction"]
    );
    assert_eq!(stats["satisfaction"]["satisfied_share"], 1.0);
    assert_eq!(stats["satisfaction"]["response_rate"], 1.0);
    assert_eq!(stats["satisfaction_by_month"][0]["month"], "2026-11");
    let inbound = messages(&center).await;
    assert!(
        inbound
            .iter()
            .filter(|m| m["direction"] == "inbound")
            .all(|m| m["interaction_id"].is_null()),
        "an answer is not a contact"
    );
    // A second thought within the window updates it (full-width digit).
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SMs2", "２점"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let stats = api(&center, "GET", "/api/v1/stats", None).await.json();
    assert_eq!(
        (
            stats["satisfaction"]["responses"].as_u64(),
            stats["satisfaction"]["mean"].as_f64()
        ),
        (Some(1), Some(2.0))
    );
    // The same webhook again changes nothing; words that are not a score
    // are a new text contact, not lost.
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SMs2", "２점"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SMs3", "그런데 막차 시간은요?"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let last = messages(&center).await.into_iter().last().expect("message");
    assert!(last["interaction_id"].is_string(), "routed: {last}");

    // A late answer (the window is a day) is a text like any other.
    let citizen = dasan_core::PhoneNumber::parse("010-2222-1200").expect("phone");
    let mut survey = center
        .store
        .last_survey_for(&citizen)
        .await
        .expect("read")
        .expect("survey");
    survey.sent_at = Some(
        dasan_core::Timestamp::from_millis(survey.sent_at.expect("sent").millis() - 2 * 86_400_000)
            .expect("time"),
    );
    center.store.update_survey(&survey).await.expect("age it");
    let reply = twilio(
        &center,
        "/webhooks/sms/twilio",
        &sms("SMs4", "4"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let stats = api(&center, "GET", "/api/v1/stats", None).await.json();
    assert_eq!(
        stats["satisfaction"]["mean"].as_f64(),
        Some(2.0),
        "the late 4 did not count"
    );

    // Once per citizen per period: the next consultation is not surveyed.
    let reply = api(
        &center,
        "POST",
        "/api/v1/consultations",
        Some(consultation_body("010-2222-1200")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // An opted-out citizen gets nothing either.
    let opted = dasan_core::PhoneNumber::parse("010-9999-1200").expect("phone");
    center
        .store
        .set_opt_out(
            &opted,
            true,
            dasan_core::Timestamp::from_millis(0).expect("time"),
        )
        .await
        .expect("opt out");
    let reply = api(
        &center,
        "POST",
        "/api/v1/consultations",
        Some(consultation_body("010-9999-1200")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let skipped = center
        .store
        .last_survey_for(&opted)
        .await
        .expect("read")
        .expect("survey");
    assert_eq!(
        (skipped.status.as_str(), skipped.skip_reason.as_deref()),
        ("skipped", Some("opted_out"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        gateway.lock().expect("gateway").accepted.len(),
        1,
        "one survey SMS in all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_survey_goes_out_in_the_quiet_hours() {
    use chrono::Timelike;
    let (gateway_address, gateway) = start_gateway().await;
    gateway.lock().expect("gateway").down = false;
    // The quiet hours are made to cover now (Seoul time): the clock the
    // survey task reads is the real one, the hours are injected.
    let hour = chrono::Utc::now().with_timezone(&SEOUL).hour();
    let surveys = dasan_web::survey::SurveyConfig {
        delay_seconds: 0,
        quiet_hours: Some((hour, (hour + 2) % 24)),
        ..Default::default()
    };
    let center = center_with(Some(gateway_address), None, Some(surveys)).await;
    let reply = api(
        &center,
        "POST",
        "/api/v1/consultations",
        Some(consultation_body("010-2222-1200")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let citizen = dasan_core::PhoneNumber::parse("010-2222-1200").expect("phone");
    eventually(
        "the survey moved to the end of the quiet hours",
        async || {
            center
                .store
                .last_survey_for(&citizen)
                .await
                .expect("read")
                .is_some_and(|s| {
                    s.due_at.millis()
                        > dasan_core::Timestamp::from_datetime(chrono::Utc::now())
                            .expect("now")
                            .millis()
                            + 60_000
                })
        },
    )
    .await;
    let survey = center
        .store
        .last_survey_for(&citizen)
        .await
        .expect("read")
        .expect("survey");
    assert_eq!(survey.status, "scheduled");
    let local = survey.due_at.as_datetime().with_timezone(&SEOUL);
    assert_eq!(
        (local.hour(), local.minute()),
        ((hour + 2) % 24, 0),
        "due at the end of the quiet hours"
    );
    assert!(
        gateway.lock().expect("gateway").accepted.is_empty(),
        "nothing sent at night"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_contact_is_surveyed_by_a_signed_single_use_link() {
    let surveys = dasan_web::survey::SurveyConfig {
        delay_seconds: 0,
        quiet_hours: None,
        link_secret: dasan_web::web_survey::LinkSecret::new(b"a test link secret".to_vec()),
        ..Default::default()
    };
    let secret = surveys.link_secret.clone();
    // No SMS gateway at all: the web survey needs none.
    let center = center_with(None, None, Some(surveys)).await;
    let mut body = consultation_body("010-3333-1200");
    body["channel"] = json!("web");
    let created = api(&center, "POST", "/api/v1/consultations", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.json()["id"].as_str().expect("id").to_owned();

    let link = api(
        &center,
        "GET",
        &format!("/api/v1/consultations/{id}/survey-link"),
        None,
    )
    .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    let url = link.json()["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("{PUBLIC}/survey/")), "{url}");
    let path = url.trim_start_matches(PUBLIC).to_owned();
    let get = |path: String| {
        let app = center.app.clone();
        async move {
            call(
                &app,
                Request::builder()
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
        }
    };
    let post = |path: String, form: &str| {
        let app = center.app.clone();
        let form = form.to_owned();
        async move {
            call(
                &app,
                Request::builder()
                    .method("POST")
                    .uri(path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(form))
                    .expect("request"),
            )
            .await
        }
    };
    let page = get(path.clone()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("오늘 상담은 어떠셨나요?")
            && page.body.contains(r#"name="score" value="5""#)
    );

    // A missing or impossible score asks again; nothing is recorded.
    for form in ["", "score=9", "score=abc", "score=0"] {
        let reply = post(path.clone(), form).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{form}");
        assert!(reply.body.contains("1에서 5 가운데"), "{form}");
    }
    let thanks = post(path.clone(), "score=4").await;
    assert_eq!(thanks.status, StatusCode::OK, "{}", thanks.body);
    assert!(thanks.body.contains("고맙습니다"));
    let stats = api(&center, "GET", "/api/v1/stats", None).await.json();
    assert_eq!(stats["satisfaction"]["responses"], 1, "{stats}");
    assert_eq!(stats["satisfaction"]["satisfied_share"], 1.0, "{stats}");

    // Per agent (this one came through the API, with no agent).
    let agents = api(&center, "GET", "/api/v1/stats/satisfaction/agents", None)
        .await
        .json();
    assert_eq!(
        agents["agents"].as_array().map(Vec::len),
        Some(1),
        "{agents}"
    );
    assert_eq!(agents["agents"][0]["agent_id"], Value::Null);
    assert_eq!(agents["agents"][0]["responses"], 1);
    assert_eq!(agents["agents"][0]["mean"], 4.0);
    assert_eq!(agents["agents"][0]["response_rate"], 1.0);
    let voice_only = api(
        &center,
        "GET",
        "/api/v1/stats/satisfaction/agents?channel=voice",
        None,
    )
    .await
    .json();
    assert_eq!(voice_only["agents"], json!([]));
    let bad = api(
        &center,
        "GET",
        "/api/v1/stats/satisfaction/agents?channel=pigeon",
        None,
    )
    .await;
    assert_eq!(bad.status.as_u16() / 100, 4, "{}", bad.body);

    // Single use: a second answer (or a reload) changes nothing.
    let again = post(path.clone(), "score=1").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(get(path.clone()).await.status, StatusCode::CONFLICT);
    let stats = api(&center, "GET", "/api/v1/stats", None).await.json();
    assert_eq!(stats["satisfaction"]["satisfied_share"], 1.0, "{stats}");
    assert_eq!(
        api(
            &center,
            "GET",
            &format!("/api/v1/consultations/{id}/survey-link"),
            None
        )
        .await
        .json()["status"],
        "answered"
    );

    // Altered, forged and expired links are refused with a page, never a 500.
    let token = path.trim_start_matches("/survey/");
    let mut altered = token.to_owned().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    for bad in [
        format!("/survey/{altered}"),
        "/survey/nonsense".into(),
        format!("/survey/{}", "A".repeat(500)),
    ] {
        assert_eq!(
            get(bad.clone()).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
        assert_eq!(
            post(bad.clone(), "score=5").await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let consultation = uuid::Uuid::parse_str(&id).expect("uuid");
    let past = dasan_core::Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").expect("t");
    let expired = dasan_web::web_survey::token(&secret, consultation, past);
    assert_eq!(
        get(format!("/survey/{expired}")).await.status,
        StatusCode::GONE
    );
    let other = dasan_web::web_survey::LinkSecret::new(b"someone else's key".to_vec());
    let future = dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z").expect("t");
    let forged = dasan_web::web_survey::token(&other, consultation, future);
    assert_eq!(
        get(format!("/survey/{forged}")).await.status,
        StatusCode::NOT_FOUND
    );

    // A voice consultation has no web link; agents without the role get none either.
    let voice = api(
        &center,
        "POST",
        "/api/v1/consultations",
        Some(consultation_body("010-4444-1200")),
    )
    .await;
    let voice_id = voice.json()["id"].as_str().expect("id").to_owned();
    let none = api(
        &center,
        "GET",
        &format!("/api/v1/consultations/{voice_id}/survey-link"),
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let bad_id = api(
        &center,
        "GET",
        "/api/v1/consultations/not-a-uuid/survey-link",
        None,
    )
    .await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reuse_campaign_samples_citizens_asks_once_and_reports_an_interval() {
    let (gateway_address, gateway) = start_gateway().await;
    gateway.lock().expect("gateway").down = false;
    let center = center(Some(gateway_address)).await;
    let phones = [
        "010-5000-0001",
        "010-5000-0002",
        "010-5000-0003",
        "010-5000-0004",
        "010-5000-0005",
    ];
    for phone in phones.iter().chain([&phones[0]]) {
        let reply = api(
            &center,
            "POST",
            "/api/v1/consultations",
            Some(consultation_body(phone)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let opted_out = dasan_core::PhoneNumber::parse(phones[4]).expect("phone");
    center
        .store
        .set_opt_out(
            &opted_out,
            true,
            dasan_core::Timestamp::parse_rfc3339("2026-11-28T11:00:00+09:00").expect("t"),
        )
        .await
        .expect("opt out");

    let body = json!({"from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "sample_size": 10});
    let created = api(&center, "POST", "/api/v1/surveys/reuse", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let campaign = created.json();
    assert_eq!(
        (
            campaign["population"].as_i64(),
            campaign["sampled"].as_u64(),
            campaign["skipped"].as_u64(),
            campaign["sent"].as_u64()
        ),
        (Some(5), Some(5), Some(1), Some(4)),
        "each citizen once; the opted-out one is not asked: {campaign}"
    );
    let id = campaign["id"].as_str().expect("id").to_owned();
    eventually("four questions at the gateway", async || {
        gateway.lock().expect("gateway").accepted.len() == 4
    })
    .await;
    {
        let gateway = gateway.lock().expect("gateway");
        assert!(gateway.accepted.iter().all(|m| {
            m["body"]
                .as_str()
                .unwrap_or_default()
                .contains("이용하시겠습니까")
        }));
        assert!(
            gateway.accepted.iter().all(|m| m["to"] != "+821050000005"),
            "never to an opted-out number"
        );
    }

    // Answers come back as texts: recorded, not routed.
    for (n, (phone, answer)) in [(phones[0], "예"), (phones[1], "네!"), (phones[2], "아니요")]
        .iter()
        .enumerate()
    {
        let sid = format!("SMreuse{n}");
        let params = vec![
            ("MessageSid", sid.as_str()),
            ("From", phone),
            ("To", "+8212120"),
            ("Body", answer),
            ("NumMedia", "0"),
        ];
        let reply = twilio(&center, "/webhooks/sms/twilio", &params, Some(TOKEN)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    // A second answer from the same citizen changes nothing; a "예" from
    // someone never asked is an ordinary text and opens a contact.
    let params = vec![
        ("MessageSid", "SMreuse9"),
        ("From", phones[0]),
        ("To", "+8212120"),
        ("Body", "아니요"),
        ("NumMedia", "0"),
    ];
    twilio(&center, "/webhooks/sms/twilio", &params, Some(TOKEN)).await;
    let params = vec![
        ("MessageSid", "SMstranger"),
        ("From", "010-7777-0001"),
        ("To", "+8212120"),
        ("Body", "예"),
        ("NumMedia", "0"),
    ];
    twilio(&center, "/webhooks/sms/twilio", &params, Some(TOKEN)).await;
    let board = api(&center, "GET", "/api/v1/wallboard", None).await.json();
    assert_eq!(
        board["total"]["offered"], 2,
        "the stranger's text and the repeated answer are contacts, the answers are not: {board}"
    );

    let results = api(&center, "GET", &format!("/api/v1/surveys/reuse/{id}"), None)
        .await
        .json();
    assert_eq!(
        (results["responses"].as_u64(), results["yes"].as_u64()),
        (Some(3), Some(2)),
        "{results}"
    );
    assert_eq!(results["response_rate"], 0.75);
    let share = results["yes_share"].as_f64().expect("share");
    assert!((share - 2.0 / 3.0).abs() < 1e-9);
    let (low, high) = dasan_web::reuse::wilson(2, 3).expect("interval");
    let ci = &results["yes_share_ci95"];
    assert!(
        (ci["low"].as_f64().expect("low") - low).abs() < 1e-12,
        "{ci}"
    );
    assert!(
        (ci["high"].as_f64().expect("high") - high).abs() < 1e-12,
        "{ci}"
    );
    assert!(low < share && share < high);

    // Refusals: bad periods and sizes, the wrong role, unknown campaigns.
    for bad in [
        json!({"from": "2026-11-29T00:00:00+09:00", "to": "2026-11-28T00:00:00+09:00", "sample_size": 3}),
        json!({"from": "yesterday", "to": "2026-11-28T00:00:00+09:00", "sample_size": 3}),
        json!({"from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "sample_size": 0}),
        json!({"from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "sample_size": 10001}),
        json!({"from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "sample_size": 3, "question": " "}),
    ] {
        let reply = api(&center, "POST", "/api/v1/surveys/reuse", Some(bad.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    let agent = as_agent(&center, &center.agent_cookie, "POST", "/api/v1/surveys/reuse", Some(json!({"from": "2026-11-28T00:00:00+09:00", "to": "2026-11-29T00:00:00+09:00", "sample_size": 3}))).await;
    assert_eq!(agent.status, StatusCode::FORBIDDEN);
    assert_eq!(
        api(&center, "GET", "/api/v1/surveys/reuse/not-a-uuid", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api(
            &center,
            "GET",
            &format!("/api/v1/surveys/reuse/{}", uuid::Uuid::now_v7()),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}
