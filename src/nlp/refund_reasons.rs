//! Refund reasons as a prior (`lexicons/refund_reasons.toml`): the menu
//! choice a buyer picked suggests tags that the refund's own text can
//! confirm or override. The file's header explains the rules to editors.

use std::path::Path;

use serde::Deserialize;

use super::lexicon::LexiconError;
use crate::feedback::{library_of, Evidence, Polarity, TagMention};

/// Below any text-derived score: the menu choice is the buyer's nearest
/// option, not their words.
const PRIOR_SCORE: f32 = 0.5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonFile {
    #[serde(default)]
    reason: Vec<ReasonRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonRule {
    #[serde(rename = "match")]
    patterns: Vec<String>,
    tags: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RefundReasons {
    /// (pattern, tags), longest pattern first.
    patterns: Vec<(String, Vec<String>)>,
}

/// What a reason's prior did to an item's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorOutcome {
    Added,
    Confirmed,
    Overridden,
}

impl RefundReasons {
    /// Loads the file if it exists (a deployment without refunds may delete
    /// it); every tag it names must be one of `known_tags`.
    pub fn load(
        path: &Path,
        text: &str,
        known_tags: &[&str],
    ) -> Result<RefundReasons, LexiconError> {
        let file: ReasonFile = toml::from_str(text).map_err(|error| LexiconError::Syntax {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        let mut patterns = Vec::new();
        for (position, rule) in file.reason.into_iter().enumerate() {
            if let Some(unknown) = rule
                .tags
                .iter()
                .find(|tag| !known_tags.contains(&tag.as_str()))
            {
                return Err(LexiconError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("reason rule {} names unknown tag `{unknown}`", position + 1),
                });
            }
            if rule
                .patterns
                .iter()
                .all(|pattern| pattern.trim().is_empty())
            {
                return Err(LexiconError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("reason rule {} has no `match` pattern", position + 1),
                });
            }
            for pattern in rule.patterns {
                let pattern = super::normalise::normalise(pattern.trim());
                if !pattern.is_empty() {
                    patterns.push((pattern, rule.tags.clone()));
                }
            }
        }
        patterns.sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.chars().count()));
        Ok(RefundReasons { patterns })
    }

    /// The tags a reason suggests (empty for "no reason given" choices or
    /// reasons no rule knows).
    pub fn tags_for(&self, reason_code: &str) -> &[String] {
        let reason = super::normalise::normalise(reason_code.trim());
        self.patterns
            .iter()
            .find(|(pattern, _)| reason.contains(pattern.as_str()))
            .map_or(&[], |(_, tags)| tags.as_slice())
    }

    /// Combines the prior of `reason_code` with the tags the text produced.
    pub fn apply(
        &self,
        reason_code: &str,
        tags: &mut Vec<TagMention>,
    ) -> Vec<(String, PriorOutcome)> {
        let mut outcomes = Vec::new();
        for tag in self.tags_for(reason_code) {
            let library = library_of(tag);
            let outcome = if tags.iter().any(|mention| &mention.tag == tag) {
                match tags.iter().find(|mention| &mention.tag == tag) {
                    Some(mention) if mention.polarity == Polarity::Neg => PriorOutcome::Confirmed,
                    _ => PriorOutcome::Overridden,
                }
            } else if tags
                .iter()
                .any(|mention| mention.library == library && mention.polarity == Polarity::Neg)
            {
                PriorOutcome::Overridden
            } else {
                let reason_chars = reason_code.chars().count();
                tags.push(TagMention {
                    tag: tag.clone(),
                    library: library.to_string(),
                    polarity: Polarity::Neg,
                    score: PRIOR_SCORE,
                    evidence: Evidence {
                        clause: reason_code.to_string(),
                        clause_span: [0, reason_chars],
                        span: [0, reason_chars],
                        text: reason_code.to_string(),
                        segment: None,
                        start_ms: None,
                        field: Some("reason_code".to_string()),
                    },
                });
                PriorOutcome::Added
            };
            outcomes.push((tag.clone(), outcome));
        }
        outcomes
    }
}
