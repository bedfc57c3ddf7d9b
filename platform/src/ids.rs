//! Typed ids: UUIDv7 newtypes so a `FileId` can never be passed where a `ContactId` is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh time-ordered id (UUIDv7 keeps B-tree inserts local).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    )*};
}

typed_id!(
    /// A firm (tenant) on the platform.
    TenantId,
    /// A staff user of a firm.
    MemberId,
    /// A single-use token row (setup, reset, invitation).
    TokenId,
    /// An email in the outbox.
    OutboxId,
    /// An audit-trail entry.
    AuditId,
    /// An operator console session.
    OperatorSessionId,
    /// A person or company in a firm's address book.
    ContactId,
    /// A file (legal matter); stored in the `matter` table.
    FileId,
    /// A document on a file (an encrypted blob and its row).
    DocumentId,
    /// A custom field defined by a firm (SPEC §7).
    CustomFieldId,
    InvoiceId,
    PaymentId,
    PaymentMethodId,
    PaymentAttemptId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip() {
        let a = TenantId::new();
        let b = TenantId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<TenantId>().expect("parses"), a);
        assert_eq!(serde_json::to_string(&a).expect("json"), format!("\"{a}\""));
    }
}
