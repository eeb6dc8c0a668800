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
