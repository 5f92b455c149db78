//! `deskrun config set-proxy`: the cluster-wide proxy (`cluster.proxy`) that
//! every scale set's listener and runners use. Config only.

use crate::config::Store;
use crate::input_bail;
use crate::model::{ProxySettings, userinfo, without_userinfo};
use crate::validate::{Vocab, validate_proxy};
use anyhow::Result;

/// What `set-proxy` was asked for, after the CLI read the environment and
/// standard input. URLs carry no credentials; `credentials` go into both.
#[derive(Debug, Clone, Default)]
pub struct ProxyRequest {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Vec<String>,
    /// `USER:PASSWORD` (from standard input, never from argv).
    pub credentials: Option<(String, String)>,
}

/// Percent-encode a user name or password for a URL's userinfo.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `http://host:port` with `user:password@` put in.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let bare = without_userinfo(url);
    match bare.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}:{}@{rest}", encode(user), encode(password)),
        None => bare,
    }
}

/// The settings a request describes, validated in the flags' words.
pub fn settings_from(req: &ProxyRequest) -> Result<ProxySettings> {
    let mut p = ProxySettings {
        http: req.http.clone().filter(|u| !u.is_empty()),
        https: req.https.clone().filter(|u| !u.is_empty()),
        no_proxy: req
            .no_proxy
            .iter()
            .flat_map(|e| e.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect(),
    };
    if let Some((user, password)) = &req.credentials {
        if user.is_empty() {
            input_bail!("invalid proxy credentials: expected USER:PASSWORD on standard input");
        }
        for url in [&mut p.http, &mut p.https].into_iter().flatten() {
            *url = with_credentials(url, user, password);
        }
    }
    p.no_proxy.dedup();
    validate_proxy(&p, Vocab::Flags)?;
    Ok(p)
}

/// Refuse a URL with credentials given as a flag value: argv is visible to
/// every user of the machine (`ps`) and stays in shell history.
pub fn refuse_credentials_in_argv(flag: &str, url: &str) -> Result<()> {
    if userinfo(url).is_some() {
        input_bail!(
            "{flag} {:?}: credentials in a proxy URL on the command line are visible in `ps` and your \
             shell history; give the URL without them and the credentials as USER:PASSWORD on standard \
             input with --credentials-stdin, or use --from-env",
            without_userinfo(url)
        );
    }
    Ok(())
}

/// Store `settings` as `cluster.proxy`, or remove it (`None`).
pub fn set_proxy(store: &Store, settings: Option<ProxySettings>) -> Result<()> {
    store.update(|config| {
        config.cluster.proxy = settings;
        Ok(())
    })
}

/// One line describing the proxy, credentials left out.
pub fn describe(p: &ProxySettings) -> String {
    let mut parts: Vec<String> = p
        .urls()
        .into_iter()
        .map(|(kind, url)| {
            let creds = if userinfo(url).is_some() {
                format!(
                    " (credentials in the Secret {})",
                    crate::render::proxy_secret_name(kind)
                )
            } else {
                String::new()
            };
            format!("{kind} {}{creds}", without_userinfo(url))
        })
        .collect();
    if !p.no_proxy.is_empty() {
        parts.push(format!("no_proxy {}", p.no_proxy.join(",")));
    }
    parts.join(", ")
}

/// The proxy of the user's environment (`HTTPS_PROXY`, `HTTP_PROXY`,
/// `NO_PROXY`, upper or lower case), as `env` reads it.
pub fn from_environment(env: &dyn Fn(&str) -> Option<String>) -> ProxyRequest {
    let get = |name: &str| {
        env(name)
            .or_else(|| env(&name.to_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    ProxyRequest {
        http: get("HTTP_PROXY"),
        https: get("HTTPS_PROXY"),
        no_proxy: get("NO_PROXY").into_iter().collect(),
        credentials: None,
    }
}

/// The hint `add` and `up` give when the environment has a proxy and the
/// config has none: never a silent copy.
pub fn environment_hint(
    config: &crate::model::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    if config.cluster.proxy.is_some() {
        return None;
    }
    let found = from_environment(env);
    let url = found.https.as_ref().or(found.http.as_ref())?;
    Some(format!(
        "hint: your environment has a proxy ({}{}), but the runners do not use it: cluster.proxy is \
         not set. To give it to them: `deskrun config set-proxy --from-env` (then `deskrun up`)",
        without_userinfo(url),
        found
            .no_proxy
            .first()
            .map(|n| format!(", NO_PROXY {n}"))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_encoded_into_each_url_and_never_taken_from_argv() {
        let p = settings_from(&ProxyRequest {
            http: Some("http://proxy.example.com:3128".into()),
            https: Some("http://proxy.example.com:3128/".into()),
            no_proxy: vec!["localhost,.corp.example.com".into(), "10.0.0.0/8".into()],
            credentials: Some(("me@corp".into(), "p@ss:w/rd".into())),
        })
        .unwrap();
        assert_eq!(
            p.http.as_deref(),
            Some("http://me%40corp:p%40ss%3Aw%2Frd@proxy.example.com:3128")
        );
        assert_eq!(p.no_proxy, ["localhost", ".corp.example.com", "10.0.0.0/8"]);
        let parsed = crate::model::ProxyUrl::parse(p.https.as_deref().unwrap());
        assert_eq!(parsed.url, "http://proxy.example.com:3128");
        assert_eq!(
            parsed.credentials,
            Some(("me@corp".to_string(), "p@ss:w/rd".to_string()))
        );
        assert!(!describe(&p).contains("p%40ss") && !describe(&p).contains("me%40corp"));
        let e = refuse_credentials_in_argv("--http", "http://u:secret@proxy:1").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        refuse_credentials_in_argv("--http", "http://proxy:1").unwrap();
    }

    #[test]
    fn bad_requests_name_the_flag() {
        let e = settings_from(&ProxyRequest::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--http") && e.contains("--https"), "{e}");
        let e = settings_from(&ProxyRequest {
            https: Some("socks5://proxy:1080".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("invalid --https"), "{e}");
        let e = settings_from(&ProxyRequest {
            http: Some("http://proxy:3128".into()),
            no_proxy: vec!["a b".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("invalid --no-proxy entry"), "{e}");
    }

    #[test]
    fn the_environment_is_offered_not_copied() {
        let env = |k: &str| match k {
            "https_proxy" => Some("http://u:topsecret@proxy.corp:8080".to_string()),
            "NO_PROXY" => Some("localhost,.corp".to_string()),
            _ => None,
        };
        let mut config = crate::model::Config::default();
        let hint = environment_hint(&config, &env).expect("a hint");
        assert!(
            hint.contains("http://proxy.corp:8080") && hint.contains("--from-env"),
            "{hint}"
        );
        assert!(!hint.contains("topsecret"), "{hint}");
        assert!(config.cluster.proxy.is_none());
        config.cluster.proxy = Some(ProxySettings {
            http: Some("http://x:1".into()),
            ..Default::default()
        });
        assert!(environment_hint(&config, &env).is_none());
        assert!(environment_hint(&crate::model::Config::default(), &|_| None).is_none());
    }
}
