//! Server-side sessions: the browser holds only a random id in a cookie; who the member is, their
//! Discord access token and the form tokens they were given stay in this process.
//!
//! Kept in memory, not in the database: a session is worth less than the cost of a table that
//! every page view writes, and a restart signing members out is the safe failure. The maps are
//! bounded (the oldest entries go first), so a flood of logins cannot grow the process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use tomori_core::id::Snowflake;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "tomori_session";
/// The cookie that ties a login's `state` to the browser that started it.
pub(crate) const LOGIN_COOKIE: &str = "tomori_login";

/// How long a login may take between leaving for Discord and coming back.
pub(crate) const LOGIN_TTL: Duration = Duration::from_secs(600);
/// A session unused this long is gone.
const IDLE_TTL: Duration = Duration::from_secs(2 * 3600);
/// A session older than this is gone, used or not.
const ABSOLUTE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Sessions and logins kept at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;
const MAX_LOGINS: usize = 1_000;
/// Form tokens a session holds at once (one per page shown); the oldest go first.
const MAX_FORM_TOKENS: usize = 32;

/// A login on its way through Discord: the `state` it sent and the PKCE verifier it keeps.
#[derive(Debug)]
pub(crate) struct Login {
    pub(crate) state: String,
    pub(crate) verifier: String,
    started: Instant,
}

/// A signed-in member.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) user: Snowflake,
    pub(crate) name: String,
    pub(crate) access_token: SecretString,
    form_tokens: VecDeque<String>,
    flash: Option<Flash>,
    created: Instant,
    last_seen: Instant,
}

/// A one-time message for the next page: what an action answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flash {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

/// Who a request's session belongs to, copied out of the map.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) user: Snowflake,
    pub(crate) name: String,
    pub(crate) access_token: SecretString,
}

/// Every session and login of this process.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    logins: Mutex<HashMap<String, Login>>,
}

/// 32 bytes from the operating system's generator, base64url: unguessable ids and tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    // Security: session fixation and CSRF. Ids and tokens come from the OS generator; when it
    // fails there is no safe fallback, so the id is left empty and every check refuses it.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge for `verifier`.
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Equal in time independent of where the strings differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves maps that are still consistent (every change is one
    // insert or remove), so a poisoned lock is used as it is.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn evict_oldest<V>(map: &mut HashMap<String, V>, max: usize, age: impl Fn(&V) -> Instant) {
    while map.len() >= max {
        let Some(oldest) = map.iter().min_by_key(|(_, v)| age(v)).map(|(k, _)| k.clone()) else {
            return;
        };
        map.remove(&oldest);
    }
}

impl Sessions {
    /// Starts a login; returns the id its cookie carries, the `state` to send and the PKCE
    /// verifier to keep.
    pub(crate) fn start_login(&self) -> (String, String, String) {
        let id = random_token();
        let login =
            Login { state: random_token(), verifier: random_token(), started: Instant::now() };
        let (state, verifier) = (login.state.clone(), login.verifier.clone());
        let mut logins = lock(&self.logins);
        logins.retain(|_, l| l.started.elapsed() < LOGIN_TTL);
        evict_oldest(&mut logins, MAX_LOGINS, |l| l.started);
        logins.insert(id.clone(), login);
        (id, state, verifier)
    }

    /// Takes the login whose cookie is `id`, once: a second callback with it finds nothing.
    pub(crate) fn take_login(&self, id: &str) -> Option<Login> {
        let login = lock(&self.logins).remove(id)?;
        (login.started.elapsed() < LOGIN_TTL).then_some(login)
    }

    /// A new session for a member who just signed in; `previous` (the session cookie the browser
    /// came with, if any) ends, so the id always changes at login.
    pub(crate) fn create(
        &self,
        previous: Option<&str>,
        user: Snowflake,
        name: String,
        access_token: SecretString,
    ) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        if let Some(previous) = previous {
            sessions.remove(previous);
        }
        sessions.retain(|_, s| fresh(s));
        evict_oldest(&mut sessions, MAX_SESSIONS, |s| s.last_seen);
        let session = Session {
            user,
            name,
            access_token,
            form_tokens: VecDeque::new(),
            flash: None,
            created: now,
            last_seen: now,
        };
        sessions.insert(id.clone(), session);
        id
    }

    /// The member behind session `id`, when it is current.
    pub(crate) fn member(&self, id: &str) -> Option<Member> {
        if id.is_empty() {
            return None;
        }
        let mut sessions = lock(&self.sessions);
        let session = sessions.get_mut(id)?;
        if !fresh(session) {
            sessions.remove(id);
            return None;
        }
        session.last_seen = Instant::now();
        Some(Member {
            id: id.to_owned(),
            user: session.user,
            name: session.name.clone(),
            access_token: session.access_token.clone(),
        })
    }

    /// Ends session `id`.
    pub(crate) fn end(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    /// A new form token for a page shown to session `id`; every form on that page carries it.
    pub(crate) fn form_token(&self, id: &str) -> String {
        let token = random_token();
        if let Some(session) = lock(&self.sessions).get_mut(id) {
            if session.form_tokens.len() >= MAX_FORM_TOKENS {
                session.form_tokens.pop_front();
            }
            session.form_tokens.push_back(token.clone());
        }
        token
    }

    /// Uses up `token` of session `id`: true once for a token the session was given, false for
    /// any other and for the same token again.
    pub(crate) fn spend_form_token(&self, id: &str, token: &str) -> bool {
        let mut sessions = lock(&self.sessions);
        let Some(session) = sessions.get_mut(id) else {
            return false;
        };
        match session.form_tokens.iter().position(|t| same(t, token)) {
            Some(at) if !token.is_empty() => {
                session.form_tokens.remove(at);
                true
            }
            _ => false,
        }
    }

    /// Leaves `flash` for the next page session `id` shows.
    pub(crate) fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(session) = lock(&self.sessions).get_mut(id) {
            session.flash = Some(flash);
        }
    }

    /// Takes the message left for this page, if any.
    pub(crate) fn take_flash(&self, id: &str) -> Option<Flash> {
        lock(&self.sessions).get_mut(id)?.flash.take()
    }
}

fn fresh(session: &Session) -> bool {
    session.created.elapsed() < ABSOLUTE_TTL && session.last_seen.elapsed() < IDLE_TTL
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(sessions: &Sessions) -> String {
        sessions.create(None, Snowflake::new(5).unwrap(), "ann".into(), SecretString::from("t"))
    }

    #[test]
    fn a_form_token_works_once_and_only_for_its_session() {
        let sessions = Sessions::default();
        let (a, b) = (member(&sessions), member(&sessions));
        let token = sessions.form_token(&a);
        assert!(!sessions.spend_form_token(&b, &token), "another session's token");
        assert!(sessions.spend_form_token(&a, &token));
        assert!(!sessions.spend_form_token(&a, &token), "a replayed token");
        assert!(!sessions.spend_form_token(&a, ""), "an empty token");
    }

    #[test]
    fn logging_in_again_ends_the_previous_session() {
        let sessions = Sessions::default();
        let first = member(&sessions);
        let second = sessions.create(
            Some(&first),
            Snowflake::new(5).unwrap(),
            "ann".into(),
            SecretString::from("t"),
        );
        assert_ne!(first, second);
        assert!(sessions.member(&first).is_none());
        assert!(sessions.member(&second).is_some());
    }

    #[test]
    fn a_login_is_taken_once() {
        let sessions = Sessions::default();
        let (id, _, _) = sessions.start_login();
        assert!(sessions.take_login(&id).is_some());
        assert!(sessions.take_login(&id).is_none());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = Some("a=1; tomori_session=xyz; tomori_session_x=no");
        assert_eq!(cookie(header, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(header, "tomori"), None);
        assert_eq!(cookie(None, SESSION_COOKIE), None);
    }

    #[test]
    fn the_challenge_is_unpadded_base64url_of_the_verifiers_sha256() {
        // The expected value was computed with Python's hashlib and base64, independently.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wJ1gM0o8SkqM"),
            "ECnpORT2y8f0dUrH9j8LGzcXzYNESgtLHfOWpsIEaGo"
        );
    }
}
