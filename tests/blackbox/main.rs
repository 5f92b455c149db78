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
mod cli_config;
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
        cli_config::add_with_stdin_credential,
        cli_config::add_with_file_credential_and_auth_value,
        cli_config::add_with_instances_prints_every_instance_name,
        cli_config::add_duplicate_is_refused_and_replace_overwrites,
        cli_config::deskrun_config_env_selects_the_file,
        cli_config::list_table_has_a_row_per_installation,
        cli_config::list_json_and_yaml_have_the_documented_shape,
        cli_config::remove_mentions_up_and_the_kept_caches,
        cli_config::render_prints_one_redacted_stream,
        cli_config::render_output_dir_writes_the_documented_layout,
        cli_config::version_and_completions,
        cli_config::every_subcommand_help_has_examples,
        cli_config::bad_input_exits_2_names_the_field_and_leaves_the_config,
        cli_config::a_corrupt_config_is_reported_and_never_overwritten,
        cli_config::a_config_from_a_newer_deskrun_is_refused,
        cli_config::a_config_path_that_is_a_directory_is_refused,
        cli_config::a_symlinked_config_is_written_through,
        cli_config::labels_and_env_are_stored_listed_and_kept_by_replace,
        cli_config::bad_values_name_the_flag_or_the_key,
        cli_config::logs_jobs_and_watch_refuse_bad_input_without_a_cluster,
        cli_config::job_container_and_glibc_compat_are_stored_listed_and_refused_in_dind,
        cli_config::the_help_of_glibc_compat_warns_about_images_with_their_own_glibc,
        cli_config::values_starting_with_a_dash_are_values,
        cli_config::instances_with_runner_counts_of_one_are_accepted,
        cli_config::images_and_resources_are_stored_listed_and_merged_by_replace,
        cli_config::a_cache_host_path_that_is_not_a_directory_is_refused_by_add_and_up,
        cli_config::up_warns_once_when_caches_would_live_in_ram,
        cli_config::config_import_brings_the_go_deskruns_installations_over,
        cli_config::replace_keeps_the_job_settings_unless_given_or_the_mode_drops_them,
        cli_config::set_proxy_keeps_credentials_out_of_argv_and_output,
        cli_config::github_ca_file_is_stored_listed_kept_and_dropped,
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
        fake_tools::a_slow_call_does_not_hold_up_the_others,
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
