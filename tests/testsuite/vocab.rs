//! Validation errors name a field the way the user wrote it: the flag for
//! `deskrun add`, the key path for the config file, the Go JSON key for
//! `config import`. One table over every installation field and each
//! source, all in-process (`ops::add::add`, `Store::load`, `ops::import`).

use deskrun::config::Store;
use deskrun::model::{Auth, Cache, Config, Installation, JobContainer, Mode, Quantity};
use deskrun::ops::add::{AddRequest, add, installation_from};
use deskrun::ops::proxy::{ProxyRequest, settings_from};
use deskrun::testing::request;

/// A key the checks accept (PKCS#1 is not parsed further).
fn app_key() -> String {
    let label = concat!("RSA PRIVATE", " KEY");
    format!("-----BEGIN {label}-----\nZmFrZQ==\n-----END {label}-----\n")
}

fn app_auth() -> Auth {
    Auth::GithubApp {
        app_id: "123".into(),
        installation_id: "456".into(),
        private_key: app_key(),
    }
}

struct Case {
    what: &'static str,
    /// The bad value on `deskrun add`'s command line.
    flags: fn(&mut AddRequest),
    /// The same bad value in the config file.
    file: fn(&mut Installation),
    /// What the error says for each: the field as written there.
    flag_words: &'static str,
    file_words: &'static str,
}

fn cases() -> Vec<Case> {
    fn cache(path: &str, host: Option<&str>) -> Cache {
        Cache {
            path: path.into(),
            host_path: host.map(String::from),
        }
    }
    vec![
        Case {
            what: "repository",
            flags: |r| r.repository = "github.com/o/r".into(),
            file: |i| i.repository = "github.com/o/r".into(),
            flag_words: "invalid --repository \"github.com/o/r\"",
            file_words: "invalid repository \"github.com/o/r\"",
        },
        Case {
            what: "repository with a password in it (never repeated)",
            flags: |r| r.repository = "https://me:s3cret-pw@github.com/o/r".into(),
            file: |i| i.repository = "https://me:s3cret-pw@github.com/o/r".into(),
            flag_words: "invalid --repository \"https://github.com/o/r\": the URL must not carry credentials",
            file_words: "invalid repository \"https://github.com/o/r\": the URL must not carry credentials",
        },
        Case {
            what: "allow_http",
            flags: |r| r.repository = "http://ghe.example.com/org".into(),
            file: |i| i.repository = "http://ghe.example.com/org".into(),
            flag_words: "add --allow-http",
            file_words: "set allow_http: true",
        },
        Case {
            what: "max_runners",
            flags: |r| r.max_runners = Some(0),
            file: |i| i.max_runners = 0,
            flag_words: "invalid --max-runners 0",
            file_words: "invalid max_runners: 0",
        },
        Case {
            what: "min_runners",
            flags: |r| (r.min_runners, r.max_runners) = (Some(6), Some(5)),
            file: |i| (i.min_runners, i.max_runners) = (6, 5),
            flag_words: "invalid --min-runners 6: it is greater than --max-runners 5",
            file_words: "invalid min_runners: 6: it is greater than max_runners: 5",
        },
        Case {
            what: "instances",
            flags: |r| r.instances = 21,
            file: |i| (i.instances, i.min_runners, i.max_runners) = (21, 1, 1),
            flag_words: "invalid --instances 21",
            file_words: "invalid instances: 21",
        },
        Case {
            what: "runner counts with instances",
            flags: |r| (r.instances, r.max_runners) = (3, Some(5)),
            file: |i| (i.instances, i.min_runners, i.max_runners) = (3, 1, 5),
            flag_words: "invalid --max-runners 5 with --instances 3",
            file_words: "set min_runners: 1 and max_runners: 1, or instances: 1",
        },
        Case {
            what: "cache path",
            flags: |r| r.caches = vec!["/proc/x".into()],
            file: |i| i.caches = vec![cache("/proc/x", None)],
            flag_words: "invalid --cache path \"/proc/x\"",
            file_words: "invalid caches[0].path \"/proc/x\"",
        },
        Case {
            what: "cache path over the Nix store",
            flags: |r| r.caches = vec!["/nix/store".into()],
            file: |i| i.caches = vec![cache("/nix/store", None)],
            flag_words: "invalid --cache path \"/nix/store\"",
            file_words: "invalid caches[0].path \"/nix/store\"",
        },
        Case {
            what: "second cache path",
            flags: |r| r.caches = vec!["/a".into(), "/a/".into()],
            file: |i| i.caches = vec![cache("/a", None), cache("/a/", None)],
            flag_words: "invalid --cache path \"/a\": given twice",
            file_words: "invalid caches[1].path \"/a\": given twice",
        },
        Case {
            what: "cache path in dind",
            flags: |r| (r.mode, r.caches) = (Mode::Dind, vec!["/var/run".into()]),
            file: |i| (i.mode, i.caches) = (Mode::Dind, vec![cache("/var/run", None)]),
            flag_words: "invalid --cache path \"/var/run\": in dind mode",
            file_words: "invalid caches[0].path \"/var/run\": in dind mode",
        },
        Case {
            what: "cache host path",
            flags: |r| r.caches = vec!["/:/a".into()],
            file: |i| i.caches = vec![cache("/a", Some("/"))],
            flag_words: "invalid --cache host path \"/\"",
            file_words: "invalid caches[0].host_path \"/\"",
        },
        Case {
            what: "cache host path (a system folder, checked across the config)",
            flags: |r| r.caches = vec!["/etc:/a".into()],
            file: |i| i.caches = vec![cache("/a", Some("/etc"))],
            flag_words: "invalid --cache host path \"/etc\": it is a system folder",
            file_words: "invalid caches[0].host_path \"/etc\": it is a system folder",
        },
        Case {
            what: "token",
            flags: |r| {
                r.auth = Auth::Pat {
                    token: "a b".into(),
                }
            },
            file: |i| {
                i.auth = Auth::Pat {
                    token: "a b".into(),
                }
            },
            flag_words: "invalid --auth-value: the token contains",
            file_words: "invalid auth.token: the token contains",
        },
        Case {
            what: "empty token",
            flags: |r| r.auth = Auth::Pat { token: "".into() },
            file: |i| i.auth = Auth::Pat { token: "".into() },
            flag_words: "missing credential: a pat installation needs a token; give it with --auth-value",
            file_words: "missing auth.token",
        },
        Case {
            what: "app id",
            flags: |r| {
                r.auth = app_auth();
                if let Auth::GithubApp { app_id, .. } = &mut r.auth {
                    *app_id = "12 3".into();
                }
            },
            file: |i| {
                i.auth = app_auth();
                if let Auth::GithubApp { app_id, .. } = &mut i.auth {
                    *app_id = "12 3".into();
                }
            },
            flag_words: "invalid --app-id \"12 3\"",
            file_words: "invalid auth.app_id \"12 3\"",
        },
        Case {
            what: "installation id",
            flags: |r| {
                r.auth = app_auth();
                if let Auth::GithubApp {
                    installation_id, ..
                } = &mut r.auth
                {
                    *installation_id = "x".into();
                }
            },
            file: |i| {
                i.auth = app_auth();
                if let Auth::GithubApp {
                    installation_id, ..
                } = &mut i.auth
                {
                    *installation_id = "x".into();
                }
            },
            flag_words: "invalid --installation-id \"x\"",
            file_words: "invalid auth.installation_id \"x\"",
        },
        Case {
            what: "private key",
            flags: |r| {
                r.auth = app_auth();
                if let Auth::GithubApp { private_key, .. } = &mut r.auth {
                    *private_key = "not a key".into();
                }
            },
            file: |i| {
                i.auth = app_auth();
                if let Auth::GithubApp { private_key, .. } = &mut i.auth {
                    *private_key = "not a key".into();
                }
            },
            flag_words: "invalid --auth-value for --auth-type github-app",
            file_words: "invalid auth.private_key for auth.type: github-app",
        },
        Case {
            what: "auth type",
            flags: |r| {
                r.auth = app_auth();
                r.repository = "https://github.com/enterprises/e".into();
            },
            file: |i| {
                i.auth = app_auth();
                i.repository = "https://github.com/enterprises/e".into();
            },
            flag_words: "invalid --auth-type github-app for https://github.com/enterprises/e",
            file_words: "invalid auth.type: github-app for https://github.com/enterprises/e",
        },
        Case {
            what: "label",
            flags: |r| r.labels = vec!["ok".into(), "a,b".into()],
            file: |i| i.labels = vec!["ok".into(), "a,b".into()],
            flag_words: "invalid --label \"a,b\"",
            file_words: "invalid labels[1] \"a,b\"",
        },
        Case {
            what: "env",
            flags: |r| r.env = vec!["1A=x".into()],
            file: |i| {
                i.env.insert("1A".into(), "x".into());
            },
            flag_words: "invalid --env name \"1A\"",
            file_words: "invalid env name \"1A\"",
        },
        Case {
            what: "runner image",
            flags: |r| r.runner_image = Some("Runner:1".into()),
            file: |i| i.runner_image = Some("Runner:1".into()),
            flag_words: "invalid --runner-image \"Runner:1\"",
            file_words: "invalid runner_image \"Runner:1\"",
        },
        Case {
            what: "dind image",
            flags: |r| (r.mode, r.dind_image) = (Mode::Dind, Some("Docker:1".into())),
            file: |i| (i.mode, i.dind_image) = (Mode::Dind, Some("Docker:1".into())),
            flag_words: "invalid --dind-image \"Docker:1\"",
            file_words: "invalid dind_image \"Docker:1\"",
        },
        Case {
            what: "mode (a dind image without dind)",
            flags: |r| r.dind_image = Some("docker:27-dind".into()),
            file: |i| i.dind_image = Some("docker:27-dind".into()),
            flag_words: "invalid --dind-image for --mode kubernetes",
            file_words: "invalid dind_image for mode: kubernetes",
        },
        Case {
            what: "job container",
            flags: |r| (r.mode, r.job_container) = (Mode::Dind, Some(JobContainer::Optional)),
            file: |i| (i.mode, i.job_container) = (Mode::Dind, Some(JobContainer::Optional)),
            flag_words: "invalid --job-container optional for --mode dind",
            file_words: "invalid job_container: optional for mode: dind",
        },
        Case {
            what: "glibc compat",
            flags: |r| (r.mode, r.glibc_compat) = (Mode::Dind, Some(true)),
            file: |i| (i.mode, i.glibc_compat) = (Mode::Dind, true),
            flag_words: "invalid --glibc-compat for --mode dind",
            file_words: "invalid glibc_compat: true for mode: dind",
        },
        Case {
            what: "node",
            flags: |r| r.node = Some("a b".into()),
            file: |i| i.node = Some("a b".into()),
            flag_words: "invalid --node \"a b\"",
            file_words: "invalid node \"a b\"",
        },
        Case {
            what: "node (placement on kind)",
            flags: |r| r.node = Some("worker-1".into()),
            file: |i| i.node = Some("worker-1".into()),
            flag_words: "invalid --node \"worker-1\"",
            file_words: "invalid node \"worker-1\"",
        },
        Case {
            what: "github ca",
            flags: |r| r.github_ca = Some("hello".into()),
            file: |i| i.github_ca = Some("hello".into()),
            flag_words: "invalid --github-ca-file",
            file_words: "invalid github_ca",
        },
        Case {
            what: "resource",
            flags: |r| {
                (r.requests, r.limits) = (vec!["runner.cpu=2".into()], vec!["runner.cpu=1".into()])
            },
            file: |i| {
                i.resources
                    .runner
                    .requests
                    .insert("cpu".into(), Quantity("2".into()));
                i.resources
                    .runner
                    .limits
                    .insert("cpu".into(), Quantity("1".into()));
            },
            flag_words: "invalid --request runner.cpu: the request 2 is more than the limit 1 (--limit runner.cpu)",
            file_words: "invalid resources.runner.requests.cpu: the request 2 is more than the limit 1 (resources.runner.limits.cpu)",
        },
        Case {
            what: "resource of another mode's container",
            flags: |r| (r.mode, r.requests) = (Mode::Dind, vec!["job.memory=1Gi".into()]),
            file: |i| {
                i.mode = Mode::Dind;
                i.resources
                    .job
                    .requests
                    .insert("memory".into(), Quantity("1Gi".into()));
            },
            flag_words: "invalid --request job.memory for --mode dind",
            file_words: "invalid resources.job.requests.memory for mode: dind",
        },
    ]
}

/// The flags' names, none of which a config file's error may use (nor the
/// keys a flag's error).
const FLAGS: &[&str] = &[
    "--repository",
    "--allow-http",
    "--mode",
    "--min-runners",
    "--max-runners",
    "--instances",
    "--cache",
    "--auth-type",
    "--auth-value",
    "--app-id",
    "--installation-id",
    "--label",
    "--env",
    "--runner-image",
    "--dind-image",
    "--job-container",
    "--glibc-compat",
    "--node",
    "--request",
    "--limit",
    "--github-ca-file",
];
const KEYS: &[&str] = &[
    "repository:",
    "allow_http",
    "mode:",
    "min_runners",
    "max_runners",
    "instances:",
    "caches[",
    "auth.",
    "labels[",
    "invalid env",
    "runner_image",
    "dind_image",
    "job_container",
    "glibc_compat",
    "invalid node",
    "resources.",
    "github_ca",
];

fn from_flags(dir: &std::path::Path, req: &AddRequest) -> String {
    let store = Store::new(dir.join("flags.yaml"));
    let e = add(&store, req).expect_err("add accepted a bad value");
    assert_eq!(deskrun::error::exit_code(&e), 2, "{e:#}");
    format!("{e:#}")
}

fn from_file(dir: &std::path::Path, name: &str, inst: Installation) -> String {
    let mut config = Config::default();
    config.installations.insert(name.into(), inst);
    let path = dir.join("file.yaml");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    let e = Store::new(&path)
        .load()
        .expect_err("the config file was accepted");
    assert_eq!(deskrun::error::exit_code(&e), 2, "{e:#}");
    format!("{e:#}")
}

#[test]
fn every_field_is_named_as_written_on_the_command_line_and_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = installation_from(&request("a")).unwrap();
    for case in cases() {
        let mut req = request("a");
        (case.flags)(&mut req);
        let flag_err = from_flags(dir.path(), &req);
        assert!(
            flag_err.contains(case.flag_words),
            "{}: the flags' error should say {:?}:\n{flag_err}",
            case.what,
            case.flag_words
        );
        if let Some(key) = KEYS.iter().find(|k| flag_err.contains(**k)) {
            panic!(
                "{}: the flags' error uses the key {key}:\n{flag_err}",
                case.what
            );
        }

        let mut inst = good.clone();
        (case.file)(&mut inst);
        let file_err = from_file(dir.path(), "a", inst);
        assert!(
            file_err.contains("installation \"a\": ") && file_err.contains(case.file_words),
            "{}: the file's error should say {:?}:\n{file_err}",
            case.what,
            case.file_words
        );
        if let Some(flag) = FLAGS.iter().find(|f| file_err.contains(**f)) {
            panic!(
                "{}: the file's error uses the flag {flag}:\n{file_err}",
                case.what
            );
        }
    }
}

#[test]
fn proxy_settings_are_named_as_written() {
    let dir = tempfile::tempdir().unwrap();
    for (http, no_proxy, flag_words, file_words) in [
        (
            "ftp://proxy:21",
            "",
            "invalid --http \"ftp://proxy:21\"",
            "invalid cluster.proxy.http \"ftp://proxy:21\"",
        ),
        (
            "http://proxy:3128",
            "a b",
            "invalid --no-proxy entry \"a b\"",
            "invalid cluster.proxy.no_proxy entry \"a b\"",
        ),
    ] {
        let req = ProxyRequest {
            http: Some(http.into()),
            https: None,
            no_proxy: [no_proxy]
                .into_iter()
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
            credentials: None,
        };
        let e = format!("{:#}", settings_from(&req).unwrap_err());
        assert!(e.contains(flag_words), "{e}");
        let path = dir.path().join("proxy.yaml");
        let no_proxy = if no_proxy.is_empty() {
            String::new()
        } else {
            format!("    no_proxy: [\"{no_proxy}\"]\n")
        };
        std::fs::write(
            &path,
            format!("version: 1\ncluster:\n  proxy:\n    http: {http}\n{no_proxy}"),
        )
        .unwrap();
        let e = format!("{:#}", Store::new(&path).load().unwrap_err());
        assert!(e.contains(file_words) && !e.contains("--"), "{e}");
    }
}

/// `config import` names the Go JSON's keys.
#[test]
fn go_json_fields_are_named_as_the_go_deskrun_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let base = r#""Repository": "https://github.com/o/r", "ContainerMode": "kubernetes",
        "MinRunners": 1, "MaxRunners": 2, "Instances": 1, "AuthType": "pat", "AuthValue": "tok-abc-123""#;
    for (extra, words) in [
        (
            r#""Repository": "github.com/o/r""#,
            "invalid Repository \"github.com/o/r\"",
        ),
        (r#""MaxRunners": 0"#, "invalid MaxRunners: 0"),
        (
            r#""MinRunners": 3"#,
            "invalid MinRunners: 3: it is greater than MaxRunners: 2",
        ),
        (r#""Instances": 21"#, "invalid Instances: 21"),
        (
            r#""AuthValue": "a b""#,
            "invalid AuthValue: the token contains",
        ),
        (r#""AuthValue": """#, "missing AuthValue"),
        (
            r#""CachePaths": [{"MountPath": "/a", "HostPath": ""}, {"MountPath": "/proc/x", "HostPath": ""}]"#,
            "invalid CachePaths[1].MountPath \"/proc/x\"",
        ),
        (
            r#""CachePaths": [{"MountPath": "/a", "HostPath": "/"}]"#,
            "invalid CachePaths[0].HostPath \"/\"",
        ),
        (
            r#""CachePaths": [{"MountPath": "/a", "HostPath": ""}], "Mounts": [{"Source": "/etc", "Target": "/b"}]"#,
            "invalid Mounts[0].Source \"/etc\": it is a system folder",
        ),
        (
            r#""ContainerMode": "dind", "CachePaths": [{"MountPath": "/var/run", "HostPath": ""}]"#,
            "invalid CachePaths[0].MountPath \"/var/run\": in dind mode",
        ),
    ] {
        let file = dir.path().join("config.json");
        // A later key wins in serde_json's map, so `extra` overrides `base`.
        std::fs::write(
            &file,
            format!(r#"{{"installations": {{"a": {{{base}, {extra}}}}}}}"#),
        )
        .unwrap();
        let store = Store::new(dir.path().join("deskrun.yaml"));
        let r = deskrun::ops::import::import(&store, &file, false).unwrap();
        assert_eq!(r.refused.len(), 1, "{extra}: {:?}", r.imported.len());
        let why = &r.refused[0].reason;
        assert!(why.contains(words), "{extra}: {why}");
        if let Some(key) = KEYS.iter().chain(FLAGS).find(|k| why.contains(**k)) {
            panic!("{extra}: the import's error uses {key}: {why}");
        }
    }
}
