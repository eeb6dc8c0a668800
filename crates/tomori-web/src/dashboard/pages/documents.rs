//! A server's documents: the list, uploading one (read and embedded in the background, its
//! progress shown on the page), and removing one. Who may add and remove follows `/memory
//! document`'s rules, in the admin layer.

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use serde::Deserialize;
use tomori_admin::AdminError;
use tomori_admin::memory::documents::{self, FileFacts, MAX_FILE_BYTES};

use super::servers::{checked, read_refusal, tabs};
use super::{Frame, markdown, token_field};
use crate::dashboard::forms::{SignedIn, outcome, read_upload, server_caller};
use crate::dashboard::session::Flash;
use crate::dashboard::{Dashboard, Job};

/// The largest upload the form takes: a document at its limit plus the form's other fields.
pub(crate) const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024 + 64 * 1024;
const _: () = assert!(MAX_FILE_BYTES <= 4 * 1024 * 1024, "the upload limit holds a whole document");

/// `GET /servers/{guild}/documents`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let listed = match documents::list(dashboard.store(), &caller).await {
        Ok(answer) => answer.text,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let job = dashboard.job(guild, member.user);
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Documents", member: Some((&member, &token)) };
    let here = |path: &str| frame.href(&format!("/servers/{guild}/documents{path}"));
    frame.page(html! {
        (tabs(&frame, guild, "Documents"))
        @if let Some(job) = job {
            section.card id="job" {
                p class=(if job.done { "flash ok" } else { "flash" }) { (markdown(&job.text)) }
                @if !job.done { p { a href=(here("")) { "Reload to see the progress" } } }
            }
        }
        section.card {
            p.answer { (markdown(&listed)) }
        }
        section.card {
            h2 { "Add a document" }
            form.stack method="post" action=(here("")) enctype="multipart/form-data" {
                (token_field(&token))
                label for="file" { "A .txt, .md or .pdf file, at most 4 MiB" }
                input id="file" type="file" name="file" accept=".txt,.md,.markdown,.pdf" required;
                label for="doc-name" { "Name (the file's name when empty)" }
                input id="doc-name" type="text" name="name" maxlength="100";
                div { button id="upload" type="submit" { "Upload" } }
            }
        }
        section.card {
            h2 { "Remove a document" }
            form.stack method="post" action=(here("/remove")) {
                (token_field(&token))
                label for="remove-name" { "Name" }
                input id="remove-name" type="text" name="name" required;
                div { button.danger type="submit" { "Remove" } }
            }
        }
    })
}

/// `POST /servers/{guild}/documents`: checks the upload, then reads and embeds it in the
/// background; the page shows how far it got.
pub(crate) async fn upload(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    multipart: Multipart,
) -> Response {
    let upload = match read_upload(&dashboard, &member, multipart, "file").await {
        Ok(upload) => upload,
        Err(refused) => return refused.into_response(),
    };
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let back = format!("/servers/{guild}/documents");
    let Some(services) = dashboard.documents() else {
        let error =
            AdminError::BadInput("Documents can be added once the bot is connected.".into());
        return outcome(&dashboard, &member, &back, Err(error));
    };
    let facts =
        FileFacts { filename: &upload.filename, content_type: upload.content_type.as_deref() };
    // Security: parser denial of service. The admin layer decides from the name and declared
    // type what the file may be before it is read, as for a Discord upload.
    let kind = match documents::check_upload(dashboard.store(), &caller, facts).await {
        Ok(kind) => kind,
        Err(error) => return outcome(&dashboard, &member, &back, Err(error)),
    };
    let name = Some(upload.field("name").trim())
        .filter(|n| !n.is_empty())
        .unwrap_or(&upload.filename)
        .to_owned();
    dashboard.set_job(guild, member.user, Job { text: format!("Adding `{name}`…"), done: false });
    let task_dashboard = dashboard.clone();
    let user = member.user;
    tokio::spawn(async move {
        let progress = |done: usize, total: usize| {
            let text = format!("Adding `{name}`: {done} of {total} passages embedded…");
            task_dashboard.set_job(guild, user, Job { text, done: false });
        };
        let facts =
            FileFacts { filename: &upload.filename, content_type: upload.content_type.as_deref() };
        let file = (facts, kind, upload.bytes);
        let result =
            documents::add(task_dashboard.store(), &caller, &services, file, &name, &progress)
                .await;
        let text = match result {
            Ok(answer) => answer.text,
            Err(error) => error.to_string(),
        };
        task_dashboard.set_job(guild, user, Job { text, done: true });
    });
    dashboard
        .sessions()
        .set_flash(&member.id, Flash { ok: true, text: "Reading the document…".to_owned() });
    axum::response::Redirect::to(&format!("{}{back}", dashboard.base())).into_response()
}

/// The remove form.
#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

/// `POST /servers/{guild}/documents/remove`.
pub(crate) async fn remove(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<RemoveForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let result = documents::remove(dashboard.store(), &caller, form.name.trim()).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/documents"), result)
}
