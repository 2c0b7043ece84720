//! Query-string parsing for handlers: unknown parameters are refused (a
//! typo such as `polarty=neg` must not silently return everything), and
//! every value error names its parameter.

use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Accepted values of `source` filters (the ingest side parses `feedback::Source`).
pub const SOURCES: [&str; 5] = ["review", "refund", "chat", "call", "survey"];

pub fn parse_query<T: DeserializeOwned>(query_string: &str) -> Result<T, ApiError> {
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
