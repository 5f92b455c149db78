//! What `deskrun render` produces, pinned: insta snapshots of the whole
//! stream for a chosen set of configs (every mode, with and without caches,
//! one and three instances, both credential types, redacted and shown), plus
//! structural checks of what the issue requires, which hold whatever the
//! exact layout of the YAML.
//!
//! Update the snapshots after an intended change with
//! `INSTA_UPDATE=always cargo test --test testsuite render_snapshots` and review the diff.

use crate::common::installations::{self, installation, with};
use crate::common::{CUSTOM_HOST, PEM, TOKEN, app, caches, pat};
use deskrun::model::{Auth, Cache, Config, Installation, JobContainer, Mode};
use deskrun::render::{REDACTED, REQUIRE_JOB_CONTAINER_ENV, Rendered, render, to_stream};
use deskrun::validate::validate_config;
use serde_yaml::Value;

const ROOT: &str = "/tmp/github-runner-cache";

/// A validated (normalised) config holding the given installations.
fn config(installations: Vec<(&str, Installation)>) -> Config {
    let mut c = Config::default();
    for (name, inst) in installations {
        c.installations.insert(name.into(), inst);
    }
    validate_config(&c).expect("test config is valid")
}

fn one(name: &str, inst: Installation) -> Config {
    config(vec![(name, inst)])
}

fn stream(config: &Config, show_secrets: bool) -> String {
    let files = render(config, &[])
        .expect("render")
        .files(show_secrets)
        .expect("files");
    to_stream(&files)
}

/// A snapshot of `stream`, with the PEM armor lines of the fake key altered
/// (for the same secret scanners); the key's layout is kept. The default
/// mirror root depends on the user's cache directory: it is shown as
/// `$XDG_CACHE_HOME/deskrun/registry` whatever this machine's is.
fn snapshot_text(config: &Config, show_secrets: bool) -> String {
    let root = deskrun::mirrors::mirror_root(&config.cluster).expect("a mirror root");
    let mut text = stream(config, show_secrets)
        .replace(" PRIVATE KEY-----", " PRIVATE KEY (fake)-----")
        .replace(&root, "$XDG_CACHE_HOME/deskrun/registry");
    // The mirrors' spec hashes cover their data directory, so they too
    // depend on this machine's cache directory.
    for spec in deskrun::mirrors::specs(&config.cluster).expect("mirror specs") {
        text = text.replace(&spec.hash, &format!("<spec hash of {}>", spec.upstream));
    }
    text
}

fn rendered(config: &Config) -> Rendered {
    render(config, &[]).expect("render")
}

// ---------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------

#[test]
fn snapshot_kubernetes_no_caches() {
    let c = one("k8s", installation(Mode::Kubernetes, 1, vec![], pat()));
    insta::assert_snapshot!("kubernetes_no_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_kubernetes_caches() {
    let c = one("k8s", installation(Mode::Kubernetes, 1, caches(), pat()));
    insta::assert_snapshot!("kubernetes_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_privileged_no_caches() {
    let c = one(
        "docker-runner",
        installation(Mode::CachedPrivilegedKubernetes, 1, vec![], pat()),
    );
    insta::assert_snapshot!("privileged_no_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_privileged_caches() {
    let c = one(
        "docker-runner",
        installation(Mode::CachedPrivilegedKubernetes, 1, caches(), pat()),
    );
    insta::assert_snapshot!("privileged_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_privileged_caches_three_instances() {
    let c = one(
        "ci",
        installation(Mode::CachedPrivilegedKubernetes, 3, caches(), pat()),
    );
    insta::assert_snapshot!("privileged_caches_3_instances", snapshot_text(&c, false));
}

#[test]
fn snapshot_dind_no_caches() {
    let c = one("dind", installation(Mode::Dind, 1, vec![], pat()));
    insta::assert_snapshot!("dind_no_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_dind_caches() {
    let c = one("dind", installation(Mode::Dind, 1, caches(), pat()));
    insta::assert_snapshot!("dind_caches", snapshot_text(&c, false));
}

#[test]
fn snapshot_dind_caches_three_instances_github_app() {
    let c = one("ci", installation(Mode::Dind, 3, caches(), app()));
    insta::assert_snapshot!(
        "dind_caches_3_instances_github_app",
        snapshot_text(&c, false)
    );
}

#[test]
fn snapshot_github_app_show_secrets() {
    let c = one(
        "app-runner",
        installation(Mode::Kubernetes, 1, vec![], app()),
    );
    insta::assert_snapshot!("github_app_show_secrets", snapshot_text(&c, true));
}

#[test]
fn snapshot_pat_show_secrets() {
    let c = one(
        "docker-runner",
        installation(Mode::CachedPrivilegedKubernetes, 1, caches(), pat()),
    );
    insta::assert_snapshot!(
        "pat_privileged_caches_show_secrets",
        snapshot_text(&c, true)
    );
}

// ---------------------------------------------------------------------------
// Structural checks
// ---------------------------------------------------------------------------

/// Every combination the snapshots cover, in one config.
fn everything() -> Config {
    config(vec![
        ("k8s", installation(Mode::Kubernetes, 1, vec![], pat())),
        (
            "k8s-cached",
            installation(Mode::Kubernetes, 1, caches(), pat()),
        ),
        (
            "priv",
            installation(Mode::CachedPrivilegedKubernetes, 1, vec![], app()),
        ),
        (
            "priv-cached",
            installation(Mode::CachedPrivilegedKubernetes, 3, caches(), pat()),
        ),
        ("dind", installation(Mode::Dind, 1, vec![], pat())),
        ("dind-cached", installation(Mode::Dind, 3, caches(), app())),
    ])
}

fn docs(stream: &str) -> Vec<(String, Value)> {
    // Split on the `# Source:` headers that `to_stream` writes.
    stream
        .split("---\n# Source: ")
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (path, text) = s.split_once('\n').expect("header line");
            let doc: Value = serde_yaml::from_str(text)
                .unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}\n{text}"));
            (path.to_string(), doc)
        })
        .collect()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(*k)?;
    }
    cur.as_str()
}

fn seq<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn named<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|x| x.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no item named {name:?} in {list:?}"))
}

fn mounts(container: &Value) -> Vec<(String, String)> {
    seq(container, "volumeMounts")
        .iter()
        .map(|m| {
            (
                s(m, &["name"]).unwrap().to_string(),
                s(m, &["mountPath"]).unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn redacted_output_has_no_credential_but_keeps_the_keys() {
    let c = everything();
    let text = stream(&c, false);
    assert!(!text.contains(TOKEN), "the token leaked into:\n{text}");
    for line in PEM.lines() {
        if !line.starts_with("-----") {
            assert!(!text.contains(line), "the private key leaked into:\n{text}");
        }
    }
    let mut pats = 0;
    let mut apps = 0;
    for (path, doc) in docs(&text) {
        if !path.ends_with("/values.yaml") || path.starts_with("controller/") {
            continue;
        }
        let secret = doc.get("githubConfigSecret").expect("githubConfigSecret");
        if let Some(t) = s(secret, &["github_token"]) {
            assert_eq!(t, REDACTED, "{path}");
            pats += 1;
        } else {
            // The chart refuses an empty secret field: the placeholder is non-empty.
            let key = s(secret, &["github_app_private_key"]).expect("a credential key");
            assert_eq!(key, REDACTED, "{path}");
            assert_eq!(s(secret, &["github_app_id"]), Some("123456"));
            assert_eq!(s(secret, &["github_app_installation_id"]), Some("7654321"));
            apps += 1;
        }
    }
    // k8s, k8s-cached, priv-cached-1..3, dind; priv, dind-cached-1..3
    assert_eq!((pats, apps), (6, 4));
    assert!(!REDACTED.is_empty());

    // --show-secrets shows them.
    let shown = stream(&c, true);
    assert!(shown.contains(TOKEN));
    let shown_docs = docs(&shown);
    let (_, priv_values) = shown_docs
        .iter()
        .find(|(p, _)| p == "priv/values.yaml")
        .unwrap();
    assert_eq!(
        s(
            priv_values,
            &["githubConfigSecret", "github_app_private_key"]
        ),
        Some(PEM)
    );
}

const CAPABILITIES: [&str; 12] = [
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_CHROOT",
    "SETFCAP",
    "SETPCAP",
    "NET_RAW",
    "IPC_LOCK",
    "SYS_RESOURCE",
    "MKNOD",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
];

const SYSTEM_MOUNTS: [&str; 6] = [
    "/sys",
    "/sys/fs/cgroup",
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
];

/// The job-pod patch of an instance's hook extension, parsed.
fn hook_patch(r: &Rendered, instance: &str) -> (Value, Value) {
    let inst = r
        .instances
        .iter()
        .find(|i| i.instance == instance)
        .unwrap_or_else(|| panic!("no instance {instance}"));
    let cm = inst.hook_extension.clone().expect("a hook extension");
    let content = s(&cm, &["data", "content"])
        .expect("data.content")
        .to_string();
    let patch: Value = serde_yaml::from_str(&content)
        .unwrap_or_else(|e| panic!("hook content is not YAML: {e}\n{content}"));
    (cm, patch)
}

#[test]
fn privileged_hook_extension_has_every_capability_and_mount() {
    let c = everything();
    let r = rendered(&c);
    for (instance, want_caches) in [
        ("priv", vec![]),
        ("priv-cached-1", caches()),
        ("priv-cached-2", caches()),
        ("priv-cached-3", caches()),
    ] {
        let (cm, patch) = hook_patch(&r, instance);
        assert_eq!(s(&cm, &["kind"]), Some("ConfigMap"));
        assert_eq!(
            s(&cm, &["metadata", "name"]),
            Some(format!("privileged-hook-extension-{instance}").as_str())
        );
        assert_eq!(s(&cm, &["metadata", "namespace"]), Some("arc-systems"));

        let spec = patch.get("spec").expect("spec");
        let job = named(seq(spec, "containers"), "$job");
        let sc = job.get("securityContext").expect("securityContext");
        assert_eq!(sc.get("privileged").and_then(Value::as_bool), Some(true));
        assert_eq!(sc.get("runAsUser").and_then(Value::as_u64), Some(0));
        let caps: Vec<&str> = sc
            .get("capabilities")
            .and_then(|c| c.get("add"))
            .and_then(Value::as_sequence)
            .expect("capabilities.add")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for cap in CAPABILITIES {
            assert!(caps.contains(&cap), "{instance}: missing capability {cap}");
        }

        let vols = seq(spec, "volumes");
        let job_mounts = seq(job, "volumeMounts");
        for path in SYSTEM_MOUNTS {
            let m = job_mounts
                .iter()
                .find(|m| s(m, &["mountPath"]) == Some(path))
                .unwrap_or_else(|| panic!("{instance}: no mount at {path}"));
            let vol = named(vols, s(m, &["name"]).unwrap());
            assert_eq!(s(vol, &["hostPath", "path"]), Some(path), "{instance}");
            if path == "/sys/fs/cgroup" {
                assert_eq!(s(m, &["mountPropagation"]), Some("Bidirectional"));
            }
        }

        // One DirectoryOrCreate hostPath volume per cache, mounted at its path.
        let cache_vols: Vec<&Value> = vols
            .iter()
            .filter(|v| s(v, &["hostPath", "type"]) == Some("DirectoryOrCreate"))
            .collect();
        assert_eq!(cache_vols.len(), want_caches.len(), "{instance}");
        for (i, cache) in want_caches.iter().enumerate() {
            let want_host = cache
                .host_path
                .clone()
                .unwrap_or_else(|| format!("{ROOT}/{instance}/cache-{i}"));
            let vol = cache_vols
                .iter()
                .find(|v| s(v, &["hostPath", "path"]) == Some(want_host.as_str()))
                .unwrap_or_else(|| panic!("{instance}: no volume for {want_host}"));
            let name = s(vol, &["name"]).unwrap();
            assert!(
                mounts(job).contains(&(name.to_string(), cache.path.clone())),
                "{instance}: cache {name} not mounted at {}",
                cache.path
            );
        }

        // The runner pod mounts this ConfigMap and points the hooks at it.
        let values = &r
            .instances
            .iter()
            .find(|i| i.instance == instance)
            .unwrap()
            .values;
        assert_eq!(
            s(values, &["containerMode", "type"]),
            Some("kubernetes-novolume")
        );
        let pod = values.get("template").and_then(|t| t.get("spec")).unwrap();
        let cm_vol = seq(pod, "volumes")
            .iter()
            .find(|v| v.get("configMap").is_some())
            .expect("configMap volume");
        assert_eq!(
            s(cm_vol, &["configMap", "name"]),
            s(&cm, &["metadata", "name"])
        );
        let runner = named(seq(pod, "containers"), "runner");
        let env = named(seq(runner, "env"), "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE");
        let mount = mounts(runner)
            .into_iter()
            .find(|(n, _)| Some(n.as_str()) == s(cm_vol, &["name"]))
            .expect("runner mounts the hook extension");
        assert_eq!(
            s(env, &["value"]),
            Some(format!("{}/content", mount.1).as_str())
        );
    }
}

#[test]
fn cached_dind_mounts_caches_in_dind_and_runner_without_container_mode() {
    let c = everything();
    let r = rendered(&c);
    for instance in ["dind-cached-1", "dind-cached-2", "dind-cached-3"] {
        let inst = r.instances.iter().find(|i| i.instance == instance).unwrap();
        assert!(inst.hook_extension.is_none());
        assert!(
            inst.values.get("containerMode").is_none(),
            "{instance}: with caches, the pod is spelled out and containerMode must be unset"
        );
        let pod = inst
            .values
            .get("template")
            .and_then(|t| t.get("spec"))
            .unwrap();
        let dind = named(seq(pod, "initContainers"), "dind");
        let runner = named(seq(pod, "containers"), "runner");
        let vols = seq(pod, "volumes");
        for (i, cache) in caches().iter().enumerate() {
            let want_host = cache
                .host_path
                .clone()
                .unwrap_or_else(|| format!("{ROOT}/{instance}/cache-{i}"));
            let vol = vols
                .iter()
                .find(|v| s(v, &["hostPath", "path"]) == Some(want_host.as_str()))
                .unwrap_or_else(|| panic!("{instance}: no volume for {want_host}"));
            assert_eq!(s(vol, &["hostPath", "type"]), Some("DirectoryOrCreate"));
            let m = (s(vol, &["name"]).unwrap().to_string(), cache.path.clone());
            assert!(mounts(dind).contains(&m), "{instance}: dind lacks {m:?}");
            assert!(
                mounts(runner).contains(&m),
                "{instance}: runner lacks {m:?}"
            );
        }
    }
    // Without caches the chart writes the dind sidecar itself.
    let plain = r.instances.iter().find(|i| i.instance == "dind").unwrap();
    assert_eq!(s(&plain.values, &["containerMode", "type"]), Some("dind"));
    assert!(plain.hook_extension.is_none());
}

/// Kubernetes refuses a pod with two volumes of one name, a container with
/// two mounts at one path, or a mount of an undeclared volume; the chart's
/// schema check catches none of these.
fn assert_pod_is_consistent(what: &str, pod: &Value) {
    let mut names = std::collections::BTreeSet::new();
    for v in seq(pod, "volumes") {
        let n = s(v, &["name"]).expect("volume name");
        assert!(names.insert(n), "{what}: two volumes named {n}");
    }
    for list in ["containers", "initContainers"] {
        for c in seq(pod, list) {
            let mut paths = std::collections::BTreeSet::new();
            for (name, path) in mounts(c) {
                assert!(paths.insert(path.clone()), "{what}: two mounts at {path}");
                assert!(
                    names.contains(name.as_str()),
                    "{what}: mount of undeclared volume {name}"
                );
            }
        }
    }
}

#[test]
fn volumes_and_mount_paths_are_unique() {
    let r = rendered(&everything());
    for inst in &r.instances {
        let pod = inst
            .values
            .get("template")
            .and_then(|t| t.get("spec"))
            .expect("template.spec");
        assert_pod_is_consistent(&format!("{} runner pod", inst.instance), pod);
        if inst.hook_extension.is_some() {
            let (_, patch) = hook_patch(&r, &inst.instance);
            assert_pod_is_consistent(
                &format!("{} job pod", inst.instance),
                patch.get("spec").expect("spec"),
            );
        }
    }
}

#[test]
fn a_dind_cache_over_the_pods_own_mount_is_refused() {
    // Rendered without validation, it gives a pod Kubernetes would refuse
    // (which the check above detects); validation refuses it first.
    let mut c = Config::default();
    c.installations.insert(
        "d".into(),
        installation(
            Mode::Dind,
            1,
            vec![Cache {
                path: "/home/runner/_work".into(),
                host_path: None,
            }],
            pat(),
        ),
    );
    let r = rendered(&c);
    let pod = r.instances[0].values["template"]["spec"].clone();
    let detected = std::panic::catch_unwind(|| assert_pod_is_consistent("d", &pod));
    assert!(detected.is_err(), "the duplicate mount was not detected");
    let e = validate_config(&c).unwrap_err().to_string();
    assert!(e.contains("/home/runner/_work"), "{e}");
}

#[test]
fn kubernetes_mode_uses_a_hook_extension_only_with_caches() {
    let r = rendered(&everything());
    let k8s = r.instances.iter().find(|i| i.instance == "k8s").unwrap();
    assert!(k8s.hook_extension.is_none());
    assert_eq!(
        s(&k8s.values, &["containerMode", "type"]),
        Some("kubernetes")
    );
    let (cm, patch) = hook_patch(&r, "k8s-cached");
    assert_eq!(
        s(&cm, &["metadata", "name"]),
        Some("hook-extension-k8s-cached")
    );
    let spec = patch.get("spec").unwrap();
    let job = named(seq(spec, "containers"), "$job");
    // Not privileged: only the caches.
    assert!(job.get("securityContext").is_none(), "{patch:?}");
    assert_eq!(
        mounts(job),
        vec![
            ("cache-0".to_string(), "/var/lib/docker".to_string()),
            ("cache-1".to_string(), "/root/.cache".to_string()),
        ]
    );
}

#[test]
fn kind_config_mounts_cache_root_and_custom_host_paths_at_the_same_path() {
    let mut c = everything();
    // A custom host path under the cache root is covered by the root's mount.
    c.installations.insert(
        "under-root".into(),
        installation(
            Mode::Kubernetes,
            1,
            vec![Cache {
                path: "/x".into(),
                host_path: Some(format!("{ROOT}/shared/x")),
            }],
            pat(),
        ),
    );
    let c = validate_config(&c).unwrap();
    let r = rendered(&c);
    let kind = r.kind_cluster.as_ref().expect("kind renders a kind config");
    assert_eq!(s(kind, &["kind"]), Some("Cluster"));
    assert_eq!(s(kind, &["name"]), Some("deskrun"));
    let node = &seq(kind, "nodes")[0];
    let pairs: Vec<(String, String)> = seq(node, "extraMounts")
        .iter()
        .map(|m| {
            (
                s(m, &["hostPath"]).unwrap().to_string(),
                s(m, &["containerPath"]).unwrap().to_string(),
            )
        })
        .collect();
    // Every cache mount keeps the host path; the one other mount is the
    // registry mirrors' containerd hosts directory.
    let (hosts, pairs): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|(_, p)| p == deskrun::mirrors::CERTS_D);
    assert_eq!(hosts.len(), 1, "one containerd hosts mount");
    for (h, p) in &pairs {
        assert_eq!(h, p, "a node mount must keep the host path");
    }
    let paths: Vec<&str> = pairs.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        paths,
        vec![ROOT, CUSTOM_HOST],
        "custom paths appear once each"
    );

    // Every cache volume of every instance is reachable through a node mount.
    let node_paths = deskrun::render::kind_mounts(kind);
    for inst in &r.instances {
        for host in &inst.cache_host_paths {
            assert!(
                node_paths
                    .iter()
                    .any(|m| host == m || host.starts_with(&format!("{m}/"))),
                "{}: {host} is not under a node mount {node_paths:?}",
                inst.instance
            );
        }
    }

    // The stream quotes the path with `#` and a space, and it reads back intact.
    let text = stream(&c, false);
    let kind_doc = &docs(&text)[0];
    assert_eq!(kind_doc.0, "kind-cluster.yaml");
    assert_eq!(&kind_doc.1, kind);
}

#[test]
fn cache_host_paths_are_per_instance_under_the_cache_root() {
    let mut c = everything();
    c.cluster.cache_root = "/var/cache/deskrun/".into();
    let c = validate_config(&c).unwrap();
    let r = rendered(&c);
    for inst in &r.instances {
        let want: Vec<String> = c.installations[&inst.installation]
            .caches
            .iter()
            .enumerate()
            .map(|(i, cache)| {
                cache
                    .host_path
                    .clone()
                    .unwrap_or_else(|| format!("/var/cache/deskrun/{}/cache-{i}", inst.instance))
            })
            .collect();
        assert_eq!(inst.cache_host_paths, want, "{}", inst.instance);
    }
    let ci2 = r
        .instances
        .iter()
        .find(|i| i.instance == "priv-cached-2")
        .unwrap();
    assert_eq!(
        ci2.cache_host_paths[0],
        "/var/cache/deskrun/priv-cached-2/cache-0"
    );
    // Three instances: three distinct managed directories.
    let managed: std::collections::BTreeSet<&String> = r
        .instances
        .iter()
        .filter(|i| i.installation == "priv-cached")
        .map(|i| &i.cache_host_paths[0])
        .collect();
    assert_eq!(managed.len(), 3);
}

#[test]
fn instance_names_labels_and_counts() {
    let r = rendered(&everything());
    let names: Vec<&str> = r.instances.iter().map(|i| i.instance.as_str()).collect();
    assert_eq!(
        names,
        [
            "dind",
            "dind-cached-1",
            "dind-cached-2",
            "dind-cached-3",
            "k8s",
            "k8s-cached",
            "priv",
            "priv-cached-1",
            "priv-cached-2",
            "priv-cached-3",
        ]
    );
    for inst in &r.instances {
        let v = &inst.values;
        assert_eq!(s(v, &["runnerScaleSetName"]), Some(inst.instance.as_str()));
        assert_eq!(
            s(v, &["githubConfigUrl"]),
            Some("https://github.com/owner/repo")
        );
        assert_eq!(
            s(v, &["labels", "deskrun.dev/installation"]),
            Some(inst.installation.as_str())
        );
        assert_eq!(
            s(v, &["labels", "deskrun.dev/instance"]),
            Some(inst.instance.as_str())
        );
        assert_eq!(
            s(v, &["annotations", "deskrun.dev/inputs-hash"]),
            Some(inst.inputs_hash.as_str())
        );
        let multi = inst.instance != inst.installation;
        let (min, max) = (
            v.get("minRunners").and_then(Value::as_u64),
            v.get("maxRunners").and_then(Value::as_u64),
        );
        if multi {
            assert_eq!((min, max), (Some(1), Some(1)), "{}", inst.instance);
        } else {
            assert_eq!((min, max), (Some(1), Some(5)), "{}", inst.instance);
        }
    }
}

fn hash_of(c: &Config, instance: &str) -> String {
    rendered(c)
        .instances
        .into_iter()
        .find(|i| i.instance == instance)
        .unwrap_or_else(|| panic!("no instance {instance}"))
        .inputs_hash
}

#[test]
fn inputs_hash_changes_with_token_and_caches_and_is_stable_otherwise() {
    for mode in Mode::ALL {
        let base = one("r", installation(mode, 1, vec![], pat()));
        let h = hash_of(&base, "r");
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));

        // Stable: the same config, rendered again, or next to another installation.
        assert_eq!(hash_of(&base, "r"), h, "{mode}");
        assert_eq!(hash_of(&base.clone(), "r"), h, "{mode}");
        let mut with_other = base.clone();
        with_other
            .installations
            .insert("other".into(), installation(Mode::Dind, 2, caches(), app()));
        assert_eq!(hash_of(&with_other, "r"), h, "{mode}: another installation");
        // Rendering only this installation gives the same hash.
        let only = render(&base, &["r".to_string()]).unwrap();
        assert_eq!(only.instances[0].inputs_hash, h);

        // The token.
        let mut tok = base.clone();
        tok.installations.get_mut("r").unwrap().auth = Auth::Pat {
            token: "fake-token-for-tests-0002".into(),
        };
        assert_ne!(hash_of(&tok, "r"), h, "{mode}: token changed");

        // A cache added.
        let mut cached = base.clone();
        cached.installations.get_mut("r").unwrap().caches = vec![caches()[0].clone()];
        let h1 = hash_of(&cached, "r");
        assert_ne!(h1, h, "{mode}: cache added");
        cached.installations.get_mut("r").unwrap().caches = caches();
        let h2 = hash_of(&cached, "r");
        assert_ne!(h2, h1, "{mode}: second cache added");

        // The cache root moves the managed host directory.
        let mut moved = cached.clone();
        moved.cluster.cache_root = "/var/cache/deskrun".into();
        assert_ne!(hash_of(&moved, "r"), h2, "{mode}: cache root changed");

        // The runner counts.
        let mut counts = base.clone();
        counts.installations.get_mut("r").unwrap().max_runners = 4;
        assert_ne!(hash_of(&counts, "r"), h, "{mode}: max runners changed");
    }

    // Per instance: three instances of one installation hash differently.
    let three = one("ci", installation(Mode::Kubernetes, 3, vec![], pat()));
    let hs: std::collections::BTreeSet<String> = ["ci-1", "ci-2", "ci-3"]
        .iter()
        .map(|i| hash_of(&three, i))
        .collect();
    assert_eq!(hs.len(), 3);
}

#[test]
fn every_document_of_the_stream_is_yaml_with_its_source_header() {
    let c = everything();
    let text = stream(&c, false);
    let ds = docs(&text);
    let paths: Vec<&str> = ds.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths[0], "kind-cluster.yaml");
    assert_eq!(paths[1], "controller/values.yaml");
    for inst in &rendered(&c).instances {
        assert!(paths.contains(&format!("{}/values.yaml", inst.instance).as_str()));
        let hook = format!("{}/hook-extension.yaml", inst.instance);
        assert_eq!(
            paths.contains(&hook.as_str()),
            inst.hook_extension.is_some(),
            "{hook}"
        );
    }
    // 2 + 10 values + hooks for k8s-cached, priv, priv-cached-1..3, and
    // the registry mirrors last.
    assert_eq!(ds.len(), 2 + 10 + 5 + 1);
    assert_eq!(paths.last(), Some(&"registry-mirrors.yaml"));
    let mirrors = &ds.last().unwrap().1;
    let hub = &mirrors["mirrors"][0];
    assert_eq!(s(hub, &["container"]), Some("deskrun-mirror-docker-io"));
    let args: Vec<&str> = seq(hub, "docker")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        deskrun::mirrors::MirrorSpec::new(
            "docker.io",
            &deskrun::mirrors::mirror_root(&c.cluster).unwrap()
        )
        .run_args()
    );
    assert!(
        s(hub, &["hosts_toml"])
            .unwrap()
            .contains("server = \"https://registry-1.docker.io\"")
    );
    let off = Config {
        cluster: deskrun::model::ClusterSettings {
            registry_mirrors: vec![],
            ..c.cluster.clone()
        },
        ..c.clone()
    };
    assert!(
        !docs(&stream(&off, false))
            .iter()
            .any(|(p, _)| p == "registry-mirrors.yaml")
    );
}

mod paths_with_yaml_syntax {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any host path deskrun accepts (no `:`, no control characters)
        /// reaches the kind config and the job pod unchanged, whatever YAML
        /// syntax it contains.
        #[test]
        fn host_paths_survive_yaml(seg in "[a-z #&*!%@`'\"{}\\[\\],|>?=~-]{1,12}") {
            prop_assume!(seg != "." && seg != ".." && !seg.trim().is_empty());
            let host = format!("/srv/{seg}");
            let c = Config {
                installations: [(
                    "r".to_string(),
                    installation(
                        Mode::CachedPrivilegedKubernetes,
                        1,
                        vec![Cache { path: "/data".into(), host_path: Some(host.clone()) }],
                        pat(),
                    ),
                )]
                .into(),
                ..Config::default()
            };
            let Ok(c) = validate_config(&c) else {
                return Ok(());
            };
            let host = c.installations["r"].caches[0].host_path.clone().unwrap();
            let text = stream(&c, false);
            let ds = docs(&text);
            let kind = &ds[0].1;
            let node_paths = deskrun::render::kind_mounts(kind);
            prop_assert!(node_paths.contains(&host), "{:?}", node_paths);
            let hook = &ds.iter().find(|(p, _)| p == "r/hook-extension.yaml").unwrap().1;
            let patch: Value = serde_yaml::from_str(s(hook, &["data", "content"]).unwrap()).unwrap();
            let vols = seq(patch.get("spec").unwrap(), "volumes");
            prop_assert_eq!(s(named(vols, "cache-0"), &["hostPath", "path"]), Some(host.as_str()));
        }
    }
}

// ---------------------------------------------------------------------------
// Runner settings (issue 16)
// ---------------------------------------------------------------------------

fn with_settings(mut inst: Installation) -> Installation {
    inst.labels = vec!["gpu".into(), "linux".into()];
    inst.env = [
        ("CARGO_TERM_COLOR".to_string(), "always".to_string()),
        (
            "NPM_CONFIG_REGISTRY".to_string(),
            "https://npm.example.com/a: b #c".to_string(),
        ),
    ]
    .into();
    inst
}

fn env_of(container: &Value) -> Vec<(String, String)> {
    seq(container, "env")
        .iter()
        .filter_map(|e| Some((s(e, &["name"])?.to_string(), s(e, &["value"])?.to_string())))
        .collect()
}

fn runner_of(values: &Value) -> &Value {
    named(
        seq(
            values.get("template").unwrap().get("spec").unwrap(),
            "containers",
        ),
        "runner",
    )
}

#[test]
fn snapshot_kubernetes_labels_env() {
    let c = one(
        "k8s",
        with_settings(installation(Mode::Kubernetes, 1, vec![], pat())),
    );
    insta::assert_snapshot!("kubernetes_labels_env", snapshot_text(&c, false));
}

#[test]
fn labels_become_scale_set_labels_and_env_reaches_runner_and_job() {
    let c = config(vec![
        (
            "k8s",
            with_settings(installation(Mode::Kubernetes, 1, vec![], pat())),
        ),
        (
            "priv",
            with_settings(installation(
                Mode::CachedPrivilegedKubernetes,
                2,
                caches(),
                pat(),
            )),
        ),
        (
            "dind",
            with_settings(installation(Mode::Dind, 1, vec![], pat())),
        ),
        (
            "dind-cached",
            with_settings(installation(Mode::Dind, 1, caches(), pat())),
        ),
        ("plain", installation(Mode::Kubernetes, 1, vec![], pat())),
    ]);
    let r = rendered(&c);
    let want_env = vec![
        ("CARGO_TERM_COLOR".to_string(), "always".to_string()),
        (
            "NPM_CONFIG_REGISTRY".to_string(),
            "https://npm.example.com/a: b #c".to_string(),
        ),
    ];
    for inst in &r.instances {
        let labels: Vec<&str> = seq(&inst.values, "scaleSetLabels")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let runner_env = env_of(runner_of(&inst.values));
        if inst.installation == "plain" {
            assert!(inst.values.get("scaleSetLabels").is_none());
            assert!(inst.hook_extension.is_none(), "nothing reaches the job pod");
            continue;
        }
        assert_eq!(labels, ["gpu", "linux"], "{}", inst.instance);
        for e in &want_env {
            assert!(runner_env.contains(e), "{}: {runner_env:?}", inst.instance);
        }
        if inst.mode == Mode::Dind {
            assert!(inst.hook_extension.is_none());
        } else {
            // The kubernetes mode gets a hook extension for the env alone.
            let (_, patch) = hook_patch(&r, &inst.instance);
            let job = named(seq(patch.get("spec").unwrap(), "containers"), "$job");
            assert_eq!(env_of(job), want_env, "{}", inst.instance);
        }
    }
    // The mode's own env stays next to the user's.
    let priv1 = r.instances.iter().find(|i| i.instance == "priv-1").unwrap();
    let env = env_of(runner_of(&priv1.values));
    assert!(
        env.iter()
            .any(|(k, _)| k == "ACTIONS_RUNNER_CONTAINER_HOOKS"),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|(k, _)| k == "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE"),
        "{env:?}"
    );
}

// ---------------------------------------------------------------------------
// Job container rule, glibc-compat and host namespaces (issue 10)
// ---------------------------------------------------------------------------

/// The job pod the runner's container hooks create, with `patch` (a hook
/// extension's spec) merged the way they merge it
/// (runner-container-hooks `packages/k8s`, `createJobPod`/`createPod` and
/// `mergePodSpecWithOptions`): `containers` named `$job` merge into the job
/// container (env and volumeMounts appended, other keys replaced; name and
/// image kept), other containers are appended, `volumes` are appended, and
/// every other pod-level key, `initContainers` included, *replaces* the
/// hooks' value. `novolume`: the kubernetes-novolume hooks (0.8), whose pod
/// has emptyDir volumes and an fs-init container; otherwise the kubernetes
/// hooks (0.7), whose pod has the runner's work volume and no init container.
fn hooks_job_pod(novolume: bool, patch: &Value) -> Value {
    let base = if novolume {
        r#"
securityContext: {fsGroup: 1001}
restartPolicy: Never
initContainers:
  - name: fs-init
    image: ghcr.io/actions/actions-runner:latest
    command: [sh, -c, "mkdir -p /mnt/externals && mv /home/runner/externals/* /mnt/externals/"]
    volumeMounts:
      - {name: externals, mountPath: /mnt/externals}
      - {name: work, mountPath: /mnt/work}
      - {name: github, mountPath: /mnt/github}
containers:
  - name: $job
    image: nixos/nix
    command: [tail]
    args: [-f, /dev/null]
    volumeMounts:
      - {name: externals, mountPath: /__e}
      - {name: work, mountPath: /__w}
      - {name: github, mountPath: /github}
volumes:
  - {name: externals, emptyDir: {}}
  - {name: github, emptyDir: {}}
  - {name: work, emptyDir: {}}
"#
    } else {
        r#"
restartPolicy: Never
containers:
  - name: $job
    image: nixos/nix
    command: [tail]
    args: [-f, /dev/null]
    volumeMounts:
      - {name: work, mountPath: /__w}
      - {name: work, mountPath: /__e, subPath: externals}
      - {name: work, mountPath: /github/home, subPath: _temp/_github_home}
      - {name: work, mountPath: /github/workflow, subPath: _temp/_github_workflow}
volumes:
  - {name: work, persistentVolumeClaim: {claimName: runner-work}}
"#
    };
    let mut pod: Value = serde_yaml::from_str(base).unwrap();
    let pod_map = pod.as_mapping_mut().unwrap();
    for (k, v) in patch.as_mapping().unwrap() {
        match k.as_str().unwrap() {
            "containers" => {
                for c in v.as_sequence().unwrap() {
                    let name = s(c, &["name"]).unwrap();
                    if name == "$job" {
                        let job = pod_map["containers"]
                            .as_sequence_mut()
                            .unwrap()
                            .iter_mut()
                            .find(|x| s(x, &["name"]) == Some("$job"))
                            .unwrap()
                            .as_mapping_mut()
                            .unwrap();
                        for (ck, cv) in c.as_mapping().unwrap() {
                            match ck.as_str().unwrap() {
                                "name" | "image" => {}
                                "env" | "volumeMounts" | "ports" => {
                                    let list = job
                                        .entry(ck.clone())
                                        .or_insert_with(|| Value::Sequence(vec![]));
                                    list.as_sequence_mut()
                                        .unwrap()
                                        .extend(cv.as_sequence().unwrap().iter().cloned());
                                }
                                _ => {
                                    job.insert(ck.clone(), cv.clone());
                                }
                            }
                        }
                    } else if !name.starts_with('$') {
                        pod_map["containers"]
                            .as_sequence_mut()
                            .unwrap()
                            .push(c.clone());
                    }
                }
            }
            "volumes" => pod_map["volumes"]
                .as_sequence_mut()
                .unwrap()
                .extend(v.as_sequence().unwrap().iter().cloned()),
            _ => {
                pod_map.insert(k.clone(), v.clone());
            }
        }
    }
    pod
}

/// Installations using the per-installation job settings.
fn job_settings() -> Config {
    config(installations::job_settings())
}

#[test]
fn snapshot_glibc_compat_and_job_container() {
    insta::assert_snapshot!(
        "glibc_compat_and_job_container",
        snapshot_text(&job_settings(), false)
    );
}

/// The runner's ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER values (all of them).
fn require_job_container(r: &Rendered, instance: &str) -> Vec<String> {
    let inst = r.instances.iter().find(|i| i.instance == instance).unwrap();
    let pod = inst
        .values
        .get("template")
        .and_then(|t| t.get("spec"))
        .unwrap();
    let runner = named(seq(pod, "containers"), "runner");
    seq(runner, "env")
        .iter()
        .filter(|e| s(e, &["name"]) == Some(REQUIRE_JOB_CONTAINER_ENV))
        .map(|e| s(e, &["value"]).expect("a plain value").to_string())
        .collect()
}

#[test]
fn job_container_rule_defaults_by_mode_and_can_be_set() {
    let r = rendered(&everything());
    // Defaults: required in kubernetes, optional in cached-privileged-kubernetes.
    assert_eq!(require_job_container(&r, "k8s"), ["true"]);
    assert_eq!(require_job_container(&r, "k8s-cached"), ["true"]);
    assert_eq!(require_job_container(&r, "priv"), ["false"]);
    for i in 1..=3 {
        assert_eq!(
            require_job_container(&r, &format!("priv-cached-{i}")),
            ["false"]
        );
    }
    // dind: no rule at all (the chart adds none either).
    assert!(require_job_container(&r, "dind").is_empty());
    assert!(require_job_container(&r, "dind-cached-1").is_empty());
    // Set explicitly, either way.
    let r = rendered(&job_settings());
    assert_eq!(require_job_container(&r, "k8s-glibc"), ["false"]);
    assert_eq!(require_job_container(&r, "priv-required"), ["true"]);
}

#[test]
fn job_container_and_glibc_compat_are_refused_in_dind() {
    for (job, glibc, words) in [
        (
            Some(JobContainer::Optional),
            false,
            "invalid job_container: optional",
        ),
        (
            Some(JobContainer::Required),
            false,
            "invalid job_container: required",
        ),
        (None, true, "invalid glibc_compat: true"),
    ] {
        let mut c = Config::default();
        c.installations.insert(
            "d".into(),
            with(installation(Mode::Dind, 1, vec![], pat()), job, glibc),
        );
        let e = validate_config(&c).unwrap_err().to_string();
        assert!(e.contains(words) && e.contains("dind"), "{e}");
    }
}

#[test]
fn a_job_pod_with_the_nodes_proc_shares_its_pid_and_ipc_namespaces() {
    for c in [everything(), job_settings()] {
        let r = rendered(&c);
        for inst in r.instances.iter().filter(|i| i.hook_extension.is_some()) {
            let (_, patch) = hook_patch(&r, &inst.instance);
            let spec = patch.get("spec").unwrap();
            let node_proc = seq(spec, "volumes")
                .iter()
                .any(|v| s(v, &["hostPath", "path"]) == Some("/proc"));
            let flag = |k: &str| spec.get(k).and_then(Value::as_bool);
            if node_proc {
                assert_eq!(flag("hostPID"), Some(true), "{}", inst.instance);
                assert_eq!(flag("hostIPC"), Some(true), "{}", inst.instance);
            } else {
                assert_eq!(flag("hostPID"), None, "{}", inst.instance);
                assert_eq!(flag("hostIPC"), None, "{}", inst.instance);
            }
            // Every privileged job pod mounts the node's /proc.
            assert_eq!(node_proc, inst.mode == Mode::CachedPrivilegedKubernetes);
        }
    }
}

#[test]
fn glibc_compat_keeps_what_the_hooks_need_and_mounts_where_the_loader_looks() {
    let c = job_settings();
    let r = rendered(&c);
    let runner_image = |instance: &str| {
        let inst = r.instances.iter().find(|i| i.instance == instance).unwrap();
        let pod = inst
            .values
            .get("template")
            .and_then(|t| t.get("spec"))
            .unwrap();
        s(named(seq(pod, "containers"), "runner"), &["image"])
            .unwrap()
            .to_string()
    };
    for (instance, novolume) in [("k8s-glibc", false), ("priv-glibc", true)] {
        let (_, patch) = hook_patch(&r, instance);
        let spec = patch.get("spec").unwrap();
        // The job pod the hooks would create from this patch is valid and
        // still has the hooks' own volumes and mounts.
        let pod = hooks_job_pod(novolume, spec);
        assert_pod_is_consistent(instance, &pod);
        let job = named(seq(&pod, "containers"), "$job");
        for path in ["/__e", "/__w"] {
            assert!(
                mounts(job).iter().any(|(_, p)| p == path),
                "{instance}: {path} lost"
            );
        }
        let inits = seq(spec, "initContainers");
        let names: Vec<&str> = inits.iter().filter_map(|c| s(c, &["name"])).collect();
        if novolume {
            // The kubernetes-novolume hooks replace the pod's initContainers
            // with the patch's: their fs-init must come first, moving the
            // runner's externals (node) into the hooks' `externals` volume.
            assert_eq!(names, ["fs-init", "glibc-compat"], "{instance}");
            let fs_init = named(inits, "fs-init");
            assert_eq!(
                mounts(fs_init),
                [("externals".to_string(), "/mnt/externals".to_string())]
            );
            let cmd: Vec<&str> = seq(fs_init, "command")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                cmd.last()
                    .unwrap()
                    .contains("/home/runner/externals/* /mnt/externals"),
                "{cmd:?}"
            );
        } else {
            // The kubernetes hooks put no init container in the job pod.
            assert_eq!(names, ["glibc-compat"], "{instance}");
        }
        for init in inits {
            assert_eq!(s(init, &["image"]), Some(runner_image(instance).as_str()));
        }
        let glibc = named(inits, "glibc-compat");
        let script: String = seq(glibc, "args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for lib in [
            "ld-linux-x86-64.so.2",
            "libc.so.6",
            "libstdc++.so.6",
            "libgcc_s.so.1",
        ] {
            assert!(script.contains(lib), "{instance}: {lib} not copied");
        }
        let vol = named(seq(spec, "volumes"), "glibc-compat");
        assert!(vol.get("emptyDir").is_some(), "{vol:?}");
        let job = named(seq(spec, "containers"), "$job");
        let at: Vec<String> = mounts(job)
            .into_iter()
            .filter(|(n, _)| n == "glibc-compat")
            .map(|(_, p)| p)
            .collect();
        assert_eq!(at, ["/lib64", "/lib/x86_64-linux-gnu"], "{instance}");
        // The caches are still there, next to it.
        if novolume {
            assert!(mounts(job).iter().any(|(_, p)| p == "/var/lib/docker"));
        }
    }
    // Without glibc-compat the patch has no init container: the hooks' own stay.
    let (_, patch) = hook_patch(&r, "priv-required");
    assert!(patch["spec"].get("initContainers").is_none(), "{patch:?}");
    // kubernetes mode needs a hook extension for glibc-compat alone.
    assert!(
        r.instances
            .iter()
            .find(|i| i.instance == "k8s-glibc")
            .unwrap()
            .hook_extension
            .is_some()
    );
}

#[test]
fn a_cache_where_glibc_compat_mounts_is_refused() {
    for path in ["/lib64", "/lib/x86_64-linux-gnu", "/lib", "/lib64/sub"] {
        let mut c = Config::default();
        c.installations.insert(
            "k".into(),
            with(
                installation(
                    Mode::Kubernetes,
                    1,
                    vec![Cache {
                        path: path.into(),
                        host_path: None,
                    }],
                    pat(),
                ),
                None,
                true,
            ),
        );
        let e = validate_config(&c).unwrap_err().to_string();
        assert!(e.contains("with glibc_compat"), "{path}: {e}");
    }
}

fn q(text: &str) -> deskrun::model::Quantity {
    deskrun::model::Quantity(text.into())
}

/// A pinned runner image and resources on every container the mode has.
fn with_images_and_resources(mut inst: Installation) -> Installation {
    use deskrun::model::ContainerResources;
    let res = |cpu: &str, mem: &str| ContainerResources {
        requests: [("cpu".to_string(), q(cpu))].into(),
        limits: [
            ("memory".to_string(), q(mem)),
            ("ephemeral-storage".to_string(), q("20Gi")),
        ]
        .into(),
    };
    inst.runner_image = Some("registry.example.com/ci/runner:2.321.0".into());
    inst.resources.runner = res("250m", "1Gi");
    if inst.mode == Mode::Dind {
        inst.dind_image = Some("docker:27-dind".into());
        inst.resources.dind = res("1", "6Gi");
    } else {
        inst.resources.job = res("2", "8Gi");
    }
    inst
}

#[test]
fn snapshot_dind_image_and_resources() {
    let c = one(
        "dind",
        with_images_and_resources(installation(Mode::Dind, 1, vec![], pat())),
    );
    insta::assert_snapshot!("dind_image_resources", snapshot_text(&c, false));
}

#[test]
fn images_and_resources_reach_every_container() {
    let c = config(vec![
        (
            "k8s",
            with_images_and_resources(installation(Mode::Kubernetes, 1, vec![], pat())),
        ),
        (
            "priv",
            with_images_and_resources(installation(
                Mode::CachedPrivilegedKubernetes,
                1,
                caches(),
                pat(),
            )),
        ),
        (
            "dind",
            with_images_and_resources(installation(Mode::Dind, 1, vec![], pat())),
        ),
        (
            "dind-cached",
            with_images_and_resources(installation(Mode::Dind, 1, caches(), pat())),
        ),
        ("dind-plain", installation(Mode::Dind, 1, vec![], pat())),
    ]);
    let r = rendered(&c);
    let get = |name: &str| r.instances.iter().find(|i| i.instance == name).unwrap();
    for name in ["k8s", "priv", "dind", "dind-cached"] {
        let inst = get(name);
        let runner = runner_of(&inst.values);
        assert_eq!(
            s(runner, &["image"]),
            Some("registry.example.com/ci/runner:2.321.0"),
            "{name}"
        );
        assert_eq!(
            s(runner, &["resources", "requests", "cpu"]),
            Some("250m"),
            "{name}"
        );
        assert_eq!(
            s(runner, &["resources", "limits", "memory"]),
            Some("1Gi"),
            "{name}"
        );
    }
    for name in ["k8s", "priv"] {
        let (_, patch) = hook_patch(&r, name);
        let job = named(seq(patch.get("spec").unwrap(), "containers"), "$job");
        assert_eq!(
            s(job, &["resources", "requests", "cpu"]),
            Some("2"),
            "{name}"
        );
        assert_eq!(
            s(job, &["resources", "limits", "memory"]),
            Some("8Gi"),
            "{name}"
        );
        assert_eq!(
            s(job, &["resources", "limits", "ephemeral-storage"]),
            Some("20Gi"),
            "{name}"
        );
    }
    // dind with an image or resources: deskrun's own pod, not the chart's.
    for name in ["dind", "dind-cached"] {
        let v = &get(name).values;
        assert!(v.get("containerMode").is_none(), "{name}");
        let spec = v.get("template").unwrap().get("spec").unwrap();
        let init = seq(spec, "initContainers");
        let dind = named(init, "dind");
        assert_eq!(s(dind, &["image"]), Some("docker:27-dind"), "{name}");
        assert_eq!(
            s(dind, &["resources", "requests", "cpu"]),
            Some("1"),
            "{name}"
        );
        assert_eq!(
            s(dind, &["resources", "limits", "memory"]),
            Some("6Gi"),
            "{name}"
        );
        // The externals are copied from the runner image the runner runs.
        assert_eq!(
            s(named(init, "init-dind-externals"), &["image"]),
            Some("registry.example.com/ci/runner:2.321.0"),
            "{name}"
        );
    }
    // Nothing to change: the chart's own dind container, default images.
    let plain = &get("dind-plain").values;
    assert_eq!(s(plain, &["containerMode", "type"]), Some("dind"));
    assert_eq!(
        s(runner_of(plain), &["image"]),
        Some("ghcr.io/actions/actions-runner:latest")
    );
    assert!(runner_of(plain).get("resources").is_none());
}

// ---------------------------------------------------------------------------
// An existing cluster: caches become claims, `node:` pins the pods
// ---------------------------------------------------------------------------

mod existing_cluster {
    use super::*;
    use deskrun::model::{ControllerMode, Provider};

    /// The two caches of `caches()`, both managed by deskrun (no host path).
    fn claim_caches() -> Vec<Cache> {
        caches()
            .into_iter()
            .map(|c| Cache {
                host_path: None,
                ..c
            })
            .collect()
    }

    fn pinned(mut inst: Installation, node: &str) -> Installation {
        inst.node = Some(node.into());
        inst
    }

    /// `installations` deployed to the context `team` of an existing cluster.
    fn on_existing(installations: Vec<(&str, Installation)>, class: &str) -> Config {
        let mut c = Config::default();
        c.cluster.provider = Provider::Existing;
        c.cluster.context = Some("team".into());
        c.cluster.namespace = "ci".into();
        c.cluster.cache_storage_class = class.into();
        for (name, inst) in installations {
            c.installations.insert(name.into(), inst);
        }
        validate_config(&c).expect("test config is valid")
    }

    #[test]
    fn snapshot_existing_privileged_claims() {
        let c = on_existing(
            vec![(
                "ci",
                installation(Mode::CachedPrivilegedKubernetes, 2, claim_caches(), pat()),
            )],
            "",
        );
        insta::assert_snapshot!("existing_privileged_claims", snapshot_text(&c, false));
    }

    #[test]
    fn snapshot_existing_dind_pinned() {
        // One claim, one directory of the pinned node.
        let c = on_existing(
            vec![(
                "dind",
                pinned(installation(Mode::Dind, 1, caches(), pat()), "worker-2"),
            )],
            "fast-ssd",
        );
        insta::assert_snapshot!("existing_dind_pinned", snapshot_text(&c, false));
    }

    #[test]
    fn snapshot_existing_kubernetes_pinned_no_caches() {
        let c = on_existing(
            vec![(
                "k8s",
                pinned(installation(Mode::Kubernetes, 1, vec![], pat()), "worker-1"),
            )],
            "",
        );
        insta::assert_snapshot!("existing_kubernetes_pinned", snapshot_text(&c, false));
    }

    #[test]
    fn every_cache_is_a_labelled_claim_mounted_where_the_job_expects_it() {
        let c = on_existing(
            vec![
                (
                    "priv",
                    installation(Mode::CachedPrivilegedKubernetes, 3, claim_caches(), pat()),
                ),
                (
                    "k8s",
                    installation(Mode::Kubernetes, 1, claim_caches(), pat()),
                ),
                ("dind", installation(Mode::Dind, 1, claim_caches(), pat())),
            ],
            "fast-ssd",
        );
        let r = rendered(&c);
        assert!(
            r.kind_cluster.is_none(),
            "no kind config on an existing cluster"
        );
        for inst in &r.instances {
            assert!(inst.cache_host_paths.is_empty(), "{}", inst.instance);
            assert_eq!(inst.claims.len(), 2, "{}", inst.instance);
            for (i, (claim, cache)) in inst.claims.iter().zip(claim_caches()).enumerate() {
                let name = format!("{}-cache-{i}", inst.instance);
                assert_eq!(s(claim, &["kind"]), Some("PersistentVolumeClaim"));
                assert_eq!(s(claim, &["metadata", "name"]), Some(name.as_str()));
                assert_eq!(s(claim, &["metadata", "namespace"]), Some("ci"));
                let labels = &claim["metadata"]["labels"];
                assert_eq!(s(labels, &["deskrun.dev/managed"]), Some("true"));
                assert_eq!(
                    s(labels, &["deskrun.dev/installation"]),
                    Some(inst.installation.as_str())
                );
                assert_eq!(
                    s(labels, &["deskrun.dev/instance"]),
                    Some(inst.instance.as_str())
                );
                assert_eq!(
                    s(
                        claim,
                        &["metadata", "annotations", "deskrun.dev/cache-path"]
                    ),
                    Some(cache.path.as_str())
                );
                assert_eq!(s(claim, &["spec", "storageClassName"]), Some("fast-ssd"));
                assert_eq!(
                    s(claim, &["spec", "resources", "requests", "storage"]),
                    Some("20Gi")
                );
                assert_eq!(
                    claim["spec"]["accessModes"],
                    serde_yaml::from_str::<Value>("[ReadWriteOnce]").unwrap()
                );
                // Mounted from that claim, at the job's path.
                let pod: Value = match inst.mode {
                    Mode::Dind => inst.values["template"]["spec"].clone(),
                    _ => {
                        let cm = inst.hook_extension.as_ref().expect("hook extension");
                        let content = s(cm, &["data", "content"]).unwrap();
                        serde_yaml::from_str::<Value>(content).unwrap()["spec"].clone()
                    }
                };
                let volume = named(seq(&pod, "volumes"), &format!("cache-{i}"));
                assert_eq!(
                    s(volume, &["persistentVolumeClaim", "claimName"]),
                    Some(name.as_str()),
                    "{}",
                    inst.instance
                );
                assert!(volume.get("hostPath").is_none());
                let containers: Vec<&Value> = match inst.mode {
                    Mode::Dind => vec![
                        named(seq(&pod, "initContainers"), "dind"),
                        named(seq(&pod, "containers"), "runner"),
                    ],
                    _ => vec![named(seq(&pod, "containers"), "$job")],
                };
                for container in containers {
                    assert!(
                        mounts(container).contains(&(format!("cache-{i}"), cache.path.clone())),
                        "{}: {:?}",
                        inst.instance,
                        mounts(container)
                    );
                }
            }
        }
        // kubernetes mode's work volume uses the configured class, not kind's.
        let k8s = r.instances.iter().find(|i| i.instance == "k8s").unwrap();
        assert_eq!(
            s(
                &k8s.values,
                &[
                    "containerMode",
                    "kubernetesModeWorkVolumeClaim",
                    "storageClassName"
                ]
            ),
            Some("fast-ssd")
        );
    }

    #[test]
    fn claims_are_files_of_the_output_dir() {
        let c = on_existing(
            vec![(
                "ci",
                installation(Mode::CachedPrivilegedKubernetes, 2, claim_caches(), pat()),
            )],
            "",
        );
        let paths: Vec<String> = rendered(&c)
            .files(false)
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            paths,
            [
                "controller/values.yaml",
                "ci-1/values.yaml",
                "ci-1/hook-extension.yaml",
                "ci-1/claim-cache-0.yaml",
                "ci-1/claim-cache-1.yaml",
                "ci-2/values.yaml",
                "ci-2/hook-extension.yaml",
                "ci-2/claim-cache-0.yaml",
                "ci-2/claim-cache-1.yaml",
            ]
        );
    }

    #[test]
    fn default_class_and_size_and_no_controller_when_external() {
        let mut c = on_existing(
            vec![(
                "k8s",
                installation(Mode::Kubernetes, 1, claim_caches(), pat()),
            )],
            "",
        );
        c.cluster.controller = ControllerMode::External;
        c.cluster.cache_size = "5Gi".into();
        let r = rendered(&c);
        assert!(r.controller_values.is_none());
        assert!(
            r.files(false)
                .unwrap()
                .iter()
                .all(|f| !f.path.starts_with("controller/"))
        );
        let k8s = &r.instances[0];
        let claim = &k8s.claims[0];
        assert!(claim["spec"].get("storageClassName").is_none());
        assert_eq!(
            s(claim, &["spec", "resources", "requests", "storage"]),
            Some("5Gi")
        );
        assert!(
            k8s.values["containerMode"]["kubernetesModeWorkVolumeClaim"]
                .get("storageClassName")
                .is_none(),
            "the cluster's default class, not kind's `standard`"
        );
    }

    #[test]
    fn node_pins_the_runner_pod_and_the_job_pod() {
        let c = on_existing(
            vec![
                (
                    "k8s",
                    pinned(installation(Mode::Kubernetes, 1, vec![], pat()), "worker-1"),
                ),
                (
                    "priv",
                    pinned(
                        installation(Mode::CachedPrivilegedKubernetes, 1, caches(), pat()),
                        "worker-1",
                    ),
                ),
                (
                    "dind",
                    pinned(installation(Mode::Dind, 1, vec![], pat()), "worker-1"),
                ),
            ],
            "",
        );
        for inst in rendered(&c).instances {
            assert_eq!(
                s(
                    &inst.values,
                    &["template", "spec", "nodeSelector", "kubernetes.io/hostname"]
                ),
                Some("worker-1"),
                "{}",
                inst.instance
            );
            if inst.mode == Mode::Dind {
                assert!(inst.hook_extension.is_none());
                continue;
            }
            let cm = inst.hook_extension.as_ref().expect("hook extension");
            let patch: Value = serde_yaml::from_str(s(cm, &["data", "content"]).unwrap()).unwrap();
            assert_eq!(
                s(&patch, &["spec", "nodeSelector", "kubernetes.io/hostname"]),
                Some("worker-1"),
                "{}",
                inst.instance
            );
            if inst.instance == "priv" {
                // The custom host directory stays a hostPath on that node.
                let vol = named(seq(&patch["spec"], "volumes"), "cache-1");
                assert_eq!(s(vol, &["hostPath", "path"]), Some(CUSTOM_HOST));
                assert_eq!(inst.claims.len(), 1);
            }
        }
    }

    #[test]
    fn kind_renders_exactly_as_before() {
        // The new keys left at their defaults change nothing on kind.
        let plain = everything();
        let mut explicit = plain.clone();
        explicit.cluster.provider = Provider::Kind;
        explicit.cluster.cache_storage_class = "fast-ssd".into();
        explicit.cluster.cache_size = "1Ti".into();
        assert_eq!(stream(&plain, false), stream(&explicit, false));
        assert!(
            rendered(&plain)
                .instances
                .iter()
                .all(|i| i.claims.is_empty())
        );
    }
}

const PROXY_PASSWORD: &str = "proxy-pass-w0rd/x";

fn with_proxy(mut c: Config) -> Config {
    c.cluster.proxy = Some(deskrun::model::ProxySettings {
        http: Some("http://proxy.example.com:3128".into()),
        https: Some("http://me%40corp:proxy-pass-w0rd%2Fx@proxy.example.com:3128".into()),
        no_proxy: vec![".corp.example.com".into(), "localhost".into()],
    });
    validate_config(&c).expect("valid proxy config")
}

#[test]
fn snapshot_proxy() {
    let c = with_proxy(one("k8s", installation(Mode::Kubernetes, 1, vec![], pat())));
    insta::assert_snapshot!("proxy", snapshot_text(&c, false));
}

#[test]
fn proxy_reaches_every_scale_set_and_its_credentials_only_a_secret() {
    let c = with_proxy(everything());
    let r = rendered(&c);
    for inst in &r.instances {
        let p = inst.values.get("proxy").expect("proxy values");
        assert_eq!(
            s(p, &["http", "url"]),
            Some("http://proxy.example.com:3128")
        );
        assert!(p.get("http").unwrap().get("credentialSecretRef").is_none());
        assert_eq!(
            s(p, &["https", "url"]),
            Some("http://proxy.example.com:3128")
        );
        assert_eq!(
            s(p, &["https", "credentialSecretRef"]),
            Some("deskrun-proxy-https")
        );
        let no_proxy: Vec<&str> = seq(p, "noProxy").iter().filter_map(Value::as_str).collect();
        assert_eq!(no_proxy[..2], [".corp.example.com", "localhost"]);
        for inside in ["10.96.0.1", ".svc", ".cluster.local", "127.0.0.1"] {
            assert!(no_proxy.contains(&inside), "{no_proxy:?}");
        }
        assert_eq!(no_proxy.iter().filter(|e| **e == "localhost").count(), 1);
    }
    assert_eq!(r.proxy_secrets.len(), 1);
    let secret = &r.proxy_secrets[0];
    assert_eq!(
        s(secret, &["metadata", "name"]),
        Some("deskrun-proxy-https")
    );
    assert_eq!(s(secret, &["metadata", "namespace"]), Some("arc-systems"));
    assert_eq!(s(secret, &["stringData", "username"]), Some("me@corp"));
    assert_eq!(s(secret, &["stringData", "password"]), Some(PROXY_PASSWORD));

    let shown = stream(&c, false);
    assert!(
        !shown.contains(PROXY_PASSWORD) && !shown.contains("proxy-pass-w0rd"),
        "{shown}"
    );
    assert!(
        shown.contains("# Source: deskrun-proxy-https.yaml"),
        "{shown}"
    );
    assert!(stream(&c, true).contains(PROXY_PASSWORD));

    // A new password alone upgrades every instance (the Secret is re-applied).
    let mut changed = c.clone();
    changed.cluster.proxy.as_mut().unwrap().https =
        Some("http://me%40corp:another-pass@proxy.example.com:3128".into());
    assert_ne!(hash_of(&c, "k8s"), hash_of(&changed, "k8s"));
}

// ---------------------------------------------------------------------------
// GitHub Enterprise Server private CA (issue 16)
// ---------------------------------------------------------------------------

const CA1: &str = include_str!("../fixtures/github-ca-1.pem");
const CA2: &str = include_str!("../fixtures/github-ca-2.pem");

fn with_ca(mut inst: Installation, pem: &str) -> Installation {
    inst.repository = "https://ghes.example.com/owner/repo".into();
    inst.github_ca = Some(pem.to_string());
    inst
}

/// One installation of each mode, every one with a private CA.
fn ca_config(pem: &str) -> Config {
    config(vec![
        (
            "k8s",
            with_ca(installation(Mode::Kubernetes, 1, vec![], pat()), pem),
        ),
        (
            "priv",
            with_ca(
                installation(Mode::CachedPrivilegedKubernetes, 2, caches(), pat()),
                pem,
            ),
        ),
        (
            "dind",
            with_ca(installation(Mode::Dind, 1, vec![], pat()), pem),
        ),
    ])
}

#[test]
fn snapshot_github_ca() {
    insta::assert_snapshot!("github_ca", snapshot_text(&ca_config(CA1), false));
}

#[test]
fn the_ca_reaches_controller_runner_and_job_container() {
    let r = rendered(&ca_config(CA1));
    assert_eq!(r.instances.len(), 4);
    for inst in &r.instances {
        let cm_name = format!("github-ca-{}", inst.instance);
        // The chart's githubServerTLS names this instance's ConfigMap.
        let tls = inst.values.get("githubServerTLS").expect("githubServerTLS");
        assert_eq!(
            s(tls, &["certificateFrom", "configMapKeyRef", "name"]),
            Some(cm_name.as_str())
        );
        assert_eq!(
            s(tls, &["certificateFrom", "configMapKeyRef", "key"]),
            Some("ca.crt")
        );
        assert_eq!(
            s(tls, &["runnerMountPath"]),
            Some("/usr/local/share/ca-certificates/")
        );
        // The ConfigMap: in the scale set's namespace, labelled as deskrun's
        // and the instance's (so `up` and `down` find it), with the PEM.
        let cm = inst.github_ca.as_ref().expect("a CA ConfigMap");
        assert_eq!(s(cm, &["kind"]), Some("ConfigMap"));
        assert_eq!(s(cm, &["metadata", "name"]), Some(cm_name.as_str()));
        assert_eq!(s(cm, &["metadata", "namespace"]), Some("arc-systems"));
        let labels = cm.get("metadata").and_then(|m| m.get("labels")).unwrap();
        assert_eq!(s(labels, &["deskrun.dev/managed"]), Some("true"));
        assert_eq!(
            s(labels, &["deskrun.dev/instance"]),
            Some(inst.instance.as_str())
        );
        assert_eq!(s(cm, &["data", "ca.crt"]), Some(CA1));
        assert_eq!(
            s(cm, &["metadata", "annotations", "deskrun.dev/inputs-hash"]),
            Some(inst.inputs_hash.as_str())
        );
        if inst.mode == Mode::Dind {
            // Jobs run in the runner container, which the chart gives the CA.
            assert!(inst.hook_extension.is_none());
            continue;
        }
        // The kubernetes modes: the hooks' job pod gets it too.
        let (_, patch) = hook_patch(&r, &inst.instance);
        let spec = patch.get("spec").unwrap();
        let job = named(seq(spec, "containers"), "$job");
        let env = named(seq(job, "env"), "NODE_EXTRA_CA_CERTS");
        assert_eq!(
            s(env, &["value"]),
            Some("/usr/local/share/ca-certificates/ca.crt")
        );
        let mount = named(seq(job, "volumeMounts"), "deskrun-github-ca");
        assert_eq!(
            s(mount, &["mountPath"]),
            Some("/usr/local/share/ca-certificates/ca.crt")
        );
        assert_eq!(s(mount, &["subPath"]), Some("ca.crt"));
        let volume = named(seq(spec, "volumes"), "deskrun-github-ca");
        assert_eq!(s(volume, &["configMap", "name"]), Some(cm_name.as_str()));
        // The caches are still there.
        if inst.mode == Mode::CachedPrivilegedKubernetes {
            named(seq(job, "volumeMounts"), "cache-0");
        }
    }
}

#[test]
fn the_kubernetes_mode_gets_a_hook_extension_for_the_ca_alone() {
    let plain = one("k", installation(Mode::Kubernetes, 1, vec![], pat()));
    assert!(rendered(&plain).instances[0].hook_extension.is_none());
    assert!(rendered(&plain).instances[0].github_ca.is_none());
    assert!(
        rendered(&plain).instances[0]
            .values
            .get("githubServerTLS")
            .is_none()
    );
    let with = one(
        "k",
        with_ca(installation(Mode::Kubernetes, 1, vec![], pat()), CA1),
    );
    assert!(rendered(&with).instances[0].hook_extension.is_some());
}

#[test]
fn a_new_ca_changes_the_inputs_hash_and_the_same_one_does_not() {
    let a = ca_config(CA1);
    assert_eq!(hash_of(&a, "k8s"), hash_of(&ca_config(CA1), "k8s"));
    assert_ne!(hash_of(&a, "k8s"), hash_of(&ca_config(CA2), "k8s"));
    assert_ne!(hash_of(&a, "dind"), hash_of(&ca_config(CA2), "dind"));
    let files = rendered(&a).files(false).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for p in [
        "k8s/github-ca.yaml",
        "priv-1/github-ca.yaml",
        "dind/github-ca.yaml",
    ] {
        assert!(paths.contains(&p), "{paths:?}");
    }
}

#[test]
fn the_job_container_gets_the_proxy_and_the_users_env_wins() {
    let mut c = with_proxy(everything());
    let k8s = c.installations.get_mut("k8s").unwrap();
    k8s.env.insert("NO_PROXY".into(), "*".into());
    let r = rendered(&c);
    for inst in r.instances.iter().filter(|i| i.mode != Mode::Dind) {
        let (cm, patch) = hook_patch(&r, &inst.instance);
        let content = s(&cm, &["data", "content"]).unwrap();
        assert!(!content.contains(PROXY_PASSWORD) && !content.contains("proxy-pass-w0rd"));
        let job = named(seq(patch.get("spec").unwrap(), "containers"), "$job");
        let https = named(seq(job, "env"), "https_proxy");
        assert_eq!(
            s(https, &["valueFrom", "secretKeyRef", "name"]),
            Some("deskrun-proxy-https")
        );
        assert_eq!(s(https, &["valueFrom", "secretKeyRef", "key"]), Some("url"));
        let http = named(seq(job, "env"), "HTTP_PROXY");
        assert_eq!(s(http, &["value"]), Some("http://proxy.example.com:3128"));
        let no_proxy: Vec<&str> = seq(job, "env")
            .iter()
            .filter(|e| s(e, &["name"]) == Some("NO_PROXY"))
            .filter_map(|e| s(e, &["value"]))
            .collect();
        if inst.instance == "k8s" {
            assert_eq!(no_proxy, ["*"], "the user's --env wins");
        } else {
            assert_eq!(no_proxy.len(), 1);
            assert!(no_proxy[0].contains(".cluster.local"), "{no_proxy:?}");
        }
    }
    for inst in r.instances.iter().filter(|i| i.mode == Mode::Dind) {
        assert!(
            inst.hook_extension.is_none(),
            "dind jobs run in the runner container, which ARC configures"
        );
    }
    let secret = &r.proxy_secrets[0];
    assert_eq!(
        s(secret, &["stringData", "url"]),
        Some("http://me%40corp:proxy-pass-w0rd%2Fx@proxy.example.com:3128")
    );
}
