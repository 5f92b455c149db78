//! The GitHub checks through the real HTTP client against a fake GitHub API
//! served on 127.0.0.1 (`tests/common/github.rs`), which verifies App JWTs
//! with the app's public key. No test leaves this machine.

use crate::common::github::{FakeServer, Silent, refused_url};
use deskrun::checks::{Check, Status};
use deskrun::github::checks::{
    ID_CREDENTIAL, ID_INSTALLATION, ID_RUNNERS, ID_SCOPE, check_installation, unix_now,
};
use deskrun::github::fake::{
    Access, FakeApp, FakeGithub, FakeInstallation, FakeToken, app, installation as inst, pat,
    test_key,
};
use deskrun::github::{GithubApi, Http};
use deskrun::model::Auth;
use std::time::{Duration, Instant};

fn fake() -> FakeGithub {
    FakeGithub::new()
        .token(
            FakeToken::classic("tok-repo", "octocat", &["repo"])
                .access("repos/owner/repo", Access::Admin)
                .access("repos/owner/locked", Access::Read),
        )
        .token(FakeToken::classic(
            "tok-public",
            "octocat",
            &["public_repo"],
        ))
        .token(
            FakeToken::fine_grained("tok-fine", "octocat")
                .access("repos/owner/locked", Access::Read),
        )
        .app(
            FakeApp::new(123456, "Iv23liTest", "deskrun-test", &test_key(1)).installation(
                FakeInstallation::new(7654321, "my-org").access("orgs/my-org", Access::Admin),
            ),
        )
}

/// A client that sees no proxy settings, whatever the environment has.
fn direct() -> Http {
    Http::with_env(Duration::from_secs(5), |_| None)
}

fn check(api: &dyn GithubApi, base: &str, url: &str, auth: Auth) -> Vec<Check> {
    check_installation(api, "r", &inst(url, auth), Some(base), unix_now())
}

fn ids(c: &[Check]) -> Vec<(&str, Status)> {
    c.iter().map(|c| (c.id.as_str(), c.status)).collect()
}

#[test]
fn each_outcome_over_http() {
    let server = FakeServer::start(fake());
    let http = direct();
    let run = |url: &str, auth| check(&http, &server.url, url, auth);

    // Valid classic token.
    let c = run("https://github.com/owner/repo", pat("tok-repo"));
    assert_eq!(
        ids(&c),
        [
            (ID_CREDENTIAL, Status::Ok),
            (ID_SCOPE, Status::Ok),
            (ID_RUNNERS, Status::Ok)
        ],
        "{c:#?}"
    );
    // 401.
    let c = run("https://github.com/owner/repo", pat("revoked"));
    assert_eq!(ids(&c), [(ID_CREDENTIAL, Status::Fail)]);
    assert!(c[0].message.contains("401: Bad credentials"), "{c:#?}");
    // Missing scope (the header came over HTTP).
    let c = run("https://github.com/owner/repo", pat("tok-public"));
    assert_eq!(c[1].status, Status::Fail, "{c:#?}");
    assert!(c[1].message.contains("the scopes public_repo"), "{c:#?}");
    // 403 for a fine-grained token.
    let c = run("https://github.com/owner/locked", pat("tok-fine"));
    assert_eq!(c[2].status, Status::Fail, "{c:#?}");
    assert!(c[2].message.contains("answered 403"), "{c:#?}");
    // 404.
    let c = run("https://github.com/owner/gone", pat("tok-repo"));
    assert_eq!(c[2].status, Status::Fail, "{c:#?}");
    assert!(c[2].message.contains("answered 404"), "{c:#?}");

    // Every request carried GitHub's headers; none went through a proxy.
    let seen = server.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|l| l.contains("authorization")
            && l.contains("x-github-api-version")
            && l.contains("user-agent")
            && l.contains("accept")),
        "{seen:#?}"
    );
    assert_eq!(server.proxied.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn github_app_jwts_are_verified_for_real() {
    let server = FakeServer::start(fake());
    let http = direct();
    let run = |url: &str, auth| check(&http, &server.url, url, auth);

    let c = run("https://github.com/my-org", app("123456", "7654321", 1));
    assert_eq!(
        ids(&c),
        [
            (ID_CREDENTIAL, Status::Ok),
            (ID_INSTALLATION, Status::Ok),
            (ID_RUNNERS, Status::Ok)
        ],
        "{c:#?}"
    );
    // Wrong app id: the fake finds no app for the issuer.
    let c = run("https://github.com/my-org", app("654321", "7654321", 1));
    assert_eq!(ids(&c), [(ID_CREDENTIAL, Status::Fail)], "{c:#?}");
    // Right app id, another key: the signature does not verify.
    let c = run("https://github.com/my-org", app("123456", "7654321", 2));
    assert_eq!(ids(&c), [(ID_CREDENTIAL, Status::Fail)], "{c:#?}");
    assert!(c[0].message.contains("could not be decoded"), "{c:#?}");
    // Wrong installation.
    let c = run("https://github.com/my-org", app("123456", "42", 1));
    assert_eq!(
        ids(&c),
        [(ID_CREDENTIAL, Status::Ok), (ID_INSTALLATION, Status::Fail)]
    );
    // Installed on another account.
    let c = run(
        "https://github.com/someone-else",
        app("123456", "7654321", 1),
    );
    assert_eq!(c[1].status, Status::Fail);
    assert!(c[1].message.contains("my-org"), "{c:#?}");
    assert_eq!(
        server
            .fake
            .requests()
            .iter()
            .filter(|r| r.contains("access_tokens"))
            .count(),
        1,
        "an installation token is asked for only when the installation is right"
    );
}

#[test]
fn no_answer_is_a_warning_and_comes_quickly() {
    let http = Http::with_env(Duration::from_secs(1), |_| None);
    let started = Instant::now();
    let c = check(
        &http,
        &refused_url(),
        "https://github.com/owner/repo",
        pat("t"),
    );
    assert_eq!(ids(&c), [(ID_CREDENTIAL, Status::Warn)], "{c:#?}");
    assert!(
        c[0].message.contains("GitHub could not be reached"),
        "{c:#?}"
    );
    assert!(c[0].message.contains("refused"), "{c:#?}");

    let silent = Silent::start();
    let c = check(
        &http,
        &silent.url,
        "https://github.com/my-org",
        app("1", "2", 1),
    );
    assert_eq!(ids(&c), [(ID_CREDENTIAL, Status::Warn)], "{c:#?}");
    assert!(c[0].message.contains("timeout"), "{c:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn proxies_are_used_as_configured_and_no_proxy_bypasses_them() {
    let server = FakeServer::start(fake());
    let proxy = format!("http://{}", server.authority());
    // The API host does not exist: only the proxy can answer for it.
    let base = "http://github-api.deskrun.invalid";
    let via_proxy = {
        let proxy = proxy.clone();
        Http::with_env(Duration::from_secs(5), move |k| {
            (k == "http_proxy").then(|| proxy.clone())
        })
    };
    let c = check(
        &via_proxy,
        base,
        "https://github.com/owner/repo",
        pat("tok-repo"),
    );
    assert_eq!(deskrun::checks::worst(&c), Status::Ok, "{c:#?}");
    assert_eq!(server.proxied.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(server.seen.lock().unwrap()[0].starts_with("CONNECT github-api.deskrun.invalid:80"));

    // NO_PROXY names the API host: the client goes direct (to the fake, here).
    let bypass = {
        let proxy = proxy.clone();
        Http::with_env(Duration::from_secs(5), move |k| match k {
            "HTTP_PROXY" => Some("http://127.0.0.1:9".into()),
            "NO_PROXY" => Some(format!("localhost,127.0.0.1,{proxy}")),
            _ => None,
        })
    };
    let c = check(
        &bypass,
        &server.url,
        "https://github.com/owner/repo",
        pat("tok-repo"),
    );
    assert_eq!(deskrun::checks::worst(&c), Status::Ok, "{c:#?}");
    assert_eq!(server.proxied.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A GitHub Enterprise Server whose certificate (for 127.0.0.1) is signed
/// by the private CA `fixtures/github-ca-1.pem`: answers `{}` to every
/// request, over TLS, until the test ends. Returns its `https://` base.
fn private_ca_server() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(include_bytes!("../fixtures/ghes-server.pem"))
            .collect::<Result<_, _>>()
            .unwrap();
    // The key is stored without its armor, as the other test keys.
    let label = concat!("PRIVATE", " KEY");
    let pem = format!(
        "-----BEGIN {label}-----\n{}-----END {label}-----\n",
        include_str!("../fixtures/ghes-server-key.b64")
    );
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return, // a client that refused us
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[test]
fn a_private_ca_is_trusted_for_its_installation_only() {
    use deskrun::github::{Method, Request};
    let base = private_ca_server();
    let http = direct();
    let get = |ca: Option<&str>| {
        http.send(&Request {
            method: Method::Get,
            url: format!("{base}/api/v3/user"),
            bearer: "tok",
            ca,
        })
    };
    // Without the CA: the system does not trust the server.
    let e = get(None).expect_err("an unknown CA must be refused");
    assert!(
        e.0.to_ascii_lowercase().contains("certificate") || e.0.contains("UnknownIssuer"),
        "{e}"
    );
    // With the installation's CA: the answer arrives.
    let r = get(Some(include_str!("../fixtures/github-ca-1.pem"))).expect("trusted with its CA");
    assert_eq!(r.status, 200);
    // Another CA does not sign it, and neither does the system.
    let e = get(Some(include_str!("../fixtures/github-ca-2.pem"))).expect_err("wrong CA");
    assert!(e.0.contains("--github-ca-file"), "{e}");
}
