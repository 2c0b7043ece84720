//! The alert rules file (`lexicons/alerts.toml`, setting `alerts_file`):
//! its format and its validation.
//!
//! Each `[[rule]]` block is read into one flat struct with every field
//! optional, then checked against its `kind`: a field that belongs to
//! another kind is refused rather than ignored (a `threshold` on a
//! `tag_spike` rule is a mistake the author wants to hear about). Every
//! error names the file and the field as `rule[i].field` with the rule's id.
//! Tag and library ids are checked against the loaded lexicon, notifier
//! names against `[alerts.notifiers]` in the settings.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::severe::{SevereMatcher, SevereWords};
use super::AlertsError;
use crate::nlp::lexicon::TagDefinition;

/// `tag = "*"` / `library = "*"`: the rule watches every tag (library),
/// each one with its own alert key.
pub const EVERY: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(value: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|severity| severity.as_str() == value)
    }

    /// How the robots' messages name it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Info => "提示",
            Severity::Warning => "警告",
            Severity::Critical => "严重",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    TagSpike,
    LibraryNegativeRate,
    Severe,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::TagSpike => "tag_spike",
            RuleKind::LibraryNegativeRate => "library_negative_rate",
            RuleKind::Severe => "severe",
        }
    }

    fn parse(value: &str) -> Option<RuleKind> {
        [
            RuleKind::TagSpike,
            RuleKind::LibraryNegativeRate,
            RuleKind::Severe,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// A tag's negative mentions in the last `window_minutes` against the same
/// window at the same time of day on each of the past `baseline_days` days.
/// Fires when the current count is at least `min_count`, at least
/// `ratio` × the baseline mean, and at least mean + `stddev_factor` ×
/// standard deviation (see [`super::evaluate::assess_spike`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TagSpike {
    /// `None` watches every tag.
    pub tag: Option<String>,
    pub window_minutes: i64,
    pub baseline_days: i64,
    pub min_count: u64,
    pub ratio: f64,
    pub stddev_factor: f64,
}

/// A library's share of negative mentions among all its mentions in the
/// last `window_minutes`; fires at `threshold` or above once there are at
/// least `min_mentions` mentions.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryNegativeRate {
    /// `None` watches every library.
    pub library: Option<String>,
    pub window_minutes: i64,
    pub threshold: f64,
    pub min_mentions: u64,
}

/// Any analysed item whose customer speech holds one of the words (not
/// negated); items created more than `max_age_hours` before their analysis
/// are history, not news, and do not fire.
#[derive(Debug, Clone)]
pub struct Severe {
    pub matcher: SevereMatcher,
    pub max_age_hours: i64,
}

#[derive(Debug, Clone)]
pub enum Condition {
    TagSpike(TagSpike),
    LibraryNegativeRate(LibraryNegativeRate),
    Severe(Severe),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub severity: Severity,
    /// After an alert of this rule clears, the same key stays silent this long.
    pub cooldown_minutes: i64,
    /// Notifier names; every configured notifier when the rule names none.
    pub notify: Vec<String>,
    pub condition: Condition,
}

impl Rule {
    pub fn kind(&self) -> RuleKind {
        match self.condition {
            Condition::TagSpike(_) => RuleKind::TagSpike,
            Condition::LibraryNegativeRate(_) => RuleKind::LibraryNegativeRate,
            Condition::Severe(_) => RuleKind::Severe,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn severe_rules(&self) -> impl Iterator<Item = (&Rule, &Severe)> {
        self.rules.iter().filter_map(|rule| match &rule.condition {
            Condition::Severe(severe) => Some((rule, severe)),
            _ => None,
        })
    }

    pub fn has_window_rules(&self) -> bool {
        self.rules
            .iter()
            .any(|rule| !matches!(rule.condition, Condition::Severe(_)))
    }
}

/// What a rules file is checked against.
pub struct RuleContext<'a> {
    pub tags: &'a [TagDefinition],
    pub notifier_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// One `[[rule]]` block as written; checked into a [`Rule`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Option<String>,
    kind: Option<String>,
    severity: Option<String>,
    cooldown_minutes: Option<i64>,
    notify: Option<Vec<String>>,
    // tag_spike
    tag: Option<String>,
    baseline_days: Option<i64>,
    min_count: Option<i64>,
    ratio: Option<f64>,
    stddev_factor: Option<f64>,
    // tag_spike and library_negative_rate
    window_minutes: Option<i64>,
    // library_negative_rate
    library: Option<String>,
    threshold: Option<f64>,
    min_mentions: Option<i64>,
    // severe
    words: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    negation: Option<Vec<String>>,
    negation_exceptions: Option<Vec<String>>,
    negation_gap: Option<i64>,
    max_age_hours: Option<i64>,
}

pub const DEFAULT_WINDOW_MINUTES: i64 = 60;
pub const DEFAULT_BASELINE_DAYS: i64 = 7;
pub const DEFAULT_MIN_COUNT: i64 = 5;
pub const DEFAULT_RATIO: f64 = 2.0;
pub const DEFAULT_STDDEV_FACTOR: f64 = 3.0;
pub const DEFAULT_RATE_WINDOW_MINUTES: i64 = 24 * 60;
pub const DEFAULT_MIN_MENTIONS: i64 = 20;
pub const DEFAULT_COOLDOWN_MINUTES: i64 = 360;
pub const DEFAULT_MAX_AGE_HOURS: i64 = 72;
/// Windows longer than a day would overlap their own baseline.
pub const MAX_WINDOW_MINUTES: i64 = 24 * 60;
pub const MAX_BASELINE_DAYS: i64 = 60;

/// Reads and validates a rules file.
pub fn load(path: &Path, context: &RuleContext<'_>) -> Result<RuleSet, AlertsError> {
    let text = std::fs::read_to_string(path).map_err(|source| AlertsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, context)
}

pub fn parse(path: &Path, text: &str, context: &RuleContext<'_>) -> Result<RuleSet, AlertsError> {
    let file: RulesFile = toml::from_str(text).map_err(|error| AlertsError::Syntax {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    let mut rules = Vec::with_capacity(file.rule.len());
    let mut seen_ids = BTreeSet::new();
    for (position, raw) in file.rule.into_iter().enumerate() {
        let checker = RuleChecker {
            path,
            position,
            id: raw.id.clone().unwrap_or_default(),
        };
        let rule = checker.check(raw, context)?;
        if !seen_ids.insert(rule.id.clone()) {
            return Err(checker.invalid("id", format!("rule id {:?} is used twice", rule.id)));
        }
        rules.push(rule);
    }
    Ok(RuleSet { rules })
}

struct RuleChecker<'a> {
    path: &'a Path,
    position: usize,
    id: String,
}

impl RuleChecker<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> AlertsError {
        AlertsError::InvalidRule {
            path: self.path.to_path_buf(),
            field: format!("rule[{}].{field}", self.position),
            rule_id: self.id.clone(),
            message: message.into(),
        }
    }

    fn positive_integer(
        &self,
        field: &str,
        value: Option<i64>,
        default: i64,
        max: i64,
    ) -> Result<i64, AlertsError> {
        let value = value.unwrap_or(default);
        if value < 1 || value > max {
            return Err(self.invalid(field, format!("must be from 1 to {max}, got {value}")));
        }
        Ok(value)
    }

    fn number_at_least(
        &self,
        field: &str,
        value: Option<f64>,
        default: f64,
        min: f64,
    ) -> Result<f64, AlertsError> {
        let value = value.unwrap_or(default);
        if !value.is_finite() || value < min {
            return Err(self.invalid(field, format!("must be a number ≥ {min}, got {value}")));
        }
        Ok(value)
    }

    /// Fields that only other kinds read must be absent.
    fn refuse_foreign_fields(
        &self,
        kind: RuleKind,
        present: &[(&str, bool)],
    ) -> Result<(), AlertsError> {
        match present.iter().find(|(_, is_set)| *is_set) {
            Some((field, _)) => Err(self.invalid(
                field,
                format!("`{field}` is not a field of a {} rule", kind.as_str()),
            )),
            None => Ok(()),
        }
    }

    fn word_list(
        &self,
        field: &str,
        value: Option<Vec<String>>,
        default: &[&str],
    ) -> Result<Vec<String>, AlertsError> {
        let words: Vec<String> = match value {
            Some(words) => words,
            None => default.iter().map(|word| word.to_string()).collect(),
        };
        // Words are matched on normalised text, so they are normalised too.
        let mut normalised = Vec::with_capacity(words.len());
        for (position, word) in words.iter().enumerate() {
            let word = crate::nlp::normalise::normalise(word).trim().to_lowercase();
            if word.is_empty() {
                return Err(self.invalid(&format!("{field}[{position}]"), "must not be empty"));
            }
            normalised.push(word);
        }
        Ok(normalised)
    }

    fn check(&self, raw: RawRule, context: &RuleContext<'_>) -> Result<Rule, AlertsError> {
        let id = raw
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| self.invalid("id", "every rule needs an id"))?
            .to_string();
        let id_is_plain = id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
        if !id_is_plain || id.len() > 64 {
            return Err(self.invalid(
                "id",
                "an id is at most 64 letters, digits, '-', '_' and '.'",
            ));
        }
        let kind_text = raw
            .kind
            .as_deref()
            .ok_or_else(|| self.invalid("kind", "missing kind"))?;
        let kind = RuleKind::parse(kind_text).ok_or_else(|| {
            self.invalid(
                "kind",
                format!(
                    "unknown kind {kind_text:?}; expected tag_spike, library_negative_rate or severe"
                ),
            )
        })?;
        let severity = match raw.severity.as_deref() {
            Some(text) => Severity::parse(text).ok_or_else(|| {
                self.invalid(
                    "severity",
                    format!("unknown severity {text:?}; expected info, warning or critical"),
                )
            })?,
            None if kind == RuleKind::Severe => Severity::Critical,
            None => Severity::Warning,
        };
        let cooldown_minutes = match raw.cooldown_minutes {
            Some(minutes) if !(0..=365 * 24 * 60).contains(&minutes) => {
                return Err(self.invalid(
                    "cooldown_minutes",
                    format!("must be from 0 to 525600, got {minutes}"),
                ))
            }
            Some(minutes) => minutes,
            None => DEFAULT_COOLDOWN_MINUTES,
        };
        let notify = match raw.notify.clone() {
            Some(names) => {
                for (position, name) in names.iter().enumerate() {
                    if !context.notifier_names.contains(name) {
                        let known = if context.notifier_names.is_empty() {
                            "none is configured in [alerts.notifiers]".to_string()
                        } else {
                            format!("configured: {}", context.notifier_names.join(", "))
                        };
                        return Err(self.invalid(
                            &format!("notify[{position}]"),
                            format!("unknown notifier {name:?} ({known})"),
                        ));
                    }
                }
                names
            }
            None => context.notifier_names.clone(),
        };
        let condition = match kind {
            RuleKind::TagSpike => Condition::TagSpike(self.tag_spike(&raw, context)?),
            RuleKind::LibraryNegativeRate => {
                Condition::LibraryNegativeRate(self.library_rate(&raw, context)?)
            }
            RuleKind::Severe => Condition::Severe(self.severe(raw)?),
        };
        Ok(Rule {
            id,
            severity,
            cooldown_minutes,
            notify,
            condition,
        })
    }

    fn tag_spike(&self, raw: &RawRule, context: &RuleContext<'_>) -> Result<TagSpike, AlertsError> {
        self.refuse_foreign_fields(
            RuleKind::TagSpike,
            &[
                ("library", raw.library.is_some()),
                ("threshold", raw.threshold.is_some()),
                ("min_mentions", raw.min_mentions.is_some()),
                ("words", raw.words.is_some()),
                ("exclude", raw.exclude.is_some()),
                ("negation", raw.negation.is_some()),
                ("negation_exceptions", raw.negation_exceptions.is_some()),
                ("negation_gap", raw.negation_gap.is_some()),
                ("max_age_hours", raw.max_age_hours.is_some()),
            ],
        )?;
        let tag_text =
            raw.tag.as_deref().map(str::trim).ok_or_else(|| {
                self.invalid("tag", "missing tag (a tag id, or \"*\" for every tag)")
            })?;
        let tag = if tag_text == EVERY {
            None
        } else if context
            .tags
            .iter()
            .any(|definition| definition.id == tag_text)
        {
            Some(tag_text.to_string())
        } else {
            return Err(self.invalid(
                "tag",
                format!("unknown tag id {tag_text:?} (see GET /api/v1/tags)"),
            ));
        };
        let min_count =
            self.positive_integer("min_count", raw.min_count, DEFAULT_MIN_COUNT, 1_000_000)?;
        Ok(TagSpike {
            tag,
            window_minutes: self.positive_integer(
                "window_minutes",
                raw.window_minutes,
                DEFAULT_WINDOW_MINUTES,
                MAX_WINDOW_MINUTES,
            )?,
            baseline_days: self.positive_integer(
                "baseline_days",
                raw.baseline_days,
                DEFAULT_BASELINE_DAYS,
                MAX_BASELINE_DAYS,
            )?,
            min_count: min_count as u64,
            ratio: self.number_at_least("ratio", raw.ratio, DEFAULT_RATIO, 1.0)?,
            stddev_factor: self.number_at_least(
                "stddev_factor",
                raw.stddev_factor,
                DEFAULT_STDDEV_FACTOR,
                0.0,
            )?,
        })
    }

    fn library_rate(
        &self,
        raw: &RawRule,
        context: &RuleContext<'_>,
    ) -> Result<LibraryNegativeRate, AlertsError> {
        self.refuse_foreign_fields(
            RuleKind::LibraryNegativeRate,
            &[
                ("tag", raw.tag.is_some()),
                ("baseline_days", raw.baseline_days.is_some()),
                ("min_count", raw.min_count.is_some()),
                ("ratio", raw.ratio.is_some()),
                ("stddev_factor", raw.stddev_factor.is_some()),
                ("words", raw.words.is_some()),
                ("exclude", raw.exclude.is_some()),
                ("negation", raw.negation.is_some()),
                ("negation_exceptions", raw.negation_exceptions.is_some()),
                ("negation_gap", raw.negation_gap.is_some()),
                ("max_age_hours", raw.max_age_hours.is_some()),
            ],
        )?;
        let library_text = raw.library.as_deref().map(str::trim).ok_or_else(|| {
            self.invalid(
                "library",
                "missing library (a library id, or \"*\" for every library)",
            )
        })?;
        let library = if library_text == EVERY {
            None
        } else if context
            .tags
            .iter()
            .any(|definition| definition.library == library_text)
        {
            Some(library_text.to_string())
        } else {
            let mut known: Vec<&str> = context
                .tags
                .iter()
                .map(|definition| definition.library.as_str())
                .collect();
            known.sort_unstable();
            known.dedup();
            return Err(self.invalid(
                "library",
                format!(
                    "unknown library {library_text:?}; the lexicon has {}",
                    known.join(", ")
                ),
            ));
        };
        let threshold = raw
            .threshold
            .ok_or_else(|| self.invalid("threshold", "missing threshold (a share from 0 to 1)"))?;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(self.invalid(
                "threshold",
                format!("must be a share above 0 and at most 1, got {threshold}"),
            ));
        }
        Ok(LibraryNegativeRate {
            library,
            window_minutes: self.positive_integer(
                "window_minutes",
                raw.window_minutes,
                DEFAULT_RATE_WINDOW_MINUTES,
                MAX_WINDOW_MINUTES,
            )?,
            threshold,
            min_mentions: self.positive_integer(
                "min_mentions",
                raw.min_mentions,
                DEFAULT_MIN_MENTIONS,
                10_000_000,
            )? as u64,
        })
    }

    fn severe(&self, raw: RawRule) -> Result<Severe, AlertsError> {
        self.refuse_foreign_fields(
            RuleKind::Severe,
            &[
                ("tag", raw.tag.is_some()),
                ("library", raw.library.is_some()),
                ("window_minutes", raw.window_minutes.is_some()),
                ("baseline_days", raw.baseline_days.is_some()),
                ("min_count", raw.min_count.is_some()),
                ("ratio", raw.ratio.is_some()),
                ("stddev_factor", raw.stddev_factor.is_some()),
                ("threshold", raw.threshold.is_some()),
                ("min_mentions", raw.min_mentions.is_some()),
            ],
        )?;
        let words = self.word_list("words", raw.words, &[])?;
        if words.is_empty() {
            return Err(self.invalid("words", "a severe rule needs at least one word"));
        }
        let negation_gap = match raw.negation_gap {
            Some(gap) if !(0..=10).contains(&gap) => {
                return Err(self.invalid(
                    "negation_gap",
                    format!("must be from 0 to 10 characters, got {gap}"),
                ))
            }
            Some(gap) => gap as usize,
            None => super::severe::DEFAULT_NEGATION_GAP,
        };
        let severe_words = SevereWords {
            words,
            exclude: self.word_list("exclude", raw.exclude, &[])?,
            negation: self.word_list("negation", raw.negation, super::severe::DEFAULT_NEGATION)?,
            negation_exceptions: self.word_list(
                "negation_exceptions",
                raw.negation_exceptions,
                super::severe::DEFAULT_NEGATION_EXCEPTIONS,
            )?,
            negation_gap,
        };
        let matcher =
            SevereMatcher::new(severe_words).map_err(|message| self.invalid("words", message))?;
        Ok(Severe {
            matcher,
            max_age_hours: self.positive_integer(
                "max_age_hours",
                raw.max_age_hours,
                DEFAULT_MAX_AGE_HOURS,
                24 * 365 * 10,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Vec<TagDefinition> {
        ["logistics.speed", "product.size_fit", "service.attitude"]
            .into_iter()
            .map(|id| TagDefinition {
                id: id.to_string(),
                library: crate::feedback::library_of(id).to_string(),
                name: id.to_string(),
                description: None,
            })
            .collect()
    }

    fn parse_rules(text: &str) -> Result<RuleSet, AlertsError> {
        let tags = tags();
        parse(
            Path::new("alerts.toml"),
            text,
            &RuleContext {
                tags: &tags,
                notifier_names: vec!["ops".to_string()],
            },
        )
    }

    fn error_field(text: &str) -> String {
        match parse_rules(text) {
            Err(AlertsError::InvalidRule { field, path, .. }) => {
                assert_eq!(path, Path::new("alerts.toml"));
                field
            }
            Err(other) => panic!("expected an invalid rule, got {other}"),
            Ok(_) => panic!("expected an error for {text}"),
        }
    }

    #[test]
    fn the_shipped_rules_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons/alerts.toml");
        let lexicon = crate::nlp::lexicon::Lexicon::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"),
        )
        .expect("lexicon");
        let rules = load(
            &path,
            &RuleContext {
                tags: &lexicon.tags,
                notifier_names: Vec::new(),
            },
        )
        .expect("valid");
        let kinds: BTreeSet<&str> = rules
            .rules
            .iter()
            .map(|rule| rule.kind().as_str())
            .collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["library_negative_rate", "severe", "tag_spike"])
        );
    }

    #[test]
    fn defaults_fill_a_minimal_rule() {
        let rules = parse_rules(
            r#"
            [[rule]]
            id = "spikes"
            kind = "tag_spike"
            tag = "*"
            "#,
        )
        .expect("valid");
        let rule = &rules.rules[0];
        assert_eq!(rule.severity, Severity::Warning);
        assert_eq!(
            rule.notify,
            vec!["ops".to_string()],
            "all notifiers by default"
        );
        let Condition::TagSpike(spike) = &rule.condition else {
            panic!("tag spike");
        };
        assert_eq!(
            spike,
            &TagSpike {
                tag: None,
                window_minutes: 60,
                baseline_days: 7,
                min_count: 5,
                ratio: 2.0,
                stddev_factor: 3.0,
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "logistics.speedy""#,
                "rule[0].tag",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "library_negative_rate"
                library = "shipping"
                threshold = 0.5"#,
                "rule[0].library",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "library_negative_rate"
                library = "logistics"
                threshold = 1.5"#,
                "rule[0].threshold",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "*"
                window_minutes = 0"#,
                "rule[0].window_minutes",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "*"
                ratio = 0.5"#,
                "rule[0].ratio",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "*"
                notify = ["ops", "pager"]"#,
                "rule[0].notify[1]",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "*"
                threshold = 0.4"#,
                "rule[0].threshold",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "severe"
                words = []"#,
                "rule[0].words",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "severe"
                words = ["投诉", " "]"#,
                "rule[0].words[1]",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "tag_spike"
                tag = "*"
                [[rule]]
                id = "a"
                kind = "severe"
                words = ["投诉"]"#,
                "rule[1].id",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "spike""#,
                "rule[0].kind",
            ),
            (
                r#"[[rule]]
                id = "a"
                kind = "severe"
                words = ["投诉"]
                severity = "urgent""#,
                "rule[0].severity",
            ),
            (
                r#"[[rule]]
                kind = "severe"
                words = ["投诉"]"#,
                "rule[0].id",
            ),
        ];
        for (text, field) in cases {
            assert_eq!(error_field(text), field, "{text}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_types_are_syntax_errors_naming_the_file() {
        for text in [
            "[[rule]]\nid = \"a\"\nkind = \"severe\"\nwords = [\"x\"]\nwordz = [\"y\"]",
            "[[rule]]\nid = \"a\"\nkind = \"tag_spike\"\ntag = \"*\"\nmin_count = \"five\"",
        ] {
            let Err(AlertsError::Syntax { path, message }) = parse_rules(text) else {
                panic!("expected a syntax error for {text}");
            };
            assert_eq!(path, Path::new("alerts.toml"));
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn the_error_message_names_file_field_and_rule() {
        let Err(error) =
            parse_rules("[[rule]]\nid = \"late\"\nkind = \"tag_spike\"\ntag = \"x.y\"")
        else {
            panic!("invalid");
        };
        let message = error.to_string();
        assert!(message.contains("alerts.toml"), "{message}");
        assert!(message.contains("rule[0].tag"), "{message}");
        assert!(message.contains("late"), "{message}");
    }
}
