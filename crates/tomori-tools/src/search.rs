//! `web_search`: Brave's Search API with the server's own key, else SearXNG at an
//! operator-configured URL, else DuckDuckGo's HTML page as the keyless fallback; a backend that
//! fails hands over to the next.
//!
//! Every endpoint is fixed by the operator (Brave's API and DuckDuckGo by default, SearXNG in the
//! config file), so the first request goes through the operator's client (see
//! [`WebSearch::new`]); where a backend redirects is not the operator's choice, so every hop is
//! judged by the tool policy, like a URL the model gave. Only the query comes from the model, and
//! it travels as a query parameter that the URL encoder escapes. The Brave
//! key is a server's provider credential (provider [`BRAVE_PROVIDER`]), opened from the store for
//! the call and sent as a secret header. Results are titles, URLs and snippets from a third
//! party: the tool loop fences them as untrusted content like any other tool output.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tomori_core::settings::Feature;
use tomori_net::{Client, Download, Limits, Redirects, RequestBuilder, StatusCode, Url, header};
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{Scope, Store};

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::Perms;
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// DuckDuckGo's script-free result page.
pub const DUCKDUCKGO_HTML: &str = "https://html.duckduckgo.com/html/";

/// Brave's web search endpoint.
pub const BRAVE_WEB_SEARCH: &str = "https://api.search.brave.com/res/v1/web/search";

/// The provider name under which a server stores its Brave Search key.
pub const BRAVE_PROVIDER: &str = "brave";

/// Results returned at most.
pub const MAX_RESULTS: usize = 10;

const SEARCH_TIMEOUT: Duration = Duration::from_secs(15);
const SEARCH_MAX_BYTES: u64 = 2 * 1024 * 1024;
const SNIPPET_CHARS: usize = 500;

/// Where to search, from the operator's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchConfig {
    /// Brave's web search endpoint; used when the server has a Brave key.
    pub brave: Url,
    /// A SearXNG instance (its base URL); tried when set and Brave is not used or fails.
    pub searxng: Option<Url>,
    /// DuckDuckGo's HTML endpoint; the fallback.
    pub duckduckgo: Url,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            brave: Url::parse(BRAVE_WEB_SEARCH).expect("a valid constant URL"),
            searxng: None,
            duckduckgo: Url::parse(DUCKDUCKGO_HTML).expect("a valid constant URL"),
        }
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    /// The page's title.
    pub title: String,
    /// The page's URL.
    pub url: String,
    /// The engine's excerpt.
    pub snippet: String,
}

/// The `web_search` tool.
#[derive(Clone, Debug)]
pub struct WebSearch {
    client: Client,
    redirects: Client,
    config: SearchConfig,
    keys: Option<Store>,
}

impl WebSearch {
    /// The tool over `client`, which should have the operator policy (every endpoint comes from
    /// the config file or is fixed), following redirects with `redirects`, which should have the
    /// tool policy. Without [`WebSearch::with_keys`] it never uses Brave.
    pub fn new(client: Client, redirects: Client, config: SearchConfig) -> Self {
        Self { client, redirects, config, keys: None }
    }

    /// Reads each server's Brave key from `store`.
    #[must_use]
    pub fn with_keys(mut self, store: Store) -> Self {
        self.keys = Some(store);
        self
    }

    async fn get(&self, url: Url) -> Result<Download, String> {
        self.download(self.client.get(url.as_str())).await
    }

    /// Sends a request to an operator-configured endpoint and reads the answer. A redirect is
    /// followed through the tool-policy client, without the request's headers (so a key never
    /// leaves its endpoint), and that client judges every further hop.
    async fn download(&self, request: RequestBuilder<'_>) -> Result<Download, String> {
        let code = |e: tomori_net::FetchError| e.code().to_owned();
        let limits =
            Limits::default().with_max_bytes(SEARCH_MAX_BYTES).with_timeout(SEARCH_TIMEOUT);
        let response = request
            .limits(limits.clone())
            .redirects(Redirects::Return)
            .send()
            .await
            .map_err(code)?;
        let redirected = matches!(
            response.status(),
            StatusCode::MOVED_PERMANENTLY
                | StatusCode::FOUND
                | StatusCode::SEE_OTHER
                | StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
        );
        let location = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok());
        let Some(location) = location.filter(|_| redirected) else {
            return response.download().await.map_err(code);
        };
        let next = response.url().join(location).map_err(|_| "invalid_redirect".to_owned())?;
        // Security: SSRF through a search backend's redirect. The operator's policy vouches for
        // the endpoints the operator configured, not for where they send us (an operator policy
        // reaches private and loopback addresses), so the next hop and every one after it are
        // judged, resolved and connected by the tool-policy client.
        self.redirects.get(next.as_str()).limits(limits).download().await.map_err(code)
    }

    /// The server's first enabled Brave key, if it has one. A store error counts as none (the
    /// search falls back to the keyless backends) and is logged without the key.
    async fn brave_key(&self, ctx: &TurnContext) -> Option<SecretString> {
        let store = self.keys.as_ref()?;
        let scope = Scope::server(ctx.server);
        let keys = match credentials::list(store, scope, KeyOwner::Server).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "reading the server's search keys failed");
                return None;
            }
        };
        let key = keys.iter().find(|k| k.enabled && k.provider == BRAVE_PROVIDER)?;
        match credentials::reveal(store, scope, key.id).await {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::warn!(error = %e, "opening the server's Brave key failed");
                None
            }
        }
    }

    async fn brave(
        &self,
        key: &SecretString,
        query: &str,
        max: usize,
    ) -> Result<Vec<SearchResult>, String> {
        let mut url = self.config.brave.clone();
        url.query_pairs_mut().append_pair("q", query).append_pair("count", &max.to_string());
        // Security: credential leakage. The key travels only in a secret header (redacted in
        // debug output, never sent on after a redirect), never in the URL.
        let request = self
            .client
            .get(url.as_str())
            .header("accept", "application/json")
            .secret_header("x-subscription-token", key.expose_secret());
        let download = self.download(request).await?;
        parse_brave(&download.bytes).ok_or_else(|| "unreadable_answer".to_owned())
    }

    async fn searxng(&self, base: &Url, query: &str) -> Result<Vec<SearchResult>, String> {
        let mut url = base.join("search").map_err(|_| "invalid_searxng_url".to_owned())?;
        url.query_pairs_mut().append_pair("q", query).append_pair("format", "json");
        let download = self.get(url).await?;
        parse_searxng(&download.bytes).ok_or_else(|| "unreadable_answer".to_owned())
    }

    async fn duckduckgo(&self, query: &str) -> Result<Vec<SearchResult>, String> {
        let mut url = self.config.duckduckgo.clone();
        url.query_pairs_mut().append_pair("q", query);
        let download = self.get(url).await?;
        Ok(parse_duckduckgo(&download.text()))
    }

    async fn search(&self, ctx: &TurnContext, query: &str, max: usize) -> ToolOutcome {
        let mut problems = Vec::new();
        if let Some(key) = self.brave_key(ctx).await {
            match self.brave(&key, query, max).await {
                Ok(results) if !results.is_empty() => return found("brave", results, max),
                Ok(_) => problems.push("brave: no results".to_owned()),
                Err(code) => problems.push(format!("brave: {code}")),
            }
        }
        if let Some(base) = &self.config.searxng {
            match self.searxng(base, query).await {
                Ok(results) if !results.is_empty() => return found("searxng", results, max),
                Ok(_) => problems.push("searxng: no results".to_owned()),
                Err(code) => problems.push(format!("searxng: {code}")),
            }
        }
        match self.duckduckgo(query).await {
            Ok(results) => found("duckduckgo", results, max),
            Err(code) => {
                problems.push(format!("duckduckgo: {code}"));
                ToolOutcome::Failure(format!("search_unavailable: {}", problems.join("; ")))
            }
        }
    }
}

fn found(backend: &str, mut results: Vec<SearchResult>, max: usize) -> ToolOutcome {
    results.truncate(max);
    ToolOutcome::Success(json!({ "backend": backend, "results": results }))
}

fn clip(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(SNIPPET_CHARS).collect()
}

fn is_web_url(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// The text of a snippet that may carry inline HTML (Brave marks matches with `<strong>`):
/// tags dropped, the common entities decoded.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Results from Brave's web search API; `None` when the body is not its answer.
pub fn parse_brave(body: &[u8]) -> Option<Vec<SearchResult>> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        web: Option<Web>,
    }
    #[derive(Deserialize)]
    struct Web {
        #[serde(default)]
        results: Vec<Hit>,
    }
    #[derive(Deserialize)]
    struct Hit {
        #[serde(default)]
        title: String,
        #[serde(default)]
        url: String,
        #[serde(default)]
        description: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    Some(
        answer
            .web
            .map(|web| web.results)
            .unwrap_or_default()
            .into_iter()
            .filter(|hit| is_web_url(&hit.url))
            .map(|hit| SearchResult {
                title: clip(&strip_tags(&hit.title)),
                url: hit.url,
                snippet: clip(&strip_tags(hit.description.as_deref().unwrap_or_default())),
            })
            .collect(),
    )
}

/// Results from SearXNG's JSON API; `None` when the body is not its answer.
pub fn parse_searxng(body: &[u8]) -> Option<Vec<SearchResult>> {
    #[derive(Deserialize)]
    struct Answer {
        results: Vec<Hit>,
    }
    #[derive(Deserialize)]
    struct Hit {
        #[serde(default)]
        title: String,
        #[serde(default)]
        url: String,
        #[serde(default)]
        content: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body).ok()?;
    Some(
        answer
            .results
            .into_iter()
            .filter(|hit| is_web_url(&hit.url))
            .map(|hit| SearchResult {
                title: clip(&hit.title),
                url: hit.url,
                snippet: clip(hit.content.as_deref().unwrap_or_default()),
            })
            .collect(),
    )
}

/// Results from DuckDuckGo's HTML page: `a.result__a` links (whose `uddg` parameter carries the
/// target) and `.result__snippet` texts. Ads (`y.js` links) and non-web links are skipped.
pub fn parse_duckduckgo(html: &str) -> Vec<SearchResult> {
    let tokenizer = Tokenizer::new(DdgSink(RefCell::default()), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let state = tokenizer.sink.0.into_inner();
    state
        .results
        .into_iter()
        .filter_map(|(href, title, snippet)| {
            let url = ddg_target(&href)?;
            Some(SearchResult { title: clip(&title), url, snippet: clip(&snippet) })
        })
        .collect()
}

fn ddg_target(href: &str) -> Option<String> {
    let base = Url::parse("https://duckduckgo.com/").ok()?;
    let link = base.join(href.trim()).ok()?;
    if link.host_str().is_some_and(|h| h.ends_with("duckduckgo.com")) {
        let target = link.query_pairs().find(|(k, _)| k == "uddg").map(|(_, v)| v.into_owned())?;
        return is_web_url(&target).then_some(target);
    }
    is_web_url(link.as_str()).then(|| link.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Snippet,
}

#[derive(Default)]
struct DdgState {
    // (href, title, snippet) per result.
    results: Vec<(String, String, String)>,
    // The field being captured, the tag that closes it, and nesting of that tag.
    capturing: Option<(Field, String, usize)>,
}

impl DdgState {
    fn tag(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        let name: &str = &tag.name;
        if let Some((_, closing, depth)) = &mut self.capturing
            && closing == name
        {
            match tag.kind {
                TagKind::StartTag => *depth += 1,
                TagKind::EndTag if *depth > 0 => *depth -= 1,
                TagKind::EndTag => self.capturing = None,
            }
            return TokenSinkResult::Continue;
        }
        if tag.kind != TagKind::StartTag {
            return TokenSinkResult::Continue;
        }
        match name {
            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
            "style" | "noscript" => return TokenSinkResult::RawData(RawKind::Rawtext),
            _ => {}
        }
        let attr = |key: &str| tag.attrs.iter().find(|a| &*a.name.local == key).map(|a| &*a.value);
        let classes: Vec<&str> = attr("class").unwrap_or_default().split_whitespace().collect();
        if self.capturing.is_none() && classes.contains(&"result__a") {
            let href = attr("href").unwrap_or_default().to_owned();
            self.results.push((href, String::new(), String::new()));
            self.capturing = Some((Field::Title, name.to_owned(), 0));
        } else if self.capturing.is_none()
            && classes.contains(&"result__snippet")
            && !self.results.is_empty()
        {
            self.capturing = Some((Field::Snippet, name.to_owned(), 0));
        }
        TokenSinkResult::Continue
    }

    fn text(&mut self, text: &str) {
        let (Some((field, _, _)), Some(last)) = (&self.capturing, self.results.last_mut()) else {
            return;
        };
        match field {
            Field::Title => last.1.push_str(text),
            Field::Snippet => last.2.push_str(text),
        }
    }
}

struct DdgSink(RefCell<DdgState>);

impl TokenSink for DdgSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        let mut state = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) => return state.tag(&tag),
            Token::CharacterTokens(text) => state.text(&text),
            Token::NullCharacterToken
            | Token::CommentToken(_)
            | Token::DoctypeToken(_)
            | Token::ParseError(_)
            | Token::EOFToken => {}
        }
        TokenSinkResult::Continue
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    max_results: Option<usize>,
}

impl Tool for WebSearch {
    fn name(&self) -> &'static str {
        "web_search"
    }

    fn description(&self) -> &'static str {
        "Search the web. Returns titles, URLs and snippets; read a page with fetch_url."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for."},
                "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS, "description": "How many results (default 5)."},
            },
            "required": ["query"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: Some(Feature::WebSearch),
            effect: Effect::ReadOnly,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::None,
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            let args: SearchArgs = match call.parse() {
                Ok(args) => args,
                Err(failure) => return failure,
            };
            let query = args.query.trim();
            if query.is_empty() {
                return ToolOutcome::Failure("malformed_arguments: the query is empty".to_owned());
            }
            let max = args.max_results.unwrap_or(5).clamp(1, MAX_RESULTS);
            self.search(ctx, query, max).await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckduckgo_results_are_read_from_its_html() {
        let html = r#"<html><head><style>.result__a{}</style><script>var a = '<a class="result__a" href="https://evil">x</a>';</script></head><body>
<div class="result results_links web-result"><div class="links_main result__body">
<h2 class="result__title"><a rel="nofollow" class="result__a" href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1&amp;rut=abc">Example <b>Domain</b></a></h2>
<a class="result__snippet" href="//duckduckgo.com/l/?uddg=x">An <b>example</b>
  page.</a></div></div>
<div class="result result--ad"><h2><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">Ad</a></h2></div>
<div class="result"><h2><a class="result__a" href="https://direct.example/page">Direct</a></h2><div class="result__snippet">Nested <div>inner</div> tail</div></div>
<div class="result"><h2><a class="result__a" href="javascript:alert(1)">Bad</a></h2></div>
</body></html>"#;
        assert_eq!(
            parse_duckduckgo(html),
            vec![
                SearchResult {
                    title: "Example Domain".into(),
                    url: "https://example.com/a?b=1".into(),
                    snippet: "An example page.".into(),
                },
                SearchResult {
                    title: "Direct".into(),
                    url: "https://direct.example/page".into(),
                    snippet: "Nested inner tail".into(),
                },
            ]
        );
        assert_eq!(parse_duckduckgo("<p>no results</p>"), vec![]);
    }

    #[test]
    fn brave_results_are_read_from_its_json() {
        let body = br#"{"type":"search","query":{"original":"q"},"web":{"type":"search","results":[
            {"title":"Rust <strong>Lang</strong>","url":"https://www.rust-lang.org/","description":"A <strong>language</strong> &amp; more","age":"1 day"},
            {"title":"Bad","url":"javascript:alert(1)","description":"x"},
            {"title":"No description","url":"https://b.example/"}
        ]}}"#;
        assert_eq!(
            parse_brave(body),
            Some(vec![
                SearchResult {
                    title: "Rust Lang".into(),
                    url: "https://www.rust-lang.org/".into(),
                    snippet: "A language & more".into()
                },
                SearchResult {
                    title: "No description".into(),
                    url: "https://b.example/".into(),
                    snippet: String::new()
                },
            ])
        );
        assert_eq!(parse_brave(br#"{"type":"search"}"#), Some(vec![]));
        assert_eq!(parse_brave(b"<html>"), None);
    }

    #[test]
    fn searxng_results_are_read_from_its_json() {
        let body = br#"{"query":"q","results":[
            {"title":"One","url":"https://one.example/","content":"first  hit","engine":"x"},
            {"title":"No URL"},
            {"title":"Bad","url":"file:///etc/passwd","content":"x"},
            {"title":"Two","url":"http://two.example/"}
        ]}"#;
        assert_eq!(
            parse_searxng(body),
            Some(vec![
                SearchResult {
                    title: "One".into(),
                    url: "https://one.example/".into(),
                    snippet: "first hit".into()
                },
                SearchResult {
                    title: "Two".into(),
                    url: "http://two.example/".into(),
                    snippet: String::new()
                },
            ])
        );
        assert_eq!(parse_searxng(b"<html>"), None);
    }
}
