//! Address classification by range arithmetic over the IANA IPv4 and IPv6 special-purpose
//! address registries.
//!
//! `classify` answers "what kind of address is this?" and nothing else: whether a class is
//! allowed depends on the scope and mode, and that decision lives in `policy`. IPv6 forms that
//! carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged by the IPv4
//! address they carry, so `[::ffff:7f00:1]` is loopback, not "some IPv6 address". Nothing here
//! does IO or looks at names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address is, by the special-purpose registries; `Public` when no special range holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Globally reachable unicast.
    Public,
    /// `0.0.0.0/8` ("this network") and `::`. Linux connects `0.0.0.0` to the local host.
    Unspecified,
    /// `127.0.0.0/8` and `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// Shared address space for carrier-grade NAT, `100.64.0.0/10`.
    Shared,
    /// `169.254.0.0/16` and `fe80::/10`; cloud metadata services live here, so never allowed.
    LinkLocal,
    /// A known cloud-metadata endpoint outside link-local (`fd00:ec2::254`, `100.100.100.200`,
    /// `192.0.0.192`) or the well-known ones inside it (`169.254.169.254`, `169.254.170.2`).
    CloudMetadata,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15` and `2001:2::/48`.
    Benchmarking,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// Not globally routable and not covered by a more specific class: `240/4`, the deprecated
    /// 6to4 relay anycast `192.88.99/24`, SRv6 SIDs `5f00::/16`, the dummy prefix
    /// `100:0:0:1::/64`, and every IPv6 address outside `2000::/3`.
    Reserved,
    /// `255.255.255.255`.
    Broadcast,
    /// IETF protocol assignments: `192.0.0.0/24` and the rest of `2001::/23` (ORCHID and friends).
    ProtocolAssignment,
    /// Deprecated site-local `fec0::/10`; still routed inside some networks.
    SiteLocal,
    /// Unique local `fc00::/7`, the IPv6 counterpart of RFC 1918.
    UniqueLocal,
    /// Discard-only `100::/64`.
    Discard,
}

impl Class {
    /// Stable snake_case code for logs, reports and tests. Never renamed once shipped.
    pub fn code(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Unspecified => "unspecified",
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::Shared => "shared",
            Class::LinkLocal => "link_local",
            Class::CloudMetadata => "cloud_metadata",
            Class::Documentation => "documentation",
            Class::Benchmarking => "benchmarking",
            Class::Multicast => "multicast",
            Class::Reserved => "reserved",
            Class::Broadcast => "broadcast",
            Class::ProtocolAssignment => "protocol_assignment",
            Class::SiteLocal => "site_local",
            Class::UniqueLocal => "unique_local",
            Class::Discard => "discard",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How an IPv6 address carries the IPv4 address it was judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Embedding {
    /// `::ffff:0:0/96`.
    Ipv4Mapped,
    /// Deprecated `::/96` (other than `::` and `::1`).
    Ipv4Compatible,
    /// Well-known NAT64 prefix `64:ff9b::/96`.
    Nat64,
    /// Local-use NAT64 prefix `64:ff9b:1::/48`.
    Nat64Local,
    /// 6to4 `2002::/16`.
    SixToFour,
    /// Teredo `2001::/32`.
    Teredo,
}

impl Embedding {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "ipv4_mapped",
            Embedding::Ipv4Compatible => "ipv4_compatible",
            Embedding::Nat64 => "nat64",
            Embedding::Nat64Local => "nat64_local",
            Embedding::SixToFour => "6to4",
            Embedding::Teredo => "teredo",
        }
    }
}

/// The class of an address and, for IPv6 forms that carry IPv4, the IPv4 address it was judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Classification {
    /// The class that decides.
    pub class: Class,
    /// The carried IPv4 address that decided, when there is one.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

/// Classifies an address by range arithmetic; see [`Class`] for the ranges.
pub fn classify(ip: IpAddr) -> Classification {
    match ip {
        IpAddr::V4(v4) => Classification { class: classify_v4(v4), embedded: None },
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Most specific first: the first row that holds the address decides.
const V4_RANGES: &[(Ipv4Addr, u8, Class)] = &[
    (Ipv4Addr::new(169, 254, 169, 254), 32, Class::CloudMetadata), // AWS, GCP, Azure, OpenStack
    (Ipv4Addr::new(169, 254, 170, 2), 32, Class::CloudMetadata),   // AWS ECS task metadata
    (Ipv4Addr::new(100, 100, 100, 200), 32, Class::CloudMetadata), // Alibaba Cloud
    (Ipv4Addr::new(192, 0, 0, 192), 32, Class::CloudMetadata),     // Oracle Cloud
    (Ipv4Addr::new(255, 255, 255, 255), 32, Class::Broadcast),
    (Ipv4Addr::new(0, 0, 0, 0), 8, Class::Unspecified),
    (Ipv4Addr::new(10, 0, 0, 0), 8, Class::Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, Class::Shared),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Class::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, Class::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Class::Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Class::ProtocolAssignment),
    (Ipv4Addr::new(192, 0, 2, 0), 24, Class::Documentation),
    (Ipv4Addr::new(192, 88, 99, 0), 24, Class::Reserved),
    (Ipv4Addr::new(192, 168, 0, 0), 16, Class::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Class::Benchmarking),
    (Ipv4Addr::new(198, 51, 100, 0), 24, Class::Documentation),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Class::Documentation),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Class::Multicast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, Class::Reserved),
];

/// Most specific first, checked after the IPv4-carrying forms; the last row catches everything
/// outside global unicast `2000::/3`.
const V6_RANGES: &[(Ipv6Addr, u8, Class)] = &[
    (Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254), 128, Class::CloudMetadata), // AWS IMDS over IPv6
    (Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64, Class::Discard),
    (Ipv6Addr::new(0x0100, 0, 0, 1, 0, 0, 0, 0), 64, Class::Reserved),
    (Ipv6Addr::new(0x2001, 0x0002, 0, 0, 0, 0, 0, 0), 48, Class::Benchmarking),
    (Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0), 32, Class::Documentation),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, Class::ProtocolAssignment),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, Class::Documentation),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, Class::Reserved),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Class::UniqueLocal),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Class::LinkLocal),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Class::SiteLocal),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Class::Multicast),
    (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3, Class::Public),
    (Ipv6Addr::UNSPECIFIED, 0, Class::Reserved),
];

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    V4_RANGES
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map_or(Class::Public, |(_, _, class)| *class)
}

fn v4_at(octets: &[u8; 16], positions: [usize; 4]) -> Ipv4Addr {
    let [a, b, c, d] = positions.map(|i| octets[i]);
    Ipv4Addr::new(a, b, c, d)
}

fn carried(embedding: Embedding, v4: Ipv4Addr) -> Classification {
    Classification { class: classify_v4(v4), embedded: Some((embedding, v4)) }
}

fn classify_v6(ip: Ipv6Addr) -> Classification {
    let bits = u128::from(ip);
    let octets = ip.octets();
    let last32 = v4_at(&octets, [12, 13, 14, 15]);
    let plain = |class| Classification { class, embedded: None };

    if bits == 0 {
        return plain(Class::Unspecified);
    }
    if bits == 1 {
        return plain(Class::Loopback);
    }
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96) {
        return carried(Embedding::Ipv4Mapped, last32);
    }
    if in_v6(ip, Ipv6Addr::UNSPECIFIED, 96) {
        return carried(Embedding::Ipv4Compatible, last32);
    }
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return carried(Embedding::Nat64, last32);
    }
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48) {
        // Security: NAT64 smuggling. The local-use prefix may be any length from /48 to /96, and
        // RFC 6052 section 2.2 places the IPv4 bits differently for each (skipping the zero octet
        // 8). We cannot know which length the network uses, so every reading that is well-formed
        // (octet 8 and the suffix zero) must be allowed; the /96 reading always counts.
        const READINGS: [([usize; 4], usize); 3] =
            [([6, 7, 9, 10], 11), ([7, 9, 10, 11], 12), ([9, 10, 11, 12], 13)];
        let well_formed = |suffix_from: usize| {
            octets[8] == 0 && octets.get(suffix_from..).is_some_and(|s| s.iter().all(|o| *o == 0))
        };
        let refused_reading = READINGS
            .into_iter()
            .filter(|(_, suffix_from)| well_formed(*suffix_from))
            .map(|(positions, _)| carried(Embedding::Nat64Local, v4_at(&octets, positions)))
            .find(|reading| reading.class != Class::Public);
        return refused_reading.unwrap_or_else(|| carried(Embedding::Nat64Local, last32));
    }
    if in_v6(ip, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return carried(Embedding::SixToFour, v4_at(&octets, [2, 3, 4, 5]));
    }
    if in_v6(ip, Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32) {
        // Teredo (RFC 4380): the client's IPv4 address is stored inverted in the last 32 bits and
        // the server's in bits 32..63. Traffic reaches both, so both must pass.
        let client = Ipv4Addr::from(!u32::from(last32));
        let server = v4_at(&octets, [4, 5, 6, 7]);
        let client_class = carried(Embedding::Teredo, client);
        let server_class = carried(Embedding::Teredo, server);
        return if client_class.class == Class::Public && server_class.class != Class::Public {
            server_class
        } else {
            client_class
        };
    }
    let class = V6_RANGES
        .iter()
        .find(|(net, len, _)| in_v6(ip, *net, *len))
        .map_or(Class::Reserved, |(_, _, class)| *class);
    plain(class)
}
