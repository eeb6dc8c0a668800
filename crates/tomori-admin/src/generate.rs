//! `/generate image`, `/bot generate image` and `/generate video`: whether, and as whom, a member
//! may have a persona draw or film, and what. The file itself is the engine's (`Engine::draw`),
//! which runs the `generate_image` or `generate_video` tool's gate, quota and studio.

use tomori_chat::engine::DrawAsk;
use tomori_llm::{ImageShape, MAX_IMAGE_PROMPT_CHARS, MAX_VIDEO_PROMPT_CHARS};

use crate::access::AdminError;
use crate::answer::Answer;
use crate::bot::{Respond, respond};
use crate::caller::Caller;

/// What a front door does with a picture request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generate {
    /// Ask the engine to draw `ask` as `persona` (without one: the channel's persona, else the
    /// main one).
    Engine {
        /// The persona named, as the server spells it.
        persona: Option<String>,
        /// What to draw.
        ask: DrawAsk,
    },
    /// Ask nothing of the engine; tell the member why.
    Declined(Answer),
}

/// Decides a picture request by `caller`: the member's own `prompt` (`/generate image`), or a
/// scene from the conversation when there is none (`/bot generate image`), in the shape named
/// `shape` (square when none). The same admission as `/bot respond` applies (a member at privacy
/// level 2 is declined: nothing of theirs reaches a model).
///
/// # Errors
/// A prompt that is empty or too long, an unknown shape or persona, outside a server, or the
/// store failing; nothing is changed either way.
pub async fn image(
    store: &tomori_store::Store,
    caller: &Caller,
    persona: Option<&str>,
    prompt: Option<&str>,
    shape: Option<&str>,
) -> Result<Generate, AdminError> {
    let shape = match shape {
        None => ImageShape::Square,
        Some(name) => ImageShape::parse(name).ok_or_else(|| {
            AdminError::BadInput("The size is square, portrait or landscape.".to_owned())
        })?,
    };
    let ask = match prompt {
        None => DrawAsk::Scene { shape },
        Some(prompt) => DrawAsk::Prompt { prompt: checked_prompt(prompt)?, shape },
    };
    Ok(match respond(store, caller, persona).await? {
        Respond::Engine { persona, .. } => Generate::Engine { persona, ask },
        Respond::Declined(answer) => Generate::Declined(answer),
    })
}

/// Decides a video request by `caller` (`/generate video`): the member's `prompt`, in the shape
/// named `shape` (landscape when none), with `/bot respond`'s admission.
///
/// # Errors
/// As [`image`].
pub async fn video(
    store: &tomori_store::Store,
    caller: &Caller,
    persona: Option<&str>,
    prompt: &str,
    shape: Option<&str>,
) -> Result<Generate, AdminError> {
    let portrait = match shape {
        None | Some("landscape") => false,
        Some("portrait") => true,
        Some(_) => {
            return Err(AdminError::BadInput("The shape is landscape or portrait.".to_owned()));
        }
    };
    let prompt = bounded(prompt, MAX_VIDEO_PROMPT_CHARS, "video")?;
    let ask = DrawAsk::Film { prompt, portrait };
    Ok(match respond(store, caller, persona).await? {
        Respond::Engine { persona, .. } => Generate::Engine { persona, ask },
        Respond::Declined(answer) => Generate::Declined(answer),
    })
}

/// A member's description of a picture: trimmed, not empty, at most [`MAX_IMAGE_PROMPT_CHARS`].
fn checked_prompt(prompt: &str) -> Result<String, AdminError> {
    bounded(prompt, MAX_IMAGE_PROMPT_CHARS, "picture")
}

/// A member's description of a `what`: trimmed, not empty, at most `max` characters.
fn bounded(prompt: &str, max: usize, what: &str) -> Result<String, AdminError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(AdminError::BadInput(format!("The prompt is empty: describe the {what}.")));
    }
    let chars = prompt.chars().count();
    if chars > max {
        return Err(AdminError::BadInput(format!(
            "The prompt has {chars} characters; at most {max} are used."
        )));
    }
    Ok(prompt.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_trimmed_and_bounded() {
        let check = |prompt: &str, expected: Result<&str, &str>| {
            let got = checked_prompt(prompt);
            match (got, expected) {
                (Ok(text), Ok(want)) => assert_eq!(text, want),
                (Err(AdminError::BadInput(text)), Err(want)) => {
                    assert!(text.contains(want), "{prompt:?}: {text}");
                }
                (other, _) => panic!("{prompt:?}: {other:?}"),
            }
        };
        check("  a red fox  ", Ok("a red fox"));
        check(" \n ", Err("empty"));
        check(&"é".repeat(MAX_IMAGE_PROMPT_CHARS), Ok(&"é".repeat(MAX_IMAGE_PROMPT_CHARS)));
        check(&"x".repeat(MAX_IMAGE_PROMPT_CHARS + 1), Err("at most 4000"));
        let video =
            bounded(&"x".repeat(MAX_VIDEO_PROMPT_CHARS + 1), MAX_VIDEO_PROMPT_CHARS, "video");
        assert!(matches!(video, Err(AdminError::BadInput(text)) if text.contains("at most 2000")));
    }
}
