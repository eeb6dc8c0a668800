//! How much the URL policy adds to a request: classifying IP literals, judging parsed URLs, and
//! parsing plus judging URL strings, for the kinds of input requests carry.
//!
//! Run with `cargo bench -p tomori-net --bench policy` (`-- --quick` for a short run). The claim
//! to check is "well under a millisecond"; expect hundreds of nanoseconds at most.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use tomori_net::{Policy, Scope, Url, classify};

const ADDRESSES: &[&str] = &[
    "93.184.216.34",
    "127.0.0.1",
    "169.254.169.254",
    "2606:4700:4700::1111",
    "::ffff:7f00:1",
    "64:ff9b:1::a00:1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
];

const URLS: &[&str] = &[
    "https://api.openai.com/v1/chat/completions",
    "http://2130706433/",
    "http://[::ffff:7f00:1]:8080/admin",
    "https://cdn.discordapp.com/attachments/1234567890/9876543210/image.png?ex=1&is=2",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://user:pass@example.com/",
];

fn policy_benches(c: &mut Criterion) {
    let addresses: Vec<IpAddr> =
        ADDRESSES.iter().map(|a| a.parse().expect("bench address")).collect();
    c.bench_function("classify 7 addresses", |b| {
        b.iter(|| {
            for ip in &addresses {
                black_box(classify(black_box(*ip)));
            }
        });
    });

    let policy = Policy::new(Scope::Tool);
    let parsed: Vec<Url> = URLS.iter().map(|u| Url::parse(u).expect("bench URL")).collect();
    c.bench_function("check_url on 6 parsed URLs", |b| {
        b.iter(|| {
            for url in &parsed {
                let _ = black_box(policy.check_url(black_box(url)));
            }
        });
    });

    c.bench_function("parse_url (WHATWG parse + check) on 6 URL strings", |b| {
        b.iter(|| {
            for url in URLS {
                let _ = black_box(policy.parse_url(black_box(url)));
            }
        });
    });

    let answers: Vec<IpAddr> = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
        .iter()
        .map(|a| a.parse().expect("bench address"))
        .collect();
    c.bench_function("check_resolved on a 2-address DNS answer", |b| {
        b.iter(|| black_box(policy.check_resolved(black_box("example.com"), black_box(&answers))));
    });
}

criterion_group!(benches, policy_benches);
criterion_main!(benches);
