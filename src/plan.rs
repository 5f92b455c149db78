//! Planning: what `up` must do, as a pure function of the rendered config and
//! what was observed in the cluster. Nothing here runs a tool.

use crate::mirrors::{MirrorPlan, NodeMirrors, node_hint, node_mirrors, plan_mirror};
use crate::model::{CONTROLLER_RELEASE, Config, Provider};
pub use crate::observed::Observed;
use crate::observed::{hash_of, name_of};
use crate::render::{InstanceRender, LABEL_INSTANCE, Rendered};
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Upgrade,
    Unchanged,
    Remove,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Upgrade => "upgrade",
            Action::Unchanged => "unchanged",
            Action::Remove => "remove",
        }
    }

    pub fn mutates(&self) -> bool {
        !matches!(self, Action::Unchanged)
    }
}

/// Something helm must do before a release can be upgraded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repair {
    /// An install was interrupted (`pending-install`): uninstall the
    /// half-made release, then install. Nothing ever ran from it.
    UninstallFirst,
    /// An upgrade or rollback was interrupted: roll back to the last good
    /// revision, then upgrade.
    RollbackFirst,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstancePlan {
    pub installation: String,
    pub instance: String,
    pub action: Action,
    pub reason: String,
    pub repair: Option<Repair>,
    /// ConfigMaps of this instance that must be (re)applied before helm.
    pub apply_configmap: bool,
    /// Cache claims to create before the scale set (existing clusters; a
    /// claim that exists is never changed).
    pub create_claims: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemovalPlan {
    pub instance: String,
    pub reason: String,
    /// Its ConfigMaps, deleted after the release.
    pub configmaps: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub cluster: String,
    pub provider: Provider,
    pub context: String,
    pub namespace: String,
    /// Only ever on kind: deskrun never creates an existing cluster.
    pub create_cluster: bool,
    /// `None`: the controller is deployed at the configured version, or it
    /// is external (never installed by deskrun).
    pub controller: Option<ControllerPlan>,
    pub external_controller: bool,
    pub instances: Vec<InstancePlan>,
    pub removals: Vec<RemovalPlan>,
    /// deskrun ConfigMaps no instance uses any more (e.g. after a mode change).
    pub stale_configmaps: Vec<String>,
    /// Proxy credential Secrets that deployed runner sets name but the
    /// config no longer has (the proxy or its credentials were removed);
    /// deleted once every scale set is deployed without them.
    pub stale_secrets: Vec<String>,
    /// The registry mirrors, when the cluster will use them (it is created
    /// now, or its node mounts their hosts directory).
    pub mirrors: Vec<MirrorPlan>,
    /// Why the config's mirrors cannot serve the existing cluster, and
    /// what to run.
    pub mirror_notice: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ControllerPlan {
    pub action: Action,
    pub reason: String,
    pub version: String,
    pub repair: Option<Repair>,
}

fn repair_for(status: &str) -> Option<Repair> {
    match status {
        "pending-install" => Some(Repair::UninstallFirst),
        "pending-upgrade" | "pending-rollback" => Some(Repair::RollbackFirst),
        _ => None,
    }
}

/// What `up` would do to one instance. `status` derives UP-TO-DATE from
/// this same function, so the two always agree.
pub fn plan_instance(r: &InstanceRender, observed: &Observed) -> InstancePlan {
    // The hook extension and the GitHub CA: each must be there with this
    // render's hash.
    let cm_names: Vec<String> = r.configmaps().filter_map(|cm| cm.pointer_name()).collect();
    let stale_cms: Vec<&str> = cm_names
        .iter()
        .filter(|n| observed.configmap(n).and_then(hash_of) != Some(r.inputs_hash.as_str()))
        .map(String::as_str)
        .collect();
    let create_claims: Vec<String> = r
        .claims
        .iter()
        .filter_map(|c| c.pointer_name())
        .filter(|n| observed.claim(n).is_none())
        .collect();
    let (action, reason, repair) = match observed.release(&r.instance) {
        None => (Action::Create, "new".to_string(), None),
        Some(rel) => {
            let repair = repair_for(&rel.status);
            let ars_hash = observed.runner_set(&r.instance).and_then(hash_of);
            if repair == Some(Repair::UninstallFirst) {
                (
                    Action::Create,
                    "an earlier install was interrupted (pending-install)".to_string(),
                    repair,
                )
            } else if repair.is_some() {
                (
                    Action::Upgrade,
                    format!("an earlier operation was interrupted ({})", rel.status),
                    repair,
                )
            } else if rel.status != "deployed" {
                (Action::Upgrade, format!("release is {}", rel.status), None)
            } else if ars_hash.is_none() {
                (
                    Action::Upgrade,
                    "its AutoscalingRunnerSet is missing".to_string(),
                    None,
                )
            } else if ars_hash != Some(r.inputs_hash.as_str()) {
                (Action::Upgrade, "configuration changed".to_string(), None)
            } else if !stale_cms.is_empty() {
                (
                    Action::Upgrade,
                    format!("ConfigMap missing or changed ({})", stale_cms.join(", ")),
                    None,
                )
            } else if !create_claims.is_empty() {
                (
                    Action::Upgrade,
                    format!("cache claim missing: {}", create_claims.join(", ")),
                    None,
                )
            } else {
                (Action::Unchanged, "up to date".to_string(), None)
            }
        }
    };
    InstancePlan {
        installation: r.installation.clone(),
        instance: r.instance.clone(),
        apply_configmap: !cm_names.is_empty() && (action != Action::Unchanged),
        action,
        reason,
        repair,
        create_claims,
    }
}

/// Plan `up`. `only` restricts create/upgrade to those installations and
/// disables removals (a partial `up` never uninstalls anything).
pub fn plan(config: &Config, rendered: &Rendered, observed: &Observed, only: &[String]) -> Plan {
    let wanted = &config.cluster.controller_chart.version;
    let controller = match observed.controller() {
        _ if !config.cluster.manages_controller() => None,
        None => Some(ControllerPlan {
            action: Action::Create,
            reason: "not installed".into(),
            version: wanted.clone(),
            repair: None,
        }),
        Some(rel) => {
            let (_, version) = rel.chart_and_version();
            let repair = repair_for(&rel.status);
            if rel.status != "deployed" {
                Some(ControllerPlan {
                    action: Action::Upgrade,
                    reason: format!("release is {}", rel.status),
                    version: wanted.clone(),
                    repair,
                })
            } else if version != wanted {
                Some(ControllerPlan {
                    action: Action::Upgrade,
                    reason: format!("at version {version}"),
                    version: wanted.clone(),
                    repair: None,
                })
            } else {
                None
            }
        }
    };

    let instances: Vec<InstancePlan> = rendered
        .instances
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.installation))
        .map(|r| plan_instance(r, observed))
        .collect();

    let desired: BTreeSet<&str> = rendered
        .instances
        .iter()
        .map(|r| r.instance.as_str())
        .collect();
    let desired_cms: BTreeSet<String> = rendered
        .instances
        .iter()
        .flat_map(|r| r.configmaps().filter_map(|cm| cm.pointer_name()))
        .collect();
    let mut removals = Vec::new();
    let mut stale_configmaps = Vec::new();
    let mut stale_secrets = Vec::new();
    if only.is_empty() {
        // What the runner sets in the cluster name (the chart copies
        // `proxy` into their spec), less what this config renders: no extra
        // read, and nothing once the runner sets no longer name them.
        let desired_secrets: BTreeSet<String> = rendered
            .proxy_secrets
            .iter()
            .filter_map(|s| s.pointer_name())
            .collect();
        let named: BTreeSet<String> = observed
            .runner_sets
            .iter()
            .flat_map(|rs| {
                ["http", "https"].into_iter().filter_map(move |k| {
                    rs.pointer(&format!("/spec/proxy/{k}/credentialSecretRef"))
                        .and_then(Json::as_str)
                        .map(String::from)
                })
            })
            .collect();
        stale_secrets = named.difference(&desired_secrets).cloned().collect();
        for rel in observed.scale_set_releases() {
            if desired.contains(rel.name.as_str()) {
                continue;
            }
            let configmaps = observed
                .configmaps
                .iter()
                .filter(|cm| {
                    cm.pointer("/metadata/labels")
                        .and_then(|l| l.get(LABEL_INSTANCE))
                        .and_then(Json::as_str)
                        == Some(rel.name.as_str())
                })
                .map(|cm| name_of(cm).to_string())
                .collect();
            removals.push(RemovalPlan {
                instance: rel.name.clone(),
                reason: "no longer in the config".into(),
                configmaps,
            });
        }
        let removed: BTreeSet<&String> = removals.iter().flat_map(|r| &r.configmaps).collect();
        for cm in &observed.configmaps {
            let name = name_of(cm).to_string();
            if !desired_cms.contains(&name) && !removed.contains(&name) {
                stale_configmaps.push(name);
            }
        }
    }

    let (mirrors, mirror_notice) = plan_mirrors(config, rendered, observed);
    Plan {
        cluster: config.cluster.name.clone(),
        provider: config.cluster.provider,
        context: config.cluster.context(),
        namespace: config.cluster.namespace.clone(),
        create_cluster: config.cluster.is_kind() && !observed.cluster_exists,
        controller,
        external_controller: !config.cluster.manages_controller(),
        instances,
        removals,
        stale_configmaps,
        stale_secrets,
        mirrors,
        mirror_notice,
    }
}

/// The mirrors' part of the plan. For an existing cluster whose node does
/// not mount the hosts directory, mirrors would serve nothing: none is
/// planned and the notice says how to re-create the cluster.
pub fn plan_mirrors(
    config: &Config,
    rendered: &Rendered,
    observed: &Observed,
) -> (Vec<MirrorPlan>, Option<String>) {
    let Some(hosts_dir) = &rendered.hosts_dir else {
        return (vec![], None);
    };
    if observed.cluster_exists {
        let state = match &observed.node {
            Some(node) => node_mirrors(node, hosts_dir),
            None => NodeMirrors::Missing,
        };
        if let Some(notice) = node_hint(&config.cluster.name, &state) {
            return (vec![], Some(notice));
        }
    }
    let plans = rendered
        .mirrors
        .iter()
        .map(|spec| MirrorPlan {
            spec: spec.clone(),
            action: plan_mirror(spec, observed.mirror(&spec.name)),
        })
        .collect();
    (plans, None)
}

trait PointerName {
    fn pointer_name(&self) -> Option<String>;
}

impl PointerName for serde_yaml::Value {
    fn pointer_name(&self) -> Option<String> {
        self.get("metadata")?
            .get("name")?
            .as_str()
            .map(String::from)
    }
}

impl Plan {
    /// Whether applying this plan changes anything.
    pub fn is_noop(&self) -> bool {
        !self.create_cluster
            && self.controller.is_none()
            && self.instances.iter().all(|i| !i.action.mutates())
            && self.removals.is_empty()
            && self.stale_configmaps.is_empty()
            && self.stale_secrets.is_empty()
            && self.mirrors.iter().all(|m| !m.action.mutates())
    }

    /// The plan as aligned lines: `ACTION  TARGET  DETAIL`.
    pub fn lines(&self) -> Vec<[String; 3]> {
        let mut rows = Vec::new();
        rows.push(match (self.provider, self.create_cluster) {
            (Provider::Existing, _) => [
                "unchanged".into(),
                format!("context/{}", self.context),
                "existing cluster, answers".into(),
            ],
            (Provider::Kind, true) => [
                "create".into(),
                format!("cluster/{}", self.cluster),
                "kind cluster".into(),
            ],
            (Provider::Kind, false) => [
                "unchanged".into(),
                format!("cluster/{}", self.cluster),
                "exists".into(),
            ],
        });
        rows.extend(self.mirrors.iter().map(MirrorPlan::line));
        rows.push(match &self.controller {
            None if self.external_controller => [
                "external".into(),
                "controller".into(),
                "not managed by deskrun".into(),
            ],
            Some(c) => [
                if c.action == Action::Create {
                    "install".into()
                } else {
                    "upgrade".into()
                },
                format!("controller/{CONTROLLER_RELEASE}"),
                format!("{} ({})", c.version, c.reason),
            ],
            None => [
                "unchanged".into(),
                format!("controller/{CONTROLLER_RELEASE}"),
                "deployed".into(),
            ],
        });
        for i in &self.instances {
            let mut detail = i.reason.clone();
            if i.installation != i.instance {
                detail = format!("{detail} (installation {})", i.installation);
            }
            for claim in &i.create_claims {
                rows.push([
                    "create".into(),
                    format!("claim/{claim}"),
                    format!("cache of {}", i.instance),
                ]);
            }
            rows.push([
                i.action.as_str().into(),
                format!("scale-set/{}", i.instance),
                detail,
            ]);
        }
        for r in &self.removals {
            rows.push([
                "remove".into(),
                format!("scale-set/{}", r.instance),
                r.reason.clone(),
            ]);
        }
        for cm in &self.stale_configmaps {
            rows.push([
                "remove".into(),
                format!("configmap/{cm}"),
                "no longer used".into(),
            ]);
        }
        for secret in &self.stale_secrets {
            rows.push([
                "remove".into(),
                format!("secret/{secret}"),
                "proxy credentials no longer in the config".into(),
            ]);
        }
        rows
    }
}

/// Format rows as aligned columns.
pub fn columns(rows: &[[String; 3]]) -> String {
    crate::output::table(rows)
}
