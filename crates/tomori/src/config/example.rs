//! `config/example.toml`, generated from the config types' doc comments and defaults, so the
//! example cannot drift from what the loader accepts (a test compares the two).

use std::fmt::Write as _;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use super::Config;

/// Renders the example configuration.
pub(crate) fn render() -> String {
    let schema = SchemaSettings::draft07()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<Config>();
    let root = schema.as_value();
    let mut out = String::from(
        "# Tomori configuration: every key with its default.\n\
         # Generated from the config types (crates/tomori/src/config.rs); do not edit by hand,\n\
         # run `cargo test -p tomori example_config` to refresh it.\n\
         #\n\
         # Precedence, lowest first: built-in defaults < this file (--config PATH, TOMORI_CONFIG,\n\
         # or ./tomori.toml) < environment variables TOMORI_<SECTION>__<KEY> (and DATABASE_URL).\n\
         # Unknown keys are errors. The key ring comes from TOMORI_SECRET_V1, TOMORI_SECRET_V2, ...\n",
    );
    let empty = Map::new();
    let properties = root.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let mut sections = Vec::new();
    for (key, property) in properties {
        if property.get("properties").is_some() || property.get("x-example").is_some() {
            sections.push((key, property));
        } else {
            out.push('\n');
            write_key(&mut out, key, property);
        }
    }
    for (name, section) in sections {
        out.push('\n');
        write_comment(&mut out, section);
        if let Some(example) = section.get("x-example").and_then(Value::as_object) {
            let every = section
                .get("additionalProperties")
                .and_then(|v| v.get("properties"))
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (entry, fields) in example {
                let fields = fields.as_object().unwrap_or(&empty);
                // A key that is not a bare TOML key ("openai/gpt-4o") is written quoted.
                let bare =
                    entry.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                let entry = if bare { entry.clone() } else { format!("{entry:?}") };
                let _ = writeln!(out, "# [{name}.{entry}]");
                for (field, value) in fields {
                    let _ = writeln!(out, "# {field} = {}", toml_value(value));
                }
                // Every other key an entry takes, with its meaning and default, commented out.
                for (field, property) in every.iter().filter(|(f, _)| !fields.contains_key(*f)) {
                    write_comment(&mut out, property);
                    match property.get("default") {
                        Some(Value::Null) | None => {
                            let _ = writeln!(out, "# {field} =");
                        }
                        Some(value) => {
                            let _ = writeln!(out, "# {field} = {}", toml_value(value));
                        }
                    }
                }
            }
            continue;
        }
        let _ = writeln!(out, "[{name}]");
        for (key, property) in
            section.get("properties").and_then(Value::as_object).unwrap_or(&empty)
        {
            write_key(&mut out, key, property);
        }
    }
    out
}

fn write_comment(out: &mut String, property: &Value) {
    if let Some(text) = property.get("description").and_then(Value::as_str) {
        for line in text.lines() {
            let _ = writeln!(out, "{}", format!("# {line}").trim_end());
        }
    }
}

fn write_key(out: &mut String, key: &str, property: &Value) {
    write_comment(out, property);
    match property.get("default") {
        Some(Value::Null) | None => {
            let _ = writeln!(out, "# {key} =");
        }
        Some(value) => {
            let _ = writeln!(out, "{key} = {}", toml_value(value));
        }
    }
}

fn toml_value(value: &Value) -> String {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(table)) if table.is_empty() => "{}".to_owned(),
        Ok(value) => value.to_string(),
        Err(_) => value.to_string(),
    }
}
