//! `/generate image prompt [persona] [size]` and `/bot generate image [persona] [size]`: a
//! persona draws what the member describes, or a scene from the recent conversation, and posts
//! it in the channel. The admin layer decides whether and as whom; the engine draws through the
//! `generate_image` tool's gate (the `image_gen` flag and the image quota, checked before any
//! provider call and counted only on success). Drawing takes seconds, so the answer is deferred;
//! it says where the picture went, or why there is none.

use tomori_admin::generate::Generate;
use tomori_llm::MAX_IMAGE_PROMPT_CHARS;
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A picture request; `prompt` is `None` for a scene from the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) prompt: Option<String>,
    pub(crate) persona: Option<String>,
    pub(crate) size: Option<String>,
}

/// The `image` subcommand's options; with `prompt` for `/generate image`.
pub(crate) fn image_subcommand(description: &str, prompt: bool) -> SubCommandBuilder {
    let mut sub = SubCommandBuilder::new("image", description);
    if prompt {
        let max = u16::try_from(MAX_IMAGE_PROMPT_CHARS).unwrap_or(u16::MAX);
        sub = sub.option(
            StringBuilder::new("prompt", "What to draw: subject, setting, style")
                .required(true)
                .max_length(max),
        );
    }
    sub.option(
        StringBuilder::new(
            "persona",
            "Who draws it (if empty: the channel's persona, else the main one)",
        )
        .max_length(80),
    )
    .option(StringBuilder::new("size", "The picture's shape (square if empty)").choices([
        ("square", "square"),
        ("portrait", "portrait"),
        ("landscape", "landscape"),
    ]))
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new("generate", "Have a persona make a picture", CommandType::ChatInput)
        .option(image_subcommand("A picture of what you describe, posted by a persona", true))
}

/// The `image` subcommand's options (a `prompt` only when `prompt` is true).
pub(crate) fn parse_image(args: Args<'_>, prompt: bool) -> Result<Image, BadInput> {
    let text = if prompt { Some(args.required_string("prompt")?.to_owned()) } else { None };
    Ok(Image {
        prompt: text,
        persona: args.string("persona")?.map(str::to_owned),
        size: args.string("size")?.map(str::to_owned),
    })
}

pub(crate) fn parse(args: Args<'_>) -> Result<Image, BadInput> {
    match args.nested()? {
        ("image", args) => parse_image(args, true),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(_: &Image) -> Need {
    Need::Member
}

/// Decides, draws and says what happened.
pub(crate) async fn run(ctx: &Ctx<'_>, image: &Image) -> Result<String, Failure> {
    let caller = ctx.caller;
    let decided = tomori_admin::generate::image(
        ctx.store,
        &caller.admin(),
        image.persona.as_deref(),
        image.prompt.as_deref(),
        image.size.as_deref(),
    )
    .await?;
    let (persona, ask) = match decided {
        Generate::Engine { persona, ask } => (persona, ask),
        Generate::Declined(answer) => return Ok(answer.text),
    };
    Ok(match ctx.control.draw(caller.as_request(), persona, ask).await {
        Ok(drawn) => format!("**{}** posted the picture in this channel.", drawn.persona),
        Err(sentence) => sentence,
    })
}
