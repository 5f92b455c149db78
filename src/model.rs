//! The configuration of runner installations, as stored in the config file.
//!
//! Field names are the file's keys (`snake_case`); every struct rejects
//! unknown keys so that a typo is reported instead of silently ignored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The schema version this deskrun reads and writes.
pub const CONFIG_VERSION: u32 = 1;

pub const DEFAULT_CLUSTER_NAME: &str = "deskrun";
pub const DEFAULT_NAMESPACE: &str = "arc-systems";
pub const DEFAULT_CACHE_ROOT: &str = "/tmp/github-runner-cache";
/// Registries mirrored by default: the runner, controller and `docker:dind`
/// images, and most job images, come from these two.
pub const DEFAULT_REGISTRY_MIRRORS: [&str; 2] = ["docker.io", "ghcr.io"];
pub const DEFAULT_CHART_VERSION: &str = "0.14.2";
pub const CHART_REGISTRY: &str = "oci://ghcr.io/actions/actions-runner-controller-charts";
pub const CONTROLLER_CHART: &str = "gha-runner-scale-set-controller";
pub const SCALE_SET_CHART: &str = "gha-runner-scale-set";
/// The Helm release name of the ARC controller.
pub const CONTROLLER_RELEASE: &str = "arc";
/// Size of each cache's PersistentVolumeClaim on an existing cluster.
pub const DEFAULT_CACHE_SIZE: &str = "20Gi";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub installations: BTreeMap<String, Installation>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CONFIG_VERSION,
            cluster: ClusterSettings::default(),
            installations: BTreeMap::new(),
        }
    }
}

/// Settings shared by every installation: where and how they are deployed.
///
/// Keys added after the first release (`provider` and below) are left out of
/// the file while they hold their default, so a kind user's file stays as an
/// older deskrun wrote it and can still be read by one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// kind cluster name; kubectl/helm use the context `kind-<name>`.
    pub name: String,
    /// Namespace of the ARC controller and of every scale set.
    pub namespace: String,
    /// Host directory under which `--cache PATH` caches get their folders.
    pub cache_root: String,
    pub controller_chart: ChartSource,
    pub scale_set_chart: ChartSource,
    /// Upstream registries served by a pull-through mirror on the kind
    /// network (`[]`: none).
    pub registry_mirrors: Vec<String>,
    /// Host directory of the mirrors' data; `None`: `<cache dir>/deskrun/registry`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_root: Option<String>,
    /// Which cluster: a kind cluster deskrun creates, or one that exists.
    #[serde(skip_serializing_if = "Provider::is_kind")]
    pub provider: Provider,
    /// The kubeconfig context of an `existing` cluster (required there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Whether deskrun installs the ARC controller or uses one already there.
    #[serde(skip_serializing_if = "ControllerMode::is_managed")]
    pub controller: ControllerMode,
    /// Storage class of cache claims on an existing cluster; empty: the
    /// cluster's default class.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cache_storage_class: String,
    /// Size of each cache claim on an existing cluster (a Kubernetes quantity).
    #[serde(skip_serializing_if = "is_default_cache_size")]
    pub cache_size: String,
    /// The proxy every scale set's listener and runners use (the chart's
    /// `proxy` values); `None`: direct connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySettings>,
}

/// `cluster.proxy`. A URL may carry `user:password@`: those are secrets,
/// kept in the config (0600) and handed to ARC in a Secret, never printed.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Proxy for http:// URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Proxy for https:// URLs (GitHub's API and git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    /// Hosts, domains (`.example.com`), IPs and CIDRs reached directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

/// A proxy URL split into what may be shown and its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `scheme://host[:port]`, no credentials.
    pub url: String,
    /// Percent-decoded `user` and `password`, when the URL had them.
    pub credentials: Option<(String, String)>,
}

impl ProxySettings {
    /// `(http|https, URL)` for the URLs that are set.
    pub fn urls(&self) -> Vec<(&'static str, &str)> {
        [("http", &self.http), ("https", &self.https)]
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|u| (k, u)))
            .collect()
    }

    /// The credentials of every URL, raw and decoded, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, url) in self.urls() {
            if let Some(userinfo) = userinfo(url) {
                out.push(userinfo.to_string());
                if let Some((_, pw)) = userinfo.split_once(':') {
                    out.push(pw.to_string());
                    out.push(percent_decode(pw));
                }
            }
        }
        out
    }
}

/// The `user:password` part of `scheme://user:password@host`.
pub fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once('@').map(|(u, _)| u)
}

/// `url` without its `user:password@`.
pub fn without_userinfo(url: &str) -> String {
    match (url.split_once("://"), userinfo(url)) {
        (Some((scheme, rest)), Some(u)) => format!("{scheme}://{}", &rest[u.len() + 1..]),
        _ => url.to_string(),
    }
}

/// Decode `%XX` escapes (RFC 3986); other bytes are kept.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ProxyUrl {
    pub fn parse(url: &str) -> ProxyUrl {
        ProxyUrl {
            url: without_userinfo(url).trim_end_matches('/').to_string(),
            credentials: userinfo(url).map(|u| {
                let (user, pw) = u.split_once(':').unwrap_or((u, ""));
                (percent_decode(user), percent_decode(pw))
            }),
        }
    }
}

// Never print proxy credentials, not even in debug output.
impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |u: &Option<String>| u.as_deref().map(without_userinfo);
        f.debug_struct("ProxySettings")
            .field("http", &shown(&self.http))
            .field("https", &shown(&self.https))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

fn is_default_cache_size(s: &str) -> bool {
    s == DEFAULT_CACHE_SIZE
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            name: DEFAULT_CLUSTER_NAME.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            cache_root: DEFAULT_CACHE_ROOT.into(),
            controller_chart: ChartSource::official(CONTROLLER_CHART),
            scale_set_chart: ChartSource::official(SCALE_SET_CHART),
            registry_mirrors: DEFAULT_REGISTRY_MIRRORS.map(String::from).to_vec(),
            mirror_root: None,
            provider: Provider::Kind,
            context: None,
            controller: ControllerMode::Managed,
            cache_storage_class: String::new(),
            cache_size: DEFAULT_CACHE_SIZE.into(),
            proxy: None,
        }
    }
}

impl ClusterSettings {
    /// The kubeconfig context every kubectl and helm call names: `kind-<name>`
    /// for kind, the configured one for an existing cluster.
    pub fn context(&self) -> String {
        match (self.provider, &self.context) {
            (Provider::Existing, Some(c)) => c.clone(),
            _ => format!("kind-{}", self.name),
        }
    }

    pub fn is_kind(&self) -> bool {
        self.provider == Provider::Kind
    }

    /// Whether deskrun installs and owns the ARC controller.
    pub fn manages_controller(&self) -> bool {
        self.controller == ControllerMode::Managed
    }

    /// One line naming where deskrun deploys: shown by list, status, render.
    pub fn target(&self) -> String {
        match self.provider {
            Provider::Kind => format!(
                "kind cluster {} (context {}, namespace {})",
                self.name,
                self.context(),
                self.namespace
            ),
            Provider::Existing => format!(
                "existing cluster, context {} (namespace {}, {} controller)",
                self.context(),
                self.namespace,
                self.controller
            ),
        }
    }
}

/// Where the installations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// A local kind cluster that deskrun creates and deletes.
    #[default]
    Kind,
    /// A cluster that already exists (a kubeconfig context); deskrun never
    /// creates or deletes it.
    Existing,
}

impl Provider {
    fn is_kind(&self) -> bool {
        *self == Provider::Kind
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::Existing => "existing",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who runs the ARC controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerMode {
    /// deskrun installs and upgrades its own controller (release `arc`).
    #[default]
    Managed,
    /// The cluster already runs one; deskrun only checks its CRDs and version.
    External,
}

impl ControllerMode {
    fn is_managed(&self) -> bool {
        *self == ControllerMode::Managed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ControllerMode::Managed => "managed",
            ControllerMode::External => "external",
        }
    }
}

impl fmt::Display for ControllerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a Helm chart comes from: an OCI reference or a local chart directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSource {
    pub source: String,
    pub version: String,
}

impl ChartSource {
    pub fn official(chart: &str) -> Self {
        ChartSource {
            source: format!("{CHART_REGISTRY}/{chart}"),
            version: DEFAULT_CHART_VERSION.into(),
        }
    }

    /// A local chart directory: helm ignores `--version` for those.
    pub fn is_local(&self) -> bool {
        !self.source.contains("://")
    }
}

/// One runner installation: a scale set (or several instances of one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installation {
    pub repository: String,
    pub mode: Mode,
    pub min_runners: u32,
    pub max_runners: u32,
    #[serde(default = "one")]
    pub instances: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caches: Vec<Cache>,
    /// Whether a job must declare `container:`; absent means the mode's
    /// default ([`Mode::default_job_container`]). Not allowed in dind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_container: Option<JobContainer>,
    /// Give glibc-less job images (nixos/nix, Alpine) the glibc loader and
    /// libraries the runner's node needs (kubernetes modes only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub glibc_compat: bool,
    /// Pin the runner pods and job pods to this node (`kubernetes.io/hostname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub auth: Auth,
    /// Extra scale-set labels (the chart's `scaleSetLabels`): a job whose
    /// `runs-on:` lists only labels of the scale set runs here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Environment of the runner container and, in the kubernetes modes, of
    /// the job container. Not secret: shown by `list`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The runner image; `None` is [`DEFAULT_RUNNER_IMAGE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_image: Option<String>,
    /// The dind sidecar's image (dind mode); `None` is [`DEFAULT_DIND_IMAGE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dind_image: Option<String>,
    /// Requests and limits of the runner, job and dind containers.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// An `http://` GitHub Enterprise Server URL is allowed: the credential
    /// then travels unencrypted (`add --allow-http`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_http: bool,
    /// PEM certificates (one or more CAs) that the controller, listener,
    /// runners and job containers trust for the GitHub URL
    /// (`add --github-ca-file`): a GitHub Enterprise Server signed by a
    /// private CA. Public, not a secret; kept here so `up` needs no file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_ca: Option<String>,
}

/// Not pinned on purpose: GitHub stops accepting runners that fall too far
/// behind the current release, and ARC's runners do not update themselves.
pub const DEFAULT_RUNNER_IMAGE: &str = "ghcr.io/actions/actions-runner:latest";
pub const DEFAULT_DIND_IMAGE: &str = "docker:dind";

/// The containers whose resources deskrun sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// The runner container (every mode).
    #[serde(default, skip_serializing_if = "ContainerResources::is_empty")]
    pub runner: ContainerResources,
    /// The job pod's `$job` container (the kubernetes modes).
    #[serde(default, skip_serializing_if = "ContainerResources::is_empty")]
    pub job: ContainerResources,
    /// The dind sidecar (dind mode).
    #[serde(default, skip_serializing_if = "ContainerResources::is_empty")]
    pub dind: ContainerResources,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.runner.is_empty() && self.job.is_empty() && self.dind.is_empty()
    }

    /// The three containers with their config names.
    pub fn each(&self) -> [(&'static str, &ContainerResources); 3] {
        [
            ("runner", &self.runner),
            ("job", &self.job),
            ("dind", &self.dind),
        ]
    }

    pub fn get_mut(&mut self, container: &str) -> Option<&mut ContainerResources> {
        match container {
            "runner" => Some(&mut self.runner),
            "job" => Some(&mut self.job),
            "dind" => Some(&mut self.dind),
            _ => None,
        }
    }
}

/// Kubernetes `resources` of one container: resource name (`cpu`, `memory`,
/// `ephemeral-storage`) to quantity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerResources {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
}

impl ContainerResources {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.limits.is_empty()
    }
}

/// A quantity as written (`2`, `500m`, `8Gi`). The file may say `cpu: 2`
/// without quotes, so numbers are read too; it is always written as a string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 2, 500m or 8Gi")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn one() -> u32 {
    1
}

/// An empty installation (no URL, no credential): not valid as it is, but a
/// base for struct literals that set only what they care about.
impl Default for Installation {
    fn default() -> Self {
        Installation {
            repository: String::new(),
            mode: Mode::Kubernetes,
            min_runners: 1,
            max_runners: 5,
            instances: 1,
            caches: vec![],
            job_container: None,
            glibc_compat: false,
            node: None,
            auth: Auth::Pat {
                token: String::new(),
            },
            labels: vec![],
            env: BTreeMap::new(),
            runner_image: None,
            dind_image: None,
            resources: Resources::default(),
            allow_http: false,
            github_ca: None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Installation {
    /// The job-container rule in effect: the setting, else the mode's
    /// default; `None` in dind, where jobs run in the runner container.
    pub fn effective_job_container(&self) -> Option<JobContainer> {
        self.job_container
            .or_else(|| self.mode.default_job_container())
            .filter(|_| self.mode != Mode::Dind)
    }

    pub fn runner_image(&self) -> &str {
        self.runner_image.as_deref().unwrap_or(DEFAULT_RUNNER_IMAGE)
    }

    pub fn dind_image(&self) -> &str {
        self.dind_image.as_deref().unwrap_or(DEFAULT_DIND_IMAGE)
    }

    /// The scale-set names: `<name>` for one instance, `<name>-1..N` for several.
    /// Workflows use them in `runs-on:`.
    pub fn instance_names(&self, name: &str) -> Vec<String> {
        if self.instances <= 1 {
            vec![name.to_string()]
        } else {
            (1..=self.instances)
                .map(|i| format!("{name}-{i}"))
                .collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// ARC's kubernetes container mode: each job runs in its own pod.
    Kubernetes,
    /// kubernetes-novolume with a privileged job pod and host-path caches.
    CachedPrivilegedKubernetes,
    /// A docker:dind sidecar next to the runner.
    Dind,
}

impl Mode {
    pub const ALL: [Mode; 3] = [
        Mode::Kubernetes,
        Mode::CachedPrivilegedKubernetes,
        Mode::Dind,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Kubernetes => "kubernetes",
            Mode::CachedPrivilegedKubernetes => "cached-privileged-kubernetes",
            Mode::Dind => "dind",
        }
    }
}

impl Mode {
    /// `required` in kubernetes (ARC's own default), `optional` in
    /// cached-privileged-kubernetes (a job without `container:` runs in the
    /// unprivileged runner pod), none in dind.
    pub fn default_job_container(self) -> Option<JobContainer> {
        match self {
            Mode::Kubernetes => Some(JobContainer::Required),
            Mode::CachedPrivilegedKubernetes => Some(JobContainer::Optional),
            Mode::Dind => None,
        }
    }

    /// The modes whose jobs run in pods made by the container hooks.
    pub fn is_kubernetes(self) -> bool {
        matches!(self, Mode::Kubernetes | Mode::CachedPrivilegedKubernetes)
    }
}

/// Whether a job must declare `container:` (ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobContainer {
    /// A job without `container:` fails at once.
    Required,
    /// A job without `container:` runs its steps in the runner pod.
    Optional,
}

impl JobContainer {
    pub fn as_str(self) -> &'static str {
        match self {
            JobContainer::Required => "required",
            JobContainer::Optional => "optional",
        }
    }
}

impl fmt::Display for JobContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cache mounted at `path` in the job: a host directory on kind, a
/// PersistentVolumeClaim on an existing cluster (or a directory of the pinned
/// node when `host_path` is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Where the job sees the cache (absolute).
    pub path: String,
    /// Host directory; when absent, `<cache_root>/<instance>/cache-<index>`
    /// on kind and a claim on an existing cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
}

impl fmt::Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host_path {
            Some(host) => write!(f, "{host}:{}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// The GitHub credential of an installation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Auth {
    Pat {
        token: String,
    },
    GithubApp {
        app_id: String,
        installation_id: String,
        private_key: String,
    },
}

impl Auth {
    pub fn kind(&self) -> AuthType {
        match self {
            Auth::Pat { .. } => AuthType::Pat,
            Auth::GithubApp { .. } => AuthType::GithubApp,
        }
    }

    /// The secret strings, for redaction of everything deskrun prints.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Pat { token } => vec![token.clone()],
            Auth::GithubApp { private_key, .. } => vec![private_key.clone()],
        }
    }
}

// Never print a credential, not even in debug output.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Pat { .. } => f.write_str("Pat { token: <redacted> }"),
            Auth::GithubApp {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "GithubApp {{ app_id: {app_id:?}, installation_id: {installation_id:?}, private_key: <redacted> }}"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    Pat,
    GithubApp,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Pat => "pat",
            AuthType::GithubApp => "github-app",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Config {
    /// Every secret in the config, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        self.installations
            .values()
            .flat_map(|i| i.auth.secrets())
            .chain(self.cluster.proxy.iter().flat_map(ProxySettings::secrets))
            .collect()
    }
}

/// What a credential is replaced by wherever it would be shown (rendered
/// values, tool output, errors). Non-empty, so the chart still accepts
/// redacted values.
pub const REDACTED: &str = "<redacted>";
