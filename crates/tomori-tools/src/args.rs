//! Checks on a call's arguments before any tool sees them: the shape the tool's schema declares,
//! and no raw Discord ids anywhere.
//!
//! The schema check covers what the built-in schemas use (an object, required properties,
//! top-level property types, `enum`, `additionalProperties: false`); tools still parse their
//! arguments into typed structs and fail on anything else.

use serde_json::Value;

/// Digits a Discord id has had since 2015 (and will have for centuries).
const SNOWFLAKE_DIGITS: std::ops::RangeInclusive<usize> = 15..=20;

/// Checks `args` against the top level of an object schema.
pub(crate) fn check_shape(schema: &Value, args: &Value) -> Result<(), String> {
    let Some(args) = args.as_object() else {
        return Err("the arguments must be a JSON object".to_owned());
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if args.get(name).is_none_or(Value::is_null) {
            return Err(format!("missing required argument {name:?}"));
        }
    }
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (name, value) in args {
        let Some(property) = properties.and_then(|p| p.get(name)) else {
            if closed {
                return Err(format!("unknown argument {name:?}"));
            }
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Some(kind) = property.get("type").and_then(Value::as_str) {
            let fits = match kind {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => true,
            };
            if !fits {
                return Err(format!("argument {name:?} must be of type {kind}"));
            }
        }
        if let Some(allowed) = property.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return Err(format!(
                "argument {name:?} must be one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    Ok(())
}

/// The path of the first argument that carries a raw Discord id: a string or number that is a
/// bare snowflake, or a mention (`<@id>`, `<@!id>`, `<#id>`, `<@&id>`) anywhere in a string.
pub(crate) fn find_raw_id(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => is_raw_id_text(text).then(|| path.to_owned()),
        Value::Number(number) => {
            let big = number.as_u64().is_some_and(|n| n >= 100_000_000_000_000)
                || number.as_f64().is_some_and(|n| n >= 1e14);
            big.then(|| path.to_owned())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_raw_id(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            find_raw_id(item, &path)
        }),
        Value::Null | Value::Bool(_) => None,
    }
}

fn is_raw_id_text(text: &str) -> bool {
    let trimmed = text.trim();
    if SNOWFLAKE_DIGITS.contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    // Mentions: `<@`, `<@!`, `<@&`, `<#`, then digits, then `>`.
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let body = after
            .strip_prefix("@!")
            .or_else(|| after.strip_prefix("@&"))
            .or_else(|| after.strip_prefix('@'))
            .or_else(|| after.strip_prefix('#'));
        if let Some(body) = body {
            let digits = body.bytes().take_while(u8::is_ascii_digit).count();
            if SNOWFLAKE_DIGITS.contains(&digits) && body.as_bytes().get(digits) == Some(&b'>') {
                return true;
            }
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "s": {"type": "string", "enum": ["a", "b"]},
                "n": {"type": "integer"},
            },
            "required": ["s"],
            "additionalProperties": false,
        });
        let check = |args: Value, expected: Result<(), &str>| {
            assert_eq!(check_shape(&schema, &args), expected.map_err(str::to_owned), "{args}");
        };
        check(json!({"s": "a"}), Ok(()));
        check(json!({"s": "b", "n": 3}), Ok(()));
        check(json!({"s": "a", "n": null}), Ok(()));
        check(json!([]), Err("the arguments must be a JSON object"));
        check(json!({}), Err("missing required argument \"s\""));
        check(json!({"s": null}), Err("missing required argument \"s\""));
        check(json!({"s": "c"}), Err("argument \"s\" must be one of [\"a\",\"b\"]"));
        check(json!({"s": "a", "n": 1.5}), Err("argument \"n\" must be of type integer"));
        check(json!({"s": "a", "n": "3"}), Err("argument \"n\" must be of type integer"));
        check(json!({"s": "a", "x": 1}), Err("unknown argument \"x\""));
    }

    #[test]
    fn raw_ids_are_found_anywhere() {
        let check = |args: Value, expected: Option<&str>| {
            assert_eq!(find_raw_id(&args, "").as_deref(), expected, "{args}");
        };
        check(json!({"message_id": "ref_3"}), None);
        check(json!({"message_id": "1234567890123456789"}), Some("message_id"));
        check(json!({"message_id": " 123456789012345678 "}), Some("message_id"));
        check(json!({"message_id": 1_234_567_890_123_456_789_u64}), Some("message_id"));
        check(json!({"x": {"y": ["ok", "<@123456789012345678>"]}}), Some("x.y[1]"));
        check(json!({"text": "ping <@!123456789012345678> now"}), Some("text"));
        check(json!({"text": "see <#123456789012345678>"}), Some("text"));
        check(json!({"text": "role <@&123456789012345678>"}), Some("text"));
        check(json!({"memory_id": 42, "offset": 50000}), None);
        check(json!({"url": "https://x.com/a/status/1234567890123456789"}), None);
        check(json!({"text": "<@abc> <# 1> <@12>"}), None);
        check(json!({"text": "a < b"}), None);
    }
}
