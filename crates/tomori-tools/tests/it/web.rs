//! fetch_url and web_search against loopback servers only: Markdown and pagination, the URL
//! policy refusing what the test policy does not allow; Brave with the server's key, SearXNG,
//! and DuckDuckGo's page as the fallback.

use std::net::IpAddr;

use secrecy::SecretString;
use serde_json::{Value, json};
use tomori_llm::ToolCall;
use tomori_net::Url;
use tomori_store::Scope;
use tomori_store::audit::Actor;
use tomori_store::credentials::{self, KeyOwner};
use tomori_tools::{
    BRAVE_PROVIDER, FetchUrl, Gate, Registry, SearchConfig, TurnContext, WebSearch, run_tool_calls,
};

use crate::support::{
    Facts, FakeLive, INVOKER, REDIRECT, WebServer, World, operator_client, search_config,
    snowflake, tool_client, web_routes,
};

pub(crate) async fn run(
    gate: &Gate,
    ctx: &TurnContext,
    name: &str,
    arguments: Value,
) -> Result<Value, String> {
    let call = ToolCall { id: "c".into(), name: name.into(), arguments, signature: None };
    let result = run_tool_calls(gate, &[call], ctx).await.remove(0);
    if result.is_error {
        let failure: Value = serde_json::from_str(&result.content).expect("failure JSON");
        return Err(failure["reason"].as_str().expect("reason").to_owned());
    }
    let body = result
        .content
        .strip_prefix(&format!("<tool_output name=\"{name}\" trust=\"untrusted\">\n"))
        .and_then(|rest| rest.strip_suffix("\n</tool_output>"))
        .expect("fenced output");
    Ok(serde_json::from_str(body).expect("output JSON"))
}

fn fetch_gate(page_chars: usize) -> Gate {
    let mut registry = Registry::new();
    registry.register(FetchUrl::new(tool_client()).with_page_chars(page_chars)).expect("registers");
    Gate::new(registry)
}

#[tokio::test]
async fn fetch_url_reads_a_loopback_page_that_only_test_configuration_allows() {
    let world = World::new().await;
    let web = WebServer::start(web_routes()).await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));

    let gate = fetch_gate(50_000);
    let page =
        run(&gate, &ctx, "fetch_url", json!({"url": web.url("/page")})).await.expect("fetched");
    assert_eq!(
        page,
        json!({
            "url": web.url("/page"),
            "content": "# Hello\n\nLoopback page.",
            "offset": 0,
            "next_offset": null,
            "total_chars": 23,
        })
    );

    let gate = fetch_gate(10);
    let first =
        run(&gate, &ctx, "fetch_url", json!({"url": web.url("/page")})).await.expect("part 1");
    assert_eq!(
        (first["content"].as_str(), first["next_offset"].as_u64()),
        (Some("# Hello\n\nL"), Some(10))
    );
    let second = run(&gate, &ctx, "fetch_url", json!({"url": web.url("/page"), "offset": 10}))
        .await
        .expect("part 2");
    assert_eq!(
        (second["content"].as_str(), second["next_offset"].as_u64()),
        (Some("oopback pa"), Some(20))
    );
    assert_eq!(web.requests().len(), 3);

    // Security: SSRF. The rest of loopback, cloud metadata and private ranges stay refused, and
    // nothing is sent anywhere.
    let port = web.addr.port();
    for (url, code) in [
        (format!("http://127.0.0.1:{port}/page"), "loopback"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "cloud_metadata"),
        ("http://10.0.0.1/".to_owned(), "private"),
        ("http://[::1]/".to_owned(), "loopback"),
        ("ftp://example.com/".to_owned(), "unsupported_scheme"),
    ] {
        let refused =
            run(&gate, &ctx, "fetch_url", json!({"url": url})).await.expect_err("refused");
        assert!(
            refused.starts_with(&format!("blocked_by_policy: refused by URL policy: {code}")),
            "{url}: {refused}"
        );
    }
    assert_eq!(web.requests().len(), 3);
    assert_eq!(
        run(&gate, &ctx, "fetch_url", json!({"url": web.url("/missing")})).await,
        Err("bad_status: the server answered 404 Not Found".to_owned())
    );
}

fn search_gate(config: SearchConfig) -> Gate {
    let mut registry = Registry::new();
    registry.register(WebSearch::new(operator_client(), tool_client(), config)).expect("registers");
    Gate::new(registry)
}

#[tokio::test]
async fn web_search_uses_searxng_then_duckduckgo() {
    let world = World::new().await;
    let web = WebServer::start(web_routes()).await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let url = |path: &str| Url::parse(&web.url(path)).expect("url");

    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: Some(url("/searx/")),
        duckduckgo: url("/ddg/html/"),
    });
    let found =
        run(&gate, &ctx, "web_search", json!({"query": "tea & cake"})).await.expect("found");
    assert_eq!(
        found,
        json!({"backend": "searxng", "results": [{"title": "Searx hit", "url": "https://hit.example/", "snippet": "from searx"}]})
    );
    assert_eq!(web.requests(), ["/searx/search?q=tea+%26+cake&format=json"]);

    // SearXNG answers 404: DuckDuckGo's page is the fallback.
    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: Some(url("/gone/")),
        duckduckgo: url("/ddg/html/"),
    });
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(
        found,
        json!({"backend": "duckduckgo", "results": [{"title": "Duck hit", "url": "https://duck.example/", "snippet": "from ddg"}]})
    );

    // No SearXNG configured: DuckDuckGo directly.
    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: None,
        duckduckgo: url("/ddg/html/"),
    });
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found")["backend"],
        "duckduckgo"
    );

    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: Some(url("/gone/")),
        duckduckgo: url("/also-gone/"),
    });
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "tea"})).await,
        Err("search_unavailable: searxng: bad_status; duckduckgo: bad_status".to_owned())
    );
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "  "})).await,
        Err("malformed_arguments: the query is empty".to_owned())
    );
}

/// A fake Brave answer: one hit, with Brave's `<strong>` markup.
fn brave_body() -> String {
    json!({"type": "search", "web": {"type": "search", "results": [
        {"title": "Brave <strong>hit</strong>", "url": "https://brave.example/", "description": "from <strong>brave</strong>"}
    ]}})
    .to_string()
}

#[tokio::test]
async fn web_search_uses_brave_with_the_servers_key_and_falls_back_without_it() {
    let world = World::new().await;
    let mut routes = web_routes();
    routes.push(("/brave/res/v1/web/search", "application/json", brave_body()));
    let web = WebServer::start(routes).await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let mut registry = Registry::new();
    registry
        .register(
            WebSearch::new(operator_client(), tool_client(), search_config(&web))
                .with_keys(world.store.clone()),
        )
        .expect("registers");
    let gate = Gate::new(registry);

    // No key: SearXNG, and Brave is never asked.
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(found["backend"], "searxng");
    assert!(web.requests().iter().all(|r| !r.starts_with("/brave/")), "{:?}", web.requests());

    // Another provider's key is not a Brave key.
    let admin = Actor::Discord(snowflake(INVOKER));
    let scope = Scope::server(world.server);
    let other = SecretString::from("sk-openai-key");
    credentials::add(&world.store, scope, admin, KeyOwner::Server, "openai", "main", &other)
        .await
        .expect("add a key");
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(found["backend"], "searxng");

    // With the server's Brave key: Brave, the key in its header and nowhere in the URL.
    let key = SecretString::from("brave-test-key-123");
    credentials::add(&world.store, scope, admin, KeyOwner::Server, BRAVE_PROVIDER, "main", &key)
        .await
        .expect("add the Brave key");
    let before = web.requests().len();
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea & cake", "max_results": 3}))
        .await
        .expect("found");
    assert_eq!(
        found,
        json!({"backend": "brave", "results": [{"title": "Brave hit", "url": "https://brave.example/", "snippet": "from brave"}]})
    );
    assert_eq!(web.requests()[before..], ["/brave/res/v1/web/search?q=tea+%26+cake&count=3"]);
    let head = web.heads.lock().expect("heads").last().cloned().expect("a head").to_lowercase();
    assert!(head.contains("x-subscription-token: brave-test-key-123"), "{head}");
    assert!(head.contains("accept: application/json"), "{head}");

    // Brave failing hands over to SearXNG, and the failure is not the model's to see in full.
    let mut config = search_config(&web);
    config.brave = Url::parse(&web.url("/brave-gone/")).expect("url");
    let mut registry = Registry::new();
    registry
        .register(
            WebSearch::new(operator_client(), tool_client(), config).with_keys(world.store.clone()),
        )
        .expect("registers");
    let gate = Gate::new(registry);
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(found["backend"], "searxng");
}

#[tokio::test]
async fn a_search_backends_redirect_is_judged_by_the_tool_policy() {
    let world = World::new().await;
    // A service the operator's policy reaches (loopback) and the tool policy does not.
    let internal: IpAddr = "127.0.0.9".parse().expect("an address");
    let inside =
        WebServer::start_at(internal, vec![("/", "text/plain", "secret".to_owned())]).await;
    let mut routes = web_routes();
    routes.insert(0, ("/searx/search", REDIRECT, inside.url("/admin")));
    routes.insert(0, ("/hop/search", REDIRECT, "/searx-ok/search".to_owned()));
    let hit = json!({"results": [{"title": "Searx hit", "url": "https://hit.example/"}]});
    routes.push(("/searx-ok/search", "application/json", hit.to_string()));
    let web = WebServer::start(routes).await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let url = |path: &str| Url::parse(&web.url(path)).expect("url");

    // The configured SearXNG redirects inside: refused, and DuckDuckGo answers instead.
    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: Some(url("/searx/")),
        duckduckgo: url("/ddg/html/"),
    });
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(found["backend"], "duckduckgo");
    assert!(inside.requests().is_empty(), "the redirect was followed: {:?}", inside.requests());

    // A redirect the tool policy allows is followed.
    let gate = search_gate(SearchConfig {
        brave: url("/brave/"),
        searxng: Some(url("/hop/")),
        duckduckgo: url("/ddg-gone/"),
    });
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(found["backend"], "searxng");
    assert_eq!(
        web.requests()[web.requests().len() - 2..],
        ["/hop/search?q=tea&format=json", "/searx-ok/search"]
    );
}
