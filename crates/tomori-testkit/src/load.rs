//! The load harness behind `cargo run --release -p tomori-testkit --bin loadgen`: the real
//! `tomori` binary as a child process, against the fake Discord and a fake model on loopback,
//! under a steady stream of messages, optionally with a fault in the middle.
//!
//! It is a black box test: the harness knows the bot only through its configuration (a cleared
//! environment, as the end-to-end tests start it), the wire, and `/proc/<pid>/status`. A run:
//!
//! 1. opens a database (a private embedded cluster, or a fresh database on `--database-url`),
//!    migrates it and gives every guild the persona "Tomori";
//! 2. starts the fakes and the bot, waits for the gateway READY, and sends three warm-up
//!    messages in the first guild (memory is sampled after them);
//! 3. announces the other guilds (GUILD_CREATE) and sends one message in each (memory is sampled
//!    again: the difference per guild is the cost of a cached guild);
//! 4. sends `rate` messages a second for `seconds` seconds, round-robin over the channels, each
//!    from a new user and addressed to Tomori by name, while the scenario's fault runs from a
//!    third of the way in;
//! 5. waits until every message has a reply (or the drain time is up), then a quiet period to
//!    catch late duplicates, stops the bot and reports.
//!
//! Everything listens on loopback only, every fake is bounded in connections and lifetime, and a
//! run is bounded in messages ([`MAX_MESSAGES`]) and time: it stops by itself.

mod model;
mod report;
mod rig;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;
/// Cancels a run (the binary cancels on Ctrl-C); re-exported so callers need no tokio-util.
pub use tokio_util::sync::CancellationToken;

pub use report::{
    Counts, FaultReport, GatewayReport, MemoryReport, Percentiles, Report, Settings, TimelineEntry,
};

use crate::fake_discord::{FakeDiscord, MessageCreate, UserSpec};
use crate::fake_llm::{FakeLlm, WireFormat};
use model::{Mode, Model};
use report::{FaultWindow, Injected, Observed, Phase};
use rig::{Bot, BotSetup, Database, Memory};

/// The most messages one run may send (warm-up and per-guild messages included).
pub const MAX_MESSAGES: u64 = 20_000;
/// The most messages per second.
pub const MAX_RATE: u32 = 1_000;
/// The longest measured load.
pub const MAX_SECONDS: u32 = 600;

/// A bot token of the right shape; only the fake Discord ever sees it.
const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
const GUILD_BASE: u64 = 900_000_000_000_000_000;
const CHANNEL_BASE: u64 = 910_000_000_000_000_000;
const USER_BASE: u64 = 920_000_000_000_000_000;
/// The members who make up a channel's history ([`Options::history`]).
const REGULAR_BASE: u64 = 930_000_000_000_000_000;
/// How many of them.
const REGULARS: u64 = 10;
const WARM_UP_MESSAGES: usize = 3;
/// How long the bot may take to connect.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one setup message may take to be answered.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the harness waits after the load for replies, beyond the fault and stall lengths.
const DRAIN: Duration = Duration::from_secs(30);
/// How long it keeps watching once every message has a reply, for late duplicates.
const QUIET: Duration = Duration::from_secs(2);
/// How long the memory settles before a sample.
const SETTLE: Duration = Duration::from_secs(1);

static RUNS: AtomicU32 = AtomicU32::new(0);

/// What goes wrong during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Nothing: the baseline.
    None,
    /// Requests that arrive during the fault stall half way through their stream.
    LlmStall,
    /// Requests that arrive during the fault are answered 500.
    Llm500,
    /// During the fault, Discord answers bursts of 429s to message and typing requests.
    Discord429,
    /// The gateway connection drops and new connections are refused for the fault's length;
    /// the bot must RESUME and miss nothing.
    GatewayDrop,
    /// PostgreSQL stops for the fault's length and starts again (embedded database only).
    PgRestart,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 6] = [
        Scenario::None,
        Scenario::LlmStall,
        Scenario::Llm500,
        Scenario::Discord429,
        Scenario::GatewayDrop,
        Scenario::PgRestart,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::None => "none",
            Scenario::LlmStall => "llm-stall",
            Scenario::Llm500 => "llm-500",
            Scenario::Discord429 => "discord-429",
            Scenario::GatewayDrop => "gateway-drop",
            Scenario::PgRestart => "pg-restart",
        }
    }

    /// The scenario named `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether visible errors are a correct outcome for some messages.
    fn allows_errors(self) -> bool {
        matches!(self, Scenario::LlmStall | Scenario::Llm500 | Scenario::PgRestart)
    }

    /// What "correct" means, as the report states it.
    pub fn rule(self) -> &'static str {
        match self {
            Scenario::None | Scenario::Discord429 | Scenario::GatewayDrop => {
                "every message is answered exactly once: none lost, none answered twice, no errors"
            }
            Scenario::LlmStall | Scenario::Llm500 | Scenario::PgRestart => {
                "every message gets exactly one reply, the whole answer or a visible error, never \
                 both, none lost; every message sent from 3 s after the fault ended is answered"
            }
        }
    }
}

/// Receives a line at each step of a run.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How a run is shaped.
#[derive(Clone)]
pub struct Options {
    /// The `tomori` binary.
    pub bot: PathBuf,
    /// Messages per second.
    pub rate: u32,
    /// Channels the messages are spread over (round-robin).
    pub channels: u32,
    /// Guilds the channels are spread over (round-robin); at most `channels`.
    pub guilds: u32,
    /// Length of the measured load.
    pub seconds: u32,
    /// The model's time to the first token.
    pub llm_latency: Duration,
    /// The model's token rate.
    pub tokens_per_sec: u32,
    /// Tokens per answer (3 to 300).
    pub tokens: u32,
    /// What goes wrong.
    pub scenario: Scenario,
    /// Length of the fault; a third of the load when `None`.
    pub fault: Option<Duration>,
    /// Length of a stall in `llm-stall`.
    pub stall: Duration,
    /// An existing PostgreSQL server (a database is created on it for the run and dropped
    /// after); a private embedded cluster when `None`.
    pub database_url: Option<SecretString>,
    /// Called with a line at each step, for a user watching.
    pub progress: Option<Progress>,
    /// Put every message's timeline in the report.
    pub timeline: bool,
    /// Keep the bot's log even when the run meets its rule.
    pub keep_log: bool,
    /// Messages of conversation (from [`REGULARS`] members, not addressed to the bot) sent into
    /// every channel before the load, so each turn's prompt carries that much history (0 to 200).
    pub history: u32,
    /// Server memories every guild is seeded with (0 to 25, the default per-server limit).
    pub memories: u32,
    /// Entries of the lorebook every guild's persona is seeded with (0 to 1,000; see
    /// `rig::lorebook`: one keyed to the load's messages, one constant, the rest never matching).
    pub lorebook: u32,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("bot", &self.bot)
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("guilds", &self.guilds)
            .field("seconds", &self.seconds)
            .field("scenario", &self.scenario)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bot: PathBuf::from("target/release/tomori"),
            rate: 10,
            channels: 20,
            guilds: 5,
            seconds: 20,
            llm_latency: Duration::from_millis(200),
            tokens_per_sec: 50,
            tokens: 20,
            scenario: Scenario::None,
            fault: None,
            stall: Duration::from_secs(10),
            database_url: None,
            progress: None,
            timeline: false,
            keep_log: false,
            history: 80,
            memories: 25,
            lorebook: 0,
        }
    }
}

impl Options {
    fn say(&self, line: &str) {
        if let Some(progress) = &self.progress {
            progress(line);
        }
    }

    fn fault_length(&self) -> Duration {
        self.fault.unwrap_or_else(|| Duration::from_secs(u64::from(self.seconds)) / 3)
    }

    fn load_messages(&self) -> u64 {
        u64::from(self.rate) * u64::from(self.seconds)
    }

    fn settings(&self) -> Settings {
        Settings {
            rate: self.rate,
            channels: self.channels,
            guilds: self.guilds,
            seconds: self.seconds,
            llm_latency_ms: report::millis(self.llm_latency),
            tokens_per_sec: self.tokens_per_sec,
            tokens: self.tokens,
            fault_ms: if self.scenario == Scenario::None {
                0.0
            } else {
                report::millis(self.fault_length())
            },
            stall_ms: if self.scenario == Scenario::LlmStall {
                report::millis(self.stall)
            } else {
                0.0
            },
            database: if self.database_url.is_some() { "server" } else { "embedded" }.to_owned(),
            history: self.history,
            memories: self.memories,
            lorebook: self.lorebook,
        }
    }

    /// Checks the bounds.
    ///
    /// # Errors
    /// [`LoadError::Invalid`] naming the first setting out of bounds.
    pub fn check(&self) -> Result<(), LoadError> {
        let invalid = |what: &'static str, reason: String| Err(LoadError::Invalid { what, reason });
        if !(1..=MAX_RATE).contains(&self.rate) {
            return invalid("--rate", format!("must be 1 to {MAX_RATE} messages a second"));
        }
        if !(1..=MAX_SECONDS).contains(&self.seconds) {
            return invalid("--seconds", format!("must be 1 to {MAX_SECONDS}"));
        }
        if !(1..=10_000).contains(&self.channels) {
            return invalid("--channels", "must be 1 to 10000".to_owned());
        }
        if !(1..=self.channels).contains(&self.guilds) {
            return invalid("--guilds", "must be 1 to the number of channels".to_owned());
        }
        let total = self.load_messages() + u64::from(self.guilds) + WARM_UP_MESSAGES as u64;
        if total > MAX_MESSAGES {
            return invalid(
                "--rate",
                format!(
                    "rate x seconds + guilds is {total} messages; a run sends at most {MAX_MESSAGES}"
                ),
            );
        }
        if self.llm_latency > Duration::from_secs(60) {
            return invalid("--llm-latency-ms", "must be at most 60000".to_owned());
        }
        if !(1..=10_000).contains(&self.tokens_per_sec) {
            return invalid("--tokens-per-sec", "must be 1 to 10000".to_owned());
        }
        if !(3..=300).contains(&self.tokens) {
            return invalid("--tokens", "must be 3 to 300".to_owned());
        }
        if self.fault_length() > Duration::from_secs(u64::from(self.seconds)) {
            return invalid("--fault-secs", "must be at most --seconds".to_owned());
        }
        if self.stall > Duration::from_secs(300) {
            return invalid("--stall-secs", "must be at most 300".to_owned());
        }
        if self.history > 200 {
            return invalid("--history", "must be 0 to 200".to_owned());
        }
        if u64::from(self.history) * u64::from(self.channels) > MAX_MESSAGES {
            return invalid(
                "--history",
                format!("history x channels is more than {MAX_MESSAGES} messages"),
            );
        }
        if self.memories > 25 {
            return invalid("--memories", "must be 0 to 25".to_owned());
        }
        if self.lorebook > 1_000 {
            return invalid("--lorebook", "must be 0 to 1000".to_owned());
        }
        Ok(())
    }
}

/// Why a run could not be carried out (as opposed to a run whose bot misbehaved, which is a
/// [`Report`] that is not `correct`).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A setting out of bounds.
    #[error("{what} {reason}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// Its bounds.
        reason: String,
    },
    /// No bot binary where it was looked for.
    #[error(
        "no tomori binary at {}: build it with `cargo build --release -p tomori`, or pass --bot PATH",
        path.display()
    )]
    BotMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The database could not be prepared, stopped or started.
    #[error("{what}: {source}")]
    Database {
        /// What we were doing.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file or process operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The bot process ended during the run.
    #[error("the bot exited ({status}); the end of its log:\n{log_tail}")]
    BotExited {
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The bot did not get somewhere in time.
    #[error("{what} within {after:?}; the end of the bot's log:\n{log_tail}")]
    Timeout {
        /// What it did not do.
        what: &'static str,
        /// How long we waited.
        after: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The run was cancelled (Ctrl-C).
    #[error("cancelled")]
    Cancelled,
}

/// Runs one scenario and reports. The database and the bot are stopped and removed whatever
/// happens; a run that breaks its scenario's rule keeps the bot's log (its path is in the
/// report).
///
/// # Errors
/// Settings out of bounds, a missing binary, a database that cannot be prepared, a bot that
/// does not start or exits, or cancellation.
pub async fn run(options: &Options, cancel: &CancellationToken) -> Result<Report, LoadError> {
    options.check()?;
    if !options.bot.is_file() {
        return Err(LoadError::BotMissing { path: options.bot.clone() });
    }
    // The bot runs in the run's directory, so a relative path would point elsewhere there.
    let bot = std::path::absolute(&options.bot).map_err(|source| LoadError::Io {
        what: "resolving",
        path: options.bot.clone(),
        source,
    })?;
    let options = &Options { bot, ..options.clone() };
    if options.scenario == Scenario::PgRestart && options.database_url.is_some() {
        return Ok(Report::skipped(
            options.scenario,
            options.settings(),
            "restarting PostgreSQL needs the embedded database; --database-url (or DATABASE_URL) was given",
        ));
    }
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let tag = format!("{}-{run}", std::process::id());
    let dir = std::env::temp_dir().join(format!("tomori-loadgen-{tag}"));
    std::fs::create_dir_all(&dir).map_err(|source| LoadError::Io {
        what: "creating",
        path: dir.clone(),
        source,
    })?;
    // The cluster's directory sits beside the run's, not inside it: when we are root the server
    // runs as another account, which must be able to reach it.
    let pg_root = std::env::temp_dir().join(format!("tomori-loadgen-{tag}-pg"));
    options.say(&format!("{}: preparing the database", options.scenario.name()));
    // Database names may hold lower-case letters and `_` only (`ensure_database`'s rule).
    let letters: String = tag
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'a' + u8::try_from(d).unwrap_or(0)),
            None => '_',
        })
        .collect();
    let name = format!("loadgen_{letters}");
    let opened = tokio::select! {
        opened = Database::open(options.database_url.as_ref(), &pg_root, &name) => opened,
        () = cancel.cancelled() => Err(LoadError::Cancelled),
    };
    let mut database = match opened {
        Ok(database) => database,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir_all(&pg_root);
            return Err(err);
        }
    };
    let result = tokio::select! {
        result = drive(options, &mut database, &dir) => result,
        () = cancel.cancelled() => Err(LoadError::Cancelled),
    };
    database.close().await;
    match result {
        Ok(mut report) => {
            if report.correct && !options.keep_log {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                report.bot_log = Some(dir.join("bot.log").display().to_string());
            }
            Ok(report)
        }
        Err(err) => {
            // The errors that concern the bot carry the end of its log.
            let _ = std::fs::remove_dir_all(&dir);
            Err(err)
        }
    }
}

/// The guild of each channel, round-robin.
fn layout(options: &Options) -> (Vec<u64>, Vec<(u64, u64)>) {
    let guilds: Vec<u64> = (1..=u64::from(options.guilds)).map(|g| GUILD_BASE + g).collect();
    let channels = (0..u64::from(options.channels))
        .map(|c| {
            let guild = guilds
                .get(usize::try_from(c % u64::from(options.guilds)).unwrap_or(0))
                .copied()
                .unwrap_or(GUILD_BASE + 1);
            (CHANNEL_BASE + c + 1, guild)
        })
        .collect();
    (guilds, channels)
}

/// The world of one run: the fakes, the bot and the messages sent so far.
struct World {
    discord: FakeDiscord,
    model: Arc<Model>,
    llm: FakeLlm,
    bot: Bot,
    injected: Vec<Injected>,
    next_user: u64,
}

impl World {
    /// Sends one setup message addressed to Tomori in `channel`.
    fn send(&mut self, channel: u64, guild: u64) -> Result<(), LoadError> {
        let message = user_message(&mut self.next_user, channel, guild);
        let at = Instant::now();
        match self.discord.try_inject_message(message) {
            Some(id) => {
                self.injected.push(Injected { id: Some(id), channel, phase: Phase::Setup, at });
                Ok(())
            }
            None => Err(LoadError::Timeout {
                what: "the fake Discord had no gateway session for the bot",
                after: Duration::ZERO,
                log_tail: rig::log_tail(self.bot.log(), 15),
            }),
        }
    }

    /// Sends `per_channel` messages of conversation among the [`REGULARS`] into every channel,
    /// none addressed to the bot, then gives the bot a moment to take them in.
    async fn chatter(
        &mut self,
        channels: &[(u64, u64)],
        per_channel: u32,
    ) -> Result<(), LoadError> {
        for n in 0..u64::from(per_channel) {
            for (channel, guild) in channels {
                let regular = n % REGULARS;
                let user = UserSpec::new(REGULAR_BASE + regular, &format!("regular{regular}"));
                let content = format!("message {n}: the kettle is on and the cups are warm");
                let message = MessageCreate::new(*channel, user, &content).in_guild(*guild);
                if self.discord.try_inject_message(message).is_none() {
                    return Err(LoadError::Timeout {
                        what: "the fake Discord had no gateway session for the bot",
                        after: Duration::ZERO,
                        log_tail: rig::log_tail(self.bot.log(), 15),
                    });
                }
            }
            // About 2,000 events a second: a busy gateway, not a flood.
            tokio::time::sleep(
                Duration::from_millis(1) * u32::try_from(channels.len()).unwrap_or(1) / 2,
            )
            .await;
            self.bot.check_alive()?;
        }
        tokio::time::sleep(SETTLE).await;
        Ok(())
    }

    /// Waits until every message sent so far has a reply, or `timeout`; false on timeout.
    async fn wait_for_replies(&mut self, timeout: Duration) -> Result<bool, LoadError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.bot.check_alive()?;
            let ids = self.injected.iter().filter_map(|m| m.id);
            let (outcomes, _) = report::outcomes(&self.discord.messages(), ids, None);
            if outcomes.values().all(|o| !o.answers.is_empty() || !o.errors.is_empty()) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn memory_after_settling(&self) -> Memory {
        tokio::time::sleep(SETTLE).await;
        self.bot.memory().unwrap_or_default()
    }
}

async fn drive(
    options: &Options,
    database: &mut Database,
    dir: &Path,
) -> Result<Report, LoadError> {
    let (guilds, channels) = layout(options);
    options.say(&format!("{}: seeding {} guilds", options.scenario.name(), guilds.len()));
    rig::seed(database.url(), &guilds, options.memories, options.lorebook).await?;

    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    let first_guild = guilds.first().copied().unwrap_or(GUILD_BASE + 1);
    for (channel, guild) in channels.iter().filter(|(_, g)| *g == first_guild) {
        discord.add_text_channel(*guild, *channel);
    }
    let model = Arc::new(Model::new(
        options.llm_latency,
        options.tokens_per_sec,
        options.tokens,
        options.stall,
    ));
    let total = options.load_messages() + u64::from(options.guilds) + WARM_UP_MESSAGES as u64;
    let drain = DRAIN
        + options.fault_length()
        + if options.scenario == Scenario::LlmStall { options.stall } else { Duration::ZERO };
    let lifetime = STARTUP_TIMEOUT
        + SETUP_TIMEOUT * 2
        + Duration::from_secs(total / u64::from(options.rate) + 1)
        + drain
        + Duration::from_secs(60);
    let llm = FakeLlm::builder(WireFormat::OpenAi)
        // Each turn is a request, retried at most twice, on a connection of its own at worst;
        // the bot's own echoes are never answered.
        .max_connections(usize::try_from(total * 4 + 100).unwrap_or(usize::MAX))
        .lifetime(lifetime)
        .record_requests(false)
        // Providers' APIs keep connections open; a fresh TCP connection per request would be
        // counted as the bot's overhead.
        .keep_alive(true)
        .start()
        .await;
    let responder = Arc::clone(&model);
    llm.respond_with(move |request| responder.respond(request));

    options.say(&format!("{}: starting {}", options.scenario.name(), options.bot.display()));
    let setup = BotSetup {
        database_url: database.url().clone(),
        token: TOKEN.to_owned(),
        api_base: discord.api_base(),
        gateway_url: discord.gateway_url(),
        llm_base_url: llm.base_url(),
    };
    let started = Instant::now();
    let bot = Bot::spawn(&options.bot, dir, &setup)?;
    let mut world = World { discord, model, llm, bot, injected: Vec::new(), next_user: 0 };
    wait_for_ready(&mut world).await?;
    let startup = started.elapsed();

    // Warm-up in the first guild, one message at a time.
    let first_channels: Vec<(u64, u64)> =
        channels.iter().filter(|(_, g)| *g == first_guild).copied().collect();
    for n in 0..WARM_UP_MESSAGES {
        let (channel, guild) = first_channels
            .get(n % first_channels.len().max(1))
            .copied()
            .unwrap_or((CHANNEL_BASE + 1, first_guild));
        world.send(channel, guild)?;
        if !world.wait_for_replies(SETUP_TIMEOUT).await? {
            return Err(LoadError::Timeout {
                what: "the bot did not answer a warm-up message",
                after: SETUP_TIMEOUT,
                log_tail: rig::log_tail(world.bot.log(), 15),
            });
        }
    }
    let warm = world.memory_after_settling().await;

    // The other guilds join, and each gets one message.
    options.say(&format!(
        "{}: announcing {} more guilds",
        options.scenario.name(),
        guilds.len().saturating_sub(1)
    ));
    let pace = Duration::from_secs(1) / options.rate;
    for guild in guilds.iter().skip(1) {
        for (channel, _) in channels.iter().filter(|(_, g)| g == guild) {
            world.discord.add_text_channel(*guild, *channel);
        }
        world.discord.announce_guild(*guild);
    }
    for guild in guilds.iter().skip(1) {
        if let Some((channel, _)) = channels.iter().find(|(_, g)| g == guild) {
            world.send(*channel, *guild)?;
            tokio::time::sleep(pace).await;
        }
    }
    if !world.wait_for_replies(SETUP_TIMEOUT).await? {
        return Err(LoadError::Timeout {
            what: "the bot did not answer the first message of every guild",
            after: SETUP_TIMEOUT,
            log_tail: rig::log_tail(world.bot.log(), 15),
        });
    }
    let all_guilds = world.memory_after_settling().await;

    // The conversation so far: history for every prompt, answered by no one.
    if options.history > 0 {
        options.say(&format!(
            "{}: {} messages of history in each channel",
            options.scenario.name(),
            options.history
        ));
        world.chatter(&channels, options.history).await?;
    }

    // The measured load, with the fault from a third of the way in.
    options.say(&format!(
        "{}: {} messages a second for {} s",
        options.scenario.name(),
        options.rate,
        options.seconds
    ));
    let host_load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|n| n.parse().ok()));
    let load_start = Instant::now();
    let fault_start = load_start + Duration::from_secs(u64::from(options.seconds)) / 3;
    let (sent, fault) = {
        let World { discord, model, bot, injected, next_user, .. } = &mut world;
        let traffic = traffic(options, &channels, load_start, discord, bot, injected, next_user);
        let fault = run_fault(options, fault_start, discord, model, database);
        tokio::join!(traffic, fault)
    };
    sent?;
    let fault = fault?;

    options.say(&format!("{}: waiting for the last replies", options.scenario.name()));
    world.wait_for_replies(drain).await?;
    tokio::time::sleep(QUIET).await;
    world.bot.check_alive()?;
    let end = world.bot.memory().unwrap_or_default();

    let observed = Observed {
        injected: world.injected.clone(),
        deliveries: world.discord.deliveries(),
        bot_messages: world.discord.messages(),
        arrivals: world.model.arrivals(),
        load_start,
        fault,
        answer_end: format!(" w{}", options.tokens),
    };
    let frames = world.discord.frames();
    let gateway = GatewayReport {
        connections: u64::try_from(world.discord.gateway_connections().len()).unwrap_or(0),
        refused: world.discord.refused_connections(),
        identifies: u64::try_from(frames.iter().filter(|f| f.op == 2).count()).unwrap_or(0),
        resumes: u64::try_from(frames.iter().filter(|f| f.op == 6).count()).unwrap_or(0),
    };
    let discord_429s = world.discord.status_count(429);
    let llm_requests = world.llm.request_count();
    let log = world.bot.log().to_owned();
    let exit = world.bot.stop(Duration::from_secs(10)).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();

    let load = report::analyse(&observed, Phase::Load);
    let setup_analysis = report::analyse(&observed, Phase::Setup);
    let per_guild = (options.guilds > 1).then(|| {
        #[expect(clippy::cast_precision_loss, reason = "KiB counts far below 2^52")]
        let delta = all_guilds.rss_kib as f64 - warm.rss_kib as f64;
        (delta / f64::from(options.guilds - 1) * 10.0).round() / 10.0
    });
    let mut report = Report {
        scenario: options.scenario.name().to_owned(),
        skipped: None,
        settings: options.settings(),
        messages: load.counts,
        setup_messages: setup_analysis.counts,
        engine_overhead_ms: load.engine_overhead,
        end_to_end_ms: load.end_to_end,
        discord_429s,
        llm_requests,
        unattributed_replies: load.unattributed,
        gateway,
        memory: MemoryReport {
            peak_rss_kib: end.peak_kib.max(all_guilds.peak_kib),
            rss_warm_kib: warm.rss_kib,
            rss_all_guilds_kib: all_guilds.rss_kib,
            rss_end_kib: end.rss_kib,
            rss_per_guild_kib: per_guild,
        },
        startup_ms: report::millis(startup),
        host_load_average,
        fault: load.fault,
        error_replies: load.error_replies,
        bot_panics: u64::try_from(log_text.lines().filter(|l| l.contains("panicked")).count())
            .unwrap_or(0),
        bot_log_errors: u64::try_from(
            log_text.lines().filter(|l| l.contains(r#""level":"ERROR""#)).count(),
        )
        .unwrap_or(0),
        bot_exit: exit.map_or_else(|| "killed after 10 s".to_owned(), |s| s.to_string()),
        rule: options.scenario.rule().to_owned(),
        correct: false,
        problems: Vec::new(),
        notes: Vec::new(),
        bot_log: None,
        timeline: options.timeline.then_some(load.timeline),
    };
    report.judge(options.scenario);
    if !load.lost_at_ms.is_empty() {
        report
            .problems
            .push(format!("lost messages were sent at (ms into the load): {:?}", load.lost_at_ms));
    }
    if !load.twice_at_ms.is_empty() {
        report.problems.push(format!(
            "messages answered twice were sent at (ms into the load): {:?}",
            load.twice_at_ms
        ));
    }
    Ok(report)
}

async fn wait_for_ready(world: &mut World) -> Result<(), LoadError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        world.bot.check_alive()?;
        if world.discord.deliveries().iter().any(|d| d.event == "READY") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LoadError::Timeout {
                what: "the bot did not connect to the gateway",
                after: STARTUP_TIMEOUT,
                log_tail: rig::log_tail(world.bot.log(), 15),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends the measured load: message `n` at `start + n / rate` into channel `n mod channels`.
async fn traffic(
    options: &Options,
    channels: &[(u64, u64)],
    start: Instant,
    discord: &FakeDiscord,
    bot: &mut Bot,
    injected: &mut Vec<Injected>,
    next_user: &mut u64,
) -> Result<(), LoadError> {
    let count = options.load_messages();
    for n in 0..count {
        let due = start + Duration::from_secs(n) / options.rate;
        tokio::time::sleep_until(due).await;
        if n % u64::from(options.rate) == 0 {
            bot.check_alive()?;
        }
        let index = usize::try_from(n % u64::from(options.channels)).unwrap_or(0);
        let Some((channel, guild)) = channels.get(index).copied() else { continue };
        let message = user_message(next_user, channel, guild);
        let at = Instant::now();
        // A session whose connection is down keeps the event for RESUME; only a missing session
        // refuses it, and then the message counts as never delivered.
        let id = discord.try_inject_message(message);
        injected.push(Injected { id, channel, phase: Phase::Load, at });
    }
    Ok(())
}

/// A message from a new user, addressed to the persona by name, with a token of its own.
fn user_message(next_user: &mut u64, channel: u64, guild: u64) -> MessageCreate {
    *next_user += 1;
    let user = USER_BASE + *next_user;
    let content = format!("{}, lg-{} how is the tea today?", rig::PERSONA, *next_user);
    MessageCreate::new(channel, UserSpec::new(user, &format!("guest{}", *next_user)), &content)
        .in_guild(guild)
}

/// Runs the scenario's fault from `start`; returns when it really began and ended.
async fn run_fault(
    options: &Options,
    start: Instant,
    discord: &FakeDiscord,
    model: &Model,
    database: &mut Database,
) -> Result<Option<FaultWindow>, LoadError> {
    let length = options.fault_length();
    if options.scenario == Scenario::None {
        return Ok(None);
    }
    tokio::time::sleep_until(start).await;
    let from = Instant::now();
    let what = match options.scenario {
        Scenario::None => return Ok(None),
        Scenario::LlmStall => {
            model.set_mode(Mode::Stall);
            tokio::time::sleep(length).await;
            model.set_mode(Mode::Normal);
            format!("every model request stalls {:?} half way through its stream", options.stall)
        }
        Scenario::Llm500 => {
            model.set_mode(Mode::ServerError);
            tokio::time::sleep(length).await;
            model.set_mode(Mode::Normal);
            "every model request is answered 500".to_owned()
        }
        Scenario::Discord429 => {
            // Bursts of one second, one second apart; a burst answers every message and typing
            // request with 429 and a bucket that resets after one second.
            let end = from + length;
            let second = Duration::from_secs(1);
            while Instant::now() < end {
                let burst = second.min(end.saturating_duration_since(Instant::now()));
                discord.rate_limit_for("POST", "channels/*/messages", burst, second);
                discord.rate_limit_for("POST", "channels/*/typing", burst, second);
                tokio::time::sleep((second * 2).min(end.saturating_duration_since(Instant::now())))
                    .await;
            }
            "1 s bursts, 1 s apart, in which every message and typing request gets 429 (bucket reset after 1 s)"
                .to_owned()
        }
        Scenario::GatewayDrop => {
            discord.drop_gateway(0, length);
            tokio::time::sleep(length).await;
            "the gateway connection drops without a close frame; reconnects are refused (503)"
                .to_owned()
        }
        Scenario::PgRestart => {
            if !database.can_restart() {
                return Ok(None);
            }
            database.stop_server().await?;
            tokio::time::sleep(length).await;
            database.start_server().await?;
            "PostgreSQL stops (pg_ctl stop -m fast) and starts again".to_owned()
        }
    };
    Ok(Some(FaultWindow { what, from, to: Instant::now() }))
}
