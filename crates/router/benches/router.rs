//! Throughput of the routing engine and the simulator. Prints figures; no
//! assertions (timings belong here, not in tests).
//!
//! Run: `cargo bench -p dasan-router`
//! `DASAN_BENCH_YEAR=1` adds the full 365-day year (12 million contacts);
//! without it a 30-day month runs and the year is extrapolated.

use std::time::Instant;

use dasan_core::{Channel, rng::Rng};
use dasan_router::{
    engine::{
        AgentKey, AgentProfile, ContactId, Decision, Engine, EngineConfig, Event, OverflowRule,
        OverflowTarget, QueueConfig, QueueKey, SkillRequirement, Time,
    },
    scenario::Scenario,
    simulate,
};

const AGENTS: u32 = 1_000;
const QUEUES: u16 = 8;

struct Floor {
    engine: Engine,
    decisions: Vec<Decision>,
    accepted: Vec<Decision>,
    connected: Vec<ContactId>,
    offers: u64,
    events: u64,
}

impl Floor {
    /// Applies an event and accepts every offer it causes at once.
    fn handle(&mut self, now: Time, event: Event) {
        self.decisions.clear();
        self.engine
            .handle(now, event, &mut self.decisions)
            .expect("valid event");
        self.events += 1;
        let mut index = 0;
        while index < self.decisions.len() {
            if let Decision::Offer { contact, agent, .. } = self.decisions[index] {
                self.offers += 1;
                self.accepted.clear();
                self.engine
                    .handle(
                        now,
                        Event::OfferAccepted { contact, agent },
                        &mut self.accepted,
                    )
                    .expect("accept");
                self.events += 1;
                self.connected.push(contact);
                self.decisions.extend_from_slice(&self.accepted);
            }
            index += 1;
        }
    }
}

/// A floor of 1,000 voice agents over 8 skill queues (each agent holds three
/// skills), kept saturated: every iteration completes a random call (the
/// freed agent takes the best waiting contact across its queues: one
/// routing decision), accepts that offer and brings a new arrival.
fn routing_decisions_per_second(iterations: u64) {
    let mut engine = Engine::new(EngineConfig::default()).expect("config");
    let skills: Vec<_> = (0..QUEUES)
        .map(|index| engine.skill(&format!("category{index}")).expect("skill"))
        .collect();
    for (index, skill) in skills.iter().enumerate() {
        engine
            .add_queue(QueueConfig {
                name: format!("queue {index}"),
                channel: Channel::Voice,
                required_skills: vec![SkillRequirement {
                    skill: *skill,
                    min_level: 2,
                }],
                overflow: Some(OverflowRule {
                    after_millis: 60_000,
                    target: OverflowTarget::RelaxSkills { min_level: 1 },
                }),
                wrap_up_millis: 0,
            })
            .expect("queue");
    }
    let mut rng = Rng::seed(1);
    for index in 0..AGENTS {
        let held = (0..3)
            .map(|offset| {
                (
                    skills[(index as usize + offset * 3) % skills.len()],
                    1 + (rng.below(3) as u8),
                )
            })
            .collect();
        engine
            .add_agent(AgentProfile {
                name: format!("agent {index}"),
                channels: vec![Channel::Voice],
                skills: held,
                max_text_threads: None,
            })
            .expect("agent");
    }
    let mut floor = Floor {
        engine,
        decisions: Vec::new(),
        accepted: Vec::new(),
        connected: Vec::new(),
        offers: 0,
        events: 0,
    };
    let mut now = Time(0);
    let mut next_contact = 0u64;
    for index in 0..AGENTS {
        floor.handle(
            now,
            Event::AgentSignedIn {
                agent: AgentKey(index),
            },
        );
    }
    // Fill the floor and leave a queue behind it.
    for _ in 0..(u64::from(AGENTS) * 12 / 10) {
        next_contact += 1;
        let queue = QueueKey(rng.below(u64::from(QUEUES)) as u16);
        floor.handle(
            now,
            Event::ContactArrived {
                contact: ContactId(next_contact),
                queue,
                priority: 0,
            },
        );
    }
    let offers_before = floor.offers;
    let events_before = floor.events;
    let started = Instant::now();
    for _ in 0..iterations {
        now = now.plus_millis(150);
        let pick = rng.below(floor.connected.len() as u64) as usize;
        let contact = floor.connected.swap_remove(pick);
        floor.handle(now, Event::ContactCompleted { contact });
        next_contact += 1;
        let queue = QueueKey(rng.below(u64::from(QUEUES)) as u16);
        let priority = rng.below(3) as u8;
        floor.handle(
            now,
            Event::ContactArrived {
                contact: ContactId(next_contact),
                queue,
                priority,
            },
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let offers = floor.offers - offers_before;
    let events = floor.events - events_before;
    let engine = floor.engine;
    println!(
        "routing: {offers} decisions ({events} events) in {elapsed:.3} s = {:.0} decisions/s, {:.0} events/s \
         ({AGENTS} agents, {QUEUES} skill queues, {} waiting at the end)",
        offers as f64 / elapsed,
        events as f64 / elapsed,
        (0..QUEUES)
            .map(|q| engine.queue_length(QueueKey(q)))
            .sum::<usize>()
    );
}

fn simulated_days(days: u32, runs: usize) -> (f64, u64) {
    let mut scenario = Scenario::model_center();
    scenario.days = days;
    let plan = scenario.resolve().expect("valid scenario");
    let mut timings = Vec::with_capacity(runs);
    let mut offered = 0;
    for run in 0..runs {
        let started = Instant::now();
        let report = simulate::run(&plan, 120 + run as u64).expect("runs");
        timings.push(started.elapsed().as_secs_f64());
        offered = report.day.offered;
    }
    timings.sort_by(f64::total_cmp);
    (timings[timings.len() / 2], offered)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    routing_decisions_per_second(2_000_000);

    let (median, offered) = simulated_days(1, 7);
    println!(
        "day: {offered} contacts simulated in {:.0} ms (median of 7 seeds)",
        median * 1000.0
    );

    if std::env::var_os("DASAN_BENCH_YEAR").is_some() {
        let (elapsed, offered) = simulated_days(365, 1);
        println!("year: {offered} contacts (365 days) simulated in {elapsed:.1} s");
    } else {
        let (elapsed, offered) = simulated_days(30, 1);
        println!(
            "month: {offered} contacts (30 days) simulated in {elapsed:.2} s; a 365-day year extrapolates to {:.1} s \
             (DASAN_BENCH_YEAR=1 runs it)",
            elapsed * 365.0 / 30.0
        );
    }
}
