//! Text normalisation, the first NLP stage.
//!
//! Everything downstream (lexicon matching, segmentation, the index, evidence
//! offsets) sees the normalised text, so this stage decides what "the text"
//! is: full-width letters/digits/symbols folded to ASCII (CJK punctuation such
//! as "，" "！" is kept: it reads naturally and clause splitting knows it),
//! Traditional converted to Simplified, invisible and control characters
//! dropped, runs of spaces collapsed, line breaks kept (chats and transcripts
//! are line-oriented). Emoji are kept: they carry sentiment.

/// Full-width forms that stay as they are because they are ordinary Chinese
/// punctuation rather than "wide ASCII".
const KEPT_FULL_WIDTH: &[char] = &['！', '（', '）', '，', '：', '；', '？', '～'];

pub fn normalise(raw: &str) -> String {
    let folded = fold_width_and_controls(raw);
    let simplified = if needs_conversion(&folded) {
        zhconv::zhconv(&folded, zhconv::Variant::ZhHans)
    } else {
        folded
    };
    collapse_whitespace(&simplified)
}

fn fold_width_and_controls(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            '\u{3000}' => out.push(' '),
            '\u{FF01}'..='\u{FF5E}' if !KEPT_FULL_WIDTH.contains(&ch) => {
                // The full-width block mirrors ASCII 0x21..0x7E at a fixed offset.
                let ascii = char::from_u32(ch as u32 - 0xFEE0).unwrap_or(ch);
                out.push(ascii);
            }
            '\r' => {}
            '\n' | '\t' => out.push(ch),
            // Zero-width characters and byte-order marks hide inside pasted
            // text and would split words invisibly. U+200D (zero-width joiner)
            // is kept: emoji sequences need it.
            '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Converting pure ASCII text is a no-op; skip zhconv's automaton for it.
fn needs_conversion(text: &str) -> bool {
    !text.is_ascii()
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    let mut pending_newline = false;
    for ch in text.chars() {
        if ch == '\n' {
            pending_newline = true;
            pending_space = false;
            continue;
        }
        if ch.is_whitespace() {
            pending_space = !pending_newline;
            continue;
        }
        if !out.is_empty() {
            if pending_newline {
                out.push('\n');
            } else if pending_space {
                out.push(' ');
            }
        }
        pending_space = false;
        pending_newline = false;
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_full_width_letters_and_digits_but_keeps_chinese_punctuation() {
        assert_eq!(normalise("ＸＬ码，１２３元！"), "XL码，123元！");
    }

    #[test]
    fn converts_traditional_to_simplified() {
        assert_eq!(normalise("質量很好，物流也快"), "质量很好，物流也快");
        assert_eq!(normalise("這個顏色與圖片不一樣"), "这个颜色与图片不一样");
    }

    #[test]
    fn keeps_emoji_and_collapses_whitespace() {
        assert_eq!(
            normalise("  太差了  😡\r\n\n\n客服：您好\t "),
            "太差了 😡\n客服：您好"
        );
    }

    #[test]
    fn drops_zero_width_and_control_characters() {
        assert_eq!(normalise("起\u{200B}球\u{0007}了\u{FEFF}"), "起球了");
    }

    #[test]
    fn leaves_simplified_text_untouched() {
        let text = "物流很快，但是衣服起球";
        assert_eq!(normalise(text), text);
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(raw in "\\PC{0,200}") {
            let once = normalise(&raw);
            prop_assert_eq!(normalise(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
        }
    }

    /// Hostile text: what `\\PC` never generates (control, format and
    /// invisible characters, CR, full-width forms, the ideographic space,
    /// combining marks) mixed with Traditional characters and emoji.
    const HOSTILE_TEXT: &str = "(\\PC|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{200b}-\\u{200f}\\u{2028}\\u{2029}\\u{202a}-\\u{202e}\\u{2060}-\\u{2069}\\u{feff}\\u{3000}\\u{ff01}-\\u{ff5e}\\u{0300}-\\u{036f}質這與顏圖😡👨\\u{200d}👩]){0,120}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Control characters, zero-width characters and byte-order marks
        /// never reach the analysis; whitespace is collapsed; folding is
        /// idempotent whatever the input.
        #[test]
        fn hostile_text_is_cleaned_and_idempotent(raw in HOSTILE_TEXT) {
            let once = normalise(&raw);
            prop_assert_eq!(normalise(&once), once.clone());
            for ch in once.chars() {
                prop_assert!(ch == '\n' || !ch.is_control(), "control {:?} in {:?}", ch, once);
                prop_assert!(!['\u{200B}', '\u{200C}', '\u{2060}', '\u{FEFF}', '\u{3000}'].contains(&ch), "{:?} in {:?}", ch, once);
                prop_assert!(!('\u{FF01}'..='\u{FF5E}').contains(&ch) || KEPT_FULL_WIDTH.contains(&ch), "{:?}", ch);
            }
            prop_assert!(!once.starts_with(char::is_whitespace) && !once.ends_with(char::is_whitespace));
            prop_assert!(!once.contains("  ") && !once.contains("\n\n") && !once.contains(" \n"));
        }
    }
}
