//! Models and keys: the server's model, its API keys (typed into a form, never shown back:
//! labels only) and its own OpenAI-compatible endpoints (judged by the server-scope URL policy
//! in the admin layer before they are stored).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;
use tomori_admin::provider::{self, KeyOwner};
use tomori_admin::{Answer, model};

use super::servers::{checked, read_refusal, tabs};
use super::{Frame, markdown, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, TokenForm, outcome, server_caller};

/// `GET /servers/{guild}/models`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let shown = match model::run(dashboard.store(), &caller, &model::Action::Show).await {
        Ok(answer) => answer.text,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let manager = caller.grants.manage_server;
    let policies = dashboard.policies();
    let listed = |action: provider::Action| {
        let caller = caller.clone();
        let dashboard = dashboard.clone();
        async move {
            provider::run(dashboard.store(), &caller, policies, &action)
                .await
                .map_or_else(|error| error.to_string(), |Answer { text, .. }| text)
        }
    };
    let (keys, endpoints) = if manager {
        (listed(provider::Action::KeyList).await, listed(provider::Action::EndpointList).await)
    } else {
        (String::new(), String::new())
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Models and keys", member: Some((&member, &token)) };
    let here = |path: &str| frame.href(&format!("/servers/{guild}/models{path}"));
    frame.page(html! {
        (tabs(&frame, guild, "Models"))
        section.card {
            h2 { "The server's model" }
            p.answer { (markdown(&shown)) }
            @if manager {
                form.stack method="post" action=(here("")) {
                    (token_field(&token))
                    label for="provider" { "Provider (openai, anthropic, gemini, openrouter, … or custom:<endpoint>)" }
                    input id="provider" type="text" name="provider" required;
                    label for="model" { "Model id" }
                    input id="model" type="text" name="model" required;
                    label { input type="checkbox" name="vision" value="true"; " It sees images" }
                    label { input type="checkbox" name="tools" value="true"; " It calls tools" }
                    div { button id="choose-model" type="submit" { "Use this model" } }
                }
                form method="post" action=(here("/reset")) {
                    (token_field(&token))
                    button.quiet type="submit" { "Back to the instance's default" }
                }
            }
        }
        @if manager {
            (keys_and_endpoints(&here(""), &token, &keys, &endpoints))
        } @else {
            p.muted { "Keys and endpoints need the Manage Server permission." }
        }
    })
}

/// The keys and endpoints, with their forms (for managers).
fn keys_and_endpoints(here: &str, token: &str, keys: &str, endpoints: &str) -> maud::Markup {
    let to = |path: &str| format!("{here}{path}");
    html! {
            section.card {
                h2 { "API keys" }
                p.answer { (markdown(keys)) }
                form.stack method="post" action=(to("/keys")) autocomplete="off" {
                    (token_field(token))
                    label for="key-provider" { "Provider" }
                    input id="key-provider" type="text" name="provider" required;
                    label for="key-label" { "Label" }
                    input id="key-label" type="text" name="label" required maxlength="64";
                    label for="key" { "Key (stored encrypted, never shown again)" }
                    input id="key" type="password" name="key" required autocomplete="new-password";
                    div { button id="add-key" type="submit" { "Save key" } }
                }
                form.stack method="post" action=(to("/keys/remove")) {
                    (token_field(token))
                    label for="key-id" { "Remove the key with id" }
                    input id="key-id" type="text" name="id" inputmode="numeric" required;
                    div { button.danger type="submit" { "Remove key" } }
                }
            }
            section.card {
                h2 { "Endpoints" }
                p.answer { (markdown(endpoints)) }
                form.stack method="post" action=(to("/endpoints")) {
                    (token_field(token))
                    label for="endpoint-label" { "Label" }
                    input id="endpoint-label" type="text" name="label" required maxlength="64";
                    label for="endpoint-url" { "Base URL (OpenAI-compatible, https)" }
                    input id="endpoint-url" type="text" name="url" required;
                    label for="endpoint-model" { "Model id" }
                    input id="endpoint-model" type="text" name="model" required;
                    label { input type="checkbox" name="vision" value="true"; " It sees images" }
                    label { input type="checkbox" name="tools" value="true"; " It calls tools" }
                    div { button type="submit" { "Register endpoint" } }
                }
            }
    }
}

/// The model form.
#[derive(Deserialize)]
pub(crate) struct ModelForm {
    #[serde(default)]
    csrf: String,
    provider: String,
    model: String,
    #[serde(default)]
    vision: bool,
    #[serde(default)]
    tools: bool,
}

/// `POST /servers/{guild}/models`.
pub(crate) async fn choose(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<ModelForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let action = model::Action::Text {
        provider: form.provider.trim().to_owned(),
        model: form.model.trim().to_owned(),
        vision: form.vision,
        tools: form.tools,
    };
    let result = model::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/models"), result)
}

/// `POST /servers/{guild}/models/reset`.
pub(crate) async fn reset(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<TokenForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = model::run(dashboard.store(), &caller, &model::Action::Reset).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/models"), result)
}

/// The key form. The key is a secret from the moment it is parsed.
#[derive(Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    csrf: String,
    provider: String,
    label: String,
    key: SecretString,
}

/// `POST /servers/{guild}/models/keys`.
pub(crate) async fn add_key(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<KeyForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    // Security: API keys exposed while an admin adds them. The key arrives in a POST body over
    // the dashboard's own origin, is sealed by the store and never rendered, logged or echoed.
    let result = provider::add_key(
        dashboard.store(),
        &caller,
        KeyOwner::Server,
        form.provider.trim(),
        form.label.trim(),
        &form.key,
    )
    .await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/models"), result)
}

/// The remove form.
#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    id: String,
}

/// `POST /servers/{guild}/models/keys/remove`.
pub(crate) async fn remove_key(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<RemoveForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = match form.id.trim().parse::<i64>() {
        Ok(id) => {
            let action = provider::Action::KeyRemove { id };
            provider::run(dashboard.store(), &caller, dashboard.policies(), &action).await
        }
        Err(_) => Err(tomori_admin::AdminError::BadInput(
            "A key id is a number, as the list shows it; nothing was changed.".to_owned(),
        )),
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}/models"), result)
}

/// The endpoint form.
#[derive(Deserialize)]
pub(crate) struct EndpointForm {
    #[serde(default)]
    csrf: String,
    label: String,
    url: String,
    model: String,
    #[serde(default)]
    vision: bool,
    #[serde(default)]
    tools: bool,
}

/// `POST /servers/{guild}/models/endpoints`.
pub(crate) async fn add_endpoint(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<EndpointForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let action = provider::Action::EndpointAdd {
        label: form.label.trim().to_owned(),
        url: form.url.trim().to_owned(),
        model: form.model.trim().to_owned(),
        tools: form.tools,
        vision: form.vision,
        context_length: None,
    };
    let result = provider::run(dashboard.store(), &caller, dashboard.policies(), &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/models"), result)
}
