//! `/personal privacy|language|nickname|delete`: the caller's own settings and data. Anyone may
//! change their own, in a server or a direct message; nobody can change anyone else's.

use tomori_core::privacy::PrivacyLevel;
use tomori_store::credentials::{self, KeyOwner};
use tomori_store::{endpoints, memories, users};
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::{Args, BadInput, Ctx, Failure, Need};

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
        | Action::KeyRemove { .. } => Need::Anyone,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    match action {
        Action::Privacy { level } => {
            users::set_privacy(ctx.store, ctx.me().await?, ctx.actor(), *level).await?;
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
