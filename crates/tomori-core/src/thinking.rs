//! How much a model should reason before answering (`/model thinking`): one level for the whole
//! server, which each wire format sends in its own field (tomori-llm's adapters) or not at all.

/// How much the model should reason before answering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ThinkingLevel {
    /// The provider's default; nothing is sent.
    #[default]
    Auto,
    /// Ask for no reasoning where the provider can turn it off.
    None,
    /// About 1,024 tokens of reasoning.
    Low,
    /// About 4,096 tokens.
    Medium,
    /// About 8,192 tokens.
    High,
}

impl ThinkingLevel {
    /// Every level, in order.
    pub const ALL: [Self; 5] = [Self::Auto, Self::None, Self::Low, Self::Medium, Self::High];

    /// The reasoning budget in tokens for providers that take a number (TomoriBot's budgets).
    #[must_use]
    pub fn budget_tokens(self) -> Option<u32> {
        match self {
            Self::Auto | Self::None => None,
            Self::Low => Some(1024),
            Self::Medium => Some(4096),
            Self::High => Some(8192),
        }
    }

    /// The effort word for providers that take one (`reasoning_effort`).
    #[must_use]
    pub fn effort(self) -> Option<&'static str> {
        match self {
            Self::Auto | Self::None => None,
            Self::Low => Some("low"),
            Self::Medium => Some("medium"),
            Self::High => Some("high"),
        }
    }

    /// Its stored and typed name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The level called `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.name().eq_ignore_ascii_case(name.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::ThinkingLevel;

    #[test]
    fn levels_round_trip_by_name_and_carry_tomoribots_budgets() {
        for level in ThinkingLevel::ALL {
            assert_eq!(ThinkingLevel::parse(level.name()), Some(level));
        }
        assert_eq!(ThinkingLevel::parse(" HIGH "), Some(ThinkingLevel::High));
        assert_eq!(ThinkingLevel::parse("max"), None);
        let budgets: Vec<Option<u32>> =
            ThinkingLevel::ALL.iter().map(|l| l.budget_tokens()).collect();
        assert_eq!(budgets, [None, None, Some(1024), Some(4096), Some(8192)]);
    }
}
