//! deskrun's benchmarks: how many tool calls it makes, which of them wait in
//! series, and its own time. `cargo bench --bench deskrun` prints one table;
//! docs/performance.md explains it.
//!
//! Everything runs the release binary against the fake toolchain (this
//! bench binary itself, run as kind, helm, kubectl and docker:
//! `deskrun::testing::process`) in a throw-away sandbox, so no cluster is
//! touched. Knobs (environment):
//!
//! - `DESKRUN_BENCH_CALL_MS` (default 0): latency of every fake call in the
//!   call-count scenarios;
//! - `DESKRUN_BENCH_HELM_MS` (default 1000): latency of `helm upgrade` in the
//!   concurrency scenario;
//! - `DESKRUN_BENCH_SIZES` (default `1,10,50`): installations per call-count
//!   scenario (each with 3 instances);
//! - `DESKRUN_BENCH_RUNS` (default 20): runs per median.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Call, Sandbox};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_deskrun");
const TOKEN: &str = "fake-token-for-bench-0001";
const REPO: &str = "https://github.com/owner/repo";
const INSTANCES: usize = 3;
/// `deskrun up`'s default `--parallel`.
const PARALLEL: usize = 5;

// ---------------------------------------------------------------------------
// Settings

struct Settings {
    call_ms: u64,
    helm_ms: u64,
    sizes: Vec<usize>,
    runs: usize,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn from_env() -> Self {
        let sizes = std::env::var("DESKRUN_BENCH_SIZES")
            .ok()
            .map(|s| {
                s.split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .filter(|n| *n > 0)
                    .collect::<Vec<usize>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec![1, 10, 50]);
        Settings {
            call_ms: env_num("DESKRUN_BENCH_CALL_MS", 0),
            helm_ms: env_num("DESKRUN_BENCH_HELM_MS", 1000),
            sizes,
            runs: env_num("DESKRUN_BENCH_RUNS", 20).max(1) as usize,
        }
    }
}

// ---------------------------------------------------------------------------
// One measured process

/// What one deskrun process cost.
struct Run {
    /// From spawn to exit: what the user waits for.
    wall: Duration,
    /// deskrun's own CPU (user + system); in clock ticks (10 ms) when it ran
    /// tools, else precise.
    cpu_own: Duration,
    /// Whether `cpu_own` is in clock ticks.
    cpu_in_ticks: bool,
    /// CPU of the tools it ran (the fake), from its children's times.
    cpu_tools: Duration,
    stdout: String,
    stderr: String,
    ok: bool,
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// CPU (user + system) of every child this process has reaped so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN is a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    timeval(ru.ru_utime) + timeval(ru.ru_stime)
}

/// Block until `pid` has exited, leaving it a zombie (its /proc entry stays).
fn wait_exit_keep_zombie(pid: u32) {
    loop {
        // SAFETY: waitid writes only into the zeroed siginfo we pass.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above; WNOWAIT leaves the child to be reaped by std.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "waitid: {e}");
    }
}

/// (own, children) CPU of an exited, not yet reaped process, from
/// /proc/PID/stat (clock-tick resolution).
fn zombie_cpu(pid: u32) -> (Duration, Duration) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_comm
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Fields 14-17 of proc(5) (utime, stime, cutime, cstime); the slice
    // starts at field 3.
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let secs = |ticks: u64| Duration::from_secs_f64(ticks as f64 / tick);
    (secs(field(14) + field(15)), secs(field(16) + field(17)))
}

fn measure(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn deskrun");
    let writer = child.stdin.take().map(|mut pipe| {
        let bytes = stdin.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout piped")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    wait_exit_keep_zombie(child.id());
    let wall = started.elapsed();
    let (own_ticks, tools_ticks) = zombie_cpu(child.id());
    let status = child.wait().expect("reap deskrun");
    let cpu_total = children_cpu().saturating_sub(cpu_before);
    // getrusage is precise but counts deskrun and its tools together; /proc
    // splits them, in clock ticks. Without tools the total is deskrun's own.
    let cpu_own = if tools_ticks.is_zero() {
        cpu_total
    } else {
        own_ticks
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stderr = err_reader.join().unwrap_or_default();
    Run {
        wall,
        cpu_own,
        cpu_in_ticks: !tools_ticks.is_zero(),
        cpu_tools: cpu_total.saturating_sub(cpu_own),
        stdout,
        stderr,
        ok: status.success(),
    }
}

// ---------------------------------------------------------------------------
// The sandbox: tests/common's, with measured runs

/// What the benchmark asks of a recorded call, beyond tests/common's `Call`.
trait CallKind {
    fn is_version_check(&self) -> bool;
    fn is_helm_upgrade(&self) -> bool;
    /// A helm call deskrun waits on (`--wait`): install, upgrade, uninstall,
    /// rollback.
    fn is_helm_wait(&self) -> bool;
}

impl CallKind for Call {
    fn is_version_check(&self) -> bool {
        self.verb() == "version"
    }

    fn is_helm_upgrade(&self) -> bool {
        self.tool == "helm" && self.verb() == "upgrade"
    }

    fn is_helm_wait(&self) -> bool {
        self.tool == "helm" && self.mutates()
    }
}

/// Measured runs in a [`Sandbox`].
trait Measured {
    /// Run deskrun; a failure stops the benchmark with its stderr.
    fn run(&self, args: &[&str]) -> Run;
    /// `deskrun add NAME --repository ... ARGS --auth-value-stdin`.
    fn add_quietly(&self, name: &str, args: &[&str]);
    /// Only calls whose line starts with `prefix` ("" for all) take `ms`.
    fn only_latency(&self, prefix: &str, ms: u64);
}

impl Measured for Sandbox {
    fn run(&self, args: &[&str]) -> Run {
        let mut c = self.command();
        c.args(args);
        let r = measure(c, None);
        assert!(
            r.ok,
            "`deskrun {}` failed:\n{}{}",
            args.join(" "),
            r.stdout,
            r.stderr
        );
        r
    }

    fn add_quietly(&self, name: &str, args: &[&str]) {
        let mut c = self.command();
        c.args(["-q", "add", name, "--repository", REPO])
            .args(args)
            .arg("--auth-value-stdin");
        let r = measure(c, Some(format!("{TOKEN}\n").as_bytes()));
        assert!(r.ok, "`deskrun add {name}` failed:\n{}", r.stderr);
    }

    fn only_latency(&self, prefix: &str, ms: u64) {
        self.machine(|m| m.latency.clear());
        self.latency(prefix, ms);
    }
}

// ---------------------------------------------------------------------------
// Configs

fn name(i: usize) -> String {
    format!("inst-{i:03}")
}

/// Installation `i` cycles through the three modes; the privileged one has a
/// cache and so a hook-extension ConfigMap per instance.
fn mode_args(i: usize) -> &'static [&'static str] {
    match i % 3 {
        0 => &["--mode", "kubernetes"],
        1 => &[
            "--mode",
            "cached-privileged-kubernetes",
            "--cache",
            "/root/.cache",
        ],
        _ => &["--mode", "dind"],
    }
}

fn has_configmap(i: usize) -> bool {
    i % 3 == 1
}

fn add_installations(sb: &Sandbox, n: usize, instances: usize) {
    let inst = instances.to_string();
    for i in 0..n {
        let mut args = vec!["--instances", inst.as_str()];
        args.extend_from_slice(mode_args(i));
        sb.add_quietly(&name(i), &args);
    }
}

// ---------------------------------------------------------------------------
// Figures

#[derive(Default)]
struct Counts {
    total: usize,
    mutating: usize,
    helm_upgrades: usize,
    helm_waits: usize,
    versions: usize,
}

fn counts(calls: &[Call]) -> Counts {
    Counts {
        total: calls.len(),
        mutating: calls.iter().filter(|c| c.mutates()).count(),
        helm_upgrades: calls.iter().filter(|c| c.is_helm_upgrade()).count(),
        helm_waits: calls.iter().filter(|c| c.is_helm_wait()).count(),
        versions: calls.iter().filter(|c| c.is_version_check()).count(),
    }
}

/// Helm calls deskrun waits for one after another when `k` scale-set
/// releases change `parallel` at a time, plus the controller before them.
fn serial_helm_waits(scale_set_waits: usize, controller: bool, parallel: usize) -> usize {
    scale_set_waits.div_ceil(parallel) + usize::from(controller)
}

/// The longest chain of helm calls of which each starts after the previous
/// one ended (each lasting `latency`): the helm waits that were in series.
fn measured_serial_waits(calls: &[Call], latency: Duration) -> usize {
    let mut starts: Vec<f64> = calls
        .iter()
        .filter(|c| c.is_helm_wait())
        .map(|c| c.start)
        .collect();
    starts.sort_by(f64::total_cmp);
    let mut chain = 0;
    let mut free_at = f64::MIN;
    for s in starts {
        if s >= free_at {
            chain += 1;
            free_at = s + latency.as_secs_f64() * 0.9;
        }
    }
    chain
}

/// The most helm upgrades in flight at once, each taken to last `latency`
/// from its start (the fake sleeps that long after recording the start).
fn max_in_flight(calls: &[Call], latency: Duration) -> usize {
    let starts: Vec<f64> = calls
        .iter()
        .filter(|c| c.is_helm_upgrade())
        .map(|c| c.start)
        .collect();
    let l = latency.as_secs_f64();
    starts
        .iter()
        .map(|&t| starts.iter().filter(|&&s| s <= t && t < s + l).count())
        .max()
        .unwrap_or(0)
}

struct UpRow {
    n: usize,
    label: &'static str,
    counts: Counts,
    run: Run,
    /// Helm waits in series (derived from the calls and `--parallel`).
    waits: usize,
    target: String,
    pass: bool,
}

struct Naive {
    calls: usize,
    waits: usize,
}

/// The naive deskrun: every `up` uninstalls and reinstalls every release.
fn naive(n: usize) -> Naive {
    let instances = n * INSTANCES;
    let configmaps = (0..n).filter(|i| has_configmap(*i)).count() * INSTANCES;
    Naive {
        calls: 3 + 2 * instances + configmaps,
        waits: 2 * instances,
    }
}

fn scale_scenario(n: usize, s: &Settings, rows: &mut Vec<UpRow>) -> Duration {
    let sb = Sandbox::new();
    if s.call_ms > 0 {
        sb.only_latency("", s.call_ms);
    }
    add_installations(&sb, n, INSTANCES);
    let instances = n * INSTANCES;
    let configmaps = (0..n).filter(|i| has_configmap(*i)).count() * INSTANCES;

    // First up: 4 version checks, `kind get clusters`, `kind create`, the
    // controller (helm + kubectl wait), then one helm per instance and one
    // apply per ConfigMap.
    sb.reset_calls();
    let first = sb.run(&["up"]);
    let first_time = first.wall;
    let c = counts(&sb.calls());
    let minimum = 4 + 4 + instances + configmaps;
    rows.push(UpRow {
        n,
        label: "first up",
        waits: serial_helm_waits(c.helm_waits.saturating_sub(1), true, PARALLEL),
        target: format!("calls <= {minimum}"),
        pass: c.total <= minimum,
        counts: c,
        run: first,
    });

    sb.reset_calls();
    let noop = sb.run(&["up"]);
    assert!(
        noop.stdout.contains("nothing to do"),
        "second up was not a no-op:\n{}",
        noop.stdout
    );
    let c = counts(&sb.calls());
    rows.push(UpRow {
        n,
        label: "no-op up",
        waits: serial_helm_waits(c.helm_waits, false, PARALLEL),
        target: "calls <= 4, mutating 0".into(),
        pass: c.total <= 4 && c.mutating == 0,
        counts: c,
        run: noop,
    });

    // One installation changes mode (kubernetes -> cached-privileged with a
    // cache): its 3 releases are upgraded and get a ConfigMap each.
    let mut args = vec!["--replace", "--instances", "3"];
    args.extend_from_slice(mode_args(1));
    sb.add_quietly(&name(0), &args);
    sb.reset_calls();
    let changed = sb.run(&["up"]);
    let calls = sb.calls();
    let c = counts(&calls);
    // Every helm call that changes something is for the changed installation
    // (ConfigMap applies carry their manifest on stdin).
    let only_changed = calls
        .iter()
        .filter(|c| c.is_helm_wait())
        .all(|c| c.line().contains(&name(0)));
    let limit = 2 * INSTANCES;
    rows.push(UpRow {
        n,
        label: "one changed",
        waits: serial_helm_waits(c.helm_waits, false, PARALLEL),
        target: format!("helm upgrade = {INSTANCES}, mutating <= {limit}"),
        pass: c.helm_upgrades == INSTANCES && c.mutating <= limit && only_changed,
        counts: c,
        run: changed,
    });
    first_time
}

struct ConcurrencyRow {
    parallel: Option<usize>,
    wall: Duration,
    helm_upgrades: usize,
    in_flight: usize,
    serial_waits: usize,
    tools_cpu_per_call: Duration,
}

/// 10 new instances on a cluster that already runs the controller, with a
/// helm that takes `helm_ms` per upgrade.
fn concurrency_scenario(s: &Settings, parallel: Option<usize>) -> ConcurrencyRow {
    let sb = Sandbox::new();
    sb.add_quietly("base", &[]);
    sb.run(&["up"]);
    sb.add_quietly("burst", &["--instances", "10"]);
    sb.only_latency("helm upgrade", s.helm_ms);
    sb.reset_calls();
    let p = parallel.map(|p| p.to_string());
    let mut args = vec!["up"];
    if let Some(p) = &p {
        args.extend(["--parallel", p.as_str()]);
    }
    let run = sb.run(&args);
    let calls = sb.calls();
    let latency = Duration::from_millis(s.helm_ms);
    ConcurrencyRow {
        parallel,
        wall: run.wall,
        helm_upgrades: counts(&calls).helm_upgrades,
        in_flight: max_in_flight(&calls, latency),
        serial_waits: measured_serial_waits(&calls, latency),
        tools_cpu_per_call: run.cpu_tools / calls.len().max(1) as u32,
    }
}

struct TimedRow {
    what: String,
    median: Duration,
    min: Duration,
    max: Duration,
    cpu: Duration,
    target: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// What deskrun adds around one tool call: `up --dry-run` without a cluster
/// makes exactly one call (`kind get clusters`; tool versions are cached),
/// timed against that same fake call run on its own. Returns the medians
/// (deskrun, tool alone).
fn wait_overhead(runs: usize) -> (Duration, Duration) {
    let sb = Sandbox::new();
    sb.run(&["up", "--dry-run"]); // caches the tool versions
    sb.reset_calls();
    let mut with_deskrun = Vec::with_capacity(runs);
    let mut alone = Vec::with_capacity(runs);
    for _ in 0..runs {
        let r = sb.run(&["up", "--dry-run"]);
        assert_eq!(
            sb.calls().len(),
            1,
            "`up --dry-run` made more than one call"
        );
        sb.reset_calls();
        with_deskrun.push(r.wall);
        let r = measure(sb.tool("kind", &["get", "clusters"]), None);
        assert!(r.ok, "fake `kind get clusters` failed: {}", r.stderr);
        sb.reset_calls();
        alone.push(r.wall);
    }
    (median(with_deskrun), median(alone))
}

fn time_command(sb: &Sandbox, what: &str, args: &[&str], runs: usize, target_ms: u64) -> TimedRow {
    sb.run(args); // warm the page cache
    let mut walls = Vec::with_capacity(runs);
    let mut cpus = Vec::with_capacity(runs);
    for _ in 0..runs {
        let r = sb.run(args);
        walls.push(r.wall);
        cpus.push(r.cpu_own);
    }
    TimedRow {
        what: what.to_string(),
        min: *walls.iter().min().unwrap(),
        max: *walls.iter().max().unwrap(),
        median: median(walls),
        cpu: median(cpus),
        target: Duration::from_millis(target_ms),
    }
}

// ---------------------------------------------------------------------------
// Output

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// deskrun's CPU; a tick count of zero means less than one tick.
fn cpu(r: &Run) -> String {
    if r.cpu_in_ticks && r.cpu_own < Duration::from_millis(10) {
        "< 10 ms".to_string()
    } else {
        ms(r.cpu_own)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn main() {
    if let Some(code) = deskrun::testing::process::run_as_tool() {
        std::process::exit(code);
    }
    common::FAKE_TOOL_HOST
        .set(std::env::current_exe().expect("the bench binary's path"))
        .expect("set once");
    let s = Settings::from_env();
    let bench_start = Instant::now();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("deskrun benchmarks");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "binary {BIN}; fake toolchain deskrun::testing::process (this binary); {cpus} CPUs, load average {} at start; \
         {} ms per fake call in the call counts; medians of {} runs",
        load.join(" "),
        s.call_ms,
        s.runs
    );
    let mut misses = 0;

    // -- tool calls per `up` -------------------------------------------------
    let mut rows = Vec::new();
    let mut first_times = Vec::new();
    for &n in &s.sizes {
        first_times.push((n, scale_scenario(n, &s, &mut rows)));
    }
    println!();
    println!(
        "1. Tool calls per `deskrun up`: N installations x {INSTANCES} instances, modes kubernetes / \
         cached-privileged-kubernetes (+ ConfigMap) / dind in turn"
    );
    println!(
        "   helm waits = helm install/upgrade calls deskrun waits for in series at --parallel {PARALLEL}; \
         naive = uninstall + reinstall every release on every up"
    );
    println!(
        "{:>4}  {:<12} {:>6} {:>9} {:>10} {:>11} {:>9} {:>12} {:>10}  {:<36} {:<6} | {:>11} {:>11}",
        "N",
        "up",
        "calls",
        "mutating",
        "helm upg.",
        "helm waits",
        "wall",
        "deskrun CPU",
        "tools CPU",
        "target",
        "result",
        "naive calls",
        "naive waits"
    );
    for r in &rows {
        let nv = naive(r.n);
        misses += usize::from(!r.pass);
        println!(
            "{:>4}  {:<12} {:>6} {:>9} {:>10} {:>11} {:>9} {:>12} {:>10}  {:<36} {:<6} | {:>11} {:>11}",
            r.n,
            r.label,
            r.counts.total,
            r.counts.mutating,
            r.counts.helm_upgrades,
            r.waits,
            ms(r.run.wall),
            cpu(&r.run),
            ms(r.run.cpu_tools),
            r.target,
            verdict(r.pass),
            nv.calls,
            nv.waits
        );
    }
    let first_versions: Vec<usize> = rows
        .iter()
        .filter(|r| r.label == "first up")
        .map(|r| r.counts.versions)
        .collect();
    let (tool_cpu, tool_calls) = rows.iter().fold((Duration::ZERO, 0), |(t, n), r| {
        (t + r.run.cpu_tools, n + r.counts.total)
    });
    println!(
        "   first up includes {first_versions:?} tool version checks, cached for later runs; at 1 s \
         per helm call the naive up waits `naive waits` s and deskrun `helm waits` s; the fake spent \
         {} of CPU per call on average",
        ms(tool_cpu / tool_calls.max(1) as u32)
    );

    // -- concurrency ---------------------------------------------------------
    println!();
    println!(
        "2. 10 new instances, `helm upgrade` taking {} ms each (controller already deployed)",
        s.helm_ms
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>21} {:>14} {:>15}  {:<12} {:<6}",
        "parallel",
        "wall",
        "helm upg.",
        "in flight",
        "helm waits in series",
        "ideal wall",
        "fake CPU/call",
        "target",
        "result"
    );
    let target = Duration::from_millis(s.helm_ms * 7 / 2);
    for parallel in [None, Some(1)] {
        let r = concurrency_scenario(&s, parallel);
        let (label, target_text, result) = match r.parallel {
            None => {
                let pass = r.wall <= target;
                misses += usize::from(!pass);
                (
                    format!("default ({PARALLEL})"),
                    format!("<= {}", secs(target)),
                    verdict(pass),
                )
            }
            Some(p) => (
                format!("--parallel {p} (serial)"),
                format!("~{}", secs(Duration::from_millis(s.helm_ms * 10))),
                "-",
            ),
        };
        let rounds = r.helm_upgrades.div_ceil(r.parallel.unwrap_or(PARALLEL));
        println!(
            "{:<22} {:>10} {:>10} {:>10} {:>21} {:>14} {:>15}  {:<12} {:<6}",
            label,
            secs(r.wall),
            r.helm_upgrades,
            r.in_flight,
            r.serial_waits,
            secs(Duration::from_millis(s.helm_ms) * rounds as u32),
            ms(r.tools_cpu_per_call),
            target_text,
            result
        );
    }
    println!(
        "   in flight = most helm upgrades running at once; helm waits in series = longest chain of helm \
         calls each starting after the previous one ended (from the fake's trace); ideal wall = \
         ceil(10 / parallel) x helm latency"
    );
    println!(
        "   naive: 10 installs in series = {} (plus an uninstall and reinstall of every existing release)",
        secs(Duration::from_millis(s.helm_ms * 10))
    );

    // -- deskrun's own time --------------------------------------------------
    let mut timed = Vec::new();
    let sb = Sandbox::new();
    timed.push(time_command(
        &sb,
        "deskrun --version",
        &["--version"],
        s.runs,
        5,
    ));
    for instances in [INSTANCES, 1] {
        let sb = Sandbox::new();
        add_installations(&sb, 200, instances);
        for cmd in ["list", "render"] {
            timed.push(time_command(
                &sb,
                &format!("deskrun {cmd} (200 x {instances} instance(s))"),
                &[cmd],
                s.runs,
                30,
            ));
        }
    }
    println!();
    println!(
        "3. deskrun's own time: process wall time (spawn to exit, stdout read through a pipe), median of {} runs",
        s.runs
    );
    println!(
        "{:<40} {:>9} {:>19} {:>9}  {:<9} {:<6}",
        "command", "median", "min - max", "CPU", "target", "result"
    );
    for t in &timed {
        let pass = t.median <= t.target;
        misses += usize::from(!pass);
        println!(
            "{:<40} {:>9} {:>19} {:>9}  {:<9} {:<6}",
            t.what,
            ms(t.median),
            format!("{} - {}", ms(t.min), ms(t.max)),
            ms(t.cpu),
            format!("<= {}", ms(t.target)),
            verdict(pass)
        );
    }
    let (with_deskrun, alone) = wait_overhead(s.runs);
    println!(
        "{:<40} {:>9} {:>19} {:>9}  {:<9} {:<6}",
        "added around one tool call",
        ms(with_deskrun.saturating_sub(alone)),
        format!("{} vs {}", ms(with_deskrun), ms(alone)),
        "",
        "-",
        "-"
    );
    let size = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    let pass = size <= 8 * 1024 * 1024;
    misses += usize::from(!pass);
    println!(
        "{:<40} {:>9} {:>19} {:>9}  {:<9} {:<6}",
        "release binary size",
        format!("{:.2} MB", size as f64 / (1024.0 * 1024.0)),
        format!("{size} B"),
        "",
        "<= 8 MB",
        verdict(pass)
    );

    println!();
    for (n, t) in first_times {
        println!(
            "first up of {n} x {INSTANCES} instances on the fake took {}",
            secs(t)
        );
    }
    println!(
        "{misses} target(s) missed; benchmark ran {}",
        secs(bench_start.elapsed())
    );
}
