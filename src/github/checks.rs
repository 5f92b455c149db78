//! The GitHub checks of one installation, read-only, over [`GithubApi`]:
//!
//! - token: `GET /user` (valid?), its classic scopes against what the URL
//!   needs, then the runners endpoint of the repository, organisation or
//!   enterprise;
//! - GitHub App: a JWT from the stored key, `GET /app`, the installation (and
//!   that it is on the URL's account), an installation token, then the
//!   runners endpoint with it.
//!
//! A check stops at the first thing that is not ok: what follows would only
//! repeat it. No answer at all (DNS, timeout, proxy) is a warning, never a
//! verdict on the credential. No credential ever appears in a check.

use super::{GithubApi, Method, Request, Response, Target, Unreachable, jwt};
use crate::checks::{Check, Status};
use crate::model::{Auth, Installation};

pub const ID_CREDENTIAL: &str = "github.credential";
pub const ID_SCOPE: &str = "github.scope";
pub const ID_INSTALLATION: &str = "github.installation";
pub const ID_RUNNERS: &str = "github.runners";
/// The installation's `--github-ca-file`: its certificates and their expiry.
pub const ID_CA: &str = "github.ca";

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every GitHub check of installation `name`, each with `name` as subject.
pub fn check_installation(
    api: &dyn GithubApi,
    name: &str,
    inst: &Installation,
    api_override: Option<&str>,
    now: u64,
) -> Vec<Check> {
    let checks = match Target::from_url(&inst.repository, api_override) {
        Err(e) => vec![Check::fail(
            ID_CREDENTIAL,
            format!("{e}"),
            "fix the installation's URL with `deskrun add ... --replace`",
        )],
        Ok(target) => {
            let ctx = Ctx {
                api,
                target: &target,
                name,
                ca: inst.github_ca.as_deref(),
            };
            match &inst.auth {
                Auth::Pat { token } => ctx.pat(token),
                Auth::GithubApp {
                    app_id,
                    installation_id,
                    private_key,
                } => ctx.app(app_id, installation_id, private_key, now),
            }
        }
    };
    ca_check(name, inst, now)
        .into_iter()
        .chain(checks)
        .map(|c| c.subject(name))
        .collect()
}

/// With a `github_ca`: which CA is trusted, warned when one expired or
/// expires within 30 days (TLS to GitHub then fails or soon will).
fn ca_check(name: &str, inst: &Installation, now: u64) -> Option<Check> {
    let certs = crate::x509::parse_pem_certificates(inst.github_ca.as_deref()?).ok()?;
    let notes = crate::x509::expiry_notes(&certs, now as i64);
    if notes.is_empty() {
        let which: Vec<String> = certs
            .iter()
            .map(|c| format!("{} (until {})", c.subject, c.not_after))
            .collect();
        Some(Check::ok(
            ID_CA,
            format!("trusts the CA {}", which.join(", ")),
        ))
    } else {
        Some(Check::warn(
            ID_CA,
            notes.join("; "),
            format!(
                "get the renewed CA certificate and run `deskrun add {name} ... --replace \
                 --github-ca-file NEW.pem`, then `deskrun up`"
            ),
        ))
    }
}

/// The check `up` acts on: the first failure, if any.
pub fn first_failure(checks: &[Check]) -> Option<&Check> {
    checks.iter().find(|c| c.status == Status::Fail)
}

struct Ctx<'a> {
    api: &'a dyn GithubApi,
    target: &'a Target,
    name: &'a str,
    /// The installation's `github_ca` (PEM), trusted for its URL.
    ca: Option<&'a str>,
}

/// Which kind of credential a fix talks about.
#[derive(Clone, Copy)]
enum Cred {
    Classic,
    FineGrained,
    App,
}

impl Ctx<'_> {
    fn send(&self, method: Method, path: &str, bearer: &str) -> Result<Response, Unreachable> {
        self.api.send(&Request {
            method,
            url: self.target.url(path),
            bearer,
            ca: self.ca,
        })
    }

    fn unreachable(&self, id: &str, e: &Unreachable) -> Check {
        Check::warn(
            id,
            format!(
                "GitHub could not be reached at {}: {e}; the credential was not checked",
                self.target.api
            ),
            "check the network, and HTTPS_PROXY/NO_PROXY if you use a proxy; run `deskrun doctor` again when GitHub answers",
        )
    }

    /// An answer none of the checks expects: GitHub's trouble, not the credential's.
    fn unexpected(&self, id: &str, what: &str, r: &Response) -> Check {
        if r.is_rate_limited() {
            return Check::warn(
                id,
                format!("GitHub's rate limit stopped {what} ({})", r.status),
                "wait a few minutes and run `deskrun doctor` again",
            );
        }
        Check::warn(
            id,
            format!("{what} answered {}{}", r.status, detail(r)),
            "try again later; if it persists, check https://www.githubstatus.com or your GitHub Enterprise Server",
        )
    }

    fn store_new(&self, what: &str) -> String {
        format!(
            "then store it: run the `deskrun add {} ...` you used again with --replace and the new {what} (--auth-value-stdin or --auth-value-file), and `deskrun up`",
            self.name
        )
    }

    fn pat(&self, token: &str) -> Vec<Check> {
        let t = self.target;
        let tokens_page = format!("{}/settings/tokens", t.web);
        let r = match self.send(Method::Get, "/user", token) {
            Ok(r) => r,
            Err(e) => return vec![self.unreachable(ID_CREDENTIAL, &e)],
        };
        let mut out = Vec::new();
        match r.status {
            200..=299 => out.push(Check::ok(
                ID_CREDENTIAL,
                format!(
                    "the token is valid (GitHub user {})",
                    r.body["login"].as_str().unwrap_or("?")
                ),
            )),
            401 => {
                return vec![Check::fail(
                    ID_CREDENTIAL,
                    format!(
                        "GitHub refused the token (GET /user answered 401{}): it is wrong, expired or revoked",
                        detail(&r)
                    ),
                    format!(
                        "create a new token at {tokens_page} (see README, Authentication, for its scope); {}",
                        self.store_new("token")
                    ),
                )];
            }
            403 if !r.is_rate_limited() => {
                return vec![Check::fail(
                    ID_CREDENTIAL,
                    format!(
                        "GitHub refused GET /user with the token (403{}); it is not a personal access token",
                        detail(&r)
                    ),
                    format!(
                        "use a personal access token from {tokens_page} (an installation token expires within the hour; for an App use --auth-type github-app); {}",
                        self.store_new("token")
                    ),
                )];
            }
            _ => return vec![self.unexpected(ID_CREDENTIAL, "GET /user", &r)],
        }

        let needed = t.classic_scope();
        let cred = match r.header("x-oauth-scopes") {
            // Only classic tokens carry this header.
            Some(list) => {
                let scopes: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                // admin:enterprise includes manage_runners:enterprise.
                let enough = scopes.contains(&needed)
                    || (needed == "manage_runners:enterprise"
                        && scopes.contains(&"admin:enterprise"));
                if !enough {
                    let has = if scopes.is_empty() {
                        "no scope".to_string()
                    } else {
                        format!("the scopes {}", scopes.join(", "))
                    };
                    out.push(Check::fail(
                        ID_SCOPE,
                        format!(
                            "the classic token has {has}; runners of the {} need the scope {needed}",
                            t.describe()
                        ),
                        format!(
                            "edit the token at {tokens_page} and tick {needed} (a classic token keeps its value when you add a scope), or create a new one with it and store it with `deskrun add {} ... --replace`",
                            self.name
                        ),
                    ));
                    return out;
                }
                out.push(Check::ok(
                    ID_SCOPE,
                    format!("the classic token has the scope {needed}"),
                ));
                Cred::Classic
            }
            None => {
                out.push(Check::ok(
                    ID_SCOPE,
                    "a fine-grained token (no classic scopes): its permissions are checked on the runners endpoint",
                ));
                Cred::FineGrained
            }
        };
        out.push(self.runners(token, cred));
        out
    }

    fn app(&self, app_id: &str, installation_id: &str, pem: &str, now: u64) -> Vec<Check> {
        let t = self.target;
        let jwt = match jwt::app_jwt(app_id, pem, now) {
            Ok(j) => j,
            Err(e) => {
                return vec![Check::fail(
                    ID_CREDENTIAL,
                    format!("the GitHub App's private key cannot sign: {e}"),
                    format!(
                        "generate a private key on the app's settings page (Private keys); {}",
                        self.store_new("key file")
                    ),
                )];
            }
        };
        let mut out = Vec::new();
        let app = match self.send(Method::Get, "/app", &jwt) {
            Ok(r) => r,
            Err(e) => return vec![self.unreachable(ID_CREDENTIAL, &e)],
        };
        match app.status {
            200..=299 => out.push(Check::ok(
                ID_CREDENTIAL,
                format!(
                    "GitHub accepts the key of the GitHub App {} (app id {app_id})",
                    app.body["slug"].as_str().unwrap_or("?")
                ),
            )),
            401 => {
                return vec![Check::fail(
                    ID_CREDENTIAL,
                    format!(
                        "GitHub refused the GitHub App's JWT (GET /app answered 401{}): the app id {app_id} and the private key do not belong together, the key was deleted, or this machine's clock is off",
                        detail(&app)
                    ),
                    format!(
                        "compare --app-id with \"App ID\" on the app's settings page, generate a new private key there if needed, and check the clock (`date -u`); {}",
                        self.store_new("values")
                    ),
                )];
            }
            _ => return vec![self.unexpected(ID_CREDENTIAL, "GET /app", &app)],
        }

        let inst = match self.send(
            Method::Get,
            &format!("/app/installations/{installation_id}"),
            &jwt,
        ) {
            Ok(r) => r,
            Err(e) => {
                out.push(self.unreachable(ID_INSTALLATION, &e));
                return out;
            }
        };
        let settings = "the installation id is the number at the end of the installation's settings page (https://github.com/organizations/ORG/settings/installations/ID, or https://github.com/settings/installations/ID for a user account)";
        match inst.status {
            200..=299 => {
                let account = inst.body["account"]["login"].as_str().unwrap_or("?");
                if !account.eq_ignore_ascii_case(t.account()) {
                    out.push(Check::fail(
                        ID_INSTALLATION,
                        format!(
                            "installation {installation_id} of the app is on the account {account}, but the runners are for the {} (account {})",
                            t.describe(),
                            t.account()
                        ),
                        format!(
                            "install the app on {} (the app's page, Install App) and give that installation's id; {settings}; {}",
                            t.account(),
                            self.store_new("installation id")
                        ),
                    ));
                    return out;
                }
            }
            404 => {
                out.push(Check::fail(
                    ID_INSTALLATION,
                    format!(
                        "the app has no installation {installation_id} (GET /app/installations/{installation_id} answered 404)"
                    ),
                    format!(
                        "install the app on {} or correct --installation-id: {settings}; {}",
                        t.account(),
                        self.store_new("installation id")
                    ),
                ));
                return out;
            }
            _ => {
                out.push(self.unexpected(ID_INSTALLATION, "GET /app/installations/ID", &inst));
                return out;
            }
        }

        let token = match self.send(
            Method::Post,
            &format!("/app/installations/{installation_id}/access_tokens"),
            &jwt,
        ) {
            Ok(r) => r,
            Err(e) => {
                out.push(self.unreachable(ID_INSTALLATION, &e));
                return out;
            }
        };
        let token = match (token.status, token.body["token"].as_str()) {
            (200..=299, Some(tok)) => tok.to_string(),
            (403 | 404 | 422, _) if !token.is_rate_limited() => {
                out.push(Check::fail(
                    ID_INSTALLATION,
                    format!(
                        "GitHub would not issue a token for installation {installation_id} ({}{}): the installation is suspended or lacks permissions",
                        token.status,
                        detail(&token)
                    ),
                    format!(
                        "open the installation's settings on {}, unsuspend it or accept the app's requested permissions",
                        t.account()
                    ),
                ));
                return out;
            }
            _ => {
                out.push(self.unexpected(
                    ID_INSTALLATION,
                    "POST /app/installations/ID/access_tokens",
                    &token,
                ));
                return out;
            }
        };
        out.push(Check::ok(
            ID_INSTALLATION,
            format!(
                "installation {installation_id} is on {} and issues tokens",
                t.account()
            ),
        ));
        out.push(self.runners(&token, Cred::App));
        out
    }

    /// `GET …/actions/runners?per_page=1` with the credential.
    fn runners(&self, bearer: &str, cred: Cred) -> Check {
        let t = self.target;
        let path = t.runners_path();
        let r = match self.send(Method::Get, &path, bearer) {
            Ok(r) => r,
            Err(e) => return self.unreachable(ID_RUNNERS, &e),
        };
        let endpoint = format!("GET {}", path.split('?').next().unwrap_or(&path));
        match r.status {
            200..=299 => Check::ok(
                ID_RUNNERS,
                format!(
                    "the runners of the {} can be managed ({} self-hosted runner(s) registered)",
                    t.describe(),
                    r.body["total_count"].as_u64().unwrap_or(0)
                ),
            ),
            401 => Check::fail(
                ID_RUNNERS,
                format!("{endpoint} answered 401{}", detail(&r)),
                "the credential was refused; create a new one and store it with `deskrun add ... --replace`",
            ),
            403 if !r.is_rate_limited() => Check::fail(
                ID_RUNNERS,
                format!(
                    "the credential may not manage the runners of the {} ({endpoint} answered 403{})",
                    t.describe(),
                    detail(&r)
                ),
                self.permission_fix(cred),
            ),
            404 => Check::fail(
                ID_RUNNERS,
                format!(
                    "the {} does not exist or the credential cannot see it ({endpoint} answered 404)",
                    t.describe()
                ),
                format!(
                    "check the URL {} (`deskrun list`); if it is right, {}",
                    self.url(),
                    self.visibility_fix(cred)
                ),
            ),
            _ => self.unexpected(ID_RUNNERS, &endpoint, &r),
        }
    }

    fn url(&self) -> String {
        let t = self.target;
        let path = match &t.scope {
            super::Scope::Repository { owner, repo } => format!("{owner}/{repo}"),
            super::Scope::Organization { org } => org.clone(),
            super::Scope::Enterprise { enterprise } => format!("enterprises/{enterprise}"),
        };
        format!("{}/{path}", t.web)
    }

    fn permission_fix(&self, cred: Cred) -> String {
        use super::Scope::*;
        let t = self.target;
        match (cred, &t.scope) {
            (Cred::Classic, Repository { .. }) => format!(
                "the token's user must be an admin of the repository (the scope repo is there); ask an owner of {} for the admin role, or use a token of an admin",
                t.account()
            ),
            (Cred::Classic, Organization { .. }) => format!(
                "the token's user must be an owner of the organisation {} (the scope admin:org is there); use a token of an owner",
                t.account()
            ),
            (Cred::Classic, Enterprise { .. }) => format!(
                "the token's user must be an enterprise owner of {} (the scope manage_runners:enterprise is there)",
                t.account()
            ),
            (Cred::FineGrained, Repository { .. }) => format!(
                "give the fine-grained token the repository permission \"Administration: Read and write\" on {} ({}/settings/personal-access-tokens), or use a classic token with the scope repo",
                self.url(),
                t.web
            ),
            (Cred::FineGrained, Organization { .. }) => format!(
                "give the fine-grained token (resource owner {}) the organisation permission \"Self-hosted runners: Read and write\" ({}/settings/personal-access-tokens), or use a classic token with the scope admin:org",
                t.account(),
                t.web
            ),
            (Cred::FineGrained, Enterprise { .. }) => {
                "fine-grained tokens cannot manage enterprise runners: use a classic token with the scope manage_runners:enterprise".into()
            }
            (Cred::App, Repository { .. }) => "give the app the repository permission \"Administration: Read and write\" (app settings, Permissions), then accept the new permissions on the installation".into(),
            (Cred::App, _) => "give the app the organisation permission \"Self-hosted runners: Read and write\" (app settings, Permissions), then accept the new permissions on the installation".into(),
        }
    }

    fn visibility_fix(&self, cred: Cred) -> String {
        match cred {
            Cred::Classic => format!(
                "the token's user cannot see it: use a token of a user with access to {}",
                self.target.account()
            ),
            Cred::FineGrained => format!(
                "the fine-grained token cannot see it: its resource owner must be {} and, for a repository, the repository must be among its selected repositories",
                self.target.account()
            ),
            Cred::App => "the app's installation cannot see it: add the repository to the installation's selected repositories (installation settings, Repository access)".into(),
        }
    }
}

/// `: GitHub's message` when the answer has one.
fn detail(r: &Response) -> String {
    match r.message() {
        Some(m) if !m.is_empty() => format!(": {}", m.chars().take(200).collect::<String>()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::fake::{
        Access, FakeApp, FakeGithub, FakeInstallation, FakeToken, app as app_auth,
        installation as inst, pat, test_key,
    };

    const NOW: u64 = 1_700_000_000;

    fn github() -> FakeGithub {
        FakeGithub::new()
            .clock(NOW)
            .token(
                FakeToken::classic("tok-repo", "octocat", &["repo", "workflow"])
                    .access("repos/owner/repo", Access::Admin)
                    .access("repos/owner/readonly", Access::Read),
            )
            .token(
                FakeToken::classic("tok-org", "owner1", &["admin:org"])
                    .access("orgs/my-org", Access::Admin),
            )
            .token(FakeToken::classic("tok-none", "nobody", &[]))
            .token(
                FakeToken::classic("tok-ent", "boss", &["admin:enterprise"])
                    .access("enterprises/acme", Access::Admin),
            )
            .token(
                FakeToken::fine_grained("tok-fine", "octocat")
                    .access("repos/owner/repo", Access::Admin)
                    .access("repos/owner/readonly", Access::Read),
            )
            .app(
                FakeApp::new(123456, "Iv23liTest", "deskrun-test", &test_key(1))
                    .installation(
                        FakeInstallation::new(7654321, "my-org")
                            .access("orgs/my-org", Access::Admin),
                    )
                    .installation(
                        FakeInstallation::new(555, "owner")
                            .access("repos/owner/readonly", Access::Read),
                    ),
            )
    }

    fn run(gh: &FakeGithub, url: &str, auth: Auth) -> Vec<Check> {
        check_installation(gh, "my-runner", &inst(url, auth), None, NOW)
    }

    fn statuses(checks: &[Check]) -> Vec<(&str, Status)> {
        checks.iter().map(|c| (c.id.as_str(), c.status)).collect()
    }

    #[test]
    fn a_classic_token_with_the_right_scope_passes_every_check() {
        let gh = github();
        let c = run(&gh, "https://github.com/owner/repo", pat("tok-repo"));
        assert_eq!(
            statuses(&c),
            [
                (ID_CREDENTIAL, Status::Ok),
                (ID_SCOPE, Status::Ok),
                (ID_RUNNERS, Status::Ok)
            ]
        );
        assert!(c.iter().all(|c| c.subject.as_deref() == Some("my-runner")));
        assert!(c[0].message.contains("octocat"), "{c:?}");
        assert_eq!(
            gh.requests(),
            [
                "GET /user",
                "GET /repos/owner/repo/actions/runners?per_page=1"
            ]
        );
        let c = run(&gh, "https://github.com/my-org", pat("tok-org"));
        assert_eq!(crate::checks::worst(&c), Status::Ok, "{c:?}");
        let c = run(&gh, "https://github.com/enterprises/acme", pat("tok-ent"));
        assert_eq!(crate::checks::worst(&c), Status::Ok, "{c:?}");
    }

    #[test]
    fn a_wrong_token_fails_on_get_user_and_stops_there() {
        let gh = github();
        let c = run(&gh, "https://github.com/owner/repo", pat("expired"));
        assert_eq!(statuses(&c), [(ID_CREDENTIAL, Status::Fail)]);
        assert!(c[0].message.contains("401"), "{c:?}");
        assert!(c[0].message.contains("Bad credentials"), "{c:?}");
        let fix = c[0].fix.as_deref().unwrap();
        assert!(fix.contains("https://github.com/settings/tokens"), "{fix}");
        assert!(fix.contains("deskrun add my-runner"), "{fix}");
        assert_eq!(gh.requests(), ["GET /user"]);
    }

    #[test]
    fn a_classic_token_without_the_needed_scope_fails_with_that_scope() {
        let gh = github();
        let c = run(&gh, "https://github.com/my-org", pat("tok-repo"));
        assert_eq!(
            statuses(&c),
            [(ID_CREDENTIAL, Status::Ok), (ID_SCOPE, Status::Fail)]
        );
        assert!(c[1].message.contains("repo, workflow"), "{c:?}");
        assert!(c[1].message.contains("need the scope admin:org"), "{c:?}");
        assert!(c[1].fix.as_deref().unwrap().contains("tick admin:org"));
        let c = run(&gh, "https://github.com/owner/repo", pat("tok-none"));
        assert!(c[1].message.contains("has no scope"), "{c:?}");
        let c = run(&gh, "https://github.com/enterprises/acme", pat("tok-org"));
        assert!(c[1].message.contains("manage_runners:enterprise"), "{c:?}");
    }

    #[test]
    fn a_403_names_the_permission_for_the_kind_of_credential() {
        let gh = github();
        let c = run(&gh, "https://github.com/owner/readonly", pat("tok-fine"));
        assert_eq!(
            statuses(&c),
            [
                (ID_CREDENTIAL, Status::Ok),
                (ID_SCOPE, Status::Ok),
                (ID_RUNNERS, Status::Fail)
            ]
        );
        assert!(c[1].message.contains("fine-grained"), "{c:?}");
        assert!(c[2].message.contains("403"), "{c:?}");
        let fix = c[2].fix.as_deref().unwrap();
        assert!(fix.contains("Administration: Read and write"), "{fix}");
        let c = run(&gh, "https://github.com/owner/readonly", pat("tok-repo"));
        assert!(
            c[2].fix
                .as_deref()
                .unwrap()
                .contains("admin of the repository"),
            "{c:?}"
        );
    }

    #[test]
    fn a_404_says_the_target_is_missing_or_invisible() {
        let gh = github();
        let c = run(&gh, "https://github.com/owner/nope", pat("tok-repo"));
        assert_eq!(c[2].status, Status::Fail);
        assert!(
            c[2].message
                .contains("repository owner/nope does not exist or the credential cannot see it"),
            "{c:?}"
        );
        assert!(
            c[2].fix
                .as_deref()
                .unwrap()
                .contains("https://github.com/owner/nope"),
            "{c:?}"
        );
        let c = run(&gh, "https://github.com/owner/nope", pat("tok-fine"));
        assert!(
            c[2].fix
                .as_deref()
                .unwrap()
                .contains("selected repositories")
        );
    }

    #[test]
    fn a_github_app_passes_with_its_key_and_installation() {
        let gh = github();
        let c = run(
            &gh,
            "https://github.com/my-org",
            app_auth("123456", "7654321", 1),
        );
        assert_eq!(
            statuses(&c),
            [
                (ID_CREDENTIAL, Status::Ok),
                (ID_INSTALLATION, Status::Ok),
                (ID_RUNNERS, Status::Ok)
            ],
            "{c:?}"
        );
        assert!(c[0].message.contains("deskrun-test"));
        assert_eq!(
            gh.requests(),
            [
                "GET /app",
                "GET /app/installations/7654321",
                "POST /app/installations/7654321/access_tokens",
                "GET /orgs/my-org/actions/runners?per_page=1"
            ]
        );
        // The client id works as the issuer too.
        let c = run(
            &gh,
            "https://github.com/my-org",
            app_auth("Iv23liTest", "7654321", 1),
        );
        assert_eq!(crate::checks::worst(&c), Status::Ok, "{c:?}");
    }

    #[test]
    fn a_wrong_app_id_or_key_fails_on_get_app() {
        let gh = github();
        for auth in [
            app_auth("999", "7654321", 1),
            app_auth("123456", "7654321", 2),
        ] {
            let c = run(&gh, "https://github.com/my-org", auth);
            assert_eq!(statuses(&c), [(ID_CREDENTIAL, Status::Fail)], "{c:?}");
            assert!(c[0].message.contains("401"), "{c:?}");
            assert!(c[0].fix.as_deref().unwrap().contains("App ID"));
        }
        let bad = Auth::GithubApp {
            app_id: "123456".into(),
            installation_id: "7654321".into(),
            // Armour split so that secret scanners do not flag it.
            private_key: concat!(
                "-----BEGIN RSA ",
                "PRIVATE KEY-----\nAAAA\n-----END RSA ",
                "PRIVATE KEY-----\n"
            )
            .into(),
        };
        let c = run(&gh, "https://github.com/my-org", bad);
        assert_eq!(statuses(&c), [(ID_CREDENTIAL, Status::Fail)]);
        assert!(c[0].message.contains("cannot sign"), "{c:?}");
        assert!(gh.requests().len() == 2, "no request for an unusable key");
    }

    #[test]
    fn a_jwt_from_a_wrong_clock_is_refused() {
        // The fake's clock is 20 minutes behind: the JWT's iat is in its future.
        let gh = github();
        let c = check_installation(
            &gh,
            "x",
            &inst(
                "https://github.com/my-org",
                app_auth("123456", "7654321", 1),
            ),
            None,
            NOW + 1200,
        );
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].message.contains("clock"), "{c:?}");
    }

    #[test]
    fn a_wrong_installation_fails_on_the_installation() {
        let gh = github();
        let c = run(&gh, "https://github.com/my-org", app_auth("123456", "1", 1));
        assert_eq!(
            statuses(&c),
            [(ID_CREDENTIAL, Status::Ok), (ID_INSTALLATION, Status::Fail)]
        );
        assert!(c[1].message.contains("no installation 1"), "{c:?}");
        // Installed, but on another account than the URL's.
        let c = run(
            &gh,
            "https://github.com/other-org",
            app_auth("123456", "7654321", 1),
        );
        assert_eq!(c[1].status, Status::Fail, "{c:?}");
        assert!(c[1].message.contains("on the account my-org"), "{c:?}");
        assert!(
            c[1].fix
                .as_deref()
                .unwrap()
                .contains("install the app on other-org")
        );
        // The installation sees the repository but may not manage its runners.
        let c = run(
            &gh,
            "https://github.com/owner/readonly",
            app_auth("123456", "555", 1),
        );
        assert_eq!(c[2].status, Status::Fail, "{c:?}");
        assert!(c[2].fix.as_deref().unwrap().contains("Administration"));
    }

    #[test]
    fn an_unreachable_github_is_a_warning_not_a_failure() {
        let gh = github();
        gh.set_unreachable(true);
        for auth in [pat("tok-repo"), app_auth("123456", "7654321", 1)] {
            let c = run(&gh, "https://github.com/owner/repo", auth);
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].status, Status::Warn);
            assert!(
                c[0].message
                    .contains("GitHub could not be reached at https://api.github.com")
            );
            assert!(first_failure(&c).is_none());
        }
    }

    #[test]
    fn no_check_ever_shows_a_credential() {
        let gh = github();
        let runs = [
            ("https://github.com/owner/repo", pat("tok-repo")),
            ("https://github.com/my-org", pat("tok-repo")),
            ("https://github.com/owner/nope", pat("tok-fine")),
            ("https://github.com/my-org", pat("wrong-token-value")),
            (
                "https://github.com/my-org",
                app_auth("123456", "7654321", 1),
            ),
            ("https://github.com/other", app_auth("123456", "7654321", 1)),
        ];
        for (url, auth) in runs {
            let secrets = auth.secrets();
            let text = format!("{:?}", run(&gh, url, auth));
            for s in &secrets {
                assert!(!text.contains(s.as_str()));
                for line in s.lines().filter(|l| l.len() > 20) {
                    assert!(!text.contains(line));
                }
            }
            assert!(!text.contains("ghs_"), "installation token shown: {text}");
            assert!(!text.contains("eyJ"), "a JWT shown: {text}");
        }
    }

    #[test]
    fn enterprise_server_urls_use_api_v3_and_their_own_settings_page() {
        let gh = github();
        let c = run(&gh, "https://ghe.example.com/owner/repo", pat("bad"));
        assert!(
            c[0].fix
                .as_deref()
                .unwrap()
                .contains("https://ghe.example.com/settings/tokens")
        );
        struct Seen(std::sync::Mutex<Vec<String>>);
        impl GithubApi for Seen {
            fn send(&self, r: &Request) -> Result<Response, Unreachable> {
                self.0.lock().unwrap().push(r.url.clone());
                Err(Unreachable("down".into()))
            }
        }
        let seen = Seen(Default::default());
        check_installation(
            &seen,
            "x",
            &inst("https://ghe.example.com/owner/repo", pat("t")),
            None,
            NOW,
        );
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["https://ghe.example.com/api/v3/user"]
        );
    }

    #[test]
    fn every_request_carries_the_installations_ca() {
        struct Seen(std::sync::Mutex<Vec<Option<String>>>);
        impl GithubApi for Seen {
            fn send(&self, r: &Request) -> Result<Response, Unreachable> {
                self.0.lock().unwrap().push(r.ca.map(String::from));
                github().send(r)
            }
        }
        let ca = include_str!("../../tests/fixtures/github-ca-1.pem");
        for (pem, want) in [(Some(ca), Some(ca.to_string())), (None, None)] {
            let seen = Seen(Default::default());
            let mut i = inst("https://github.com/owner/repo", pat("tok-repo"));
            i.github_ca = pem.map(String::from);
            check_installation(&seen, "x", &i, None, NOW);
            let cas = seen.0.lock().unwrap();
            assert!(cas.len() >= 2, "{cas:?}");
            assert!(cas.iter().all(|c| *c == want));
        }
    }

    #[test]
    fn the_ca_check_names_the_ca_and_warns_before_it_expires() {
        let mut i = inst("https://ghe.example.com/owner/repo", pat("tok-repo"));
        assert!(ca_check("x", &i, NOW).is_none());
        i.github_ca = Some(include_str!("../../tests/fixtures/github-ca-1.pem").into());
        // The fixture is valid until 2056-11-22T09:42:53Z.
        let end = 2_742_111_773;
        let ok = ca_check("x", &i, NOW).unwrap();
        assert_eq!(ok.status, Status::Ok);
        assert!(
            ok.message.contains("CN=deskrun test GHES CA 1"),
            "{}",
            ok.message
        );
        let soon = ca_check("x", &i, end - 86_400).unwrap();
        assert_eq!(soon.status, Status::Warn);
        assert!(
            soon.message.contains("expires on 2056-11-22"),
            "{}",
            soon.message
        );
        let late = ca_check("x", &i, end + 1).unwrap();
        assert_eq!(late.status, Status::Warn);
        assert!(
            late.message.contains("expired on 2056-11-22"),
            "{}",
            late.message
        );
        assert!(late.fix.as_deref().unwrap().contains("--github-ca-file"));
        // First among the installation's checks, with it as the subject.
        let all = check_installation(&github(), "x", &i, None, NOW);
        assert_eq!(all[0].id, ID_CA);
        assert_eq!(all[0].subject.as_deref(), Some("x"));
    }
}
