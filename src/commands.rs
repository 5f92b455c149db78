//! One small function per command: call the library, print the result.
//! Data goes to stdout; progress, hints and errors to stderr.

use crate::cli::{
    AddArgs, AuthTypeArg, Cli, ClusterCommand, Command, ConfigCommand, DownArgs, JobContainerArg,
    ListFormat, LogsArgs, ModeArg, RenderArgs, SetProxyArgs, StatusArgs, StatusFormat, UpArgs,
};
use crate::config::{Store, default_path};
use crate::error::input;
use crate::exec::Runner;
use crate::input_bail;
use crate::model::{Auth, JobContainer, Mode};
use crate::ops;
use crate::ops::session::Session;
use crate::output::Printer;
use crate::progress::Progress;
use crate::tools::{Timeouts, cache_dir};
use crate::validate::{
    MAX_CREDENTIAL_BYTES, MAX_GITHUB_CA_BYTES, validate_credential, validate_github_ca,
};
use anyhow::Result;
use clap::CommandFactory;
use std::io::{IsTerminal, Read};

/// Global options every command sees.
pub struct Globals {
    pub store: Store,
    /// Everything shown goes through it (quiet, verbose, colour, pipes).
    pub out: Printer,
}

impl Globals {
    pub fn from_cli(cli: &Cli, out: &Printer) -> Result<Self> {
        let path = match &cli.config {
            Some(p) => p.clone(),
            None => default_path()?,
        };
        let mut store = Store::new(path);
        if let Some(secs) = cli.wait_lock {
            store = store.with_lock_wait(std::time::Duration::from_secs(secs.into()));
        }
        Ok(Globals {
            store,
            out: out.clone(),
        })
    }
}

pub fn run(cli: Cli, out: &Printer) -> Result<()> {
    let g = Globals::from_cli(&cli, out)?;
    match cli.command {
        Command::Add(args) => add(&g, *args),
        Command::List { output } => list(&g, output),
        Command::Remove { name, purge_caches } => remove(&g, &name, purge_caches),
        Command::Render(args) => render(&g, args),
        Command::Up(args) => up(&g, args),
        Command::Down(args) => down(&g, args),
        Command::Status(args) => status(&g, args),
        Command::Logs(args) => logs(&g, args),
        Command::Jobs { name, output } => jobs(&g, name.as_deref(), output),
        Command::Doctor {
            names,
            offline,
            output,
        } => doctor(&g, names, offline, output),
        Command::Cluster(cmd) => cluster(&g, cmd),
        Command::Config(ConfigCommand::Import { file, replace }) => {
            config_import(&g, file, replace)
        }
        Command::Config(ConfigCommand::SetProxy(args)) => set_proxy(&g, args),
        Command::Version => {
            g.out.line(format!("deskrun {}", env!("CARGO_PKG_VERSION")));
            Ok(())
        }
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write.
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "deskrun", &mut script);
            g.out.data_bytes(&script);
            Ok(())
        }
    }
}

/// `list` and `up` without a config of deskrun's own, next to the Go
/// deskrun's: say how to bring its installations over.
fn go_config_hint(g: &Globals) {
    if let Some(hint) = ops::import::go_config_hint(&g.store) {
        g.out.note(hint);
    }
}

fn config_import(g: &Globals, file: Option<std::path::PathBuf>, replace: bool) -> Result<()> {
    let file = match file {
        Some(f) => f,
        None => ops::import::default_go_config().ok_or_else(|| {
            input("cannot find your home directory; give the file: deskrun config import FILE")
        })?,
    };
    let r = ops::import::import(&g.store, &file, replace)?;
    for i in &r.imported {
        let verb = if i.replaced { "replaced" } else { "imported" };
        g.out.line(format!(
            "{verb} {} ({}, {}); runs-on: {}",
            i.name,
            i.mode,
            i.repository,
            i.runs_on.join(" | ")
        ));
        for note in &i.notes {
            g.out.line(format!("  note: {note}"));
        }
    }
    for x in &r.refused {
        g.out.line(format!("refused {}: {}", x.name, x.reason));
    }
    g.out.line(format!(
        "{} imported, {} refused from {} into {}",
        r.imported.len(),
        r.refused.len(),
        r.source.display(),
        g.store.path().display()
    ));
    if let Some(old) = r
        .go_cluster_name
        .as_deref()
        .filter(|_| !r.imported.is_empty())
    {
        g.out.note(format!(
            "note: the Go deskrun ran its runners in the kind cluster {old:?}; if it still exists, delete it \
             (kind delete cluster --name {old}) before `deskrun up`: deskrun cannot take over what the Go \
             deskrun deployed there, and the caches on the host are kept either way"
        ));
    }
    if r.imported.is_empty() && !r.refused.is_empty() {
        input_bail!("nothing was imported: every installation was refused (see above)");
    }
    if !r.imported.is_empty() {
        g.out.note("next: run `deskrun up` to deploy them");
    }
    Ok(())
}

pub fn job_container(j: JobContainerArg) -> JobContainer {
    match j {
        JobContainerArg::Required => JobContainer::Required,
        JobContainerArg::Optional => JobContainer::Optional,
    }
}

fn mode(m: ModeArg) -> Mode {
    match m {
        ModeArg::Kubernetes => Mode::Kubernetes,
        ModeArg::CachedPrivilegedKubernetes => Mode::CachedPrivilegedKubernetes,
        ModeArg::Dind => Mode::Dind,
    }
}

/// The flag the credential came from, named in every error about it.
fn credential_flag(args: &AddArgs) -> &'static str {
    if args.auth_value_stdin {
        "--auth-value-stdin"
    } else if args.auth_value_file.is_some() {
        "--auth-value-file"
    } else {
        "--auth-value"
    }
}

/// The credential from exactly one of --auth-value, --auth-value-stdin,
/// --auth-value-file, read up to [`MAX_CREDENTIAL_BYTES`] (`/dev/zero` or a
/// runaway pipe is refused, not read into memory). One trailing newline (as
/// `echo` or an editor adds) is dropped. On a terminal, stdin is read with
/// echo off after a prompt on stderr.
fn read_credential(args: &AddArgs) -> Result<String> {
    let raw = if let Some(v) = &args.auth_value {
        v.clone()
    } else if args.auth_value_stdin {
        if std::io::stdin().is_terminal() {
            let key = args.auth_type == AuthTypeArg::GithubApp;
            crate::term::read_hidden(if key {
                "Paste the GitHub App's private key (input is hidden), then press Enter and Ctrl-D: "
            } else {
                "Paste the token (input is hidden) and press Enter: "
            }, key)
            .map_err(|e| input(format!("cannot read --auth-value-stdin from the terminal: {e}")))?
        } else {
            read_capped(std::io::stdin().lock(), "--auth-value-stdin")?
        }
    } else if let Some(path) = &args.auth_value_file {
        let what = format!("--auth-value-file {}", path.display());
        match std::fs::File::open(path) {
            Ok(f) => read_capped(f, &what)?,
            Err(e) => input_bail!("cannot read {what}: {e}"),
        }
    } else {
        input_bail!(
            "missing credential: give it with --auth-value-stdin (e.g. `gh auth token | deskrun add ...`), \
             --auth-value-file FILE, or --auth-value VALUE"
        );
    };
    let trimmed = raw.strip_suffix('\n').unwrap_or(&raw);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(trimmed.to_string())
}

/// The certificates of `--github-ca-file`, checked and in canonical PEM;
/// at most [`MAX_GITHUB_CA_BYTES`] are read (`/dev/zero` ends too).
fn read_github_ca(path: &std::path::Path) -> Result<String> {
    let what = format!("--github-ca-file {}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_GITHUB_CA_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| input(format!("cannot read {what}: {e}")))?;
    if bytes.len() > MAX_GITHUB_CA_BYTES {
        input_bail!(
            "invalid {what}: more than {} KiB; a CA certificate is 1-2 KB. Give the private CA (and its \
             intermediates) only, not a whole system bundle",
            MAX_GITHUB_CA_BYTES / 1024
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        input(format!(
            "invalid {what}: not text; a PEM certificate is ASCII starting with \
             -----BEGIN CERTIFICATE----- (a DER file converts with \
             `openssl x509 -inform der -in CA.der -out CA.pem`)"
        ))
    })?;
    validate_github_ca(&what, &text)
}

/// At most [`MAX_CREDENTIAL_BYTES`] of UTF-8 text from `r`.
fn read_capped(r: impl Read, what: &str) -> Result<String> {
    let mut bytes = Vec::new();
    r.take(MAX_CREDENTIAL_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| input(format!("cannot read {what}: {e}")))?;
    if bytes.len() > MAX_CREDENTIAL_BYTES {
        input_bail!(
            "invalid {what}: more than {} KiB; a GitHub token is under 100 bytes and a GitHub App key \
             under 4 KB. Is it the right file?",
            MAX_CREDENTIAL_BYTES / 1024
        );
    }
    String::from_utf8(bytes).map_err(|_| {
        input(format!(
            "invalid {what}: not UTF-8 text; a token or a PEM key is plain ASCII"
        ))
    })
}

fn auth(args: &AddArgs) -> Result<Auth> {
    match args.auth_type {
        AuthTypeArg::Pat => {
            if args.app_id.is_some() || args.installation_id.is_some() {
                input_bail!(
                    "--app-id and --installation-id are for --auth-type github-app; a pat needs only the token"
                );
            }
            let auth = Auth::Pat {
                token: read_credential(args)?.trim().to_string(),
            };
            validate_credential(&auth, credential_flag(args))?;
            Ok(auth)
        }
        AuthTypeArg::GithubApp => {
            let (Some(app_id), Some(installation_id)) = (&args.app_id, &args.installation_id)
            else {
                input_bail!(
                    "--auth-type github-app needs --app-id ID and --installation-id ID, and the private key \
                     through --auth-value-file KEY.pem (or --auth-value-stdin)"
                );
            };
            let auth = Auth::GithubApp {
                app_id: app_id.trim().to_string(),
                installation_id: installation_id.trim().to_string(),
                private_key: read_credential(args)?,
            };
            validate_credential(&auth, credential_flag(args))?;
            Ok(auth)
        }
    }
}

fn add(g: &Globals, args: AddArgs) -> Result<()> {
    let req = ops::add::AddRequest {
        name: args.name.clone(),
        repository: args.repository.clone(),
        mode: mode(args.mode),
        min_runners: args.min_runners,
        max_runners: args.max_runners,
        instances: args.instances,
        caches: args.caches.clone(),
        job_container: args.job_container.map(job_container),
        glibc_compat: args.glibc_compat,
        node: args.node.clone(),
        auth: auth(&args)?,
        replace: args.replace,
        labels: args.labels.clone(),
        env: args.env.clone(),
        runner_image: args.runner_image.clone(),
        dind_image: args.dind_image.clone(),
        requests: args.requests.clone(),
        limits: args.limits.clone(),
        allow_http: args.allow_http,
        github_ca: args
            .github_ca_file
            .as_deref()
            .map(read_github_ca)
            .transpose()?,
        no_github_ca: args.no_github_ca,
    };
    let out = ops::add::add(&g.store, &req)?;
    let verb = if out.replaced { "replaced" } else { "added" };
    g.out.line(format!(
        "{verb} installation {} ({}, {}) in {}",
        out.name,
        out.installation.mode,
        out.installation.repository,
        g.store.path().display()
    ));
    if out.runs_on.len() == 1 {
        g.out
            .line(format!("workflows use:  runs-on: {}", out.runs_on[0]));
    } else {
        g.out.line(format!(
            "workflows use one of:  runs-on: {}",
            out.runs_on.join(" | ")
        ));
        g.out.line(format!(
            "  e.g. runs-on: {}-${{{{ github.run_number % {} + 1 }}}}",
            out.name,
            out.runs_on.len()
        ));
    }
    if !out.installation.labels.is_empty() {
        // GitHub gives a job to a runner that has every label the job lists;
        // a scale set's labels are its name and these (not `self-hosted`).
        g.out.line(format!(
            "or by labels:  runs-on: [{}]",
            out.installation.labels.join(", ")
        ));
        let labels = out.installation.labels.join(", ");
        let allowed = match out.runs_on.as_slice() {
            [only] => format!("{only}, {labels}"),
            _ => format!("{labels}, plus at most one instance name"),
        };
        g.out.line(format!(
            "  (a job runs here when every label in its runs-on is one of: {allowed}; `self-hosted` is not a label of a scale set)"
        ));
    }
    let inst = &out.installation;
    if inst.max_runners > 1
        && let Some(cache) = inst
            .caches
            .iter()
            .find(|c| crate::validate::is_docker_data_dir(&c.path))
    {
        g.out.warn(format!(
            "up to {} runners of {} can run at once and would share the Docker data \
             directory cache {}; two dockerd on one data directory corrupt it. Use --max-runners 1, \
             or --instances N for N runners with a cache each.",
            inst.max_runners, out.name, cache.path
        ));
    }
    if let Some(image) = &inst.runner_image
        && crate::validate::is_pinned_runner_image(image)
    {
        g.out.note(format!(
            "note: {image} is pinned. GitHub stops accepting runners that fall too far behind its \
             current release and ARC's runners do not update themselves: move the tag forward when \
             a new runner is released (`deskrun add ... --replace --runner-image ...`)"
        ));
    }
    if let Some(pem) = &inst.github_ca {
        for cert in crate::x509::parse_pem_certificates(pem).unwrap_or_default() {
            g.out.note(format!(
                "trusts the CA {} (until {}, SHA-256 {})",
                cert.subject, cert.not_after, cert.sha256
            ));
        }
    }
    let now = crate::github::checks::unix_now() as i64;
    for w in ops::add::github_ca_warnings(&out.name, inst, now) {
        g.out.warn(w);
    }
    proxy_hint(g);
    g.out.note("next: run `deskrun up` to deploy it");
    Ok(())
}

fn list(g: &Globals, format: ListFormat) -> Result<()> {
    go_config_hint(g);
    let config = g.store.load()?;
    let out = ops::list::list(&config);
    match format {
        ListFormat::Table => {
            g.out.note(format!("target: {}", config.cluster.target()));
            if out.installations.is_empty() {
                g.out
                    .note("no installations; add one with `deskrun add NAME --repository URL ...`");
                return Ok(());
            }
            g.out.data(&ops::list::table(&out));
            if let Some(p) = &config.cluster.proxy {
                g.out
                    .note(format!("cluster proxy: {}", ops::proxy::describe(p)));
            }
        }
        ListFormat::Json => g.out.json(&out)?,
        ListFormat::Yaml => g.out.data(&crate::yaml::to_string(&out)?),
    }
    Ok(())
}

fn remove(g: &Globals, name: &str, purge_caches: bool) -> Result<()> {
    let config = g.store.load()?;
    if purge_caches {
        ops::remove::check_purge(&config)?;
    }
    let out = ops::remove::remove(&g.store, name)?;
    g.out.line(format!(
        "removed installation {} from {}",
        out.name,
        g.store.path().display()
    ));
    g.out
        .note("next: run `deskrun up` to uninstall its runners from the cluster");
    if !out.cache_dirs.is_empty() {
        g.out
            .note("its host caches are kept (delete them by hand if you no longer need them):");
        for dir in &out.cache_dirs {
            g.out.note(format!("  {dir}"));
        }
    }
    if purge_caches {
        let deleted = with_session(g, true, |s| ops::remove::purge_claims(s, &config, name))?;
        if deleted.is_empty() {
            g.out.line(format!("no cache claims of {name} were found"));
        } else {
            g.out.line(format!(
                "deleting the cache claims {} (each goes once no pod uses it)",
                deleted.join(", ")
            ));
        }
    } else if !out.claims.is_empty() {
        g.out.note(format!(
            "its cache claims are kept in context {} (`deskrun remove {name} --purge-caches` would have deleted them; `deskrun down --purge-caches` deletes every one): {}",
            config.cluster.context(),
            out.claims.join(", ")
        ));
    }
    Ok(())
}

fn render(g: &Globals, args: RenderArgs) -> Result<()> {
    let config = g.store.load()?;
    let files = ops::render::render_files(&config, &args.names, args.show_secrets)?;
    let target = format!("rendered for the {}", config.cluster.target());
    match &args.output_dir {
        Some(dir) => {
            ops::render::write_dir(dir, &files)?;
            for f in &files {
                g.out.line(format!("{}", dir.join(&f.path).display()));
            }
            g.out.note(target);
            Ok(())
        }
        None => {
            g.out
                .data(&format!("# {target}\n{}", crate::render::to_stream(&files)));
            Ok(())
        }
    }
}

/// `text` with every credential of the config replaced by `<redacted>`.
/// A config that does not validate is still searched (leniently) for
/// `token` and `private_key` values, so even an error about a broken file
/// cannot show one.
pub fn redact_error(config: Option<&std::path::Path>, text: &str) -> String {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => match default_path() {
            Ok(p) => p,
            Err(_) => return text.to_string(),
        },
    };
    let secrets = match Store::new(&path).load() {
        Ok(c) => c.secrets(),
        Err(_) => {
            fn walk(v: &serde_yaml::Value, out: &mut Vec<String>) {
                match v {
                    serde_yaml::Value::Mapping(m) => {
                        for (k, x) in m {
                            if let (Some("token" | "private_key"), Some(s)) =
                                (k.as_str(), x.as_str())
                            {
                                out.push(s.to_string());
                            }
                            walk(x, out);
                        }
                    }
                    serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
                    _ => {}
                }
            }
            let mut out = Vec::new();
            // Bounded like every config read: never a FIFO, a huge or a
            // deeply nested file.
            if let Some(v) = crate::config::read_text(&path)
                .ok()
                .flatten()
                .and_then(|t| serde_yaml::from_str::<serde_yaml::Value>(&t.text).ok())
            {
                walk(&v, &mut out);
            }
            out
        }
    };
    Runner::new().with_secrets(secrets).redact(text)
}

/// Run `f` with a session: a runner that redacts every credential of the
/// config and, with -v, echoes each command; step lines unless `steps` is
/// false.
fn with_session<T>(g: &Globals, steps: bool, f: impl FnOnce(&Session) -> Result<T>) -> Result<T> {
    let secrets = g.store.load().map(|c| c.secrets()).unwrap_or_default();
    let runner = Runner::new()
        .with_secrets(secrets)
        .echo_to(g.out.echo_sink());
    let printer = if steps {
        g.out.clone()
    } else {
        Printer::silent()
    };
    let progress = Progress::new(&printer, g.out.verbose() >= 1);
    let session = Session {
        store: &g.store,
        runner: &runner,
        host: &crate::host::RealHost,
        progress: &progress,
        timeouts: Timeouts::from_env()?,
        cache_dir: cache_dir(),
    };
    f(&session)
}

fn set_proxy(g: &Globals, args: SetProxyArgs) -> Result<()> {
    if args.clear {
        ops::proxy::set_proxy(&g.store, None)?;
        g.out.line(format!(
            "removed cluster.proxy from {}; runners will connect directly",
            g.store.path().display()
        ));
        g.out
            .note("next: run `deskrun up` to apply it to every scale set");
        return Ok(());
    }
    for (flag, url) in [("--https", &args.https), ("--http", &args.http)] {
        if let Some(url) = url {
            ops::proxy::refuse_credentials_in_argv(flag, url)?;
        }
    }
    let mut req = if args.from_env {
        ops::proxy::from_environment(&|k| std::env::var(k).ok())
    } else {
        ops::proxy::ProxyRequest::default()
    };
    if args.https.is_some() {
        req.https = args.https.clone();
    }
    if args.http.is_some() {
        req.http = args.http.clone();
    }
    if !args.no_proxy.is_empty() {
        req.no_proxy = args.no_proxy.clone();
    }
    if args.from_env && req.http.is_none() && req.https.is_none() {
        input_bail!(
            "--from-env: neither HTTPS_PROXY nor HTTP_PROXY (nor their lowercase forms) is set in this shell"
        );
    }
    if args.credentials_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            anyhow::anyhow!("cannot read the proxy credentials from standard input: {e}")
        })?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        let Some((user, password)) = line.split_once(':') else {
            input_bail!("--credentials-stdin: expected USER:PASSWORD on standard input (one line)");
        };
        req.credentials = Some((user.to_string(), password.to_string()));
    }
    let settings = ops::proxy::settings_from(&req)?;
    let text = ops::proxy::describe(&settings);
    ops::proxy::set_proxy(&g.store, Some(settings))?;
    g.out.line(format!(
        "set cluster.proxy in {}: {text}",
        g.store.path().display()
    ));
    g.out.note(
        "next: run `deskrun up`: every scale set is upgraded to use it (the cluster's own addresses \
         are always reached directly)",
    );
    Ok(())
}

/// The `add`/`up` hint that offers the shell's proxy when the config has none.
fn proxy_hint(g: &Globals) {
    if let Ok(config) = g.store.load()
        && let Some(hint) = ops::proxy::environment_hint(&config, &|k| std::env::var(k).ok())
    {
        g.out.note(hint);
    }
}

fn up(g: &Globals, args: UpArgs) -> Result<()> {
    proxy_hint(g);
    let opts = ops::up::UpOptions {
        names: args.names,
        dry_run: args.dry_run,
        parallel: usize::from(args.parallel),
        charts: ops::up::ChartOverrides {
            version: args.chart_version,
            controller: args.controller_chart,
            scale_set: args.scale_set_chart,
        },
    };
    go_config_hint(g);
    let api = crate::github::Http::default();
    let github = (!args.skip_github_check).then_some(&api as &dyn crate::github::GithubApi);
    let report = with_session(g, true, |s| ops::up::up_with(s, &opts, github))?;
    for notice in &report.notices {
        g.out.note(format!("note: {notice}"));
    }
    if let Some(external) = &report.external {
        g.out
            .note(format!("external controller: {}", external.summary()));
    }
    if opts.dry_run {
        let config = g.store.load()?;
        g.out.line(format!(
            "plan for the {}; nothing was changed:",
            config.cluster.target()
        ));
        g.out.data(&crate::plan::columns(&report.plan.lines()));
        return Ok(());
    }
    if report.applied {
        g.out.line(format!("up: {}", report.summary()));
    } else {
        g.out
            .line(format!("up: nothing to do; {}", report.summary()));
    }
    let runs_on: Vec<&str> = report
        .plan
        .instances
        .iter()
        .map(|i| i.instance.as_str())
        .collect();
    if !runs_on.is_empty() {
        g.out
            .note(format!("workflows use runs-on: {}", runs_on.join(" | ")));
    }
    Ok(())
}

fn down(g: &Globals, args: DownArgs) -> Result<()> {
    let opts = ops::down::DownOptions {
        controller: args.controller,
        delete_cluster: args.delete_cluster,
        purge_caches: args.purge_caches,
        parallel: ops::up::DEFAULT_PARALLEL,
    };
    let report = with_session(g, true, |s| ops::down::down(s, &opts))?;
    if !report.cluster_found {
        g.out.line("down: no kind cluster, nothing to uninstall");
    } else if report.cluster_deleted {
        g.out.line("down: deleted the kind cluster");
    } else if report.uninstalled.is_empty() {
        g.out.line("down: nothing deskrun deployed was found");
    } else {
        g.out.line(format!(
            "down: uninstalled {}",
            report.uninstalled.join(", ")
        ));
    }
    if report.cluster_deleted {
        g.out.note(
            "registry mirrors and the images they cached are kept for the next cluster \
             (`deskrun cluster delete --mirrors` removes the containers)",
        );
    }
    if !report.purged_claims.is_empty() {
        g.out.line(format!(
            "down: deleted the cache claims {}",
            report.purged_claims.join(", ")
        ));
    }
    if !report.cache_dirs.is_empty() {
        g.out
            .note("your config is kept (`deskrun up` re-deploys it); host caches are kept in:");
        for dir in &report.cache_dirs {
            g.out.note(format!("  {dir}"));
        }
    } else {
        g.out
            .note("your config is kept (`deskrun up` re-deploys it)");
    }
    if !report.kept_claims.is_empty() {
        g.out.note(format!(
            "cache claims are kept (`deskrun down --purge-caches` deletes them): {}",
            report.kept_claims.join(", ")
        ));
    }
    Ok(())
}

fn status(g: &Globals, args: StatusArgs) -> Result<()> {
    let name = args.name.as_deref();
    if args.watch {
        return watch(g, name, args.interval);
    }
    // Status reads, it does not act: no step lines.
    let report = with_session(g, false, |s| ops::status::status(s, name))?;
    match args.output {
        StatusFormat::Table => g.out.data(&ops::status::table(&report)),
        StatusFormat::Json => g.out.json(&report)?,
    }
    Ok(())
}

/// `status --watch`: redraw the table in place, like `watch deskrun status`.
fn watch(g: &Globals, name: Option<&str>, interval: u32) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        input_bail!(
            "--watch redraws the screen and needs a terminal, but standard output is not one; \
             run `deskrun status` without --watch (for example in a loop of your own)"
        );
    }
    let every = std::time::Duration::from_secs(interval.into());
    with_session(g, false, |s| {
        ops::status::watch(s, name, every, &mut |report| {
            let body = match report {
                Ok(r) => ops::status::table(&r),
                Err(e) => format!(
                    "error: {}\n",
                    redact_error(Some(g.store.path()), &format!("{e:#}"))
                ),
            };
            // Home, clear, then the whole frame at once: no flicker.
            let frame = format!(
                "\x1b[H\x1b[2Jevery {interval}s: deskrun status{}   (Ctrl-C to stop)\n\n{body}",
                name.map(|n| format!(" {n}")).unwrap_or_default()
            );
            if g.out.try_data(&frame) {
                std::ops::ControlFlow::Continue(())
            } else {
                std::ops::ControlFlow::Break(())
            }
        })
    })
}

fn logs(g: &Globals, args: LogsArgs) -> Result<()> {
    let source = if args.runner {
        ops::logs::Source::Runner
    } else if args.job {
        ops::logs::Source::Job
    } else if args.controller {
        ops::logs::Source::Controller
    } else if args.dind {
        ops::logs::Source::Dind
    } else {
        ops::logs::Source::Listener
    };
    let req = ops::logs::LogsRequest {
        name: args.name,
        source,
        instance: args.instance,
        since: args.since,
        tail: args.tail,
        follow: args.follow,
        poll: None,
    };
    // Lines come from several threads when several pods are followed; each
    // is written whole. A reader that went away (`| head`) ends it all.
    let printer = g.out.clone();
    let out: crate::exec::Sink = std::sync::Arc::new(move |line: &str| {
        if !printer.try_data(&format!("{line}\n")) {
            // A closed pipe is a normal end; a full disk is an error.
            let code = match printer.finish() {
                Ok(()) => 0,
                Err(e) => {
                    printer.error(format!("{e:#}"));
                    1
                }
            };
            crate::exec::exit_stopping_children(code);
        }
    });
    with_session(g, false, |s| {
        ops::logs::logs(s, &req, out, &|n| g.out.note(format!("note: {n}")))
    })
}

fn jobs(g: &Globals, name: Option<&str>, format: StatusFormat) -> Result<()> {
    let report = with_session(g, false, |s| ops::jobs::jobs(s, name))?;
    match format {
        StatusFormat::Json => g.out.json(&report),
        StatusFormat::Table if report.runners.is_empty() => {
            g.out.note("no runners right now (an installation with min_runners 0 starts one per queued job)");
            Ok(())
        }
        StatusFormat::Table => {
            g.out.data(&ops::jobs::table(&report));
            Ok(())
        }
    }
}

/// A check failed: exit 1 after the report is printed, without an `error:` line.
#[derive(Debug)]
pub struct ChecksFailed;

impl std::fmt::Display for ChecksFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a check failed")
    }
}

impl std::error::Error for ChecksFailed {}

fn doctor(g: &Globals, names: Vec<String>, offline: bool, format: StatusFormat) -> Result<()> {
    let opts = ops::doctor::DoctorOptions { names, offline };
    let api = crate::github::Http::default();
    // Doctor reads, it does not act: no step lines.
    let report = with_session(g, false, |s| ops::doctor::doctor(s, &api, &opts))?;
    match format {
        StatusFormat::Table => {
            g.out.data(&ops::doctor::table(&report));
            g.out
                .note(format!("doctor: {}", ops::doctor::summary(&report)));
        }
        StatusFormat::Json => g.out.json(&report)?,
    }
    if report.failed() {
        return Err(ChecksFailed.into());
    }
    Ok(())
}

fn cluster(g: &Globals, cmd: ClusterCommand) -> Result<()> {
    match cmd {
        ClusterCommand::Create => {
            let r = with_session(g, true, ops::cluster::cluster_create)?;
            for notice in &r.notices {
                g.out.note(format!("note: {notice}"));
            }
            if r.created {
                g.out.line("cluster: created");
            } else {
                g.out
                    .line("cluster: already exists (delete it first to change its mounts)");
            }
        }
        ClusterCommand::Delete { mirrors } => {
            let r = with_session(g, true, |s| ops::cluster::cluster_delete(s, mirrors))?;
            if r.deleted {
                g.out.line("cluster: deleted; host caches are kept");
            } else {
                g.out.line("cluster: does not exist");
            }
            if mirrors {
                if r.mirrors_removed.is_empty() {
                    g.out.line("mirrors: none to remove");
                } else {
                    g.out
                        .line(format!("mirrors: removed {}", r.mirrors_removed.join(", ")));
                }
                if let Some(root) = &r.mirror_root {
                    g.out.note(format!(
                        "the images they cached are kept in {root}; delete them with `sudo rm -rf {root}` if you want the space back"
                    ));
                }
            } else {
                g.out.note(
                    "registry mirrors are kept for the next cluster (`--mirrors` removes them)",
                );
            }
        }
        ClusterCommand::Use { context, kind } => {
            let out = match (context, kind) {
                (Some(context), false) => {
                    with_session(g, true, |s| ops::cluster::use_context(s, &context))?
                }
                _ => with_session(g, true, ops::cluster::use_kind)?,
            };
            let verb = if out.unchanged {
                "already deploys"
            } else {
                "now deploys"
            };
            g.out.line(format!("deskrun {verb} to the {}", out.target));
            g.out
                .note("next: `deskrun up` (`deskrun up --dry-run` shows what it would do)");
        }
        ClusterCommand::Status { output } => {
            let r = with_session(g, true, ops::cluster::cluster_status)?;
            match output {
                StatusFormat::Json => g.out.json(&r)?,
                StatusFormat::Table => {
                    let state = match (r.exists, r.running) {
                        (false, _) => "absent",
                        (true, Some(true)) => "running",
                        (true, _) => "stopped",
                    };
                    if r.provider == "existing" {
                        g.out
                            .line(format!("cluster existing answers (context {})", r.context));
                        g.out.line(format!("nodes {}", r.nodes.join(" ")));
                        return Ok(());
                    }
                    g.out.line(format!(
                        "cluster {} {state} (context {})",
                        r.name, r.context
                    ));
                    for m in &r.wanted_mounts {
                        let ok = if r.missing_mounts.contains(m) {
                            "MISSING"
                        } else if r.exists {
                            "mounted"
                        } else {
                            "-"
                        };
                        g.out.line(format!("mount {m} {ok}"));
                    }
                    if !r.missing_mounts.is_empty() {
                        g.out.line("fix: `deskrun down --delete-cluster && deskrun up` re-creates the cluster with every mount (host caches are kept)");
                    }
                    g.out.data(&ops::mirrors::mirror_lines(
                        &r.mirrors,
                        r.mirror_notice.as_deref(),
                    ));
                }
            }
        }
    }
    Ok(())
}
