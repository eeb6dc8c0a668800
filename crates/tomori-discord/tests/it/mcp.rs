//! `/mcp` through the fake Discord, against a fake MCP server on loopback: members without
//! Manage Server are refused and nothing changes; a manager adds (the token typed into a form
//! whose custom id holds only a nonce; the server is probed first, a refused URL is never
//! stored), lists, toggles and removes, with audit rows; replayed, forged and foreign form
//! submissions store nothing; the tool gate's source sees each change at once.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tomori_chat::engine::CompactError;
use tomori_chat::surface::{Inbound, SurfaceError};
use tomori_core::id::{ServerId, Snowflake};
use tomori_discord::{BotControl, Discord};
use tomori_net::{Client, Policy, Scope as NetScope};
use tomori_store::{Scope, Store, mcp as stored};
use tomori_testkit::fake_discord::{FakeDiscord, FakeInteraction, SlashCommand, UserSpec};
use tomori_testkit::fake_mcp::FakeMcpHttp;
use tomori_testkit::{TestDb, audit_actions};
use tomori_tools::ToolSource;
use tomori_tools::mcp::{GuildMcp, McpTimeouts};

use crate::{ALICE, Bot, CHANNEL, GUILD, WAIT, config, snowflake};

const BOB: u64 = 700_000_000_000_000_002;
const VIEW_AND_SEND: u64 = 0x400 | 0x800;
const MANAGE_GUILD: u64 = VIEW_AND_SEND | 0x20;
/// The fake MCP server's address; the test policy allows it and no other loopback address.
const MCP_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const TOKEN: &str = "mcp-token-1";

/// The commands never reach the engine here.
struct Idle;

impl BotControl for Idle {
    fn kill(&self, _channel: Snowflake) -> bool {
        false
    }

    fn respond(&self, _message: Inbound, _persona: Option<String>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn refresh(&self, _channel: Snowflake) -> BoxFuture<'_, Result<(), SurfaceError>> {
        Box::pin(async { Ok(()) })
    }

    fn compact(&self, _message: Inbound) -> BoxFuture<'_, Result<usize, CompactError>> {
        Box::pin(async { Err(CompactError::Empty) })
    }

    fn prompt_snapshot(
        &self,
        _message: Inbound,
    ) -> BoxFuture<'_, Option<tomori_chat::engine::Snapshot>> {
        Box::pin(async { None })
    }

    fn withhold_author(&self, _user: Snowflake) {}
}

struct World {
    fake: FakeDiscord,
    db: TestDb,
    store: Store,
    server: ServerId,
    mcp: GuildMcp,
    server_mcp: FakeMcpHttp,
    bot: Option<Bot>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(bot) = self.bot.take() {
            let _ = bot.stop.send(());
        }
    }
}

async fn world() -> World {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    let db = TestDb::new().await;
    let store = db.store().await;
    let server = store.resolve_guild(snowflake(GUILD)).await.unwrap();
    // The same server-scope policy for the commands' checks and the MCP client, as in the bot.
    let policy = Policy::new(NetScope::Server).allow_loopback_address_for_tests(MCP_IP);
    let client = Client::new(policy.clone()).unwrap();
    let timeouts = McpTimeouts { connect: Duration::from_secs(5), ..McpTimeouts::default() };
    let mcp = GuildMcp::new(store.clone(), client, timeouts);
    let discord = Discord::connect(&config(&fake)).await.unwrap();
    let commands = discord
        .commands(store.clone(), Arc::new(Idle))
        .with_mcp(mcp.clone())
        .with_server_policy(policy);
    let bot = Bot::start(discord.with_commands(commands));
    fake.wait_for_ready(0, WAIT).await;
    let server_mcp = FakeMcpHttp::start(MCP_IP, Some(TOKEN)).await;
    World { fake, db, store, server, mcp, server_mcp, bot: Some(bot) }
}

impl World {
    async fn run(&self, command: SlashCommand) -> FakeInteraction {
        let id = self.fake.inject_command(command);
        self.fake.wait_for_interaction(id, FakeInteraction::answered, WAIT).await
    }

    async fn answer(&self, command: SlashCommand) -> String {
        let answered = self.run(command).await;
        assert!(answered.ephemeral, "answers are ephemeral: {answered:?}");
        answered.content.unwrap()
    }

    /// Runs `/mcp add` and returns the form's custom id.
    async fn form(&self, command: SlashCommand) -> String {
        let id = self.fake.inject_command(command);
        let shown =
            self.fake.wait_for_interaction(id, |i: &FakeInteraction| i.modal.is_some(), WAIT).await;
        let modal = shown.modal.unwrap();
        let text = modal.to_string();
        assert!(text.contains("\"custom_id\":\"token\""), "a token input: {text}");
        modal["custom_id"].as_str().unwrap().to_owned()
    }

    async fn names(&self) -> Vec<(String, bool)> {
        stored::list(&self.store, Scope::server(self.server))
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.enabled))
            .collect()
    }

    async fn offered(&self) -> usize {
        self.mcp.tools(self.server).await.names().len()
    }
}

fn slash(user: UserSpec, permissions: u64, path: &str) -> SlashCommand {
    SlashCommand::new(CHANNEL, user, path).in_guild(GUILD, permissions)
}

#[tokio::test]
async fn members_without_manage_server_cannot_touch_mcp_servers() {
    let w = world().await;
    let bob = || UserSpec::new(BOB, "bob");
    for command in [
        slash(bob(), VIEW_AND_SEND, "mcp add")
            .arg("name", "fake")
            .arg("url", w.server_mcp.url("/mcp")),
        slash(bob(), VIEW_AND_SEND, "mcp list"),
        slash(bob(), VIEW_AND_SEND, "mcp toggle").arg("name", "fake"),
        slash(bob(), VIEW_AND_SEND, "mcp remove").arg("name", "fake"),
    ] {
        let text = w.answer(command).await;
        assert_eq!(text, "You need the Manage Server permission to do that; nothing was changed.");
    }
    assert!(w.names().await.is_empty());
    assert!(audit_actions(&w.db).await.is_empty());
    assert!(w.server_mcp.requests().is_empty(), "no URL was probed for a refused member");
}

#[tokio::test]
async fn a_manager_adds_lists_toggles_and_removes_a_server() {
    let w = world().await;
    let alice = || UserSpec::new(ALICE, "alice");
    let url = w.server_mcp.url("/mcp");

    let form = w
        .form(slash(alice(), MANAGE_GUILD, "mcp add").arg("name", "fake").arg("url", url.clone()))
        .await;
    let nonce = form.strip_prefix("mcp-add|").unwrap();
    assert_eq!(nonce.len(), 32, "the URL stays with the bot; only a nonce travels: {form}");
    assert!(w.server_mcp.requests().is_empty(), "nothing is probed before the token arrives");
    let added =
        w.run(slash(alice(), MANAGE_GUILD, "mcp").submit_modal(&form, &[("token", TOKEN)])).await;
    assert!(added.deferred(), "adding connects first, so it defers at once");
    let text = added.content.unwrap();
    assert!(
        text.starts_with(
            "Added MCP server fake with 9 tools: `echo`, `add`, `fails`, `sleep`, `injected`, `fetch_url`, `bad.name`, `big`, `grow`."
        ),
        "{text}"
    );
    assert_eq!(w.names().await, [("fake".to_owned(), true)]);
    assert!(
        w.server_mcp
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer mcp-token-1"))
    );
    assert_eq!(w.offered().await, 8, "the gate's source sees the new server");

    // A replayed form stores nothing.
    let replayed = w
        .answer(slash(alice(), MANAGE_GUILD, "mcp").submit_modal(&form, &[("token", TOKEN)]))
        .await;
    assert!(replayed.starts_with("That form has expired or was already used"), "{replayed}");

    // Refused before anything is stored (before the form, even): the policy, the name, a
    // duplicate; and after the form, a bad token.
    let port = w.server_mcp.addr().port();
    let local = w
        .answer(
            slash(alice(), MANAGE_GUILD, "mcp add")
                .arg("name", "local")
                .arg("url", format!("http://127.0.0.1:{port}/mcp")),
        )
        .await;
    assert_eq!(
        local,
        "I could not use that MCP server (refused by URL policy: loopback (127.0.0.1)); nothing was saved."
    );
    let form = w
        .form(slash(alice(), MANAGE_GUILD, "mcp add").arg("name", "wrong").arg("url", url.clone()))
        .await;
    let wrong = w
        .answer(slash(alice(), MANAGE_GUILD, "mcp").submit_modal(&form, &[("token", "not-it")]))
        .await;
    assert!(wrong.starts_with("I could not use that MCP server"), "{wrong}");
    let bad = w
        .answer(
            slash(alice(), MANAGE_GUILD, "mcp add").arg("name", "Bad Name").arg("url", url.clone()),
        )
        .await;
    assert_eq!(bad, "Invalid server name: 1 to 32 of a-z, 0-9, '_' and '-'.");
    let twice = w
        .answer(slash(alice(), MANAGE_GUILD, "mcp add").arg("name", "fake").arg("url", url.clone()))
        .await;
    assert_eq!(twice, "This server already has an MCP server named fake; nothing was changed.");
    assert_eq!(w.names().await, [("fake".to_owned(), true)]);

    let listed = w.answer(slash(alice(), MANAGE_GUILD, "mcp list")).await;
    assert_eq!(listed, format!("MCP servers (1/5):\nfake — <{url}> — on, with a token"));

    let off = w.answer(slash(alice(), MANAGE_GUILD, "mcp toggle").arg("name", "fake")).await;
    assert_eq!(off, "MCP server fake is off; its tools are not offered.");
    assert_eq!(w.offered().await, 0);
    let on = w.answer(slash(alice(), MANAGE_GUILD, "mcp toggle").arg("name", "fake")).await;
    assert_eq!(on, "MCP server fake is on again; its tools come back.");
    assert_eq!(w.offered().await, 8);

    let removed = w.answer(slash(alice(), MANAGE_GUILD, "mcp remove").arg("name", "fake")).await;
    assert_eq!(removed, "Removed MCP server fake; its tools are gone.");
    assert_eq!(w.offered().await, 0);
    let missing = w.answer(slash(alice(), MANAGE_GUILD, "mcp remove").arg("name", "fake")).await;
    assert_eq!(missing, "No such MCP server.");
    let empty = w.answer(slash(alice(), MANAGE_GUILD, "mcp list")).await;
    assert_eq!(empty, "This server has no MCP servers. Add one with /mcp add.");
    assert_eq!(audit_actions(&w.db).await, ["mcp.add", "mcp.toggle", "mcp.toggle", "mcp.remove"]);
}

#[tokio::test]
async fn forged_and_foreign_token_forms_store_nothing() {
    let w = world().await;
    let alice = || UserSpec::new(ALICE, "alice");
    let bob = || UserSpec::new(BOB, "bob");
    let url = w.server_mcp.url("/mcp");
    let form = w
        .form(slash(alice(), MANAGE_GUILD, "mcp add").arg("name", "fake").arg("url", url.clone()))
        .await;
    let submit = |user, permissions, id: &str| {
        slash(user, permissions, "mcp").submit_modal(id, &[("token", TOKEN)])
    };
    // A member without Manage Server who replays the form is refused before the nonce is read.
    let member = w.answer(submit(bob(), VIEW_AND_SEND, &form)).await;
    assert_eq!(member, "You need the Manage Server permission to do that; nothing was changed.");
    // Another manager: the form was not shown to them.
    let other = w.answer(submit(bob(), MANAGE_GUILD, &form)).await;
    assert_eq!(other, "That form was not shown to you here; nothing was saved.");
    for forged in ["mcp-add|00000000000000000000000000000000", "mcp-add|", "mcp-add"] {
        let answer = w.answer(submit(alice(), MANAGE_GUILD, forged)).await;
        assert!(answer.starts_with("That form has expired or was already used"), "{answer}");
    }
    assert!(w.names().await.is_empty());
    assert!(w.server_mcp.requests().is_empty(), "nothing was probed");
    assert!(audit_actions(&w.db).await.is_empty());
    // The form is still Alice's to submit.
    let added = w.run(submit(alice(), MANAGE_GUILD, &form)).await;
    assert!(added.content.unwrap().starts_with("Added MCP server fake"));
    assert_eq!(w.names().await, [("fake".to_owned(), true)]);
}
