//! Escalations delivered to departments' webhooks: a durable outbox of
//! delivery records (stored in the same transaction as the escalation), each
//! POSTed with an HMAC-SHA256 signature until the department answers 2xx,
//! with backoff. Every attempt of one delivery carries the same
//! `X-Dasan-Delivery` id, so a receiver that saw it already can ignore it.
//!
//! Signature: `X-Dasan-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
//! HMAC-SHA256 over `<t>.<body>` keyed with the department's secret.

use std::time::Duration;

use axum::body::Bytes;
use dasan_core::Timestamp;
use dasan_store::{
    Store,
    care::{CareKind, CareQuery, CareRecord, CareWrite},
};
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Department, Escalation, Senior, Step, escalation_record, load, parse, record};
use crate::{AppState, error::ApiError};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between attempts.
const MAX_BACKOFF_MILLIS: i64 = 3_600_000;
const FIRST_BACKOFF_MILLIS: i64 = 30_000;

/// One delivery of an escalation to a department.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub department_id: String,
    pub escalation_id: String,
    pub url: String,
    /// The JSON body, fixed when the delivery is queued.
    pub payload: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

pub struct WebhookClient(HttpClient);

impl WebhookClient {
    pub fn new() -> WebhookClient {
        WebhookClient(Client::builder(TokioExecutor::new()).build_http())
    }
}

impl Default for WebhookClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The signature header's value for `body` sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

/// Hands an escalation to its department: queues a webhook delivery when
/// the department has a webhook (answered among the inserts), else marks it
/// sent (the department's users read it in Dasan). An escalation without a
/// department stays open for the coordinators.
pub(crate) async fn dispatch(
    state: &AppState,
    mut escalation: Escalation,
    senior: &Senior,
    now: Timestamp,
) -> Result<(Escalation, Vec<CareRecord>), ApiError> {
    let Some(department_id) = escalation.department_id.clone() else {
        return Ok((escalation, Vec::new()));
    };
    let Some((department, _)) =
        load::<Department>(state, CareKind::Department, &department_id).await?
    else {
        return Ok((escalation, Vec::new()));
    };
    let Some(url) = department.webhook_url.clone() else {
        if escalation.status == "open" {
            escalation.status = "sent".into();
            escalation.sent_at = Some(now.millis());
            escalation.history.push(Step {
                status: "sent".into(),
                at: now.millis(),
                by: "dasan".into(),
                note: "listed for the department".into(),
            });
        }
        escalation.next_send_at = None;
        return Ok((escalation, Vec::new()));
    };
    escalation.sends += 1;
    escalation.next_send_at = None;
    let id = format!("{}.w{}", escalation.id, escalation.sends);
    let payload = json!({
        "type": "care.escalation",
        "delivery_id": id,
        "send": escalation.sends,
        "escalation": {
            "id": escalation.id,
            "status": escalation.status,
            "reasons": escalation.reasons,
            "opened_at": Timestamp::from_millis(escalation.opened_at).map(|t| t.to_rfc3339()).unwrap_or_default(),
            "department_id": department_id,
            "senior": {
                "id": senior.id,
                "name": senior.name,
                "phone": senior.phone,
                "district": senior.district,
                "birth_year": senior.birth_year,
                "living_situation": senior.living_situation,
                "health_notes": senior.health_notes,
            },
        },
    })
    .to_string();
    let delivery = Delivery {
        id: id.clone(),
        department_id: department_id.clone(),
        escalation_id: escalation.id.clone(),
        url,
        payload,
        attempts: 0,
        last_error: None,
        next_attempt_at: Some(now.millis()),
        delivered_at: None,
    };
    let insert = record(
        CareKind::Webhook,
        &id,
        &department_id,
        "pending",
        now.millis(),
        &delivery,
    )?;
    Ok((escalation, vec![insert]))
}

/// Delivers the due webhook deliveries; answers how many succeeded.
pub async fn deliver_due(state: &AppState, client: &WebhookClient) -> Result<usize, ApiError> {
    let now = state.care.now();
    let mut query = CareQuery::all(CareKind::Webhook);
    query.statuses = vec!["pending".into()];
    query.to = Some(now.millis() + 1);
    query.limit = 100;
    let mut delivered = 0;
    for stored in state.store.care_list(&query).await? {
        let mut delivery: Delivery = parse(&stored)?;
        let Some((department, _)) =
            load::<Department>(state, CareKind::Department, &delivery.department_id).await?
        else {
            continue;
        };
        let result = post(client, &delivery, &department.webhook_secret, now).await;
        let now = state.care.now();
        delivery.attempts += 1;
        let mut write = CareWrite::default();
        let status = match result {
            Ok(()) => {
                delivery.delivered_at = Some(now.millis());
                delivery.next_attempt_at = None;
                delivery.last_error = None;
                delivered += 1;
                if let Some((mut escalation, version)) =
                    load::<Escalation>(state, CareKind::Escalation, &delivery.escalation_id).await?
                {
                    if escalation.status == "open" {
                        escalation.status = "sent".into();
                        escalation.sent_at = Some(now.millis());
                        escalation.history.push(Step {
                            status: "sent".into(),
                            at: now.millis(),
                            by: "dasan".into(),
                            note: format!("webhook delivery {}", delivery.id),
                        });
                    }
                    if escalation.status == "sent" {
                        escalation.next_send_at =
                            Some(now.millis() + state.care.resend_after_minutes * 60_000);
                    }
                    write
                        .updates
                        .push((escalation_record(&escalation)?, version));
                }
                "delivered"
            }
            Err(error) => {
                tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts, %error, "care: webhook delivery failed");
                let wait =
                    (FIRST_BACKOFF_MILLIS << delivery.attempts.min(20)).min(MAX_BACKOFF_MILLIS);
                delivery.next_attempt_at = Some(now.millis() + wait);
                delivery.last_error = Some(error.chars().take(300).collect());
                "pending"
            }
        };
        let at = delivery.next_attempt_at.unwrap_or(now.millis());
        let mut updated = record(
            CareKind::Webhook,
            &delivery.id,
            &delivery.department_id,
            status,
            at,
            &delivery,
        )?;
        updated.version = stored.version;
        write.updates.insert(0, (updated, stored.version));
        // Stale: the escalation moved meanwhile (acknowledged); the delivery
        // is tried again and then records against the new version.
        let _ = state.store.care_commit(&write).await?;
    }
    Ok(delivered)
}

async fn post(
    client: &WebhookClient,
    delivery: &Delivery,
    secret: &str,
    now: Timestamp,
) -> Result<(), String> {
    let seconds = now.millis().div_euclid(1000);
    let request = axum::http::Request::post(&delivery.url)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header("x-dasan-delivery", &delivery.id)
        .header(
            "x-dasan-signature",
            signature(secret, seconds, delivery.payload.as_bytes()),
        )
        .body(Full::new(Bytes::from(delivery.payload.clone())))
        .map_err(|e| format!("bad webhook URL: {e}"))?;
    let response = tokio::time::timeout(ATTEMPT_TIMEOUT, client.0.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("unreachable: {e}"))?;
    let status = response.status();
    // Read (and drop) the answer so the connection can be reused.
    let _ = tokio::time::timeout(ATTEMPT_TIMEOUT, response.into_body().collect()).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}
