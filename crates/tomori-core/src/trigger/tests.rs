use super::*;

fn personas() -> Vec<PersonaTrigger> {
    vec![
        PersonaTrigger { nickname: "Tomori".into(), triggers: vec!["tomo".into()], is_main: true },
        PersonaTrigger { nickname: "Kaede".into(), triggers: vec![], is_main: false },
        PersonaTrigger {
            nickname: "Momiji".into(),
            triggers: vec!["もみじ".into()],
            is_main: false,
        },
    ]
}

const HUMAN: Author = Author::Human { privacy: PrivacyLevel::Minimal };
const SETTINGS: TriggerSettings =
    TriggerSettings { match_limit: 3, cascade_limit: 3, deliberate: false };

fn situation<'a>(personas: &'a [PersonaTrigger], content: &'a str) -> Situation<'a> {
    Situation {
        author: HUMAN,
        content,
        is_dm: false,
        mentions_bot: false,
        reply_to: ReplyTo::Nothing,
        outside_whitelist: false,
        in_thought_log: false,
        auto_trigger: AutoTrigger::Off,
        personas,
        default_persona: None,
        server_triggers: &[],
        settings: SETTINGS,
    }
}

/// Renders a decision as "silent:Reason" or "reply:Tomori,Kaede" (+ " passive").
fn render(decision: &Decision, personas: &[PersonaTrigger]) -> String {
    match decision {
        Decision::Silent(reason) => format!("silent:{reason:?}"),
        Decision::Reply { personas: chosen, deliberate } => {
            let names: Vec<&str> = chosen.iter().map(|i| personas[*i].nickname.as_str()).collect();
            format!("reply:{}{}", names.join(","), if *deliberate { "" } else { " passive" })
        }
    }
}

#[track_caller]
fn check(edit: impl Fn(&mut Situation<'_>), content: &str, expected: &str) {
    let personas = personas();
    let mut s = situation(&personas, content);
    edit(&mut s);
    assert_eq!(render(&decide(&s), &personas), expected, "content {content:?}");
}

fn plain(_: &mut Situation<'_>) {}

#[test]
fn people_are_answered_when_they_address_the_bot() {
    check(plain, "hello everyone", "silent:NotAddressed");
    check(plain, "hey tomori, what's up?", "reply:Tomori");
    check(plain, "TOMOOOORI!!", "reply:Tomori");
    check(plain, "tomo help", "reply:Tomori");
    check(plain, "automobile tomorrow", "silent:NotAddressed");
    check(|s| s.mentions_bot = true, "<@1> hi", "reply:Tomori");
    check(|s| s.reply_to = ReplyTo::Bot, "thanks", "reply:Tomori");
    check(|s| s.reply_to = ReplyTo::Persona(1), "and you?", "reply:Kaede");
    check(|s| s.is_dm = true, "anything at all", "reply:Tomori");
    check(plain, "もみじちゃん、おはよう", "reply:Momiji");
}

#[test]
fn several_personas_answer_in_the_order_their_triggers_appear() {
    check(plain, "kaede and tomori, fight!", "reply:Kaede,Tomori");
    check(plain, "tomori, kaede, momiji", "reply:Tomori,Kaede,Momiji");
    check(|s| s.settings.match_limit = 2, "tomori, kaede, momiji", "reply:Tomori,Kaede");
    check(|s| s.reply_to = ReplyTo::Persona(2), "kaede what do you think", "reply:Momiji,Kaede");
}

#[test]
fn some_messages_are_never_answered() {
    check(plain, "!tomori play music", "silent:BangPrefix");
    check(
        |s| s.author = Author::Human { privacy: PrivacyLevel::Full },
        "tomori?",
        "silent:PrivacyFull",
    );
    check(|s| s.in_thought_log = true, "tomori", "silent:ThoughtLog");
    check(|s| s.outside_whitelist = true, "tomori", "silent:NotWhitelisted");
    check(
        |s| {
            s.outside_whitelist = true;
            s.is_dm = true;
        },
        "hi",
        "reply:Tomori",
    );
    check(|s| s.author = Author::OtherBot, "beep boop", "silent:ForeignBot");
    check(|s| s.author = Author::UnknownWebhook, "news update", "silent:ForeignBot");
    check(|s| s.author = Author::UnknownWebhook, "tomori, what do you think?", "silent:ForeignBot");
    check(
        |s| {
            s.author = Author::UnknownWebhook;
            s.mentions_bot = true;
        },
        "hi",
        "silent:ForeignBot",
    );
    check(|s| s.author = Author::OtherBot, "tomori, ping", "reply:Tomori");
    check(|s| s.personas = &[], "tomori", "silent:NoPersona");
}

#[test]
fn persona_chains_stop_at_the_cascade_limit() {
    check(
        |s| s.author = Author::OwnPersona { persona: 1, chain: 1 },
        "tomori, your turn",
        "reply:Tomori",
    );
    check(
        |s| s.author = Author::OwnPersona { persona: 1, chain: 3 },
        "tomori, your turn",
        "reply:Tomori",
    );
    check(
        |s| s.author = Author::OwnPersona { persona: 1, chain: 4 },
        "tomori, your turn",
        "silent:CascadeLimit",
    );
    check(|s| s.author = Author::SelfBot { chain: 1 }, "kaede?", "reply:Kaede");
    check(
        |s| {
            s.author = Author::SelfBot { chain: 1 };
            s.settings.cascade_limit = 0;
        },
        "kaede?",
        "silent:CascadeLimit",
    );
    // A persona never triggers itself.
    check(
        |s| s.author = Author::OwnPersona { persona: 1, chain: 1 },
        "I am Kaede",
        "silent:NotAddressed",
    );
}

#[test]
fn auto_trigger_channels_answer_passively() {
    check(|s| s.auto_trigger = AutoTrigger::CounterHit, "what a day", "reply:Tomori passive");
    check(|s| s.auto_trigger = AutoTrigger::AlwaysReply, "what a day", "reply:Tomori passive");
    check(|s| s.auto_trigger = AutoTrigger::AlwaysReply, "kaede?", "reply:Kaede");
    check(
        |s| {
            s.auto_trigger = AutoTrigger::AlwaysReply;
            s.author = Author::SelfBot { chain: 1 };
        },
        "done",
        "silent:NotAddressed",
    );
}

#[test]
fn deliberate_mode_counts_only_at_triggers_mentions_and_replies() {
    let deliberate = |s: &mut Situation<'_>| s.settings.deliberate = true;
    check(deliberate, "tomori is great", "silent:NotAddressed");
    check(deliberate, "@tomori hi", "reply:Tomori");
    check(deliberate, "hey @ tomooori", "reply:Tomori");
    check(
        |s| {
            s.settings.deliberate = true;
            s.mentions_bot = true;
        },
        "<@1>",
        "reply:Tomori",
    );
    check(
        |s| {
            s.settings.deliberate = true;
            s.is_dm = true;
        },
        "tomori",
        "reply:Tomori",
    );
}

#[track_caller]
fn check_find(text: &str, trigger: &str, expected: Option<usize>) {
    assert_eq!(find_trigger(text, trigger, false), expected, "{trigger:?} in {text:?}");
}

#[test]
fn trigger_words_match_whole_words_with_repeated_letters() {
    check_find("tomori", "tomori", Some(0));
    check_find("hi Tomoooorii", "tomori", Some(3));
    check_find("tomoritomori", "tomori", None);
    check_find("xtomori", "tomori", None);
    check_find("aaron and aron", "aaron", Some(0));
    check_find("aron", "aaron", None);
    check_find("", "tomori", None);
    check_find("tomori", "  ", None);
    check_find("ともりちゃん", "ともり", Some(0));
    check_find("おはようともり", "ともり", Some(4));
    check_find("ÉLODIE!", "élodie", Some(0));
    // Stored quoted before trigger words were normalised.
    check_find("hey tomo", "\"Tomo\"", Some(4));
    check_find("hey tomo", "`tomo`", Some(4));
}

#[test]
fn stop_phrases_are_whole_messages() {
    for yes in [
        "stop",
        "STOP!",
        "that's enough",
        "That\u{2019}s enough.",
        "nevermind",
        "ok stop",
        "やめて",
        "ストップ！",
        "もういい。",
    ] {
        assert!(is_stop_phrase(yes), "{yes:?}");
    }
    for no in ["don't stop", "stop sign", "enough talk, let's go", "tomori", ""] {
        assert!(!is_stop_phrase(no), "{no:?}");
    }
}

#[test]
fn a_channels_persona_answers_where_the_main_persona_would() {
    // Kaede is this channel's persona.
    fn kaede(s: &mut Situation<'_>) {
        s.default_persona = Some(1);
    }
    fn kaede_mentioned(s: &mut Situation<'_>) {
        kaede(s);
        s.mentions_bot = true;
    }
    check(kaede_mentioned, "<@1> hi", "reply:Kaede");
    check(
        |s| {
            kaede(s);
            s.reply_to = ReplyTo::Bot;
        },
        "thanks",
        "reply:Kaede",
    );
    check(
        |s| {
            kaede(s);
            s.auto_trigger = AutoTrigger::AlwaysReply;
        },
        "hi",
        "reply:Kaede passive",
    );
    // Names and trigger words still call their persona, the main persona's included.
    check(kaede, "tomori, hi", "reply:Tomori");
    check(kaede, "もみじ?", "reply:Momiji");
    check(kaede_mentioned, "<@1> momiji?", "reply:Momiji");
    check(
        |s| {
            kaede(s);
            s.reply_to = ReplyTo::Persona(2);
        },
        "and you?",
        "reply:Momiji",
    );
    // Server trigger words address the channel's persona.
    let words = ["hey bot".to_owned()];
    let personas = personas();
    let mut s = situation(&personas, "hey bot, hi");
    s.server_triggers = &words;
    assert_eq!(render(&decide(&s), &personas), "reply:Tomori");
    s.default_persona = Some(1);
    assert_eq!(render(&decide(&s), &personas), "reply:Kaede");
    // A persona that is gone (a stale index) leaves the main persona in charge.
    check(
        |s| {
            s.default_persona = Some(9);
            s.mentions_bot = true;
        },
        "<@1>",
        "reply:Tomori",
    );
    // The whitelist still applies.
    check(
        |s| {
            kaede_mentioned(s);
            s.outside_whitelist = true;
        },
        "<@1> hi",
        "silent:NotWhitelisted",
    );
}

#[test]
fn admission_refuses_what_decide_refuses_for_every_way_of_addressing() {
    type Edit = fn(&mut Situation<'_>);
    let table: [(&str, Edit, Option<Silence>); 7] = [
        ("admitted", plain, None),
        ("thought log", |s| s.in_thought_log = true, Some(Silence::ThoughtLog)),
        (
            "privacy 2",
            |s| s.author = Author::Human { privacy: PrivacyLevel::Full },
            Some(Silence::PrivacyFull),
        ),
        ("outside whitelist", |s| s.outside_whitelist = true, Some(Silence::NotWhitelisted)),
        (
            "a DM lives outside the whitelist",
            |s| {
                s.outside_whitelist = true;
                s.is_dm = true;
            },
            None,
        ),
        ("no persona", |s| s.personas = &[], Some(Silence::NoPersona)),
        ("privacy 1", |s| s.author = Author::Human { privacy: PrivacyLevel::Partial }, None),
    ];
    let personas = personas();
    for (name, edit, expected) in table {
        // Whatever the message says, from silence to a direct mention.
        for (content, mention) in [("", false), ("hello", false), ("tomori?", false), ("", true)] {
            let mut s = situation(&personas, content);
            s.mentions_bot = mention;
            edit(&mut s);
            assert_eq!(admission(&s), expected, "{name}: {content:?}");
            if expected.is_some() {
                assert!(matches!(decide(&s), Decision::Silent(_)), "{name}: {content:?}");
            }
        }
    }
}
