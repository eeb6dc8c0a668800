//! What a member can learn about how Tomori is set up here (`/tool status`, `/tool ping`), and
//! the masking every view of a prompt passes through.
//!
//! Status shows key labels and endpoint URLs to managers only; other members see whether a
//! model is configured and how many keys and endpoints there are.

use std::time::Instant;

use tomori_core::settings::Feature;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{Store, endpoints, models, settings};

use crate::access::{AdminError, Need, authorize, tenant};
use crate::answer::Answer;
use crate::caller::Caller;

/// Replaces what looks like a credential with `[redacted]`: words with a provider key prefix,
/// and long runs of letters and digits mixed (tokens, keys) that no prose contains.
pub fn redact_secrets(text: &str) -> String {
    const PREFIXES: &[&str] =
        &["sk-", "sk_", "AIza", "xai-", "gsk_", "pplx-", "ghp_", "github_pat_", "xoxb-", "xoxp-"];
    let looks_secret = |word: &str| {
        let token = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        let long_mixed = token.len() >= 32
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && token.bytes().any(|b| b.is_ascii_digit())
            && token.bytes().any(|b| b.is_ascii_alphabetic());
        (token.len() >= 12 && PREFIXES.iter().any(|p| token.starts_with(p))) || long_mixed
    };
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let words: Vec<String> = line
            .split(' ')
            .map(|word| if looks_secret(word) { "[redacted]".to_owned() } else { word.to_owned() })
            .collect();
        out.push_str(&words.join(" "));
    }
    out
}

/// `/tool status`: the model, keys and features in use here.
///
/// # Errors
/// A refusal (outside a server), or the store failing.
pub async fn status(store: &Store, caller: &Caller) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    let manager = caller.grants.manage_server;
    let settings = settings::get(store, scope).await?;
    let mut lines = Vec::new();
    match models::get(store, scope).await? {
        Some(model) if manager => lines.push(format!(
            "Model: `{}/{}`{}",
            model.provider,
            model.model,
            if model.fallback.is_empty() {
                String::new()
            } else {
                format!(", then {}", model.fallback.join(", "))
            }
        )),
        Some(_) => lines.push("Model: chosen by this server's admins".to_owned()),
        None => lines.push("Model: the instance default".to_owned()),
    }
    let keys = credentials::list(store, scope, KeyOwner::Server).await?;
    let endpoints = endpoints::list(store, scope, KeyOwner::Server).await?;
    // Security: configuration disclosure to members. Key labels and endpoint URLs are
    // for managers; members see counts.
    if manager {
        let labels: Vec<String> =
            keys.iter().map(|k| format!("{} · {}", k.provider, k.label)).collect();
        lines.push(format!(
            "Keys: {}",
            if labels.is_empty() { "none".to_owned() } else { labels.join(", ") }
        ));
        for e in &endpoints {
            lines.push(format!("Endpoint `custom:{}`: {} at <{}>", e.label, e.model, e.base_url));
        }
    } else {
        lines.push(format!("Keys: {} · endpoints: {}", keys.len(), endpoints.len()));
    }
    let on: Vec<&str> =
        Feature::ALL.iter().filter(|f| settings.feature(**f)).map(|f| f.name()).collect();
    lines.push(format!("Features on: {}", on.join(", ")));
    Ok(Answer::text(lines.join("\n")))
}

/// `/tool ping`: whether Tomori and its database answer, and how fast.
///
/// # Errors
/// A refusal (outside a server), or the store failing.
pub async fn ping(store: &Store, caller: &Caller) -> Result<Answer, AdminError> {
    authorize(store, caller, Need::Member, false).await?;
    let scope = tenant(store, caller).await?;
    let started = Instant::now();
    settings::get(store, scope).await?;
    Ok(Answer::text(format!(
        "Pong. The database answered in {} ms.",
        started.elapsed().as_millis()
    )))
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn credentials_are_masked_and_prose_is_not() {
        let text = "my key is sk-or-v1-0123456789abcdef, and\ntoken ghp_abcdefghijklmnop1234 ok";
        assert_eq!(redact_secrets(text), "my key is [redacted] and\ntoken [redacted] ok");
        let hex = "a3f9c2e1b7d84a6f9e0c1b2a3d4e5f60718293a4";
        assert_eq!(redact_secrets(&format!("id {hex}")), "id [redacted]");
        let prose = "Supercalifragilisticexpialidocious and sk-short are fine, as is 2026-11-24.";
        assert_eq!(redact_secrets(prose), prose);
    }
}
