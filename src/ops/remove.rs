//! `deskrun remove`: drop an installation from the config. Config only; the
//! next `deskrun up` uninstalls it. Host caches are left in place.

use crate::config::Store;
use crate::input_bail;
use crate::render::cache_host_path;
use anyhow::Result;

#[derive(Debug, Clone)]
pub struct RemoveOutcome {
    pub name: String,
    /// Host directories holding this installation's caches; deskrun never
    /// deletes them.
    pub cache_dirs: Vec<String>,
}

pub fn remove(store: &Store, name: &str) -> Result<RemoveOutcome> {
    store.update(|config| {
        let Some(inst) = config.installations.remove(name) else {
            input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
        };
        // A HOST_PATH cache is one directory shared by every instance: list it once.
        let mut cache_dirs: Vec<String> = Vec::new();
        for instance in inst.instance_names(name) {
            for (i, c) in inst.caches.iter().enumerate() {
                let dir = cache_host_path(&config.cluster, &instance, i, c.host_path.as_deref());
                if !cache_dirs.contains(&dir) {
                    cache_dirs.push(dir);
                }
            }
        }
        Ok(RemoveOutcome {
            name: name.to_string(),
            cache_dirs,
        })
    })
}
