//! `fetch_url`: reads a web page for the model, as Markdown, a page of characters at a time.
//!
//! The URL comes from the model, so it goes through a tomori-net [`Client`] of
//! [`tomori_net::Scope::Tool`]: the policy judges it, its DNS answers, every redirect and the
//! connected peer, and the body streams under a byte cap and a time limit. HTML is converted by
//! [`html_to_markdown`] (hidden elements dropped), then cut with [`paginate`]; the model asks for
//! the next page with `offset`.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_core::settings::Feature;
use tomori_net::{Client, FetchError, Limits, html_to_markdown, paginate};

use crate::context::TurnContext;
use crate::gate::{Authorized, Tool, ToolOutcome};
use crate::perm::Perms;
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// Characters per page shown to the model.
pub const FETCH_PAGE_CHARS: usize = 50_000;

/// Bytes read off the wire (and after decoding) for one page.
pub const FETCH_MAX_BYTES: u64 = 5 * 1024 * 1024;

/// Wall clock for one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

const CONTENT_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "text/plain",
    "text/markdown",
    "application/json",
    "text/csv",
    "application/xml",
    "text/xml",
];

/// The `fetch_url` tool.
#[derive(Clone, Debug)]
pub struct FetchUrl {
    client: Client,
    page_chars: usize,
}

impl FetchUrl {
    /// The tool over `client`, which must have the tool-scope policy under the operator's
    /// `[net]` settings.
    pub fn new(client: Client) -> Self {
        Self { client, page_chars: FETCH_PAGE_CHARS }
    }

    /// Sets the page size (tests).
    #[must_use]
    pub fn with_page_chars(mut self, page_chars: usize) -> Self {
        self.page_chars = page_chars.max(1);
        self
    }

    async fn fetch(&self, args: FetchArgs) -> ToolOutcome {
        let limits = Limits::default()
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_timeout(FETCH_TIMEOUT)
            .with_content_types(CONTENT_TYPES);
        // Security: SSRF through model-supplied URLs. The tool-scope policy refuses loopback,
        // private ranges (unless the operator opted in) and cloud metadata, before connecting,
        // at every redirect and at the connected peer.
        let download = match self.client.safe_download(&args.url, &limits).await {
            Ok(download) => download,
            Err(e) => return ToolOutcome::Failure(fetch_failure(&e)),
        };
        let text = download.text();
        let is_html = download.content_type.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.starts_with("text/html") || t.starts_with("application/xhtml")
        });
        let text = if is_html { html_to_markdown(&text, Some(&download.final_url)) } else { text };
        let page = paginate(&text, args.offset.unwrap_or(0), self.page_chars);
        ToolOutcome::Success(json!({
            "url": download.final_url.as_str(),
            "content": page.text,
            "offset": page.offset,
            "next_offset": page.next_offset,
            "total_chars": page.total_chars,
        }))
    }
}

fn fetch_failure(error: &FetchError) -> String {
    match error {
        // A refusal names the rule and the host, which the model supplied itself.
        FetchError::BlockedByPolicy(refusal) => format!("blocked_by_policy: {refusal}"),
        FetchError::BadStatus { status } => format!("bad_status: the server answered {status}"),
        FetchError::ContentType { found } => format!(
            "content_type: {} is not a page this tool reads",
            found.as_deref().unwrap_or("no content type")
        ),
        other => format!("{}: {other}", other.code()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchArgs {
    url: String,
    offset: Option<usize>,
}

impl Tool for FetchUrl {
    fn name(&self) -> &'static str {
        "fetch_url"
    }

    fn description(&self) -> &'static str {
        "Read a web page as Markdown. Long pages come in parts: call again with next_offset to read on."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "An http or https URL."},
                "offset": {"type": "integer", "minimum": 0, "description": "Character offset to start at (next_offset of the previous part)."},
            },
            "required": ["url"],
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
        _ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move {
            match call.parse::<FetchArgs>() {
                Ok(args) => self.fetch(args).await,
                Err(failure) => failure,
            }
        }
        .boxed()
    }
}
