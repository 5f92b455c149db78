//! `deskrun down`: uninstall what `up` deployed. The config is kept, and so
//! are caches: host directories, and cache claims unless `--purge-caches`.

use crate::input_bail;
use crate::model::{CONTROLLER_RELEASE, Config};
use crate::observe::{Reads, claims, observe};
use crate::observed::{managed_selector, name_of};
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
    /// Also delete the cache claims (existing clusters).
    pub purge_caches: bool,
    pub parallel: usize,
}

#[derive(Debug, Default)]
pub struct DownReport {
    pub cluster_found: bool,
    pub uninstalled: Vec<String>,
    pub cluster_deleted: bool,
    /// Host directories that still hold caches.
    pub cache_dirs: Vec<String>,
    /// Cache claims kept in the cluster (existing clusters).
    pub kept_claims: Vec<String>,
    /// Cache claims deleted by `--purge-caches`.
    pub purged_claims: Vec<String>,
}

/// `down` options that cannot apply to this config: refused before anything
/// runs.
pub fn check_options(config: &Config, opts: &DownOptions) -> Result<()> {
    let context = config.cluster.context();
    if !config.cluster.is_kind() && opts.delete_cluster {
        input_bail!(
            "--delete-cluster: deskrun never deletes an existing cluster (cluster.provider is existing, \
             context {context}); `deskrun down --controller --purge-caches` removes everything \
             deskrun put into it"
        );
    }
    if !config.cluster.manages_controller() && opts.controller {
        input_bail!(
            "--controller: cluster.controller is external, so the ARC controller in the cluster is not \
             deskrun's to remove; `deskrun down` removes deskrun's scale sets"
        );
    }
    if config.cluster.is_kind() && opts.purge_caches {
        input_bail!(
            "--purge-caches: on kind, caches are host directories, which deskrun never deletes (jobs \
             running as root write into them); delete them by hand. The flag deletes the cache claims \
             of an existing cluster"
        );
    }
    Ok(())
}

pub fn down(s: &Session, opts: &DownOptions) -> Result<DownReport> {
    let config: Config = s.store.load()?;
    check_options(&config, opts)?;
    if config.cluster.is_kind() {
        s.check_tools(&[KIND, HELM, KUBECTL])?;
    } else {
        s.check_tools(&[HELM, KUBECTL])?;
    }
    let _lock = s.cluster_lock()?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let mut report = DownReport {
        cache_dirs: if config.cluster.is_kind() {
            cache_mounts(&config)
        } else {
            vec![]
        },
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
        // By name, whatever the config says now: a proxy removed from the
        // config since the last `up` leaves its Secrets behind.
        run_step(s, "delete the proxy credential Secrets", || {
            kube.delete_named(
                "delete the proxy credential Secrets",
                "secret",
                &["http", "https"].map(crate::render::proxy_secret_name),
            )
        })?;
        if opts.purge_caches {
            report.purged_claims = run_step(s, "delete deskrun's cache claims", || {
                kube.delete_claims("delete deskrun's cache claims", &managed_selector())
            })?;
        } else if !config.cluster.is_kind() {
            report.kept_claims = run_step(s, "list deskrun's cache claims", || claims(&kube))?
                .iter()
                .map(|c| name_of(c).to_string())
                .collect();
        }
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
