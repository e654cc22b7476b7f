//! The synonym list: groups of words citizens and agents use for the same thing
//! (수도세 / 수도요금 / 물값). Applied to queries, so administrators' edits count at once.

use std::ops::Range;

use crate::analysis::squeeze;

/// Colloquial and official words for the services a city helpline answers. Each group
/// is one concept; the first word is the official one.
#[rustfmt::skip]
const BUILTIN: &[&[&str]] = &[
    &["수도요금", "수도세", "물세", "물값", "상수도요금", "수도료", "수돗물값"],
    &["하수도사용료", "하수도요금", "하수도세", "하수처리비", "하수도료"],
    &["예방접종", "예방주사", "백신", "접종"],
    &["독감", "인플루엔자", "독감주사"],
    &["주민등록등본", "등본", "주민등본"],
    &["주민등록초본", "초본", "주민초본"],
    &["가족관계증명서", "가족관계증명", "가족증명서"],
    &["인감증명서", "인감증명", "인감"],
    &["행정복지센터", "동사무소", "주민센터", "동주민센터", "동청"],
    &["과태료", "딱지", "범칙금", "벌금"],
    &["불법주정차", "불법주차", "주차위반", "불법정차", "차가세워", "차를세워", "세워져있", "주차해놓", "길막"],
    &["승차거부", "안태워", "태워주지않", "골라태우"],
    &["부당요금", "바가지요금", "요금과다", "바가지", "미터기조작"],
    &["카드결제거부", "카드거부", "카드안받", "현금만받", "현금달라", "현금달래", "카드안돼", "카드안된", "카드가안"],
    &["종량제봉투", "쓰레기봉투", "쓰레기봉지", "종량제"],
    &["대형폐기물", "대형쓰레기", "큰쓰레기", "폐가구", "헌가구", "대형생활폐기물", "쓰레기스티커", "폐기물스티커", "배출스티커", "장롱", "소파", "침대", "매트리스", "가구버리"],
    &["폐가전", "폐가전제품", "헌가전", "고장난가전", "가전제품버리", "냉장고버리", "세탁기버리", "에어컨버리", "티비버리", "전자제품버리"],
    &["음식물쓰레기", "음쓰", "음식쓰레기", "남은음식"],
    &["분리배출", "분리수거", "재활용"],
    &["전입신고", "주소이전", "주소변경", "이사신고", "주소옮", "주소를옮"],
    &["전월세신고", "임대차신고", "전세신고", "월세신고", "임대차계약신고"],
    &["기초연금", "노령연금", "노인연금"],
    &["기초생활수급", "기초수급", "수급자", "생계급여"],
    &["긴급복지", "긴급지원", "긴급생계지원", "생활비가없", "당장생활비", "급하게도와", "실직", "생계가어려"],
    &["아동수당", "애기수당", "아기수당"],
    &["출산지원금", "출산장려금", "출산축하금", "애낳", "아기낳", "아이낳", "첫만남"],
    &["자동차세", "차세", "자동차세금"],
    &["체납", "밀린세금", "미납", "연체"],
    &["여권", "패스포트"],
    &["운전면허", "면허증", "운전면허증"],
    &["따릉이", "공공자전거", "서울자전거"],
    &["기후동행카드", "기동카", "무제한교통카드"],
    &["심야버스", "올빼미버스", "새벽버스", "밤버스", "심야 버스"],
    &["지하철", "전철", "도시철도"],
    &["막차", "마지막차", "마지막열차", "마지막전철"],
    &["환승", "갈아타"],
    &["분실물", "유실물", "잃어버린물건", "잃어버렸"],
    &["동파", "얼어터", "꽁꽁얼", "얼어서터"],
    &["누수", "물이새", "물새", "물샘", "새고", "샌다", "배관이새"],
    &["단수", "물안나", "물이안나", "물끊"],
    &["수질검사", "수돗물검사", "물검사", "수질"],
    &["건강검진", "건강검사", "국가검진"],
    &["치매검사", "치매검진", "치매선별검사", "기억력검사"],
    &["금연클리닉", "금연상담", "담배끊", "금연"],
    &["휴일진료", "야간진료", "문여는병원", "주말병원", "야간병원", "일요일병원"],
    &["싱크홀", "땅꺼짐", "지반침하", "땅이꺼"],
    &["도로파손", "포트홀", "도로구멍", "도로패임", "패인", "파인", "움푹", "아스팔트"],
    &["가로등", "가로등고장", "가로등꺼짐"],
    &["폭염쉼터", "무더위쉼터", "더위쉼터"],
    &["한파쉼터", "추위쉼터", "한파대피소"],
    &["공공임대주택", "임대아파트", "임대주택", "영구임대", "국민임대"],
    &["청년월세", "청년월세지원", "청년주거비"],
    &["일자리", "취업", "구직", "일거리"],
    &["어르신일자리", "노인일자리", "노인취업"],
    &["장애인활동지원", "활동보조", "활동지원사"],
    &["노인돌봄", "독거노인", "어르신돌봄", "홀몸노인"],
    &["공공시설예약", "공공서비스예약", "시설대관", "대관"],
    &["캠핑장", "캠핑", "야영장"],
    &["무인민원발급기", "무인발급기", "민원발급기"],
    &["자동이체", "자동납부", "자동출금", "통장에서빠져", "알아서빠져", "자동으로빠져"],
    &["가상계좌", "전용계좌"],
    &["이사정산", "중간정산", "이사갈때정산"],
    &["다산콜센터", "다산콜", "120다산콜"],
    &["어린이", "애기", "아기", "영유아", "유아"],
    &["어르신", "노인", "할머니", "할아버지"],
    &["무임", "공짜", "무료승차", "무임승차"],
    &["견인", "레카", "렉카", "끌고갔", "끌어갔", "견인차"],
    &["동물등록", "강아지등록", "반려견등록", "몸에칩", "내장칩", "마이크로칩"],
    &["반려견", "강아지", "애완견"],
    &["명의변경", "이름바꾸", "이름변경", "전주인이름", "이름으로나와"],
];

/// Synonym groups, as stored and edited by administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonyms {
    groups: Vec<Vec<String>>,
    /// Each group's words squeezed (no spaces, folded), for matching.
    squeezed: Vec<Vec<String>>,
}

/// Why a synonym list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynonymError {
    #[error("a synonym list has at most {max} groups")]
    TooManyGroups { max: usize },
    #[error("group {group} needs at least two words with letters")]
    TooFewWords { group: usize },
    #[error("group {group} has a word longer than {max} characters")]
    WordTooLong { group: usize, max: usize },
    #[error("group {group} has more than {max} words")]
    GroupTooLarge { group: usize, max: usize },
}

impl Synonyms {
    pub const MAX_GROUPS: usize = 5_000;
    pub const MAX_WORDS: usize = 50;
    pub const MAX_WORD_CHARS: usize = 40;

    /// The list Dasan ships with.
    pub fn builtin() -> Self {
        let groups = BUILTIN
            .iter()
            .map(|g| g.iter().map(|w| w.to_string()).collect())
            .collect();
        Self::new(groups).expect("the built-in synonyms are valid")
    }

    /// Checks and prepares groups: each needs two words that keep letters or syllables
    /// after squeezing; words are trimmed and duplicates within a group dropped.
    pub fn new(groups: Vec<Vec<String>>) -> Result<Self, SynonymError> {
        if groups.len() > Self::MAX_GROUPS {
            return Err(SynonymError::TooManyGroups {
                max: Self::MAX_GROUPS,
            });
        }
        let mut kept = Vec::with_capacity(groups.len());
        let mut squeezed = Vec::with_capacity(groups.len());
        for (index, group) in groups.into_iter().enumerate() {
            if group.len() > Self::MAX_WORDS {
                return Err(SynonymError::GroupTooLarge {
                    group: index,
                    max: Self::MAX_WORDS,
                });
            }
            let mut words: Vec<String> = Vec::new();
            let mut keys: Vec<String> = Vec::new();
            for word in group {
                let word = word.trim().to_string();
                if word.chars().count() > Self::MAX_WORD_CHARS {
                    return Err(SynonymError::WordTooLong {
                        group: index,
                        max: Self::MAX_WORD_CHARS,
                    });
                }
                let key = squeeze(&word);
                if key.is_empty() || keys.contains(&key) {
                    continue;
                }
                words.push(word);
                keys.push(key);
            }
            if words.len() < 2 {
                return Err(SynonymError::TooFewWords { group: index });
            }
            kept.push(words);
            squeezed.push(keys);
        }
        Ok(Self {
            groups: kept,
            squeezed,
        })
    }

    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    /// What a query's synonyms add: for every group with a word inside the squeezed
    /// query, the matched text and the group's other words. A word found only inside a
    /// longer match (수도요금 inside 하수도요금) does not count, so neighbouring concepts
    /// do not pull each other in.
    pub fn expansions(&self, query: &str) -> Vec<Expansion> {
        let text = squeeze(query);
        let mut found: Vec<(Range<usize>, usize, usize)> = Vec::new();
        for (group, keys) in self.squeezed.iter().enumerate() {
            for (word, key) in keys.iter().enumerate() {
                for (at, _) in text.match_indices(key.as_str()) {
                    found.push((at..at + key.len(), group, word));
                }
            }
        }
        let inside_longer = |r: &Range<usize>| {
            found
                .iter()
                .any(|(o, _, _)| o.start <= r.start && r.end <= o.end && o.len() > r.len())
        };
        let mut out: Vec<Expansion> = Vec::new();
        for (range, group, word) in &found {
            if inside_longer(range) {
                continue;
            }
            let matched = text[range.clone()].to_string();
            if out
                .iter()
                .any(|e| e.group == *group && e.matched == matched)
            {
                continue;
            }
            let words = self.groups[*group]
                .iter()
                .enumerate()
                .filter(|(other, _)| other != word)
                .map(|(_, w)| w.clone())
                .collect();
            let canonical = (*word != 0).then(|| self.groups[*group][0].clone());
            out.push(Expansion {
                group: *group,
                matched,
                canonical,
                words,
            });
        }
        out
    }
}

/// One synonym group found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    group: usize,
    /// The query's text that matched, squeezed.
    pub matched: String,
    /// The group's first (official) word, unless that is what matched: what the
    /// query is widened with.
    pub canonical: Option<String>,
    /// The group's other words: other ways an article may say the matched one.
    pub words: Vec<String>,
}

impl Default for Synonyms {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Synonyms, query: &str) -> Vec<String> {
        s.expansions(query)
            .into_iter()
            .flat_map(|e| e.words)
            .collect()
    }

    #[test]
    fn a_colloquial_word_brings_in_its_group() {
        let s = Synonyms::builtin();
        let found = s.expansions("수도세를 얼마 냈는지");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].canonical.as_deref(), Some("수도요금"));
        assert!(found[0].words.contains(&"물값".to_string()));
        let found = s.expansions("예방 주사 맞으려면");
        assert_eq!(found[0].matched, squeeze("예방주사"));
        assert_eq!(found[0].canonical.as_deref(), Some("예방접종"));
        // The official word itself widens nothing, but still knows its other names.
        let found = s.expansions("예방접종");
        assert_eq!(found[0].canonical, None);
        assert!(found[0].words.contains(&"예방주사".to_string()));
    }

    #[test]
    fn a_word_inside_a_longer_match_does_not_count() {
        let s = Synonyms::builtin();
        let more = words(&s, "하수도요금 왜 나와요");
        assert!(more.contains(&"하수도사용료".to_string()), "{more:?}");
        assert!(!more.contains(&"수도세".to_string()), "{more:?}");
    }

    #[test]
    fn edits_are_checked() {
        assert_eq!(
            Synonyms::new(vec![vec!["수도세".into(), "  ".into()]]),
            Err(SynonymError::TooFewWords { group: 0 })
        );
        assert!(Synonyms::new(vec![vec!["가".repeat(41), "나".into()]]).is_err());
        let s = Synonyms::new(vec![vec![
            " 물값 ".into(),
            "수도 요금".into(),
            "물값".into(),
        ]])
        .expect("valid");
        assert_eq!(
            s.groups(),
            &[vec!["물값".to_string(), "수도 요금".to_string()]]
        );
        assert_eq!(words(&s, "수도 요금 문의"), vec!["물값".to_string()]);
        assert_eq!(
            s.expansions("수도요금")[0].canonical.as_deref(),
            Some("물값")
        );
    }
}
