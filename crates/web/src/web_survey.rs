//! The web survey: for video and web contacts, a signed, single-use link to a
//! one-question page instead of an SMS.
//!
//! When such a consultation is stored its survey is opened at once (`sent`, no
//! message). `GET /api/v1/consultations/{id}/survey-link` gives the channel's
//! front end the link to show the citizen: `/survey/<token>`, where the token is
//! the consultation id and an expiry, signed with HMAC-SHA256 under the survey
//! link secret. The page takes one answer (1–5); the store records it only while
//! the survey is still open, so a second answer, a forged or altered token and an
//! expired one are all refused with a page that says why.

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use dasan_core::{Role, Timestamp};
use dasan_store::Store;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;

use crate::{
    AppState,
    auth::Caller,
    charts::escape,
    error::{ApiError, ApiQuery},
    i18n::{Lang, t},
};

const CONTEXT: &[u8] = b"dasan-survey-link-v1";

/// The secret links are signed with; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret(Vec<u8>);

impl LinkSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        LinkSecret(bytes)
    }

    /// A random secret for this process (links then end with it: configure
    /// `DASAN_SURVEY_LINK_SECRET` to keep them across restarts).
    pub fn random() -> Self {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        LinkSecret(bytes)
    }

    fn mac(&self, payload: &[u8]) -> [u8; 16] {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(CONTEXT);
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret([redacted])")
    }
}

/// The token for one consultation's survey, valid until `expires`.
pub fn token(secret: &LinkSecret, consultation: uuid::Uuid, expires: Timestamp) -> String {
    let mut payload = Vec::with_capacity(40);
    payload.extend_from_slice(consultation.as_bytes());
    payload.extend_from_slice(&expires.millis().to_be_bytes());
    let mac = secret.mac(&payload);
    payload.extend_from_slice(&mac);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
}

/// The consultation a token names, if its signature holds and it has not expired.
pub fn verify(secret: &LinkSecret, token: &str, now: Timestamp) -> Result<uuid::Uuid, TokenError> {
    if token.len() > 64 {
        return Err(TokenError::Invalid);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Invalid)?;
    if bytes.len() != 40 {
        return Err(TokenError::Invalid);
    }
    let (payload, given) = bytes.split_at(24);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret.0).expect("any key length");
    mac.update(CONTEXT);
    mac.update(payload);
    mac.verify_truncated_left(given)
        .map_err(|_| TokenError::Invalid)?;
    let id = uuid::Uuid::from_slice(&payload[..16]).map_err(|_| TokenError::Invalid)?;
    let mut millis = [0u8; 8];
    millis.copy_from_slice(&payload[16..]);
    if now.millis() > i64::from_be_bytes(millis) {
        return Err(TokenError::Expired);
    }
    Ok(id)
}

pub(crate) fn api_routes() -> Router<AppState> {
    Router::new().route("/consultations/{id}/survey-link", get(link))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/survey/{token}", get(page).post(answer))
}

/// The link for a web or video consultation's survey (staff who record
/// consultations: the channel's front end shows it to the citizen).
async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_record_consultations)?;
    let Some(config) = state.surveys.as_deref() else {
        return Err(ApiError::not_found("survey"));
    };
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("survey"))?;
    let survey = state
        .store
        .survey_for_consultation(id)
        .await?
        .filter(|s| config.web_channels.contains(&s.channel))
        .ok_or_else(|| ApiError::not_found("survey"))?;
    let opened = survey.sent_at.unwrap_or(survey.due_at);
    let expires = Timestamp::from_millis(opened.millis() + config.link_ttl_hours * 3_600_000)?;
    let path = format!("/survey/{}", token(&config.link_secret, id, expires));
    let url = match &state.sms.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => path,
    };
    Ok(Json(json!({
        "url": url,
        "expires_at": expires.to_rfc3339(),
        "status": survey.status,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AnswerForm {
    score: Option<String>,
}

fn reply(status: StatusCode, lang: Lang, title_key: &str, body: String) -> Response {
    let title = t(lang, title_key);
    let mut response = (
        status,
        Html(crate::session::page(
            lang,
            title,
            &format!("<h1>{}</h1>{body}", escape(title)),
        )),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        "referrer-policy",
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

fn message(status: StatusCode, lang: Lang, key: &str) -> Response {
    reply(
        status,
        lang,
        "survey.title",
        format!("<p>{}</p>", escape(t(lang, key))),
    )
}

/// The survey a token opens, or the page that says why not.
async fn open(
    state: &AppState,
    lang: Lang,
    token: &str,
) -> Result<Result<dasan_store::SurveyRecord, Response>, ApiError> {
    let Some(config) = state.surveys.as_deref() else {
        return Ok(Err(message(StatusCode::NOT_FOUND, lang, "survey.invalid")));
    };
    let id = match verify(&config.link_secret, token, crate::now()) {
        Ok(id) => id,
        Err(TokenError::Expired) => {
            return Ok(Err(message(StatusCode::GONE, lang, "survey.expired")));
        }
        Err(TokenError::Invalid) => {
            return Ok(Err(message(StatusCode::NOT_FOUND, lang, "survey.invalid")));
        }
    };
    match state.store.survey_for_consultation(id).await? {
        Some(survey) if survey.status == "answered" => {
            Ok(Err(message(StatusCode::CONFLICT, lang, "survey.already")))
        }
        Some(survey) if survey.status == "sent" => Ok(Ok(survey)),
        _ => Ok(Err(message(StatusCode::NOT_FOUND, lang, "survey.invalid"))),
    }
}

async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    if let Err(refusal) = open(&state, lang, &token).await? {
        return Ok(refusal);
    }
    Ok(form(lang, &token, StatusCode::OK, None))
}

fn form(lang: Lang, token: &str, status: StatusCode, error: Option<&str>) -> Response {
    let mut choices = String::new();
    for score in (1..=5).rev() {
        choices.push_str(&format!(
            r#"<p><input type="radio" id="s{score}" name="score" value="{score}" style="width:auto"{checked}> <label for="s{score}" style="display:inline">{score} — {label}</label></p>"#,
            checked = if score == 5 { " required" } else { "" },
            label = escape(t(lang, &format!("survey.score{score}"))),
        ));
    }
    let error = error
        .map(|key| format!(r#"<p role="alert">{}</p>"#, escape(t(lang, key))))
        .unwrap_or_default();
    let body = format!(
        r#"<form method="post" action="/survey/{token}"><fieldset><legend>{question}</legend>{choices}</fieldset>{error}<button type="submit">{send}</button></form>"#,
        token = escape(token),
        question = escape(t(lang, "survey.question")),
        send = escape(t(lang, "survey.send")),
    );
    reply(status, lang, "survey.title", body)
}

async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
    form_data: Result<Form<AnswerForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let survey = match open(&state, lang, &token).await? {
        Ok(survey) => survey,
        Err(refusal) => return Ok(refusal),
    };
    let score = form_data
        .ok()
        .and_then(|Form(f)| f.score)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| (1..=5).contains(s));
    let Some(score) = score else {
        return Ok(form(
            lang,
            &token,
            StatusCode::BAD_REQUEST,
            Some("survey.choose"),
        ));
    };
    if !state
        .store
        .answer_survey_once(survey.consultation_id, score, crate::now())
        .await?
    {
        return Ok(message(StatusCode::CONFLICT, lang, "survey.already"));
    }
    Ok(message(StatusCode::OK, lang, "survey.thanks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_consultation_until_it_expires_and_cannot_be_altered() {
        let secret = LinkSecret::new(b"secret".to_vec());
        let id = uuid::Uuid::now_v7();
        let at = |ms| Timestamp::from_millis(ms).expect("t");
        let token = token(&secret, id, at(2_000_000));
        assert_eq!(verify(&secret, &token, at(1_000_000)), Ok(id));
        assert_eq!(
            verify(&secret, &token, at(2_000_001)),
            Err(TokenError::Expired)
        );
        let other = LinkSecret::new(b"other".to_vec());
        assert_eq!(verify(&other, &token, at(0)), Err(TokenError::Invalid));
        // Every altered character is refused.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).expect("ascii");
            assert!(verify(&secret, &altered, at(0)).is_err(), "position {i}");
        }
        for bad in ["", "x", "!!!", &"A".repeat(65)] {
            assert_eq!(verify(&secret, bad, at(0)), Err(TokenError::Invalid));
        }
        assert_eq!(format!("{secret:?}"), "LinkSecret([redacted])");
    }
}
