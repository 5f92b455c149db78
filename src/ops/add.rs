//! `deskrun add`: validate an installation and store it. Config only.

use crate::config::Store;
use crate::input_bail;
use crate::model::{Auth, Installation, JobContainer, Mode, Resources};
use crate::validate::{
    Field, Vocab, parse_cache_spec, parse_env_spec, parse_resource_spec, validate_config_with,
    validate_github_ca, validate_installation,
};
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
    /// `--glibc-compat[=BOOL]`; `None`: off, or with `replace` as stored.
    pub glibc_compat: Option<bool>,
    /// `--node`: pin the pods to one node.
    pub node: Option<String>,
    pub auth: Auth,
    pub replace: bool,
    /// `--label` values. With `replace`, none given keeps the stored labels.
    pub labels: Vec<String>,
    /// `--env KEY=VALUE` values. With `replace`, variables not given are kept.
    pub env: Vec<String>,
    /// `--runner-image`; `None` keeps the stored one with `replace`, else the default.
    pub runner_image: Option<String>,
    /// `--dind-image` (dind mode), likewise.
    pub dind_image: Option<String>,
    /// `--request CONTAINER.RESOURCE=QUANTITY` values.
    pub requests: Vec<String>,
    /// `--limit CONTAINER.RESOURCE=QUANTITY` values.
    pub limits: Vec<String>,
    /// `--allow-http`: an `http://` GitHub Enterprise Server URL is meant.
    pub allow_http: bool,
    /// The PEM text of `--github-ca-file`; with `replace`, `None` keeps the
    /// stored CA.
    pub github_ca: Option<String>,
    /// `--no-github-ca`: drop the stored CA (with `replace`).
    pub no_github_ca: bool,
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
            glibc_compat: None,
            node: None,
            auth: Auth::Pat {
                token: String::new(),
            },
            replace: false,
            labels: vec![],
            env: vec![],
            runner_image: None,
            dind_image: None,
            requests: vec![],
            limits: vec![],
            allow_http: false,
            github_ca: None,
            no_github_ca: false,
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
        glibc_compat: req.glibc_compat.unwrap_or(false),
        node: req.node.clone(),
        auth: req.auth.clone(),
        labels: req.labels.clone(),
        env: parse_env(&req.env)?,
        runner_image: req.runner_image.clone(),
        dind_image: req.dind_image.clone(),
        resources: parse_resources(&req.requests, &req.limits)?,
        allow_http: req.allow_http,
        github_ca: req
            .github_ca
            .as_deref()
            .map(|pem| validate_github_ca(&Vocab::Flags.name(Field::GithubCa), pem))
            .transpose()?,
    };
    validate_installation(Vocab::Flags, &req.name, &inst)
}

fn parse_resources(requests: &[String], limits: &[String]) -> Result<Resources> {
    let mut resources = Resources::default();
    for spec in requests {
        parse_resource_spec("--request", spec, &mut resources)?;
    }
    for spec in limits {
        parse_resource_spec("--limit", spec, &mut resources)?;
    }
    Ok(resources)
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
    // The job settings exist in the kubernetes modes only: dropped with them.
    if new.mode.is_kubernetes() {
        if req.job_container.is_none() {
            new.job_container = old.job_container;
        }
        if req.glibc_compat.is_none() {
            new.glibc_compat = old.glibc_compat;
        }
    }
    if req.labels.is_empty() {
        new.labels = old.labels.clone();
    }
    for (key, value) in &old.env {
        new.env.entry(key.clone()).or_insert_with(|| value.clone());
    }
    if req.runner_image.is_none() {
        new.runner_image = old.runner_image.clone();
    }
    if req.github_ca.is_none() && !req.no_github_ca {
        new.github_ca = old.github_ca.clone();
    }
    // Settings of another mode's containers are dropped with the mode.
    if req.dind_image.is_none() && new.mode == Mode::Dind {
        new.dind_image = old.dind_image.clone();
    }
    for (container, kept) in old.resources.each() {
        let applies = match container {
            "job" => new.mode != Mode::Dind,
            "dind" => new.mode == Mode::Dind,
            _ => true,
        };
        let Some(target) = new.resources.get_mut(container).filter(|_| applies) else {
            continue;
        };
        for (resource, q) in &kept.requests {
            target
                .requests
                .entry(resource.clone())
                .or_insert_with(|| q.clone());
        }
        for (resource, q) in &kept.limits {
            target
                .limits
                .entry(resource.clone())
                .or_insert_with(|| q.clone());
        }
    }
}

/// What a user should hear about the installation's CA: a CA for
/// github.com (publicly trusted: only of use behind a TLS-inspecting proxy),
/// and a certificate that has expired or expires within 30 days. `now` is
/// Unix time.
pub fn github_ca_warnings(name: &str, inst: &Installation, now: i64) -> Vec<String> {
    let Some(pem) = &inst.github_ca else {
        return vec![];
    };
    let mut out = Vec::new();
    let host = inst
        .repository
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default();
    if host.eq_ignore_ascii_case("github.com") {
        out.push(format!(
            "installation {name} is on github.com, whose certificate is publicly trusted: the CA of \
             --github-ca-file is only of use when a TLS-inspecting proxy re-signs GitHub's traffic. \
             Otherwise drop it (`deskrun add {name} ... --replace --no-github-ca`)"
        ));
    }
    let certs = crate::x509::parse_pem_certificates(pem).unwrap_or_default();
    for note in crate::x509::expiry_notes(&certs, now) {
        out.push(format!(
            "installation {name}: {note}; TLS connections to GitHub fail once it has expired: \
             give the renewed one with `deskrun add {name} ... --replace --github-ca-file NEW.pem`"
        ));
    }
    out
}

/// Validate and store. An existing name is an error unless `replace`.
pub fn add(store: &Store, req: &AddRequest) -> Result<AddOutcome> {
    let mut installation = installation_from(req)?;
    crate::ops::hostpaths::check_installation(Vocab::Flags, &installation)?;
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
        // What the other installations and the cluster refuse, in the
        // flags' words (`update` checks again, in the file's).
        validate_config_with(config, Some((&req.name, Vocab::Flags)))?;
        Ok(exists)
    })?;
    Ok(AddOutcome {
        runs_on: installation.instance_names(&req.name),
        name: req.name.clone(),
        replaced,
        installation,
    })
}
