//! `weir bench …`: forwards to the `weir-bench` program beside this binary,
//! so that the release `weir` carries neither the benchmarks nor the test
//! guests they embed (bench/weir-bench).

use anyhow::anyhow;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

/// Replaces this process with `weir-bench ARGS…`; returns only if it cannot.
pub(super) fn run(args: &[OsString]) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe()
        .map_err(|e| anyhow!("cannot find where this weir binary is: {e}"))?;
    let bench = exe.with_file_name("weir-bench");
    if !bench.is_file() {
        return Err(anyhow!(
            "the benchmarks are a program of their own, {}, which is not built: \
             run `cargo build --release --workspace` in the weir checkout \
             (it builds weir-bench beside weir)",
            bench.display()
        ));
    }
    let error = std::process::Command::new(&bench).args(args).exec();
    Err(anyhow!("cannot run {}: {error}", bench.display()))
}
