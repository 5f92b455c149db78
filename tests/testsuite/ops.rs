//! `up`, `down`, `status`, `cluster` against the in-process fake: what calls
//! deskrun makes, in what state it leaves the cluster, and what it says when
//! a tool fails.

use deskrun::host::HostProcess;
use deskrun::model::Mode;
use deskrun::ops;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::{UpOptions, UpReport};
use deskrun::plan::Action;
use deskrun::testing::{Env, Fault, TOKEN, request};

/// Two installations: a privileged Docker runner with a cache, and three
/// kubernetes-mode instances.
fn two_installations(env: &Env) {
    let mut docker = request("docker-runner");
    docker.mode = Mode::CachedPrivilegedKubernetes;
    docker.caches = vec!["/var/lib/docker".into()];
    env.add(&docker);
    let mut ci = request("ci");
    ci.instances = 3;
    env.add(&ci);
}

fn up(env: &Env) -> UpReport {
    env.up(&UpOptions::default()).expect("up")
}

fn count(r: &UpReport, a: Action) -> usize {
    r.plan.instances.iter().filter(|i| i.action == a).count()
}

fn up_err(env: &Env) -> String {
    format!("{:#}", env.up(&UpOptions::default()).unwrap_err())
}

#[test]
fn first_up_deploys_everything_and_second_up_is_a_noop() {
    let env = Env::new();
    two_installations(&env);
    let r = up(&env);
    assert!(r.applied);
    assert_eq!(count(&r, Action::Create), 4, "{}", r.summary());
    let f = &env.fake;
    assert_eq!(f.count("kind create cluster"), 1);
    assert_eq!(f.count("helm upgrade --install arc "), 1);
    assert_eq!(
        f.count("kubectl --context kind-deskrun wait --for=condition=established"),
        1
    );
    for inst in ["docker-runner", "ci-1", "ci-2", "ci-3"] {
        assert_eq!(
            f.count(&format!("helm upgrade --install {inst} ")),
            1,
            "{inst}"
        );
    }
    // Only the privileged instance has a hook-extension ConfigMap.
    assert_eq!(f.count("kubectl --context kind-deskrun apply"), 1);
    // Every helm/kubectl call names the context.
    for c in f.calls() {
        let versions = c.args.iter().any(|a| a == "version");
        if c.program == "helm" && !versions {
            assert!(
                c.line().contains("--kube-context kind-deskrun"),
                "{}",
                c.line()
            );
        }
        if c.program == "kubectl" && !versions {
            assert!(c.line().contains("--context kind-deskrun"), "{}", c.line());
        }
    }
    // The kind config on stdin mounts the cache root.
    let kind = f
        .calls()
        .into_iter()
        .find(|c| c.line().contains("kind create cluster"))
        .unwrap();
    let root = env.cache_root.display().to_string();
    assert!(kind.stdin.as_deref().unwrap().contains(&root));

    let st = env.status(None).unwrap();
    assert!(st.cluster.exists);
    assert_eq!(st.cluster.running, Some(true));
    assert_eq!(st.controller.as_ref().unwrap().status, "deployed");
    for i in st.installations.iter().flat_map(|i| &i.instances) {
        assert_eq!(i.release_status.as_deref(), Some("deployed"), "{i:?}");
        assert!(i.up_to_date, "{i:?}");
        assert_eq!(i.listener.as_deref(), Some("Running"), "{i:?}");
    }

    f.clear_calls();
    let r = up(&env);
    assert!(!r.applied, "{}", r.summary());
    assert!(
        f.mutating().is_empty(),
        "no-op up mutated: {:?}",
        f.mutating()
    );
    // kind get clusters, then helm list and kubectl get at once (besides
    // the tool version checks, cached between runs outside tests).
    let reads: Vec<_> = f
        .calls()
        .into_iter()
        .filter(|c| c.verb() != "version")
        .collect();
    assert_eq!(reads.len(), 3, "{:?}", f.lines());
}

#[test]
fn independent_reads_overlap() {
    let env = Env::new();
    env.add(&request("a"));
    up(&env);
    let slow = std::time::Duration::from_millis(150);
    env.fake.latency("helm list", slow);
    env.fake.latency("kubectl --context kind-deskrun get", slow);
    env.fake.latency("docker inspect", slow);
    env.fake.clear_calls();
    env.status(None).unwrap();
    let calls = env.fake.calls();
    let span = |needle: &str| {
        let c = calls.iter().find(|c| c.line().contains(needle)).unwrap();
        (c.started, c.ended.unwrap())
    };
    let (h0, h1) = span("helm list");
    let (k0, k1) = span("get autoscalingrunnersets");
    let (d0, d1) = span("docker inspect");
    assert!(
        h0 < k1 && k0 < h1,
        "helm list and kubectl get ran in series"
    );
    assert!(
        h0 < d1 && d0 < h1,
        "helm list and docker inspect ran in series"
    );
}

#[test]
fn one_changed_installation_gets_exactly_one_upgrade() {
    let env = Env::new();
    two_installations(&env);
    up(&env);
    env.fake.clear_calls();
    let mut docker = request("docker-runner");
    docker.mode = Mode::CachedPrivilegedKubernetes;
    docker.caches = vec!["/var/lib/docker".into()];
    docker.max_runners = Some(9);
    docker.replace = true;
    env.add(&docker);
    let r = up(&env);
    assert_eq!(count(&r, Action::Upgrade), 1, "{}", r.summary());
    let m = env.fake.mutating();
    assert_eq!(env.fake.count("helm upgrade"), 1, "{m:?}");
    assert_eq!(env.fake.count("helm upgrade --install docker-runner "), 1);
    assert!(
        m.iter().all(|c| !c.contains("uninstall")),
        "upgrade in place: {m:?}"
    );
    assert!(m.len() <= 2, "{m:?}");
    let rev = env.fake.world(|w| {
        w.cluster("deskrun")
            .unwrap()
            .release("arc-systems", "docker-runner")
            .map(|r| r.revision)
    });
    assert_eq!(rev, Some(2));
}

#[test]
fn removed_installation_is_uninstalled_with_its_configmap() {
    let env = Env::new();
    two_installations(&env);
    up(&env);
    ops::remove::remove(&env.store, "docker-runner").unwrap();
    env.fake.clear_calls();
    let r = up(&env);
    assert_eq!(r.plan.removals.len(), 1);
    assert_eq!(env.fake.count("helm uninstall docker-runner"), 1);
    assert_eq!(env.fake.count("privileged-hook-extension-docker-runner"), 1);
    let st = env.status(None).unwrap();
    assert!(st.not_in_config.is_empty());
    env.fake.clear_calls();
    up(&env);
    assert!(env.fake.mutating().is_empty());
}

#[test]
fn dry_run_plans_and_changes_nothing() {
    let env = Env::new();
    two_installations(&env);
    let dry = UpOptions {
        dry_run: true,
        ..Default::default()
    };
    let r = env.up(&dry).unwrap();
    assert!(!r.applied);
    assert!(r.plan.create_cluster);
    assert!(env.fake.mutating().is_empty());
    up(&env);
    ops::remove::remove(&env.store, "ci").unwrap();
    env.fake.clear_calls();
    let r = env.up(&dry).unwrap();
    let text = deskrun::plan::columns(&r.plan.lines());
    assert!(
        text.contains("unchanged  scale-set/docker-runner"),
        "{text}"
    );
    assert!(text.contains("remove     scale-set/ci-1"), "{text}");
    assert!(env.fake.mutating().is_empty());
}

/// The case: a deleted hook-extension ConfigMap makes both `status`
/// and `up` say the instance needs an upgrade.
#[test]
fn status_and_up_agree_on_a_deleted_configmap() {
    let env = Env::new();
    two_installations(&env);
    up(&env);
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        let key = c
            .objects
            .keys()
            .find(|k| k.kind == "ConfigMap" && k.name.contains("docker-runner"))
            .cloned()
            .unwrap();
        c.remove(&key);
    });
    let st = env.status(Some("docker-runner")).unwrap();
    assert!(!st.installations[0].instances[0].up_to_date);
    let dry = env
        .up(&UpOptions {
            dry_run: true,
            ..Default::default()
        })
        .unwrap();
    let p = dry
        .plan
        .instances
        .iter()
        .find(|i| i.instance == "docker-runner")
        .unwrap();
    assert_eq!(p.action, Action::Upgrade, "{}", p.reason);
    up(&env);
    let st = env.status(None).unwrap();
    assert!(
        st.installations
            .iter()
            .flat_map(|i| &i.instances)
            .all(|i| i.up_to_date)
    );
}

#[test]
fn down_variants() {
    let env = Env::new();
    two_installations(&env);
    up(&env);
    env.fake.clear_calls();
    let d = env.down(&DownOptions::default()).unwrap();
    assert!(d.cluster_found);
    assert!(
        d.cache_dirs
            .iter()
            .any(|c| c.starts_with(&env.cache_root.display().to_string()))
    );
    assert_eq!(env.fake.count("helm uninstall"), 4);
    assert_eq!(env.fake.count("helm uninstall arc"), 0);
    // The config is kept: up re-deploys.
    assert_eq!(count(&up(&env), Action::Create), 4);
    env.fake.clear_calls();
    env.down(&DownOptions {
        controller: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(env.fake.count("helm uninstall arc"), 1);
    env.fake.clear_calls();
    let d = env
        .down(&DownOptions {
            delete_cluster: true,
            ..Default::default()
        })
        .unwrap();
    assert!(d.cluster_deleted);
    assert_eq!(env.fake.count("kind delete cluster --name deskrun"), 1);
    assert!(!env.status(None).unwrap().cluster.exists);
    let d = env.down(&DownOptions::default()).unwrap();
    assert!(!d.cluster_found);
}

#[test]
fn missing_tool_is_named_with_how_to_install_it() {
    let env = Env::new();
    env.add(&request("a"));
    env.fake.world(|w| w.missing_tools.insert("helm".into()));
    let e = up_err(&env);
    assert!(e.contains("`helm` was not found on PATH"), "{e}");
    assert!(e.contains("https://helm.sh"), "{e}");
    assert!(env.fake.calls().iter().all(|c| c.program != "helm"));
}

#[test]
fn a_tool_too_old_is_named_with_the_version_needed() {
    let env = Env::new();
    env.add(&request("a"));
    env.fake
        .world(|w| w.versions.insert("helm".into(), "v3.12.3+gabc\n".into()));
    let e = up_err(&env);
    assert!(e.contains("helm 3.12.3"), "{e}");
    assert!(e.contains("too old"), "{e}");
    assert!(e.contains("3.13.0 or newer"), "{e}");
    assert!(env.fake.mutating().is_empty());
}

#[test]
fn cache_not_mounted_in_the_node_stops_with_the_fix() {
    let env = Env::new();
    env.add(&request("a"));
    up(&env);
    let host = env.dir.path().join("elsewhere");
    let mut b = request("b");
    b.mode = Mode::CachedPrivilegedKubernetes;
    b.caches = vec![format!("{}:/root/.cache", host.display())];
    env.add(&b);
    env.fake.clear_calls();
    let e = up_err(&env);
    assert!(e.contains(&host.display().to_string()), "{e}");
    assert!(
        e.contains("deskrun down --delete-cluster && deskrun up"),
        "{e}"
    );
    assert_eq!(env.fake.count("helm upgrade --install b "), 0);
    // After re-creating the cluster the mount is there and up converges.
    env.down(&DownOptions {
        delete_cluster: true,
        ..Default::default()
    })
    .unwrap();
    up(&env);
    env.fake.clear_calls();
    assert!(!up(&env).applied);
}

#[test]
fn the_credential_reaches_helm_only_on_stdin() {
    let env = Env::new();
    two_installations(&env);
    up(&env);
    env.status(None).unwrap();
    env.down(&DownOptions::default()).unwrap();
    let calls = env.fake.calls();
    for c in &calls {
        assert!(!c.line().contains(TOKEN), "token in argv: {}", c.line());
    }
    assert!(
        calls
            .iter()
            .any(|c| c.program == "helm" && c.stdin.as_deref().is_some_and(|s| s.contains(TOKEN)))
    );
}

#[test]
fn a_failing_helm_names_step_tool_and_stderr_and_rerun_converges() {
    let env = Env::new();
    two_installations(&env);
    let before = std::fs::read(env.store.path()).unwrap();
    env.fake.inject(
        Fault::on("helm", "upgrade --install ci-2")
            .fail(1, "Error: context deadline exceeded (injected)"),
    );
    let e = up_err(&env);
    assert!(e.contains("deploy scale set ci-2"), "{e}");
    assert!(e.contains("helm upgrade --install ci-2"), "{e}");
    assert!(e.contains("context deadline exceeded (injected)"), "{e}");
    assert!(e.starts_with("1 step(s) failed"), "{e}");
    assert_eq!(
        std::fs::read(env.store.path()).unwrap(),
        before,
        "config untouched"
    );
    env.fake.clear_faults();
    assert_eq!(count(&up(&env), Action::Create), 1);
    assert!(!up(&env).applied);
}

#[test]
fn a_tool_error_never_shows_the_credential() {
    let env = Env::new();
    env.add(&request("a"));
    env.fake.inject(
        Fault::on("helm", "upgrade --install a ").fail(1, &format!("Error: bad token {TOKEN}")),
    );
    let e = up_err(&env);
    assert!(!e.contains(TOKEN), "{e}");
    assert!(e.contains("bad token <redacted>"), "{e}");
}

/// `a` deployed, then changed, and the `up` that upgrades it interrupted
/// with the release left `pending-upgrade`: `up`'s error.
fn interrupted_upgrade(env: &Env) -> String {
    env.add(&request("a"));
    up(env);
    let mut a = request("a");
    a.max_runners = Some(7);
    a.replace = true;
    env.add(&a);
    env.fake
        .inject(Fault::on("helm", "upgrade --install a ").leave_release("pending-upgrade"));
    up_err(env)
}

#[test]
fn an_interrupted_upgrade_is_rolled_back_then_upgraded() {
    let env = Env::new();
    let e = interrupted_upgrade(&env);
    assert!(e.contains("timed out"), "{e}");
    env.fake.clear_calls();
    let r = up(&env);
    let i = &r.plan.instances[0];
    assert_eq!(i.action, Action::Upgrade, "{}", i.reason);
    let m = env.fake.mutating();
    assert!(m[0].starts_with("helm rollback a "), "{m:?}");
    assert!(m[1].starts_with("helm upgrade --install a "), "{m:?}");
    assert!(!up(&env).applied);
}

/// The host's processes come from `Env::host`, never from this machine's
/// `/proc`: both answers are tested, and a stray helm cannot change them.
#[test]
fn a_pending_release_a_live_helm_owns_is_left_to_it_until_it_is_gone() {
    let mut env = Env::new();
    interrupted_upgrade(&env);
    // That helm, still running after its deskrun was killed, as `ps` shows it.
    let upgrade = env
        .fake
        .calls()
        .into_iter()
        .rfind(|c| c.line().starts_with("helm upgrade --install a "))
        .expect("the upgrade ran");
    let helm = |pid: u32, env: Option<&[(&str, &str)]>| HostProcess {
        pid,
        argv: std::iter::once("/usr/local/bin/helm".to_string())
            .chain(upgrade.args.iter().cloned())
            .collect(),
        env: env.map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
    };
    let mut other_release = helm(4001, None);
    for w in other_release.argv.iter_mut().filter(|w| *w == "a") {
        *w = "b".into();
    }
    let other_cluster = helm(4002, Some(&[("KUBECONFIG", "/elsewhere/kubeconfig")]));
    env.host.processes = vec![other_release, other_cluster, helm(4242, None)];
    env.fake.clear_calls();
    let e = up_err(&env);
    assert!(e.contains("(pid 4242) is still working on it"), "{e}");
    assert!(e.contains("`kill 4242`"), "{e}");
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());

    // A helm on another release or another kubeconfig's cluster is not ours
    // to wait for: the release is repaired.
    env.host.processes.retain(|p| p.pid != 4242);
    assert_eq!(env.host.processes.len(), 2);
    env.fake.clear_calls();
    up(&env);
    let m = env.fake.mutating();
    assert!(m[0].starts_with("helm rollback a "), "{m:?}");
    assert!(m[1].starts_with("helm upgrade --install a "), "{m:?}");
}

/// Another `up` holds the cluster lock for longer than the bound: `up` and
/// `down` give up with exit 1, naming the holder and `--wait-lock`, having
/// run no tool that changes anything; once it is released they go ahead.
#[test]
fn a_held_cluster_lock_is_given_up_after_the_bound() {
    let mut env = Env::new();
    env.add(&request("a"));
    env.store = env
        .store
        .clone()
        .with_lock_wait(std::time::Duration::from_millis(100));
    let lock_path = env.dir.path().join("config/config.yaml.cluster.lock");
    let mut holder = std::fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    use std::io::Write;
    writeln!(holder, "{}", std::process::id()).unwrap();
    let e = env.up(&UpOptions::default()).unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 1);
    let m = format!("{e:#}");
    assert!(
        m.contains("gave up after 100ms waiting for the cluster lock"),
        "{m}"
    );
    assert!(m.contains(&format!("(pid {})", std::process::id())), "{m}");
    assert!(m.contains("--wait-lock SECONDS"), "{m}");
    let e = env.down(&DownOptions::default()).unwrap_err();
    assert!(format!("{e:#}").contains("gave up after"), "{e:#}");
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
    // A dry run takes no lock.
    env.up(&UpOptions {
        dry_run: true,
        ..Default::default()
    })
    .unwrap();
    drop(holder);
    assert!(up(&env).applied);
}

#[test]
fn an_interrupted_install_is_uninstalled_then_installed() {
    let env = Env::new();
    env.add(&request("a"));
    env.fake
        .inject(Fault::on("helm", "upgrade --install a ").leave_release("pending-install"));
    up_err(&env);
    env.fake.clear_calls();
    let r = up(&env);
    assert_eq!(r.plan.instances[0].action, Action::Create);
    let m = env.fake.mutating();
    assert!(m[0].starts_with("helm uninstall a "), "{m:?}");
    assert!(m[1].starts_with("helm upgrade --install a "), "{m:?}");
}

#[test]
fn partial_up_deploys_only_the_named_installation_and_removes_nothing() {
    let env = Env::new();
    two_installations(&env);
    env.up(&UpOptions {
        names: vec!["ci".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(env.fake.count("helm upgrade --install docker-runner"), 0);
    assert_eq!(env.fake.count("helm upgrade --install ci-1"), 1);
    let e = env
        .up(&UpOptions {
            names: vec!["nope".into()],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 2);
}

#[test]
fn cluster_subcommands() {
    let env = Env::new();
    env.add(&{
        let mut r = request("a");
        r.caches = vec!["/root/.cache".into()];
        r
    });
    let st = env.with(ops::cluster::cluster_status).unwrap();
    assert!(!st.exists);
    assert!(env.with(ops::cluster::cluster_create).unwrap().created);
    assert!(!env.with(ops::cluster::cluster_create).unwrap().created);
    let st = env.with(ops::cluster::cluster_status).unwrap();
    assert_eq!(st.running, Some(true));
    assert!(!st.wanted_mounts.is_empty());
    assert!(st.missing_mounts.is_empty(), "{st:?}");
    assert!(
        env.with(|s| ops::cluster::cluster_delete(s, false))
            .unwrap()
            .deleted
    );
    assert!(
        !env.with(|s| ops::cluster::cluster_delete(s, false))
            .unwrap()
            .deleted
    );
}

#[test]
fn a_stopped_node_shows_in_status() {
    let env = Env::new();
    env.add(&request("a"));
    up(&env);
    env.fake.world(|w| {
        w.containers
            .get_mut("deskrun-control-plane")
            .unwrap()
            .running = false
    });
    // The API server is down with the node: status says why it fails.
    let e = format!("{:#}", env.status(None).unwrap_err());
    assert!(e.contains("was refused"), "{e}");
}

#[test]
fn local_chart_directories_from_flags_are_used_without_a_version() {
    let env = Env::new();
    env.add(&request("a"));
    let charts = env.dir.path().join("charts");
    let chart = |name: &str| {
        let dir = charts.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 0.14.2\n"),
        )
        .unwrap();
        dir.display().to_string()
    };
    let controller = chart("gha-runner-scale-set-controller");
    let scale_set = chart("gha-runner-scale-set");
    env.up(&UpOptions {
        charts: ops::up::ChartOverrides {
            controller: Some(controller),
            scale_set: Some(scale_set.clone()),
            version: None,
        },
        ..Default::default()
    })
    .unwrap();
    let install = env
        .fake
        .calls()
        .into_iter()
        .find(|c| c.line().contains("helm upgrade --install a "))
        .expect("scale set installed");
    assert!(install.args.contains(&scale_set), "{}", install.line());
    assert!(
        !install.args.iter().any(|a| a == "--version"),
        "{}",
        install.line()
    );
    // A bad version is refused before anything runs.
    env.fake.clear_calls();
    let e = env
        .up(&UpOptions {
            charts: ops::up::ChartOverrides {
                version: Some(String::new()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(deskrun::error::exit_code(&e), 2);
    assert!(env.fake.calls().is_empty());
}
