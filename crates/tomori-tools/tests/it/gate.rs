//! The gate's specification as one table: every registered tool, with each of its requirements
//! withheld in turn, is refused (and, where the requirement is known before the call, not
//! advertised), and nothing happens: no row, no audit entry, no HTTP request, no platform action,
//! no probe run, no quota counted. With nothing withheld, every tool runs.
//!
//! Each tool's requirements are written out here as data ([`pinned`]), not read from its policy,
//! so that a requirement deleted from a policy fails this test; a requirement a policy gains
//! fails it too, until it is pinned here.

use chrono::NaiveDate;
use serde_json::{Value, json};
use tomori_core::quota::QuotaVerdict;
use tomori_core::settings::Feature;
use tomori_llm::ToolCall;
use tomori_tools::{
    Gate, LiveError, Perm, Place, TargetRule, ToolPolicy, TurnContext, Visibility, run_tool_calls,
};

use crate::support::{
    Facts, FakeLive, FakePlatform, GENERAL, OWN_MESSAGE, WebServer, World, registry_with_probes,
    snowflake, web_routes,
};

/// One requirement to withhold.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Withheld {
    ToolUse,
    Feature(Feature),
    BotPermission(Perm),
    InvokerPermission(Perm),
    Place(Place),
    QuotaUsedUp,
    QuotaUnreadable,
    StateUnreadable,
    NotOwnedTarget,
    UnknownMessageHandle,
    RawMessageId,
    InvisibleToInvoker,
    InvisibleToBot,
    UnshownMemory,
    MemoryInOtherScope,
    RecordIdNotPositive,
    OtherMembersRecord,
    UnknownChannel,
    AmbiguousChannel,
    RawChannelMention,
    ChannelInvisibleToInvoker,
    ChannelInvisibleToBot,
    ChannelsUnreadable,
    /// The invoker lacks this permission in the named channel (the tool's own check).
    ChannelInvokerLacks(Perm),
    /// The bot lacks this permission in the named channel (the tool's own check).
    ChannelBotLacks(Perm),
    /// A member who does not manage the server, member teaching off: no server memory taught.
    TeachingOff,
    /// A member who does not manage the server: no server memory changed or deleted.
    NotManager,
}

/// Every requirement of every tool, written out: what withholding must refuse.
fn pinned(tool: &str) -> Vec<Withheld> {
    use Withheld as W;
    use tomori_core::settings::Feature as F;
    let message = [W::UnknownMessageHandle, W::RawMessageId];
    let channel = [
        W::UnknownChannel,
        W::AmbiguousChannel,
        W::RawChannelMention,
        W::ChannelInvisibleToInvoker,
        W::ChannelInvisibleToBot,
        W::ChannelsUnreadable,
    ];
    let guild_only = [W::Place(Place::Dm)];
    let mut needs = vec![W::ToolUse, W::StateUnreadable];
    match tool {
        "create_long_term_memory" => needs.extend([W::Feature(F::SelfTeaching), W::TeachingOff]),
        "update_long_term_memory" => needs.extend([
            W::Feature(F::SelfTeaching),
            W::UnshownMemory,
            W::MemoryInOtherScope,
            W::NotManager,
        ]),
        "fetch_url" | "web_search" => needs.push(W::Feature(F::WebSearch)),
        "create_task" => needs.push(W::BotPermission(Perm::SendMessages)),
        "update_task" => needs.extend([W::RecordIdNotPositive, W::OtherMembersRecord]),
        "list_tasks"
        | "reveal_message_metadata"
        | "review_capabilities"
        | "analyze_image"
        | "process_youtube_video" => {}
        "manage_message" => {
            needs.extend([
                W::Feature(F::ManageMessage),
                W::BotPermission(Perm::ViewChannel),
                W::BotPermission(Perm::ReadMessageHistory),
                W::NotOwnedTarget,
            ]);
            needs.extend(message);
        }
        "interact_with_recent_message" => {
            needs.extend([
                W::BotPermission(Perm::ViewChannel),
                W::BotPermission(Perm::ReadMessageHistory),
                W::InvisibleToInvoker,
                W::InvisibleToBot,
            ]);
            needs.extend(message);
        }
        "create_thread" => {
            needs.push(W::Feature(F::ThreadCreation));
            needs.extend(guild_only);
            needs.extend(channel);
            for perm in [Perm::CreatePublicThreads, Perm::SendMessagesInThreads] {
                needs.extend([W::ChannelInvokerLacks(perm), W::ChannelBotLacks(perm)]);
            }
        }
        "cross_channel_message" => {
            needs.push(W::Feature(F::CrossChannel));
            needs.extend(guild_only);
            needs.extend(channel);
            needs.extend([
                W::ChannelInvokerLacks(Perm::SendMessages),
                W::ChannelBotLacks(Perm::SendMessages),
            ]);
        }
        "select_sticker" => needs.extend([
            W::Feature(F::StickerUsage),
            W::BotPermission(Perm::SendMessages),
            W::BotPermission(Perm::UseExternalStickers),
            W::Place(Place::Guild { rp: true }),
            W::Place(Place::Dm),
        ]),
        "update_short_term_memory" => needs.push(W::Place(Place::Dm)),
        "generate_video" => needs.extend([
            W::Feature(F::VideoGen),
            W::BotPermission(Perm::SendMessages),
            W::BotPermission(Perm::AttachFiles),
            W::QuotaUsedUp,
            W::QuotaUnreadable,
        ]),
        "generate_image" => needs.extend([
            W::Feature(F::ImageGen),
            W::BotPermission(Perm::SendMessages),
            W::BotPermission(Perm::AttachFiles),
            W::QuotaUsedUp,
            W::QuotaUnreadable,
        ]),
        "read_file" | "peek_profile_picture" => {
            needs.extend([W::InvisibleToInvoker, W::InvisibleToBot]);
            needs.extend(message);
        }
        "probe_own_message" => {
            needs.extend([
                W::Feature(F::ManageMessage),
                W::BotPermission(Perm::ManageMessages),
                W::BotPermission(Perm::SendMessages),
                W::InvokerPermission(Perm::ViewChannel),
                W::Place(Place::Guild { rp: true }),
                W::Place(Place::Dm),
                W::QuotaUsedUp,
                W::QuotaUnreadable,
                W::NotOwnedTarget,
            ]);
            needs.extend(message);
        }
        "probe_visible_message" => {
            needs.extend([
                W::Feature(F::CrossChannel),
                W::BotPermission(Perm::SendMessagesInThreads),
                W::Place(Place::Guild { rp: false }),
                W::Place(Place::Guild { rp: true }),
                W::InvisibleToInvoker,
                W::InvisibleToBot,
            ]);
            needs.extend(message);
        }
        other => panic!("pin the requirements of the new tool {other} in this table"),
    }
    needs
}

impl Withheld {
    /// The refusal code expected, whether the tool must also be missing from the list offered
    /// to the model (target checks happen only at call time), and whether the gate refuses (or
    /// the tool itself fails: ownership of a record is the store's check; permissions in a named
    /// channel and the rules of shared memory are the tool's).
    fn expected(self) -> (&'static str, bool, bool) {
        let (code, hidden) = match self {
            Self::OtherMembersRecord => return ("task_not_found", false, false),
            Self::ChannelInvokerLacks(_) => return ("invoker_permission", false, false),
            Self::ChannelBotLacks(_) => return ("bot_permission", false, false),
            Self::TeachingOff => return ("teaching_refused", false, false),
            Self::NotManager => return ("revising_refused", false, false),
            Self::RecordIdNotPositive => ("malformed_arguments", false),
            Self::ToolUse => ("tool_use_off", true),
            Self::Feature(_) => ("feature_off", true),
            Self::BotPermission(_) => ("bot_permission", true),
            Self::InvokerPermission(_) => ("invoker_permission", true),
            Self::Place(_) => ("wrong_context", true),
            Self::QuotaUsedUp => ("quota_exhausted", true),
            Self::QuotaUnreadable | Self::StateUnreadable => ("state_unavailable", true),
            Self::ChannelsUnreadable => ("state_unavailable", false),
            Self::UnknownChannel => ("unknown_target", false),
            Self::AmbiguousChannel => ("ambiguous_target", false),
            Self::RawChannelMention => ("raw_id", false),
            Self::ChannelInvisibleToInvoker | Self::ChannelInvisibleToBot => {
                ("target_not_visible", false)
            }
            Self::NotOwnedTarget => ("target_not_owned", false),
            Self::UnknownMessageHandle | Self::UnshownMemory | Self::MemoryInOtherScope => {
                ("unknown_target", false)
            }
            Self::RawMessageId => ("raw_id", false),
            Self::InvisibleToInvoker | Self::InvisibleToBot => ("target_not_visible", false),
        };
        (code, hidden, true)
    }

    /// Withholds the requirement; `arg` is the argument the tool's target rule reads.
    fn apply(
        self,
        world: &World,
        facts: &mut Facts,
        ctx: &mut TurnContext,
        args: &mut Value,
        arg: &str,
    ) {
        let unreadable = || LiveError("database unavailable".into());
        match self {
            Self::ToolUse => {
                let s = facts.snapshot_mut();
                s.features = s.features.without(Feature::ToolUse);
            }
            Self::Feature(feature) => {
                let s = facts.snapshot_mut();
                s.features = s.features.without(feature);
            }
            Self::BotPermission(perm) => {
                let s = facts.snapshot_mut();
                s.bot = s.bot.without(perm);
            }
            Self::InvokerPermission(perm) => {
                let s = facts.snapshot_mut();
                s.invoker = s.invoker.without(perm);
            }
            Self::Place(place) => ctx.place = place,
            Self::QuotaUsedUp => {
                let resets_on = NaiveDate::from_ymd_opt(2030, 1, 2).expect("a valid date");
                facts.quota = Ok(QuotaVerdict::UserExhausted { resets_on });
            }
            Self::QuotaUnreadable => facts.quota = Err(unreadable()),
            Self::StateUnreadable => facts.snapshot = Err(unreadable()),
            Self::NotOwnedTarget => args[arg] = json!("ref_2"),
            Self::UnknownMessageHandle => args[arg] = json!("ref_9"),
            Self::RawMessageId => args[arg] = json!(OWN_MESSAGE.to_string()),
            Self::InvisibleToInvoker => {
                facts
                    .visibility
                    .insert(snowflake(OWN_MESSAGE), Visibility { invoker: false, bot: true });
            }
            Self::InvisibleToBot => {
                facts
                    .visibility
                    .insert(snowflake(OWN_MESSAGE), Visibility { invoker: true, bot: false });
            }
            Self::UnshownMemory => ctx.shown_memories.clear(),
            Self::MemoryInOtherScope => args["memory_scope"] = json!("personal"),
            Self::RecordIdNotPositive => args["task_id"] = json!(0),
            Self::OtherMembersRecord => {
                args["task_id"] = json!(world.others_reminder);
                let s = facts.snapshot_mut();
                s.invoker = s.invoker.without(Perm::ManageGuild);
            }
            Self::UnknownChannel => args[arg] = json!("nowhere"),
            Self::AmbiguousChannel => args[arg] = json!("random"),
            Self::RawChannelMention => args[arg] = json!(format!("<#{GENERAL}>")),
            Self::ChannelInvisibleToInvoker => {
                let access = facts.access_mut(GENERAL);
                access.invoker = access.invoker.without(Perm::ViewChannel);
            }
            Self::ChannelInvisibleToBot => {
                let access = facts.access_mut(GENERAL);
                access.bot = access.bot.without(Perm::ViewChannel);
            }
            Self::ChannelsUnreadable => facts.channels = Err(unreadable()),
            Self::ChannelInvokerLacks(perm) => {
                let access = facts.access_mut(GENERAL);
                access.invoker = access.invoker.without(perm);
            }
            Self::ChannelBotLacks(perm) => {
                let access = facts.access_mut(GENERAL);
                access.bot = access.bot.without(perm);
            }
            Self::TeachingOff | Self::NotManager => {
                let s = facts.snapshot_mut();
                s.invoker = s.invoker.without(Perm::ManageGuild);
                s.member_teaching = false;
            }
        }
    }
}

/// The argument a target rule reads (for rules with one).
fn target_arg(rule: TargetRule) -> &'static str {
    match rule {
        TargetRule::OwnMessage { arg }
        | TargetRule::VisibleToInvokerAndBot { arg }
        | TargetRule::Channel { arg, .. } => arg,
        TargetRule::ShownMemory { id_arg, .. } | TargetRule::OwnedByInvoker { id_arg } => id_arg,
        TargetRule::None => "",
    }
}

/// Every requirement a policy states, read from the policy: only to check that the pinned table
/// covers them all.
fn requirements(policy: &ToolPolicy) -> Vec<Withheld> {
    let mut out = vec![Withheld::ToolUse, Withheld::StateUnreadable];
    out.extend(policy.feature.map(Withheld::Feature));
    out.extend(policy.bot_permissions.iter().map(Withheld::BotPermission));
    out.extend(policy.invoker_permissions.iter().map(Withheld::InvokerPermission));
    for place in [Place::Guild { rp: false }, Place::Guild { rp: true }, Place::Dm] {
        if !allows(policy, place) {
            out.push(Withheld::Place(place));
        }
    }
    if policy.quota.is_some() {
        out.extend([Withheld::QuotaUsedUp, Withheld::QuotaUnreadable]);
    }
    match policy.target {
        TargetRule::None => {}
        TargetRule::OwnMessage { .. } => out.extend([
            Withheld::NotOwnedTarget,
            Withheld::UnknownMessageHandle,
            Withheld::RawMessageId,
        ]),
        TargetRule::VisibleToInvokerAndBot { .. } => out.extend([
            Withheld::InvisibleToInvoker,
            Withheld::InvisibleToBot,
            Withheld::UnknownMessageHandle,
            Withheld::RawMessageId,
        ]),
        TargetRule::ShownMemory { .. } => {
            out.extend([Withheld::UnshownMemory, Withheld::MemoryInOtherScope]);
        }
        TargetRule::OwnedByInvoker { .. } => {
            out.extend([Withheld::RecordIdNotPositive, Withheld::OtherMembersRecord]);
        }
        TargetRule::Channel { .. } => out.extend([
            Withheld::UnknownChannel,
            Withheld::AmbiguousChannel,
            Withheld::RawChannelMention,
            Withheld::ChannelInvisibleToInvoker,
            Withheld::ChannelInvisibleToBot,
            Withheld::ChannelsUnreadable,
        ]),
    }
    out
}

fn allows(policy: &ToolPolicy, place: Place) -> bool {
    match place {
        Place::Dm => policy.contexts.dm,
        Place::Guild { rp: true } => policy.contexts.guild && policy.contexts.rp_channel,
        Place::Guild { rp: false } => policy.contexts.guild,
    }
}

/// Arguments that succeed with nothing withheld.
fn valid_arguments(tool: &str, world: &World, web: &WebServer) -> Value {
    match tool {
        "create_long_term_memory" => {
            json!({"content": "{user} plays chess", "memory_scope": "server"})
        }
        "update_long_term_memory" => json!({
            "memory_id": world.server_memory,
            "memory_scope": "server",
            "content": "{user} likes green tea",
        }),
        "fetch_url" => json!({"url": web.url("/page")}),
        "web_search" => json!({"query": "tomori"}),
        "probe_own_message" | "probe_visible_message" => json!({"message": "ref_1"}),
        "create_task" => json!({"purpose": "stretch", "time": "in 10 minutes"}),
        "update_task" => json!({"task_id": world.reminder, "purpose": "stretch twice"}),
        "list_tasks" => json!({}),
        "reveal_message_metadata" | "review_capabilities" => json!({}),
        "analyze_image" => json!({"media_id": "media_1"}),
        "process_youtube_video" => json!({"url": "https://youtu.be/dQw4w9WgXcQ"}),
        "manage_message" => json!({"action": "pin", "message_id": "ref_1"}),
        "interact_with_recent_message" => {
            json!({"action": "react", "message_id": "ref_1", "emoji": "👍"})
        }
        "create_thread" => json!({"name": "Plans", "message": "Let's plan.", "channel": "general"}),
        "cross_channel_message" => json!({"channel": "general", "message": "Hello there."}),
        "select_sticker" => json!({"name": "wave"}),
        "read_file" | "peek_profile_picture" => json!({"message_id": "ref_1"}),
        "generate_image" => json!({"prompt": "a red fox in snow"}),
        "generate_video" => json!({"prompt": "a red fox running in snow", "shape": "portrait"}),
        "update_short_term_memory" => json!({"about": "channel", "note": "Planning a picnic."}),
        other => panic!("add valid arguments for the new tool {other} to this table"),
    }
}

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall { id: "call_1".into(), name: name.into(), arguments, signature: None }
}

#[tokio::test]
async fn every_tool_is_refused_without_each_requirement_and_nothing_happens() {
    let world = World::new().await;
    let web = WebServer::start(web_routes()).await;
    let platform = FakePlatform::new(&web);
    let (registry, probe_runs) = registry_with_probes(&world, &web, &platform);
    let names: Vec<String> = registry.names().into_iter().map(str::to_owned).collect();
    let gate = Gate::new(registry);
    let mut cases = 0;

    for name in &names {
        let policy = gate.registry().policy(name).expect("registered");
        let base_place = [Place::Guild { rp: false }, Place::Guild { rp: true }, Place::Dm]
            .into_iter()
            .find(|p| allows(&policy, *p))
            .expect("validated policies allow some place");
        let needs = pinned(name);
        for stated in requirements(&policy) {
            assert!(needs.contains(&stated), "{name}'s policy states {stated:?}: pin it");
        }
        for withheld in needs {
            cases += 1;
            let before = (world.written().await, web.requests(), platform.actions());
            let live = FakeLive::new(Facts::permissive());
            let mut ctx = world.turn(live.clone());
            ctx.place = base_place;
            let mut args = valid_arguments(name, &world, &web);
            let mut facts = live.facts.lock().expect("facts").clone();
            withheld.apply(&world, &mut facts, &mut ctx, &mut args, target_arg(policy.target));
            live.set(|f| *f = facts);
            let (code, hidden, by_gate) = withheld.expected();

            let offered = gate.advertise(&ctx).await;
            let is_offered = offered.iter().any(|spec| &spec.name == name);
            if hidden {
                assert!(!is_offered, "{name} offered with {withheld:?} withheld");
            }

            let results = run_tool_calls(&gate, &[call(name, args)], &ctx).await;
            assert_eq!(results.len(), 1);
            let result = &results[0];
            assert!(result.is_error, "{name} ran with {withheld:?} withheld: {}", result.content);
            let reason: Value = serde_json::from_str(&result.content).expect("failure JSON");
            assert_eq!(reason["status"], "tool_execution_failed");
            let reason = reason["reason"].as_str().expect("a reason");
            let prefix = if by_gate { format!("refused ({code})") } else { code.to_owned() };
            assert!(reason.starts_with(&prefix), "{name} with {withheld:?} withheld: {reason}");

            assert_eq!(
                (world.written().await, web.requests(), platform.actions()),
                before,
                "{name} had a side effect with {withheld:?} withheld"
            );
            for runs in &probe_runs {
                assert!(runs.lock().expect("runs").is_empty(), "{name} ran with {withheld:?}");
            }
            assert!(live.quota_recorded.lock().expect("quota").is_empty());
        }
    }
    assert!(cases >= 85, "the table covered {cases} cases");

    // With nothing withheld, every tool is offered and runs: the refusals above were the
    // withheld requirement's doing.
    for name in &names {
        let policy = gate.registry().policy(name).expect("registered");
        let live = FakeLive::new(Facts::permissive());
        let mut ctx = world.turn(live.clone());
        ctx.place = [Place::Guild { rp: false }, Place::Guild { rp: true }, Place::Dm]
            .into_iter()
            .find(|p| allows(&policy, *p))
            .expect("a place");
        let offered = gate.advertise(&ctx).await;
        assert!(offered.iter().any(|spec| &spec.name == name), "{name} not offered");
        let results =
            run_tool_calls(&gate, &[call(name, valid_arguments(name, &world, &web))], &ctx).await;
        assert!(!results[0].is_error, "{name} failed: {}", results[0].content);
        assert_eq!(
            live.quota_recorded.lock().expect("quota").len(),
            usize::from(policy.quota.is_some())
        );
    }
    let total_probe_runs: usize = probe_runs.iter().map(|r| r.lock().expect("runs").len()).sum();
    // The two probes, the painter behind generate_image, the filmmaker behind generate_video
    // and the pictures behind peek_profile_picture.
    assert_eq!(total_probe_runs, 5);
    // Each platform tool acted exactly once, on the target the gate resolved.
    assert_eq!(platform.actions().len(), 5, "{:?}", platform.actions());
}
