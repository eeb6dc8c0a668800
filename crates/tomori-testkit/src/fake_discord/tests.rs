use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// `POST /api/v10/{path}` with the bot token over a fresh connection; the status and the
/// `x-ratelimit-reset-after` header.
async fn post(fake: &FakeDiscord, path: &str) -> (u16, Option<String>) {
    let mut stream = tokio::net::TcpStream::connect(fake.addr()).await.expect("connect");
    let body = r#"{"content":"hello"}"#;
    let request = format!(
        "POST /api/v10/{path} HTTP/1.1\r\nHost: fake\r\nAuthorization: Bot {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.token(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let reset = response
        .lines()
        .find_map(|line| line.strip_prefix("x-ratelimit-reset-after: ").map(str::to_owned));
    (status, reset)
}

#[tokio::test]
async fn a_burst_of_429s_lasts_its_time_and_is_counted() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(1, 2);
    fake.rate_limit_for(
        "POST",
        "channels/*/messages",
        Duration::from_millis(300),
        Duration::from_secs(1),
    );
    for _ in 0..3 {
        assert_eq!(
            post(&fake, "channels/2/messages").await,
            (429, Some("1.000".to_owned())),
            "every request in the burst"
        );
    }
    assert_eq!(post(&fake, "channels/2/typing").await.0, 204, "other routes are not limited");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(post(&fake, "channels/2/messages").await.0, 200, "the burst is over");
    assert_eq!(fake.status_count(429), 3);
    let sent = fake.messages();
    assert_eq!(sent.len(), 1);
    assert!(sent.iter().all(|m| m.content == "hello"));
}

#[test]
fn routes_match_by_segment() {
    assert!(route_matches("channels/*/messages", "channels/1/messages"));
    assert!(!route_matches("channels/*/messages", "channels/1/messages/2"));
    assert!(!route_matches("channels/*", "channels/1/typing"));
    assert!(route_matches("webhooks/*/*", "webhooks/1/abc"));
}

mod oauth {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::http::{Reply, send};

    const REDIRECT: &str = "http://127.0.0.1:9/login/callback";
    const ALICE: u64 = 700_000_000_000_000_001;

    fn challenge(verifier: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
    }

    /// The consent page's redirect for a PKCE request; the code it carries.
    async fn code(fake: &FakeDiscord, verifier: &str) -> String {
        let path = format!(
            "/oauth2/authorize?response_type=code&client_id={}&scope=identify%20guilds&\
             redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Flogin%2Fcallback&state=a%20b&\
             code_challenge={}&code_challenge_method=S256",
            fake.oauth_client_id(),
            challenge(verifier)
        );
        let reply = send(fake.addr(), "GET", &path, &[], "").await.expect("an answer");
        assert_eq!(reply.status, 302, "{}", reply.body);
        let location = reply
            .headers
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .expect("a redirect")
            .to_owned();
        assert!(location.starts_with(&format!("{REDIRECT}?code=")), "{location}");
        assert!(location.ends_with("&state=a%20b"), "the state comes back: {location}");
        let code = location.split("code=").nth(1).unwrap_or_default();
        code.split('&').next().unwrap_or_default().to_owned()
    }

    async fn exchange(fake: &FakeDiscord, code: &str, verifier: &str, redirect: &str) -> Reply {
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}\
             &client_id={}&client_secret={OAUTH_CLIENT_SECRET}",
            redirect.replace(':', "%3A").replace('/', "%2F"),
            fake.oauth_client_id()
        );
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        send(fake.addr(), "POST", "/api/v10/oauth2/token", &headers, &body).await.expect("answer")
    }

    #[tokio::test]
    async fn the_code_flow_checks_pkce_the_redirect_and_single_use_then_serves_the_member() {
        let fake = FakeDiscord::start().await;
        fake.add_guild(1, "Owned");
        fake.set_owner(1, ALICE);
        fake.add_guild(2, "Elsewhere");
        let nobody = send(fake.addr(), "GET", "/oauth2/authorize?response_type=code", &[], "")
            .await
            .expect("an answer");
        assert_eq!(nobody.status, 400, "{}", nobody.body);
        fake.oauth_sign_in(UserSpec::new(ALICE, "alice"));
        let verifier = "v".repeat(43);

        let burnt = code(&fake, &verifier).await;
        let wrong = exchange(&fake, &burnt, &"w".repeat(43), REDIRECT).await;
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("invalid_grant"), "{}", wrong.body);
        let again = exchange(&fake, &burnt, &verifier, REDIRECT).await;
        assert_eq!(again.status, 400, "a code works once, even after a failed try");

        let moved = code(&fake, &verifier).await;
        let elsewhere = exchange(&fake, &moved, &verifier, "http://127.0.0.1:9/other").await;
        assert_eq!(elsewhere.status, 400, "the redirect must match: {}", elsewhere.body);

        let good = code(&fake, &verifier).await;
        let token = exchange(&fake, &good, &verifier, REDIRECT).await;
        assert_eq!(token.status, 200, "{}", token.body);
        let json: Value = serde_json::from_str(&token.body).expect("JSON");
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["scope"], "identify guilds");
        let access = json["access_token"].as_str().expect("a token").to_owned();
        assert_eq!(exchange(&fake, &good, &verifier, REDIRECT).await.status, 400, "once");

        let bearer = format!("Bearer {access}");
        let auth = [("Authorization", bearer.as_str())];
        let me = send(fake.addr(), "GET", "/api/v10/users/@me", &auth, "").await.expect("me");
        assert_eq!(me.status, 200);
        assert!(me.body.contains(&ALICE.to_string()), "{}", me.body);
        let guilds =
            send(fake.addr(), "GET", "/api/v10/users/@me/guilds", &auth, "").await.expect("guilds");
        let list: Value = serde_json::from_str(&guilds.body).expect("JSON");
        let names: Vec<&str> =
            list.as_array().expect("a list").iter().filter_map(|g| g["name"].as_str()).collect();
        assert_eq!(names, ["Owned"], "only the member's guilds");
        assert_eq!(list[0]["owner"], true);
        let forged = [("Authorization", "Bearer fake-access-999")];
        let refused = send(fake.addr(), "GET", "/api/v10/users/@me", &forged, "").await;
        assert_eq!(refused.expect("an answer").status, 401);
    }

    #[tokio::test]
    async fn a_wrong_client_secret_is_an_invalid_client() {
        let fake = FakeDiscord::start().await;
        fake.oauth_sign_in(UserSpec::new(ALICE, "alice"));
        let verifier = "v".repeat(43);
        let code = code(&fake, &verifier).await;
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&code_verifier=\
             {verifier}&client_id={}&client_secret=guessed",
            fake.oauth_client_id()
        );
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let reply = send(fake.addr(), "POST", "/api/v10/oauth2/token", &headers, &body).await;
        let reply = reply.expect("an answer");
        assert_eq!(reply.status, 401);
        assert!(reply.body.contains("invalid_client"), "{}", reply.body);
    }
}
