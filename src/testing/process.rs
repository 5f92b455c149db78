//! The fake tools as real child processes, for the black-box tests: what
//! only a process shows (argv, stdin and environment of real children,
//! signals, process groups, locks, closed pipes).
//!
//! A test binary whose `main` starts with [`run_as_tool`] becomes `kind`,
//! `helm`, `kubectl` or `docker` when it is run under one of those names (a
//! symlink on `PATH`). Each call loads the [`Machine`] from the state
//! directory named by `DESKRUN_FAKE_STATE`, answers through the same
//! interpreter as the in-process [`FakeCluster`](super::FakeCluster) and
//! writes the machine back, all under an exclusive lock; so there is one
//! fake, whose behaviour the in-process suite pins down. Latency and hangs
//! happen outside the lock, so concurrent calls overlap as real ones do.
//!
//! In a process, an injected `Timeout` and `LeaveRelease` hang until the
//! child is killed: a real tool that runs out of time never answers; deskrun
//! has to stop it.

use super::{
    Cmd, Failure, Fault, FaultAction, World, answer, latency_for, leave_release, take_fault,
};
use crate::exec::ToolErrorKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The names the fake answers to.
pub const TOOLS: [&str; 4] = ["kind", "helm", "kubectl", "docker"];

/// The environment variable that names the state directory.
pub const STATE_ENV: &str = "DESKRUN_FAKE_STATE";

/// Everything the fake processes share, kept in `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub world: World,
    pub faults: Vec<Fault>,
    /// How long calls take, by the longest matching prefix of
    /// `tool arg arg ...` (`"helm upgrade"`, `"kind"`).
    pub latency: BTreeMap<String, Duration>,
    /// Calls so far.
    pub seq: u64,
}

/// One call, as `calls.jsonl` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    pub tool: String,
    pub argv: Vec<String>,
    /// Standard input, when the call reads it (an argument `-`).
    pub stdin: Option<String>,
    /// The whole environment, but for the fake's own `DESKRUN_FAKE_STATE`.
    pub env: BTreeMap<String, String>,
    /// Seconds since the epoch when the call started.
    pub start: f64,
}

impl CallRecord {
    /// `tool arg arg ...`, unquoted.
    pub fn line(&self) -> String {
        std::iter::once(self.tool.as_str())
            .chain(self.argv.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn verb(&self) -> &str {
        super::verb_of(&self.tool, &self.argv)
    }

    pub fn mutates(&self) -> bool {
        super::mutates(&self.tool, &self.argv)
    }
}

/// A state directory: `state.json` (the [`Machine`]), `lock`, and
/// `calls.jsonl` (one [`CallRecord`] per line, appended under the lock).
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> StateDir {
        StateDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> File {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join("lock"))
            .expect("fake tool: cannot open the state lock");
        file.lock().expect("fake tool: cannot lock the state");
        file
    }

    fn load(&self) -> Machine {
        match std::fs::read(self.path.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).expect("fake tool: state.json is corrupt"),
            Err(_) => Machine::default(),
        }
    }

    fn save(&self, machine: &Machine) {
        let tmp = self.path.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(machine).expect("serialisable"))
            .expect("fake tool: cannot write the state");
        std::fs::rename(&tmp, self.path.join("state.json"))
            .expect("fake tool: cannot replace the state");
    }

    /// Read and change the machine under the lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> R {
        let _lock = self.lock();
        let mut machine = self.load();
        let r = f(&mut machine);
        self.save(&machine);
        r
    }

    /// A copy of the machine.
    pub fn read(&self) -> Machine {
        let _lock = self.lock();
        self.load()
    }

    /// The calls recorded so far, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        let _lock = self.lock();
        std::fs::read_to_string(self.path.join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("fake tool: calls.jsonl is corrupt"))
            .collect()
    }

    /// Forget the recorded calls.
    pub fn clear_calls(&self) {
        let _lock = self.lock();
        let _ = std::fs::remove_file(self.path.join("calls.jsonl"));
    }

    fn record(&self, call: &CallRecord) {
        let mut line = serde_json::to_string(call).expect("serialisable");
        line.push('\n');
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join("calls.jsonl"))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("fake tool: cannot record the call");
    }
}

/// When this process was started as one of the [`TOOLS`], act as that tool
/// and return its exit code; otherwise `None`.
pub fn run_as_tool() -> Option<i32> {
    let argv0 = std::env::args_os().next()?;
    let name = Path::new(&argv0).file_name()?.to_str()?.to_string();
    let tool = TOOLS.into_iter().find(|t| *t == name)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    Some(main(tool, &args))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Never answer; the caller has to kill us (SIGTERM/SIGKILL end the process).
fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Print the reply as the tool would and return its exit code.
fn emit(reply: Result<String, Failure>) -> i32 {
    // A closed pipe is the reader's business, as for the real tools.
    let (stdout, stderr, code) = match reply {
        Ok(out) => (out, String::new(), 0),
        Err(f) => {
            let code = match f.kind {
                ToolErrorKind::Exit(c) => c,
                ToolErrorKind::NotFound => 127,
                ToolErrorKind::Signal(s) => 128 + s,
                ToolErrorKind::Timeout(_) => hang(),
                ToolErrorKind::Interrupted | ToolErrorKind::Io(_) => 1,
            };
            let mut stderr = f.stderr;
            if !stderr.is_empty() && !stderr.ends_with('\n') {
                stderr.push('\n');
            }
            (f.stdout, stderr, code)
        }
    };
    let _ = std::io::stdout().write_all(stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    code
}

/// The release a `helm install/upgrade` names: (cluster, namespace, name,
/// revision).
fn release_of(world: &World, cmd: &Cmd) -> Option<(String, String, String, u32)> {
    let cluster = world.cluster_for_context(cmd.flag(&["--kube-context"])?)?;
    let (ns, name) = (cmd.namespace(), cmd.word(1)?);
    let rev = cluster.release(ns, name)?;
    Some((
        cluster.name.clone(),
        ns.to_string(),
        name.to_string(),
        rev.revision,
    ))
}

/// One call of `tool args`.
pub fn main(tool: &str, args: &[String]) -> i32 {
    let Some(dir) = std::env::var_os(STATE_ENV) else {
        eprintln!("fake_tool: {STATE_ENV} is not set");
        return 97;
    };
    let state = StateDir::new(dir);
    let stdin = args.iter().any(|a| a == "-").then(|| {
        let mut text = String::new();
        let _ = std::io::stdin().read_to_string(&mut text);
        text
    });
    let line = std::iter::once(tool)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let call = CallRecord {
        seq: 0,
        tool: tool.to_string(),
        argv: args.to_vec(),
        stdin: stdin.clone(),
        env: std::env::vars().filter(|(k, _)| k != STATE_ENV).collect(),
        start: now(),
    };
    let (fault, latency) = state.update(|m| {
        m.seq += 1;
        state.record(&CallRecord { seq: m.seq, ..call });
        (
            take_fault(&mut m.faults, tool, &args.join(" ")),
            latency_for(&m.latency, &line),
        )
    });
    match fault {
        Some(FaultAction::Fail(f)) => return emit(Err(f)),
        Some(FaultAction::Garbage(text)) => return emit(Ok(text)),
        Some(FaultAction::Timeout) => hang(),
        _ => {}
    }
    let cmd = Cmd::parse(tool, args, stdin, Duration::from_secs(3600));
    let waits_for_release = tool == "helm" && matches!(cmd.word(0), Some("install" | "upgrade"));
    if let Some(d) = latency.filter(|_| !waits_for_release) {
        std::thread::sleep(d);
    }
    let (reply, pending) = state.update(|m| {
        let reply = answer(&mut m.world, &cmd);
        let mut pending = None;
        match &fault {
            Some(FaultAction::LeaveRelease { status }) => leave_release(&mut m.world, &cmd, status),
            _ if waits_for_release && reply.is_ok() && latency.is_some() => {
                // helm --wait: the release stays pending while it waits.
                pending = release_of(&m.world, &cmd);
                if let Some((_, _, _, rev)) = &pending {
                    let status = if *rev == 1 {
                        "pending-install"
                    } else {
                        "pending-upgrade"
                    };
                    leave_release(&mut m.world, &cmd, status);
                }
            }
            _ => {}
        }
        (reply, pending)
    });
    if let Some(FaultAction::LeaveRelease { .. }) = fault {
        hang();
    }
    if let (Some(d), Some((cluster, ns, name, rev))) = (latency, pending) {
        std::thread::sleep(d);
        state.update(|m| {
            if let Some(r) = m
                .world
                .clusters
                .get_mut(&cluster)
                .and_then(|c| c.release_mut(&ns, &name))
                .filter(|r| r.revision == rev && r.status.starts_with("pending-"))
            {
                r.status = "deployed".into();
            }
        });
    }
    emit(match fault {
        Some(FaultAction::FailAfter(f)) => reply.and(Err(f)),
        _ => reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The world survives the trip through `state.json` whole, including
    /// the maps whose keys are not strings.
    #[test]
    fn a_machine_round_trips_through_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut machine = Machine::default();
        let cluster = machine
            .world
            .create_cluster("deskrun", &["/var/lib/deskrun"]);
        cluster.preinstall_controller("arc-systems", "arc", "0.14.2");
        cluster.set_log("arc-listener", "listener", false, "line\n");
        cluster.releases.insert(
            ("arc-runners".into(), "a".into()),
            vec![super::super::Revision {
                revision: 1,
                status: "deployed".into(),
                chart: "gha-runner-scale-set".into(),
                chart_version: "0.14.2".into(),
                values: serde_json::json!({"minRunners": 0}),
                labels: BTreeMap::new(),
                objects: vec![super::super::ObjKey::new("ConfigMap", "arc-runners", "a")],
            }],
        );
        machine
            .faults
            .push(Fault::on("helm", "upgrade").every().fail(1, "boom"));
        machine
            .latency
            .insert("helm upgrade".into(), Duration::from_millis(5));
        let world = machine.world.clone();
        state.update(|m| *m = machine);
        let read = state.read();
        assert_eq!(read.world, world);
        let cluster = &read.world.clusters["deskrun"];
        assert_eq!(cluster.release("arc-runners", "a").unwrap().revision, 1);
        assert!(!cluster.objects.is_empty() && !cluster.logs.is_empty());
        assert_eq!(read.faults.len(), 1);
        assert_eq!(read.latency["helm upgrade"], Duration::from_millis(5));
    }
}
