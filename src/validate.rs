//! Validation and normalisation of every user input.
//!
//! Pure functions: each returns the normalised value or an [`InputError`]
//! (exit code 2) whose message names the field, what was wrong, and what is
//! allowed.
//!
//! [`InputError`]: crate::error::InputError

use crate::error::input;
use crate::input_bail;
use crate::model::{Auth, Cache, ClusterSettings, Config, Installation, Mode, Provider};
use crate::yaml::yaml11_misreads_label;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// ARC refuses scale-set names longer than this (gha-runner-scale-set chart).
pub const MAX_SCALE_SET_NAME: usize = 45;
pub const MAX_INSTANCES: u32 = 20;
pub const MAX_RUNNERS: u32 = 100;

/// Names that would collide with what deskrun itself creates: the controller
/// release (`arc`) and the `controller/` folder of `render --output-dir`.
const RESERVED_NAMES: [&str; 2] = ["arc", "controller"];

/// Paths a cache must not cover: the job pod's own system mounts, and the Nix
/// store (handled separately, with its own guidance).
const FORBIDDEN_CACHE_TARGETS: [&str; 4] = ["/proc", "/sys", "/dev", "/etc/hooks"];

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An installation name: a DNS-1123 label short enough that every instance
/// name (`<name>-<N>`) fits ARC's 45-character scale-set limit.
pub fn validate_name(name: &str, instances: u32) -> Result<()> {
    if !is_dns_label(name) {
        input_bail!(
            "invalid installation name {name:?}: use lowercase letters, digits and '-', \
             starting and ending with a letter or digit (a DNS-1123 label), e.g. docker-runner"
        );
    }
    if RESERVED_NAMES.contains(&name) {
        input_bail!(
            "invalid installation name {name:?}: it is reserved by deskrun ({}); choose another",
            RESERVED_NAMES.join(", ")
        );
    }
    // Names of instances 1..N differ only in the number: checking the first
    // nine and the last covers every shape (`x-1`, `x-10`).
    let misread = if instances > 1 {
        (1..=instances.min(9))
            .chain([instances])
            .map(|i| format!("{name}-{i}"))
            .find(|s| yaml11_misreads_label(s))
    } else {
        yaml11_misreads_label(name).then(|| name.to_string())
    };
    if let Some(bad) = misread {
        input_bail!(
            "invalid installation name {name:?}: the ARC chart writes the scale-set name {bad:?} into \
             its manifests unquoted, and Helm reads YAML 1.1, where {bad:?} is a boolean, null, number \
             or date rather than a name; choose another, e.g. {name}-runner"
        );
    }
    let longest = if instances > 1 {
        format!("{name}-{instances}")
    } else {
        name.to_string()
    };
    if longest.len() > MAX_SCALE_SET_NAME {
        let max = MAX_SCALE_SET_NAME - (longest.len() - name.len());
        input_bail!(
            "invalid installation name {name:?}: the scale-set name {longest:?} would be {} characters, \
             ARC allows at most {MAX_SCALE_SET_NAME}; with {instances} instance(s) the name may have \
             at most {max} characters",
            longest.len()
        );
    }
    Ok(())
}

/// Normalise a GitHub URL (named in `vocab`: `--repository`, `repository`):
/// a repository, an organisation or an enterprise, on github.com or a GitHub
/// Enterprise Server host.
pub fn normalize_repository(vocab: Vocab, raw: &str) -> Result<String> {
    let field = vocab.name(Field::Repository);
    let shapes = "expected https://github.com/OWNER/REPO, https://github.com/ORG or \
                  https://github.com/enterprises/ENTERPRISE (or the same on your GitHub Enterprise Server host)";
    // Never repeat a password that was pasted into the URL.
    let shown = crate::model::without_userinfo(raw);
    let url = raw.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => input_bail!("invalid {field} {shown:?}: not a URL; {shapes}"),
    };
    if scheme != "https" && scheme != "http" {
        input_bail!("invalid {field} {shown:?}: the scheme must be https; {shapes}");
    }
    if rest.contains(['?', '#']) {
        input_bail!("invalid {field} {shown:?}: remove the query or fragment; {shapes}");
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.contains('@') {
        let instead = match vocab {
            Vocab::Flags => "give it with --auth-value-stdin or --auth-value-file".to_string(),
            _ => format!("put it in {}", vocab.name(Field::Token)),
        };
        input_bail!("invalid {field} {shown:?}: the URL must not carry credentials; {instead}");
    }
    let host = host.to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host.split(':').next().is_some_and(|h| {
            !h.is_empty()
                && h.split('.').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
        && host
            .split_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_ok());
    if !host_ok {
        input_bail!("invalid {field} {shown:?}: {host:?} is not a host name; {shapes}");
    }
    // github.com is always https; a GHES host keeps the scheme it was given.
    let scheme = if host == "github.com" || host == "www.github.com" {
        "https"
    } else {
        scheme.as_str()
    };
    let host = if host == "www.github.com" {
        "github.com".to_string()
    } else {
        host
    };
    let mut path = path.trim_end_matches('/');
    if let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/');
    }
    let segments: Vec<&str> = if path.is_empty() {
        vec![]
    } else {
        path.split('/').collect()
    };
    let owner_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 39
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !s.starts_with('-')
    };
    let repo_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    match segments.as_slice() {
        [] => {
            input_bail!(
                "invalid {field} {shown:?}: the URL names no owner or organisation; {shapes}"
            )
        }
        ["enterprises", ent] if owner_ok(ent) || repo_ok(ent) => {}
        ["enterprises"] | ["enterprises", _] => {
            input_bail!("invalid {field} {shown:?}: bad enterprise slug; {shapes}")
        }
        [org] if owner_ok(org) => {}
        [owner, repo] if owner_ok(owner) && repo_ok(repo) => {}
        [_] | [_, _] => input_bail!(
            "invalid {field} {shown:?}: owner names use letters, digits and '-', repository names also '.' and '_'; {shapes}"
        ),
        _ => input_bail!(
            "invalid {field} {shown:?}: too many path segments (is it a page inside the repository?); {shapes}"
        ),
    }
    Ok(format!("{scheme}://{host}/{}", segments.join("/")))
}

/// Normalise an absolute path: collapse `//` and `/./`, drop a trailing `/`.
/// `..` is refused rather than resolved, because a cache path must say
/// plainly where it is.
pub fn normalize_abs_path(field: &str, raw: &str) -> Result<String> {
    if raw.is_empty() {
        input_bail!(
            "invalid {field}: the path is empty; give an absolute path such as /var/lib/docker"
        );
    }
    if !raw.starts_with('/') {
        input_bail!("invalid {field} {raw:?}: the path must be absolute (start with /)");
    }
    if raw.chars().any(|c| c.is_control()) {
        input_bail!("invalid {field} {raw:?}: the path contains a control character");
    }
    if raw.contains(':') {
        input_bail!(
            "invalid {field} {raw:?}: a path cannot contain ':' (Kubernetes mount paths and kind node mounts do not allow it)"
        );
    }
    if raw.len() > 1024 {
        input_bail!("invalid {field}: the path is longer than 1024 characters");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => input_bail!(
                "invalid {field} {raw:?}: '..' is not allowed; write the path without it"
            ),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn is_under(path: &str, dir: &str) -> bool {
    path == dir || path.starts_with(&format!("{dir}/"))
}

/// Parse a `--cache` flag value: `PATH`, or `HOST_PATH:PATH`.
pub fn parse_cache_spec(spec: &str) -> Result<Cache> {
    match spec.split(':').collect::<Vec<_>>().as_slice() {
        [path] => Ok(Cache {
            path: normalize_abs_path("--cache", path)?,
            host_path: None,
        }),
        [host, path] => {
            if host.is_empty() || path.is_empty() {
                input_bail!(
                    "invalid --cache {spec:?}: both sides of HOST_PATH:PATH must be absolute paths"
                );
            }
            Ok(Cache {
                path: normalize_abs_path("--cache (job path)", path)?,
                host_path: Some(normalize_abs_path("--cache (host path)", host)?),
            })
        }
        _ => input_bail!(
            "invalid --cache {spec:?}: use PATH or HOST_PATH:PATH; a path cannot contain ':' (Kubernetes \
             mount paths and kind node mounts do not allow it)"
        ),
    }
}

/// Check a list of caches: normalised, allowed targets, no duplicates.
pub fn validate_caches(vocab: Vocab, caches: &[Cache]) -> Result<Vec<Cache>> {
    let mut targets = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    let mut out = Vec::with_capacity(caches.len());
    for (i, cache) in caches.iter().enumerate() {
        let field = vocab.name(Field::CachePath(i));
        let path = normalize_abs_path(&field, &cache.path)?;
        if path == "/" {
            input_bail!("invalid {field} \"/\": a cache cannot cover the whole file system");
        }
        if is_under(&path, "/nix/store") || path == "/nix" {
            input_bail!(
                "invalid {field} {path:?}: mounting a cache over /nix/store hides the store of NixOS job \
                 images and breaks every nix command; cache Nix's own cache instead, e.g. /root/.cache/nix"
            );
        }
        if let Some(dir) = FORBIDDEN_CACHE_TARGETS.iter().find(|d| is_under(&path, d)) {
            input_bail!(
                "invalid {field} {path:?}: {dir} is mounted by deskrun itself in the job pod; choose another path"
            );
        }
        if !targets.insert(path.clone()) {
            input_bail!("invalid {field} {path:?}: given twice; each cache needs its own path");
        }
        let host_path = match &cache.host_path {
            Some(h) => {
                let field = vocab.name(Field::CacheHostPath(i));
                let h = normalize_abs_path(&field, h)?;
                if h == "/" {
                    input_bail!("invalid {field} \"/\": choose a dedicated directory");
                }
                if !hosts.insert(h.clone()) {
                    input_bail!(
                        "invalid {field} {h:?}: given twice; two caches cannot share one host directory"
                    );
                }
                Some(h)
            }
            None => None,
        };
        out.push(Cache { path, host_path });
    }
    Ok(out)
}

/// Runner counts. Errors name the field as the user wrote it: `--max-runners
/// 0` on the command line, `max_runners: 0` in the config file.
pub fn validate_runners(vocab: Vocab, min: u32, max: u32, instances: u32) -> Result<()> {
    let (instances_field, max_field, min_field) = (
        vocab.setting(Field::Instances, instances),
        vocab.setting(Field::MaxRunners, max),
        vocab.setting(Field::MinRunners, min),
    );
    if !(1..=MAX_INSTANCES).contains(&instances) {
        input_bail!("invalid {instances_field}: must be between 1 and {MAX_INSTANCES}");
    }
    if max == 0 || max > MAX_RUNNERS {
        input_bail!("invalid {max_field}: must be between 1 and {MAX_RUNNERS}");
    }
    if min > MAX_RUNNERS {
        input_bail!("invalid {min_field}: must be between 0 and {MAX_RUNNERS}");
    }
    if min > max {
        input_bail!("invalid {min_field}: it is greater than {max_field}; min must be <= max");
    }
    if instances > 1 && (min, max) != (1, 1) {
        let one = |f| vocab.setting(f, 1);
        let fix = match vocab {
            Vocab::Flags => format!(
                "drop {}/{} or use {}",
                vocab.name(Field::MinRunners),
                vocab.name(Field::MaxRunners),
                one(Field::Instances)
            ),
            _ => format!(
                "set {} and {}, or {}",
                one(Field::MinRunners),
                one(Field::MaxRunners),
                one(Field::Instances)
            ),
        };
        input_bail!(
            "invalid runner counts for {instances} instances: every instance runs exactly one runner \
             (min 1, max 1); {fix}"
        );
    }
    Ok(())
}

/// The most a credential can be: a token is under 100 bytes, a GitHub App
/// key (RSA, 2048 to 4096 bits) under 4 KB. Reads stop here.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;
/// A GitHub token: `ghp_…` (classic), `github_pat_…` (fine-grained), `ghs_…`
/// (installation): ASCII letters, digits and `_`; older ones are hex.
pub const MAX_TOKEN_LEN: usize = 1024;

/// Validate a credential, named in `vocab` (`auth.token`, `AuthValue`).
pub fn validate_auth(vocab: Vocab, auth: &Auth) -> Result<()> {
    let field = match auth {
        Auth::Pat { .. } => Field::Token,
        Auth::GithubApp { .. } => Field::PrivateKey,
    };
    check_auth(vocab, auth, &vocab.name(field))
}

/// Validate a credential from the command line; `flag` is the flag it came
/// from (`--auth-value-file`, ...), named in every error.
pub fn validate_credential(auth: &Auth, flag: &str) -> Result<()> {
    check_auth(Vocab::Flags, auth, flag)
}

/// `secret` names the token or key field.
fn check_auth(vocab: Vocab, auth: &Auth, secret: &str) -> Result<()> {
    match auth {
        Auth::Pat { token } => check_token(vocab, token, secret),
        Auth::GithubApp {
            app_id,
            installation_id,
            private_key,
        } => {
            if app_id.is_empty()
                || app_id.len() > 64
                || !app_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.')
            {
                input_bail!(
                    "invalid {} {app_id:?}: give the GitHub App's numeric id or its client id (e.g. 123456 or Iv23li...)",
                    vocab.name(Field::AppId)
                );
            }
            if installation_id.is_empty()
                || installation_id.len() > 20
                || !installation_id.bytes().all(|b| b.is_ascii_digit())
            {
                input_bail!(
                    "invalid {} {installation_id:?}: give the numeric id of the app's installation",
                    vocab.name(Field::InstallationId)
                );
            }
            check_app_key(vocab, private_key, secret)
        }
    }
}

/// A human name for an invisible or unusual character.
fn char_name(c: char) -> String {
    let name = match c {
        '\u{feff}' => "byte order mark",
        '\u{200b}' => "zero-width space",
        '\u{200c}' => "zero-width non-joiner",
        '\u{200d}' => "zero-width joiner",
        '\u{2060}' => "word joiner",
        '\u{a0}' => "no-break space",
        _ => "",
    };
    if name.is_empty() {
        format!("{c:?} (U+{:04X})", u32::from(c))
    } else {
        format!("a {name} (U+{:04X})", u32::from(c))
    }
}

fn check_token(vocab: Vocab, token: &str, flag: &str) -> Result<()> {
    if token.is_empty() {
        if vocab != Vocab::Flags {
            input_bail!("missing {flag}: a pat installation needs a token");
        }
        input_bail!(
            "missing credential: a pat installation needs a token; give it with --auth-value-stdin, \
             --auth-value-file FILE or --auth-value VALUE"
        );
    }
    if token.len() > MAX_TOKEN_LEN {
        input_bail!(
            "invalid {flag}: {} characters, longer than any GitHub token ({MAX_TOKEN_LEN} at most); \
             is it the right value?",
            token.len()
        );
    }
    if token.starts_with('\u{feff}') {
        input_bail!(
            "invalid {flag}: the token starts with a byte order mark (U+FEFF), which an editor adds \
             when it saves \"UTF-8 with BOM\"; save the file without it, or paste the token again"
        );
    }
    if let Some((name, _)) = token.split_once('=')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        input_bail!(
            "invalid {flag}: it looks like an assignment ({name}=...); give only the token, the part \
             after '='"
        );
    }
    if let Some((i, c)) = token
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        let why = if c.is_whitespace() || c.is_control() {
            "a personal access token has no spaces or line breaks"
        } else if matches!(c, '"' | '\'' | '`') {
            "remove the quotes around it"
        } else if !c.is_ascii() {
            "GitHub tokens are ASCII letters, digits and '_'; copy it again from GitHub"
        } else {
            "GitHub tokens are ASCII letters, digits and '_'"
        };
        input_bail!(
            "invalid {flag}: the token contains {} at byte {i}: {why}",
            char_name(c)
        );
    }
    Ok(())
}

/// What a GitHub App key can be: one unencrypted RSA private key in PEM,
/// PKCS#1 (`RSA PRIVATE KEY`, what GitHub's "Generate a private key" gives)
/// or PKCS#8 (`PRIVATE KEY`) whose algorithm is rsaEncryption.
fn check_app_key(vocab: Vocab, pem: &str, flag: &str) -> Result<()> {
    let app = vocab.setting(Field::AuthType, "github-app");
    let bad = |why: String| -> Result<()> {
        Err(input(format!(
            "invalid {flag} for {app}: {why}. A GitHub App key is the .pem file from the \
             app's settings (Private keys > Generate a private key), beginning with -----BEGIN RSA \
             PRIVATE KEY-----"
        )))
    };
    if pem.trim().is_empty() {
        if vocab != Vocab::Flags {
            input_bail!(
                "missing {flag}: a github-app installation needs the app's private key (PEM)"
            );
        }
        input_bail!(
            "missing credential: a github-app installation needs the app's private key (PEM); give it \
             with --auth-value-file KEY.pem or --auth-value-stdin"
        );
    }
    if pem.len() > MAX_CREDENTIAL_BYTES {
        return bad(format!(
            "{} bytes, more than {} KiB (an RSA key of 4096 bits is about 3.3 KB)",
            pem.len(),
            MAX_CREDENTIAL_BYTES / 1024
        ));
    }
    let pem = pem.strip_prefix('\u{feff}').unwrap_or(pem);
    let lines: Vec<&str> = pem.lines().map(|l| l.trim_end_matches('\r')).collect();
    let begins: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
                .map(|label| (i, label))
        })
        .collect();
    let (start, label) = match begins.as_slice() {
        [] => return bad("no -----BEGIN ... PRIVATE KEY----- line, so it is not a PEM key".into()),
        [one] => *one,
        _ => return bad(format!("{} PEM blocks; give exactly one key", begins.len())),
    };
    match label {
        "RSA PRIVATE KEY" | "PRIVATE KEY" => {}
        "OPENSSH PRIVATE KEY" => {
            return bad(
                "it is an OpenSSH private key (ssh-keygen's format), not the app's key".into(),
            );
        }
        "ENCRYPTED PRIVATE KEY" => {
            return bad(
                "it is encrypted with a passphrase; decrypt it first (`openssl pkcs8 -in KEY.pem \
                 -out plain.pem`), since ARC needs the key itself"
                    .into(),
            );
        }
        "EC PRIVATE KEY" => {
            return bad("it is an elliptic-curve key; GitHub App keys are RSA".into());
        }
        "DSA PRIVATE KEY" => return bad("it is a DSA key; GitHub App keys are RSA".into()),
        other => return bad(format!("it is a PEM {other:?}, not a private key")),
    }
    let end_line = format!("-----END {label}-----");
    let Some(end) = lines.iter().position(|l| *l == end_line) else {
        return bad(format!("no {end_line} line; the key was cut short"));
    };
    if end < start {
        return bad(format!("{end_line} comes before the BEGIN line"));
    }
    if lines[..start]
        .iter()
        .chain(&lines[end + 1..])
        .any(|l| !l.trim().is_empty())
    {
        return bad("there is text before or after the key; give the key alone".into());
    }
    let body = &lines[start + 1..end];
    if body
        .iter()
        .any(|l| l.starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
    {
        return bad(
            "it is encrypted with a passphrase (Proc-Type: 4,ENCRYPTED); decrypt it first \
             (`openssl rsa -in KEY.pem -out plain.pem`), since ARC needs the key itself"
                .into(),
        );
    }
    let b64: String = body.iter().map(|l| l.trim()).collect();
    if b64.is_empty()
        || !b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return bad("the lines between BEGIN and END are not base64".into());
    }
    if label == "PRIVATE KEY" {
        use base64::Engine;
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&b64) else {
            return bad("the lines between BEGIN and END are not valid base64".into());
        };
        match pkcs8_algorithm(&der) {
            Some(RSA_ENCRYPTION) => {}
            Some(ED25519) => return bad("it is an Ed25519 key; GitHub App keys are RSA".into()),
            Some(EC_PUBLIC_KEY) => {
                return bad("it is an elliptic-curve key; GitHub App keys are RSA".into());
            }
            Some(_) => return bad("it is a PKCS#8 key of another algorithm than RSA".into()),
            None => return bad("it is not a well-formed PKCS#8 key".into()),
        }
    }
    Ok(())
}

/// DER of the algorithm OIDs a PKCS#8 key names.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The algorithm OID of a PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER version,
/// SEQUENCE { OID algorithm, ... }, OCTET STRING key }.
fn pkcs8_algorithm(der: &[u8]) -> Option<&[u8]> {
    let tlv = |d| crate::x509::tlv(d).ok();
    let (0x30, info, _) = tlv(der)? else {
        return None;
    };
    let (0x02, _, rest) = tlv(info)? else {
        return None;
    };
    let (0x30, alg, _) = tlv(rest)? else {
        return None;
    };
    let (0x06, oid, _) = tlv(alg)? else {
        return None;
    };
    Some(oid)
}

/// The chart refuses a scale-set label of 256 characters or more.
pub const MAX_LABEL_LEN: usize = 255;

/// One scale-set label. `field` names where it came from (`--label`,
/// `labels[2]`). The chart refuses empty labels and labels of 256 characters
/// or more; GitHub splits runner labels on commas, trims them and compares
/// them without case, so a comma, surrounding blanks or a control character
/// would make a label that no `runs-on:` can name.
pub fn validate_label(field: &str, label: &str) -> Result<()> {
    if label.is_empty() {
        input_bail!("invalid {field}: a label cannot be empty");
    }
    // The chart measures with Go's `len`: bytes, not characters.
    if label.len() > MAX_LABEL_LEN {
        input_bail!(
            "invalid {field}: the label is {} bytes long; the scale-set chart allows at most {MAX_LABEL_LEN} \
             (bytes of UTF-8, so fewer characters outside ASCII)",
            label.len()
        );
    }
    if label.trim() != label {
        input_bail!(
            "invalid {field} {label:?}: a label cannot start or end with a blank (GitHub trims labels, so \
             `runs-on:` could never name it exactly)"
        );
    }
    if label.contains(',') {
        input_bail!(
            "invalid {field} {label:?}: a label cannot contain ',' (GitHub splits labels on commas); \
             give each label on its own (gpu and linux, not \"gpu,linux\")"
        );
    }
    if label.chars().any(char::is_control) {
        input_bail!("invalid {field} {label:?}: a label cannot contain a control character");
    }
    Ok(())
}

/// A list of labels for the installation `name` (whose instances are
/// `instances`), named in `vocab` (`--label`, `labels[2]`).
pub fn validate_labels(vocab: Vocab, labels: &[String], instances: &[String]) -> Result<()> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (i, label) in labels.iter().enumerate() {
        let here = vocab.name(Field::Label(i));
        validate_label(&here, label)?;
        // GitHub compares labels without case.
        let key = label.to_lowercase();
        if let Some(other) = seen.insert(key.clone(), label) {
            input_bail!(
                "invalid {here} {label:?}: the same label as {other:?} (GitHub compares labels without case); give it once"
            );
        }
        if let Some(instance) = instances.iter().find(|n| n.to_lowercase() == key) {
            input_bail!(
                "invalid {here} {label:?}: {instance:?} is already the scale set's name, which is always a label; drop it"
            );
        }
    }
    Ok(())
}

/// Environment variable names deskrun, the chart or ARC set on the runner or
/// job container themselves: a user value would fight with theirs.
const RESERVED_ENV: [&str; 10] = [
    "ACTIONS_RUNNER_CONTAINER_HOOKS",
    "ACTIONS_RUNNER_CONTAINER_HOOK_TEMPLATE",
    "ACTIONS_RUNNER_POD_NAME",
    "ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER",
    "ACTIONS_RUNNER_IMAGE",
    "DOCKER_HOST",
    "RUNNER_WAIT_FOR_DOCKER_IN_SECONDS",
    "NODE_EXTRA_CA_CERTS",
    "RUNNER_UPDATE_CA_CERTS",
    "ACTIONS_RUNNER_INPUT_JITCONFIG",
];

/// An environment variable name: letters, digits and `_`, not starting with a
/// digit, so that every shell step can read it (`$NAME`). Kubernetes
/// accepts more, but a name with `-` or `.` is unreachable from `run:` steps.
pub fn validate_env_name(field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !ok {
        input_bail!(
            "invalid {field} name {name:?}: use letters, digits and '_', not starting with a digit \
             (e.g. NPM_CONFIG_REGISTRY)"
        );
    }
    if RESERVED_ENV.contains(&name) {
        input_bail!(
            "invalid {field} name {name:?}: ARC or deskrun sets it on the runner itself; choose another name"
        );
    }
    if name.starts_with("GITHUB_") {
        input_bail!(
            "invalid {field} name {name:?}: GitHub sets the GITHUB_* variables of every job and \
             overrides yours; choose another name"
        );
    }
    Ok(())
}

pub fn validate_env_value(field: &str, name: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        input_bail!("invalid {field} {name}: the value contains a NUL character");
    }
    if value.len() > 32 * 1024 {
        input_bail!(
            "invalid {field} {name}: the value is longer than 32 KiB; put large data in a file instead"
        );
    }
    Ok(())
}

/// Parse an `--env KEY=VALUE` flag value.
pub fn parse_env_spec(spec: &str) -> Result<(String, String)> {
    let Some((name, value)) = spec.split_once('=') else {
        input_bail!(
            "invalid --env {spec:?}: use KEY=VALUE, e.g. --env NPM_CONFIG_REGISTRY=https://npm.example.com"
        );
    };
    validate_env_name("--env", name)?;
    validate_env_value("--env", name, value)?;
    Ok((name.to_string(), value.to_string()))
}

/// An image reference as Docker and containerd read it:
/// `[HOST[:PORT]/]PATH[:TAG][@ALGO:HEX]`, path components lowercase.
pub fn validate_image(field: &str, image: &str) -> Result<()> {
    let shape = "e.g. ghcr.io/actions/actions-runner:2.321.0 or docker:27-dind";
    if image.is_empty() {
        input_bail!("invalid {field}: empty; give an image reference, {shape}");
    }
    if image.len() > 512 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        input_bail!("invalid {field} {image:?}: not an image reference ({shape})");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(algo, hex)| {
            !algo.is_empty()
                && algo
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            input_bail!(
                "invalid {field} {image:?}: the digest after '@' must look like sha256:<64 hex digits>"
            );
        }
    }
    // A ':' after the last '/' starts the tag; before it, it is a port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !t.starts_with(['.', '-']);
        if !ok {
            input_bail!(
                "invalid {field} {image:?}: bad tag {t:?} (letters, digits, '_', '.', '-'; at most 128)"
            );
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let has_host = parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost");
    if has_host {
        let host = parts.remove(0);
        let (h, port) = host.split_once(':').unwrap_or((host, ""));
        let host_ok = !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && (port.is_empty() && !host.ends_with(':') || port.parse::<u16>().is_ok());
        if !host_ok {
            input_bail!("invalid {field} {image:?}: bad registry host {host:?}");
        }
    }
    let component_ok = |c: &str| {
        // [a-z0-9]+ separated by '.', '_', '__' or runs of '-'.
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
            && !c.contains("..")
            && !c.contains("___")
            && !c.contains("._")
            && !c.contains("_.")
            && !c.contains(".-")
            && !c.contains("-.")
            && !c.contains("_-")
            && !c.contains("-_")
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        input_bail!(
            "invalid {field} {image:?}: the repository path uses lowercase letters, digits and '.', '_', '-' \
             between them ({shape})"
        );
    }
    Ok(())
}

/// Whether a runner image names a fixed version (a tag other than
/// `latest`, or a digest) rather than following the newest release.
pub fn is_pinned_runner_image(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag != "latest",
        None => false,
    }
}

/// The resources deskrun lets you set, with the unit each is counted in.
pub const RESOURCE_NAMES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Where the values being validated came from. Every error names a field
/// the way the user wrote it there: `--max-runners 0` on the command line,
/// `max_runners: 0` in the config file (`installation "a": ...` in front),
/// `MaxRunners: 0` in the Go deskrun's JSON that `config import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocab {
    /// The command line: `--request runner.cpu`, `--label`.
    Flags,
    /// deskrun's config file: `resources.runner.requests.cpu`, `labels[2]`.
    Config,
    /// The Go deskrun's `config.json`. Its first `cache_paths` caches came
    /// from `CachePaths`, the rest from `Mounts`. Fields the Go format does
    /// not have are named by their config key (import leaves them unset).
    GoJson { cache_paths: usize },
}

/// A setting deskrun validates, named by [`Vocab::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Repository,
    AllowHttp,
    Mode,
    MinRunners,
    MaxRunners,
    Instances,
    /// The job path of cache `i`.
    CachePath(usize),
    /// The host directory of cache `i`.
    CacheHostPath(usize),
    AuthType,
    Token,
    PrivateKey,
    AppId,
    InstallationId,
    /// Label `i`.
    Label(usize),
    Env,
    RunnerImage,
    DindImage,
    JobContainer,
    GlibcCompat,
    Node,
    GithubCa,
    /// `kind` is `requests` or `limits`.
    Resource {
        container: &'a str,
        kind: &'a str,
        resource: &'a str,
    },
    Proxy,
    ProxyHttp,
    ProxyHttps,
    NoProxy,
}

impl Vocab {
    /// `field` as the user wrote it here: `--max-runners`, `max_runners`,
    /// `MaxRunners`.
    pub fn name(self, field: Field) -> String {
        use Field::*;
        let go = |n: &str| match self {
            Vocab::GoJson { .. } => Some(n.to_string()),
            _ => None,
        };
        let go_cache = |i: usize, cache_key: &str, mount_key: &str| match self {
            Vocab::GoJson { cache_paths } if i < cache_paths => {
                Some(format!("CachePaths[{i}].{cache_key}"))
            }
            Vocab::GoJson { cache_paths } => {
                Some(format!("Mounts[{}].{mount_key}", i - cache_paths))
            }
            _ => None,
        };
        // (flag, config key, Go JSON key where the Go format has the field)
        let (flag, key, go_key): (String, String, Option<String>) = match field {
            Repository => ("--repository".into(), "repository".into(), go("Repository")),
            AllowHttp => ("--allow-http".into(), "allow_http".into(), None),
            Mode => ("--mode".into(), "mode".into(), go("ContainerMode")),
            MinRunners => (
                "--min-runners".into(),
                "min_runners".into(),
                go("MinRunners"),
            ),
            MaxRunners => (
                "--max-runners".into(),
                "max_runners".into(),
                go("MaxRunners"),
            ),
            Instances => ("--instances".into(), "instances".into(), go("Instances")),
            CachePath(i) => (
                "--cache path".into(),
                format!("caches[{i}].path"),
                go_cache(i, "MountPath", "Target"),
            ),
            CacheHostPath(i) => (
                "--cache host path".into(),
                format!("caches[{i}].host_path"),
                go_cache(i, "HostPath", "Source"),
            ),
            AuthType => ("--auth-type".into(), "auth.type".into(), go("AuthType")),
            Token => ("--auth-value".into(), "auth.token".into(), go("AuthValue")),
            PrivateKey => ("--auth-value".into(), "auth.private_key".into(), None),
            AppId => ("--app-id".into(), "auth.app_id".into(), None),
            InstallationId => (
                "--installation-id".into(),
                "auth.installation_id".into(),
                None,
            ),
            Label(i) => ("--label".into(), format!("labels[{i}]"), None),
            Env => ("--env".into(), "env".into(), None),
            RunnerImage => ("--runner-image".into(), "runner_image".into(), None),
            DindImage => ("--dind-image".into(), "dind_image".into(), None),
            JobContainer => ("--job-container".into(), "job_container".into(), None),
            GlibcCompat => ("--glibc-compat".into(), "glibc_compat".into(), None),
            Node => ("--node".into(), "node".into(), None),
            GithubCa => ("--github-ca-file".into(), "github_ca".into(), None),
            Resource {
                container,
                kind,
                resource,
            } => (
                format!(
                    "--{} {container}.{resource}",
                    kind.strip_suffix('s').unwrap_or(kind)
                ),
                format!("resources.{container}.{kind}.{resource}"),
                None,
            ),
            Proxy => ("the proxy".into(), "cluster.proxy".into(), None),
            ProxyHttp => ("--http".into(), "cluster.proxy.http".into(), None),
            ProxyHttps => ("--https".into(), "cluster.proxy.https".into(), None),
            NoProxy => ("--no-proxy".into(), "cluster.proxy.no_proxy".into(), None),
        };
        match self {
            Vocab::Flags => flag,
            Vocab::Config => key,
            Vocab::GoJson { .. } => go_key.unwrap_or(key),
        }
    }

    /// `field` with a value, as written here: `--max-runners 0`,
    /// `max_runners: 0`.
    /// A switch's `true` on the command line is the flag alone.
    pub fn setting(self, field: Field, value: impl std::fmt::Display) -> String {
        let value = value.to_string();
        match self {
            Vocab::Flags if value == "true" => self.name(field),
            Vocab::Flags => format!("{} {value}", self.name(field)),
            _ => format!("{}: {value}", self.name(field)),
        }
    }

    /// How to leave `field` out: `drop --node`, `remove node`.
    pub fn drop(self, field: Field) -> String {
        match self {
            Vocab::Flags => format!("drop {}", self.name(field)),
            _ => format!("remove {}", self.name(field)),
        }
    }
}

fn resource_field(vocab: Vocab, container: &str, kind: &str, resource: &str) -> String {
    vocab.name(Field::Resource {
        container,
        kind,
        resource,
    })
}

/// One quantity of `resource`: a Kubernetes quantity, not negative, CPU in
/// whole millicores and bytes whole (the API server's precision), and a limit
/// above zero.
pub fn validate_quantity(field: &str, resource: &str, kind: &str, q: &str) -> Result<()> {
    let v = crate::quantity::parse(q).map_err(|e| input(format!("invalid {field} {q:?}: {e}")))?;
    if v.is_negative() {
        input_bail!("invalid {field} {q:?}: cannot be negative");
    }
    if kind == "limits" && v.nanos == 0 {
        input_bail!(
            "invalid {field} {q:?}: a limit of 0 leaves the container nothing; leave the limit out for no limit"
        );
    }
    if resource == "cpu" && v.nanos % 1_000_000 != 0 {
        input_bail!(
            "invalid {field} {q:?}: Kubernetes counts CPU in millicores at the finest (1m = 0.001)"
        );
    }
    if resource != "cpu" && v.nanos % 1_000_000_000 != 0 {
        input_bail!(
            "invalid {field} {q:?}: {resource} is counted in whole bytes; use e.g. 512Mi or 8Gi"
        );
    }
    Ok(())
}

/// Requests and limits of every container, for an installation in `mode`.
pub fn validate_resources(vocab: Vocab, mode: Mode, res: &crate::model::Resources) -> Result<()> {
    for (container, r) in res.each() {
        if r.is_empty() {
            continue;
        }
        let applies = match container {
            "job" => mode != Mode::Dind,
            "dind" => mode == Mode::Dind,
            _ => true,
        };
        if !applies {
            let kind = if r.requests.is_empty() {
                "limits"
            } else {
                "requests"
            };
            let resource = r
                .requests
                .keys()
                .chain(r.limits.keys())
                .next()
                .map_or("cpu", String::as_str);
            let field = resource_field(vocab, container, kind, resource);
            let why = if container == "job" {
                "in dind mode a job runs in the runner container; set runner resources instead"
            } else {
                "only dind mode has a dind sidecar"
            };
            input_bail!(
                "invalid {field} for {}: {why}",
                vocab.setting(Field::Mode, mode)
            );
        }
        for (kind, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (resource, q) in map {
                let field = resource_field(vocab, container, kind, resource);
                if !RESOURCE_NAMES.contains(&resource.as_str()) {
                    input_bail!(
                        "invalid {field}: unknown resource {resource:?}; use one of {}",
                        RESOURCE_NAMES.join(", ")
                    );
                }
                validate_quantity(&field, resource, kind, &q.0)?;
            }
        }
        for (resource, request) in &r.requests {
            if let Some(limit) = r.limits.get(resource)
                && crate::quantity::compare(&request.0, &limit.0)
                    == Some(std::cmp::Ordering::Greater)
            {
                input_bail!(
                    "invalid {}: the request {request} is more than the limit {limit} ({}); \
                     a request must be at most its limit",
                    resource_field(vocab, container, "requests", resource),
                    resource_field(vocab, container, "limits", resource),
                );
            }
        }
    }
    Ok(())
}

/// Parse a `--request` or `--limit` value, `CONTAINER.RESOURCE=QUANTITY`,
/// into `resources`. `flag` is `--request` or `--limit`.
pub fn parse_resource_spec(
    flag: &str,
    spec: &str,
    resources: &mut crate::model::Resources,
) -> Result<()> {
    let shape = format!(
        "use CONTAINER.RESOURCE=QUANTITY with CONTAINER runner, job or dind and RESOURCE {}, \
         e.g. {flag} runner.cpu=2 or {flag} job.memory=8Gi",
        RESOURCE_NAMES.join(", ")
    );
    let Some((target, quantity)) = spec.split_once('=') else {
        input_bail!("invalid {flag} {spec:?}: {shape}");
    };
    let Some((container, resource)) = target.split_once('.') else {
        input_bail!("invalid {flag} {spec:?}: {shape}");
    };
    let kind = if flag == "--limit" {
        "limits"
    } else {
        "requests"
    };
    let Some(r) = resources.get_mut(container) else {
        input_bail!("invalid {flag} {spec:?}: unknown container {container:?}; {shape}");
    };
    if !RESOURCE_NAMES.contains(&resource) {
        input_bail!("invalid {flag} {spec:?}: unknown resource {resource:?}; {shape}");
    }
    let field = resource_field(Vocab::Flags, container, kind, resource);
    validate_quantity(&field, resource, kind, quantity)?;
    let map = if kind == "limits" {
        &mut r.limits
    } else {
        &mut r.requests
    };
    if map
        .insert(
            resource.to_string(),
            crate::model::Quantity(quantity.to_string()),
        )
        .is_some()
    {
        input_bail!("invalid {field}: given twice; give each resource once");
    }
    Ok(())
}

/// Mount paths of the dind pod deskrun writes when a dind installation has
/// caches (`templates/dind-pod.yaml`): the work directory, the Docker socket
/// directory and the runner's externals. Kubernetes refuses a container with
/// two mounts at one path, so a cache cannot be one of them (a folder inside
/// one is fine).
const DIND_POD_MOUNTS: [&str; 3] = ["/home/runner/_work", "/var/run", "/home/runner/externals"];

/// Validate and normalise one installation whose values came from `vocab`.
pub fn validate_installation(
    vocab: Vocab,
    name: &str,
    inst: &Installation,
) -> Result<Installation> {
    let named = |f| vocab.name(f);
    validate_name(name, inst.instances)?;
    validate_runners(vocab, inst.min_runners, inst.max_runners, inst.instances)?;
    validate_auth(vocab, &inst.auth)?;
    let repository = normalize_repository(vocab, &inst.repository)?;
    if repository.starts_with("http://") && !inst.allow_http {
        let allow = match vocab {
            Vocab::Flags => "add",
            _ => "set",
        };
        let allow = format!("{allow} {}", vocab.setting(Field::AllowHttp, true));
        input_bail!(
            "invalid {} {repository}: over http:// the runner's credential would cross the \
             network unencrypted; use https://, or, for a GitHub Enterprise Server that only speaks \
             http on a network you trust, {allow}",
            named(Field::Repository)
        );
    }
    if matches!(inst.auth, Auth::GithubApp { .. }) && is_enterprise_url(&repository) {
        input_bail!(
            "invalid {} for {repository}: GitHub Apps cannot register enterprise-level \
             runners; use {} with a token that has the manage_runners:enterprise scope",
            vocab.setting(Field::AuthType, "github-app"),
            vocab.setting(Field::AuthType, "pat"),
        );
    }
    let caches = validate_caches(vocab, &inst.caches)?;
    if let Some(node) = &inst.node {
        validate_node(&named(Field::Node), node)?;
    }
    let in_dind = vocab.setting(Field::Mode, Mode::Dind);
    if inst.mode == Mode::Dind
        && let Some((i, c)) = caches
            .iter()
            .enumerate()
            .find(|(_, c)| DIND_POD_MOUNTS.contains(&c.path.as_str()))
    {
        input_bail!(
            "invalid {} {:?}: in dind mode the runner pod mounts it itself; choose another path \
             (a folder inside it works, e.g. {}/cache)",
            named(Field::CachePath(i)),
            c.path,
            c.path
        );
    }
    validate_labels(vocab, &inst.labels, &inst.instance_names(name))?;
    if let Some(image) = &inst.runner_image {
        validate_image(&named(Field::RunnerImage), image)?;
    }
    if let Some(image) = &inst.dind_image {
        validate_image(&named(Field::DindImage), image)?;
        if inst.mode != Mode::Dind {
            input_bail!(
                "invalid {} for {}: only dind mode runs a dind sidecar",
                named(Field::DindImage),
                vocab.setting(Field::Mode, inst.mode)
            );
        }
    }
    validate_resources(vocab, inst.mode, &inst.resources)?;
    for (key, value) in &inst.env {
        validate_env_name(&named(Field::Env), key)?;
        validate_env_value(&named(Field::Env), key, value)?;
    }
    if inst.glibc_compat
        && let Some((i, c)) = caches.iter().enumerate().find(|(_, c)| {
            crate::render::GLIBC_COMPAT_MOUNTS
                .iter()
                .any(|m| is_under(&c.path, m) || is_under(m, &c.path))
        })
    {
        input_bail!(
            "invalid {} {:?}: with {} deskrun mounts the glibc loader and libraries at {} \
             in the job container; choose another path",
            named(Field::CachePath(i)),
            c.path,
            named(Field::GlibcCompat),
            crate::render::GLIBC_COMPAT_MOUNTS.join(" and ")
        );
    }
    if inst.mode == Mode::Dind {
        if let Some(jc) = inst.job_container {
            input_bail!(
                "invalid {} for {in_dind}: there a job's steps run in the runner container \
                 and a job `container:` is started by the dind daemon, so a job container is always optional; \
                 {} or use a kubernetes mode",
                vocab.setting(Field::JobContainer, jc),
                vocab.drop(Field::JobContainer)
            );
        }
        if inst.glibc_compat {
            input_bail!(
                "invalid {} for {in_dind}: it changes the job pod that the kubernetes modes create \
                 and dind has none; {} or use a kubernetes mode",
                vocab.setting(Field::GlibcCompat, true),
                vocab.drop(Field::GlibcCompat)
            );
        }
    }
    let github_ca = match &inst.github_ca {
        Some(pem) => Some(validate_github_ca(&named(Field::GithubCa), pem)?),
        None => None,
    };
    Ok(Installation {
        repository,
        caches,
        github_ca,
        ..inst.clone()
    })
}

/// The most PEM text `--github-ca-file` reads: a CA and its intermediates
/// are a few KB; a whole system bundle (~200 KB) is not what is meant, and
/// the certificates go into a ConfigMap (1 MiB at most) and every `list`.
pub const MAX_GITHUB_CA_BYTES: usize = 64 * 1024;

/// One or more PEM `CERTIFICATE` blocks, each a DER X.509 certificate;
/// returns them as canonical PEM (the blocks only). `field` names the flag
/// or config key in the message.
pub fn validate_github_ca(field: &str, pem: &str) -> Result<String> {
    let fix = "give the PEM file of the CA that signed your GitHub Enterprise Server's certificate \
               (ask its admin, or see `openssl s_client -showcerts -connect HOST:443`)";
    if pem.len() > MAX_GITHUB_CA_BYTES {
        input_bail!(
            "invalid {field}: more than {} KiB; a CA certificate is 1-2 KB. Give the private CA \
             (and its intermediates) only, not a whole system bundle",
            MAX_GITHUB_CA_BYTES / 1024
        );
    }
    if pem.trim().is_empty() {
        input_bail!("invalid {field}: empty; {fix}");
    }
    let certs = crate::x509::parse_pem_certificates(pem)
        .map_err(|e| input(format!("invalid {field}: {e}; {fix}")))?;
    Ok(crate::x509::to_pem(&certs))
}

/// `https://HOST/enterprises/ENT` (after normalisation).
pub fn is_enterprise_url(url: &str) -> bool {
    url.split('/').nth(3) == Some("enterprises") && url.split('/').count() == 5
}

/// A cache that one Docker daemon owns exclusively: two daemons sharing a
/// data directory corrupt it.
pub fn is_docker_data_dir(path: &str) -> bool {
    path == "/var/lib/docker" || path.ends_with("/docker") && path.starts_with("/var/lib/")
}

pub fn validate_cluster(c: &ClusterSettings) -> Result<()> {
    if !is_dns_label(&c.name) || c.name.len() > 40 {
        input_bail!(
            "invalid cluster.name {:?}: use lowercase letters, digits and '-' (at most 40 characters)",
            c.name
        );
    }
    if !is_dns_label(&c.namespace) {
        input_bail!(
            "invalid cluster.namespace {:?}: use a DNS-1123 label (lowercase letters, digits, '-', at most 63)",
            c.namespace
        );
    }
    if yaml11_misreads_label(&c.namespace) {
        input_bail!(
            "invalid cluster.namespace {:?}: the ARC charts write the namespace into their manifests \
             unquoted, and Helm reads YAML 1.1, where it is a boolean, null, number or date; choose \
             another, e.g. arc-systems",
            c.namespace
        );
    }
    let root = normalize_abs_path("cluster.cache_root", &c.cache_root)?;
    if root == "/" {
        input_bail!("invalid cluster.cache_root \"/\": choose a dedicated directory");
    }
    validate_mirrors(c)?;
    if let Some(proxy) = &c.proxy {
        validate_proxy(proxy, Vocab::Config)?;
    }
    for (field, chart) in [
        ("cluster.controller_chart", &c.controller_chart),
        ("cluster.scale_set_chart", &c.scale_set_chart),
    ] {
        if chart.source.trim().is_empty() {
            input_bail!(
                "invalid {field}.source: empty; use an oci:// reference or a chart directory"
            );
        }
        if chart.version.trim().is_empty() {
            input_bail!("invalid {field}.version: empty; e.g. 0.14.2");
        }
    }
    match (c.provider, c.context.as_deref()) {
        (Provider::Existing, None) => input_bail!(
            "cluster.provider is existing but cluster.context is not set: name the kubeconfig context \
             of the cluster (`kubectl config get-contexts -o name` lists them), e.g. with \
             `deskrun cluster use CONTEXT`"
        ),
        (Provider::Existing, Some(ctx)) => validate_context(ctx)?,
        (Provider::Kind, Some(ctx)) if ctx != format!("kind-{}", c.name) => input_bail!(
            "invalid cluster.context {ctx:?}: with cluster.provider kind the context is always \
             kind-{}; remove cluster.context, or set cluster.provider: existing to use another \
             cluster (`deskrun cluster use {ctx}` does that)",
            c.name
        ),
        (Provider::Kind, _) => {}
    }
    if !c.cache_storage_class.is_empty() && !is_dns_subdomain(&c.cache_storage_class) {
        input_bail!(
            "invalid cluster.cache_storage_class {:?}: a storage class name is lowercase letters, digits, \
             '-' and '.' (`kubectl get storageclass` lists them); leave it empty for the cluster's default class",
            c.cache_storage_class
        );
    }
    // A size of whole bytes, above zero: what the API server takes as a
    // claim's storage request.
    if crate::quantity::parse(&c.cache_size).is_ok_and(|q| q.nanos == 0) {
        input_bail!(
            "invalid cluster.cache_size {:?}: a cache claim needs a size above zero, e.g. 20Gi",
            c.cache_size
        );
    }
    validate_quantity("cluster.cache_size", "storage", "limits", &c.cache_size)?;
    Ok(())
}

/// A kubeconfig context name. Kubernetes allows almost anything (EKS uses
/// ARNs, GKE `gke_project_zone_name`), so only what cannot work is refused.
pub fn validate_context(ctx: &str) -> Result<()> {
    if ctx.trim().is_empty() {
        input_bail!(
            "invalid cluster.context: empty; name a kubeconfig context (`kubectl config get-contexts -o name`)"
        );
    }
    if ctx.chars().any(|c| c.is_control() || c.is_whitespace()) {
        input_bail!(
            "invalid cluster.context {ctx:?}: a context name has no spaces or control characters"
        );
    }
    if ctx.starts_with('-') {
        input_bail!("invalid cluster.context {ctx:?}: a context name cannot start with '-'");
    }
    if ctx.len() > 253 {
        input_bail!("invalid cluster.context: longer than 253 characters");
    }
    Ok(())
}

/// A DNS-1123 subdomain: storage class names, PVC names.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A node name as the `kubernetes.io/hostname` label carries it (a label
/// value: at most 63 characters).
pub fn validate_node(field: &str, node: &str) -> Result<()> {
    let ok = !node.is_empty()
        && node.len() <= 63
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && node.as_bytes()[0].is_ascii_alphanumeric()
        && node.as_bytes()[node.len() - 1].is_ascii_alphanumeric();
    if !ok {
        input_bail!(
            "invalid {field} {node:?}: give a node name as `kubectl get nodes` shows it (letters, digits, \
             '-', '.', '_', at most 63 characters)"
        );
    }
    Ok(())
}

/// Rules that depend on both an installation (values from `vocab`) and the
/// cluster it goes to.
pub fn validate_placement(
    vocab: Vocab,
    cluster: &ClusterSettings,
    name: &str,
    inst: &Installation,
) -> Result<()> {
    match cluster.provider {
        Provider::Kind => {
            let kind_node = format!("{}-control-plane", cluster.name);
            if let Some(node) = inst.node.as_deref().filter(|n| **n != kind_node) {
                input_bail!(
                    "installation {name:?}: invalid {} {node:?}: that node does not exist in a kind \
                     cluster, whose only node is {kind_node}; {} or deploy to an existing cluster \
                     (`deskrun cluster use CONTEXT`)",
                    vocab.name(Field::Node),
                    vocab.drop(Field::Node)
                );
            }
        }
        Provider::Existing => {
            if inst.node.is_none()
                && let Some((i, c)) = inst
                    .caches
                    .iter()
                    .enumerate()
                    .find(|(_, c)| c.host_path.is_some())
            {
                input_bail!(
                    "installation {name:?}: {} {:?} (cache {c}) names a host directory, but on an \
                     existing cluster that is a directory of whichever node the job lands on. Pin the \
                     installation to the node that holds it with {} (names from `kubectl get nodes`), \
                     or drop the host directory (cache {}) so that deskrun gives the cache a PersistentVolumeClaim",
                    vocab.name(Field::CacheHostPath(i)),
                    c.host_path.as_deref().unwrap_or_default(),
                    vocab.setting(Field::Node, "NODE"),
                    c.path
                );
            }
        }
    }
    Ok(())
}

/// `cluster.proxy` (values from `vocab`): at least one URL, each an
/// http(s) proxy URL, and a `no_proxy` list of hosts.
pub fn validate_proxy(p: &crate::model::ProxySettings, vocab: Vocab) -> Result<()> {
    let (http, https) = (vocab.name(Field::ProxyHttp), vocab.name(Field::ProxyHttps));
    if p.http.is_none() && p.https.is_none() {
        input_bail!(
            "invalid {}: no proxy URL; set {http} and/or {https} (e.g. http://proxy.example.com:3128)",
            vocab.name(Field::Proxy),
        );
    }
    for (field, url) in [(&http, &p.http), (&https, &p.https)] {
        if let Some(url) = url {
            validate_proxy_url(field, url)?;
        }
    }
    for entry in &p.no_proxy {
        let ok = !entry.is_empty()
            && entry.len() <= 253
            && entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-*:/[]_".contains(&b));
        if !ok {
            input_bail!(
                "invalid {} entry {entry:?}: give one host, domain (.example.com), IP or CIDR \
                 (10.0.0.0/8) per entry",
                vocab.name(Field::NoProxy)
            );
        }
    }
    Ok(())
}

/// One proxy URL: `http://[USER:PASSWORD@]HOST[:PORT]` (or https). The
/// message never repeats the URL: it may hold a password.
pub fn validate_proxy_url(field: &str, url: &str) -> Result<()> {
    let shown = crate::model::without_userinfo(url);
    let shape = "e.g. http://proxy.example.com:3128";
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        input_bail!("invalid {field} {shown:?}: a URL has no spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        input_bail!("invalid {field} {shown:?}: not a URL; {shape}");
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        input_bail!(
            "invalid {field} {shown:?}: the scheme must be http or https (the runner supports no other proxy)"
        );
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !path.is_empty() || rest.contains(['?', '#']) {
        input_bail!(
            "invalid {field} {shown:?}: a proxy URL has no path, query or fragment; {shape}"
        );
    }
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if user.is_empty() {
                input_bail!("invalid {field} {shown:?}: the credentials have no user name");
            }
            hostport
        }
        None => authority,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest))
                if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') =>
            {
                (h, rest.strip_prefix(':'))
            }
            _ => input_bail!("invalid {field} {shown:?}: bad IPv6 address"),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.contains(':')
            || host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !host_ok {
        input_bail!("invalid {field} {shown:?}: {host:?} is not a host name; {shape}");
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |n| n == 0)
    {
        input_bail!("invalid {field} {shown:?}: the port must be 1-65535");
    }
    Ok(())
}

/// Directories that are memory (tmpfs) on every systemd Linux: mirror data
/// there would be lost at each reboot and stop the mirrors from starting.
const TMPFS_DIRS: [&str; 4] = ["/dev/shm", "/run", "/proc", "/sys"];

/// `cluster.registry_mirrors` and `cluster.mirror_root`.
fn validate_mirrors(c: &ClusterSettings) -> Result<()> {
    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    for raw in &c.registry_mirrors {
        let host = validate_registry_host(raw)?;
        if host != *raw {
            input_bail!(
                "invalid cluster.registry_mirrors entry {raw:?}: write it as {host:?} (lowercase, no spaces)"
            );
        }
        let name = crate::mirrors::mirror_name(&host);
        if let Some(other) = names.insert(name.clone(), raw) {
            input_bail!(
                "cluster.registry_mirrors: {other:?} and {raw:?} would both use the mirror container {name:?}; list each registry once"
            );
        }
    }
    if let Some(root) = &c.mirror_root {
        let norm = normalize_abs_path("cluster.mirror_root", root)?;
        if norm == "/" {
            input_bail!("invalid cluster.mirror_root \"/\": choose a dedicated directory");
        }
        if norm.contains(',') || norm.contains('"') {
            input_bail!(
                "invalid cluster.mirror_root {root:?}: the path cannot contain ',' or '\"' (Docker's --mount syntax)"
            );
        }
        if let Some(dir) = TMPFS_DIRS.iter().find(|d| is_under(&norm, d)) {
            input_bail!(
                "invalid cluster.mirror_root {root:?}: {dir} is memory (tmpfs), emptied at every reboot; \
                 choose a directory on disk such as ~/.cache/deskrun/registry (or leave the key out for that default)"
            );
        }
    }
    Ok(())
}

/// A registry host as image references name it (`docker.io`, `ghcr.io`,
/// `registry.example.com:5000`): what containerd looks up under `certs.d`.
/// Returns it trimmed and lowercased; the caller decides whether a change is
/// acceptable.
pub fn validate_registry_host(raw: &str) -> Result<String> {
    let field = "cluster.registry_mirrors";
    let host = raw.trim().to_ascii_lowercase();
    if host.contains("://") || host.contains('/') {
        let bare = host
            .split("://")
            .last()
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        input_bail!(
            "invalid {field} entry {raw:?}: give the registry's host name only, as in image names (e.g. {bare:?}), without scheme or path"
        );
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host.as_str(), None),
    };
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        input_bail!("invalid {field} entry {raw:?}: the port must be a number from 1 to 65535");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 200 || !name.split('.').all(label_ok) {
        input_bail!(
            "invalid {field} entry {raw:?}: expected a registry host name such as docker.io, ghcr.io or registry.example.com:5000"
        );
    }
    // containerd (like docker) reads the first part of an image name as a
    // registry only when it has a dot or a port; `localhost` would be the
    // mirror container itself.
    if name == "localhost" || name.starts_with("127.") {
        input_bail!(
            "invalid {field} entry {raw:?}: a registry on this machine needs no mirror (and inside the mirror container localhost is the mirror itself)"
        );
    }
    if !name.contains('.') && port.is_none() {
        input_bail!(
            "invalid {field} entry {raw:?}: image names only refer to a registry whose host has a dot or a port (docker.io, ghcr.io, myregistry:5000)"
        );
    }
    Ok(host)
}

/// Validate a whole config: cluster settings, every installation, and that no
/// two installations produce the same scale-set name.
pub fn validate_config(config: &Config) -> Result<Config> {
    validate_config_with(config, None)
}

/// [`validate_config`] for a config in which the installation `given.0`
/// came from `given.1` (`add`'s flags, `config import`'s JSON): its errors
/// name its fields there.
pub fn validate_config_with(config: &Config, given: Option<(&str, Vocab)>) -> Result<Config> {
    let vocab_of = |name: &str| match given {
        Some((n, vocab)) if n == name => vocab,
        _ => Vocab::Config,
    };
    validate_cluster(&config.cluster)?;
    host_paths(config, &vocab_of)?;
    let mut installations = BTreeMap::new();
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    for (name, inst) in &config.installations {
        let vocab = vocab_of(name);
        let inst = validate_installation(vocab, name, inst)
            .map_err(|e| input(format!("installation {name:?}: {e}")))?;
        validate_placement(vocab, &config.cluster, name, &inst)?;
        for instance in inst.instance_names(name) {
            if let Some(other) = owners.insert(instance.clone(), name) {
                input_bail!(
                    "installations {other:?} and {name:?} both produce the scale set {instance:?}; rename one"
                );
            }
        }
        installations.insert(name.clone(), inst);
    }
    Ok(Config {
        version: config.version,
        cluster: ClusterSettings {
            cache_root: normalize_abs_path("cluster.cache_root", &config.cluster.cache_root)?,
            mirror_root: match &config.cluster.mirror_root {
                Some(r) => Some(normalize_abs_path("cluster.mirror_root", r)?),
                None => None,
            },
            ..config.cluster.clone()
        },
        installations,
    })
}

/// Host folders the kind node must never mount (it mounts each at the same
/// path inside the node, over the node's own) nor hand to a job: the system
/// itself. Refused exactly.
const SYSTEM_DIRS: [&str; 24] = [
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/tmp",
];
/// Trees refused with everything in them: the kernel's and the system's
/// files, sockets of the host's daemons (`/var/run/docker.sock`), and the
/// data of the host's own Docker, containerd and kubelet.
const SYSTEM_TREES: [&str; 16] = [
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/var/lib/kubelet",
];

/// `path` with the symlinks of its longest existing prefix resolved: what
/// the kind node would really mount (a link to `/` is `/`).
pub fn resolve_host_path(path: &str) -> String {
    let mut existing = std::path::Path::new(path);
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out.to_string_lossy().into_owned();
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return path.to_string(),
        }
    }
}

/// Refuse a host folder that is (or, through links, resolves to) a system
/// folder.
fn check_host_dir(field: &str, given: &str, real: &str) -> Result<()> {
    let via = if real == given {
        String::new()
    } else {
        format!(" (a link to {real})")
    };
    if SYSTEM_DIRS.contains(&real) {
        input_bail!(
            "invalid {field} {given:?}{via}: it is a system folder; the kind node would mount it over \
             its own and jobs could change it. Choose a dedicated folder, e.g. /var/cache/deskrun/NAME"
        );
    }
    // A folder in /dev/shm is RAM on purpose (`up` warns about tmpfs).
    let in_shm = real.starts_with("/dev/shm/");
    if let Some(tree) = SYSTEM_TREES.iter().find(|t| is_under(real, t) && !in_shm) {
        input_bail!(
            "invalid {field} {given:?}{via}: it is inside {tree}, which belongs to the system or to \
             the host's own daemons; choose a dedicated folder, e.g. /var/cache/deskrun/NAME"
        );
    }
    Ok(())
}

/// Host paths across the whole config, symlinks resolved: no system folder
/// as the cache root or a cache; no cache on or above the cache root, nor
/// inside the folder deskrun keeps there for an instance (a job would see
/// other instances' caches); and no host folder that is the Docker data directory of two
/// runners at once (two dockerd on one data directory corrupt it).
pub fn validate_host_paths(config: &Config) -> Result<()> {
    host_paths(config, &|_| Vocab::Config)
}

/// [`validate_host_paths`]; `vocab_of` says where an installation's values
/// came from.
fn host_paths(config: &Config, vocab_of: &dyn Fn(&str) -> Vocab) -> Result<()> {
    let root = normalize_abs_path("cluster.cache_root", &config.cluster.cache_root)?;
    let root_real = resolve_host_path(&root);
    check_host_dir("cluster.cache_root", &root, &root_real)?;
    let mut docker_dirs: BTreeMap<String, String> = BTreeMap::new();
    let instances: BTreeSet<String> = config
        .installations
        .iter()
        .flat_map(|(name, inst)| inst.instance_names(name))
        .collect();
    for (name, inst) in &config.installations {
        host_paths_of(
            name,
            inst,
            vocab_of(name),
            &root,
            &root_real,
            &instances,
            &mut docker_dirs,
        )
        .map_err(|e| input(format!("installation {name:?}: {e}")))?;
    }
    Ok(())
}

/// The host paths of one installation, for [`validate_host_paths`];
/// `docker_dirs` maps the Docker data directories seen so far to their
/// installation.
fn host_paths_of(
    name: &str,
    inst: &Installation,
    vocab: Vocab,
    root: &str,
    root_real: &str,
    instances: &BTreeSet<String>,
    docker_dirs: &mut BTreeMap<String, String>,
) -> Result<()> {
    for (i, cache) in inst.caches.iter().enumerate() {
        let Some(host) = &cache.host_path else {
            continue;
        };
        let field = vocab.name(Field::CacheHostPath(i));
        let host = normalize_abs_path(&field, host)?;
        let real = resolve_host_path(&host);
        check_host_dir(&field, &host, &real)?;
        if is_under(root_real, &real) {
            input_bail!(
                "invalid {field} {host:?}: it is the cache root {root} or a folder above it, so a job \
                     would see the caches of every other instance; drop the host directory (cache {} \
                     alone is a folder deskrun makes in the cache root) or use a folder of its own",
                cache.path
            );
        }
        // Inside the root, the folders `<root>/<instance>` are deskrun's.
        let inside = real
            .strip_prefix(root_real)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.split('/').next());
        if let Some(owner) = inside.filter(|first| instances.contains(*first)) {
            input_bail!(
                "invalid {field} {host:?}: it is inside {root}/{owner}, the folder deskrun keeps for \
                     the caches of instance {owner:?}; choose a folder of its own"
            );
        }
        if is_docker_data_dir(&cache.path) {
            if inst.instances > 1 {
                input_bail!(
                    "invalid {field} {host:?}: it is the Docker data directory ({}) of all {} \
                         instances at once, and two dockerd on one data directory corrupt it; drop the \
                         host path (each instance then gets its own folder) or use {}",
                    cache.path,
                    inst.instances,
                    vocab.setting(Field::Instances, 1)
                );
            }
            if let Some(other) = docker_dirs.insert(real.clone(), name.to_string()) {
                input_bail!(
                    "invalid {field} {host:?}: installation {other:?} uses the same host folder as \
                         its Docker data directory, and two dockerd on one data directory corrupt it; \
                         give each installation its own folder"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        let e = r.expect_err("expected an error");
        assert_eq!(crate::error::exit_code(&e), 2, "input errors exit 2: {e}");
        e.to_string()
    }

    #[test]
    fn names() {
        validate_name("docker-runner", 1).unwrap();
        validate_name("a", 20).unwrap();
        assert!(err(validate_name("Docker", 1)).contains("lowercase"));
        assert!(err(validate_name("-a", 1)).contains("DNS-1123"));
        assert!(err(validate_name("a-", 1)).contains("DNS-1123"));
        assert!(err(validate_name("", 1)).contains("DNS-1123"));
        assert!(err(validate_name("a_b", 1)).contains("DNS-1123"));
        assert!(err(validate_name("controller", 1)).contains("reserved"));
        for n in [
            "yes", "no", "on", "off", "y", "n", "true", "null", "123", "0x1f", "1e5",
        ] {
            assert!(err(validate_name(n, 1)).contains("YAML 1.1"), "{n}");
            // With instances, the chart sees `no-1`, `no-2`: fine.
            validate_name(n, 2).unwrap();
        }
        // `2001-12` with 14 instances makes the date `2001-12-14`.
        assert!(err(validate_name("2001-12", 14)).contains("\"2001-12-1\""));
        validate_name("2001-12", 1).unwrap();
        let n45 = "a".repeat(45);
        validate_name(&n45, 1).unwrap();
        assert!(err(validate_name(&"a".repeat(46), 1)).contains("at most 45"));
        // 42 + "-10" = 45 fits, 43 + "-10" does not.
        validate_name(&"a".repeat(42), 10).unwrap();
        let m = err(validate_name(&"a".repeat(43), 10));
        assert!(m.contains("at most 42 characters"), "{m}");
    }

    #[test]
    fn registry_mirrors() {
        for ok in [
            "docker.io",
            "ghcr.io",
            "registry.k8s.io",
            "myregistry:5000",
            "a.b.c:443",
        ] {
            assert_eq!(validate_registry_host(ok).unwrap(), ok);
        }
        assert!(err(validate_registry_host("https://ghcr.io")).contains("\"ghcr.io\""));
        assert!(err(validate_registry_host("docker.io/library")).contains("host name only"));
        assert!(err(validate_registry_host("myregistry")).contains("dot or a port"));
        assert!(err(validate_registry_host("localhost:5000")).contains("this machine"));
        assert!(err(validate_registry_host("a.io:0")).contains("port"));
        assert!(err(validate_registry_host("a.io:x")).contains("port"));
        assert!(err(validate_registry_host("-a.io")).contains("host name"));
        assert!(err(validate_registry_host("a..io")).contains("host name"));
        assert!(err(validate_registry_host("a\".io")).contains("host name"));
        assert!(err(validate_registry_host("")).contains("host name"));

        let cluster = |mirrors: &[&str], root: Option<&str>| ClusterSettings {
            registry_mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            mirror_root: root.map(String::from),
            ..ClusterSettings::default()
        };
        validate_cluster(&cluster(&[], None)).unwrap();
        validate_cluster(&cluster(&["docker.io", "quay.io"], Some("/srv/m"))).unwrap();
        let m = err(validate_cluster(&cluster(&["Docker.io"], None)));
        assert!(m.contains("write it as \"docker.io\""), "{m}");
        let m = err(validate_cluster(&cluster(&["a-b.io", "a.b.io"], None)));
        assert!(m.contains("deskrun-mirror-a-b-io"), "{m}");
        assert!(err(validate_cluster(&cluster(&["docker.io"], Some("rel")))).contains("absolute"));
        assert!(err(validate_cluster(&cluster(&[], Some("/")))).contains("dedicated"));
        assert!(err(validate_cluster(&cluster(&[], Some("/a,b")))).contains("','"));
        assert!(err(validate_cluster(&cluster(&[], Some("/a:b")))).contains("':'"));
        let m = err(validate_cluster(&cluster(&[], Some("/dev/shm/m"))));
        assert!(
            m.contains("tmpfs") && m.contains("cluster.mirror_root"),
            "{m}"
        );
        assert!(err(validate_cluster(&cluster(&[], Some("/run/user/1000/r")))).contains("tmpfs"));

        // The root is normalised like the cache root.
        let c = Config {
            cluster: cluster(&["docker.io"], Some("/srv//m/")),
            ..Config::default()
        };
        assert_eq!(
            validate_config(&c).unwrap().cluster.mirror_root.as_deref(),
            Some("/srv/m")
        );
    }

    #[test]
    fn repositories() {
        let ok = |raw: &str, want: &str| {
            assert_eq!(normalize_repository(Vocab::Flags, raw).unwrap(), want)
        };
        ok(
            "https://github.com/owner/repo",
            "https://github.com/owner/repo",
        );
        ok(
            "http://github.com/owner/repo/",
            "https://github.com/owner/repo",
        );
        ok(
            "https://github.com/owner/repo.git",
            "https://github.com/owner/repo",
        );
        ok(
            "https://GitHub.com/Owner/Repo.git/",
            "https://github.com/Owner/Repo",
        );
        ok("https://github.com/my-org", "https://github.com/my-org");
        ok(
            "https://github.com/enterprises/acme",
            "https://github.com/enterprises/acme",
        );
        ok(
            "https://ghe.example.com/team/app",
            "https://ghe.example.com/team/app",
        );
        ok(
            "https://ghe.example.com:8443/org",
            "https://ghe.example.com:8443/org",
        );
        ok(
            "https://github.com/o/my.repo_x",
            "https://github.com/o/my.repo_x",
        );
        for bad in [
            "github.com/owner/repo",
            "ftp://github.com/o/r",
            "https://github.com",
            "https://github.com/",
            "https://github.com/o/r/tree/main",
            "https://github.com/o/r?x=1",
            "https://user:pw@github.com/o/r",
            "https://github.com/o o/r",
            "https://github.com/o/..",
            "https://bad host/o/r",
            "https://github.com:99999/o",
        ] {
            err(normalize_repository(Vocab::Flags, bad));
        }
    }

    #[test]
    fn cache_specs() {
        let c = parse_cache_spec("/var/lib/docker/").unwrap();
        assert_eq!((c.path.as_str(), c.host_path), ("/var/lib/docker", None));
        let c = parse_cache_spec("/srv//cache:/root/./.cache").unwrap();
        assert_eq!(c.path, "/root/.cache");
        assert_eq!(c.host_path.as_deref(), Some("/srv/cache"));
        assert!(err(parse_cache_spec("var/lib/docker")).contains("absolute"));
        assert!(err(parse_cache_spec("/a/../b")).contains(".."));
        assert!(err(parse_cache_spec(":/a")).contains("both sides"));
        assert!(err(parse_cache_spec("/a:")).contains("both sides"));
        assert!(err(parse_cache_spec("/a:/b:/c")).contains("':'"));
        assert!(err(parse_cache_spec("")).contains("empty"));
        assert!(err(parse_cache_spec("rel:/b")).contains("absolute"));
    }

    #[test]
    fn cache_lists() {
        let c = |p: &str| Cache {
            path: p.into(),
            host_path: None,
        };
        let m = err(validate_caches(Vocab::Config, &[c("/nix/store")]));
        assert!(m.contains("/root/.cache/nix"), "{m}");
        err(validate_caches(Vocab::Config, &[c("/nix/store/abc")]));
        err(validate_caches(Vocab::Config, &[c("/")]));
        err(validate_caches(Vocab::Config, &[c("/proc/x")]));
        err(validate_caches(Vocab::Config, &[c("/sys")]));
        assert!(err(validate_caches(Vocab::Config, &[c("/a"), c("/a/")])).contains("twice"));
        let h = |h: &str, p: &str| Cache {
            path: p.into(),
            host_path: Some(h.into()),
        };
        assert!(
            err(validate_caches(
                Vocab::Config,
                &[h("/h", "/a"), h("/h/", "/b")]
            ))
            .contains("share")
        );
        validate_caches(
            Vocab::Config,
            &[c("/var/lib/docker"), c("/root/.cache"), h("/h", "/x")],
        )
        .unwrap();
        // "/nixos" is not under /nix.
        validate_caches(Vocab::Config, &[c("/nixos")]).unwrap();
    }

    #[test]
    fn dind_caches_cannot_replace_the_pods_own_mounts() {
        let inst = |mode: Mode, path: &str| Installation {
            repository: "https://github.com/o/r".into(),
            mode,
            min_runners: 1,
            max_runners: 1,
            instances: 1,
            caches: vec![Cache {
                path: path.into(),
                host_path: None,
            }],
            node: None,
            auth: Auth::Pat { token: "t".into() },
            ..Default::default()
        };
        for p in ["/home/runner/_work", "/var/run/", "/home/runner/externals"] {
            let m = err(validate_installation(
                Vocab::Config,
                "d",
                &inst(Mode::Dind, p),
            ));
            assert!(m.contains("dind mode"), "{m}");
            validate_installation(
                Vocab::Config,
                "k",
                &inst(Mode::CachedPrivilegedKubernetes, p),
            )
            .unwrap();
        }
        validate_installation(
            Vocab::Config,
            "d",
            &inst(Mode::Dind, "/home/runner/_work/cache"),
        )
        .unwrap();
        validate_installation(Vocab::Config, "d", &inst(Mode::Dind, "/var/lib/docker")).unwrap();
    }

    #[test]
    fn runner_counts() {
        let f = Vocab::Flags;
        validate_runners(f, 0, 5, 1).unwrap();
        validate_runners(f, 1, 1, 3).unwrap();
        assert!(err(validate_runners(f, 6, 5, 1)).contains("<= max"));
        assert_eq!(
            err(validate_runners(f, 0, 0, 1)),
            "invalid --max-runners 0: must be between 1 and 100"
        );
        // The config file's own words for the same mistake.
        assert_eq!(
            err(validate_runners(Vocab::Config, 0, 0, 1)),
            "invalid max_runners: 0: must be between 1 and 100"
        );
        err(validate_runners(f, 0, 101, 1));
        err(validate_runners(f, 1, 1, 0));
        err(validate_runners(f, 1, 1, 21));
        assert!(err(validate_runners(f, 0, 5, 3)).contains("exactly one runner"));
        assert!(err(validate_runners(Vocab::Config, 0, 5, 3)).contains("instances: 1"));
    }

    #[test]
    fn credentials() {
        validate_auth(
            Vocab::Config,
            &Auth::Pat {
                token: "ghp_x".into(),
            },
        )
        .unwrap();
        err(validate_auth(
            Vocab::Config,
            &Auth::Pat { token: "".into() },
        ));
        err(validate_auth(
            Vocab::Config,
            &Auth::Pat {
                token: "a b".into(),
            },
        ));
        let app = |id: &str, inst: &str, key: &str| Auth::GithubApp {
            app_id: id.into(),
            installation_id: inst.into(),
            private_key: key.into(),
        };
        // Split so that secret scanners do not mistake test data for a key.
        let key = concat!(
            "-----BEGIN RSA ",
            "PRIVATE KEY-----\nabc\n-----END RSA ",
            "PRIVATE KEY-----\n"
        );
        validate_auth(Vocab::Config, &app("123", "456", key)).unwrap();
        validate_auth(Vocab::Config, &app("Iv23li.abc", "456", key)).unwrap();
        err(validate_auth(Vocab::Config, &app("", "456", key)));
        err(validate_auth(Vocab::Config, &app("123", "x", key)));
        err(validate_auth(
            Vocab::Config,
            &app("123", "456", "not a key"),
        ));
    }

    #[test]
    fn labels() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let names = l(&["ci"]);
        validate_labels(
            Vocab::Config,
            &l(&["gpu", "linux", "cuda 12", "x64"]),
            &names,
        )
        .unwrap();
        validate_labels(Vocab::Config, &l(&[&"a".repeat(255)]), &names).unwrap();
        let m = err(validate_labels(
            Vocab::Config,
            &l(&[&"a".repeat(256)]),
            &names,
        ));
        assert!(m.contains("labels[0]") && m.contains("at most 255"), "{m}");
        assert!(err(validate_labels(Vocab::Config, &l(&["ok", ""]), &names)).contains("labels[1]"));
        let m = err(validate_labels(Vocab::Flags, &l(&["a,b"]), &names));
        assert!(m.starts_with("invalid --label \"a,b\""), "{m}");
        err(validate_labels(Vocab::Config, &l(&[" gpu"]), &names));
        err(validate_labels(Vocab::Config, &l(&["gpu\n"]), &names));
        err(validate_labels(Vocab::Config, &l(&["g\tpu"]), &names));
        assert!(
            err(validate_labels(Vocab::Config, &l(&["GPU", "gpu"]), &names))
                .contains("without case")
        );
        let m = err(validate_labels(Vocab::Config, &l(&["CI"]), &names));
        assert!(m.contains("scale set's name"), "{m}");
        // The chart counts bytes: 127 "é" are 254 bytes, 128 are 256.
        validate_labels(Vocab::Config, &l(&["é".repeat(127).as_str()]), &names).unwrap();
        err(validate_labels(
            Vocab::Config,
            &l(&["é".repeat(128).as_str()]),
            &names,
        ));
    }

    #[test]
    fn env() {
        assert_eq!(
            parse_env_spec("NPM_CONFIG_REGISTRY=https://x/?a=b").unwrap(),
            ("NPM_CONFIG_REGISTRY".into(), "https://x/?a=b".into())
        );
        assert_eq!(parse_env_spec("_X=").unwrap(), ("_X".into(), "".into()));
        assert!(err(parse_env_spec("NOVALUE")).contains("KEY=VALUE"));
        assert!(err(parse_env_spec("=v")).contains("--env name"));
        assert!(err(parse_env_spec("1X=v")).contains("not starting with a digit"));
        err(parse_env_spec("A-B=v"));
        err(parse_env_spec("A.B=v"));
        err(parse_env_spec("A B=v"));
        assert!(err(parse_env_spec("DOCKER_HOST=tcp://x")).contains("sets it"));
        assert!(err(parse_env_spec("GITHUB_TOKEN=x")).contains("GITHUB_*"));
        err(parse_env_spec("A=\0"));
        let m = err(validate_env_name("env", "bad-name"));
        assert!(m.starts_with("invalid env name"), "{m}");
    }

    /// A PEM block, its armor split so that secret scanners stay quiet.
    fn pem(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    /// A PKCS#8 PrivateKeyInfo naming `oid`, with a dummy key, in base64.
    fn pkcs8(oid: &[u8]) -> String {
        use base64::Engine;
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend(oid);
        let mut info = vec![0x02, 0x01, 0x00, 0x30, alg.len() as u8];
        info.extend(alg);
        info.extend([0x04, 0x04, 1, 2, 3, 4]);
        let mut der = vec![0x30, info.len() as u8];
        der.extend(info);
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    #[test]
    fn host_paths_that_must_never_be_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_string();
        let root = format!("{d}/cache-root");
        std::fs::create_dir_all(&root).unwrap();
        let link_to_root_dir = format!("{d}/slash");
        std::os::unix::fs::symlink("/", &link_to_root_dir).unwrap();
        let link_to_etc = format!("{d}/etc-link");
        std::os::unix::fs::symlink("/etc", &link_to_etc).unwrap();
        let config = |caches: Vec<(&str, &str, &str)>, instances: u32| {
            let mut c = Config::default();
            c.cluster.cache_root = root.clone();
            for (name, host, path) in caches {
                let inst = c.installations.entry(name.into()).or_insert(Installation {
                    repository: "https://github.com/o/r".into(),
                    auth: Auth::Pat {
                        token: "t0k3n".into(),
                    },
                    instances,
                    min_runners: 1,
                    max_runners: 1,
                    ..Default::default()
                });
                inst.caches.push(Cache {
                    path: path.into(),
                    host_path: Some(host.into()),
                });
            }
            c
        };
        let refused = |c: Config, needle: &str| {
            let r = validate_host_paths(&c);
            assert!(
                r.is_err(),
                "accepted ({needle}): {:?}",
                c.installations
                    .values()
                    .map(|i| &i.caches)
                    .collect::<Vec<_>>()
            );
            let m = err(r);
            assert!(m.contains(needle), "{needle}: {m}");
        };
        validate_host_paths(&config(vec![("a", "/dev/shm/ci", "/c")], 1)).unwrap();
        for host in [
            "/etc",
            "/proc/1",
            "/sys",
            "/dev/shm",
            "/dev/sda",
            "/usr",
            "/var",
            "/var/lib/containerd",
            "/var/run/docker.sock",
            "/var/lib/docker/volumes",
            "/tmp",
            "/home",
        ] {
            refused(
                config(vec![("a", host, "/c")], 1),
                "installation \"a\": invalid caches[0].host_path",
            );
        }
        refused(
            config(vec![("a", &link_to_root_dir, "/c")], 1),
            "a link to /",
        );
        refused(
            config(vec![("a", &format!("{link_to_etc}/x"), "/c")], 1),
            "inside /etc",
        );
        refused(config(vec![("a", &root, "/c")], 1), "cache root");
        refused(
            config(vec![("a", &format!("{root}/a/cache-0"), "/c")], 1),
            "instance \"a\"",
        );
        validate_host_paths(&config(vec![("a", &format!("{root}/shared/x"), "/c")], 1)).unwrap();
        refused(config(vec![("a", &d, "/c")], 1), "cache root");
        let docker = format!("{d}/docker");
        refused(
            config(
                vec![
                    ("a", &docker, "/var/lib/docker"),
                    ("b", &docker, "/var/lib/docker"),
                ],
                1,
            ),
            "installation \"a\" uses the same host folder",
        );
        refused(
            config(vec![("a", &docker, "/var/lib/docker")], 2),
            "all 2 instances",
        );
        // Fine: a dedicated folder each, and the same folder for a non-Docker cache.
        validate_host_paths(&config(
            vec![
                ("a", &docker, "/var/lib/docker"),
                ("b", &format!("{d}/docker-b"), "/var/lib/docker"),
            ],
            1,
        ))
        .unwrap();
        validate_host_paths(&config(vec![("a", "/srv/ci/npm", "/root/.npm")], 1)).unwrap();
        // The cache root itself.
        for bad in ["/etc", "/var/lib", "/tmp", &link_to_root_dir] {
            let mut c = Config::default();
            c.cluster.cache_root = bad.to_string();
            err(validate_host_paths(&c));
        }
        let mut c = Config::default();
        c.cluster.cache_root = "/var/cache/deskrun".into();
        validate_host_paths(&c).unwrap();
    }

    #[test]
    fn http_enterprise_urls_need_allow_http() {
        let mut inst = Installation {
            repository: "http://ghe.example.com/org".into(),
            auth: Auth::Pat {
                token: "t0k3n".into(),
            },
            ..Default::default()
        };
        let m = err(validate_installation(Vocab::Config, "x", &inst));
        assert!(
            m.contains("invalid repository") && m.contains("set allow_http: true"),
            "{m}"
        );
        inst.allow_http = true;
        validate_installation(Vocab::Config, "x", &inst).unwrap();
        // github.com is always https.
        inst.allow_http = false;
        inst.repository = "http://github.com/o/r".into();
        let v = validate_installation(Vocab::Config, "x", &inst).unwrap();
        assert_eq!(v.repository, "https://github.com/o/r");
    }

    #[test]
    fn what_a_github_app_key_can_be() {
        let app = |key: String| Auth::GithubApp {
            app_id: "123".into(),
            installation_id: "456".into(),
            private_key: key,
        };
        let ok = |key: String| validate_credential(&app(key), "--auth-value-file").unwrap();
        let refused = |key: String, needle: &str| {
            let m = err(validate_credential(&app(key), "--auth-value-file"));
            assert!(
                m.contains("--auth-value-file") && m.contains(needle),
                "{needle}: {m}"
            );
        };
        let rsa = concat!("RSA PRIVATE", " KEY");
        let p8 = concat!("PRIVATE", " KEY");
        ok(pem(rsa, "MIIEpAIBAAKCAQEA\nq83vEjRWeJA="));
        ok(pem(rsa, "MIIEpAIBAAKCAQEA").replace('\n', "\r\n"));
        ok(pem(p8, &pkcs8(RSA_ENCRYPTION)));
        refused(
            pem(concat!("OPENSSH PRIVATE", " KEY"), "b3BlbnNzaC1rZXk="),
            "OpenSSH",
        );
        refused(
            pem(concat!("ENCRYPTED PRIVATE", " KEY"), "MIIFHDBOBgkq"),
            "passphrase",
        );
        refused(
            pem(
                rsa,
                "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIEpAIBAAK",
            ),
            "passphrase",
        );
        refused(pem(p8, &pkcs8(ED25519)), "Ed25519");
        refused(pem(p8, &pkcs8(EC_PUBLIC_KEY)), "elliptic-curve");
        refused(
            pem(concat!("EC PRIVATE", " KEY"), "MHcCAQEE"),
            "elliptic-curve",
        );
        refused(pem(p8, "bm90IGRlcg=="), "well-formed PKCS#8");
        refused(pem(rsa, "not base64 at all!"), "not base64");
        refused(pem("CERTIFICATE", "MIIB"), "not a private key");
        refused(
            format!("{}{}", pem(rsa, "QUFB"), pem(rsa, "QkJC")),
            "2 PEM blocks",
        );
        refused(pem(rsa, "QUFB").replace("-----END", "x"), "cut short");
        refused(format!("key:\n{}", pem(rsa, "QUFB")), "before or after");
        refused("ssh-ed25519 AAAAC3Nza".into(), "not a PEM key");
        refused(pem(rsa, &"QUFB\n".repeat(5000)), "more than 16 KiB");
    }

    #[test]
    fn what_a_token_can_be() {
        let pat = |t: &str| Auth::Pat { token: t.into() };
        for t in [
            "ghp_abcDEF123",
            "github_pat_11AB_cd",
            "0123456789abcdef",
            "fake-token.1",
        ] {
            validate_credential(&pat(t), "--auth-value").unwrap();
        }
        for (t, needle) in [
            ("\u{feff}ghp_abc", "byte order mark"),
            ("ghp_a\u{200b}bc", "zero-width space"),
            ("ghp_abç", "ASCII"),
            ("GH_TOKEN=ghp_abc", "assignment (GH_TOKEN=...)"),
            ("export GH_TOKEN=ghp_abc", "no spaces"),
            ("\"ghp_abc\"", "quotes"),
            ("ghp_a\tb", "no spaces"),
        ] {
            let m = err(validate_credential(&pat(t), "--auth-value-stdin"));
            assert!(
                m.contains("--auth-value-stdin") && m.contains(needle),
                "{t:?}: {m}"
            );
        }
        // From the config, the field is named.
        let m = err(validate_auth(Vocab::Config, &pat("a b")));
        assert!(m.contains("auth.token"), "{m}");
        let m = err(validate_auth(Vocab::Config, &pat(&"t".repeat(1100))));
        assert!(m.contains("1100 characters"), "{m}");
    }

    #[test]
    fn images() {
        for ok in [
            "ghcr.io/actions/actions-runner:latest",
            "ghcr.io/actions/actions-runner:2.321.0",
            "docker:dind",
            "docker:27-dind",
            "busybox",
            "library/ubuntu",
            "localhost:5000/runner:dev",
            "registry.example.com:8443/team/runner-image_x/a__b:v1.2",
            "my.registry/runner@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "runner:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            validate_image("--runner-image", ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "Docker:dind",
            "ghcr.io/Actions/runner",
            "runner:",
            "runner:.x",
            "runner:a b",
            "a//b",
            "-runner",
            "runner-",
            "runner@sha256:xyz",
            "runner@",
            "host:port/x",
            "re..g/x",
            "a/b:c:d",
            "with space",
        ] {
            let m = err(validate_image("--runner-image", bad));
            assert!(m.starts_with("invalid --runner-image"), "{bad}: {m}");
        }
        assert!(is_pinned_runner_image(
            "ghcr.io/actions/actions-runner:2.321.0"
        ));
        assert!(is_pinned_runner_image("localhost:5000/runner@sha256:00"));
        assert!(!is_pinned_runner_image(
            "ghcr.io/actions/actions-runner:latest"
        ));
        assert!(!is_pinned_runner_image("localhost:5000/runner"));
    }

    #[test]
    fn resources() {
        use crate::model::Resources;
        let parsed = |specs: &[(&str, &str)]| -> Result<Resources> {
            let mut r = Resources::default();
            for (flag, spec) in specs {
                parse_resource_spec(flag, spec, &mut r)?;
            }
            Ok(r)
        };
        let r = parsed(&[
            ("--request", "runner.cpu=500m"),
            ("--limit", "runner.cpu=2"),
            ("--request", "job.memory=4Gi"),
            ("--limit", "job.memory=4096Mi"),
            ("--limit", "dind.ephemeral-storage=1e10"),
        ])
        .unwrap();
        assert_eq!(r.runner.requests["cpu"].0, "500m");
        assert_eq!(r.job.limits["memory"].0, "4096Mi");
        // Each container only where its mode has it.
        let m = err(validate_resources(Vocab::Flags, Mode::Kubernetes, &r));
        assert!(
            m.contains("--limit dind.ephemeral-storage") && m.contains("dind"),
            "{m}"
        );
        let mut k = r.clone();
        k.dind = Default::default();
        validate_resources(Vocab::Flags, Mode::Kubernetes, &k).unwrap();
        let m = err(validate_resources(Vocab::Config, Mode::Dind, &k));
        assert!(m.contains("resources.job.requests.memory"), "{m}");

        for (spec, needle) in [
            ("runner.cpu", "CONTAINER.RESOURCE=QUANTITY"),
            ("cpu=2", "CONTAINER.RESOURCE=QUANTITY"),
            ("pod.cpu=2", "unknown container \"pod\""),
            ("runner.gpu=1", "unknown resource \"gpu\""),
            ("runner.cpu=2 cores", "unknown suffix"),
            ("runner.cpu=-1", "negative"),
            ("runner.cpu=0.0001", "millicores"),
            ("runner.memory=0.5", "whole bytes"),
            ("runner.memory=1K", "lowercase k"),
            ("runner.memory=", "empty"),
        ] {
            let m = err(parsed(&[("--request", spec)]));
            assert!(m.contains(needle), "{spec}: {m}");
            assert!(m.starts_with("invalid --request"), "{spec}: {m}");
        }
        assert!(err(parsed(&[("--limit", "job.cpu=0")])).contains("limit of 0"));
        parsed(&[("--request", "job.cpu=0")]).unwrap();
        assert!(
            err(parsed(&[
                ("--request", "job.cpu=1"),
                ("--request", "job.cpu=2")
            ]))
            .contains("given twice")
        );
        // A request above its limit, compared exactly across suffixes.
        let over = parsed(&[
            ("--request", "job.memory=1Gi"),
            ("--limit", "job.memory=1G"),
        ])
        .unwrap();
        let m = err(validate_resources(Vocab::Flags, Mode::Kubernetes, &over));
        assert!(
            m.contains("--request job.memory") && m.contains("--limit job.memory"),
            "{m}"
        );
        let equal = parsed(&[
            ("--request", "job.memory=1073741824"),
            ("--limit", "job.memory=1Gi"),
        ])
        .unwrap();
        validate_resources(Vocab::Flags, Mode::Kubernetes, &equal).unwrap();
    }

    #[test]
    fn cache_sizes() {
        let size = |q: &str| {
            validate_cluster(&ClusterSettings {
                cache_size: q.into(),
                ..Default::default()
            })
        };
        for ok in ["20Gi", "500Mi", "100G", "1e9", "1.5Ti", "+3Gi", "12"] {
            size(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("", "empty"),
            ("Gi", "no digits"),
            ("20GB", "unknown suffix \"GB\""),
            ("-1Gi", "negative"),
            ("0Gi", "above zero"),
            ("100m", "whole bytes"),
        ] {
            let m = err(size(bad));
            assert!(
                m.contains("cluster.cache_size") && m.contains(why),
                "{bad}: {m}"
            );
        }
    }

    #[test]
    fn cluster_provider_and_context() {
        let mut c = ClusterSettings::default();
        validate_cluster(&c).unwrap();
        assert_eq!(c.context(), "kind-deskrun");
        // With kind, only kind's own context may be spelled out.
        c.context = Some("kind-deskrun".into());
        validate_cluster(&c).unwrap();
        c.context = Some("team".into());
        let m = err(validate_cluster(&c));
        assert!(
            m.contains("cluster.context") && m.contains("cluster use team"),
            "{m}"
        );
        c.provider = Provider::Existing;
        validate_cluster(&c).unwrap();
        assert_eq!(c.context(), "team");
        for ctx in [
            "arn:aws:eks:eu-west-1:123:cluster/ci",
            "gke_p_z_n",
            "me@team",
        ] {
            c.context = Some(ctx.into());
            validate_cluster(&c).unwrap();
        }
        c.context = None;
        let m = err(validate_cluster(&c));
        assert!(m.contains("cluster.context is not set"), "{m}");
        for bad in ["", "a b", "-x"] {
            c.context = Some(bad.into());
            assert!(
                err(validate_cluster(&c)).contains("cluster.context"),
                "{bad}"
            );
        }
        c.context = Some("team".into());
        c.cache_storage_class = "Fast SSD".into();
        assert!(err(validate_cluster(&c)).contains("cluster.cache_storage_class"));
        c.cache_storage_class = "fast-ssd.example".into();
        validate_cluster(&c).unwrap();
        c.cache_size = "lots".into();
        assert!(err(validate_cluster(&c)).contains("cluster.cache_size"));
    }

    #[test]
    fn placement_of_caches_and_nodes() {
        let inst = |host: Option<&str>, node: Option<&str>| Installation {
            repository: "https://github.com/o/r".into(),
            mode: Mode::Kubernetes,
            min_runners: 1,
            max_runners: 1,
            instances: 1,
            caches: vec![Cache {
                path: "/root/.npm".into(),
                host_path: host.map(String::from),
            }],
            node: node.map(String::from),
            auth: Auth::Pat { token: "t".into() },
            ..Default::default()
        };
        let kind = ClusterSettings::default();
        let existing = ClusterSettings {
            provider: Provider::Existing,
            context: Some("team".into()),
            ..ClusterSettings::default()
        };
        // A host directory: fine on kind, needs a node on an existing cluster.
        validate_placement(Vocab::Config, &kind, "ci", &inst(Some("/srv/npm"), None)).unwrap();
        let m = err(validate_placement(
            Vocab::Config,
            &existing,
            "ci",
            &inst(Some("/srv/npm"), None),
        ));
        assert!(
            m.contains("installation \"ci\"")
                && m.contains("/srv/npm:/root/.npm")
                && m.contains("node: NODE"),
            "{m}"
        );
        validate_placement(
            Vocab::Config,
            &existing,
            "ci",
            &inst(Some("/srv/npm"), Some("worker-1")),
        )
        .unwrap();
        validate_placement(Vocab::Config, &existing, "ci", &inst(None, None)).unwrap();
        // kind has one node.
        validate_placement(
            Vocab::Config,
            &kind,
            "ci",
            &inst(None, Some("deskrun-control-plane")),
        )
        .unwrap();
        let m = err(validate_placement(
            Vocab::Config,
            &kind,
            "ci",
            &inst(None, Some("worker-1")),
        ));
        assert!(m.contains("deskrun-control-plane"), "{m}");
        // Node names.
        validate_node("node", "ip-10-0-1-5.eu-west-1.compute.internal").unwrap();
        for bad in ["", "-a", "a b", &"n".repeat(64)] {
            assert!(
                err(validate_node("node", bad)).contains("invalid node"),
                "{bad}"
            );
        }
        let m = err(validate_installation(
            Vocab::Config,
            "ci",
            &inst(None, Some("bad node")),
        ));
        assert!(m.contains("kubectl get nodes"), "{m}");
    }
}
