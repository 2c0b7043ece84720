//! Consumer ids as stored. A deployment that must not keep raw buyer ids
//! (phone-number ids, platform nicknames) sets `consumers.id_salt`: every id
//! is then replaced at ingest, before it is stored or indexed, by
//! `h_` + the first 32 hex digits of HMAC-SHA256(salt, raw id). The mapping
//! is stable, so profiles still join a consumer's items, and a CDP holding
//! the same salt computes the same key; without the salt the raw id cannot
//! be recovered or confirmed by guessing.

use std::fmt;

#[derive(Clone, Default)]
pub struct ConsumerIds {
    salt: Option<String>,
}

impl fmt::Debug for ConsumerIds {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ConsumerIds")
            .field("salted", &self.salt.is_some())
            .finish()
    }
}

pub const HASHED_PREFIX: &str = "h_";

impl ConsumerIds {
    pub fn new(salt: Option<String>) -> ConsumerIds {
        ConsumerIds {
            salt: salt.filter(|salt| !salt.is_empty()),
        }
    }

    pub fn is_salted(&self) -> bool {
        self.salt.is_some()
    }

    /// The stored form of a raw id.
    pub fn stored(&self, raw: &str) -> String {
        match &self.salt {
            None => raw.to_string(),
            Some(salt) => {
                let mac = crate::webhooks::hmac_sha256(salt.as_bytes(), &[raw.as_bytes()]);
                format!("{HASHED_PREFIX}{}", &hex::encode(mac)[..32])
            }
        }
    }

    pub fn apply(&self, consumer_id: &mut Option<String>) {
        if self.salt.is_some() {
            if let Some(raw) = consumer_id.as_deref() {
                *consumer_id = Some(self.stored(raw));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_ids_are_stable_keyed_and_unreadable() {
        let ids = ConsumerIds::new(Some("pepper".into()));
        let first = ids.stored("13800138000");
        assert_eq!(first, ids.stored("13800138000"));
        assert!(first.starts_with(HASHED_PREFIX) && first.len() == 34);
        assert!(!first.contains("13800138000"));
        assert_ne!(
            first,
            ConsumerIds::new(Some("salt".into())).stored("13800138000")
        );
        let mut unsalted = Some("buyer".to_string());
        ConsumerIds::new(None).apply(&mut unsalted);
        assert_eq!(unsalted.as_deref(), Some("buyer"));
        assert!(!format!("{ids:?}").contains("pepper"));
    }
}
