//! Every tool call that `up` and `down` make, made to fail, to hang past its
//! timeout, or to print garbage (fake toolchain, `faults.json`). Each time:
//! deskrun exits non-zero naming the step and the tool (or, where the
//! garbage is output deskrun never reads, succeeds), the config is
//! untouched, no tool process or temp file is left, no credential is shown,
//! and the next `up` converges: it succeeds and the one after it has
//! nothing to do.
//!
//! Then Ctrl-C: a real SIGINT to the deskrun process while a tool hangs
//! stops the tool, removes temp files, exits 130, and the next `up`
//! converges (repairing a release helm left pending).
//!
//! Each scenario's precondition (fake cluster state + config) is built once
//! and restored before every case; cases run on a few worker sandboxes.

mod common;

use common::{Call, Sandbox, TOKEN};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `DESKRUN_CALL_TIMEOUT` for every faulted run: a hang costs this long.
const CALL_TIMEOUT: &str = "2";
const WORKERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Fail,
    Hang,
    Garbage,
}

/// A command run against a restorable precondition.
struct Scenario {
    name: &'static str,
    command: Vec<&'static str>,
    /// The precondition: fake cluster state (None: no state yet) and config.
    state: Option<Vec<u8>>,
    config: Vec<u8>,
    /// Forget cached tool versions first, so the version checks run too.
    cold: bool,
    /// Keeps the sandbox that the snapshot's paths (cache root) point into.
    _origin: Sandbox,
}

fn two_installations(sb: &Sandbox) {
    sb.add("a", &[]);
    sb.add(
        "b",
        &[
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/root/.cache",
        ],
    );
}

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

fn snapshot(sb: Sandbox, name: &'static str, command: &[&'static str], cold: bool) -> Scenario {
    Scenario {
        name,
        command: command.to_vec(),
        state: fs::read(sb.state.join("state.json")).ok(),
        config: sb.config_bytes(),
        cold,
        _origin: sb,
    }
}

/// `up` on a machine with no cluster: versions, cluster, controller, CRDs,
/// a hook-extension ConfigMap, two scale sets.
fn fresh_up() -> Scenario {
    let sb = Sandbox::new();
    two_installations(&sb);
    // A read, so that the fake has written its (empty) state.
    sb.cmd().args(["cluster", "status"]).assert().success();
    snapshot(sb, "up from nothing", &["up"], true)
}

/// `up` after a config change: one installation removed, one changed to
/// another mode (new ConfigMap, stale old one, cache mount check), one new.
fn changing_up() -> Scenario {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    sb.cmd().args(["remove", "a"]).assert().success();
    replace(
        &sb,
        "b",
        &["--mode", "kubernetes", "--cache", "/root/.cache"],
    );
    sb.add("c", &["--mode", "dind"]);
    snapshot(sb, "up after a change", &["up"], false)
}

fn deployed(name: &'static str, command: &[&'static str]) -> Scenario {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    snapshot(sb, name, command, false)
}

/// `up` that must first repair releases an earlier, killed helm left
/// pending: `a` changed and its upgrade killed (pending-upgrade, repaired by
/// rollback), `d` new and its install killed (pending-install, repaired by
/// uninstall).
fn repairing_up() -> Scenario {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    replace(&sb, "a", &["--max-runners", "3"]);
    sb.add("d", &[]);
    sb.set_faults(json!([
        {"tool": "helm", "match": "upgrade --install a ", "nth": 0, "action": "interrupt"},
        {"tool": "helm", "match": "upgrade --install d ", "nth": 0, "action": "interrupt"},
    ]));
    sb.cmd()
        .arg("up")
        .env("DESKRUN_CALL_TIMEOUT", CALL_TIMEOUT)
        .assert()
        .code(1);
    sb.clear_faults();
    let st = release_statuses(&sb);
    assert_eq!(
        st.get("a").map(String::as_str),
        Some("pending-upgrade"),
        "{st:?}"
    );
    assert_eq!(
        st.get("d").map(String::as_str),
        Some("pending-install"),
        "{st:?}"
    );
    snapshot(sb, "up repairing pending releases", &["up"], false)
}

/// name -> status of the latest revision of every release in the fake.
fn release_statuses(sb: &Sandbox) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let st = sb.state();
    if let Some(clusters) = st["clusters"].as_object() {
        for c in clusters.values() {
            if let Some(rels) = c["releases"].as_object() {
                for (key, hist) in rels {
                    let name = key.rsplit('/').next().unwrap_or(key).to_string();
                    if let Some(last) = hist.as_array().and_then(|h| h.last()) {
                        out.insert(name, last["status"].as_str().unwrap_or("").to_string());
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Running cases
// ---------------------------------------------------------------------------

fn restore(w: &Sandbox, sc: &Scenario) {
    match &sc.state {
        Some(bytes) => fs::write(w.state.join("state.json"), bytes).unwrap(),
        None => {
            let _ = fs::remove_file(w.state.join("state.json"));
        }
    }
    fs::write(&w.config, &sc.config).unwrap();
    w.clear_faults();
    w.reset_calls();
    if sc.cold {
        let _ = fs::remove_file(w.path().join("xdg-cache/deskrun/tool-versions.json"));
    }
    let tmp = tmpdir(w);
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
}

fn tmpdir(w: &Sandbox) -> PathBuf {
    w.path().join("tmp")
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(w: &Sandbox, args: &[&str], timeout: Option<&str>) -> Out {
    let mut c = w.cmd();
    c.args(args)
        .env("TMPDIR", tmpdir(w))
        .timeout(Duration::from_secs(120));
    if let Some(t) = timeout {
        c.env("DESKRUN_CALL_TIMEOUT", t);
    }
    let o = c.output().unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The distinct calls a clean run of the scenario makes.
fn clean_calls(w: &Sandbox, sc: &Scenario) -> Vec<Call> {
    restore(w, sc);
    let o = run(w, &sc.command, None);
    assert_eq!(
        o.code,
        Some(0),
        "[{}] clean run failed:\n{}{}",
        sc.name,
        o.stdout,
        o.stderr
    );
    let mut seen = BTreeSet::new();
    let calls = w
        .calls()
        .into_iter()
        .filter(|c| seen.insert(c.line()))
        .collect();
    // From the untouched precondition, `up` converges: a case whose fault
    // left the cluster as it was needs no run of its own to show that.
    restore(w, sc);
    let up = run(w, &["up"], None);
    assert_eq!(
        up.code,
        Some(0),
        "[{}] up from the precondition:\n{}",
        sc.name,
        up.stderr
    );
    let again = run(w, &["up"], None);
    assert!(
        again.stdout.contains("nothing to do"),
        "[{}] the second up from the precondition:\n{}{}",
        sc.name,
        again.stdout,
        again.stderr
    );
    calls
}

/// The fake cluster's state without the fake's own bookkeeping (call
/// counter, fault counters).
fn cluster_state(state: Option<&[u8]>) -> Value {
    let mut v: Value = state
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("seq");
        m.remove("fault_counts");
    }
    v
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

fn fault_for(call: &Call, action: Action) -> Value {
    // The argv up to its timing flags, which DESKRUN_CALL_TIMEOUT changes.
    let line = call
        .argv
        .iter()
        .take_while(|a| !a.starts_with("--timeout") && *a != "--wait")
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    match action {
        Action::Fail => json!([{
            "tool": call.tool, "match": line, "nth": 1, "action": "fail", "exit": 1,
            // A tool's error quoting the credential, as some do.
            "stderr": format!("Error: injected failure (credential {TOKEN} rejected)"),
        }]),
        Action::Hang => json!([{"tool": call.tool, "match": line, "nth": 1, "action": "hang"}]),
        Action::Garbage => {
            json!([{"tool": call.tool, "match": line, "nth": 1, "action": "garbage"}])
        }
    }
}

/// One case: fault, run, check, converge. Returns what went wrong.
fn case(w: &Sandbox, sc: &Scenario, call: &Call, action: Action) -> Result<&'static str, String> {
    restore(w, sc);
    w.set_faults(fault_for(call, action));
    let o = run(w, &sc.command, Some(CALL_TIMEOUT));
    let what = format!(
        "[{}] {action:?} `{}`: deskrun {}",
        sc.name,
        call.line(),
        sc.command.join(" ")
    );
    let shown = || {
        format!(
            "{what}\nexit {:?}\n--- stdout\n{}--- stderr\n{}",
            o.code, o.stdout, o.stderr
        )
    };
    let mut problems: Vec<String> = Vec::new();
    let tool = call.tool.as_str();
    let outcome = match o.code {
        // Only where deskrun reads nothing but the exit status.
        Some(0) if action == Action::Garbage && !reads_output(call) => "ignored the garbage",
        Some(1) => {
            if !o.stderr.contains("step '") {
                problems.push("the error names no step".into());
            }
            let names = |tool: &str| {
                o.stderr.contains(&format!("`{tool} "))
                    || o.stderr.contains(&format!("JSON {tool} printed"))
                    || o.stderr.contains(&format!("check {tool} version"))
            };
            // Garbage with exit 0 from a call whose output deskrun does not
            // read looks like success; what it skipped fails a later step,
            // which must then be named.
            let downstream = action == Action::Garbage
                && !reads_output(call)
                && !names(tool)
                && ["kind", "helm", "kubectl", "docker"].into_iter().any(names);
            if !names(tool) && !downstream {
                problems.push(format!("the error does not name {tool}"));
            }
            match action {
                Action::Fail => {
                    if !o
                        .stderr
                        .contains("injected failure (credential <redacted> rejected)")
                    {
                        problems.push("the tool's redacted stderr is not quoted".into());
                    }
                }
                Action::Hang => {
                    if !o
                        .stderr
                        .contains(&format!("timed out after {CALL_TIMEOUT}s"))
                    {
                        problems.push("no `timed out after` in the error".into());
                    }
                }
                Action::Garbage => {}
            }
            if downstream {
                "a later step failed clearly"
            } else {
                "failed clearly"
            }
        }
        _ => {
            problems.push("expected exit 1".into());
            "bad exit"
        }
    };
    if o.stdout.contains(TOKEN) || o.stderr.contains(TOKEN) {
        problems.push("showed the credential".into());
    }
    if fs::read(&w.config).unwrap() != sc.config {
        problems.push("changed the config".into());
    }
    if !wait_until(Duration::from_secs(5), || fakes_alive(w).is_empty()) {
        problems.push(format!("tool processes left running: {:?}", fakes_alive(w)));
    }
    if fs::read_dir(tmpdir(w)).unwrap().next().is_some() {
        problems.push("left files in TMPDIR".into());
    }
    if !problems.is_empty() {
        return Err(format!("{}\n{}", problems.join("; "), shown()));
    }

    // The next up converges. When the fault left the cluster exactly as it
    // was, that is the precondition's own `up`, checked once in
    // `clean_calls`.
    let now = fs::read(w.state.join("state.json")).ok();
    if cluster_state(now.as_deref()) == cluster_state(sc.state.as_deref()) {
        return Ok(match outcome {
            "failed clearly" => "failed clearly, cluster untouched",
            o => o,
        });
    }
    w.clear_faults();
    let up = run(w, &["up"], None);
    if up.code != Some(0) {
        return Err(format!(
            "the next up failed:\n{}{}\n(after) {}",
            up.stdout,
            up.stderr,
            shown()
        ));
    }
    let again = run(w, &["up"], None);
    if again.code != Some(0) || !again.stdout.contains("nothing to do") {
        return Err(format!(
            "the up after that still had work:\n{}{}\n(after) {}",
            again.stdout,
            again.stderr,
            shown()
        ));
    }
    Ok(outcome)
}

/// Whether deskrun reads the call's output (so garbage there must be
/// reported) rather than only its exit status.
fn reads_output(c: &Call) -> bool {
    let line = c.line();
    c.argv.iter().any(|a| a == "version")
        || ["kind get clusters", "helm list", " get ", "docker inspect"]
            .iter()
            .any(|p| line.contains(p))
}

/// The call with scale-set names and labels blanked: calls that differ only
/// there take the same path through deskrun.
fn shape(c: &Call) -> String {
    let instances = ["a", "b", "c", "d"];
    let words: Vec<&str> = c
        .argv
        .iter()
        .map(|a| {
            if instances.contains(&a.as_str()) {
                "<scale-set>"
            } else if a.starts_with("deskrun.dev/managed=true,") {
                "<labels>"
            } else {
                a.as_str()
            }
        })
        .collect();
    format!("{} {}", c.tool, words.join(" "))
}

struct Work<'a> {
    sc: &'a Scenario,
    call: Call,
    action: Action,
}

/// The cases of a scenario: every distinct call made to fail and to hang;
/// garbage on every call deskrun reads the output of, and with
/// `all_garbage` on every call (deskrun must ignore it where it reads only
/// the exit status).
///
/// A call that only reads (the version checks, `kind get clusters`, `helm
/// list`, `kubectl get`, `docker inspect`) fails before anything changed,
/// whatever the scenario: it is tested in the first scenario that makes it
/// (`tested` holds the shapes already covered).
fn list_calls(w: &Sandbox, sc: &Scenario, min_calls: usize) -> Vec<Call> {
    if !sc.cold {
        // Tool versions are cached per binary: warm the cache so every run
        // makes the same calls (the cold scenario covers the version checks).
        restore(w, sc);
        let o = run(w, &["status"], None);
        assert_eq!(o.code, Some(0), "{}", o.stderr);
    }
    let mut seen = BTreeSet::new();
    let calls: Vec<Call> = clean_calls(w, sc)
        .into_iter()
        .filter(|c| seen.insert(shape(c)))
        .collect();
    assert!(
        calls.len() >= min_calls,
        "[{}] only {} distinct calls: {:?}",
        sc.name,
        calls.len(),
        calls.iter().map(Call::line).collect::<Vec<_>>()
    );
    calls
}

fn cases_of<'a>(
    sc: &'a Scenario,
    calls: &[Call],
    all_garbage: bool,
    tested: &mut BTreeSet<String>,
) -> Vec<Work<'a>> {
    let mut out = Vec::new();
    for c in calls {
        if reads_output(c) && !tested.insert(shape(c)) {
            continue;
        }
        for action in [Action::Hang, Action::Fail, Action::Garbage] {
            if action == Action::Garbage && !all_garbage && !reads_output(c) {
                continue;
            }
            out.push(Work {
                sc,
                call: c.clone(),
                action,
            });
        }
    }
    out
}

#[test]
fn every_call_of_up_and_down_fails_hangs_and_prints_garbage() {
    let t0 = Instant::now();
    // Each scenario is built and its calls listed on its own sandboxes.
    type Built = (Scenario, Vec<Call>, bool);
    let build = |make: &(dyn Fn() -> Scenario + Sync), min: usize, all: bool| -> Built {
        let sc = make();
        let calls = list_calls(&Sandbox::new(), &sc, min);
        (sc, calls, all)
    };
    let scenarios: Vec<Built> = std::thread::scope(|s| {
        let h = [
            s.spawn(|| build(&fresh_up, 10, true)),
            s.spawn(|| build(&changing_up, 8, false)),
            s.spawn(|| build(&repairing_up, 6, false)),
            s.spawn(|| {
                build(
                    &|| deployed("down --controller", &["down", "--controller"]),
                    5,
                    true,
                )
            }),
            s.spawn(|| {
                build(
                    &|| deployed("down --delete-cluster", &["down", "--delete-cluster"]),
                    2,
                    true,
                )
            }),
        ];
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("scenarios built and listed in {:?}", t0.elapsed());
    let workers: Vec<Sandbox> = (0..WORKERS).map(|_| Sandbox::new()).collect();
    let mut work = Vec::new();
    let mut tested = BTreeSet::new();
    for (sc, calls, all) in &scenarios {
        work.extend(cases_of(sc, calls, *all, &mut tested));
    }
    // Hangs first: their waiting overlaps the others' work.
    work.sort_by_key(|w| w.action != Action::Hang);
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in &workers {
            let (next, failures, outcomes, work) = (&next, &failures, &outcomes, &work);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = work.get(i) else { break };
                    let t = Instant::now();
                    match case(w, job.sc, &job.call, job.action) {
                        Ok(o) => outcomes.lock().unwrap().push(format!(
                            "[{}] {:?} `{}`: {o} ({:.1}s)",
                            job.sc.name,
                            job.action,
                            job.call.line(),
                            t.elapsed().as_secs_f64()
                        )),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort();
    println!("{} cases in {:?}:", work.len(), t0.elapsed());
    for o in &outcomes {
        println!("  {o}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        work.len(),
        failures.join("\n\n")
    );
    assert!(work.len() >= 55, "{} cases", work.len());
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
fn interrupt_case(sb: &Sandbox, faults: Value, hung: &str, repair: Option<&str>) {
    let config = sb.config_bytes();
    sb.set_faults(faults);
    sb.reset_calls();
    let tmp = tmpdir(sb);
    fs::create_dir_all(&tmp).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("deskrun");
    let child = Command::new(bin)
        .arg("up")
        .env("PATH", sb.path_env())
        .env("DESKRUN_CONFIG", &sb.config)
        .env("DESKRUN_FAKE_STATE", &sb.state)
        .env("XDG_CACHE_HOME", sb.path().join("xdg-cache"))
        .env("HOME", sb.path())
        .env("TMPDIR", &tmp)
        .env_remove("DESKRUN_CALL_TIMEOUT")
        .env_remove("KUBECONFIG")
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
    // Let the tool reach its hang (it records the call first).
    std::thread::sleep(Duration::from_millis(300));
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
        release_statuses(sb).values().all(|s| s == "deployed"),
        "{:?}",
        release_statuses(sb)
    );
}

#[test]
fn sigint_during_up_stops_the_tools_exits_130_and_the_next_up_converges() {
    let sb = Sandbox::new();
    two_installations(&sb);
    // While the cluster is being created.
    interrupt_case(
        &sb,
        json!([{"tool": "kind", "match": "create cluster", "nth": 1, "action": "hang"}]),
        "kind create cluster",
        None,
    );
    // While helm installs a scale set: the release is left pending-install.
    sb.add("c", &[]);
    interrupt_case(
        &sb,
        json!([{"tool": "helm", "match": "upgrade --install c ", "nth": 1, "action": "interrupt"}]),
        "upgrade --install c ",
        Some("helm uninstall c "),
    );
    // While helm upgrades one: the release is left pending-upgrade.
    replace(&sb, "c", &["--max-runners", "2"]);
    interrupt_case(
        &sb,
        json!([{"tool": "helm", "match": "upgrade --install c ", "nth": 1, "action": "interrupt"}]),
        "upgrade --install c ",
        Some("helm rollback c "),
    );
}
