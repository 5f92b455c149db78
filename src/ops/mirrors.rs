//! Registry mirrors: the effects. The host side (data directories, the
//! containerd hosts directory) and the Docker side (the `kind` network and
//! one container per upstream), as [`crate::mirrors`] planned them.

use crate::error::input;
use crate::mirrors::{
    KIND_NETWORK, LABEL_MIRROR, MirrorAction, MirrorPlan, MirrorSpec, MirrorState, fs_type_at,
    hosts_file, plan_mirror,
};
use crate::ops::session::{Session, run_step};
use crate::tools::Kube;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

/// The first line of every `hosts.toml` deskrun writes: it removes only
/// directories holding one of its own files.
const HEADER: &str = "# Written by deskrun";

/// Refuse a mirror root in memory (tmpfs, ramfs): its data would be lost at
/// each reboot, and Docker cannot restart a container whose bind-mount
/// source has vanished. Validation refuses the usual memory directories by
/// name; this catches the rest (a tmpfs home, a cache dir linked to /tmp on
/// tmpfs).
pub fn check_not_in_memory(root: &str) -> Result<()> {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return Ok(()); // not Linux: nothing to check against
    };
    let resolved = nearest_existing(Path::new(root))
        .and_then(|p| fs::canonicalize(p).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| root.to_string());
    match fs_type_at(&resolved, &mounts).as_deref() {
        Some(t @ ("tmpfs" | "ramfs")) => Err(input(format!(
            "the registry mirrors' data directory {root} is on {t} (memory): it would be emptied at every \
             reboot and the mirrors could not restart. Set cluster.mirror_root in the config to a directory \
             on disk (e.g. /var/cache/deskrun/registry), or `registry_mirrors: []` to turn mirrors off"
        ))),
        _ => Ok(()),
    }
}

fn nearest_existing(path: &Path) -> Option<PathBuf> {
    path.ancestors().find(|p| p.exists()).map(Path::to_path_buf)
}

/// Make the containerd hosts directory say exactly what `specs` say: write
/// each `<upstream>/hosts.toml` that differs, and remove the folders of
/// upstreams no longer configured (only those holding a file deskrun
/// wrote). containerd reads these files at each pull, so a change takes
/// effect in a running cluster. Returns whether anything changed.
pub fn sync_hosts_dir(dir: &str, specs: &[MirrorSpec]) -> Result<bool> {
    let dir = Path::new(dir);
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the registry hosts directory {}",
            dir.display()
        )
    })?;
    let mut changed = false;
    for spec in specs {
        let file = hosts_file(spec);
        let path = dir.join(&file.path);
        if fs::read_to_string(&path).ok().as_deref() == Some(file.text.as_str()) {
            continue;
        }
        let parent = path.parent().expect("hosts.toml is in a folder");
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        // Written whole, then renamed: containerd never reads half a file.
        let tmp = parent.join(".hosts.toml.tmp");
        fs::write(&tmp, &file.text).with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        changed = true;
    }
    let wanted: Vec<&str> = specs.iter().map(|s| s.upstream.as_str()).collect();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let hosts = entry.path().join("hosts.toml");
        let ours = fs::read_to_string(&hosts).is_ok_and(|t| t.starts_with(HEADER));
        if !wanted.contains(&name.as_str()) && ours {
            fs::remove_file(&hosts)
                .with_context(|| format!("cannot remove {}", hosts.display()))?;
            let _ = fs::remove_dir(entry.path());
            changed = true;
        }
    }
    Ok(changed)
}

/// Everything on the host the mirrors need before a cluster uses them:
/// not in memory, the hosts directory up to date. A name held by someone
/// else's container gets no `hosts.toml`: containerd must not be sent to a
/// registry deskrun does not run.
pub fn prepare_host(root: &str, hosts_dir: &str, plans: &[MirrorPlan]) -> Result<()> {
    check_not_in_memory(root)?;
    let ours: Vec<MirrorSpec> = plans
        .iter()
        .filter(|p| p.action != MirrorAction::Foreign)
        .map(|p| p.spec.clone())
        .collect();
    sync_hosts_dir(hosts_dir, &ours)?;
    Ok(())
}

/// Bring each mirror to its planned state. The `kind` network is made first
/// when a container is to be created on it. Failures are returned, not
/// raised: without a mirror containerd pulls from the upstream itself, so
/// the rest of `up` goes on. A name taken by someone else's container is
/// skipped (see [`crate::mirrors::foreign_notice`]).
pub fn apply(s: &Session, kube: &Kube, plans: &[MirrorPlan]) -> Vec<anyhow::Error> {
    let mut failures = Vec::new();
    let creates = plans.iter().any(|p| {
        matches!(
            p.action,
            MirrorAction::Create | MirrorAction::Recreate { .. }
        )
    });
    if creates
        && let Err(e) = run_step(
            s,
            &format!("make sure Docker network {KIND_NETWORK} exists"),
            || {
                if !kube.network_exists(KIND_NETWORK)? {
                    kube.network_create(KIND_NETWORK)?;
                }
                Ok(())
            },
        )
    {
        failures.push(e.context(
            "registry mirrors: the kind Docker network could not be made, so no mirror was created",
        ));
        return failures;
    }
    for p in plans {
        let spec = &p.spec;
        let result = match &p.action {
            // Reported as a notice by the caller ([`foreign_notice`]).
            MirrorAction::Keep | MirrorAction::Foreign => Ok(()),
            MirrorAction::Start => run_step(
                s,
                &format!("start registry mirror {} ({})", spec.name, spec.upstream),
                || kube.docker_start(&format!("start the mirror {}", spec.name), &spec.name),
            ),
            MirrorAction::Create => run_step(
                s,
                &format!("create registry mirror {} ({})", spec.name, spec.upstream),
                || create(kube, spec),
            ),
            MirrorAction::Recreate { .. } => run_step(
                s,
                &format!(
                    "re-create registry mirror {} ({}), settings changed",
                    spec.name, spec.upstream
                ),
                || {
                    kube.docker_remove(
                        &format!("remove the old mirror {}", spec.name),
                        &spec.name,
                    )?;
                    create(kube, spec)
                },
            ),
        };
        if let Err(e) = result {
            failures.push(e);
        }
    }
    failures
}

fn create(kube: &Kube, spec: &MirrorSpec) -> Result<()> {
    // Made as the user: Docker would make a missing source as root.
    fs::create_dir_all(&spec.data_dir).with_context(|| {
        format!(
            "cannot create the mirror's data directory {} on the host",
            spec.data_dir
        )
    })?;
    kube.docker_run(
        &format!("create the mirror {}", spec.name),
        &spec.run_args(),
    )
}

/// Remove every deskrun mirror container (any config's). Their data
/// directories are kept. Returns the names removed.
pub fn remove_all(s: &Session, kube: &Kube) -> Result<Vec<String>> {
    let names = kube.containers_with_label("list deskrun's registry mirrors", LABEL_MIRROR)?;
    for name in &names {
        run_step(s, &format!("remove registry mirror {name}"), || {
            kube.docker_remove(&format!("remove the mirror {name}"), name)
        })?;
    }
    Ok(names)
}

/// One mirror as `status` and `cluster status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorStatus {
    /// The registry it mirrors (`docker.io`).
    pub upstream: String,
    /// Its container name, also its host name on the kind network.
    pub container: String,
    pub exists: bool,
    /// Whether that container is deskrun's (false: someone else's container
    /// has the name, and deskrun leaves it alone).
    pub managed: bool,
    pub running: bool,
    /// Docker's state (`running`, `exited`, ...); `null` without a container.
    pub state: Option<String>,
    /// Whether the container matches the config (`deskrun up` leaves it).
    pub up_to_date: bool,
    /// Where its data lives on the host.
    pub data_dir: String,
    /// Disk space used there, in bytes (`null`: the directory does not exist).
    pub disk_bytes: Option<u64>,
}

/// The status of each configured mirror from what Docker reported.
pub fn mirror_statuses(specs: &[MirrorSpec], observed: &[MirrorState]) -> Vec<MirrorStatus> {
    specs
        .iter()
        .map(|spec| {
            let state = observed.iter().find(|m| m.name == spec.name);
            MirrorStatus {
                upstream: spec.upstream.clone(),
                container: spec.name.clone(),
                exists: state.is_some(),
                managed: state.is_some_and(|m| plan_mirror(spec, Some(m)) != MirrorAction::Foreign),
                running: state.is_some_and(|m| m.running),
                state: state.map(|m| m.status.clone()),
                up_to_date: plan_mirror(spec, state) == MirrorAction::Keep,
                data_dir: spec.data_dir.clone(),
                disk_bytes: disk_use(Path::new(&spec.data_dir)),
            }
        })
        .collect()
}

/// The mirrors as lines for people (`status`, `cluster status`):
/// `mirror  docker.io  running  1.2 GB  /home/me/.cache/deskrun/registry/docker.io`.
pub fn mirror_lines(mirrors: &[MirrorStatus], notice: Option<&str>) -> String {
    let rows: Vec<[String; 5]> = mirrors
        .iter()
        .map(|m| {
            let state = match (&m.state, m.up_to_date) {
                (None, _) => "absent (`deskrun up` creates it)".to_string(),
                (Some(_), _) if !m.managed => {
                    format!("not deskrun's container (rename or remove {})", m.container)
                }
                (Some(_), true) if m.running => "running".to_string(),
                (Some(s), true) => format!("{s} (`deskrun up` starts it)"),
                (Some(s), false) => format!("{s}, settings changed (`deskrun up` re-creates it)"),
            };
            [
                // Padded like status's `cluster     ` and `controller  `.
                "mirror    ".to_string(),
                m.upstream.clone(),
                state,
                m.disk_bytes.map_or_else(|| "-".to_string(), human_bytes),
                m.data_dir.clone(),
            ]
        })
        .collect();
    let mut out = crate::output::table(&rows);
    if let Some(n) = notice {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// Bytes for people: `1.4 GB`, `312 MB`, `12 kB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Disk space used under `dir`, like `du`: allocated blocks of every file,
/// folders included. `None` when the directory does not exist. Unreadable
/// parts (files the registry wrote as root in a private folder) are skipped.
pub fn disk_use(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::symlink_metadata(dir).ok()?;
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(m) = entry.metadata() else { continue };
                total += m.blocks() * 512;
                if m.is_dir() {
                    stack.push(entry.path());
                }
            }
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_dir_is_synced_and_only_our_folders_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("_containerd/deskrun");
        let hosts = hosts.to_str().unwrap();
        let d = MirrorSpec::new("docker.io", "/srv/m");
        let g = MirrorSpec::new("ghcr.io", "/srv/m");
        assert!(sync_hosts_dir(hosts, &[d.clone(), g.clone()]).unwrap());
        let text = fs::read_to_string(format!("{hosts}/docker.io/hosts.toml")).unwrap();
        assert_eq!(text, hosts_file(&d).text);
        // Unchanged: nothing written.
        assert!(!sync_hosts_dir(hosts, &[d.clone(), g.clone()]).unwrap());
        // A folder the user made there is left alone.
        fs::create_dir_all(format!("{hosts}/quay.io")).unwrap();
        fs::write(format!("{hosts}/quay.io/hosts.toml"), "server = \"x\"\n").unwrap();
        assert!(sync_hosts_dir(hosts, std::slice::from_ref(&d)).unwrap());
        assert!(!Path::new(&format!("{hosts}/ghcr.io")).exists());
        assert!(Path::new(&format!("{hosts}/quay.io/hosts.toml")).exists());
        assert!(Path::new(&format!("{hosts}/docker.io/hosts.toml")).exists());
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(12_345), "12.3 kB");
        assert_eq!(human_bytes(312_000_000), "312 MB");
        assert_eq!(human_bytes(1_400_000_000), "1.4 GB");
    }

    #[test]
    fn disk_use_counts_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(disk_use(&dir.path().join("missing")), None);
        let empty = disk_use(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/blob"), vec![7u8; 64 * 1024]).unwrap();
        let full = disk_use(dir.path()).unwrap();
        assert!(full >= empty + 64 * 1024, "{empty} -> {full}");
    }

    #[test]
    fn memory_is_refused_for_mirror_data() {
        if !Path::new("/dev/shm").is_dir() || !Path::new("/proc/self/mounts").exists() {
            eprintln!("skipped: no /dev/shm or /proc here");
            return;
        }
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
        if fs_type_at("/dev/shm", &mounts).as_deref() != Some("tmpfs") {
            eprintln!("skipped: /dev/shm is not tmpfs here");
            return;
        }
        let e = check_not_in_memory("/dev/shm/deskrun-test-registry").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("tmpfs"), "{e}");
        let here = env!("CARGO_MANIFEST_DIR");
        if !matches!(
            fs_type_at(here, &mounts).as_deref(),
            Some("tmpfs" | "ramfs")
        ) {
            check_not_in_memory(&format!("{here}/target/not-made-mirror-root")).unwrap();
        }
    }
}
