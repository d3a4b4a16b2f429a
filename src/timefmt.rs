//! RFC 3339 UTC timestamps with whole seconds: the only time format airlock writes or reads.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_seconds)).to_string()
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (and nothing looser) into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    if text.len() != 20 || !text.ends_with('Z') {
        return None;
    }
    let t = humantime::parse_rfc3339(text).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (format_rfc3339(secs) == text).then_some(secs)
}

/// The current time in unix seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-22T00:00:00Z"), Some(1_795_305_600));
        assert_eq!(parse_rfc3339("2026-11-22T00:00:00.5Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22 00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-22T00:00:00+01:00"), None);
    }
}
