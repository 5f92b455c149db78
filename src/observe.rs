//! Reading the cluster into the read model ([`crate::observed::Observed`])
//! that `up`, `status` and `down` share. Reads that do not depend on each
//! other run at the same time.

use crate::model::CONTROLLER_RELEASE;
use crate::observed::Observed;
use crate::tools::{ARC_CRDS, Kube};
use crate::workload::Workload;
use anyhow::Result;
use serde_json::Value as Json;

/// Which parts of the cluster to read (the kind cluster list always; on an
/// existing cluster the ARC controllers, which is also the check that the
/// context answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// deskrun's AutoscalingRunnerSets and ConfigMaps (and cache claims on
    /// an existing cluster).
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
/// The same plus the cache claims, on an existing cluster.
const RUNNER_SETS_CONFIGMAPS_CLAIMS: &str =
    "autoscalingrunnersets.actions.github.com,configmaps,persistentvolumeclaims";

/// Read the cluster. With no kind cluster that is one call; otherwise the
/// helm releases, deskrun's objects and the node are read at once.
pub fn observe(kube: &Kube, reads: Reads) -> Result<Observed> {
    let existing = !kube.cluster.is_kind();
    // Mirrors are containers next to a kind cluster: an existing cluster's
    // nodes have none of deskrun's.
    let mirrors: Vec<String> = if reads.mirrors && !existing {
        crate::mirrors::names(kube.cluster)
    } else {
        vec![]
    };
    // kind: whether the cluster exists. An existing cluster always does;
    // the first call checks that its context answers, and finds the ARC
    // controllers in it (a managed config must not install a second one).
    let controllers = if existing {
        let found = kube.controller_deployments()?;
        Some(found.map(|d| crate::controllers::controllers(&d)))
    } else {
        if !kube.cluster_exists()? {
            let (_, mirrors) = kube.containers(false, &mirrors)?;
            return Ok(Observed {
                mirrors,
                ..Observed::default()
            });
        }
        None
    };
    let external = existing && !kube.cluster.manages_controller();
    // With mirrors, the node is read too: whether it mounts their hosts
    // directory decides whether they are of any use to this cluster.
    let read_containers = !existing && (reads.node || !mirrors.is_empty());
    let (releases, objects, containers, crds) = std::thread::scope(|s| {
        let objects = reads
            .objects
            .then(|| s.spawn(|| runner_sets_and_configmaps(kube)));
        let node = read_containers.then(|| s.spawn(|| kube.containers(true, &mirrors)));
        let crds = (reads.objects && external).then(|| s.spawn(|| kube.arc_crds()));
        let releases = kube.managed_releases();
        (releases, objects.map(join), node.map(join), crds.map(join))
    });
    let releases = releases?;
    let crds = crds
        .transpose()?
        .map(|found| crate::controllers::crds(&found, &ARC_CRDS));
    // With an external controller the runner-set type exists once its CRDs do.
    let has_controller = if external {
        crds.as_ref().is_some_and(|c| c.missing.is_empty())
    } else {
        releases.iter().any(|r| r.name == CONTROLLER_RELEASE)
    };
    let (runner_sets, configmaps, claims) = match objects {
        Some(Ok(Objects::Both(items))) => split(items),
        // No ARC CRDs yet: an AutoscalingRunnerSet cannot exist.
        Some(Ok(Objects::NoRunnerSetType)) => {
            let (_, configmaps, claims) = split(configmaps_and_claims(kube)?);
            (vec![], configmaps, claims)
        }
        Some(Err(e)) => return Err(e),
        None => (vec![], vec![], vec![]),
    };
    let (node, mirrors) = containers.transpose()?.unwrap_or_default();
    let runs = existing || node.as_ref().is_some_and(|n| n.running);
    let workload = if reads.workload && has_controller && runs {
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
        claims,
        controllers: controllers.flatten(),
        crds,
    })
}

/// deskrun's cache claims on an existing cluster (for `down` and `remove`,
/// which read nothing else).
pub fn claims(kube: &Kube) -> Result<Vec<Json>> {
    if kube.cluster.is_kind() {
        return Ok(vec![]);
    }
    kube.get_managed("read deskrun's cache claims", "persistentvolumeclaims")
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
    let (step, types) = if kube.cluster.is_kind() {
        (
            "read deskrun's runner sets and ConfigMaps",
            RUNNER_SETS_AND_CONFIGMAPS,
        )
    } else {
        (
            "read deskrun's runner sets, ConfigMaps and cache claims",
            RUNNER_SETS_CONFIGMAPS_CLAIMS,
        )
    };
    match kube.get_managed(step, types) {
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

fn configmaps_and_claims(kube: &Kube) -> Result<Vec<Json>> {
    if kube.cluster.is_kind() {
        kube.get_managed("read deskrun's ConfigMaps", "configmaps")
    } else {
        kube.get_managed(
            "read deskrun's ConfigMaps and cache claims",
            "configmaps,persistentvolumeclaims",
        )
    }
}

/// Runner sets, ConfigMaps and claims, by kind.
fn split(items: Vec<Json>) -> (Vec<Json>, Vec<Json>, Vec<Json>) {
    let kind = |o: &Json, k: &str| o.get("kind").and_then(Json::as_str) == Some(k);
    let mut out = (vec![], vec![], vec![]);
    for o in items {
        if kind(&o, "AutoscalingRunnerSet") {
            out.0.push(o);
        } else if kind(&o, "ConfigMap") {
            out.1.push(o);
        } else if kind(&o, "PersistentVolumeClaim") {
            out.2.push(o);
        }
    }
    out
}
