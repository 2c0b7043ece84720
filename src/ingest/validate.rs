//! Turning request bodies into validated [`NewFeedback`] items.
//!
//! A body is one JSON object, a JSON array of objects, or NDJSON (one
//! object per line). Every item is checked field by field so that an error
//! names the field and the item's position; nothing is stored unless every
//! item of the request is valid (see `ingest` for why).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::feedback::{NewFeedback, Segment, Source, Speaker};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemError {
    /// Position of the item in the request (0-based), when the body had several.
    pub index: usize,
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_items: usize,
    pub max_text_chars: usize,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    #[error("request body is empty")]
    Empty,
    #[error("request body is not valid JSON or NDJSON: {message}")]
    Malformed {
        message: String,
        line: Option<usize>,
    },
    #[error("request holds {count} items; at most {max} are accepted per request")]
    TooManyItems { count: usize, max: usize },
    #[error("request body is not valid UTF-8")]
    NotUtf8,
    #[error("request body holds more than {max} JSON values; split it into several requests")]
    TooComplex { max: usize },
}

/// Most JSON values (numbers, strings, arrays, objects, ...) in one body.
/// Parsed, each costs at least 32 bytes, so a body of tiny values (`[0,0,
/// 0,...]`) would grow thirty-fold in memory; far above what 10,000 real
/// items need, far below what exhausts the service.
pub const MAX_JSON_VALUES: usize = 2_000_000;

const KNOWN_FIELDS: [&str; 17] = [
    "external_id",
    "source",
    "channel",
    "text",
    "rating",
    "order_id",
    "sku",
    "product_name",
    "category",
    "consumer_id",
    "store",
    "created_at",
    "meta",
    "segments",
    "followup_text",
    "followup_at",
    "reason_code",
];
/// A conversation or a call longer than this is almost certainly a
/// concatenation error upstream.
const MAX_SEGMENTS: usize = 5_000;
const MAX_ID_CHARS: usize = 256;

/// Splits a body into JSON values, one per item: a JSON array, a single
/// object (pretty-printed or not), or NDJSON.
pub fn parse_items(body: &[u8], limits: &Limits) -> Result<Vec<Value>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    let trimmed = text.trim_start_matches('\u{FEFF}').trim();
    if trimmed.is_empty() {
        return Err(BodyError::Empty);
    }
    // Sizes first, from the bytes, so no body is parsed that would blow up.
    let shape = measure(trimmed);
    if let Some(elements) = shape.top_level_elements {
        if elements > limits.max_items {
            return Err(BodyError::TooManyItems {
                count: elements,
                max: limits.max_items,
            });
        }
    }
    if shape.values > MAX_JSON_VALUES {
        return Err(BodyError::TooComplex {
            max: MAX_JSON_VALUES,
        });
    }
    let values = match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::Array(values)) => values,
        Ok(value) => vec![value],
        Err(error) if trimmed.starts_with('[') => {
            return Err(BodyError::Malformed {
                message: error.to_string(),
                line: Some(error.line()),
            })
        }
        // Several objects, one per line.
        Err(_) => parse_ndjson(trimmed, limits)?,
    };
    if values.len() > limits.max_items {
        return Err(BodyError::TooManyItems {
            count: values.len(),
            max: limits.max_items,
        });
    }
    Ok(values)
}

struct Shape {
    /// An upper bound on the JSON values the text parses into: one, plus
    /// one per `,`, `[` and `{` outside strings.
    values: usize,
    /// Elements of a top-level array (commas at depth one, plus one).
    top_level_elements: Option<usize>,
}

/// [`Shape`] of a body by one pass over its bytes, without parsing it.
/// Malformed JSON is measured too; the parser refuses it afterwards.
fn measure(text: &str) -> Shape {
    let mut values = 1usize;
    let mut depth = 0usize;
    let mut depth_one_commas = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                values += 1;
                depth += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => {
                values += 1;
                if depth == 1 {
                    depth_one_commas += 1;
                }
            }
            _ => {}
        }
    }
    Shape {
        values,
        top_level_elements: text.starts_with('[').then_some(depth_one_commas + 1),
    }
}

fn parse_ndjson(text: &str, limits: &Limits) -> Result<Vec<Value>, BodyError> {
    let mut values = Vec::new();
    for (line_index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value = serde_json::from_str::<Value>(line).map_err(|error| BodyError::Malformed {
            message: format!("line {}: {error}", line_index + 1),
            line: Some(line_index + 1),
        })?;
        values.push(value);
        // Counting past the limit is enough to refuse; no need to parse the rest.
        if values.len() > limits.max_items {
            break;
        }
    }
    Ok(values)
}

/// Validates one item. `now` is the default `created_at`.
pub fn validate_item(
    index: usize,
    value: &Value,
    limits: &Limits,
    now: i64,
) -> Result<NewFeedback, ItemError> {
    let error = |code: &'static str, field: &str, message: String| ItemError {
        index,
        code,
        field: field.to_string(),
        message,
    };
    let Value::Object(object) = value else {
        return Err(error(
            "invalid_item",
            "",
            "each item must be a JSON object".into(),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !KNOWN_FIELDS.contains(&key.as_str()))
    {
        return Err(error(
            "unknown_field",
            unknown,
            format!(
                "unknown field `{unknown}`; known fields: {}",
                KNOWN_FIELDS.join(", ")
            ),
        ));
    }
    let external_id = required_string(object, "external_id", MAX_ID_CHARS)
        .map_err(|(code, message)| error(code, "external_id", message))?;
    let source_text = required_string(object, "source", 32)
        .map_err(|(code, message)| error(code, "source", message))?;
    let source = Source::parse(&source_text).ok_or_else(|| {
        error(
            "invalid_value",
            "source",
            format!(
                "unknown source `{source_text}`; expected review, refund, chat, call or survey"
            ),
        )
    })?;
    let channel = required_string(object, "channel", 64)
        .map_err(|(code, message)| error(code, "channel", message))?;
    let text = match object.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(Value::String(_)) => {
            return Err(error(
                "empty_value",
                "text",
                "text must not be empty".into(),
            ))
        }
        Some(_) => {
            return Err(error(
                "invalid_type",
                "text",
                "text must be a string".into(),
            ))
        }
    };
    let mut segments = match object.get("segments") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => {
            parse_segments(value).map_err(|(code, field, message)| error(code, &field, message))?
        }
    };
    if !segments.is_empty() && text.is_some() {
        return Err(error(
            "conflicting_fields",
            "text",
            "send either text or segments: the text of a multi-part item is its customer segments"
                .into(),
        ));
    }
    if !segments.is_empty()
        && object
            .get("followup_text")
            .is_some_and(|value| !value.is_null())
    {
        return Err(error(
            "conflicting_fields",
            "followup_text",
            "a 追评 of a multi-part item is one more segment with kind `followup`".into(),
        ));
    }
    let reason_code = optional_string(object, "reason_code", MAX_ID_CHARS)
        .map_err(|(code, message)| error(code, "reason_code", message))?;
    // A refund's menu reason is feedback even when the buyer wrote nothing.
    let reason_only = source == Source::Refund && reason_code.is_some();
    if segments.is_empty() && text.is_none() && !reason_only {
        return Err(error(
            "missing_field",
            "text",
            "text (or segments) is required".into(),
        ));
    }
    let rating = match object.get("rating") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => match number.as_u64() {
            Some(rating @ 1..=5) => Some(rating as u8),
            _ => {
                return Err(error(
                    "out_of_range",
                    "rating",
                    format!("rating must be an integer from 1 to 5, got {number}"),
                ))
            }
        },
        Some(_) => {
            return Err(error(
                "invalid_type",
                "rating",
                "rating must be an integer from 1 to 5".into(),
            ))
        }
    };
    let first_segment_at = segments.iter().filter_map(|segment| segment.at).min();
    let created_at = optional_instant(object, "created_at")
        .map_err(|(code, message)| error(code, "created_at", message))?
        .or(first_segment_at)
        .unwrap_or(now);
    let followup_at = optional_instant(object, "followup_at")
        .map_err(|(code, message)| error(code, "followup_at", message))?;
    let followup_text = optional_string(object, "followup_text", limits.max_text_chars)
        .map_err(|(code, message)| error(code, "followup_text", message))?;
    let optional = |field: &'static str| -> Result<Option<String>, ItemError> {
        optional_string(object, field, MAX_ID_CHARS)
            .map_err(|(code, message)| error(code, field, message))
    };
    let order_id = optional("order_id")?;
    let sku = optional("sku")?;
    let product_name = optional("product_name")?;
    let category = optional("category")?;
    let consumer_id = optional("consumer_id")?;
    let store = optional("store")?;
    let meta = match object.get("meta") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.clone()),
    };
    if let (Some(text), Some(followup)) = (&text, followup_text) {
        // A 追评 is the same customer speaking again later: keep both parts,
        // so evidence says which one a complaint came from.
        segments = vec![
            Segment {
                speaker: Speaker::Customer,
                text: text.clone(),
                start_ms: None,
                end_ms: None,
                at: Some(created_at),
                message_id: None,
                kind: None,
            },
            Segment {
                speaker: Speaker::Customer,
                text: followup,
                start_ms: None,
                end_ms: None,
                at: followup_at,
                message_id: None,
                kind: Some(FOLLOWUP.to_string()),
            },
        ];
    }
    let mut item = NewFeedback {
        external_id,
        source,
        channel,
        text: text.unwrap_or_default(),
        rating,
        order_id,
        sku,
        product_name,
        category,
        consumer_id,
        store,
        created_at,
        meta,
        segments,
        reason_code,
    };
    if !item.compose_text() && !reason_only {
        return Err(error(
            "no_customer_speech",
            "segments",
            "no segment holds customer speech to analyse".into(),
        ));
    }
    let text_chars = item.text.chars().count();
    if text_chars > limits.max_text_chars {
        return Err(error(
            "too_long",
            if item.segments.is_empty() {
                "text"
            } else {
                "segments"
            },
            format!(
                "text has {text_chars} characters; at most {} are accepted",
                limits.max_text_chars
            ),
        ));
    }
    Ok(item)
}

/// `kind` of a segment that is a review's 追评.
pub const FOLLOWUP: &str = "followup";

/// The wire form of a segment: times as RFC 3339 or Unix seconds.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentInput {
    speaker: String,
    text: String,
    #[serde(default)]
    start_ms: Option<u64>,
    #[serde(default)]
    end_ms: Option<u64>,
    #[serde(default)]
    at: Option<Value>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

type FieldError = (&'static str, String, String);

fn parse_segments(value: &Value) -> Result<Vec<Segment>, FieldError> {
    let Value::Array(values) = value else {
        return Err((
            "invalid_type",
            "segments".into(),
            "segments must be an array of {speaker, text, ...} objects".into(),
        ));
    };
    if values.is_empty() || values.len() > MAX_SEGMENTS {
        return Err((
            "out_of_range",
            "segments".into(),
            format!("segments must hold 1 to {MAX_SEGMENTS} entries"),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(position, value)| {
            let field = format!("segments[{position}]");
            let input: SegmentInput = serde_json::from_value(value.clone())
                .map_err(|error| ("invalid_segment", field.clone(), error.to_string()))?;
            let speaker = Speaker::parse(&input.speaker).ok_or_else(|| {
                (
                    "invalid_value",
                    format!("{field}.speaker"),
                    format!(
                        "unknown speaker `{}`; expected customer, agent or system",
                        input.speaker
                    ),
                )
            })?;
            if input.text.trim().is_empty() {
                return Err((
                    "empty_value",
                    format!("{field}.text"),
                    "segment text must not be empty".into(),
                ));
            }
            let at = match &input.at {
                None | Some(Value::Null) => None,
                Some(value) => Some(instant(value).ok_or_else(|| {
                    (
                        "invalid_date",
                        format!("{field}.at"),
                        "at must be an RFC 3339 date-time or Unix seconds".into(),
                    )
                })?),
            };
            if let (Some(start), Some(end)) = (input.start_ms, input.end_ms) {
                if end < start {
                    return Err((
                        "out_of_range",
                        format!("{field}.end_ms"),
                        "end_ms is before start_ms".into(),
                    ));
                }
            }
            Ok(Segment {
                speaker,
                text: input.text,
                start_ms: input.start_ms,
                end_ms: input.end_ms,
                at,
                message_id: input.message_id,
                kind: input.kind,
            })
        })
        .collect()
}

/// Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the
/// range RFC 3339 can write. Numbers outside it are refused, so no later
/// date arithmetic (day buckets, windows) meets a time near `i64::MAX`.
const INSTANT_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200..=253_402_300_799;

fn instant(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => crate::time::parse_rfc3339(text),
        Value::Number(number) => number
            .as_i64()
            .filter(|seconds| INSTANT_RANGE.contains(seconds)),
        _ => None,
    }
}

fn optional_instant(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<i64>, (&'static str, String)> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ (Value::String(_) | Value::Number(_))) => {
            instant(value).map(Some).ok_or_else(|| {
                (
                    "invalid_date",
                    format!("{field} `{value}` is not an RFC 3339 date-time or Unix seconds"),
                )
            })
        }
        Some(_) => Err((
            "invalid_type",
            format!("{field} must be an RFC 3339 string"),
        )),
    }
}

fn required_string(
    object: &Map<String, Value>,
    field: &str,
    max_chars: usize,
) -> Result<String, (&'static str, String)> {
    match optional_string(object, field, max_chars)? {
        Some(value) => Ok(value),
        None => Err(("missing_field", format!("{field} is required"))),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, (&'static str, String)> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => {
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            if value.chars().count() > max_chars {
                return Err((
                    "too_long",
                    format!("{field} is longer than {max_chars} characters"),
                ));
            }
            Ok(Some(value.to_string()))
        }
        // Ids often arrive as numbers from spreadsheets and platform exports.
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(("invalid_type", format!("{field} must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        max_items: 3,
        max_text_chars: 20,
    };

    fn valid() -> Value {
        json!({"external_id": "a1", "source": "review", "channel": "tmall", "text": "物流很快", "rating": 5,
               "created_at": "2026-11-20T10:00:00+08:00", "meta": {"x": [1]}})
    }

    #[test]
    fn accepts_object_array_and_ndjson() {
        let one = serde_json::to_vec(&valid()).expect("json");
        assert_eq!(parse_items(&one, &LIMITS).expect("object").len(), 1);
        let array = serde_json::to_vec(&json!([valid(), valid()])).expect("json");
        assert_eq!(parse_items(&array, &LIMITS).expect("array").len(), 2);
        let ndjson = format!("{}\n\n{}\n", valid(), valid());
        assert_eq!(
            parse_items(ndjson.as_bytes(), &LIMITS)
                .expect("ndjson")
                .len(),
            2
        );
        let pretty = serde_json::to_string_pretty(&valid()).expect("json");
        assert_eq!(
            parse_items(pretty.as_bytes(), &LIMITS)
                .expect("pretty")
                .len(),
            1
        );
    }

    #[test]
    fn refuses_bad_bodies() {
        assert_eq!(parse_items(b"  ", &LIMITS), Err(BodyError::Empty));
        assert!(matches!(
            parse_items(b"{\"a\":", &LIMITS),
            Err(BodyError::Malformed { .. })
        ));
        assert!(matches!(
            parse_items(&[0xff, 0xfe], &LIMITS),
            Err(BodyError::NotUtf8)
        ));
        let many = serde_json::to_vec(&json!([valid(), valid(), valid(), valid()])).expect("json");
        assert_eq!(
            parse_items(&many, &LIMITS),
            Err(BodyError::TooManyItems { count: 4, max: 3 })
        );
    }

    #[test]
    fn validates_fields_and_names_them() {
        let item = validate_item(0, &valid(), &LIMITS, 0).expect("valid");
        assert_eq!(item.created_at, 1_795_104_000 + 10 * 3600);
        let cases = [
            ("source", json!("tweet"), "invalid_value"),
            ("text", json!("   "), "empty_value"),
            ("text", json!("太长了".repeat(10)), "too_long"),
            ("rating", json!(6), "out_of_range"),
            ("rating", json!(2.5), "out_of_range"),
            ("created_at", json!("yesterday"), "invalid_date"),
            ("created_at", json!(i64::MAX), "invalid_date"),
            ("created_at", json!(253_402_300_800_i64), "invalid_date"),
            ("followup_at", json!(i64::MIN), "invalid_date"),
            ("colour", json!("red"), "unknown_field"),
        ];
        for (field, value, code) in cases {
            let mut item = valid();
            item[field] = value;
            let error = validate_item(4, &item, &LIMITS, 0).expect_err(field);
            assert_eq!(
                (error.field.as_str(), error.code, error.index),
                (field, code, 4)
            );
        }
        let mut missing = valid();
        missing.as_object_mut().expect("object").remove("text");
        assert_eq!(
            validate_item(0, &missing, &LIMITS, 0)
                .expect_err("missing")
                .code,
            "missing_field"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(values) = parse_items(&body, &LIMITS) {
                for (index, value) in values.iter().enumerate() {
                    let _ = validate_item(index, value, &LIMITS, 0);
                }
            }
        }

        #[test]
        fn arbitrary_json_items_never_panic(text in "\\PC{0,40}", rating in any::<i64>(), date in "\\PC{0,30}") {
            let item = json!({"external_id": text.clone(), "source": "chat", "channel": text.clone(), "text": text, "rating": rating, "created_at": date});
            let _ = validate_item(0, &item, &LIMITS, 0);
        }
    }

    /// Any JSON value: scalars of every type (control characters, lone
    /// combining marks and zero-width characters in strings, numbers beyond
    /// i64), nested arrays and objects.
    fn any_json() -> impl Strategy<Value = Value> {
        let string =
            "(\\PC|[\\x00-\\x1f\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{feff}\\u{0301}]){0,24}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            string.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{0,12}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// An item whose every known field may hold any JSON value, so every
    /// type check and every conversion of every field is reached.
    fn any_item() -> impl Strategy<Value = Value> {
        let field = prop_oneof![
            3 => any_json(),
            1 => Just(json!("review")),
            1 => Just(json!("refund")),
            1 => Just(json!("call")),
            1 => Just(json!("2026-11-20T10:00:00+08:00")),
            1 => Just(json!([{"speaker": "customer", "text": "物流太慢", "at": 1_795_104_000}])),
        ];
        proptest::collection::btree_map(
            proptest::sample::select(KNOWN_FIELDS.to_vec()),
            field,
            0..KNOWN_FIELDS.len(),
        )
        .prop_map(|map| {
            Value::Object(
                map.into_iter()
                    .map(|(key, value)| (key.to_string(), value))
                    .collect(),
            )
        })
    }

    #[test]
    fn bodies_of_tiny_values_are_refused_before_parsing() {
        let limits = Limits {
            max_items: 10_000,
            max_text_chars: 20,
        };
        let tiny_items = format!("[{}0]", "0,".repeat(20_000));
        assert_eq!(
            parse_items(tiny_items.as_bytes(), &limits),
            Err(BodyError::TooManyItems {
                count: 20_001,
                max: 10_000
            })
        );
        let huge_meta = format!(
            "{{\"external_id\":\"a\",\"meta\":[{}0]}}",
            "0,".repeat(MAX_JSON_VALUES)
        );
        assert_eq!(
            parse_items(huge_meta.as_bytes(), &limits),
            Err(BodyError::TooComplex {
                max: MAX_JSON_VALUES
            })
        );
        // Commas and brackets inside strings (escaped quotes too) are text.
        let shape = measure(r#"[{"text": "a,b,[c]{d}\",e"}, 1]"#);
        assert_eq!((shape.values, shape.top_level_elements), (4, Some(2)));
    }

    fn check_accepted(item: &NewFeedback) -> Result<(), TestCaseError> {
        prop_assert!(INSTANT_RANGE.contains(&item.created_at));
        prop_assert!(item
            .segments
            .iter()
            .filter_map(|segment| segment.at)
            .all(|at| INSTANT_RANGE.contains(&at)));
        prop_assert!(
            !item.external_id.is_empty() && item.external_id.chars().count() <= MAX_ID_CHARS
        );
        prop_assert!(!item.channel.is_empty());
        prop_assert!(item.text.chars().count() <= LIMITS.max_text_chars);
        prop_assert!(item.rating.is_none_or(|rating| (1..=5).contains(&rating)));
        prop_assert!(item.segments.len() <= MAX_SEGMENTS);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any value as a whole body, as one item and as one item of an
        /// array: a clean error or an item within the limits.
        #[test]
        fn arbitrary_json_values_are_refused_cleanly_or_accepted_within_limits(value in any_json()) {
            let body = serde_json::to_vec(&value).expect("serialises");
            if let Ok(values) = parse_items(&body, &LIMITS) {
                prop_assert!(values.len() <= LIMITS.max_items);
                for (index, value) in values.iter().enumerate() {
                    if let Ok(item) = validate_item(index, value, &LIMITS, 0) {
                        check_accepted(&item)?;
                    }
                }
            }
        }

        /// The byte count of values never undercounts what the parser builds.
        #[test]
        fn measured_values_bound_the_parsed_values(value in any_json()) {
            fn count(value: &Value) -> usize {
                1 + match value {
                    Value::Array(values) => values.iter().map(count).sum(),
                    Value::Object(map) => map.values().map(count).sum(),
                    _ => 0,
                }
            }
            let text = value.to_string();
            let shape = measure(&text);
            prop_assert!(shape.values >= count(&value), "{} < {} for {}", shape.values, count(&value), text);
            if let Value::Array(values) = &value {
                prop_assert_eq!(shape.top_level_elements, Some(values.len().max(1)));
            }
        }

        #[test]
        fn items_with_arbitrary_field_values_never_panic(item in any_item()) {
            match validate_item(2, &item, &LIMITS, 0) {
                Ok(accepted) => check_accepted(&accepted)?,
                Err(error) => {
                    prop_assert_eq!(error.index, 2);
                    prop_assert!(!error.message.is_empty());
                }
            }
        }

        /// NDJSON: any lines, valid or not, blank or not, with a BOM and CRLF.
        #[test]
        fn arbitrary_ndjson_never_panics(
            lines in proptest::collection::vec(prop_oneof![
                any_json().prop_map(|value| value.to_string()),
                any_item().prop_map(|value| value.to_string()),
                "\\PC{0,30}",
                Just(String::new()),
            ], 0..8),
            crlf in any::<bool>(), bom in any::<bool>(),
        ) {
            let separator = if crlf { "\r\n" } else { "\n" };
            let body = format!("{}{}", if bom { "\u{feff}" } else { "" }, lines.join(separator));
            match parse_items(body.as_bytes(), &LIMITS) {
                Ok(values) => {
                    prop_assert!(values.len() <= LIMITS.max_items);
                    for (index, value) in values.iter().enumerate() {
                        if let Ok(item) = validate_item(index, value, &LIMITS, 0) {
                            check_accepted(&item)?;
                        }
                    }
                }
                Err(BodyError::Malformed { line, .. }) => prop_assert!(line.is_some()),
                Err(_) => {}
            }
        }

        /// Deep nesting anywhere in a body is refused by the parser's depth
        /// limit, never by a stack overflow.
        #[test]
        fn deep_nesting_is_refused(depth in 130usize..20_000, object in any::<bool>(), ndjson in any::<bool>()) {
            let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
            let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let body = if ndjson { format!("{}\n{nested}", valid()) } else { nested };
            let error = parse_items(body.as_bytes(), &LIMITS).expect_err("too deep");
            let is_malformed = matches!(error, BodyError::Malformed { .. });
            prop_assert!(is_malformed);
        }
    }
}
