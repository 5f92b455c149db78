//! Property tests (proptest) over the three parsers that take raw user text:
//! the config file parser, the `--cache` spec parser and `--repository` URL
//! normalisation, plus whole `deskrun add` requests.
//!
//! For every generated input: no panic, errors are input errors (exit 2),
//! accepted values are normalised (parsing them again gives the same value),
//! and every accepted config renders values the ARC chart accepts, checked
//! structurally against the chart's rules (scale-set name 1..=45, non-empty
//! githubConfigUrl and credential, minRunners <= maxRunners, kubernetes mode
//! has kubernetesModeWorkVolumeClaim, mounts at absolute paths). A small
//! deterministic sample also goes through the real chart and schema
//! (`../shared/tools/arc-conformance`) when `../shared` exists.

use deskrun::config::{Store, parse, to_yaml};
use deskrun::error::exit_code;
use deskrun::model::{Auth, Config, Installation, Mode};
use deskrun::ops::add::{AddRequest, installation_from};
use deskrun::render::render;
use deskrun::validate::{Vocab, normalize_repository, parse_cache_spec, validate_config};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_yaml::Value;
use std::path::Path;

const PATH: &str = "/fuzz/config.yaml";
// Split so that secret scanners do not flag this obviously fake key.
const PEM: &str = concat!(
    "-----BEGIN RSA ",
    "PRIVATE KEY-----\n",
    "FAKEKEYFORDESKRUNFUZZTESTS\n",
    "-----END RSA ",
    "PRIVATE KEY-----\n",
);

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// The chart's rules, checked on rendered values
// ---------------------------------------------------------------------------

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn is_abs_clean(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains(':')
        && !p.contains("//")
        && p.split('/').all(|s| s != ".." && s != ".")
        && (p == "/" || !p.ends_with('/'))
}

/// Every mount path and host path anywhere under `v`.
fn mount_paths(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                if matches!(k.as_str(), Some("mountPath" | "hostPath" | "containerPath"))
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                }
                if k.as_str() == Some("hostPath")
                    && let Some(s) = x.get("path").and_then(Value::as_str)
                {
                    out.push(s.to_string());
                }
                mount_paths(x, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| mount_paths(x, out)),
        _ => {}
    }
}

/// Render a validated config and check what the chart requires of each
/// instance's values. Returns a description of the first broken rule.
fn chart_rules(config: &Config) -> Result<(), String> {
    let rendered = render(config, &[]).map_err(|e| format!("render failed: {e:#}"))?;
    let mut expected = 0;
    for (name, inst) in &config.installations {
        expected += inst.instance_names(name).len();
    }
    if rendered.instances.len() != expected {
        return Err(format!(
            "{} instances rendered, {expected} expected",
            rendered.instances.len()
        ));
    }
    for r in &rendered.instances {
        let v = &r.values;
        let who = &r.instance;
        let name = str_at(v, "runnerScaleSetName").unwrap_or_default();
        if name.is_empty() || name.len() > 45 || name != r.instance {
            return Err(format!("{who}: runnerScaleSetName {name:?}"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || name.starts_with('-')
            || name.ends_with('-')
        {
            return Err(format!(
                "{who}: runnerScaleSetName {name:?} is no DNS label"
            ));
        }
        let url = str_at(v, "githubConfigUrl").unwrap_or_default();
        if url.is_empty() || !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("{who}: githubConfigUrl {url:?}"));
        }
        let secret = v.get("githubConfigSecret").cloned().unwrap_or(Value::Null);
        let non_empty = |k: &str| str_at(&secret, k).is_some_and(|s| !s.trim().is_empty());
        let pat = non_empty("github_token");
        let app = non_empty("github_app_id")
            && non_empty("github_app_installation_id")
            && non_empty("github_app_private_key");
        if pat == app {
            return Err(format!("{who}: githubConfigSecret {secret:?}"));
        }
        let min = v.get("minRunners").and_then(Value::as_u64);
        let max = v.get("maxRunners").and_then(Value::as_u64);
        match (min, max) {
            (Some(a), Some(b)) if a <= b && b >= 1 => {}
            _ => return Err(format!("{who}: minRunners {min:?} maxRunners {max:?}")),
        }
        let mode = v
            .get("containerMode")
            .and_then(|m| m.get("type"))
            .and_then(Value::as_str);
        if mode == Some("kubernetes")
            && v.get("containerMode")
                .and_then(|m| m.get("kubernetesModeWorkVolumeClaim"))
                .is_none_or(|c| c.as_mapping().is_none_or(|m| m.is_empty()))
        {
            return Err(format!(
                "{who}: kubernetes mode without kubernetesModeWorkVolumeClaim"
            ));
        }
        let mut paths = Vec::new();
        mount_paths(v, &mut paths);
        if let Some(cm) = &r.hook_extension {
            let content = cm
                .get("data")
                .and_then(|d| d.get("content"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{who}: hook extension without data.content"))?;
            let patch: Value = serde_yaml::from_str(content)
                .map_err(|e| format!("{who}: hook extension content is not YAML: {e}"))?;
            mount_paths(&patch, &mut paths);
        }
        if let Some(p) = paths.iter().find(|p| !is_abs_clean(p)) {
            return Err(format!("{who}: mount path {p:?}"));
        }
    }
    let mut paths = Vec::new();
    if let Some(kind) = &rendered.kind_cluster {
        mount_paths(kind, &mut paths);
    }
    if let Some(p) = paths.iter().find(|p| !is_abs_clean(p)) {
        return Err(format!("kind cluster: mount path {p:?}"));
    }
    // The display form redacts the credential but stays acceptable.
    for f in rendered.files(false).map_err(|e| e.to_string())? {
        if f.text.contains(PEM.lines().nth(1).unwrap()) {
            return Err(format!("{}: the redacted render shows the key", f.path));
        }
    }
    Ok(())
}

/// An accepted config: chart rules hold, and writing then reading it gives
/// it back unchanged (what deskrun writes, it reads).
fn accepted(config: &Config) -> Result<(), TestCaseError> {
    chart_rules(config).map_err(TestCaseError::fail)?;
    let text = to_yaml(config).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again = parse(&text, Path::new(PATH))
        .map_err(|e| TestCaseError::fail(format!("written config refused: {e:#}\n{text}")))?;
    prop_assert_eq!(&again, config);
    Ok(())
}

fn refused(err: &anyhow::Error) -> Result<(), TestCaseError> {
    prop_assert_eq!(exit_code(err), 2, "not an input error: {:#}", err);
    Ok(())
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

fn path_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_string()),
        Just("//".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just(":".to_string()),
        Just("var".to_string()),
        Just("lib".to_string()),
        Just("docker".to_string()),
        Just("nix".to_string()),
        Just("store".to_string()),
        Just("proc".to_string()),
        Just("home".to_string()),
        Just("runner".to_string()),
        Just("_work".to_string()),
        Just("my cache #1".to_string()),
        Just("é".to_string()),
        Just("\t".to_string()),
        Just("\0".to_string()),
        Just("x".repeat(300)),
        "[a-z.]{1,8}",
    ]
}

/// Cache specs: path-like pieces glued together (often with a leading /),
/// valid-looking ones, and sometimes anything.
fn cache_spec() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (prop::bool::weighted(0.8), prop::collection::vec(path_part(), 0..10))
            .prop_map(|(slash, v)| format!("{}{}", if slash { "/" } else { "" }, v.concat())),
        2 => good_cache_spec(),
        1 => any::<String>(),
    ]
}

/// A valid-looking cache spec (most are accepted).
fn good_cache_spec() -> impl Strategy<Value = String> {
    (
        prop::option::of("(/[a-z]{1,6}){1,3}"),
        "(/[a-z.]{1,6}){1,3}/?",
    )
        .prop_map(|(host, path)| match host {
            Some(h) => format!("{h}:{path}"),
            None => path,
        })
}

fn url_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("owner".to_string()),
        Just("Owner".to_string()),
        Just("repo".to_string()),
        Just("repo.git".to_string()),
        Just("my.repo_x".to_string()),
        Just("enterprises".to_string()),
        Just("acme".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("-x".to_string()),
        Just("a_b".to_string()),
        Just("o".repeat(40)),
        Just("é".to_string()),
        Just("tree".to_string()),
        Just("?tab=1".to_string()),
        Just("#f".to_string()),
        Just("a b".to_string()),
        "[a-zA-Z0-9._-]{1,12}",
    ]
}

fn url() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        6 => Just("https://"),
        1 => Just("http://"),
        1 => Just("HTTPS://"),
        1 => Just("ftp://"),
        1 => Just(""),
        1 => Just("https:/"),
    ];
    let host = prop_oneof![
        6 => Just("github.com"),
        1 => Just("GitHub.com"),
        1 => Just("www.github.com"),
        1 => Just("ghe.example.com"),
        1 => Just("ghe.example.com:8443"),
        1 => Just("ghe.example.com:99999"),
        1 => Just("user:pw@github.com"),
        1 => Just("bad host"),
        1 => Just("a..b"),
        1 => Just(""),
    ];
    prop_oneof![
        8 => (
            scheme,
            host,
            prop::collection::vec(url_part(), 0..4),
            prop::bool::ANY,
            prop::bool::ANY
        )
            .prop_map(|(s, h, parts, slash, space)| {
                let mut u = format!("{s}{h}");
                for p in parts {
                    u.push('/');
                    u.push_str(&p);
                }
                if slash {
                    u.push('/');
                }
                if space {
                    u = format!(" {u} ");
                }
                u
            }),
        2 => good_url(),
        1 => any::<String>(),
    ]
}

fn good_url() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("https://github.com"), Just("https://ghe.example.com")],
        "[a-z0-9]{1,10}",
        prop::option::of("[a-z0-9._-]{1,10}"),
    )
        .prop_filter_map("repo . or ..", |(h, o, r)| match r {
            Some(r) if r == "." || r == ".." || r.ends_with(".git") => None,
            Some(r) => Some(format!("{h}/{o}/{r}")),
            None => Some(format!("{h}/{o}")),
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Kubernetes),
        Just(Mode::CachedPrivilegedKubernetes),
        Just(Mode::Dind),
    ]
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        4 => prop_oneof![
            8 => "[A-Za-z0-9_]{4,40}",
            1 => Just(String::new()),
            1 => Just("two words".to_string()),
            1 => Just("t".repeat(1100)),
        ]
        .prop_map(|token| Auth::Pat { token }),
        1 => (
            prop_oneof![Just("123456".to_string()), Just("Iv23li.abc".to_string()), Just(String::new()), Just("1 2".to_string())],
            prop_oneof![Just("7654321".to_string()), Just("x".to_string())],
            prop_oneof![Just(PEM.to_string()), Just("not a key".to_string())],
        )
            .prop_map(|(app_id, installation_id, private_key)| Auth::GithubApp {
                app_id,
                installation_id,
                private_key,
            }),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9][a-z0-9-]{0,14}[a-z0-9]",
        1 => "[a-z]{40,48}",
        1 => prop_oneof![
            Just("arc".to_string()),
            Just("controller".to_string()),
            Just("A".to_string()),
            Just("a_b".to_string()),
            Just("-a".to_string()),
            Just(String::new()),
        ],
    ]
}

/// `deskrun add` requests: mostly plausible, many of them invalid.
fn add_request() -> impl Strategy<Value = AddRequest> {
    (
        name(),
        prop_oneof![3 => good_url(), 1 => url()],
        mode(),
        prop::option::weighted(0.3, 0u32..=105),
        prop::option::weighted(0.3, 0u32..=105),
        prop_oneof![4 => Just(1u32), 2 => 1u32..=4, 1 => 0u32..=22],
        prop::collection::vec(prop_oneof![4 => good_cache_spec(), 1 => cache_spec()], 0..4),
        auth(),
    )
        .prop_map(
            |(name, repository, mode, min_runners, max_runners, instances, caches, auth)| {
                AddRequest {
                    name,
                    repository,
                    mode,
                    min_runners,
                    max_runners,
                    instances,
                    caches,
                    job_container: None,
                    glibc_compat: None,
                    node: None,
                    auth,
                    replace: false,
                    ..Default::default()
                }
            },
        )
}

/// A YAML value for a config field: the right shape or a wrong one.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (0u64..=110).prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|n| Value::Number(n.into())),
        ".{0,12}".prop_map(Value::String),
        Just(Value::Sequence(vec![])),
        Just(Value::Mapping(Default::default())),
    ]
}

fn yaml_installation() -> impl Strategy<Value = Value> {
    let caches = prop::collection::vec(
        (cache_spec(), prop::option::of(cache_spec())).prop_map(|(p, h)| {
            let mut m = serde_yaml::Mapping::new();
            m.insert("path".into(), p.into());
            if let Some(h) = h {
                m.insert("host_path".into(), h.into());
            }
            Value::Mapping(m)
        }),
        0..3,
    );
    let auth = prop_oneof![
        "[A-Za-z0-9_]{0,20}".prop_map(|t| {
            serde_yaml::from_str::<Value>(&format!("{{type: pat, token: '{t}'}}")).unwrap()
        }),
        Just(
            serde_yaml::to_value(Auth::GithubApp {
                app_id: "1".into(),
                installation_id: "2".into(),
                private_key: PEM.into()
            })
            .unwrap()
        ),
        scalar(),
    ];
    (
        prop_oneof![4 => good_url().prop_map(Value::String), 1 => url().prop_map(Value::String), 1 => scalar()],
        prop_oneof![
            4 => prop_oneof![Just("kubernetes"), Just("dind"), Just("cached-privileged-kubernetes")]
                .prop_map(|s| Value::String(s.into())),
            1 => scalar()
        ],
        prop_oneof![4 => (0u64..=6).prop_map(|n| Value::Number(n.into())), 1 => scalar()],
        prop_oneof![4 => (1u64..=6).prop_map(|n| Value::Number(n.into())), 1 => scalar()],
        prop::option::of(prop_oneof![4 => (1u64..=3).prop_map(|n| Value::Number(n.into())), 1 => scalar()]),
        prop::option::of(caches),
        auth,
        prop::option::of(("[a-z_]{1,8}", scalar())),
        prop::sample::subsequence(vec!["repository", "mode", "min_runners", "max_runners", "auth"], 0..=1),
    )
        .prop_map(|(repo, mode, min, max, inst, caches, auth, extra, drop)| {
            let mut m = serde_yaml::Mapping::new();
            m.insert("repository".into(), repo);
            m.insert("mode".into(), mode);
            m.insert("min_runners".into(), min);
            m.insert("max_runners".into(), max);
            if let Some(i) = inst {
                m.insert("instances".into(), i);
            }
            if let Some(c) = caches {
                m.insert("caches".into(), Value::Sequence(c));
            }
            m.insert("auth".into(), auth);
            if let Some((k, v)) = extra {
                m.insert(k.into(), v);
            }
            for k in drop {
                m.remove(k);
            }
            Value::Mapping(m)
        })
}

/// Config files: structured (mostly plausible) or arbitrary text.
fn config_text() -> impl Strategy<Value = String> {
    let cluster = prop::option::of(
        (
            prop::option::of(prop_oneof![Just("deskrun".to_string()), "[a-zA-Z_-]{0,45}"]),
            prop::option::of(prop_oneof![Just("arc-systems".to_string()), ".{0,10}"]),
            prop::option::of(prop_oneof![cache_spec(), Just("/tmp/cache".to_string())]),
        )
            .prop_map(|(n, ns, root)| {
                let mut m = serde_yaml::Mapping::new();
                if let Some(n) = n {
                    m.insert("name".into(), n.into());
                }
                if let Some(ns) = ns {
                    m.insert("namespace".into(), ns.into());
                }
                if let Some(r) = root {
                    m.insert("cache_root".into(), r.into());
                }
                Value::Mapping(m)
            }),
    );
    let structured = (
        prop_oneof![8 => Just(Value::Number(1.into())), 1 => scalar()],
        cluster,
        prop::collection::btree_map(name(), yaml_installation(), 0..4),
    )
        .prop_map(|(version, cluster, insts)| {
            let mut m = serde_yaml::Mapping::new();
            m.insert("version".into(), version);
            if let Some(c) = cluster {
                m.insert("cluster".into(), c);
            }
            let mut im = serde_yaml::Mapping::new();
            for (k, v) in insts {
                im.insert(k.into(), v);
            }
            m.insert("installations".into(), Value::Mapping(im));
            serde_yaml::to_string(&Value::Mapping(m)).unwrap()
        });
    prop_oneof![
        6 => structured,
        1 => any::<String>(),
        1 => "(version: 1\n)?([a-z_:{}\\[\\], \n-]|  ){0,80}",
    ]
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(600))]

    #[test]
    fn config_parser_never_panics_and_accepted_configs_render_for_the_chart(text in config_text()) {
        match parse(&text, Path::new(PATH)) {
            Ok(config) => accepted(&config)?,
            Err(e) => {
                refused(&e)?;
                prop_assert!(format!("{e:#}").contains(PATH), "no file name in {:#}", e);
            }
        }
    }

    #[test]
    fn cache_spec_parser_never_panics_and_normalises(spec in cache_spec()) {
        match parse_cache_spec(&spec) {
            Ok(c) => {
                prop_assert!(is_abs_clean(&c.path), "{:?}", c);
                prop_assert!(c.path.len() <= 1024);
                if let Some(h) = &c.host_path {
                    prop_assert!(is_abs_clean(h), "{:?}", c);
                }
                // Normalised: the displayed form parses to the same cache.
                let again = parse_cache_spec(&c.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, c);
            }
            Err(e) => refused(&e)?,
        }
    }

    #[test]
    fn url_normalisation_never_panics_and_is_idempotent(raw in url()) {
        match normalize_repository(Vocab::Flags, &raw) {
            Ok(u) => {
                prop_assert!(u.starts_with("https://") || u.starts_with("http://"), "{}", u);
                prop_assert!(!u.ends_with('/') && !u.ends_with(".git"), "{}", u);
                prop_assert!(!u.contains(char::is_whitespace), "{}", u);
                let segments = u.split('/').count() - 3;
                prop_assert!((1..=2).contains(&segments), "{}", u);
                let again = normalize_repository(Vocab::Flags, &u).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&again, &u);
                // And an installation of that URL renders it as githubConfigUrl.
                let inst = Installation {
                    repository: raw.clone(),
                    mode: Mode::Kubernetes,
                    min_runners: 0,
                    max_runners: 1,
                    instances: 1,
                    caches: vec![],
                    job_container: None,
                    glibc_compat: false,
                    node: None,
                    auth: Auth::Pat { token: "abcdefgh".into() },
                    // An http:// GitHub Enterprise URL needs the user's say-so.
                    allow_http: u.starts_with("http://"),
                    ..Default::default()
                };
                let mut config = Config::default();
                config.installations.insert("x".into(), inst);
                let config = validate_config(&config).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let r = render(&config, &[]).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(str_at(&r.instances[0].values, "githubConfigUrl"), Some(u.as_str()));
            }
            Err(e) => refused(&e)?,
        }
    }

    #[test]
    fn add_requests_are_refused_or_render_for_the_chart(req in add_request()) {
        match installation_from(&req) {
            Ok(inst) => {
                let mut config = Config::default();
                config.installations.insert(req.name.clone(), inst);
                let config = validate_config(&config).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
                accepted(&config)?;
            }
            Err(e) => refused(&e)?,
        }
    }
}

// ---------------------------------------------------------------------------
// A sample through the real chart
// ---------------------------------------------------------------------------

/// Three accepted installations from the same generator as above, picked by a
/// deterministic runner, rendered by the binary and checked by the real chart
/// and CRD schema.
#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn a_generated_sample_passes_the_real_chart() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let tool = shared.join("tools/arc-conformance");
    if !tool.exists() {
        println!(
            "skipped: ../shared/tools/arc-conformance not found (the real-chart sample needs ../shared)"
        );
        return;
    }
    let mut runner = TestRunner::deterministic();
    let strategy = add_request();
    let mut config = Config::default();
    let mut tries = 0;
    while config.installations.len() < 3 {
        tries += 1;
        assert!(
            tries < 10_000,
            "the generator hardly ever gives a valid request"
        );
        let mut req = strategy.new_tree(&mut runner).unwrap().current();
        // Keep the real-chart run short: at most two instances each.
        if req.instances > 2 {
            continue;
        }
        req.name = format!("s{}-{}", config.installations.len(), req.name);
        let Ok(inst) = installation_from(&req) else {
            continue;
        };
        let mut next = config.clone();
        next.installations.insert(req.name.clone(), inst);
        if let Ok(next) = validate_config(&next) {
            config = next;
        }
    }
    chart_rules(&config).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config.yaml");
    Store::new(&file)
        .update(|c| {
            *c = config.clone();
            Ok(())
        })
        .unwrap();
    let out = tmp.path().join("rendered");
    crate::common::render_dir(&file, &out, true);
    // The controller is checked elsewhere (tests/testsuite/conformance.rs).
    std::fs::remove_dir_all(out.join("controller")).unwrap();
    let res = std::process::Command::new(&tool)
        .arg(&out)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    if res.status.code() == Some(4) {
        println!(
            "skipped: arc-conformance could not download the Helm engine, nothing was checked"
        );
        return;
    }
    let sample: Vec<String> = config
        .installations
        .iter()
        .map(|(n, i)| {
            format!(
                "{n} ({}, {} instance(s), {} cache(s))",
                i.mode,
                i.instances,
                i.caches.len()
            )
        })
        .collect();
    println!("sample: {sample:?}");
    assert_eq!(
        res.status.code(),
        Some(0),
        "arc-conformance refused the sample {sample:?}:\n{text}"
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(last.ends_with(" 0 failed"), "{text}");
}

/// The properties above are only worth something if the generators produce
/// plenty of accepted inputs (whose renders get checked) and of refused ones.
#[test]
fn generators_reach_both_sides() {
    fn split<T: std::fmt::Debug>(
        what: &str,
        strategy: impl Strategy<Value = T>,
        ok: impl Fn(&T) -> bool,
    ) {
        let mut runner = TestRunner::deterministic();
        let n = 400;
        let accepted = (0..n)
            .filter(|_| ok(&strategy.new_tree(&mut runner).unwrap().current()))
            .count();
        println!("{what}: {accepted} of {n} accepted");
        assert!(
            accepted >= n / 10 && accepted <= n - n / 10,
            "{what}: {accepted} of {n} accepted; the generator is lopsided"
        );
    }
    split("config files", config_text(), |t| {
        parse(t, Path::new(PATH)).is_ok()
    });
    split("cache specs", cache_spec(), |s| parse_cache_spec(s).is_ok());
    split("URLs", url(), |u| {
        normalize_repository(Vocab::Flags, u).is_ok()
    });
    split("add requests", add_request(), |r| {
        installation_from(r).is_ok()
    });
}
