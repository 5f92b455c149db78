//! The in-process test suite: deskrun's operations against
//! [`deskrun::testing::FakeCluster`], rendering (snapshots, and the real
//! chart through `../shared/tools`), validation, the docs and the GitHub
//! client, without starting deskrun as a process. One binary, so its tests
//! run in parallel with each other (as cargo's own testsuite); what needs
//! deskrun as a process is in `tests/blackbox`.

#[path = "../common/mod.rs"]
mod common;

mod conformance;
mod docs;
mod doctor;
mod existing;
mod faults;
mod fuzz;
mod github;
mod github_ca;
mod mirror_configs;
mod mirrors;
mod ops;
mod proxy;
mod render_snapshots;
mod runners;
mod vocab;
mod yaml11;
