//! What each subcommand does. Output meant for the operator goes to stdout through [`say`];
//! failures are one line on stderr through [`fail`].

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret;
use tomori_chat::engine::{Engine, EngineOptions};
use tomori_chat::surface::Marker;
use tomori_core::id::Snowflake;
use tomori_store::secrets::KeyRing;
use tomori_store::{Store, audit, keys};

use crate::config::{self, Config, Environment, LogFormat, NetMode};
use crate::database::{self, Access, Database};
use crate::progress::Progress;
use crate::{
    AuditCommand, Cli, Command, KeysCommand, PersonaCommand, keyring, persona, providers, token,
};

/// Exit code when `tomori run` has no Discord token.
const EXIT_NO_TOKEN: u8 = 2;

#[expect(clippy::print_stdout, reason = "command output for the operator")]
pub(crate) fn say(line: impl std::fmt::Display) {
    println!("{line}");
}

#[expect(clippy::print_stderr, reason = "the one line an operator sees when a command fails")]
pub(crate) fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}", one_line(err));
    ExitCode::FAILURE
}

/// The context chain on one line: what we were doing, then why. A store error says all there is
/// to say about its database cause, so the chain ends there (its sources would repeat it in
/// sqlx's words); a cause that only repeats the one before it is left out.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.ends_with(&text)) {
            parts.push(text);
        }
        if cause.downcast_ref::<tomori_store::StoreError>().is_some() {
            break;
        }
    }
    parts.join(": ")
}

/// `tomori url-check` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct UrlCheckArgs {
    /// The URL to judge.
    url: String,
    /// Who supplies the URL.
    #[arg(long, default_value = "server", value_parser = ["server", "personal", "tool", "media", "operator"])]
    scope: String,
    /// Judge with the production policy (the default).
    #[arg(long, conflicts_with = "development")]
    production: bool,
    /// Judge with the development policy.
    #[arg(long)]
    development: bool,
    /// Allow private networks, as `net.allow_private_networks` does.
    #[arg(long)]
    allow_private: bool,
    /// Answer a name without DNS, like curl's --resolve (HOST:IP; repeatable).
    #[arg(long, value_name = "HOST:IP", value_parser = parse_resolve)]
    resolve: Vec<(String, IpAddr)>,
}

fn parse_resolve(value: &str) -> Result<(String, IpAddr), String> {
    tomori_net::parse_resolve_override(value)
}

pub(crate) async fn dispatch(cli: Cli) -> ExitCode {
    let env = Environment::from_process();
    match cli.command {
        Command::UrlCheck(args) => return url_check(args).await,
        Command::ExampleConfig => {
            say(config::example::render().trim_end());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let loaded = match config::load(cli.config.as_deref(), &env) {
        Ok(loaded) => loaded,
        Err(err) => return fail(&anyhow::Error::new(err).context("reading the configuration")),
    };
    init_logging(&loaded.config);
    let result = match cli.command {
        Command::Run => return run(&loaded.config, &env).await,
        Command::Migrate => migrate(&loaded.config).await,
        Command::Keys { command: KeysCommand::Audit } => keys_audit(&loaded.config, &env).await,
        Command::Keys { command: KeysCommand::Rotate { dry_run } } => {
            keys_rotate(&loaded.config, &env, dry_run).await
        }
        Command::Audit { command: AuditCommand::Verify } => audit_verify(&loaded.config).await,
        Command::Healthcheck => crate::healthcheck::run(&loaded.config),
        Command::Backup(args) => crate::backup::backup(&loaded.config, &args).await,
        Command::Restore(args) => crate::backup::restore(&loaded.config, &env, &args).await,
        Command::Doctor => return crate::doctor::doctor(&loaded, &env).await,
        Command::Persona { command: PersonaCommand::Convert(args) } => {
            persona::convert(&loaded.config.limits, &args)
        }
        Command::Chat { persona, provider } => {
            chat(&loaded.config, &env, persona.as_deref(), provider.as_deref()).await
        }
        Command::UrlCheck(_) | Command::ExampleConfig | Command::ExtractPdf { .. } => {
            unreachable!("handled before loading the configuration")
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => fail(&err),
    }
}

fn init_logging(config: &Config) {
    // sqlx logs every server NOTICE at info; only its warnings are worth an operator's attention.
    // Security: webhook tokens travel in request paths; twilight's HTTP spans stay below info
    // whatever the operator's level says, so they never reach the log.
    let fixed = format!("sqlx=warn,{}", tomori_discord::LOG_DIRECTIVES);
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},{fixed}", config.log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("info,{fixed}")));
    // Colour codes only for a person at a terminal, never into a file or a journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn url_check(args: UrlCheckArgs) -> ExitCode {
    let scope = args.scope.parse().unwrap_or(tomori_net::Scope::Server);
    let mode =
        if args.development { tomori_net::Mode::Development } else { tomori_net::Mode::Production };
    let options = tomori_net::UrlCheckOptions {
        scope,
        config: tomori_net::NetConfig { mode, allow_private_networks: args.allow_private },
        resolve: args.resolve,
        lookup: None,
    };
    let report = tomori_net::url_check(&args.url, &options).await;
    say(&report);
    ExitCode::from(report.exit_code())
}

/// Opens the database and applies pending migrations.
async fn open_migrated(config: &Config) -> anyhow::Result<Database> {
    let db = database::open(config, Access::Create).await?;
    match tomori_store::db::migrate(&db.owner).await {
        Ok(report) if report.from != report.to => {
            tracing::info!(from = report.from, to = report.to, "database migrated");
            Ok(db)
        }
        Ok(_) => Ok(db),
        Err(err) => {
            db.close().await;
            Err(anyhow::Error::new(err).context("migrating the database"))
        }
    }
}

/// Opens a database that must already exist with this build's schema (`keys`, `audit`): these
/// commands neither create nor migrate one.
async fn open_existing(config: &Config) -> anyhow::Result<Database> {
    let db = database::open(config, Access::Existing).await?;
    let checked = async {
        let known = tomori_store::db::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        match tomori_store::db::applied_version(&db.owner).await? {
            None => bail!("the database holds no Tomori schema: `tomori migrate` creates it"),
            Some(found) if found > known => {
                Err(tomori_store::StoreError::SchemaTooNew { found, known }.into())
            }
            Some(found) if found < known => bail!(
                "the database schema is at version {found}, this build needs {known}: run `tomori migrate` first"
            ),
            Some(_) => Ok(()),
        }
    }
    .await;
    match checked {
        Ok(()) => Ok(db),
        Err(err) => {
            db.close().await;
            Err(err)
        }
    }
}

/// The key ring for a database `run` or `chat` opened: the configured one, or on a first start a
/// new key file.
///
/// Security: operator trap (a lost key). A database that already holds sealed values or key check
/// values never gets a freshly generated key: it could open nothing, and its file would later pass
/// for the right one.
async fn ring_for(
    db: &Database,
    env: &Environment,
    config: &Config,
) -> anyhow::Result<(KeyRing, keyring::Source)> {
    if keyring::any_configured(env, config) {
        return keyring::load(env, config, false);
    }
    if keys::was_sealed(&db.owner).await.context("checking the key ring")? {
        bail!(
            "this database was sealed with a key you did not provide: set TOMORI_SECRET_V1 (and any later versions) or restore the key files (looked in the environment and in {})",
            keyring::keys_dir(config).display()
        );
    }
    keyring::load(env, config, true)
}

async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let db = database::open(config, Access::Create).await?;
    let progress = Progress::new("migrating", "migrations");
    let mut applied = Vec::new();
    let result = tomori_store::db::migrate_with_progress(&db.owner, |done, total, migration| {
        progress.update(done, total);
        applied.push(format!("applied {:04} {}", migration.version, migration.description));
    })
    .await;
    progress.finish();
    db.close().await;
    let report = result.context("migrating the database")?;
    if report.from == report.to {
        say(format_args!("database schema is up to date (version {})", report.to));
    } else {
        for line in &applied {
            say(line);
        }
        say(format_args!("database migrated from version {} to {}", report.from, report.to));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(config: &Config, env: &Environment) -> ExitCode {
    let Some(discord_token) = &config.discord.token else {
        say("No Discord bot token is configured.\n\
             Create an application at https://discord.com/developers/applications, open its Bot page,\n\
             press \"Reset Token\", then start Tomori with the token in the environment:\n\
             \n    TOMORI_DISCORD__TOKEN=<token> tomori run\n\
             \n(or set `token` under [discord] in tomori.toml).");
        return ExitCode::from(EXIT_NO_TOKEN);
    };
    // Discord-compatible servers issue tokens of other shapes: a token that does not look like
    // Discord's is worth a warning (a pasted client secret is the usual mistake), not a refusal;
    // Discord itself answers a wrong one with 401 at connect.
    if let Err(err) = token::check(discord_token.expose_secret()) {
        tracing::warn!("{}", token::warning(err));
    }
    match serve(config, env, discord_token).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn serve(
    config: &Config,
    env: &Environment,
    token: &secrecy::SecretString,
) -> anyhow::Result<()> {
    if config.net.mode == NetMode::Development {
        tracing::warn!(
            "net.mode = development: admin endpoints may use http and loopback addresses"
        );
    }
    if config.net.allow_private_networks {
        tracing::warn!(
            "net.allow_private_networks = true: admin endpoints and tool fetches may reach private networks"
        );
    }
    // First, so that everything from here on is counted.
    let exporter = tomori_web::metrics::install().context("starting metrics")?;
    let db = open_migrated(config).await?;
    let started = async {
        let (ring, source) = ring_for(&db, env, config).await?;
        tracing::info!(versions = ?ring.versions().collect::<Vec<_>>(), current = ring.current(), source = ?source, "key ring loaded");
        keys::check_ring(&db.owner, &ring).await.context("checking the key ring")?;
        let bound = keys::bind_endpoint_keys(&db.owner, &ring)
            .await
            .context("binding endpoint keys to their origins")?;
        if bound > 0 {
            tracing::info!(bound, "endpoint keys stored unbound were re-sealed for their endpoint's origin");
        }
        let pool = tomori_store::db::connect_app(
            &db.app_login(config, &ring),
            config.database.max_connections,
        )
        .await
        .context("connecting the application pool")?;
        anyhow::Ok((Store::new(pool.clone(), Arc::new(ring), config.limits.clone()), pool))
    }
    .await;
    let (store, pool) = match started {
        Ok(started) => started,
        Err(err) => {
            db.close().await;
            return Err(err);
        }
    };
    tracing::info!(embedded_database = db.is_embedded(), "database ready");
    let gateway = crate::web::GatewaySlot::default();
    let listener =
        crate::web::start(config, exporter, pool, db.owner.clone(), gateway.clone(), &store, token)
            .await;
    let dashboard = listener.as_ref().and_then(crate::web::Listener::dashboard);
    let result = run_discord(config, env, token, store.clone(), &gateway, dashboard).await;
    tracing::info!("shutting down");
    if let Some(listener) = listener {
        listener.stop().await;
    }
    store.close().await;
    db.close().await;
    result
}

/// Connects to Discord and answers until a shutdown signal.
async fn run_discord(
    config: &Config,
    env: &Environment,
    token: &secrecy::SecretString,
    store: Store,
    gateway: &crate::web::GatewaySlot,
    dashboard: Option<&tomori_web::dashboard::Dashboard>,
) -> anyhow::Result<()> {
    // Listening for SIGTERM starts now: a stop request during startup is honoured, not fatal.
    let shutdown = shutdown_signal();
    let chain = providers::instance_chain(config)?;
    if chain.is_empty() {
        tracing::warn!("no [providers] configured: Tomori cannot answer until one is added");
    }
    let discord_config = tomori_discord::DiscordConfig {
        token: token.clone(),
        api_base: config.discord.api_base.clone(),
        gateway_url: config.discord.gateway_url.clone(),
        shards: config
            .discord
            .shards
            .map(|s| tomori_discord::ShardRange::new(s.first, s.last, s.total))
            .transpose()
            .context("discord.shards")?,
    };
    let discord =
        tomori_discord::Discord::connect(&discord_config).await.context("connecting to Discord")?;
    gateway.fill(discord.shard_status());
    let surface = discord.surface(store.clone());
    let platform = tomori_chat::surface::ChatSurface::platform(&surface);
    let engine = Engine::new(
        store.clone(),
        surface,
        tomori_llm::Llm::default(),
        chain.clone(),
        EngineOptions::default(),
    );
    let mcp = crate::mcp::start(config, env.get("PATH"), &store).await?;
    // PDFs (read_file, /memory document add) are read by this binary as `tomori extract-pdf`
    // in a confined child process; one extractor, so at most two readers run at once.
    let pdf = tomori_tools::PdfExtractor::this_binary().context("finding this program's path")?;
    let server_providers = providers::server_providers(config)?;
    let images: Arc<dyn tomori_tools::ImageMaker> = Arc::new(tomori_chat::media::ImageStudio::new(
        store.clone(),
        server_providers.clone(),
        tomori_llm::Llm::default(),
        providers::media(config)?,
    ));
    let videos: Arc<dyn tomori_tools::VideoMaker> = Arc::new(tomori_chat::media::VideoStudio::new(
        store.clone(),
        server_providers.clone(),
        tomori_llm::Llm::default(),
        providers::media(config)?,
    ));
    let tools = providers::tool_gate(
        config,
        &store,
        platform.map(|p| (p, pdf.clone())),
        Some(images),
        Some(videos),
    )?;
    engine.set_tools(Arc::new(mcp.layer(tools)));
    engine.set_media(providers::media(config)?);
    engine.set_server_providers(server_providers.clone());
    let server_providers_for_playground = server_providers.clone();
    // One `Documents` for the engine's retrieval and `/memory document add`.
    let documents = tomori_chat::documents::Documents::new(server_providers);
    engine.set_documents(documents.clone());
    let bot_user = discord.bot_user().and_then(|id| Snowflake::new(id.get()).ok());
    if let Some(bot) = bot_user {
        engine.set_bot_user(bot);
    }
    if let Some(dashboard) = dashboard {
        let parts = PlaygroundParts {
            chain,
            providers: server_providers_for_playground,
            documents: documents.clone(),
            pdf: pdf.clone(),
            bot_user,
        };
        start_playground(config, &store, &mcp, dashboard, parts)?;
    }
    // Reminders go out through a surface of their own on the same REST client.
    let reminders = tomori_chat::reminders::Scheduler::new(
        store.clone(),
        discord.surface(store.clone()),
        tomori_tools::Clock::system(),
        tomori_chat::reminders::SchedulerOptions::default(),
    )
    .with_dm_members(engine.dm_members())
    .spawn();
    let commands = discord
        .commands(store, Arc::new(engine.clone()))
        .with_server_policy(providers::server_policy(config))
        .with_instance_providers(providers::instance_providers(config))
        .with_prices(config.price_table())
        .with_mcp(mcp.guild.clone())
        .with_documents(documents, pdf);
    // A failed registration leaves Discord with the commands it had; the bot still answers them.
    match commands.register(None).await {
        Ok(names) => tracing::info!(commands = ?names, "slash commands registered"),
        Err(error) => {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error).map(ToString::to_string), "registering slash commands failed")
        }
    }
    let discord = discord.with_commands(commands);
    tracing::info!(shards = ?discord.shards(), providers = config.providers.len(), "tomori is ready");
    let ran = discord.run(Arc::new(EngineHandler(engine)), shutdown).await;
    reminders.stop().await;
    mcp.operator.stop();
    ran.context("running the gateway")?;
    Ok(())
}

/// What the playground's engine shares with the Discord engine.
struct PlaygroundParts {
    chain: Vec<tomori_llm::Target>,
    providers: tomori_chat::providers::ServerProviders,
    documents: tomori_chat::documents::Documents,
    pdf: tomori_tools::PdfExtractor,
    bot_user: Option<Snowflake>,
}

/// Gives the dashboard's playground an engine of its own (its own queue, history and surface)
/// over the same store, providers, tools (without Discord's platform tools), media and
/// documents as the Discord engine; and the document and MCP services the slash commands use.
fn start_playground(
    config: &Config,
    store: &Store,
    mcp: &crate::mcp::McpSources,
    dashboard: &tomori_web::dashboard::Dashboard,
    parts: PlaygroundParts,
) -> anyhow::Result<()> {
    let surface = tomori_web::dashboard::playground::WebSurface::new();
    let playground = Engine::new(
        store.clone(),
        surface.clone(),
        tomori_llm::Llm::default(),
        parts.chain,
        EngineOptions::default(),
    );
    let tools = providers::tool_gate(config, store, None, None, None)?;
    playground.set_tools(Arc::new(mcp.layer(tools)));
    // Files members attach in the playground wait in memory for the playground's media layer.
    let uploads = Arc::new(tomori_chat::media::Uploads::default());
    playground.set_media(providers::media(config)?.with_uploads(Arc::clone(&uploads)));
    playground.set_server_providers(parts.providers);
    playground.set_documents(parts.documents.clone());
    if let Some(bot) = parts.bot_user {
        playground.set_bot_user(bot);
    }
    dashboard.set_playground(playground, surface, uploads);
    let documents = tomori_admin::memory::documents::DocumentServices {
        documents: parts.documents,
        pdf: parts.pdf,
    };
    dashboard.set_services(tomori_web::dashboard::Services {
        documents,
        mcp: mcp.guild.clone(),
        media: providers::media(config)?,
    });
    Ok(())
}

/// Hands every inbound Discord message to the engine.
struct EngineHandler(Engine<tomori_discord::DiscordSurface>);

impl tomori_discord::InboundHandler for EngineHandler {
    async fn on_message(&self, message: tomori_chat::surface::Inbound) {
        self.0.handle(message).await;
    }

    fn on_edit(&self, message: tomori_chat::surface::Inbound) {
        self.0.edited(&message);
    }

    fn on_delete(&self, channel: Snowflake, messages: Vec<Snowflake>) {
        self.0.deleted(channel, &messages);
    }

    fn on_marker(&self, channel: Snowflake, message: Snowflake, marker: Marker) {
        self.0.marker_seen(channel, message, marker);
    }

    fn on_reaction(&self, reaction: tomori_chat::surface::Reaction) {
        self.0.reacted(&reaction);
    }
}

async fn chat(
    config: &Config,
    env: &Environment,
    persona: Option<&str>,
    provider: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let db = open_migrated(config).await?;
    let result = async {
        let (ring, _) = ring_for(&db, env, config).await?;
        keys::check_ring(&db.owner, &ring).await.context("checking the key ring")?;
        let pool = tomori_store::db::connect_app(&db.app_login(config, &ring), 4)
            .await
            .context("connecting the application pool")?;
        let store = Store::new(pool, Arc::new(ring), config.limits.clone());
        let chain = providers::instance_chain(config)?;
        let mcp = crate::mcp::start(config, env.get("PATH"), &store).await?;
        let tools = mcp.layer(providers::tool_gate(config, &store, None, None, None)?);
        let outcome = crate::terminal::chat(store.clone(), chain, tools, persona, provider).await;
        store.close().await;
        outcome
    }
    .await;
    db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM. The SIGTERM handler is installed when this is called, not when
/// the future is first polled, so a signal that arrives while startup finishes is not lost.
fn shutdown_signal() -> impl Future<Output = ()> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
}

async fn keys_audit(config: &Config, env: &Environment) -> anyhow::Result<ExitCode> {
    let ring = keyring::load(env, config, false).ok().map(|(ring, _)| ring);
    let db = open_existing(config).await?;
    let usage = keys::audit_versions(&db.owner).await;
    db.close().await;
    let usage = usage.context("reading key versions")?;
    match &ring {
        Some(ring) => say(format_args!(
            "key ring: versions {:?}, current {}",
            ring.versions().collect::<Vec<_>>(),
            ring.current()
        )),
        None => say("key ring: not configured"),
    }
    if usage.is_empty() {
        say("no sealed values stored");
    }
    for row in &usage {
        let present =
            ring.as_ref().is_some_and(|r| u32::try_from(row.key_version).is_ok_and(|v| r.has(v)));
        let note = if present { "" } else { "  (MISSING from the key ring)" };
        say(format_args!(
            "{:<30} v{:<4} {:>8} row(s){note}",
            row.column, row.key_version, row.rows
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys_rotate(
    config: &Config,
    env: &Environment,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let (ring, _) = keyring::load(env, config, false)?;
    let db = open_existing(config).await?;
    let result = async {
        keys::check_ring(&db.owner, &ring).await.context("checking the key ring")?;
        let progress = Progress::new("re-sealing", "values");
        let report = keys::rotate_with_progress(&db.owner, &ring, dry_run, |done, total| {
            progress.update(done.resealed, total);
        })
        .await;
        progress.finish();
        report.context("rotating keys")
    }
    .await;
    db.close().await;
    let report = result?;
    if dry_run {
        say(format_args!(
            "dry run: {} value(s) would be re-sealed under key version {}",
            report.resealed,
            ring.current()
        ));
    } else {
        say(format_args!(
            "re-sealed {} value(s) under key version {} in {} batch(es)",
            report.resealed,
            ring.current(),
            report.batches
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_verify(config: &Config) -> anyhow::Result<ExitCode> {
    let db = open_existing(config).await?;
    let progress = Progress::new("verifying", "chains");
    let report =
        audit::verify_with_progress(&db.owner, |done, total| progress.update(done, total)).await;
    progress.finish();
    db.close().await;
    let report = report.context("verifying the audit log")?;
    for head in &report.heads {
        say(format_args!("head {} #{} {}", head.chain, head.seq, head.hash));
    }
    if report.findings.is_empty() {
        say(format_args!(
            "audit log verified: {} row(s) in {} chain(s)",
            report.rows, report.chains
        ));
        return Ok(ExitCode::SUCCESS);
    }
    for finding in &report.findings {
        say(finding);
    }
    say(format_args!(
        "audit log BROKEN: {} finding(s) in {} row(s)",
        report.findings.len(),
        report.rows
    ));
    Ok(ExitCode::FAILURE)
}
