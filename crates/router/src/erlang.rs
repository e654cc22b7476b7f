//! Workforce maths: Erlang C (M/M/n, callers wait forever) and Erlang A
//! (M/M/n+M, callers abandon after an exponential patience), the fewest
//! agents meeting a service-level target, and rostered heads after shrinkage.
//!
//! Both models work from the Erlang B recursion
//! `B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))`, which stays within [0, 1]
//! at every step and so neither overflows nor loses precision for thousands
//! of agents (the textbook `Aⁿ/n!` sums overflow near n = 170).
//!
//! Definitions, for `n` agents, arrival rate `λ`, mean handle time `1/μ`,
//! offered traffic `A = λ/μ` (Erlangs) and target answer time `T`:
//!
//! * `probability_of_wait`: an arrival finds every agent busy.
//! * `service_level`: answered within `T`, divided by all arrivals
//!   (abandoned ones included) — the same definition as [`crate::metrics`].
//! * `asa_seconds`: mean wait of answered contacts (those served at once count 0).
//! * `occupancy`: served traffic ÷ `n` (`A/n` for Erlang C).
//! * `abandon_rate`: arrivals that abandon (always 0 in Erlang C).

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ErlangError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("no head count up to {0} meets the target")]
    TargetUnreachable(u32),
}

/// The largest head count the search considers for one interval.
pub const MAX_AGENTS: u32 = 100_000;

/// Offered work in one interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Arrivals per second.
    pub arrival_rate: f64,
    /// Mean handle time in seconds (talk plus wrap-up).
    pub average_handle_seconds: f64,
    /// Mean patience in seconds (Erlang A); `None` for Erlang C.
    pub patience_seconds: Option<f64>,
}

impl Workload {
    /// Checks the figures: finite, rate ≥ 0, handle time and patience > 0.
    pub fn new(
        arrival_rate: f64,
        average_handle_seconds: f64,
        patience_seconds: Option<f64>,
    ) -> Result<Workload, ErlangError> {
        if !arrival_rate.is_finite() || arrival_rate < 0.0 {
            return Err(ErlangError::InvalidInput(format!(
                "the arrival rate must be zero or positive, not {arrival_rate}"
            )));
        }
        if !average_handle_seconds.is_finite() || average_handle_seconds <= 0.0 {
            return Err(ErlangError::InvalidInput(format!(
                "the average handle time must be positive, not {average_handle_seconds}"
            )));
        }
        if let Some(patience) = patience_seconds
            && (!patience.is_finite() || patience <= 0.0)
        {
            return Err(ErlangError::InvalidInput(format!(
                "the mean patience must be positive, not {patience}"
            )));
        }
        let traffic = arrival_rate * average_handle_seconds;
        if traffic > f64::from(MAX_AGENTS) {
            return Err(ErlangError::InvalidInput(format!(
                "{traffic:.0} Erlangs is beyond what one center plans for"
            )));
        }
        Ok(Workload {
            arrival_rate,
            average_handle_seconds,
            patience_seconds,
        })
    }

    /// Offered traffic in Erlangs.
    pub fn traffic(&self) -> f64 {
        self.arrival_rate * self.average_handle_seconds
    }
}

/// "Answer `service_level` of contacts within `answer_within_seconds`."
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceTarget {
    pub service_level: f64,
    pub answer_within_seconds: f64,
}

impl ServiceTarget {
    pub fn new(
        service_level: f64,
        answer_within_seconds: f64,
    ) -> Result<ServiceTarget, ErlangError> {
        // A service level of exactly 1 is unreachable in both models.
        if !(service_level > 0.0 && service_level < 1.0) {
            return Err(ErlangError::InvalidInput(format!(
                "the target service level must be between 0 and 1 (exclusive), not {service_level}"
            )));
        }
        if !answer_within_seconds.is_finite() || answer_within_seconds < 0.0 {
            return Err(ErlangError::InvalidInput(format!(
                "the target answer time must be zero or positive, not {answer_within_seconds}"
            )));
        }
        Ok(ServiceTarget {
            service_level,
            answer_within_seconds,
        })
    }
}

/// What a head count is predicted to achieve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub agents: u32,
    pub traffic_erlangs: f64,
    pub probability_of_wait: f64,
    pub service_level: f64,
    pub asa_seconds: f64,
    pub occupancy: f64,
    pub abandon_rate: f64,
}

/// Erlang B blocking probability by the stable recursion.
pub fn erlang_b(agents: u32, traffic: f64) -> f64 {
    let mut blocking = 1.0;
    for k in 1..=agents {
        blocking = traffic * blocking / (f64::from(k) + traffic * blocking);
    }
    blocking
}

/// Erlang C probability of waiting; 1 when `traffic ≥ agents` (the queue
/// grows without bound).
pub fn erlang_c(agents: u32, traffic: f64) -> f64 {
    erlang_c_from_b(agents, traffic, erlang_b(agents, traffic))
}

fn erlang_c_from_b(agents: u32, traffic: f64, blocking: f64) -> f64 {
    let n = f64::from(agents);
    if traffic <= 0.0 {
        return 0.0;
    }
    if traffic >= n {
        return 1.0;
    }
    n * blocking / (n - traffic * (1.0 - blocking))
}

/// Predicts a head count with Erlang C or, when the workload has a patience,
/// Erlang A.
pub fn predict(workload: &Workload, agents: u32, answer_within_seconds: f64) -> Prediction {
    let blocking = erlang_b(agents, workload.traffic());
    predict_with_blocking(workload, agents, answer_within_seconds, blocking)
}

fn predict_with_blocking(
    workload: &Workload,
    agents: u32,
    target_seconds: f64,
    blocking: f64,
) -> Prediction {
    match workload.patience_seconds {
        None => erlang_c_prediction(workload, agents, target_seconds, blocking),
        Some(patience) => erlang_a_prediction(workload, agents, target_seconds, patience, blocking),
    }
}

fn erlang_c_prediction(
    workload: &Workload,
    agents: u32,
    target_seconds: f64,
    blocking: f64,
) -> Prediction {
    let traffic = workload.traffic();
    let n = f64::from(agents);
    if traffic <= 0.0 {
        return Prediction {
            agents,
            traffic_erlangs: 0.0,
            probability_of_wait: 0.0,
            service_level: 1.0,
            asa_seconds: 0.0,
            occupancy: 0.0,
            abandon_rate: 0.0,
        };
    }
    if traffic >= n {
        // Unstable: the queue grows for as long as the interval lasts.
        return Prediction {
            agents,
            traffic_erlangs: traffic,
            probability_of_wait: 1.0,
            service_level: 0.0,
            asa_seconds: f64::INFINITY,
            occupancy: 1.0,
            abandon_rate: 0.0,
        };
    }
    let wait = erlang_c_from_b(agents, traffic, blocking);
    let aht = workload.average_handle_seconds;
    Prediction {
        agents,
        traffic_erlangs: traffic,
        probability_of_wait: wait,
        service_level: (1.0 - wait * (-(n - traffic) * target_seconds / aht).exp()).clamp(0.0, 1.0),
        asa_seconds: wait * aht / (n - traffic),
        occupancy: traffic / n,
        abandon_rate: 0.0,
    }
}

/// Erlang A from the birth–death chain of M/M/n+M, unnormalised with
/// `π(n) = 1`: the states below `n` sum to `1/B(n, A)` (Erlang B), the states
/// above follow `π(n+j) = π(n+j−1) · λ / (nμ + jγ)` until negligible.
///
/// A tagged arrival that finds `j` waiting ahead moves up at rate `nμ + iγ`
/// (with `i` ahead) and abandons at rate `γ`; it is answered with probability
/// `S_j = Π_{i≤j} (nμ+iγ)/(nμ+(i+1)γ)`, after a mean wait (given answered)
/// of `Σ_{i≤j} 1/(nμ+(i+1)γ)`. The probability of being answered within `T`
/// is the absorbed mass of that pure-death chain at time `T`, computed by
/// uniformisation.
fn erlang_a_prediction(
    workload: &Workload,
    agents: u32,
    target_seconds: f64,
    patience_seconds: f64,
    blocking: f64,
) -> Prediction {
    let lambda = workload.arrival_rate;
    let mu = 1.0 / workload.average_handle_seconds;
    let gamma = 1.0 / patience_seconds;
    let traffic = workload.traffic();
    let n = f64::from(agents);
    if lambda <= 0.0 {
        return Prediction {
            agents,
            traffic_erlangs: 0.0,
            probability_of_wait: 0.0,
            service_level: 1.0,
            asa_seconds: 0.0,
            occupancy: 0.0,
            abandon_rate: 0.0,
        };
    }
    let below_n = 1.0 / blocking; // includes π(n) = 1
    let mut tail = vec![1.0f64]; // tail[j] = π(n+j)
    let mut tail_sum = 0.0; // Σ_{j≥1}
    loop {
        let j = tail.len() as f64;
        let next = tail[tail.len() - 1] * lambda / (n * mu + j * gamma);
        // Past the peak the terms only shrink; stop once they no longer count.
        if (n * mu + j * gamma > lambda && next < 1e-16 * (below_n + tail_sum))
            || tail.len() > 2_000_000
        {
            break;
        }
        tail.push(next);
        tail_sum += next;
    }
    let total = below_n + tail_sum;
    let probability_of_wait = tail.iter().sum::<f64>() / total;
    let mean_queue: f64 = tail
        .iter()
        .enumerate()
        .map(|(j, p)| j as f64 * p)
        .sum::<f64>()
        / total;
    let abandon_rate = (gamma * mean_queue / lambda).clamp(0.0, 1.0);

    // Answered-after-waiting mass and its mean wait.
    let mut survive = 1.0;
    let mut mean_wait_given_answered = 0.0;
    let mut answered_after_wait = 0.0;
    let mut waited_time = 0.0;
    for (j, weight) in tail.iter().enumerate() {
        let ahead = j as f64;
        let advance = n * mu + ahead * gamma;
        let leave = advance + gamma;
        // The arrival that finds j ahead must pass states j, j−1, ..., 0; the
        // running product over i ≤ j is shared because the rates depend only
        // on i.
        survive *= advance / leave;
        mean_wait_given_answered += 1.0 / leave;
        let probability = weight / total;
        answered_after_wait += probability * survive;
        waited_time += probability * survive * mean_wait_given_answered;
    }
    let answered_at_once = 1.0 - probability_of_wait;
    let answered = answered_at_once + answered_after_wait;
    let asa_seconds = if answered > 0.0 {
        waited_time / answered
    } else {
        f64::INFINITY
    };
    let answered_within_target =
        answered_within_by_uniformisation(&tail, total, n * mu, gamma, target_seconds);
    Prediction {
        agents,
        traffic_erlangs: traffic,
        probability_of_wait,
        service_level: (answered_at_once + answered_within_target).clamp(0.0, 1.0),
        asa_seconds,
        occupancy: if agents == 0 {
            0.0
        } else {
            (lambda * answered * workload.average_handle_seconds / n).min(1.0)
        },
        abandon_rate,
    }
}

/// Mass of waiting arrivals answered within `target` seconds: the pure-death
/// chain (state = contacts ahead) started from the arrival distribution,
/// moving down at `service + i·γ`, killed at `γ`, absorbed at "answered".
fn answered_within_by_uniformisation(
    tail: &[f64],
    total: f64,
    service: f64,
    gamma: f64,
    target: f64,
) -> f64 {
    if target <= 0.0 || service <= 0.0 {
        return 0.0;
    }
    let mut mass: Vec<f64> = tail.iter().map(|weight| weight / total).collect();
    let states = mass.len();
    let uniform_rate = service + states as f64 * gamma + gamma;
    // Poisson weights underflow beyond a mean of ~700; step in chunks whose
    // mean stays small.
    let chunks = ((uniform_rate * target) / 50.0).ceil().max(1.0) as usize;
    let chunk_mean = uniform_rate * target / chunks as f64;
    let mut answered = 0.0;
    let mut next = vec![0.0; states];
    for _ in 0..chunks {
        // Transient distribution after the chunk: Σ_k Poisson(k) · P^k · mass.
        let mut poisson = (-chunk_mean).exp();
        let mut cumulative = poisson;
        let mut result: Vec<f64> = mass.iter().map(|m| m * poisson).collect();
        let mut answered_in_chunk = 0.0;
        let mut absorbed_so_far = 0.0;
        let mut current = mass.clone();
        let mut k = 0u32;
        while 1.0 - cumulative > 1e-14 && k < 100_000 {
            k += 1;
            // One step of the uniformised chain.
            absorbed_so_far += current[0] * service / uniform_rate;
            for i in 0..states {
                let ahead = i as f64;
                let stay = 1.0 - (service + ahead * gamma + gamma) / uniform_rate;
                let from_above = if i + 1 < states {
                    current[i + 1] * (service + (ahead + 1.0) * gamma) / uniform_rate
                } else {
                    0.0
                };
                next[i] = current[i] * stay + from_above;
            }
            std::mem::swap(&mut current, &mut next);
            poisson *= chunk_mean / f64::from(k);
            cumulative += poisson;
            for (r, c) in result.iter_mut().zip(&current) {
                *r += poisson * c;
            }
            answered_in_chunk += poisson * absorbed_so_far;
        }
        answered += answered_in_chunk;
        mass = result;
    }
    answered
}

/// The fewest agents (at least `minimum_agents`) whose prediction meets the
/// target.
pub fn agents_needed(
    workload: &Workload,
    target: &ServiceTarget,
    minimum_agents: u32,
) -> Result<Prediction, ErlangError> {
    let traffic = workload.traffic();
    // Below the traffic Erlang C is unstable; Erlang A can do with fewer
    // agents than the traffic but rarely with fewer than half of it.
    let start = match workload.patience_seconds {
        None => traffic.floor() as u32,
        Some(_) => (traffic * 0.5).floor() as u32,
    }
    .max(minimum_agents);
    let mut blocking = erlang_b(start, traffic);
    let mut agents = start;
    loop {
        let prediction =
            predict_with_blocking(workload, agents, target.answer_within_seconds, blocking);
        if prediction.service_level >= target.service_level {
            return Ok(prediction);
        }
        if agents >= MAX_AGENTS {
            return Err(ErlangError::TargetUnreachable(MAX_AGENTS));
        }
        agents += 1;
        blocking = traffic * blocking / (f64::from(agents) + traffic * blocking);
    }
}

/// Heads to roster so that `agents` are on the phones after shrinkage (breaks,
/// training, absence): `ceil(agents / (1 − shrinkage))`.
pub fn rostered_heads(agents: u32, shrinkage: f64) -> Result<u32, ErlangError> {
    if !(0.0..1.0).contains(&shrinkage) {
        return Err(ErlangError::InvalidInput(format!(
            "shrinkage must be at least 0 and below 1, not {shrinkage}"
        )));
    }
    Ok((f64::from(agents) / (1.0 - shrinkage) - 1e-9)
        .ceil()
        .max(0.0) as u32)
}

/// One interval of a staffing plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntervalPlan {
    pub interval: usize,
    pub arrivals: f64,
    pub rostered_heads: u32,
    #[serde(flatten)]
    pub prediction: Prediction,
}

/// A staffing plan for a forecast of arrivals per interval.
pub fn plan(
    arrivals_per_interval: &[f64],
    interval_seconds: f64,
    average_handle_seconds: f64,
    patience_seconds: Option<f64>,
    target: &ServiceTarget,
    shrinkage: f64,
    minimum_agents: u32,
) -> Result<Vec<IntervalPlan>, ErlangError> {
    if !(interval_seconds.is_finite() && interval_seconds > 0.0) {
        return Err(ErlangError::InvalidInput(
            "the interval length must be positive".into(),
        ));
    }
    arrivals_per_interval
        .iter()
        .enumerate()
        .map(|(interval, &arrivals)| {
            let workload = Workload::new(
                arrivals / interval_seconds,
                average_handle_seconds,
                patience_seconds,
            )
            .map_err(|error| {
                ErlangError::InvalidInput(format!("interval {}: {error}", interval + 1))
            })?;
            let prediction = agents_needed(&workload, target, minimum_agents)?;
            Ok(IntervalPlan {
                interval,
                arrivals,
                rostered_heads: rostered_heads(prediction.agents, shrinkage)?,
                prediction,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} vs {expected}"
        );
    }

    /// The published test vector: 100 calls per 30 min, AHT 180 s, 14 agents.
    #[test]
    fn erlang_c_reproduces_the_published_vector() {
        let workload = Workload::new(100.0 / 1800.0, 180.0, None).expect("valid");
        let prediction = predict(&workload, 14, 20.0);
        close(prediction.probability_of_wait, 0.17413, 0.000_01);
        close(prediction.service_level, 0.88835, 0.000_01);
        close(prediction.asa_seconds, 7.836, 0.001);
        close(prediction.occupancy, 10.0 / 14.0, 1e-12);
        let target = ServiceTarget::new(0.8, 20.0).expect("valid");
        let needed = agents_needed(&workload, &target, 0).expect("reachable");
        // 13 agents reach about 79%, so 14 is the fewest that meet 80/20.
        assert_eq!(needed.agents, 14);
        assert!(predict(&workload, 13, 20.0).service_level < 0.8);
    }

    #[test]
    fn erlang_b_is_stable_for_thousands_of_agents() {
        let blocking = erlang_b(5_000, 4_900.0);
        assert!(
            blocking.is_finite() && blocking > 0.0 && blocking < 0.02,
            "{blocking}"
        );
        let wait = erlang_c(5_000, 4_900.0);
        assert!(wait.is_finite() && (0.0..1.0).contains(&wait), "{wait}");
    }

    #[test]
    fn erlang_a_with_endless_patience_approaches_erlang_c() {
        let patient = Workload::new(100.0 / 1800.0, 180.0, Some(1e9)).expect("valid");
        let c = predict(
            &Workload {
                patience_seconds: None,
                ..patient
            },
            14,
            20.0,
        );
        let a = predict(&patient, 14, 20.0);
        close(a.probability_of_wait, c.probability_of_wait, 1e-5);
        close(a.service_level, c.service_level, 1e-5);
        close(a.asa_seconds, c.asa_seconds, 1e-3);
        assert!(a.abandon_rate < 1e-6);
    }

    #[test]
    fn erlang_a_accounts_for_every_arrival_and_copes_with_overload() {
        for (rate, agents) in [
            (100.0 / 1800.0, 14),
            (100.0 / 1800.0, 8),
            (2.0, 100),
            (0.5, 0),
        ] {
            let workload = Workload::new(rate, 180.0, Some(60.0)).expect("valid");
            let a = predict(&workload, agents, 20.0);
            let answered_share = a.occupancy * f64::from(agents) / workload.traffic();
            if agents > 0 {
                close(answered_share + a.abandon_rate, 1.0, 1e-6);
            }
            assert!((0.0..=1.0).contains(&a.service_level), "{a:?}");
            // Abandonment makes waiting shorter than Erlang C predicts.
            let c = predict(
                &Workload {
                    patience_seconds: None,
                    ..workload
                },
                agents,
                20.0,
            );
            assert!(a.service_level >= c.service_level - 1e-9, "{a:?} {c:?}");
        }
    }

    #[test]
    fn shrinkage_rounds_heads_up() {
        assert_eq!(rostered_heads(14, 0.3).expect("valid"), 20);
        assert_eq!(rostered_heads(14, 0.0).expect("valid"), 14);
        assert!(rostered_heads(14, 1.0).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(Workload::new(-1.0, 180.0, None).is_err());
        assert!(Workload::new(1.0, 0.0, None).is_err());
        assert!(Workload::new(1.0, 180.0, Some(0.0)).is_err());
        assert!(ServiceTarget::new(1.2, 20.0).is_err());
        assert!(ServiceTarget::new(0.8, -1.0).is_err());
    }
}
