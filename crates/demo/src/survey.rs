//! Satisfaction survey answers for the demo history: the model center's
//! satisfaction rose from the 40% range (2007) to 93% (autumn 2009). A
//! deterministic 4% of phone and SMS consultations were surveyed, about a
//! third of those answered, and the share answering 4–5 of 5 climbs
//! linearly from 40% in January 2007 to 93% in October 2009 (and stays).
//!
//! Decided from the consultation's own id, so the same history always has
//! the same answers, whatever order or batch size it is generated in.

use chrono::Datelike;
use dasan_core::{Channel, NewConsultation, time::SEOUL};

/// Share of phone and SMS consultations surveyed.
pub const SURVEYED: f64 = 0.04;
/// Share of surveys answered.
pub const ANSWERED: f64 = 0.35;
/// Satisfied share in January 2007 and from October 2009 on.
pub const SATISFIED_FROM: f64 = 0.40;
pub const SATISFIED_TO: f64 = 0.93;

/// What became of a consultation's survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyOutcome {
    /// Sent, never answered.
    Unanswered,
    /// Answered with a score of 1–5.
    Answered(u8),
}

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser: a well-spread function of the id's bits.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The satisfied share for a consultation in `year`/`month`.
pub fn satisfied_share(year: i32, month: u32) -> f64 {
    let months = f64::from((year - 2007) * 12 + month as i32 - 1);
    let progress = (months / 33.0).clamp(0.0, 1.0);
    SATISFIED_FROM + (SATISFIED_TO - SATISFIED_FROM) * progress
}

/// The survey of `record`, if it was surveyed.
pub fn survey_outcome(record: &NewConsultation) -> Option<SurveyOutcome> {
    if !matches!(record.channel, Channel::Voice | Channel::Sms) {
        return None;
    }
    let bytes = record.id.0.as_bytes();
    let seed = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
    let draw = |n: u64| unit(mix(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    if draw(1) >= SURVEYED {
        return None;
    }
    if draw(2) >= ANSWERED {
        return Some(SurveyOutcome::Unanswered);
    }
    let date = record.started_at.local_date(SEOUL);
    let satisfied = draw(3) < satisfied_share(date.year(), date.month());
    let pick = draw(4);
    let score = match (satisfied, pick) {
        (true, p) if p < 0.55 => 5,
        (true, _) => 4,
        (false, p) if p < 0.5 => 3,
        (false, p) if p < 0.8 => 2,
        (false, _) => 1,
    };
    Some(SurveyOutcome::Answered(score))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DemoConfig, DemoGenerator};

    #[test]
    fn satisfaction_climbs_from_about_40_to_about_93_percent() {
        let mut generator = DemoGenerator::new(DemoConfig {
            seed: 120,
            consultations: Some(400_000),
        });
        // (answered, satisfied) for 2007 and for September–October 2009.
        let (mut early, mut late) = ((0u64, 0u64), (0u64, 0u64));
        let (mut surveyed, mut candidates) = (0u64, 0u64);
        while let Some(batch) = generator.next_batch(10_000) {
            for record in &batch {
                if matches!(record.channel, Channel::Voice | Channel::Sms) {
                    candidates += 1;
                }
                let Some(outcome) = survey_outcome(record) else {
                    continue;
                };
                surveyed += 1;
                let SurveyOutcome::Answered(score) = outcome else {
                    continue;
                };
                assert!((1..=5).contains(&score));
                let date = record.started_at.local_date(SEOUL);
                let bucket = if date.year() == 2007 {
                    &mut early
                } else if date.year() == 2009 && matches!(date.month(), 9 | 10) {
                    &mut late
                } else {
                    continue;
                };
                bucket.0 += 1;
                bucket.1 += u64::from(score >= 4);
            }
        }
        let share = |(answered, satisfied): (u64, u64)| satisfied as f64 / answered as f64;
        let rate = surveyed as f64 / candidates as f64;
        assert!((rate - SURVEYED).abs() < 0.005, "surveyed {rate}");
        // 2007 averages the climb's first year: about 40% + 11/33 of the way.
        let expected_2007 = (0..12).map(|m| satisfied_share(2007, m + 1)).sum::<f64>() / 12.0;
        assert!(
            (share(early) - expected_2007).abs() < 0.03,
            "2007: {} vs {expected_2007}",
            share(early)
        );
        assert!(
            (share(late) - 0.93).abs() < 0.03,
            "autumn 2009: {}",
            share(late)
        );
        assert!(share(early) < 0.55, "the 40% range at the start");
    }

    #[test]
    fn the_same_record_always_gets_the_same_answer() {
        let mut generator = DemoGenerator::new(DemoConfig {
            seed: 7,
            consultations: Some(5_000),
        });
        let batch = generator.next_batch(5_000).expect("records");
        let first: Vec<_> = batch.iter().map(survey_outcome).collect();
        let second: Vec<_> = batch.iter().map(survey_outcome).collect();
        assert_eq!(first, second);
    }
}
