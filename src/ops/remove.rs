//! `deskrun remove`: drop an installation from the config. Config only; the
//! next `deskrun up` uninstalls it. Caches are left in place (host
//! directories, and cache claims unless `--purge-caches`).

use crate::config::Store;
use crate::input_bail;
use crate::model::Config;
use crate::ops::session::{Session, run_step};
use crate::render::{LABEL_INSTALLATION, LABEL_MANAGED, cache_claim_name, cache_host_path};
use crate::tools::{KUBECTL, Kube};
use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct RemoveOutcome {
    pub name: String,
    /// Host directories holding this installation's caches (on an existing
    /// cluster: directories of its pinned node); deskrun never deletes them.
    pub cache_dirs: Vec<String>,
    /// Its cache claims on an existing cluster, kept unless purged.
    pub claims: Vec<String>,
}

pub fn remove(store: &Store, name: &str) -> Result<RemoveOutcome> {
    store.update(|config| {
        let Some(inst) = config.installations.remove(name) else {
            input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
        };
        // A HOST_PATH cache is one directory shared by every instance: list it once.
        let mut cache_dirs: Vec<String> = Vec::new();
        let mut claims = Vec::new();
        for instance in inst.instance_names(name) {
            for (i, c) in inst.caches.iter().enumerate() {
                if !config.cluster.is_kind() && c.host_path.is_none() {
                    claims.push(cache_claim_name(&instance, i));
                    continue;
                }
                let dir = cache_host_path(&config.cluster, &instance, i, c.host_path.as_deref());
                if !cache_dirs.contains(&dir) {
                    cache_dirs.push(dir);
                }
            }
        }
        Ok(RemoveOutcome {
            name: name.to_string(),
            cache_dirs,
            claims,
        })
    })
}

/// `remove --purge-caches` is for cache claims; on kind it is refused before
/// the config changes.
pub fn check_purge(config: &Config) -> Result<()> {
    if config.cluster.is_kind() {
        input_bail!(
            "--purge-caches: on kind, caches are host directories, which deskrun never deletes (jobs \
             running as root write into them); delete them by hand. The flag deletes the cache claims \
             of an existing cluster"
        );
    }
    Ok(())
}

/// Delete the cache claims of installation `name` (after `remove`). Not
/// waited for: a claim its scale set still mounts goes once the next
/// `deskrun up` has uninstalled that.
pub fn purge_claims(s: &Session, config: &Config, name: &str) -> Result<Vec<String>> {
    s.check_tools(&[KUBECTL])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let selector = format!("{LABEL_MANAGED}=true,{LABEL_INSTALLATION}={name}");
    run_step(s, &format!("delete the cache claims of {name}"), || {
        kube.delete_claims(&format!("delete the cache claims of {name}"), &selector)
    })
    .with_context(|| {
        format!(
            "installation {name} was removed from the config, but its cache claims were not deleted; \
             delete them with `kubectl --context {} delete pvc --namespace {} --selector {selector}`",
            config.cluster.context(),
            config.cluster.namespace
        )
    })
}
