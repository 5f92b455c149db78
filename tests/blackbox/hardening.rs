//! What careful users and hostile environments do to the config store and
//! credentials (issue 11), against the built binary: two names for one
//! config, files that are not regular files, signals during a write, a held
//! lock, exposed credentials, an empty `DESKRUN_CONFIG`, a byte order mark,
//! absurd nesting and size. No tool is called.

use crate::common::{Sandbox, TOKEN, show};
use deskrun::testing::Fault;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn add_args(name: &str) -> Vec<String> {
    [
        "add",
        name,
        "--repository",
        "https://github.com/owner/repo",
        "--auth-value-stdin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `deskrun --config CONFIG add NAME` with the token on stdin, run directly
/// (no assert_cmd), so a test can signal it.
fn spawn_add(sb: &Sandbox, config: &std::path::Path, name: &str) -> std::process::Child {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("deskrun"));
    c.arg("--config")
        .arg(config)
        .args(add_args(name))
        .env("HOME", sb.path())
        .env_remove("DESKRUN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TOKEN}\n").as_bytes());
    child
}

fn temp_files(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".deskrun-config-"))
        .collect()
}

pub fn two_names_for_one_config_lose_no_entry() {
    let sb = Sandbox::new();
    let real = sb.config.clone();
    let link_dir = sb.path().join("dotfiles");
    fs::create_dir_all(&link_dir).unwrap();
    let link = link_dir.join("config.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let via = if i % 2 == 0 { &link } else { &real };
            spawn_add(&sb, via, &format!("r{i}"))
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
    }
    let text = fs::read_to_string(&real).unwrap();
    for i in 0..20 {
        assert!(text.contains(&format!("\n  r{i}:\n")), "r{i} lost:\n{text}");
    }
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(temp_files(real.parent().unwrap()).is_empty());
}

pub fn a_config_that_is_not_a_regular_file_is_refused_and_kept() {
    let sb = Sandbox::new();
    let fifo = sb.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [
        fifo.to_str().unwrap(),
        "/dev/null",
        sb.path().to_str().unwrap(),
    ] {
        for args in [
            vec!["list"],
            add_args("x").iter().map(String::as_str).collect(),
        ] {
            let started = Instant::now();
            let o = sb
                .cmd()
                .arg("--config")
                .arg(path)
                .args(&args)
                .write_stdin(format!("{TOKEN}\n"))
                .timeout(Duration::from_secs(20))
                .output()
                .unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "blocked on {path}"
            );
            assert_eq!(o.status.code(), Some(2), "{path} {args:?}: {}", show(&o));
            assert!(stderr(&o).contains("not a regular file"), "{}", show(&o));
        }
    }
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// The issue's experiment: stop `add` with SIGINT, SIGTERM or SIGHUP at
/// varying moments, 30 times. Whenever the signal lands while the temp file
/// exists, the handler must remove it; a temp file left by SIGKILL is
/// removed by the next write.
pub fn signals_during_add_leave_no_temp_file() {
    let sb = Sandbox::new();
    let dir = sb.config.parent().unwrap().to_path_buf();
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    for i in 0..30u64 {
        let child = spawn_add(&sb, &sb.config, &format!("s{i}"));
        std::thread::sleep(Duration::from_micros(500 * (i % 10) + 300 * (i / 10)));
        // SAFETY: kill has no memory-safety preconditions; the pid is our child.
        unsafe { libc::kill(child.id() as i32, signals[(i % 3) as usize]) };
        let o = child.wait_with_output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 130)) || o.status.code().is_none(),
            "{}",
            show(&o)
        );
        let left = temp_files(&dir);
        assert!(
            left.is_empty(),
            "try {i}: temp files left: {left:?}\n{}",
            show(&o)
        );
    }
    // SIGKILL cannot be caught: the leftover is removed by the next write.
    let stale = dir.join(".deskrun-config-config.yaml.Zz9Yy8");
    fs::write(&stale, "holds a token").unwrap();
    sb.add("after-kill", &[]);
    assert!(temp_files(&dir).is_empty());
}

pub fn a_held_config_lock_is_announced_with_its_holder() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    let lock = sb.config.with_file_name("config.yaml.lock");
    // A process that holds the lock for 2 s, having written its pid, as
    // deskrun does.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl, os, sys, time\n\
             f = open(sys.argv[1], 'r+')\n\
             fcntl.flock(f, fcntl.LOCK_EX)\n\
             f.truncate(0); f.write('%d\\n' % os.getpid()); f.flush()\n\
             print('locked', flush=True)\n\
             time.sleep(2)\n",
        ])
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = holder.id();
    let mut out = holder.stdout.take().unwrap();
    let mut buf = [0u8; 7];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    let o = sb
        .cmd()
        .args(add_args("b"))
        .write_stdin(format!("{TOKEN}\n"))
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains("waiting for the config lock") && err.contains(&format!("(pid {pid})")),
        "{err}"
    );
    assert!(err.contains("python3"), "the holder's name: {err}");
    holder.wait().unwrap();
}

pub fn credentials_readable_by_others_are_warned_about_once() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    fs::set_permissions(&sb.config, fs::Permissions::from_mode(0o644)).unwrap();
    for args in [&["list"][..], &["render"], &["remove", "a"]] {
        let o = sb.cmd().args(args).output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        let err = stderr(&o);
        assert_eq!(
            err.matches("warning: config file").count(),
            1,
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("chmod 600 {}", sb.config.display())) && err.contains("0644"),
            "{err}"
        );
    }
    // `remove` rewrote it 0600: no warning any more.
    let o = sb.cmd().arg("list").output().unwrap();
    assert!(!stderr(&o).contains("warning"), "{}", show(&o));
    // A private file holding credentials: no warning either.
    sb.add("b", &[]);
    let o = sb.cmd().arg("list").output().unwrap();
    assert!(!stderr(&o).contains("warning"), "{}", show(&o));
}

pub fn folders_and_files_are_private_whatever_the_umask() {
    let sb = Sandbox::new();
    let config = sb.path().join("fresh/deskrun/config.yaml");
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("deskrun"))
        .arg("--config")
        .arg(&config)
        .args(add_args("a"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{TOKEN}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    for p in [sb.path().join("fresh"), sb.path().join("fresh/deskrun")] {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", p.display());
    }
    for p in [config.clone(), config.with_file_name("config.yaml.lock")] {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

pub fn an_empty_deskrun_config_is_named() {
    let sb = Sandbox::new();
    let o = sb
        .cmd()
        .env("DESKRUN_CONFIG", "")
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("DESKRUN_CONFIG is set but empty"), "{err}");
    assert!(!err.contains("--config"), "{err}");
    // With --config given, the empty variable does not matter.
    let o = sb
        .cmd()
        .env("DESKRUN_CONFIG", "")
        .arg("--config")
        .arg(&sb.config)
        .arg("list")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
}

pub fn odd_config_files_are_named_for_what_they_are() {
    let sb = Sandbox::new();
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "a byte order mark",
            b"\xef\xbb\xbfversion: 1\n".to_vec(),
            None,
        ),
        (
            "200,000 nested brackets",
            format!(
                "version: 1\ninstallations: {}{}\n",
                "[".repeat(200_000),
                "]".repeat(200_000)
            )
            .into_bytes(),
            Some("nested more than 64 levels"),
        ),
        (
            "a 5 MiB file",
            format!("version: 1\n# {}\n", "x".repeat(5 << 20)).into_bytes(),
            Some("larger than 4 MiB"),
        ),
    ];
    for (what, bytes, refusal) in cases {
        fs::write(&sb.config, &bytes).unwrap();
        let started = Instant::now();
        let o = sb
            .cmd()
            .arg("list")
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: too slow"
        );
        match refusal {
            None => assert!(o.status.success(), "{what}: {}", show(&o)),
            Some(needle) => {
                assert_eq!(o.status.code(), Some(2), "{what}: {}", show(&o));
                assert!(stderr(&o).contains(needle), "{what}: {}", show(&o));
                assert_eq!(fs::read(&sb.config).unwrap(), bytes, "{what}: file changed");
            }
        }
    }
}

/// `--auth-value-stdin` on a terminal: a prompt on stderr, nothing typed is
/// echoed, and Ctrl-C at the prompt leaves the terminal's echo on. Run in a
/// real pseudo-terminal (python's `pty`).
pub fn a_token_typed_on_a_terminal_is_not_echoed() {
    let sb = Sandbox::new();
    let script = r#"
import os, pty, sys, termios, time, select
exe, config, mode = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "--config", config, "add", "tty-" + mode, "--repository",
                   "https://github.com/owner/repo", "--auth-value-stdin"])
out = b""
def read_for(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read_for(3)
echo_during = bool(termios.tcgetattr(fd)[3] & termios.ECHO)
if mode == "type":
    os.write(fd, b"ghp_typedSecret0123456789\n")
else:
    os.write(fd, b"\x03")
read_for(5)
_, status = os.waitpid(pid, 0)
try:
    print("echo_after", bool(termios.tcgetattr(fd)[3] & termios.ECHO))
except OSError as e:
    print("echo_after unknown", e)
print(repr(out.decode(errors="replace")))
print("echo_during", echo_during)
print("exit", os.waitstatus_to_exitcode(status))
"#;
    let run = |mode: &str| -> String {
        let o = Command::new("python3")
            .args(["-c", script])
            .arg(assert_cmd::cargo::cargo_bin("deskrun"))
            .arg(&sb.config)
            .arg(mode)
            .env("HOME", sb.path())
            .env_remove("DESKRUN_CONFIG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let typed = run("type");
    assert!(
        typed.contains("Paste the token (input is hidden)"),
        "{typed}"
    );
    assert!(!typed.contains("ghp_typedSecret"), "echoed: {typed}");
    assert!(typed.contains("echo_during False"), "{typed}");
    assert!(typed.contains("exit 0"), "{typed}");
    let config = fs::read_to_string(&sb.config).unwrap();
    assert!(
        config.contains("token: ghp_typedSecret0123456789"),
        "{config}"
    );

    let interrupted = run("interrupt");
    assert!(interrupted.contains("exit 130"), "{interrupted}");
    assert!(interrupted.contains("echo_after True"), "{interrupted}");
    assert!(
        !fs::read_to_string(&sb.config)
            .unwrap()
            .contains("tty-interrupt")
    );
}

/// After a SIGKILL, deskrun's `helm upgrade` runs on and owns the release it
/// left `pending-upgrade`. The next `up` must not roll it back under that
/// helm: it refuses, naming the helm's pid and what to do, and repairs the
/// release once that helm is gone.
/// Kills, when dropped, every process whose command line names the sandbox
/// (the orphaned fake helm), so a failing test leaves none behind.
struct KillOrphans(std::path::PathBuf);

impl Drop for KillOrphans {
    fn drop(&mut self) {
        let needle = self.0.to_string_lossy().into_owned();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if pid != std::process::id() as i32
                && String::from_utf8_lossy(&cmdline).contains(&needle)
            {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

pub fn a_pending_release_that_a_live_helm_owns_is_not_rolled_back() {
    let sb = Sandbox::new();
    let _orphans = KillOrphans(sb.path().to_path_buf());
    sb.add("a", &[]);
    sb.cmd().arg("up").assert().success();
    sb.cmd()
        .args(["add", "a", "--replace", "--max-runners", "3"])
        .args([
            "--repository",
            "https://github.com/owner/repo",
            "--auth-value-stdin",
        ])
        .write_stdin(format!("{TOKEN}\n"))
        .assert()
        .success();
    // The upgrade writes pending-upgrade, then hangs.
    sb.set_faults(vec![
        Fault::on("helm", "upgrade --install a ")
            .every()
            .leave_release("pending-upgrade"),
    ]);
    let mut c = sb.command();
    let mut up = c
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while sb.release_status("a").as_deref() != Some("pending-upgrade") {
        assert!(Instant::now() < until, "the upgrade never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    up.kill().unwrap(); // SIGKILL: its helm (own process group) runs on
    up.wait().unwrap();
    sb.clear_faults();
    sb.reset_calls();

    let o = sb.cmd().arg("up").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("still working on it"), "{err}");
    let pid: i32 = err
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {err}"));
    assert!(err.contains(&format!("kill {pid}")), "{err}");
    assert!(
        !sb.calls().iter().any(|c| c.verb() == "rollback"),
        "rolled back under a live helm"
    );
    assert_eq!(sb.release_status("a").as_deref(), Some("pending-upgrade"));

    // Once that helm is gone, `up` repairs the release.
    // SAFETY: kill has no memory-safety preconditions; the pid is the orphan.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    sb.cmd().arg("up").assert().success();
    assert_eq!(sb.release_status("a").as_deref(), Some("deployed"));
    assert!(sb.calls().iter().any(|c| c.verb() == "rollback"));
}

/// `render --output-dir` never writes through a symlink planted in the
/// folder (with `--show-secrets` it would put the token wherever the link
/// points), nor into a FIFO; it says what it refused. A plain re-render over
/// its own files works.
pub fn render_output_dir_refuses_planted_links() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    let out = sb.path().join("rendered");
    let victim = sb.path().join("victim.txt");
    let render = || {
        sb.cmd()
            .args(["render", "--show-secrets", "--output-dir"])
            .arg(&out)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap()
    };
    assert!(render().status.success());
    assert!(render().status.success(), "re-render over its own files");
    let values = out.join("a/values.yaml");
    assert!(fs::read_to_string(&values).unwrap().contains(TOKEN));

    // A link at the file.
    fs::write(&victim, "keep me").unwrap();
    fs::remove_file(&values).unwrap();
    std::os::unix::fs::symlink(&victim, &values).unwrap();
    let o = render();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains("symbolic link") && err.contains(victim.to_str().unwrap()),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    assert_eq!(
        fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // A link at the instance's folder.
    fs::remove_dir_all(out.join("a")).unwrap();
    let elsewhere = sb.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("a")).unwrap();
    let o = render();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "wrote through the folder link"
    );

    // A FIFO at the file: refused, not blocked on.
    fs::remove_file(out.join("a")).unwrap();
    fs::create_dir_all(out.join("a")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(&values)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let o = render();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", show(&o));
    let stray: Vec<_> = fs::read_dir(out.join("a"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".deskrun-render-")
        })
        .collect();
    assert!(stray.is_empty());
}

/// `DESKRUN_CALL_TIMEOUT` that is not a number of seconds is an input error
/// naming the variable, before any tool runs (it used to panic on `inf` and
/// ignore `abc`, `0`, `-1` and an empty value).
pub fn a_bad_call_timeout_is_named() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    for bad in ["inf", "1e30", "NaN", "abc", "0", "-1", "", "86401"] {
        sb.reset_calls();
        let o = sb
            .cmd()
            .env("DESKRUN_CALL_TIMEOUT", bad)
            .arg("status")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", show(&o));
        assert!(
            stderr(&o).contains("invalid DESKRUN_CALL_TIMEOUT"),
            "{bad:?}: {}",
            show(&o)
        );
        assert!(sb.calls().is_empty(), "{bad:?}: a tool ran");
    }
    let o = sb
        .cmd()
        .env("DESKRUN_CALL_TIMEOUT", "30.5")
        .args(["up", "--dry-run"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
}

/// Processes whose command line names the sandbox (its fake tools).
fn sandbox_processes(sb: &Sandbox) -> Vec<String> {
    let needle = sb.path().to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle) && !c.contains("deskrun"))
        .collect()
}

/// A terminal hang-up (an ssh drop) stops `up` like Ctrl-C: the running
/// helm is stopped with it (no orphan), exit 130, and the next `up`
/// repairs the release it left pending.
pub fn a_hang_up_during_up_stops_its_tools() {
    let sb = Sandbox::new();
    let _orphans = KillOrphans(sb.path().to_path_buf());
    sb.add("a", &[]);
    sb.set_faults(vec![
        Fault::on("helm", "upgrade --install a ")
            .every()
            .leave_release("pending-install"),
    ]);
    let mut c = sb.command();
    let up = c
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while sb.release_status("a").as_deref() != Some("pending-install") {
        assert!(Instant::now() < until, "the install never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill has no memory-safety preconditions; the pid is our child.
    unsafe { libc::kill(up.id() as i32, libc::SIGHUP) };
    let o = up.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", show(&o));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sandbox_processes(&sb),
        Vec::<String>::new(),
        "tools left running"
    );
    sb.clear_faults();
    sb.cmd().arg("up").assert().success();
    assert_eq!(sb.release_status("a").as_deref(), Some("deployed"));
}

/// `deskrun up 2>&1 | head -1`: the reader goes away after one line; `up`
/// still does all its work, never aborts (134), and leaves no tool running.
pub fn up_piped_into_head_finishes_its_work() {
    let sb = Sandbox::new();
    let _orphans = KillOrphans(sb.path().to_path_buf());
    sb.add("a", &[]);
    sb.add("b", &["--mode", "dind"]);
    let o = Command::new("bash")
        .arg("-c")
        .arg("\"$0\" up 2>&1 | head -1; exit \"${PIPESTATUS[0]}\"")
        .arg(assert_cmd::cargo::cargo_bin("deskrun"))
        .envs(
            sb.command()
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        show(&o)
    );
    // `up` went on after the pipe closed: both releases are deployed.
    let until = Instant::now() + Duration::from_secs(60);
    while sb.release_status("b").as_deref() != Some("deployed") {
        assert!(
            Instant::now() < until,
            "up stopped when its reader went away"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sb.release_status("a").as_deref(), Some("deployed"));
    // The next `up` finds nothing to do, and no tool was left behind.
    let o = sb.cmd().arg("up").output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to do"),
        "{}",
        show(&o)
    );
    assert_eq!(sandbox_processes(&sb), Vec::<String>::new());
}
