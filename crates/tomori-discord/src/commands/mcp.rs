//! `/mcp add|list|remove|toggle`: the server's remote MCP servers, whose tools the model may then
//! call in this server. Everything here needs Manage Server: a registered server's tools run for
//! every member, and the list shows URLs.
//!
//! `add` takes the name and URL as options and answers with a form for the bearer token (a
//! secret never travels as a slash-command option); the URL waits in [`super::pending`] under
//! the nonce the form's custom id carries. When the form comes back, the member is authorised
//! again, and the URL is judged with the server-scope network policy, connected to and its tools
//! listed (within 15 seconds) before anything is stored, so a server that cannot be used is never
//! saved; the token is sealed by the store. Every change drops the server's cached tool list, so
//! the next turn sees it.

use secrecy::SecretString;
use tomori_core::id::ServerId;
use tomori_store::mcp::{self as stored, MAX_SERVERS, MAX_URL_CHARS};
use tomori_tools::mcp::GuildMcp;
use twilight_model::application::command::CommandType;
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::InteractionResponse;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::pending::Form;
use super::provider::optional_token_form;
use super::{Args, BadInput, Ctx, Failure, Need, non_empty};

/// Tool names an answer shows before it says how many more there are.
const SHOWN_TOOLS: usize = 20;

/// The prefix of the token form's custom id: `mcp-add|<nonce>`.
pub(crate) const ADD_MODAL: &str = "mcp-add";

/// A `/mcp` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Shows the token form; the server is added when the form comes back.
    Add {
        name: String,
        url: String,
    },
    List,
    Remove {
        name: String,
    },
    Toggle {
        name: String,
    },
}

fn name_option(description: &'static str) -> StringBuilder {
    StringBuilder::new("name", description).required(true).min_length(1).max_length(32)
}

pub(crate) fn definition() -> CommandBuilder {
    let max_url = u16::try_from(MAX_URL_CHARS).unwrap_or(u16::MAX);
    CommandBuilder::new(
        "mcp",
        "Connect remote MCP tool servers to this server",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .option(
        SubCommandBuilder::new(
            "add",
            "Add a remote MCP server (streamable HTTP); a private form asks for its token",
        )
        .option(name_option("A short name: a-z, 0-9, '_' and '-'"))
        .option(StringBuilder::new("url", "Its https URL").required(true).max_length(max_url)),
    )
    .option(SubCommandBuilder::new("list", "List this server's MCP servers"))
    .option(
        SubCommandBuilder::new("remove", "Remove an MCP server")
            .option(name_option("The server to remove")),
    )
    .option(
        SubCommandBuilder::new("toggle", "Turn an MCP server off, or on again")
            .option(name_option("The server to turn off or on")),
    )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    Ok(match sub {
        "add" => Action::Add {
            name: args.required_string("name")?.trim().to_owned(),
            url: args.required_string("url")?.trim().to_owned(),
        },
        "list" => Action::List,
        "remove" => Action::Remove { name: args.required_string("name")?.trim().to_owned() },
        "toggle" => Action::Toggle { name: args.required_string("name")?.trim().to_owned() },
        _ => return Err(BadInput::unknown()),
    })
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Add { .. } | Action::List | Action::Remove { .. } | Action::Toggle { .. } => {
            Need::Manager
        }
    }
}

fn manager<'a>(ctx: &Ctx<'a>) -> Result<&'a GuildMcp, Failure> {
    ctx.mcp.ok_or_else(|| {
        Failure::BadInput("MCP servers are not available on this Tomori instance.".to_owned())
    })
}

/// A name from a server, quoted as code in an answer: no backtick can end the quote early, no
/// line break, at most 64 characters. (Answers ping nobody whatever they say.)
fn quoted(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '`' { '\'' } else { c })
        .take(64)
        .collect();
    format!("`{clean}`")
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let mcp = manager(ctx)?;
    let scope = ctx.server().await?;
    let server: ServerId = scope.server_id().ok_or(Failure::ServerOnly)?;
    match action {
        // Answered with the token form before `run` (see `Commands::handle`).
        Action::Add { .. } => Err(Failure::BadInput("Use the form to add a server.".to_owned())),
        Action::List => {
            let servers = mcp.list(server).await?;
            if servers.is_empty() {
                return Ok("This server has no MCP servers. Add one with /mcp add.".to_owned());
            }
            let lines: Vec<String> = servers
                .iter()
                .map(|entry| {
                    let s = &entry.server;
                    let mut line = format!(
                        "{} — <{}> — {}{}",
                        s.name,
                        s.url,
                        if s.enabled { "on" } else { "off" },
                        if s.has_token { ", with a token" } else { "" }
                    );
                    if let Some(left) = entry.quarantined_for {
                        line.push_str(&format!(
                            " — paused for {}s after a failure",
                            left.as_secs().max(1)
                        ));
                    }
                    line
                })
                .collect();
            Ok(format!("MCP servers ({}/{MAX_SERVERS}):\n{}", servers.len(), lines.join("\n")))
        }
        Action::Remove { name } => {
            let removed = stored::remove(ctx.store, scope, ctx.actor(), name).await?;
            mcp.forget(server, &[removed.id]);
            Ok(format!("Removed MCP server {}; its tools are gone.", removed.name))
        }
        Action::Toggle { name } => {
            let current = stored::list(ctx.store, scope)
                .await?
                .into_iter()
                .find(|s| &s.name == name)
                .ok_or(Failure::Store(tomori_store::StoreError::NotFound("MCP server")))?;
            let changed =
                stored::set_enabled(ctx.store, scope, ctx.actor(), name, !current.enabled).await?;
            mcp.forget(server, &[changed.id]);
            Ok(if changed.enabled {
                format!("MCP server {} is on again; its tools come back.", changed.name)
            } else {
                format!("MCP server {} is off; its tools are not offered.", changed.name)
            })
        }
    }
}

/// What `add` checks before the form and again when it comes back: a valid name not yet used,
/// room for one more server, and a URL the server-scope policy admits.
async fn check_new(ctx: &Ctx<'_>, name: &str, url: &str) -> Result<(), Failure> {
    let name = non_empty(name, "server name")?;
    stored::check_name(name)?;
    let existing = stored::list(ctx.store, ctx.server().await?).await?;
    if existing.iter().any(|s| s.name == name) {
        return Err(Failure::BadInput(format!(
            "This server already has an MCP server named {name}; nothing was changed."
        )));
    }
    if existing.len() >= usize::try_from(MAX_SERVERS).unwrap_or(usize::MAX) {
        return Err(Failure::BadInput(format!(
            "Limit reached: at most {MAX_SERVERS} MCP servers; nothing was changed."
        )));
    }
    // Security: SSRF through guild MCP URLs. Judged (without resolving) before the form, so a
    // refused URL asks for no token; the probe judges it again with its DNS answers.
    if let Err(refusal) = ctx.server_policy.parse_url(url) {
        return Err(Failure::BadInput(format!(
            "I could not use that MCP server ({refusal}); nothing was saved."
        )));
    }
    Ok(())
}

/// The token form `add` answers with, once the name and URL checked out.
pub(crate) async fn add_form(
    ctx: &Ctx<'_>,
    name: &str,
    url: &str,
) -> Result<InteractionResponse, Failure> {
    manager(ctx)?;
    check_new(ctx, name, url).await?;
    let form = Form::McpAdd { name: name.to_owned(), url: url.to_owned() };
    let title = format!("MCP server {name}");
    let label = "Bearer token (optional)";
    optional_token_form(ctx, form, ADD_MODAL, title, label, "Leave empty if the server needs none")
}

/// Adds the server of a submitted token form (`nonce` from its custom id); the member has been
/// authorised again for this submission.
pub(crate) async fn add_submitted(
    ctx: &Ctx<'_>,
    nonce: &str,
    token: Option<SecretString>,
) -> Result<String, Failure> {
    let mcp = manager(ctx)?;
    let (name, url) = match ctx.pending.take(nonce, ctx.caller.guild, ctx.caller.user) {
        Ok(Form::McpAdd { name, url }) => (name, url),
        Ok(_) => return Err(Failure::BadInput("That form is not one of mine.".to_owned())),
        Err(stale) => return Err(Failure::BadInput(stale.message().to_owned())),
    };
    let scope = ctx.server().await?;
    let server: ServerId = scope.server_id().ok_or(Failure::ServerOnly)?;
    // The server may have changed while the form was open.
    check_new(ctx, &name, &url).await?;
    let token = token.as_ref();
    // Security: SSRF through guild MCP URLs. The server-scope policy judges the URL, its DNS
    // answers and the peer before anything is stored; redirects are not followed.
    let tools = mcp.probe(&url, token).await.map_err(|error| {
        Failure::BadInput(format!("I could not use that MCP server ({error}); nothing was saved."))
    })?;
    let added = stored::add(ctx.store, scope, ctx.actor(), &name, &url, token).await?;
    mcp.forget(server, &[added.id]);
    let shown: Vec<String> = tools.iter().take(SHOWN_TOOLS).map(|t| quoted(t)).collect();
    let more = tools.len().saturating_sub(SHOWN_TOOLS);
    let mut text = format!(
        "Added MCP server {name} with {} tool{}",
        tools.len(),
        if tools.len() == 1 { "" } else { "s" }
    );
    if !shown.is_empty() {
        text.push_str(": ");
        text.push_str(&shown.join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    text.push_str(
        ". Tools whose names a built-in or the operator's tools already use are skipped.",
    );
    Ok(text)
}
