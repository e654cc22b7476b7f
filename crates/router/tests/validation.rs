//! The simulator against queueing theory: with exponential handle times and
//! Poisson arrivals, the routed day must reproduce Erlang C (no abandonment)
//! and Erlang A (exponential patience) for the same load and staff.
//!
//! Each run simulates 10 days of a constant 100 calls per half hour
//! (48,000 calls), enough for the service level to settle within about half
//! a percentage point, and still quick in a debug build.

use dasan_core::Channel;
use dasan_router::{
    erlang::{self, Workload},
    scenario::{AgentGroupSpec, EngineSettings, QueueSpec, Scenario},
    simulate,
};

const CALLS_PER_HALF_HOUR: f64 = 100.0;
const AHT_SECONDS: f64 = 180.0;
const DAYS: u32 = 10;

fn constant_load(agents: u32, patience_seconds: Option<f64>) -> Scenario {
    Scenario {
        name: "validation".into(),
        seed: None,
        days: DAYS,
        interval_minutes: 30,
        profile: vec![1.0; 48],
        target_service_level: 0.8,
        answer_target_seconds: 20.0,
        // Erlang counts every arrival in the denominator.
        short_abandon_seconds: 0.0,
        shrinkage: 0.0,
        answer_delay_seconds: 0.0,
        engine: EngineSettings::default(),
        queues: vec![QueueSpec {
            name: "voice".into(),
            channel: Channel::Voice,
            skills: vec![],
            priority: 0,
            daily_contacts: None,
            profile: None,
            arrivals: Some(vec![CALLS_PER_HALF_HOUR; 48]),
            handle_seconds: AHT_SECONDS,
            handle_cv: None,
            patience_seconds,
            wrap_up_seconds: 0.0,
            overflow: None,
        }],
        groups: vec![AgentGroupSpec {
            name: "agents".into(),
            channels: vec![Channel::Voice],
            skills: vec![],
            max_text_threads: None,
            agents: Some(agents),
            roster: None,
            plan_for: None,
            minimum_agents: 0,
        }],
    }
}

fn simulated(scenario: &Scenario, seed: u64) -> dasan_router::metrics::Figures {
    let plan = scenario.resolve().expect("valid scenario");
    simulate::run(&plan, seed).expect("simulation runs").day
}

#[test]
fn without_abandonment_the_simulated_service_level_matches_erlang_c() {
    let workload = Workload::new(CALLS_PER_HALF_HOUR / 1800.0, AHT_SECONDS, None).expect("valid");
    for (agents, seed) in [(14, 1), (12, 2)] {
        let predicted = erlang::predict(&workload, agents, 20.0);
        let day = simulated(&constant_load(agents, None), seed);
        let service_level = day.service_level.expect("calls offered");
        eprintln!(
            "{agents} agents: simulated SL {service_level:.4} ASA {:.2}, Erlang C SL {:.4} ASA {:.2}",
            day.asa_seconds.expect("answered"),
            predicted.service_level,
            predicted.asa_seconds
        );
        assert!(
            (service_level - predicted.service_level).abs() <= 0.02,
            "{agents} agents: simulated {service_level}, Erlang C {}",
            predicted.service_level
        );
        assert_eq!(day.abandoned, 0);
        assert!(day.occupancy.expect("staffed") > 0.0);
    }
}

#[test]
fn with_abandonment_the_simulation_tracks_erlang_a() {
    let patience = 120.0;
    let workload =
        Workload::new(CALLS_PER_HALF_HOUR / 1800.0, AHT_SECONDS, Some(patience)).expect("valid");
    // 10 Erlangs on 10 and 11 agents: Erlang C would be unstable or poor,
    // abandonment keeps the queue finite.
    for (agents, seed) in [(11, 3), (10, 4)] {
        let predicted = erlang::predict(&workload, agents, 20.0);
        let day = simulated(&constant_load(agents, Some(patience)), seed);
        let service_level = day.service_level.expect("calls offered");
        let abandon_rate = day.abandon_rate.expect("calls offered");
        eprintln!(
            "{agents} agents: simulated SL {service_level:.4} abandon {abandon_rate:.4} ASA {:.2}, \
             Erlang A SL {:.4} abandon {:.4} ASA {:.2}",
            day.asa_seconds.expect("answered"),
            predicted.service_level,
            predicted.abandon_rate,
            predicted.asa_seconds
        );
        assert!(
            (service_level - predicted.service_level).abs() <= 0.02,
            "{agents} agents: simulated SL {service_level}, Erlang A {}",
            predicted.service_level
        );
        assert!(
            (abandon_rate - predicted.abandon_rate).abs() <= 0.015,
            "{agents} agents: simulated abandonment {abandon_rate}, Erlang A {}",
            predicted.abandon_rate
        );
    }
}
