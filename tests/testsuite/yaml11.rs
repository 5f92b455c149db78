//! Everything deskrun writes for a tool means the same to a YAML 1.1 reader
//! (Helm, kubectl and kind use go-yaml v2) as to deskrun's YAML 1.2 reader.
//!
//! The YAML 1.1 reader here is PyYAML (`python3 -c 'import yaml'`), which
//! resolves `yes`, `on`, `0x1F`, `1_000`, `1:30`, `.inf` and dates the way
//! YAML 1.1 says. Without it these tests print "skipped" and return. The real
//! Helm engine check is in `tests/testsuite/conformance.rs`.

use crate::common::{PEM, caches};
use deskrun::config::Store;
use deskrun::model::{Auth, Cache, Installation, Mode};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value as Json;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Load each file with PyYAML; `content` keys (a ConfigMap's embedded YAML)
/// are loaded too. Timestamps and other non-JSON values come back as
/// `<type value>` strings, so they never equal what deskrun meant.
const LOAD: &str = r#"
import json, sys, yaml
def load(text):
    doc = yaml.safe_load(text)
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and isinstance(doc["data"].get("content"), str):
        doc["data"]["content"] = yaml.safe_load(doc["data"]["content"])
    return doc
out = [load(open(p, encoding="utf-8").read()) for p in sys.argv[1:]]
print(json.dumps(out, default=lambda o: "<%s %s>" % (type(o).__name__, o)))
"#;

fn pyyaml() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: python3 with PyYAML (a YAML 1.1 reader) is not installed");
    }
    ok
}

fn yaml11_load(files: &[PathBuf]) -> Vec<Json> {
    let out = Command::new("python3")
        .args(["-c", LOAD])
        .args(files)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What deskrun's own (YAML 1.2) reader sees, with `content` loaded too.
fn yaml12_load(path: &Path) -> Json {
    let mut doc: Json = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(Json::String(content)) = doc.pointer("/data/content") {
        let inner: Json = serde_yaml::from_str(content).unwrap();
        doc["data"]["content"] = inner;
    }
    doc
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn inst(mode: Mode, instances: u32, caches: Vec<Cache>, auth: Auth) -> Installation {
    Installation {
        repository: "https://github.com/owner/repo".into(),
        mode,
        min_runners: 1,
        max_runners: 1,
        instances,
        caches,
        auth,
        ..Default::default()
    }
}

/// A config full of strings that YAML 1.1 reads as something else: names
/// that are booleans, a cluster called `no`, a token that is a float in
/// YAML 1.1 (digits and one `e`, as an old 40-hex token can be), a GitHub
/// App id `1e5` and an installation id with a leading zero (octal).
#[test]
fn everything_deskrun_writes_reads_the_same_in_yaml_1_1() {
    if !pyyaml() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    let float_token = "1234567890e1234567890123456789012345678";
    Store::new(&config)
        .update(|c| {
            c.cluster.name = "no".into();
            let modes = [
                Mode::Kubernetes,
                Mode::CachedPrivilegedKubernetes,
                Mode::Dind,
            ];
            for (name, mode) in ["yes", "no", "on", "off", "y", "n"]
                .iter()
                .zip(modes.iter().cycle())
            {
                let mut i = inst(
                    *mode,
                    2,
                    caches(),
                    Auth::Pat {
                        token: float_token.into(),
                    },
                );
                // Labels and env values a user may well write.
                i.labels = vec!["on".into(), "1_000".into(), "2024-01-02".into()];
                i.env = [
                    ("DEBUG", "yes"),
                    ("MASK", "0o777"),
                    ("AT", "1:30"),
                    ("N", ".inf"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                c.installations.insert((*name).into(), i);
            }
            c.installations.insert(
                "app".into(),
                inst(
                    Mode::CachedPrivilegedKubernetes,
                    1,
                    vec![Cache {
                        path: "/on".into(),
                        host_path: Some("/srv/1_000".into()),
                    }],
                    Auth::GithubApp {
                        app_id: "1e5".into(),
                        installation_id: "0123".into(),
                        private_key: PEM.into(),
                    },
                ),
            );
            Ok(())
        })
        .unwrap();
    let out = tmp.path().join("rendered");
    crate::common::render_dir(&config, &out, true);
    // What `deskrun list --output yaml` prints.
    let list = tmp.path().join("list.yaml");
    let listed = deskrun::ops::list::list(&Store::new(&config).load().unwrap());
    std::fs::write(&list, deskrun::yaml::to_string(&listed).unwrap()).unwrap();

    let mut files = vec![config.clone(), list];
    files_under(&out, &mut files);
    // kind config, registry mirrors, controller, 13 scale sets, 9 hook
    // extensions, config, list.
    assert_eq!(files.len(), 1 + 1 + 1 + 13 + 9 + 2, "{files:?}");
    let yaml11 = yaml11_load(&files);
    for (path, doc11) in files.iter().zip(&yaml11) {
        assert_eq!(
            doc11,
            &yaml12_load(path),
            "{} reads differently in YAML 1.1:\n{}",
            path.display(),
            std::fs::read_to_string(path).unwrap()
        );
    }
    // The strings really were the tricky ones.
    let values = &yaml11[files
        .iter()
        .position(|p| p.ends_with("no-1/values.yaml"))
        .unwrap()];
    assert_eq!(values["githubConfigSecret"]["github_token"], float_token);
    assert_eq!(values["labels"]["deskrun.dev/installation"], "no");
    let text = values.to_string();
    for v in [
        "\"1:30\"",
        "\"0o777\"",
        "\"1_000\"",
        "\"2024-01-02\"",
        "\".inf\"",
    ] {
        assert!(text.contains(v), "{v} in {text}");
    }
}

/// Thousands of generated strings, weighted towards YAML's special
/// characters, as list items and as keys: deskrun's writer must give them
/// back unchanged through a YAML 1.1 reader.
#[test]
fn generated_strings_survive_a_yaml_1_1_reader() {
    if !pyyaml() {
        return;
    }
    let piece = proptest::prop_oneof![
        4 => proptest::sample::select(vec![
            "y", "n", "yes", "No", "ON", "off", "true", "null", "~", "0", "7", "0x", "0o", "0b",
            "1_0", ":", ":3", "1:30", ".", ".inf", ".NaN", "e", "E+", "-", "+", "2001-12-14",
            "t", "Z", " ", "#", "'", "\"", "\\", "\n", "\t", "<<", "=", "&", "*", "!", "%", "@",
            "`", "|", ">", "?", ",", "[", "]", "{", "}", "é", "\u{feff}", "\u{2028}", "\u{85}",
            "a", "B", "/", "_",
        ])
        .prop_map(String::from),
        1 => "[a-z0-9]{1,4}".prop_map(String::from),
    ];
    let strategy = proptest::collection::vec(
        proptest::collection::vec(piece, 1..5).prop_map(|p| p.concat()),
        3000,
    );
    let mut runner = TestRunner::deterministic();
    let strings = strategy.new_tree(&mut runner).unwrap().current();
    let mut map = serde_yaml::Mapping::new();
    for s in &strings {
        map.insert(Value::String(s.clone()), Value::String(s.clone()));
    }
    let doc = Value::Sequence(vec![
        Value::Sequence(strings.iter().cloned().map(Value::String).collect()),
        Value::Mapping(map),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strings.yaml");
    std::fs::write(&path, deskrun::yaml::to_string(&doc).unwrap()).unwrap();
    let loaded = yaml11_load(std::slice::from_ref(&path));
    let want: Json = serde_json::to_value(&doc).unwrap();
    assert_eq!(loaded[0][0], want[0]);
    assert_eq!(loaded[0][1], want[1]);
    // Sanity: the generator did produce strings YAML 1.1 misreads unquoted.
    assert!(
        strings
            .iter()
            .any(|s| s == "yes" || s == "1:30" || s == "0")
    );
}
