//! The `/persona` subcommands that change one persona in place: `prompt`, `attribute add|remove`,
//! `sample-dialogue add|remove`, `trigger add|remove`, `avatar` and `swap`. Each is one
//! [`Edit`], applied by the admin layer (`tomori_admin::persona::edit`: the same limits as a new
//! persona, with an audit row). All need Manage Server.

use tomori_core::trigger::parse_trigger_words;
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::{Args, BadInput, Ctx, Failure};

/// One change to one persona: the admin layer's (`tomori_admin::persona`).
pub(crate) use tomori_admin::persona::Edit;

/// The longest text option Discord allows.
const MAX_TEXT: u16 = 6_000;

/// Trigger words: one, or several separated by commas.
pub(crate) fn words_option() -> StringBuilder {
    StringBuilder::new("word", "The word, or several separated by commas")
        .required(true)
        .min_length(1)
        .max_length(MAX_WORDS_OPTION)
}

/// The longest `word` option: a comma-separated list of a few 64-character words.
const MAX_WORDS_OPTION: u16 = 400;

/// The stored forms of a `word` option, or a refusal when it names none.
pub(crate) fn trigger_words(args: Args<'_>) -> Result<Vec<String>, BadInput> {
    let words = parse_trigger_words(&[args.required_string("word")?]);
    if words.is_empty() {
        return Err(BadInput("The trigger word is empty.".to_owned()));
    }
    Ok(words)
}

fn persona_option() -> StringBuilder {
    StringBuilder::new("name", "The persona").required(true).max_length(80)
}

fn number_option() -> IntegerBuilder {
    IntegerBuilder::new("number", "Its number, as /persona show lists them")
        .required(true)
        .min_value(1)
}

/// Adds the edit subcommands to `/persona`.
pub(crate) fn options(command: CommandBuilder) -> CommandBuilder {
    command
        .option(
            SubCommandBuilder::new("prompt", "Replace a persona's personality prompt")
                .option(persona_option())
                .option(
                    StringBuilder::new("text", "The new prompt")
                        .required(true)
                        .max_length(MAX_TEXT),
                ),
        )
        .option(
            SubCommandGroupBuilder::new("attribute", "Short facts about a persona").subcommands([
                SubCommandBuilder::new("add", "Add an attribute").option(persona_option()).option(
                    StringBuilder::new("text", "The attribute").required(true).max_length(2_000),
                ),
                SubCommandBuilder::new("remove", "Remove an attribute by its number")
                    .option(persona_option())
                    .option(number_option()),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new(
                "sample-dialogue",
                "Example exchanges in the persona's voice",
            )
            .subcommands([
                SubCommandBuilder::new("add", "Add an exchange")
                    .option(persona_option())
                    .option(
                        StringBuilder::new("user", "What someone says")
                            .required(true)
                            .max_length(2_000),
                    )
                    .option(
                        StringBuilder::new("reply", "How the persona answers")
                            .required(true)
                            .max_length(2_000),
                    ),
                SubCommandBuilder::new("remove", "Remove an exchange by its number")
                    .option(persona_option())
                    .option(number_option()),
            ]),
        )
        .option(
            SubCommandGroupBuilder::new("trigger", "Words that make a persona answer").subcommands(
                [
                    SubCommandBuilder::new("add", "Add trigger words")
                        .option(persona_option())
                        .option(words_option()),
                    SubCommandBuilder::new("remove", "Remove trigger words")
                        .option(persona_option())
                        .option(words_option()),
                ],
            ),
        )
        .option(
            SubCommandBuilder::new("avatar", "Set the avatar alters speak with (empty: none)")
                .option(persona_option())
                .option(StringBuilder::new("url", "An https image URL").max_length(2_048)),
        )
        .option(
            SubCommandBuilder::new("swap", "Make this persona the main one (the bot's own voice)")
                .option(persona_option()),
        )
        .option(
            SubCommandBuilder::new("show", "Show a persona's prompt, attributes and dialogues")
                .option(persona_option()),
        )
}

/// Parses an edit subcommand; `None` when `sub` is not one.
pub(crate) fn parse(sub: &str, args: Args<'_>) -> Result<Option<(String, Edit)>, BadInput> {
    let text = |name: &str| args.required_string(name).map(str::to_owned);
    let (args, edit) = match sub {
        "prompt" => (args, Edit::Prompt(text("text")?)),
        "avatar" => (
            args,
            Edit::Avatar(
                args.string("url")?.map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned),
            ),
        ),
        "swap" => (args, Edit::Swap),
        "show" => (args, Edit::Show),
        "attribute" | "sample-dialogue" | "trigger" => {
            let (verb, inner) = args.nested()?;
            let edit = match (sub, verb) {
                ("attribute", "add") => {
                    Edit::AddAttribute(inner.required_string("text")?.to_owned())
                }
                ("attribute", "remove") => Edit::RemoveAttribute(inner.required_integer("number")?),
                ("sample-dialogue", "add") => Edit::AddDialogue {
                    user: inner.required_string("user")?.to_owned(),
                    bot: inner.required_string("reply")?.to_owned(),
                },
                ("sample-dialogue", "remove") => {
                    Edit::RemoveDialogue(inner.required_integer("number")?)
                }
                ("trigger", "add") => Edit::AddTrigger(trigger_words(inner)?),
                ("trigger", "remove") => Edit::RemoveTrigger(trigger_words(inner)?),
                _ => return Err(BadInput::unknown()),
            };
            (inner, edit)
        }
        _ => return Ok(None),
    };
    Ok(Some((args.required_string("name")?.to_owned(), edit)))
}

pub(crate) async fn run(ctx: &Ctx<'_>, name: &str, edit: &Edit) -> Result<String, Failure> {
    Ok(tomori_admin::persona::edit(ctx.store, &ctx.caller.admin(), name, edit).await?.text)
}
