//! Address classification against the IANA IPv4 and IPv6 special-purpose registries: range
//! edges on both sides, and every IPv6 form that carries an IPv4 address.

use std::net::IpAddr;

use tomori_net::{Classification, classify};

fn render(classification: Classification) -> String {
    match classification.embedded {
        Some((embedding, v4)) => format!("{} via {} {v4}", classification.class, embedding.code()),
        None => classification.class.to_string(),
    }
}

#[track_caller]
fn check(rows: &[(&str, &str)]) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(input, expected)| {
            let ip: IpAddr = input.parse().unwrap_or_else(|_| panic!("bad test address {input}"));
            let actual = render(classify(ip));
            (actual != *expected).then(|| format!("{input}: expected {expected}, got {actual}"))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn classifies_ipv4_special_purpose_ranges_at_their_edges() {
    check(&[
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("0.255.255.255", "unspecified"),
        ("1.0.0.0", "public"),
        ("9.255.255.255", "public"),
        ("10.0.0.0", "private"),
        ("10.255.255.255", "private"),
        ("11.0.0.0", "public"),
        ("100.63.255.255", "public"),
        ("100.64.0.0", "shared"),
        ("100.127.255.255", "shared"),
        ("100.128.0.0", "public"),
        ("100.100.100.200", "cloud_metadata"),
        ("126.255.255.255", "public"),
        ("127.0.0.0", "loopback"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.255", "loopback"),
        ("128.0.0.0", "public"),
        ("169.253.255.255", "public"),
        ("169.254.0.0", "link_local"),
        ("169.254.169.253", "link_local"),
        ("169.254.169.254", "cloud_metadata"),
        ("169.254.170.2", "cloud_metadata"),
        ("169.254.255.255", "link_local"),
        ("169.255.0.0", "public"),
        ("172.15.255.255", "public"),
        ("172.16.0.0", "private"),
        ("172.31.255.255", "private"),
        ("172.32.0.0", "public"),
        ("192.0.0.0", "protocol_assignment"),
        ("192.0.0.9", "protocol_assignment"),
        ("192.0.0.192", "cloud_metadata"),
        ("192.0.0.255", "protocol_assignment"),
        ("192.0.1.0", "public"),
        ("192.0.2.0", "documentation"),
        ("192.0.2.255", "documentation"),
        ("192.0.3.0", "public"),
        ("192.31.196.1", "public"),
        ("192.52.193.1", "public"),
        ("192.88.99.1", "reserved"),
        ("192.167.255.255", "public"),
        ("192.168.0.0", "private"),
        ("192.168.255.255", "private"),
        ("192.169.0.0", "public"),
        ("192.175.48.1", "public"),
        ("198.17.255.255", "public"),
        ("198.18.0.0", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.20.0.0", "public"),
        ("198.51.100.7", "documentation"),
        ("203.0.112.255", "public"),
        ("203.0.113.9", "documentation"),
        ("203.0.114.0", "public"),
        ("223.255.255.255", "public"),
        ("224.0.0.0", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.0", "reserved"),
        ("255.255.255.254", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("8.8.8.8", "public"),
        ("1.1.1.1", "public"),
        ("93.184.216.34", "public"),
    ]);
}

#[test]
fn classifies_ipv6_special_purpose_ranges() {
    check(&[
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("1::1", "reserved"),
        ("100::", "discard"),
        ("100::ffff:ffff:ffff:ffff", "discard"),
        ("100:0:0:1::1", "reserved"),
        ("100:1::", "reserved"),
        ("1fff:ffff::1", "reserved"),
        ("2000::1", "public"),
        ("2001:1::1", "protocol_assignment"),
        ("2001:2::1", "benchmarking"),
        ("2001:2:0:ffff::1", "benchmarking"),
        ("2001:3::1", "protocol_assignment"),
        ("2001:10::1", "protocol_assignment"),
        ("2001:20::1", "protocol_assignment"),
        ("2001:1ff:ffff::1", "protocol_assignment"),
        ("2001:200::1", "public"),
        ("2001:db7:ffff::1", "public"),
        ("2001:db8::1", "documentation"),
        ("2001:db8:ffff:ffff::1", "documentation"),
        ("2001:db9::1", "public"),
        ("2606:4700:4700::1111", "public"),
        ("2a00:1450:4001::1", "public"),
        ("3ffe:ffff::1", "public"),
        ("3fff::1", "documentation"),
        ("3fff:fff:ffff::1", "documentation"),
        ("3fff:1000::1", "public"),
        ("4000::1", "reserved"),
        ("5f00::1", "reserved"),
        ("e000::1", "reserved"),
        ("fbff:ffff::1", "reserved"),
        ("fc00::1", "unique_local"),
        ("fd12:3456:789a::1", "unique_local"),
        ("fd00:ec2::253", "unique_local"),
        ("fd00:ec2::254", "cloud_metadata"),
        ("fdff:ffff::1", "unique_local"),
        ("fe7f:ffff::1", "reserved"),
        ("fe80::1", "link_local"),
        ("febf:ffff::1", "link_local"),
        ("fec0::1", "site_local"),
        ("feff:ffff::1", "site_local"),
        ("ff00::1", "multicast"),
        ("ff02::1", "multicast"),
        ("ff05::1:3", "multicast"),
    ]);
}

#[test]
fn judges_ipv6_forms_that_carry_ipv4_by_the_ipv4() {
    check(&[
        // IPv4-mapped, in both spellings.
        ("::ffff:127.0.0.1", "loopback via ipv4_mapped 127.0.0.1"),
        ("::ffff:7f00:1", "loopback via ipv4_mapped 127.0.0.1"),
        ("::ffff:10.1.2.3", "private via ipv4_mapped 10.1.2.3"),
        ("::ffff:a9fe:a9fe", "cloud_metadata via ipv4_mapped 169.254.169.254"),
        ("::ffff:0.0.0.0", "unspecified via ipv4_mapped 0.0.0.0"),
        ("::ffff:8.8.8.8", "public via ipv4_mapped 8.8.8.8"),
        // IPv4-translated (SIIT) is not a carrying form we honour: plain reserved space.
        ("::ffff:0:127.0.0.1", "reserved"),
        // Deprecated IPv4-compatible.
        ("::2", "unspecified via ipv4_compatible 0.0.0.2"),
        ("::127.0.0.1", "loopback via ipv4_compatible 127.0.0.1"),
        ("::a00:1", "private via ipv4_compatible 10.0.0.1"),
        ("::8.8.8.8", "public via ipv4_compatible 8.8.8.8"),
        // NAT64, well-known prefix.
        ("64:ff9b::127.0.0.1", "loopback via nat64 127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "cloud_metadata via nat64 169.254.169.254"),
        ("64:ff9b::c0a8:101", "private via nat64 192.168.1.1"),
        ("64:ff9b::8.8.8.8", "public via nat64 8.8.8.8"),
        ("64:ff9b:0:0:1::8.8.8.8", "reserved"),
        // NAT64, local-use prefix: every well-formed RFC 6052 reading counts.
        ("64:ff9b:1::8.8.8.8", "public via nat64_local 8.8.8.8"),
        ("64:ff9b:1::10.0.0.1", "private via nat64_local 10.0.0.1"),
        ("64:ff9b:1:a00:0:100::", "private via nat64_local 10.0.0.1"),
        ("64:ff9b:1:ff7f:0:1::", "loopback via nat64_local 127.0.0.1"),
        ("64:ff9b:1:ff00:7f:0:100:0", "loopback via nat64_local 127.0.0.1"),
        ("64:ff9b:1:ffff:8:808:800:0", "public via nat64_local 8.0.0.0"),
        // 6to4.
        ("2002:7f00:1::1", "loopback via 6to4 127.0.0.1"),
        ("2002:a9fe:a9fe::", "cloud_metadata via 6to4 169.254.169.254"),
        ("2002:c000:204::1", "documentation via 6to4 192.0.2.4"),
        ("2002:808:808::1", "public via 6to4 8.8.8.8"),
        // Teredo: client is the last 32 bits inverted, server is bits 32..63; both must pass.
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation via teredo 192.0.2.45"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback via teredo 127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:5601:5601", "cloud_metadata via teredo 169.254.169.254"),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public via teredo 8.8.8.8"),
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "private via teredo 10.0.0.1"),
        ("2001::1", "reserved via teredo 255.255.255.254"),
    ]);
}
