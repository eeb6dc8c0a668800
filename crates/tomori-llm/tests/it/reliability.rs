//! Failures against the fakes, for every wire format: errors mid-stream, stalls, malformed JSON,
//! 429s with retry-after, retries before the first token only, key rotation and cooldown, the
//! fallback chain with its notice, and the URL policy.

use std::time::{Duration, Instant};

use tomori_llm::{
    ChatRequest, Clock, Endpoint, KeyCandidates, LlmError, Message, Notice, RATE_LIMIT_COOLDOWN,
    StreamEvent, Target, TimeoutPhase, client_for,
};
use tomori_net::{Policy, Scope};
use tomori_testkit::fake_llm::{FakeLlm, Finish, Reply, Turn, WireFormat};

use crate::support::{FORMATS, collect, key, lines, llm, policy, secret, target, wire};

fn hello() -> ChatRequest {
    ChatRequest { messages: vec![Message::user("hello")], ..ChatRequest::default() }
}

fn auth_secret(format: WireFormat, recorded: &tomori_testkit::fake_llm::Recorded) -> String {
    match format {
        WireFormat::OpenAi => {
            recorded.header("authorization").unwrap().trim_start_matches("Bearer ").to_owned()
        }
        WireFormat::Anthropic => recorded.header("x-api-key").unwrap().to_owned(),
        WireFormat::Gemini => recorded.header("x-goog-api-key").unwrap().to_owned(),
    }
}

#[tokio::test]
async fn an_error_after_the_first_token_ends_the_stream_without_a_retry() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("Partial ").error(500, "upstream exploded"));
        fake.push_turn(Turn::new().text("should never be asked for"));
        let (llm, _clock) = llm();
        let stream = llm.stream(&[target(&fake, format, &["k1"])], &hello()).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(lines(&events), ["text Partial "], "{format:?}");
        let error = error.unwrap();
        assert_eq!(error.code(), "server", "{format:?}: {error}");
        assert!(error.to_string().contains("upstream exploded"), "{error}");
        assert_eq!(fake.requests().len(), 1, "{format:?}: no retry once a token was delivered");
    }
}

#[tokio::test]
async fn an_error_before_the_first_token_is_retried() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().error(503, "overloaded"));
        fake.push_turn(Turn::new().text("second try"));
        let (llm, _clock) = llm();
        let completion = llm.complete(&[target(&fake, format, &[])], &hello()).await.unwrap();
        assert_eq!(completion.text, "second try", "{format:?}");
        assert_eq!(fake.requests().len(), 2);
    }
}

#[tokio::test]
async fn a_stall_mid_answer_ends_with_the_idle_timeout() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("Hel").stall());
        let (llm, _clock) = llm();
        let started = Instant::now();
        let stream = llm.stream(&[target(&fake, format, &[])], &hello()).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(lines(&events), ["text Hel"], "{format:?}");
        match error {
            Some(LlmError::Timeout { phase: TimeoutPhase::Idle, after }) => {
                assert_eq!(after, Duration::from_millis(500));
            }
            other => panic!("{format:?}: expected an idle timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3), "the stall outlived its bound");
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_stall_before_the_first_token_is_retried_then_reported() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().stall());
        fake.push_turn(Turn::new().pause(Duration::from_millis(10)).stall());
        let (llm, _clock) = llm();
        let error = llm.stream(&[target(&fake, format, &[])], &hello()).await.unwrap_err();
        // Gemini sends nothing before its first part, so its wait is the first-byte one.
        assert_eq!(error.code(), "timeout", "{format:?}: {error}");
        assert_eq!(fake.requests().len(), 2, "{format:?}: one retry");
    }
}

#[tokio::test]
async fn malformed_json_is_a_classified_error() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("ok so far").malformed());
        let (llm, _clock) = llm();
        let stream = llm.stream(&[target(&fake, format, &[])], &hello()).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(lines(&events), ["text ok so far"], "{format:?}");
        assert_eq!(error.unwrap().code(), "malformed", "{format:?}");
    }
}

#[tokio::test]
async fn a_truncated_stream_is_an_error_not_a_clean_finish() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push_turn(Turn::new().text("cut").finish(Finish::Truncated));
        let (llm, _clock) = llm();
        let stream = llm.stream(&[target(&fake, format, &[])], &hello()).await.unwrap();
        let (events, error) = collect(stream).await;
        assert_eq!(lines(&events), ["text cut"], "{format:?}");
        assert!(error.unwrap().to_string().contains("ended before the answer finished"));
    }
}

#[tokio::test]
async fn a_429_rests_the_key_and_the_next_key_answers() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        fake.push(Reply::rate_limited(format, 7));
        fake.push_turn(Turn::new().text("from k2"));
        fake.push_turn(Turn::new().text("k2 again"));
        fake.push_turn(Turn::new().text("k1 rested"));
        let (llm, clock) = llm();
        let chain = [target(&fake, format, &["k1", "k2"])];
        let provider = &chain[0].provider;

        let first = llm.complete(&chain, &hello()).await.unwrap();
        assert_eq!(first.text, "from k2");
        let stats = llm.pools().stats(provider, "k1");
        assert_eq!(stats.last_error, Some("rate_limit"));
        assert_eq!(stats.cooling_until, Some(clock.now() + RATE_LIMIT_COOLDOWN));

        // k1 rests for 60 s: k2 answers although it has been used more.
        assert_eq!(llm.complete(&chain, &hello()).await.unwrap().text, "k2 again");
        clock.advance(RATE_LIMIT_COOLDOWN + Duration::from_secs(1));
        // Rested and least used: k1 again.
        assert_eq!(llm.complete(&chain, &hello()).await.unwrap().text, "k1 rested");

        let used: Vec<String> = fake.requests().iter().map(|r| auth_secret(format, r)).collect();
        assert_eq!(used, [secret("k1"), secret("k2"), secret("k2"), secret("k1")], "{format:?}");
    }
}

#[tokio::test]
async fn at_most_three_keys_are_tried_and_the_last_error_is_reported() {
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    for _ in 0..4 {
        fake.push(Reply::rate_limited(WireFormat::OpenAi, 30));
    }
    let (llm, _clock) = llm();
    let chain = [target(&fake, WireFormat::OpenAi, &["k1", "k2", "k3", "k4"])];
    let error = llm.stream(&chain, &hello()).await.unwrap_err();
    match error {
        LlmError::RateLimit { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(30)))
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_fallback_answers_with_a_notice_when_the_primary_fails() {
    for format in FORMATS {
        let primary = FakeLlm::start(format).await;
        primary.push(Reply::status(401, &serde_json::json!({"error": {"message": "bad key"}})));
        let backup = FakeLlm::start_on(format, "127.0.0.2".parse().unwrap()).await;
        backup.push_turn(Turn::new().text("backup here"));
        let (llm, _clock) = llm();
        let mut first = target(&primary, format, &["k1"]);
        first.label = "Primary".to_owned();
        let mut second = target(&backup, format, &["k9"]);
        second.label = "Backup".to_owned();
        second.provider = "backup".to_owned();
        let stream = llm.stream(&[first, second], &hello()).await.unwrap();
        assert_eq!(stream.answered().unwrap().label, "Backup");
        let (events, error) = collect(stream).await;
        assert!(error.is_none());
        assert_eq!(
            events.first(),
            Some(&StreamEvent::Notice(Notice::FallbackUsed {
                primary: "Primary".to_owned(),
                answered_by: "Backup".to_owned(),
                reason: "auth",
            })),
            "{format:?}"
        );
        assert_eq!(
            lines(&events[1..]),
            ["text backup here", "usage 12 7", "finish stop"],
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn every_target_failing_reports_the_primary_error() {
    let primary = FakeLlm::start(WireFormat::Anthropic).await;
    primary.push(Reply::rate_limited(WireFormat::Anthropic, 5));
    let backup = FakeLlm::start(WireFormat::Gemini).await;
    backup.reject_key("contents", 404, false);
    let (llm, _clock) = llm();
    let chain = [
        target(&primary, WireFormat::Anthropic, &["k1"]),
        target(&backup, WireFormat::Gemini, &[]),
    ];
    let error = llm.stream(&chain, &hello()).await.unwrap_err();
    assert_eq!(error.code(), "rate_limit", "{error}");
    assert_eq!(error.to_string(), "rate limited by the provider, retry after 5s");
}

#[tokio::test]
async fn personal_keys_resolve_first_and_byok_without_one_is_refused() {
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.push_turn(Turn::new().text("paid by the user"));
    let candidates = KeyCandidates {
        personal: vec![key("mine")],
        server: vec![key("server")],
        instance: vec![key("operator")],
        personal_applies: true,
        personal_required: false,
    };
    let (llm, _clock) = llm();
    let chain =
        [target(&fake, WireFormat::OpenAi, &[]).with_keys(candidates.resolve("fake").unwrap())];
    assert_eq!(llm.complete(&chain, &hello()).await.unwrap().text, "paid by the user");
    assert_eq!(auth_secret(WireFormat::OpenAi, &fake.requests()[0]), secret("mine"));
    let byok = KeyCandidates { personal_required: true, personal: Vec::new(), ..candidates };
    assert_eq!(byok.resolve("fake").unwrap_err().code(), "no_key");
}

#[tokio::test]
async fn the_url_policy_guards_every_endpoint() {
    // A personal endpoint must be https and public: refused when configured.
    let personal = Policy::new(Scope::Personal);
    let refused =
        Endpoint::new(tomori_llm::Wire::OpenAiCompatible, "http://127.0.0.1:8080/v1", &personal)
            .unwrap_err();
    assert_eq!(refused.to_string(), "refused by URL policy: insecure_scheme (127.0.0.1)");
    let metadata =
        Endpoint::new(tomori_llm::Wire::Gemini, "http://169.254.169.254/v1", &Policy::operator())
            .unwrap_err();
    assert_eq!(metadata.code(), "blocked_by_policy");
    // An endpoint admitted by a looser policy is judged again by the client it is used with:
    // the test policy admits only 127.0.0.2, so 127.0.0.3 is refused before any connection.
    let elsewhere = FakeLlm::start_on(WireFormat::OpenAi, "127.0.0.3".parse().unwrap()).await;
    let endpoint =
        Endpoint::new(wire(WireFormat::OpenAi), &elsewhere.base_url(), &Policy::operator())
            .unwrap();
    let strict_client = client_for(policy(), &crate::support::timeouts()).unwrap();
    let chain = [Target::new("elsewhere", "x", endpoint, "m", strict_client)];
    let (llm, _clock) = llm();
    let error = llm.stream(&chain, &hello()).await.unwrap_err();
    assert_eq!(error.code(), "blocked_by_policy", "{error}");
    assert!(elsewhere.requests().is_empty());
}

/// A provider's own timeouts (`[providers.<name>]`) win over the layer's.
#[tokio::test]
async fn a_targets_own_idle_timeout_wins_over_the_layers() {
    let fake = FakeLlm::start(WireFormat::OpenAi).await;
    fake.push_turn(Turn::new().text("Hel").stall());
    let (llm, _clock) = llm();
    let own =
        tomori_llm::Timeouts { idle: Duration::from_millis(120), ..crate::support::timeouts() };
    let target = target(&fake, WireFormat::OpenAi, &[]).with_timeouts(own);
    let stream = llm.stream(&[target], &hello()).await.unwrap();
    let (_events, error) = collect(stream).await;
    match error {
        Some(LlmError::Timeout { phase: TimeoutPhase::Idle, after }) => {
            assert_eq!(after, Duration::from_millis(120), "the target's bound, not the layer's");
        }
        other => panic!("expected an idle timeout, got {other:?}"),
    }
}

/// A refused connection says so, not only "could not reach the provider".
#[tokio::test]
async fn a_refused_connection_is_named_as_such() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind((tomori_testkit::fake_llm::FAKE_IP, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let endpoint =
        Endpoint::new(wire(WireFormat::OpenAi), &format!("http://{addr}/v1"), &policy()).unwrap();
    let client = client_for(policy(), &crate::support::timeouts()).unwrap();
    let target = Target::new("refused", "refused", endpoint, "m", client);
    let (llm, _clock) = llm();
    let error = llm.stream(&[target], &hello()).await.unwrap_err();
    assert_eq!(error.code(), "transport", "{error}");
    assert_eq!(tomori_llm::transport_kind(&error), tomori_llm::TransportKind::ConnectionRefused);
    assert!(error.to_string().contains("connection refused"), "{error}");
    let chain = tomori_llm::cause_chain(&error);
    assert!(chain.starts_with("could not reach the provider (connection refused): "), "{chain}");
}
