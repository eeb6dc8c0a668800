//! A member's own page: privacy level, personal memories, export and deletion. Everything here
//! runs in the member's own user scope; nothing typed names whose data it is.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use maud::html;
use serde::Deserialize;
use tomori_admin::memory::{self, Kind};
use tomori_admin::personal::{self, Action, DELETE_PHRASE};
use tomori_admin::{AdminError, view};
use tomori_core::privacy::PrivacyLevel;

use super::personas::download;
use super::servers::read_refusal;
use super::{Frame, refusal, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, TokenForm, check_token, outcome};

const LEVELS: [(i16, &str); 3] = [
    (0, "0: full personalisation"),
    (1, "1: no status, roles or personal memories"),
    (2, "2: the bot ignores you and forgets your messages"),
];

/// `GET /me`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
) -> Response {
    let caller = Dashboard::caller_for_self(&member);
    let me = match view::member(dashboard.store(), &caller).await {
        Ok(me) => me,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame = Frame { dashboard: &dashboard, title: "My data", member: Some((&member, &token)) };
    let level = me.settings.privacy.as_number();
    frame.page(html! {
        section.card {
            h2 { "Privacy" }
            form.stack method="post" action=(frame.href("/me/privacy")) {
                (token_field(&token))
                label for="level" { "Privacy level" }
                select id="level" name="level" {
                    @for (value, label) in LEVELS {
                        option value=(value) selected[value == level] { (label) }
                    }
                }
                div { button id="privacy" type="submit" { "Save" } }
            }
        }
        section.card {
            h2 { "Personal memories" }
            @if me.memories.is_empty() { p.muted { "None." } }
            ul.plain {
                @for memory in &me.memories {
                    li {
                        span { (memory.content) " " span.muted { "[id:" (memory.id) "]" } }
                        form.inline method="post" action=(frame.href("/me/memories/remove")) {
                            (token_field(&token))
                            input type="hidden" name="id" value=(memory.id);
                            button.danger type="submit" { "Forget" }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Export" }
            p { "Everything that is yours alone, as a JSON file (API keys by label only)." }
            form method="post" action=(frame.href("/me/export")) {
                (token_field(&token))
                button.quiet type="submit" { "Download my data" }
            }
        }
        section.card {
            h2 { "Delete" }
            p { "Deletes everything that is yours alone. Type " strong { (DELETE_PHRASE) } " to confirm." }
            form.stack method="post" action=(frame.href("/me/delete")) {
                (token_field(&token))
                input type="text" name="confirm" autocomplete="off" aria-label="Confirmation";
                div { button.danger type="submit" { "Delete my data" } }
            }
        }
    })
}

/// The privacy form.
#[derive(Deserialize)]
pub(crate) struct PrivacyForm {
    #[serde(default)]
    csrf: String,
    level: i64,
}

async fn run_personal(
    dashboard: &Dashboard,
    caller: &tomori_admin::Caller,
    action: Action,
) -> Result<tomori_admin::Answer, AdminError> {
    personal::run(dashboard.store(), caller, &action).await.map(|outcome| outcome.answer)
}

/// `POST /me/privacy`.
pub(crate) async fn privacy(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Form(form): Form<PrivacyForm>,
) -> Response {
    if let Err(refused) = check_token(&dashboard, &member, &form.csrf) {
        return refused.into_response();
    }
    let caller = Dashboard::caller_for_self(&member);
    let result = match PrivacyLevel::from_number(form.level) {
        Ok(level) => run_personal(&dashboard, &caller, Action::Privacy { level }).await,
        Err(error) => Err(AdminError::BadInput(format!("{error}; nothing was changed."))),
    };
    outcome(&dashboard, &member, "/me", result)
}

/// The forget form.
#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    id: i64,
}

/// `POST /me/memories/remove`.
pub(crate) async fn remove_memory(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Form(form): Form<RemoveForm>,
) -> Response {
    if let Err(refused) = check_token(&dashboard, &member, &form.csrf) {
        return refused.into_response();
    }
    let caller = Dashboard::caller_for_self(&member);
    let action = memory::Action::Remove { kind: Kind::Personal, id: form.id };
    let result = memory::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, "/me", result)
}

/// `POST /me/export`: the member's data as a file.
pub(crate) async fn export(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(refused) = check_token(&dashboard, &member, &form.csrf) {
        return refused.into_response();
    }
    let caller = Dashboard::caller_for_self(&member);
    match run_personal(&dashboard, &caller, Action::Export).await {
        Ok(answer) => match answer.files.into_iter().next() {
            Some(file) => download(&file.name, "application/json", file.bytes),
            None => refusal(&dashboard, StatusCode::INTERNAL_SERVER_ERROR, "No file was made."),
        },
        Err(error) => read_refusal(&dashboard, &error),
    }
}

/// The delete form.
#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /me/delete`.
pub(crate) async fn delete(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(refused) = check_token(&dashboard, &member, &form.csrf) {
        return refused.into_response();
    }
    let caller = Dashboard::caller_for_self(&member);
    let confirmed = form.confirm.trim().eq_ignore_ascii_case(DELETE_PHRASE);
    let result = run_personal(&dashboard, &caller, Action::Delete { confirmed }).await;
    outcome(&dashboard, &member, "/me", result)
}
