//! The config commands through the built binary: `add`, `list`, `remove`,
//! `render`, `version`, `completions`, `--help`, and how bad input and bad
//! config files are refused (exit 2, the file left byte for byte).
//!
//! Every test has its own config file in a temp dir; HOME and
//! XDG_CONFIG_HOME point there too, so nothing touches the real config.

use crate::common::{PEM, TOKEN};
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const REPO: &str = "https://github.com/owner/repo";

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist yet: the first write creates it.
        let config = dir.path().join("conf/deskrun.yaml");
        Env { dir, config }
    }

    /// `deskrun` isolated from the real environment, without `--config`.
    fn bare(&self) -> Command {
        let mut c = Command::cargo_bin("deskrun").unwrap();
        c.env_remove("DESKRUN_CONFIG")
            .env_remove("DESKRUN_LOG")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .write_stdin("");
        c
    }

    /// `deskrun --config FILE`.
    fn cmd(&self) -> Command {
        let mut c = self.bare();
        c.arg("--config").arg(&self.config);
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        Out::of(self.cmd().args(args).output().unwrap())
    }

    /// `deskrun add NAME --repository REPO ARGS --auth-value-stdin` with the token on stdin.
    fn add(&self, name: &str, args: &[&str]) -> Out {
        let out = Out::of(
            self.cmd()
                .args(["add", name, "--repository", REPO])
                .args(args)
                .arg("--auth-value-stdin")
                .write_stdin(format!("{TOKEN}\n"))
                .output()
                .unwrap(),
        );
        out.ok();
        out
    }

    fn bytes(&self) -> Vec<u8> {
        fs::read(&self.config).unwrap()
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.config).unwrap()
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(o: std::process::Output) -> Self {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        }
    }

    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self}");
        self
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------

pub fn add_with_stdin_credential() {
    let env = Env::new();
    let out = env.add(
        "docker-runner",
        &[
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/var/lib/docker",
        ],
    );
    assert!(out.stdout.contains("runs-on: docker-runner"), "{out}");
    assert!(out.all().contains("deskrun up"), "{out}");
    assert!(!out.all().contains(TOKEN), "the token was printed: {out}");
    let text = env.text();
    assert!(text.contains(&format!("token: {TOKEN}\n")), "{text}");
    assert!(
        text.contains("mode: cached-privileged-kubernetes"),
        "{text}"
    );
    assert!(text.contains("- path: /var/lib/docker"), "{text}");
    assert_eq!(mode_of(&env.config), 0o600, "the config holds credentials");
}

pub fn add_with_file_credential_and_auth_value() {
    let env = Env::new();
    let token_file = env.dir.path().join("token.txt");
    fs::write(&token_file, format!("{TOKEN}\r\n")).unwrap();
    let out = env.run(&[
        "add",
        "from-file",
        "--repository",
        "https://github.com/owner/repo.git/",
        "--auth-value-file",
        token_file.to_str().unwrap(),
    ]);
    out.ok();
    assert!(out.stdout.contains("runs-on: from-file"), "{out}");
    assert!(out.stderr.contains("deskrun up"), "{out}");

    let out = env.run(&[
        "add",
        "inline",
        "--repository",
        REPO,
        "--auth-value",
        "fake-token-for-tests-0002",
        "--min-runners",
        "0",
        "--max-runners",
        "3",
    ]);
    out.ok();
    assert!(out.stdout.contains("runs-on: inline"), "{out}");

    // A GitHub App, its multi-line key from a file.
    let key_file = env.dir.path().join("app.pem");
    fs::write(&key_file, PEM).unwrap();
    env.run(&[
        "add",
        "app-runner",
        "--repository",
        "https://github.com/my-org",
        "--auth-type",
        "github-app",
        "--app-id",
        "123456",
        "--installation-id",
        "7654321",
        "--auth-value-file",
        key_file.to_str().unwrap(),
    ])
    .ok();

    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    let f = &config.installations["from-file"];
    // The line break is dropped, the URL normalised.
    assert_eq!(
        f.auth,
        deskrun::model::Auth::Pat {
            token: TOKEN.into()
        }
    );
    assert_eq!(f.repository, REPO);
    assert_eq!((f.min_runners, f.max_runners, f.instances), (1, 5, 1));
    let i = &config.installations["inline"];
    assert_eq!((i.min_runners, i.max_runners), (0, 3));
    match &config.installations["app-runner"].auth {
        deskrun::model::Auth::GithubApp {
            app_id,
            installation_id,
            private_key,
        } => {
            assert_eq!(
                (app_id.as_str(), installation_id.as_str()),
                ("123456", "7654321")
            );
            assert_eq!(private_key.trim_end(), PEM.trim_end());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mode_of(&env.config), 0o600);
}

pub fn add_with_instances_prints_every_instance_name() {
    let env = Env::new();
    let out = env.add("ci", &["--instances", "3"]);
    for n in ["ci-1", "ci-2", "ci-3"] {
        assert!(out.stdout.contains(n), "{out}");
    }
    assert!(out.stdout.contains("runs-on:"), "{out}");
    assert!(out.all().contains("deskrun up"), "{out}");
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    let ci = &config.installations["ci"];
    assert_eq!((ci.instances, ci.min_runners, ci.max_runners), (3, 1, 1));
}

pub fn add_duplicate_is_refused_and_replace_overwrites() {
    let env = Env::new();
    env.add("dup", &[]);
    let before = env.bytes();
    let out = Out::of(
        env.cmd()
            .args(["add", "dup", "--repository", REPO, "--mode", "dind"])
            .args(["--auth-value", "fake-token-for-tests-0002"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already exists"), "{out}");
    assert!(out.stderr.contains("--replace"), "{out}");
    assert_eq!(env.bytes(), before, "a refused add must not touch the file");

    let out = env.run(&[
        "add",
        "dup",
        "--repository",
        REPO,
        "--mode",
        "dind",
        "--auth-value",
        "fake-token-for-tests-0002",
        "--replace",
    ]);
    out.ok();
    assert!(out.stdout.contains("replaced"), "{out}");
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert_eq!(config.installations.len(), 1);
    assert_eq!(config.installations["dup"].mode, deskrun::model::Mode::Dind);
    assert!(env.text().contains("fake-token-for-tests-0002"));
    assert!(!env.text().contains(TOKEN));
}

pub fn deskrun_config_env_selects_the_file() {
    let env = Env::new();
    let path = env.dir.path().join("from-env/config.yaml");
    env.bare()
        .env("DESKRUN_CONFIG", &path)
        .args(["add", "envy", "--repository", REPO, "--auth-value", TOKEN])
        .assert()
        .success()
        .stdout(predicate::str::contains(path.to_str().unwrap()));
    assert!(path.exists());
    assert_eq!(mode_of(&path), 0o600);
    assert!(!env.config.exists());
    env.bare()
        .env("DESKRUN_CONFIG", &path)
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("envy"));
    // --config wins over the variable.
    env.cmd()
        .env("DESKRUN_CONFIG", &path)
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("envy").not());
}

// ---------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------

fn three_installations(env: &Env) {
    env.add(
        "docker-runner",
        &[
            "--mode",
            "cached-privileged-kubernetes",
            "--max-runners",
            "1",
            "--cache",
            "/var/lib/docker",
        ],
    );
    env.add(
        "ci",
        &[
            "--instances",
            "3",
            "--cache",
            "/root/.cargo/registry",
            "--cache",
            "/srv/ci/npm:/root/.npm",
        ],
    );
    let key = env.dir.path().join("app.pem");
    fs::write(&key, PEM).unwrap();
    env.run(&[
        "add",
        "app-runner",
        "--repository",
        "https://github.com/my-org",
        "--mode",
        "dind",
        "--auth-type",
        "github-app",
        "--app-id",
        "123456",
        "--installation-id",
        "7654321",
        "--auth-value-file",
        key.to_str().unwrap(),
    ])
    .ok();
}

pub fn list_table_has_a_row_per_installation() {
    let env = Env::new();
    // Empty: nothing on stdout, a hint on stderr.
    let out = env.run(&["list"]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert!(out.stderr.contains("deskrun add"), "{out}");

    three_installations(&env);
    let out = env.run(&["list"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    let row = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"))
            .split_whitespace()
            .collect()
    };
    assert_eq!(row("docker-runner")[1], "cached-privileged-kubernetes");
    assert_eq!(row("ci")[1], "kubernetes");
    assert_eq!(row("ci")[2], "3");
    assert_eq!(row("app-runner")[1], "dind");
    assert!(lines[0].contains("JOB-CONTAINER"), "{out}");
    assert_eq!(row("docker-runner")[4], "optional");
    assert_eq!(row("ci")[4], "required");
    assert_eq!(row("app-runner")[4], "-");
    assert!(out.stdout.contains("/srv/ci/npm:/root/.npm"), "{out}");
    assert!(!out.all().contains(TOKEN));
    assert!(!out.all().contains("FAKEKEY"));
}

pub fn list_json_and_yaml_have_the_documented_shape() {
    let env = Env::new();
    three_installations(&env);
    let out = env.run(&["list", "--output", "json"]);
    out.ok();
    assert!(!out.all().contains(TOKEN) && !out.all().contains("FAKEKEY"));
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    let keys = |v: &Json| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&doc),
        BTreeSet::from([
            "version".into(),
            "cluster".into(),
            "installations".into(),
            "proxy".into()
        ])
    );
    assert_eq!(
        doc["cluster"],
        serde_json::json!({"provider": "kind", "context": "kind-deskrun",
                           "namespace": "arc-systems", "controller": "managed"})
    );
    let list = doc["installations"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["app-runner", "ci", "docker-runner"],
        "sorted by name"
    );
    let want_keys: BTreeSet<String> = [
        "name",
        "repository",
        "mode",
        "instances",
        "min_runners",
        "max_runners",
        "caches",
        "job_container",
        "glibc_compat",
        "auth_type",
        "runs_on",
        "labels",
        "env",
        "runner_image",
        "dind_image",
        "resources",
        "github_ca",
    ]
    .map(String::from)
    .into();
    for i in list {
        assert_eq!(keys(i), want_keys, "{i}");
        for c in i["caches"].as_array().unwrap() {
            let k = keys(c);
            assert!(k.contains("path"), "{c}");
            assert!(k.iter().all(|k| k == "path" || k == "host_path"), "{c}");
        }
    }
    let ci = &list[1];
    assert_eq!(ci["repository"], REPO);
    assert_eq!(ci["mode"], "kubernetes");
    assert_eq!(ci["instances"], 3);
    assert_eq!(
        (ci["min_runners"].clone(), ci["max_runners"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(ci["auth_type"], "pat");
    assert_eq!(ci["runs_on"], serde_json::json!(["ci-1", "ci-2", "ci-3"]));
    assert_eq!(
        ci["caches"],
        serde_json::json!([
            {"path": "/root/.cargo/registry"},
            {"path": "/root/.npm", "host_path": "/srv/ci/npm"}
        ])
    );
    assert_eq!(list[0]["auth_type"], "github-app");
    assert_eq!(list[0]["caches"], serde_json::json!([]));
    assert_eq!(list[0]["runs_on"], serde_json::json!(["app-runner"]));
    assert_eq!(list[2]["max_runners"], 1);
    // The job-container rule in effect: each mode's default; none in dind.
    assert_eq!(list[0]["job_container"], Json::Null);
    assert_eq!(ci["job_container"], "required");
    assert_eq!(list[2]["job_container"], "optional");
    assert!(list.iter().all(|i| i["glibc_compat"] == false));

    // YAML: the same document.
    let out = env.run(&["list", "--output", "yaml"]);
    out.ok();
    assert!(!out.all().contains(TOKEN) && !out.all().contains("FAKEKEY"));
    let yaml: Json = serde_yaml::from_str(&out.stdout).unwrap();
    assert_eq!(yaml, doc);
}

// ---------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------

pub fn remove_mentions_up_and_the_kept_caches() {
    let env = Env::new();
    three_installations(&env);
    let out = env.run(&["remove", "ci"]);
    out.ok();
    assert!(out.all().contains("deskrun up"), "{out}");
    for dir in [
        "/tmp/github-runner-cache/ci-1/cache-0",
        "/tmp/github-runner-cache/ci-2/cache-0",
        "/tmp/github-runner-cache/ci-3/cache-0",
        "/srv/ci/npm",
    ] {
        assert!(out.all().contains(dir), "{dir} not printed: {out}");
    }
    // The HOST_PATH directory is shared by the three instances: listed once.
    assert_eq!(out.all().matches("/srv/ci/npm").count(), 1, "{out}");
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert!(!config.installations.contains_key("ci"));
    assert_eq!(config.installations.len(), 2);

    let before = env.bytes();
    let out = env.run(&["remove", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("nope"), "{out}");
    assert_eq!(env.bytes(), before);
}

// ---------------------------------------------------------------------------
// render
// ---------------------------------------------------------------------------

pub fn render_prints_one_redacted_stream() {
    let env = Env::new();
    three_installations(&env);
    let out = env.run(&["render"]);
    out.ok();
    let s = &out.stdout;
    for header in [
        "# Source: kind-cluster.yaml",
        "# Source: controller/values.yaml",
        "# Source: docker-runner/values.yaml",
        "# Source: docker-runner/hook-extension.yaml",
        "# Source: ci-1/values.yaml",
        "# Source: ci-3/hook-extension.yaml",
        "# Source: app-runner/values.yaml",
    ] {
        assert!(s.contains(header), "missing {header}:\n{s}");
    }
    assert!(!s.contains("# Source: app-runner/hook-extension.yaml"));
    assert!(!s.contains(TOKEN), "redacted by default");
    assert!(!s.contains("FAKEKEY"), "redacted by default");
    assert!(s.contains("github_token: <redacted>"), "{s}");
    assert!(s.contains("github_app_private_key: <redacted>"), "{s}");

    // Only some installations: the cluster files stay.
    let out = env.run(&["render", "docker-runner"]);
    out.ok();
    assert!(out.stdout.contains("# Source: kind-cluster.yaml"));
    assert!(out.stdout.contains("# Source: docker-runner/values.yaml"));
    assert!(!out.stdout.contains("ci-1"));

    let out = env.run(&["render", "--show-secrets"]);
    out.ok();
    assert!(out.stdout.contains(&format!("github_token: {TOKEN}")));
    assert!(out.stdout.contains("FAKEKEYFORDESKRUNTESTSLINE2"));

    let out = env.run(&["render", "unknown"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("unknown"), "{out}");
    assert_eq!(out.stdout, "");
}

fn files_under(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

pub fn render_output_dir_writes_the_documented_layout() {
    let env = Env::new();
    three_installations(&env);
    let dir = env.dir.path().join("rendered");
    let out = env.run(&["render", "--output-dir", dir.to_str().unwrap()]);
    out.ok();
    let want: BTreeSet<String> = [
        "kind-cluster.yaml",
        "controller/values.yaml",
        "app-runner/values.yaml",
        "ci-1/values.yaml",
        "ci-1/hook-extension.yaml",
        "ci-2/values.yaml",
        "ci-2/hook-extension.yaml",
        "ci-3/values.yaml",
        "ci-3/hook-extension.yaml",
        "docker-runner/values.yaml",
        "docker-runner/hook-extension.yaml",
        // The default registry mirrors.
        "registry-mirrors.yaml",
    ]
    .map(String::from)
    .into();
    assert_eq!(files_under(&dir), want);
    for f in &want {
        let p = dir.join(f);
        assert_eq!(mode_of(&p), 0o600, "{f}");
        let text = fs::read_to_string(&p).unwrap();
        serde_yaml::from_str::<serde_yaml::Value>(&text)
            .unwrap_or_else(|e| panic!("{f} is not YAML: {e}"));
        assert!(!text.contains(TOKEN), "{f} is not redacted");
        // Each written path is printed.
        assert!(out.stdout.contains(p.to_str().unwrap()), "{out}");
    }
    let stream = env.run(&["render"]);
    let docker = fs::read_to_string(dir.join("docker-runner/values.yaml")).unwrap();
    assert!(stream.stdout.contains(&docker), "files and stream agree");

    // Again with secrets into the same folder: an existing file is rewritten
    // and stays 0600.
    fs::set_permissions(
        dir.join("ci-1/values.yaml"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    env.run(&[
        "render",
        "--show-secrets",
        "--output-dir",
        dir.to_str().unwrap(),
    ])
    .ok();
    let ci1 = dir.join("ci-1/values.yaml");
    assert_eq!(mode_of(&ci1), 0o600);
    assert!(fs::read_to_string(ci1).unwrap().contains(TOKEN));
}

// ---------------------------------------------------------------------------
// version, completions, help
// ---------------------------------------------------------------------------

pub fn version_and_completions() {
    let env = Env::new();
    let out = env.run(&["version"]);
    out.ok();
    assert_eq!(
        out.stdout.trim(),
        format!("deskrun {}", env!("CARGO_PKG_VERSION"))
    );
    let out = env.run(&["--version"]);
    out.ok();
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")));

    let out = env.run(&["completions", "bash"]);
    out.ok();
    assert!(out.stdout.len() > 100, "{out}");
    assert!(out.stdout.contains("deskrun"), "{out}");
    let out = env.run(&["completions", "zsh"]);
    out.ok();
    assert!(!out.stdout.is_empty());
    assert!(!env.config.exists(), "no command above writes the config");
}

/// Subcommands whose `--help` has no "Examples" section yet. The test fails
/// when one of them gets examples, so that this list only shrinks.
const KNOWN_WITHOUT_EXAMPLES: [&str; 0] = [];

pub fn every_subcommand_help_has_examples() {
    use clap::CommandFactory;
    let env = Env::new();
    let root = deskrun::cli::Cli::command();
    let mut paths: Vec<Vec<String>> = vec![];
    for sub in root.get_subcommands() {
        paths.push(vec![sub.get_name().to_string()]);
        for nested in sub.get_subcommands() {
            paths.push(vec![
                sub.get_name().to_string(),
                nested.get_name().to_string(),
            ]);
        }
    }
    assert!(paths.len() >= 10, "{paths:?}");
    let mut missing = vec![];
    for path in &paths {
        let out = Out::of(env.cmd().args(path).arg("--help").output().unwrap());
        out.ok();
        let name = path.join(" ");
        if !out.stdout.contains("Examples") {
            missing.push(name.clone());
        }
        assert!(
            out.stdout.contains("Usage: deskrun"),
            "{name} --help:\n{out}"
        );
    }
    for name in &missing {
        assert!(
            KNOWN_WITHOUT_EXAMPLES.contains(&name.as_str()),
            "`deskrun {name} --help` has no Examples section"
        );
    }
    for name in KNOWN_WITHOUT_EXAMPLES {
        assert!(
            missing.iter().any(|m| m == name),
            "`deskrun {name} --help` has Examples now: remove it from KNOWN_WITHOUT_EXAMPLES"
        );
    }
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

pub fn bad_input_exits_2_names_the_field_and_leaves_the_config() {
    let env = Env::new();
    env.add("ci", &["--instances", "2"]);
    let before = env.bytes();
    let long = "a".repeat(46);
    let pem = env.dir.path().join("key.pem");
    fs::write(&pem, PEM).unwrap();
    let pem = pem.to_str().unwrap();
    let missing = env.dir.path().join("no-such-file");
    let missing = missing.to_str().unwrap();

    // (name, extra args, credential args, what stderr must name)
    let tok = ["--auth-value", "fake-token-for-tests-0002"];
    let cases: Vec<(&str, Vec<&str>, Vec<&str>, &str)> = vec![
        ("Bad_Name", vec![], tok.to_vec(), "installation name"),
        ("controller", vec![], tok.to_vec(), "installation name"),
        (&long, vec![], tok.to_vec(), "installation name"),
        ("ci", vec![], tok.to_vec(), "already exists"),
        ("ci-2", vec![], tok.to_vec(), "\"ci-2\""),
        (
            "x",
            vec!["--repository", "github.com/owner/repo"],
            tok.to_vec(),
            "--repository",
        ),
        (
            "x",
            vec!["--repository", "https://github.com/owner/repo/tree/main"],
            tok.to_vec(),
            "--repository",
        ),
        (
            "x",
            vec!["--repository", "https://user:pw@github.com/owner/repo"],
            tok.to_vec(),
            "--repository",
        ),
        (
            "x",
            vec!["--cache", "relative/path"],
            tok.to_vec(),
            "--cache",
        ),
        ("x", vec!["--cache", "/a:/b:/c"], tok.to_vec(), "--cache"),
        ("x", vec!["--cache", ""], tok.to_vec(), "--cache"),
        (
            "x",
            vec!["--cache", "/nix/store"],
            tok.to_vec(),
            "cache path",
        ),
        ("x", vec!["--cache", "/proc/x"], tok.to_vec(), "cache path"),
        (
            "x",
            vec!["--mode", "dind", "--cache", "/home/runner/_work"],
            tok.to_vec(),
            "cache path",
        ),
        (
            "x",
            vec!["--cache", "/a", "--cache", "/a/"],
            tok.to_vec(),
            "cache path",
        ),
        (
            "x",
            vec!["--min-runners", "9", "--max-runners", "5"],
            tok.to_vec(),
            "--min-runners",
        ),
        (
            "x",
            vec!["--max-runners", "0"],
            tok.to_vec(),
            "--max-runners",
        ),
        (
            "x",
            vec!["--max-runners", "lots"],
            tok.to_vec(),
            "--max-runners",
        ),
        ("x", vec!["--instances", "21"], tok.to_vec(), "--instances"),
        (
            "x",
            vec!["--instances", "3", "--min-runners", "2"],
            tok.to_vec(),
            "--min-runners",
        ),
        ("x", vec!["--mode", "turbo"], tok.to_vec(), "--mode"),
        (
            "x",
            vec!["--auth-type", "oauth"],
            tok.to_vec(),
            "--auth-type",
        ),
        (
            "x",
            vec![],
            vec!["--auth-value", "two words"],
            "--auth-value",
        ),
        ("x", vec![], vec![], "--auth-value-stdin"),
        ("x", vec![], vec!["--auth-value-stdin"], "credential"),
        (
            "x",
            vec![],
            vec!["--auth-value-file", missing],
            "--auth-value-file",
        ),
        ("x", vec!["--app-id", "1"], tok.to_vec(), "--app-id"),
        (
            "x",
            vec!["--auth-type", "github-app"],
            vec!["--auth-value-file", pem],
            "--app-id",
        ),
        (
            "x",
            vec![
                "--auth-type",
                "github-app",
                "--app-id",
                "1",
                "--installation-id",
                "2",
            ],
            tok.to_vec(),
            "--auth-value",
        ),
        (
            "x",
            vec![
                "--auth-type",
                "github-app",
                "--app-id",
                "1",
                "--installation-id",
                "two",
            ],
            vec!["--auth-value-file", pem],
            "--installation-id",
        ),
    ];
    for (name, extra, cred, field) in &cases {
        let mut args = vec!["add", *name];
        if !extra.contains(&"--repository") {
            args.extend(["--repository", REPO]);
        }
        args.extend(extra.iter().copied());
        args.extend(cred.iter().copied());
        let out = env.run(&args);
        let shown = args.join(" ");
        assert_eq!(out.code, 2, "deskrun {shown}\n{out}");
        assert!(
            out.stderr.contains(field),
            "deskrun {shown}: stderr does not name {field:?}\n{out}"
        );
        assert!(out.stdout.is_empty(), "deskrun {shown}\n{out}");
        assert!(
            !out.stderr.contains("fake-token-for-tests-0002"),
            "deskrun {shown} printed the token\n{out}"
        );
        assert_eq!(env.bytes(), before, "deskrun {shown} changed the config");
    }
    assert!(cases.len() >= 15);
}

// ---------------------------------------------------------------------------
// Bad config files
// ---------------------------------------------------------------------------

/// Every config command on a bad file: exit 2, the message names the file and
/// contains `needle`, and the file is left as it was.
fn refused_everywhere(env: &Env, needle: &str) {
    let before = env.bytes();
    let path = env.config.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["list"],
        &["render"],
        &["remove", "ci"],
        &[
            "add",
            "x",
            "--repository",
            REPO,
            "--auth-value",
            "fake-token-for-tests-0002",
        ],
        &["list", "--output", "json"],
    ];
    for args in commands {
        let out = env.run(args);
        let shown = args.join(" ");
        assert_eq!(out.code, 2, "deskrun {shown}\n{out}");
        assert!(out.stderr.contains(path), "deskrun {shown}: no path\n{out}");
        assert!(
            out.stderr.contains(needle),
            "deskrun {shown}: no {needle:?}\n{out}"
        );
        assert_eq!(env.bytes(), before, "deskrun {shown} changed the file");
    }
}

pub fn a_corrupt_config_is_reported_and_never_overwritten() {
    let env = Env::new();
    fs::create_dir_all(env.config.parent().unwrap()).unwrap();
    fs::write(&env.config, "version: 1\ninstallations: [unclosed\n").unwrap();
    refused_everywhere(&env, "not valid YAML");

    // Valid YAML, but a key deskrun does not know.
    fs::remove_file(&env.config).unwrap();
    env.add("ci", &[]);
    let text = env
        .text()
        .replace("mode: kubernetes", "mode: kubernetes\n    colour: red");
    fs::write(&env.config, text).unwrap();
    refused_everywhere(&env, "colour");

    // A chart without its version: the message says which `version`.
    fs::write(
        &env.config,
        "version: 1\ncluster:\n  controller_chart:\n    source: /charts/controller\n",
    )
    .unwrap();
    refused_everywhere(&env, "cluster.controller_chart: missing field `version`");
}

pub fn a_config_from_a_newer_deskrun_is_refused() {
    let env = Env::new();
    env.add("ci", &[]);
    let text = env.text().replace("version: 1\n", "version: 2\n");
    fs::write(&env.config, text).unwrap();
    refused_everywhere(&env, "newer deskrun");
}

pub fn a_config_path_that_is_a_directory_is_refused() {
    let env = Env::new();
    fs::create_dir_all(&env.config).unwrap();
    let out = env.run(&["list"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(env.config.to_str().unwrap()), "{out}");
}

pub fn a_symlinked_config_is_written_through() {
    // Dotfiles managers link the config: `add` must keep the link.
    let env = Env::new();
    let real = env.dir.path().join("dotfiles/deskrun.yaml");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::create_dir_all(env.config.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, &env.config).unwrap();
    // A dangling link: the first write creates the target.
    env.add("one", &[]);
    env.add("two", &[]);
    assert!(
        fs::symlink_metadata(&env.config)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    let text = fs::read_to_string(&real).unwrap();
    assert!(text.contains("one:") && text.contains("two:"), "{text}");
    assert_eq!(mode_of(&real), 0o600);
    env.run(&["remove", "one"]).ok();
    assert!(
        fs::symlink_metadata(&env.config)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!fs::read_to_string(&real).unwrap().contains("one:"));
}

pub fn labels_and_env_are_stored_listed_and_kept_by_replace() {
    let env = Env::new();
    let out = env.add(
        "gpu-box",
        &[
            "--label",
            "gpu",
            "--label",
            "linux",
            "--env",
            "NPM_CONFIG_REGISTRY=https://npm.example.com",
            "--env",
            "EMPTY=",
        ],
    );
    assert!(out.stdout.contains("runs-on: gpu-box\n"), "{out}");
    assert!(out.stdout.contains("runs-on: [gpu, linux]"), "{out}");
    assert!(out.stdout.contains("one of: gpu-box, gpu, linux;"), "{out}");
    let text = env.text();
    assert!(
        text.contains("labels:") && text.contains("NPM_CONFIG_REGISTRY"),
        "{text}"
    );

    let out = env.run(&["list"]);
    out.ok();
    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let col = header
        .iter()
        .position(|h| *h == "LABELS")
        .expect("LABELS column");
    assert_eq!(row[col], "gpu,linux", "{out}");

    let out = env.run(&["list", "--output", "json"]);
    out.ok();
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    let i = &doc["installations"][0];
    assert_eq!(i["labels"], serde_json::json!(["gpu", "linux"]));
    assert_eq!(
        i["env"],
        serde_json::json!({"NPM_CONFIG_REGISTRY": "https://npm.example.com", "EMPTY": ""})
    );

    // --replace without --label/--env keeps them; with them, replaces them.
    env.add("gpu-box", &["--mode", "dind", "--replace"]);
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert_eq!(config.installations["gpu-box"].labels, ["gpu", "linux"]);
    assert_eq!(config.installations["gpu-box"].env.len(), 2);
    // A given label list replaces the list; a given variable replaces only
    // that variable.
    env.add(
        "gpu-box",
        &["--replace", "--label", "cuda", "--env", "EMPTY=now-set"],
    );
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert_eq!(config.installations["gpu-box"].labels, ["cuda"]);
    assert_eq!(
        config.installations["gpu-box"].env,
        [
            ("EMPTY".to_string(), "now-set".to_string()),
            (
                "NPM_CONFIG_REGISTRY".to_string(),
                "https://npm.example.com".to_string()
            )
        ]
        .into()
    );
}

/// Bad labels, env, images and quantities: `add` names the flag, the config
/// file the key, and neither changes the file.
pub fn bad_values_name_the_flag_or_the_key() {
    let env = Env::new();
    env.add("ok", &[]);
    let before = env.bytes();
    for (args, needle) in [
        (
            vec!["--label", ""],
            "invalid --label: a label cannot be empty",
        ),
        (vec!["--label", "a,b"], "invalid --label \"a,b\""),
        (vec!["--label", "x", "--label", "X"], "without case"),
        (vec!["--label", "new"], "scale set's name"),
        (vec!["--env", "NOEQUALS"], "KEY=VALUE"),
        (vec!["--env", "1A=x"], "invalid --env name \"1A\""),
        (vec!["--env", "A=1", "--env", "A=2"], "given twice"),
        (
            vec!["--env", "DOCKER_HOST=tcp://x"],
            "sets it on the runner",
        ),
        (
            vec!["--dind-image", "docker:dind"],
            "invalid --dind-image for --mode kubernetes: only dind mode runs a dind sidecar",
        ),
        (
            vec!["--runner-image", "Ghcr.io/X"],
            "invalid --runner-image",
        ),
        (
            vec!["--request", "runner.cpu=lots"],
            "invalid --request runner.cpu \"lots\"",
        ),
        (
            vec!["--limit", "job.memory=8GB"],
            "invalid --limit job.memory \"8GB\": unknown suffix",
        ),
        (
            vec!["--request", "dind.cpu=1"],
            "only dind mode has a dind sidecar",
        ),
        (
            vec!["--request", "job.memory=2Gi", "--limit", "job.memory=1Gi"],
            "at most its limit",
        ),
    ] {
        let out = Out::of(
            env.cmd()
                .args(["add", "new", "--repository", REPO, "--auth-value-stdin"])
                .args(&args)
                .write_stdin(TOKEN)
                .output()
                .unwrap(),
        );
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert!(out.stderr.contains(needle), "{args:?}: {out}");
        assert_eq!(env.bytes(), before);
    }
    // In the config file, the same mistakes are named by their key.
    let file = |setting: &str| {
        format!(
            "version: 1\ninstallations:\n  a:\n    repository: {REPO}\n    mode: kubernetes\n    \
             min_runners: 1\n    max_runners: 5\n    {setting}\n    auth: {{type: pat, token: {TOKEN}}}\n"
        )
    };
    for (setting, needle) in [
        ("labels: [ok, 'x,y']", "invalid labels[1] \"x,y\""),
        ("env: {bad-name: x}", "invalid env name \"bad-name\""),
        (
            "resources: {job: {limits: {memory: 4GB}}}",
            "invalid resources.job.limits.memory \"4GB\"",
        ),
        ("resources: {pod: {limits: {memory: 4Gi}}}", "pod"),
    ] {
        fs::write(&env.config, file(setting)).unwrap();
        let out = env.run(&["list"]);
        assert_eq!(out.code, 2, "{setting}: {out}");
        assert!(out.stderr.contains(needle), "{setting}: {out}");
    }
    // Unquoted numbers are quantities.
    fs::write(
        &env.config,
        file("resources: {job: {requests: {cpu: 1.5, memory: 4Gi}}}"),
    )
    .unwrap();
    env.run(&["list"]).ok();
}

/// `logs`, `jobs` and `status --watch` refuse bad input before any tool
/// runs: exit 2, with what to do.
pub fn logs_jobs_and_watch_refuse_bad_input_without_a_cluster() {
    let env = Env::new();
    env.add("ci", &["--instances", "3"]);
    let out = env.run(&["status", "--watch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("--watch redraws the screen and needs a terminal"),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
    let out = env.run(&["status", "--watch", "--output", "json"]);
    assert_eq!(out.code, 2, "{out}");
    let out = env.run(&["logs", "ci", "--instance", "4"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("ci has 3 instance(s), 1 to 3"), "{out}");
    let out = env.run(&["logs", "ci", "--dind"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no dind sidecar"), "{out}");
    let out = env.run(&["logs", "ci", "--since", "yesterday"]);
    assert_eq!(out.code, 2, "{out}");
    let out = env.run(&["logs", "ci", "--runner", "--job"]);
    assert_eq!(out.code, 2, "{out}");
    let out = env.run(&["logs"]);
    assert_eq!(out.code, 2, "{out}");
    let out = env.run(&["jobs", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("deskrun list"), "{out}");
}

// ---------------------------------------------------------------------------
// Settings and inputs from real clusters and real users (issue 10)
// ---------------------------------------------------------------------------

pub fn job_container_and_glibc_compat_are_stored_listed_and_refused_in_dind() {
    let env = Env::new();
    env.add("nix", &["--job-container", "optional", "--glibc-compat"]);
    env.add(
        "strict",
        &[
            "--mode",
            "cached-privileged-kubernetes",
            "--job-container",
            "required",
        ],
    );
    let text = env.text();
    assert!(text.contains("job_container: optional"), "{text}");
    assert!(text.contains("job_container: required"), "{text}");
    assert!(text.contains("glibc_compat: true"), "{text}");
    let out = env.run(&["list"]);
    out.ok();
    let row = |name: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("nix")[4], "optional+glibc-compat", "{out}");
    assert_eq!(row("strict")[4], "required", "{out}");
    let json: Json = serde_json::from_str(&env.run(&["list", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["installations"][0]["glibc_compat"], true);
    assert_eq!(json["installations"][0]["job_container"], "optional");

    // dind: refused, the config left byte for byte.
    let before = env.bytes();
    for flags in [
        &["--job-container", "optional"][..],
        &["--glibc-compat"][..],
    ] {
        let out = Out::of(
            env.cmd()
                .args([
                    "add",
                    "d",
                    "--repository",
                    REPO,
                    "--mode",
                    "dind",
                    "--auth-value-stdin",
                ])
                .args(flags)
                .write_stdin(TOKEN)
                .output()
                .unwrap(),
        );
        assert_eq!(out.code, 2, "{out}");
        assert!(
            out.stderr.contains("dind") && out.stderr.contains(flags[0]),
            "{out}"
        );
        assert_eq!(env.bytes(), before);
    }
    // An unknown rule is a usage error naming the valid ones.
    let out = Out::of(
        env.cmd()
            .args([
                "add",
                "x",
                "--repository",
                REPO,
                "--job-container",
                "sometimes",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("required") && out.stderr.contains("optional"),
        "{out}"
    );
}

pub fn the_help_of_glibc_compat_warns_about_images_with_their_own_glibc() {
    let env = Env::new();
    let out = Out::of(env.cmd().args(["add", "--help"]).output().unwrap());
    out.ok();
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("--glibc-compat"), "{help}");
    assert!(
        help.contains("Breaks job images that have their own glibc"),
        "{help}"
    );
    assert!(help.contains("--job-container"), "{help}");
}

pub fn values_starting_with_a_dash_are_values() {
    let env = Env::new();
    // A GitHub App key given inline: `--auth-value "$(cat key.pem)"`.
    let out = env.run(&[
        "add",
        "app",
        "--repository",
        "https://github.com/my-org",
        "--auth-type",
        "github-app",
        "--app-id",
        "123456",
        "--installation-id",
        "7654321",
        "--auth-value",
        PEM.trim_end(),
    ]);
    out.ok();
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    match &config.installations["app"].auth {
        deskrun::model::Auth::GithubApp { private_key, .. } => {
            assert_eq!(private_key, PEM.trim_end())
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.all().contains("FAKE-KEY"), "{out}");

    // Paths that start with '-' (relative to the working directory).
    fs::write(env.dir.path().join("-token"), TOKEN).unwrap();
    let out = Out::of(
        env.cmd()
            .current_dir(env.dir.path())
            .args([
                "add",
                "dash",
                "--repository",
                REPO,
                "--auth-value-file",
                "-token",
            ])
            .output()
            .unwrap(),
    );
    out.ok();
    let out = Out::of(
        env.cmd()
            .current_dir(env.dir.path())
            .args(["render", "--output-dir", "-rendered"])
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(
        env.dir.path().join("-rendered/dash/values.yaml").exists(),
        "{out}"
    );
    let out = Out::of(
        env.bare()
            .current_dir(env.dir.path())
            .args(["--config", "-other.yaml", "list"])
            .output()
            .unwrap(),
    );
    out.ok();
    // A cache value starting with '-' reaches deskrun's own check (a relative
    // path), not clap's "unexpected argument".
    let out = Out::of(
        env.cmd()
            .args([
                "add",
                "c",
                "--repository",
                REPO,
                "--auth-value-stdin",
                "--cache",
                "-x",
            ])
            .write_stdin(TOKEN)
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("absolute"), "{out}");
}

pub fn instances_with_runner_counts_of_one_are_accepted() {
    let env = Env::new();
    env.add("ci", &["--instances", "3", "--max-runners", "1"]);
    env.add(
        "ci2",
        &[
            "--instances",
            "2",
            "--min-runners",
            "1",
            "--max-runners",
            "1",
        ],
    );
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    for name in ["ci", "ci2"] {
        let i = &config.installations[name];
        assert_eq!((i.min_runners, i.max_runners), (1, 1), "{name}");
    }
    for (flag, n) in [("--max-runners", "2"), ("--min-runners", "0")] {
        let out = Out::of(
            env.cmd()
                .args([
                    "add",
                    "x",
                    "--repository",
                    REPO,
                    "--auth-value-stdin",
                    "--instances",
                    "3",
                    flag,
                    n,
                ])
                .write_stdin(TOKEN)
                .output()
                .unwrap(),
        );
        assert_eq!(out.code, 2, "{out}");
        assert!(
            out.stderr.contains(flag) && out.stderr.contains("exactly one runner"),
            "{out}"
        );
    }
}

pub fn images_and_resources_are_stored_listed_and_merged_by_replace() {
    let env = Env::new();
    let out = env.add(
        "d",
        &[
            "--mode",
            "dind",
            "--runner-image",
            "ghcr.io/actions/actions-runner:2.321.0",
            "--dind-image",
            "docker:27-dind",
            "--request",
            "dind.cpu=1",
            "--limit",
            "dind.memory=6Gi",
            "--request",
            "runner.memory=512Mi",
        ],
    );
    // A pinned runner image is the user's to keep current.
    assert!(out.stderr.contains("pinned"), "{out}");
    let out = env.run(&["list", "--output", "json"]);
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    let i = &doc["installations"][0];
    assert_eq!(i["runner_image"], "ghcr.io/actions/actions-runner:2.321.0");
    assert_eq!(i["dind_image"], "docker:27-dind");
    assert_eq!(
        i["resources"],
        serde_json::json!({
            "runner": {"requests": {"memory": "512Mi"}},
            "dind": {"requests": {"cpu": "1"}, "limits": {"memory": "6Gi"}}
        })
    );

    // --replace: a given quantity replaces that one; the rest is kept.
    env.add(
        "d",
        &["--mode", "dind", "--replace", "--limit", "dind.memory=8Gi"],
    );
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    let d = &config.installations["d"];
    assert_eq!(d.resources.dind.limits["memory"].0, "8Gi");
    assert_eq!(d.resources.dind.requests["cpu"].0, "1");
    assert_eq!(d.dind_image.as_deref(), Some("docker:27-dind"));
    assert_eq!(
        d.runner_image.as_deref(),
        Some("ghcr.io/actions/actions-runner:2.321.0")
    );
    // Changing the mode drops what only dind has.
    env.add("d", &["--replace", "--request", "job.cpu=2"]);
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    let d = &config.installations["d"];
    assert!(
        d.dind_image.is_none() && d.resources.dind.is_empty(),
        "{d:?}"
    );
    assert_eq!(d.resources.job.requests["cpu"].0, "2");
    assert_eq!(d.resources.runner.requests["memory"].0, "512Mi");
    let out = env.run(&["list", "--output", "json"]);
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["installations"][0]["dind_image"], Json::Null);
    assert_eq!(
        doc["installations"][0]["runner_image"],
        "ghcr.io/actions/actions-runner:2.321.0"
    );
}

pub fn a_cache_host_path_that_is_not_a_directory_is_refused_by_add_and_up() {
    let env = Env::new();
    let sock = env.dir.path().join("docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let spec = format!("{}:/var/run/docker.sock", sock.display());
    let out = Out::of(
        env.cmd()
            .args([
                "add",
                "s",
                "--repository",
                REPO,
                "--auth-value-stdin",
                "--cache",
                &spec,
            ])
            .write_stdin(TOKEN)
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("a socket"), "{out}");
    assert!(out.stderr.contains("a cache is a directory"), "{out}");
    assert!(!env.config.exists(), "nothing was written");

    // The same in a config edited by hand: `up` refuses it before running
    // any tool (PATH has none: reaching the tool check would be exit 1).
    env.add("s", &["--cache", "/srv/ci/npm:/root/.npm"]);
    let text = env
        .text()
        .replace("/srv/ci/npm", &sock.display().to_string());
    fs::write(&env.config, text).unwrap();
    let empty = env.dir.path().join("no-tools");
    fs::create_dir_all(&empty).unwrap();
    let out = Out::of(env.cmd().env("PATH", &empty).arg("up").output().unwrap());
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("a socket") && out.stderr.contains("a cache is a directory"),
        "{out}"
    );
}

pub fn up_warns_once_when_caches_would_live_in_ram() {
    if stat_is_tmpfs("/dev/shm").is_none() {
        println!("skipped: /dev/shm is not tmpfs here");
        return;
    }
    let env = Env::new();
    env.add("a", &["--cache", "/var/lib/docker"]);
    env.add("b", &["--cache", "/root/.cache", "--instances", "2"]);
    let root = format!("/dev/shm/deskrun-test-{}/cache", std::process::id());
    set_cache_root(&env, &root);
    let empty = env.dir.path().join("no-tools");
    fs::create_dir_all(&empty).unwrap();
    let out = Out::of(env.cmd().env("PATH", &empty).arg("up").output().unwrap());
    // The tools are missing, so up stops there (exit 1), after the warning.
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(out.stderr.matches("warning:").count(), 1, "{out}");
    assert!(out.stderr.contains("is on tmpfs"), "{out}");
    assert!(out.stderr.contains("cluster.cache_root"), "{out}");
    assert!(!Path::new(&root).exists(), "up created nothing");

    // On disk: no warning.
    let env = Env::new();
    env.add("a", &["--cache", "/var/lib/docker"]);
    let root = env.dir.path().join("cache");
    if stat_is_tmpfs(root.parent().unwrap().to_str().unwrap()).is_none() {
        set_cache_root(&env, root.to_str().unwrap());
        let out = Out::of(env.cmd().env("PATH", &empty).arg("up").output().unwrap());
        assert!(!out.stderr.contains("warning:"), "{out}");
    }
}

fn set_cache_root(env: &Env, root: &str) {
    deskrun::config::Store::new(&env.config)
        .update(|c| {
            c.cluster.cache_root = root.to_string();
            Ok(())
        })
        .unwrap();
}

/// `Some(())` when `path` is on tmpfs (`stat -f`).
fn stat_is_tmpfs(path: &str) -> Option<()> {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", path])
        .output()
        .ok()?;
    (String::from_utf8_lossy(&out.stdout).trim() == "tmpfs").then_some(())
}

pub fn config_import_brings_the_go_deskruns_installations_over() {
    let env = Env::new();
    // The Go deskrun's file in $HOME, and no config of deskrun's own.
    let go_dir = env.dir.path().join(".deskrun");
    fs::create_dir_all(&go_dir).unwrap();
    fs::write(
        go_dir.join("config.json"),
        format!(
            r#"{{"cluster_name": "deskrun", "installations": {{
              "docker-runner": {{"Name": "docker-runner", "Repository": "{REPO}",
                "ContainerMode": "cached-privileged-kubernetes", "MinRunners": 1, "MaxRunners": 1,
                "Instances": 1, "CachePaths": [{{"MountPath": "/var/lib/docker", "HostPath": ""}}],
                "AuthType": "pat", "AuthValue": "{TOKEN}"}},
              "app": {{"Name": "app", "Repository": "https://github.com/my-org", "ContainerMode": "dind",
                "MinRunners": 0, "MaxRunners": 2, "Instances": 1, "AuthType": "github-app",
                "AuthValue": {pem:?}}}
            }}}}"#,
            pem = PEM
        ),
    )
    .unwrap();
    // list and up point at it, on stderr, once.
    let out = env.run(&["list"]);
    out.ok();
    assert_eq!(
        out.stderr.matches("deskrun config import").count(),
        1,
        "{out}"
    );
    let empty = env.dir.path().join("no-tools");
    fs::create_dir_all(&empty).unwrap();
    let out = Out::of(env.cmd().env("PATH", &empty).arg("up").output().unwrap());
    assert!(out.stderr.contains("deskrun config import"), "{out}");
    assert!(!env.config.exists(), "up wrote no config");

    let out = env.run(&["config", "import"]);
    out.ok();
    assert!(
        out.stdout
            .contains("imported docker-runner (cached-privileged-kubernetes"),
        "{out}"
    );
    assert!(
        out.stdout.contains("refused app:") && out.stdout.contains("--app-id"),
        "{out}"
    );
    assert!(out.stdout.contains("1 imported, 1 refused"), "{out}");
    assert!(
        !out.all().contains(TOKEN) && !out.all().contains("FAKE-KEY"),
        "{out}"
    );
    assert_eq!(mode_of(&env.config), 0o600);
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert_eq!(
        config.installations["docker-runner"].auth,
        deskrun::model::Auth::Pat {
            token: TOKEN.into()
        }
    );
    // With a config of its own, no more hint.
    let out = env.run(&["list"]);
    assert!(!out.stderr.contains("config import"), "{out}");

    // Again: the name exists; nothing imported is an input error, the file untouched.
    let before = env.bytes();
    let out = env.run(&["config", "import"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stdout.contains("--replace"), "{out}");
    assert_eq!(env.bytes(), before);
    env.run(&["config", "import", "--replace"]).ok();

    // A file that is not the Go format.
    let bad = env.dir.path().join("-not-go.json");
    fs::write(&bad, "version: 1\n").unwrap();
    let out = Out::of(
        env.cmd()
            .current_dir(env.dir.path())
            .args(["config", "import", "-not-go.json"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("not a Go deskrun config"), "{out}");
}

pub fn replace_keeps_the_job_settings_unless_given_or_the_mode_drops_them() {
    let env = Env::new();
    env.add("nix", &["--job-container", "optional", "--glibc-compat"]);
    let load = || deskrun::config::Store::new(&env.config).load().unwrap();
    // A new token only: the job settings stay.
    env.add("nix", &["--replace"]);
    let i = &load().installations["nix"];
    assert_eq!(
        i.job_container,
        Some(deskrun::model::JobContainer::Optional)
    );
    assert!(i.glibc_compat);
    // Turned off explicitly.
    env.add(
        "nix",
        &[
            "--replace",
            "--glibc-compat=false",
            "--job-container",
            "required",
        ],
    );
    let i = &load().installations["nix"];
    assert_eq!(
        i.job_container,
        Some(deskrun::model::JobContainer::Required)
    );
    assert!(!i.glibc_compat);
    // dind has neither: a switch to it drops them instead of failing.
    env.add("nix", &["--replace", "--glibc-compat"]);
    env.add("nix", &["--replace", "--mode", "dind"]);
    let i = &load().installations["nix"];
    assert_eq!((i.job_container, i.glibc_compat), (None, false));
}

pub fn set_proxy_keeps_credentials_out_of_argv_and_output() {
    let env = Env::new();
    // The shell's proxy is offered, never copied.
    let out = Out::of(
        env.cmd()
            .env("HTTPS_PROXY", "http://u:env-secret-1@proxy.corp:8080")
            .args(["add", "r", "--repository", REPO, "--auth-value-stdin"])
            .write_stdin(TOKEN)
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(
        out.stderr.contains("deskrun config set-proxy --from-env"),
        "{out}"
    );
    assert!(out.stderr.contains("http://proxy.corp:8080"), "{out}");
    assert!(!out.all().contains("env-secret-1"), "{out}");
    assert!(!env.text().contains("proxy"), "no silent copy");

    // Credentials in argv are refused, without echoing them.
    let before = env.bytes();
    let out = env.run(&[
        "config",
        "set-proxy",
        "--https",
        "http://me:argv-secret@proxy:3128",
    ]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--credentials-stdin"), "{out}");
    assert!(!out.all().contains("argv-secret"), "{out}");
    assert_eq!(env.bytes(), before);

    // On stdin they are stored (0600 file) and shown nowhere.
    let out = Out::of(
        env.cmd()
            .args([
                "config",
                "set-proxy",
                "--https",
                "http://proxy.example.com:3128",
                "--no-proxy",
                ".corp.example.com,localhost",
                "--credentials-stdin",
            ])
            .write_stdin("me:stdin-secret-2\n")
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(
        out.stdout.contains(
            "https http://proxy.example.com:3128 (credentials in the Secret deskrun-proxy-https)"
        ),
        "{out}"
    );
    assert!(!out.all().contains("stdin-secret-2"), "{out}");
    assert!(env.text().contains("stdin-secret-2"), "{}", env.text());
    assert_eq!(mode_of(&env.config), 0o600);
    let out = env.run(&["list", "--output", "json"]);
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        doc["proxy"],
        serde_json::json!({
            "http": null,
            "https": "http://proxy.example.com:3128",
            "no_proxy": [".corp.example.com", "localhost"],
            "credentials": true
        })
    );
    let out = env.run(&["list"]);
    assert!(
        out.stderr
            .contains("cluster proxy: https http://proxy.example.com:3128"),
        "{out}"
    );
    for args in [
        &["list"][..],
        &["list", "-o", "yaml"],
        &["render"],
        &["-v", "render"],
    ] {
        let out = env.run(args);
        out.ok();
        assert!(!out.all().contains("stdin-secret-2"), "{args:?}: {out}");
    }
    // With a proxy in the config, no more hint.
    let out = Out::of(
        env.cmd()
            .env("HTTPS_PROXY", "http://proxy.corp:8080")
            .args(["add", "r2", "--repository", REPO, "--auth-value-stdin"])
            .write_stdin(TOKEN)
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(!out.stderr.contains("set-proxy"), "{out}");

    // --from-env takes the shell's settings, credentials included.
    let out = Out::of(
        env.cmd()
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env("https_proxy", "http://u:env-secret-3@proxy.corp:8080")
            .env("NO_PROXY", "localhost,.corp")
            .args(["config", "set-proxy", "--from-env"])
            .output()
            .unwrap(),
    );
    out.ok();
    assert!(!out.all().contains("env-secret-3"), "{out}");
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    let p = config.cluster.proxy.unwrap();
    assert_eq!(
        p.https.as_deref(),
        Some("http://u:env-secret-3@proxy.corp:8080")
    );
    assert_eq!(p.no_proxy, ["localhost", ".corp"]);

    env.run(&["config", "set-proxy", "--clear"]).ok();
    let config = deskrun::config::Store::new(&env.config).load().unwrap();
    assert!(config.cluster.proxy.is_none());
    let out = env.run(&["config", "set-proxy", "--https", "ftp://proxy:21"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("invalid --https"), "{out}");
}

pub fn github_ca_file_is_stored_listed_kept_and_dropped() {
    let env = Env::new();
    let dir = env.dir.path();
    let ca = dir.join("corp-ca.pem");
    // As `openssl x509 -text` leaves it: text around the block.
    fs::write(
        &ca,
        format!(
            "subject=O = deskrun tests\n{}",
            include_str!("../fixtures/github-ca-1.pem")
        ),
    )
    .unwrap();
    let ca = ca.to_str().unwrap();
    let out = env.add("a", &["--github-ca-file", ca]);
    assert!(
        out.stderr
            .contains("trusts the CA CN=deskrun test GHES CA 1"),
        "{}",
        out.stderr
    );
    // github.com: a CA there is only for a TLS-inspecting proxy.
    assert!(out.stderr.contains("publicly trusted"), "{}", out.stderr);
    // Stored as the certificate alone.
    assert!(env.text().contains("github_ca: |"), "{}", env.text());
    assert!(!env.text().contains("subject="), "{}", env.text());

    let listed = |env: &Env| -> Json {
        let doc: Json =
            serde_json::from_str(&env.run(&["list", "--output", "json"]).stdout).unwrap();
        doc["installations"][0]["github_ca"].clone()
    };
    assert_eq!(
        listed(&env),
        serde_json::json!([{
            "subject": "CN=deskrun test GHES CA 1,O=deskrun tests",
            "not_after": "2056-11-22T09:42:53Z",
            "sha256": "9D:43:A5:97:63:35:E1:87:E7:6E:A1:47:E5:40:65:A3:2C:8B:70:3A:2D:30:DF:DC:2F:F4:AE:71:12:D5:6F:CD"
        }])
    );
    let table = env.run(&["list"]).stdout;
    assert!(table.contains(&format!("{REPO} (private CA)")), "{table}");

    // --replace without the flag keeps it; --no-github-ca drops it.
    env.add("a", &["--replace", "--min-runners", "0"]);
    assert_eq!(listed(&env).as_array().unwrap().len(), 1);
    env.add("a", &["--replace", "--no-github-ca"]);
    assert_eq!(listed(&env), serde_json::json!([]));
    assert!(!env.text().contains("github_ca"));

    // The two flags together are a usage error, and nothing changes.
    let before = env.bytes();
    let out = Out::of(
        env.cmd()
            .args([
                "add",
                "a",
                "--repository",
                REPO,
                "--replace",
                "--no-github-ca",
            ])
            .args(["--github-ca-file", ca, "--auth-value-stdin"])
            .write_stdin(format!("{TOKEN}\n"))
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--no-github-ca"), "{}", out.stderr);
    assert_eq!(env.bytes(), before);
}
