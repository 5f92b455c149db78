//! The black-box suite: the built `deskrun` binary against fake `kind`,
//! `helm`, `kubectl` and `docker` child processes, for what only processes
//! show (argv, stdin and environment of real children, signals, process
//! groups, locks, closed pipes). The logic tests live in `tests/testsuite`
//! (in-process).
//!
//! This binary is also the fake: run as `kind`, `helm`, `kubectl` or
//! `docker` (a `Sandbox` symlinks those names to it) it acts as that tool
//! ([`deskrun::testing::process`]). That is why it has its own `main`
//! (`harness = false`, with `libtest-mimic` as the test runner).

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod concurrency;
mod doctor_cli;
mod fake_tools;
mod faults;
mod hardening;
mod output;
mod secrets;

use libtest_mimic::{Arguments, Trial};

/// `module::test` functions as trials named like libtest names them.
macro_rules! trials {
    ($($module:ident :: $test:ident),* $(,)?) => {
        vec![$(Trial::test(
            concat!(stringify!($module), "::", stringify!($test)),
            || { $module::$test(); Ok(()) },
        )),*]
    };
}

fn main() -> std::process::ExitCode {
    if let Some(code) = deskrun::testing::process::run_as_tool() {
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    common::FAKE_TOOL_HOST
        .set(std::env::current_exe().expect("the test binary's path"))
        .expect("set once");
    let trials = trials![
        bad_input::bad_flags_exit_2_name_the_field_and_leave_the_config,
        bad_input::bad_config_files_are_refused_by_every_command_and_never_touched,
        bad_input::config_paths_that_cannot_be_read,
        bad_input::a_missing_config_is_an_empty_one_and_is_not_created_by_reads_or_failed_writes,
        concurrency::sixteen_adds_at_once_all_land,
        concurrency::adds_and_removes_at_once,
        concurrency::racing_adds_of_one_name_let_exactly_one_win,
        concurrency::two_ups_at_once_run_one_after_the_other,
        concurrency::up_and_down_at_once_serialise_and_the_next_up_converges,
        doctor_cli::doctor_exits_0_with_warnings_1_on_a_failure_2_on_bad_usage,
        doctor_cli::doctor_offline_contacts_nobody,
        doctor_cli::doctor_on_an_existing_cluster_runs_no_docker_or_kind,
        doctor_cli::up_stops_a_refused_installation_before_helm_and_deploys_the_rest,
        doctor_cli::an_unreachable_github_is_a_note_and_up_goes_on,
        doctor_cli::the_binary_uses_the_proxy_from_the_environment,
        fake_tools::state_is_shared_between_processes_and_calls_are_recorded,
        fake_tools::refusals_keep_the_real_tools_exit_codes,
        fake_tools::injected_failures_and_garbage_act_once_per_match,
        fake_tools::slow_calls_overlap,
        fake_tools::an_interrupted_helm_leaves_its_release_pending_and_hangs,
        faults::sigint_during_up_stops_the_tools_exits_130_and_the_next_up_converges,
        faults::following_into_a_closed_pipe_stops_kubectl_and_exits_0,
        hardening::two_names_for_one_config_lose_no_entry,
        hardening::a_config_that_is_not_a_regular_file_is_refused_and_kept,
        hardening::signals_during_add_leave_no_temp_file,
        hardening::a_held_config_lock_is_announced_with_its_holder,
        hardening::credentials_readable_by_others_are_warned_about_once,
        hardening::folders_and_files_are_private_whatever_the_umask,
        hardening::an_empty_deskrun_config_is_named,
        hardening::odd_config_files_are_named_for_what_they_are,
        hardening::a_token_typed_on_a_terminal_is_not_echoed,
        hardening::a_pending_release_that_a_live_helm_owns_is_not_rolled_back,
        hardening::render_output_dir_refuses_planted_links,
        hardening::a_bad_call_timeout_is_named,
        hardening::a_hang_up_during_up_stops_its_tools,
        hardening::up_piped_into_head_finishes_its_work,
        output::a_closed_stdout_ends_the_output_not_the_work,
        output::a_closed_stderr_keeps_the_exit_code,
        output::a_full_stdout_is_reported_after_the_work,
        secrets::config_commands_never_show_the_credential_and_render_redacts,
        secrets::errors_about_a_broken_config_never_quote_its_credential,
        secrets::cluster_commands_never_show_the_credential_anywhere,
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
