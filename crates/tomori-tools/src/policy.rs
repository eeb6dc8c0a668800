//! A tool's policy, as data: what must hold, in live state, before the gate lets a call run.
//!
//! Every tool declares one [`ToolPolicy`]; it has no `Default`, so a new tool spells out each
//! requirement (an empty permission set or "everywhere" is a visible choice in review, not an
//! omission). [`ToolPolicy::validate`] refuses policies that cannot be right, such as a
//! destructive tool with no target rule, and the registry runs it before it accepts a tool.

use serde_json::Value;
use tomori_core::settings::Feature;
use tomori_llm::ToolSpec;
pub use tomori_store::quotas::QuotaKind;

use crate::perm::Perms;
use crate::platform::ChannelKind;

/// Where a tool may run. Checked against the turn's place; an rp channel is a guild channel
/// that is also in the server's rp set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contexts {
    /// Guild channels.
    pub guild: bool,
    /// Direct messages.
    pub dm: bool,
    /// Role-play channels (guild channels in the `rp` set).
    pub rp_channel: bool,
}

impl Contexts {
    /// Guild channels, rp channels and DMs.
    pub const EVERYWHERE: Self = Self { guild: true, dm: true, rp_channel: true };
    /// Guild channels, rp channels included, but not DMs.
    pub const GUILD: Self = Self { guild: true, dm: false, rp_channel: true };
}

/// What a call does to the world, which decides what the policy must also say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Reads only (a web page, metadata).
    ReadOnly,
    /// Creates something new (a memory, a message, a thread).
    Creates,
    /// Changes or deletes something that exists: it must name its target through a
    /// [`TargetRule`].
    Destructive,
    /// Acts outside Tomori, in a way only the other side knows (an MCP server's tool): Tomori
    /// cannot name a target, and treats what comes back as untrusted.
    External,
}

/// Which existing thing a call acts on, and what the gate checks about it. Arguments named here
/// must be required by the tool's schema; the gate resolves them and hands the tool the result
/// in [`crate::Authorized::target`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetRule {
    /// The call acts on nothing that exists.
    None,
    /// Argument `arg` is a `ref_N` handle of a message the bot or one of its persona webhooks
    /// wrote.
    OwnMessage {
        /// The argument holding the handle.
        arg: &'static str,
    },
    /// Argument `arg` is a `ref_N` handle of a message in a channel that both the invoker and the
    /// bot can see.
    VisibleToInvokerAndBot {
        /// The argument holding the handle.
        arg: &'static str,
    },
    /// Argument `arg` names a channel of the turn's guild (`general`, `#general`, or
    /// `category/general` when names repeat) of one of `kinds`, which both the invoker and the
    /// bot can see. With `or_here`, the argument may be left out to mean the turn's own channel.
    /// A name that fits several channels is refused with their qualified names, so the model can
    /// ask which one was meant.
    Channel {
        /// The argument holding the name.
        arg: &'static str,
        /// Whether leaving the argument out means the turn's channel.
        or_here: bool,
        /// The kinds of channel the tool acts on.
        kinds: &'static [ChannelKind],
    },
    /// Argument `id_arg` is the id of a memory that this turn's context showed, in the scope that
    /// argument `scope_arg` names (`server` or `personal`).
    ShownMemory {
        /// The argument holding the memory id.
        id_arg: &'static str,
        /// The argument holding `server` or `personal`.
        scope_arg: &'static str,
    },
    /// Argument `id_arg` is the id of a record of this server (a reminder) that the invoker owns,
    /// or any record of it when the invoker has Manage Server. The gate checks the id's shape;
    /// the tool's store call checks ownership in the same transaction as the change, so nothing
    /// can change hands between the check and the write.
    OwnedByInvoker {
        /// The argument holding the record id.
        id_arg: &'static str,
    },
}

impl TargetRule {
    /// The arguments the rule reads, and whether the schema must require each.
    fn arguments(self) -> Vec<(&'static str, bool)> {
        match self {
            Self::None => Vec::new(),
            Self::OwnMessage { arg } | Self::VisibleToInvokerAndBot { arg } => vec![(arg, true)],
            Self::Channel { arg, or_here, .. } => vec![(arg, !or_here)],
            Self::OwnedByInvoker { id_arg } => vec![(id_arg, true)],
            Self::ShownMemory { id_arg, scope_arg } => vec![(id_arg, true), (scope_arg, true)],
        }
    }
}

/// Everything the gate checks before a call runs. `tool_use` is always required on top of
/// `feature`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolPolicy {
    /// The server feature flag the tool also needs, if any.
    pub feature: Option<Feature>,
    /// What the call does.
    pub effect: Effect,
    /// Permissions the bot needs in the turn's channel.
    pub bot_permissions: Perms,
    /// Permissions the invoking member needs in the turn's channel.
    pub invoker_permissions: Perms,
    /// Where the tool may run.
    pub contexts: Contexts,
    /// The quota a call draws on, if any; checked before and counted after a success.
    pub quota: Option<QuotaKind>,
    /// What the call acts on.
    pub target: TargetRule,
}

/// Why a policy cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `tool_use` is the master switch, always required; naming it hides a missing choice.
    #[error("tool_use is always required; name the tool's own feature flag or none")]
    ToolUseNamed,
    /// No context allows the tool.
    #[error("the tool is allowed in no context")]
    NoContext,
    /// A destructive tool must name what it acts on.
    #[error("a destructive tool needs a target rule")]
    DestructiveWithoutTarget,
    /// A target argument is not a (required) property of the schema.
    #[error("target argument {0:?} is not a required property of the schema")]
    TargetArgument(&'static str),
    /// A channel rule that allows no kind of channel.
    #[error("a channel target rule needs at least one kind of channel")]
    NoChannelKind,
}

impl ToolPolicy {
    /// A tool that only reads, and checks any handle it takes itself: no flag of its own, no
    /// permission, everywhere, no quota, no target rule.
    pub const fn read_only() -> Self {
        ToolPolicy {
            feature: None,
            effect: Effect::ReadOnly,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::None,
        }
    }

    /// Checks the policy against the tool's schema.
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn validate(&self, spec: &ToolSpec) -> Result<(), PolicyError> {
        if self.feature == Some(Feature::ToolUse) {
            return Err(PolicyError::ToolUseNamed);
        }
        let Contexts { guild, dm, rp_channel } = self.contexts;
        if !(guild || dm || rp_channel) {
            return Err(PolicyError::NoContext);
        }
        if self.effect == Effect::Destructive && self.target == TargetRule::None {
            return Err(PolicyError::DestructiveWithoutTarget);
        }
        let required: Vec<&str> = spec
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let properties = spec.parameters.get("properties").and_then(Value::as_object);
        if let TargetRule::Channel { kinds: [], .. } = self.target {
            return Err(PolicyError::NoChannelKind);
        }
        for (arg, must_require) in self.target.arguments() {
            let declared = properties.is_some_and(|p| p.contains_key(arg));
            if !declared || (must_require && !required.contains(&arg)) {
                return Err(PolicyError::TargetArgument(arg));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn impossible_policies_are_refused() {
        let spec = ToolSpec::new(
            "t",
            "",
            json!({"type": "object", "properties": {"m": {"type": "string"}, "o": {"type": "string"}}, "required": ["m"]}),
        )
        .expect("a valid spec");
        let base = ToolPolicy {
            feature: None,
            effect: Effect::Destructive,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::OwnMessage { arg: "m" },
        };
        let check = |change: fn(&mut ToolPolicy), expected: Result<(), PolicyError>| {
            let mut policy = base;
            change(&mut policy);
            assert_eq!(policy.validate(&spec), expected, "{policy:?}");
        };
        check(|_| {}, Ok(()));
        check(|p| p.feature = Some(Feature::ToolUse), Err(PolicyError::ToolUseNamed));
        check(
            |p| p.contexts = Contexts { guild: false, dm: false, rp_channel: false },
            Err(PolicyError::NoContext),
        );
        check(|p| p.target = TargetRule::None, Err(PolicyError::DestructiveWithoutTarget));
        check(
            |p| {
                p.effect = Effect::Creates;
                p.target = TargetRule::None;
            },
            Ok(()),
        );
        check(
            |p| p.target = TargetRule::OwnMessage { arg: "o" },
            Err(PolicyError::TargetArgument("o")),
        );
        check(
            |p| p.target = TargetRule::VisibleToInvokerAndBot { arg: "x" },
            Err(PolicyError::TargetArgument("x")),
        );
        const TEXT: &[ChannelKind] = &[ChannelKind::Text];
        check(|p| p.target = TargetRule::Channel { arg: "m", or_here: false, kinds: TEXT }, Ok(()));
        check(|p| p.target = TargetRule::Channel { arg: "o", or_here: true, kinds: TEXT }, Ok(()));
        check(
            |p| p.target = TargetRule::Channel { arg: "o", or_here: false, kinds: TEXT },
            Err(PolicyError::TargetArgument("o")),
        );
        check(
            |p| p.target = TargetRule::Channel { arg: "x", or_here: true, kinds: TEXT },
            Err(PolicyError::TargetArgument("x")),
        );
        check(
            |p| p.target = TargetRule::Channel { arg: "m", or_here: false, kinds: &[] },
            Err(PolicyError::NoChannelKind),
        );
    }
}
