//! The Discord adapter against the fake Discord of tomori-testkit, with twilight's real REST
//! client and gateway shards on loopback. One integration binary for the crate.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

mod admins;
mod cards;
mod commands;
mod commands_settings;
mod documents;
mod first_contact;
mod gateway;
mod generate;
mod history;
mod images;
mod logit_bias;
mod mcp;
mod overrides;
mod personal;
mod platform;
mod presets;
mod providers;
mod short_term;
mod surface;
mod tool;
mod tool_triggers;
mod videos;

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tomori_chat::surface::Inbound;
use tomori_core::id::Snowflake;
use tomori_discord::{Discord, DiscordConfig, GatewayError, InboundHandler};
use tomori_testkit::fake_discord::FakeDiscord;
use url::Url;

/// How long a test waits for something it expects.
const WAIT: Duration = Duration::from_secs(10);

const GUILD: u64 = 800_000_000_000_000_001;
const CHANNEL: u64 = 800_000_000_000_000_002;
const THREAD: u64 = 800_000_000_000_000_003;
const DM_CHANNEL: u64 = 800_000_000_000_000_004;
const ALICE: u64 = 700_000_000_000_000_001;

fn snowflake(raw: u64) -> Snowflake {
    Snowflake::new(raw).unwrap()
}

/// The adapter's configuration for a fake: its token, its REST base, discovery for the rest.
fn config(fake: &FakeDiscord) -> DiscordConfig {
    tomori_testkit::init();
    let mut config = DiscordConfig::new(SecretString::from(fake.token().to_owned()));
    config.api_base = Url::parse(&fake.api_base()).unwrap();
    config
}

/// A handler that hands every message to the test.
struct Recorder(mpsc::UnboundedSender<Inbound>);

impl InboundHandler for Recorder {
    async fn on_message(&self, message: Inbound) {
        let _ = self.0.send(message);
    }
}

/// A bot running in the background: its shutdown trigger, its task and what its handler got.
struct Bot {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), GatewayError>>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
}

fn run<H: InboundHandler>(
    discord: Discord,
    handler: H,
) -> (oneshot::Sender<()>, JoinHandle<Result<(), GatewayError>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(discord.run(Arc::new(handler), async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

impl Bot {
    fn start(discord: Discord) -> Self {
        let (tx, inbound) = mpsc::unbounded_channel();
        let (stop, task) = run(discord, Recorder(tx));
        Self { stop, task, inbound }
    }

    async fn next(&mut self) -> Inbound {
        tokio::time::timeout(WAIT, self.inbound.recv())
            .await
            .expect("a message reaches the handler in time")
            .expect("the handler is alive")
    }

    async fn shutdown(self) -> Result<(), GatewayError> {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task).await.expect("run returns after shutdown").unwrap()
    }
}
