//! `deskrun add`: validate an installation and store it. Config only.

use crate::config::Store;
use crate::input_bail;
use crate::model::{Auth, Installation, Mode};
use crate::validate::{parse_cache_spec, validate_installation};
use anyhow::Result;

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
    pub auth: Auth,
    pub replace: bool,
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
    if req.instances > 1 && (req.min_runners.is_some() || req.max_runners.is_some()) {
        input_bail!(
            "--min-runners/--max-runners cannot be combined with --instances {}: with several instances \
             every instance runs exactly one runner (min 1, max 1)",
            req.instances
        );
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
    validate_installation(
        &req.name,
        &Installation {
            repository: req.repository.clone(),
            mode: req.mode,
            min_runners: min,
            max_runners: max,
            instances: req.instances,
            caches,
            auth: req.auth.clone(),
        },
    )
}

/// Validate and store. An existing name is an error unless `replace`.
pub fn add(store: &Store, req: &AddRequest) -> Result<AddOutcome> {
    let installation = installation_from(req)?;
    let replaced = store.update(|config| {
        let exists = config.installations.contains_key(&req.name);
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
