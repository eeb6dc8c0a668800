//! The servers a member shares with the bot, and a server's overview: persona, model, feature
//! flags (switched here), quotas and channel sets.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tomori_admin::server::{
    self as server_actions, Action as ServerAction, QuotaKind, SETS, Switch, switch,
};
use tomori_admin::view::{self, Feature};
use tomori_admin::{AdminError, Caller};
use tomori_core::id::Snowflake;

use super::{Frame, refusal, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{Refusal, SignedIn, check_token, outcome, server_caller};
use crate::dashboard::session::Member;

/// `GET /servers`.
pub(crate) async fn list(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
) -> Response {
    let guilds = match dashboard.shared_guilds(&member).await {
        Ok(guilds) => guilds,
        Err(error) => {
            tracing::warn!(%error, "the dashboard could not list a member's servers");
            return refusal(
                &dashboard,
                StatusCode::BAD_GATEWAY,
                "Discord did not list your servers just now; try again in a moment.",
            );
        }
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Your servers", member: Some((&member, &token)) };
    frame.page(html! {
        @if guilds.is_empty() {
            section.card { p { "You share no server with the bot yet. Invite it to a server you \
                                manage, then come back." } }
        }
        div.grid {
            @for guild in &guilds {
                section.card {
                    h2 { a href=(frame.href(&format!("/servers/{}", guild.id))) { (guild.name) } }
                    p.muted {
                        @if guild.grants().manage_server { "You manage this server." }
                        @else { "You are a member: you can read its settings." }
                    }
                }
            }
        }
    })
}

/// The tabs of a server's pages.
pub(crate) fn tabs(frame: &Frame<'_>, guild: u64, here: &str) -> Markup {
    let tab = |path: &str, label: &str| {
        let href = frame.href(&format!("/servers/{guild}{path}"));
        html! { a class=(if label == here { "here" } else { "" }) href=(href) { (label) } }
    };
    html! {
        nav.tabs {
            (tab("", "Overview"))
            (tab("/personas", "Personas"))
            (tab("/memories", "Memories"))
            (tab("/documents", "Documents"))
            (tab("/models", "Models"))
            (tab("/mcp", "MCP"))
            (tab("/playground", "Playground"))
            (tab("/audit", "Audit log"))
        }
    }
}

/// Shows an admin-layer refusal on a page the member asked to read.
pub(crate) fn read_refusal(dashboard: &Dashboard, error: &AdminError) -> Response {
    match error {
        AdminError::Refused(permission) => refusal(
            dashboard,
            StatusCode::FORBIDDEN,
            &format!("This page needs the {permission} permission."),
        ),
        other => {
            tracing::warn!(error = %other, "a dashboard page could not be read");
            refusal(dashboard, StatusCode::INTERNAL_SERVER_ERROR, &other.to_string())
        }
    }
}

/// `GET /servers/{guild}`.
pub(crate) async fn overview(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let server = match view::server(dashboard.store(), &caller).await {
        Ok(server) => server,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Server overview", member: Some((&member, &token)) };
    let manager = caller.grants.manage_server;
    frame.page(html! {
        (tabs(&frame, guild, "Overview"))
        section.card {
            h2 { "Persona and model" }
            @match server.personas.iter().find(|p| p.is_main) {
                Some(main) => p { "Main persona: " strong { (main.nickname) } " ("
                    (server.personas.len()) " in all)" },
                None => p { "No persona yet: the built-in persona answers." },
            }
            pre { (server.model) }
        }
        section.card {
            h2 { "Features" }
            @if !manager { p.muted { "Changing features needs the Manage Server permission." } }
            div.grid {
                @for feature in Feature::ALL {
                    (flag(&frame, guild, &token, feature, server.settings.feature(feature), manager))
                }
            }
        }
        section.card {
            h2 { "Quotas" }
            table {
                tr { th { "Kind" } th { "On" } th { "Per member a day" } th { "Server pool" } th { "Period (days)" } }
                @for (kind, limits) in &server.quotas {
                    tr {
                        td { (kind.name()) }
                        td { (if limits.enabled { "yes" } else { "no" }) }
                        td { (limits.per_user_daily) }
                        td { (limits.server_pool) }
                        td { (limits.reset_period_days) }
                    }
                }
            }
        }
        @if manager { (limits_forms(&frame, guild, &token)) }
        section.card {
            h2 { "Channel sets" }
            ul.plain {
                @for (label, channels) in &server.channel_sets {
                    li {
                        span { (label) }
                        span.muted {
                            @if channels.is_empty() { "none" }
                            @else { (channels.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
    })
}

/// The quota and channel-set forms (for managers).
fn limits_forms(frame: &Frame<'_>, guild: u64, token: &str) -> Markup {
    let to = |path: &str| frame.href(&format!("/servers/{guild}{path}"));
    html! {
        section.card {
            h2 { "Change a quota" }
            form.stack method="post" action=(to("/quota")) {
                (token_field(token))
                label for="quota-kind" { "Kind" }
                select id="quota-kind" name="kind" {
                    @for kind in [QuotaKind::Text, QuotaKind::Image, QuotaKind::Video] {
                        option value=(kind.name()) { (kind.name()) }
                    }
                }
                label for="per-user" { "Per member a day (0 to 100, 0 = none; empty keeps it)" }
                input id="per-user" type="text" name="per_user_daily" inputmode="numeric";
                label for="pool" { "Server pool (0 to 99,999, 0 = none; empty keeps it)" }
                input id="pool" type="text" name="server_pool" inputmode="numeric";
                label for="period" { "Pool period in days (1 to 365; empty keeps it)" }
                input id="period" type="text" name="reset_days" inputmode="numeric";
                label for="quota-on" { "Applies" }
                select id="quota-on" name="enabled" {
                    option value="" { "as it is" }
                    option value="true" { "yes" }
                    option value="false" { "no" }
                }
                div { button id="save-quota" type="submit" { "Save quota" } }
            }
        }
        section.card {
            h2 { "Add or remove a channel" }
            form.stack method="post" action=(to("/channel")) {
                (token_field(token))
                label for="set" { "Set" }
                select id="set" name="set" {
                    @for (set, label) in SETS { option value=(set.name()) { (label) } }
                }
                label for="channel" { "Channel id (Discord: right-click the channel, Copy Channel ID)" }
                input id="channel" type="text" name="channel" inputmode="numeric" required;
                label for="channel-change" { "Change" }
                select id="channel-change" name="add" {
                    option value="true" { "add" }
                    option value="false" { "remove" }
                }
                div { button id="save-channel" type="submit" { "Save" } }
            }
        }
    }
}

fn flag(
    frame: &Frame<'_>,
    guild: u64,
    token: &str,
    feature: Feature,
    on: bool,
    manager: bool,
) -> Markup {
    html! {
        form.flag method="post" action=(frame.href(&format!("/servers/{guild}/feature"))) {
            (token_field(token))
            input type="hidden" name="feature" value=(feature.name());
            input type="hidden" name="on" value=(if on { "false" } else { "true" });
            span { (feature.name()) " " span class=(if on { "on" } else { "off" }) { (if on { "on" } else { "off" }) } }
            @if manager {
                button.quiet type="submit" id=(format!("flag-{}", feature.name())) {
                    (if on { "Turn off" } else { "Turn on" })
                }
            }
        }
    }
}

/// A feature flag form.
#[derive(Deserialize)]
pub(crate) struct FeatureForm {
    #[serde(default)]
    csrf: String,
    feature: String,
    on: bool,
}

/// `POST /servers/{guild}/feature`.
pub(crate) async fn feature(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<FeatureForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = match Feature::from_name(&form.feature) {
        Some(feature) => {
            switch(dashboard.store(), &caller, &Switch::Feature { feature, on: form.on }).await
        }
        None => Err(AdminError::BadInput(format!(
            "There is no feature called {}; nothing was changed.",
            form.feature
        ))),
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}"), result)
}

/// The form token spent, then the caller read from Discord now: what every server form does
/// before its action.
pub(crate) async fn checked(
    dashboard: &Dashboard,
    member: &Member,
    guild: u64,
    token: &str,
) -> Result<Caller, Refusal> {
    check_token(dashboard, member, token)?;
    server_caller(dashboard, member, guild).await
}

/// A number typed into a form: empty keeps the setting as it is.
fn optional_number(label: &str, text: &str) -> Result<Option<i64>, AdminError> {
    let text = text.trim().replace(',', "");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        AdminError::BadInput(format!("The {label} must be a whole number; nothing was changed."))
    })
}

/// The quota form.
#[derive(Deserialize)]
pub(crate) struct QuotaForm {
    #[serde(default)]
    csrf: String,
    kind: String,
    #[serde(default)]
    per_user_daily: String,
    #[serde(default)]
    server_pool: String,
    #[serde(default)]
    reset_days: String,
    #[serde(default)]
    enabled: String,
}

impl QuotaForm {
    fn action(&self) -> Result<ServerAction, AdminError> {
        let kind = [QuotaKind::Text, QuotaKind::Image, QuotaKind::Video]
            .into_iter()
            .find(|k| k.name() == self.kind)
            .ok_or_else(|| {
                AdminError::BadInput("There is no such quota; nothing was changed.".into())
            })?;
        Ok(ServerAction::Quota {
            kind,
            per_user_daily: optional_number("daily limit", &self.per_user_daily)?,
            server_pool: optional_number("server pool", &self.server_pool)?,
            reset_days: optional_number("period", &self.reset_days)?,
            enabled: match self.enabled.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
        })
    }
}

/// `POST /servers/{guild}/quota`.
pub(crate) async fn quota(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<QuotaForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = match form.action() {
        Ok(action) => server_actions::run(dashboard.store(), &caller, &action).await,
        Err(error) => Err(error),
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}"), result)
}

/// The channel-set form.
#[derive(Deserialize)]
pub(crate) struct ChannelForm {
    #[serde(default)]
    csrf: String,
    set: String,
    channel: String,
    add: bool,
}

/// `POST /servers/{guild}/channel`.
pub(crate) async fn channel(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<ChannelForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let set = SETS.iter().map(|(set, _)| *set).find(|set| set.name() == form.set);
    let channel = form.channel.trim().parse::<Snowflake>().ok();
    let result = match (set, channel) {
        (Some(set), Some(channel)) => {
            let action = ServerAction::Channel { set, add: form.add, channel: Some(channel) };
            server_actions::run(dashboard.store(), &caller, &action).await
        }
        _ => Err(AdminError::BadInput(
            "Choose a set and give a channel id (digits); nothing was changed.".to_owned(),
        )),
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}"), result)
}
