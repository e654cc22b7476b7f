//! The hierarchical category taxonomy of consultations. Codes are stable
//! dot-separated paths (`transport.taxi`); names are Korean and English.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A category code such as `water` or `water.bill`: lowercase ASCII words of
/// letters, digits and `_`, joined by dots, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    pub const MAX_LEN: usize = 64;

    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let invalid = || DomainError::InvalidCategoryCode(input.chars().take(64).collect());
        if input.is_empty() || input.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        for segment in input.split('.') {
            let mut chars = segment.chars();
            match chars.next() {
                Some(c) if c.is_ascii_lowercase() => {}
                _ => return Err(invalid()),
            }
            if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                return Err(invalid());
            }
        }
        Ok(CategoryCode(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The top-level ancestor: `transport` for `transport.taxi`.
    pub fn top_level(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }

    /// The parent code, if this is not a top-level code.
    pub fn parent(&self) -> Option<CategoryCode> {
        self.0
            .rsplit_once('.')
            .map(|(parent, _)| CategoryCode(parent.to_owned()))
    }
}

impl fmt::Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CategoryCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CategoryCode::parse(&value)
    }
}

impl From<CategoryCode> for String {
    fn from(value: CategoryCode) -> Self {
        value.0
    }
}

/// One node of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub code: CategoryCode,
    pub parent: Option<CategoryCode>,
    pub name_ko: String,
    pub name_en: String,
}

/// The whole taxonomy, ordered by code. Every parent of a code is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taxonomy {
    by_code: BTreeMap<CategoryCode, Category>,
}

/// The seed taxonomy, modelled on Seoul's 120 center: transport (45.7% of its
/// consultations) and water (8.4%) with their sub-categories, and the other
/// subjects a city helpline answers.
const SEED: &[(&str, &str, &str)] = &[
    ("transport", "교통", "Transport"),
    (
        "transport.transit",
        "대중교통 안내",
        "Public-transit directions",
    ),
    ("transport.location", "위치 안내", "Location directions"),
    ("transport.taxi", "택시 불편 신고", "Taxi complaints"),
    ("water", "상수도", "Water"),
    ("water.bill", "수도 요금", "Water bills"),
    ("water.moving", "이사 정산", "Settlement when moving house"),
    (
        "water.payment",
        "납부 확인 및 방법",
        "Payment check and methods",
    ),
    ("welfare", "복지", "Welfare"),
    ("health", "보건", "Health"),
    ("tax", "세금", "Tax"),
    ("housing", "주택", "Housing"),
    ("waste", "청소·폐기물", "Waste and cleaning"),
    ("safety", "도로·안전", "Roads and safety"),
    ("culture", "문화·공공시설", "Culture and public facilities"),
    ("jobs", "일자리", "Jobs"),
    ("documents", "민원 서류", "Civil documents"),
    ("other", "기타", "Other"),
];

impl Taxonomy {
    /// The built-in seed taxonomy.
    pub fn seed() -> Self {
        let categories = SEED.iter().map(|(code, ko, en)| {
            let code = CategoryCode(code.to_string());
            Category {
                parent: code.parent(),
                code,
                name_ko: ko.to_string(),
                name_en: en.to_string(),
            }
        });
        Self::from_categories(categories).expect("the seed taxonomy is consistent")
    }

    /// Builds a taxonomy, checking that every parent exists.
    pub fn from_categories(
        categories: impl IntoIterator<Item = Category>,
    ) -> Result<Self, DomainError> {
        let by_code: BTreeMap<_, _> = categories
            .into_iter()
            .map(|category| (category.code.clone(), category))
            .collect();
        for category in by_code.values() {
            if let Some(parent) = &category.parent
                && !by_code.contains_key(parent)
            {
                return Err(DomainError::UnknownCategory(parent.to_string()));
            }
        }
        Ok(Taxonomy { by_code })
    }

    /// Parses `input` and checks that it names a category of this taxonomy.
    pub fn resolve(&self, input: &str) -> Result<CategoryCode, DomainError> {
        let code = CategoryCode::parse(input)
            .map_err(|_| DomainError::UnknownCategory(input.chars().take(64).collect()))?;
        if self.by_code.contains_key(&code) {
            Ok(code)
        } else {
            Err(DomainError::UnknownCategory(code.0))
        }
    }

    pub fn get(&self, code: &CategoryCode) -> Option<&Category> {
        self.by_code.get(code)
    }

    pub fn contains(&self, code: &CategoryCode) -> bool {
        self.by_code.contains_key(code)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.by_code.values()
    }

    pub fn top_level(&self) -> impl Iterator<Item = &Category> {
        self.by_code.values().filter(|c| c.parent.is_none())
    }

    pub fn children<'a>(&'a self, parent: &'a CategoryCode) -> impl Iterator<Item = &'a Category> {
        self.by_code
            .values()
            .filter(move |c| c.parent.as_ref() == Some(parent))
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_has_the_model_centers_categories() {
        let taxonomy = Taxonomy::seed();
        let top: Vec<_> = taxonomy.top_level().map(|c| c.code.as_str()).collect();
        for code in [
            "transport",
            "water",
            "welfare",
            "health",
            "tax",
            "housing",
            "waste",
            "safety",
            "culture",
            "jobs",
            "documents",
            "other",
        ] {
            assert!(top.contains(&code), "{code} missing");
        }
        let transport = CategoryCode::parse("transport").expect("valid");
        let children: Vec<_> = taxonomy
            .children(&transport)
            .map(|c| c.code.as_str())
            .collect();
        assert_eq!(
            children,
            ["transport.location", "transport.taxi", "transport.transit"]
        );
        let bill = taxonomy.resolve("water.bill").expect("known");
        assert_eq!(bill.top_level(), "water");
        assert_eq!(taxonomy.get(&bill).expect("present").name_ko, "수도 요금");
    }

    #[test]
    fn unknown_and_malformed_codes_are_refused() {
        let taxonomy = Taxonomy::seed();
        for bad in [
            "",
            "Transport",
            "transport.",
            ".water",
            "water..bill",
            "transport.bus",
            "a b",
        ] {
            assert!(taxonomy.resolve(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_child_without_its_parent_is_refused() {
        let orphan = Category {
            code: CategoryCode::parse("parks.trees").expect("valid"),
            parent: Some(CategoryCode::parse("parks").expect("valid")),
            name_ko: "가로수".into(),
            name_en: "Street trees".into(),
        };
        assert!(Taxonomy::from_categories([orphan]).is_err());
    }
}
