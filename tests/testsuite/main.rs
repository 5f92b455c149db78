//! The in-process test suite: deskrun's operations against
//! [`deskrun::testing::FakeCluster`], no processes started. One binary, so
//! its tests run in parallel with each other (as cargo's own testsuite).

mod doctor;
mod existing;
mod faults;
mod github_ca;
mod mirrors;
mod ops;
mod proxy;
mod runners;
mod vocab;
