//! `deskrun add`: validate an installation and store it. Config only.

use crate::config::Store;
use crate::input_bail;
use crate::model::{Auth, Installation, JobContainer, Mode};
use crate::validate::{parse_cache_spec, parse_env_spec, validate_installation, validate_labels};
use anyhow::Result;
use std::collections::BTreeMap;

/// What `deskrun add` was asked for. `None` runner counts mean "default".
#[derive(Debug, Clone)]
pub struct AddRequest {
    pub name: String,
    pub repository: String,
    pub mode: Mode,
    pub min_runners: Option<u32>,
    pub max_runners: Option<u32>,
    pub instances: u32,
    /// `--cache` values: `PATH` or `HOST_PATH:PATH`.
    pub caches: Vec<String>,
    /// `--job-container`; `None` keeps the mode's default.
    pub job_container: Option<JobContainer>,
    pub glibc_compat: bool,
    pub auth: Auth,
    pub replace: bool,
    /// `--label` values. With `replace`, none given keeps the stored labels.
    pub labels: Vec<String>,
    /// `--env KEY=VALUE` values. With `replace`, none given keeps the stored env.
    pub env: Vec<String>,
}

/// An empty request (no name, URL or credential), as a base for struct
/// literals that set only some fields.
impl Default for AddRequest {
    fn default() -> Self {
        AddRequest {
            name: String::new(),
            repository: String::new(),
            mode: Mode::Kubernetes,
            min_runners: None,
            max_runners: None,
            instances: 1,
            caches: vec![],
            job_container: None,
            glibc_compat: false,
            auth: Auth::Pat {
                token: String::new(),
            },
            replace: false,
            labels: vec![],
            env: vec![],
        }
    }
}

pub const DEFAULT_MIN_RUNNERS: u32 = 1;
pub const DEFAULT_MAX_RUNNERS: u32 = 5;

#[derive(Debug, Clone)]
pub struct AddOutcome {
    pub name: String,
    pub replaced: bool,
    pub installation: Installation,
    /// The `runs-on:` values of this installation (its scale-set names).
    pub runs_on: Vec<String>,
}

/// Build the installation a request describes, validated and normalised.
pub fn installation_from(req: &AddRequest) -> Result<Installation> {
    // With several instances each runs exactly one runner; saying so
    // explicitly (`--instances 3 --max-runners 1`) is fine, anything else
    // contradicts it.
    for (flag, value) in [
        ("--min-runners", req.min_runners),
        ("--max-runners", req.max_runners),
    ] {
        if req.instances > 1
            && let Some(n) = value.filter(|n| *n != 1)
        {
            input_bail!(
                "invalid {flag} {n} with --instances {}: with several instances every instance runs \
                 exactly one runner (min 1, max 1); drop {flag} or use --instances 1",
                req.instances
            );
        }
    }
    let (min, max) = if req.instances > 1 {
        (1, 1)
    } else {
        (
            req.min_runners.unwrap_or(DEFAULT_MIN_RUNNERS),
            req.max_runners.unwrap_or(DEFAULT_MAX_RUNNERS),
        )
    };
    let caches = req
        .caches
        .iter()
        .map(|s| parse_cache_spec(s))
        .collect::<Result<Vec<_>>>()?;
    let inst = Installation {
        repository: req.repository.clone(),
        mode: req.mode,
        min_runners: min,
        max_runners: max,
        instances: req.instances,
        caches,
        job_container: req.job_container,
        glibc_compat: req.glibc_compat,
        auth: req.auth.clone(),
        labels: req.labels.clone(),
        env: parse_env(&req.env)?,
    };
    // In the flags' own words first; then everything, as for the config file.
    validate_labels("--label", &inst.labels, &inst.instance_names(&req.name))?;
    validate_installation(&req.name, &inst)
}

fn parse_env(specs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for spec in specs {
        let (key, value) = parse_env_spec(spec)?;
        if env.insert(key.clone(), value).is_some() {
            input_bail!("invalid --env {key}: given twice; give each variable once");
        }
    }
    Ok(env)
}

/// `add --replace` keeps the settings of the stored installation that the
/// command line did not mention (credentials, URL, mode and runner counts
/// are always given or defaulted, as before).
fn keep_unset(new: &mut Installation, old: &Installation, req: &AddRequest) {
    if req.labels.is_empty() {
        new.labels = old.labels.clone();
    }
    if req.env.is_empty() {
        new.env = old.env.clone();
    }
}

/// Validate and store. An existing name is an error unless `replace`.
pub fn add(store: &Store, req: &AddRequest) -> Result<AddOutcome> {
    let mut installation = installation_from(req)?;
    let replaced = store.update(|config| {
        let existing = config.installations.get(&req.name);
        let exists = existing.is_some();
        if let (Some(old), true) = (existing, req.replace) {
            keep_unset(&mut installation, old, req);
        }
        if exists && !req.replace {
            input_bail!(
                "installation {:?} already exists; use --replace to overwrite it, or `deskrun remove {}` first",
                req.name,
                req.name
            );
        }
        config
            .installations
            .insert(req.name.clone(), installation.clone());
        Ok(exists)
    })?;
    Ok(AddOutcome {
        runs_on: installation.instance_names(&req.name),
        name: req.name.clone(),
        replaced,
        installation,
    })
}
