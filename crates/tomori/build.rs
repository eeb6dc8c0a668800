//! Embeds the git revision for `tomori --version`: `TOMORI_GIT_REV` when the builder sets it
//! (an image built from a source tree without `.git`), else `git rev-parse`, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=TOMORI_GIT_REV");
    #[expect(
        clippy::disallowed_methods,
        reason = "a build script's input is its environment; the binary's configuration is not involved"
    )]
    let revision = std::env::var("TOMORI_GIT_REV")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves (a commit, a checkout): both files change then.
            for file in ["HEAD", "logs/HEAD"] {
                if let Some(path) = git(&["rev-parse", "--git-path", file]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TOMORI_GIT_REV={revision}");
}
