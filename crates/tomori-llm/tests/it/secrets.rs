//! Keys never leave in the open: not in `Debug` of anything that holds them, not in errors, even
//! when a provider quotes the key back, and only in the header the wire format expects.

use serde_json::json;
use tomori_llm::ChatRequest;
use tomori_llm::Message;
use tomori_testkit::fake_llm::{FakeLlm, Reply, WireFormat};

use crate::support::{FORMATS, llm, secret, target};

#[tokio::test]
async fn keys_stay_out_of_debug_output_and_error_messages() {
    for format in FORMATS {
        let fake = FakeLlm::start(format).await;
        let quoted =
            format!("Incorrect API key provided: {}. You can find your key at ...", secret("k1"));
        // A masked key, as OpenAI quotes it: a prefix and a suffix of the real one.
        let key_chars: Vec<char> = secret("k1").chars().collect();
        let prefix: String = key_chars.iter().take(12).collect();
        let suffix: String = key_chars.iter().skip(20).collect();
        let masked = format!("Incorrect API key provided: {prefix}****{suffix}.");
        fake.push(Reply::status(
            404,
            &json!({"error": {"message": quoted, "param": secret("k1")}}),
        ));
        fake.push(Reply::status(500, &json!({"error": {"message": masked}})));
        fake.push(Reply::status(500, &json!({"error": {"message": masked}})));
        let (llm, _clock) = llm();
        let chain = [target(&fake, format, &["k1"])];
        let request = ChatRequest { messages: vec![Message::user("hi")], ..ChatRequest::default() };

        let printed_target = format!("{:?}", chain[0]);
        assert!(!printed_target.contains("sk-test"), "{printed_target}");

        let first = llm.stream(&chain, &request).await.unwrap_err();
        let second = llm.stream(&chain, &request).await.unwrap_err();
        for error in [first, second] {
            let printed = format!("{error} {error:?}");
            assert!(!printed.contains("0123456789abcdef"), "{format:?}: {printed}");
            assert!(!printed.contains("sk-test-k1"), "{format:?}: {printed}");
            assert!(printed.contains("REDACTED"), "{format:?}: {printed}");
        }
        // The key went only where the wire format puts it.
        for recorded in fake.requests() {
            let carriers: Vec<&str> = recorded
                .headers
                .iter()
                .filter(|(_, value)| value.contains(&secret("k1")))
                .map(|(name, _)| name.as_str())
                .collect();
            let expected = match format {
                WireFormat::OpenAi => "authorization",
                WireFormat::Anthropic => "x-api-key",
                WireFormat::Gemini => "x-goog-api-key",
            };
            assert_eq!(carriers, [expected]);
            assert!(!recorded.path.contains("sk-test"));
            assert!(!String::from_utf8_lossy(&recorded.body).contains("sk-test"));
        }
    }
}
