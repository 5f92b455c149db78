//! An in-process fake of the tools deskrun drives, for tests and benches.
//!
//! [`FakeCluster`] implements [`ToolRunner`] by interpreting the argv deskrun
//! sends to `kind`, `helm`, `kubectl` and `docker` against a typed [`World`]:
//! kind clusters with their node containers (state, mounts), helm releases
//! with revisions and status, and Kubernetes objects stored as JSON. It
//! records every call, and injects failures, timeouts and latency per call.
//! It answers the way the real tools do where deskrun reads the answer
//! (JSON shapes, the error texts deskrun matches on), and refuses anything it
//! does not know with exit 98 (`... is not implemented by the fake`), so a
//! gap in the fake never passes for the real tool's behaviour.
//!
//! Extending it: a new object kind is a row in [`KINDS`]; a new verb is
//! either a branch in the tool's `match` below or, from a test, a
//! [`FakeCluster::handle`] closure that gets the [`World`] and the parsed
//! [`Cmd`].

pub mod arc;
pub mod process;

use crate::config::Store;
use crate::exec::{Invocation, Output, Redact, ToolError, ToolErrorKind, ToolRunner, command_line};
use crate::ops::add::AddRequest;
use crate::ops::session::Session;
use crate::progress::Progress;
use crate::tools::{ARC_CRDS, Timeouts};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Maps whose keys are not strings, stored as `[[key, value], ...]` (the
/// process fake keeps the world in a JSON file).
mod as_pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

// ---------------------------------------------------------------------------
// The world.

/// Everything the fake tools share: one machine with a Docker engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct World {
    pub docker_running: bool,
    /// What each tool's version command prints.
    pub versions: BTreeMap<String, String>,
    /// Docker containers by name (kind node containers among them).
    pub containers: BTreeMap<String, Container>,
    /// kind clusters by name.
    pub clusters: BTreeMap<String, Cluster>,
    /// Tools that are "not installed" (`locate` finds nothing, calls fail
    /// as not found).
    pub missing_tools: BTreeSet<String>,
    /// Docker networks by name (`kind create cluster` makes `kind`).
    pub networks: BTreeSet<String>,
    /// Kubeconfig contexts of clusters kind did not make: context -> key in
    /// `clusters` (kind's own clusters have the context `kind-NAME`).
    pub contexts: BTreeMap<String, String>,
}

impl Default for World {
    fn default() -> Self {
        let versions = [
            ("kind", "kind v0.27.0 go1.24.0 linux/amd64"),
            ("helm", "v3.16.2+g13654a5"),
            (
                "kubectl",
                "Client Version: v1.33.1\nKustomize Version: v5.6.0",
            ),
            ("docker", "28.2.2"),
        ];
        World {
            docker_running: true,
            versions: versions
                .into_iter()
                .map(|(k, v)| (k.to_string(), format!("{v}\n")))
                .collect(),
            containers: BTreeMap::new(),
            clusters: BTreeMap::new(),
            missing_tools: BTreeSet::new(),
            networks: BTreeSet::new(),
            contexts: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub name: String,
    pub running: bool,
    /// (host path, container path).
    pub mounts: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// What `docker run` was given (`None` for kind nodes and containers a
    /// test put there).
    pub run: Option<RunSpec>,
}

/// The parts of `docker run` the fake keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunSpec {
    pub image: String,
    pub network: Option<String>,
    pub restart: Option<String>,
    pub env: Vec<String>,
    /// Published ports (`-p`), which deskrun's mirrors must not have.
    pub publish: Vec<String>,
}

/// Identity of a Kubernetes object (`namespace` is "" for cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        ObjKey {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// One cluster (made by kind, or an existing one reached through a context):
/// its objects and its helm releases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    /// Not made by kind: `kind get clusters` does not list it, it has no
    /// node container, and its nodes are `Node` objects.
    pub existing: bool,
    /// The API server does not answer (an existing cluster off the VPN).
    pub unreachable: bool,
    /// `kubectl auth can-i` questions answered "no": `VERB RESOURCE` for
    /// the namespace, `VERB RESOURCE --all-namespaces` for cluster-wide.
    pub denied: BTreeSet<String>,
    /// The kind config it was created with (`kind create cluster --config -`).
    pub kind_config: String,
    #[serde(with = "as_pairs")]
    pub objects: BTreeMap<ObjKey, Json>,
    /// Release history by (namespace, name), oldest first.
    #[serde(with = "as_pairs")]
    pub releases: BTreeMap<(String, String), Vec<Revision>>,
    /// What `kubectl logs` prints, per container ([`arc::LogKey`]).
    #[serde(with = "as_pairs")]
    pub logs: BTreeMap<arc::LogKey, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub revision: u32,
    /// `deployed`, `superseded`, `failed`, `pending-install`, ...
    pub status: String,
    pub chart: String,
    pub chart_version: String,
    /// The user-supplied values.
    pub values: Json,
    /// `--labels`.
    pub labels: BTreeMap<String, String>,
    /// Objects this revision made (removed on uninstall).
    pub objects: Vec<ObjKey>,
}

/// A kind of Kubernetes object the fake kubectl knows.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: &'static str,
    pub api_version: &'static str,
    /// Every name kubectl accepts for it; the first is the plural.
    pub names: &'static [&'static str],
    pub namespaced: bool,
    /// The CRD that must exist before the type does.
    pub crd: Option<&'static str>,
}

/// The object kinds the fake knows: add a row for a new one.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "ConfigMap",
        api_version: "v1",
        names: &["configmaps", "configmap", "cm"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "Pod",
        api_version: "v1",
        names: &["pods", "pod", "po"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "Event",
        api_version: "v1",
        names: &["events", "event", "ev"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "Secret",
        api_version: "v1",
        names: &["secrets", "secret"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "PersistentVolumeClaim",
        api_version: "v1",
        names: &["persistentvolumeclaims", "persistentvolumeclaim", "pvc"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "Deployment",
        api_version: "apps/v1",
        names: &["deployments", "deployment", "deploy", "deployments.apps"],
        namespaced: true,
        crd: None,
    },
    KindInfo {
        kind: "Node",
        api_version: "v1",
        names: &["nodes", "node", "no"],
        namespaced: false,
        crd: None,
    },
    KindInfo {
        kind: "StorageClass",
        api_version: "storage.k8s.io/v1",
        names: &[
            "storageclasses",
            "storageclass",
            "sc",
            "storageclasses.storage.k8s.io",
        ],
        namespaced: false,
        crd: None,
    },
    KindInfo {
        kind: "Namespace",
        api_version: "v1",
        names: &["namespaces", "namespace", "ns"],
        namespaced: false,
        crd: None,
    },
    KindInfo {
        kind: "CustomResourceDefinition",
        api_version: "apiextensions.k8s.io/v1",
        names: &[
            "customresourcedefinitions",
            "customresourcedefinition",
            "crd",
            "crds",
            "customresourcedefinitions.apiextensions.k8s.io",
        ],
        namespaced: false,
        crd: None,
    },
    KindInfo {
        kind: "AutoscalingRunnerSet",
        api_version: "actions.github.com/v1alpha1",
        names: &[
            "autoscalingrunnersets",
            "autoscalingrunnerset",
            "autoscalingrunnersets.actions.github.com",
        ],
        namespaced: true,
        crd: Some("autoscalingrunnersets.actions.github.com"),
    },
    KindInfo {
        kind: "EphemeralRunner",
        api_version: "actions.github.com/v1alpha1",
        names: &[
            "ephemeralrunners",
            "ephemeralrunner",
            "ephemeralrunners.actions.github.com",
        ],
        namespaced: true,
        crd: Some("ephemeralrunners.actions.github.com"),
    },
];

pub fn kind_info(name: &str) -> Option<&'static KindInfo> {
    let lower = name.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|k| k.names.contains(&lower.as_str()) || k.kind.eq_ignore_ascii_case(&lower))
}

impl Cluster {
    /// The kubeconfig context kind makes for it.
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Json> {
        self.objects.get(&ObjKey::new(kind, namespace, name))
    }

    /// Store `obj` (its `kind`, `metadata.namespace`, `metadata.name`).
    /// Returns whether it existed (and so whether this was an update).
    pub fn put(&mut self, obj: Json) -> bool {
        let key = key_of(&obj);
        self.objects.insert(key, obj).is_some()
    }

    pub fn remove(&mut self, key: &ObjKey) -> Option<Json> {
        self.objects.remove(key)
    }

    /// Objects of `kind` in `namespace` (`None`: all) matching `selector`.
    pub fn list(&self, kind: &str, namespace: Option<&str>, selector: &Selector) -> Vec<&Json> {
        self.objects
            .iter()
            .filter(|(k, _)| k.kind == kind && namespace.is_none_or(|ns| k.namespace == ns))
            .filter(|(_, o)| selector.matches(&labels_of(o)))
            .map(|(_, o)| o)
            .collect()
    }

    /// An ARC controller someone else installed (release `release` in
    /// `namespace`, at `version`): the CRDs and the controller Deployment.
    pub fn preinstall_controller(&mut self, namespace: &str, release: &str, version: &str) {
        for obj in controller_objects(namespace, release, version) {
            self.put(obj);
        }
    }

    pub fn has_crd(&self, name: &str) -> bool {
        self.get("CustomResourceDefinition", "", name).is_some()
    }

    /// The current revision of release `name` in `namespace`.
    pub fn release(&self, namespace: &str, name: &str) -> Option<&Revision> {
        self.releases
            .get(&(namespace.to_string(), name.to_string()))
            .and_then(|h| h.last())
    }

    pub fn release_mut(&mut self, namespace: &str, name: &str) -> Option<&mut Revision> {
        self.releases
            .get_mut(&(namespace.to_string(), name.to_string()))
            .and_then(|h| h.last_mut())
    }
}

fn key_of(obj: &Json) -> ObjKey {
    let s = |p: &str| obj.pointer(p).and_then(Json::as_str).unwrap_or("");
    ObjKey::new(s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
}

fn labels_of(obj: &Json) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A label selector: `a=b,c!=d,e` (equality, inequality, existence).
#[derive(Debug, Clone, Default)]
pub struct Selector(Vec<(String, Option<String>, bool)>);

impl Selector {
    pub fn parse(text: &str) -> Selector {
        Selector(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| {
                    if let Some((k, v)) = t.split_once("!=") {
                        (k.trim().into(), Some(v.trim().into()), false)
                    } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                        (k.trim().into(), Some(v.trim().into()), true)
                    } else {
                        (t.into(), None, true)
                    }
                })
                .collect(),
        )
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(k, v, eq)| match (v, eq) {
            (None, _) => labels.contains_key(k),
            (Some(v), true) => labels.get(k) == Some(v),
            (Some(v), false) => labels.get(k) != Some(v),
        })
    }
}

impl World {
    /// Create a running kind cluster `name` with a node container mounting
    /// `mounts` (host path = container path), as `kind create cluster` does.
    pub fn create_cluster(&mut self, name: &str, mounts: &[&str]) -> &mut Cluster {
        self.containers.insert(
            format!("{name}-control-plane"),
            Container {
                name: format!("{name}-control-plane"),
                running: true,
                mounts: mounts
                    .iter()
                    .map(|m| (m.to_string(), m.to_string()))
                    .collect(),
                labels: [("io.x-k8s.kind.cluster".to_string(), name.to_string())].into(),
                run: None,
            },
        );
        self.networks.insert("kind".to_string());
        let cluster = self.clusters.entry(name.to_string()).or_insert(Cluster {
            name: name.to_string(),
            ..Default::default()
        });
        // kind's single node, Ready.
        cluster.put(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("{name}-control-plane"), "namespace": ""},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                                        "message": "kubelet is posting ready status"}]},
        }));
        cluster
    }

    /// An existing cluster reached through the kubeconfig context
    /// `context`, with `nodes` (Node objects). Nothing of deskrun in it.
    pub fn create_existing(&mut self, context: &str, nodes: &[&str]) -> &mut Cluster {
        self.contexts
            .insert(context.to_string(), context.to_string());
        let cluster = self.clusters.entry(context.to_string()).or_insert(Cluster {
            name: context.to_string(),
            existing: true,
            ..Default::default()
        });
        for node in nodes {
            cluster.put(json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "namespace": "",
                             "labels": {"kubernetes.io/hostname": node}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }));
        }
        cluster
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.get(name)
    }

    pub fn cluster_mut(&mut self, name: &str) -> Option<&mut Cluster> {
        self.clusters.get_mut(name)
    }

    /// The cluster a kubeconfig context names (`kind-NAME`, or one of
    /// `contexts`).
    fn cluster_for_context(&self, context: &str) -> Option<&Cluster> {
        match self.contexts.get(context) {
            Some(name) => self.clusters.get(name),
            None => context
                .strip_prefix("kind-")
                .and_then(|n| self.clusters.get(n))
                .filter(|c| !c.existing),
        }
    }

    /// What `kubectl config get-contexts -o name` lists.
    pub fn context_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.contexts.keys().cloned().collect();
        names.extend(
            self.clusters
                .values()
                .filter(|c| !c.existing)
                .map(Cluster::context),
        );
        names.into_iter().collect()
    }

    fn node_running(&self, cluster: &str) -> bool {
        self.containers
            .get(&format!("{cluster}-control-plane"))
            .is_some_and(|c| c.running)
    }
}

// ---------------------------------------------------------------------------
// Calls, replies, faults.

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub step: String,
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
    pub timeout: Duration,
    pub started: Instant,
    /// When the fake answered (`None` while it runs).
    pub ended: Option<Instant>,
}

impl Call {
    /// `program arg arg ...`, unquoted (for `contains` checks).
    pub fn line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The subcommand: the first word that is not a flag or a flag's value.
    pub fn verb(&self) -> &str {
        verb_of(&self.program, &self.args)
    }

    /// Whether the call changes cluster state.
    pub fn mutates(&self) -> bool {
        mutates(&self.program, &self.args)
    }
}

/// The subcommand of `program args`: its first word that is not a flag or a
/// flag's value (`kubectl --context X apply` -> `apply`).
pub fn verb_of<'a>(program: &str, args: &'a [String]) -> &'a str {
    Cmd::parse(program, args, None, Duration::ZERO)
        .words
        .first()
        .map(|w| {
            let i = args.iter().position(|a| a == w).unwrap_or(0);
            args[i].as_str()
        })
        .unwrap_or("")
}

/// Whether `program args` changes cluster or machine state.
pub fn mutates(program: &str, args: &[String]) -> bool {
    let verb = verb_of(program, args);
    match program {
        "kind" => matches!(verb, "create" | "delete"),
        "helm" => matches!(verb, "upgrade" | "install" | "uninstall" | "rollback"),
        "kubectl" => matches!(verb, "apply" | "delete" | "create" | "patch" | "replace"),
        "docker" => {
            matches!(verb, "run" | "rm" | "start" | "stop" | "create")
                || (verb == "network" && args.iter().any(|a| matches!(a.as_str(), "create" | "rm")))
        }
        _ => false,
    }
}

/// A parsed command line: positional words, flags with values, switches.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub tool: String,
    /// The whole argv after the program.
    pub args: Vec<String>,
    /// Positional words (`get`, `clusters`, release names, ...).
    pub words: Vec<String>,
    /// `--flag value` / `--flag=value`, in order, by flag name.
    pub flags: BTreeMap<String, Vec<String>>,
    /// Flags without a value (`--install`, `--all`, ...).
    pub switches: BTreeSet<String>,
    pub stdin: Option<String>,
    pub timeout: Duration,
}

/// Flags that take a value, per tool (everything else is a switch).
fn value_flags(tool: &str) -> &'static [&'static str] {
    match tool {
        "kind" => &["--name", "--config", "--wait", "--image", "--kubeconfig"],
        "helm" => &[
            "--kube-context",
            "--namespace",
            "-n",
            "--selector",
            "-l",
            "--output",
            "-o",
            "--version",
            "--values",
            "-f",
            "--labels",
            "--timeout",
            "--set",
            "--set-string",
        ],
        "kubectl" => &[
            "--context",
            "--namespace",
            "-n",
            "--selector",
            "-l",
            "--output",
            "-o",
            "-f",
            "--filename",
            "--for",
            "--timeout",
            "--container",
            "-c",
            "--tail",
            "--since",
            "--field-selector",
        ],
        "docker" => &[
            "--type",
            "--format",
            "-f",
            "--name",
            "-v",
            "--volume",
            "-e",
            "--env",
            "-p",
            "--publish",
            "--restart",
            "--network",
            "--filter",
            "--label",
            "-l",
            "--mount",
            "--driver",
        ],
        _ => &[],
    }
}

impl Cmd {
    pub fn parse(tool: &str, args: &[String], stdin: Option<String>, timeout: Duration) -> Cmd {
        let takes = value_flags(tool);
        let mut cmd = Cmd {
            tool: tool.to_string(),
            args: args.to_vec(),
            words: vec![],
            flags: BTreeMap::new(),
            switches: BTreeSet::new(),
            stdin,
            timeout,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "-" || !a.starts_with('-') {
                cmd.words.push(a.clone());
            } else if let Some((k, v)) = a.split_once('=') {
                cmd.flags.entry(k.into()).or_default().push(v.into());
            } else if takes.contains(&a.as_str()) {
                let v = it.next().cloned().unwrap_or_default();
                cmd.flags.entry(a.clone()).or_default().push(v);
            } else {
                cmd.switches.insert(a.clone());
            }
        }
        cmd
    }

    /// The last value of `--flag` (or its short alias).
    pub fn flag(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .filter_map(|n| self.flags.get(*n).and_then(|v| v.last()))
            .next()
            .map(String::as_str)
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.contains(switch)
    }

    pub fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }

    /// `--namespace`/`-n`, else `default`.
    pub fn namespace(&self) -> &str {
        self.flag(&["--namespace", "-n"]).unwrap_or("default")
    }
}

/// A tool's answer: stdout on success, or a failure.
pub type Reply = std::result::Result<String, Failure>;

/// A failed call as the tool reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: ToolErrorKind,
    pub stderr: String,
    pub stdout: String,
}

impl Failure {
    /// Exit status `code` with `stderr`.
    pub fn exit(code: i32, stderr: impl Into<String>) -> Failure {
        Failure {
            kind: ToolErrorKind::Exit(code),
            stderr: stderr.into(),
            stdout: String::new(),
        }
    }

    fn unsupported(cmd: &Cmd) -> Failure {
        Failure::exit(
            98,
            format!(
                "fake_tool: `{} {}` is not implemented by the fake",
                cmd.tool,
                cmd.args.join(" ")
            ),
        )
    }
}

/// What an injected fault does. In the process fake
/// ([`process`]), `Timeout` and `LeaveRelease` hang until the child is
/// killed, as a real tool that runs out of time does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FaultAction {
    /// Fail like the tool would (nothing happens).
    Fail(Failure),
    /// The call does its work, then fails anyway (e.g. `helm --wait` that
    /// timed out after the release was recorded).
    FailAfter(Failure),
    /// The call runs out of time (nothing happens).
    Timeout,
    /// Set a release's status after the call did its work, then time out
    /// (an interrupted `helm upgrade --wait` leaves `pending-upgrade`).
    LeaveRelease { status: String },
    /// Print this instead of an answer and exit 0, doing nothing.
    Garbage(String),
}

/// A failure to inject into matching calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub tool: Option<String>,
    /// A substring of the call's `args.join(" ")` ("" matches every call).
    pub matching: String,
    /// Which matching call fires (1-based); 0: every one.
    pub nth: usize,
    pub action: FaultAction,
    seen: usize,
}

impl Fault {
    /// Calls of `tool` whose arguments contain `matching`.
    pub fn on(tool: &str, matching: &str) -> FaultBuilder {
        FaultBuilder(Fault {
            tool: Some(tool.to_string()),
            matching: matching.to_string(),
            nth: 1,
            action: FaultAction::Timeout,
            seen: 0,
        })
    }
}

/// Builds a [`Fault`]: `Fault::on("helm", "upgrade --install arc").fail(1, "Error: boom")`.
pub struct FaultBuilder(Fault);

impl FaultBuilder {
    /// Fire on the `n`th matching call (default 1); 0: on every one.
    pub fn nth(mut self, n: usize) -> Self {
        self.0.nth = n;
        self
    }

    pub fn every(self) -> Self {
        self.nth(0)
    }

    pub fn fail(mut self, code: i32, stderr: &str) -> Fault {
        self.0.action = FaultAction::Fail(Failure::exit(code, stderr));
        self.0
    }

    pub fn fail_after(mut self, code: i32, stderr: &str) -> Fault {
        self.0.action = FaultAction::FailAfter(Failure::exit(code, stderr));
        self.0
    }

    pub fn failure(mut self, failure: Failure) -> Fault {
        self.0.action = FaultAction::Fail(failure);
        self.0
    }

    pub fn timeout(mut self) -> Fault {
        self.0.action = FaultAction::Timeout;
        self.0
    }

    /// Exit 0 without acting, printing `stdout` (e.g. not JSON).
    pub fn garbage(mut self, stdout: &str) -> Fault {
        self.0.action = FaultAction::Garbage(stdout.to_string());
        self.0
    }

    pub fn leave_release(mut self, status: &str) -> Fault {
        self.0.action = FaultAction::LeaveRelease {
            status: status.to_string(),
        };
        self.0
    }
}

/// The latency of the longest prefix of `line` in `table`.
fn latency_for(table: &BTreeMap<String, Duration>, line: &str) -> Option<Duration> {
    table
        .iter()
        .filter(|(p, _)| line.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, d)| *d)
}

/// Counts the call against every fault it matches and returns the action
/// of the one that fires.
fn take_fault(faults: &mut [Fault], program: &str, args: &str) -> Option<FaultAction> {
    for f in faults.iter_mut() {
        if f.tool.as_deref().is_some_and(|t| t != program) || !args.contains(&f.matching) {
            continue;
        }
        f.seen += 1;
        if f.nth == 0 || f.nth == f.seen {
            return Some(f.action.clone());
        }
    }
    None
}

/// A test's own handler for a verb: gets the world and the parsed command.
pub type Handler = Arc<dyn Fn(&mut World, &Cmd) -> Reply + Send + Sync>;

// ---------------------------------------------------------------------------
// The fake.

/// The in-process fake toolchain. Share it by reference: `&FakeCluster` is
/// a [`ToolRunner`].
pub struct FakeCluster {
    world: Mutex<World>,
    calls: Mutex<Vec<Call>>,
    faults: Mutex<Vec<Fault>>,
    latency: Mutex<BTreeMap<String, Duration>>,
    handlers: Mutex<BTreeMap<(String, String), Handler>>,
}

impl Default for FakeCluster {
    fn default() -> Self {
        FakeCluster::new()
    }
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCluster")
            .field("calls", &lock(&self.calls).len())
            .finish_non_exhaustive()
    }
}

impl FakeCluster {
    /// A machine with Docker running and no kind cluster.
    pub fn new() -> Self {
        FakeCluster {
            world: Mutex::new(World::default()),
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            latency: Mutex::new(BTreeMap::new()),
            handlers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Read or change the world.
    pub fn world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.world))
    }

    /// A copy of the world.
    pub fn snapshot(&self) -> World {
        lock(&self.world).clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// The calls as lines (`helm upgrade --install ...`).
    pub fn lines(&self) -> Vec<String> {
        lock(&self.calls).iter().map(Call::line).collect()
    }

    /// How many calls contain `needle` in their line.
    pub fn count(&self, needle: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.line().contains(needle))
            .count()
    }

    /// The lines of the calls that change cluster state.
    pub fn mutating(&self) -> Vec<String> {
        lock(&self.calls)
            .iter()
            .filter(|c| c.mutates())
            .map(Call::line)
            .collect()
    }

    /// Forget recorded calls (to look at the next command's only).
    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Calls whose line starts with `prefix` (`"helm upgrade"`, `"kind"`)
    /// take this long (outside the lock, so concurrent calls overlap).
    pub fn latency(&self, prefix: &str, d: Duration) {
        lock(&self.latency).insert(prefix.to_string(), d);
    }

    /// Answer `tool verb` (e.g. `("docker", "run")`, `("kubectl", "logs")`)
    /// with `f`, before the built-in behaviour.
    pub fn handle(
        &self,
        tool: &str,
        verb: &str,
        f: impl Fn(&mut World, &Cmd) -> Reply + Send + Sync + 'static,
    ) {
        lock(&self.handlers).insert((tool.into(), verb.into()), Arc::new(f));
    }

    /// The most specific latency for `line`.
    fn latency_for(&self, line: &str) -> Option<Duration> {
        latency_for(&lock(&self.latency), line)
    }

    fn take_fault(&self, program: &str, args: &str) -> Option<FaultAction> {
        take_fault(&mut lock(&self.faults), program, args)
    }

    fn dispatch(&self, world: &mut World, cmd: &Cmd) -> Reply {
        let verb = cmd.word(0).unwrap_or("");
        let two = format!("{verb} {}", cmd.word(1).unwrap_or(""));
        let handler = {
            let handlers = lock(&self.handlers);
            handlers
                .get(&(cmd.tool.clone(), two))
                .or_else(|| handlers.get(&(cmd.tool.clone(), verb.to_string())))
                .cloned()
        };
        match handler {
            Some(h) => h(world, cmd),
            None => answer(world, cmd),
        }
    }
}

/// The built-in behaviour of the four tools.
fn answer(world: &mut World, cmd: &Cmd) -> Reply {
    match cmd.tool.as_str() {
        "kind" => kind(world, cmd),
        "docker" => docker(world, cmd),
        "helm" => helm(world, cmd),
        "kubectl" => kubectl(world, cmd),
        _ => Err(Failure::unsupported(cmd)),
    }
}

impl ToolRunner for FakeCluster {
    fn run(&self, inv: &Invocation) -> Result<Output, ToolError> {
        let stdin = inv
            .stdin
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let index = {
            let mut calls = lock(&self.calls);
            calls.push(Call {
                step: inv.step.clone(),
                program: inv.program.clone(),
                args: inv.args.clone(),
                stdin: stdin.clone(),
                timeout: inv.timeout,
                started: Instant::now(),
                ended: None,
            });
            calls.len() - 1
        };
        let error = |kind: ToolErrorKind, stderr: String, stdout: String| ToolError {
            step: inv.step.clone(),
            command: command_line(self, inv),
            kind,
            stderr_tail: stderr.trim_end().to_string(),
            stdout,
        };
        let line = format!("{} {}", inv.program, inv.args.join(" "));
        if let Some(d) = self.latency_for(&line) {
            std::thread::sleep(d.min(inv.timeout));
        }
        let result = if lock(&self.world).missing_tools.contains(&inv.program) {
            Err(error(ToolErrorKind::NotFound, String::new(), String::new()))
        } else {
            let cmd = Cmd::parse(&inv.program, &inv.args, stdin, inv.timeout);
            let fault = self.take_fault(&inv.program, &inv.args.join(" "));
            let mut world = lock(&self.world);
            let reply = match &fault {
                Some(FaultAction::Fail(f)) => Err(f.clone()),
                Some(FaultAction::Timeout) => Err(Failure {
                    kind: ToolErrorKind::Timeout(inv.timeout),
                    stderr: String::new(),
                    stdout: String::new(),
                }),
                Some(FaultAction::FailAfter(f)) => {
                    self.dispatch(&mut world, &cmd).and(Err(f.clone()))
                }
                Some(FaultAction::LeaveRelease { status }) => {
                    let r = self.dispatch(&mut world, &cmd);
                    leave_release(&mut world, &cmd, status);
                    r.and(Err(Failure {
                        kind: ToolErrorKind::Timeout(inv.timeout),
                        stderr: String::new(),
                        stdout: String::new(),
                    }))
                }
                Some(FaultAction::Garbage(text)) => Ok(text.clone()),
                None => self.dispatch(&mut world, &cmd),
            };
            drop(world);
            reply.map_err(|f| error(f.kind, f.stderr, f.stdout))
        };
        lock(&self.calls)[index].ended = Some(Instant::now());
        result.map(|stdout| Output {
            stdout,
            stderr: String::new(),
        })
    }

    fn locate(&self, program: &str) -> Option<PathBuf> {
        (!lock(&self.world).missing_tools.contains(program))
            .then(|| PathBuf::from(format!("/fake/bin/{program}")))
    }
}

/// After an interrupted helm call: the release it named gets `status`.
fn leave_release(world: &mut World, cmd: &Cmd, status: &str) {
    let (Some(context), Some(name)) = (cmd.flag(&["--kube-context"]), release_word(cmd)) else {
        return;
    };
    let ns = cmd.namespace().to_string();
    let key = world.cluster_for_context(context).map(|c| c.name.clone());
    if let Some(cluster) = key.and_then(|k| world.clusters.get_mut(&k))
        && let Some(rev) = cluster.release_mut(&ns, name)
    {
        rev.status = status.to_string();
    }
}

fn release_word(cmd: &Cmd) -> Option<&str> {
    cmd.word(1)
}

// ---------------------------------------------------------------------------
// kind

fn kind(world: &mut World, cmd: &Cmd) -> Reply {
    match (cmd.word(0), cmd.word(1)) {
        (Some("version"), _) => Ok(world.versions["kind"].clone()),
        (Some("get"), Some("clusters")) => {
            if !world.docker_running {
                return Err(docker_down("kind"));
            }
            Ok(world
                .clusters
                .values()
                .filter(|c| !c.existing)
                .map(|c| format!("{}\n", c.name))
                .collect())
        }
        (Some("create"), Some("cluster")) => {
            if !world.docker_running {
                return Err(docker_down("kind"));
            }
            let name = cmd.flag(&["--name"]).unwrap_or("kind").to_string();
            if world.clusters.contains_key(&name) {
                return Err(Failure::exit(
                    1,
                    format!(
                        "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\""
                    ),
                ));
            }
            let config = cmd.stdin.clone().unwrap_or_default();
            let parsed: serde_yaml::Value = serde_yaml::from_str(&config)
                .map_err(|e| Failure::exit(1, format!("ERROR: failed to create cluster: {e}")))?;
            let mut mounts = Vec::new();
            for node in parsed
                .get("nodes")
                .and_then(|n| n.as_sequence())
                .into_iter()
                .flatten()
            {
                for m in node
                    .get("extraMounts")
                    .and_then(|m| m.as_sequence())
                    .into_iter()
                    .flatten()
                {
                    if let (Some(h), Some(c)) = (
                        m.get("hostPath").and_then(|v| v.as_str()),
                        m.get("containerPath").and_then(|v| v.as_str()),
                    ) {
                        mounts.push((h.to_string(), c.to_string()));
                    }
                }
            }
            world.create_cluster(&name, &[]).kind_config = config;
            if let Some(c) = world.containers.get_mut(&format!("{name}-control-plane")) {
                c.mounts = mounts;
            }
            Ok(String::new())
        }
        (Some("delete"), Some("cluster")) => {
            if !world.docker_running {
                return Err(docker_down("kind"));
            }
            let name = cmd.flag(&["--name"]).unwrap_or("kind");
            world.clusters.remove(name);
            world.containers.remove(&format!("{name}-control-plane"));
            Ok(String::new())
        }
        _ => Err(Failure::unsupported(cmd)),
    }
}

fn docker_down(tool: &str) -> Failure {
    let msg = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    match tool {
        "kind" => Failure::exit(1, format!("ERROR: failed to list clusters: {msg}")),
        _ => Failure::exit(1, msg),
    }
}

// ---------------------------------------------------------------------------
// docker

fn docker(world: &mut World, cmd: &Cmd) -> Reply {
    match cmd.word(0) {
        Some("version") => Ok(world.versions["docker"].clone()),
        // `docker info --format '{{json .}}'`; a stopped engine still prints
        // JSON, with `ServerErrors`, and exits 1.
        Some("info") => {
            if cmd.flag(&["--format", "-f"]) != Some("{{json .}}") {
                return Err(Failure::unsupported(cmd));
            }
            if !world.docker_running {
                let msg = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
                return Err(Failure {
                    kind: ToolErrorKind::Exit(1),
                    stderr: String::new(),
                    stdout: json!({"ServerErrors": [msg]}).to_string() + "\n",
                });
            }
            let version = world.versions["docker"].trim().to_string();
            Ok(json!({
                "ServerVersion": version, "OperatingSystem": "Debian GNU/Linux 13 (trixie)",
                "NCPU": 8, "MemTotal": 33_424_261_120u64, "Driver": "overlay2",
                "CgroupVersion": "2", "CgroupDriver": "systemd",
                "DockerRootDir": "/var/lib/docker", "ServerErrors": null,
            })
            .to_string()
                + "\n")
        }
        Some("inspect") => {
            if !world.docker_running {
                return Err(docker_down("docker"));
            }
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in &cmd.words[1..] {
                match world.containers.get(name) {
                    Some(c) => found.push(container_json(c)),
                    None => missing.push(format!("Error: No such container: {name}")),
                }
            }
            let stdout = serde_json::to_string_pretty(&found).unwrap_or_default() + "\n";
            if missing.is_empty() {
                Ok(stdout)
            } else {
                Err(Failure {
                    kind: ToolErrorKind::Exit(1),
                    stderr: missing.join("\n"),
                    stdout,
                })
            }
        }
        Some(verb @ ("run" | "start" | "rm" | "ps" | "network")) => {
            if !world.docker_running {
                return Err(docker_down("docker"));
            }
            match verb {
                "run" => docker_run(world, cmd),
                "start" => {
                    let mut out = String::new();
                    for name in &cmd.words[1..] {
                        let c = world.containers.get_mut(name).ok_or_else(|| {
                            Failure::exit(
                                1,
                                format!("Error response from daemon: No such container: {name}"),
                            )
                        })?;
                        c.running = true;
                        out.push_str(&format!("{name}\n"));
                    }
                    Ok(out)
                }
                "rm" => {
                    let mut out = String::new();
                    for name in &cmd.words[1..] {
                        match world.containers.get(name) {
                            None => {
                                return Err(Failure::exit(
                                    1,
                                    format!(
                                        "Error response from daemon: No such container: {name}"
                                    ),
                                ));
                            }
                            Some(c) if c.running && !cmd.has("--force") => {
                                return Err(Failure::exit(
                                    1,
                                    format!(
                                        "Error response from daemon: cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
                                    ),
                                ));
                            }
                            Some(_) => {
                                world.containers.remove(name);
                                out.push_str(&format!("{name}\n"));
                            }
                        }
                    }
                    Ok(out)
                }
                "ps" => {
                    // `--all --filter label=K[=V] --format {{.Names}}`.
                    let filters: Vec<&str> = cmd
                        .flags
                        .get("--filter")
                        .map(|v| v.iter().map(String::as_str).collect())
                        .unwrap_or_default();
                    if cmd.flag(&["--format"]) != Some("{{.Names}}") {
                        return Err(Failure::unsupported(cmd));
                    }
                    let mut out = String::new();
                    for c in world.containers.values() {
                        if !cmd.has("--all") && !cmd.has("-a") && !c.running {
                            continue;
                        }
                        let keep = filters.iter().all(|f| match f.strip_prefix("label=") {
                            Some(l) => match l.split_once('=') {
                                Some((k, v)) => c.labels.get(k).is_some_and(|x| x == v),
                                None => c.labels.contains_key(l),
                            },
                            None => false,
                        });
                        if keep {
                            out.push_str(&format!("{}\n", c.name));
                        }
                    }
                    Ok(out)
                }
                _ => match (cmd.word(1), cmd.word(2)) {
                    (Some("inspect"), Some(name)) => {
                        if world.networks.contains(name) {
                            Ok(serde_json::to_string_pretty(
                                &json!([{"Name": name, "Driver": "bridge"}]),
                            )
                            .unwrap_or_default()
                                + "\n")
                        } else {
                            Err(Failure::exit(
                                1,
                                format!("Error response from daemon: network {name} not found"),
                            ))
                        }
                    }
                    (Some("create"), Some(name)) => {
                        if !world.networks.insert(name.to_string()) {
                            return Err(Failure::exit(
                                1,
                                format!(
                                    "Error response from daemon: network with name {name} already exists"
                                ),
                            ));
                        }
                        Ok(format!("{:064x}\n", name.len()))
                    }
                    _ => Err(Failure::unsupported(cmd)),
                },
            }
        }
        _ => Err(Failure::unsupported(cmd)),
    }
}

/// `docker run --detach --name N [--restart R] [--network NET] [--label K=V]...
/// [--mount type=bind,source=S,target=T]... [--env K=V]... [-p P]... IMAGE`.
fn docker_run(world: &mut World, cmd: &Cmd) -> Reply {
    if !cmd.has("--detach") && !cmd.has("-d") {
        return Err(Failure::unsupported(cmd));
    }
    let all = |f: &[&str]| -> Vec<String> {
        f.iter()
            .flat_map(|n| cmd.flags.get(*n).cloned().unwrap_or_default())
            .collect()
    };
    let Some(name) = cmd.flag(&["--name"]).map(String::from) else {
        return Err(Failure::unsupported(cmd));
    };
    let Some(image) = cmd.word(1).map(String::from) else {
        return Err(Failure::exit(
            1,
            "\"docker run\" requires at least 1 argument.",
        ));
    };
    if world.containers.contains_key(&name) {
        return Err(Failure::exit(
            125,
            format!(
                "docker: Error response from daemon: Conflict. The container name \"/{name}\" is already in use by container \"0123456789ab\". You have to remove (or rename) that container to be able to reuse that name."
            ),
        ));
    }
    let network = cmd.flag(&["--network"]).map(String::from);
    if let Some(net) = &network
        && !world.networks.contains(net)
    {
        return Err(Failure::exit(
            125,
            format!("docker: Error response from daemon: network {net} not found."),
        ));
    }
    let mut mounts = Vec::new();
    for m in all(&["--mount"]) {
        let fields: BTreeMap<&str, &str> = m.split(',').filter_map(|f| f.split_once('=')).collect();
        match (
            fields.get("type"),
            fields.get("source"),
            fields.get("target"),
        ) {
            (Some(&"bind"), Some(src), Some(dst)) => {
                if !std::path::Path::new(src).exists() {
                    return Err(Failure::exit(
                        125,
                        format!(
                            "docker: Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: {src}"
                        ),
                    ));
                }
                mounts.push((src.to_string(), dst.to_string()));
            }
            _ => return Err(Failure::unsupported(cmd)),
        }
    }
    let labels = all(&["--label", "-l"])
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    world.containers.insert(
        name.clone(),
        Container {
            name,
            running: true,
            mounts,
            labels,
            run: Some(RunSpec {
                image,
                network,
                restart: cmd.flag(&["--restart"]).map(String::from),
                env: all(&["--env", "-e"]),
                publish: all(&["--publish", "-p"]),
            }),
        },
    );
    Ok("4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b\n".into())
}

fn container_json(c: &Container) -> Json {
    json!({
        "Name": format!("/{}", c.name),
        "State": {"Status": if c.running { "running" } else { "exited" }, "Running": c.running},
        "Mounts": c.mounts.iter().map(|(s, d)| json!({"Type": "bind", "Source": s, "Destination": d})).collect::<Vec<_>>(),
        "Config": {"Labels": c.labels, "Image": c.run.as_ref().map(|r| r.image.clone())},
    })
}

// ---------------------------------------------------------------------------
// Kubernetes access shared by helm and kubectl.

/// The cluster a context names, or the tool's error for it.
fn reach<'w>(world: &'w mut World, cmd: &Cmd, flag: &str) -> Result<&'w mut Cluster, Failure> {
    let Some(context) = cmd.flag(&[flag]) else {
        return Err(match cmd.tool.as_str() {
            "helm" => Failure::exit(
                1,
                "Error: Kubernetes cluster unreachable: no current context",
            ),
            _ => Failure::exit(
                1,
                "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
            ),
        });
    };
    let Some(name) = world.cluster_for_context(context).map(|c| c.name.clone()) else {
        return Err(match cmd.tool.as_str() {
            "helm" => Failure::exit(
                1,
                format!(
                    "Error: Kubernetes cluster unreachable: context \"{context}\" does not exist"
                ),
            ),
            _ => Failure::exit(1, format!("error: context \"{context}\" does not exist")),
        });
    };
    let existing = world.clusters.get(&name).is_some_and(|c| c.existing);
    if existing && world.clusters.get(&name).is_some_and(|c| c.unreachable) {
        return Err(Failure::exit(
            1,
            match cmd.tool.as_str() {
                "helm" => {
                    "Error: Kubernetes cluster unreachable: Get \"https://10.0.0.1:6443/version\": dial tcp 10.0.0.1:6443: i/o timeout"
                }
                _ => "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout",
            },
        ));
    }
    if !existing && (!world.docker_running || !world.node_running(&name)) {
        return Err(Failure::exit(
            1,
            "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
        ));
    }
    Ok(world.clusters.get_mut(&name).expect("looked up above"))
}

fn not_found(info: &KindInfo, name: &str) -> Failure {
    Failure::exit(
        1,
        format!(
            "Error from server (NotFound): {} \"{name}\" not found",
            info.names[0]
        ),
    )
}

/// The kind `text` names, if the cluster serves it.
fn resolve(cluster: &Cluster, text: &str) -> Result<&'static KindInfo, Failure> {
    kind_info(text)
        .filter(|k| k.crd.is_none_or(|crd| cluster.has_crd(crd)))
        .ok_or_else(|| {
            Failure::exit(
                1,
                format!("error: the server doesn't have a resource type \"{text}\""),
            )
        })
}

// ---------------------------------------------------------------------------
// helm

const CONTROLLER_CHART: &str = crate::model::CONTROLLER_CHART;
const SCALE_SET_CHART: &str = crate::model::SCALE_SET_CHART;

fn helm(world: &mut World, cmd: &Cmd) -> Reply {
    if cmd.word(0) == Some("version") {
        return Ok(world.versions["helm"].clone());
    }
    let cluster = reach(world, cmd, "--kube-context")?;
    let ns = cmd.namespace().to_string();
    match cmd.word(0) {
        Some("list") => {
            let selector = Selector::parse(cmd.flag(&["--selector", "-l"]).unwrap_or(""));
            let all = cmd.has("--all") || cmd.has("-a");
            let rows: Vec<Json> = cluster
                .releases
                .iter()
                .filter(|((rns, _), _)| *rns == ns)
                .filter_map(|((rns, name), history)| {
                    let rev = history.last()?;
                    let visible = all || matches!(rev.status.as_str(), "deployed" | "failed");
                    (visible && selector.matches(&rev.labels)).then(|| {
                        json!({
                            "name": name,
                            "namespace": rns,
                            "revision": rev.revision.to_string(),
                            "updated": "2026-01-01 00:00:00.000000000 +0000 UTC",
                            "status": rev.status,
                            "chart": format!("{}-{}", rev.chart, rev.chart_version),
                            "app_version": rev.chart_version,
                        })
                    })
                })
                .collect();
            match cmd.flag(&["--output", "-o"]) {
                Some("json") => Ok(serde_json::to_string(&rows).unwrap_or_default() + "\n"),
                _ => Err(Failure::unsupported(cmd)),
            }
        }
        Some("upgrade") | Some("install") => helm_upgrade(cluster, cmd, &ns),
        Some("uninstall") => {
            let name = cmd.word(1).unwrap_or("");
            let Some(history) = cluster.releases.remove(&(ns.clone(), name.to_string())) else {
                return Err(Failure::exit(
                    1,
                    format!("Error: uninstall: Release not loaded: {name}: release: not found"),
                ));
            };
            for rev in &history {
                for key in &rev.objects {
                    cluster.remove(key);
                }
            }
            Ok(format!("release \"{name}\" uninstalled\n"))
        }
        Some("rollback") => {
            let name = cmd.word(1).unwrap_or("").to_string();
            let key = (ns.clone(), name.clone());
            let Some(history) = cluster.releases.get(&key) else {
                return Err(Failure::exit(1, "Error: release: not found"));
            };
            let current = history.last().map_or(0, |r| r.revision);
            let Some(target) = history
                .iter()
                .rev()
                .find(|r| {
                    r.revision != current && matches!(r.status.as_str(), "deployed" | "superseded")
                })
                .cloned()
            else {
                return Err(Failure::exit(
                    1,
                    format!(
                        "Error: release has no {} version",
                        current.saturating_sub(1)
                    ),
                ));
            };
            install_revision(
                cluster,
                &ns,
                &name,
                target.chart,
                target.chart_version,
                target.values,
                target.labels,
            )?;
            Ok("Rollback was a success! Happy Helming!\n".into())
        }
        _ => Err(Failure::unsupported(cmd)),
    }
}

fn helm_upgrade(cluster: &mut Cluster, cmd: &Cmd, ns: &str) -> Reply {
    let (Some(name), Some(source)) = (cmd.word(1), cmd.word(2)) else {
        return Err(Failure::exit(
            1,
            "Error: \"helm upgrade\" requires 2 arguments",
        ));
    };
    let name = name.to_string();
    if let Some(rev) = cluster.release(ns, &name) {
        if rev.status.starts_with("pending-") {
            return Err(Failure::exit(
                1,
                "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
            ));
        }
    } else if cmd.word(0) == Some("upgrade") && !cmd.has("--install") {
        return Err(Failure::exit(
            1,
            format!("Error: UPGRADE FAILED: \"{name}\" has no deployed releases"),
        ));
    }
    let (chart, version) = chart_of(source, cmd.flag(&["--version"]))?;
    let values: Json = match (cmd.flag(&["--values", "-f"]), &cmd.stdin) {
        (Some("-"), Some(text)) => serde_yaml::from_str::<Json>(text)
            .map_err(|e| Failure::exit(1, format!("Error: failed to parse values: {e}")))?,
        (None, _) => json!({}),
        _ => return Err(Failure::unsupported(cmd)),
    };
    let values = if values.is_null() { json!({}) } else { values };
    if !values.is_object() {
        return Err(Failure::exit(1, "Error: values must be a map"));
    }
    let labels: BTreeMap<String, String> = cmd
        .flag(&["--labels"])
        .unwrap_or("")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    install_revision(cluster, ns, &name, chart, version, values, labels)?;
    Ok(format!(
        "Release \"{name}\" has been upgraded. Happy Helming!\n"
    ))
}

/// Chart name and version from a chart reference.
fn chart_of(source: &str, version: Option<&str>) -> Result<(String, String), Failure> {
    let path = std::path::Path::new(source);
    if !source.contains("://") {
        let text = std::fs::read_to_string(path.join("Chart.yaml"))
            .map_err(|_| Failure::exit(1, format!("Error: path \"{source}\" not found")))?;
        let meta: serde_yaml::Value = serde_yaml::from_str(&text)
            .map_err(|e| Failure::exit(1, format!("Error: Chart.yaml: {e}")))?;
        let s = |k: &str| {
            meta.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        return Ok((s("name"), s("version")));
    }
    let name = source
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if ![CONTROLLER_CHART, SCALE_SET_CHART].contains(&name) {
        return Err(Failure::exit(
            1,
            format!("Error: {source}:{}: not found", version.unwrap_or("latest")),
        ));
    }
    Ok((name.to_string(), version.unwrap_or("0.14.2").to_string()))
}

/// Record a new deployed revision and (re)make the objects its chart makes.
fn install_revision(
    cluster: &mut Cluster,
    ns: &str,
    name: &str,
    chart: String,
    chart_version: String,
    values: Json,
    labels: BTreeMap<String, String>,
) -> Result<(), Failure> {
    let objects = render_chart(cluster, ns, name, &chart, &chart_version, &values)?;
    let keys: Vec<ObjKey> = objects.iter().map(key_of).collect();
    // Objects the last revision made and this one does not are deleted.
    if let Some(prev) = cluster.release(ns, name) {
        let stale: Vec<ObjKey> = prev
            .objects
            .iter()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for k in stale {
            cluster.remove(&k);
        }
    }
    for o in objects {
        cluster.put(o);
    }
    let history = cluster
        .releases
        .entry((ns.to_string(), name.to_string()))
        .or_default();
    for old in history.iter_mut() {
        if old.status == "deployed" {
            old.status = "superseded".into();
        }
    }
    let revision = history.last().map_or(1, |r| r.revision + 1);
    history.push(Revision {
        revision,
        status: "deployed".into(),
        chart,
        chart_version,
        values,
        labels,
        objects: keys,
    });
    Ok(())
}

/// What the controller chart makes, as far as deskrun reads it back: the
/// CRDs (served at v1alpha1) and the Deployment with the chart's labels.
fn controller_objects(ns: &str, release: &str, version: &str) -> Vec<Json> {
    let mut objs: Vec<Json> = ARC_CRDS
        .iter()
        .map(|crd| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": crd, "namespace": ""},
                   "spec": {"versions": [{"name": "v1alpha1", "served": true, "storage": true}]},
                   "status": {"conditions": [{"type": "Established", "status": "True"}]}})
        })
        .collect();
    objs.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("{release}-gha-rs-controller"), "namespace": ns,
                     "labels": {"app.kubernetes.io/part-of": "gha-rs-controller",
                                "app.kubernetes.io/instance": release,
                                "app.kubernetes.io/namespace": ns,
                                "app.kubernetes.io/version": version,
                                "helm.sh/chart": format!("gha-rs-controller-{version}")}},
        "status": {"readyReplicas": 1}}));
    objs
}

/// What the ARC charts make, as far as deskrun reads it back.
fn render_chart(
    cluster: &Cluster,
    ns: &str,
    release: &str,
    chart: &str,
    chart_version: &str,
    values: &Json,
) -> Result<Vec<Json>, Failure> {
    let meta = |labels: Json, annotations: Json| json!({"name": release, "namespace": ns, "labels": labels, "annotations": annotations});
    match chart {
        CONTROLLER_CHART => {
            let mut objs = controller_objects(ns, release, chart_version);
            // The Deployment's pod, as ARC labels it (`deskrun logs --controller`).
            let mut pod = arc::controller_pod(arc::running(&["manager"]));
            pod["metadata"]["name"] = json!(format!("{release}-gha-rs-controller-6d5f8b7c9-x2x7q"));
            pod["metadata"]["namespace"] = json!(ns);
            objs.push(pod);
            Ok(objs)
        }
        SCALE_SET_CHART => {
            if !cluster.has_crd("autoscalingrunnersets.actions.github.com") {
                return Err(Failure::exit(
                    1,
                    format!(
                        "Error: UPGRADE FAILED: resource mapping not found for name: \"{release}\" namespace: \"{ns}\" from \"\": \
                         no matches for kind \"AutoscalingRunnerSet\" in version \"actions.github.com/v1alpha1\"\n\
                         ensure CRDs are installed first"
                    ),
                ));
            }
            for field in ["githubConfigUrl", "githubConfigSecret"] {
                if values.get(field).is_none_or(Json::is_null) {
                    return Err(Failure::exit(
                        1,
                        format!(
                            "Error: values don't meet the specifications of the schema(s): {field} is required"
                        ),
                    ));
                }
            }
            let labels = values.get("labels").cloned().unwrap_or(json!({}));
            let annotations = values.get("annotations").cloned().unwrap_or(json!({}));
            let name = values
                .get("runnerScaleSetName")
                .and_then(Json::as_str)
                .unwrap_or(release);
            let mut ars = json!({
                "apiVersion": "actions.github.com/v1alpha1",
                "kind": "AutoscalingRunnerSet",
                "metadata": meta(labels, annotations),
                "spec": {"runnerScaleSetName": name,
                         "minRunners": values.get("minRunners"), "maxRunners": values.get("maxRunners")},
                "status": {"currentRunners": 0, "pendingEphemeralRunners": 0, "runningEphemeralRunners": 0},
            });
            // As the chart copies them into the runner set's spec.
            for key in ["proxy", "githubServerTLS"] {
                if let Some(v) = values.get(key).filter(|v| !v.is_null()) {
                    ars["spec"][key] = v.clone();
                }
            }
            let controller_runs = cluster
                .objects
                .keys()
                .any(|k| k.kind == "Deployment" && k.name.ends_with("-gha-rs-controller"));
            let mut objs = vec![ars];
            if controller_runs {
                // The listener the controller starts for the scale set.
                let mut pod = arc::listener_pod(release, arc::running(&["listener"]));
                pod["metadata"]["namespace"] = json!(ns);
                objs.push(pod);
            }
            Ok(objs)
        }
        other => Err(Failure::exit(
            1,
            format!("fake_tool: chart {other} is not implemented by the fake"),
        )),
    }
}

// ---------------------------------------------------------------------------
// kubectl

fn kubectl(world: &mut World, cmd: &Cmd) -> Reply {
    if cmd.word(0) == Some("version") && cmd.has("--client") {
        return Ok(world.versions["kubectl"].clone());
    }
    if (cmd.word(0), cmd.word(1)) == (Some("config"), Some("get-contexts")) {
        if cmd.flag(&["--output", "-o"]) != Some("name") {
            return Err(Failure::unsupported(cmd));
        }
        return Ok(world
            .context_names()
            .iter()
            .map(|c| format!("{c}\n"))
            .collect());
    }
    let cluster = reach(world, cmd, "--context")?;
    if (cmd.word(0), cmd.word(1)) == (Some("auth"), Some("can-i")) {
        let (Some(verb), Some(resource)) = (cmd.word(2), cmd.word(3)) else {
            return Err(Failure::exit(
                1,
                "error: you must specify two arguments: verb resource",
            ));
        };
        let mut question = format!("{verb} {resource}");
        if cmd.has("--all-namespaces") || cmd.has("-A") {
            question.push_str(" --all-namespaces");
        }
        return if cluster.denied.contains(&question) {
            Err(Failure {
                kind: ToolErrorKind::Exit(1),
                stderr: String::new(),
                stdout: "no\n".into(),
            })
        } else {
            Ok("yes\n".into())
        };
    }
    let ns = cmd.namespace().to_string();
    match cmd.word(0) {
        Some("get") => kubectl_get(cluster, cmd, &ns),
        Some("logs") => arc::kubectl_logs(cluster, cmd, &ns),
        Some("apply") => kubectl_apply(cluster, cmd, &ns),
        Some("delete") => kubectl_delete(cluster, cmd, &ns),
        Some("wait") => {
            let mut out = String::new();
            for target in &cmd.words[1..] {
                let (kind, name) = target.split_once('/').unwrap_or((target, ""));
                let info = resolve(cluster, kind)?;
                let ns = if info.namespaced { ns.as_str() } else { "" };
                if cluster.get(info.kind, ns, name).is_none() {
                    return Err(not_found(info, name));
                }
                out.push_str(&format!("{}/{name} condition met\n", info.names[0]));
            }
            Ok(out)
        }
        _ => Err(Failure::unsupported(cmd)),
    }
}

fn kubectl_get(cluster: &Cluster, cmd: &Cmd, ns: &str) -> Reply {
    let types = cmd.word(1).unwrap_or("");
    let infos = types
        .split(',')
        .map(|t| resolve(cluster, t))
        .collect::<Result<Vec<_>, _>>()?;
    let selector = Selector::parse(cmd.flag(&["--selector", "-l"]).unwrap_or(""));
    let fields = cmd.flag(&["--field-selector"]).unwrap_or("");
    let names = &cmd.words[2..];
    let all_namespaces = cmd.has("--all-namespaces") || cmd.has("-A");
    let mut items: Vec<Json> = Vec::new();
    for info in &infos {
        let ns = (info.namespaced && !all_namespaces).then_some(ns);
        if names.is_empty() {
            items.extend(
                cluster
                    .list(info.kind, ns, &selector)
                    .into_iter()
                    .filter(|o| arc::fields_match(o, fields))
                    .cloned(),
            );
        } else {
            for n in names {
                match cluster.get(info.kind, ns.unwrap_or(""), n) {
                    Some(o) => items.push(o.clone()),
                    None if cmd.has("--ignore-not-found") => {}
                    None => return Err(not_found(info, n)),
                }
            }
        }
    }
    if cmd.flag(&["--output", "-o"]) != Some("json") {
        return Err(Failure::unsupported(cmd));
    }
    let doc = if names.len() == 1 && infos.len() == 1 {
        items.pop().unwrap_or(Json::Null)
    } else {
        json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
    };
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}

fn kubectl_apply(cluster: &mut Cluster, cmd: &Cmd, ns: &str) -> Reply {
    if cmd.flag(&["-f", "--filename"]) != Some("-") {
        return Err(Failure::unsupported(cmd));
    }
    let text = cmd.stdin.clone().unwrap_or_default();
    let doc: Json = serde_yaml::from_str(&text)
        .map_err(|e| Failure::exit(1, format!("error: error parsing STDIN: {e}")))?;
    let objs = match doc.get("kind").and_then(Json::as_str) {
        Some("List") => doc
            .get("items")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => vec![doc],
    };
    let mut out = String::new();
    for mut obj in objs {
        let kind = obj
            .get("kind")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let info = resolve(cluster, &kind)?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            return Err(Failure::exit(
                1,
                "error: error when retrieving current configuration: resource name may not be empty",
            ));
        }
        let obj_ns = obj
            .pointer("/metadata/namespace")
            .and_then(Json::as_str)
            .map(String::from);
        if let Some(o) = &obj_ns
            && o != ns
        {
            return Err(Failure::exit(
                1,
                format!(
                    "error: the namespace from the provided object \"{o}\" does not match the namespace \"{ns}\". You must pass '--namespace={o}' to perform this operation."
                ),
            ));
        }
        obj["metadata"]["namespace"] = json!(if info.namespaced { ns } else { "" });
        let verb = match cluster.get(info.kind, if info.namespaced { ns } else { "" }, &name) {
            None => "created",
            Some(old) if *old == obj => "unchanged",
            Some(_) => "configured",
        };
        cluster.put(obj);
        out.push_str(&format!("{}/{name} {verb}\n", info.names[1]));
    }
    Ok(out)
}

fn kubectl_delete(cluster: &mut Cluster, cmd: &Cmd, ns: &str) -> Reply {
    let info = resolve(cluster, cmd.word(1).unwrap_or(""))?;
    let ns = if info.namespaced { ns } else { "" };
    let ignore = cmd.has("--ignore-not-found");
    let mut keys = Vec::new();
    if let Some(sel) = cmd.flag(&["--selector", "-l"]) {
        let selector = Selector::parse(sel);
        keys.extend(
            cluster
                .list(info.kind, Some(ns), &selector)
                .into_iter()
                .map(key_of),
        );
    }
    for name in &cmd.words[2..] {
        let key = ObjKey::new(info.kind, ns, name);
        if cluster.objects.contains_key(&key) {
            keys.push(key);
        } else if !ignore {
            return Err(not_found(info, name));
        }
    }
    let mut out = String::new();
    for k in keys {
        cluster.remove(&k);
        out.push_str(&format!("{} \"{}\" deleted\n", info.names[1], k.name));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// A ready-made environment: a config store in a temp dir and a session on
// the fake.

/// This machine as a test wants it: kind's inotify limits, plenty of disk,
/// and no process but the ones listed (`up` looks for a live helm there).
#[derive(Debug, Clone)]
pub struct FakeHost {
    pub sysctl: BTreeMap<String, String>,
    pub free: u64,
    pub tmpfs: bool,
    /// Free space of the file systems under these directories instead.
    pub free_under: Vec<(PathBuf, u64)>,
    pub processes: Vec<crate::host::HostProcess>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            sysctl: [
                ("fs.inotify.max_user_watches", "524288"),
                ("fs.inotify.max_user_instances", "512"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            free: 100 << 30,
            tmpfs: false,
            free_under: vec![],
            processes: vec![],
        }
    }
}

impl crate::host::Host for FakeHost {
    fn sysctl(&self, name: &str) -> Option<String> {
        self.sysctl.get(name).cloned()
    }

    fn fs(&self, path: &std::path::Path) -> Option<crate::host::FsInfo> {
        let free = self
            .free_under
            .iter()
            .find(|(dir, _)| path.starts_with(dir))
            .map_or(self.free, |(_, free)| *free);
        Some(crate::host::FsInfo {
            free,
            tmpfs: self.tmpfs,
        })
    }

    fn processes(&self, wanted: &dyn Fn(&[String]) -> bool) -> Vec<crate::host::HostProcess> {
        self.processes
            .iter()
            .filter(|p| wanted(&p.argv))
            .cloned()
            .collect()
    }
}

/// A temp dir with a config (cache root inside it), a [`FakeCluster`], a
/// [`FakeHost`], and sessions that run deskrun's operations against them.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub fake: FakeCluster,
    pub host: FakeHost,
    pub cache_root: PathBuf,
    /// `cluster.mirror_root`, in the sandbox.
    pub mirror_root: PathBuf,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

/// The token of [`request`]'s installations.
pub const TOKEN: &str = "fake-token-for-tests-0001";

/// `deskrun add NAME --repository https://github.com/owner/repo` with a PAT.
pub fn request(name: &str) -> AddRequest {
    AddRequest {
        name: name.to_string(),
        repository: "https://github.com/owner/repo".into(),
        mode: crate::model::Mode::Kubernetes,
        min_runners: None,
        max_runners: None,
        instances: 1,
        caches: vec![],
        node: None,
        auth: crate::model::Auth::Pat {
            token: TOKEN.into(),
        },
        replace: false,
        ..Default::default()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config/config.yaml");
        let cache_root = dir.path().join("cache");
        let mirror_root = dir.path().join("registry");
        let quoted =
            |p: &PathBuf| serde_json::to_string(&p.display().to_string()).expect("a string");
        std::fs::create_dir_all(config.parent().expect("has a parent")).expect("config dir");
        // Registry mirrors off unless a test turns them on ([`Env::mirrors`]);
        // their data would go in the sandbox.
        std::fs::write(
            &config,
            format!(
                "version: 1\ncluster:\n  cache_root: {}\n  mirror_root: {}\n  registry_mirrors: []\n",
                quoted(&cache_root),
                quoted(&mirror_root),
            ),
        )
        .expect("config written");
        Env {
            store: Store::new(config),
            fake: FakeCluster::new(),
            host: FakeHost::default(),
            cache_root,
            mirror_root,
            dir,
        }
    }

    /// Mirror these registries (`cluster.registry_mirrors`), data in the sandbox.
    pub fn mirrors(&self, upstreams: &[&str]) {
        self.store
            .update(|c| {
                c.cluster.registry_mirrors = upstreams.iter().map(|u| u.to_string()).collect();
                Ok(())
            })
            .expect("config updated");
    }

    /// `deskrun add` with `req`.
    pub fn add(&self, req: &AddRequest) {
        crate::ops::add::add(&self.store, req).expect("add");
    }

    /// Run `f` with a session on the fake, redacting the config's secrets
    /// as the CLI does; no progress output.
    pub fn with<T>(&self, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
        self.with_host(&self.host, f)
    }

    /// [`Env::with`] on another host.
    pub fn with_host<T>(
        &self,
        host: &dyn crate::host::Host,
        f: impl FnOnce(&Session) -> Result<T>,
    ) -> Result<T> {
        let secrets = self.store.load().map(|c| c.secrets()).unwrap_or_default();
        let runner = Redact::new(&self.fake, secrets);
        let progress = Progress::new(&crate::output::Printer::silent(), true);
        let session = Session {
            store: &self.store,
            runner: &runner,
            host,
            progress: &progress,
            timeouts: Timeouts::default(),
            cache_dir: None,
        };
        f(&session)
    }

    pub fn up(&self, opts: &crate::ops::up::UpOptions) -> Result<crate::ops::up::UpReport> {
        self.with(|s| crate::ops::up::up(s, opts))
    }

    pub fn down(
        &self,
        opts: &crate::ops::down::DownOptions,
    ) -> Result<crate::ops::down::DownReport> {
        self.with(|s| crate::ops::down::down(s, opts))
    }

    pub fn status(&self, only: Option<&str>) -> Result<crate::ops::status::StatusReport> {
        self.with(|s| crate::ops::status::status(s, only))
    }
}
