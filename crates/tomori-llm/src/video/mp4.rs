//! A structural check of an MP4 file (ISO base media file format, ISO/IEC 14496-12).
//!
//! A generated video cannot be decoded and written again without a video codec in the bot, so
//! instead of re-encoding, the file's box structure is walked, bounded: what is posted is at least
//! a well-formed MP4 container, never a page, a script or another format that merely claims to be
//! a video. The walk reads sizes and types only; it allocates nothing per box beyond a small,
//! capped list, so a hostile file costs at most one pass over its bytes.

/// Boxes read at one level; a real file has a handful at the top and a few dozen in `moov`.
const MAX_BOXES: usize = 4_096;

/// Bytes of `mvhd`'s payload: version and flags, times, timescale, duration and the fixed fields
/// that follow (rate, volume, matrix, next track id), for versions 0 and 1.
const MVHD_V0: usize = 100;
const MVHD_V1: usize = 112;

/// Why bytes are not a usable MP4.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    /// Over the cap.
    #[error("the file is over {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// A box whose header or size does not fit the bytes around it.
    #[error("a box at byte {at} is broken: {why}")]
    BadBox {
        /// Where it starts.
        at: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The first box is not `ftyp`, or `ftyp` is malformed.
    #[error("the file does not begin with a file type box")]
    NoFileType,
    /// No `moov`, or more than one.
    #[error("the file has {found} movie boxes, not one")]
    Movie {
        /// How many `moov` boxes there are.
        found: usize,
    },
    /// `moov` lacks a well-formed `mvhd`.
    #[error("the movie has no usable header")]
    NoMovieHeader,
    /// More boxes at one level than any real file has.
    #[error("the file has more than {MAX_BOXES} boxes at one level")]
    TooManyBoxes,
}

/// One box: its type and its payload (after the header).
struct Mp4Box<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
    /// Where the payload starts in the file, for errors inside it.
    payload_at: usize,
}

/// Checks that `bytes` are an MP4 of at most `max_bytes`: boxes that tile the file exactly
/// (sizes consistent, 64-bit sizes allowed, a size of 0 only for the last top-level box), an
/// `ftyp` first with whole brands, exactly one `moov`, and in it an `mvhd` of its version's
/// length with a timescale.
///
/// # Errors
/// The first rule the bytes break.
pub fn check_mp4(bytes: &[u8], max_bytes: usize) -> Result<(), Mp4Error> {
    if bytes.len() > max_bytes {
        return Err(Mp4Error::TooLarge { limit: max_bytes });
    }
    let top = boxes(bytes, 0, true)?;
    let first = top.first().ok_or(Mp4Error::NoFileType)?;
    // major brand, minor version, then compatible brands of four bytes each.
    let brands_ok = first.payload.len() >= 8 && first.payload.len() % 4 == 0;
    if &first.kind != b"ftyp" || !brands_ok || !printable(&first.payload[..4]) {
        return Err(Mp4Error::NoFileType);
    }
    let movies: Vec<&Mp4Box<'_>> = top.iter().filter(|b| &b.kind == b"moov").collect();
    let [movie] = movies.as_slice() else {
        return Err(Mp4Error::Movie { found: movies.len() });
    };
    let inside = boxes(movie.payload, movie.payload_at, false)?;
    let headers: Vec<&Mp4Box<'_>> = inside.iter().filter(|b| &b.kind == b"mvhd").collect();
    match headers.as_slice() {
        [header] if movie_header_ok(header.payload) => Ok(()),
        _ => Err(Mp4Error::NoMovieHeader),
    }
}

/// The boxes that tile `data` (which starts at byte `base` of the file); `top` allows a size of
/// 0 (to the end of the file) for the last box, as the format does only at the top level.
fn boxes(data: &[u8], base: usize, top: bool) -> Result<Vec<Mp4Box<'_>>, Mp4Error> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < data.len() {
        if found.len() >= MAX_BOXES {
            return Err(Mp4Error::TooManyBoxes);
        }
        let bad = |why| Mp4Error::BadBox { at: base + at, why };
        let rest = &data[at..];
        let (Some(size), Some(kind)) = (be32(rest, 0), rest.get(4..8)) else {
            return Err(bad("the header is cut short"));
        };
        let mut kind_bytes = [0_u8; 4];
        kind_bytes.copy_from_slice(kind);
        if !printable(&kind_bytes) {
            return Err(bad("the type is not four printable characters"));
        }
        let (header, length) = match size {
            0 if top => (8, rest.len()),
            0 => return Err(bad("a size of 0 inside another box")),
            1 => {
                let large = be64(rest, 8).ok_or_else(|| bad("the 64-bit size is cut short"))?;
                (16, usize::try_from(large).map_err(|_| bad("the size is beyond memory"))?)
            }
            n => (8, usize::try_from(n).map_err(|_| bad("the size is beyond memory"))?),
        };
        // Security: hostile provider output. A size is a claim: it must cover its own header and
        // end within the bytes there are, so no box reaches past the file or overlaps another.
        if length < header {
            return Err(bad("the size is smaller than the header"));
        }
        if length > rest.len() {
            return Err(bad("the size runs past the end of the data"));
        }
        found.push(Mp4Box {
            kind: kind_bytes,
            payload: &rest[header..length],
            payload_at: base + at + header,
        });
        at += length;
    }
    Ok(found)
}

/// `mvhd`: a full box whose length follows its version, with a non-zero timescale.
fn movie_header_ok(payload: &[u8]) -> bool {
    let (length, timescale_at) = match payload.first() {
        Some(0) => (MVHD_V0, 12),
        Some(1) => (MVHD_V1, 20),
        _ => return false,
    };
    payload.len() >= length && be32(payload, timescale_at).is_some_and(|t| t > 0)
}

fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7e).contains(b))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(slice.try_into().ok()?))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(slice.try_into().ok()?))
}
