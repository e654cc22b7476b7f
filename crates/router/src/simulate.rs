//! A discrete-event simulator of whole days, driving the live routing
//! [`Engine`] with simulated citizens and agents.
//!
//! Contacts arrive as a Poisson process whose rate changes per interval
//! (the plan's expected arrivals); each draws a handle time (exponential or
//! log-normal) and a patience (exponential, or none). Agents sign in and out
//! at interval boundaries to follow each group's head counts (an agent still
//! on a contact finishes it first: the engine's deferred sign-out). Offers are
//! accepted after the plan's answer delay. After the last interval no one
//! arrives any more and the floor works until every contact is answered or
//! abandoned.
//!
//! Each queue draws its arrivals, handle times and patience from its own
//! seeded stream, so two staffing plans run with the same seed face the very
//! same citizens. Same plan and seed, same figures, on every machine.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
};

use dasan_core::rng::Rng;
use serde::Serialize;
use thiserror::Error;

use crate::{
    engine::{
        AgentKey, AgentProfile, ContactId, ContactPhase, Decision, Engine, Event, OverflowRule,
        OverflowTarget, Presence, QueueConfig, QueueKey, RouterError, SkillRequirement, Time,
    },
    metrics::{ContactOutcome, Figures, IntervalFigures, Metrics, MetricsConfig, QueueFigures},
    scenario::{PlannedGroup, SimulationPlan},
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SimulationError {
    /// The engine refused the scenario's configuration (or, which would be a
    /// bug, an event).
    #[error("routing engine: {0}")]
    Engine(#[from] RouterError),
}

/// The figures of a simulated run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationReport {
    pub scenario: String,
    pub seed: u64,
    pub days: u32,
    pub interval_minutes: u64,
    /// Totals over the whole run (one day unless the scenario repeats it).
    pub day: Figures,
    pub intervals: Vec<IntervalFigures>,
    pub queues: Vec<QueueFigures>,
    pub staffing: Vec<PlannedGroup>,
    /// Events the engine handled and offers it made.
    pub engine_events: u64,
    pub offers: u64,
    /// Contacts still waiting when no agent was left to take them (counted
    /// as abandoned at the end of the run).
    pub unserved_at_end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    ShiftChange { interval: usize },
    Arrival { queue: usize },
    Accept { contact: ContactId, agent: AgentKey },
    Complete { contact: ContactId },
    Abandon { contact: ContactId },
}

#[derive(Debug, Clone, Copy)]
struct SimContact {
    generation: u32,
    alive: bool,
    queue: usize,
    arrived_at: Time,
    handle_millis: u64,
    answered_at: Option<Time>,
    agent: Option<AgentKey>,
}

struct Simulator<'plan> {
    plan: &'plan SimulationPlan,
    engine: Engine,
    queue_keys: Vec<QueueKey>,
    plan_queue_of_key: Vec<usize>,
    group_agents: Vec<Vec<AgentKey>>,
    text_share_of_agent: Vec<f64>,
    signed_in_since: Vec<Option<Time>>,
    contacts: Vec<SimContact>,
    free_slots: Vec<u32>,
    events: BinaryHeap<Reverse<(Time, u64, SimEvent)>>,
    sequence: u64,
    streams: Vec<Rng>,
    metrics: Metrics,
    decisions: Vec<Decision>,
    pending: VecDeque<Decision>,
    engine_events: u64,
    offers: u64,
}

/// The order in which to register queues so that overflow targets come first.
fn registration_order(plan: &SimulationPlan) -> Vec<usize> {
    let mut order = Vec::with_capacity(plan.queues.len());
    let mut placed = vec![false; plan.queues.len()];
    fn place(index: usize, plan: &SimulationPlan, placed: &mut [bool], order: &mut Vec<usize>) {
        if placed[index] {
            return;
        }
        placed[index] = true;
        if let Some(target) = plan.queues[index].overflow_to {
            place(target, plan, placed, order);
        }
        order.push(index);
    }
    for index in 0..plan.queues.len() {
        place(index, plan, &mut placed, &mut order);
    }
    order
}

/// Runs the plan with `seed`.
pub fn run(plan: &SimulationPlan, seed: u64) -> Result<SimulationReport, SimulationError> {
    let mut simulator = Simulator::new(plan, seed)?;
    simulator.run()?;
    Ok(simulator.report(seed))
}

impl<'plan> Simulator<'plan> {
    fn new(plan: &'plan SimulationPlan, seed: u64) -> Result<Self, SimulationError> {
        let mut engine = Engine::new(plan.engine)?;
        let mut queue_keys = vec![QueueKey(0); plan.queues.len()];
        let mut plan_queue_of_key = vec![0; plan.queues.len()];
        for index in registration_order(plan) {
            let queue = &plan.queues[index];
            let mut required_skills = Vec::new();
            for (name, level) in &queue.skills {
                required_skills.push(SkillRequirement {
                    skill: engine.skill(name)?,
                    min_level: *level,
                });
            }
            let overflow = queue
                .overflow_after_millis
                .map(|after_millis| OverflowRule {
                    after_millis,
                    target: match (queue.overflow_relax_to, queue.overflow_to) {
                        (Some(min_level), _) => OverflowTarget::RelaxSkills { min_level },
                        (None, Some(target)) => OverflowTarget::Queue(queue_keys[target]),
                        (None, None) => OverflowTarget::RelaxSkills { min_level: 1 },
                    },
                });
            let key = engine.add_queue(QueueConfig {
                name: queue.name.clone(),
                channel: queue.channel,
                required_skills,
                overflow,
                wrap_up_millis: queue.wrap_up_millis,
            })?;
            queue_keys[index] = key;
            plan_queue_of_key[key.index()] = index;
        }
        let mut group_agents = Vec::with_capacity(plan.groups.len());
        let mut text_share_of_agent = Vec::new();
        for group in &plan.groups {
            let mut skills = Vec::new();
            for (name, level) in &group.skills {
                skills.push((engine.skill(name)?, *level));
            }
            let most = group.agents.iter().copied().max().unwrap_or(0);
            let mut keys = Vec::with_capacity(most as usize);
            for number in 0..most {
                let key = engine.add_agent(AgentProfile {
                    name: format!("{} {}", group.name, number + 1),
                    channels: group.channels.clone(),
                    skills: skills.clone(),
                    max_text_threads: group.max_text_threads,
                })?;
                let threads = group
                    .max_text_threads
                    .unwrap_or(plan.engine.max_text_threads);
                text_share_of_agent.push(1.0 / f64::from(threads.max(1)));
                keys.push(key);
            }
            group_agents.push(keys);
        }
        let streams = (0..plan.queues.len() as u64)
            .map(|queue| Rng::seed(seed ^ (queue + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        let metrics = Metrics::new(
            MetricsConfig {
                answer_target_millis: plan.answer_target_millis,
                short_abandon_millis: plan.short_abandon_millis,
                interval_millis: plan.interval_millis,
            },
            plan.queues.iter().map(|queue| queue.name.clone()).collect(),
            plan.total_intervals(),
        );
        let agent_count = engine.agent_count();
        Ok(Simulator {
            plan,
            engine,
            queue_keys,
            plan_queue_of_key,
            group_agents,
            text_share_of_agent,
            signed_in_since: vec![None; agent_count],
            contacts: Vec::new(),
            free_slots: Vec::new(),
            events: BinaryHeap::new(),
            sequence: 0,
            streams,
            metrics,
            decisions: Vec::new(),
            pending: VecDeque::new(),
            engine_events: 0,
            offers: 0,
        })
    }

    fn schedule(&mut self, at: Time, event: SimEvent) {
        self.sequence += 1;
        self.events.push(Reverse((at, self.sequence, event)));
    }

    /// Expected arrivals of a queue in an interval of the whole run.
    fn expected_arrivals(&self, queue: usize, interval: usize) -> f64 {
        self.plan.queues[queue].expected_arrivals[interval % self.plan.intervals_per_day]
    }

    /// The next arrival after `from` of a Poisson process whose rate is
    /// constant within each interval; `None` past the horizon.
    fn next_arrival(&mut self, queue: usize, from: Time) -> Option<Time> {
        let interval_millis = self.plan.interval_millis;
        let total = self.plan.total_intervals();
        let mut now = from.0 as f64;
        loop {
            let interval = (now as u64 / interval_millis) as usize;
            if interval >= total {
                return None;
            }
            let end = ((interval as u64 + 1) * interval_millis) as f64;
            let rate = self.expected_arrivals(queue, interval) / interval_millis as f64;
            if rate > 0.0 {
                let gap = self.streams[queue].exponential(1.0 / rate);
                if now + gap < end {
                    // Millisecond resolution; never the same instant twice in a row.
                    return Some(Time((now + gap).ceil().max(from.0 as f64 + 1.0) as u64));
                }
            }
            // Memoryless: restart the draw at the boundary with the next rate.
            now = end;
        }
    }

    fn draw_handle_millis(&mut self, queue: usize) -> u64 {
        let spec = &self.plan.queues[queue];
        let mean = spec.handle_millis_mean;
        let stream = &mut self.streams[queue];
        let millis = match spec.handle_cv {
            None => stream.exponential(mean),
            Some(cv) => {
                let sigma_squared = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma_squared / 2.0;
                // Box-Muller.
                let radius = (-2.0 * (1.0 - stream.next_f64()).ln()).sqrt();
                let angle = std::f64::consts::TAU * stream.next_f64();
                (mu + sigma_squared.sqrt() * radius * angle.cos()).exp()
            }
        };
        (millis.round() as u64).max(1)
    }

    fn run(&mut self) -> Result<(), SimulationError> {
        self.schedule(Time::ZERO, SimEvent::ShiftChange { interval: 0 });
        for queue in 0..self.plan.queues.len() {
            if let Some(at) = self.next_arrival(queue, Time::ZERO) {
                self.schedule(at, SimEvent::Arrival { queue });
            }
        }
        loop {
            let next_event = self.events.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self.engine.next_deadline();
            match (next_event, next_timer) {
                (None, None) => break,
                (Some(event), Some(timer)) if timer < event => {
                    self.engine_event(timer, Event::Tick)?
                }
                (None, Some(timer)) => self.engine_event(timer, Event::Tick)?,
                _ => {
                    if let Some(Reverse((at, _, event))) = self.events.pop() {
                        self.simulation_event(at, event)?;
                    }
                }
            }
        }
        let end = self.engine.now();
        // Contacts nobody was left to serve.
        for slot in 0..self.contacts.len() {
            let contact = self.contacts[slot];
            if contact.alive {
                self.metrics.record_contact(
                    contact.queue,
                    contact.arrived_at,
                    ContactOutcome::Abandoned { abandoned_at: end },
                );
            }
        }
        for agent in 0..self.signed_in_since.len() {
            if let Some(since) = self.signed_in_since[agent].take() {
                self.metrics.record_staffed(since, end);
            }
        }
        Ok(())
    }

    fn engine_event(&mut self, now: Time, event: Event) -> Result<(), SimulationError> {
        self.decisions.clear();
        self.engine.handle(now, event, &mut self.decisions)?;
        self.engine_events += 1;
        self.pending.extend(self.decisions.drain(..));
        self.drain_pending(now)
    }

    /// Acts on the engine's decisions, including those its answers cause.
    fn drain_pending(&mut self, now: Time) -> Result<(), SimulationError> {
        while let Some(decision) = self.pending.pop_front() {
            match decision {
                Decision::Offer { contact, agent, .. } => {
                    self.offers += 1;
                    if self.plan.answer_delay_millis == 0 {
                        self.accept(now, contact, agent)?;
                    } else {
                        self.schedule(
                            now.plus_millis(self.plan.answer_delay_millis),
                            SimEvent::Accept { contact, agent },
                        );
                    }
                }
                Decision::AgentSignedOut { agent } => {
                    if let Some(since) = self.signed_in_since[agent.index()].take() {
                        self.metrics.record_staffed(since, now);
                    }
                }
                Decision::OfferWithdrawn { .. }
                | Decision::Overflowed { .. }
                | Decision::AgentMadeNotReady { .. }
                | Decision::WrapUpEnded { .. } => {}
            }
        }
        Ok(())
    }

    fn slot_of(&self, contact: ContactId) -> Option<usize> {
        let slot = (contact.0 & 0xFFFF_FFFF) as usize;
        let generation = (contact.0 >> 32) as u32;
        self.contacts
            .get(slot)
            .filter(|c| c.alive && c.generation == generation)
            .map(|_| slot)
    }

    fn accept(
        &mut self,
        now: Time,
        contact: ContactId,
        agent: AgentKey,
    ) -> Result<(), SimulationError> {
        let Some(slot) = self.slot_of(contact) else {
            return Ok(());
        };
        // A delayed acceptance may find its offer withdrawn (abandoned, timed out).
        if self.engine.contact_view(contact).map(|view| view.phase)
            != Some(ContactPhase::Offered { agent })
        {
            return Ok(());
        }
        self.decisions.clear();
        self.engine.handle(
            now,
            Event::OfferAccepted { contact, agent },
            &mut self.decisions,
        )?;
        self.engine_events += 1;
        self.pending.extend(self.decisions.drain(..));
        let record = &mut self.contacts[slot];
        record.answered_at = Some(now);
        record.agent = Some(agent);
        let done = now.plus_millis(record.handle_millis);
        self.schedule(done, SimEvent::Complete { contact });
        Ok(())
    }

    fn simulation_event(&mut self, now: Time, event: SimEvent) -> Result<(), SimulationError> {
        match event {
            SimEvent::ShiftChange { interval } => {
                self.change_shift(now, interval)?;
                if interval + 1 < self.plan.total_intervals() {
                    let next = Time(self.plan.interval_millis * (interval as u64 + 1));
                    self.schedule(
                        next,
                        SimEvent::ShiftChange {
                            interval: interval + 1,
                        },
                    );
                }
            }
            SimEvent::Arrival { queue } => {
                let handle_millis = self.draw_handle_millis(queue);
                let patience = self.plan.queues[queue]
                    .patience_millis_mean
                    .map(|mean| (self.streams[queue].exponential(mean).round() as u64).max(1));
                let slot = match self.free_slots.pop() {
                    Some(slot) => slot as usize,
                    None => {
                        self.contacts.push(SimContact {
                            generation: 0,
                            alive: false,
                            queue,
                            arrived_at: now,
                            handle_millis,
                            answered_at: None,
                            agent: None,
                        });
                        self.contacts.len() - 1
                    }
                };
                let record = &mut self.contacts[slot];
                record.generation = record.generation.wrapping_add(1);
                record.alive = true;
                record.queue = queue;
                record.arrived_at = now;
                record.handle_millis = handle_millis;
                record.answered_at = None;
                record.agent = None;
                let contact = ContactId((u64::from(record.generation) << 32) | slot as u64);
                if let Some(patience) = patience {
                    self.schedule(now.plus_millis(patience), SimEvent::Abandon { contact });
                }
                let priority = self.plan.queues[queue].priority;
                self.engine_event(
                    now,
                    Event::ContactArrived {
                        contact,
                        queue: self.queue_keys[queue],
                        priority,
                    },
                )?;
                if let Some(at) = self.next_arrival(queue, now) {
                    self.schedule(at, SimEvent::Arrival { queue });
                }
            }
            SimEvent::Accept { contact, agent } => {
                self.accept(now, contact, agent)?;
                self.drain_pending(now)?;
            }
            SimEvent::Complete { contact } => {
                let Some(slot) = self.slot_of(contact) else {
                    return Ok(());
                };
                let record = self.contacts[slot];
                let (Some(answered_at), Some(agent)) = (record.answered_at, record.agent) else {
                    return Ok(());
                };
                let engine_queue = self
                    .engine
                    .contact_view(contact)
                    .map(|view| view.queue)
                    .unwrap_or(self.queue_keys[record.queue]);
                let plan_queue = &self.plan.queues[self.plan_queue_of_key[engine_queue.index()]];
                let wrap_up = plan_queue.wrap_up_millis;
                let share = if plan_queue.channel.is_text() {
                    self.text_share_of_agent[agent.index()]
                } else {
                    1.0
                };
                self.engine_event(now, Event::ContactCompleted { contact })?;
                self.metrics.record_contact(
                    record.queue,
                    record.arrived_at,
                    ContactOutcome::Answered {
                        answered_at,
                        handle_millis: record.handle_millis + wrap_up,
                    },
                );
                self.metrics
                    .record_busy(answered_at, now.plus_millis(wrap_up), share);
                self.release(slot);
            }
            SimEvent::Abandon { contact } => {
                let Some(slot) = self.slot_of(contact) else {
                    return Ok(());
                };
                let record = self.contacts[slot];
                if record.answered_at.is_some() {
                    return Ok(());
                }
                self.engine_event(now, Event::ContactAbandoned { contact })?;
                self.metrics.record_contact(
                    record.queue,
                    record.arrived_at,
                    ContactOutcome::Abandoned { abandoned_at: now },
                );
                self.release(slot);
            }
        }
        Ok(())
    }

    fn release(&mut self, slot: usize) {
        self.contacts[slot].alive = false;
        self.free_slots.push(slot as u32);
    }

    /// Brings each group to its head count for `interval`.
    fn change_shift(&mut self, now: Time, interval: usize) -> Result<(), SimulationError> {
        let day_interval = interval % self.plan.intervals_per_day;
        for group in 0..self.plan.groups.len() {
            let wanted = self.plan.groups[group].agents[day_interval] as usize;
            for position in 0..self.group_agents[group].len() {
                let agent = self.group_agents[group][position];
                let Some(view) = self.engine.agent_view(agent) else {
                    continue;
                };
                if position < wanted {
                    if view.presence == Presence::Offline {
                        self.engine_event(now, Event::AgentSignedIn { agent })?;
                        self.signed_in_since[agent.index()] = Some(now);
                    } else if view.signing_out {
                        self.engine_event(now, Event::AgentReady { agent })?;
                    }
                } else if view.presence != Presence::Offline && !view.signing_out {
                    self.engine_event(now, Event::AgentSignedOut { agent })?;
                }
            }
        }
        Ok(())
    }

    fn report(&self, seed: u64) -> SimulationReport {
        let metrics = self.metrics.report();
        let unserved_at_end = self.contacts.iter().filter(|c| c.alive).count() as u64;
        SimulationReport {
            scenario: self.plan.name.clone(),
            seed,
            days: self.plan.days,
            interval_minutes: self.plan.interval_millis / 60_000,
            day: metrics.total,
            intervals: metrics.intervals,
            queues: metrics.queues,
            staffing: self.plan.groups.clone(),
            engine_events: self.engine_events,
            offers: self.offers,
            unserved_at_end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn same_seed_same_figures_and_every_contact_accounted_for() {
        let mut scenario = Scenario::model_center();
        // A tenth of the day keeps the debug-build test quick.
        for queue in &mut scenario.queues {
            queue.daily_contacts = queue.daily_contacts.map(|daily| daily / 10.0);
        }
        for group in &mut scenario.groups {
            group.minimum_agents = group.minimum_agents.min(1);
        }
        let plan = scenario.resolve().expect("valid");
        let first = run(&plan, 7).expect("runs");
        let second = run(&plan, 7).expect("runs");
        assert_eq!(first, second);
        let other = run(&plan, 8).expect("runs");
        assert_ne!(first.day, other.day);
        let day = first.day;
        assert_eq!(day.offered, day.answered + day.abandoned);
        assert!((2_800..3_800).contains(&day.offered), "{day:?}");
        let sum: u64 = first.intervals.iter().map(|i| i.figures.offered).sum();
        assert_eq!(sum, day.offered);
        assert!(day.service_level.expect("offered") > 0.5, "{day:?}");
        assert!(day.occupancy.expect("staffed") > 0.2, "{day:?}");
    }
}
