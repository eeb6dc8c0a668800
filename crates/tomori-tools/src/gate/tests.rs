//! The gate's pure helpers: channel names, and the once-only warnings.

use super::*;

fn channel(id: u64, name: &str, kind: ChannelKind, parent: Option<&str>) -> ChannelFacts {
    ChannelFacts {
        id: Snowflake::new(id).expect("a valid id"),
        name: name.to_owned(),
        kind,
        parent: None,
        parent_name: parent.map(str::to_owned),
    }
}

#[test]
fn channel_names_resolve_with_categories_when_they_repeat() {
    let channels = [
        channel(1, "general", ChannelKind::Text, Some("Text Channels")),
        channel(2, "random", ChannelKind::Text, Some("Games")),
        channel(3, "random", ChannelKind::Text, Some("Work")),
        channel(4, "general", ChannelKind::Voice, Some("Voice")),
        channel(5, "a/b", ChannelKind::Text, None),
        channel(6, "Plans", ChannelKind::Thread, Some("general")),
    ];
    let text = [ChannelKind::Text, ChannelKind::Thread];
    let check = |wanted: &str, expected: &[u64]| {
        let found: Vec<u64> =
            channels_named(&channels, wanted, &text).iter().map(|c| c.id.get()).collect();
        assert_eq!(found, expected, "{wanted:?}");
    };
    check("general", &[1]);
    check("#General", &[1]);
    check(" # general ", &[1]);
    check("random", &[2, 3]);
    check("games/random", &[2]);
    check("#Work/random", &[3]);
    check("Other/random", &[]);
    check("a/b", &[5]);
    check("plans", &[6]);
    check("general/plans", &[6]);
    check("nothing", &[]);
    check("", &[]);
    assert_eq!(qualified(&channels[1]), "Games/random");
}

#[test]
fn a_fact_is_first_once_and_the_memory_is_bounded() {
    let warned = WarnedOnce::default();
    assert!(warned.first("fetch_url".to_owned()));
    assert!(!warned.first("fetch_url".to_owned()));
    assert!(warned.first("echo".to_owned()));
    for i in 2..WarnedOnce::MAX {
        assert!(warned.first(format!("tool_{i}")));
    }
    // Full: nothing more is remembered, so nothing more is logged at WARN.
    assert!(!warned.first("one_more".to_owned()));
}
