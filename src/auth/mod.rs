//! API keys: who may call the API, for which tenant, for what.
//!
//! A key is `xs_` followed by 32 random base62 characters (≈ 190 bits). It
//! is shown once, when created, and stored only as its SHA-256 digest
//! ([`crate::store::control`]). Each key belongs to one tenant and carries
//! scopes: `ingest` (send feedback), `read` (search, boards, consumers,
//! follow-ups, alerts, exports; working the follow-up queue) and `admin`
//! (the tenant's keys). A request is answered for the key's tenant only;
//! no parameter names a tenant.
//!
//! Every key has a request budget per minute (its own, or the deployment's
//! `auth.rate_limit_per_minute`), enforced as a token bucket that holds ten
//! seconds' worth of requests: short bursts pass, sustained excess gets 429
//! with `Retry-After`.

pub mod rate_limit;

use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::control::{ControlStore, KeyRecord, NewKey};
use crate::store::StoreError;
use rate_limit::RateLimits;

pub const KEY_PREFIX: &str = "xs_";
const SECRET_CHARS: usize = 32;
/// Characters of the secret kept in the clear to tell keys apart.
const SHOWN_PREFIX_CHARS: usize = 10;
/// `last_used_at` is written at most this often per key (seconds): a write
/// per request would serialise every request on the control database.
const LAST_USED_RESOLUTION: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name.trim())
    }

    /// `"ingest,read"` → scopes; unknown names are an error naming them.
    pub fn parse_list(list: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in list.split(',').filter(|name| !name.trim().is_empty()) {
            let scope = Scope::parse(name)
                .ok_or_else(|| format!("unknown scope {name:?}; expected ingest, read or admin"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("a key needs at least one scope (ingest, read, admin)".into());
        }
        scopes.sort();
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Tenant ids name directories and appear in URLs: lowercase ASCII letters,
/// digits, `-` and `_`, starting with a letter or digit, at most 63 bytes.
pub fn validate_tenant_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.len() <= 63
        && id.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
        })
        && id
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid tenant id {id:?}: use 1–63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this endpoint needs an API key: send `Authorization: Bearer <key>`")]
    MissingKey,
    #[error("the API key is not valid or has been revoked")]
    InvalidKey,
    #[error("this API key lacks the `{}` scope", .0.as_str())]
    MissingScope(Scope),
    #[error("too many requests for this API key; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is calling: the tenant of the presented key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: String,
}

/// A key as created: its record and the secret, which is never shown again.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub record: KeyRecord,
    pub key: String,
}

pub struct Auth {
    control: Arc<ControlStore>,
    default_rate_per_minute: u32,
    rate_limits: RateLimits,
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut random = rand::rng();
    let body: String = (0..SECRET_CHARS)
        .map(|_| ALPHABET[random.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{KEY_PREFIX}{body}")
}

/// A secret chosen by the operator (`auth.bootstrap_key`) must look like a
/// generated one: the prefix and enough length to be unguessable.
pub fn validate_chosen_secret(secret: &str) -> Result<(), String> {
    if !secret.starts_with(KEY_PREFIX)
        || secret.len() < KEY_PREFIX.len() + SECRET_CHARS
        || !secret
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        return Err(format!(
            "a key must start with {KEY_PREFIX:?} and have at least {SECRET_CHARS} letters, digits or '_' after it"
        ));
    }
    Ok(())
}

impl Auth {
    pub fn new(control: Arc<ControlStore>, default_rate_per_minute: u32) -> Auth {
        Auth {
            control,
            default_rate_per_minute,
            rate_limits: RateLimits::default(),
        }
    }

    pub fn control(&self) -> &Arc<ControlStore> {
        &self.control
    }

    /// Creates a key for an existing tenant. `secret` is the operator's
    /// chosen secret (bootstrap); otherwise one is generated.
    pub fn create_key(
        &self,
        tenant: &str,
        name: &str,
        scopes: &[Scope],
        rate_limit_per_minute: Option<u32>,
        secret: Option<&str>,
        now: i64,
    ) -> Result<CreatedKey, AuthError> {
        if self.control.tenant(tenant)?.is_none() {
            return Err(AuthError::InvalidRequest(format!(
                "no tenant {tenant:?}; create it first (`xinsheng tenants create {tenant}`)"
            )));
        }
        if scopes.is_empty() {
            return Err(AuthError::InvalidRequest(
                "a key needs at least one scope (ingest, read, admin)".into(),
            ));
        }
        let name = name.trim();
        if name.chars().count() > 100 {
            return Err(AuthError::InvalidRequest(
                "a key name has at most 100 characters".into(),
            ));
        }
        let secret = match secret {
            Some(chosen) => {
                validate_chosen_secret(chosen).map_err(AuthError::InvalidRequest)?;
                chosen.to_string()
            }
            None => generate_secret(),
        };
        let record = self.control.insert_key(&NewKey {
            tenant,
            name,
            prefix: &secret[..SHOWN_PREFIX_CHARS.min(secret.len())],
            key_hash: &hash_secret(&secret),
            scopes: &Scope::join(scopes),
            rate_limit_per_minute,
            created_at: now,
        })?;
        Ok(CreatedKey {
            record,
            key: secret,
        })
    }

    /// Checks an `Authorization` header (`Bearer <key>`) or `X-Api-Key`
    /// value for `scope`, and spends one request of the key's budget.
    pub fn authenticate(
        &self,
        presented: Option<&str>,
        scope: Scope,
        now: i64,
    ) -> Result<Principal, AuthError> {
        let secret = presented
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .ok_or(AuthError::MissingKey)?;
        if !secret.starts_with(KEY_PREFIX) || secret.len() > 200 {
            return Err(AuthError::InvalidKey);
        }
        let record = self
            .control
            .key_by_hash(&hash_secret(secret))?
            .filter(|record| record.revoked_at.is_none())
            .ok_or(AuthError::InvalidKey)?;
        if !record
            .scopes
            .split(',')
            .any(|name| Scope::parse(name) == Some(scope))
        {
            return Err(AuthError::MissingScope(scope));
        }
        let per_minute = record
            .rate_limit_per_minute
            .unwrap_or(self.default_rate_per_minute);
        if let Err(wait) = self.rate_limits.try_acquire(record.id, per_minute) {
            return Err(AuthError::RateLimited {
                retry_after_seconds: wait.as_secs().max(1),
            });
        }
        if record
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
        {
            self.control.touch_key(record.id, now)?;
        }
        Ok(Principal {
            tenant: record.tenant,
        })
    }

    /// First start: the default tenant exists, and gets an all-scope key if
    /// it has none — `chosen` when the operator set one, else a generated
    /// key that is returned so the caller can show it (once).
    pub fn bootstrap(
        &self,
        default_tenant: &str,
        chosen: Option<&str>,
        now: i64,
    ) -> Result<Option<CreatedKey>, AuthError> {
        self.control
            .ensure_tenant(default_tenant, default_tenant, now)?;
        if self.control.count_keys(default_tenant)? > 0 {
            return Ok(None);
        }
        let created =
            self.create_key(default_tenant, "bootstrap", &Scope::ALL, None, chosen, now)?;
        Ok(Some(created))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(per_minute: u32) -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = Arc::new(ControlStore::open(dir.path()).expect("control"));
        (dir, Auth::new(control, per_minute))
    }

    #[test]
    fn scopes_parse_and_refuse_unknown_names() {
        assert_eq!(
            Scope::parse_list("read, ingest,read").expect("scopes"),
            vec![Scope::Ingest, Scope::Read]
        );
        assert!(Scope::parse_list("read,write")
            .expect_err("unknown")
            .contains("\"write\""));
        assert!(Scope::parse_list(" , ").is_err());
    }

    #[test]
    fn tenant_ids_are_safe_path_segments() {
        for good in ["default", "brand-a", "b2", "x_y"] {
            assert!(validate_tenant_id(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "../x", "a/b", "-a", "品牌", &"a".repeat(64)] {
            assert!(validate_tenant_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_stored_hashed_checked_for_scope_and_revocable() {
        let (dir, auth) = auth(6_000);
        let first = auth
            .bootstrap("default", None, 10)
            .expect("bootstrap")
            .expect("first start creates a key");
        assert!(first.key.starts_with(KEY_PREFIX) && first.key.len() == 35);
        assert!(auth
            .bootstrap("default", None, 11)
            .expect("again")
            .is_none());
        let database = std::fs::read(dir.path().join("control.db")).expect("db");
        assert!(
            !database
                .windows(first.key.len())
                .any(|window| window == first.key.as_bytes()),
            "the secret itself is never stored"
        );

        let principal = auth
            .authenticate(Some(&first.key), Scope::Admin, 20)
            .expect("valid");
        assert_eq!(principal.tenant, "default");

        auth.control().ensure_tenant("b", "B", 1).expect("tenant");
        let reader = auth
            .create_key("b", "reader", &[Scope::Read], None, None, 30)
            .expect("key");
        assert!(matches!(
            auth.authenticate(Some(&reader.key), Scope::Ingest, 31),
            Err(AuthError::MissingScope(Scope::Ingest))
        ));
        assert_eq!(
            auth.authenticate(Some(&reader.key), Scope::Read, 31)
                .expect("read")
                .tenant,
            "b"
        );
        auth.control()
            .revoke_key(reader.record.id, Some("b"), 40)
            .expect("revoke");
        assert!(matches!(
            auth.authenticate(Some(&reader.key), Scope::Read, 41),
            Err(AuthError::InvalidKey)
        ));
        assert!(matches!(
            auth.authenticate(None, Scope::Read, 41),
            Err(AuthError::MissingKey)
        ));
        assert!(matches!(
            auth.authenticate(Some("xs_not-a-key"), Scope::Read, 41),
            Err(AuthError::InvalidKey)
        ));
        assert!(auth
            .create_key("nobody", "x", &[Scope::Read], None, None, 1)
            .is_err());
        assert!(auth
            .create_key("b", "x", &[Scope::Read], None, Some("short"), 1)
            .is_err());
    }

    #[test]
    fn a_key_over_its_budget_is_refused_with_a_wait() {
        let (_dir, auth) = auth(6_000);
        auth.control().ensure_tenant("t", "T", 1).expect("tenant");
        // 60 per minute: a bucket of ten seconds' worth = 10 requests.
        let key = auth
            .create_key("t", "slow", &[Scope::Read], Some(60), None, 1)
            .expect("key");
        for _ in 0..10 {
            auth.authenticate(Some(&key.key), Scope::Read, 2)
                .expect("within budget");
        }
        match auth.authenticate(Some(&key.key), Scope::Read, 2) {
            Err(AuthError::RateLimited {
                retry_after_seconds,
            }) => assert!((1..=2).contains(&retry_after_seconds)),
            other => panic!("expected rate limiting, got {other:?}"),
        }
    }
}
