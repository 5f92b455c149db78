//! A sandbox for driving the built `deskrun` binary against the fake
//! toolchain (`tests/fake-tools/fake_tool.py` as kind, helm, kubectl and
//! docker, first on PATH), with its own config, cache root and state.
#![allow(dead_code)]

pub mod github;

use serde_json::{Value, json};
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

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` charts and tools, when this checkout has them.
pub fn shared_dir() -> Option<PathBuf> {
    let p = repo_root().join("../shared");
    p.join("tools/arc-render").exists().then_some(p)
}

/// The real python interpreter (`python3` on PATH may be a slow shim script).
fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed for the fake toolchain");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

/// `kind`, `helm`, `kubectl` and `docker` in `bin`: tiny scripts run by the
/// real interpreter that import the fake as a module, so python caches its
/// bytecode instead of compiling the whole fake on every call.
pub fn install_fake_tools(bin: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo_root().join("tests/fake-tools");
    for tool in ["kind", "helm", "kubectl", "docker"] {
        let path = bin.join(tool);
        let script = format!(
            "#!{}\nimport sys\nsys.dont_write_bytecode = False\nsys.path.insert(0, {:?})\nimport fake_tool\ncode = fake_tool.main()\ntry:\n    sys.stdout.flush()\nexcept BrokenPipeError:\n    pass\nsys.exit(code)\n",
            python(),
            dir.display().to_string()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub cache_root: PathBuf,
}

/// One recorded tool call.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: String,
    pub argv: Vec<String>,
    pub stdin: Option<String>,
    pub env: Value,
    /// Seconds since the epoch when the fake started it.
    pub start: f64,
}

impl Call {
    pub fn line(&self) -> String {
        format!("{} {}", self.tool, self.argv.join(" "))
    }

    /// The tool's subcommand: its first word that is not a flag or a flag's
    /// value (`kubectl --context X apply` -> `apply`).
    pub fn subcommand(&self) -> &str {
        let mut skip = false;
        for a in &self.argv {
            if skip {
                skip = false;
                continue;
            }
            if a == "--context" || a == "--kube-context" || a == "--namespace" {
                skip = true;
                continue;
            }
            if !a.starts_with('-') {
                return a;
            }
        }
        ""
    }

    /// Whether the call changes cluster state.
    pub fn mutates(&self) -> bool {
        let sub = self.subcommand();
        match self.tool.as_str() {
            "kind" => matches!(sub, "create" | "delete"),
            "helm" => matches!(sub, "upgrade" | "install" | "uninstall" | "rollback"),
            "kubectl" => matches!(sub, "apply" | "delete" | "create" | "patch" | "replace"),
            _ => false,
        }
    }
}

/// The calls the fake recorded in `state/calls.jsonl`, in order.
pub fn read_calls(state: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(state.join("calls.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("tool").is_some())
        .map(|v| Call {
            tool: v["tool"].as_str().unwrap_or_default().to_string(),
            argv: v["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            stdin: v["stdin"].as_str().map(String::from),
            env: v["env"].clone(),
            start: v["start"].as_f64().unwrap_or(0.0),
        })
        .collect()
}

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

    /// Make the fake helm render every install through the real chart
    /// (`../shared/tools/arc-render`, ~1 s a call) when `../shared` exists.
    pub fn with_real_chart(self) -> Self {
        match shared_dir() {
            Some(shared) => self.set_fake_config(json!({
                "arc_render": shared.join("tools/arc-render"),
                "charts_dir": shared.join("fixtures/arc-charts/0.14.2"),
            })),
            None => eprintln!(
                "note: ../shared absent; the fake helm checks values without the real chart"
            ),
        }
        self
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

    /// `deskrun` with the sandbox's PATH, config, state and cache dirs.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("deskrun").unwrap();
        c.env("PATH", self.path_env())
            .env("DESKRUN_CONFIG", &self.config)
            .env("DESKRUN_FAKE_STATE", &self.state)
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg-cache"))
            .env("HOME", self.dir.path())
            // These tests are not about GitHub and never leave the machine;
            // tests/github.rs and tests/doctor_cli.rs turn the check back on
            // against a fake API on 127.0.0.1.
            .env("DESKRUN_SKIP_GITHUB_CHECK", "1")
            .env_remove("DESKRUN_GITHUB_API_URL")
            .env_remove("DESKRUN_CALL_TIMEOUT")
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

    pub fn set_fake_config(&self, v: Value) {
        std::fs::write(self.state.join("config.json"), v.to_string()).unwrap();
    }

    pub fn set_faults(&self, v: Value) {
        std::fs::write(self.state.join("faults.json"), v.to_string()).unwrap();
    }

    pub fn clear_faults(&self) {
        let _ = std::fs::remove_file(self.state.join("faults.json"));
    }

    pub fn calls(&self) -> Vec<Call> {
        read_calls(&self.state)
    }

    /// Forget recorded calls (to count those of the next command only).
    pub fn reset_calls(&self) {
        let _ = std::fs::remove_file(self.state.join("calls.jsonl"));
    }

    pub fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.state.join("state.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub fn config_bytes(&self) -> Vec<u8> {
        std::fs::read(&self.config).unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
