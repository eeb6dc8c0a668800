//! HTML to Markdown for fetch_url, and character-offset pagination of the result.
//!
//! The page goes through html5ever's tokenizer (the spec's tokenizer, so entities, comments and
//! raw-text elements are read as a browser reads them) and a small tree builder of ours that
//! keeps an element stack with the spec's implied closes and scopes, bounded in depth and in how
//! far it searches. A full HTML5 tree builder scans its stack on almost every tag, which makes
//! deeply nested input quadratic (a 360 KB page of nested lists took seconds); ours stays linear.
//! Dropped, as a reader would not see them: scripts, styles, templates, `<noscript>`, embedded
//! objects, form controls, closed dialogs, and elements hidden with `hidden`,
//! `aria-hidden="true"` or an inline `display:none` / `visibility:hidden`. Stylesheets are not
//! evaluated, so text hidden by CSS classes stays in.

use std::cell::RefCell;

use html5ever::Attribute;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use url::Url;

/// Elements whose whole subtree is dropped.
const DROPPED: &[&str] = &[
    "template", "svg", "math", "object", "embed", "canvas", "select", "input", "button", "audio",
    "video", "map",
];

/// Raw-text elements: the tokenizer reads their content as text up to the matching end tag.
/// All but `xmp` are dropped; `xmp` is shown as preformatted text.
fn raw_kind(name: &str) -> Option<RawKind> {
    match name {
        "title" | "textarea" => Some(RawKind::Rcdata),
        "style" | "xmp" | "iframe" | "noembed" | "noframes" | "noscript" => Some(RawKind::Rawtext),
        "script" => Some(RawKind::ScriptData),
        _ => None,
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Elements that start and end a block (a blank line around them).
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "aside",
    "nav",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "details",
    "summary",
    "address",
    "dl",
    "table",
    "center",
    "search",
    "hgroup",
];

/// Lines that start on their own line but need no blank line.
const LINES: &[&str] = &["tr", "dt", "dd", "caption", "legend"];

/// Start tags that close an open `<p>` (the spec's "close a p element in button scope").
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "listing",
    "section",
    "summary",
    "table",
    "ul",
    "li",
    "dd",
    "dt",
    "plaintext",
    "xmp",
    "search",
];

/// The spec's default scope boundaries: a search for an open element stops at these.
const SCOPE: &[&str] =
    &["applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"];

/// The spec's "special" elements: an end tag not otherwise handled stops searching at them.
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
];

const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

/// Open elements kept at most; deeper start tags are ignored (their text still counts). Real
/// pages stay far below it.
const MAX_DEPTH: usize = 512;
/// Stack entries an end tag or implied close looks through; keeps every tag O(1).
const SEARCH_LIMIT: usize = 64;
/// Input beyond this is ignored.
const MAX_INPUT_BYTES: usize = 64 << 20;

/// Beyond these depths, nesting stops adding indentation: a page of 10,000 nested lists must not
/// turn into a quadratic amount of whitespace.
const MAX_LIST_INDENT: usize = 6;
const MAX_QUOTE_DEPTH: usize = 4;

/// Converts an HTML document to Markdown. Relative links and images are resolved against `base`
/// (the page's final URL); links that are not http(s) or mailto keep their text only. Runs in
/// time linear in the input; callers still cap the input size (the download limit does).
pub fn html_to_markdown(html: &str, base: Option<&Url>) -> String {
    // The tokenizer's buffers index with u32; far below that, a page this size is already
    // useless to the model. Cut at a character boundary.
    let html = html.get(..html.floor_char_boundary(MAX_INPUT_BYTES)).unwrap_or_default();
    let builder = TreeBuilder { base: base.cloned(), ..TreeBuilder::default() };
    let tokenizer = Tokenizer::new(Sink(RefCell::new(builder)), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The sink never asks to pause for a script, so one feed consumes everything.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let builder = tokenizer.sink.0.into_inner();
    builder.writer.finish()
}

fn attr<'a>(attrs: &'a [Attribute], name: &str) -> Option<&'a str> {
    attrs.iter().find(|a| &*a.name.local == name).map(|a| &*a.value)
}

fn is_hidden(name: &str, attrs: &[Attribute]) -> bool {
    // Security: prompt injection hidden from people. Text a browser would not show (scripts,
    // hidden elements) is where pages put instructions meant only for the model.
    if DROPPED.contains(&name) {
        return true;
    }
    if name == "dialog" && attr(attrs, "open").is_none() {
        return true;
    }
    if attr(attrs, "hidden").is_some() {
        return true;
    }
    if attr(attrs, "aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return true;
    }
    attr(attrs, "style").is_some_and(|style| {
        let style: String =
            style.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
        style.contains("display:none") || style.contains("visibility:hidden")
    })
}

fn resolve_link(href: &str, base: Option<&Url>) -> Option<String> {
    let url = match base {
        Some(base) => base.join(href.trim()).ok()?,
        None => Url::parse(href.trim()).ok()?,
    };
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

struct Sink(RefCell<TreeBuilder>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        let mut builder = self.0.borrow_mut();
        match token {
            Token::TagToken(tag) => return builder.tag(tag),
            Token::CharacterTokens(text) => builder.text(&text),
            Token::EOFToken => builder.end(),
            Token::NullCharacterToken
            | Token::CommentToken(_)
            | Token::DoctypeToken(_)
            | Token::ParseError(_) => {}
        }
        TokenSinkResult::Continue
    }
}

struct OpenElement {
    id: u64,
    name: String,
    hidden: bool,
}

/// What the content of the current raw-text element is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RawText {
    Drop,
    Show,
}

#[derive(Default)]
struct TreeBuilder {
    base: Option<Url>,
    writer: Writer,
    stack: Vec<OpenElement>,
    next_id: u64,
    // Open hidden elements; while above zero, nothing is written.
    hidden_depth: usize,
    // A hidden element started past MAX_DEPTH, where its end cannot be tracked: drop the rest.
    hidden_to_end: bool,
    // Inside a raw-text element; the next tag token is its end tag.
    raw: Option<RawText>,
    // `<pre>` and friends ignore one newline right after the start tag.
    strip_newline: bool,
}

impl TreeBuilder {
    fn writing(&self) -> bool {
        self.hidden_depth == 0 && !self.hidden_to_end
    }

    fn end(&mut self) {
        self.close_to(0);
        // An unclosed `<xmp>` or `<plaintext>` still gets its closing fence.
        while self.writer.pre_depth > 0 {
            self.writer.close_pre();
        }
    }

    fn text(&mut self, text: &str) {
        let text = if std::mem::take(&mut self.strip_newline) {
            text.strip_prefix('\n').unwrap_or(text)
        } else {
            text
        };
        match self.raw {
            Some(RawText::Drop) => {}
            _ if self.writing() => self.writer.text(text),
            _ => {}
        }
    }

    /// Finds the nearest open `name` within the search limit, stopping at `boundaries`.
    fn find_open(&self, name: &str, boundaries: &[&str]) -> Option<usize> {
        for (index, open) in self.stack.iter().enumerate().rev().take(SEARCH_LIMIT) {
            if open.name == name {
                return Some(index);
            }
            if boundaries.contains(&open.name.as_str()) {
                return None;
            }
        }
        None
    }

    /// Closes every element from the top of the stack down to index `keep` (exclusive).
    fn close_to(&mut self, keep: usize) {
        while self.stack.len() > keep {
            let Some(open) = self.stack.pop() else { break };
            if open.hidden {
                self.hidden_depth = self.hidden_depth.saturating_sub(1);
            } else if self.writing() {
                self.writer.close(open.id, &open.name);
            }
        }
    }

    fn close_named(&mut self, name: &str, boundaries: &[&str]) {
        if let Some(index) = self.find_open(name, boundaries) {
            self.close_to(index);
        }
    }

    fn tag(&mut self, tag: Tag) -> TokenSinkResult<()> {
        if let Some(raw) = self.raw.take() {
            // In a raw-text state the tokenizer's next tag is always that element's end tag.
            if raw == RawText::Show && self.writing() {
                self.writer.close_pre();
            }
            return TokenSinkResult::Continue;
        }
        let name: &str = &tag.name;
        match tag.kind {
            TagKind::StartTag => self.start_tag(name, &tag.attrs),
            TagKind::EndTag => {
                self.end_tag(name);
                TokenSinkResult::Continue
            }
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[Attribute]) -> TokenSinkResult<()> {
        // Implied closes, as the spec's tree builder does them.
        if CLOSES_P.contains(&name) {
            let mut button_scope = SCOPE.to_vec();
            button_scope.push("button");
            self.close_named("p", &button_scope);
        }
        match name {
            "li" => {
                let mut list_scope = SCOPE.to_vec();
                list_scope.extend(["ul", "ol"]);
                self.close_named("li", &list_scope);
            }
            "dt" | "dd" => {
                self.close_named("dt", SCOPE);
                self.close_named("dd", SCOPE);
            }
            "tr" => self.close_named("tr", &["table", "html", "template"]),
            "td" | "th" => {
                self.close_named("td", &["tr", "table", "html", "template"]);
                self.close_named("th", &["tr", "table", "html", "template"]);
            }
            "option" => self.close_named("option", SCOPE),
            _ if HEADINGS.contains(&name)
                && self.stack.last().is_some_and(|top| HEADINGS.contains(&top.name.as_str())) =>
            {
                self.close_to(self.stack.len().saturating_sub(1));
            }
            _ => {}
        }

        if let Some(kind) = raw_kind(name) {
            self.raw = Some(if name == "xmp" { RawText::Show } else { RawText::Drop });
            if name == "xmp" && self.writing() {
                self.writer.open_pre();
            }
            return TokenSinkResult::RawData(kind);
        }
        if name == "plaintext" {
            // Everything after `<plaintext>` is text, shown as is.
            self.raw = None;
            if self.writing() {
                self.writer.open_pre();
            }
            return TokenSinkResult::Plaintext;
        }

        let hidden = is_hidden(name, attrs);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if VOID.contains(&name) {
            if !hidden && self.writing() {
                self.writer.open(id, name, attrs, self.base.as_ref());
                self.writer.close(id, name);
            }
            return TokenSinkResult::Continue;
        }
        if self.stack.len() >= MAX_DEPTH {
            // Too deep to track. A hidden element here could not be closed reliably, so the rest
            // of the page is dropped rather than risk showing what it hides.
            if hidden {
                self.hidden_to_end = true;
            }
            return TokenSinkResult::Continue;
        }
        if hidden {
            self.hidden_depth += 1;
        } else if self.writing() {
            self.writer.open(id, name, attrs, self.base.as_ref());
            if matches!(name, "pre" | "listing") {
                self.strip_newline = true;
            }
        }
        self.stack.push(OpenElement { id, name: name.to_owned(), hidden });
        TokenSinkResult::Continue
    }

    fn end_tag(&mut self, name: &str) {
        if name == "br" {
            // `</br>` is read as `<br>`, as browsers do.
            if self.writing() {
                self.writer.open(u64::MAX, "br", &[], None);
            }
            return;
        }
        let mut list_scope;
        let boundaries: &[&str] = match name {
            "p" => {
                list_scope = SCOPE.to_vec();
                list_scope.push("button");
                &list_scope
            }
            "li" => {
                list_scope = SCOPE.to_vec();
                list_scope.extend(["ul", "ol"]);
                &list_scope
            }
            "td" | "th" | "tr" | "tbody" | "thead" | "tfoot" | "table" | "caption" => {
                &["html", "table", "template"]
            }
            _ if SPECIAL.contains(&name) => SCOPE,
            _ => SPECIAL,
        };
        self.close_named(name, boundaries);
    }
}

/// An inline element whose closing mark depends on its opening.
struct Inline {
    node: u64,
    // Byte length of the output before the opening mark, to take the mark back if the element
    // turns out empty.
    mark_start: usize,
    content_start: usize,
    close: String,
}

#[derive(Default)]
struct Writer {
    out: String,
    // Newlines owed before the next text: 1 ends a line, 2 ends a paragraph.
    pending_break: usize,
    pending_space: bool,
    // No text has been written on the current line yet.
    at_line_start: bool,
    // Set by a list marker, so the block inside the item does not push its text off the marker.
    after_marker: bool,
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    pre_depth: usize,
    inlines: Vec<Inline>,
    table_cells: Vec<usize>,
}

impl Writer {
    fn block(&mut self, newlines: usize) {
        if self.after_marker {
            return;
        }
        self.pending_break = self.pending_break.max(newlines);
        self.pending_space = false;
    }

    /// Emits owed newlines and the line prefix, so text can follow.
    fn start_text(&mut self, indent_levels: usize) {
        if self.out.is_empty() {
            self.pending_break = 0;
            self.at_line_start = true;
        }
        if self.pending_break > 0 {
            let trimmed = self.out.trim_end_matches([' ', '\t']).len();
            self.out.truncate(trimmed);
            for _ in 0..self.pending_break {
                self.out.push('\n');
            }
            self.pending_break = 0;
            self.at_line_start = true;
            self.pending_space = false;
        }
        if self.at_line_start {
            for _ in 0..self.quote_depth.min(MAX_QUOTE_DEPTH) {
                self.out.push_str("> ");
            }
            for _ in 0..indent_levels.min(MAX_LIST_INDENT) {
                self.out.push_str("  ");
            }
            self.at_line_start = false;
        } else if self.pending_space {
            self.out.push(' ');
        }
        self.pending_space = false;
    }

    fn write_inline(&mut self, text: &str) {
        self.start_text(self.lists.len());
        self.out.push_str(text);
        self.after_marker = false;
    }

    fn text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            for (line_idx, line) in text.split('\n').enumerate() {
                if line_idx > 0 {
                    self.out.push('\n');
                }
                self.out.push_str(line);
            }
            return;
        }
        let mut words = text.split_whitespace().peekable();
        if text.starts_with(char::is_whitespace) {
            self.pending_space = true;
        }
        while let Some(word) = words.next() {
            self.write_inline(word);
            if words.peek().is_some() {
                self.pending_space = true;
            }
        }
        if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            self.pending_space = true;
        }
    }

    fn open_inline(&mut self, node: u64, open: &str, close: String) {
        self.start_text(self.lists.len());
        let mark_start = self.out.len();
        self.out.push_str(open);
        self.after_marker = false;
        self.inlines.push(Inline { node, mark_start, content_start: self.out.len(), close });
    }

    fn close_inline(&mut self, node: u64) {
        let Some(position) = self.inlines.iter().rposition(|inline| inline.node == node) else {
            return;
        };
        let inline = self.inlines.remove(position);
        if self.out.len() == inline.content_start {
            // Nothing inside: take the opening mark back rather than leave `**` or `[](..)`.
            self.out.truncate(inline.mark_start);
            return;
        }
        self.out.push_str(&inline.close);
    }

    fn open_pre(&mut self) {
        self.block(2);
        self.write_inline("```");
        self.out.push('\n');
        self.pre_depth += 1;
    }

    fn close_pre(&mut self) {
        self.pre_depth = self.pre_depth.saturating_sub(1);
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str("```");
        self.block(2);
    }

    fn open(&mut self, node: u64, name: &str, attrs: &[Attribute], base: Option<&Url>) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes().get(1).map_or(1, |digit| usize::from(digit - b'0'));
                self.block(2);
                self.write_inline(&"#".repeat(level));
                self.pending_space = true;
                // The heading text follows the marks on the same line.
                self.after_marker = true;
            }
            "br" => {
                if self.pre_depth > 0 {
                    self.out.push('\n');
                } else {
                    self.pending_break = self.pending_break.max(1);
                }
            }
            "hr" => {
                self.block(2);
                self.write_inline("---");
                self.block(2);
            }
            "ul" | "ol" => {
                let start = attr(attrs, "start").and_then(|s| s.trim().parse().ok()).unwrap_or(1);
                self.lists.push((name == "ol").then_some(start));
                if self.lists.len() > 1 {
                    // A nested list hugs its parent item, even after a paragraph inside the item.
                    if !self.after_marker {
                        self.pending_break = 1;
                    }
                } else {
                    self.block(2);
                }
            }
            "li" => {
                self.block(1);
                let indent = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(counter)) => {
                        let marker = format!("{counter}.");
                        *counter = counter.saturating_add(1);
                        marker
                    }
                    _ => "-".to_owned(),
                };
                self.start_text(indent);
                self.out.push_str(&marker);
                self.pending_space = true;
                self.after_marker = true;
            }
            "pre" | "listing" => self.open_pre(),
            "code" | "kbd" | "samp" if self.pre_depth == 0 => {
                self.open_inline(node, "`", "`".to_owned());
            }
            "strong" | "b" => self.open_inline(node, "**", "**".to_owned()),
            "em" | "i" => self.open_inline(node, "*", "*".to_owned()),
            "a" => {
                if let Some(href) = attr(attrs, "href").and_then(|href| resolve_link(href, base)) {
                    self.open_inline(node, "[", format!("]({href})"));
                }
            }
            "img" => {
                let alt = attr(attrs, "alt").map(str::trim).unwrap_or_default();
                let src = attr(attrs, "src").and_then(|src| resolve_link(src, base));
                if let (false, Some(src)) = (alt.is_empty(), src) {
                    self.write_inline(&format!("![{}]({src})", alt.replace(['[', ']'], "")));
                }
            }
            "blockquote" => {
                self.block(2);
                self.quote_depth += 1;
            }
            "tr" => {
                self.block(1);
                self.table_cells.push(0);
            }
            "td" | "th" => {
                let earlier_cells = self.table_cells.last().copied();
                if let Some(cells) = self.table_cells.last_mut() {
                    *cells += 1;
                }
                if earlier_cells.is_some_and(|cells| cells > 0) {
                    self.pending_space = true;
                    self.write_inline("|");
                    self.pending_space = true;
                }
            }
            _ if BLOCKS.contains(&name) => self.block(2),
            _ if LINES.contains(&name) => self.block(1),
            _ => {}
        }
    }

    fn close(&mut self, node: u64, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.after_marker = false;
                self.block(2);
            }
            "ul" | "ol" => {
                self.lists.pop();
                self.after_marker = false;
                self.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            "li" => {
                self.after_marker = false;
                self.block(1);
            }
            "pre" | "listing" => self.close_pre(),
            "blockquote" => {
                self.block(2);
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            "tr" => {
                self.table_cells.pop();
                self.block(1);
            }
            "code" | "kbd" | "samp" | "strong" | "b" | "em" | "i" | "a" => self.close_inline(node),
            _ if BLOCKS.contains(&name) => self.block(2),
            _ if LINES.contains(&name) => self.block(1),
            _ => {}
        }
    }

    fn finish(self) -> String {
        let mut out = self.out;
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out
    }
}

/// One page of a longer text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The page's text.
    pub text: String,
    /// Character offset of the page's first character.
    pub offset: usize,
    /// Offset to ask for next, or `None` on the last page.
    pub next_offset: Option<usize>,
    /// Characters in the whole text.
    pub total_chars: usize,
}

/// Cuts `max_chars` characters (Unicode scalar values, never splitting one) starting at character
/// `offset`. An offset past the end gives an empty last page.
pub fn paginate(text: &str, offset: usize, max_chars: usize) -> Page {
    let total_chars = text.chars().count();
    let page: String = text.chars().skip(offset).take(max_chars).collect();
    let end = offset.saturating_add(max_chars);
    Page {
        text: page,
        offset: offset.min(total_chars),
        next_offset: (end < total_chars).then_some(end),
        total_chars,
    }
}
