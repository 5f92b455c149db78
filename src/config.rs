//! The config store: one human-editable YAML file, read strictly, written
//! atomically under a lock.
//!
//! - Location: `--config`/`DESKRUN_CONFIG`, else `<XDG config dir>/deskrun/config.yaml`.
//! - A missing file is an empty config; it is created (0600, in 0700
//!   folders) on the first write. Anything that is not a regular file (a
//!   FIFO, a device, a socket, a directory) is refused, never replaced.
//! - Symlinks are resolved first: the lock (`<real file>.lock`) and the
//!   atomic rename are about the file that is really written, so two names
//!   for one config (a dotfiles link and its target) exclude each other.
//! - Writes go to a 0600 temp file beside the real file (removed by the
//!   interrupt handler on SIGINT/SIGTERM/SIGHUP; one left by a SIGKILL is
//!   removed by the next write), then `rename` over the old one, while
//!   holding an exclusive lock; waiting for the lock is announced, names the
//!   holder and gives up after [`LOCK_WAIT`] (the cluster lock of `up`/`down`
//!   likewise, after [`CLUSTER_LOCK_WAIT`]).
//! - Reads are bounded: at most [`MAX_CONFIG_BYTES`] and [`MAX_DEPTH`] levels
//!   of nesting (libyaml takes minutes over 200,000 nested `[`). A leading
//!   byte order mark is ignored.
//! - A corrupt file, an unknown key or a newer schema version is reported
//!   with the file's path and never overwritten.
//! - A config holding credentials that other users can read gets a warning
//!   (once per process) with the `chmod` that fixes it.

use crate::error::input;
use crate::model::{CONFIG_VERSION, Config};
use crate::validate::validate_config;
use anyhow::{Context, Result, anyhow};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The largest config file deskrun reads: a config is a few KB (a GitHub App
/// key is under 4 KB), so a bigger file is the wrong file.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// Nesting deskrun's schema needs is about 6 levels; libyaml's scanner is
/// quadratic in deep flow nesting.
pub const MAX_DEPTH: usize = 64;
/// How long `add`/`remove` wait for another process's lock on the config
/// (a write holds it for milliseconds).
pub const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How long `up`, `down` and `cluster create/delete` wait for another one's
/// cluster lock. One `up` legitimately holds it for minutes (creating the
/// cluster may take up to 10, each `helm --wait` up to 6), so the default
/// outlasts a slow `up` that creates everything; past it the holder is stuck
/// rather than slow. `--wait-lock`/`DESKRUN_LOCK_WAIT` sets both bounds.
pub const CLUSTER_LOCK_WAIT: Duration = Duration::from_secs(30 * 60);
/// Symlinks followed before giving up, as the kernel's ELOOP limit.
const MAX_SYMLINKS: usize = 40;

/// The default config path: `$XDG_CONFIG_HOME/deskrun/config.yaml`.
pub fn default_path() -> Result<PathBuf> {
    let dir = dirs::config_dir()
        .context("cannot find your config directory (is HOME set?); pass --config FILE")?;
    Ok(dir.join("deskrun").join("config.yaml"))
}

/// A handle on the config file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    /// The bound on waiting for either lock (`None`: [`LOCK_WAIT`] for the
    /// config, [`CLUSTER_LOCK_WAIT`] for the cluster).
    lock_wait: Option<Duration>,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Store {
            path: path.into(),
            lock_wait: None,
        }
    }

    /// The same store with another bound on waiting for its locks, the
    /// config's and the cluster's (`--wait-lock`; zero: do not wait).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// The path as the user gave it (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file that is really read and written: symlinks followed (also a
    /// dangling one, whose target a write creates) and the folder made
    /// canonical when it exists, so every name of one file gives one path.
    pub fn real_path(&self) -> Result<PathBuf> {
        let mut path = self.path.clone();
        let mut hops = 0;
        while fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            hops += 1;
            if hops > MAX_SYMLINKS {
                return Err(anyhow!(
                    "cannot read config file {}: too many levels of symbolic links",
                    self.path.display()
                ));
            }
            let target = fs::read_link(&path)
                .with_context(|| format!("cannot read the link {}", path.display()))?;
            path = parent_of(&path).join(target);
        }
        let Some(name) = path.file_name() else {
            return Err(input(format!(
                "config file {}: the path names a folder, not a file; pass --config with a file path",
                self.path.display()
            )));
        };
        match fs::canonicalize(parent_of(&path)) {
            Ok(dir) => Ok(dir.join(name)),
            Err(_) => Ok(path),
        }
    }

    /// Read and validate the config; a missing file is the default config.
    pub fn load(&self) -> Result<Config> {
        let Some(text) = read_text(&self.path)? else {
            return Ok(Config::default());
        };
        let config = parse(&text.text, &self.path)?;
        if text.mode & 0o077 != 0 && !config.installations.is_empty() {
            warn_exposed(&self.path, text.mode);
        }
        Ok(config)
    }

    /// Read-modify-write under the lock. `change` sees the current config and
    /// edits it; on error nothing is written.
    pub fn update<T>(&self, change: impl FnOnce(&mut Config) -> Result<T>) -> Result<T> {
        let real = self.prepare()?;
        let _lock = self.lock(&real)?;
        let mut config = self.load()?;
        let result = change(&mut config)?;
        let config = validate_config(&config)?;
        self.write(&real, &config)?;
        Ok(result)
    }

    /// Create the real file's folder (0700) and return the real path.
    fn prepare(&self) -> Result<PathBuf> {
        let real = self.real_path()?;
        let dir = parent_of(&real);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create config directory {}", dir.display()))?;
        // Canonical now that the folder exists.
        self.real_path()
    }

    /// The lock that serialises cluster-changing commands on this config:
    /// `<real file>.cluster.lock`, so two names of one config share it.
    /// When another process holds it, `on_wait(path, holder, bound)` runs,
    /// then it waits up to the bound and gives up with exit 1, naming the
    /// holder.
    pub fn cluster_lock(&self, on_wait: impl FnOnce(&Path, &str, Duration)) -> Result<File> {
        let real = self.prepare()?;
        let path = sibling(&real, ".cluster.lock");
        let wait = self.lock_wait.unwrap_or(CLUSTER_LOCK_WAIT);
        lock_file(
            &path,
            wait,
            |holder| on_wait(&path, holder, wait),
            |holder| {
                anyhow!(
                    "gave up after {} waiting for the cluster lock {}, held by {holder}: another \
                     deskrun up, down or cluster command is still changing this config's cluster, \
                     and nothing was done. Let it finish (or stop it) and run this again, or wait \
                     longer with --wait-lock SECONDS",
                    wait_text(wait),
                    path.display()
                )
            },
        )
    }

    /// The exclusive lock on `<real>.lock`. Waiting is announced with the
    /// holder's pid and name and bounded.
    fn lock(&self, real: &Path) -> Result<File> {
        let lock_path = sibling(real, ".lock");
        let wait = self.lock_wait.unwrap_or(LOCK_WAIT);
        lock_file(
            &lock_path,
            wait,
            |holder| {
                let _ = writeln!(
                    std::io::stderr(),
                    "waiting for the config lock {}, held by {holder} (up to {})",
                    lock_path.display(),
                    wait_text(wait)
                );
            },
            |holder| {
                anyhow!(
                    "gave up after {} waiting for the config lock {}, held by {holder}; nothing was \
                     changed. Wait for that process to finish (or stop it) and run the command again",
                    wait_text(wait),
                    lock_path.display(),
                )
            },
        )
    }

    /// Atomic replace of `real`: a 0600 temp file beside it, fsync, rename,
    /// fsync of the folder.
    fn write(&self, real: &Path, config: &Config) -> Result<()> {
        let text = to_yaml(config)?;
        let dir = parent_of(real);
        let prefix = temp_prefix(real);
        // Under the lock: none of this config's temp files is in use.
        crate::exec::remove_stale_temp_files(&dir, |name, _| {
            name.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
        });
        let mut tmp = crate::exec::registered_temp_file(|| {
            tempfile::Builder::new()
                .prefix(&prefix)
                .permissions(fs::Permissions::from_mode(0o600))
                .tempfile_in(&dir)
        })
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
        let written = (|| {
            let file = tmp.file();
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(text.as_bytes())?;
            file.as_file().sync_all()
        })();
        written.with_context(|| format!("cannot write a temp file in {}", dir.display()))?;
        tmp.persist(real)
            .with_context(|| format!("cannot write config file {}", real.display()))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Open (creating, 0600) and exclusively lock `path`, then write this
/// process's pid into it for the next waiter (the pid only: an argv can hold
/// a credential). When another process holds it, `on_wait(holder)` runs and
/// the lock is tried again, with naps growing to half a second, until `wait`
/// has passed: then the error `gave_up(holder)` makes, which exits 1.
/// Released when the file is dropped.
fn lock_file(
    path: &Path,
    wait: Duration,
    on_wait: impl FnOnce(&str),
    gave_up: impl FnOnce(&str) -> anyhow::Error,
) -> Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    if file.try_lock().is_err() {
        on_wait(&lock_holder(path));
        let until = Instant::now() + wait;
        let mut nap = Duration::from_millis(20);
        loop {
            let now = Instant::now();
            if now >= until {
                return Err(gave_up(&lock_holder(path)));
            }
            std::thread::sleep(nap.min(until - now));
            nap = (nap * 2).min(Duration::from_millis(500));
            if file.try_lock().is_ok() {
                break;
            }
        }
    }
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// `30s`, `30 min`, `300ms`: a lock's bound in messages.
pub fn wait_text(d: Duration) -> String {
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) && d.subsec_nanos() == 0 {
        format!("{} min", d.as_secs() / 60)
    } else {
        crate::exec::human_duration(d)
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// `.deskrun-config-<file name>.`: only this config's temp files, so that a
/// write never removes the in-flight temp file of another config in the
/// same folder (whose writer holds another lock).
fn temp_prefix(real: &Path) -> String {
    format!(
        ".deskrun-config-{}.",
        real.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// "deskrun (pid 1234)" from the pid the holder wrote into the lock file.
fn lock_holder(lock_path: &Path) -> String {
    let pid = fs::read_to_string(lock_path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    match pid {
        Some(pid) => {
            let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match name.trim() {
                "" => format!("pid {pid}"),
                n => format!("{n} (pid {pid})"),
            }
        }
        None => "another process".into(),
    }
}

/// The config's text and mode bits.
pub struct ConfigText {
    pub text: String,
    pub mode: u32,
}

/// Read the config file without blocking, within the bounds: `None` when it
/// does not exist; an input error when it is not a regular file, too large,
/// not UTF-8 or nested too deep. A leading byte order mark is dropped.
pub fn read_text(path: &Path) -> Result<Option<ConfigText>> {
    let file_err = |what: &str| {
        input(format!(
            "config file {} is {what}, not a regular file; pass --config with the path of a YAML file \
             (deskrun will not read or replace it)",
            path.display()
        ))
    };
    let kind = |m: &fs::Metadata| {
        let t = m.file_type();
        if t.is_file() {
            None
        } else if t.is_dir() {
            Some("a directory")
        } else if t.is_fifo() {
            Some("a named pipe (FIFO)")
        } else if t.is_char_device() {
            Some("a character device")
        } else if t.is_block_device() {
            Some("a block device")
        } else if t.is_socket() {
            Some("a socket")
        } else {
            Some("a special file")
        }
    };
    match fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read config file {}", path.display()));
        }
        Ok(m) => {
            if let Some(what) = kind(&m) {
                return Err(file_err(what));
            }
        }
    }
    // O_NONBLOCK: if the path was swapped for a FIFO since the check above,
    // opening it must not hang; fstat below then refuses it.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    if let Some(what) = kind(&meta) {
        return Err(file_err(what));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(input(format!(
            "config file {} is larger than {} MiB; a deskrun config is a few KB. Is --config pointing \
             at the right file? (deskrun will not overwrite it)",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        )));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(input(format!(
            "config file {} is not valid UTF-8 text; fix it or move it away (deskrun will not overwrite it)",
            path.display()
        )));
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    check_depth(&text, path)?;
    Ok(Some(ConfigText {
        text,
        mode: meta.mode() & 0o777,
    }))
}

/// Refuse YAML nested deeper than [`MAX_DEPTH`], in flow (`[`, `{`) or in
/// block (indentation) style, before libyaml sees it. Quoted text and
/// comments are skipped; block scalars are not, which only matters past 64.
fn check_depth(text: &str, path: &Path) -> Result<()> {
    let too_deep = |line: usize| {
        input(format!(
            "config file {} is nested more than {MAX_DEPTH} levels deep (line {line}); a deskrun config \
             needs about 6. Is --config pointing at the right file? (deskrun will not overwrite it)",
            path.display()
        ))
    };
    let mut flow = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        if flow == 0 && !body.is_empty() && !body.starts_with('#') {
            let indent = line.len() - body.len();
            while indents.last().is_some_and(|&i| i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => {
                    // '' inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), _) => {}
                (None, '"' | '\'') if prev == ' ' || "[{,:".contains(prev) => quote = Some(c),
                (None, '#') if prev == ' ' => break,
                (None, '[' | '{') => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return Err(too_deep(n + 1));
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        if indents.len() > MAX_DEPTH {
            return Err(too_deep(n + 1));
        }
    }
    Ok(())
}

static WARNED_EXPOSED: AtomicBool = AtomicBool::new(false);

/// Once per process: the config holds credentials and others may read it.
fn warn_exposed(path: &Path, mode: u32) {
    if WARNED_EXPOSED.swap(true, Ordering::SeqCst) {
        return;
    }
    let shown = path.display().to_string();
    let quoted = if shown
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-~+".contains(&b))
    {
        shown.clone()
    } else {
        format!("'{}'", shown.replace('\'', r"'\''"))
    };
    // Ignore a closed stderr: a warning must never stop the command.
    let _ = writeln!(
        std::io::stderr(),
        "warning: config file {shown} holds GitHub credentials and other users can access it \
         (mode {mode:04o}); run: chmod 600 {quoted}"
    );
}

const HEADER: &str = "# deskrun configuration: runner installations and cluster settings.\n\
# Edit with `deskrun add/remove`, or by hand; `deskrun up` applies it.\n\
# This file may hold GitHub credentials: keep it private (mode 0600).\n";

pub fn to_yaml(config: &Config) -> Result<String> {
    Ok(format!("{HEADER}{}", crate::yaml::to_string(config)?))
}

/// Parse config text strictly: the schema version first (so a newer file is
/// reported as such, not as a list of unknown keys), then every field.
pub fn parse(text: &str, path: &Path) -> Result<Config> {
    let file = path.display();
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        input(format!(
            "config file {file} is not valid YAML: {e}; fix it or move it away (deskrun will not overwrite it)"
        ))
    })?;
    if value.is_null() {
        return Ok(Config::default());
    }
    let Some(map) = value.as_mapping() else {
        return Err(input(format!(
            "config file {file}: expected a mapping with `version: {CONFIG_VERSION}` at the top"
        )));
    };
    match map.get("version") {
        None => {
            return Err(input(format!(
                "config file {file}: missing `version: {CONFIG_VERSION}` at the top"
            )));
        }
        Some(v) => match v.as_u64() {
            Some(n) if n == u64::from(CONFIG_VERSION) => {}
            Some(n) if n > u64::from(CONFIG_VERSION) => {
                return Err(input(format!(
                    "config file {file} has version {n}, written by a newer deskrun; this deskrun reads \
                     version {CONFIG_VERSION}. Upgrade deskrun (the file was left untouched)"
                )));
            }
            _ => {
                return Err(input(format!(
                    "config file {file}: unsupported `version: {}`; expected {CONFIG_VERSION}",
                    crate::yaml::to_string(v).unwrap_or_default().trim()
                )));
            }
        },
    }
    // From the parsed value (no second pass over the text); when that fails,
    // from the text, so that serde_yaml names the field's path and line
    // (`cluster.controller_chart: missing field `version` at line 5`)
    // instead of a bare `missing field `version``.
    let config: Config = match serde_yaml::from_value(value) {
        Ok(config) => config,
        Err(_) => {
            serde_yaml::from_str(text).map_err(|e| input(format!("config file {file}: {e}")))?
        }
    };
    validate_config(&config).map_err(|e| input(format!("config file {file}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Auth, Installation};
    use std::os::unix::fs::FileTypeExt;

    fn sample() -> Installation {
        Installation {
            repository: "https://github.com/o/r".into(),
            auth: Auth::Pat {
                token: "test-token-123".into(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("sub/config.yaml"));
        assert!(store.load().unwrap().installations.is_empty());
        store
            .update(|c| {
                c.installations.insert("a".into(), sample());
                Ok(())
            })
            .unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.installations["a"], sample());
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn failed_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("config.yaml"));
        store
            .update(|c| {
                c.installations.insert("a".into(), sample());
                Ok(())
            })
            .unwrap();
        let before = fs::read(store.path()).unwrap();
        let err = store
            .update(|c| {
                let mut bad = sample();
                bad.min_runners = 9;
                c.installations.insert("b".into(), bad);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(crate::error::exit_code(&err), 2);
        assert_eq!(fs::read(store.path()).unwrap(), before);
    }

    fn add_a(store: &Store) -> Result<()> {
        store.update(|c| {
            c.installations.insert("a".into(), sample());
            Ok(())
        })
    }

    #[test]
    fn two_names_of_one_file_share_the_lock_and_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/config.yaml");
        let link_dir = dir.path().join("dotfiles");
        fs::create_dir_all(&link_dir).unwrap();
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        let link = link_dir.join("config.yaml");
        std::os::unix::fs::symlink("../real/config.yaml", &link).unwrap();
        // A dangling link: the first write creates its target.
        add_a(&Store::new(&link)).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(fs::metadata(&real).unwrap().is_file());
        let canonical = fs::canonicalize(&real).unwrap();
        assert_eq!(Store::new(&link).real_path().unwrap(), canonical);
        assert_eq!(Store::new(&real).real_path().unwrap(), canonical);
        // The lock beside the real file, none beside the link.
        assert!(real.with_file_name("config.yaml.lock").exists());
        assert!(!link.with_file_name("config.yaml.lock").exists());
        // A link to a link to a folder's file.
        let link2 = dir.path().join("link2.yaml");
        std::os::unix::fs::symlink(&link, &link2).unwrap();
        assert_eq!(Store::new(&link2).real_path().unwrap(), canonical);
        // A loop is an error, not a hang.
        let l1 = dir.path().join("l1");
        std::os::unix::fs::symlink("l2", &l1).unwrap();
        std::os::unix::fs::symlink("l1", dir.path().join("l2")).unwrap();
        assert!(Store::new(&l1).real_path().is_err());
    }

    #[test]
    fn non_regular_files_are_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for path in [fifo.as_path(), Path::new("/dev/null"), dir.path()] {
            let store = Store::new(path);
            let e = store.load().unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
            assert!(e.to_string().contains("not a regular file"), "{e}");
            let e = add_a(&store).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
        }
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn stale_temp_files_of_this_config_only_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("config.yaml"));
        let stale = dir.path().join(".deskrun-config-config.yaml.Ab12Cd");
        let other = dir.path().join(".deskrun-config-other.yaml.Ab12Cd");
        fs::write(&stale, "token").unwrap();
        fs::write(&other, "token").unwrap();
        add_a(&store).unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "another config's temp file may be in use");
        // Other tests write configs at the same time: only this one's count.
        let live = crate::exec::live_temp_files();
        assert!(!live.iter().any(|p| p.starts_with(dir.path())), "{live:?}");
    }

    #[test]
    fn waiting_for_the_lock_is_bounded_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("config.yaml"));
        add_a(&store).unwrap();
        let before = fs::read(store.path()).unwrap();
        let holder = File::options()
            .write(true)
            .open(dir.path().join("config.yaml.lock"))
            .unwrap();
        holder.lock().unwrap();
        let started = Instant::now();
        let e = store
            .clone()
            .with_lock_wait(Duration::from_millis(300))
            .update(|c| {
                c.installations.clear();
                Ok(())
            })
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(crate::error::exit_code(&e), 1);
        let m = e.to_string();
        // The pid our own earlier update wrote: this process.
        assert!(
            m.contains(&format!("pid {}", std::process::id())) && m.contains("nothing was changed"),
            "{m}"
        );
        assert_eq!(fs::read(store.path()).unwrap(), before);
        drop(holder);
        add_a(&store).unwrap();
    }

    #[test]
    fn waiting_for_the_cluster_lock_is_bounded_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("config.yaml"));
        // Another holder, which wrote its pid as deskrun does.
        let lock_path = dir.path().join("config.yaml.cluster.lock");
        let mut holder = File::create(&lock_path).unwrap();
        holder.lock().unwrap();
        writeln!(holder, "{}", std::process::id()).unwrap();
        let me = format!("(pid {})", std::process::id());
        let announced = std::cell::RefCell::new(None);
        let started = Instant::now();
        let e = store
            .clone()
            .with_lock_wait(Duration::from_millis(300))
            .cluster_lock(|path, who, wait| {
                *announced.borrow_mut() = Some((path.to_path_buf(), who.to_string(), wait))
            })
            .unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(crate::error::exit_code(&e), 1);
        let m = e.to_string();
        assert!(m.contains("gave up after 300ms"), "{m}");
        assert!(m.contains(&me) && m.contains("--wait-lock SECONDS"), "{m}");
        let (path, who, wait) = announced.into_inner().expect("the wait was announced");
        assert_eq!(path.file_name(), lock_path.file_name());
        assert!(who.ends_with(&me), "{who}");
        assert_eq!(wait, Duration::from_millis(300));
        // Zero: no wait at all.
        let started = Instant::now();
        assert!(
            store
                .clone()
                .with_lock_wait(Duration::ZERO)
                .cluster_lock(|_, _, _| {})
                .is_err()
        );
        assert!(started.elapsed() < Duration::from_millis(200));
        // Released meanwhile: taken, within the bound, and the new holder's
        // pid written for the next waiter.
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(holder);
        });
        let lock = store
            .clone()
            .with_lock_wait(Duration::from_secs(10))
            .cluster_lock(|_, _, _| {})
            .unwrap();
        release.join().unwrap();
        assert_eq!(
            fs::read_to_string(&lock_path).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(lock);
        // The default bound outlasts a slow `up` that creates everything.
        assert_eq!(store.lock_wait, None);
        assert_eq!(wait_text(CLUSTER_LOCK_WAIT), "30 min");
        assert_eq!(wait_text(LOCK_WAIT), "30s");
    }

    #[test]
    fn folders_are_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("a/b/config.yaml"));
        add_a(&store).unwrap();
        for d in ["a", "a/b"] {
            let mode = fs::metadata(dir.path().join(d)).unwrap().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{d}: {mode:o}");
        }
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let store = Store::new(&path);
        let refused = |text: String, needle: &str| {
            fs::write(&path, text).unwrap();
            let started = Instant::now();
            let e = store.load().unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        };
        let deep = 200_000;
        refused(
            format!(
                "version: 1\ninstallations: {}{}\n",
                "[".repeat(deep),
                "]".repeat(deep)
            ),
            "nested more than 64 levels",
        );
        refused(
            format!(
                "version: 1\ninstallations: {}1{}\n",
                "{a: ".repeat(deep),
                "}".repeat(deep)
            ),
            "nested more than 64 levels",
        );
        let block: String = (0..100)
            .map(|i| format!("{}a{i}:\n", " ".repeat(i)))
            .collect();
        refused(format!("version: 1\n{block}"), "nested more than 64 levels");
        refused(
            format!("version: 1\n#{}\n", "x".repeat(5 << 20)),
            "larger than 4 MiB",
        );
        // Brackets inside quotes and comments do not count.
        let quoted = format!(
            "version: 1 # {}\ncluster: {{name: \"{}\", namespace: '{}'}}\n",
            "[".repeat(100),
            "[".repeat(100),
            "{".repeat(100)
        );
        fs::write(&path, quoted).unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("cluster.name"), "{e}");
        // A byte order mark is ignored.
        fs::write(&path, "\u{feff}version: 1\n").unwrap();
        store.load().unwrap();
    }

    #[test]
    fn strict_parsing() {
        let p = Path::new("/x/config.yaml");
        let e = parse("version: 2\n", p).unwrap_err().to_string();
        assert!(
            e.contains("newer deskrun") && e.contains("/x/config.yaml"),
            "{e}"
        );
        let e = parse("version: 1\nbogus: 1\n", p).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = parse("installations: {}\n", p).unwrap_err().to_string();
        assert!(e.contains("missing `version"), "{e}");
        let e = parse("version: [1\n", p).unwrap_err().to_string();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = parse(
            "version: 1\ninstallations:\n  a:\n    repository: https://github.com/o/r\n    mode: kubernetes\n    min_runners: 1\n    max_runners: 5\n    auth: {type: pat, token: t0k3n}\n    colour: red\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse(
            "version: 1\ninstallations:\n  a:\n    repository: https://github.com/o/r\n    mode: turbo\n    min_runners: 1\n    max_runners: 5\n    auth: {type: pat, token: t0k3n}\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("turbo") || e.contains("mode"), "{e}");
        let c = parse("version: 1\n", p).unwrap();
        assert_eq!(c.cluster.name, "deskrun");
        assert_eq!(c.cluster.namespace, "arc-systems");
        assert_eq!(c.cluster.cache_root, "/tmp/github-runner-cache");
        assert_eq!(c.cluster.controller_chart.version, "0.14.2");
        // A config from before registry mirrors gets the default mirrors.
        assert_eq!(c.cluster.registry_mirrors, ["docker.io", "ghcr.io"]);
        assert_eq!(c.cluster.mirror_root, None);
    }

    #[test]
    fn registry_mirror_settings() {
        let p = Path::new("/x/config.yaml");
        let c = parse("version: 1\ncluster:\n  registry_mirrors: []\n", p).unwrap();
        assert!(c.cluster.registry_mirrors.is_empty());
        let c = parse(
            "version: 1\ncluster:\n  registry_mirrors: [quay.io]\n  mirror_root: /srv/m/\n",
            p,
        )
        .unwrap();
        assert_eq!(c.cluster.registry_mirrors, ["quay.io"]);
        assert_eq!(c.cluster.mirror_root.as_deref(), Some("/srv/m"));
        let e = parse(
            "version: 1\ncluster:\n  registry_mirrors: [https://quay.io]\n",
            p,
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("/x/config.yaml"), "{e}");
        // The default root is not written: it follows $XDG_CACHE_HOME.
        let text = to_yaml(&Config::default()).unwrap();
        assert!(
            text.contains("registry_mirrors:") && !text.contains("mirror_root"),
            "{text}"
        );
        let back = parse(&text, p).unwrap();
        assert_eq!(back, Config::default());
    }

    #[test]
    fn cluster_keys_added_later_are_optional_and_written_only_when_set() {
        let p = Path::new("/x/config.yaml");
        // A kind config written before `provider` existed reads and writes
        // back the same: none of the new keys appear.
        let old = to_yaml(&Config::default()).unwrap();
        let c = parse(&old, p).unwrap();
        assert_eq!(c.cluster.provider, crate::model::Provider::Kind);
        assert_eq!(c.cluster.cache_size, "20Gi");
        assert_eq!(to_yaml(&c).unwrap(), old);
        for key in [
            "provider",
            "context",
            "controller:",
            "cache_storage_class",
            "cache_size",
        ] {
            assert!(!old.contains(key), "{key} in\n{old}");
        }
        let text = "version: 1\ncluster:\n  provider: existing\n  context: team\n  controller: external\n  cache_storage_class: fast\n  cache_size: 50Gi\n";
        let c = parse(text, p).unwrap();
        assert_eq!(c.cluster.context(), "team");
        assert!(!c.cluster.manages_controller());
        let again = parse(&to_yaml(&c).unwrap(), p).unwrap();
        assert_eq!(again, c);
        let e = parse("version: 1\ncluster:\n  provider: cloud\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cloud") && e.contains("existing"), "{e}");
        let e = parse("version: 1\ncluster:\n  provider: existing\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster.context is not set"), "{e}");
    }
}
