//! Test fixtures: raw HTTP/1.1 servers on loopback that misbehave on request, and fake resolvers.
//!
//! The servers speak just enough HTTP to record what they were sent and to answer with exact
//! bytes, because the interesting cases (a lying `Content-Length`, a trickle, a bomb) are the
//! ones a well-behaved server framework will not produce. Every server stops by itself: it
//! accepts a bounded number of connections, gives up after a deadline, and is aborted on drop.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tomori_net::Lookup;

/// The loopback address test servers listen on; test policies allow exactly this one, so the rest
/// of loopback (127.0.0.1 above all) stays refused.
pub(crate) const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

const MAX_CONNECTIONS: usize = 64;
const SERVER_LIFETIME: Duration = Duration::from_secs(30);
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server writes back.
pub(crate) enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// `head`, then `count` single bytes `interval` apart, then close.
    Trickle { head: Vec<u8>, interval: Duration, count: usize },
}

type Handler = dyn Fn(&Recorded, u16) -> Reply + Send + Sync;

pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a server on `ip`; the handler gets each request and the server's own port.
    pub(crate) async fn start(
        ip: IpAddr,
        handler: impl Fn(&Recorded, u16) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind a loopback test server");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn(async move {
            let serve = async {
                for _ in 0..MAX_CONNECTIONS {
                    let Ok((mut stream, _)) = listener.accept().await else { return };
                    let Ok(Some(request)) =
                        tokio::time::timeout(Duration::from_secs(5), read_request(&mut stream))
                            .await
                            .unwrap_or(Ok(None))
                    else {
                        continue;
                    };
                    recorded.lock().unwrap().push(request.clone());
                    match handler(&request, addr.port()) {
                        Reply::Raw(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                        }
                        Reply::Trickle { head, interval, count } => {
                            let _ = stream.write_all(&head).await;
                            for _ in 0..count {
                                tokio::time::sleep(interval).await;
                                if stream.write_all(b"x").await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = stream.shutdown().await;
                }
            };
            let _ = tokio::time::timeout(SERVER_LIFETIME, serve).await;
        });
        TestServer { addr, requests, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> io::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > MAX_REQUEST_BYTES {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST_BYTES);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Recorded { method, path, headers, body }))
}

/// A complete response with `Content-Length` (unless `headers` frame the body some other way)
/// and `Connection: close`.
pub(crate) fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("HTTP/1.1 {status} Test\r\nConnection: close\r\n");
    let framed = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    if !framed {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Raw(bytes)
}

pub(crate) fn redirect(status: u16, location: &str) -> Reply {
    response(status, &[("Location", location)], b"")
}

/// `body` in HTTP/1.1 chunked framing, `piece` bytes per chunk.
pub(crate) fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in body.chunks(piece) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A resolver that gives scripted answers in order (the last one repeats) and counts lookups.
pub(crate) struct ScriptedLookup {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    pub(crate) calls: Mutex<Vec<String>>,
}

impl ScriptedLookup {
    pub(crate) fn new(answers: Vec<Vec<IpAddr>>) -> Arc<Self> {
        Arc::new(ScriptedLookup {
            answers: Mutex::new(answers.into()),
            calls: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Lookup for ScriptedLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        self.calls.lock().unwrap().push(host.to_owned());
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() };
        Box::pin(async move {
            answer.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no scripted answer"))
        })
    }
}

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}
