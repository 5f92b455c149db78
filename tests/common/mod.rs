//! Shared test fixtures, and a sandbox for driving the built `deskrun`
//! binary against the fake toolchain as child processes (the black-box test
//! binary run as kind, helm, kubectl and docker, first on PATH;
//! `deskrun::testing::process`), with its own config, cache root and state.
#![allow(dead_code)]

pub mod github;
pub mod installations;

use deskrun::testing::process::{Machine, STATE_ENV, StateDir};
use deskrun::testing::{Fault, World};
use std::path::{Path, PathBuf};

pub const TOKEN: &str = "fake-token-for-tests-0001";
/// An obviously fake GitHub App key. The armor is split so that secret
/// scanners (`git grep` for private key headers) do not flag it.
pub const PEM: &str = concat!(
    "-----BEGIN RSA ",
    "PRIVATE KEY-----\n",
    "FAKEKEYFORDESKRUNTESTSLINE1\n",
    "FAKEKEYFORDESKRUNTESTSLINE2\n",
    "-----END RSA ",
    "PRIVATE KEY-----\n",
);
/// A custom cache host path with a space and a `#`: YAML must quote it.
pub const CUSTOM_HOST: &str = "/srv/my cache #1";

pub fn pat() -> deskrun::model::Auth {
    deskrun::model::Auth::Pat {
        token: TOKEN.into(),
    }
}

pub fn app() -> deskrun::model::Auth {
    deskrun::model::Auth::GithubApp {
        app_id: "123456".into(),
        installation_id: "7654321".into(),
        private_key: PEM.into(),
    }
}

/// `/var/lib/docker` (a deskrun-managed host dir) and `CUSTOM_HOST:/root/.cache`.
pub fn caches() -> Vec<deskrun::model::Cache> {
    vec![
        deskrun::model::Cache {
            path: "/var/lib/docker".into(),
            host_path: None,
        },
        deskrun::model::Cache {
            path: "/root/.cache".into(),
            host_path: Some(CUSTOM_HOST.into()),
        },
    ]
}

/// `deskrun --config CONFIG render --output-dir OUT [--show-secrets]`, in
/// process: the command's own two library calls.
pub fn render_dir(config: &Path, out: &Path, show_secrets: bool) {
    let config = deskrun::config::Store::new(config)
        .load()
        .expect("load config");
    let files = deskrun::ops::render::render_files(&config, &[], show_secrets).expect("render");
    deskrun::ops::render::write_dir(out, &files).expect("write the rendered files");
}

/// A finished process's exit code and output, for assertion messages.
pub fn show(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` charts and tools, when this checkout has them.
pub fn shared_dir() -> Option<PathBuf> {
    let p = repo_root().join("../shared");
    p.join("tools/arc-render").exists().then_some(p)
}

/// The executable that plays the fake tools: the black-box test binary (or
/// the bench), whose `main` hands over to
/// [`deskrun::testing::process::run_as_tool`] when it is run as `kind`,
/// `helm`, `kubectl` or `docker`. Only such a binary may make a [`Sandbox`].
pub static FAKE_TOOL_HOST: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// `kind`, `helm`, `kubectl` and `docker` in `bin`: symlinks to the
/// [`FAKE_TOOL_HOST`].
pub fn install_fake_tools(bin: &Path) {
    let host = FAKE_TOOL_HOST
        .get()
        .expect("a Sandbox needs a binary whose main calls run_as_tool (tests/blackbox)");
    for tool in deskrun::testing::process::TOOLS {
        std::os::unix::fs::symlink(host, bin.join(tool)).unwrap();
    }
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub cache_root: PathBuf,
}

pub use deskrun::testing::process::CallRecord as Call;

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        install_fake_tools(&bin);
        let sb = Sandbox {
            config: dir.path().join("config/config.yaml"),
            cache_root: dir.path().join("cache"),
            bin,
            state,
            dir,
        };
        sb.write_config_header();
        sb
    }

    /// A config whose cache root lives in the sandbox.
    fn write_config_header(&self) {
        std::fs::create_dir_all(self.config.parent().unwrap()).unwrap();
        std::fs::write(
            &self.config,
            format!(
                "version: 1\ncluster:\n  cache_root: {}\n  registry_mirrors: []\n",
                self.cache_root.display()
            ),
        )
        .unwrap();
    }

    pub fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `deskrun` (the built binary) with the sandbox's PATH, config, state
    /// and cache dirs.
    pub fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_deskrun"));
        c.env("PATH", self.path_env())
            .env("DESKRUN_CONFIG", &self.config)
            .env(STATE_ENV, &self.state)
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg-cache"))
            .env("HOME", self.dir.path())
            // These tests are not about GitHub and never leave the machine;
            // tests/testsuite/github.rs and tests/blackbox/doctor_cli.rs turn the check
            // back on against a fake API on 127.0.0.1.
            .env("DESKRUN_SKIP_GITHUB_CHECK", "1")
            .env_remove("DESKRUN_GITHUB_API_URL")
            .env_remove("DESKRUN_CALL_TIMEOUT")
            .env_remove("DESKRUN_LOG")
            .env_remove("KUBECONFIG");
        c
    }

    /// [`Sandbox::command`] with assert_cmd's assertions.
    pub fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.command())
    }

    /// A fake tool run directly, with the environment deskrun gives it.
    pub fn tool(&self, name: &str, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(self.bin.join(name));
        c.args(args)
            .env(STATE_ENV, &self.state)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        c
    }

    /// `deskrun add NAME --repository ... ARGS` with the test token on stdin.
    pub fn add(&self, name: &str, args: &[&str]) {
        let mut c = self.cmd();
        c.args(["add", name, "--repository", "https://github.com/owner/repo"])
            .args(args)
            .arg("--auth-value-stdin")
            .write_stdin(format!("{TOKEN}\n"));
        c.assert().success();
    }

    /// `a` (kubernetes) and `b` (cached-privileged-kubernetes with a
    /// `/root/.cache` cache).
    pub fn add_two(&self) {
        self.add("a", &[]);
        self.add(
            "b",
            &[
                "--mode",
                "cached-privileged-kubernetes",
                "--cache",
                "/root/.cache",
            ],
        );
    }

    fn machine_dir(&self) -> StateDir {
        StateDir::new(&self.state)
    }

    /// Read or change what the fake tools share (world, faults, latency).
    pub fn machine<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> R {
        self.machine_dir().update(f)
    }

    /// A copy of the fake machine's world.
    pub fn world(&self) -> World {
        self.machine_dir().read().world
    }

    /// Replace the injected faults (their counters start again).
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.machine(|m| m.faults = faults);
    }

    pub fn clear_faults(&self) {
        self.set_faults(vec![]);
    }

    /// Calls whose line starts with `prefix` take `ms` milliseconds.
    pub fn latency(&self, prefix: &str, ms: u64) {
        self.machine(|m| {
            m.latency
                .insert(prefix.to_string(), std::time::Duration::from_millis(ms))
        });
    }

    pub fn calls(&self) -> Vec<Call> {
        self.machine_dir().calls()
    }

    /// Forget recorded calls (to count those of the next command only).
    pub fn reset_calls(&self) {
        self.machine_dir().clear_calls();
    }

    /// Release name -> status of its latest revision, over every cluster
    /// and namespace.
    pub fn release_statuses(&self) -> std::collections::BTreeMap<String, String> {
        self.world()
            .clusters
            .values()
            .flat_map(|c| c.releases.iter())
            .filter_map(|((_, name), history)| Some((name.clone(), history.last()?.status.clone())))
            .collect()
    }

    pub fn release_status(&self, name: &str) -> Option<String> {
        self.release_statuses().remove(name)
    }

    pub fn config_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.config).unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
