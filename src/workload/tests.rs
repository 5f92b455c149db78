//! The pure core on JSON shaped the way `kubectl get -o json` prints it for
//! ARC 0.14.2 objects (labels, container statuses, conditions, events).

use super::*;
use crate::model::{Auth, Installation};
use serde_json::json;

/// 2026-11-30T07:10:00Z
const NOW: i64 = 1_796_022_600;

fn config() -> Config {
    let mut c = Config::default();
    let inst = |mode, instances| Installation {
        repository: "https://github.com/owner/repo".into(),
        mode,
        min_runners: 1,
        max_runners: 1,
        instances,
        caches: vec![],
        auth: Auth::Pat {
            token: "x".repeat(12),
        },
        ..Default::default()
    };
    c.installations.insert(
        "docker-runner".into(),
        inst(Mode::CachedPrivilegedKubernetes, 1),
    );
    c.installations
        .insert("ci".into(), inst(Mode::Kubernetes, 2));
    c
}

// The objects as the API server returns them: one definition, shared with
// the in-process fake's tests.
use crate::testing::arc::{controller_pod, ephemeral_runner, event, listener_pod as listener};

fn running_listener(instance: &str) -> Json {
    listener(instance, crate::testing::arc::running(&["listener"]))
}

fn runner_pod(name: &str, instance: &str, status: Json) -> Json {
    crate::testing::arc::runner_pod(name, instance, false, status)
}

fn job_pod(runner: &str, status: Json) -> Json {
    crate::testing::arc::job_pod(runner, "ubuntu:244.04", status)
}

fn all_problems(w: &Workload, logs: &[(&str, &str)]) -> Vec<Problem> {
    let logs = Logs {
        listeners: logs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        controller: None,
    };
    problems(w, &[], &instances(&config()), &logs, NOW)
}

fn runner_set(instance: &str, created: &str, registered: bool) -> Json {
    let mut annotations = json!({"deskrun.dev/inputs-hash": "0123456789abcdef0123456789abcdef"});
    if registered {
        annotations["runner-scale-set-id"] = json!("7");
    }
    json!({
        "apiVersion": "actions.github.com/v1alpha1",
        "kind": "AutoscalingRunnerSet",
        "metadata": {"name": instance, "namespace": "arc-systems", "creationTimestamp": created, "annotations": annotations,
            "labels": {"app.kubernetes.io/component": "autoscaling-runner-set", "actions.github.com/scale-set-name": instance}},
        "status": {"currentRunners": 0, "pendingEphemeralRunners": 0, "runningEphemeralRunners": 0}
    })
}

#[test]
fn times_and_ages() {
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("2026-11-30T07:10:00Z"), Some(NOW));
    assert_eq!(parse_time("2026-11-30T07:10:00.123456Z"), Some(NOW));
    assert_eq!(parse_time("2026-11-30T08:10:00+01:00"), Some(NOW));
    assert_eq!(parse_time("2000-02-29T00:00:00Z"), Some(951_782_400));
    assert_eq!(parse_time("yesterday"), None);
    assert_eq!(parse_time("2026-13-30T07:10:00Z"), None);
    assert_eq!(human_age(42), "42s");
    assert_eq!(human_age(600), "10m");
    assert_eq!(human_age(3 * 3600 + 5), "3h");
    assert_eq!(human_age(5 * 86_400), "5d");
}

#[test]
fn instance_targets_for_logs() {
    let m = instances(&config());
    assert_eq!(m["docker-runner"].logs_target(), "docker-runner");
    assert_eq!(m["ci-2"].logs_target(), "ci --instance 2");
    assert_eq!(m.len(), 3);
}

#[test]
fn a_healthy_workload_has_no_problems_and_needs_no_extra_call() {
    let w = Workload::from_items(vec![
        running_listener("docker-runner"),
        runner_pod(
            "docker-runner-k2x9d-runner-7tq4z",
            "docker-runner",
            json!({"phase": "Running", "containerStatuses": [{"name": "runner", "restartCount": 0, "image": "ghcr.io/actions/actions-runner:latest", "state": {"running": {"startedAt": "2026-11-30T07:05:03Z"}}}]}),
        ),
        controller_pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "manager", "restartCount": 0, "state": {"running": {}}}]}),
        ),
    ]);
    assert_eq!(all_problems(&w, &[]), vec![]);
    assert!(!events_wanted(&w, NOW));
    assert!(failing_listeners(&w, &instances(&config())).is_empty());
}

#[test]
fn listener_crash_loop_with_its_last_log_line_and_a_401_hint() {
    let pod = listener(
        "docker-runner",
        json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "listener", "ready": false, "restartCount": 4, "started": false,
                "image": "ghcr.io/actions/gha-runner-scale-set-controller:0.14.2",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=listener pod=docker-runner-754b578d-listener_arc-systems(0b1c)"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-30T07:08:00Z", "finishedAt": "2026-11-30T07:08:01Z"}}
            }]
        }),
    );
    let w = Workload::from_items(vec![pod]);
    let wanted = failing_listeners(&w, &instances(&config()));
    assert_eq!(wanted, vec![("docker-runner-754b578d-listener", true)]);
    let log = "2026/11/30 07:08:00 INFO listener-app Starting listener\n\
        2026/11/30 07:08:01 Application returned an error: failed to create session: failed to get runner registration token: github api error: StatusCode 401, RequestID \"C1D2:3E4F\": {\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\",\"status\":\"401\"}\n";
    let p = all_problems(&w, &[("docker-runner-754b578d-listener", log)]);
    assert_eq!(p.len(), 1, "{p:#?}");
    let p = &p[0];
    assert_eq!(p.instance.as_deref(), Some("docker-runner"));
    assert_eq!(p.object.kind, ObjectKind::Listener);
    assert_eq!(p.object.name, "docker-runner-754b578d-listener");
    assert_eq!(p.reason, "CrashLoopBackOff");
    assert!(
        p.message
            .contains("restarted 4 times, last exit code 1 (Error)"),
        "{}",
        p.message
    );
    assert!(p.message.contains("StatusCode 401"), "{}", p.message);
    assert!(
        p.hint.contains("deskrun doctor") && p.hint.contains("401"),
        "{}",
        p.hint
    );
    assert!(
        p.hint.contains("deskrun add docker-runner --replace"),
        "{}",
        p.hint
    );
}

#[test]
fn a_listener_that_exited_uses_its_current_log_and_a_404_hint() {
    // Listener pods never restart in place: a failing one ends Failed.
    let pod = listener(
        "ci-1",
        json!({
            "phase": "Failed",
            "containerStatuses": [{
                "name": "listener", "ready": false, "restartCount": 0,
                "image": "ghcr.io/actions/gha-runner-scale-set-controller:0.14.2",
                "state": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-30T07:00:02Z", "finishedAt": "2026-11-30T07:00:03Z"}},
                "lastState": {}
            }]
        }),
    );
    let w = Workload::from_items(vec![pod]);
    assert_eq!(
        failing_listeners(&w, &instances(&config())),
        vec![("ci-1-754b578d-listener", false)]
    );
    let log = "2026/11/30 07:00:03 Application returned an error: failed to get runner scale set: github api error: StatusCode 404, RequestID \"AB:CD\": {\"message\":\"Not Found\"}";
    let p = all_problems(&w, &[("ci-1-754b578d-listener", log)]);
    assert_eq!(p[0].reason, "Failed");
    assert!(
        p[0].message
            .starts_with("container listener exited with code 1 (Error); last log line: ")
    );
    assert!(
        p[0].hint.contains("404") && p[0].hint.contains("deskrun doctor"),
        "{}",
        p[0].hint
    );
    // Without the log (not read), the hint still points at doctor and logs.
    let p = all_problems(&w, &[]);
    assert!(
        p[0].hint.contains("deskrun logs ci --instance 1"),
        "{}",
        p[0].hint
    );
}

#[test]
fn image_pull_errors_name_the_image_and_the_pull_error() {
    let runner = "ci-2-k2x9d-runner-7tq4z";
    let w = Workload::from_items(vec![
        runner_pod(
            runner,
            "ci-2",
            json!({"phase": "Running", "containerStatuses": [{"name": "runner", "state": {"running": {}}}]}),
        ),
        job_pod(
            runner,
            json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [{
                    "name": "job", "ready": false, "restartCount": 0, "image": "ubuntu:244.04", "imageID": "",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ubuntu:244.04\""}}
                }]
            }),
        ),
        event(
            &format!("{runner}-workflow"),
            "Failed",
            "Failed to pull image \"ubuntu:244.04\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/ubuntu:244.04\": docker.io/library/ubuntu:244.04: not found",
            "2026-11-30T07:06:30Z",
        ),
    ]);
    assert!(events_wanted(&w, NOW));
    let p = all_problems(&w, &[]);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].object.kind, ObjectKind::Job);
    assert_eq!(p[0].instance.as_deref(), Some("ci-2"));
    assert_eq!(p[0].reason, "ImagePullBackOff");
    assert!(
        p[0].message
            .contains("cannot pull image ubuntu:244.04: Failed to pull image"),
        "{}",
        p[0].message
    );
    assert!(p[0].message.contains("not found"));
    assert!(p[0].hint.contains("container:"), "{}", p[0].hint);

    // Without events, the waiting message is what there is.
    let w2 = Workload {
        events: vec![],
        ..w
    };
    let p = all_problems(&w2, &[]);
    assert!(
        p[0].message
            .ends_with("Back-off pulling image \"ubuntu:244.04\""),
        "{}",
        p[0].message
    );
}

#[test]
fn err_image_pull_of_the_controller() {
    let w = Workload::from_items(vec![controller_pod(json!({
        "phase": "Pending",
        "containerStatuses": [{
            "name": "manager", "restartCount": 0, "image": "ghcr.io/actions/gha-runner-scale-set-controller:0.99.0",
            "state": {"waiting": {"reason": "ErrImagePull", "message": "rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/actions/gha-runner-scale-set-controller:0.99.0\": not found"}}
        }]
    }))]);
    let p = all_problems(&w, &[]);
    assert_eq!(p[0].instance, None);
    assert_eq!(p[0].object.kind, ObjectKind::Controller);
    assert_eq!(p[0].reason, "ErrImagePull");
    assert!(p[0].message.contains("0.99.0\": not found"));
    assert!(
        p[0].hint
            .contains("docker pull ghcr.io/actions/gha-runner-scale-set-controller:0.99.0")
    );
}

#[test]
fn create_container_config_error() {
    let w = Workload::from_items(vec![runner_pod(
        "docker-runner-k2x9d-runner-abcde",
        "docker-runner",
        json!({
            "phase": "Pending",
            "containerStatuses": [{
                "name": "runner", "restartCount": 0, "image": "ghcr.io/actions/actions-runner:latest",
                "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"docker-runner-k2x9d-runner-abcde\" not found"}}
            }]
        }),
    )]);
    let p = all_problems(&w, &[]);
    assert_eq!(p[0].reason, "CreateContainerConfigError");
    assert_eq!(p[0].object.kind, ObjectKind::Runner);
    assert!(
        p[0].message
            .contains("secret \"docker-runner-k2x9d-runner-abcde\" not found")
    );
    assert!(p[0].hint.contains("deskrun up"));
}

#[test]
fn pending_pods_with_their_scheduling_event() {
    let cpu = runner_pod(
        "ci-1-k2x9d-runner-aaaaa",
        "ci-1",
        json!({
            "phase": "Pending",
            "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "lastTransitionTime": "2026-11-30T07:05:00Z",
                "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
            }]
        }),
    );
    let pvc = runner_pod(
        "ci-2-k2x9d-runner-bbbbb",
        "ci-2",
        json!({
            "phase": "Pending",
            "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            }]
        }),
    );
    let mount = runner_pod(
        "docker-runner-k2x9d-runner-ccccc",
        "docker-runner",
        json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "runner", "state": {"waiting": {"reason": "ContainerCreating"}}}]
        }),
    );
    let mut w = Workload::from_items(vec![
        cpu,
        pvc,
        mount,
        event(
            "ci-1-k2x9d-runner-aaaaa",
            "FailedScheduling",
            "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            "2026-11-30T07:09:00Z",
        ),
        event(
            "docker-runner-k2x9d-runner-ccccc",
            "FailedMount",
            "MountVolume.SetUp failed for volume \"hook-extension\" : configmap \"privileged-hook-extension-docker-runner\" not found",
            "2026-11-30T07:09:30Z",
        ),
    ]);
    // Pending for 5 minutes and unschedulable: events are worth a call.
    assert!(events_wanted(&w, NOW));
    let p = all_problems(&w, &[]);
    assert_eq!(p.len(), 3, "{p:#?}");
    let by = |i: &str| p.iter().find(|x| x.instance.as_deref() == Some(i)).unwrap();
    // The newest event wins over the condition's message.
    assert_eq!(by("ci-1").reason, "Unschedulable");
    assert!(by("ci-1").message.contains("Insufficient memory"));
    assert!(by("ci-1").hint.contains("CPU or memory"));
    assert!(
        by("ci-2")
            .message
            .contains("unbound immediate PersistentVolumeClaims")
    );
    assert!(by("ci-2").hint.contains("storage class"));
    assert_eq!(by("docker-runner").reason, "FailedMount");
    assert!(by("docker-runner").hint.contains("deskrun up"));

    // A pod that just started creating its containers is not a problem yet.
    w.pods.truncate(0);
    w.pods.push(runner_pod(
        "docker-runner-k2x9d-runner-ddddd",
        "docker-runner",
        json!({"phase": "Pending", "containerStatuses": [{"name": "runner", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
    ));
    w.events.clear();
    assert!(!events_wanted(
        &w,
        parse_time("2026-11-30T07:05:10Z").unwrap()
    ));
    assert_eq!(all_problems(&w, &[]), vec![]);
}

#[test]
fn a_failed_ephemeral_runner() {
    let w = Workload::from_items(vec![ephemeral_runner(
        "ci-1-k2x9d-runner-zzzzz",
        "ci-1",
        "2026-11-30T07:00:00Z",
        json!({
            "phase": "Failed",
            "reason": "TooManyPodFailures",
            "message": "Pod has failed to start more than 5 times: ",
            "ready": false,
            "failures": {"0b1c": "2026-11-30T07:01:00Z", "1c2d": "2026-11-30T07:02:00Z"}
        }),
    )]);
    let p = all_problems(&w, &[]);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].reason, "TooManyPodFailures");
    assert_eq!(
        p[0].object,
        ObjectRef {
            name: "ci-1-k2x9d-runner-zzzzz".into(),
            kind: ObjectKind::Runner
        }
    );
    assert!(p[0].message.contains("failed 2 times"));
    assert!(p[0].hint.contains("deskrun logs ci --instance 1 --runner"));
}

#[test]
fn problems_of_scale_sets_outside_the_selection_are_left_out() {
    let pod = listener(
        "other",
        json!({"phase": "Failed", "containerStatuses": [{"name": "listener", "state": {"terminated": {"exitCode": 1}}}]}),
    );
    let w = Workload::from_items(vec![pod]);
    assert_eq!(all_problems(&w, &[]), vec![]);
    assert!(failing_listeners(&w, &instances(&config())).is_empty());
}

#[test]
fn evicted_pods() {
    let w = Workload::from_items(vec![runner_pod(
        "ci-1-k2x9d-runner-eeeee",
        "ci-1",
        json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi."}),
    )]);
    let p = all_problems(&w, &[]);
    assert_eq!(p[0].reason, "Evicted");
    assert!(p[0].message.contains("ephemeral-storage"));
}

#[test]
fn last_error_lines() {
    assert_eq!(last_error_line(""), None);
    assert_eq!(last_error_line("a\nb\n\n").as_deref(), Some("b"));
    assert_eq!(
        last_error_line("x\nERROR boom\ninfo: shutting down\n").as_deref(),
        Some("ERROR boom")
    );
    let long = "error ".repeat(100);
    assert_eq!(last_error_line(&long).unwrap().chars().count(), 301);
}

#[test]
fn jobs_rows_busy_idle_and_pending() {
    let busy = "ci-1-k2x9d-runner-7tq4z";
    let w = Workload::from_items(vec![
        ephemeral_runner(
            busy,
            "ci-1",
            "2026-11-30T07:05:00Z",
            json!({
                "phase": "Running", "ready": true, "runnerId": 42, "runnerName": busy,
                "jobRequestId": 9001, "jobId": "b1e3c5d7-0000-4000-8000-000000000001",
                "jobRepositoryName": "owner/repo",
                "jobWorkflowRef": "owner/repo/.github/workflows/ci.yml@refs/heads/main",
                "workflowRunId": 12_345_678_901_u64,
                "jobDisplayName": "build (ubuntu)"
            }),
        ),
        ephemeral_runner(
            "docker-runner-k2x9d-runner-idle1",
            "docker-runner",
            "2026-11-30T06:10:00Z",
            json!({"phase": "Running", "ready": true, "runnerId": 41, "runnerName": "docker-runner-k2x9d-runner-idle1"}),
        ),
        ephemeral_runner(
            "ci-2-k2x9d-runner-new01",
            "ci-2",
            "2026-11-30T07:09:50Z",
            json!({}),
        ),
        ephemeral_runner(
            "gone-k2x9d-runner-x",
            "gone",
            "2026-11-30T07:00:00Z",
            json!({"phase": "Running"}),
        ),
        runner_pod(busy, "ci-1", json!({"phase": "Running"})),
        job_pod(busy, json!({"phase": "Running"})),
        runner_pod(
            "docker-runner-k2x9d-runner-idle1",
            "docker-runner",
            json!({"phase": "Running"}),
        ),
    ]);
    let m = instances(&config());
    let rows = jobs(&w, &m, None, NOW);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            busy,
            "ci-2-k2x9d-runner-new01",
            "docker-runner-k2x9d-runner-idle1",
            "gone-k2x9d-runner-x"
        ]
    );
    let r = &rows[0];
    assert_eq!(r.installation.as_deref(), Some("ci"));
    assert!(!r.idle);
    assert_eq!(r.age_seconds, Some(300));
    let job = r.job.as_ref().unwrap();
    assert_eq!(job.repository.as_deref(), Some("owner/repo"));
    assert_eq!(job.workflow.as_deref(), Some("ci.yml"));
    assert_eq!(job.name.as_deref(), Some("build (ubuntu)"));
    assert_eq!(job.run_id, Some(12_345_678_901));
    assert_eq!(r.pod.as_ref().unwrap().phase, "Running");
    assert_eq!(r.job_pod.as_ref().unwrap().name, format!("{busy}-workflow"));
    // A fresh EphemeralRunner has no status yet: Pending, not idle.
    assert_eq!(rows[1].phase, "Pending");
    assert!(!rows[1].idle && rows[1].pod.is_none());
    assert!(rows[2].idle && rows[2].job.is_none());
    assert_eq!(rows[3].installation, None);

    let only = jobs(&w, &m, Some("docker-runner"), NOW);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].instance, "docker-runner");
}

#[test]
fn a_missing_listener_with_the_controllers_error() {
    let sets = vec![
        runner_set("docker-runner", "2026-11-30T07:00:00Z", false),
        // Just deployed: the controller gets a minute to start the listener.
        runner_set("ci-1", "2026-11-30T07:09:30Z", false),
        // Has its listener.
        runner_set("ci-2", "2026-11-30T07:00:00Z", true),
    ];
    let w = Workload::from_items(vec![running_listener("ci-2")]);
    let m = instances(&config());
    assert_eq!(missing_listeners(&w, &sets, &m, NOW), vec!["docker-runner"]);
    let controller_log = "2026-11-30T07:00:01Z\tINFO\tAutoscalingRunnerSet\tCreating a new runner scale set\t{\"autoscalingrunnerset\": {\"name\":\"docker-runner\",\"namespace\":\"arc-systems\"}}\n\
        2026-11-30T07:00:02Z\tERROR\tAutoscalingRunnerSet\tFailed to get runner scale set from Actions service\t{\"autoscalingrunnerset\": {\"name\":\"ci-1\",\"namespace\":\"arc-systems\"}, \"error\": \"StatusCode 404\"}\n\
        2026-11-30T07:00:03Z\tERROR\tAutoscalingRunnerSet\tFailed to initialize Actions service client for creating a new runner scale set\t{\"autoscalingrunnerset\": {\"name\":\"docker-runner\",\"namespace\":\"arc-systems\"}, \"error\": \"failed to get registration token: github api error: StatusCode 401, RequestID \\\"AB:CD\\\": {\\\"message\\\":\\\"Bad credentials\\\"}\"}\n";
    let logs = Logs {
        listeners: BTreeMap::new(),
        controller: Some(controller_log.to_string()),
    };
    let p = problems(&w, &sets, &m, &logs, NOW);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].reason, "NoListener");
    assert_eq!(
        p[0].object,
        ObjectRef {
            name: "docker-runner".into(),
            kind: ObjectKind::Listener
        }
    );
    assert!(
        p[0].message.contains("has not registered the scale set"),
        "{}",
        p[0].message
    );
    assert!(p[0].message.contains("StatusCode 401"), "{}", p[0].message);
    assert!(
        !p[0].message.contains("404"),
        "another instance's error: {}",
        p[0].message
    );
    assert!(
        p[0].hint.contains("deskrun add docker-runner --replace"),
        "{}",
        p[0].hint
    );
    // Without the controller's log, the hint says where to look.
    let p = problems(&w, &sets, &m, &Logs::default(), NOW);
    assert!(
        p[0].hint.contains("deskrun logs --controller"),
        "{}",
        p[0].hint
    );
}
