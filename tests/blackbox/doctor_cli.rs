//! `deskrun doctor` and `up`'s GitHub check through the built binary: the
//! fake toolchain on PATH, a fake GitHub API on 127.0.0.1 named by
//! `DESKRUN_GITHUB_API_URL`, proxies from the environment. Exit codes, the
//! JSON shape, and that no credential is printed.

use crate::common::github::FakeServer;
use crate::common::{Sandbox, TOKEN};
use deskrun::github::fake::{Access, FakeGithub, FakeToken};
use serde_json::Value;
use std::sync::atomic::Ordering;

fn github() -> FakeGithub {
    FakeGithub::new().token(
        FakeToken::classic(TOKEN, "octocat", &["repo"]).access("repos/owner/repo", Access::Admin),
    )
}

/// `deskrun ARGS` against `api`, with no proxy from the environment.
fn deskrun(sb: &Sandbox, api: &str, args: &[&str]) -> std::process::Output {
    let mut c = sb.cmd();
    c.env("DESKRUN_GITHUB_API_URL", api)
        .env_remove("DESKRUN_SKIP_GITHUB_CHECK");
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        c.env_remove(v);
    }
    c.args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn add_bad(sb: &Sandbox) {
    sb.cmd()
        .args([
            "add",
            "bad",
            "--repository",
            "https://github.com/owner/repo",
            "--auth-value-stdin",
        ])
        .write_stdin("revoked-token-value\n")
        .assert()
        .success();
}

pub fn doctor_exits_0_with_warnings_1_on_a_failure_2_on_bad_usage() {
    let server = FakeServer::start(github());
    let sb = Sandbox::new();
    sb.add("good", &[]);

    let o = deskrun(&sb, &server.url, &["doctor", "--output", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fails: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(fails.is_empty(), "{fails:#?}\n{}", text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_ne!(report["status"], "fail");
    let runners = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "github.runners")
        .expect("the runners check");
    assert_eq!(runners["status"], "ok");
    assert_eq!(runners["subject"], "good");

    add_bad(&sb);
    let o = deskrun(&sb, &server.url, &["doctor"]);
    assert_eq!(o.status.code(), Some(1));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(out.contains("fail  github.credential"), "{out}");
    assert!(out.contains("bad: GitHub refused the token"), "{out}");
    assert!(out.contains("fix: create a new token"), "{out}");
    assert!(
        err.contains("doctor: ") && err.contains("1 failure"),
        "{err}"
    );
    assert!(!err.contains("error:"), "the report says it all: {err}");
    for s in [&out, &err] {
        assert!(!s.contains("revoked-token-value") && !s.contains(TOKEN));
    }

    // Only the named installation's credential is checked.
    let before = server.fake.requests().len();
    let o = deskrun(&sb, &server.url, &["doctor", "good"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert_eq!(server.fake.requests().len(), before + 2);

    let o = deskrun(&sb, &server.url, &["doctor", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no installation named \"nope\""));
    let o = deskrun(&sb, &server.url, &["doctor", "--output", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

pub fn doctor_offline_contacts_nobody() {
    let server = FakeServer::start(github());
    let sb = Sandbox::new();
    add_bad(&sb);
    let o = deskrun(&sb, &server.url, &["doctor", "--offline", "-o", "json"]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let github: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subject"] == "bad")
        .collect();
    assert_eq!(github.len(), 1);
    assert_eq!(github[0]["status"], "skip");
    assert!(server.fake.requests().is_empty());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

pub fn up_stops_a_refused_installation_before_helm_and_deploys_the_rest() {
    let server = FakeServer::start(github());
    let sb = Sandbox::new();
    sb.add("good", &[]);
    add_bad(&sb);
    let o = deskrun(&sb, &server.url, &["up"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("installation bad was not deployed"), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("revoked-token-value"));
    let calls: Vec<String> = sb.calls().iter().map(|c| c.line()).collect();
    assert!(
        calls
            .iter()
            .any(|l| l.starts_with("helm upgrade --install good ")),
        "{calls:#?}"
    );
    assert!(
        !calls
            .iter()
            .any(|l| l.starts_with("helm upgrade --install bad ")),
        "{calls:#?}"
    );

    // --skip-github-check deploys it (and asks GitHub nothing).
    let before = server.fake.requests().len();
    let o = deskrun(&sb, &server.url, &["up", "--skip-github-check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(server.fake.requests().len(), before);

    // Nothing left to do: no request either.
    let o = deskrun(&sb, &server.url, &["up"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("nothing to do"));
    assert_eq!(server.fake.requests().len(), before);
}

pub fn an_unreachable_github_is_a_note_and_up_goes_on() {
    let sb = Sandbox::new();
    sb.add("good", &[]);
    let o = deskrun(&sb, &crate::common::github::refused_url(), &["up"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("note: installation good: GitHub could not be reached"),
        "{err}"
    );
}

pub fn the_binary_uses_the_proxy_from_the_environment() {
    let server = FakeServer::start(github());
    let sb = Sandbox::new();
    sb.add("good", &[]);
    // The API host does not resolve: only the proxy (the fake) can answer.
    let o = sb
        .cmd()
        .env("DESKRUN_GITHUB_API_URL", "http://api.deskrun.invalid")
        .env("http_proxy", format!("http://{}", server.authority()))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .args(["doctor", "--output", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let runners = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "github.runners")
        .cloned();
    assert_eq!(
        runners.map(|c| c["status"].clone()),
        Some("ok".into()),
        "{report:#}"
    );
    assert_eq!(server.proxied.load(Ordering::SeqCst), 2);
}

/// On an existing cluster the binary runs neither docker nor kind, and the
/// exit code follows the cluster checks: 0 when nothing failed, 1 when the
/// context lacks a permission `up` needs.
pub fn doctor_on_an_existing_cluster_runs_no_docker_or_kind() {
    let sb = Sandbox::new();
    sb.machine(|m| {
        m.world.create_existing("team", &["worker-1"]);
    });
    sb.cmd().args(["cluster", "use", "team"]).assert().success();
    sb.add("a", &[]);
    sb.reset_calls();
    let doctor = || {
        let o = sb
            .cmd()
            .args(["doctor", "--offline", "--output", "json"])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        (o.status.code(), report, text(&o.stderr))
    };
    let (code, report, err) = doctor();
    assert_eq!(code, Some(0), "{report:#}\n{err}");
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"cluster.permissions") && !ids.contains(&"tool.docker"),
        "{ids:?}"
    );
    let tools: Vec<String> = sb.calls().into_iter().map(|c| c.tool).collect();
    assert!(tools.iter().any(|t| t == "kubectl"), "{tools:?}");
    assert!(
        tools.iter().all(|t| t != "docker" && t != "kind"),
        "{tools:?}"
    );

    sb.machine(|m| {
        m.world
            .cluster_mut("team")
            .unwrap()
            .denied
            .insert("create configmaps".into());
    });
    let (code, report, err) = doctor();
    assert_eq!(code, Some(1), "{report:#}\n{err}");
    let perm = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "cluster.permissions")
        .unwrap();
    assert_eq!(perm["status"], "fail");
    assert!(
        perm["message"]
            .as_str()
            .unwrap()
            .contains("create configmaps in namespace arc-systems"),
        "{perm}"
    );
}
