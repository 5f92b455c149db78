//! The proxy credential Secrets through `up` and `down` (issue 16): `up`
//! applies them, deletes the ones the config no longer has once no scale set
//! names them, and `down` deletes them, on the in-process fake.

use deskrun::model::ProxySettings;
use deskrun::ops;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::{UpOptions, UpReport};
use deskrun::testing::{Env, Fault, request};

const WITH_CREDENTIALS: &str = "http://me:s3cret-pw@proxy.example.com:3128";
const WITHOUT: &str = "http://proxy.example.com:3128";

fn set_proxy(env: &Env, http: Option<&str>, https: Option<&str>) {
    let settings = (http.is_some() || https.is_some()).then(|| ProxySettings {
        http: http.map(String::from),
        https: https.map(String::from),
        no_proxy: vec![],
    });
    ops::proxy::set_proxy(&env.store, settings).expect("set proxy");
}

fn up(env: &Env) -> UpReport {
    env.up(&UpOptions::default()).expect("up")
}

fn secrets(env: &Env) -> Vec<String> {
    env.fake.world(|w| {
        w.cluster_mut("deskrun")
            .map(|c| {
                c.objects
                    .keys()
                    .filter(|k| k.kind == "Secret")
                    .map(|k| k.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn two(env: &Env) {
    env.add(&request("a"));
    env.add(&request("b"));
}

#[test]
fn down_deletes_the_proxy_secrets() {
    let env = Env::new();
    two(&env);
    set_proxy(&env, Some(WITH_CREDENTIALS), Some(WITH_CREDENTIALS));
    up(&env);
    assert_eq!(secrets(&env), ["deskrun-proxy-http", "deskrun-proxy-https"]);
    env.down(&DownOptions {
        parallel: 2,
        ..Default::default()
    })
    .unwrap();
    assert!(secrets(&env).is_empty(), "{:?}", secrets(&env));
    // Also when the proxy left the config before `down`.
    up(&env);
    set_proxy(&env, None, None);
    env.down(&DownOptions::default()).unwrap();
    assert!(secrets(&env).is_empty(), "{:?}", secrets(&env));
}

#[test]
fn credentials_removed_from_a_url_delete_its_secret_once_nothing_names_it() {
    let env = Env::new();
    two(&env);
    set_proxy(&env, Some(WITHOUT), Some(WITH_CREDENTIALS));
    up(&env);
    assert_eq!(secrets(&env), ["deskrun-proxy-https"]);

    set_proxy(&env, Some(WITHOUT), Some(WITHOUT));
    let dry = env
        .up(&UpOptions {
            dry_run: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(dry.plan.stale_secrets, ["deskrun-proxy-https"]);
    let text = deskrun::plan::columns(&dry.plan.lines());
    assert!(
        text.contains("remove     secret/deskrun-proxy-https"),
        "{text}"
    );

    env.fake.clear_calls();
    let r = up(&env);
    assert_eq!(r.plan.instances.len(), 2);
    assert!(secrets(&env).is_empty(), "{:?}", secrets(&env));
    // After the upgrades: the Secret goes last.
    let lines = env.fake.lines();
    let delete = lines
        .iter()
        .position(|l| l.contains("delete secret deskrun-proxy-https"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let last_helm = lines
        .iter()
        .rposition(|l| l.contains("helm upgrade --install"))
        .unwrap();
    assert!(delete > last_helm, "{lines:#?}");

    // Nothing names it any more: the next `up` is a no-op.
    env.fake.clear_calls();
    assert!(!up(&env).applied);
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
}

#[test]
fn a_proxy_removed_from_the_config_takes_its_secrets_along() {
    let env = Env::new();
    two(&env);
    set_proxy(&env, Some(WITH_CREDENTIALS), Some(WITH_CREDENTIALS));
    up(&env);
    set_proxy(&env, None, None);
    up(&env);
    assert!(secrets(&env).is_empty(), "{:?}", secrets(&env));
    env.fake.clear_calls();
    assert!(!up(&env).applied);
}

#[test]
fn a_secret_still_named_by_a_scale_set_is_kept() {
    let env = Env::new();
    two(&env);
    set_proxy(&env, None, Some(WITH_CREDENTIALS));
    up(&env);
    set_proxy(&env, None, Some(WITHOUT));
    // b's upgrade fails: b still names the Secret, so it stays.
    env.fake
        .inject(Fault::on("helm", "upgrade --install b ").fail(1, "Error: boom"));
    assert!(env.up(&UpOptions::default()).is_err());
    assert_eq!(secrets(&env), ["deskrun-proxy-https"]);
    // A partial `up` never deletes one either.
    let partial = env
        .up(&UpOptions {
            names: vec!["a".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(partial.plan.stale_secrets.is_empty());
    // The next full `up` finishes the job.
    up(&env);
    assert!(secrets(&env).is_empty(), "{:?}", secrets(&env));
}
