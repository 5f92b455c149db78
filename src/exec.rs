//! The one door to the outside: every external process deskrun starts
//! (`kind`, `helm`, `kubectl`, `docker`, ...) goes through [`Runner::run`].
//!
//! Keeping it in one place gives uniform timeouts, process-group cleanup on
//! Ctrl-C, redaction of secrets in everything that is shown or logged, and a
//! call counter for tests.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use crate::model::REDACTED;

/// Timeout of an [`Invocation`] that does not set one: long enough for
/// `helm --wait` or a cold `kind create cluster`, short enough not to hang CI.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Secrets shorter than this are ignored: redacting "a" would shred all text.
const MIN_SECRET_LEN: usize = 4;
/// Lines of a multi-line secret (PEM keys) are redacted on their own, since
/// tools re-indent them (YAML blocks); shorter lines are too generic.
const MIN_SECRET_LINE_LEN: usize = 8;
const STDERR_TAIL_LINES: usize = 20;
/// Cap on the tail so one enormous line cannot flood an error message.
const STDERR_TAIL_BYTES: usize = 4096;
/// Stderr kept by [`Process`] before redaction and the final cut.
const RAW_TAIL_BYTES: usize = 64 * 1024;
/// How long a timed-out group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long the interrupt handler waits for children before it exits.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);
/// After SIGKILL, how long to wait for pipes held by escaped grandchildren.
const PIPE_DRAIN_GRACE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// Process-wide state shared with the interrupt handler.

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Set by the handler only: it is cleaning up and will exit the process.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Process-group ids of running children (each child leads its own group).
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Run by the interrupt handler before it exits (the terminal's echo, turned
/// off while a credential is typed, must come back).
static ON_EXIT: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);
/// Paths of live [`RegisteredTempFile`]s.
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// A panicking thread must not stop cleanup elsewhere, so poison is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `sig` (`None`: only check that a member is alive) to process group
/// `pgid`. `pgid > 0` is checked so we never signal our own group (0) or
/// every process (-1).
fn signal_group(pgid: i32, sig: Option<Signal>) -> bool {
    pgid > 0 && killpg(Pid::from_raw(pgid), sig).is_ok()
}

/// While the handler cleans up, a caller that saw the interrupt must not run
/// ahead and return from `main` (exit status 0, cleanup cut short), so it
/// waits here for the handler's `exit(130)`. Bounded in case the handler
/// itself gets stuck.
fn await_handler_exit() {
    if EXITING.load(Ordering::SeqCst) {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// True once SIGINT/SIGTERM/SIGHUP was received (after
/// [`install_interrupt_handler`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Installs the process-wide SIGINT/SIGTERM/SIGHUP handler. Calling it again
/// is a no-op.
///
/// Children run in their own process groups, so a terminal Ctrl-C reaches
/// deskrun only; the handler then stops every running child group (SIGTERM,
/// up to ~1 s grace, then SIGKILL) and exits with status 130. A
/// [`Runner::run`] that meets the
/// interrupt meanwhile waits for that exit rather than returning.
pub fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        if let Err(e) = ctrlc::set_handler(on_interrupt) {
            tracing::warn!("could not install the interrupt handler: {e}");
        }
    });
}

fn on_interrupt() {
    stop_children_and_exit(130, true);
}

/// Stops every running tool (as Ctrl-C does) and exits with `code`: for a
/// reader that went away (`deskrun logs -f | head`), where the followed
/// tools would otherwise run on.
pub fn exit_stopping_children(code: i32) -> ! {
    stop_children_and_exit(code, false)
}

fn stop_children_and_exit(code: i32, say: bool) -> ! {
    // Set before taking the locks: spawns and temp-file creations check it
    // under the same locks, so nothing new slips past the cleanup below.
    INTERRUPTED.store(true, Ordering::SeqCst);
    EXITING.store(true, Ordering::SeqCst);
    let groups: Vec<i32> = lock(&CHILDREN).clone();
    // Never a panic here: stderr may be closed (`2>&-`) or a hung-up tty.
    if say {
        let _ = writeln!(
            io::stderr().lock(),
            "\ninterrupted: stopping {} running tool(s) and cleaning up",
            groups.len()
        );
    }
    for &g in &groups {
        signal_group(g, Some(Signal::SIGTERM));
    }
    let until = Instant::now() + INTERRUPT_GRACE;
    loop {
        // A group is done once its runner reaped and unregistered it, or no
        // member is left to signal.
        let registered = lock(&CHILDREN).clone();
        let alive: Vec<_> = groups
            .iter()
            .copied()
            .filter(|g| registered.contains(g) && signal_group(*g, None))
            .collect();
        if alive.is_empty() {
            break;
        }
        if Instant::now() >= until {
            // Leaving a half-done `kind create` running after we exit is
            // worse than killing it.
            for g in alive {
                signal_group(g, Some(Signal::SIGKILL));
            }
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    if let Some(restore) = lock(&ON_EXIT).take() {
        restore();
    }
    // Temp files may hold credentials: never leave one behind.
    for path in lock(&TEMP_FILES).iter() {
        let _ = std::fs::remove_file(path);
    }
    std::process::exit(code);
}

/// Set (or clear, with `None`) what the interrupt handler runs before it
/// exits.
pub fn set_on_interrupt(f: Option<Box<dyn FnOnce() + Send>>) {
    *lock(&ON_EXIT) = f;
}

// ---------------------------------------------------------------------------
// Temp files removed on interrupt.

/// A temp file (in the config's own folder, for an atomic rename) registered
/// so that the interrupt handler removes it: it may hold credentials.
/// Dropping it removes the file.
pub struct RegisteredTempFile {
    file: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

/// Create a temp file with `create` under the registry lock (so an
/// interrupt cannot fall between creation and registration) and register it.
/// Once deskrun is being interrupted, waits for the handler's exit instead.
pub fn registered_temp_file(
    create: impl FnOnce() -> io::Result<tempfile::NamedTempFile>,
) -> io::Result<RegisteredTempFile> {
    let mut registry = lock(&TEMP_FILES);
    if interrupted() {
        drop(registry);
        await_handler_exit();
        return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
    }
    let file = create()?;
    let path = file.path().to_path_buf();
    registry.push(path.clone());
    Ok(RegisteredTempFile {
        file: Some(file),
        path,
    })
}

impl RegisteredTempFile {
    pub fn file(&mut self) -> &mut tempfile::NamedTempFile {
        self.file.as_mut().expect("set until persist or drop")
    }

    /// Rename it to `target` (atomically, same file system).
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        let file = self.file.take().expect("set until persist or drop");
        file.persist(target).map(drop).map_err(|e| e.error)
    }
}

impl Drop for RegisteredTempFile {
    fn drop(&mut self) {
        // Removed (unless persisted) before it is unregistered.
        drop(self.file.take());
        lock(&TEMP_FILES).retain(|p| *p != self.path);
    }
}

/// Remove the regular files in `dir` whose name `stale` says deskrun left
/// behind (a SIGKILL, which no handler sees, leaves a temp file); never a
/// link, a folder or another name. Best effort: what cannot be removed stays.
pub fn remove_stale_temp_files(dir: &Path, stale: impl Fn(&str, &std::fs::Metadata) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // The entry's own metadata: a link is never followed.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_file() && name.to_str().is_some_and(|n| stale(n, &meta)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Paths of the [`RegisteredTempFile`]s currently alive (for tests).
// Used by tests only: keeps a binary-only crate free of dead-code warnings.
#[cfg_attr(not(test), allow(dead_code))]
pub fn live_temp_files() -> Vec<PathBuf> {
    lock(&TEMP_FILES).clone()
}

// ---------------------------------------------------------------------------
// Invocation, Output, errors.

/// One tool call. `stdin` may carry credentials: it is never logged or echoed.
#[derive(Clone)]
pub struct Invocation {
    pub step: String,
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Invocation {
    pub fn new(step: impl Into<String>, program: impl Into<String>) -> Self {
        Invocation {
            step: step.into(),
            program: program.into(),
            args: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

// Hand-written so stdin (possibly a credential) never reaches a log.
impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("step", &self.step)
            .field("program", &self.program)
            .field("args", &self.args)
            .field(
                "stdin",
                &self.stdin.as_ref().map(|s| format!("<{} bytes>", s.len())),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Output of a successful call, as lossy UTF-8. Not redacted: callers parse it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ToolErrorKind {
    /// The program was not found (on PATH, or at the given path).
    NotFound,
    /// Still running after this long; its process group was killed.
    Timeout(Duration),
    /// Exited with this non-zero status.
    Exit(i32),
    /// Killed by this signal.
    Signal(i32),
    /// deskrun was interrupted: the call was not started, or was stopped.
    Interrupted,
    /// Could not be started or watched (message already redacted).
    Io(String),
}

/// A failed tool call. Every text field is already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    pub step: String,
    /// The command line, shell-quoted and redacted.
    pub command: String,
    pub kind: ToolErrorKind,
    /// The last lines of stderr, redacted.
    pub stderr_tail: String,
    /// All of stdout, redacted.
    pub stdout: String,
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (step, cmd) = (&self.step, &self.command);
        match &self.kind {
            ToolErrorKind::NotFound => {
                // The program is the first (possibly quoted) word.
                let end = match cmd.strip_prefix('\'') {
                    Some(rest) => rest.find('\'').map_or(cmd.len(), |i| i + 2),
                    None => cmd.find(' ').unwrap_or(cmd.len()),
                };
                let program = &cmd[..end];
                let place = if program.contains('/') {
                    "found"
                } else {
                    "found on PATH"
                };
                return write!(f, "step '{step}' failed: `{program}` was not {place}");
            }
            ToolErrorKind::Interrupted => {
                return write!(f, "step '{step}' was interrupted: `{cmd}`");
            }
            ToolErrorKind::Io(msg) => {
                return write!(f, "step '{step}' failed: `{cmd}` could not be run: {msg}");
            }
            ToolErrorKind::Timeout(d) => write!(
                f,
                "step '{step}' failed: `{cmd}` timed out after {}",
                human_duration(*d)
            )?,
            ToolErrorKind::Exit(code) => {
                write!(f, "step '{step}' failed: `{cmd}` exited with status {code}")?
            }
            ToolErrorKind::Signal(sig) => write!(
                f,
                "step '{step}' failed: `{cmd}` was killed by signal {sig}{}",
                signal_name(*sig).map_or(String::new(), |n| format!(" ({n})"))
            )?,
        }
        // Some tools report errors on stdout only; show its tail then.
        let (label, text) = if !self.stderr_tail.trim().is_empty() {
            ("stderr", Cow::Borrowed(self.stderr_tail.as_str()))
        } else {
            ("stdout", Cow::Owned(tail(&self.stdout)))
        };
        let text = text.trim_end();
        if !text.is_empty() {
            let indent = format!("\n{}", " ".repeat(label.len() + 4));
            let body = text.lines().collect::<Vec<_>>().join(&indent);
            write!(f, "\n  {label}: {body}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ToolError {}

/// `2s`, `300ms`, `1.5s`: a duration for messages.
pub fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn signal_name(sig: i32) -> Option<&'static str> {
    Signal::try_from(sig).ok().map(Signal::as_str)
}

/// The last [`STDERR_TAIL_LINES`] lines, at most [`STDERR_TAIL_BYTES`] bytes.
fn tail(text: &str) -> String {
    tail_within(text, STDERR_TAIL_BYTES)
}

/// What [`Process`] keeps of stderr before redaction: generous, so the tail
/// cut after redaction (by [`Redact`]) never falls inside a secret.
fn raw_tail(text: &str) -> String {
    tail_within(text, RAW_TAIL_BYTES)
}

fn tail_within(text: &str, max_bytes: usize) -> String {
    let text = text.trim_end();
    let start = text
        .rmatch_indices('\n')
        .nth(STDERR_TAIL_LINES - 1)
        .map_or(0, |(i, _)| i + 1);
    let mut start = start.max(text.len().saturating_sub(max_bytes));
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// Single-quotes a word for display unless it is plainly safe for a shell.
fn shell_quote(word: &str) -> Cow<'_, str> {
    // The marker itself is left bare so `--token=<redacted>` stays readable.
    let bare = word.replace(REDACTED, "");
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./=:,@%+".contains(c);
    if !word.is_empty() && bare.chars().all(safe) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------
// The seam: every tool call goes through a ToolRunner.

/// Anything that answers tool calls: the real [`Runner`] (a [`Process`]
/// runner inside the [`Redact`] and [`Echo`] wrappers), or the in-process
/// fake cluster of the tests ([`crate::testing::FakeCluster`]).
pub trait ToolRunner: Send + Sync {
    /// Runs one call to completion. Succeeds only on exit status 0.
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError>;

    /// `text` with every secret this runner knows replaced by [`REDACTED`].
    fn redact(&self, text: &str) -> String {
        text.to_owned()
    }

    /// Where `program` is installed, for the version checks (`None`: not
    /// installed). A fake answers for the tools it plays.
    fn locate(&self, program: &str) -> Option<PathBuf> {
        which::which(program).ok()
    }

    /// Like [`ToolRunner::run`], but each line of stdout goes to `lines` as
    /// it is printed (`kubectl logs -f`), not into [`Output::stdout`]. The
    /// default hands over the lines once the call is done, which is all a
    /// fake needs; the real [`Process`] streams them.
    fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
        let out = self.run(inv)?;
        for line in out.stdout.lines() {
            lines(line);
        }
        Ok(Output {
            stdout: String::new(),
            stderr: out.stderr,
        })
    }
}

/// A reference or an `Arc` to a runner is that runner: every method forwards.
macro_rules! forward_tool_runner {
    ($($pointer:ty),+) => {$(
        impl<T: ToolRunner + ?Sized> ToolRunner for $pointer {
            fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
                (**self).run(inv)
            }
            fn redact(&self, text: &str) -> String {
                (**self).redact(text)
            }
            fn locate(&self, program: &str) -> Option<PathBuf> {
                (**self).locate(program)
            }
            fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
                (**self).stream(inv, lines)
            }
        }
    )+};
}

forward_tool_runner!(&T, Arc<T>);

/// The command line as shown to people: shell-quoted and redacted by
/// `runner`.
pub fn command_line<R: ToolRunner + ?Sized>(runner: &R, inv: &Invocation) -> String {
    let words: Vec<String> = std::iter::once(&inv.program)
        .chain(&inv.args)
        .map(|w| shell_quote(&runner.redact(w)).into_owned())
        .collect();
    // Again on the whole line, for secrets that span words.
    runner.redact(&words.join(" "))
}

// ---------------------------------------------------------------------------
// Redaction.

/// Secrets to replace by [`REDACTED`] wherever text is shown.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Longest first, deduplicated.
    patterns: Vec<String>,
}

// Hand-written so the secrets never reach a log.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} patterns>", self.patterns.len())
    }
}

impl Secrets {
    /// Adds secrets. Strings shorter than 4 characters (after trimming) are
    /// ignored; each line of a multi-line secret that is at least 8
    /// characters long is redacted on its own too.
    pub fn add(&mut self, secrets: impl IntoIterator<Item = String>) {
        for secret in secrets {
            let trimmed = secret.trim();
            if trimmed.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            if trimmed.contains('\n') {
                self.patterns.extend(
                    trimmed
                        .lines()
                        .map(str::trim)
                        .filter(|l| l.chars().count() >= MIN_SECRET_LINE_LEN)
                        .map(str::to_owned),
                );
            }
            if trimmed != secret {
                self.patterns.push(trimmed.to_owned());
            }
            self.patterns.push(secret);
        }
        self.patterns
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.patterns.dedup();
    }

    /// Replaces every occurrence of every secret by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        // Collect all (even overlapping) matches and merge them, so a secret
        // overlapping another one cannot leave a fragment in the clear.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for secret in &self.patterns {
            let mut from = 0;
            while let Some(i) = text[from..].find(secret.as_str()) {
                let start = from + i;
                spans.push((start, start + secret.len()));
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if spans.is_empty() {
            return text.to_owned();
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        let mut iter = spans.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(s, e)) = iter.peek() {
                if s > end {
                    break;
                }
                end = end.max(e);
                iter.next();
            }
            out.push_str(&text[pos..start]);
            out.push_str(REDACTED);
            pos = end;
        }
        out.push_str(&text[pos..]);
        out
    }
}

/// Wraps a runner so that nothing it reports (command lines, stderr,
/// stdout of a failure, I/O messages) shows a secret. Successful output is
/// passed through: callers parse it.
#[derive(Debug)]
pub struct Redact<R> {
    inner: R,
    secrets: Secrets,
}

impl<R: ToolRunner> Redact<R> {
    pub fn new(inner: R, secrets: impl IntoIterator<Item = String>) -> Self {
        let mut s = Secrets::default();
        s.add(secrets);
        Redact { inner, secrets: s }
    }

    pub fn inner(&self) -> &R {
        &self.inner
    }
}

impl<R: ToolRunner> Redact<R> {
    fn redact_error(&self, inv: &Invocation, e: ToolError) -> ToolError {
        ToolError {
            step: self.redact(&e.step),
            command: command_line(self, inv),
            kind: match e.kind {
                ToolErrorKind::Io(msg) => ToolErrorKind::Io(self.redact(&msg)),
                kind => kind,
            },
            // Tailed after redaction, so a cut cannot split a secret.
            stderr_tail: tail(&self.redact(&e.stderr_tail)),
            stdout: self.redact(&e.stdout),
        }
    }
}

impl<R: ToolRunner> ToolRunner for Redact<R> {
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        self.inner.run(inv).map_err(|e| self.redact_error(inv, e))
    }

    /// Streamed lines are shown to people as they come: each is redacted.
    fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
        let secrets = self.secrets.clone();
        let redacted: Sink = Arc::new(move |line: &str| lines(&secrets.redact(line)));
        self.inner
            .stream(inv, redacted)
            .map_err(|e| self.redact_error(inv, e))
    }

    fn redact(&self, text: &str) -> String {
        self.secrets.redact(&self.inner.redact(text))
    }

    fn locate(&self, program: &str) -> Option<PathBuf> {
        self.inner.locate(program)
    }
}

/// Where echoed command lines go (`-v`).
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Wraps a runner to echo each command line (as the inner runner redacts
/// it) to a sink before it runs, and to log each call's outcome (`-vv`).
pub struct Echo<R> {
    inner: R,
    sink: Option<Sink>,
}

impl<R: fmt::Debug> fmt::Debug for Echo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Echo")
            .field("inner", &self.inner)
            .field("echo", &self.sink.is_some())
            .finish()
    }
}

impl<R: ToolRunner> Echo<R> {
    /// `sink: None` only logs.
    pub fn new(inner: R, sink: Option<Sink>) -> Self {
        Echo { inner, sink }
    }
}

impl<R: ToolRunner> Echo<R> {
    fn call(
        &self,
        inv: &Invocation,
        run: impl FnOnce() -> Result<Output, ToolError>,
    ) -> Result<Output, ToolError> {
        let command = command_line(&self.inner, inv);
        if let Some(sink) = &self.sink {
            sink(&format!("+ {command}"));
        }
        let started = Instant::now();
        let result = run();
        let outcome = match &result {
            Ok(_) => "exit 0".to_owned(),
            Err(e) => match &e.kind {
                ToolErrorKind::NotFound => "not found".to_owned(),
                ToolErrorKind::Timeout(_) => "timeout".to_owned(),
                ToolErrorKind::Exit(c) => format!("exit {c}"),
                ToolErrorKind::Signal(s) => format!("signal {s}"),
                ToolErrorKind::Interrupted => "interrupted".to_owned(),
                ToolErrorKind::Io(_) => "io error".to_owned(),
            },
        };
        tracing::debug!(
            step = %self.inner.redact(&inv.step),
            command = %command,
            duration_ms = started.elapsed().as_millis() as u64,
            outcome = %outcome,
            "tool call"
        );
        result
    }
}

impl<R: ToolRunner> ToolRunner for Echo<R> {
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        self.call(inv, || self.inner.run(inv))
    }

    fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
        self.call(inv, || self.inner.stream(inv, lines))
    }

    fn redact(&self, text: &str) -> String {
        self.inner.redact(text)
    }

    fn locate(&self, program: &str) -> Option<PathBuf> {
        self.inner.locate(program)
    }
}

// ---------------------------------------------------------------------------
// Runner: the real thing.

/// The runner deskrun uses: real processes ([`Process`]), every secret
/// redacted ([`Redact`]), each command echoed with `-v` ([`Echo`]).
/// `Send + Sync`: share one across threads.
#[derive(Debug)]
pub struct Runner {
    stack: Echo<Redact<Process>>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    pub fn new() -> Self {
        Runner {
            stack: Echo::new(Redact::new(Process::new(), []), None),
        }
    }

    /// Adds secrets to redact (see [`Secrets::add`]).
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.stack.inner.secrets.add(secrets);
        self
    }

    /// When on, each command line (redacted) is written to stderr, prefixed
    /// with "+ ", before it runs.
    pub fn echo(self, on: bool) -> Self {
        let sink: Option<Sink> = on.then(|| {
            Arc::new(|line: &str| {
                // A closed stderr must not stop the work.
                let _ = writeln!(io::stderr().lock(), "{line}");
            }) as Sink
        });
        self.echo_to(sink)
    }

    /// Echo each command line to `sink` (`None`: no echo).
    pub fn echo_to(mut self, sink: Option<Sink>) -> Self {
        self.stack.sink = sink;
        self
    }

    /// How many processes were started.
    pub fn calls(&self) -> usize {
        self.stack.inner.inner.calls()
    }

    /// Replaces every occurrence of every secret by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        self.stack.redact(text)
    }

    /// The command line as shown to people: shell-quoted and redacted.
    pub fn display_command(&self, inv: &Invocation) -> String {
        command_line(&self.stack, inv)
    }

    /// Runs one tool call to completion. Succeeds only on exit status 0.
    pub fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        self.stack.run(inv)
    }
}

impl ToolRunner for Runner {
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        self.stack.run(inv)
    }
    fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
        self.stack.stream(inv, lines)
    }
    fn redact(&self, text: &str) -> String {
        self.stack.redact(text)
    }
    fn locate(&self, program: &str) -> Option<PathBuf> {
        self.stack.locate(program)
    }
}

// ---------------------------------------------------------------------------
// Process: starts the child.

/// Runs each call as a child process in its own process group, with its
/// timeout, registered with the interrupt handler. Knows no secrets: its
/// errors are raw, so it is used inside [`Redact`] (as [`Runner`] does).
#[derive(Debug, Default)]
pub struct Process {
    calls: AtomicUsize,
}

impl Process {
    pub fn new() -> Self {
        Process::default()
    }

    /// How many processes were started.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

impl ToolRunner for Process {
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        self.call(inv, None)
    }

    fn stream(&self, inv: &Invocation, lines: Sink) -> Result<Output, ToolError> {
        self.call(inv, Some(lines))
    }
}

impl Process {
    fn call(&self, inv: &Invocation, lines: Option<Sink>) -> Result<Output, ToolError> {
        let command = command_line(self, inv);
        let result = self.run_inner(inv, &command, Instant::now(), lines);
        if matches!(&result, Err(e) if e.kind == ToolErrorKind::Interrupted) {
            await_handler_exit();
        }
        result
    }

    fn run_inner(
        &self,
        inv: &Invocation,
        command: &str,
        started: Instant,
        lines: Option<Sink>,
    ) -> Result<Output, ToolError> {
        let fail = |kind: ToolErrorKind, stdout: &[u8], stderr: &[u8]| ToolError {
            step: inv.step.clone(),
            command: command.to_owned(),
            kind,
            stderr_tail: raw_tail(&String::from_utf8_lossy(stderr)),
            stdout: lossy(stdout),
        };
        let io_fail = |e: io::Error| fail(ToolErrorKind::Io(e.to_string()), b"", b"");

        let mut cmd = Command::new(&inv.program);
        cmd.args(&inv.args)
            .stdin(if inv.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own group: a terminal Ctrl-C reaches deskrun only, and a
            // timeout or interrupt can kill the tool with its descendants.
            .process_group(0);

        let mut live = {
            // Spawn and register under one lock (see `on_interrupt`).
            let mut children = lock(&CHILDREN);
            if interrupted() {
                return Err(fail(ToolErrorKind::Interrupted, b"", b""));
            }
            let child = cmd.spawn().map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    fail(ToolErrorKind::NotFound, b"", b"")
                } else {
                    io_fail(e)
                }
            })?;
            let pgid = child.id() as i32;
            children.push(pgid);
            LiveChild {
                child,
                pgid,
                reaped: false,
            }
        };
        self.calls.fetch_add(1, Ordering::Relaxed);

        // Pipes are serviced on threads so a child filling one pipe while we
        // write the other cannot deadlock.
        let writer = match (live.child.stdin.take(), &inv.stdin) {
            (Some(mut pipe), Some(bytes)) => {
                let bytes = bytes.clone();
                let handle = thread::Builder::new()
                    .name("exec-stdin".into())
                    .spawn(move || {
                        // A child that exits without reading gives EPIPE;
                        // its exit status tells the story.
                        let _ = pipe.write_all(&bytes);
                    })
                    .map_err(io_fail)?;
                Some(handle)
            }
            _ => None,
        };
        let stdout =
            Reader::spawn(live.child.stdout.take(), "exec-stdout", lines).map_err(io_fail)?;
        let stderr =
            Reader::spawn(live.child.stderr.take(), "exec-stderr", None).map_err(io_fail)?;

        let deadline = started.checked_add(inv.timeout);
        let mut status: Option<ExitStatus> = None;
        // Short naps: every millisecond between a tool's exit and our noticing
        // it is added to each call, and calls in series add up. A try_wait
        // every few ms costs nothing measurable.
        let mut nap = Duration::from_millis(1);
        let timed_out = loop {
            if status.is_none() {
                status = live.try_wait().map_err(io_fail)?;
            }
            if status.is_some() && stdout.done() && stderr.done() {
                break false;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break true;
            }
            let left = deadline.map_or(nap, |d| d - now);
            thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(5));
        };

        if timed_out {
            live.terminate(&stdout, &stderr);
        }
        if let Some(w) = writer.filter(|w| w.is_finished()) {
            let _ = w.join();
        }
        let (out, err) = (stdout.finish(), stderr.finish());

        if timed_out {
            let kind = if interrupted() {
                ToolErrorKind::Interrupted
            } else {
                ToolErrorKind::Timeout(inv.timeout)
            };
            return Err(fail(kind, &out, &err));
        }
        let status = status.expect("loop ends with a status unless timed out");
        if status.success() {
            return Ok(Output {
                stdout: lossy(&out),
                stderr: lossy(&err),
            });
        }
        let kind = if interrupted() {
            ToolErrorKind::Interrupted
        } else if let Some(code) = status.code() {
            ToolErrorKind::Exit(code)
        } else if let Some(sig) = status.signal() {
            ToolErrorKind::Signal(sig)
        } else {
            ToolErrorKind::Io(format!("unexpected wait status {status}"))
        };
        Err(fail(kind, &out, &err))
    }
}

/// A spawned child, registered for the interrupt handler until dropped.
struct LiveChild {
    child: Child,
    pgid: i32,
    reaped: bool,
}

impl LiveChild {
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        self.reaped |= status.is_some();
        Ok(status)
    }

    /// SIGTERM the group, give it [`TERM_GRACE`], then SIGKILL it.
    fn terminate(&mut self, stdout: &Reader, stderr: &Reader) {
        signal_group(self.pgid, Some(Signal::SIGTERM));
        let until = Instant::now() + TERM_GRACE;
        // The group is gone once the leader is reaped and nobody holds the
        // pipes any more.
        while !(self.reaped && stdout.done() && stderr.done()) && Instant::now() < until {
            let _ = self.try_wait();
            thread::sleep(Duration::from_millis(10));
        }
        signal_group(self.pgid, Some(Signal::SIGKILL));
        if !self.reaped {
            let _ = self.child.wait();
            self.reaped = true;
        }
        // Grandchildren that left the group may still hold the pipes; do
        // not wait for them forever.
        let until = Instant::now() + PIPE_DRAIN_GRACE;
        while !(stdout.done() && stderr.done()) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LiveChild {
    fn drop(&mut self) {
        // Only on early-error or panic paths: never leave a running group.
        if !self.reaped {
            signal_group(self.pgid, Some(Signal::SIGKILL));
            let _ = self.child.wait();
        }
        let pgid = self.pgid;
        lock(&CHILDREN).retain(|&g| g != pgid);
    }
}

/// Drains one output pipe on its own thread into a shared buffer, so partial
/// output is available even if the pipe never closes.
struct Reader {
    buf: Arc<Mutex<Vec<u8>>>,
    handle: Option<JoinHandle<()>>,
}

impl Reader {
    /// With `lines`, every complete line goes there as soon as it is read
    /// (and is not kept): a followed log can run for hours.
    fn spawn(
        pipe: Option<impl Read + Send + 'static>,
        name: &str,
        lines: Option<Sink>,
    ) -> io::Result<Reader> {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let handle = match pipe {
            None => None,
            Some(mut pipe) => {
                let sink = Arc::clone(&buf);
                Some(thread::Builder::new().name(name.into()).spawn(move || {
                    let mut chunk = vec![0u8; 64 * 1024];
                    let emit = |buf: &mut Vec<u8>, all: bool| {
                        let Some(lines) = &lines else { return };
                        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=i).collect();
                            lines(String::from_utf8_lossy(&line[..i]).trim_end_matches('\r'));
                        }
                        if all && !buf.is_empty() {
                            lines(&String::from_utf8_lossy(buf));
                            buf.clear();
                        }
                    };
                    loop {
                        match pipe.read(&mut chunk) {
                            Ok(0) => break,
                            Ok(n) => {
                                let mut buf = lock(&sink);
                                buf.extend_from_slice(&chunk[..n]);
                                emit(&mut buf, false);
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    emit(&mut lock(&sink), true);
                })?)
            }
        };
        Ok(Reader { buf, handle })
    }

    fn done(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// What was read so far; joins the thread if it has finished, otherwise
    /// leaves it detached.
    fn finish(mut self) -> Vec<u8> {
        if let Some(h) = self.handle.take().filter(|h| h.is_finished()) {
            let _ = h.join();
        }
        std::mem::take(&mut *lock(&self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sh(step: &str, script: &str) -> Invocation {
        Invocation::new(step, "sh").args(["-c", script, "sh"])
    }

    /// Gone, or a zombie nobody reaped yet (some container inits never do).
    fn process_gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| {
                matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))
            }),
            // SAFETY: kill with signal 0 only checks for existence.
            Err(_) => nix::sys::signal::kill(Pid::from_raw(pid), None).is_err(),
        }
    }

    fn wait_gone(pid: i32) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if process_gone(pid) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn read_pid(path: &Path) -> Option<i32> {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(text) = std::fs::read_to_string(path)
                && text.ends_with('\n')
                && let Ok(pid) = text.trim().parse()
            {
                return Some(pid);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    #[test]
    fn runner_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Runner>();
        assert_send_sync::<ToolError>();
    }

    #[test]
    fn stdin_is_piped_to_the_child() {
        let runner = Runner::new();
        let out = runner
            .run(&Invocation::new("echo", "cat").stdin(b"hello\nworld".to_vec()))
            .unwrap();
        assert_eq!(out.stdout, "hello\nworld");
        assert_eq!(out.stderr, "");
        assert_eq!(runner.calls(), 1);
    }

    #[test]
    fn without_stdin_the_child_reads_eof() {
        let out = Runner::new().run(&Invocation::new("eof", "cat")).unwrap();
        assert_eq!(out.stdout, "");
    }

    #[test]
    fn exit_code_and_stderr_tail_are_captured() {
        let script = "echo out; for i in $(seq 1 30); do echo line$i >&2; done; exit 3";
        let err = Runner::new().run(&sh("failing step", script)).unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::Exit(3));
        assert_eq!(err.stdout, "out\n");
        assert_eq!(err.stderr_tail.lines().count(), 20);
        assert!(err.stderr_tail.starts_with("line11\n"));
        assert!(err.stderr_tail.ends_with("line30"));
        let shown = err.to_string();
        assert!(
            shown.starts_with("step 'failing step' failed: `sh -c 'echo out;"),
            "{shown}"
        );
        assert!(
            shown.contains("exited with status 3\n  stderr: line11\n"),
            "{shown}"
        );
        assert!(shown.ends_with("          line30"), "{shown}");
    }

    #[test]
    fn stdout_is_shown_when_stderr_is_empty() {
        let err = Runner::new()
            .run(&sh("s", "echo only-here; exit 1"))
            .unwrap_err();
        assert!(err.to_string().ends_with("\n  stdout: only-here"), "{err}");
    }

    #[test]
    fn killed_by_signal() {
        let err = Runner::new().run(&sh("s", "kill -9 $$")).unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::Signal(Signal::SIGKILL as i32));
        assert!(
            err.to_string().contains("was killed by signal 9 (SIGKILL)"),
            "{err}"
        );
    }

    #[test]
    fn missing_program_is_not_found() {
        let runner = Runner::new();
        let inv = Invocation::new("install controller", "deskrun-no-such-tool-xyz").arg("version");
        let err = runner.run(&inv).unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "step 'install controller' failed: `deskrun-no-such-tool-xyz` was not found on PATH"
        );
        assert_eq!(runner.calls(), 0);
        let err = runner
            .run(&Invocation::new("s", "/no such/dir/helm").arg("x"))
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("`'/no such/dir/helm'` was not found"),
            "{err}"
        );
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let inv = sh("slow", r#"sleep 30 & echo $! > "$1"; wait"#)
            .arg(pidfile.to_str().unwrap())
            .timeout(Duration::from_millis(300));
        let started = Instant::now();
        let err = Runner::new().run(&inv).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(err.kind, ToolErrorKind::Timeout(Duration::from_millis(300)));
        assert!(err.to_string().contains("timed out after 300ms"), "{err}");
        let grandchild = read_pid(&pidfile).expect("pidfile written");
        assert!(
            wait_gone(grandchild),
            "grandchild sleep {grandchild} survived"
        );
    }

    #[test]
    fn timeout_escalates_to_sigkill_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let inv = sh(
            "stubborn",
            r#"trap '' TERM; echo $$ > "$1"; while :; do sleep 1; done"#,
        )
        .arg(pidfile.to_str().unwrap())
        .timeout(Duration::from_millis(300));
        let started = Instant::now();
        let err = Runner::new().run(&inv).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(err.kind, ToolErrorKind::Timeout(_)));
        let pid = read_pid(&pidfile).expect("pidfile written");
        assert!(wait_gone(pid), "shell {pid} survived SIGKILL");
    }

    #[test]
    fn secrets_are_redacted_in_args_stderr_and_display() {
        let secret = "s3cr3t-token-value";
        let runner = Runner::new().with_secrets([secret.to_string(), "ab".to_string()]);
        let inv = sh(
            "login",
            r#"echo "using $1" ; echo "bad token $1" >&2; exit 1"#,
        )
        .arg(secret)
        .arg(format!("--password={secret}"))
        .arg("ab");
        let err = runner.run(&inv).unwrap_err();
        let shown = err.to_string();
        for text in [&err.command, &err.stderr_tail, &err.stdout, &shown] {
            assert!(!text.contains(secret), "leak in {text}");
        }
        assert!(
            err.command
                .ends_with(" sh <redacted> --password=<redacted> ab"),
            "{}",
            err.command
        );
        assert_eq!(err.stderr_tail, "bad token <redacted>");
        assert_eq!(err.stdout, "using <redacted>\n");
        // Short secrets are ignored.
        assert_eq!(runner.redact("ab cd"), "ab cd");
    }

    #[test]
    fn multi_line_secret_is_redacted_line_by_line() {
        let pem =
            "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASC\nshort\n-----END KEY-----\n";
        let runner = Runner::new().with_secrets([pem.to_string()]);
        assert_eq!(runner.redact(&format!("key: {pem}")), "key: <redacted>");
        // Re-indented as in a YAML block: each long line still goes.
        let yaml =
            "key: |\n  -----BEGIN KEY-----\n  MIIEvQIBADANBgkqhkiG9w0B\n  AQEFAASC\n  short\n";
        assert_eq!(
            runner.redact(yaml),
            "key: |\n  <redacted>\n  <redacted>\n  <redacted>\n  short\n"
        );
        let err = runner
            .run(&sh("apply", "printf '%s' \"$1\" >&2; exit 2").arg(pem))
            .unwrap_err();
        assert!(
            !err.to_string().contains("MIIEvQIBADANBgkqhkiG9w0B"),
            "{err}"
        );
        assert_eq!(err.stderr_tail, "<redacted>");
    }

    #[test]
    fn overlapping_secrets_leave_no_fragment() {
        let runner = Runner::new().with_secrets(["xyzabc".to_string(), "abcd1234".to_string()]);
        assert_eq!(runner.redact("[xyzabcd1234]"), "[<redacted>]");
        assert_eq!(runner.redact("<redacted>"), "<redacted>");
    }

    #[test]
    fn stdin_never_shows() {
        let runner = Runner::new().echo(true);
        let inv = Invocation::new("s", "sh")
            .args(["-c", "cat >&2; exit 1"])
            .stdin(b"password-from-stdin".to_vec());
        assert!(!format!("{inv:?}").contains("password-from-stdin"));
        let err = runner.run(&inv).unwrap_err();
        assert!(!err.command.contains("password-from-stdin"));
        assert!(!format!("{runner:?}").contains("password"));
    }

    #[test]
    fn display_quotes_words() {
        let runner = Runner::new();
        let inv = Invocation::new("s", "helm").args([
            "upgrade",
            "--set",
            "a=b c",
            "",
            "it's",
            "x:y/z@1,2%+",
        ]);
        assert_eq!(
            runner.display_command(&inv),
            r#"helm upgrade --set 'a=b c' '' 'it'\''s' x:y/z@1,2%+"#
        );
    }

    #[test]
    fn concurrent_runs_are_counted() {
        let runner = Runner::new();
        thread::scope(|s| {
            for t in 0..8 {
                let runner = &runner;
                s.spawn(move || {
                    for i in 0..5 {
                        let out = runner
                            .run(&Invocation::new("echo", "echo").arg(format!("{t}-{i}")))
                            .unwrap();
                        assert_eq!(out.stdout, format!("{t}-{i}\n"));
                    }
                });
            }
        });
        assert_eq!(runner.calls(), 40);
    }

    #[test]
    fn large_output_does_not_deadlock() {
        let runner = Runner::new();
        let inv = Invocation::new("big", "head")
            .args(["-c", "1048576", "/dev/zero"])
            .timeout(Duration::from_secs(60));
        assert_eq!(runner.run(&inv).unwrap().stdout.len(), 1 << 20);
        // 1 MB in and out at once: stdin and stdout pipes both fill up.
        let input = vec![b'x'; 1 << 20];
        let inv = Invocation::new("cat", "cat")
            .stdin(input)
            .timeout(Duration::from_secs(60));
        assert_eq!(runner.run(&inv).unwrap().stdout.len(), 1 << 20);
    }

    #[test]
    fn tail_is_capped() {
        let long = "x".repeat(10_000);
        assert_eq!(tail(&long).len(), STDERR_TAIL_BYTES);
        assert_eq!(tail("a\nb\n\n"), "a\nb");
    }

    // The interrupt handler ends the process, so it is exercised in a copy of
    // this test binary running the ignored helpers below.
    const HELPER_ENV: &str = "DESKRUN_EXEC_TEST_HELPER";

    fn run_helper(name: &str, dir: &Path) -> std::process::Output {
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("{module}::{name}"),
                "--ignored",
                "--nocapture",
            ])
            .env(HELPER_ENV, dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    #[test]
    fn interrupt_stops_children() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_helper("interrupt_helper", dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(130),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = read_pid(&dir.path().join("pid")).unwrap();
        assert!(wait_gone(pid), "child {pid} survived the interrupt");
    }

    #[test]
    #[ignore = "helper run by interrupt_stops_children"]
    fn interrupt_helper() {
        let Some(dir) = std::env::var_os(HELPER_ENV).map(PathBuf::from) else {
            return;
        };
        install_interrupt_handler();
        install_interrupt_handler(); // idempotent
        let pidfile = dir.join("pid");
        let arg = pidfile.to_str().unwrap().to_string();
        thread::spawn(move || {
            let inv = sh("sleeper", r#"echo $$ > "$1"; exec sleep 30"#).arg(arg);
            Runner::new().run(&inv)
        });
        read_pid(&pidfile).expect("child started");
        nix::sys::signal::raise(Signal::SIGINT).unwrap();
        thread::sleep(Duration::from_secs(20));
        panic!("the interrupt handler did not exit");
    }

    #[test]
    fn no_spawn_after_interrupt() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_helper("after_interrupt_helper", dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("HELPER_OK"), "{stdout}");
    }

    #[test]
    fn streamed_lines_arrive_while_the_tool_runs_and_are_redacted() {
        let secret = "s3cr3t-token-value";
        let runner = Runner::new().with_secrets([secret.to_string()]);
        let seen: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let sink: Sink = {
            let seen = Arc::clone(&seen);
            Arc::new(move |l: &str| lock(&seen).push((Instant::now(), l.to_string())))
        };
        let script = format!("echo first {secret}; sleep 0.5; printf 'second\\nno newline'");
        let out = runner.stream(&sh("follow", &script), sink).unwrap();
        let ended = Instant::now();
        assert_eq!(out.stdout, "", "streamed lines are not kept");
        let seen = lock(&seen).clone();
        let lines: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(lines, ["first <redacted>", "second", "no newline"]);
        assert!(
            ended.duration_since(seen[0].0) >= Duration::from_millis(300),
            "the first line came only at the end"
        );
        // The default (fakes): the lines once the call is done.
        struct Canned;
        impl ToolRunner for Canned {
            fn run(&self, _: &Invocation) -> Result<Output, ToolError> {
                Ok(Output {
                    stdout: "a\nb\n".into(),
                    stderr: String::new(),
                })
            }
        }
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let g = Arc::clone(&got);
        Canned
            .stream(
                &sh("x", "true"),
                Arc::new(move |l: &str| lock(&g).push(l.into())),
            )
            .unwrap();
        assert_eq!(*lock(&got), ["a", "b"]);
    }

    #[test]
    #[ignore = "helper run by no_spawn_after_interrupt"]
    fn after_interrupt_helper() {
        if std::env::var_os(HELPER_ENV).is_none() {
            return;
        }
        // What the handler does first; it would then exit the process.
        INTERRUPTED.store(true, Ordering::SeqCst);
        let runner = Runner::new();
        let err = runner.run(&Invocation::new("late", "true")).unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::Interrupted);
        assert_eq!(err.to_string(), "step 'late' was interrupted: `true`");
        assert_eq!(runner.calls(), 0);
        println!("HELPER_OK");
    }
}
