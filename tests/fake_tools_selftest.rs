//! The fake executables of the black-box layer are test code too: their own
//! self-test (`tests/fake-tools/selftest.sh`, 168 checks against what the
//! real kind, helm, kubectl and docker answer) runs under `cargo test`, so a
//! fake that drifts from the real tools fails here instead of silently
//! weakening the suites that rely on it.

#[test]
fn fake_toolchain_passes_its_self_test() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake-tools/selftest.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs the fake toolchain's self-test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("selftest: "))
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}"));
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
}
