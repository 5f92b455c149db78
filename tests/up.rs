//! `deskrun up/down/status/cluster` through the fake toolchain: what calls
//! deskrun makes, in what state it leaves the (fake) cluster, and what it
//! says when a tool fails.

mod common;

use common::{Call, Sandbox, TOKEN};
use predicates::prelude::*;
use serde_json::json;

fn mutating(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.mutates())
        .map(Call::line)
        .collect()
}

fn count(calls: &[Call], needle: &str) -> usize {
    calls.iter().filter(|c| c.line().contains(needle)).count()
}

/// Two installations: a privileged Docker runner with a cache, and three
/// kubernetes-mode instances.
fn two_installations(sb: &Sandbox) {
    sb.add(
        "docker-runner",
        &[
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/var/lib/docker",
        ],
    );
    sb.add("ci", &["--instances", "3"]);
}

fn status_json(sb: &Sandbox) -> serde_json::Value {
    let out = sb
        .cmd()
        .args(["status", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn first_up_deploys_everything_and_second_up_is_a_noop() {
    // The fake helm renders through the real chart here (when ../shared
    // exists), so values the chart refuses fail this test.
    let sb = Sandbox::new().with_real_chart();
    two_installations(&sb);
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("4 created"));
    let calls = sb.calls();
    assert_eq!(count(&calls, "kind create cluster"), 1);
    assert_eq!(count(&calls, "helm upgrade --install arc "), 1);
    assert_eq!(
        count(
            &calls,
            "kubectl --context kind-deskrun wait --for=condition=established"
        ),
        1
    );
    for inst in ["docker-runner", "ci-1", "ci-2", "ci-3"] {
        assert_eq!(
            count(&calls, &format!("helm upgrade --install {inst} ")),
            1,
            "{inst}"
        );
    }
    // Only the privileged instance has a hook-extension ConfigMap.
    assert_eq!(count(&calls, "kubectl --context kind-deskrun apply"), 1);
    // Every helm/kubectl call names the context.
    for c in &calls {
        if c.tool == "helm" && !c.argv.iter().any(|a| a == "version") {
            assert!(
                c.line().contains("--kube-context kind-deskrun"),
                "{}",
                c.line()
            );
        }
        if c.tool == "kubectl" && !c.argv.iter().any(|a| a == "version") {
            assert!(c.line().contains("--context kind-deskrun"), "{}", c.line());
        }
    }
    // The kind config on stdin mounts the cache root.
    let kind = calls
        .iter()
        .find(|c| c.line().contains("kind create cluster"))
        .unwrap();
    let kind_cfg = kind.stdin.as_deref().unwrap();
    assert!(
        kind_cfg.contains(&sb.cache_root.display().to_string()),
        "{kind_cfg}"
    );

    let st = status_json(&sb);
    assert_eq!(st["cluster"]["exists"], true);
    assert_eq!(st["controller"]["status"], "deployed");
    for inst in st["installations"].as_array().unwrap() {
        for i in inst["instances"].as_array().unwrap() {
            assert_eq!(i["release_status"], "deployed", "{i}");
            assert_eq!(i["up_to_date"], true, "{i}");
        }
    }

    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to do"));
    let calls = sb.calls();
    assert!(
        mutating(&calls).is_empty(),
        "no-op up mutated: {:?}",
        mutating(&calls)
    );
    assert!(
        calls.len() <= 4,
        "no-op up made {} calls: {:?}",
        calls.len(),
        calls.iter().map(Call::line).collect::<Vec<_>>()
    );
}

#[test]
fn one_changed_installation_gets_exactly_one_upgrade() {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    sb.reset_calls();
    // Same installation, another max: only docker-runner changes.
    sb.cmd()
        .args([
            "add",
            "docker-runner",
            "--replace",
            "--repository",
            "https://github.com/owner/repo",
        ])
        .args([
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/var/lib/docker",
            "--max-runners",
            "9",
        ])
        .arg("--auth-value-stdin")
        .write_stdin(TOKEN)
        .assert()
        .success();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("1 upgraded"));
    let calls = sb.calls();
    let m = mutating(&calls);
    assert_eq!(count(&calls, "helm upgrade"), 1, "{m:?}");
    assert_eq!(
        count(&calls, "helm upgrade --install docker-runner "),
        1,
        "{m:?}"
    );
    assert!(
        m.iter().all(|c| !c.contains("uninstall")),
        "upgrade in place: {m:?}"
    );
    assert!(m.len() <= 2, "{m:?}");
}

#[test]
fn removed_installation_is_uninstalled_with_its_configmap() {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    sb.cmd()
        .args(["remove", "docker-runner"])
        .assert()
        .success();
    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("1 removed"));
    let calls = sb.calls();
    assert_eq!(count(&calls, "helm uninstall docker-runner"), 1);
    assert_eq!(count(&calls, "privileged-hook-extension-docker-runner"), 1);
    let st = status_json(&sb);
    assert!(st["not_in_config"].as_array().unwrap().is_empty());
    sb.reset_calls();
    sb.cmd().arg("up").assert().success();
    assert!(mutating(&sb.calls()).is_empty());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd()
        .args(["up", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("create"))
        .stdout(predicate::str::contains("cluster/deskrun"))
        .stdout(predicate::str::contains("scale-set/docker-runner"))
        .stdout(predicate::str::contains("nothing was changed"));
    assert!(mutating(&sb.calls()).is_empty());
    sb.cmd().arg("up").assert().success();
    sb.cmd().args(["remove", "ci"]).assert().success();
    sb.reset_calls();
    let out = sb.cmd().args(["up", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unchanged  scale-set/docker-runner"),
        "{text}"
    );
    assert!(text.contains("remove     scale-set/ci-1"), "{text}");
    assert!(mutating(&sb.calls()).is_empty());
}

#[test]
fn down_variants() {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().arg("up").assert().success();
    sb.reset_calls();
    sb.cmd()
        .arg("down")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            sb.cache_root.display().to_string(),
        ));
    let calls = sb.calls();
    assert_eq!(count(&calls, "helm uninstall"), 4);
    assert_eq!(count(&calls, "helm uninstall arc"), 0);
    // The config is kept: up re-deploys.
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("4 created"));
    sb.reset_calls();
    sb.cmd().args(["down", "--controller"]).assert().success();
    assert_eq!(count(&sb.calls(), "helm uninstall arc"), 1);
    sb.reset_calls();
    sb.cmd()
        .args(["down", "--delete-cluster"])
        .assert()
        .success();
    assert_eq!(count(&sb.calls(), "kind delete cluster --name deskrun"), 1);
    let st = status_json(&sb);
    assert_eq!(st["cluster"]["exists"], false);
    sb.cmd()
        .arg("down")
        .assert()
        .success()
        .stdout(predicate::str::contains("no kind cluster"));
}

#[test]
fn missing_tool_is_named_with_how_to_install_it() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    std::fs::remove_file(sb.bin.join("helm")).unwrap();
    // Only the sandbox's bin and python3's directory on PATH, so no real helm.
    let python = which::which("python3").unwrap();
    let path = format!(
        "{}:{}",
        sb.bin.display(),
        python.parent().unwrap().display()
    );
    sb.cmd()
        .env("PATH", path)
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`helm` was not found on PATH"))
        .stderr(predicate::str::contains("https://helm.sh"));
}

#[test]
fn cache_not_mounted_in_the_node_stops_with_the_fix() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    sb.cmd().arg("up").assert().success();
    let host = sb.path().join("elsewhere");
    let spec = format!("{}:/root/.cache", host.display());
    sb.add(
        "b",
        &["--mode", "cached-privileged-kubernetes", "--cache", &spec],
    );
    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(host.display().to_string()))
        .stderr(predicate::str::contains(
            "deskrun down --delete-cluster && deskrun up",
        ));
    assert_eq!(count(&sb.calls(), "helm upgrade --install b "), 0);
    // After re-creating the cluster the mount is there and up converges.
    sb.cmd()
        .args(["down", "--delete-cluster"])
        .assert()
        .success();
    sb.cmd().arg("up").assert().success();
    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to do"));
}

#[test]
fn no_credential_in_any_argv_or_env_and_stdout_at_any_verbosity() {
    let sb = Sandbox::new();
    two_installations(&sb);
    for args in [
        vec!["up"],
        vec!["-v", "up"],
        vec!["-vv", "status"],
        vec!["-v", "down"],
    ] {
        let out = sb.cmd().args(&args).output().unwrap();
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains(TOKEN),
                "{args:?} printed the token"
            );
        }
    }
    let calls = sb.calls();
    assert!(!calls.is_empty());
    for c in &calls {
        assert!(!c.line().contains(TOKEN), "token in argv: {}", c.line());
        assert!(
            !c.env.to_string().contains(TOKEN),
            "token in env of {}",
            c.line()
        );
    }
    // The token reached helm only through stdin.
    assert!(
        calls
            .iter()
            .any(|c| c.tool == "helm" && c.stdin.as_deref().is_some_and(|s| s.contains(TOKEN)))
    );
}

#[test]
fn a_failing_helm_names_step_tool_and_stderr_and_rerun_converges() {
    let sb = Sandbox::new();
    two_installations(&sb);
    let before = sb.config_bytes();
    sb.set_faults(json!([{
        "tool": "helm", "match": "upgrade --install ci-2", "nth": 1,
        "action": "fail", "exit": 1, "stderr": "Error: context deadline exceeded (injected)"
    }]));
    sb.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("deploy scale set ci-2"))
        .stderr(predicate::str::contains("helm upgrade --install ci-2"))
        .stderr(predicate::str::contains(
            "context deadline exceeded (injected)",
        ));
    assert_eq!(sb.config_bytes(), before, "config must be untouched");
    sb.clear_faults();
    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("1 created"));
    sb.reset_calls();
    sb.cmd()
        .arg("up")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to do"));
}

#[test]
fn partial_up_deploys_only_the_named_installation_and_removes_nothing() {
    let sb = Sandbox::new();
    two_installations(&sb);
    sb.cmd().args(["up", "ci"]).assert().success();
    let calls = sb.calls();
    assert_eq!(count(&calls, "helm upgrade --install docker-runner"), 0);
    assert_eq!(count(&calls, "helm upgrade --install ci-1"), 1);
    sb.cmd().args(["up", "nope"]).assert().code(2);
}

#[test]
fn cluster_subcommands() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["cluster", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("absent"));
    sb.cmd()
        .args(["cluster", "create"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created"));
    sb.cmd()
        .args(["cluster", "create"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already exists"));
    sb.cmd()
        .args(["cluster", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("running"))
        .stdout(predicate::str::contains("mounted"));
    sb.cmd()
        .args(["cluster", "delete"])
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted"));
}

#[test]
fn local_chart_directories_from_flags_are_used_without_a_version() {
    let Some(shared) = common::shared_dir() else {
        eprintln!("skipped: ../shared absent (no local chart directories to point at)");
        return;
    };
    let sb = Sandbox::new();
    sb.add("a", &[]);
    let charts = shared.join("fixtures/arc-charts/0.14.2");
    let controller = charts.join("gha-runner-scale-set-controller");
    let scale_set = charts.join("gha-runner-scale-set");
    sb.cmd()
        .arg("up")
        .args(["--controller-chart", controller.to_str().unwrap()])
        .args(["--scale-set-chart", scale_set.to_str().unwrap()])
        .assert()
        .success();
    let calls = sb.calls();
    let install = calls
        .iter()
        .find(|c| c.line().contains("helm upgrade --install a "))
        .expect("scale set installed");
    assert!(
        install
            .argv
            .iter()
            .any(|a| a == scale_set.to_str().unwrap()),
        "{}",
        install.line()
    );
    assert!(
        !install.argv.iter().any(|a| a == "--version"),
        "{}",
        install.line()
    );
    // A bad version is refused before anything runs.
    sb.cmd()
        .args(["up", "--chart-version", ""])
        .assert()
        .code(2);
}

#[test]
fn a_tool_too_old_is_named_with_the_version_needed() {
    let sb = Sandbox::new();
    sb.add("a", &[]);
    sb.set_fake_config(json!({"versions": {"helm": "v3.12.3"}}));
    sb.cmd()
        .arg("up")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("helm 3.12.3"))
        .stderr(predicate::str::contains("too old"))
        .stderr(predicate::str::contains("3.13.0 or newer"));
    assert!(mutating(&sb.calls()).is_empty());
}
