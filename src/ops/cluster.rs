//! `deskrun cluster create|delete|status`: direct control of the kind cluster.

use crate::model::Config;
use crate::ops::session::{Session, run_step};
use crate::render::{cache_mounts, kind_cluster, kind_mounts};
use crate::tools::{DOCKER, KIND, Kube, NodeMount};
use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub context: String,
    pub exists: bool,
    pub running: Option<bool>,
    /// Host paths the config needs mounted into the node.
    pub wanted_mounts: Vec<String>,
    /// Of those, the ones the node lacks (fix: re-create the cluster).
    pub missing_mounts: Vec<String>,
    pub mounts: Vec<NodeMount>,
}

pub fn cluster_status(s: &Session) -> Result<ClusterReport> {
    let config: Config = s.store.load()?;
    s.check_tools(&[DOCKER, KIND])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let wanted = cache_mounts(&config);
    let exists = kube.cluster_exists()?;
    let node = if exists { kube.node_info()? } else { None };
    let missing = match &node {
        Some(n) => wanted.iter().filter(|p| !n.covers(p)).cloned().collect(),
        None => vec![],
    };
    Ok(ClusterReport {
        name: config.cluster.name.clone(),
        context: config.cluster.context(),
        exists,
        running: node.as_ref().map(|n| n.running),
        wanted_mounts: wanted,
        missing_mounts: missing,
        mounts: node.map(|n| n.mounts).unwrap_or_default(),
    })
}

/// Create the cluster if it does not exist. Returns whether it was created.
pub fn cluster_create(s: &Session) -> Result<bool> {
    let config: Config = s.store.load()?;
    s.check_tools(&[DOCKER, KIND])?;
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    if kube.cluster_exists()? {
        return Ok(false);
    }
    let kind_config = kind_cluster(&config)?;
    run_step(
        s,
        &format!("create kind cluster {}", config.cluster.name),
        || create_with_mounts(&kube, &kind_config),
    )?;
    Ok(true)
}

/// Create the kind cluster from its rendered config. The mount sources are
/// made first, as the user: kind would create missing ones as root, and then
/// neither the user nor a non-root job could write the caches.
pub fn create_with_mounts(kube: &Kube, kind_config: &serde_yaml::Value) -> Result<()> {
    for dir in kind_mounts(kind_config) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cache directory {dir} on the host"))?;
    }
    kube.create_cluster(&serde_yaml::to_string(kind_config)?)
}

/// Delete the cluster if it exists. Returns whether it existed.
pub fn cluster_delete(s: &Session) -> Result<bool> {
    let config: Config = s.store.load()?;
    s.check_tools(&[DOCKER, KIND])?;
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    if !kube.cluster_exists()? {
        return Ok(false);
    }
    run_step(
        s,
        &format!("delete kind cluster {}", config.cluster.name),
        || kube.delete_cluster(),
    )?;
    Ok(true)
}
