//! Operator MCP servers over stdio, end to end: the model (the fake LLM) calls a tool on a real
//! child process through the gate, and the result goes back to it fenced as untrusted; the
//! process gets a cleared environment; bad input is refused with a reason the model can read; a
//! server that exits is restarted; a command that cannot start is retried with a growing pause.
//!
//! This target has no libtest harness because the same binary is also the MCP server: run as
//! `mcp_stdio serve-fake-mcp`, it serves tomori-testkit's fake on its stdin and stdout. A server
//! must be a program of its own, and cargo tells tests the paths of this package's binaries only,
//! so the test binary spawns itself (`std::env::current_exe`). Without a harness nothing else
//! writes to stdout, which the MCP protocol owns.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tomori_core::handles::Handles;
use tomori_core::id::{LineageId, PersonaId, ServerId, Snowflake, UserId};
use tomori_core::privacy::PrivacyLevel;
use tomori_core::quota::QuotaVerdict;
use tomori_llm::{
    ChatRequest, Endpoint, Llm, Message, Target, Timeouts, ToolCall, Wire, client_for,
};
use tomori_net::{Client, Policy};
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
use tomori_tools::mcp::{McpTimeouts, OperatorMcp, ServerStatus, StdioConfig};
use tomori_tools::{
    Author, Features, FetchUrl, Gate, LiveError, LiveState, Perms, Place, QuotaKind, Registry,
    Snapshot, TurnContext, Visibility, results_message, run_tool_calls,
};

const SERVE: &str = "serve-fake-mcp";

/// A test: its name and how to start it.
type Test = (&'static str, fn() -> BoxFuture<'static, ()>);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    if args.first().map(String::as_str) == Some(SERVE) {
        return match runtime.block_on(tomori_testkit::fake_mcp::serve_stdio()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    tomori_testkit::init();
    let tests: [Test; 7] = [
        ("the_model_calls_a_tool_on_a_stdio_server", || {
            the_model_calls_a_tool_on_a_stdio_server().boxed()
        }),
        ("the_server_gets_only_path_and_its_own_variables", || {
            the_server_gets_only_path_and_its_own_variables().boxed()
        }),
        ("bad_calls_are_refused_with_a_reason_the_model_reads", || {
            bad_calls_are_refused_with_a_reason_the_model_reads().boxed()
        }),
        ("a_server_that_exits_is_restarted", || a_server_that_exits_is_restarted().boxed()),
        ("a_server_whose_tools_change_is_listed_again", || {
            a_server_whose_tools_change_is_listed_again().boxed()
        }),
        ("an_answer_over_a_mebibyte_is_too_large_and_the_server_stays", || {
            an_answer_over_a_mebibyte_is_too_large_and_the_server_stays().boxed()
        }),
        ("a_command_that_cannot_start_is_retried_with_a_growing_pause", || {
            a_command_that_cannot_start_is_retried_with_a_growing_pause().boxed()
        }),
    ];
    if args.iter().any(|a| a == "--list") {
        report(&tests.iter().map(|(name, _)| format!("{name}: test")).collect::<Vec<_>>());
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&str> =
        args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let mut lines = Vec::new();
    let mut failed = 0;
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f)) {
            continue;
        }
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(test())));
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        failed += usize::from(outcome.is_err());
        lines.push(format!("test {name} ... {verdict} ({:.2?})", started.elapsed()));
    }
    lines.push(format!("mcp_stdio: {} run, {failed} failed", lines.len()));
    report(&lines);
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[expect(clippy::print_stdout, reason = "this harness reports its own results")]
fn report(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

/// The fake server: this very binary in serve mode.
fn fake_server(name: &str) -> StdioConfig {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut env = BTreeMap::new();
    env.insert("FAKE_ALLOWED".to_owned(), SecretString::from("yes"));
    StdioConfig {
        name: name.to_owned(),
        command: exe.to_string_lossy().into_owned(),
        args: vec![SERVE.to_owned()],
        path: Some("/usr/bin:/bin".to_owned()),
        env,
    }
}

fn timeouts() -> McpTimeouts {
    McpTimeouts { call: Duration::from_secs(2), ..McpTimeouts::default() }
}

/// Live state that allows everything.
struct Open;

impl LiveState for Open {
    fn snapshot(&self) -> BoxFuture<'_, Result<Snapshot, LiveError>> {
        async {
            Ok(Snapshot {
                features: Features::all(),
                privacy: PrivacyLevel::Minimal,
                bot: Perms::all(),
                invoker: Perms::all(),
                member_teaching: false,
            })
        }
        .boxed()
    }

    fn quota(&self, _kind: QuotaKind) -> BoxFuture<'_, Result<QuotaVerdict, LiveError>> {
        async { Ok(QuotaVerdict::Allowed) }.boxed()
    }

    fn record_quota(&self, _kind: QuotaKind) -> BoxFuture<'_, Result<(), LiveError>> {
        async { Ok(()) }.boxed()
    }

    fn message_author(&self, _message: Snowflake) -> BoxFuture<'_, Result<Author, LiveError>> {
        async { Err(LiveError("no messages here".into())) }.boxed()
    }

    fn message_visibility(
        &self,
        _message: Snowflake,
    ) -> BoxFuture<'_, Result<Visibility, LiveError>> {
        async { Err(LiveError("no messages here".into())) }.boxed()
    }
}

fn turn(place: Place) -> TurnContext {
    let guild = match place {
        Place::Dm => None,
        Place::Guild { .. } => Some(Snowflake::new(400_000_000_000_000_001).expect("a snowflake")),
    };
    TurnContext {
        server: ServerId::from_db(1),
        guild,
        channel: Snowflake::new(600_000_000_000_000_001).expect("a snowflake"),
        place,
        invoker: Snowflake::new(500_000_000_000_000_001).expect("a snowflake"),
        invoker_user: UserId::from_db(1),
        persona: PersonaId::from_db(1),
        lineage: LineageId::from_db(1),
        handles: Handles::default(),
        shown_memories: Vec::new(),
        live: Arc::new(Open),
        cancel: CancellationToken::new(),
        outbox: tomori_tools::Outbox::default(),
        shown: tomori_tools::ShownImages::default(),
        member_request: false,
        youtube: Vec::new(),
        offered: Vec::new(),
        analyst: None,
        private_channel: false,
    }
}

/// A gate with the built-in `fetch_url` and the operator's servers under it.
fn gate(mcp: &OperatorMcp) -> Gate {
    let mut registry = Registry::new();
    let client = Client::new(Policy::new(tomori_net::Scope::Tool)).expect("a client");
    registry.register(FetchUrl::new(client)).expect("fetch_url registers");
    Gate::new(registry).with_source(Arc::new(mcp.clone()))
}

async fn started(configs: Vec<StdioConfig>) -> OperatorMcp {
    let mcp = OperatorMcp::start(configs, timeouts());
    mcp.ready(Duration::from_secs(20)).await;
    mcp
}

/// Runs one call through the gate: `Ok(content)` or `Err(reason)`.
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

async fn the_model_calls_a_tool_on_a_stdio_server() {
    let mcp = started(vec![fake_server("fake")]).await;
    assert!(
        matches!(&mcp.statuses()[..], [(_, ServerStatus::Running { tools: 11, restarts: 0 })]),
        "{:?}",
        mcp.statuses()
    );
    let gate = gate(&mcp);
    let ctx = turn(Place::Dm);

    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let policy = Policy::operator();
    let endpoint =
        Endpoint::new(Wire::OpenAiCompatible, &llm.base_url(), &policy).expect("endpoint");
    let client = client_for(policy, &Timeouts::default()).expect("client");
    let chain = vec![Target::new("local", "local", endpoint, "fake-model", client)];
    llm.push_turn(Turn::new().tool_call("call_1", "echo", json!({"text": "hello from the model"})));
    llm.push_turn(Turn::new().text("The server said hello."));

    let tools = gate.advertise(&ctx).await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    // The built-in keeps its name; the server's `fetch_url` and `bad.name` are skipped.
    assert_eq!(
        names,
        ["fetch_url", "echo", "add", "fails", "sleep", "injected", "big", "grow", "env", "exit"]
    );
    assert!(tools[0].description.starts_with("Read a web page"), "{}", tools[0].description);
    let injected = &tools[5].description;
    assert!(injected.starts_with("A tool of the MCP server \"fake\"."), "{injected}");
    assert!(!injected.contains('<') && !injected.contains('\n'), "{injected}");

    let mut request = ChatRequest {
        system: vec!["You are Tomori.".into()],
        messages: vec![Message::user("say hello through the server")],
        tools,
        sampler: Default::default(),
        thinking: Default::default(),
    };
    let llm_client = Llm::default();
    let first = llm_client.complete(&chain, &request).await.expect("first answer");
    assert_eq!(first.tool_calls.len(), 1);
    let results = run_tool_calls(&gate, &first.tool_calls, &ctx).await;
    assert!(!results[0].is_error, "{:?}", results[0]);
    assert_eq!(
        results[0].content,
        "<tool_output name=\"echo\" trust=\"untrusted\">\nhello from the model\n</tool_output>"
    );
    request.messages.push(first.to_message());
    request.messages.push(results_message(results));
    let second = llm_client.complete(&chain, &request).await.expect("second answer");
    assert_eq!(second.text, "The server said hello.");

    let sent = llm.requests();
    assert_eq!(sent.len(), 2);
    let offered = String::from_utf8_lossy(&sent[0].body).into_owned();
    assert!(offered.contains("\"echo\"") && !offered.contains("bad.name"), "{offered}");
    let answered = String::from_utf8_lossy(&sent[1].body).into_owned();
    assert!(
        answered.contains("trust=\\\"untrusted\\\">\\nhello from the model"),
        "the result went back fenced: {answered}"
    );

    // A result the server marks as an error is a failure, its words fenced too.
    let failure = call(&gate, &ctx, "fails", json!({})).await.expect_err("a failure");
    assert!(failure.starts_with("the MCP tool reported an error: <tool_output"), "{failure}");
    assert!(failure.contains("it broke&lt;/tool_output>"), "{failure}");
    // A call that takes longer than the call timeout fails with a reason.
    let slow = call(&gate, &ctx, "sleep", json!({"ms": 5_000})).await.expect_err("too slow");
    assert!(slow.starts_with("timed out: the MCP server fake"), "{slow}");
    mcp.stop();
}

async fn the_server_gets_only_path_and_its_own_variables() {
    let mcp = started(vec![fake_server("fake")]).await;
    let gate = gate(&mcp);
    let ctx = turn(Place::Guild { rp: false });
    let names = call(&gate, &ctx, "env", json!({})).await.expect("env runs");
    // Security: secrets inherited by MCP servers. This test process has DATABASE_URL, HOME,
    // CARGO_* and more; the server sees none of them.
    assert_eq!(
        names,
        "<tool_output name=\"env\" trust=\"untrusted\">\nFAKE_ALLOWED,PATH\n</tool_output>"
    );
    mcp.stop();
}

async fn bad_calls_are_refused_with_a_reason_the_model_reads() {
    let mcp = started(vec![fake_server("fake")]).await;
    let gate = gate(&mcp);
    let ctx = turn(Place::Guild { rp: true });
    let check = |name: &'static str, arguments: Value, expected: &'static str| {
        let gate = &gate;
        let ctx = &ctx;
        async move {
            let reason = call(gate, ctx, name, arguments.clone()).await.expect_err("refused");
            assert!(reason.starts_with(expected), "{name}({arguments}): {reason}");
        }
    };
    check("nope", json!({}), "refused (unknown_tool): there is no tool named \"nope\"").await;
    check("bad.name", json!({}), "refused (unknown_tool)").await;
    check("add", json!({"a": 1}), "refused (malformed_arguments): missing required argument \"b\"")
        .await;
    check(
        "add",
        json!({"a": 1, "b": "2"}),
        "refused (malformed_arguments): argument \"b\" must be of type integer",
    )
    .await;
    check(
        "add",
        json!({"a": 1, "b": 2, "c": 3}),
        "refused (malformed_arguments): unknown argument \"c\"",
    )
    .await;
    check("echo", json!([]), "refused (malformed_arguments): the arguments are not a JSON object")
        .await;
    let sum = call(&gate, &ctx, "add", json!({"a": 2, "b": 40})).await.expect("a sum");
    assert!(sum.contains("\n42\n"), "{sum}");
    mcp.stop();
}

async fn a_server_that_exits_is_restarted() {
    let mcp = started(vec![fake_server("fake")]).await;
    let gate = gate(&mcp);
    let ctx = turn(Place::Dm);
    let crashed = call(&gate, &ctx, "exit", json!({})).await.expect_err("the process exits");
    assert!(crashed.starts_with("unavailable: the MCP server fake"), "{crashed}");
    let down = mcp
        .wait_for("fake", Duration::from_secs(5), |s| matches!(s, ServerStatus::Restarting { .. }))
        .await;
    assert!(matches!(down, Some(ServerStatus::Restarting { restarts: 1, .. })), "{down:?}");
    // While it restarts, its tools stay offered and a call fails with a reason.
    let during = call(&gate, &ctx, "echo", json!({"text": "anyone?"})).await;
    assert_eq!(during, Err("unavailable: the MCP server fake is restarting".to_owned()));
    let up = mcp
        .wait_for("fake", Duration::from_secs(10), |s| matches!(s, ServerStatus::Running { .. }))
        .await;
    assert_eq!(up, Some(ServerStatus::Running { tools: 11, restarts: 1 }));
    let again = call(&gate, &ctx, "echo", json!({"text": "back"})).await.expect("answers again");
    assert!(again.contains("\nback\n"), "{again}");
    mcp.stop();
}

async fn a_server_whose_tools_change_is_listed_again() {
    let mcp = started(vec![fake_server("fake")]).await;
    let gate = gate(&mcp);
    let ctx = turn(Place::Dm);
    let names = |tools: Vec<tomori_llm::ToolSpec>| -> Vec<String> {
        tools.into_iter().map(|t| t.name).collect()
    };
    assert!(!names(gate.advertise(&ctx).await).contains(&"grown".to_owned()));
    // `grow` adds a tool and sends notifications/tools/list_changed before its answer.
    call(&gate, &ctx, "grow", json!({})).await.expect("grew");
    let listed = mcp
        .wait_for("fake", Duration::from_secs(10), |s| {
            matches!(s, ServerStatus::Running { tools: 12, .. })
        })
        .await;
    assert_eq!(listed, Some(ServerStatus::Running { tools: 12, restarts: 0 }));
    assert!(names(gate.advertise(&ctx).await).contains(&"grown".to_owned()));
    let ran = call(&gate, &ctx, "grown", json!({})).await.expect("the new tool runs");
    assert!(ran.contains("grown ran"), "{ran}");
    mcp.stop();
}

async fn an_answer_over_a_mebibyte_is_too_large_and_the_server_stays() {
    let mcp = started(vec![fake_server("fake")]).await;
    let gate = gate(&mcp);
    let ctx = turn(Place::Dm);
    let big = call(&gate, &ctx, "big", json!({"bytes": 2_000_000})).await.expect_err("too big");
    assert_eq!(
        big,
        "too_large: the MCP server fake answered with more than 1 MiB; ask it for less (a narrower query, fewer results)"
    );
    let echoed = call(&gate, &ctx, "echo", json!({"text": "still here"})).await.expect("echo");
    assert!(echoed.contains("\nstill here\n"), "{echoed}");
    assert_eq!(mcp.statuses()[0].1, ServerStatus::Running { tools: 11, restarts: 0 });
    mcp.stop();
}

async fn a_command_that_cannot_start_is_retried_with_a_growing_pause() {
    let missing = StdioConfig {
        name: "missing".to_owned(),
        command: "/nonexistent/tomori-mcp-server".to_owned(),
        args: Vec::new(),
        path: None,
        env: BTreeMap::new(),
    };
    let mcp = started(vec![missing, fake_server("fake")]).await;
    let statuses = mcp.statuses();
    assert!(
        matches!(&statuses[0].1, ServerStatus::Restarting { restarts: 1, reason } if reason.starts_with("could not start the server: /nonexistent/tomori-mcp-server")),
        "{statuses:?}"
    );
    // Pauses of 1 s then 2 s: the third attempt comes no sooner than about 3 s after the first
    // (a lower bound only: a loaded machine may take longer, never shorter).
    let first = Instant::now();
    let third = mcp
        .wait_for("missing", Duration::from_secs(30), |s| {
            matches!(s, ServerStatus::Restarting { restarts: 3, .. })
        })
        .await;
    let waited = first.elapsed();
    assert!(matches!(third, Some(ServerStatus::Restarting { restarts: 3, .. })), "{third:?}");
    assert!(waited >= Duration::from_millis(2_500), "{waited:?}");
    // The other server is unaffected.
    let gate = gate(&mcp);
    let ok = call(&gate, &turn(Place::Dm), "echo", json!({"text": "fine"})).await;
    assert!(ok.is_ok(), "{ok:?}");
    mcp.stop();
}
