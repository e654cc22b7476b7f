//! The care-call programme's rules: welfare calls to seniors living alone.
//!
//! Pure: which days of a week a senior is called ([`plan_week`]), when an
//! unanswered call is tried again ([`RetryPolicy::next_try`]), what a call's
//! check says ([`CareCheck::concerns`]). The server keeps the records and
//! the clock.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// How a care call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CareOutcome {
    Reached,
    NoAnswer,
    Busy,
    WrongNumber,
    InHospital,
    OptedOut,
    Deceased,
}

impl CareOutcome {
    pub const ALL: [CareOutcome; 7] = [
        CareOutcome::Reached,
        CareOutcome::NoAnswer,
        CareOutcome::Busy,
        CareOutcome::WrongNumber,
        CareOutcome::InHospital,
        CareOutcome::OptedOut,
        CareOutcome::Deceased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CareOutcome::Reached => "reached",
            CareOutcome::NoAnswer => "no_answer",
            CareOutcome::Busy => "busy",
            CareOutcome::WrongNumber => "wrong_number",
            CareOutcome::InHospital => "in_hospital",
            CareOutcome::OptedOut => "opted_out",
            CareOutcome::Deceased => "deceased",
        }
    }

    pub fn parse(text: &str) -> Result<CareOutcome, DomainError> {
        CareOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| DomainError::invalid("outcome", "one of reached, no_answer, busy, wrong_number, in_hospital, opted_out, deceased"))
    }

    /// Nobody took the call: it is tried again, and a run of these is a
    /// failure that escalates.
    pub fn is_unanswered(self) -> bool {
        matches!(self, CareOutcome::NoAnswer | CareOutcome::Busy)
    }

    /// The senior was not reached in a way that counts against the run of
    /// failures (a wrong number cannot be retried: the roster is wrong).
    pub fn is_failure(self) -> bool {
        self.is_unanswered() || self == CareOutcome::WrongNumber
    }

    /// The programme stops calling (the roster records the exit).
    pub fn ends_programme(self) -> bool {
        matches!(self, CareOutcome::OptedOut | CareOutcome::Deceased)
    }
}

/// How the senior sounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    #[default]
    Good,
    Fair,
    /// Sounds ill, in pain.
    Unwell,
    /// Has fallen or cannot get up.
    Fell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Meals {
    #[default]
    Regular,
    Irregular,
    /// No food in the house or not eating.
    NoFood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mood {
    #[default]
    Good,
    Low,
    /// Hopeless, speaks of self-harm.
    Crisis,
}

/// The short structured check of a reached call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CareCheck {
    pub health: Health,
    pub meals: Meals,
    pub mood: Mood,
    /// What the senior asked for, e.g. `medical_counselling`,
    /// `housekeeping`, `meal_delivery`.
    pub needs: Vec<String>,
    pub note: String,
    /// The agent's own judgement that someone should look in.
    pub concern: bool,
}

/// Needs the check accepts.
pub const NEEDS: [&str; 5] = [
    "medical_counselling",
    "housekeeping",
    "meal_delivery",
    "heating",
    "other",
];

/// The longest check note.
pub const MAX_NOTE_CHARS: usize = 2_000;

impl CareCheck {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.note.chars().count() > MAX_NOTE_CHARS {
            return Err(DomainError::invalid(
                "check.note",
                "at most 2,000 characters",
            ));
        }
        if self.needs.len() > NEEDS.len() || self.needs.iter().any(|n| !NEEDS.contains(&n.as_str()))
        {
            return Err(DomainError::invalid(
                "check.needs",
                "a list of medical_counselling, housekeeping, meal_delivery, heating, other",
            ));
        }
        Ok(())
    }

    /// Why someone should look in at once; empty when all is well.
    pub fn concerns(&self) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        match self.health {
            Health::Fell => reasons.push("fell"),
            Health::Unwell => reasons.push("unwell"),
            Health::Good | Health::Fair => {}
        }
        if self.meals == Meals::NoFood {
            reasons.push("no_food");
        }
        if self.mood == Mood::Crisis {
            reasons.push("mood_crisis");
        }
        if self.concern {
            reasons.push("agent_concern");
        }
        reasons
    }

    pub fn wants_medical_counselling(&self) -> bool {
        self.needs.iter().any(|n| n == "medical_counselling")
    }
}

/// The hours a senior prefers to be called, local time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    /// Minutes after midnight.
    pub start: u16,
    pub end: u16,
}

impl Default for Hours {
    fn default() -> Self {
        Hours {
            start: 10 * 60,
            end: 17 * 60,
        }
    }
}

impl Hours {
    /// `HH:MM-HH:MM`, at least an hour long, within one day.
    pub fn parse(text: &str) -> Result<Hours, DomainError> {
        let bad =
            || DomainError::invalid("hours", "HH:MM-HH:MM, at least one hour, e.g. 10:00-12:00");
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let minutes = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        };
        let (start, end) = (
            minutes(start).ok_or_else(bad)?,
            minutes(end).ok_or_else(bad)?,
        );
        if end < start + 60 {
            return Err(bad());
        }
        Ok(Hours { start, end })
    }

    pub fn format(self) -> String {
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }

    pub fn contains(self, minute_of_day: u16) -> bool {
        (self.start..self.end).contains(&minute_of_day)
    }
}

/// Days of the week, as a set.
pub fn parse_weekdays(text: &str) -> Result<BTreeSet<u8>, DomainError> {
    let mut days = BTreeSet::new();
    for word in text.split([',', ' ', '/']).filter(|w| !w.trim().is_empty()) {
        let day = match word.trim().to_lowercase().as_str() {
            "mon" | "월" => 0,
            "tue" | "화" => 1,
            "wed" | "수" => 2,
            "thu" | "목" => 3,
            "fri" | "금" => 4,
            "sat" | "토" => 5,
            "sun" | "일" => 6,
            _ => {
                return Err(DomainError::invalid(
                    "days",
                    "weekdays such as mon,wed,fri (or 월,수,금)",
                ));
            }
        };
        days.insert(day);
    }
    Ok(days)
}

/// The Monday of the week holding `date`.
pub fn week_start(date: NaiveDate) -> NaiveDate {
    date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
}

/// What [`plan_week`] needs to know about one senior and one week.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// 1 to 7.
    pub calls_per_week: u8,
    /// Preferred weekdays (0 = Monday); empty for any.
    pub days: &'a BTreeSet<u8>,
    /// A Monday.
    pub week_start: NaiveDate,
    /// No call before this day (enrolment, or the day planning starts).
    pub first_day: NaiveDate,
    /// No call on or after this day (exit).
    pub end_day: Option<NaiveDate>,
    pub holidays: &'a BTreeSet<NaiveDate>,
    /// The senior's place in the week (0–6), chosen at enrolment to level
    /// the floor's daily load; rotates which days are used.
    pub phase: u8,
}

/// The days of one week on which a senior is called, as `(slot, day)` with
/// slots numbered from 0 in the order of the ideal spread.
///
/// In a full week (enrolled before it, not exiting in it) the answer has
/// exactly `calls_per_week` entries: the calls are spread evenly over the
/// week (e.g. three calls two or three days apart), on preferred days when
/// there are enough of them, and a call whose day is a holiday moves to the
/// nearest free day instead of being dropped (two calls share a day only
/// when a week has fewer free days than calls). In a partial week a call
/// whose day falls outside the enrolled part moves to a free day inside it
/// if there is one, else it is dropped: never more calls than in a full week.
pub fn plan_week(input: &PlanInput<'_>) -> Vec<(u8, NaiveDate)> {
    let n = input.calls_per_week.clamp(1, 7) as i64;
    let week: Vec<NaiveDate> = (0..7)
        .map(|d| input.week_start + Duration::days(d))
        .collect();
    let in_range = |d: NaiveDate| d >= input.first_day && input.end_day.is_none_or(|end| d < end);
    let full = input.first_day <= input.week_start
        && input
            .end_day
            .is_none_or(|end| end > input.week_start + Duration::days(6));
    let open = |d: NaiveDate| in_range(d) && !input.holidays.contains(&d);
    let preferred = |d: NaiveDate| {
        input.days.is_empty()
            || input
                .days
                .contains(&(d.weekday().num_days_from_monday() as u8))
    };
    // Preferred days if there are enough of them in the week, else any day.
    let enough_preferred = week.iter().filter(|d| open(**d) && preferred(**d)).count() as i64 >= n;
    let candidate = |d: NaiveDate| open(d) && (!enough_preferred || preferred(d));
    // The ideal spread, rotated by the phase, over the candidate days in
    // week order (so three calls among Mon/Wed/Fri land on each of them).
    let candidates: Vec<usize> = (0..7).filter(|&i| candidate(week[i])).collect();
    let base: Vec<usize> = if input.days.is_empty() || !enough_preferred {
        (0..7).collect()
    } else {
        (0..7).filter(|&i| preferred(week[i])).collect()
    };
    let span = base.len() as i64;
    let mut used = [0u8; 7];
    let mut plan = Vec::new();
    for slot in 0..n {
        let position = (i64::from(input.phase) + (slot * span + n / 2) / n) % span;
        let ideal = base[position as usize];
        // The nearest unused candidate, earlier day first on a tie.
        let pick = candidates
            .iter()
            .copied()
            .filter(|&i| used[i] == 0)
            .min_by_key(|&i| ((i as i64 - ideal as i64).abs(), i))
            .or_else(|| {
                // Fewer free days than calls: only a full week doubles up.
                full.then(|| {
                    candidates
                        .iter()
                        .copied()
                        .min_by_key(|&i| (used[i], (i as i64 - ideal as i64).abs(), i))
                })
                .flatten()
            });
        if let Some(i) = pick {
            used[i] += 1;
            plan.push((slot as u8, week[i]));
        }
    }
    plan.sort_by_key(|&(slot, day)| (day, slot));
    plan
}

/// The weekday name (0 = Monday) in English, for display.
pub fn weekday(index: u8) -> Weekday {
    match index {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

/// When unanswered calls are tried again, and when a run of failures
/// escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The wait before the next try.
    pub retry_after_minutes: u32,
    /// Tries of one senior in one day, the first included.
    pub max_tries_per_day: u32,
    /// Consecutive failed tries that open an escalation.
    pub escalate_after_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retry_after_minutes: 120,
            max_tries_per_day: 3,
            escalate_after_failures: 3,
        }
    }
}

impl RetryPolicy {
    /// When to try again after an unanswered try ended at `ended` (local
    /// minute of day `minute`, on `day`), with `tries_today` tries made that
    /// day: after the wait if that is still within the senior's hours and
    /// the day's tries allow, else at the start of the senior's hours on the
    /// next day. Answers the local day and minute of the next try.
    pub fn next_try(
        &self,
        day: NaiveDate,
        minute: u16,
        tries_today: u32,
        hours: Hours,
    ) -> (NaiveDate, u16) {
        let later = u32::from(minute) + self.retry_after_minutes;
        if tries_today < self.max_tries_per_day && later < u32::from(hours.end) {
            let at = later.max(u32::from(hours.start)) as u16;
            return (day, at);
        }
        (day + Duration::days(1), hours.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    fn input<'a>(
        n: u8,
        days: &'a BTreeSet<u8>,
        holidays: &'a BTreeSet<NaiveDate>,
        phase: u8,
    ) -> PlanInput<'a> {
        PlanInput {
            calls_per_week: n,
            days,
            week_start: date("2026-11-30"),
            first_day: date("2026-11-01"),
            end_day: None,
            holidays,
            phase,
        }
    }

    #[test]
    fn a_full_week_has_exactly_n_calls_on_distinct_spread_days() {
        let none = BTreeSet::new();
        let no_holidays = BTreeSet::new();
        for n in 1..=7u8 {
            for phase in 0..7 {
                let plan = plan_week(&input(n, &none, &no_holidays, phase));
                assert_eq!(plan.len(), n as usize, "n={n} phase={phase}");
                let days: BTreeSet<_> = plan.iter().map(|p| p.1).collect();
                assert_eq!(days.len(), n as usize, "distinct days");
                let slots: BTreeSet<_> = plan.iter().map(|p| p.0).collect();
                assert_eq!(slots, (0..n).collect());
                if n == 3 {
                    // Never two calls on consecutive days for three a week.
                    let offsets: Vec<i64> = plan
                        .iter()
                        .map(|p| (p.1 - date("2026-11-30")).num_days())
                        .collect();
                    let gaps: Vec<i64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
                    assert!(gaps.iter().all(|g| (2..=3).contains(g)), "{offsets:?}");
                }
            }
        }
    }

    #[test]
    fn preferred_days_are_used_and_holidays_move_a_call() {
        let days = parse_weekdays("mon,wed,fri").expect("days");
        let none = BTreeSet::new();
        let no_holidays = BTreeSet::new();
        let plan = plan_week(&input(3, &days, &no_holidays, 4));
        let weekdays: Vec<u32> = plan
            .iter()
            .map(|p| p.1.weekday().num_days_from_monday())
            .collect();
        assert_eq!(weekdays, [0, 2, 4]);
        // Wednesday is a holiday: the call moves, the week keeps three.
        let holidays: BTreeSet<_> = [date("2026-12-02")].into();
        let plan = plan_week(&input(3, &days, &holidays, 4));
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|p| p.1 != date("2026-12-02")));
        // A week of holidays but two days still has its calls.
        let holidays: BTreeSet<_> = (0..5)
            .map(|d| date("2026-11-30") + Duration::days(d))
            .collect();
        let plan = plan_week(&input(3, &none, &holidays, 0));
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|p| p.1 >= date("2026-12-05")));
    }

    #[test]
    fn a_partial_week_never_has_more_calls() {
        let none = BTreeSet::new();
        let no_holidays = BTreeSet::new();
        for start in 0..7 {
            for n in 1..=7u8 {
                let mut week = input(n, &none, &no_holidays, 3);
                week.first_day = date("2026-11-30") + Duration::days(start);
                let plan = plan_week(&week);
                assert!(plan.len() <= n as usize);
                assert!(plan.len() <= (7 - start) as usize);
                assert!(plan.iter().all(|p| p.1 >= week.first_day));
                let days: BTreeSet<_> = plan.iter().map(|p| p.1).collect();
                assert_eq!(days.len(), plan.len(), "no doubled day in a partial week");
            }
        }
        let mut exit = input(3, &none, &no_holidays, 0);
        exit.end_day = Some(date("2026-12-02"));
        assert!(plan_week(&exit).iter().all(|p| p.1 < date("2026-12-02")));
    }

    #[test]
    fn retries_wait_within_the_hours_and_the_daily_limit() {
        let policy = RetryPolicy::default();
        let hours = Hours::parse("10:00-17:00").expect("hours");
        let day = date("2026-12-01");
        assert_eq!(policy.next_try(day, 600, 1, hours), (day, 720));
        assert_eq!(policy.next_try(day, 720, 2, hours), (day, 840));
        // The third try of the day failed: tomorrow at the start of the hours.
        assert_eq!(
            policy.next_try(day, 840, 3, hours),
            (date("2026-12-02"), 600)
        );
        // Two hours later would be past the hours.
        assert_eq!(
            policy.next_try(day, 15 * 60 + 30, 1, hours),
            (date("2026-12-02"), 600)
        );
    }

    #[test]
    fn hours_and_weekdays_parse_strictly() {
        assert_eq!(
            Hours::parse("09:30-11:00").expect("ok").format(),
            "09:30-11:00"
        );
        for bad in [
            "",
            "10-12",
            "10:00-10:30",
            "12:00-10:00",
            "25:00-26:00",
            "10:00-24:01",
        ] {
            assert!(Hours::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_weekdays("월, 수 ,fri").expect("ok"), [0, 2, 4].into());
        assert!(parse_weekdays("someday").is_err());
    }

    #[test]
    fn checks_name_their_concerns() {
        assert!(CareCheck::default().concerns().is_empty());
        let check = CareCheck {
            health: Health::Fell,
            meals: Meals::NoFood,
            ..CareCheck::default()
        };
        assert_eq!(check.concerns(), ["fell", "no_food"]);
        let bad = CareCheck {
            needs: vec!["lottery".into()],
            ..CareCheck::default()
        };
        assert!(bad.validate().is_err());
        assert!(CareOutcome::parse("no_answer").expect("ok").is_unanswered());
        assert!(CareOutcome::parse("gone fishing").is_err());
    }
}
