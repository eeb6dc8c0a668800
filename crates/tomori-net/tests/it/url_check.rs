//! `tomori url-check`: one line per verdict and the exit code, with names answered by
//! `--resolve` overrides or a fake resolver, never by real DNS.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tomori_net::{
    Lookup, Mode, NetConfig, Scope, UrlCheckOptions, parse_resolve_override, url_check,
};

use crate::support::{ScriptedLookup, ip};

/// A resolver that knows no names, so a test that reaches it by mistake gets `resolve_failed`.
struct NoDns;

impl Lookup for NoDns {
    fn lookup(&self, _host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        Box::pin(async { Err(io::Error::new(io::ErrorKind::NotFound, "no DNS in tests")) })
    }
}

/// `args` mimics the command line after the URL: `--scope X`, `--development`,
/// `--allow-private`, `--resolve HOST:IP`.
async fn run(url: &str, args: &[&str]) -> String {
    let mut opts = UrlCheckOptions { lookup: Some(Arc::new(NoDns)), ..UrlCheckOptions::default() };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--scope" => opts.scope = args.next().unwrap().parse::<Scope>().unwrap(),
            "--development" => opts.config.mode = Mode::Development,
            "--production" => opts.config.mode = Mode::Production,
            "--allow-private" => opts.config.allow_private_networks = true,
            "--resolve" => opts.resolve.push(parse_resolve_override(args.next().unwrap()).unwrap()),
            other => panic!("unknown flag {other}"),
        }
    }
    let report = url_check(url, &opts).await;
    format!("{report} (exit {})", report.exit_code())
}

#[tokio::test]
async fn prints_one_line_with_reason_and_address() {
    let rows: &[(&str, &[&str], &str)] = &[
        (
            "https://example.com/",
            &["--resolve", "example.com:93.184.216.34"],
            "ALLOWED public 93.184.216.34 (exit 0)",
        ),
        (
            "https://EXAMPLE.com./",
            &["--resolve", "Example.COM.:93.184.216.34"],
            "ALLOWED public 93.184.216.34 (exit 0)",
        ),
        (
            "https://dual.example/",
            &[
                "--resolve",
                "dual.example:93.184.216.34",
                "--resolve",
                "dual.example:[2606:2800:220:1::1]",
            ],
            "ALLOWED public 93.184.216.34,2606:2800:220:1::1 (exit 0)",
        ),
        (
            "http://169.254.169.254/latest/",
            &["--scope", "tool"],
            "REFUSED cloud_metadata 169.254.169.254 (exit 3)",
        ),
        (
            "http://[::ffff:7f00:1]/",
            &["--scope", "tool"],
            "REFUSED loopback ::ffff:127.0.0.1 (exit 3)",
        ),
        ("http://2130706433/", &["--scope", "tool"], "REFUSED loopback 127.0.0.1 (exit 3)"),
        ("https://8.8.8.8/", &[], "ALLOWED public 8.8.8.8 (exit 0)"),
        (
            "https://intranet.example/",
            &["--resolve", "intranet.example:10.0.0.5"],
            "REFUSED private 10.0.0.5 (exit 3)",
        ),
        (
            "https://intranet.example/",
            &["--allow-private", "--resolve", "intranet.example:10.0.0.5"],
            "ALLOWED private 10.0.0.5 (exit 0)",
        ),
        (
            "https://intranet.example/",
            &["--scope", "personal", "--allow-private", "--resolve", "intranet.example:10.0.0.5"],
            "REFUSED private 10.0.0.5 (exit 3)",
        ),
        (
            "https://rebind.example/",
            &[
                "--resolve",
                "rebind.example:93.184.216.34",
                "--resolve",
                "rebind.example:169.254.169.254",
            ],
            "REFUSED cloud_metadata 169.254.169.254 (exit 3)",
        ),
        (
            "http://example.com/",
            &["--resolve", "example.com:93.184.216.34"],
            "REFUSED insecure_scheme example.com (exit 3)",
        ),
        (
            "http://example.com/",
            &["--development", "--resolve", "example.com:93.184.216.34"],
            "ALLOWED public 93.184.216.34 (exit 0)",
        ),
        (
            "http://localhost:11434/",
            &["--development", "--resolve", "localhost:127.0.0.1"],
            "ALLOWED loopback 127.0.0.1 (exit 0)",
        ),
        ("https://localhost/", &[], "REFUSED loopback localhost (exit 3)"),
        ("https://user:pw@example.com/", &[], "REFUSED userinfo example.com (exit 3)"),
        ("ftp://example.com/", &[], "REFUSED unsupported_scheme example.com (exit 3)"),
        ("not a url", &[], "REFUSED invalid_url - (exit 3)"),
        ("https://unknown.example/", &[], "REFUSED resolve_failed unknown.example (exit 3)"),
        (
            "http://cdn.example/a.png",
            &["--scope", "media"],
            "REFUSED insecure_scheme cdn.example (exit 3)",
        ),
    ];
    let mut failures = Vec::new();
    for (url, args, expected) in rows {
        let actual = run(url, args).await;
        if actual != *expected {
            failures.push(format!("{url} {args:?}: expected {expected}, got {actual}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn overridden_names_never_reach_the_resolver() {
    let fallback = ScriptedLookup::new(vec![vec![ip("10.9.9.9")]]);
    let opts = UrlCheckOptions {
        scope: Scope::Server,
        config: NetConfig::default(),
        resolve: vec![parse_resolve_override("pinned.example:93.184.216.34").unwrap()],
        lookup: Some(fallback.clone()),
    };
    let report = url_check("https://pinned.example/v1", &opts).await;
    assert_eq!(report.to_string(), "ALLOWED public 93.184.216.34");
    let report = url_check("https://other.example/v1", &opts).await;
    assert_eq!(report.to_string(), "REFUSED private 10.9.9.9");
    assert_eq!(fallback.calls(), ["other.example"]);
}

#[test]
fn parses_resolve_overrides_like_curl() {
    let parse = |value: &str| match parse_resolve_override(value) {
        Ok((host, ip)) => format!("{host} {ip}"),
        Err(message) => format!("error: {message}"),
    };
    assert_eq!(parse("example.com:10.0.0.1"), "example.com 10.0.0.1");
    assert_eq!(parse("Example.COM:::1"), "example.com ::1");
    assert_eq!(parse("example.com:[fd00::1]"), "example.com fd00::1");
    assert_eq!(parse("bücher.example:1.2.3.4"), "xn--bcher-kva.example 1.2.3.4");
    assert_eq!(parse("example.com"), "error: expected HOST:IP, got \"example.com\"");
    assert_eq!(
        parse("example.com:not-an-ip"),
        "error: expected HOST:IP, got \"example.com:not-an-ip\""
    );
    assert_eq!(parse("10.0.0.1:10.0.0.2"), "error: expected HOST:IP, got \"10.0.0.1:10.0.0.2\"");
    assert_eq!(parse(":1.2.3.4"), "error: expected HOST:IP, got \":1.2.3.4\"");
}
