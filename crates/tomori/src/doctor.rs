//! `tomori doctor`: one line per check, exit 1 if any failed. It creates nothing: no database,
//! no key file; it reads, connects and asks.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use secrecy::ExposeSecret as _;
use tomori_store::keys;
use tomori_store::secrets::KeyRing;

use crate::commands::say;
use crate::config::{self, Config, Environment};
use crate::database::{self, Access, Database};
use crate::{keyring, providers as instance, token};

type Line = (bool, &'static str, String);

/// One line per check; exit 1 if any failed.
pub(crate) async fn doctor(loaded: &config::Loaded, env: &Environment) -> ExitCode {
    let config = &loaded.config;
    let mut failed = false;
    let mut line = |ok: bool, check: &str, detail: String| {
        failed |= !ok;
        say(format_args!("{} {check:<10} {detail}", if ok { "ok  " } else { "FAIL" }));
    };
    let source = loaded.file.as_ref().map_or_else(
        || "built-in defaults and environment".to_owned(),
        |p| p.display().to_string(),
    );
    line(true, "config", format!("loaded from {source}"));

    let ring = if keyring::any_configured(env, config) {
        match keyring::load(env, config, false) {
            Ok((ring, _)) => {
                line(
                    true,
                    "key ring",
                    format!(
                        "versions {:?}, current {}",
                        ring.versions().collect::<Vec<_>>(),
                        ring.current()
                    ),
                );
                Some(ring)
            }
            Err(err) => {
                line(false, "key ring", format!("{err:#}"));
                None
            }
        }
    } else {
        line(
            true,
            "key ring",
            "none yet: `tomori run` creates data/keys/v1.key (or set TOMORI_SECRET_V1)".to_owned(),
        );
        None
    };

    for (ok, check, detail) in doctor_database(config, ring.as_ref()).await {
        line(ok, check, detail);
    }

    for (ok, check, detail) in providers(config).await {
        line(ok, check, detail);
    }
    for (ok, check, detail) in mcp_commands(config, env) {
        line(ok, check, detail);
    }
    match &config.discord.token {
        None => {
            line(true, "discord", "no token yet: `tomori run` explains how to get one".to_owned())
        }
        Some(t) => match token::check(t.expose_secret()) {
            Ok(()) => line(true, "discord", "token has the shape of a bot token".to_owned()),
            Err(err) => line(true, "discord", token::warning(err)),
        },
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `doctor`'s database lines. Opens only a database that exists (a fresh checkout has none yet,
/// which is fine) and fails on a schema newer than this build or on sealed values without a key.
async fn doctor_database(
    config: &Config,
    ring: Option<&KeyRing>,
) -> Vec<(bool, &'static str, String)> {
    let db = match database::open(config, Access::Existing).await {
        Ok(db) => db,
        Err(err) => {
            return match err.downcast_ref::<database::NotFound>() {
                Some(missing) => vec![(
                    true,
                    "database",
                    format!("none yet ({missing}): `tomori run` creates it"),
                )],
                None => vec![(false, "database", format!("{err:#}"))],
            };
        }
    };
    let kind = if db.is_embedded() { "embedded PostgreSQL (unix socket)" } else { "DATABASE_URL" };
    let mut lines = vec![(true, "database", format!("connected to {kind}"))];
    let known = tomori_store::db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = match tomori_store::db::applied_version(&db.owner).await {
        Ok(applied) => applied,
        Err(err) => {
            lines.push((false, "migrations", format!("{:#}", anyhow::Error::new(err))));
            None
        }
    };
    lines.push(match applied {
        Some(found) if found > known => (
            false,
            "migrations",
            format!("the schema is at version {found}, newer than this build ({known}): run the newer tomori"),
        ),
        Some(found) if found == known => (true, "migrations", "schema is up to date".to_owned()),
        _ => (
            true,
            "migrations",
            "pending; applied by `tomori run` or `tomori migrate`".to_owned(),
        ),
    });
    if applied.is_some() {
        lines.push(doctor_sealed(&db, ring).await);
    }
    db.close().await;
    lines
}

async fn doctor_sealed(db: &Database, ring: Option<&KeyRing>) -> (bool, &'static str, String) {
    match ring {
        Some(ring) => match keys::check_ring(&db.owner, ring).await {
            Ok(()) => (true, "sealed", "every stored secret opens with the key ring".to_owned()),
            Err(err) => (false, "sealed", format!("{:#}", anyhow::Error::new(err))),
        },
        None => match keys::was_sealed(&db.owner).await {
            Ok(false) => (true, "sealed", "nothing sealed yet".to_owned()),
            Ok(true) => (
                false,
                "sealed",
                "this database was sealed with a key you did not provide: set TOMORI_SECRET_V<n> or restore the key files".to_owned(),
            ),
            Err(err) => (false, "sealed", format!("{:#}", anyhow::Error::new(err))),
        },
    }
}

/// Each instance provider asked for its model list through the same guarded client and key a
/// turn uses.
async fn providers(config: &Config) -> Vec<Line> {
    let chain = match instance::instance_chain(config) {
        Ok(chain) => chain,
        Err(err) => return vec![(false, "provider", format!("{err:#}"))],
    };
    let timeouts = tomori_llm::Timeouts {
        first_byte: Duration::from_secs(15),
        ..tomori_llm::Timeouts::default()
    };
    let mut lines = Vec::new();
    for target in &chain {
        let key = if target.keys.is_empty() { "no key" } else { "key set" };
        lines.push(match tomori_llm::probe(target, &timeouts).await {
            Ok(()) => (true, "provider", format!("{}: reachable ({key})", target.label)),
            Err(err) => {
                (false, "provider", format!("{}: {} ({key})", target.label, err_chain(&err)))
            }
        });
    }
    lines
}

/// An error with its causes, so "connection refused" and a TLS failure read differently.
fn err_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether each enabled `[mcp.*]` command resolves: a path that is an executable file, or a name
/// found on the PATH the server will get.
fn mcp_commands(config: &Config, env: &Environment) -> Vec<Line> {
    let path = env.get("PATH").unwrap_or_default().to_owned();
    config
        .mcp
        .iter()
        .filter(|(_, server)| server.enabled)
        .map(|(name, server)| {
            let search =
                server.env.get("PATH").map_or(path.clone(), |p| p.expose_secret().to_owned());
            match resolve_command(&server.command, &search) {
                Some(found) => (true, "mcp", format!("{name}: {}", found.display())),
                None => (
                    false,
                    "mcp",
                    format!("{name}: `{}` is not an executable on PATH ({search})", server.command),
                ),
            }
        })
        .collect()
}

fn resolve_command(command: &str, search: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let path = Path::new(command);
        return executable(path).then(|| path.to_path_buf());
    }
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(command))
        .find(|candidate| executable(candidate))
}
