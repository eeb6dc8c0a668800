//! The dashboard over a real listener, a real database and the fake Discord's OAuth2: signing
//! in, the session cookie, the security headers, and the rules every change passes (form
//! tokens, the Origin check, Manage Server read from Discord at the time of the change).
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions unwrap too")]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use secrecy::SecretString;
use tokio::sync::oneshot;
use tomori_core::id::Snowflake;
use tomori_core::settings::Feature;
use tomori_store::{Scope, Store, personas, settings};
use tomori_testkit::TestDb;
use tomori_testkit::fake_discord::{FakeDiscord, UserSpec};
use tomori_testkit::http::{Reply, send};
use tomori_web::dashboard::{Dashboard, DashboardConfig};
use tomori_web::{Readiness, Web};

const TOKEN: &str = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
const GUILD: u64 = 830_000_000_000_000_001;
const OTHER_GUILD: u64 = 830_000_000_000_000_009;
const ADMINS: u64 = 830_000_000_000_000_050;
const ALICE: u64 = 730_000_000_000_000_001;
const BOB: u64 = 730_000_000_000_000_002;
const MANAGE_GUILD: u64 = 1 << 5;

struct World {
    _db: TestDb,
    store: Store,
    discord: FakeDiscord,
    web: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn world() -> World {
    let db = TestDb::new().await;
    let store = db.store().await;
    let discord = FakeDiscord::builder().token(TOKEN).start().await;
    discord.add_guild(GUILD, "Lantern Room");
    discord.add_role(GUILD, ADMINS, MANAGE_GUILD);
    discord.add_member(GUILD, ALICE, &[ADMINS]);
    discord.add_member(GUILD, BOB, &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = listener.local_addr().unwrap();
    let config = DashboardConfig {
        public_url: format!("http://{web}").parse().unwrap(),
        client_id: discord.oauth_client_id(),
        client_secret: SecretString::from(tomori_testkit::fake_discord::OAUTH_CLIENT_SECRET),
        api_base: discord.api_base().parse().unwrap(),
        bot_token: SecretString::from(TOKEN),
        server_policy: tomori_net::Policy::new(tomori_net::Scope::Server),
    };
    let dashboard = Dashboard::new(config, store.clone()).unwrap();
    let net = tomori_net::Client::new(tomori_net::Policy::new(tomori_net::Scope::Server)).unwrap();
    let mcp = tomori_tools::mcp::GuildMcp::new(store.clone(), net.clone(), Default::default());
    let providers = tomori_chat::providers::ServerProviders::new(net);
    let documents = tomori_admin::memory::documents::DocumentServices {
        documents: tomori_chat::documents::Documents::new(providers),
        pdf: tomori_tools::PdfExtractor::new("/bin/false", Vec::new()),
    };
    let media = tomori_chat::media::Media::new(
        tomori_net::Client::new(tomori_net::Policy::new(tomori_net::Scope::Media)).unwrap(),
        tomori_chat::media::MediaOptions::default(),
    );
    dashboard.set_services(tomori_web::dashboard::Services { documents, mcp, media });
    let routes = Web::new(Readiness::new()).with_dashboard(dashboard);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(tomori_web::serve(listener, routes, async move {
        let _ = stopped.await;
    }));
    World { _db: db, store, discord, web, _stop: stop }
}

/// A browser without a script engine: a cookie jar and redirects followed by hand.
#[derive(Default)]
struct Browser {
    jar: BTreeMap<String, String>,
    /// Where the last request went, for relative redirects.
    origin: String,
}

/// Splits an absolute loopback URL into address and path.
fn split(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) =
        rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    (host.parse().unwrap(), path)
}

fn header<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
    reply
        .headers
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
        .collect()
}

fn form_token(page: &str) -> String {
    let (_, after) = page.split_once("name=\"csrf\" value=\"").unwrap();
    after.split('"').next().unwrap().to_owned()
}

impl Browser {
    async fn send(&mut self, url: &str, method: &str, extra: &[(&str, &str)], body: &str) -> Reply {
        let url =
            if url.starts_with('/') { format!("{}{url}", self.origin) } else { url.to_owned() };
        let (addr, path) = split(&url);
        self.origin = format!("http://{addr}");
        let cookies =
            self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut headers = extra.to_vec();
        if !cookies.is_empty() {
            headers.push(("Cookie", &cookies));
        }
        let reply = send(addr, method, &path, &headers, body).await.unwrap();
        for set in header(&reply, "set-cookie") {
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    async fn get(&mut self, url: &str) -> Reply {
        self.send(url, "GET", &[], "").await
    }

    async fn post(&mut self, url: &str, body: &str) -> Reply {
        self.send(url, "POST", &[("Content-Type", "application/x-www-form-urlencoded")], body).await
    }

    /// Signs in through the fake Discord as `user`, following every redirect.
    async fn sign_in(&mut self, world: &World, user: u64, name: &str) -> Reply {
        world.discord.oauth_sign_in(UserSpec::new(user, name));
        let mut reply = self.get(&format!("http://{}/login", world.web)).await;
        for _ in 0..4 {
            if reply.status != 303 && reply.status != 302 {
                break;
            }
            let location = header(&reply, "location")[0].to_owned();
            reply = self.get(&location).await;
        }
        reply
    }
}

/// The flag the tests switch (off until someone turns it on).
async fn flags(world: &World) -> bool {
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let now = settings::get(&world.store, Scope::server(server)).await.unwrap();
    now.feature(Feature::ImageGen)
}

async fn persona_names(world: &World) -> Vec<String> {
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let all = personas::list(&world.store, Scope::server(server)).await.unwrap();
    all.into_iter().map(|p| p.nickname).collect()
}

#[tokio::test]
async fn signing_in_starts_a_new_http_only_session_and_lists_only_shared_servers() {
    let world = world().await;
    world.discord.add_guild(OTHER_GUILD, "Not Here");
    let mut browser = Browser::default();
    browser.jar.insert("tomori_session".into(), "planted-by-an-attacker".into());
    let page = browser.sign_in(&world, ALICE, "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Lantern Room"), "{}", page.body);
    let session = browser.jar.get("tomori_session").unwrap();
    assert_ne!(session, "planted-by-an-attacker", "the id changes at login");
    assert_eq!(session.len(), 43, "32 random bytes");
    let csp = header(&page, "content-security-policy");
    assert!(csp[0].contains("default-src 'none'"), "{csp:?}");
    assert!(csp[0].contains("script-src 'self';") && !csp[0].contains("unsafe"), "{csp:?}");
    assert_eq!(header(&page, "x-frame-options"), ["DENY"]);

    // The cookie as the callback set it.
    let mut fresh = Browser::default();
    world.discord.oauth_sign_in(UserSpec::new(ALICE, "alice"));
    let login = fresh.get(&format!("http://{}/login", world.web)).await;
    let authorize = header(&login, "location")[0].to_owned();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("state="));
    assert!(authorize.contains("scope=identify+guilds"), "{authorize}");
    let consent = fresh.get(&authorize).await;
    let callback = header(&consent, "location")[0].to_owned();
    let signed = fresh.get(&callback).await;
    let cookies = header(&signed, "set-cookie");
    let cookie = cookies.iter().find(|c| c.starts_with("tomori_session=")).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http on loopback: {cookie}");

    // The same callback again finds no login: a code and state work once.
    let replayed = fresh.get(&callback).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
}

#[tokio::test]
async fn a_callback_with_another_state_or_from_another_browser_signs_nobody_in() {
    let world = world().await;
    world.discord.oauth_sign_in(UserSpec::new(ALICE, "alice"));
    let mut victim = Browser::default();
    let login = victim.get(&format!("http://{}/login", world.web)).await;
    let authorize = header(&login, "location")[0].to_owned();
    let consent = victim.get(&authorize).await;
    let callback = header(&consent, "location")[0].to_owned();
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(victim.get(&tampered).await.status, 400);
    assert!(!victim.jar.contains_key("tomori_session"));
    // A callback carried to another browser (login CSRF) has no login cookie there.
    let mut other = Browser::default();
    assert_eq!(other.get(&callback).await.status, 400);
    assert!(!other.jar.contains_key("tomori_session"));
}

#[tokio::test]
async fn a_manager_changes_a_flag_once_and_forged_or_replayed_forms_change_nothing() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let overview = format!("http://{}/servers/{GUILD}", world.web);
    let page = alice.get(&overview).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = form_token(&page.body);
    let feature = format!("{overview}/feature");
    assert!(!flags(&world).await);

    let forged = alice.post(&feature, "feature=image_gen&on=true").await;
    assert_eq!(forged.status, 403, "no token: {}", forged.body);
    let wrong = alice.post(&feature, "csrf=not-a-token&feature=image_gen&on=true").await;
    assert_eq!(wrong.status, 403);
    let cross_site = alice
        .send(
            &feature,
            "POST",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Origin", "https://evil.example"),
            ],
            &format!("csrf={token}&feature=image_gen&on=true"),
        )
        .await;
    assert_eq!(cross_site.status, 403, "another site's form");
    assert!(!flags(&world).await, "nothing changed yet");

    let body = format!("csrf={token}&feature=image_gen&on=true");
    let done = alice.post(&feature, &body).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(flags(&world).await);
    let shown = alice.get(&overview).await;
    assert!(shown.body.contains("is now on"), "the answer is shown once: {}", shown.body);

    // Turned off by the slash command, then the same form sent again: refused, stays off.
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let actor = tomori_store::audit::Actor::Discord(Snowflake::new(ALICE).unwrap());
    settings::set_feature(&world.store, Scope::server(server), actor, Feature::ImageGen, false)
        .await
        .unwrap();
    let replayed = alice.post(&feature, &body).await;
    assert_eq!(replayed.status, 403, "{}", replayed.body);
    assert!(!flags(&world).await, "a replayed form changes nothing");

    // Without a session at all.
    let mut stranger = Browser::default();
    assert_eq!(stranger.post(&feature, &body).await.status, 401);
}

#[tokio::test]
async fn a_member_without_manage_server_is_refused_every_change() {
    let world = world().await;
    let mut bob = Browser::default();
    bob.sign_in(&world, BOB, "bob").await;
    let base = format!("http://{}/servers/{GUILD}", world.web);
    let page = bob.get(&base).await;
    assert_eq!(page.status, 200, "members read the overview: {}", page.body);
    assert!(!page.body.contains("Turn on"), "no switches are offered");
    let personas_page = bob.get(&format!("{base}/personas")).await;
    assert!(!personas_page.body.contains("Create a persona"));

    let forms = [
        ("/feature", "feature=image_gen&on=true"),
        ("/quota", "kind=text&per_user_daily=5"),
        ("/channel", "set=whitelist&channel=830000000000000002&add=true"),
        ("/personas", "name=Mallory&prompt=x"),
        ("/personas/remove", "name=Tomori"),
        ("/memories", "content=bob+was+here"),
        ("/memories/remove", "id=1"),
        ("/memories/edit", "id=1&content=changed"),
        ("/personas/edit", "name=Tomori&op=prompt&text=x"),
        ("/models", "provider=openai&model=gpt-4o"),
        ("/models/reset", "x=1"),
        ("/models/keys", "provider=openai&label=bob&key=sk-bob-canary"),
        ("/models/keys/remove", "id=1"),
        ("/models/endpoints", "label=mine&url=https%3A%2F%2Fexample.org%2Fv1&model=m"),
        ("/documents/remove", "name=handbook"),
        ("/mcp", "name=tools&url=https%3A%2F%2Fexample.org%2Fmcp&token=t"),
        ("/mcp/toggle", "name=tools"),
        ("/mcp/remove", "name=tools"),
    ];
    for (path, fields) in forms {
        // A real token from a page Bob was shown: only the permission stands in the way.
        let token = form_token(&bob.get(&base).await.body);
        let reply = bob.post(&format!("{base}{path}"), &format!("csrf={token}&{fields}")).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        assert!(reply.body.contains("Manage Server"), "{path}: {}", reply.body);
    }
    let token = form_token(&bob.get(&base).await.body);
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"card\"; filename=\"c.json\"\r\n\
         Content-Type: application/json\r\n\r\n{{\"name\":\"Mallory\",\"description\":\"x\"}}\r\n\
         --{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let import = bob
        .send(
            &format!("{base}/personas/import"),
            "POST",
            &[("Content-Type", content_type.as_str())],
            &multipart,
        )
        .await;
    assert_eq!(import.status, 403, "{}", import.body);
    let export = bob.get(&format!("{base}/personas/export?name=Tomori")).await;
    assert_eq!(export.status, 403, "a card shows the whole prompt");
    assert!(!flags(&world).await);
    assert!(persona_names(&world).await.is_empty());
}

#[tokio::test]
async fn manage_server_is_read_from_discord_when_the_change_is_made() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let personas = format!("http://{}/servers/{GUILD}/personas", world.web);
    let page = alice.get(&personas).await;
    assert!(page.body.contains("Create a persona"), "{}", page.body);
    let token = form_token(&page.body);
    // Her role loses Manage Server after the page was shown (no gateway session runs here, so
    // the event reaches nobody; the REST answers change all the same).
    let _ = world.discord.update_role(GUILD, ADMINS, 0);
    let reply = alice.post(&personas, &format!("csrf={token}&name=Mirai&prompt=hi")).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(persona_names(&world).await.is_empty());
    // Given back, a fresh form works.
    let _ = world.discord.update_role(GUILD, ADMINS, MANAGE_GUILD);
    let token = form_token(&alice.get(&personas).await.body);
    let reply = alice.post(&personas, &format!("csrf={token}&name=Mirai&prompt=hi")).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(persona_names(&world).await, ["Mirai"]);
}

#[tokio::test]
async fn a_server_the_member_does_not_share_is_not_found() {
    let world = world().await;
    world.discord.add_guild(OTHER_GUILD, "Not Theirs");
    let mut bob = Browser::default();
    bob.sign_in(&world, BOB, "bob").await;
    let reply = bob.get(&format!("http://{}/servers/{OTHER_GUILD}", world.web)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let token = form_token(&bob.get(&format!("http://{}/me", world.web)).await.body);
    let feature = format!("http://{}/servers/{OTHER_GUILD}/feature", world.web);
    let reply = bob.post(&feature, &format!("csrf={token}&feature=image_gen&on=true")).await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn a_key_typed_into_the_form_is_stored_sealed_and_never_shown_back() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let models = format!("http://{}/servers/{GUILD}/models", world.web);
    let token = form_token(&alice.get(&models).await.body);
    let canary = "sk-dashboard-canary-0123456789";
    let body = format!("csrf={token}&provider=openai&label=main-key&key={canary}");
    let saved = alice.post(&format!("{models}/keys"), &body).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(!saved.body.contains(canary) && !saved.headers.contains(canary));
    let page = alice.get(&models).await;
    assert!(page.body.contains("main-key"), "the label is listed: {}", page.body);
    assert!(page.body.contains("never shown again"), "the answer: {}", page.body);
    assert!(!page.body.contains(canary), "the key is never shown back");
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let owner = tomori_store::credentials::KeyOwner::Server;
    let stored =
        tomori_store::credentials::list(&world.store, Scope::server(server), owner).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(!format!("{stored:?}").contains(canary));
}

#[tokio::test]
async fn a_manager_edits_a_personas_prompt_dialogue_and_triggers() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let personas = format!("http://{}/servers/{GUILD}/personas", world.web);
    let token = form_token(&alice.get(&personas).await.body);
    alice.post(&personas, &format!("csrf={token}&name=Mirai&prompt=old")).await;
    let edit = format!("{personas}/edit");
    for fields in [
        "op=prompt&text=You+keep+the+lanterns.",
        "op=dialogue-add&user=hello&bot=welcome+in",
        "op=trigger-add&text=lantern%2C+Mirai-chan",
        "op=attribute-add&text=speaks+softly",
    ] {
        let page = alice.get(&format!("{edit}?name=Mirai")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = form_token(&page.body);
        let reply = alice.post(&edit, &format!("csrf={token}&name=Mirai&{fields}")).await;
        assert_eq!(reply.status, 303, "{fields}: {}", reply.body);
    }
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let mirai =
        personas::find(&world.store, Scope::server(server), "Mirai").await.unwrap().unwrap();
    assert_eq!(mirai.prompt, "You keep the lanterns.");
    assert_eq!(mirai.sample_dialogues.len(), 1);
    assert_eq!(mirai.attributes, ["speaks softly"]);
    assert_eq!(mirai.trigger_words, ["lantern", "mirai-chan"]);
    let shown = alice.get(&format!("{edit}?name=Mirai")).await;
    assert!(shown.body.contains("welcome in") && shown.body.contains("mirai-chan"));
}

#[tokio::test]
async fn the_audit_log_shows_the_changes_verified_and_only_to_managers() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let base = format!("http://{}/servers/{GUILD}", world.web);
    let token = form_token(&alice.get(&format!("{base}/personas")).await.body);
    alice.post(&format!("{base}/personas"), &format!("csrf={token}&name=Mirai")).await;
    let log = alice.get(&format!("{base}/audit")).await;
    assert_eq!(log.status, 200, "{}", log.body);
    assert!(log.body.contains("persona.create"), "{}", log.body);
    assert!(log.body.contains(&format!("discord:{ALICE}")), "who made it");
    assert!(log.body.contains("Verified: all 1 rows"), "{}", log.body);
    let mut bob = Browser::default();
    bob.sign_in(&world, BOB, "bob").await;
    assert_eq!(bob.get(&format!("{base}/audit")).await.status, 403);
}

#[tokio::test]
async fn a_manager_teaches_edits_searches_and_exports_server_memories() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let base = format!("http://{}/servers/{GUILD}", world.web);
    let token = form_token(&alice.get(&format!("{base}/personas")).await.body);
    alice.post(&format!("{base}/personas"), &format!("csrf={token}&name=Mirai")).await;
    let memories = format!("{base}/memories");
    let token = form_token(&alice.get(&memories).await.body);
    let taught =
        alice.post(&memories, &format!("csrf={token}&content=The+festival+is+in+May")).await;
    assert_eq!(taught.status, 303, "{}", taught.body);
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let all = tomori_store::memories::list_all_server(&world.store, Scope::server(server));
    let id = all.await.unwrap()[0].id;
    let token = form_token(&alice.get(&memories).await.body);
    let body = format!("csrf={token}&id={id}&content=The+festival+is+in+June");
    assert_eq!(alice.post(&format!("{memories}/edit"), &body).await.status, 303);
    let found = alice.get(&format!("{memories}?q=june")).await;
    assert!(found.body.contains("1 of 1 memories"), "{}", found.body);
    let missed = alice.get(&format!("{memories}?q=may")).await;
    assert!(missed.body.contains("0 of 1 memories"), "{}", missed.body);
    let token = form_token(&found.body);
    let export = alice.post(&format!("{memories}/export"), &format!("csrf={token}")).await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert!(header(&export, "content-disposition")[0].starts_with("attachment;"));
    assert!(export.body.contains("The festival is in June"), "{}", export.body);
}

/// A multipart body of `fields` (name, value) and one file field, with its content type.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "TomoriBoundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (name, filename, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn an_uploaded_avatar_is_reencoded_served_by_digest_and_previewed() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let base = format!("http://{}/servers/{GUILD}", world.web);
    let token = form_token(&alice.get(&format!("{base}/personas")).await.body);
    alice.post(&format!("{base}/personas"), &format!("csrf={token}&name=Mirai")).await;
    let picture = image::RgbImage::from_fn(600, 400, |x, _| {
        image::Rgb([u8::try_from(x % 256).unwrap(), 90, 160])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let edit = format!("{base}/personas/edit?name=Mirai");
    for (file, expect_changed) in [(b"not an image at all".to_vec(), false), (png, true)] {
        let token = form_token(&alice.get(&edit).await.body);
        let (content_type, body) =
            multipart(&[("csrf", &token), ("name", "Mirai")], ("image", "a.png", &file));
        let (addr, path) = split(&format!("{base}/personas/avatar"));
        let cookies =
            alice.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let reply = tomori_testkit::http::send_bytes(
            addr,
            "POST",
            &path,
            &[("Content-Type", content_type.as_str()), ("Cookie", cookies.as_str())],
            &body,
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 303, "{}", reply.body);
        let page = alice.get(&edit).await;
        assert_eq!(page.body.contains("<img class=\"avatar\""), expect_changed, "{}", page.body);
    }
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let mirai =
        personas::find(&world.store, Scope::server(server), "Mirai").await.unwrap().unwrap();
    let url = mirai.avatar_url.unwrap();
    let path = url.strip_prefix(&format!("http://{}", world.web)).unwrap();
    assert!(path.starts_with("/avatars/") && path.ends_with(".jpg"), "{url}");
    let mut stranger = Browser::default();
    let served = tomori_testkit::http::get_bytes(world.web, path).await.unwrap();
    assert_eq!(served.0, 200);
    let shown = image::load_from_memory(&served.1).unwrap();
    assert_eq!((shown.width(), shown.height()), (256, 171), "shrunk, aspect kept");
    assert_eq!(
        stranger.get(&format!("http://{}/avatars/{}.jpg", world.web, "0".repeat(64))).await.status,
        404
    );
}

#[tokio::test]
async fn a_manager_changes_a_quota_and_a_channel_set_from_the_overview() {
    let world = world().await;
    let mut alice = Browser::default();
    alice.sign_in(&world, ALICE, "alice").await;
    let overview = format!("http://{}/servers/{GUILD}", world.web);
    let token = form_token(&alice.get(&overview).await.body);
    let body = format!("csrf={token}&kind=image&per_user_daily=5&server_pool=1%2C000&enabled=true");
    assert_eq!(alice.post(&format!("{overview}/quota"), &body).await.status, 303);
    let token = form_token(&alice.get(&overview).await.body);
    let body = format!("csrf={token}&set=whitelist&channel=830000000000000002&add=true");
    assert_eq!(alice.post(&format!("{overview}/channel"), &body).await.status, 303);
    let token = form_token(&alice.get(&overview).await.body);
    let bad = format!("csrf={token}&kind=image&per_user_daily=lots");
    assert_eq!(alice.post(&format!("{overview}/quota"), &bad).await.status, 303);
    let page = alice.get(&overview).await.body;
    assert!(page.contains("must be a whole number"), "{page}");
    let server = world.store.resolve_guild(Snowflake::new(GUILD).unwrap()).await.unwrap();
    let scope = Scope::server(server);
    let image =
        tomori_store::quotas::limits(&world.store, scope, tomori_store::quotas::QuotaKind::Image);
    let image = image.await.unwrap();
    assert!(image.enabled && image.per_user_daily == 5 && image.server_pool == 1_000, "{image:?}");
    let whitelist = tomori_core::settings::ChannelSet::Whitelist;
    let channels = settings::channels(&world.store, scope, whitelist).await.unwrap();
    assert_eq!(channels, [Snowflake::new(830_000_000_000_000_002).unwrap()]);
    assert!(page.contains("#830000000000000002"), "the overview lists it");
}

#[tokio::test]
async fn a_public_url_in_clear_outside_loopback_is_refused() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let config = |public_url: &str| DashboardConfig {
        public_url: public_url.parse().unwrap(),
        client_id: 1,
        client_secret: SecretString::from("secret"),
        api_base: "https://discord.com/api/v10".parse().unwrap(),
        bot_token: SecretString::from(TOKEN),
        server_policy: tomori_net::Policy::new(tomori_net::Scope::Server),
    };
    let refused = Dashboard::new(config("http://tomori.example.org"), store.clone());
    assert!(refused.unwrap_err().to_string().contains("needs https"));
    for allowed in
        ["https://tomori.example.org/dash", "http://127.0.0.1:9100", "http://localhost:9100"]
    {
        assert!(Dashboard::new(config(allowed), store.clone()).is_ok(), "{allowed}");
    }
}
