use clap::Parser;
use deskrun::cli::Cli;
use deskrun::error::exit_code;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "deskrun=debug",
        (false, _) => "deskrun=trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("DESKRUN_LOG").unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    // Ctrl-C stops the children, removes temp files and exits 130.
    deskrun::exec::install_interrupt_handler();
    let config = cli.config.clone();
    if let Err(err) = deskrun::commands::run(cli) {
        // Tool errors are redacted where they are made; this catches what
        // else could quote a tool's output (e.g. a JSON parse error).
        let text = deskrun::commands::redact_error(config.as_deref(), &format!("{err:#}"));
        eprintln!("error: {text}");
        std::process::exit(exit_code(&err));
    }
}
