//! Server time zones: `UTC`, a fixed offset (`UTC+9`, `UTC-3:30`) or a named IANA zone
//! (`Europe/Paris`, `Asia/Tokyo`), validated when a server sets one and used to tell the model
//! the local date and time. Named zones follow daylight saving time; offsets do not.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use chrono_tz::Tz;

/// A zone name that is neither an offset nor an IANA zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time zone {0:?}: use UTC, an offset such as UTC+9 or UTC-3:30, or an IANA name such \
     as Europe/Paris"
)]
pub struct UnknownZone(pub String);

/// A server's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// A named IANA zone.
    Named(Tz),
    /// A fixed offset from UTC (`UTC+9`), with the name as written.
    Fixed(FixedOffset),
}

impl Zone {
    /// The canonical name: the IANA spelling, or `UTC±H[:MM]`.
    pub fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_owned(),
            Zone::Fixed(offset) => offset_name(*offset),
        }
    }

    /// The UTC offset at `instant`.
    pub fn offset_at(&self, instant: DateTime<Utc>) -> FixedOffset {
        match self {
            Zone::Named(tz) => instant.with_timezone(tz).offset().fix(),
            Zone::Fixed(offset) => *offset,
        }
    }
}

fn offset_name(offset: FixedOffset) -> String {
    let seconds = offset.local_minus_utc();
    if seconds == 0 {
        return "UTC".to_owned();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    match minutes % 60 {
        0 => format!("UTC{sign}{}", minutes / 60),
        m => format!("UTC{sign}{}:{m:02}", minutes / 60),
    }
}

/// Parses `UTC±H[:MM]` (hours 0 to 14).
fn fixed(name: &str) -> Option<FixedOffset> {
    let rest = name.strip_prefix("UTC").or_else(|| name.strip_prefix("utc"))?;
    let (sign, offset) = match rest.as_bytes().first()? {
        b'+' => (1, rest.get(1..)?),
        b'-' => (-1, rest.get(1..)?),
        _ => return None,
    };
    let (hours, minutes) = offset.split_once(':').unwrap_or((offset, "00"));
    let digits = |text: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 14 || minutes > 59 || (hours == 14 && minutes > 0) {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// The zone named `name` (IANA names case-insensitive, as people type them).
///
/// # Errors
/// The name is neither `UTC`, an offset nor an IANA zone.
pub fn zone(name: &str) -> Result<Zone, UnknownZone> {
    let name = name.trim();
    if let Some(offset) = fixed(name) {
        return Ok(Zone::Fixed(offset));
    }
    name.parse::<Tz>()
        .or_else(|_| Tz::from_str_insensitive(name))
        .map(Zone::Named)
        .map_err(|_| UnknownZone(name.to_owned()))
}

/// `now` in the zone named `zone_name`, as the prompt shows it: weekday, date, time, zone and
/// offset. An unknown name (stored before validation was strict) falls back to UTC, saying so.
pub fn local_now(zone_name: &str, now: DateTime<Utc>) -> String {
    match zone(zone_name) {
        Ok(zone) => {
            let offset = zone.offset_at(now);
            let local = now.with_timezone(&offset).format("%A %Y-%m-%d %H:%M");
            let (name, offset) = (zone.name(), offset_name(offset));
            if name == offset {
                format!("{local} ({name})")
            } else {
                format!("{local} ({name}, {offset})")
            }
        }
        Err(_) => format!("{} (UTC)", now.format("%A %Y-%m-%d %H:%M")),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().expect("a valid instant")
    }

    #[test]
    fn formats_the_local_time_with_its_offset() {
        assert_eq!(
            local_now("Asia/Tokyo", at(2026, 11, 24, 15, 30)),
            "Wednesday 2026-11-25 00:30 (Asia/Tokyo, UTC+9)"
        );
        // Daylight saving time is the zone's, not a fixed offset.
        assert_eq!(
            local_now("europe/paris", at(2026, 7, 1, 12, 0)),
            "Wednesday 2026-07-01 14:00 (Europe/Paris, UTC+2)"
        );
        assert_eq!(
            local_now("America/St_Johns", at(2026, 1, 1, 12, 0)),
            "Thursday 2026-01-01 08:30 (America/St_Johns, UTC-3:30)"
        );
        assert_eq!(
            local_now("UTC-3:30", at(2026, 1, 1, 12, 0)),
            "Thursday 2026-01-01 08:30 (UTC-3:30)"
        );
        assert_eq!(local_now("UTC", at(2026, 1, 1, 12, 0)), "Thursday 2026-01-01 12:00 (UTC)");
    }

    #[test]
    fn offsets_and_names_are_parsed_strictly() {
        for good in
            ["UTC", "UTC+9", "UTC-3:30", "UTC+14", "utc+05:45", "Asia/Kolkata", "asia/tokyo"]
        {
            assert!(zone(good).is_ok(), "{good}");
        }
        for bad in
            ["", "Mars/Olympus", "UTC+15", "UTC+14:30", "UTC+9:5", "UTC+", "UTC9", "UTC+x", "+9"]
        {
            assert!(zone(bad).is_err(), "{bad}");
        }
        assert_eq!(zone("asia/tokyo").map(|z| z.name()), Ok("Asia/Tokyo".to_owned()));
        assert_eq!(zone("UTC+05:00").map(|z| z.name()), Ok("UTC+5".to_owned()));
        assert_eq!(
            local_now("Mars/Olympus", at(2026, 1, 1, 0, 0)),
            "Thursday 2026-01-01 00:00 (UTC)"
        );
    }
}
