//! Editing one persona: its prompt, attributes, sample dialogues and trigger words, each change
//! one `tomori_admin::persona::edit` (Manage Server, checked there).

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tomori_admin::persona::{Edit, avatar as avatars, edit};
use tomori_admin::{AdminError, view};
use tomori_core::trigger::parse_trigger_words;

use super::servers::{checked, read_refusal, tabs};
use super::{Frame, encode, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, outcome, read_upload, server_caller};

/// The largest avatar upload the form takes, with the form's other fields.
pub(crate) const MAX_AVATAR_UPLOAD: usize = avatars::MAX_UPLOAD_BYTES + 64 * 1024;

/// The path of an avatar this dashboard serves, when `url` is one (shown as a preview; the
/// CSP loads no image from elsewhere).
fn own_image(dashboard: &Dashboard, url: &str) -> Option<String> {
    let own = dashboard.url("/avatars/");
    let file = url.strip_prefix(&own)?;
    Some(format!("{}/avatars/{file}", dashboard.base()))
}

/// Which persona.
#[derive(Deserialize)]
pub(crate) struct Which {
    name: String,
}

/// A small form that posts one change.
fn change(action: &str, token: &str, name: &str, op: &str, fields: Markup, label: &str) -> Markup {
    html! {
        form.stack method="post" action=(action) {
            (token_field(token))
            input type="hidden" name="name" value=(name);
            input type="hidden" name="op" value=(op);
            (fields)
            div { button type="submit" id=(format!("edit-{op}")) { (label) } }
        }
    }
}

fn remove(action: &str, token: &str, name: &str, op: &str, number: usize) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (token_field(token))
            input type="hidden" name="name" value=(name);
            input type="hidden" name="op" value=(op);
            input type="hidden" name="number" value=(number);
            button.danger type="submit" { "Remove" }
        }
    }
}

/// `GET /servers/{guild}/personas/edit?name=…`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Query(which): Query<Which>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let persona = match view::persona(dashboard.store(), &caller, &which.name).await {
        Ok(persona) => persona,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let title = format!("Edit {}", persona.nickname);
    let frame = Frame { dashboard: &dashboard, title: &title, member: Some((&member, &token)) };
    let action = frame.href(&format!("/servers/{guild}/personas/edit"));
    let name = persona.nickname.as_str();
    frame.page(html! {
        (tabs(&frame, guild, "Personas"))
        section.card {
            h2 { "Personality" }
            (change(&action, &token, name, "prompt", html! {
                label for="prompt" { "Prompt" }
                textarea id="prompt" name="text" rows="8" { (persona.prompt) }
            }, "Save prompt"))
        }
        (avatar_section(&dashboard, &frame.href(&format!("/servers/{guild}/personas/avatar")), &token, &persona))
        section.card {
            h2 { "Attributes" }
            ul.plain {
                @for (n, attribute) in persona.attributes.iter().enumerate() {
                    li { span { (attribute) } (remove(&action, &token, name, "attribute-remove", n + 1)) }
                }
            }
            (change(&action, &token, name, "attribute-add", html! {
                label for="attribute" { "New attribute" }
                input id="attribute" type="text" name="text" required;
            }, "Add attribute"))
        }
        section.card {
            h2 { "Sample dialogue" }
            ul.plain {
                @for (n, dialogue) in persona.sample_dialogues.iter().enumerate() {
                    li {
                        span { "«" (dialogue.user) "» → «" (dialogue.bot) "»" }
                        (remove(&action, &token, name, "dialogue-remove", n + 1))
                    }
                }
            }
            (change(&action, &token, name, "dialogue-add", html! {
                label for="user-line" { "A member says" }
                input id="user-line" type="text" name="user" required;
                label for="bot-line" { "The persona answers" }
                input id="bot-line" type="text" name="bot" required;
            }, "Add dialogue"))
        }
        (triggers_section(&action, &token, name, &persona.trigger_words))
        @if !persona.is_main {
            section.card {
                (change(&action, &token, name, "swap", html! {}, "Make this the main persona"))
            }
        }
        p { a href=(frame.href(&format!("/servers/{guild}/personas/edit?name={}", encode(name)))) { "Reload" } }
    })
}

/// The avatar, previewed when this dashboard serves it, and its upload form.
fn avatar_section(
    dashboard: &Dashboard,
    upload: &str,
    token: &str,
    persona: &view::Persona,
) -> Markup {
    let name = persona.nickname.as_str();
    html! {
        section.card {
            h2 { "Avatar" }
            @if let Some(url) = persona.avatar_url.as_deref() {
                @if let Some(path) = own_image(dashboard, url) {
                    img.avatar id="avatar" src=(path) alt=(format!("{}'s avatar", persona.nickname)) width="128" height="128";
                } @else {
                    p.muted { "From " (url) " (not shown here: the dashboard loads no image from elsewhere)." }
                }
            } @else {
                p.muted { "No avatar: alters speak with the webhook's default." }
            }
            form.stack method="post" action=(upload) enctype="multipart/form-data" {
                (token_field(token))
                input type="hidden" name="name" value=(name);
                label for="avatar-file" { "A PNG, JPEG, GIF or WebP image (shown at 256 × 256)" }
                input id="avatar-file" type="file" name="image" accept="image/png,image/jpeg,image/gif,image/webp" required;
                div { button id="upload-avatar" type="submit" { "Upload avatar" } }
            }
        }
    }
}

/// The trigger words, each with its remove button, and the form that adds more.
fn triggers_section(action: &str, token: &str, name: &str, words: &[String]) -> Markup {
    html! {
        section.card {
            h2 { "Trigger words" }
            ul.plain {
                @for word in words {
                    li {
                        span { (word) }
                        form.inline method="post" action=(action) {
                            (token_field(token))
                            input type="hidden" name="name" value=(name);
                            input type="hidden" name="op" value="trigger-remove";
                            input type="hidden" name="text" value=(word);
                            button.danger type="submit" { "Remove" }
                        }
                    }
                }
            }
            (change(action, token, name, "trigger-add", html! {
                label for="trigger" { "New trigger words (comma-separated)" }
                input id="trigger" type="text" name="text" required;
            }, "Add trigger words"))
        }
    }
}

/// One change from the edit page.
#[derive(Deserialize)]
pub(crate) struct ChangeForm {
    #[serde(default)]
    csrf: String,
    name: String,
    op: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    bot: String,
    #[serde(default)]
    number: i64,
}

impl ChangeForm {
    fn edit(&self) -> Result<Edit, AdminError> {
        Ok(match self.op.as_str() {
            "prompt" => Edit::Prompt(self.text.clone()),
            "attribute-add" => Edit::AddAttribute(self.text.clone()),
            "attribute-remove" => Edit::RemoveAttribute(self.number),
            "dialogue-add" => Edit::AddDialogue { user: self.user.clone(), bot: self.bot.clone() },
            "dialogue-remove" => Edit::RemoveDialogue(self.number),
            "trigger-add" => Edit::AddTrigger(parse_trigger_words(&[self.text.as_str()])),
            "trigger-remove" => Edit::RemoveTrigger(parse_trigger_words(&[self.text.as_str()])),
            "swap" => Edit::Swap,
            other => {
                return Err(AdminError::BadInput(format!(
                    "There is no change called {other}; nothing was changed."
                )));
            }
        })
    }
}

/// `POST /servers/{guild}/personas/edit`.
pub(crate) async fn save(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = match form.edit() {
        Ok(change) => edit(dashboard.store(), &caller, &form.name, &change).await,
        Err(error) => Err(error),
    };
    let back = format!("/servers/{guild}/personas/edit?name={}", encode(&form.name));
    outcome(&dashboard, &member, &back, result)
}

/// `POST /servers/{guild}/personas/avatar`.
pub(crate) async fn avatar(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    multipart: Multipart,
) -> Response {
    let upload = match read_upload(&dashboard, &member, multipart, "image").await {
        Ok(upload) => upload,
        Err(refused) => return refused.into_response(),
    };
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let name = upload.field("name").to_owned();
    let back = format!("/servers/{guild}/personas/edit?name={}", encode(&name));
    let result = match dashboard.media() {
        Some(media) => {
            let url_for = |digest: &str| dashboard.url(&format!("/avatars/{digest}.jpg"));
            let file = (name.as_str(), upload.bytes);
            avatars::upload(dashboard.store(), &caller, media, file, url_for).await
        }
        None => {
            Err(AdminError::BadInput("Avatars can be uploaded once the bot is connected.".into()))
        }
    };
    outcome(&dashboard, &member, &back, result)
}

/// `GET /avatars/{digest}.jpg`: an uploaded avatar, for Discord and the preview. Public, like
/// the avatar itself; found by its digest alone.
pub(crate) async fn serve_avatar(
    State(dashboard): State<Dashboard>,
    Path(file): Path<String>,
) -> Response {
    let Some(digest) = file.strip_suffix(".jpg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match avatars::by_digest(dashboard.store(), digest).await {
        Ok(Some(image)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                // The digest names the content: it never changes under this URL.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            image,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::warn!(%error, "an avatar could not be read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
