//! Checks of cache directories on this machine: what `add` and `up` can see
//! that validation of the config alone cannot (the config may be written on
//! one machine and used on another, so these are not part of `validate`).

use crate::input_bail;
use crate::model::{ClusterSettings, Installation};
use crate::render::{Rendered, cache_host_path};
use crate::validate::{Field, Vocab};
use anyhow::Result;
use std::path::Path;

/// What a cache is, for the messages that refuse something else.
const WHAT_A_CACHE_IS: &str = "a cache is a directory on this machine that deskrun mounts into the \
     job and keeps between jobs; it cannot be a socket or a file (to share the host's Docker daemon, \
     use --mode dind or cached-privileged-kubernetes instead of mounting docker.sock)";

/// A cache host path that exists and is not a directory (a socket, a file):
/// `up` would fail later with "cannot create cache directory … File exists".
/// Symlinks to directories are fine.
pub fn check_cache_host_path(field: &str, host_path: &str) -> Result<()> {
    let path = Path::new(host_path);
    if path.symlink_metadata().is_err() {
        return Ok(()); // absent: `up` creates it
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) => {
            let kind = describe(&m);
            input_bail!("invalid {field}: {host_path} exists and is {kind}; {WHAT_A_CACHE_IS}")
        }
        Err(_) => input_bail!(
            "invalid {field}: {host_path} is a dangling symbolic link; {WHAT_A_CACHE_IS}"
        ),
    }
}

fn describe(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_socket() {
        "a socket"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a file"
    }
}

/// Check every cache of an installation whose host directory is known
/// without rendering: the `HOST_PATH`s (for `add` and `config import`).
pub fn check_installation(vocab: Vocab, inst: &Installation) -> Result<()> {
    for (i, cache) in inst.caches.iter().enumerate() {
        if let Some(h) = &cache.host_path {
            check_cache_host_path(&vocab.name(Field::CacheHostPath(i)), h)?;
        }
    }
    Ok(())
}

/// Before `up` touches anything: the cache root and every cache directory
/// of every instance must be a directory or absent.
pub fn check_rendered(cluster: &ClusterSettings, rendered: &Rendered) -> Result<()> {
    check_cache_host_path("cluster.cache_root", &cluster.cache_root)?;
    for inst in &rendered.instances {
        for path in &inst.cache_host_paths {
            check_cache_host_path(&format!("cache host path of {}", inst.instance), path)?;
        }
    }
    Ok(())
}

/// The name of a RAM-backed file system that `path` (or its nearest existing
/// ancestor, since caches are created on first use) lives on.
pub fn ram_filesystem(path: &str) -> Option<&'static str> {
    use nix::sys::statfs::{TMPFS_MAGIC, statfs};
    let mut p = Path::new(path);
    loop {
        if p.exists() {
            break;
        }
        p = p.parent()?;
    }
    match statfs(p) {
        Ok(s) if s.filesystem_type() == TMPFS_MAGIC => Some("tmpfs"),
        // ramfs (RAMFS_MAGIC): no size limit at all, worse than tmpfs.
        Ok(s) if s.filesystem_type().0 as u64 == 0x8584_58f6 => Some("ramfs"),
        _ => None,
    }
}

/// One warning when caches would live in RAM: a `/var/lib/docker` cache on
/// `/tmp` (tmpfs on many distributions) fills it. Names the file system and
/// the fix. `None` when every cache is on disk.
pub fn ram_cache_warning(
    cluster: &ClusterSettings,
    rendered: &Rendered,
    config_file: &Path,
) -> Option<String> {
    let root = cluster.cache_root.trim_end_matches('/');
    let mut managed: Option<&'static str> = None;
    let mut custom: Vec<(String, &'static str)> = Vec::new();
    for inst in &rendered.instances {
        for (i, path) in inst.cache_host_paths.iter().enumerate() {
            let is_managed = *path == cache_host_path(cluster, &inst.instance, i, None);
            let under_root = path == root || path.starts_with(&format!("{root}/"));
            if let Some(fs) = ram_filesystem(path) {
                if is_managed || under_root {
                    managed = Some(fs);
                } else if !custom.iter().any(|(p, _)| p == path) {
                    custom.push((path.clone(), fs));
                }
            }
        }
    }
    let mut parts = Vec::new();
    if let Some(fs) = managed {
        parts.push(format!(
            "the cache root {root} is on {fs}, so caches there use RAM and vanish at reboot (a Docker \
             cache can fill your memory); set `cluster.cache_root: /var/cache/deskrun` (or another \
             directory on disk) in {} and run `deskrun down --delete-cluster && deskrun up`",
            config_file.display()
        ));
    }
    if !custom.is_empty() {
        let list: Vec<String> = custom.iter().map(|(p, fs)| format!("{p} ({fs})")).collect();
        parts.push(format!(
            "cache host paths in RAM: {}; give those caches a HOST_PATH on disk",
            list.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_or_file_is_not_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let file = d.join("file");
        std::fs::write(&file, "x").unwrap();
        let sock = d.join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::os::unix::fs::symlink(d, d.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();

        let err = |p: &Path| {
            let e = check_cache_host_path("--cache", p.to_str().unwrap()).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2);
            e.to_string()
        };
        let m = err(&sock);
        assert!(
            m.contains("a socket") && m.contains("a cache is a directory"),
            "{m}"
        );
        assert!(err(&file).contains("a file"));
        assert!(err(&d.join("dangling")).contains("dangling"));
        for ok in [
            d.to_path_buf(),
            d.join("link-to-dir"),
            d.join("absent/deeper"),
        ] {
            check_cache_host_path("--cache", ok.to_str().unwrap()).unwrap();
        }
    }

    #[test]
    fn ram_file_systems_are_recognised_from_the_nearest_existing_directory() {
        // /dev/shm is tmpfs wherever Linux runs; a path below it that does
        // not exist yet is judged by /dev/shm.
        if Path::new("/dev/shm").is_dir() {
            assert_eq!(
                ram_filesystem("/dev/shm/deskrun-test/not/there"),
                Some("tmpfs")
            );
        }
        // The crate's own directory is on the build machine's disk.
        let here = env!("CARGO_MANIFEST_DIR");
        if ram_filesystem(here).is_none() {
            assert_eq!(ram_filesystem(&format!("{here}/src/nothing-here")), None);
        }
    }
}
