//! One typed settings struct. Layers, later wins: built-in defaults →
//! `xinsheng.toml` in the data directory (or the file named by
//! `XINSHENG_CONFIG`) → `XINSHENG_*` environment variables → CLI flags.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Database, index and config live here.
    pub data_dir: PathBuf,
    pub listen: String,
    /// Directory of the lexicon files.
    pub lexicon_dir: PathBuf,
    /// Board definitions (`boards/*.toml`) and the web UI's files (`web/`).
    pub dashboards_dir: PathBuf,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most items in one ingest request.
    pub max_batch_items: usize,
    /// Longest accepted feedback text, in characters.
    pub max_text_chars: usize,
    /// Longest search query (`q`), in characters.
    pub max_query_chars: usize,
    /// Most distinct words in a search query.
    pub max_query_terms: usize,
    /// Ingest answers 429 while more items than this wait for analysis
    /// (0 = never refuse).
    pub max_pending_items: u64,
    /// Items analysed and indexed per worker round.
    pub analysis_batch: usize,
    /// Longest time staged index documents wait for a commit, in milliseconds.
    pub commit_interval_ms: u64,
    /// fsync on every database commit (survives power loss, slower).
    pub full_durability: bool,
    /// Offset of the boards' calendar from UTC, in hours (8 = China Standard Time).
    pub utc_offset_hours: i32,
    /// `model` (learned models plus rules) or `lexicon` (rules alone).
    pub tagger: TaggerKind,
    /// Directory of `model.json` and the files it names.
    pub model_dir: PathBuf,
    /// ONNX Runtime shared library (`make onnxruntime` unpacks it from the
    /// `onnxruntime` wheel on PyPI).
    pub onnxruntime_lib: PathBuf,
    /// Load `examples/demo_feedback.jsonl` at start (idempotent).
    pub demo: bool,
    pub demo_file: PathBuf,
    /// Chat platforms' webhooks (`POST /webhooks/{platform}`); each is off
    /// until its secrets are set.
    pub webhooks: WebhookSettings,
    /// Alert rules (TOML, see `lexicons/alerts.toml`).
    pub alerts_file: PathBuf,
    /// Where people open the web UI; links in alert messages start here.
    pub public_url: String,
    /// Alert evaluation and notifiers (`[alerts]`, `[alerts.notifiers.NAME]`).
    pub alerts: crate::alerts::AlertSettings,
    /// Retries of outgoing deliveries (CDP pushes, alert notifications).
    pub delivery: DeliverySettings,
    /// Consumer id hashing and the CDP push.
    pub consumers: crate::consumers::ConsumerSettings,
    /// Mask phone, ID card and bank card numbers, e-mail addresses and
    /// marked names and addresses at ingest, before storing or indexing.
    pub mask_personal_data: bool,
    /// Also keep the unmasked originals, apart from the masked items and
    /// readable only with the `admin` scope. Off by default.
    pub keep_raw_text: bool,
    /// The follow-up queue (`[followups]`): which items enter it.
    pub followups: crate::followups::FollowupSettings,
    /// API keys (`[auth]`).
    pub auth: AuthSettings,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The default tenant's first key, instead of a generated one (for
    /// automation and tests; `xs_` + at least 32 characters). Used only
    /// when the default tenant has no key yet.
    pub bootstrap_key: Option<String>,
    /// Requests per minute per key unless the key has its own limit
    /// (0 = unlimited). A key may burst ten seconds' worth.
    pub rate_limit_per_minute: u32,
}
crate::webhooks::redacted_debug!(AuthSettings: bootstrap_key);

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            bootstrap_key: None,
            rate_limit_per_minute: 6_000,
        }
    }
}

/// What a tenant's own `xinsheng.toml` (in `<data_dir>/tenants/<id>/`) may
/// set: the sections that belong to a brand. Everything else is the
/// deployment's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantOverrides {
    pub webhooks: Option<WebhookSettings>,
    pub consumers: Option<crate::consumers::ConsumerSettings>,
    pub alerts: Option<crate::alerts::AlertSettings>,
    pub followups: Option<crate::followups::FollowupSettings>,
    pub public_url: Option<String>,
    pub mask_personal_data: Option<bool>,
    pub keep_raw_text: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// Wait after a first failed delivery; doubles per failure.
    pub initial_backoff_seconds: u64,
    /// Longest wait between two attempts.
    pub max_backoff_seconds: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            initial_backoff_seconds: 5,
            max_backoff_seconds: 3600,
        }
    }
}

impl DeliverySettings {
    pub fn backoff(&self) -> crate::delivery::Backoff {
        crate::delivery::Backoff {
            initial: std::time::Duration::from_secs(self.initial_backoff_seconds),
            max: std::time::Duration::from_secs(self.max_backoff_seconds),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// A conversation with no message for this long is closed: the next
    /// message starts a new feedback item.
    pub chat_idle_minutes: u64,
    pub wecom: Option<crate::webhooks::wecom::WecomConfig>,
    pub dingtalk: Option<crate::webhooks::dingtalk::DingtalkConfig>,
    pub feishu: Option<crate::webhooks::feishu::FeishuConfig>,
    pub slack: Option<crate::webhooks::slack::SlackConfig>,
    /// Any other system, by name: `[webhooks.generic.zendesk]` receives at
    /// `POST /webhooks/zendesk` and stores on channel `zendesk`.
    pub generic: std::collections::BTreeMap<String, crate::webhooks::generic::GenericConfig>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            chat_idle_minutes: 30,
            wecom: None,
            dingtalk: None,
            feishu: None,
            slack: None,
            generic: Default::default(),
        }
    }
}

/// Platform names that cannot be used for generic webhooks.
pub const PLATFORMS: [&str; 4] = [
    crate::webhooks::wecom::PLATFORM,
    crate::webhooks::dingtalk::PLATFORM,
    crate::webhooks::feishu::PLATFORM,
    crate::webhooks::slack::PLATFORM,
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./data"),
            listen: "127.0.0.1:8080".to_string(),
            lexicon_dir: PathBuf::from("./lexicons"),
            dashboards_dir: PathBuf::from("./dashboards"),
            max_body_bytes: 32 * 1024 * 1024,
            max_batch_items: 10_000,
            max_text_chars: 20_000,
            max_query_chars: crate::index::search::QueryLimits::default().max_chars,
            max_query_terms: crate::index::search::QueryLimits::default().max_terms,
            max_pending_items: 200_000,
            analysis_batch: 2_000,
            commit_interval_ms: 500,
            full_durability: false,
            utc_offset_hours: 8,
            tagger: TaggerKind::Model,
            model_dir: PathBuf::from("./models"),
            onnxruntime_lib: PathBuf::from("./.onnxruntime/libonnxruntime.so"),
            demo: false,
            demo_file: PathBuf::from("./examples/demo_feedback.jsonl"),
            webhooks: WebhookSettings::default(),
            alerts_file: PathBuf::from("./lexicons/alerts.toml"),
            public_url: "http://127.0.0.1:8080".to_string(),
            alerts: crate::alerts::AlertSettings::default(),
            delivery: DeliverySettings::default(),
            consumers: Default::default(),
            mask_personal_data: true,
            keep_raw_text: false,
            followups: crate::followups::FollowupSettings::default(),
            auth: AuthSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaggerKind {
    Model,
    Lexicon,
}

impl std::str::FromStr for TaggerKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "model" => Ok(TaggerKind::Model),
            "lexicon" => Ok(TaggerKind::Lexicon),
            other => Err(format!("expected `model` or `lexicon`, got {other:?}")),
        }
    }
}

impl Settings {
    pub fn tagger_choice(&self) -> crate::nlp::TaggerChoice {
        match self.tagger {
            TaggerKind::Lexicon => crate::nlp::TaggerChoice::Lexicon,
            TaggerKind::Model => crate::nlp::TaggerChoice::Model {
                model_dir: self.model_dir.clone(),
                onnxruntime_library: self.onnxruntime_lib.clone(),
            },
        }
    }

    pub fn utc_offset_seconds(&self) -> i64 {
        i64::from(self.utc_offset_hours) * 3600
    }

    pub fn limits(&self) -> crate::ingest::validate::Limits {
        crate::ingest::validate::Limits {
            max_items: self.max_batch_items,
            max_text_chars: self.max_text_chars,
        }
    }

    pub fn query_limits(&self) -> crate::index::search::QueryLimits {
        crate::index::search::QueryLimits {
            max_chars: self.max_query_chars,
            max_terms: self.max_query_terms,
        }
    }

    pub fn privacy(&self) -> crate::ingest::Privacy {
        crate::ingest::Privacy {
            mask_personal_data: self.mask_personal_data,
            keep_raw_text: self.keep_raw_text,
            consumer_ids: self.consumers.consumer_ids(),
        }
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// Defaults, then the config file, then the environment.
    pub fn load(data_dir_hint: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        if let Some(dir) = data_dir_hint {
            settings.data_dir = dir.to_path_buf();
        }
        let explicit = std::env::var_os("XINSHENG_CONFIG").map(PathBuf::from);
        let file = explicit
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("xinsheng.toml"));
        if file.exists() || explicit.is_some() {
            let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Io {
                path: file.clone(),
                source,
            })?;
            let from_file: Settings =
                toml::from_str(&text).map_err(|error| ConfigError::Syntax {
                    path: file.clone(),
                    message: error.to_string(),
                })?;
            let hinted_dir = settings.data_dir.clone();
            settings = from_file;
            if data_dir_hint.is_some() {
                settings.data_dir = hinted_dir;
            }
        }
        settings.apply_env(|name| std::env::var(name).ok())?;
        settings.validate(&file)?;
        Ok(settings)
    }

    /// The settings of tenant `id`: the deployment's, with the data in
    /// `<data_dir>/tenants/<id>/` and the brand's sections from the
    /// tenant's own `xinsheng.toml` there. The default tenant is the
    /// deployment itself (data directly in `data_dir`). Other tenants never
    /// inherit the deployment's secrets: webhooks, CDP push, consumer id
    /// salt and alert notifiers are off until their own file sets them.
    pub fn for_tenant(&self, id: &str) -> Result<Settings, ConfigError> {
        if id == crate::tenants::DEFAULT_TENANT {
            return Ok(self.clone());
        }
        let mut settings = self.clone();
        settings.data_dir = self.data_dir.join("tenants").join(id);
        settings.demo = false;
        settings.webhooks = WebhookSettings::default();
        settings.consumers = Default::default();
        settings.alerts.notifiers.clear();
        let file = settings.data_dir.join("xinsheng.toml");
        if file.exists() {
            let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Io {
                path: file.clone(),
                source,
            })?;
            let overrides: TenantOverrides =
                toml::from_str(&text).map_err(|error| ConfigError::Syntax {
                    path: file.clone(),
                    message: error.to_string(),
                })?;
            if let Some(webhooks) = overrides.webhooks {
                settings.webhooks = webhooks;
            }
            if let Some(consumers) = overrides.consumers {
                settings.consumers = consumers;
            }
            if let Some(alerts) = overrides.alerts {
                settings.alerts = alerts;
            }
            if let Some(followups) = overrides.followups {
                settings.followups = followups;
            }
            if let Some(public_url) = overrides.public_url {
                settings.public_url = public_url;
            }
            if let Some(mask) = overrides.mask_personal_data {
                settings.mask_personal_data = mask;
            }
            if let Some(keep) = overrides.keep_raw_text {
                settings.keep_raw_text = keep;
            }
        }
        settings.validate(&file)?;
        Ok(settings)
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |section: &str, message: String| ConfigError::Syntax {
            path: file.to_path_buf(),
            message: format!("{section}: {message}"),
        };
        if let Some(wecom) = &self.webhooks.wecom {
            wecom
                .crypt()
                .map_err(|error| invalid("webhooks.wecom", error.to_string()))?;
        }
        if let Some(dingtalk) = &self.webhooks.dingtalk {
            dingtalk
                .event_crypt()
                .map_err(|error| invalid("webhooks.dingtalk", error.to_string()))?;
        }
        if let Some(cdp) = &self.consumers.cdp {
            let scheme_ok = cdp.url.starts_with("http://") || cdp.url.starts_with("https://");
            if !scheme_ok || cdp.secret.is_empty() || cdp.max_batch == 0 {
                return Err(invalid(
                    "consumers.cdp",
                    "url must be http(s)://…, secret must not be empty, max_batch at least 1"
                        .into(),
                ));
            }
        }
        for name in self.webhooks.generic.keys() {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !valid || PLATFORMS.contains(&name.as_str()) {
                return Err(ConfigError::Syntax {
                    path: file.to_path_buf(),
                    message: format!(
                        "webhooks.generic.{name}: a generic webhook name is letters, digits, - and _, and not one of {}",
                        PLATFORMS.join(", ")
                    ),
                });
            }
        }
        if self.max_query_chars == 0 || self.max_query_terms == 0 {
            return Err(invalid(
                "max_query_chars, max_query_terms",
                "must be at least 1".to_string(),
            ));
        }
        if let Some(key) = &self.auth.bootstrap_key {
            crate::auth::validate_chosen_secret(key)
                .map_err(|message| invalid("auth.bootstrap_key", message))?;
        }
        if self.alerts.evaluate_seconds == 0 {
            return Err(invalid(
                "alerts.evaluate_seconds",
                "must be at least 1".to_string(),
            ));
        }
        for (name, notifier) in &self.alerts.notifiers {
            let section = format!("alerts.notifiers.{name}");
            if !crate::alerts::valid_notifier_name(name) {
                return Err(invalid(
                    &section,
                    "a notifier name is at most 64 letters, digits, - and _".to_string(),
                ));
            }
            notifier
                .validate()
                .map_err(|message| invalid(&section, message))?;
        }
        Ok(())
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|error: T::Err| ConfigError::Env {
                    name: name.to_string(),
                    message: error.to_string(),
                })
        }
        macro_rules! layer {
            ($name:literal, $field:ident, path) => {
                if let Some(value) = get($name) {
                    self.$field = PathBuf::from(value);
                }
            };
            ($name:literal, $field:ident) => {
                if let Some(value) = get($name) {
                    self.$field = parsed($name, value)?;
                }
            };
        }
        layer!("XINSHENG_DATA_DIR", data_dir, path);
        layer!("XINSHENG_LEXICON_DIR", lexicon_dir, path);
        layer!("XINSHENG_DASHBOARDS_DIR", dashboards_dir, path);
        layer!("XINSHENG_DEMO_FILE", demo_file, path);
        layer!("XINSHENG_MODEL_DIR", model_dir, path);
        layer!("XINSHENG_ONNXRUNTIME_LIB", onnxruntime_lib, path);
        layer!("XINSHENG_TAGGER", tagger);
        layer!("XINSHENG_LISTEN", listen);
        layer!("XINSHENG_MAX_BODY_BYTES", max_body_bytes);
        layer!("XINSHENG_MAX_BATCH_ITEMS", max_batch_items);
        layer!("XINSHENG_MAX_TEXT_CHARS", max_text_chars);
        layer!("XINSHENG_MAX_QUERY_CHARS", max_query_chars);
        layer!("XINSHENG_MAX_QUERY_TERMS", max_query_terms);
        layer!("XINSHENG_ANALYSIS_BATCH", analysis_batch);
        layer!("XINSHENG_MAX_PENDING_ITEMS", max_pending_items);
        layer!("XINSHENG_COMMIT_INTERVAL_MS", commit_interval_ms);
        layer!("XINSHENG_FULL_DURABILITY", full_durability);
        layer!("XINSHENG_UTC_OFFSET_HOURS", utc_offset_hours);
        layer!("XINSHENG_DEMO", demo);
        layer!("XINSHENG_MASK_PERSONAL_DATA", mask_personal_data);
        layer!("XINSHENG_KEEP_RAW_TEXT", keep_raw_text);
        layer!("XINSHENG_ALERTS_FILE", alerts_file, path);
        layer!("XINSHENG_PUBLIC_URL", public_url);
        if let Some(value) = get("XINSHENG_BOOTSTRAP_KEY") {
            self.auth.bootstrap_key = Some(value);
        }
        if let Some(value) = get("XINSHENG_RATE_LIMIT_PER_MINUTE") {
            self.auth.rate_limit_per_minute = parsed("XINSHENG_RATE_LIMIT_PER_MINUTE", value)?;
        }
        if let Some(value) = get("XINSHENG_DELIVERY_INITIAL_BACKOFF_SECONDS") {
            self.delivery.initial_backoff_seconds =
                parsed("XINSHENG_DELIVERY_INITIAL_BACKOFF_SECONDS", value)?;
        }
        if let Some(value) = get("XINSHENG_CONSUMER_ID_SALT") {
            self.consumers.id_salt = Some(value);
        }
        match (get("XINSHENG_CDP_URL"), get("XINSHENG_CDP_SECRET")) {
            (Some(url), Some(secret)) => {
                self.consumers.cdp = Some(crate::consumers::CdpSettings {
                    url,
                    secret,
                    max_batch: self.consumers.cdp.as_ref().map_or(500, |cdp| cdp.max_batch),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::Env {
                    name: "XINSHENG_CDP_URL".into(),
                    message: "set both XINSHENG_CDP_URL and XINSHENG_CDP_SECRET".into(),
                })
            }
        }
        if let Some(value) = get("XINSHENG_FOLLOWUPS_MIN_SEVERITY") {
            self.followups.min_severity = parsed("XINSHENG_FOLLOWUPS_MIN_SEVERITY", value)?;
        }
        if let Some(value) = get("XINSHENG_FOLLOWUPS_HIGH_VALUE_AMOUNT") {
            self.followups.high_value_amount =
                parsed("XINSHENG_FOLLOWUPS_HIGH_VALUE_AMOUNT", value)?;
        }
        if let Some(value) = get("XINSHENG_CHAT_IDLE_MINUTES") {
            self.webhooks.chat_idle_minutes = parsed("XINSHENG_CHAT_IDLE_MINUTES", value)?;
        }
        if let Some(value) = get("XINSHENG_ALERTS_EVALUATE_SECONDS") {
            self.alerts.evaluate_seconds = parsed("XINSHENG_ALERTS_EVALUATE_SECONDS", value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut settings = Settings::default();
        settings
            .apply_env(|name| match name {
                "XINSHENG_LISTEN" => Some("127.0.0.1:9999".into()),
                "XINSHENG_DEMO" => Some("true".into()),
                _ => None,
            })
            .expect("valid");
        assert_eq!(settings.listen, "127.0.0.1:9999");
        assert!(settings.demo);
    }

    #[test]
    fn an_invalid_alert_notifier_names_its_section() {
        let mut settings = Settings::default();
        settings.alerts.notifiers.insert(
            "hook".into(),
            crate::alerts::NotifierConfig {
                kind: crate::alerts::NotifierKind::Generic,
                url: "https://example.com/hook".into(),
                secret: None,
            },
        );
        let error = settings
            .validate(Path::new("xinsheng.toml"))
            .expect_err("a generic notifier needs a secret");
        assert!(
            error.to_string().contains("alerts.notifiers.hook"),
            "{error}"
        );
    }

    #[test]
    fn query_limits_come_from_the_environment_and_must_be_positive() {
        let mut settings = Settings::default();
        settings
            .apply_env(|name| match name {
                "XINSHENG_MAX_QUERY_CHARS" => Some("80".into()),
                "XINSHENG_MAX_QUERY_TERMS" => Some("6".into()),
                _ => None,
            })
            .expect("valid");
        assert_eq!(
            settings.query_limits(),
            crate::index::search::QueryLimits {
                max_chars: 80,
                max_terms: 6
            }
        );
        settings.max_query_terms = 0;
        let error = settings
            .validate(Path::new("xinsheng.toml"))
            .expect_err("zero words would refuse every query");
        assert!(error.to_string().contains("max_query_terms"), "{error}");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let mut settings = Settings::default();
        let error = settings
            .apply_env(|name| (name == "XINSHENG_MAX_BATCH_ITEMS").then(|| "many".to_string()))
            .expect_err("invalid");
        assert!(error.to_string().contains("XINSHENG_MAX_BATCH_ITEMS"));
    }
}
