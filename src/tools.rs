//! The external tools deskrun drives, and every argv it passes them.
//!
//! All calls go through a [`crate::exec::ToolRunner`] (the real runner, or
//! the in-process fake of the tests); this module only knows what to ask
//! each tool and how to parse its JSON answer. Every helm and kubectl
//! call names its context explicitly: deskrun never acts on whatever context
//! happens to be current.

use crate::exec::{Invocation, Output, ToolError, ToolRunner};
pub use crate::mirrors::MirrorState;
use crate::model::{ChartSource, ClusterSettings};
pub use crate::observed::{NodeInfo, NodeMount, Release, managed_selector};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tool deskrun needs, the oldest version it works with, and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub min_version: (u32, u32, u32),
    version_args: &'static [&'static str],
    why_min: &'static str,
    install: &'static str,
}

pub const KIND: Tool = Tool {
    name: "kind",
    min_version: (0, 23, 0),
    version_args: &["version"],
    why_min: "its default node image must run Kubernetes >= 1.29 (native sidecars for dind)",
    install: "https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `go install sigs.k8s.io/kind@latest`)",
};
pub const HELM: Tool = Tool {
    name: "helm",
    min_version: (3, 13, 0),
    version_args: &["version", "--short"],
    why_min: "deskrun labels its releases (helm --labels / list --selector)",
    install: "https://helm.sh/docs/intro/install/",
};
pub const KUBECTL: Tool = Tool {
    name: "kubectl",
    min_version: (1, 27, 0),
    version_args: &["version", "--client"],
    why_min: "older clients are outside Kubernetes' version-skew policy for current kind nodes",
    install: "https://kubernetes.io/docs/tasks/tools/",
};
pub const DOCKER: Tool = Tool {
    name: "docker",
    min_version: (20, 10, 0),
    version_args: &["version", "--format", "{{.Client.Version}}"],
    why_min: "kind needs a current Docker engine",
    install: "https://docs.docker.com/engine/install/ (or Docker Desktop)",
};

/// Parse the first `vX.Y[.Z]` / `X.Y.Z` in a tool's version output.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
            continue;
        }
        // A version follows a 'v', a space, or starts the text.
        if start > 0 && !matches!(bytes[start - 1], b'v' | b' ' | b'\n' | b'"') {
            continue;
        }
        let rest = &text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let nums: Vec<u32> = rest[..end]
            .split('.')
            .filter(|s| !s.is_empty())
            .map_while(|s| s.parse().ok())
            .collect();
        if nums.len() >= 2 {
            return Some((nums[0], nums[1], nums.get(2).copied().unwrap_or(0)));
        }
    }
    None
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct VersionCache {
    #[serde(default)]
    tools: BTreeMap<String, CachedVersion>,
    /// Changed since it was read: write it back.
    #[serde(skip)]
    dirty: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CachedVersion {
    modified_ns: u128,
    size: u64,
    version: (u32, u32, u32),
}

/// Find each tool on PATH and check its version. Versions are cached per
/// binary (path, size, mtime) under `cache_dir`, so a no-op `up` spends no
/// calls on them.
pub fn check_tools(
    runner: &dyn ToolRunner,
    tools: &[Tool],
    cache_dir: Option<&Path>,
) -> Result<()> {
    // Find every tool before running any, so a missing one is named first.
    let mut found = Vec::with_capacity(tools.len());
    for tool in tools {
        let path = runner.locate(tool.name).ok_or_else(|| {
            anyhow::anyhow!(
                "`{}` was not found on PATH; deskrun needs it. Install it: {}",
                tool.name,
                tool.install
            )
        })?;
        found.push((tool, path));
    }
    let mut cache = VersionCache::load(cache_dir);
    let result = found.into_iter().try_for_each(|(tool, path)| {
        let version = cache.version(runner, tool, &path)?;
        if version < tool.min_version {
            bail!("{}", tool.too_old(&path, version));
        }
        Ok(())
    });
    cache.save(cache_dir);
    result
}

/// What [`probe_tools`] found for one tool.
#[derive(Debug)]
pub enum ToolProbe {
    /// Found, at this version (which may be too old: see [`Tool::min_version`]).
    Found {
        path: PathBuf,
        version: (u32, u32, u32),
    },
    Missing,
    /// Found, but its version could not be read.
    Unreadable {
        path: PathBuf,
        error: anyhow::Error,
    },
}

/// Every tool's state without stopping at the first problem (`doctor`).
/// Uses and fills the same version cache as [`check_tools`].
pub fn probe_tools(
    runner: &dyn ToolRunner,
    tools: &[Tool],
    cache_dir: Option<&Path>,
) -> Vec<ToolProbe> {
    let mut cache = VersionCache::load(cache_dir);
    let probes = tools
        .iter()
        .map(|tool| match runner.locate(tool.name) {
            None => ToolProbe::Missing,
            Some(path) => match cache.version(runner, tool, &path) {
                Ok(version) => ToolProbe::Found { path, version },
                Err(error) => ToolProbe::Unreadable { path, error },
            },
        })
        .collect();
    cache.save(cache_dir);
    probes
}

impl Tool {
    /// Where and how to install or upgrade it.
    pub fn install_hint(&self) -> &'static str {
        self.install
    }

    /// The message for a version older than [`Tool::min_version`].
    pub fn too_old(&self, path: &Path, version: (u32, u32, u32)) -> String {
        let (a, b, c) = version;
        let (x, y, z) = self.min_version;
        format!(
            "{} {a}.{b}.{c} at {} is too old: deskrun needs {x}.{y}.{z} or newer ({}). Upgrade it: {}",
            self.name,
            path.display(),
            self.why_min,
            self.install
        )
    }
}

impl VersionCache {
    fn file(dir: Option<&Path>) -> Option<PathBuf> {
        dir.map(|d| d.join("tool-versions.json"))
    }

    fn load(dir: Option<&Path>) -> VersionCache {
        Self::file(dir)
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, dir: Option<&Path>) {
        if !self.dirty {
            return;
        }
        if let (Some(file), Some(dir)) = (Self::file(dir), dir) {
            // Only a cache: failing to write it costs a few calls next time.
            let _ = std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(file, serde_json::to_vec(self).unwrap_or_default()));
        }
    }

    /// The version of the tool at `path`: from the cache when the binary is
    /// unchanged, else by running its version command.
    fn version(
        &mut self,
        runner: &dyn ToolRunner,
        tool: &Tool,
        path: &Path,
    ) -> Result<(u32, u32, u32)> {
        let key = path.display().to_string();
        let meta = std::fs::metadata(path).ok();
        let stamp = meta.as_ref().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (modified, m.len())
        });
        if let Some(c) = self.tools.get(&key).filter(|c| {
            stamp.is_some_and(|(modified, size)| c.modified_ns == modified && c.size == size)
        }) {
            return Ok(c.version);
        }
        let out = runner
            .run(
                &Invocation::new(format!("check {} version", tool.name), tool.name)
                    .args(tool.version_args.iter().copied())
                    // Checked by every session first: a bad value never gets here.
                    .timeout(
                        Timeouts::from_env()
                            .unwrap_or_default()
                            .limit(Duration::from_secs(30)),
                    ),
            )
            .map_err(anyhow::Error::new)?;
        let version = parse_version(&out.stdout)
            .or_else(|| parse_version(&out.stderr))
            .with_context(|| {
                format!(
                    "step 'check {} version': cannot read the version of {} from `{} {}`: {:?}",
                    tool.name,
                    path.display(),
                    tool.name,
                    tool.version_args.join(" "),
                    out.stdout.trim()
                )
            })?;
        if let Some((modified, size)) = stamp {
            self.tools.insert(
                key,
                CachedVersion {
                    modified_ns: modified,
                    size,
                    version,
                },
            );
            self.dirty = true;
        }
        Ok(version)
    }
}

/// `docker info --format '{{json .}}'`: the engine's facts (`ServerVersion`,
/// `CgroupVersion`, `Driver`, `DockerRootDir`, ...). When the engine does not
/// answer, docker still prints JSON with `ServerErrors` and exits 1; those
/// errors are the message.
pub fn docker_info(runner: &dyn ToolRunner, timeouts: Timeouts) -> Result<Json> {
    let step = "ask the Docker engine (docker info)";
    let out = runner.run(
        &Invocation::new(step, "docker")
            .args(["info", "--format", "{{json .}}"])
            .timeout(timeouts.query),
    );
    let stdout = match &out {
        Ok(o) => o.stdout.clone(),
        Err(e) => e.stdout.clone(),
    };
    let info: Option<Json> = serde_json::from_str(stdout.trim()).ok();
    let errors: Vec<&str> = info
        .as_ref()
        .and_then(|i| i.get("ServerErrors"))
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    match (out, info) {
        (Err(e), _) => Err(anyhow::Error::new(e)),
        (Ok(_), Some(info)) => Ok(info),
        (Ok(o), None) => parse_json(step, "docker", &o),
    }
}

/// deskrun's cache directory (tool versions): `$XDG_CACHE_HOME/deskrun`.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("deskrun"))
}

/// Timeouts of the calls deskrun makes.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Quick reads: `kind get clusters`, `helm list`, `kubectl get`, `docker inspect`.
    pub query: Duration,
    /// `kubectl apply/delete/wait`.
    pub kubectl: Duration,
    /// helm's own `--timeout` for `--wait`; the process gets a minute more.
    pub helm_wait: Duration,
    /// `kind create cluster`.
    pub cluster: Duration,
    /// `DESKRUN_CALL_TIMEOUT`: no process runs longer, whatever the margins
    /// below add.
    cap: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            query: Duration::from_secs(60),
            kubectl: Duration::from_secs(120),
            helm_wait: Duration::from_secs(300),
            cluster: Duration::from_secs(600),
            cap: None,
        }
    }
}

impl Timeouts {
    /// Every timeout capped at `DESKRUN_CALL_TIMEOUT` seconds when set (slow
    /// or test machines). A value that is not a number of seconds from 0.001
    /// to a day (`inf`, `1e30`, `abc`, `0`, `-1`, empty) is an input error
    /// naming the variable, rather than a panic or silently ignored.
    pub fn from_env() -> Result<Self> {
        let mut t = Timeouts::default();
        let Some(raw) = std::env::var_os("DESKRUN_CALL_TIMEOUT") else {
            return Ok(t);
        };
        const MAX_SECS: f64 = 86_400.0;
        let raw = raw.to_string_lossy();
        let secs = raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.001 && *s <= MAX_SECS);
        let Some(secs) = secs else {
            return Err(crate::error::input(format!(
                "invalid DESKRUN_CALL_TIMEOUT {raw:?}: give the most seconds one tool call may take, \
                 a number from 0.001 to {MAX_SECS} (e.g. DESKRUN_CALL_TIMEOUT=120), or unset it"
            )));
        };
        let cap = Duration::from_secs_f64(secs);
        t.query = t.query.min(cap);
        t.kubectl = t.kubectl.min(cap);
        t.helm_wait = t.helm_wait.min(cap);
        t.cluster = t.cluster.min(cap);
        t.cap = Some(cap);
        Ok(t)
    }

    /// `d`, but no more than `DESKRUN_CALL_TIMEOUT`.
    pub fn limit(&self, d: Duration) -> Duration {
        self.cap.map_or(d, |cap| d.min(cap))
    }

    fn helm_process(&self) -> Duration {
        self.limit(self.helm_wait + Duration::from_secs(60))
    }
}

/// A tool's one-name-per-line answer (`kind get clusters`, `docker ps
/// --format`, `kubectl config get-contexts -o name`), blank lines dropped.
fn non_empty_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn go_duration(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// Typed calls against one cluster (its kubeconfig context and namespace):
/// the kind cluster deskrun makes, or an existing one.
pub struct Kube<'a> {
    pub runner: &'a dyn ToolRunner,
    pub cluster: &'a ClusterSettings,
    pub timeouts: Timeouts,
}

/// The CRDs the ARC controller chart installs.
pub const ARC_CRDS: [&str; 4] = [
    "autoscalingrunnersets.actions.github.com",
    "autoscalinglisteners.actions.github.com",
    "ephemeralrunnersets.actions.github.com",
    "ephemeralrunners.actions.github.com",
];

fn parse_json<T: serde::de::DeserializeOwned>(step: &str, tool: &str, out: &Output) -> Result<T> {
    serde_json::from_str(&out.stdout).with_context(|| {
        let head: String = out.stdout.chars().take(200).collect();
        format!("step '{step}': cannot parse the JSON {tool} printed (starts with {head:?})")
    })
}

impl<'a> Kube<'a> {
    pub fn new(
        runner: &'a dyn ToolRunner,
        cluster: &'a ClusterSettings,
        timeouts: Timeouts,
    ) -> Self {
        Kube {
            runner,
            cluster,
            timeouts,
        }
    }

    fn run(&self, inv: Invocation) -> Result<Output> {
        self.runner
            .run(&inv)
            .map_err(|e: ToolError| anyhow::Error::new(e))
    }

    fn helm(&self, step: &str, args: &[&str]) -> Invocation {
        Invocation::new(step, "helm")
            .args(args.iter().copied())
            .args(["--kube-context", &self.cluster.context()])
            .timeout(self.timeouts.query)
    }

    fn kubectl(&self, step: &str, args: &[&str]) -> Invocation {
        Invocation::new(step, "kubectl")
            .args(["--context", &self.cluster.context()])
            .args(args.iter().copied())
            .timeout(self.timeouts.kubectl)
    }

    pub fn node_container(&self) -> String {
        format!("{}-control-plane", self.cluster.name)
    }

    /// deskrun never runs kind against an existing cluster; the commands
    /// refuse first with a message for people, this is the last guard.
    fn kind_only(&self) -> Result<()> {
        if !self.cluster.is_kind() {
            bail!(
                "internal error: a kind command was about to run for the existing cluster of context {}",
                self.cluster.context()
            );
        }
        Ok(())
    }

    // ---- kind -------------------------------------------------------------

    pub fn cluster_exists(&self) -> Result<bool> {
        self.kind_only()?;
        let out = self.run(
            Invocation::new("look for the kind cluster", "kind")
                .args(["get", "clusters"])
                .timeout(self.timeouts.query),
        )?;
        // One cluster name per line. Anything else is not kind's answer, and
        // reading it as "no cluster" would make `up` create a second one and
        // `down` report nothing to do.
        let names = non_empty_lines(&out.stdout);
        if let Some(bad) = names.iter().find(|n| {
            !n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }) {
            let bad: String = self.runner.redact(bad).chars().take(200).collect();
            bail!(
                "step 'look for the kind cluster': cannot read the cluster list `kind get clusters` printed \
                 (a line reads {bad:?}); is the `kind` on PATH the real kind?"
            );
        }
        Ok(names.contains(&self.cluster.name))
    }

    pub fn create_cluster(&self, kind_config_yaml: &str) -> Result<()> {
        self.kind_only()?;
        self.run(
            Invocation::new("create the kind cluster", "kind")
                .args(["create", "cluster", "--name", &self.cluster.name])
                .args(["--config", "-", "--wait", "120s"])
                .stdin(kind_config_yaml.as_bytes().to_vec())
                .timeout(self.timeouts.cluster),
        )?;
        Ok(())
    }

    pub fn delete_cluster(&self) -> Result<()> {
        self.kind_only()?;
        self.run(
            Invocation::new("delete the kind cluster", "kind")
                .args(["delete", "cluster", "--name", &self.cluster.name])
                .timeout(self.timeouts.cluster),
        )?;
        Ok(())
    }

    // ---- docker -----------------------------------------------------------

    /// The node container's state and bind mounts (`None`: no such container).
    pub fn node_info(&self) -> Result<Option<NodeInfo>> {
        Ok(self.containers(true, &[])?.0)
    }

    /// The kind node (when `node`) and the mirror containers `mirrors`, in
    /// one `docker inspect`: `up` learns whether the node mounts the mirrors'
    /// hosts directory and how each mirror runs with a single read. Missing
    /// containers are simply absent from the answer.
    pub fn containers(
        &self,
        node: bool,
        mirrors: &[String],
    ) -> Result<(Option<NodeInfo>, Vec<MirrorState>)> {
        let node_name = self.node_container();
        let mut names: Vec<&str> = Vec::new();
        if node {
            names.push(&node_name);
        }
        names.extend(mirrors.iter().map(String::as_str));
        if names.is_empty() {
            return Ok((None, vec![]));
        }
        let step = if mirrors.is_empty() {
            "inspect the kind node's mounts"
        } else {
            "inspect the kind node and the registry mirrors"
        };
        let inv = Invocation::new(step, "docker")
            .args(["inspect", "--type", "container"])
            .args(names.iter().copied())
            .timeout(self.timeouts.query);
        // docker prints what it found and exits 1 naming what it did not.
        let stdout = match self.runner.run(&inv) {
            Ok(out) => out.stdout,
            Err(e) if e.stderr_tail.contains("No such") => e.stdout,
            Err(e) => return Err(e.into()),
        };
        let list: Vec<Json> = if stdout.trim().is_empty() {
            vec![]
        } else {
            parse_json(
                step,
                "docker",
                &Output {
                    stdout,
                    stderr: String::new(),
                },
            )?
        };
        let mut node_info = None;
        let mut states = Vec::new();
        for c in &list {
            let name = c
                .get("Name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .trim_start_matches('/');
            let running = c
                .pointer("/State/Running")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            if node && name == node_name {
                let mounts = c
                    .get("Mounts")
                    .and_then(Json::as_array)
                    .map(|ms| {
                        ms.iter()
                            .filter_map(|m| {
                                Some(NodeMount {
                                    source: m.get("Source")?.as_str()?.to_string(),
                                    destination: m.get("Destination")?.as_str()?.to_string(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                node_info = Some(NodeInfo { running, mounts });
            } else if mirrors.iter().any(|m| m == name) {
                let labels = c
                    .pointer("/Config/Labels")
                    .and_then(Json::as_object)
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                states.push(MirrorState {
                    name: name.to_string(),
                    running,
                    status: c
                        .pointer("/State/Status")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    labels,
                });
            }
        }
        Ok((node_info, states))
    }

    fn docker(&self, step: &str, args: &[&str], timeout: Duration) -> Result<Output> {
        self.run(
            Invocation::new(step, "docker")
                .args(args.iter().copied())
                .timeout(timeout),
        )
    }

    /// Whether the Docker network `name` exists.
    pub fn network_exists(&self, name: &str) -> Result<bool> {
        let inv = Invocation::new("look for the kind Docker network", "docker")
            .args(["network", "inspect", name])
            .timeout(self.timeouts.query);
        match self.runner.run(&inv) {
            Ok(_) => Ok(true),
            Err(e)
                if e.stderr_tail.contains("No such network")
                    || e.stderr_tail.contains("not found") =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn network_create(&self, name: &str) -> Result<()> {
        self.docker(
            "create the kind Docker network",
            &["network", "create", name],
            self.timeouts.kubectl,
        )?;
        Ok(())
    }

    /// `docker run` with the given arguments (a mirror's spec). May pull
    /// the image, so it gets a long timeout.
    pub fn docker_run(&self, step: &str, args: &[String]) -> Result<()> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker(step, &args, self.timeouts.helm_wait)?;
        Ok(())
    }

    pub fn docker_start(&self, step: &str, name: &str) -> Result<()> {
        self.docker(step, &["start", name], self.timeouts.kubectl)?;
        Ok(())
    }

    /// Remove a container, stopping it first. Its bind-mounted data stays.
    pub fn docker_remove(&self, step: &str, name: &str) -> Result<()> {
        self.docker(step, &["rm", "--force", name], self.timeouts.kubectl)?;
        Ok(())
    }

    /// Names of every container (running or not) carrying `label`.
    pub fn containers_with_label(&self, step: &str, label: &str) -> Result<Vec<String>> {
        let filter = format!("label={label}");
        let out = self.docker(
            step,
            &["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"],
            self.timeouts.query,
        )?;
        Ok(non_empty_lines(&out.stdout))
    }

    // ---- helm -------------------------------------------------------------

    /// The releases deskrun manages in its namespace (labelled at install).
    pub fn managed_releases(&self) -> Result<Vec<Release>> {
        let step = "list deskrun's helm releases";
        let out = self.run(self.helm(
            step,
            &[
                "list",
                "--namespace",
                &self.cluster.namespace,
                "--all",
                "--selector",
                &managed_selector(),
                "--output",
                "json",
            ],
        ))?;
        if out.stdout.trim().is_empty() {
            return Ok(vec![]);
        }
        parse_json(step, "helm", &out)
    }

    /// `helm upgrade --install`, values on stdin (they may hold a credential).
    pub fn upgrade_install(
        &self,
        step: &str,
        release: &str,
        chart: &ChartSource,
        values_yaml: &str,
        labels: &[(&str, &str)],
    ) -> Result<()> {
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let wait = go_duration(self.timeouts.helm_wait);
        let mut args = vec!["upgrade", "--install", release, chart.source.as_str()];
        if !chart.is_local() {
            args.extend(["--version", chart.version.as_str()]);
        }
        args.extend([
            "--namespace",
            &self.cluster.namespace,
            "--create-namespace",
            "--values",
            "-",
            "--labels",
            &labels,
            "--wait",
            "--timeout",
            &wait,
        ]);
        self.run(
            self.helm(step, &args)
                .stdin(values_yaml.as_bytes().to_vec())
                .timeout(self.timeouts.helm_process()),
        )?;
        Ok(())
    }

    pub fn uninstall(&self, step: &str, release: &str) -> Result<()> {
        let wait = go_duration(self.timeouts.helm_wait);
        self.run(
            self.helm(
                step,
                &[
                    "uninstall",
                    release,
                    "--namespace",
                    &self.cluster.namespace,
                    "--wait",
                    "--timeout",
                    &wait,
                ],
            )
            .timeout(self.timeouts.helm_process()),
        )?;
        Ok(())
    }

    /// Roll a release stuck in a pending state back to its last good revision
    /// (what helm itself recommends after an interrupted upgrade).
    pub fn rollback(&self, step: &str, release: &str) -> Result<()> {
        let wait = go_duration(self.timeouts.helm_wait);
        self.run(
            self.helm(
                step,
                &[
                    "rollback",
                    release,
                    "--namespace",
                    &self.cluster.namespace,
                    "--wait",
                    "--timeout",
                    &wait,
                ],
            )
            .timeout(self.timeouts.helm_process()),
        )?;
        Ok(())
    }

    // ---- kubectl ----------------------------------------------------------

    /// `kubectl get TYPES -l deskrun.dev/managed=true -o json` in the namespace.
    pub fn get_managed(&self, step: &str, types: &str) -> Result<Vec<Json>> {
        self.get_selected(step, types, &managed_selector())
    }

    /// `kubectl get TYPES -l SELECTOR -o json` in the namespace: the items.
    pub fn get_selected(&self, step: &str, types: &str, selector: &str) -> Result<Vec<Json>> {
        self.get_items(step, types, &["--selector", selector])
    }

    /// `kubectl get TYPES -o json` in the namespace: every object of those
    /// types (deskrun's namespace holds only ARC's and deskrun's objects).
    pub fn get_all(&self, step: &str, types: &str) -> Result<Vec<Json>> {
        self.get_items(step, types, &[])
    }

    /// The namespace's warning events about pods: what the scheduler and
    /// the kubelet said about pods that do not start.
    pub fn pod_events(&self) -> Result<Vec<Json>> {
        self.get_items(
            "read the pod events",
            "events",
            &["--field-selector", "involvedObject.kind=Pod,type=Warning"],
        )
    }

    fn get_items(&self, step: &str, types: &str, extra: &[&str]) -> Result<Vec<Json>> {
        let mut args = vec!["get", types, "--namespace", &self.cluster.namespace];
        args.extend_from_slice(extra);
        args.extend(["--output", "json"]);
        let out = self.run(self.kubectl(step, &args).timeout(self.timeouts.query))?;
        let list: Json = parse_json(step, "kubectl", &out)?;
        Ok(list
            .get("items")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// `kubectl logs POD` of one container (`None`: all of them).
    pub fn logs(&self, step: &str, pod: &str, opts: &LogOptions) -> Invocation {
        let mut args = vec![
            "logs".to_string(),
            pod.to_string(),
            "--namespace".into(),
            self.cluster.namespace.clone(),
        ];
        match &opts.container {
            Some(c) => args.extend(["--container".into(), c.clone()]),
            None => args.push("--all-containers".into()),
        }
        if let Some(since) = &opts.since {
            args.push(format!("--since={since}"));
        }
        if let Some(n) = opts.tail {
            args.push(format!("--tail={n}"));
        }
        if opts.previous {
            args.push("--previous".into());
        }
        if opts.follow {
            args.push("--follow".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A followed log ends with Ctrl-C (or DESKRUN_CALL_TIMEOUT).
        let timeout = if opts.follow {
            self.timeouts.limit(Duration::MAX)
        } else {
            self.timeouts.kubectl
        };
        self.kubectl(step, &args).timeout(timeout)
    }

    /// The log of one container, whole (`kubectl logs` without --follow).
    pub fn read_logs(&self, step: &str, pod: &str, opts: &LogOptions) -> Result<String> {
        Ok(self.run(self.logs(step, pod, opts))?.stdout)
    }

    /// `kubectl apply -f -`: the manifest goes on stdin.
    pub fn apply(&self, step: &str, manifest_json: &str) -> Result<()> {
        self.run(
            self.kubectl(
                step,
                &["apply", "--namespace", &self.cluster.namespace, "-f", "-"],
            )
            .stdin(manifest_json.as_bytes().to_vec()),
        )?;
        Ok(())
    }

    /// Delete objects of `kind` (`configmap`, `secret`) in the namespace by
    /// name, in one call; absent ones are fine. Secrets only ever go this
    /// way, never by selector: Helm's release records carry deskrun's
    /// labels too.
    pub fn delete_named(&self, step: &str, kind: &str, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut args = vec!["delete", kind];
        args.extend(names.iter().map(String::as_str));
        args.extend(["--namespace", &self.cluster.namespace, "--ignore-not-found"]);
        self.run(self.kubectl(step, &args))?;
        Ok(())
    }

    /// Delete every ConfigMap deskrun labelled, in one call.
    pub fn delete_managed_configmaps(&self, step: &str) -> Result<()> {
        self.run(self.kubectl(
            step,
            &[
                "delete",
                "configmap",
                "--namespace",
                &self.cluster.namespace,
                "--selector",
                &managed_selector(),
                "--ignore-not-found",
            ],
        ))?;
        Ok(())
    }

    // ---- an existing cluster ---------------------------------------------

    /// The contexts of the kubeconfig (`kubectl config get-contexts -o name`).
    /// The one kubectl call without `--context`: it reads the kubeconfig
    /// and talks to no cluster.
    pub fn contexts(&self) -> Result<Vec<String>> {
        let out = self.run(
            Invocation::new("list the kubeconfig contexts", "kubectl")
                .args(["config", "get-contexts", "--output", "name"])
                .timeout(self.timeouts.query),
        )?;
        Ok(non_empty_lines(&out.stdout))
    }

    /// The ARC controller Deployments in every namespace. On an existing
    /// cluster this is also the check that the context answers. `None`: the
    /// context may not list Deployments cluster-wide (it did answer).
    pub fn controller_deployments(&self) -> Result<Option<Vec<Json>>> {
        let step = format!(
            "check that context {} answers and look for ARC controllers",
            self.cluster.context()
        );
        let args = [
            "get",
            "deployments.apps",
            "--all-namespaces",
            "--selector",
            crate::controllers::CONTROLLER_SELECTOR,
            "--output",
            "json",
        ];
        let inv = self.kubectl(&step, &args).timeout(self.timeouts.query);
        let out = match self.runner.run(&inv) {
            Ok(out) => out,
            Err(e)
                if e.stderr_tail.contains("Forbidden") || e.stderr_tail.contains("forbidden") =>
            {
                return Ok(None);
            }
            Err(e) => {
                let context = self.cluster.context();
                return Err(anyhow::Error::new(e).context(format!(
                    "the cluster of context {context} does not answer. Check that the context works \
                     (`kubectl --context {context} get nodes`): the network or VPN, and that its \
                     credentials have not expired"
                )));
            }
        };
        let list: Json = parse_json(&step, "kubectl", &out)?;
        Ok(Some(
            list.get("items")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default(),
        ))
    }

    /// The ARC CRDs that exist (`--ignore-not-found`: missing ones are
    /// simply not listed).
    pub fn arc_crds(&self) -> Result<Vec<Json>> {
        let step = "read the ARC CRDs";
        let mut args = vec!["get", "customresourcedefinitions.apiextensions.k8s.io"];
        args.extend(ARC_CRDS);
        args.extend(["--ignore-not-found", "--output", "json"]);
        let out = self.run(self.kubectl(step, &args).timeout(self.timeouts.query))?;
        if out.stdout.trim().is_empty() {
            return Ok(vec![]);
        }
        let list: Json = parse_json(step, "kubectl", &out)?;
        Ok(list
            .get("items")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The cluster's nodes (`kubectl get nodes`).
    pub fn nodes(&self) -> Result<Vec<Json>> {
        let step = "list the cluster's nodes";
        let out = self.run(
            self.kubectl(step, &["get", "nodes", "--output", "json"])
                .timeout(self.timeouts.query),
        )?;
        let list: Json = parse_json(step, "kubectl", &out)?;
        Ok(list
            .get("items")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// `kubectl auth can-i`: whether the context may do `need`. kubectl
    /// answers `no` with exit status 1.
    pub fn can_i(&self, need: &crate::permissions::Need) -> Result<bool> {
        let step = format!("check permission to {} {}", need.verb, need.resource);
        let scope = if need.cluster_wide {
            vec!["--all-namespaces"]
        } else {
            vec!["--namespace", self.cluster.namespace.as_str()]
        };
        let mut args = vec!["auth", "can-i", need.verb, need.resource];
        args.extend(scope);
        let inv = self.kubectl(&step, &args).timeout(self.timeouts.query);
        match self.runner.run(&inv) {
            Ok(out) => Ok(out.stdout.trim() == "yes"),
            Err(e) if e.kind == crate::exec::ToolErrorKind::Exit(1) && e.stdout.trim() == "no" => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Delete the cache claims matching `selector` without waiting: a claim
    /// still mounted by a pod goes once that pod is gone.
    pub fn delete_claims(&self, step: &str, selector: &str) -> Result<Vec<String>> {
        let out = self.run(self.kubectl(
            step,
            &[
                "delete",
                "persistentvolumeclaims",
                "--namespace",
                &self.cluster.namespace,
                "--selector",
                selector,
                "--wait=false",
                "--ignore-not-found",
            ],
        ))?;
        // `persistentvolumeclaim "NAME" deleted`, one per line.
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.split('"').nth(1))
            .map(String::from)
            .collect())
    }

    /// Wait until the ARC CRDs are established.
    pub fn wait_for_crds(&self) -> Result<()> {
        let timeout = format!("--timeout={}", go_duration(self.timeouts.kubectl));
        let mut args = vec!["wait", "--for=condition=established", timeout.as_str()];
        let crds: Vec<String> = ARC_CRDS.iter().map(|c| format!("crd/{c}")).collect();
        args.extend(crds.iter().map(String::as_str));
        self.run(
            self.kubectl("wait for the ARC CRDs", &args).timeout(
                self.timeouts
                    .limit(self.timeouts.kubectl + Duration::from_secs(30)),
            ),
        )?;
        Ok(())
    }
}

/// What `kubectl logs` should print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// The container (`None`: `--all-containers`).
    pub container: Option<String>,
    /// `--since`, a Go duration such as `10m`.
    pub since: Option<String>,
    pub tail: Option<u32>,
    /// The previous (crashed) container's log.
    pub previous: bool,
    pub follow: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("kind v0.27.0 go1.23.6 linux/amd64"),
            Some((0, 27, 0))
        );
        assert_eq!(parse_version("v3.16.2+g13654a5"), Some((3, 16, 2)));
        assert_eq!(
            parse_version("Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0"),
            Some((1, 32, 4))
        );
        assert_eq!(parse_version("28.2.2\n"), Some((28, 2, 2)));
        assert_eq!(parse_version("no version here"), None);
    }
}
