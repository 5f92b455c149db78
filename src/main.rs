use clap::Parser;
use deskrun::cli::{Cli, Command};
use deskrun::error::exit_code;
use deskrun::output::Printer;
use std::io::{IsTerminal, Write};
use tracing_subscriber::EnvFilter;

fn main() {
    // clap reports an empty DESKRUN_CONFIG as a missing `--config` value,
    // even when `--config` is given: drop it and name it ourselves.
    let empty_env = std::env::var_os("DESKRUN_CONFIG").is_some_and(|v| v.is_empty());
    if empty_env {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::remove_var("DESKRUN_CONFIG") };
    }
    let cli = Cli::parse();
    let uses_config = !matches!(cli.command, Command::Version | Command::Completions { .. });
    if empty_env && cli.config.is_none() && uses_config {
        // Never a panic on a closed stderr.
        let _ = writeln!(
            std::io::stderr(),
            "error: DESKRUN_CONFIG is set but empty; set it to a config file path, or unset it \
             (`unset DESKRUN_CONFIG`) to use the default config"
        );
        std::process::exit(deskrun::error::EXIT_INPUT);
    }
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        // -v echoes each tool command (exec::Runner); the per-call debug
        // records would only repeat them, so they start at -vv.
        (false, 1) => "deskrun=info",
        (false, 2) => "deskrun=debug",
        (false, _) => "deskrun=trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("DESKRUN_LOG").unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs piped to grep or a file stay plain.
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .init();
    // Ctrl-C stops the children and exits 130.
    deskrun::exec::install_interrupt_handler();
    // Every byte deskrun shows goes through it: a closed stdout or stderr
    // ends the output, never the work, and never panics.
    let out = Printer::new(cli.quiet, cli.verbose);
    let config = cli.config.clone();
    let result = deskrun::commands::run(cli, &out).and_then(|()| out.finish());
    if let Err(err) = result {
        // `doctor` printed its report already: exit 1 without repeating it.
        if err.is::<deskrun::commands::ChecksFailed>() {
            let _ = out.finish();
            std::process::exit(deskrun::error::EXIT_RUNTIME);
        }
        // Tool errors are redacted where they are made; this catches what
        // else could quote a tool's output (e.g. a JSON parse error).
        let text = deskrun::commands::redact_error(config.as_deref(), &format!("{err:#}"));
        out.error(text);
        std::process::exit(exit_code(&err));
    }
}
