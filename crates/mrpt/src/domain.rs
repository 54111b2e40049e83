//! Typed values of the domain: validated user input and opaque ids, so that
//! an invalid username or a hand-built id cannot exist past the HTTP edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A username as stored: lower-cased, 3 to 64 of `[a-z0-9_.-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let lowered = raw.to_lowercase();
        let length_ok = (3..=64).contains(&lowered.len());
        let charset_ok = lowered
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
        if length_ok && charset_ok {
            Ok(Self(lowered))
        } else {
            Err("The username must be 3 to 64 characters of a-z, 0-9, '_', '.' or '-'.")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the length rule (10 to 1024 characters).
/// Deliberately not `Debug`/`Display`, so it cannot reach a log line.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: String) -> Result<Self, &'static str> {
        if (10..=1024).contains(&raw.chars().count()) {
            Ok(Self(raw))
        } else {
            Err("The password must be 10 to 1024 characters long.")
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses an id a client sent; any malformed id is simply unknown.
            pub fn parse(raw: &str) -> Option<Self> {
                // Only the canonical lower-case hyphenated form is accepted, so that an id
                // has exactly one spelling in URLs and store keys.
                let id = Uuid::try_parse(raw).ok()?;
                (id.hyphenated().to_string() == raw).then_some(Self(id))
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(raw: &str) -> Result<Self, ()> {
                Self::parse(raw).ok_or(())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

opaque_id!(
    /// The public id of a user.
    UserId
);
opaque_id!(
    /// The public id of a session, shown in `/api/sessions`; not its token.
    SessionId
);
opaque_id!(
    /// The id of an uploaded dataset.
    DatasetId
);
opaque_id!(
    /// The id of an analysis of a dataset.
    AnalysisId
);
opaque_id!(
    /// The id of a bed-net plan.
    PlanId
);
opaque_id!(
    /// The id of a resumable upload.
    UploadId
);
opaque_id!(
    /// The id of one piece of a resumable upload, as one PATCH stored it.
    PieceId
);

impl UserId {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }
}

/// Milliseconds since the Unix epoch, UTC: the store's one time unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_millis())
    }

    pub fn plus(self, duration: std::time::Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)))
    }

    pub fn rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// Serialises a [`Millis`] as an RFC 3339 string, the API's time format.
pub mod rfc3339 {
    use super::Millis;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &Millis, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(Username::parse("Amina.B_1").unwrap().as_str(), "amina.b_1");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
        assert!(Username::parse("amina bello").is_err());
        assert!(Username::parse("amína").is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(NewPassword::parse("ééééééééé".into()).is_err());
        assert!(NewPassword::parse("éééééééééé".into()).is_ok());
        assert!(NewPassword::parse("x".repeat(1025)).is_err());
    }

    #[test]
    fn ids_accept_only_the_canonical_form() {
        let id = DatasetId::random();
        assert_eq!(DatasetId::parse(&id.to_string()), Some(id));
        assert_eq!(DatasetId::parse(&id.as_uuid().simple().to_string()), None);
        assert_eq!(DatasetId::parse("x.css"), None);
    }
}
