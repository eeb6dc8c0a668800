//! `/personal privacy|language|nickname|export|key|custom-endpoint|delete`: the caller's own
//! settings and data. Anyone may change their own, in a server or a direct message; nobody can
//! change anyone else's.
//!
//! `custom-endpoint add` registers the member's own OpenAI-compatible endpoint, which then
//! answers every message of theirs (see `tomori_chat::providers`). Its URL is judged by
//! tomori-net's personal-scope policy, which is production-strict whatever the operator's `[net]`
//! settings say (https to public addresses only), before the form, when the form comes back, and
//! on every call; its optional token is typed into a form like a key.

use secrecy::SecretString;
use tomori_admin::personal::{self, DELETE_PHRASE};
use tomori_admin::short_term;
use tomori_core::privacy::PrivacyLevel;
use twilight_model::application::command::CommandType;
use twilight_model::http::interaction::InteractionResponse;
use twilight_util::builder::command::{
    BooleanBuilder, CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder,
    SubCommandGroupBuilder,
};

use super::pending::Form;
use super::provider::optional_token_form;
use super::{Args, BadInput, Ctx, Failure, Need};

/// The prefix of the endpoint token form's custom id: `personal-endpoint|<nonce>`.
pub(crate) const ENDPOINT_MODAL: &str = "personal-endpoint";

/// A `/personal` subcommand: a form, or one of the admin layer's actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Shows the form for one of the caller's own API keys.
    KeyAdd { provider: String, label: String },
    /// Shows the token form for the caller's own endpoint; it is stored when the form comes
    /// back.
    EndpointAdd { url: String, model: String, tools: bool, vision: bool },
    /// Everything else (`tomori_admin::personal`).
    Admin(personal::Action),
    /// The personas' short-term notes about the caller (`tomori_admin::short_term`).
    ShortTerm(short_term::Action),
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("personal", "Your own settings", CommandType::ChatInput)
        .option(
            SubCommandGroupBuilder::new(
                "short-term",
                "What the personas noted lately about you in this server",
            )
            .subcommands([
                SubCommandBuilder::new("show", "Show the notes about you"),
                SubCommandBuilder::new("clear", "Forget the notes about you"),
            ]),
        )
        .option(SubCommandBuilder::new("privacy", "What Tomori may do with your data").option(
            IntegerBuilder::new("level", "Your privacy level").required(true).choices([
                ("0: full personalisation", 0),
                ("1: no personal memories, roles or status", 1),
                ("2: never answer me or use my messages", 2),
            ]),
        ))
        .option(
            SubCommandBuilder::new("language", "The language personas should answer you in")
                .option(
                    StringBuilder::new("code", "A language code such as en, ja or pt-BR")
                        .required(true)
                        .max_length(16),
                ),
        )
        .option(
            SubCommandBuilder::new("nickname", "What personas call you (empty: your name)")
                .option(StringBuilder::new("name", "Your nickname").max_length(64)),
        )
        .option(SubCommandBuilder::new("export", "Download everything Tomori keeps about you"))
        .option(
            SubCommandGroupBuilder::new(
                "key",
                "Your own API keys: your messages are answered with them when the server's model \
                 uses that provider",
            )
            .subcommands([
                SubCommandBuilder::new("add", "Add a key (you type it into a private form)")
                    .option(
                        StringBuilder::new("provider", "openrouter, openai, anthropic, google, …")
                            .required(true)
                            .max_length(64),
                    )
                    .option(
                        StringBuilder::new("label", "A name for it (default: default)")
                            .max_length(64),
                    ),
                SubCommandBuilder::new("list", "List your keys (never shown)"),
                SubCommandBuilder::new("remove", "Remove one of your keys by its id")
                    .option(IntegerBuilder::new("id", "The key's id").required(true).min_value(1)),
            ]),
        )
        .option(
            SubCommandBuilder::new(
                "deliberate-tools",
                "Offer tools on your turns only when you ask for what they do",
            )
            .option(
                StringBuilder::new("state", "On, off, or as the server says")
                    .required(true)
                    .choices([("on", "on"), ("off", "off"), ("server", "server")]),
            ),
        )
        .option(
            SubCommandGroupBuilder::new("model", "Your own model, paid with your own key")
                .subcommands([
                    SubCommandBuilder::new("set", "Answer your turns with this model")
                        .option(
                            StringBuilder::new("provider", "A provider you added a key for")
                                .required(true)
                                .max_length(64),
                        )
                        .option(
                            StringBuilder::new("model", "The model id")
                                .required(true)
                                .max_length(200),
                        )
                        .option(BooleanBuilder::new(
                            "fallback",
                            "The server's models may answer when yours fails (default yes)",
                        )),
                    SubCommandBuilder::new("clear", "The servers' models answer you again"),
                    SubCommandBuilder::new("show", "Show your own model"),
                ]),
        )
        .option(
            SubCommandGroupBuilder::new(
                "custom-endpoint",
                "Your own OpenAI-compatible endpoint, which answers you where you may see the prompt",
            )
            .subcommands([
                SubCommandBuilder::new(
                    "add",
                    "Register your endpoint (a private form asks for its token)",
                )
                .option(
                    StringBuilder::new("url", "Base URL, https only, e.g. https://llm.example/v1")
                        .required(true)
                        .max_length(2048),
                )
                .option(
                    StringBuilder::new("model", "The model id to request")
                        .required(true)
                        .max_length(200),
                )
                .option(BooleanBuilder::new("tools", "The model calls tools (default yes)"))
                .option(BooleanBuilder::new("vision", "The model sees images (default no)")),
                SubCommandBuilder::new("show", "Show your endpoint"),
                SubCommandBuilder::new("remove", "Remove your endpoint"),
            ]),
        )
        .option(
            SubCommandBuilder::new("delete", "Delete all your settings, memories and keys").option(
                StringBuilder::new("confirm", "Type: delete my data").required(true).max_length(32),
            ),
        )
}

pub(crate) fn parse(args: Args<'_>) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    match sub {
        "short-term" => match args.nested()?.0 {
            "show" => Ok(Action::ShortTerm(short_term::Action::Show)),
            "clear" => Ok(Action::ShortTerm(short_term::Action::Clear)),
            _ => Err(BadInput::unknown()),
        },
        "privacy" => {
            let level = PrivacyLevel::from_number(args.required_integer("level")?)
                .map_err(|e| BadInput(format!("The {e}.")))?;
            Ok(Action::Admin(personal::Action::Privacy { level }))
        }
        "language" => Ok(Action::Admin(personal::Action::Language {
            code: args.required_string("code")?.trim().to_owned(),
        })),
        "nickname" => Ok(Action::Admin(personal::Action::Nickname {
            name: args.string("name")?.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        })),
        "export" => Ok(Action::Admin(personal::Action::Export)),
        "key" => match args.nested()? {
            ("add", a) => Ok(Action::KeyAdd {
                provider: a.required_string("provider")?.trim().to_ascii_lowercase(),
                label: a.string("label")?.map_or("default", str::trim).to_owned(),
            }),
            ("list", _) => Ok(Action::Admin(personal::Action::KeyList)),
            ("remove", a) => {
                Ok(Action::Admin(personal::Action::KeyRemove { id: a.required_integer("id")? }))
            }
            _ => Err(BadInput::unknown()),
        },
        "deliberate-tools" => {
            let mode = match args.required_string("state")? {
                "on" => Some(true),
                "off" => Some(false),
                "server" => None,
                other => return Err(BadInput(format!("Say on, off or server, not `{other}`."))),
            };
            Ok(Action::Admin(personal::Action::DeliberateTools { mode }))
        }
        "model" => match args.nested()? {
            ("set", a) => Ok(Action::Admin(personal::Action::ModelSet {
                provider: a.required_string("provider")?.to_owned(),
                model: a.required_string("model")?.to_owned(),
                fallback: a.boolean("fallback")?.unwrap_or(true),
            })),
            ("clear", _) => Ok(Action::Admin(personal::Action::ModelClear)),
            ("show", _) => Ok(Action::Admin(personal::Action::ModelShow)),
            _ => Err(BadInput::unknown()),
        },
        "custom-endpoint" => match args.nested()? {
            ("add", a) => Ok(Action::EndpointAdd {
                url: a.required_string("url")?.trim().to_owned(),
                model: a.required_string("model")?.trim().to_owned(),
                tools: a.boolean("tools")?.unwrap_or(true),
                vision: a.boolean("vision")?.unwrap_or(false),
            }),
            ("show", _) => Ok(Action::Admin(personal::Action::EndpointShow)),
            ("remove", _) => Ok(Action::Admin(personal::Action::EndpointRemove)),
            _ => Err(BadInput::unknown()),
        },
        "delete" => Ok(Action::Admin(personal::Action::Delete {
            confirmed: args.required_string("confirm")?.trim().eq_ignore_ascii_case(DELETE_PHRASE),
        })),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(_action: &Action) -> Need {
    // Only the caller's own data, in their own user scope.
    Need::Anyone
}

/// The token form `custom-endpoint add` answers with, once the URL and model checked out.
pub(crate) async fn endpoint_form(
    ctx: &Ctx<'_>,
    url: &str,
    model: &str,
    tools: bool,
    vision: bool,
) -> Result<InteractionResponse, Failure> {
    personal::endpoint_precheck(ctx.store, &ctx.caller.admin(), ctx.personal_policy, url, model)
        .await?;
    let form =
        Form::PersonalEndpoint { url: url.to_owned(), model: model.to_owned(), tools, vision };
    let title = "Your own endpoint".to_owned();
    let label = "API key or token (optional)";
    let placeholder = "Leave empty if the endpoint needs none";
    optional_token_form(ctx, form, ENDPOINT_MODAL, title, label, placeholder)
}

/// Stores the endpoint of a submitted token form (`nonce` from its custom id) in the caller's
/// own scope.
pub(crate) async fn endpoint_submitted(
    ctx: &Ctx<'_>,
    nonce: &str,
    token: Option<SecretString>,
) -> Result<String, Failure> {
    let Form::PersonalEndpoint { url, model, tools, vision } = ctx
        .pending
        .take(nonce, ctx.caller.guild, ctx.caller.user)
        .map_err(|stale| Failure::BadInput(stale.message().to_owned()))?
    else {
        return Err(Failure::BadInput("That form is not one of mine.".to_owned()));
    };
    let endpoint = personal::MemberEndpoint { url, model, tools, vision, token };
    let policy = ctx.personal_policy;
    Ok(personal::add_endpoint(ctx.store, &ctx.caller.admin(), policy, endpoint).await?.text)
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let action = match action {
        Action::Admin(action) => action,
        // Answered with a form before `run` (see `Commands::handle`).
        Action::EndpointAdd { .. } => {
            return Err(Failure::BadInput("Use the form to add an endpoint.".to_owned()));
        }
        Action::KeyAdd { .. } => {
            return Err(Failure::BadInput("Use the form to add a key.".to_owned()));
        }
        Action::ShortTerm(action) => {
            let caller = ctx.caller.admin();
            let answer = short_term::run(ctx.store, &caller, short_term::Whose::Mine, *action);
            return Ok(answer.await?.text);
        }
    };
    let outcome = personal::run(ctx.store, &ctx.caller.admin(), action).await?;
    if outcome.withhold {
        ctx.control.withhold_author(ctx.caller.user);
    }
    for file in outcome.answer.files {
        ctx.files.attach(file.name, file.bytes);
    }
    Ok(outcome.answer.text)
}
