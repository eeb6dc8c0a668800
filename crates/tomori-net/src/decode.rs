//! Streaming `Content-Encoding` decoding with a hard cap on the decoded size.
//!
//! reqwest's own decompression is switched off for every client we build, because it hides the
//! wire size and has no output cap. Here each arriving chunk is pushed through a write-side
//! decoder into a [`Sink`] that refuses to grow past the cap, so a gzip, deflate or brotli bomb is
//! stopped after at most one decoder buffer past the limit, not after it has filled memory.
//! Supported: identity, gzip (also multi-member), deflate (zlib-wrapped or raw), br.

use std::io::{self, Write};

use brotli_decompressor::DecompressorWriter;
use bytes::Bytes;
use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use crate::error::FetchError;

/// A `Write` target that refuses to hold more than `cap` bytes in total.
#[derive(Debug)]
struct Sink {
    buf: Vec<u8>,
    written: u64,
    cap: u64,
    over: bool,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let total = self.written.saturating_add(len_u64(data.len()));
        if total > self.cap {
            self.over = true;
            return Err(io::Error::other("decoded size cap reached"));
        }
        self.buf.extend_from_slice(data);
        self.written = total;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

enum Kind {
    Identity { produced: u64 },
    Gzip(Box<MultiGzDecoder<Sink>>),
    Zlib(Box<ZlibDecoder<Sink>>),
    RawDeflate(Box<DeflateDecoder<Sink>>),
    // Zlib or raw deflate is decided by the first two bytes, which may arrive in pieces.
    DeflateUndecided(Vec<u8>),
    Brotli(Box<DecompressorWriter<Sink>>),
}

/// Decodes one response body, chunk by chunk.
pub(crate) struct Decoder {
    kind: Kind,
    cap: u64,
    fed: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Identity { .. } => "identity",
            Kind::Gzip(_) => "gzip",
            Kind::Zlib(_) | Kind::RawDeflate(_) | Kind::DeflateUndecided(_) => "deflate",
            Kind::Brotli(_) => "br",
        };
        f.debug_struct("Decoder").field("kind", &kind).field("cap", &self.cap).finish()
    }
}

fn decode_error(reason: impl Into<String>) -> FetchError {
    FetchError::Decode { reason: reason.into() }
}

fn sink(cap: u64) -> Sink {
    Sink { buf: Vec::new(), written: 0, cap, over: false }
}

/// Writes `input` through a decoder and takes whatever decoded output is ready.
fn feed<W: Write>(
    decoder: &mut W,
    input: &[u8],
    sink_of: fn(&mut W) -> &mut Sink,
    cap: u64,
) -> Result<Bytes, FetchError> {
    let result = decoder.write_all(input).and_then(|()| decoder.flush());
    let sink = sink_of(decoder);
    if sink.over {
        return Err(FetchError::TooLarge { limit: cap });
    }
    result.map_err(|error| decode_error(error.to_string()))?;
    Ok(Bytes::from(std::mem::take(&mut sink.buf)))
}

fn finished(sink: &mut Sink, result: io::Result<()>, cap: u64) -> Result<Bytes, FetchError> {
    if sink.over {
        return Err(FetchError::TooLarge { limit: cap });
    }
    result.map_err(|error| decode_error(error.to_string()))?;
    Ok(Bytes::from(std::mem::take(&mut sink.buf)))
}

impl Decoder {
    /// A decoder for the given `Content-Encoding` header values, capped at `cap` decoded bytes.
    pub(crate) fn new(encodings: &[&str], cap: u64) -> Result<Self, FetchError> {
        let encoding = match encodings {
            [] => "identity".to_owned(),
            [one] => one.trim().to_ascii_lowercase(),
            _ => return Err(decode_error("more than one content-encoding")),
        };
        let kind = match encoding.as_str() {
            "" | "identity" => Kind::Identity { produced: 0 },
            "gzip" | "x-gzip" => Kind::Gzip(Box::new(MultiGzDecoder::new(sink(cap)))),
            "deflate" => Kind::DeflateUndecided(Vec::new()),
            "br" => Kind::Brotli(Box::new(DecompressorWriter::new(sink(cap), 4096))),
            other => return Err(decode_error(format!("unsupported content-encoding {other:?}"))),
        };
        Ok(Decoder { kind, cap, fed: false })
    }

    /// Decodes the next chunk of the body; the result may be empty.
    pub(crate) fn push(&mut self, input: Bytes) -> Result<Bytes, FetchError> {
        if input.is_empty() {
            return Ok(Bytes::new());
        }
        self.fed = true;
        let cap = self.cap;
        match &mut self.kind {
            Kind::Identity { produced } => {
                *produced = produced.saturating_add(len_u64(input.len()));
                if *produced > cap {
                    return Err(FetchError::TooLarge { limit: cap });
                }
                Ok(input)
            }
            Kind::Gzip(decoder) => feed(decoder.as_mut(), &input, |d| d.get_mut(), cap),
            Kind::Zlib(decoder) => feed(decoder.as_mut(), &input, |d| d.get_mut(), cap),
            Kind::RawDeflate(decoder) => feed(decoder.as_mut(), &input, |d| d.get_mut(), cap),
            Kind::Brotli(decoder) => feed(decoder.as_mut(), &input, |d| d.get_mut(), cap),
            Kind::DeflateUndecided(pending) => {
                pending.extend_from_slice(&input);
                let Some(&[cmf, flg]) = pending.first_chunk::<2>() else {
                    return Ok(Bytes::new());
                };
                // RFC 1950: a zlib header has compression method 8 and a header checksum that
                // makes CMF*256+FLG a multiple of 31. Some servers send raw deflate instead.
                let is_zlib = cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
                let buffered = Bytes::from(std::mem::take(pending));
                self.kind = if is_zlib {
                    Kind::Zlib(Box::new(ZlibDecoder::new(sink(cap))))
                } else {
                    Kind::RawDeflate(Box::new(DeflateDecoder::new(sink(cap))))
                };
                self.push(buffered)
            }
        }
    }

    /// Ends the body: flushes what the decoder still holds and checks the stream was complete.
    pub(crate) fn finish(&mut self) -> Result<Bytes, FetchError> {
        if !self.fed {
            // An empty body (HEAD, 204) is fine whatever the encoding header says.
            return Ok(Bytes::new());
        }
        let cap = self.cap;
        match &mut self.kind {
            Kind::Identity { .. } => Ok(Bytes::new()),
            Kind::Gzip(decoder) => {
                let result = decoder.try_finish();
                finished(decoder.get_mut(), result, cap)
            }
            Kind::Zlib(decoder) => {
                let result = decoder.try_finish();
                finished(decoder.get_mut(), result, cap)
            }
            Kind::RawDeflate(decoder) => {
                let result = decoder.try_finish();
                finished(decoder.get_mut(), result, cap)
            }
            Kind::Brotli(decoder) => {
                let result = decoder.close();
                finished(decoder.get_mut(), result, cap)
            }
            Kind::DeflateUndecided(_) => Err(decode_error("deflate body ended after one byte")),
        }
    }
}

#[cfg(test)]
mod tests;
