//! `deskrun doctor`: find what will break the first job before anything is
//! deployed. Read-only, here and on GitHub. Every check is a
//! [`Check`](crate::checks::Check): ok, skip, warn or fail, what was found,
//! and the one thing to do.
//!
//! Which checks run follows `cluster.provider`, as `up` does:
//! - kind: the tools (docker, kind, helm, kubectl), the Docker engine
//!   (cgroup version, storage driver), kind's inotify limits, free space
//!   (cache root, custom cache host paths, Docker's root dir, the mirrors'
//!   data), the cache root; when the cluster exists its node container,
//!   cache mounts, registry mirrors, context, node Ready, the ARC controller
//!   and its pod;
//! - existing: helm and kubectl only (never docker or kind), the context
//!   answers, nodes Ready, pinned nodes, the cache claims' storage class,
//!   the context's permissions, and the controller (managed: no other one,
//!   ours deployed and ready; external: its CRDs and version);
//! - GitHub, per installation (skipped with `--offline`).

use crate::checks::{Check, Status, worst};
use crate::controllers;
use crate::github::{self, GithubApi};
use crate::host::{FsInfo, Host, existing_ancestor, human_bytes, writable};
use crate::mirrors::{self, MirrorAction, MirrorState};
use crate::model::{CONTROLLER_RELEASE, Config, Provider};
use crate::observed::{NodeInfo, name_of};
use crate::ops::session::{Session, parallel};
use crate::ops::up::check_names;
use crate::permissions;
use crate::render::cache_mounts;
use crate::tools::{self, ARC_CRDS, DOCKER, HELM, KIND, KUBECTL, Kube, Tool, ToolProbe};
use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;
use std::path::Path;

/// kind's known-issues page: below these, nodes fail with "too many open files".
pub const MIN_INOTIFY_WATCHES: u64 = 524_288;
pub const MIN_INOTIFY_INSTANCES: u64 = 512;
/// Free space: below the first `up` will fail; below the second, images and
/// caches soon fill the disk.
pub const FAIL_FREE_BYTES: u64 = 2 << 30;
pub const WARN_FREE_BYTES: u64 = 10 << 30;
/// The label of the ARC controller's pod (chart gha-runner-scale-set-controller).
const CONTROLLER_POD_SELECTOR: &str = "app.kubernetes.io/component=controller-manager";

#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Installations whose GitHub credentials to check; empty = all.
    pub names: Vec<String>,
    /// Do not contact GitHub.
    pub offline: bool,
}

/// The stable shape of `deskrun doctor --output json` (see README).
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The worst status of all checks.
    pub status: Status,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    pub fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

pub fn doctor(s: &Session, api: &dyn GithubApi, opts: &DoctorOptions) -> Result<DoctorReport> {
    let config = s.store.load()?;
    check_names(&config, &opts.names)?;
    // The provider decides what there is to check, as it decides what `up` does.
    let mut checks = match config.cluster.provider {
        Provider::Kind => kind_checks(s, s.host, &config),
        Provider::Existing => existing_checks(s, &config),
    };
    checks.extend(github_checks(api, &config, opts));
    Ok(DoctorReport {
        status: worst(&checks),
        checks,
    })
}

/// A kind cluster: this machine runs it, so its Docker engine, kernel
/// limits and disks are checked, then the cluster when it exists.
fn kind_checks(s: &Session, host: &dyn Host, config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let tools_ok = tool_checks(s, &[DOCKER, KIND, HELM, KUBECTL], &mut checks);
    let docker = if tools_ok.has(DOCKER) {
        docker_checks(s, &mut checks)
    } else {
        None
    };
    checks.push(inotify_check(host));
    checks.extend(cache_root_checks(host, config));
    checks.extend(cache_path_space_checks(host, config));
    if let Some(root) = docker
        .as_ref()
        .and_then(|d| d["DockerRootDir"].as_str())
        .filter(|r| !r.is_empty())
    {
        checks.push(space_check(
            host,
            "disk.docker-root",
            "Docker's root dir",
            root,
        ));
    }
    checks.extend(mirror_root_checks(host, config));
    if tools_ok.has(DOCKER) && tools_ok.has(KIND) && docker.is_some() {
        cluster_checks(
            s,
            config,
            tools_ok.has(HELM) && tools_ok.has(KUBECTL),
            &mut checks,
        );
    }
    checks
}

/// An existing cluster: nothing of it runs here, so neither docker nor
/// kind is run (nor the host checks that are about kind's node).
fn existing_checks(s: &Session, config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let tools_ok = tool_checks(s, &[HELM, KUBECTL], &mut checks);
    if !config.cluster.registry_mirrors.is_empty() {
        checks.push(Check::skip(
            "mirror.container",
            format!(
                "registry mirrors ({}) run next to a kind cluster only; on the existing cluster of context {} \
                 deskrun runs none, and image pulls go where its nodes' container runtime is configured to \
                 (ask its admins about a mirror)",
                config.cluster.registry_mirrors.join(", "),
                config.cluster.context()
            ),
        ));
    }
    if tools_ok.has(KUBECTL) {
        existing_cluster_checks(s, config, tools_ok.has(HELM), &mut checks);
    }
    checks
}

/// The tools that were found and recent enough.
struct ToolsOk(Vec<&'static str>);

impl ToolsOk {
    fn has(&self, tool: Tool) -> bool {
        self.0.contains(&tool.name)
    }
}

fn tool_checks(s: &Session, tools: &[Tool], checks: &mut Vec<Check>) -> ToolsOk {
    let probes = tools::probe_tools(s.runner, tools, s.cache_dir.as_deref());
    let mut ok = Vec::new();
    for (tool, probe) in tools.iter().zip(probes) {
        let id = format!("tool.{}", tool.name);
        checks.push(match probe {
            ToolProbe::Missing => Check::fail(
                &id,
                format!("`{}` was not found on PATH", tool.name),
                format!("install it: {}", tool.install_hint()),
            ),
            // `docker version` also fails when the engine is down.
            ToolProbe::Unreadable { error, .. } if tool.name == DOCKER.name => Check::fail(
                &id,
                format!("{error:#}"),
                format!(
                    "start the Docker engine (`sudo systemctl start docker`, or open Docker Desktop) and make sure you may use it without sudo (the docker group); if it runs, reinstall docker: {}",
                    tool.install_hint()
                ),
            ),
            ToolProbe::Unreadable { error, path } => Check::fail(
                &id,
                format!("{error:#}"),
                format!(
                    "run `{}` to see what is wrong with it; reinstall it: {}",
                    path.display(),
                    tool.install_hint()
                ),
            ),
            ToolProbe::Found { path, version } if version < tool.min_version => Check::fail(
                &id,
                tool.too_old(&path, version),
                format!("upgrade it: {}", tool.install_hint()),
            ),
            ToolProbe::Found { path, version } => {
                ok.push(tool.name);
                let (a, b, c) = version;
                Check::ok(&id, format!("{} {a}.{b}.{c} at {}", tool.name, path.display()))
            }
        });
    }
    ToolsOk(ok)
}

/// The engine answers, its cgroup version and storage driver. Returns
/// `docker info` when the engine answered.
fn docker_checks(s: &Session, checks: &mut Vec<Check>) -> Option<Json> {
    let info = match tools::docker_info(s.runner, s.timeouts) {
        Ok(info) => info,
        Err(e) => {
            checks.push(Check::fail(
                "docker.engine",
                format!("the Docker engine does not answer: {e:#}"),
                "start it (`sudo systemctl start docker`, or open Docker Desktop) and make sure you may use it (`docker info` works without sudo: add yourself to the docker group)",
            ));
            return None;
        }
    };
    let text = |k: &str| info[k].as_str().unwrap_or("?").to_string();
    let mut facts = format!("Docker Engine {} answers", text("ServerVersion"));
    if let (Some(os), Some(cpus)) = (info["OperatingSystem"].as_str(), info["NCPU"].as_u64()) {
        facts.push_str(&format!(" ({os}, {cpus} CPUs"));
        if let Some(mem) = info["MemTotal"].as_u64() {
            facts.push_str(&format!(", {}", human_bytes(mem)));
        }
        facts.push(')');
    }
    checks.push(Check::ok("docker.engine", facts));

    checks.push(match info["CgroupVersion"].as_str() {
        Some("2") => Check::ok(
            "docker.cgroup",
            format!("cgroup v2 (driver {})", text("CgroupDriver")),
        ),
        Some("1") => Check::warn(
            "docker.cgroup",
            "the engine runs on cgroup v1: Kubernetes has moved cgroup v1 to maintenance mode and newer kind node images may not start on it",
            "switch the host to cgroup v2 (the default of current distributions; on older ones boot with systemd.unified_cgroup_hierarchy=1)",
        ),
        other => Check::warn(
            "docker.cgroup",
            format!("docker info reports no known cgroup version ({other:?})"),
            "check `docker info`; kind needs a Linux engine with cgroups",
        ),
    });

    let driver = text("Driver");
    checks.push(match driver.as_str() {
        "overlay2" | "overlayfs" | "btrfs" | "zfs" | "fuse-overlayfs" => {
            Check::ok("docker.storage", format!("storage driver {driver}"))
        }
        "vfs" => Check::warn(
            "docker.storage",
            "storage driver vfs: every image layer is a full copy, so the kind node image and every job image take many times their size and pulls are slow",
            "configure overlay2 in /etc/docker/daemon.json (\"storage-driver\": \"overlay2\") and restart Docker",
        ),
        "devicemapper" | "aufs" | "overlay" => Check::warn(
            "docker.storage",
            format!("storage driver {driver} is deprecated and removed from current Docker releases"),
            "move to overlay2 (see Docker's storage driver docs) before upgrading Docker",
        ),
        _ => Check::ok("docker.storage", format!("storage driver {driver}")),
    });
    Some(info)
}

fn inotify_check(host: &dyn Host) -> Check {
    let id = "host.inotify";
    let read = |k: &str| host.sysctl(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(watches), Some(instances)) = (
        read("fs.inotify.max_user_watches"),
        read("fs.inotify.max_user_instances"),
    ) else {
        return Check::skip(
            id,
            "no /proc/sys/fs/inotify here (not Linux?); kind's inotify limits were not checked",
        );
    };
    let mut low = Vec::new();
    if watches < MIN_INOTIFY_WATCHES {
        low.push(format!(
            "fs.inotify.max_user_watches is {watches} (kind needs {MIN_INOTIFY_WATCHES})"
        ));
    }
    if instances < MIN_INOTIFY_INSTANCES {
        low.push(format!(
            "fs.inotify.max_user_instances is {instances} (kind needs {MIN_INOTIFY_INSTANCES})"
        ));
    }
    if low.is_empty() {
        return Check::ok(
            id,
            format!("fs.inotify.max_user_watches {watches}, max_user_instances {instances}"),
        );
    }
    Check::warn(
        id,
        format!(
            "{}: pods in the kind node fail with \"too many open files\"",
            low.join(", ")
        ),
        format!(
            "sudo sysctl fs.inotify.max_user_watches={w} fs.inotify.max_user_instances={i}; to keep it after a reboot: printf 'fs.inotify.max_user_watches={w}\\nfs.inotify.max_user_instances={i}\\n' | sudo tee /etc/sysctl.d/99-deskrun.conf",
            w = watches.max(MIN_INOTIFY_WATCHES),
            i = instances.max(MIN_INOTIFY_INSTANCES)
        ),
    )
}

fn space_check(host: &dyn Host, id: &str, what: &str, path: &str) -> Check {
    let Some(existing) = existing_ancestor(Path::new(path)) else {
        return Check::skip(id, format!("{what} {path} is not on this machine"));
    };
    if existing != Path::new(path) && id == "disk.docker-root" {
        // Docker Desktop and remote engines keep it in their own VM.
        return Check::skip(
            id,
            format!("{what} {path} is not on this machine (Docker Desktop or a remote engine)"),
        );
    }
    let Some(FsInfo { free, .. }) = host.fs(&existing) else {
        return Check::skip(id, format!("the free space under {path} could not be read"));
    };
    let msg = format!("{} free under {what} {path}", human_bytes(free));
    let fix = format!(
        "free space on the file system of {path} (`docker system prune` removes unused images; the kind node keeps every image it pulled)"
    );
    if free < FAIL_FREE_BYTES {
        Check::fail(
            id,
            format!("only {msg}: the kind node image, runner images and caches do not fit"),
            fix,
        )
    } else if free < WARN_FREE_BYTES {
        Check::warn(
            id,
            format!("only {msg}: images and caches will soon fill it"),
            fix,
        )
    } else {
        Check::ok(id, msg)
    }
}

/// The cache root exists or can be created, is writable, is not tmpfs; and
/// the free space under it.
fn cache_root_checks(host: &dyn Host, config: &Config) -> Vec<Check> {
    let id = "cache.root";
    let root = config.cluster.cache_root.as_str();
    let path = Path::new(root);
    let chown = format!("sudo mkdir -p {root} && sudo chown \"$USER\" {root}");
    let Some(existing) = existing_ancestor(path) else {
        return vec![Check::fail(
            id,
            format!("the cache root {root} cannot be created"),
            chown,
        )];
    };
    let mut out = Vec::new();
    if existing == path && !path.is_dir() {
        out.push(Check::fail(
            id,
            format!("the cache root {root} exists but is not a directory"),
            "remove it or set cluster.cache_root in the config to a directory",
        ));
        return out;
    }
    if !writable(&existing) {
        let what = if existing == path {
            format!("the cache root {root} is not writable by you")
        } else {
            format!(
                "the cache root {root} does not exist and cannot be created: {} is not writable by you",
                existing.display()
            )
        };
        out.push(Check::fail(id, what, chown));
        return out;
    }
    let tmpfs = host.fs(&existing).is_some_and(|f| f.tmpfs);
    let state = if existing == path {
        format!("the cache root {root} is writable")
    } else {
        format!("the cache root {root} does not exist yet; `deskrun up` creates it")
    };
    out.push(if tmpfs {
        Check::warn(
            id,
            format!("{state}, but it is on tmpfs: caches live in memory and vanish at reboot"),
            "set cluster.cache_root in the config to a directory on disk, e.g. /var/cache/deskrun, then `deskrun down --delete-cluster && deskrun up`",
        )
    } else {
        Check::ok(id, state)
    });
    out.push(space_check(host, "disk.cache-root", "the cache root", root));
    out
}

/// Free space under each installation's cache host paths outside the cache
/// root (which has its own check): a `/var/lib/docker` cache on a small
/// partition fills it. Same thresholds as the cache root.
fn cache_path_space_checks(host: &dyn Host, config: &Config) -> Vec<Check> {
    let root = config.cluster.cache_root.trim_end_matches('/');
    let mut out = Vec::new();
    for (name, inst) in &config.installations {
        let mut seen: Vec<&str> = Vec::new();
        for cache in &inst.caches {
            let Some(path) = cache.host_path.as_deref() else {
                continue;
            };
            let path = path.trim_end_matches('/');
            if path == root || path.starts_with(&format!("{root}/")) || seen.contains(&path) {
                continue;
            }
            seen.push(path);
            out.push(
                space_check(
                    host,
                    "disk.cache-path",
                    &format!("the cache host path of {}", cache.path),
                    path,
                )
                .subject(name.as_str()),
            );
        }
    }
    out
}

/// The mirrors' data directory: not in memory (`up` refuses it) and room
/// for the images they cache.
fn mirror_root_checks(host: &dyn Host, config: &Config) -> Vec<Check> {
    if config.cluster.registry_mirrors.is_empty() {
        return vec![];
    }
    let id = "mirror.root";
    let root = match mirrors::mirror_root(&config.cluster) {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
                id,
                format!("{e:#}"),
                "set cluster.mirror_root in the config, or `registry_mirrors: []` to turn mirrors off",
            )];
        }
    };
    let in_memory = existing_ancestor(Path::new(&root))
        .and_then(|p| host.fs(&p))
        .is_some_and(|f| f.tmpfs);
    if in_memory {
        return vec![Check::fail(
            id,
            format!(
                "the registry mirrors' data directory {root} is on tmpfs (memory): it would be emptied at every reboot and the mirrors could not restart; `deskrun up` refuses it"
            ),
            "set cluster.mirror_root in the config to a directory on disk (e.g. /var/cache/deskrun/registry), or `registry_mirrors: []` to turn mirrors off",
        )];
    }
    vec![
        Check::ok(
            id,
            format!("the registry mirrors keep their data on disk under {root}"),
        ),
        space_check(
            host,
            "disk.mirror-root",
            "the mirrors' data directory",
            &root,
        ),
    ]
}

/// The kind cluster, when it exists.
fn cluster_checks(s: &Session, config: &Config, kube_tools: bool, checks: &mut Vec<Check>) {
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let name = &config.cluster.name;
    let node_name = kube.node_container();
    let recreate =
        "`deskrun down --delete-cluster && deskrun up` (the config and host caches are kept)";
    match kube.cluster_exists() {
        Err(e) => {
            checks.push(Check::warn(
                "cluster.exists",
                format!("kind could not list its clusters: {e:#}"),
                "run `kind get clusters` to see why",
            ));
            return;
        }
        Ok(false) => {
            checks.push(Check::skip(
                "cluster.exists",
                format!("no kind cluster {name} yet; `deskrun up` creates it"),
            ));
            return;
        }
        Ok(true) => {}
    }
    // The node and the mirrors in one `docker inspect`, as `up` reads them.
    let mirror_names = mirrors::names(&config.cluster);
    let (node, mirror_states) = match kube.containers(true, &mirror_names) {
        Err(e) => {
            checks.push(Check::fail(
                "cluster.node",
                format!("docker could not inspect the node container {node_name}: {e:#}"),
                "check the Docker engine (`docker ps -a`)",
            ));
            return;
        }
        Ok((None, _)) => {
            checks.push(Check::fail(
                "cluster.node",
                format!(
                    "kind lists cluster {name} but its node container {node_name} does not exist"
                ),
                format!("re-create the cluster: {recreate}"),
            ));
            return;
        }
        Ok((Some(n), _)) if !n.running => {
            checks.push(Check::fail(
                "cluster.node",
                format!("the node container {node_name} is stopped (e.g. after a reboot or a Docker restart)"),
                format!("docker start {node_name}"),
            ));
            return;
        }
        Ok((Some(n), m)) => {
            checks.push(Check::ok(
                "cluster.node",
                format!("the node container {node_name} runs"),
            ));
            (n, m)
        }
    };
    let missing: Vec<String> = cache_mounts(config)
        .into_iter()
        .filter(|p| !node.covers(p))
        .collect();
    checks.push(if missing.is_empty() {
        Check::ok("cluster.mounts", "the node mounts every cache host path of the config")
    } else {
        Check::fail(
            "cluster.mounts",
            format!(
                "the node does not mount {}: caches there would live inside the node and vanish with it (`up` refuses to deploy them)",
                missing.join(", ")
            ),
            format!("kind adds mounts only when it creates a cluster: {recreate}"),
        )
    });
    checks.extend(mirror_checks(config, &node, &mirror_states));
    if !kube_tools {
        return;
    }
    let context = config.cluster.context();
    let nodes = match kube.nodes() {
        Err(e) => {
            checks.push(Check::fail(
                "cluster.context",
                format!("kubectl cannot reach the cluster through the context {context}: {e:#}"),
                format!(
                    "`kind export kubeconfig --name {name}` writes the context again; right after `docker start {node_name}` the API server needs a minute"
                ),
            ));
            return;
        }
        Ok(n) => n,
    };
    checks.push(Check::ok(
        "cluster.context",
        format!("the context {context} reaches the cluster"),
    ));
    let not_ready: Vec<String> = nodes.iter().filter_map(not_ready).collect();
    checks.push(if nodes.is_empty() {
        Check::fail(
            "cluster.node-ready",
            "the cluster has no node",
            format!("re-create the cluster: {recreate}"),
        )
    } else if not_ready.is_empty() {
        Check::ok("cluster.node-ready", "the node is Ready")
    } else {
        Check::fail(
            "cluster.node-ready",
            format!("node not Ready: {}", not_ready.join("; ")),
            format!(
                "look at the kubelet: `docker exec {node_name} journalctl -u kubelet --no-pager | tail -50`; low disk space or inotify limits are the usual causes"
            ),
        )
    });

    controller_checks(&kube, config, checks);
}

/// deskrun's own ARC controller: its release is deployed and its pod ready.
fn controller_checks(kube: &Kube, config: &Config, checks: &mut Vec<Check>) {
    let context = config.cluster.context();
    let ns = &config.cluster.namespace;
    let releases = match kube.managed_releases() {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::fail(
                "controller.release",
                format!("helm could not list the releases: {e:#}"),
                "run `deskrun -v status` to see the failing command",
            ));
            return;
        }
    };
    let Some(release) = releases.iter().find(|r| r.name == CONTROLLER_RELEASE) else {
        checks.push(Check::skip(
            "controller.release",
            "the ARC controller is not installed yet; `deskrun up` installs it",
        ));
        return;
    };
    if release.status != "deployed" {
        checks.push(Check::fail(
            "controller.release",
            format!(
                "the ARC controller release {CONTROLLER_RELEASE} is {} (revision {})",
                release.status, release.revision
            ),
            "run `deskrun up`: it repairs an interrupted install or upgrade",
        ));
        return;
    }
    checks.push(Check::ok(
        "controller.release",
        format!(
            "the ARC controller {CONTROLLER_RELEASE} is deployed (revision {})",
            release.revision
        ),
    ));
    let selector =
        format!("{CONTROLLER_POD_SELECTOR},app.kubernetes.io/instance={CONTROLLER_RELEASE}");
    let logs = format!(
        "kubectl --context {context} --namespace {ns} logs deployment/{CONTROLLER_RELEASE}-gha-rs-controller"
    );
    checks.push(match kube.get_selected("read the controller pod", "pods", &selector) {
        Err(e) => Check::fail(
            "controller.pod",
            format!("kubectl could not read the controller pod: {e:#}"),
            "run `deskrun -v status` to see the failing command",
        ),
        Ok(pods) if pods.is_empty() => Check::fail(
            "controller.pod",
            format!("the ARC controller has no pod in namespace {ns}"),
            format!("`kubectl --context {context} --namespace {ns} describe deployment {CONTROLLER_RELEASE}-gha-rs-controller` says why"),
        ),
        Ok(pods) => match pods.iter().find(|p| !pod_ready(p)) {
            None => Check::ok("controller.pod", "the ARC controller's pod is ready"),
            Some(p) => Check::fail(
                "controller.pod",
                format!(
                    "the ARC controller's pod {} is not ready: {}",
                    name_of(p),
                    pod_problem(p)
                ),
                format!("read its log: `{logs}`"),
            ),
        },
    });
}

/// The registry mirrors of a kind cluster: whether its node reads their
/// hosts directory (kind mounts it only at creation), then each mirror's
/// container, as `up` would find it.
fn mirror_checks(config: &Config, node: &NodeInfo, observed: &[MirrorState]) -> Vec<Check> {
    let cluster = &config.cluster;
    // An unresolvable mirror root is reported by `mirror.root`.
    let (Ok(specs), Ok(hosts_dir)) = (mirrors::specs(cluster), mirrors::hosts_dir(cluster)) else {
        return vec![];
    };
    if specs.is_empty() {
        return vec![];
    }
    let state = mirrors::node_mirrors(node, &hosts_dir);
    if let Some(why) = mirrors::node_problem(&cluster.name, &state) {
        // `up` then runs no mirror: what the containers are does not matter.
        return vec![Check::warn(
            "mirror.node",
            format!(
                "{why}; the mirrors ({}) are of no use to it",
                cluster.registry_mirrors.join(", ")
            ),
            mirrors::NODE_FIX,
        )];
    }
    let mut out = vec![Check::ok(
        "mirror.node",
        format!(
            "kind cluster {} reads the registry mirror settings in {hosts_dir}",
            cluster.name
        ),
    )];
    for (spec, m) in specs
        .iter()
        .zip(crate::ops::mirrors::mirror_statuses(&specs, observed))
    {
        let id = "mirror.container";
        let (upstream, container) = (&m.upstream, &m.container);
        let internet = format!("so the cluster pulls {upstream} images from the internet");
        let state = m.state.as_deref().unwrap_or("absent");
        let state_now = observed.iter().find(|o| o.name == spec.name);
        let check = match mirrors::plan_mirror(spec, state_now) {
            MirrorAction::Keep => {
                let used = m
                    .disk_bytes
                    .map(|b| format!(", {} cached in {}", human_bytes(b), m.data_dir))
                    .unwrap_or_default();
                Check::ok(
                    id,
                    format!("the {upstream} mirror runs (container {container}{used})"),
                )
            }
            MirrorAction::Create => Check::warn(
                id,
                format!("the {upstream} mirror (container {container}) does not exist, {internet}"),
                "`deskrun up` creates it",
            ),
            MirrorAction::Start => Check::warn(
                id,
                format!("the {upstream} mirror (container {container}) is {state}, {internet}"),
                format!("`deskrun up` starts it (or `docker start {container}`)"),
            ),
            MirrorAction::Recreate { reason } => Check::warn(
                id,
                format!(
                    "the {upstream} mirror (container {container}, {state}) does not match the config: {reason}"
                ),
                "`deskrun up` re-creates it (its cached data is kept)",
            ),
            MirrorAction::Foreign => Check::warn(
                id,
                mirrors::foreign_notice(spec),
                format!(
                    "rename or remove that container (`docker rm -f {container}`), then `deskrun up`"
                ),
            ),
        };
        out.push(check.subject(m.upstream.as_str()));
    }
    out
}

/// An existing cluster, through its context: it answers, its nodes are
/// Ready (and the ones installations are pinned to exist), cache claims
/// have a storage class, the context may do what `up` does, and the
/// controller fits `cluster.controller`.
fn existing_cluster_checks(s: &Session, config: &Config, helm: bool, checks: &mut Vec<Check>) {
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let context = config.cluster.context();
    let get_nodes = format!("kubectl --context {context} get nodes");
    // Listing nodes is cluster-wide: a namespace-scoped context may not,
    // and answering "forbidden" still proves that the cluster answers.
    let nodes = match kube.nodes() {
        Ok(nodes) => {
            checks.push(Check::ok(
                "cluster.context",
                format!(
                    "the context {context} reaches the cluster ({} node{})",
                    nodes.len(),
                    if nodes.len() == 1 { "" } else { "s" }
                ),
            ));
            Some(nodes)
        }
        Err(e) if forbidden(&e) => {
            checks.push(Check::ok(
                "cluster.context",
                format!("the context {context} reaches the cluster (it may not list the nodes)"),
            ));
            None
        }
        Err(e) => {
            // A context the kubeconfig lacks deserves its own message.
            let known = kube
                .contexts()
                .map(|c| c.contains(&context))
                .unwrap_or(true);
            checks.push(if known {
                Check::fail(
                    "cluster.context",
                    format!("the cluster of context {context} does not answer: {e:#}"),
                    format!(
                        "check the network or VPN and that the context's credentials have not expired: `{get_nodes}` must work"
                    ),
                )
            } else {
                Check::fail(
                    "cluster.context",
                    format!("the kubeconfig has no context {context} (cluster.context)"),
                    "`kubectl config get-contexts` lists the contexts; `deskrun cluster use CONTEXT` picks one",
                )
            });
            return;
        }
    };
    match &nodes {
        None => checks.push(Check::skip(
            "cluster.node-ready",
            format!("the context {context} may not list nodes, so their readiness was not checked"),
        )),
        Some(nodes) => {
            let bad: Vec<String> = nodes.iter().filter_map(not_ready).collect();
            checks.push(if nodes.is_empty() {
                Check::fail(
                    "cluster.node-ready",
                    "the cluster has no node: no runner can start",
                    "ask the cluster's admins",
                )
            } else if bad.is_empty() {
                Check::ok(
                    "cluster.node-ready",
                    format!("every node is Ready ({})", nodes.len()),
                )
            } else if bad.len() < nodes.len() {
                Check::warn(
                    "cluster.node-ready",
                    format!("node not Ready: {}", bad.join("; ")),
                    format!("`kubectl --context {context} describe node NODE` says why; runners go to the Ready nodes meanwhile"),
                )
            } else {
                Check::fail(
                    "cluster.node-ready",
                    format!("no node is Ready: {}", bad.join("; ")),
                    format!("`kubectl --context {context} describe node NODE` says why; ask the cluster's admins"),
                )
            });
        }
    }
    checks.extend(pinned_node_checks(config, nodes.as_deref()));
    checks.extend(storage_class_check(&kube, config));
    checks.push(permission_check(&kube));
    if config.cluster.manages_controller() {
        checks.push(other_controllers_check(&kube, config));
        if helm {
            controller_checks(&kube, config, checks);
        }
    } else {
        checks.push(external_controller_check(&kube, config));
    }
}

/// Whether kubectl was refused by the cluster's authorization (RBAC).
fn forbidden(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::exec::ToolError>().is_some_and(|t| {
            t.stderr_tail.contains("Forbidden") || t.stderr_tail.contains("forbidden")
        })
    })
}

/// Each installation pinned to a node (`node:`): the node exists (by its
/// `kubernetes.io/hostname` label, which the scale set selects on) and is
/// Ready; otherwise its runner pods wait forever.
fn pinned_node_checks(config: &Config, nodes: Option<&[Json]>) -> Vec<Check> {
    let id = "cluster.node-pinned";
    let context = config.cluster.context();
    let hostname = |n: &Json| {
        n.pointer("/metadata/labels/kubernetes.io~1hostname")
            .and_then(Json::as_str)
            .unwrap_or_else(|| name_of(n))
            .to_string()
    };
    config
        .installations
        .iter()
        .filter_map(|(name, inst)| Some((name, inst.node.as_deref()?)))
        .map(|(name, pinned)| {
            let Some(nodes) = nodes else {
                return Check::skip(
                    id,
                    format!("pinned to node {pinned}; the context may not list nodes, so it was not checked"),
                )
                .subject(name.as_str());
            };
            let check = match nodes.iter().find(|n| hostname(n) == pinned) {
                None => Check::fail(
                    id,
                    format!(
                        "pinned to node {pinned}, which the cluster does not have (its nodes: {}): its runner pods would wait forever",
                        nodes.iter().map(hostname).collect::<Vec<_>>().join(", ")
                    ),
                    format!(
                        "set `node:` of installation {name} in the config to one of the cluster's nodes (`kubectl --context {context} get nodes`)"
                    ),
                ),
                Some(n) => match not_ready(n) {
                    None => Check::ok(id, format!("pinned to node {pinned}, which is Ready")),
                    Some(why) => Check::fail(
                        id,
                        format!("pinned to node {why}, which is not Ready: its runner pods wait until it is"),
                        format!("`kubectl --context {context} describe node {pinned}` says why; ask the cluster's admins"),
                    ),
                },
            };
            check.subject(name.as_str())
        })
        .collect()
}

/// The storage class of the cache claims, when some cache is a claim (no
/// host directory): `cluster.cache_storage_class`, or the cluster's
/// default. Without one the claims, and the runner pods, stay Pending.
fn storage_class_check(kube: &Kube, config: &Config) -> Option<Check> {
    let id = "cluster.storage-class";
    let claims = config
        .installations
        .values()
        .any(|i| i.caches.iter().any(|c| c.host_path.is_none()));
    if !claims {
        return None;
    }
    let context = config.cluster.context();
    let wanted = config.cluster.cache_storage_class.as_str();
    let classes = match kube.get_all("read the storage classes", "storageclasses.storage.k8s.io") {
        Ok(c) => c,
        Err(e) => {
            let why = if forbidden(&e) {
                format!("the context {context} may not list storage classes")
            } else {
                format!("the storage classes could not be read: {e:#}")
            };
            return Some(Check::warn(
                id,
                format!("{why}, so the cache claims' storage class was not checked"),
                format!(
                    "`kubectl --context {context} get storageclass` (as someone who may) shows whether {} exists",
                    if wanted.is_empty() {
                        "a default class"
                    } else {
                        wanted
                    }
                ),
            ));
        }
    };
    let names: Vec<&str> = classes.iter().map(name_of).collect();
    let choose = if names.is_empty() {
        "the cluster has no storage class at all: ask its admins for one, or give each cache a host directory on a pinned node (`--cache HOST_PATH:PATH` and `--node`)".to_string()
    } else {
        format!(
            "set `cluster.cache_storage_class` in the config to one of: {}",
            names.join(", ")
        )
    };
    let provisioner = |c: &Json| c["provisioner"].as_str().unwrap_or("?").to_string();
    Some(if !wanted.is_empty() {
        match classes.iter().find(|c| name_of(c) == wanted) {
            Some(c) => Check::ok(
                id,
                format!(
                    "cache claims use the storage class {wanted} (provisioner {})",
                    provisioner(c)
                ),
            ),
            None => Check::fail(
                id,
                format!(
                    "the storage class {wanted} (cluster.cache_storage_class) does not exist: cache claims, and the runner pods that mount them, would stay Pending"
                ),
                choose,
            ),
        }
    } else {
        let is_default = |c: &Json| {
            [
                "storageclass.kubernetes.io/is-default-class",
                "storageclass.beta.kubernetes.io/is-default-class",
            ]
            .iter()
            .any(|a| c["metadata"]["annotations"][a] == "true")
        };
        match classes.iter().find(|c| is_default(c)) {
            Some(c) => Check::ok(
                id,
                format!(
                    "cache claims use the cluster's default storage class {} (provisioner {})",
                    name_of(c),
                    provisioner(c)
                ),
            ),
            None => Check::fail(
                id,
                "cluster.cache_storage_class is not set and the cluster has no default storage class: cache claims, and the runner pods that mount them, would stay Pending",
                choose,
            ),
        }
    })
}

/// `kubectl auth can-i` for everything `up` does, as one check naming what
/// is missing (the namespace's objects, and cluster-wide rights for a
/// managed controller).
fn permission_check(kube: &Kube) -> Check {
    let id = "cluster.permissions";
    let cluster = kube.cluster;
    let context = cluster.context();
    match crate::ops::up::missing_permissions(kube) {
        Err(e) => Check::warn(
            id,
            format!("kubectl could not answer what the context {context} may do: {e:#}"),
            format!(
                "run `kubectl --context {context} auth can-i --list --namespace {}`",
                cluster.namespace
            ),
        ),
        Ok(missing) if missing.is_empty() => Check::ok(
            id,
            format!(
                "the context {context} may do all deskrun does in namespace {}{}",
                cluster.namespace,
                if cluster.manages_controller() {
                    ", and install the controller cluster-wide"
                } else {
                    ""
                }
            ),
        ),
        Ok(missing) => Check::fail(
            id,
            format!(
                "the context {context} may not: {}",
                permissions::missing_lines(cluster, &missing).join("; ")
            ),
            permissions::advice(cluster, &missing),
        ),
    }
}

/// A managed controller must be the only ARC controller in the cluster:
/// `up` stops when it finds another, or when it may not look.
fn other_controllers_check(kube: &Kube, config: &Config) -> Check {
    let id = "controller.others";
    let cluster = &config.cluster;
    let context = cluster.context();
    match kube.controller_deployments() {
        Err(e) => Check::warn(
            id,
            format!("the ARC controllers in the cluster could not be listed: {e:#}"),
            format!(
                "run `kubectl --context {context} get deployments --all-namespaces --selector {}`",
                controllers::CONTROLLER_SELECTOR
            ),
        ),
        Ok(None) => Check::fail(
            id,
            format!(
                "the context {context} may not list Deployments in all namespaces, which `up` does to make sure no other ARC controller runs before it installs its own (and stops when it cannot)"
            ),
            "installing a controller takes cluster-wide rights anyway: ask the cluster's admins for them, or set `cluster.controller: external` to use the controller the cluster runs",
        ),
        Ok(Some(found)) => {
            let found = controllers::controllers(&found);
            match controllers::check_managed(cluster, &found) {
                Ok(()) => Check::ok(id, "no ARC controller but deskrun's runs in the cluster"),
                Err(e) => Check::fail(
                    id,
                    format!("{e:#}"),
                    "set `cluster.controller: external` in the config to use that controller, or have it removed",
                ),
            }
        }
    }
}

/// An external controller: the ARC CRDs exist at the version the charts
/// use, and a controller of the scale-set chart's version runs.
fn external_controller_check(kube: &Kube, config: &Config) -> Check {
    let id = "controller.external";
    let cluster = &config.cluster;
    let read = kube.arc_crds().and_then(|crds| {
        let found = kube.controller_deployments()?;
        Ok((crds, found))
    });
    let (crds, found) = match read {
        Ok(r) => r,
        Err(e) => {
            return Check::warn(
                id,
                format!("the ARC CRDs and controllers could not be read: {e:#}"),
                "run `deskrun -v up --dry-run` to see the failing command",
            );
        }
    };
    let crds = controllers::crds(&crds, &ARC_CRDS);
    let found = found.map(|d| controllers::controllers(&d));
    match controllers::check_external(cluster, &crds, found.as_deref()) {
        Ok(ext) if ext.version_checked => Check::ok(id, ext.summary()),
        Ok(ext) => Check::warn(
            id,
            ext.summary(),
            format!(
                "make sure the cluster's controller is at version {} (the scale-set chart's): it serves only runner sets of its own version",
                cluster.scale_set_chart.version
            ),
        ),
        Err(e) => Check::fail(
            id,
            format!("{e:#}"),
            format!(
                "have the cluster's admins install or upgrade the gha-runner-scale-set-controller chart at version {}, set `cluster.scale_set_chart.version` to the controller's version, or set `cluster.controller: managed`",
                cluster.scale_set_chart.version
            ),
        ),
    }
}

/// `NAME (why)` for a node that is not Ready; `None` when it is.
fn not_ready(node: &Json) -> Option<String> {
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    match ready {
        Some(c) if c["status"] == "True" => None,
        Some(c) => Some(format!(
            "{} ({})",
            name_of(node),
            c["message"].as_str().unwrap_or("not ready")
        )),
        None => Some(format!("{} (no Ready condition)", name_of(node))),
    }
}

fn pod_ready(pod: &Json) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// `CrashLoopBackOff`, `ImagePullBackOff: …`, or the phase.
fn pod_problem(pod: &Json) -> String {
    let waiting = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| c["state"]["waiting"].as_object());
    match waiting {
        Some(w) => {
            let reason = w.get("reason").and_then(Json::as_str).unwrap_or("waiting");
            match w.get("message").and_then(Json::as_str) {
                Some(m) => format!("{reason}: {}", m.chars().take(200).collect::<String>()),
                None => reason.to_string(),
            }
        }
        None => format!(
            "phase {}",
            pod["status"]["phase"].as_str().unwrap_or("unknown")
        ),
    }
}

/// Each installation's credential against GitHub, concurrently.
fn github_checks(api: &dyn GithubApi, config: &Config, opts: &DoctorOptions) -> Vec<Check> {
    let names: Vec<&String> = config
        .installations
        .keys()
        .filter(|n| opts.names.is_empty() || opts.names.contains(n))
        .collect();
    if opts.offline {
        return names
            .iter()
            .map(|n| {
                Check::skip(
                    github::checks::ID_CREDENTIAL,
                    "--offline: GitHub was not contacted",
                )
                .subject(n.as_str())
            })
            .collect();
    }
    let api_override = std::env::var(github::API_URL_ENV).ok();
    let now = github::checks::unix_now();
    parallel(&names, 8, |name| {
        github::checks::check_installation(
            api,
            name,
            &config.installations[name.as_str()],
            api_override.as_deref(),
            now,
        )
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The table: one line per check, and the fix under anything not ok.
pub fn table(report: &DoctorReport) -> String {
    let width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        let subject = c
            .subject
            .as_deref()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<5} {:<width$}  {subject}{}\n",
            c.status.as_str(),
            c.id,
            c.message
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:<5} {:<width$}  fix: {fix}\n", "", ""));
        }
    }
    out
}

/// `3 ok, 1 warning, 1 failure, 2 skipped`.
pub fn summary(report: &DoctorReport) -> String {
    let n = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let plural =
        |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    format!(
        "{} ok, {}, {}, {} skipped",
        n(Status::Ok),
        plural(n(Status::Warn), "warning", "warnings"),
        plural(n(Status::Fail), "failure", "failures"),
        n(Status::Skip)
    )
}
