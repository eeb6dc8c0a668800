//! The model catalogue: what each (provider, model) can do, from config data, plus entries that
//! custom endpoints add for themselves.
//!
//! Capabilities shape requests before they are sent ([`shape_for`]): images are removed for a
//! model that cannot see, tools for one that cannot call them, each with a notice, so the
//! degradation ladder is for surprises rather than for known limits.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::degrade::IMAGE_PLACEHOLDER;
use crate::event::Notice;
use crate::history::flatten_tools;
use crate::request::{ChatRequest, Part};

/// What a model can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    /// Calls tools.
    pub tools: bool,
    /// Sees images.
    pub vision: bool,
    /// Context window in tokens, when known.
    pub context_length: Option<u32>,
    /// Makes embeddings (an embedding model, not a chat model).
    pub embeddings: bool,
}

impl Default for Capabilities {
    /// For a model nobody described: tools yes (the ladder drops them if refused), images no
    /// (sending them to a text model wastes the request), context unknown.
    fn default() -> Self {
        Capabilities { tools: true, vision: false, context_length: None, embeddings: false }
    }
}

/// One catalogue entry as config data describes it (`[[models]]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Provider name (`openrouter`, `anthropic`, `custom:s<server>:<label>`...).
    pub provider: String,
    /// The model id the provider knows.
    pub model: String,
    /// Name shown to users; the model id when unset.
    #[serde(default)]
    pub display_name: Option<String>,
    /// What it can do.
    #[serde(default, flatten)]
    pub capabilities: Capabilities,
}

/// A duplicate or empty entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogueError {
    /// Two entries for the same provider and model.
    #[error("model {model} of {provider} is listed twice")]
    Duplicate {
        /// Provider name.
        provider: String,
        /// Model id.
        model: String,
    },
    /// An entry with an empty provider or model.
    #[error("a catalogue entry needs a provider and a model")]
    Empty,
}

/// Every known model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCatalogue {
    entries: BTreeMap<(String, String), ModelEntry>,
}

impl ModelCatalogue {
    /// A catalogue of `entries`.
    ///
    /// # Errors
    ///
    /// A [`CatalogueError`] for duplicates or empty names.
    pub fn from_entries(
        entries: impl IntoIterator<Item = ModelEntry>,
    ) -> Result<Self, CatalogueError> {
        let mut catalogue = ModelCatalogue::default();
        for entry in entries {
            catalogue.add(entry)?;
        }
        Ok(catalogue)
    }

    /// Adds an entry (a custom endpoint describing its model).
    ///
    /// # Errors
    ///
    /// As [`ModelCatalogue::from_entries`].
    pub fn add(&mut self, entry: ModelEntry) -> Result<(), CatalogueError> {
        if entry.provider.trim().is_empty() || entry.model.trim().is_empty() {
            return Err(CatalogueError::Empty);
        }
        let key = (entry.provider.clone(), entry.model.clone());
        if self.entries.contains_key(&key) {
            return Err(CatalogueError::Duplicate { provider: key.0, model: key.1 });
        }
        self.entries.insert(key, entry);
        Ok(())
    }

    /// Removes a provider's entries (a custom endpoint deleted or re-registered).
    pub fn remove_provider(&mut self, provider: &str) {
        self.entries.retain(|(p, _), _| p != provider);
    }

    /// The entry for a model, if described.
    pub fn get(&self, provider: &str, model: &str) -> Option<&ModelEntry> {
        self.entries.get(&(provider.to_owned(), model.to_owned()))
    }

    /// A model's capabilities; [`Capabilities::default`] when it is not described.
    pub fn capabilities(&self, provider: &str, model: &str) -> Capabilities {
        self.get(provider, model).map(|entry| entry.capabilities).unwrap_or_default()
    }

    /// A provider's models, by id.
    pub fn models<'a>(&'a self, provider: &'a str) -> impl Iterator<Item = &'a ModelEntry> + 'a {
        self.entries.values().filter(move |entry| entry.provider == provider)
    }
}

/// `request` shaped for a model's capabilities, with a notice for each thing removed.
pub fn shape_for(request: &ChatRequest, capabilities: &Capabilities) -> (ChatRequest, Vec<Notice>) {
    let mut request = request.clone();
    let mut notices = Vec::new();
    if !capabilities.vision && request.has_images() {
        for message in &mut request.messages {
            for part in &mut message.parts {
                if matches!(part, Part::Image(_)) {
                    *part = Part::Text(IMAGE_PLACEHOLDER.to_owned());
                }
            }
        }
        notices.push(Notice::ImagesRemoved);
    }
    if !capabilities.tools && !request.tools.is_empty() {
        request.tools.clear();
        request.messages = flatten_tools(std::mem::take(&mut request.messages));
        notices.push(Notice::ToolsRemoved);
    }
    (request, notices)
}

#[cfg(test)]
mod tests;
