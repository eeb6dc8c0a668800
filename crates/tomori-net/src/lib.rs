//! tomori-net: the one guarded door for URLs that users, admins and the model supply.
//!
//! Invariant: this is the only crate that builds HTTP clients (clippy's `disallowed-methods`
//! makes every other way a build error), and every user-, admin- or model-supplied URL passes
//! the [`Policy`] before any connection is made, redirects included. It knows nothing about
//! Discord, providers or tools; they ask it for a [`Client`] for their [`Scope`].
//!
//! The layers, from data to IO:
//! - [`classify`]: what an address is, by range arithmetic over the IANA special-purpose
//!   registries (IPv4-carrying IPv6 forms judged by the IPv4 they carry).
//! - [`Policy`]: what a scope (`server`, `personal`, `tool`, `media`, `operator`) may reach in a
//!   [`Mode`], with the operator's private-network opt-in from [`NetConfig`]. Cloud metadata is
//!   refused in every mode. [`check_operator_endpoint`] judges endpoints from the config file.
//! - [`CheckedResolver`]: reqwest's resolver; a name is refused when any answer is, and hyper
//!   connects only to the answers that were judged. [`Lookup`] makes DNS replaceable (tests,
//!   `--resolve`).
//! - [`Client`]: the URL is judged before sending (IP literals never reach the resolver), every
//!   connection's peer address is judged once more, redirects are followed here (at most
//!   [`MAX_REDIRECTS`], each judged, secrets dropped across origins, no https to http), and
//!   bodies stream under [`Limits`] (wire cap, decoded cap, timeouts, content types).
//!   [`Client::safe_download`] returns a [`Download`] or a [`FetchError`] with a stable code.
//!   [`Client::reqwest_client`] hands the guarded `reqwest::Client` to libraries such as rmcp.
//! - [`html_to_markdown`] and [`paginate`]: what fetch_url shows the model.
//!
//! Call [`install_crypto_provider`] at the top of `main` and of test harnesses;
//! [`ClientBuilder::build`] also calls it, so a forgotten call cannot panic.
//!
//! # The `tomori url-check` command
//!
//! ```text
//! tomori url-check URL [--scope server|personal|tool|media] [--production|--development]
//!                      [--allow-private] [--resolve HOST:IP]...
//! ```
//!
//! The binary maps its flags onto [`UrlCheckOptions`] (parsing each `--resolve` with
//! [`parse_resolve_override`]), awaits [`url_check`], prints the report's `Display` (one line:
//! `ALLOWED public 93.184.216.34`, `REFUSED cloud_metadata 169.254.169.254`,
//! `REFUSED insecure_scheme example.com`) and exits with [`UrlCheckReport::exit_code`]: 0 when
//! allowed, 3 when refused; 2 stays with the argument parser for usage errors. Names given with
//! `--resolve` never touch DNS; other names are resolved with the system resolver. Nothing is
//! connected to.

mod addr;
mod check;
mod client;
mod connect;
mod decode;
mod error;
#[cfg(any(test, fuzzing))]
pub mod fuzz;
mod html;
mod limits;
mod policy;
mod resolve;

pub use addr::{Class, Classification, Embedding, classify};
pub use check::{
    EXIT_ALLOWED, EXIT_REFUSED, UrlCheckOptions, UrlCheckReport, parse_resolve_override, url_check,
};
pub use client::{
    Client, ClientBuilder, Download, MAX_REDIRECTS, Redirects, RequestBuilder, Response,
    install_crypto_provider,
};
pub use error::{FetchError, find_refusal};
pub use html::{Page, html_to_markdown, paginate};
pub use limits::Limits;
pub use policy::{
    Mode, NetConfig, Policy, Reason, Refusal, Scope, Target, check_operator_endpoint,
};
pub use resolve::{CheckedResolver, Lookup, OverrideLookup, SystemLookup};

// Types that appear in this crate's API, so callers need not name reqwest or url versions.
pub use reqwest::{Method, StatusCode, header};
pub use url::Url;
