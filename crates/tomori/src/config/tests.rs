use std::io::Write as _;

use secrecy::ExposeSecret;

use super::*;

fn write_file(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::new(text)
}

/// A small temporary file helper, so the tests need no extra crate.
mod tempfile_path {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    pub(super) struct TempFile(PathBuf);

    impl TempFile {
        pub(super) fn new(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "tomori-config-{}-{}.toml",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn load_with(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = file.map(write_file);
    load(file.as_ref().map(|f| f.path()), &Environment::from_pairs(env)).map(|loaded| loaded.config)
}

#[test]
fn defaults_apply_without_a_file() {
    let config = load_with(None, &[]).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("data"));
    assert_eq!(config.database.max_connections, 10);
    assert_eq!(config.net.mode, NetMode::Production);
    assert!(!config.net.allow_private_networks);
    assert_eq!(config.limits.personas_per_server, 20);
    assert_eq!(config.limits.memory_chars, 1000);
    assert!(config.discord.token.is_none());
}

#[test]
fn environment_overrides_the_file_which_overrides_defaults() {
    let file = "data_dir = \"/srv/tomori\"\n[database]\nmax_connections = 4\n[limits]\nmemory_chars = 500\n";
    let config = load_with(Some(file), &[("TOMORI_DATABASE__MAX_CONNECTIONS", "7")]).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/srv/tomori"));
    assert_eq!(config.database.max_connections, 7);
    assert_eq!(config.limits.memory_chars, 500);
    assert_eq!(config.limits.personas_per_server, 20);
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let err = load_with(Some("[discord]\ntokn = \"x\"\n"), &[]).unwrap_err().to_string();
    assert!(err.contains("tokn") && err.contains("did you mean `token`?"), "{err}");
    let err =
        load_with(None, &[("TOMORI_NET__ALOW_PRIVATE_NETWORKS", "true")]).unwrap_err().to_string();
    assert!(err.contains("alow_private_networks"), "{err}");
    assert!(err.contains("environment"), "{err}");
    assert!(err.contains("did you mean `allow_private_networks`?"), "{err}");
    let err = load_with(Some("colour = 1\n"), &[]).unwrap_err().to_string();
    assert!(err.contains("colour") && !err.contains("did you mean"), "{err}");
}

#[test]
fn environment_values_for_string_keys_stay_strings() {
    let file =
        "[providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";
    let config = load_with(
        Some(file),
        &[
            ("TOMORI_PROVIDERS__LOCAL__API_KEY", "1234567890"),
            ("TOMORI_PROVIDERS__LOCAL__MODEL", "2024"),
            ("TOMORI_DATABASE__MAX_CONNECTIONS", "3"),
        ],
    )
    .unwrap();
    let local = &config.providers["local"];
    assert_eq!(local.api_key.as_ref().unwrap().expose_secret(), "1234567890");
    assert_eq!(local.model, "2024");
    assert_eq!(config.database.max_connections, 3);
}

#[test]
fn malformed_values_get_one_clear_line() {
    let err =
        load_with(Some("[database]\nmax_connections = \"many\"\n"), &[]).unwrap_err().to_string();
    assert!(err.contains("max_connections"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    let err = load_with(Some("[discord\n"), &[]).unwrap_err().to_string();
    assert!(!err.is_empty());
    let err = load_with(Some("[database]\nmax_connections = 0\n"), &[]).unwrap_err().to_string();
    assert_eq!(err, "database.max_connections: must be at least 1");
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let missing = PathBuf::from("/nonexistent/tomori.toml");
    let err = load(Some(&missing), &Environment::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing(_)));
    let err = load(None, &Environment::from_pairs(&[("TOMORI_CONFIG", "/nonexistent/x.toml")]))
        .unwrap_err();
    assert!(matches!(err, ConfigError::Missing(_)));
}

#[test]
fn instance_providers_take_the_documented_shape() {
    let file = r#"
[providers.local]
kind = "openai-compatible"
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.1"
api_key = "sk-local"

[providers.claude]
kind = "anthropic"
model = "claude-sonnet"
"#;
    let config = load_with(Some(file), &[("TOMORI_PROVIDERS__LOCAL__MODEL", "qwen3")]).unwrap();
    let local = &config.providers["local"];
    assert_eq!(local.kind, ProviderKind::OpenaiCompatible);
    assert_eq!(local.model, "qwen3");
    assert_eq!(local.api_key.as_ref().unwrap().expose_secret(), "sk-local");
    assert_eq!(config.providers["claude"].kind, ProviderKind::Anthropic);
}

#[test]
fn operator_providers_may_be_local_but_never_cloud_metadata() {
    let provider = |url: &str| {
        format!(
            "[providers.x]\nkind = \"openai-compatible\"\nmodel = \"m\"\nbase_url = \"{url}\"\n"
        )
    };
    for ok in [
        "http://127.0.0.1:11434/v1",
        "http://10.0.0.5:8000/v1",
        "http://localhost:1234/v1",
        "https://openrouter.ai/api/v1",
    ] {
        load_with(Some(&provider(ok)), &[]).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "http://169.254.169.254/latest",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://user:pw@127.0.0.1/",
    ] {
        let err = load_with(Some(&provider(bad)), &[]).unwrap_err().to_string();
        assert!(err.starts_with("providers.x.base_url:"), "{bad}: {err}");
    }
    let err = load_with(Some("[providers.x]\nkind = \"openai-compatible\"\nmodel = \"m\"\n"), &[])
        .unwrap_err();
    assert!(err.to_string().contains("need a base_url"), "{err}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let file = "[discord]\ntoken = \"MTIz.abc.SECRET-TOKEN-VALUE\"\n[providers.p]\nkind = \"gemini\"\nmodel = \"m\"\napi_key = \"SECRET-API-KEY\"\n";
    let config =
        load_with(Some(file), &[("DATABASE_URL", "postgres://u:SECRET-DB-PASSWORD@db/x")]).unwrap();
    let shown = format!("{config:?}");
    for secret in ["SECRET-TOKEN-VALUE", "SECRET-API-KEY", "SECRET-DB-PASSWORD"] {
        assert!(!shown.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(shown.contains("REDACTED"));
}

#[test]
fn the_key_ring_variables_are_not_config_keys() {
    let config = load_with(
        None,
        &[("TOMORI_SECRET_V1", "x".repeat(40).as_str()), ("TOMORI_CONFIG_UNUSED", "")],
    );
    // TOMORI_CONFIG_UNUSED is an unknown key: the loader does not silently drop TOMORI_* typos.
    assert!(config.is_err());
    load_with(None, &[("TOMORI_SECRET_V1", "x".repeat(40).as_str())]).unwrap();
}

#[test]
fn example_config_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml");
    let expected = example::render();
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(expected.as_bytes()).unwrap();
        panic!("config/example.toml was stale and has been rewritten; review and commit it");
    }
    // The example parses, and what it sets equals the defaults.
    let parsed = load_with(Some(&expected), &[]).unwrap();
    assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
}

#[test]
fn shard_ranges_are_checked() {
    let ok = "[discord.shards]\nfirst = 0\nlast = 3\ntotal = 8\n";
    let config = load_with(Some(ok), &[]).unwrap();
    assert_eq!(config.discord.shards.map(|s| (s.first, s.last, s.total)), Some((0, 3, 8)));
    for bad in [
        "[discord.shards]\nfirst = 4\nlast = 3\ntotal = 8\n",
        "[discord.shards]\nfirst = 0\nlast = 8\ntotal = 8\n",
    ] {
        let err = load_with(Some(bad), &[]).unwrap_err().to_string();
        assert!(err.starts_with("discord.shards:"), "{err}");
    }
}

#[test]
fn mcp_servers_are_read_and_checked() {
    let ok = "[mcp.files]\ncommand = \"npx\"\nargs = [\"-y\", \"server\"]\nenv = { API_KEY = \"k-1\" }\n\n[mcp.off]\ncommand = \"x\"\nenabled = false\n";
    let config = load_with(Some(ok), &[]).unwrap();
    let files = &config.mcp["files"];
    assert_eq!((files.command.as_str(), files.args.len(), files.enabled), ("npx", 2, true));
    assert_eq!(files.env["API_KEY"].expose_secret(), "k-1");
    assert!(!format!("{config:?}").contains("k-1"), "env values stay out of Debug output");
    assert!(!config.mcp["off"].enabled);
    for (bad, key) in [
        ("[mcp.Files]\ncommand = \"npx\"\n", "mcp.Files:"),
        ("[mcp.files]\ncommand = \" \"\n", "mcp.files.command:"),
        ("[mcp.files]\ncommand = \"npx\"\nenv = { \"A=B\" = \"x\" }\n", "mcp.files.env:"),
    ] {
        let err = load_with(Some(bad), &[]).unwrap_err().to_string();
        assert!(err.starts_with(key), "{bad}: {err}");
    }
    let unknown = load_with(Some("[mcp.files]\ncommand = \"npx\"\nshell = true\n"), &[]);
    assert!(unknown.unwrap_err().to_string().contains("shell"));
}

#[test]
fn tool_test_loopback_takes_loopback_addresses_only() {
    let ok = "[net]\ntool_test_loopback = [\"127.0.0.5\", \"::1\"]\n";
    assert_eq!(load_with(Some(ok), &[]).unwrap().net.tool_test_loopback.len(), 2);
    for bad in ["10.0.0.1", "169.254.169.254", "93.184.216.34"] {
        let text = format!("[net]\ntool_test_loopback = [\"{bad}\"]\n");
        let err = load_with(Some(&text), &[]).unwrap_err().to_string();
        assert!(err.starts_with("net.tool_test_loopback:"), "{err}");
    }
}

#[test]
fn the_web_listener_defaults_to_loopback_and_turns_off_when_empty() {
    let config = load_with(None, &[]).unwrap();
    assert_eq!(config.web.address(), Some("127.0.0.1:9100"));
    let ip: std::net::SocketAddr = config.web.address().unwrap().parse().unwrap();
    assert!(ip.ip().is_loopback(), "the default exposes nothing beyond this machine");
    let off = load_with(Some("[web]\nlisten = \"\"\n"), &[]).unwrap();
    assert_eq!(off.web.address(), None);
    let moved = load_with(None, &[("TOMORI_WEB__LISTEN", "0.0.0.0:9200")]).unwrap();
    assert_eq!(moved.web.address(), Some("0.0.0.0:9200"));
    for bad in ["localhost:9100", "127.0.0.1", "127.0.0.1:http"] {
        let text = format!("[web]\nlisten = \"{bad}\"\n");
        let err = load_with(Some(&text), &[]).unwrap_err().to_string();
        assert!(err.starts_with("web.listen:"), "{err}");
    }
}

#[test]
fn prices_extend_the_built_in_table_and_refuse_negative_rates() {
    let file = "[prices.\"custom:local/*\"]\ninput_per_mtok = 0.0\noutput_per_mtok = 0.0\n\
                [prices.\"openai/gpt-4o\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n";
    let table = load_with(Some(file), &[]).unwrap().price_table();
    let (_, local, _) = table.lookup("custom:local", "llama3.1").unwrap();
    assert_eq!(local.cost(1_000_000, 1_000_000), 0.0);
    let (_, gpt, _) = table.lookup("openai", "gpt-4o").unwrap();
    assert!((gpt.input_per_mtok - 1.0).abs() < f64::EPSILON, "the operator's price wins");
    assert!(table.lookup("openai", "gpt-4o-mini").is_some(), "the built-in prices stay");
    let bad = "[prices.\"openai/gpt-4o\"]\ninput_per_mtok = -1.0\noutput_per_mtok = 2.0\n";
    let err = load_with(Some(bad), &[]).unwrap_err().to_string();
    assert!(err.starts_with("prices.openai/gpt-4o:"), "{err}");
}
