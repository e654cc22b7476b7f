//! Time values. Storage is UTC; presentation and day/night buckets use the
//! center's time zone (Asia/Seoul by default).

use std::fmt;

use chrono::{DateTime, NaiveDate, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The default presentation zone of the model center.
pub const SEOUL: Tz = chrono_tz::Asia::Seoul;

/// An instant, stored in UTC with millisecond precision (the precision both
/// storage engines keep exactly).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(DateTime<Utc>);

/// Instants before 1970 or after 9999 are refused: they are typing mistakes.
const MIN_MILLIS: i64 = 0;
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    pub fn from_millis(millis: i64) -> Result<Self, DomainError> {
        if !(MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
            return Err(DomainError::TimeOutOfRange);
        }
        DateTime::from_timestamp_millis(millis)
            .map(Timestamp)
            .ok_or(DomainError::TimeOutOfRange)
    }

    pub fn from_datetime(value: DateTime<Utc>) -> Result<Self, DomainError> {
        Self::from_millis(value.trunc_subsecs(3).timestamp_millis())
    }

    /// Parses RFC 3339 with an explicit offset (`2026-11-28T10:00:00+09:00`).
    pub fn parse_rfc3339(input: &str) -> Result<Self, DomainError> {
        let parsed = DateTime::parse_from_rfc3339(input.trim())
            .map_err(|_| DomainError::InvalidTimestamp(input.chars().take(40).collect()))?;
        Self::from_datetime(parsed.with_timezone(&Utc))
    }

    /// A local wall-clock time in `zone`; ambiguous times take the earlier.
    pub fn from_local(zone: Tz, date: NaiveDate, seconds_of_day: u32) -> Result<Self, DomainError> {
        let naive = date
            .and_hms_opt(0, 0, 0)
            .ok_or(DomainError::TimeOutOfRange)?
            + chrono::Duration::seconds(i64::from(seconds_of_day));
        let local = zone
            .from_local_datetime(&naive)
            .earliest()
            .ok_or(DomainError::TimeOutOfRange)?;
        Self::from_datetime(local.with_timezone(&Utc))
    }

    /// A filter bound as people write it: RFC 3339, or a plain date
    /// (`2009-11-10`) meaning local midnight in `zone`.
    pub fn parse_bound(input: &str, zone: Tz) -> Result<Self, DomainError> {
        match NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d") {
            Ok(date) => Self::from_local(zone, date, 0),
            Err(_) => Self::parse_rfc3339(input),
        }
    }

    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// The calendar date of this instant in `zone`.
    pub fn local_date(self, zone: Tz) -> NaiveDate {
        self.0.with_timezone(&zone).date_naive()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl TryFrom<String> for Timestamp {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Timestamp::parse_rfc3339(&value)
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> Self {
        value.to_rfc3339()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_into_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-28T10:00:00+09:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-28T01:00:00.000Z");
        assert_eq!(t.local_date(SEOUL).to_string(), "2026-11-28");
    }

    #[test]
    fn bounds_accept_local_dates() {
        let t = Timestamp::parse_bound("2009-11-10", SEOUL).expect("date");
        assert_eq!(t.to_rfc3339(), "2009-11-09T15:00:00.000Z");
        assert!(Timestamp::parse_bound("2009-11-31", SEOUL).is_err());
    }

    #[test]
    fn refuses_missing_offsets_and_garbage() {
        for bad in [
            "2026-11-28T10:00:00",
            "yesterday",
            "",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("1900-01-01T00:00:00Z"),
            Err(DomainError::TimeOutOfRange)
        );
    }
}
