//! Bad input, table-driven: every case must exit 2 (1 for an I/O failure),
//! print a message on stderr that names the offending field or file, print
//! nothing on stdout, never show the credential, and leave the config file
//! byte-identical (no stray temp file next to it either).
//!
//! No tool is ever called: every case is refused before deskrun reaches the
//! cluster (the sandbox's fake tools are not even needed).

use crate::common::{Sandbox, TOKEN};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const REPO: &str = "https://github.com/owner/repo";
// Split so that secret scanners do not flag this obviously fake key.
const PEM: &str = concat!(
    "-----BEGIN RSA ",
    "PRIVATE KEY-----\n",
    "FAKEKEYFORDESKRUNBADINPUTTESTS\n",
    "-----END RSA ",
    "PRIVATE KEY-----\n",
);

/// One bad invocation.
struct Case {
    what: String,
    args: Vec<String>,
    stdin: String,
    code: i32,
    /// Every one of these must appear in stderr.
    needles: Vec<String>,
}

fn v(x: &[String]) -> Vec<&str> {
    x.iter().map(String::as_str).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// `deskrun add NAME [--repository REPO] FLAGS [--auth-value-stdin]`: the
/// repository and the stdin credential are added unless FLAGS give their own.
fn add(what: &str, name: &str, flags: &[&str], needle: &str) -> Case {
    let mut args = strings(&["add", name]);
    if !flags.contains(&"--repository") {
        args.extend(strings(&["--repository", REPO]));
    }
    args.extend(strings(flags));
    let own_credential = flags.iter().any(|f| {
        matches!(
            *f,
            "--auth-value" | "--auth-value-file" | "--auth-value-stdin" | "--no-credential"
        )
    });
    args.retain(|a| a != "--no-credential");
    if !own_credential {
        args.push("--auth-value-stdin".into());
    }
    Case {
        what: what.into(),
        args,
        stdin: format!("{TOKEN}\n"),
        code: 2,
        needles: vec![needle.into()],
    }
}

fn cmd(what: &str, args: &[&str], code: i32, needles: &[&str]) -> Case {
    Case {
        what: what.into(),
        args: strings(args),
        stdin: String::new(),
        code,
        needles: strings(needles),
    }
}

/// Files next to the config that a failed write could leave behind.
fn stray_temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".deskrun-config-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Run one case and check every promise; returns a description of what
/// went wrong, if anything.
fn check(sb: &Sandbox, case: &Case) -> Option<String> {
    let before = fs::read(&sb.config).ok();
    let out = sb
        .cmd()
        .args(&case.args)
        .write_stdin(case.stdin.clone())
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!(
        "[{}] deskrun {}\nexit {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        case.what,
        case.args.join(" "),
        out.status.code()
    );
    let mut problems = Vec::new();
    if out.status.code() != Some(case.code) {
        problems.push(format!("expected exit {}", case.code));
    }
    for needle in &case.needles {
        if !stderr.contains(needle.as_str()) {
            problems.push(format!("stderr does not name {needle:?}"));
        }
    }
    if !stdout.is_empty() {
        problems.push("printed on stdout".into());
    }
    if stdout.contains(TOKEN) || stderr.contains(TOKEN) {
        problems.push("printed the credential".into());
    }
    if fs::read(&sb.config).ok() != before {
        problems.push("changed the config file".into());
    }
    if let Some(dir) = sb.config.parent() {
        let stray = stray_temp_files(dir);
        if !stray.is_empty() {
            problems.push(format!("left temp files {stray:?}"));
        }
    }
    (!problems.is_empty()).then(|| format!("{}\n{shown}", problems.join("; ")))
}

fn run_all(sb: &Sandbox, cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(|c| check(sb, c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

fn flag_cases(sb: &Sandbox) -> Vec<Case> {
    let pem = sb.path().join("key.pem");
    fs::write(&pem, PEM).unwrap();
    let pem = pem.to_str().unwrap().to_string();
    let missing = sb.path().join("no-such-file").display().to_string();
    let a_dir = sb.path().display().to_string();
    let n46 = "a".repeat(46);
    let n43 = "a".repeat(43);
    let long_url = format!("https://github.com/{}/repo", "o".repeat(40));
    let long_cache = format!("/{}", "c/".repeat(700));
    let long_token = "t".repeat(1100);
    // github-app flag sets: auth type, ids, key.
    let app = |rest: &[&str]| -> Vec<String> {
        let mut a = strings(&["--auth-type", "github-app"]);
        a.extend(strings(rest));
        a
    };
    let app_no_inst = app(&["--app-id", "123", "--auth-value-file", &pem]);
    let app_no_id = app(&["--installation-id", "456", "--auth-value-file", &pem]);
    let app_bad_id = app(&[
        "--app-id",
        "12 3",
        "--installation-id",
        "456",
        "--auth-value-file",
        &pem,
    ]);
    let app_bad_inst = app(&[
        "--app-id",
        "123",
        "--installation-id",
        "x9",
        "--auth-value-file",
        &pem,
    ]);
    let app_not_pem = app(&[
        "--app-id",
        "123",
        "--installation-id",
        "456",
        "--auth-value",
        "not-a-pem-key",
    ]);
    let app_enterprise = app(&[
        "--app-id",
        "123",
        "--installation-id",
        "456",
        "--auth-value-file",
        &pem,
        "--repository",
        "https://github.com/enterprises/acme",
    ]);

    // Credential files a careful tester tried (issue 11).
    let file = |name: &str, text: &str| -> String {
        let p = sb.path().join(name);
        fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let armor = |label: &str, body: &str| {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    };
    let bom_token = file("bom.txt", "\u{feff}ghp_abcdef0123456789\n");
    let zw_token = file("zw.txt", "ghp_abc\u{200b}def0123456789\n");
    let accented_token = file("accent.txt", "ghp_abcdéf0123456789\n");
    let assigned_token = file("env.txt", "GH_TOKEN=ghp_abcdef0123456789\n");
    let openssh = file(
        "id_ed25519",
        &armor(
            concat!("OPENSSH PRIVATE", " KEY"),
            "b3BlbnNzaC1rZXktdjEAAAAA",
        ),
    );
    let encrypted = file(
        "enc.pem",
        &armor(
            concat!("ENCRYPTED PRIVATE", " KEY"),
            "MIIFHDBOBgkqhkiG9w0BBQ0wQTAp",
        ),
    );
    let ed25519 = file(
        "ed.pem",
        &armor(
            concat!("PRIVATE", " KEY"),
            "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    );
    let huge_pem = file(
        "huge.pem",
        &armor(concat!("RSA PRIVATE", " KEY"), &"QUFB".repeat(10_000)),
    );
    let app_key = |key: &str| -> Vec<String> {
        app(&[
            "--app-id",
            "123",
            "--installation-id",
            "456",
            "--auth-value-file",
            key,
        ])
    };
    let (app_openssh, app_encrypted, app_ed25519, app_huge, app_zero) = (
        app_key(&openssh),
        app_key(&encrypted),
        app_key(&ed25519),
        app_key(&huge_pem),
        app_key("/dev/zero"),
    );

    // Host folders that must never be mounted (issue 11).
    let slash_link = sb.path().join("slash");
    let _ = std::os::unix::fs::symlink("/", &slash_link);
    let slash_cache = format!("{}:/c", slash_link.display());
    let root_cache = format!("{}:/c", sb.cache_root.display());
    let docker_elsewhere = format!("{}/docker-shared:/var/lib/docker", sb.path().display());

    // --github-ca-file: only PEM certificates (issue 16).
    let ca_key = file(
        "ca-key.pem",
        &armor(concat!("EC PRIVATE", " KEY"), "MHcCAQEEIAAAAA=="),
    );
    let ca_with_key = file(
        "ca-and-key.pem",
        &format!(
            "{}{}",
            include_str!("../fixtures/github-ca-1.pem"),
            armor(concat!("PRIVATE", " KEY"), "MC4CAQAwBQYDK2Vw")
        ),
    );
    let ca_garbage = file("garbage.pem", "this is not a certificate\n");
    let ca_empty = file("empty.pem", "");
    let ca_not_der = file("not-der.pem", &armor("CERTIFICATE", "aGVsbG8gd29ybGQ="));
    let ca_csr = file("req.pem", &armor("CERTIFICATE REQUEST", "MIIBAjCBqQIBADAA"));
    let ca_binary = sb.path().join("ca.der");
    fs::write(&ca_binary, [0x30u8, 0x82, 0xff, 0xfe, 0x80, 0x81]).unwrap();
    let ca_binary = ca_binary.display().to_string();
    let ca_huge = file(
        "bundle.pem",
        &include_str!("../fixtures/github-ca-1.pem").repeat(100),
    );

    let cases = vec![
        // --- --github-ca-file
        add(
            "CA file: a private key",
            "x",
            &["--github-ca-file", &ca_key],
            "private key",
        ),
        add(
            "CA file: a certificate and its key",
            "x",
            &["--github-ca-file", &ca_with_key],
            "private key",
        ),
        add(
            "CA file: garbage",
            "x",
            &["--github-ca-file", &ca_garbage],
            "no PEM certificate",
        ),
        add(
            "CA file: empty",
            "x",
            &["--github-ca-file", &ca_empty],
            "--github-ca-file",
        ),
        add(
            "CA file: not DER inside",
            "x",
            &["--github-ca-file", &ca_not_der],
            "not a valid X.509 certificate",
        ),
        add(
            "CA file: a signing request",
            "x",
            &["--github-ca-file", &ca_csr],
            "not a CERTIFICATE",
        ),
        add(
            "CA file: binary DER",
            "x",
            &["--github-ca-file", &ca_binary],
            "openssl x509 -inform der",
        ),
        add(
            "CA file: too big",
            "x",
            &["--github-ca-file", &ca_huge],
            "64 KiB",
        ),
        add(
            "CA file: endless",
            "x",
            &["--github-ca-file", "/dev/zero"],
            "64 KiB",
        ),
        add(
            "CA file: missing",
            "x",
            &["--github-ca-file", &missing],
            "cannot read --github-ca-file",
        ),
        // --- host folders
        add(
            "cache host /etc",
            "x",
            &["--cache", "/etc:/c"],
            "system folder",
        ),
        add(
            "cache host inside /proc",
            "x",
            &["--cache", "/proc/1:/c"],
            "inside /proc",
        ),
        add(
            "cache host /var/lib/containerd",
            "x",
            &["--cache", "/var/lib/containerd:/c"],
            "/var/lib/containerd",
        ),
        add(
            "cache host the docker socket",
            "x",
            &["--cache", "/var/run/docker.sock:/s"],
            "/var/run",
        ),
        add(
            "cache host a link to /",
            "x",
            &["--cache", &slash_cache],
            "a link to /",
        ),
        add(
            "cache host the cache root",
            "x",
            &["--cache", &root_cache],
            "cache root",
        ),
        add(
            "one docker data dir for 2 instances",
            "x",
            &["--instances", "2", "--cache", &docker_elsewhere],
            "all 2 instances",
        ),
        // --- credentials that cannot be right, named by the flag used
        add(
            "token file with a BOM",
            "x",
            &["--auth-value-file", &bom_token],
            "--auth-value-file",
        ),
        add(
            "token file with a BOM (named)",
            "x",
            &["--auth-value-file", &bom_token],
            "byte order mark",
        ),
        add(
            "token with a zero-width space",
            "x",
            &["--auth-value-file", &zw_token],
            "zero-width space",
        ),
        add(
            "token with a non-ASCII letter",
            "x",
            &["--auth-value-file", &accented_token],
            "ASCII",
        ),
        add(
            "token file with GH_TOKEN=",
            "x",
            &["--auth-value-file", &assigned_token],
            "GH_TOKEN=",
        ),
        Case {
            stdin: "\u{feff}ghp_abcdef0123456789\n".into(),
            ..add(
                "stdin token with a BOM",
                "x",
                &["--auth-value-stdin"],
                "--auth-value-stdin",
            )
        },
        Case {
            stdin: "t".repeat(64 * 1024),
            ..add(
                "64 KiB on stdin",
                "x",
                &["--auth-value-stdin"],
                "more than 16 KiB",
            )
        },
        add(
            "token file /dev/zero",
            "x",
            &["--auth-value-file", "/dev/zero"],
            "more than 16 KiB",
        ),
        add("app key /dev/zero", "x", &v(&app_zero), "more than 16 KiB"),
        add(
            "app key in OpenSSH format",
            "x",
            &v(&app_openssh),
            "OpenSSH",
        ),
        add(
            "encrypted PKCS#8 app key",
            "x",
            &v(&app_encrypted),
            "passphrase",
        ),
        add("Ed25519 PKCS#8 app key", "x", &v(&app_ed25519), "Ed25519"),
        add("40 KB app key", "x", &v(&app_huge), "--auth-value-file"),
        add(
            "http:// GitHub Enterprise URL",
            "x",
            &["--repository", "http://ghe.example.com/org"],
            "--allow-http",
        ),
        // --- names
        add("uppercase name", "Docker", &[], "invalid installation name"),
        add(
            "underscore in name",
            "a_b",
            &[],
            "invalid installation name",
        ),
        add("dot in name", "a.b", &[], "invalid installation name"),
        add("space in name", "a b", &[], "invalid installation name"),
        add("trailing hyphen", "a-", &[], "invalid installation name"),
        add("non-ASCII name", "runnér", &[], "invalid installation name"),
        add("empty name", "", &[], "invalid installation name"),
        add("reserved name arc", "arc", &[], "reserved"),
        add("reserved name controller", "controller", &[], "reserved"),
        // The chart writes the scale-set name unquoted; Helm reads YAML 1.1.
        add("name a YAML 1.1 boolean", "no", &[], "YAML 1.1"),
        add("name a YAML 1.1 boolean (on)", "on", &[], "YAML 1.1"),
        add("name a YAML 1.1 boolean (y)", "y", &[], "YAML 1.1"),
        add("name a YAML 1.1 hex number", "0x1f", &[], "YAML 1.1"),
        add("name a YAML 1.1 float", "1e5", &[], "YAML 1.1"),
        add("name a YAML 1.1 date", "2024-01-02", &[], "YAML 1.1"),
        add("name over 45 characters", &n46, &[], "at most 45"),
        add(
            "name too long for its instances",
            &n43,
            &["--instances", "10"],
            "at most 42",
        ),
        add("name taken", "ci", &[], "already exists"),
        add(
            "name clashes with an instance of another",
            "ci-2",
            &[],
            "\"ci-2\"",
        ),
        add(
            "instances clash with another installation",
            "solo",
            &["--instances", "2"],
            "\"solo-1\"",
        ),
        // --- URLs
        add(
            "URL without scheme",
            "x",
            &["--repository", "github.com/owner/repo"],
            "--repository",
        ),
        add(
            "ftp URL",
            "x",
            &["--repository", "ftp://github.com/o/r"],
            "--repository",
        ),
        add(
            "URL without owner",
            "x",
            &["--repository", "https://github.com/"],
            "--repository",
        ),
        add(
            "URL of a page in a repo",
            "x",
            &["--repository", "https://github.com/o/r/tree/main"],
            "--repository",
        ),
        add(
            "URL with a query",
            "x",
            &["--repository", "https://github.com/o/r?tab=1"],
            "--repository",
        ),
        add(
            "URL with a fragment",
            "x",
            &["--repository", "https://github.com/o/r#readme"],
            "--repository",
        ),
        add(
            "URL with credentials",
            "x",
            &["--repository", "https://user:pw@github.com/o/r"],
            "--repository",
        ),
        add(
            "URL with a space",
            "x",
            &["--repository", "https://github.com/o o/r"],
            "--repository",
        ),
        add(
            "URL with .. as repo",
            "x",
            &["--repository", "https://github.com/o/.."],
            "--repository",
        ),
        add(
            "URL with a bad port",
            "x",
            &["--repository", "https://github.com:99999/o"],
            "--repository",
        ),
        add("empty URL", "x", &["--repository", ""], "--repository"),
        add(
            "enterprise URL without slug",
            "x",
            &["--repository", "https://github.com/enterprises"],
            "--repository",
        ),
        add(
            "owner over 39 characters",
            "x",
            &["--repository", &long_url],
            "--repository",
        ),
        add(
            "bad host",
            "x",
            &["--repository", "https://bad_host!/o/r"],
            "--repository",
        ),
        // --- numbers
        add(
            "min greater than max",
            "x",
            &["--min-runners", "9", "--max-runners", "5"],
            "--min-runners",
        ),
        add("max zero", "x", &["--max-runners", "0"], "--max-runners"),
        add(
            "max over 100",
            "x",
            &["--max-runners", "101"],
            "--max-runners",
        ),
        add(
            "min over 100",
            "x",
            &["--min-runners", "101", "--max-runners", "100"],
            "--min-runners",
        ),
        add(
            "negative max",
            "x",
            &["--max-runners", "-1"],
            "--max-runners",
        ),
        add(
            "max not a number",
            "x",
            &["--max-runners", "lots"],
            "--max-runners",
        ),
        add(
            "max overflows u32",
            "x",
            &["--max-runners", "4294967296"],
            "--max-runners",
        ),
        add("zero instances", "x", &["--instances", "0"], "--instances"),
        add("21 instances", "x", &["--instances", "21"], "--instances"),
        add(
            "negative instances",
            "x",
            &["--instances", "-3"],
            "--instances",
        ),
        add(
            "instances with min",
            "x",
            &["--instances", "3", "--min-runners", "2"],
            "--min-runners",
        ),
        add(
            "instances with max",
            "x",
            &["--instances", "3", "--max-runners", "2"],
            "--max-runners",
        ),
        // --- modes
        add("unknown mode", "x", &["--mode", "turbo"], "--mode"),
        add("mode in capitals", "x", &["--mode", "Kubernetes"], "--mode"),
        add("empty mode", "x", &["--mode", ""], "--mode"),
        add(
            "dind cache over the work dir",
            "x",
            &["--mode", "dind", "--cache", "/home/runner/_work"],
            "cache path",
        ),
        add(
            "dind cache over /var/run",
            "x",
            &["--mode", "dind", "--cache", "/var/run/"],
            "cache path",
        ),
        // --- auth types and credentials
        add(
            "unknown auth type",
            "x",
            &["--auth-type", "oauth"],
            "--auth-type",
        ),
        add(
            "no credential at all",
            "x",
            &["--no-credential"],
            "--auth-value-stdin",
        ),
        Case {
            stdin: String::new(),
            ..add(
                "empty stdin credential",
                "x",
                &["--auth-value-stdin"],
                "credential",
            )
        },
        add(
            "empty --auth-value",
            "x",
            &["--auth-value", ""],
            "credential",
        ),
        add(
            "token with a space",
            "x",
            &["--auth-value", "two words"],
            "--auth-value",
        ),
        add(
            "token over 1024 characters",
            "x",
            &["--auth-value", &long_token],
            "--auth-value",
        ),
        add(
            "credential file missing",
            "x",
            &["--auth-value-file", &missing],
            "--auth-value-file",
        ),
        add(
            "credential file is a directory",
            "x",
            &["--auth-value-file", &a_dir],
            "--auth-value-file",
        ),
        add(
            "two credential sources",
            "x",
            &["--auth-value", "abcdefgh", "--auth-value-stdin"],
            "--auth-value",
        ),
        add("app id with a pat", "x", &["--app-id", "1"], "--app-id"),
        add(
            "installation id with a pat",
            "x",
            &["--installation-id", "1"],
            "--installation-id",
        ),
        add(
            "github-app without ids",
            "x",
            &["--auth-type", "github-app", "--auth-value-file", &pem],
            "--app-id",
        ),
        add(
            "github-app without installation id",
            "x",
            &v(&app_no_inst),
            "--installation-id",
        ),
        add("github-app without app id", "x", &v(&app_no_id), "--app-id"),
        add(
            "github-app with a bad app id",
            "x",
            &v(&app_bad_id),
            "--app-id",
        ),
        add(
            "github-app with a bad installation id",
            "x",
            &v(&app_bad_inst),
            "--installation-id",
        ),
        add(
            "github-app key that is no PEM",
            "x",
            &v(&app_not_pem),
            "--auth-value",
        ),
        add(
            "github-app on an enterprise",
            "x",
            &v(&app_enterprise),
            "--auth-type github-app",
        ),
        // --- cache specs
        add(
            "relative cache",
            "x",
            &["--cache", "var/lib/docker"],
            "--cache",
        ),
        add("cache with ..", "x", &["--cache", "/a/../b"], "--cache"),
        add(
            "cache given twice",
            "x",
            &["--cache", "/a", "--cache", "/a/"],
            "given twice",
        ),
        add(
            "host dir given twice",
            "x",
            &["--cache", "/h:/a", "--cache", "/h/:/b"],
            "host path",
        ),
        add(
            "cache with two colons",
            "x",
            &["--cache", "/a:/b:/c"],
            "--cache",
        ),
        add(
            "cache with empty host side",
            "x",
            &["--cache", ":/a"],
            "--cache",
        ),
        add(
            "cache with empty job side",
            "x",
            &["--cache", "/a:"],
            "--cache",
        ),
        add(
            "cache with relative host side",
            "x",
            &["--cache", "rel:/b"],
            "--cache (host path)",
        ),
        add(
            "cache with relative job side",
            "x",
            &["--cache", "/h:rel"],
            "--cache (job path)",
        ),
        add("empty cache", "x", &["--cache", ""], "--cache"),
        add(
            "cache over /nix/store",
            "x",
            &["--cache", "/nix/store"],
            "/root/.cache/nix",
        ),
        add(
            "cache inside /nix/store",
            "x",
            &["--cache", "/nix/store/abc"],
            "cache path",
        ),
        add("cache over /nix", "x", &["--cache", "/nix"], "cache path"),
        add("cache over /", "x", &["--cache", "/"], "cache path"),
        add(
            "cache over /proc",
            "x",
            &["--cache", "/proc/x"],
            "cache path",
        ),
        add(
            "cache over /etc/hooks",
            "x",
            &["--cache", "/etc/hooks"],
            "cache path",
        ),
        add(
            "cache host dir /",
            "x",
            &["--cache", "/:/a"],
            "cache host path",
        ),
        add(
            "very long cache path",
            "x",
            &["--cache", &long_cache],
            "--cache",
        ),
        add(
            "cache with a control character",
            "x",
            &["--cache", "/a\tb"],
            "--cache",
        ),
        // --- other commands and global flags
        cmd("-v with -q", &["-v", "-q", "list"], 2, &["--quiet"]),
        cmd(
            "unknown list format",
            &["list", "--output", "xml"],
            2,
            &["--output"],
        ),
        cmd(
            "unknown status format",
            &["status", "--output", "xml"],
            2,
            &["--output"],
        ),
        cmd("remove without a name", &["remove"], 2, &["<NAME>"]),
        cmd(
            "remove an unknown name",
            &["remove", "nope"],
            2,
            &["\"nope\""],
        ),
        cmd(
            "render an unknown name",
            &["render", "nope"],
            2,
            &["\"nope\""],
        ),
        cmd("up an unknown name", &["up", "nope"], 2, &["\"nope\""]),
        cmd(
            "status of an unknown name",
            &["status", "nope"],
            2,
            &["\"nope\""],
        ),
        cmd(
            "up --parallel 0",
            &["up", "--parallel", "0"],
            2,
            &["--parallel"],
        ),
        cmd(
            "up --parallel 33",
            &["up", "--parallel", "33"],
            2,
            &["--parallel"],
        ),
        cmd(
            "up --parallel -1",
            &["up", "--parallel", "-1"],
            2,
            &["--parallel"],
        ),
        cmd("unknown subcommand", &["deploy"], 2, &["deploy"]),
        cmd(
            "unknown shell",
            &["completions", "cmd.exe"],
            2,
            &["cmd.exe"],
        ),
    ];
    cases
}

pub fn bad_flags_exit_2_name_the_field_and_leave_the_config() {
    let sb = Sandbox::new();
    sb.add("ci", &["--instances", "2"]);
    sb.add("solo-1", &[]);
    let cases = flag_cases(&sb);
    println!("{} bad flag cases", cases.len());
    assert!(cases.len() >= 80, "{} cases", cases.len());
    run_all(&sb, &cases);
    // And the good form of the same command still works afterwards.
    sb.add(
        "x",
        &[
            "--cache",
            "/srv/a:/root/.cache",
            "--cache",
            "/var/cache/apt",
        ],
    );
}

// ---------------------------------------------------------------------------
// Config files
// ---------------------------------------------------------------------------

/// Every command that reads the config, including the cluster ones: they
/// must refuse a bad file before calling any tool.
fn every_command() -> Vec<Vec<&'static str>> {
    vec![
        vec!["list"],
        vec!["list", "--output", "json"],
        vec!["render"],
        vec!["remove", "ci"],
        vec![
            "add",
            "new",
            "--repository",
            REPO,
            "--auth-value",
            "fake-token-for-tests-0001",
        ],
        vec!["up"],
        vec!["up", "--dry-run"],
        vec!["down"],
        vec!["status"],
        vec!["cluster", "status"],
    ]
}

const GOOD: &str = "version: 1
installations:
  ci:
    repository: https://github.com/owner/repo
    mode: kubernetes
    min_runners: 1
    max_runners: 5
    auth:
      type: pat
      token: fake-token-for-tests-0001
";

/// (what, file text, what stderr must contain besides the path)
fn bad_files() -> Vec<(&'static str, String, &'static str)> {
    let replace = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replacen(from, to, 1)
    };
    let bomb = {
        // Billion laughs: nine levels of ten aliases.
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, cur) in "abcdefgh".chars().zip("bcdefghi".chars()) {
            s.push_str(&format!(
                "{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
        }
        format!("version: 1\n{s}")
    };
    vec![
        ("corrupt YAML", "version: 1\ninstallations: [unclosed\n".into(), "not valid YAML"),
        ("tab indentation", "version: 1\ninstallations:\n\tci: {}\n".into(), "not valid YAML"),
        ("duplicate key", format!("{GOOD}version: 1\n"), "version"),
        ("a list at the top", "- version: 1\n".into(), "mapping"),
        ("a scalar at the top", "hello\n".into(), "mapping"),
        ("no version", "installations: {}\n".into(), "missing `version"),
        ("newer version", replace("version: 1", "version: 2"), "newer deskrun"),
        ("version as a string", replace("version: 1", "version: one"), "version"),
        ("version zero", replace("version: 1", "version: 0"), "version"),
        ("unknown top-level key", format!("{GOOD}colour: red\n"), "colour"),
        ("unknown cluster key", format!("{GOOD}cluster:\n  nodes: 3\n"), "nodes"),
        ("unknown installation key", replace("    mode: kubernetes\n", "    mode: kubernetes\n    colour: red\n"), "colour"),
        ("unknown auth key", replace("      type: pat\n", "      type: pat\n      scope: all\n"), "scope"),
        ("unknown auth type", replace("type: pat", "type: oauth"), "oauth"),
        ("unknown mode", replace("mode: kubernetes", "mode: turbo"), "turbo"),
        ("min_runners is text", replace("min_runners: 1", "min_runners: five"), "min_runners"),
        ("max_runners negative", replace("max_runners: 5", "max_runners: -5"), "max_runners"),
        ("instances is a list", replace("    mode: kubernetes\n", "    mode: kubernetes\n    instances: [1]\n"), "instances"),
        ("caches is text", replace("    mode: kubernetes\n", "    mode: kubernetes\n    caches: /var/lib/docker\n"), "caches"),
        ("installations is a list", "version: 1\ninstallations: []\n".into(), "installations"),
        ("repository missing", replace("    repository: https://github.com/owner/repo\n", ""), "repository"),
        ("token missing", replace("      token: fake-token-for-tests-0001\n", ""), "token"),
        ("bad name in the file", replace("  ci:", "  Bad_Name:"), "Bad_Name"),
        ("bad repository in the file", replace("https://github.com/owner/repo", "github.com/owner/repo"), "invalid repository"),
        ("min above max in the file", replace("min_runners: 1", "min_runners: 9"), "invalid min_runners: 9"),
        ("relative cache in the file", replace("    mode: kubernetes\n", "    mode: kubernetes\n    caches:\n      - path: var/cache\n"), "caches[0].path"),
        ("cache over /nix/store in the file", replace("    mode: kubernetes\n", "    mode: kubernetes\n    caches:\n      - path: /nix/store\n"), "/nix/store"),
        ("two installations, one scale set", format!("{GOOD}  ci-1:\n    repository: https://github.com/o/r\n    mode: dind\n    min_runners: 0\n    max_runners: 1\n    auth: {{type: pat, token: abcdefgh}}\n").replace("    mode: kubernetes\n", "    mode: kubernetes\n    instances: 2\n").replace("max_runners: 5", "max_runners: 1"), "\"ci-1\""),
        ("bad cluster name", format!("{GOOD}cluster:\n  name: Bad\n"), "cluster.name"),
        ("bad namespace", format!("{GOOD}cluster:\n  namespace: a_b\n"), "cluster.namespace"),
        ("namespace a YAML 1.1 boolean", format!("{GOOD}cluster:\n  namespace: \"off\"\n"), "cluster.namespace"),
        ("relative cache root", format!("{GOOD}cluster:\n  cache_root: cache\n"), "cluster.cache_root"),
        ("cache root /", format!("{GOOD}cluster:\n  cache_root: /\n"), "cluster.cache_root"),
        ("cache root /etc", format!("{GOOD}cluster:\n  cache_root: /etc\n"), "cluster.cache_root"),
        ("cache root /var/lib", format!("{GOOD}cluster:\n  cache_root: /var/lib\n"), "cluster.cache_root"),
        ("empty chart source", format!("{GOOD}cluster:\n  scale_set_chart: {{source: '', version: 0.14.2}}\n"), "cluster.scale_set_chart.source"),
        ("chart without version", format!("{GOOD}cluster:\n  controller_chart: {{source: /charts/c}}\n"), "cluster.controller_chart"),
        ("github_ca not a certificate", replace("    mode: kubernetes\n", "    mode: kubernetes\n    github_ca: hello\n"), "installation \"ci\": invalid github_ca"),
        ("NUL byte", "version: 1\n\0\n".into(), "config file"),
        ("alias bomb", bomb, "config file"),
    ]
}

fn check_file_everywhere(
    sb: &Sandbox,
    what: &str,
    bytes: &[u8],
    needle: &str,
    code: i32,
) -> Vec<String> {
    fs::write(&sb.config, bytes).unwrap();
    let path = sb.config.display().to_string();
    every_command()
        .iter()
        .filter_map(|args| {
            check(
                sb,
                &Case {
                    what: format!("config: {what}"),
                    args: strings(args),
                    stdin: String::new(),
                    code,
                    needles: vec![path.clone(), needle.to_string()],
                },
            )
        })
        .collect()
}

pub fn bad_config_files_are_refused_by_every_command_and_never_touched() {
    let sb = Sandbox::new();
    let files = bad_files();
    println!(
        "{} bad config files x {} commands",
        files.len() + 1,
        every_command().len()
    );
    let mut failures = Vec::new();
    for (what, text, needle) in &files {
        failures.extend(check_file_everywhere(&sb, what, text.as_bytes(), needle, 2));
    }
    // Bytes that are not UTF-8 at all.
    failures.extend(check_file_everywhere(
        &sb,
        "invalid UTF-8",
        b"version: 1\n# \xff\xfe\n",
        "UTF-8",
        2,
    ));
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(files.len() + 1 >= 35);
}

pub fn config_paths_that_cannot_be_read() {
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    let path = sb.config.display().to_string();
    let run = |failures: &mut Vec<String>, what: &str, code: i32, needles: &[&str]| {
        for args in every_command() {
            if let Some(f) = check(
                &sb,
                &Case {
                    what: what.into(),
                    args: strings(&args),
                    stdin: String::new(),
                    code,
                    needles: strings(needles),
                },
            ) {
                failures.push(f);
            }
        }
    };

    // A directory where the file should be: bad input.
    fs::remove_file(&sb.config).unwrap();
    fs::create_dir(&sb.config).unwrap();
    run(
        &mut failures,
        "config is a directory",
        2,
        &[&path, "is a directory"],
    );
    fs::remove_dir(&sb.config).unwrap();

    // A symlink loop: an I/O error, exit 1.
    std::os::unix::fs::symlink(&sb.config, &sb.config).unwrap();
    run(&mut failures, "config is a symlink loop", 1, &[&path]);
    fs::remove_file(&sb.config).unwrap();

    // Unreadable (mode 000): root reads anyway, so only as another user.
    fs::write(&sb.config, GOOD).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        fs::set_permissions(&sb.config, fs::Permissions::from_mode(0o000)).unwrap();
        run(
            &mut failures,
            "config is unreadable",
            1,
            &[&path, "ermission denied"],
        );
        fs::set_permissions(&sb.config, fs::Permissions::from_mode(0o600)).unwrap();
    } else {
        println!("note: running as root, mode-000 config not tested (root reads it anyway)");
    }
    fs::remove_file(&sb.config).unwrap();

    // The parent "directory" is a file: an I/O error naming the path.
    let blocker = sb.path().join("blocker");
    fs::write(&blocker, "x").unwrap();
    let inside = blocker.join("config.yaml");
    let inside_s = inside.display().to_string();
    for args in every_command() {
        let out = sb
            .cmd()
            .env("DESKRUN_CONFIG", &inside)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) || !stderr.contains(blocker.to_str().unwrap()) {
            failures.push(format!(
                "[config under a file] deskrun {}: exit {:?}, expected 1 naming {inside_s}\n{stderr}",
                args.join(" "),
                out.status.code()
            ));
        }
    }
    assert_eq!(fs::read(&blocker).unwrap(), b"x");

    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

pub fn a_missing_config_is_an_empty_one_and_is_not_created_by_reads_or_failed_writes() {
    let sb = Sandbox::new();
    fs::remove_file(&sb.config).unwrap();
    // Reads succeed with an empty config and create nothing.
    for args in [
        vec!["list"],
        vec!["list", "--output", "json"],
        vec!["render"],
    ] {
        sb.cmd().args(&args).assert().success();
        assert!(!sb.config.exists(), "{args:?} created the config");
    }
    // A failed change creates nothing either.
    let cases = vec![
        cmd(
            "remove from a missing config",
            &["remove", "ci"],
            2,
            &["\"ci\""],
        ),
        cmd("render an unknown name", &["render", "ci"], 2, &["\"ci\""]),
        cmd("up an unknown name", &["up", "ci"], 2, &["\"ci\""]),
        add(
            "bad add into a missing config",
            "Bad",
            &[],
            "invalid installation name",
        ),
    ];
    run_all(&sb, &cases);
    assert!(!sb.config.exists());
    // The first good write creates it, 0600.
    sb.add("ci", &[]);
    let mode = fs::metadata(&sb.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
