//! `deskrun up`: converge the cluster (kind, or an existing one) on the config.
//!
//! observe ([`crate::observe`]) -> plan (pure) -> apply. An unchanged instance gets no
//! mutating call; a changed one is upgraded in place; releases deskrun
//! manages that the config no longer has are uninstalled. Instances deploy
//! concurrently, at most `parallel` at a time.

use crate::checks::{Check, Status};
use crate::controllers::{self, ExternalController};
use crate::github::GithubApi;
use crate::host::Host;
use crate::input_bail;
use crate::mirrors::{MirrorAction, foreign_notice};
use crate::model::{CONTROLLER_RELEASE, ClusterSettings, Config, Provider};
use crate::observe::{Reads, observe};
use crate::observed::Observed;
use crate::ops::session::{Session, parallel, run_step};
use crate::permissions;
use crate::plan::{Action, Plan, Repair, plan};
use crate::render::{
    InstanceRender, LABEL_INSTALLATION, LABEL_INSTANCE, LABEL_MANAGED, Rendered, render,
};
use crate::tools::{DOCKER, HELM, KIND, KUBECTL, Kube, NodeInfo};
use anyhow::{Context, Result, anyhow, bail};

pub const DEFAULT_PARALLEL: usize = 5;

#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Installations to deploy; empty = all (and only then are removals done).
    pub names: Vec<String>,
    pub dry_run: bool,
    /// Instances deployed at once.
    pub parallel: usize,
    /// Overrides of the config's chart settings for this run.
    pub charts: ChartOverrides,
}

/// `--chart-version`, `--controller-chart`, `--scale-set-chart`.
#[derive(Debug, Clone, Default)]
pub struct ChartOverrides {
    pub version: Option<String>,
    pub controller: Option<String>,
    pub scale_set: Option<String>,
}

impl ChartOverrides {
    pub fn apply(&self, config: &mut Config) -> Result<()> {
        let c = &mut config.cluster;
        if let Some(v) = &self.version {
            c.controller_chart.version = v.clone();
            c.scale_set_chart.version = v.clone();
        }
        if let Some(src) = &self.controller {
            c.controller_chart.source = src.clone();
        }
        if let Some(src) = &self.scale_set {
            c.scale_set_chart.source = src.clone();
        }
        crate::validate::validate_cluster(c)
    }
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            names: vec![],
            dry_run: false,
            parallel: DEFAULT_PARALLEL,
            charts: ChartOverrides::default(),
        }
    }
}

/// What `up` found and did.
#[derive(Debug)]
pub struct UpReport {
    pub plan: Plan,
    pub applied: bool,
    /// Things the user should know that are not failures (e.g. a cluster
    /// created without the registry mirrors the config wants).
    pub notices: Vec<String>,
    /// With `cluster.controller: external`: what was found in the cluster.
    pub external: Option<ExternalController>,
}

impl UpReport {
    pub fn summary(&self) -> String {
        let count = |a: Action| self.plan.instances.iter().filter(|i| i.action == a).count();
        let target = match self.plan.provider {
            Provider::Kind => format!(
                "cluster {}, context {}, namespace {}",
                self.plan.cluster, self.plan.context, self.plan.namespace
            ),
            Provider::Existing => format!(
                "existing cluster, context {}, namespace {}",
                self.plan.context, self.plan.namespace
            ),
        };
        format!(
            "{} created, {} upgraded, {} unchanged, {} removed ({target})",
            count(Action::Create),
            count(Action::Upgrade),
            count(Action::Unchanged),
            self.plan.removals.len(),
        )
    }
}

/// Check names given on the command line against the config.
pub fn check_names(config: &Config, names: &[String]) -> Result<()> {
    for name in names {
        if !config.installations.contains_key(name) {
            input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
        }
    }
    Ok(())
}

/// `up` without asking GitHub (the library default; the CLI asks, see
/// [`up_with`]).
pub fn up(s: &Session, opts: &UpOptions) -> Result<UpReport> {
    up_with(s, opts, None)
}

/// `up`; with `github`, the credential of every installation about to be
/// created or upgraded is checked first (as `doctor` does), concurrently.
/// A definite failure keeps that installation from being deployed, with
/// doctor's message; no answer from GitHub is a notice. Installations that
/// are unchanged cost no request.
pub fn up_with(s: &Session, opts: &UpOptions, github: Option<&dyn GithubApi>) -> Result<UpReport> {
    let mut config = s.store.load()?;
    opts.charts.apply(&mut config)?;
    check_names(&config, &opts.names)?;
    let rendered = render(&config, &[])?;
    if config.cluster.is_kind() {
        // Host caches are this machine's directories only on kind.
        crate::ops::hostpaths::check_rendered(&config.cluster, &rendered)?;
        if let Some(w) =
            crate::ops::hostpaths::ram_cache_warning(&config.cluster, &rendered, s.store.path())
        {
            s.progress.printer().warn(w);
        }
        s.check_tools(&[DOCKER, KIND, HELM, KUBECTL])?;
    } else {
        s.check_tools(&[HELM, KUBECTL])?;
    }
    let _lock = if opts.dry_run {
        None
    } else {
        Some(s.cluster_lock()?)
    };
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);

    let observed = run_step(s, "read the cluster state", || observe(&kube, Reads::PLAN))?;
    let external = check_controller(&config.cluster, &observed)?;
    let plan = plan(&config, &rendered, &observed, &opts.names);
    let notices: Vec<String> = plan
        .mirror_notice
        .iter()
        .cloned()
        .chain(
            plan.mirrors
                .iter()
                .filter(|m| m.action == MirrorAction::Foreign)
                .map(|m| foreign_notice(&m.spec)),
        )
        .collect();
    // Before the first change (and for a dry run, which should say whether
    // the real one would get through): may this context do it all?
    if !config.cluster.is_kind() && !plan.is_noop() {
        check_permissions(s, &kube)?;
    }
    if opts.dry_run {
        return Ok(UpReport {
            plan,
            applied: false,
            notices,
            external,
        });
    }
    // The hosts files are plain files: kept in sync on every `up` (a no-op
    // one too), before any cluster is created that reads them.
    if let (false, Some(dir)) = (plan.mirrors.is_empty(), &rendered.hosts_dir) {
        crate::ops::mirrors::prepare_host(
            &crate::mirrors::mirror_root(&config.cluster)?,
            dir,
            &plan.mirrors,
        )?;
    }
    if plan.is_noop() {
        return Ok(UpReport {
            plan,
            applied: false,
            notices,
            external,
        });
    }
    let mut notices = notices;
    let refused = match github {
        Some(api) => check_github(s, api, &config, &plan, &mut notices),
        None => vec![],
    };
    apply(
        s,
        &kube,
        &config,
        &rendered,
        &plan,
        observed.node.as_ref(),
        opts.parallel,
        &refused,
    )
    .map_err(|e| with_notices(e, &notices))?;
    Ok(UpReport {
        plan,
        applied: true,
        notices,
        external,
    })
}

/// A failed `up` still tells what it noticed on the way (GitHub not
/// reached, mirrors the cluster cannot use): the caller prints the error
/// and nothing of the report, and the note may be the failure's cause.
/// The exit code stays the error's.
fn with_notices(e: anyhow::Error, notices: &[String]) -> anyhow::Error {
    if notices.is_empty() {
        return e;
    }
    let notes: Vec<String> = notices.iter().map(|n| format!("note: {n}")).collect();
    let text = format!("{e:#}\n{}", notes.join("\n"));
    if crate::error::exit_code(&e) == crate::error::EXIT_INPUT {
        crate::error::input(text)
    } else {
        anyhow!(text)
    }
}

/// On an existing cluster: a managed config must find no other ARC
/// controller; an external one needs the CRDs and a controller of the
/// scale-set chart's version. kind clusters are deskrun's own.
fn check_controller(
    cluster: &ClusterSettings,
    observed: &Observed,
) -> Result<Option<ExternalController>> {
    if cluster.is_kind() {
        return Ok(None);
    }
    if cluster.manages_controller() {
        let Some(found) = &observed.controllers else {
            bail!(
                "the context {} may not list Deployments in all namespaces, which deskrun does to make \
                 sure that no other ARC controller runs in the cluster before it installs its own. \
                 Installing a controller takes cluster-wide rights anyway: ask the cluster's admins for \
                 them, or set `cluster.controller: external` to use the controller the cluster runs",
                cluster.context()
            );
        };
        controllers::check_managed(cluster, found)?;
        return Ok(None);
    }
    let crds = observed
        .crds
        .as_ref()
        .context("internal error: the ARC CRDs were not read")?;
    controllers::check_external(cluster, crds, observed.controllers.as_deref()).map(Some)
}

/// Ask `kubectl auth can-i` everything deskrun needs (at once) and list
/// what is missing.
pub fn check_permissions(s: &Session, kube: &Kube) -> Result<()> {
    let missing = run_step(
        s,
        &format!(
            "check the permissions of context {}",
            kube.cluster.context()
        ),
        || missing_permissions(kube),
    )?;
    if missing.is_empty() {
        Ok(())
    } else {
        bail!("{}", permissions::missing_report(kube.cluster, &missing))
    }
}

/// What the context may not do of all that deskrun needs (`up`'s preflight
/// and `doctor` ask the same questions), asked concurrently.
pub fn missing_permissions(kube: &Kube) -> Result<Vec<permissions::Need>> {
    let needs = permissions::needs(kube.cluster);
    let answers = parallel(&needs, 8, |n| kube.can_i(n))
        .into_iter()
        .collect::<Result<Vec<bool>>>()?;
    Ok(needs
        .into_iter()
        .zip(answers)
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n)
        .collect())
}

/// The GitHub checks of the installations this `up` creates or upgrades.
/// Returns the failed ones with their failing check; warnings (GitHub not
/// reached, rate limits) become notices.
fn check_github(
    s: &Session,
    api: &dyn GithubApi,
    config: &Config,
    plan: &Plan,
    notices: &mut Vec<String>,
) -> Vec<(String, Check)> {
    let mut names: Vec<&str> = plan
        .instances
        .iter()
        .filter(|i| i.action.mutates())
        .map(|i| i.installation.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return vec![];
    }
    let api_override = std::env::var(crate::github::API_URL_ENV).ok();
    let now = crate::github::checks::unix_now();
    let step = s.progress.start(format!(
        "check the GitHub credentials of {}",
        names.join(", ")
    ));
    let results = parallel(&names, 8, |name| {
        let checks = crate::github::checks::check_installation(
            api,
            name,
            &config.installations[*name],
            api_override.as_deref(),
            now,
        );
        (name.to_string(), checks)
    });
    let mut refused = Vec::new();
    for (name, checks) in results {
        if let Some(fail) = checks.iter().find(|c| c.status == Status::Fail) {
            refused.push((name, fail.clone()));
        } else if let Some(warn) = checks.iter().find(|c| c.status == Status::Warn) {
            notices.push(format!(
                "installation {name}: {} (deployed anyway; `deskrun doctor {name}` checks again)",
                warn.message
            ));
        }
    }
    if refused.is_empty() {
        s.progress.done(step);
    } else {
        s.progress.failed(step);
    }
    refused
}

#[allow(clippy::too_many_arguments)]
fn apply(
    s: &Session,
    kube: &Kube,
    config: &Config,
    rendered: &Rendered,
    plan: &Plan,
    node: Option<&NodeInfo>,
    workers: usize,
    refused: &[(String, Check)],
) -> Result<()> {
    let mut failures: Vec<anyhow::Error> = Vec::new();
    let mut unplaced: Vec<&str> = Vec::new();
    for (name, check) in refused {
        failures.push(anyhow!(
            "installation {name} was not deployed: {} ({})\n  fix: {}",
            check.message,
            check.id,
            check
                .fix
                .as_deref()
                .unwrap_or("run `deskrun doctor` for details")
        ));
    }

    // Mirrors first: the cluster's very first pulls go through them.
    failures.extend(crate::ops::mirrors::apply(s, kube, &plan.mirrors));

    if plan.create_cluster {
        run_step(s, &format!("create kind cluster {}", plan.cluster), || {
            let kind = rendered
                .kind_cluster
                .as_ref()
                .context("an existing cluster is never created by deskrun")?;
            crate::ops::cluster::create_with_mounts(kube, kind)
        })?;
    }

    let to_deploy: Vec<&InstanceRender> = plan
        .instances
        .iter()
        .filter(|i| i.action.mutates())
        .filter_map(|i| rendered.instances.iter().find(|r| r.instance == i.instance))
        .collect();

    // Caches live on the host only if the node mounts them, and kind can add
    // mounts only when it creates a cluster.
    let mut unmounted: Vec<(&str, String)> = Vec::new();
    if !plan.create_cluster && to_deploy.iter().any(|r| !r.cache_host_paths.is_empty()) {
        // Read with the mirrors already, or read now.
        let read;
        let node = match node {
            Some(n) => Some(n),
            None => {
                read = run_step(s, "check the kind node's cache mounts", || kube.node_info())?;
                read.as_ref()
            }
        };
        let node = node.ok_or_else(|| {
            anyhow!(
                "the kind node container {} was not found although kind lists cluster {}; \
                     is Docker running? Check with `docker ps -a`",
                kube.node_container(),
                plan.cluster
            )
        })?;
        for r in &to_deploy {
            for path in &r.cache_host_paths {
                if !node.covers(path) {
                    unmounted.push((r.instance.as_str(), path.clone()));
                }
            }
        }
    }
    // A pinned instance whose node the cluster does not have would wait
    // for it forever.
    if !config.cluster.is_kind() {
        let pinned: Vec<(&str, &str)> = to_deploy
            .iter()
            .filter_map(|r| {
                let node = config.installations.get(&r.installation)?.node.as_deref()?;
                Some((r.instance.as_str(), node))
            })
            .collect();
        if !pinned.is_empty() {
            let nodes = run_step(s, "list the cluster's nodes", || kube.nodes())?;
            let names: Vec<&str> = nodes
                .iter()
                .filter_map(|n| n.pointer("/metadata/labels/kubernetes.io~1hostname"))
                .filter_map(serde_json::Value::as_str)
                .collect();
            for (instance, node) in pinned {
                if !names.contains(&node) {
                    unplaced.push(instance);
                    failures.push(anyhow!(
                        "scale set {instance}: its installation is pinned to node {node:?}, which the \
                         cluster (context {}) does not have; its nodes are {}. Fix `node:` in the config",
                        config.cluster.context(),
                        names.join(", ")
                    ));
                }
            }
        }
    }

    for (instance, path) in &unmounted {
        failures.push(anyhow!(
            "scale set {instance}: its cache host path {path} is not mounted into the kind node {node}, \
             so the cache would live inside the node and vanish with it. kind adds mounts only when it \
             creates a cluster: run `deskrun down --delete-cluster && deskrun up` to re-create it with \
             the mount. Kept: your config and every host cache directory. Lost: what lives only in the \
             cluster (runner pods, images the node pulled, the controller), which `up` re-deploys.",
            node = kube.node_container()
        ));
    }

    if let Some(c) = &plan.controller {
        let values = rendered
            .controller_values
            .as_ref()
            .context("an external controller is never installed by deskrun")?;
        let values = crate::yaml::to_string(values)?;
        run_step(
            s,
            &format!(
                "{} ARC controller {} ({})",
                verb(&c.action),
                CONTROLLER_RELEASE,
                c.version
            ),
            || {
                repair(s.host, kube, CONTROLLER_RELEASE, c.repair.as_ref())?;
                kube.upgrade_install(
                    "install the ARC controller",
                    CONTROLLER_RELEASE,
                    &config.cluster.controller_chart,
                    &values,
                    &[(LABEL_MANAGED, "true")],
                )?;
                kube.wait_for_crds()
            },
        )?;
    }

    let mut blocked: Vec<&str> = unmounted.iter().map(|(i, _)| *i).collect();
    blocked.extend(unplaced);
    let deployable: Vec<(&InstanceRender, &crate::plan::InstancePlan)> = plan
        .instances
        .iter()
        .filter(|i| i.action.mutates() && !blocked.contains(&i.instance.as_str()))
        .filter(|i| !refused.iter().any(|(name, _)| *name == i.installation))
        .filter_map(|i| {
            rendered
                .instances
                .iter()
                .find(|r| r.instance == i.instance)
                .map(|r| (r, i))
        })
        .collect();
    // The proxy credentials the scale sets name, before any of them starts a
    // listener that reads them. On stdin, never in argv.
    if !deployable.is_empty() && !rendered.proxy_secrets.is_empty() {
        run_step(s, "apply the proxy credentials", || {
            for secret in &rendered.proxy_secrets {
                kube.apply(
                    "apply the proxy credentials Secret",
                    &serde_json::to_string(secret)?,
                )?;
            }
            Ok(())
        })?;
    }
    let results = parallel(&deployable, workers, |(r, p)| {
        run_step(
            s,
            &format!("{} scale set {}", verb(&p.action), r.instance),
            || deploy_instance(s.host, kube, config, r, p),
        )
    });
    failures.extend(results.into_iter().filter_map(Result::err));

    let results = parallel(&plan.removals, workers, |rm| {
        run_step(s, &format!("remove scale set {}", rm.instance), || {
            kube.uninstall(
                &format!("uninstall scale set {}", rm.instance),
                &rm.instance,
            )?;
            kube.delete_named(
                &format!("delete the ConfigMaps of {}", rm.instance),
                "configmap",
                &rm.configmaps,
            )
        })
    });
    failures.extend(results.into_iter().filter_map(Result::err));

    if !plan.stale_configmaps.is_empty()
        && let Err(e) = run_step(s, "delete unused ConfigMaps", || {
            kube.delete_named(
                "delete unused ConfigMaps",
                "configmap",
                &plan.stale_configmaps,
            )
        })
    {
        failures.push(e);
    }

    // Only once every scale set runs without them: a runner set that still
    // names a Secret would lose its proxy credentials.
    if failures.is_empty()
        && !plan.stale_secrets.is_empty()
        && let Err(e) = run_step(s, "delete unused proxy credentials", || {
            kube.delete_named(
                "delete the unused proxy credential Secrets",
                "secret",
                &plan.stale_secrets,
            )
        })
    {
        failures.push(e);
    }

    if failures.is_empty() {
        return Ok(());
    }
    let n = failures.len();
    let details: Vec<String> = failures.iter().map(|e| format!("- {e:#}")).collect();
    Err(anyhow!(
        "{n} step(s) failed:\n{}\nYour config is unchanged; fix the cause and run `deskrun up` again: it picks up where this run stopped.",
        details.join("\n")
    ))
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Create => "install",
        Action::Upgrade => "upgrade",
        Action::Unchanged => "keep",
        Action::Remove => "remove",
    }
}

/// The kubeconfig a process with this environment uses: `KUBECONFIG`, else
/// `$HOME/.kube/config` (a context name means a cluster only within one).
fn kubeconfig_in(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    var("KUBECONFIG").or_else(|| var("HOME").map(|h| format!("{h}/.kube/config")))
}

/// A helm process on this machine that is still changing `release` in
/// `context` of our kubeconfig: after a SIGKILL, deskrun's `helm upgrade`
/// (its own process group) runs on, and the release it left `pending-*` is
/// still its own. The processes come from the host (`/proc` for real).
fn live_helm_on(host: &dyn Host, release: &str, context: &str) -> Option<u32> {
    let changing = |argv: &[String]| {
        // `helm ...`, or an interpreter running a script called helm.
        let Some(i) = argv
            .iter()
            .take(2)
            .position(|a| std::path::Path::new(a).file_name() == Some("helm".as_ref()))
        else {
            return false;
        };
        let has = |s: &str| argv[i + 1..].iter().any(|a| a == s);
        ["upgrade", "install", "rollback", "uninstall"]
            .iter()
            .any(|c| has(c))
            && has(release)
            && has(context)
    };
    let ours = kubeconfig_in(|k| std::env::var(k).ok());
    host.processes(&changing)
        .into_iter()
        // Another kubeconfig: another cluster of the same name. An
        // environment we may not read counts as ours.
        .find(|p| {
            p.env
                .as_ref()
                .is_none_or(|env| kubeconfig_in(|k| env.get(k).cloned()) == ours)
        })
        .map(|p| p.pid)
}

fn repair(host: &dyn Host, kube: &Kube, release: &str, repair: Option<&Repair>) -> Result<()> {
    if repair.is_some()
        && let Some(pid) = live_helm_on(host, release, &kube.cluster.context())
    {
        anyhow::bail!(
            "release {release} was left half-done, and a helm process (pid {pid}) is still working \
             on it, probably started by an earlier deskrun that was killed; repairing the release now \
             would race it. Wait for it to end (helm stops at its --timeout) or stop it with \
             `kill {pid}`, then run `deskrun up` again"
        );
    }
    match repair {
        None => Ok(()),
        Some(Repair::UninstallFirst) => kube.uninstall(
            &format!("uninstall the interrupted install of {release}"),
            release,
        ),
        Some(Repair::RollbackFirst) => kube.rollback(
            &format!("roll back the interrupted upgrade of {release}"),
            release,
        ),
    }
}

fn deploy_instance(
    host: &dyn Host,
    kube: &Kube,
    config: &Config,
    r: &InstanceRender,
    p: &crate::plan::InstancePlan,
) -> Result<()> {
    // Made here, as the user, rather than by the kubelet as root.
    for dir in &r.cache_host_paths {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create cache directory {dir} on the host"))?;
    }
    repair(host, kube, &r.instance, p.repair.as_ref())?;
    // The claims first: a runner pod whose claim does not exist stays Pending.
    let claims: Vec<&serde_yaml::Value> = r
        .claims
        .iter()
        .filter(|c| {
            let name = c.get("metadata").and_then(|m| m.get("name"));
            p.create_claims
                .iter()
                .any(|n| name.and_then(serde_yaml::Value::as_str) == Some(n))
        })
        .collect();
    if !claims.is_empty() {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": claims});
        kube.apply(
            &format!("create the cache claims of {}", r.instance),
            &list.to_string(),
        )?;
    }
    // The CA before the scale set whose controller reads it, the hook
    // extension before a runner starts a job with it.
    if p.apply_configmap {
        for cm in r.configmaps() {
            let what = if r.github_ca.as_ref() == Some(cm) {
                "GitHub CA"
            } else {
                "hook-extension"
            };
            kube.apply(
                &format!("apply the {what} ConfigMap of {}", r.instance),
                &serde_json::to_string(cm)?,
            )?;
        }
    }
    kube.upgrade_install(
        &format!("deploy scale set {}", r.instance),
        &r.instance,
        &config.cluster.scale_set_chart,
        &crate::yaml::to_string(&r.values)?,
        &[
            (LABEL_MANAGED, "true"),
            (LABEL_INSTALLATION, &r.installation),
            (LABEL_INSTANCE, &r.instance),
        ],
    )
}
