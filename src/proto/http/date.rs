//! HTTP-date (RFC 9110 section 5.6.7): written as IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`), read in all three forms a recipient
//! must accept (IMF-fixdate, RFC 850, asctime). Whole seconds since the Unix
//! epoch, UTC; no clock is read here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time with one-second resolution, as HTTP dates have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpDate(u64);

/// The length of an IMF-fixdate.
pub const DATE_LEN: usize = 29;

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian; `month`
/// 1..=12): the usual shift of the year to start in March, so the leap day
/// is the year's last.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl HttpDate {
    /// The date `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: u64) -> Self {
        HttpDate(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> u64 {
        self.0
    }

    /// `time` cut to whole seconds (times before the epoch become the epoch).
    pub fn from_system_time(time: SystemTime) -> Self {
        HttpDate(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// This date as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }

    /// The IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (years past
    /// 9999 are written as 9999-12-31 23:59:59).
    pub fn to_bytes(self) -> [u8; DATE_LEN] {
        let max = days_from_civil(9999, 12, 31) * 86_400 + 86_399;
        let secs = i64::try_from(self.0).unwrap_or(i64::MAX).min(max);
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        let mut out = [0u8; DATE_LEN];
        out[..3].copy_from_slice(DAYS[(days % 7) as usize].as_bytes());
        out[3..5].copy_from_slice(b", ");
        two(&mut out[5..7], day);
        out[7] = b' ';
        out[8..11].copy_from_slice(MONTHS[(month - 1) as usize].as_bytes());
        out[11] = b' ';
        let y = year as u32;
        two(&mut out[12..14], y / 100);
        two(&mut out[14..16], y % 100);
        out[16] = b' ';
        two(&mut out[17..19], (rem / 3600) as u32);
        out[19] = b':';
        two(&mut out[20..22], (rem / 60 % 60) as u32);
        out[22] = b':';
        two(&mut out[23..25], (rem % 60) as u32);
        out[25..].copy_from_slice(b" GMT");
        out
    }

    /// Parses an HTTP-date in any of its three forms; `None` when `value` is
    /// none of them (a recipient then ignores the field).
    pub fn parse(value: &[u8]) -> Option<HttpDate> {
        let s = std::str::from_utf8(value).ok()?.trim();
        parse_imf(s)
            .or_else(|| parse_rfc850(s))
            .or_else(|| parse_asctime(s))
    }
}

impl std::fmt::Display for HttpDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| std::fmt::Error)?)
    }
}

/// Writes `v` (0..=99) as two digits.
fn two(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// A number of exactly `len` digits.
fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `HH:MM:SS` as seconds of the day (60 allowed for a leap second).
fn time_of_day(s: &str) -> Option<u64> {
    let mut parts = s.split(':');
    let h = digits(parts.next()?, 2)?;
    let m = digits(parts.next()?, 2)?;
    let sec = digits(parts.next()?, 2)?;
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(u64::from(h * 3600 + m * 60 + sec))
}

fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// Seconds since the epoch of a valid date and time (`None` before 1970 or
/// for a day the month does not have).
fn to_date(year: i64, month: u32, day: u32, secs: u64) -> Option<HttpDate> {
    let days = days_from_civil(year, month, day);
    if day == 0 || civil_from_days(days) != (year, month, day) {
        return None;
    }
    let total = u64::try_from(days)
        .ok()?
        .checked_mul(86_400)?
        .checked_add(secs)?;
    Some(HttpDate(total))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf(s: &str) -> Option<HttpDate> {
    let (day_name, rest) = s.split_once(", ")?;
    DAYS.contains(&day_name).then_some(())?;
    let mut parts = rest.split(' ');
    let day = digits(parts.next()?, 2)?;
    let month = month(parts.next()?)?;
    let year = digits(parts.next()?, 4)?;
    let secs = time_of_day(parts.next()?)?;
    (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
    to_date(i64::from(year), month, day, secs)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`; a two-digit year is read as the one
/// within 50 years of 2000 (RFC 9110 says: not more than 50 years in the
/// future; without a clock here, 1950-2049 is the window used).
fn parse_rfc850(s: &str) -> Option<HttpDate> {
    let (day_name, rest) = s.split_once(", ")?;
    LONG_DAYS.contains(&day_name).then_some(())?;
    let mut parts = rest.split(' ');
    let mut date = parts.next()?.split('-');
    let day = digits(date.next()?, 2)?;
    let month = month(date.next()?)?;
    let yy = digits(date.next()?, 2)?;
    date.next().is_none().then_some(())?;
    let secs = time_of_day(parts.next()?)?;
    (parts.next()? == "GMT" && parts.next().is_none()).then_some(())?;
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    to_date(i64::from(year), month, day, secs)
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(s: &str) -> Option<HttpDate> {
    let day_name = s.get(..4)?;
    DAYS.iter()
        .any(|d| day_name == format!("{d} "))
        .then_some(())?;
    let month = month(s.get(4..7)?)?;
    (s.get(7..8)? == " ").then_some(())?;
    let day_text = s.get(8..10)?;
    let day = match day_text.as_bytes() {
        [b' ', d] if d.is_ascii_digit() => u32::from(d - b'0'),
        _ => digits(day_text, 2)?,
    };
    (s.get(10..11)? == " ").then_some(())?;
    let secs = time_of_day(s.get(11..19)?)?;
    (s.get(19..20)? == " ").then_some(())?;
    let year = digits(s.get(20..)?, 4)?;
    to_date(i64::from(year), month, day, secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_EXAMPLE: u64 = 784_111_777;

    #[test]
    fn formats_the_rfc_example() {
        let d = HttpDate::from_unix(RFC_EXAMPLE);
        assert_eq!(&d.to_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(d.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            HttpDate::from_unix(0).to_string(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(951_782_400).to_string(),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(
            HttpDate::from_unix(u64::MAX).to_string(),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn parses_all_three_forms() {
        let want = Some(HttpDate::from_unix(RFC_EXAMPLE));
        assert_eq!(HttpDate::parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(HttpDate::parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(HttpDate::parse(b"Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(HttpDate::parse(b" Sun, 06 Nov 1994 08:49:37 GMT "), want);
        assert_eq!(
            HttpDate::parse(b"Monday, 01-Jan-18 00:00:00 GMT"),
            Some(HttpDate::from_unix(1_514_764_800))
        );
    }

    #[test]
    fn refuses_invalid_dates() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT x",
            "Sun Nov 6 08:49:37 1994",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "Sun, 06 Nov +994 08:49:37 GMT",
        ] {
            assert_eq!(HttpDate::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(HttpDate::parse(b"\xff\xfe"), None);
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(secs in 0u64..253_402_300_800) {
            let d = HttpDate::from_unix(secs);
            prop_assert_eq!(HttpDate::parse(&d.to_bytes()), Some(d));
        }

        #[test]
        fn civil_round_trip(days in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
