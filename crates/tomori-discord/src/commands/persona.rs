//! `/persona create|list|rename|remove|import|export`: the server's personas. Listing is for
//! every member; the rest changes the server, or shows a persona's whole prompt, and needs
//! Manage Server.
//!
//! `import` takes an attachment: a SillyTavern card (PNG or JSON, V1/V2/V3) or Tomori's persona
//! JSON, parsed by `tomori_core::card`. Its size (as Discord reports it) is checked before the
//! download, the download goes through the media policy with the same cap, and a card that is
//! malformed or too large is refused with the reason and nothing written. `export` answers with
//! the persona as a V2 card PNG that SillyTavern imports.

use std::time::Duration;

use tomori_core::card::{self, Dialogue, MAX_PNG_BYTES, PersonaCard, SourceSpec};
use tomori_core::persona::MAX_NICKNAME_CHARS;
use tomori_store::Scope;
use tomori_store::personas::{self, NewPersona, Persona, SampleDialogue};
use twilight_model::application::command::CommandType;
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::application::interaction::application_command::CommandOptionValue;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    AttachmentBuilder, CommandBuilder, StringBuilder, SubCommandBuilder,
};

use super::{Args, BadInput, Ctx, Failure, Need, non_empty};

/// How long a card or avatar download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Discord's longest string option.
const MAX_PROMPT_OPTION: u16 = 6_000;

/// A `/persona` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Create { name: String, prompt: Option<String> },
    List,
    Rename { name: String, new_name: String },
    Remove { name: String },
    Import { card: CardFile, name: Option<String> },
    Export { name: String },
}

/// The attachment a card import names, as Discord resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CardFile {
    pub(crate) url: String,
    pub(crate) filename: String,
    /// Bytes, as Discord reports it (checked again while downloading).
    pub(crate) size: u64,
}

fn nickname_option(name: &'static str, description: &'static str) -> StringBuilder {
    let max = u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX);
    StringBuilder::new(name, description).required(true).max_length(max)
}

pub(crate) fn definition() -> CommandBuilder {
    CommandBuilder::new(
        "persona",
        "Create and manage the server's personas",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
    .contexts([InteractionContextType::Guild])
    .option(
        SubCommandBuilder::new(
            "create",
            "Create a persona (the server's first becomes its main persona)",
        )
        .option(nickname_option("name", "Its display name"))
        .option(
            StringBuilder::new("prompt", "Its personality prompt").max_length(MAX_PROMPT_OPTION),
        ),
    )
    .option(SubCommandBuilder::new("list", "List the server's personas"))
    .option(
        SubCommandBuilder::new("rename", "Rename a persona; its memories stay")
            .option(nickname_option("name", "The persona's current name"))
            .option(nickname_option("new_name", "Its new name")),
    )
    .option(
        SubCommandBuilder::new("remove", "Remove an alter (not the main persona)")
            .option(nickname_option("name", "The persona to remove")),
    )
    .option(
        SubCommandBuilder::new(
            "import",
            "Import a SillyTavern character card (PNG or JSON) or a Tomori persona JSON",
        )
        .option(AttachmentBuilder::new("card", "The card file").required(true))
        .option(
            StringBuilder::new("name", "Use this name instead of the card's")
                .max_length(u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX)),
        ),
    )
    .option(
        SubCommandBuilder::new("export", "Export a persona as a SillyTavern card (PNG)")
            .option(nickname_option("name", "The persona to export")),
    )
}

/// The attachment option `name`, looked up in the interaction's resolved data.
fn attachment(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
    name: &str,
) -> Result<CardFile, BadInput> {
    let id = match args.value(name) {
        Some(CommandOptionValue::Attachment(id)) => *id,
        Some(_) => return Err(Args::wrong(name)),
        None => return Err(Args::missing(name)),
    };
    let file = resolved.and_then(|r| r.attachments.get(&id)).ok_or_else(|| {
        BadInput("Discord did not send the attached file; attach it again.".to_owned())
    })?;
    Ok(CardFile { url: file.url.clone(), filename: file.filename.clone(), size: file.size })
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    Ok(match sub {
        "create" => Action::Create {
            name: args.required_string("name")?.to_owned(),
            prompt: args.string("prompt")?.map(str::to_owned),
        },
        "list" => Action::List,
        "rename" => Action::Rename {
            name: args.required_string("name")?.to_owned(),
            new_name: args.required_string("new_name")?.to_owned(),
        },
        "remove" => Action::Remove { name: args.required_string("name")?.to_owned() },
        "import" => Action::Import {
            card: attachment(args, resolved, "card")?,
            name: args.string("name")?.map(str::to_owned),
        },
        "export" => Action::Export { name: args.required_string("name")?.to_owned() },
        _ => return Err(BadInput::unknown()),
    })
}

pub(crate) fn need(action: &Action) -> Need {
    match action {
        Action::List => Need::Member,
        // Export shows the whole prompt, which a server may keep to its managers.
        Action::Create { .. }
        | Action::Rename { .. }
        | Action::Remove { .. }
        | Action::Import { .. }
        | Action::Export { .. } => Need::Manager,
    }
}

/// The persona with this name in the caller's server.
pub(crate) async fn named(ctx: &Ctx<'_>, scope: Scope, name: &str) -> Result<Persona, Failure> {
    personas::find(ctx.store, scope, non_empty(name, "persona name")?)
        .await?
        .ok_or_else(|| Failure::BadInput(format!("This server has no persona named {name}.")))
}

pub(crate) async fn run(ctx: &Ctx<'_>, action: &Action) -> Result<String, Failure> {
    let scope = ctx.server().await?;
    match action {
        Action::Create { name, prompt } => {
            let new = NewPersona {
                nickname: name.clone(),
                prompt: prompt.clone().unwrap_or_default(),
                ..NewPersona::default()
            };
            let persona = personas::create(ctx.store, scope, ctx.actor(), new).await?;
            let role = if persona.is_main { "the main persona" } else { "an alter" };
            Ok(format!("Created **{}** as {role}.", persona.nickname))
        }
        Action::List => {
            let all = personas::list(ctx.store, scope).await?;
            if all.is_empty() {
                return Ok(
                    "This server has no persona yet; create one with /persona create.".to_owned()
                );
            }
            let lines: Vec<String> = all
                .iter()
                .map(|p| {
                    let role = if p.is_main { " (main)" } else { "" };
                    format!("- **{}**{role}", p.nickname)
                })
                .collect();
            Ok(lines.join("\n"))
        }
        Action::Rename { name, new_name } => {
            let persona = named(ctx, scope, name).await?;
            let renamed =
                personas::rename(ctx.store, scope, ctx.actor(), persona.id, new_name).await?;
            Ok(format!("Renamed **{}** to **{}**.", persona.nickname, renamed.nickname))
        }
        Action::Remove { name } => {
            let persona = named(ctx, scope, name).await?;
            personas::remove(ctx.store, scope, ctx.actor(), persona.id).await?;
            Ok(format!("Removed **{}**.", persona.nickname))
        }
        Action::Import { card, name } => import(ctx, scope, card, name.as_deref()).await,
        Action::Export { name } => export(ctx, scope, name).await,
    }
}

fn media<'a>(ctx: &Ctx<'a>) -> Result<&'a tomori_net::Client, Failure> {
    ctx.media.ok_or_else(|| {
        Failure::BadInput(
            "Downloads are unavailable on this bot right now, so cards cannot be imported."
                .to_owned(),
        )
    })
}

fn mib(bytes: u64) -> String {
    // Display only: two decimals of a MiB.
    #[expect(clippy::cast_precision_loss, reason = "an approximate size for a message")]
    let value = bytes as f64 / (1024.0 * 1024.0);
    format!("{value:.2} MiB")
}

async fn import(
    ctx: &Ctx<'_>,
    scope: Scope,
    file: &CardFile,
    name: Option<&str>,
) -> Result<String, Failure> {
    let max = u64::try_from(MAX_PNG_BYTES).unwrap_or(u64::MAX);
    // Security: denial of service through uploads. The size Discord reports is checked before
    // anything is downloaded, and the download itself stops at the same cap.
    if file.size > max {
        return Err(Failure::BadInput(format!(
            "`{}` is {}; a card may be at most {}. Nothing was changed.",
            file.filename,
            mib(file.size),
            mib(max)
        )));
    }
    let limits = tomori_net::Limits::default().with_max_bytes(max).with_timeout(DOWNLOAD_TIMEOUT);
    let download = media(ctx)?.safe_download(&file.url, &limits).await.map_err(|error| {
        tracing::info!(%error, "a card download failed");
        Failure::BadInput(match error {
            tomori_net::FetchError::TooLarge { .. } => {
                format!("`{}` is larger than {}; nothing was changed.", file.filename, mib(max))
            }
            _ => format!(
                "I could not download `{}` ({}); nothing was changed.",
                file.filename,
                error.code()
            ),
        })
    })?;
    let limits = ctx.store.limits();
    let imported = card::parse(&download.bytes, limits, name).map_err(|error| {
        Failure::BadInput(format!(
            "`{}` cannot be imported: {error}. Nothing was changed.",
            file.filename
        ))
    })?;
    let card = imported.card;
    let sample_dialogues = card
        .stored_dialogues(limits)
        .into_iter()
        .map(|d| SampleDialogue { user: d.user, bot: d.bot })
        .collect();
    let new = NewPersona {
        nickname: card.name.clone(),
        prompt: card.prompt.clone(),
        attributes: card.attributes.clone(),
        sample_dialogues,
        trigger_words: card.trigger_words.clone(),
        avatar_url: None,
        lineage: None,
    };
    let persona = personas::create(ctx.store, scope, ctx.actor(), new).await?;
    let role = if persona.is_main { "the main persona" } else { "an alter" };
    let mut answer = format!(
        "Imported **{}** as {role} ({} attributes, {} sample dialogues).",
        persona.nickname,
        persona.attributes.len(),
        persona.sample_dialogues.len()
    );
    for warning in &imported.warnings {
        answer.push_str(&format!("\nLeft out: {warning}."));
    }
    Ok(answer)
}

/// A file name for the card: the persona's name in letters, digits, `-` and `_`.
fn card_filename(nickname: &str) -> String {
    let stem: String = nickname
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let stem = stem.trim_matches('_');
    if stem.is_empty() { "persona.png".to_owned() } else { format!("{stem}.png") }
}

/// The persona's avatar as PNG bytes, when it has one that downloads as a PNG.
async fn avatar_png(ctx: &Ctx<'_>, persona: &Persona) -> Option<Vec<u8>> {
    let url = persona.avatar_url.as_deref()?;
    let limits = tomori_net::Limits::default()
        .with_max_bytes(u64::try_from(MAX_PNG_BYTES / 2).unwrap_or(u64::MAX))
        .with_timeout(DOWNLOAD_TIMEOUT)
        .with_content_types(&["image/png"]);
    match ctx.media?.safe_download(url, &limits).await {
        Ok(download) => Some(download.bytes.to_vec()),
        Err(error) => {
            tracing::info!(%error, "the avatar is not used in the exported card");
            None
        }
    }
}

async fn export(ctx: &Ctx<'_>, scope: Scope, name: &str) -> Result<String, Failure> {
    let persona = named(ctx, scope, name).await?;
    let card = PersonaCard {
        tomori_persona: card::FORMAT_VERSION,
        name: persona.nickname.clone(),
        source_spec: SourceSpec::Tomori,
        prompt: persona.prompt.clone(),
        greeting: String::new(),
        alternate_greetings: Vec::new(),
        attributes: persona.attributes.clone(),
        sample_dialogues: persona
            .sample_dialogues
            .iter()
            .map(|d| Dialogue { user: d.user.clone(), bot: d.bot.clone() })
            .collect(),
        trigger_words: persona.trigger_words.clone(),
        lorebook_entries: 0,
        tags: Vec::new(),
    };
    let avatar = avatar_png(ctx, &persona).await;
    // An avatar that is not a valid PNG is replaced by a generated square, not an error.
    let png = match avatar.as_deref().map(|image| card::export_png(&card, Some(image))) {
        Some(Ok(png)) => png,
        _ => card::export_png(&card, None).map_err(|error| {
            Failure::BadInput(format!("**{}** cannot be exported: {error}.", persona.nickname))
        })?,
    };
    ctx.files.attach(card_filename(&persona.nickname), png);
    Ok(format!(
        "**{}** as a SillyTavern character card (V2 PNG); import it in SillyTavern, or here with \
         /persona import.",
        persona.nickname
    ))
}
