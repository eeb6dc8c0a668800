//! Sealed secrets: provider keys, endpoint keys, MCP tokens and webhook tokens are encrypted in the
//! application before they reach PostgreSQL.
//!
//! Each key version `n` of the ring is a master secret from `TOMORI_SECRET_V<n>`; the 256-bit
//! sealing key is derived from it with HKDF-SHA256, so the master secret itself never touches a
//! cipher. A sealed blob is `[format 1][key version u32 BE][nonce 24][ciphertext + tag]`
//! (XChaCha20-Poly1305, random 192-bit nonce). The associated data names the table, the column and
//! the owner, so a ciphertext copied into another tenant's row, or into another column, fails to
//! open.
//!
//! This module does no IO; rotation and the startup check live in `keys`.

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tomori_core::id::{ServerId, UserId};
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
/// Master secrets shorter than this are refused: they could be guessed offline from a dump.
pub const MIN_SECRET_CHARS: usize = 32;

/// Who a sealed value belongs to; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A guild or DM pseudo-server.
    Server(ServerId),
    /// A user's personal data.
    User(UserId),
    /// Instance data such as key check values.
    Instance,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server(id) => write!(f, "server:{id}"),
            Self::User(id) => write!(f, "user:{id}"),
            Self::Instance => f.write_str("instance"),
        }
    }
}

/// Where a sealed value lives: its table, column and owner.
#[derive(Debug, Clone, Copy)]
pub struct SealContext {
    /// Table name.
    pub table: &'static str,
    /// Column name.
    pub column: &'static str,
    /// Owner of the row.
    pub owner: Owner,
}

impl SealContext {
    fn associated_data(&self) -> Vec<u8> {
        format!("tomori/seal/1|{}|{}|{}", self.table, self.column, self.owner).into_bytes()
    }

    /// The associated data of a value that is good only for `binding` (an endpoint key for its
    /// endpoint's origin): opened for another binding, it fails like a value moved to another row.
    fn bound_data(&self, binding: &str) -> Vec<u8> {
        let mut data = self.associated_data();
        data.extend_from_slice(b"|bound:");
        data.extend_from_slice(binding.as_bytes());
        data
    }
}

/// A key ring that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// No `TOMORI_SECRET_V<n>` at all.
    #[error(
        "no secret key configured: set TOMORI_SECRET_V1 to a random string of at least {MIN_SECRET_CHARS} characters"
    )]
    Empty,
    /// A master secret is too short.
    #[error("TOMORI_SECRET_V{0} is too short: it needs at least {MIN_SECRET_CHARS} characters")]
    TooShort(u32),
    /// Version 0 is not a version.
    #[error("key versions start at 1 (TOMORI_SECRET_V1), not 0")]
    VersionZero,
    /// The configured current version is not in the ring.
    #[error("secrets.current_version is {0}, but TOMORI_SECRET_V{0} is not set")]
    MissingCurrent(u32),
}

/// A sealed value cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The blob is not one of ours.
    #[error("sealed value is malformed")]
    Malformed,
    /// The blob was sealed with a key version the ring does not have.
    #[error("sealed with key version {0}, but TOMORI_SECRET_V{0} is not set")]
    MissingVersion(u32),
    /// Wrong key, wrong row, or a modified blob.
    #[error(
        "sealed value does not open with key version {0}: wrong secret, or the value was moved or modified"
    )]
    Rejected(u32),
}

/// A freshly sealed value and the key version that sealed it.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The blob to store.
    pub blob: Vec<u8>,
    /// The key version, stored beside the blob so audits and rotation need no decryption.
    pub key_version: i32,
}

/// The versioned key ring. Its `Debug` shows versions only.
pub struct KeyRing {
    keys: BTreeMap<u32, Zeroizing<[u8; 32]>>,
    current: u32,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

impl KeyRing {
    /// Builds the ring from master secrets by version; the current version is `current`, or the
    /// highest version present.
    ///
    /// # Errors
    /// An empty ring, a version 0, a secret shorter than [`MIN_SECRET_CHARS`], or a `current`
    /// version that is missing.
    pub fn new(
        masters: impl IntoIterator<Item = (u32, SecretString)>,
        current: Option<u32>,
    ) -> Result<Self, KeyRingError> {
        let mut keys = BTreeMap::new();
        for (version, master) in masters {
            if version == 0 {
                return Err(KeyRingError::VersionZero);
            }
            if master.expose_secret().chars().count() < MIN_SECRET_CHARS {
                return Err(KeyRingError::TooShort(version));
            }
            keys.insert(version, derive_key(version, &master));
        }
        let highest = *keys.keys().next_back().ok_or(KeyRingError::Empty)?;
        let current = current.unwrap_or(highest);
        if !keys.contains_key(&current) {
            return Err(KeyRingError::MissingCurrent(current));
        }
        Ok(Self { keys, current })
    }

    /// The version new values are sealed with.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// Every version the ring holds, lowest first.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Whether the ring holds `version`.
    pub fn has(&self, version: u32) -> bool {
        self.keys.contains_key(&version)
    }

    /// Seals `plaintext` for `ctx` with the current key.
    pub fn seal(&self, plaintext: &str, ctx: &SealContext) -> Sealed {
        self.seal_with(self.current, plaintext, ctx)
    }

    /// Seals `plaintext` for `ctx` with the current key, good only where `binding` holds (see
    /// [`Self::open_bound`]).
    pub fn seal_bound(&self, plaintext: &str, ctx: &SealContext, binding: &str) -> Sealed {
        self.seal_data(self.current, plaintext, &ctx.bound_data(binding))
    }

    /// Seals with a given version of the ring; only key check values need a version other than
    /// the current one.
    pub(crate) fn seal_with(&self, version: u32, plaintext: &str, ctx: &SealContext) -> Sealed {
        self.seal_data(version, plaintext, &ctx.associated_data())
    }

    fn seal_data(&self, version: u32, plaintext: &str, aad: &[u8]) -> Sealed {
        let key = self.keys.get(&version).expect("callers pass a version the ring holds");
        let cipher = XChaCha20Poly1305::new((&**key).into());
        let mut nonce_bytes = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce_bytes)
            .expect("the operating system's random source is available");
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad })
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        blob.push(FORMAT);
        blob.extend_from_slice(&version.to_be_bytes());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Sealed { blob, key_version: version_to_db(version) }
    }

    /// The application role's database password, derived from the current key, so every
    /// process holding the same key ring agrees on it and nothing needs storing. A key rotation
    /// changes it; the next start sets the new one through the owner pool.
    pub fn app_password(&self) -> SecretString {
        let key = self.keys.get(&self.current).expect("the current version is in the ring");
        let hkdf = Hkdf::<Sha256>::new(Some(b"tomori/database"), &key[..]);
        let mut okm = Zeroizing::new([0_u8; 24]);
        hkdf.expand(b"tomori/app-login", okm.as_mut())
            .expect("24 bytes is a valid HKDF-SHA256 output length");
        SecretString::from(okm.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Opens a blob sealed for `ctx`.
    ///
    /// # Errors
    /// A malformed blob, a version the ring lacks, or a blob that fails authentication (wrong
    /// secret, wrong row or column, modified bytes).
    pub fn open(&self, blob: &[u8], ctx: &SealContext) -> Result<SecretString, OpenError> {
        self.open_data(blob, &ctx.associated_data())
    }

    /// Opens a blob sealed for `ctx` with [`Self::seal_bound`] for `binding`.
    ///
    /// # Errors
    /// As [`Self::open`]; a blob sealed for another binding (or unbound) is rejected.
    pub fn open_bound(
        &self,
        blob: &[u8],
        ctx: &SealContext,
        binding: &str,
    ) -> Result<SecretString, OpenError> {
        self.open_data(blob, &ctx.bound_data(binding))
    }

    fn open_data(&self, blob: &[u8], aad: &[u8]) -> Result<SecretString, OpenError> {
        let version = blob_version(blob)?;
        let key = self.keys.get(&version).ok_or(OpenError::MissingVersion(version))?;
        let nonce_bytes: [u8; NONCE_LEN] =
            blob.get(5..HEADER_LEN).and_then(|s| s.try_into().ok()).ok_or(OpenError::Malformed)?;
        let ciphertext = blob.get(HEADER_LEN..).ok_or(OpenError::Malformed)?;
        let cipher = XChaCha20Poly1305::new((&**key).into());
        let plaintext = cipher
            .decrypt(&XNonce::from(nonce_bytes), Payload { msg: ciphertext, aad })
            .map_err(|_| OpenError::Rejected(version))?;
        let plaintext = Zeroizing::new(plaintext);
        let text = std::str::from_utf8(&plaintext).map_err(|_| OpenError::Malformed)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

/// Reads the key version from a blob's header without opening it.
///
/// # Errors
/// A blob too short or of an unknown format.
pub fn blob_version(blob: &[u8]) -> Result<u32, OpenError> {
    if blob.len() < HEADER_LEN + 16 || blob.first() != Some(&FORMAT) {
        return Err(OpenError::Malformed);
    }
    let bytes: [u8; 4] =
        blob.get(1..5).and_then(|s| s.try_into().ok()).ok_or(OpenError::Malformed)?;
    Ok(u32::from_be_bytes(bytes))
}

/// Key versions are small positive numbers; the database column is `integer`.
pub(crate) fn version_to_db(version: u32) -> i32 {
    i32::try_from(version).unwrap_or(i32::MAX)
}

fn derive_key(version: u32, master: &SecretString) -> Zeroizing<[u8; 32]> {
    let hkdf = Hkdf::<Sha256>::new(Some(b"tomori/keyring"), master.expose_secret().as_bytes());
    let mut okm = Zeroizing::new([0_u8; 32]);
    hkdf.expand(format!("tomori/seal-key/v{version}").as_bytes(), okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

#[cfg(test)]
mod tests;
