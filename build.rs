//! Tells the tests which optional environments this checkout has, so a test
//! that cannot run here is reported as ignored, with the reason, instead of
//! passing without checking anything.
//!
//! - `deskrun_shared`: `../shared` (the real ARC charts and checking tools).
//! - `deskrun_e2e`: `DESKRUN_E2E=1` (a machine with Docker, kind, helm).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(deskrun_shared)");
    println!("cargo::rustc-check-cfg=cfg(deskrun_e2e)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DESKRUN_E2E");
    let shared = std::path::Path::new("../shared");
    if shared.join("tools/arc-render").exists() {
        // Only an existing path: a missing one would rerun this every build.
        println!("cargo::rerun-if-changed=../shared/tools");
        println!("cargo::rustc-cfg=deskrun_shared");
    }
    if std::env::var("DESKRUN_E2E").as_deref() == Ok("1") {
        println!("cargo::rustc-cfg=deskrun_e2e");
    }
}
