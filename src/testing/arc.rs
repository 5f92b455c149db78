//! ARC's pods, EphemeralRunners and events as the API server returns them
//! (ARC 0.14.2, runner-container-hooks 0.7), in the states deskrun must
//! explain, plus the fake `kubectl logs` and field selectors.
//!
//! ```
//! use deskrun::testing::arc;
//! let pod = arc::listener_pod("docker-runner", arc::crash_loop("listener", 4, 1));
//! ```

use super::{Cluster, Cmd, Failure, Reply};
use serde_json::{Value as Json, json};

/// The fake's "now" for every timestamp below: 2026-11-30T07:10:00Z.
pub const NOW: &str = "2026-11-30T07:10:00Z";
/// Five minutes before [`NOW`]: long enough to count as stuck.
pub const EARLIER: &str = "2026-11-30T07:05:00Z";

pub const LISTENER_IMAGE: &str = "ghcr.io/actions/gha-runner-scale-set-controller:0.14.2";
pub const RUNNER_IMAGE: &str = "ghcr.io/actions/actions-runner:latest";

/// A pod's `status`: phase, conditions, container statuses.
pub type PodStatus = Json;

fn container_status(name: &str, image: &str, state: Json, last: Json, restarts: u32) -> Json {
    let ready = state.get("running").is_some();
    json!({
        "name": name, "image": image, "imageID": "", "ready": ready, "started": ready,
        "restartCount": restarts, "state": state, "lastState": last
    })
}

fn scheduled() -> Json {
    json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": EARLIER}])
}

/// Every container running.
pub fn running(containers: &[&str]) -> PodStatus {
    json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": containers.iter().map(|c| container_status(
            c, RUNNER_IMAGE, json!({"running": {"startedAt": EARLIER}}), json!({}), 0)).collect::<Vec<_>>()
    })
}

/// `container` waiting with `reason` (`ImagePullBackOff`, `ErrImagePull`,
/// `CreateContainerConfigError`, `ContainerCreating`...): the pod is Pending.
pub fn waiting(container: &str, image: &str, reason: &str, message: &str) -> PodStatus {
    let mut waiting = json!({"reason": reason});
    if !message.is_empty() {
        waiting["message"] = json!(message);
    }
    json!({
        "phase": "Pending",
        "conditions": scheduled(),
        "containerStatuses": [container_status(container, image, json!({"waiting": waiting}), json!({}), 0)]
    })
}

/// `container` restarting after crashing `restarts` times with `exit_code`.
pub fn crash_loop(container: &str, restarts: u32, exit_code: i32) -> PodStatus {
    json!({
        "phase": "Running",
        "conditions": scheduled(),
        "containerStatuses": [container_status(
            container,
            LISTENER_IMAGE,
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 1m20s restarting failed container={container}")}}),
            json!({"terminated": {"exitCode": exit_code, "reason": "Error", "startedAt": EARLIER, "finishedAt": EARLIER}}),
            restarts,
        )]
    })
}

/// `container` exited with `exit_code` and, with restart policy `Never`
/// (listeners, runners), the pod ended `Failed`.
pub fn exited(container: &str, exit_code: i32) -> PodStatus {
    json!({
        "phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
        "conditions": scheduled(),
        "containerStatuses": [container_status(
            container,
            LISTENER_IMAGE,
            json!({"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" }, "startedAt": EARLIER, "finishedAt": EARLIER}}),
            json!({}),
            0,
        )]
    })
}

/// No node can take the pod (`message` as the scheduler words it).
pub fn unschedulable(message: &str) -> PodStatus {
    json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                        "lastTransitionTime": EARLIER, "message": message}]
    })
}

fn pod(name: &str, labels: Json, containers: Json, init: Json, status: PodStatus) -> Json {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "arc-systems", "creationTimestamp": EARLIER, "labels": labels},
        "spec": {"containers": containers, "initContainers": init, "restartPolicy": "Never"},
        "status": status
    })
}

/// The listener pod of scale set `instance` (what the AutoscalingListener
/// controller creates).
pub fn listener_pod(instance: &str, status: PodStatus) -> Json {
    pod(
        &format!("{instance}-754b578d-listener"),
        json!({
            "app.kubernetes.io/component": "runner-scale-set-listener",
            "app.kubernetes.io/part-of": "gha-runner-scale-set",
            "app.kubernetes.io/version": "0.14.2",
            "actions.github.com/scale-set-name": instance,
            "actions.github.com/scale-set-namespace": "arc-systems"
        }),
        json!([{"name": "listener", "image": LISTENER_IMAGE}]),
        json!([]),
        status,
    )
}

/// The pod of EphemeralRunner `name` of scale set `instance`; `dind` adds
/// the dind native sidecar (an init container) of deskrun's dind mode.
pub fn runner_pod(name: &str, instance: &str, dind: bool, status: PodStatus) -> Json {
    let init = if dind {
        json!([{"name": "init-dind-externals", "image": RUNNER_IMAGE},
               {"name": "dind", "image": "docker:dind", "restartPolicy": "Always"}])
    } else {
        json!([])
    };
    pod(
        name,
        runner_labels(instance),
        json!([{"name": "runner", "image": RUNNER_IMAGE}]),
        init,
        status,
    )
}

fn runner_labels(instance: &str) -> Json {
    json!({
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/part-of": "gha-runner-scale-set",
        "actions.github.com/scale-set-name": instance,
        "actions.github.com/scale-set-namespace": "arc-systems",
        "actions-ephemeral-runner": "True"
    })
}

/// The job pod the kubernetes container hooks create for runner pod
/// `runner` (`<runner>-workflow`, label `runner-pod`, container `job`).
pub fn job_pod(runner: &str, image: &str, status: PodStatus) -> Json {
    pod(
        &format!("{runner}-workflow"),
        json!({"runner-pod": runner}),
        json!([{"name": "job", "image": image}]),
        json!([{"name": "fs-init", "image": RUNNER_IMAGE}]),
        status,
    )
}

/// The ARC controller's pod (release `arc`).
pub fn controller_pod(status: PodStatus) -> Json {
    pod(
        "arc-gha-rs-controller-6d5f8b7c9-x2x7q",
        json!({
            "app.kubernetes.io/component": "controller-manager",
            "app.kubernetes.io/instance": "arc",
            "app.kubernetes.io/name": "gha-rs-controller",
            "app.kubernetes.io/part-of": "gha-rs-controller"
        }),
        json!([{"name": "manager", "image": LISTENER_IMAGE}]),
        json!([]),
        status,
    )
}

/// An EphemeralRunner of scale set `instance` with `status` (its phase and,
/// once it got a job, `jobRepositoryName`, `jobWorkflowRef`, ...).
pub fn ephemeral_runner(name: &str, instance: &str, created: &str, status: Json) -> Json {
    json!({
        "apiVersion": "actions.github.com/v1alpha1",
        "kind": "EphemeralRunner",
        "metadata": {"name": name, "namespace": "arc-systems", "creationTimestamp": created,
                     "generateName": format!("{instance}-k2x9d-runner-"), "labels": runner_labels(instance)},
        "spec": {"githubConfigUrl": "https://github.com/owner/repo"},
        "status": status
    })
}

/// The status of a runner that runs a job of `owner/repo`'s `ci.yml`.
pub fn busy(job: &str, run_id: u64) -> Json {
    json!({
        "phase": "Running", "ready": true, "runnerId": 42,
        "jobRequestId": 9001, "jobId": "b1e3c5d7-0000-4000-8000-000000000001",
        "jobRepositoryName": "owner/repo",
        "jobWorkflowRef": "owner/repo/.github/workflows/ci.yml@refs/heads/main",
        "workflowRunId": run_id,
        "jobDisplayName": job
    })
}

/// A warning event about pod `pod`, as the kubelet or the scheduler
/// records it.
pub fn event(pod: &str, reason: &str, message: &str, at: &str) -> Json {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{pod}.18a2b3c4d5e6f7a8.{reason}"), "namespace": "arc-systems", "creationTimestamp": at},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "arc-systems"},
        "reason": reason, "message": message, "type": "Warning", "count": 3,
        "firstTimestamp": at, "lastTimestamp": at,
        "source": {"component": if reason == "FailedScheduling" { "default-scheduler" } else { "kubelet" }}
    })
}

// ---------------------------------------------------------------------------
// The fake's side: logs and field selectors.

/// Whose log: a container of a pod (`previous`: the crashed instance
/// before the current one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct LogKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
}

impl Cluster {
    /// Set what `kubectl logs` prints for `container` of `pod` (in
    /// `arc-systems`); `previous` for `--previous`.
    pub fn set_log(&mut self, pod: &str, container: &str, previous: bool, text: &str) {
        self.logs.insert(
            LogKey {
                namespace: "arc-systems".into(),
                pod: pod.into(),
                container: container.into(),
                previous,
            },
            text.into(),
        );
    }
}

fn pod_containers(pod: &Json) -> Vec<String> {
    ["/spec/initContainers", "/spec/containers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Json::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Json::as_str).map(String::from))
        .collect()
}

fn state_of<'a>(pod: &'a Json, container: &str) -> Option<&'a Json> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Json::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Json::as_str) == Some(container))
}

/// `kubectl logs POD [--container C | --all-containers] [--tail=N]
/// [--since=D] [--previous] [--follow]`, with kubectl's errors for a
/// missing pod or container and one that has not started.
pub(super) fn kubectl_logs(cluster: &Cluster, cmd: &Cmd, ns: &str) -> Reply {
    let Some(pod_name) = cmd.word(1) else {
        return Err(Failure::unsupported(cmd));
    };
    let Some(pod) = cluster.get("Pod", ns, pod_name) else {
        return Err(Failure::exit(
            1,
            format!("Error from server (NotFound): pods \"{pod_name}\" not found"),
        ));
    };
    let previous = cmd.has("--previous") || cmd.has("-p");
    let containers = match cmd.flag(&["--container", "-c"]) {
        Some(c) if !pod_containers(pod).iter().any(|x| x == c) => {
            return Err(Failure::exit(
                1,
                format!("error: container {c} is not valid for pod {pod_name}"),
            ));
        }
        Some(c) => vec![c.to_string()],
        None if cmd.has("--all-containers") => pod_containers(pod),
        None => return Err(Failure::unsupported(cmd)),
    };
    let mut out = String::new();
    for c in containers {
        let state = state_of(pod, &c);
        let started = state.is_some_and(|s| {
            s.pointer("/state/running").is_some()
                || s.pointer("/state/terminated").is_some()
                || (previous && s.pointer("/lastState/terminated").is_some())
        });
        if !started {
            let why = state
                .and_then(|s| s.pointer("/state/waiting/reason"))
                .and_then(Json::as_str)
                .unwrap_or("PodInitializing");
            return Err(Failure::exit(
                1,
                if previous {
                    format!(
                        "Error from server (BadRequest): previous terminated container \"{c}\" in pod \"{pod_name}\" not found"
                    )
                } else {
                    format!(
                        "Error from server (BadRequest): container \"{c}\" in pod \"{pod_name}\" is waiting to start: {why}"
                    )
                },
            ));
        }
        let key = LogKey {
            namespace: ns.into(),
            pod: pod_name.into(),
            container: c.clone(),
            previous,
        };
        out.push_str(cluster.logs.get(&key).map_or("", String::as_str));
    }
    if let Some(n) = cmd.flag(&["--tail"]).and_then(|n| n.parse::<i64>().ok())
        && n >= 0
    {
        let lines: Vec<&str> = out.lines().collect();
        let keep = lines[lines.len().saturating_sub(n as usize)..].join("\n");
        out = if keep.is_empty() { keep } else { keep + "\n" };
    }
    Ok(out)
}

/// Whether `obj` matches a field selector such as
/// `involvedObject.kind=Pod,type=Warning` (`=`, `==` and `!=`).
pub(super) fn fields_match(obj: &Json, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (path, want, eq) = match term.split_once("!=") {
            Some((p, v)) => (p, v, false),
            None => match term.split_once('=') {
                Some((p, v)) => (p, v.trim_start_matches('='), true),
                None => return false,
            },
        };
        let pointer = format!("/{}", path.replace('.', "/"));
        let got = obj.pointer(&pointer).and_then(Json::as_str).unwrap_or("");
        (got == want) == eq
    })
}
