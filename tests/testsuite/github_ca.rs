//! `--github-ca-file` through `up`, `status`, `remove` and `down` on the
//! in-process fake: the CA ConfigMap is applied before the scale set that
//! names it, a no-op `up` stays a no-op, a new CA upgrades, and the
//! ConfigMap goes with its installation (issue 16).

use deskrun::model::Mode;
use deskrun::ops;
use deskrun::ops::add::AddRequest;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::{UpOptions, UpReport};
use deskrun::plan::Action;
use deskrun::testing::{Env, request};
use serde_json::Value as Json;

const CA1: &str = include_str!("../fixtures/github-ca-1.pem");
const CA2: &str = include_str!("../fixtures/github-ca-2.pem");

fn ghes(name: &str, mode: Mode, ca: Option<&str>) -> AddRequest {
    let mut r = request(name);
    r.repository = "https://ghes.example.com/owner/repo".into();
    r.mode = mode;
    r.github_ca = ca.map(String::from);
    r
}

fn up(env: &Env) -> UpReport {
    env.up(&UpOptions::default()).expect("up")
}

fn configmap(env: &Env, name: &str) -> Option<Json> {
    env.fake.world(|w| {
        w.cluster_mut("deskrun")
            .and_then(|c| c.get("ConfigMap", "arc-systems", name).cloned())
    })
}

fn ca_of(env: &Env, name: &str) -> Option<String> {
    configmap(env, name).and_then(|cm| {
        cm.pointer("/data/ca.crt")
            .and_then(Json::as_str)
            .map(String::from)
    })
}

fn all_up_to_date(env: &Env) -> bool {
    env.status(None)
        .unwrap()
        .installations
        .iter()
        .flat_map(|i| &i.instances)
        .all(|i| i.up_to_date)
}

#[test]
fn the_ca_configmap_is_applied_before_the_scale_set_and_a_second_up_is_a_noop() {
    let env = Env::new();
    env.add(&ghes("k", Mode::Kubernetes, Some(CA1)));
    env.add(&ghes("d", Mode::Dind, Some(CA1)));
    let r = up(&env);
    assert!(r.applied);
    assert_eq!(ca_of(&env, "github-ca-k").as_deref(), Some(CA1));
    assert_eq!(ca_of(&env, "github-ca-d").as_deref(), Some(CA1));
    // The ConfigMap reaches the cluster before the release that names it.
    let lines = env.fake.lines();
    for inst in ["k", "d"] {
        let applied = lines
            .iter()
            .position(|l| {
                l.contains(" apply ") && env_applied(&env, l, &format!("github-ca-{inst}"))
            })
            .unwrap_or_else(|| panic!("no apply of github-ca-{inst}: {lines:#?}"));
        let helm = lines
            .iter()
            .position(|l| l.contains(&format!("helm upgrade --install {inst} ")))
            .unwrap();
        assert!(applied < helm, "{lines:#?}");
    }
    assert!(all_up_to_date(&env));

    env.fake.clear_calls();
    let r = up(&env);
    assert!(!r.applied, "{}", r.summary());
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
}

/// Whether the call on `line` applied the object `name` (its stdin holds it).
fn env_applied(env: &Env, line: &str, name: &str) -> bool {
    env.fake.calls().iter().any(|c| {
        c.line() == line
            && c.stdin
                .as_deref()
                .is_some_and(|s| s.contains(&format!("\"{name}\"")))
    })
}

#[test]
fn a_new_ca_upgrades_and_status_agrees() {
    let env = Env::new();
    env.add(&ghes("k", Mode::CachedPrivilegedKubernetes, Some(CA1)));
    up(&env);
    let mut replace = ghes("k", Mode::CachedPrivilegedKubernetes, Some(CA2));
    replace.replace = true;
    env.add(&replace);
    // status and the plan give the same verdict before anything changes.
    assert!(!all_up_to_date(&env));
    env.fake.clear_calls();
    let r = up(&env);
    assert_eq!(
        r.plan.instances[0].action,
        Action::Upgrade,
        "{}",
        r.plan.instances[0].reason
    );
    assert_eq!(ca_of(&env, "github-ca-k").as_deref(), Some(CA2));
    assert_eq!(env.fake.count("helm upgrade --install k "), 1);
    assert!(all_up_to_date(&env));

    // --replace without --github-ca-file keeps the CA: nothing to do.
    let mut keep = ghes("k", Mode::CachedPrivilegedKubernetes, None);
    keep.replace = true;
    env.add(&keep);
    env.fake.clear_calls();
    assert!(!up(&env).applied);
    assert!(env.fake.mutating().is_empty());
}

#[test]
fn a_ca_deleted_in_the_cluster_is_put_back() {
    let env = Env::new();
    env.add(&ghes("k", Mode::Kubernetes, Some(CA1)));
    up(&env);
    env.fake.world(|w| {
        let c = w.cluster_mut("deskrun").unwrap();
        let key = c
            .objects
            .keys()
            .find(|k| k.kind == "ConfigMap" && k.name == "github-ca-k")
            .cloned()
            .unwrap();
        c.remove(&key);
    });
    assert!(!all_up_to_date(&env));
    let r = up(&env);
    assert_eq!(r.plan.instances[0].action, Action::Upgrade);
    // Only the missing one is named.
    assert_eq!(
        r.plan.instances[0].reason,
        "ConfigMap missing or changed (github-ca-k)"
    );
    assert_eq!(ca_of(&env, "github-ca-k").as_deref(), Some(CA1));
    assert!(all_up_to_date(&env));
}

#[test]
fn dropping_the_ca_deletes_its_configmap() {
    let env = Env::new();
    env.add(&ghes("k", Mode::Kubernetes, Some(CA1)));
    up(&env);
    let mut drop = ghes("k", Mode::Kubernetes, None);
    drop.replace = true;
    drop.no_github_ca = true;
    env.add(&drop);
    let r = up(&env);
    assert_eq!(r.plan.instances[0].action, Action::Upgrade);
    // Without the CA the kubernetes mode needs no hook extension either.
    assert_eq!(r.plan.stale_configmaps, ["github-ca-k", "hook-extension-k"]);
    assert!(configmap(&env, "github-ca-k").is_none());
    env.fake.clear_calls();
    assert!(!up(&env).applied);
    assert!(env.fake.mutating().is_empty());
}

#[test]
fn the_ca_goes_with_its_installation_on_remove_and_down() {
    let env = Env::new();
    let mut three = ghes("ci", Mode::Kubernetes, Some(CA1));
    three.instances = 3;
    env.add(&three);
    env.add(&ghes("other", Mode::Dind, Some(CA2)));
    up(&env);
    for i in 1..=3 {
        assert!(configmap(&env, &format!("github-ca-ci-{i}")).is_some());
    }
    ops::remove::remove(&env.store, "ci").unwrap();
    up(&env);
    for i in 1..=3 {
        assert!(configmap(&env, &format!("github-ca-ci-{i}")).is_none());
    }
    assert!(configmap(&env, "github-ca-other").is_some());

    env.down(&DownOptions {
        parallel: 2,
        ..Default::default()
    })
    .unwrap();
    assert!(configmap(&env, "github-ca-other").is_none());
    // Up again: the ConfigMap comes back from the config alone.
    up(&env);
    assert_eq!(ca_of(&env, "github-ca-other").as_deref(), Some(CA2));
}
