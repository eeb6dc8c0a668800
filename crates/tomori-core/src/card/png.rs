//! PNG chunk walking for character cards: the signature, each chunk's length, type and CRC, the
//! text chunks (`tEXt`, `zTXt`, `iTXt`) that carry a card, and the writer that swaps a card's
//! text chunk in before `IEND`.
//!
//! Nothing here decodes pixels. A PNG is a signature followed by chunks of
//! `[length: u32 BE][type: 4 ASCII letters][data][crc32 of type and data]`, `IHDR` first and
//! `IEND` last; chunk order in between is not assumed (cards put `tEXt` before or after `IDAT`).

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

/// The eight bytes every PNG starts with.
pub const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The largest chunk length the PNG specification allows (2^31 - 1).
const MAX_CHUNK_LEN: usize = 0x7fff_ffff;

/// Chunks walked before giving up: real images have at most a few thousand (IDAT split in
/// pieces), and the cap bounds the index built for a file of tiny chunks.
pub const MAX_CHUNKS: usize = 65_536;

/// Why a PNG (or one of its text chunks) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PngError {
    /// The file does not start with the PNG signature.
    #[error("the file is not a PNG image")]
    Signature,
    /// The file ends inside a chunk, or before `IEND`.
    #[error("the PNG is truncated (it ends at byte {0} before its IEND chunk)")]
    Truncated(usize),
    /// More chunks than any image needs.
    #[error("the PNG has more than {MAX_CHUNKS} chunks")]
    TooManyChunks,
    /// A text chunk larger than a card may be.
    #[error("the PNG's {0} chunk is larger than a card may be")]
    TextTooLarge(String),
    /// A chunk's length is larger than the format allows.
    #[error("the PNG chunk at byte {0} has an impossible length")]
    Length(usize),
    /// A chunk type is not four ASCII letters.
    #[error("the PNG chunk at byte {0} has an invalid type")]
    ChunkType(usize),
    /// A chunk's CRC does not match its contents.
    #[error("the PNG's {0} chunk is corrupt (its checksum does not match)")]
    Crc(String),
    /// The first chunk is not a 13-byte `IHDR`.
    #[error("the PNG does not start with an IHDR chunk")]
    Header,
    /// A text chunk's layout is broken.
    #[error("the PNG's {0} text chunk is malformed")]
    Text(&'static str),
    /// A compressed text chunk does not inflate, or inflates past the cap.
    #[error("the PNG's compressed {keyword} chunk {reason}")]
    Inflate {
        /// The chunk's keyword.
        keyword: String,
        /// What went wrong.
        reason: &'static str,
    },
}

/// One chunk, borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Four ASCII letters, e.g. `IHDR`, `tEXt`.
    pub kind: [u8; 4],
    /// The chunk's data (without length, type and CRC).
    pub data: &'a [u8],
    /// Byte offset of the chunk's length field.
    pub start: usize,
    /// Byte offset just past the chunk's CRC.
    pub end: usize,
}

impl Chunk<'_> {
    /// The type as text, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

fn crc(kind: &[u8; 4], data: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    hasher.finalize()
}

/// Walks every chunk up to and including `IEND`, checking lengths, types and CRCs. Bytes after
/// `IEND` are ignored, as decoders do.
///
/// # Errors
/// No signature, a truncated file, an impossible length, a bad type or CRC, no `IHDR` first, or
/// more than [`MAX_CHUNKS`] chunks.
pub fn chunks(png: &[u8]) -> Result<Vec<Chunk<'_>>, PngError> {
    if png.get(..SIGNATURE.len()) != Some(SIGNATURE.as_slice()) {
        return Err(PngError::Signature);
    }
    let mut out = Vec::new();
    let mut at = SIGNATURE.len();
    loop {
        let start = at;
        let len = be_u32(png, at).ok_or(PngError::Truncated(png.len()))?;
        let len = usize::try_from(len).map_err(|_| PngError::Length(start))?;
        if len > MAX_CHUNK_LEN {
            return Err(PngError::Length(start));
        }
        let kind: [u8; 4] = png
            .get(at + 4..at + 8)
            .and_then(|k| k.try_into().ok())
            .ok_or(PngError::Truncated(png.len()))?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(PngError::ChunkType(start));
        }
        let data_start = at + 8;
        let data_end = data_start.checked_add(len).ok_or(PngError::Length(start))?;
        let data = png.get(data_start..data_end).ok_or(PngError::Truncated(png.len()))?;
        let stored = be_u32(png, data_end).ok_or(PngError::Truncated(png.len()))?;
        let chunk = Chunk { kind, data, start, end: data_end + 4 };
        if stored != crc(&kind, data) {
            return Err(PngError::Crc(chunk.name()));
        }
        if out.is_empty() && (&kind != b"IHDR" || len != 13) {
            return Err(PngError::Header);
        }
        at = chunk.end;
        if out.len() >= MAX_CHUNKS {
            return Err(PngError::TooManyChunks);
        }
        out.push(chunk);
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

/// A decoded text chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk {
    /// The keyword (`chara`, `ccv3`, `Comment`, ...).
    pub keyword: String,
    /// The text's bytes, inflated when the chunk was compressed.
    pub text: Vec<u8>,
}

/// Whether `chunk` is a text chunk, and its keyword (read without decoding the text).
pub fn text_keyword(chunk: &Chunk<'_>) -> Option<String> {
    if !matches!(&chunk.kind, b"tEXt" | b"zTXt" | b"iTXt") {
        return None;
    }
    let end = chunk.data.iter().position(|b| *b == 0)?;
    let keyword = chunk.data.get(..end)?;
    // Keywords are 1 to 79 Latin-1 bytes; anything else is not a keyword we look for.
    if keyword.is_empty() || keyword.len() > 79 {
        return None;
    }
    Some(keyword.iter().map(|b| char::from(*b)).collect())
}

/// Decodes a text chunk's payload, inflating compressed text up to `max_text` bytes.
///
/// # Errors
/// A malformed layout, an unknown compression method, or text that does not inflate or inflates
/// past `max_text`.
pub fn decode_text(chunk: &Chunk<'_>, max_text: usize) -> Result<TextChunk, PngError> {
    let kind: &'static str = match &chunk.kind {
        b"tEXt" => "tEXt",
        b"zTXt" => "zTXt",
        b"iTXt" => "iTXt",
        _ => return Err(PngError::Text("non-text")),
    };
    let keyword = text_keyword(chunk).ok_or(PngError::Text(kind))?;
    let rest = chunk.data.get(keyword.len() + 1..).unwrap_or_default();
    let text = match kind {
        "tEXt" => rest.to_vec(),
        "zTXt" => {
            let (method, compressed) = rest.split_first().ok_or(PngError::Text(kind))?;
            if *method != 0 {
                return Err(PngError::Text(kind));
            }
            inflate(compressed, max_text, &keyword)?
        }
        _ => {
            let (&flag, rest) = rest.split_first().ok_or(PngError::Text(kind))?;
            let (&method, rest) = rest.split_first().ok_or(PngError::Text(kind))?;
            // Language tag, then translated keyword, each ending in a zero byte.
            let language_end = rest.iter().position(|b| *b == 0).ok_or(PngError::Text(kind))?;
            let rest = rest.get(language_end + 1..).unwrap_or_default();
            let translated_end = rest.iter().position(|b| *b == 0).ok_or(PngError::Text(kind))?;
            let text = rest.get(translated_end + 1..).unwrap_or_default();
            match (flag, method) {
                (0, _) => text.to_vec(),
                (1, 0) => inflate(text, max_text, &keyword)?,
                _ => return Err(PngError::Text(kind)),
            }
        }
    };
    if text.len() > max_text {
        return Err(PngError::TextTooLarge(keyword));
    }
    Ok(TextChunk { keyword, text })
}

/// Inflates zlib data, refusing output past `max` bytes.
fn inflate(compressed: &[u8], max: usize, keyword: &str) -> Result<Vec<u8>, PngError> {
    // Security: decompression bomb. Reading at most max + 1 bytes bounds the memory and the
    // work whatever the compressed data claims; one byte more than allowed means too large.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    ZlibDecoder::new(compressed).take(limit).read_to_end(&mut out).map_err(|_| {
        PngError::Inflate { keyword: keyword.to_owned(), reason: "does not decompress" }
    })?;
    if out.len() > max {
        return Err(PngError::Inflate {
            keyword: keyword.to_owned(),
            reason: "inflates past the size a card may have",
        });
    }
    Ok(out)
}

/// Appends one chunk with its length and CRC.
pub fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc(kind, data).to_be_bytes());
}

/// A copy of `png` without the text chunks whose keyword `drop` matches, and with a `tEXt`
/// chunk for each `(keyword, text)` in `add` inserted just before `IEND`.
///
/// # Errors
/// `png` is not a valid PNG (see [`chunks`]), or a keyword is not 1 to 79 printable Latin-1
/// characters, or a text is longer than a chunk may be.
pub fn replace_text_chunks(
    png: &[u8],
    drop: impl Fn(&str) -> bool,
    add: &[(&str, &[u8])],
) -> Result<Vec<u8>, PngError> {
    let all = chunks(png)?;
    let mut out =
        Vec::with_capacity(png.len() + add.iter().map(|(_, t)| t.len() + 80).sum::<usize>());
    out.extend_from_slice(&SIGNATURE);
    for chunk in &all {
        if text_keyword(chunk).is_some_and(|keyword| drop(&keyword)) {
            continue;
        }
        if &chunk.kind == b"IEND" {
            for (keyword, text) in add {
                let valid_keyword = (1..=79).contains(&keyword.len())
                    && keyword.bytes().all(|b| (b' '..=b'~').contains(&b));
                if !valid_keyword || text.len() + keyword.len() + 1 > MAX_CHUNK_LEN {
                    return Err(PngError::Text("tEXt"));
                }
                let mut data = Vec::with_capacity(keyword.len() + 1 + text.len());
                data.extend_from_slice(keyword.as_bytes());
                data.push(0);
                data.extend_from_slice(text);
                push_chunk(&mut out, b"tEXt", &data);
            }
        }
        out.extend_from_slice(png.get(chunk.start..chunk.end).unwrap_or_default());
    }
    Ok(out)
}

/// A small valid PNG: `size`×`size` pixels of one RGB colour, for a card without an avatar.
pub fn solid_png(size: u32, rgb: [u8; 3]) -> Vec<u8> {
    let size = size.clamp(1, 1024);
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, no filter method variants, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let width = usize::try_from(size).unwrap_or(1);
    // Each row: filter type 0 (None), then the pixels.
    let mut row = Vec::with_capacity(width * 3 + 1);
    row.push(0);
    for _ in 0..width {
        row.extend_from_slice(&rgb);
    }
    let raw = row.repeat(width);
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(&raw);
    let idat = encoder.finish().unwrap_or_default();
    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(&SIGNATURE);
    push_chunk(&mut out, b"IHDR", &ihdr);
    push_chunk(&mut out, b"IDAT", &idat);
    push_chunk(&mut out, b"IEND", &[]);
    out
}
