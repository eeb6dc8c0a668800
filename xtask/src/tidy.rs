//! Tidy checks: rules about the whole tree, run as tests so that `cargo test` is the whole truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::workspace_root;

/// Which workspace crates each crate may depend on (DESIGN.md section 2). Dependencies point
/// down only; adapters never depend on each other.
const ALLOWED: &[(&str, &[&str])] = &[
    ("tomori-core", &[]),
    ("tomori-net", &["tomori-core"]),
    ("tomori-store", &["tomori-core"]),
    ("tomori-llm", &["tomori-net", "tomori-core"]),
    ("tomori-tools", &["tomori-llm", "tomori-net", "tomori-store", "tomori-core"]),
    ("tomori-chat", &["tomori-tools", "tomori-llm", "tomori-net", "tomori-store", "tomori-core"]),
    // The admin layer: every admin and member action, platform-neutral (no chat platform, no
    // HTTP); the front doors (the slash commands, the dashboard) reach the store through it.
    (
        "tomori-admin",
        &["tomori-chat", "tomori-tools", "tomori-store", "tomori-llm", "tomori-net", "tomori-core"],
    ),
    (
        "tomori-discord",
        &[
            "tomori-admin",
            "tomori-chat",
            "tomori-tools",
            "tomori-llm",
            "tomori-net",
            "tomori-store",
            "tomori-core",
        ],
    ),
    // The operator's listener and the dashboard know no chat platform: health reports through
    // traits the binary fills in and reaches the store only for the readiness probe; the
    // dashboard is a front door on the admin layer, like the slash commands.
    (
        "tomori-web",
        &[
            "tomori-admin",
            "tomori-chat",
            "tomori-tools",
            "tomori-net",
            "tomori-store",
            "tomori-core",
        ],
    ),
    (
        "tomori",
        &[
            "tomori-discord",
            "tomori-web",
            "tomori-admin",
            "tomori-chat",
            "tomori-tools",
            "tomori-llm",
            "tomori-net",
            "tomori-store",
            "tomori-core",
        ],
    ),
    ("tomori-testkit", &["tomori-store", "tomori-net", "tomori-llm", "tomori-core"]),
    ("xtask", &[]),
];

/// External crates the admin layer must never use: it knows no platform and no HTTP.
const FRONT_DOOR_CRATES: &[&str] = &[
    "axum",
    "hyper",
    "reqwest",
    "twilight-http",
    "twilight-gateway",
    "twilight-model",
    "twilight-util",
];

/// External crates that tomori-core must never use: it does no IO.
const IO_CRATES: &[&str] =
    &["tokio", "sqlx", "reqwest", "twilight-http", "twilight-gateway", "hyper", "axum"];

fn metadata() -> serde_json::Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn workspace_dependencies_point_down_only() {
    let meta = metadata();
    let allowed: BTreeMap<&str, BTreeSet<&str>> =
        ALLOWED.iter().map(|(name, deps)| (*name, deps.iter().copied().collect())).collect();
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let mut violations = Vec::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(may_use) = allowed.get(name) else {
            violations.push(format!("{name} is not in the dependency table of xtask/src/tidy.rs"));
            continue;
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let is_dev = dep["kind"].as_str() == Some("dev");
            if members.contains(dep_name)
                && !may_use.contains(dep_name)
                && !(is_dev && dep_name == "tomori-testkit")
            {
                violations.push(format!("{name} depends on {dep_name}"));
            }
            // Adapters never leak their protocol: only tomori-discord names twilight.
            if dep_name.starts_with("twilight-") && name != "tomori-discord" {
                violations.push(format!("{name} depends on {dep_name}"));
            }
            if name == "tomori-admin" && FRONT_DOOR_CRATES.contains(&dep_name) {
                violations.push(format!("the admin layer depends on {dep_name}"));
            }
            if name == "tomori-core" && !is_dev && IO_CRATES.contains(&dep_name) {
                violations.push(format!("tomori-core depends on the IO crate {dep_name}"));
            }
        }
    }
    assert!(violations.is_empty(), "dependency rules broken:\n{}", violations.join("\n"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target" || n == "fuzz") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(&root).unwrap().display().to_string(), text)
        })
        .collect()
}

/// Security: SQL injection. SQL is written only as compile-checked sqlx macros inside
/// tomori-store; the runtime query functions (which accept any static string) and
/// `AssertSqlSafe` (which accepts a built string) appear only where identifiers, never input,
/// are formatted: database management in the test harness, xtask and `db::ensure_database`.
#[test]
fn sql_is_built_only_in_sanctioned_places() {
    let runtime_sql = [
        "sqlx::query(",
        "sqlx::query_as(",
        "sqlx::query_scalar(",
        "sqlx::raw_sql(",
        "AssertSqlSafe",
    ];
    let sanctioned = |path: &str| {
        path.starts_with("crates/tomori-testkit/")
            || path.starts_with("xtask/")
            || path.starts_with("crates/tomori-store/tests/")
            || path == "crates/tomori-store/src/db.rs"
    };
    let mut found = Vec::new();
    for (path, text) in sources() {
        if sanctioned(&path) {
            continue;
        }
        for needle in runtime_sql {
            if text.contains(needle) {
                found.push(format!("{path}: {needle}"));
            }
        }
        if text.contains("sqlx::query") && !path.starts_with("crates/tomori-store/") {
            found.push(format!("{path}: SQL outside tomori-store"));
        }
    }
    let ensure =
        std::fs::read_to_string(workspace_root().join("crates/tomori-store/src/db.rs")).unwrap();
    assert_eq!(
        ensure.matches("AssertSqlSafe").count(),
        1,
        "db.rs may format SQL only in ensure_database"
    );
    assert!(found.is_empty(), "SQL built outside the sanctioned places:\n{}", found.join("\n"));
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| {
            let is_module = path.contains("/src/") && !path.ends_with("/tests.rs");
            is_module && !text.trim_start().starts_with("//!")
        })
        .map(|(path, _)| path)
        .collect();
    assert!(missing.is_empty(), "files without a //! paragraph:\n{}", missing.join("\n"));
}

#[test]
fn no_ignored_tests_or_unfinished_code() {
    let banned = ["#[ignore", "todo!(", "unimplemented!(", "#[should_panic"];
    let mut found = Vec::new();
    for (path, text) in sources() {
        if path == "xtask/src/tidy.rs" {
            continue;
        }
        for needle in banned {
            if text.contains(needle) {
                found.push(format!("{path}: {needle}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The commands' plumbing, which names the store without doing admin work: the handle every
/// action passes on to the admin layer (built in `setup.rs`), and the mapping of its errors to
/// sentences.
const COMMAND_PLUMBING: &[&str] = &["context.rs", "mod.rs", "setup.rs"];

/// The web listener's modules that reach the store, for what is not admin work: the readiness
/// probe's database ping and the pool gauges.
const WEB_STORE_USES: &[&str] = &["health.rs", "metrics.rs"];

/// The front doors reach the store for admin work only through the admin layer, so that the
/// slash commands and the dashboard cannot disagree on a rule (ARCHITECTURE.md, "The admin
/// layer").
#[test]
fn front_doors_reach_the_store_through_the_admin_layer() {
    let mut violations = Vec::new();
    for (path, text) in sources() {
        let file = path.rsplit('/').next().unwrap_or_default();
        let allowed = if path.starts_with("crates/tomori-discord/src/commands/") {
            COMMAND_PLUMBING
        } else if path.starts_with("crates/tomori-web/src/") {
            WEB_STORE_USES
        } else {
            continue;
        };
        if text.contains("tomori_store") && !allowed.contains(&file) {
            violations.push(format!("{path} reaches the store; go through tomori-admin"));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
