//! SillyTavern's prompt macros beyond names: time and date, randomness, dice, the last message,
//! idle time, and a few utilities. Every input comes in a [`MacroContext`] and a random source,
//! so an expansion is a function of its inputs.
//!
//! Supported (names in any case; arguments after `::`, or after `:` in SillyTavern's older form):
//! - `{{time}}` (`3:05 PM`), `{{date}}` (`March 5, 2025`), `{{weekday}}` (`Wednesday`),
//!   `{{isotime}}` (`15:05`), `{{isodate}}` (`2025-03-05`): the context's time in its zone;
//!   `{{time::UTC+2}}` (and the older `{{time_UTC+2}}`) in another zone (any name
//!   [`Zone::parse`] takes).
//! - `{{random::a::b::c}}` and `{{random:a,b,c}}` (items trimmed in the comma form): one item,
//!   drawn anew each time. `{{pick::a::b}}`: one item that stays the same for the same
//!   [`MacroContext::pick_seed`] and the same place in the text.
//! - `{{roll:d6}}`, `{{roll::2d6+1}}`, `{{roll:20}}` (one die of 20 sides): the total. At most
//!   [`MAX_DICE`] dice of 1 to [`MAX_SIDES`] sides and a modifier of at most
//!   [`MAX_MODIFIER`]; anything else is left as written.
//! - `{{lastMessage}}`: the last message, as it was written.
//! - `{{idle_duration}}` (also `{{idleDuration}}`): time since the last member message, as words
//!   (`3 hours`), `just now` when there was none.
//! - `{{newline}}` (`{{newline::3}}` for several), `{{trim}}` (removes the line breaks around it),
//!   `{{noop}}`, and comments `{{// ...}}`, which are removed.
//! - `{{user}}`, `{{char}}` and the older name spellings, as [`super::substitute`] does.
//!
//! Expansion is one pass: what a macro produces is never read again, so a member's message that
//! contains `{{roll:d6}}` stays literal when `{{lastMessage}}` brings it in. A macro nested in
//! another's arguments expands while the outer one stays as written; unknown macros stay as
//! written. SillyTavern differences: no variables, no nesting, and `{{random}}`'s comma form
//! has no escaped commas.

use chrono::{DateTime, TimeDelta, Utc};

use super::{MacroAt, MacroNames, macro_at};
use crate::timezone::Zone;

/// Most dice one roll throws.
pub const MAX_DICE: u32 = 100;
/// Most sides a die may have.
pub const MAX_SIDES: u32 = 1_000;
/// Largest modifier added to or taken from a roll.
pub const MAX_MODIFIER: i64 = 10_000;
/// Bytes that expansions may add to a text, all macros together; past it macros stay as written.
pub const MAX_EXPANSION_BYTES: usize = 64 * 1024;
/// Longest macro body read (between the braces).
const MAX_BODY_BYTES: usize = 4 * 1024;
/// Most line breaks one `{{newline::n}}` writes.
const MAX_NEWLINES: usize = 100;

/// Everything a text's macros can stand for.
#[derive(Debug, Clone, Copy)]
pub struct MacroContext<'a> {
    /// The member and the persona.
    pub names: MacroNames<'a>,
    /// The current time.
    pub now: DateTime<Utc>,
    /// The zone `{{time}}` and `{{date}}` speak in.
    pub zone: Zone,
    /// The last message of the conversation (`{{lastMessage}}`).
    pub last_message: &'a str,
    /// When a member last wrote (`{{idle_duration}}`).
    pub last_member_message_at: Option<DateTime<Utc>>,
    /// What keeps `{{pick}}` stable (e.g. the channel's id).
    pub pick_seed: u64,
}

/// Expands every macro in `text` once; `rng` is asked for numbers by `{{random}}` and `{{roll}}`.
pub fn expand(text: &str, ctx: &MacroContext<'_>, rng: &mut impl FnMut() -> u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut added = 0_usize;
    let mut rest = text;
    while let Some(at) = rest.find(['{', '<']) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let from = rest.get(at..).unwrap_or_default();
        let offset = text.len() - from.len();
        if let Some((len, value)) = extended(from, ctx, rng, offset) {
            // Security: a short text of many macros could otherwise grow without bound.
            if added.saturating_add(value.len()) <= MAX_EXPANSION_BYTES {
                added += value.len();
                match value {
                    Value::Text(value) => out.push_str(&value),
                    Value::Trim => {
                        out.truncate(out.trim_end_matches(['\n', '\r']).len());
                        let after = from.get(len..).unwrap_or_default();
                        rest = after.trim_start_matches(['\n', '\r']);
                        continue;
                    }
                }
            } else {
                out.push_str(from.get(..len).unwrap_or_default());
            }
            rest = from.get(len..).unwrap_or_default();
            continue;
        }
        match macro_at(from) {
            MacroAt::Found(which, len)
                if added.saturating_add(ctx.names.name(which).len()) <= MAX_EXPANSION_BYTES =>
            {
                added += ctx.names.name(which).len();
                out.push_str(ctx.names.name(which));
                rest = from.get(len..).unwrap_or_default();
            }
            _ => {
                out.push_str(from.get(..1).unwrap_or_default());
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a macro becomes.
enum Value {
    Text(String),
    /// `{{trim}}`: the line breaks around it go.
    Trim,
}

impl Value {
    fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Trim => 0,
        }
    }
}

/// The `{{...}}` macro `from` starts with, if it is one of this module's: its length in bytes
/// and its value.
fn extended(
    from: &str,
    ctx: &MacroContext<'_>,
    rng: &mut impl FnMut() -> u64,
    offset: usize,
) -> Option<(usize, Value)> {
    let inner = from.strip_prefix("{{")?;
    let window = inner.get(..MAX_BODY_BYTES.min(inner.len())).unwrap_or(inner);
    let end = window.find("}}")?;
    let body = inner.get(..end)?;
    if body.contains("{{") {
        return None;
    }
    let len = end + 4;
    if body.trim_start().starts_with("//") {
        return Some((len, Value::Text(String::new())));
    }
    let (name, args) = split(body);
    let lower = name.to_ascii_lowercase();
    let text = match (lower.as_str(), args) {
        ("trim", Args::None) => return Some((len, Value::Trim)),
        ("noop", Args::None) => String::new(),
        ("newline", Args::None) => "\n".to_owned(),
        ("newline", Args::Colons(n)) => {
            "\n".repeat(n.trim().parse::<usize>().ok().filter(|n| *n <= MAX_NEWLINES)?)
        }
        ("lastmessage", Args::None) => ctx.last_message.to_owned(),
        ("idle_duration" | "idleduration", Args::None) => idle(ctx),
        ("time" | "date" | "weekday" | "isotime" | "isodate", Args::None) => {
            clock(&lower, ctx.zone, ctx.now)
        }
        ("time", Args::Colons(zone)) => clock("time", Zone::parse(zone.trim()).ok()?, ctx.now),
        (name, Args::None) if name.starts_with("time_") => {
            let zone = body.trim().get(5..)?;
            clock("time", Zone::parse(zone).ok()?, ctx.now)
        }
        ("random", args) => {
            let items = args.items();
            let n = u64::try_from(items.len()).ok().filter(|n| *n > 0)?;
            items.get(usize::try_from(rng() % n).ok()?)?.clone()
        }
        ("pick", args) => {
            let items = args.items();
            let n = u64::try_from(items.len()).ok().filter(|n| *n > 0)?;
            let seed = ctx.pick_seed ^ u64::try_from(offset).unwrap_or(u64::MAX);
            items.get(usize::try_from(mix(seed) % n).ok()?)?.clone()
        }
        ("roll", Args::Colons(dice) | Args::Colon(dice)) => roll(dice, rng)?.to_string(),
        _ => return None,
    };
    Some((len, Value::Text(text)))
}

/// A macro's arguments.
#[derive(Debug, Clone, Copy)]
enum Args<'a> {
    None,
    /// After `::` (items separated by `::`).
    Colons(&'a str),
    /// After a single `:` or a space (SillyTavern's older form; items separated by commas).
    Colon(&'a str),
}

impl Args<'_> {
    fn items(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::Colons(text) => text.split("::").map(str::to_owned).collect(),
            Self::Colon(text) => text.split(',').map(|item| item.trim().to_owned()).collect(),
        }
    }
}

fn split(body: &str) -> (&str, Args<'_>) {
    let body_trimmed = body.trim();
    let Some(at) = body_trimmed.find([':', ' ']) else { return (body_trimmed, Args::None) };
    let name = body_trimmed.get(..at).unwrap_or_default();
    let after = body_trimmed.get(at..).unwrap_or_default();
    if let Some(args) = after.strip_prefix("::") {
        return (name, Args::Colons(args));
    }
    let args = after.get(1..).unwrap_or_default();
    (name, Args::Colon(args))
}

/// The splitmix64 finaliser: consecutive seeds give unrelated numbers.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `NdS+M`, `dS`, `S`: the total, or `None` when malformed or out of bounds.
fn roll(spec: &str, rng: &mut impl FnMut() -> u64) -> Option<i64> {
    let spec = spec.trim().to_ascii_lowercase();
    let (dice, rest) = match spec.split_once('d') {
        Some(("", rest)) => (1, rest),
        Some((count, rest)) => (count.parse::<u32>().ok()?, rest),
        None => (1, spec.as_str()),
    };
    let (sides, modifier) = match rest.find(['+', '-']) {
        Some(at) => {
            let (sides, modifier) = rest.split_at_checked(at)?;
            (sides, modifier.parse::<i64>().ok()?)
        }
        None => (rest, 0),
    };
    let sides = sides.parse::<u32>().ok()?;
    // Security: member-written text can hold a roll; dice, sides and modifier are bounded, so a
    // roll costs at most MAX_DICE random numbers and its total fits easily.
    if !(1..=MAX_DICE).contains(&dice)
        || !(1..=MAX_SIDES).contains(&sides)
        || modifier.abs() > MAX_MODIFIER
    {
        return None;
    }
    let mut total = modifier;
    for _ in 0..dice {
        total += i64::try_from(rng() % u64::from(sides)).ok()? + 1;
    }
    Some(total)
}

fn clock(what: &str, zone: Zone, now: DateTime<Utc>) -> String {
    let local = zone.local(now);
    let format = match what {
        "date" => "%B %-d, %Y",
        "weekday" => "%A",
        "isotime" => "%H:%M",
        "isodate" => "%Y-%m-%d",
        _ => "%-I:%M %p",
    };
    local.format(format).to_string()
}

fn idle(ctx: &MacroContext<'_>) -> String {
    match ctx.last_member_message_at {
        Some(at) => humanize(ctx.now.signed_duration_since(at)),
        None => "just now".to_owned(),
    }
}

/// A duration in words, roughly, as people say it: `a few seconds`, `a minute`, `5 minutes`,
/// `an hour`, `3 hours`, `a day`, `4 days`, `a month`, `2 months`, `a year`, `3 years`.
#[must_use]
pub fn humanize(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds().abs();
    let rounded = |unit: i64| (seconds + unit / 2) / unit;
    let (n, one, many) = match seconds {
        0..45 => return "a few seconds".to_owned(),
        45..90 => return "a minute".to_owned(),
        90..2_700 => (rounded(60), "a minute", "minutes"),
        2_700..5_400 => return "an hour".to_owned(),
        5_400..79_200 => (rounded(3_600), "an hour", "hours"),
        79_200..129_600 => return "a day".to_owned(),
        129_600..2_246_400 => (rounded(86_400), "a day", "days"),
        2_246_400..3_888_000 => return "a month".to_owned(),
        3_888_000..27_648_000 => (rounded(2_592_000), "a month", "months"),
        27_648_000..47_347_200 => return "a year".to_owned(),
        _ => (rounded(31_536_000), "a year", "years"),
    };
    if n <= 1 { one.to_owned() } else { format!("{n} {many}") }
}

#[cfg(test)]
mod tests;
