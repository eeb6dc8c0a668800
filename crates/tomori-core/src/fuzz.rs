//! The fuzz targets' bodies (`crates/tomori-core/fuzz`), compiled for the fuzzer (`--cfg
//! fuzzing`) and for tests, which replay the committed corpus through the same functions on a
//! stable toolchain.

use crate::card::{self, SourceSpec};
use crate::limits::Limits;

/// Any bytes, as a PNG or JSON card, never panic; whatever is accepted is within the limits and
/// exports as a PNG that parses again.
pub fn card_parse(data: &[u8]) {
    let limits = Limits::default();
    let _ = card::png::chunks(data);
    let Ok(imported) = card::parse(data, &limits, None) else {
        return;
    };
    let card = imported.card;
    assert!(card::normalize(card.clone(), &limits).is_ok(), "accepted beyond the limits");
    // The export parses again without a panic, under the same name when accepted. (It may be
    // refused: macros in Tomori's own JSON are rewritten in their standard spelling only on the
    // way back in, which can lengthen a text past its limit. Field-by-field equality for
    // macro-free text is checked by tests/card_random.rs.)
    let exported = card::export_png(&card, None).expect("an accepted card exports");
    if let Ok(back) = card::parse(&exported, &limits, None) {
        assert_eq!(back.card.name, card.name);
        assert_eq!(back.card.source_spec, SourceSpec::V2);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_card_corpus_replays_without_a_failure() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/card_parse");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            let replay = std::panic::catch_unwind(|| super::card_parse(&bytes));
            assert!(replay.is_ok(), "{} fails the card_parse target", path.display());
            replayed += 1;
        }
        assert!(replayed > 0, "{} holds no corpus", dir.display());
    }
}
