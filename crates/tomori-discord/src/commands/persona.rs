//! `/persona create|list|rename|remove|import|export|lorebook`: the server's personas. Listing is for
//! every member; the rest changes the server, or shows a persona's whole prompt, and needs
//! Manage Server.
//!
//! `import` takes an attachment: a SillyTavern card (PNG or JSON, V1/V2/V3) or Tomori's persona
//! JSON, parsed by `tomori_core::card`. Its size (as Discord reports it) is checked before the
//! download, the download goes through the media policy with the same cap, and a card that is
//! malformed or too large is refused with the reason and nothing written. `export` answers with
//! the persona as a V2 card PNG that SillyTavern imports.

use std::time::Duration;

use tomori_admin::persona;
use tomori_admin::persona::lore::LoreAction;
use tomori_core::card::MAX_PNG_BYTES;
use tomori_core::persona::MAX_NICKNAME_CHARS;
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    AttachmentBuilder, BooleanBuilder, CommandBuilder, IntegerBuilder, StringBuilder,
    SubCommandBuilder, SubCommandGroupBuilder,
};

use super::persona_edit;
use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need};

/// How long a card or avatar download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Discord's longest string option.
const MAX_PROMPT_OPTION: u16 = 6_000;

/// A `/persona` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Create, list, rename, remove (`tomori_admin::persona`).
    Admin(persona::Action),
    Import {
        card: Upload,
        name: Option<String>,
    },
    Export {
        name: String,
    },
    /// `prompt`, `attribute`, `sample-dialogue`, `trigger`, `avatar`, `swap`, `show`.
    Edit {
        name: String,
        edit: persona_edit::Edit,
    },
    /// `lorebook list|test|toggle|clear`.
    Lore {
        name: String,
        action: LoreAction,
    },
    /// `lorebook import`: a SillyTavern World Info file.
    LoreImport {
        name: String,
        file: Upload,
    },
    /// `model set|clear` (`tomori_admin::overrides`).
    Model(tomori_admin::overrides::Action),
}

fn nickname_option(name: &'static str, description: &'static str) -> StringBuilder {
    let max = u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX);
    StringBuilder::new(name, description).required(true).max_length(max)
}

pub(crate) fn definition() -> CommandBuilder {
    let command = CommandBuilder::new(
        "persona",
        "Create and manage the server's personas",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .option(
        SubCommandBuilder::new(
            "create",
            "Create a persona (the server's first becomes its main persona)",
        )
        .option(nickname_option("name", "Its display name"))
        .option(
            StringBuilder::new("prompt", "Its personality prompt").max_length(MAX_PROMPT_OPTION),
        ),
    )
    .option(SubCommandBuilder::new("list", "List the server's personas"))
    .option(
        SubCommandBuilder::new("rename", "Rename a persona; its memories stay")
            .option(nickname_option("name", "The persona's current name"))
            .option(nickname_option("new_name", "Its new name")),
    )
    .option(
        SubCommandBuilder::new("remove", "Remove an alter (not the main persona)")
            .option(nickname_option("name", "The persona to remove")),
    )
    .option(
        SubCommandBuilder::new(
            "import",
            "Import a SillyTavern character card (PNG or JSON) or a Tomori persona JSON",
        )
        .option(AttachmentBuilder::new("card", "The card file").required(true))
        .option(
            StringBuilder::new("name", "Use this name instead of the card's")
                .max_length(u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX)),
        ),
    )
    .option(
        SubCommandBuilder::new("export", "Export a persona as a SillyTavern card (PNG)")
            .option(nickname_option("name", "The persona to export")),
    );
    let persona = || nickname_option("name", "The persona");
    persona_edit::options(command)
        .option(lorebook_group())
        .option(super::overrides::persona_model_group(persona))
}

/// `/persona lorebook …`.
fn lorebook_group() -> SubCommandGroupBuilder {
    let persona = || nickname_option("name", "The persona");
    SubCommandGroupBuilder::new("lorebook", "A persona's lorebook (SillyTavern World Info)")
        .subcommands([
            SubCommandBuilder::new("list", "List the entries").option(persona()),
            SubCommandBuilder::new("test", "Which entries would fire for a text")
                .option(persona())
                .option(
                    StringBuilder::new("text", "The text, as if someone wrote it")
                        .required(true)
                        .max_length(MAX_PROMPT_OPTION),
                ),
            SubCommandBuilder::new("toggle", "Turn an entry on or off")
                .option(persona())
                .option(
                    IntegerBuilder::new("entry", "Its number, as list shows it")
                        .required(true)
                        .min_value(0)
                        .max_value(i64::from(u32::MAX)),
                )
                .option(BooleanBuilder::new("on", "On or off").required(true)),
            SubCommandBuilder::new(
                "import",
                "Replace it with a SillyTavern World Info file (JSON)",
            )
            .option(persona())
            .option(AttachmentBuilder::new("file", "The World Info file").required(true)),
            SubCommandBuilder::new("clear", "Remove the lorebook").option(persona()),
        ])
}

fn parse_lorebook(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    let name = args.required_string("name")?.to_owned();
    let action = match sub {
        "list" => LoreAction::List,
        "test" => LoreAction::Test { text: args.required_string("text")?.to_owned() },
        "toggle" => LoreAction::Toggle {
            entry: u32::try_from(args.required_integer("entry")?)
                .map_err(|_| BadInput("The entry number is out of range.".to_owned()))?,
            on: args.boolean("on")?.ok_or_else(BadInput::unknown)?,
        },
        "import" => {
            return Ok(Action::LoreImport {
                name,
                file: Upload::from_option(args, resolved, "file")?,
            });
        }
        "clear" => LoreAction::Clear,
        _ => return Err(BadInput::unknown()),
    };
    Ok(Action::Lore { name, action })
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    if sub == "lorebook" {
        return parse_lorebook(args, resolved);
    }
    if sub == "model" {
        return super::overrides::parse_persona(args).map(Action::Model);
    }
    if let Some((name, edit)) = persona_edit::parse(sub, args)? {
        return Ok(Action::Edit { name, edit });
    }
    Ok(match sub {
        "create" => Action::Admin(persona::Action::Create {
            name: args.required_string("name")?.to_owned(),
            prompt: args.string("prompt")?.map(str::to_owned),
        }),
        "list" => Action::Admin(persona::Action::List),
        "rename" => Action::Admin(persona::Action::Rename {
            name: args.required_string("name")?.to_owned(),
            new_name: args.required_string("new_name")?.to_owned(),
        }),
        "remove" => Action::Admin(persona::Action::Remove {
            name: args.required_string("name")?.to_owned(),
        }),
        "import" => Action::Import {
            card: Upload::from_option(args, resolved, "card")?,
            name: args.string("name")?.map(str::to_owned),
        },
        "export" => Action::Export { name: args.required_string("name")?.to_owned() },
        _ => return Err(BadInput::unknown()),
    })
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::Admin(action) => action.need(),
        Action::Model(action) => action.need(),
        // Export shows the whole prompt, which a server may keep to its managers.
        Action::Import { .. }
        | Action::Export { .. }
        | Action::Edit { .. }
        | Action::Lore { .. }
        | Action::LoreImport { .. } => Need::Manager,
    }
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let caller = ctx.caller.admin();
    let answer = match action {
        Action::Edit { name, edit } => return persona_edit::run(ctx, name, edit).await,
        Action::Admin(action) => persona::run(ctx.store, &caller, action).await?,
        Action::Model(action) => tomori_admin::overrides::run(ctx.store, &caller, action).await?,
        Action::Import { card, name } => {
            let bytes = card.fetch(ctx, u64::try_from(MAX_PNG_BYTES).unwrap_or(u64::MAX)).await?;
            persona::card::import(ctx.store, &caller, &card.filename, &bytes, name.as_deref())
                .await?
        }
        Action::Lore { name, action } => {
            persona::lore::run(ctx.store, &caller, name, action).await?
        }
        Action::LoreImport { name, file } => {
            let max = u64::try_from(persona::lore::MAX_WORLD_INFO_BYTES).unwrap_or(u64::MAX);
            let bytes = file.fetch(ctx, max).await?;
            persona::lore::import(ctx.store, &caller, name, &file.filename, &bytes).await?
        }
        Action::Export { name } => {
            let found = persona::card::to_export(ctx.store, &caller, name).await?;
            let avatar = avatar_png(ctx, found.persona.avatar_url.as_deref()).await;
            persona::card::export(&found, avatar.as_deref())?
        }
    };
    for file in answer.files {
        ctx.files.attach(file.name, file.bytes);
    }
    Ok(answer.text)
}

/// The persona's avatar as PNG bytes, when it has one that downloads as a PNG through the media
/// policy.
async fn avatar_png(ctx: &Ctx<'_>, url: Option<&str>) -> Option<Vec<u8>> {
    let url = url?;
    let limits = tomori_net::Limits::default()
        .with_max_bytes(u64::try_from(MAX_PNG_BYTES / 2).unwrap_or(u64::MAX))
        .with_timeout(DOWNLOAD_TIMEOUT)
        .with_content_types(&["image/png"]);
    match ctx.media?.safe_download(url, &limits).await {
        Ok(download) => Some(download.bytes.to_vec()),
        Err(error) => {
            tracing::info!(%error, "the avatar is not used in the exported card");
            None
        }
    }
}
