//! The `tomori` binary: command line, configuration and wiring.
//!
//! Every command loads the configuration the same way (`config::load`), opens the database the
//! same way (`database::open`), and reports failure as one line on stderr with exit code 1
//! (2 for usage errors and a missing Discord token, 3 for a refused URL in `url-check`).

mod backup;
mod commands;
mod config;
mod database;
mod doctor;
mod healthcheck;
mod keyring;
mod mcp;
mod persona;
mod progress;
mod providers;
mod terminal;
mod token;
mod web;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tomori: a self-hosted Discord AI companion.
#[derive(Debug, Parser)]
#[command(
    name = "tomori",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TOMORI_GIT_REV"), ")"),
    about
)]
struct Cli {
    /// Config file (default: $TOMORI_CONFIG, else ./tomori.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot.
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Key ring maintenance.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Audit log maintenance.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent dump of the database and a manifest of the key versions it needs (never
    /// the keys) to a new archive.
    Backup(backup::BackupArgs),
    /// Restore an archive from `tomori backup` into an empty database (or over one, with
    /// --replace), after checking that the key ring opens its sealed values.
    Restore(backup::RestoreArgs),
    /// Ask this instance's health listener whether it is ready (exit 0) or not (exit 1), for a
    /// container HEALTHCHECK.
    Healthcheck,
    /// Check the configuration, database, migrations, key ring and Discord token.
    Doctor,
    /// Say whether the URL policy admits a URL, and why.
    UrlCheck(commands::UrlCheckArgs),
    /// Print an example configuration file with every key and its default.
    ExampleConfig,
    /// Persona tools.
    Persona {
        #[command(subcommand)]
        command: PersonaCommand,
    },
    /// Talk to a persona in the terminal with the instance providers (one message per line).
    Chat {
        /// The persona to talk to (created with a default prompt if the terminal has none by that name).
        #[arg(long)]
        persona: Option<String>,
        /// Use only this provider from [providers].
        #[arg(long)]
        provider: Option<String>,
    },
    /// Read a PDF on stdin and write its text on stdout, confined by OS limits: the bot runs
    /// itself this way for every PDF, so a hostile file cannot crash or exhaust the bot.
    #[command(hide = true)]
    ExtractPdf {
        /// The limits, as the bot passes them (`--memory-bytes N --cpu-seconds N`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        limits: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PersonaCommand {
    /// Print a SillyTavern card (PNG or JSON; V1, V2 or V3) as the persona JSON /persona import
    /// takes; exit 1 with the reason when the card is invalid.
    Convert(persona::ConvertArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the key versions stored secrets use, with counts.
    Audit,
    /// Re-seal every stored secret under the current key version.
    Rotate {
        /// Count what would be re-sealed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the audit chains; exit 1 when a row was edited, inserted or deleted.
    Verify,
}

fn main() -> ExitCode {
    // Security: one TLS stack. Installed before anything can build an HTTP client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Command::ExtractPdf { limits } = cli.command {
        // Before any runtime or thread exists: the reader confines itself and reads nothing
        // else (see tomori_tools::pdf).
        return tomori_tools::pdf::run_child(limits);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            return commands::fail(&anyhow::Error::new(err).context("starting the async runtime"));
        }
    };
    runtime.block_on(commands::dispatch(cli))
}
