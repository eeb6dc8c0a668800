//! `tomori healthcheck`: asks this instance's own listener for `/health/ready` and exits 0 when
//! it answers 200, for a container's HEALTHCHECK or a service manager (the slim image has no
//! HTTP client of its own). Plain HTTP/1.1 over a loopback TCP connection, a few seconds at most.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::commands::say;
use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Where to ask: the configured listener, with an unspecified address (`0.0.0.0`, `::`) asked on
/// loopback, where it also listens.
fn target(config: &Config) -> anyhow::Result<SocketAddr> {
    let Some(listen) = config.web.address() else {
        bail!("[web] listen is empty: this instance serves no health endpoint");
    };
    let mut addr: SocketAddr = listen.parse().context("[web] listen")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// The status code of `GET /health/ready` at `addr`.
fn ready_status(addr: SocketAddr) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // One write: a server may answer (and close) as soon as it has the request line.
    let request =
        format!("GET /health/ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    // The status line is all that is needed; a few hundred bytes hold it.
    let mut head = [0_u8; 512];
    let mut read = 0;
    while read < head.len() {
        let n = stream.read(&mut head[read..]).context("reading the answer")?;
        if n == 0 || head[..read + n].contains(&b'\n') {
            read += n;
            break;
        }
        read += n;
    }
    let text = String::from_utf8_lossy(&head[..read]);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next().and_then(|code| code.parse::<u16>().ok())) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => Ok(code),
        _ => bail!("{addr} did not answer HTTP"),
    }
}

/// `tomori healthcheck`: exit 0 when ready, 1 with one line saying why not.
pub(crate) fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let addr = target(config)?;
    let status = ready_status(addr)?;
    if status == 200 {
        say("ready");
        return Ok(ExitCode::SUCCESS);
    }
    bail!("not ready: {addr} answered {status} (GET /health/ready names what is missing)");
}
