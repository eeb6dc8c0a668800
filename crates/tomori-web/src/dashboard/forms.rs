//! What every page and form handler shares: the signed-in member, the form token check, the
//! caller for a server, and turning an action's outcome into an answer.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tomori_admin::{AdminError, Answer, Caller};
use tomori_core::id::Snowflake;

use super::Dashboard;
use super::pages;
use super::session::{Flash, Member, SESSION_COOKIE, cookie};

/// A request turned away: the page that says why (boxed, as a response is large).
pub(crate) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The member a request's session cookie names.
pub(crate) struct SignedIn(pub(crate) Member);

impl FromRequestParts<Dashboard> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        dashboard: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
        let member = cookie(header, SESSION_COOKIE).and_then(|id| dashboard.sessions().member(id));
        match member {
            Some(member) => Ok(Self(member)),
            None if parts.method == Method::GET => {
                Err(Redirect::to(&format!("{}/", dashboard.base())).into_response())
            }
            // Security: CSRF. A write without a session changes nothing, whatever it carries.
            None => Err(pages::refusal(
                dashboard,
                StatusCode::UNAUTHORIZED,
                "You are not signed in; nothing was changed.",
            )),
        }
    }
}

/// Spends the form token a submission carried.
///
/// # Errors
/// The 403 answer for a token that is not this session's, or was spent already.
pub(crate) fn check_token(
    dashboard: &Dashboard,
    member: &Member,
    token: &str,
) -> Result<(), Refusal> {
    // Security: CSRF and replayed forms. A token is made for one page shown to one session and
    // works once; a forged form has none, a replayed one has a spent one.
    if dashboard.sessions().spend_form_token(&member.id, token) {
        Ok(())
    } else {
        Err(Refusal::from(pages::refusal(
            dashboard,
            StatusCode::FORBIDDEN,
            "This form has expired or was already sent; nothing was changed. Reload the page \
             and try again.",
        )))
    }
}

/// The caller for `member` in server `guild`, read from Discord now.
///
/// # Errors
/// 404 when they do not share the server with the bot, 502 when Discord does not answer.
pub(crate) async fn server_caller(
    dashboard: &Dashboard,
    member: &Member,
    guild: u64,
) -> Result<Caller, Refusal> {
    let not_found = || {
        pages::refusal(
            dashboard,
            StatusCode::NOT_FOUND,
            "You do not share this server with the bot (or it does not exist).",
        )
    };
    let guild = Snowflake::new(guild).map_err(|_| Refusal::from(not_found()))?;
    match dashboard.caller_for_change(member, guild).await {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(not_found().into()),
        Err(error) => {
            tracing::warn!(%error, "the dashboard could not read a member's servers");
            Err(pages::refusal(
                dashboard,
                StatusCode::BAD_GATEWAY,
                "Discord did not say what you may do there just now; nothing was changed. Try \
                 again in a moment.",
            )
            .into())
        }
    }
}

/// The answer to a form: back to `back` with the action's words, or a refusal page.
pub(crate) fn outcome(
    dashboard: &Dashboard,
    member: &Member,
    back: &str,
    result: Result<Answer, AdminError>,
) -> Response {
    let flash = match result {
        Ok(answer) => Flash { ok: true, text: answer.text },
        Err(AdminError::Refused(permission)) => {
            return pages::refusal(
                dashboard,
                StatusCode::FORBIDDEN,
                &format!("This needs the {permission} permission; nothing was changed."),
            );
        }
        Err(AdminError::Store(error)) => {
            tracing::warn!(error = %error, "a dashboard action failed in the store");
            Flash { ok: false, text: format!("That did not work: {error}") }
        }
        Err(error) => Flash { ok: false, text: error.to_string() },
    };
    dashboard.sessions().set_flash(&member.id, flash);
    Redirect::to(&format!("{}{back}", dashboard.base())).into_response()
}

/// A form with its token alone (sign-out, exports, resets).
#[derive(serde::Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A multipart form: its text fields and the one file it carries.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// Text fields by name (the form token among them).
    pub(crate) fields: std::collections::HashMap<String, String>,
    /// The file's name as the browser gave it.
    pub(crate) filename: String,
    /// Its declared type.
    pub(crate) content_type: Option<String>,
    /// Its bytes (empty when no file was chosen).
    pub(crate) bytes: Vec<u8>,
}

impl Upload {
    /// A text field, empty when absent.
    pub(crate) fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Reads a multipart form whose file is the field `file`; the route's body limit caps its size.
/// Then spends its form token, so a forged or replayed upload stops here.
///
/// # Errors
/// The 400 answer for a body that is not a readable form, or the token check's refusal.
pub(crate) async fn read_upload(
    dashboard: &Dashboard,
    member: &Member,
    mut multipart: axum::extract::Multipart,
    file: &str,
) -> Result<Upload, Refusal> {
    let unreadable = |why: String| {
        let text = format!("The upload could not be read ({why}); nothing was changed.");
        Refusal::from(pages::refusal(dashboard, StatusCode::BAD_REQUEST, &text))
    };
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| unreadable(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == file {
            upload.filename = field.file_name().unwrap_or("upload").to_owned();
            upload.content_type = field.content_type().map(str::to_owned);
            upload.bytes = field.bytes().await.map_err(|e| unreadable(e.body_text()))?.to_vec();
        } else {
            let text = field.text().await.map_err(|e| unreadable(e.body_text()))?;
            upload.fields.insert(name, text);
        }
    }
    check_token(dashboard, member, upload.field("csrf"))?;
    Ok(upload)
}
