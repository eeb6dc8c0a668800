//! Reading a (sub)command's options, and the input it refuses.

use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};

use super::Failure;
use crate::id::snowflake;
use tomori_core::id::Snowflake;

/// Input the command refuses, with the sentence the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadInput(pub(crate) String);

impl BadInput {
    pub(crate) fn unknown() -> Self {
        Self(
            "I don't know that command; it may have changed since Discord last showed it to you."
                .to_owned(),
        )
    }
}

/// A (sub)command's options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Args<'a>(pub(crate) &'a [CommandDataOption]);

impl<'a> Args<'a> {
    /// The subcommand or subcommand group used, and its options.
    pub(crate) fn nested(self) -> Result<(&'a str, Args<'a>), BadInput> {
        self.0
            .iter()
            .find_map(|option| match &option.value {
                CommandOptionValue::SubCommand(inner)
                | CommandOptionValue::SubCommandGroup(inner) => {
                    Some((option.name.as_str(), Args(inner)))
                }
                _ => None,
            })
            .ok_or_else(BadInput::unknown)
    }

    /// The option being typed in an autocomplete request, and what was typed so far.
    pub(crate) fn focused(self) -> Option<(&'a str, &'a str)> {
        self.0.iter().find_map(|option| match &option.value {
            CommandOptionValue::Focused(typed, _) => Some((option.name.as_str(), typed.as_str())),
            CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
                Args(inner).focused()
            }
            _ => None,
        })
    }

    pub(crate) fn value(self, name: &str) -> Option<&'a CommandOptionValue> {
        self.0.iter().find(|option| option.name == name).map(|option| &option.value)
    }

    pub(crate) fn wrong(name: &str) -> BadInput {
        BadInput(format!("The option `{name}` has the wrong type; the command may have changed."))
    }

    pub(crate) fn missing(name: &str) -> BadInput {
        BadInput(format!("The option `{name}` is required."))
    }

    pub(crate) fn string(self, name: &str) -> Result<Option<&'a str>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::String(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn required_string(self, name: &str) -> Result<&'a str, BadInput> {
        self.string(name)?.ok_or_else(|| Self::missing(name))
    }

    pub(crate) fn integer(self, name: &str) -> Result<Option<i64>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Integer(number)) => Ok(Some(*number)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn required_integer(self, name: &str) -> Result<i64, BadInput> {
        self.integer(name)?.ok_or_else(|| Self::missing(name))
    }

    pub(crate) fn boolean(self, name: &str) -> Result<Option<bool>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Boolean(value)) => Ok(Some(*value)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    /// A role or user option (both arrive as ids), required.
    pub(crate) fn mentionable(self, name: &str) -> Result<Snowflake, BadInput> {
        match self.value(name) {
            None => Err(Self::missing(name)),
            Some(CommandOptionValue::Role(id)) => snowflake(*id).map_err(|_| Self::wrong(name)),
            Some(CommandOptionValue::User(id)) => snowflake(*id).map_err(|_| Self::wrong(name)),
            Some(_) => Err(Self::wrong(name)),
        }
    }

    pub(crate) fn channel(self, name: &str) -> Result<Option<Snowflake>, BadInput> {
        match self.value(name) {
            None => Ok(None),
            Some(CommandOptionValue::Channel(id)) => {
                snowflake(*id).map(Some).map_err(|_| Self::wrong(name))
            }
            Some(_) => Err(Self::wrong(name)),
        }
    }
}

/// A string option's text, trimmed and not empty.
pub(crate) fn non_empty<'a>(text: &'a str, what: &str) -> Result<&'a str, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::BadInput(format!("The {what} is empty.")));
    }
    Ok(text)
}
