//! What the learned models see of a text: per clause, its characters, its
//! jieba words and the rules' findings in it.
//!
//! Training (`models/training/`) reads these through `xinsheng features`
//! and serving builds them with the same functions, so the models are never
//! fed tokens cut differently from the ones they were trained on.

use serde::Serialize;

use super::lexicon::{Lexicon, Role};
use super::tagger::{ClauseHit, ClauseText, PreparedText, RuleFindings};
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

pub fn clause_tokens(clause: &ClauseText) -> ClauseTokens {
    let mut tokens = ClauseTokens::default();
    for_each_clause_token(
        clause,
        |token| tokens.chars.push(token.to_string()),
        |token| tokens.words.push(token.to_string()),
    );
    tokens
}

/// The tokens of [`clause_tokens`] in the same order, characters first,
/// handed out without allocating each one (serving reads them once, to look
/// up their ids).
pub fn for_each_clause_token(
    clause: &ClauseText,
    mut on_char: impl FnMut(&str),
    mut on_word: impl FnMut(&str),
) {
    let mut buffer = [0u8; 4];
    let mut long = String::new();
    for ch in clause.text.chars().filter(|ch| !ch.is_whitespace()) {
        if is_han(ch) {
            on_char(ch.encode_utf8(&mut buffer));
            continue;
        }
        let mut lower = ch.to_lowercase();
        match (lower.next(), lower.len()) {
            (Some(single), 0) => on_char(single.encode_utf8(&mut buffer)),
            _ => {
                // A few characters lowercase to two ("İ" → "i̇").
                long.clear();
                long.extend(ch.to_lowercase());
                on_char(&long);
            }
        }
    }
    for word in clause.words() {
        if !word.chars().any(|ch| is_han(ch) || ch.is_alphanumeric()) {
            continue;
        }
        if is_lowercase(word) {
            on_word(word);
        } else {
            on_word(&word.to_lowercase());
        }
    }
}

/// Han characters of the basic block, most of every review, are letters
/// without case: answered without a search of Unicode's tables (case
/// mapping and the alphabetic table took about 2 % of `classify`'s CPU).
fn is_han(ch: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&ch)
}

/// `text.to_lowercase() == text`, without building the lowercase copy.
fn is_lowercase(text: &str) -> bool {
    text.chars().all(|ch| {
        if is_han(ch) {
            return true;
        }
        let mut lower = ch.to_lowercase();
        lower.next() == Some(ch) && lower.len() == 0
    })
}

/// `tag:polarity`, the name of one rule feature and of one model output.
pub fn signal_name(tag: &str, polarity: Polarity) -> String {
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

/// The rules' findings in one clause, as lexicon indices: what
/// [`ClauseFeatures::lexicon`] and [`ClauseFeatures::mentions`] name.
pub struct ClauseSignals {
    /// `(lexicon tag, polarity)` of each rule hit.
    pub hits: Vec<(usize, Polarity)>,
    /// Lexicon tags mentioned.
    pub mentions: Vec<usize>,
}

pub fn clause_signals(
    lexicon: &Lexicon,
    prepared: &PreparedText,
    findings: &RuleFindings,
    index: usize,
) -> ClauseSignals {
    let clause = &prepared.clauses[index];
    ClauseSignals {
        hits: findings
            .hits
            .iter()
            .filter(|hit| hit.clause == index)
            .map(|hit: &ClauseHit| (hit.tag, hit.polarity))
            .collect(),
        mentions: mentioned_tags(lexicon, prepared, clause.start, clause.end),
    }
}

/// Features of every clause of one prepared text.
pub fn item_features(
    lexicon: &Lexicon,
    prepared: &PreparedText,
    findings: &RuleFindings,
) -> Vec<ClauseFeatures> {
    prepared
        .clauses
        .iter()
        .enumerate()
        .zip(&prepared.clause_texts)
        .map(|((index, clause), clause_text)| {
            let signals = clause_signals(lexicon, prepared, findings, index);
            ClauseFeatures {
                start: clause.start,
                end: clause.end,
                tokens: clause_tokens(clause_text),
                text: clause_text.text.clone(),
                lexicon: signals
                    .hits
                    .into_iter()
                    .map(|(tag, polarity)| signal_name(&lexicon.tags[tag].id, polarity))
                    .collect(),
                mentions: signals
                    .mentions
                    .into_iter()
                    .map(|tag| lexicon.tags[tag].id.clone())
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlp::lexicon::Lexicon;
    use crate::nlp::segment::Segmenter;
    use std::path::Path;

    #[test]
    fn the_han_shortcut_agrees_with_unicode() {
        for ch in ('\u{4E00}'..='\u{9FFF}').filter(|&ch| is_han(ch)) {
            assert!(ch.is_alphanumeric(), "{ch:?}");
            assert_eq!(ch.to_lowercase().collect::<String>(), ch.to_string());
        }
        assert!(!is_han('A') && !is_han('、') && !is_han('\u{3400}'));
    }

    #[test]
    fn tokens_are_lowercased_and_skip_spaces_and_punctuation() {
        let lexicon = Lexicon::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
            .expect("shipped lexicon");
        let segmenter = Segmenter::new(&lexicon);
        let tokens = clause_tokens(&ClauseText::cut(&segmenter, "XL码 偏小!".to_string()));
        assert_eq!(tokens.chars, ["x", "l", "码", "偏", "小", "!"]);
        assert!(
            tokens.words.contains(&"偏小".to_string()),
            "{:?}",
            tokens.words
        );
        assert!(!tokens.words.iter().any(|word| word == "!"));
    }
}
