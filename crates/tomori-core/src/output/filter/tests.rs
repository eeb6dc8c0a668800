use super::*;

fn read_file() -> KnownTool {
    KnownTool { name: "read_file".into(), parameters: vec!["handle".into()] }
}

struct Run<'a> {
    thinking: Thinking,
    provider: &'a str,
    tools: &'a [KnownTool],
}

const PLAIN: Run<'static> = Run { thinking: Thinking::Unknown, provider: "", tools: &[] };

fn filter(run: &Run<'_>) -> AnswerFilter {
    let mut filter = AnswerFilter::new(&FilterSetup {
        persona: "Tomori",
        other_personas: &["Kaede"],
        member: "alice",
        thinking: run.thinking,
        tools: run.tools,
    });
    filter.push_reasoning(run.provider);
    filter
}

/// Feeds `text` whole, split in two at every character, and one character at a time. Each way,
/// the text released before the end must be a prefix of the final answer (nothing released is
/// ever taken back: no half tag, nothing of an unfinished block), and the result must be the
/// same.
#[track_caller]
fn check(run: &Run<'_>, text: &str, visible: &str, reasoning: &str, verdict: Verdict) {
    let mut splits: Vec<Vec<&str>> = vec![vec![text]];
    for (idx, _) in text.char_indices().skip(1) {
        let (head, tail) = text.split_at(idx);
        splits.push(vec![head, tail]);
    }
    splits.push(text.char_indices().map(|(i, c)| text.get(i..i + c.len_utf8()).unwrap()).collect());
    for deltas in splits {
        let mut f = filter(run);
        let mut released = String::new();
        for delta in &deltas {
            released.push_str(f.push_text(delta));
            assert!(visible.starts_with(&released), "released {released:?} early for {deltas:?}");
        }
        let finished = f.finish();
        assert_eq!(released + &finished.rest, finished.visible, "{deltas:?}");
        assert_eq!(finished.visible, visible, "visible for {deltas:?}");
        assert_eq!(finished.reasoning, reasoning, "reasoning for {deltas:?}");
        assert_eq!(finished.verdict, verdict, "verdict for {deltas:?}");
    }
}

use Verdict::{Answer, Empty, OnlyReasoning};

#[test]
fn reasoning_blocks_are_removed_wherever_the_stream_splits_them() {
    check(
        &PLAIN,
        "<think>they want tea</think>Here is your tea!",
        "Here is your tea!",
        "they want tea",
        Answer,
    );
    check(&PLAIN, "A<THINKING>x</Thinking>B<think>y</think>C", "ABC", "x\n\ny", Answer);
    check(&PLAIN, "Visible <think>never finished", "Visible", "never finished", Answer);
    check(&PLAIN, "a < b, <thin ice> and <b>", "a < b, <thin ice> and <b>", "", Answer);
    check(&PLAIN, "<think>hmm</think>", "", "hmm", OnlyReasoning);
    check(&PLAIN, "   \n", "", "", Empty);
    check(&PLAIN, "", "", "", Empty);
}

#[test]
fn a_lone_closing_tag_makes_everything_before_it_reasoning() {
    let opens = Run { thinking: Thinking::TemplateOpens, ..PLAIN };
    check(
        &opens,
        "Let me think.\nThey greet me.</think>\n\nHello!",
        "Hello!",
        "Let me think.\nThey greet me.",
        Answer,
    );
    check(&PLAIN, "short thought</THINK>Hello!", "Hello!", "short thought", Answer);
    // A model seen to open blocks in its template but answering without one this time.
    check(&opens, "Just an answer.", "Just an answer.", "", Answer);
    let long = "x".repeat(UNDECIDED_HOLD_CHARS + 10);
    let text = format!("{long}</think>Hello!");
    check(&opens, &text, "Hello!", &long, Answer);
}

#[test]
fn past_the_hold_an_unknown_model_streams_and_a_late_lone_tag_is_reported() {
    let long = "y".repeat(UNDECIDED_HOLD_CHARS + 10);
    let mut f = filter(&PLAIN);
    let released = f.push_text(&long).to_owned();
    assert_eq!(released, long, "released once the hold is full");
    assert_eq!(f.push_text("</think>Hello!"), "Hello!");
    assert!(f.finish().lone_close);
    // A model that streams its reasoning separately is never held.
    let mut f = filter(&Run { provider: "thinking apart", ..PLAIN });
    assert_eq!(f.push_text("Hi there"), "Hi there");
}

#[test]
fn an_unclosed_block_ends_where_the_persona_starts_speaking() {
    check(&PLAIN, "<think>plan it\nTomori: hi", "hi", "plan it", Answer);
    check(&PLAIN, "<think>plan it\n**Tomori:** hi\nmore", "hi\nmore", "plan it", Answer);
    check(&PLAIN, "<think>plan it\nKaede: hi", "", "plan it\nKaede: hi", OnlyReasoning);
}

#[test]
fn reasoning_repeated_at_the_start_of_the_content_is_removed() {
    let thought = "The user greets me. I should greet them warmly and offer tea.";
    let run = Run { provider: thought, ..PLAIN };
    check(
        &run,
        "The user greets me.  I should greet them\nwarmly and offer tea.\n\nHello! Tea?",
        "Hello! Tea?",
        thought,
        Answer,
    );
    check(&run, "The user greets me. Welcome!", "The user greets me. Welcome!", thought, Answer);
    check(&run, "Hello! Tea?", "Hello! Tea?", thought, Answer);
    check(&run, thought, "", thought, OnlyReasoning);
    let short = Run { provider: "Greet.", ..PLAIN };
    check(&short, "Greet. Hi", "Greet. Hi", "Greet.", Answer);
}

#[test]
fn labels_and_macros_are_handled_as_the_text_streams() {
    check(&PLAIN, "Tomori: hi\nKaede: me too", "hi", "", Answer);
    check(&PLAIN, "Kaede: I answer instead", "", "", Verdict::OtherSpeaker("Kaede".into()));
    check(&PLAIN, "Hi {{user}}, I'm {{Char}}! <USER>?", "Hi alice, I'm Tomori! alice?", "", Answer);
    check(&PLAIN, "`{user}` is {user}", "`{user}` is alice", "", Answer);
    check(&PLAIN, "```py\nf\"{user}\"\n```", "```py\nf\"{user}\"\n```", "", Answer);
    check(&PLAIN, "<think>x</think>Tomori: **hi**", "**hi**", "x", Answer);
}

#[test]
fn tool_calls_written_as_text_are_taken_out() {
    let tools = [read_file()];
    let run = Run { tools: &tools, ..PLAIN };
    check(&run, "Let me look.\nread_file(\"media_1\")\n", "Let me look.", "", Answer);
    check(&run, "read_file is a tool", "read_file is a tool", "", Answer);
    check(
        &run,
        "```json\n{\"name\": \"read_file\", \"arguments\": {\"handle\": \"media_2\"}}\n```",
        "",
        "",
        Empty,
    );
    let mut f = filter(&run);
    f.push_text("Checking.\nread_file(\"media_1\")");
    let finished = f.finish();
    assert_eq!(finished.visible, "Checking.");
    assert_eq!(finished.tool_calls.len(), 1);
    assert_eq!(finished.tool_calls[0].name, "read_file");
    assert_eq!(finished.tool_calls[0].arguments["handle"], "media_1");
}
