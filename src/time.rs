//! Time helpers. Feedback times are stored as Unix seconds (UTC); boards
//! bucket by calendar day in the deployment's time zone (China Standard
//! Time by default, configurable).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const SECONDS_PER_DAY: i64 = 86_400;

pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn parse_rfc3339(value: &str) -> Option<i64> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Accepts RFC 3339 or a plain date (`2026-11-20`, start of that day in the
/// given offset); query parameters are typed by people.
pub fn parse_instant(value: &str, utc_offset_seconds: i64) -> Option<i64> {
    if let Some(instant) = parse_rfc3339(value) {
        return Some(instant);
    }
    let date = time::Date::parse(
        value.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() - utc_offset_seconds)
}

/// Spreadsheet exports write local times without an offset
/// ("2026-11-20 10:00:00", "2026/11/20 10:00"); RFC 3339 is accepted too.
pub fn parse_local_datetime(value: &str, utc_offset_seconds: i64) -> Option<i64> {
    if let Some(instant) = parse_rfc3339(value) {
        return Some(instant);
    }
    let value = value.trim().replace('/', "-");
    let formats = [
        time::macros::format_description!(
            "[year]-[month padding:none]-[day padding:none] [hour padding:none]:[minute]:[second]"
        ),
        time::macros::format_description!(
            "[year]-[month padding:none]-[day padding:none] [hour padding:none]:[minute]"
        ),
    ];
    for format in formats {
        if let Ok(local) = time::PrimitiveDateTime::parse(&value, &format) {
            return Some(local.assume_utc().unix_timestamp() - utc_offset_seconds);
        }
    }
    parse_instant(&value, utc_offset_seconds)
}

pub fn format_rfc3339(unix_seconds: i64, utc_offset_seconds: i64) -> String {
    let offset = time::UtcOffset::from_whole_seconds(utc_offset_seconds as i32)
        .unwrap_or(time::UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map(|instant| instant.to_offset(offset))
        .ok()
        .and_then(|instant| instant.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// Start of the local day containing `unix_seconds`.
pub fn local_day_start(unix_seconds: i64, utc_offset_seconds: i64) -> i64 {
    let local = unix_seconds + utc_offset_seconds;
    local.div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY - utc_offset_seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: i64 = 8 * 3600;

    #[test]
    fn parses_rfc3339_and_dates() {
        assert_eq!(
            parse_rfc3339("2026-11-20T08:00:00+08:00"),
            Some(1_795_132_800)
        );
        assert_eq!(parse_instant("2026-11-20", CST), Some(1_795_104_000));
        assert_eq!(parse_instant("yesterday", CST), None);
    }

    #[test]
    fn day_starts_follow_the_local_offset() {
        let instant = parse_rfc3339("2026-11-20T01:30:00+08:00").expect("valid");
        assert_eq!(
            format_rfc3339(local_day_start(instant, CST), CST),
            "2026-11-20T00:00:00+08:00"
        );
    }
}
