//! Personas: one main persona and any number of alters per server.

use serde::{Deserialize, Serialize};
use tomori_core::id::{LineageId, PersonaId};
use tomori_core::persona::validate_nickname;

use crate::audit::{self, Actor, Change};
use crate::error::SqlxResultExt;
use crate::{Scope, Store, StoreError};

/// One sample exchange shown to the model as an example of the persona's voice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleDialogue {
    /// What someone says.
    pub user: String,
    /// How the persona answers.
    pub bot: String,
}

/// A persona as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Persona {
    /// Row id.
    pub id: PersonaId,
    /// Survives renames and re-imports; scopes memories.
    pub lineage: LineageId,
    /// Whether this persona speaks as the bot itself.
    pub is_main: bool,
    /// Display name, unique per server ignoring case.
    pub nickname: String,
    /// The personality prompt.
    pub prompt: String,
    /// Short facts about the persona.
    pub attributes: Vec<String>,
    /// Example exchanges.
    pub sample_dialogues: Vec<SampleDialogue>,
    /// Words that make this persona answer.
    pub trigger_words: Vec<String>,
    /// Avatar used for webhook messages.
    pub avatar_url: Option<String>,
}

/// The fields of a persona to create.
#[derive(Debug, Clone, Default)]
pub struct NewPersona {
    /// Display name.
    pub nickname: String,
    /// Personality prompt.
    pub prompt: String,
    /// Attributes.
    pub attributes: Vec<String>,
    /// Example exchanges.
    pub sample_dialogues: Vec<SampleDialogue>,
    /// Trigger words.
    pub trigger_words: Vec<String>,
    /// Avatar URL (already checked by the caller's URL policy).
    pub avatar_url: Option<String>,
    /// Keep this lineage (re-import of an exported persona of the same server); new otherwise.
    pub lineage: Option<LineageId>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid { field, reason: reason.into() }
}

fn check_fields(store: &Store, new: &NewPersona) -> Result<(), StoreError> {
    let limits = store.limits();
    validate_nickname(&new.nickname).map_err(|e| invalid("nickname", e.to_string()))?;
    let too_long =
        |text: &str, max: u32| text.chars().count() > usize::try_from(max).unwrap_or(usize::MAX);
    if too_long(&new.prompt, limits.persona_prompt_chars) {
        return Err(invalid(
            "prompt",
            format!("at most {} characters", limits.persona_prompt_chars),
        ));
    }
    if new.attributes.len() > usize::try_from(limits.persona_attributes).unwrap_or(usize::MAX) {
        return Err(StoreError::LimitReached {
            what: "attributes",
            limit: limits.persona_attributes,
        });
    }
    if new
        .attributes
        .iter()
        .any(|a| too_long(a, limits.persona_attribute_chars) || a.trim().is_empty())
    {
        return Err(invalid(
            "attribute",
            format!("1 to {} characters each", limits.persona_attribute_chars),
        ));
    }
    if new.sample_dialogues.len()
        > usize::try_from(limits.persona_sample_dialogues).unwrap_or(usize::MAX)
    {
        return Err(StoreError::LimitReached {
            what: "sample dialogues",
            limit: limits.persona_sample_dialogues,
        });
    }
    if new.sample_dialogues.iter().any(|d| {
        too_long(&d.user, limits.persona_attribute_chars)
            || too_long(&d.bot, limits.persona_attribute_chars)
    }) {
        return Err(invalid(
            "sample dialogue",
            format!("at most {} characters a line", limits.persona_attribute_chars),
        ));
    }
    if new.trigger_words.len() > usize::try_from(limits.trigger_words).unwrap_or(usize::MAX) {
        return Err(StoreError::LimitReached {
            what: "trigger words",
            limit: limits.trigger_words,
        });
    }
    if new.trigger_words.iter().any(|w| w.trim().is_empty() || w.chars().count() > 64) {
        return Err(invalid("trigger word", "1 to 64 characters each"));
    }
    Ok(())
}

struct PersonaRow {
    id: i64,
    lineage_id: i64,
    is_main: bool,
    nickname: String,
    prompt: String,
    attributes: Vec<String>,
    sample_dialogues: serde_json::Value,
    trigger_words: Vec<String>,
    avatar_url: Option<String>,
}

impl PersonaRow {
    fn into_persona(self) -> Persona {
        Persona {
            id: PersonaId::from_db(self.id),
            lineage: LineageId::from_db(self.lineage_id),
            is_main: self.is_main,
            nickname: self.nickname,
            prompt: self.prompt,
            attributes: self.attributes,
            // The column is written only from Vec<SampleDialogue>; anything else is skipped, not fatal.
            sample_dialogues: serde_json::from_value(self.sample_dialogues).unwrap_or_default(),
            trigger_words: self.trigger_words,
            avatar_url: self.avatar_url,
        }
    }
}

/// Creates a persona. The server's first persona becomes its main persona; later ones are alters.
///
/// # Errors
/// Invalid fields, the server's persona limit, a nickname already used in the server (ignoring
/// case), or an unavailable database.
pub async fn create(
    store: &Store,
    scope: Scope,
    actor: Actor,
    new: NewPersona,
) -> Result<Persona, StoreError> {
    check_fields(store, &new)?;
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM personas WHERE server_id = $1"#,
        server.get()
    )
    .fetch_one(tx.conn())
    .await
    .about("persona")?;
    let limit = store.limits().personas_per_server;
    if count >= i64::from(limit) {
        return Err(StoreError::LimitReached { what: "personas", limit });
    }
    let dialogues =
        serde_json::to_value(&new.sample_dialogues).expect("sample dialogues serialise");
    let row = sqlx::query_as!(
        PersonaRow,
        "INSERT INTO personas (server_id, lineage_id, is_main, nickname, prompt, attributes,
                               sample_dialogues, trigger_words, avatar_url)
         VALUES ($1, COALESCE($2, nextval('persona_lineage_seq')), $3, $4, $5, $6, $7, $8, $9)
         RETURNING id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                   trigger_words, avatar_url",
        server.get(),
        new.lineage.map(LineageId::get),
        count == 0,
        validate_nickname(&new.nickname).unwrap_or_default(),
        new.prompt,
        &new.attributes,
        dialogues,
        &new.trigger_words,
        new.avatar_url
    )
    .fetch_one(tx.conn())
    .await
    .about("persona with that name")?;
    let persona = row.into_persona();
    let after = serde_json::to_value(&persona).expect("persona serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "persona.create",
            target: format!("persona:{}", persona.id),
            before: None,
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(persona)
}

/// Every persona of the server, the main persona first.
///
/// # Errors
/// An unavailable database.
pub async fn list(store: &Store, scope: Scope) -> Result<Vec<Persona>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let rows = sqlx::query_as!(
        PersonaRow,
        "SELECT id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                trigger_words, avatar_url
         FROM personas WHERE server_id = $1 ORDER BY is_main DESC, id",
        server.get()
    )
    .fetch_all(tx.conn())
    .await
    .about("persona")?;
    tx.commit().await?;
    Ok(rows.into_iter().map(PersonaRow::into_persona).collect())
}

/// The persona with this nickname, ignoring case.
///
/// # Errors
/// An unavailable database.
pub async fn find(
    store: &Store,
    scope: Scope,
    nickname: &str,
) -> Result<Option<Persona>, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        PersonaRow,
        "SELECT id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                trigger_words, avatar_url
         FROM personas WHERE server_id = $1 AND lower(nickname) = lower($2)",
        server.get(),
        nickname.trim()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?;
    tx.commit().await?;
    Ok(row.map(PersonaRow::into_persona))
}

/// Renames a persona; its lineage, and so its memories, stay.
///
/// # Errors
/// An invalid or taken nickname, an unknown persona, or an unavailable database.
pub async fn rename(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: PersonaId,
    nickname: &str,
) -> Result<Persona, StoreError> {
    let nickname = validate_nickname(nickname).map_err(|e| invalid("nickname", e.to_string()))?;
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let before = sqlx::query_scalar!(
        "SELECT nickname FROM personas WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server.get(),
        id.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?
    .ok_or(StoreError::NotFound("persona"))?;
    let row = sqlx::query_as!(
        PersonaRow,
        "UPDATE personas SET nickname = $3, updated_at = now() WHERE server_id = $1 AND id = $2
         RETURNING id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                   trigger_words, avatar_url",
        server.get(),
        id.get(),
        nickname
    )
    .fetch_one(tx.conn())
    .await
    .about("persona with that name")?;
    let persona = row.into_persona();
    let before = serde_json::json!({ "nickname": before });
    let after = serde_json::json!({ "nickname": persona.nickname });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "persona.rename",
            target: format!("persona:{id}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(persona)
}

/// Removes an alter. The main persona cannot be removed while it is the server's voice; swap
/// another persona in first.
///
/// # Errors
/// The main persona, an unknown persona, or an unavailable database.
pub async fn remove(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: PersonaId,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        PersonaRow,
        "SELECT id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                trigger_words, avatar_url
         FROM personas WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server.get(),
        id.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?
    .ok_or(StoreError::NotFound("persona"))?;
    if row.is_main {
        return Err(invalid(
            "persona",
            "the main persona cannot be removed; swap another persona in first",
        ));
    }
    let before = serde_json::to_value(row.into_persona()).expect("persona serialises");
    sqlx::query!("DELETE FROM personas WHERE server_id = $1 AND id = $2", server.get(), id.get())
        .execute(tx.conn())
        .await
        .about("persona")?;
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "persona.remove",
            target: format!("persona:{id}"),
            before: Some(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await
}

/// Changes a persona's prompt, attributes, sample dialogues, trigger words or avatar: `change`
/// gets the persona as stored and edits it in place; the result is checked against the same
/// limits as a new persona and written with an audit row of before and after. The nickname, main
/// flag and lineage cannot change here (`rename`, `swap`).
///
/// # Errors
/// An edit that breaks a limit (nothing is written), an unknown persona, or an unavailable
/// database.
pub async fn edit(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: PersonaId,
    change: impl FnOnce(&mut Persona) -> Result<(), StoreError>,
) -> Result<Persona, StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let row = sqlx::query_as!(
        PersonaRow,
        "SELECT id, lineage_id, is_main, nickname, prompt, attributes, sample_dialogues,
                trigger_words, avatar_url
         FROM personas WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server.get(),
        id.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?
    .ok_or(StoreError::NotFound("persona"))?;
    let before = row.into_persona();
    let mut after = before.clone();
    change(&mut after)?;
    check_fields(
        store,
        &NewPersona {
            nickname: after.nickname.clone(),
            prompt: after.prompt.clone(),
            attributes: after.attributes.clone(),
            sample_dialogues: after.sample_dialogues.clone(),
            trigger_words: after.trigger_words.clone(),
            avatar_url: after.avatar_url.clone(),
            lineage: None,
        },
    )?;
    let dialogues =
        serde_json::to_value(&after.sample_dialogues).expect("sample dialogues serialise");
    sqlx::query!(
        "UPDATE personas SET prompt = $3, attributes = $4, sample_dialogues = $5,
                trigger_words = $6, avatar_url = $7, updated_at = now()
         WHERE server_id = $1 AND id = $2",
        server.get(),
        id.get(),
        after.prompt,
        &after.attributes,
        dialogues,
        &after.trigger_words,
        after.avatar_url
    )
    .execute(tx.conn())
    .await
    .about("persona")?;
    let before_state = serde_json::to_value(&before).expect("persona serialises");
    let after_state = serde_json::to_value(&after).expect("persona serialises");
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "persona.edit",
            target: format!("persona:{id}"),
            before: Some(&before_state),
            after: Some(&after_state),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Makes an alter the main persona (the bot's own voice); the former main persona becomes an
/// alter. Memories stay with each persona's lineage.
///
/// # Errors
/// An unknown persona, or an unavailable database.
pub async fn swap(
    store: &Store,
    scope: Scope,
    actor: Actor,
    id: PersonaId,
) -> Result<(), StoreError> {
    let server = scope.require_server()?;
    let mut tx = store.begin(scope).await?;
    let exists = sqlx::query_scalar!(
        "SELECT is_main FROM personas WHERE server_id = $1 AND id = $2 FOR UPDATE",
        server.get(),
        id.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?
    .ok_or(StoreError::NotFound("persona"))?;
    if exists {
        return tx.commit().await;
    }
    // The one-main-per-server index holds between the statements: demote first.
    let former = sqlx::query_scalar!(
        "UPDATE personas SET is_main = false, updated_at = now()
         WHERE server_id = $1 AND is_main RETURNING id",
        server.get()
    )
    .fetch_optional(tx.conn())
    .await
    .about("persona")?;
    sqlx::query!(
        "UPDATE personas SET is_main = true, updated_at = now() WHERE server_id = $1 AND id = $2",
        server.get(),
        id.get()
    )
    .execute(tx.conn())
    .await
    .about("persona")?;
    let before = serde_json::json!({ "main": former });
    let after = serde_json::json!({ "main": id.get() });
    audit::record(
        &mut tx,
        Change {
            actor,
            action: "persona.swap",
            target: format!("persona:{id}"),
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await
}
