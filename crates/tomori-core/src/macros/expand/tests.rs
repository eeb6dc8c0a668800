use chrono::{TimeZone as _, Utc};

use super::*;

fn context() -> MacroContext<'static> {
    MacroContext {
        names: MacroNames { user: "alice", persona: "Tomori" },
        // A Wednesday.
        now: Utc.with_ymd_and_hms(2025, 3, 5, 15, 5, 9).single().expect("a valid time"),
        zone: Zone::UTC,
        last_message: "I rolled {{roll:d6}} for {{user}}",
        last_member_message_at: None,
        pick_seed: 7,
    }
}

#[track_caller]
fn check_with(ctx: &MacroContext<'_>, cases: &[(&str, &str)]) {
    for (text, want) in cases {
        assert_eq!(expand(text, ctx, &mut || 4), *want, "expanding {text:?}");
    }
}

#[test]
fn time_and_date_are_the_contexts_in_its_zone() {
    check_with(
        &context(),
        &[
            ("{{time}}", "3:05 PM"),
            ("{{TIME}}", "3:05 PM"),
            ("{{ time }}", "3:05 PM"),
            ("{{date}}", "March 5, 2025"),
            ("{{weekday}}", "Wednesday"),
            ("{{isotime}}", "15:05"),
            ("{{isodate}}", "2025-03-05"),
            ("{{time::UTC+9}}", "12:05 AM"),
            ("{{time_UTC+9}}", "12:05 AM"),
            ("{{time::Asia/Tokyo}}", "12:05 AM"),
            ("{{time::Nowhere/City}}", "{{time::Nowhere/City}}"),
        ],
    );
    let tokyo = MacroContext { zone: Zone::parse("Asia/Tokyo").expect("a zone"), ..context() };
    check_with(&tokyo, &[("{{date}}, {{weekday}} {{isotime}}", "March 6, 2025, Thursday 00:05")]);
}

#[test]
fn random_pick_and_roll_draw_from_the_callers_numbers() {
    // The random source always gives 4.
    check_with(
        &context(),
        &[
            ("{{random::a::b::c}}", "b"),
            ("{{random:a, b ,c}}", "b"),
            ("{{random::x y::z}}", "x y"),
            ("{{random::only}}", "only"),
            ("{{random}}", "{{random}}"),
            ("{{roll:d6}}", "5"),
            ("{{roll::2d6+1}}", "11"),
            ("{{roll 2D6}}", "10"),
            ("{{roll:20}}", "5"),
            ("{{roll:1d6-10}}", "-5"),
            ("{{roll:100d1000}}", "500"),
            ("{{roll:101d6}}", "{{roll:101d6}}"),
            ("{{roll:1d1001}}", "{{roll:1d1001}}"),
            ("{{roll:d0}}", "{{roll:d0}}"),
            ("{{roll:0d6}}", "{{roll:0d6}}"),
            ("{{roll:1d6+10001}}", "{{roll:1d6+10001}}"),
            ("{{roll:abc}}", "{{roll:abc}}"),
            ("{{roll}}", "{{roll}}"),
        ],
    );
    let ctx = context();
    let first = expand("{{pick::a::b::c::d::e}} {{pick::a::b::c::d::e}}", &ctx, &mut || 0);
    let again = expand("{{pick::a::b::c::d::e}} {{pick::a::b::c::d::e}}", &ctx, &mut || 1);
    assert_eq!(first, again, "a pick does not depend on the random source");
    let other = MacroContext { pick_seed: 8, ..context() };
    let picks: Vec<String> = (0..20)
        .map(|seed| {
            expand("{{pick::a::b::c::d::e}}", &MacroContext { pick_seed: seed, ..other }, &mut || 0)
        })
        .collect();
    assert!(picks.iter().any(|p| p != "a"), "picks vary with the seed: {picks:?}");
}

#[test]
fn conversation_macros_and_utilities() {
    let three_hours_ago = context().now - TimeDelta::hours(3);
    let idle = MacroContext { last_member_message_at: Some(three_hours_ago), ..context() };
    check_with(
        &idle,
        &[("idle for {{idle_duration}}", "idle for 3 hours"), ("{{idleDuration}}", "3 hours")],
    );
    check_with(
        &context(),
        &[
            ("{{idle_duration}}", "just now"),
            ("{{user}} & {{char}} <BOT> {user}", "alice & Tomori Tomori alice"),
            ("a{{newline}}b", "a\nb"),
            ("a{{newline::3}}b", "a\n\n\nb"),
            ("{{newline::1000}}", "{{newline::1000}}"),
            ("a\n\n{{trim}}\n\nb", "ab"),
            ("a{{// a note for the author }}b", "ab"),
            ("{{//}}", ""),
            ("a{{noop}}b", "ab"),
            ("{{getvar::x}} {{other}}", "{{getvar::x}} {{other}}"),
            ("{{time", "{{time"),
            ("{{random::{{user}}::b}}", "{{random::alice::b}}"),
            ("ともり{{weekday}}!", "ともりWednesday!"),
        ],
    );
}

#[test]
fn what_a_macro_produces_is_never_expanded_again() {
    let names = MacroContext {
        names: MacroNames { user: "{{roll:d6}}", persona: "{{time}}" },
        ..context()
    };
    check_with(
        &names,
        &[
            ("{{lastMessage}}", "I rolled {{roll:d6}} for {{user}}"),
            ("{{user}} {{char}}", "{{roll:d6}} {{time}}"),
            ("{{random::{{user}}}}", "{{random::{{roll:d6}}}}"),
        ],
    );
}

#[test]
fn expansions_are_bounded() {
    let long = "x".repeat(1_000);
    let ctx = MacroContext { last_message: &long, ..context() };
    let text = "{{lastMessage}}".repeat(100);
    let out = expand(&text, &ctx, &mut || 0);
    assert!(out.len() <= text.len() + MAX_EXPANSION_BYTES, "{}", out.len());
    assert_eq!(out.matches(long.as_str()).count(), MAX_EXPANSION_BYTES / 1_000);
    assert!(out.ends_with("{{lastMessage}}"));
}

#[test]
fn durations_read_as_words() {
    let cases = [
        (0, "a few seconds"),
        (44, "a few seconds"),
        (60, "a minute"),
        (150, "3 minutes"),
        (44 * 60, "44 minutes"),
        (50 * 60, "an hour"),
        (3 * 3_600, "3 hours"),
        (23 * 3_600, "a day"),
        (3 * 86_400, "3 days"),
        (30 * 86_400, "a month"),
        (100 * 86_400, "3 months"),
        (400 * 86_400, "a year"),
        (3 * 365 * 86_400, "3 years"),
        (-3 * 3_600, "3 hours"),
    ];
    for (seconds, want) in cases {
        assert_eq!(humanize(TimeDelta::seconds(seconds)), want, "{seconds} s");
    }
}
