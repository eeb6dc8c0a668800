//! The `/persona` subcommands that change one persona in place: `prompt`, `attribute add|remove`,
//! `sample-dialogue add|remove`, `trigger add|remove`, `avatar` and `swap`. Each is one
//! [`Edit`], applied by `personas::edit` (checked against the same limits as a new persona, with
//! an audit row) or `personas::swap`. All need Manage Server.

use tomori_core::trigger::{normalize_trigger_word, parse_trigger_words};
use tomori_net::{Policy, Scope as NetScope};
use tomori_store::StoreError;
use tomori_store::personas::{self, Persona, SampleDialogue};
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder, SubCommandGroupBuilder,
};

use super::persona::named;
use super::{Args, BadInput, Ctx, Failure};

/// One change to one persona.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    Prompt(String),
    AddAttribute(String),
    /// 1-based, as `list` numbers them.
    RemoveAttribute(i64),
    AddDialogue {
        user: String,
        bot: String,
    },
    RemoveDialogue(i64),
    /// Stored forms (`tomori_core::trigger::parse_trigger_words`), at least one.
    AddTrigger(Vec<String>),
    /// Stored forms, at least one.
    RemoveTrigger(Vec<String>),
    /// `None` removes it.
    Avatar(Option<String>),
    Swap,
    /// Changes nothing: shows the persona with its numbered attributes and dialogues.
    Show,
}

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

/// Removes the `number`th (1-based) item, or says there is none.
fn remove_nth<T>(items: &mut Vec<T>, number: i64, what: &'static str) -> Result<(), StoreError> {
    let index =
        usize::try_from(number).ok().and_then(|n| n.checked_sub(1)).filter(|i| *i < items.len());
    let Some(index) = index else { return Err(StoreError::NotFound(what)) };
    items.remove(index);
    Ok(())
}

fn apply(persona: &mut Persona, edit: &Edit) -> Result<(), StoreError> {
    let empty =
        |field: &'static str| StoreError::Invalid { field, reason: "it is empty".to_owned() };
    match edit {
        Edit::Prompt(text) => persona.prompt = text.trim().to_owned(),
        Edit::AddAttribute(text) => {
            if text.trim().is_empty() {
                return Err(empty("attribute"));
            }
            persona.attributes.push(text.trim().to_owned());
        }
        Edit::RemoveAttribute(n) => remove_nth(&mut persona.attributes, *n, "attribute")?,
        Edit::AddDialogue { user, bot } => {
            if user.trim().is_empty() || bot.trim().is_empty() {
                return Err(empty("sample dialogue"));
            }
            persona
                .sample_dialogues
                .push(SampleDialogue { user: user.trim().to_owned(), bot: bot.trim().to_owned() });
        }
        Edit::RemoveDialogue(n) => {
            remove_nth(&mut persona.sample_dialogues, *n, "sample dialogue")?
        }
        Edit::AddTrigger(words) => {
            if words.is_empty() {
                return Err(empty("trigger word"));
            }
            // Words stored before normalisation (quoted, capitalised) count as what they say.
            let mut stored = parse_trigger_words(&persona.trigger_words);
            for word in words {
                if !stored.contains(word) {
                    stored.push(word.clone());
                }
            }
            persona.trigger_words = stored;
        }
        Edit::RemoveTrigger(words) => {
            let before = persona.trigger_words.len();
            persona.trigger_words.retain(|w| !words.contains(&normalize_trigger_word(w)));
            if persona.trigger_words.len() == before {
                return Err(StoreError::NotFound("trigger word"));
            }
        }
        Edit::Avatar(url) => persona.avatar_url.clone_from(url),
        Edit::Swap | Edit::Show => {}
    }
    Ok(())
}

pub(crate) async fn run(ctx: &Ctx<'_>, name: &str, edit: &Edit) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    let persona = named(ctx, scope, name).await?;
    if let Edit::Avatar(Some(url)) = edit {
        // Security: SSRF and tracking through avatar URLs. Discord fetches the avatar when an
        // alter speaks; only https URLs of public hosts, as the media policy judges them, are kept.
        if let Err(refusal) = Policy::new(NetScope::Media).parse_url(url) {
            return Err(Failure::BadInput(format!("That avatar URL can't be used: {refusal}.")));
        }
    }
    if *edit == Edit::Show {
        return Ok(describe(&persona));
    }
    if *edit == Edit::Swap {
        personas::swap(ctx.store, scope, ctx.actor(), persona.id).await?;
        return Ok(format!("**{}** is now the main persona.", persona.nickname));
    }
    let edited =
        personas::edit(ctx.store, scope, ctx.actor(), persona.id, |p| apply(p, edit)).await?;
    let name = &edited.nickname;
    Ok(match edit {
        Edit::Prompt(_) => format!("**{name}** has a new prompt."),
        Edit::AddAttribute(_) => format!("**{name}** has {} attributes.", edited.attributes.len()),
        Edit::RemoveAttribute(n) => format!("Removed attribute {n} of **{name}**."),
        Edit::AddDialogue { .. } => {
            format!("**{name}** has {} sample dialogues.", edited.sample_dialogues.len())
        }
        Edit::RemoveDialogue(n) => format!("Removed sample dialogue {n} of **{name}**."),
        Edit::AddTrigger(_) | Edit::RemoveTrigger(_) => format!(
            "**{name}** answers to: {}",
            if edited.trigger_words.is_empty() {
                "its name only".to_owned()
            } else {
                edited.trigger_words.join(", ")
            }
        ),
        Edit::Avatar(Some(_)) => format!("**{name}** has a new avatar."),
        Edit::Avatar(None) => format!("**{name}** has no avatar now."),
        Edit::Swap => format!("**{name}** is now the main persona."),
        Edit::Show => describe(&edited),
    })
}

/// A persona as `/persona show` prints it, numbered for `remove`.
fn describe(persona: &Persona) -> String {
    let mut lines = vec![format!(
        "**{}** ({})",
        persona.nickname,
        if persona.is_main { "main persona" } else { "alter" }
    )];
    lines.push(format!(
        "Prompt: {}",
        if persona.prompt.is_empty() { "(none)" } else { &persona.prompt }
    ));
    for (n, attribute) in persona.attributes.iter().enumerate() {
        lines.push(format!("Attribute {}: {attribute}", n + 1));
    }
    for (n, dialogue) in persona.sample_dialogues.iter().enumerate() {
        lines.push(format!("Dialogue {}: «{}» → «{}»", n + 1, dialogue.user, dialogue.bot));
    }
    if !persona.trigger_words.is_empty() {
        lines.push(format!("Trigger words: {}", persona.trigger_words.join(", ")));
    }
    lines.join("\n")
}
