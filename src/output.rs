//! The one output layer (like cargo's `Shell` or uv's `Printer`): every
//! byte deskrun shows goes through a [`Printer`]. It owns quiet and
//! verbose, colour, tables (measured in display columns, not bytes), JSON,
//! the transient progress line, and what happens when stdout or stderr is
//! closed, full or hung up: a write error ends that stream's output, never
//! the work. A closed pipe (`| head`) is not an error at all; any other
//! stdout failure (a full disk) is reported once the work is done.

use anyhow::Result;
use serde::Serialize;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use unicode_width::UnicodeWidthStr;

type Stream = Box<dyn Write + Send>;

struct Channel {
    stream: Stream,
    /// Set by the first failed write; later writes are dropped.
    closed: bool,
    /// The first failure that was not a closed pipe.
    failure: Option<String>,
}

impl Channel {
    fn new(stream: Stream) -> Self {
        Channel {
            stream,
            closed: false,
            failure: None,
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if let Err(e) = self
            .stream
            .write_all(bytes)
            .and_then(|_| self.stream.flush())
        {
            self.closed = true;
            if e.kind() != io::ErrorKind::BrokenPipe {
                self.failure = Some(e.to_string());
            }
        }
    }
}

struct Inner {
    quiet: bool,
    verbose: u8,
    color: bool,
    /// stderr is a terminal: a transient status line may be drawn.
    live: bool,
    out: Mutex<Channel>,
    err: Mutex<ErrChannel>,
}

struct ErrChannel {
    channel: Channel,
    /// A transient status line is on screen (cleared before other text).
    status_shown: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const CLEAR_LINE: &str = "\r\x1b[2K";

/// Where deskrun's output goes. Cheap to clone; share it across threads.
#[derive(Clone)]
pub struct Printer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("quiet", &self.inner.quiet)
            .field("verbose", &self.inner.verbose)
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// stdout and stderr of the process. Colour and the progress line only
    /// on a terminal, and no colour when `NO_COLOR` is set.
    pub fn new(quiet: bool, verbose: u8) -> Printer {
        let live = io::stderr().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer::with_streams(
            quiet,
            verbose,
            Box::new(io::stdout()),
            Box::new(io::stderr()),
            color,
            live,
        )
    }

    /// Any two streams (tests capture output this way).
    pub fn with_streams(
        quiet: bool,
        verbose: u8,
        out: Stream,
        err: Stream,
        color: bool,
        live: bool,
    ) -> Printer {
        Printer {
            inner: Arc::new(Inner {
                quiet,
                verbose,
                color,
                live,
                out: Mutex::new(Channel::new(out)),
                err: Mutex::new(ErrChannel {
                    channel: Channel::new(err),
                    status_shown: false,
                }),
            }),
        }
    }

    /// Prints nothing anywhere (library callers that want no output).
    pub fn silent() -> Printer {
        Printer::with_streams(
            true,
            0,
            Box::new(io::sink()),
            Box::new(io::sink()),
            false,
            false,
        )
    }

    pub fn quiet(&self) -> bool {
        self.inner.quiet
    }

    pub fn verbose(&self) -> u8 {
        self.inner.verbose
    }

    /// Whether a transient progress line can be drawn on stderr.
    pub fn live(&self) -> bool {
        self.inner.live && !self.inner.quiet
    }

    // ---- stdout: the data the user asked for -------------------------------

    /// Data on stdout, as is.
    pub fn data(&self, text: &str) {
        lock(&self.inner.out).write(text.as_bytes());
    }

    /// Data on stdout; false once stdout is closed (a reader that went
    /// away), so a command that streams can stop.
    pub fn try_data(&self, text: &str) -> bool {
        let mut out = lock(&self.inner.out);
        out.write(text.as_bytes());
        !out.closed
    }

    pub fn data_bytes(&self, bytes: &[u8]) {
        lock(&self.inner.out).write(bytes);
    }

    /// One line of data on stdout.
    pub fn line(&self, text: impl AsRef<str>) {
        let mut s = text.as_ref().to_string();
        s.push('\n');
        self.data(&s);
    }

    /// `value` as pretty JSON on stdout.
    pub fn json<T: Serialize>(&self, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value)? + "\n";
        self.data(&text);
        Ok(())
    }

    // ---- stderr: for people ------------------------------------------------

    fn err_write(&self, text: &str) {
        let mut err = lock(&self.inner.err);
        if err.status_shown {
            err.channel.write(CLEAR_LINE.as_bytes());
            err.status_shown = false;
        }
        err.channel.write(text.as_bytes());
    }

    /// A hint or progress line on stderr; silenced by `-q`.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.inner.quiet {
            self.err_write(&format!("{}\n", text.as_ref()));
        }
    }

    /// A warning on stderr (shown even with `-q`).
    pub fn warn(&self, text: impl AsRef<str>) {
        let label = self.paint("warning:", "1;33");
        self.err_write(&format!("{label} {}\n", text.as_ref()));
    }

    /// An error on stderr (always shown).
    pub fn error(&self, text: impl AsRef<str>) {
        let label = self.paint("error:", "1;31");
        self.err_write(&format!("{label} {}\n", text.as_ref()));
    }

    /// A `-v` line (e.g. the command echo), shown when verbose.
    pub fn verbose_line(&self, text: impl AsRef<str>) {
        if self.inner.verbose >= 1 {
            self.err_write(&format!("{}\n", text.as_ref()));
        }
    }

    /// The sink the runner echoes commands to with `-v` (`None` otherwise).
    pub fn echo_sink(&self) -> Option<crate::exec::Sink> {
        (self.inner.verbose >= 1).then(|| {
            let p = self.clone();
            Arc::new(move |line: &str| p.verbose_line(line)) as crate::exec::Sink
        })
    }

    /// Draw (replace) the transient status line; only on a terminal.
    pub fn status(&self, text: &str) {
        if !self.live() {
            return;
        }
        let mut err = lock(&self.inner.err);
        err.channel.write(format!("{CLEAR_LINE}{text}").as_bytes());
        err.status_shown = true;
    }

    /// Remove the transient status line, if one is drawn.
    pub fn clear_status(&self) {
        let mut err = lock(&self.inner.err);
        if err.status_shown {
            err.channel.write(CLEAR_LINE.as_bytes());
            err.status_shown = false;
        }
    }

    /// `text` in an ANSI style when colour is on.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        if self.inner.color {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// After the work: an error if stdout failed other than by a closed
    /// pipe (the data did not all arrive).
    pub fn finish(&self) -> Result<()> {
        self.clear_status();
        match &lock(&self.inner.out).failure {
            Some(e) => anyhow::bail!("cannot write to standard output: {e}"),
            None => Ok(()),
        }
    }
}

/// Display width of `text` in terminal columns (wide characters count 2,
/// combining marks 0).
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Rows as left-aligned columns two spaces apart, padded by display width;
/// trailing spaces trimmed, one line per row.
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.as_ref().iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.push_str(&" ".repeat(widths[i] - width(cell)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose writes fail with `kind`.
    struct Failing(io::ErrorKind);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Shared {
        fn text(&self) -> String {
            String::from_utf8_lossy(&lock(&self.0)).into_owned()
        }
    }

    #[test]
    fn a_closed_pipe_ends_output_without_error() {
        let err = Shared::default();
        let p = Printer::with_streams(
            false,
            0,
            Box::new(Failing(io::ErrorKind::BrokenPipe)),
            Box::new(err.clone()),
            false,
            false,
        );
        p.line("a");
        p.line("b");
        p.note("still shown");
        assert!(p.finish().is_ok());
        assert_eq!(err.text(), "still shown\n");
    }

    #[test]
    fn other_stdout_failures_are_reported_after_the_work() {
        let p = Printer::with_streams(
            false,
            0,
            Box::new(Failing(io::ErrorKind::StorageFull)),
            Box::new(Failing(io::ErrorKind::BrokenPipe)),
            false,
            false,
        );
        p.line("a");
        p.error("nobody reads this");
        let e = p.finish().unwrap_err().to_string();
        assert!(e.starts_with("cannot write to standard output"), "{e}");
    }

    #[test]
    fn quiet_silences_notes_not_errors_or_data() {
        let (out, err) = (Shared::default(), Shared::default());
        let p = Printer::with_streams(
            true,
            0,
            Box::new(out.clone()),
            Box::new(err.clone()),
            false,
            false,
        );
        p.note("hint");
        p.warn("careful");
        p.error("bad");
        p.line("data");
        assert_eq!(out.text(), "data\n");
        assert_eq!(err.text(), "warning: careful\nerror: bad\n");
    }

    #[test]
    fn the_status_line_is_cleared_before_other_text() {
        let err = Shared::default();
        let p = Printer::with_streams(
            false,
            0,
            Box::new(io::sink()),
            Box::new(err.clone()),
            true,
            true,
        );
        p.status("⠋ working");
        p.note("done");
        assert_eq!(
            err.text(),
            format!("{CLEAR_LINE}⠋ working{CLEAR_LINE}done\n")
        );
        assert!(p.paint("x", "1").contains("\x1b[1m"));
    }

    #[test]
    fn tables_align_by_display_width() {
        let rows = vec![
            vec!["NAME".to_string(), "X".to_string()],
            vec!["日本".to_string(), "1".to_string()],
            vec!["e\u{301}".to_string(), "2".to_string()],
        ];
        assert_eq!(table(&rows), "NAME  X\n日本  1\ne\u{301}     2\n");
        assert_eq!(width("日本"), 4);
    }
}
