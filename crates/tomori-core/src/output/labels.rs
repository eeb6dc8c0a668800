//! Speaker labels: recognising `Name:` where a model writes one.
//!
//! A label is a name followed by a colon (`:` or the full-width `：`), in the shapes models use:
//! plain `Tomori:`, bold `**Tomori:**` or `**Tomori**:`, decorated `Tomori (shy):`, and the
//! transcript form the prompt shows for history (`[ref_12] Tomori:`, also with
//! `(replying to ref_3)`). Names compare ignoring case. The persona's own name also has the macro
//! spellings (`{{char}}:`, `{bot}:`, `<BOT>:`); the other speakers are the server's other
//! personas, `Assistant`, and, in the transcript form, anyone at all.
//!
//! The matcher works on a prefix of a stream: it answers [`Label::More`] while the text could
//! still become a label, so a caller holds those characters back and asks again.

/// Names the label rules know.
#[derive(Debug, Clone, Default)]
pub(crate) struct Speakers {
    /// The persona's own name and its macro spellings, lowercased.
    own: Vec<Vec<char>>,
    /// Other personas and `Assistant`, lowercased.
    others: Vec<(Vec<char>, String)>,
}

/// What a text starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    /// The persona's own label, this many bytes long (spaces after it included).
    Own(usize),
    /// Another speaker's label.
    Other(String),
    /// Not a label.
    No,
    /// Could still become a label: more text is needed.
    More,
}

/// The longest decoration in parentheses (`(replying to ref_123)`, `(shy)`), in characters.
const MAX_DECORATION_CHARS: usize = 60;
/// The longest name a transcript line may carry (a persona nickname's limit).
const MAX_NAME_CHARS: usize = crate::persona::MAX_NICKNAME_CHARS;

fn lowered(name: &str) -> Vec<char> {
    name.trim().chars().map(lower).collect()
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

impl Speakers {
    /// The persona speaking, and the other personas of the server.
    pub(crate) fn new(own: &str, others: &[&str]) -> Self {
        let mut own_names: Vec<Vec<char>> = ["{{char}}", "{char}", "{bot}", "<bot>", "{{bot}}"]
            .iter()
            .map(|spelling| lowered(spelling))
            .collect();
        let own_lower = lowered(own);
        if !own_lower.is_empty() {
            own_names.insert(0, own_lower.clone());
        }
        let others = others
            .iter()
            .map(|name| (lowered(name), name.trim().to_owned()))
            .chain(std::iter::once((lowered("Assistant"), "Assistant".to_owned())))
            .filter(|(name, _)| !name.is_empty() && *name != own_lower)
            .collect();
        Self { own: own_names, others }
    }

    /// Whether a label could start with `c` (most text is ruled out here, cheaply).
    fn may_start(&self, c: char, line_start: bool) -> bool {
        if is_markup(c) || (line_start && (is_blank(c) || c == '[')) {
            return true;
        }
        let c = lower(c);
        self.own.iter().any(|name| name.first() == Some(&c))
            || (line_start && self.others.iter().any(|(name, _)| name.first() == Some(&c)))
    }

    /// The label a line starts with (after any spaces): the persona's own, another speaker's,
    /// or none. `end`: no more text will come.
    pub(crate) fn at_line_start(&self, text: &str, end: bool) -> Label {
        match text.chars().next() {
            Some(c) if self.may_start(c, true) => {}
            Some(_) => return Label::No,
            None if end => return Label::No,
            None => return Label::More,
        }
        let mut more = false;
        for name in &self.own {
            match parse(text, Pattern::Name(name), true, end) {
                Step::Done(len) => return Label::Own(len),
                Step::More => more = true,
                Step::No => {}
            }
        }
        for (name, shown) in &self.others {
            match parse(text, Pattern::Name(name), true, end) {
                Step::Done(_) => return Label::Other(shown.clone()),
                Step::More => more = true,
                Step::No => {}
            }
        }
        match parse(text, Pattern::Transcript, true, end) {
            Step::Done(_) => return Label::Other(transcript_name(text)),
            Step::More => more = true,
            Step::No => {}
        }
        if more && !end { Label::More } else { Label::No }
    }

    /// The persona's own label starting exactly at `text` (within a line).
    pub(crate) fn own_within_line(&self, text: &str, end: bool) -> Label {
        match text.chars().next() {
            Some(c) if self.may_start(c, false) => {}
            Some(_) => return Label::No,
            None if end => return Label::No,
            None => return Label::More,
        }
        let mut more = false;
        for name in &self.own {
            match parse(text, Pattern::Name(name), false, end) {
                Step::Done(len) => return Label::Own(len),
                Step::More => more = true,
                Step::No => {}
            }
        }
        if more && !end { Label::More } else { Label::No }
    }
}

/// The name in a transcript line, for reporting who spoke.
fn transcript_name(text: &str) -> String {
    let after = text.split_once(']').map_or("", |(_, rest)| rest);
    let name: String =
        after.chars().take_while(|c| !matches!(c, ':' | '：' | '(' | '\n')).collect();
    name.trim().trim_matches(['*', '_']).trim().to_owned()
}

#[derive(Clone, Copy)]
enum Pattern<'a> {
    /// This name (lowercased).
    Name(&'a [char]),
    /// `[ref_N]` followed by any name.
    Transcript,
}

enum Step {
    Done(usize),
    More,
    No,
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip(&mut self, wanted: impl Fn(char) -> bool, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.peek().is_some_and(&wanted) {
            self.bump();
            n += 1;
        }
        n
    }
}

/// Returns `Step::More` from the enclosing function when the text ran out.
macro_rules! need {
    ($cursor:expr) => {
        match $cursor.peek() {
            Some(c) => c,
            None => return Step::More,
        }
    };
}

fn is_markup(c: char) -> bool {
    c == '*' || c == '_'
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn parse(text: &str, pattern: Pattern<'_>, line_start: bool, end: bool) -> Step {
    let mut cur = Cursor { text, pos: 0 };
    if line_start {
        cur.skip(is_blank, usize::MAX);
    }
    let transcript = line_start && cur.peek() == Some('[');
    if transcript {
        match transcript_handle(&mut cur) {
            Step::Done(_) => {}
            other => return other,
        }
    } else if matches!(pattern, Pattern::Transcript) {
        return Step::No;
    }
    cur.skip(is_markup, 3);
    match pattern {
        Pattern::Name(name) => {
            for &wanted in name {
                let c = need!(cur);
                if lower(c) != wanted {
                    return Step::No;
                }
                cur.bump();
            }
        }
        Pattern::Transcript => {
            let n = cur.skip(|c| !matches!(c, ':' | '：' | '(' | '\n' | '*' | '['), MAX_NAME_CHARS);
            need!(cur);
            if n == 0 {
                return Step::No;
            }
        }
    }
    cur.skip(is_markup, 3);
    let before_decoration = cur.pos;
    cur.skip(is_blank, 3);
    if need!(cur) == '(' {
        cur.bump();
        let n = cur.skip(|c| c != ')' && c != '\n', MAX_DECORATION_CHARS);
        if need!(cur) != ')' || n == 0 {
            return Step::No;
        }
        cur.bump();
        cur.skip(is_markup, 3);
    } else if cur.pos > before_decoration && !matches!(cur.peek(), Some(':' | '：')) {
        return Step::No;
    }
    let colon = need!(cur);
    if colon != ':' && colon != '：' {
        return Step::No;
    }
    cur.bump();
    cur.skip(is_markup, 3);
    match cur.peek() {
        // `Tomori:3` or `Tomori:smile:` is not a label; after the full-width colon, CJK text
        // follows without a space.
        Some(c) if colon == ':' && !c.is_whitespace() => return Step::No,
        None if !end => return Step::More,
        _ => {}
    }
    cur.skip(is_blank, usize::MAX);
    Step::Done(cur.pos)
}

/// `[ref_N]` and the spaces after it.
fn transcript_handle(cur: &mut Cursor<'_>) -> Step {
    cur.bump();
    for wanted in "ref_".chars() {
        if lower(need!(cur)) != wanted {
            return Step::No;
        }
        cur.bump();
    }
    if cur.skip(|c| c.is_ascii_digit(), 12) == 0 {
        need!(cur);
        return Step::No;
    }
    if need!(cur) != ']' {
        return Step::No;
    }
    cur.bump();
    cur.skip(is_blank, 3);
    need!(cur);
    Step::Done(cur.pos)
}
