//! What runs in the cluster, read from the JSON `kubectl get -o json` prints:
//! which pod is whose (listener, runner, job, controller), what is wrong with
//! it (`problems`), and what each runner is doing (`jobs`). Pure: nothing here
//! runs a tool; callers pass the objects and the current time.
//!
//! Where the labels come from (ARC 0.14.2 and runner-container-hooks 0.7):
//! - listener pods: `app.kubernetes.io/component=runner-scale-set-listener`,
//!   `actions.github.com/scale-set-name=<instance>`; container `listener`;
//!   restart policy `Never` (a failing listener ends `Failed` and the
//!   controller replaces it).
//! - EphemeralRunners and their pods (same name):
//!   `app.kubernetes.io/component=runner`, `actions.github.com/scale-set-name`;
//!   container `runner`, and in dind mode a native sidecar (init container) `dind`.
//! - job pods, created by the kubernetes container hooks: label
//!   `runner-pod=<runner pod name>`, name `<runner pod>-workflow`, container `job`.
//! - the controller: `app.kubernetes.io/component=controller-manager`,
//!   `app.kubernetes.io/part-of=gha-rs-controller`; container `manager`.

use crate::model::{Config, Mode};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_SCALE_SET: &str = "actions.github.com/scale-set-name";
/// The container hooks label every job pod with its runner pod's name.
pub const LABEL_RUNNER_POD: &str = "runner-pod";
pub const COMPONENT_LISTENER: &str = "runner-scale-set-listener";
pub const COMPONENT_RUNNER: &str = "runner";
pub const COMPONENT_CONTROLLER: &str = "controller-manager";
pub const CONTAINER_LISTENER: &str = "listener";
pub const CONTAINER_RUNNER: &str = "runner";
pub const CONTAINER_DIND: &str = "dind";
pub const CONTAINER_JOB: &str = "job";
pub const CONTAINER_CONTROLLER: &str = "manager";
/// The kind of the ARC runner objects, as `kubectl get` takes it.
pub const EPHEMERAL_RUNNERS: &str = "ephemeralrunners.actions.github.com";

/// How long a pod may sit in `Pending` (e.g. `ContainerCreating`) before it
/// is worth reading its events: image pulls on a cold node take a while.
pub const PENDING_GRACE_SECS: i64 = 90;
/// Log lines asked for when looking for a failing listener's last error.
pub const LISTENER_LOG_TAIL: u32 = 40;

fn s<'a>(v: &'a Json, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Json::as_str)
        .filter(|x| !x.is_empty())
}

fn name(v: &Json) -> &str {
    s(v, "/metadata/name").unwrap_or("")
}

fn label<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Json::as_str)
}

// ---------------------------------------------------------------------------
// Time: Kubernetes prints UTC RFC 3339 timestamps (`2026-11-30T07:04:58Z`,
// events sometimes with microseconds).

/// Seconds since the Unix epoch of an RFC 3339 timestamp.
pub fn parse_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// An age the way `kubectl get` shows it: `45s`, `12m`, `5h`, `3d`.
pub fn human_age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        7200..172_800 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// Now, in seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn age_of(obj: &Json, now: i64) -> Option<i64> {
    s(obj, "/metadata/creationTimestamp")
        .and_then(parse_time)
        .map(|t| now - t)
}

// ---------------------------------------------------------------------------
// Which instance is whose.

/// One configured scale set: its installation, its position among several
/// instances (for `--instance N`), and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRef {
    pub installation: String,
    /// `Some(n)` (1-based) when the installation has several instances.
    pub index: Option<u32>,
    pub mode: Mode,
}

impl InstanceRef {
    /// The `deskrun logs` arguments that select this instance.
    pub fn logs_target(&self) -> String {
        match self.index {
            Some(n) => format!("{} --instance {n}", self.installation),
            None => self.installation.clone(),
        }
    }
}

/// Every configured instance, by scale-set name.
pub fn instances(config: &Config) -> BTreeMap<String, InstanceRef> {
    let mut out = BTreeMap::new();
    for (name, inst) in &config.installations {
        let several = inst.instances > 1;
        for (i, instance) in inst.instance_names(name).into_iter().enumerate() {
            out.insert(
                instance,
                InstanceRef {
                    installation: name.clone(),
                    index: several.then_some(i as u32 + 1),
                    mode: inst.mode,
                },
            );
        }
    }
    out
}

/// What a pod is to deskrun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Listener,
    Runner,
    Job,
    Controller,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Listener => "listener",
            ObjectKind::Runner => "runner",
            ObjectKind::Job => "job",
            ObjectKind::Controller => "controller",
        }
    }
}

/// Pods, EphemeralRunners and (when read) events of deskrun's namespace.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub pods: Vec<Json>,
    pub runners: Vec<Json>,
    pub events: Vec<Json>,
}

impl Workload {
    /// Sorts the items of one `kubectl get pods,ephemeralrunners...` (a
    /// `List` of mixed kinds) into pods, runners and events.
    pub fn from_items(items: Vec<Json>) -> Self {
        let mut w = Workload::default();
        for item in items {
            match item.get("kind").and_then(Json::as_str) {
                Some("Pod") => w.pods.push(item),
                Some("EphemeralRunner") => w.runners.push(item),
                Some("Event") => w.events.push(item),
                _ => {}
            }
        }
        w
    }

    /// Each pod's kind and instance (`None` for the controller, or a job
    /// pod whose runner pod is gone).
    pub fn classify(&self) -> Vec<(&Json, ObjectKind, Option<String>)> {
        let runner_instance: BTreeMap<&str, &str> = self
            .pods
            .iter()
            .filter(|p| label(p, LABEL_COMPONENT) == Some(COMPONENT_RUNNER))
            .filter_map(|p| Some((name(p), label(p, LABEL_SCALE_SET)?)))
            .collect();
        self.pods
            .iter()
            .filter_map(|p| {
                let (kind, instance) = match label(p, LABEL_COMPONENT) {
                    Some(COMPONENT_LISTENER) => (
                        ObjectKind::Listener,
                        label(p, LABEL_SCALE_SET).map(String::from),
                    ),
                    Some(COMPONENT_RUNNER) => (
                        ObjectKind::Runner,
                        label(p, LABEL_SCALE_SET).map(String::from),
                    ),
                    Some(COMPONENT_CONTROLLER) => (ObjectKind::Controller, None),
                    _ => {
                        let runner = label(p, LABEL_RUNNER_POD)?;
                        let instance = runner_instance.get(runner).map(|i| i.to_string());
                        (ObjectKind::Job, instance)
                    }
                };
                Some((p, kind, instance))
            })
            .collect()
    }

    /// Pods of `kind` for `instance` (any instance for the controller).
    pub fn pods_of(&self, kind: ObjectKind, instance: Option<&str>) -> Vec<&Json> {
        self.classify()
            .into_iter()
            .filter(|(_, k, i)| *k == kind && (instance.is_none() || i.as_deref() == instance))
            .map(|(p, _, _)| p)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Problems.

/// The object a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// The pod's name (for a failed runner: the EphemeralRunner's, which is
    /// also its pod's).
    pub name: String,
    pub kind: ObjectKind,
}

/// Why a listener, runner, job or the controller is not healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The scale set it belongs to; `null` for the controller.
    pub instance: Option<String>,
    pub object: ObjectRef,
    /// Kubernetes' own word for it: `ImagePullBackOff`, `CrashLoopBackOff`,
    /// `Unschedulable`, `FailedMount`, ..., or `Failed`.
    pub reason: String,
    /// What went wrong, with the detail Kubernetes or the log gave.
    pub message: String,
    /// What to do next.
    pub hint: String,
}

const PULL_ERRORS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];
const CONFIG_ERRORS: [&str; 3] = [
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];
/// Warning events that explain a pod stuck before its containers run.
const EVENT_REASONS: [&str; 5] = [
    "FailedScheduling",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreatePodSandBox",
    "Failed",
];

/// Container statuses, init containers (native sidecars such as dind) first.
fn statuses(pod: &Json) -> impl Iterator<Item = &Json> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Json::as_array))
        .flatten()
}

fn phase(pod: &Json) -> &str {
    s(pod, "/status/phase").unwrap_or("Pending")
}

fn unschedulable(pod: &Json) -> Option<&Json> {
    pod.pointer("/status/conditions")
        .and_then(Json::as_array)?
        .iter()
        .find(|c| {
            s(c, "/type") == Some("PodScheduled")
                && s(c, "/status") == Some("False")
                && s(c, "/reason") == Some("Unschedulable")
        })
}

/// A listener whose log is worth one call: it crashed or exited with an
/// error. `true` when the interesting log is the previous container's
/// (`kubectl logs --previous`, for a container waiting to restart).
pub fn listener_log_wanted(pod: &Json) -> Option<bool> {
    let cs = statuses(pod).find(|c| s(c, "/name") == Some(CONTAINER_LISTENER))?;
    if s(cs, "/state/waiting/reason") == Some("CrashLoopBackOff") {
        return Some(true);
    }
    let code = cs
        .pointer("/state/terminated/exitCode")
        .and_then(Json::as_i64);
    (code.is_some_and(|c| c != 0)).then_some(false)
}

/// Whether reading the namespace's events could explain something: a pod
/// that cannot be scheduled, cannot pull its image, or has been pending for
/// longer than [`PENDING_GRACE_SECS`]. A healthy cluster needs no such call.
pub fn events_wanted(w: &Workload, now: i64) -> bool {
    w.classify().iter().any(|(p, _, _)| {
        phase(p) == "Pending"
            && (unschedulable(p).is_some()
                || statuses(p).any(|c| {
                    s(c, "/state/waiting/reason").is_some_and(|r| PULL_ERRORS.contains(&r))
                })
                || age_of(p, now).is_some_and(|a| a > PENDING_GRACE_SECS))
    })
}

fn event_time(e: &Json) -> i64 {
    [
        "/lastTimestamp",
        "/eventTime",
        "/series/lastObservedTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| s(e, p).and_then(parse_time))
    .max()
    .unwrap_or(0)
}

/// The newest warning event about pod `pod` with one of `reasons`.
fn latest_event<'a>(events: &'a [Json], pod: &str, reasons: &[&str]) -> Option<&'a Json> {
    events
        .iter()
        .filter(|e| {
            s(e, "/involvedObject/kind") == Some("Pod")
                && s(e, "/involvedObject/name") == Some(pod)
                && s(e, "/type") == Some("Warning")
                && s(e, "/reason").is_some_and(|r| reasons.contains(&r))
        })
        .max_by_key(|e| event_time(e))
}

/// The line of a log that best says why it failed: the last one that reads
/// like an error, else the last line. At most 300 characters.
pub fn last_error_line(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let errorish = |l: &&&str| {
        let l = l.to_ascii_lowercase();
        [
            "error",
            "fatal",
            "failed",
            "panic",
            "unauthorized",
            "forbidden",
            "not found",
        ]
        .iter()
        .any(|w| l.contains(w))
    };
    let line = lines.iter().rev().find(errorish).or(lines.last())?;
    let mut line: String = line.chars().take(300).collect();
    if line.chars().count() == 300 {
        line.push('…');
    }
    Some(line)
}

/// The next step when GitHub refused something, judged from a log line
/// (401, 403, 404); `None` when the line says nothing of the kind.
fn github_hint(line: &str, installation: &str) -> Option<String> {
    let l = line.to_ascii_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| l.contains(x));
    Some(
        if has(&[
            "401",
            "bad credentials",
            "unauthorized",
            "could not be decoded",
        ]) {
            format!(
                "GitHub refused the credential (401): run `deskrun doctor`; give a new one with \
             `deskrun add {installation} --replace ...`, then `deskrun up`"
            )
        } else if has(&["403", "forbidden", "resource not accessible"]) {
            "the credential may not manage runners there (403): run `deskrun doctor`; README's \
         Authentication section lists the scopes"
                .to_string()
        } else if has(&["404", "not found"]) {
            "GitHub does not know the repository or organisation, or the credential cannot see it \
         (404): check the URL and run `deskrun doctor`"
                .to_string()
        } else {
            return None;
        },
    )
}

/// The next step for a listener that fails with `line` in its log.
fn listener_hint(line: Option<&str>, target: &str) -> String {
    let installation = target.split(' ').next().unwrap_or(target);
    line.and_then(|l| github_hint(l, installation))
        .unwrap_or_else(|| {
            format!("run `deskrun doctor`; `deskrun logs {target}` shows the listener's whole log")
        })
}

fn logs_hint(kind: ObjectKind, target: Option<&str>) -> String {
    match (kind, target) {
        (ObjectKind::Controller, _) | (_, None) => {
            "`deskrun logs --controller` shows the controller's log".into()
        }
        (ObjectKind::Listener, Some(t)) => format!("`deskrun logs {t}` shows the listener's log"),
        (ObjectKind::Runner, Some(t)) => {
            format!("`deskrun logs {t} --runner` shows the runner's log")
        }
        (ObjectKind::Job, Some(t)) => format!("`deskrun logs {t} --job` shows the job pod's log"),
    }
}

fn pull_hint(kind: ObjectKind, image: &str) -> String {
    if kind == ObjectKind::Job {
        format!(
            "the job's image {image} cannot be pulled: check `container:` in the workflow (name, \
             tag, registry credentials) and that the registry is reachable"
        )
    } else {
        format!(
            "check the image name and tag, and that this machine can reach its registry (try \
             `docker pull {image}`)"
        )
    }
}

fn schedule_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("insufficient cpu") || m.contains("insufficient memory") {
        "the kind node has not enough free CPU or memory for this pod: lower --max-runners, \
         finish other jobs, or give Docker more CPU and memory"
            .into()
    } else if m.contains("persistentvolumeclaim") || m.contains("volume") {
        "the pod's volume claim is not bound: check that the storage class exists and \
         provisions (`kubectl get storageclass,pvc` in the cluster's context)"
            .into()
    } else {
        "the scheduler found no node for this pod; the message says why".into()
    }
}

fn mount_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("configmap") {
        "a ConfigMap the pod mounts is missing: `deskrun up` re-creates the hook extension".into()
    } else if m.contains("hostpath") || m.contains("no such file") {
        "a cache directory is not mounted into the kind node: `deskrun cluster status` lists \
         missing mounts"
            .into()
    } else {
        "the pod's volumes cannot be set up; the message says which".into()
    }
}

/// The problems of one pod (at most one: the most telling).
fn pod_problem(
    pod: &Json,
    kind: ObjectKind,
    instance: Option<&str>,
    target: Option<&str>,
    events: &[Json],
    listener_log: Option<&str>,
) -> Option<Problem> {
    let pod_name = name(pod);
    let problem = |reason: &str, message: String, hint: String| Problem {
        instance: instance.map(String::from),
        object: ObjectRef {
            name: pod_name.to_string(),
            kind,
        },
        reason: reason.to_string(),
        message,
        hint,
    };
    let log_line = listener_log.and_then(last_error_line);
    let with_log = |mut message: String| {
        if let Some(line) = &log_line {
            message.push_str(&format!("; last log line: {line}"));
        }
        message
    };
    let crash_hint = || match kind {
        ObjectKind::Listener => listener_hint(log_line.as_deref(), target.unwrap_or("NAME")),
        _ => logs_hint(kind, target),
    };

    if s(pod, "/status/reason") == Some("Evicted") {
        return Some(problem(
            "Evicted",
            s(pod, "/status/message")
                .unwrap_or("evicted by the kubelet")
                .to_string(),
            "the kind node ran short of a resource (often disk): free space on this machine \
             (`docker system prune`), then `deskrun up`"
                .into(),
        ));
    }
    for c in statuses(pod) {
        let container = s(c, "/name").unwrap_or("?");
        let image = s(c, "/image").unwrap_or("?");
        let waiting = s(c, "/state/waiting/reason");
        let detail = s(c, "/state/waiting/message").unwrap_or("");
        match waiting {
            Some(r) if PULL_ERRORS.contains(&r) => {
                // The back-off message only says it is backing off; the
                // pull error itself is in the kubelet's event.
                let err = latest_event(events, pod_name, &["Failed"])
                    .and_then(|e| s(e, "/message"))
                    .filter(|m| m.contains("pull") || m.contains("image"))
                    .unwrap_or(detail);
                let mut message = format!("container {container} cannot pull image {image}");
                if !err.is_empty() {
                    message.push_str(&format!(": {err}"));
                }
                return Some(problem(r, message, pull_hint(kind, image)));
            }
            Some("CrashLoopBackOff") => {
                let restarts = c.get("restartCount").and_then(Json::as_u64).unwrap_or(0);
                let mut message =
                    format!("container {container} keeps crashing: restarted {restarts} times");
                if let Some(code) = c
                    .pointer("/lastState/terminated/exitCode")
                    .and_then(Json::as_i64)
                {
                    message.push_str(&format!(", last exit code {code}"));
                    if let Some(why) = s(c, "/lastState/terminated/reason") {
                        message.push_str(&format!(" ({why})"));
                    }
                }
                return Some(problem("CrashLoopBackOff", with_log(message), crash_hint()));
            }
            Some(r) if CONFIG_ERRORS.contains(&r) => {
                let message = format!("container {container} cannot start: {detail}");
                let hint = if detail.contains("secret") {
                    "a Secret the pod needs is missing: `deskrun up` re-creates the scale set's \
                     objects"
                        .to_string()
                } else if detail.contains("configmap") {
                    "a ConfigMap the pod needs is missing: `deskrun up` re-creates it".to_string()
                } else {
                    logs_hint(kind, target)
                };
                return Some(problem(r, message, hint));
            }
            _ => {}
        }
    }
    match phase(pod) {
        "Failed" => {
            let term = statuses(pod).find(|c| {
                c.pointer("/state/terminated/exitCode")
                    .and_then(Json::as_i64)
                    .is_some_and(|code| code != 0)
            });
            let message = match term {
                Some(c) => format!(
                    "container {} exited with code {}{}",
                    s(c, "/name").unwrap_or("?"),
                    c.pointer("/state/terminated/exitCode")
                        .and_then(Json::as_i64)
                        .unwrap_or(0),
                    s(c, "/state/terminated/reason")
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                None => s(pod, "/status/message")
                    .unwrap_or("the pod failed")
                    .to_string(),
            };
            Some(problem("Failed", with_log(message), crash_hint()))
        }
        "Pending" => {
            if let Some(cond) = unschedulable(pod) {
                let message = latest_event(events, pod_name, &["FailedScheduling"])
                    .and_then(|e| s(e, "/message"))
                    .or_else(|| s(cond, "/message"))
                    .unwrap_or("no node can run it")
                    .to_string();
                let hint = schedule_hint(&message);
                return Some(problem("Unschedulable", message, hint));
            }
            let e = latest_event(events, pod_name, &EVENT_REASONS[1..])?;
            let reason = s(e, "/reason").unwrap_or("Failed");
            let message = s(e, "/message").unwrap_or("").to_string();
            let hint = if reason.starts_with("FailedMount") || reason == "FailedAttachVolume" {
                mount_hint(&message)
            } else {
                logs_hint(kind, target)
            };
            Some(problem(reason, message, hint))
        }
        _ => None,
    }
}

/// A failed EphemeralRunner: ARC gave up on starting its pod.
fn runner_problem(er: &Json, instance: &str, target: Option<&str>) -> Option<Problem> {
    if s(er, "/status/phase") != Some("Failed") {
        return None;
    }
    let failures = er
        .pointer("/status/failures")
        .and_then(Json::as_object)
        .map_or(0, |f| f.len());
    let mut message = s(er, "/status/message")
        .unwrap_or("the runner failed")
        .to_string();
    if failures > 0 {
        message.push_str(&format!(" (its pod failed {failures} times)"));
    }
    Some(Problem {
        instance: Some(instance.to_string()),
        object: ObjectRef {
            name: name(er).to_string(),
            kind: ObjectKind::Runner,
        },
        reason: s(er, "/status/reason").unwrap_or("Failed").to_string(),
        message,
        hint: format!(
            "ARC gave up starting this runner; {} and fix the cause (image, volumes), then \
             `deskrun up`",
            logs_hint(ObjectKind::Runner, target)
        ),
    })
}

/// Everything wrong with the instances in `wanted` and the controller, in
/// a stable order (instance, then listener, runner, job, controller).
/// `listener_logs` holds the logs read for failing listeners, by pod name.
pub fn problems(
    w: &Workload,
    runner_sets: &[Json],
    wanted: &BTreeMap<String, InstanceRef>,
    logs: &Logs,
    now: i64,
) -> Vec<Problem> {
    let listener_logs = &logs.listeners;
    let mut out = Vec::new();
    for instance in missing_listeners(w, runner_sets, wanted, now) {
        let registered = runner_sets
            .iter()
            .find(|a| name(a) == instance)
            .and_then(|a| a.pointer("/metadata/annotations"))
            .and_then(|a| a.get(ANNOTATION_SCALE_SET_ID))
            .is_some();
        let mut message = if registered {
            "no listener pod: the controller has not started one".to_string()
        } else {
            "no listener pod: the controller has not registered the scale set with GitHub"
                .to_string()
        };
        let line = logs
            .controller
            .as_deref()
            .and_then(|l| controller_error_for(l, instance));
        if let Some(line) = &line {
            message.push_str(&format!("; the controller's last error: {line}"));
        }
        let installation = &wanted[instance].installation;
        let hint = line
            .as_deref()
            .and_then(|l| github_hint(l, installation))
            .unwrap_or_else(|| {
                "`deskrun logs --controller` shows why (often a credential or URL GitHub \
                 refuses); `deskrun doctor` checks both"
                    .to_string()
            });
        out.push(Problem {
            instance: Some(instance.to_string()),
            object: ObjectRef {
                name: instance.to_string(),
                kind: ObjectKind::Listener,
            },
            reason: "NoListener".into(),
            message,
            hint,
        });
    }
    for (pod, kind, instance) in w.classify() {
        let target = instance
            .as_deref()
            .and_then(|i| wanted.get(i))
            .map(InstanceRef::logs_target);
        let ours = match kind {
            ObjectKind::Controller => true,
            _ => instance.as_deref().is_some_and(|i| wanted.contains_key(i)),
        };
        if !ours {
            continue;
        }
        let log = listener_logs.get(name(pod)).map(String::as_str);
        out.extend(pod_problem(
            pod,
            kind,
            instance.as_deref(),
            target.as_deref(),
            &w.events,
            log,
        ));
    }
    for er in &w.runners {
        let Some(instance) = label(er, LABEL_SCALE_SET).filter(|i| wanted.contains_key(*i)) else {
            continue;
        };
        // A failed pod of this runner already says more than the runner.
        if out
            .iter()
            .any(|p| p.object.name == name(er) && p.object.kind == ObjectKind::Runner)
        {
            continue;
        }
        let target = wanted.get(instance).map(InstanceRef::logs_target);
        out.extend(runner_problem(er, instance, target.as_deref()));
    }
    out.sort_by(|a, b| {
        (
            a.object.kind == ObjectKind::Controller,
            &a.instance,
            a.object.kind,
            &a.object.name,
        )
            .cmp(&(
                b.object.kind == ObjectKind::Controller,
                &b.instance,
                b.object.kind,
                &b.object.name,
            ))
    });
    out
}

/// The logs `status` read because something failed.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    /// Failing listeners' logs, by pod name.
    pub listeners: BTreeMap<String, String>,
    /// The tail of the controller's log, read when a listener is missing.
    pub controller: Option<String>,
}

/// The annotation ARC puts on an AutoscalingRunnerSet once GitHub knows it.
pub const ANNOTATION_SCALE_SET_ID: &str = "runner-scale-set-id";
/// How long after its AutoscalingRunnerSet appeared a listener may still be
/// missing without that being a problem (the controller starts it within
/// seconds when GitHub accepts the scale set).
pub const LISTENER_GRACE_SECS: i64 = 60;

/// Instances in `wanted` whose AutoscalingRunnerSet has existed for longer
/// than [`LISTENER_GRACE_SECS`] without a listener pod.
pub fn missing_listeners<'a>(
    w: &Workload,
    runner_sets: &'a [Json],
    wanted: &BTreeMap<String, InstanceRef>,
    now: i64,
) -> Vec<&'a str> {
    let have: Vec<String> = w
        .classify()
        .into_iter()
        .filter(|(_, k, _)| *k == ObjectKind::Listener)
        .filter_map(|(_, _, i)| i)
        .collect();
    runner_sets
        .iter()
        .map(name)
        .zip(runner_sets)
        .filter(|(n, ars)| {
            wanted.contains_key(*n)
                && !have.iter().any(|h| h == n)
                && age_of(ars, now).is_none_or(|a| a > LISTENER_GRACE_SECS)
        })
        .map(|(n, _)| n)
        .collect()
}

/// The controller's last error line about scale set `instance` (its log
/// names the AutoscalingRunnerSet as `"name":"<instance>"`).
pub fn controller_error_for(log: &str, instance: &str) -> Option<String> {
    let quoted = format!("\"{instance}\"");
    let lines: String = log
        .lines()
        .filter(|l| l.contains(&quoted) && l.to_ascii_lowercase().contains("error"))
        .collect::<Vec<_>>()
        .join("\n");
    let line = lines.lines().last()?;
    let mut line: String = line.trim().chars().take(300).collect();
    if line.chars().count() == 300 {
        line.push('…');
    }
    Some(line)
}

/// The listener pods whose last log line `status` should read, with whether
/// to read the previous container's log.
pub fn failing_listeners<'a>(
    w: &'a Workload,
    wanted: &BTreeMap<String, InstanceRef>,
) -> Vec<(&'a str, bool)> {
    w.classify()
        .into_iter()
        .filter(|(_, k, i)| {
            *k == ObjectKind::Listener && i.as_deref().is_some_and(|i| wanted.contains_key(i))
        })
        .filter_map(|(p, _, _)| Some((name(p), listener_log_wanted(p)?)))
        .collect()
}

// ---------------------------------------------------------------------------
// Jobs: what each runner is doing.

/// The job a runner was given, from its EphemeralRunner's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobInfo {
    /// `owner/repo` the workflow runs in.
    pub repository: Option<String>,
    /// The workflow file's name, e.g. `ci.yml`.
    pub workflow: Option<String>,
    /// The full reference: `owner/repo/.github/workflows/ci.yml@refs/heads/main`.
    pub workflow_ref: Option<String>,
    /// The job's display name.
    pub name: Option<String>,
    pub run_id: Option<u64>,
}

/// A pod's name and phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRef {
    pub name: String,
    pub phase: String,
}

/// One EphemeralRunner and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunnerRow {
    /// The EphemeralRunner's name.
    pub name: String,
    /// The configured installation; `null` for a scale set not in the config.
    pub installation: Option<String>,
    pub instance: String,
    /// The EphemeralRunner's phase: `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: String,
    /// Registered and waiting for a job.
    pub idle: bool,
    pub job: Option<JobInfo>,
    /// Seconds since the runner was created.
    pub age_seconds: Option<u64>,
    /// The runner's pod (same name), when it exists.
    pub pod: Option<PodRef>,
    /// The job pod the container hooks created for it (kubernetes modes).
    pub job_pod: Option<PodRef>,
}

fn job_info(er: &Json) -> Option<JobInfo> {
    let repository = s(er, "/status/jobRepositoryName").map(String::from);
    let workflow_ref = s(er, "/status/jobWorkflowRef").map(String::from);
    let name = s(er, "/status/jobDisplayName").map(String::from);
    let run_id = er
        .pointer("/status/workflowRunId")
        .and_then(Json::as_u64)
        .filter(|id| *id > 0);
    if repository.is_none() && workflow_ref.is_none() && name.is_none() && run_id.is_none() {
        return None;
    }
    let workflow = workflow_ref.as_deref().map(|r| {
        let path = r.split('@').next().unwrap_or(r);
        path.rsplit('/').next().unwrap_or(path).to_string()
    });
    Some(JobInfo {
        repository,
        workflow,
        workflow_ref,
        name,
        run_id,
    })
}

fn pod_ref(p: &Json) -> PodRef {
    PodRef {
        name: name(p).to_string(),
        phase: phase(p).to_string(),
    }
}

/// One row per EphemeralRunner of the instances in `wanted` (all of them
/// when `wanted` is `None`), sorted by instance and age (oldest first).
pub fn jobs(
    w: &Workload,
    instances: &BTreeMap<String, InstanceRef>,
    only: Option<&str>,
    now: i64,
) -> Vec<RunnerRow> {
    let mut rows: Vec<RunnerRow> = w
        .runners
        .iter()
        .filter_map(|er| {
            let instance = label(er, LABEL_SCALE_SET)?.to_string();
            let installation = instances.get(&instance).map(|i| i.installation.clone());
            if only.is_some_and(|o| installation.as_deref() != Some(o)) {
                return None;
            }
            let er_name = name(er);
            let pod = w.pods.iter().find(|p| {
                name(p) == er_name && label(p, LABEL_COMPONENT) == Some(COMPONENT_RUNNER)
            });
            let job_pod = w
                .pods
                .iter()
                .find(|p| label(p, LABEL_RUNNER_POD) == Some(er_name));
            let job = job_info(er);
            let phase = s(er, "/status/phase").unwrap_or("Pending").to_string();
            Some(RunnerRow {
                name: er_name.to_string(),
                installation,
                idle: job.is_none() && phase == "Running",
                instance,
                phase,
                job,
                age_seconds: age_of(er, now).map(|a| a.max(0) as u64),
                pod: pod.map(pod_ref),
                job_pod: job_pod.map(pod_ref),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.instance, std::cmp::Reverse(a.age_seconds), &a.name).cmp(&(
            &b.instance,
            std::cmp::Reverse(b.age_seconds),
            &b.name,
        ))
    });
    rows
}

#[cfg(test)]
mod tests;
