//! `/model logit-bias` end to end: entries added one by one and from a SillyTavern file, checked
//! and audited, and the next request to the server's model carrying the ids its wire takes.

use serde_json::json;
use tomori_store::models;
use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};

use crate::first_contact::{in_dm, stack};

#[tokio::test]
async fn logit_bias_entries_reach_the_next_request_as_the_models_ids() {
    let s = stack().await;
    let own = FakeLlm::start(WireFormat::OpenAi).await;
    let early =
        s.answer(in_dm("model logit-bias add").arg("text", "Hello").arg("bias", -100)).await;
    assert!(early.starts_with("Choose a model with /model text first"), "{early}");
    s.answer(
        in_dm("provider endpoint add")
            .arg("label", "own")
            .arg("url", own.base_url())
            .arg("model", "m"),
    )
    .await;
    s.answer(in_dm("model text").arg("provider", "custom:own").arg("model", "m")).await;

    // Text is tokenized for OpenAI's models; ids in brackets go to a custom endpoint as written.
    let added =
        s.answer(in_dm("model logit-bias add").arg("text", "Hello").arg("bias", -100)).await;
    assert!(added.starts_with("`Hello` now has a bias of -100 (2 token(s))."), "{added}");
    assert!(added.contains("`custom:own/m` takes it."), "{added}");
    let ids = s.answer(in_dm("model logit-bias add").arg("text", "[42, 7]").arg("bias", 30)).await;
    assert!(ids.starts_with("`[42, 7]` now has a bias of 30"), "{ids}");
    for (text, bias, expected) in [
        ("[x]", 1, "whole numbers"),
        ("   ", 1, "1 to 100 characters"),
        ("Hello", 101, "The bias is -100 to 100"),
    ] {
        let refused =
            s.answer(in_dm("model logit-bias add").arg("text", text).arg("bias", bias)).await;
        assert!(refused.contains(expected), "{text}: {refused}");
    }
    let listed = s.answer(in_dm("model logit-bias list")).await;
    assert_eq!(listed, "Logit bias (2 of 50):\n`Hello` -100\n`[42, 7]` +30");

    own.push_turn(Turn::new().text("Hi there."));
    assert_eq!(s.dm("say hello").await, "Hi there.");
    let sent = own.requests()[0].json.clone().unwrap();
    assert_eq!(sent["logit_bias"], json!({"42": 30, "7": 30}), "only the written ids: {sent}");

    // A SillyTavern file replaces the list; a broken one changes nothing.
    let broken = s.fake.host_attachment("bias.json", "application/json", b"{\"nope\": 1}".to_vec());
    let refused = s.answer(in_dm("model logit-bias upload").attachment_arg("file", &broken)).await;
    assert!(refused.starts_with("The file was not read"), "{refused}");
    let file = json!([
        {"id": "a", "text": "[5]", "value": -50.2},
        {"id": "b", "text": "Goodbye", "value": 12},
        {"id": "c", "text": "", "value": 3},
    ]);
    let upload =
        s.fake.host_attachment("bias.json", "application/json", file.to_string().into_bytes());
    let replaced = s.answer(in_dm("model logit-bias upload").attachment_arg("file", &upload)).await;
    assert!(
        replaced.starts_with("The server's logit bias is now the file's 2 entries."),
        "{replaced}"
    );
    let removed = s.answer(in_dm("model logit-bias remove").arg("text", "Goodbye")).await;
    assert!(removed.starts_with("`Goodbye` has no bias any more."), "{removed}");
    let missing = s.answer(in_dm("model logit-bias remove").arg("text", "Goodbye")).await;
    assert!(missing.contains("has no logit bias"), "{missing}");

    own.push_turn(Turn::new().text("Bye."));
    assert_eq!(s.dm("bye").await, "Bye.");
    let sent = own.requests()[1].json.clone().unwrap();
    assert_eq!(sent["logit_bias"], json!({"5": -50}), "{sent}");
    let model = models::get(&s.store, s.dm_tenant().await).await.unwrap().unwrap();
    assert_eq!(model.logit_bias.len(), 1);
    let audited =
        tomori_testkit::audit_actions(&s.db).await.iter().filter(|a| *a == "model.set").count();
    assert_eq!(audited, 1 + 2 + 2, "the model, two adds, the upload and the removal");
}
