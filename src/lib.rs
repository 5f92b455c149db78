//! deskrun: run GitHub Actions jobs on your own machine, through Actions
//! Runner Controller on a local kind cluster.
//!
//! The library holds all the work. `src/main.rs` sets up logging and the
//! [`output::Printer`]; [`cli`] holds the clap types and [`commands`] one
//! small function per command that calls [`ops`] and prints through the
//! printer.
//!
//! - Pure core (never runs a tool): [`model`], [`validate`], [`config`],
//!   [`render`], [`plan`], and [`observed`] (what was seen in the cluster).
//! - The seam to the outside: [`exec::ToolRunner`]; [`tools`] knows each
//!   tool's argv, [`observe`] reads the cluster into [`observed::Observed`].
//! - [`testing`]: an in-process fake of kind/helm/kubectl/docker behind
//!   the same seam, for tests and benches.
#![forbid(unsafe_code)]

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod controllers;
pub mod error;
pub mod exec;
pub mod github;
pub mod host;
pub mod mirrors;
pub mod model;
pub mod observe;
pub mod observed;
pub mod ops;
pub mod output;
pub mod par;
pub mod permissions;
pub mod plan;
pub mod progress;
pub mod quantity;
pub mod render;
pub mod term;
pub mod testing;
pub mod tools;
pub mod validate;
pub mod workload;
pub mod x509;
pub mod yaml;
