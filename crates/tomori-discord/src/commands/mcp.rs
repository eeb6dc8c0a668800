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
use tomori_admin::mcp as admin;
use tomori_tools::mcp::GuildMcp;
use twilight_model::application::command::CommandType;
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::InteractionResponse;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::pending::Form;
use super::provider::optional_token_form;
use super::{Args, BadInput, Ctx, Failure, Need};

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
    let max_url = u16::try_from(admin::MAX_URL_CHARS).unwrap_or(u16::MAX);
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

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let mcp = manager(ctx)?;
    let action = match action {
        // Answered with the token form before `run` (see `Commands::handle`).
        Action::Add { .. } => {
            return Err(Failure::BadInput("Use the form to add a server.".to_owned()));
        }
        Action::List => admin::Action::List,
        Action::Remove { name } => admin::Action::Remove { name: name.clone() },
        Action::Toggle { name } => admin::Action::Toggle { name: name.clone() },
    };
    Ok(admin::run(ctx.store, &ctx.caller.admin(), mcp, &action).await?.text)
}

/// The token form `add` answers with, once the name and URL checked out.
pub(crate) async fn add_form(
    ctx: &Ctx<'_>,
    name: &str,
    url: &str,
) -> Result<InteractionResponse, Failure> {
    manager(ctx)?;
    admin::check_new(ctx.store, &ctx.caller.admin(), ctx.server_policy, name, url).await?;
    let form = Form::McpAdd { name: name.trim().to_owned(), url: url.to_owned() };
    let title = format!("MCP server {}", name.trim());
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
    let services = (mcp, ctx.server_policy);
    let caller = ctx.caller.admin();
    let added = admin::add(ctx.store, &caller, services, (&name, &url), token.as_ref()).await?;
    Ok(added.text)
}
