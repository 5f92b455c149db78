//! `deskrun jobs`: what every runner is doing, from one `kubectl get` of the
//! EphemeralRunners and the pods of deskrun's namespace.

use crate::input_bail;
use crate::model::Config;
use crate::ops::session::Session;
use crate::tools::{KUBECTL, Kube};
use crate::workload::{self, EPHEMERAL_RUNNERS, RunnerRow, Workload, human_age};
use anyhow::{Result, bail};
use serde::Serialize;

/// The stable shape of `deskrun jobs --output json` (see README).
#[derive(Debug, Clone, Serialize)]
pub struct JobsReport {
    /// One entry per EphemeralRunner, by instance, oldest first.
    pub runners: Vec<RunnerRow>,
}

pub fn jobs(s: &Session, only: Option<&str>) -> Result<JobsReport> {
    let config: Config = s.store.load()?;
    if let Some(name) = only
        && !config.installations.contains_key(name)
    {
        input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
    }
    s.check_tools(&[KUBECTL])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let types = format!("{EPHEMERAL_RUNNERS},pods");
    let items = match kube.get_all("read the runners and their pods", &types) {
        Ok(items) => items,
        Err(e) => {
            let tool = e.downcast_ref::<crate::exec::ToolError>();
            if tool.is_some_and(|t| t.stderr_tail.contains("doesn't have a resource type")) {
                bail!(
                    "the ARC controller is not installed in cluster {} (no EphemeralRunner \
                     type): run `deskrun up`",
                    config.cluster.name
                );
            }
            // Say "no cluster" rather than kubectl's missing-context error.
            if tool.is_some() && config.cluster.is_kind() && !kube.cluster_exists().unwrap_or(true)
            {
                bail!(
                    "there is no kind cluster {}: run `deskrun up`",
                    config.cluster.name
                );
            }
            return Err(e);
        }
    };
    let w = Workload::from_items(items);
    let instances = workload::instances(&config);
    Ok(JobsReport {
        runners: workload::jobs(&w, &instances, only, workload::now()),
    })
}

/// The report as an aligned table (display widths: job names are free text).
pub fn table(r: &JobsReport) -> String {
    crate::output::table(&rows(r))
}

/// The report as table rows, header first.
pub fn rows(r: &JobsReport) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "INSTANCE",
            "RUNNER",
            "PHASE",
            "AGE",
            "JOB",
            "WORKFLOW",
            "RUN",
            "REPOSITORY",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let dash = || "-".to_string();
    for row in &r.runners {
        let job = row.job.as_ref();
        let what = if row.idle {
            "idle".to_string()
        } else if let Some(j) = job {
            j.name.clone().unwrap_or_else(dash)
        } else if row.phase == "Pending" {
            "(starting)".to_string()
        } else {
            dash()
        };
        rows.push(vec![
            row.instance.clone(),
            row.name.clone(),
            row.phase.clone(),
            row.age_seconds.map_or_else(dash, |a| human_age(a as i64)),
            what,
            job.and_then(|j| j.workflow.clone()).unwrap_or_else(dash),
            job.and_then(|j| j.run_id)
                .map_or_else(dash, |id| id.to_string()),
            job.and_then(|j| j.repository.clone()).unwrap_or_else(dash),
        ]);
    }
    rows
}
