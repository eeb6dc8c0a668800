//! `tomori backup FILE` and `tomori restore FILE`: a consistent `pg_dump` of the database
//! (embedded or not) in a tar archive beside a manifest of what the dump needs to be useful: the
//! key versions its sealed values use. The keys themselves never go in: a backup and the key ring
//! are kept apart, so that one stolen without the other opens nothing.
//!
//! The archive holds `manifest.json` first, then `database.dump` (`pg_dump --format=custom`, one
//! snapshot, so the rows agree with each other). A restore checks the manifest against the key
//! ring before it touches the database, restores into an empty database (or, with `--replace`,
//! over the existing one), then applies this build's migrations.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use tomori_store::keys;

use crate::commands::say;
use crate::config::{Config, Environment};
use crate::database::{self, Access, Database};
use crate::keyring;

const FORMAT: &str = "tomori-backup/1";
const MANIFEST: &str = "manifest.json";
const DUMP: &str = "database.dump";
/// A manifest is a few hundred bytes; anything much larger is not one of ours.
const MAX_MANIFEST: u64 = 1 << 20;

/// `tomori backup` / `tomori restore` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    /// The archive to write (refused if it exists).
    file: PathBuf,
}

/// `tomori restore` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The archive `tomori backup` wrote.
    file: PathBuf,
    /// Replace a database that already holds Tomori's schema (its current content is lost).
    #[arg(long)]
    replace: bool,
}

/// What a backup holds besides the dump.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    tomori_version: String,
    git_revision: String,
    schema_version: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Sealed values per column and key version: the key versions a restore needs.
    sealed: Vec<SealedColumn>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SealedColumn {
    column: String,
    key_version: i32,
    rows: i64,
}

/// Connection settings for the PostgreSQL client tools, with the password in the environment
/// (`PGPASSWORD`) rather than on a command line that any local user can read.
fn client_connection(url: &SecretString) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url.expose_secret())
        .map_err(|_| anyhow::anyhow!("the database URL is not a URL"))?;
    let password = parsed.password().map(percent_decode);
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn run_tool(tool: &str, args: &[&std::ffi::OsStr], url: &SecretString) -> anyhow::Result<()> {
    let path = tomori_store::embedded::client_tool(tool).await;
    let (dbname, password) = client_connection(url)?;
    let mut command = tokio::process::Command::new(&path);
    command.args(args).arg(format!("--dbname={dbname}")).kill_on_drop(true);
    // Security: secrets in process listings. The password travels in the child's environment.
    command.env_remove("PGPASSWORD");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let out = command.output().await.with_context(|| {
        format!("running {} (is the PostgreSQL client installed?)", path.display())
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no output");
        bail!("{tool} failed: {last}");
    }
    Ok(())
}

/// A file only the owner can read, created new.
fn private_file(path: &Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// `tomori backup FILE`.
pub(crate) async fn backup(config: &Config, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    if args.file.exists() {
        bail!("{} exists: choose a new file name", args.file.display());
    }
    let db = database::open(config, Access::Existing).await?;
    let result = write_backup(&db, &args.file).await;
    db.close().await;
    let manifest = result?;
    say(format_args!(
        "backup written to {} (schema version {}, {} sealed value(s)); keep the key ring apart from it",
        args.file.display(),
        manifest.schema_version,
        manifest.sealed.iter().map(|s| s.rows).sum::<i64>()
    ));
    Ok(ExitCode::SUCCESS)
}

async fn write_backup(db: &Database, file: &Path) -> anyhow::Result<Manifest> {
    let schema_version = tomori_store::db::applied_version(&db.owner)
        .await?
        .context("the database holds no Tomori schema: nothing to back up")?;
    let sealed = keys::audit_versions(&db.owner)
        .await?
        .into_iter()
        .map(|u| SealedColumn { column: u.column, key_version: u.key_version, rows: u.rows })
        .collect();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        tomori_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_revision: env!("TOMORI_GIT_REV").to_owned(),
        schema_version,
        created_at: chrono::Utc::now(),
        sealed,
    };
    let staging = file.with_extension("dump.partial");
    let _ = std::fs::remove_file(&staging);
    drop(private_file(&staging)?);
    let dumped = run_tool(
        "pg_dump",
        &[
            "--format=custom".as_ref(),
            "--no-owner".as_ref(),
            "--file".as_ref(),
            staging.as_os_str(),
        ],
        &db.url,
    )
    .await;
    let archived = dumped.and_then(|()| archive(file, &manifest, &staging));
    let _ = std::fs::remove_file(&staging);
    if archived.is_err() {
        let _ = std::fs::remove_file(file);
    }
    archived.map(|()| manifest)
}

fn archive(file: &Path, manifest: &Manifest, dump: &Path) -> anyhow::Result<()> {
    let mut builder = tar::Builder::new(private_file(file)?);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(u64::try_from(json.len())?);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(manifest.created_at.timestamp()).unwrap_or(0));
    header.set_cksum();
    builder.append_data(&mut header, MANIFEST, json.as_slice())?;
    builder.append_path_with_name(dump, DUMP)?;
    builder.into_inner()?.sync_all().context("writing the backup")?;
    Ok(())
}

/// Reads the manifest and unpacks the dump to `dump`.
fn unpack(file: &Path, dump: &Path) -> anyhow::Result<Manifest> {
    let opened = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(opened);
    let mut manifest = None;
    let mut found_dump = false;
    for entry in archive.entries().context("reading the backup")? {
        let mut entry = entry.context("reading the backup")?;
        let name = entry.path()?.to_string_lossy().into_owned();
        match name.as_str() {
            MANIFEST if entry.size() <= MAX_MANIFEST => {
                let mut text = String::new();
                entry.read_to_string(&mut text)?;
                let parsed: Manifest =
                    serde_json::from_str(&text).context("the backup's manifest is malformed")?;
                manifest = Some(parsed);
            }
            DUMP => {
                let mut out = private_file(dump)?;
                std::io::copy(&mut entry, &mut out).context("unpacking the dump")?;
                out.flush()?;
                found_dump = true;
            }
            other => {
                bail!("{} is not a Tomori backup (unexpected entry {other:?})", file.display())
            }
        }
    }
    let manifest = manifest.with_context(|| format!("{} has no manifest", file.display()))?;
    if manifest.format != FORMAT {
        bail!("{} is a {:?} backup; this build reads {FORMAT}", file.display(), manifest.format);
    }
    if !found_dump {
        bail!("{} has no database dump", file.display());
    }
    Ok(manifest)
}

/// `tomori restore FILE [--replace]`.
pub(crate) async fn restore(
    config: &Config,
    env: &Environment,
    args: &RestoreArgs,
) -> anyhow::Result<ExitCode> {
    let staging = std::env::temp_dir().join(format!("tomori-restore-{}.dump", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    let result = restore_from(config, env, args, &staging).await;
    let _ = std::fs::remove_file(&staging);
    let manifest = result?;
    say(format_args!(
        "restored {} (schema version {}, backed up {}); migrated to this build",
        args.file.display(),
        manifest.schema_version,
        manifest.created_at.format("%Y-%m-%d %H:%M UTC")
    ));
    Ok(ExitCode::SUCCESS)
}

async fn restore_from(
    config: &Config,
    env: &Environment,
    args: &RestoreArgs,
    staging: &Path,
) -> anyhow::Result<Manifest> {
    let manifest = unpack(&args.file, staging)?;
    // Security: operator trap (a lost key). Check the ring before touching the database: a
    // restore whose sealed values no key opens is refused with the versions it needs.
    let ring = keyring::load(env, config, false).ok().map(|(ring, _)| ring);
    let mut needed: Vec<i32> = manifest.sealed.iter().map(|s| s.key_version).collect();
    needed.sort_unstable();
    needed.dedup();
    let missing: Vec<String> = needed
        .iter()
        .filter(|v| !ring.as_ref().is_some_and(|r| u32::try_from(**v).is_ok_and(|v| r.has(v))))
        .map(|v| format!("TOMORI_SECRET_V{v}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the backup's sealed values need {} (looked in the environment and in {}); nothing was restored",
            missing.join(", "),
            keyring::keys_dir(config).display()
        );
    }
    let db = database::open(config, Access::Create).await?;
    let restored = restore_into(&db, staging, args.replace, ring.as_ref()).await;
    db.close().await;
    restored.map(|()| manifest)
}

async fn restore_into(
    db: &Database,
    dump: &Path,
    replace: bool,
    ring: Option<&tomori_store::secrets::KeyRing>,
) -> anyhow::Result<()> {
    if tomori_store::db::applied_version(&db.owner).await?.is_some() && !replace {
        bail!("the database already holds a Tomori schema: pass --replace to overwrite it");
    }
    tomori_store::db::ensure_app_role(&db.owner).await?;
    let mut restore_args: Vec<&std::ffi::OsStr> =
        vec!["--no-owner".as_ref(), "--exit-on-error".as_ref(), "--single-transaction".as_ref()];
    if replace {
        restore_args.push("--clean".as_ref());
        restore_args.push("--if-exists".as_ref());
    }
    restore_args.push(dump.as_os_str());
    run_tool("pg_restore", &restore_args, &db.url).await?;
    tomori_store::db::migrate(&db.owner).await.context("migrating the restored database")?;
    if let Some(ring) = ring {
        keys::check_ring(&db.owner, ring).await.context("checking the key ring")?;
    }
    Ok(())
}
