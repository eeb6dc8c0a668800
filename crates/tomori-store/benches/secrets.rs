//! Sealing and opening one provider key with the key ring: the cost every stored secret pays.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use tomori_core::id::ServerId;
use tomori_store::secrets::{KeyRing, Owner, SealContext};

fn secrets(c: &mut Criterion) {
    let ring = KeyRing::new(
        [(1, SecretString::from("benchmark-secret-0123456789abcdefghij".to_owned()))],
        None,
    )
    .expect("a valid ring");
    let ctx = SealContext {
        table: "provider_credentials",
        column: "secret",
        owner: Owner::Server(ServerId::from_db(7)),
    };
    let key = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef";
    c.bench_function("seal a provider key", |b| b.iter(|| ring.seal(black_box(key), &ctx)));
    let sealed = ring.seal(key, &ctx);
    c.bench_function("open a provider key", |b| {
        b.iter(|| ring.open(black_box(&sealed.blob), &ctx))
    });
}

criterion_group!(benches, secrets);
criterion_main!(benches);
