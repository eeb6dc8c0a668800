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
use tomori_core::privacy::PrivacyLevel;
use tomori_llm::{Endpoint, Wire};
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::endpoints::{self, MEMBER_ENDPOINT, NewEndpoint};
use tomori_store::{memories, models, users};
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

/// Where a member's endpoint answers them (it receives the whole prompt, so only where they may
/// see it; see `tomori_chat::providers::Invoker`).
const WHERE_USED: &str = "It answers your direct messages, and your messages in servers you \
    manage or that turned prompt_snapshot on (it receives the whole prompt); elsewhere the \
    server's models answer you. Remove it with /personal custom-endpoint remove.";

/// A `/personal` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Privacy {
        level: PrivacyLevel,
    },
    Language {
        code: String,
    },
    /// `None` clears it.
    Nickname {
        name: Option<String>,
    },
    /// Deletes everything that is the caller's alone; needs the confirmation phrase.
    Delete {
        confirmed: bool,
    },
    /// Everything that is the caller's, as a JSON file (keys by label only).
    Export,
    /// Shows the form for one of the caller's own API keys.
    KeyAdd {
        provider: String,
        label: String,
    },
    KeyList,
    KeyRemove {
        id: i64,
    },
    /// Shows the token form for the caller's own endpoint; it is stored when the form comes
    /// back.
    EndpointAdd {
        url: String,
        model: String,
        tools: bool,
        vision: bool,
    },
    EndpointShow,
    EndpointRemove,
}

/// What `/personal delete` must be given, so a slip cannot erase anyone's data.
const DELETE_PHRASE: &str = "delete my data";

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("personal", "Your own settings", CommandType::ChatInput)
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
        "privacy" => {
            let level = PrivacyLevel::from_number(args.required_integer("level")?)
                .map_err(|e| BadInput(format!("The {e}.")))?;
            Ok(Action::Privacy { level })
        }
        "language" => {
            Ok(Action::Language { code: args.required_string("code")?.trim().to_owned() })
        }
        "nickname" => Ok(Action::Nickname {
            name: args.string("name")?.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        }),
        "export" => Ok(Action::Export),
        "key" => match args.nested()? {
            ("add", a) => Ok(Action::KeyAdd {
                provider: a.required_string("provider")?.trim().to_ascii_lowercase(),
                label: a.string("label")?.map_or("default", str::trim).to_owned(),
            }),
            ("list", _) => Ok(Action::KeyList),
            ("remove", a) => Ok(Action::KeyRemove { id: a.required_integer("id")? }),
            _ => Err(BadInput::unknown()),
        },
        "custom-endpoint" => match args.nested()? {
            ("add", a) => Ok(Action::EndpointAdd {
                url: a.required_string("url")?.trim().to_owned(),
                model: a.required_string("model")?.trim().to_owned(),
                tools: a.boolean("tools")?.unwrap_or(true),
                vision: a.boolean("vision")?.unwrap_or(false),
            }),
            ("show", _) => Ok(Action::EndpointShow),
            ("remove", _) => Ok(Action::EndpointRemove),
            _ => Err(BadInput::unknown()),
        },
        "delete" => Ok(Action::Delete {
            confirmed: args.required_string("confirm")?.trim().eq_ignore_ascii_case(DELETE_PHRASE),
        }),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Privacy { .. }
        | Action::Language { .. }
        | Action::Nickname { .. }
        | Action::Delete { .. }
        | Action::Export
        | Action::KeyAdd { .. }
        | Action::KeyList
        | Action::KeyRemove { .. }
        | Action::EndpointAdd { .. }
        | Action::EndpointShow
        | Action::EndpointRemove => Need::Anyone,
    }
}

/// The URL and model of a member's endpoint, as the personal-scope policy (see
/// `Commands::new`) and the model rules see them.
fn check_endpoint(ctx: &Ctx<'_>, url: &str, model: &str) -> Result<(), Failure> {
    if let Err(err) = Endpoint::new(Wire::OpenAiCompatible, url, ctx.personal_policy) {
        return Err(Failure::BadInput(format!(
            "That URL can't be used: {err}; nothing was saved."
        )));
    }
    models::check_model(model).map_err(|_| {
        Failure::BadInput(format!(
            "`{model}` is not a model id: use letters, digits and . _ : / @ + - only."
        ))
    })?;
    Ok(())
}

/// The token form `custom-endpoint add` answers with, once the URL and model checked out.
pub(crate) async fn endpoint_form(
    ctx: &Ctx<'_>,
    url: &str,
    model: &str,
    tools: bool,
    vision: bool,
) -> Result<InteractionResponse, Failure> {
    check_endpoint(ctx, url, model)?;
    if endpoints::get(ctx.store, ctx.me().await?, KeyOwner::Personal, MEMBER_ENDPOINT)
        .await?
        .is_some()
    {
        return Err(Failure::BadInput(
            "You already have an endpoint; remove it first with /personal custom-endpoint remove."
                .to_owned(),
        ));
    }
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
    check_endpoint(ctx, &url, &model)?;
    let new = NewEndpoint {
        label: MEMBER_ENDPOINT.to_owned(),
        base_url: url,
        model: model.clone(),
        context_length: None,
        has_tools: tools,
        has_vision: vision,
        api_key: token,
    };
    let saved = endpoints::add(ctx.store, ctx.me().await?, ctx.actor(), KeyOwner::Personal, &new)
        .await
        .map_err(|err| match err {
            tomori_store::StoreError::Conflict(_) => Failure::BadInput(
                "You already have an endpoint; remove it first with /personal custom-endpoint \
                 remove."
                    .to_owned(),
            ),
            other => Failure::Store(other),
        })?;
    Ok(format!(
        "Saved your endpoint ({model}{}). {WHERE_USED}",
        if saved.has_key { ", with a token stored encrypted" } else { "" }
    ))
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        // Answered with a form before `run` (see `Commands::handle`).
        Action::EndpointAdd { .. } => {
            Err(Failure::BadInput("Use the form to add an endpoint.".to_owned()))
        }
        Action::EndpointShow => {
            let mine =
                endpoints::get(ctx.store, ctx.me().await?, KeyOwner::Personal, MEMBER_ENDPOINT)
                    .await?;
            Ok(match mine {
                Some((e, _)) => format!(
                    "Your endpoint: <{}> · {}{}{}{}. {WHERE_USED}",
                    e.base_url,
                    e.model,
                    if e.has_tools { " · tools" } else { "" },
                    if e.has_vision { " · vision" } else { "" },
                    if e.has_key { " · with a token" } else { "" }
                ),
                None => {
                    "You have no endpoint of your own; the servers' models answer you.".to_owned()
                }
            })
        }
        Action::EndpointRemove => {
            // Security: cross-user tampering. Only the caller's own scope is touched.
            endpoints::remove(
                ctx.store,
                ctx.me().await?,
                ctx.actor(),
                KeyOwner::Personal,
                MEMBER_ENDPOINT,
            )
            .await?;
            Ok("Removed your endpoint; the servers' models answer you again.".to_owned())
        }
        Action::Privacy { level } => {
            users::set_privacy(ctx.store, ctx.me().await?, ctx.actor(), *level).await?;
            // Security: privacy level 2. Their messages already in the history leave it now,
            // not at their next message.
            if *level == PrivacyLevel::Full {
                ctx.control.withhold_author(ctx.caller.user);
            }
            let meaning = match level {
                PrivacyLevel::Minimal => "personas may use everything you share with them",
                PrivacyLevel::Partial => {
                    "personas no longer use your personal memories, roles or status"
                }
                PrivacyLevel::Full => "I will not answer you or use your messages",
            };
            Ok(format!("Your privacy level is now {level}: {meaning}."))
        }
        Action::Language { code } => {
            let me = users::set_profile(ctx.store, ctx.me().await?, ctx.actor(), Some(code), None)
                .await?;
            Ok(format!("Personas will answer you in `{}` when they can.", me.language))
        }
        Action::Nickname { name } => {
            let me = users::set_profile(
                ctx.store,
                ctx.me().await?,
                ctx.actor(),
                None,
                Some(name.as_deref()),
            )
            .await?;
            Ok(match me.nickname {
                Some(name) => format!("Personas will call you {name}."),
                None => "Personas will call you by your name.".to_owned(),
            })
        }
        // Answered with a form before `run` (see `Commands::handle`).
        Action::KeyAdd { .. } => Err(Failure::BadInput("Use the form to add a key.".to_owned())),
        Action::KeyList => {
            let keys = credentials::list(ctx.store, ctx.me().await?, KeyOwner::Personal).await?;
            if keys.is_empty() {
                return Ok("You have no keys; add one with /personal key add.".to_owned());
            }
            Ok(keys
                .iter()
                .map(|k| {
                    format!(
                        "`{}` {} · {} · used {} times",
                        k.id, k.provider, k.label, k.usage_count
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Action::KeyRemove { id } => {
            // Security: cross-user tampering. The delete runs in the caller's own user scope, so
            // another member's key id finds nothing.
            credentials::remove(ctx.store, ctx.me().await?, ctx.actor(), *id).await?;
            Ok(format!("Removed your key {id}."))
        }
        Action::Export => {
            let me = ctx.me().await?;
            let settings = users::get(ctx.store, me).await?;
            let memories = memories::list_all_personal(ctx.store, me).await?;
            // Security: keys leak through an export. Keys appear by provider and label only.
            let keys = credentials::list(ctx.store, me, KeyOwner::Personal).await?;
            let endpoints = endpoints::list(ctx.store, me, KeyOwner::Personal).await?;
            let file = serde_json::json!({
                "user": ctx.caller.user,
                "privacy_level": settings.privacy.as_number(),
                "language": settings.language,
                "nickname": settings.nickname,
                "personal_memories": super::memory::personal_json(&memories),
                "api_keys": keys.iter().map(|k| serde_json::json!({"provider": k.provider, "label": k.label})).collect::<Vec<_>>(),
                "custom_endpoints": endpoints,
            });
            ctx.files.attach(
                "tomori-my-data.json".to_owned(),
                serde_json::to_vec_pretty(&file).unwrap_or_default(),
            );
            Ok("Everything Tomori keeps about you, as JSON (API keys by label only).".to_owned())
        }
        Action::Delete { confirmed: false } => Err(Failure::BadInput(format!(
            "To delete all your data, type `{DELETE_PHRASE}` as the confirmation; nothing was deleted."
        ))),
        Action::Delete { confirmed: true } => {
            users::delete(ctx.store, ctx.me().await?, ctx.actor()).await?;
            Ok("Deleted your settings, personal memories, keys and endpoints. Memories you taught \
                a server belong to that server; its admins can remove them."
                .to_owned())
        }
    }
}
