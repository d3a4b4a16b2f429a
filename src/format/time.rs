//! Time as airlock reads and writes it: [`Timestamp`], whole seconds since the Unix epoch, bounded
//! to 9999-12-31T23:59:59Z so that every time read from a manifest, policy, spec, flag or the
//! environment can be formatted as RFC 3339 and moved by a bounded number of days without
//! overflow; and the bound on tar-entry mtimes (`docs/format.md` sections 2.2 and 3).
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z: the latest time an RFC 3339 date with a four-digit year can name.
pub const MAX_UNIX: u64 = 253_402_300_799;

/// The largest tar-entry mtime: 8^11 - 1 (2242-03-16T12:56:31Z), the most the 12-byte ustar mtime
/// field holds as 11 octal digits. Above it tar implementations disagree (GNU base-256, or refuse),
/// so airlock refuses it rather than write a header some readers misread.
pub const MAX_MTIME: u64 = 0o77_777_777_777;

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// A point in time, whole seconds since 1970-01-01T00:00:00Z, at most [`MAX_UNIX`].
///
/// The bound is enforced by every constructor, so formatting cannot fail and adding a day count
/// is checked arithmetic that says when the result leaves the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// 9999-12-31T23:59:59Z.
    pub const MAX: Timestamp = Timestamp(MAX_UNIX);

    /// `secs` since the epoch, if it is within range.
    pub const fn from_unix(secs: u64) -> Option<Timestamp> {
        if secs <= MAX_UNIX {
            Some(Timestamp(secs))
        } else {
            None
        }
    }

    /// Seconds since the epoch.
    pub const fn unix(self) -> u64 {
        self.0
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (and nothing looser).
    pub fn parse(text: &str) -> Option<Timestamp> {
        if text.len() != 20 || !text.ends_with('Z') {
            return None;
        }
        let t = humantime::parse_rfc3339(text).ok()?;
        let stamp = Timestamp::from_unix(t.duration_since(UNIX_EPOCH).ok()?.as_secs())?;
        (stamp.to_string() == text).then_some(stamp)
    }

    /// The system clock, in whole seconds (before the epoch reads as the epoch; the clock cannot
    /// plausibly read past year 9999, but if it did it would read as the maximum).
    pub fn now() -> Timestamp {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Timestamp(secs.min(MAX_UNIX))
    }

    /// `self` plus `days` days, or `None` past 9999-12-31T23:59:59Z.
    pub fn checked_add_days(self, days: u64) -> Option<Timestamp> {
        days.checked_mul(DAY)
            .and_then(|secs| self.0.checked_add(secs))
            .and_then(Timestamp::from_unix)
    }

    /// As a `SystemTime`, for setting file times.
    pub fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In range by construction, so humantime formats it without panicking (it panics only for
        // years above 9999).
        write!(
            f,
            "{}",
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(self.0))
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Checks a tar-entry mtime (`SOURCE_DATE_EPOCH`, the manifest's `mtime`) against [`MAX_MTIME`].
pub fn check_mtime(field: &str, mtime: u64) -> Result<u64, String> {
    if mtime > MAX_MTIME {
        return Err(format!(
            "{field} = {mtime} is after 2242-03-16T12:56:31Z ({MAX_MTIME}), the latest mtime a ustar header holds in octal"
        ));
    }
    Ok(mtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2026-11-22T00:00:00Z").map(Timestamp::unix),
            Some(1_795_305_600)
        );
        assert_eq!(Timestamp::parse("2026-11-22T00:00:00.5Z"), None);
        assert_eq!(Timestamp::parse("2026-11-22 00:00:00Z"), None);
        assert_eq!(Timestamp::parse("2026-11-22T00:00:00+01:00"), None);
    }

    #[test]
    fn the_range_ends_at_year_9999_and_formats_at_its_end() {
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(
            Timestamp::parse("9999-12-31T23:59:59Z"),
            Some(Timestamp::MAX)
        );
        assert_eq!(Timestamp::from_unix(MAX_UNIX + 1), None);
        assert_eq!(Timestamp::from_unix(u64::MAX), None);
    }

    #[test]
    fn adding_days_is_checked() {
        let t = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            t.checked_add_days(1).unwrap().to_string(),
            "2026-01-02T00:00:00Z"
        );
        // The wrap-around values of the independent review: neither may come back in range.
        assert_eq!(t.checked_add_days(9_223_372_036_854_775_807), None);
        assert_eq!(t.checked_add_days(213_503_982_334_602), None);
        assert_eq!(t.checked_add_days(3_000_000), None);
        assert_eq!(Timestamp::MAX.checked_add_days(0), Some(Timestamp::MAX));
    }

    #[test]
    fn mtimes_stop_where_octal_headers_stop() {
        assert!(check_mtime("mtime", MAX_MTIME).is_ok());
        assert!(check_mtime("mtime", MAX_MTIME + 1).is_err());
        assert!(check_mtime("SOURCE_DATE_EPOCH", 300_000_000_000).is_err());
    }
}
