//! `deskrun doctor` against the in-process fake cluster, a fake host and the
//! in-process fake GitHub: each check's verdict, and that doctor changes
//! nothing.

use crate::existing::assert_no_kind_or_docker;
use deskrun::checks::{Check, Status};
use deskrun::github::fake::{Access, FakeApp, FakeGithub, FakeInstallation, FakeToken, test_key};
use deskrun::model::{Auth, ControllerMode, Mode, Provider};
use deskrun::ops::doctor::{DoctorOptions, DoctorReport, doctor, table};
use deskrun::ops::up::UpOptions;
use deskrun::testing::{Env, FakeHost, Fault, TOKEN, request};
use serde_json::json;
use std::collections::BTreeMap;

fn github() -> FakeGithub {
    FakeGithub::new()
        .token(
            FakeToken::classic(TOKEN, "octocat", &["repo"])
                .access("repos/owner/repo", Access::Admin),
        )
        .app(
            FakeApp::new(123456, "Iv23liTest", "deskrun-test", &test_key(1)).installation(
                FakeInstallation::new(7654321, "my-org").access("orgs/my-org", Access::Admin),
            ),
        )
}

fn run(env: &Env, host: &FakeHost, gh: &FakeGithub, opts: &DoctorOptions) -> DoctorReport {
    env.with_host(host, |s| doctor(s, gh, opts))
        .expect("doctor runs")
}

fn find<'a>(r: &'a DoctorReport, id: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in\n{}", table(r)))
}

/// Every check of a healthy kind machine with one installation, in order.
const KIND_HEALTHY: &[&str] = &[
    "tool.docker",
    "tool.kind",
    "tool.helm",
    "tool.kubectl",
    "docker.engine",
    "docker.cgroup",
    "docker.storage",
    "host.inotify",
    "cache.root",
    "disk.cache-root",
    "disk.docker-root",
    "cluster.node",
    "cluster.mounts",
    "cluster.context",
    "cluster.node-ready",
    "controller.release",
    "controller.pod",
    "github.credential",
    "github.scope",
    "github.runners",
];

fn ids(r: &DoctorReport) -> Vec<&str> {
    r.checks.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn a_healthy_machine_with_a_deployed_cluster_passes_every_check() {
    let env = Env::new();
    env.add(&request("my-runner"));
    env.up(&UpOptions::default()).expect("up");
    // Docker's root dir on this (test) machine.
    let root = env.dir.path().display().to_string();
    env.fake.handle("docker", "info", move |_, _| {
        Ok(
            json!({"ServerVersion": "28.2.2", "CgroupVersion": "2", "CgroupDriver": "systemd",
                  "Driver": "overlay2", "DockerRootDir": root})
            .to_string(),
        )
    });
    let world = env.fake.world(|w| w.clone());
    env.fake.clear_calls();
    let gh = github();
    let r = run(&env, &FakeHost::default(), &gh, &DoctorOptions::default());
    assert_eq!(r.status, Status::Ok, "{}", table(&r));
    assert_eq!(ids(&r), KIND_HEALTHY);
    assert!(r.checks.iter().all(|c| c.fix.is_none()));
    assert_eq!(
        find(&r, "github.runners").subject.as_deref(),
        Some("my-runner")
    );
    // Read-only: only reads were made, and the world is as it was.
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
    assert_eq!(env.fake.world(|w| w.clone()), world);
    assert_eq!(
        gh.requests(),
        [
            "GET /user",
            "GET /repos/owner/repo/actions/runners?per_page=1"
        ]
    );
}

#[test]
fn without_a_cluster_the_cluster_checks_are_one_skip() {
    let env = Env::new();
    env.add(&request("my-runner"));
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    assert_eq!(r.status, Status::Skip, "{}", table(&r));
    let c = find(&r, "cluster.exists");
    assert_eq!(c.status, Status::Skip);
    assert!(c.message.contains("`deskrun up` creates it"));
    assert!(!ids(&r).contains(&"cluster.node"));
    // The cache root does not exist yet (Env's is in a temp dir).
    assert!(
        find(&r, "cache.root")
            .message
            .contains("does not exist yet")
    );
}

#[test]
fn offline_skips_each_installation_and_makes_no_request() {
    let env = Env::new();
    env.add(&request("a"));
    env.add(&request("b"));
    let gh = github();
    let r = run(
        &env,
        &FakeHost::default(),
        &gh,
        &DoctorOptions {
            offline: true,
            ..Default::default()
        },
    );
    let skipped: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.id.starts_with("github."))
        .map(|c| (c.subject.as_deref().unwrap(), c.status))
        .collect();
    assert_eq!(skipped, [("a", Status::Skip), ("b", Status::Skip)]);
    assert!(gh.requests().is_empty());
}

#[test]
fn names_limit_the_github_checks_and_unknown_names_are_input_errors() {
    let env = Env::new();
    env.add(&request("a"));
    env.add(&request("b"));
    let gh = github();
    let r = run(
        &env,
        &FakeHost::default(),
        &gh,
        &DoctorOptions {
            names: vec!["b".into()],
            ..Default::default()
        },
    );
    let subjects: Vec<_> = r
        .checks
        .iter()
        .filter_map(|c| c.subject.as_deref())
        .collect();
    assert!(subjects.iter().all(|s| *s == "b"), "{subjects:?}");
    let e = env
        .with(|s| {
            doctor(
                s,
                &gh,
                &DoctorOptions {
                    names: vec!["nope".into()],
                    ..Default::default()
                },
            )
        })
        .unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 2);
}

#[test]
fn credential_failures_fail_the_report_per_installation() {
    let env = Env::new();
    env.add(&request("good"));
    let mut bad = request("bad");
    bad.auth = Auth::Pat {
        token: "revoked-token".into(),
    };
    env.add(&bad);
    let mut app = request("wrong-account");
    app.repository = "https://github.com/other-org".into();
    app.auth = Auth::GithubApp {
        app_id: "123456".into(),
        installation_id: "7654321".into(),
        private_key: test_key(1),
    };
    env.add(&app);
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    assert_eq!(r.status, Status::Fail);
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| (c.id.as_str(), c.subject.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        failed,
        [
            ("github.credential", "bad"),
            ("github.installation", "wrong-account")
        ]
    );
    let text = format!("{}{}", table(&r), serde_json::to_string(&r).unwrap());
    assert!(!text.contains("revoked-token"));
    assert!(!text.contains(test_key(1).lines().nth(1).unwrap()));
}

#[test]
fn an_unreachable_github_is_a_warning() {
    let env = Env::new();
    env.add(&request("a"));
    let gh = github();
    gh.set_unreachable(true);
    let r = run(&env, &FakeHost::default(), &gh, &DoctorOptions::default());
    let c = find(&r, "github.credential");
    assert_eq!(c.status, Status::Warn);
    assert!(c.message.contains("GitHub could not be reached"));
    assert_ne!(r.status, Status::Fail);
}

#[test]
fn low_inotify_limits_little_space_and_tmpfs_are_reported_with_fixes() {
    let env = Env::new();
    let mut host = FakeHost {
        free: 5 << 30,
        tmpfs: true,
        ..Default::default()
    };
    host.sysctl
        .insert("fs.inotify.max_user_instances".into(), "128".into());
    let r = run(&env, &host, &github(), &DoctorOptions::default());
    let c = find(&r, "host.inotify");
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.message
            .contains("max_user_instances is 128 (kind needs 512)"),
        "{c:?}"
    );
    assert!(!c.message.contains("max_user_watches is"), "{c:?}");
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("fs.inotify.max_user_instances=512")
    );
    assert!(c.fix.as_deref().unwrap().contains("/etc/sysctl.d/"));
    let c = find(&r, "cache.root");
    assert_eq!(c.status, Status::Warn);
    assert!(c.message.contains("tmpfs"));
    assert_eq!(find(&r, "disk.cache-root").status, Status::Warn);

    let host = FakeHost {
        free: 1 << 30,
        sysctl: BTreeMap::new(),
        ..Default::default()
    };
    let r = run(&env, &host, &github(), &DoctorOptions::default());
    assert_eq!(find(&r, "disk.cache-root").status, Status::Fail);
    assert_eq!(find(&r, "host.inotify").status, Status::Skip);
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn missing_and_old_tools_fail_and_skip_what_needs_them() {
    let env = Env::new();
    env.fake.world(|w| {
        w.missing_tools.insert("kind".into());
        w.versions.insert("helm".into(), "v3.12.0+gabc\n".into());
    });
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let kind = find(&r, "tool.kind");
    assert_eq!(kind.status, Status::Fail);
    assert!(kind.fix.as_deref().unwrap().contains("kind.sigs.k8s.io"));
    let helm = find(&r, "tool.helm");
    assert_eq!(helm.status, Status::Fail);
    assert!(
        helm.message.contains("3.12.0") && helm.message.contains("3.13.0"),
        "{helm:?}"
    );
    assert_eq!(find(&r, "tool.docker").status, Status::Ok);
    // The engine is still checked; the cluster (which needs kind) is not.
    assert_eq!(find(&r, "docker.engine").status, Status::Ok);
    assert!(!ids(&r).iter().any(|i| i.starts_with("cluster.")));
}

#[test]
fn a_stopped_engine_cgroup_v1_and_vfs_are_named() {
    let env = Env::new();
    env.fake.handle("docker", "info", |_, _| {
        Ok(
            json!({"ServerVersion": "24.0.7", "CgroupVersion": "1", "CgroupDriver": "cgroupfs",
                  "Driver": "vfs", "DockerRootDir": "/no/such/docker/root"})
            .to_string(),
        )
    });
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    assert_eq!(find(&r, "docker.cgroup").status, Status::Warn);
    assert_eq!(find(&r, "docker.storage").status, Status::Warn);
    // A root dir that is not on this machine (Docker Desktop): skipped.
    assert_eq!(find(&r, "disk.docker-root").status, Status::Skip);

    let env = Env::new();
    env.fake.world(|w| w.docker_running = false);
    // `docker version` works without the engine in the fake; `docker info` does not.
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "docker.engine");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(
        c.message.contains("Cannot connect to the Docker daemon"),
        "{c:?}"
    );
    assert!(!ids(&r).contains(&"docker.cgroup"));
    assert!(!ids(&r).iter().any(|i| i.starts_with("cluster.")));
}

#[test]
fn cluster_problems_each_have_their_own_check() {
    // A custom cache host path the node does not mount.
    let env = Env::new();
    env.add(&request("plain"));
    env.up(&UpOptions::default()).expect("up");
    let mut cached = request("cached");
    cached.mode = Mode::CachedPrivilegedKubernetes;
    cached.caches = vec![format!(
        "{}:/var/lib/docker",
        env.dir.path().join("elsewhere").display()
    )];
    env.add(&cached);
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "cluster.mounts");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("elsewhere"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("--delete-cluster"));

    // The controller pod crash-loops.
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        let key = c
            .objects
            .keys()
            .find(|k| k.kind == "Pod" && k.name.starts_with("arc-gha-rs-controller"))
            .cloned()
            .unwrap();
        let pod = c.objects.get_mut(&key).unwrap();
        pod["status"] = json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "manager", "state": {"waiting": {
                "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}}]});
    });
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "controller.pod");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("CrashLoopBackOff"), "{c:?}");
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("logs deployment/arc-gha-rs-controller")
    );

    // The node is not Ready.
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        let key = c
            .objects
            .keys()
            .find(|k| k.kind == "Node")
            .cloned()
            .unwrap();
        c.objects.get_mut(&key).unwrap()["status"]["conditions"][0] =
            json!({"type": "Ready", "status": "False", "message": "PLEG is not healthy"});
    });
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "cluster.node-ready");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("PLEG is not healthy"));

    // The context does not reach the API server.
    env.fake.inject(Fault::on("kubectl", "get nodes").fail(
        1,
        "The connection to the server 127.0.0.1:39999 was refused",
    ));
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "cluster.context");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("kind export kubeconfig --name deskrun")
    );
    assert!(!ids(&r).contains(&"controller.release"));
    env.fake.clear_faults();

    // The node container is stopped.
    env.fake.world(|w| {
        w.containers
            .get_mut("deskrun-control-plane")
            .unwrap()
            .running = false
    });
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "cluster.node");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.fix.as_deref(), Some("docker start deskrun-control-plane"));
}

#[test]
fn a_controller_left_pending_is_a_failure_that_up_repairs() {
    let env = Env::new();
    env.add(&request("a"));
    env.fake
        .inject(Fault::on("helm", "upgrade --install arc ").leave_release("pending-install"));
    let _ = env.up(&UpOptions::default());
    env.fake.clear_faults();
    let r = run(
        &env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions::default(),
    );
    let c = find(&r, "controller.release");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(c.message.contains("pending-install"));
    assert!(c.fix.as_deref().unwrap().contains("deskrun up"));
}

// ---------------------------------------------------------------------------
// `up` checks the credentials of what it is about to deploy.

fn up_checked(env: &Env, gh: &FakeGithub) -> anyhow::Result<deskrun::ops::up::UpReport> {
    env.with(|s| deskrun::ops::up::up_with(s, &UpOptions::default(), Some(gh)))
}

#[test]
fn up_refuses_an_installation_whose_credential_fails_and_deploys_the_rest() {
    let env = Env::new();
    env.add(&request("good"));
    let mut bad = request("bad");
    bad.auth = Auth::Pat {
        token: "revoked-token".into(),
    };
    env.add(&bad);
    let gh = github();
    let e = format!("{:#}", up_checked(&env, &gh).unwrap_err());
    assert!(e.contains("installation bad was not deployed"), "{e}");
    assert!(e.contains("GitHub refused the token"), "{e}");
    assert!(e.contains("fix: create a new token"), "{e}");
    assert!(!e.contains("revoked-token"), "{e}");
    assert_eq!(env.fake.count("helm upgrade --install good "), 1);
    assert_eq!(env.fake.count("helm upgrade --install bad "), 0);
    // Both were checked, once each.
    assert_eq!(
        gh.requests().iter().filter(|r| *r == "GET /user").count(),
        2
    );
}

#[test]
fn a_noop_up_makes_no_request_and_only_changed_installations_are_checked() {
    let env = Env::new();
    env.add(&request("a"));
    env.add(&request("b"));
    let gh = github();
    up_checked(&env, &gh).expect("first up");
    assert_eq!(
        gh.requests().iter().filter(|r| *r == "GET /user").count(),
        2
    );

    // Nothing changed: the three reads and no request.
    let gh = github();
    env.fake.clear_calls();
    let r = up_checked(&env, &gh).expect("second up");
    assert!(!r.applied);
    // (Env does not cache tool versions; the CLI does.)
    let reads: Vec<String> = env
        .fake
        .lines()
        .into_iter()
        .filter(|l| !l.contains(" version"))
        .collect();
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());

    // One installation changes: only it is checked.
    let mut b = request("b");
    b.max_runners = Some(3);
    b.replace = true;
    env.add(&b);
    let gh = github();
    up_checked(&env, &gh).expect("third up");
    assert_eq!(
        gh.requests(),
        [
            "GET /user",
            "GET /repos/owner/repo/actions/runners?per_page=1"
        ]
    );
    // (Counted since the second up.)
    assert_eq!(env.fake.count("helm upgrade --install a "), 0);
    assert_eq!(env.fake.count("helm upgrade --install b "), 1);
}

#[test]
fn an_unreachable_github_does_not_stop_up() {
    let env = Env::new();
    env.add(&request("a"));
    let gh = github();
    gh.set_unreachable(true);
    let r = up_checked(&env, &gh).expect("up goes on");
    assert!(r.applied);
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains("installation a: GitHub could not be reached")),
        "{:?}",
        r.notices
    );
    assert_eq!(env.fake.count("helm upgrade --install a "), 1);
}

#[test]
fn without_a_github_api_up_asks_nobody() {
    // `--skip-github-check` (and the library's `up`).
    let env = Env::new();
    let mut bad = request("bad");
    bad.auth = Auth::Pat {
        token: "revoked-token".into(),
    };
    env.add(&bad);
    env.up(&UpOptions::default()).expect("up");
    assert_eq!(env.fake.count("helm upgrade --install bad "), 1);
}

// ---------------------------------------------------------------------------
// The checks follow `cluster.provider`.

const CONTEXT: &str = "team";

/// An existing three-node cluster behind the context `team`, namespace `ci`.
fn existing(controller: ControllerMode) -> Env {
    let env = Env::new();
    env.fake.world(|w| {
        w.create_existing(CONTEXT, &["worker-1", "worker-2", "worker-3"]);
    });
    env.store
        .update(|c| {
            c.cluster.provider = Provider::Existing;
            c.cluster.context = Some(CONTEXT.into());
            c.cluster.namespace = "ci".into();
            c.cluster.controller = controller;
            Ok(())
        })
        .unwrap();
    env
}

fn storage_class(name: &str, default: bool) -> serde_json::Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": name, "namespace": "", "annotations": {
               "storageclass.kubernetes.io/is-default-class": default.to_string()}},
           "provisioner": "rancher.io/local-path"})
}

fn put(env: &Env, obj: serde_json::Value) {
    env.fake.world(|w| w.cluster_mut(CONTEXT).unwrap().put(obj));
}

/// A privileged runner whose two caches are claims.
fn cached(name: &str) -> deskrun::ops::add::AddRequest {
    let mut r = request(name);
    r.mode = Mode::CachedPrivilegedKubernetes;
    r.caches = vec!["/var/lib/docker".into(), "/root/.cache".into()];
    r
}

/// `docker info` of a healthy engine whose root dir is on this machine.
fn healthy_docker(env: &Env) {
    let root = env.dir.path().display().to_string();
    env.fake.handle("docker", "info", move |_, _| {
        Ok(
            json!({"ServerVersion": "28.2.2", "CgroupVersion": "2", "CgroupDriver": "systemd",
                  "Driver": "overlay2", "DockerRootDir": root})
            .to_string(),
        )
    });
}

#[test]
fn the_checks_follow_the_provider_and_never_run_docker_or_kind_on_an_existing_cluster() {
    struct Case {
        name: &'static str,
        env: fn() -> Env,
        status: Status,
        ids: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "kind",
            env: || {
                let env = Env::new();
                env.add(&request("a"));
                env.up(&UpOptions::default()).expect("up");
                healthy_docker(&env);
                env
            },
            status: Status::Ok,
            ids: KIND_HEALTHY,
        },
        Case {
            name: "existing, managed controller, caches as claims",
            env: || {
                let env = existing(ControllerMode::Managed);
                put(&env, storage_class("standard", true));
                env.add(&cached("a"));
                env.up(&UpOptions::default()).expect("up");
                env
            },
            status: Status::Ok,
            ids: &[
                "tool.helm",
                "tool.kubectl",
                "cluster.context",
                "cluster.node-ready",
                "cluster.storage-class",
                "cluster.permissions",
                "controller.others",
                "controller.release",
                "controller.pod",
                "github.credential",
                "github.scope",
                "github.runners",
            ],
        },
        Case {
            name: "existing, external controller, a pinned node, mirrors configured",
            env: || {
                let env = existing(ControllerMode::External);
                env.mirrors(&["docker.io"]);
                env.fake.world(|w| {
                    w.cluster_mut(CONTEXT).unwrap().preinstall_controller(
                        "arc-system",
                        "team-arc",
                        "0.14.2",
                    )
                });
                let mut r = request("a");
                r.node = Some("worker-2".into());
                env.add(&r);
                env.up(&UpOptions::default()).expect("up");
                env
            },
            // The mirrors do not apply: a skip says so.
            status: Status::Skip,
            ids: &[
                "tool.helm",
                "tool.kubectl",
                "mirror.container",
                "cluster.context",
                "cluster.node-ready",
                "cluster.node-pinned",
                "cluster.permissions",
                "controller.external",
                "github.credential",
                "github.scope",
                "github.runners",
            ],
        },
    ];
    for case in cases {
        let env = (case.env)();
        let world = env.fake.world(|w| w.clone());
        env.fake.clear_calls();
        let r = run(
            &env,
            &FakeHost::default(),
            &github(),
            &DoctorOptions::default(),
        );
        assert_eq!(r.status, case.status, "{}:\n{}", case.name, table(&r));
        assert_eq!(ids(&r), case.ids, "{}:\n{}", case.name, table(&r));
        assert!(
            env.fake.mutating().is_empty(),
            "{}: {:?}",
            case.name,
            env.fake.mutating()
        );
        assert_eq!(env.fake.world(|w| w.clone()), world, "{}", case.name);
        if case.name.starts_with("existing") {
            assert_no_kind_or_docker(&env);
            // Every cluster call names the context.
            for c in env.fake.calls() {
                let line = c.line();
                assert!(
                    line.contains(" version") || line.contains(CONTEXT),
                    "{}: {line}",
                    case.name
                );
            }
        }
    }
}

/// The checks of one id (several for per-installation or per-mirror ones).
fn all<'a>(r: &'a DoctorReport, id: &str) -> Vec<&'a Check> {
    r.checks.iter().filter(|c| c.id == id).collect()
}

fn doctor_of(env: &Env) -> DoctorReport {
    let r = run(
        env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions {
            offline: true,
            ..Default::default()
        },
    );
    assert_no_kind_or_docker(env);
    r
}

const FORBIDDEN: &str = "Error from server (Forbidden): nodes is forbidden: User \"dev\" cannot list resource \"nodes\" in API group \"\" at the cluster scope";

#[test]
fn an_existing_cluster_that_does_not_answer_or_is_not_in_the_kubeconfig_is_named() {
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake
        .world(|w| w.cluster_mut(CONTEXT).unwrap().unreachable = true);
    let r = doctor_of(&env);
    let c = find(&r, "cluster.context");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(
        c.message.contains("context team does not answer") && c.message.contains("i/o timeout"),
        "{c:?}"
    );
    assert!(c.fix.as_deref().unwrap().contains("VPN"), "{c:?}");
    // Nothing else of the cluster is asked once it does not answer.
    assert!(!ids(&r).contains(&"cluster.permissions"));
    assert_eq!(r.status, Status::Fail);

    env.store
        .update(|c| {
            c.cluster.context = Some("gone".into());
            Ok(())
        })
        .unwrap();
    let r = doctor_of(&env);
    let c = find(&r, "cluster.context");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.message.contains("the kubeconfig has no context gone"),
        "{c:?}"
    );
    assert!(c.fix.as_deref().unwrap().contains("deskrun cluster use"));
}

#[test]
fn pinned_nodes_must_exist_and_be_ready() {
    let env = existing(ControllerMode::Managed);
    for (name, node) in [
        ("here", "worker-1"),
        ("gone", "worker-9"),
        ("sick", "worker-3"),
    ] {
        let mut r = request(name);
        r.node = Some(node.into());
        env.add(&r);
    }
    env.fake.world(|w| {
        let c = w.cluster_mut(CONTEXT).unwrap();
        let key = c
            .objects
            .keys()
            .find(|k| k.kind == "Node" && k.name == "worker-3")
            .cloned()
            .unwrap();
        c.objects.get_mut(&key).unwrap()["status"]["conditions"][0] =
            json!({"type": "Ready", "status": "False", "message": "disk pressure"});
    });
    let r = doctor_of(&env);
    let pinned: Vec<_> = all(&r, "cluster.node-pinned")
        .into_iter()
        .map(|c| (c.subject.as_deref().unwrap(), c.status))
        .collect();
    assert_eq!(
        pinned,
        [
            ("gone", Status::Fail),
            ("here", Status::Ok),
            ("sick", Status::Fail)
        ]
    );
    let gone = all(&r, "cluster.node-pinned")[0];
    assert!(
        gone.message.contains("worker-9") && gone.message.contains("worker-1, worker-2, worker-3"),
        "{gone:?}"
    );
    assert!(
        gone.fix
            .as_deref()
            .unwrap()
            .contains("`node:` of installation gone")
    );
    assert!(
        all(&r, "cluster.node-pinned")[2]
            .message
            .contains("disk pressure")
    );
    // One node of three not Ready: the others take the runners.
    assert_eq!(find(&r, "cluster.node-ready").status, Status::Warn);

    // A context that may not list nodes: answered, and nothing is guessed.
    env.fake
        .inject(Fault::on("kubectl", "get nodes").fail(1, FORBIDDEN));
    let r = doctor_of(&env);
    assert_eq!(find(&r, "cluster.context").status, Status::Ok);
    assert_eq!(find(&r, "cluster.node-ready").status, Status::Skip);
    assert!(
        all(&r, "cluster.node-pinned")
            .iter()
            .all(|c| c.status == Status::Skip)
    );
}

#[test]
fn cache_claims_need_a_storage_class() {
    let env = existing(ControllerMode::Managed);
    env.add(&cached("a"));
    // No storage class at all.
    let r = doctor_of(&env);
    let c = find(&r, "cluster.storage-class");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(c.message.contains("no default storage class"), "{c:?}");
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("no storage class at all")
    );

    // Classes, none the default: the fix lists them.
    put(&env, storage_class("fast", false));
    put(&env, storage_class("slow", false));
    let c = find(&doctor_of(&env), "cluster.storage-class").clone();
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.fix.as_deref().unwrap().contains("one of: fast, slow"),
        "{c:?}"
    );

    // The configured class exists.
    env.store
        .update(|c| {
            c.cluster.cache_storage_class = "fast".into();
            Ok(())
        })
        .unwrap();
    let c = find(&doctor_of(&env), "cluster.storage-class").clone();
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(c.message.contains("storage class fast"));
    // A configured class that does not exist.
    env.store
        .update(|c| {
            c.cluster.cache_storage_class = "ssd".into();
            Ok(())
        })
        .unwrap();
    let c = find(&doctor_of(&env), "cluster.storage-class").clone();
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.message
            .contains("ssd (cluster.cache_storage_class) does not exist"),
        "{c:?}"
    );
    // May not list them: a warning, not a verdict.
    env.fake
        .inject(Fault::on("kubectl", "get storageclasses").fail(
            1,
            "Error from server (Forbidden): storageclasses.storage.k8s.io is forbidden",
        ));
    let c = find(&doctor_of(&env), "cluster.storage-class").clone();
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(c.message.contains("may not list storage classes"), "{c:?}");

    // Caches with host directories on a pinned node need no class.
    let env = existing(ControllerMode::Managed);
    let mut r = request("pinned");
    r.node = Some("worker-1".into());
    r.mode = Mode::CachedPrivilegedKubernetes;
    r.caches = vec!["/srv/docker:/var/lib/docker".into()];
    env.add(&r);
    assert!(!ids(&doctor_of(&env)).contains(&"cluster.storage-class"));
}

#[test]
fn missing_permissions_are_one_check_that_names_them() {
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake.world(|w| {
        let c = w.cluster_mut(CONTEXT).unwrap();
        c.denied.insert("create persistentvolumeclaims".into());
        c.denied.insert(
            "create customresourcedefinitions.apiextensions.k8s.io --all-namespaces".into(),
        );
    });
    let r = doctor_of(&env);
    let c = find(&r, "cluster.permissions");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(
        c.message.contains("context team may not")
            && c.message
                .contains("create persistentvolumeclaims in namespace ci (cache claims)")
            && c.message
                .contains("create customresourcedefinitions.apiextensions.k8s.io cluster-wide"),
        "{c:?}"
    );
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("cluster.controller: external"),
        "{c:?}"
    );
    assert_eq!(all(&r, "cluster.permissions").len(), 1);
    assert_eq!(r.status, Status::Fail);

    // An external controller needs no cluster-wide right.
    let env = existing(ControllerMode::External);
    env.add(&request("a"));
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .denied
            .insert("create customresourcedefinitions.apiextensions.k8s.io --all-namespaces".into())
    });
    let c = find(&doctor_of(&env), "cluster.permissions").clone();
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert!(
        env.fake
            .lines()
            .iter()
            .all(|l| !l.contains("auth can-i") || !l.contains("--all-namespaces"))
    );
}

#[test]
fn the_controller_check_follows_cluster_controller() {
    // Managed, but someone else's controller runs: `up` would stop.
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .preinstall_controller("arc-system", "team-arc", "0.14.2")
    });
    let r = doctor_of(&env);
    let c = find(&r, "controller.others");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(c.message.contains("arc-system/team-arc-gha-rs-controller"));
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("cluster.controller: external")
    );
    // Not installed yet by deskrun: a skip, as on kind.
    assert_eq!(find(&r, "controller.release").status, Status::Skip);

    // External: no CRDs, then the wrong version, then the right one.
    let env = existing(ControllerMode::External);
    env.add(&request("a"));
    let c = find(&doctor_of(&env), "controller.external").clone();
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("lacks the ARC CRDs"), "{c:?}");
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .preinstall_controller("arc-system", "team-arc", "0.13.0")
    });
    let c = find(&doctor_of(&env), "controller.external").clone();
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("0.13.0"), "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("0.14.2"), "{c:?}");
    // May not list Deployments cluster-wide: the CRDs are there, the
    // version is unknown.
    env.fake.inject(
        Fault::on("kubectl", "get deployments.apps --all-namespaces").fail(
            1,
            "Error from server (Forbidden): deployments.apps is forbidden",
        ),
    );
    let c = find(&doctor_of(&env), "controller.external").clone();
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(c.message.contains("not checked"), "{c:?}");
    assert!(!ids(&doctor_of(&env)).contains(&"controller.release"));
}

// ---------------------------------------------------------------------------
// kind: registry mirrors and the disks of custom cache paths.

#[test]
fn each_mirror_of_a_kind_cluster_is_reported_and_a_cluster_that_predates_them_is_named() {
    let env = Env::new();
    env.mirrors(&["docker.io", "ghcr.io"]);
    env.add(&request("a"));
    env.up(&UpOptions::default()).expect("up");
    healthy_docker(&env);
    let world = env.fake.world(|w| w.clone());
    env.fake.clear_calls();
    let r = doctor_kind(&env);
    // (Skip: --offline.)
    assert_eq!(r.status, Status::Skip, "{}", table(&r));
    assert_eq!(find(&r, "mirror.root").status, Status::Ok);
    assert_eq!(find(&r, "disk.mirror-root").status, Status::Ok);
    assert_eq!(find(&r, "mirror.node").status, Status::Ok);
    let mirrors: Vec<_> = all(&r, "mirror.container")
        .into_iter()
        .map(|c| (c.subject.as_deref().unwrap(), c.status))
        .collect();
    assert_eq!(
        mirrors,
        [("docker.io", Status::Ok), ("ghcr.io", Status::Ok)]
    );
    // The node and both mirrors in one `docker inspect`, as `up` reads them.
    assert_eq!(
        env.fake.count(
            "docker inspect --type container deskrun-control-plane deskrun-mirror-docker-io deskrun-mirror-ghcr-io"
        ),
        1,
        "{:#?}",
        env.fake.lines()
    );
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
    assert_eq!(env.fake.world(|w| w.clone()), world);

    // One stopped, one gone, one from other settings.
    env.fake.world(|w| {
        w.containers
            .get_mut("deskrun-mirror-docker-io")
            .unwrap()
            .running = false;
        w.containers.remove("deskrun-mirror-ghcr-io");
    });
    let r = doctor_kind(&env);
    let hub = all(&r, "mirror.container")[0];
    assert_eq!(hub.status, Status::Warn, "{}", table(&r));
    assert!(hub.message.contains("exited"), "{hub:?}");
    assert!(
        hub.fix
            .as_deref()
            .unwrap()
            .contains("`deskrun up` starts it")
    );
    let ghcr = all(&r, "mirror.container")[1];
    assert_eq!(ghcr.status, Status::Warn);
    assert!(ghcr.message.contains("does not exist"), "{ghcr:?}");
    env.fake.world(|w| {
        let c = w.containers.get_mut("deskrun-mirror-docker-io").unwrap();
        c.running = true;
        c.labels
            .insert("deskrun.dev/mirror-hash".into(), "0000".into());
    });
    let hub = find(&doctor_kind(&env), "mirror.container").clone();
    assert_eq!(hub.status, Status::Warn);
    assert!(
        hub.fix.as_deref().unwrap().contains("re-creates it"),
        "{hub:?}"
    );
    // Someone else's container under the mirror's name.
    env.fake.world(|w| {
        w.containers
            .get_mut("deskrun-mirror-docker-io")
            .unwrap()
            .labels
            .clear()
    });
    let hub = find(&doctor_kind(&env), "mirror.container").clone();
    assert_eq!(hub.status, Status::Warn);
    assert!(hub.message.contains("deskrun did not create"), "{hub:?}");
    assert!(
        hub.fix
            .as_deref()
            .unwrap()
            .contains("docker rm -f deskrun-mirror-docker-io")
    );

    // A cluster made before the config asked for mirrors: they serve it
    // nothing until it is re-created.
    let env = Env::new();
    env.add(&request("a"));
    env.up(&UpOptions::default()).expect("up");
    env.mirrors(&["docker.io"]);
    healthy_docker(&env);
    let r = doctor_kind(&env);
    let c = find(&r, "mirror.node");
    assert_eq!(c.status, Status::Warn, "{}", table(&r));
    assert!(
        c.message.contains("created without the registry mirrors")
            && c.message.contains("docker.io"),
        "{c:?}"
    );
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("deskrun down --delete-cluster && deskrun up")
    );
    assert!(!ids(&r).contains(&"mirror.container"));
    assert_ne!(r.status, Status::Fail);
}

#[test]
fn a_mirror_root_in_memory_fails() {
    let env = Env::new();
    env.mirrors(&["docker.io"]);
    let host = FakeHost {
        tmpfs: true,
        ..Default::default()
    };
    let r = run(&env, &host, &github(), &DoctorOptions::default());
    let c = find(&r, "mirror.root");
    assert_eq!(c.status, Status::Fail, "{}", table(&r));
    assert!(c.message.contains("tmpfs"), "{c:?}");
    assert!(!ids(&r).contains(&"disk.mirror-root"));
}

fn doctor_kind(env: &Env) -> DoctorReport {
    run(
        env,
        &FakeHost::default(),
        &github(),
        &DoctorOptions {
            offline: true,
            ..Default::default()
        },
    )
}

#[test]
fn free_space_is_checked_under_each_custom_cache_host_path() {
    let env = Env::new();
    let small = env.dir.path().join("small-disk");
    let roomy = env.dir.path().join("roomy-disk");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(&roomy).unwrap();
    let mut a = request("a");
    a.mode = Mode::CachedPrivilegedKubernetes;
    a.caches = vec![
        format!("{}:/var/lib/docker", small.display()),
        format!("{}:/root/.cache", roomy.display()),
        // Under the cache root: covered by disk.cache-root.
        format!("{}:/root/.npm", env.cache_root.join("npm").display()),
    ];
    env.add(&a);
    let mut b = request("b");
    b.mode = Mode::CachedPrivilegedKubernetes;
    // Not made yet: judged by the nearest existing folder.
    b.caches = vec![format!("{}/b:/var/lib/docker", small.display())];
    env.add(&b);
    for (free, status) in [
        (1u64 << 30, Status::Fail),
        (5 << 30, Status::Warn),
        (50 << 30, Status::Ok),
    ] {
        let host = FakeHost {
            free_under: vec![(small.clone(), free)],
            ..Default::default()
        };
        let r = run(
            &env,
            &host,
            &github(),
            &DoctorOptions {
                offline: true,
                ..Default::default()
            },
        );
        let checks: Vec<_> = all(&r, "disk.cache-path")
            .into_iter()
            .map(|c| {
                (
                    c.subject.as_deref().unwrap(),
                    c.status,
                    c.message.contains("small-disk"),
                )
            })
            .collect();
        assert_eq!(
            checks,
            [
                ("a", status, true),
                ("a", Status::Ok, false),
                ("b", status, true)
            ],
            "{}",
            table(&r)
        );
        assert_eq!(find(&r, "disk.cache-root").status, Status::Ok);
    }
}

// ---------------------------------------------------------------------------
// A failed `up` keeps what it noticed before failing.

#[test]
fn a_failed_up_still_says_that_github_could_not_be_reached() {
    let env = Env::new();
    env.add(&request("a"));
    let gh = github();
    gh.set_unreachable(true);
    env.fake.inject(
        Fault::on("helm", "upgrade --install a ").fail(1, "Error: context deadline exceeded"),
    );
    let e = up_checked(&env, &gh).unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 1);
    let text = format!("{e:#}");
    assert!(text.contains("context deadline exceeded"), "{text}");
    assert!(
        text.contains("note: installation a: GitHub could not be reached"),
        "{text}"
    );
    // The cause first, the note after it.
    assert!(text.find("deadline").unwrap() < text.find("note:").unwrap());

    // Bad input keeps its exit code, note or not: a controller deskrun
    // did not install on an existing cluster (after the GitHub check? no:
    // before it, so no note, and the error is untouched).
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .preinstall_controller("arc-system", "team-arc", "0.14.2")
    });
    let e = up_checked(&env, &gh).unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 2);
    assert!(!format!("{e:#}").contains("note:"));
}
