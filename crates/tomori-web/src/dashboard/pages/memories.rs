//! A server's memories: every persona's, searchable; teaching and forgetting follow `/memory`'s
//! rules (the admin layer decides who may).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use serde::Deserialize;
use tomori_admin::memory::{self, Action, Kind};
use tomori_admin::view;

use super::personas::download;
use super::servers::{checked, read_refusal, tabs};
use super::{Frame, token_field};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, TokenForm, outcome, server_caller};

/// The search box.
#[derive(Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// `GET /servers/{guild}/memories?q=…`.
pub(crate) async fn list(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Query(search): Query<Search>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let (memories, personas) = match async {
        Ok::<_, tomori_admin::AdminError>((
            view::server_memories(dashboard.store(), &caller).await?,
            view::personas(dashboard.store(), &caller).await?,
        ))
    }
    .await
    {
        Ok(read) => read,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let needle = search.q.trim().to_lowercase();
    let shown: Vec<_> =
        memories.iter().filter(|m| m.content.to_lowercase().contains(&needle)).collect();
    let token = dashboard.sessions().form_token(&member.id);
    let frame = Frame { dashboard: &dashboard, title: "Memories", member: Some((&member, &token)) };
    let here = |path: &str| frame.href(&format!("/servers/{guild}/memories{path}"));
    let persona_of = |memory: &view::Memory| {
        personas
            .iter()
            .find(|p| p.lineage == memory.lineage)
            .map_or_else(String::new, |p| p.nickname.clone())
    };
    frame.page(html! {
        (tabs(&frame, guild, "Memories"))
        section.card {
            form.stack method="get" action=(here("")) {
                label for="q" { "Search" }
                input id="q" type="search" name="q" value=(search.q);
            }
        }
        section.card {
            p.muted { (shown.len()) " of " (memories.len()) " memories" }
            ul.plain {
                @for memory in &shown {
                    (memory_item(&here(""), &token, memory, &persona_of(memory)))
                }
            }
        }
        section.card {
            form method="post" action=(here("/export")) {
                (token_field(&token))
                button.quiet type="submit" { "Export as JSON" }
            }
        }
        section.card {
            h2 { "Teach a memory" }
            form.stack method="post" action=(here("")) {
                (token_field(&token))
                label for="content" { "What to remember" }
                textarea id="content" name="content" required {}
                label for="persona" { "Persona" }
                select id="persona" name="persona" {
                    @for persona in &personas {
                        option value=(persona.nickname) selected[persona.is_main] { (persona.nickname) }
                    }
                }
                div { button id="teach" type="submit" { "Remember" } }
            }
        }
    })
}

/// One memory with its edit and forget forms.
fn memory_item(here: &str, token: &str, memory: &view::Memory, persona: &str) -> maud::Markup {
    let to = |path: &str| format!("{here}{path}");
    html! {
                    li {
                        span { (memory.content) br; span.muted { "[id:" (memory.id) "] " (persona) } }
                        span {
                            details {
                                summary { "Edit" }
                                form.stack method="post" action=(to("/edit")) {
                                    (token_field(token))
                                    input type="hidden" name="id" value=(memory.id);
                                    textarea name="content" aria-label="New text" required { (memory.content) }
                                    div { button.quiet type="submit" { "Save" } }
                                }
                            }
                            form.inline method="post" action=(to("/remove")) {
                                (token_field(token))
                                input type="hidden" name="id" value=(memory.id);
                                button.danger type="submit" { "Forget" }
                            }
                        }
                    }
    }
}

/// The teach form.
#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    csrf: String,
    content: String,
    #[serde(default)]
    persona: Option<String>,
}

/// `POST /servers/{guild}/memories`.
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
    let persona = form.persona.filter(|p| !p.trim().is_empty());
    let action = Action::Add { kind: Kind::Server, content: form.content, persona };
    let result = memory::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/memories"), result)
}

/// The forget form.
#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: String,
    id: i64,
}

/// `POST /servers/{guild}/memories/remove`.
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
    let action = Action::Remove { kind: Kind::Server, id: form.id };
    let result = memory::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/memories"), result)
}

/// The edit form.
#[derive(Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    csrf: String,
    id: i64,
    content: String,
}

/// `POST /servers/{guild}/memories/edit`.
pub(crate) async fn edit(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<EditForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let action = Action::Edit { kind: Kind::Server, id: form.id, content: form.content };
    let result = memory::run(dashboard.store(), &caller, &action).await;
    outcome(&dashboard, &member, &format!("/servers/{guild}/memories"), result)
}

/// `POST /servers/{guild}/memories/export`: the server's memories as a JSON file.
pub(crate) async fn export(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
    Form(form): Form<TokenForm>,
) -> Response {
    let caller = match checked(&dashboard, &member, guild, &form.csrf).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let action = Action::Export { kind: Kind::Server, persona: None };
    match memory::run(dashboard.store(), &caller, &action).await {
        Ok(mut answer) => match answer.files.pop() {
            Some(file) => download(&file.name, "application/json", file.bytes),
            None => outcome(&dashboard, &member, &format!("/servers/{guild}/memories"), Ok(answer)),
        },
        Err(error) => read_refusal(&dashboard, &error),
    }
}
