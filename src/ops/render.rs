//! `deskrun render`: every file `up` would apply, on stdout or in a folder.

use crate::model::Config;
use crate::render::{RenderedFile, render};
use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
///
/// Nothing is written through a symlink inside `dir`: a link planted at
/// `DIR/<instance>/values.yaml` (or at `DIR/<instance>`) would otherwise make
/// `--show-secrets` write the token wherever it points. Such a link, or any
/// other non-regular file in the way, is refused with what it points to; each
/// file is written to a temp file beside it and renamed over it, so even a
/// link that appears meanwhile is replaced, not followed. `dir` itself may be
/// a link: the user named it.
pub fn write_dir(dir: &Path, files: &[RenderedFile]) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for f in files {
        let path = dir.join(&f.path);
        // Each folder under `dir`, then the file.
        let mut at = dir.to_path_buf();
        let parts: Vec<_> = Path::new(&f.path).components().collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let last = i + 1 == parts.len();
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = fs::read_link(&at)
                        .map(|t| t.display().to_string())
                        .unwrap_or_else(|_| "?".into());
                    return Err(crate::error::input(format!(
                        "refused to write {}: {} is a symbolic link (to {target}), and deskrun does \
                         not write through links in --output-dir; remove it or choose another folder",
                        path.display(),
                        at.display()
                    )));
                }
                Ok(m) if (last && !m.is_file()) || (!last && !m.is_dir()) => {
                    return Err(crate::error::input(format!(
                        "refused to write {}: {} exists and is not a {}; remove it or choose another folder",
                        path.display(),
                        at.display(),
                        if last { "regular file" } else { "folder" }
                    )));
                }
                Ok(_) => {}
                Err(_) if !last => {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&at)
                        .or_else(|e| if at.is_dir() { Ok(()) } else { Err(e) })
                        .with_context(|| format!("cannot create {}", at.display()))?;
                }
                Err(_) => {}
            }
        }
        let parent = path.parent().unwrap_or(dir);
        // Registered: with --show-secrets it holds the credential, and the
        // interrupt handler must not leave it behind.
        let mut tmp = crate::exec::registered_temp_file(|| {
            tempfile::Builder::new()
                .prefix(".deskrun-render-")
                .permissions(fs::Permissions::from_mode(0o600))
                .tempfile_in(parent)
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
        tmp.file()
            .write_all(f.text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
