//! fetch_url and web_search against loopback servers only: Markdown and pagination, the URL
//! policy refusing what the test policy does not allow, SearXNG first and DuckDuckGo's page as
//! the fallback.

use serde_json::{Value, json};
use tomori_llm::ToolCall;
use tomori_net::Url;
use tomori_tools::{
    FetchUrl, Gate, Registry, SearchConfig, TurnContext, WebSearch, run_tool_calls,
};

use crate::support::{Facts, FakeLive, WebServer, World, operator_client, tool_client, web_routes};

async fn run(
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
    registry.register(WebSearch::new(operator_client(), config)).expect("registers");
    Gate::new(registry)
}

#[tokio::test]
async fn web_search_uses_searxng_then_duckduckgo() {
    let world = World::new().await;
    let web = WebServer::start(web_routes()).await;
    let ctx = world.turn(FakeLive::new(Facts::permissive()));
    let url = |path: &str| Url::parse(&web.url(path)).expect("url");

    let gate =
        search_gate(SearchConfig { searxng: Some(url("/searx/")), duckduckgo: url("/ddg/html/") });
    let found =
        run(&gate, &ctx, "web_search", json!({"query": "tea & cake"})).await.expect("found");
    assert_eq!(
        found,
        json!({"backend": "searxng", "results": [{"title": "Searx hit", "url": "https://hit.example/", "snippet": "from searx"}]})
    );
    assert_eq!(web.requests(), ["/searx/search?q=tea+%26+cake&format=json"]);

    // SearXNG answers 404: DuckDuckGo's page is the fallback.
    let gate =
        search_gate(SearchConfig { searxng: Some(url("/gone/")), duckduckgo: url("/ddg/html/") });
    let found = run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found");
    assert_eq!(
        found,
        json!({"backend": "duckduckgo", "results": [{"title": "Duck hit", "url": "https://duck.example/", "snippet": "from ddg"}]})
    );

    // No SearXNG configured: DuckDuckGo directly.
    let gate = search_gate(SearchConfig { searxng: None, duckduckgo: url("/ddg/html/") });
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "tea"})).await.expect("found")["backend"],
        "duckduckgo"
    );

    let gate =
        search_gate(SearchConfig { searxng: Some(url("/gone/")), duckduckgo: url("/also-gone/") });
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "tea"})).await,
        Err("search_unavailable: searxng: bad_status; duckduckgo: bad_status".to_owned())
    );
    assert_eq!(
        run(&gate, &ctx, "web_search", json!({"query": "  "})).await,
        Err("malformed_arguments: the query is empty".to_owned())
    );
}
