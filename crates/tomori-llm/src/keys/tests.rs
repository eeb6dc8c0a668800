//! Key resolution and the key pool as tables, with time passed in: nothing sleeps.

use std::time::{Duration, Instant};

use expect_test::expect;
use secrecy::SecretString;

use super::{ApiKey, KeyCandidates, KeyOutcome, KeyPools, KeySource};

fn key(id: &str, source: KeySource, uses: u64) -> ApiKey {
    ApiKey::new(id, source, SecretString::from(format!("sk-secret-{id}-0123456789")), uses)
}

fn ids(keys: &[ApiKey]) -> String {
    keys.iter().map(ApiKey::id).collect::<Vec<_>>().join(",")
}

#[test]
fn personal_before_server_before_instance() {
    let personal = vec![key("p1", KeySource::Personal, 0)];
    let server = vec![key("s1", KeySource::Server, 0), key("s2", KeySource::Server, 0)];
    let instance = vec![key("config:openrouter", KeySource::Instance, 0)];
    let rows: Vec<(KeyCandidates, &str)> = vec![
        (
            KeyCandidates {
                personal: personal.clone(),
                server: server.clone(),
                instance: instance.clone(),
                personal_applies: true,
                personal_required: false,
            },
            "p1",
        ),
        (
            KeyCandidates {
                personal: personal.clone(),
                server: server.clone(),
                instance: instance.clone(),
                personal_applies: false,
                personal_required: false,
            },
            "s1,s2",
        ),
        (
            KeyCandidates {
                personal: Vec::new(),
                server: server.clone(),
                instance: instance.clone(),
                personal_applies: true,
                personal_required: false,
            },
            "s1,s2",
        ),
        (
            KeyCandidates { instance: instance.clone(), ..KeyCandidates::default() },
            "config:openrouter",
        ),
        (KeyCandidates::default(), ""),
        (
            KeyCandidates {
                server,
                instance,
                personal_applies: true,
                personal_required: true,
                ..KeyCandidates::default()
            },
            "error no_key",
        ),
    ];
    for (candidates, expected) in rows {
        let got = match candidates.resolve("openrouter") {
            Ok(keys) => ids(&keys),
            Err(error) => format!("error {}", error.code()),
        };
        assert_eq!(got, expected, "{candidates:?}");
    }
}

#[test]
fn pool_picks_least_used_and_rests_failed_keys() {
    let pools = KeyPools::default();
    let keys = vec![
        key("a", KeySource::Server, 5),
        key("b", KeySource::Server, 2),
        key("c", KeySource::Server, 2),
    ];
    let t0 = Instant::now();
    let mut log = Vec::new();
    let pick = |tried: &[String], at: Instant, log: &mut Vec<String>, what: &str| {
        let picked =
            pools.pick("p", &keys, tried, at).map_or("none".to_owned(), |k| k.id().to_owned());
        log.push(format!("{what}: {picked}"));
        picked
    };
    pick(&[], t0, &mut log, "fresh");
    pools.record("p", "b", KeyOutcome::RateLimited(None), t0);
    pick(&[], t0, &mut log, "b rate limited");
    pools.record("p", "c", KeyOutcome::Failed("server"), t0);
    pick(&[], t0, &mut log, "c failed");
    pick(&["a".to_owned()], t0, &mut log, "a tried already");
    pick(&[], t0 + Duration::from_secs(61), &mut log, "after 61 s");
    pick(&["b".to_owned()], t0 + Duration::from_secs(61), &mut log, "after 61 s, b tried");
    pick(&["b".to_owned()], t0 + Duration::from_secs(301), &mut log, "after 301 s, b tried");
    pools.record("p", "c", KeyOutcome::Success, t0 + Duration::from_secs(301));
    pools.record("p", "c", KeyOutcome::Success, t0 + Duration::from_secs(301));
    pick(&[], t0 + Duration::from_secs(302), &mut log, "c used twice more");
    pools.record("p", "a", KeyOutcome::RateLimited(Some(Duration::from_secs(600))), t0);
    pick(
        &["b".to_owned(), "c".to_owned()],
        t0 + Duration::from_secs(400),
        &mut log,
        "a asked for 600 s",
    );
    expect![[r#"
        fresh: b
        b rate limited: c
        c failed: a
        a tried already: none
        after 61 s: b
        after 61 s, b tried: a
        after 301 s, b tried: c
        c used twice more: b
        a asked for 600 s: none"#]]
    .assert_eq(&log.join("\n"));
    let stats = pools.stats("p", "c");
    assert_eq!(
        (stats.uses, stats.errors, stats.cooling_until, stats.last_error),
        (2, 1, None, None)
    );
}

#[test]
fn a_lone_key_is_tried_even_while_resting() {
    let pools = KeyPools::default();
    let keys = vec![key("only", KeySource::Instance, 0)];
    let now = Instant::now();
    pools.record("p", "only", KeyOutcome::RateLimited(None), now);
    assert_eq!(pools.pick("p", &keys, &[], now).map(ApiKey::id), Some("only"));
}

#[test]
fn keys_never_show_in_debug_output() {
    let candidates = KeyCandidates {
        personal: vec![key("p1", KeySource::Personal, 0)],
        ..KeyCandidates::default()
    };
    let printed = format!("{candidates:?} {:?}", candidates.personal[0]);
    assert!(!printed.contains("sk-secret"), "{printed}");
    assert!(printed.contains("p1") && printed.contains("[REDACTED]"), "{printed}");
}
