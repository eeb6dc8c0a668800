//! The pages: one layout, and a module per area. Every value shown goes through maud's escaping;
//! there is no script.

pub(crate) mod audit;
pub(crate) mod documents;
pub(crate) mod mcp;
pub(crate) mod member;
pub(crate) mod memories;
pub(crate) mod models;
pub(crate) mod persona_edit;
pub(crate) mod personas;
pub(crate) mod playground;
pub(crate) mod servers;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::Dashboard;
use super::session::{Member, SESSION_COOKIE, cookie};

/// The stylesheet, served from this origin (the CSP allows no other).
const STYLE: &str = include_str!("style.css");
/// The playground's script: the only script of the dashboard.
const PLAYGROUND_JS: &str = include_str!("playground.js");

/// What a page's frame needs besides its body.
pub(crate) struct Frame<'a> {
    pub(crate) dashboard: &'a Dashboard,
    pub(crate) title: &'a str,
    /// The signed-in member and the page's form token (for the sign-out form).
    pub(crate) member: Option<(&'a Member, &'a str)>,
}

impl Frame<'_> {
    /// A link to the dashboard's `path`.
    pub(crate) fn href(&self, path: &str) -> String {
        format!("{}{path}", self.dashboard.base())
    }

    /// The whole page around `body`, with the one-time message left for it.
    pub(crate) fn page(&self, body: Markup) -> Response {
        let flash = self.member.and_then(|(m, _)| self.dashboard.sessions().take_flash(&m.id));
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · Tomori" }
                    link rel="stylesheet" href=(self.href("/static/style.css"));
                }
                body {
                    header.top {
                        a.brand href=(self.href("/")) { "Tomori" }
                        @if let Some((member, token)) = self.member {
                            nav {
                                a href=(self.href("/servers")) { "Servers" }
                                a href=(self.href("/me")) { "My data" }
                                form.inline method="post" action=(self.href("/logout")) {
                                    input type="hidden" name="csrf" value=(token);
                                    button.link type="submit" { "Sign out " (member.name) }
                                }
                            }
                        }
                    }
                    main {
                        @if let Some(flash) = flash {
                            p class=(if flash.ok { "flash ok" } else { "flash error" }) role="status" {
                                (markdown(&flash.text))
                            }
                        }
                        h1 { (self.title) }
                        (body)
                    }
                }
            }
        };
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string())
            .into_response()
    }
}

/// A page that says why a request was refused, with its status.
pub(crate) fn refusal(dashboard: &Dashboard, status: StatusCode, text: &str) -> Response {
    let frame = Frame { dashboard, title: "Not done", member: None };
    let mut response = frame.page(html! {
        p.flash.error role="alert" { (text) }
        p { a href=(frame.href("/")) { "Back to the start" } }
    });
    *response.status_mut() = status;
    response
}

/// `GET /`: the servers for a signed-in member, a sign-in button for anyone else.
pub(crate) async fn home(
    State(dashboard): State<Dashboard>,
    headers: axum::http::HeaderMap,
) -> Response {
    let cookies = headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
    if cookie(cookies, SESSION_COOKIE).and_then(|id| dashboard.sessions().member(id)).is_some() {
        return Redirect::to(&format!("{}/servers", dashboard.base())).into_response();
    }
    let frame = Frame { dashboard: &dashboard, title: "Tomori dashboard", member: None };
    frame.page(html! {
        p { "Sign in with your Discord account to see the servers you share with the bot. \
             What you may change follows the same rules as the slash commands." }
        p { a.button href=(frame.href("/login")) { "Sign in with Discord" } }
    })
}

/// `GET /static/style.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The admin layer's answers are a little Markdown (written for Discord): `**bold**` and
/// `` `code` `` become elements, everything else stays text, escaped like every value.
pub(crate) fn markdown(text: &str) -> Markup {
    let mut parts = Vec::new();
    let (mut bold, mut code) = (false, false);
    let mut rest = text;
    while !rest.is_empty() {
        let next = if code {
            rest.find('`')
        } else {
            [rest.find("**"), rest.find('`')].into_iter().flatten().min()
        };
        let Some(at) = next else {
            parts.push((bold, code, rest));
            break;
        };
        let (before, marker) = rest.split_at(at);
        if !before.is_empty() {
            parts.push((bold, code, before));
        }
        if let Some(after) = marker.strip_prefix('`') {
            code = !code;
            rest = after;
        } else {
            bold = !bold;
            rest = marker.strip_prefix("**").unwrap_or_default();
        }
    }
    html! {
        @for (bold, code, piece) in parts {
            @if code { code { (piece) } }
            @else if bold { strong { (piece) } }
            @else { (piece) }
        }
    }
}

/// `GET /static/playground.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        PLAYGROUND_JS,
    )
        .into_response()
}

/// A query value, percent-encoded.
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A form's hidden token field.
pub(crate) fn token_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

#[cfg(test)]
mod tests {
    use super::markdown;

    #[test]
    fn answers_keep_their_emphasis_and_lose_any_markup_of_their_own() {
        for (text, html) in [
            (
                "Created **Mirai** as `main`.",
                "Created <strong>Mirai</strong> as <code>main</code>.",
            ),
            ("`**not bold**`", "<code>**not bold**</code>"),
            ("**<script>x</script>**", "<strong>&lt;script&gt;x&lt;/script&gt;</strong>"),
            ("unclosed **bold", "unclosed <strong>bold</strong>"),
            ("", ""),
        ] {
            assert_eq!(markdown(text).into_string(), html, "{text}");
        }
    }
}
