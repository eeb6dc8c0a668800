//! Files posted through a surface with no file host of its own (the dashboard's playground):
//! kept in memory under a random, unguessable address, and read by [`super::Media`] in place of
//! a download, under the same size caps and decoding limits as any attachment.
//!
//! Security: the address is 128 random bits, made here and handed only to the surface that
//! stored the file, so no other member, message or page can name it; the store is bounded in
//! files and bytes, the oldest going first.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// How an uploaded file's address starts.
pub const UPLOAD_SCHEME: &str = "tomori-upload:";

/// Why a file was not kept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UploadError {
    /// Larger than one file may be.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Empty.
    #[error("the file is empty")]
    Empty,
    /// No randomness for its address.
    #[error("no random address could be made")]
    NoRandomness,
}

/// The files kept, oldest first.
#[derive(Debug)]
pub struct Uploads {
    files: Mutex<VecDeque<(String, Bytes)>>,
    max_files: usize,
    max_bytes: usize,
    max_file_bytes: usize,
}

impl Default for Uploads {
    /// 64 files and 64 MiB in all, 8 MiB a file (an attachment's cap).
    fn default() -> Self {
        Self::new(64, 64 * 1024 * 1024, 8 * 1024 * 1024)
    }
}

impl Uploads {
    /// At most `max_files` files and `max_bytes` bytes in all, each at most `max_file_bytes`.
    pub fn new(max_files: usize, max_bytes: usize, max_file_bytes: usize) -> Self {
        Self { files: Mutex::new(VecDeque::new()), max_files, max_bytes, max_file_bytes }
    }

    /// Keeps `bytes` and gives its address, dropping the oldest files to make room.
    ///
    /// # Errors
    /// An empty or oversized file, or no randomness for the address.
    pub fn put(&self, bytes: Vec<u8>) -> Result<String, UploadError> {
        if bytes.is_empty() {
            return Err(UploadError::Empty);
        }
        let limit = self.max_file_bytes.min(self.max_bytes);
        if bytes.len() > limit {
            return Err(UploadError::TooLarge { limit });
        }
        let mut nonce = [0_u8; 16];
        getrandom::fill(&mut nonce).map_err(|_| UploadError::NoRandomness)?;
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let address = format!("{UPLOAD_SCHEME}{hex}");
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total: usize = files.iter().map(|(_, f)| f.len()).sum::<usize>() + bytes.len();
        while files.len() >= self.max_files || total > self.max_bytes {
            let Some((_, dropped)) = files.pop_front() else { break };
            total -= dropped.len();
        }
        files.push_back((address.clone(), Bytes::from(bytes)));
        Ok(address)
    }

    /// The file at `address`, while it is kept.
    pub fn get(&self, address: &str) -> Option<Bytes> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.iter().find(|(a, _)| a == address).map(|(_, f)| f.clone())
    }
}

/// The media type of an attached file by its signature: the images the engine decodes, and the
/// video containers a model may watch; `None` for anything else.
pub fn sniff_attachment(bytes: &[u8]) -> Option<&'static str> {
    let at = |range: std::ops::Range<usize>| bytes.get(range);
    if at(0..8) == Some(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if at(0..3) == Some(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if at(0..4) == Some(b"GIF8") {
        return Some("image/gif");
    }
    if at(0..4) == Some(b"RIFF") && at(8..12) == Some(b"WEBP") {
        return Some("image/webp");
    }
    super::clip::sniff_video(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_kept_under_random_addresses_within_their_bounds() {
        let uploads = Uploads::new(2, 10, 6);
        let a = uploads.put(vec![1; 4]).unwrap();
        let b = uploads.put(vec![2; 4]).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(UPLOAD_SCHEME) && a.len() == UPLOAD_SCHEME.len() + 32);
        assert_eq!(uploads.get(&a).as_deref(), Some(&[1_u8; 4][..]));
        assert_eq!(uploads.put(vec![3; 7]), Err(UploadError::TooLarge { limit: 6 }));
        assert_eq!(uploads.put(Vec::new()), Err(UploadError::Empty));
        // A third file pushes the oldest out (two files at most, ten bytes in all).
        let c = uploads.put(vec![3; 5]).unwrap();
        assert_eq!(uploads.get(&a), None);
        assert!(uploads.get(&b).is_some() && uploads.get(&c).is_some());
        assert_eq!(uploads.get("tomori-upload:00000000000000000000000000000000"), None);
    }

    #[test]
    fn attachments_are_typed_by_their_signatures() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"\x89PNG\r\n\x1a\n....", Some("image/png")),
            (&[0xFF, 0xD8, 0xFF, 0xE0], Some("image/jpeg")),
            (b"GIF89a", Some("image/gif")),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some("image/webp")),
            (b"\0\0\0\x18ftypisom", Some("video/mp4")),
            (b"%PDF-1.7", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff_attachment(bytes), expected, "{bytes:?}");
        }
    }
}
