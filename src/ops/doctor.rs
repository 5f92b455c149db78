//! `deskrun doctor`: find what will break the first job before anything is
//! deployed. Read-only, here and on GitHub. Every check is a
//! [`Check`](crate::checks::Check): ok, skip, warn or fail, what was found,
//! and the one thing to do.
//!
//! - host: the tools and their versions, the Docker engine (cgroup version,
//!   storage driver), kind's inotify limits, free space, the cache root;
//! - cluster (when it exists): node container, context, node Ready, cache
//!   mounts, the ARC controller and its pod;
//! - GitHub, per installation (skipped with `--offline`).

use crate::checks::{Check, Status, worst};
use crate::github::{self, GithubApi};
use crate::host::{FsInfo, Host, existing_ancestor, human_bytes, writable};
use crate::model::{CONTROLLER_RELEASE, Config};
use crate::ops::session::{Session, parallel};
use crate::ops::up::check_names;
use crate::render::cache_mounts;
use crate::tools::{self, DOCKER, HELM, KIND, KUBECTL, Kube, ToolProbe};
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

pub fn doctor(
    s: &Session,
    host: &dyn Host,
    api: &dyn GithubApi,
    opts: &DoctorOptions,
) -> Result<DoctorReport> {
    let config = s.store.load()?;
    check_names(&config, &opts.names)?;
    let mut checks = Vec::new();

    let tools_ok = tool_checks(s, &mut checks);
    let docker = if tools_ok.docker {
        docker_checks(s, &mut checks)
    } else {
        None
    };
    checks.push(inotify_check(host));
    checks.extend(cache_root_checks(host, &config));
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
    if tools_ok.docker && tools_ok.kind && docker.is_some() {
        cluster_checks(s, &config, tools_ok.helm && tools_ok.kubectl, &mut checks);
    }
    checks.extend(github_checks(api, &config, opts));
    Ok(DoctorReport {
        status: worst(&checks),
        checks,
    })
}

struct ToolsOk {
    docker: bool,
    kind: bool,
    helm: bool,
    kubectl: bool,
}

fn tool_checks(s: &Session, checks: &mut Vec<Check>) -> ToolsOk {
    let tools = [DOCKER, KIND, HELM, KUBECTL];
    let probes = tools::probe_tools(s.runner, &tools, s.cache_dir.as_deref());
    let mut ok = [false; 4];
    for (i, (tool, probe)) in tools.iter().zip(probes).enumerate() {
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
                ok[i] = true;
                let (a, b, c) = version;
                Check::ok(&id, format!("{} {a}.{b}.{c} at {}", tool.name, path.display()))
            }
        });
    }
    ToolsOk {
        docker: ok[0],
        kind: ok[1],
        helm: ok[2],
        kubectl: ok[3],
    }
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
            format!("only {msg}: the kind node image and runner images do not fit"),
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
    let node = match kube.node_info() {
        Err(e) => {
            checks.push(Check::fail(
                "cluster.node",
                format!("docker could not inspect the node container {node_name}: {e:#}"),
                "check the Docker engine (`docker ps -a`)",
            ));
            return;
        }
        Ok(None) => {
            checks.push(Check::fail(
                "cluster.node",
                format!(
                    "kind lists cluster {name} but its node container {node_name} does not exist"
                ),
                format!("re-create the cluster: {recreate}"),
            ));
            return;
        }
        Ok(Some(n)) if !n.running => {
            checks.push(Check::fail(
                "cluster.node",
                format!("the node container {node_name} is stopped (e.g. after a reboot or a Docker restart)"),
                format!("docker start {node_name}"),
            ));
            return;
        }
        Ok(Some(n)) => {
            checks.push(Check::ok(
                "cluster.node",
                format!("the node container {node_name} runs"),
            ));
            n
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
    let not_ready: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
            match ready {
                Some(c) if c["status"] == "True" => None,
                Some(c) => Some(format!(
                    "{} ({})",
                    crate::observed::name_of(n),
                    c["message"].as_str().unwrap_or("not ready")
                )),
                None => Some(format!(
                    "{} (no Ready condition)",
                    crate::observed::name_of(n)
                )),
            }
        })
        .collect();
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
                    crate::observed::name_of(p),
                    pod_problem(p)
                ),
                format!("read its log: `{logs}`"),
            ),
        },
    });
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
