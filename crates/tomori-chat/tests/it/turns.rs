use std::time::Duration;

use tomori_chat::surface::Speaker;
use tomori_core::privacy::PrivacyLevel;
use tomori_core::quota::QuotaLimits;
use tomori_core::settings::CooldownKind;
use tomori_store::audit::Actor;
use tomori_store::quotas::{self, QuotaKind};
use tomori_store::{Scope, settings, users};
use tomori_testkit::fake_llm::Turn;

use crate::{ALICE, BOB, CHANNEL, Harness, id};

#[tokio::test]
async fn a_mention_gets_a_streamed_reply_that_replies_to_it() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("Hello ").text("alice!"));
    let msg = h.message(ALICE, "alice", "<@900> hi there");
    let trigger = msg.message;
    h.engine.handle(msg).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].content, "Hello alice!");
    assert_eq!(sent[0].speaker, Speaker::Bot);
    assert_eq!(sent[0].reply_to, Some(trigger));
    assert!(h.typing_count() >= 1, "the typing indicator is shown");
    // What the model was sent: the persona, and the message with an opaque handle, no raw ids.
    let request = &h.llm.requests()[0];
    let body = String::from_utf8_lossy(&request.body).into_owned();
    assert!(body.contains("You are Tomori."), "{body}");
    assert!(body.contains("[ref_1] alice: <@900> hi there"), "{body}");
    assert!(!body.contains(&trigger.to_string()), "raw message ids never reach the model");
}

#[tokio::test]
async fn long_answers_arrive_as_several_messages_of_at_most_1950_characters() {
    let h = Harness::new().await;
    let paragraph = "Tomori explains things at length. ".repeat(40);
    let mut turn = Turn::new();
    for _ in 0..4 {
        turn = turn.text(&format!("{}\n\n", paragraph.trim()));
    }
    h.llm.push_turn(turn);
    h.engine.handle(h.message(ALICE, "alice", "tomori, explain")).await;
    let sent = h.settle().await;
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(sent.iter().all(|m| m.content.chars().count() <= 1950));
    assert_eq!(
        sent.iter().filter(|m| m.reply_to.is_some()).count(),
        1,
        "only the first message replies"
    );
}

#[tokio::test]
async fn an_alter_speaks_through_its_webhook_identity() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("Kaede here."));
    h.engine.handle(h.message(ALICE, "alice", "kaede, are you there?")).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].speaker, Speaker::Persona { name: "Kaede".into(), avatar_url: None });
    assert!(String::from_utf8_lossy(&h.llm.requests()[0].body).contains("You are Kaede."));
}

#[tokio::test]
async fn two_personas_triggered_by_one_message_answer_in_order() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("Kaede first."));
    h.llm.push_turn(Turn::new().text("Then Tomori."));
    h.engine.handle(h.message(ALICE, "alice", "kaede and tomori, hello")).await;
    let sent = h.wait_sent(2).await;
    assert!(matches!(&sent[0].speaker, Speaker::Persona { name, .. } if name == "Kaede"));
    assert_eq!(sent[0].content, "Kaede first.");
    assert_eq!(sent[1].speaker, Speaker::Bot);
    assert_eq!(sent[1].content, "Then Tomori.");
}

#[tokio::test]
async fn a_privacy_2_user_is_ignored() {
    let h = Harness::new().await;
    let bob = h.store.resolve_user(id(BOB)).await.unwrap();
    users::set_privacy(&h.store, Scope::user(bob), Actor::Discord(id(BOB)), PrivacyLevel::Full)
        .await
        .unwrap();
    h.engine.handle(h.message(BOB, "bob", "tomori, hi")).await;
    assert!(h.settle().await.is_empty());
    assert!(h.llm.requests().is_empty(), "nothing of a privacy-2 user goes to the model");
}

#[tokio::test]
async fn everyone_in_model_output_does_not_ping() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("@everyone wake up! and @alice too"));
    h.engine.handle(h.message(ALICE, "alice", "tomori, announce it")).await;
    let sent = h.wait_sent(1).await;
    assert!(!sent[0].content.contains("@everyone"), "{}", sent[0].content);
    assert!(sent[0].content.contains(&format!("<@{ALICE}>")), "a known participant is mentioned");
    assert_eq!(sent[0].ping_users, vec![id(ALICE)]);
}

#[tokio::test]
async fn quota_refusals_reach_the_user_and_nothing_is_generated() {
    let h = Harness::new().await;
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 1, server_pool: 0, reset_period_days: 1 };
    quotas::set_limits(&h.store, Scope::server(h.server), QuotaKind::Text, limits).await.unwrap();
    h.llm.push_turn(Turn::new().text("First answer."));
    h.engine.handle(h.message(ALICE, "alice", "tomori, one")).await;
    h.wait_sent(1).await;
    // Use is counted once the answer is complete.
    h.wait_idle().await;
    h.engine.handle(h.message(ALICE, "alice", "tomori, two")).await;
    let sent = h.wait_sent(2).await;
    assert!(sent[1].content.contains("used today's messages"), "{}", sent[1].content);
    assert_eq!(h.llm.requests().len(), 1);
}

#[tokio::test]
async fn cooldown_refusals_reach_the_user() {
    let h = Harness::new().await;
    set_cooldown(&h, CooldownKind::PerUser, 60).await;
    h.llm.push_turn(Turn::new().text("Hi!"));
    h.engine.handle(h.message(ALICE, "alice", "tomori, hi")).await;
    h.wait_sent(1).await;
    h.engine.handle(h.message(ALICE, "alice", "tomori, again")).await;
    let sent = h.wait_sent(2).await;
    assert!(sent[1].content.contains("Slow down"), "{}", sent[1].content);
    // Another user is not affected by alice's cooldown.
    h.llm.push_turn(Turn::new().text("Hi bob!"));
    h.engine.handle(h.message(BOB, "bob", "tomori, hello")).await;
    let sent = h.wait_sent(3).await;
    assert_eq!(sent[2].content, "Hi bob!");
}

/// What `/server cooldown` does.
async fn set_cooldown(h: &Harness, kind: CooldownKind, seconds: i32) {
    let setting = settings::Setting::Cooldown { kind, seconds: Some(seconds) };
    settings::set(&h.store, Scope::server(h.server), Actor::Operator, setting).await.unwrap();
}

#[tokio::test]
async fn messages_arriving_during_a_turn_wait_in_order() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().pause(Duration::from_millis(300)).text("To alice."));
    h.llm.push_turn(Turn::new().text("To bob."));
    h.engine.handle(h.message(ALICE, "alice", "tomori, first")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.engine.handle(h.message(BOB, "bob", "tomori, second")).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[0].content, "To alice.");
    assert_eq!(sent[1].content, "To bob.");
}

#[tokio::test]
async fn a_follow_up_interrupts_a_streaming_turn() {
    let h = Harness::new().await;
    h.llm.push_turn(
        Turn::new().text("Start of a long").pause(Duration::from_secs(2)).text(" answer."),
    );
    h.llm.push_turn(Turn::new().text("Answer to the follow-up."));
    h.engine.handle(h.message(ALICE, "alice", "tomori, tell me a story")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.engine.handle(h.message(ALICE, "alice", "tomori, actually a poem")).await;
    let sent = h.settle().await;
    assert_eq!(
        sent.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["Answer to the follow-up."]
    );
}

#[tokio::test]
async fn kill_ends_the_turn() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().pause(Duration::from_secs(2)).text("too late"));
    h.engine.handle(h.message(ALICE, "alice", "tomori, slow one")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.engine.kill(id(CHANNEL)));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(h.sent().is_empty());
}

#[tokio::test]
async fn reasoning_goes_to_the_thought_log_channel_and_never_into_the_reply() {
    let h = Harness::new().await;
    // What `/config thought-log set` does.
    let log = settings::Setting::ThoughtLogChannel(Some(id(777)));
    settings::set(&h.store, Scope::server(h.server), Actor::Operator, log).await.unwrap();
    h.llm.push_turn(
        Turn::new().reasoning("alice wants a greeting").text("<think>be warm</think>Hi alice!"),
    );
    h.engine.handle(h.message(ALICE, "alice", "tomori, hi")).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[0].content, "Hi alice!");
    assert!(
        sent[1].content.contains("alice wants a greeting") && sent[1].content.contains("be warm"),
        "{}",
        sent[1].content
    );
    assert_eq!(h.channels_sent_to()[1], id(777));
}

async fn save_webhook(h: &Harness, webhook: u64) {
    let token = secrecy::SecretString::from("hook-token".to_owned());
    tomori_store::webhooks::save(
        &h.store,
        Scope::server(h.server),
        id(CHANNEL),
        id(webhook),
        &token,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_reply_to_a_persona_webhook_message_gets_that_persona() {
    let h = Harness::new().await;
    save_webhook(&h, 4242).await;
    h.llm.push_turn(Turn::new().text("Kaede again."));
    let mut msg = h.message(ALICE, "alice", "and what about you?");
    msg.reply_to = Some(tomori_chat::surface::InboundReply {
        message: id(3333),
        author: id(4242),
        webhook: Some(id(4242)),
        webhook_name: Some("Kaede".into()),
    });
    h.engine.handle(msg).await;
    let sent = h.wait_sent(1).await;
    assert!(matches!(&sent[0].speaker, Speaker::Persona { name, .. } if name == "Kaede"));
}

#[tokio::test]
async fn personas_answer_each_other_up_to_the_cascade_limit_and_foreign_webhooks_are_ignored() {
    let h = Harness::new().await;
    save_webhook(&h, 4242).await;
    // Kaede's message (through the managed webhook) addresses Tomori: a cascade turn.
    h.llm.push_turn(Turn::new().text("Yes, Kaede?"));
    let mut from_kaede = h.message(4242, "Kaede", "tomori, what do you think?");
    from_kaede.author.webhook = Some(id(4242));
    from_kaede.author.is_bot = true;
    h.engine.handle(from_kaede).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].speaker, Speaker::Bot);
    // The same text under the same name from a webhook Tomori does not manage is not answered:
    // any webhook can take a persona's name.
    let mut foreign = h.message(5151, "Kaede", "tomori, what do you think?");
    foreign.author.webhook = Some(id(5151));
    foreign.author.is_bot = true;
    h.engine.handle(foreign).await;
    assert_eq!(h.settle().await.len(), 1);
}

#[tokio::test]
async fn the_model_teaches_itself_through_the_gated_memory_tool() {
    let h = Harness::new().await;
    h.enable_tools();
    h.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "create_long_term_memory",
        serde_json::json!({"content": "alice's cat is called Mochi", "memory_scope": "server"}),
    ));
    h.llm.push_turn(Turn::new().text("I'll remember Mochi!"));
    // Alice manages the server: teaching a server memory takes that while member teaching is off.
    let mut message = h.message(ALICE, "alice", "tomori, remember that my cat is called Mochi");
    message.author_is_admin = true;
    h.engine.handle(message).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].content, "I'll remember Mochi!");
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 2, "the tool result went back to the model");
    let first = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(first.contains("create_long_term_memory"), "the tool was offered: {first}");
    let second = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(second.contains("tool_output"), "the result is fenced as untrusted: {second}");
    let persona = tomori_store::personas::find(&h.store, Scope::server(h.server), "Tomori")
        .await
        .unwrap()
        .unwrap();
    let memories =
        tomori_store::memories::list_server(&h.store, Scope::server(h.server), persona.lineage)
            .await
            .unwrap();
    assert_eq!(memories.len(), 1);
    assert_eq!(memories[0].content, "alice's cat is called Mochi");
}

#[tokio::test]
async fn a_tool_call_whose_arguments_are_not_json_goes_back_to_the_model() {
    let h = Harness::new().await;
    h.enable_tools();
    // The model's arguments stop mid-object: the turn used to end as if the model were down.
    h.llm.push_turn(Turn::new().tool_call_text(
        "call_1",
        "create_long_term_memory",
        r#"{"content": "alice's cat is called Mochi", "memory_scope": "server""#,
    ));
    h.llm.push_turn(Turn::new().text("Let me try that again."));
    h.engine.handle(h.message(ALICE, "alice", "tomori, remember my cat Mochi")).await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].content, "Let me try that again.");
    let requests = h.llm.requests();
    assert_eq!(requests.len(), 2, "the refusal went back to the model");
    let second = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(
        second.contains("malformed_arguments") && second.contains("not valid JSON"),
        "the model reads why: {second}"
    );
}

#[tokio::test]
async fn a_disabled_feature_means_the_tool_is_neither_offered_nor_run() {
    let h = Harness::new().await;
    h.enable_tools();
    settings::set_feature(
        &h.store,
        Scope::server(h.server),
        Actor::Operator,
        tomori_core::settings::Feature::SelfTeaching,
        false,
    )
    .await
    .unwrap();
    // A model that calls the tool anyway is refused, and the refusal goes back to it.
    h.llm.push_turn(Turn::new().tool_call(
        "call_1",
        "create_long_term_memory",
        serde_json::json!({"content": "sneaky", "memory_scope": "server"}),
    ));
    h.llm.push_turn(Turn::new().text("I can't remember things here."));
    h.engine.handle(h.message(ALICE, "alice", "tomori, remember this")).await;
    h.wait_sent(1).await;
    let requests = h.llm.requests();
    assert!(!String::from_utf8_lossy(&requests[0].body).contains("create_long_term_memory"));
    assert!(String::from_utf8_lossy(&requests[1].body).contains("tool_execution_failed"));
    let persona = tomori_store::personas::find(&h.store, Scope::server(h.server), "Tomori")
        .await
        .unwrap()
        .unwrap();
    assert!(
        tomori_store::memories::list_server(&h.store, Scope::server(h.server), persona.lineage)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_role_whitelist_and_the_blacklist_keep_people_out() {
    use tomori_store::access::{self, AccessList};
    use tomori_store::audit::Actor;
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    let role = id(77);
    access::add(&h.store, scope, Actor::Operator, AccessList::RoleWhitelist, role).await.unwrap();
    access::add(&h.store, scope, Actor::Operator, AccessList::UserBlacklist, id(BOB))
        .await
        .unwrap();
    // Alice has no whitelisted role; Bob has it but is blacklisted: neither is answered.
    h.engine.handle(h.message(ALICE, "alice", "<@900> hello?")).await;
    let mut bobs = h.message(BOB, "bob", "<@900> hello?");
    bobs.author_roles = vec![role];
    h.engine.handle(bobs).await;
    assert!(h.settle().await.is_empty());
    assert!(h.llm.requests().is_empty(), "nothing reached the model");
    // With the role, Alice is answered.
    h.llm.push_turn(Turn::new().text("Hi Alice."));
    let mut hers = h.message(ALICE, "alice", "<@900> and now?");
    hers.author_roles = vec![role];
    h.engine.handle(hers).await;
    assert_eq!(h.wait_sent(1).await[0].content, "Hi Alice.");
}

#[tokio::test]
async fn without_a_database_a_direct_message_gets_a_visible_error_and_no_answer() {
    let h = Harness::new().await;
    h.llm.push_turn(Turn::new().text("never sent"));
    // The database goes away: the pool is closed, every query fails as unavailable.
    h.store.close().await;
    h.engine.handle(h.message(ALICE, "alice", "<@900> are you there?")).await;
    // A passive message (no mention) stays quiet.
    h.engine.handle(h.message(BOB, "bob", "just chatting")).await;
    let sent = h.settle().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].content.starts_with("Sorry, I can't reach my memory right now"), "{sent:?}");
    assert!(h.llm.requests().is_empty(), "nothing was generated");
}

#[tokio::test]
async fn an_answer_cut_off_mid_stream_says_so() {
    use tomori_testkit::fake_llm::Reply;
    let h = Harness::new().await;
    // Half an answer, then the connection ends without the stream's end marker.
    let partial = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,",
        "\"delta\":{\"content\":\"The first half of a long story.\\n\\n\"}}]}\n\n",
    );
    h.llm.push(Reply::raw_sse(partial.as_bytes(), 64));
    h.engine.handle(h.message(ALICE, "alice", "<@900> tell me a story")).await;
    let sent = h.wait_sent(2).await;
    assert_eq!(sent[0].content, "The first half of a long story.");
    assert!(sent[1].content.starts_with("Sorry, my answer broke off there"), "{sent:?}");
}

/// The engine keeps what it reads in memory per revision; a change committed by any process
/// (here a second pool on the same database) reaches the very next message.
#[tokio::test]
async fn a_change_committed_elsewhere_reaches_the_next_message() {
    let h = Harness::new().await;
    let other = h.db.store().await;
    let server = Scope::server(h.server);
    let lineage =
        tomori_store::personas::find(&other, server, "Tomori").await.unwrap().unwrap().lineage;
    let h = &h;
    let ask = |n: usize, text: &str| {
        h.llm.push_turn(Turn::new().text("Noted."));
        let message = h.message(ALICE, "alice", text);
        async move {
            h.engine.handle(message).await;
            h.wait_sent(n).await;
            h.wait_idle().await;
            String::from_utf8_lossy(&h.llm.requests()[n - 1].body).into_owned()
        }
    };
    let first = ask(1, "tomori, hello").await;
    assert!(!first.contains("Mochi") && !first.contains("Captain"), "{first}");

    let actor = Actor::Operator;
    tomori_store::memories::add_server(&other, server, actor, lineage, None, "The cat is Mochi")
        .await
        .unwrap();
    let second = ask(2, "tomori, and the cat?").await;
    assert!(second.contains("The cat is Mochi"), "a server memory: {second}");

    let alice = Scope::user(other.resolve_user(id(ALICE)).await.unwrap());
    users::set_profile(&other, alice, actor, None, Some(Some("Captain"))).await.unwrap();
    let third = ask(3, "tomori, call me something").await;
    assert!(third.contains("Captain"), "a nickname: {third}");

    users::set_privacy(&other, alice, actor, PrivacyLevel::Full).await.unwrap();
    h.engine.handle(h.message(ALICE, "alice", "tomori, still there?")).await;
    assert_eq!(h.settle().await.len(), 3, "privacy 2 is seen at once: no answer");
    assert_eq!(h.llm.requests().len(), 3);
}

#[tokio::test]
async fn a_member_turned_away_by_a_full_queue_is_told_once() {
    let h = Harness::with_options(|o| o.max_queued = 1).await;
    h.llm.push_turn(Turn::new().text("Let me think").stall());
    h.engine.handle(h.message(ALICE, "alice", "<@900> first")).await;
    h.wait_requests(1).await;
    h.engine.handle(h.message(BOB, "bob", "<@900> second")).await;
    let dropped = h.message(13, "carol", "<@900> third");
    let dropped_id = dropped.message;
    h.engine.handle(dropped).await;
    h.engine.handle(h.message(13, "carol", "<@900> fourth")).await;
    // Dispatch returns once the message is decided, its notice sent.
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "one notice, not one per dropped message: {sent:?}");
    assert!(sent[0].content.contains("too many messages waiting"), "{}", sent[0].content);
    assert_eq!(sent[0].reply_to, Some(dropped_id));
    assert!(h.engine.kill(id(CHANNEL)));
}

/// `/bot respond` overrides the trigger rules, not admission: the blacklist, the role and
/// channel whitelists and the thought-log channel refuse it as they refuse a message.
#[tokio::test]
async fn bot_respond_passes_the_same_admission_as_a_message() {
    use tomori_core::settings::ChannelSet;
    use tomori_store::access::{self, AccessList};
    use tomori_store::audit::Actor;
    use tomori_store::settings::{self, Setting};
    let h = Harness::new().await;
    let scope = Scope::server(h.server);
    let respond = |author: u64, roles: Vec<tomori_core::id::Snowflake>| {
        let mut request = h.message(author, "someone", "");
        request.author_roles = roles;
        h.engine.respond_as(request, "Tomori")
    };
    access::add(&h.store, scope, Actor::Operator, AccessList::UserBlacklist, id(BOB))
        .await
        .unwrap();
    assert!(!respond(BOB, Vec::new()).await, "the blacklist");

    let role = id(77);
    access::add(&h.store, scope, Actor::Operator, AccessList::RoleWhitelist, role).await.unwrap();
    assert!(!respond(ALICE, Vec::new()).await, "the role whitelist");
    access::remove(&h.store, scope, Actor::Operator, AccessList::RoleWhitelist, role)
        .await
        .unwrap();

    settings::add_channel(&h.store, scope, Actor::Operator, ChannelSet::Whitelist, id(601))
        .await
        .unwrap();
    assert!(!respond(ALICE, Vec::new()).await, "the channel whitelist");
    settings::remove_channel(&h.store, scope, Actor::Operator, ChannelSet::Whitelist, id(601))
        .await
        .unwrap();

    settings::set(&h.store, scope, Actor::Operator, Setting::ThoughtLogChannel(Some(id(CHANNEL))))
        .await
        .unwrap();
    assert!(!respond(ALICE, Vec::new()).await, "the thought-log channel");
    assert!(h.llm.requests().is_empty(), "nothing reached the model");
    assert!(h.sent().is_empty(), "{:?}", h.sent());

    settings::set(&h.store, scope, Actor::Operator, Setting::ThoughtLogChannel(None))
        .await
        .unwrap();
    // A message the bot was not addressed by, then the request to answer it.
    h.engine.handle(h.message(ALICE, "alice", "anyone around?")).await;
    h.llm.push_turn(Turn::new().text("Here."));
    assert!(respond(ALICE, Vec::new()).await, "admitted, it answers without being addressed");
    assert_eq!(h.wait_sent(1).await[0].content, "Here.");
}

/// A provider that accepts the request and never answers holds the turn only until the turn's
/// deadline: the member is told, and the channel is free for the next message.
#[tokio::test]
async fn a_stalled_provider_holds_a_turn_only_until_its_deadline() {
    let h = Harness::with_options(|o| o.turn_deadline = Duration::from_millis(300)).await;
    h.llm.push_turn(Turn::new().stall());
    h.engine.handle(h.message(ALICE, "alice", "<@900> hello?")).await;
    let sent = h.wait_sent(1).await;
    assert!(sent[0].content.starts_with("Sorry, the model took too long"), "{sent:?}");
    h.wait_idle().await;
    h.llm.push_turn(Turn::new().text("Back."));
    h.engine.handle(h.message(ALICE, "alice", "<@900> again?")).await;
    assert_eq!(h.wait_sent(2).await[1].content, "Back.");
}

/// The active-turn cap: a member with three turns running is told to wait, and the fourth
/// message costs no model request.
#[tokio::test]
async fn a_member_with_three_turns_running_is_told_to_wait() {
    let h = Harness::new().await;
    for _ in 0..3 {
        h.llm.push_turn(Turn::new().stall());
    }
    let channels: Vec<u64> = (0..3).map(|k| CHANNEL + 10 + k).collect();
    for channel in &channels {
        let mut message = h.message(ALICE, "alice", "<@900> a long question");
        message.channel = id(*channel);
        h.engine.handle(message).await;
    }
    h.wait_requests(3).await;
    let mut fourth = h.message(ALICE, "alice", "<@900> and one more");
    fourth.channel = id(CHANNEL + 20);
    let fourth_id = fourth.message;
    h.engine.handle(fourth).await;
    // The refusal is sent by the turn's task, after dispatch returns.
    let busy: Vec<_> =
        h.wait_sent(1).await.into_iter().filter(|m| m.content.contains("still busy")).collect();
    assert_eq!(busy.len(), 1, "{:?}", h.sent());
    assert_eq!(busy[0].reply_to, Some(fourth_id));
    assert_eq!(h.llm.requests().len(), 3, "the refused message asked no model");
    for channel in channels {
        assert!(h.engine.kill(id(channel)));
    }
}

#[tokio::test]
async fn a_quota_that_cannot_be_checked_refuses_the_turn() {
    let h = Harness::new().await;
    let limits =
        QuotaLimits { enabled: true, per_user_daily: 5, server_pool: 0, reset_period_days: 1 };
    quotas::set_limits(&h.store, Scope::server(h.server), QuotaKind::Text, limits).await.unwrap();
    // The counters become unreadable to the bot's role: every quota check now fails.
    tomori_testkit::break_quota_reads(&h.db).await;
    h.engine.handle(h.message(ALICE, "alice", "tomori, hi")).await;
    let sent = h.wait_sent(1).await;
    assert!(sent[0].content.contains("can't check this server's quota"), "{}", sent[0].content);
    h.wait_idle().await;
    assert!(h.llm.requests().is_empty(), "a turn whose quota is unknown asks no model");
}
