//! `deskrun cluster create|delete|status|use`: direct control of the kind
//! cluster, and the choice between it and an existing cluster.

use crate::input_bail;
use crate::mirrors::{MirrorAction, foreign_notice};
use crate::model::{ClusterSettings, Config, Provider};
use crate::observed::Observed;
use crate::ops::mirrors::{MirrorStatus, mirror_statuses};
use crate::ops::session::{Session, run_step};
use crate::plan::plan_mirrors;
use crate::render::{cache_mounts, kind_mounts, render};
use crate::tools::{DOCKER, KIND, KUBECTL, Kube, NodeMount};
use anyhow::{Context, Result, anyhow};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub name: String,
    /// `kind` or `existing`.
    pub provider: String,
    pub context: String,
    pub exists: bool,
    pub running: Option<bool>,
    /// Host paths the config needs mounted into the node.
    pub wanted_mounts: Vec<String>,
    /// Of those, the ones the node lacks (fix: re-create the cluster).
    pub missing_mounts: Vec<String>,
    pub mounts: Vec<NodeMount>,
    /// The registry mirrors the config wants, as Docker runs them.
    pub mirrors: Vec<MirrorStatus>,
    /// Set when the cluster exists but cannot use those mirrors (created
    /// without them): what is wrong and what to run.
    pub mirror_notice: Option<String>,
    /// The cluster's nodes (existing clusters; a kind cluster has one).
    pub nodes: Vec<String>,
}

pub fn cluster_status(s: &Session) -> Result<ClusterReport> {
    let config: Config = s.store.load()?;
    if !config.cluster.is_kind() {
        return existing_status(s, &config);
    }
    s.check_tools(&[DOCKER, KIND])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let wanted = cache_mounts(&config);
    let exists = kube.cluster_exists()?;
    // The node and the mirrors in one `docker inspect`.
    let (node, mirrors) = kube.containers(exists, &crate::mirrors::names(&config.cluster))?;
    let missing = match &node {
        Some(n) => wanted.iter().filter(|p| !n.covers(p)).cloned().collect(),
        None => vec![],
    };
    let rendered = render(&config, &[])?;
    let observed = Observed {
        cluster_exists: exists,
        node: node.clone(),
        mirrors,
        ..Observed::default()
    };
    let (_, mirror_notice) = plan_mirrors(&config, &rendered, &observed);
    Ok(ClusterReport {
        name: config.cluster.name.clone(),
        provider: config.cluster.provider.to_string(),
        context: config.cluster.context(),
        exists,
        running: node.as_ref().map(|n| n.running),
        wanted_mounts: wanted,
        missing_mounts: missing,
        mounts: node.map(|n| n.mounts).unwrap_or_default(),
        mirrors: mirror_statuses(&rendered.mirrors, &observed.mirrors),
        mirror_notice,
        nodes: vec![],
    })
}

/// An existing cluster: whether its context answers, and its nodes (the
/// names `node:` can pin an installation to).
fn existing_status(s: &Session, config: &Config) -> Result<ClusterReport> {
    s.check_tools(&[KUBECTL])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let context = config.cluster.context();
    let nodes = kube.nodes().with_context(|| {
        format!(
            "the cluster of context {context} does not answer. Check that the context works \
             (`kubectl --context {context} get nodes`): the network or VPN, and that its \
             credentials have not expired"
        )
    })?;
    Ok(ClusterReport {
        name: config.cluster.name.clone(),
        provider: config.cluster.provider.to_string(),
        context,
        exists: true,
        running: Some(true),
        wanted_mounts: vec![],
        missing_mounts: vec![],
        mounts: vec![],
        mirrors: vec![],
        mirror_notice: None,
        nodes: nodes
            .iter()
            .filter_map(|n| {
                n.pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
            })
            .map(String::from)
            .collect(),
    })
}

/// `cluster create`/`cluster delete` on an existing cluster: refused.
fn kind_only(config: &Config, what: &str) -> Result<()> {
    if !config.cluster.is_kind() {
        input_bail!(
            "cluster {what}: deskrun never {what}s an existing cluster (cluster.provider is existing, \
             context {}); `deskrun up` deploys into it and `deskrun down` removes what deskrun put \
             there. To use a local kind cluster instead: `deskrun cluster use --kind`",
            config.cluster.context()
        );
    }
    Ok(())
}

/// What `cluster use` changed.
#[derive(Debug, Clone)]
pub struct UseOutcome {
    pub target: String,
    /// The settings were already these.
    pub unchanged: bool,
}

/// `deskrun cluster use CONTEXT`: deploy to the existing cluster of a
/// kubeconfig context from now on (the context must exist).
pub fn use_context(s: &Session, context: &str) -> Result<UseOutcome> {
    crate::validate::validate_context(context)?;
    s.check_tools(&[KUBECTL])?;
    let config: Config = s.store.load()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let contexts = run_step(s, "list the kubeconfig contexts", || kube.contexts())?;
    if !contexts.iter().any(|c| c == context) {
        let known = if contexts.is_empty() {
            "it has none".to_string()
        } else {
            format!("it has {}", contexts.join(", "))
        };
        input_bail!(
            "no context {context:?} in your kubeconfig ({known}); `kubectl config get-contexts` lists \
             them, and your cluster's admins or cloud CLI (`aws eks update-kubeconfig`, `gcloud \
             container clusters get-credentials`, ...) add one"
        );
    }
    switch(s, |c| {
        c.provider = Provider::Existing;
        c.context = Some(context.to_string());
    })
}

/// `deskrun cluster use --kind`: back to the local kind cluster.
pub fn use_kind(s: &Session) -> Result<UseOutcome> {
    switch(s, |c| {
        c.provider = Provider::Kind;
        c.context = None;
    })
}

fn switch(s: &Session, change: impl FnOnce(&mut ClusterSettings)) -> Result<UseOutcome> {
    s.store.update(|config| {
        let before = config.cluster.clone();
        change(&mut config.cluster);
        // Catch what the new target refuses (a host-path cache without
        // `node:`) with the config's own message, before writing.
        let checked = crate::validate::validate_config(config)?;
        Ok(UseOutcome {
            target: checked.cluster.target(),
            unchanged: before == config.cluster,
        })
    })
}

/// What `cluster create` did.
#[derive(Debug, Clone, Default)]
pub struct CreateReport {
    /// Whether the cluster was created (false: it existed).
    pub created: bool,
    /// Things to know that are not failures (a mirror name taken by
    /// someone else's container).
    pub notices: Vec<String>,
}

/// Create the cluster if it does not exist, its registry mirrors first.
pub fn cluster_create(s: &Session) -> Result<CreateReport> {
    let config: Config = s.store.load()?;
    kind_only(&config, "create")?;
    s.check_tools(&[DOCKER, KIND])?;
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    if kube.cluster_exists()? {
        return Ok(CreateReport::default());
    }
    let rendered = render(&config, &[])?;
    // Mirrors before the cluster, as `up` does.
    let mut failures = Vec::new();
    let mut notices = Vec::new();
    if let Some(dir) = &rendered.hosts_dir {
        let (_, mirrors) = kube.containers(false, &crate::mirrors::names(&config.cluster))?;
        let observed = Observed {
            mirrors,
            ..Observed::default()
        };
        let (plans, _) = plan_mirrors(&config, &rendered, &observed);
        crate::ops::mirrors::prepare_host(
            &crate::mirrors::mirror_root(&config.cluster)?,
            dir,
            &plans,
        )?;
        failures = crate::ops::mirrors::apply(s, &kube, &plans);
        notices = plans
            .iter()
            .filter(|p| p.action == MirrorAction::Foreign)
            .map(|p| foreign_notice(&p.spec))
            .collect();
    }
    run_step(
        s,
        &format!("create kind cluster {}", config.cluster.name),
        || {
            let kind = rendered
                .kind_cluster
                .as_ref()
                .context("an existing cluster is never created by deskrun")?;
            create_with_mounts(&kube, kind)
        },
    )?;
    if !failures.is_empty() {
        let details: Vec<String> = failures.iter().map(|e| format!("- {e:#}")).collect();
        return Err(anyhow!(
            "the cluster was created, but {} registry mirror step(s) failed (its images come from the \
             internet until `deskrun up` makes the mirrors):\n{}",
            failures.len(),
            details.join("\n")
        ));
    }
    Ok(CreateReport {
        created: true,
        notices,
    })
}

/// Create the kind cluster from its rendered config. The mount sources are
/// made first, as the user: kind would create missing ones as root, and then
/// neither the user nor a non-root job could write the caches.
pub fn create_with_mounts(kube: &Kube, kind_config: &serde_yaml::Value) -> Result<()> {
    for dir in kind_mounts(kind_config) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cache directory {dir} on the host"))?;
    }
    kube.create_cluster(&crate::yaml::to_string(kind_config)?)
}

/// What `cluster delete` did.
#[derive(Debug, Clone, Default)]
pub struct DeleteReport {
    /// Whether the cluster existed (and so was deleted).
    pub deleted: bool,
    /// Mirror containers removed (`--mirrors`).
    pub mirrors_removed: Vec<String>,
    /// Where the mirrors' data stays.
    pub mirror_root: Option<String>,
}

/// Delete the cluster if it exists; with `mirrors`, also every deskrun
/// registry mirror container (their data directories are kept).
pub fn cluster_delete(s: &Session, mirrors: bool) -> Result<DeleteReport> {
    let config: Config = s.store.load()?;
    kind_only(&config, "delete")?;
    s.check_tools(&[DOCKER, KIND])?;
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let mut report = DeleteReport {
        mirror_root: crate::mirrors::mirror_root(&config.cluster).ok(),
        ..DeleteReport::default()
    };
    if kube.cluster_exists()? {
        run_step(
            s,
            &format!("delete kind cluster {}", config.cluster.name),
            || kube.delete_cluster(),
        )?;
        report.deleted = true;
    }
    if mirrors {
        report.mirrors_removed = crate::ops::mirrors::remove_all(s, &kube)?;
    }
    Ok(report)
}
