//! The documented commands work: every fenced ```sh block of README.md and
//! of examples/*/README.md runs as a script, as a reader would paste it, in a
//! copy of the repository, and checks the key lines of any output the README
//! shows after it. Benchmark commands are only checked to exist (benchmarks
//! are not tests), and `scripts/test` (which runs this test) is not run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use weir_tests::cassandra::Cassandra;
use weir_tests::services::{MYSQL_URL, POSTGRES_URL, mariadb, psql};
use weir_tests::{root, weir_bin};

/// The Kafka READMEs start a broker and a registry on the ports they name
/// (9092, 8081), the S3 one a server on 5055: one of them at a time.
static FIXED_PORTS: Mutex<()> = Mutex::new(());

/// One fenced block of a README.
#[derive(Debug)]
struct Block {
    language: String,
    /// Where it starts, as `FILE:LINE`, for messages.
    at: String,
    lines: Vec<String>,
}

fn blocks(readme: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(readme)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme.display()));
    let name = readme.strip_prefix(root()).unwrap_or(readme).display();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in text.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(language)) => {
                open = Some(Block {
                    language: language.trim().to_string(),
                    at: format!("{name}:{}", number + 1),
                    lines: Vec::new(),
                })
            }
            (Some(block), Some(_)) => blocks.push(block),
            (Some(mut block), None) => {
                block.lines.push(line.to_string());
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{name}: a fenced block is not closed");
    blocks
}

/// The block's commands, `\`-continued lines joined.
fn commands(block: &Block) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in &block.lines {
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    commands.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    commands
}

fn is_benchmark(command: &str) -> bool {
    let command = command.trim_start();
    command.starts_with("bench/run")
        || command.starts_with("scripts/bench-")
        || command.starts_with("weir bench ")
        || command.starts_with("cargo run --release -- bench ")
}

/// A benchmark command exists: its script is there and executable, or its
/// `weir bench` subcommand answers `--help`.
fn check_benchmark_exists(command: &str, at: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    let first = words[0];
    if first.contains('/') {
        let path = root().join(first);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{at}: `{command}`: {} does not exist: {e}", path.display()))
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert!(
            mode.mode() & 0o111 != 0,
            "{at}: {} is not executable",
            path.display()
        );
        return;
    }
    let bench = words.iter().position(|w| *w == "bench").unwrap();
    let subcommand = words[bench + 1];
    let out = Command::new(weir_bin())
        .args(["bench", subcommand, "--help"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{at}: `weir bench {subcommand} --help` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `weir SUBCOMMAND …` of a usage synopsis exists (`--help` answers).
fn check_synopsis(block: &Block) {
    for line in &block.lines {
        let Some(rest) = line.trim_start().strip_prefix("weir ") else {
            continue;
        };
        let path: Vec<&str> = rest
            .split_whitespace()
            .take_while(|w| {
                w.starts_with(|c: char| c.is_ascii_lowercase())
                    && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .collect();
        let out = Command::new(weir_bin())
            .args(&path)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: `weir {} --help` failed:\n{}",
            block.at,
            path.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A copy of the repository to run commands in: examples/ copied (without
/// what runs left in them), everything else linked, so outputs and
/// checkpoints start empty and nothing is written into the checkout.
fn checkout_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap();
            if path.is_dir() {
                if name != "out" && name != ".weir" {
                    copy(&path, &to.join(name));
                }
            } else {
                std::fs::copy(&path, to.join(name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == "examples" {
            copy(&path, &dir.path().join(name));
        } else if name != ".git" {
            std::os::unix::fs::symlink(&path, dir.path().join(name)).unwrap();
        }
    }
    dir
}

/// What a block's script starts with. `cargo run --release [-p P] [--bin B]
/// -- ARGS` runs the binary this test's build made (the same build: the
/// README's `cargo build --release` is `cargo test`'s here), because a nested
/// cargo would wait for the lock the outer `cargo test` holds. Any other
/// cargo command fails the block.
fn preamble(bin: &Path) -> String {
    format!(
        r#"set -euo pipefail
export PATH={bin:?}:"$PATH"
cargo() {{
    {{ set +x; }} 2>/dev/null
    if [ "${{1:-}}" != run ]; then echo "docs test: runs only \`cargo run\`, not: cargo $*" >&2; return 97; fi
    shift
    local program=weir
    while [ $# -gt 0 ]; do
        case $1 in
            --release) shift ;;
            -p) shift 2 ;;
            --bin) program=$2; shift 2 ;;
            --) shift; break ;;
            -*) echo "docs test: unexpected cargo run option $1" >&2; return 97 ;;
            *) break ;;
        esac
    done
    set -x
    {bin:?}/"$program" "$@"
}}
set -x
"#,
        bin = bin.display().to_string(),
    )
}

/// Runs every ```sh block of `readme` (relative to the root) in order in
/// one copy of the repository, with `env` set; checks the output blocks.
fn run_readme(readme: &str, env: &[(&str, &str)]) {
    let copy = checkout_copy();
    let bin = weir_bin().parent().unwrap().to_path_buf();
    let blocks = blocks(&root().join(readme));
    let mut ran = 0;
    let mut last_output: Option<(String, String)> = None;
    for block in &blocks {
        match block.language.as_str() {
            "sh" => {
                let mut script = preamble(&bin);
                for command in commands(block) {
                    if is_benchmark(&command) {
                        check_benchmark_exists(&command, &block.at);
                    } else if command.trim() == "scripts/test" {
                        // This test is part of it.
                    } else {
                        script.push_str(&command);
                        script.push('\n');
                        ran += 1;
                    }
                }
                last_output = Some((
                    block.at.clone(),
                    run_script(copy.path(), &script, env, &block.at),
                ));
            }
            // A block without a language right after a command shows its output.
            "" => {
                let (at, output) = last_output.take().unwrap_or_else(|| {
                    panic!("{}: output shown, but after no ```sh block", block.at)
                });
                for expected in block
                    .lines
                    .iter()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                {
                    assert!(
                        output.lines().any(|line| line.trim() == expected),
                        "{}: the README shows the line\n  {expected}\nbut the commands at {at} printed:\n{output}",
                        block.at
                    );
                }
            }
            "text" => check_synopsis(block),
            _ => last_output = None,
        }
    }
    assert!(ran > 0, "{readme} has no command to run");
}

/// Runs `script` with bash in `dir`, in a process group of its own that is
/// stopped afterwards (with the brokers a README starts with `&`, which
/// also hold the output pipes open). Returns stdout and stderr together.
fn run_script(dir: &Path, script: &str, env: &[(&str, &str)], at: &str) -> String {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .env("WEIR_CACHE_DIR", dir.join(".cache"))
        .envs(env.iter().copied())
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let status = child.wait().unwrap();
    let group = format!("-{}", child.id());
    // `--`: a negative number after it is a process group, not a signal.
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(std::process::Stdio::null())
        .status();
    let text = stdout.join().unwrap() + &stderr.join().unwrap();
    assert!(
        status.success(),
        "{at}: the commands failed ({status}):\n{text}"
    );
    text
}

fn readme_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("README.md"))
        .filter(|p| p.exists())
        .collect();
    paths.sort();
    paths.insert(0, root().join("README.md"));
    paths
}

/// Each README is run by one of the tests below: a new example's README
/// needs its test.
#[test]
fn every_readme_has_a_docs_test() {
    let tested = [
        "README.md",
        "examples/etl-multi-sink/README.md",
        "examples/s3-mysql/README.md",
        "examples/segments/README.md",
        "examples/stocks/README.md",
        "examples/students-kafka/README.md",
        "examples/students/README.md",
        "examples/user-events/README.md",
    ];
    let mut found: Vec<String> = readme_paths()
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    found.sort();
    assert_eq!(
        found, tested,
        "add a test in tests/e2e/docs.rs for each README"
    );
}

#[test]
fn the_readme_commands_work() {
    run_readme("README.md", &[]);
}

#[test]
fn the_students_readme_commands_work() {
    run_readme("examples/students/README.md", &[]);
}

#[test]
fn the_stocks_readme_commands_work() {
    run_readme("examples/stocks/README.md", &[]);
}

#[test]
fn the_user_events_readme_commands_work() {
    let _ports = FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    run_readme("examples/user-events/README.md", &[]);
}

#[test]
fn the_students_kafka_readme_commands_work() {
    let _ports = FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    run_readme("examples/students-kafka/README.md", &[]);
}

/// The README starts moto's S3 server on its fixed port and loads the
/// machine's MariaDB.
#[test]
fn the_s3_mysql_readme_commands_work() {
    let _ports = FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    run_readme("examples/s3-mysql/README.md", &[("MYSQL_URL", MYSQL_URL)]);
}

/// The README starts a broker and the registry on their fixed ports, and
/// enriches from the machine's PostgreSQL.
#[test]
fn the_segments_readme_commands_work() {
    let _ports = FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    run_readme("examples/segments/README.md", &[("PG_URL", POSTGRES_URL)]);
}

/// The README needs MYSQL_URL, PG_URL and CASSANDRA_URL: the test
/// machine's MariaDB and PostgreSQL, and kassandra in this process.
#[test]
fn the_etl_readme_commands_work() {
    let _tables = crate::etl_example::ETL_TABLES
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    crate::etl_example::reset_epoch_markers();
    let cassandra = Cassandra::start();
    mariadb("DROP TABLE IF EXISTS etl_orders");
    psql("DROP TABLE IF EXISTS etl_orders, etl_raw_orders, etl_orders_elt");
    run_readme(
        "examples/etl-multi-sink/README.md",
        &[
            ("MYSQL_URL", MYSQL_URL),
            ("PG_URL", POSTGRES_URL),
            ("CASSANDRA_URL", &cassandra.url("shop")),
        ],
    );
}
