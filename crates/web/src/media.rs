//! MMS media: photos a citizen sends, fetched from the gateway's media URL
//! (or given inline, base64, by the native webhook), checked by their bytes
//! rather than the type the gateway claims, size-limited, stored under the
//! media directory and served back to staff (audited).
//!
//! The message is stored first (durably) with each item `pending`; files
//! follow, and the message's media description is updated with each item's
//! outcome (`stored`, `refused` with a reason, or `failed`).

use std::path::{Path, PathBuf};

use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use dasan_core::Role;
use dasan_store::Store;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AppState, auth::Caller, error::ApiError};

/// One attachment as recorded in the message's `media_json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredMedia {
    /// Where the gateway said it is (absent for inline data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What the gateway said it is.
    pub claimed_type: String,
    /// What the bytes are (set once fetched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `pending`, `stored`, `refused` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// File name under the media directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
}

/// The image formats an MMS may carry, recognised by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/gif" => "gif",
        _ => "jpg",
    }
}

/// Checks `bytes` and writes them as item `index` of message `id`.
/// Answers the item's new description.
pub(crate) async fn keep(
    dir: &Path,
    max_bytes: usize,
    id: Uuid,
    index: usize,
    mut item: StoredMedia,
    bytes: &[u8],
) -> StoredMedia {
    if bytes.len() > max_bytes {
        item.status = "refused".into();
        item.reason = Some(format!("larger than {max_bytes} bytes"));
        return item;
    }
    let Some(content_type) = sniff(bytes) else {
        item.status = "refused".into();
        item.reason = Some("not a JPEG, PNG or GIF image".into());
        return item;
    };
    let name = format!("{id}-{index}.{}", extension(content_type));
    let path = dir.join(&name);
    let temporary = dir.join(format!(".{name}.part"));
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::rename(&temporary, &path).await
    }
    .await;
    match written {
        Ok(()) => {
            item.status = "stored".into();
            item.content_type = Some(content_type.into());
            item.file = Some(name);
            item.bytes = Some(bytes.len());
            item.reason = None;
        }
        Err(error) => {
            tracing::error!(%error, "media: cannot write a file");
            item.status = "failed".into();
            item.reason = Some("could not be stored".into());
        }
    }
    item
}

/// Fetches the pending items of message `id` and records the outcome.
pub(crate) async fn fetch_pending(state: AppState, id: Uuid, thread: Option<Uuid>) {
    let Some(dir) = state.sms.media_dir.clone() else {
        return;
    };
    let Ok(Some(message)) = state.store.find_message(id).await else {
        return;
    };
    let mut items: Vec<StoredMedia> = serde_json::from_str(&message.media_json).unwrap_or_default();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for (index, item) in items.iter_mut().enumerate() {
        if item.status != "pending" {
            continue;
        }
        let Some(url) = item.url.clone() else {
            continue;
        };
        *item = match download(&client, &url, state.sms.media_max_bytes).await {
            Ok(bytes) => {
                keep(
                    &dir,
                    state.sms.media_max_bytes,
                    id,
                    index,
                    item.clone(),
                    &bytes,
                )
                .await
            }
            Err(reason) => StoredMedia {
                status: if reason.starts_with("larger") {
                    "refused"
                } else {
                    "failed"
                }
                .into(),
                reason: Some(reason),
                ..item.clone()
            },
        };
    }
    let json = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
    if let Err(error) = state.store.set_message_media(id, &json).await {
        tracing::error!(%error, "media: cannot record the fetched files");
        return;
    }
    if let Some(thread) = thread {
        state.floor.thread_changed(thread, crate::now(), false);
    }
}

/// One GET, at most `max_bytes` of body, three tries.
async fn download(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    url: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    if !url.starts_with("http://") {
        return Err(
            "only http:// media URLs are fetched (reach https through a local TLS proxy)".into(),
        );
    }
    let mut last = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
        }
        let request = match axum::http::Request::get(url).body(Empty::<Bytes>::new()) {
            Ok(request) => request,
            Err(error) => return Err(format!("bad media URL: {error}")),
        };
        let response =
            match tokio::time::timeout(std::time::Duration::from_secs(20), client.request(request))
                .await
            {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => {
                    last = format!("unreachable: {error}");
                    continue;
                }
                Err(_) => {
                    last = "timed out".into();
                    continue;
                }
            };
        if !response.status().is_success() {
            last = format!("the gateway answered {}", response.status());
            continue;
        }
        return match Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
        {
            Ok(body) => Ok(body.to_bytes().to_vec()),
            Err(_) => Err(format!("larger than {max_bytes} bytes, or cut short")),
        };
    }
    Err(last)
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/messages/{id}/media/{index}", get(serve_media))
}

async fn serve_media(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath((id, index)): UrlPath<(String, usize)>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_read_consultations)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("media"))?;
    let message = state
        .store
        .find_message(id)
        .await?
        .ok_or_else(|| ApiError::not_found("media"))?;
    let items: Vec<StoredMedia> = serde_json::from_str(&message.media_json).unwrap_or_default();
    let item = items
        .get(index)
        .filter(|item| item.status == "stored")
        .ok_or_else(|| ApiError::not_found("media"))?;
    let (Some(dir), Some(file), Some(content_type)) = (
        state.sms.media_dir.as_ref(),
        item.file.as_ref(),
        item.content_type.as_ref(),
    ) else {
        return Err(ApiError::not_found("media"));
    };
    // The name is ours (id-index.ext), never the gateway's; still, no
    // separators.
    if file.contains('/') || file.contains('\\') || file.starts_with('.') {
        return Err(ApiError::not_found("media"));
    }
    crate::consultations::audit(&state, &caller, "message.media", format!("{id}/{index}")).await?;
    let path: PathBuf = dir.join(file);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found("media"))?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}
