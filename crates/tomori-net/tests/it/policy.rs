//! The URL policy as a decision table: scope and settings, URL in, verdict out. URLs are parsed
//! by the WHATWG parser, so every odd spelling of an address is judged by the address.

use tomori_net::{Mode, Policy, Scope, Target, Url, check_operator_endpoint};

use crate::support::ip;

/// `scope[+dev][+private][+test=IP]`, e.g. `server+dev`, `tool+private`, `media+test=127.0.0.2`.
fn policy(spec: &str) -> Policy {
    let mut parts = spec.split('+');
    let scope: Scope = parts.next().unwrap().parse().unwrap();
    let mut policy = Policy::new(scope);
    for part in parts {
        policy = match part {
            "dev" => policy.with_mode(Mode::Development),
            "private" => policy.with_private_networks(true),
            "test" => policy.allow_loopback_for_tests(),
            _ => match part.strip_prefix("test=") {
                Some(address) => policy.allow_loopback_address_for_tests(ip(address)),
                None => panic!("unknown policy part {part}"),
            },
        };
    }
    policy
}

fn verdict(policy: &Policy, input: &str) -> String {
    match policy.parse_url(input) {
        Ok(url) => match policy.check_url(&url).unwrap() {
            Target::Address(_, class) => format!("allowed {class}"),
            Target::Name(name) => format!("allowed name {name}"),
        },
        Err(refusal) => format!("refused {}", refusal.code()),
    }
}

#[track_caller]
fn check(rows: &[(&str, &str, &str)]) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(spec, input, expected)| {
            let actual = verdict(&policy(spec), input);
            (actual != *expected)
                .then(|| format!("{spec} {input}: expected {expected}, got {actual}"))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn judges_every_spelling_of_loopback_by_the_address() {
    check(&[
        ("tool", "http://127.0.0.1/", "refused loopback"),
        ("tool", "http://2130706433/", "refused loopback"),
        ("tool", "http://017700000001/", "refused loopback"),
        ("tool", "http://0x7f000001/", "refused loopback"),
        ("tool", "http://0x7f.1/", "refused loopback"),
        ("tool", "http://0177.0.0.1/", "refused loopback"),
        ("tool", "http://127.1/", "refused loopback"),
        ("tool", "http://127.0.1/", "refused loopback"),
        ("tool", "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/", "refused loopback"),
        ("tool", "http://127。0。0。1/", "refused loopback"),
        ("tool", "http://[::1]/", "refused loopback"),
        ("tool", "http://[::ffff:7f00:1]/", "refused loopback"),
        ("tool", "http://[::ffff:127.0.0.1]:8080/", "refused loopback"),
        ("tool", "http://[0:0:0:0:0:ffff:7f00:1]/", "refused loopback"),
        ("tool", "http://[64:ff9b::7f00:1]/", "refused loopback"),
        ("tool", "http://[2002:7f00:1::]/", "refused loopback"),
        ("tool", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "refused loopback"),
        ("tool", "http://localhost/", "refused loopback"),
        ("tool", "http://LOCALHOST./", "refused loopback"),
        ("tool", "http://api.localhost/", "refused loopback"),
        ("tool", "http://0/", "refused unspecified"),
        ("tool", "http://0.0.0.0:8080/", "refused unspecified"),
        ("tool", "http://[::]/", "refused unspecified"),
    ]);
}

#[test]
fn refuses_cloud_metadata_in_every_scope_and_mode() {
    let specs = ["tool", "tool+private", "server+dev+private", "personal", "media", "operator"];
    let urls = [
        ("http://169.254.169.254/latest/meta-data/", "refused cloud_metadata"),
        ("http://2852039166/", "refused cloud_metadata"),
        ("http://0xa9fea9fe/", "refused cloud_metadata"),
        ("http://[::ffff:169.254.169.254]/", "refused cloud_metadata"),
        ("http://[fd00:ec2::254]/", "refused cloud_metadata"),
        ("http://100.100.100.200/", "refused cloud_metadata"),
        ("http://192.0.0.192/", "refused cloud_metadata"),
        ("http://169.254.1.1/", "refused link_local"),
        ("http://[fe80::1]/", "refused link_local"),
        ("http://metadata.google.internal/", "refused cloud_metadata"),
    ];
    for spec in specs {
        let rows: Vec<(&str, &str, &str)> = urls
            .iter()
            .map(|(url, expected)| {
                // Personal and media refuse http before looking at the host.
                let strict = spec.starts_with("personal") || spec.starts_with("media");
                (spec, *url, if strict { "refused insecure_scheme" } else { *expected })
            })
            .collect();
        check(&rows);
        let https_rows: Vec<(&str, String, &str)> = urls
            .iter()
            .map(|(url, expected)| (spec, url.replacen("http://", "https://", 1), *expected))
            .collect();
        let borrowed: Vec<(&str, &str, &str)> =
            https_rows.iter().map(|(s, u, e)| (*s, u.as_str(), *e)).collect();
        check(&borrowed);
    }
}

#[test]
fn applies_scope_mode_and_private_opt_in() {
    check(&[
        // Tool: http to public hosts, private only by opt-in, never loopback.
        ("tool", "http://example.com/page", "allowed name example.com"),
        ("tool", "https://8.8.8.8/", "allowed public"),
        ("tool", "http://10.0.0.1/", "refused private"),
        ("tool+private", "http://10.0.0.1/", "allowed private"),
        ("tool+private", "http://100.64.0.1/", "allowed shared"),
        ("tool+private", "http://[fd12::1]/", "allowed unique_local"),
        ("tool+private", "http://198.18.0.1/", "allowed benchmarking"),
        ("tool+private", "http://127.0.0.1/", "refused loopback"),
        ("tool+dev+private", "http://127.0.0.1/", "refused loopback"),
        // Personal: production-strict whatever the operator chose.
        ("personal", "https://example.com/v1", "allowed name example.com"),
        ("personal+dev+private", "http://example.com/", "refused insecure_scheme"),
        ("personal+dev+private", "https://10.0.0.1/", "refused private"),
        ("personal+dev+private", "https://127.0.0.1/", "refused loopback"),
        ("personal+dev+private", "https://localhost/", "refused loopback"),
        // Media: https to public hosts.
        (
            "media",
            "https://cdn.discordapp.com/attachments/1/2/a.png",
            "allowed name cdn.discordapp.com",
        ),
        ("media", "http://cdn.discordapp.com/a.png", "refused insecure_scheme"),
        ("media+private", "https://192.168.1.1/", "refused private"),
        // Server: https in production, http and loopback in development, private by opt-in.
        ("server", "http://example.com/", "refused insecure_scheme"),
        ("server", "https://example.com/", "allowed name example.com"),
        ("server", "https://127.0.0.1/", "refused loopback"),
        ("server", "https://10.0.0.1/", "refused private"),
        ("server+private", "https://192.168.1.10/", "allowed private"),
        ("server+private", "http://192.168.1.10/", "refused insecure_scheme"),
        ("server+dev", "http://127.0.0.1:11434/v1", "allowed loopback"),
        ("server+dev", "http://localhost:11434/v1", "allowed name localhost"),
        ("server+dev", "http://10.0.0.1/", "refused private"),
        ("server+dev+private", "http://10.0.0.1/", "allowed private"),
        // Operator: trusted like the operator, metadata aside.
        ("operator", "http://127.0.0.1:11434/v1", "allowed loopback"),
        ("operator", "http://localhost:11434/v1", "allowed name localhost"),
        ("operator", "http://10.1.2.3:8080/", "allowed private"),
        ("operator", "http://0.0.0.0:8080/", "refused unspecified"),
        // Addresses that are never destinations.
        ("operator", "http://224.0.0.1/", "refused multicast"),
        ("operator", "http://255.255.255.255/", "refused broadcast"),
        ("operator", "http://240.0.0.1/", "refused reserved"),
        ("tool+private", "http://192.0.2.1/", "refused documentation"),
        ("tool+private", "http://[100::1]/", "refused discard"),
        ("tool+private", "http://[fec0::1]/", "allowed site_local"),
    ]);
}

#[test]
fn refuses_schemes_userinfo_and_garbage() {
    check(&[
        ("tool", "http://user:pass@example.com/", "refused userinfo"),
        ("tool", "http://user@example.com/", "refused userinfo"),
        ("tool", "http://:pass@example.com/", "refused userinfo"),
        ("tool", "https://example.com@127.0.0.1/", "refused userinfo"),
        ("tool", "ftp://example.com/", "refused unsupported_scheme"),
        ("tool", "file:///etc/passwd", "refused unsupported_scheme"),
        ("tool", "gopher://127.0.0.1:6379/_INFO", "refused unsupported_scheme"),
        ("tool", "javascript:alert(1)", "refused unsupported_scheme"),
        ("tool", "data:text/plain,hi", "refused unsupported_scheme"),
        ("tool", "ws://example.com/", "refused unsupported_scheme"),
        ("tool", "not a url", "refused invalid_url"),
        ("tool", "http://", "refused invalid_url"),
        ("tool", "http://exa mple.com/", "refused invalid_url"),
        ("tool", "http://256.0.0.1/", "refused invalid_url"),
        ("tool", "http://[::1/", "refused invalid_url"),
        ("tool", "", "refused invalid_url"),
    ]);
}

#[test]
fn test_allowances_are_narrow() {
    check(&[
        ("media+test=127.0.0.2", "http://127.0.0.2:8080/a.png", "allowed loopback"),
        ("media+test=127.0.0.2", "http://[::ffff:127.0.0.2]/", "allowed loopback"),
        ("media+test=127.0.0.2", "http://127.0.0.1/", "refused loopback"),
        ("media+test=127.0.0.2", "http://10.0.0.1/", "refused private"),
        ("media+test=10.0.0.1", "http://10.0.0.1/", "refused insecure_scheme"),
        ("personal+test", "http://127.0.0.1/", "allowed loopback"),
        ("personal+test", "http://[::1]/", "allowed loopback"),
        ("personal+test", "http://169.254.169.254/", "refused cloud_metadata"),
        ("personal+test", "http://192.168.0.1/", "refused private"),
    ]);
}

#[test]
fn refuses_https_to_http_redirects() {
    let policy = policy("tool");
    let from = Url::parse("https://example.com/a").unwrap();
    let down = Url::parse("http://example.com/b").unwrap();
    let same = Url::parse("https://other.example/b").unwrap();
    assert_eq!(policy.check_redirect(&from, &down).unwrap_err().code(), "https_downgrade");
    assert!(policy.check_redirect(&from, &same).is_ok());
    let plain = Url::parse("http://example.com/a").unwrap();
    assert!(policy.check_redirect(&plain, &down).is_ok());
}

#[test]
fn operator_endpoints_allow_local_services_but_not_metadata() {
    let verdict = |input: &str| match check_operator_endpoint(&Url::parse(input).unwrap()) {
        Ok(()) => "ok".to_owned(),
        Err(refusal) => refusal.code().to_owned(),
    };
    assert_eq!(verdict("http://127.0.0.1:11434/v1"), "ok");
    assert_eq!(verdict("http://ollama:11434/v1"), "ok");
    assert_eq!(verdict("http://192.168.1.5:8000/"), "ok");
    assert_eq!(verdict("https://api.openai.com/v1"), "ok");
    assert_eq!(verdict("http://169.254.169.254/"), "cloud_metadata");
    assert_eq!(verdict("http://[fd00:ec2::254]/"), "cloud_metadata");
    assert_eq!(verdict("http://[fe80::1]/"), "link_local");
    assert_eq!(verdict("http://user:pw@127.0.0.1/"), "userinfo");
    assert_eq!(verdict("file:///tmp/x"), "unsupported_scheme");
}

#[test]
fn refusals_say_what_was_judged() {
    let refusal = policy("tool").parse_url("http://[::ffff:a9fe:a9fe]/").unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "refused by URL policy: cloud_metadata (::ffff:169.254.169.254)"
    );
    let refusal = policy("media").parse_url("http://cdn.example/").unwrap_err();
    assert_eq!(refusal.to_string(), "refused by URL policy: insecure_scheme (cdn.example)");
    let resolved = policy("tool").check_resolved("evil.example", &[ip("8.8.8.8"), ip("10.0.0.1")]);
    assert_eq!(
        resolved.unwrap_err().to_string(),
        "refused by URL policy: private (evil.example -> 10.0.0.1)"
    );
}
