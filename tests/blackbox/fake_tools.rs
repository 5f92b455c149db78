//! The fake tools as processes (`deskrun::testing::process`): what the
//! black-box tests rely on beyond the in-process fake's answers. State
//! shared across processes, stdin, refusals with the real tools' exit
//! codes, latency outside the lock, and hangs that only a signal ends.

use crate::common::Sandbox;
use deskrun::testing::Fault;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KIND_CONFIG: &str = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n";

fn run(sb: &Sandbox, name: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = sb
        .tool(name, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn create_cluster(sb: &Sandbox) {
    let o = run(
        sb,
        "kind",
        &["create", "cluster", "--name", "deskrun", "--config", "-"],
        Some(KIND_CONFIG),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

pub fn state_is_shared_between_processes_and_calls_are_recorded() {
    let sb = Sandbox::new();
    create_cluster(&sb);
    let o = run(&sb, "kind", &["get", "clusters"], None);
    assert_eq!(text(&o.stdout), "deskrun\n");
    assert!(sb.world().cluster("deskrun").is_some());
    let calls = sb.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].stdin.as_deref(), Some(KIND_CONFIG));
    assert_eq!(calls[1].stdin, None);
    assert_eq!(calls[1].line(), "kind get clusters");
    assert!(calls[0].seq < calls[1].seq);
    assert!(calls[0].mutates() && !calls[1].mutates());
    // The fake's own variable is not part of what a child "saw".
    assert!(!calls[0].env.contains_key("DESKRUN_FAKE_STATE"));
}

pub fn refusals_keep_the_real_tools_exit_codes() {
    let sb = Sandbox::new();
    create_cluster(&sb);
    // A second cluster of the same name: kind refuses.
    let o = run(
        &sb,
        "kind",
        &["create", "cluster", "--name", "deskrun", "--config", "-"],
        Some(KIND_CONFIG),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("already exist"),
        "{}",
        text(&o.stderr)
    );
    // What the fake does not know is never a success.
    let o = run(
        &sb,
        "kubectl",
        &["--context", "kind-deskrun", "frobnicate"],
        None,
    );
    assert_eq!(o.status.code(), Some(98), "{}", text(&o.stderr));
    assert!(text(&o.stderr).ends_with("is not implemented by the fake\n"));
    // Without the state directory the fake refuses to guess.
    let o = sb
        .tool("kind", &["get", "clusters"])
        .env_remove("DESKRUN_FAKE_STATE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(97));
}

pub fn injected_failures_and_garbage_act_once_per_match() {
    let sb = Sandbox::new();
    sb.set_faults(vec![
        Fault::on("kind", "get clusters").nth(2).fail(3, "boom"),
        Fault::on("docker", "info").garbage("not json"),
    ]);
    assert!(
        run(&sb, "kind", &["get", "clusters"], None)
            .status
            .success()
    );
    let o = run(&sb, "kind", &["get", "clusters"], None);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stderr), "boom\n");
    assert!(
        run(&sb, "kind", &["get", "clusters"], None)
            .status
            .success()
    );
    let o = run(&sb, "docker", &["info", "--format", "{{json .}}"], None);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "not json");
}

/// Latency is slept outside the state lock: a quick call ends while a slow
/// one still sleeps (had the slow one kept the lock, the quick one would
/// wait the whole minute, and find the slow one ended).
pub fn a_slow_call_does_not_hold_up_the_others() {
    let sb = Sandbox::new();
    sb.latency("kind version", 60_000);
    let mut slow = sb
        .tool("kind", &["version"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = KillOnDrop(slow.id());
    let until = Instant::now() + Duration::from_secs(20);
    while sb.calls().is_empty() {
        assert!(Instant::now() < until, "the slow call never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let quick = run(&sb, "kind", &["get", "clusters"], None);
    assert!(quick.status.success(), "{}", text(&quick.stderr));
    assert!(slow.try_wait().unwrap().is_none(), "the slow call ended");
    assert_eq!(sb.calls().len(), 2);
}

/// A `helm upgrade --wait` that is interrupted leaves its release pending
/// and never answers: only a signal ends it.
pub fn an_interrupted_helm_leaves_its_release_pending_and_hangs() {
    let sb = Sandbox::new();
    create_cluster(&sb);
    sb.set_faults(vec![
        Fault::on("helm", "upgrade --install arc ").leave_release("pending-install"),
    ]);
    let values = "{}\n";
    let mut helm = sb.tool(
        "helm",
        &[
            "upgrade",
            "--install",
            "arc",
            "oci://ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set-controller",
            "--version",
            "0.14.2",
            "--kube-context",
            "kind-deskrun",
            "--namespace",
            "arc-systems",
            "--create-namespace",
            "--values",
            "-",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let _kill = KillOnDrop(helm.id());
    helm.stdin
        .take()
        .unwrap()
        .write_all(values.as_bytes())
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while sb.release_status("arc").as_deref() != Some("pending-install") {
        if let Some(status) = helm.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(helm.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("helm ended ({status}) instead of hanging: {err}");
        }
        assert!(Instant::now() < until, "release never went pending");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(helm.try_wait().unwrap().is_none(), "helm answered");
    helm.kill().unwrap();
    helm.wait().unwrap();
}

/// Kills the hanging fake even when the test fails.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}
