//! Alert state and history.
//!
//! `alert_state` has one row per alert key (rule id + tag, library or item
//! id): whether the condition is active, when it last fired and when it
//! last cleared. Firing is one transaction: check the state, insert the
//! history row, mark the key active and queue one outbox message per
//! notifier, so an alert is recorded and notified together or not at all,
//! and a restart (the state is here, not in memory) never re-alerts.
//!
//! Dedup and cooldown: a key fires when its condition holds and it is not
//! active; it then stays active (silent) until an evaluation finds the
//! condition gone, which clears it. A cleared key fires again only once
//! `cooldown` has passed since it cleared, so a count wobbling around the
//! threshold does not alert every round. Keys of per-item rules are never
//! cleared: an item alerts once, however often it is analysed.
//!
//! Delivery status: each notification is an outbox row, linked to its alert
//! in `alert_deliveries`. The outbox never drops an undelivered message and
//! prunes delivered ones after a retention period, so a linked row that is
//! gone was delivered.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::events::set_projection_cursor;
use super::outbox::enqueue_outbox_in;
use super::{classify, Store, StoreError};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS alert_state (
    alert_key TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    active INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    cleared_at INTEGER
);
CREATE INDEX IF NOT EXISTS alert_state_by_rule ON alert_state (rule, active);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    alert_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    detail TEXT NOT NULL,
    link TEXT NOT NULL,
    fired_at INTEGER NOT NULL,
    targets TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_history_by_time ON alert_history (fired_at, id);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id INTEGER NOT NULL REFERENCES alert_history (id),
    notifier TEXT NOT NULL,
    outbox_id INTEGER NOT NULL,
    PRIMARY KEY (alert_id, notifier)
);
"#;

/// An alert about to fire, as the rules built it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub rule: String,
    /// Rule id plus what it is about: `tag-spike:logistics.speed`.
    pub alert_key: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    /// Markdown body for the robots (Chinese, with counts and a link).
    pub text: String,
    /// Counts, baseline, window, evidence: what the rule saw.
    pub detail: serde_json::Value,
    /// The pre-filtered search page.
    pub link: String,
    /// Notifier names to queue a message for.
    pub targets: Vec<String>,
    /// How long a cleared key stays silent, in seconds.
    pub cooldown_seconds: i64,
}

/// A fired alert: a history row, and the payload of its outbox messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: i64,
    pub rule: String,
    pub key: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub text: String,
    pub detail: serde_json::Value,
    pub link: String,
    /// Unix seconds.
    pub fired_at: i64,
    pub targets: Vec<String>,
}

/// Where one notification of an alert stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDelivery {
    pub notifier: String,
    /// `pending` (not tried yet), `retrying` (failed at least once) or `delivered`.
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix seconds; unknown once the outbox pruned the delivered row.
    pub delivered_at: Option<i64>,
}

/// A history row with its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEntry {
    pub record: AlertRecord,
    pub deliveries: Vec<AlertDelivery>,
}

/// The outbox target of a notifier's alert messages.
pub fn outbox_target(notifier: &str) -> String {
    format!("alerts.{notifier}")
}

#[derive(Debug, Clone, PartialEq)]
pub enum FireOutcome {
    Fired(Box<AlertRecord>),
    /// The key is active: this is the same spike, already alerted.
    AlreadyActive,
    /// The key cleared less than its cooldown ago.
    CoolingDown {
        until: i64,
    },
}

#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, exclusive.
    pub to: Option<i64>,
    pub rule: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub total: u64,
    pub alerts: Vec<AlertEntry>,
}

/// Fires `alert` inside `transaction` unless its key is active or cooling
/// down: history row, key state and one outbox message per notifier (the
/// payload is the [`AlertRecord`]). The caller commits.
pub(crate) fn fire_alert_in(
    transaction: &Transaction<'_>,
    alert: &NewAlert,
    now: i64,
) -> Result<FireOutcome, StoreError> {
    let state: Option<(bool, Option<i64>)> = transaction
        .prepare_cached("SELECT active, cleared_at FROM alert_state WHERE alert_key = ?1")?
        .query_row(params![alert.alert_key], |row| {
            Ok((row.get::<_, i64>(0)? != 0, row.get(1)?))
        })
        .optional()
        .map_err(classify)?;
    match state {
        Some((true, _)) => return Ok(FireOutcome::AlreadyActive),
        Some((false, Some(cleared_at))) if now < cleared_at + alert.cooldown_seconds => {
            return Ok(FireOutcome::CoolingDown {
                until: cleared_at + alert.cooldown_seconds,
            })
        }
        _ => {}
    }
    let detail_json = alert.detail.to_string();
    // A list of names always serialises.
    let targets_json = serde_json::to_string(&alert.targets).unwrap_or_else(|_| "[]".into());
    transaction
        .prepare_cached(
            "INSERT INTO alert_history (rule, alert_key, kind, severity, title, text, detail, link, fired_at, targets)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            alert.rule,
            alert.alert_key,
            alert.kind,
            alert.severity,
            alert.title,
            alert.text,
            detail_json,
            alert.link,
            now,
            targets_json
        ])
        .map_err(classify)?;
    let id = transaction.last_insert_rowid();
    transaction
        .prepare_cached(
            "INSERT INTO alert_state (alert_key, rule, active, fired_at, cleared_at) VALUES (?1, ?2, 1, ?3, NULL)
             ON CONFLICT (alert_key) DO UPDATE SET active = 1, fired_at = excluded.fired_at, cleared_at = NULL",
        )?
        .execute(params![alert.alert_key, alert.rule, now])
        .map_err(classify)?;
    let record = AlertRecord {
        id,
        rule: alert.rule.clone(),
        key: alert.alert_key.clone(),
        kind: alert.kind.clone(),
        severity: alert.severity.clone(),
        title: alert.title.clone(),
        text: alert.text.clone(),
        detail: alert.detail.clone(),
        link: alert.link.clone(),
        fired_at: now,
        targets: alert.targets.clone(),
    };
    let payload = serde_json::to_value(&record).map_err(|error| StoreError::Corrupt {
        id,
        message: format!("alert does not serialise: {error}"),
    })?;
    for notifier in &alert.targets {
        let outbox_id = enqueue_outbox_in(transaction, &outbox_target(notifier), &payload, now)?;
        transaction
            .prepare_cached(
                "INSERT INTO alert_deliveries (alert_id, notifier, outbox_id) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, notifier, outbox_id])
            .map_err(classify)?;
    }
    Ok(FireOutcome::Fired(Box::new(record)))
}

fn row_to_alert(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AlertRecord, StoreError>> {
    let id: i64 = row.get(0)?;
    let detail_text: String = row.get(7)?;
    let targets_text: String = row.get(10)?;
    let corrupt = |message: String| StoreError::Corrupt { id, message };
    let detail = match serde_json::from_str(&detail_text) {
        Ok(detail) => detail,
        Err(error) => return Ok(Err(corrupt(format!("alert detail: {error}")))),
    };
    let targets = match serde_json::from_str(&targets_text) {
        Ok(targets) => targets,
        Err(error) => return Ok(Err(corrupt(format!("alert targets: {error}")))),
    };
    Ok(Ok(AlertRecord {
        id,
        rule: row.get(1)?,
        key: row.get(2)?,
        kind: row.get(3)?,
        severity: row.get(4)?,
        title: row.get(5)?,
        text: row.get(6)?,
        detail,
        link: row.get(8)?,
        fired_at: row.get(9)?,
        targets,
    }))
}

const ALERT_COLUMNS: &str =
    "id, rule, alert_key, kind, severity, title, text, detail, link, fired_at, targets";

impl Store {
    /// Fires one alert (see the module docs for when it stays silent).
    pub fn fire_alert(&self, alert: &NewAlert, now: i64) -> Result<FireOutcome, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let outcome = fire_alert_in(&transaction, alert, now)?;
        transaction.commit().map_err(classify)?;
        Ok(outcome)
    }

    /// Fires the alerts a projection raised for a batch of analysis events
    /// and moves the projection's cursor to `seq`, in one transaction: after
    /// a crash the batch is either wholly applied or applied again, and
    /// applying again fires nothing new (the keys are active).
    pub fn fire_alerts_for_events(
        &self,
        alerts: &[NewAlert],
        projection: &str,
        seq: i64,
        now: i64,
    ) -> Result<Vec<FireOutcome>, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let mut outcomes = Vec::with_capacity(alerts.len());
        for alert in alerts {
            outcomes.push(fire_alert_in(&transaction, alert, now)?);
        }
        set_projection_cursor(&transaction, projection, seq)?;
        transaction.commit().map_err(classify)?;
        Ok(outcomes)
    }

    /// Whether `key` would fire now (not active, not cooling down): lets a
    /// caller skip building a message that would be dropped. [`Store::fire_alert`]
    /// decides again in its transaction.
    pub fn alert_may_fire(
        &self,
        key: &str,
        cooldown_seconds: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let connection = self.connection.lock();
        let state: Option<(bool, Option<i64>)> = connection
            .prepare_cached("SELECT active, cleared_at FROM alert_state WHERE alert_key = ?1")?
            .query_row(params![key], |row| {
                Ok((row.get::<_, i64>(0)? != 0, row.get(1)?))
            })
            .optional()
            .map_err(classify)?;
        Ok(match state {
            None => true,
            Some((true, _)) => false,
            Some((false, cleared_at)) => {
                cleared_at.is_none_or(|cleared_at| now >= cleared_at + cooldown_seconds)
            }
        })
    }

    /// Clears the active keys of `rule` whose condition no longer holds
    /// (every active key not in `holding_keys`); returns the cleared keys.
    pub fn clear_alerts(
        &self,
        rule: &str,
        holding_keys: &[String],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(classify)?;
        let active: Vec<String> = transaction
            .prepare_cached("SELECT alert_key FROM alert_state WHERE rule = ?1 AND active = 1")?
            .query_map(params![rule], |row| row.get(0))
            .map_err(classify)?
            .collect::<Result<_, _>>()
            .map_err(classify)?;
        let cleared: Vec<String> = active
            .into_iter()
            .filter(|key| !holding_keys.contains(key))
            .collect();
        {
            let mut clear = transaction.prepare_cached(
                "UPDATE alert_state SET active = 0, cleared_at = ?2 WHERE alert_key = ?1",
            )?;
            for key in &cleared {
                clear.execute(params![key, now]).map_err(classify)?;
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(cleared)
    }

    /// Fired alerts, newest first.
    pub fn alert_history(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let connection = self.connection.lock();
        let condition = "(?1 IS NULL OR fired_at >= ?1) AND (?2 IS NULL OR fired_at < ?2) AND (?3 IS NULL OR rule = ?3)";
        let total: i64 = connection
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM alert_history WHERE {condition}"
            ))?
            .query_row(params![query.from, query.to, query.rule], |row| row.get(0))
            .map_err(classify)?;
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert_history WHERE {condition} ORDER BY fired_at DESC, id DESC LIMIT ?4 OFFSET ?5"
        ))?;
        let rows = statement
            .query_map(
                params![
                    query.from,
                    query.to,
                    query.rule,
                    query.limit as i64,
                    query.offset as i64
                ],
                row_to_alert,
            )
            .map_err(classify)?;
        let mut records = Vec::new();
        for row in rows {
            records.push(row.map_err(classify)??);
        }
        let mut deliveries_of = connection.prepare_cached(
            "SELECT d.notifier, o.id, o.attempts, o.last_error, o.delivered_at
             FROM alert_deliveries d LEFT JOIN outbox o ON o.id = d.outbox_id
             WHERE d.alert_id = ?1 ORDER BY d.notifier",
        )?;
        let mut alerts = Vec::with_capacity(records.len());
        for record in records {
            let deliveries = deliveries_of
                .query_map(params![record.id], |row| {
                    let outbox_row: Option<i64> = row.get(1)?;
                    let attempts: Option<u32> = row.get(2)?;
                    let delivered_at: Option<i64> = row.get(4)?;
                    let status = match (outbox_row, delivered_at, attempts) {
                        (None, _, _) | (_, Some(_), _) => "delivered",
                        (Some(_), None, Some(tries)) if tries > 0 => "retrying",
                        _ => "pending",
                    };
                    Ok(AlertDelivery {
                        notifier: row.get(0)?,
                        status,
                        attempts: attempts.unwrap_or(0),
                        last_error: row.get(3)?,
                        delivered_at,
                    })
                })
                .map_err(classify)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            alerts.push(AlertEntry { record, deliveries });
        }
        Ok(AlertPage {
            total: total as u64,
            alerts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(key: &str) -> NewAlert {
        NewAlert {
            rule: "spike".into(),
            alert_key: key.into(),
            kind: "tag_spike".into(),
            severity: "warning".into(),
            title: "配送时效 差评激增".into(),
            text: "text".into(),
            detail: serde_json::json!({"current": 9}),
            link: "http://127.0.0.1:8080/#/search".into(),
            targets: vec!["ops".into()],
            cooldown_seconds: 600,
        }
    }

    #[test]
    fn a_key_fires_once_while_active_and_again_after_cooldown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let key = "spike:logistics.speed";
        assert!(matches!(
            store.fire_alert(&alert(key), 1_000).expect("fire"),
            FireOutcome::Fired(_)
        ));
        assert_eq!(
            store.fire_alert(&alert(key), 1_060).expect("fire"),
            FireOutcome::AlreadyActive
        );
        assert_eq!(
            store
                .clear_alerts("spike", &[key.to_string()], 1_100)
                .expect("clear"),
            Vec::<String>::new(),
            "still holding"
        );
        assert_eq!(
            store.clear_alerts("spike", &[], 1_200).expect("clear"),
            vec![key.to_string()]
        );
        assert_eq!(
            store.fire_alert(&alert(key), 1_300).expect("fire"),
            FireOutcome::CoolingDown { until: 1_800 }
        );
        assert!(matches!(
            store.fire_alert(&alert(key), 1_800).expect("fire"),
            FireOutcome::Fired(_)
        ));
        let page = store
            .alert_history(&AlertQuery {
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("history");
        assert_eq!(page.total, 2);
        assert_eq!(page.alerts[0].record.fired_at, 1_800, "newest first");
        assert_eq!(page.alerts[1].record.detail["current"], 9);
    }

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path(), false).expect("open");
            store.fire_alert(&alert("k"), 1_000).expect("fire");
        }
        let store = Store::open(dir.path(), false).expect("reopen");
        assert_eq!(
            store.fire_alert(&alert("k"), 2_000).expect("fire"),
            FireOutcome::AlreadyActive
        );
    }

    #[test]
    fn firing_queues_one_message_per_notifier_and_reports_its_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let mut with_two = alert("k");
        with_two.targets = vec!["ding".into(), "hook".into()];
        let FireOutcome::Fired(record) = store.fire_alert(&with_two, 1_000).expect("fire") else {
            panic!("fires");
        };
        let due = store
            .due_outbox(&outbox_target("ding"), 1_000, 10)
            .expect("due");
        assert_eq!(due.len(), 1);
        let payload: AlertRecord = serde_json::from_value(due[0].payload.clone()).expect("record");
        assert_eq!(payload, *record);
        store
            .outbox_failed(&[due[0].id], 1_010, "HTTP 500")
            .expect("failed");
        let hook = store
            .due_outbox(&outbox_target("hook"), 1_000, 10)
            .expect("due");
        store
            .outbox_delivered(&[hook[0].id], 1_001)
            .expect("delivered");
        let page = store
            .alert_history(&AlertQuery {
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("history");
        let statuses: Vec<(&str, &str, u32)> = page.alerts[0]
            .deliveries
            .iter()
            .map(|delivery| {
                (
                    delivery.notifier.as_str(),
                    delivery.status,
                    delivery.attempts,
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [("ding", "retrying", 1), ("hook", "delivered", 1)]
        );
        assert_eq!(
            page.alerts[0].deliveries[0].last_error.as_deref(),
            Some("HTTP 500")
        );
        // The same key again: nothing more is queued.
        store.fire_alert(&with_two, 1_020).expect("fire");
        assert_eq!(
            store.outbox_counts().expect("counts")[&outbox_target("hook")].pending,
            0
        );
    }

    #[test]
    fn history_filters_by_time_and_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        store.fire_alert(&alert("a"), 100).expect("fire");
        store.fire_alert(&alert("b"), 200).expect("fire");
        let mut other = alert("c");
        other.rule = "severe".into();
        store.fire_alert(&other, 300).expect("fire");
        let query = |from, to, rule: Option<&str>| {
            store
                .alert_history(&AlertQuery {
                    from,
                    to,
                    rule: rule.map(str::to_string),
                    limit: 10,
                    offset: 0,
                })
                .expect("history")
                .alerts
                .into_iter()
                .map(|entry| entry.record.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(query(Some(150), None, None), ["c", "b"]);
        assert_eq!(query(None, Some(300), None), ["b", "a"]);
        assert_eq!(query(None, None, Some("severe")), ["c"]);
    }
}
