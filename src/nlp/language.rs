//! Language detection with whatlang. Non-Chinese text is still indexed and
//! searchable; it is tagged only where the lexicon has entries for it.

/// ISO 639-3 code ("cmn", "eng", ...) or "und" when whatlang cannot tell.
pub fn detect(text: &str) -> String {
    // A handful of CJK characters is decisive even where whatlang, on very
    // short input, is not ("好评", "差").
    let cjk = text
        .chars()
        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
        .count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if cjk > 0 && cjk * 2 >= letters {
        return "cmn".to_string();
    }
    match whatlang::detect(text) {
        Some(info) => info.lang().code().to_string(),
        None => "und".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_chinese_english_and_nothing() {
        assert_eq!(detect("物流很快，但是衣服起球"), "cmn");
        assert_eq!(detect("差"), "cmn");
        assert_eq!(
            detect("The delivery was late and the box was crushed."),
            "eng"
        );
        assert_eq!(detect("😡😡"), "und");
    }
}
