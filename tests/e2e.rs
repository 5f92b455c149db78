//! End-to-end against a real kind cluster. Runs only with `DESKRUN_E2E=1`
//! on a machine with Docker, kind, helm and kubectl:
//!
//!     DESKRUN_E2E=1 cargo test --test e2e -- --nocapture
//!
//! With `DESKRUN_E2E_REPOSITORY` and `DESKRUN_E2E_TOKEN` set it registers a
//! real scale set and waits for its listener; without them it deploys with a
//! dummy token and checks everything up to the controller accepting the
//! AutoscalingRunnerSet. It uses its own cluster name (`deskrun-e2e`) and
//! config, and deletes the cluster at the end. The registry mirrors are the
//! machine's own (default names and data directory), and are kept.

use std::process::Command;
use std::time::{Duration, Instant};

fn enabled() -> bool {
    if std::env::var("DESKRUN_E2E").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "skipped: the real-cluster e2e suite runs only with DESKRUN_E2E=1 (needs Docker, kind, helm, kubectl)"
    );
    false
}

struct E2e {
    dir: tempfile::TempDir,
}

impl E2e {
    fn deskrun(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new(env!("CARGO_BIN_EXE_deskrun"))
            .args(args)
            .env("DESKRUN_CONFIG", self.dir.path().join("config.yaml"))
            .output()
            .expect("run deskrun");
        eprintln!(
            "$ deskrun {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        let _ = self.deskrun(&["cluster", "delete"]);
    }
}

#[test]
#[cfg_attr(
    not(deskrun_e2e),
    ignore = "needs a real cluster (Docker, kind, helm, kubectl): DESKRUN_E2E=1 cargo test --test e2e"
)]
fn real_cluster_round_trip() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "version: 1\ncluster:\n  name: deskrun-e2e\n  cache_root: {}\n",
            dir.path().join("cache").display()
        ),
    )
    .unwrap();
    let e = E2e { dir };
    let repo = std::env::var("DESKRUN_E2E_REPOSITORY")
        .unwrap_or_else(|_| "https://github.com/deskrun-e2e/placeholder".into());
    let token = std::env::var("DESKRUN_E2E_TOKEN").unwrap_or_else(|_| "e2e-dummy-token".into());
    let token_file = e.dir.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let token_path = token_file.display().to_string();
    let add = e.deskrun(&[
        "add",
        "e2e-docker",
        "--repository",
        &repo,
        "--mode",
        "cached-privileged-kubernetes",
        "--cache",
        "/var/lib/docker",
        "--auth-value-file",
        &token_path,
    ]);
    assert!(add.status.success());

    // A dummy token would (rightly) be refused by up's GitHub check.
    let first_up: &[&str] = if std::env::var("DESKRUN_E2E_TOKEN").is_ok() {
        &["up"]
    } else {
        &["up", "--skip-github-check"]
    };
    let up = e.deskrun(first_up);
    assert!(up.status.success(), "first up failed");
    let again = e.deskrun(&["up"]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
        "second up must be a no-op"
    );

    if std::env::var("DESKRUN_E2E_TOKEN").is_ok() {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let st = e.deskrun(&["status", "--output", "json"]);
            let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
            let phase = v["installations"][0]["instances"][0]["listener"]
                .as_str()
                .map(String::from);
            if phase.as_deref() == Some("Running") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "listener never reached Running: {phase:?}"
            );
            std::thread::sleep(Duration::from_secs(5));
        }
    }
    let out = e.deskrun(&["status", "--output", "json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&token), "status leaked the token");
    // The default registry mirrors (shared with this machine's own deskrun:
    // same names, same data under ~/.cache/deskrun/registry) run, and the
    // new cluster uses them.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mirror_notice"].is_null(), "{}", v["mirror_notice"]);
    for m in v["mirrors"].as_array().unwrap() {
        assert_eq!(m["running"], true, "{m}");
    }

    let down = e.deskrun(&["down", "--delete-cluster"]);
    assert!(down.status.success());
    let st = e.deskrun(&["status", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    for m in v["mirrors"].as_array().unwrap() {
        assert_eq!(
            m["running"], true,
            "down --delete-cluster keeps the mirrors: {m}"
        );
    }
}
