//! PDFs for the PDF readers' tests (`read_file`, `/memory document add`): a plain one, and the
//! hostile ones a reader must survive.

use std::io::Write as _;

use flate2::{Compress, Compression, FlushCompress};

/// A PDF of `objects` (numbered from 1, the first the catalogue), with its cross-reference table.
pub fn assemble(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        let _ = writeln!(pdf, "{} 0 obj", i + 1);
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    let _ = write!(pdf, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(pdf, "{offset:010} 00000 n ");
    }
    let _ = write!(
        pdf,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf
}

/// A stream object: `dict` (without `/Length`) and its bytes.
fn stream(dict: &str, content: &[u8]) -> Vec<u8> {
    let mut object = format!("<< {dict} /Length {} >>\nstream\n", content.len()).into_bytes();
    object.extend_from_slice(content);
    object.extend_from_slice(b"\nendstream");
    object
}

/// The catalogue, page tree and one page with `resources` and content object 4.
fn page(resources: &str) -> [Vec<u8>; 3] {
    [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources {resources} >>"
        )
        .into_bytes(),
    ]
}

/// A one-page PDF with one line of Helvetica text.
pub fn pdf_with(text: &str) -> String {
    let mut objects = page("<< /Font << /F1 5 0 R >> >>").to_vec();
    objects.push(stream("", format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET").as_bytes()));
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    String::from_utf8(assemble(&objects)).expect("an ASCII PDF")
}

/// A page whose content draws a form XObject that draws itself: a reader that follows it
/// without a depth limit recurses until its stack overflows.
pub fn self_drawing() -> String {
    let mut objects = page("<< /XObject << /X 5 0 R >> >>").to_vec();
    objects.push(stream("", b"/X Do"));
    objects.push(stream(
        "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X 5 0 R >> >>",
        b"/X Do",
    ));
    String::from_utf8(assemble(&objects)).expect("an ASCII PDF")
}

/// A page whose content stream is deflated twice and written in ASCII85 (`/Filter
/// [/ASCII85Decode /FlateDecode /FlateDecode]`, so the file is text) and inflates to `inflated`
/// zero bytes (rounded down to whole megabytes), from a file of a few kilobytes per gigabyte.
///
/// # Panics
/// When the compressor does not settle into a repeating block (it does for zeros).
pub fn inflation_bomb(inflated: u64) -> String {
    let inner = zeros_zlib(inflated);
    let mut outer = flate2::write::ZlibEncoder::new(Vec::new(), Compression::fast());
    outer.write_all(&inner).expect("compressing in memory");
    let outer = outer.finish().expect("compressing in memory");
    let mut objects = page("<< >>").to_vec();
    let filters = "/Filter [/ASCII85Decode /FlateDecode /FlateDecode]";
    objects.push(stream(filters, ascii85(&outer).as_bytes()));
    String::from_utf8(assemble(&objects)).expect("an ASCII PDF")
}

/// `bytes` in ASCII85, with the end marker.
fn ascii85(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 5 / 4 + 8);
    for group in bytes.chunks(4) {
        let mut word = [0_u8; 4];
        word[..group.len()].copy_from_slice(group);
        let mut value = u32::from_be_bytes(word);
        let mut digits = [0_u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = b'!' + u8::try_from(value % 85).expect("below 85");
            value /= 85;
        }
        out.extend(digits[..=group.len()].iter().map(|d| char::from(*d)));
    }
    out.push_str("~>");
    out
}

/// A zlib stream of `count` zero bytes, built without compressing them all: once the window is
/// all zeros, each sync-flushed megabyte of zeros compresses to the same bytes, which are
/// repeated; the end is an empty final block and the Adler-32 of the zeros.
fn zeros_zlib(count: u64) -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0_u8; CHUNK];
    let mut compress = Compress::new(Compression::best(), true);
    let mut block = |out: &mut Vec<u8>| {
        out.reserve(CHUNK);
        let before = compress.total_in();
        compress.compress_vec(&zeros, out, FlushCompress::Sync).expect("compressing in memory");
        assert_eq!(compress.total_in() - before, CHUNK as u64, "the whole chunk was taken");
    };
    let mut first = Vec::new();
    block(&mut first);
    let mut second = Vec::new();
    block(&mut second);
    let mut third = Vec::new();
    block(&mut third);
    assert_eq!(second, third, "zeros compress to a repeating block");
    let chunks = count / CHUNK as u64;
    assert!(chunks >= 2, "at least two megabytes");
    let mut out = first;
    for _ in 1..chunks {
        out.extend_from_slice(&second);
    }
    // An empty final block with fixed codes, then Adler-32 (a stays 1, b counts the bytes).
    out.extend_from_slice(&[0x03, 0x00]);
    let total = chunks * CHUNK as u64;
    let adler = ((total % 65_521) << 16) | 1;
    out.extend_from_slice(&u32::try_from(adler).expect("fits").to_be_bytes());
    out
}
