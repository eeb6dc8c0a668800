//! The dashboard's side of Discord's OAuth2 API: the authorization URL, the code exchange, who
//! the member is, and the servers they are in with their permissions there; and, with the bot's
//! token, the servers the bot is in. Requests go through tomori-net's client in the operator
//! scope: the base URL is the operator's `[discord] api_base`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tomori_admin::Grants;
use tomori_core::id::Snowflake;
use tomori_net::{Client, FetchError, Method, Policy, StatusCode, Url};

/// The scopes the dashboard asks for: who the member is and which servers they are in.
pub(crate) const SCOPES: &str = "identify guilds";

/// Discord's permission bits the dashboard reads.
const ADMINISTRATOR: u64 = 1 << 3;
const MANAGE_GUILD: u64 = 1 << 5;
const MANAGE_MESSAGES: u64 = 1 << 13;

/// How long the bot's server list is reused (it decides what is listed, never who may change
/// what).
const BOT_GUILDS_TTL: Duration = Duration::from_secs(60);

/// Why Discord did not answer as hoped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscordError {
    /// The request failed on the way.
    #[error("Discord could not be reached: {0}")]
    Fetch(#[from] FetchError),
    /// Discord answered with an error status.
    #[error("Discord answered {0}")]
    Status(StatusCode),
}

/// The member, as `/users/@me` describes them.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) username: String,
    pub(crate) global_name: Option<String>,
}

/// A server as `/users/@me/guilds` lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Guild {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) owner: bool,
    /// The member's permissions there, as a decimal string.
    #[serde(default)]
    pub(crate) permissions: Option<String>,
}

impl Guild {
    /// The id, when it is one.
    pub(crate) fn snowflake(&self) -> Option<Snowflake> {
        self.id.parse::<u64>().ok().and_then(|id| Snowflake::new(id).ok())
    }

    /// What the member may do there, as the admin layer reads it.
    pub(crate) fn grants(&self) -> Grants {
        let bits = self.permissions.as_deref().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
        let admin = self.owner || bits & ADMINISTRATOR != 0;
        Grants {
            manage_server: admin || bits & MANAGE_GUILD != 0,
            manage_messages: admin || bits & MANAGE_MESSAGES != 0,
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// The application's OAuth2 client and the bot's token.
pub(crate) struct DiscordApi {
    http: Client,
    api_base: Url,
    client_id: u64,
    client_secret: SecretString,
    bot_token: SecretString,
    bot_guilds: Mutex<Option<(Instant, Vec<Guild>)>>,
}

impl std::fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordApi")
            .field("api_base", &self.api_base.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl DiscordApi {
    /// A client for `api_base` (`https://discord.com/api/v10`).
    pub(crate) fn new(
        api_base: Url,
        client_id: u64,
        client_secret: SecretString,
        bot_token: SecretString,
    ) -> Result<Self, FetchError> {
        Ok(Self {
            http: Client::new(Policy::operator())?,
            api_base,
            client_id,
            client_secret,
            bot_token,
            bot_guilds: Mutex::new(None),
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base.as_str().trim_end_matches('/'))
    }

    /// Where the member's browser is sent to consent: the API's origin plus
    /// `/oauth2/authorize`, as Discord documents it.
    pub(crate) fn authorize_url(&self, redirect_uri: &str, state: &str, challenge: &str) -> String {
        let mut url = self.api_base.clone();
        url.set_path("/oauth2/authorize");
        url.set_query(None);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id.to_string())
            .append_pair("scope", SCOPES)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges `code` for the member's access token.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<SecretString, DiscordError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier)
            .finish();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.client_secret.expose_secret()
        ));
        let response = self
            .http
            .request(Method::POST, &self.api("oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .secret_header("authorization", format!("Basic {basic}"))
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(DiscordError::Status(response.status()));
        }
        let answer: TokenAnswer = response.json().await?;
        Ok(SecretString::from(answer.access_token))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        authorization: String,
    ) -> Result<T, DiscordError> {
        let response = self
            .http
            .request(Method::GET, &self.api(path))
            .secret_header("authorization", authorization)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(DiscordError::Status(response.status()));
        }
        Ok(response.json().await?)
    }

    /// Who the token's member is.
    pub(crate) async fn me(&self, token: &SecretString) -> Result<User, DiscordError> {
        self.get("users/@me", format!("Bearer {}", token.expose_secret())).await
    }

    /// The servers the member is in, with their permissions there, read now.
    pub(crate) async fn member_guilds(
        &self,
        token: &SecretString,
    ) -> Result<Vec<Guild>, DiscordError> {
        self.get("users/@me/guilds", format!("Bearer {}", token.expose_secret())).await
    }

    /// The servers the bot is in (reused for a minute).
    pub(crate) async fn bot_guilds(&self) -> Result<Vec<Guild>, DiscordError> {
        if let Some((at, guilds)) = &*lock(&self.bot_guilds)
            && at.elapsed() < BOT_GUILDS_TTL
        {
            return Ok(guilds.clone());
        }
        let guilds: Vec<Guild> =
            self.get("users/@me/guilds", format!("Bot {}", self.bot_token.expose_secret())).await?;
        *lock(&self.bot_guilds) = Some((Instant::now(), guilds.clone()));
        Ok(guilds)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guild(owner: bool, permissions: &str) -> Guild {
        Guild { id: "1".into(), name: "g".into(), owner, permissions: Some(permissions.into()) }
    }

    #[test]
    fn grants_follow_discords_permission_bits() {
        let none = Grants::default();
        let manager = Grants { manage_server: true, manage_messages: false };
        let all = Grants { manage_server: true, manage_messages: true };
        for (g, expected) in [
            (guild(false, "0"), none),
            (guild(false, "32"), manager),
            (guild(false, "8"), all),
            (guild(true, "0"), all),
            (guild(false, "8192"), Grants { manage_server: false, manage_messages: true }),
            (guild(false, "not a number"), none),
        ] {
            assert_eq!(g.grants(), expected, "{:?}", g.permissions);
        }
    }
}
