//! The model center's statistics, computed from a few aggregates that each
//! engine answers with plain `GROUP BY` queries (correctness first; the
//! reports issue adds rollups to make them fast).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;
use dasan_core::Taxonomy;
use serde::Serialize;

/// Quarter hours: every real time zone's offset is a multiple of 15 minutes,
/// so local days, months and the night slot are unions of these buckets.
pub const BUCKET_MILLIS: i64 = 15 * 60 * 1000;

/// Aggregates read from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets {
    /// `(started_at / BUCKET_MILLIS, count)`, ascending.
    pub by_quarter_hour: Vec<(i64, u64)>,
    /// Count per stored category code (any depth).
    pub by_category: Vec<(String, u64)>,
    /// Count per channel name.
    pub by_channel: Vec<(String, u64)>,
    /// Counts of the citizens with at least 100 consultations.
    pub heavy_citizen_counts: Vec<u64>,
    /// The most consultations any one citizen has.
    pub max_per_citizen: u64,
}

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

pub fn compute_statistics(buckets: &Buckets, taxonomy: &Taxonomy, zone: Tz) -> Statistics {
    let total: u64 = buckets.by_quarter_hour.iter().map(|(_, n)| n).sum();

    let mut milestones = Vec::new();
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    let mut night: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_date = None;
    let mut last_date = None;
    let mut running = 0u64;
    for &(bucket, count) in &buckets.by_quarter_hour {
        let Some(utc) = chrono::DateTime::from_timestamp_millis(bucket * BUCKET_MILLIS) else {
            continue;
        };
        let local = utc.with_timezone(&zone);
        let date = local.date_naive();
        first_date.get_or_insert(date);
        last_date = Some(date);
        let before = running;
        running += count;
        let mut next_milestone = (before / MILESTONE_STEP + 1) * MILESTONE_STEP;
        while next_milestone <= running {
            milestones.push(Milestone {
                count: next_milestone,
                date: date.to_string(),
            });
            next_milestone += MILESTONE_STEP;
        }
        let month = month_key(date);
        *per_month.entry(month.clone()).or_default() += count;
        if local.hour() < 6 {
            *night.entry(month).or_default() += count;
        }
    }

    // A month's average divides by its days inside the recorded span, so the
    // first and last (partial) months are not understated.
    let daily_average_by_month = per_month
        .iter()
        .map(|(month, &count)| {
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

    let mut by_top: BTreeMap<String, u64> = taxonomy
        .top_level()
        .map(|c| (c.code.as_str().to_owned(), 0))
        .collect();
    for (code, count) in &buckets.by_category {
        let top = code.split('.').next().unwrap_or(code).to_owned();
        *by_top.entry(top).or_default() += count;
    }
    let mut category_share: Vec<Share> = by_top
        .into_iter()
        .map(|(code, count)| Share {
            code,
            count,
            share: share(count, total),
        })
        .collect();
    category_share.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));

    let mut by_channel: BTreeMap<String, u64> = dasan_core::Channel::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), 0))
        .collect();
    for (code, count) in &buckets.by_channel {
        *by_channel.entry(code.clone()).or_default() += count;
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

    let at_least = |n: u64| {
        buckets
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
            max: buckets.max_per_citizen,
            at_least_100: at_least(100),
            at_least_300: at_least(300),
            at_least_500: at_least(500),
            at_least_1000: at_least(1000),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dasan_core::time::SEOUL;

    fn bucket(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
            / BUCKET_MILLIS
    }

    #[test]
    fn milestones_months_and_night_use_local_time() {
        let buckets = Buckets {
            by_quarter_hour: vec![
                // 23:50 UTC on Jan 31 is 08:50 on Feb 1 in Seoul.
                (bucket("2009-01-31T23:50:00Z"), 999_999),
                // 17:00 UTC is 02:00 in Seoul: the night slot.
                (bucket("2009-02-01T17:00:00Z"), 2),
                (bucket("2009-03-10T03:00:00Z"), 1_000_000),
            ],
            by_category: vec![
                ("transport.taxi".into(), 1_500_000),
                ("water".into(), 500_001),
            ],
            by_channel: vec![("voice".into(), 2_000_001)],
            heavy_citizen_counts: vec![100, 300, 1000, 2070],
            max_per_citizen: 2070,
        };
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
                at_least_1000: 2
            }
        );
    }

    #[test]
    fn empty_store_gives_zeroes_not_errors() {
        let stats = compute_statistics(&Buckets::default(), &Taxonomy::seed(), SEOUL);
        assert_eq!(stats.total, 0);
        assert!(stats.milestones.is_empty());
        assert!(stats.category_share.iter().all(|s| s.share == 0.0));
    }
}
