//! Fuzzes the card parser: any bytes, as a PNG or JSON card, never panic; whatever is accepted
//! is within the limits and exports as a PNG that parses again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tomori_core::card::{self, SourceSpec};
use tomori_core::limits::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = card::png::chunks(data);
    let Ok(imported) = card::parse(data, &limits, None) else {
        return;
    };
    let card = imported.card;
    assert!(card::normalize(card.clone(), &limits).is_ok(), "accepted beyond the limits");
    // The export parses again without a panic, under the same name when accepted. (It may be
    // refused: macros in Tomori's own JSON are rewritten in their standard spelling only on the
    // way back in, which can lengthen a text past its limit. Field-by-field equality for macro-free text is
    // checked by tests/card_random.rs.)
    let exported = card::export_png(&card, None).expect("an accepted card exports");
    if let Ok(back) = card::parse(&exported, &limits, None) {
        assert_eq!(back.card.name, card.name);
        assert_eq!(back.card.source_spec, SourceSpec::V2);
    }
});
