//! `/server tool-trigger`: a server's own deliberate tool triggers, checked, listed, removed
//! by number and audited (the chat tests see them ask for tools).

use tomori_testkit::audit_actions;

use crate::commands::{MANAGE_GUILD, VIEW_AND_SEND, alice, bob, slash, world};

#[tokio::test]
async fn tool_triggers_are_added_listed_and_removed_by_managers() {
    let w = world().await;
    let add = |user, permissions, family: &str, kind: &str, text: &str| {
        slash(user, permissions, "server tool-trigger add")
            .arg("family", family)
            .arg("kind", kind)
            .arg("text", text)
    };
    let refused = w.answer(add(bob(), VIEW_AND_SEND, "pictures", "phrase", "make art")).await;
    assert!(refused.contains("Manage Server"), "{refused}");
    let added = w.answer(add(alice(), MANAGE_GUILD, "pictures", "phrase", "  Make   ART ")).await;
    assert!(
        added.starts_with("A message with that phrase now asks for the pictures tools"),
        "{added}"
    );
    let regex = w.answer(add(alice(), MANAGE_GUILD, "web", "regex", r"\bwhat'?s\s+up\b")).await;
    assert!(regex.contains("the web tools"), "{regex}");
    let again = w.answer(add(alice(), MANAGE_GUILD, "pictures", "phrase", "make art")).await;
    assert!(again.starts_with("That trigger is already there"), "{again}");
    for (kind, bad, expected) in [
        ("regex", "(", "does not compile"),
        ("regex", "(?=x)", "does not compile"),
        ("phrase", " * ", "at least one letter or digit"),
    ] {
        let refused = w.answer(add(alice(), MANAGE_GUILD, "memory", kind, bad)).await;
        assert!(refused.starts_with("Not added") && refused.contains(expected), "{bad}: {refused}");
    }
    let listed = w.answer(slash(bob(), VIEW_AND_SEND, "server tool-trigger list")).await;
    assert_eq!(
        listed,
        "Tool triggers (2 of 50):\n1. pictures · phrase `make art`\n2. web · regex `\\bwhat'?s\\s+up\\b`"
    );
    let removed =
        w.answer(slash(alice(), MANAGE_GUILD, "server tool-trigger remove").arg("number", 1)).await;
    assert!(removed.starts_with("Removed the phrase trigger `make art`"), "{removed}");
    let missing =
        w.answer(slash(alice(), MANAGE_GUILD, "server tool-trigger remove").arg("number", 9)).await;
    assert!(missing.starts_with("There is no trigger 9"), "{missing}");
    let actions = audit_actions(&w.db).await;
    assert_eq!(actions.iter().filter(|a| a.starts_with("tool_trigger.")).count(), 3);
}
