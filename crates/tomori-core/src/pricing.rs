//! What a model's tokens cost (`/tool estimate`): a built-in table of list prices, which the
//! operator may extend or override (`[prices."provider/model"]` in the config file).
//!
//! Keys are `provider/model` as a server names its model (`openai/gpt-4o-mini`), or a model id
//! that already names its vendor as OpenRouter's do; a key ending in `*` covers every model id
//! that starts with the rest (`anthropic/claude-sonnet-4*`). An exact key wins over a pattern,
//! and a longer pattern over a shorter one.

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Per million input (prompt) tokens.
    pub input_per_mtok: f64,
    /// Per million output tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// What `input` and `output` tokens cost, in US dollars.
    #[must_use]
    pub fn cost(self, input: usize, output: usize) -> f64 {
        let per = |tokens: usize, rate: f64| {
            f64::from(u32::try_from(tokens).unwrap_or(u32::MAX)) * rate / 1e6
        };
        per(input, self.input_per_mtok) + per(output, self.output_per_mtok)
    }

    /// Whether both rates are finite and not negative (a configured price must be).
    #[must_use]
    pub fn is_valid(self) -> bool {
        [self.input_per_mtok, self.output_per_mtok].iter().all(|r| r.is_finite() && *r >= 0.0)
    }
}

/// Where a price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The built-in list price.
    BuiltIn,
    /// The operator's `[prices]`.
    Operator,
}

/// The built-in list prices (USD per million tokens, input then output), as the providers
/// publish them for their standard tier; the operator's `[prices]` replaces any of them.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("openai/gpt-4o", 2.50, 10.00),
    ("openai/gpt-4o-mini", 0.15, 0.60),
    ("openai/gpt-4.1", 2.00, 8.00),
    ("openai/gpt-4.1-mini", 0.40, 1.60),
    ("openai/gpt-4.1-nano", 0.10, 0.40),
    ("openai/o3-mini", 1.10, 4.40),
    ("anthropic/claude-opus-4*", 15.00, 75.00),
    ("anthropic/claude-sonnet-4*", 3.00, 15.00),
    ("anthropic/claude-3-7-sonnet*", 3.00, 15.00),
    ("anthropic/claude-3-5-sonnet*", 3.00, 15.00),
    ("anthropic/claude-3-5-haiku*", 0.80, 4.00),
    ("google/gemini-2.5-pro*", 1.25, 10.00),
    ("google/gemini-2.5-flash-lite*", 0.10, 0.40),
    ("google/gemini-2.5-flash*", 0.30, 2.50),
    ("google/gemini-2.0-flash-lite*", 0.075, 0.30),
    ("google/gemini-2.0-flash*", 0.10, 0.40),
    ("deepseek/deepseek-chat", 0.27, 1.10),
    ("deepseek/deepseek-reasoner", 0.55, 2.19),
];

/// The prices a bot knows.
#[derive(Debug, Clone)]
pub struct PriceTable {
    entries: Vec<(String, Price, PriceSource)>,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::built_in()
    }
}

impl PriceTable {
    /// The built-in list prices.
    #[must_use]
    pub fn built_in() -> Self {
        let entries = BUILT_IN
            .iter()
            .map(|(key, input, output)| {
                let price = Price { input_per_mtok: *input, output_per_mtok: *output };
                ((*key).to_owned(), price, PriceSource::BuiltIn)
            })
            .collect();
        Self { entries }
    }

    /// The table with the operator's price for `key`, replacing a built-in one.
    #[must_use]
    pub fn with(mut self, key: &str, price: Price) -> Self {
        let key = key.trim().to_lowercase();
        self.entries.retain(|(k, _, _)| *k != key);
        self.entries.push((key, price, PriceSource::Operator));
        self
    }

    /// The price of `model` of `provider`, with the key that matched and where it came from.
    #[must_use]
    pub fn lookup(&self, provider: &str, model: &str) -> Option<(&str, Price, PriceSource)> {
        let full = format!("{provider}/{model}").to_lowercase();
        let bare = model.to_lowercase();
        let names = [full.as_str(), bare.as_str()];
        let exact =
            names.iter().find_map(|name| self.entries.iter().find(|(key, _, _)| key == name));
        let found = exact.or_else(|| {
            self.entries
                .iter()
                .filter(|(key, _, _)| {
                    key.strip_suffix('*')
                        .is_some_and(|stem| names.iter().any(|n| n.starts_with(stem)))
                })
                .max_by_key(|(key, _, _)| key.len())
        });
        found.map(|(key, price, source)| (key.as_str(), *price, *source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_found_by_provider_model_vendor_ids_and_patterns() {
        let table = PriceTable::built_in();
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("openai", "gpt-4o-mini", Some("openai/gpt-4o-mini")),
            ("openai", "gpt-4o", Some("openai/gpt-4o")),
            ("openrouter", "openai/gpt-4o-mini", Some("openai/gpt-4o-mini")),
            ("anthropic", "claude-sonnet-4-20250514", Some("anthropic/claude-sonnet-4*")),
            ("google", "gemini-2.5-flash-lite-preview", Some("google/gemini-2.5-flash-lite*")),
            ("google", "gemini-2.5-flash", Some("google/gemini-2.5-flash*")),
            ("custom:local", "llama3.1", None),
            ("openai", "gpt-4o-mini-tts", None),
        ];
        for (provider, model, key) in cases {
            assert_eq!(table.lookup(provider, model).map(|f| f.0), *key, "{provider}/{model}");
        }
    }

    #[test]
    fn the_operator_overrides_and_extends_the_table() {
        let local = Price { input_per_mtok: 0.0, output_per_mtok: 0.0 };
        let cheaper = Price { input_per_mtok: 0.1, output_per_mtok: 0.2 };
        let table = PriceTable::built_in()
            .with("custom:local/llama3.1", local)
            .with("OpenAI/GPT-4o", cheaper);
        let (_, price, source) = table.lookup("custom:local", "llama3.1").unwrap();
        assert_eq!((price, source), (local, PriceSource::Operator));
        let (_, price, source) = table.lookup("openai", "gpt-4o").unwrap();
        assert_eq!((price, source), (cheaper, PriceSource::Operator));
    }

    #[test]
    fn a_cost_is_tokens_times_rate() {
        let price = Price { input_per_mtok: 2.5, output_per_mtok: 10.0 };
        assert!((price.cost(1_000_000, 0) - 2.5).abs() < 1e-9);
        assert!((price.cost(10_000, 1_000) - 0.035).abs() < 1e-9);
        assert!(price.is_valid());
        assert!(!Price { input_per_mtok: -1.0, output_per_mtok: 0.0 }.is_valid());
        assert!(!Price { input_per_mtok: f64::NAN, output_per_mtok: 0.0 }.is_valid());
    }
}
