//! A server's timezone: an IANA name from the tz database (`Asia/Tokyo`), `UTC`, or a fixed
//! offset (`UTC+9`, `UTC-3:30`), and the conversions between local wall-clock time and UTC.
//!
//! Local times are where daylight saving bites: a wall-clock time can be skipped (the clocks jump
//! forward over it) or happen twice (they fall back). [`Zone::resolve`] refuses the first with a
//! reason a person can act on and picks the earlier instant of the second, saying so.

use std::fmt;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest name the settings table accepts.
const MAX_NAME: usize = 64;

/// A validated timezone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// A zone of the tz database, with its daylight-saving rules.
    Named(Tz),
    /// A fixed offset from UTC, written `UTC+H[:MM]` or `UTC-H[:MM]`.
    Fixed(FixedOffset),
}

/// Why a timezone name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a timezone: use UTC, an offset such as UTC+9 or UTC-3:30, or a tz database name such as Asia/Tokyo"
)]
pub struct ZoneError {
    /// What was given.
    pub name: String,
}

/// Why a local time has no single instant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    /// The clocks skip this wall-clock time (the start of daylight saving time).
    #[error(
        "{local} does not exist in {zone}: the clocks skip it (daylight saving time); pick a time outside the skipped hour"
    )]
    Skipped {
        /// The local time asked for.
        local: NaiveDateTime,
        /// The zone's name.
        zone: String,
    },
}

/// A local time resolved to an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The instant.
    pub utc: DateTime<Utc>,
    /// The wall-clock time happens twice (the clocks fall back) and `utc` is the earlier one.
    pub ambiguous: bool,
}

impl Zone {
    /// UTC.
    pub const UTC: Self = Self::Named(Tz::UTC);

    /// Parses a stored or typed name: `UTC`, `UTC+H[:MM]` / `UTC-H[:MM]` (hours 0 to 14), or a
    /// tz database name in any letter case.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        let refuse = || ZoneError { name: name.to_owned() };
        if name.len() > MAX_NAME {
            return Err(refuse());
        }
        if let Some((sign, offset)) = name
            .strip_prefix("UTC+")
            .map(|rest| (1, rest))
            .or_else(|| name.strip_prefix("UTC-").map(|rest| (-1, rest)))
        {
            let (hours, minutes) = match offset.split_once(':') {
                Some((hours, minutes)) if minutes.len() == 2 => (hours, minutes),
                Some(_) => return Err(refuse()),
                None => (offset, "00"),
            };
            let number = |text: &str, max: i32| {
                if (1..=2).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
                    text.parse::<i32>().ok().filter(|n| *n <= max)
                } else {
                    None
                }
            };
            let (Some(hours), Some(minutes)) = (number(hours, 14), number(minutes, 59)) else {
                return Err(refuse());
            };
            return FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
                .map(Self::Fixed)
                .ok_or_else(refuse);
        }
        // As people type them: "asia/tokyo" is Asia/Tokyo (stored under its canonical name).
        name.parse::<Tz>()
            .or_else(|_| Tz::from_str_insensitive(name))
            .map(Self::Named)
            .map_err(|_| refuse())
    }

    /// The wall-clock time at `instant`.
    pub fn local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Named(tz) => instant.with_timezone(tz).naive_local(),
            Self::Fixed(offset) => instant.with_timezone(offset).naive_local(),
        }
    }

    /// The offset from UTC at `instant`, as `+09:00`.
    pub fn offset_at(&self, instant: DateTime<Utc>) -> FixedOffset {
        match self {
            Self::Named(tz) => instant.with_timezone(tz).offset().fix(),
            Self::Fixed(offset) => *offset,
        }
    }

    /// The instant of a wall-clock time in this zone.
    ///
    /// # Errors
    /// The time falls in a daylight-saving gap.
    pub fn resolve(&self, local: NaiveDateTime) -> Result<Resolved, LocalTimeError> {
        let found = match self {
            Self::Named(tz) => map(tz.from_local_datetime(&local)),
            Self::Fixed(offset) => map(offset.from_local_datetime(&local)),
        };
        found.ok_or_else(|| LocalTimeError::Skipped { local, zone: self.to_string() })
    }
}

fn map<Z: TimeZone>(found: LocalResult<DateTime<Z>>) -> Option<Resolved> {
    match found {
        LocalResult::Single(at) => Some(Resolved { utc: at.with_timezone(&Utc), ambiguous: false }),
        LocalResult::Ambiguous(earlier, later) => {
            let earlier = earlier.with_timezone(&Utc).min(later.with_timezone(&Utc));
            Some(Resolved { utc: earlier, ambiguous: true })
        }
        LocalResult::None => None,
    }
}

/// The time for a prompt: the local time in the zone named `name` with its offset, and UTC; only
/// UTC (and the name as given) when the name is not a zone.
pub fn describe_now(now: DateTime<Utc>, name: &str) -> String {
    let utc = now.format("%Y-%m-%d %H:%M UTC");
    match Zone::parse(name) {
        Ok(Zone::Named(Tz::UTC)) => utc.to_string(),
        Ok(zone) => format!(
            "{} {zone} (UTC{}; {utc})",
            zone.local(now).format("%Y-%m-%d %H:%M (%A)"),
            zone.offset_at(now)
        ),
        Err(_) => format!("{utc} (server timezone setting {name:?} is not valid)"),
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(tz) => f.write_str(tz.name()),
            Self::Fixed(offset) => {
                let seconds = offset.local_minus_utc();
                let sign = if seconds < 0 { '-' } else { '+' };
                let minutes = seconds.unsigned_abs() / 60;
                if minutes % 60 == 0 {
                    write!(f, "UTC{sign}{}", minutes / 60)
                } else {
                    write!(f, "UTC{sign}{}:{:02}", minutes / 60, minutes % 60)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a test time")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        local(text).and_utc()
    }

    #[test]
    fn names_offsets_and_nonsense() {
        let check = |name: &str, expected: Option<&str>| {
            let parsed = Zone::parse(name).ok().map(|z| z.to_string());
            assert_eq!(parsed.as_deref(), expected, "{name:?}");
        };
        check("UTC", Some("UTC"));
        check("Asia/Tokyo", Some("Asia/Tokyo"));
        check("America/Argentina/Buenos_Aires", Some("America/Argentina/Buenos_Aires"));
        check("Europe/Berlin", Some("Europe/Berlin"));
        check("UTC+9", Some("UTC+9"));
        check("UTC+09", Some("UTC+9"));
        check("UTC-3:30", Some("UTC-3:30"));
        check("UTC+14", Some("UTC+14"));
        check("UTC+0", Some("UTC+0"));
        // Names as people type them are stored canonically.
        check("utc", Some("UTC"));
        check("asia/tokyo", Some("Asia/Tokyo"));
        for bad in [
            "",
            "Tokyo",
            "Mars/Olympus_Mons",
            "Mars/Olympus Mons",
            "Asia/",
            "UTC+15",
            "UTC+",
            "UTC+9:60",
            "UTC+1:5",
            "UTC+1:5x",
            "UTC+-1",
            "x'; --/y",
            "Asia/Tōkyō",
        ] {
            check(bad, None);
        }
        check(&"A".repeat(65), None);
    }

    #[test]
    fn local_times_resolve_through_daylight_saving() {
        let new_york = Zone::parse("America/New_York").expect("a zone");
        let check = |zone: Zone, at: &str, expected: Result<(&str, bool), ()>| {
            let got = zone.resolve(local(at)).map(|r| (r.utc, r.ambiguous)).map_err(drop);
            assert_eq!(got, expected.map(|(u, a)| (utc(u), a)), "{zone} {at}");
        };
        // Winter (UTC-5) and summer (UTC-4).
        check(new_york, "2027-01-10 09:00", Ok(("2027-01-10 14:00", false)));
        check(new_york, "2027-07-10 09:00", Ok(("2027-07-10 13:00", false)));
        // 2027-03-14 02:00-03:00 is skipped; 2027-11-07 01:00-02:00 happens twice.
        check(new_york, "2027-03-14 02:30", Err(()));
        check(new_york, "2027-03-14 03:00", Ok(("2027-03-14 07:00", false)));
        check(new_york, "2027-11-07 01:30", Ok(("2027-11-07 05:30", true)));
        check(
            Zone::parse("UTC-3:30").expect("offset"),
            "2027-03-14 02:30",
            Ok(("2027-03-14 06:00", false)),
        );
        check(Zone::UTC, "2027-03-14 02:30", Ok(("2027-03-14 02:30", false)));
        let skipped = new_york.resolve(local("2027-03-14 02:30")).expect_err("a gap");
        assert_eq!(
            skipped.to_string(),
            "2027-03-14 02:30:00 does not exist in America/New_York: the clocks skip it (daylight saving time); pick a time outside the skipped hour"
        );
    }

    #[test]
    fn prompts_show_local_time_and_utc() {
        let at = utc("2026-12-01 00:30");
        assert_eq!(describe_now(at, "UTC"), "2026-12-01 00:30 UTC");
        assert_eq!(
            describe_now(at, "Asia/Tokyo"),
            "2026-12-01 09:30 (Tuesday) Asia/Tokyo (UTC+09:00; 2026-12-01 00:30 UTC)"
        );
        assert_eq!(
            describe_now(at, "UTC-3:30"),
            "2026-11-30 21:00 (Monday) UTC-3:30 (UTC-03:30; 2026-12-01 00:30 UTC)"
        );
        assert_eq!(
            describe_now(at, "Mars/Base"),
            "2026-12-01 00:30 UTC (server timezone setting \"Mars/Base\" is not valid)"
        );
    }

    #[test]
    fn local_wall_clock_and_offsets() {
        let tokyo = Zone::parse("Asia/Tokyo").expect("a zone");
        let at = utc("2026-12-01 00:00");
        assert_eq!(tokyo.local(at), local("2026-12-01 09:00"));
        assert_eq!(tokyo.offset_at(at).to_string(), "+09:00");
        let fixed = Zone::parse("UTC-3:30").expect("offset");
        assert_eq!(
            fixed.local(at),
            NaiveDate::from_ymd_opt(2026, 11, 30)
                .and_then(|d| d.and_hms_opt(20, 30, 0))
                .expect("date")
        );
    }
}
