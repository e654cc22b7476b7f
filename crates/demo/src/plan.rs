//! The plan of the synthetic history: how many consultations each day holds,
//! how many of them fall in the night slot or on each channel, how many of
//! each top-level category every class of record gets, and how many times
//! each heavy user calls. It is pure arithmetic, computed once before the
//! first record, so that the figures the model center published are hit by
//! construction (exact integers) rather than by luck of the draw.

use chrono::{Datelike, NaiveDate, Weekday};
use dasan_core::{Timestamp, rng::Rng, time::SEOUL};

/// The figures of BRIEF.md the plan is fitted to.
pub mod figures {
    /// Consultations a day at the pilot, January 2007.
    pub const PILOT_DAILY: f64 = 1_184.0;
    /// The daily average of October 2009.
    pub const OCTOBER_2009_DAILY: f64 = 33_000.0;
    /// The milestone reached on 2009-11-10, the last day of the history.
    pub const MILESTONE: u64 = 10_000_000;
    /// 00:00-06:00 consultations in January 2008 (first month of 24-hour service).
    pub const NIGHT_FIRST_MONTH: u64 = 3_923;
    /// 00:00-06:00 consultations in October 2009.
    pub const NIGHT_OCTOBER_2009: u64 = 51_769;
    /// SMS consultations from March 2009 to the end of the history.
    pub const SMS_TOTAL: u64 = 185_000;
    /// SMS consultations a day by the end of the history.
    pub const SMS_LAST_DAY: f64 = 1_688.0;
    /// Video (sign-language) consultations from June 2008 to the end.
    pub const VIDEO_TOTAL: u64 = 16_375;
    /// Care-call seniors enrolled when the programme started (March 2008).
    pub const CARE_FIRST_SENIORS: usize = 86;
    /// Seniors served by the programme over the whole history.
    pub const CARE_SENIORS_SERVED: usize = 300;
    /// Seniors who left the programme (moved, entered care, passed away),
    /// so that a little over 200 are enrolled at the end.
    pub const CARE_SENIORS_LEFT: usize = 80;
    /// The heaviest single citizen.
    pub const TOP_CITIZEN: u64 = 2_070;
    /// Citizens with at least 1,000, 500, 300 and 100 consultations.
    pub const AT_LEAST_1000: usize = 15;
    pub const AT_LEAST_500: usize = 38;
    pub const AT_LEAST_300: usize = 73;
    pub const AT_LEAST_100: usize = 682;
    /// Distinct occasional citizens over the full history; with ~10 million
    /// draws they average 2.5 consultations each and none comes near 100.
    pub const CITIZEN_POOL: u64 = 4_000_000;
}

/// The top-level categories, in the order the quota arrays use.
pub const TOP_LEVEL: [&str; 12] = [
    "transport",
    "water",
    "welfare",
    "health",
    "tax",
    "housing",
    "waste",
    "safety",
    "culture",
    "jobs",
    "documents",
    "other",
];
pub const TOP_COUNT: usize = TOP_LEVEL.len();
pub const TRANSPORT: usize = 0;
pub const WATER: usize = 1;
pub const WELFARE: usize = 2;
pub const HEALTH: usize = 3;
pub const OTHER: usize = 11;

/// Shares of all consultations per top-level category: transport 45.7% and
/// water 8.4% are the model center's; the rest is a plausible city mix.
const CATEGORY_SHARES: [f64; TOP_COUNT] = [
    0.457, 0.084, 0.070, 0.060, 0.055, 0.040, 0.045, 0.050, 0.055, 0.025, 0.040, 0.019,
];
/// Care calls are welfare checks; some turn into health advice.
const CARE_SHARES: [f64; TOP_COUNT] = [0.0, 0.0, 0.8, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
/// The night slot is "mostly transport" (last buses, taxis, directions).
const NIGHT_SHARES: [f64; TOP_COUNT] = [
    0.62, 0.01, 0.05, 0.07, 0.01, 0.02, 0.03, 0.08, 0.03, 0.01, 0.01, 0.06,
];

/// Relative volume per weekday, Monday first (mean 1): a helpline is
/// busiest on Mondays and quietest on Sundays.
const WEEKDAY_FACTOR: [f64; 7] = [1.12, 1.06, 1.04, 1.03, 1.05, 0.88, 0.82];

/// The three classes of records whose category mixes differ.
pub const CLASS_CARE: usize = 0;
pub const CLASS_NIGHT: usize = 1;
pub const CLASS_DAY: usize = 2;

pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2007, 1, 1).expect("a valid constant date")
}

pub fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2009, 11, 10).expect("a valid constant date")
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid constant date")
}

/// The first day of round-the-clock service (the night slot opens).
pub fn night_service_start() -> NaiveDate {
    date(2008, 1, 1)
}

/// One day of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPlan {
    pub date: NaiveDate,
    /// Local midnight (Asia/Seoul) in UTC milliseconds.
    pub midnight_millis: i64,
    /// Every consultation of the day.
    pub total: u64,
    /// Care calls: the seniors called that day (indices into the roster).
    pub care: Vec<u16>,
    /// General consultations started 00:00-06:00.
    pub night: u64,
    /// General consultations started 06:00-24:00.
    pub day: u64,
    /// Of the general ones: video (always in the day slot), SMS and MMS.
    pub video: u64,
    pub sms: u64,
    pub mms: u64,
    /// Whether the center answered around the clock that day.
    pub round_the_clock: bool,
}

impl DayPlan {
    pub fn general(&self) -> u64 {
        self.night + self.day
    }
}

/// A care-call senior's enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Senior {
    /// First and one-past-last day index of the enrolment.
    pub start: usize,
    pub end: usize,
    /// Weekdays called, bit 0 = Monday.
    pub weekdays: u8,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub days: Vec<DayPlan>,
    pub total: u64,
    /// The full history's total: `total / full_total` is the scale.
    pub full_total: u64,
    pub seniors: Vec<Senior>,
    /// Consultations per heavy (general) citizen, after scaling.
    pub heavy_counts: Vec<u64>,
    /// Category quotas per class (care, night, day) and top-level category.
    pub class_quotas: [[u64; TOP_COUNT]; 3],
    /// Distinct occasional citizens to draw from.
    pub pool_size: u64,
}

impl Plan {
    /// Plans the full history (`consultations` = None) or one scaled to
    /// exactly `consultations` records.
    pub fn new(seed: u64, consultations: Option<u64>) -> Self {
        let dates = calendar();
        let full_daily = full_daily_counts(&dates);
        let full_total: u64 = full_daily.iter().sum();
        let target = consultations.unwrap_or(full_total);
        let scale = |series: &[u64]| scale_series(series, target, full_total);

        let full_night = night_counts(&dates, &full_daily);
        let full_sms = sms_counts(&dates);
        let full_mms = mms_counts(&dates);
        let full_video = video_counts(&dates);

        let seniors = care_roster(seed, &dates);
        let full_care = care_schedule(&dates, &seniors);
        let senior_totals = senior_totals(&seniors, &full_care);
        let care = thin_care(seed, full_care, target, full_total);

        let daily = scale(&full_daily);
        let night = scale(&full_night);
        let sms = scale(&full_sms);
        let mms = scale(&full_mms);
        let video = scale(&full_video);

        let mut days = Vec::with_capacity(dates.len());
        for (index, (&date, care)) in dates.iter().zip(care).enumerate() {
            // Allocate in priority order, clamping so that tiny scaled runs
            // stay consistent; at full scale nothing is ever clamped (tested).
            let total = daily[index];
            let mut care = care;
            care.truncate(usize::try_from(total).unwrap_or(usize::MAX));
            let general = total - care.len() as u64;
            let night_count = night[index].min(general);
            let day_count = general - night_count;
            let video_count = video[index].min(day_count);
            let text_room = general - video_count;
            let sms_count = sms[index].min(text_room);
            let mms_count = mms[index].min(text_room - sms_count);
            days.push(DayPlan {
                date,
                midnight_millis: local_midnight_millis(date),
                total,
                care,
                night: night_count,
                day: day_count,
                video: video_count,
                sms: sms_count,
                mms: mms_count,
                round_the_clock: date >= night_service_start(),
            });
        }

        let general_total: u64 = days.iter().map(DayPlan::general).sum();
        let heavy_counts = heavy_counts(seed, &senior_totals, target, full_total, general_total);
        let class_sizes = [
            days.iter().map(|d| d.care.len() as u64).sum::<u64>(),
            days.iter().map(|d| d.night).sum::<u64>(),
            days.iter().map(|d| d.day).sum::<u64>(),
        ];
        let class_quotas = class_quotas(target, class_sizes);
        let pool_size =
            scale_one(figures::CITIZEN_POOL, target, full_total).clamp(1_000, 20_000_000);
        Plan {
            days,
            total: target,
            full_total,
            seniors,
            heavy_counts,
            class_quotas,
            pool_size,
        }
    }

    pub fn general_total(&self) -> u64 {
        self.days.iter().map(DayPlan::general).sum()
    }
}

/// Every date of the history, 2007-01-01 through 2009-11-10.
pub fn calendar() -> Vec<NaiveDate> {
    first_day()
        .iter_days()
        .take_while(|d| *d <= last_day())
        .collect()
}

fn local_midnight_millis(date: NaiveDate) -> i64 {
    Timestamp::from_local(SEOUL, date, 0)
        .map(Timestamp::millis)
        .unwrap_or(0)
}

fn weekday_factor(date: NaiveDate) -> f64 {
    WEEKDAY_FACTOR[date.weekday().num_days_from_monday() as usize]
}

fn in_month(date: NaiveDate, year: i32, month: u32) -> bool {
    date.year() == year && date.month() == month
}

/// Turns real per-day values into integers whose running totals are the
/// rounded running totals of the reals: the sum of any prefix is off by at
/// most one half, so month totals and milestones land where the reals do.
pub fn cumulative_round(values: &[f64]) -> Vec<u64> {
    let mut running = 0.0;
    let mut previous = 0u64;
    values
        .iter()
        .map(|v| {
            running += v;
            let rounded = running.round().max(0.0) as u64;
            let out = rounded.saturating_sub(previous);
            previous = previous.max(rounded);
            out
        })
        .collect()
}

/// Scales an integer series so that it sums to exactly
/// `sum(series) * numerator / denominator` (rounded), again by rounding the
/// running totals.
pub fn scale_series(series: &[u64], numerator: u64, denominator: u64) -> Vec<u64> {
    if numerator == denominator {
        return series.to_vec();
    }
    let mut running = 0u128;
    let mut previous = 0u64;
    series
        .iter()
        .map(|&v| {
            running += u128::from(v);
            let scaled = scale_u128(running, numerator, denominator);
            let out = scaled - previous;
            previous = scaled;
            out
        })
        .collect()
}

fn scale_u128(value: u128, numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        return 0;
    }
    let denominator = u128::from(denominator);
    let scaled = (value * u128::from(numerator) + denominator / 2) / denominator;
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

pub fn scale_one(value: u64, numerator: u64, denominator: u64) -> u64 {
    scale_u128(u128::from(value), numerator, denominator)
}

/// Finds `x` in `[low, high]` where the monotonic `f` crosses zero.
fn bisect(mut low: f64, mut high: f64, f: impl Fn(f64) -> f64) -> f64 {
    let f_low = f(low);
    for _ in 0..200 {
        let middle = 0.5 * (low + high);
        if (f(middle) > 0.0) == (f_low > 0.0) {
            low = middle;
        } else {
            high = middle;
        }
    }
    0.5 * (low + high)
}

/// The daily volume curve: `weekday(d) * (a + k * ((d + 0.5) / D)^p)`.
///
/// For a given shape `p`, `a` and `k` follow from two linear conditions (the
/// January 2007 average is 1,184 a day, the October 2009 average 33,000 a
/// day); `p` is then found by bisection so that the running total reaches
/// exactly 10,000,000 in the middle of 2009-11-10, which puts the
/// 10,000,000th consultation on that day with half a day to spare either way.
pub fn daily_curve(dates: &[NaiveDate]) -> Vec<f64> {
    let span = dates.len() as f64;
    let shape = |index: usize, p: f64| ((index as f64 + 0.5) / span).powf(p);
    let curve_for = |p: f64| -> Vec<f64> {
        let (mut jan_w, mut jan_s, mut jan_n) = (0.0, 0.0, 0.0);
        let (mut oct_w, mut oct_s, mut oct_n) = (0.0, 0.0, 0.0);
        for (index, &date) in dates.iter().enumerate() {
            let w = weekday_factor(date);
            if in_month(date, 2007, 1) {
                jan_w += w;
                jan_s += w * shape(index, p);
                jan_n += 1.0;
            }
            if in_month(date, 2009, 10) {
                oct_w += w;
                oct_s += w * shape(index, p);
                oct_n += 1.0;
            }
        }
        // Solve [jan_w jan_s; oct_w oct_s] [a k]' = [1184 * n_jan, 33000 * n_oct]'.
        let (b1, b2) = (
            figures::PILOT_DAILY * jan_n,
            figures::OCTOBER_2009_DAILY * oct_n,
        );
        let det = jan_w * oct_s - jan_s * oct_w;
        let a = (b1 * oct_s - b2 * jan_s) / det;
        let k = (jan_w * b2 - oct_w * b1) / det;
        dates
            .iter()
            .enumerate()
            .map(|(index, &date)| weekday_factor(date) * (a + k * shape(index, p)))
            .collect()
    };
    let milestone = figures::MILESTONE as f64;
    let excess = |p: f64| {
        let curve = curve_for(p);
        let last = curve.len() - 1;
        curve[..last].iter().sum::<f64>() + 0.5 * curve[last] - milestone
    };
    curve_for(bisect(1.0, 12.0, excess))
}

pub fn full_daily_counts(dates: &[NaiveDate]) -> Vec<u64> {
    cumulative_round(&daily_curve(dates))
}

/// The 00:00-06:00 slot per day. Its monthly totals keep a share of the
/// month's volume that moves linearly from January 2008 (3,923) to October
/// 2009 (51,769), both hit exactly; within a month the night count follows
/// the daily volume. Before January 2008 the center closed at night.
pub fn night_counts(dates: &[NaiveDate], daily: &[u64]) -> Vec<u64> {
    let start = night_service_start();
    let month_index = |d: NaiveDate| (d.year() - 2008) * 12 + d.month0() as i32;
    let month_volume = |year: i32, month: u32| -> u64 {
        dates
            .iter()
            .zip(daily)
            .filter(|(d, _)| in_month(**d, year, month))
            .map(|(_, n)| n)
            .sum()
    };
    let first_share = figures::NIGHT_FIRST_MONTH as f64 / month_volume(2008, 1) as f64;
    let last_share = figures::NIGHT_OCTOBER_2009 as f64 / month_volume(2009, 10) as f64;
    let october = month_index(date(2009, 10, 1));
    let mut out = vec![0u64; dates.len()];
    let mut index = 0;
    while index < dates.len() {
        let month_start = index;
        let (year, month) = (dates[index].year(), dates[index].month());
        while index < dates.len() && in_month(dates[index], year, month) {
            index += 1;
        }
        if dates[month_start] < start {
            continue;
        }
        let volume: u64 = daily[month_start..index].iter().sum();
        let m = f64::from(month_index(dates[month_start]));
        let share = first_share + (last_share - first_share) * m / f64::from(october);
        let month_night = (share * volume as f64).round() as u64;
        let per_day: Vec<f64> = daily[month_start..index]
            .iter()
            .map(|&n| month_night as f64 * n as f64 / volume.max(1) as f64)
            .collect();
        out[month_start..index].copy_from_slice(&cumulative_round(&per_day));
    }
    out
}

fn index_of(dates: &[NaiveDate], date: NaiveDate) -> usize {
    dates.iter().position(|d| *d == date).unwrap_or(dates.len())
}

/// SMS from 2009-03-01: `s * ((i + 1) / L)^q`, with `q` found by bisection
/// so that the last day carries 1,688 and the total is exactly 185,000.
pub fn sms_counts(dates: &[NaiveDate]) -> Vec<u64> {
    let start = index_of(dates, date(2009, 3, 1));
    let span = (dates.len() - start) as f64;
    let ratio = figures::SMS_TOTAL as f64 / figures::SMS_LAST_DAY;
    let shape_sum = |q: f64| {
        (1..=dates.len() - start)
            .map(|i| (i as f64 / span).powf(q))
            .sum::<f64>()
    };
    let q = bisect(0.0, 10.0, |q| shape_sum(q) - ratio);
    let level = figures::SMS_TOTAL as f64 / shape_sum(q);
    let mut values = vec![0.0; dates.len()];
    for (offset, value) in values[start..].iter_mut().enumerate() {
        *value = level * ((offset + 1) as f64 / span).powf(q);
    }
    cumulative_round(&values)
}

/// MMS from October 2009 (up to 1,000 characters plus photos): a small,
/// growing share of text consultations on top of the SMS figures.
pub fn mms_counts(dates: &[NaiveDate]) -> Vec<u64> {
    let start = index_of(dates, date(2009, 10, 1));
    let span = (dates.len() - start).max(2) as f64;
    let mut values = vec![0.0; dates.len()];
    for (offset, value) in values[start..].iter_mut().enumerate() {
        *value = 30.0 + 90.0 * offset as f64 / (span - 1.0);
    }
    cumulative_round(&values)
}

/// Video sign-language consultation from 2008-06-01: slowly growing
/// (`((i + 1) / L)^0.6`) to exactly 16,375 by the end of the history, fewer
/// at weekends.
pub fn video_counts(dates: &[NaiveDate]) -> Vec<u64> {
    let start = index_of(dates, date(2008, 6, 1));
    let span = (dates.len() - start) as f64;
    let mut values = vec![0.0; dates.len()];
    for (offset, value) in values[start..].iter_mut().enumerate() {
        *value = ((offset + 1) as f64 / span).powf(0.6) * weekday_factor(dates[start + offset]);
    }
    let sum: f64 = values.iter().sum();
    for value in &mut values {
        *value *= figures::VIDEO_TOTAL as f64 / sum;
    }
    cumulative_round(&values)
}

/// The care-call roster: 86 seniors from the first Monday of March 2008,
/// then enrolments spread over the following months up to 300 served, of
/// whom 80 leave along the way (about 220 enrolled at the end). Each senior
/// is called two or three weekdays a week, as the programme's schedule says.
pub fn care_roster(seed: u64, dates: &[NaiveDate]) -> Vec<Senior> {
    let mut rng = Rng::seed(seed ^ 0xCA4E_CA11_0000_0001);
    let opening = index_of(dates, date(2008, 3, 3));
    let later_from = index_of(dates, date(2008, 4, 1));
    let later_until = index_of(dates, date(2009, 10, 31));
    let patterns: [u8; 5] = [
        0b0_0101, // Monday, Wednesday, Friday
        0b1_1010, // Tuesday, Thursday, Friday
        0b0_1001, // Monday, Thursday
        0b1_0010, // Tuesday, Friday
        0b1_0100, // Wednesday, Friday
    ];
    let mut seniors: Vec<Senior> = (0..figures::CARE_SENIORS_SERVED)
        .map(|i| {
            let start = if i < figures::CARE_FIRST_SENIORS {
                opening
            } else {
                later_from + rng.below((later_until - later_from) as u64) as usize
            };
            // Half the seniors are called three times a week.
            let weekdays = if rng.below(2) == 0 {
                patterns[rng.below(2) as usize]
            } else {
                patterns[2 + rng.below(3) as usize]
            };
            Senior {
                start,
                end: dates.len(),
                weekdays,
            }
        })
        .collect();
    seniors.sort_by_key(|s| s.start);
    let mut leaving: Vec<usize> = (0..seniors.len()).collect();
    rng.shuffle(&mut leaving);
    for &i in leaving.iter().take(figures::CARE_SENIORS_LEFT) {
        let senior = &mut seniors[i];
        // Everyone stays at least eight weeks.
        let earliest = senior.start + 56;
        if earliest < dates.len() {
            senior.end = earliest + rng.below((dates.len() - earliest) as u64) as usize;
        }
    }
    seniors
}

/// The seniors called each day, by roster order.
pub fn care_schedule(dates: &[NaiveDate], seniors: &[Senior]) -> Vec<Vec<u16>> {
    dates
        .iter()
        .enumerate()
        .map(|(index, &date)| {
            let weekday = date.weekday();
            if matches!(weekday, Weekday::Sat | Weekday::Sun) {
                return Vec::new();
            }
            let bit = 1u8 << weekday.num_days_from_monday();
            seniors
                .iter()
                .enumerate()
                .filter(|(_, s)| s.start <= index && index < s.end && s.weekdays & bit != 0)
                .map(|(i, _)| i as u16)
                .collect()
        })
        .collect()
}

fn senior_totals(seniors: &[Senior], schedule: &[Vec<u16>]) -> Vec<u64> {
    let mut totals = vec![0u64; seniors.len()];
    for day in schedule {
        for &s in day {
            totals[usize::from(s)] += 1;
        }
    }
    totals
}

/// Scaled-down runs keep a proportional, random subset of the scheduled
/// calls (selection sampling, so the count is exact). Scaled-up runs keep the
/// roster as it is: the programme served 300 seniors, not more.
fn thin_care(seed: u64, schedule: Vec<Vec<u16>>, target: u64, full_total: u64) -> Vec<Vec<u16>> {
    if target >= full_total {
        return schedule;
    }
    let scheduled: u64 = schedule.iter().map(|d| d.len() as u64).sum();
    let mut keep = scale_one(scheduled, target, full_total);
    let mut remaining = scheduled;
    let mut rng = Rng::seed(seed ^ 0xCA4E_CA11_0000_0002);
    schedule
        .into_iter()
        .map(|day| {
            day.into_iter()
                .filter(|_| {
                    let kept = rng.below(remaining) < keep;
                    remaining -= 1;
                    if kept {
                        keep -= 1;
                    }
                    kept
                })
                .collect()
        })
        .collect()
}

/// The heavy (general) citizens' consultation counts. At full scale, together
/// with the care-call seniors who reach 100 calls, they form BRIEF.md's tiers
/// exactly: 15 citizens with 1,000+, 38 with 500+, 73 with 300+, 682 with
/// 100+, the top one with 2,070. Scaled runs scale every count.
pub fn heavy_counts(
    seed: u64,
    senior_totals: &[u64],
    target: u64,
    full_total: u64,
    general_total: u64,
) -> Vec<u64> {
    let mut rng = Rng::seed(seed ^ 0x4EA7_1005_0000_0001);
    let seniors_over_100 = senior_totals.iter().filter(|&&n| n >= 100).count();
    let mut counts = vec![figures::TOP_CITIZEN];
    // (lowest, highest, how many) per tier below the top citizen; counts
    // cluster near each tier's floor, as heavy-use distributions do.
    let tiers = [
        (1_000, 1_999, figures::AT_LEAST_1000 - 1),
        (500, 999, figures::AT_LEAST_500 - figures::AT_LEAST_1000),
        (300, 499, figures::AT_LEAST_300 - figures::AT_LEAST_500),
        (
            100,
            299,
            (figures::AT_LEAST_100 - figures::AT_LEAST_300).saturating_sub(seniors_over_100),
        ),
    ];
    for (low, high, how_many) in tiers {
        for _ in 0..how_many {
            let u = rng.next_f64();
            let count = low + ((high - low + 1) as f64 * u * u) as u64;
            counts.push(count.min(high));
        }
    }
    if target != full_total {
        for count in &mut counts {
            *count = scale_one(*count, target, full_total);
        }
    }
    // Tiny runs cannot hold every heavy user: trim from the lightest ones.
    let mut sum: u64 = counts.iter().sum();
    while sum > general_total {
        let Some(last) = counts.last_mut() else { break };
        let cut = (*last).min(sum - general_total);
        *last -= cut;
        sum -= cut;
        if *last == 0 {
            counts.pop();
        }
    }
    counts
}

/// Largest-remainder apportionment of `total` by `weights`.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let assigned: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(total.saturating_sub(assigned) as usize)
    {
        out[i] += 1;
    }
    out
}

/// The category quotas of each class. The whole history gets exactly
/// `round(share * total)` of each category; care calls and the night slot
/// take their own mixes first (bounded by what is left), and the day slot
/// takes the remainder, so the overall shares hold whatever the classes.
pub fn class_quotas(total: u64, class_sizes: [u64; 3]) -> [[u64; TOP_COUNT]; 3] {
    let mut left: Vec<u64> = apportion(total, &CATEGORY_SHARES);
    let mut quotas = [[0u64; TOP_COUNT]; 3];
    for (class, shares) in [(CLASS_CARE, &CARE_SHARES), (CLASS_NIGHT, &NIGHT_SHARES)] {
        let wanted = apportion(class_sizes[class], shares);
        let mut short = 0u64;
        for i in 0..TOP_COUNT {
            let take = wanted[i].min(left[i]);
            quotas[class][i] = take;
            left[i] -= take;
            short += wanted[i] - take;
        }
        // Whatever a category could not give comes from those with room.
        for i in 0..TOP_COUNT {
            let take = short.min(left[i]);
            quotas[class][i] += take;
            left[i] -= take;
            short -= take;
        }
    }
    // The day slot takes exactly what is left: the class sizes add up to
    // the total, so the quotas add up to the day slot's size.
    debug_assert_eq!(left.iter().sum::<u64>(), class_sizes[CLASS_DAY]);
    quotas[CLASS_DAY].copy_from_slice(&left);
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_rounding_keeps_prefix_sums() {
        let out = cumulative_round(&[0.4, 0.4, 0.4, 1.3, 2.5]);
        assert_eq!(out.iter().sum::<u64>(), 5);
        assert_eq!(out, [0, 1, 0, 2, 2]);
        let scaled = scale_series(&[10, 10, 10], 1, 3);
        assert_eq!(scaled.iter().sum::<u64>(), 10);
    }

    #[test]
    fn apportionment_is_exact() {
        let out = apportion(10_017_123, &CATEGORY_SHARES);
        assert_eq!(out.iter().sum::<u64>(), 10_017_123);
        assert!((out[TRANSPORT] as f64 / 10_017_123.0 - 0.457).abs() < 1e-6);
    }

    #[test]
    fn shares_add_up_to_one() {
        for shares in [CATEGORY_SHARES, CARE_SHARES, NIGHT_SHARES] {
            assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert!((WEEKDAY_FACTOR.iter().sum::<f64>() - 7.0).abs() < 1e-9);
    }
}
