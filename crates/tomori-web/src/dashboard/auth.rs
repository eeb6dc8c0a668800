//! Signing in with Discord: the OAuth2 authorization code flow with PKCE (S256) and `state`,
//! scopes `identify guilds`; and signing out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;
use tomori_core::id::Snowflake;

use super::Dashboard;
use super::forms::{SignedIn, TokenForm, check_token};
use super::pages;
use super::session::{self, LOGIN_COOKIE, LOGIN_TTL, SESSION_COOKIE, cookie, same};

/// How long the session cookie lives in the browser (the server ends sessions sooner when idle).
const SESSION_COOKIE_SECONDS: u64 = 24 * 3600;

fn redirect_uri(dashboard: &Dashboard) -> String {
    dashboard.url("/auth/callback")
}

/// `GET /login`: off to Discord's consent page, with a fresh `state` and PKCE challenge that
/// only this browser's login cookie can redeem.
pub(crate) async fn login(State(dashboard): State<Dashboard>) -> Response {
    let (id, state, verifier) = dashboard.sessions().start_login();
    let target = dashboard.discord().authorize_url(
        &redirect_uri(&dashboard),
        &state,
        &session::challenge(&verifier),
    );
    let login_cookie = dashboard.cookie(LOGIN_COOKIE, &id, "/auth", LOGIN_TTL.as_secs());
    ([(header::SET_COOKIE, login_cookie)], Redirect::to(&target)).into_response()
}

/// What Discord sends back.
#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: checks `state` against this browser's login, exchanges the code with
/// the verifier, and starts a new session.
pub(crate) async fn callback(
    State(dashboard): State<Dashboard>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let cookies = headers.get(header::COOKIE).and_then(|c| c.to_str().ok());
    let refused = |text: &str| pages::refusal(&dashboard, StatusCode::BAD_REQUEST, text);
    if callback.error.is_some() {
        return refused("Discord did not sign you in; nothing was changed.");
    }
    // Security: login CSRF. The login is taken once, by the browser that started it, and its
    // state must come back unchanged.
    let login = cookie(cookies, LOGIN_COOKIE).and_then(|id| dashboard.sessions().take_login(id));
    let (Some(login), Some(state), Some(code)) = (login, callback.state, callback.code) else {
        return refused("This sign-in link has expired or was not started here; sign in again.");
    };
    if !same(&login.state, &state) {
        return refused("This sign-in did not come back as it left; sign in again.");
    }
    let signed_in = async {
        let token =
            dashboard.discord().exchange(&code, &redirect_uri(&dashboard), &login.verifier).await?;
        let user = dashboard.discord().me(&token).await?;
        Ok::<_, super::discord::DiscordError>((token, user))
    };
    let (token, user) = match signed_in.await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "a dashboard sign-in failed");
            return refused("Discord did not confirm the sign-in; sign in again.");
        }
    };
    let Some(id) = user.id.parse::<u64>().ok().and_then(|id| Snowflake::new(id).ok()) else {
        return refused("Discord named no user; sign in again.");
    };
    let name = user.global_name.unwrap_or(user.username);
    // Security: session fixation. The session id is new at every login; one the browser
    // brought ends.
    let previous = cookie(cookies, SESSION_COOKIE);
    let session = dashboard.sessions().create(previous, id, name, token);
    let set_session = dashboard.cookie(SESSION_COOKIE, &session, "/", SESSION_COOKIE_SECONDS);
    let clear_login = dashboard.cookie(LOGIN_COOKIE, "", "/auth", 0);
    let to = format!("{}/servers", dashboard.base());
    (
        AppendHeaders([(header::SET_COOKIE, set_session), (header::SET_COOKIE, clear_login)]),
        Redirect::to(&to),
    )
        .into_response()
}

/// `POST /logout`: ends the session.
pub(crate) async fn logout(
    State(dashboard): State<Dashboard>,
    SignedIn(member): SignedIn,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(refusal) = check_token(&dashboard, &member, &form.csrf) {
        return refusal.into_response();
    }
    dashboard.sessions().end(&member.id);
    let clear = dashboard.cookie(SESSION_COOKIE, "", "/", 0);
    ([(header::SET_COOKIE, clear)], Redirect::to(&format!("{}/", dashboard.base()))).into_response()
}
