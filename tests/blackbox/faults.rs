//! Ctrl-C, on fake executables (only a process shows it): a real SIGINT
//! to the deskrun process while a tool hangs stops the tool (its whole
//! process group), exits 130, leaves the config and TMPDIR as they were,
//! and the next `up` converges (repairing a release helm left pending); and
//! a followed log whose reader went away (`| head`) stops its tools too.
//!
//! Every call made to fail, time out or print garbage is tested in-process
//! (`tests/testsuite/faults.rs`). No sleep synchronises anything here: the
//! test waits for the state the fake writes before it hangs.

use crate::common::{Call, Sandbox, TOKEN};
use deskrun::testing::Fault;
use serde_json::json;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn replace(sb: &Sandbox, name: &str, args: &[&str]) {
    sb.cmd()
        .args(["add", name, "--replace", "--repository"])
        .arg("https://github.com/owner/repo")
        .args(args)
        .arg("--auth-value-stdin")
        .write_stdin(format!("{TOKEN}\n"))
        .assert()
        .success();
}

fn tmpdir(w: &Sandbox) -> PathBuf {
    w.path().join("tmp")
}

/// Processes of the fake still alive for this sandbox's state.
fn fakes_alive(w: &Sandbox) -> Vec<i32> {
    let needle = format!("DESKRUN_FAKE_STATE={}\0", w.state.display());
    let mut pids = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.filter_map(Result::ok) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if String::from_utf8_lossy(&env).contains(&needle) && !zombie(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Gone, or a zombie nobody reaped yet (container inits may never).
fn zombie(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => true,
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Ctrl-C
// ---------------------------------------------------------------------------

fn children_of(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        let Ok(child) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some((_, rest)) = stat.rsplit_once(')')
            && rest.split_whitespace().nth(1) == Some(&pid.to_string())
        {
            out.push(child);
        }
    }
    out
}

/// Start `deskrun up` with `faults`, wait until a call matching `hung`
/// runs, SIGINT deskrun, and check the promises; then converge.
fn interrupt_case(
    sb: &Sandbox,
    faults: Vec<Fault>,
    hung: &str,
    pending: Option<(&str, &str)>,
    repair: Option<&str>,
) {
    let config = sb.config_bytes();
    sb.set_faults(faults);
    sb.reset_calls();
    let tmp = tmpdir(sb);
    fs::create_dir_all(&tmp).unwrap();
    let child = sb
        .command()
        .arg("up")
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = wait_until(Duration::from_secs(30), || {
        sb.calls().iter().any(|c| c.line().contains(hung)) && !children_of(pid).is_empty()
    });
    assert!(
        started,
        "`{hung}` never ran: {:?}",
        sb.calls().iter().map(Call::line).collect::<Vec<_>>()
    );
    // A helm the fault stops leaves its release pending, then hangs: wait
    // for that state, not for a guessed time.
    if let Some((release, status)) = pending {
        assert!(
            wait_until(Duration::from_secs(30), || {
                sb.release_statuses().get(release).map(String::as_str) == Some(status)
            }),
            "{release} never became {status}: {:?}",
            sb.release_statuses()
        );
    }
    let kids = children_of(pid);
    assert!(!kids.is_empty(), "no running tool to interrupt");
    // SAFETY: kill has no memory-safety preconditions; pid is our child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let t0 = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "deskrun took {:?} to stop",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
    for k in &kids {
        assert!(
            wait_until(Duration::from_secs(5), || zombie(*k)),
            "tool process {k} survived the interrupt"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || fakes_alive(sb).is_empty()),
        "fake tools still running: {:?}",
        fakes_alive(sb)
    );
    assert!(
        fs::read_dir(&tmp).unwrap().next().is_none(),
        "temp files left in TMPDIR"
    );
    let stray: Vec<_> = fs::read_dir(sb.config.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".deskrun-config-")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(
        sb.config_bytes(),
        config,
        "the interrupt changed the config"
    );

    // The next up converges, repairing what helm left half-done.
    sb.clear_faults();
    sb.reset_calls();
    sb.cmd().arg("up").assert().success();
    if let Some(repair) = repair {
        assert!(
            sb.calls().iter().any(|c| c.line().contains(repair)),
            "no `{repair}` in {:?}",
            sb.calls().iter().map(Call::line).collect::<Vec<_>>()
        );
    }
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing to do"));
    assert!(
        sb.release_statuses().values().all(|s| s == "deployed"),
        "{:?}",
        sb.release_statuses()
    );
}

pub fn sigint_during_up_stops_the_tools_exits_130_and_the_next_up_converges() {
    let sb = Sandbox::new();
    sb.add_two();
    // While the cluster is being created.
    interrupt_case(
        &sb,
        vec![Fault::on("kind", "create cluster").timeout()],
        "kind create cluster",
        None,
        None,
    );
    // While helm installs a scale set: the release is left pending-install.
    sb.add("c", &[]);
    interrupt_case(
        &sb,
        vec![Fault::on("helm", "upgrade --install c ").leave_release("pending-install")],
        "upgrade --install c ",
        Some(("c", "pending-install")),
        Some("helm uninstall c "),
    );
    // While helm upgrades one: the release is left pending-upgrade.
    replace(&sb, "c", &["--max-runners", "2"]);
    interrupt_case(
        &sb,
        vec![Fault::on("helm", "upgrade --install c ").leave_release("pending-upgrade")],
        "upgrade --install c ",
        Some(("c", "pending-upgrade")),
        Some("helm rollback c "),
    );
}

/// `deskrun logs -f | head -n 2`: once the reader is gone, deskrun stops
/// the `kubectl logs --follow` it started (its whole process group) and
/// exits 0, instead of following into a closed pipe forever (into a full
/// disk: exit 1, saying so). A stand-in
/// `kubectl` prints a line every 50 ms until killed.
pub fn following_into_a_closed_pipe_stops_kubectl_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let pods = json!({"kind": "List", "items": [{
        "kind": "Pod",
        "metadata": {"name": "a-754b578d-listener", "labels": {
            "app.kubernetes.io/component": "runner-scale-set-listener",
            "actions.github.com/scale-set-name": "a"}},
        "spec": {"containers": [{"name": "listener"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "listener", "state": {"running": {}}}]}
    }]});
    fs::write(dir.path().join("pods.json"), pods.to_string()).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         d='{d}'\n\
         case \" $* \" in\n\
         *' version --client '*) echo 'Client Version: v1.33.1'; exit 0;;\n\
         *' get pods '*) cat \"$d/pods.json\"; exit 0;;\n\
         *' logs a-754b578d-listener '*' --follow '*) echo $$ > \"$d/kubectl.pid\"; i=0; \
           while :; do i=$((i+1)); echo \"line $i\"; sleep 0.05; done;;\n\
         esac\n\
         echo \"unexpected: $*\" >&2; exit 98\n",
        d = dir.path().display()
    );
    let kubectl = bin.join("kubectl");
    fs::write(&kubectl, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&kubectl, fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config.yaml");
    fs::write(
        &config,
        format!(
            "version: 1\ninstallations:\n  a:\n    repository: https://github.com/owner/repo\n    \
             mode: kubernetes\n    min_runners: 1\n    max_runners: 1\n    \
             auth: {{type: pat, token: {TOKEN}}}\n"
        ),
    )
    .unwrap();
    let run = |shell: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(shell.replace("DESKRUN", env!("CARGO_BIN_EXE_deskrun")))
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("DESKRUN_CONFIG", &config)
            .env("HOME", dir.path())
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            // Without the stop, the follow would end only at this cap (exit 1).
            .env("DESKRUN_CALL_TIMEOUT", "8")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // stdout that fails otherwise (a full disk) ends it too, as an error.
    let started = Instant::now();
    let out = run("'DESKRUN' logs a --follow > /dev/full");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write to standard output"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let started = Instant::now();
    let out = run("set -o pipefail; 'DESKRUN' logs a --follow | head -n 2");

    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1\nline 2\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid: i32 = fs::read_to_string(dir.path().join("kubectl.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie nobody reaped (some container inits never do).
    let gone = match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => true,
    };
    assert!(gone, "kubectl logs --follow (pid {pid}) still runs");
}
