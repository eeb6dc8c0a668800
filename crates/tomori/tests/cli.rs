//! The `tomori` binary as an operator uses it: exit codes and the one line it prints.
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secrecy::ExposeSecret;
use tomori_testkit::{TEST_SECRET_V1, TEST_SECRET_V2, TestDb};

const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tomori-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `tomori` in `dir` with a clean environment plus `env`.
fn tomori(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tomori"));
    command.args(args).current_dir(dir).env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn run_without_a_token_says_how_to_get_one_and_exits_2() {
    let dir = Dir::new("notoken");
    let out = tomori(&dir.0, &["run"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("discord.com/developers"), "{}", stdout(&out));
    assert!(!dir.0.join("data").exists(), "nothing is created before the token is known");
}

#[test]
fn version_names_the_crate_version_and_the_git_revision() {
    let dir = Dir::new("version");
    let out = tomori(&dir.0, &["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let expected = format!("tomori {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected) && text.trim_end().ends_with(')'), "{text}");
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(revision) = revision {
        assert!(text.contains(&format!("({revision})")), "{text} should name {revision}");
    }
}

#[test]
fn a_malformed_config_is_one_clear_line() {
    let dir = Dir::new("badconfig");
    std::fs::write(dir.0.join("tomori.toml"), "[discord]\ntokn = 1\n").unwrap();
    let out = tomori(&dir.0, &["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("tokn") && err.contains("tomori.toml"), "{err}");

    let out = tomori(&dir.0, &["--config", "/nonexistent.toml", "doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn doctor_on_a_fresh_checkout_passes_and_creates_nothing() {
    tomori_testkit::init();
    let dir = Dir::new("doctor");
    // A token of another shape is a warning (Discord-compatible servers issue such tokens).
    let out = tomori(&dir.0, &["doctor"], &[("TOMORI_DISCORD__TOKEN", "not-a-token")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("does not look like a Discord bot token"), "{text}");
    for check in ["config", "key ring", "database", "discord"] {
        assert!(
            text.lines().any(|l| l.starts_with("ok") && l.contains(check)),
            "{check} missing:\n{text}"
        );
    }
    assert!(text.contains("none yet") && text.contains("data/postgres"), "{text}");
    assert!(!dir.0.join("data").exists(), "doctor creates no database");

    // Keys and audit commands run from a folder without a database say where they looked.
    for command in [&["keys", "audit"][..], &["audit", "verify"]] {
        let out = tomori(&dir.0, command, &[("TOMORI_SECRET_V1", TEST_SECRET_V1)]);
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        let err = stderr(&out);
        assert!(err.contains("no Tomori database at") && err.contains("data/postgres"), "{err}");
        assert!(!dir.0.join("data").exists(), "{command:?} creates no database");
    }

    // Once `migrate` has created it, doctor starts the embedded server and stops it again.
    let out = tomori(&dir.0, &["migrate"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("applied 0001 core"), "one line per migration: {}", stdout(&out));
    let steps = stderr(&out).lines().filter(|l| l.starts_with("migrating: ")).count();
    let migrations =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations"))
            .unwrap()
            .count();
    assert_eq!(steps, migrations, "a progress line per migration: {}", stderr(&out));
    let out = tomori(&dir.0, &["doctor"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("embedded PostgreSQL"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ok") && l.contains("migrations")), "{text}");
    assert!(!dir.0.join("data/postgres/data/postmaster.pid").exists());
}

#[test]
fn a_database_url_that_is_down_is_one_line() {
    let dir = Dir::new("down");
    let out =
        tomori(&dir.0, &["migrate"], &[("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: connecting to DATABASE_URL"), "{err}");
    assert!(!err.contains("panicked"));
}

#[tokio::test]
async fn keys_and_audit_commands_work_on_an_existing_database() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let guild = store.resolve_guild(tomori_core::id::Snowflake::new(1).unwrap()).await.unwrap();
    let key = secrecy::SecretString::from("sk-test".to_owned());
    let actor = tomori_store::audit::Actor::Operator;
    tomori_store::credentials::add(
        &store,
        tomori_store::Scope::server(guild),
        actor,
        tomori_store::credentials::KeyOwner::Server,
        "openai",
        "main",
        &key,
    )
    .await
    .unwrap();
    let dir = Dir::new("keys");
    let url = db.url().expose_secret().to_owned();
    let v1 = [("DATABASE_URL", url.as_str()), ("TOMORI_SECRET_V1", TEST_SECRET_V1)];

    let out = tomori(&dir.0, &["keys", "audit"], &v1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("provider_credentials.secret"), "{}", stdout(&out));

    let out = tomori(&dir.0, &["audit", "verify"], &v1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("verified: 1 row(s)"), "{}", stdout(&out));
    assert!(
        stdout(&out).lines().any(|l| l.starts_with("head server:") && l.contains(" #1 ")),
        "every chain's head is printed: {}",
        stdout(&out)
    );

    // Rotation to version 2, then version 1 may go.
    let both = [
        ("DATABASE_URL", url.as_str()),
        ("TOMORI_SECRET_V1", TEST_SECRET_V1),
        ("TOMORI_SECRET_V2", TEST_SECRET_V2),
    ];
    let out = tomori(&dir.0, &["keys", "rotate", "--dry-run"], &both);
    assert!(
        stdout(&out).contains("1 value(s) would be re-sealed"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = tomori(&dir.0, &["keys", "rotate"], &both);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Not a terminal: one plain progress line per batch on stderr, the result on stdout.
    assert!(stderr(&out).contains("re-sealing: 1/1 values"), "{}", stderr(&out));
    assert!(stdout(&out).contains("re-sealed 1 value(s)"), "{}", stdout(&out));
    let only_v2 = [("DATABASE_URL", url.as_str()), ("TOMORI_SECRET_V2", TEST_SECRET_V2)];
    let out = tomori(&dir.0, &["doctor"], &only_v2);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));

    // Without the version the data needs, the key ring check names it.
    let only_v1 = [("DATABASE_URL", url.as_str()), ("TOMORI_SECRET_V1", TEST_SECRET_V1)];
    let out = tomori(&dir.0, &["keys", "rotate"], &only_v1);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("TOMORI_SECRET_V2 is not set"), "{}", stderr(&out));

    // Tampering is found and the exit code says so.
    tomori_testkit::tamper_audit_row(&db).await;
    let out = tomori(&dir.0, &["audit", "verify"], &only_v2);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("edited"), "{}", stdout(&out));

    // A schema from a newer build: doctor fails, keys refuse.
    tomori_testkit::pretend_newer_schema(&db).await;
    let out = tomori(&dir.0, &["doctor"], &only_v2);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("newer than this build"), "{}", stdout(&out));
    let out = tomori(&dir.0, &["keys", "audit"], &only_v2);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

// Multi-threaded: the test blocks on the child's output while the fake Discord must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_starts_against_a_database_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead as _, BufReader};
    let db = TestDb::new().await;
    let dir = Dir::new("run");
    let discord = tomori_testkit::fake_discord::FakeDiscord::builder().token(TOKEN).start().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tomori"))
        .arg("run")
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("DATABASE_URL", db.url().expose_secret())
        .env("TOMORI_DISCORD__TOKEN", TOKEN)
        .env("TOMORI_DISCORD__API_BASE", discord.api_base())
        .env("TOMORI_DISCORD__GATEWAY_URL", discord.gateway_url())
        .env("TOMORI_SECRET_V1", TEST_SECRET_V1)
        .env("TOMORI_LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready =
        lines.by_ref().take(50).map_while(Result::ok).find(|line| line.contains("tomori is ready"));
    assert!(ready.is_some(), "tomori did not become ready");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    assert!(rest.contains("shutting down"), "{rest}");
    assert!(!rest.contains(TEST_SECRET_V1) && !rest.contains(TOKEN), "a secret reached the log");
    assert!(!rest.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {rest:?}");
}

#[tokio::test]
async fn a_database_from_a_newer_tomori_is_refused() {
    let db = TestDb::new().await;
    tomori_testkit::pretend_newer_schema(&db).await;
    let dir = Dir::new("newer");
    let out = tomori(&dir.0, &["migrate"], &[("DATABASE_URL", db.url().expose_secret())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("migrated by a newer Tomori"), "{}", stderr(&out));
}

// Multi-threaded: the test blocks on the child's output while the fake LLM must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_answers_each_line_of_piped_input() {
    use std::io::Write as _;

    use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
    let db = TestDb::new().await;
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    llm.push_turn(Turn::new().text("Hello there!"));
    llm.push_turn(Turn::new().reasoning("they said bye").text("Goodbye!"));
    let dir = Dir::new("chat");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tomori"))
        .args(["chat"])
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("DATABASE_URL", db.url().expose_secret())
        .env("TOMORI_SECRET_V1", TEST_SECRET_V1)
        .env("TOMORI_PROVIDERS__LOCAL__KIND", "openai-compatible")
        .env("TOMORI_PROVIDERS__LOCAL__BASE_URL", llm.base_url())
        .env("TOMORI_PROVIDERS__LOCAL__MODEL", "fake-model")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\nbye\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hello there!\nGoodbye!\n", "visible text only, one reply per line");
    assert!(
        String::from_utf8_lossy(&llm.requests()[0].body).contains("Tomori"),
        "the built-in persona answers"
    );
}

#[tokio::test]
async fn a_lost_key_is_refused_and_never_replaced_by_a_new_one() {
    use tomori_testkit::fake_llm::{FakeLlm, WireFormat};
    let db = TestDb::new().await;
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let dir = Dir::new("lostkey");
    let url = db.url().expose_secret().to_owned();
    let base = llm.base_url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("TOMORI_PROVIDERS__LOCAL__KIND", "openai-compatible"),
        ("TOMORI_PROVIDERS__LOCAL__BASE_URL", base.as_str()),
        ("TOMORI_PROVIDERS__LOCAL__MODEL", "fake-model"),
    ];
    // A first start with no key creates one (and records its check value).
    let first = tomori(&dir.0, &["chat"], &env);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let key = dir.0.join("data/keys/v1.key");
    assert!(key.is_file());
    // The key file is lost: the bot refuses instead of sealing with a new key.
    std::fs::remove_file(&key).unwrap();
    let again = tomori(&dir.0, &["chat"], &env);
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("sealed with a key you did not provide")
            && stderr(&again).contains("data/keys"),
        "{}",
        stderr(&again)
    );
    assert!(!key.exists(), "no new key may be generated for a sealed database");
}

#[test]
fn url_check_prints_one_line_and_exits_0_or_3() {
    let dir = Dir::new("urlcheck");
    let out = tomori(
        &dir.0,
        &["url-check", "https://example.com/", "--resolve", "example.com:93.184.216.34"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "ALLOWED public 93.184.216.34");
    let out = tomori(&dir.0, &["url-check", "https://[::ffff:a9fe:a9fe]/latest"], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).starts_with("REFUSED "), "{}", stdout(&out));
    let out = tomori(&dir.0, &["url-check", "https://x.example/", "--resolve", "bad"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// A PNG with `keyword` as a tEXt chunk holding `json` in base64, built by hand so that the
/// test does not depend on the exporter.
fn card_png(keyword: &str, json: &serde_json::Value) -> Vec<u8> {
    use tomori_core::card::png;
    let image = png::solid_png(4, [200, 100, 50]);
    png::replace_text_chunks(&image, |_| false, &[(keyword, card_text(json).as_bytes())]).unwrap()
}

/// Card JSON as a card chunk holds it: base64.
fn card_text(json: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

#[test]
fn persona_convert_prints_the_persona_json_or_one_line_why_not() {
    use serde_json::json;
    let dir = Dir::new("convert");
    let v1 = json!({
        "name": "Skye",
        "description": "{{char}} flies.",
        "personality": "Bold.",
        "scenario": "",
        "first_mes": "Hi {{user}}!",
        "mes_example": "<START>\n{{user}}: Can you fly?\n{{char}}: Watch me.",
    });
    let v2 = json!({
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Mio",
            "description": "A librarian.",
            "first_mes": "Shh.",
            "alternate_greetings": ["Welcome.", "Quiet, please."],
            "tags": ["calm"],
            "character_book": { "entries": [
                { "keys": ["book"], "content": "Mio loves old books.", "enabled": true },
                { "keys": ["x"], "content": "Hidden.", "enabled": false },
            ] },
        },
    });
    let v3 = json!({
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": { "name": "Rei", "nickname": "Rei-chan", "description": "V3 card.", "tags": [] },
    });
    std::fs::write(dir.0.join("v1.json"), v1.to_string()).unwrap();
    std::fs::write(dir.0.join("v2.png"), card_png("chara", &v2)).unwrap();
    // A V3 PNG also carries a V2 fallback in `chara`; the ccv3 chunk wins.
    let both = tomori_core::card::png::replace_text_chunks(
        &card_png("chara", &v2),
        |_| false,
        &[("ccv3", card_text(&v3).as_bytes())],
    )
    .unwrap();
    std::fs::write(dir.0.join("v3.png"), both).unwrap();
    std::fs::write(dir.0.join("broken.png"), &card_png("chara", &v2)[..60]).unwrap();
    std::fs::write(dir.0.join("notes.txt"), "just some text").unwrap();

    let convert = |file: &str| {
        let out = tomori(&dir.0, &["persona", "convert", file], &[]);
        (out.status.code(), stdout(&out), stderr(&out))
    };
    let parsed = |file: &str| {
        let (code, out, err) = convert(file);
        assert_eq!(code, Some(0), "{file}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };

    let skye = parsed("v1.json");
    assert_eq!(skye["name"], "Skye");
    assert_eq!(skye["source_spec"], "v1");
    // Macros stay in the stored text; each prompt fills in the member and the persona.
    assert_eq!(skye["prompt"], "{{char}} flies.");
    assert_eq!(skye["greeting"], "Hi {{user}}!");
    assert_eq!(skye["attributes"], json!(["Personality: Bold."]));
    assert_eq!(skye["sample_dialogues"], json!([{ "user": "Can you fly?", "bot": "Watch me." }]));
    assert_eq!(skye["lorebook_entries"], 0);
    assert_eq!(skye["tags"], json!([]));

    let mio = parsed("v2.png");
    assert_eq!(mio["source_spec"], "chara_card_v2");
    assert_eq!(mio["alternate_greetings"], json!(["Welcome.", "Quiet, please."]));
    // The lorebook stays a lorebook (both entries, the disabled one too), not attributes.
    assert_eq!(mio["attributes"], json!([]));
    assert_eq!(mio["lorebook_entries"], 2);
    assert_eq!(mio["character_book"]["entries"][0]["content"], "Mio loves old books.");
    assert_eq!(mio["tags"], json!(["calm"]));

    let rei = parsed("v3.png");
    assert_eq!(
        (rei["name"].as_str(), rei["source_spec"].as_str()),
        (Some("Rei-chan"), Some("chara_card_v3"))
    );

    // The output is itself a card that converts to the same thing.
    std::fs::write(dir.0.join("mio.json"), mio.to_string()).unwrap();
    assert_eq!(parsed("mio.json"), mio);

    for (file, reason) in [
        ("broken.png", "truncated"),
        ("notes.txt", "neither a PNG image nor JSON"),
        ("missing.png", "opening missing.png"),
    ] {
        let (code, out, err) = convert(file);
        assert_eq!(code, Some(1), "{file}");
        assert!(out.is_empty(), "{file}: nothing on stdout: {out}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.starts_with("error: ") && err.contains(reason), "{file}: {err}");
    }
}

#[tokio::test]
async fn extract_pdf_reads_a_pdf_confined_and_a_hostile_one_stops_it() {
    // The bot's own PDF reader, with the limits the bot gives it.
    let reader = tomori_tools::PdfExtractor::new(
        env!("CARGO_BIN_EXE_tomori"),
        vec![tomori_tools::pdf::EXTRACT_PDF.to_owned()],
    );
    let text = reader.extract(tomori_testkit::pdf_with("Minutes of the meeting").into()).await;
    assert!(text.as_deref().is_ok_and(|t| t.contains("Minutes of the meeting")), "{text:?}");
    let hostile = reader.extract(tomori_testkit::pdf::self_drawing().into()).await;
    assert_eq!(hostile, Err(tomori_tools::PdfError::Stopped));
    // Without its limits it reads nothing.
    let dir = Dir::new("extractpdf");
    let out = tomori(&dir.0, &["extract-pdf"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("could not confine itself"), "{}", stderr(&out));
}

#[tokio::test]
async fn a_backup_restores_round_trip_and_needs_its_key_versions() {
    use tomori_store::credentials::{self, KeyOwner};
    let source = TestDb::new().await;
    let store = source.store().await;
    let guild = store.resolve_guild(tomori_core::id::Snowflake::new(1).unwrap()).await.unwrap();
    let scope = tomori_store::Scope::server(guild);
    let actor = tomori_store::audit::Actor::Operator;
    let key = secrecy::SecretString::from("sk-backup-0123456789".to_owned());
    credentials::add(&store, scope, actor, KeyOwner::Server, "openai", "main", &key).await.unwrap();
    let dir = Dir::new("backup");
    let source_url = source.url().expose_secret().to_owned();
    let v1 = [("DATABASE_URL", source_url.as_str()), ("TOMORI_SECRET_V1", TEST_SECRET_V1)];
    let out = tomori(&dir.0, &["backup", "tomori.backup"], &v1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = dir.0.join("tomori.backup");
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("\"key_version\": 1") && text.contains("provider_credentials.secret"));
    assert!(!text.contains(TEST_SECRET_V1) && !text.contains("sk-backup"), "no key, no secret");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o077, 0);
    // A second backup to the same name is refused.
    let again = tomori(&dir.0, &["backup", "tomori.backup"], &v1);
    assert_eq!(again.status.code(), Some(1));

    let target = TestDb::new().await;
    let target_url = target.url().expose_secret().to_owned();
    // Without the key version the sealed values need, nothing is touched.
    let v2 = [("DATABASE_URL", target_url.as_str()), ("TOMORI_SECRET_V2", TEST_SECRET_V2)];
    let out = tomori(&dir.0, &["restore", "tomori.backup", "--replace"], &v2);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("TOMORI_SECRET_V1"), "{}", stderr(&out));
    // A database that holds the schema is replaced only when asked.
    let t1 = [("DATABASE_URL", target_url.as_str()), ("TOMORI_SECRET_V1", TEST_SECRET_V1)];
    let out = tomori(&dir.0, &["restore", "tomori.backup"], &t1);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    let out = tomori(&dir.0, &["restore", "tomori.backup", "--replace"], &t1);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let restored = target.store().await;
    let guild = restored.resolve_guild(tomori_core::id::Snowflake::new(1).unwrap()).await.unwrap();
    let scope = tomori_store::Scope::server(guild);
    let keys = credentials::list(&restored, scope, KeyOwner::Server).await.unwrap();
    assert_eq!(keys.len(), 1);
    let opened = credentials::reveal(&restored, scope, keys[0].id).await.unwrap();
    assert_eq!(opened.expose_secret(), "sk-backup-0123456789");
    let out = tomori(&dir.0, &["audit", "verify"], &t1);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

// Multi-threaded: the test blocks on the child while the fake provider must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_asks_each_provider_and_resolves_each_mcp_command() {
    use tomori_testkit::fake_llm::{FakeLlm, WireFormat};
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    let dir = Dir::new("doctorreach");
    let config = format!(
        "[providers.up]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"fake-model\"\napi_key = \"sk-doctor-0123\"\n\
         [providers.zdown]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n\
         [mcp.files]\ncommand = \"no-such-mcp-server\"\n[mcp.shell]\ncommand = \"sh\"\n",
        llm.base_url()
    );
    std::fs::write(dir.0.join("tomori.toml"), config).unwrap();
    let out = tomori(&dir.0, &["doctor"], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let has = |prefix: &str, parts: &[&str]| {
        text.lines().any(|l| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(has("ok", &["provider", "up · fake-model: reachable"]), "{text}");
    assert!(has("FAIL", &["provider", "zdown"]), "{text}");
    assert!(has("FAIL", &["mcp", "files", "no-such-mcp-server"]), "{text}");
    assert!(has("ok", &["mcp", "shell", "/sh"]), "{text}");
    let asked = llm.requests();
    assert!(
        asked.iter().any(|r| r.method == "GET"
            && r.path.ends_with("/models")
            && r.header("authorization") == Some("Bearer sk-doctor-0123")),
        "the model list is asked with the provider's key"
    );
    assert!(!text.contains("sk-doctor"), "the key is never printed");
    assert!(!dir.0.join("data").exists(), "doctor creates nothing");
}

/// Runs the image's entry point as `uid` (through setpriv) with a stand-in for the binary that
/// prints its arguments and data directory.
fn entrypoint(dir: &Path, uid: Option<u32>, data: &Path, args: &[&str]) -> Output {
    // A copy in the test's own directory: the checkout may sit where `nobody` cannot read.
    let script = dir.join("entrypoint.sh");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/docker/entrypoint.sh"),
        &script,
    )
    .unwrap();
    let mut command = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()]);
            c.arg("sh");
            c
        }
        None => Command::new("sh"),
    };
    command
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TOMORI_BIN", dir.join("fake-tomori"))
        .env("TOMORI_DATA_DIR", data)
        .output()
        .unwrap()
}

#[test]
fn the_image_entrypoint_checks_its_user_and_volume_then_execs_the_command() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = Dir::new("entrypoint");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = dir.0.join("fake-tomori");
    std::fs::write(&fake, "#!/bin/sh\necho \"args=$* data=$TOMORI_DATA_DIR\"\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    // As root (the CI machine), the checks run again as `nobody` through setpriv, as the image's
    // own user would; otherwise as the user running the tests.
    let root = is_root();
    let user = root.then_some(65534);
    if root {
        let out = entrypoint(&dir.0, None, &dir.0.join("data"), &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("refusing to run as root"), "{}", stderr(&out));
    }

    // A volume the user cannot write: one line that says what to do.
    let locked = dir.0.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = entrypoint(&dir.0, user, &locked, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("is not writable by uid"), "{}", stderr(&out));

    // A writable volume: no arguments means `run`; a command passes through untouched.
    let data = dir.0.join("data");
    std::fs::create_dir(&data).unwrap();
    if let Some(uid) = user {
        std::os::unix::fs::chown(&data, Some(uid), Some(uid)).unwrap();
    }
    let out = entrypoint(&dir.0, user, &data, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("args=run data={}", data.display()));
    assert!(stderr(&out).contains("no TOMORI_SECRET_V1"), "the key warning: {}", stderr(&out));
    let out = entrypoint(&dir.0, user, &data, &["keys", "audit"]);
    assert!(stdout(&out).starts_with("args=keys audit "), "{}", stdout(&out));
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

// Multi-threaded: the test blocks on the child while the fake provider must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_extra_headers_and_query_reach_it_and_no_log() {
    use std::io::Write as _;

    use tomori_testkit::fake_llm::{FakeLlm, Turn, WireFormat};
    let db = TestDb::new().await;
    let llm = FakeLlm::start(WireFormat::OpenAi).await;
    llm.push_turn(Turn::new().text("Hi from Azure."));
    let dir = Dir::new("extras");
    let config = format!(
        "[providers.azure]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\nmodel = \"gpt\"\n\
         [providers.azure.extra_headers]\napi-key = \"azure-secret-0123456789\"\n\
         [providers.azure.extra_query]\napi-version = \"2024-10-21\"\n",
        llm.base_url()
    );
    std::fs::write(dir.0.join("tomori.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tomori"))
        .args(["chat"])
        .current_dir(&dir.0)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("DATABASE_URL", db.url().expose_secret())
        .env("TOMORI_SECRET_V1", TEST_SECRET_V1)
        .env("TOMORI_LOG__LEVEL", "debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hi from Azure.\n", "{}", stderr(&out));
    let request = &llm.requests()[0];
    assert!(request.path.ends_with("/chat/completions?api-version=2024-10-21"), "{}", request.path);
    assert_eq!(request.header("api-key"), Some("azure-secret-0123456789"));
    assert!(!stderr(&out).contains("azure-secret"), "the header value never reaches the log");

    // A header the client frames itself is refused at load, naming the key.
    std::fs::write(
        dir.0.join("tomori.toml"),
        "[providers.x]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n\
         [providers.x.extra_headers]\nHost = \"evil.example\"\n",
    )
    .unwrap();
    let out = tomori(&dir.0, &["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("providers.x.extra_headers"), "{}", stderr(&out));
}

#[test]
fn healthcheck_exits_0_when_ready_and_1_with_the_status_otherwise() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Answers the two checks below, 200 then 503, each after reading the request line.
    let server = std::thread::spawn(move || {
        for status in ["200 OK", "503 Service Unavailable"] {
            let (mut stream, _) = listener.accept().unwrap();
            // The whole request head, however the client's writes arrive.
            let mut request = Vec::new();
            let mut chunk = [0_u8; 256];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&chunk[..n]);
            }
            assert!(request.starts_with(b"GET /health/ready HTTP/1.1"));
            let body = "{}";
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    let dir = Dir::new("healthcheck");
    // An unspecified address is asked on loopback.
    let listen = format!("0.0.0.0:{port}");
    let env = [("TOMORI_WEB__LISTEN", listen.as_str())];
    let ready = tomori(&dir.0, &["healthcheck"], &env);
    assert_eq!(ready.status.code(), Some(0), "{}", stderr(&ready));
    assert_eq!(stdout(&ready).trim(), "ready");
    let not_ready = tomori(&dir.0, &["healthcheck"], &env);
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(stderr(&not_ready).contains("answered 503"), "{}", stderr(&not_ready));
    server.join().unwrap();
    // Nothing listening: one line, exit 1.
    let closed = tomori(&dir.0, &["healthcheck"], &[("TOMORI_WEB__LISTEN", "127.0.0.1:9")]);
    assert_eq!(closed.status.code(), Some(1));
    assert_eq!(stderr(&closed).lines().count(), 1, "{}", stderr(&closed));
}

/// `url` with its user replaced by `user`.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let host = match rest.get(..authority_end).and_then(|a| a.rfind('@')) {
        Some(at) => rest.get(at + 1..).unwrap_or_default(),
        None => rest,
    };
    format!("{scheme}://{user}@{host}")
}

#[tokio::test]
async fn a_database_refusal_is_said_once_without_the_servers_source_line() {
    let db = TestDb::new().await;
    let url = with_user(db.url().expose_secret(), "nosuchuser");
    let dir = Dir::new("refused");
    let out = tomori(&dir.0, &["migrate"], &[("DATABASE_URL", url.as_str())]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("\"nosuchuser\" does not exist").count(), 1, "{err}");
    assert!(!err.contains(" at line "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
