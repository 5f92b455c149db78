//! What a kubeconfig context must be allowed to do for deskrun, as a list of
//! `kubectl auth can-i` questions. Pure: the caller asks them.
//!
//! On a team cluster the context often belongs to a person or a CI account
//! with narrow rights; asking first turns a half-applied `up` (helm failing
//! on the fifth object) into one list of what is missing.

use crate::model::ClusterSettings;
use serde::Serialize;

/// One permission: `kubectl auth can-i VERB RESOURCE` in the namespace, or
/// cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Need {
    pub verb: &'static str,
    pub resource: &'static str,
    /// Asked with `--all-namespaces` (cluster-scoped objects, or a list in
    /// every namespace) instead of `--namespace NS`.
    pub cluster_wide: bool,
    /// What deskrun does with it.
    pub why: &'static str,
}

const fn ns(verb: &'static str, resource: &'static str, why: &'static str) -> Need {
    Need {
        verb,
        resource,
        cluster_wide: false,
        why,
    }
}

const fn cluster(verb: &'static str, resource: &'static str, why: &'static str) -> Need {
    Need {
        verb,
        resource,
        cluster_wide: true,
        why,
    }
}

/// Everything `up`, `status` and `down` do in the namespace: Helm's release
/// records (Secrets), the scale-set chart's objects, deskrun's ConfigMaps
/// and cache claims.
const NAMESPACED: [Need; 12] = [
    ns("list", "secrets", "helm reads its release records"),
    ns(
        "create",
        "secrets",
        "helm records releases and stores the GitHub credential",
    ),
    ns("delete", "secrets", "helm uninstall"),
    ns(
        "create",
        "autoscalingrunnersets.actions.github.com",
        "the scale sets",
    ),
    ns(
        "delete",
        "autoscalingrunnersets.actions.github.com",
        "uninstalling scale sets",
    ),
    ns(
        "create",
        "serviceaccounts",
        "the runner pods' service accounts",
    ),
    ns(
        "create",
        "roles.rbac.authorization.k8s.io",
        "the runner pods' permissions in kubernetes modes",
    ),
    ns(
        "create",
        "rolebindings.rbac.authorization.k8s.io",
        "binding those permissions",
    ),
    ns("create", "configmaps", "hook-extension ConfigMaps"),
    ns("delete", "configmaps", "removing hook-extension ConfigMaps"),
    ns("create", "persistentvolumeclaims", "cache claims"),
    ns("list", "pods", "status reads the listener pods"),
];

/// What installing the controller takes: its CRDs and cluster roles are
/// cluster-wide.
const MANAGED: [Need; 5] = [
    cluster(
        "create",
        "customresourcedefinitions.apiextensions.k8s.io",
        "the ARC CRDs",
    ),
    cluster(
        "create",
        "clusterroles.rbac.authorization.k8s.io",
        "the controller's cluster role",
    ),
    cluster(
        "create",
        "clusterrolebindings.rbac.authorization.k8s.io",
        "binding the controller's role",
    ),
    ns("create", "deployments.apps", "the controller"),
    cluster(
        "list",
        "deployments.apps",
        "finding other ARC controllers in the cluster",
    ),
];

/// The questions to ask for this cluster's settings.
pub fn needs(cluster: &ClusterSettings) -> Vec<Need> {
    let mut out: Vec<Need> = NAMESPACED.to_vec();
    if cluster.manages_controller() {
        out.extend(MANAGED);
    }
    out
}

/// One line per missing permission: `create persistentvolumeclaims in
/// namespace ci (cache claims)`.
pub fn missing_lines(cluster: &ClusterSettings, missing: &[Need]) -> Vec<String> {
    missing
        .iter()
        .map(|n| {
            let scope = if n.cluster_wide {
                "cluster-wide".to_string()
            } else {
                format!("in namespace {}", cluster.namespace)
            };
            format!("{} {} {scope} ({})", n.verb, n.resource, n.why)
        })
        .collect()
}

/// What to do about them: who can grant them, or the setting that makes
/// the cluster-wide ones unnecessary.
pub fn advice(cluster: &ClusterSettings, missing: &[Need]) -> &'static str {
    if cluster.manages_controller() && missing.iter().any(|n| n.cluster_wide) {
        "Installing the ARC controller takes cluster-wide rights. If the cluster already runs a \
         controller, set `cluster.controller: external`; otherwise ask the cluster's admins for \
         these rights (or to install the controller)."
    } else {
        "Ask the cluster's admins for these rights, or use a context that has them."
    }
}

/// The message for the permissions a context lacks.
pub fn missing_report(cluster: &ClusterSettings, missing: &[Need]) -> String {
    let lines: Vec<String> = missing_lines(cluster, missing)
        .into_iter()
        .map(|l| format!("- {l}"))
        .collect();
    format!(
        "the context {} may not do everything deskrun needs; missing:\n{}\n{}",
        cluster.context(),
        lines.join("\n"),
        advice(cluster, missing)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ControllerMode, Provider};

    #[test]
    fn managed_needs_cluster_wide_rights_and_external_does_not() {
        let mut c = ClusterSettings {
            provider: Provider::Existing,
            context: Some("team".into()),
            ..ClusterSettings::default()
        };
        let managed = needs(&c);
        assert!(
            managed
                .iter()
                .any(|n| n.resource.starts_with("customresourcedefinitions"))
        );
        for resource in ["secrets", "configmaps", "persistentvolumeclaims"] {
            assert!(
                managed
                    .iter()
                    .any(|n| n.resource == resource && !n.cluster_wide)
            );
        }
        c.controller = ControllerMode::External;
        let external = needs(&c);
        assert!(external.iter().all(|n| !n.cluster_wide));
        assert!(external.len() < managed.len());

        let m = missing_report(&c, &external[..2]);
        assert!(
            m.contains("context team") && m.contains("- list secrets in namespace arc-systems"),
            "{m}"
        );
        c.controller = ControllerMode::Managed;
        let m = missing_report(&c, &managed[managed.len() - 4..]);
        assert!(
            m.contains("cluster-wide") && m.contains("cluster.controller: external"),
            "{m}"
        );
    }
}
