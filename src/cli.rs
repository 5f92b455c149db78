//! The command line: every clap type lives here and nowhere else. What each
//! command does is in `commands.rs` (one small function per command over
//! `deskrun::ops`, printing through `output::Printer`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Quick start:
  deskrun add docker-runner --repository https://github.com/owner/repo \\
      --mode cached-privileged-kubernetes --cache /var/lib/docker --auth-value-stdin < token.txt
  deskrun up
  # then in a workflow:  runs-on: docker-runner

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input, 130 interrupted.";

/// Run GitHub Actions jobs on this machine: ARC runner scale sets on a local kind cluster.
#[derive(Debug, Parser)]
#[command(name = "deskrun", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// Config file [default: $XDG_CONFIG_HOME/deskrun/config.yaml]
    #[arg(
        long,
        global = true,
        env = "DESKRUN_CONFIG",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    pub config: Option<PathBuf>,

    /// More output: -v echoes every tool command (credentials redacted), -vv adds timings, -vvv traces
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors and requested data
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Seconds to wait for another deskrun's lock: the config's (add, remove; default 30) or the cluster's (up, down, cluster; default 1800); 0: do not wait
    #[arg(long, global = true, env = "DESKRUN_LOCK_WAIT", value_name = "SECONDS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub wait_lock: Option<u32>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a runner installation to the config (applied by `deskrun up`)
    #[command(after_help = "\
Examples:
  # A Docker build runner with a persistent /var/lib/docker, token from a file:
  deskrun add docker-runner --repository https://github.com/owner/repo \\
      --mode cached-privileged-kubernetes --cache /var/lib/docker --auth-value-file ~/.config/gh-pat
  # Three single-runner instances (runs-on: ci-1, ci-2, ci-3), token from stdin:
  gh auth token | deskrun add ci --repository https://github.com/my-org --instances 3 --auth-value-stdin
  # Extra labels (runs-on: [gpu, linux]) and an environment variable for every job:
  deskrun add gpu-runner --repository https://github.com/my-org --label gpu --label linux \\
      --env NPM_CONFIG_REGISTRY=https://npm.example.com --auth-value-file ~/.config/gh-pat
  # A pinned runner image, and room for the job pod (kubernetes modes):
  deskrun add big-jobs --repository https://github.com/owner/repo --runner-image ghcr.io/actions/actions-runner:2.321.0 \\
      --request job.cpu=2 --request job.memory=4Gi --limit job.memory=8Gi --auth-value-file ~/.config/gh-pat
  # A GitHub App:
  deskrun add app-runner --repository https://github.com/my-org --auth-type github-app \\
      --app-id 123456 --installation-id 7654321 --auth-value-file app.private-key.pem")]
    Add(Box<AddArgs>),

    /// List the configured installations
    #[command(after_help = "\
Examples:
  deskrun list
  deskrun list | grep docker-runner
  deskrun list --output json | jq -r '.installations[].runs_on[]'")]
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        output: ListFormat,
    },

    /// Remove an installation from the config (applied by `deskrun up`)
    #[command(after_help = "\
Examples:
  deskrun remove docker-runner && deskrun up
  deskrun remove ci --purge-caches    # on an existing cluster, also delete its cache claims")]
    Remove {
        /// Installation name
        name: String,
        /// Also delete its cache claims (existing clusters)
        #[arg(long)]
        purge_caches: bool,
    },

    /// Print or write everything `deskrun up` would apply
    #[command(after_help = "\
Examples:
  deskrun render
  deskrun render docker-runner
  deskrun render --output-dir ./rendered
  deskrun render docker-runner --show-secrets --output-dir /tmp/rendered")]
    Render(RenderArgs),

    /// Bring the kind cluster to exactly what the config describes
    #[command(after_help = "\
Examples:
  deskrun up
  deskrun up --dry-run
  deskrun up docker-runner
  deskrun up --chart-version 0.14.2 --scale-set-chart ./charts/gha-runner-scale-set   # air-gapped
  deskrun -v up            # echo every kind/helm/kubectl command (credentials redacted)")]
    Up(UpArgs),

    /// Uninstall the runners deskrun deployed (the config is kept)
    #[command(after_help = "\
Examples:
  deskrun down
  deskrun down --controller
  deskrun down --delete-cluster")]
    Down(DownArgs),

    /// Show what is deployed: cluster, controller, every scale set (read-only)
    #[command(after_help = "\
Examples:
  deskrun status
  deskrun status docker-runner
  deskrun status --output json | jq '.installations[].instances[].runners'
  deskrun status --output json | jq '.problems[]'
  deskrun status --watch --interval 5   # redraw every 5 s on a terminal, until Ctrl-C")]
    Status(StatusArgs),

    /// Print or follow an installation's logs: listener, runners, job pods, dind, controller
    #[command(after_help = "\
Examples:
  deskrun logs docker-runner                  # the listener (is it talking to GitHub?)
  deskrun logs docker-runner --runner -f      # follow every runner pod
  deskrun logs ci --instance 2 --job --tail 50
  deskrun logs docker-runner --dind --since 10m
  deskrun logs --controller --tail 100")]
    Logs(LogsArgs),

    /// What runs where: each runner, its instance, its job (workflow, run) and its pod
    #[command(after_help = "\
Examples:
  deskrun jobs
  deskrun jobs docker-runner
  deskrun jobs --output json | jq '.runners[] | select(.idle | not)'")]
    Jobs {
        /// Only this installation
        name: Option<String>,
        /// Output format
        #[arg(short, long, value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
    },

    /// Check this machine, the cluster and every credential before the first job (read-only)
    #[command(after_help = "\
Examples:
  deskrun doctor
  deskrun doctor docker-runner
  deskrun doctor --offline          # host and cluster only; GitHub is not contacted
  deskrun doctor --output json | jq '.checks[] | select(.status != \"ok\")'

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for bad usage.")]
    Doctor {
        /// Installations whose credentials to check [default: all]
        names: Vec<String>,
        /// Do not contact GitHub (each installation's GitHub check is reported as skipped)
        #[arg(long)]
        offline: bool,
        /// Output format
        #[arg(short, long, value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
    },

    /// Create, delete or inspect the kind cluster, or choose an existing cluster
    #[command(
        subcommand,
        after_help = "\
Examples:
  deskrun cluster create
  deskrun cluster status
  deskrun cluster delete
  deskrun cluster use team-ci"
    )]
    Cluster(ClusterCommand),

    /// Work with the config file itself (import from the Go deskrun, the cluster proxy)
    #[command(
        subcommand,
        after_help = "\
Examples:
  deskrun config import
  deskrun config import ~/backup/deskrun-config.json --replace
  deskrun config set-proxy --https http://proxy.example.com:3128 --no-proxy .corp.example.com
  deskrun config set-proxy --from-env"
    )]
    Config(ConfigCommand),

    /// Print the deskrun version
    #[command(after_help = "\
Examples:
  deskrun version
  deskrun --version")]
    Version,

    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  deskrun completions bash > ~/.local/share/bash-completion/completions/deskrun
  deskrun completions zsh > ~/.zfunc/_deskrun")]
    Completions {
        /// Shell to generate completions for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Add the installations of the original Go deskrun's config (validated like `add`;
    /// credentials are copied, never printed)
    #[command(after_help = "\
Examples:
  deskrun config import                 # reads ~/.deskrun/config.json
  deskrun config import old-config.json --replace
  deskrun list && deskrun up")]
    Import {
        /// The Go deskrun's config.json [default: ~/.deskrun/config.json]
        #[arg(value_name = "FILE", allow_hyphen_values = true)]
        file: Option<PathBuf>,
        /// Overwrite installations of the same name
        #[arg(long)]
        replace: bool,
    },

    /// Set the proxy every runner and listener uses (cluster.proxy)
    #[command(after_help = "\
Examples:
  deskrun config set-proxy --https http://proxy.example.com:3128 --http http://proxy.example.com:3128 \\
      --no-proxy localhost --no-proxy .corp.example.com
  deskrun config set-proxy --from-env                  # HTTPS_PROXY, HTTP_PROXY, NO_PROXY of this shell
  printf '%s\\n' 'me:secret' | deskrun config set-proxy --https http://proxy.example.com:3128 --credentials-stdin
  deskrun config set-proxy --clear")]
    SetProxy(SetProxyArgs),
}

#[derive(Debug, Args)]
pub struct SetProxyArgs {
    /// Proxy for https:// URLs (GitHub), http://HOST:PORT; no credentials here (see --credentials-stdin)
    #[arg(long, value_name = "URL")]
    pub https: Option<String>,

    /// Proxy for http:// URLs
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,

    /// Host, domain (.example.com), IP or CIDR reached without the proxy (repeatable or comma-separated)
    #[arg(long = "no-proxy", value_name = "HOST")]
    pub no_proxy: Vec<String>,

    /// Take HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or lowercase) from this shell; flags given win
    #[arg(long)]
    pub from_env: bool,

    /// Read the proxy credentials, USER:PASSWORD, from standard input
    #[arg(long)]
    pub credentials_stdin: bool,

    /// Remove cluster.proxy: runners connect directly
    #[arg(long, conflicts_with_all = ["https", "http", "no_proxy", "from_env", "credentials_stdin"])]
    pub clear: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create the kind cluster (with the cache mounts and registry mirrors the config needs)
    #[command(after_help = "\
Examples:
  deskrun cluster create
  deskrun -v cluster create    # echo the kind and docker commands")]
    Create,
    /// Delete the kind cluster; host caches and registry mirrors are kept
    #[command(after_help = "\
Examples:
  deskrun cluster delete && deskrun up    # re-create it with the current cache mounts
  deskrun cluster delete --mirrors        # also remove the mirror containers (their data is kept)")]
    Delete {
        /// Also remove deskrun's registry mirror containers; the images they
        /// cached stay on disk (under cluster.mirror_root) for the next ones
        #[arg(long)]
        mirrors: bool,
    },
    /// Deploy to an existing cluster (a kubeconfig context), or back to kind
    #[command(after_help = "\
Examples:
  deskrun cluster use team-ci      # a context of `kubectl config get-contexts`
  deskrun cluster use --kind       # back to the local kind cluster")]
    Use {
        /// The kubeconfig context of the cluster
        #[arg(required_unless_present = "kind", conflicts_with = "kind")]
        context: Option<String>,
        /// Use deskrun's local kind cluster again
        #[arg(long)]
        kind: bool,
    },
    /// Show whether the cluster exists and runs, its cache mounts and registry mirrors
    #[command(after_help = "\
Examples:
  deskrun cluster status
  deskrun cluster status --output json")]
    Status {
        /// Output format
        #[arg(short, long, value_enum, default_value_t = StatusFormat::Table)]
        output: StatusFormat,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Installations to deploy [default: all; only then are removed ones uninstalled]
    pub names: Vec<String>,

    /// Print the plan (create / upgrade / unchanged / remove) and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Scale sets deployed at once
    #[arg(long, value_name = "N", default_value_t = 5, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,

    /// Use this chart version for both ARC charts (instead of the config's)
    #[arg(long, value_name = "VERSION")]
    pub chart_version: Option<String>,

    /// Controller chart: an oci:// reference or a local chart directory
    #[arg(long, value_name = "SOURCE", allow_hyphen_values = true)]
    pub controller_chart: Option<String>,

    /// Scale-set chart: an oci:// reference or a local chart directory
    #[arg(long, value_name = "SOURCE", allow_hyphen_values = true)]
    pub scale_set_chart: Option<String>,

    /// Do not ask GitHub first whether the credentials of the installations about to be deployed work
    #[arg(long, env = "DESKRUN_SKIP_GITHUB_CHECK", value_parser = clap::builder::BoolishValueParser::new())]
    pub skip_github_check: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this installation
    pub name: Option<String>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = StatusFormat::Table)]
    pub output: StatusFormat,

    /// Redraw every --interval seconds until Ctrl-C (needs a terminal; table output)
    #[arg(short, long, conflicts_with = "output")]
    pub watch: bool,

    /// Seconds between redraws with --watch
    #[arg(long, value_name = "S", default_value_t = 2, requires = "watch",
          allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub interval: u32,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").multiple(false))]
pub struct LogsArgs {
    /// Installation name (not needed with --controller)
    #[arg(required_unless_present = "controller")]
    pub name: Option<String>,

    /// The scale set's listener pod, which talks to GitHub [default]
    #[arg(long, group = "source")]
    pub listener: bool,

    /// The runner pods (the runner's own log: jobs, steps in dind mode)
    #[arg(long, group = "source")]
    pub runner: bool,

    /// The job pods the container hooks created for the runners (kubernetes modes)
    #[arg(long, group = "source")]
    pub job: bool,

    /// The ARC controller
    #[arg(long, group = "source")]
    pub controller: bool,

    /// The dind sidecar of the runner pods (dind mode)
    #[arg(long, group = "source")]
    pub dind: bool,

    /// Only instance N (1-based) of a multi-instance installation [default: all]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub instance: Option<u32>,

    /// Only lines newer than this: 30s, 10m, 2h
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,

    /// Only the last N lines of each pod
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub tail: Option<u32>,

    /// Keep printing new lines until Ctrl-C
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also uninstall the ARC controller
    #[arg(long)]
    pub controller: bool,

    /// Delete the kind cluster (host caches are kept)
    #[arg(long)]
    pub delete_cluster: bool,

    /// Also delete the cache claims deskrun made (existing clusters)
    #[arg(long)]
    pub purge_caches: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Kubernetes,
    CachedPrivilegedKubernetes,
    Dind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JobContainerArg {
    /// A job without `container:` fails at once
    Required,
    /// A job without `container:` runs its steps in the runner pod (no Docker there)
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthTypeArg {
    Pat,
    GithubApp,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Installation name; the scale-set name workflows use in `runs-on:`
    pub name: String,

    /// GitHub URL: https://github.com/OWNER/REPO, https://github.com/ORG or
    /// https://github.com/enterprises/ENT (or a GitHub Enterprise Server host)
    #[arg(long, value_name = "URL")]
    pub repository: String,

    /// Container mode
    #[arg(long, value_enum, default_value_t = ModeArg::Kubernetes)]
    pub mode: ModeArg,

    /// Idle runners kept ready [default: 1]
    // allow_negative_numbers: `-1` is reported as a bad value of this flag,
    // not as an unknown flag.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub min_runners: Option<u32>,

    /// Most runners at once [default: 5]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_runners: Option<u32>,

    /// Scale sets NAME-1..NAME-N with one runner each (for cache affinity)
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub instances: u32,

    /// Host-path cache mounted at PATH in the job; HOST_PATH:PATH picks the host directory (repeatable)
    #[arg(
        long = "cache",
        value_name = "PATH|HOST_PATH:PATH",
        allow_hyphen_values = true
    )]
    pub caches: Vec<String>,

    /// Whether a job must declare `container:` (kubernetes modes) [default: required in kubernetes,
    /// optional in cached-privileged-kubernetes, where a job without one runs in the unprivileged runner pod]
    #[arg(long, value_enum, value_name = "RULE")]
    pub job_container: Option<JobContainerArg>,

    /// Give glibc-less job images (nixos/nix, Nixery, Alpine) the glibc loader and libraries that
    /// JavaScript actions' node needs, mounted at /lib64 and /lib/x86_64-linux-gnu (kubernetes modes,
    /// x86-64). Breaks job images that have their own glibc (ubuntu, debian): only for images without
    /// one. --glibc-compat=false turns it off again (with --replace, not giving it keeps the setting)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub glibc_compat: Option<bool>,

    /// Run this installation's runner and job pods on this node only (existing clusters)
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,

    /// Credential type
    #[arg(long, value_enum, default_value_t = AuthTypeArg::Pat)]
    pub auth_type: AuthTypeArg,

    /// Credential: a PAT, or the GitHub App's private key (visible in shell history and `ps`; prefer the next two)
    // allow_hyphen_values: a PEM key starts with `-----BEGIN`.
    #[arg(
        long,
        value_name = "VALUE",
        group = "credential",
        allow_hyphen_values = true
    )]
    pub auth_value: Option<String>,

    /// Read the credential from standard input
    #[arg(long, group = "credential")]
    pub auth_value_stdin: bool,

    /// Read the credential from a file
    #[arg(
        long,
        value_name = "FILE",
        group = "credential",
        allow_hyphen_values = true
    )]
    pub auth_value_file: Option<PathBuf>,

    /// GitHub App id or client id (with --auth-type github-app)
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub app_id: Option<String>,

    /// GitHub App installation id (with --auth-type github-app)
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub installation_id: Option<String>,

    /// Extra scale-set label: jobs with `runs-on: [LABEL, ...]` run here too (repeatable)
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,

    /// Environment variable for the runner and, in the kubernetes modes, the job container (repeatable; not secret)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Runner image [default: ghcr.io/actions/actions-runner:latest; a pinned tag must be kept current by hand]
    #[arg(long, value_name = "IMAGE")]
    pub runner_image: Option<String>,

    /// Image of the dind sidecar (--mode dind) [default: docker:dind]
    #[arg(long, value_name = "IMAGE")]
    pub dind_image: Option<String>,

    /// Resource request, CONTAINER.RESOURCE=QUANTITY: runner|job|dind . cpu|memory|ephemeral-storage (repeatable)
    #[arg(long = "request", value_name = "CONTAINER.RESOURCE=QUANTITY")]
    pub requests: Vec<String>,

    /// Resource limit, CONTAINER.RESOURCE=QUANTITY, e.g. job.memory=8Gi (repeatable)
    #[arg(long = "limit", value_name = "CONTAINER.RESOURCE=QUANTITY")]
    pub limits: Vec<String>,
    /// Allow an http:// GitHub Enterprise Server URL (the credential then travels unencrypted)
    #[arg(long)]
    pub allow_http: bool,

    /// PEM file of the private CA that signed your GitHub Enterprise Server's certificate: stored in
    /// the config, trusted by the controller, listener, runners and job containers
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub github_ca_file: Option<PathBuf>,

    /// Drop the stored CA (with --replace)
    #[arg(long, conflicts_with = "github_ca_file")]
    pub no_github_ca: bool,

    /// Overwrite an installation of the same name (settings not given here are kept: labels, env, ...)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Installations to render [default: all]
    pub names: Vec<String>,

    /// Write files into DIR instead of printing one YAML stream
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub output_dir: Option<PathBuf>,

    /// Show credentials instead of redacting them
    #[arg(long)]
    pub show_secrets: bool,
}
