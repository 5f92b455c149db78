//! Rendering: config -> every file `deskrun up` applies.
//!
//! Templates in `templates/` are YAML documents embedded at build time,
//! parsed, and patched structurally (never by string concatenation), so a
//! cache path with `: ` or `#` in it is just a string value.

use crate::model::{Auth, ClusterSettings, Config, Installation, JobContainer, Mode};
use anyhow::{Context, Result, bail};
use serde_yaml::{Mapping, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Mutex;

const KIND_CLUSTER: &str = include_str!("../templates/kind-cluster.yaml");
const CONTROLLER_VALUES: &str = include_str!("../templates/controller-values.yaml");
const SCALE_SET_VALUES: &str = include_str!("../templates/scale-set-values.yaml");
const MODE_KUBERNETES: &str = include_str!("../templates/mode-kubernetes.yaml");
const MODE_PRIVILEGED: &str = include_str!("../templates/mode-cached-privileged-kubernetes.yaml");
const MODE_DIND: &str = include_str!("../templates/mode-dind.yaml");
const DIND_POD: &str = include_str!("../templates/dind-pod.yaml");
const HOOK_WIRING: &str = include_str!("../templates/hook-wiring.yaml");
const HOOK_CONFIGMAP: &str = include_str!("../templates/hook-extension-configmap.yaml");
const JOB_POD: &str = include_str!("../templates/job-pod.yaml");
const JOB_POD_PRIVILEGED: &str = include_str!("../templates/job-pod-privileged.yaml");
const JOB_POD_GLIBC_COMPAT: &str = include_str!("../templates/job-pod-glibc-compat.yaml");
const JOB_POD_NOVOLUME_FS_INIT: &str = include_str!("../templates/job-pod-novolume-fs-init.yaml");
const GITHUB_CA_CONFIGMAP: &str = include_str!("../templates/github-ca-configmap.yaml");
const JOB_POD_GITHUB_CA: &str = include_str!("../templates/job-pod-github-ca.yaml");

/// The key of the CA ConfigMap, and so the file name the pods see.
pub const GITHUB_CA_KEY: &str = "ca.crt";
/// Where the chart mounts the CA in the runner container (and deskrun in
/// the job container): the directory `update-ca-certificates` reads, which
/// the runner image runs at start (`RUNNER_UPDATE_CA_CERTS`, set by the chart).
pub const GITHUB_CA_MOUNT_DIR: &str = "/usr/local/share/ca-certificates/";

/// The runner env var that decides whether a job must declare `container:`.
/// The chart adds it (as "true") only when the runner's env lacks it, so
/// deskrun always sets it itself.
pub const REQUIRE_JOB_CONTAINER_ENV: &str = "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER";
/// Where the runner's x86-64 glibc loader is (`/lib64/ld-linux-x86-64.so.2`)
/// and where that loader looks for libraries: the glibc-compat mounts.
pub const GLIBC_COMPAT_MOUNTS: [&str; 2] = ["/lib64", "/lib/x86_64-linux-gnu"];
const GLIBC_COMPAT_VOLUME: &str = "glibc-compat";
const CACHE_CLAIM: &str = include_str!("../templates/cache-claim.yaml");

pub use crate::model::REDACTED;

/// Label and annotation keys deskrun puts on what it deploys.
pub const LABEL_MANAGED: &str = "deskrun.dev/managed";
pub const LABEL_INSTALLATION: &str = "deskrun.dev/installation";
pub const LABEL_INSTANCE: &str = "deskrun.dev/instance";
pub const ANNOTATION_INPUTS_HASH: &str = "deskrun.dev/inputs-hash";
/// On a cache claim: the path at which the job sees it.
pub const ANNOTATION_CACHE_PATH: &str = "deskrun.dev/cache-path";
/// The node label `node:` pins pods with.
pub const NODE_LABEL: &str = "kubernetes.io/hostname";

/// Everything `up` applies for a config.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The kind cluster config; `None` on an existing cluster.
    pub kind_cluster: Option<Value>,
    /// The registry mirror containers (empty: mirrors off, or an existing
    /// cluster, whose nodes pull through their own registries).
    pub mirrors: Vec<crate::mirrors::MirrorSpec>,
    /// The containerd hosts directory mounted into the node, with mirrors.
    pub hosts_dir: Option<String>,
    /// The controller's values; `None` with an external controller.
    pub controller_values: Option<Value>,
    pub instances: Vec<InstanceRender>,
    /// Secrets holding the `cluster.proxy` credentials (`username`,
    /// `password`), one per proxy URL that has them; `up` applies them before
    /// the scale sets that name them.
    pub proxy_secrets: Vec<Value>,
}

/// One scale-set instance: its Helm values and, in modes that use one, its
/// hook-extension ConfigMap.
#[derive(Debug, Clone)]
pub struct InstanceRender {
    pub installation: String,
    pub instance: String,
    pub mode: Mode,
    /// The values with the real credential. Never print these as they are:
    /// use [`InstanceRender::values_for_display`].
    pub values: Value,
    pub hook_extension: Option<Value>,
    /// The ConfigMap of the installation's `github_ca`, which the values'
    /// `githubServerTLS` names; applied before the scale set.
    pub github_ca: Option<Value>,
    /// Hash of everything that defines this instance's deployment (chart,
    /// version, values with the credential, hook extension). Recorded on the
    /// AutoscalingRunnerSet and the ConfigMap; `up` compares it to skip
    /// instances that did not change.
    pub inputs_hash: String,
    /// Host paths of this instance's caches (on the host and on the kind
    /// node). Empty on an existing cluster, whose nodes are other machines.
    pub cache_host_paths: Vec<String>,
    /// The PersistentVolumeClaims of its caches (existing clusters only),
    /// applied before the scale set.
    pub claims: Vec<Value>,
}

impl InstanceRender {
    /// The ConfigMaps `up` applies before the scale set: the hook extension
    /// and the GitHub CA, where the instance has them.
    pub fn configmaps(&self) -> impl Iterator<Item = &Value> {
        self.hook_extension.iter().chain(self.github_ca.iter())
    }

    /// The values as shown to a person: credentials redacted unless asked.
    pub fn values_for_display(&self, show_secrets: bool) -> Value {
        let mut values = self.values.clone();
        if !show_secrets {
            redact_values(&mut values);
        }
        values
    }
}

/// Replace the secret fields of `githubConfigSecret` by [`REDACTED`].
pub fn redact_values(values: &mut Value) {
    if let Some(secret) = values.get_mut("githubConfigSecret") {
        redact_secret(secret);
    }
}

/// The secret fields of a `githubConfigSecret` mapping.
fn redact_secret(secret: &mut Value) {
    if let Some(secret) = secret.as_mapping_mut() {
        for key in ["github_token", "github_app_private_key"] {
            if let Some(v) = secret.get_mut(key) {
                *v = Value::String(REDACTED.into());
            }
        }
    }
}

/// Helm values as YAML, as shown: `githubConfigSecret` redacted unless
/// secrets are asked for. Only the secret's small mapping is copied; the
/// rest is written from the values as they are.
fn values_text(values: &Value, show_secrets: bool) -> Result<String> {
    match values.get("githubConfigSecret").filter(|_| !show_secrets) {
        Some(secret) => {
            let mut secret = secret.clone();
            redact_secret(&mut secret);
            crate::yaml::value_to_string_replacing(values, "githubConfigSecret", &secret)
        }
        None => crate::yaml::value_to_string(values),
    }
}

/// A template as data. Each is parsed once per process and cloned after
/// that: parsing was over half of `render`'s time for many instances.
fn parse_template(name: &'static str, text: &'static str) -> Value {
    static PARSED: Mutex<Vec<(&str, Value)>> = Mutex::new(Vec::new());
    let mut parsed = PARSED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = parsed.iter().find(|(n, _)| *n == name) {
        return v.clone();
    }
    // Templates are compiled in and covered by tests: a parse error is a bug.
    let value: Value = serde_yaml::from_str(text)
        .unwrap_or_else(|e| panic!("template {name} is invalid YAML: {e}"));
    parsed.push((name, value.clone()));
    value
}

/// Deep merge `patch` into `base`: mappings merge key by key, lists of
/// mappings that all have a `name` merge item by item on that name (as
/// Kubernetes merges containers, env and volumes), anything else is replaced.
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Mapping(b), Value::Mapping(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(p)) if named_list(b) && named_list(&p) => {
            for item in p {
                let name = item.get("name").cloned();
                match b.iter_mut().find(|x| x.get("name") == name.as_ref()) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item),
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn named_list(items: &[Value]) -> bool {
    items.iter().all(|i| i.get("name").is_some())
}

/// `value[path...]` as a mutable mapping, creating mappings on the way.
fn map_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Mapping {
    let mut cur = value;
    for key in path {
        if !cur.is_mapping() {
            *cur = Value::Mapping(Mapping::new());
        }
        let map = cur.as_mapping_mut().expect("just made a mapping");
        cur = map
            .entry(Value::String((*key).into()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    if !cur.is_mapping() {
        *cur = Value::Mapping(Mapping::new());
    }
    cur.as_mapping_mut().expect("just made a mapping")
}

/// `value[path...]` as a mutable sequence, creating it if absent.
fn seq_at<'a>(value: &'a mut Value, path: &[&str], key: &str) -> &'a mut Vec<Value> {
    let map = map_at(value, path);
    let v = map
        .entry(Value::String(key.into()))
        .or_insert_with(|| Value::Sequence(vec![]));
    if !v.is_sequence() {
        *v = Value::Sequence(vec![]);
    }
    v.as_sequence_mut().expect("just made a sequence")
}

/// The container named `name` in a pod spec's `list` (containers, initContainers).
fn container<'a>(spec: &'a mut Value, list: &str, name: &str) -> Result<&'a mut Value> {
    seq_at(spec, &[], list)
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .with_context(|| format!("template has no {list} entry named {name:?}"))
}

fn set(map: &mut Mapping, key: &str, value: impl Into<Value>) {
    map.insert(Value::String(key.into()), value.into());
}

fn str_map(pairs: &[(&str, &str)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        set(&mut m, k, *v);
    }
    Value::Mapping(m)
}

fn volume_mount(name: &str, path: &str) -> Value {
    str_map(&[("name", name), ("mountPath", path)])
}

fn claim_volume(name: &str, claim: &str) -> Value {
    let mut m = Mapping::new();
    set(&mut m, "name", name);
    set(
        &mut m,
        "persistentVolumeClaim",
        str_map(&[("claimName", claim)]),
    );
    Value::Mapping(m)
}

fn host_path_volume(name: &str, path: &str) -> Value {
    let mut m = Mapping::new();
    set(&mut m, "name", name);
    set(
        &mut m,
        "hostPath",
        str_map(&[("path", path), ("type", "DirectoryOrCreate")]),
    );
    Value::Mapping(m)
}

/// The host directory of cache `index` of `instance`.
pub fn cache_host_path(
    cluster: &ClusterSettings,
    instance: &str,
    index: usize,
    cache_host: Option<&str>,
) -> String {
    match cache_host {
        Some(h) => h.to_string(),
        None => format!(
            "{}/{instance}/cache-{index}",
            cluster.cache_root.trim_end_matches('/')
        ),
    }
}

/// The name of the claim of cache `index` of `instance` on an existing cluster.
pub fn cache_claim_name(instance: &str, index: usize) -> String {
    format!("{instance}-cache-{index}")
}

/// The PersistentVolumeClaim of one cache on an existing cluster.
pub fn cache_claim(
    cluster: &ClusterSettings,
    installation: &str,
    instance: &str,
    index: usize,
    path: &str,
) -> Value {
    let mut claim = parse_template("cache-claim.yaml", CACHE_CLAIM);
    let meta = map_at(&mut claim, &["metadata"]);
    set(meta, "name", cache_claim_name(instance, index));
    set(meta, "namespace", cluster.namespace.as_str());
    let labels = map_at(&mut claim, &["metadata", "labels"]);
    set(labels, LABEL_INSTALLATION, installation);
    set(labels, LABEL_INSTANCE, instance);
    set(
        map_at(&mut claim, &["metadata", "annotations"]),
        ANNOTATION_CACHE_PATH,
        path,
    );
    if !cluster.cache_storage_class.is_empty() {
        set(
            map_at(&mut claim, &["spec"]),
            "storageClassName",
            cluster.cache_storage_class.as_str(),
        );
    }
    set(
        map_at(&mut claim, &["spec", "resources", "requests"]),
        "storage",
        cluster.cache_size.as_str(),
    );
    claim
}

/// The host directories the kind node mounts at the same path: the cache
/// root, then each custom cache host path outside it.
pub fn cache_mounts(config: &Config) -> Vec<String> {
    let root = config.cluster.cache_root.trim_end_matches('/').to_string();
    let mut hosts = BTreeSet::new();
    for inst in config.installations.values() {
        for cache in &inst.caches {
            if let Some(h) = &cache.host_path
                && !(h == &root || h.starts_with(&format!("{root}/")))
            {
                hosts.insert(h.clone());
            }
        }
    }
    std::iter::once(root).chain(hosts).collect()
}

/// The kind cluster config: the cache root and every custom cache host path
/// mounted into the node at the same path, and with registry mirrors, the
/// containerd hosts directory at `/etc/containerd/certs.d` plus the patch
/// that makes containerd read it.
pub fn kind_cluster(config: &Config) -> Result<Value> {
    let mut doc = parse_template("kind-cluster.yaml", KIND_CLUSTER);
    set(
        doc.as_mapping_mut().expect("kind template is a mapping"),
        "name",
        config.cluster.name.as_str(),
    );
    let mut mounts: Vec<Value> = cache_mounts(config)
        .into_iter()
        .map(|p| str_map(&[("hostPath", &p), ("containerPath", &p)]))
        .collect();
    if !config.cluster.registry_mirrors.is_empty() {
        let mut m = Mapping::new();
        set(
            &mut m,
            "hostPath",
            crate::mirrors::hosts_dir(&config.cluster)?,
        );
        set(&mut m, "containerPath", crate::mirrors::CERTS_D);
        set(&mut m, "readOnly", true);
        mounts.push(Value::Mapping(m));
        set(
            doc.as_mapping_mut().expect("kind template is a mapping"),
            "containerdConfigPatches",
            Value::Sequence(vec![crate::mirrors::CONTAINERD_PATCH.into()]),
        );
    }
    let node = doc
        .get_mut("nodes")
        .and_then(|n| n.get_mut(0))
        .expect("kind template has a node");
    set(
        node.as_mapping_mut().expect("node is a mapping"),
        "extraMounts",
        Value::Sequence(mounts),
    );
    Ok(doc)
}

/// The cache mounts of the kind node (host path = node path), for creating
/// them and checking that an instance's caches are reachable. The containerd
/// hosts mount is not one of them.
pub fn kind_mounts(kind_cluster: &Value) -> Vec<String> {
    kind_cluster
        .get("nodes")
        .and_then(|n| n.get(0))
        .and_then(|n| n.get("extraMounts"))
        .and_then(Value::as_sequence)
        .map(|ms| {
            ms.iter()
                .filter(|m| m.get("hostPath") == m.get("containerPath"))
                .filter_map(|m| m.get("containerPath").and_then(Value::as_str))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The host directory the kind config mounts at containerd's registry host
/// directory, if any (a cluster created with mirrors).
pub fn kind_hosts_mount(kind_cluster: &Value) -> Option<String> {
    kind_cluster
        .get("nodes")
        .and_then(|n| n.get(0))
        .and_then(|n| n.get("extraMounts"))
        .and_then(Value::as_sequence)?
        .iter()
        .find(|m| m.get("containerPath").and_then(Value::as_str) == Some(crate::mirrors::CERTS_D))
        .and_then(|m| m.get("hostPath").and_then(Value::as_str))
        .map(String::from)
}

pub fn controller_values() -> Value {
    parse_template("controller-values.yaml", CONTROLLER_VALUES)
}

fn credential_values(auth: &Auth) -> Value {
    match auth {
        Auth::Pat { token } => str_map(&[("github_token", token)]),
        Auth::GithubApp {
            app_id,
            installation_id,
            private_key,
        } => str_map(&[
            ("github_app_id", app_id),
            ("github_app_installation_id", installation_id),
            ("github_app_private_key", private_key),
        ]),
    }
}

/// The name of an instance's hook-extension ConfigMap.
pub fn hook_configmap_name(mode: Mode, instance: &str) -> String {
    match mode {
        Mode::CachedPrivilegedKubernetes => format!("privileged-hook-extension-{instance}"),
        _ => format!("hook-extension-{instance}"),
    }
}

/// The name of an instance's GitHub CA ConfigMap. One per instance, like
/// the hook extension, so that removing a scale set removes its own.
pub fn github_ca_configmap_name(instance: &str) -> String {
    format!("github-ca-{instance}")
}

/// The ConfigMap holding an installation's CA certificates (`ca.crt`).
fn github_ca_configmap(cluster: &ClusterSettings, name: &str, instance: &str, pem: &str) -> Value {
    let mut cm = parse_template("github-ca-configmap.yaml", GITHUB_CA_CONFIGMAP);
    let meta = map_at(&mut cm, &["metadata"]);
    set(meta, "name", github_ca_configmap_name(instance));
    set(meta, "namespace", cluster.namespace.as_str());
    let labels = map_at(&mut cm, &["metadata", "labels"]);
    set(labels, LABEL_INSTALLATION, name);
    set(labels, LABEL_INSTANCE, instance);
    set(map_at(&mut cm, &["data"]), GITHUB_CA_KEY, pem);
    cm
}

/// The chart's `githubServerTLS`: the controller and listener trust the
/// ConfigMap's certificates, and the runner container gets them mounted
/// with `NODE_EXTRA_CA_CERTS` and `RUNNER_UPDATE_CA_CERTS` set.
fn github_server_tls(cm_name: &str) -> Value {
    let mut tls = Value::Mapping(Mapping::new());
    let key_ref = map_at(&mut tls, &["certificateFrom", "configMapKeyRef"]);
    set(key_ref, "name", cm_name);
    set(key_ref, "key", GITHUB_CA_KEY);
    set(
        map_at(&mut tls, &[]),
        "runnerMountPath",
        GITHUB_CA_MOUNT_DIR,
    );
    tls
}

/// Whether an instance of this installation uses a hook extension: the
/// privileged mode always does; the kubernetes mode when something must
/// reach the job pod (caches, env, glibc-compat, the node it is pinned to,
/// the GitHub CA, the cluster's proxy).
pub fn uses_hook_extension(cluster: &ClusterSettings, inst: &Installation) -> bool {
    match inst.mode {
        Mode::Kubernetes if cluster.proxy.is_some() => true,
        Mode::CachedPrivilegedKubernetes => true,
        Mode::Kubernetes => {
            !inst.caches.is_empty()
                || !inst.env.is_empty()
                || inst.glibc_compat
                || !inst.resources.job.is_empty()
                || inst.node.is_some()
                || inst.github_ca.is_some()
        }
        Mode::Dind => false,
    }
}

/// Whether a dind installation needs deskrun's own spelled-out pod: with
/// `containerMode.type: dind` the chart writes the dind sidecar itself, with
/// a fixed `docker:dind` image and no resources or extra mounts, and has no
/// value to change them.
pub fn spells_out_dind_pod(inst: &Installation) -> bool {
    inst.mode == Mode::Dind
        && (!inst.caches.is_empty() || inst.dind_image.is_some() || !inst.resources.dind.is_empty())
}

fn set_key(container: &mut Value, key: &str, value: impl Into<Value>) {
    if let Some(m) = container.as_mapping_mut() {
        set(m, key, value);
    }
}

/// A container's `resources` mapping; quantities as strings.
fn resources_value(r: &crate::model::ContainerResources) -> Value {
    let mut out = Mapping::new();
    for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        if !map.is_empty() {
            let mut m = Mapping::new();
            for (resource, q) in map {
                set(&mut m, resource, q.0.as_str());
            }
            set(&mut out, kind, Value::Mapping(m));
        }
    }
    Value::Mapping(out)
}

/// Destinations inside the cluster that must never go through the proxy:
/// the runner's container hooks talk to the Kubernetes API (10.96.0.1 in
/// kind's default service range), and pods reach services by cluster names.
pub const CLUSTER_NO_PROXY: [&str; 7] = [
    "localhost",
    "127.0.0.1",
    "10.96.0.1",
    "10.96.0.0/16",
    "10.244.0.0/16",
    ".svc",
    ".cluster.local",
];

/// The name of the Secret holding the credentials of the `http` or `https`
/// proxy URL.
pub fn proxy_secret_name(kind: &str) -> String {
    format!("deskrun-proxy-{kind}")
}

/// The chart's `proxy` values: each URL without its credentials, which go
/// in a Secret named by `credentialSecretRef` (as the chart asks).
fn proxy_values(p: &crate::model::ProxySettings) -> Value {
    let mut out = Mapping::new();
    for (kind, url) in p.urls() {
        let parsed = crate::model::ProxyUrl::parse(url);
        let mut m = Mapping::new();
        set(&mut m, "url", parsed.url.as_str());
        if parsed.credentials.is_some() {
            set(&mut m, "credentialSecretRef", proxy_secret_name(kind));
        }
        set(&mut out, kind, Value::Mapping(m));
    }
    let mut no_proxy: Vec<String> = p.no_proxy.clone();
    for entry in CLUSTER_NO_PROXY {
        if !no_proxy.iter().any(|e| e == entry) {
            no_proxy.push(entry.to_string());
        }
    }
    set(
        &mut out,
        "noProxy",
        Value::Sequence(no_proxy.into_iter().map(Value::String).collect()),
    );
    Value::Mapping(out)
}

/// `scheme://user:password@host` as `scheme://user:<redacted>@host`.
fn redact_url_password(url: &str) -> String {
    match (url.split_once("://"), crate::model::userinfo(url)) {
        (Some((scheme, rest)), Some(userinfo)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!(
                "{scheme}://{user}:{REDACTED}@{}",
                &rest[userinfo.len() + 1..]
            )
        }
        _ => url.to_string(),
    }
}

/// The proxy for the job container of the kubernetes modes, which ARC does
/// not configure: `HTTP(S)_PROXY` and `NO_PROXY`, upper and lower case (tools
/// read one or the other). A URL with credentials comes from its Secret's
/// `url` key (`secretKeyRef`), so the ConfigMap never holds them.
fn job_proxy_env(p: &crate::model::ProxySettings) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, url) in p.urls() {
        let parsed = crate::model::ProxyUrl::parse(url);
        for name in [
            format!("{}_PROXY", kind.to_ascii_uppercase()),
            format!("{kind}_proxy"),
        ] {
            let mut e = Mapping::new();
            set(&mut e, "name", name);
            if parsed.credentials.is_some() {
                let mut key_ref = Mapping::new();
                set(&mut key_ref, "name", proxy_secret_name(kind));
                set(&mut key_ref, "key", PROXY_SECRET_URL_KEY);
                let mut from = Mapping::new();
                set(&mut from, "secretKeyRef", Value::Mapping(key_ref));
                set(&mut e, "valueFrom", Value::Mapping(from));
            } else {
                set(&mut e, "value", parsed.url.as_str());
            }
            out.push(Value::Mapping(e));
        }
    }
    let no_proxy = proxy_values(p)
        .get("noProxy")
        .and_then(Value::as_sequence)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    for name in ["NO_PROXY", "no_proxy"] {
        out.push(str_map(&[("name", name), ("value", &no_proxy)]));
    }
    out
}

/// The key of a proxy Secret holding the whole URL, credentials included,
/// for the job container's `HTTP(S)_PROXY` (ARC reads `username` and
/// `password`).
pub const PROXY_SECRET_URL_KEY: &str = "url";

/// The Secrets of the proxy credentials, with the real password.
pub fn proxy_secrets(p: &crate::model::ProxySettings, namespace: &str) -> Vec<Value> {
    p.urls()
        .into_iter()
        .filter_map(|(kind, url)| {
            let (user, password) = crate::model::ProxyUrl::parse(url).credentials?;
            let mut meta = Mapping::new();
            set(&mut meta, "name", proxy_secret_name(kind));
            set(&mut meta, "namespace", namespace);
            set(
                &mut meta,
                "labels",
                str_map(&[
                    ("app.kubernetes.io/managed-by", "deskrun"),
                    (LABEL_MANAGED, "true"),
                ]),
            );
            let mut secret = Mapping::new();
            set(&mut secret, "apiVersion", "v1");
            set(&mut secret, "kind", "Secret");
            set(&mut secret, "metadata", Value::Mapping(meta));
            set(&mut secret, "type", "Opaque");
            set(
                &mut secret,
                "stringData",
                str_map(&[
                    ("username", &user),
                    ("password", &password),
                    (PROXY_SECRET_URL_KEY, url.trim_end_matches('/')),
                ]),
            );
            Some(Value::Mapping(secret))
        })
        .collect()
}

/// `env` as a container's env list.
fn env_list(env: &std::collections::BTreeMap<String, String>) -> Vec<Value> {
    env.iter()
        .map(|(k, v)| str_map(&[("name", k), ("value", v)]))
        .collect()
}

/// A patch of `template.spec` that merges `container` into the named container.
fn container_patch(list: &str, container: Mapping) -> Value {
    let mut spec = Mapping::new();
    set(
        &mut spec,
        list,
        Value::Sequence(vec![Value::Mapping(container)]),
    );
    let mut template = Mapping::new();
    set(&mut template, "spec", Value::Mapping(spec));
    let mut top = Mapping::new();
    set(&mut top, "template", Value::Mapping(template));
    Value::Mapping(top)
}

/// The image of the runner container in scale-set values.
fn runner_image(values: &mut Value) -> Result<String> {
    let spec = values
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .context("values have no template.spec")?;
    container(spec, "containers", "runner")?
        .get("image")
        .and_then(Value::as_str)
        .map(String::from)
        .context("the runner container has no image")
}

/// Set ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER on the runner container.
fn set_require_job_container(values: &mut Value, rule: JobContainer) -> Result<()> {
    let spec = values
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .context("values have no template.spec")?;
    let env = seq_at(container(spec, "containers", "runner")?, &[], "env");
    env.retain(|e| e.get("name").and_then(Value::as_str) != Some(REQUIRE_JOB_CONTAINER_ENV));
    let value = match rule {
        JobContainer::Required => "true",
        JobContainer::Optional => "false",
    };
    env.push(str_map(&[
        ("name", REQUIRE_JOB_CONTAINER_ENV),
        ("value", value),
    ]));
    Ok(())
}

/// Add the glibc-compat init container, emptyDir and job-container mounts to
/// a job-pod patch. The hooks replace the job pod's initContainers with the
/// patch's, so in kubernetes-novolume (cached-privileged-kubernetes) the
/// hooks' own fs-init comes first; the kubernetes hooks add none.
fn add_glibc_compat(spec: &mut Value, mode: Mode, image: &str) -> Result<()> {
    let with_image = |name: &'static str, text: &'static str| {
        let mut c = parse_template(name, text);
        if let Some(m) = c.as_mapping_mut() {
            set(m, "image", image);
        }
        c
    };
    let mut inits = Vec::new();
    if mode == Mode::CachedPrivilegedKubernetes {
        inits.push(with_image(
            "job-pod-novolume-fs-init.yaml",
            JOB_POD_NOVOLUME_FS_INIT,
        ));
    }
    inits.push(with_image(
        "job-pod-glibc-compat.yaml",
        JOB_POD_GLIBC_COMPAT,
    ));
    seq_at(spec, &[], "initContainers").extend(inits);
    seq_at(container(spec, "containers", "$job")?, &[], "volumeMounts").extend(
        GLIBC_COMPAT_MOUNTS
            .iter()
            .map(|p| volume_mount(GLIBC_COMPAT_VOLUME, p)),
    );
    let mut volume = Mapping::new();
    set(&mut volume, "name", GLIBC_COMPAT_VOLUME);
    set(&mut volume, "emptyDir", Value::Mapping(Mapping::new()));
    seq_at(spec, &[], "volumes").push(Value::Mapping(volume));
    Ok(())
}

/// A job pod that mounts the node's /proc shares the node's PID and IPC
/// namespaces: containerd started inside the job writes OOM scores under
/// /proc/<pid> for the PIDs it sees, which must be the node's PIDs ("failed
/// to adjust OOM score for shim ... no such file or directory" otherwise).
/// The hooks copy pod-level keys of the patch into the job pod.
fn share_host_namespaces_with_node_proc(spec: &mut Value) {
    let mounts_proc = spec
        .get("volumes")
        .and_then(Value::as_sequence)
        .is_some_and(|vs| {
            vs.iter().any(|v| {
                v.get("hostPath")
                    .and_then(|h| h.get("path"))
                    .and_then(Value::as_str)
                    == Some("/proc")
            })
        });
    if mounts_proc {
        let m = map_at(spec, &[]);
        set(m, "hostPID", true);
        set(m, "hostIPC", true);
    }
}

/// Render one instance of an installation.
pub fn render_instance(
    cluster: &ClusterSettings,
    name: &str,
    inst: &Installation,
    instance: &str,
) -> Result<InstanceRender> {
    let mut values = parse_template("scale-set-values.yaml", SCALE_SET_VALUES);
    {
        let top = values
            .as_mapping_mut()
            .expect("values template is a mapping");
        set(top, "githubConfigUrl", inst.repository.as_str());
        set(top, "githubConfigSecret", credential_values(&inst.auth));
        set(top, "runnerScaleSetName", instance);
        set(top, "minRunners", u64::from(inst.min_runners));
        set(top, "maxRunners", u64::from(inst.max_runners));
        if let Some(proxy) = &cluster.proxy {
            set(top, "proxy", proxy_values(proxy));
        }
        if inst.github_ca.is_some() {
            set(
                top,
                "githubServerTLS",
                github_server_tls(&github_ca_configmap_name(instance)),
            );
        }
        if !inst.labels.is_empty() {
            set(
                top,
                "scaleSetLabels",
                Value::Sequence(inst.labels.iter().map(|l| l.as_str().into()).collect()),
            );
        }
    }
    {
        let labels = map_at(&mut values, &["labels"]);
        set(labels, LABEL_INSTALLATION, name);
        set(labels, LABEL_INSTANCE, instance);
    }

    // On kind every cache is a host directory that the node mounts. On an
    // existing cluster a cache is a claim, unless it names a directory of the
    // node the installation is pinned to (validation requires `node:` then).
    let mut host_paths = Vec::new();
    let mut claims = Vec::new();
    let cache_volumes: Vec<Value> = inst
        .caches
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let volume = format!("cache-{i}");
            if cluster.is_kind() {
                let host = cache_host_path(cluster, instance, i, c.host_path.as_deref());
                let v = host_path_volume(&volume, &host);
                host_paths.push(host);
                v
            } else if let Some(host) = &c.host_path {
                host_path_volume(&volume, host)
            } else {
                claims.push(cache_claim(cluster, name, instance, i, &c.path));
                claim_volume(&volume, &cache_claim_name(instance, i))
            }
        })
        .collect();
    let cache_mounts: Vec<Value> = inst
        .caches
        .iter()
        .enumerate()
        .map(|(i, c)| volume_mount(&format!("cache-{i}"), &c.path))
        .collect();

    let mut hook_extension = None;
    match inst.mode {
        Mode::Kubernetes => {
            merge(
                &mut values,
                parse_template("mode-kubernetes.yaml", MODE_KUBERNETES),
            );
            // kind's class is `standard`; another cluster has its own.
            if !cluster.is_kind() {
                let claim = map_at(
                    &mut values,
                    &["containerMode", "kubernetesModeWorkVolumeClaim"],
                );
                if cluster.cache_storage_class.is_empty() {
                    claim.remove("storageClassName");
                } else {
                    set(
                        claim,
                        "storageClassName",
                        cluster.cache_storage_class.as_str(),
                    );
                }
            }
        }
        Mode::CachedPrivilegedKubernetes => merge(
            &mut values,
            parse_template("mode-cached-privileged-kubernetes.yaml", MODE_PRIVILEGED),
        ),
        Mode::Dind if !spells_out_dind_pod(inst) => {
            merge(&mut values, parse_template("mode-dind.yaml", MODE_DIND))
        }
        Mode::Dind => {
            merge(&mut values, parse_template("dind-pod.yaml", DIND_POD));
            let spec = values
                .get_mut("template")
                .and_then(|t| t.get_mut("spec"))
                .context("dind template has no template.spec")?;
            for (list, name) in [("initContainers", "dind"), ("containers", "runner")] {
                let c = container(spec, list, name)?;
                seq_at(c, &[], "volumeMounts").extend(cache_mounts.iter().cloned());
            }
            seq_at(spec, &[], "volumes").extend(cache_volumes.iter().cloned());
            // The chart copies the runner's externals with the runner image.
            let init = container(spec, "initContainers", "init-dind-externals")?;
            set_key(init, "image", inst.runner_image());
            let dind = container(spec, "initContainers", "dind")?;
            set_key(dind, "image", inst.dind_image());
            if !inst.resources.dind.is_empty() {
                set_key(dind, "resources", resources_value(&inst.resources.dind));
            }
        }
    }

    {
        let spec = values
            .get_mut("template")
            .and_then(|t| t.get_mut("spec"))
            .context("values template has no template.spec")?;
        let runner = container(spec, "containers", "runner")?;
        set_key(runner, "image", inst.runner_image());
        if !inst.resources.runner.is_empty() {
            set_key(runner, "resources", resources_value(&inst.resources.runner));
        }
    }
    if let Some(rule) = inst.effective_job_container() {
        set_require_job_container(&mut values, rule)?;
    }

    if !inst.env.is_empty() {
        let mut runner = Mapping::new();
        set(&mut runner, "name", "runner");
        set(&mut runner, "env", Value::Sequence(env_list(&inst.env)));
        merge(&mut values, container_patch("containers", runner));
    }

    if uses_hook_extension(cluster, inst) {
        let cm_name = hook_configmap_name(inst.mode, instance);
        let mut wiring = parse_template("hook-wiring.yaml", HOOK_WIRING);
        let volume = wiring
            .get_mut("template")
            .and_then(|t| t.get_mut("spec"))
            .and_then(|s| s.get_mut("volumes"))
            .and_then(|v| v.get_mut(0))
            .and_then(|v| v.get_mut("configMap"))
            .and_then(Value::as_mapping_mut)
            .context("hook-wiring template has no configMap volume")?;
        set(volume, "name", cm_name.as_str());
        merge(&mut values, wiring);

        let mut patch = parse_template("job-pod.yaml", JOB_POD);
        if inst.mode == Mode::CachedPrivilegedKubernetes {
            merge(
                &mut patch,
                parse_template("job-pod-privileged.yaml", JOB_POD_PRIVILEGED),
            );
        }
        let spec = patch
            .get_mut("spec")
            .context("job-pod template has no spec")?;
        let job = container(spec, "containers", "$job")?;
        seq_at(job, &[], "volumeMounts").extend(cache_mounts);
        if !inst.env.is_empty() {
            seq_at(job, &[], "env").extend(env_list(&inst.env));
        }
        if !inst.resources.job.is_empty() {
            set_key(job, "resources", resources_value(&inst.resources.job));
        }
        seq_at(spec, &[], "volumes").extend(cache_volumes);
        if inst.github_ca.is_some() {
            let mut ca = parse_template("job-pod-github-ca.yaml", JOB_POD_GITHUB_CA);
            let cm = ca
                .get_mut("spec")
                .and_then(|s| s.get_mut("volumes"))
                .and_then(|v| v.get_mut(0))
                .and_then(|v| v.get_mut("configMap"))
                .and_then(Value::as_mapping_mut)
                .context("job-pod-github-ca template has no configMap volume")?;
            set(cm, "name", github_ca_configmap_name(instance));
            if let Some(ca_spec) = ca.get_mut("spec") {
                merge(spec, std::mem::take(ca_spec));
            }
        }
        if inst.glibc_compat {
            add_glibc_compat(spec, inst.mode, &runner_image(&mut values)?)?;
        }
        share_host_namespaces_with_node_proc(spec);
        if let Some(node) = &inst.node {
            set(map_at(spec, &["nodeSelector"]), NODE_LABEL, node.as_str());
        }
        if let Some(proxy) = &cluster.proxy {
            let env = seq_at(container(spec, "containers", "$job")?, &[], "env");
            for e in job_proxy_env(proxy) {
                // The user's own --env wins, as on the runner.
                let name = e.get("name").and_then(Value::as_str).unwrap_or_default();
                if !inst.env.contains_key(name) {
                    env.push(e);
                }
            }
        }

        let mut cm = parse_template("hook-extension-configmap.yaml", HOOK_CONFIGMAP);
        let meta = map_at(&mut cm, &["metadata"]);
        set(meta, "name", cm_name.as_str());
        set(meta, "namespace", cluster.namespace.as_str());
        let labels = map_at(&mut cm, &["metadata", "labels"]);
        set(labels, LABEL_INSTALLATION, name);
        set(labels, LABEL_INSTANCE, instance);
        set(
            map_at(&mut cm, &["data"]),
            "content",
            crate::yaml::value_to_string(&patch)?,
        );
        hook_extension = Some(cm);
    }

    if let Some(node) = &inst.node {
        set(
            map_at(&mut values, &["template", "spec", "nodeSelector"]),
            NODE_LABEL,
            node.as_str(),
        );
    }

    let github_ca = inst
        .github_ca
        .as_deref()
        .map(|pem| github_ca_configmap(cluster, name, instance, pem));
    let inputs_hash = inputs_hash(
        cluster,
        &values,
        [hook_extension.as_ref(), github_ca.as_ref()],
    )?;
    set(
        map_at(&mut values, &["annotations"]),
        ANNOTATION_INPUTS_HASH,
        inputs_hash.as_str(),
    );
    let mut github_ca = github_ca;
    for cm in [hook_extension.as_mut(), github_ca.as_mut()]
        .into_iter()
        .flatten()
    {
        set(
            map_at(cm, &["metadata", "annotations"]),
            ANNOTATION_INPUTS_HASH,
            inputs_hash.as_str(),
        );
    }
    Ok(InstanceRender {
        installation: name.to_string(),
        instance: instance.to_string(),
        mode: inst.mode,
        values,
        hook_extension,
        github_ca,
        inputs_hash,
        cache_host_paths: host_paths,
        claims,
    })
}

fn inputs_hash(
    cluster: &ClusterSettings,
    values: &Value,
    configmaps: [Option<&Value>; 2],
) -> Result<String> {
    let mut h = Sha256::new();
    let chart = &cluster.scale_set_chart;
    h.update(format!(
        "{}\n{}\n{}\n",
        chart.source, chart.version, cluster.namespace
    ));
    // The proxy credentials live in a Secret the values only name: a new
    // password must still make `up` upgrade (and so re-apply the Secret).
    if let Some(proxy) = &cluster.proxy {
        for secret in proxy_secrets(proxy, &cluster.namespace) {
            h.update(serde_json::to_vec(&secret)?);
        }
    }
    // The same bytes as `serde_json::to_vec`, streamed into the hash
    // through a buffer instead of collected first.
    {
        let mut w = std::io::BufWriter::with_capacity(8192, HashWriter(&mut h));
        serde_json::to_writer(&mut w, values)?;
        for cm in configmaps.into_iter().flatten() {
            serde_json::to_writer(&mut w, cm)?;
        }
        std::io::Write::flush(&mut w)?;
    }
    let digest = h.finalize();
    Ok(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// Bytes written into a hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Render the whole config, or only the named installations (the kind config
/// and controller values are always included, where the cluster uses them).
pub fn render(config: &Config, only: &[String]) -> Result<Rendered> {
    for name in only {
        if !config.installations.contains_key(name) {
            bail!(crate::error::InputError(format!(
                "no installation named {name:?}; `deskrun list` shows the configured ones"
            )));
        }
    }
    let jobs: Vec<(&String, &Installation, String)> = config
        .installations
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .flat_map(|(name, inst)| {
            inst.instance_names(name)
                .into_iter()
                .map(move |instance| (name, inst, instance))
        })
        .collect();
    let instances = par_map(&jobs, |(name, inst, instance)| {
        render_instance(&config.cluster, name, inst, instance)
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let mirrors = if config.cluster.is_kind() {
        crate::mirrors::specs(&config.cluster)?
    } else {
        vec![]
    };
    let hosts_dir = if mirrors.is_empty() {
        None
    } else {
        Some(crate::mirrors::hosts_dir(&config.cluster)?)
    };
    Ok(Rendered {
        kind_cluster: if config.cluster.is_kind() {
            Some(kind_cluster(config)?)
        } else {
            None
        },
        mirrors,
        hosts_dir,
        controller_values: config.cluster.manages_controller().then(controller_values),
        instances,
        proxy_secrets: config
            .cluster
            .proxy
            .as_ref()
            .map(|p| proxy_secrets(p, &config.cluster.namespace))
            .unwrap_or_default(),
    })
}

/// A rendered file: its path relative to `--output-dir` and its YAML text.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFile {
    pub path: String,
    pub text: String,
}

impl Rendered {
    /// The files of `render --output-dir`, in a stable order.
    pub fn files(&self, show_secrets: bool) -> Result<Vec<RenderedFile>> {
        let file = |path: String, doc: &Value| -> Result<RenderedFile> {
            Ok(RenderedFile {
                path,
                text: crate::yaml::value_to_string(doc)?,
            })
        };
        let mut out = Vec::new();
        if let Some(kind) = &self.kind_cluster {
            out.push(file("kind-cluster.yaml".into(), kind)?);
        }
        if let Some(values) = &self.controller_values {
            out.push(file("controller/values.yaml".into(), values)?);
        }
        let per_instance = par_map(&self.instances, |inst| -> Result<Vec<RenderedFile>> {
            let mut files = vec![RenderedFile {
                path: format!("{}/values.yaml", inst.instance),
                text: values_text(&inst.values, show_secrets)?,
            }];
            if let Some(cm) = &inst.hook_extension {
                files.push(file(format!("{}/hook-extension.yaml", inst.instance), cm)?);
            }
            if let Some(cm) = &inst.github_ca {
                files.push(file(format!("{}/github-ca.yaml", inst.instance), cm)?);
            }
            for claim in &inst.claims {
                let name = claim
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let file_name = name
                    .strip_prefix(&format!("{}-", inst.instance))
                    .unwrap_or(name);
                files.push(file(
                    format!("{}/claim-{file_name}.yaml", inst.instance),
                    claim,
                )?);
            }
            Ok(files)
        });
        for files in per_instance {
            out.extend(files?);
        }
        if let Some(doc) = self.mirrors_doc() {
            out.push(file("registry-mirrors.yaml".into(), &doc)?);
        }
        for secret in &self.proxy_secrets {
            let mut secret = secret.clone();
            if !show_secrets && let Some(data) = secret.get_mut("stringData") {
                set_key(data, "password", REDACTED);
                // The URL keeps its user name, as `username` shows it.
                if let Some(url) = data.get(PROXY_SECRET_URL_KEY).and_then(Value::as_str) {
                    let shown = redact_url_password(url);
                    set_key(data, PROXY_SECRET_URL_KEY, shown);
                }
            }
            let name = secret
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("proxy")
                .to_string();
            out.push(file(format!("{name}.yaml"), &secret)?);
        }
        Ok(out)
    }

    /// The registry mirrors as `up` makes them: each container's `docker`
    /// arguments and the `hosts.toml` the node reads. `None`: mirrors off.
    fn mirrors_doc(&self) -> Option<Value> {
        let dir = self.hosts_dir.as_ref()?;
        let mirrors: Vec<Value> = self
            .mirrors
            .iter()
            .map(|m| {
                let mut e = Mapping::new();
                set(&mut e, "upstream", m.upstream.as_str());
                set(&mut e, "container", m.name.as_str());
                set(
                    &mut e,
                    "docker",
                    Value::Sequence(m.run_args().into_iter().map(Value::String).collect()),
                );
                let hosts = crate::mirrors::hosts_file(m);
                set(&mut e, "hosts_file", format!("{dir}/{}", hosts.path));
                set(&mut e, "hosts_toml", hosts.text);
                Value::Mapping(e)
            })
            .collect();
        let mut doc = Mapping::new();
        set(&mut doc, "hosts_dir", dir.as_str());
        set(&mut doc, "mirrors", Value::Sequence(mirrors));
        Some(Value::Mapping(doc))
    }
}

/// `items.map(f)` on the machine's cores, in order. Rendering hundreds of
/// instances is mostly YAML emitting, which parallelises perfectly; a few
/// are not worth a thread.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 16 {
        return items.iter().map(f).collect();
    }
    crate::par::parallel(items, crate::par::cores(), f)
}

/// One YAML stream, each document preceded by `# Source: <path>`.
pub fn to_stream(files: &[RenderedFile]) -> String {
    let mut out = String::new();
    for f in files {
        out.push_str("---\n# Source: ");
        out.push_str(&f.path);
        out.push('\n');
        out.push_str(&f.text);
    }
    out
}
