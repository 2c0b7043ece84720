//! Masking of personal data before anything is stored, indexed or shown.
//!
//! Found in free text: mainland mobile numbers (also with +86 and with
//! spaces or hyphens between groups), landline numbers with an area code,
//! resident ID card numbers (18 characters whose ISO 7064 MOD 11-2 check
//! character is right), bank card numbers (16–19 digits that pass Luhn) and
//! e-mail addresses. Recipient names and street addresses are masked where
//! the source marks them (`meta` fields such as `receiver` or `收货地址`), in
//! `meta` and wherever the same value appears in the text.
//!
//! Masking replaces characters by `*` one for one, keeping separators and
//! the few characters that make a value recognisable to an agent ("138****
//! 5678", "z*****@qq.com", "张**", "浙江省杭州市西湖区******"): the text keeps
//! its length and shape, so clauses, offsets and analysis are unchanged.
//! Masking is idempotent.

use std::borrow::Cow;

/// `meta` fields whose values are personal data, and how each is masked.
pub const MARKED_FIELDS: [(&str, Marked); 12] = [
    ("receiver", Marked::Name),
    ("recipient", Marked::Name),
    ("recipient_name", Marked::Name),
    ("buyer_name", Marked::Name),
    ("收货人", Marked::Name),
    ("收件人", Marked::Name),
    ("address", Marked::Address),
    ("shipping_address", Marked::Address),
    ("收货地址", Marked::Address),
    ("详细地址", Marked::Address),
    ("phone", Marked::Number),
    ("收货电话", Marked::Number),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    Name,
    Address,
    Number,
}

fn is_separator(ch: char) -> bool {
    ch == ' ' || ch == '-'
}

/// Masks every personal number and e-mail address in `text`.
///
/// Numbers and addresses are looked for in the text as the analysis will
/// see it ([`as_analysed`]), and the characters found are masked in the
/// text as sent: "１３８００１３８０００" (full-width, as Chinese input methods
/// type it) or "138\u{200B}0013\u{200B}8000" would otherwise pass here and
/// come back whole once normalisation folds and drops characters.
pub fn mask_text(text: &str) -> Cow<'_, str> {
    let may_hold = |ch: char| matches!(as_analysed(ch), Some(folded) if folded.is_ascii_digit() || folded == '@');
    if !text.chars().any(may_hold) {
        return Cow::Borrowed(text);
    }
    let mut chars: Vec<char> = text.chars().collect();
    // The analysed view: each character with its position in `chars`.
    let mut positions: Vec<usize> = Vec::with_capacity(chars.len());
    let mut view: Vec<char> = Vec::with_capacity(chars.len());
    for (position, ch) in chars.iter().enumerate() {
        let Some(folded) = as_analysed(*ch) else {
            continue;
        };
        // Runs of whitespace collapse into one (a line break if any).
        if folded.is_whitespace() && view.last().is_some_and(|last| last.is_whitespace()) {
            if folded == '\n' {
                if let Some(last) = view.last_mut() {
                    *last = '\n';
                }
            }
            continue;
        }
        positions.push(position);
        view.push(folded);
    }
    let before = view.clone();
    mask_numbers(&mut view);
    mask_emails(&mut view);
    if view == before {
        return Cow::Borrowed(text);
    }
    for ((masked, original), position) in view.iter().zip(&before).zip(&positions) {
        if masked != original {
            chars[*position] = *masked;
        }
    }
    Cow::Owned(chars.into_iter().collect())
}

/// What normalisation (`nlp::normalise`) makes of `ch` before analysis:
/// full-width forms fold to ASCII, other spaces become a space, zero-width
/// characters, byte-order marks and control characters vanish (`None`).
fn as_analysed(ch: char) -> Option<char> {
    match ch {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0),
        '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}' => None,
        '\n' => Some('\n'),
        c if c.is_whitespace() => Some(' '),
        c if c.is_control() => None,
        c => Some(c),
    }
}

/// Masks one marked value (a name, an address, a phone field).
pub fn mask_marked(value: &str, kind: Marked) -> String {
    let chars: Vec<char> = value.chars().collect();
    match kind {
        Marked::Name => chars
            .iter()
            .enumerate()
            .map(|(position, ch)| {
                if position == 0 || ch.is_whitespace() {
                    *ch
                } else {
                    '*'
                }
            })
            .collect(),
        Marked::Address => {
            // Keep the administrative prefix (province, city, district or
            // county): enough for logistics analysis, not enough to find a door.
            let mut keep = 0;
            for (position, ch) in chars.iter().enumerate().take(12) {
                if matches!(ch, '省' | '市' | '区' | '县' | '州' | '盟' | '旗') {
                    keep = position + 1;
                }
            }
            chars
                .iter()
                .enumerate()
                .map(|(position, ch)| {
                    if position < keep || ch.is_whitespace() {
                        *ch
                    } else {
                        '*'
                    }
                })
                .collect()
        }
        Marked::Number => {
            let masked = mask_text(value).into_owned();
            if masked != value {
                return masked;
            }
            let digits = chars.iter().filter(|ch| ch.is_ascii_digit()).count();
            let mut seen = 0;
            chars
                .iter()
                .map(|ch| {
                    if !ch.is_ascii_digit() {
                        return *ch;
                    }
                    seen += 1;
                    if seen <= 3 || seen > digits.saturating_sub(4).max(3) {
                        *ch
                    } else {
                        '*'
                    }
                })
                .collect()
        }
    }
}

/// Masks the marked fields of `meta` in place and returns the raw values
/// found, so the same strings can be masked in the text.
pub fn mask_meta(meta: &mut serde_json::Value) -> Vec<(String, String)> {
    let mut replacements = Vec::new();
    let Some(object) = meta.as_object_mut() else {
        return replacements;
    };
    for (field, kind) in MARKED_FIELDS {
        if let Some(serde_json::Value::String(value)) = object.get_mut(field) {
            let masked = mask_marked(value, kind);
            if masked != *value {
                if value.chars().count() >= 2 {
                    replacements.push((value.clone(), masked.clone()));
                }
                *value = masked;
            }
        }
    }
    replacements
}

/// Replaces each raw marked value in `text` by its masked form.
pub fn mask_values<'a>(text: &'a str, replacements: &[(String, String)]) -> Cow<'a, str> {
    let mut result = Cow::Borrowed(text);
    for (raw, masked) in replacements {
        if result.contains(raw.as_str()) {
            result = Cow::Owned(result.replace(raw.as_str(), masked));
        }
    }
    result
}

fn mask_numbers(chars: &mut [char]) {
    let mut position = 0;
    while position < chars.len() {
        if !chars[position].is_ascii_digit() && chars[position] != '+' {
            position += 1;
            continue;
        }
        // A number does not continue a word: "SKU13800138000" is a code.
        let glued = position > 0
            && (chars[position - 1].is_ascii_alphanumeric() || chars[position - 1] == '*');
        let start = position;
        let mut end = position;
        let mut digit_positions: Vec<usize> = Vec::new();
        if chars[end] == '+' {
            end += 1;
        }
        while end < chars.len() {
            let ch = chars[end];
            if ch.is_ascii_digit() {
                digit_positions.push(end);
                end += 1;
            } else if is_separator(ch)
                && !digit_positions.is_empty()
                && chars.get(end + 1).is_some_and(|next| next.is_ascii_digit())
            {
                end += 1;
            } else if matches!(ch, 'X' | 'x') && digit_positions.len() == 17 {
                digit_positions.push(end);
                end += 1;
                break;
            } else {
                break;
            }
        }
        let followed = chars
            .get(end)
            .is_some_and(|ch| ch.is_ascii_alphanumeric() || *ch == '*');
        if !glued && !followed && !digit_positions.is_empty() {
            let digits: String = digit_positions.iter().map(|&at| chars[at]).collect();
            let separated = end - start > digit_positions.len() + usize::from(chars[start] == '+');
            if let Some((keep_front, keep_back)) = classify(&digits, separated, chars[start] == '+')
            {
                let count = digit_positions.len();
                for (index, &at) in digit_positions.iter().enumerate() {
                    if index >= keep_front && index < count - keep_back {
                        chars[at] = '*';
                    }
                }
            }
        }
        position = end.max(position + 1);
    }
}

/// How many digits to keep at each end, if `digits` is personal data.
fn classify(digits: &str, separated: bool, plus: bool) -> Option<(usize, usize)> {
    let bytes = digits.as_bytes();
    let length = bytes.len();
    let is_mobile = |number: &[u8]| {
        number.len() == 11 && number[0] == b'1' && (b'3'..=b'9').contains(&number[1])
    };
    if is_mobile(bytes) {
        return Some((3, 4));
    }
    if length == 13 && digits.starts_with("86") && is_mobile(&bytes[2..]) {
        return Some((5, 4));
    }
    if length == 18 && id_card_checksum_ok(digits) {
        return Some((3, 4));
    }
    if (16..=19).contains(&length) && luhn_ok(digits) {
        return Some((4, 4));
    }
    // Landlines: area code 0xx/0xxx then 7–8 digits. Unseparated runs only
    // for the lengths an area code allows, to spare order numbers.
    if !plus
        && bytes[0] == b'0'
        && bytes.get(1).is_some_and(|second| *second != b'0')
        && (10..=12).contains(&length)
    {
        let three_digit_code = bytes[1] == b'1' || bytes[1] == b'2';
        let plausible = if three_digit_code {
            length == 10 || length == 11
        } else {
            length == 11 || length == 12
        };
        if separated || plausible {
            return Some((if three_digit_code { 3 } else { 4 }, 4));
        }
    }
    None
}

fn id_card_checksum_ok(number: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let chars: Vec<char> = number.chars().collect();
    if chars.len() != 18 || !chars[..17].iter().all(char::is_ascii_digit) {
        return false;
    }
    let month = chars[10].to_digit(10).unwrap_or(9) * 10 + chars[11].to_digit(10).unwrap_or(9);
    let day = chars[12].to_digit(10).unwrap_or(9) * 10 + chars[13].to_digit(10).unwrap_or(9);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let sum: u32 = chars[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(ch, weight)| ch.to_digit(10).unwrap_or(0) * weight)
        .sum();
    CHECK[(sum % 11) as usize] == chars[17].to_ascii_uppercase()
}

fn luhn_ok(number: &str) -> bool {
    let mut sum = 0;
    for (index, ch) in number.chars().rev().enumerate() {
        let Some(mut digit) = ch.to_digit(10) else {
            return false;
        };
        if index % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    sum % 10 == 0
}

fn mask_emails(chars: &mut [char]) {
    let is_local =
        |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-' | '+' | '*');
    let is_domain = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-');
    for at in 0..chars.len() {
        if chars[at] != '@' {
            continue;
        }
        let mut start = at;
        while start > 0 && is_local(chars[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        let has_dot = domain.trim_end_matches('.').contains('.');
        if start == at || !has_dot {
            continue;
        }
        for position in start + 1..at {
            chars[position] = '*';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_that_identify_a_person_are_masked_in_place() {
        let cases = [
            ("电话13800138000，尽快联系", "电话138****8000，尽快联系"),
            ("打+86 139-1234-5678找我", "打+86 139-****-5678找我"),
            ("座机021-62345678", "座机021-****5678"),
            (
                "身份证11010519491231002X已登记",
                "身份证110***********002X已登记",
            ),
            (
                "卡号 6222 0212 3456 7890 128",
                "卡号 6222 **** **** ***0 128",
            ),
            ("邮箱 zhang.san@qq.com 联系", "邮箱 z********@qq.com 联系"),
        ];
        for (raw, masked) in cases {
            assert_eq!(mask_text(raw), masked, "{raw}");
        }
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for text in [
            "订单号 2026112012345678 还没发货",
            "SKU13800138000 尺码偏小",
            "买了3件，等了15天",
            "身份证110105194912310021看错了",
            "价格12345678元",
            "a@b 不是邮箱",
        ] {
            assert_eq!(mask_text(text), text, "{text}");
        }
    }

    #[test]
    fn marked_values_keep_a_recognisable_prefix() {
        assert_eq!(mask_marked("张小明", Marked::Name), "张**");
        assert_eq!(
            mask_marked("浙江省杭州市西湖区文三路100号", Marked::Address),
            "浙江省杭州市西湖区*******"
        );
        assert_eq!(mask_marked("13800138000", Marked::Number), "138****8000");
        let mut meta = serde_json::json!({"收货人": "张小明", "address": "北京市朝阳区建国路8号", "sku": "A-1"});
        let replacements = mask_meta(&mut meta);
        assert_eq!(meta["收货人"], "张**");
        assert_eq!(meta["sku"], "A-1");
        assert_eq!(
            mask_values("张小明说北京市朝阳区建国路8号送错了", &replacements),
            "张**说北京市朝阳区*****送错了"
        );
    }

    proptest! {
        #[test]
        fn masking_keeps_length_and_is_idempotent(text in "\\PC{0,60}|[0-9 +@a-z.\\-]{0,40}") {
            let once = mask_text(&text).into_owned();
            prop_assert_eq!(once.chars().count(), text.chars().count());
            prop_assert_eq!(mask_text(&once).into_owned(), once.clone());
        }

        #[test]
        fn no_mobile_number_survives(prefix in "[\\u4e00-\\u9fa5]{0,5}", second in 3u8..10, rest in "[0-9]{9}", suffix in "[\\u4e00-\\u9fa5]{0,5}") {
            let number = format!("1{second}{rest}");
            let masked = mask_text(&format!("{prefix}{number}{suffix}")).into_owned();
            prop_assert!(!masked.contains(&number));
        }
    }

    /// `digits` written the way a hostile or careless sender might: some
    /// digits full-width (Chinese input methods type them), invisible
    /// characters between some of them.
    fn disguised(digits: &str, full_width: &[bool], invisible: &[Option<char>]) -> String {
        let mut text = String::new();
        for (position, digit) in digits.chars().enumerate() {
            if position > 0 {
                text.extend(invisible[position % invisible.len()]);
            }
            if full_width[position % full_width.len()] {
                text.push(char::from_u32(digit as u32 + 0xFEE0).expect("full-width digit"));
            } else {
                text.push(digit);
            }
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// What is analysed and indexed is the normalised masked text, so a
        /// number must not come back whole when normalisation folds
        /// full-width digits to ASCII and drops invisible characters.
        #[test]
        fn no_mobile_number_survives_normalisation(
            second in 3u8..10, rest in "[0-9]{9}",
            full_width in proptest::collection::vec(any::<bool>(), 1..11),
            invisible in proptest::collection::vec(
                proptest::option::of(proptest::sample::select(vec!['\u{200B}', '\u{200C}', '\u{2060}', '\u{FEFF}', '\u{0007}', '\r', '\t', '\u{3000}'])),
                1..11,
            ),
            prefix in "[\\u4e00-\\u9fa5]{0,4}", suffix in "[\\u4e00-\\u9fa5]{0,4}",
        ) {
            let number = format!("1{second}{rest}");
            let text = format!("{prefix}电话{}{suffix}", disguised(&number, &full_width, &invisible));
            let masked = mask_text(&text).into_owned();
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            let analysed = crate::nlp::normalise::normalise(&masked);
            prop_assert!(!analysed.contains(&number), "{:?} -> {:?} -> {:?}", text, masked, analysed);
            prop_assert_eq!(mask_text(&masked).into_owned(), masked.clone());
        }
    }
}
