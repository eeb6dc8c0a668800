//! `loadgen`: runs the real `tomori` binary against the fake Discord and a fake model under load,
//! with optional faults, and reports latencies, lost and doubled answers, 429s and memory.
//!
//! ```text
//! cargo build --release -p tomori -p tomori-testkit
//! cargo run --release -p tomori-testkit --bin loadgen -- --rate 20 --seconds 30 --scenario all
//! ```
//!
//! One summary line per scenario goes to stdout, progress to stderr, the full report as JSON to
//! `--json PATH` (`-` for stdout). Exit status: 0 when every run met its scenario's rule, 1 when
//! one did not (a lost message, a double answer...), 2 when a run could not be carried out.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;
use tomori_testkit::load::{self, CancellationToken, Options, Report, Scenario};

/// Load and fault runs of the tomori binary against fakes on loopback.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Args {
    /// Messages per second.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Channels the messages are spread over.
    #[arg(long, default_value_t = 20)]
    channels: u32,
    /// Guilds the channels are spread over.
    #[arg(long, default_value_t = 5)]
    guilds: u32,
    /// Length of the measured load, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u32,
    /// The fake model's time to the first token, in milliseconds.
    #[arg(long, default_value_t = 200)]
    llm_latency_ms: u64,
    /// The fake model's token rate.
    #[arg(long, default_value_t = 50)]
    tokens_per_sec: u32,
    /// Tokens per answer.
    #[arg(long, default_value_t = 20)]
    tokens: u32,
    /// What goes wrong: none, llm-stall, llm-500, discord-429, gateway-drop, pg-restart, or all
    /// (each in turn, each with a fresh bot and database).
    #[arg(long, default_value = "none", value_parser = parse_scenarios)]
    scenario: Scenarios,
    /// Length of the fault in seconds (a third of --seconds by default); it starts a third of
    /// the way into the load.
    #[arg(long)]
    fault_secs: Option<u64>,
    /// How long a stalled stream pauses in llm-stall, in seconds (the bot gives up on a stream
    /// idle for 120 s).
    #[arg(long, default_value_t = 10)]
    stall_secs: u64,
    /// Write the report as JSON here (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// The tomori binary (target/release/tomori beside this program by default).
    #[arg(long, value_name = "PATH")]
    bot: Option<PathBuf>,
    /// Use this PostgreSQL server (a database is created for each run and dropped after) instead
    /// of a private embedded cluster; pg-restart is then skipped.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: Option<String>,
    /// Use a private embedded cluster even when DATABASE_URL is set.
    #[arg(long)]
    embedded_db: bool,
    /// Put every message's timeline (sent, delivered, model request, reply) in the JSON report.
    #[arg(long)]
    timeline: bool,
    /// Keep the bot's log even when a run meets its rule.
    #[arg(long)]
    keep_log: bool,
    /// Messages of conversation (ten members, not addressed to the bot) sent into every channel
    /// before the load, so each prompt carries that much history.
    #[arg(long, default_value_t = 80)]
    history: u32,
    /// Server memories every guild is seeded with.
    #[arg(long, default_value_t = 25)]
    memories: u32,
    /// Lorebook entries every guild's persona is seeded with (one fires on every message, one
    /// is constant, the rest never match).
    #[arg(long, default_value_t = 0)]
    lorebook: u32,
}

#[derive(Debug, Clone)]
struct Scenarios(Vec<Scenario>);

/// The JSON report: whether every run met its rule, and the runs.
#[derive(Debug, serde::Serialize)]
struct Output<'a> {
    correct: bool,
    runs: &'a [Report],
}

fn parse_scenarios(value: &str) -> Result<Scenarios, String> {
    if value == "all" {
        return Ok(Scenarios(Scenario::ALL.to_vec()));
    }
    Scenario::from_name(value).map(|s| Scenarios(vec![s])).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {value:?}; one of {}, all", names.join(", "))
    })
}

#[expect(clippy::print_stderr, reason = "progress and errors for the person running the tool")]
fn say(line: &str) {
    eprintln!("loadgen: {line}");
}

#[expect(clippy::print_stdout, reason = "the summary and the JSON report are the tool's output")]
fn print(line: &str) {
    println!("{line}");
}

fn default_bot() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("tomori")))
        .unwrap_or_else(|| PathBuf::from("target/release/tomori"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    // The database flag also reads DATABASE_URL, which `conflicts_with` cannot see.
    if args.embedded_db {
        args.database_url = None;
    }
    tomori_testkit::init();
    let base = Options {
        bot: args.bot.clone().unwrap_or_else(default_bot),
        rate: args.rate,
        channels: args.channels,
        guilds: args.guilds,
        seconds: args.seconds,
        llm_latency: Duration::from_millis(args.llm_latency_ms),
        tokens_per_sec: args.tokens_per_sec,
        tokens: args.tokens,
        scenario: Scenario::None,
        fault: args.fault_secs.map(Duration::from_secs),
        stall: Duration::from_secs(args.stall_secs),
        database_url: args.database_url.clone().map(SecretString::from),
        progress: Some(Arc::new(say)),
        timeline: args.timeline,
        keep_log: args.keep_log,
        history: args.history,
        memories: args.memories,
        lorebook: args.lorebook,
    };
    if let Err(err) = base.check() {
        say(&format!("error: {err}"));
        return ExitCode::from(2);
    }
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            say("interrupted; cleaning up");
            on_ctrl_c.cancel();
        }
    });
    let mut reports: Vec<Report> = Vec::new();
    let mut failed_to_run = false;
    for scenario in &args.scenario.0 {
        let options = Options { scenario: *scenario, ..base.clone() };
        match load::run(&options, &cancel).await {
            Ok(report) => {
                print(&report.summary());
                reports.push(report);
            }
            Err(err) => {
                say(&format!("error: {}: {err}", scenario.name()));
                failed_to_run = true;
                if cancel.is_cancelled() {
                    break;
                }
            }
        }
    }
    let correct = reports.iter().all(|r| r.correct);
    if let Some(path) = &args.json {
        let output = Output { correct: correct && !failed_to_run, runs: &reports };
        let text = serde_json::to_string_pretty(&output).unwrap_or_default();
        if path.as_os_str() == "-" {
            print(&text);
        } else if let Err(err) = std::fs::write(path, format!("{text}\n")) {
            say(&format!("error: writing {}: {err}", path.display()));
            return ExitCode::from(2);
        }
    }
    for report in &reports {
        if let Some(log) = &report.bot_log {
            say(&format!("{}: the bot's log is kept at {log}", report.scenario));
        }
    }
    if failed_to_run {
        ExitCode::from(2)
    } else if correct {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
