use serde_json::{Value, json};
use tomori_testkit::fake_llm::mp4;

use super::*;

#[test]
fn the_start_is_asked_in_veos_terms() {
    let request = VideoRequest { prompt: "a red fox".to_owned(), shape: VideoShape::Portrait };
    let (path, body) = start_body("veo-3.0-generate-001", &request).expect("a body");
    assert_eq!(path, "/models/veo-3.0-generate-001:predictLongRunning");
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        body,
        json!({ "instances": [{ "prompt": "a red fox" }], "parameters": { "aspectRatio": "9:16" } })
    );
    let blank = VideoRequest { prompt: " \n".to_owned(), shape: VideoShape::Landscape };
    assert!(start_body("veo-3.0-generate-001", &blank).is_err());
    assert!(start_body("../../files", &request).is_err());
    let long = VideoRequest { prompt: "é".repeat(MAX_VIDEO_PROMPT_CHARS + 9), ..request };
    let (_, sent) = start_body("veo-2.0-generate-001", &long).expect("cut, not refused");
    let sent: Value = serde_json::from_slice(&sent).expect("json");
    let prompt = sent["instances"][0]["prompt"].as_str().unwrap_or_default();
    assert_eq!(prompt.chars().count(), MAX_VIDEO_PROMPT_CHARS);
    assert_eq!(VideoShape::parse(" LANDSCAPE"), Some(VideoShape::Landscape));
    assert_eq!(VideoShape::parse("square"), None);
    let api = VideoApi::for_target;
    assert_eq!(api(Wire::Gemini, "google").ok(), Some(VideoApi::Veo));
    assert_eq!(api(Wire::OpenAiCompatible, "openrouter").ok(), Some(VideoApi::OpenRouter));
    assert!(
        api(Wire::OpenAiCompatible, "openai")
            .is_err_and(|e| e.to_string().contains("no video API"))
    );
    assert!(api(Wire::OpenAiCompatible, "custom:s1:local").is_err());
    assert!(api(Wire::Anthropic, "anthropic").is_err());
}

#[test]
fn operation_names_are_path_segments_only() {
    let cases = [
        ("models/veo-3.0-generate-001/operations/abc123", true),
        ("operations/abc_123.x", true),
        ("models/veo/operations/../../files", false),
        ("models/veo/operations/a?key=1", false),
        ("//evil.example/operations/a", false),
        ("models/veo/results/a", false),
        ("https://evil.example/operations/a", false),
        ("operations/a b", false),
        ("", false),
    ];
    for (name, ok) in cases {
        assert_eq!(operation_name(&json!({ "name": name })).is_ok(), ok, "{name}");
    }
    assert!(operation_name(&json!({ "name": format!("operations/{}", "a".repeat(300)) })).is_err());
    assert!(operation_name(&json!({ "name": 7 })).is_err());
}

#[test]
fn operations_are_read_as_running_done_or_refused() {
    let uri = "https://generativelanguage.googleapis.com/v1beta/files/x:download?alt=media";
    let done = |answer: Value| json!({ "name": "operations/a", "done": true, "response": { "generateVideoResponse": answer } });
    let cases: Vec<(Value, Result<Polled, ()>)> = vec![
        (json!({ "name": "operations/a" }), Ok(Polled::Running)),
        (json!({ "name": "operations/a", "done": false }), Ok(Polled::Running)),
        (json!("not an object"), Ok(Polled::Running)),
        (
            done(json!({ "generatedSamples": [{ "video": { "uri": uri } }] })),
            Ok(Polled::Done(uri.to_owned())),
        ),
        (
            done(
                json!({ "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["celebrity\nlikeness"] }),
            ),
            Ok(Polled::Refused(
                "the provider's safety filter removed the video: celebrity likeness".to_owned(),
            )),
        ),
        (
            done(json!({ "raiMediaFilteredCount": 1 })),
            Ok(Polled::Refused("the provider's safety filter removed the video".to_owned())),
        ),
        (
            json!({ "done": true, "error": { "code": 3, "message": "the prompt is unsafe" } }),
            Ok(Polled::Refused("the video was not made: the prompt is unsafe".to_owned())),
        ),
        (done(json!({ "generatedSamples": [] })), Err(())),
        (done(json!({ "generatedSamples": [{ "video": { "uri": " " } }] })), Err(())),
        (json!({ "done": true }), Err(())),
    ];
    for (operation, expected) in cases {
        assert_eq!(read_operation(&operation).map_err(|_| ()), expected, "{operation}");
    }
    let long = done(json!({ "raiMediaFilteredReasons": ["x".repeat(5_000)] }));
    let Ok(Polled::Refused(reason)) = read_operation(&long) else { panic!("a refusal") };
    assert!(reason.chars().count() <= MAX_REASON_CHARS);
}

/// A box of `kind` around `payload`.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(payload.len() + 8).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

#[test]
fn an_mp4_is_checked_box_by_box() {
    let good = mp4();
    let (ftyp, moov) = good.split_at(28);
    let mvhd = &moov[8..];
    let join = |parts: &[&[u8]]| parts.concat();
    let mut zero_timescale = mvhd.to_vec();
    zero_timescale[8 + 12..8 + 16].copy_from_slice(&[0; 4]);
    let mut large = 1_u32.to_be_bytes().to_vec();
    large.extend_from_slice(b"free");
    large.extend_from_slice(&20_u64.to_be_bytes());
    large.extend_from_slice(b"abcd");
    let mut to_the_end = 0_u32.to_be_bytes().to_vec();
    to_the_end.extend_from_slice(b"mdat");
    to_the_end.extend_from_slice(b"frames");
    let cases: Vec<(Vec<u8>, Result<(), Mp4Error>)> = vec![
        (good.clone(), Ok(())),
        (join(&[&good, &large, &to_the_end]), Ok(())),
        (join(&[moov, ftyp]), Err(Mp4Error::NoFileType)),
        (join(&[&boxed(b"ftyp", b"isom"), moov]), Err(Mp4Error::NoFileType)),
        (ftyp.to_vec(), Err(Mp4Error::Movie { found: 0 })),
        (join(&[&good, moov]), Err(Mp4Error::Movie { found: 2 })),
        (join(&[ftyp, &boxed(b"moov", &boxed(b"trak", b""))]), Err(Mp4Error::NoMovieHeader)),
        (join(&[ftyp, &boxed(b"moov", &zero_timescale)]), Err(Mp4Error::NoMovieHeader)),
        (join(&[ftyp, &boxed(b"moov", &boxed(b"mvhd", &[0; 40]))]), Err(Mp4Error::NoMovieHeader)),
        (b"<!doctype html><html>".to_vec(), Err(Mp4Error::BadBox { at: 0, why: "" })),
        (Vec::new(), Err(Mp4Error::NoFileType)),
    ];
    for (bytes, expected) in cases {
        let got = check_mp4(&bytes, MAX_VIDEO_BYTES);
        match (&got, &expected) {
            (Err(Mp4Error::BadBox { .. }), Err(Mp4Error::BadBox { .. })) => {}
            _ => assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(&bytes)),
        }
    }
    assert_eq!(check_mp4(&good, good.len() - 1), Err(Mp4Error::TooLarge { limit: good.len() - 1 }));
    // A size of 0 inside a box, a size smaller than its header, a size past the end.
    let mut inner_zero = good.clone();
    inner_zero[36..40].copy_from_slice(&0_u32.to_be_bytes());
    assert!(matches!(
        check_mp4(&inner_zero, MAX_VIDEO_BYTES),
        Err(Mp4Error::BadBox { at: 36, .. })
    ));
    let mut tiny = good.clone();
    tiny[0..4].copy_from_slice(&4_u32.to_be_bytes());
    assert!(matches!(check_mp4(&tiny, MAX_VIDEO_BYTES), Err(Mp4Error::BadBox { at: 0, .. })));
    let mut huge = good.clone();
    huge[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(check_mp4(&huge, MAX_VIDEO_BYTES), Err(Mp4Error::BadBox { at: 28, .. })));
}

#[test]
fn every_cut_and_every_flipped_byte_of_an_mp4_is_refused_or_read_without_panicking() {
    let good = mp4();
    for end in 0..good.len() {
        assert!(check_mp4(&good[..end], MAX_VIDEO_BYTES).is_err(), "cut at {end}");
    }
    for at in 0..good.len() {
        for value in [0_u8, 1, 0x7f, 0xff] {
            let mut bent = good.clone();
            bent[at] = value;
            let _ = check_mp4(&bent, MAX_VIDEO_BYTES);
        }
    }
    let many: Vec<u8> = (0..5_000).flat_map(|_| boxed(b"free", b"")).collect();
    let file = [good.as_slice(), &many].concat();
    assert_eq!(check_mp4(&file, MAX_VIDEO_BYTES), Err(Mp4Error::TooManyBoxes));
}
