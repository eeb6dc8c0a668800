//! `tomori persona convert CARD`: a SillyTavern card (PNG or JSON; V1, V2 or V3) as the persona
//! JSON that `/persona import` also accepts, checked against the configured `[limits]` exactly
//! as an import is.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tomori_core::card::{self, MAX_PNG_BYTES};
use tomori_core::limits::Limits;

use crate::commands::say;

/// `tomori persona convert` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ConvertArgs {
    /// The card: a PNG with a chara or ccv3 chunk, or card JSON (`-` reads standard input).
    card: PathBuf,
    /// Use this name instead of the card's (for a name Discord would refuse).
    #[arg(long)]
    name: Option<String>,
}

/// Reads at most `MAX_PNG_BYTES` + 1 bytes, so that an oversized file is refused without being
/// read whole.
fn read_capped(mut source: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    source
        .by_ref()
        .take(u64::try_from(MAX_PNG_BYTES).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Prints the persona JSON on stdout and anything left out as warnings on stderr.
pub(crate) fn convert(limits: &Limits, args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let shown = args.card.display();
    let bytes = if args.card.as_os_str() == "-" {
        read_capped(std::io::stdin().lock()).context("reading the card from standard input")?
    } else {
        let file = std::fs::File::open(&args.card).with_context(|| format!("opening {shown}"))?;
        read_capped(file).with_context(|| format!("reading {shown}"))?
    };
    let imported = card::parse(&bytes, limits, args.name.as_deref())
        .with_context(|| format!("converting {shown}"))?;
    for warning in &imported.warnings {
        warn(warning);
    }
    let json = serde_json::to_string_pretty(&imported.card).context("printing the persona")?;
    say(json);
    Ok(ExitCode::SUCCESS)
}

#[expect(clippy::print_stderr, reason = "what the conversion left out, for the operator")]
fn warn(line: &str) {
    eprintln!("warning: {line}");
}
