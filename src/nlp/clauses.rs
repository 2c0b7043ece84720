//! Clause splitting. Tags are decided per clause, so an opinion in one
//! clause never attaches to an aspect in another ("物流很快，但是衣服起球"
//! gives logistics praise and a material complaint, not two of each).
//!
//! Boundaries: sentence and clause punctuation, line breaks, spaces between
//! Chinese characters (reviewers often use a space as a comma), and contrast
//! words, which open a new clause that is marked `after_contrast`.

use super::lexicon::{Lexicon, LexiconMatch, Role};

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// `[start, end)` in chars of the normalised text.
    pub start: usize,
    pub end: usize,
    /// The clause follows a contrast word ("但是", "不过"): its verdict is the
    /// one the customer stands by.
    pub after_contrast: bool,
}

fn is_boundary_punctuation(ch: char) -> bool {
    matches!(
        ch,
        '，' | ','
            | '。'
            | '！'
            | '!'
            | '？'
            | '?'
            | '；'
            | ';'
            | '\n'
            | '~'
            | '～'
            | '…'
            | '：'
            | '('
            | ')'
            | '（'
            | '）'
            | '【'
            | '】'
            | '"'
            | '“'
            | '”'
    )
}

pub(crate) fn is_cjk(ch: char) -> bool {
    matches!(ch as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Splits `text` into clauses; `matches` are the lexicon hits of the same
/// text, used to find contrast words. Empty clauses are dropped.
pub fn split(text: &str, matches: &[LexiconMatch], lexicon: &Lexicon) -> Vec<Clause> {
    let chars: Vec<char> = text.chars().collect();
    let mut boundaries = vec![false; chars.len()];
    for (index, &ch) in chars.iter().enumerate() {
        let is_boundary = if is_boundary_punctuation(ch) {
            true
        } else if ch == '.' {
            // "4.5寸" is a number, not a sentence end.
            let digit_before = index > 0 && chars[index - 1].is_ascii_digit();
            let digit_after = chars.get(index + 1).is_some_and(|c| c.is_ascii_digit());
            !(digit_before && digit_after)
        } else if ch == ' ' {
            let cjk_before = index > 0 && is_cjk(chars[index - 1]);
            let cjk_after = chars.get(index + 1).is_some_and(|&c| is_cjk(c));
            cjk_before || cjk_after
        } else {
            false
        };
        boundaries[index] = is_boundary;
    }
    let mut contrast_starts_at = vec![false; chars.len()];
    for hit in matches
        .iter()
        .filter(|hit| lexicon.roles(hit.entry).contains(&Role::Contrast))
    {
        if let Some(slot) = contrast_starts_at.get_mut(hit.start) {
            *slot = true;
        }
    }

    let mut clauses = Vec::new();
    let mut start = 0;
    let mut after_contrast = false;
    let push = |start: usize, end: usize, after_contrast: bool, clauses: &mut Vec<Clause>| {
        if end > start {
            clauses.push(Clause {
                start,
                end,
                after_contrast,
            });
        }
    };
    for index in 0..=chars.len() {
        if index == chars.len() {
            push(start, index, after_contrast, &mut clauses);
            break;
        }
        if boundaries[index] {
            push(start, index, after_contrast, &mut clauses);
            start = index + 1;
            after_contrast = false;
            continue;
        }
        if contrast_starts_at[index] {
            push(start, index, after_contrast, &mut clauses);
            start = index;
            after_contrast = true;
        }
    }
    clauses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlp::lexicon::tests::shipped;
    use proptest::prelude::*;

    fn texts(text: &str) -> Vec<(String, bool)> {
        let lexicon = shipped();
        let matches = lexicon.find(text);
        split(text, &matches, lexicon)
            .into_iter()
            .map(|clause| {
                (
                    text.chars()
                        .skip(clause.start)
                        .take(clause.end - clause.start)
                        .collect(),
                    clause.after_contrast,
                )
            })
            .collect()
    }

    #[test]
    fn splits_on_punctuation_and_contrast() {
        assert_eq!(
            texts("物流很快，但是衣服起球"),
            vec![
                ("物流很快".to_string(), false),
                ("但是衣服起球".to_string(), true)
            ]
        );
        assert_eq!(
            texts("物流很快但是衣服起球"),
            vec![
                ("物流很快".to_string(), false),
                ("但是衣服起球".to_string(), true)
            ]
        );
    }

    #[test]
    fn keeps_decimal_numbers_and_latin_words_together() {
        assert_eq!(
            texts("屏幕4.5寸 很清楚"),
            vec![
                ("屏幕4.5寸".to_string(), false),
                ("很清楚".to_string(), false)
            ]
        );
        assert_eq!(
            texts("great product"),
            vec![("great product".to_string(), false)]
        );
    }

    proptest! {
        #[test]
        fn clauses_are_ordered_and_within_text(text in "\\PC{0,120}") {
            let lexicon = shipped();
            let matches = lexicon.find(&text);
            let clauses = split(&text, &matches, lexicon);
            let length = text.chars().count();
            let mut previous_end = 0;
            for clause in clauses {
                prop_assert!(clause.start >= previous_end && clause.start < clause.end && clause.end <= length);
                previous_end = clause.end;
            }
        }
    }
}
