//! `deskrun config import`: the installations of the original Go deskrun
//! (`~/.deskrun/config.json`), validated like `deskrun add`, into this
//! config. Credentials are copied, never printed.
//!
//! The Go tool wrote its structs with Go's default JSON field names:
//! `{"cluster_name": "…", "installations": {"<name>": {"Name", "Repository",
//! "ContainerMode", "MinRunners", "MaxRunners", "Instances", "CachePaths":
//! [{"MountPath", "HostPath"}], "AuthType", "AuthValue"}}}`, where an empty
//! `HostPath` means a deskrun-managed directory. Later versions spelled the
//! cache fields `Target`/`Source` and added `Mounts` (`Source`, `Target`,
//! `Type`); both are read too. Unknown fields are ignored: the file belongs
//! to another program.

use crate::config::Store;
use crate::error::input;
use crate::model::{Auth, Cache, Config, Installation, Mode};
use crate::validate::{Vocab, validate_config_with, validate_installation};
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the Go deskrun kept its config, relative to the home directory.
pub const GO_CONFIG: &str = ".deskrun/config.json";

/// Where the newer Go deskrun mounted its managed caches inside the kind
/// node (`~/.cache/deskrun` on the host).
const GO_NODE_CACHE: &str = "/host-cache/deskrun";

/// `~/.deskrun/config.json`.
pub fn default_go_config() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(GO_CONFIG))
}

#[derive(Debug, Deserialize)]
struct GoConfig {
    #[serde(default)]
    cluster_name: Option<String>,
    #[serde(default)]
    installations: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct GoInstallation {
    repository: String,
    container_mode: String,
    min_runners: i64,
    max_runners: i64,
    instances: i64,
    cache_paths: Option<Vec<GoCachePath>>,
    mounts: Option<Vec<GoMount>>,
    auth_type: String,
    auth_value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GoCachePath {
    #[serde(rename = "MountPath", alias = "Target")]
    mount_path: String,
    #[serde(rename = "HostPath", alias = "Source")]
    host_path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GoMount {
    #[serde(rename = "Source")]
    source: String,
    #[serde(rename = "Target")]
    target: String,
    #[serde(rename = "Type")]
    kind: String,
}

/// One installation that was imported.
#[derive(Debug, Clone)]
pub struct Imported {
    pub name: String,
    pub mode: Mode,
    pub repository: String,
    /// It replaced an installation of the same name (`--replace`).
    pub replaced: bool,
    pub runs_on: Vec<String>,
    /// What was adjusted on the way (never a credential).
    pub notes: Vec<String>,
}

/// One installation that was not imported, and why (never a credential).
#[derive(Debug, Clone)]
pub struct Refused {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct ImportReport {
    pub source: PathBuf,
    /// The Go config's `cluster_name` (its kind cluster), when it has one.
    pub go_cluster_name: Option<String>,
    pub imported: Vec<Imported>,
    pub refused: Vec<Refused>,
}

/// Read `file` (the Go deskrun's config) and add its installations to
/// `store`. Installations that fail validation, or whose name exists
/// without `replace`, are refused and reported; the others are written in
/// one atomic update. An error only when the file cannot be read or parsed.
pub fn import(store: &Store, file: &Path, replace: bool) -> Result<ImportReport> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        input(format!(
            "cannot read {}: {e}; give the Go deskrun's config file: deskrun config import FILE",
            file.display()
        ))
    })?;
    let go: GoConfig = serde_json::from_str(&text).map_err(|e| {
        input(format!(
            "{} is not a Go deskrun config (JSON with an `installations` object): {e}",
            file.display()
        ))
    })?;
    let home = dirs::home_dir();
    let installations = go.installations.unwrap_or_default();
    let go_cluster = go.cluster_name.filter(|n| !n.is_empty());
    let go_cluster_for_report = go_cluster.clone();
    let apply = |config: &mut Config| {
        let mut imported = Vec::new();
        let mut refused = Vec::new();
        for (name, raw) in &installations {
            let secret = raw
                .get("AuthValue")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string();
            match import_one(config, name, raw, replace, home.as_deref()) {
                Ok(done) => imported.push(done),
                Err(e) => refused.push(Refused {
                    name: name.clone(),
                    reason: redact(&format!("{e:#}"), &secret),
                }),
            }
        }
        (imported, refused)
    };
    // A dry pass first: when nothing can be imported the config file is not
    // written (nor created, which would silence the hint of `list`/`up`).
    let (imported, refused) = apply(&mut store.load()?);
    let mut report = ImportReport {
        source: file.to_path_buf(),
        go_cluster_name: go_cluster_for_report,
        imported,
        refused,
    };
    if report.imported.is_empty() {
        return Ok(report);
    }
    // Then for real, under the config's lock, from what the file holds now.
    store.update(|config| {
        let (imported, refused) = apply(config);
        report.imported = imported;
        report.refused = refused;
        Ok(())
    })?;
    Ok(report)
}

/// Never let a credential reach a message, whatever a validator quoted.
fn redact(text: &str, secret: &str) -> String {
    let mut out = text.to_string();
    for part in std::iter::once(secret.trim()).chain(secret.lines().map(str::trim)) {
        if part.len() >= 4 && !part.starts_with("-----") {
            out = out.replace(part, crate::render::REDACTED);
        }
    }
    out
}

/// Convert, validate and insert one installation into `config` (in memory).
fn import_one(
    config: &mut Config,
    name: &str,
    raw: &serde_json::Value,
    replace: bool,
    home: Option<&Path>,
) -> Result<Imported> {
    let go: GoInstallation = serde_json::from_value(raw.clone()).map_err(|e| {
        input(format!(
            "its fields do not have the Go deskrun's types: {e}"
        ))
    })?;
    let mut notes = Vec::new();
    let mode = match go.container_mode.as_str() {
        "" | "kubernetes" => Mode::Kubernetes,
        "cached-privileged-kubernetes" => Mode::CachedPrivilegedKubernetes,
        "dind" => Mode::Dind,
        other => {
            return Err(input(format!(
                "unknown ContainerMode {other:?}; deskrun knows kubernetes, cached-privileged-kubernetes and dind"
            )));
        }
    };
    let instances = u32::try_from(go.instances.max(1))
        .map_err(|_| input(format!("Instances {} is out of range", go.instances)))?;
    let (min_runners, max_runners) = if instances > 1 {
        // The Go tool ignored the counts with several instances, as deskrun does.
        if (go.min_runners, go.max_runners) != (1, 1) {
            notes.push(
                "runners 1-1 per instance (the Go deskrun ignored its counts with instances)"
                    .into(),
            );
        }
        (1, 1)
    } else {
        let count = |field: &str, v: i64| {
            u32::try_from(v).map_err(|_| input(format!("{field} {v} is not a runner count")))
        };
        (
            count("MinRunners", go.min_runners)?,
            count("MaxRunners", go.max_runners)?,
        )
    };
    let mut caches = Vec::new();
    for c in go.cache_paths.iter().flatten() {
        caches.push(cache_of(&c.mount_path, &c.host_path, home, &mut notes)?);
    }
    for m in go.mounts.iter().flatten() {
        match m.kind.as_str() {
            "" | "DirectoryOrCreate" | "Directory" => {
                caches.push(cache_of(&m.target, &m.source, home, &mut notes)?)
            }
            other => {
                return Err(input(format!(
                    "its mount {} is of type {other}; deskrun mounts only directories (caches). \
                     Re-add the installation without it (`deskrun add … --replace`) or give Docker to \
                     jobs with --mode dind or cached-privileged-kubernetes",
                    m.target
                )));
            }
        }
    }
    let auth = match go.auth_type.as_str() {
        "" | "pat" => Auth::Pat {
            token: go.auth_value.trim().to_string(),
        },
        "github-app" => {
            return Err(input(format!(
                "a GitHub App installation: the Go deskrun's config has no app id and installation id, \
                 which deskrun needs; add it with `deskrun add {name} --repository {} --auth-type github-app \
                 --app-id ID --installation-id ID --auth-value-file KEY.pem`",
                go.repository
            )));
        }
        other => {
            return Err(input(format!(
                "unknown AuthType {other:?}; deskrun knows pat and github-app"
            )));
        }
    };
    // Errors name the Go file's keys (`MaxRunners`, `CachePaths[0].MountPath`).
    let vocab = Vocab::GoJson {
        cache_paths: go.cache_paths.as_ref().map_or(0, Vec::len),
    };
    let inst = validate_installation(
        vocab,
        name,
        &Installation {
            repository: go.repository.clone(),
            mode,
            min_runners,
            max_runners,
            instances,
            caches,
            auth,
            ..Default::default()
        },
    )?;
    crate::ops::hostpaths::check_installation(vocab, &inst)?;
    let exists = config.installations.contains_key(name);
    if exists && !replace {
        return Err(input(format!(
            "an installation {name:?} exists already; run again with --replace to overwrite it"
        )));
    }
    // Together with the others: no scale-set name may be produced twice.
    let mut next = config.clone();
    next.installations.insert(name.to_string(), inst.clone());
    validate_config_with(&next, Some((name, vocab)))?;
    *config = next;
    Ok(Imported {
        name: name.to_string(),
        mode,
        repository: inst.repository.clone(),
        replaced: exists,
        runs_on: inst.instance_names(name),
        notes,
    })
}

/// A cache from the Go tool's (job path, host path); an empty host path is
/// deskrun-managed. A newer Go deskrun recorded managed caches as paths in
/// the kind node under /host-cache/deskrun, which was ~/.cache/deskrun on
/// the host: that host directory is kept, so the cached data is too.
fn cache_of(path: &str, host: &str, home: Option<&Path>, notes: &mut Vec<String>) -> Result<Cache> {
    let host_path = match (host, home) {
        ("", _) => None,
        (h, Some(home)) if h == GO_NODE_CACHE || h.starts_with(&format!("{GO_NODE_CACHE}/")) => {
            let on_host = format!(
                "{}/.cache/deskrun{}",
                home.display(),
                &h[GO_NODE_CACHE.len()..]
            );
            notes.push(format!(
                "cache {path}: {h} (in the Go deskrun's node) is {on_host} on this machine"
            ));
            Some(on_host)
        }
        (h, _) => Some(h.to_string()),
    };
    Ok(Cache {
        path: path.to_string(),
        host_path,
    })
}

/// The one-line hint `list` and `up` print when deskrun has no config of its
/// own but the Go deskrun's exists.
pub fn go_config_hint(store: &Store) -> Option<String> {
    if store.path().exists() {
        return None;
    }
    let go = default_go_config()?;
    go.is_file().then(|| {
        format!(
            "hint: found the Go deskrun's config {}; import its installations with `deskrun config import`",
            go.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ghp_importtesttoken0001";

    fn go_file(dir: &Path, json: &str) -> PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn the_go_format_is_imported_like_add_and_credentials_stay_out_of_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("deskrun.yaml"));
        let file = go_file(
            dir.path(),
            &format!(
                r#"{{"cluster_name": "deskrun", "installations": {{
                  "docker-runner": {{"Name": "docker-runner", "Repository": "https://github.com/owner/repo",
                    "ContainerMode": "cached-privileged-kubernetes", "MinRunners": 1, "MaxRunners": 1,
                    "Instances": 1, "CachePaths": [{{"MountPath": "/var/lib/docker", "HostPath": ""}},
                    {{"MountPath": "/root/.npm", "HostPath": "/srv/npm"}}],
                    "AuthType": "pat", "AuthValue": "{TOKEN}\n"}},
                  "ci": {{"Name": "ci", "Repository": "https://github.com/owner/repo", "ContainerMode": "kubernetes",
                    "MinRunners": 1, "MaxRunners": 5, "Instances": 3, "CachePaths": null,
                    "AuthType": "pat", "AuthValue": "{TOKEN}"}},
                  "bad-url": {{"Repository": "https://github.com/{TOKEN}/a/b/c", "ContainerMode": "dind",
                    "MinRunners": 1, "MaxRunners": 2, "Instances": 1, "AuthType": "pat", "AuthValue": "{TOKEN}"}},
                  "app": {{"Repository": "https://github.com/org", "ContainerMode": "dind", "MinRunners": 0,
                    "MaxRunners": 2, "Instances": 1, "AuthType": "github-app", "AuthValue": "key"}},
                  "turbo": {{"Repository": "https://github.com/org", "ContainerMode": "turbo",
                    "AuthType": "pat", "AuthValue": "{TOKEN}"}}
                }}, "cluster_hosts": {{}}}}"#
            ),
        );
        let r = import(&store, &file, false).unwrap();
        let names: Vec<&str> = r.imported.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["ci", "docker-runner"]);
        let refused: Vec<&str> = r.refused.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(refused, ["app", "bad-url", "turbo"]);
        let why = |n: &str| &r.refused.iter().find(|x| x.name == n).unwrap().reason;
        assert!(why("app").contains("--app-id"), "{}", why("app"));
        assert!(why("turbo").contains("turbo"), "{}", why("turbo"));
        assert!(!why("bad-url").contains(TOKEN), "{}", why("bad-url"));
        assert!(
            why("bad-url").contains("invalid Repository"),
            "{}",
            why("bad-url")
        );
        assert_eq!(r.go_cluster_name.as_deref(), Some("deskrun"));

        let c = store.load().unwrap();
        let d = &c.installations["docker-runner"];
        assert_eq!(d.mode, Mode::CachedPrivilegedKubernetes);
        assert_eq!(
            d.auth,
            Auth::Pat {
                token: TOKEN.into()
            }
        );
        assert_eq!(
            d.caches[0],
            Cache {
                path: "/var/lib/docker".into(),
                host_path: None
            }
        );
        assert_eq!(d.caches[1].host_path.as_deref(), Some("/srv/npm"));
        let ci = &c.installations["ci"];
        assert_eq!((ci.instances, ci.min_runners, ci.max_runners), (3, 1, 1));
        assert!(!r.imported[0].notes.is_empty(), "the counts were adjusted");

        // Again: every name exists now. With --replace they are replaced.
        let again = import(&store, &file, false).unwrap();
        assert!(again.imported.is_empty());
        assert!(
            again
                .refused
                .iter()
                .any(|x| x.name == "ci" && x.reason.contains("--replace"))
        );
        let before = std::fs::read(store.path()).unwrap();
        let replaced = import(&store, &file, true).unwrap();
        assert!(replaced.imported.iter().all(|i| i.replaced));
        assert_eq!(std::fs::read(store.path()).unwrap(), before, "same content");
    }

    #[test]
    fn newer_go_fields_and_its_node_cache_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("deskrun.yaml"));
        let file = go_file(
            dir.path(),
            r#"{"cluster_name": "old", "installations": {
              "node": {"Repository": "https://github.com/o/r", "ContainerMode": "cached-privileged-kubernetes",
                "MinRunners": 0, "MaxRunners": 1, "Instances": 1,
                "CachePaths": [{"Target": "/var/lib/docker", "Source": "/host-cache/deskrun/var-lib-docker"}],
                "Mounts": [{"Source": "/srv/x", "Target": "/x", "Type": "DirectoryOrCreate"}],
                "AuthType": "pat", "AuthValue": "tok-abc-123"},
              "s": {"Repository": "https://github.com/o/r", "ContainerMode": "kubernetes",
                "MinRunners": 0, "MaxRunners": 1, "Instances": 1,
                "Mounts": [{"Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock", "Type": "Socket"}],
                "AuthType": "pat", "AuthValue": "tok-abc-123"}
            }}"#,
        );
        let r = import(&store, &file, false).unwrap();
        assert_eq!(r.go_cluster_name.as_deref(), Some("old"));
        assert_eq!(r.refused.len(), 1);
        assert!(
            r.refused[0].reason.contains("Socket"),
            "{}",
            r.refused[0].reason
        );
        let n = &store.load().unwrap().installations["node"];
        let home = dirs::home_dir().unwrap();
        assert_eq!(
            n.caches[0].host_path.as_deref(),
            Some(format!("{}/.cache/deskrun/var-lib-docker", home.display()).as_str())
        );
        assert_eq!(n.caches[1].host_path.as_deref(), Some("/srv/x"));
    }

    #[test]
    fn a_file_that_is_not_the_go_format_is_an_input_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("deskrun.yaml"));
        for text in ["not json", "[1, 2]", r#"{"installations": 5}"#] {
            let file = go_file(dir.path(), text);
            let e = import(&store, &file, false).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
        }
        let e = import(&store, &dir.path().join("missing.json"), false).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(!store.path().exists());
    }
}
