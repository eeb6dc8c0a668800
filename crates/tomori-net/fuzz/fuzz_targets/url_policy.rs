//! Fuzzes the URL check: any input, every scope, never a panic, and nothing refused-by-rule gets
//! through (a URL the policy accepts is http(s), has no userinfo, and an IP-literal host is never
//! cloud metadata or link-local).

#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use tomori_net::{Class, Mode, Policy, Scope, Target, classify, parse_resolve_override};

const SCOPES: [Scope; 5] =
    [Scope::Server, Scope::Personal, Scope::Tool, Scope::Media, Scope::Operator];

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = data.first_chunk::<16>() {
        let _ = classify(IpAddr::V6(Ipv6Addr::from(*bytes)));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_resolve_override(text);
    for scope in SCOPES {
        for policy in [
            Policy::new(scope),
            Policy::new(scope).with_mode(Mode::Development).with_private_networks(true),
        ] {
            let Ok(url) = policy.parse_url(text) else {
                continue;
            };
            assert!(matches!(url.scheme(), "http" | "https"), "{text:?}");
            assert!(url.username().is_empty() && url.password().is_none(), "{text:?}");
            match policy.check_url(&url) {
                Ok(Target::Address(ip, class)) => {
                    assert_eq!(classify(ip).class, class);
                    assert!(!matches!(class, Class::CloudMetadata | Class::LinkLocal), "{text:?}");
                }
                Ok(Target::Name(name)) => assert!(!name.is_empty()),
                Err(refusal) => panic!("accepted then refused {text:?}: {refusal}"),
            }
        }
    }
});
