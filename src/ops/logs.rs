//! `deskrun logs`: the logs that matter for an installation, found by the
//! labels ARC and the container hooks put on their pods, read with
//! `kubectl logs`.
//!
//! `-f` on runner, job or dind pods keeps watching: ARC starts one runner pod
//! per job (and the hooks one job pod per job), so the pods of interest are
//! mostly the ones that do not exist yet. It follows the pods there are, then
//! reads the namespace's pods every [`POLL_INTERVAL`] and follows each new
//! one from its first line, noting when a followed pod ends, until Ctrl-C or
//! a closed stdout.

use crate::exec::{Sink, ToolError};
use crate::input_bail;
use crate::model::{Config, Installation, Mode};
use crate::observed::Observed;
use crate::ops::session::{Session, parallel};
use crate::tools::{HELM, KIND, KUBECTL, Kube, LogOptions};
use crate::workload::{
    CONTAINER_CONTROLLER, CONTAINER_DIND, CONTAINER_JOB, CONTAINER_LISTENER, CONTAINER_RUNNER,
    ObjectKind, Workload,
};
use anyhow::{Result, bail};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// How often `logs -f` on runner, job or dind pods looks for new pods: one
/// `kubectl get pods` each time. Runner pods live as long as their job
/// (seconds to hours), so a pod is found within 2 s of its start, and its
/// log is then read from the first line.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Which pods to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Listener,
    Runner,
    Job,
    Controller,
    Dind,
}

impl Source {
    fn kind(self) -> ObjectKind {
        match self {
            Source::Listener => ObjectKind::Listener,
            Source::Runner | Source::Dind => ObjectKind::Runner,
            Source::Job => ObjectKind::Job,
            Source::Controller => ObjectKind::Controller,
        }
    }

    /// Pods that come and go with the jobs: following them means watching
    /// for new ones.
    fn ephemeral(self) -> bool {
        matches!(self, Source::Runner | Source::Job | Source::Dind)
    }

    fn describe(self) -> &'static str {
        match self {
            Source::Listener => "listener pod",
            Source::Runner => "runner pods",
            Source::Job => "job pods",
            Source::Controller => "controller pod",
            Source::Dind => "runner pods (for their dind sidecar)",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogsRequest {
    /// The installation (`None` only with [`Source::Controller`]).
    pub name: Option<String>,
    pub source: Source,
    /// 1-based instance of a multi-instance installation (`None`: all).
    pub instance: Option<u32>,
    /// `kubectl logs --since`, e.g. `10m`.
    pub since: Option<String>,
    pub tail: Option<u32>,
    pub follow: bool,
    /// With `follow` on runner, job or dind pods: how often to look for new
    /// pods (`None`: [`POLL_INTERVAL`]).
    pub poll: Option<Duration>,
}

/// One `kubectl logs` to run: a pod and its container (`None`: all of its
/// containers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub pod: String,
    pub container: Option<String>,
}

/// A pod `streams` does not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub pod: String,
    /// Its container has not started: the waiting reason (or the pod's
    /// phase). `None`: it has no such container at all.
    pub waiting: Option<(String, String)>,
}

impl Skipped {
    /// The note for people; `watching`: the pod is followed once it starts.
    pub fn note(&self, watching: bool) -> String {
        match &self.waiting {
            None => format!("{}: has no {CONTAINER_DIND} container", self.pod),
            Some((container, why)) => format!(
                "{}: {container} has not started yet ({why}); {}",
                self.pod,
                if watching {
                    "following it once it starts"
                } else {
                    "no log to show"
                }
            ),
        }
    }
}

/// A Go duration as `kubectl logs --since` takes it: `30s`, `10m`, `1h30m`.
pub fn check_since(since: &str) -> Result<()> {
    let mut rest = since;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (num, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        if num.is_empty()
            || num.parse::<f64>().is_err()
            || !["ns", "us", "µs", "ms", "s", "m", "h"].contains(&unit)
        {
            input_bail!(
                "--since {since:?} is not a duration: use a number and a unit (s, m, h), \
                 e.g. 30s, 10m, 2h or 1h30m"
            );
        }
        rest = &rest[digits + unit_len..];
        parts += 1;
    }
    if parts == 0 {
        input_bail!("--since needs a duration, e.g. 10m");
    }
    Ok(())
}

/// The scale sets the request reads, checked against the config (no
/// cluster needed): the installation's instances, or the one `--instance`
/// picks. Empty for the controller.
pub fn instances(config: &Config, req: &LogsRequest) -> Result<Vec<String>> {
    if let Some(since) = &req.since {
        check_since(since)?;
    }
    if req.source == Source::Controller {
        if req.instance.is_some() {
            input_bail!("--instance picks a scale set; the controller serves them all");
        }
        return Ok(vec![]);
    }
    let Some(name) = req.name.as_deref() else {
        input_bail!("name the installation whose logs to show, e.g. `deskrun logs docker-runner`");
    };
    let Some(inst) = config.installations.get(name) else {
        input_bail!("no installation named {name:?}; `deskrun list` shows the configured ones");
    };
    match (req.source, inst.mode) {
        (Source::Dind, Mode::Kubernetes | Mode::CachedPrivilegedKubernetes) => input_bail!(
            "{name} runs in mode {}, which has no dind sidecar; its jobs run in job pods: \
             `deskrun logs {name} --job` (or --runner for the runner itself)",
            inst.mode
        ),
        (Source::Job, Mode::Dind) => input_bail!(
            "{name} runs in mode dind: its jobs run inside the runner pod, with no job pod of \
             their own; use `deskrun logs {name} --runner` (or --dind for the Docker daemon)"
        ),
        _ => {}
    }
    let all = inst.instance_names(name);
    match req.instance {
        None => Ok(all),
        Some(n) if n >= 1 && (n as usize) <= all.len() => Ok(vec![all[n as usize - 1].clone()]),
        Some(n) => input_bail!(
            "--instance {n} is out of range: {name} has {} instance(s), 1 to {}",
            all.len(),
            all.len()
        ),
    }
}

fn container_names(pod: &Json, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Json::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Json::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `container` of `pod` has started (a waiting container has no
/// log yet, and `kubectl logs` would fail on it).
fn started(pod: &Json, container: Option<&str>) -> Result<(), String> {
    let statuses: Vec<&Json> = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Json::as_array))
        .flatten()
        .filter(|c| container.is_none_or(|n| c.get("name").and_then(Json::as_str) == Some(n)))
        .collect();
    let has_log = |c: &&Json| {
        c.pointer("/state/running").is_some()
            || c.pointer("/state/terminated").is_some()
            || c.pointer("/lastState/terminated").is_some()
    };
    if statuses.iter().any(has_log) {
        return Ok(());
    }
    let why = statuses
        .iter()
        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Json::as_str))
        .or_else(|| pod.pointer("/status/phase").and_then(Json::as_str))
        .unwrap_or("Pending");
    Err(why.to_string())
}

/// What to read for `source` in `instances`, and the pods that have no log
/// (yet).
pub fn streams(w: &Workload, source: Source, instances: &[String]) -> (Vec<Stream>, Vec<Skipped>) {
    let kind = source.kind();
    let mut pods: Vec<&Json> = w
        .classify()
        .into_iter()
        .filter(|(_, k, i)| {
            *k == kind
                && (kind == ObjectKind::Controller
                    || i.as_ref().is_some_and(|i| instances.contains(i)))
        })
        .map(|(p, _, _)| p)
        .collect();
    pods.sort_by_key(|p| p.pointer("/metadata/name").and_then(Json::as_str));
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for pod in pods {
        let name = pod
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let containers = container_names(pod, "containers");
        let container = match source {
            Source::Listener => Some(CONTAINER_LISTENER),
            Source::Runner => Some(CONTAINER_RUNNER),
            Source::Controller => Some(CONTAINER_CONTROLLER),
            Source::Dind => {
                let has = container_names(pod, "initContainers")
                    .iter()
                    .chain(&containers)
                    .any(|c| c == CONTAINER_DIND);
                if !has {
                    notes.push(Skipped {
                        pod: name,
                        waiting: None,
                    });
                    continue;
                }
                Some(CONTAINER_DIND)
            }
            // The hooks name the job's container `job`; a pod without one
            // (a container action's step pod) is read whole.
            Source::Job => containers
                .iter()
                .any(|c| c == CONTAINER_JOB)
                .then_some(CONTAINER_JOB),
        };
        match started(pod, container) {
            Ok(()) => out.push(Stream {
                pod: name,
                container: container.map(String::from),
            }),
            Err(why) => notes.push(Skipped {
                pod: name,
                waiting: Some((container.unwrap_or("the pod").to_string(), why)),
            }),
        }
    }
    (out, notes)
}

/// Why there is no pod to read, in the user's terms.
pub fn explain_none(
    source: Source,
    name: Option<&str>,
    inst: Option<&Installation>,
    instances: &[String],
    deployed: &[String],
    controller_deployed: bool,
) -> String {
    if source == Source::Controller {
        return if controller_deployed {
            "the ARC controller is installed but has no pod running; `deskrun status` shows why"
                .into()
        } else {
            "the ARC controller is not installed: run `deskrun up`".into()
        };
    }
    let name = name.unwrap_or("?");
    let missing: Vec<&String> = instances.iter().filter(|i| !deployed.contains(i)).collect();
    if !missing.is_empty() {
        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return format!(
            "{} not deployed: run `deskrun up {name}`",
            if list.len() == 1 {
                format!("{} is", list[0])
            } else {
                format!("{} are", list.join(", "))
            }
        );
    }
    let scope = instances.join(", ");
    match source {
        Source::Listener => format!(
            "{scope} has no {}: the controller has not started one (it could not register \
             the scale set with GitHub, or is starting it); `deskrun status {name}` says why",
            source.describe()
        ),
        Source::Runner | Source::Dind => match inst {
            Some(i) if i.min_runners == 0 => format!(
                "{scope} has no runner pod: it is scaled to zero (min_runners 0) and no job \
                 is running; a runner starts when a job for it is queued"
            ),
            _ => format!(
                "{scope} has no runner pod right now (the controller is starting one); \
                 `deskrun status {name}` says why if it does not come"
            ),
        },
        Source::Job => format!(
            "{scope} has no job pod: no job is running on it now (`deskrun jobs {name}` shows \
             its runners; job pods live only while their job runs)"
        ),
        Source::Controller => unreachable!("handled above"),
    }
}

/// Print (or follow) the logs `req` asks for: each line to `out` (with
/// `[pod] ` in front when several pods are read), notes for people (pods
/// without a log yet) to `note`. Reads the namespace's pods in one call,
/// then runs one `kubectl logs` per pod, at the same time. With `follow`,
/// a listener or the controller is followed until its pod ends; runner, job
/// and dind pods are watched (see [`watch`]) until Ctrl-C or a closed stdout
/// (which end the process).
pub fn logs(s: &Session, req: &LogsRequest, out: Sink, note: &dyn Fn(&str)) -> Result<()> {
    logs_until(s, req, out, note, &|| false)
}

/// [`logs`], where watching for new pods also stops once `done()` is true
/// (asked after each look for new pods and each followed pod's end); the
/// pods still followed are then waited for.
pub fn logs_until(
    s: &Session,
    req: &LogsRequest,
    out: Sink,
    note: &dyn Fn(&str),
    done: &dyn Fn() -> bool,
) -> Result<()> {
    let config: Config = s.store.load()?;
    let instances = instances(&config, req)?;
    s.check_tools(&[KUBECTL])?;
    let kube = Kube::new(s.runner, &config.cluster, s.timeouts);
    let pods = match kube.get_all("read the pods", "pods") {
        Ok(pods) => pods,
        Err(e) => {
            // Say "no cluster" rather than kubectl's missing-context error.
            // (kind only: deskrun never runs kind for an existing cluster).
            if e.downcast_ref::<ToolError>().is_some()
                && config.cluster.is_kind()
                && s.check_tools(&[KIND]).is_ok()
                && !kube.cluster_exists().unwrap_or(true)
            {
                bail!(
                    "there is no kind cluster {}: run `deskrun up`",
                    config.cluster.name
                );
            }
            return Err(e);
        }
    };
    let w = Workload::from_items(pods);
    let (streams, skipped) = streams(&w, req.source, &instances);
    let watching = req.follow && req.source.ephemeral();
    for k in &skipped {
        note(&k.note(watching));
    }
    // Pods about to start are enough for watching; nothing at all needs a why.
    if streams.is_empty() && (!watching || skipped.is_empty()) {
        // Only now is it worth asking helm what is deployed.
        s.check_tools(&[HELM])?;
        let observed = Observed {
            cluster_exists: true,
            releases: kube.managed_releases()?,
            ..Default::default()
        };
        let deployed: Vec<String> = observed
            .scale_set_releases()
            .map(|r| r.name.clone())
            .collect();
        let name = req.name.as_deref();
        let why = explain_none(
            req.source,
            name,
            name.and_then(|n| config.installations.get(n)),
            &instances,
            &deployed,
            observed.controller().is_some(),
        );
        // A deployed scale set without a pod yet is what watching is for.
        if !watching || instances.iter().any(|i| !deployed.contains(i)) {
            bail!("{why}");
        }
        note(&format!("{why}; waiting for one (Ctrl-C to stop)"));
    }
    if watching {
        let ctx = Watch {
            runner: s.runner,
            kube: &kube,
            req,
            instances: &instances,
            out,
        };
        return ctx.watch(streams, skipped, note, done);
    }
    let prefixed = streams.len() > 1;
    let opts = |stream: &Stream| LogOptions {
        container: stream.container.clone(),
        since: req.since.clone(),
        tail: req.tail,
        previous: false,
        follow: req.follow,
    };
    let results: Vec<Result<(), ToolError>> = if req.follow {
        // One kubectl per pod, all followed at once, each line as it comes.
        parallel(&streams, streams.len(), |st| {
            let inv = kube.logs("follow a pod's log", &st.pod, &opts(st));
            s.runner
                .stream(&inv, line_sink(&out, &st.pod, prefixed))
                .map(|_| ())
        })
    } else {
        let texts = parallel(&streams, 8, |st| {
            let inv = kube.logs("read a pod's log", &st.pod, &opts(st));
            s.runner.run(&inv).map(|o| o.stdout)
        });
        let silent = texts
            .iter()
            .all(|t| t.as_ref().is_ok_and(|t| t.trim().is_empty()));
        if silent && req.source == Source::Job {
            // The hooks run each step with `exec` in the job container:
            // its own log stays empty, the steps' output goes to GitHub.
            note(
                "the job pods printed nothing: the container hooks run each step through \
                 `kubectl exec`, so the steps' output is in the job's log on GitHub (the \
                 runner's side is in `--runner`)",
            );
        }
        streams
            .iter()
            .zip(texts)
            .map(|(st, text)| {
                let sink = line_sink(&out, &st.pod, prefixed);
                for line in s.runner.redact(&text?).lines() {
                    sink(line);
                }
                Ok(())
            })
            .collect()
    };
    let failed: Vec<ToolError> = results.into_iter().filter_map(Result::err).collect();
    if failed.len() == streams.len() {
        let first = failed.into_iter().next().expect("at least one stream");
        return Err(first.into());
    }
    // A pod that went away meanwhile (a runner whose job ended) is a note.
    for e in failed {
        note(&why_failed(&e));
    }
    Ok(())
}

/// `out`, with `[pod] ` in front of each line when `prefixed`.
fn line_sink(out: &Sink, pod: &str, prefixed: bool) -> Sink {
    let out = Arc::clone(out);
    if prefixed {
        let prefix = format!("[{pod}] ");
        Arc::new(move |line: &str| out(&format!("{prefix}{line}")))
    } else {
        out
    }
}

/// kubectl's own words when it gave some.
fn why_failed(e: &ToolError) -> String {
    match e.stderr_tail.trim() {
        "" => e.to_string(),
        why => why.to_string(),
    }
}

/// What watching for new pods needs.
struct Watch<'a> {
    runner: &'a dyn crate::exec::ToolRunner,
    kube: &'a Kube<'a>,
    req: &'a LogsRequest,
    instances: &'a [String],
    out: Sink,
}

impl Watch<'_> {
    /// Follow `first` (read as the request says), then look for new pods
    /// every poll interval: one `kubectl get pods` each time, and one
    /// `kubectl logs --follow` per new pod, from its first line. A pod is
    /// followed once (a finished one stays listed for a while); every line is
    /// prefixed, as more pods may come. A failed look is noted once and
    /// retried; an interrupt ends it.
    fn watch(
        &self,
        first: Vec<Stream>,
        skipped: Vec<Skipped>,
        note: &dyn Fn(&str),
        done: &dyn Fn() -> bool,
    ) -> Result<()> {
        let interval = self.req.poll.unwrap_or(POLL_INTERVAL);
        // Followed pods (running or ended) and the notes given, forgotten
        // once a pod is no longer listed: memory stays bounded however long
        // it runs.
        let mut followed: BTreeSet<String> = first.iter().map(|st| st.pod.clone()).collect();
        let mut running = followed.clone();
        let mut noted: BTreeSet<String> = skipped.iter().map(|k| k.note(true)).collect();
        let mut look_failed = false;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(String, Result<(), ToolError>)>();
            let follow = |st: Stream, from_start: bool| {
                let opts = LogOptions {
                    container: st.container.clone(),
                    since: (!from_start).then(|| self.req.since.clone()).flatten(),
                    tail: (!from_start).then_some(self.req.tail).flatten(),
                    previous: false,
                    follow: true,
                };
                let inv = self.kube.logs("follow a pod's log", &st.pod, &opts);
                let sink = line_sink(&self.out, &st.pod, true);
                let (tx, runner) = (tx.clone(), self.runner);
                scope.spawn(move || {
                    let r = runner.stream(&inv, sink).map(|_| ());
                    let _ = tx.send((st.pod, r));
                });
            };
            let ended = |pod: &str, r: Result<(), ToolError>| match r {
                Ok(()) => note(&format!("{pod} ended")),
                Err(e) => note(&format!("{pod}: {}", why_failed(&e))),
            };
            for st in first {
                follow(st, false);
            }
            let mut next = Instant::now() + interval;
            let result = loop {
                if done() {
                    break Ok(());
                }
                let now = Instant::now();
                if now < next {
                    if let Ok((pod, r)) = rx.recv_timeout(next - now) {
                        running.remove(&pod);
                        ended(&pod, r);
                    }
                    continue;
                }
                let pods = match self.kube.get_all("look for new pods", "pods") {
                    Ok(pods) => pods,
                    Err(e) => {
                        let stop = crate::exec::interrupted()
                            || e.downcast_ref::<ToolError>()
                                .is_some_and(|t| t.kind == crate::exec::ToolErrorKind::Interrupted);
                        if stop {
                            break Err(e);
                        }
                        if !look_failed {
                            let why = match e.downcast_ref::<ToolError>() {
                                Some(t) => why_failed(t),
                                None => format!("{e:#}"),
                            };
                            note(&format!(
                                "cannot look for new pods ({why}); trying again every {}",
                                crate::exec::human_duration(interval)
                            ));
                        }
                        look_failed = true;
                        next = Instant::now() + interval;
                        continue;
                    }
                };
                next = Instant::now() + interval;
                if look_failed {
                    note("looking for new pods works again");
                    look_failed = false;
                }
                let listed: BTreeSet<String> = pods
                    .iter()
                    .filter_map(|p| p.pointer("/metadata/name").and_then(Json::as_str))
                    .map(String::from)
                    .collect();
                followed.retain(|p| listed.contains(p) || running.contains(p));
                noted.retain(|n| n.split(':').next().is_some_and(|p| listed.contains(p)));
                let (streams, skipped) =
                    streams(&Workload::from_items(pods), self.req.source, self.instances);
                for k in skipped {
                    let text = k.note(true);
                    if noted.insert(text.clone()) {
                        note(&text);
                    }
                }
                for st in streams {
                    if followed.insert(st.pod.clone()) {
                        note(&format!("following {}", st.pod));
                        running.insert(st.pod.clone());
                        follow(st, true);
                    }
                }
            };
            drop(tx);
            // Stopped by `done` (or an interrupt): the pods still followed
            // end on their own (or with the interrupt).
            for (pod, r) in rx {
                ended(&pod, r);
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Auth;
    use serde_json::json;

    fn config() -> Config {
        let mut c = Config::default();
        let inst = |mode, instances, min| Installation {
            repository: "https://github.com/owner/repo".into(),
            mode,
            min_runners: min,
            max_runners: 1,
            instances,
            caches: vec![],
            auth: Auth::Pat {
                token: "x".repeat(12),
            },
            ..Default::default()
        };
        c.installations
            .insert("docker-runner".into(), inst(Mode::Dind, 1, 0));
        c.installations
            .insert("ci".into(), inst(Mode::Kubernetes, 3, 1));
        c
    }

    fn req(name: &str, source: Source, instance: Option<u32>) -> LogsRequest {
        LogsRequest {
            name: Some(name.into()),
            source,
            instance,
            ..Default::default()
        }
    }

    #[test]
    fn durations() {
        for ok in ["30s", "10m", "2h", "1h30m", "1.5h", "250ms"] {
            check_since(ok).unwrap();
        }
        for bad in ["", "10", "m", "10 m", "1d", "-5m", "ten minutes"] {
            let e = check_since(bad).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{bad}");
        }
    }

    #[test]
    fn which_instances() {
        let c = config();
        assert_eq!(
            instances(&c, &req("ci", Source::Listener, None)).unwrap(),
            ["ci-1", "ci-2", "ci-3"]
        );
        assert_eq!(
            instances(&c, &req("ci", Source::Runner, Some(2))).unwrap(),
            ["ci-2"]
        );
        let err = |r: LogsRequest| instances(&c, &r).unwrap_err().to_string();
        assert!(err(req("ci", Source::Runner, Some(4))).contains("1 to 3"));
        assert!(err(req("ci", Source::Runner, Some(0))).contains("out of range"));
        assert!(err(req("nope", Source::Listener, None)).contains("deskrun list"));
        assert!(err(req("ci", Source::Dind, None)).contains("no dind sidecar"));
        assert!(err(req("docker-runner", Source::Job, None)).contains("--runner"));
        let controller = LogsRequest {
            source: Source::Controller,
            ..Default::default()
        };
        assert!(instances(&c, &controller).unwrap().is_empty());
    }

    fn pod(name: &str, labels: Json, containers: &[&str], init: &[&str], status: Json) -> Json {
        let cs = |names: &[&str]| names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>();
        json!({
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": cs(containers), "initContainers": cs(init)},
            "status": status
        })
    }

    fn running(names: &[&str]) -> Json {
        json!({"phase": "Running", "containerStatuses": names.iter().map(|n| json!({"name": n, "state": {"running": {}}})).collect::<Vec<_>>()})
    }

    #[test]
    fn streams_by_source() {
        let runner_labels = |i: &str| json!({"app.kubernetes.io/component": "runner", "actions.github.com/scale-set-name": i});
        let w = Workload::from_items(vec![
            pod(
                "ci-1-754b578d-listener",
                json!({"app.kubernetes.io/component": "runner-scale-set-listener", "actions.github.com/scale-set-name": "ci-1"}),
                &["listener"],
                &[],
                running(&["listener"]),
            ),
            pod(
                "ci-1-k2-runner-a",
                runner_labels("ci-1"),
                &["runner"],
                &[],
                running(&["runner"]),
            ),
            pod(
                "ci-2-k2-runner-b",
                runner_labels("ci-2"),
                &["runner"],
                &[],
                json!({"phase": "Pending", "containerStatuses": [{"name": "runner", "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
            ),
            pod(
                "ci-1-k2-runner-a-workflow",
                json!({"runner-pod": "ci-1-k2-runner-a"}),
                &["job", "redis"],
                &["fs-init"],
                running(&["job", "redis"]),
            ),
            pod(
                "ci-1-k2-runner-a-step-1a2b3c4d",
                json!({"runner-pod": "ci-1-k2-runner-a"}),
                &["step"],
                &[],
                running(&["step"]),
            ),
            pod(
                "docker-runner-k2-runner-c",
                runner_labels("docker-runner"),
                &["runner"],
                &["init-dind-externals", "dind"],
                json!({"phase": "Running", "initContainerStatuses": [{"name": "dind", "state": {"running": {}}}], "containerStatuses": [{"name": "runner", "state": {"running": {}}}]}),
            ),
            pod(
                "arc-gha-rs-controller-6d5f8b7c9-x2x7q",
                json!({"app.kubernetes.io/component": "controller-manager"}),
                &["manager"],
                &[],
                running(&["manager"]),
            ),
        ]);
        let all = ["ci-1".to_string(), "ci-2".into(), "ci-3".into()];
        let (s, notes) = streams(&w, Source::Listener, &all);
        assert_eq!(
            s,
            [Stream {
                pod: "ci-1-754b578d-listener".into(),
                container: Some("listener".into())
            }]
        );
        assert!(notes.is_empty());
        let (s, notes) = streams(&w, Source::Runner, &all);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].pod, "ci-1-k2-runner-a");
        assert_eq!(
            notes.iter().map(|n| n.note(false)).collect::<Vec<_>>(),
            ["ci-2-k2-runner-b: runner has not started yet (ContainerCreating); no log to show"]
        );
        assert_eq!(
            notes[0].note(true),
            "ci-2-k2-runner-b: runner has not started yet (ContainerCreating); following it once it starts"
        );
        let (s, _) = streams(&w, Source::Job, &all);
        assert_eq!(
            s,
            [
                Stream {
                    pod: "ci-1-k2-runner-a-step-1a2b3c4d".into(),
                    container: None
                },
                Stream {
                    pod: "ci-1-k2-runner-a-workflow".into(),
                    container: Some("job".into())
                },
            ]
        );
        let (s, _) = streams(&w, Source::Dind, &["docker-runner".to_string()]);
        assert_eq!(
            s,
            [Stream {
                pod: "docker-runner-k2-runner-c".into(),
                container: Some("dind".into())
            }]
        );
        let (s, _) = streams(&w, Source::Controller, &[]);
        assert_eq!(s[0].container.as_deref(), Some("manager"));
        // Another instance's pods are not read.
        let (s, _) = streams(&w, Source::Runner, &["ci-3".to_string()]);
        assert!(s.is_empty());
    }

    #[test]
    fn why_there_is_no_pod() {
        let c = config();
        let ci = c.installations.get("ci");
        let dr = c.installations.get("docker-runner");
        let one = |i: &str| vec![i.to_string()];
        let m = explain_none(
            Source::Runner,
            Some("docker-runner"),
            dr,
            &one("docker-runner"),
            &one("docker-runner"),
            true,
        );
        assert!(m.contains("scaled to zero"), "{m}");
        let m = explain_none(
            Source::Runner,
            Some("ci"),
            ci,
            &one("ci-2"),
            &one("ci-2"),
            true,
        );
        assert!(m.contains("starting one"), "{m}");
        let m = explain_none(Source::Listener, Some("ci"), ci, &one("ci-2"), &[], true);
        assert_eq!(m, "ci-2 is not deployed: run `deskrun up ci`");
        let m = explain_none(
            Source::Job,
            Some("ci"),
            ci,
            &one("ci-1"),
            &one("ci-1"),
            true,
        );
        assert!(m.contains("no job is running"), "{m}");
        let m = explain_none(Source::Controller, None, None, &[], &[], false);
        assert!(m.contains("not installed"), "{m}");
    }
}
