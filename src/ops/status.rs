//! `deskrun status`: what is deployed, read-only.

use crate::input_bail;
use crate::model::Config;
use crate::observe::{Reads, observe};
use crate::ops::mirrors::{MirrorStatus, mirror_lines, mirror_statuses};
use crate::ops::session::{Session, run_step};
use crate::plan::{Action, plan_instance, plan_mirrors};
use crate::render::render;
use crate::tools::{DOCKER, HELM, KIND, KUBECTL, Kube, LogOptions};
use crate::workload::{
    self, CONTAINER_CONTROLLER, CONTAINER_LISTENER, InstanceRef, LISTENER_LOG_TAIL, Logs,
    ObjectKind, Problem,
};
use anyhow::Result;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The stable shape of `deskrun status --output json` (see README).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cluster: ClusterStatus,
    pub controller: Option<ControllerStatus>,
    pub installations: Vec<InstallationStatus>,
    /// Scale sets deskrun deployed that the config no longer has
    /// (`deskrun up` removes them).
    pub not_in_config: Vec<String>,
    /// The registry mirrors the config wants.
    pub mirrors: Vec<MirrorStatus>,
    /// Set when the cluster cannot use them (created without them).
    pub mirror_notice: Option<String>,
    /// Why listeners, runners, job pods or the controller are not healthy.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    /// `kind` or `existing`.
    pub provider: String,
    pub context: String,
    pub namespace: String,
    pub exists: bool,
    /// Whether the node container runs (`None` when there is no cluster);
    /// on an existing cluster, that its context answered.
    pub running: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControllerStatus {
    pub release: String,
    pub status: String,
    pub version: String,
    pub revision: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallationStatus {
    pub name: String,
    pub mode: String,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub deployed: bool,
    pub release_status: Option<String>,
    pub revision: Option<String>,
    /// Whether what runs matches the config (`deskrun up` would not touch it).
    pub up_to_date: bool,
    pub runners: Option<RunnerCounts>,
    /// Phase of the listener pod (`Running`, `Pending`, ...), if there is one.
    pub listener: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunnerCounts {
    pub current: u64,
    pub pending: u64,
    pub running: u64,
}

pub fn status(s: &Session, only: Option<&str>) -> Result<StatusReport> {
    prepare(s, only)?;
    read(s, only)
}

/// `status --watch`: one status every `interval` until `frame` says stop.
/// Each refresh makes exactly the calls of one `status` (the tools are
/// checked once); a refresh that fails is handed to `frame` too, so a
/// cluster that restarts does not end the watch.
pub fn watch(
    s: &Session,
    only: Option<&str>,
    interval: std::time::Duration,
    frame: &mut dyn FnMut(Result<StatusReport>) -> std::ops::ControlFlow<()>,
) -> Result<()> {
    prepare(s, only)?;
    loop {
        if frame(read(s, only)).is_break() {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// Input checks and tool versions: once per `status` or `watch`.
fn prepare(s: &Session, only: Option<&str>) -> Result<()> {
    let config: Config = s.store.load()?;
    if let Some(name) = only
        && !config.installations.contains_key(name)
    {
        input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
    }
    if config.cluster.is_kind() {
        s.check_tools(&[DOCKER, KIND, HELM, KUBECTL])
    } else {
        s.check_tools(&[HELM, KUBECTL])
    }
}

fn read(s: &Session, only: Option<&str>) -> Result<StatusReport> {
    let config: Config = s.store.load()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let mut observed = run_step(s, "read the cluster state", || observe(&kube, Reads::ALL))?;
    let running = observed
        .cluster_exists
        .then(|| !config.cluster.is_kind() || observed.node.as_ref().is_some_and(|n| n.running));
    let rendered = render(&config, &[])?;

    let installations = config
        .installations
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
        .map(|(name, inst)| InstallationStatus {
            name: name.clone(),
            mode: inst.mode.to_string(),
            instances: rendered
                .instances
                .iter()
                .filter(|r| &r.installation == name)
                .map(|r| {
                    let release = observed.release(&r.instance);
                    let ars = observed.runner_set(&r.instance);
                    let count = |field: &str| {
                        ars.and_then(|a| a.pointer(&format!("/status/{field}")))
                            .and_then(Json::as_u64)
                            .unwrap_or(0)
                    };
                    InstanceStatus {
                        name: r.instance.clone(),
                        deployed: release.is_some(),
                        release_status: release.map(|rel| rel.status.clone()),
                        revision: release.map(|rel| rel.revision.clone()),
                        // The plan's own verdict: status and `up` agree.
                        up_to_date: plan_instance(r, &observed).action == Action::Unchanged,
                        runners: ars.map(|_| RunnerCounts {
                            current: count("currentRunners"),
                            pending: count("pendingEphemeralRunners"),
                            running: count("runningEphemeralRunners"),
                        }),
                        listener: observed.listener_phase(&r.instance).map(String::from),
                    }
                })
                .collect(),
        })
        .collect();

    let wanted: BTreeMap<String, InstanceRef> = workload::instances(&config)
        .into_iter()
        .filter(|(_, i)| only.is_none_or(|o| o == i.installation))
        .collect();
    // The pods are read only with a controller on a running node; without
    // them every scale set would look like it lost its listener.
    let problems = if observed.controller().is_some() && running == Some(true) {
        problems(&kube, &mut observed, &wanted)
    } else {
        vec![]
    };

    let not_in_config = observed
        .scale_set_releases()
        .filter(|rel| !rendered.instances.iter().any(|r| r.instance == rel.name))
        .map(|rel| rel.name.clone())
        .collect();
    // An external controller is not a release of deskrun's: show the one
    // found that serves this scale-set chart's version (or the first).
    let controller = if config.cluster.manages_controller() {
        observed.controller().map(|rel| ControllerStatus {
            release: rel.name.clone(),
            status: rel.status.clone(),
            version: rel.chart_and_version().1.to_string(),
            revision: rel.revision.clone(),
        })
    } else {
        let found = observed.controllers.as_deref().unwrap_or_default();
        let wanted = &config.cluster.scale_set_chart.version;
        found
            .iter()
            .find(|c| &c.version == wanted)
            .or(found.first())
            .map(|c| ControllerStatus {
                release: c.release.clone(),
                status: "external".into(),
                version: c.version.clone(),
                revision: "-".into(),
            })
    };
    Ok(StatusReport {
        cluster: ClusterStatus {
            name: config.cluster.name.clone(),
            provider: config.cluster.provider.to_string(),
            context: config.cluster.context(),
            namespace: config.cluster.namespace.clone(),
            exists: observed.cluster_exists,
            running,
        },
        controller,
        installations,
        not_in_config,
        mirrors: mirror_statuses(&rendered.mirrors, &observed.mirrors),
        mirror_notice: plan_mirrors(&config, &rendered, &observed).1,
        problems,
    })
}

/// Lines of the controller's log searched for a scale set's error.
const CONTROLLER_LOG_TAIL: u32 = 300;

/// The problems of the instances in `wanted` and of the controller. A
/// healthy cluster costs nothing here; each kind of trouble costs at most
/// one more call, made at the same time as the others: the log of each
/// failing listener, the pod events when a pod is stuck, the controller's
/// log when a listener is missing. A read that fails only leaves its detail
/// out: the problem is still reported.
fn problems(
    kube: &Kube,
    observed: &mut crate::observed::Observed,
    wanted: &BTreeMap<String, InstanceRef>,
) -> Vec<Problem> {
    let now = workload::now();
    let w = &observed.workload;
    let failing = workload::failing_listeners(w, wanted);
    let want_events = workload::events_wanted(w, now);
    let missing = !workload::missing_listeners(w, &observed.runner_sets, wanted, now).is_empty();
    let controller = w
        .pods_of(ObjectKind::Controller, None)
        .into_iter()
        .find_map(|p| p.pointer("/metadata/name").and_then(Json::as_str));
    let quietly = |what: &str, r: anyhow::Result<String>| match r {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::debug!("status: cannot read {what}: {e:#}");
            None
        }
    };
    fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
    let (listener_logs, events, controller_log) = std::thread::scope(|s| {
        let events = want_events.then(|| s.spawn(|| kube.pod_events()));
        let controller_log = controller.filter(|_| missing).map(|pod| {
            s.spawn(move || {
                let opts = LogOptions {
                    container: Some(CONTAINER_CONTROLLER.into()),
                    tail: Some(CONTROLLER_LOG_TAIL),
                    ..Default::default()
                };
                kube.read_logs("read the controller's log", pod, &opts)
            })
        });
        let listeners: Vec<_> = failing
            .iter()
            .map(|&(pod, previous)| {
                let handle = s.spawn(move || {
                    let opts = LogOptions {
                        container: Some(CONTAINER_LISTENER.into()),
                        tail: Some(LISTENER_LOG_TAIL),
                        previous,
                        ..Default::default()
                    };
                    kube.read_logs("read a failing listener's log", pod, &opts)
                });
                (pod.to_string(), handle)
            })
            .collect();
        let listeners: BTreeMap<String, String> = listeners
            .into_iter()
            .filter_map(|(pod, h)| Some((pod, quietly("a listener's log", join(h))?)))
            .collect();
        let events = events.map(join);
        let controller_log = controller_log.and_then(|h| quietly("the controller's log", join(h)));
        (listeners, events, controller_log)
    });
    match events {
        Some(Ok(events)) => observed.workload.events = events,
        Some(Err(e)) => tracing::debug!("status: cannot read the pod events: {e:#}"),
        None => {}
    }
    let logs = Logs {
        listeners: listener_logs,
        controller: controller_log,
    };
    workload::problems(
        &observed.workload,
        &observed.runner_sets,
        wanted,
        &logs,
        now,
    )
}

/// The report as text for people and grep.
pub fn table(r: &StatusReport) -> String {
    let mut out = String::new();
    let stopped = format!(
        "stopped (is Docker running? then `docker start {}-control-plane`)",
        r.cluster.name
    );
    let state = match (r.cluster.exists, r.cluster.running) {
        (false, _) => "absent (run `deskrun up`)",
        (true, Some(true)) => "running",
        (true, _) => stopped.as_str(),
    };
    if r.cluster.provider == "existing" {
        out.push_str(&format!(
            "cluster     existing  answers  (context {}, namespace {})\n",
            r.cluster.context, r.cluster.namespace
        ));
    } else {
        out.push_str(&format!(
            "cluster     {}  {state}  (context {}, namespace {})\n",
            r.cluster.name, r.cluster.context, r.cluster.namespace
        ));
    }
    match &r.controller {
        Some(c) => out.push_str(&format!(
            "controller  {}  {}  version {}  revision {}\n",
            c.release, c.status, c.version, c.revision
        )),
        None if r.cluster.provider == "existing" => {
            out.push_str("controller  none found (run `deskrun up`)\n")
        }
        None => out.push_str("controller  not installed\n"),
    }
    let mut rows = vec![
        [
            "INSTALLATION",
            "INSTANCE",
            "RELEASE",
            "REVISION",
            "UP-TO-DATE",
            "RUNNERS",
            "PENDING",
            "RUNNING",
            "LISTENER",
        ]
        .map(String::from),
    ];
    for i in &r.installations {
        for inst in &i.instances {
            let dash = || "-".to_string();
            let n = |f: fn(&RunnerCounts) -> u64| {
                inst.runners
                    .as_ref()
                    .map_or_else(dash, |c| f(c).to_string())
            };
            rows.push([
                i.name.clone(),
                inst.name.clone(),
                inst.release_status
                    .clone()
                    .unwrap_or_else(|| "not-deployed".into()),
                inst.revision.clone().unwrap_or_else(dash),
                if inst.up_to_date {
                    "yes".into()
                } else {
                    "no".into()
                },
                n(|c| c.current),
                n(|c| c.pending),
                n(|c| c.running),
                inst.listener.clone().unwrap_or_else(dash),
            ]);
        }
    }
    out.push_str(&crate::output::table(&rows));
    for name in &r.not_in_config {
        out.push_str(&format!(
            "not in config: {name} (deployed by deskrun; `deskrun up` removes it)\n"
        ));
    }
    out.push_str(&mirror_lines(&r.mirrors, r.mirror_notice.as_deref()));
    if !r.problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in &r.problems {
            let whose = p.instance.as_deref().unwrap_or("controller");
            out.push_str(&format!(
                "  {whose}: {} {}: {}\n    {}\n    hint: {}\n",
                p.object.kind.as_str(),
                p.object.name,
                p.reason,
                p.message,
                p.hint
            ));
        }
    }
    out
}
