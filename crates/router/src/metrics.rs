//! Contact-center figures per queue and per interval (30 minutes by
//! default), from what happened to each contact and to agents' time.
//!
//! Every contact counts in the interval in which it **arrived**, whatever
//! happens to it later, so an interval's offered = answered + abandoned once
//! the day has drained.
//!
//! * **offered**: contacts that arrived.
//! * **answered**: offered contacts an agent accepted.
//! * **abandoned**: offered contacts that left before being answered
//!   (while queued or while being offered).
//! * **short abandoned**: abandoned within the short-abandon threshold
//!   (default 5 s): wrong numbers and instant hang-ups that no staffing could
//!   have answered.
//! * **service level**: answered within the target time ÷ (offered − short
//!   abandoned). Abandoned contacts stay in the denominator, so abandonment
//!   cannot flatter the figure. `None` when nothing was offered.
//! * **ASA** (average speed of answer): mean wait from arrival to answer,
//!   over answered contacts, in seconds.
//! * **AHT** (average handle time): mean of talk plus wrap-up, over answered
//!   contacts, in seconds.
//! * **abandon rate**: abandoned ÷ offered (short abandons included; they
//!   are also reported on their own).
//! * **occupancy**: time agents spent handling (talk and wrap-up) ÷ time they
//!   were signed in and not on break, over the interval. A text thread counts
//!   as 1/max-threads of an agent. Reported for the whole floor, not per
//!   queue, because agents serve several queues.

use serde::{Deserialize, Serialize};

use crate::engine::Time;

pub const HALF_HOUR_MILLIS: u64 = 30 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// The service-level answer target (20 s in "80/20").
    pub answer_target_millis: u64,
    pub short_abandon_millis: u64,
    pub interval_millis: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            answer_target_millis: 20_000,
            short_abandon_millis: 5_000,
            interval_millis: HALF_HOUR_MILLIS,
        }
    }
}

/// What finally happened to one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOutcome {
    Answered {
        answered_at: Time,
        /// Talk plus wrap-up.
        handle_millis: u64,
    },
    Abandoned {
        abandoned_at: Time,
    },
}

/// Running sums for one queue in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    offered: u64,
    answered: u64,
    answered_within_target: u64,
    abandoned: u64,
    short_abandoned: u64,
    wait_millis_of_answered: u64,
    handle_millis: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within_target += other.answered_within_target;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
        self.wait_millis_of_answered += other.wait_millis_of_answered;
        self.handle_millis += other.handle_millis;
    }
}

/// The published figures of one tally; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub answered_within_target: u64,
    pub service_level: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    pub abandon_rate: Option<f64>,
    /// Only for whole-floor figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occupancy: Option<f64>,
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

impl Figures {
    fn from_tally(tally: &Tally, occupancy: Option<f64>) -> Figures {
        let answered = tally.answered as f64;
        Figures {
            offered: tally.offered,
            answered: tally.answered,
            abandoned: tally.abandoned,
            short_abandoned: tally.short_abandoned,
            answered_within_target: tally.answered_within_target,
            service_level: ratio(
                tally.answered_within_target as f64,
                tally.offered.saturating_sub(tally.short_abandoned) as f64,
            ),
            asa_seconds: ratio(tally.wait_millis_of_answered as f64 / 1000.0, answered),
            aht_seconds: ratio(tally.handle_millis as f64 / 1000.0, answered),
            abandon_rate: ratio(tally.abandoned as f64, tally.offered as f64),
            occupancy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    pub queue: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalFigures {
    pub interval: usize,
    /// Offset of the interval start from the origin, as `HH:MM` (a day
    /// count is prefixed after the first day: `1d 00:30`).
    pub start: String,
    /// Mean number of agents signed in and not on break.
    pub staffed_agents: f64,
    #[serde(flatten)]
    pub figures: Figures,
    pub queues: Vec<QueueFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    pub intervals: Vec<IntervalFigures>,
    pub queues: Vec<QueueFigures>,
    pub total: Figures,
}

/// Accumulates contact outcomes and agent time.
#[derive(Debug, Clone)]
pub struct Metrics {
    config: MetricsConfig,
    queue_names: Vec<String>,
    /// `tallies[interval][queue]`.
    tallies: Vec<Vec<Tally>>,
    staffed_millis: Vec<f64>,
    busy_millis: Vec<f64>,
}

impl Metrics {
    /// `intervals` fixes the horizon: agent time beyond it is not counted,
    /// and contacts arriving beyond it count in the last interval.
    pub fn new(config: MetricsConfig, queue_names: Vec<String>, intervals: usize) -> Metrics {
        let intervals = intervals.max(1);
        Metrics {
            config,
            tallies: vec![vec![Tally::default(); queue_names.len()]; intervals],
            queue_names,
            staffed_millis: vec![0.0; intervals],
            busy_millis: vec![0.0; intervals],
        }
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    fn interval_of(&self, at: Time) -> usize {
        ((at.0 / self.config.interval_millis.max(1)) as usize).min(self.tallies.len() - 1)
    }

    /// Records a contact's final outcome. Unknown queues are ignored.
    pub fn record_contact(&mut self, queue: usize, arrived_at: Time, outcome: ContactOutcome) {
        let interval = self.interval_of(arrived_at);
        let target = self.config.answer_target_millis;
        let short = self.config.short_abandon_millis;
        let Some(tally) = self.tallies[interval].get_mut(queue) else {
            return;
        };
        tally.offered += 1;
        match outcome {
            ContactOutcome::Answered {
                answered_at,
                handle_millis,
            } => {
                let wait = answered_at.millis_since(arrived_at);
                tally.answered += 1;
                tally.answered_within_target += u64::from(wait <= target);
                tally.wait_millis_of_answered += wait;
                tally.handle_millis += handle_millis;
            }
            ContactOutcome::Abandoned { abandoned_at } => {
                tally.abandoned += 1;
                tally.short_abandoned += u64::from(abandoned_at.millis_since(arrived_at) <= short);
            }
        }
    }

    fn spread(series: &mut [f64], interval_millis: u64, from: Time, to: Time, weight: f64) {
        let horizon = series.len() as u64 * interval_millis;
        let mut start = from.0.min(horizon);
        let end = to.0.min(horizon);
        while start < end {
            let index = (start / interval_millis) as usize;
            let boundary = ((index as u64 + 1) * interval_millis).min(end);
            series[index] += (boundary - start) as f64 * weight;
            start = boundary;
        }
    }

    /// An agent was signed in and not on break from `from` to `to`.
    pub fn record_staffed(&mut self, from: Time, to: Time) {
        Self::spread(
            &mut self.staffed_millis,
            self.config.interval_millis,
            from,
            to,
            1.0,
        );
    }

    /// An agent handled work from `from` to `to`, at `share` of its capacity.
    pub fn record_busy(&mut self, from: Time, to: Time, share: f64) {
        Self::spread(
            &mut self.busy_millis,
            self.config.interval_millis,
            from,
            to,
            share,
        );
    }

    pub fn report(&self) -> MetricsReport {
        let queue_count = self.queue_names.len();
        let mut per_queue_total = vec![Tally::default(); queue_count];
        let mut grand_total = Tally::default();
        let mut intervals = Vec::with_capacity(self.tallies.len());
        for (index, row) in self.tallies.iter().enumerate() {
            let mut interval_total = Tally::default();
            let mut queues = Vec::with_capacity(queue_count);
            for (queue, tally) in row.iter().enumerate() {
                interval_total.add(tally);
                per_queue_total[queue].add(tally);
                queues.push(QueueFigures {
                    queue: self.queue_names[queue].clone(),
                    figures: Figures::from_tally(tally, None),
                });
            }
            grand_total.add(&interval_total);
            let occupancy =
                ratio(self.busy_millis[index], self.staffed_millis[index]).map(|o| o.min(1.0));
            intervals.push(IntervalFigures {
                interval: index,
                start: format_offset(index as u64 * self.config.interval_millis),
                staffed_agents: self.staffed_millis[index] / self.config.interval_millis as f64,
                figures: Figures::from_tally(&interval_total, occupancy),
                queues,
            });
        }
        let busy: f64 = self.busy_millis.iter().sum();
        let staffed: f64 = self.staffed_millis.iter().sum();
        MetricsReport {
            intervals,
            queues: per_queue_total
                .iter()
                .enumerate()
                .map(|(queue, tally)| QueueFigures {
                    queue: self.queue_names[queue].clone(),
                    figures: Figures::from_tally(tally, None),
                })
                .collect(),
            total: Figures::from_tally(&grand_total, ratio(busy, staffed).map(|o| o.min(1.0))),
        }
    }
}

/// `HH:MM` for an offset from the origin; later days get a `Nd ` prefix.
pub fn format_offset(millis: u64) -> String {
    let minutes = millis / 60_000;
    let days = minutes / (24 * 60);
    let hours = (minutes / 60) % 24;
    let minutes = minutes % 60;
    if days == 0 {
        format!("{hours:02}:{minutes:02}")
    } else {
        format!("{days}d {hours:02}:{minutes:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_keeps_abandons_but_not_short_ones() {
        let mut metrics = Metrics::new(MetricsConfig::default(), vec!["voice".into()], 2);
        let answered = |wait: u64| ContactOutcome::Answered {
            answered_at: Time(wait),
            handle_millis: 100_000,
        };
        metrics.record_contact(0, Time(0), answered(10_000));
        metrics.record_contact(0, Time(0), answered(30_000));
        metrics.record_contact(
            0,
            Time(0),
            ContactOutcome::Abandoned {
                abandoned_at: Time(60_000),
            },
        );
        metrics.record_contact(
            0,
            Time(0),
            ContactOutcome::Abandoned {
                abandoned_at: Time(2_000),
            },
        );
        metrics.record_staffed(Time(0), Time(HALF_HOUR_MILLIS * 2));
        metrics.record_busy(
            Time(HALF_HOUR_MILLIS - 900_000),
            Time(HALF_HOUR_MILLIS + 900_000),
            1.0,
        );
        let report = metrics.report();
        let total = report.total;
        assert_eq!(
            (
                total.offered,
                total.answered,
                total.abandoned,
                total.short_abandoned
            ),
            (4, 2, 2, 1)
        );
        // One answered in 20 s out of 4 offered minus 1 short abandon.
        assert_eq!(total.service_level, Some(1.0 / 3.0));
        assert_eq!(total.asa_seconds, Some(20.0));
        assert_eq!(total.aht_seconds, Some(100.0));
        assert_eq!(total.abandon_rate, Some(0.5));
        assert_eq!(report.intervals[0].figures.occupancy, Some(0.5));
        assert_eq!(report.intervals[1].figures.occupancy, Some(0.5));
        assert_eq!(report.intervals[1].figures.service_level, None);
        assert_eq!(report.intervals[1].start, "00:30");
        assert_eq!(format_offset(HALF_HOUR_MILLIS * 49), "1d 00:30");
    }
}
