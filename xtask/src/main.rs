//! Developer tasks: `cargo xtask test` (the whole test suite against a private PostgreSQL) and
//! `cargo xtask sqlx-prepare [--check]` (the offline query data in `.sqlx/`).
//!
//! xtask compiles the embedded-cluster module of tomori-store from its source file rather than
//! depending on the crate: preparing `.sqlx/` must work while tomori-store's queries do not yet
//! compile offline.

#[path = "../../crates/tomori-store/src/embedded.rs"]
#[expect(unreachable_pub, reason = "the module is shared with tomori-store, where it is public")]
#[expect(
    dead_code,
    reason = "the binary's helpers (client tools, an existing cluster) are not xtask's"
)]
mod embedded;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection;

use crate::embedded::{EmbeddedOptions, EmbeddedPostgres, with_database};

const USAGE: &str =
    "usage: cargo xtask test [CARGO TEST ARGS...] | cargo xtask sqlx-prepare [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("test") => test(&args[1..]).await,
            Some("sqlx-prepare") => sqlx_prepare(args.get(1).is_some_and(|a| a == "--check")).await,
            _ => bail!(USAGE),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            #[expect(clippy::print_stderr, reason = "xtask reports its own failure")]
            {
                eprintln!("xtask: {err:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The server the tests use: `DATABASE_URL`, or a private throwaway cluster that this call starts.
async fn test_server() -> anyhow::Result<(SecretString, Option<EmbeddedPostgres>)> {
    #[expect(clippy::disallowed_methods, reason = "xtask honours a developer's DATABASE_URL")]
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Ok((SecretString::from(url), None));
    }
    // A short path under the temp directory: the server (run as `postgres` when we are root) must
    // be able to reach it, and a unix socket path has at most 107 bytes.
    let root = std::env::temp_dir().join(format!("tomori-test-pg-{}", path_tag(&workspace_root())));
    let pg = EmbeddedPostgres::start(EmbeddedOptions { root, bin_dir: None, throwaway: true })
        .await
        .context("starting a private PostgreSQL for the tests")?;
    if !pg.started_here() {
        tracing::warn!("a test cluster from an earlier run is still running; using it");
    }
    Ok((pg.database_url("postgres"), Some(pg)))
}

fn path_tag(path: &Path) -> String {
    // FNV-1a of the workspace path, so two checkouts get two clusters.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

async fn test(extra: &[String]) -> anyhow::Result<ExitCode> {
    let (url, pg) = test_server().await?;
    // `--workspace` would override a `-p`, testing every crate when one was asked for.
    let scoped = extra.iter().any(|a| a == "-p" || a == "--package" || a.starts_with("--package="));
    let status = Command::new(env!("CARGO"))
        .args(["test", "--locked"])
        .args((!scoped).then_some("--workspace"))
        .args(extra)
        .env("DATABASE_URL", url.expose_secret())
        .current_dir(workspace_root())
        .status()
        .context("running cargo test");
    if let Some(pg) = pg {
        pg.stop().await.context("stopping the test PostgreSQL")?;
    }
    Ok(if status?.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Regenerates `.sqlx/` from a freshly migrated database, or with `--check` fails when it is stale.
async fn sqlx_prepare(check: bool) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    let (server, pg) = test_server().await?;
    let database = format!("sqlx_prepare_{}", std::process::id());
    let result = prepare_into(&root, &server, &database, check).await;
    let cleanup = async {
        if let Ok(mut admin) = sqlx::PgConnection::connect(server.expose_secret()).await {
            let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
        }
        if let Some(pg) = pg {
            let _ = pg.stop().await;
        }
    };
    cleanup.await;
    result
}

async fn prepare_into(
    root: &Path,
    server: &SecretString,
    database: &str,
    check: bool,
) -> anyhow::Result<ExitCode> {
    let mut admin =
        sqlx::PgConnection::connect(server.expose_secret()).await.context("connecting")?;
    // The name is ours: sqlx_prepare_<pid>.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let url = with_database(server.expose_secret(), database);
    let mut conn =
        sqlx::PgConnection::connect(&url).await.context("connecting to the prepare database")?;
    let migrator = sqlx::migrate::Migrator::new(root.join("migrations"))
        .await
        .context("reading migrations")?;
    migrator.run(&mut conn).await.context("migrating the prepare database")?;
    conn.close().await?;

    let out = if check {
        std::env::temp_dir().join(format!("tomori-sqlx-check-{}", std::process::id()))
    } else {
        root.join(".sqlx")
    };
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    // Touching the crate root makes cargo re-expand every query macro.
    let lib = root.join("crates/tomori-store/src/lib.rs");
    std::fs::File::options().append(true).open(&lib)?.set_modified(std::time::SystemTime::now())?;
    let status = Command::new(env!("CARGO"))
        .args(["check", "--package", "tomori-store", "--lib", "--tests", "--quiet"])
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", &url)
        .env("SQLX_OFFLINE_DIR", &out)
        .current_dir(root)
        .status()
        .context("running cargo check")?;
    if !status.success() {
        bail!("cargo check failed while describing queries");
    }
    if !check {
        return Ok(ExitCode::SUCCESS);
    }
    let stale = differences(&root.join(".sqlx"), &out)?;
    std::fs::remove_dir_all(&out).ok();
    if stale.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    bail!(".sqlx is stale ({}); run `cargo xtask sqlx-prepare` and commit .sqlx", stale.join(", "))
}

fn differences(committed: &Path, fresh: &Path) -> anyhow::Result<Vec<String>> {
    let read = |dir: &Path| -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let mut files = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            files.insert(
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(entry.path())?,
            );
        }
        Ok(files)
    };
    let (old, new) = (read(committed)?, read(fresh)?);
    let mut diff = Vec::new();
    for (name, text) in &new {
        match old.get(name) {
            None => diff.push(format!("missing {name}")),
            Some(old_text) if old_text != text => diff.push(format!("changed {name}")),
            Some(_) => {}
        }
    }
    diff.extend(
        old.keys().filter(|name| !new.contains_key(*name)).map(|name| format!("unused {name}")),
    );
    Ok(diff)
}
