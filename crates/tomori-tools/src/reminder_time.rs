//! The time of a reminder as the model writes it: relative ("in 10 minutes", "2h30m", "in 3 days
//! and 4 hours", "in 2 months") or an absolute wall-clock time in the server's timezone
//! ("2026-12-01 09:00", also with `_` or `T` between date and time, and optional seconds).
//!
//! [`resolve`] turns it into an instant and refuses, with a reason the model can pass on, a time
//! that has passed, one more than [`MAX_AHEAD_DAYS`] ahead, a local time the clocks skip, or an
//! absolute time when the server's timezone setting is not a valid zone. Relative times do not
//! depend on the zone, except for months, which follow the local calendar.

use chrono::{DateTime, Months, NaiveDateTime, TimeDelta, Utc};
use tomori_core::timezone::Zone;

/// How far ahead a reminder may be set.
pub const MAX_AHEAD_DAYS: i64 = 366;

/// The largest number one relative part may have ("in 999999 minutes" is fine, more is not).
const MAX_NUMBER: i64 = 1_000_000;

/// A parsed time expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// An offset from now.
    In {
        /// Calendar months, added first in local time.
        months: u32,
        /// Seconds, added after the months.
        seconds: i64,
    },
    /// A wall-clock time in the server's timezone.
    At(NaiveDateTime),
}

/// A resolved reminder time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Due {
    /// The instant.
    pub(crate) at: DateTime<Utc>,
    /// The local time happens twice (clocks fall back) and `at` is the first one.
    pub(crate) ambiguous: bool,
}

fn unit_seconds(word: &str) -> Option<Result<i64, u32>> {
    // Ok(seconds per unit) or Err(months per unit).
    Some(match word {
        "s" | "sec" | "secs" | "second" | "seconds" => Ok(1),
        "m" | "min" | "mins" | "minute" | "minutes" => Ok(60),
        "h" | "hr" | "hrs" | "hour" | "hours" => Ok(3_600),
        "d" | "day" | "days" => Ok(86_400),
        "w" | "wk" | "wks" | "week" | "weeks" => Ok(604_800),
        "mo" | "mos" | "month" | "months" => Err(1),
        _ => return None,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Number(i64),
    Word(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            let number = digits
                .parse::<i64>()
                .ok()
                .filter(|n| *n <= MAX_NUMBER)
                .ok_or_else(|| format!("{digits} is too large"))?;
            out.push(Token::Number(number));
        } else if c.is_alphabetic() {
            let mut word = String::new();
            while let Some(&l) = chars.peek().filter(|l| l.is_alphabetic()) {
                word.push(l);
                chars.next();
            }
            out.push(Token::Word(word));
        } else if c.is_whitespace() || c == ',' || c == '+' {
            chars.next();
        } else {
            return Err(format!("unexpected {c:?}"));
        }
    }
    Ok(out)
}

fn parse_relative(text: &str) -> Result<When, String> {
    let mut text = text.strip_prefix("in ").unwrap_or(text).trim();
    for suffix in [" from now", " later"] {
        text = text.strip_suffix(suffix).unwrap_or(text).trim();
    }
    let mut months: u32 = 0;
    let mut seconds: i64 = 0;
    let mut parts = 0;
    let mut tokens = tokens(text)?.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let count = match token {
            Token::Number(n) => n,
            Token::Word(w) if w == "a" || w == "an" || w == "one" => 1,
            Token::Word(w) if w == "and" && parts > 0 => continue,
            Token::Word(w) => return Err(format!("expected a number before {w:?}")),
        };
        let Some(Token::Word(unit)) = tokens.next() else {
            return Err(format!("{count} needs a unit (minutes, hours, days, weeks or months)"));
        };
        match unit_seconds(&unit) {
            Some(Ok(per)) => seconds = seconds.saturating_add(count.saturating_mul(per)),
            Some(Err(per)) => {
                let add = u32::try_from(count).unwrap_or(u32::MAX).saturating_mul(per);
                months = months.saturating_add(add);
            }
            None => return Err(format!("{unit:?} is not a unit of time")),
        }
        parts += 1;
    }
    if parts == 0 {
        return Err("no duration given".to_owned());
    }
    Ok(When::In { months, seconds })
}

fn parse_absolute(text: &str) -> Result<When, String> {
    let normalised: String =
        text.chars().map(|c| if c == '_' || c == 'T' || c == 't' { ' ' } else { c }).collect();
    let normalised = normalised.split_whitespace().collect::<Vec<_>>().join(" ");
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(&normalised, format) {
            return Ok(When::At(local));
        }
    }
    Err(format!("{text:?} is not a date and time of the form YYYY-MM-DD HH:MM"))
}

/// Parses a time expression.
///
/// # Errors
/// Why it is neither a relative duration nor `YYYY-MM-DD HH:MM`.
pub(crate) fn parse_when(text: &str) -> Result<When, String> {
    let text = text.trim().to_lowercase();
    let looks_absolute = text.len() >= 5
        && text.bytes().take(4).all(|b| b.is_ascii_digit())
        && text.as_bytes().get(4) == Some(&b'-');
    if looks_absolute { parse_absolute(&text) } else { parse_relative(&text) }
}

/// The instant of `when` as seen at `now` in `zone` (`Err` holds why the server's timezone
/// setting is not a zone).
///
/// # Errors
/// A reason starting with a stable code: `invalid_timezone`, `time_skipped`, `time_in_past`,
/// `time_too_far`.
pub(crate) fn resolve(
    when: When,
    zone: Result<Zone, String>,
    now: DateTime<Utc>,
) -> Result<Due, String> {
    let due = match when {
        When::In { months, seconds } => {
            let mut due = Due { at: now, ambiguous: false };
            if months > 0 {
                // Calendar months follow the local calendar; an invalid zone counts as UTC here.
                let zone = zone.as_ref().copied().unwrap_or(Zone::UTC);
                let local = zone
                    .local(now)
                    .checked_add_months(Months::new(months))
                    .ok_or_else(|| "time_too_far: that is too far ahead".to_owned())?;
                let found = zone.resolve(local).map_err(|e| format!("time_skipped: {e}"))?;
                due = Due { at: found.utc, ambiguous: found.ambiguous };
            }
            if seconds <= 0 && months == 0 {
                return Err("time_in_past: give a duration longer than zero".to_owned());
            }
            // Security: denial of service through a panic. Parts add up saturating, so the
            // sum can exceed what a `TimeDelta` holds; both steps are checked, never panicking.
            due.at = TimeDelta::try_seconds(seconds)
                .and_then(|delta| due.at.checked_add_signed(delta))
                .ok_or_else(|| "time_too_far: that is too far ahead".to_owned())?;
            due
        }
        When::At(local) => {
            let zone = zone.map_err(|reason| {
                format!(
                    "invalid_timezone: {reason}; give a relative time (\"in 2 hours\") or ask an admin to fix the server's timezone"
                )
            })?;
            let found = zone.resolve(local).map_err(|e| format!("time_skipped: {e}"))?;
            if found.utc <= now {
                return Err(format!(
                    "time_in_past: {} in {zone} has already passed; it is now {} there",
                    local.format("%Y-%m-%d %H:%M"),
                    zone.local(now).format("%Y-%m-%d %H:%M")
                ));
            }
            Due { at: found.utc, ambiguous: found.ambiguous }
        }
    };
    if due.at > now + TimeDelta::days(MAX_AHEAD_DAYS) {
        return Err(format!("time_too_far: a reminder can be at most {MAX_AHEAD_DAYS} days ahead"));
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a test time").and_utc()
    }

    #[test]
    fn expressions_parse() {
        let check = |text: &str, expected: Result<When, &str>| {
            assert_eq!(parse_when(text), expected.map_err(str::to_owned), "{text:?}");
        };
        let secs = |seconds: i64| Ok(When::In { months: 0, seconds });
        check("in 10 minutes", secs(600));
        check("10m", secs(600));
        check("  In 10 Minutes  ", secs(600));
        check("2h30m", secs(9_000));
        check("2 hours, 30 minutes", secs(9_000));
        check("in 3 days and 4 hours", secs(3 * 86_400 + 4 * 3_600));
        check("an hour", secs(3_600));
        check("in a week", secs(604_800));
        check("90 seconds from now", secs(90));
        check("1h + 1m later", secs(3_660));
        check("in 2 months", Ok(When::In { months: 2, seconds: 0 }));
        check("1 month 2 days", Ok(When::In { months: 1, seconds: 172_800 }));
        let local = |text: &str| {
            Ok(When::At(NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time")))
        };
        check("2026-12-01 09:00", local("2026-12-01 09:00:00"));
        check("2026-12-01_09:00", local("2026-12-01 09:00:00"));
        check("2026-12-01T09:00:30", local("2026-12-01 09:00:30"));
        check("2026-12-01  09:00", local("2026-12-01 09:00:00"));
        check("", Err("no duration given"));
        check("in", Err("expected a number before \"in\""));
        check("tomorrow", Err("expected a number before \"tomorrow\""));
        check("10", Err("10 needs a unit (minutes, hours, days, weeks or months)"));
        check("10 parsecs", Err("\"parsecs\" is not a unit of time"));
        check("in 10 minutes!", Err("unexpected '!'"));
        check("99999999999 minutes", Err("99999999999 is too large"));
        check(
            "2026-13-01 09:00",
            Err("\"2026-13-01 09:00\" is not a date and time of the form YYYY-MM-DD HH:MM"),
        );
        check(
            "2026-12-01",
            Err("\"2026-12-01\" is not a date and time of the form YYYY-MM-DD HH:MM"),
        );
        check(
            "2026-12-01 25:00",
            Err("\"2026-12-01 25:00\" is not a date and time of the form YYYY-MM-DD HH:MM"),
        );
    }

    #[test]
    fn times_resolve_against_now_and_the_zone() {
        let now = at("2026-11-24 08:00:00");
        let tokyo = Zone::parse("Asia/Tokyo").map_err(|e| e.to_string());
        let new_york = Zone::parse("America/New_York").map_err(|e| e.to_string());
        let bad: Result<Zone, String> = Err("\"Mars/Base\" is not a timezone".to_owned());
        let check = |text: &str, zone: &Result<Zone, String>, expected: Result<&str, &str>| {
            let got = parse_when(text).and_then(|w| resolve(w, zone.clone(), now)).map(|d| d.at);
            match expected {
                Ok(time) => assert_eq!(got, Ok(at(time)), "{text:?}"),
                Err(code) => {
                    let reason = got.expect_err(text);
                    assert!(reason.starts_with(code), "{text:?}: {reason}");
                }
            }
        };
        check("in 10 minutes", &tokyo, Ok("2026-11-24 08:10:00"));
        check("in 10 minutes", &bad, Ok("2026-11-24 08:10:00"));
        check("2026-12-01 09:00", &tokyo, Ok("2026-12-01 00:00:00"));
        check("2026-11-24 17:01", &tokyo, Ok("2026-11-24 08:01:00"));
        check("2026-11-24 17:00", &tokyo, Err("time_in_past"));
        check("2020-01-01 09:00", &tokyo, Err("time_in_past"));
        check("2026-12-01 09:00", &bad, Err("invalid_timezone"));
        check("2027-03-14 02:30", &new_york, Err("time_skipped"));
        check("2027-03-14 03:30", &new_york, Ok("2027-03-14 07:30:00"));
        check("2027-11-25 09:00", &tokyo, Ok("2027-11-25 00:00:00"));
        check("2027-11-26 09:00", &tokyo, Err("time_too_far"));
        check("in 367 days", &tokyo, Err("time_too_far"));
        check("in 13 months", &tokyo, Err("time_too_far"));
        check("in 2 months", &tokyo, Ok("2027-01-24 08:00:00"));
        check("0 minutes", &tokyo, Err("time_in_past"));
        let ambiguous = parse_when("2027-11-07 01:30")
            .and_then(|w| resolve(w, new_york.clone(), now))
            .expect("a time that happens twice");
        assert_eq!(ambiguous, Due { at: at("2027-11-07 05:30:00"), ambiguous: true });
    }

    #[test]
    fn numbers_past_every_bound_are_refused_without_a_panic() {
        let now = at("2026-11-24 08:00:00");
        let zone = Zone::parse("Asia/Tokyo").map_err(|e| e.to_string());
        let check = |text: &str, expected: &str| {
            let got = std::panic::catch_unwind(|| {
                parse_when(text).and_then(|w| resolve(w, zone.clone(), now))
            });
            let shown: String = text.chars().take(40).collect();
            let reason = got.unwrap_or_else(|_| panic!("{shown:?} panicked")).expect_err(&shown);
            assert!(reason.starts_with(expected), "{shown:?}: {reason}");
        };
        check("in 999999999999 weeks", "999999999999 is too large");
        check("in 99999999999999999999999 seconds", "99999999999999999999999 is too large");
        check("in 1000000 weeks", "time_too_far");
        check("in 1000000 months", "time_too_far");
        // Parts add up past what a duration can hold (about 292 million years of seconds).
        check(&"1000000 weeks ".repeat(20_000), "time_too_far");
        check(&"1000000 months ".repeat(20_000), "time_too_far");
        check(&format!("{} 1 second", "1000000 weeks ".repeat(20_000)), "time_too_far");
        check(&format!("1 month {}", "1000000 weeks ".repeat(20_000)), "time_too_far");
        check("9999-12-31 23:59", "time_too_far");
    }
}
