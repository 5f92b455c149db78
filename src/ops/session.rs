//! What the cluster commands (`up`, `down`, `status`, `cluster`) share: the
//! tool runner, progress output, timeouts, the cluster lock, and a bounded
//! worker pool.

use crate::config::Store;
use crate::exec::ToolRunner;
use crate::host::Host;
use crate::progress::Progress;
use crate::tools::{self, Timeouts};
use anyhow::Result;
use std::fs::File;
use std::path::PathBuf;

/// Everything the cluster commands share.
pub struct Session<'a> {
    pub store: &'a Store,
    /// Every tool call goes here: the real runner, or a fake in tests.
    pub runner: &'a dyn ToolRunner,
    /// What is read from this machine itself (`/proc`, file systems): the
    /// real host, or a fake in tests.
    pub host: &'a dyn Host,
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
    /// the first, saying so and for whom, instead of racing it; after the
    /// store's bound it gives up (exit 1).
    pub fn cluster_lock(&self) -> Result<File> {
        self.store.cluster_lock(|path, holder, wait| {
            self.progress.printer().note(format!(
                "another deskrun up/down is running on this config: waiting up to {} for it to \
                 finish (the cluster lock {}, held by {holder}; --wait-lock SECONDS changes the wait)",
                crate::config::wait_text(wait),
                path.display()
            ))
        })
    }
}

pub use crate::par::parallel;

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
