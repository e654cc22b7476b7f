//! Text consultation by SMS/LMS/MMS through gateway webhooks.
//!
//! Inbound: `POST /webhooks/sms/twilio` (Twilio's form-encoded shape, signed
//! with `X-Twilio-Signature`) and `POST /webhooks/sms/native` (Dasan's JSON,
//! signed with `X-Dasan-Signature: sha256=<hex HMAC of the body>`). Each
//! message is stored before the gateway hears 2xx, keyed by the gateway's
//! message id so a retried webhook changes nothing; then it joins the
//! citizen's open text thread on the floor or opens one.
//!
//! Outbound: replies (`POST /api/v1/interactions/{id}/messages`) and the
//! automatic acknowledgment are written to the `messages` table as `queued`;
//! the outbox task ([`crate::outbox`]) delivers them. Delivery reports come
//! back on the `.../status` webhooks.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use dasan_core::{CategoryCode, Channel, PhoneNumber, Role};
use dasan_store::{Direction, MessageRecord, Store};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson, ApiQuery},
    floor::NewInteraction,
};

/// How the SMS edge is set up. Every secret is optional: a gateway whose
/// secret is not configured is refused, never accepted unsigned.
#[derive(Clone, Default)]
pub struct SmsConfig {
    /// The auth token Twilio-style gateways sign webhooks with.
    pub twilio_auth_token: Option<String>,
    /// The secret of the native JSON webhook.
    pub native_secret: Option<String>,
    /// The public base URL the gateway calls (`https://center.example`):
    /// the signed URL is this plus the path. Else the request's own URL.
    pub public_url: Option<String>,
    /// Where outbound messages are POSTed.
    pub outbound_url: Option<String>,
    /// The center's number, the sender of replies.
    pub center_number: String,
    /// Messages from one number within this long of the thread's last
    /// message join it.
    pub thread_window_millis: i64,
    /// Longest SMS in bytes (Hangul counts 2); longer text goes as LMS.
    pub sms_max_bytes: usize,
    /// Longest LMS in bytes.
    pub lms_max_bytes: usize,
    pub cost_sms_won: i64,
    pub cost_lms_won: i64,
    pub cost_mms_won: i64,
    /// Sent once when a citizen opens a new thread, if set.
    pub auto_ack: Option<String>,
    /// Where MMS photos are kept; without it they are not fetched.
    pub media_dir: Option<std::path::PathBuf>,
    /// Largest photo kept (bytes).
    pub media_max_bytes: usize,
    /// The outbox retries a failed delivery after this, doubling each time
    /// up to `retry_max_millis`, and gives up after `max_attempts`.
    pub retry_base_millis: u64,
    pub retry_max_millis: u64,
    pub max_attempts: i64,
}

impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field(
                "twilio_auth_token",
                &self.twilio_auth_token.as_ref().map(|_| "<set>"),
            )
            .field(
                "native_secret",
                &self.native_secret.as_ref().map(|_| "<set>"),
            )
            .field("public_url", &self.public_url)
            .field("outbound_url", &self.outbound_url)
            .field("thread_window_millis", &self.thread_window_millis)
            .finish_non_exhaustive()
    }
}

impl SmsConfig {
    /// No gateway configured; sensible limits and the model center's
    /// prices (SMS about 20 won).
    pub fn new() -> SmsConfig {
        SmsConfig {
            center_number: "120".into(),
            thread_window_millis: 30 * 60 * 1000,
            sms_max_bytes: 90,
            lms_max_bytes: 2000,
            cost_sms_won: 20,
            cost_lms_won: 50,
            cost_mms_won: 200,
            media_max_bytes: 5 * 1024 * 1024,
            retry_base_millis: 1000,
            retry_max_millis: 300_000,
            max_attempts: 20,
            ..SmsConfig::default()
        }
    }
}

/// Longest inbound text kept (MMS carries up to 1,000 characters; a little
/// room for gateways that count differently).
pub const MAX_INBOUND_CHARS: usize = 2000;
/// Longest reply an agent may send (characters).
pub const MAX_REPLY_CHARS: usize = 1000;
/// Most media items one message may carry.
pub const MAX_MEDIA: usize = 10;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/sms/twilio", post(twilio_inbound))
        .route("/webhooks/sms/twilio/status", post(twilio_status))
        .route("/webhooks/sms/native", post(native_inbound))
        .route("/webhooks/sms/native/status", post(native_status))
}

pub(crate) fn api_routes() -> Router<AppState> {
    Router::new().route("/messages", get(list_messages)).route(
        "/interactions/{id}/messages",
        get(thread_messages).post(reply),
    )
}

fn refused_signature(gateway: &str) -> ApiError {
    tracing::warn!(gateway, "webhook refused: missing or wrong signature");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "bad_signature",
        "missing or wrong webhook signature",
    )
}

/// The URL the gateway signed: the configured public URL plus the path and
/// query, else the URL of this request as the proxy or client saw it.
fn signed_url(config: &SmsConfig, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match &config.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("http");
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
    }
}

/// Twilio's scheme: HMAC-SHA1 over the URL followed by every POST parameter
/// name and value, sorted by name; base64.
/// HMAC-SHA1 over the URL followed by every POST parameter name and
/// value, sorted by name (Twilio's scheme).
fn twilio_mac(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
) -> Option<hmac::Hmac<sha1::Sha1>> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).ok()?;
    mac.update(url.as_bytes());
    for (key, value) in sorted {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    Some(mac)
}

/// The `X-Twilio-Signature` a gateway sends: the MAC above, base64.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    use base64::Engine;
    twilio_mac(auth_token, url, params)
        .map(|mac| base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

fn verify_twilio(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    use base64::Engine;
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given.trim()) else {
        return false;
    };
    // Constant-time comparison.
    twilio_mac(auth_token, url, params).is_some_and(|mac| mac.verify_slice(&given).is_ok())
}

/// The form parameters of a Twilio-style webhook whose signature checks
/// out; 403 when the gateway is not configured or the signature is wrong.
fn verified_twilio_params(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
) -> Result<Vec<(String, String)>, ApiError> {
    let Some(token) = state.sms.twilio_auth_token.as_deref() else {
        return Err(refused_signature("twilio (not configured)"));
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::bad_request("malformed_form", "not a form-encoded body"))?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_twilio(
        token,
        &signed_url(&state.sms, headers, uri),
        &params,
        signature,
    ) {
        return Err(refused_signature("twilio"));
    }
    Ok(params)
}

/// `sha256=<hex>` of HMAC-SHA256 over the raw body.
pub fn native_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256=");
    for byte in bytes {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn verify_native(secret: &str, body: &[u8], given: &str) -> bool {
    let Some(hex) = given.trim().strip_prefix("sha256=") else {
        return false;
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let expected: Vec<u8> = (0..32)
        .filter_map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect();
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// What every inbound shape becomes before it is stored.
struct Inbound {
    gateway: &'static str,
    gateway_message_id: String,
    from: String,
    to: String,
    body: String,
    media: Vec<Media>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Where the gateway keeps it (fetched after the message is stored)...
    #[serde(default)]
    pub url: String,
    pub content_type: String,
    /// ...or the bytes themselves, base64 (native webhook only).
    #[serde(default, skip_serializing)]
    pub data: Option<String>,
}

const MEDIA_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/gif"];

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn check(inbound: &Inbound) -> Result<PhoneNumber, ApiError> {
    if inbound.gateway_message_id.is_empty() || inbound.gateway_message_id.len() > 100 {
        return Err(invalid(
            "invalid_message_id",
            "a message id of 1 to 100 bytes is required",
        ));
    }
    if inbound.body.chars().count() > MAX_INBOUND_CHARS {
        return Err(invalid(
            "body_too_long",
            format!("at most {MAX_INBOUND_CHARS} characters"),
        ));
    }
    if inbound
        .body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid("invalid_body", "control characters in the body"));
    }
    if inbound.media.len() > MAX_MEDIA {
        return Err(invalid(
            "too_much_media",
            format!("at most {MAX_MEDIA} media items"),
        ));
    }
    for media in &inbound.media {
        let url_ok = (media.url.starts_with("https://") || media.url.starts_with("http://"))
            && media.url.len() <= 2000;
        let inline = media.data.is_some() && media.url.is_empty();
        if !url_ok && !inline {
            return Err(invalid("invalid_media_url", "media URLs are http(s) URLs"));
        }
        if !MEDIA_TYPES.contains(&media.content_type.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                "unsupported_media_type",
                "media may be image/jpeg, image/png or image/gif",
            ));
        }
    }
    if inbound.body.trim().is_empty() && inbound.media.is_empty() {
        return Err(invalid("empty_message", "neither text nor media"));
    }
    Ok(PhoneNumber::parse(&inbound.from)?)
}

async fn twilio_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_twilio_params(&state, &headers, &uri, &body)?;
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let count: usize = match field("NumMedia") {
        None => 0,
        Some(n) => n
            .trim()
            .parse()
            .map_err(|_| invalid("invalid_num_media", "NumMedia is a count"))?,
    };
    if count > MAX_MEDIA {
        return Err(invalid(
            "too_much_media",
            format!("at most {MAX_MEDIA} media items"),
        ));
    }
    let mut media = Vec::new();
    for i in 0..count {
        media.push(Media {
            url: field(&format!("MediaUrl{i}")).unwrap_or_default(),
            content_type: field(&format!("MediaContentType{i}")).unwrap_or_default(),
            data: None,
        });
    }
    let inbound = Inbound {
        gateway: "twilio",
        gateway_message_id: field("MessageSid").unwrap_or_default(),
        from: field("From").unwrap_or_default(),
        to: field("To").unwrap_or_default(),
        body: field("Body").unwrap_or_default(),
        media,
    };
    accept(&state, inbound).await?;
    // An empty TwiML answer: nothing for the gateway to send back itself.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeInbound {
    id: String,
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    media: Vec<Media>,
}

fn native_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let Some(secret) = state.sms.native_secret.as_deref() else {
        return Err(refused_signature("native (not configured)"));
    };
    let signature = headers
        .get("x-dasan-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_native(secret, body, signature) {
        return Err(refused_signature("native"));
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("malformed_json", "malformed JSON")
        } else {
            invalid("invalid_body", e.to_string())
        }
    })
}

async fn native_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let message: NativeInbound = native_body(&state, &headers, &body)?;
    let (id, duplicate) = accept(
        &state,
        Inbound {
            gateway: "native",
            gateway_message_id: message.id,
            from: message.from,
            to: message.to,
            body: message.body,
            media: message.media,
        },
    )
    .await?;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({"id": id, "duplicate": duplicate})),
    )
        .into_response())
}

/// Words that stop (or restart) messages to a number.
fn opt_out_word(body: &str) -> Option<bool> {
    let word: String = body
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    match word.as_str() {
        "STOP" | "UNSUBSCRIBE" | "수신거부" | "거부" | "중지" | "문자중지" => {
            Some(true)
        }
        "START" | "수신동의" | "재개" => Some(false),
        _ => None,
    }
}

/// A first guess of the category from the words of a text (rules; the
/// knowledge base can refine it later). `None` when nothing matches.
pub fn suggest_category(body: &str) -> Option<&'static str> {
    const RULES: &[(&str, &[&str])] = &[
        (
            "transport",
            &["버스", "지하철", "택시", "교통", "정류장", "노선", "주차"],
        ),
        (
            "water",
            &["수도", "단수", "누수", "상수도", "하수도", "물이"],
        ),
        ("waste", &["쓰레기", "청소", "폐기물", "분리수거"]),
        (
            "safety",
            &["도로", "보도블럭", "싱크홀", "가로등", "신호등", "포트홀"],
        ),
        (
            "health",
            &["병원", "보건소", "예방접종", "예방주사", "코로나", "감기"],
        ),
        ("welfare", &["복지", "수당", "기초연금", "어르신", "장애인"]),
        ("tax", &["세금", "재산세", "자동차세", "지방세", "과태료"]),
        ("documents", &["등본", "초본", "민원서류", "증명서", "여권"]),
        ("housing", &["주택", "임대", "전세", "월세", "아파트"]),
        ("jobs", &["일자리", "취업", "구직", "채용"]),
        ("culture", &["도서관", "공연", "문화", "체육관", "공원"]),
    ];
    let lower = body.to_lowercase();
    RULES
        .iter()
        .find(|(_, words)| words.iter().any(|w| lower.contains(w)))
        .map(|(code, _)| *code)
}

/// Stores an inbound message (durably, idempotently) and threads it.
/// Answers the stored message's id and whether it was a duplicate.
async fn accept(state: &AppState, inbound: Inbound) -> Result<(Uuid, bool), ApiError> {
    let phone = check(&inbound)?;
    if let Some(existing) = state
        .store
        .find_message_by_gateway_id(inbound.gateway, &inbound.gateway_message_id)
        .await?
    {
        return Ok((existing.id, true));
    }
    let now = crate::now();
    let opt = opt_out_word(&inbound.body);
    // The thread: the citizen's open text interaction, or a new one.
    let channel = if inbound.media.is_empty() {
        Channel::Sms
    } else {
        Channel::Mms
    };
    // An answer to the citizen's survey is recorded, not routed.
    let survey_reply = if opt.is_none() {
        crate::survey::reply_to(state, &phone, &inbound.body).await?
    } else {
        None
    };
    // An answer to a re-use campaign's question is recorded, not routed.
    let reuse_answer = opt.is_none()
        && survey_reply.is_none()
        && crate::reuse::reply_to(state, &phone, &inbound.body).await?;
    let (thread, new_thread) = if opt.is_some() || survey_reply.is_some() || reuse_answer {
        (None, false)
    } else {
        match state
            .floor
            .open_text_thread(&phone, now, state.sms.thread_window_millis)
        {
            Some(id) => (Some(id), false),
            None => (Some(Uuid::now_v7()), true),
        }
    };
    // Inline photos are checked and written before the message is stored
    // (what it refers to exists); fetched ones follow it.
    let id = Uuid::now_v7();
    let mut items = Vec::new();
    let mut pending = false;
    for (index, media) in inbound.media.iter().enumerate() {
        let item = crate::media::StoredMedia {
            url: (!media.url.is_empty()).then(|| media.url.clone()),
            claimed_type: media.content_type.to_ascii_lowercase(),
            status: "pending".into(),
            ..Default::default()
        };
        let item = match (&media.data, &state.sms.media_dir) {
            (Some(data), Some(dir)) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|_| invalid("invalid_media_data", "media data is base64"))?;
                crate::media::keep(dir, state.sms.media_max_bytes, id, index, item, &bytes).await
            }
            (Some(_), None) => crate::media::StoredMedia {
                status: "refused".into(),
                reason: Some("no media directory configured".into()),
                ..item
            },
            (None, _) => {
                pending = state.sms.media_dir.is_some();
                if pending {
                    item
                } else {
                    crate::media::StoredMedia {
                        status: "refused".into(),
                        reason: Some("no media directory configured".into()),
                        ..item
                    }
                }
            }
        };
        items.push(item);
    }
    let media_json = serde_json::to_string(&items).map_err(|e| ApiError::internal(&e))?;
    let record = MessageRecord {
        id,
        gateway: inbound.gateway.to_owned(),
        gateway_message_id: Some(inbound.gateway_message_id.clone()),
        direction: Direction::Inbound,
        citizen_phone: phone.clone(),
        center_number: inbound.to.chars().take(40).collect(),
        body: inbound.body.clone(),
        media_json,
        interaction_id: thread,
        status: "received".into(),
        kind: if inbound.media.is_empty() {
            "sms".into()
        } else {
            "mms".into()
        },
        cost_won: 0,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    if !state.store.insert_message(&record).await? {
        // A concurrent retry of the same webhook won the race.
        let existing = state
            .store
            .find_message_by_gateway_id(inbound.gateway, &inbound.gateway_message_id)
            .await?
            .ok_or_else(|| ApiError::internal(&"a duplicate message vanished"))?;
        return Ok((existing.id, true));
    }
    if pending {
        tokio::spawn(crate::media::fetch_pending(
            state.clone(),
            record.id,
            thread,
        ));
    }
    if let Some(opted_out) = opt {
        state.store.set_opt_out(&phone, opted_out, now).await?;
        return Ok((record.id, false));
    }
    if let Some(survey) = survey_reply {
        state.store.update_survey(&survey).await?;
        return Ok((record.id, false));
    }
    let Some(thread) = thread else {
        return Ok((record.id, false));
    };
    if new_thread {
        let category = suggest_category(&inbound.body).and_then(|c| CategoryCode::parse(c).ok());
        // Stored first: if routing refuses (floor full), the message is
        // kept and shows in the citizen's history; the error tells the
        // gateway to retry, and the retry is recognised as stored.
        state.floor.add_interaction(NewInteraction {
            id: Some(thread),
            channel,
            citizen_phone: phone.clone(),
            category,
            required_skills: Vec::new(),
            priority: 0,
        })?;
        if let Some(text) = state.sms.auto_ack.clone()
            && !state.store.is_opted_out(&phone).await?
        {
            enqueue(state, &phone, Some(thread), &text).await?;
        }
    } else {
        state.floor.thread_changed(thread, now, true);
    }
    Ok((record.id, false))
}

/// Bytes of a text as Korean handsets count them (a Hangul syllable or
/// any other non-ASCII character is two).
pub fn sms_bytes(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// Queues an outbound message in the outbox and wakes it.
pub(crate) async fn enqueue(
    state: &AppState,
    to: &PhoneNumber,
    thread: Option<Uuid>,
    body: &str,
) -> Result<MessageRecord, ApiError> {
    enqueue_with_id(state, Uuid::now_v7(), to, thread, body).await
}

/// [`enqueue`] under a chosen id: queuing the same id again is a no-op
/// answering the stored message (for messages derived from other records).
pub(crate) async fn enqueue_with_id(
    state: &AppState,
    id: Uuid,
    to: &PhoneNumber,
    thread: Option<Uuid>,
    body: &str,
) -> Result<MessageRecord, ApiError> {
    if let Some(stored) = state.store.find_message(id).await? {
        return Ok(stored);
    }
    let bytes = sms_bytes(body);
    let config = &state.sms;
    let (kind, cost) = if bytes <= config.sms_max_bytes {
        ("sms", config.cost_sms_won)
    } else if bytes <= config.lms_max_bytes {
        ("lms", config.cost_lms_won)
    } else {
        return Err(invalid(
            "body_too_long",
            format!("at most {} bytes (LMS)", config.lms_max_bytes),
        ));
    };
    let now = crate::now();
    let record = MessageRecord {
        id,
        gateway: "outbound".into(),
        gateway_message_id: None,
        direction: Direction::Outbound,
        citizen_phone: to.clone(),
        center_number: config.center_number.clone(),
        body: body.to_owned(),
        media_json: "[]".into(),
        interaction_id: thread,
        status: "queued".into(),
        kind: kind.into(),
        cost_won: cost,
        attempts: 0,
        next_attempt_at: Some(now),
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_message(&record).await?;
    state.outbox.notify_one();
    if let Some(thread) = thread {
        state.floor.thread_changed(thread, now, true);
    }
    Ok(record)
}

/// A message as the API shows it.
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: Uuid,
    pub interaction_id: Option<Uuid>,
    pub direction: &'static str,
    pub citizen_phone: String,
    pub body: String,
    pub media: serde_json::Value,
    pub status: String,
    pub kind: String,
    pub cost_won: i64,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&MessageRecord> for MessageView {
    fn from(m: &MessageRecord) -> Self {
        MessageView {
            id: m.id,
            interaction_id: m.interaction_id,
            direction: m.direction.as_str(),
            citizen_phone: m.citizen_phone.e164().to_owned(),
            body: m.body.clone(),
            media: serde_json::from_str(&m.media_json).unwrap_or(serde_json::Value::Null),
            status: m.status.clone(),
            kind: m.kind.clone(),
            cost_won: m.cost_won,
            attempts: m.attempts,
            created_at: m.created_at.to_rfc3339(),
            updated_at: m.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    citizen_phone: String,
    limit: Option<u32>,
}

async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_read_consultations)?;
    let phone = PhoneNumber::parse(&query.citizen_phone)?;
    let limit = query.limit.unwrap_or(200).clamp(1, 1000);
    crate::consultations::audit(&state, &caller, "message.list", phone.redacted()).await?;
    let messages = state.store.messages_for_citizen(&phone, limit).await?;
    let views: Vec<MessageView> = messages.iter().map(MessageView::from).collect();
    Ok(Json(serde_json::json!({ "messages": views })).into_response())
}

/// Who may read or write a thread: the agent handling it, or a token /
/// supervisor with the right role.
async fn thread_access(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: &str,
) -> Result<crate::floor::InteractionView, ApiError> {
    caller.require(Role::may_record_consultations)?;
    let view = state
        .floor
        .interaction(id)
        .ok_or_else(|| ApiError::not_found("interaction"))?;
    if caller.role == Role::Agent && caller.kind == "user" && view.agent_id != Some(caller.id) {
        crate::live::log_refusal(
            state,
            caller.actor(),
            "interaction.refused",
            format!("{action} {id}"),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_interaction",
            "this interaction is not offered to or handled by you",
        ));
    }
    if !view.channel.is_text() {
        return Err(invalid(
            "not_a_text_thread",
            "this interaction is not a text thread",
        ));
    }
    Ok(view)
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("interaction"))
}

async fn thread_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    thread_access(&state, &caller, id, "read messages").await?;
    crate::consultations::audit(&state, &caller, "message.thread", id.to_string()).await?;
    let messages = state.store.messages_for_interaction(id).await?;
    let views: Vec<MessageView> = messages.iter().map(MessageView::from).collect();
    Ok(Json(serde_json::json!({ "messages": views })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    body: String,
}

async fn reply(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let view = thread_access(&state, &caller, id, "reply").await?;
    let text = body.body.trim();
    if text.is_empty() {
        return Err(invalid("empty_message", "write something"));
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(invalid(
            "body_too_long",
            format!("at most {MAX_REPLY_CHARS} characters"),
        ));
    }
    let phone = PhoneNumber::parse(&view.citizen_phone)?;
    let record = enqueue(&state, &phone, Some(id), text).await?;
    Ok((StatusCode::ACCEPTED, Json(MessageView::from(&record))).into_response())
}

/// Delivery reports: Twilio's `MessageStatus` or the native `status`.
const STATUSES: [&str; 6] = [
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
];

async fn twilio_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_twilio_params(&state, &headers, &uri, &body)?;
    let map: BTreeMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let id = map.get("MessageSid").copied().unwrap_or_default();
    let status = map.get("MessageStatus").copied().unwrap_or_default();
    delivery_report(&state, id, status).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeStatus {
    id: String,
    status: String,
}

async fn native_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let report: NativeStatus = native_body(&state, &headers, &body)?;
    delivery_report(&state, &report.id, &report.status).await
}

async fn delivery_report(state: &AppState, id: &str, status: &str) -> Result<Response, ApiError> {
    if id.is_empty() || id.len() > 100 {
        return Err(invalid("invalid_message_id", "a message id is required"));
    }
    if !STATUSES.contains(&status) {
        return Err(invalid("invalid_status", "unknown delivery status"));
    }
    let known = state
        .store
        .set_status_by_gateway_id(id, status, crate::now())
        .await?;
    if !known {
        return Err(ApiError::not_found("message"));
    }
    if let Ok(uuid) = Uuid::parse_str(id)
        && let Some(message) = state.store.find_message(uuid).await?
        && let Some(thread) = message.interaction_id
    {
        state.floor.thread_changed(thread, crate::now(), false);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
