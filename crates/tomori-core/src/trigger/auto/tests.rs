use super::*;

#[track_caller]
fn check_range(min: u16, max: u16, expected: Result<(u16, u16), AutoRangeError>) {
    let got = AutoRange::new(min, max).map(|r| (r.min(), r.max()));
    assert_eq!(got, expected, "{min}–{max}");
}

#[test]
fn ranges_are_off_or_from_one_up_to_a_thousand() {
    check_range(0, 0, Ok((0, 0)));
    check_range(1, 1, Ok((1, 1)));
    check_range(3, 8, Ok((3, 8)));
    check_range(1, 1_000, Ok((1, 1_000)));
    check_range(8, 3, Err(AutoRangeError::Inverted));
    check_range(0, 5, Err(AutoRangeError::HalfOff));
    check_range(5, 1_001, Err(AutoRangeError::TooLarge));
    check_range(1_001, 1_001, Err(AutoRangeError::TooLarge));
    assert!(AutoRange::OFF.is_off());
    assert!(!AutoRange::new(1, 1).unwrap().is_off());
}

#[test]
fn stored_values_outside_the_rules_are_off() {
    for (min, max, expected) in [
        (0, 0, AutoRange::OFF),
        (2, 4, AutoRange::new(2, 4).unwrap()),
        (-1, 4, AutoRange::OFF),
        (4, 2, AutoRange::OFF),
        (0, 3, AutoRange::OFF),
        (2_000, 3_000, AutoRange::OFF),
    ] {
        assert_eq!(AutoRange::from_stored(min, max), expected, "{min}–{max}");
    }
}

#[track_caller]
fn check_draw(min: u16, max: u16, seed: u64, expected: Option<u32>) {
    let range = AutoRange::new(min, max).unwrap();
    assert_eq!(draw_target(range, seed), expected, "{min}–{max} seed {seed}");
}

#[test]
fn targets_are_drawn_from_the_range_by_seed() {
    check_draw(0, 0, 7, None);
    check_draw(5, 5, 0, Some(5));
    check_draw(5, 5, u64::MAX, Some(5));
    check_draw(1, 10, 0, Some(6));
    check_draw(1, 10, 2, Some(1));
    check_draw(1, 10, 3, Some(4));
    check_draw(1, 10, 5, Some(9));
    check_draw(3, 8, 42, Some(4));
    check_draw(1, 1_000, 12_345, Some(945));
}

#[test]
fn draws_cover_the_whole_range_and_nothing_outside_it() {
    let range = AutoRange::new(3, 8).unwrap();
    let mut seen = [false; 6];
    for seed in 900_000_000_000_000_000..900_000_000_000_000_200 {
        let target = draw_target(range, seed).unwrap();
        assert!((3..=8).contains(&target), "{target}");
        seen[usize::try_from(target - 3).unwrap()] = true;
    }
    assert!(seen.iter().all(|s| *s), "consecutive snowflakes reach every target: {seen:?}");
}

/// Feeds messages with `seeds` through a counter under `range`; "." is a message counted, "!"
/// one answered.
#[track_caller]
fn check_counter(range: AutoRange, seeds: &[u64], expected: &str) {
    let mut counter = AutoCounter::default();
    let got: String =
        seeds.iter().map(|seed| if counter.advance(range, *seed) { '!' } else { '.' }).collect();
    assert_eq!(got, expected, "{range:?} {seeds:?}");
}

#[test]
fn the_counter_answers_when_the_cycles_target_is_reached() {
    let every_third = AutoRange::new(3, 3).unwrap();
    check_counter(every_third, &[1, 2, 3, 4, 5, 6, 7], "..!..!.");
    check_counter(AutoRange::new(1, 1).unwrap(), &[1, 2, 3], "!!!");
    check_counter(AutoRange::OFF, &[1, 2, 3, 4], "....");
    // 1–10: the first message's seed (0) draws 6 for the cycle; later seeds do not change it.
    // The next cycle starts with seed 2, which draws 1, and the one after with 5, which draws 9.
    check_counter(AutoRange::new(1, 10).unwrap(), &[0, 9, 9, 9, 9, 9, 2, 5], ".....!!.");
}

#[test]
fn a_range_change_redraws_a_target_it_no_longer_holds() {
    let mut counter = AutoCounter::default();
    let wide = AutoRange::new(1, 10).unwrap();
    assert!(!counter.advance(wide, 0), "seed 0 draws 6");
    // 1–2 cannot hold 6: seed 1 draws 2 of 1–2, reached by this second message.
    assert!(counter.advance(AutoRange::new(1, 2).unwrap(), 1));
    // Turning it off forgets the count.
    assert!(!counter.advance(AutoRange::new(3, 3).unwrap(), 5));
    assert!(!counter.advance(AutoRange::OFF, 5));
    assert_eq!(counter, AutoCounter::default());
}
