//! Rollups: the statistics' counts kept beside the consultations, in the
//! same transaction, so the figures over millions of records are read from a
//! few thousand rows.
//!
//! Three tables, the same on both engines:
//!
//! - `rollup_daily (day, category, channel)`: consultations, those in the
//!   00:00–06:00 night slot, and handle-time sums per local day;
//! - `rollup_hourly (hour_start, category, channel)`: the same per local hour
//!   (its start as UTC milliseconds), for ranges that start or end inside a day;
//! - `citizen_counts (citizen_phone)`: consultations per citizen (heavy users).
//!
//! Days and hours are local to the rollup time zone, stored in the database
//! (`rollup_settings`) and set by `rebuild_rollups`. This module is the pure
//! part both engines share: bucketing an instant, splitting a time range into
//! what each table can answer, and folding records into deltas.

use std::collections::HashMap;

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use dasan_core::NewConsultation;

pub const HOUR_MILLIS: i64 = 3_600_000;
pub const DAY_MILLIS: i64 = 86_400_000;
/// The night slot is 00:00 to 06:00 local time.
pub const NIGHT_END_MILLIS: i64 = 6 * HOUR_MILLIS;

/// The zone's offset from UTC at `millis`, in milliseconds.
pub fn offset_millis(zone: Tz, millis: i64) -> i64 {
    match chrono::DateTime::from_timestamp_millis(millis) {
        Some(utc) => {
            i64::from(
                zone.offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ) * 1000
        }
        None => 0,
    }
}

/// Where one instant falls in the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Local date as days since 1970-01-01.
    pub day: i64,
    /// Start of the local hour, in UTC milliseconds.
    pub hour_start: i64,
    pub night: bool,
}

/// Remembers the zone's offset for the last quarter hour looked up: offsets
/// change only at quarter-hour instants (every offset in use is a multiple of
/// 15 minutes, and so are the instants clocks change), and records come in
/// time order, so almost every lookup is a hit.
pub struct SlotCache {
    zone: Tz,
    quarter: i64,
    offset: i64,
}

impl SlotCache {
    const QUARTER: i64 = 15 * 60 * 1000;

    pub fn new(zone: Tz) -> Self {
        SlotCache {
            zone,
            quarter: i64::MIN,
            offset: 0,
        }
    }

    pub fn slot(&mut self, millis: i64) -> Slot {
        let quarter = millis.div_euclid(Self::QUARTER);
        if quarter != self.quarter {
            self.quarter = quarter;
            self.offset = offset_millis(self.zone, quarter * Self::QUARTER);
        }
        slot_at(millis, self.offset)
    }
}

fn slot_at(millis: i64, offset: i64) -> Slot {
    let local = millis + offset;
    Slot {
        day: local.div_euclid(DAY_MILLIS),
        hour_start: millis - local.rem_euclid(HOUR_MILLIS),
        night: local.rem_euclid(DAY_MILLIS) < NIGHT_END_MILLIS,
    }
}

pub fn slot(zone: Tz, millis: i64) -> Slot {
    slot_at(millis, offset_millis(zone, millis))
}

pub fn day_to_date(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(day))
}

/// The first instant of a local day (UTC milliseconds). A day whose
/// midnight is skipped by a clock change starts at the first hour that exists.
pub fn day_start(zone: Tz, day: i64) -> Option<i64> {
    let date = day_to_date(day)?;
    (0..24).find_map(|hour| {
        let local = date.and_hms_opt(hour, 0, 0)?;
        zone.from_local_datetime(&local)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

/// A time range split into the parts each source answers exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangePlan {
    /// Whole local days `[first, end)` from `rollup_daily`.
    pub days: Option<(i64, i64)>,
    /// Whole local hours, `hour_start` in `[from, to)`, from `rollup_hourly`.
    pub hours: Vec<(i64, i64)>,
    /// Leftover pieces under an hour, `started_at` in `[from, to)`, from the
    /// consultations themselves (an index range scan).
    pub raw: Vec<(i64, i64)>,
}

/// Splits `[from, to)` (either side open) into whole days, whole hours and
/// leftovers, so that every instant of the range is in exactly one part.
pub fn plan_range(zone: Tz, from: Option<i64>, to: Option<i64>) -> RangePlan {
    let mut plan = RangePlan::default();
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return plan;
    }
    // The first whole day at or after `from`, and the day holding `to`
    // (days before it end at or before `to`).
    let first_day = match from {
        None => i64::MIN,
        Some(from) => {
            let day = slot(zone, from).day;
            if day_start(zone, day) == Some(from) {
                day
            } else {
                day + 1
            }
        }
    };
    let end_day = match to {
        None => i64::MAX,
        Some(to) => slot(zone, to).day,
    };
    let start_of = |day: i64| {
        if day == i64::MIN || day == i64::MAX {
            None
        } else {
            day_start(zone, day)
        }
    };
    if first_day < end_day {
        plan.days = Some((first_day, end_day));
        if let (Some(from), Some(head_end)) = (from, start_of(first_day))
            && from < head_end
        {
            split_hours(zone, from, head_end, &mut plan);
        }
        if let (Some(to), Some(tail_start)) = (to, start_of(end_day))
            && tail_start < to
        {
            split_hours(zone, tail_start, to, &mut plan);
        }
    } else if let (Some(from), Some(to)) = (from, to) {
        split_hours(zone, from, to, &mut plan);
    }
    plan
}

fn split_hours(zone: Tz, from: i64, to: i64, plan: &mut RangePlan) {
    let first_hour = {
        let start = slot(zone, from).hour_start;
        if start == from {
            from
        } else {
            start + HOUR_MILLIS
        }
    };
    let last_hour = slot(zone, to).hour_start;
    if first_hour < last_hour {
        if from < first_hour {
            plan.raw.push((from, first_hour));
        }
        plan.hours.push((first_hour, last_hour));
        if last_hour < to {
            plan.raw.push((last_hour, to));
        }
    } else {
        plan.raw.push((from, to));
    }
}

/// Counts for one rollup key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub consultations: i64,
    pub night: i64,
    pub handle_ms: i64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.consultations += other.consultations;
        self.night += other.night;
        self.handle_ms += other.handle_ms;
    }
}

/// `(bucket, category, channel)`: a day number or an hour start.
pub type Key = (i64, String, String);

/// What a set of new consultations adds to the rollups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delta {
    pub daily: HashMap<Key, Counts>,
    pub hourly: HashMap<Key, Counts>,
    pub citizens: HashMap<i64, i64>,
}

impl Delta {
    /// `with_citizens` is false while a bulk load defers the per-citizen
    /// counts (they are recomputed in one pass when it finishes).
    pub fn of(zone: Tz, records: &[NewConsultation], with_citizens: bool) -> Delta {
        // Keys borrow from the records while folding (a bulk batch is half a
        // million records onto a few thousand keys); owned at the end.
        type Borrowed<'a> = HashMap<(i64, &'a str, &'static str), Counts>;
        let mut daily: Borrowed<'_> = HashMap::new();
        let mut hourly: Borrowed<'_> = HashMap::new();
        let mut citizens: HashMap<i64, i64> = HashMap::new();
        let mut slots = SlotCache::new(zone);
        for record in records {
            let started = record.started_at.millis();
            let slot = slots.slot(started);
            let counts = Counts {
                consultations: 1,
                night: i64::from(slot.night),
                handle_ms: record.ended_at.millis() - started,
            };
            let (category, channel) = (record.category.as_str(), record.channel.as_str());
            daily
                .entry((slot.day, category, channel))
                .or_default()
                .add(counts);
            hourly
                .entry((slot.hour_start, category, channel))
                .or_default()
                .add(counts);
            if with_citizens {
                *citizens
                    .entry(crate::convert::phone_key(&record.citizen_phone))
                    .or_default() += 1;
            }
        }
        let own = |map: Borrowed<'_>| {
            map.into_iter()
                .map(|((bucket, category, channel), counts)| {
                    ((bucket, category.to_owned(), channel.to_owned()), counts)
                })
                .collect()
        };
        Delta {
            daily: own(daily),
            hourly: own(hourly),
            citizens,
        }
    }

    pub fn add(&mut self, zone: Tz, started: i64, ended: i64, category: &str, channel: &str) {
        let slot = slot(zone, started);
        let counts = Counts {
            consultations: 1,
            night: i64::from(slot.night),
            handle_ms: ended - started,
        };
        add_to(&mut self.daily, slot.day, category, channel, counts);
        add_to(&mut self.hourly, slot.hour_start, category, channel, counts);
    }

    /// Rows in key order: every writer touches rows in the same order, so
    /// two concurrent transactions cannot deadlock on them (PostgreSQL).
    pub fn sorted(map: &HashMap<Key, Counts>) -> Vec<(&Key, &Counts)> {
        let mut rows: Vec<_> = map.iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        rows
    }

    pub fn sorted_citizens(&self) -> Vec<(i64, i64)> {
        let mut rows: Vec<_> = self.citizens.iter().map(|(&k, &v)| (k, v)).collect();
        rows.sort_unstable();
        rows
    }
}

fn add_to(
    map: &mut HashMap<Key, Counts>,
    bucket: i64,
    category: &str,
    channel: &str,
    counts: Counts,
) {
    let key = (bucket, category.to_owned(), channel.to_owned());
    map.entry(key).or_default().add(counts);
}

/// The row of `rollup_settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub zone: Tz,
    /// A bulk load deferred `citizen_counts`; they are recomputed when it
    /// finishes (or at the next open, should it die first).
    pub citizens_stale: bool,
    /// The rollups must be rebuilt from the consultations (a fresh migration
    /// over existing data, or an interrupted rebuild).
    pub rollups_stale: bool,
}

pub fn parse_zone(name: &str) -> crate::Result<Tz> {
    name.parse()
        .map_err(|_| crate::StoreError::Corrupt(format!("unknown rollup time zone {name:?}")))
}

/// Upserts, written with `$n` placeholders (SQLite reads them as `?n`).
pub const UPSERT_DAILY: &str = "INSERT INTO rollup_daily (day, category, channel, consultations, night, handle_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, category, channel) DO UPDATE SET consultations = rollup_daily.consultations + excluded.consultations, night = rollup_daily.night + excluded.night, handle_ms = rollup_daily.handle_ms + excluded.handle_ms";
pub const UPSERT_HOURLY: &str = "INSERT INTO rollup_hourly (hour_start, category, channel, consultations, handle_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hour_start, category, channel) DO UPDATE SET consultations = rollup_hourly.consultations + excluded.consultations, handle_ms = rollup_hourly.handle_ms + excluded.handle_ms";
pub const UPSERT_CITIZEN: &str = "INSERT INTO citizen_counts (citizen_phone, consultations) VALUES ($1, $2) ON CONFLICT (citizen_phone) DO UPDATE SET consultations = citizen_counts.consultations + excluded.consultations";
pub const RECOUNT_CITIZENS: &str = "INSERT INTO citizen_counts (citizen_phone, consultations) SELECT citizen_phone, COUNT(*) FROM consultations GROUP BY citizen_phone";

/// What the rows of a statistics query mean; every query returns
/// `(bucket, category, channel, consultations, night, handle_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `bucket` is a local day number; `night` is counted.
    Daily,
    /// `bucket` is an instant (hour start or start time); `night` is derived.
    Instant,
    /// Like `Instant`, for the timeline only (category and channel unset).
    Timeline,
    /// For the category and channel breakdowns only (`bucket` unset).
    Kinds,
}

pub(crate) struct StatQuery {
    pub sql: String,
    pub params: Vec<crate::SqlParam>,
    pub source: Source,
}

/// The queries that answer `filter` from the rollups (plus the consultations
/// themselves for leftovers under an hour). `placeholder(n)` renders the
/// n-th parameter. The filter must not name a citizen.
pub(crate) fn stat_queries(
    filter: &crate::ConsultationFilter,
    zone: Tz,
    placeholder: impl Fn(usize) -> String + Copy,
) -> Vec<StatQuery> {
    let plan = plan_range(
        zone,
        filter.from.map(|t| t.millis()),
        filter.to.map(|t| t.millis()),
    );
    let kind_only = crate::ConsultationFilter {
        from: None,
        to: None,
        citizen_phone: None,
        ..filter.clone()
    };
    let mut queries = Vec::new();
    // Open ends of the whole-day range are i64::MIN / i64::MAX: no bound.
    let mut with_range = |table: &str, select: &str, column: &str, range: (i64, i64), source| {
        let mut sql = crate::FilterSql::build(&kind_only, None, placeholder);
        if range.0 != i64::MIN {
            sql.and(
                &format!("{column} >= {{}}"),
                vec![crate::SqlParam::Int(range.0)],
                placeholder,
            );
        }
        if range.1 != i64::MAX {
            sql.and(
                &format!("{column} < {{}}"),
                vec![crate::SqlParam::Int(range.1)],
                placeholder,
            );
        }
        queries.push(StatQuery {
            sql: format!("SELECT {select} FROM {table} {}", sql.where_clause()),
            params: sql.params,
            source,
        });
    };
    if let Some(days) = plan.days {
        with_range(
            "rollup_daily",
            "day, category, channel, consultations, night, handle_ms",
            "day",
            days,
            Source::Daily,
        );
    }
    for hours in plan.hours {
        with_range(
            "rollup_hourly",
            "hour_start, category, channel, consultations, CAST(0 AS BIGINT), handle_ms",
            "hour_start",
            hours,
            Source::Instant,
        );
    }
    for raw in plan.raw {
        with_range(
            "consultations",
            "started_at, category, channel, CAST(1 AS BIGINT), CAST(0 AS BIGINT), ended_at - started_at",
            "started_at",
            raw,
            Source::Instant,
        );
    }
    queries
}

/// Folds one row of a [`StatQuery`] into the builder.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_row(
    builder: &mut crate::stats::AggregatesBuilder,
    zone: Tz,
    source: Source,
    bucket: i64,
    category: &str,
    channel: &str,
    consultations: i64,
    night: i64,
    handle_ms: i64,
) {
    match source {
        Source::Daily => builder.add_day(
            bucket,
            Counts {
                consultations,
                night,
                handle_ms,
            },
        ),
        Source::Instant | Source::Timeline => {
            builder.add_instant(zone, bucket, consultations, handle_ms)
        }
        Source::Kinds => {}
    }
    if source != Source::Timeline {
        builder.add_kind(category, channel, consultations, handle_ms);
    }
}

/// The heavy-user tier queries over `citizen_counts` (indexed by count).
pub const HEAVY_COUNTS: &str = "SELECT consultations FROM citizen_counts WHERE consultations >= 100 ORDER BY consultations DESC";
pub const MAX_COUNT: &str = "SELECT COALESCE(MAX(consultations), 0) FROM citizen_counts";

/// The same aggregates by plain `GROUP BY` over the consultations: the
/// reference the rollups are tested and benchmarked against.
pub(crate) fn exact_queries(
    filter: &crate::ConsultationFilter,
    placeholder: impl Fn(usize) -> String + Copy,
) -> Vec<StatQuery> {
    use crate::stats::BUCKET_MILLIS;
    let sql = crate::FilterSql::build(filter, None, placeholder);
    let where_clause = sql.where_clause();
    vec![
        StatQuery {
            sql: format!(
                "SELECT started_at / {BUCKET_MILLIS} * {BUCKET_MILLIS}, '', '', CAST(COUNT(*) AS BIGINT), CAST(0 AS BIGINT), CAST(SUM(ended_at - started_at) AS BIGINT) FROM consultations {where_clause} GROUP BY 1"
            ),
            params: sql.params.clone(),
            source: Source::Timeline,
        },
        StatQuery {
            sql: format!(
                "SELECT CAST(0 AS BIGINT), category, channel, CAST(COUNT(*) AS BIGINT), CAST(0 AS BIGINT), CAST(SUM(ended_at - started_at) AS BIGINT) FROM consultations {where_clause} GROUP BY 2, 3"
            ),
            params: sql.params.clone(),
            source: Source::Kinds,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use dasan_core::time::SEOUL;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
    }

    #[test]
    fn slots_follow_local_time() {
        // 23:50 UTC is 08:50 the next day in Seoul.
        let s = slot(SEOUL, ms("2009-01-31T23:50:00Z"));
        assert_eq!(
            day_to_date(s.day).map(|d| d.to_string()).as_deref(),
            Some("2009-02-01")
        );
        assert_eq!(s.hour_start, ms("2009-01-31T23:00:00Z"));
        assert!(!s.night);
        assert!(slot(SEOUL, ms("2009-02-01T17:00:00Z")).night); // 02:00 KST
        assert!(!slot(SEOUL, ms("2009-02-01T21:00:00Z")).night); // 06:00 KST
        // India's local hours start at half past UTC hours.
        let kolkata: Tz = "Asia/Kolkata".parse().expect("zone");
        assert_eq!(
            slot(kolkata, ms("2009-02-01T10:45:00Z")).hour_start,
            ms("2009-02-01T10:30:00Z")
        );
    }

    #[test]
    fn the_slot_cache_agrees_with_direct_lookups_across_clock_changes() {
        let new_york: Tz = "America/New_York".parse().expect("zone");
        let mut rng = dasan_core::rng::Rng::seed(3);
        for zone in [SEOUL, new_york, "Asia/Kathmandu".parse().expect("zone")] {
            let mut cache = SlotCache::new(zone);
            // Around New York's 2026 spring-forward, in order and at random.
            let mut t = ms("2026-03-08T05:00:00Z");
            for _ in 0..2000 {
                t += rng.below(120_000) as i64;
                assert_eq!(cache.slot(t), slot(zone, t), "{zone} {t}");
            }
            for _ in 0..2000 {
                let t = ms("2026-01-01T00:00:00Z") + rng.below(400 * DAY_MILLIS as u64) as i64;
                assert_eq!(cache.slot(t), slot(zone, t), "{zone} {t}");
            }
        }
    }

    #[test]
    fn day_start_handles_a_skipped_midnight() {
        let seoul_day = slot(SEOUL, ms("2026-11-28T12:00:00+09:00")).day;
        assert_eq!(
            day_start(SEOUL, seoul_day),
            Some(ms("2026-11-28T00:00:00+09:00"))
        );
        // Santiago skipped 2022-09-11 00:00 (clocks went to 01:00).
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        let day = slot(santiago, ms("2022-09-11T12:00:00-03:00")).day;
        assert_eq!(
            day_start(santiago, day),
            Some(ms("2022-09-11T01:00:00-03:00"))
        );
    }

    #[test]
    fn a_range_splits_into_days_hours_and_leftovers() {
        let plan = plan_range(
            SEOUL,
            Some(ms("2026-11-01T09:30:00+09:00")),
            Some(ms("2026-11-03T02:15:00+09:00")),
        );
        assert_eq!(
            plan.days.map(|(a, b)| (day_to_date(a), day_to_date(b))),
            Some((
                NaiveDate::from_ymd_opt(2026, 11, 2),
                NaiveDate::from_ymd_opt(2026, 11, 3)
            ))
        );
        assert_eq!(
            plan.hours,
            vec![
                (
                    ms("2026-11-01T10:00:00+09:00"),
                    ms("2026-11-02T00:00:00+09:00")
                ),
                (
                    ms("2026-11-03T00:00:00+09:00"),
                    ms("2026-11-03T02:00:00+09:00")
                ),
            ]
        );
        assert_eq!(
            plan.raw,
            vec![
                (
                    ms("2026-11-01T09:30:00+09:00"),
                    ms("2026-11-01T10:00:00+09:00")
                ),
                (
                    ms("2026-11-03T02:00:00+09:00"),
                    ms("2026-11-03T02:15:00+09:00")
                ),
            ]
        );
        assert_eq!(
            plan_range(SEOUL, None, None).days,
            Some((i64::MIN, i64::MAX))
        );
        let empty = plan_range(SEOUL, Some(5), Some(5));
        assert_eq!(empty, RangePlan::default());
    }

    /// Every instant of a range is answered by exactly one part of its plan,
    /// and no instant outside it by any.
    #[test]
    fn plans_cover_each_instant_once() {
        let mut rng = dasan_core::rng::Rng::seed(7);
        let zones: [Tz; 3] = [
            SEOUL,
            "Asia/Kolkata".parse().expect("zone"),
            "America/New_York".parse().expect("zone"),
        ];
        let base = ms("2026-03-07T00:00:00Z");
        for round in 0..400 {
            let zone = zones[round % zones.len()];
            let span = 4 * DAY_MILLIS;
            let a = base + (rng.next_u64() % span as u64) as i64;
            let b = base + (rng.next_u64() % span as u64) as i64;
            let (from, to) = (a.min(b), a.max(b));
            let plan = plan_range(zone, Some(from), Some(to));
            for _ in 0..50 {
                let t = base - DAY_MILLIS + (rng.next_u64() % (6 * DAY_MILLIS) as u64) as i64;
                let s = slot(zone, t);
                let by_day = plan.days.is_some_and(|(d0, d1)| s.day >= d0 && s.day < d1);
                let by_hour = plan
                    .hours
                    .iter()
                    .filter(|(h0, h1)| s.hour_start >= *h0 && s.hour_start < *h1)
                    .count();
                let by_raw = plan
                    .raw
                    .iter()
                    .filter(|(r0, r1)| t >= *r0 && t < *r1)
                    .count();
                let hits = usize::from(by_day) + by_hour + by_raw;
                let inside = t >= from && t < to;
                assert_eq!(
                    hits,
                    usize::from(inside),
                    "t={t} from={from} to={to} {plan:?}"
                );
            }
        }
    }
}
