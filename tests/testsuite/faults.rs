//! Every tool call that `up` and `down` make, made to fail, to run out of
//! time, or to print garbage, against the in-process fake. Each time:
//! deskrun fails naming the step and the tool (or, where the garbage is
//! output deskrun never reads, succeeds), the config is untouched, no
//! credential is shown, and the next `up` converges: it succeeds and the
//! one after it has nothing to do.
//!
//! (What only a process can show, Ctrl-C and process groups, is in
//! `tests/blackbox/faults.rs` on fake executables.)

use deskrun::error::exit_code;
use deskrun::model::Mode;
use deskrun::ops;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::UpOptions;
use deskrun::testing::{Call, Env, Fault, TOKEN, World, request};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Fail,
    Timeout,
    Garbage,
}

#[derive(Clone, Copy)]
enum Command {
    Up,
    Down { controller: bool, delete: bool },
}

/// A command run against a precondition (world + config) that every case
/// starts from.
struct Scenario {
    name: &'static str,
    command: Command,
    world: World,
    config: Vec<u8>,
    /// Keeps the temp dir the config's cache root points into.
    origin: Env,
}

fn two_installations(env: &Env) {
    env.add(&request("a"));
    let mut b = request("b");
    b.mode = Mode::CachedPrivilegedKubernetes;
    b.caches = vec!["/root/.cache".into()];
    env.add(&b);
}

fn snapshot(origin: Env, name: &'static str, command: Command) -> Scenario {
    Scenario {
        name,
        command,
        world: origin.fake.snapshot(),
        config: std::fs::read(origin.store.path()).unwrap(),
        origin,
    }
}

fn up_ok(env: &Env) {
    env.up(&UpOptions::default()).unwrap();
}

/// `up` on a machine with no cluster.
fn fresh_up() -> Scenario {
    let env = Env::new();
    two_installations(&env);
    snapshot(env, "up from nothing", Command::Up)
}

/// `up` after a config change: one installation removed, one changed to
/// another mode (new ConfigMap, stale old one, cache mount check), one new.
fn changing_up() -> Scenario {
    let env = Env::new();
    two_installations(&env);
    up_ok(&env);
    ops::remove::remove(&env.store, "a").unwrap();
    let mut b = request("b");
    b.caches = vec!["/root/.cache".into()];
    b.replace = true;
    env.add(&b);
    let mut c = request("c");
    c.mode = Mode::Dind;
    env.add(&c);
    snapshot(env, "up after a change", Command::Up)
}

/// `up` that must first repair releases an earlier, killed helm left
/// pending: `a` changed (pending-upgrade, repaired by rollback), `d` new
/// (pending-install, repaired by uninstall).
fn repairing_up() -> Scenario {
    let env = Env::new();
    two_installations(&env);
    up_ok(&env);
    let mut a = request("a");
    a.max_runners = Some(3);
    a.replace = true;
    env.add(&a);
    env.add(&request("d"));
    env.fake
        .inject(Fault::on("helm", "upgrade --install a ").leave_release("pending-upgrade"));
    env.fake
        .inject(Fault::on("helm", "upgrade --install d ").leave_release("pending-install"));
    assert!(env.up(&UpOptions::default()).is_err());
    env.fake.clear_faults();
    let status = |name: &str| {
        env.fake.world(|w| {
            w.cluster("deskrun")
                .unwrap()
                .release("arc-systems", name)
                .map(|r| r.status.clone())
        })
    };
    assert_eq!(status("a").as_deref(), Some("pending-upgrade"));
    assert_eq!(status("d").as_deref(), Some("pending-install"));
    snapshot(env, "up repairing pending releases", Command::Up)
}

fn deployed(name: &'static str, command: Command) -> Scenario {
    let env = Env::new();
    two_installations(&env);
    up_ok(&env);
    snapshot(env, name, command)
}

/// An environment in the scenario's precondition.
fn restore(sc: &Scenario) -> Env {
    let env = Env::new();
    std::fs::write(env.store.path(), &sc.config).unwrap();
    env.fake.world(|w| *w = sc.world.clone());
    env
}

fn run(env: &Env, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up => env.up(&UpOptions::default()).map(drop),
        Command::Down { controller, delete } => env
            .down(&DownOptions {
                controller,
                delete_cluster: delete,
                purge_caches: false,
                parallel: 5,
            })
            .map(drop),
    }
}

/// The argv up to its timing flags: what a fault matches on.
fn matcher(call: &Call) -> String {
    call.args
        .iter()
        .take_while(|a| !a.starts_with("--timeout") && *a != "--wait")
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether deskrun reads the call's output rather than only its status.
fn reads_output(c: &Call) -> bool {
    let line = c.line();
    c.verb() == "version"
        || ["kind get clusters", "helm list", " get ", "docker inspect"]
            .iter()
            .any(|p| line.contains(p))
}

/// The call with scale-set names and labels blanked: calls that differ
/// only there take the same path through deskrun.
fn shape(c: &Call) -> String {
    let words: Vec<&str> = c
        .args
        .iter()
        .map(|a| {
            if ["a", "b", "c", "d"].contains(&a.as_str()) {
                "<scale-set>"
            } else if a.starts_with("deskrun.dev/managed=true,") {
                "<labels>"
            } else {
                a.as_str()
            }
        })
        .collect();
    format!("{} {}", c.program, words.join(" "))
}

/// One case: fault, run, check, converge. Returns what went wrong.
fn case(sc: &Scenario, call: &Call, action: Action) -> Result<&'static str, String> {
    let env = restore(sc);
    let fault = Fault::on(&call.program, &matcher(call));
    env.fake.inject(match action {
        // A tool's error quoting the credential, as some do.
        Action::Fail => fault.fail(
            1,
            &format!("Error: injected failure (credential {TOKEN} rejected)"),
        ),
        Action::Timeout => fault.timeout(),
        Action::Garbage => fault.garbage("\u{0}not json {{{ garbage\n"),
    });
    let result = run(&env, sc.command);
    let what = format!("[{}] {action:?} `{}`", sc.name, call.line());
    let mut problems = Vec::new();
    let tool = call.program.as_str();
    let outcome = match &result {
        Ok(()) if action == Action::Garbage && !reads_output(call) => "ignored the garbage",
        Ok(()) => {
            problems.push("succeeded".to_string());
            "bad outcome"
        }
        Err(e) => {
            let text = format!("{e:#}");
            if exit_code(e) != 1 {
                problems.push(format!("exit code {} for: {text}", exit_code(e)));
            }
            if !text.contains("step '") {
                problems.push(format!("the error names no step: {text}"));
            }
            let names = |tool: &str| {
                text.contains(&format!("`{tool} "))
                    || text.contains(&format!("JSON {tool} printed"))
                    || text.contains(&format!("check {tool} version"))
            };
            // Garbage with exit 0 from a call whose output deskrun does not
            // read looks like success; what it skipped fails a later step.
            let downstream = action == Action::Garbage
                && !reads_output(call)
                && !names(tool)
                && ["kind", "helm", "kubectl", "docker"].into_iter().any(names);
            if !names(tool) && !downstream {
                problems.push(format!("the error does not name {tool}: {text}"));
            }
            if action == Action::Fail
                && !text.contains("injected failure (credential <redacted> rejected)")
            {
                problems.push(format!("the tool's redacted stderr is not quoted: {text}"));
            }
            if action == Action::Timeout && !text.contains("timed out after") {
                problems.push(format!("no `timed out after` in: {text}"));
            }
            if text.contains(TOKEN) {
                problems.push("showed the credential".into());
            }
            if downstream {
                "a later step failed clearly"
            } else {
                "failed clearly"
            }
        }
    };
    if std::fs::read(env.store.path()).unwrap() != sc.config {
        problems.push("changed the config".into());
    }
    if !problems.is_empty() {
        return Err(format!("{what}: {}", problems.join("; ")));
    }
    if env.fake.snapshot() == sc.world {
        // The cluster is as it was: the precondition's own `up` (checked
        // once per scenario) shows convergence.
        return Ok(outcome);
    }
    env.fake.clear_faults();
    if let Err(e) = env.up(&UpOptions::default()) {
        return Err(format!("{what}: the next up failed: {e:#}"));
    }
    match env.up(&UpOptions::default()) {
        Ok(r) if !r.applied => Ok(outcome),
        Ok(r) => Err(format!(
            "{what}: the up after that still had work: {}",
            r.summary()
        )),
        Err(e) => Err(format!("{what}: the up after that failed: {e:#}")),
    }
}

#[test]
fn every_call_of_up_and_down_fails_times_out_and_prints_garbage() {
    let scenarios = [
        (fresh_up(), 10, true),
        (changing_up(), 8, false),
        (repairing_up(), 6, false),
        (
            deployed(
                "down --controller",
                Command::Down {
                    controller: true,
                    delete: false,
                },
            ),
            5,
            true,
        ),
        (
            deployed(
                "down --delete-cluster",
                Command::Down {
                    controller: false,
                    delete: true,
                },
            ),
            2,
            true,
        ),
    ];
    let mut tested = BTreeSet::new();
    let mut cases = 0;
    let mut failures = Vec::new();
    for (sc, min_calls, all_garbage) in &scenarios {
        // A clean run lists the calls; from the precondition, up converges.
        let env = restore(sc);
        run(&env, sc.command).unwrap_or_else(|e| panic!("[{}] clean run: {e:#}", sc.name));
        let mut seen = BTreeSet::new();
        let calls: Vec<Call> = env
            .fake
            .calls()
            .into_iter()
            .filter(|c| seen.insert(shape(c)))
            .collect();
        assert!(
            calls.len() >= *min_calls,
            "[{}] only {} distinct calls: {:?}",
            sc.name,
            calls.len(),
            env.fake.lines()
        );
        let env = restore(sc);
        up_ok(&env);
        assert!(
            !env.up(&UpOptions::default()).unwrap().applied,
            "[{}]",
            sc.name
        );
        let _ = &sc.origin;

        for c in &calls {
            // A read fails before anything changed, whatever the scenario:
            // it is tested in the first scenario that makes it.
            if reads_output(c) && !tested.insert(shape(c)) {
                continue;
            }
            for action in [Action::Timeout, Action::Fail, Action::Garbage] {
                if action == Action::Garbage && !all_garbage && !reads_output(c) {
                    continue;
                }
                cases += 1;
                if let Err(e) = case(sc, c, action) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    println!("{cases} cases");
    assert!(cases >= 55, "{cases} cases");
}
