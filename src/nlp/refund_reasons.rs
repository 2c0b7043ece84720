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

    /// Combines the prior of `reason_code` with the tags the text produced:
    /// the text confirms a suggested tag by having it (its evidence stays),
    /// overrides it with a non-negative verdict on it or a complaint about
    /// another aspect of the same library; otherwise the tag is added.
    pub fn apply(&self, reason_code: &str, tags: &mut Vec<TagMention>) {
        for tag in self.tags_for(reason_code) {
            let library = library_of(tag);
            let text_speaks = tags.iter().any(|mention| {
                &mention.tag == tag
                    || (mention.library == library && mention.polarity == Polarity::Neg)
            });
            if text_speaks {
                continue;
            }
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons() -> RefundReasons {
        let text = r#"
            [[reason]]
            match = ["尺码不合适", "尺码"]
            tags = ["product.size_fit"]
            [[reason]]
            match = ["七天无理由"]
            tags = []
        "#;
        RefundReasons::load(
            Path::new("refund_reasons.toml"),
            text,
            &["product.size_fit"],
        )
        .expect("valid")
    }

    fn mention(tag: &str, polarity: Polarity) -> TagMention {
        TagMention {
            tag: tag.into(),
            library: library_of(tag).into(),
            polarity,
            score: 0.9,
            evidence: Evidence {
                clause: String::new(),
                clause_span: [0, 0],
                span: [0, 0],
                text: String::new(),
                segment: None,
                start_ms: None,
                field: None,
            },
        }
    }

    #[test]
    fn the_reason_adds_its_tag_when_the_text_is_silent() {
        let mut tags = Vec::new();
        reasons().apply("尺码拍错/不合适", &mut tags);
        assert_eq!(tags.len(), 1);
        assert_eq!(tags[0].tag, "product.size_fit");
        assert_eq!(tags[0].polarity, Polarity::Neg);
        assert_eq!(tags[0].evidence.field.as_deref(), Some("reason_code"));
        assert_eq!(tags[0].evidence.span, [0, 8]);
    }

    #[test]
    fn the_text_confirms_or_overrides_the_reason() {
        for text_tags in [
            vec![mention("product.size_fit", Polarity::Neg)],
            vec![mention("product.size_fit", Polarity::Pos)],
            vec![mention("product.quality", Polarity::Neg)],
        ] {
            let mut tags = text_tags.clone();
            reasons().apply("尺码不合适", &mut tags);
            assert_eq!(tags, text_tags, "the text's own verdict stands");
        }
        let mut tags = vec![mention("logistics.speed", Polarity::Neg)];
        reasons().apply("尺码不合适", &mut tags);
        assert_eq!(tags.len(), 2, "another library does not speak to size");
    }

    #[test]
    fn unknown_and_no_reason_choices_add_nothing() {
        let mut tags = Vec::new();
        reasons().apply("七天无理由退换货", &mut tags);
        reasons().apply("其他", &mut tags);
        assert!(tags.is_empty());
    }

    #[test]
    fn unknown_tags_are_refused_at_load() {
        let error = RefundReasons::load(
            Path::new("refund_reasons.toml"),
            "[[reason]]\nmatch = [\"x\"]\ntags = [\"product.nope\"]\n",
            &["product.size_fit"],
        )
        .expect_err("unknown tag");
        assert!(error.to_string().contains("product.nope"), "{error}");
    }
}
