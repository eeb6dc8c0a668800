//! Unit tests for the capped decoders: round trips, bombs, and bodies split at awkward places.

use std::io::Write;

use bytes::Bytes;

use super::Decoder;
use crate::error::FetchError;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        encoder.write_all(data).unwrap();
    }
    out
}

/// Feeds `body` in pieces of `piece` bytes and returns the decoded text or the error code.
#[track_caller]
fn check(encoding: &str, body: &[u8], piece: usize, cap: u64, expected: &str) {
    let outcome = (|| -> Result<Vec<u8>, FetchError> {
        let mut decoder = Decoder::new(&[encoding], cap)?;
        let mut out = Vec::new();
        for part in body.chunks(piece) {
            out.extend_from_slice(&decoder.push(Bytes::copy_from_slice(part))?);
        }
        out.extend_from_slice(&decoder.finish()?);
        Ok(out)
    })();
    let actual = match outcome {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => format!("error {}", error.code()),
    };
    assert_eq!(actual, expected, "encoding {encoding}, piece {piece}");
}

#[test]
fn decodes_every_supported_encoding_in_any_piece_size() {
    let text = "hello tomori ".repeat(50);
    for piece in [1, 2, 7, 4096] {
        check("identity", text.as_bytes(), piece, 1 << 20, &text);
        check("gzip", &gzip(text.as_bytes()), piece, 1 << 20, &text);
        check("x-gzip", &gzip(text.as_bytes()), piece, 1 << 20, &text);
        check("deflate", &zlib(text.as_bytes()), piece, 1 << 20, &text);
        check("deflate", &raw_deflate(text.as_bytes()), piece, 1 << 20, &text);
        check("br", &brotli(text.as_bytes()), piece, 1 << 20, &text);
    }
}

#[test]
fn decodes_multi_member_gzip() {
    let mut body = gzip(b"first ");
    body.extend(gzip(b"second"));
    check("gzip", &body, 5, 1 << 20, "first second");
}

#[test]
fn stops_bombs_at_the_cap() {
    let zeros = vec![0_u8; 8 << 20];
    for (encoding, body) in [
        ("gzip", gzip(&zeros)),
        ("deflate", zlib(&zeros)),
        ("deflate", raw_deflate(&zeros)),
        ("br", brotli(&zeros)),
    ] {
        assert!(body.len() < 64 << 10, "{encoding} bomb is {} bytes", body.len());
        check(encoding, &body, 16 << 10, 1 << 20, "error too_large");
    }
    check("identity", &zeros, 1 << 20, 1 << 20, "error too_large");
}

#[test]
fn reports_corrupt_and_unsupported_encodings() {
    check("gzip", b"not gzip at all", 4, 1 << 20, "error decode");
    let truncated = gzip(b"some text that will be cut short");
    check("gzip", &truncated[..truncated.len() / 2], 4, 1 << 20, "error decode");
    check("zstd", b"x", 1, 1 << 20, "error decode");
    check("gzip, br", b"x", 1, 1 << 20, "error decode");
}

#[test]
fn an_empty_body_is_fine_whatever_the_encoding() {
    for encoding in ["gzip", "deflate", "br", "identity"] {
        check(encoding, b"", 1, 1 << 20, "");
    }
}
