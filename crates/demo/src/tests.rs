//! The generator's contract: determinism, exact totals, and the model
//! center's figures. The full ten-million history is checked twice: its plan
//! (every count, at full scale, without building records) in every test run,
//! and record by record in `full_history_meets_the_brief`, which is ignored
//! in debug runs for speed (run it with `cargo test --release -p dasan-demo
//! -- --ignored`).

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use dasan_core::{Taxonomy, time::SEOUL};

use super::*;
use crate::plan::{
    TOP_LEVEL, TRANSPORT, WATER, calendar, care_schedule, figures, full_daily_counts, night_counts,
    sms_counts, video_counts,
};

const SEED: u64 = 120;

fn run(seed: u64, consultations: Option<u64>, batch: usize) -> Vec<NewConsultation> {
    let mut generator = DemoGenerator::new(DemoConfig {
        seed,
        consultations,
    });
    let mut out = Vec::new();
    while let Some(records) = generator.next_batch(batch) {
        assert!(records.len() <= batch);
        out.extend(records);
    }
    assert_eq!(generator.produced(), generator.total());
    out
}

#[test]
fn same_seed_same_history_whatever_the_batch_size() {
    let a = run(SEED, Some(40_000), 5_000);
    let b = run(SEED, Some(40_000), 7_777);
    assert_eq!(a.len(), 40_000);
    assert_eq!(a, b);
    let c = run(SEED + 1, Some(40_000), 5_000);
    assert_eq!(c.len(), 40_000);
    assert_ne!(a, c);
}

#[test]
fn scaled_runs_have_exactly_the_requested_size() {
    for n in [0, 1, 2, 17, 1_000, 123_457] {
        let mut generator = DemoGenerator::new(DemoConfig {
            seed: SEED,
            consultations: Some(n),
        });
        assert_eq!(generator.total(), n);
        let mut count = 0u64;
        while let Some(batch) = generator.next_batch(50_000) {
            count += batch.len() as u64;
        }
        assert_eq!(count, n, "requested {n}");
    }
}

#[test]
fn every_record_is_valid_ordered_and_staffed_properly() {
    let records = run(SEED, Some(200_000), 50_000);
    let taxonomy = Taxonomy::seed();
    let agents: HashMap<AgentId, dasan_core::NewAgent> = demo_agents(SEED).into_iter().collect();
    let mut ids = BTreeSet::new();
    let mut channels: HashMap<Channel, u64> = HashMap::new();
    let mut outcomes: HashMap<Outcome, u64> = HashMap::new();
    let mut previous = i64::MIN;
    let first = plan::first_day();
    let last = plan::last_day();
    for record in &records {
        // The generator builds records directly for speed; they must be
        // exactly what the domain's constructor would accept.
        let checked = NewConsultation::from_parts(
            record.id,
            record.channel,
            record.category.clone(),
            record.citizen_phone.clone(),
            record.agent_id,
            record.started_at,
            record.ended_at,
            record.summary.clone(),
            record.outcome,
            record.department.clone(),
        )
        .expect("a valid record");
        assert_eq!(&checked, record);
        assert!(taxonomy.contains(&record.category), "{}", record.category);
        assert!(record.started_at.millis() >= previous, "time order");
        previous = record.started_at.millis();
        let date = record.started_at.local_date(SEOUL);
        assert!(first <= date && date <= last);
        assert!(ids.insert(record.id), "unique ids");
        assert!(!record.summary.is_empty());
        *channels.entry(record.channel).or_default() += 1;
        *outcomes.entry(record.outcome).or_default() += 1;
        match record.agent_id {
            None => assert_eq!(record.outcome, Outcome::Dropped),
            Some(agent_id) => {
                let agent = agents.get(&agent_id).expect("a demo agent");
                assert!(agent.channels.contains(&record.channel));
                match record.channel {
                    Channel::Video => assert!(agent.skills.contains(&Skill::SignLanguage)),
                    Channel::CareCall => assert!(agent.skills.contains(&Skill::Care)),
                    _ => {}
                }
            }
        }
        match record.channel {
            Channel::Sms => assert!(date >= NaiveDate::from_ymd_opt(2009, 3, 1).expect("date")),
            Channel::Mms => assert!(date >= NaiveDate::from_ymd_opt(2009, 10, 1).expect("date")),
            Channel::Video => assert!(date >= NaiveDate::from_ymd_opt(2008, 6, 1).expect("date")),
            Channel::CareCall => {
                assert!(date >= NaiveDate::from_ymd_opt(2008, 3, 1).expect("date"));
                assert!(record.citizen_phone.e164().starts_with("+822"));
            }
            _ => {}
        }
        if record.outcome == Outcome::Transferred {
            assert!(record.department.is_some());
        }
        let seconds = record.handle_seconds();
        assert!((0..=7_200).contains(&seconds), "{seconds}");
    }
    for channel in [
        Channel::Voice,
        Channel::Sms,
        Channel::Video,
        Channel::CareCall,
    ] {
        assert!(
            channels.get(&channel).copied().unwrap_or(0) > 0,
            "{channel}"
        );
    }
    for outcome in Outcome::ALL {
        assert!(
            outcomes.get(&outcome).copied().unwrap_or(0) > 0,
            "{outcome}"
        );
    }
    let answered = outcomes[&Outcome::Answered] as f64 / records.len() as f64;
    assert!((0.8..0.95).contains(&answered), "{answered}");
}

/// Figures of a generated history, counted the way `dasan stats` does.
#[derive(Default)]
struct Tally {
    total: u64,
    per_date: HashMap<NaiveDate, u64>,
    night_by_month: HashMap<(i32, u32), u64>,
    by_top: HashMap<String, u64>,
    by_leaf: HashMap<String, u64>,
    by_channel: HashMap<Channel, u64>,
    per_phone: HashMap<u64, u32>,
}

/// Korea kept UTC+9 all through 2007-2009 (no daylight saving), so local
/// wall-clock time is a fixed offset; that keeps this loop cheap.
const SEOUL_OFFSET_MILLIS: i64 = 9 * 3_600_000;

impl Tally {
    fn add(&mut self, record: &NewConsultation) {
        self.total += 1;
        let local = record.started_at.millis() + SEOUL_OFFSET_MILLIS;
        let days = local.div_euclid(86_400_000);
        let date =
            NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days);
        *self.per_date.entry(date).or_default() += 1;
        if local.rem_euclid(86_400_000) < 6 * 3_600_000 {
            *self
                .night_by_month
                .entry((date.year(), date.month()))
                .or_default() += 1;
        }
        *self
            .by_top
            .entry(record.category.top_level().to_owned())
            .or_default() += 1;
        if !self.by_leaf.contains_key(record.category.as_str()) {
            self.by_leaf.insert(record.category.as_str().to_owned(), 0);
        }
        *self
            .by_leaf
            .get_mut(record.category.as_str())
            .expect("inserted") += 1;
        *self.by_channel.entry(record.channel).or_default() += 1;
        let digits: u64 = record.citizen_phone.e164()[1..].parse().expect("digits");
        *self.per_phone.entry(digits).or_default() += 1;
    }

    fn month_average(&self, year: i32, month: u32) -> f64 {
        let (sum, days) = self
            .per_date
            .iter()
            .filter(|(d, _)| d.year() == year && d.month() == month)
            .fold((0, 0), |(s, n), (_, c)| (s + c, n + 1));
        sum as f64 / f64::from(days)
    }

    fn share(&self, top: &str) -> f64 {
        self.by_top.get(top).copied().unwrap_or(0) as f64 / self.total as f64
    }

    fn at_least(&self, n: u32) -> usize {
        self.per_phone.values().filter(|&&c| c >= n).count()
    }

    fn milestone_date(&self, milestone: u64) -> Option<NaiveDate> {
        let mut dates: Vec<_> = self.per_date.iter().collect();
        dates.sort();
        let mut running = 0;
        for (date, count) in dates {
            running += count;
            if running >= milestone {
                return Some(*date);
            }
        }
        None
    }
}

fn month_sum(dates: &[NaiveDate], values: &[u64], year: i32, month: u32) -> u64 {
    dates
        .iter()
        .zip(values)
        .filter(|(d, _)| d.year() == year && d.month() == month)
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn the_full_plan_meets_the_brief_exactly() {
    let dates = calendar();
    assert_eq!(dates.len(), 1_045);
    let plan = Plan::new(SEED, None);
    let daily: Vec<u64> = plan.days.iter().map(|d| d.total).collect();
    assert_eq!(daily, full_daily_counts(&dates));
    assert_eq!(plan.total, daily.iter().sum::<u64>());
    assert!(plan.total >= figures::MILESTONE);

    // The 10,000,000th consultation falls on 2009-11-10.
    let before_last: u64 = daily[..daily.len() - 1].iter().sum();
    assert!(before_last < figures::MILESTONE && figures::MILESTONE <= plan.total);

    // January 2007 about 1,184 a day; October 2009 33,000 a day.
    let jan = month_sum(&dates, &daily, 2007, 1) as f64 / 31.0;
    let oct = month_sum(&dates, &daily, 2009, 10) as f64 / 31.0;
    assert!((jan - figures::PILOT_DAILY).abs() < 1.0, "{jan}");
    assert!(
        (oct / figures::OCTOBER_2009_DAILY - 1.0).abs() < 0.0005,
        "{oct}"
    );
    // Growth never reverses by more than the weekly rhythm.
    let monthly: Vec<f64> = (2007..=2009)
        .flat_map(|y| (1..=12).map(move |m| (y, m)))
        .filter(|&(y, m)| y < 2009 || m <= 10)
        .map(|(y, m)| {
            let days = dates
                .iter()
                .filter(|d| d.year() == y && d.month() == m)
                .count();
            month_sum(&dates, &daily, y, m) as f64 / days as f64
        })
        .collect();
    assert!(
        monthly.windows(2).all(|w| w[1] > w[0] * 0.97),
        "{monthly:?}"
    );

    // Nothing was clamped at full scale: the channel and night series are
    // the planned ones, exactly.
    let night: Vec<u64> = plan.days.iter().map(|d| d.night).collect();
    assert_eq!(night, night_counts(&dates, &daily));
    let video: Vec<u64> = plan.days.iter().map(|d| d.video).collect();
    assert_eq!(video, video_counts(&dates));
    let sms: Vec<u64> = plan.days.iter().map(|d| d.sms).collect();
    assert_eq!(sms, sms_counts(&dates));
    let care: Vec<Vec<u16>> = plan.days.iter().map(|d| d.care.clone()).collect();
    assert_eq!(care, care_schedule(&dates, &plan.seniors));

    // Night slot: empty in 2007, then 3,923 (Jan 2008) to 51,769 (Oct 2009).
    assert_eq!(month_sum(&dates, &night, 2007, 12), 0);
    assert_eq!(
        month_sum(&dates, &night, 2008, 1),
        figures::NIGHT_FIRST_MONTH
    );
    assert_eq!(
        month_sum(&dates, &night, 2009, 10),
        figures::NIGHT_OCTOBER_2009
    );
    let night_total: u64 = night.iter().sum();
    assert!((400_000..=520_000).contains(&night_total), "{night_total}");

    // Channels.
    assert_eq!(sms.iter().sum::<u64>(), figures::SMS_TOTAL);
    let last_sms = *sms.last().expect("days") as f64;
    assert!((last_sms - figures::SMS_LAST_DAY).abs() < 3.0, "{last_sms}");
    assert_eq!(video.iter().sum::<u64>(), figures::VIDEO_TOTAL);
    let care_per_day = |year, month| {
        let calls: usize = plan
            .days
            .iter()
            .filter(|d| d.date.year() == year && d.date.month() == month)
            .map(|d| d.care.len())
            .sum();
        calls as f64 / 30.0
    };
    let (first, latest) = (care_per_day(2008, 4), care_per_day(2009, 10));
    assert!((25.0..=45.0).contains(&first), "{first}");
    assert!((65.0..=90.0).contains(&latest), "{latest}");

    // Category quotas: exact shares.
    let category_total = |top: usize| -> u64 { plan.class_quotas.iter().map(|q| q[top]).sum() };
    let all: u64 = (0..TOP_LEVEL.len()).map(category_total).sum();
    assert_eq!(all, plan.total);
    let transport = category_total(TRANSPORT) as f64 / plan.total as f64;
    let water = category_total(WATER) as f64 / plan.total as f64;
    assert!((transport - 0.457).abs() < 1e-6, "{transport}");
    assert!((water - 0.084).abs() < 1e-6, "{water}");

    // Heavy users: the general heavy users plus the care-call seniors who
    // reach 100 calls form the tiers exactly.
    let mut counts = plan.heavy_counts.clone();
    let mut senior_calls = vec![0u64; plan.seniors.len()];
    for day in &plan.days {
        for &senior in &day.care {
            senior_calls[usize::from(senior)] += 1;
        }
    }
    assert!(senior_calls.iter().all(|&n| n < 300));
    counts.extend(senior_calls.iter().filter(|&&n| n >= 100));
    let at_least = |n: u64| counts.iter().filter(|&&c| c >= n).count();
    assert_eq!(counts.iter().max(), Some(&figures::TOP_CITIZEN));
    assert_eq!(
        counts
            .iter()
            .filter(|&&c| c == figures::TOP_CITIZEN)
            .count(),
        1
    );
    assert_eq!(at_least(1_000), 15);
    assert_eq!(at_least(500), 38);
    assert_eq!(at_least(300), 73);
    assert_eq!(at_least(100), 682);
    assert_eq!(at_least(1), 682, "every heavy count is at least 100");
}

/// Materialises a history and checks it the way `dasan stats` would.
fn tally(seed: u64, consultations: Option<u64>) -> Tally {
    let mut generator = DemoGenerator::new(DemoConfig {
        seed,
        consultations,
    });
    let mut tally = Tally::default();
    while let Some(batch) = generator.next_batch(50_000) {
        for record in &batch {
            tally.add(record);
        }
    }
    tally
}

#[test]
fn a_scaled_history_keeps_the_shapes() {
    let n = 500_000;
    let tally = tally(SEED, Some(n));
    assert_eq!(tally.total, n);
    assert!((tally.share("transport") - 0.457).abs() < 0.0005);
    assert!((tally.share("water") - 0.084).abs() < 0.0005);
    for leaf in [
        "transport.transit",
        "transport.location",
        "transport.taxi",
        "water.bill",
        "water.moving",
        "water.payment",
    ] {
        assert!(tally.by_leaf.get(leaf).copied().unwrap_or(0) > 0, "{leaf}");
    }
    assert!(
        !tally.by_leaf.contains_key("transport"),
        "only sub-categories"
    );
    let scale = n as f64 / Plan::new(SEED, None).total as f64;
    let oct = tally.month_average(2009, 10);
    assert!(
        (oct / (figures::OCTOBER_2009_DAILY * scale) - 1.0).abs() < 0.01,
        "{oct}"
    );
    assert_eq!(tally.night_by_month.get(&(2007, 6)), None);
    let sms = tally.by_channel.get(&Channel::Sms).copied().unwrap_or(0) as f64;
    assert!(
        (sms / (figures::SMS_TOTAL as f64 * scale) - 1.0).abs() < 0.01,
        "{sms}"
    );
    let max = tally.per_phone.values().max().copied().unwrap_or(0);
    let expected_top = (figures::TOP_CITIZEN as f64 * scale).round() as u32;
    assert_eq!(max, expected_top);
    assert_eq!(
        tally.milestone_date((figures::MILESTONE as f64 * scale).round() as u64),
        NaiveDate::from_ymd_opt(2009, 11, 10)
    );
}

#[test]
#[ignore = "ten million records: run with --release -- --ignored"]
fn full_history_meets_the_brief() {
    let tally = tally(SEED, None);
    assert!(tally.total >= figures::MILESTONE);
    assert_eq!(
        tally.milestone_date(figures::MILESTONE),
        NaiveDate::from_ymd_opt(2009, 11, 10)
    );
    assert!((tally.share("transport") - 0.457).abs() < 0.0001);
    assert!((tally.share("water") - 0.084).abs() < 0.0001);
    let oct = tally.month_average(2009, 10);
    assert!(
        (oct / figures::OCTOBER_2009_DAILY - 1.0).abs() < 0.005,
        "{oct}"
    );
    assert_eq!(tally.night_by_month.get(&(2008, 1)), Some(&3_923));
    assert_eq!(tally.night_by_month.get(&(2009, 10)), Some(&51_769));
    assert!(!tally.night_by_month.keys().any(|&(y, _)| y == 2007));
    assert_eq!(tally.by_channel.get(&Channel::Sms), Some(&185_000));
    assert_eq!(tally.by_channel.get(&Channel::Video), Some(&16_375));
    assert_eq!(tally.per_phone.values().max(), Some(&2_070));
    assert_eq!(tally.at_least(1_000), 15);
    assert_eq!(tally.at_least(500), 38);
    assert_eq!(tally.at_least(300), 73);
    assert_eq!(tally.at_least(100), 682);
    // Everyone outside the tiers stays far below 100, except care-call
    // seniors, whose count is set by their call schedule.
    let occasional_max = tally
        .per_phone
        .iter()
        .filter(|(phone, _)| phone.to_string().starts_with("8210"))
        .map(|(_, &n)| n)
        .filter(|&n| n < 100)
        .max()
        .unwrap_or(0);
    assert!(occasional_max < 40, "{occasional_max}");
    eprintln!(
        "total {} distinct citizens {} night {} channels {:?}",
        tally.total,
        tally.per_phone.len(),
        tally.night_by_month.values().sum::<u64>(),
        tally.by_channel
    );
}
