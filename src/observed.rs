//! What deskrun saw in the cluster, as plain data: the read model that
//! `up` (through the plan), `status` and `down` share. Filled by
//! [`crate::observe`]; nothing here runs a tool, so the pure core (plan)
//! depends on this module and not on the tool layer.

use crate::controllers::{ControllerFound, CrdsFound};
use crate::mirrors::MirrorState;
use crate::model::{CONTROLLER_CHART, CONTROLLER_RELEASE, SCALE_SET_CHART};
use crate::render::{ANNOTATION_INPUTS_HASH, LABEL_MANAGED};
use crate::workload::{ObjectKind, Workload};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The label selector of everything deskrun deploys (releases, runner sets,
/// ConfigMaps): `deskrun.dev/managed=true`.
pub fn managed_selector() -> String {
    format!("{LABEL_MANAGED}=true")
}

/// A release as `helm list -o json` prints it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    /// helm prints the revision as a string.
    pub revision: String,
    pub status: String,
    pub chart: String,
    #[serde(default)]
    pub app_version: String,
    #[serde(default)]
    pub updated: String,
}

impl Release {
    /// (chart name, chart version) from helm's `chart` field, e.g.
    /// `gha-runner-scale-set-0.14.2`.
    pub fn chart_and_version(&self) -> (&str, &str) {
        for chart in [CONTROLLER_CHART, SCALE_SET_CHART] {
            if let Some(v) = self
                .chart
                .strip_prefix(chart)
                .and_then(|r| r.strip_prefix('-'))
            {
                return (chart, v);
            }
        }
        match self.chart.rsplit_once('-') {
            Some((c, v)) => (c, v),
            None => (self.chart.as_str(), ""),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeMount {
    pub source: String,
    pub destination: String,
}

/// The kind node container, as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    pub running: bool,
    pub mounts: Vec<NodeMount>,
}

impl NodeInfo {
    /// The host directory mounted at `destination` in the node, if any.
    pub fn source_of(&self, destination: &str) -> Option<&str> {
        self.mounts
            .iter()
            .find(|m| m.destination.trim_end_matches('/') == destination.trim_end_matches('/'))
            .map(|m| m.source.as_str())
    }

    /// Whether `host_path` on the host is visible at the same path in the
    /// node (deskrun mounts caches at identical paths on both sides).
    pub fn covers(&self, host_path: &str) -> bool {
        self.mounts.iter().any(|m| {
            let under = |p: &str, dir: &str| {
                let dir = dir.trim_end_matches('/');
                p == dir || p.starts_with(&format!("{dir}/")) || dir.is_empty()
            };
            m.source.trim_end_matches('/') == m.destination.trim_end_matches('/')
                && under(host_path, &m.source)
        })
    }
}

/// What deskrun saw in the cluster. Which parts were read depends on the
/// command (see [`crate::observe::Reads`]); parts not read stay empty.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub cluster_exists: bool,
    /// Releases labelled `deskrun.dev/managed=true` in the namespace.
    pub releases: Vec<Release>,
    /// AutoscalingRunnerSets labelled `deskrun.dev/managed=true`.
    pub runner_sets: Vec<Json>,
    /// ConfigMaps labelled `deskrun.dev/managed=true`.
    pub configmaps: Vec<Json>,
    /// The kind node container (`None`: not read, or no such container).
    pub node: Option<NodeInfo>,
    /// Pods and EphemeralRunners of the namespace (read by `status` only).
    pub workload: Workload,
    /// The registry mirror containers of the config that exist (read with
    /// the node, in the same `docker inspect`).
    pub mirrors: Vec<MirrorState>,
    /// Cache claims (PersistentVolumeClaims) labelled
    /// `deskrun.dev/managed=true`; existing clusters only.
    pub claims: Vec<Json>,
    /// ARC controller Deployments in every namespace (existing clusters
    /// only; `None` also when the context may not list them).
    pub controllers: Option<Vec<ControllerFound>>,
    /// The ARC CRDs, read for an external controller only.
    pub crds: Option<CrdsFound>,
}

/// `metadata.name` of a Kubernetes object ("" when missing).
pub fn name_of(obj: &Json) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("")
}

/// The inputs hash deskrun annotated an object with.
pub fn hash_of(obj: &Json) -> Option<&str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_INPUTS_HASH))
        .and_then(Json::as_str)
}

impl Observed {
    /// What Docker reported about the mirror container `name`.
    pub fn mirror(&self, name: &str) -> Option<&MirrorState> {
        self.mirrors.iter().find(|m| m.name == name)
    }

    pub fn release(&self, name: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.name == name)
    }

    pub fn controller(&self) -> Option<&Release> {
        self.releases
            .iter()
            .find(|r| r.name == CONTROLLER_RELEASE && r.chart_and_version().0 == CONTROLLER_CHART)
    }

    pub fn runner_set(&self, name: &str) -> Option<&Json> {
        self.runner_sets.iter().find(|o| name_of(o) == name)
    }

    pub fn configmap(&self, name: &str) -> Option<&Json> {
        self.configmaps.iter().find(|o| name_of(o) == name)
    }

    pub fn claim(&self, name: &str) -> Option<&Json> {
        self.claims.iter().find(|o| name_of(o) == name)
    }

    /// Scale-set releases deskrun manages.
    pub fn scale_set_releases(&self) -> impl Iterator<Item = &Release> {
        self.releases
            .iter()
            .filter(|r| r.chart_and_version().0 == SCALE_SET_CHART)
    }

    /// Phase of the listener pod of scale set `instance`, if there is one.
    pub fn listener_phase(&self, instance: &str) -> Option<&str> {
        self.workload
            .pods_of(ObjectKind::Listener, Some(instance))
            .into_iter()
            .next()
            .and_then(|p| p.pointer("/status/phase"))
            .and_then(Json::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_versions() {
        let r = |chart: &str| Release {
            name: "x".into(),
            namespace: "n".into(),
            revision: "1".into(),
            status: "deployed".into(),
            chart: chart.into(),
            app_version: String::new(),
            updated: String::new(),
        };
        assert_eq!(
            r("gha-runner-scale-set-controller-0.14.2").chart_and_version(),
            ("gha-runner-scale-set-controller", "0.14.2")
        );
        assert_eq!(
            r("gha-runner-scale-set-0.15.0-rc.1").chart_and_version(),
            ("gha-runner-scale-set", "0.15.0-rc.1")
        );
    }

    #[test]
    fn mount_coverage() {
        let node = NodeInfo {
            running: true,
            mounts: vec![NodeMount {
                source: "/tmp/github-runner-cache".into(),
                destination: "/tmp/github-runner-cache".into(),
            }],
        };
        assert!(node.covers("/tmp/github-runner-cache/a/cache-0"));
        assert!(!node.covers("/tmp/github-runner-cache-other"));
        assert!(!node.covers("/srv/cache"));
    }

    #[test]
    fn the_selector_is_the_label() {
        assert_eq!(managed_selector(), "deskrun.dev/managed=true");
    }
}
