//! Keeps the documentation true.
//!
//! For README.md, EXAMPLES.md, TROUBLESHOOTING.md and every `docs/*.md`:
//!
//! - every `deskrun` command line in a fenced shell block (a line starting
//!   with `deskrun ` or `$ deskrun `, or a `deskrun` after `|`, `&&`, `||` or
//!   `;`, with `\` continuations joined) is parsed by the real command line,
//!   `deskrun::cli::Cli`; `<...>` placeholders are refused, and the
//!   installation each `deskrun add` describes is validated like the CLI does;
//! - every fenced YAML block whose first non-comment line is `version: 1`
//!   loads with `deskrun::config::parse`;
//! - the JSON shapes the README documents (`<!-- shape: NAME -->` before a
//!   json block) match what the real output types serialise to;
//! - the README mentions every command, flag and flag value;
//! - relative links and their `#anchors` resolve;
//! - nothing looks like a real GitHub token.
//!
//! Output blocks (```text, ```yaml workflows, ```json) are not read as
//! commands.

use clap::{CommandFactory, Parser};
use deskrun::cli::{
    AddArgs, AuthTypeArg, Cli, ClusterCommand, Command, ConfigCommand, ModeArg, SetProxyArgs,
};
use deskrun::model::{Auth, Mode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The documents and how many `deskrun` commands each must at least yield,
/// so that a broken extractor cannot pass by finding nothing. Any other
/// `docs/*.md` is checked too, with no minimum.
const DOCUMENTS: &[(&str, usize)] = &[
    ("README.md", 14),
    ("EXAMPLES.md", 20),
    ("TROUBLESHOOTING.md", 10),
    ("docs/docker-in-kubernetes.md", 2),
    ("docs/architecture.md", 1),
];

/// Info strings of fenced blocks whose lines are shell commands.
const SHELL_LANGS: &[&str] = &["", "sh", "bash", "shell", "console", "zsh"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every document to check, relative to the repository root, with its minimum.
fn documents() -> Vec<(String, usize)> {
    let mut docs: Vec<(String, usize)> =
        DOCUMENTS.iter().map(|(p, n)| (p.to_string(), *n)).collect();
    if let Ok(entries) = std::fs::read_dir(repo_root().join("docs")) {
        let mut extra: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("docs/{n}"))
            .filter(|p| !docs.iter().any(|(d, _)| d == p))
            .collect();
        extra.sort();
        docs.extend(extra.into_iter().map(|p| (p, 0)));
    }
    docs
}

fn read_doc(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel))
        .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

// ---------------------------------------------------------------------------
// Markdown: fenced blocks.

#[derive(Debug)]
struct Block {
    /// First word of the info string, lowercased (`sh`, `yaml`, ...).
    lang: String,
    /// 1-based line number of the first content line.
    first_line: usize,
    lines: Vec<String>,
    /// `NAME` of a `<!-- shape: NAME -->` line right before the fence.
    shape: Option<String>,
}

fn fence_of(line: &str) -> Option<(usize, char, usize, &str)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let ch = trimmed.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let len = trimmed.chars().take_while(|&c| c == ch).count();
    (len >= 3).then(|| (indent, ch, len, trimmed[len..].trim()))
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((indent, ch, len, info)) = fence_of(lines[i]) else {
            i += 1;
            continue;
        };
        let shape = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| {
                l.trim()
                    .strip_prefix("<!-- shape:")
                    .and_then(|r| r.strip_suffix("-->"))
                    .map(|n| n.trim().to_string())
            });
        let lang = info
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let first_line = i + 2;
        let mut content = Vec::new();
        i += 1;
        while i < lines.len() {
            if let Some((_, c, l, rest)) = fence_of(lines[i])
                && c == ch
                && l >= len
                && rest.is_empty()
            {
                break;
            }
            let line = lines[i];
            let strip = line.chars().take(indent).take_while(|c| *c == ' ').count();
            content.push(line[strip..].to_string());
            i += 1;
        }
        i += 1;
        out.push(Block {
            lang,
            first_line,
            lines: content,
            shape,
        });
    }
    out
}

// ---------------------------------------------------------------------------
// A small shell-words splitter.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Op(String),
}

/// Split a shell line into words and operators, honouring single and double
/// quotes and backslashes; a `#` that starts a word starts a comment.
fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                if in_word {
                    toks.push(Tok::Word(std::mem::take(&mut word)));
                    in_word = false;
                }
                i += 1;
            }
            '#' if !in_word => break,
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or("unclosed single quote")?;
                word.extend(&chars[i + 1..i + 1 + end]);
                in_word = true;
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unclosed double quote".into()),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&c) => {
                            word.push(c);
                            i += 1;
                        }
                    }
                }
                in_word = true;
                i += 1;
            }
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    word.push(next);
                }
                in_word = true;
                i += 2;
            }
            '|' | '&' | ';' | '<' | '>' => {
                // `2>` and friends: a word of digits right before a redirect.
                let mut op = String::new();
                if in_word {
                    if matches!(c, '<' | '>') && word.chars().all(|d| d.is_ascii_digit()) {
                        op = std::mem::take(&mut word);
                    } else {
                        toks.push(Tok::Word(std::mem::take(&mut word)));
                    }
                    in_word = false;
                }
                op.push(c);
                i += 1;
                while let Some(&n) = chars.get(i) {
                    let two: String = [op.chars().last().unwrap_or(' '), n].iter().collect();
                    if matches!(two.as_str(), "||" | "&&" | ">>" | "<<" | "&>" | ">&") {
                        op.push(n);
                        i += 1;
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Op(op));
            }
            _ => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word {
        toks.push(Tok::Word(word));
    }
    Ok(toks)
}

/// The `deskrun` invocations of one logical shell line, each as an argv.
fn deskrun_argvs(line: &str) -> Result<Vec<Vec<String>>, String> {
    let toks = tokenize(line)?;
    let mut out = Vec::new();
    let mut segment: Vec<String> = Vec::new();
    let mut skip_target = false;
    let mut flush = |segment: &mut Vec<String>| {
        let words: Vec<String> = std::mem::take(segment)
            .into_iter()
            .skip_while(|w| {
                // Leading `NAME=value` assignments.
                w.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .collect();
        if words.first().map(String::as_str) == Some("deskrun") {
            out.push(words);
        }
    };
    for tok in toks {
        match tok {
            Tok::Word(w) => {
                if skip_target {
                    skip_target = false;
                } else {
                    segment.push(w);
                }
            }
            Tok::Op(op) if op.contains('<') || op.contains('>') => skip_target = true,
            Tok::Op(_) => {
                skip_target = false;
                flush(&mut segment);
            }
        }
    }
    flush(&mut segment);
    Ok(out)
}

/// A command found in a document.
#[derive(Debug)]
struct Found {
    line: usize,
    text: String,
    argv: Vec<String>,
}

/// Logical lines of a shell block (continuations joined), with line numbers,
/// `$ ` prompts removed.
fn logical_lines(block: &Block) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (k, raw) in block.lines.iter().enumerate() {
        let n = block.first_line + k;
        let (start, mut text) = match current.take() {
            Some((start, acc)) => (start, format!("{acc} {}", raw.trim_start())),
            None => {
                let t = raw.trim_start();
                let t = t.strip_prefix("$ ").unwrap_or(t);
                (n, t.to_string())
            }
        };
        let trailing = text.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            text.pop();
            current = Some((start, text.trim_end().to_string()));
        } else {
            out.push((start, text));
        }
    }
    if let Some(last) = current {
        out.push(last);
    }
    out
}

/// Every `deskrun` command in the shell blocks of a document.
fn commands_in(text: &str) -> Result<Vec<Found>, Vec<String>> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for block in blocks(text) {
        if !SHELL_LANGS.contains(&block.lang.as_str()) {
            continue;
        }
        for (line, text) in logical_lines(&block) {
            if !text.contains("deskrun") {
                continue;
            }
            match deskrun_argvs(&text) {
                Ok(argvs) => found.extend(argvs.into_iter().map(|argv| Found {
                    line,
                    text: text.clone(),
                    argv,
                })),
                Err(e) => errors.push(format!("{line}: cannot split `{text}`: {e}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------
// Checking one command.

fn mode(m: ModeArg) -> Mode {
    match m {
        ModeArg::Kubernetes => Mode::Kubernetes,
        ModeArg::CachedPrivilegedKubernetes => Mode::CachedPrivilegedKubernetes,
        ModeArg::Dind => Mode::Dind,
    }
}

/// Validate what `deskrun add` would store, with a stand-in credential (the
/// docs never carry a real one).
fn check_add(args: &AddArgs) -> Result<(), String> {
    if args.auth_value.is_some() {
        return Err("documents pass credentials with --auth-value-stdin or --auth-value-file, never a literal --auth-value".into());
    }
    if !args.auth_value_stdin && args.auth_value_file.is_none() {
        return Err("no credential: add --auth-value-stdin or --auth-value-file FILE".into());
    }
    let auth = match args.auth_type {
        AuthTypeArg::Pat => {
            if args.app_id.is_some() || args.installation_id.is_some() {
                return Err("--app-id/--installation-id need --auth-type github-app".into());
            }
            Auth::Pat {
                token: "docs-test-token".into(),
            }
        }
        AuthTypeArg::GithubApp => {
            let (Some(app_id), Some(installation_id)) = (&args.app_id, &args.installation_id)
            else {
                return Err("--auth-type github-app needs --app-id and --installation-id".into());
            };
            Auth::GithubApp {
                app_id: app_id.clone(),
                installation_id: installation_id.clone(),
                // The armor is split so that secret scanners stay quiet.
                private_key: concat!(
                    "-----BEGIN RSA PRIVATE",
                    " KEY-----\nZmFrZQ==\n-----END RSA PRIVATE",
                    " KEY-----\n"
                )
                .into(),
            }
        }
    };
    let req = deskrun::ops::add::AddRequest {
        name: args.name.clone(),
        repository: args.repository.clone(),
        mode: mode(args.mode),
        min_runners: args.min_runners,
        max_runners: args.max_runners,
        instances: args.instances,
        caches: args.caches.clone(),
        job_container: args.job_container.map(deskrun::commands::job_container),
        glibc_compat: args.glibc_compat,
        node: args.node.clone(),
        auth,
        replace: args.replace,
        labels: args.labels.clone(),
        env: args.env.clone(),
        runner_image: args.runner_image.clone(),
        dind_image: args.dind_image.clone(),
        requests: args.requests.clone(),
        limits: args.limits.clone(),
        allow_http: args.allow_http,
        // The docs' CA files are not here: a real certificate stands in.
        github_ca: args
            .github_ca_file
            .as_ref()
            .map(|_| include_str!("../fixtures/github-ca-1.pem").to_string()),
        no_github_ca: args.no_github_ca,
    };
    deskrun::ops::add::installation_from(&req)
        .map(|_| ())
        .map_err(|e| format!("{e:#}"))
}

/// What `config set-proxy` would store; the environment and stdin are not
/// the docs' to know, so only flag values are checked.
fn check_set_proxy(args: &SetProxyArgs) -> Result<(), String> {
    use deskrun::ops::proxy::{ProxyRequest, refuse_credentials_in_argv, settings_from};
    for (flag, url) in [("--https", &args.https), ("--http", &args.http)] {
        if let Some(url) = url {
            refuse_credentials_in_argv(flag, url).map_err(|e| format!("{e:#}"))?;
        }
    }
    if args.clear || (args.from_env && args.http.is_none() && args.https.is_none()) {
        return Ok(());
    }
    settings_from(&ProxyRequest {
        http: args.http.clone(),
        https: args.https.clone(),
        no_proxy: args.no_proxy.clone(),
        credentials: args
            .credentials_stdin
            .then(|| ("docs-user".to_string(), "docs-password".to_string())),
    })
    .map(|_| ())
    .map_err(|e| format!("{e:#}"))
}

fn check_names(names: &[String]) -> Result<(), String> {
    for name in names {
        deskrun::validate::validate_name(name, 1).map_err(|e| format!("{e:#}"))?;
    }
    Ok(())
}

/// Parse one argv with the real CLI and check what it describes.
fn check_command(argv: &[String]) -> Result<(), String> {
    if let Some(w) = argv
        .iter()
        .find(|w| w.contains('<') || w.contains('>') || w.contains('…') || w.as_str() == "...")
    {
        return Err(format!("placeholder {w:?}: write a real example value"));
    }
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                return Ok(());
            }
            return Err(e.to_string().trim_end().to_string());
        }
    };
    match &cli.command {
        Command::Add(args) => check_add(args),
        Command::Remove { name, .. } => check_names(std::slice::from_ref(name)),
        Command::Render(args) => check_names(&args.names),
        Command::Up(args) => check_names(&args.names),
        Command::Status(args) => check_names(args.name.as_slice()),
        Command::Logs(args) => check_names(args.name.as_slice()),
        Command::Jobs { name, .. } => check_names(name.as_slice()),
        Command::Doctor { names, .. } => check_names(names),
        Command::Config(ConfigCommand::SetProxy(args)) => check_set_proxy(args),
        Command::List { .. }
        | Command::Down(_)
        | Command::Cluster(ClusterCommand::Create | ClusterCommand::Delete { .. })
        | Command::Cluster(ClusterCommand::Status { .. })
        | Command::Config(_)
        | Command::Cluster(ClusterCommand::Use { .. })
        | Command::Version
        | Command::Completions { .. } => Ok(()),
    }
}

#[test]
fn every_deskrun_command_in_the_docs_parses() {
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (doc, min) in documents() {
        let text = read_doc(&doc);
        let found = match commands_in(&text) {
            Ok(found) => found,
            Err(errors) => {
                failures.extend(errors.into_iter().map(|e| format!("{doc}:{e}")));
                continue;
            }
        };
        for f in &found {
            if let Err(msg) = check_command(&f.argv) {
                failures.push(format!(
                    "{doc}:{}: `{}`\n    argv {:?}\n    {}",
                    f.line,
                    f.text,
                    f.argv,
                    msg.replace('\n', "\n    ")
                ));
            }
        }
        if found.len() < min {
            failures.push(format!(
                "{doc}: found only {} deskrun command(s), expected at least {min}: is the extractor broken?",
                found.len()
            ));
        }
        summary.push(format!("{doc}: {} commands", found.len()));
    }
    eprintln!("{}", summary.join("\n"));
    assert!(
        failures.is_empty(),
        "{} documented command(s) do not match the CLI:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_config_example_loads() {
    let mut failures = Vec::new();
    let mut loaded = 0;
    for (doc, _) in documents() {
        for block in blocks(&read_doc(&doc)) {
            if block.lang != "yaml" && block.lang != "yml" {
                continue;
            }
            let first = block
                .lines
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with('#'));
            if first != Some("version: 1") {
                continue;
            }
            let text = block.lines.join("\n") + "\n";
            match deskrun::config::parse(&text, Path::new(&doc)) {
                Ok(_) => loaded += 1,
                Err(e) => failures.push(format!("{doc}:{}: {e:#}", block.first_line)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "config examples that do not load:\n{}",
        failures.join("\n")
    );
    assert!(loaded >= 1, "the README must show a full config example");
}

// ---------------------------------------------------------------------------
// JSON shapes.

/// Whether `doc` (from the README) has the shape of `real`: the same keys in
/// every object, the same kinds of scalars, and array items each matching
/// some real item (and the other way round). `null` matches anything: it is
/// how optional fields print.
fn same_shape(doc: &Value, real: &Value, path: &str, errors: &mut Vec<String>) {
    match (doc, real) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(d), Value::Object(r)) => {
            let dk: BTreeSet<&String> = d.keys().collect();
            let rk: BTreeSet<&String> = r.keys().collect();
            for k in rk.difference(&dk) {
                errors.push(format!("{path}.{k}: in the real output, not documented"));
            }
            for k in dk.difference(&rk) {
                errors.push(format!("{path}.{k}: documented, not in the real output"));
            }
            for k in dk.intersection(&rk) {
                same_shape(&d[*k], &r[*k], &format!("{path}.{k}"), errors);
            }
        }
        (Value::Array(d), Value::Array(r)) => {
            if d.is_empty() || r.is_empty() {
                return;
            }
            let fits = |a: &Value, b: &Value| {
                let mut e = Vec::new();
                same_shape(a, b, path, &mut e);
                e.is_empty()
            };
            for (i, item) in d.iter().enumerate() {
                if !r.iter().any(|x| fits(item, x)) {
                    let mut e = Vec::new();
                    same_shape(item, &r[0], &format!("{path}[{i}]"), &mut e);
                    errors.extend(e);
                }
            }
            for x in r {
                if !d.iter().any(|item| fits(item, x)) {
                    errors.push(format!(
                        "{path}[]: a real item of shape {x} is not documented"
                    ));
                }
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (d, r) => errors.push(format!("{path}: documented {d}, real output has {r}")),
    }
}

fn real_list_output() -> Value {
    let config = deskrun::config::parse(
        &format!(
            "{}{}",
            "version: 1\n\
         installations:\n  \
           ci:\n    \
             repository: https://github.com/my-org\n    \
             mode: kubernetes\n    \
             min_runners: 1\n    \
             max_runners: 1\n    \
             instances: 2\n    \
             caches:\n      \
               - path: /root/.cargo/registry\n      \
               - path: /root/.npm\n        \
                 host_path: /srv/ci/npm\n    \
             labels: [rust]\n    \
             env: {CARGO_TERM_COLOR: always}\n    \
             resources:\n      \
               job:\n        \
                 requests: {cpu: 2, memory: 4Gi}\n        \
                 limits: {memory: 8Gi}\n    \
             auth: {type: pat, token: docs-test-token}\n    \
             github_ca: |\n",
            include_str!("../fixtures/github-ca-1.pem")
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        ),
        Path::new("docs-test.yaml"),
    )
    .expect("test config loads");
    serde_json::to_value(deskrun::ops::list::list(&config)).unwrap()
}

fn real_status_output() -> Value {
    use deskrun::ops::status::*;
    let report = StatusReport {
        cluster: ClusterStatus {
            name: "deskrun".into(),
            provider: "kind".into(),
            context: "kind-deskrun".into(),
            namespace: "arc-systems".into(),
            exists: true,
            running: Some(true),
        },
        controller: Some(ControllerStatus {
            release: "arc".into(),
            status: "deployed".into(),
            version: "0.14.2".into(),
            revision: "1".into(),
        }),
        installations: vec![InstallationStatus {
            name: "docker-runner".into(),
            mode: "cached-privileged-kubernetes".into(),
            instances: vec![InstanceStatus {
                name: "docker-runner".into(),
                deployed: true,
                release_status: Some("deployed".into()),
                revision: Some("1".into()),
                up_to_date: true,
                runners: Some(RunnerCounts {
                    current: 1,
                    pending: 0,
                    running: 1,
                }),
                listener: Some("Running".into()),
            }],
        }],
        not_in_config: vec!["old-runner".into()],
        mirrors: vec![real_mirror_status()],
        mirror_notice: None,
        problems: vec![deskrun::workload::Problem {
            instance: Some("docker-runner".into()),
            object: deskrun::workload::ObjectRef {
                name: "docker-runner-754b578d-listener".into(),
                kind: deskrun::workload::ObjectKind::Listener,
            },
            reason: "CrashLoopBackOff".into(),
            message: "container listener keeps crashing".into(),
            hint: "run `deskrun doctor`".into(),
        }],
    };
    serde_json::to_value(report).unwrap()
}

fn real_jobs_output() -> Value {
    use deskrun::workload::{JobInfo, PodRef, RunnerRow};
    let pod = |name: &str| {
        Some(PodRef {
            name: name.into(),
            phase: "Running".into(),
        })
    };
    let report = deskrun::ops::jobs::JobsReport {
        runners: vec![RunnerRow {
            name: "docker-runner-k2x9d-runner-7tq4z".into(),
            installation: Some("docker-runner".into()),
            instance: "docker-runner".into(),
            phase: "Running".into(),
            idle: false,
            job: Some(JobInfo {
                repository: Some("owner/repo".into()),
                workflow: Some("ci.yml".into()),
                workflow_ref: Some("owner/repo/.github/workflows/ci.yml@refs/heads/main".into()),
                name: Some("build".into()),
                run_id: Some(12345678901),
            }),
            age_seconds: Some(312),
            pod: pod("docker-runner-k2x9d-runner-7tq4z"),
            job_pod: pod("docker-runner-k2x9d-runner-7tq4z-workflow"),
        }],
    };
    serde_json::to_value(report).unwrap()
}

fn real_mirror_status() -> deskrun::ops::mirrors::MirrorStatus {
    deskrun::ops::mirrors::MirrorStatus {
        upstream: "docker.io".into(),
        container: "deskrun-mirror-docker-io".into(),
        exists: true,
        managed: true,
        running: true,
        state: Some("running".into()),
        up_to_date: true,
        data_dir: "/home/you/.cache/deskrun/registry/docker.io".into(),
        disk_bytes: Some(1_234_567_890),
    }
}

fn real_cluster_status_output() -> Value {
    use deskrun::ops::cluster::ClusterReport;
    use deskrun::tools::NodeMount;
    let report = ClusterReport {
        name: "deskrun".into(),
        provider: "kind".into(),
        context: "kind-deskrun".into(),
        exists: true,
        running: Some(true),
        wanted_mounts: vec!["/tmp/github-runner-cache".into()],
        missing_mounts: vec!["/srv/ci/npm".into()],
        mounts: vec![NodeMount {
            source: "/tmp/github-runner-cache".into(),
            destination: "/tmp/github-runner-cache".into(),
        }],
        mirrors: vec![real_mirror_status()],
        mirror_notice: Some("kind cluster deskrun was created without ...".into()),
        nodes: vec![],
    };
    serde_json::to_value(report).unwrap()
}

fn real_doctor_output() -> Value {
    use deskrun::checks::{Check, Status, worst};
    let checks = vec![
        Check::ok("tool.kind", "kind 0.27.0 at /usr/local/bin/kind"),
        Check::warn(
            "host.inotify",
            "fs.inotify.max_user_instances is 128",
            "sudo sysctl ...",
        ),
        Check::fail(
            "github.scope",
            "the classic token has the scopes workflow",
            "tick repo",
        )
        .subject("docker-runner"),
    ];
    let report = deskrun::ops::doctor::DoctorReport {
        status: worst(&checks),
        checks,
    };
    assert_eq!(report.status, Status::Fail);
    serde_json::to_value(report).unwrap()
}

#[test]
fn documented_json_shapes_match_the_real_output() {
    let readme = read_doc("README.md");
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for block in blocks(&readme) {
        let Some(shape) = &block.shape else { continue };
        let doc: Value = serde_json::from_str(&block.lines.join("\n")).unwrap_or_else(|e| {
            panic!(
                "README.md:{}: the `{shape}` example is not JSON: {e}",
                block.first_line
            )
        });
        let real = match shape.as_str() {
            "list" => real_list_output(),
            "status" => real_status_output(),
            "cluster-status" => real_cluster_status_output(),
            "jobs" => real_jobs_output(),
            "doctor" => real_doctor_output(),
            other => panic!("README.md:{}: unknown shape {other:?}", block.first_line),
        };
        let mut e = Vec::new();
        same_shape(&doc, &real, "", &mut e);
        errors.extend(
            e.into_iter()
                .map(|e| format!("README.md:{} ({shape}): {e}", block.first_line)),
        );
        seen.insert(shape.clone());
    }
    for shape in ["list", "status", "cluster-status", "jobs", "doctor"] {
        assert!(
            seen.contains(shape),
            "README.md must document the `{shape}` JSON shape (a json block after `<!-- shape: {shape} -->`)"
        );
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

// ---------------------------------------------------------------------------
// Completeness, links, secrets.

#[test]
fn readme_mentions_every_command_flag_and_value() {
    let readme = read_doc("README.md");
    let mut missing = Vec::new();
    fn walk(cmd: &clap::Command, path: &str, readme: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long()
                && !matches!(long, "help" | "version")
                && !readme.contains(&format!("--{long}"))
            {
                missing.push(format!("{path} --{long}"));
            }
            let values = if arg.get_action().takes_values() {
                arg.get_possible_values()
            } else {
                vec![]
            };
            for value in values {
                if !value.is_hide_set() && !readme.contains(value.get_name()) {
                    missing.push(format!(
                        "{path} {} value {}",
                        arg.get_id(),
                        value.get_name()
                    ));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            if !readme.contains(&format!("`{name}")) {
                missing.push(name.clone());
            }
            walk(sub, &name, readme, missing);
        }
    }
    walk(&Cli::command(), "deskrun", &readme, &mut missing);
    assert!(
        missing.is_empty(),
        "README.md does not document: {}",
        missing.join(", ")
    );
}

/// GitHub's heading anchors: lowercase, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if fence_of(line).is_some() {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim_start_matches('#');
            if h.starts_with(' ') {
                out.insert(slug(h));
            }
        }
    }
    out
}

#[test]
fn relative_links_and_anchors_resolve() {
    let mut broken = Vec::new();
    for (doc, _) in documents() {
        let text = read_doc(&doc);
        let base = Path::new(&doc).parent().unwrap_or(Path::new(""));
        let mut rest = text.as_str();
        while let Some(pos) = rest.find("](") {
            rest = &rest[pos + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file_rel = if file.is_empty() {
                PathBuf::from(&doc)
            } else {
                base.join(file)
            };
            let full = repo_root().join(&file_rel);
            if !full.exists() {
                broken.push(format!("{doc}: link to missing {}", file_rel.display()));
                continue;
            }
            if !anchor.is_empty() && full.extension().is_some_and(|e| e == "md") {
                let target_text = std::fs::read_to_string(&full).unwrap_or_default();
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!(
                        "{doc}: no heading for #{anchor} in {}",
                        file_rel.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `gh[pousr]_` followed by 30 or more letters and digits: a real GitHub
/// token's shape.
fn looks_like_github_token(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(3) {
        if bytes[i] == b'g'
            && bytes[i + 1] == b'h'
            && b"pousr".contains(&bytes[i + 2])
            && bytes[i + 3] == b'_'
        {
            let run = bytes[i + 4..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if run >= 30 {
                return Some(&text[i..i + 4 + run]);
            }
        }
    }
    None
}

#[test]
fn no_document_holds_a_real_looking_token() {
    for (doc, _) in documents() {
        if let Some(t) = looks_like_github_token(&read_doc(&doc)) {
            panic!("{doc} contains something shaped like a GitHub token: {t}");
        }
    }
}

// ---------------------------------------------------------------------------
// The checker checks: self-tests.

#[test]
fn a_made_up_flag_fails_to_parse() {
    let argv: Vec<String> = ["deskrun", "add", "x", "--colour", "red"]
        .map(String::from)
        .to_vec();
    let err = check_command(&argv).expect_err("--colour is not a deskrun flag");
    assert!(err.contains("--colour"), "{err}");
    assert!(Cli::try_parse_from(&argv).is_err());
}

#[test]
fn the_extractor_finds_commands_where_the_docs_put_them() {
    let md = "\
Some prose with `deskrun up` inline (not checked).

```sh
$ deskrun add docker-runner --repository https://github.com/owner/repo \\
    --mode dind --auth-value-file ~/.config/deskrun-token
gh auth token | deskrun add ci --repository https://github.com/my-org --auth-value-stdin
deskrun remove ci && deskrun up   # a comment: deskrun bogus
deskrun list --output json | jq -r '.installations[] | \"deskrun \\(.name)\"'
DESKRUN_CONFIG=/tmp/x.yaml deskrun status --output json 2> /dev/null
deskrun add yy --repository https://github.com/o/r --auth-value-stdin < token.txt
echo deskrun is not run here
```

```yaml
# a workflow: not commands
run: deskrun up --bogus
```

```text
deskrun output lines are not commands
```
";
    let found = commands_in(md).expect("splits");
    let argvs: Vec<String> = found.iter().map(|f| f.argv.join(" ")).collect();
    assert_eq!(
        argvs,
        [
            "deskrun add docker-runner --repository https://github.com/owner/repo --mode dind --auth-value-file ~/.config/deskrun-token",
            "deskrun add ci --repository https://github.com/my-org --auth-value-stdin",
            "deskrun remove ci",
            "deskrun up",
            "deskrun list --output json",
            "deskrun status --output json",
            "deskrun add yy --repository https://github.com/o/r --auth-value-stdin",
        ]
    );
    assert_eq!(
        found[0].line, 4,
        "a continued command reports its first line"
    );
    for f in &found {
        check_command(&f.argv).unwrap_or_else(|e| panic!("{:?}: {e}", f.argv));
    }
}

#[test]
fn the_checker_refuses_placeholders_bad_values_and_literal_tokens() {
    let bad = [
        "deskrun add <name> --repository https://github.com/owner/repo --auth-value-stdin",
        "deskrun add Docker --repository https://github.com/owner/repo --auth-value-stdin",
        "deskrun add x --repository https://github.com/owner/repo --cache var/lib/docker --auth-value-stdin",
        "deskrun add x --repository https://github.com/owner/repo --auth-value not-a-token",
        "deskrun add x --repository https://github.com/owner/repo",
        "deskrun up --parallel 0",
        "deskrun remove Bad_Name",
    ];
    for line in bad {
        let argvs = deskrun_argvs(line).unwrap();
        assert!(
            check_command(&argvs[0]).is_err(),
            "should be refused: {line}"
        );
    }
    let ok = deskrun_argvs("deskrun help up").unwrap();
    check_command(&ok[0]).expect("help is fine");
}

#[test]
fn shape_comparison_notices_a_missing_or_extra_field() {
    let real = json!({"a": 1, "b": [{"c": "x"}], "d": null});
    let mut e = Vec::new();
    same_shape(
        &json!({"a": 2, "b": [{"c": "y"}], "d": "z"}),
        &real,
        "",
        &mut e,
    );
    assert!(e.is_empty(), "{e:?}");
    same_shape(&json!({"a": 2, "b": [{"c": 1}]}), &real, "", &mut e);
    // `d` undocumented, the item's `c` of the wrong kind, the real item
    // undocumented.
    assert_eq!(e.len(), 3, "{e:?}");
}

#[test]
fn token_shapes_are_recognised() {
    let fake = format!("gh{}_{}", "p", "A1".repeat(18));
    assert!(looks_like_github_token(&format!("token: {fake}")).is_some());
    assert!(looks_like_github_token("ghp_short").is_none());
    assert!(looks_like_github_token("token: example-token-not-real").is_none());
}
