//! `deskrun down`: uninstall what `up` deployed. The config is kept, and so
//! are host caches.

use crate::model::{CONTROLLER_RELEASE, Config};
use crate::observe::{Reads, observe};
use crate::ops::session::{Session, parallel, run_step};
use crate::render::cache_mounts;
use crate::tools::{HELM, KIND, KUBECTL, Kube};
use anyhow::{Result, anyhow};

#[derive(Debug, Clone, Copy, Default)]
pub struct DownOptions {
    /// Also uninstall the ARC controller.
    pub controller: bool,
    /// Delete the kind cluster (everything in it goes with it).
    pub delete_cluster: bool,
    pub parallel: usize,
}

#[derive(Debug, Default)]
pub struct DownReport {
    pub cluster_found: bool,
    pub uninstalled: Vec<String>,
    pub cluster_deleted: bool,
    /// Host directories that still hold caches.
    pub cache_dirs: Vec<String>,
}

pub fn down(s: &Session, opts: &DownOptions) -> Result<DownReport> {
    let config: Config = s.store.load()?;
    s.check_tools(&[KIND, HELM, KUBECTL])?;
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let mut report = DownReport {
        cache_dirs: cache_mounts(&config),
        ..Default::default()
    };
    if opts.delete_cluster {
        if !run_step(s, "look for the kind cluster", || kube.cluster_exists())? {
            return Ok(report);
        }
        report.cluster_found = true;
        // The releases go with the cluster: uninstalling them first would
        // only cost time.
        run_step(
            s,
            &format!("delete kind cluster {}", config.cluster.name),
            || kube.delete_cluster(),
        )?;
        report.cluster_deleted = true;
        return Ok(report);
    }

    let observed = run_step(s, "read the cluster state", || {
        observe(&kube, Reads::RELEASES)
    })?;
    if !observed.cluster_exists {
        return Ok(report);
    }
    report.cluster_found = true;
    let releases = observed.releases;
    let scale_sets: Vec<String> = releases
        .iter()
        .filter(|r| r.name != CONTROLLER_RELEASE)
        .map(|r| r.name.clone())
        .collect();
    let results = parallel(&scale_sets, opts.parallel.max(1), |name| {
        run_step(s, &format!("uninstall scale set {name}"), || {
            kube.uninstall(&format!("uninstall scale set {name}"), name)
        })
        .map(|_| name.clone())
    });
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(name) => report.uninstalled.push(name),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        run_step(s, "delete deskrun's ConfigMaps", || {
            kube.delete_managed_configmaps("delete deskrun's ConfigMaps")
        })?;
        if opts.controller && releases.iter().any(|r| r.name == CONTROLLER_RELEASE) {
            run_step(s, "uninstall the ARC controller", || {
                kube.uninstall("uninstall the ARC controller", CONTROLLER_RELEASE)
            })?;
            report.uninstalled.push(CONTROLLER_RELEASE.to_string());
        }
    }
    if !failures.is_empty() {
        let details: Vec<String> = failures.iter().map(|e| format!("- {e:#}")).collect();
        return Err(anyhow!(
            "{} uninstall(s) failed:\n{}\nRun `deskrun down` again once the cause is fixed.",
            failures.len(),
            details.join("\n")
        ));
    }
    Ok(report)
}
