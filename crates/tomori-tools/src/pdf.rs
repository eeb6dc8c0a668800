//! PDF text, read in a child process: `read_file` and `/memory document add` hand the bytes to a
//! [`PdfExtractor`], which runs a program (the bot's own binary as `tomori extract-pdf`) that
//! reads the PDF on stdin and writes its text on stdout.
//!
//! Security: denial of service through hostile PDFs. The parser (pdf-extract over lopdf) is not
//! hardened: a form XObject that draws itself recurses until the stack overflows, which aborts
//! the whole process (no panic to catch, no thread to abandon), and streams inflate without a
//! cap, so a few kilobytes can ask for gigabytes. So the parse never runs in the bot's process.
//! The child sets its own limits before it reads a byte of input ([`run_child`]): address space,
//! CPU seconds, no core dump, no file it may write or open (so no socket either), no new process
//! or thread, no new privileges, and death with its parent; it starts with an empty environment
//! (no inherited secret) and closes every descriptor but stdin, stdout and stderr. The parent
//! kills it at a deadline, reads at most [`PDF_OUTPUT_BYTES`] of output, and turns a crash, a
//! limit or a timeout into "this PDF could not be read". At most [`PDF_SLOTS`] run at once.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// The subcommand of the bot's binary that reads a PDF (see [`run_child`]).
pub const EXTRACT_PDF: &str = "extract-pdf";

/// Wall clock for one PDF: waiting for a slot, then the child's whole run.
pub const PDF_TIMEOUT: Duration = Duration::from_secs(20);

/// PDF readers running at once, for one [`PdfExtractor`] and its clones.
pub const PDF_SLOTS: usize = 2;

/// Address space a reader may use (the binary's own mappings included).
pub const PDF_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;

/// CPU seconds a reader may use; the wall-clock deadline usually comes first.
pub const PDF_CPU_SECONDS: u64 = 20;

/// Bytes of text a reader hands back, more than any caller keeps (at most 200,000 characters).
pub const PDF_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of PDF a reader accepts on stdin.
pub const PDF_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// The reader's exit code for a file it parsed and could not read.
const EXIT_UNREADABLE: u8 = 2;
/// The reader's exit code when it could not put its limits in place.
const EXIT_UNCONFINED: u8 = 3;
/// Bytes of the reader's stderr kept for the log and the reason.
const STDERR_BYTES: u64 = 4096;

/// Why a PDF gave no text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// Every reader slot is taken.
    #[error("other PDFs are still being read; try again later")]
    Busy,
    /// The reader did not finish in time and was killed.
    #[error("this PDF could not be read in time")]
    TimedOut,
    /// The reader parsed the file and found no text it could read.
    #[error("this PDF could not be read ({0})")]
    Unreadable(String),
    /// The reader stopped: it crashed, or hit its memory or CPU limit, on this file.
    #[error(
        "this PDF could not be read (the reader stopped on it: it needs more memory or time than allowed, or is malformed)"
    )]
    Stopped,
    /// The reader could not be started.
    #[error("PDFs cannot be read right now (the reader did not start)")]
    Unavailable,
}

impl PdfError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::TimedOut => "timed_out",
            Self::Unreadable(_) | Self::Stopped => "unreadable",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The limits a reader puts on itself, passed to it on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Address space, in bytes.
    pub memory_bytes: u64,
    /// CPU seconds.
    pub cpu_seconds: u64,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        Self { memory_bytes: PDF_MEMORY_BYTES, cpu_seconds: PDF_CPU_SECONDS }
    }
}

impl ReaderLimits {
    fn args(self) -> [String; 4] {
        [
            "--memory-bytes".to_owned(),
            self.memory_bytes.to_string(),
            "--cpu-seconds".to_owned(),
            self.cpu_seconds.to_string(),
        ]
    }

    /// Reads `--memory-bytes N --cpu-seconds N` (both required, nothing else).
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut memory = None;
        let mut cpu = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = value.parse::<u64>().map_err(|_| format!("{flag}: {value:?}"))?;
            match flag.as_str() {
                "--memory-bytes" => memory = Some(number),
                "--cpu-seconds" => cpu = Some(number),
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        match (memory, cpu) {
            (Some(memory_bytes), Some(cpu_seconds)) => Ok(Self { memory_bytes, cpu_seconds }),
            _ => Err("--memory-bytes and --cpu-seconds are required".to_owned()),
        }
    }
}

/// Reads PDFs in child processes; clones share the slots.
#[derive(Clone, Debug)]
pub struct PdfExtractor {
    program: PathBuf,
    args: Vec<String>,
    limits: ReaderLimits,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

impl PdfExtractor {
    /// An extractor running `program` with `args` (the reader's limits are appended), which
    /// must behave as [`run_child`]: the bot passes its own binary and [`EXTRACT_PDF`].
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            limits: ReaderLimits::default(),
            timeout: PDF_TIMEOUT,
            slots: Arc::new(Semaphore::new(PDF_SLOTS)),
        }
    }

    /// The running binary as `<binary> extract-pdf`.
    ///
    /// # Errors
    /// The path of the running binary is unknown.
    pub fn this_binary() -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?, vec![EXTRACT_PDF.to_owned()]))
    }

    /// Sets the reader's limits (tests).
    #[must_use]
    pub fn with_limits(mut self, limits: ReaderLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the wall-clock limit (tests).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The text of the PDF `bytes`, read by a child process under the limits; see the module
    /// documentation.
    ///
    /// # Errors
    /// See [`PdfError`].
    pub async fn extract(&self, bytes: Vec<u8>) -> Result<String, PdfError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let _permit = tokio::time::timeout_at(deadline, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| PdfError::Busy)?
            .map_err(|_| PdfError::Busy)?;
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.args).args(self.limits.args());
        // Security: secrets inherited by the reader. It gets no environment at all (the Discord
        // token, key ring and database URL stay in the bot); std opens every descriptor of ours
        // close-on-exec, and the reader closes any it inherited from further up.
        command.env_clear();
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.kill_on_drop(true);
        let mut child = command.spawn().map_err(|error| {
            tracing::error!(program = %self.program.display(), %error, "pdf: the reader did not start");
            PdfError::Unavailable
        })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(PdfError::Unavailable);
        };
        let run = async {
            let feed = async {
                // A reader that stops early closes its end; what it did is in its exit status.
                let _ = stdin.write_all(&bytes).await;
                drop(stdin);
            };
            let limit = u64::try_from(PDF_OUTPUT_BYTES).unwrap_or(u64::MAX);
            let ((), out, err) = tokio::join!(
                feed,
                read_capped(stdout, limit + 1),
                read_capped(stderr, STDERR_BYTES)
            );
            if out.len() > PDF_OUTPUT_BYTES {
                // More than a reader writes: it is not behaving, so it is stopped.
                return (None, out, err);
            }
            (child.wait().await.ok(), out, err)
        };
        let finished = tokio::time::timeout_at(deadline, run).await;
        let outcome = match finished {
            Err(_) => Err(PdfError::TimedOut),
            Ok((None, _, err)) => {
                log_stopped(&self.program, "too much output", &err);
                Err(PdfError::Stopped)
            }
            Ok((Some(status), out, err)) => judge(&self.program, status, out, &err),
        };
        if outcome.is_err() {
            // Whatever state it is in, it ends now (kill_on_drop is the second line).
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        outcome
    }
}

async fn read_capped(reader: impl AsyncRead + Unpin, limit: u64) -> Vec<u8> {
    let mut out = Vec::new();
    // A read error ends the output; the exit status says why.
    let _ = reader.take(limit).read_to_end(&mut out).await;
    out
}

fn first_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines().next().unwrap_or_default().chars().take(200).collect()
}

fn log_stopped(program: &std::path::Path, why: &str, stderr: &[u8]) {
    tracing::warn!(
        program = %program.display(),
        why,
        stderr = %first_line(stderr),
        "pdf: the reader stopped on a file"
    );
}

/// What the reader's exit means.
fn judge(
    program: &std::path::Path,
    status: std::process::ExitStatus,
    out: Vec<u8>,
    stderr: &[u8],
) -> Result<String, PdfError> {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(crate::read_file::normalize(&String::from_utf8_lossy(&out))),
        (Some(code), _) if code == i32::from(EXIT_UNREADABLE) => {
            Err(PdfError::Unreadable(first_line(stderr)))
        }
        (Some(code), _) if code == i32::from(EXIT_UNCONFINED) => {
            tracing::error!(program = %program.display(), stderr = %first_line(stderr), "pdf: the reader could not limit itself, so it read nothing");
            Err(PdfError::Unavailable)
        }
        (code, signal) => {
            let why = match (code, signal) {
                (_, Some(signal)) => format!("signal {signal}"),
                (Some(code), None) => format!("exit code {code}"),
                (None, None) => "no exit status".to_owned(),
            };
            log_stopped(program, &why, stderr);
            Err(PdfError::Stopped)
        }
    }
}

/// The reader: what `tomori extract-pdf` runs. `args` are what follows the subcommand (the
/// limits, as [`PdfExtractor`] passes them). It confines itself first, then reads the PDF from
/// stdin (at most [`PDF_INPUT_BYTES`]) and writes its text to stdout (at most
/// [`PDF_OUTPUT_BYTES`]); exit 0 with the text, 2 with a reason on stderr when the file cannot be
/// read, 3 when it could not confine itself (then it reads nothing).
pub fn run_child(args: impl IntoIterator<Item = String>) -> ExitCode {
    let confined = ReaderLimits::parse(args).and_then(confine);
    if let Err(reason) = confined {
        let _ = writeln!(std::io::stderr(), "the reader could not confine itself: {reason}");
        return ExitCode::from(EXIT_UNCONFINED);
    }
    let mut input = Vec::new();
    if let Err(error) = std::io::stdin().take(PDF_INPUT_BYTES + 1).read_to_end(&mut input) {
        let _ = writeln!(std::io::stderr(), "reading the file: {error}");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    if u64::try_from(input.len()).unwrap_or(u64::MAX) > PDF_INPUT_BYTES {
        let _ = writeln!(std::io::stderr(), "the file is over {PDF_INPUT_BYTES} bytes");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    // A parser panic is caught and reported as one line; the default hook would print its
    // message and source path first, and the first line of stderr is the reason the user reads.
    std::panic::set_hook(Box::new(|_| {}));
    match extract_text(&input) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(EXIT_UNREADABLE),
            }
        }
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "{reason}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// The text of a PDF, cut to [`PDF_OUTPUT_BYTES`] at a character boundary. Runs the parser in
/// this process: only the reader (and the fuzz target) call it.
///
/// # Errors
/// The parser's reason, or that it panicked.
pub fn extract_text(pdf: &[u8]) -> Result<String, String> {
    let parsed = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(pdf));
    let mut text = match parsed {
        Ok(Ok(text)) => text,
        Ok(Err(error)) => return Err(error.to_string().chars().take(200).collect()),
        Err(_) => return Err("the PDF parser failed on this file".to_owned()),
    };
    if text.len() > PDF_OUTPUT_BYTES {
        let mut cut = PDF_OUTPUT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(text)
}

/// Puts the reader's limits in place; any failure means it must not read the input.
fn confine(limits: ReaderLimits) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    close_inherited_descriptors()?;
    let set = |resource: Resource, soft: u64, hard: u64| {
        setrlimit(resource, soft, hard).map_err(|e| format!("{resource:?}: {e}"))
    };
    // Security: denial of service through hostile PDFs. Memory and CPU are capped, so a bomb or
    // a loop ends this process, not the bot's memory or time.
    set(Resource::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)?;
    set(Resource::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds.saturating_add(1))?;
    // No core dump (it would hold the file), no file written.
    set(Resource::RLIMIT_CORE, 0, 0)?;
    set(Resource::RLIMIT_FSIZE, 0, 0)?;
    // Security: a parser bug turned into a foothold. No descriptor beyond stdin, stdout and
    // stderr can be opened (no file, no socket), and no process or thread started.
    set(Resource::RLIMIT_NOFILE, 3, 3)?;
    set(Resource::RLIMIT_NPROC, 0, 0)?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("dumpable: {e}"))?;
    // It dies with the bot rather than outliving it.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| format!("pdeathsig: {e}"))?;
    Ok(())
}

/// Closes every descriptor but 0, 1 and 2: whatever the bot's own parent left open without
/// close-on-exec (a lock file, a socket from a supervisor) is not the reader's to use.
fn close_inherited_descriptors() -> Result<(), String> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("listing descriptors: {e}"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .collect();
    // The listing's own descriptor was in the list and is closed by now: EBADF for it is fine.
    for fd in listed.into_iter().filter(|fd| *fd > 2) {
        match nix::unistd::close(fd) {
            Ok(()) | Err(nix::errno::Errno::EBADF) => {}
            Err(e) => return Err(format!("closing descriptor {fd}: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_arguments_round_trip_and_anything_else_is_refused() {
        let limits = ReaderLimits { memory_bytes: 7, cpu_seconds: 3 };
        assert_eq!(ReaderLimits::parse(limits.args()), Ok(limits));
        let check = |args: &[&str], expected: &str| {
            let parsed = ReaderLimits::parse(args.iter().map(|a| (*a).to_owned()));
            assert_eq!(parsed, Err(expected.to_owned()), "{args:?}");
        };
        check(&[], "--memory-bytes and --cpu-seconds are required");
        check(&["--memory-bytes", "1"], "--memory-bytes and --cpu-seconds are required");
        check(&["--memory-bytes"], "--memory-bytes needs a value");
        check(&["--memory-bytes", "x", "--cpu-seconds", "1"], "--memory-bytes: \"x\"");
        check(&["--shell", "1"], "unknown argument \"--shell\"");
    }
}
