//! The fuzz targets' bodies (`crates/tomori-net/fuzz`), compiled for the fuzzer (`--cfg
//! fuzzing`) and for tests, which replay the committed corpus through them on a stable
//! toolchain.

use std::net::{IpAddr, Ipv6Addr};

use crate::{
    Class, Mode, Policy, Scope, Target, Url, classify, html_to_markdown, paginate,
    parse_resolve_override,
};

const SCOPES: [Scope; 5] =
    [Scope::Server, Scope::Personal, Scope::Tool, Scope::Media, Scope::Operator];

/// The URL check: any input, every scope, never a panic, and nothing refused-by-rule gets through
/// (a URL the policy accepts is http(s), has no userinfo, and an IP-literal host is never cloud
/// metadata or link-local).
pub fn url_policy(data: &[u8]) {
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
}

/// The HTML to Markdown converter and the paginator: any bytes, never a panic, and pages never
/// split a character.
pub fn html_to_markdown_pages(data: &[u8]) {
    let html = String::from_utf8_lossy(data);
    let base = Url::parse("https://example.com/a/b").ok();
    let markdown = html_to_markdown(&html, base.as_ref());
    let offset = data.first().map_or(0, |b| usize::from(*b));
    let page = paginate(&markdown, offset, 64);
    assert!(page.text.chars().count() <= 64);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, body: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file");
            let run = std::panic::catch_unwind(|| body(&bytes));
            assert!(run.is_ok(), "{} fails the {target} target", path.display());
            replayed += 1;
        }
        assert!(replayed > 0, "{} holds no corpus", dir.display());
    }

    #[test]
    fn the_committed_corpora_replay_without_a_failure() {
        replay("url_policy", super::url_policy);
        replay("html_to_markdown", super::html_to_markdown_pages);
    }
}
