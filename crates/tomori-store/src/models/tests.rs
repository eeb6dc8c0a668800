//! The ranges a server model's sampler parameters and stop strings must stay within.

use super::{Params, ServerModel, check_stop};

#[test]
fn parameters_outside_their_ranges_are_refused() {
    let check = |params: Params, ok: bool| {
        let model = ServerModel { params: params.clone(), ..ServerModel::new("openai", "gpt") };
        assert_eq!(model.validate().is_ok(), ok, "{params:?}");
    };
    let p = Params::default;
    check(p(), true);
    check(Params { top_p: Some(0.0), ..p() }, true);
    check(Params { top_p: Some(1.0), ..p() }, true);
    check(Params { top_p: Some(1.01), ..p() }, false);
    check(Params { top_p: Some(f32::NAN), ..p() }, false);
    check(Params { top_k: Some(1), ..p() }, true);
    check(Params { top_k: Some(1000), ..p() }, true);
    check(Params { top_k: Some(0), ..p() }, false);
    check(Params { max_tokens: Some(65_536), ..p() }, true);
    check(Params { max_tokens: Some(0), ..p() }, false);
    check(Params { max_tokens: Some(65_537), ..p() }, false);
    check(Params { frequency_penalty: Some(-2.0), ..p() }, true);
    check(Params { frequency_penalty: Some(2.5), ..p() }, false);
    check(Params { presence_penalty: Some(2.0), ..p() }, true);
    check(Params { presence_penalty: Some(-2.01), ..p() }, false);
    check(Params { presence_penalty: Some(f32::INFINITY), ..p() }, false);
    check(Params { min_p: Some(0.0), ..p() }, true);
    check(Params { min_p: Some(1.0), ..p() }, true);
    check(Params { min_p: Some(-0.1), ..p() }, false);
    check(Params { min_p: Some(f32::NAN), ..p() }, false);
}

#[test]
fn stop_strings_are_short_visible_text() {
    let check = |stop: &str, ok: bool| assert_eq!(check_stop(stop).is_ok(), ok, "{stop:?}");
    check("\nUser:", true);
    check("###", true);
    check("\n\n", true);
    check("\t", true);
    check(&"x".repeat(200), true);
    check(&"é".repeat(200), true);
    check(&"x".repeat(201), false);
    check("", false);
    check("   ", false);
    check("a\u{0}b", false);
    check("\u{1b}[31m", false);

    let stops = |n: usize| ServerModel {
        stop: (0..n).map(|i| format!("s{i}")).collect(),
        ..ServerModel::new("openai", "gpt")
    };
    assert!(stops(40).validate().is_ok());
    assert!(stops(41).validate().is_err(), "at most forty");
}

#[test]
fn a_vision_model_is_a_provider_and_a_model() {
    let check = |entry: &str, ok: bool| {
        let model =
            ServerModel { vision_model: Some(entry.to_owned()), ..ServerModel::new("openai", "x") };
        assert_eq!(model.validate().is_ok(), ok, "{entry}");
    };
    check("openai/gpt-4o", true);
    check("custom:eyes/llava:13b", true);
    check("openrouter/meta/llama-3.2-vision", true);
    check("gpt-4o", false);
    check("Open AI/gpt", false);
    check("openai/gpt 4o", false);
}

#[test]
fn logit_bias_entries_are_checked_and_counted() {
    use tomori_core::logit_bias::{BiasEntry, MAX_ENTRIES};
    let entry =
        |bias: i8| BiasEntry { text: "word".into(), bias, o200k: vec![1], ..BiasEntry::default() };
    let with = |entries: Vec<BiasEntry>| ServerModel {
        logit_bias: entries,
        ..ServerModel::new("openai", "gpt-4o")
    };
    assert!(with(vec![entry(-100), entry(100)]).validate().is_ok());
    assert!(with(vec![entry(-101)]).validate().is_err(), "the bias is -100 to 100");
    assert!(
        with(vec![BiasEntry { o200k: Vec::new(), ..entry(1) }]).validate().is_err(),
        "no token"
    );
    assert!(with(vec![entry(1); MAX_ENTRIES]).validate().is_ok());
    assert!(with(vec![entry(1); MAX_ENTRIES + 1]).validate().is_err(), "at most fifty");
}
