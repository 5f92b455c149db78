//! `deskrun render --output-dir` checked against the real ARC charts, the real
//! Helm engine and the CRD schemas (`../shared/tools/arc-conformance`).
//!
//! `../shared` is not part of the project: without it these tests print a
//! one-line "skipped" notice and return. Exit 4 from the tool means the Helm
//! engine could not be downloaded, so nothing was checked: that is reported
//! as skipped too, never as passed.
//!
//! Every arc-render call costs a second or two, so all the cases share one
//! config and one output folder.

use crate::common::installations::{installation, job_settings};
use crate::common::{app, caches, pat};
use deskrun::config::Store;
use deskrun::model::{Cache, ClusterSettings, Installation, Mode, Provider};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/arc-conformance");
    if p.exists() {
        Some(p)
    } else {
        println!(
            "skipped: ../shared/tools/arc-conformance not found (the real-chart checks need ../shared)"
        );
        None
    }
}

/// Store `installations` in a fresh config (through the library, validated),
/// then `deskrun --config FILE render --output-dir DIR [--show-secrets]`.
fn render_dir(tmp: &Path, installations: Vec<(&str, Installation)>, show_secrets: bool) -> PathBuf {
    render_dir_on(tmp, |_| {}, installations, show_secrets)
}

/// [`render_dir`] with the cluster settings changed by `cluster` first.
fn render_dir_on(
    tmp: &Path,
    cluster: impl FnOnce(&mut ClusterSettings),
    installations: Vec<(&str, Installation)>,
    show_secrets: bool,
) -> PathBuf {
    let config = tmp.join("config.yaml");
    Store::new(&config)
        .update(|c| {
            cluster(&mut c.cluster);
            for (name, inst) in installations {
                c.installations.insert(name.into(), inst);
            }
            Ok(())
        })
        .expect("write config");
    let out = tmp.join("rendered");
    crate::common::render_dir(&config, &out, show_secrets);
    out
}

/// Labels and env, the settings that are plain values of the chart.
fn with_settings(mut inst: Installation) -> Installation {
    inst.labels = vec!["gpu".into(), "linux".into(), "a label with spaces".into()];
    inst.env = [
        ("CARGO_TERM_COLOR".to_string(), "always".to_string()),
        ("QUOTED".to_string(), "a: b #c \"d\"".to_string()),
    ]
    .into();
    inst
}

const RUNNER_IMAGE: &str = "registry.example.com/ci/runner:2.321.0";

/// A pinned runner image, and resources on every container the mode has
/// (a dind image too in dind mode).
fn with_resources(mut inst: Installation) -> Installation {
    use deskrun::model::{ContainerResources, Quantity};
    let res = |cpu: &str, mem: &str| ContainerResources {
        requests: [("cpu".to_string(), Quantity(cpu.into()))].into(),
        limits: [
            ("memory".to_string(), Quantity(mem.into())),
            ("ephemeral-storage".to_string(), Quantity("20Gi".into())),
        ]
        .into(),
    };
    inst.runner_image = Some(RUNNER_IMAGE.into());
    inst.resources.runner = res("250m", "1Gi");
    if inst.mode == Mode::Dind {
        inst.dind_image = Some("docker:27-dind".into());
        inst.resources.dind = res("1.5", "6Gi");
    } else {
        inst.resources.job = res("2", "8Gi");
    }
    inst
}

struct Outcome {
    code: i32,
    output: String,
}

/// Run arc-conformance over `dir`; `None` (after a "skipped" line) when the
/// Helm engine is not available.
fn conformance(tool: &Path, dir: &Path) -> Option<Outcome> {
    let out = Command::new(tool)
        .arg(dir)
        .output()
        .expect("run arc-conformance");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().unwrap_or(-1);
    if code == 4 {
        let last = output.lines().last().unwrap_or_default();
        println!(
            "skipped: arc-conformance could not download the Helm engine, nothing was checked ({last})"
        );
        return None;
    }
    Some(Outcome { code, output })
}

/// `N passed, M failed` from the last line.
fn tally(output: &str) -> (u32, u32) {
    let last = output.lines().last().unwrap_or_default();
    let nums: Vec<u32> = last
        .split([' ', ','])
        .filter_map(|w| w.parse().ok())
        .collect();
    match (nums.as_slice(), last.ends_with(" failed")) {
        ([p, f], true) => (*p, *f),
        _ => panic!("unexpected last line {last:?} of arc-conformance:\n{output}"),
    }
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn every_mode_passes_the_real_chart_and_schema() {
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        vec![
            ("k8s", installation(Mode::Kubernetes, 1, vec![], pat())),
            (
                "k8s-cached",
                installation(Mode::Kubernetes, 1, caches(), pat()),
            ),
            (
                "priv-app",
                installation(Mode::CachedPrivilegedKubernetes, 1, vec![], app()),
            ),
            (
                "priv-cached",
                installation(Mode::CachedPrivilegedKubernetes, 3, caches(), pat()),
            ),
            ("dind", installation(Mode::Dind, 1, vec![], pat())),
            (
                "dind-cached-app",
                installation(Mode::Dind, 1, caches(), app()),
            ),
            (
                "k8s-settings",
                with_settings(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "dind-settings",
                with_settings(installation(Mode::Dind, 1, vec![], pat())),
            ),
            (
                "k8s-res",
                with_resources(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "priv-res",
                with_resources(installation(
                    Mode::CachedPrivilegedKubernetes,
                    1,
                    vec![],
                    pat(),
                )),
            ),
            (
                "dind-res",
                with_resources(installation(Mode::Dind, 1, vec![], pat())),
            ),
        ],
        // The chart sees the real credential shape, as `up` passes it.
        true,
    );
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(
        out.code, 0,
        "arc-conformance failed (exit {}):\n{}",
        out.code, out.output
    );
    let (passed, failed) = tally(&out.output);
    assert_eq!(failed, 0, "{}", out.output);
    // controller + 13 instances (2 checks each) + 8 hook extensions
    // (k8s-cached, priv-app, priv-cached-1..3, k8s-settings, k8s-res, priv-res).
    assert!(passed > 0, "{}", out.output);
    assert_eq!(passed, 1 + 13 * 2 + 8, "{}", out.output);
    for instance in [
        "k8s",
        "k8s-cached",
        "priv-app",
        "priv-cached-1",
        "priv-cached-2",
        "priv-cached-3",
        "dind",
        "dind-cached-app",
        "k8s-settings",
        "dind-settings",
        "k8s-res",
        "priv-res",
        "dind-res",
    ] {
        assert!(
            out.output
                .contains(&format!("ok   {instance}: the scale-set chart renders")),
            "{instance} was not checked:\n{}",
            out.output
        );
    }
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn redacted_render_passes_too() {
    // `render` without --show-secrets must still give values the chart takes
    // (a non-empty placeholder), so that people can check them by hand.
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        vec![(
            "app",
            installation(Mode::CachedPrivilegedKubernetes, 1, caches(), app()),
        )],
        false,
    );
    std::fs::remove_dir_all(dir.join("controller")).unwrap();
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.output);
    assert_eq!(tally(&out.output), (3, 0), "{}", out.output);
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn the_check_detects_a_scale_set_name_over_45_characters() {
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        vec![("k8s", installation(Mode::Kubernetes, 1, vec![], pat()))],
        true,
    );
    // Only the scale set: the controller is checked by the test above.
    std::fs::remove_dir_all(dir.join("controller")).unwrap();
    let values = dir.join("k8s/values.yaml");
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&values).unwrap()).unwrap();
    let long = "a".repeat(46);
    doc["runnerScaleSetName"] = serde_yaml::Value::String(long);
    std::fs::write(&values, serde_yaml::to_string(&doc).unwrap()).unwrap();

    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(
        out.code, 1,
        "a 46-character runnerScaleSetName must fail:\n{}",
        out.output
    );
    let (_, failed) = tally(&out.output);
    assert!(failed >= 1, "{}", out.output);
    assert!(out.output.contains("FAIL k8s"), "{}", out.output);
    assert!(
        out.output.contains("up to 45 characters"),
        "failed for another reason than the name:\n{}",
        out.output
    );
}

/// The objects the real chart makes from `values` (`arc-render --json`),
/// or `None` (after a "skipped" line) without `../shared` or the engine.
fn chart_objects(values: &Path) -> Option<Vec<serde_json::Value>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let tool = root.join("tools/arc-render");
    if !tool.exists() {
        println!("skipped: ../shared/tools/arc-render not found");
        return None;
    }
    let chart = root.join("fixtures/arc-charts/0.14.2/gha-runner-scale-set");
    let out = Command::new(&tool)
        .arg(&chart)
        .arg(values)
        .arg("--json")
        .output()
        .expect("run arc-render");
    if out.status.code() == Some(4) {
        println!("skipped: arc-render could not download the Helm engine, nothing was checked");
        return None;
    }
    assert!(
        out.status.success(),
        "the chart refused {}: {}",
        values.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("arc-render prints JSON"))
}

/// The AutoscalingRunnerSet's spec among the chart's objects.
fn runner_set_spec(objects: &[serde_json::Value]) -> &serde_json::Value {
    &objects
        .iter()
        .find(|o| o["kind"] == "AutoscalingRunnerSet")
        .expect("the chart makes an AutoscalingRunnerSet")["spec"]
}

fn container<'a>(spec: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    spec["template"]["spec"][list]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} entry {name}: {spec}"))
}

fn env_value<'a>(container: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn labels_and_env_reach_the_autoscaling_runner_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        vec![
            (
                "k8s",
                with_settings(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "priv",
                with_settings(installation(
                    Mode::CachedPrivilegedKubernetes,
                    1,
                    caches(),
                    pat(),
                )),
            ),
            (
                "dind",
                with_settings(installation(Mode::Dind, 1, vec![], pat())),
            ),
            (
                "dind-cached",
                with_settings(installation(Mode::Dind, 1, caches(), pat())),
            ),
        ],
        true,
    );
    for instance in ["k8s", "priv", "dind", "dind-cached"] {
        let Some(objects) = chart_objects(&dir.join(instance).join("values.yaml")) else {
            return;
        };
        let spec = runner_set_spec(&objects);
        assert_eq!(
            spec["runnerScaleSetLabels"],
            serde_json::json!(["gpu", "linux", "a label with spaces"]),
            "{instance}"
        );
        let runner = container(spec, "containers", "runner");
        assert_eq!(
            env_value(runner, "CARGO_TERM_COLOR"),
            Some("always"),
            "{instance}"
        );
        assert_eq!(
            env_value(runner, "QUOTED"),
            Some("a: b #c \"d\""),
            "{instance}"
        );
    }
}

/// Helm reads YAML 1.1, where `no`, `on`, `y` are booleans. Installation
/// names that are such words (allowed with `--instances`, whose scale sets
/// are `no-1`, `no-2`; alone they are refused, since the chart itself writes
/// the scale-set name unquoted) end up in deskrun's labels and ConfigMaps;
/// everything deskrun writes quotes them, so the real Helm engine renders
/// every file and the objects carry the label `no`, not `false`. The same
/// values written by a YAML 1.2 emitter (serde_yaml, unquoted) give the label
/// `false`, which shows the check can fail.
#[test]
fn yaml11_words_as_names_render_through_the_real_helm_engine() {
    let Some(tool) = tool() else { return };
    let names = ["yes", "no", "on", "off", "y", "n"];
    let modes = [
        Mode::Kubernetes,
        Mode::CachedPrivilegedKubernetes,
        Mode::Dind,
    ];
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        names
            .iter()
            .zip(modes.iter().cycle())
            .map(|(n, m)| (*n, installation(*m, 2, caches(), pat())))
            .collect(),
        true,
    );
    std::fs::remove_dir_all(dir.join("controller")).unwrap();
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.output);
    // 12 scale sets (2 checks each) and the 8 hook extensions of the
    // kubernetes and privileged ones.
    assert_eq!(tally(&out.output), (12 * 2 + 8, 0), "{}", out.output);

    let values = dir.join("no-1/values.yaml");
    assert_eq!(installation_labels(&values), ["no"; 7]);
    // The negative control: the same values, unquoted.
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&values).unwrap()).unwrap();
    std::fs::write(&values, serde_yaml::to_string(&doc).unwrap()).unwrap();
    assert_eq!(installation_labels(&values), ["false"; 7]);
}

/// The `deskrun.dev/installation` label of every object the real chart
/// renders from `values`.
fn installation_labels(values: &Path) -> Vec<String> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let out = Command::new(shared.join("tools/arc-render"))
        .arg(shared.join("fixtures/arc-charts/0.14.2/gha-runner-scale-set"))
        .arg(values)
        .args(["--release", "no-1", "--namespace", "arc-systems", "--json"])
        .output()
        .expect("run arc-render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    objects
        .iter()
        .map(|o| {
            o["metadata"]["labels"]["deskrun.dev/installation"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn job_container_rule_and_glibc_compat_pass_the_real_chart_and_our_rule_wins() {
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut installations = job_settings();
    installations.push(("k8s", installation(Mode::Kubernetes, 1, vec![], pat())));
    let dir = render_dir(tmp.path(), installations, true);
    std::fs::remove_dir_all(dir.join("controller")).unwrap();
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    // Every values file renders, and every job-pod patch (hostPID/hostIPC,
    // initContainers, the emptyDir) fits the PodSpec schema.
    assert_eq!(out.code, 0, "{}", out.output);
    assert_eq!(tally(&out.output), (4 * 2 + 3, 0), "{}", out.output);

    // The chart adds ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER=true unless the
    // runner's env has it: the runner Helm would create has exactly ours.
    for (instance, want) in [
        ("k8s-glibc", "false"),
        ("priv-glibc", "false"),
        ("priv-required", "true"),
        ("k8s", "true"),
    ] {
        let Some(objects) = chart_objects(&dir.join(instance).join("values.yaml")) else {
            return;
        };
        let runner = container(runner_set_spec(&objects), "containers", "runner");
        let values: Vec<&str> = runner["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER")
            .map(|e| e["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, [want], "{instance}");
    }
}

#[test]
fn images_and_resources_reach_the_autoscaling_runner_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = render_dir(
        tmp.path(),
        vec![
            (
                "k8s",
                with_resources(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "priv",
                with_resources(installation(
                    Mode::CachedPrivilegedKubernetes,
                    1,
                    vec![],
                    pat(),
                )),
            ),
            (
                "dind",
                with_resources(installation(Mode::Dind, 1, vec![], pat())),
            ),
            (
                "dind-cached",
                with_resources(installation(Mode::Dind, 1, caches(), pat())),
            ),
        ],
        true,
    );
    for instance in ["k8s", "priv", "dind", "dind-cached"] {
        let Some(objects) = chart_objects(&dir.join(instance).join("values.yaml")) else {
            return;
        };
        let spec = runner_set_spec(&objects);
        let runner = container(spec, "containers", "runner");
        assert_eq!(runner["image"], RUNNER_IMAGE, "{instance}");
        assert_eq!(runner["resources"]["requests"]["cpu"], "250m", "{instance}");
        assert_eq!(runner["resources"]["limits"]["memory"], "1Gi", "{instance}");
        if instance == "priv" {
            // The novolume hooks start the job's helper containers from it.
            assert_eq!(
                env_value(runner, "ACTIONS_RUNNER_IMAGE"),
                Some(RUNNER_IMAGE)
            );
        }
        if instance.starts_with("dind") {
            let dind = container(spec, "initContainers", "dind");
            assert_eq!(dind["image"], "docker:27-dind", "{instance}");
            assert_eq!(dind["resources"]["requests"]["cpu"], "1.5", "{instance}");
            assert_eq!(dind["resources"]["limits"]["memory"], "6Gi", "{instance}");
            assert_eq!(
                container(spec, "initContainers", "init-dind-externals")["image"],
                RUNNER_IMAGE
            );
            // Exactly one dind container: the chart did not add its own.
            let dinds = spec["template"]["spec"]["initContainers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["name"] == "dind")
                .count();
            assert_eq!(dinds, 1, "{instance}");
        }
    }
}

#[test]
fn an_existing_cluster_with_claims_and_pinned_nodes_passes() {
    // Caches as claims in every mode, a node-pinned installation with a
    // directory of that node, and a pinned kubernetes installation whose only
    // hook extension is the nodeSelector.
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let claims: Vec<Cache> = caches()
        .into_iter()
        .map(|c| Cache {
            host_path: None,
            ..c
        })
        .collect();
    let pinned = |mut i: Installation| {
        i.node = Some("worker-1".into());
        i
    };
    let dir = render_dir_on(
        tmp.path(),
        |c| {
            c.provider = Provider::Existing;
            c.context = Some("team".into());
            c.cache_storage_class = "fast-ssd".into();
        },
        vec![
            (
                "k8s-claims",
                installation(Mode::Kubernetes, 1, claims.clone(), pat()),
            ),
            (
                "k8s-pinned",
                pinned(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "priv-claims",
                installation(Mode::CachedPrivilegedKubernetes, 2, claims.clone(), pat()),
            ),
            (
                "priv-pinned",
                pinned(installation(
                    Mode::CachedPrivilegedKubernetes,
                    1,
                    caches(),
                    app(),
                )),
            ),
            (
                "dind-claims",
                pinned(installation(Mode::Dind, 1, caches(), pat())),
            ),
        ],
        true,
    );
    assert!(!dir.join("kind-cluster.yaml").exists());
    assert!(dir.join("priv-claims-2/claim-cache-1.yaml").exists());
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.output);
    // controller + 6 instances (2 checks each) + 5 hook extensions.
    assert_eq!(tally(&out.output), (1 + 6 * 2 + 5, 0), "{}", out.output);
}

#[test]
fn the_proxy_reaches_the_autoscaling_runner_set_with_its_secret_by_name() {
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    Store::new(&config)
        .update(|c| {
            c.cluster.proxy = Some(deskrun::model::ProxySettings {
                http: Some("http://proxy.example.com:3128".into()),
                https: Some("http://user:pa%24%24word@proxy.example.com:3128".into()),
                no_proxy: vec![".corp.example.com".into()],
            });
            c.installations.insert(
                "k8s".into(),
                installation(Mode::Kubernetes, 1, vec![], pat()),
            );
            c.installations
                .insert("dind".into(), installation(Mode::Dind, 1, vec![], pat()));
            Ok(())
        })
        .expect("write config");
    let dir = tmp.path().join("rendered");
    crate::common::render_dir(&config, &dir, true);
    std::fs::remove_dir_all(dir.join("controller")).unwrap();
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.output);
    assert_eq!(tally(&out.output).1, 0, "{}", out.output);
    for instance in ["k8s", "dind"] {
        let Some(objects) = chart_objects(&dir.join(instance).join("values.yaml")) else {
            return;
        };
        let proxy = &runner_set_spec(&objects)["proxy"];
        assert_eq!(proxy["http"]["url"], "http://proxy.example.com:3128");
        assert!(
            proxy["http"].get("credentialSecretRef").is_none(),
            "{proxy}"
        );
        assert_eq!(proxy["https"]["url"], "http://proxy.example.com:3128");
        assert_eq!(proxy["https"]["credentialSecretRef"], "deskrun-proxy-https");
        let no_proxy = proxy["noProxy"].as_array().unwrap();
        assert!(no_proxy.contains(&".corp.example.com".into()), "{proxy}");
        assert!(no_proxy.contains(&"10.96.0.1".into()), "{proxy}");
        // No object the chart makes carries the password.
        let text = serde_json::to_string(&objects).unwrap();
        assert!(!text.contains("pa$$word") && !text.contains("pa%24%24word"));
    }
    let secret = std::fs::read_to_string(dir.join("deskrun-proxy-https.yaml")).unwrap();
    let secret: serde_yaml::Value = serde_yaml::from_str(&secret).unwrap();
    assert_eq!(secret["stringData"]["username"], "user");
    assert_eq!(secret["stringData"]["password"], "pa$$word");
    assert_eq!(
        secret["stringData"]["url"],
        "http://user:pa%24%24word@proxy.example.com:3128"
    );
    // The kubernetes mode's job container gets the proxy through the hook
    // extension (checked against the PodSpec schema above): the URL with
    // credentials from the Secret, never in the ConfigMap.
    let cm: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join("k8s/hook-extension.yaml")).unwrap(),
    )
    .unwrap();
    let content = cm["data"]["content"].as_str().unwrap();
    assert!(!content.contains("pa$$word") && !content.contains("pa%24%24word"));
    let patch: serde_json::Value = serde_yaml::from_str(content).unwrap();
    let env = patch["spec"]["containers"][0]["env"].as_array().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
    for name in ["HTTPS_PROXY", "https_proxy"] {
        assert_eq!(
            var(name).unwrap()["valueFrom"]["secretKeyRef"],
            serde_json::json!({"name": "deskrun-proxy-https", "key": "url"}),
            "{name}"
        );
    }
    for name in ["HTTP_PROXY", "http_proxy"] {
        assert_eq!(var(name).unwrap()["value"], "http://proxy.example.com:3128");
    }
    let no_proxy = var("NO_PROXY").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(no_proxy.starts_with(".corp.example.com,"), "{no_proxy}");
    assert!(no_proxy.contains(",.svc,"), "{no_proxy}");
    assert!(!dir.join("dind/hook-extension.yaml").exists());
}

/// A GitHub Enterprise Server with a private CA (issue 16), in every mode:
/// the chart takes `githubServerTLS`, the CRD schema takes the runner set,
/// the job-pod patch with the CA mount fits the PodSpec schema, and the
/// chart mounts the ConfigMap into the runner container and lets the
/// controller read it.
#[test]
#[cfg_attr(
    not(deskrun_shared),
    ignore = "needs ../shared (the real ARC charts and tools)"
)]
fn a_private_github_ca_passes_the_real_chart_and_reaches_the_runner() {
    let Some(tool) = tool() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ca = include_str!("../fixtures/github-ca-1.pem");
    let ghes = |mut inst: Installation| {
        inst.repository = "https://ghes.example.com/owner/repo".into();
        inst.github_ca = Some(ca.into());
        inst
    };
    let dir = render_dir(
        tmp.path(),
        vec![
            (
                "k8s",
                ghes(installation(Mode::Kubernetes, 1, vec![], pat())),
            ),
            (
                "priv",
                ghes(installation(
                    Mode::CachedPrivilegedKubernetes,
                    2,
                    caches(),
                    pat(),
                )),
            ),
            ("dind", ghes(installation(Mode::Dind, 1, vec![], pat()))),
            (
                "dind-cached",
                ghes(installation(Mode::Dind, 1, caches(), app())),
            ),
        ],
        false,
    );
    let Some(out) = conformance(&tool, &dir) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.output);
    // The controller, 5 scale sets (2 checks each) and the 3 hook
    // extensions of the kubernetes modes (the CA alone gives k8s one).
    assert_eq!(tally(&out.output), (1 + 5 * 2 + 3, 0), "{}", out.output);

    for inst in ["k8s", "priv-1", "priv-2", "dind", "dind-cached"] {
        let cm_name = format!("github-ca-{inst}");
        let cm: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(dir.join(inst).join("github-ca.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!(cm["metadata"]["name"].as_str(), Some(cm_name.as_str()));
        assert_eq!(cm["data"]["ca.crt"].as_str(), Some(ca));

        let Some(objects) = chart_objects(&dir.join(inst).join("values.yaml")) else {
            return;
        };
        let spec = runner_set_spec(&objects);
        assert_eq!(
            spec["githubServerTLS"]["certificateFrom"]["configMapKeyRef"],
            serde_json::json!({"name": cm_name, "key": "ca.crt"}),
            "{inst}"
        );
        let runner = container(spec, "containers", "runner");
        let mount = runner["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "github-server-tls-cert")
            .unwrap_or_else(|| panic!("{inst}: no CA mount in {runner}"));
        assert_eq!(
            mount["mountPath"], "/usr/local/share/ca-certificates/ca.crt",
            "{inst}"
        );
        let env = |name: &str| {
            runner["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].clone())
        };
        assert_eq!(
            env("NODE_EXTRA_CA_CERTS"),
            Some("/usr/local/share/ca-certificates/ca.crt".into()),
            "{inst}"
        );
        assert_eq!(env("RUNNER_UPDATE_CA_CERTS"), Some("1".into()), "{inst}");
        let volume = spec["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "github-server-tls-cert")
            .unwrap_or_else(|| panic!("{inst}: no CA volume"));
        assert_eq!(volume["configMap"]["name"], cm_name.as_str(), "{inst}");
        // The controller reads the ConfigMap with the manager Role's rights.
        let reads_configmaps = objects.iter().any(|o| {
            o["kind"] == "Role"
                && o["rules"].as_array().is_some_and(|rules| {
                    rules.iter().any(|r| {
                        r["resources"] == serde_json::json!(["configmaps"])
                            && r["verbs"].as_array().unwrap().contains(&"get".into())
                    })
                })
        });
        assert!(
            reads_configmaps,
            "{inst}: no Role lets the controller read ConfigMaps"
        );
    }
}
