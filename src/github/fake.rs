//! An in-process stand-in for the parts of GitHub's REST API that deskrun
//! calls, for tests: tokens with classic scopes or fine-grained access, Apps
//! whose JWTs are verified for real (RS256 against the app's public key,
//! `iss`, `iat`, `exp`), installations on accounts, installation tokens, and
//! runners endpoints that answer 200, 403 or 404 as GitHub does.
//!
//! [`FakeGithub`] implements [`GithubApi`] directly; `tests/common` serves the
//! same [`FakeGithub::handle`] over HTTP on 127.0.0.1 for the real client.

use super::{GithubApi, Method, Request, Response, Unreachable};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a credential may do with a runners endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Sees the repository or organisation but may not manage its runners: 403.
    Read,
    /// May manage its runners: 200.
    Admin,
}

/// A personal access token.
#[derive(Debug, Clone)]
pub struct FakeToken {
    token: String,
    login: String,
    /// Classic tokens report their scopes; fine-grained ones do not.
    scopes: Option<Vec<String>>,
    /// `repos/OWNER/REPO`, `orgs/ORG`, `enterprises/E` -> access.
    access: BTreeMap<String, Access>,
}

impl FakeToken {
    pub fn classic(token: &str, login: &str, scopes: &[&str]) -> FakeToken {
        FakeToken {
            token: token.into(),
            login: login.into(),
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            access: BTreeMap::new(),
        }
    }

    pub fn fine_grained(token: &str, login: &str) -> FakeToken {
        FakeToken {
            scopes: None,
            ..FakeToken::classic(token, login, &[])
        }
    }

    /// `target` is `repos/OWNER/REPO`, `orgs/ORG` or `enterprises/E`.
    pub fn access(mut self, target: &str, access: Access) -> FakeToken {
        self.access.insert(target.into(), access);
        self
    }
}

/// A GitHub App installation on an account.
#[derive(Debug, Clone)]
pub struct FakeInstallation {
    id: u64,
    account: String,
    access: BTreeMap<String, Access>,
}

impl FakeInstallation {
    pub fn new(id: u64, account: &str) -> FakeInstallation {
        FakeInstallation {
            id,
            account: account.into(),
            access: BTreeMap::new(),
        }
    }

    pub fn access(mut self, target: &str, access: Access) -> FakeInstallation {
        self.access.insert(target.into(), access);
        self
    }
}

/// A GitHub App: its ids, the public half of its key, its installations.
#[derive(Debug, Clone)]
pub struct FakeApp {
    id: u64,
    client_id: String,
    slug: String,
    /// DER `RSAPublicKey`.
    public_key: Vec<u8>,
    installations: Vec<FakeInstallation>,
}

impl FakeApp {
    /// An app whose JWTs must be signed by `pem`'s key.
    pub fn new(id: u64, client_id: &str, slug: &str, pem: &str) -> FakeApp {
        FakeApp {
            id,
            client_id: client_id.into(),
            slug: slug.into(),
            public_key: public_key(pem),
            installations: vec![],
        }
    }

    pub fn installation(mut self, i: FakeInstallation) -> FakeApp {
        self.installations.push(i);
        self
    }
}

#[derive(Default)]
struct State {
    tokens: Vec<FakeToken>,
    apps: Vec<FakeApp>,
    /// Installation tokens issued: token -> (app id, installation id).
    issued: BTreeMap<String, (u64, u64)>,
    /// `METHOD /path?query`, in order; credentials are never recorded.
    requests: Vec<String>,
    unreachable: bool,
    /// Seconds since the epoch; `None` is the real clock.
    clock: Option<u64>,
}

/// The fake API. Cheap to build; thread-safe.
#[derive(Default)]
pub struct FakeGithub {
    state: Mutex<State>,
}

impl FakeGithub {
    pub fn new() -> FakeGithub {
        FakeGithub::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn token(self, t: FakeToken) -> FakeGithub {
        self.with(|s| s.tokens.push(t));
        self
    }

    pub fn app(self, a: FakeApp) -> FakeGithub {
        self.with(|s| s.apps.push(a));
        self
    }

    /// Fix the clock JWTs are checked against.
    pub fn clock(self, now: u64) -> FakeGithub {
        self.with(|s| s.clock = Some(now));
        self
    }

    /// Make every in-process request fail as if the network were down.
    pub fn set_unreachable(&self, down: bool) {
        self.with(|s| s.unreachable = down);
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }

    /// Answer one request. `path` is relative to the API base
    /// (`/user`, `/app`, `/repos/o/r/actions/runners?per_page=1`).
    pub fn handle(&self, method: &str, path: &str, bearer: Option<&str>) -> Response {
        self.with(|s| {
            s.requests.push(format!("{method} {path}"));
            let now = s.clock.unwrap_or_else(super::checks::unix_now);
            let route = path.split('?').next().unwrap_or(path);
            let segs: Vec<&str> = route.split('/').filter(|x| !x.is_empty()).collect();
            let Some(bearer) = bearer else {
                return answer(401, json!({"message": "Requires authentication"}));
            };
            match (method, segs.as_slice()) {
                ("GET", ["user"]) => s.user(bearer),
                ("GET", ["app"]) => match s.app_for(bearer, now) {
                    Ok(app) => answer(
                        200,
                        json!({"id": app.id, "client_id": app.client_id, "slug": app.slug}),
                    ),
                    Err(r) => r,
                },
                ("GET", ["app", "installations", id]) => match s.app_for(bearer, now) {
                    Ok(app) => match app.installations.iter().find(|i| i.id.to_string() == *id) {
                        Some(i) => answer(
                            200,
                            json!({"id": i.id, "app_id": app.id,
                                   "account": {"login": i.account}}),
                        ),
                        None => not_found(),
                    },
                    Err(r) => r,
                },
                ("POST", ["app", "installations", id, "access_tokens"]) => {
                    let found = match s.app_for(bearer, now) {
                        Ok(app) => app
                            .installations
                            .iter()
                            .find(|i| i.id.to_string() == *id)
                            .map(|i| (app.id, i.id)),
                        Err(r) => return r,
                    };
                    match found {
                        Some(ids) => {
                            let token = format!("ghs_fake{}x{}", ids.1, s.issued.len() + 1);
                            s.issued.insert(token.clone(), ids);
                            answer(
                                201,
                                json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"}),
                            )
                        }
                        None => not_found(),
                    }
                }
                ("GET", [kind, rest @ .., "actions", "runners"])
                    if matches!(*kind, "repos" | "orgs" | "enterprises") =>
                {
                    let target = format!("{kind}/{}", rest.join("/"));
                    s.runners(bearer, &target)
                }
                _ => not_found(),
            }
        })
    }
}

fn answer(status: u16, body: Json) -> Response {
    Response {
        status,
        headers: BTreeMap::new(),
        body,
    }
}

fn not_found() -> Response {
    answer(404, json!({"message": "Not Found"}))
}

fn bad_credentials() -> Response {
    answer(401, json!({"message": "Bad credentials"}))
}

impl State {
    fn user(&self, bearer: &str) -> Response {
        if self.issued.contains_key(bearer) {
            return answer(
                403,
                json!({"message": "Resource not accessible by integration"}),
            );
        }
        match self.tokens.iter().find(|t| t.token == bearer) {
            None => bad_credentials(),
            Some(t) => {
                let mut r = answer(200, json!({"login": t.login}));
                if let Some(scopes) = &t.scopes {
                    r.headers.insert("x-oauth-scopes".into(), scopes.join(", "));
                }
                r
            }
        }
    }

    /// The app a JWT authenticates, after checking it as GitHub does.
    fn app_for(&self, jwt: &str, now: u64) -> Result<&FakeApp, Response> {
        let refuse = |m: &str| answer(401, json!({"message": m}));
        let claims = unverified_claims(jwt)
            .ok_or_else(|| refuse("A JSON web token could not be decoded"))?;
        let app = self
            .apps
            .iter()
            .find(|a| match &claims["iss"] {
                Json::Number(n) => n.as_u64() == Some(a.id),
                Json::String(s) => *s == a.client_id || *s == a.id.to_string(),
                _ => false,
            })
            .ok_or_else(|| refuse("Integration not found"))?;
        verify_jwt(jwt, &app.public_key, now).map_err(|m| refuse(&m))?;
        Ok(app)
    }

    fn runners(&self, bearer: &str, target: &str) -> Response {
        let access = if let Some((app_id, inst_id)) = self.issued.get(bearer) {
            self.apps
                .iter()
                .find(|a| a.id == *app_id)
                .and_then(|a| a.installations.iter().find(|i| i.id == *inst_id))
                .and_then(|i| i.access.get(target).copied())
        } else {
            match self.tokens.iter().find(|t| t.token == bearer) {
                None => return bad_credentials(),
                Some(t) => t.access.get(target).copied(),
            }
        };
        match access {
            Some(Access::Admin) => answer(200, json!({"total_count": 0, "runners": []})),
            Some(Access::Read) => answer(
                403,
                json!({"message": "Resource not accessible by personal access token"}),
            ),
            None => not_found(),
        }
    }
}

impl GithubApi for FakeGithub {
    fn send(&self, req: &Request) -> Result<Response, Unreachable> {
        if self.with(|s| s.unreachable) {
            return Err(Unreachable(
                "the host name could not be resolved (DNS)".into(),
            ));
        }
        // Drop the scheme, host and an Enterprise Server `/api/v3` prefix.
        let rest = req.url.split_once("://").map_or(&*req.url, |(_, r)| r);
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        let path = path.strip_prefix("/api/v3").unwrap_or(path);
        let method = match req.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        Ok(self.handle(method, path, Some(req.bearer)))
    }
}

fn unverified_claims(jwt: &str) -> Option<Json> {
    let claims = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// Verify an RS256 JWT as GitHub does: the signature against `public_key`
/// (DER `RSAPublicKey`), `iat` not in the future (60 s of drift allowed),
/// `exp` in the future and at most 10 minutes after `iat`. Returns the claims.
pub fn verify_jwt(jwt: &str, public_key: &[u8], now: u64) -> Result<Json, String> {
    let undecodable = || "A JSON web token could not be decoded".to_string();
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return Err(undecodable());
    };
    let header: Json = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(undecodable)?;
    if header["alg"] != "RS256" {
        return Err(undecodable());
    }
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| undecodable())?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(format!("{}.{}", parts[0], claims).as_bytes(), &sig)
        .map_err(|_| undecodable())?;
    let claims = unverified_claims(jwt).ok_or_else(undecodable)?;
    let (Some(iat), Some(exp)) = (claims["iat"].as_u64(), claims["exp"].as_u64()) else {
        return Err("'Issued at' and 'Expiration time' claims must be integers".into());
    };
    if iat > now + 60 {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".into());
    }
    if exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".into());
    }
    if exp.saturating_sub(iat) > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(claims)
}

/// The DER `RSAPublicKey` of a PEM private key.
pub fn public_key(pem: &str) -> Vec<u8> {
    use ring::signature::KeyPair;
    super::jwt::key_pair(pem)
        .expect("a valid test key")
        .public_key()
        .as_ref()
        .to_vec()
}

/// Test key `n` (1 or 2): fixed 2048-bit RSA keys made for deskrun's tests
/// only, kept without their PEM armour in `tests/fixtures/` so that secret
/// scanners do not flag them; the armour is added here.
pub fn test_key(n: u8) -> String {
    let body = match n {
        1 => include_str!("../../tests/fixtures/github-app-key-1.b64"),
        2 => include_str!("../../tests/fixtures/github-app-key-2.b64"),
        _ => panic!("test keys are 1 and 2"),
    };
    let label = concat!("RSA PRIVATE", " KEY");
    format!("-----BEGIN {label}-----\n{body}-----END {label}-----\n")
}

/// A one-runner kubernetes installation of `url` with `auth`: what the
/// checks read of an installation (tests of the checks, in and out of the
/// crate).
pub fn installation(url: &str, auth: crate::model::Auth) -> crate::model::Installation {
    crate::model::Installation {
        repository: url.into(),
        mode: crate::model::Mode::Kubernetes,
        min_runners: 1,
        max_runners: 1,
        instances: 1,
        caches: vec![],
        auth,
        ..Default::default()
    }
}

/// A personal access token.
pub fn pat(token: &str) -> crate::model::Auth {
    crate::model::Auth::Pat {
        token: token.into(),
    }
}

/// A GitHub App credential with [`test_key`] `key`.
pub fn app(app_id: &str, installation_id: &str, key: u8) -> crate::model::Auth {
    crate::model::Auth::GithubApp {
        app_id: app_id.into(),
        installation_id: installation_id.into(),
        private_key: test_key(key),
    }
}
