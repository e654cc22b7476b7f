//! Property tests of the routing engine's invariants over random event
//! sequences: no agent above capacity, no contact assigned twice, no agent
//! left `reserved` once its offer is over, first in first out within equal
//! priority, and no contact waiting while a qualified agent is available.
//! Every event is also followed by the engine's own brute-force
//! cross-check (`Engine::check_invariants`).

use std::collections::{HashMap, HashSet};

use dasan_core::Channel;
use dasan_router::engine::{
    AfterMissedOffer, AgentKey, AgentProfile, ContactId, ContactPhase, ContactView, Decision,
    Engine, EngineConfig, Event, OverflowRule, OverflowTarget, Presence, QueueConfig, QueueKey,
    SkillRequirement, Time, WithdrawReason,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Arrive { queue: u16, priority: u8 },
    Accept { pick: usize },
    Decline { pick: usize },
    Abandon { pick: usize },
    Complete { pick: usize },
    Transfer { pick: usize, queue: u16 },
    SignIn { agent: u32 },
    Ready { agent: u32 },
    Break { agent: u32 },
    SignOut { agent: u32 },
    WrapUpDone { agent: u32 },
    Tick,
}

const QUEUES: u16 = 4;
const AGENTS: u32 = 6;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..QUEUES, 0u8..3).prop_map(|(queue, priority)| Op::Arrive { queue, priority }),
        4 => any::<usize>().prop_map(|pick| Op::Accept { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Decline { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Abandon { pick }),
        3 => any::<usize>().prop_map(|pick| Op::Complete { pick }),
        1 => (any::<usize>(), 0..QUEUES).prop_map(|(pick, queue)| Op::Transfer { pick, queue }),
        2 => (0..AGENTS).prop_map(|agent| Op::SignIn { agent }),
        1 => (0..AGENTS).prop_map(|agent| Op::Ready { agent }),
        1 => (0..AGENTS).prop_map(|agent| Op::Break { agent }),
        1 => (0..AGENTS).prop_map(|agent| Op::SignOut { agent }),
        1 => (0..AGENTS).prop_map(|agent| Op::WrapUpDone { agent }),
        1 => Just(Op::Tick),
    ]
}

/// Four queues with skills, levels, both kinds of overflow, wrap-up, voice,
/// video and text; six agents with overlapping qualifications.
fn center(after_missed_offer: AfterMissedOffer) -> Engine {
    let mut engine = Engine::new(EngineConfig {
        offer_timeout_millis: Some(10_000),
        after_missed_offer,
        max_text_threads: 3,
        priority_step_millis: 20_000,
    })
    .expect("config");
    let transport = engine.skill("transport").expect("skill");
    let sign = engine.skill("sign_language").expect("skill");
    let general = engine.add_queue(QueueConfig {
        name: "general".into(),
        channel: Channel::Voice,
        required_skills: vec![],
        overflow: None,
        wrap_up_millis: 3_000,
    });
    let general = general.expect("queue");
    engine
        .add_queue(QueueConfig {
            name: "transport".into(),
            channel: Channel::Voice,
            required_skills: vec![SkillRequirement {
                skill: transport,
                min_level: 3,
            }],
            overflow: Some(OverflowRule {
                after_millis: 15_000,
                target: OverflowTarget::RelaxSkills { min_level: 1 },
            }),
            wrap_up_millis: 0,
        })
        .expect("queue");
    engine
        .add_queue(QueueConfig {
            name: "video".into(),
            channel: Channel::Video,
            required_skills: vec![SkillRequirement {
                skill: sign,
                min_level: 1,
            }],
            overflow: Some(OverflowRule {
                after_millis: 25_000,
                target: OverflowTarget::Queue(general),
            }),
            wrap_up_millis: 0,
        })
        .expect("queue");
    engine
        .add_queue(QueueConfig {
            name: "sms".into(),
            channel: Channel::Sms,
            required_skills: vec![],
            overflow: None,
            wrap_up_millis: 1_000,
        })
        .expect("queue");
    let profiles = [
        (
            vec![Channel::Voice, Channel::Sms],
            vec![(transport, 3)],
            None,
        ),
        (vec![Channel::Voice], vec![(transport, 1)], None),
        (vec![Channel::Sms], vec![], Some(2)),
        (vec![Channel::Voice, Channel::Video], vec![(sign, 2)], None),
        (
            vec![Channel::Voice, Channel::Sms, Channel::Video],
            vec![(transport, 5), (sign, 1)],
            Some(1),
        ),
        (vec![Channel::Video], vec![(sign, 1)], None),
    ];
    for (index, (channels, skills, max_text_threads)) in profiles.into_iter().enumerate() {
        engine
            .add_agent(AgentProfile {
                name: format!("agent {index}"),
                channels,
                skills,
                max_text_threads,
            })
            .expect("agent");
    }
    engine
}

fn offered_to(views: &HashMap<ContactId, ContactView>, contact: ContactId) -> AgentKey {
    match views[&contact].phase {
        ContactPhase::Offered { agent } => agent,
        _ => AgentKey(0),
    }
}

fn pick<T: Copy>(items: &[T], index: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[index % items.len()])
}

/// Runs the ops, checking every property after every event; returns the
/// full decision log.
fn run(
    ops: &[(Op, u64)],
    after_missed_offer: AfterMissedOffer,
) -> Result<Vec<Decision>, TestCaseError> {
    let mut engine = center(after_missed_offer);
    let mut now = Time(0);
    let mut next_contact = 0u64;
    let mut known: Vec<ContactId> = Vec::new();
    let mut connected: HashMap<ContactId, AgentKey> = HashMap::new();
    let mut log = Vec::new();
    let mut decisions = Vec::new();
    for (op, delay) in ops {
        now = now.plus_millis(*delay);
        known.retain(|contact| engine.contact_view(*contact).is_some());
        let views: HashMap<ContactId, ContactView> = known
            .iter()
            .filter_map(|c| engine.contact_view(*c).map(|view| (*c, view)))
            .collect();
        let in_phase = |wanted: fn(&ContactPhase) -> bool| -> Vec<ContactId> {
            known
                .iter()
                .copied()
                .filter(|c| views.get(c).is_some_and(|v| wanted(&v.phase)))
                .collect()
        };
        let offered = in_phase(|phase| matches!(phase, ContactPhase::Offered { .. }));
        let live = in_phase(|phase| !matches!(phase, ContactPhase::Connected { .. }));
        let on_line = in_phase(|phase| matches!(phase, ContactPhase::Connected { .. }));
        let event = match op {
            Op::Arrive { queue, priority } => {
                next_contact += 1;
                known.push(ContactId(next_contact));
                Event::ContactArrived {
                    contact: ContactId(next_contact),
                    queue: QueueKey(*queue),
                    priority: *priority,
                }
            }
            Op::Accept { pick: index } => match pick(&offered, *index) {
                Some(contact) => Event::OfferAccepted {
                    contact,
                    agent: offered_to(&views, contact),
                },
                None => Event::OfferAccepted {
                    contact: ContactId(u64::MAX),
                    agent: AgentKey(0),
                },
            },
            Op::Decline { pick: index } => match pick(&offered, *index) {
                Some(contact) => Event::OfferDeclined {
                    contact,
                    agent: offered_to(&views, contact),
                },
                None => Event::Tick,
            },
            Op::Abandon { pick: index } => match pick(&live, *index) {
                Some(contact) => Event::ContactAbandoned { contact },
                // Abandoning a connected or unknown contact must be refused.
                None => Event::ContactAbandoned {
                    contact: pick(&known, *index).unwrap_or(ContactId(0)),
                },
            },
            Op::Complete { pick: index } => match pick(&on_line, *index) {
                Some(contact) => Event::ContactCompleted { contact },
                None => Event::ContactCompleted {
                    contact: pick(&known, *index).unwrap_or(ContactId(0)),
                },
            },
            Op::Transfer { pick: index, queue } => match pick(&known, *index) {
                Some(contact) => Event::ContactTransferred {
                    contact,
                    to_queue: QueueKey(*queue),
                },
                None => Event::Tick,
            },
            Op::SignIn { agent } => Event::AgentSignedIn {
                agent: AgentKey(*agent),
            },
            Op::Ready { agent } => Event::AgentReady {
                agent: AgentKey(*agent),
            },
            Op::Break { agent } => Event::AgentOnBreak {
                agent: AgentKey(*agent),
            },
            Op::SignOut { agent } => Event::AgentSignedOut {
                agent: AgentKey(*agent),
            },
            Op::WrapUpDone { agent } => Event::WrapUpFinished {
                agent: AgentKey(*agent),
            },
            Op::Tick => Event::Tick,
        };
        decisions.clear();
        let result = engine.handle(now, event, &mut decisions);
        log.extend(decisions.iter().copied());
        if let Err(error) = engine.check_invariants() {
            return Err(TestCaseError::fail(format!("after {event:?}: {error}")));
        }

        // No contact assigned twice: an offer never goes out for a contact
        // that is connected, and acceptance succeeds once per connection.
        // (A transferred connected contact is legitimately offered again.)
        for decision in &decisions {
            if let (Ok(()), Event::ContactTransferred { contact: moved, .. }) = (&result, event)
                && matches!(decision, Decision::Offer { contact, .. } if *contact == moved)
            {
                continue;
            }
            if let Decision::Offer { contact, .. } = decision {
                prop_assert!(
                    !connected.contains_key(contact),
                    "{contact:?} offered while connected"
                );
            }
        }
        if result.is_ok()
            && let Event::ContactCompleted { contact } | Event::ContactTransferred { contact, .. } =
                event
        {
            connected.remove(&contact);
        }
        if let (Event::OfferAccepted { contact, agent }, Ok(())) = (event, &result) {
            prop_assert!(
                connected.insert(contact, agent).is_none(),
                "{contact:?} accepted twice"
            );
        }
        for (contact, agent) in &connected {
            let view = engine
                .contact_view(*contact)
                .expect("connected contacts stay");
            prop_assert_eq!(view.phase, ContactPhase::Connected { agent: *agent });
        }

        // Capacity.
        for index in 0..AGENTS {
            let view = engine.agent_view(AgentKey(index)).expect("agent");
            prop_assert!(view.real_time_contacts <= 1);
            prop_assert!(view.text_threads <= view.max_text_threads);
            prop_assert!(view.real_time_contacts == 0 || view.text_threads == 0);
        }

        // No agent left reserved once its offer is over: any agent whose
        // offer ended in this event is either not reserved or reserved for
        // the offer it was given last in this very event.
        let mut offers_ended: HashSet<AgentKey> = HashSet::new();
        if result.is_ok() {
            match event {
                Event::OfferAccepted { agent, .. } | Event::OfferDeclined { agent, .. } => {
                    offers_ended.insert(agent);
                }
                Event::ContactAbandoned { contact } | Event::ContactTransferred { contact, .. } => {
                    if let Some(ContactPhase::Offered { agent }) =
                        views.get(&contact).map(|v| v.phase)
                    {
                        offers_ended.insert(agent);
                    }
                }
                _ => {}
            }
        }
        for decision in &decisions {
            if let Decision::OfferWithdrawn { agent, .. } = decision {
                offers_ended.insert(*agent);
            }
        }
        for agent in offers_ended {
            if engine.presence(agent) == Presence::Reserved {
                let last_offer = decisions.iter().rev().find_map(|d| match d {
                    Decision::Offer {
                        contact, agent: to, ..
                    } if *to == agent => Some(*contact),
                    _ => None,
                });
                prop_assert_eq!(
                    last_offer,
                    engine.agent_view(agent).expect("agent").pending_offer,
                    "{:?} stuck reserved",
                    agent
                );
            }
        }
        // Every reserved agent holds a live offer.
        for index in 0..AGENTS {
            let agent = AgentKey(index);
            if engine.presence(agent) == Presence::Reserved {
                let contact = engine
                    .agent_view(agent)
                    .expect("agent")
                    .pending_offer
                    .expect("reserved has an offer");
                prop_assert_eq!(
                    engine.contact_view(contact).map(|v| v.phase),
                    Some(ContactPhase::Offered { agent })
                );
            }
        }

        // FIFO within equal priority, checked on events without time-outs or
        // overflows (those legitimately reshuffle who could take what).
        let reshuffled = decisions.iter().any(|d| {
            matches!(
                d,
                Decision::OfferWithdrawn { .. } | Decision::Overflowed { .. }
            )
        });
        if !reshuffled {
            for decision in &decisions {
                let Decision::Offer { contact, agent, .. } = *decision else {
                    continue;
                };
                let offered_view = engine
                    .contact_view(contact)
                    .expect("offered contact exists");
                // Whether the agent had room for a contact of that queue when
                // it got the offer (its connected contacts have not changed
                // since: the offer ends a plain event).
                let holding = engine.agent_view(agent).expect("agent");
                let has_room_for = |queue: QueueKey| {
                    let channel = engine.queue_config(queue).expect("queue").channel;
                    holding.real_time_contacts == 0
                        && (if channel.is_text() {
                            holding.text_threads < holding.max_text_threads
                        } else {
                            holding.text_threads == 0
                        })
                };
                for (other, before) in &views {
                    let Some(after) = engine.contact_view(*other) else {
                        continue;
                    };
                    if before.phase != ContactPhase::Queued
                        || after.phase != ContactPhase::Queued
                        || before.queue != after.queue
                        || after.priority != offered_view.priority
                        || !engine.agent_qualifies(agent, after.queue, after.relaxed)
                        || !has_room_for(after.queue)
                    {
                        continue;
                    }
                    prop_assert!(
                        after.arrived_at >= offered_view.arrived_at,
                        "{contact:?} (arrived {:?}) offered before {other:?} (arrived {:?})",
                        offered_view.arrived_at,
                        after.arrived_at
                    );
                }
            }
        }

        // With a qualified agent available, no contact waits.
        for contact in &known {
            let Some(view) = engine.contact_view(*contact) else {
                continue;
            };
            if view.phase != ContactPhase::Queued {
                continue;
            }
            for index in 0..AGENTS {
                let agent = AgentKey(index);
                prop_assert!(
                    !(engine.presence(agent) == Presence::Available
                        && engine.agent_qualifies(agent, view.queue, view.relaxed)),
                    "{contact:?} waits while {agent:?} is available"
                );
            }
        }
        let _ = WithdrawReason::TimedOut;
    }
    Ok(log)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_event_sequences(
        ops in prop::collection::vec((op(), 0u64..12_000), 1..120),
        to_break in any::<bool>(),
    ) {
        let policy = if to_break { AfterMissedOffer::Break } else { AfterMissedOffer::Available };
        run(&ops, policy)?;
    }

    #[test]
    fn the_same_events_give_the_same_decisions(ops in prop::collection::vec((op(), 0u64..12_000), 1..80)) {
        let first = run(&ops, AfterMissedOffer::Break)?;
        let second = run(&ops, AfterMissedOffer::Break)?;
        prop_assert_eq!(first, second);
    }
}
