//! A server's audit log, with its chain verified as it is shown.

use axum::extract::{Path, State};
use axum::response::{IntoResponse as _, Response};
use maud::html;
use tomori_admin::view;

use super::Frame;
use super::servers::{read_refusal, tabs};
use crate::dashboard::Dashboard;
use crate::dashboard::forms::{SignedIn, server_caller};

/// `GET /servers/{guild}/audit`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Path(guild): Path<u64>,
) -> Response {
    let caller = match server_caller(&dashboard, &member, guild).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let log = match view::audit(dashboard.store(), &caller).await {
        Ok(log) => log,
        Err(error) => return read_refusal(&dashboard, &error),
    };
    let token = dashboard.sessions().form_token(&member.id);
    let frame =
        Frame { dashboard: &dashboard, title: "Audit log", member: Some((&member, &token)) };
    frame.page(html! {
        (tabs(&frame, guild, "Audit log"))
        section.card {
            @if log.findings.is_empty() {
                p.flash.ok id="verified" {
                    "Verified: all " (log.rows) " rows of this server's chain match their hashes and link up."
                }
            } @else {
                div.flash.error id="verified" {
                    p { "The chain does not verify: " (log.findings.len()) " finding(s). Tell the operator \
                         (tomori audit verify)." }
                    ul { @for finding in &log.findings { li { (finding.to_string()) } } }
                }
            }
            p.muted { "Rows hold digests of what changed, not the content. The newest "
                      (log.entries.len()) " are shown." }
            table {
                tr { th { "#" } th { "When (UTC)" } th { "Who" } th { "What" } th { "Target" } }
                @for entry in &log.entries {
                    tr {
                        td { (entry.seq) }
                        td { (entry.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { (entry.actor) }
                        td { (entry.action) }
                        td { (entry.target) }
                    }
                }
            }
        }
    })
}
