//! Managers recognised on MESSAGE_CREATE, which carries the member's roles but not their
//! permissions: the guild's roles and owner as GUILD_CREATE and the role events describe them.

use tomori_discord::Discord;
use tomori_testkit::fake_discord::{FakeDiscord, MemberSpec, MessageCreate, UserSpec};

use crate::{ALICE, Bot, CHANNEL, GUILD, WAIT, config};

const OWNER: u64 = 700_000_000_000_000_003;
const MODS: u64 = 600_000_000_000_000_010;
const ADMINS: u64 = 600_000_000_000_000_011;
const HELPERS: u64 = 600_000_000_000_000_012;
const LATER: u64 = 600_000_000_000_000_013;
const MANAGE_GUILD: u64 = 0x20;
const ADMINISTRATOR: u64 = 0x8;
const MANAGE_MESSAGES: u64 = 0x2000;

#[tokio::test]
async fn roles_granting_manage_server_make_an_author_a_manager() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(GUILD, CHANNEL);
    fake.add_role(GUILD, MODS, MANAGE_GUILD);
    fake.add_role(GUILD, ADMINS, ADMINISTRATOR);
    fake.add_role(GUILD, HELPERS, MANAGE_MESSAGES);
    fake.set_owner(GUILD, OWNER);
    let mut bot = Bot::start(Discord::connect(&config(&fake)).await.unwrap());
    fake.wait_for_ready(0, WAIT).await;

    let mut admin = async |user: u64, roles: &[u64]| -> bool {
        let member = MemberSpec { roles: roles.to_vec(), nick: None, permissions: None };
        fake.inject_message(
            MessageCreate::new(CHANNEL, UserSpec::new(user, "someone"), "hi")
                .in_guild(GUILD)
                .member(member),
        );
        bot.next().await.author_is_admin
    };
    assert!(!admin(ALICE, &[]).await, "@everyone alone");
    assert!(!admin(ALICE, &[HELPERS]).await, "Manage Messages is not Manage Server");
    assert!(admin(ALICE, &[MODS]).await, "a role with Manage Server");
    assert!(admin(ALICE, &[ADMINS]).await, "a role with Administrator");
    assert!(admin(OWNER, &[]).await, "the owner");

    // Role events keep it current.
    assert!(fake.update_role(GUILD, MODS, MANAGE_MESSAGES));
    assert!(!admin(ALICE, &[MODS]).await, "the role lost Manage Server");
    assert!(fake.update_role(GUILD, LATER, MANAGE_GUILD));
    assert!(admin(ALICE, &[LATER]).await, "a role created with Manage Server");
    assert!(fake.delete_role(GUILD, LATER));
    assert!(!admin(ALICE, &[LATER]).await, "a deleted role grants nothing");
    bot.shutdown().await.unwrap();
}
