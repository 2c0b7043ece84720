//! Alerts: tell a person when an issue spikes, or when one item carries a
//! severe signal.
//!
//! Rules live in a TOML file (`alerts_file`, default `lexicons/alerts.toml`;
//! format and validation in [`rules`]), checked at start against the
//! lexicon's tags and libraries and the configured notifiers. Three kinds:
//!
//! * `tag_spike` and `library_negative_rate` are *window* rules, evaluated by
//!   a background thread every `alerts.evaluate_seconds` over the index
//!   ([`evaluate`]): counts come from the one-pass stats collector, so an
//!   evaluation costs one collector pass per distinct time window (the
//!   current one and one per baseline day), shared by all rules.
//! * `severe` is a *per-item* rule ([`severe`]): it reads every analysed
//!   item once, as the `alerts` projection of the analysis events.
//!
//! Every alert has a key (rule id + tag, library or item id). Whether a key
//! fires is decided in the database, in the same transaction that records
//! the history row and queues the notifications ([`crate::store::alerts`]):
//! while a condition holds its key fires once; after it clears it may fire
//! again only after the rule's `cooldown_minutes`. Nothing about alert state
//! is kept in memory, so a restart never re-alerts.
//!
//! Evaluation takes `now` as a parameter: tests pin the clock, the thread
//! passes the wall clock. Notification messages are written here
//! ([`message`]) in Chinese, with counts, baseline, window, evidence and a
//! link to the pre-filtered search page, and stored with the alert; the
//! robot destinations only wrap them in each platform's format.

pub mod evaluate;
pub mod message;
pub mod rules;
pub mod severe;
#[cfg(test)]
mod test_fixture;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::index::{FeedbackIndex, IndexError};
use crate::nlp::lexicon::TagDefinition;
use crate::store::alerts::{AlertQuery, AlertRecord};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("cannot read alert rules file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("alert rules file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("alert rules file {path}: {field} (rule {rule_id:?}): {message}")]
    InvalidRule {
        path: PathBuf,
        field: String,
        rule_id: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// `[alerts]` in the settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Seconds between two evaluations of the window rules.
    pub evaluate_seconds: u64,
    /// Where alerts are sent, by name: `[alerts.notifiers.ops]`.
    pub notifiers: BTreeMap<String, NotifierConfig>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            evaluate_seconds: 60,
            notifiers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    /// DingTalk custom group robot (自定义机器人).
    Dingtalk,
    /// WeCom group robot (群机器人).
    Wecom,
    /// Any HTTP endpoint: the alert as JSON, signed like the inbound
    /// generic webhook contract.
    Generic,
}

/// One notifier. The URL carries the robot's token (DingTalk
/// `access_token=`, WeCom `key=`), so it is as secret as `secret`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub kind: NotifierKind,
    pub url: String,
    /// DingTalk: the robot's 加签 secret (`SEC...`), optional; generic:
    /// the HMAC secret, required; WeCom: not used.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierConfig")
            .field("kind", &self.kind)
            .field("url", &"<redacted>")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl NotifierConfig {
    /// Checked at start; the message names what is wrong, the caller the section.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("url must start with http:// or https://".into());
        }
        let secret_is_blank = self
            .secret
            .as_deref()
            .is_some_and(|secret| secret.trim().is_empty());
        if secret_is_blank {
            return Err("secret is empty; leave it out instead".into());
        }
        match self.kind {
            NotifierKind::Generic if self.secret.is_none() => {
                Err("a generic notifier needs a secret to sign with".into())
            }
            NotifierKind::Wecom if self.secret.is_some() => Err(
                "a WeCom group robot has no secret: its key is in the url (…/webhook/send?key=…)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

/// The delivery destinations of the configured notifiers. Runs on the
/// delivery thread: blocking HTTP clients must not be built on the async
/// runtime. A notifier whose client cannot be built is logged and left out
/// (its messages wait in the outbox).
pub fn destinations(
    notifiers: &BTreeMap<String, NotifierConfig>,
) -> Vec<Box<dyn crate::delivery::Destination>> {
    use crate::delivery::{dingtalk_robot::DingtalkRobot, http, wecom_robot::WecomRobot};
    let mut destinations: Vec<Box<dyn crate::delivery::Destination>> = Vec::new();
    for (name, notifier) in notifiers {
        let target = crate::store::alerts::outbox_target(name);
        let built: Result<Box<dyn crate::delivery::Destination>, _> = match notifier.kind {
            NotifierKind::Dingtalk => {
                DingtalkRobot::new(target, notifier.url.clone(), notifier.secret.clone())
                    .map(|robot| Box::new(robot) as Box<dyn crate::delivery::Destination>)
            }
            NotifierKind::Wecom => WecomRobot::new(target, notifier.url.clone())
                .map(|robot| Box::new(robot) as Box<dyn crate::delivery::Destination>),
            NotifierKind::Generic => http::client(&target).map(|client| {
                Box::new(http::SignedJsonDestination {
                    target,
                    url: notifier.url.clone(),
                    secret: notifier.secret.clone().unwrap_or_default(),
                    envelope: "alerts",
                    max_batch: GENERIC_MAX_BATCH,
                    client,
                }) as Box<dyn crate::delivery::Destination>
            }),
        };
        match built {
            Ok(destination) => destinations.push(destination),
            Err(error) => tracing::error!(notifier = %name, %error, "alert notifier unavailable"),
        }
    }
    destinations
}

/// Alerts per generic webhook call.
pub const GENERIC_MAX_BATCH: usize = 20;

/// Valid notifier names: they appear in rules and outbox targets.
pub fn valid_notifier_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// Everything the rules need at run time.
pub struct Alerts {
    pub rules: rules::RuleSet,
    pub store: Arc<Store>,
    pub index: Arc<FeedbackIndex>,
    /// Tag definitions, for names in messages.
    pub tags: Vec<TagDefinition>,
    /// Base of the links in messages (`public_url` setting).
    pub public_url: String,
    pub utc_offset_seconds: i64,
}

impl Alerts {
    /// Loads and validates the rules file against the lexicon's tags and
    /// the configured notifiers.
    pub fn open(
        settings: &crate::config::Settings,
        store: Arc<Store>,
        index: Arc<FeedbackIndex>,
        tags: &[TagDefinition],
    ) -> Result<Alerts, AlertsError> {
        let rules = rules::load(
            &settings.alerts_file,
            &rules::RuleContext {
                tags,
                notifier_names: settings.alerts.notifiers.keys().cloned().collect(),
            },
        )?;
        Ok(Alerts {
            rules,
            store,
            index,
            tags: tags.to_vec(),
            public_url: settings.public_url.clone(),
            utc_offset_seconds: settings.utc_offset_seconds(),
        })
    }

    pub(crate) fn tag_name(&self, tag_id: &str) -> String {
        self.tags
            .iter()
            .find(|definition| definition.id == tag_id)
            .map_or_else(|| tag_id.to_string(), |definition| definition.name.clone())
    }
}

/// The `alerts` widget of the issue board.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertsWidget {
    pub rows: Vec<AlertRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub detail: serde_json::Value,
    /// RFC 3339 in the board's time zone.
    pub fired_at: String,
    pub link: String,
}

impl AlertRow {
    pub fn from_record(record: AlertRecord, utc_offset_seconds: i64) -> AlertRow {
        AlertRow {
            id: record.id,
            rule: record.rule,
            kind: record.kind,
            severity: record.severity,
            title: record.title,
            detail: record.detail,
            fired_at: crate::time::format_rfc3339(record.fired_at, utc_offset_seconds),
            link: record.link,
        }
    }
}

/// Recent alerts fired in `[from, to)`, newest first, for the board widget.
pub fn recent_alerts(
    store: &Store,
    from: i64,
    to: i64,
    limit: usize,
    utc_offset_seconds: i64,
) -> Result<AlertsWidget, StoreError> {
    let page = store.alert_history(&AlertQuery {
        from: Some(from),
        to: Some(to),
        rule: None,
        limit,
        offset: 0,
    })?;
    Ok(AlertsWidget {
        rows: page
            .alerts
            .into_iter()
            .map(|entry| AlertRow::from_record(entry.record, utc_offset_seconds))
            .collect(),
    })
}

/// What boards read of the alert history (`alerts` widget).
pub struct BoardAlerts {
    store: Arc<Store>,
    utc_offset_seconds: i64,
}

impl BoardAlerts {
    pub fn new(store: Arc<Store>, utc_offset_seconds: i64) -> Self {
        BoardAlerts {
            store,
            utc_offset_seconds,
        }
    }
}

impl crate::boards::alert_hook::AlertSource for BoardAlerts {
    fn recent(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<AlertsWidget, crate::boards::alert_hook::AlertSourceError> {
        Ok(recent_alerts(
            &self.store,
            from,
            to,
            limit,
            self.utc_offset_seconds,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_debug_hides_url_and_secret() {
        let config = NotifierConfig {
            kind: NotifierKind::Dingtalk,
            url: "https://oapi.dingtalk.com/robot/send?access_token=abc123".into(),
            secret: Some("SECxyz".into()),
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("abc123") && !shown.contains("SECxyz"),
            "{shown}"
        );
    }

    #[test]
    fn the_board_widget_lists_recent_alerts_in_local_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), false).expect("open");
        let alert = |key: &str| crate::store::alerts::NewAlert {
            rule: "spike".into(),
            alert_key: key.into(),
            kind: "tag_spike".into(),
            severity: "warning".into(),
            title: format!("title {key}"),
            text: String::new(),
            detail: serde_json::json!({"current": 7}),
            link: "http://ui/#/search?tag=x".into(),
            targets: Vec::new(),
            cooldown_seconds: 0,
        };
        store.fire_alert(&alert("old"), 1_000).expect("fire");
        store
            .fire_alert(&alert("new"), 1_795_150_800)
            .expect("fire");
        let widget =
            recent_alerts(&store, 1_795_000_000, 1_796_000_000, 10, 8 * 3600).expect("widget");
        let row = serde_json::to_value(&widget).expect("json");
        assert_eq!(row["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(row["rows"][0]["title"], "title new");
        assert_eq!(row["rows"][0]["fired_at"], "2026-11-20T13:00:00+08:00");
        assert_eq!(row["rows"][0]["detail"]["current"], 7);
        assert_eq!(row["rows"][0]["link"], "http://ui/#/search?tag=x");
    }

    #[test]
    fn notifier_validation() {
        let notifier = |kind, url: &str, secret: Option<&str>| NotifierConfig {
            kind,
            url: url.into(),
            secret: secret.map(str::to_string),
        };
        assert!(notifier(
            NotifierKind::Dingtalk,
            "https://x/robot/send?access_token=t",
            None
        )
        .validate()
        .is_ok());
        assert!(notifier(NotifierKind::Generic, "https://x/hook", Some("s"))
            .validate()
            .is_ok());
        assert!(notifier(NotifierKind::Generic, "https://x/hook", None)
            .validate()
            .is_err());
        assert!(notifier(NotifierKind::Wecom, "ftp://x", None)
            .validate()
            .is_err());
        assert!(notifier(NotifierKind::Wecom, "https://x?key=k", Some("s"))
            .validate()
            .is_err());
        assert!(notifier(NotifierKind::Dingtalk, "https://x", Some(" "))
            .validate()
            .is_err());
        assert!(valid_notifier_name("ops-dingtalk_1"));
        assert!(!valid_notifier_name("ops dingtalk"));
    }
}
