//! A minimal HTTP/1.1 client for tests of the bot's own listener (health and metrics) and the
//! fakes' browser-facing routes: one request per connection, `Connection: close`, the whole
//! body read. No TLS, no redirects followed.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A response: status code and body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header lines, as sent.
    pub headers: String,
    /// The body, as text.
    pub body: String,
}

/// GETs `path` from `addr`; `None` when nothing answers or the answer is not HTTP.
pub async fn get(addr: SocketAddr, path: &str) -> Option<Reply> {
    send(addr, "GET", path, &[], "").await
}

/// Sends `method path` with the extra `headers` and `body` (a `Content-Length` is added when
/// there is a body); `None` when nothing answers or the answer is not HTTP.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.ok()?;
    let raw = read_response(&mut stream).await?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some(Reply { status, headers: headers.to_owned(), body })
}

/// Reads one response: up to its `Content-Length` when it has one (some servers, chromedriver
/// among them, say `Connection: close` and keep the socket open), else to the end.
async fn read_response(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0_u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "content-length").then(|| value.trim().parse::<usize>().ok())?
            });
            if let Some(length) = length {
                while raw.len() < end + 4 + length {
                    let read = stream.read(&mut chunk).await.ok()?;
                    if read == 0 {
                        break;
                    }
                    raw.extend_from_slice(&chunk[..read]);
                }
                return Some(raw);
            }
            stream.read_to_end(&mut raw).await.ok()?;
            return Some(raw);
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return Some(raw);
        }
        raw.extend_from_slice(&chunk[..read]);
    }
}

/// [`send`] with a body of bytes (a multipart upload); the answer's body as text, lossily.
pub async fn send_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let (status, head, raw) = exchange(addr, method, path, headers, body).await?;
    Some(Reply { status, headers: head, body: String::from_utf8_lossy(&raw).into_owned() })
}

/// GETs `path` and returns the status and the body's bytes (an image), for an answer with a
/// `Content-Length`.
pub async fn get_bytes(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let (status, _, raw) = exchange(addr, "GET", path, &[], &[]).await?;
    Some((status, raw))
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.ok()?;
    stream.write_all(body).await.ok()?;
    let raw = read_response(&mut stream).await?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(raw.get(..end)?).into_owned();
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    Some((status, headers.to_owned(), raw.get(end + 4..)?.to_vec()))
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// A loopback address with a port that was free a moment ago, for a listener the test starts
/// in another process.
pub fn free_loopback_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("a bound listener has an address")
}
