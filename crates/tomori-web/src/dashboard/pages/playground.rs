//! The playground page: talk to the server's personas through the engine, with the prompt the
//! main persona would be given beside it for managers. Works without script (the form posts and
//! the page shows the conversation so far); `playground.js` sends without reloading and shows
//! answers as they arrive over Server-Sent Events.

use std::convert::Infallible;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use tokio::sync::broadcast;
use tomori_admin::{Caller, diagnostics, view};
use tomori_chat::media::{Uploads, sniff_attachment};
use tomori_chat::surface::{Attachment, Inbound, InboundAuthor};
use tomori_core::id::Snowflake;

use super::servers::{read_refusal, tabs};
use super::{Frame, refusal, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, Upload, read_upload, server_caller};
use crate::dashboard::playground::{Line, WebSurface};
use crate::dashboard::session::Member;

/// The longest message the playground takes (Discord's own limit for a message).
const MAX_TEXT: usize = 2_000;

/// The largest file a playground message carries (the engine's cap for an attachment).
const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// The largest playground form: the file and the text with room for the multipart framing.
pub(crate) const MAX_FORM_BYTES: usize = MAX_FILE_BYTES + 64 * 1024;

/// A message from `member` in their playground room of the caller's server.
fn inbound(
    caller: &Caller,
    member: &Member,
    room: Snowflake,
    message: Snowflake,
    text: &str,
) -> Inbound {
    Inbound {
        guild: caller.guild,
        guild_name: None,
        channel: room,
        parent_channel: None,
        category: None,
        message,
        author: InboundAuthor {
            id: member.user,
            name: member.name.clone(),
            is_bot: false,
            webhook: None,
        },
        content: text.to_owned(),
        mentions_bot: true,
        mentions: Vec::new(),
        reply_to: None,
        // Roles are not read from Discord here: a server with a role whitelist does not answer
        // in the playground.
        author_roles: Vec::new(),
        author_is_admin: caller.grants.manage_server,
        attachments: Vec::new(),
    }
}

fn unavailable(dashboard: &Dashboard) -> Response {
    refusal(
        dashboard,
        StatusCode::SERVICE_UNAVAILABLE,
        "The playground starts once the bot is connected to Discord; try again in a moment.",
    )
}

/// `GET /servers/{guild}/playground`.
pub(crate) async fn page(
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
    let Some(playground) = dashboard.playground() else { return unavailable(&dashboard) };
    let Some(server) = caller.guild else { return unavailable(&dashboard) };
    let room = WebSurface::room_of(server, member.user);
    let transcript = playground.surface.transcript(room);
    let snapshot = if caller.grants.manage_server {
        let request =
            playground.surface.next_id().map(|id| inbound(&caller, &member, room, id, ""));
        match request {
            Some(request) => playground.engine.prompt_snapshot(request).await,
            None => None,
        }
    } else {
        None
    };
    let main = personas.iter().find(|p| p.is_main).map_or("Tomori", |p| p.nickname.as_str());
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Playground", member: Some((&member, &token)) };
    let here = frame.href(&format!("/servers/{guild}/playground"));
    frame.page(html! {
        (tabs(&frame, guild, "Playground"))
        div.playground {
            section.card {
                div id="transcript" data-events=(format!("{here}/events")) data-main=(main) {
                    @for line in &transcript {
                        p class=(if line.mine { "line mine" } else { "line" }) {
                            strong { (if line.mine { "You" } else { line.who.as_deref().unwrap_or(main) }) ": " }
                            (line.text)
                        }
                    }
                }
                form.stack id="say" method="post" action=(here) enctype="multipart/form-data" {
                    (token_field(&token))
                    label for="persona" { "Persona" }
                    select id="persona" name="persona" {
                        option value="" { "Whoever answers here" }
                        @for persona in &personas { option value=(persona.nickname) { (persona.nickname) } }
                    }
                    label for="text" { "Message" }
                    textarea id="text" name="text" maxlength=(MAX_TEXT) rows="3" {}
                    label for="file" { "Picture or video (optional, up to 8 MiB)" }
                    input id="file" name="file" type="file" accept="image/png,image/jpeg,image/webp,image/gif,video/*";
                    div { button id="send" type="submit" { "Send" } " " a href=(here) { "Refresh" } }
                }
                p.muted { "Answers come from the same engine as in Discord: they count against your \
                           quotas and may use the server's memories and tools." }
            }
            @if let Some(snapshot) = snapshot {
                section.card {
                    h2 { "What the main persona is given" }
                    pre id="snapshot" { (diagnostics::redact_secrets(&snapshot.text)) }
                }
            }
        }
        script src=(frame.href("/static/playground.js")) defer {}
    })
}

/// The file a playground message carries, kept for the engine: `None` without one.
///
/// # Errors
/// A sentence for the member: the file is too large, of a kind the engine does not show, or
/// could not be kept.
fn attach(uploads: &Uploads, upload: &mut Upload) -> Result<Option<Attachment>, String> {
    if upload.bytes.is_empty() {
        return Ok(None);
    }
    if upload.bytes.len() > MAX_FILE_BYTES {
        return Err("A file is at most 8 MiB; nothing was sent.".to_owned());
    }
    // Security: content confusion. The type is the file's signature, never the browser's claim.
    let Some(kind) = sniff_attachment(&upload.bytes) else {
        return Err("Only pictures (PNG, JPEG, WebP, GIF) and videos can be attached; nothing \
                    was sent."
            .to_owned());
    };
    let filename: String =
        upload.filename.chars().filter(|c| !c.is_control()).take(100).collect::<String>();
    let size = u64::try_from(upload.bytes.len()).unwrap_or(u64::MAX);
    let url = uploads
        .put(std::mem::take(&mut upload.bytes))
        .map_err(|e| format!("The file could not be kept ({e}); nothing was sent."))?;
    Ok(Some(Attachment { url, filename, content_type: Some(kind.to_owned()), size }))
}

/// `POST /servers/{guild}/playground`: starts a turn, with a picture or video when one is
/// attached. The page's script asks with `X-Tomori-Fetch` and gets a fresh form token back; a
/// plain form is sent back to the page.
pub(crate) async fn say(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let mut form = match read_upload(&dashboard, &member, multipart, "file").await {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    // Security: a member outside the server never reaches the engine; the rest (privacy,
    // blacklist, whitelists, quotas, cooldowns) is the engine's admission, as for a message.
    if let Err(error) = view::personas(dashboard.store(), &caller).await {
        return read_refusal(&dashboard, &error);
    }
    let (Some(playground), Some(server)) = (dashboard.playground(), caller.guild) else {
        return unavailable(&dashboard);
    };
    let text = form.field("text").trim().to_owned();
    let attachment = match attach(&playground.uploads, &mut form) {
        Ok(attachment) => attachment,
        Err(why) => return refusal(&dashboard, StatusCode::BAD_REQUEST, &why),
    };
    if (text.is_empty() && attachment.is_none()) || text.chars().count() > MAX_TEXT {
        return refusal(
            &dashboard,
            StatusCode::BAD_REQUEST,
            "A message is up to 2,000 characters, with text or a file; nothing was sent.",
        );
    }
    let room = WebSurface::room_of(server, member.user);
    let Some(id) = playground.surface.next_id() else { return unavailable(&dashboard) };
    let shown = match &attachment {
        Some(file) if text.is_empty() => format!("[attached: {}]", file.filename),
        Some(file) => format!("{text}\n[attached: {}]", file.filename),
        None => text.clone(),
    };
    playground.surface.push(room, Line { who: Some(member.name.clone()), mine: true, text: shown });
    let mut message = inbound(&caller, &member, room, id, &text);
    message.attachments.extend(attachment);
    let engine = playground.engine.clone();
    let surface = playground.surface.clone();
    let persona = form.field("persona").to_owned();
    tokio::spawn(async move {
        if !engine.respond_as(message, &persona).await {
            let note = "(Not answered: this server does not answer you here — privacy level, \
                        blacklist, a channel or role whitelist, or a failed step.)";
            surface.push(
                room,
                Line { who: Some("Tomori".to_owned()), mine: false, text: note.to_owned() },
            );
        }
    });
    if headers.contains_key("x-tomori-fetch") {
        let token = dashboard.sessions().form_token(&member.id);
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response();
    }
    axum::response::Redirect::to(&format!("{}/servers/{guild}/playground", dashboard.base()))
        .into_response()
}

/// `GET /servers/{guild}/playground/events`: the room's new lines as Server-Sent Events.
pub(crate) async fn events(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let (Some(playground), Some(server)) = (dashboard.playground(), caller.guild) else {
        return unavailable(&dashboard);
    };
    let receiver = playground.surface.subscribe(WebSurface::room_of(server, member.user));
    let closed = Box::pin(dashboard.closed());
    let stream =
        futures_util::stream::unfold((receiver, closed), |(mut receiver, mut closed)| async move {
            loop {
                let received = tokio::select! {
                    // The listener is shutting down: the stream ends, so the shutdown need not wait.
                    () = &mut closed => return None,
                    received = receiver.recv() => received,
                };
                match received {
                    Ok(line) => {
                        let event =
                            Event::default().event("line").json_data(&line).unwrap_or_default();
                        return Some((Ok::<_, Infallible>(event), (receiver, closed)));
                    }
                    // A page that fell behind misses lines; the transcript has them on reload.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
