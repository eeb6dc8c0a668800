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
use twilight_model::application::interaction::InteractionDataResolved;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    AttachmentBuilder, CommandBuilder, StringBuilder, SubCommandBuilder,
};

use super::persona_edit;
use super::upload::Upload;
use super::{Args, BadInput, Ctx, Failure, Need, non_empty};

/// How long a card or avatar download may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Discord's longest string option.
const MAX_PROMPT_OPTION: u16 = 6_000;

/// A `/persona` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Create {
        name: String,
        prompt: Option<String>,
    },
    List,
    Rename {
        name: String,
        new_name: String,
    },
    Remove {
        name: String,
    },
    Import {
        card: Upload,
        name: Option<String>,
    },
    Export {
        name: String,
    },
    /// `prompt`, `attribute`, `sample-dialogue`, `trigger`, `avatar`, `swap`, `show`.
    Edit {
        name: String,
        edit: persona_edit::Edit,
    },
}

fn nickname_option(name: &'static str, description: &'static str) -> StringBuilder {
    let max = u16::try_from(MAX_NICKNAME_CHARS).unwrap_or(u16::MAX);
    StringBuilder::new(name, description).required(true).max_length(max)
}

pub(crate) fn definition() -> CommandBuilder {
    let command = CommandBuilder::new(
        "persona",
        "Create and manage the server's personas",
        CommandType::ChatInput,
    )
    .default_member_permissions(Permissions::MANAGE_GUILD)
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
    );
    persona_edit::options(command)
}

pub(crate) fn parse(
    args: Args<'_>,
    resolved: Option<&InteractionDataResolved>,
) -> Result<Action, BadInput> {
    let (sub, args) = args.nested()?;
    if let Some((name, edit)) = persona_edit::parse(sub, args)? {
        return Ok(Action::Edit { name, edit });
    }
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
            card: Upload::from_option(args, resolved, "card")?,
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
        | Action::Export { .. }
        | Action::Edit { .. } => Need::Manager,
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
        Action::Edit { name, edit } => persona_edit::run(ctx, name, edit).await,
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

async fn import(
    ctx: &Ctx<'_>,
    scope: Scope,
    file: &Upload,
    name: Option<&str>,
) -> Result<String, Failure> {
    let bytes = file.fetch(ctx, u64::try_from(MAX_PNG_BYTES).unwrap_or(u64::MAX)).await?;
    let limits = ctx.store.limits();
    let imported = card::parse(&bytes, limits, name).map_err(|error| {
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
