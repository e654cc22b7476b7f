use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The way a citizen reached the center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Voice,
    Sms,
    Mms,
    Video,
    Web,
    CareCall,
    Open311,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Voice,
        Channel::Sms,
        Channel::Mms,
        Channel::Video,
        Channel::Web,
        Channel::CareCall,
        Channel::Open311,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Sms => "sms",
            Channel::Mms => "mms",
            Channel::Video => "video",
            Channel::Web => "web",
            Channel::CareCall => "care_call",
            Channel::Open311 => "open311",
        }
    }

    /// Text channels let one agent hold several threads at once.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Channel::Sms | Channel::Mms | Channel::Web | Channel::Open311
        )
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| DomainError::UnknownChannel(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
            let json = serde_json::to_string(&channel).expect("serialises");
            assert_eq!(json, format!("\"{}\"", channel.as_str()));
        }
        assert!("fax".parse::<Channel>().is_err());
    }
}
