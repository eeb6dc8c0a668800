//! `/model logit-bias add|remove|list|upload`: words the server makes more or less likely.
//!
//! An entry's text is tokenized once, here, in each vocabulary Tomori knows (OpenAI's
//! `o200k_base` and `cl100k_base`); turns send the stored ids of the answering model's vocabulary
//! (`tomori_core::logit_bias` says which models take which). Every token of the text gets the
//! bias, as in SillyTavern: banning a word made of two tokens bans both. Ids written in brackets
//! go as they are to custom endpoints, whose tokenizer Tomori does not know.

use tomori_core::logit_bias::{
    self as core, BiasEntry, MAX_BIAS, MAX_ENTRIES, MAX_ENTRY_TOKENS, Written,
};
use tomori_store::models::{self, ServerModel};
use tomori_store::{Scope, Store};

use super::need_model;
use crate::access::AdminError;
use crate::caller::Caller;

/// The largest SillyTavern logit bias file accepted.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// A change `/model logit-bias` asks for (`list` is [`super::Action::LogitBiasList`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BiasChange {
    /// Adds an entry, or changes the bias of the entry with the same text.
    Add {
        /// As written: a word or phrase, `{exact text}`, or `[ids]`.
        text: String,
        /// -100 to 100.
        bias: i64,
    },
    /// Removes the entry with this text.
    Remove {
        /// As listed.
        text: String,
    },
    /// Replaces the entries with a SillyTavern logit bias file's.
    Upload {
        /// The file's text.
        json: String,
    },
}

/// One tokenization at a time: each builds a vocabulary of some tens of megabytes (measured in
/// docs/performance.md), which two admins at once would double.
static TOKENIZING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The entries for `written` (text and bias as an admin gave them): each parsed first, then the
/// texts tokenized one vocabulary at a time off the runtime's threads, each vocabulary built for
/// this command and dropped before the next, so that only one is in memory. Turns send the stored
/// ids and never need them.
async fn entries(written: Vec<(String, i8)>) -> Result<Vec<BiasEntry>, AdminError> {
    let mut parsed = Vec::with_capacity(written.len());
    for (text, bias) in written {
        let form = core::parse_written(&text).map_err(|reason| refused(&text, &reason))?;
        parsed.push((text, bias, form));
    }
    let _one_at_a_time = TOKENIZING.acquire().await;
    let tokenized = tokio::task::spawn_blocking(move || tokenize(parsed))
        .await
        .map_err(|e| e.to_string())
        .flatten()
        .map_err(|error| {
            tracing::error!(%error, "the tokenizers did not load");
            AdminError::BadInput(
                "The tokenizers could not be loaded; nothing was changed.".to_owned(),
            )
        })?;
    for entry in &tokenized {
        if entry.o200k.len().max(entry.cl100k.len()) > MAX_ENTRY_TOKENS {
            return Err(refused(
                &entry.text,
                &format!(
                    "it stands for more than {MAX_ENTRY_TOKENS} tokens; bias a word or a short \
                     phrase"
                ),
            ));
        }
        entry.check().map_err(|reason| refused(&entry.text, &reason))?;
    }
    Ok(tokenized)
}

/// The entries with their ids in each vocabulary; blocking (it builds the vocabularies).
fn tokenize(parsed: Vec<(String, i8, Written)>) -> Result<Vec<BiasEntry>, String> {
    let mut entries: Vec<BiasEntry> = parsed
        .iter()
        .map(|(text, bias, form)| BiasEntry {
            text: text.clone(),
            bias: *bias,
            written: match form {
                Written::Ids(ids) => ids.clone(),
                Written::Text(_) => Vec::new(),
            },
            ..BiasEntry::default()
        })
        .collect();
    let texts = |form: &Written| match form {
        Written::Text(strings) => strings.clone(),
        Written::Ids(_) => Vec::new(),
    };
    // Ids written in brackets need no vocabulary.
    if !parsed.iter().any(|(_, _, form)| matches!(form, Written::Text(_))) {
        return Ok(entries);
    }
    let o200k = tiktoken_rs::o200k_base().map_err(|e| e.to_string())?;
    for (entry, (_, _, form)) in entries.iter_mut().zip(&parsed) {
        for string in texts(form) {
            extend_unique(&mut entry.o200k, o200k.encode_ordinary(&string));
        }
    }
    drop(o200k);
    let cl100k = tiktoken_rs::cl100k_base().map_err(|e| e.to_string())?;
    for (entry, (_, _, form)) in entries.iter_mut().zip(&parsed) {
        for string in texts(form) {
            extend_unique(&mut entry.cl100k, cl100k.encode_ordinary(&string));
        }
    }
    Ok(entries)
}

/// An entry refused, with nothing changed.
fn refused(text: &str, reason: &str) -> AdminError {
    AdminError::BadInput(format!("`{text}`: {reason}; nothing was changed."))
}

/// Keeps `ids` in order without repeats.
fn extend_unique(into: &mut Vec<u32>, ids: Vec<u32>) {
    for id in ids {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}

/// The server's entries, within one Discord message.
///
/// # Errors
/// The store failing.
pub(super) async fn listed(store: &Store, scope: Scope) -> Result<String, AdminError> {
    let model = models::get(store, scope).await?;
    Ok(list(model.as_ref().map_or(&[], |m| m.logit_bias.as_slice())))
}

/// Makes a `/model logit-bias` change to the server's model.
///
/// # Errors
/// Input refused (nothing changes then), no model chosen yet, or the store failing.
pub(super) async fn change(
    store: &Store,
    scope: Scope,
    caller: &Caller,
    change: &BiasChange,
) -> Result<String, AdminError> {
    let mut model = models::get(store, scope).await?.ok_or_else(need_model)?;
    let said = match change {
        BiasChange::Add { text, bias } => add(&mut model, text, *bias).await?,
        BiasChange::Remove { text } => {
            let before = model.logit_bias.len();
            model.logit_bias.retain(|e| e.text != *text);
            if model.logit_bias.len() == before {
                return Err(AdminError::BadInput(format!(
                    "`{text}` has no logit bias; /model logit-bias list shows them."
                )));
            }
            format!("`{text}` has no bias any more.")
        }
        BiasChange::Upload { json } => upload(&mut model, json).await?,
    };
    models::set(store, scope, caller.actor(), &model).await?;
    Ok(format!("{said} {}", reach(&model)))
}

async fn add(model: &mut ServerModel, text: &str, bias: i64) -> Result<String, AdminError> {
    let bias = i8::try_from(bias).ok().filter(|b| (-MAX_BIAS..=MAX_BIAS).contains(b)).ok_or_else(
        || AdminError::BadInput("The bias is -100 to 100; nothing was changed.".to_owned()),
    )?;
    let known = model.logit_bias.iter().position(|e| e.text == text);
    if known.is_none() && model.logit_bias.len() >= MAX_ENTRIES {
        return Err(AdminError::BadInput(format!(
            "At most {MAX_ENTRIES} logit bias entries; remove one with /model logit-bias remove."
        )));
    }
    let entry = entries(vec![(text.to_owned(), bias)]).await?.remove(0);
    let tokens = entry.o200k.len().max(entry.written.len());
    let said = format!("`{text}` now has a bias of {bias} ({tokens} token(s)).");
    match known {
        Some(at) => model.logit_bias[at] = entry,
        None => model.logit_bias.push(entry),
    }
    Ok(said)
}

async fn upload(model: &mut ServerModel, json: &str) -> Result<String, AdminError> {
    let read = core::parse_sillytavern(json).map_err(|reason| {
        AdminError::BadInput(format!("The file was not read: {reason}. Nothing was changed."))
    })?;
    let mut entries: Vec<BiasEntry> = Vec::with_capacity(read.len());
    for entry in self::entries(read).await? {
        // A later entry for the same text wins, as when added one by one.
        entries.retain(|e| e.text != entry.text);
        entries.push(entry);
    }
    let count = entries.len();
    model.logit_bias = entries;
    Ok(format!("The server's logit bias is now the file's {count} entries."))
}

/// Which models the bias reaches, for the admin to know where it has no effect.
fn reach(model: &ServerModel) -> String {
    if core::vocabulary(&model.provider, &model.model).is_some() {
        format!("`{}/{}` takes it.", model.provider, model.model)
    } else {
        format!(
            "`{}/{}` takes no logit bias; it goes only to OpenAI's chat models (also through \
             OpenRouter) and, as ids in brackets, to custom endpoints.",
            model.provider, model.model
        )
    }
}

/// The entries, within one Discord message.
fn list(entries: &[BiasEntry]) -> String {
    if entries.is_empty() {
        return "No logit bias.".to_owned();
    }
    const ROOM: usize = 1_700;
    let mut out = format!("Logit bias ({} of {MAX_ENTRIES}):", entries.len());
    for (shown, entry) in entries.iter().enumerate() {
        let line = format!("\n`{}` {:+}", entry.text.replace('`', "'"), entry.bias);
        if out.len() + line.len() > ROOM {
            out.push_str(&format!("\n… and {} more", entries.len() - shown));
            break;
        }
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn text_is_tokenized_in_both_vocabularies_with_and_without_a_space() {
        let one = |text: &str, bias: i8| entries(vec![(text.to_owned(), bias)]);
        let hello = one("Hello", -100).await.unwrap().remove(0);
        // "Hello" and " Hello" are one token each in both vocabularies.
        assert_eq!(hello.o200k.len(), 2, "{hello:?}");
        assert_eq!(hello.cl100k.len(), 2, "{hello:?}");
        assert_eq!(hello.cl100k, vec![9906, 22691], "cl100k's published ids");
        assert!(hello.written.is_empty());
        let exact = one("{Hello}", 5).await.unwrap().remove(0);
        assert_eq!(exact.cl100k, vec![9906]);
        let ids = one("[42, 7]", 5).await.unwrap().remove(0);
        assert_eq!((ids.written, ids.o200k), (vec![42, 7], Vec::new()));
        // Forty rare characters, several tokens each.
        let long: String = ('\u{9b31}'..='\u{9b58}').collect();
        assert!(one(&long, 1).await.is_err(), "too many tokens");
    }
}
