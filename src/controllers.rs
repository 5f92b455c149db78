//! ARC controllers found in a cluster, and whether the config fits them.
//!
//! Pure: it reads what `kubectl get` returned (the controller chart's
//! Deployments in every namespace, the ARC CRDs) and decides. Two controllers
//! in one cluster fight over the same CRDs and runner sets, so a `managed`
//! config stops when it finds one deskrun did not install; an `external`
//! config needs the CRDs and a controller of the scale-set chart's version
//! (the controller skips runner sets whose `app.kubernetes.io/version` label,
//! which the scale-set chart sets to its own version, differs from its own).

use crate::input_bail;
use crate::model::{CONTROLLER_RELEASE, ClusterSettings};
use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value as Json;
use std::fmt;

/// The label every object of the controller chart carries
/// (`app.kubernetes.io/part-of=gha-rs-controller`): the selector that finds
/// controllers whoever installed them.
pub const CONTROLLER_SELECTOR: &str = "app.kubernetes.io/part-of=gha-rs-controller";

/// The ARC CRDs, all served at this version by the charts deskrun deploys.
pub const CRD_VERSION: &str = "v1alpha1";

/// A controller Deployment of the ARC controller chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControllerFound {
    pub namespace: String,
    pub deployment: String,
    /// The Helm release that installed it (`app.kubernetes.io/instance`).
    pub release: String,
    /// The controller's version (`app.kubernetes.io/version`), "" if absent.
    pub version: String,
}

impl fmt::Display for ControllerFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Deployment {}/{} (release {}, version {})",
            self.namespace,
            self.deployment,
            if self.release.is_empty() {
                "?"
            } else {
                &self.release
            },
            if self.version.is_empty() {
                "unknown"
            } else {
                &self.version
            }
        )
    }
}

fn label<'a>(obj: &'a Json, key: &str) -> &'a str {
    obj.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Json::as_str)
        .unwrap_or("")
}

fn meta<'a>(obj: &'a Json, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Json::as_str)
        .unwrap_or("")
}

/// The controllers among the Deployments `kubectl get deployments
/// --all-namespaces -l CONTROLLER_SELECTOR` returned.
pub fn controllers(deployments: &[Json]) -> Vec<ControllerFound> {
    deployments
        .iter()
        .filter(|d| d.get("kind").and_then(Json::as_str).unwrap_or("Deployment") == "Deployment")
        .map(|d| ControllerFound {
            namespace: meta(d, "namespace").to_string(),
            deployment: meta(d, "name").to_string(),
            release: label(d, "app.kubernetes.io/instance").to_string(),
            version: label(d, "app.kubernetes.io/version").to_string(),
        })
        .collect()
}

/// Whether a controller is the one deskrun installs (release `arc` in the
/// configured namespace).
pub fn is_deskruns(cluster: &ClusterSettings, c: &ControllerFound) -> bool {
    c.namespace == cluster.namespace && c.release == CONTROLLER_RELEASE
}

/// The ARC CRDs as `kubectl get crd NAMES --ignore-not-found -o json` saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrdsFound {
    /// The CRDs present, with the versions each serves.
    pub present: Vec<(String, Vec<String>)>,
    /// ARC CRDs that are not there.
    pub missing: Vec<String>,
}

pub fn crds(found: &[Json], wanted: &[&str]) -> CrdsFound {
    let served = |crd: &Json| -> Vec<String> {
        crd.pointer("/spec/versions")
            .and_then(Json::as_array)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get("served").and_then(Json::as_bool).unwrap_or(false))
                    .filter_map(|v| v.get("name").and_then(Json::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for name in wanted {
        match found.iter().find(|c| meta(c, "name") == *name) {
            Some(crd) => present.push((name.to_string(), served(crd))),
            None => missing.push(name.to_string()),
        }
    }
    CrdsFound { present, missing }
}

/// A managed config must be the only ARC controller in the cluster.
pub fn check_managed(cluster: &ClusterSettings, found: &[ControllerFound]) -> Result<()> {
    let others: Vec<String> = found
        .iter()
        .filter(|c| !is_deskruns(cluster, c))
        .map(ToString::to_string)
        .collect();
    if !others.is_empty() {
        input_bail!(
            "the cluster (context {}) already runs an ARC controller that deskrun did not install: {}. \
             Two controllers fight over the same runner sets. Set `cluster.controller: external` in the \
             config to use that one (deskrun then installs no controller), or remove it first",
            cluster.context(),
            others.join("; ")
        );
    }
    Ok(())
}

/// What an external controller check found, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalController {
    pub controllers: Vec<ControllerFound>,
    pub crds: Vec<String>,
    /// Whether Deployments could be listed in every namespace (`false`: the
    /// context may not, so the version could not be compared).
    pub version_checked: bool,
}

impl ExternalController {
    pub fn summary(&self) -> String {
        let crds = format!("ARC CRDs present ({})", self.crds.len());
        match (self.version_checked, self.controllers.as_slice()) {
            (false, _) => format!(
                "{crds}; the controller's version was not checked (this context may not list \
                 Deployments in all namespaces)"
            ),
            (true, cs) => format!(
                "{crds}; controller {}",
                cs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// An external config needs every ARC CRD, served at [`CRD_VERSION`], and a
/// controller whose version is the scale-set chart's. `deployments` is
/// `None` when the context may not list them cluster-wide.
pub fn check_external(
    cluster: &ClusterSettings,
    crds: &CrdsFound,
    deployments: Option<&[ControllerFound]>,
) -> Result<ExternalController> {
    let context = cluster.context();
    if !crds.missing.is_empty() {
        bail!(
            "cluster.controller is external, but the cluster (context {context}) lacks the ARC CRDs {}: \
             no ARC controller is installed there. Install one (the gha-runner-scale-set-controller \
             chart, version {}), or set `cluster.controller: managed` so that deskrun installs it",
            crds.missing.join(", "),
            cluster.scale_set_chart.version
        );
    }
    if let Some((name, served)) = crds
        .present
        .iter()
        .find(|(_, served)| !served.iter().any(|v| v == CRD_VERSION))
    {
        bail!(
            "the ARC CRD {name} in the cluster (context {context}) serves {} but not {CRD_VERSION}, which \
             the scale-set chart {} uses; the cluster's ARC controller is of another generation than \
             deskrun's charts",
            if served.is_empty() {
                "no version".to_string()
            } else {
                served.join(", ")
            },
            cluster.scale_set_chart.version
        );
    }
    let names: Vec<String> = crds.present.iter().map(|(n, _)| n.clone()).collect();
    let Some(found) = deployments else {
        return Ok(ExternalController {
            controllers: vec![],
            crds: names,
            version_checked: false,
        });
    };
    let wanted = &cluster.scale_set_chart.version;
    if found.is_empty() {
        bail!(
            "cluster.controller is external and the ARC CRDs exist, but no ARC controller Deployment \
             (label {CONTROLLER_SELECTOR}) runs in the cluster (context {context}): nothing would \
             start the runners. Install the controller chart at version {wanted}, or set \
             `cluster.controller: managed`"
        );
    }
    if !found.iter().any(|c| &c.version == wanted) {
        let list: Vec<String> = found.iter().map(ToString::to_string).collect();
        bail!(
            "the cluster's ARC controller does not match deskrun's scale-set chart {wanted}: found {}. \
             An ARC controller only serves runner sets of its own version. Set \
             `cluster.scale_set_chart.version` to the controller's version (or run `deskrun up \
             --chart-version VERSION`), or upgrade the controller",
            list.join("; ")
        );
    }
    Ok(ExternalController {
        controllers: found.to_vec(),
        crds: names,
        version_checked: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ControllerMode, Provider};
    use crate::tools::ARC_CRDS;
    use serde_json::json;

    fn deployment(ns: &str, release: &str, version: &str) -> Json {
        json!({
            "kind": "Deployment",
            "metadata": {
                "name": format!("{release}-gha-rs-controller"),
                "namespace": ns,
                "labels": {
                    "app.kubernetes.io/part-of": "gha-rs-controller",
                    "app.kubernetes.io/instance": release,
                    "app.kubernetes.io/version": version,
                }
            }
        })
    }

    fn crd(name: &str, versions: &[(&str, bool)]) -> Json {
        json!({
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"versions": versions.iter().map(|(v, s)| json!({"name": v, "served": s})).collect::<Vec<_>>()}
        })
    }

    fn existing(controller: ControllerMode) -> ClusterSettings {
        ClusterSettings {
            provider: Provider::Existing,
            context: Some("team".into()),
            controller,
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn managed_stops_on_a_controller_it_did_not_install() {
        let c = existing(ControllerMode::Managed);
        let ours = controllers(&[deployment("arc-systems", "arc", "0.14.2")]);
        check_managed(&c, &ours).unwrap();
        // Same release name in another namespace, another release in ours.
        for other in [
            deployment("arc-system", "arc", "0.14.2"),
            deployment("arc-systems", "arc-team", "0.13.0"),
        ] {
            let found = controllers(&[deployment("arc-systems", "arc", "0.14.2"), other]);
            let e = check_managed(&c, &found).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2);
            let m = e.to_string();
            assert!(
                m.contains("cluster.controller: external") && m.contains("context team"),
                "{m}"
            );
            assert!(
                !m.contains("arc-systems/arc-gha-rs-controller "),
                "ours is not listed: {m}"
            );
        }
    }

    #[test]
    fn external_needs_the_crds_and_a_controller_of_the_chart_version() {
        let c = existing(ControllerMode::External);
        let all: Vec<Json> = ARC_CRDS
            .iter()
            .map(|n| crd(n, &[("v1alpha1", true)]))
            .collect();
        let found = crds(&all, &ARC_CRDS);
        assert!(found.missing.is_empty());
        let team = controllers(&[deployment("arc-system", "team-arc", "0.14.2")]);
        let ok = check_external(&c, &found, Some(&team)).unwrap();
        assert!(ok.version_checked);
        let s = ok.summary();
        assert!(
            s.contains("arc-system/team-arc-gha-rs-controller") && s.contains("0.14.2"),
            "{s}"
        );

        // A CRD missing.
        let e = check_external(&c, &crds(&all[1..], &ARC_CRDS), Some(&team))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("autoscalingrunnersets.actions.github.com") && e.contains("managed"),
            "{e}"
        );
        // Another version of the controller.
        let old = controllers(&[deployment("arc-system", "team-arc", "0.12.1")]);
        let e = check_external(&c, &found, Some(&old))
            .unwrap_err()
            .to_string();
        assert!(e.contains("0.12.1") && e.contains("--chart-version"), "{e}");
        // CRDs but no controller.
        let e = check_external(&c, &found, Some(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no ARC controller Deployment"), "{e}");
        // A CRD of another generation.
        let mut odd = all.clone();
        odd[0] = crd(ARC_CRDS[0], &[("v1alpha1", false), ("v1beta1", true)]);
        let e = check_external(&c, &crds(&odd, &ARC_CRDS), Some(&team))
            .unwrap_err()
            .to_string();
        assert!(e.contains("serves v1beta1 but not v1alpha1"), "{e}");
        // Deployments not listable: CRDs suffice, and the summary says so.
        let ok = check_external(&c, &found, None).unwrap();
        assert!(ok.summary().contains("not checked"), "{}", ok.summary());
    }
}
