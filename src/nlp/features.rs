//! What the learned models see of a text: per clause, its characters, its
//! jieba words and the rules' findings in it.
//!
//! Training (`models/training/`) reads these through `xinsheng features`
//! and serving builds them with the same functions, so the models are never
//! fed tokens cut differently from the ones they were trained on.

use serde::Serialize;

use super::lexicon::{Lexicon, Role};
use super::segment::Segmenter;
use super::tagger::{ClauseHit, PreparedText, RuleFindings};
use crate::feedback::Polarity;

/// Placed between clauses when a whole item is one model input (sentiment),
/// so that n-grams never run across a clause boundary unseen.
pub const CLAUSE_SEPARATOR: &str = "[SEP]";

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClauseTokens {
    /// Lowercased characters, whitespace dropped.
    pub chars: Vec<String>,
    /// Lowercased jieba words (precise mode, HMM), punctuation dropped.
    pub words: Vec<String>,
}

pub fn clause_tokens(segmenter: &Segmenter, clause_text: &str) -> ClauseTokens {
    let chars = clause_text
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .map(|ch| ch.to_lowercase().collect())
        .collect();
    let words = segmenter
        .words(clause_text)
        .into_iter()
        .filter(|token| token.word.chars().any(char::is_alphanumeric))
        .map(|token| token.word.to_lowercase())
        .collect();
    ClauseTokens { chars, words }
}

/// `tag:polarity`, the name of one rule feature and of one model output.
fn signal_name(tag: &str, polarity: Polarity) -> String {
    format!("{tag}:{}", polarity.as_str())
}

#[derive(Debug, Clone, Serialize)]
pub struct ClauseFeatures {
    pub start: usize,
    pub end: usize,
    pub text: String,
    #[serde(flatten)]
    pub tokens: ClauseTokens,
    /// The rules' hits in this clause as `tag:polarity`.
    pub lexicon: Vec<String>,
    /// Tags whose aspect words or phrases occur in the clause, whether or not
    /// the rules found a verdict for them ("质量对不起价格" mentions price).
    pub mentions: Vec<String>,
}

/// Lexicon tag indices mentioned in `[start, end)`: an aspect word, a tag's
/// own opinion word or phrase, unless the clause excludes the tag.
fn mentioned_tags(
    lexicon: &Lexicon,
    prepared: &PreparedText,
    start: usize,
    end: usize,
) -> Vec<usize> {
    let first = prepared.matches.partition_point(|hit| hit.start < start);
    let hits = prepared.matches[first..]
        .iter()
        .take_while(|hit| hit.start < end)
        .filter(|hit| hit.end <= end);
    let mut tags = Vec::new();
    let mut excluded = Vec::new();
    for hit in hits {
        for role in lexicon.roles(hit.entry) {
            match *role {
                Role::Aspect(tag) | Role::AspectOpinion(tag, _) | Role::Phrase(tag, _) => {
                    tags.push(tag)
                }
                Role::Exclude(tag) => excluded.push(tag),
                _ => {}
            }
        }
    }
    tags.retain(|tag| !excluded.contains(tag));
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// Features of every clause of one prepared text.
pub fn item_features(
    lexicon: &Lexicon,
    segmenter: &Segmenter,
    prepared: &PreparedText,
    findings: &RuleFindings,
) -> Vec<ClauseFeatures> {
    let tag_id = |hit: &ClauseHit| lexicon.tags[hit.tag].id.clone();
    prepared
        .clauses
        .iter()
        .enumerate()
        .map(|(index, clause)| {
            let text: String = prepared.chars[clause.start..clause.end].iter().collect();
            let rule_hits = findings
                .hits
                .iter()
                .filter(|hit| hit.clause == index)
                .map(|hit| signal_name(&tag_id(hit), hit.polarity))
                .collect();
            let mentions = mentioned_tags(lexicon, prepared, clause.start, clause.end)
                .into_iter()
                .map(|tag| lexicon.tags[tag].id.clone())
                .collect();
            ClauseFeatures {
                start: clause.start,
                end: clause.end,
                tokens: clause_tokens(segmenter, &text),
                text,
                lexicon: rule_hits,
                mentions,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlp::lexicon::Lexicon;
    use std::path::Path;

    #[test]
    fn tokens_are_lowercased_and_skip_spaces_and_punctuation() {
        let lexicon = Lexicon::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
            .expect("shipped lexicon");
        let segmenter = Segmenter::new(&lexicon);
        let tokens = clause_tokens(&segmenter, "XL码 偏小!");
        assert_eq!(tokens.chars, ["x", "l", "码", "偏", "小", "!"]);
        assert!(
            tokens.words.contains(&"偏小".to_string()),
            "{:?}",
            tokens.words
        );
        assert!(!tokens.words.iter().any(|word| word == "!"));
    }
}
