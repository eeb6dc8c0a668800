//! `/preset import|list|show|switch|toggle|remove`: the server's SillyTavern chat-completion
//! presets, which lay out what the model is told. Everything here needs Manage Server (the
//! rules live in `tomori_admin::preset`); in a direct message it acts on the member's own DM
//! tenant. `import` takes the preset as an attached JSON file, fetched within its size limit.

use tomori_admin::preset::{self as admin, PresetAction};
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    AttachmentBuilder, BooleanBuilder, CommandBuilder, StringBuilder, SubCommandBuilder,
};

use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/preset` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Import { file: Upload, name: Option<String> },
    Other(PresetAction),
}

fn name_option(description: &'static str, required: bool) -> StringBuilder {
    let max = u16::try_from(admin::MAX_NAME_CHARS).unwrap_or(u16::MAX);
    StringBuilder::new("name", description).required(required).min_length(1).max_length(max)
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new(
        "preset",
        "SillyTavern chat-completion presets: how the prompt is laid out",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .option(
        SubCommandBuilder::new("import", "Import a SillyTavern chat-completion preset (JSON)")
            .option(AttachmentBuilder::new("file", "The preset file").required(true))
            .option(name_option("Its name here (the file's name if empty)", false)),
    )
    .option(SubCommandBuilder::new("list", "List the presets, the active one marked"))
    .option(
        SubCommandBuilder::new("show", "A preset's blocks in prompt order")
            .option(name_option("The preset (the active one if empty)", false)),
    )
    .option(
        SubCommandBuilder::new("switch", "Lay the prompt out with a preset")
            .option(name_option("The preset, or tomori for Tomori's own layout", true)),
    )
    .option(
        SubCommandBuilder::new("toggle", "Turn one block of a preset on or off")
            .option(
                StringBuilder::new("block", "Its number as show lists it, identifier or name")
                    .required(true)
                    .min_length(1)
                    .max_length(200),
            )
            .option(BooleanBuilder::new("on", "On or off").required(true))
            .option(name_option("The preset (the active one if empty)", false)),
    )
    .option(
        SubCommandBuilder::new("remove", "Remove a preset")
            .option(name_option("The preset to remove", true)),
    )
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    let name = || -> Result<Option<String>, BadInput> {
        Ok(args.string("name")?.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()))
    };
    let action = match sub {
        "import" => {
            return Ok(Action::Import {
                file: Upload::from_option(args, resolved, "file")?,
                name: name()?,
            });
        }
        "list" => PresetAction::List,
        "show" => PresetAction::Show { name: name()? },
        "switch" => PresetAction::Switch { name: args.required_string("name")?.trim().to_owned() },
        "toggle" => PresetAction::Toggle {
            block: args.required_string("block")?.trim().to_owned(),
            on: args.boolean("on")?.ok_or_else(BadInput::unknown)?,
            name: name()?,
        },
        "remove" => PresetAction::Remove { name: args.required_string("name")?.trim().to_owned() },
        _ => return Err(BadInput::unknown()),
    };
    Ok(Action::Other(action))
}

pub(crate) fn need(_action: &Action) -> Need {
    Need::Manager
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let caller = ctx.caller.admin();
    let answer = match action {
        Action::Import { file, name } => {
            let max = u64::try_from(admin::MAX_PRESET_FILE_BYTES).unwrap_or(u64::MAX);
            let bytes = file.fetch(ctx, max).await?;
            admin::import(ctx.store, &caller, name.as_deref(), &file.filename, &bytes).await?
        }
        Action::Other(action) => admin::run(ctx.store, &caller, action).await?,
    };
    Ok(answer.text)
}
