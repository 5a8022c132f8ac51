//! The web console in a real browser (Debian's chromium driven by
//! playwright-core, installed by scripts/setup-browser): a continuous
//! pipeline's graph, counters, watermark, dead letters and configuration
//! on the page, a reload pressed on the page swapping the build, a
//! rollback, the token asked for beyond loopback, and secrets never shown.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use weir_tests::{Running, Scratch, plugin, root, wait_for};

/// A password that must never reach the page.
const SECRET: &str = "hunter2-console";

/// files in `in/` (CSV: value, ts) → `tag` (tag.wasm, a copy of tag_v1) →
/// a 10-second tumbling window counting rows per build → out.jsonl; a
/// connection with a password in its URL, which nothing uses.
fn start(admin: &str, env: &[(&str, &Path)]) -> (Scratch, Running) {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    std::fs::copy(plugin("tag_v1"), scratch.path().join("tag.wasm")).unwrap();
    scratch.write(
        "pipeline.toml",
        &format!(
            "name = \"console\"\n\n\
             [source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
             schema = \"value STRING NOT NULL, ts TIMESTAMP NOT NULL\"\npoll_interval_ms = 100\n\n\
             [checkpoint]\ninterval = \"1s\"\nlocation = \"checkpoints\"\n\n\
             [connections.warehouse]\nurl = \"postgres://weir:{SECRET}@127.0.0.1:5432/test\"\n\n\
             [[transforms]]\nname = \"tag\"\nplugin = \"tag.wasm\"\n\n\
             [window]\ntype = \"tumbling\"\nsize = \"10 seconds\"\ntime = \"ts\"\nwatermark = \"1 second\"\n\
             group_by = [\"version\"]\naggregates = [\"count(*) AS rows\"]\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
             [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n"
        ),
    );
    let running = scratch.spawn_in(
        scratch.path(),
        &["run", "pipeline.toml", "--admin", admin],
        env,
    );
    wait_for("the admin address file", 60, || {
        scratch.path().join(".weir/console/admin.addr").exists()
    });
    (scratch, running)
}

/// Writes a CSV file every 300 ms, each a second of event time later, and
/// every fifth with a row whose time does not parse (a dead letter).
fn feed(scratch: &Scratch) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let dir = scratch.path().join("in");
    let feeder = std::thread::spawn(move || {
        let mut second = 0;
        while !stopping.load(Ordering::Relaxed) {
            let mut csv = String::from("value,ts\n");
            for i in 0..20 {
                csv.push_str(&format!(
                    "v{i},2026-12-03T10:{:02}:{:02}Z\n",
                    second / 60,
                    second % 60
                ));
            }
            if second % 5 == 0 {
                csv.push_str("broken,not-a-time\n");
            }
            // Written aside and renamed, so no half-written file is read.
            let aside = dir.join(format!(".{second:05}.tmp"));
            std::fs::write(&aside, csv).unwrap();
            std::fs::rename(&aside, dir.join(format!("{second:05}.csv"))).unwrap();
            second += 1;
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    });
    (stop, feeder)
}

/// The console's address: where a browser on this machine opens it.
fn console_url(scratch: &Scratch) -> String {
    let url = scratch.read(".weir/console/admin.addr");
    url.trim().replace("0.0.0.0", "127.0.0.1") + "/"
}

/// An HTTP/1.0 request to the admin server: its status code and body.
fn request(url: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let code = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, body.to_string())
}

fn status(url: &str, token: Option<&str>) -> Value {
    let (code, body) = request(url, "GET", "/status", token);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["pipelines"][0].clone()
}

/// Runs tests/browser/console.mjs; its observations as JSON.
pub(crate) fn browser(url: &str, args: &[&str]) -> Value {
    let script = root().join("tests/browser/console.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .args(["--url", url])
        .args(args)
        .output()
        .expect("node runs (scripts/setup-browser installs the browser tests' packages)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_console_shows_the_running_pipeline_and_reloads_a_plugin() {
    let (scratch, running) = start("127.0.0.1:0", &[]);
    let (stop, feeder) = feed(&scratch);
    let url = console_url(&scratch);
    wait_for("a dead letter and a watermark", 60, || {
        let s = status(&url, None);
        s["dead_letters"]["recent"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
            && !s["window"]["watermark_ms"].is_null()
    });
    let v1_sha = status(&url, None)["plugins"][0]["version"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    // The new build replaces the file the plugin was loaded from, as a
    // rebuild does; the page's Reload reloads that file.
    std::fs::copy(plugin("tag_v2"), scratch.path().join("tag.wasm")).unwrap();
    let shot = root().join("target/console/console.png");
    let seen = browser(
        &url,
        &[
            "--reload",
            "tag",
            "--wait-letter",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    let (first, second) = (&seen["first"], &seen["second"]);
    let stages: Vec<&str> = first["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for stage in [
        "source",
        "transform:tag",
        "window",
        "sink:out",
        "dead_letter",
    ] {
        assert!(
            stages.contains(&stage),
            "no {stage} in the graph: {stages:?}"
        );
    }
    assert_eq!(first["states"]["transform:tag"], "running", "{first}");
    assert!(
        second["records_read"].as_u64() > first["records_read"].as_u64(),
        "the records read rise on the page: {first} then {second}"
    );
    assert!(
        second["watermark_ms"].as_i64() > first["watermark_ms"].as_i64(),
        "the watermark moves on the page: {first} then {second}"
    );
    assert_eq!(first["plugins"]["tag"], v1_sha.as_str());
    let letters = second["letters"].as_array().unwrap();
    assert!(
        letters
            .iter()
            .any(|l| l["stage"] == "decode:csv"
                && l["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "the broken row is on the page with its reason: {letters:?}"
    );
    let config = first["config"].as_str().unwrap();
    assert!(config.contains("[connections.warehouse]"), "{config}");
    assert!(
        !config.contains(SECRET),
        "the password is on the page: {config}"
    );
    // Reload pressed on the page: the page and /status show the new build.
    let reloaded = &seen["after_reload"];
    assert_ne!(
        reloaded["timed_out"], true,
        "the reload never showed: {reloaded}"
    );
    let v2_sha = reloaded["plugins"]["tag"].as_str().unwrap().to_string();
    assert_ne!(v2_sha, v1_sha);
    let shown = status(&url, None);
    assert_eq!(shown["plugins"][0]["version"]["sha256"], v2_sha.as_str());
    assert_eq!(shown["reloads"][0]["outcome"], "swapped");
    assert!(
        shown["plugins"][0]["probation_batches_left"].is_u64(),
        "the fresh build is on probation: {}",
        shown["plugins"][0]
    );
    // Rolling back swaps v1 in again, from memory: the file is v2 now.
    let (code, body) = request(&url, "POST", "/plugins/tag/rollback", None);
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["to_sha256"], v1_sha.as_str());
    wait_for("the rolled-back build on /status", 30, || {
        status(&url, None)["plugins"][0]["version"]["sha256"] == v1_sha.as_str()
    });
    let shown = status(&url, None);
    let epochs = shown["checkpoints"]["epochs"].as_array().unwrap();
    assert!(!epochs.is_empty(), "the epochs committed are listed");
    assert!(
        epochs[0]["checkpoint_bytes"].as_u64() > Some(0),
        "{}",
        epochs[0]
    );
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    running.stop().ok();
    assert!(shot.exists(), "a screenshot at {}", shot.display());
}

#[test]
fn beyond_loopback_the_console_asks_for_the_token_and_shows_nothing_without_it() {
    let token = "console-test-token";
    // WEIR_ADMIN_TOKEN from the environment, as an operator sets it.
    let (scratch, running) = start("0.0.0.0:0", &[("WEIR_ADMIN_TOKEN", Path::new(token))]);
    let url = console_url(&scratch);
    // The page and its script hold no data and load; the data is refused.
    assert_eq!(request(&url, "GET", "/", None).0, 200);
    for path in ["/console/state", "/console/config", "/status"] {
        let (code, body) = request(&url, "GET", path, None);
        assert_eq!(code, 401, "{path} without the token: {body}");
        assert!(!body.contains(SECRET));
    }
    assert_eq!(request(&url, "POST", "/plugins/tag/reload", None).0, 401);
    assert_eq!(request(&url, "POST", "/plugins/tag/rollback", None).0, 401);
    let refused = browser(&url, &["--expect-refusal"]);
    assert_eq!(refused["token_form"], true, "{refused}");
    assert_eq!(refused["loaded"], false, "{refused}");
    assert!(refused["records_read_shown"].is_null(), "{refused}");
    // With the token the page loads, and still shows no secret.
    let seen = browser(&url, &["--token", token]);
    assert!(
        seen["first"]["stages"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{seen}"
    );
    assert!(!seen["first"]["config"].as_str().unwrap().contains(SECRET));
    let (code, body) = request(&url, "GET", "/console/config", Some(token));
    assert_eq!(code, 200);
    assert!(body.contains("postgres://weir:***@127.0.0.1"), "{body}");
    assert!(!body.contains(SECRET), "{body}");
    running.stop().ok();
}

#[test]
fn a_page_from_another_site_cannot_reload_a_plugin() {
    let (scratch, running) = start("127.0.0.1:0", &[]);
    let url = console_url(&scratch);
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    // What a browser sends for a form posted from another site.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /plugins/tag/reload HTTP/1.0\r\nHost: {addr}\r\nOrigin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 403") || text.starts_with("HTTP/1.1 403"),
        "{text}"
    );
    // Nor can a page whose name was made to resolve to 127.0.0.1 read it.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /console/state HTTP/1.0\r\nHost: attacker.example\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.contains(" 403 "), "{text}");
    assert!(status(&url, None)["reloads"].as_array().unwrap().is_empty());
    running.stop().ok();
}

#[test]
fn kafka_lag_and_each_partitions_watermark_are_on_status() {
    let broker = weir_tests::kafka::Broker::start();
    broker.create_topic("lagged", 2);
    for partition in 0..2 {
        let lines: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"ts": "2026-12-03T10:00:{:02}Z"}}"#, i + partition * 5))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        broker.produce_lines("lagged", Some(partition), &lines);
    }
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "name = \"lagged\"\n\n[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\n\
         topics = [\"lagged\"]\ngroup = \"console\"\nstart = \"earliest\"\nformat = \"json\"\n\
         schema = \"ts TIMESTAMP NOT NULL\"\nmax_wait_ms = 100\n\n\
         [window]\ntype = \"tumbling\"\nsize = \"1 minute\"\ntime = \"ts\"\nwatermark = \"1 second\"\n\
         aggregates = [\"count(*) AS events\"]\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n",
    );
    let brokers = broker.address();
    let running = scratch.spawn_in(
        scratch.path(),
        &["run", "pipeline.toml"],
        &[("KAFKA_BROKERS", Path::new(&brokers))],
    );
    wait_for("the admin address file", 60, || {
        scratch.path().join(".weir/lagged/admin.addr").exists()
    });
    let url = scratch.read(".weir/lagged/admin.addr").trim().to_string();
    // Everything read: each partition's lag, from the client's statistics,
    // is known and nothing is left behind.
    let read_up = |s: &Value| {
        s["records_read"] == 100
            && s["progress"]["partitions"]
                .as_array()
                .is_some_and(|p| p.len() == 2 && p.iter().all(|p| p["lag"] == 0))
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut s = status(&url, None);
    while !read_up(&s) {
        assert!(
            std::time::Instant::now() < until,
            "every record read and no lag left, on /status: {}",
            s["progress"]
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        s = status(&url, None);
    }
    let partitions = s["window"]["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2, "{s}");
    // Partition 1's events run 5 s ahead of partition 0's; the window's
    // watermark is the least of the two, less the 1-second delay.
    let marks: Vec<i64> = partitions
        .iter()
        .map(|p| p["watermark_ms"].as_i64().unwrap())
        .collect();
    assert_eq!((marks[1] - marks[0]).abs(), 5_000, "{partitions:?}");
    assert_eq!(
        s["window"]["watermark_ms"].as_i64(),
        marks.iter().min().copied()
    );
    let (_, metrics) = request(&url, "GET", "/metrics", None);
    for line in [
        "weir_kafka_lag{pipeline=\"lagged\",topic=\"lagged\",partition=\"0\"} 0",
        "weir_kafka_lag{pipeline=\"lagged\",topic=\"lagged\",partition=\"1\"} 0",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
    running.stop().ok();
}

/// Two file sources joined by an interval join: the graph has the join
/// between the source and the sink, with each side's rows.
#[test]
fn the_graph_shows_an_interval_join_of_two_sources() {
    let scratch = Scratch::new();
    let mut impressions = String::from("imp,ad_id,ts\n");
    let mut clicks = String::from("click,ad_id,ts\n");
    for i in 0..120 {
        impressions.push_str(&format!(
            "{i},{},2026-12-03T10:{:02}:{:02}Z\n",
            i % 7,
            i / 60,
            i % 60
        ));
        clicks.push_str(&format!(
            "{i},{},2026-12-03T10:{:02}:{:02}Z\n",
            i % 7,
            i / 60,
            i % 60
        ));
    }
    scratch.write("in/impressions/a.csv", &impressions);
    scratch.write("in/clicks/a.csv", &clicks);
    let source = |name: &str, id: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\ntype = \"files\"\npath = \"in/{name}\"\nformat = \"csv\"\n\
             header = true\nschema = \"{id} BIGINT NOT NULL, ad_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL\"\n\
             poll_interval_ms = 100\n\n"
        )
    };
    scratch.write(
        "pipeline.toml",
        &format!(
            "name = \"console\"\n\n{}{}\
             [interval_join]\nname = \"attributed\"\nleft = \"impressions\"\nright = \"clicks\"\n\
             on = [\"ad_id\"]\nleft_time = \"ts\"\nbetween = [\"0s\", \"5 seconds\"]\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n",
            source("impressions", "imp"),
            source("clicks", "click")
        ),
    );
    let _running = scratch.spawn_in(
        scratch.path(),
        &["run", "pipeline.toml", "--admin", "127.0.0.1:0"],
        &[],
    );
    wait_for("the admin address file", 60, || {
        scratch.path().join(".weir/console/admin.addr").exists()
    });
    let url = console_url(&scratch);
    wait_for("joined rows", 60, || {
        status(&url, None)["interval_join"]["rows_out"].as_u64() > Some(0)
    });
    let seen = browser(&url, &[]);
    let stages: Vec<&str> = seen["first"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["source", "join:attributed", "sink:out", "dead_letter"],
        "{seen}"
    );
    assert_eq!(
        seen["first"]["states"]["join:attributed"], "running",
        "{seen}"
    );
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
}
