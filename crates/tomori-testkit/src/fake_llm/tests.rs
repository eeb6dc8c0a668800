//! The fake model's own behaviour: its routes, bounds and connection handling.

use serde_json::json;

use super::*;

/// Sends one request with a JSON body over a fresh connection; returns the response's status
/// line, or `None` when the fake no longer accepts.
async fn post(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let body = r#"{"model":"m"}"#;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response));
    read.await.ok()?.ok()?;
    String::from_utf8_lossy(&response).lines().next().map(str::to_owned)
}

/// Sends `body` as JSON to `path` and returns the response body.
async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_kept_alive_connection_answers_one_request_after_another() {
    let llm = FakeLlm::builder(WireFormat::OpenAi).keep_alive(true).start().await;
    llm.push_turn(Turn::new().text("first"));
    llm.push_turn(Turn::new().text("second"));
    let mut stream = TcpStream::connect(llm.addr()).await.unwrap();
    let body = r#"{"model":"m","messages":[]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for expected in ["first", "second"] {
        stream.write_all(request.as_bytes()).await.unwrap();
        // One whole answer: the chunked body ends with its last, empty chunk.
        let mut answer = Vec::new();
        let mut buf = [0_u8; 4096];
        while !answer.ends_with(b"0\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the fake closed the connection");
            answer.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.contains("Connection: keep-alive") && text.contains(expected), "{text}");
    }
    assert_eq!(llm.requests().len(), 2);
    // Without it, the fake closes the connection after each answer.
    let closing = FakeLlm::start(WireFormat::OpenAi).await;
    closing.push_turn(Turn::new().text("only"));
    assert_eq!(
        post(closing.addr(), "/v1/chat/completions").await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn the_embeddings_route_answers_bags_of_words_before_the_queue() {
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    };
    let tea = bag_of_words("Green TEA, green tea!", 64);
    assert_eq!(tea, bag_of_words("green tea green tea", 64), "case and punctuation ignored");
    assert!(cosine(&tea, &bag_of_words("we drink green tea", 64)) > 0.6);
    assert!(cosine(&tea, &bag_of_words("parking rules downtown", 64)) < 0.2);

    let openai = FakeLlm::start(WireFormat::OpenAi).await;
    openai.embed_words(64);
    openai.push(Reply::error(WireFormat::OpenAi, 500, "for the chat request"));
    let body = json!({"model": "e", "input": ["green tea", "parking"]});
    let answer: Value =
        serde_json::from_str(&post_json(openai.addr(), "/v1/embeddings", &body).await).unwrap();
    let first: Vec<f32> = serde_json::from_value(answer["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(first, bag_of_words("green tea", 64));
    assert_eq!(answer["data"][1]["index"], 1);
    assert_eq!(openai.queued(), 1, "the queued reply is left for the chat request");
    assert_eq!(openai.embedded_texts(), ["green tea", "parking"]);

    let gemini = FakeLlm::start(WireFormat::Gemini).await;
    gemini.embed_words(8);
    let body =
        json!({"requests": [{"model": "models/e", "content": {"parts": [{"text": "tea"}]}}]});
    let path = "/v1beta/models/e:batchEmbedContents";
    let answer: Value = serde_json::from_str(&post_json(gemini.addr(), path, &body).await).unwrap();
    let values: Vec<f32> =
        serde_json::from_value(answer["embeddings"][0]["values"].clone()).unwrap();
    assert_eq!(values, bag_of_words("tea", 8));
}

#[tokio::test]
async fn a_responder_answers_what_the_queue_does_not_within_the_bounds() {
    let llm = FakeLlm::builder(WireFormat::OpenAi)
        .max_connections(3)
        .record_requests(false)
        .start()
        .await;
    llm.push(Reply::error(WireFormat::OpenAi, 503, "queued first"));
    llm.respond_with(|request| {
        let status = if request.path.ends_with("/teapot") { 418 } else { 200 };
        Reply::json(&serde_json::json!({ "status": status }))
    });
    let check = |line: Option<String>, expected: &str| {
        assert!(line.as_deref().is_some_and(|l| l.starts_with(expected)), "{line:?}");
    };
    check(post(llm.addr(), "/v1/chat/completions").await, "HTTP/1.1 503");
    check(post(llm.addr(), "/v1/chat/completions").await, "HTTP/1.1 200");
    check(post(llm.addr(), "/v1/teapot").await, "HTTP/1.1 200");
    assert_eq!(post(llm.addr(), "/v1/chat/completions").await, None, "three connections only");
    assert_eq!(llm.request_count(), 3);
    assert!(llm.requests().is_empty(), "recording was off");
}
