//! GitHub's REST API, read-only, for checking an installation's credential
//! before anything is deployed with it (`deskrun doctor`, `deskrun up`).
//!
//! Every request goes through [`GithubApi`], a small object-safe trait: the
//! real [`Http`] client (blocking, rustls, no async runtime) or, in tests, the
//! in-process [`fake::FakeGithub`]. The checks themselves ([`checks`]) are
//! plain functions over that trait.

pub mod checks;
pub mod fake;
pub mod jwt;

use anyhow::{Result, bail};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// Replaces the API base of every installation (tests, unusual proxies).
pub const API_URL_ENV: &str = "DESKRUN_GITHUB_API_URL";

/// What an installation's URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repository { owner: String, repo: String },
    Organization { org: String },
    Enterprise { enterprise: String },
}

/// An installation's URL, resolved to the API that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://github.com` or `https://HOST` (token settings live there).
    pub web: String,
    /// `https://api.github.com`, `https://HOST/api/v3`, or the override.
    pub api: String,
    pub scope: Scope,
}

impl Target {
    /// From a normalised installation URL (see `validate::normalize_repository`).
    /// `api_override` (from [`API_URL_ENV`]) replaces the derived API base.
    pub fn from_url(url: &str, api_override: Option<&str>) -> Result<Target> {
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("{url:?} is not a URL");
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let scope = match segments.as_slice() {
            ["enterprises", e] => Scope::Enterprise {
                enterprise: e.to_string(),
            },
            [org] => Scope::Organization {
                org: org.to_string(),
            },
            [owner, repo] => Scope::Repository {
                owner: owner.to_string(),
                repo: repo.to_string(),
            },
            _ => bail!("{url:?} names no repository, organisation or enterprise"),
        };
        let web = format!("{scheme}://{host}");
        let api = match api_override.map(str::trim).filter(|s| !s.is_empty()) {
            Some(base) => base.trim_end_matches('/').to_string(),
            None if host.eq_ignore_ascii_case("github.com") => "https://api.github.com".into(),
            None => format!("{web}/api/v3"),
        };
        Ok(Target { web, api, scope })
    }

    /// The account that owns the runners: the repository's owner, the
    /// organisation or the enterprise.
    pub fn account(&self) -> &str {
        match &self.scope {
            Scope::Repository { owner, .. } => owner,
            Scope::Organization { org } => org,
            Scope::Enterprise { enterprise } => enterprise,
        }
    }

    /// `repository owner/repo`, `organisation org`, `enterprise e`.
    pub fn describe(&self) -> String {
        match &self.scope {
            Scope::Repository { owner, repo } => format!("repository {owner}/{repo}"),
            Scope::Organization { org } => format!("organisation {org}"),
            Scope::Enterprise { enterprise } => format!("enterprise {enterprise}"),
        }
    }

    /// The runners endpoint, asking for one runner only.
    pub fn runners_path(&self) -> String {
        let base = match &self.scope {
            Scope::Repository { owner, repo } => format!("/repos/{owner}/{repo}"),
            Scope::Organization { org } => format!("/orgs/{org}"),
            Scope::Enterprise { enterprise } => format!("/enterprises/{enterprise}"),
        };
        format!("{base}/actions/runners?per_page=1")
    }

    /// The classic token scope that may manage these runners.
    pub fn classic_scope(&self) -> &'static str {
        match self.scope {
            Scope::Repository { .. } => "repo",
            Scope::Organization { .. } => "admin:org",
            Scope::Enterprise { .. } => "manage_runners:enterprise",
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
        })
    }
}

/// One request: always authenticated with a bearer credential (a token or an
/// App's JWT), which is never shown.
pub struct Request<'a> {
    pub method: Method,
    pub url: String,
    pub bearer: &'a str,
    /// PEM certificates to trust for this URL besides the system's (the
    /// installation's `--github-ca-file`).
    pub ca: Option<&'a str>,
}

// The credential stays out of debug output.
impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (credential redacted)", self.method, self.url)
    }
}

/// An HTTP answer of any status.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, `Null` when the body is not JSON.
    pub body: Json,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// GitHub's `message` field of an error answer.
    pub fn message(&self) -> Option<&str> {
        self.body.get("message").and_then(Json::as_str)
    }

    /// A 403 or 429 that is GitHub's rate limit, not a refusal.
    pub fn is_rate_limited(&self) -> bool {
        self.status == 429
            || (self.status == 403 && self.header("x-ratelimit-remaining") == Some("0"))
    }
}

/// No HTTP answer at all: DNS, connection, proxy, TLS or a timeout. Never a
/// verdict on the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The seam between the checks and the network.
pub trait GithubApi: Send + Sync {
    fn send(&self, request: &Request) -> Result<Response, Unreachable>;
}

/// Reads one environment variable.
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The real client: ureq (blocking, rustls with the system's trust store, so
/// a company CA or a TLS-inspecting proxy works as in other tools).
pub struct Http {
    timeout: Duration,
    /// Where proxy settings are read (the process environment, or a test's).
    env: Box<EnvLookup>,
    /// One agent per proxy choice (`None`: direct) and trusted CA (`None`:
    /// the system's trust store), built on first use.
    agents: Mutex<BTreeMap<AgentKey, ureq::Agent>>,
}

/// (proxy URL, PEM of the trusted CA): what an agent is built for.
type AgentKey = (Option<String>, Option<String>);

/// Default time for one request, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The body of a GitHub answer is small; anything bigger is not GitHub.
const MAX_BODY: u64 = 1 << 20;

impl Http {
    /// A client that reads proxy settings from the process environment.
    pub fn new(timeout: Duration) -> Http {
        Http::with_env(timeout, |k| std::env::var(k).ok())
    }

    /// A client that reads proxy settings (`HTTPS_PROXY`, `NO_PROXY`, ...)
    /// through `env`.
    pub fn with_env(
        timeout: Duration,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Http {
        Http {
            timeout,
            env: Box::new(env),
            agents: Mutex::new(BTreeMap::new()),
        }
    }

    fn agent(&self, proxy: Option<&str>, ca: Option<&str>) -> Result<ureq::Agent, Unreachable> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let key = (proxy.map(str::to_string), ca.map(str::to_string));
        if let Some(a) = agents.get(&key) {
            return Ok(a.clone());
        }
        let proxy = match proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|_| {
                Unreachable(format!(
                    "the proxy URL {:?} (from the environment) is not valid",
                    without_userinfo(p)
                ))
            })?),
            None => None,
        };
        // ureq takes the platform's verifier or a list of roots, not both:
        // with a CA, only its certificates (send() falls back to the
        // platform for a server the CA did not sign).
        let roots = match ca {
            Some(pem) => {
                let certs: Vec<ureq::tls::Certificate<'static>> =
                    crate::x509::parse_pem_certificates(pem)
                        .map_err(|e| Unreachable(format!("the installation's github_ca: {e}")))?
                        .iter()
                        .map(|c| ureq::tls::Certificate::from_der(&c.der).to_owned())
                        .collect();
                ureq::tls::RootCerts::from(certs)
            }
            None => ureq::tls::RootCerts::PlatformVerifier,
        };
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(self.timeout.min(Duration::from_secs(5))))
            .http_status_as_error(false)
            // The proxy is chosen per URL below (curl's rules), not by ureq.
            .proxy(proxy)
            .max_redirects(3)
            .user_agent(concat!("deskrun/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        agents.insert(key, agent.clone());
        Ok(agent)
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new(DEFAULT_TIMEOUT)
    }
}

impl GithubApi for Http {
    fn send(&self, req: &Request) -> Result<Response, Unreachable> {
        let proxy = proxy_for(&req.url, &*self.env);
        let via = proxy
            .as_deref()
            .map(|p| format!(" through the proxy {}", without_userinfo(p)))
            .unwrap_or_default();
        tracing::info!("{} {}{via}", req.method, req.url);
        let auth = format!("Bearer {}", req.bearer);
        let call = |ca: Option<&str>| -> Result<ureq::http::Response<ureq::Body>, Unreachable> {
            let agent = self.agent(proxy.as_deref(), ca)?;
            let result = match req.method {
                Method::Get => with_headers(agent.get(&req.url), &auth).call(),
                Method::Post => with_headers(agent.post(&req.url), &auth).send_empty(),
            };
            result.map_err(|e| Unreachable(format!("{}{via}", describe(&e))))
        };
        let mut resp = match req.ca {
            None => call(None)?,
            // The installation's CA first; a certificate it did not sign
            // (github.com without the TLS-inspecting proxy the CA is for)
            // may still be one the system trusts.
            Some(ca) => match call(Some(ca)) {
                Err(e) if is_certificate_error(&e.0) => call(None).map_err(|_| {
                    Unreachable(format!(
                        "{e} (with the installation's --github-ca-file; the system's trust store \
                         does not accept the certificate either)"
                    ))
                })?,
                other => other?,
            },
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.into())))
            .collect();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| Unreachable(format!("reading the answer failed: {}", describe(&e))))?;
        tracing::debug!("{} {} -> {status}", req.method, req.url);
        Ok(Response {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Json::Null),
        })
    }
}

fn with_headers<B>(r: ureq::RequestBuilder<B>, auth: &str) -> ureq::RequestBuilder<B> {
    r.header("Authorization", auth)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
}

/// Whether a transport error is about the server's certificate.
fn is_certificate_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("unknownissuer")
}

/// A transport error in words (ureq's own texts are terse).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::HostNotFound => "the host name could not be resolved (DNS)".into(),
        ureq::Error::Timeout(_) => "no answer in time (timeout)".into(),
        ureq::Error::ConnectionFailed => "the connection failed".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused".into()
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            "no answer in time (timeout)".into()
        }
        // getaddrinfo's failure arrives as a plain io error.
        ureq::Error::Io(io) if io.to_string().contains("lookup address") => {
            "the host name could not be resolved (DNS)".into()
        }
        other => other.to_string(),
    }
}

/// `http://user:secret@proxy:3128` -> `http://proxy:3128`: proxy passwords
/// are secrets too.
pub fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(host);
    if !path.is_empty() {
        out.push('/');
        out.push_str(path);
    }
    out
}

/// The proxy for `url`, as curl and most tools choose it: `NO_PROXY` first,
/// then `HTTPS_PROXY` for https (`HTTP_PROXY` for http), then `ALL_PROXY`;
/// each in lower or upper case, the lower-case one first. Empty values count
/// as unset.
pub fn proxy_for(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let get = |name: &str| {
        env(&name.to_ascii_lowercase())
            .filter(|v| !v.trim().is_empty())
            .or_else(|| env(name).filter(|v| !v.trim().is_empty()))
            .map(|v| v.trim().to_string())
    };
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_host_port(authority);
    let port = port.unwrap_or(if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    });
    if let Some(list) = get("NO_PROXY")
        && no_proxy_matches(&list, &host.to_ascii_lowercase(), port)
    {
        return None;
    }
    let specific = if scheme.eq_ignore_ascii_case("https") {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    get(specific).or_else(|| get("ALL_PROXY"))
}

/// `host:port`, `[v6]:port`, `host`, `[v6]`.
fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (authority, None),
    }
}

/// A `NO_PROXY` list: `*`, host names (matching the host and its
/// subdomains, with or without a leading `.` or `*.`), IP addresses, CIDR
/// ranges, each optionally with `:port`.
fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    use std::net::IpAddr;
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            // A CIDR range.
            if let (Some(ip), Some((net, bits))) = (host_ip, entry.split_once('/')) {
                let net = net.trim_start_matches('[').trim_end_matches(']');
                return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (IpAddr::V4(a), Ok(IpAddr::V4(n)), Ok(b)) if b <= 32 => {
                        let mask = u32::MAX.checked_shl(32 - b).unwrap_or(0);
                        u32::from(a) & mask == u32::from(n) & mask
                    }
                    (IpAddr::V6(a), Ok(IpAddr::V6(n)), Ok(b)) if b <= 128 => {
                        let mask = u128::MAX.checked_shl(128 - b).unwrap_or(0);
                        u128::from(a) & mask == u128::from(n) & mask
                    }
                    _ => false,
                };
            }
            let (name, entry_port) = split_host_port(&entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            if let (Some(ip), Ok(e)) = (host_ip, name.parse::<IpAddr>()) {
                return ip == e;
            }
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_comes_from_the_host_or_the_override() {
        let t = Target::from_url("https://github.com/owner/repo", None).unwrap();
        assert_eq!(t.api, "https://api.github.com");
        assert_eq!(t.web, "https://github.com");
        assert_eq!(
            t.scope,
            Scope::Repository {
                owner: "owner".into(),
                repo: "repo".into()
            }
        );
        assert_eq!(
            t.runners_path(),
            "/repos/owner/repo/actions/runners?per_page=1"
        );
        assert_eq!(t.classic_scope(), "repo");

        let t = Target::from_url("https://ghe.example.com/my-org", None).unwrap();
        assert_eq!(t.api, "https://ghe.example.com/api/v3");
        assert_eq!(t.runners_path(), "/orgs/my-org/actions/runners?per_page=1");
        assert_eq!(t.classic_scope(), "admin:org");
        assert_eq!(t.account(), "my-org");

        let t = Target::from_url("http://ghe.local:8080/enterprises/acme", None).unwrap();
        assert_eq!(t.api, "http://ghe.local:8080/api/v3");
        assert_eq!(
            t.runners_path(),
            "/enterprises/acme/actions/runners?per_page=1"
        );
        assert_eq!(t.classic_scope(), "manage_runners:enterprise");
        assert_eq!(t.describe(), "enterprise acme");

        let t = Target::from_url(
            "https://github.com/owner/repo",
            Some("http://127.0.0.1:9/prefix/"),
        )
        .unwrap();
        assert_eq!(t.api, "http://127.0.0.1:9/prefix");
        assert_eq!(t.url("/user"), "http://127.0.0.1:9/prefix/user");
        // An empty override is no override.
        let t = Target::from_url("https://github.com/o", Some("  ")).unwrap();
        assert_eq!(t.api, "https://api.github.com");
        assert!(Target::from_url("https://github.com", None).is_err());
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn proxy_follows_the_scheme_and_no_proxy() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "http://plain:8080"),
        ]);
        assert_eq!(
            proxy_for("https://api.github.com/user", &e).as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(
            proxy_for("http://ghe.local/api/v3/user", &e).as_deref(),
            Some("http://plain:8080")
        );
        // Lower case wins over upper case; empty is unset.
        let e = env(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
        ]);
        assert_eq!(
            proxy_for("https://x/", &e).as_deref(),
            Some("http://lower:1")
        );
        let e = env(&[("https_proxy", ""), ("ALL_PROXY", "socks5://all:1080")]);
        assert_eq!(
            proxy_for("https://x/", &e).as_deref(),
            Some("socks5://all:1080")
        );
        assert_eq!(proxy_for("https://x/", &env(&[])), None);
    }

    #[test]
    fn no_proxy_matches_hosts_domains_ips_ranges_and_ports() {
        let with = |no: &str, url: &str| {
            proxy_for(
                url,
                &env(&[
                    ("HTTPS_PROXY", "http://p:1"),
                    ("HTTP_PROXY", "http://p:1"),
                    ("NO_PROXY", no),
                ]),
            )
            .is_none()
        };
        assert!(with("*", "https://api.github.com/"));
        assert!(with("github.com", "https://api.github.com/"));
        assert!(with(".github.com", "https://api.github.com/"));
        assert!(with("*.github.com", "https://api.github.com/"));
        assert!(with(
            "localhost, api.github.com",
            "https://api.github.com/user"
        ));
        assert!(!with("hub.com", "https://api.github.com/"));
        assert!(!with("ithub.com", "https://api.github.com/"));
        assert!(with("127.0.0.1", "http://127.0.0.1:8080/user"));
        assert!(with("10.0.0.0/8", "https://10.1.2.3/api/v3"));
        assert!(!with("10.0.0.0/8", "https://11.1.2.3/api/v3"));
        assert!(with("::1", "http://[::1]:80/"));
        assert!(with("ghe.local:8443", "https://ghe.local:8443/"));
        assert!(!with("ghe.local:8443", "https://ghe.local/"));
        assert!(with("GHE.Local", "https://ghe.local/"));
    }

    #[test]
    fn proxy_passwords_are_not_shown() {
        assert_eq!(
            without_userinfo("http://me:s3cret@proxy.corp:3128"),
            "http://proxy.corp:3128"
        );
        assert_eq!(without_userinfo("proxy:3128"), "proxy:3128");
        assert_eq!(without_userinfo("http://a@b/c"), "http://b/c");
    }

    #[test]
    fn rate_limits_are_recognised() {
        let r = |status, remaining: Option<&str>| Response {
            status,
            headers: remaining
                .map(|v| ("x-ratelimit-remaining".to_string(), v.to_string()))
                .into_iter()
                .collect(),
            body: Json::Null,
        };
        assert!(r(429, None).is_rate_limited());
        assert!(r(403, Some("0")).is_rate_limited());
        assert!(!r(403, Some("4999")).is_rate_limited());
        assert!(!r(403, None).is_rate_limited());
    }
}
