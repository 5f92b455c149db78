//! `deskrun list`: the configured installations, never their credentials.

use crate::model::{Cache, Config, Mode, Resources};
use serde::Serialize;
use std::collections::BTreeMap;

/// The stable shape of `deskrun list --output json|yaml` (documented in the
/// README). Fields are only ever added, never renamed or removed.
#[derive(Debug, Clone, Serialize)]
pub struct ListOutput {
    pub version: u32,
    /// Where `deskrun up` deploys.
    pub cluster: ListCluster,
    pub installations: Vec<ListEntry>,
    /// `cluster.proxy`, credentials left out; `null` when unset.
    pub proxy: Option<ListProxy>,
}

/// The cluster proxy as `list` shows it: URLs without their credentials.
#[derive(Debug, Clone, Serialize)]
pub struct ListProxy {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Vec<String>,
    /// Whether any URL has credentials (kept in the config, given to ARC in a Secret).
    pub credentials: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListCluster {
    /// `kind` or `existing`.
    pub provider: String,
    pub context: String,
    pub namespace: String,
    /// `managed` or `external`.
    pub controller: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListEntry {
    pub name: String,
    pub repository: String,
    pub mode: String,
    pub instances: u32,
    pub min_runners: u32,
    pub max_runners: u32,
    pub caches: Vec<Cache>,
    /// `required` or `optional` (whether a job must declare `container:`),
    /// the mode's default unless set; `null` in dind.
    pub job_container: Option<String>,
    pub glibc_compat: bool,
    /// The node its pods are pinned to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub auth_type: String,
    /// The values workflows put in `runs-on:`.
    pub runs_on: Vec<String>,
    /// Extra scale-set labels (`runs-on: [label, ...]`).
    pub labels: Vec<String>,
    /// Environment of the runner (and job) container.
    pub env: BTreeMap<String, String>,
    /// The runner image in use (the default when none is set).
    pub runner_image: String,
    /// The dind sidecar's image; `null` outside dind mode.
    pub dind_image: Option<String>,
    /// Requests and limits per container (`runner`, `job`, `dind`), as in
    /// the config; containers without any are left out.
    pub resources: Resources,
    /// The certificates of `--github-ca-file` (subject, not_after,
    /// sha256); empty when GitHub's certificate is publicly trusted.
    pub github_ca: Vec<crate::x509::CertInfo>,
}

pub fn list(config: &Config) -> ListOutput {
    ListOutput {
        version: 1,
        cluster: ListCluster {
            provider: config.cluster.provider.to_string(),
            context: config.cluster.context(),
            namespace: config.cluster.namespace.clone(),
            controller: config.cluster.controller.to_string(),
        },
        proxy: config.cluster.proxy.as_ref().map(|p| ListProxy {
            http: p.http.as_deref().map(crate::model::without_userinfo),
            https: p.https.as_deref().map(crate::model::without_userinfo),
            no_proxy: p.no_proxy.clone(),
            credentials: p
                .urls()
                .iter()
                .any(|(_, u)| crate::model::userinfo(u).is_some()),
        }),
        installations: config
            .installations
            .iter()
            .map(|(name, i)| ListEntry {
                name: name.clone(),
                repository: i.repository.clone(),
                mode: i.mode.to_string(),
                instances: i.instances,
                min_runners: i.min_runners,
                max_runners: i.max_runners,
                caches: i.caches.clone(),
                job_container: i.effective_job_container().map(|j| j.to_string()),
                glibc_compat: i.glibc_compat,
                node: i.node.clone(),
                auth_type: i.auth.kind().to_string(),
                runs_on: i.instance_names(name),
                labels: i.labels.clone(),
                env: i.env.clone(),
                runner_image: i.runner_image().to_string(),
                dind_image: (i.mode == Mode::Dind).then(|| i.dind_image().to_string()),
                resources: i.resources.clone(),
                // Validated when the config was read.
                github_ca: i
                    .github_ca
                    .as_deref()
                    .map(|pem| crate::x509::parse_pem_certificates(pem).unwrap_or_default())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

/// A plain table, one row per installation, for people and `grep`.
pub fn table(out: &ListOutput) -> String {
    let header = [
        "NAME",
        "MODE",
        "INSTANCES",
        "RUNNERS",
        "JOB-CONTAINER",
        "CACHES",
        "LABELS",
        "REPOSITORY",
    ];
    let rows: Vec<[String; 8]> = out
        .installations
        .iter()
        .map(|e| {
            let caches = if e.caches.is_empty() {
                "-".to_string()
            } else {
                e.caches
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut job = e.job_container.clone().unwrap_or_else(|| "-".into());
            if e.glibc_compat {
                job.push_str("+glibc-compat");
            }
            [
                e.name.clone(),
                e.mode.clone(),
                e.instances.to_string(),
                format!("{}-{}", e.min_runners, e.max_runners),
                job,
                caches,
                if e.labels.is_empty() {
                    "-".to_string()
                } else {
                    e.labels.join(",")
                },
                // A private CA is part of how the URL is reached.
                if e.github_ca.is_empty() {
                    e.repository.clone()
                } else {
                    format!("{} (private CA)", e.repository)
                },
            ]
        })
        .collect();
    let mut table = vec![header.map(String::from)];
    table.extend(rows);
    crate::output::table(&table)
}
