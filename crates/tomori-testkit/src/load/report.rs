//! What a load run observed, turned into the report: each user message's outcome (answered, a
//! visible error, lost, answered twice), latencies as percentiles, and the one-line summary.
//!
//! All times come from the fakes' side of the wire: when the fake Discord wrote the
//! MESSAGE_CREATE to the gateway socket, when the fake model received the request whose answer
//! was delivered, and when the fake Discord received the reply. The reply's
//! `message_reference` says which user message it answers; the `ack r<seq>` it starts with says
//! which model request produced it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::Scenario;
use super::model::{Arrival, answer_seq};
use crate::fake_discord::{GatewayDelivery, SentMessage};

/// When a user message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Warm-up and one message per guild before the measured load.
    Setup,
    /// The measured load.
    Load,
}

/// A user message the harness injected.
#[derive(Debug, Clone, Copy)]
pub(super) struct Injected {
    /// Its id; `None` when the fake had no gateway session to send it to.
    pub(super) id: Option<u64>,
    pub(super) channel: u64,
    pub(super) phase: Phase,
    pub(super) at: Instant,
}

/// A fault's window, as it really happened.
#[derive(Debug, Clone)]
pub(super) struct FaultWindow {
    pub(super) what: String,
    pub(super) from: Instant,
    pub(super) to: Instant,
}

/// Everything the analysis reads.
#[derive(Debug)]
pub(super) struct Observed {
    pub(super) injected: Vec<Injected>,
    pub(super) deliveries: Vec<GatewayDelivery>,
    pub(super) bot_messages: Vec<SentMessage>,
    pub(super) arrivals: Vec<Arrival>,
    pub(super) load_start: Instant,
    pub(super) fault: Option<FaultWindow>,
    /// How a complete answer ends (its last token).
    pub(super) answer_end: String,
}

/// The replies to one user message.
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    /// Answers: the model request that produced each, and when it reached Discord.
    pub(super) answers: Vec<(Option<usize>, Instant)>,
    /// Other replies (errors and notices), with their text.
    pub(super) errors: Vec<(String, Instant)>,
    /// Answers that stop before the model's last token.
    pub(super) truncated: usize,
}

impl Outcome {
    fn first_reply(&self) -> Option<Instant> {
        self.answers.iter().map(|(_, at)| *at).chain(self.errors.iter().map(|(_, at)| *at)).min()
    }
}

/// The replies to each user message, by its id; replies to anything else are counted apart. An
/// answer that does not end with `answer_end` (when given) is counted as truncated.
pub(super) fn outcomes(
    bot_messages: &[SentMessage],
    ids: impl IntoIterator<Item = u64>,
    answer_end: Option<&str>,
) -> (HashMap<u64, Outcome>, u64) {
    let mut map: HashMap<u64, Outcome> =
        ids.into_iter().map(|id| (id, Outcome::default())).collect();
    let mut unattributed = 0;
    for message in bot_messages {
        match message.reply_to.and_then(|id| map.get_mut(&id)) {
            Some(outcome) if message.content.starts_with(super::model::ANSWER_MARK) => {
                outcome.answers.push((answer_seq(&message.content), message.at));
                if answer_end.is_some_and(|end| !message.content.ends_with(end)) {
                    outcome.truncated += 1;
                }
            }
            Some(outcome) => outcome.errors.push((message.content.clone(), message.at)),
            None => unattributed += 1,
        }
    }
    (map, unattributed)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many samples.
    pub samples: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`.
    pub(super) fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let rank = |p: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let n = samples.len();
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "a rank within 1..=n of a list far shorter than 2^52"
            )]
            let index = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples.get(index).map_or(0.0, |d| millis(*d))
        };
        Self { samples: samples.len(), p50: rank(50.0), p99: rank(99.0), max: rank(100.0) }
    }
}

/// A duration in milliseconds, rounded to 0.01 ms.
pub(super) fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// What happened to the user messages.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Messages sent.
    pub sent: u64,
    /// Messages the fake wrote to the bot's gateway socket.
    pub delivered: u64,
    /// Messages answered by the model exactly once (and nothing else).
    pub answered: u64,
    /// Messages that got a visible error or notice and no answer.
    pub errors: u64,
    /// Messages that got no reply at all.
    pub lost: u64,
    /// Messages answered by the model more than once.
    pub answered_twice: u64,
    /// Messages that got both an error and an answer.
    pub error_and_answer: u64,
    /// Messages the fake never managed to deliver (no session to take them).
    pub undelivered: u64,
    /// Messages delivered more than once (replayed after a RESUME).
    pub redelivered: u64,
    /// Messages whose answer stops before the model's last token (a stream that broke off),
    /// with no error shown.
    pub truncated: u64,
}

/// Latency and outcome of a set of messages.
#[derive(Debug, Clone, Default)]
pub(super) struct Analysis {
    pub(super) counts: Counts,
    pub(super) engine_overhead: Percentiles,
    pub(super) end_to_end: Percentiles,
    pub(super) error_replies: BTreeMap<String, u64>,
    /// When (ms after the load started) each lost message was sent; the first few.
    pub(super) lost_at_ms: Vec<f64>,
    /// When (ms after the load started) each message answered twice was sent; the first few.
    pub(super) twice_at_ms: Vec<f64>,
    pub(super) fault: Option<FaultReport>,
    pub(super) unattributed: u64,
    pub(super) timeline: Vec<TimelineEntry>,
}

/// One user message's way through the bot, in ms after the load started.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TimelineEntry {
    /// The message id (absent when it could not be sent).
    pub id: Option<u64>,
    /// Its channel.
    pub channel: u64,
    /// When the harness sent it.
    pub sent_ms: f64,
    /// When the fake wrote it to the gateway socket (first time).
    pub delivered_ms: Option<f64>,
    /// When the model request of its (first) answer arrived.
    pub llm_request_ms: Option<f64>,
    /// When its first reply reached the fake Discord.
    pub first_reply_ms: Option<f64>,
    /// `answered`, `answered (truncated)`, `error`, `lost`, `answered twice`, `error and
    /// answer` or `undelivered`.
    pub outcome: &'static str,
}

/// How the bot came through a fault.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FaultReport {
    /// What was done.
    pub what: String,
    /// When it started, ms after the load started.
    pub from_ms: f64,
    /// When it ended, ms after the load started.
    pub to_ms: f64,
    /// Messages sent while it lasted.
    pub sent_during: u64,
    /// Of those, how many got a visible error.
    pub errors_during: u64,
    /// Of those, how many got no reply.
    pub lost_during: u64,
    /// Messages sent from [`RECOVERY_GRACE`] after it ended.
    pub sent_after: u64,
    /// Of those, how many were answered.
    pub answered_after: u64,
    /// From the fault's end to the first answer to a message sent after it, in ms.
    pub first_answer_after_ms: Option<f64>,
}

/// How long after a fault ends the bot may still fail; messages sent later must be answered.
pub(super) const RECOVERY_GRACE: Duration = Duration::from_secs(3);

const EXAMPLES: usize = 10;

/// `… (incident 0a1b2c3d).` with the incident id left out, so errors group by kind.
fn error_kind(text: &str) -> String {
    let mut kind = text.to_owned();
    if let Some(start) = kind.find("(incident ")
        && let Some(len) = kind.get(start..).and_then(|rest| rest.find(')'))
    {
        kind.replace_range(start..=start + len, "(incident …)");
    }
    kind.chars().take(120).collect()
}

/// Analyses the messages of one phase.
pub(super) fn analyse(observed: &Observed, phase: Phase) -> Analysis {
    let injected: Vec<&Injected> = observed.injected.iter().filter(|m| m.phase == phase).collect();
    let ids = observed.injected.iter().filter_map(|m| m.id);
    let (outcomes, unattributed) =
        outcomes(&observed.bot_messages, ids, Some(&observed.answer_end));
    let mut first_delivery: HashMap<u64, Instant> = HashMap::new();
    let mut deliveries: HashMap<u64, u64> = HashMap::new();
    for delivery in observed.deliveries.iter().filter(|d| d.event == "MESSAGE_CREATE") {
        if let Some(id) = delivery.id {
            first_delivery.entry(id).or_insert(delivery.at);
            *deliveries.entry(id).or_default() += 1;
        }
    }
    let since_start = |at: Instant| millis(at.saturating_duration_since(observed.load_start));
    let mut analysis = Analysis { unattributed, ..Analysis::default() };
    let (mut overhead, mut end_to_end) = (Vec::new(), Vec::new());
    let counts = &mut analysis.counts;
    for message in &injected {
        counts.sent += 1;
        let mut entry = TimelineEntry {
            id: message.id,
            channel: message.channel,
            sent_ms: since_start(message.at),
            outcome: "undelivered",
            ..TimelineEntry::default()
        };
        let Some(id) = message.id else {
            counts.undelivered += 1;
            analysis.timeline.push(entry);
            continue;
        };
        let delivered = first_delivery.get(&id).copied();
        match deliveries.get(&id).copied().unwrap_or(0) {
            0 => counts.undelivered += 1,
            1 => counts.delivered += 1,
            _ => {
                counts.delivered += 1;
                counts.redelivered += 1;
            }
        }
        let outcome = outcomes.get(&id).cloned().unwrap_or_default();
        for (text, _) in &outcome.errors {
            *analysis.error_replies.entry(error_kind(text)).or_default() += 1;
        }
        entry.outcome = match (outcome.answers.len(), outcome.errors.is_empty()) {
            (0, true) => {
                if delivered.is_some() {
                    counts.lost += 1;
                    if analysis.lost_at_ms.len() < EXAMPLES {
                        analysis.lost_at_ms.push(since_start(message.at));
                    }
                    "lost"
                } else {
                    "undelivered"
                }
            }
            (0, false) => {
                counts.errors += 1;
                "error"
            }
            (1, true) => {
                counts.answered += 1;
                if outcome.truncated > 0 {
                    counts.truncated += 1;
                    "answered (truncated)"
                } else {
                    "answered"
                }
            }
            (1, false) => {
                counts.error_and_answer += 1;
                "error and answer"
            }
            _ => {
                counts.answered_twice += 1;
                if analysis.twice_at_ms.len() < EXAMPLES {
                    analysis.twice_at_ms.push(since_start(message.at));
                }
                "answered twice"
            }
        };
        entry.delivered_ms = delivered.map(since_start);
        entry.first_reply_ms = outcome.first_reply().map(since_start);
        let arrival = outcome
            .answers
            .first()
            .and_then(|(seq, _)| *seq)
            .and_then(|seq| observed.arrivals.get(seq));
        entry.llm_request_ms = arrival.map(|a| since_start(a.at));
        analysis.timeline.push(entry);
        let Some(delivered) = delivered else { continue };
        if let Some(first) = outcome.first_reply() {
            end_to_end.push(first.saturating_duration_since(delivered));
        }
        if let Some(arrival) = arrival.filter(|arrival| arrival.at >= delivered) {
            overhead.push(arrival.at.saturating_duration_since(delivered));
        }
    }
    analysis.engine_overhead = Percentiles::of(overhead);
    analysis.end_to_end = Percentiles::of(end_to_end);
    if phase == Phase::Load
        && let Some(window) = &observed.fault
    {
        analysis.fault = Some(fault_report(window, &injected, &outcomes, observed.load_start));
    }
    analysis
}

fn fault_report(
    window: &FaultWindow,
    injected: &[&Injected],
    outcomes: &HashMap<u64, Outcome>,
    load_start: Instant,
) -> FaultReport {
    let since_start = |at: Instant| millis(at.saturating_duration_since(load_start));
    let mut report = FaultReport {
        what: window.what.clone(),
        from_ms: since_start(window.from),
        to_ms: since_start(window.to),
        ..FaultReport::default()
    };
    let mut first_after: Option<Instant> = None;
    for message in injected {
        let outcome = message.id.and_then(|id| outcomes.get(&id)).cloned().unwrap_or_default();
        if message.at >= window.from && message.at < window.to {
            report.sent_during += 1;
            if outcome.answers.is_empty() && !outcome.errors.is_empty() {
                report.errors_during += 1;
            }
            if outcome.answers.is_empty() && outcome.errors.is_empty() {
                report.lost_during += 1;
            }
        }
        if message.at >= window.to {
            if let Some((_, at)) = outcome.answers.first() {
                first_after = Some(first_after.map_or(*at, |first| first.min(*at)));
            }
            if message.at >= window.to + RECOVERY_GRACE {
                report.sent_after += 1;
                if outcome.answers.len() == 1 && outcome.errors.is_empty() {
                    report.answered_after += 1;
                }
            }
        }
    }
    report.first_answer_after_ms =
        first_after.map(|at| millis(at.saturating_duration_since(window.to)));
    report
}

/// The bot's memory, in KiB.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MemoryReport {
    /// Peak resident set size over the run (`VmHWM`).
    pub peak_rss_kib: u64,
    /// Resident set size after the warm-up in one guild.
    pub rss_warm_kib: u64,
    /// Resident set size once every guild was announced and had one message answered.
    pub rss_all_guilds_kib: u64,
    /// Resident set size at the end of the run.
    pub rss_end_kib: u64,
    /// `(rss_all_guilds - rss_warm) / (guilds - 1)`; absent with one guild.
    pub rss_per_guild_kib: Option<f64>,
}

/// The gateway's view of the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct GatewayReport {
    /// WebSocket connections the bot opened.
    pub connections: u64,
    /// Connections refused while the gateway was "down".
    pub refused: u64,
    /// IDENTIFY frames (new sessions).
    pub identifies: u64,
    /// RESUME frames.
    pub resumes: u64,
}

/// The settings a run used.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Settings {
    /// Messages per second.
    pub rate: u32,
    /// Channels the messages are spread over.
    pub channels: u32,
    /// Guilds the channels are spread over.
    pub guilds: u32,
    /// Length of the measured load.
    pub seconds: u32,
    /// The model's time to the first token.
    pub llm_latency_ms: f64,
    /// The model's token rate.
    pub tokens_per_sec: u32,
    /// Tokens per answer.
    pub tokens: u32,
    /// Length of the fault.
    pub fault_ms: f64,
    /// Length of a stall (llm-stall).
    pub stall_ms: f64,
    /// `embedded` (a private cluster) or `server` (`--database-url`).
    pub database: String,
    /// Messages of history in every channel before the load.
    pub history: u32,
    /// Server memories per guild.
    pub memories: u32,
    /// Lorebook entries of every guild's persona.
    pub lorebook: u32,
}

/// The result of one scenario; serialised as the JSON report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    /// Which scenario.
    pub scenario: String,
    /// Set when the scenario could not run here, saying why.
    pub skipped: Option<String>,
    /// The settings.
    pub settings: Settings,
    /// The user messages of the measured load.
    pub messages: Counts,
    /// Warm-up and one message per guild, before the load.
    pub setup_messages: Counts,
    /// Gateway event to the model request whose answer was delivered.
    pub engine_overhead_ms: Percentiles,
    /// Gateway event to the first Discord message replying to it (answer or error).
    pub end_to_end_ms: Percentiles,
    /// 429s the fake Discord sent.
    pub discord_429s: u64,
    /// Requests the fake model received.
    pub llm_requests: u64,
    /// Bot messages that reply to no user message of the run.
    pub unattributed_replies: u64,
    /// The gateway's view.
    pub gateway: GatewayReport,
    /// The bot's memory.
    pub memory: MemoryReport,
    /// From starting the bot to its gateway READY, in ms.
    pub startup_ms: f64,
    /// The machine's 1-minute load average when the load started (other work skews the
    /// latencies; compare runs made under similar load).
    pub host_load_average: Option<f64>,
    /// The fault and how the bot came through it.
    pub fault: Option<FaultReport>,
    /// Error replies by kind (incident ids left out).
    pub error_replies: BTreeMap<String, u64>,
    /// Lines of the bot's log with a panic.
    pub bot_panics: u64,
    /// Lines of the bot's log at ERROR level.
    pub bot_log_errors: u64,
    /// How the bot process ended when asked to stop.
    pub bot_exit: String,
    /// What "correct" means for this scenario.
    pub rule: String,
    /// Whether the run met its rule.
    pub correct: bool,
    /// What broke the rule.
    pub problems: Vec<String>,
    /// Observations that do not break the rule.
    pub notes: Vec<String>,
    /// Where the bot's log was kept (runs that broke the rule keep it, and `--keep-log`).
    pub bot_log: Option<String>,
    /// Every message of the load, with `--timeline`.
    pub timeline: Option<Vec<TimelineEntry>>,
}

impl Report {
    /// A scenario that could not run, and why.
    pub(super) fn skipped(scenario: Scenario, settings: Settings, why: &str) -> Self {
        Self {
            scenario: scenario.name().to_owned(),
            skipped: Some(why.to_owned()),
            settings,
            rule: scenario.rule().to_owned(),
            correct: true,
            ..Self::default()
        }
    }

    /// Checks the run against its scenario's rule, filling `correct` and `problems`.
    pub(super) fn judge(&mut self, scenario: Scenario) {
        let mut problems = Vec::new();
        let m = &self.messages;
        let s = &self.setup_messages;
        let mut require = |ok: bool, problem: String| {
            if !ok {
                problems.push(problem);
            }
        };
        require(m.lost + s.lost == 0, format!("{} messages lost", m.lost + s.lost));
        require(
            m.answered_twice + s.answered_twice == 0,
            format!("{} messages answered twice", m.answered_twice + s.answered_twice),
        );
        require(
            m.error_and_answer + s.error_and_answer == 0,
            format!(
                "{} messages got both an error and an answer",
                m.error_and_answer + s.error_and_answer
            ),
        );
        require(
            m.undelivered + s.undelivered == 0,
            format!("{} messages never reached the bot", m.undelivered + s.undelivered),
        );
        require(
            m.truncated + s.truncated == 0,
            format!(
                "{} answers stop before the model's last token with no error shown",
                m.truncated + s.truncated
            ),
        );
        require(self.bot_panics == 0, format!("{} panics in the bot's log", self.bot_panics));
        if !scenario.allows_errors() {
            require(
                m.errors + s.errors == 0,
                format!("{} messages got an error", m.errors + s.errors),
            );
        } else {
            require(s.errors == 0, format!("{} setup messages got an error", s.errors));
        }
        if let Some(fault) = &self.fault
            && fault.sent_after == 0
        {
            self.notes.push(format!(
                "no message was sent from {} s after the fault ended, so recovery was not checked: use a longer --seconds",
                RECOVERY_GRACE.as_secs()
            ));
        }
        if let Some(fault) = &self.fault {
            require(
                fault.answered_after == fault.sent_after,
                format!(
                    "{} of {} messages sent {} s after the fault ended were not answered",
                    fault.sent_after - fault.answered_after,
                    fault.sent_after,
                    RECOVERY_GRACE.as_secs()
                ),
            );
        }
        self.correct = problems.is_empty();
        self.problems = problems;
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("loadgen {}: skipped: {why}", self.scenario);
        }
        let s = &self.settings;
        let m = &self.messages;
        let per_guild = self
            .memory
            .rss_per_guild_kib
            .map_or_else(|| "n/a".to_owned(), |kib| format!("{kib:.1}KiB"));
        #[expect(clippy::cast_precision_loss, reason = "a KiB count shown in MiB")]
        let peak_mib = self.memory.peak_rss_kib as f64 / 1024.0;
        let verdict = if self.correct {
            "OK".to_owned()
        } else {
            format!("FAILED ({})", self.problems.join("; "))
        };
        format!(
            "loadgen {}: {}/s x {}s, {} channels in {} guilds, {} database: sent {} answered {} errors {} lost {} twice {} | \
             overhead p50 {:.1}ms p99 {:.1}ms | e2e p50 {:.0}ms p99 {:.0}ms | 429s {} | \
             peak rss {:.1}MiB, {} per guild | {}",
            self.scenario,
            s.rate,
            s.seconds,
            s.channels,
            s.guilds,
            s.database,
            m.sent,
            m.answered,
            m.errors,
            m.lost,
            m.answered_twice + m.error_and_answer,
            self.engine_overhead_ms.p50,
            self.engine_overhead_ms.p99,
            self.end_to_end_ms.p50,
            self.end_to_end_ms.p99,
            self.discord_429s,
            peak_mib,
            per_guild,
            verdict
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_discord::Pings;

    fn reply(to: u64, content: &str, at: Instant) -> SentMessage {
        SentMessage {
            id: 1,
            channel: 2,
            guild: Some(3),
            content: content.to_owned(),
            webhook_id: None,
            username: "Tomori".to_owned(),
            avatar_url: None,
            reply_to: Some(to),
            allowed_mentions: None,
            pings: Pings::default(),
            stickers: Vec::new(),
            embeds: Vec::new(),
            files: Vec::new(),
            at,
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let check = |samples: &[u64], expected: (usize, f64, f64, f64)| {
            let p = Percentiles::of(samples.iter().map(|ms| Duration::from_millis(*ms)).collect());
            assert_eq!((p.samples, p.p50, p.p99, p.max), expected, "{samples:?}");
        };
        check(&[], (0, 0.0, 0.0, 0.0));
        check(&[7], (1, 7.0, 7.0, 7.0));
        check(&[4, 1, 3, 2], (4, 2.0, 4.0, 4.0));
        check(&(1..=100).collect::<Vec<_>>(), (100, 50.0, 99.0, 100.0));
        check(&(1..=1000).collect::<Vec<_>>(), (1000, 500.0, 990.0, 1000.0));
    }

    #[test]
    fn every_message_gets_one_outcome() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let injected: Vec<Injected> = (1..=6)
            .map(|id| Injected { id: Some(id), channel: 7, phase: Phase::Load, at: ms(id * 10) })
            .collect();
        let deliveries = injected
            .iter()
            .filter(|m| m.id != Some(6))
            .map(|m| GatewayDelivery {
                connection: 1,
                seq: m.id.unwrap_or_default(),
                event: "MESSAGE_CREATE".to_owned(),
                id: m.id,
                at: m.at + Duration::from_millis(1),
            })
            .collect();
        let bot_messages = vec![
            reply(1, "ack r0 w2 w3", ms(500)),
            reply(2, "Sorry, I couldn't reach the model right now (incident 0a1b2c3d).", ms(600)),
            reply(3, "ack r1 w2 w3", ms(700)),
            reply(3, "ack r2 w2 w3", ms(800)),
            reply(5, "Sorry, my answer broke off (incident ffff0000).", ms(900)),
            reply(5, "ack r3 w2 w3", ms(950)),
            reply(99, "ack r4", ms(990)),
        ];
        let arrivals = (0..5)
            .map(|n| Arrival { at: ms(100 + n * 10), mode: super::super::model::Mode::Normal })
            .collect();
        let observed = Observed {
            injected,
            deliveries,
            bot_messages,
            arrivals,
            load_start: t,
            fault: None,
            answer_end: " w3".to_owned(),
        };
        let analysis = analyse(&observed, Phase::Load);
        assert_eq!(
            analysis.counts,
            Counts {
                sent: 6,
                delivered: 5,
                answered: 1,
                errors: 1,
                lost: 1,
                answered_twice: 1,
                error_and_answer: 1,
                undelivered: 1,
                redelivered: 0,
                truncated: 0,
            }
        );
        assert_eq!(analysis.lost_at_ms, vec![40.0]);
        let outcomes: Vec<&str> = analysis.timeline.iter().map(|e| e.outcome).collect();
        assert_eq!(
            outcomes,
            ["answered", "error", "answered twice", "lost", "error and answer", "undelivered"]
        );
        assert_eq!(analysis.unattributed, 1);
        assert_eq!(
            analysis.error_replies.keys().cloned().collect::<Vec<_>>(),
            vec![
                "Sorry, I couldn't reach the model right now (incident …).".to_owned(),
                "Sorry, my answer broke off (incident …).".to_owned(),
            ]
        );
        // Delivered at 11, 21, 31 and 51 ms; first replies at 500, 600, 700 and 900 ms; requests
        // r0, r1 and r3 (the first answers) arrived at 100, 110 and 130 ms.
        assert_eq!(
            analysis.engine_overhead,
            Percentiles { samples: 3, p50: 79.0, p99: 89.0, max: 89.0 }
        );
        assert_eq!(
            analysis.end_to_end,
            Percentiles { samples: 4, p50: 579.0, p99: 849.0, max: 849.0 }
        );
    }
}
