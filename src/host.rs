//! What `deskrun doctor` reads from this machine besides the tools: kernel
//! settings under `/proc/sys` and file systems (free space, tmpfs). Behind a
//! small trait so the doctor's logic is tested with any host it likes.

use std::path::{Path, PathBuf};

/// A file system, as far as the doctor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Bytes an unprivileged user may still write.
    pub free: u64,
    pub tmpfs: bool,
}

pub trait Host: Send + Sync {
    /// A `/proc/sys` value by its sysctl name (`fs.inotify.max_user_watches`);
    /// `None` when there is no such file (not Linux, or no such setting).
    fn sysctl(&self, name: &str) -> Option<String>;

    /// The file system holding `path` (which exists).
    fn fs(&self, path: &Path) -> Option<FsInfo>;
}

/// This machine.
pub struct RealHost;

impl Host for RealHost {
    fn sysctl(&self, name: &str) -> Option<String> {
        let path = Path::new("/proc/sys").join(name.replace('.', "/"));
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn fs(&self, path: &Path) -> Option<FsInfo> {
        use nix::sys::statfs::{TMPFS_MAGIC, statfs};
        let st = statfs(path).ok()?;
        Some(FsInfo {
            #[allow(clippy::unnecessary_cast)]
            free: (st.blocks_available() as u64).saturating_mul(st.block_size() as u64),
            tmpfs: st.filesystem_type() == TMPFS_MAGIC,
        })
    }
}

/// `path` itself when it exists, else its nearest existing ancestor.
pub fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .map(Path::to_path_buf)
}

/// Whether this user may create files in `dir`.
pub fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// `12.3 GiB`.
pub fn human_bytes(n: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    let g = n as f64 / GIB;
    if g >= 1.0 {
        format!("{g:.1} GiB")
    } else {
        format!("{:.0} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_host_reads_proc_and_file_systems() {
        let h = RealHost;
        // Linux is the supported host; these files exist on every kernel.
        assert!(h.sysctl("kernel.ostype").is_some_and(|s| s == "Linux"));
        assert!(h.sysctl("no.such.setting").is_none());
        let dir = tempfile::tempdir().unwrap();
        let fs = h.fs(dir.path()).unwrap();
        assert!(fs.free > 0);
        assert!(h.fs(Path::new("/no/such/dir")).is_none());
    }

    #[test]
    fn ancestors_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(existing_ancestor(&deep).unwrap(), dir.path());
        assert!(writable(dir.path()));
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300 MiB");
    }
}
