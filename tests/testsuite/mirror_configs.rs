//! Registry mirrors, rendered: the kind config `up` gives kind, checked by
//! `../shared/tools/kind-config-check` (kind's v1alpha4 types decoded
//! strictly, containerd patches parsed as TOML), and the `hosts.toml` files
//! parsed by a real TOML parser.

use crate::common::{caches, pat, shared_dir};
use deskrun::mirrors::{CERTS_D, hosts_file, specs};
use deskrun::model::{Config, Installation, Mode};
use deskrun::render::{kind_cluster, kind_hosts_mount, kind_mounts};
use deskrun::validate::validate_config;
use serde_yaml::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn config(mirrors: &[&str], mirror_root: Option<&str>, with_caches: bool) -> Config {
    let mut c = Config::default();
    c.cluster.registry_mirrors = mirrors.iter().map(|s| s.to_string()).collect();
    c.cluster.mirror_root = mirror_root.map(String::from);
    c.installations.insert(
        "r".into(),
        Installation {
            repository: "https://github.com/owner/repo".into(),
            mode: Mode::CachedPrivilegedKubernetes,
            min_runners: 1,
            max_runners: 1,
            instances: 1,
            caches: if with_caches { caches() } else { vec![] },
            auth: pat(),
            ..Default::default()
        },
    );
    validate_config(&c).expect("test config is valid")
}

/// Run a checker over `input` on stdin: (success, stdout + stderr).
fn run_on_stdin(cmd: &mut Command, input: &str) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the checker");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn kind_config_check(yaml: &str) -> Option<(bool, String)> {
    let Some(shared) = shared_dir() else {
        println!("skipped: ../shared/tools/kind-config-check not found (needs ../shared)");
        return None;
    };
    let tool = shared.join("tools/kind-config-check");
    Some(run_on_stdin(Command::new(tool).arg("-"), yaml))
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn rendered_kind_configs_pass_kinds_strict_decoding() {
    let cases = [
        (
            "default mirrors, default root",
            config(&["docker.io", "ghcr.io"], None, false),
        ),
        ("mirrors off", config(&[], None, true)),
        (
            "custom mirror root and cache paths",
            config(
                &["docker.io", "ghcr.io", "registry.example.com:5000"],
                Some("/srv/registry mirrors #1"),
                true,
            ),
        ),
    ];
    for (what, c) in cases {
        let yaml = serde_yaml::to_string(&kind_cluster(&c).unwrap()).unwrap();
        let Some((ok, report)) = kind_config_check(&yaml) else {
            return;
        };
        assert!(ok, "{what}: kind-config-check refused:\n{report}\n{yaml}");
        assert!(report.contains(" passed, 0 failed"), "{what}: {report}");
    }
}

/// The checker itself is not a rubber stamp: a broken patch and an unknown
/// field are refused.
#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn kind_config_check_refuses_a_broken_patch() {
    let c = config(&["docker.io"], Some("/srv/m"), false);
    let mut doc = kind_cluster(&c).unwrap();
    doc["containerdConfigPatches"] = Value::Sequence(vec!["[plugins.\"cri\"\nx = ".into()]);
    let yaml = serde_yaml::to_string(&doc).unwrap();
    let Some((ok, report)) = kind_config_check(&yaml) else {
        return;
    };
    assert!(!ok, "a patch that is not TOML must fail:\n{report}");
}

#[test]
fn mirrors_add_the_containerd_patch_and_the_hosts_mount() {
    let c = config(&["docker.io", "ghcr.io"], Some("/srv/m"), true);
    let doc = kind_cluster(&c).unwrap();
    let patches = doc["containerdConfigPatches"].as_sequence().unwrap();
    assert_eq!(patches.len(), 1);
    let patch = patches[0].as_str().unwrap();
    assert!(
        patch.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry]")
            && patch.contains("config_path = \"/etc/containerd/certs.d\""),
        "{patch}"
    );
    assert_eq!(
        kind_hosts_mount(&doc).as_deref(),
        Some("/srv/m/_containerd/deskrun")
    );
    let mount = doc["nodes"][0]["extraMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["containerPath"].as_str() == Some(CERTS_D))
        .unwrap();
    assert_eq!(mount["readOnly"], Value::Bool(true));
    // The hosts mount is not a cache mount: it is not created as a cache
    // directory nor required to be at the same path.
    assert!(!kind_mounts(&doc).iter().any(|p| p == CERTS_D));

    let off = kind_cluster(&config(&[], Some("/srv/m"), true)).unwrap();
    assert!(off.get("containerdConfigPatches").is_none());
    assert_eq!(kind_hosts_mount(&off), None);
    // Only the mirror parts differ.
    assert_eq!(kind_mounts(&off), kind_mounts(&doc));
}

#[test]
fn hosts_toml_parses_as_toml_with_the_mirror_as_host() {
    let c = config(
        &["docker.io", "ghcr.io", "registry.example.com:5000"],
        Some("/srv/m"),
        false,
    );
    let python = Command::new("python3")
        .args(["-c", "import tomllib"])
        .status();
    if !matches!(python, Ok(s) if s.success()) {
        println!("skipped: python3 with tomllib (3.11+) not found");
        return;
    }
    for spec in specs(&c.cluster).unwrap() {
        let file = hosts_file(&spec);
        let (ok, out) = run_on_stdin(
            Command::new("python3").args([
                "-c",
                "import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))",
            ]),
            &file.text,
        );
        assert!(ok, "{}: not TOML: {out}\n{}", file.path, file.text);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["server"], spec.remote_url.as_str(), "{}", file.path);
        let host = &parsed["host"][spec.endpoint().as_str()];
        assert_eq!(
            host["capabilities"],
            serde_json::json!(["pull", "resolve"]),
            "{}: {parsed}",
            file.path
        );
        assert_eq!(file.path, format!("{}/hosts.toml", spec.upstream));
    }
}
