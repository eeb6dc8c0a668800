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
    /// Argument `id_arg` is the id of a memory that this turn's context showed, in the scope that
    /// argument `scope_arg` names (`server` or `personal`).
    ShownMemory {
        /// The argument holding the memory id.
        id_arg: &'static str,
        /// The argument holding `server` or `personal`.
        scope_arg: &'static str,
    },
}

impl TargetRule {
    fn arguments(self) -> Vec<&'static str> {
        match self {
            Self::None => Vec::new(),
            Self::OwnMessage { arg } | Self::VisibleToInvokerAndBot { arg } => vec![arg],
            Self::ShownMemory { id_arg, scope_arg } => vec![id_arg, scope_arg],
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
    /// A target argument is not a required property of the schema.
    #[error("target argument {0:?} is not a required property of the schema")]
    TargetArgument(&'static str),
}

impl ToolPolicy {
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
        for arg in self.target.arguments() {
            let declared = properties.is_some_and(|p| p.contains_key(arg));
            if !declared || !required.contains(&arg) {
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
    }
}
