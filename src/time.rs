//! Instants as the database stores them (unix seconds) and as the API shows
//! them (RFC 3339 UTC strings). Nothing else in the crate reads the clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// Seconds since the unix epoch, now.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2026-12-03T14:00:00Z` for a unix timestamp in seconds.
pub fn rfc3339(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_306_400), "2026-12-03T14:00:00Z");
    }
}
