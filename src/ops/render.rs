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
///
/// The temp files are `.deskrun-render-<pid>-<random>`; one that a SIGKILL
/// left (its process is gone) is removed from each folder written to, and
/// nothing else there is touched.
pub fn write_dir(dir: &Path, files: &[RenderedFile]) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut swept = std::collections::BTreeSet::new();
    let prefix = format!("{TEMP_PREFIX}{}-", std::process::id());
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
        if swept.insert(parent.to_path_buf()) {
            crate::exec::remove_stale_temp_files(parent, left_by_a_dead_render);
        }
        // Registered: with --show-secrets it holds the credential, and the
        // interrupt handler must not leave it behind.
        let mut tmp = crate::exec::registered_temp_file(|| {
            tempfile::Builder::new()
                .prefix(&prefix)
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

/// How `write_dir`'s temp files begin; the writer's pid and a random part
/// follow.
const TEMP_PREFIX: &str = ".deskrun-render-";

/// `.deskrun-render-<pid>-<random>` of a process that no longer runs (a
/// render that is still writing keeps its own), or `.deskrun-render-<random>`
/// as versions before the pid wrote them, once older than a minute (a write
/// takes milliseconds).
fn left_by_a_dead_render(name: &str, meta: &fs::Metadata) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let random = |r: &str| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric());
    match rest.split_once('-') {
        Some((pid, r)) if random(r) => pid.parse::<i32>().is_ok_and(|pid| pid > 0 && !running(pid)),
        Some(_) => false,
        None => {
            random(rest)
                && meta
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(60))
        }
    }
}

/// Whether process `pid` exists (one of another user counts too).
fn running(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e != Errno::ESRCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    fn file(path: &str) -> RenderedFile {
        RenderedFile {
            path: path.into(),
            text: "x: 1\n".into(),
        }
    }

    #[test]
    fn temp_files_a_killed_render_left_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(out.join("a")).unwrap();
        fs::create_dir_all(out.join("other")).unwrap();
        // A pid that ran and is gone.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let put = |rel: &str| {
            let p = out.join(rel);
            fs::write(&p, "token").unwrap();
            p
        };
        let stale = [
            put(&format!(".deskrun-render-{dead}-Ab12Cd")),
            put(&format!("a/.deskrun-render-{dead}-Xy34Zw")),
            put("a/.deskrun-render-Qw56Er"),
        ];
        // The pid-less name of older versions: stale once a minute old.
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale[2])
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap();
        let link = out.join(format!("a/.deskrun-render-{dead}-Li9Nk0"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let kept = [
            // A render of this process, still writing.
            put(&format!("a/.deskrun-render-{me}-Ab12Cd")),
            // A pid-less one that may be in use.
            put("a/.deskrun-render-Fr3sh0"),
            // Not deskrun's names.
            put("a/notes.txt"),
            put(&format!("a/.deskrun-render-{dead}-x.y")),
            put(".deskrun-config-config.yaml.Ab12Cd"),
            // A folder no file is written to.
            put(&format!("other/.deskrun-render-{dead}-Ab12Cd")),
        ];
        write_dir(
            &out,
            &[file("a/values.yaml"), file("controller-values.yaml")],
        )
        .unwrap();
        for p in &stale {
            assert!(!p.exists(), "{} left", p.display());
        }
        for p in &kept {
            assert!(p.exists(), "{} removed", p.display());
        }
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(
            fs::read_to_string(out.join("a/values.yaml")).unwrap(),
            "x: 1\n"
        );
        // Its own temp files are gone once written.
        let ours = format!(".deskrun-render-{me}-");
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
