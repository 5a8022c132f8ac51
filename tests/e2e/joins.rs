//! Stream–table joins against a reference file: inner, left and
//! dead-lettering joins give the rows a user would expect, CSV and Parquet
//! tables, a table that changes under a running pipeline (and one that
//! turns unreadable, which keeps the last good version), and the errors
//! for a key whose types differ and a table that is not there.

use serde_json::Value;
use weir_tests::services::pyarrow;
use weir_tests::{Scratch, wait_for};

const CUSTOMERS: &str = "customer_id,segment,country\n1,gold,KR\n2,silver,FR\n3,gold,DE\n";

/// Events of customers 1, 2 and 4 (who is not in the table), and one
/// without a customer.
const EVENTS: &str =
    "event,customer_id,amount\ne1,1,10.5\ne2,4,3.0\ne3,2,7.25\ne4,,1.0\ne5,1,2.0\n";

fn pipeline(join: &str) -> String {
    format!(
        "name = \"enriched\"\n\n[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
         schema = \"event STRING NOT NULL, customer_id BIGINT, amount DOUBLE\"\npoll_interval_ms = 100\n\n\
         [[joins]]\nname = \"customers\"\non = [\"customer_id\"]\n{join}\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n"
    )
}

const CSV_TABLE: &str = "table = { path = \"customers.csv\", format = \"csv\", header = true, \
     schema = \"customer_id BIGINT NOT NULL, segment STRING, country STRING\" }";

fn scratch_with(join: &str) -> Scratch {
    let scratch = Scratch::new();
    scratch.write("in/events.csv", EVENTS);
    scratch.write("customers.csv", CUSTOMERS);
    scratch.write("pipeline.toml", &pipeline(join));
    scratch
}

/// (event, segment, country) of each row written to out.jsonl, in order.
pub(crate) fn rows(scratch: &Scratch) -> Vec<(String, Option<String>, Option<String>)> {
    scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            let text = |k: &str| v[k].as_str().map(str::to_string);
            (text("event").unwrap(), text("segment"), text("country"))
        })
        .collect()
}

fn row(
    event: &str,
    segment: Option<&str>,
    country: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        event.to_string(),
        segment.map(str::to_string),
        country.map(str::to_string),
    )
}

/// Runs the pipeline to the end of its input, and checks it succeeded.
fn run(scratch: &Scratch) -> weir_tests::Run {
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
}

/// The rows of EVENTS an inner join against CUSTOMERS keeps.
fn matched() -> Vec<(String, Option<String>, Option<String>)> {
    vec![
        row("e1", Some("gold"), Some("KR")),
        row("e3", Some("silver"), Some("FR")),
        row("e5", Some("gold"), Some("KR")),
    ]
}

#[test]
fn an_inner_join_keeps_matched_rows_and_drops_the_rest_counting_them() {
    let scratch = scratch_with(CSV_TABLE);
    let out = run(&scratch);
    assert_eq!(rows(&scratch), matched());
    let summary = out.stderr();
    assert!(
        summary.contains("join customers: 5 in, 3 out, 2 filtered, 0 dead-lettered"),
        "{summary}"
    );
    assert!(summary.contains("all accounted for"), "{summary}");
}

#[test]
fn a_left_join_keeps_every_row_with_nulls_for_the_unmatched() {
    let scratch = scratch_with(&format!(
        "kind = \"left\"\ncolumns = [\"segment\"]\n{CSV_TABLE}"
    ));
    run(&scratch);
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", Some("gold"), None),
            row("e2", None, None),
            row("e3", Some("silver"), None),
            row("e4", None, None),
            row("e5", Some("gold"), None),
        ],
        "every event once; only the listed column added"
    );
    let first: Value =
        serde_json::from_str(scratch.read("out.jsonl").lines().next().unwrap()).unwrap();
    assert!(first.get("country").is_none(), "{first}");
}

#[test]
fn an_unmatched_row_can_go_to_the_dead_letter_naming_its_key() {
    let scratch = scratch_with(&format!("on_miss = \"dead-letter\"\n{CSV_TABLE}"));
    run(&scratch);
    assert_eq!(rows(&scratch).len(), 3);
    let letters = scratch.dead_letters("dead.jsonl");
    let reasons: Vec<(&str, &str, i64)> = letters
        .iter()
        .map(|l| {
            (
                l["stage"].as_str().unwrap(),
                l["reason"].as_str().unwrap(),
                l["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                "join:customers",
                "no row of the `customers` table has customer_id = 4",
                3
            ),
            (
                "join:customers",
                "no row of the `customers` table has customer_id = null",
                5
            ),
        ]
    );
    assert_eq!(letters[0]["input"]["event"], "e2");
}

#[test]
fn a_parquet_table_is_read_with_its_own_schema() {
    let scratch = scratch_with(
        "table_on = [\"id\"]\ntable = { path = \"customers.parquet\", format = \"parquet\" }",
    );
    let path = scratch.path().join("customers.parquet");
    pyarrow(&format!(
        "import pyarrow as pa, pyarrow.parquet as pq\n\
         pq.write_table(pa.table({{'id': pa.array([2, 1], pa.int64()), 'segment': ['silver', 'gold'], 'country': ['FR', 'KR']}}), {path:?})",
        path = path.display().to_string()
    ));
    run(&scratch);
    assert_eq!(rows(&scratch), matched());
}

#[test]
fn a_table_that_changes_is_read_again_and_an_unreadable_one_is_not_used() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    scratch.write("customers.csv", CUSTOMERS);
    scratch.write("pipeline.toml", &pipeline(CSV_TABLE));
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    let feed = |name: &str, rows_out: usize| {
        scratch.write(
            &format!("in/{name}.csv"),
            "event,customer_id,amount\nx,1,1.0\n",
        );
        wait_for(&format!("{rows_out} rows out"), 30, || {
            std::fs::read_to_string(scratch.path().join("out.jsonl"))
                .is_ok_and(|t| t.lines().count() >= rows_out)
        });
    };
    feed("a", 1);
    // Customer 1 moves to platinum; the next rows join the new version.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    scratch.write("customers.csv", &CUSTOMERS.replace("1,gold", "1,platinum"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    feed("b", 2);
    // A broken version (a row that does not fit the schema) is refused.
    scratch.write(
        "customers.csv",
        "customer_id,segment,country\nnot-a-number,x,y\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    feed("c", 3);
    let out = running.stop();
    let segments: Vec<Option<String>> = rows(&scratch).into_iter().map(|r| r.1).collect();
    assert_eq!(
        segments,
        vec![
            Some("gold".to_string()),
            Some("platinum".to_string()),
            Some("platinum".to_string())
        ]
    );
    let log = out.stderr();
    assert!(
        log.contains("The table changed; joining against its new version."),
        "{log}"
    );
    assert!(
        log.contains("The table's new version cannot be read; the last version read stays in use.")
            && log.contains("line 2"),
        "{log}"
    );
}

#[test]
fn a_key_of_another_type_on_each_side_is_refused_naming_both() {
    let scratch = scratch_with(
        "table = { path = \"customers.csv\", format = \"csv\", header = true, \
         schema = \"customer_id STRING NOT NULL, segment STRING, country STRING\" }",
    );
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("joins[0].on[0]`: the stream's `customer_id` is Int64 but the table's `customer_id` is Utf8"),
        "{error}"
    );
}

#[test]
fn a_table_that_is_not_there_is_a_clear_error() {
    let scratch = scratch_with(CSV_TABLE);
    std::fs::remove_file(scratch.path().join("customers.csv")).unwrap();
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("key `joins[0].table`: cannot read"),
        "{error}"
    );
    assert!(error.contains("customers.csv"), "{error}");
}

#[test]
fn a_restart_says_when_the_table_changed_since_the_checkpoint() {
    let scratch = scratch_with(CSV_TABLE);
    let text = scratch.read("pipeline.toml");
    scratch.write(
        "pipeline.toml",
        &format!("{text}\n[checkpoint]\nlocation = \"checkpoints\"\n"),
    );
    let first = run(&scratch);
    assert!(
        !first.stderr().contains("The table changed"),
        "{}",
        first.stderr()
    );
    scratch.write("customers.csv", &CUSTOMERS.replace("1,gold", "1,platinum"));
    scratch.write("in/more.csv", "event,customer_id,amount\ne6,1,1.0\n");
    let second = run(&scratch);
    assert!(
        second
            .stderr()
            .contains("The table changed since the checkpoint"),
        "{}",
        second.stderr()
    );
    // The first run's rows stand; the new one joins the new version.
    let segments: Vec<Option<String>> = rows(&scratch).into_iter().map(|r| r.1).collect();
    assert_eq!(segments.len(), 4);
    assert_eq!(segments[3].as_deref(), Some("platinum"));
    assert_eq!(segments[0].as_deref(), Some("gold"));
}

#[test]
fn a_window_aggregates_on_what_a_join_added() {
    let scratch = Scratch::new();
    scratch.write(
        "in/events.csv",
        "event,customer_id,ts\ne1,1,2026-12-03T10:00:01Z\ne2,2,2026-12-03T10:00:02Z\n\
         e3,3,2026-12-03T10:00:03Z\ne4,9,2026-12-03T10:00:04Z\ne5,1,2026-12-03T10:01:05Z\n",
    );
    scratch.write("customers.csv", CUSTOMERS);
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
             schema = \"event STRING NOT NULL, customer_id BIGINT, ts TIMESTAMP NOT NULL\"\n\n\
             [[joins]]\nname = \"customers\"\non = [\"customer_id\"]\n{CSV_TABLE}\n\n\
             [window]\ntype = \"tumbling\"\nsize = \"1 minute\"\ntime = \"ts\"\nwatermark = \"0 seconds\"\n\
             group_by = [\"segment\"]\naggregates = [\"count(*) AS events\"]\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n"
        ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--flush"])
        .ok();
    let mut counts: Vec<(String, String, i64)> = scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["window_start"].as_str().unwrap().to_string(),
                v["segment"].as_str().unwrap().to_string(),
                v["events"].as_i64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    let minute = |m: u32| format!("2026-12-03T10:0{m}:00Z");
    assert_eq!(
        counts,
        vec![
            (minute(0), "gold".to_string(), 2),
            (minute(0), "silver".to_string(), 1),
            (minute(1), "gold".to_string(), 1),
        ],
        "customer 9 is not in the table: dropped before the window"
    );
}

#[test]
fn a_json_lines_table_joins_as_a_csv_one_does() {
    let scratch = scratch_with(
        "table = { path = \"customers.jsonl\", format = \"jsonl\", \
         schema = \"customer_id BIGINT NOT NULL, segment STRING, country STRING\" }",
    );
    scratch.write(
        "customers.jsonl",
        "{\"customer_id\": 1, \"segment\": \"gold\", \"country\": \"KR\"}\n\
         {\"customer_id\": 2, \"segment\": \"silver\"}\n",
    );
    let out = run(&scratch);
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", Some("gold"), Some("KR")),
            row("e3", Some("silver"), None),
            row("e5", Some("gold"), Some("KR")),
        ]
    );
    assert!(out.stderr().contains("Table read."), "{}", out.stderr());
}
