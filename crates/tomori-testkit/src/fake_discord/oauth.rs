//! Discord's OAuth2 authorization-code flow with PKCE, as a web dashboard's login uses it, so
//! that flow runs offline: `GET /oauth2/authorize` (the consent page, here answered at once for
//! the member a test signed in), `POST /api/v10/oauth2/token`, and `GET /api/v10/users/@me` and
//! `/users/@me/guilds` with the member's bearer token.
//!
//! What Discord enforces is enforced: the client id and secret, `response_type=code`, the
//! scopes asked for, a `redirect_uri` that the token request repeats exactly, codes that work
//! once and expire after ten minutes, and an S256 `code_challenge` that the `code_verifier` must
//! match; errors come in OAuth2's shape (`{"error", "error_description"}`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::{Duration, Instant};

use super::guild::percent_decode;
use super::payload::UserSpec;
use super::{FakeDiscord, Inner};

/// How long an authorization code works.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// How long an access token says it lasts (Discord's: a week).
const TOKEN_SECONDS: u64 = 604_800;

/// What the OAuth2 side of the fake holds.
#[derive(Debug, Default)]
pub(super) struct OAuth {
    /// The member the consent page answers for.
    signed_in: Option<UserSpec>,
    /// Unused codes: who, for which redirect, with which challenge and scopes, issued when.
    codes: BTreeMap<String, Grant>,
    /// Access tokens: who and which scopes.
    tokens: BTreeMap<String, (UserSpec, Vec<String>)>,
    issued: u64,
}

#[derive(Debug, Clone)]
struct Grant {
    user: UserSpec,
    redirect_uri: String,
    challenge: Option<String>,
    scopes: Vec<String>,
    at: Instant,
}

/// The client secret the fake's application has.
pub const CLIENT_SECRET: &str = "fake-client-secret";

impl FakeDiscord {
    /// Signs `user` in on the fake's consent page: `/oauth2/authorize` answers for them.
    pub fn oauth_sign_in(&self, user: UserSpec) {
        self.shared.lock().oauth.signed_in = Some(user);
    }

    /// The application's OAuth2 client id (its application id).
    pub fn oauth_client_id(&self) -> u64 {
        self.shared.settings.application
    }
}

/// A parsed `application/x-www-form-urlencoded` body or query string.
pub(super) fn form(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&key.replace('+', " ")), percent_decode(&value.replace('+', " ")))
        })
        .collect()
}

/// An OAuth2 error answer.
fn oauth_error(
    status: u16,
    error: &str,
    description: &str,
) -> (u16, Vec<(&'static str, String)>, Value) {
    (status, Vec::new(), json!({ "error": error, "error_description": description }))
}

/// `GET /oauth2/authorize?…`: a redirect to `redirect_uri` with a code and the state, or an
/// error page (400) for a request Discord would not show a consent page for.
pub(super) fn authorize(
    inner: &mut Inner,
    application: u64,
    query: &str,
) -> (u16, Vec<(&'static str, String)>, Value) {
    let params = form(query);
    let get = |key: &str| params.get(key).map(String::as_str);
    if get("client_id") != Some(application.to_string().as_str()) {
        return oauth_error(400, "invalid_client", "Unknown application");
    }
    if get("response_type") != Some("code") {
        return oauth_error(400, "unsupported_response_type", "Unsupported response type");
    }
    let scopes: Vec<String> =
        get("scope").unwrap_or_default().split(' ').map(str::to_owned).collect();
    if !scopes.iter().any(|s| s == "identify") {
        return oauth_error(400, "invalid_scope", "The identify scope is needed");
    }
    let Some(redirect_uri) = get("redirect_uri").filter(|u| !u.is_empty()) else {
        return oauth_error(400, "invalid_request", "Missing redirect_uri");
    };
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, _) => None,
        (Some(challenge), Some("S256")) => Some(challenge.to_owned()),
        (Some(_), _) => {
            return oauth_error(400, "invalid_request", "code_challenge_method must be S256");
        }
    };
    let Some(user) = inner.oauth.signed_in.clone() else {
        return oauth_error(401, "access_denied", "Nobody is signed in to the fake Discord");
    };
    inner.oauth.issued += 1;
    let code = format!("fake-code-{}", inner.oauth.issued);
    let grant = Grant {
        user,
        redirect_uri: redirect_uri.to_owned(),
        challenge,
        scopes,
        at: Instant::now(),
    };
    inner.oauth.codes.insert(code.clone(), grant);
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{separator}code={code}");
    if let Some(state) = get("state") {
        location.push_str(&format!("&state={}", encode(state)));
    }
    (302, vec![("location", location)], Value::Null)
}

/// Percent-encodes what a query value may not hold as it is.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `POST /oauth2/token` with `grant_type=authorization_code`: the access token for a code, once.
pub(super) fn token(
    inner: &mut Inner,
    application: u64,
    body: &str,
    basic: Option<&str>,
) -> (u16, Vec<(&'static str, String)>, Value) {
    let params = form(body);
    let get = |key: &str| params.get(key).map(String::as_str);
    // The client authenticates with HTTP Basic or in the body.
    let (id, secret) = match basic.and_then(decode_basic) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (get("client_id").map(str::to_owned), get("client_secret").map(str::to_owned)),
    };
    if id.as_deref() != Some(application.to_string().as_str())
        || secret.as_deref() != Some(CLIENT_SECRET)
    {
        return oauth_error(401, "invalid_client", "Invalid client");
    }
    if get("grant_type") != Some("authorization_code") {
        return oauth_error(400, "unsupported_grant_type", "Unsupported grant type");
    }
    let Some(grant) = get("code").and_then(|code| inner.oauth.codes.remove(code)) else {
        return oauth_error(400, "invalid_grant", "Invalid \"code\" in request.");
    };
    if grant.at.elapsed() > CODE_LIFETIME {
        return oauth_error(400, "invalid_grant", "Invalid \"code\" in request.");
    }
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return oauth_error(400, "invalid_grant", "Invalid \"redirect_uri\" in request.");
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = get("code_verifier").unwrap_or_default();
        let digest = Sha256::digest(verifier.as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        if &computed != challenge {
            return oauth_error(400, "invalid_grant", "Invalid \"code_verifier\"");
        }
    }
    inner.oauth.issued += 1;
    let access = format!("fake-access-{}", inner.oauth.issued);
    let scope = grant.scopes.join(" ");
    inner.oauth.tokens.insert(access.clone(), (grant.user, grant.scopes));
    let answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "refresh_token": format!("fake-refresh-{}", inner.oauth.issued),
        "scope": scope,
    });
    (200, Vec::new(), answer)
}

fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Who a bearer token belongs to, with its scopes.
pub(super) fn bearer(
    inner: &Inner,
    authorization: Option<&str>,
) -> Option<(UserSpec, Vec<String>)> {
    let token = authorization?.strip_prefix("Bearer ")?;
    inner.oauth.tokens.get(token).cloned()
}

/// `GET /users/@me/guilds` for `user`: the guilds they are a member of (or own), with their
/// permissions there as Discord computes them for the list (owner: all).
pub(super) fn guilds(inner: &Inner, user: &UserSpec) -> Value {
    let state = &inner.guild_state;
    let listed: Vec<Value> = inner
        .guilds
        .iter()
        .filter_map(|(id, name)| {
            let owner = state.owners.get(id) == Some(&user.id);
            let roles = state.members.get(&(*id, user.id));
            if !owner && roles.is_none() {
                return None;
            }
            let everyone = state.everyone.get(id).copied().unwrap_or(0);
            let granted = roles.into_iter().flatten().fold(everyone, |bits, role| {
                let role_bits = state.roles.get(id).into_iter().flatten().find(|(r, _)| r == role);
                bits | role_bits.map_or(0, |(_, p)| *p)
            });
            let permissions = if owner { u64::MAX >> 13 } else { granted };
            Some(json!({
                "id": id.to_string(),
                "name": name,
                "icon": null,
                "banner": null,
                "owner": owner,
                "permissions": permissions.to_string(),
                "features": [],
            }))
        })
        .collect();
    Value::Array(listed)
}
