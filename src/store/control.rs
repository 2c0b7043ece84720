//! The control database (`control.db` in the data directory): tenants and
//! their API keys. It is separate from the tenants' own databases so that a
//! tenant's data directory holds nothing but that tenant's data, and the
//! admin CLI can change keys while the service runs (SQLite WAL, short
//! transactions).
//!
//! Keys are stored as SHA-256 digests of the secret, never the secret: the
//! secrets are 190-bit random strings, so a plain digest cannot be reversed
//! by guessing (a slow password hash would buy nothing and cost every
//! request). A short prefix is kept to recognise a key in listings.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{classify, StoreError};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    rate_limit_per_minute INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, id);
"#;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    /// Comma-separated scope names, as stored.
    pub scopes: String,
    /// Requests per minute; `None` = the deployment's default.
    pub rate_limit_per_minute: Option<u32>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewKey<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub rate_limit_per_minute: Option<u32>,
    pub created_at: i64,
}

pub struct ControlStore {
    connection: Mutex<Connection>,
}

const KEY_COLUMNS: &str = "id, tenant, name, prefix, scopes, rate_limit_per_minute, created_at, \
                           last_used_at, revoked_at";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        scopes: row.get(4)?,
        rate_limit_per_minute: row.get(5)?,
        created_at: row.get(6)?,
        last_used_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

impl ControlStore {
    pub fn open(data_dir: &Path) -> Result<ControlStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let connection = Connection::open(data_dir.join("control.db"))?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.execute_batch(SCHEMA)?;
        Ok(ControlStore {
            connection: Mutex::new(connection),
        })
    }

    /// Creates the tenant unless it exists; true when it was created.
    pub fn ensure_tenant(&self, id: &str, name: &str, now: i64) -> Result<bool, StoreError> {
        let connection = self.connection.lock();
        let changed = connection
            .execute(
                "INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, name, now],
            )
            .map_err(classify)?;
        Ok(changed == 1)
    }

    pub fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError> {
        let connection = self.connection.lock();
        Ok(connection
            .query_row(
                "SELECT id, name, created_at FROM tenants WHERE id = ?1",
                [id],
                |row| {
                    Ok(TenantRecord {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        created_at: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(classify)?)
    }

    pub fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare("SELECT id, name, created_at FROM tenants ORDER BY id")
            .map_err(classify)?;
        let rows = statement
            .query_map([], |row| {
                Ok(TenantRecord {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    created_at: row.get(2)?,
                })
            })
            .map_err(classify)?;
        Ok(rows.collect::<Result<_, _>>().map_err(classify)?)
    }

    pub fn insert_key(&self, key: &NewKey<'_>) -> Result<KeyRecord, StoreError> {
        let connection = self.connection.lock();
        connection
            .execute(
                "INSERT INTO api_keys (tenant, name, prefix, key_hash, scopes, \
                 rate_limit_per_minute, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.tenant,
                    key.name,
                    key.prefix,
                    key.key_hash,
                    key.scopes,
                    key.rate_limit_per_minute,
                    key.created_at
                ],
            )
            .map_err(classify)?;
        let id = connection.last_insert_rowid();
        Ok(connection
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                [id],
                key_from_row,
            )
            .map_err(classify)?)
    }

    /// The key whose secret hashes to `key_hash`, revoked or not.
    pub fn key_by_hash(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"
            ))
            .map_err(classify)?;
        let key = statement
            .query_row([key_hash], key_from_row)
            .optional()
            .map_err(classify)?;
        Ok(key)
    }

    /// Keys of one tenant, or of every tenant.
    pub fn keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, StoreError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE ?1 IS NULL OR tenant = ?1 \
                 ORDER BY tenant, id"
            ))
            .map_err(classify)?;
        let rows = statement
            .query_map([tenant], key_from_row)
            .map_err(classify)?;
        Ok(rows.collect::<Result<_, _>>().map_err(classify)?)
    }

    pub fn count_keys(&self, tenant: &str) -> Result<u64, StoreError> {
        let connection = self.connection.lock();
        let count: i64 = connection
            .query_row(
                "SELECT COUNT(*) FROM api_keys WHERE tenant = ?1",
                [tenant],
                |row| row.get(0),
            )
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    /// Revokes a key of `tenant` (any tenant when `None`). `None` when there
    /// is no such key; a key revoked before keeps its first revocation time.
    pub fn revoke_key(
        &self,
        id: i64,
        tenant: Option<&str>,
        now: i64,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let connection = self.connection.lock();
        connection
            .execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) \
                 WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
                params![id, tenant, now],
            )
            .map_err(classify)?;
        Ok(connection
            .query_row(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)"
                ),
                params![id, tenant],
                key_from_row,
            )
            .optional()
            .map_err(classify)?)
    }

    pub fn touch_key(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let connection = self.connection.lock();
        connection
            .prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")
            .map_err(classify)?
            .execute(params![id, now])
            .map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key<'a>(tenant: &'a str, hash: &'a str) -> NewKey<'a> {
        NewKey {
            tenant,
            name: "test",
            prefix: "xs_abc",
            key_hash: hash,
            scopes: "read",
            rate_limit_per_minute: None,
            created_at: 100,
        }
    }

    #[test]
    fn keys_belong_to_tenants_and_revocation_is_scoped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ControlStore::open(dir.path()).expect("open");
        assert!(store.ensure_tenant("a", "A", 1).expect("tenant"));
        assert!(!store.ensure_tenant("a", "A again", 2).expect("tenant"));
        store.ensure_tenant("b", "B", 1).expect("tenant");
        let key_a = store.insert_key(&new_key("a", "hash-a")).expect("key");
        store.insert_key(&new_key("b", "hash-b")).expect("key");
        assert!(
            store.insert_key(&new_key("nobody", "hash-c")).is_err(),
            "a key needs an existing tenant"
        );
        assert_eq!(
            store.key_by_hash("hash-a").expect("lookup"),
            Some(key_a.clone())
        );
        assert_eq!(store.keys(Some("b")).expect("keys").len(), 1);
        assert_eq!(store.keys(None).expect("keys").len(), 2);
        // Tenant b cannot revoke tenant a's key.
        assert_eq!(
            store.revoke_key(key_a.id, Some("b"), 5).expect("revoke"),
            None
        );
        let revoked = store
            .revoke_key(key_a.id, Some("a"), 5)
            .expect("revoke")
            .expect("found");
        assert_eq!(revoked.revoked_at, Some(5));
        let again = store
            .revoke_key(key_a.id, None, 9)
            .expect("revoke")
            .expect("found");
        assert_eq!(again.revoked_at, Some(5));
        store.touch_key(key_a.id, 7).expect("touch");
        assert_eq!(
            store
                .key_by_hash("hash-a")
                .expect("lookup")
                .and_then(|key| key.last_used_at),
            Some(7)
        );
    }
}
