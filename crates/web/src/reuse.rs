//! Re-use survey campaigns: a coordinator samples citizens who used the service
//! in a period (random, each citizen once) and asks them by SMS whether they
//! would use it again; the answers come back as texts ("예" / "아니요") and are
//! recorded instead of routed. Results carry the response rate and a 95%
//! confidence interval (Wilson) for the share answering yes.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use dasan_core::{PhoneNumber, Role, Timestamp};
use dasan_store::Store;
use dasan_store::reuse::{ReuseCampaign, ReuseCounts};
use serde::Deserialize;
use serde_json::json;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson},
};

/// Samples larger than this are refused (one SMS each).
pub const MAX_SAMPLE: usize = 10_000;
/// Answers count for this long after the question was sent.
const ANSWER_WINDOW_MILLIS: i64 = 7 * 24 * 3_600_000;
const QUESTION: &str = "[120다산콜센터] 다음에도 120다산콜센터를 이용하시겠습니까? \"예\" 또는 \"아니요\"로 답해 주세요.";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/surveys/reuse", post(create))
        .route("/surveys/reuse/{id}", get(read))
}

/// "예" / "아니요" and their everyday forms; `None` for anything else.
pub fn parse_yes_no(body: &str) -> Option<bool> {
    let word: String = body
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    match word.as_str() {
        "예" | "네" | "응" | "어" | "ㅇㅇ" | "yes" | "y" | "예요" | "네요" | "그럼요"
        | "당연하죠" => Some(true),
        "아니요" | "아니오" | "아니" | "아뇨" | "ㄴㄴ" | "no" | "n" | "싫어요" => {
            Some(false)
        }
        _ => None,
    }
}

/// The 95% Wilson score interval for `yes` of `n`.
pub fn wilson(yes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p, z) = (n as f64, yes as f64 / n as f64, 1.959_963_984_540_054_f64);
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

fn view(campaign: &ReuseCampaign, counts: &ReuseCounts) -> serde_json::Value {
    let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    let interval =
        wilson(counts.yes, counts.responses).map(|(low, high)| json!({"low": low, "high": high}));
    json!({
        "id": campaign.id.to_string(),
        "from": campaign.period_from.to_rfc3339(),
        "to": campaign.period_to.to_rfc3339(),
        "created_at": campaign.created_at.to_rfc3339(),
        "created_by": campaign.created_by,
        "question": campaign.question,
        "population": campaign.population,
        "sampled": counts.sampled,
        "skipped": counts.skipped,
        "sent": counts.sent,
        "responses": counts.responses,
        "yes": counts.yes,
        "response_rate": share(counts.responses, counts.sent),
        "yes_share": share(counts.yes, counts.responses),
        "yes_share_ci95": interval,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    from: String,
    to: String,
    sample_size: usize,
    question: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_run_reuse_surveys)?;
    let invalid = |message: &str| ApiError::bad_request("invalid_campaign", message);
    let from =
        Timestamp::parse_rfc3339(&body.from).map_err(|_| invalid("from is an RFC 3339 time"))?;
    let to = Timestamp::parse_rfc3339(&body.to).map_err(|_| invalid("to is an RFC 3339 time"))?;
    if from >= to {
        return Err(invalid("from must be before to"));
    }
    if body.sample_size == 0 || body.sample_size > MAX_SAMPLE {
        return Err(invalid(&format!("sample_size is 1 to {MAX_SAMPLE}")));
    }
    let question = body.question.unwrap_or_else(|| QUESTION.to_owned());
    if question.trim().is_empty() || question.chars().count() > 500 {
        return Err(invalid("the question is 1 to 500 characters"));
    }
    if state.sms.outbound_url.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "sms_not_configured",
            "a re-use campaign asks by SMS: configure the outbound gateway first",
        ));
    }
    // Each citizen of the period once; N of them at random.
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| ApiError::internal(&e))?;
    let (population, citizens) = state
        .store
        .sample_citizens(from, to, body.sample_size, u64::from_le_bytes(seed))
        .await?;
    let mut members: Vec<(PhoneNumber, bool)> = Vec::with_capacity(citizens.len());
    for phone in citizens {
        let opted_out = state.store.is_opted_out(&phone).await?;
        members.push((phone, opted_out));
    }
    let campaign = ReuseCampaign {
        id: uuid::Uuid::now_v7(),
        created_at: crate::now(),
        created_by: caller.name.clone(),
        period_from: from,
        period_to: to,
        population: population as i64,
        question: question.clone(),
    };
    state
        .store
        .create_reuse_campaign(&campaign, &members)
        .await?;
    // The questions go through the durable outbox; each member is marked
    // sent once its message is queued.
    for (phone, skipped) in &members {
        if *skipped {
            continue;
        }
        crate::sms::enqueue(&state, phone, None, &question).await?;
        state
            .store
            .mark_reuse_sent(campaign.id, phone, crate::now())
            .await?;
    }
    let (campaign, counts) = state
        .store
        .reuse_campaign(campaign.id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a new campaign vanished"))?;
    Ok((StatusCode::CREATED, Json(view(&campaign, &counts))).into_response())
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(|r| r.may_run_reuse_surveys() || r.may_read_statistics())?;
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("campaign"))?;
    let (campaign, counts) = state
        .store
        .reuse_campaign(id)
        .await?
        .ok_or_else(|| ApiError::not_found("campaign"))?;
    Ok(Json(view(&campaign, &counts)))
}

/// A citizen's text: if it answers their open re-use question, recorded (true).
pub(crate) async fn reply_to(
    state: &AppState,
    phone: &PhoneNumber,
    body: &str,
) -> Result<bool, ApiError> {
    let Some(yes) = parse_yes_no(body) else {
        return Ok(false);
    };
    let now = crate::now();
    let since = Timestamp::from_millis(now.millis() - ANSWER_WINDOW_MILLIS)?;
    Ok(state.store.answer_reuse(phone, yes, since, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_in_everyday_forms() {
        for yes in ["예", "네!", " 응 ", "YES", "ㅇㅇ", "그럼요."] {
            assert_eq!(parse_yes_no(yes), Some(true), "{yes}");
        }
        for no in ["아니요", "아니오.", "아뇨", "no", "ㄴㄴ"] {
            assert_eq!(parse_yes_no(no), Some(false), "{no}");
        }
        for other in [
            "",
            "5",
            "예약하려고요",
            "네이버",
            "아니 그게 아니라 수도요금이요",
        ] {
            assert_eq!(parse_yes_no(other), None, "{other}");
        }
    }

    #[test]
    fn the_wilson_interval_matches_known_values() {
        assert_eq!(wilson(0, 0), None);
        let (low, high) = wilson(996, 1000).expect("interval");
        // 99.6% of 1,000: about 98.98% to 99.84%.
        assert!(
            (low - 0.98977).abs() < 1e-4 && (high - 0.99844).abs() < 1e-4,
            "{low} {high}"
        );
        let (low, high) = wilson(2, 3).expect("interval");
        assert!(
            (low - 0.2077).abs() < 1e-3 && (high - 0.9385).abs() < 1e-3,
            "{low} {high}"
        );
        assert_eq!(wilson(0, 5).map(|(l, _)| l), Some(0.0));
        assert_eq!(wilson(5, 5).map(|(_, h)| h), Some(1.0));
    }
}
