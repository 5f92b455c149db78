//! Reading the cluster into the read model ([`crate::observed::Observed`])
//! that `up`, `status` and `down` share. Reads that do not depend on each
//! other run at the same time.

use crate::model::CONTROLLER_RELEASE;
use crate::observed::Observed;
use crate::tools::Kube;
use crate::workload::Workload;
use anyhow::Result;
use serde_json::Value as Json;

/// Which parts of the cluster to read (the kind cluster list always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// deskrun's AutoscalingRunnerSets and ConfigMaps.
    pub objects: bool,
    /// The kind node container (`docker inspect`).
    pub node: bool,
    /// The pods and EphemeralRunners of the namespace, in one call (only
    /// when the controller runs): listeners, runners, job pods, controller.
    pub workload: bool,
    /// The config's registry mirror containers, in the node's `docker
    /// inspect` (which is then made even when `node` is false).
    pub mirrors: bool,
}

impl Reads {
    /// Releases only (`down`).
    pub const RELEASES: Reads = Reads {
        objects: false,
        node: false,
        workload: false,
        mirrors: false,
    };
    /// What the plan needs (`up`).
    pub const PLAN: Reads = Reads {
        objects: true,
        node: false,
        workload: false,
        mirrors: true,
    };
    /// Everything (`status`).
    pub const ALL: Reads = Reads {
        objects: true,
        node: true,
        workload: true,
        mirrors: true,
    };
}

const RUNNER_SETS_AND_CONFIGMAPS: &str = "autoscalingrunnersets.actions.github.com,configmaps";
/// Pods and runners in one `kubectl get` (no selector: the namespace holds
/// only what ARC and deskrun made, and job pods carry no ARC label).
const WORKLOAD: &str = "pods,ephemeralrunners.actions.github.com";

/// Read the cluster. With no kind cluster that is one call; otherwise the
/// helm releases, deskrun's objects and the node are read at once.
pub fn observe(kube: &Kube, reads: Reads) -> Result<Observed> {
    let mirrors: Vec<String> = if reads.mirrors {
        crate::mirrors::names(kube.cluster)
    } else {
        vec![]
    };
    if !kube.cluster_exists()? {
        let (_, mirrors) = kube.containers(false, &mirrors)?;
        return Ok(Observed {
            mirrors,
            ..Observed::default()
        });
    }
    // With mirrors, the node is read too: whether it mounts their hosts
    // directory decides whether they are of any use to this cluster.
    let read_containers = reads.node || !mirrors.is_empty();
    let (releases, objects, containers) = std::thread::scope(|s| {
        let objects = reads
            .objects
            .then(|| s.spawn(|| runner_sets_and_configmaps(kube)));
        let node = read_containers.then(|| s.spawn(|| kube.containers(true, &mirrors)));
        let releases = kube.managed_releases();
        (releases, objects.map(join), node.map(join))
    });
    let releases = releases?;
    let has_controller = releases.iter().any(|r| r.name == CONTROLLER_RELEASE);
    let (runner_sets, configmaps) = match objects {
        Some(Ok(Objects::Both(items))) => split(items),
        // No ARC CRDs yet: an AutoscalingRunnerSet cannot exist.
        Some(Ok(Objects::NoRunnerSetType)) => (vec![], configmaps(kube)?),
        Some(Err(e)) => return Err(e),
        None => (vec![], vec![]),
    };
    let (node, mirrors) = containers.transpose()?.unwrap_or_default();
    let workload = if reads.workload && has_controller && node.as_ref().is_some_and(|n| n.running) {
        Workload::from_items(kube.get_all("read the pods and runners", WORKLOAD)?)
    } else {
        Workload::default()
    };
    Ok(Observed {
        cluster_exists: true,
        releases,
        runner_sets,
        configmaps,
        node,
        workload,
        mirrors,
    })
}

/// A reader thread's result; its panic goes on in the caller.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

enum Objects {
    Both(Vec<Json>),
    NoRunnerSetType,
}

/// Runner sets and ConfigMaps in one call. Read before it is known whether
/// the controller (and so the runner-set type) exists; when it does not,
/// kubectl refuses the type and only the ConfigMaps are read.
fn runner_sets_and_configmaps(kube: &Kube) -> Result<Objects> {
    match kube.get_managed(
        "read deskrun's runner sets and ConfigMaps",
        RUNNER_SETS_AND_CONFIGMAPS,
    ) {
        Ok(items) => Ok(Objects::Both(items)),
        Err(e)
            if e.downcast_ref::<crate::exec::ToolError>()
                .is_some_and(|t| t.stderr_tail.contains("doesn't have a resource type")) =>
        {
            Ok(Objects::NoRunnerSetType)
        }
        Err(e) => Err(e),
    }
}

fn configmaps(kube: &Kube) -> Result<Vec<Json>> {
    kube.get_managed("read deskrun's ConfigMaps", "configmaps")
}

fn split(items: Vec<Json>) -> (Vec<Json>, Vec<Json>) {
    let kind = |o: &Json, k: &str| o.get("kind").and_then(Json::as_str) == Some(k);
    let (runner_sets, rest): (Vec<Json>, Vec<Json>) = items
        .into_iter()
        .partition(|o| kind(o, "AutoscalingRunnerSet"));
    let configmaps = rest.into_iter().filter(|o| kind(o, "ConfigMap")).collect();
    (runner_sets, configmaps)
}
