//! Progress of long maintenance work on stderr (stdout stays the result): a bar for a person at
//! a terminal, one plain line per step for a log or a pipe.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of one piece of work counted in `unit`s.
pub(crate) struct Progress {
    what: &'static str,
    unit: &'static str,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub(crate) fn new(what: &'static str, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(&format!(
                "{what} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}} left)"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self { what, unit, bar }
    }

    /// `done` of `total` so far.
    pub(crate) fn update(&self, done: u64, total: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            None => line(format_args!("{}: {done}/{total} {}", self.what, self.unit)),
        }
    }

    /// Removes the bar (the command prints its result after).
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A spinner for a wait of unknown length, shown only at a terminal.
pub(crate) fn spinner(message: &'static str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_message(message);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    })
}

#[expect(clippy::print_stderr, reason = "progress lines for an operator's log")]
fn line(text: std::fmt::Arguments<'_>) {
    eprintln!("{text}");
}
