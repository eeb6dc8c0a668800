//! Loading the key ring: `TOMORI_SECRET_V<n>` from the environment, and key files
//! `<data_dir>/keys/v<n>.key` for installations that keep their secret beside the data.
//!
//! A first `tomori run` with neither creates `keys/v1.key` (mode 0600) so that a self-hoster gets
//! going with no setup; the log says so, and SECURITY.md explains why moving the secret into the
//! environment (or a secrets manager) is better: a backup of the data directory then holds both
//! the ciphertexts and their key.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use secrecy::SecretString;
use tomori_store::secrets::KeyRing;

use crate::config::{Config, Environment};

/// Where the ring's secrets came from, for the startup log and `tomori doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// At least one version from the environment (files may add others).
    Environment,
    /// Key files only.
    Files(PathBuf),
    /// A key file created just now.
    Created(PathBuf),
}

pub(crate) fn keys_dir(config: &Config) -> PathBuf {
    config.data_dir.join("keys")
}

/// Reads the ring. With `create`, a missing ring becomes a new random version 1 key file.
///
/// # Errors
/// A malformed variable name, an unreadable or group/world-readable key file, a secret that is too
/// short, or no secret at all when `create` is false.
pub(crate) fn load(
    env: &Environment,
    config: &Config,
    create: bool,
) -> anyhow::Result<(KeyRing, Source)> {
    let mut masters: Vec<(u32, SecretString)> = Vec::new();
    let mut from_env = false;
    for (suffix, value) in env.secret_versions() {
        let version: u32 = suffix.parse().map_err(|_| {
            anyhow::anyhow!("TOMORI_SECRET_V{suffix}: the part after V must be a version number")
        })?;
        masters.push((version, SecretString::from(value.trim().to_owned())));
        from_env = true;
    }
    let dir = keys_dir(config);
    for (version, path) in key_files(&dir)? {
        if masters.iter().any(|(v, _)| *v == version) {
            continue; // The environment wins over a file of the same version.
        }
        masters.push((version, read_key_file(&path)?));
    }
    let mut source = if from_env { Source::Environment } else { Source::Files(dir.clone()) };
    if masters.is_empty() && create {
        let path = dir.join("v1.key");
        masters.push((1, create_key_file(&path)?));
        source = Source::Created(path);
    }
    let ring = KeyRing::new(masters, config.secrets.current_version)?;
    Ok((ring, source))
}

/// Whether any key source exists (for `tomori doctor` on a fresh checkout).
pub(crate) fn any_configured(env: &Environment, config: &Config) -> bool {
    env.secret_versions().next().is_some()
        || key_files(&keys_dir(config)).is_ok_and(|files| !files.is_empty())
}

fn key_files(dir: &Path) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(version) = name
            .to_str()
            .and_then(|n| n.strip_prefix('v'))
            .and_then(|n| n.strip_suffix(".key"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        files.push((version, entry.path()));
    }
    files.sort();
    Ok(files)
}

fn read_key_file(path: &Path) -> anyhow::Result<SecretString> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    // Security: keys leak from a DB dump. A key file others can read defeats sealing.
    if meta.permissions().mode() & 0o077 != 0 {
        bail!("{} is readable by other users: chmod 600 it", path.display());
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SecretString::from(text.trim().to_owned()))
}

fn create_key_file(path: &Path) -> anyhow::Result<SecretString> {
    let dir = path.parent().context("key file has a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))?;
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all().with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "created a new secret key; back it up apart from the database, or move it to TOMORI_SECRET_V1"
    );
    Ok(SecretString::from(secret))
}
