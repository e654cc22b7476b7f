//! Satisfaction surveys after a contact, by SMS.
//!
//! When a consultation on a surveyed channel is stored, a survey is
//! scheduled `delay` later (once per citizen per period, never to opted-out
//! numbers). The survey task sends due surveys through the outbox, moving
//! any that fall in the quiet hours to their end. A reply that reads as a
//! score (1–5, full-width digits, "5점", "매우 만족"...) within the reply
//! window is recorded against that consultation (a later reply updates it);
//! anything else is an ordinary text and is routed as a contact.

use std::{sync::Arc, time::Duration};

use chrono::Timelike;
use chrono_tz::Tz;
use dasan_core::{Channel, Consultation, PhoneNumber, Timestamp};
use dasan_store::{Store, SurveyRecord};

use crate::{AppState, error::ApiError};

#[derive(Debug, Clone)]
pub struct SurveyConfig {
    /// Channels whose consultations are surveyed.
    pub channels: Vec<Channel>,
    pub delay_seconds: u64,
    /// Local hours `[start, end)` in which nothing is sent (wraps past
    /// midnight when start > end); `None` sends at any hour.
    pub quiet_hours: Option<(u32, u32)>,
    /// At most one survey per citizen in this many days.
    pub period_days: i64,
    /// Replies count for this long after the survey was sent.
    pub reply_window_hours: i64,
    pub text: String,
    /// Channels surveyed by a signed web link instead of an SMS.
    pub web_channels: Vec<Channel>,
    /// How long a web survey link stays valid.
    pub link_ttl_hours: i64,
    pub link_secret: crate::web_survey::LinkSecret,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        SurveyConfig {
            channels: vec![Channel::Voice, Channel::Sms],
            delay_seconds: 300,
            quiet_hours: Some((0, 7)),
            period_days: 30,
            reply_window_hours: 24,
            text: "[120다산콜센터] 오늘 상담은 어떠셨나요? 1(매우 불만)~5(매우 만족) 숫자로 답해 주세요."
                .into(),
            web_channels: vec![Channel::Video, Channel::Web],
            link_ttl_hours: 72,
            link_secret: crate::web_survey::LinkSecret::random(),
        }
    }
}

/// `00-07` → `Some((0, 7))`; `none` → `None`.
pub fn parse_quiet_hours(text: &str) -> Result<Option<(u32, u32)>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (start, end) = text
        .trim()
        .split_once('-')
        .ok_or_else(|| format!("quiet hours are HH-HH or none, not {text:?}"))?;
    let hour = |h: &str| {
        h.trim()
            .parse::<u32>()
            .ok()
            .filter(|h| *h <= 24)
            .ok_or_else(|| format!("quiet hours are HH-HH with hours 0..24, not {text:?}"))
    };
    Ok(Some((hour(start)? % 24, hour(end)? % 24)))
}

/// When a survey due at `due` may go: `due` itself, or the end of the
/// quiet hours it falls in (local time).
pub fn send_time(due: Timestamp, quiet: Option<(u32, u32)>, zone: Tz) -> Timestamp {
    let Some((start, end)) = quiet else {
        return due;
    };
    if start == end {
        return due;
    }
    let local = due.as_datetime().with_timezone(&zone);
    let hour = local.hour();
    let quiet_now = if start < end {
        hour >= start && hour < end
    } else {
        hour >= start || hour < end
    };
    if !quiet_now {
        return due;
    }
    // The end of this quiet stretch: today at `end`, or tomorrow when the
    // stretch wraps past midnight and we are before it.
    let mut date = local.date_naive();
    if start > end && hour >= start {
        date = date.succ_opt().unwrap_or(date);
    }
    Timestamp::from_local(zone, date, end * 3600).unwrap_or(due)
}

/// The score a reply gives, if it is one: a single digit 1–5 (ASCII or
/// full-width, optionally followed by 점), or the words of the scale.
pub fn parse_score(body: &str) -> Option<i64> {
    let normalised: String = body
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            other => other,
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '!' | '~' | '요'))
        .collect();
    let words: [(&str, i64); 8] = [
        ("매우만족", 5),
        ("아주만족", 5),
        ("만족", 4),
        ("보통", 3),
        ("매우불만족", 1),
        ("매우불만", 1),
        ("불만족", 2),
        ("불만", 2),
    ];
    if let Some((_, score)) = words.iter().find(|(w, _)| normalised == *w) {
        return Some(*score);
    }
    let digits = normalised.strip_suffix('점').unwrap_or(&normalised);
    match digits {
        "1" | "2" | "3" | "4" | "5" => digits.parse().ok(),
        _ => None,
    }
}

/// A consultation was stored: schedule its survey if the rules allow.
pub(crate) async fn consultation_recorded(
    state: &AppState,
    consultation: &Consultation,
) -> Result<(), ApiError> {
    let record = &consultation.record;
    let Some(config) = state.surveys.as_deref() else {
        return Ok(());
    };
    let now = crate::now();
    if config.web_channels.contains(&record.channel) {
        // Open at once: the link is the survey (no message, no quiet hours).
        let survey = SurveyRecord {
            consultation_id: record.id.0,
            citizen_phone: record.citizen_phone.clone(),
            channel: record.channel,
            category: record.category.to_string(),
            agent_id: record.agent_id.map(|a| a.0),
            consultation_at: record.started_at,
            due_at: now,
            status: "sent".into(),
            message_id: None,
            sent_at: Some(now),
            score: None,
            answered_at: None,
            skip_reason: None,
        };
        state.store.schedule_survey(&survey).await?;
        return Ok(());
    }
    if state.sms.outbound_url.is_none() || !config.channels.contains(&record.channel) {
        return Ok(());
    }
    let phone = &record.citizen_phone;
    let mut survey = SurveyRecord {
        consultation_id: record.id.0,
        citizen_phone: phone.clone(),
        channel: record.channel,
        category: record.category.to_string(),
        agent_id: record.agent_id.map(|a| a.0),
        consultation_at: record.started_at,
        due_at: Timestamp::from_millis(now.millis() + config.delay_seconds as i64 * 1000)?,
        status: "scheduled".into(),
        message_id: None,
        sent_at: None,
        score: None,
        answered_at: None,
        skip_reason: None,
    };
    if state.store.is_opted_out(phone).await? {
        survey.status = "skipped".into();
        survey.skip_reason = Some("opted_out".into());
    } else if let Some(last) = state.store.last_survey_for(phone).await?
        && last.status != "skipped"
        && now.millis() - last.due_at.millis() < config.period_days * 86_400_000
    {
        survey.status = "skipped".into();
        survey.skip_reason = Some("surveyed_recently".into());
    }
    if state.store.schedule_survey(&survey).await? && survey.status == "scheduled" {
        state.survey_signal.notify_one();
    }
    Ok(())
}

/// A citizen's text: if it answers their open survey, the survey with the
/// answer recorded (for the caller to store after the message itself);
/// `None` when the text is an ordinary one.
pub(crate) async fn reply_to(
    state: &AppState,
    phone: &PhoneNumber,
    body: &str,
) -> Result<Option<SurveyRecord>, ApiError> {
    let Some(config) = state.surveys.as_deref() else {
        return Ok(None);
    };
    let Some(score) = parse_score(body) else {
        return Ok(None);
    };
    let Some(mut survey) = state.store.last_survey_for(phone).await? else {
        return Ok(None);
    };
    let now = crate::now();
    let window = config.reply_window_hours * 3_600_000;
    let open = matches!(survey.status.as_str(), "sent" | "answered")
        && survey
            .sent_at
            .is_some_and(|sent| now.millis() - sent.millis() <= window);
    if !open {
        return Ok(None);
    }
    survey.status = "answered".into();
    survey.score = Some(score);
    survey.answered_at = Some(now);
    Ok(Some(survey))
}

/// Sends due surveys through the outbox. Runs until the server stops.
pub(crate) async fn run(state: AppState, config: Arc<SurveyConfig>) {
    let closed = state.floor.closed();
    tokio::pin!(closed);
    loop {
        let now = crate::now();
        match state.store.due_surveys(now, 100).await {
            Ok(due) => {
                for survey in due {
                    if let Err(error) = send(&state, &config, survey, now).await {
                        tracing::error!(error = %error.message, "survey: not sent; will retry");
                    }
                }
            }
            Err(error) => tracing::error!(%error, "survey: cannot read due surveys"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = state.survey_signal.notified() => {}
            _ = &mut closed => return,
        }
    }
}

async fn send(
    state: &AppState,
    config: &SurveyConfig,
    mut survey: SurveyRecord,
    now: Timestamp,
) -> Result<(), ApiError> {
    if state.store.is_opted_out(&survey.citizen_phone).await? {
        survey.status = "skipped".into();
        survey.skip_reason = Some("opted_out".into());
        return Ok(state.store.update_survey(&survey).await?);
    }
    let allowed = send_time(now, config.quiet_hours, state.zone);
    if allowed > now {
        // Quiet hours: wait for their end.
        survey.due_at = allowed;
        return Ok(state.store.update_survey(&survey).await?);
    }
    let message = crate::sms::enqueue(state, &survey.citizen_phone, None, &config.text).await?;
    survey.status = "sent".into();
    survey.message_id = Some(message.id);
    survey.sent_at = Some(now);
    Ok(state.store.update_survey(&survey).await?)
}

pub(crate) fn signal() -> Arc<tokio::sync::Notify> {
    Arc::new(tokio::sync::Notify::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dasan_core::time::SEOUL;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("time")
    }

    #[test]
    fn replies_read_as_scores_only_when_they_are_one() {
        for (text, score) in [
            ("5", Some(5)),
            (" 4 ", Some(4)),
            ("５", Some(5)),
            ("５점", Some(5)),
            ("3점", Some(3)),
            ("1.", Some(1)),
            ("매우 만족", Some(5)),
            ("만족해요", None),
            ("만족", Some(4)),
            ("보통", Some(3)),
            ("매우 불만족", Some(1)),
            ("6", None),
            ("0", None),
            ("45", None),
            ("5점 만점에 4점", None),
            ("버스 노선 문의", None),
            ("", None),
        ] {
            assert_eq!(parse_score(text), score, "{text:?}");
        }
    }

    #[test]
    fn quiet_hours_move_a_survey_to_their_end_in_local_time() {
        let quiet = Some((0, 7));
        // 02:30 in Seoul → 07:00 the same day.
        assert_eq!(
            send_time(at("2026-11-28T02:30:00+09:00"), quiet, SEOUL),
            at("2026-11-28T07:00:00+09:00")
        );
        // 07:00 and 23:59 are outside.
        for free in ["2026-11-28T07:00:00+09:00", "2026-11-28T23:59:00+09:00"] {
            assert_eq!(send_time(at(free), quiet, SEOUL), at(free));
        }
        // Wrapping hours, 22-07: 23:00 → 07:00 the next day; 03:00 → 07:00.
        let wrap = Some((22, 7));
        assert_eq!(
            send_time(at("2026-11-28T23:00:00+09:00"), wrap, SEOUL),
            at("2026-11-29T07:00:00+09:00")
        );
        assert_eq!(
            send_time(at("2026-11-29T03:00:00+09:00"), wrap, SEOUL),
            at("2026-11-29T07:00:00+09:00")
        );
        // `none` sends at any hour.
        assert_eq!(
            send_time(at("2026-11-28T02:30:00+09:00"), None, SEOUL),
            at("2026-11-28T02:30:00+09:00")
        );
        assert_eq!(parse_quiet_hours("00-07"), Ok(Some((0, 7))));
        assert_eq!(parse_quiet_hours("none"), Ok(None));
        assert!(parse_quiet_hours("7am").is_err());
        assert!(parse_quiet_hours("25-3").is_err());
    }
}
