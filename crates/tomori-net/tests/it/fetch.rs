//! The client against misbehaving loopback servers: redirects into refused addresses, credentials
//! across origins, lying lengths, trickles, bombs, and a resolver that changes its answer.
//!
//! Test servers listen on 127.0.0.2, the one address the test policy allows, so every other
//! loopback address (127.0.0.1, `[::ffff:7f00:1]`) is as refused as it is in production.

use std::io::Write;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::dns::{Name, Resolve};
use tomori_net::{
    CheckedResolver, Client, FetchError, Limits, Policy, Redirects, Scope, StatusCode,
    find_refusal, install_crypto_provider,
};

use crate::support::{
    Recorded, Reply, SERVER_IP, ScriptedLookup, TestServer, chunked, ip, redirect, response,
};

fn test_policy(scope: Scope) -> Policy {
    Policy::new(scope).allow_loopback_address_for_tests(SERVER_IP)
}

fn client() -> Client {
    install_crypto_provider();
    Client::new(test_policy(Scope::Tool)).unwrap()
}

fn ok_text(body: &'static str) -> impl Fn(&Recorded, u16) -> Reply + Send + Sync + 'static {
    move |_, _| response(200, &[("Content-Type", "text/plain")], body.as_bytes())
}

fn code<T: std::fmt::Debug>(result: Result<T, FetchError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(FetchError::BlockedByPolicy(refusal)) => {
            format!("blocked_by_policy {}", refusal.code())
        }
        Err(error) => error.code().to_owned(),
    }
}

#[tokio::test]
async fn refuses_redirects_into_loopback_and_metadata() {
    // A server on 127.0.0.1 that must never be reached, to catch a redirect that got through.
    let forbidden = TestServer::start(ip("127.0.0.1"), ok_text("internal secret")).await;
    let port = forbidden.addr.port();
    let targets = [
        (format!("http://127.0.0.1:{port}/admin"), "blocked_by_policy loopback"),
        (format!("http://[::ffff:7f00:1]:{port}/admin"), "blocked_by_policy loopback"),
        (format!("http://2130706433:{port}/admin"), "blocked_by_policy loopback"),
        (format!("http://localhost:{port}/admin"), "blocked_by_policy loopback"),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), "blocked_by_policy cloud_metadata"),
        ("http://[fd00:ec2::254]/latest/".to_owned(), "blocked_by_policy cloud_metadata"),
        ("file:///etc/passwd".to_owned(), "blocked_by_policy unsupported_scheme"),
    ];
    let client = client();
    for (target, expected) in targets {
        let location = target.clone();
        let server = TestServer::start(SERVER_IP, move |_, _| redirect(302, &location)).await;
        let result = client.get(&server.url("/start")).send().await;
        assert_eq!(code(result.map(|r| r.status())), expected, "redirect to {target}");
        assert_eq!(server.requests().len(), 1);
    }
    assert!(forbidden.requests().is_empty(), "a refused redirect reached 127.0.0.1");
}

#[tokio::test]
async fn refuses_ip_literal_urls_before_connecting() {
    let forbidden = TestServer::start(ip("127.0.0.1"), ok_text("internal secret")).await;
    let port = forbidden.addr.port();
    let client = client();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://017700000001:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
    ] {
        let result = client.get(&url).send().await;
        assert_eq!(code(result.map(|r| r.status())), "blocked_by_policy loopback", "{url}");
    }
    assert!(forbidden.requests().is_empty());
}

#[tokio::test]
async fn the_shared_reqwest_client_checks_the_peer_of_every_connection() {
    let forbidden = TestServer::start(ip("127.0.0.1"), ok_text("internal secret")).await;
    let allowed = TestServer::start(SERVER_IP, ok_text("fine")).await;
    let http = client().reqwest_client();

    // An IP literal skips the resolver, so only the connect-time check stands between a library
    // using this client and the forbidden server. It refuses before a request is written.
    let error = http.get(forbidden.url("/")).send().await.unwrap_err();
    let refusal = find_refusal(&error).expect("a policy refusal in the error chain");
    assert_eq!(refusal.code(), "loopback");
    assert!(forbidden.requests().is_empty());

    let body = http.get(allowed.url("/")).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "fine");
    // No redirects are followed by the shared client either.
    let redirecting =
        TestServer::start(SERVER_IP, |_, _| redirect(302, "http://127.0.0.2:1/")).await;
    let status = http.get(redirecting.url("/")).send().await.unwrap().status();
    assert_eq!(status, StatusCode::FOUND);
}

#[tokio::test]
async fn drops_credentials_on_a_cross_origin_redirect_and_never_reattaches_them() {
    let landing = TestServer::start(SERVER_IP, ok_text("landed")).await;
    let landing_url = landing.url("/landing");
    // First origin: /start redirects to itself (same origin), /same goes to the other origin,
    // /back comes home after the other origin sent us back.
    let origin = TestServer::start(SERVER_IP, move |request, _| match request.path.as_str() {
        "/start" => redirect(307, "/same"),
        "/same" => redirect(302, &landing_url),
        _ => response(200, &[], b"home"),
    })
    .await;
    let download = client()
        .get(&origin.url("/start"))
        .bearer_auth("sk-live-1234")
        .secret_header("x-custom-token", "hunter2")
        .header("cookie", "session=abc")
        .header("x-api-key", "key-1")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-trace", "trace-1")
        .download()
        .await
        .unwrap();
    assert_eq!(&download.bytes[..], b"landed");
    assert_eq!(download.final_url.as_str(), landing.url("/landing"));

    let first = origin.requests();
    assert_eq!(first.len(), 2, "{first:?}");
    for request in &first {
        // Same-origin hops keep them.
        assert_eq!(request.header("authorization"), Some("Bearer sk-live-1234"));
        assert_eq!(request.header("x-custom-token"), Some("hunter2"));
    }
    let second = landing.requests();
    assert_eq!(second.len(), 1);
    for secret in ["authorization", "x-custom-token", "cookie", "x-api-key", "proxy-authorization"]
    {
        assert_eq!(second[0].header(secret), None, "{secret} crossed origins");
    }
    assert_eq!(second[0].header("x-trace"), Some("trace-1"));

    // Out to another origin and back again: the secrets stay gone.
    let bounce = TestServer::start(SERVER_IP, |request, _| {
        let (_, to) = request.path.split_once("?to=").unwrap();
        redirect(302, to)
    })
    .await;
    let bounce_url = bounce.url("/bounce?to=");
    let home = TestServer::start(SERVER_IP, move |request, port| match request.path.as_str() {
        "/start" => redirect(302, &format!("{bounce_url}http://127.0.0.2:{port}/back")),
        _ => response(200, &[], b"home"),
    })
    .await;
    let result = client().get(&home.url("/start")).bearer_auth("sk-live-1234").download().await;
    assert_eq!(code(result.map(|d| d.bytes)), "ok b\"home\"");
    let home_requests = home.requests();
    let seen: Vec<(&str, Option<&str>)> =
        home_requests.iter().map(|r| (r.path.as_str(), r.header("authorization"))).collect();
    assert_eq!(seen, [("/start", Some("Bearer sk-live-1234")), ("/back", None)]);
    assert_eq!(bounce.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn rewrites_methods_on_redirect_as_browsers_do() {
    let server = TestServer::start(SERVER_IP, |request, _| match request.path.as_str() {
        "/303" => redirect(303, "/done"),
        "/302" => redirect(302, "/done"),
        "/301" => redirect(301, "/done"),
        "/307" => redirect(307, "/done"),
        "/308" => redirect(308, "/done"),
        _ => response(200, &[], b"done"),
    })
    .await;
    let client = client();
    let mut seen = Vec::new();
    for status in ["303", "302", "301", "307", "308"] {
        let answer = client
            .post_json(&server.url(&format!("/{status}")), &serde_json::json!({"q": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let last = server.requests().pop().unwrap();
        seen.push(format!(
            "{status}: {} body={} content-type={:?}",
            last.method,
            String::from_utf8_lossy(&last.body),
            last.header("content-type")
        ));
    }
    expect_test::expect![[r#"
        303: GET body= content-type=None
        302: GET body= content-type=None
        301: GET body= content-type=None
        307: POST body={"q":1} content-type=Some("application/json")
        308: POST body={"q":1} content-type=Some("application/json")"#]]
    .assert_eq(&seen.join("\n"));
}

#[tokio::test]
async fn follows_at_most_three_redirects_and_honours_refuse_and_return() {
    let server = TestServer::start(SERVER_IP, |request, _| {
        let hop: u32 = request.path.trim_start_matches("/hop").parse().unwrap_or(0);
        redirect(302, &format!("/hop{}", hop + 1))
    })
    .await;
    let client = client();
    let result = client.get(&server.url("/hop0")).send().await;
    assert_eq!(code(result.map(|r| r.status())), "too_many_redirects");
    assert_eq!(server.requests().len(), 4, "the first request and three hops");

    let result = client.get(&server.url("/hop0")).redirects(Redirects::Refuse).send().await;
    match result {
        Err(FetchError::RedirectRefused { location }) => assert_eq!(location, "/hop1"),
        other => panic!("expected redirect_refused, got {other:?}"),
    }
    let returned =
        client.get(&server.url("/hop0")).redirects(Redirects::Return).send().await.unwrap();
    assert_eq!(returned.status(), StatusCode::FOUND);
    assert_eq!(returned.headers()["location"], "/hop1");
}

#[tokio::test]
async fn never_trusts_content_length() {
    let big = vec![b'a'; 256 * 1024];
    let limits = Limits::default().with_max_bytes(64 * 1024);
    let client = client();

    // Chunked: no length at all.
    let body = chunked(&big, 8192);
    let server = TestServer::start(SERVER_IP, move |_, _| {
        response(200, &[("Transfer-Encoding", "chunked")], &body)
    })
    .await;
    let result = client.safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "too_large");

    // Close-delimited: HTTP/1.0 style, the body ends when the connection does.
    let body = big.clone();
    let server = TestServer::start(SERVER_IP, move |_, _| {
        let mut raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        raw.extend_from_slice(&body);
        Reply::Raw(raw)
    })
    .await;
    let result = client.safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "too_large");

    // Claims a small length but frames the body as a huge chunked stream.
    let body = chunked(&big, 8192);
    let server = TestServer::start(SERVER_IP, move |_, _| {
        response(200, &[("Content-Length", "10"), ("Transfer-Encoding", "chunked")], &body)
    })
    .await;
    let result = client.safe_download(&server.url("/"), &limits).await;
    let outcome = code(result.map(|d| d.bytes.len()));
    assert!(outcome == "too_large" || outcome == "transport", "got {outcome}");

    // Claims a small length and sends more: only the announced bytes are read.
    let body = big.clone();
    let server =
        TestServer::start(SERVER_IP, move |_, _| response(200, &[("Content-Length", "10")], &body))
            .await;
    let result = client.safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "ok 10");

    // Announces more than the cap: refused before reading.
    let server = TestServer::start(SERVER_IP, |_, _| {
        response(200, &[("Content-Length", "10737418240")], b"tiny")
    })
    .await;
    let result = client.safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "too_large");
}

#[tokio::test]
async fn a_trickling_server_hits_the_wall_clock_timeout() {
    let server = TestServer::start(SERVER_IP, |_, _| Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n".to_vec(),
        interval: Duration::from_millis(50),
        count: 200,
    })
    .await;
    let limits = Limits::default().with_timeout(Duration::from_millis(600));
    let started = Instant::now();
    let result = client().safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    let server = TestServer::start(SERVER_IP, |_, _| Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n".to_vec(),
        interval: Duration::from_secs(5),
        count: 1,
    })
    .await;
    let limits = Limits::default().with_idle_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let result = client().get(&server.url("/")).limits(limits).download().await;
    match result {
        Err(FetchError::Timeout(fired)) => assert_eq!(fired, Duration::from_millis(300)),
        other => panic!("expected the idle timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn stops_a_gzip_bomb_at_the_decoded_cap() {
    let bomb = gzip(&vec![0_u8; 64 << 20]);
    assert!(bomb.len() < 128 << 10, "bomb is {} bytes", bomb.len());
    let server = TestServer::start(SERVER_IP, move |request, _| {
        assert!(request.header("accept-encoding").unwrap_or_default().contains("gzip"));
        response(200, &[("Content-Encoding", "gzip")], &bomb)
    })
    .await;
    let limits = Limits::default().with_max_bytes(1 << 20);
    let result = client().safe_download(&server.url("/"), &limits).await;
    assert_eq!(code(result.map(|d| d.bytes.len())), "too_large");

    // The same encoding with an honest body decodes.
    let honest = gzip(b"hello, compressed world");
    let server = TestServer::start(SERVER_IP, move |_, _| {
        response(200, &[("Content-Encoding", "gzip"), ("Content-Type", "text/plain")], &honest)
    })
    .await;
    let download = client().safe_download(&server.url("/"), &limits).await.unwrap();
    assert_eq!(download.text(), "hello, compressed world");
}

#[tokio::test]
async fn the_resolver_judges_every_answer_it_gives() {
    // First answer public, second private: each lookup is judged on its own, so a name that
    // passed once is refused the moment it rebinds. Nothing connects here.
    let lookup = ScriptedLookup::new(vec![vec![ip("93.184.216.34")], vec![ip("10.0.0.1")]]);
    let resolver = CheckedResolver::new(Policy::new(Scope::Tool), lookup.clone());
    let first: Vec<SocketAddr> =
        resolver.resolve(Name::from_str("rebind.example").unwrap()).await.unwrap().collect();
    assert_eq!(first, [SocketAddr::new(ip("93.184.216.34"), 0)]);
    let second = resolver.resolve(Name::from_str("rebind.example").unwrap()).await;
    let error = second.err().expect("the private answer must be refused");
    assert_eq!(error.to_string(), "refused by URL policy: private (rebind.example -> 10.0.0.1)");
    assert_eq!(lookup.calls(), ["rebind.example", "rebind.example"]);

    // A mixed answer is refused whole, not filtered.
    let lookup = ScriptedLookup::new(vec![vec![ip("93.184.216.34"), ip("169.254.169.254")]]);
    let resolver = CheckedResolver::new(Policy::new(Scope::Tool), lookup);
    let error = resolver.resolve(Name::from_str("mixed.example").unwrap()).await.err().unwrap();
    assert!(error.to_string().contains("cloud_metadata"), "{error}");
}

#[tokio::test]
async fn a_rebinding_name_is_refused_on_the_next_connection() {
    let server = TestServer::start(SERVER_IP, ok_text("first")).await;
    // The first connection sees an allowed address; the server closes the connection, so the
    // second request resolves again and gets a private address first in line.
    let lookup = ScriptedLookup::new(vec![vec![SERVER_IP], vec![SERVER_IP, ip("10.0.0.1")]]);
    let client = Client::builder(test_policy(Scope::Tool)).lookup(lookup.clone()).build().unwrap();
    let url = format!("http://rebind.example:{}/", server.addr.port());
    let first = client.get(&url).download().await.unwrap();
    assert_eq!(&first.bytes[..], b"first");
    let second = client.get(&url).download().await;
    assert_eq!(code(second.map(|d| d.bytes)), "blocked_by_policy private");
    assert_eq!(lookup.calls().len(), 2);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn downloads_check_status_and_content_type() {
    let server = TestServer::start(SERVER_IP, |request, _| match request.path.as_str() {
        "/missing" => response(404, &[("Content-Type", "text/html")], b"nope"),
        "/page" => response(200, &[("Content-Type", "text/html; charset=utf-8")], b"<p>hi</p>"),
        _ => response(200, &[("Content-Type", "Image/PNG")], b"\x89PNG"),
    })
    .await;
    let client = client();
    let images = Limits::default().with_content_types(&["image/*"]);
    let result = client.safe_download(&server.url("/missing"), &images).await;
    assert_eq!(code(result.map(|d| d.bytes)), "bad_status");
    let result = client.safe_download(&server.url("/page"), &images).await;
    assert_eq!(code(result.map(|d| d.bytes)), "content_type");
    let download = client.safe_download(&server.url("/image"), &images).await.unwrap();
    assert_eq!(download.content_type.as_deref(), Some("Image/PNG"));
    assert_eq!(download.status, StatusCode::OK);
    let html = Limits::default().with_content_types(&["text/html"]);
    let page = client.safe_download(&server.url("/page"), &html).await.unwrap();
    assert_eq!(page.text(), "<p>hi</p>");
}

#[tokio::test]
async fn streams_a_long_body_in_chunks_under_the_caps() {
    let events: String = (0..50).map(|n| format!("data: event {n}\n\n")).collect();
    let body = chunked(events.as_bytes(), 64);
    let server = TestServer::start(SERVER_IP, move |request, _| {
        assert_eq!(request.header("x-api-key"), Some("key-1"));
        response(
            200,
            &[("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")],
            &body,
        )
    })
    .await;
    let streaming = client()
        .post_json(&server.url("/v1/chat"), &serde_json::json!({"stream": true}))
        .secret_header("x-api-key", "key-1")
        .send()
        .await
        .unwrap();
    let chunks: Vec<_> = streaming.into_stream().collect().await;
    let text: String = chunks
        .into_iter()
        .map(|chunk| String::from_utf8(chunk.unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(text, events);

    let body = chunked(events.as_bytes(), 64);
    let server = TestServer::start(SERVER_IP, move |_, _| {
        response(200, &[("Transfer-Encoding", "chunked")], &body)
    })
    .await;
    let limits = Limits::default().with_max_bytes(256);
    let capped = client().get(&server.url("/")).limits(limits).send().await.unwrap();
    let results: Vec<_> = capped.into_stream().collect().await;
    let last = results.last().unwrap();
    assert!(matches!(last, Err(FetchError::TooLarge { limit: 256 })), "{last:?}");
}

#[tokio::test]
async fn personal_and_media_scopes_need_https_even_in_tests_without_an_allowance() {
    install_crypto_provider();
    let server = TestServer::start(SERVER_IP, ok_text("x")).await;
    for scope in [Scope::Personal, Scope::Media] {
        let client = Client::new(Policy::new(scope)).unwrap();
        let result = client.get(&server.url("/")).send().await;
        assert_eq!(code(result.map(|r| r.status())), "blocked_by_policy insecure_scheme");
    }
    assert!(server.requests().is_empty());
}

#[test]
fn builder_mistakes_surface_at_send() {
    let client = client();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result =
        runtime.block_on(client.get("http://127.0.0.2:1/").header("bad header", "x").send());
    assert_eq!(code(result.map(|r| r.status())), "invalid_request");
    let result = runtime.block_on(client.get("not a url").send());
    assert_eq!(code(result.map(|r| r.status())), "blocked_by_policy invalid_url");
    // Secrets stay out of Debug output.
    let debug = format!("{:?}", client.get("https://example.com/").bearer_auth("sk-live-1234"));
    assert!(!debug.contains("sk-live-1234"), "{debug}");
}
