//! `status` problems, `logs`, `jobs` and `status --watch` against the
//! in-process fake, with pods, EphemeralRunners, events and logs shaped as
//! the API server returns them (`deskrun::testing::arc`).

use deskrun::exec::Sink;
use deskrun::model::Mode;
use deskrun::ops;
use deskrun::ops::logs::{LogsRequest, Source};
use deskrun::ops::up::UpOptions;
use deskrun::testing::arc::{self, EARLIER, NOW};
use deskrun::testing::{Env, ObjKey, request};
use deskrun::workload::ObjectKind;
use serde_json::{Value as Json, json};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `docker-runner` (kubernetes mode) and `dind-runner` (dind, scaled to
/// zero), deployed.
fn deployed() -> Env {
    let env = Env::new();
    env.add(&request("docker-runner"));
    let mut dind = request("dind-runner");
    dind.mode = Mode::Dind;
    dind.min_runners = Some(0);
    env.add(&dind);
    env.up(&UpOptions::default()).expect("up");
    env.fake.clear_calls();
    env
}

fn put(env: &Env, objs: Vec<Json>) {
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").expect("cluster");
        for o in objs {
            c.put(o);
        }
    });
}

/// Replace the fake's listener pod of `instance` by `pod`.
fn replace_listener(env: &Env, instance: &str, pod: Option<Json>) {
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").expect("cluster");
        c.remove(&ObjKey::new(
            "Pod",
            "arc-systems",
            &format!("{instance}-754b578d-listener"),
        ));
        if let Some(p) = pod {
            c.put(p);
        }
    });
}

/// What `kubectl logs` prints for `container` of `pod` (`previous`: with
/// `--previous`).
fn set_log(env: &Env, pod: &str, container: &str, previous: bool, text: &str) {
    env.fake.world(|w| {
        w.cluster_mut("deskrun")
            .expect("cluster")
            .set_log(pod, container, previous, text)
    });
}

/// The calls of the last operation, without the tool version checks.
fn reads(env: &Env) -> Vec<String> {
    env.fake
        .calls()
        .into_iter()
        .filter(|c| c.verb() != "version")
        .map(|c| c.line())
        .collect()
}

const BAD_CREDENTIALS: &str = "2026/11/30 07:08:01 Application returned an error: failed to create session: \
    failed to get runner registration token: github api error: StatusCode 401, RequestID \"C1D2:3E4F\": \
    {\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\",\"status\":\"401\"}";

#[test]
fn a_healthy_status_makes_the_same_five_reads_and_reports_no_problem() {
    let env = deployed();
    let st = env.status(None).unwrap();
    assert!(st.problems.is_empty(), "{:#?}", st.problems);
    let lines = reads(&env);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    // The listener read of before is now one read of every pod and runner.
    assert_eq!(
        env.fake.count(
            "get pods,ephemeralrunners.actions.github.com --namespace arc-systems --output json"
        ),
        1
    );
    assert_eq!(env.fake.count(" logs "), 0);
    assert_eq!(env.fake.count("get events"), 0);
    let i = &st.installations[1].instances[0];
    assert_eq!(i.listener.as_deref(), Some("Running"));
}

#[test]
fn a_crash_looping_listener_is_explained_with_its_log_for_one_more_call() {
    let env = deployed();
    let pod = arc::listener_pod("docker-runner", arc::crash_loop("listener", 4, 1));
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    replace_listener(&env, "docker-runner", Some(pod));
    set_log(
        &env,
        &name,
        "listener",
        true,
        &format!("2026/11/30 07:08:00 listener-app Starting\n{BAD_CREDENTIALS}\n"),
    );
    let st = env.status(None).unwrap();
    assert_eq!(st.problems.len(), 1, "{:#?}", st.problems);
    let p = &st.problems[0];
    assert_eq!(p.instance.as_deref(), Some("docker-runner"));
    assert_eq!(p.object.kind, ObjectKind::Listener);
    assert_eq!(p.reason, "CrashLoopBackOff");
    assert!(p.message.contains("restarted 4 times"), "{}", p.message);
    assert!(p.message.contains("Bad credentials"), "{}", p.message);
    assert!(p.hint.contains("deskrun doctor"), "{}", p.hint);
    // One more call than a healthy status: the crashed container's log.
    assert_eq!(reads(&env).len(), 6, "{:#?}", reads(&env));
    assert_eq!(
        env.fake.count(&format!(
            "logs {name} --namespace arc-systems --container listener --tail=40 --previous"
        )),
        1
    );
    // Shown below the table.
    let text = ops::status::table(&st);
    let below = text.split("problems:").nth(1).expect("a problems section");
    assert!(
        below.contains("docker-runner: listener docker-runner-754b578d-listener: CrashLoopBackOff")
    );
    assert!(below.contains("hint: GitHub refused the credential (401)"));
}

#[test]
fn a_job_pod_that_cannot_pull_its_image_shows_the_pull_error_from_the_events() {
    let env = deployed();
    let runner = "docker-runner-k2x9d-runner-7tq4z";
    put(
        &env,
        vec![
            arc::ephemeral_runner(runner, "docker-runner", EARLIER, arc::busy("build", 77)),
            arc::runner_pod(runner, "docker-runner", false, arc::running(&["runner"])),
            arc::job_pod(
                runner,
                "ubuntu:244.04",
                arc::waiting(
                    "job",
                    "ubuntu:244.04",
                    "ImagePullBackOff",
                    "Back-off pulling image \"ubuntu:244.04\"",
                ),
            ),
            arc::event(
                &format!("{runner}-workflow"),
                "Failed",
                "Failed to pull image \"ubuntu:244.04\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/ubuntu:244.04\": not found",
                NOW,
            ),
            // An event about something else is not read as this pod's.
            arc::event("other-pod", "Failed", "Failed to pull image \"x\"", NOW),
        ],
    );
    let st = env.status(None).unwrap();
    assert_eq!(st.problems.len(), 1, "{:#?}", st.problems);
    let p = &st.problems[0];
    assert_eq!(p.object.kind, ObjectKind::Job);
    assert_eq!(p.reason, "ImagePullBackOff");
    assert!(
        p.message.contains("ubuntu:244.04\": not found"),
        "{}",
        p.message
    );
    assert!(p.hint.contains("container:"), "{}", p.hint);
    assert_eq!(
        env.fake.count(
            "get events --namespace arc-systems --field-selector involvedObject.kind=Pod,type=Warning --output json"
        ),
        1
    );
}

#[test]
fn unschedulable_runners_failed_runners_and_a_missing_listener() {
    let env = deployed();
    put(
        &env,
        vec![
            arc::ephemeral_runner(
                "docker-runner-k2x9d-runner-aaaaa",
                "docker-runner",
                EARLIER,
                json!({}),
            ),
            arc::runner_pod(
                "docker-runner-k2x9d-runner-aaaaa",
                "docker-runner",
                false,
                arc::unschedulable(
                    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
                ),
            ),
            arc::ephemeral_runner(
                "docker-runner-k2x9d-runner-bbbbb",
                "docker-runner",
                EARLIER,
                json!({"phase": "Failed", "reason": "TooManyPodFailures", "message": "Pod has failed to start more than 5 times: "}),
            ),
        ],
    );
    replace_listener(&env, "dind-runner", None);
    let controller_log = "2026-11-30T07:00:03Z\tERROR\tAutoscalingRunnerSet\tFailed to initialize Actions service client for creating a new runner scale set\t{\"autoscalingrunnerset\": {\"name\":\"dind-runner\",\"namespace\":\"arc-systems\"}, \"error\": \"github api error: StatusCode 404, RequestID \\\"AB:CD\\\": {\\\"message\\\":\\\"Not Found\\\"}\"}\n";
    set_log(
        &env,
        "arc-gha-rs-controller-6d5f8b7c9-x2x7q",
        "manager",
        false,
        controller_log,
    );
    let st = env.status(None).unwrap();
    let reasons: Vec<(&str, &str)> = st
        .problems
        .iter()
        .map(|p| (p.instance.as_deref().unwrap_or("-"), p.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("dind-runner", "NoListener"),
            ("docker-runner", "Unschedulable"),
            ("docker-runner", "TooManyPodFailures"),
        ]
    );
    assert!(st.problems[0].message.contains("StatusCode 404"));
    assert!(st.problems[0].hint.contains("404"));
    assert!(st.problems[1].hint.contains("CPU or memory"));
    // Events (a pod is stuck) and the controller's log (a listener is
    // missing) cost one call each, made at the same time.
    assert_eq!(reads(&env).len(), 7, "{:#?}", reads(&env));
    assert_eq!(
        env.fake.count("logs arc-gha-rs-controller-6d5f8b7c9-x2x7q --namespace arc-systems --container manager --tail=300"),
        1
    );

    // `status NAME` keeps to that installation's problems.
    let st = env.status(Some("dind-runner")).unwrap();
    assert_eq!(st.problems.len(), 1);
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["problems"][0]["object"]["kind"], "listener");
    assert_eq!(json["problems"][0]["instance"], "dind-runner");
}

#[test]
fn a_listener_read_that_fails_still_reports_the_problem() {
    let env = deployed();
    replace_listener(
        &env,
        "docker-runner",
        Some(arc::listener_pod(
            "docker-runner",
            arc::exited("listener", 1),
        )),
    );
    env.fake.inject(
        deskrun::testing::Fault::on("kubectl", "logs ")
            .fail(1, "Error from server (NotFound): pods \"x\" not found"),
    );
    let st = env.status(None).unwrap();
    assert_eq!(st.problems.len(), 1);
    assert_eq!(st.problems[0].reason, "Failed");
    assert!(st.problems[0].hint.contains("deskrun logs docker-runner"));
}

// ---------------------------------------------------------------------------
// jobs

#[test]
fn jobs_reads_every_runner_with_one_call() {
    let env = deployed();
    let busy = "docker-runner-k2x9d-runner-7tq4z";
    put(
        &env,
        vec![
            arc::ephemeral_runner(
                busy,
                "docker-runner",
                EARLIER,
                arc::busy("build (ubuntu)", 123),
            ),
            arc::runner_pod(busy, "docker-runner", false, arc::running(&["runner"])),
            arc::job_pod(busy, "ubuntu:24.04", arc::running(&["job"])),
            arc::ephemeral_runner(
                "dind-runner-k2x9d-runner-idle1",
                "dind-runner",
                EARLIER,
                json!({"phase": "Running", "ready": true}),
            ),
        ],
    );
    let r = env.with(|s| ops::jobs::jobs(s, None)).unwrap();
    assert_eq!(reads(&env).len(), 1, "{:#?}", reads(&env));
    assert_eq!(
        env.fake.count(
            "get ephemeralrunners.actions.github.com,pods --namespace arc-systems --output json"
        ),
        1
    );
    assert_eq!(r.runners.len(), 2);
    let b = r.runners.iter().find(|x| x.name == busy).unwrap();
    assert_eq!(b.installation.as_deref(), Some("docker-runner"));
    assert_eq!(b.job.as_ref().unwrap().run_id, Some(123));
    assert_eq!(b.job_pod.as_ref().unwrap().name, format!("{busy}-workflow"));
    let idle = r
        .runners
        .iter()
        .find(|x| x.instance == "dind-runner")
        .unwrap();
    assert!(idle.idle && idle.pod.is_none());
    let table = ops::jobs::table(&r);
    assert!(table.starts_with("INSTANCE "), "{table}");
    assert!(
        table.contains("build (ubuntu)  ci.yml    123  owner/repo"),
        "{table}"
    );
    assert!(table.contains(" idle "), "{table}");

    let only = env
        .with(|s| ops::jobs::jobs(s, Some("dind-runner")))
        .unwrap();
    assert_eq!(only.runners.len(), 1);
}

#[test]
fn jobs_without_a_cluster_or_without_arc_says_so() {
    let env = Env::new();
    env.add(&request("a"));
    let e = format!("{:#}", env.with(|s| ops::jobs::jobs(s, None)).unwrap_err());
    assert!(
        e.contains("no kind cluster deskrun: run `deskrun up`"),
        "{e}"
    );
    env.with(ops::cluster::cluster_create).unwrap();
    let e = format!("{:#}", env.with(|s| ops::jobs::jobs(s, None)).unwrap_err());
    assert!(e.contains("ARC controller is not installed"), "{e}");
    let e = env.with(|s| ops::jobs::jobs(s, Some("nope"))).unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 2);
}

// ---------------------------------------------------------------------------
// logs

fn run_logs(env: &Env, req: LogsRequest) -> (anyhow::Result<()>, Vec<String>, Vec<String>) {
    let out: Arc<Mutex<Vec<String>>> = Arc::default();
    let notes: Mutex<Vec<String>> = Mutex::default();
    let sink: Sink = {
        let out = Arc::clone(&out);
        Arc::new(move |l: &str| out.lock().unwrap().push(l.to_string()))
    };
    let r = env.with(|s| ops::logs::logs(s, &req, sink, &|n| notes.lock().unwrap().push(n.into())));
    let out = out.lock().unwrap().clone();
    (r, out, notes.into_inner().unwrap())
}

/// [`run_logs`] with `-f` watching for new pods every 2 ms, until `done`
/// (given the number of `kubectl get pods` so far) says so.
fn follow_logs(
    env: &Env,
    mut req: LogsRequest,
    done: &dyn Fn(usize) -> bool,
) -> (anyhow::Result<()>, Vec<String>, Vec<String>) {
    req.follow = true;
    req.poll = Some(Duration::from_millis(2));
    let out: Arc<Mutex<Vec<String>>> = Arc::default();
    let notes: Mutex<Vec<String>> = Mutex::default();
    let sink: Sink = {
        let out = Arc::clone(&out);
        Arc::new(move |l: &str| out.lock().unwrap().push(l.to_string()))
    };
    let r = env.with(|s| {
        ops::logs::logs_until(
            s,
            &req,
            sink,
            &|n| notes.lock().unwrap().push(n.into()),
            &|| done(env.fake.count(" get pods ")),
        )
    });
    let out = out.lock().unwrap().clone();
    (r, out, notes.into_inner().unwrap())
}

fn logs_req(name: &str, source: Source) -> LogsRequest {
    LogsRequest {
        name: Some(name.into()),
        source,
        ..Default::default()
    }
}

#[test]
fn logs_of_the_listener_by_default_and_of_every_runner_with_prefixes() {
    let env = deployed();
    set_log(
        &env,
        "docker-runner-754b578d-listener",
        "listener",
        false,
        "l1\nl2\nl3\n",
    );
    let mut req = logs_req("docker-runner", Source::Listener);
    req.tail = Some(2);
    req.since = Some("10m".into());
    let (r, out, _) = run_logs(&env, req);
    r.unwrap();
    assert_eq!(out, ["l2", "l3"], "one pod: no prefix");
    assert_eq!(
        reads(&env),
        [
            "kubectl --context kind-deskrun get pods --namespace arc-systems --output json",
            "kubectl --context kind-deskrun logs docker-runner-754b578d-listener --namespace arc-systems --container listener --since=10m --tail=2",
        ]
    );

    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        for (pod, text) in [
            ("docker-runner-k-runner-a", "a1\na2\n"),
            ("docker-runner-k-runner-b", "b1\n"),
        ] {
            c.put(arc::runner_pod(
                pod,
                "docker-runner",
                false,
                arc::running(&["runner"]),
            ));
            c.set_log(pod, "runner", false, text);
        }
        c.put(arc::runner_pod(
            "docker-runner-k-runner-c",
            "docker-runner",
            false,
            arc::waiting("runner", arc::RUNNER_IMAGE, "ContainerCreating", ""),
        ));
    });
    let (r, out, notes) = run_logs(&env, logs_req("docker-runner", Source::Runner));
    r.unwrap();
    assert_eq!(
        out,
        [
            "[docker-runner-k-runner-a] a1",
            "[docker-runner-k-runner-a] a2",
            "[docker-runner-k-runner-b] b1",
        ]
    );
    assert_eq!(
        notes,
        [
            "docker-runner-k-runner-c: runner has not started yet (ContainerCreating); no log to show"
        ]
    );
}

#[test]
fn following_streams_every_pod_and_redacts() {
    let env = deployed();
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        for pod in ["dind-runner-k-runner-a", "dind-runner-k-runner-b"] {
            c.put(arc::runner_pod(
                pod,
                "dind-runner",
                true,
                arc::running(&["runner"]),
            ));
            // The sidecar runs as a native sidecar: an init container status.
            let st = &mut c
                .objects
                .values_mut()
                .find(|o| o["metadata"]["name"] == pod)
                .unwrap()["status"];
            st["initContainerStatuses"] = json!([{"name": "dind", "state": {"running": {}}}]);
            c.set_log(
                pod,
                "dind",
                false,
                &format!("dockerd up, token {}\n", deskrun::testing::TOKEN),
            );
        }
    });
    let mut req = logs_req("dind-runner", Source::Dind);
    req.follow = true;
    // Done at once: follows the pods there are, looks for no new one.
    let (r, mut out, notes) = follow_logs(&env, req, &|_| true);
    r.unwrap();
    assert_eq!(env.fake.count("get pods"), 1, "no look for new pods");
    assert!(
        notes.contains(&"dind-runner-k-runner-a ended".to_string()),
        "{notes:?}"
    );
    out.sort();
    assert_eq!(
        out,
        [
            "[dind-runner-k-runner-a] dockerd up, token <redacted>",
            "[dind-runner-k-runner-b] dockerd up, token <redacted>",
        ]
    );
    assert_eq!(env.fake.count("--container dind --follow"), 2);
}

#[test]
fn following_runner_pods_picks_up_new_ones_once_and_says_when_each_ends() {
    let env = deployed();
    let (a, b, c) = (
        "docker-runner-k-runner-a",
        "docker-runner-k-runner-b",
        "docker-runner-k-runner-c",
    );
    env.fake.world(|w| {
        let cl = w.cluster_mut("deskrun").unwrap();
        cl.put(arc::runner_pod(
            a,
            "docker-runner",
            false,
            arc::running(&["runner"]),
        ));
        cl.set_log(a, "runner", false, "a1\na2\n");
        cl.put(arc::runner_pod(
            b,
            "docker-runner",
            false,
            arc::waiting("runner", arc::RUNNER_IMAGE, "ContainerCreating", ""),
        ));
        cl.set_log(b, "runner", false, "b1\n");
        cl.set_log(c, "runner", false, "c1\n");
    });
    let mut req = logs_req("docker-runner", Source::Runner);
    req.tail = Some(5);
    // Between the 1st and 2nd look, b starts and c appears; after the 3rd,
    // a is gone. Done after the 4th look.
    let (r, mut out, notes) = follow_logs(&env, req, &|looks| {
        env.fake.world(|w| {
            let cl = w.cluster_mut("deskrun").unwrap();
            match looks {
                2 => {
                    cl.put(arc::runner_pod(
                        b,
                        "docker-runner",
                        false,
                        arc::running(&["runner"]),
                    ));
                    cl.put(arc::runner_pod(
                        c,
                        "docker-runner",
                        false,
                        arc::running(&["runner"]),
                    ));
                }
                3 => {
                    cl.remove(&ObjKey::new("Pod", "arc-systems", a));
                }
                _ => {}
            }
        });
        looks >= 5
    });
    r.unwrap();
    out.sort();
    assert_eq!(
        out,
        [
            format!("[{a}] a1"),
            format!("[{a}] a2"),
            format!("[{b}] b1"),
            format!("[{c}] c1"),
        ],
        "each pod's log once, prefixed although a alone was there at first"
    );
    // The first read, then one look per interval; one follow per pod, the
    // new ones from their first line.
    let mut calls = reads(&env);
    calls.sort();
    let ctx = "kubectl --context kind-deskrun";
    let mut expected = vec![format!("{ctx} get pods --namespace arc-systems --output json"); 5];
    expected.extend([
        format!("{ctx} logs {a} --namespace arc-systems --container runner --tail=5 --follow"),
        format!("{ctx} logs {b} --namespace arc-systems --container runner --follow"),
        format!("{ctx} logs {c} --namespace arc-systems --container runner --follow"),
    ]);
    expected.sort();
    assert_eq!(calls, expected);
    let pending =
        format!("{b}: runner has not started yet (ContainerCreating); following it once it starts");
    assert_eq!(
        notes.iter().filter(|n| **n == pending).count(),
        1,
        "{notes:#?}"
    );
    for n in [
        format!("following {b}"),
        format!("following {c}"),
        format!("{a} ended"),
        format!("{b} ended"),
        format!("{c} ended"),
    ] {
        assert!(notes.contains(&n), "{n:?} not in {notes:#?}");
    }
    assert!(!notes.contains(&format!("following {a}")), "{notes:#?}");
}

#[test]
fn following_waits_for_the_first_runner_and_retries_a_failed_look() {
    let env = deployed();
    let pod = "dind-runner-k-runner-z";
    env.fake.world(|w| {
        w.cluster_mut("deskrun")
            .unwrap()
            .set_log(pod, "runner", false, "z1\n")
    });
    // The 2nd and 3rd: a fault that fires consumes the call.
    for _ in 0..2 {
        env.fake.inject(
            deskrun::testing::Fault::on("kubectl", " get pods ")
                .nth(2)
                .fail(
                    1,
                    "Unable to connect to the server: net/http: TLS handshake timeout",
                ),
        );
    }
    // Scaled to zero: nothing to follow until a job starts a runner (after
    // the 3rd look, the first two failed).
    let (r, out, notes) = follow_logs(&env, logs_req("dind-runner", Source::Runner), &|looks| {
        if looks == 3 {
            env.fake.world(|w| {
                w.cluster_mut("deskrun").unwrap().put(arc::runner_pod(
                    pod,
                    "dind-runner",
                    true,
                    arc::running(&["runner"]),
                ))
            });
        }
        looks >= 5
    });
    r.unwrap();
    assert_eq!(out, [format!("[{pod}] z1")]);
    assert!(notes[0].contains("scaled to zero"), "{notes:#?}");
    assert!(
        notes[0].ends_with("; waiting for one (Ctrl-C to stop)"),
        "{notes:#?}"
    );
    let failed: Vec<&String> = notes
        .iter()
        .filter(|n| n.starts_with("cannot look for new pods"))
        .collect();
    assert_eq!(failed.len(), 1, "noted once: {notes:#?}");
    assert!(failed[0].contains("TLS handshake timeout"), "{notes:#?}");
    assert!(
        notes.contains(&"looking for new pods works again".to_string()),
        "{notes:#?}"
    );
    assert!(notes.contains(&format!("{pod} ended")), "{notes:#?}");

    // A scale set that is not deployed is still an error, not a wait.
    let mut extra = request("later");
    extra.mode = Mode::Dind;
    env.add(&extra);
    let (r, _, _) = follow_logs(&env, logs_req("later", Source::Runner), &|_| {
        panic!("no watching for an installation that is not deployed")
    });
    assert_eq!(
        format!("{:#}", r.unwrap_err()),
        "later is not deployed: run `deskrun up later`"
    );
}

#[test]
fn no_pod_to_read_is_explained() {
    let env = deployed();
    // dind-runner has min_runners 0 and no job: scaled to zero.
    let (r, _, _) = run_logs(&env, logs_req("dind-runner", Source::Runner));
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("scaled to zero"), "{e}");
    // Helm is asked what is deployed only on this path.
    assert_eq!(env.fake.count("helm list"), 1);

    let mut extra = request("later");
    extra.instances = 2;
    env.add(&extra);
    let mut req = logs_req("later", Source::Listener);
    req.instance = Some(2);
    let (r, _, _) = run_logs(&env, req);
    assert_eq!(
        format!("{:#}", r.unwrap_err()),
        "later-2 is not deployed: run `deskrun up later`"
    );
    let (r, _, _) = run_logs(&env, logs_req("docker-runner", Source::Job));
    assert!(format!("{:#}", r.unwrap_err()).contains("no job is running"));
    let controller = || LogsRequest {
        source: Source::Controller,
        ..Default::default()
    };
    set_log(
        &env,
        "arc-gha-rs-controller-6d5f8b7c9-x2x7q",
        "manager",
        false,
        "started\n",
    );
    let (r, out, _) = run_logs(&env, controller());
    r.unwrap();
    assert_eq!(out, ["started"]);
    env.fake.world(|w| {
        w.cluster_mut("deskrun").unwrap().remove(&ObjKey::new(
            "Pod",
            "arc-systems",
            "arc-gha-rs-controller-6d5f8b7c9-x2x7q",
        ))
    });
    let (r, _, _) = run_logs(&env, controller());
    assert!(format!("{:#}", r.unwrap_err()).contains("no pod running"));
    env.down(&ops::down::DownOptions {
        controller: true,
        delete_cluster: false,
        parallel: 2,
        ..Default::default()
    })
    .unwrap();
    let (r, _, _) = run_logs(&env, controller());
    assert!(format!("{:#}", r.unwrap_err()).contains("not installed: run `deskrun up`"));

    let none = Env::new();
    none.add(&request("a"));
    let (r, _, _) = run_logs(&none, logs_req("a", Source::Listener));
    assert!(format!("{:#}", r.unwrap_err()).contains("no kind cluster deskrun"));
    let (r, _, _) = run_logs(&none, logs_req("a", Source::Dind));
    assert_eq!(deskrun::error::exit_code(&r.unwrap_err()), 2);
}

// ---------------------------------------------------------------------------
// status --watch

#[test]
fn each_refresh_costs_exactly_one_status() {
    let env = deployed();
    env.status(None).unwrap();
    let one = reads(&env).len();
    env.fake.clear_calls();
    let mut frames = 0;
    env.with(|s| {
        ops::status::watch(s, None, Duration::from_millis(1), &mut |r| {
            r.unwrap();
            frames += 1;
            if frames == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    })
    .unwrap();
    assert_eq!(reads(&env).len(), 3 * one);
    // The tool versions are checked once, not per refresh.
    let versions = env
        .fake
        .calls()
        .iter()
        .filter(|c| c.verb() == "version")
        .count();
    assert_eq!(versions, 4);
}

#[test]
fn the_extra_reads_of_an_unhealthy_status_run_at_the_same_time() {
    let env = deployed();
    put(
        &env,
        vec![arc::runner_pod(
            "docker-runner-k2x9d-runner-aaaaa",
            "docker-runner",
            false,
            arc::unschedulable("0/1 nodes are available: 1 Insufficient cpu."),
        )],
    );
    replace_listener(
        &env,
        "docker-runner",
        Some(arc::listener_pod(
            "docker-runner",
            arc::exited("listener", 1),
        )),
    );
    replace_listener(&env, "dind-runner", None);
    let slow = Duration::from_millis(150);
    env.fake
        .latency("kubectl --context kind-deskrun logs", slow);
    env.fake
        .latency("kubectl --context kind-deskrun get events", slow);
    env.status(None).unwrap();
    let calls = env.fake.calls();
    let span = |needle: &str| {
        let c = calls
            .iter()
            .find(|c| c.line().contains(needle))
            .unwrap_or_else(|| panic!("no call with {needle:?}"));
        (c.started, c.ended.unwrap())
    };
    let (l0, l1) = span("logs docker-runner-754b578d-listener");
    let (c0, c1) = span("logs arc-gha-rs-controller");
    let (e0, e1) = span("get events");
    assert!(
        l0 < c1 && c0 < l1,
        "listener and controller logs ran in series"
    );
    assert!(l0 < e1 && e0 < l1, "listener log and events ran in series");
}

#[test]
fn an_empty_job_pod_log_says_where_the_steps_output_went() {
    let env = deployed();
    let runner = "docker-runner-k2x9d-runner-7tq4z";
    put(
        &env,
        vec![
            arc::runner_pod(runner, "docker-runner", false, arc::running(&["runner"])),
            arc::job_pod(runner, "ubuntu:24.04", arc::running(&["job"])),
        ],
    );
    let (r, out, notes) = run_logs(&env, logs_req("docker-runner", Source::Job));
    r.unwrap();
    assert!(out.is_empty());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("kubectl exec"), "{notes:?}");
    assert_eq!(
        env.fake.count(&format!(
            "logs {runner}-workflow --namespace arc-systems --container job"
        )),
        1
    );
    // With output there is nothing to explain.
    set_log(
        &env,
        &format!("{runner}-workflow"),
        "job",
        false,
        "service ready\n",
    );
    let (r, out, notes) = run_logs(&env, logs_req("docker-runner", Source::Job));
    r.unwrap();
    assert_eq!(out, ["service ready"]);
    assert!(notes.is_empty());
}
