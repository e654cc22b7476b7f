//! The model center's statistics, computed from aggregates per local day
//! and per category and channel. Each engine answers those aggregates two
//! ways: from the rollups kept on the write path (fast; `rollup.rs`), or by
//! plain `GROUP BY` over the consultations (the reference the rollups are
//! checked and benchmarked against).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use dasan_core::Taxonomy;
use serde::Serialize;

use crate::rollup::{self, Counts};

/// Quarter hours: every real time zone's offset is a multiple of 15 minutes,
/// so the plain `GROUP BY` path groups by these and maps each to its local
/// day and night slot.
pub const BUCKET_MILLIS: i64 = 15 * 60 * 1000;

/// Counts and handle time of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub consultations: u64,
    /// Sum of `ended_at - started_at`, milliseconds.
    pub handle_ms: i64,
}

/// One local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub consultations: u64,
    /// Of which 00:00-06:00 local time.
    pub night: u64,
    pub handle_ms: i64,
}

/// What the statistics are computed from, whichever way it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Ascending by date; days without consultations are absent.
    pub days: Vec<DayTotals>,
    /// Per stored category code (any depth), ascending by code.
    pub by_category: Vec<(String, Totals)>,
    /// Per channel name, ascending.
    pub by_channel: Vec<(String, Totals)>,
    /// Counts of the citizens with at least 100 consultations, descending.
    pub heavy_citizen_counts: Vec<u64>,
    /// The most consultations any one citizen has.
    pub max_per_citizen: u64,
    /// Satisfaction surveys per month (filled by `Store::statistics`).
    pub surveys: Vec<crate::SurveyMonth>,
}

/// Folds rows from any source into [`Aggregates`].
#[derive(Debug, Default)]
pub struct AggregatesBuilder {
    days: BTreeMap<i64, Counts>,
    categories: BTreeMap<String, Totals>,
    channels: BTreeMap<String, Totals>,
}

impl AggregatesBuilder {
    /// Adds to the timeline: `day` is days since 1970-01-01, local.
    pub fn add_day(&mut self, day: i64, counts: Counts) {
        if counts.consultations != 0 {
            self.days.entry(day).or_default().add(counts);
        }
    }

    /// Adds consultations that started at `millis` to the timeline.
    pub fn add_instant(&mut self, zone: Tz, millis: i64, consultations: i64, handle_ms: i64) {
        let slot = rollup::slot(zone, millis);
        self.add_day(
            slot.day,
            Counts {
                consultations,
                night: if slot.night { consultations } else { 0 },
                handle_ms,
            },
        );
    }

    /// Adds to the category and channel breakdowns.
    pub fn add_kind(&mut self, category: &str, channel: &str, consultations: i64, handle_ms: i64) {
        for (map, key) in [
            (&mut self.categories, category),
            (&mut self.channels, channel),
        ] {
            let totals = map.entry(key.to_owned()).or_default();
            totals.consultations += consultations.max(0) as u64;
            totals.handle_ms += handle_ms;
        }
    }

    pub fn finish(self, mut heavy_citizen_counts: Vec<u64>, max_per_citizen: u64) -> Aggregates {
        heavy_citizen_counts.sort_unstable_by(|a, b| b.cmp(a));
        Aggregates {
            days: self
                .days
                .into_iter()
                .filter_map(|(day, c)| {
                    Some(DayTotals {
                        date: rollup::day_to_date(day)?,
                        consultations: c.consultations.max(0) as u64,
                        night: c.night.max(0) as u64,
                        handle_ms: c.handle_ms,
                    })
                })
                .collect(),
            by_category: self
                .categories
                .into_iter()
                .filter(|(_, t)| t.consultations > 0)
                .collect(),
            by_channel: self
                .channels
                .into_iter()
                .filter(|(_, t)| t.consultations > 0)
                .collect(),
            heavy_citizen_counts,
            max_per_citizen,
            surveys: Vec::new(),
        }
    }
}

/// Citizens with at least this many consultations are listed one by one.
pub const HEAVY_USER_FLOOR: u64 = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Milestone {
    pub count: u64,
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyAverage {
    pub month: String,
    pub average: f64,
    pub days: u32,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthCount {
    pub month: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub code: String,
    pub count: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeavyUsers {
    pub max: u64,
    pub at_least_100: u64,
    pub at_least_300: u64,
    pub at_least_500: u64,
    pub at_least_1000: u64,
    /// Heavy users are counted over each citizen's whole history: a date,
    /// category or channel filter does not narrow them (`"all_time"`).
    pub scope: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandleTime {
    /// The month (`YYYY-MM`) or category code.
    pub key: String,
    pub consultations: u64,
    /// Mean of `ended_at - started_at`, seconds.
    pub average_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandleTimes {
    pub average_seconds: f64,
    pub by_month: Vec<HandleTime>,
    /// Per top-level category, as in `category_share`.
    pub by_category: Vec<HandleTime>,
}

/// The figures of BRIEF.md, from stored records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    pub total: u64,
    pub time_zone: String,
    /// First and last local dates with a consultation.
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub milestones: Vec<Milestone>,
    pub daily_average_by_month: Vec<MonthlyAverage>,
    /// Per top-level category of the taxonomy (sub-categories add up to their parent).
    pub category_share: Vec<Share>,
    pub channel_share: Vec<Share>,
    /// 00:00–06:00 local time, per month.
    pub night_by_month: Vec<MonthCount>,
    pub heavy_users: HeavyUsers,
    pub handle_time: HandleTimes,
    /// Post-contact surveys: answers of 4–5 out of 5 are satisfied.
    pub satisfaction: Satisfaction,
    pub satisfaction_by_month: Vec<MonthSatisfaction>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Satisfaction {
    /// Surveys sent.
    pub sent: u64,
    /// Surveys answered.
    pub responses: u64,
    pub satisfied_share: Option<f64>,
    /// Mean score, 1–5.
    pub mean: Option<f64>,
    /// Responses ÷ sent.
    pub response_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthSatisfaction {
    pub month: String,
    pub responses: u64,
    pub satisfied_share: Option<f64>,
    pub mean: Option<f64>,
}

const MILESTONE_STEP: u64 = 1_000_000;

fn month_key(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

fn days_in_month(date: NaiveDate) -> u32 {
    let first = date.with_day(1).unwrap_or(date);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.map(|n| (n - first).num_days() as u32).unwrap_or(30)
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

fn average_seconds(handle_ms: i64, consultations: u64) -> f64 {
    if consultations == 0 {
        0.0
    } else {
        handle_ms as f64 / 1000.0 / consultations as f64
    }
}

pub fn compute_statistics(aggregates: &Aggregates, taxonomy: &Taxonomy, zone: Tz) -> Statistics {
    let total: u64 = aggregates.days.iter().map(|d| d.consultations).sum();
    let total_handle: i64 = aggregates.days.iter().map(|d| d.handle_ms).sum();

    let mut milestones = Vec::new();
    let mut per_month: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut night: BTreeMap<String, u64> = BTreeMap::new();
    let first_date = aggregates.days.first().map(|d| d.date);
    let last_date = aggregates.days.last().map(|d| d.date);
    let mut running = 0u64;
    for day in &aggregates.days {
        let before = running;
        running += day.consultations;
        let mut next_milestone = (before / MILESTONE_STEP + 1) * MILESTONE_STEP;
        while next_milestone <= running {
            milestones.push(Milestone {
                count: next_milestone,
                date: day.date.to_string(),
            });
            next_milestone += MILESTONE_STEP;
        }
        let month = month_key(day.date);
        let entry = per_month.entry(month.clone()).or_default();
        entry.0 += day.consultations;
        entry.1 += day.handle_ms;
        if day.night > 0 {
            *night.entry(month).or_default() += day.night;
        }
    }

    // A month's average divides by its days inside the recorded span, so the
    // first and last (partial) months are not understated.
    let daily_average_by_month = per_month
        .iter()
        .map(|(month, &(count, _))| {
            let days = match (first_date, last_date) {
                (Some(first), Some(last)) => {
                    let mut days = 0u32;
                    let mut day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                        .unwrap_or(first);
                    let month_days = days_in_month(day);
                    for _ in 0..month_days {
                        if day >= first && day <= last {
                            days += 1;
                        }
                        day = day.succ_opt().unwrap_or(day);
                    }
                    days.max(1)
                }
                _ => 1,
            };
            MonthlyAverage {
                month: month.clone(),
                average: count as f64 / f64::from(days),
                days,
                count,
            }
        })
        .collect();

    let mut by_top: BTreeMap<String, Totals> = taxonomy
        .top_level()
        .map(|c| (c.code.as_str().to_owned(), Totals::default()))
        .collect();
    for (code, totals) in &aggregates.by_category {
        let top = code.split('.').next().unwrap_or(code).to_owned();
        let entry = by_top.entry(top).or_default();
        entry.consultations += totals.consultations;
        entry.handle_ms += totals.handle_ms;
    }
    let mut category_share: Vec<Share> = by_top
        .iter()
        .map(|(code, totals)| Share {
            code: code.clone(),
            count: totals.consultations,
            share: share(totals.consultations, total),
        })
        .collect();
    category_share.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));

    let mut by_channel: BTreeMap<String, u64> = dasan_core::Channel::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), 0))
        .collect();
    for (code, totals) in &aggregates.by_channel {
        *by_channel.entry(code.clone()).or_default() += totals.consultations;
    }
    let mut channel_share: Vec<Share> = by_channel
        .into_iter()
        .map(|(code, count)| Share {
            code,
            count,
            share: share(count, total),
        })
        .collect();
    channel_share.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));

    let handle_time = HandleTimes {
        average_seconds: average_seconds(total_handle, total),
        by_month: per_month
            .iter()
            .map(|(month, &(count, handle))| HandleTime {
                key: month.clone(),
                consultations: count,
                average_seconds: average_seconds(handle, count),
            })
            .collect(),
        by_category: category_share
            .iter()
            .map(|s| {
                let totals = by_top.get(&s.code).copied().unwrap_or_default();
                HandleTime {
                    key: s.code.clone(),
                    consultations: totals.consultations,
                    average_seconds: average_seconds(totals.handle_ms, totals.consultations),
                }
            })
            .collect(),
    };

    let at_least = |n: u64| {
        aggregates
            .heavy_citizen_counts
            .iter()
            .filter(|&&c| c >= n)
            .count() as u64
    };
    Statistics {
        total,
        time_zone: zone.name().to_owned(),
        first_date: first_date.map(|d| d.to_string()),
        last_date: last_date.map(|d| d.to_string()),
        milestones,
        daily_average_by_month,
        category_share,
        channel_share,
        night_by_month: night
            .into_iter()
            .map(|(month, count)| MonthCount { month, count })
            .collect(),
        heavy_users: HeavyUsers {
            max: aggregates.max_per_citizen,
            at_least_100: at_least(100),
            at_least_300: at_least(300),
            at_least_500: at_least(500),
            at_least_1000: at_least(1000),
            scope: "all_time",
        },
        handle_time,
        satisfaction: satisfaction(&aggregates.surveys),
        satisfaction_by_month: aggregates
            .surveys
            .iter()
            .filter(|m| m.responses > 0)
            .map(|m| MonthSatisfaction {
                month: m.month.clone(),
                responses: m.responses,
                satisfied_share: ratio(m.satisfied, m.responses),
                mean: ratio(m.score_sum, m.responses),
            })
            .collect(),
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn satisfaction(months: &[crate::SurveyMonth]) -> Satisfaction {
    let sum = |f: fn(&crate::SurveyMonth) -> u64| months.iter().map(f).sum::<u64>();
    let (sent, responses) = (sum(|m| m.sent), sum(|m| m.responses));
    Satisfaction {
        sent,
        responses,
        satisfied_share: ratio(sum(|m| m.satisfied), responses),
        mean: ratio(sum(|m| m.score_sum), responses),
        response_rate: ratio(responses, sent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dasan_core::time::SEOUL;

    fn millis(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
    }

    #[test]
    fn milestones_months_and_night_use_local_time() {
        let mut builder = AggregatesBuilder::default();
        // 23:50 UTC on Jan 31 is 08:50 on Feb 1 in Seoul.
        builder.add_instant(SEOUL, millis("2009-01-31T23:50:00Z"), 999_999, 999_999_000);
        // 17:00 UTC is 02:00 in Seoul: the night slot.
        builder.add_instant(SEOUL, millis("2009-02-01T17:00:00Z"), 2, 4_000);
        builder.add_instant(
            SEOUL,
            millis("2009-03-10T03:00:00Z"),
            1_000_000,
            3_000_000_000,
        );
        builder.add_kind("transport.taxi", "voice", 1_500_000, 1_500_000_000);
        builder.add_kind("water", "voice", 500_001, 2_499_003_000);
        let buckets = builder.finish(vec![100, 2070, 300, 1000], 2070);
        let stats = compute_statistics(&buckets, &Taxonomy::seed(), SEOUL);
        assert_eq!(stats.total, 2_000_001);
        assert_eq!(
            stats.milestones,
            vec![
                Milestone {
                    count: 1_000_000,
                    date: "2009-02-02".into()
                },
                Milestone {
                    count: 2_000_000,
                    date: "2009-03-10".into()
                },
            ]
        );
        assert_eq!(
            stats.night_by_month,
            vec![MonthCount {
                month: "2009-02".into(),
                count: 2
            }]
        );
        let feb = &stats.daily_average_by_month[0];
        assert_eq!((feb.month.as_str(), feb.days), ("2009-02", 28));
        let mar = &stats.daily_average_by_month[1];
        assert_eq!((mar.month.as_str(), mar.days), ("2009-03", 10));
        assert_eq!(stats.category_share[0].code, "transport");
        assert!((stats.category_share[0].share - 1_500_000.0 / 2_000_001.0).abs() < 1e-12);
        assert!(
            stats
                .category_share
                .iter()
                .any(|s| s.code == "jobs" && s.count == 0)
        );
        assert_eq!(
            stats.heavy_users,
            HeavyUsers {
                max: 2070,
                at_least_100: 4,
                at_least_300: 3,
                at_least_500: 2,
                at_least_1000: 2,
                scope: "all_time",
            }
        );
        assert_eq!(stats.handle_time.by_month[0].key, "2009-02");
        assert!(
            (stats.handle_time.by_month[0].average_seconds - 1_000_003.0 / 1_000_001.0).abs()
                < 1e-9
        );
        assert!((stats.handle_time.by_month[1].average_seconds - 3.0).abs() < 1e-9);
        let water = stats
            .handle_time
            .by_category
            .iter()
            .find(|h| h.key == "water")
            .expect("water");
        assert!((water.average_seconds - 2_499_003.0 / 500_001.0).abs() < 1e-9);
    }

    #[test]
    fn empty_store_gives_zeroes_not_errors() {
        let stats = compute_statistics(&Aggregates::default(), &Taxonomy::seed(), SEOUL);
        assert_eq!(stats.total, 0);
        assert!(stats.milestones.is_empty());
        assert!(stats.category_share.iter().all(|s| s.share == 0.0));
    }
}
