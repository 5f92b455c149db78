//! The work behind each command, as a library API that tests call directly.
//! The CLI (`src/cli.rs`) only parses flags and formats what these return.

pub mod add;
pub mod cluster;
pub mod doctor;
pub mod down;
pub mod hostpaths;
pub mod import;
pub mod jobs;
pub mod list;
pub mod logs;
pub mod mirrors;
pub mod proxy;
pub mod remove;
pub mod render;
pub mod session;
pub mod status;
pub mod up;
