//! What the cluster commands (`up`, `down`, `status`, `cluster`) share: the
//! tool runner, progress output, timeouts, the cluster lock, and a bounded
//! worker pool.

use crate::config::Store;
use crate::exec::ToolRunner;
use crate::progress::Progress;
use crate::tools::{self, Timeouts};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything the cluster commands share.
pub struct Session<'a> {
    pub store: &'a Store,
    /// Every tool call goes here: the real runner, or a fake in tests.
    pub runner: &'a dyn ToolRunner,
    pub progress: &'a Progress,
    pub timeouts: Timeouts,
    /// Where tool versions are cached (`None`: check every time).
    pub cache_dir: Option<PathBuf>,
}

impl Session<'_> {
    pub fn check_tools(&self, tools: &[tools::Tool]) -> Result<()> {
        tools::check_tools(self.runner, tools, self.cache_dir.as_deref())
    }

    /// Serialise cluster-changing commands: a second `up`/`down` waits for
    /// the first, saying so, instead of racing it.
    pub fn cluster_lock(&self) -> Result<File> {
        let mut name = self
            .store
            .path()
            .file_name()
            .unwrap_or_default()
            .to_os_string();
        name.push(".cluster.lock");
        let path = self.store.path().with_file_name(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        if file.try_lock().is_err() {
            self.progress.printer().note(format!(
                "another deskrun up/down is running on this config ({}); waiting for it to finish",
                path.display()
            ));
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Ok(file)
    }
}

/// Run `f` over `items` on at most `workers` threads; results in item order.
pub fn parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Run one step with progress output; the error keeps its own message.
pub fn run_step<T>(s: &Session, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let step = s.progress.start(name);
    let r = f();
    match &r {
        Ok(_) => s.progress.done(step),
        Err(_) => s.progress.failed(step),
    }
    r
}
