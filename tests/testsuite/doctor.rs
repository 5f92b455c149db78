//! `deskrun doctor` against the in-process fake cluster, a fake host and the
//! in-process fake GitHub: each check's verdict, and that doctor changes
//! nothing.

use deskrun::checks::{Check, Status};
use deskrun::github::fake::{Access, FakeApp, FakeGithub, FakeInstallation, FakeToken, test_key};
use deskrun::host::{FsInfo, Host};
use deskrun::model::{Auth, Mode};
use deskrun::ops::doctor::{DoctorOptions, DoctorReport, doctor, table};
use deskrun::ops::up::UpOptions;
use deskrun::testing::{Env, Fault, TOKEN, request};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// A host with kind's inotify limits and plenty of disk, unless told otherwise.
struct FakeHost {
    sysctl: BTreeMap<String, String>,
    free: u64,
    tmpfs: bool,
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
        }
    }
}

impl Host for FakeHost {
    fn sysctl(&self, name: &str) -> Option<String> {
        self.sysctl.get(name).cloned()
    }
    fn fs(&self, _: &Path) -> Option<FsInfo> {
        Some(FsInfo {
            free: self.free,
            tmpfs: self.tmpfs,
        })
    }
}

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
    env.with(|s| doctor(s, host, gh, opts))
        .expect("doctor runs")
}

fn find<'a>(r: &'a DoctorReport, id: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in\n{}", table(r)))
}

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
    assert_eq!(
        ids(&r),
        [
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
        ]
    );
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
                &FakeHost::default(),
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
