//! What happens when stdout or stderr is closed or full: a closed pipe ends
//! the output, never the work; deskrun never panics; a full stdout is
//! reported after the work. Black-box: only a process has these streams.

use crate::common::{Sandbox, TOKEN};
use std::process::{Command, Output, Stdio};

fn deskrun(sb: &Sandbox) -> Command {
    let mut c = sb.command();
    c.stdin(Stdio::null());
    c
}

/// A pipe whose reading end is already closed: every write gets EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into()
}

fn run(mut c: Command, stdin: Option<&str>) -> Output {
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn add(sb: &Sandbox, name: &str) -> Command {
    let mut c = deskrun(sb);
    c.args(["add", name, "--repository", "https://github.com/owner/repo"])
        .arg("--auth-value-stdin");
    c
}

pub fn a_closed_stdout_ends_the_output_not_the_work() {
    let sb = Sandbox::new();
    // `deskrun version | head -c0`
    let mut c = deskrun(&sb);
    c.arg("version")
        .stdout(closed_pipe())
        .stderr(Stdio::piped());
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));

    for args in [
        vec!["completions", "bash"],
        vec!["list", "--output", "json"],
    ] {
        let mut c = deskrun(&sb);
        c.args(&args).stdout(closed_pipe()).stderr(Stdio::piped());
        let o = run(c, None);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }

    // add, up, down, remove do their work and exit 0.
    let mut c = add(&sb, "a");
    c.stdout(closed_pipe()).stderr(Stdio::piped());
    let o = run(c, Some(TOKEN));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&sb.config).unwrap().contains("a:"));
    for cmd in ["up", "down"] {
        let mut c = deskrun(&sb);
        c.arg(cmd).stdout(closed_pipe()).stderr(closed_pipe());
        let o = run(c, None);
        assert_eq!(o.status.code(), Some(0), "{cmd}");
    }
    assert!(
        sb.calls()
            .iter()
            .any(|c| c.line().contains("helm uninstall a "))
    );
    let mut c = deskrun(&sb);
    c.args(["remove", "a"])
        .stdout(closed_pipe())
        .stderr(closed_pipe());
    assert_eq!(run(c, None).status.code(), Some(0));
    assert!(!std::fs::read_to_string(&sb.config).unwrap().contains("a:"));
}

pub fn a_closed_stderr_keeps_the_exit_code() {
    let sb = Sandbox::new();
    // Bad input, with nowhere to say so: still exit 2, no panic (101).
    let mut c = deskrun(&sb);
    c.args([
        "add",
        "Bad Name",
        "--repository",
        "x",
        "--auth-value",
        "t0k3n",
    ])
    .stdout(Stdio::null())
    .stderr(closed_pipe());
    assert_eq!(run(c, None).status.code(), Some(2));
}

pub fn a_full_stdout_is_reported_after_the_work() {
    let sb = Sandbox::new();
    let mut c = deskrun(&sb);
    c.arg("version").stdout(dev_full()).stderr(Stdio::piped());
    let o = run(c, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error: cannot write to standard output"),
        "{}",
        stderr(&o)
    );
    let mut c = add(&sb, "b");
    c.stdout(dev_full()).stderr(Stdio::piped());
    let o = run(c, Some(TOKEN));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The work was done.
    assert!(std::fs::read_to_string(&sb.config).unwrap().contains("b:"));
}
