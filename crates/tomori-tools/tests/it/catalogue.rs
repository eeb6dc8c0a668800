//! docs/tools.md: every built-in and platform tool with its description and what the gate
//! requires of it, generated from the registry itself, so the page cannot drift from the code.

use std::fmt::Write as _;
use std::path::Path;

use tomori_tools::{Effect, Gate, Place, ToolPolicy};

use crate::support::{
    Facts, FakeLive, FakePlatform, WebServer, World, registry_with_probes, web_routes,
};

fn effect(effect: Effect) -> &'static str {
    match effect {
        Effect::ReadOnly => "reads",
        Effect::Creates => "creates",
        Effect::Destructive => "changes or deletes",
        Effect::External => "acts elsewhere",
    }
}

fn places(policy: &ToolPolicy) -> String {
    let c = policy.contexts;
    let mut places = Vec::new();
    if c.guild {
        places.push(if c.rp_channel { "server channels" } else { "server channels outside rp" });
    }
    if c.dm {
        places.push("direct messages");
    }
    places.join(", ")
}

fn row(name: &str, description: &str, policy: &ToolPolicy) -> String {
    let feature = policy.feature.map_or("—".to_owned(), |f| format!("`{}`", f.name()));
    let bot: Vec<&str> = policy.bot_permissions.iter().map(|p| p.name()).collect();
    let member: Vec<&str> = policy.invoker_permissions.iter().map(|p| p.name()).collect();
    let needs = match (bot.is_empty(), member.is_empty()) {
        (true, true) => "—".to_owned(),
        (false, true) => format!("bot: {}", bot.join(", ")),
        (true, false) => format!("member: {}", member.join(", ")),
        (false, false) => format!("bot: {}; member: {}", bot.join(", "), member.join(", ")),
    };
    let quota = policy.quota.map_or("—".to_owned(), |q| q.name().to_owned());
    let description = description.replace('|', "\\|");
    format!(
        "| `{name}` | {description} | {feature} | {} | {} | {needs} | {quota} |\n",
        effect(policy.effect),
        places(policy)
    )
}

async fn render() -> String {
    let world = World::new().await;
    let web = WebServer::start(web_routes()).await;
    let platform = FakePlatform::new(&web);
    let (registry, _) = registry_with_probes(&world, &web, &platform);
    let gate = Gate::new(registry);
    let mut ctx = world.turn(FakeLive::new(Facts::permissive()));
    ctx.place = Place::Guild { rp: false };
    let offered = gate.advertise(&ctx).await;
    let mut page = String::from(
        "# Tools\n\nGenerated from the tool registry by `cargo xtask test -p tomori-tools` \
         (`catalogue`); do not edit by hand.\n\n\
         Every call goes through the gate, which checks the server's `tool_use` flag, the tool's \
         own flag, where the turn happens, the permissions the bot and the member have there \
         (read from Discord at the moment of the call), the quota (failing closed) and the target \
         the call names, before the tool runs. `generate_image`, `generate_video` and the platform \
         tools exist only \
         where the bot speaks on Discord; MCP servers add their own tools under the same gate.\n\n\
         | tool | what it does | feature flag | effect | where | needs | quota |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for spec in offered.iter().filter(|s| !s.name.starts_with("probe_")) {
        let policy = gate.registry().policy(&spec.name).expect("registered");
        page.push_str(&row(&spec.name, &spec.description, &policy));
    }
    let _ = writeln!(page);
    page
}

#[tokio::test]
async fn the_tools_page_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tools.md");
    let expected = render().await;
    assert!(
        expected.contains("`generate_image`")
            && expected.contains("`generate_video`")
            && expected.contains("`update_short_term_memory`")
    );
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        std::fs::write(&path, &expected).expect("rewrite docs/tools.md");
        panic!("docs/tools.md was stale and has been rewritten; review and commit it");
    }
}
