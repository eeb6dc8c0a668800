//! A server's personas: the list, creating and removing one, and SillyTavern cards in and out.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use tomori_admin::persona::{self, Action, card};
use tomori_admin::{AdminError, view};

use super::servers::{checked, read_refusal, tabs};
use super::{Frame, encode, refusal, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, outcome, read_upload, server_caller};

/// The largest upload the import form takes: a card at its limit plus the form's other fields.
pub(crate) const MAX_UPLOAD_BYTES: usize = tomori_core::card::MAX_PNG_BYTES + 64 * 1024;

/// `GET /servers/{guild}/personas`.
pub(crate) async fn list(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let personas = match view::personas(dashboard.store(), &caller).await {
        Ok(personas) => personas,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame = Frame { dashboard: &dashboard, title: "Personas", member: Some((&member, &token)) };
    let manager = caller.grants.manage_server;
    let here = |path: &str| frame.href(&format!("/servers/{guild}/personas{path}"));
    frame.page(html! {
        (tabs(&frame, guild, "Personas"))
        section.card {
            @if personas.is_empty() { p { "No persona yet: the built-in persona answers." } }
            ul.plain {
                @for persona in &personas {
                    li {
                        span {
                            strong { (persona.nickname) }
                            @if persona.is_main { " " span.muted { "(main)" } }
                            @if !persona.trigger_words.is_empty() {
                                br; span.muted { "Triggers: " (persona.trigger_words.join(", ")) }
                            }
                        }
                        @if manager {
                            span {
                                a.button href=(format!("{}?name={}", here("/edit"), encode(&persona.nickname))) { "Edit" }
                                " "
                                a.button href=(format!("{}?name={}", here("/export"), encode(&persona.nickname))) { "Export card" }
                                " "
                                form.inline method="post" action=(here("/remove")) {
                                    (token_field(&token))
                                    input type="hidden" name="name" value=(persona.nickname);
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manager {
            section.card {
                h2 { "Create a persona" }
                form.stack method="post" action=(here("")) {
                    (token_field(&token))
                    label for="name" { "Name" }
                    input id="name" type="text" name="name" required maxlength="80";
                    label for="prompt" { "Personality" }
                    textarea id="prompt" name="prompt" {}
                    div { button id="create" type="submit" { "Create" } }
                }
            }
            section.card {
                h2 { "Import a SillyTavern character card" }
                form.stack method="post" action=(here("/import")) enctype="multipart/form-data" {
                    (token_field(&token))
                    label for="card" { "Card (PNG or JSON, at most 8 MiB)" }
                    input id="card" type="file" name="card" accept=".png,.json,image/png,application/json" required;
                    label for="import-name" { "Name (optional)" }
                    input id="import-name" type="text" name="name" maxlength="80";
                    div { button id="import" type="submit" { "Import" } }
                }
            }
        } @else {
            p.muted { "Creating, importing and removing personas needs the Manage Server permission." }
        }
    })
}

/// The create form.
#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    prompt: String,
}

/// `POST /servers/{guild}/personas`.
pub(crate) async fn create(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<CreateForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let prompt = Some(form.prompt).filter(|p| !p.trim().is_empty());
    let action = Action::Create { name: form.name, prompt };
    let result = persona::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/personas"), result)
}

/// The remove form.
#[derive(Deserialize)]
pub(crate) struct NameForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

/// `POST /servers/{guild}/personas/remove`.
pub(crate) async fn remove(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<NameForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result =
        persona::run(dashboard.store(), &caller, &Action::Remove { name: form.name }).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/personas"), result)
}

/// `POST /servers/{guild}/personas/import`.
pub(crate) async fn import(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    multipart: Multipart,
) -> Response {
    let upload = match read_upload(&dashboard, &member, multipart, "card").await {
        Ok(upload) => upload,
        Err(refused) => return refused.into_response(),
    };
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let name = Some(upload.field("name")).filter(|n| !n.trim().is_empty());
    let result = if upload.bytes.is_empty() {
        Err(AdminError::BadInput("Choose a card file to import; nothing was changed.".to_owned()))
    } else {
        // Security: hostile cards. The bytes go to the same bounded parser as a Discord upload.
        card::import(dashboard.store(), &caller, &upload.filename, &upload.bytes, name).await
    };
    outcome(&dashboard, &member, &format!("/servers/{guild}/personas"), result)
}

/// Which persona to export.
#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    name: String,
}

/// `GET /servers/{guild}/personas/export?name=…`: the persona as a card PNG.
pub(crate) async fn export(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Query(query): Query<ExportQuery>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let answer = match card::to_export(dashboard.store(), &caller, &query.name).await {
        Ok(found) => card::export(&found, None),
        Err(error) => Err(error),
    };
    match answer {
        Ok(answer) => match answer.files.into_iter().next() {
            Some(file) => download(&file.name, "image/png", file.bytes),
            None => refusal(&dashboard, StatusCode::INTERNAL_SERVER_ERROR, "No card was made."),
        },
        Err(error) => read_refusal(&dashboard, &error),
    }
}

/// A file for the browser to save.
pub(crate) fn download(name: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    // The name is the admin layer's (letters, digits, `-`, `_`), so it needs no quoting beyond
    // dropping anything else.
    let safe: String =
        name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe}\"")),
        ],
        bytes,
    )
        .into_response()
}
