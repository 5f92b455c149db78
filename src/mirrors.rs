//! Pull-through registry mirrors for the kind cluster (pure).
//!
//! Each upstream registry in `cluster.registry_mirrors` gets one container of
//! the CNCF distribution registry (`registry:2`) in proxy mode on kind's
//! Docker network. The kind node's containerd finds them through one
//! `hosts.toml` per upstream in a host directory mounted at
//! `/etc/containerd/certs.d`: an image then crosses the network once per
//! machine, not once per cluster. The containers outlive every cluster.
//!
//! This module decides what the containers, the `hosts.toml` files and the
//! kind config look like, and what to do given what Docker reports; the
//! calls themselves are in `ops::mirrors`.

use crate::model::ClusterSettings;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The distribution registry, whose proxy mode is a pull-through cache.
pub const MIRROR_IMAGE: &str = "registry:2";
/// The port the registry listens on inside its container. Nothing is
/// published on the host: only the kind network reaches it.
pub const MIRROR_PORT: u16 = 5000;
/// The Docker network kind puts its nodes on.
pub const KIND_NETWORK: &str = "kind";
/// Where the registry keeps its data inside the container.
pub const REGISTRY_DATA: &str = "/var/lib/registry";
/// containerd's registry host directory inside the kind node.
pub const CERTS_D: &str = "/etc/containerd/certs.d";
pub const RESTART_POLICY: &str = "unless-stopped";

/// Labels on the mirror containers: deskrun's, which upstream, and a hash of
/// the whole container spec so that a changed config is noticed.
pub const LABEL_MIRROR: &str = "deskrun.dev/mirror";
pub const LABEL_MIRROR_HASH: &str = "deskrun.dev/mirror-hash";

/// The containerd config patch that makes the CRI plugin read `hosts.toml`
/// files from [`CERTS_D`] (kind's "local registry" setup). TOML, constant.
pub const CONTAINERD_PATCH: &str = "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n";

/// The container name of an upstream's mirror: `deskrun-mirror-docker-io`.
pub fn mirror_name(upstream: &str) -> String {
    let tail: String = upstream
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("deskrun-mirror-{tail}")
}

/// Where the mirror fetches from: Docker Hub's registry API is not at
/// `docker.io` itself.
pub fn remote_url(upstream: &str) -> String {
    match upstream {
        "docker.io" => "https://registry-1.docker.io".to_string(),
        other => format!("https://{other}"),
    }
}

/// The mirrors' data directory on the host: `cluster.mirror_root`, else
/// `$XDG_CACHE_HOME/deskrun/registry`.
pub fn mirror_root(cluster: &ClusterSettings) -> Result<String> {
    if let Some(root) = &cluster.mirror_root {
        return Ok(root.trim_end_matches('/').to_string());
    }
    let dir = dirs::cache_dir().context(
        "cannot find your cache directory (is HOME set?) for the registry mirrors' data; \
         set cluster.mirror_root in the config, or `registry_mirrors: []` to turn mirrors off",
    )?;
    let path = dir.join("deskrun").join("registry");
    let text = path.to_str().with_context(|| {
        format!(
            "the cache directory {} is not UTF-8; set cluster.mirror_root",
            path.display()
        )
    })?;
    // The default is checked like a configured value: kind and Docker
    // mounts cannot take every path.
    crate::validate::normalize_abs_path("the default mirror root ($XDG_CACHE_HOME)", text)
}

/// The host directory mounted at [`CERTS_D`] in this cluster's node. Per
/// cluster, since two configs may mirror different registries; `_` keeps it
/// apart from every upstream's data directory (host names have no `_`).
pub fn hosts_dir(cluster: &ClusterSettings) -> Result<String> {
    Ok(format!(
        "{}/_containerd/{}",
        mirror_root(cluster)?,
        cluster.name
    ))
}

/// One mirror container, as deskrun runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorSpec {
    /// The registry it mirrors, as image names say it (`docker.io`).
    pub upstream: String,
    /// Container name, also its host name on the kind network.
    pub name: String,
    pub image: String,
    /// `REGISTRY_PROXY_REMOTEURL`.
    pub remote_url: String,
    /// Host directory bind-mounted at [`REGISTRY_DATA`].
    pub data_dir: String,
    pub network: String,
    pub restart: String,
    /// Every label, the spec hash included.
    pub labels: BTreeMap<String, String>,
    /// Hash of everything above but the hash label.
    pub hash: String,
}

impl MirrorSpec {
    pub fn new(upstream: &str, root: &str) -> MirrorSpec {
        let mut spec = MirrorSpec {
            upstream: upstream.to_string(),
            name: mirror_name(upstream),
            image: MIRROR_IMAGE.to_string(),
            remote_url: remote_url(upstream),
            data_dir: format!("{root}/{upstream}"),
            network: KIND_NETWORK.to_string(),
            restart: RESTART_POLICY.to_string(),
            labels: BTreeMap::from([
                (crate::render::LABEL_MANAGED.to_string(), "true".to_string()),
                (LABEL_MIRROR.to_string(), upstream.to_string()),
            ]),
            hash: String::new(),
        };
        spec.hash = spec.compute_hash();
        spec.labels
            .insert(LABEL_MIRROR_HASH.to_string(), spec.hash.clone());
        spec
    }

    fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.name,
            &self.image,
            &self.remote_url,
            &self.data_dir,
            &self.network,
            &self.restart,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for (k, v) in &self.labels {
            h.update(format!("{k}={v}\0").as_bytes());
        }
        h.update(MIRROR_PORT.to_string().as_bytes());
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The URL containerd uses for the mirror, on the kind network.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{MIRROR_PORT}", self.name)
    }

    /// `docker` arguments that create and start the container. Each value
    /// is one argument (no shell); `--mount` is used rather than `-v` so a
    /// `:port` in the data directory's name is no separator.
    pub fn run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["run", "--detach", "--name", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--restart".into(),
            self.restart.clone(),
            "--network".into(),
            self.network.clone(),
        ]);
        for (k, v) in &self.labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.extend([
            "--mount".into(),
            format!("type=bind,source={},target={REGISTRY_DATA}", self.data_dir),
            "--env".into(),
            format!("REGISTRY_PROXY_REMOTEURL={}", self.remote_url),
            self.image.clone(),
        ]);
        args
    }
}

/// The container names of the config's mirrors (no filesystem needed).
pub fn names(cluster: &ClusterSettings) -> Vec<String> {
    cluster
        .registry_mirrors
        .iter()
        .map(|u| mirror_name(u))
        .collect()
}

/// The mirror containers the config wants, in config order.
pub fn specs(cluster: &ClusterSettings) -> Result<Vec<MirrorSpec>> {
    if cluster.registry_mirrors.is_empty() {
        return Ok(vec![]);
    }
    let root = mirror_root(cluster)?;
    Ok(cluster
        .registry_mirrors
        .iter()
        .map(|u| MirrorSpec::new(u, &root))
        .collect())
}

/// One file of the containerd hosts directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFile {
    /// Relative to the hosts directory: `docker.io/hosts.toml`.
    pub path: String,
    pub text: String,
}

/// `hosts.toml` for one upstream: pull and resolve through the mirror; when
/// the mirror does not answer, containerd falls back to `server`, the
/// upstream itself, so a stopped mirror slows pulls down but breaks none.
pub fn hosts_file(spec: &MirrorSpec) -> HostsFile {
    let text = format!(
        "# Written by deskrun: pull {upstream} images through the mirror {name}.\n\
         server = {server}\n\
         \n\
         [host.{endpoint}]\n\
         \x20 capabilities = [\"pull\", \"resolve\"]\n",
        upstream = spec.upstream.replace('\n', " "),
        name = spec.name,
        server = toml_string(&spec.remote_url),
        endpoint = toml_string(&spec.endpoint()),
    );
    HostsFile {
        path: format!("{}/hosts.toml", spec.upstream),
        text,
    }
}

/// A TOML basic string (also usable as a quoted key): `"` and `\` escaped,
/// control characters as escapes, so no value can end the string early.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What Docker reports about a mirror container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MirrorState {
    pub name: String,
    pub running: bool,
    /// Docker's state: `running`, `exited`, `restarting`, `created`, …
    pub status: String,
    pub labels: BTreeMap<String, String>,
}

/// What `up` does with one mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorAction {
    /// Runs as configured: no call at all.
    Keep,
    /// No such container: create it.
    Create,
    /// Ours and as configured, but stopped: `docker start`.
    Start,
    /// Ours but from another config (`reason`): remove and create again.
    /// The data directory is kept, so what it holds stays cached.
    Recreate { reason: String },
    /// A container of that name that deskrun did not create: left alone.
    Foreign,
}

impl MirrorAction {
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            MirrorAction::Create | MirrorAction::Start | MirrorAction::Recreate { .. }
        )
    }
}

/// Decide what to do with one mirror from what Docker reported.
pub fn plan_mirror(spec: &MirrorSpec, observed: Option<&MirrorState>) -> MirrorAction {
    let Some(state) = observed else {
        return MirrorAction::Create;
    };
    if state.labels.get(LABEL_MIRROR).map(String::as_str) != Some(spec.upstream.as_str()) {
        return MirrorAction::Foreign;
    }
    match state.labels.get(LABEL_MIRROR_HASH) {
        Some(h) if *h == spec.hash => {}
        other => {
            return MirrorAction::Recreate {
                reason: format!(
                    "its settings changed (spec {} in Docker, {} in the config)",
                    other.map_or("unknown", String::as_str),
                    spec.hash
                ),
            };
        }
    }
    if state.running {
        MirrorAction::Keep
    } else {
        MirrorAction::Start
    }
}

/// One mirror in `up`'s plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorPlan {
    pub spec: MirrorSpec,
    pub action: MirrorAction,
}

impl MirrorPlan {
    /// `ACTION  TARGET  DETAIL` for `up --dry-run`.
    pub fn line(&self) -> [String; 3] {
        let target = format!("mirror/{}", self.spec.name);
        let (action, detail) = match &self.action {
            MirrorAction::Keep => ("unchanged", format!("{} (running)", self.spec.upstream)),
            MirrorAction::Create => (
                "create",
                format!("{} (registry:2 proxy)", self.spec.upstream),
            ),
            MirrorAction::Start => ("start", format!("{} (stopped)", self.spec.upstream)),
            MirrorAction::Recreate { reason } => {
                ("recreate", format!("{} ({reason})", self.spec.upstream))
            }
            MirrorAction::Foreign => (
                "skip",
                "a container of that name that deskrun did not create".to_string(),
            ),
        };
        [action.to_string(), target, detail]
    }
}

/// What to tell the user about a container that has a mirror's name but is
/// not deskrun's: it is left alone, and no `hosts.toml` points at it.
pub fn foreign_notice(spec: &MirrorSpec) -> String {
    format!(
        "a container named {name} exists that deskrun did not create, so it is not used as the {upstream} \
         mirror and {upstream} images are pulled from the internet; rename or remove it \
         (`docker rm -f {name}`) and run `deskrun up` again",
        name = spec.name,
        upstream = spec.upstream
    )
}

/// Whether an existing cluster's node reads the hosts directory the config
/// wants. kind adds mounts only when it creates a cluster, so the answer
/// decides between using the mirrors and saying how to re-create it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum NodeMirrors {
    /// The node mounts `hosts_dir` at `/etc/containerd/certs.d`.
    Ready,
    /// Created without mirrors (nothing at `/etc/containerd/certs.d`).
    Missing,
    /// Created with another mirror root: it mounts `mounted` instead.
    Elsewhere { mounted: String },
}

pub fn node_mirrors(node: &crate::observed::NodeInfo, hosts_dir: &str) -> NodeMirrors {
    match node.source_of(CERTS_D) {
        None => NodeMirrors::Missing,
        Some(src) if src.trim_end_matches('/') == hosts_dir.trim_end_matches('/') => {
            NodeMirrors::Ready
        }
        Some(src) => NodeMirrors::Elsewhere {
            mounted: src.to_string(),
        },
    }
}

/// Why the cluster cannot use the mirrors (`None`: it can).
pub fn node_problem(cluster: &str, state: &NodeMirrors) -> Option<String> {
    match state {
        NodeMirrors::Ready => None,
        NodeMirrors::Missing => Some(format!(
            "kind cluster {cluster} was created without the registry mirrors the config wants, so its images come from the internet"
        )),
        NodeMirrors::Elsewhere { mounted } => Some(format!(
            "kind cluster {cluster} reads registry mirror settings from {mounted}, not from this config's mirror root"
        )),
    }
}

/// What to do when the cluster cannot use the mirrors.
pub const NODE_FIX: &str = "kind adds mounts only when it creates a cluster: run `deskrun down --delete-cluster && deskrun up` \
     to re-create it with them (the config, host caches and mirror data are kept), or set \
     `registry_mirrors: []` under `cluster:` in the config to stop this notice";

/// What to tell the user when the cluster cannot use the mirrors.
pub fn node_hint(cluster: &str, state: &NodeMirrors) -> Option<String> {
    node_problem(cluster, state).map(|why| format!("{why}. {NODE_FIX}"))
}

/// The filesystem type of the mount holding `path`, from a mount table in
/// `/proc/self/mounts` format (longest mount point that contains `path`).
pub fn fs_type_at(path: &str, mounts: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_dev), Some(point), Some(fstype)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // The kernel writes space, tab, newline and backslash as octal.
        let point = point
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\012", "\n")
            .replace("\\134", "\\");
        let covers = point == "/"
            || path == point
            || path.starts_with(&format!("{}/", point.trim_end_matches('/')));
        if covers && best.as_ref().is_none_or(|(len, _)| point.len() >= *len) {
            best = Some((point.len(), fstype.to_string()));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(mirrors: &[&str], root: Option<&str>) -> ClusterSettings {
        ClusterSettings {
            registry_mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            mirror_root: root.map(String::from),
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn names_and_remotes() {
        assert_eq!(mirror_name("docker.io"), "deskrun-mirror-docker-io");
        assert_eq!(
            mirror_name("registry.example.com:5000"),
            "deskrun-mirror-registry-example-com-5000"
        );
        assert_eq!(remote_url("docker.io"), "https://registry-1.docker.io");
        assert_eq!(remote_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(remote_url("quay.io"), "https://quay.io");
    }

    #[test]
    fn spec_and_run_args() {
        let specs = specs(&cluster(&["docker.io", "ghcr.io"], Some("/srv/mirrors"))).unwrap();
        assert_eq!(specs.len(), 2);
        let d = &specs[0];
        assert_eq!(d.name, "deskrun-mirror-docker-io");
        assert_eq!(d.data_dir, "/srv/mirrors/docker.io");
        assert_eq!(d.endpoint(), "http://deskrun-mirror-docker-io:5000");
        let args = d.run_args();
        let pair = |flag: &str| -> Vec<String> {
            args.windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].clone())
                .collect()
        };
        assert_eq!(args[..2], ["run", "--detach"]);
        assert_eq!(pair("--name"), ["deskrun-mirror-docker-io"]);
        assert_eq!(pair("--restart"), ["unless-stopped"]);
        assert_eq!(pair("--network"), ["kind"]);
        assert_eq!(
            pair("--mount"),
            ["type=bind,source=/srv/mirrors/docker.io,target=/var/lib/registry"]
        );
        assert_eq!(
            pair("--env"),
            ["REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io"]
        );
        let labels = pair("--label");
        assert!(labels.contains(&"deskrun.dev/managed=true".to_string()));
        assert!(labels.contains(&"deskrun.dev/mirror=docker.io".to_string()));
        assert!(labels.contains(&format!("deskrun.dev/mirror-hash={}", d.hash)));
        assert_eq!(args.last().unwrap(), "registry:2");
        // Nothing is published on the host.
        assert!(!args.iter().any(|a| a == "-p" || a == "--publish"));
        assert_eq!(specs[1].remote_url, "https://ghcr.io");
    }

    #[test]
    fn hash_follows_the_config() {
        let a = MirrorSpec::new("docker.io", "/srv/a");
        assert_eq!(a, MirrorSpec::new("docker.io", "/srv/a"));
        assert_ne!(a.hash, MirrorSpec::new("docker.io", "/srv/b").hash);
        assert_ne!(a.hash, MirrorSpec::new("ghcr.io", "/srv/a").hash);
    }

    #[test]
    fn no_mirrors_no_specs() {
        assert!(specs(&cluster(&[], None)).unwrap().is_empty());
    }

    #[test]
    fn default_root_is_under_the_cache_dir() {
        let Some(cache) = dirs::cache_dir() else {
            eprintln!("skipped: no cache directory on this machine");
            return;
        };
        let root = mirror_root(&cluster(&["docker.io"], None)).unwrap();
        assert_eq!(
            root,
            cache.join("deskrun/registry").to_str().unwrap().to_string()
        );
        let c = cluster(&["docker.io"], Some("/srv/m/"));
        assert_eq!(mirror_root(&c).unwrap(), "/srv/m");
        assert_eq!(hosts_dir(&c).unwrap(), "/srv/m/_containerd/deskrun");
    }

    #[test]
    fn hosts_toml() {
        let spec = MirrorSpec::new("docker.io", "/srv/m");
        let f = hosts_file(&spec);
        assert_eq!(f.path, "docker.io/hosts.toml");
        assert_eq!(
            f.text,
            "# Written by deskrun: pull docker.io images through the mirror deskrun-mirror-docker-io.\n\
             server = \"https://registry-1.docker.io\"\n\
             \n\
             [host.\"http://deskrun-mirror-docker-io:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
    }

    #[test]
    fn toml_strings_escape_everything_that_could_end_them() {
        assert_eq!(toml_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(toml_string("x\ny\u{1}"), r#""x\ny\u0001""#);
        assert_eq!(toml_string("plain"), "\"plain\"");
    }

    #[test]
    fn planning() {
        let spec = MirrorSpec::new("docker.io", "/srv/m");
        assert_eq!(plan_mirror(&spec, None), MirrorAction::Create);
        let mut state = MirrorState {
            name: spec.name.clone(),
            running: true,
            status: "running".into(),
            labels: spec.labels.clone(),
        };
        assert_eq!(plan_mirror(&spec, Some(&state)), MirrorAction::Keep);
        state.running = false;
        state.status = "exited".into();
        assert_eq!(plan_mirror(&spec, Some(&state)), MirrorAction::Start);
        let other = MirrorSpec::new("docker.io", "/srv/elsewhere");
        assert!(matches!(
            plan_mirror(&other, Some(&state)),
            MirrorAction::Recreate { .. }
        ));
        state.labels.clear();
        assert_eq!(plan_mirror(&spec, Some(&state)), MirrorAction::Foreign);
        assert!(!MirrorAction::Keep.mutates() && !MirrorAction::Foreign.mutates());
    }

    #[test]
    fn filesystem_type_of_a_path() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
                      tmpfs /tmp tmpfs rw 0 0\n\
                      /dev/vdb /home/me/my\\040disk xfs rw 0 0\n\
                      tmpfs /run tmpfs rw 0 0\n";
        assert_eq!(
            fs_type_at("/home/me/.cache", mounts).as_deref(),
            Some("ext4")
        );
        assert_eq!(fs_type_at("/tmp/x/y", mounts).as_deref(), Some("tmpfs"));
        assert_eq!(fs_type_at("/tmpfoo", mounts).as_deref(), Some("ext4"));
        assert_eq!(
            fs_type_at("/home/me/my disk/r", mounts).as_deref(),
            Some("xfs")
        );
        assert_eq!(fs_type_at("/x", ""), None);
    }
}
