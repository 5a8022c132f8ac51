//! The `lookup` capability: a Wasm transform granted a `[tables]` entry
//! looks a batch of keys up per call, in a file table and in a PostgreSQL
//! table asked by key; rows it cannot match keep nulls or go to the
//! dead-letter naming their key; a checkpoint records the table's version;
//! and the errors for an undeclared table, one not granted, a table
//! without a key and a key of the wrong type.

use crate::joins::rows;
use weir_tests::services::{POSTGRES_URL, psql, unique_table};
use weir_tests::{Scratch, plugin, toml_path};

const CUSTOMERS: &str = "customer_id,segment,country\n1,gold,KR\n2,silver,FR\n3,gold,DE\n";

/// Events of customers 1, 2 and 4 (who is not in the table), and one
/// without a customer.
const EVENTS: &str =
    "event,customer_id,amount\ne1,1,10.5\ne2,4,3.0\ne3,2,7.25\ne4,,1.0\ne5,1,2.0\n";

const FILE_TABLE: &str = "[tables.customers]\npath = \"customers.csv\"\nformat = \"csv\"\n\
     header = true\nschema = \"customer_id BIGINT NOT NULL, segment STRING, country STRING\"\n\
     key = [\"customer_id\"]\n";

/// A pipeline whose transform `enrich` runs with `config` (beside its
/// `table`) and is granted `grants`, with `tables` declared.
fn pipeline(tables: &str, grants: &str, config: &str) -> String {
    format!(
        "name = \"enriched\"\n\n[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
         schema = \"event STRING NOT NULL, customer_id BIGINT, amount DOUBLE\"\n\n\
         [connections.db]\nurl = \"{POSTGRES_URL}\"\n\n\
         {tables}\n\
         [[transforms]]\nname = \"enrich\"\nplugin = {}\ntables = {grants}\n\
         config = {{ table = \"customers\", {config} }}\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
        toml_path(&plugin("enrich"))
    )
}

fn scratch_with(tables: &str, grants: &str, config: &str) -> Scratch {
    let scratch = Scratch::new();
    scratch.write("in/events.csv", EVENTS);
    scratch.write("customers.csv", CUSTOMERS);
    scratch.write("pipeline.toml", &pipeline(tables, grants, config));
    scratch
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

fn run(scratch: &Scratch) -> weir_tests::Run {
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
}

#[test]
fn a_transform_looks_keys_up_in_a_granted_file_table() {
    let scratch = scratch_with(
        FILE_TABLE,
        "[\"customers\"]",
        "on = \"customer_id\", found = \"known\"",
    );
    let out = run(&scratch);
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", Some("gold"), Some("KR")),
            row("e2", None, None),
            row("e3", Some("silver"), Some("FR")),
            row("e4", None, None),
            row("e5", Some("gold"), Some("KR")),
        ],
        "every event once, enriched where its customer is known"
    );
    let known: Vec<bool> = scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["known"] == true)
        .collect();
    assert_eq!(known, [true, false, true, false, true]);
    let summary = out.stderr();
    assert!(summary.contains("all accounted for"), "{summary}");
}

#[test]
fn a_transform_can_reject_rows_whose_key_the_table_lacks_naming_the_key() {
    let scratch = scratch_with(
        FILE_TABLE,
        "[\"customers\"]",
        "on = \"customer_id\", on_miss = \"reject\"",
    );
    run(&scratch);
    assert_eq!(rows(&scratch).len(), 3);
    let letters = scratch.dead_letters("dead.jsonl");
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "no customers row has key customer_id = 4",
            "no customers row has key customer_id = null"
        ],
        "{letters:?}"
    );
    assert!(letters.iter().all(|l| l["stage"] == "transform:enrich"));
}

#[test]
fn a_postgres_table_is_asked_for_the_keys_of_each_batch_in_one_query() {
    let table = unique_table("lookup_customers");
    psql(&format!(
        "CREATE TABLE {table} (customer_id BIGINT PRIMARY KEY, segment TEXT, country TEXT); \
         INSERT INTO {table} VALUES (1, 'gold', 'KR'), (2, 'silver', 'FR')"
    ));
    let tables = format!(
        "[tables.customers]\nconnection = \"db\"\nquery = \"SELECT customer_id, segment, country FROM {table}\"\n\
         lookup = true\nschema = \"customer_id BIGINT NOT NULL, segment STRING, country STRING\"\n\
         key = [\"customer_id\"]\n"
    );
    let scratch = scratch_with(
        &tables,
        "[\"customers\"]",
        "on = \"customer_id\", add = \"segment\"",
    );
    let out = run(&scratch);
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", Some("gold"), None),
            row("e2", None, None),
            row("e3", Some("silver"), None),
            row("e4", None, None),
            row("e5", Some("gold"), None),
        ]
    );
    let summary = out.stderr();
    // One batch: customers 1, 2 and 4 asked for in one statement; e5's
    // customer 1 is the batch's own answer, not a second query.
    assert!(
        summary.contains("tables customers: 5 in, 5 out, 0 filtered, 0 dead-lettered (1 lookup queries for 3 keys"),
        "{summary}"
    );
}

#[test]
fn a_checkpoint_records_the_table_version_a_restart_compares() {
    let scratch = scratch_with(
        &format!("{FILE_TABLE}\n[checkpoint]\nlocation = \"checkpoints\"\ninterval = \"100ms\"\n"),
        "[\"customers\"]",
        "on = \"customer_id\", add = \"segment\"",
    );
    let first = run(&scratch).stderr();
    assert!(
        !first.contains("The table changed since the checkpoint"),
        "{first}"
    );
    scratch.write(
        "customers.csv",
        "customer_id,segment,country\n1,platinum,KR\n",
    );
    let second = run(&scratch).stderr();
    assert!(
        second.contains("The table changed since the checkpoint"),
        "a restart warns that rows read again see another table: {second}"
    );
}

#[test]
fn a_transform_naming_an_undeclared_table_is_refused_at_check() {
    let scratch = scratch_with(FILE_TABLE, "[\"nope\"]", "on = \"customer_id\"");
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains(
            "key `transforms[0].tables[0]`: no [tables.nope] is declared (declared: customers)"
        ),
        "{error}"
    );
}

#[test]
fn a_table_the_transform_was_not_granted_is_refused_naming_the_grants() {
    let scratch = scratch_with(FILE_TABLE, "[]", "on = \"customer_id\"");
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("table `customers` is not granted to transform `enrich` (granted: none); list it in the transform's `tables`"),
        "{error}"
    );
}

#[test]
fn a_table_without_a_key_is_refused_naming_the_key() {
    let tables = FILE_TABLE.replace("key = [\"customer_id\"]\n", "");
    let scratch = scratch_with(&tables, "[\"customers\"]", "on = \"customer_id\"");
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("key `tables.customers.key`: name the table's key columns"),
        "{error}"
    );
}

#[test]
fn keys_of_another_type_than_the_table_key_fail_the_batch_naming_both() {
    let scratch = scratch_with(FILE_TABLE, "[\"customers\"]", "on = \"event\"");
    run(&scratch);
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 5, "the whole batch: {letters:?}");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("table `customers`'s key `customer_id` is Int64, but the key sent for it (`event`) is Utf8"),
        "{reason}"
    );
}
