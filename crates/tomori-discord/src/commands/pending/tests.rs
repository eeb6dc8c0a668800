//! Waiting forms: used once, by their member in their server, within five minutes, and never
//! more than the bounds.

use std::time::{Duration, Instant};

use tomori_core::id::Snowflake;

use super::{Form, MAX_PENDING, MAX_PER_USER, Pending, Stale, TTL};

fn id(raw: u64) -> Snowflake {
    Snowflake::new(raw).expect("valid")
}

fn form(n: usize) -> Form {
    Form::McpAdd { name: format!("s{n}"), url: "https://mcp.example/".to_owned() }
}

#[test]
fn a_form_is_taken_once_by_its_member_in_its_server_before_it_expires() {
    let pending = Pending::default();
    let (guild, alice, bob) = (Some(id(1)), id(10), id(11));
    let start = Instant::now();
    let nonce = pending.insert_at(guild, alice, form(0), start).expect("nonce");
    assert_eq!(nonce.len(), 32);
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    let soon = start + Duration::from_secs(10);
    let check = |nonce: &str, guild, user, now, expected: Result<Form, Stale>| {
        assert_eq!(pending.take_at(nonce, guild, user, now), expected);
    };
    // Someone else, or elsewhere: refused, and the form stays for its owner.
    check(&nonce, guild, bob, soon, Err(Stale::NotYours));
    check(&nonce, Some(id(2)), alice, soon, Err(Stale::NotYours));
    check(&nonce, None, alice, soon, Err(Stale::NotYours));
    check("0123456789abcdef0123456789abcdef", guild, alice, soon, Err(Stale::Unknown));
    check(&nonce, guild, alice, soon, Ok(form(0)));
    // Replayed.
    check(&nonce, guild, alice, soon, Err(Stale::Unknown));

    let late = pending.insert_at(guild, alice, form(1), start).expect("nonce");
    check(&late, guild, alice, start + TTL, Err(Stale::Unknown));
    check(&late, guild, alice, start, Err(Stale::Unknown));
}

#[test]
fn the_oldest_forms_give_way_per_member_and_in_all() {
    let pending = Pending::default();
    let start = Instant::now();
    let at = |n: usize| start + Duration::from_millis(u64::try_from(n).expect("small"));
    let alice = id(10);
    let nonces: Vec<String> = (0..=MAX_PER_USER)
        .map(|n| pending.insert_at(None, alice, form(n), at(n)).expect("nonce"))
        .collect();
    let now = at(100);
    assert_eq!(pending.take_at(&nonces[0], None, alice, now), Err(Stale::Unknown));
    for (n, nonce) in nonces.iter().enumerate().skip(1) {
        assert_eq!(pending.take_at(nonce, None, alice, now), Ok(form(n)));
    }

    let first = pending.insert_at(None, id(1_000), form(0), at(0)).expect("nonce");
    for n in 1..=MAX_PENDING {
        let user = id(1_000 + u64::try_from(n).expect("small"));
        pending.insert_at(None, user, form(n), at(1)).expect("nonce");
    }
    assert_eq!(pending.0.lock().expect("lock").len(), MAX_PENDING);
    assert_eq!(pending.take_at(&first, None, id(1_000), at(2)), Err(Stale::Unknown));
}
