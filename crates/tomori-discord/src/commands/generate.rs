//! `/generate image prompt [persona] [size]`, `/bot generate image [persona] [size]` and
//! `/generate video prompt [persona] [shape]`: a persona draws what the member describes, or a
//! scene from the recent conversation, or films a short video, and posts it in the channel. The
//! admin layer decides whether and as whom; the engine makes it through the `generate_image` or
//! `generate_video` tool's gate (the feature flag and the quota, checked before any provider
//! call and counted only on success). Making one takes seconds to minutes, so the answer is
//! deferred; it says where the file went, or why there is none.

use tomori_admin::generate::Generate;
use tomori_llm::{MAX_IMAGE_PROMPT_CHARS, MAX_VIDEO_PROMPT_CHARS};
use twilight_model::application::command::CommandType;
use twilight_util::builder::command::{CommandBuilder, StringBuilder, SubCommandBuilder};

use super::{Args, BadInput, Ctx, Failure, Need};

/// A `/generate` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    Image(Image),
    Video { prompt: String, persona: Option<String>, shape: Option<String> },
}

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
    let max = u16::try_from(MAX_VIDEO_PROMPT_CHARS).unwrap_or(u16::MAX);
    CommandBuilder::new(
        "generate",
        "Have a persona make a picture or a video",
        CommandType::ChatInput,
    )
    .option(image_subcommand("A picture of what you describe, posted by a persona", true))
    .option(
        SubCommandBuilder::new("video", "A short video of what you describe, posted by a persona")
            .option(
                StringBuilder::new("prompt", "What to film: subject, action, style, camera")
                    .required(true)
                    .max_length(max),
            )
            .option(
                StringBuilder::new(
                    "persona",
                    "Who makes it (if empty: the channel's persona, else the main one)",
                )
                .max_length(80),
            )
            .option(
                StringBuilder::new("shape", "16:9 landscape (if empty) or 9:16 portrait")
                    .choices([("landscape", "landscape"), ("portrait", "portrait")]),
            ),
    )
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

pub(crate) fn parse(args: Args<'_>) -> Result<Request, BadInput> {
    match args.nested()? {
        ("image", args) => parse_image(args, true).map(Request::Image),
        ("video", args) => Ok(Request::Video {
            prompt: args.required_string("prompt")?.to_owned(),
            persona: args.string("persona")?.map(str::to_owned),
            shape: args.string("shape")?.map(str::to_owned),
        }),
        _ => Err(BadInput::unknown()),
    }
}

pub(crate) fn need(_: &Request) -> Need {
    Need::Member
}

/// Runs a `/generate` request.
pub(crate) async fn run_request(ctx: &Ctx<'_>, request: &Request) -> Result<String, Failure> {
    match request {
        Request::Image(image) => run(ctx, image).await,
        Request::Video { prompt, persona, shape } => {
            let caller = ctx.caller;
            let decided = tomori_admin::generate::video(
                ctx.store,
                &caller.admin(),
                persona.as_deref(),
                prompt,
                shape.as_deref(),
            )
            .await?;
            let (persona, ask) = match decided {
                Generate::Engine { persona, ask } => (persona, ask),
                Generate::Declined(answer) => return Ok(answer.text),
            };
            Ok(match ctx.control.draw(caller.as_request(), persona, ask).await {
                Ok(made) => format!("**{}** posted the video in this channel.", made.persona),
                Err(sentence) => sentence,
            })
        }
    }
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
