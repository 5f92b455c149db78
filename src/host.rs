//! What deskrun reads from this machine besides the tools: kernel settings
//! under `/proc/sys` and file systems (free space, tmpfs) for `doctor`, and
//! the processes running (a helm still at work on a release) for `up`.
//! Behind a small trait, reached through `Session::host`, so the logic is
//! tested with any host it likes (`deskrun::testing::FakeHost`) and an
//! in-process test never depends on what runs on the machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A file system, as far as the doctor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Bytes an unprivileged user may still write.
    pub free: u64,
    pub tmpfs: bool,
}

/// A process on this machine, as far as deskrun cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostProcess {
    pub pid: u32,
    /// Its command line (lossily UTF-8).
    pub argv: Vec<String>,
    /// The variables of its environment that choose a kubeconfig
    /// ([`KUBECONFIG_VARS`]); `None` when this user may not read it.
    pub env: Option<BTreeMap<String, String>>,
}

/// What decides which kubeconfig a process uses: `KUBECONFIG`, else
/// `$HOME/.kube/config`.
pub const KUBECONFIG_VARS: [&str; 2] = ["KUBECONFIG", "HOME"];

pub trait Host: Send + Sync {
    /// A `/proc/sys` value by its sysctl name (`fs.inotify.max_user_watches`);
    /// `None` when there is no such file (not Linux, or no such setting).
    fn sysctl(&self, name: &str) -> Option<String>;

    /// The file system holding `path` (which exists).
    fn fs(&self, path: &Path) -> Option<FsInfo>;

    /// The other processes whose command line `wanted` accepts (the
    /// environment is read only for those).
    fn processes(&self, wanted: &dyn Fn(&[String]) -> bool) -> Vec<HostProcess>;
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

    /// Scans `/proc`; a process that ends meanwhile, or whose command line
    /// this user may not read, is skipped.
    fn processes(&self, wanted: &dyn Fn(&[String]) -> bool) -> Vec<HostProcess> {
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        let words = |raw: &[u8]| -> Vec<String> {
            raw.split(|b| *b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let argv = words(&raw);
            if argv.is_empty() || !wanted(&argv) {
                continue;
            }
            let env = std::fs::read(entry.path().join("environ")).ok().map(|raw| {
                words(&raw)
                    .into_iter()
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        KUBECONFIG_VARS
                            .contains(&k)
                            .then(|| (k.to_string(), v.to_string()))
                    })
                    .collect()
            });
            found.push(HostProcess { pid, argv, env });
        }
        found
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
    fn the_real_host_lists_other_processes_with_their_kubeconfig_variables() {
        let marker = format!("deskrun-host-test-{}", std::process::id());
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; :", &marker])
            .process_group(0)
            .env("KUBECONFIG", "/tmp/kc")
            .env("GITHUB_TOKEN", "never-read")
            .spawn()
            .unwrap();
        // Between fork and exec the child still shows this test's argv.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let found = loop {
            let found = RealHost.processes(&|argv| argv.contains(&marker));
            if found.iter().any(|p| p.pid == child.id()) || std::time::Instant::now() > until {
                break found;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        // The shell and its sleep.
        let group = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        // (The shell's own fork for `sleep` may show its argv too, briefly.)
        let p = found
            .iter()
            .find(|p| p.pid == child.id())
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(p.argv, ["sh", "-c", "sleep 30; :", marker.as_str()]);
        let env = p
            .env
            .as_ref()
            .expect("our own child's environment is readable");
        assert_eq!(env.get("KUBECONFIG").map(String::as_str), Some("/tmp/kc"));
        assert!(
            !env.contains_key("GITHUB_TOKEN"),
            "only what picks a kubeconfig"
        );
        // Never this process itself.
        let me = std::process::id();
        assert!(RealHost.processes(&|_| true).iter().all(|p| p.pid != me));
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
