//! Query-string parsing for handlers: unknown parameters are refused (a
//! typo such as `polarty=neg` must not silently return everything), and
//! every value error names its parameter.

use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Accepted values of `source` filters (the ingest side parses `feedback::Source`).
pub const SOURCES: [&str; 5] = ["review", "refund", "chat", "call", "survey"];

/// No endpoint takes more than about twenty parameters; a query string with
/// far more is refused before it is parsed.
pub const MAX_PARAMETERS: usize = 64;

pub fn parse_query<T: DeserializeOwned>(query_string: &str) -> Result<T, ApiError> {
    check_raw_query(query_string)?;
    serde_urlencoded::from_str(query_string).map_err(|error| {
        let message = error.to_string();
        // serde names the offending key between backticks: "unknown field `x`, expected ...".
        let field = message.split('`').nth(1).unwrap_or("query").to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_parameter"
        } else {
            "invalid_parameter"
        };
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            code,
            message,
            Some(&field),
        )
    })
}

/// Refuses more than [`MAX_PARAMETERS`] parameters, and names and values
/// that are not UTF-8 once percent-decoded (`q=%FF`): the form decoder
/// would silently turn those bytes into U+FFFD and search for that.
fn check_raw_query(query_string: &str) -> Result<(), ApiError> {
    let pairs = query_string.split('&').filter(|pair| !pair.is_empty());
    for (position, pair) in pairs.enumerate() {
        if position == MAX_PARAMETERS {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "too_many_parameters",
                format!("the query string has more than {MAX_PARAMETERS} parameters"),
                Some("query"),
            ));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name_bytes = percent_decode(name);
        let name_text = String::from_utf8_lossy(&name_bytes);
        if std::str::from_utf8(&name_bytes).is_err()
            || std::str::from_utf8(&percent_decode(value)).is_err()
        {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_encoding",
                format!("parameter `{name_text}` is not UTF-8 once percent-decoded"),
                Some(&name_text),
            ));
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding to bytes: `+` is a space,
/// `%XX` a byte; a `%` not followed by two hex digits stays as it is (as
/// the form decoder treats it).
fn percent_decode(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(&text.replace('+', " ")).collect()
}

/// Empty values (`channel=`) mean "no filter", as HTML forms send them.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

pub fn number<T>(field: &str, value: Option<String>, min: T, max: T) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    let parsed: T = value.parse().map_err(|_| {
        ApiError::bad_parameter(
            field,
            format!("{field} must be a number from {min} to {max}"),
        )
    })?;
    if parsed < min || parsed > max {
        return Err(ApiError::bad_parameter(
            field,
            format!("{field} must be a number from {min} to {max}"),
        ));
    }
    Ok(Some(parsed))
}

pub fn instant(
    field: &str,
    value: Option<String>,
    utc_offset_seconds: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    crate::time::parse_instant(&value, utc_offset_seconds)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                field,
                format!("{field} `{value}` is not an RFC 3339 date-time or a YYYY-MM-DD date"),
            )
        })
}

pub fn one_of(
    field: &str,
    value: Option<String>,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if allowed.contains(&value.as_str()) {
        Ok(Some(value))
    } else {
        Err(ApiError::bad_parameter(
            field,
            format!("{field} must be one of {}", allowed.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        q: Option<String>,
        limit: Option<String>,
    }

    #[test]
    fn invalid_utf8_and_too_many_parameters_are_refused() {
        let refused = |query: &str| parse_query::<Params>(query).expect_err(query).body;
        let invalid = refused("limit=1&q=%E7%89%A9%FF");
        assert_eq!(
            (invalid.code, invalid.field.as_deref()),
            ("invalid_encoding", Some("q"))
        );
        assert_eq!(refused("q%C3=1").code, "invalid_encoding");
        let many = vec!["q=a"; MAX_PARAMETERS + 1].join("&");
        assert_eq!(refused(&many).code, "too_many_parameters");
        let parsed: Params = parse_query("q=%E7%89%A9%E6%B5%81+%E6%85%A2&limit=5%").expect("valid");
        assert_eq!(parsed.q.as_deref(), Some("物流 慢"));
        assert_eq!(parsed.limit.as_deref(), Some("5%"));
        // Found by the property below: a sign is not a hex digit.
        assert_eq!(percent_decode("%+a%ca%aa"), "% aʪ".as_bytes());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any query string: parameters or a 400 naming what is wrong, and
        /// the decoder agrees with the form decoder on every valid one.
        #[test]
        fn any_query_string_is_parsed_or_refused(query in "([a-z]{1,6}|%[0-9A-Fa-f]{2}|%|%.|[=&+]|\\PC){0,40}") {
            match parse_query::<Vec<(String, String)>>(&query) {
                Ok(pairs) => {
                    let decoded: Vec<(String, String)> = query
                        .split('&')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                            (
                                String::from_utf8(percent_decode(name)).expect("checked"),
                                String::from_utf8(percent_decode(value)).expect("checked"),
                            )
                        })
                        .collect();
                    prop_assert_eq!(pairs, decoded);
                }
                Err(error) => {
                    prop_assert_eq!(error.status, actix_web::http::StatusCode::BAD_REQUEST);
                    prop_assert!(error.body.field.is_some());
                }
            }
        }
    }
}
