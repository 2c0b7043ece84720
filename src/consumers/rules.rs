//! Consumer tag rules (`lexicons/consumer_tags.toml`): parsing, validation
//! against the lexicon's tags, and evaluation over one consumer's history.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::history::ConsumerItem;
use crate::nlp::lexicon::TagDefinition;
use crate::time::SECONDS_PER_DAY;

pub const RULES_FILE: &str = "consumer_tags.toml";
const SOURCES: [&str; 5] = ["review", "refund", "chat", "call", "survey"];
const POLARITIES: [&str; 3] = ["pos", "neg", "neu"];

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    tag: Vec<ConsumerTagRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsumerTagRule {
    /// Stable id for the CDP (`logistics_sensitive`).
    pub id: String,
    /// Shown to users and accepted wherever an id is (`物流敏感`).
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    /// What the tag means, in words, shown next to it.
    pub definition: String,
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    Mentions {
        #[serde(default)]
        library: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        polarity: Option<String>,
        window_days: u32,
        #[serde(default)]
        min: Option<u64>,
        #[serde(default)]
        max: Option<u64>,
    },
    Items {
        #[serde(default)]
        sentiment: Option<String>,
        #[serde(default)]
        source: Option<String>,
        window_days: u32,
        #[serde(default)]
        min: Option<u64>,
        #[serde(default)]
        max: Option<u64>,
    },
    Idle {
        days: u32,
    },
    LastItem {
        sentiment: String,
    },
}

/// A rule's verdict on one consumer at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub holds: bool,
    /// The count of the rule's first counting condition.
    pub strength: u64,
}

impl Condition {
    fn window_days(&self) -> Option<u32> {
        match self {
            Condition::Mentions { window_days, .. } | Condition::Items { window_days, .. } => {
                Some(*window_days)
            }
            Condition::Idle { .. } | Condition::LastItem { .. } => None,
        }
    }

    /// Count inside the window, for counting conditions.
    fn count(&self, items: &[ConsumerItem], now: i64) -> Option<u64> {
        let window_start = now - i64::from(self.window_days()?) * SECONDS_PER_DAY;
        let in_window = items
            .iter()
            .filter(move |item| item.at > window_start && item.at <= now);
        Some(match self {
            Condition::Mentions {
                library,
                tags,
                polarity,
                ..
            } => in_window
                .flat_map(|item| item.mentions.iter())
                .filter(|mention| {
                    library
                        .as_ref()
                        .is_none_or(|wanted| &mention.library == wanted)
                })
                .filter(|mention| tags.is_empty() || tags.contains(&mention.tag))
                .filter(|mention| {
                    polarity
                        .as_ref()
                        .is_none_or(|wanted| &mention.polarity == wanted)
                })
                .count() as u64,
            Condition::Items {
                sentiment, source, ..
            } => in_window
                .filter(|item| {
                    sentiment
                        .as_ref()
                        .is_none_or(|wanted| &item.sentiment == wanted)
                })
                .filter(|item| source.as_ref().is_none_or(|wanted| &item.source == wanted))
                .count() as u64,
            Condition::Idle { .. } | Condition::LastItem { .. } => return None,
        })
    }

    fn holds(&self, items: &[ConsumerItem], now: i64) -> bool {
        let newest = items
            .iter()
            .filter(|item| item.at <= now)
            .max_by_key(|item| (item.at, item.feedback_id));
        match self {
            Condition::Mentions { min, max, .. } | Condition::Items { min, max, .. } => {
                let count = self.count(items, now).unwrap_or(0);
                min.is_none_or(|min| count >= min) && max.is_none_or(|max| count <= max)
            }
            Condition::Idle { days } => {
                newest.is_some_and(|item| now - item.at >= i64::from(*days) * SECONDS_PER_DAY)
            }
            Condition::LastItem { sentiment } => {
                newest.is_some_and(|item| &item.sentiment == sentiment)
            }
        }
    }

    /// The next moment after `now` at which time alone may change this
    /// condition: a window edge passing an item, or the idle threshold.
    fn next_change(&self, items: &[ConsumerItem], now: i64) -> Option<i64> {
        match self {
            Condition::Mentions { window_days, .. } | Condition::Items { window_days, .. } => {
                let window = i64::from(*window_days) * SECONDS_PER_DAY;
                items
                    .iter()
                    .map(|item| item.at + window)
                    .filter(|edge| *edge > now)
                    .min()
            }
            Condition::Idle { days } => {
                let newest = items
                    .iter()
                    .map(|item| item.at)
                    .filter(|at| *at <= now)
                    .max()?;
                let edge = newest + i64::from(*days) * SECONDS_PER_DAY;
                (edge > now).then_some(edge)
            }
            Condition::LastItem { .. } => None,
        }
    }
}

impl ConsumerTagRule {
    pub fn evaluate(&self, items: &[ConsumerItem], now: i64) -> Verdict {
        let holds = !items.is_empty()
            && self
                .when
                .iter()
                .all(|condition| condition.holds(items, now));
        let strength = self
            .when
            .iter()
            .find_map(|condition| condition.count(items, now))
            .unwrap_or(u64::from(holds));
        Verdict { holds, strength }
    }

    pub fn next_change(&self, items: &[ConsumerItem], now: i64) -> Option<i64> {
        self.when
            .iter()
            .filter_map(|condition| condition.next_change(items, now))
            .min()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsumerTagRules {
    pub rules: Vec<ConsumerTagRule>,
}

impl ConsumerTagRules {
    /// Loads `consumer_tags.toml` from the lexicon directory; a missing file
    /// means no consumer tags (profiles are still kept).
    pub fn load(lexicon_dir: &Path, known_tags: &[TagDefinition]) -> Result<Self, RulesError> {
        let path = lexicon_dir.join(RULES_FILE);
        if !path.exists() {
            return Ok(ConsumerTagRules::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|error| RulesError::Read {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        Self::parse(&path.display().to_string(), &text, known_tags)
    }

    pub fn parse(path: &str, text: &str, known_tags: &[TagDefinition]) -> Result<Self, RulesError> {
        let file: RulesFile = toml::from_str(text).map_err(|error| RulesError::Invalid {
            path: path.to_string(),
            field: "syntax".into(),
            message: error.to_string(),
        })?;
        let invalid = |field: String, message: String| RulesError::Invalid {
            path: path.to_string(),
            field,
            message,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (rule_index, rule) in file.tag.iter().enumerate() {
            let at = |field: &str| format!("tag[{rule_index}].{field}");
            let id_ok = !rule.id.is_empty()
                && rule
                    .id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !id_ok {
                return Err(invalid(
                    at("id"),
                    format!(
                        "{:?}: ids are lower-case ASCII letters, digits and _",
                        rule.id
                    ),
                ));
            }
            for key in [rule.id.as_str(), rule.name.as_str()] {
                if seen.contains(&key) {
                    return Err(invalid(at("id"), format!("{key:?} is used by two tags")));
                }
                seen.push(key);
            }
            if rule.name.trim().is_empty() || rule.definition.trim().is_empty() {
                return Err(invalid(
                    at("name"),
                    "name and definition must not be empty".into(),
                ));
            }
            if rule.when.is_empty() {
                return Err(invalid(
                    at("when"),
                    "a tag needs at least one condition".into(),
                ));
            }
            for (condition_index, condition) in rule.when.iter().enumerate() {
                validate_condition(condition, known_tags).map_err(|(name, message)| {
                    invalid(
                        format!("tag[{rule_index}].when[{condition_index}].{name}"),
                        message,
                    )
                })?;
            }
        }
        Ok(ConsumerTagRules { rules: file.tag })
    }

    /// A rule by id or by its display name.
    pub fn find(&self, key: &str) -> Option<&ConsumerTagRule> {
        self.rules
            .iter()
            .find(|rule| rule.id == key || rule.name == key)
    }
}

fn validate_condition(
    condition: &Condition,
    known_tags: &[TagDefinition],
) -> Result<(), (&'static str, String)> {
    let one_of = |name: &'static str, value: &str, allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err((
                name,
                format!("{value:?} is not one of {}", allowed.join(", ")),
            ))
        }
    };
    let bounds = |min: &Option<u64>, max: &Option<u64>, window_days: u32| {
        if min.is_none() && max.is_none() {
            return Err(("min", "give min, max or both".to_string()));
        }
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                return Err(("min", format!("min {min} is above max {max}")));
            }
        }
        if window_days == 0 || window_days > 3650 {
            return Err((
                "window_days",
                format!("{window_days} is not between 1 and 3650"),
            ));
        }
        Ok(())
    };
    match condition {
        Condition::Mentions {
            library,
            tags,
            polarity,
            window_days,
            min,
            max,
        } => {
            if let Some(library) = library {
                if !known_tags.iter().any(|tag| &tag.library == library) {
                    return Err(("library", format!("unknown library {library:?}")));
                }
            }
            for tag in tags {
                if !known_tags.iter().any(|known| &known.id == tag) {
                    return Err(("tags", format!("unknown tag {tag:?}")));
                }
            }
            if let Some(polarity) = polarity {
                one_of("polarity", polarity, &POLARITIES)?;
            }
            bounds(min, max, *window_days)
        }
        Condition::Items {
            sentiment,
            source,
            window_days,
            min,
            max,
        } => {
            if let Some(sentiment) = sentiment {
                one_of("sentiment", sentiment, &POLARITIES)?;
            }
            if let Some(source) = source {
                one_of("source", source, &SOURCES)?;
            }
            bounds(min, max, *window_days)
        }
        Condition::Idle { days } => {
            if *days == 0 {
                return Err(("days", "must be at least 1".into()));
            }
            Ok(())
        }
        Condition::LastItem { sentiment } => one_of("sentiment", sentiment, &POLARITIES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<TagDefinition> {
        vec![TagDefinition {
            id: "logistics.speed".into(),
            library: "logistics".into(),
            name: "配送时效".into(),
            description: None,
        }]
    }

    fn error_of(text: &str) -> String {
        ConsumerTagRules::parse("consumer_tags.toml", text, &known())
            .expect_err("invalid")
            .to_string()
    }

    #[test]
    fn invalid_rules_name_the_file_and_field() {
        let rule = |when: &str| {
            format!("[[tag]]\nid = \"slow\"\nname = \"慢\"\ndefinition = \"d\"\nwhen = [{when}]\n")
        };
        assert!(error_of(&rule(
            r#"{ kind = "mentions", tags = ["logistics.sped"], window_days = 90, min = 1 }"#
        ))
        .contains("consumer_tags.toml: tag[0].when[0].tags: unknown tag \"logistics.sped\""));
        assert!(error_of(&rule(
            r#"{ kind = "mentions", library = "logistic", window_days = 90, min = 1 }"#
        ))
        .contains("tag[0].when[0].library"));
        assert!(error_of(&rule(
            r#"{ kind = "items", sentiment = "bad", window_days = 90, min = 1 }"#
        ))
        .contains("tag[0].when[0].sentiment"));
        assert!(error_of(&rule(r#"{ kind = "items", window_days = 90 }"#))
            .contains("tag[0].when[0].min"));
        assert!(
            error_of(&rule(r#"{ kind = "items", window_days = 0, min = 1 }"#))
                .contains("window_days")
        );
        assert!(error_of(&rule(
            r#"{ kind = "items", window_days = 9, min = 3, max = 1 }"#
        ))
        .contains("min 3 is above max 1"));
        assert!(error_of(&rule(r#"{ kind = "sometimes", days = 3 }"#)).contains("syntax"));
        assert!(error_of(&rule("")).contains("tag[0].when"));
        let duplicate = format!(
            "{}{}",
            rule(r#"{ kind = "idle", days = 3 }"#),
            rule(r#"{ kind = "idle", days = 4 }"#)
        );
        assert!(error_of(&duplicate).contains("tag[1].id"));
        assert!(error_of("[[tag]]\nid = \"Slow\"\nname = \"慢\"\ndefinition = \"d\"\nwhen = [{ kind = \"idle\", days = 3 }]\n").contains("tag[0].id"));
    }

    #[test]
    fn tags_are_found_by_id_or_name() {
        let rules = ConsumerTagRules::parse(
            "f",
            "[[tag]]\nid = \"slow\"\nname = \"慢\"\ndefinition = \"d\"\nwhen = [{ kind = \"idle\", days = 3 }]\n",
            &known(),
        )
        .expect("valid");
        assert_eq!(rules.find("慢").map(|rule| rule.id.as_str()), Some("slow"));
        assert_eq!(
            rules.find("slow").map(|rule| rule.name.as_str()),
            Some("慢")
        );
        assert!(rules.find("fast").is_none());
    }
}
