//! What the config types expect where, read from their JSON schema: which keys hold strings (so
//! that `TOMORI_PROVIDERS__X__API_KEY=12345` stays the string "12345"), and which key an unknown
//! one was probably meant to be.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::Config;

fn root() -> Value {
    SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<Config>()
        .to_value()
}

/// Whether the key at `path` (`["providers", "local", "api_key"]`) takes a string. Map keys
/// (provider names) are matched by the map's value schema.
pub(crate) fn expects_string(path: &[&str]) -> bool {
    let root = root();
    let mut node = &root;
    for segment in path {
        let next = node
            .get("properties")
            .and_then(|p| p.get(*segment))
            .or_else(|| node.get("additionalProperties").filter(|v| v.is_object()));
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    takes_string(node)
}

fn takes_string(node: &Value) -> bool {
    let named = |t: &Value| t.as_str() == Some("string");
    match node.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(named),
        _ => ["anyOf", "oneOf"].iter().any(|k| {
            node.get(*k).and_then(Value::as_array).is_some_and(|alts| alts.iter().any(takes_string))
        }),
    }
}

/// The expected name closest to `unknown`, when it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(unknown: &str, expected: &[&'a str]) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).clamp(2, 3);
    expected
        .iter()
        .map(|name| (edit_distance(unknown, name), *name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(current).min(row[j]) };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_keys_are_known_from_the_schema() {
        for (path, string) in [
            (&["providers", "anything", "api_key"][..], true),
            (&["providers", "anything", "model"], true),
            (&["discord", "token"], true),
            (&["database", "url"], true),
            (&["database", "max_connections"], false),
            (&["secrets", "current_version"], false),
            (&["no", "such"], false),
        ] {
            assert_eq!(expects_string(path), string, "{path:?}");
        }
    }

    #[test]
    fn a_near_miss_is_suggested_and_a_stranger_is_not() {
        let expected = ["token", "api_base", "gateway_url", "shards"];
        for (unknown, suggestion) in [
            ("tokn", Some("token")),
            ("tokne", Some("token")),
            ("gateway_ur", Some("gateway_url")),
            ("shard", Some("shards")),
            ("colour", None),
            ("x", None),
        ] {
            assert_eq!(did_you_mean(unknown, &expected), suggestion, "{unknown}");
        }
    }
}
