//! Bad input never panics: thousands of generated near-URLs and HTML fragments through the URL
//! check, the classifier, `url-check`, the Markdown converter and the paginator.
//!
//! The generator is a small deterministic xorshift, so a failure reproduces from its seed; the
//! fragments are the places URL parsers and SSRF filters usually disagree. The cargo-fuzz targets
//! in `fuzz/` explore the same functions without a grammar.

use std::net::{IpAddr, Ipv6Addr};

use tomori_net::{
    Mode, NetConfig, Policy, Scope, UrlCheckOptions, classify, html_to_markdown, paginate,
    url_check,
};

use crate::support::ScriptedLookup;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const URL_PARTS: &[&str] = &[
    "http://",
    "https://",
    "HTTP://",
    "ftp://",
    "file:",
    "javascript:",
    "//",
    "http:",
    "\\\\",
    "@",
    ":",
    "::",
    "[",
    "]",
    "%",
    "%2e",
    "%00",
    "%zz",
    ".",
    "..",
    "/",
    "?",
    "#",
    "0x",
    "0",
    "00",
    "1",
    "127",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "2130706433",
    "017700000001",
    "0x7f.1",
    "::ffff:",
    "7f00:1",
    "fe80::1%25eth0",
    "64:ff9b::",
    "2002:",
    "2001:0:",
    "fd00:ec2::254",
    "169.254.169.254",
    "localhost",
    "example.com",
    "xn--",
    "bücher",
    "\u{ff11}",
    "\u{3002}",
    "\u{ff0e}",
    "\u{200b}",
    "\u{0}",
    " ",
    "\t",
    "\n",
    "user",
    "pass",
    "a",
    "-",
    "_",
    "*",
    "é",
    "日本",
    "\u{fffd}",
];

const HTML_PARTS: &[&str] = &[
    "<p>",
    "</p>",
    "<ul>",
    "</ul>",
    "<li>",
    "<ol start=\"-5\">",
    "<ol start=\"99999999999999999999\">",
    "<a href=\"",
    "\">",
    "</a>",
    "<pre>",
    "</pre>",
    "<code>",
    "</code>",
    "<b>",
    "</b>",
    "<i>",
    "<table><tr><td>",
    "</td><td>",
    "</tr></table>",
    "<blockquote>",
    "<h1>",
    "</h1>",
    "<h6>",
    "<br>",
    "<hr>",
    "<img src=\"",
    "\" alt=\"",
    "<script>",
    "</script>",
    "<div hidden>",
    "</div>",
    "<div style=\"display:none\">",
    "<template>",
    "<!--",
    "-->",
    "<![CDATA[",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "text",
    " ",
    "\n",
    "é",
    "日本語",
    "javascript:",
    "http://x/",
    "../",
    "[",
    "]",
    "*",
    "`",
    "<",
    ">",
    "\"",
    "'",
    "<svg>",
    "<math>",
    "<noscript>",
    "<dialog open>",
];

fn generate(rng: &mut Rng, parts: &[&str], max_parts: usize) -> String {
    let n = rng.below(max_parts) + 1;
    (0..n).map(|_| rng.pick(parts)).collect()
}

const SCOPES: [Scope; 5] =
    [Scope::Server, Scope::Personal, Scope::Tool, Scope::Media, Scope::Operator];

#[test]
fn random_urls_never_panic_the_policy() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let policies: Vec<Policy> = SCOPES
        .iter()
        .flat_map(|scope| {
            [
                Policy::new(*scope),
                Policy::new(*scope).with_mode(Mode::Development).with_private_networks(true),
                Policy::new(*scope).allow_loopback_for_tests(),
            ]
        })
        .collect();
    for _ in 0..20_000 {
        let input = generate(&mut rng, URL_PARTS, 12);
        for policy in &policies {
            if let Ok(url) = policy.parse_url(&input) {
                // Whatever passed must pass again, and redirects to itself are judged the same.
                assert!(policy.check_url(&url).is_ok(), "{input:?}");
                assert!(policy.check_redirect(&url, &url).is_ok(), "{input:?}");
            }
        }
        let _ = tomori_net::parse_resolve_override(&input);
        let _ = tomori_net::check_operator_endpoint(&match tomori_net::Url::parse(&input) {
            Ok(url) => url,
            Err(_) => continue,
        });
    }
}

#[test]
fn random_addresses_always_classify() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..100_000 {
        let bits = u128::from(rng.next()) << 64 | u128::from(rng.next());
        // Bias towards the interesting prefixes by overwriting the top bits now and then.
        let prefix: u128 = match rng.below(6) {
            0 => 0x0064_ff9b_0001 << 80,
            1 => 0x2002 << 112,
            2 => 0x2001_0000 << 96,
            3 => 0xffff << 32,
            _ => 0,
        };
        let ip = Ipv6Addr::from(if prefix == 0 { bits } else { prefix | (bits & ((1 << 80) - 1)) });
        let _ = classify(IpAddr::V6(ip));
        let _ = classify(IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(bits >> 96).unwrap())));
    }
}

#[tokio::test]
async fn random_urls_never_panic_url_check() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let lookup = ScriptedLookup::new(vec![vec!["93.184.216.34".parse().unwrap()]]);
    let opts = UrlCheckOptions {
        scope: Scope::Tool,
        config: NetConfig::default(),
        resolve: Vec::new(),
        lookup: Some(lookup),
    };
    for _ in 0..2_000 {
        let input = generate(&mut rng, URL_PARTS, 10);
        let line = url_check(&input, &opts).await.to_string();
        assert_eq!(line.lines().count(), 1, "{input:?} -> {line:?}");
        assert!(line.starts_with("ALLOWED ") || line.starts_with("REFUSED "), "{line:?}");
    }
}

#[test]
fn random_html_never_panics_the_converter() {
    let mut rng = Rng(0x0bad_cafe_dead_beef);
    let base = tomori_net::Url::parse("https://example.com/a/b").unwrap();
    for _ in 0..3_000 {
        let html = generate(&mut rng, HTML_PARTS, 40);
        let markdown = html_to_markdown(&html, Some(&base));
        let offset = rng.below(markdown.chars().count() + 3);
        let page = paginate(&markdown, offset, rng.below(50));
        assert!(page.text.chars().count() <= 50);
    }
}
