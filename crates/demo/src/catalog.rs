//! The fixed vocabulary of the demo: category codes, departments, summary
//! templates and the citizens' phone numbers. Everything is built once, so
//! that a record costs only clones of prepared values.

use dasan_core::{CategoryCode, DepartmentCode, PhoneNumber};

use crate::plan::{HEALTH, TOP_COUNT, TOP_LEVEL, TRANSPORT, WATER, WELFARE};

/// Seoul's 25 districts: romanised (for department codes) and in Korean.
pub const DISTRICTS: [(&str, &str); 25] = [
    ("jongno", "종로구"),
    ("jung", "중구"),
    ("yongsan", "용산구"),
    ("seongdong", "성동구"),
    ("gwangjin", "광진구"),
    ("dongdaemun", "동대문구"),
    ("jungnang", "중랑구"),
    ("seongbuk", "성북구"),
    ("gangbuk", "강북구"),
    ("dobong", "도봉구"),
    ("nowon", "노원구"),
    ("eunpyeong", "은평구"),
    ("seodaemun", "서대문구"),
    ("mapo", "마포구"),
    ("yangcheon", "양천구"),
    ("gangseo", "강서구"),
    ("guro", "구로구"),
    ("geumcheon", "금천구"),
    ("yeongdeungpo", "영등포구"),
    ("dongjak", "동작구"),
    ("gwanak", "관악구"),
    ("seocho", "서초구"),
    ("gangnam", "강남구"),
    ("songpa", "송파구"),
    ("gangdong", "강동구"),
];

const DISTRICT_NAMES: [&str; 25] = [
    "종로구",
    "중구",
    "용산구",
    "성동구",
    "광진구",
    "동대문구",
    "중랑구",
    "성북구",
    "강북구",
    "도봉구",
    "노원구",
    "은평구",
    "서대문구",
    "마포구",
    "양천구",
    "강서구",
    "구로구",
    "금천구",
    "영등포구",
    "동작구",
    "관악구",
    "서초구",
    "강남구",
    "송파구",
    "강동구",
];
const STATIONS: [&str; 14] = [
    "서울역",
    "강남역",
    "시청",
    "여의도",
    "잠실",
    "홍대입구",
    "광화문",
    "동대문",
    "김포공항",
    "신촌",
    "종로3가",
    "수유",
    "사당",
    "고속터미널",
];
const PLACES: [&str; 12] = [
    "서울시청",
    "세종문화회관",
    "국립중앙박물관",
    "예술의전당",
    "서울대병원",
    "코엑스",
    "N서울타워",
    "덕수궁",
    "서울출입국관리사무소",
    "여권민원실",
    "어린이대공원",
    "서울월드컵경기장",
];
const TAXI_ISSUES: [&str; 5] = ["승차 거부", "부당 요금", "불친절", "우회 운행", "분실물"];
const MONTHS: [&str; 12] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];
const PAYMENT_WAYS: [&str; 5] = ["자동이체", "가상계좌", "인터넷", "편의점", "신용카드"];
const VENUES: [&str; 5] = [
    "세종문화회관",
    "서울시립미술관",
    "한강공원",
    "서울광장",
    "정동극장",
];

/// A summary template: `{}` is replaced by one of `slots`.
struct TemplateSet {
    code: &'static str,
    templates: &'static [&'static str],
    slots: &'static [&'static str],
}

/// The leaf categories the demo uses and how agents summarise them.
const TEMPLATES: [TemplateSet; 16] = [
    TemplateSet {
        code: "transport.transit",
        templates: &[
            "{}까지 가는 버스 노선 안내",
            "{} 방면 지하철 환승 경로 안내",
            "{}행 심야버스 운행 시간 문의",
            "{} 정류장 버스 도착 정보 안내",
            "지하철 막차 시간 문의 ({})",
        ],
        slots: &STATIONS,
    },
    TemplateSet {
        code: "transport.location",
        templates: &[
            "{} 위치 및 찾아가는 길 안내",
            "{} 근처 주차장 위치 안내",
            "{} 가는 길 도보 경로 안내",
        ],
        slots: &PLACES,
    },
    TemplateSet {
        code: "transport.taxi",
        templates: &["택시 {} 신고 접수", "택시 {} 관련 처리 절차 안내"],
        slots: &TAXI_ISSUES,
    },
    TemplateSet {
        code: "water.bill",
        templates: &[
            "{}월분 수도 요금 내역 안내",
            "수도 요금 과다 청구 문의 ({}월분)",
            "누수 의심 세대 요금 감면 절차 안내",
        ],
        slots: &MONTHS,
    },
    TemplateSet {
        code: "water.moving",
        templates: &[
            "이사 전출 수도 요금 정산 접수 ({})",
            "이사일 기준 계량기 검침 요청 ({})",
            "전입 세대 수도 명의 변경 안내",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "water.payment",
        templates: &[
            "수도 요금 납부 확인",
            "수도 요금 {} 납부 방법 안내",
            "미납 요금 확인 및 납부 기한 안내",
        ],
        slots: &PAYMENT_WAYS,
    },
    TemplateSet {
        code: "welfare",
        templates: &[
            "기초생활수급 신청 자격 안내",
            "{} 주민센터 복지 상담 연결 안내",
            "노인 돌봄 서비스 신청 방법 안내",
            "장애인 활동지원 제도 안내",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "health",
        templates: &[
            "{} 보건소 진료 시간 안내",
            "신종플루 예방접종 일정 문의",
            "야간·휴일 진료 병원 안내",
            "건강검진 대상 여부 문의",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "tax",
        templates: &[
            "자동차세 납부 기한 안내",
            "재산세 고지서 재발급 요청",
            "{} 세무과 연결 안내",
            "지방세 체납액 조회 방법 안내",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "housing",
        templates: &[
            "임대주택 입주 신청 자격 안내",
            "전세 계약 관련 상담 기관 안내",
            "재개발 구역 지정 문의 ({})",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "waste",
        templates: &[
            "대형 폐기물 수거 신청 방법 안내",
            "음식물 쓰레기 배출 요일 문의 ({})",
            "쓰레기 무단 투기 신고 접수",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "safety",
        templates: &[
            "도로 파손(포트홀) 신고 접수 ({})",
            "가로등 고장 신고 접수",
            "불법 주정차 신고 방법 안내",
            "보도블록 파손 신고 접수 ({})",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "culture",
        templates: &[
            "{} 공연 일정 및 예매 안내",
            "공공 체육시설 대관 문의",
            "시립 도서관 이용 시간 안내",
        ],
        slots: &VENUES,
    },
    TemplateSet {
        code: "jobs",
        templates: &[
            "청년 일자리 지원 사업 안내",
            "{} 일자리센터 연락처 안내",
            "공공근로 신청 방법 안내",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "documents",
        templates: &[
            "주민등록등본 인터넷 발급 방법 안내",
            "여권 재발급 준비 서류 안내",
            "인감증명 발급 장소 안내 ({})",
        ],
        slots: &DISTRICT_NAMES,
    },
    TemplateSet {
        code: "other",
        templates: &[
            "시정 일반 문의",
            "{} 관련 담당 부서 안내",
            "유실물 센터 연락처 안내",
        ],
        slots: &DISTRICT_NAMES,
    },
];

/// What an agent notes on a care call.
const CARE_TEMPLATES: [&str; 6] = [
    "안심콜: 안부 확인, 건강 상태 양호",
    "안심콜: {} 보건소 진료일 안내",
    "안심콜: 기초노령연금 지급일 안내",
    "안심콜: 겨울철 화재 예방 수칙 안내",
    "안심콜: 감기 예방 및 건강 관리 안내",
    "안심콜: {} 주민센터 공지 전달",
];
pub const CARE_NO_ANSWER: &str = "안심콜: 부재, 재통화 예정";
pub const DROPPED_SUMMARY: &str = "상담 연결 전 통화 종료";

/// A prepared template: the text around the slot, and the slot's values.
#[derive(Debug, Clone)]
pub struct Template {
    before: &'static str,
    after: Option<&'static str>,
    slots: &'static [&'static str],
}

impl Template {
    fn new(text: &'static str, slots: &'static [&'static str]) -> Self {
        match text.split_once("{}") {
            Some((before, after)) => Template {
                before,
                after: Some(after),
                slots,
            },
            None => Template {
                before: text,
                after: None,
                slots,
            },
        }
    }

    /// Writes the summary with slot value `slot` (any number; wraps).
    pub fn render(&self, slot: usize, out: &mut String) {
        out.push_str(self.before);
        if let Some(after) = self.after {
            if !self.slots.is_empty() {
                out.push_str(self.slots[slot % self.slots.len()]);
            }
            out.push_str(after);
        }
    }
}

/// A leaf category with its templates and the departments it transfers to.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub code: CategoryCode,
    pub templates: Vec<Template>,
    pub departments: Vec<DepartmentCode>,
}

/// Everything a record is assembled from.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Per top-level category: its leaves with cumulative weights (per mille).
    pub leaves: Vec<Vec<(u64, Leaf)>>,
    pub care_templates: Vec<Template>,
    /// Where care calls are escalated: health centers and district offices.
    pub care_departments: Vec<DepartmentCode>,
}

fn department(code: &str) -> DepartmentCode {
    DepartmentCode::parse(code).expect("the demo's department codes are valid")
}

fn category(code: &str) -> CategoryCode {
    CategoryCode::parse(code).expect("the demo's category codes are valid")
}

impl Catalog {
    pub fn new() -> Self {
        let offices: Vec<DepartmentCode> = DISTRICTS
            .iter()
            .map(|(roman, _)| department(&format!("{roman}_gu.office")))
            .collect();
        let health_centers: Vec<DepartmentCode> = DISTRICTS
            .iter()
            .map(|(roman, _)| department(&format!("health_center.{roman}")))
            .collect();
        let departments_for = |code: &str| -> Vec<DepartmentCode> {
            match code {
                "transport.transit" => {
                    vec![department("transport_bureau"), department("seoul_metro")]
                }
                "transport.location" => vec![department("transport_bureau")],
                "transport.taxi" => vec![department("taxi_management")],
                c if c.starts_with("water") => vec![department("waterworks")],
                "health" => health_centers.clone(),
                "tax" => {
                    let mut list = offices.clone();
                    list.push(department("tax_office"));
                    list
                }
                _ => offices.clone(),
            }
        };
        let leaf = |code: &'static str| -> Leaf {
            let set = TEMPLATES
                .iter()
                .find(|t| t.code == code)
                .expect("every leaf has templates");
            Leaf {
                code: category(code),
                templates: set
                    .templates
                    .iter()
                    .map(|t| Template::new(t, set.slots))
                    .collect(),
                departments: departments_for(code),
            }
        };
        // Sub-category mixes: transit directions lead transport, bills lead water.
        let leaves = TOP_LEVEL
            .iter()
            .enumerate()
            .map(|(index, &top)| match index {
                TRANSPORT => vec![
                    (550, leaf("transport.transit")),
                    (850, leaf("transport.location")),
                    (1000, leaf("transport.taxi")),
                ],
                WATER => vec![
                    (450, leaf("water.bill")),
                    (750, leaf("water.moving")),
                    (1000, leaf("water.payment")),
                ],
                _ => vec![(1000, leaf(top))],
            })
            .collect();
        let mut care_departments = health_centers.clone();
        care_departments.extend(offices.iter().cloned());
        Catalog {
            leaves,
            care_templates: CARE_TEMPLATES
                .iter()
                .map(|t| Template::new(t, &DISTRICT_NAMES))
                .collect(),
            care_departments,
        }
    }

    /// The leaf of top-level category `top` for a draw `r` in 0..1000.
    pub fn leaf(&self, top: usize, r: u64) -> &Leaf {
        let leaves = &self.leaves[top.min(TOP_COUNT - 1)];
        leaves
            .iter()
            .find(|(upto, _)| r < *upto)
            .map(|(_, leaf)| leaf)
            .unwrap_or(&leaves[leaves.len() - 1].1)
    }

    /// The care calls' categories: welfare checks and health advice.
    pub fn care_leaf(&self, top: usize) -> &Leaf {
        let top = if top == HEALTH { HEALTH } else { WELFARE };
        &self.leaves[top][0].1
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

/// Mobile numbers are 010-XXXX-XXXX with the middle block 2000-9999, all
/// valid; there are 80,000,000 of them, and an index maps to one by a
/// multiplicative bijection modulo that count, so distinct indices give
/// distinct, scattered numbers.
const NUMBER_SPACE: u64 = 80_000_000;
/// Odd and not a multiple of 5, hence invertible modulo 2^10 * 5^7.
const MULTIPLIER: u64 = 48_271_207;
const OFFSET: u64 = 12_345_679;

/// Heavy users take indices above every possible occasional citizen's.
pub const HEAVY_INDEX_BASE: u64 = 60_000_000;

fn scatter(index: u64) -> u64 {
    (index % NUMBER_SPACE * MULTIPLIER + OFFSET) % NUMBER_SPACE
}

/// `prefix` followed by the eight digits of `20_000_000 + scatter(index)`.
fn number(prefix: &str, index: u64) -> PhoneNumber {
    let mut digits = 20_000_000 + scatter(index);
    let mut buffer = [b'0'; 8];
    for slot in buffer.iter_mut().rev() {
        *slot = b'0' + (digits % 10) as u8;
        digits /= 10;
    }
    let mut text = String::with_capacity(prefix.len() + 8);
    text.push_str(prefix);
    text.extend(buffer.iter().map(|&b| char::from(b)));
    // The format is valid by construction (checked against libphonenumber
    // in the tests), so the parser is not run ten million times.
    PhoneNumber::from_trusted_e164(text)
}

/// The `index`-th citizen's mobile number.
pub fn mobile(index: u64) -> PhoneNumber {
    number("+8210", index)
}

/// The `index`-th care-call senior's Seoul landline, 02-XXXX-XXXX.
pub fn landline(index: u64) -> PhoneNumber {
    number("+822", index)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use dasan_core::Taxonomy;

    use super::*;

    #[test]
    fn generated_numbers_are_valid_and_distinct() {
        let mut seen = HashSet::new();
        let probes = (1..2_000u64).map(|i| i * 39_999).chain([
            0,
            1,
            NUMBER_SPACE - 1,
            HEAVY_INDEX_BASE,
            HEAVY_INDEX_BASE + 681,
        ]);
        for index in probes {
            for phone in [mobile(index), landline(index)] {
                let parsed = PhoneNumber::parse(phone.e164()).expect("valid number");
                assert_eq!(parsed, phone);
                assert!(seen.insert(phone));
            }
        }
    }

    #[test]
    fn the_index_mapping_is_a_bijection() {
        // A permutation of a small cycle proves nothing about the large
        // one; the multiplier's invertibility does: check it directly.
        fn gcd(a: u64, b: u64) -> u64 {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        assert_eq!(gcd(MULTIPLIER, NUMBER_SPACE), 1);
        let sample: HashSet<u64> = (0..100_000).map(scatter).collect();
        assert_eq!(sample.len(), 100_000);
    }

    #[test]
    fn categories_and_departments_resolve() {
        let taxonomy = Taxonomy::seed();
        let catalog = Catalog::new();
        for leaves in &catalog.leaves {
            for (_, leaf) in leaves {
                assert!(taxonomy.contains(&leaf.code), "{}", leaf.code);
                assert!(!leaf.templates.is_empty());
                assert!(!leaf.departments.is_empty());
                let mut text = String::new();
                for (slot, template) in leaf.templates.iter().enumerate() {
                    text.clear();
                    template.render(slot, &mut text);
                    assert!(!text.contains("{}"), "{text}");
                }
            }
        }
        assert_eq!(
            catalog.leaf(TRANSPORT, 0).code.as_str(),
            "transport.transit"
        );
        assert_eq!(catalog.leaf(WATER, 999).code.as_str(), "water.payment");
        assert_eq!(DISTRICTS.len(), DISTRICT_NAMES.len());
        for ((_, korean), name) in DISTRICTS.iter().zip(DISTRICT_NAMES) {
            assert_eq!(*korean, name);
        }
    }
}
