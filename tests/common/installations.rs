//! Installations shared by the render tests: the snapshots
//! (`render_snapshots.rs`) and the real-chart checks (`conformance.rs`)
//! render the same ones.

use super::{caches, pat};
use deskrun::model::{Auth, Cache, Installation, JobContainer, Mode};

/// An installation of `https://github.com/owner/repo`; one instance runs
/// 1-5 runners, several run one each.
pub fn installation(mode: Mode, instances: u32, caches: Vec<Cache>, auth: Auth) -> Installation {
    let (min, max) = if instances > 1 { (1, 1) } else { (1, 5) };
    Installation {
        repository: "https://github.com/owner/repo".into(),
        mode,
        min_runners: min,
        max_runners: max,
        instances,
        caches,
        auth,
        ..Default::default()
    }
}

/// `inst` with a job-container rule and glibc-compat.
pub fn with(mut inst: Installation, job: Option<JobContainer>, glibc: bool) -> Installation {
    inst.job_container = job;
    inst.glibc_compat = glibc;
    inst
}

/// Installations using the per-installation job settings.
pub fn job_settings() -> Vec<(&'static str, Installation)> {
    vec![
        (
            "k8s-glibc",
            with(
                installation(Mode::Kubernetes, 1, vec![], pat()),
                Some(JobContainer::Optional),
                true,
            ),
        ),
        (
            "priv-glibc",
            with(
                installation(Mode::CachedPrivilegedKubernetes, 1, caches(), pat()),
                None,
                true,
            ),
        ),
        (
            "priv-required",
            with(
                installation(Mode::CachedPrivilegedKubernetes, 1, vec![], pat()),
                Some(JobContainer::Required),
                false,
            ),
        ),
    ]
}
