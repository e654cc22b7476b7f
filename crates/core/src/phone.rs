//! Citizens' phone numbers, parsed with libphonenumber's metadata (the
//! `phonenumber` crate) rather than hand-written patterns.

use std::fmt;

use phonenumber::country::Id as CountryId;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// A valid phone number, normalised to E.164 (`+821012345678`).
///
/// Numbers without a country code are read as Korean: `010-1234-5678`,
/// `01012345678`, `+82 10 1234 5678` and `02-120-0000` are all accepted; a
/// number that libphonenumber does not consider valid is rejected.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

/// See [`PhoneNumber::unknown`].
pub const UNKNOWN_E164: &str = "+9990000000";

/// Longest input we hand to the parser; real numbers with separators are far shorter.
const MAX_INPUT_LEN: usize = 40;

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.len() > MAX_INPUT_LEN {
            return Err(DomainError::InvalidPhone);
        }
        // Allow only characters that appear in written phone numbers, so that
        // letters (vanity numbers) and other noise are refused outright.
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'))
        {
            return Err(DomainError::InvalidPhone);
        }
        let parsed = phonenumber::parse(Some(CountryId::KR), trimmed)
            .map_err(|_| DomainError::InvalidPhone)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(DomainError::InvalidPhone);
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(PhoneNumber(e164))
    }

    /// The number recorded for a citizen who gave none (a sign-language
    /// video caller who stayed anonymous). Country code 999 is reserved and
    /// unassigned by the ITU, so no citizen has this number and [`parse`]
    /// never produces it.
    ///
    /// [`parse`]: PhoneNumber::parse
    pub fn unknown() -> Self {
        PhoneNumber(UNKNOWN_E164.to_owned())
    }

    /// Whether this is [`PhoneNumber::unknown`].
    pub fn is_unknown(&self) -> bool {
        self.0 == UNKNOWN_E164
    }

    /// Builds a number from an E.164 string that was validated before (for
    /// example read back from the store), without running the parser again.
    pub fn from_trusted_e164(e164: String) -> Self {
        PhoneNumber(e164)
    }

    /// The E.164 form, `+821012345678`.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The national form a Korean agent reads, `010-1234-5678`; foreign
    /// numbers keep their international form.
    pub fn display(&self) -> String {
        match phonenumber::parse(None, &self.0) {
            Ok(n) if n.country().id() == Some(CountryId::KR) => {
                n.format().mode(phonenumber::Mode::National).to_string()
            }
            Ok(n) => n
                .format()
                .mode(phonenumber::Mode::International)
                .to_string(),
            Err(_) => self.0.clone(),
        }
    }

    /// A form safe for logs: only the last two digits are kept.
    pub fn redacted(&self) -> String {
        let digits: Vec<char> = self.0.chars().filter(|c| c.is_ascii_digit()).collect();
        let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
        format!("***{tail}")
    }
}

/// Debug never shows the number: personal data stays out of logs.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.redacted())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value == UNKNOWN_E164 {
            return Ok(PhoneNumber::unknown());
        }
        PhoneNumber::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_unknown_number_is_never_parsed_but_round_trips() {
        assert!(PhoneNumber::parse(UNKNOWN_E164).is_err());
        assert!(PhoneNumber::parse("+999 000 0000").is_err());
        let unknown = PhoneNumber::unknown();
        assert!(unknown.is_unknown());
        assert!(
            !PhoneNumber::parse("010-1234-5678")
                .expect("valid")
                .is_unknown()
        );
        let json = serde_json::to_string(&unknown).expect("json");
        let back: PhoneNumber = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, unknown);
    }

    #[test]
    fn accepts_the_written_forms_of_one_mobile_number() {
        for input in [
            "010-1234-5678",
            "01012345678",
            "+82 10 1234 5678",
            "+821012345678",
        ] {
            let phone = PhoneNumber::parse(input).expect(input);
            assert_eq!(phone.e164(), "+821012345678", "{input}");
            assert_eq!(phone.display(), "010-1234-5678");
        }
    }

    #[test]
    fn accepts_seoul_landlines() {
        let phone = PhoneNumber::parse("02-120-0000").expect("landline");
        assert_eq!(phone.e164(), "+8221200000");
        let phone = PhoneNumber::parse("02-2133-7000").expect("landline");
        assert_eq!(phone.e164(), "+82221337000");
    }

    #[test]
    fn rejects_invalid_numbers() {
        for input in [
            "",
            "   ",
            "12",
            "010-1234",
            "010-1234-56789-1",
            "abc",
            "010-CALL-DASAN",
            "000-0000-0000",
            "+82 99 1234 5678",
            "010\u{0}1234",
            "😀",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(DomainError::InvalidPhone),
                "{input:?}"
            );
        }
    }

    #[test]
    fn debug_and_redacted_hide_the_number() {
        let phone = PhoneNumber::parse("010-1234-5678").expect("valid");
        let debug = format!("{phone:?}");
        assert!(!debug.contains("1234"), "{debug}");
        assert_eq!(phone.redacted(), "***78");
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "\\PC{0,50}") {
            let _ = PhoneNumber::parse(&input);
        }

        #[test]
        fn every_korean_mobile_normalises_idempotently(n in 0u32..100_000_000) {
            let written = format!("010-{:04}-{:04}", n / 10_000, n % 10_000);
            if let Ok(phone) = PhoneNumber::parse(&written) {
                let again = PhoneNumber::parse(phone.e164()).expect("e164 reparses");
                prop_assert_eq!(&again, &phone);
                prop_assert_eq!(PhoneNumber::parse(&phone.display()).expect("display reparses"), phone);
            }
        }
    }
}
