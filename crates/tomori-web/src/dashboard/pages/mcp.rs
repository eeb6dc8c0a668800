//! A server's remote MCP servers: the list, adding one (its URL judged, then connected to and
//! listed before it is stored, its token typed into a password field and never shown back),
//! turning one off and on, and removing one. Everything here needs Manage Server.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;
use tomori_admin::AdminError;
use tomori_admin::mcp::{self, Action};

use super::servers::{checked, read_refusal, tabs};
use super::{Frame, markdown, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, outcome, server_caller};

fn not_connected() -> AdminError {
    AdminError::BadInput("MCP servers can be managed once the bot is connected.".to_owned())
}

/// `GET /servers/{guild}/mcp`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let listed = match dashboard.mcp() {
        Some(guild_mcp) => mcp::run(dashboard.store(), &caller, guild_mcp, &Action::List).await,
        None => Err(not_connected()),
    };
    let listed = match listed {
        Ok(answer) => answer.text,
        Err(error @ AdminError::Refused(_)) => return read_refusal(&dashboard, &error),
        Err(error) => error.to_string(),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "MCP servers", member: Some((&member, &token)) };
    let here = |path: &str| frame.href(&format!("/servers/{guild}/mcp{path}"));
    let by_name = |path: &str, label: &str, class: &str| {
        html! {
            form.stack method="post" action=(here(path)) {
                (token_field(&token))
                label { "Name" input type="text" name="name" required; }
                div { button class=(class) type="submit" { (label) } }
            }
        }
    };
    frame.page(html! {
        (tabs(&frame, guild, "MCP"))
        section.card { p.answer { (markdown(&listed)) } }
        section.card {
            h2 { "Add an MCP server" }
            p.muted { "Its tools run for every member of the server. It is connected to and its \
                       tools listed before it is saved." }
            form.stack method="post" action=(here("")) autocomplete="off" {
                (token_field(&token))
                label for="mcp-name" { "Name" }
                input id="mcp-name" type="text" name="name" required maxlength="32";
                label for="mcp-url" { "URL (streamable HTTP, https)" }
                input id="mcp-url" type="text" name="url" required;
                label for="mcp-token" { "Bearer token (optional, never shown again)" }
                input id="mcp-token" type="password" name="token" autocomplete="new-password";
                div { button type="submit" { "Add" } }
            }
        }
        section.card { h2 { "Turn off or on" } (by_name("/toggle", "Toggle", "quiet")) }
        section.card { h2 { "Remove" } (by_name("/remove", "Remove", "danger")) }
    })
}

/// The add form.
#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    csrf: String,
    name: String,
    url: String,
    #[serde(default)]
    token: Option<SecretString>,
}

/// `POST /servers/{guild}/mcp`.
pub(crate) async fn add(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<AddForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let token = form.token.filter(|t| !secrecy::ExposeSecret::expose_secret(t).trim().is_empty());
    let result = match dashboard.mcp() {
        Some(guild_mcp) => {
            let policies = dashboard.policies();
            let services = (guild_mcp, policies.server);
            let target = (form.name.trim(), form.url.trim());
            mcp::add(dashboard.store(), &caller, services, target, token.as_ref()).await
        }
        None => Err(not_connected()),
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}/mcp"), result)
}

/// A form naming one server.
#[derive(Deserialize)]
pub(crate) struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

async fn by_name(
    dashboard: &Dashboard,
    member: &crate::dashboard::session::Member,
    guild: u64,
    form: NameForm,
    toggle: bool,
) -> Response {
    let caller = match checked(dashboard, member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let name = form.name.trim().to_owned();
    let action = if toggle { Action::Toggle { name } } else { Action::Remove { name } };
    let result = match dashboard.mcp() {
        Some(guild_mcp) => mcp::run(dashboard.store(), &caller, guild_mcp, &action).await,
        None => Err(not_connected()),
    };
    outcome(dashboard, member, &format!("/servers/{guild}/mcp"), result)
}

/// `POST /servers/{guild}/mcp/toggle`.
pub(crate) async fn toggle(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<NameForm>,
) -> Response {
    by_name(&dashboard, &member, guild, form, true).await
}

/// `POST /servers/{guild}/mcp/remove`.
pub(crate) async fn remove(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<NameForm>,
) -> Response {
    by_name(&dashboard, &member, guild, form, false).await
}
