//! `read_file`: the text of a text or PDF file attached to a recent message.
//!
//! The message is a `ref_N` handle the gate resolved (in a channel both the invoker and the bot
//! can see); its attachments are read from the platform at call time. A file is downloaded
//! through a tomori-net [`Client`] of the media scope (https to public hosts only, every redirect
//! and peer judged) under a byte cap and a time limit, then decoded as text or parsed as a PDF,
//! capped in characters and returned a page at a time.
//!
//! Security: denial of service through hostile files. A PDF is read by a [`PdfExtractor`], in a
//! child process under memory, CPU and time limits (see [`crate::pdf`]): a file that crashes or
//! exhausts the reader costs that child, never the bot.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tomori_net::{Client, Download, FetchError, Limits, paginate};

use crate::context::TurnContext;
use crate::gate::{Authorized, Target, Tool, ToolOutcome};
use crate::pdf::PdfExtractor;
use crate::perm::Perms;
use crate::platform::{AttachmentFacts, Platform};
use crate::policy::{Contexts, Effect, TargetRule, ToolPolicy};

/// The largest file read.
pub const READ_FILE_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Characters kept from one file; the rest is cut.
pub const READ_FILE_MAX_CHARS: usize = 200_000;

/// Characters returned per call; the model asks for the next part with `offset`.
pub const READ_FILE_PAGE_CHARS: usize = 50_000;

/// Wall clock for the download.
pub const READ_FILE_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Extensions of files that are text.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "md", "markdown", "csv", "tsv", "json", "jsonl", "xml", "yaml", "yml", "toml", "ini",
    "cfg", "conf", "log", "html", "htm", "css", "js", "ts", "py", "rs", "go", "java", "c", "h",
    "cpp", "hpp", "cs", "rb", "php", "sh", "sql", "lua", "kt", "swift", "srt", "vtt", "tex", "rst",
];

/// Media types of files that are text besides `text/*`.
const TEXT_TYPES: &[&str] = &[
    "application/json",
    "application/xml",
    "application/x-yaml",
    "application/yaml",
    "application/toml",
    "application/javascript",
    "application/x-sh",
    "application/sql",
];

/// What kind of file an attachment is, by its name and declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Plain text of some sort.
    Text,
    /// A PDF.
    Pdf,
    /// Anything else (images, archives, executables, office files): not read.
    Unsupported,
}

/// Classifies an attachment by extension and declared media type: a known text or PDF extension
/// or type is read, everything else is refused before any download.
pub fn classify(filename: &str, content_type: Option<&str>) -> FileKind {
    let extension = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let essence = content_type
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    if extension.as_deref() == Some("pdf") || essence == "application/pdf" {
        return FileKind::Pdf;
    }
    let text_type = essence.starts_with("text/") || TEXT_TYPES.contains(&essence.as_str());
    let text_extension = extension.as_deref().is_some_and(|e| TEXT_EXTENSIONS.contains(&e));
    // A declared binary type wins over a text-looking name (`x.txt` served as an image).
    let binary_type = !essence.is_empty() && !text_type && essence != "application/octet-stream";
    if (text_type || text_extension) && !binary_type {
        FileKind::Text
    } else {
        FileKind::Unsupported
    }
}

/// The text of a text file: a byte-order mark, else the declared charset, else UTF-8; invalid
/// sequences become U+FFFD, NULs are dropped and line endings become `\n`. `None` for a file with
/// NUL bytes near its start that is not UTF-16 (a binary file under a text name).
pub fn decode_text(bytes: &[u8], content_type: Option<&str>) -> Option<String> {
    let bom = encoding_rs::Encoding::for_bom(bytes);
    if bom.is_none() && bytes.iter().take(8192).any(|b| *b == 0) {
        return None;
    }
    let declared = content_type.and_then(|t| {
        t.split(';').skip(1).find_map(|param| {
            let (key, value) = param.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| {
                    encoding_rs::Encoding::for_label(value.trim().trim_matches('"').as_bytes())
                })
                .flatten()
        })
    });
    let encoding = bom.map(|(e, _)| e).or(declared).unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(bytes);
    Some(normalize(&text))
}

/// Line endings as `\n`, NULs dropped.
pub(crate) fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n").replace('\0', "")
}

/// The `read_file` tool.
pub struct ReadFile {
    platform: Arc<dyn Platform>,
    client: Client,
    pdf: PdfExtractor,
}

impl ReadFile {
    /// The tool reading attachments through `platform`, downloading them with `client` (which
    /// must have the media-scope policy) and reading PDFs with `pdf`.
    pub fn new(platform: Arc<dyn Platform>, client: Client, pdf: PdfExtractor) -> Self {
        Self { platform, client, pdf }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    #[serde(rename = "message_id")]
    _message_id: String,
    filename: Option<String>,
    offset: Option<usize>,
}

fn download_failure(error: &FetchError) -> String {
    match error {
        FetchError::BlockedByPolicy(refusal) => format!("blocked_by_policy: {refusal}"),
        FetchError::TooLarge { .. } => {
            format!("too_large: files over {} MB are not read", READ_FILE_MAX_BYTES / 1024 / 1024)
        }
        other => format!("{}: {other}", other.code()),
    }
}

impl ReadFile {
    fn choose<'f>(
        files: &'f [AttachmentFacts],
        wanted: Option<&str>,
    ) -> Result<&'f AttachmentFacts, String> {
        let names = || files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>().join(", ");
        if files.is_empty() {
            return Err("no_attachment: that message has no attached file".to_owned());
        }
        match wanted.map(str::trim).filter(|w| !w.is_empty()) {
            Some(name) => {
                files.iter().find(|f| f.filename.eq_ignore_ascii_case(name)).ok_or_else(|| {
                    format!("unknown_file: that message has no file {name:?}; it has {}", names())
                })
            }
            None => files
                .iter()
                .find(|f| classify(&f.filename, f.content_type.as_deref()) != FileKind::Unsupported)
                .ok_or_else(|| {
                    format!("unsupported_type: none of {} is a text or PDF file", names())
                }),
        }
    }

    async fn download(&self, file: &AttachmentFacts) -> Result<Download, String> {
        let limits = Limits::default()
            .with_max_bytes(READ_FILE_MAX_BYTES)
            .with_timeout(READ_FILE_DOWNLOAD_TIMEOUT);
        // Security: SSRF through attachment URLs. The URL comes from the platform's answer, and
        // still goes through the media-scope policy: https, public addresses, every redirect.
        self.client.safe_download(&file.url, &limits).await.map_err(|e| download_failure(&e))
    }

    async fn run(&self, call: &Authorized<'_>, ctx: &TurnContext) -> ToolOutcome {
        let args: ReadArgs = match call.parse() {
            Ok(args) => args,
            Err(failure) => return failure,
        };
        let Some(Target::Message(id)) = call.target() else {
            return ToolOutcome::Failure(
                "unknown_target: the message could not be resolved".into(),
            );
        };
        let facts = match self.platform.message(ctx.channel, id).await {
            Ok(facts) => facts,
            Err(e) => return ToolOutcome::Failure(e.for_model()),
        };
        let file = match Self::choose(&facts.attachments, args.filename.as_deref()) {
            Ok(file) => file,
            Err(reason) => return ToolOutcome::Failure(reason),
        };
        let kind = classify(&file.filename, file.content_type.as_deref());
        if kind == FileKind::Unsupported {
            return ToolOutcome::Failure(format!(
                "unsupported_type: {} is not a text or PDF file",
                file.filename
            ));
        }
        if file.size > READ_FILE_MAX_BYTES {
            return ToolOutcome::Failure(format!(
                "too_large: {} has {} bytes; files over {} MB are not read",
                file.filename,
                file.size,
                READ_FILE_MAX_BYTES / 1024 / 1024
            ));
        }
        let download = match self.download(file).await {
            Ok(download) => download,
            Err(reason) => return ToolOutcome::Failure(reason),
        };
        let text = match kind {
            FileKind::Pdf => match self.pdf.extract(download.bytes.to_vec()).await {
                Ok(text) => text,
                Err(e) => return ToolOutcome::Failure(format!("pdf_{}: {e}", e.code())),
            },
            FileKind::Text | FileKind::Unsupported => {
                match decode_text(&download.bytes, download.content_type.as_deref()) {
                    Some(text) => text,
                    None => {
                        return ToolOutcome::Failure(format!(
                            "unsupported_type: {} is binary, not text",
                            file.filename
                        ));
                    }
                }
            }
        };
        let total = text.chars().count();
        let kept: String = text.chars().take(READ_FILE_MAX_CHARS).collect();
        let page = paginate(&kept, args.offset.unwrap_or(0), READ_FILE_PAGE_CHARS);
        ToolOutcome::Success(json!({
            "filename": file.filename,
            "content": page.text,
            "offset": page.offset,
            "next_offset": page.next_offset,
            "total_chars": page.total_chars,
            "cut_at_limit": total > READ_FILE_MAX_CHARS,
        }))
    }
}

impl Tool for ReadFile {
    fn name(&self) -> &'static str {
        "read_file"
    }

    fn description(&self) -> &'static str {
        "Read the text of a text or PDF file attached to a recent message (by its ref_N handle). Long files come in parts: call again with next_offset."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "message_id": {"type": "string", "description": "The ref_N handle of the message with the file."},
                "filename": {"type": "string", "description": "Which file, when the message has several."},
                "offset": {"type": "integer", "minimum": 0, "description": "Character offset to start at (next_offset of the previous part)."},
            },
            "required": ["message_id"],
            "additionalProperties": false,
        })
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy {
            feature: None,
            effect: Effect::ReadOnly,
            bot_permissions: Perms::NONE,
            invoker_permissions: Perms::NONE,
            contexts: Contexts::EVERYWHERE,
            quota: None,
            target: TargetRule::VisibleToInvokerAndBot { arg: "message_id" },
        }
    }

    fn execute<'a>(
        &'a self,
        call: Authorized<'a>,
        ctx: &'a TurnContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        async move { self.run(&call, ctx).await }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_classified_by_name_and_type() {
        let check = |name: &str, content_type: Option<&str>, expected: FileKind| {
            assert_eq!(classify(name, content_type), expected, "{name} {content_type:?}");
        };
        check("notes.txt", Some("text/plain; charset=utf-8"), FileKind::Text);
        check("notes.TXT", None, FileKind::Text);
        check("data.json", Some("application/json"), FileKind::Text);
        check("report.pdf", Some("application/pdf"), FileKind::Pdf);
        check("report", Some("application/pdf"), FileKind::Pdf);
        check("readme", Some("text/markdown"), FileKind::Text);
        check("code.rs", Some("application/octet-stream"), FileKind::Text);
        check("photo.png", Some("image/png"), FileKind::Unsupported);
        check("fake.txt", Some("image/png"), FileKind::Unsupported);
        check("tool.exe", Some("application/x-msdownload"), FileKind::Unsupported);
        check("archive.zip", None, FileKind::Unsupported);
        check("noextension", None, FileKind::Unsupported);
    }

    #[test]
    fn text_is_decoded_by_bom_charset_or_utf8() {
        assert_eq!(decode_text(b"a\r\nb\rc", None).as_deref(), Some("a\nb\nc"));
        assert_eq!(
            decode_text(b"caf\xe9", Some("text/plain; charset=latin1")).as_deref(),
            Some("café")
        );
        assert_eq!(decode_text(b"caf\xe9", None).as_deref(), Some("caf\u{fffd}"));
        assert_eq!(decode_text(b"\xef\xbb\xbfhi", None).as_deref(), Some("hi"));
        assert_eq!(decode_text(b"\xff\xfeh\0i\0", None).as_deref(), Some("hi"));
        assert_eq!(decode_text(b"MZ\0\0\x03binary", None), None);
    }
}
