//! Many deskrun processes on one config at once: config writes are
//! serialised by a lock and atomic, so no entry is ever lost and the file is
//! always whole; two `up` never run their changes at the same time (the
//! second waits, says so, and then finds nothing left to do).

use crate::common::{Sandbox, TOKEN, show};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::sync::Barrier;
use std::time::Duration;

/// Run `jobs` deskrun commands at once (all released by one barrier), each
/// with its args and stdin; outputs in the same order.
fn at_once(sb: &Sandbox, jobs: Vec<(Vec<String>, String)>) -> Vec<Output> {
    let barrier = Barrier::new(jobs.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(args, stdin)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut cmd = sb.cmd();
                    cmd.args(args)
                        .write_stdin(stdin.clone())
                        .timeout(Duration::from_secs(60));
                    barrier.wait();
                    cmd.output().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn add_job(name: &str, extra: &[&str]) -> (Vec<String>, String) {
    let mut args: Vec<String> = ["add", name, "--repository", "https://github.com/owner/repo"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--auth-value-stdin".into());
    (args, format!("{TOKEN}\n"))
}

/// The installations in the config, read through deskrun (so the file must
/// be whole and valid), after checking the file's mode and that no temp
/// file was left next to it.
fn names(sb: &Sandbox) -> BTreeSet<String> {
    let mode = std::fs::metadata(&sb.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config mode");
    let dir = sb.config.parent().unwrap();
    let stray: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".deskrun-config-"))
        .collect();
    assert!(stray.is_empty(), "temp files left: {stray:?}");
    let out = sb
        .cmd()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["installations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn sixteen_adds_at_once_all_land() {
    let sb = Sandbox::new();
    // Three rounds: a lost update shows up as a missing name in any of them.
    let mut want = BTreeSet::new();
    for round in 0..3 {
        let jobs: Vec<_> = (0..16)
            .map(|i| add_job(&format!("r{round}-n{i}"), &[]))
            .collect();
        for (o, (args, _)) in at_once(&sb, jobs.clone()).iter().zip(&jobs) {
            assert!(o.status.success(), "{args:?}\n{}", show(o));
        }
        want.extend(jobs.iter().map(|(a, _)| a[1].clone()));
        assert_eq!(names(&sb), want, "round {round}");
    }
    // Every entry kept its credential: the file parses and has 48 tokens.
    let text = std::fs::read_to_string(&sb.config).unwrap();
    assert_eq!(text.matches(TOKEN).count(), 48);
    // The lock file never holds the credential.
    let lock = sb.config.with_file_name("config.yaml.lock");
    if let Ok(bytes) = std::fs::read(&lock) {
        assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN));
    }
}

pub fn adds_and_removes_at_once() {
    let sb = Sandbox::new();
    for i in 0..8 {
        sb.add(&format!("old-{i}"), &[]);
    }
    let mut jobs: Vec<_> = (0..8).map(|i| add_job(&format!("new-{i}"), &[])).collect();
    jobs.extend((0..8).map(|i| {
        (
            vec!["remove".to_string(), format!("old-{i}")],
            String::new(),
        )
    }));
    for (o, (args, _)) in at_once(&sb, jobs.clone()).iter().zip(&jobs) {
        assert!(o.status.success(), "{args:?}\n{}", show(o));
    }
    let want: BTreeSet<String> = (0..8).map(|i| format!("new-{i}")).collect();
    assert_eq!(names(&sb), want);
}

pub fn racing_adds_of_one_name_let_exactly_one_win() {
    let sb = Sandbox::new();
    let jobs: Vec<_> = (1..=8)
        .map(|max| add_job("same", &["--max-runners", &max.to_string()]))
        .collect();
    let outs = at_once(&sb, jobs);
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        won,
        1,
        "{}",
        outs.iter().map(show).collect::<Vec<_>>().join("\n")
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(2), "{}", show(o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("already exists"),
            "{}",
            show(o)
        );
    }
    assert_eq!(names(&sb), BTreeSet::from(["same".to_string()]));

    // With --replace every one succeeds, and one of them is what remains.
    let jobs: Vec<_> = (1..=8)
        .map(|max| add_job("same", &["--replace", "--max-runners", &max.to_string()]))
        .collect();
    for o in at_once(&sb, jobs) {
        assert!(o.status.success(), "{}", show(&o));
    }
    let out = sb
        .cmd()
        .args(["list", "--output", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let max = v["installations"][0]["max_runners"].as_u64().unwrap();
    assert!((1..=8).contains(&max), "{v}");
    assert_eq!(names(&sb), BTreeSet::from(["same".to_string()]));
}

// ---------------------------------------------------------------------------
// Two `up` at once (fake toolchain)
// ---------------------------------------------------------------------------

fn count(sb: &Sandbox, needle: &str) -> usize {
    sb.calls()
        .iter()
        .filter(|c| c.line().contains(needle))
        .count()
}

pub fn two_ups_at_once_run_one_after_the_other() {
    let sb = Sandbox::new();
    sb.add_two();
    // Slow helm installs keep the first `up` busy long enough for the
    // second to meet its lock.
    sb.latency("helm upgrade", 700);
    let up = || (vec!["up".to_string()], String::new());
    let outs = at_once(&sb, vec![up(), up()]);
    for o in &outs {
        assert!(o.status.success(), "{}", show(o));
    }
    let stdout: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    let stderr: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    let both = format!("{stdout:?}\n{stderr:?}");
    // Exactly one did the work; the other waited, said so, and found it done.
    assert_eq!(
        stdout.iter().filter(|s| s.contains("2 created")).count(),
        1,
        "{both}"
    );
    assert_eq!(
        stdout
            .iter()
            .filter(|s| s.contains("nothing to do"))
            .count(),
        1,
        "{both}"
    );
    assert!(
        stderr
            .iter()
            .any(|s| s.contains("another deskrun up/down is running")),
        "{both}"
    );
    // Each release was installed once, the cluster created once.
    assert_eq!(count(&sb, "kind create cluster"), 1);
    assert_eq!(count(&sb, "helm upgrade --install arc "), 1);
    assert_eq!(count(&sb, "helm upgrade --install a "), 1);
    assert_eq!(count(&sb, "helm upgrade --install b "), 1);
}

pub fn up_and_down_at_once_serialise_and_the_next_up_converges() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    sb.cmd().arg("up").assert().success();
    sb.add("b", &["--mode", "dind"]);
    sb.latency("helm upgrade", 500);
    sb.latency("helm uninstall", 500);
    let outs = at_once(
        &sb,
        vec![
            (vec!["up".to_string()], String::new()),
            (vec!["down".to_string()], String::new()),
        ],
    );
    for o in &outs {
        assert!(o.status.success(), "{}", show(o));
    }
    sb.machine(|m| m.latency.clear());
    sb.cmd().arg("up").assert().success();
    let out = sb.cmd().arg("up").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do"),
        "{}",
        show(&out)
    );
}
