//! deskrun: run GitHub Actions jobs on your own machine, through Actions
//! Runner Controller on a local kind cluster.
//!
//! The library holds all the work; `src/main.rs` and `src/cli.rs` only parse
//! flags and print. Pure core: [`model`], [`validate`], [`config`], [`render`].

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod exec;
pub mod github;
pub mod mirrors;
pub mod model;
pub mod observe;
pub mod observed;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod render;
pub mod testing;
pub mod tools;
pub mod validate;
pub mod workload;
