//! `deskrun render`: every file `up` would apply, on stdout or in a folder.

use crate::model::Config;
use crate::render::{RenderedFile, render};
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn render_files(
    config: &Config,
    only: &[String],
    show_secrets: bool,
) -> Result<Vec<RenderedFile>> {
    render(config, only)?.files(show_secrets)
}

/// Write the files under `dir` (created if needed). Files are 0600 and new
/// folders 0700: with `--show-secrets` they hold credentials.
pub fn write_dir(dir: &Path, files: &[RenderedFile]) -> Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // An existing file keeps its mode on open: tighten it explicitly.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(f.text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
