//! The outbox: delivers queued outbound messages to the gateway
//! (`SmsConfig::outbound_url`) and retries with backoff until it answers
//! 2xx. A message is marked `sent` only after the gateway's 2xx, and every
//! attempt carries the message's own stable id, so a gateway outage loses
//! nothing and a gateway that de-duplicates by id sends nothing twice (even
//! if Dasan stops between the gateway's answer and recording it).
//!
//! One node delivers: several nodes on one database would each try the
//! same due message (a lease column would be the next step).

use std::{sync::Arc, time::Duration};

use axum::body::Bytes;
use dasan_store::{DeliveryUpdate, MessageRecord, Store};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use crate::AppState;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Whatever hands a message to the carrier. The outbox calls `send` until
/// it answers `Ok` (with the provider's id for the message, for delivery
/// reports); an `Err` is retried later. `send` may be called again for a
/// message the provider already took (if Dasan stopped before recording
/// the answer), so providers de-duplicate by `message.id`.
pub trait Provider: Send + Sync + 'static {
    fn send(
        &self,
        message: &MessageRecord,
        from: &str,
    ) -> impl std::future::Future<Output = Result<String, String>> + Send;
}

/// POSTs JSON (`id`, `to`, `from`, `body`, `type`) to a gateway URL.
pub struct HttpProvider {
    client: HttpClient,
    url: String,
}

impl HttpProvider {
    pub fn new(url: String) -> HttpProvider {
        HttpProvider {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url,
        }
    }
}

impl Provider for HttpProvider {
    async fn send(&self, message: &MessageRecord, from: &str) -> Result<String, String> {
        attempt(&self.client, &self.url, from, message).await
    }
}

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until the floor closes (server shutdown).
pub(crate) async fn run(state: AppState, provider: impl Provider) {
    let closed = state.floor.closed();
    tokio::pin!(closed);
    loop {
        let due = match state.store.due_outbound(crate::now(), 50).await {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, "outbox: cannot read due messages");
                Vec::new()
            }
        };
        let busy = !due.is_empty();
        for message in due {
            deliver(&state, &provider, message).await;
        }
        if busy {
            continue;
        }
        let wait = match state.store.next_outbound_due().await {
            Ok(Some(next)) => Duration::from_millis(
                (next.millis() - crate::now().millis()).clamp(0, 30_000) as u64,
            ),
            _ => Duration::from_secs(30),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.outbox.notified() => {}
            _ = &mut closed => return,
        }
    }
}

fn backoff(state: &AppState, attempts: i64) -> Duration {
    let config = &state.sms;
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let millis = config
        .retry_base_millis
        .saturating_mul(1u64 << exponent)
        .min(config.retry_max_millis);
    Duration::from_millis(millis)
}

async fn deliver(state: &AppState, provider: &impl Provider, message: MessageRecord) {
    let now = crate::now();
    let attempts = message.attempts + 1;
    let update = match state.store.is_opted_out(&message.citizen_phone).await {
        Ok(true) => DeliveryUpdate {
            status: "opted_out".into(),
            gateway_message_id: None,
            attempts: message.attempts,
            next_attempt_at: None,
            last_error: Some("the citizen opted out".into()),
            at: now,
        },
        Ok(false) => match provider.send(&message, &state.sms.center_number).await {
            Ok(provider_id) => DeliveryUpdate {
                status: "sent".into(),
                gateway_message_id: Some(provider_id),
                attempts,
                next_attempt_at: None,
                last_error: None,
                at: now,
            },
            Err(error) => {
                let give_up = attempts >= state.sms.max_attempts;
                tracing::warn!(message = %message.id, attempts, %error, give_up, "outbox: delivery failed");
                let next = dasan_core::Timestamp::from_millis(
                    now.millis() + backoff(state, attempts).as_millis() as i64,
                )
                .ok();
                DeliveryUpdate {
                    status: if give_up { "failed" } else { "retrying" }.into(),
                    gateway_message_id: None,
                    attempts,
                    next_attempt_at: if give_up { None } else { next },
                    last_error: Some(error.chars().take(500).collect()),
                    at: now,
                }
            }
        },
        Err(error) => {
            tracing::error!(%error, "outbox: cannot read opt-outs; will retry");
            return;
        }
    };
    if let Err(error) = state.store.update_delivery(message.id, &update).await {
        // Not recorded: the message stays due and is tried again with the
        // same id, which the gateway recognises.
        tracing::error!(%error, message = %message.id, "outbox: cannot record the attempt");
        tokio::time::sleep(Duration::from_millis(500)).await;
        return;
    }
    if let Some(thread) = message.interaction_id {
        state.floor.thread_changed(thread, now, false);
    }
}

/// One POST. Answers the provider's id for the message (its `id` or `sid`
/// field when the answer is JSON that has one, else Dasan's id).
async fn attempt(
    client: &HttpClient,
    url: &str,
    from: &str,
    message: &MessageRecord,
) -> Result<String, String> {
    let payload = serde_json::json!({
        "id": message.id,
        "to": message.citizen_phone.e164(),
        "from": from,
        "body": message.body,
        "type": message.kind,
    });
    let request = axum::http::Request::post(url)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", message.id.to_string())
        .body(Full::new(Bytes::from(payload.to_string())))
        .map_err(|e| format!("bad outbound URL: {e}"))?;
    let response = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(request))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("gateway unreachable: {e}"))?;
    let status = response.status();
    let body = tokio::time::timeout(ATTEMPT_TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| "timed out reading the answer".to_owned())?
        .map_err(|e| format!("answer cut short: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("gateway answered {status}"));
    }
    let provider_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("id")
                .or_else(|| v.get("sid"))
                .and_then(|id| id.as_str().map(str::to_owned))
        })
        .filter(|id| !id.is_empty() && id.len() <= 100)
        .unwrap_or_else(|| message.id.to_string());
    Ok(provider_id)
}

/// The signal that wakes the outbox when a message is queued.
pub(crate) fn signal() -> Arc<tokio::sync::Notify> {
    Arc::new(tokio::sync::Notify::new())
}
