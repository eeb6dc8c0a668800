//! Guild MCP servers over streamable HTTP on loopback: their tools offered in their guild only,
//! called with the sealed token, name collisions skipped, URLs the policy refuses never
//! connected to (DNS answers included), redirects refused, failing servers quarantined; and the
//! gate's layering of tool sources.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use serde_json::{Value, json};
use tomori_core::id::ServerId;
use tomori_llm::ToolCall;
use tomori_net::{Client, Lookup, Policy, Scope as NetScope};
use tomori_store::audit::Actor;
use tomori_store::{Scope, mcp as stored};
use tomori_testkit::fake_mcp::{FakeMcpHttp, SeenRequest};
use tomori_tools::mcp::{GuildMcp, McpError, McpTimeouts};
use tomori_tools::{FetchUrl, Gate, Place, Registry, ToolSource, TurnContext, run_tool_calls};

use crate::support::{Facts, FakeLive, Probe, SERVER_IP, World, snowflake, tool_client};

const TOKEN: &str = "s3cret-token";

/// Names resolve to whatever the test says now (DNS rebinding on demand).
struct Switch(Mutex<IpAddr>);

impl Lookup for Switch {
    fn lookup(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let ip = *self.0.lock().expect("lookup lock");
        async move { Ok(vec![ip]) }.boxed()
    }
}

/// A server-scope client that may reach the test server's address, resolving every name with
/// `lookup`.
fn server_client(lookup: Arc<Switch>) -> Client {
    Client::builder(Policy::new(NetScope::Server).allow_loopback_address_for_tests(SERVER_IP))
        .lookup(lookup)
        .build()
        .expect("a test client")
}

fn switch() -> Arc<Switch> {
    Arc::new(Switch(Mutex::new(SERVER_IP)))
}

fn fast() -> McpTimeouts {
    McpTimeouts {
        connect: Duration::from_secs(5),
        call: Duration::from_millis(500),
        quarantine: Duration::from_millis(800),
        guild_cache: Duration::from_secs(60),
    }
}

async fn register(world: &World, name: &str, url: &str, token: Option<&str>) -> i64 {
    let token = token.map(|t| SecretString::from(t.to_owned()));
    stored::add(
        &world.store,
        Scope::server(world.server),
        Actor::Operator,
        name,
        url,
        token.as_ref(),
    )
    .await
    .expect("registered")
    .id
}

fn gate(mcp: &GuildMcp) -> Gate {
    let mut registry = Registry::new();
    registry.register(FetchUrl::new(tool_client())).expect("fetch_url registers");
    Gate::new(registry).with_source(Arc::new(mcp.clone()))
}

async fn call(
    gate: &Gate,
    ctx: &TurnContext,
    name: &str,
    arguments: Value,
) -> Result<String, String> {
    let call = ToolCall { id: "c".into(), name: name.into(), arguments, signature: None };
    let result = run_tool_calls(gate, &[call], ctx).await.remove(0);
    if result.is_error {
        let failure: Value = serde_json::from_str(&result.content).expect("failure JSON");
        return Err(failure["reason"].as_str().expect("a reason").to_owned());
    }
    Ok(result.content)
}

async fn names(gate: &Gate, ctx: &TurnContext) -> Vec<String> {
    gate.advertise(ctx).await.into_iter().map(|t| t.name).collect()
}

#[tokio::test]
async fn a_guilds_servers_serve_that_guild_with_the_sealed_token() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, Some(TOKEN)).await;
    register(&world, "fake", &fake.url("/mcp"), Some(TOKEN)).await;
    let mcp = GuildMcp::new(world.store.clone(), server_client(switch()), fast());
    let gate = gate(&mcp);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));

    // The built-in keeps `fetch_url`; `bad.name` is skipped.
    assert_eq!(
        names(&gate, &ctx).await,
        ["fetch_url", "echo", "add", "fails", "sleep", "injected", "big", "grow"]
    );
    let echoed = call(&gate, &ctx, "echo", json!({"text": "hi"})).await.expect("echo runs");
    assert_eq!(echoed, "<tool_output name=\"echo\" trust=\"untrusted\">\nhi\n</tool_output>");
    // `fetch_url` is the built-in's: the server never hears of it.
    let fetched = call(&gate, &ctx, "fetch_url", json!({"url": "http://127.0.0.1/"})).await;
    assert!(fetched.expect_err("refused").starts_with("blocked_by_policy"));
    assert_eq!(fake.calls(), ["echo"]);
    let requests = fake.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.authorization.as_deref() == Some("Bearer s3cret-token")),
        "{requests:?}"
    );

    // Security: cross-tenant tool use. A DM, and another guild, see none of these tools.
    let mut dm = world.turn(FakeLive::new(Facts::permissive()));
    dm.place = Place::Dm;
    assert_eq!(names(&gate, &dm).await, ["fetch_url"]);
    let refused = call(&gate, &dm, "echo", json!({"text": "hi"})).await.expect_err("refused");
    assert!(refused.starts_with("refused (wrong_context)"), "{refused}");
    let other = world.store.resolve_guild(snowflake(400_000_000_000_000_777)).await.expect("guild");
    let mut elsewhere = world.turn(FakeLive::new(Facts::permissive()));
    elsewhere.server = other;
    assert_eq!(names(&gate, &elsewhere).await, ["fetch_url"]);
    let unknown =
        call(&gate, &elsewhere, "echo", json!({"text": "hi"})).await.expect_err("refused");
    assert!(unknown.starts_with("refused (unknown_tool)"), "{unknown}");
    assert_eq!(fake.calls(), ["echo"], "nothing reached the server for other tenants");

    // A disabled server's tools go once `/mcp` says so.
    stored::set_enabled(&world.store, Scope::server(world.server), Actor::Operator, "fake", false)
        .await
        .expect("disabled");
    mcp.forget(world.server, &[]);
    assert_eq!(names(&gate, &ctx).await, ["fetch_url"]);
}

#[tokio::test]
async fn probes_report_refused_urls_bad_tokens_and_redirects() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, Some(TOKEN)).await;
    let lookup = switch();
    let mcp = GuildMcp::new(world.store.clone(), server_client(Arc::clone(&lookup)), fast());
    let token = SecretString::from(TOKEN.to_owned());

    let tools = mcp.probe(&fake.url("/mcp"), Some(&token)).await.expect("probe works");
    assert_eq!(
        tools,
        ["echo", "add", "fails", "sleep", "injected", "fetch_url", "bad.name", "big", "grow"]
    );

    let port = fake.addr().port();
    // Security: SSRF. Refused before anything is sent: the rest of loopback, cloud metadata,
    // private ranges, other schemes.
    for (url, code) in [
        (format!("http://127.0.0.1:{port}/mcp"), "loopback"),
        ("http://169.254.169.254/mcp".to_owned(), "cloud_metadata"),
        ("http://10.0.0.8/mcp".to_owned(), "private"),
        ("ftp://example.com/mcp".to_owned(), "unsupported_scheme"),
        ("not a url".to_owned(), "invalid_url"),
    ] {
        match mcp.probe(&url, None).await {
            Err(McpError::Blocked(refusal)) => assert_eq!(refusal.code(), code, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    // A name whose DNS answer is refused is refused by the resolver, and said so.
    *lookup.0.lock().expect("lookup lock") = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let renamed = format!("http://mcp.example:{port}/mcp");
    match mcp.probe(&renamed, Some(&token)).await {
        Err(McpError::Blocked(refusal)) => assert_eq!(refusal.code(), "loopback"),
        other => panic!("{other:?}"),
    }
    *lookup.0.lock().expect("lookup lock") = SERVER_IP;
    mcp.probe(&renamed, Some(&token)).await.expect("the same name on an allowed address");

    let seen_before = fake.requests().len();
    let wrong = SecretString::from("wrong".to_owned());
    let refused = mcp.probe(&fake.url("/mcp"), Some(&wrong)).await;
    assert!(matches!(refused, Err(McpError::Handshake(_))), "{refused:?}");
    // Security: token leak through redirects. The redirect is not followed.
    let redirected = mcp.probe(&fake.url("/moved"), Some(&token)).await;
    assert!(matches!(redirected, Err(McpError::Handshake(_))), "{redirected:?}");
    // (Sessions of earlier probes end with a DELETE in the background; those are left out.)
    let after: Vec<SeenRequest> = fake.requests().split_off(seen_before);
    assert_eq!(
        after
            .iter()
            .filter(|r| r.method != "DELETE")
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect::<Vec<_>>(),
        [("POST", "/mcp"), ("POST", "/moved")]
    );
    let newline = SecretString::from("a\nb".to_owned());
    assert_eq!(mcp.probe(&fake.url("/mcp"), Some(&newline)).await, Err(McpError::InvalidToken));
}

#[tokio::test]
async fn a_server_whose_address_changes_is_refused_and_quarantined() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, None).await;
    let lookup = switch();
    let id = register(
        &world,
        "rebinding",
        &format!("http://mcp.example:{}/mcp", fake.addr().port()),
        None,
    )
    .await;
    let mcp = GuildMcp::new(world.store.clone(), server_client(Arc::clone(&lookup)), fast());
    let gate = gate(&mcp);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    // Security: DNS rebinding. The name now answers with a refused address: no connection.
    *lookup.0.lock().expect("lookup lock") = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(names(&gate, &ctx).await, ["fetch_url"]);
    assert!(fake.requests().is_empty());
    let listed = mcp.list(world.server).await.expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].server.id, id);
    assert!(listed[0].quarantined_for.is_some(), "{listed:?}");
    // Back on an allowed address, the server is used again once its quarantine is over.
    *lookup.0.lock().expect("lookup lock") = SERVER_IP;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(names(&gate, &ctx).await.len(), 8);
}

#[tokio::test]
async fn a_server_that_fails_a_call_is_quarantined_and_comes_back() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, None).await;
    register(&world, "fake", &fake.url("/mcp"), None).await;
    // A server nobody listens on: quarantined when the guild's tools are built.
    let closed = tokio::net::TcpListener::bind((SERVER_IP, 0)).await.expect("a port");
    let closed_url = format!("http://{}/mcp", closed.local_addr().expect("an address"));
    drop(closed);
    register(&world, "gone", &closed_url, None).await;
    let mcp = GuildMcp::new(world.store.clone(), server_client(switch()), fast());
    let gate = gate(&mcp);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));

    assert_eq!(names(&gate, &ctx).await.len(), 8);
    let listed = mcp.list(world.server).await.expect("listed");
    let state: Vec<(&str, bool)> =
        listed.iter().map(|s| (s.server.name.as_str(), s.quarantined_for.is_some())).collect();
    assert_eq!(state, [("fake", false), ("gone", true)]);

    let slow = call(&gate, &ctx, "sleep", json!({"ms": 3_000})).await.expect_err("too slow");
    assert_eq!(slow, "timed out: the MCP server fake did not answer within 500ms");
    // Quarantined: its tools are gone from this guild for now.
    assert_eq!(names(&gate, &ctx).await, ["fetch_url"]);
    let gone = call(&gate, &ctx, "echo", json!({"text": "x"})).await.expect_err("refused");
    assert!(gone.starts_with("refused (unknown_tool)"), "{gone}");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(names(&gate, &ctx).await.len(), 8);
    let back = call(&gate, &ctx, "echo", json!({"text": "back"})).await.expect("echo runs");
    assert!(back.contains("\nback\n"), "{back}");
}

#[tokio::test]
async fn an_answer_over_a_mebibyte_is_too_large_and_pauses_nothing() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, None).await;
    register(&world, "fake", &fake.url("/mcp"), None).await;
    let mcp = GuildMcp::new(world.store.clone(), server_client(switch()), slow_calls());
    let gate = gate(&mcp);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));

    let fits = call(&gate, &ctx, "big", json!({"bytes": 500_000})).await.expect("fits");
    assert!(fits.contains(&"x".repeat(1_000)), "{}", fits.len());
    let big = call(&gate, &ctx, "big", json!({"bytes": 2_000_000})).await.expect_err("too big");
    assert_eq!(
        big,
        "too_large: the MCP server fake answered with more than 1 MiB; ask it for less (a narrower query, fewer results)"
    );
    // Nothing is paused: the server is not quarantined and its tools work at once.
    let listed = mcp.list(world.server).await.expect("listed");
    assert!(listed.iter().all(|s| s.quarantined_for.is_none()), "{listed:?}");
    let echoed = call(&gate, &ctx, "echo", json!({"text": "still here"})).await.expect("echo");
    assert!(echoed.contains("\nstill here\n"), "{echoed}");
}

#[tokio::test]
async fn a_server_whose_tools_change_is_listed_again() {
    let world = World::new().await;
    let fake = FakeMcpHttp::start(SERVER_IP, None).await;
    register(&world, "fake", &fake.url("/mcp"), None).await;
    let mcp = GuildMcp::new(world.store.clone(), server_client(switch()), fast());
    let gate = gate(&mcp);
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    assert!(!names(&gate, &ctx).await.contains(&"grown".to_owned()));

    // `grow` adds a tool and sends notifications/tools/list_changed before its answer.
    call(&gate, &ctx, "grow", json!({})).await.expect("grew");
    let listed = async {
        while !names(&gate, &ctx).await.contains(&"grown".to_owned()) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), listed).await.expect("listed again");
    let ran = call(&gate, &ctx, "grown", json!({})).await.expect("the new tool runs");
    assert!(ran.contains("grown ran"), "{ran}");
}

/// Timeouts that leave a large answer time to arrive.
fn slow_calls() -> McpTimeouts {
    McpTimeouts { call: Duration::from_secs(20), ..fast() }
}

/// A fixed set of tools, for the layering rules.
struct Fixed(Arc<Registry>);

impl ToolSource for Fixed {
    fn tools(&self, _server: ServerId) -> BoxFuture<'_, Arc<Registry>> {
        let registry = Arc::clone(&self.0);
        async move { registry }.boxed()
    }
}

/// Each probe's record of its runs.
type Runs = Arc<Mutex<Vec<Option<tomori_tools::Target>>>>;

fn fixed(names: &[&'static str]) -> (Arc<Fixed>, Vec<Runs>) {
    let mut registry = Registry::new();
    let mut runs = Vec::new();
    for name in names {
        let mut probe = Probe::visible_message();
        probe.name = name;
        probe.policy.contexts = tomori_tools::Contexts::EVERYWHERE;
        probe.policy.target = tomori_tools::TargetRule::None;
        probe.policy.feature = None;
        runs.push(Arc::clone(&probe.runs));
        registry.register(probe).expect("registers");
    }
    (Arc::new(Fixed(Arc::new(registry))), runs)
}

#[tokio::test]
async fn sources_never_shadow_the_registry_or_each_other() {
    let world = World::new().await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let (operator, operator_runs) = fixed(&["shared", "operator_only"]);
    let (guild, guild_runs) = fixed(&["shared", "guild_only", "fetch_url"]);
    let mut registry = Registry::new();
    registry.register(FetchUrl::new(tool_client())).expect("fetch_url registers");
    let gate = Gate::new(registry).with_source(operator).with_source(guild);
    assert_eq!(names(&gate, &ctx).await, ["fetch_url", "shared", "operator_only", "guild_only"]);
    call(&gate, &ctx, "shared", json!({"message": "x"})).await.expect("runs");
    assert_eq!(operator_runs[0].lock().expect("runs").len(), 1, "the first source's tool ran");
    assert!(guild_runs[0].lock().expect("runs").is_empty());
    call(&gate, &ctx, "fetch_url", json!({"url": "http://127.0.0.1/"}))
        .await
        .expect_err("built-in");
    assert!(guild_runs[2].lock().expect("runs").is_empty(), "the built-in ran, not the source's");
    // A built-in that is off this turn still keeps its name.
    let live = FakeLive::new(Facts::permissive());
    live.set(|facts| {
        let snapshot = facts.snapshot_mut();
        snapshot.features = snapshot.features.without(tomori_core::settings::Feature::WebSearch);
    });
    let off = world.turn(live);
    assert_eq!(names(&gate, &off).await, ["shared", "operator_only", "guild_only"]);
}
