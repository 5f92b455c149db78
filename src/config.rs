//! The config store: one human-editable YAML file, read strictly, written
//! atomically under a lock.
//!
//! - Location: `--config`/`DESKRUN_CONFIG`, else `<XDG config dir>/deskrun/config.yaml`.
//! - A missing file is an empty config; it is created (0600) on the first write.
//! - Writes go to a temp file in the same directory, then `rename` over the
//!   old one, while holding an exclusive lock on `<file>.lock`, so concurrent
//!   `deskrun add` calls never lose an entry and a crash never leaves half a file.
//! - A corrupt file, an unknown key or a newer schema version is reported
//!   with the file's path and never overwritten.

use crate::error::input;
use crate::model::{CONFIG_VERSION, Config};
use crate::validate::validate_config;
use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The default config path: `$XDG_CONFIG_HOME/deskrun/config.yaml`.
pub fn default_path() -> Result<PathBuf> {
    let dir = dirs::config_dir()
        .context("cannot find your config directory (is HOME set?); pass --config FILE")?;
    Ok(dir.join("deskrun").join("config.yaml"))
}

/// A handle on the config file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Store { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read and validate the config; a missing file is the default config.
    pub fn load(&self) -> Result<Config> {
        match fs::read_to_string(&self.path) {
            Ok(text) => parse(&text, &self.path),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Config::default()),
            // Bytes that are not text: bad content, like corrupt YAML.
            Err(e) if e.kind() == ErrorKind::InvalidData => Err(input(format!(
                "config file {} is not valid UTF-8 text; fix it or move it away (deskrun will not overwrite it)",
                self.path.display()
            ))),
            Err(e) if e.kind() == ErrorKind::IsADirectory => Err(input(format!(
                "config file {} is a directory; pass --config with a file path",
                self.path.display()
            ))),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read config file {}", self.path.display()))
            }
        }
    }

    /// Read-modify-write under the lock. `change` sees the current config and
    /// edits it; on error nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut Config) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut config = self.load()?;
        let result = change(&mut config)?;
        let config = validate_config(&config)?;
        self.write(&config)?;
        Ok(result)
    }

    fn lock(&self) -> Result<File> {
        let dir = self.parent();
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create config directory {}", dir.display()))?;
        lock_file(&lock_path(&self.path), || {})
    }

    /// The lock that serialises cluster-changing commands on this config
    /// (`<file>.cluster.lock`); `on_wait` runs when another holds it.
    pub fn cluster_lock(&self, on_wait: impl FnOnce(&Path)) -> Result<File> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".cluster.lock");
        let path = self.path.with_file_name(name);
        let dir = self.parent();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        lock_file(&path, || on_wait(&path))
    }

    fn parent(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Atomic replace: temp file (0600) in the same directory, fsync, rename.
    fn write(&self, config: &Config) -> Result<()> {
        let text = to_yaml(config)?;
        // A config that is a symlink (a dotfiles manager's link) is written
        // through: the link stays and its target gets the new text.
        let target = match fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(&self.path) {
                Ok(p) => p,
                // A dangling link: create the file it points to.
                Err(_) => self.parent().join(fs::read_link(&self.path)?),
            },
            _ => self.path.clone(),
        };
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".deskrun-config-")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target)
            .with_context(|| format!("cannot write config file {}", target.display()))?;
        Ok(())
    }
}

/// Open (creating, 0600) and exclusively lock `path`; `on_wait` runs first
/// when someone else holds the lock. Released when the file is dropped.
fn lock_file(path: &Path, on_wait: impl FnOnce()) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    if file.try_lock().is_err() {
        on_wait();
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
    }
    Ok(file)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

const HEADER: &str = "# deskrun configuration: runner installations and cluster settings.\n\
# Edit with `deskrun add/remove`, or by hand; `deskrun up` applies it.\n\
# This file may hold GitHub credentials: keep it private (mode 0600).\n";

pub fn to_yaml(config: &Config) -> Result<String> {
    Ok(format!("{HEADER}{}", crate::yaml::to_string(config)?))
}

/// Parse config text strictly: the schema version first (so a newer file is
/// reported as such, not as a list of unknown keys), then every field.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let file = path.display();
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        input(format!(
            "config file {file} is not valid YAML: {e}; fix it or move it away (deskrun will not overwrite it)"
        ))
    })?;
    if value.is_null() {
        return Ok(Config::default());
    }
    let Some(map) = value.as_mapping() else {
        return Err(input(format!(
            "config file {file}: expected a mapping with `version: {CONFIG_VERSION}` at the top"
        )));
    };
    match map.get("version") {
        None => {
            return Err(input(format!(
                "config file {file}: missing `version: {CONFIG_VERSION}` at the top"
            )));
        }
        Some(v) => match v.as_u64() {
            Some(n) if n == u64::from(CONFIG_VERSION) => {}
            Some(n) if n > u64::from(CONFIG_VERSION) => {
                return Err(input(format!(
                    "config file {file} has version {n}, written by a newer deskrun; this deskrun reads \
                     version {CONFIG_VERSION}. Upgrade deskrun (the file was left untouched)"
                )));
            }
            _ => {
                return Err(input(format!(
                    "config file {file}: unsupported `version: {}`; expected {CONFIG_VERSION}",
                    serde_yaml::to_string(v).unwrap_or_default().trim()
                )));
            }
        },
    }
    // From the text, not the parsed value: serde_yaml then names the field's
    // path and line (`cluster.controller_chart: missing field `version` at
    // line 5`), instead of a bare `missing field `version``.
    let config: Config =
        serde_yaml::from_str(text).map_err(|e| input(format!("config file {file}: {e}")))?;
    validate_config(&config).map_err(|e| input(format!("config file {file}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Auth, Installation, Mode};

    fn sample() -> Installation {
        Installation {
            repository: "https://github.com/o/r".into(),
            mode: Mode::Kubernetes,
            min_runners: 1,
            max_runners: 5,
            instances: 1,
            caches: vec![],
            job_container: None,
            glibc_compat: false,
            node: None,
            auth: Auth::Pat {
                token: "test-token-123".into(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("sub/config.yaml"));
        assert!(store.load().unwrap().installations.is_empty());
        store
            .update(|c| {
                c.installations.insert("a".into(), sample());
                Ok(())
            })
            .unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.installations["a"], sample());
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn failed_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("config.yaml"));
        store
            .update(|c| {
                c.installations.insert("a".into(), sample());
                Ok(())
            })
            .unwrap();
        let before = fs::read(store.path()).unwrap();
        let err = store
            .update(|c| {
                let mut bad = sample();
                bad.min_runners = 9;
                c.installations.insert("b".into(), bad);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert_eq!(fs::read(store.path()).unwrap(), before);
    }

    #[test]
    fn strict_parsing() {
        let p = Path::new("/x/config.yaml");
        let e = parse("version: 2\n", p).unwrap_err().to_string();
        assert!(
            e.contains("newer deskrun") && e.contains("/x/config.yaml"),
            "{e}"
        );
        let e = parse("version: 1\nbogus: 1\n", p).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = parse("installations: {}\n", p).unwrap_err().to_string();
        assert!(e.contains("missing `version"), "{e}");
        let e = parse("version: [1\n", p).unwrap_err().to_string();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = parse(
            "version: 1\ninstallations:\n  a:\n    repository: https://github.com/o/r\n    mode: kubernetes\n    min_runners: 1\n    max_runners: 5\n    auth: {type: pat, token: t0k3n}\n    colour: red\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse(
            "version: 1\ninstallations:\n  a:\n    repository: https://github.com/o/r\n    mode: turbo\n    min_runners: 1\n    max_runners: 5\n    auth: {type: pat, token: t0k3n}\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("turbo") || e.contains("mode"), "{e}");
        let c = parse("version: 1\n", p).unwrap();
        assert_eq!(c.cluster.name, "deskrun");
        assert_eq!(c.cluster.namespace, "arc-systems");
        assert_eq!(c.cluster.cache_root, "/tmp/github-runner-cache");
        assert_eq!(c.cluster.controller_chart.version, "0.14.2");
        // A config from before registry mirrors gets the default mirrors.
        assert_eq!(c.cluster.registry_mirrors, ["docker.io", "ghcr.io"]);
        assert_eq!(c.cluster.mirror_root, None);
    }

    #[test]
    fn registry_mirror_settings() {
        let p = Path::new("/x/config.yaml");
        let c = parse("version: 1\ncluster:\n  registry_mirrors: []\n", p).unwrap();
        assert!(c.cluster.registry_mirrors.is_empty());
        let c = parse(
            "version: 1\ncluster:\n  registry_mirrors: [quay.io]\n  mirror_root: /srv/m/\n",
            p,
        )
        .unwrap();
        assert_eq!(c.cluster.registry_mirrors, ["quay.io"]);
        assert_eq!(c.cluster.mirror_root.as_deref(), Some("/srv/m"));
        let e = parse(
            "version: 1\ncluster:\n  registry_mirrors: [https://quay.io]\n",
            p,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("/x/config.yaml"), "{e}");
        // The default root is not written: it follows $XDG_CACHE_HOME.
        let text = to_yaml(&Config::default()).unwrap();
        assert!(
            text.contains("registry_mirrors:") && !text.contains("mirror_root"),
            "{text}"
        );
        let back = parse(&text, p).unwrap();
        assert_eq!(back, Config::default());
    }

    #[test]
    fn cluster_keys_added_later_are_optional_and_written_only_when_set() {
        let p = Path::new("/x/config.yaml");
        // A kind config written before `provider` existed reads and writes
        // back the same: none of the new keys appear.
        let old = to_yaml(&Config::default()).unwrap();
        let c = parse(&old, p).unwrap();
        assert_eq!(c.cluster.provider, crate::model::Provider::Kind);
        assert_eq!(c.cluster.cache_size, "20Gi");
        assert_eq!(to_yaml(&c).unwrap(), old);
        for key in [
            "provider",
            "context",
            "controller:",
            "cache_storage_class",
            "cache_size",
        ] {
            assert!(!old.contains(key), "{key} in\n{old}");
        }
        let text = "version: 1\ncluster:\n  provider: existing\n  context: team\n  controller: external\n  cache_storage_class: fast\n  cache_size: 50Gi\n";
        let c = parse(text, p).unwrap();
        assert_eq!(c.cluster.context(), "team");
        assert!(!c.cluster.manages_controller());
        let again = parse(&to_yaml(&c).unwrap(), p).unwrap();
        assert_eq!(again, c);
        let e = parse("version: 1\ncluster:\n  provider: cloud\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cloud") && e.contains("existing"), "{e}");
        let e = parse("version: 1\ncluster:\n  provider: existing\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster.context is not set"), "{e}");
    }
}
