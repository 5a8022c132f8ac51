//! Helpers for the end-to-end tests: where the built `weir` binary and the
//! test components are, and a scratch folder to run pipelines in.

pub mod cassandra;
pub mod compliance;
pub mod kafka;
pub mod kafka_tls;
pub mod proxy;
pub mod registry;
pub mod s3;
pub mod services;
pub mod tmpfs;
pub mod uppercase;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the root")
        .to_path_buf()
}

/// The `weir` binary of the profile these tests were built with; `cargo
/// test --workspace` builds it alongside them.
pub fn weir_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/e2e-HASH → target/<profile>/weir
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("weir");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

fn plugin_dir() -> PathBuf {
    root().join("target/plugins/wasm32-wasip2/release")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            if path.file_name().unwrap() != "out" {
                std::fs::create_dir_all(&target).unwrap();
                copy_tree(&path, &target);
            }
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A component of another language, built from plugins/LANGUAGE by
/// scripts/build-LANGUAGE-plugins (which scripts/test runs).
pub fn language_plugin(language: &str, name: &str) -> PathBuf {
    let path = root()
        .join("target/plugins")
        .join(language)
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: scripts/test builds it (or run scripts/build-{language}-plugins)",
        path.display()
    );
    path
}

/// A component built from plugins/ by host/build.rs.
pub fn plugin(name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: `cargo build` builds the plugins",
        path.display()
    );
    path
}

/// A scratch folder holding a pipeline and its files.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// A copy of `examples/NAME` (without its `out/`), with plugin paths made
    /// absolute so the pipelines run from here.
    pub fn example(name: &str) -> Self {
        let scratch = Scratch::new();
        copy_tree(&root().join("examples").join(name), scratch.path());
        for entry in std::fs::read_dir(scratch.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap().replace(
                    "\"../../target/plugins/wasm32-wasip2/release/",
                    &format!("\"{}/", plugin_dir().display()),
                );
                std::fs::write(&path, text).unwrap();
            }
        }
        scratch
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `relative`, creating folders.
    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, relative: &str) -> String {
        let path = self.path().join(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Dead letters written to `relative`, one JSON object each.
    pub fn dead_letters(&self, relative: &str) -> Vec<serde_json::Value> {
        self.read(relative)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON dead letter"))
            .collect()
    }

    /// Runs `weir ARGS` in this folder, with the component cache kept here.
    pub fn weir(&self, args: &[&str]) -> Run {
        self.weir_in(self.path(), args)
    }

    /// Runs `weir ARGS` in `dir` (a project inside this folder, or the
    /// repository), with the component cache kept here.
    pub fn weir_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.weir_env(dir, args, &[])
    }

    /// Runs `weir ARGS` in `dir` with environment variables `env` set.
    pub fn weir_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self.command(dir, args, env).output().expect("weir runs");
        Run(output)
    }

    /// `weir ARGS` ready to spawn in `dir` with `env` and the cache kept here.
    pub fn command(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(weir_bin());
        command
            .args(args)
            .current_dir(dir)
            .env("WEIR_CACHE_DIR", self.path().join(".cache"))
            .envs(env.iter().copied());
        command
    }
}

impl Scratch {
    /// Runs `weir run pipeline.toml --available-now` here with
    /// `WEIR_CRASH_AT=point` (`POINT` or `POINT:EPOCH`), and checks that it
    /// was killed there.
    pub fn run_until_crash(&self, point: &str) {
        let run = self.weir_env(
            self.path(),
            &["run", "pipeline.toml", "--available-now", "--admin", "off"],
            &[("WEIR_CRASH_AT", point)],
        );
        assert!(
            !run.success() && run.stderr().contains("WEIR_CRASH_AT"),
            "the run should have been killed at {point}: {}",
            run.stderr()
        );
    }

    /// Starts `weir ARGS` in this folder without waiting for it: a
    /// long-running pipeline that a test talks to, then stops.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_in(self.path(), args, &[])
    }

    /// Starts `weir ARGS` in `dir` with extra environment variables.
    pub fn spawn_in(&self, dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Running {
        let child = Command::new(weir_bin())
            .args(args)
            .current_dir(dir)
            .envs(envs.iter().copied())
            .env("WEIR_CACHE_DIR", self.path().join(".cache"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weir starts");
        Running(Some(child))
    }
}

/// A `weir` process still running; killed if dropped unstopped.
pub struct Running(Option<std::process::Child>);

impl Running {
    /// Asks it to stop as Ctrl-C does (SIGTERM) and waits for it.
    pub fn stop(mut self) -> Run {
        let child = self.0.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "cannot signal weir");
        Run(child.wait_with_output().expect("weir ends"))
    }
}

impl Running {
    /// Waits up to `seconds` for it to end by itself; panics if it does not.
    pub fn wait(mut self, seconds: u64) -> Run {
        let mut child = self.0.take().expect("running");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        while child.try_wait().expect("weir's status").is_none() {
            if std::time::Instant::now() > until {
                let _ = child.kill();
                let out = child.wait_with_output().expect("weir ends");
                panic!(
                    "weir did not end within {seconds} s; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Run(child.wait_with_output().expect("weir ends"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after
/// `seconds` (a bound on a wait, not a timing assertion).
pub fn wait_for(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition() {
        assert!(
            std::time::Instant::now() < until,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// A finished `weir` process.
pub struct Run(pub Output);

impl Run {
    pub fn success(&self) -> bool {
        self.0.status.success()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Panics, showing the output, unless the run succeeded.
    pub fn ok(self) -> Self {
        assert!(
            self.success(),
            "weir failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Panics unless the run failed; returns its stderr.
    pub fn fails(self) -> String {
        assert!(
            !self.success(),
            "weir should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

/// A TOML string literal for a path.
pub fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// The body of `GET path` from the admin server at `url` (as its
/// `admin.addr` file has it: `http://HOST:PORT`), over plain HTTP/1.0.
pub fn http_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("cannot reach the admin server at {addr}: {e}"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => text,
    }
}
