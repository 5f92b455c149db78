//! An existing cluster (`cluster.provider: existing`) against the in-process
//! fake: deskrun never runs kind or docker there, names the context in every
//! call, makes cache claims before the scale sets, keeps them unless
//! `--purge-caches`, refuses what only makes sense on kind, and checks the
//! controller and the context's permissions before changing anything.

use deskrun::error::exit_code;
use deskrun::model::{ControllerMode, Mode, Provider};
use deskrun::ops;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::{UpOptions, UpReport};
use deskrun::plan::Action;
use deskrun::testing::{Call, Env, request};
use serde_json::Value as Json;

const CONTEXT: &str = "team";

/// An existing three-node cluster reached through the context `team`, and
/// a config that deploys to it (namespace `ci`).
fn existing(controller: ControllerMode) -> Env {
    let env = Env::new();
    env.fake.world(|w| {
        w.create_existing(CONTEXT, &["worker-1", "worker-2", "worker-3"])
            .name
            .clone()
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

/// A privileged Docker runner with two instances and two caches (claims).
fn docker_runner(env: &Env) {
    let mut r = request("docker");
    r.mode = Mode::CachedPrivilegedKubernetes;
    r.instances = 2;
    r.caches = vec!["/var/lib/docker".into(), "/root/.cache".into()];
    env.add(&r);
}

fn up(env: &Env) -> UpReport {
    env.up(&UpOptions::default()).expect("up")
}

fn up_err(env: &Env) -> anyhow::Error {
    env.up(&UpOptions::default()).unwrap_err()
}

/// Calls besides the tool version checks (cached between runs outside tests).
fn work(env: &Env) -> Vec<Call> {
    env.fake
        .calls()
        .into_iter()
        .filter(|c| c.verb() != "version")
        .collect()
}

fn claims(env: &Env) -> Vec<String> {
    env.fake.world(|w| {
        w.cluster(CONTEXT)
            .unwrap()
            .objects
            .keys()
            .filter(|k| k.kind == "PersistentVolumeClaim")
            .map(|k| k.name.clone())
            .collect()
    })
}

/// On an existing cluster deskrun never runs kind or docker (also used by
/// the doctor tests).
pub fn assert_no_kind_or_docker(env: &Env) {
    for c in env.fake.calls() {
        assert!(
            c.program != "kind" && c.program != "docker",
            "deskrun ran {} on an existing cluster",
            c.line()
        );
    }
}

#[test]
fn up_deploys_claims_first_and_a_second_up_is_three_reads_and_no_kind() {
    let env = existing(ControllerMode::Managed);
    docker_runner(&env);
    let r = up(&env);
    assert!(r.applied, "{}", r.summary());
    assert!(
        r.summary().contains("existing cluster, context team"),
        "{}",
        r.summary()
    );
    assert_no_kind_or_docker(&env);
    let f = &env.fake;
    assert_eq!(f.count("helm upgrade --install arc "), 1);
    // Every helm and kubectl call names the context.
    for c in work(&env) {
        let flag = if c.program == "helm" {
            "--kube-context team"
        } else {
            "--context team"
        };
        assert!(c.line().contains(flag), "{}", c.line());
    }
    // Each instance's claims exist, labelled, and were applied before its
    // scale set.
    assert_eq!(
        claims(&env),
        [
            "docker-1-cache-0",
            "docker-1-cache-1",
            "docker-2-cache-0",
            "docker-2-cache-1"
        ]
    );
    let lines = f.lines();
    for instance in ["docker-1", "docker-2"] {
        let claim = lines
            .iter()
            .position(|l| {
                l.starts_with("kubectl --context team apply")
                    && f.calls().iter().any(|c| {
                        c.line() == **l
                            && c.stdin.as_deref().is_some_and(|s| {
                                s.contains(&format!("{instance}-cache-0"))
                                    && s.contains("PersistentVolumeClaim")
                            })
                    })
            })
            .unwrap_or_else(|| panic!("no claim apply for {instance}: {lines:#?}"));
        let helm = lines
            .iter()
            .position(|l| l.starts_with(&format!("helm upgrade --install {instance} ")))
            .unwrap();
        assert!(
            claim < helm,
            "{instance}: claims after the scale set: {lines:#?}"
        );
    }
    let pvc = env.fake.world(|w| {
        w.cluster(CONTEXT)
            .unwrap()
            .get("PersistentVolumeClaim", "ci", "docker-2-cache-1")
            .cloned()
            .unwrap()
    });
    assert_eq!(
        pvc["metadata"]["labels"]["deskrun.dev/instance"],
        "docker-2"
    );
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "20Gi");

    // Nothing to do: the same three reads as on kind, none of them kind's.
    f.clear_calls();
    let r = up(&env);
    assert!(!r.applied, "{}", r.summary());
    assert!(f.mutating().is_empty(), "{:?}", f.mutating());
    let reads = work(&env);
    assert_eq!(reads.len(), 3, "{:#?}", f.lines());
    assert!(
        reads[0]
            .line()
            .contains("get deployments.apps --all-namespaces"),
        "{}",
        reads[0].line()
    );
    assert_no_kind_or_docker(&env);

    // status agrees, and shows the target.
    let st = env.status(None).unwrap();
    assert_eq!(st.cluster.provider, "existing");
    assert_eq!(st.cluster.context, CONTEXT);
    assert!(st.installations[0].instances.iter().all(|i| i.up_to_date));
    assert!(ops::status::table(&st).contains("existing  answers  (context team, namespace ci)"));
    assert_no_kind_or_docker(&env);
}

#[test]
fn a_deleted_claim_is_created_again() {
    let env = existing(ControllerMode::Managed);
    docker_runner(&env);
    up(&env);
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .remove(&deskrun::testing::ObjKey::new(
                "PersistentVolumeClaim",
                "ci",
                "docker-1-cache-1",
            ))
    });
    assert!(!env.status(None).unwrap().installations[0].instances[0].up_to_date);
    env.fake.clear_calls();
    let r = up(&env);
    let p = r
        .plan
        .instances
        .iter()
        .find(|i| i.instance == "docker-1")
        .unwrap();
    assert_eq!(p.action, Action::Upgrade);
    assert_eq!(p.create_claims, ["docker-1-cache-1"]);
    assert!(claims(&env).contains(&"docker-1-cache-1".to_string()));
    // The other instance is untouched.
    assert_eq!(env.fake.count("helm upgrade --install docker-2 "), 0);
}

#[test]
fn a_context_that_does_not_answer_is_named() {
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake
        .world(|w| w.cluster_mut(CONTEXT).unwrap().unreachable = true);
    let e = format!("{:#}", up_err(&env));
    assert!(
        e.contains("context team does not answer") && e.contains("i/o timeout"),
        "{e}"
    );
    assert!(env.fake.mutating().is_empty());
    assert_no_kind_or_docker(&env);
}

#[test]
fn managed_stops_on_a_controller_deskrun_did_not_install() {
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .preinstall_controller("arc-system", "team-arc", "0.14.2")
    });
    let e = up_err(&env);
    assert_eq!(exit_code(&e), 2);
    let m = format!("{e:#}");
    assert!(
        m.contains("arc-system/team-arc-gha-rs-controller")
            && m.contains("cluster.controller: external"),
        "{m}"
    );
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
}

#[test]
fn external_uses_the_clusters_controller_of_the_right_version() {
    let env = existing(ControllerMode::External);
    env.add(&request("a"));
    // No controller at all: the CRDs are missing.
    let m = format!("{:#}", up_err(&env));
    assert!(
        m.contains("lacks the ARC CRDs") && m.contains("cluster.controller: managed"),
        "{m}"
    );
    assert!(env.fake.mutating().is_empty());

    // A controller of another version.
    env.fake.world(|w| {
        w.cluster_mut(CONTEXT)
            .unwrap()
            .preinstall_controller("arc-system", "team-arc", "0.13.0")
    });
    let m = format!("{:#}", up_err(&env));
    assert!(
        m.contains("0.13.0") && m.contains("0.14.2") && m.contains("--chart-version"),
        "{m}"
    );
    assert!(env.fake.mutating().is_empty());
    // `up --chart-version` matching the controller goes through.
    let r = env
        .up(&UpOptions {
            charts: ops::up::ChartOverrides {
                version: Some("0.13.0".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    assert!(r.applied);
    let found = r.external.expect("what was found").summary();
    assert!(
        found.contains("team-arc") && found.contains("0.13.0"),
        "{found}"
    );
    // deskrun installed no controller of its own.
    assert_eq!(env.fake.count("helm upgrade --install arc "), 0);
    assert_eq!(env.fake.count("helm upgrade --install a "), 1);
    let st = env.status(None).unwrap();
    let c = st.controller.unwrap();
    assert_eq!(
        (c.status.as_str(), c.release.as_str()),
        ("external", "team-arc")
    );
}

#[test]
fn kind_only_commands_are_refused_with_the_reason() {
    let env = existing(ControllerMode::External);
    for (what, r) in [
        ("create", env.with(ops::cluster::cluster_create).map(drop)),
        (
            "delete",
            env.with(|s| ops::cluster::cluster_delete(s, false))
                .map(drop),
        ),
    ] {
        let e = r.unwrap_err();
        assert_eq!(exit_code(&e), 2, "{e}");
        assert!(
            e.to_string().contains("never") && e.to_string().contains("existing cluster"),
            "{what}: {e}"
        );
    }
    let down = |controller: bool, delete_cluster: bool| {
        env.down(&DownOptions {
            controller,
            delete_cluster,
            purge_caches: false,
            parallel: 5,
        })
        .unwrap_err()
    };
    let e = down(false, true);
    assert_eq!(exit_code(&e), 2);
    assert!(
        e.to_string().contains("never deletes an existing cluster"),
        "{e}"
    );
    let e = down(true, false);
    assert_eq!(exit_code(&e), 2);
    assert!(
        e.to_string().contains("cluster.controller is external"),
        "{e}"
    );
    // Nothing ran at all, not even a read.
    assert!(env.fake.calls().is_empty(), "{:?}", env.fake.lines());

    // And on kind, --purge-caches has no claims to delete.
    let kind = Env::new();
    let e = kind
        .down(&DownOptions {
            purge_caches: true,
            parallel: 5,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(exit_code(&e), 2);
    assert!(e.to_string().contains("never deletes"), "{e}");
}

#[test]
fn down_keeps_claims_and_purge_caches_deletes_them() {
    let env = existing(ControllerMode::Managed);
    docker_runner(&env);
    up(&env);
    let report = env
        .down(&DownOptions {
            parallel: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.uninstalled, ["docker-1", "docker-2"]);
    assert_eq!(report.kept_claims.len(), 4, "{report:?}");
    assert_eq!(claims(&env).len(), 4);
    assert_no_kind_or_docker(&env);

    // Up again re-uses them (no claim is created), then down --purge-caches.
    env.fake.clear_calls();
    let r = up(&env);
    assert!(r.plan.instances.iter().all(|i| i.create_claims.is_empty()));
    let report = env
        .down(&DownOptions {
            purge_caches: true,
            controller: true,
            parallel: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.purged_claims.len(), 4, "{report:?}");
    assert!(claims(&env).is_empty());
    assert!(env.fake.count("delete persistentvolumeclaims --namespace ci --selector deskrun.dev/managed=true --wait=false") == 1);
    assert_no_kind_or_docker(&env);
}

#[test]
fn remove_purge_caches_deletes_only_that_installations_claims() {
    let env = existing(ControllerMode::Managed);
    docker_runner(&env);
    let mut other = request("npm");
    other.caches = vec!["/root/.npm".into()];
    env.add(&other);
    up(&env);
    let config = env.store.load().unwrap();
    let out = ops::remove::remove(&env.store, "docker").unwrap();
    assert_eq!(out.claims.len(), 4, "{out:?}");
    assert!(
        out.cache_dirs.is_empty(),
        "no host directories on an existing cluster"
    );
    let deleted = env
        .with(|s| ops::remove::purge_claims(s, &config, "docker"))
        .unwrap();
    assert_eq!(deleted.len(), 4);
    assert_eq!(claims(&env), ["npm-cache-0"]);
    // On kind the flag is refused before the config changes.
    let kind = deskrun::model::Config::default();
    assert_eq!(exit_code(&ops::remove::check_purge(&kind).unwrap_err()), 2);
}

#[test]
fn missing_permissions_are_listed_before_any_change() {
    let env = existing(ControllerMode::Managed);
    docker_runner(&env);
    env.fake.world(|w| {
        let c = w.cluster_mut(CONTEXT).unwrap();
        c.denied.insert("create persistentvolumeclaims".into());
        c.denied.insert(
            "create customresourcedefinitions.apiextensions.k8s.io --all-namespaces".into(),
        );
    });
    for dry_run in [true, false] {
        let e = env
            .up(&UpOptions {
                dry_run,
                ..Default::default()
            })
            .unwrap_err();
        let m = format!("{e:#}");
        assert!(
            m.contains("- create persistentvolumeclaims in namespace ci (cache claims)")
                && m.contains(
                    "- create customresourcedefinitions.apiextensions.k8s.io cluster-wide"
                )
                && m.contains("cluster.controller: external"),
            "{m}"
        );
        assert!(
            !m.contains("- create configmaps"),
            "only what is missing: {m}"
        );
        assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
    }
    let asked = env
        .fake
        .count("kubectl --context team auth can-i create secrets --namespace ci");
    assert_eq!(asked, 2, "{:#?}", env.fake.lines());
}

#[test]
fn cluster_use_checks_the_kubeconfig_and_switches_back_and_forth() {
    let env = Env::new();
    env.fake.world(|w| {
        w.create_existing(CONTEXT, &["worker-1"]);
    });
    let e = env
        .with(|s| ops::cluster::use_context(s, "nope"))
        .unwrap_err();
    assert_eq!(exit_code(&e), 2);
    assert!(
        e.to_string().contains("no context \"nope\"") && e.to_string().contains("team"),
        "{e}"
    );
    assert!(env.store.load().unwrap().cluster.is_kind());

    let out = env.with(|s| ops::cluster::use_context(s, CONTEXT)).unwrap();
    assert!(!out.unchanged);
    assert!(
        out.target.contains("existing cluster, context team"),
        "{}",
        out.target
    );
    let c = env.store.load().unwrap().cluster;
    assert_eq!(
        (c.provider, c.context()),
        (Provider::Existing, CONTEXT.to_string())
    );
    assert_eq!(
        env.fake.count("kubectl config get-contexts --output name"),
        2
    );

    let out = env.with(ops::cluster::use_kind).unwrap();
    assert!(
        out.target.contains("kind cluster deskrun"),
        "{}",
        out.target
    );
    assert!(env.store.load().unwrap().cluster.is_kind());

    // A host-directory cache without `node:` cannot move to the cluster; the
    // config is left as it was.
    let mut r = request("npm");
    r.caches = vec!["/srv/npm:/root/.npm".into()];
    env.add(&r);
    let before = std::fs::read(env.store.path()).unwrap();
    let e = env
        .with(|s| ops::cluster::use_context(s, CONTEXT))
        .unwrap_err();
    assert_eq!(exit_code(&e), 2);
    assert!(e.to_string().contains("node: NODE"), "{e}");
    assert_eq!(std::fs::read(env.store.path()).unwrap(), before);
}

#[test]
fn a_pinned_installation_needs_a_node_the_cluster_has() {
    let env = existing(ControllerMode::Managed);
    let mut pinned = request("pinned");
    pinned.node = Some("worker-2".into());
    pinned.caches = vec!["/srv/npm:/root/.npm".into()];
    env.add(&pinned);
    let mut lost = request("lost");
    lost.node = Some("worker-9".into());
    env.add(&lost);
    env.add(&request("free"));
    let m = format!("{:#}", up_err(&env));
    assert!(
        m.contains("scale set lost")
            && m.contains("\"worker-9\"")
            && m.contains("worker-1, worker-2, worker-3"),
        "{m}"
    );
    assert_eq!(env.fake.count("helm upgrade --install lost "), 0);
    assert_eq!(env.fake.count("helm upgrade --install pinned "), 1);
    assert_eq!(env.fake.count("helm upgrade --install free "), 1);
    // The pinned one's job pods are pinned too, and its cache is a directory
    // of that node, not a claim.
    let values = env.fake.world(|w| {
        w.cluster(CONTEXT)
            .unwrap()
            .release("ci", "pinned")
            .unwrap()
            .values
            .clone()
    });
    assert_eq!(
        values["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
        Json::from("worker-2")
    );
    assert!(claims(&env).is_empty());
    // `cluster status` lists the nodes to choose from.
    let r = env.with(ops::cluster::cluster_status).unwrap();
    assert_eq!(r.nodes, ["worker-1", "worker-2", "worker-3"]);
    assert_eq!(r.provider, "existing");
    assert_no_kind_or_docker(&env);
}

#[test]
fn logs_and_jobs_on_an_unreachable_existing_cluster_never_run_kind() {
    let env = existing(ControllerMode::Managed);
    env.add(&request("a"));
    env.fake
        .world(|w| w.cluster_mut(CONTEXT).unwrap().unreachable = true);
    let sink: deskrun::exec::Sink = std::sync::Arc::new(|_: &str| {});
    let req = ops::logs::LogsRequest {
        name: Some("a".into()),
        ..Default::default()
    };
    let e = env
        .with(|s| ops::logs::logs(s, &req, sink, &|_| {}))
        .unwrap_err();
    assert!(format!("{e:#}").contains("i/o timeout"), "{e:#}");
    let e = env.with(|s| ops::jobs::jobs(s, None)).unwrap_err();
    assert!(format!("{e:#}").contains("i/o timeout"), "{e:#}");
    assert_no_kind_or_docker(&env);
}
