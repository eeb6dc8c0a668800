//! `tomori chat`: the conversation engine in the terminal, for trying personas and providers
//! without Discord.
//!
//! The conversation lives in a pseudo-server of its own (the DM space of a reserved terminal
//! user), so it never mixes with a guild's data. Each input line is one message; each reply is
//! printed as it is delivered (the visible text only). When stdin is not a terminal, it reads until
//! the end of input and exits, so scripts can pipe messages through it.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::surface::{ChatSurface, Inbound, InboundAuthor, Outgoing, SurfaceError};
use tomori_core::id::Snowflake;
use tomori_llm::Llm;
use tomori_store::audit::Actor;
use tomori_store::personas::{self, NewPersona};
use tomori_store::{Scope, Store};

use crate::commands::say;

/// The terminal's reserved user and channel ids (never real Discord ids, which are far larger).
const TERMINAL_USER: u64 = 1;
const TERMINAL_CHANNEL: u64 = 2;

const DEFAULT_PERSONA_PROMPT: &str = "Tomori is a friendly, curious companion who answers briefly and warmly, \
     remembers what people tell her, and admits when she does not know something.";

/// Prints replies as they arrive; while the engine says it is typing (waiting on the model), a
/// spinner on a terminal's stderr shows it.
struct TerminalSurface {
    next_id: std::sync::atomic::AtomicU64,
    waiting: Waiting,
}

/// The spinner, shared with the input loop, which clears it when a turn ends without a reply.
#[derive(Clone, Default)]
struct Waiting(Arc<std::sync::Mutex<Option<indicatif::ProgressBar>>>);

impl Waiting {
    fn start(&self) {
        let mut waiting = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if waiting.is_none() {
            *waiting = crate::progress::spinner("waiting on the model…");
        }
    }

    fn stop(&self) {
        let spinner = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
    }
}

impl ChatSurface for TerminalSurface {
    async fn send(
        &self,
        _channel: Snowflake,
        message: Outgoing,
    ) -> Result<Snowflake, SurfaceError> {
        self.waiting.stop();
        say(&message.content);
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Snowflake::new(id).map_err(|_| SurfaceError::NotFound)
    }

    async fn typing(&self, _channel: Snowflake) -> Result<(), SurfaceError> {
        self.waiting.start();
        Ok(())
    }
}

/// Runs the terminal chat until the end of input.
///
/// # Errors
/// An unknown persona or provider, or a store failure.
pub(crate) async fn chat(
    store: Store,
    chain: Vec<tomori_llm::Target>,
    tools: tomori_tools::Gate,
    persona: Option<&str>,
    provider: Option<&str>,
) -> anyhow::Result<()> {
    let chain = match provider {
        Some(name) => {
            let picked: Vec<_> = chain.into_iter().filter(|t| t.provider == name).collect();
            if picked.is_empty() {
                bail!("no provider named {name} in [providers]");
            }
            picked
        }
        None => chain,
    };
    if chain.is_empty() {
        bail!("no provider configured: add a [providers.<name>] section (see config/example.toml)");
    }
    let user = Snowflake::new(TERMINAL_USER).context("terminal user id")?;
    let server = store.resolve_dm(user).await.context("opening the terminal's space")?;
    let scope = Scope::server(server);
    let existing = personas::list(&store, scope).await.context("reading personas")?;
    let name = match persona {
        Some(name) => match existing.iter().find(|p| p.nickname.eq_ignore_ascii_case(name)) {
            Some(found) => found.nickname.clone(),
            None => {
                personas::create(
                    &store,
                    scope,
                    Actor::Operator,
                    NewPersona {
                        nickname: name.to_owned(),
                        prompt: DEFAULT_PERSONA_PROMPT.replace("Tomori", name),
                        ..NewPersona::default()
                    },
                )
                .await
                .with_context(|| format!("creating the persona {name}"))?
                .nickname
            }
        },
        None => match existing.iter().find(|p| p.is_main) {
            Some(main) => main.nickname.clone(),
            None => {
                personas::create(
                    &store,
                    scope,
                    Actor::Operator,
                    NewPersona {
                        nickname: "Tomori".to_owned(),
                        prompt: DEFAULT_PERSONA_PROMPT.to_owned(),
                        ..NewPersona::default()
                    },
                )
                .await
                .context("creating the default persona")?
                .nickname
            }
        },
    };
    let surface = TerminalSurface {
        next_id: std::sync::atomic::AtomicU64::new(1_000_000),
        waiting: Waiting::default(),
    };
    let waiting = surface.waiting.clone();
    let engine =
        Arc::new(Engine::new(store, surface, Llm::default(), chain, EngineOptions::default()));
    engine.set_tools(Arc::new(tools));
    let channel = Snowflake::new(TERMINAL_CHANNEL).context("terminal channel id")?;
    let interactive = std::io::stdin().is_terminal();
    let mut next_message: u64 = 10;
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            let mut out = std::io::stdout();
            let _ = write!(out, "you> ");
            let _ = out.flush();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        next_message += 1;
        let message = Inbound {
            guild: None,
            guild_name: None,
            channel,
            parent_channel: None,
            category: None,
            message: Snowflake::new(next_message).context("message id")?,
            author: InboundAuthor {
                id: user,
                name: "you".to_owned(),
                is_bot: false,
                webhook: None,
            },
            content: line,
            mentions_bot: false,
            mentions: Vec::new(),
            reply_to: None,
            author_roles: Vec::new(),
            author_is_admin: true,
            attachments: Vec::new(),
        };
        engine.respond_as(message, &name).await;
        while !engine.is_idle(channel) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        waiting.stop();
    }
    Ok(())
}
