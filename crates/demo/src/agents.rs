//! The demo floor: about 300 agents with Korean names, a few specialists
//! (sign language, medical, care calls, foreign languages) and a text team.

use std::collections::BTreeSet;

use dasan_core::{AgentId, Channel, NewAgent, Skill, rng::Rng};

/// Agents on the demo floor.
pub const AGENT_COUNT: usize = 300;

/// Surnames with their rough frequency (per mille) in Korea.
const SURNAMES: [(&str, u64); 20] = [
    ("김", 215),
    ("이", 147),
    ("박", 84),
    ("최", 47),
    ("정", 44),
    ("강", 24),
    ("조", 21),
    ("윤", 21),
    ("장", 20),
    ("임", 17),
    ("한", 15),
    ("오", 15),
    ("서", 15),
    ("신", 15),
    ("권", 14),
    ("황", 14),
    ("안", 14),
    ("송", 13),
    ("류", 12),
    ("홍", 11),
];
const GIVEN_FIRST: [&str; 20] = [
    "민", "서", "지", "수", "현", "은", "예", "하", "윤", "도", "유", "채", "소", "다", "주", "성",
    "영", "정", "혜", "재",
];
const GIVEN_SECOND: [&str; 20] = [
    "준", "연", "우", "아", "진", "희", "원", "빈", "은", "호", "경", "린", "민", "서", "영", "윤",
    "혁", "나", "솔", "미",
];

/// How many agents hold each specialty; the rest are generalists.
const SIGN_LANGUAGE: usize = 12;
const CARE: usize = 24;
const MEDICAL: usize = 10;
const LANGUAGES: [(&str, usize); 4] = [("en", 15), ("zh", 6), ("ja", 4), ("vi", 2)];
const TEXT_TEAM: usize = 80;

/// 2006-12-01T00:00:00+09:00: the floor was staffed before the pilot.
const HIRED_MILLIS: u64 = 1_164_898_800_000;

fn pick_surname(rng: &mut Rng) -> &'static str {
    let total: u64 = SURNAMES.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (name, weight) in SURNAMES {
        if r < weight {
            return name;
        }
        r -= weight;
    }
    SURNAMES[0].0
}

/// The demo floor for `seed`: the same seed always gives the same agents
/// (ids included), so the generated history can reference them.
pub fn demo_agents(seed: u64) -> Vec<(AgentId, NewAgent)> {
    let mut rng = Rng::seed(seed ^ 0xA6E4_7500_0000_0001);
    let mut names = BTreeSet::new();
    let mut ordered_names = Vec::with_capacity(AGENT_COUNT);
    while ordered_names.len() < AGENT_COUNT {
        let name = format!(
            "{}{}{}",
            pick_surname(&mut rng),
            GIVEN_FIRST[rng.below(GIVEN_FIRST.len() as u64) as usize],
            GIVEN_SECOND[rng.below(GIVEN_SECOND.len() as u64) as usize]
        );
        if names.insert(name.clone()) {
            ordered_names.push(name);
        }
    }

    // Specialties go to shuffled seats so that they are spread over the list.
    let mut seats: Vec<usize> = (0..AGENT_COUNT).collect();
    rng.shuffle(&mut seats);
    let mut skills = vec![BTreeSet::new(); AGENT_COUNT];
    let mut channels = vec![BTreeSet::from([Channel::Voice]); AGENT_COUNT];
    let mut next = 0;
    let mut take = |count: usize| {
        let chosen = seats[next..next + count].to_vec();
        next += count;
        chosen
    };
    for seat in take(SIGN_LANGUAGE) {
        skills[seat].insert(Skill::SignLanguage);
        channels[seat].insert(Channel::Video);
    }
    for seat in take(CARE) {
        skills[seat].insert(Skill::Care);
        channels[seat].insert(Channel::CareCall);
    }
    for seat in take(MEDICAL) {
        skills[seat].insert(Skill::Medical);
    }
    for (code, count) in LANGUAGES {
        for seat in take(count) {
            skills[seat].insert(Skill::Language(code.to_owned()));
        }
    }
    for seat in take(TEXT_TEAM) {
        channels[seat].insert(Channel::Sms);
        channels[seat].insert(Channel::Mms);
    }
    // A few care-call agents are also nurses, who will run the planned
    // medical counselling for seniors.
    for &seat in seats[SIGN_LANGUAGE..SIGN_LANGUAGE + 3].iter() {
        skills[seat].insert(Skill::Medical);
    }

    ordered_names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let mut random = [0u8; 10];
            rng.fill_bytes(&mut random);
            let id = AgentId(
                uuid::Builder::from_unix_timestamp_millis(HIRED_MILLIS + index as u64, &random)
                    .into_uuid(),
            );
            let agent = NewAgent {
                name,
                skills: std::mem::take(&mut skills[index]),
                channels: std::mem::take(&mut channels[index]),
            };
            (id, agent)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_deterministic_valid_and_staffed_for_every_channel() {
        let agents = demo_agents(7);
        assert_eq!(agents, demo_agents(7));
        assert_ne!(agents, demo_agents(8));
        assert_eq!(agents.len(), AGENT_COUNT);
        let ids: BTreeSet<_> = agents.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), AGENT_COUNT);
        for (_, agent) in &agents {
            let checked = NewAgent::new(
                &agent.name,
                agent.skills.iter().cloned(),
                agent.channels.iter().copied(),
            )
            .expect("valid agent");
            assert_eq!(&checked, agent);
        }
        let with = |skill: Skill, channel: Channel| {
            agents
                .iter()
                .filter(|(_, a)| a.skills.contains(&skill) && a.channels.contains(&channel))
                .count()
        };
        assert_eq!(with(Skill::SignLanguage, Channel::Video), SIGN_LANGUAGE);
        assert_eq!(with(Skill::Care, Channel::CareCall), CARE);
        assert_eq!(with(Skill::Language("en".into()), Channel::Voice), 15);
        assert!(with(Skill::Medical, Channel::Voice) >= MEDICAL);
        let texting = agents
            .iter()
            .filter(|(_, a)| a.channels.contains(&Channel::Sms))
            .count();
        assert_eq!(texting, TEXT_TEAM);
    }
}
