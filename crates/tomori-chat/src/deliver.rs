//! Delivering one persona's answer: model output as it streams in, through the persona's output
//! rules ([`AnswerFilter`]: reasoning blocks split across chunks, labels, macros, tool calls
//! written as text), cut into messages where the server's humanizer degree allows
//! ([`flush::take_message`]: sentence- and code-aware, within Discord's limit), paced with the
//! typing indicator at degrees 2 and 3, mentions made safe, within the turn's send limit.
//!
//! One [`Delivery`] serves a whole answer; each model call of it (the tool loop's, a retry's)
//! is one generation with a fresh filter ([`Delivery::begin`] … [`Delivery::end`]).

use tokio_util::sync::CancellationToken;
use tomori_core::chunk::PLATFORM_MESSAGE_CHARS;
use tomori_core::emoji::{ServerEmoji, render_emoji};
use tomori_core::flush::{self, Degree};
use tomori_core::id::Snowflake;
use tomori_core::output::tool_text::{KnownTool, TextToolCall};
use tomori_core::output::{
    AnswerFilter, FilterSetup, Participant, Thinking, Verdict, resolve_mentions,
};
use tomori_llm::ToolSpec;
use tomori_tools::OutFile;

use crate::surface::{ChatSurface, Outgoing, Speaker};

/// The most bytes of files one message carries: Discord's upload limit for a server without
/// boosts, the strictest a platform sets (counted over the whole message, not per file).
pub(crate) const MAX_UPLOAD_BYTES_PER_MESSAGE: usize = 10 * 1024 * 1024;

/// The most files one message carries (Discord's limit).
const MAX_FILES_PER_MESSAGE: usize = 10;

/// Packs `files`, in order, into messages of at most `limit` bytes and
/// [`MAX_FILES_PER_MESSAGE`] files; a file larger than `limit` alone is dropped (its maker
/// caps it below the limit, so this is a bug guard, logged).
fn pack(files: Vec<OutFile>, limit: usize) -> Vec<Vec<OutFile>> {
    let mut messages: Vec<Vec<OutFile>> = Vec::new();
    let mut size = 0;
    for file in files {
        let bytes = file.bytes.len();
        if bytes > limit {
            tracing::warn!(file = %file.filename, bytes, "a file too large to post is left out");
            continue;
        }
        match messages.last_mut() {
            Some(last) if size + bytes <= limit && last.len() < MAX_FILES_PER_MESSAGE => {
                last.push(file);
                size += bytes;
            }
            _ => {
                messages.push(vec![file]);
                size = bytes;
            }
        }
    }
    messages
}

/// Who speaks, to whom, and within which limits.
#[derive(Debug, Clone)]
pub(crate) struct Audience {
    pub(crate) channel: Snowflake,
    /// The message the first message of the answer replies to (deliberate turns).
    pub(crate) reply_to: Option<Snowflake>,
    pub(crate) speaker: Speaker,
    /// The speaking persona's name (its labels are stripped, `{{char}}` becomes it).
    pub(crate) persona: String,
    /// The server's other personas (their labels end the answer).
    pub(crate) other_personas: Vec<String>,
    /// The member answered (`{{user}}`).
    pub(crate) member: String,
    /// People `@name` may resolve to: only someone the conversation already contains.
    pub(crate) participants: Vec<Participant>,
    pub(crate) degree: Degree,
    /// The server's custom emoji `:name:` becomes (empty where the persona may not use them).
    pub(crate) emoji: Vec<ServerEmoji>,
    /// The most messages this answer may send.
    pub(crate) limit: usize,
}

/// What one generation amounted to.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) verdict: Verdict,
    /// Calls the model wrote as text, taken out of what was posted.
    pub(crate) tool_calls: Vec<TextToolCall>,
    /// A closing reasoning tag came with no opening one: the model's template opens the block.
    pub(crate) lone_close: bool,
}

/// Sends one persona's answer as it is generated.
pub(crate) struct Delivery<'a, S> {
    surface: &'a S,
    audience: Audience,
    tools: Vec<KnownTool>,
    thinking: Thinking,
    cancel: CancellationToken,
    filter: Option<AnswerFilter>,
    /// Visible text released by the filter and not sent yet.
    unsent: String,
    sent: usize,
    stopped: bool,
    thoughts: String,
}

impl<'a, S: ChatSurface> Delivery<'a, S> {
    /// A delivery to `audience`; pacing pauses end when `cancel` fires.
    pub(crate) fn new(surface: &'a S, audience: Audience, cancel: CancellationToken) -> Self {
        Self {
            surface,
            audience,
            tools: Vec::new(),
            thinking: Thinking::Unknown,
            cancel,
            filter: None,
            unsent: String::new(),
            sent: 0,
            stopped: false,
            thoughts: String::new(),
        }
    }

    /// The tools offered this turn, so that calls the model writes as text are recognised.
    pub(crate) fn offer_tools(&mut self, tools: &[ToolSpec]) {
        self.tools = tools.iter().map(known_tool).collect();
    }

    /// What is known about the model's reasoning blocks (see [`Thinking`]).
    pub(crate) fn set_thinking(&mut self, thinking: Thinking) {
        self.thinking = thinking;
    }

    /// Starts a generation with a fresh filter.
    pub(crate) fn begin(&mut self) {
        let others: Vec<&str> = self.audience.other_personas.iter().map(String::as_str).collect();
        let setup = FilterSetup {
            persona: &self.audience.persona,
            other_personas: &others,
            member: &self.audience.member,
            thinking: self.thinking,
            tools: &self.tools,
        };
        self.filter = Some(AnswerFilter::new(&setup));
    }

    /// Adds reasoning the provider streamed separately.
    pub(crate) fn push_reasoning(&mut self, delta: &str) {
        if let Some(filter) = &mut self.filter {
            filter.push_reasoning(delta);
        }
    }

    /// Adds generated text and sends what is ready. False once generating should stop: the send
    /// limit was reached, or another speaker's label took over the answer.
    pub(crate) async fn push_text(&mut self, delta: &str) -> bool {
        let Some(filter) = &mut self.filter else { return !self.stopped };
        self.unsent.push_str(filter.push_text(delta));
        let ended = filter.ended();
        self.flush(false).await;
        !self.stopped && !ended
    }

    /// Ends the generation: releases and sends what the filter held, keeps its reasoning for
    /// the thought log, and says what it amounted to (`None` when none was begun).
    pub(crate) async fn end(&mut self) -> Option<Generation> {
        let finished = self.filter.take()?.finish();
        self.unsent.push_str(&finished.rest);
        self.flush(true).await;
        if !finished.reasoning.trim().is_empty() {
            if !self.thoughts.is_empty() {
                self.thoughts.push_str("\n\n");
            }
            self.thoughts.push_str(finished.reasoning.trim());
        }
        Some(Generation {
            verdict: finished.verdict,
            tool_calls: finished.tool_calls,
            lone_close: finished.lone_close,
        })
    }

    /// Posts the files the turn's tools made, as one more message of the same speaker after the
    /// text (a picture that was paid for is posted even when the text reached the send limit).
    /// True when it was delivered.
    pub(crate) async fn send_files(&mut self, files: Vec<OutFile>) -> bool {
        let mut posted = false;
        // A video and pictures together can exceed what one message may carry: as many
        // messages as it takes, each within the limit.
        for files in pack(files, MAX_UPLOAD_BYTES_PER_MESSAGE) {
            let outgoing = Outgoing {
                content: String::new(),
                speaker: self.audience.speaker.clone(),
                reply_to: if self.sent == 0 { self.audience.reply_to } else { None },
                ping_users: Vec::new(),
                files,
            };
            match self.surface.send(self.audience.channel, outgoing).await {
                Ok(_) => {
                    self.sent += 1;
                    posted = true;
                }
                Err(err) => tracing::warn!(error = %err, "posting a generated file failed"),
            }
        }
        posted
    }

    /// Messages sent so far.
    pub(crate) fn sent(&self) -> usize {
        self.sent
    }

    /// Everything the model thought, over all generations.
    pub(crate) fn thoughts(&self) -> &str {
        &self.thoughts
    }

    async fn flush(&mut self, end: bool) {
        while !self.stopped {
            let Some(message) = flush::take_message(&mut self.unsent, self.audience.degree, end)
            else {
                break;
            };
            self.send(message).await;
        }
        if self.stopped {
            self.unsent.clear();
        }
    }

    async fn send(&mut self, text: String) {
        let channel = self.audience.channel;
        if self.sent >= self.audience.limit {
            self.stopped = true;
            let note = Outgoing {
                content: "(I'll stop here: that's as many messages as I may send at once.)"
                    .to_owned(),
                speaker: self.audience.speaker.clone(),
                reply_to: None,
                ping_users: Vec::new(),
                files: Vec::new(),
            };
            let _ = self.surface.send(channel, note).await;
            return;
        }
        if self.sent > 0 {
            self.pace(&text).await;
        }
        let people = &self.audience.participants;
        let mut content = resolve_mentions(&text, people);
        // The server's emoji are longer than their shortcodes; a message they would push past
        // the platform's limit keeps the shortcodes.
        let rendered = render_emoji(&content, &self.audience.emoji, true);
        if rendered.chars().count() <= PLATFORM_MESSAGE_CHARS {
            content = rendered;
        }
        let ping_users = people
            .iter()
            .filter(|p| content.contains(&format!("<@{}>", p.user_id)))
            .filter_map(|p| Snowflake::new(p.user_id).ok())
            .collect();
        let outgoing = Outgoing {
            content,
            speaker: self.audience.speaker.clone(),
            reply_to: if self.sent == 0 { self.audience.reply_to } else { None },
            ping_users,
            files: Vec::new(),
        };
        match self.surface.send(channel, outgoing).await {
            Ok(_) => self.sent += 1,
            Err(err) => {
                tracing::warn!(error = %err, "sending a reply failed");
                self.stopped = true;
            }
        }
    }

    /// Degrees 2 and 3: the typing indicator before each later message, for about as long as
    /// typing it would take, so that the messages arrive at a person's pace.
    async fn pace(&self, text: &str) {
        let pause = self.audience.degree.typing_pause(text.chars().count());
        if pause.is_zero() {
            return;
        }
        let _ = self.surface.typing(self.audience.channel).await;
        tokio::select! {
            () = self.cancel.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A tool as text calls may name it: its name and its parameters in the schema's order.
fn known_tool(spec: &ToolSpec) -> KnownTool {
    let parameters = spec
        .parameters
        .get("properties")
        .and_then(|schema| schema.as_object())
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    KnownTool { name: spec.name.clone(), parameters }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: usize) -> OutFile {
        OutFile {
            filename: name.to_owned(),
            content_type: "application/octet-stream".to_owned(),
            bytes: vec![0; bytes],
            description: None,
        }
    }

    #[test]
    fn files_are_packed_into_messages_within_the_upload_limit() {
        let names = |messages: Vec<Vec<OutFile>>| -> Vec<Vec<String>> {
            messages.into_iter().map(|m| m.into_iter().map(|f| f.filename).collect()).collect()
        };
        /// Files (name, bytes) in, names per message out.
        type Case<'a> = (&'a [(&'a str, usize)], &'a [&'a [&'a str]]);
        let cases: &[Case<'_>] = &[
            (&[], &[]),
            (&[("a", 4), ("b", 4)], &[&["a", "b"]]),
            // A video near the limit goes alone; the pictures follow together.
            (&[("video", 9), ("p1", 2), ("p2", 2)], &[&["video"], &["p1", "p2"]]),
            (&[("p1", 3), ("p2", 3), ("p3", 3), ("p4", 3)], &[&["p1", "p2", "p3"], &["p4"]]),
            (&[("exact", 10)], &[&["exact"]]),
            // Too large for any message: left out, the rest still posted.
            (&[("huge", 11), ("p", 1)], &[&["p"]]),
        ];
        for (files, expected) in cases {
            let files = files.iter().map(|(n, b)| file(n, *b)).collect();
            let expected: Vec<Vec<String>> =
                expected.iter().map(|m| m.iter().map(|s| (*s).to_owned()).collect()).collect();
            assert_eq!(names(pack(files, 10)), expected);
        }
        let many = (0..12).map(|n| file(&n.to_string(), 0)).collect();
        assert_eq!(pack(many, 10).iter().map(Vec::len).collect::<Vec<_>>(), [10, 2]);
    }
}
