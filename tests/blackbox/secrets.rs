//! The credential never leaves the 0600 config file: not in any argv of a
//! child process, not in their environment, not on stdout or stderr at any
//! verbosity (errors that quote a tool's output included), not in any file
//! deskrun leaves behind; temp files are 0600 and gone afterwards. `render`
//! shows it only with `--show-secrets`.

use crate::common::Sandbox;
use deskrun::testing::{Failure, Fault};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A recognisable fake token (no real credential looks like this).
const SECRET: &str = "deskrun-canary-token-7f3a9c51e2";
/// A fake GitHub App key whose lines are each recognisable.
const PEM_LINES: [&str; 2] = ["CANARYKEYLINEONE0000000", "CANARYKEYLINETWO1111111"];

fn pem() -> String {
    // Split so that secret scanners do not flag this obviously fake key.
    format!(
        "-----BEGIN RSA {}-----\n{}\n{}\n-----END RSA {}-----\n",
        "PRIVATE KEY", PEM_LINES[0], PEM_LINES[1], "PRIVATE KEY"
    )
}

/// Every secret fragment that must never show.
fn leaks(text: &str) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = PEM_LINES
        .iter()
        .copied()
        .filter(|l| text.contains(l))
        .collect();
    if text.contains(SECRET) {
        found.push(SECRET);
    }
    found
}

/// A pat installation and a GitHub App one, both with secrets above.
fn setup(sb: &Sandbox) {
    sb.cmd()
        .args([
            "add",
            "pat-runner",
            "--repository",
            "https://github.com/owner/repo",
        ])
        .args([
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/root/.cache",
        ])
        .arg("--auth-value-stdin")
        .write_stdin(format!("{SECRET}\n"))
        .assert()
        .success();
    let key = sb.path().join("app.pem");
    fs::write(&key, pem()).unwrap();
    sb.cmd()
        .args([
            "add",
            "app-runner",
            "--repository",
            "https://github.com/my-org",
        ])
        .args(["--auth-type", "github-app", "--app-id", "123456"])
        .args(["--installation-id", "7654321", "--auth-value-file"])
        .arg(&key)
        .assert()
        .success();
    fs::remove_file(&key).unwrap();
}

struct Run {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "[{}] exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

/// Run deskrun with a private TMPDIR and check that neither stream shows a
/// secret.
fn run(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = sb.cmd();
    c.args(args)
        .env("TMPDIR", tmpdir(sb))
        .timeout(Duration::from_secs(60));
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let r = Run {
        what: format!("{env:?} deskrun {}", args.join(" ")),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    let found = leaks(&format!("{}{}", r.stdout, r.stderr));
    assert!(found.is_empty(), "shown: {found:?}\n{}", r.show());
    r
}

fn tmpdir(sb: &Sandbox) -> PathBuf {
    let d = sb.path().join("tmp");
    fs::create_dir_all(&d).unwrap();
    d
}

const VERBOSITY: [&[&str]; 4] = [&["-q"], &[], &["-v"], &["-vv"]];

fn with(v: &[&str], args: &[&str]) -> Vec<String> {
    v.iter().chain(args).map(|s| s.to_string()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------
// Config commands (no tools)
// ---------------------------------------------------------------------------

pub fn config_commands_never_show_the_credential_and_render_redacts() {
    let sb = Sandbox::new();
    setup(&sb);
    let mode = fs::metadata(&sb.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&sb.config).unwrap();
    assert!(text.contains(SECRET) && text.contains(PEM_LINES[0]));

    for v in VERBOSITY {
        for args in [
            vec!["list"],
            vec!["list", "--output", "json"],
            vec!["list", "--output", "yaml"],
            vec!["render"],
            vec!["render", "pat-runner"],
        ] {
            let r = run(&sb, &strs(&with(v, &args)), &[]);
            assert_eq!(r.code, Some(0), "{}", r.show());
        }
    }
    let r = run(&sb, &["render"], &[]);
    assert!(
        r.stdout.contains("github_token: <redacted>"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("github_app_private_key: <redacted>"),
        "{}",
        r.stdout
    );

    // --show-secrets shows them, and only then.
    let o = sb
        .cmd()
        .args(["render", "--show-secrets"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains(SECRET) && shown.contains(PEM_LINES[1]));

    // --output-dir: redacted files unless asked; with secrets, 0600 files in
    // 0700 folders.
    let plain = sb.path().join("rendered");
    run(
        &sb,
        &["render", "--output-dir", plain.to_str().unwrap()],
        &[],
    );
    for f in files_under(&plain) {
        let found = leaks(&fs::read_to_string(&f).unwrap());
        assert!(found.is_empty(), "{f:?} holds {found:?}");
    }
    let secret_dir = sb.path().join("rendered-secret");
    run(
        &sb,
        &[
            "render",
            "--show-secrets",
            "--output-dir",
            secret_dir.to_str().unwrap(),
        ],
        &[],
    );
    let mut holders = 0;
    for f in files_under(&secret_dir) {
        assert_eq!(mode_of(&f), 0o600, "{f:?}");
        assert_eq!(mode_of(f.parent().unwrap()), 0o700, "{f:?}");
        holders += usize::from(!leaks(&fs::read_to_string(&f).unwrap()).is_empty());
    }
    assert_eq!(holders, 2, "both values files hold their credential");

    // add and its errors, whatever the credential's source.
    for (i, v) in VERBOSITY.iter().enumerate() {
        let name = format!("x{i}");
        let add = |name: &str, token: &str| {
            run(
                &sb,
                &strs(&with(
                    v,
                    &[
                        "add",
                        name,
                        "--repository",
                        "https://github.com/o/r",
                        "--auth-value",
                        token,
                    ],
                )),
                &[],
            )
        };
        let r = add(&name, SECRET);
        assert_eq!(r.code, Some(0), "{}", r.show());
        // Refused: the token has a space in it; the message must not quote it.
        let r = add("y", &format!("{SECRET} {SECRET}"));
        assert_eq!(r.code, Some(2), "{}", r.show());
        // Refused: an existing name.
        let r = add(&name, SECRET);
        assert_eq!(r.code, Some(2), "{}", r.show());
    }
}

/// A config that does not validate is still searched for credentials
/// before an error is printed.
pub fn errors_about_a_broken_config_never_quote_its_credential() {
    let sb = Sandbox::new();
    setup(&sb);
    let text = fs::read_to_string(&sb.config).unwrap();
    // The token where a number belongs: serde quotes the value it refuses.
    let broken = text.replacen("min_runners: 1", &format!("min_runners: {SECRET}"), 1);
    assert_ne!(broken, text);
    fs::write(&sb.config, &broken).unwrap();
    for v in VERBOSITY {
        for args in [vec!["list"], vec!["render"], vec!["up"], vec!["status"]] {
            let r = run(&sb, &strs(&with(v, &args)), &[]);
            assert_eq!(r.code, Some(2), "{}", r.show());
        }
    }
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------
// Cluster commands through the fake toolchain
// ---------------------------------------------------------------------------

/// Watches directories while commands run and records every file that
/// appears in them, with the loosest mode it was seen with.
struct Watcher {
    stop: AtomicBool,
    seen: Mutex<BTreeMap<PathBuf, u32>>,
}

impl Watcher {
    fn new() -> Self {
        Watcher {
            stop: AtomicBool::new(false),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn watch(&self, dirs: &[PathBuf], ignore: &[PathBuf]) {
        while !self.stop.load(Ordering::Relaxed) {
            for d in dirs {
                let Ok(rd) = fs::read_dir(d) else { continue };
                for e in rd.filter_map(Result::ok) {
                    let p = e.path();
                    if ignore.contains(&p) {
                        continue;
                    }
                    if let Ok(m) = fs::symlink_metadata(&p)
                        && m.is_file()
                    {
                        let mode = m.permissions().mode() & 0o777;
                        let mut seen = self.seen.lock().unwrap();
                        let e = seen.entry(p).or_insert(0);
                        *e |= mode;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

pub fn cluster_commands_never_show_the_credential_anywhere() {
    let sb = Sandbox::new();
    setup(&sb);
    let tmp = tmpdir(&sb);
    let config_dir = sb.config.parent().unwrap().to_path_buf();
    let watcher = Watcher::new();
    let keep: Vec<PathBuf> = fs::read_dir(&config_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    std::thread::scope(|s| {
        s.spawn(|| watcher.watch(&[tmp.clone(), config_dir.clone()], &keep));
        // Stops the watcher even when the lifecycle fails (a panic would
        // otherwise wait for it forever).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&watcher.stop);
        lifecycle(&sb);
    });

    // Temp files: 0600 while they existed, all gone now.
    let seen = watcher.seen.lock().unwrap();
    for (p, mode) in seen.iter() {
        let name = p.file_name().unwrap().to_string_lossy();
        if name.ends_with(".lock") {
            continue;
        }
        assert_eq!(mode & 0o077, 0, "{p:?} was readable by others ({mode:o})");
        assert!(!p.exists(), "{p:?} was left behind");
    }
    assert!(
        fs::read_dir(&tmp).unwrap().next().is_none(),
        "files left in TMPDIR"
    );

    // No child saw the credential in its argv or environment; helm got it
    // on stdin only.
    let calls = sb.calls();
    assert!(calls.len() > 20, "{} calls", calls.len());
    for c in &calls {
        let found = leaks(&c.line());
        assert!(found.is_empty(), "argv of {} holds {found:?}", c.line());
        let found = leaks(&format!("{:?}", c.env));
        assert!(found.is_empty(), "env of {} holds {found:?}", c.line());
    }
    assert!(
        calls
            .iter()
            .any(|c| c.tool == "helm" && c.stdin.as_deref().is_some_and(|s| s.contains(SECRET)))
    );

    // Files deskrun left: only the config holds a credential, and it is 0600.
    // (The fake's state folder is the fake cluster and its call log, not
    // deskrun's.)
    for f in files_under(sb.path()) {
        if f.starts_with(&sb.state) {
            continue;
        }
        let bytes = fs::read(&f).unwrap();
        let found = leaks(&String::from_utf8_lossy(&bytes));
        if f == sb.config {
            assert!(!found.is_empty());
            assert_eq!(mode_of(&f), 0o600);
        } else {
            assert!(found.is_empty(), "{f:?} holds {found:?}");
        }
    }
}

/// up / status / down at every verbosity, then tool failures whose output
/// echoes the credential.
fn lifecycle(sb: &Sandbox) {
    let ok = |args: &[&str], env: &[(&str, &str)]| {
        let r = run(sb, args, env);
        assert_eq!(r.code, Some(0), "{}", r.show());
        r
    };
    ok(&["-vv", "up"], &[]);
    for v in VERBOSITY {
        ok(&strs(&with(v, &["up"])), &[]);
        ok(&strs(&with(v, &["status"])), &[]);
    }
    for v in [&["-vv"][..], &[]] {
        ok(&strs(&with(v, &["up", "--dry-run"])), &[]);
        ok(&strs(&with(v, &["status", "--output", "json"])), &[]);
        ok(
            &strs(&with(v, &["cluster", "status", "--output", "json"])),
            &[],
        );
    }
    ok(&["up"], &[("DESKRUN_LOG", "trace")]);
    ok(&["status"], &[("DESKRUN_LOG", "trace")]);
    // Config writes while the watcher looks for their temp files.
    for _ in 0..5 {
        sb.cmd()
            .args([
                "add",
                "extra",
                "--replace",
                "--repository",
                "https://github.com/o/r",
            ])
            .arg("--auth-value-stdin")
            .write_stdin(format!("{SECRET}\n"))
            .assert()
            .success();
    }
    sb.cmd().args(["remove", "extra"]).assert().success();

    // Tool output that quotes the credential, in every way a tool can fail,
    // and the command that meets it. Each error must show `<redacted>`
    // where the tool printed the credential.
    let echo = format!("Error: 401 Bad credentials for token {SECRET}\n{}", pem());
    let garbage = format!("not json {SECRET} {}", PEM_LINES[0]);
    let faults = [
        (
            Fault::on("helm", "upgrade --install pat-runner")
                .every()
                .fail(1, &echo),
            "up",
        ),
        (
            Fault::on("helm", "upgrade --install app-runner")
                .every()
                .failure(Failure {
                    stdout: echo.clone(),
                    ..Failure::exit(1, "")
                }),
            "up",
        ),
        (
            Fault::on("helm", "uninstall").every().fail(1, &echo),
            "down",
        ),
        (Fault::on("kubectl", "get").every().garbage(&garbage), "up"),
        (
            Fault::on("helm", "list")
                .every()
                .garbage(&format!("[{{\"name\": \"{SECRET}\"")),
            "status",
        ),
        (
            Fault::on("kind", "get clusters")
                .every()
                .garbage(&format!("{SECRET} {SECRET}")),
            "up",
        ),
        (
            Fault::on("docker", "inspect").every().garbage(&garbage),
            "cluster status",
        ),
        (
            Fault::on("kind", "get clusters").every().fail(2, &echo),
            "down",
        ),
    ];
    for (fault, command) in faults {
        // `down` meets deployed releases; `up` has both to install again.
        sb.clear_faults();
        ok(&["up"], &[]);
        if command == "up" {
            ok(&["down"], &[]);
        }
        sb.set_faults(vec![fault.clone()]);
        let args: Vec<&str> = command.split(' ').collect();
        for v in VERBOSITY {
            let r = run(sb, &strs(&with(v, &args)), &[]);
            assert_eq!(r.code, Some(1), "{fault:?}\n{}", r.show());
            assert!(r.stderr.contains("<redacted>"), "{fault:?}\n{}", r.show());
        }
    }
    sb.clear_faults();
    ok(&["up"], &[]);
    ok(&["-v", "down", "--controller"], &[]);
    ok(&["-v", "down", "--delete-cluster"], &[]);
    ok(&["-v", "cluster", "create"], &[]);
    ok(&["-v", "cluster", "delete"], &[]);
}
