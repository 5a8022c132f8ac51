//! Stream–table joins against real databases: a PostgreSQL query read whole
//! (and read again when its rows change), a MariaDB table looked up by key
//! with one query per batch and a cache, a composite key, a database that
//! goes away mid-run (rows wait, none dead-lettered), and the errors for a
//! result that does not fit the declared schema.

use crate::joins::rows;
use serde_json::Value;
use weir_tests::proxy::Proxy;
use weir_tests::services::{mariadb, psql, unique_table};
use weir_tests::{Scratch, wait_for};

/// Events of customers 1, 2 and 4 (who is not in the table), and one
/// without a customer.
const EVENTS: &str =
    "event,customer_id,amount\ne1,1,10.5\ne2,4,3.0\ne3,2,7.25\ne4,,1.0\ne5,1,2.0\n";

fn pipeline(url: &str, join: &str) -> String {
    pipeline_with(&format!("url = \"{url}\""), join)
}

/// The pipeline with `connection` as the body of its [connections.db].
fn pipeline_with(connection: &str, join: &str) -> String {
    format!(
        "name = \"enriched\"\n\n[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
         schema = \"event STRING NOT NULL, customer_id BIGINT, amount DOUBLE\"\npoll_interval_ms = 100\n\
         max_files_per_batch = 1\n\n\
         [connections.db]\n{connection}\n\n\
         [[joins]]\nname = \"customers\"\non = [\"customer_id\"]\n{join}\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n"
    )
}

fn row(event: &str, segment: &str, country: &str) -> (String, Option<String>, Option<String>) {
    (
        event.to_string(),
        Some(segment.to_string()),
        Some(country.to_string()),
    )
}

/// A customers table in PostgreSQL, its key an INTEGER (read as the
/// BIGINT the schema declares).
fn postgres_customers() -> String {
    let table = unique_table("customers");
    psql(&format!(
        "CREATE TABLE {table} (id INTEGER PRIMARY KEY, segment TEXT, country VARCHAR(2), since TIMESTAMPTZ); \
         INSERT INTO {table} VALUES (1, 'gold', 'KR', '2024-01-02T03:04:05Z'), (2, 'silver', 'FR', NULL), (3, 'gold', 'DE', NULL)"
    ));
    table
}

#[test]
fn a_postgres_query_is_read_whole_and_joined_and_read_again_when_its_rows_change() {
    let table = postgres_customers();
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    scratch.write(
        "pipeline.toml",
        &pipeline(
            weir_tests::services::POSTGRES_URL,
            &format!(
                "table_on = [\"id\"]\n\
                 table = {{ connection = \"db\", query = \"SELECT id, segment, country, since FROM {table};\", \
                 refresh = \"500ms\", schema = \"id BIGINT NOT NULL, segment STRING, country STRING, since TIMESTAMP\" }}"
            ),
        ),
    );
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    let feed = |name: &str, rows_out: usize| {
        scratch.write(&format!("in/{name}.csv"), EVENTS);
        wait_for(&format!("{rows_out} rows out"), 30, || {
            std::fs::read_to_string(scratch.path().join("out.jsonl"))
                .is_ok_and(|t| t.lines().count() >= rows_out)
        });
    };
    feed("a", 3);
    psql(&format!(
        "UPDATE {table} SET segment = 'platinum' WHERE id = 1; INSERT INTO {table} VALUES (4, 'bronze', 'US', NULL)"
    ));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    feed("b", 7);
    let out = running.stop();
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", "gold", "KR"),
            row("e3", "silver", "FR"),
            row("e5", "gold", "KR"),
            row("e1", "platinum", "KR"),
            row("e2", "bronze", "US"),
            row("e3", "silver", "FR"),
            row("e5", "platinum", "KR"),
        ]
    );
    let first: Value =
        serde_json::from_str(scratch.read("out.jsonl").lines().next().unwrap()).unwrap();
    assert_eq!(first["since"], "2024-01-02T03:04:05Z", "{first}");
    let log = out.stderr();
    assert!(log.contains("Table read."), "{log}");
    assert!(
        log.contains("The table changed; joining against its new version."),
        "{log}"
    );
}

/// A customers table in MariaDB, keyed by (id, country).
fn mariadb_customers() -> String {
    let table = unique_table("customers");
    mariadb(&format!(
        "CREATE TABLE {table} (id INT, country CHAR(2), segment VARCHAR(20), PRIMARY KEY (id, country)); \
         INSERT INTO {table} VALUES (1, 'KR', 'gold'), (2, 'FR', 'silver'), (3, 'DE', 'gold'), (1, 'FR', 'bronze')"
    ));
    table
}

fn lookup_join(table: &str) -> String {
    format!(
        "table_on = [\"id\"]\nkind = \"inner\"\non_miss = \"dead-letter\"\n\
         table = {{ connection = \"db\", query = \"SELECT id, segment, country FROM {table} WHERE country IN ('KR', 'FR', 'DE')\", \
         lookup = true, cache_ttl = \"1 hour\", schema = \"id BIGINT, segment STRING, country STRING\" }}"
    )
}

#[test]
fn a_mysql_lookup_asks_once_per_batch_for_the_keys_its_cache_does_not_know() {
    let table = unique_table("customers");
    mariadb(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, segment VARCHAR(20), country CHAR(2)); \
         INSERT INTO {table} VALUES (1, 'gold', 'KR'), (2, 'silver', 'FR'), (3, 'gold', 'DE')"
    ));
    let scratch = Scratch::new();
    scratch.write("in/a.csv", EVENTS);
    scratch.write(
        "in/b.csv",
        "event,customer_id,amount\ne6,1,1.0\ne7,3,1.0\ne8,4,1.0\n",
    );
    scratch.write(
        "pipeline.toml",
        &pipeline(weir_tests::services::MYSQL_URL, &lookup_join(&table)),
    );
    let out = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", "gold", "KR"),
            row("e3", "silver", "FR"),
            row("e5", "gold", "KR"),
            row("e6", "gold", "KR"),
            row("e7", "gold", "DE"),
        ]
    );
    let summary = out.stderr();
    // The first file asks for 1, 4 and 2 in one query; the second only for
    // 3: customer 1 and the missing 4 are known to the cache.
    assert!(
        summary.contains("records read from") && summary.contains("in 2 batches"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "join customers: 8 in, 5 out, 0 filtered, 3 dead-lettered (2 lookup queries for 4 keys, 2 rows from the cache)"
        ),
        "{summary}"
    );
    let reasons: Vec<String> = scratch
        .dead_letters("dead.jsonl")
        .iter()
        .map(|l| l["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "no row of the `customers` table has customer_id = 4",
            "no row of the `customers` table has customer_id = null",
            "no row of the `customers` table has customer_id = 4",
        ]
    );
}

#[test]
fn a_composite_key_is_looked_up_on_every_column() {
    let table = mariadb_customers();
    let scratch = Scratch::new();
    scratch.write(
        "in/a.csv",
        "event,customer_id,country\ne1,1,KR\ne2,1,FR\ne3,1,DE\ne4,2,FR\n",
    );
    scratch.write(
        "pipeline.toml",
        &pipeline(weir_tests::services::MYSQL_URL, "")
            .replace(
                "customer_id BIGINT, amount DOUBLE",
                "customer_id BIGINT, country STRING",
            )
            .replace(
                "on = [\"customer_id\"]\n",
                &format!(
                    "on = [\"customer_id\", \"country\"]\ntable_on = [\"id\", \"country\"]\n\
                     table = {{ connection = \"db\", query = \"SELECT id, country, segment FROM {table}\", \
                     lookup = true, schema = \"id BIGINT, country STRING, segment STRING\" }}\n"
                ),
            ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let segments: Vec<(String, Option<String>)> = rows(&scratch)
        .into_iter()
        .map(|(event, segment, _)| (event, segment))
        .collect();
    assert_eq!(
        segments,
        vec![
            ("e1".to_string(), Some("gold".to_string())),
            ("e2".to_string(), Some("bronze".to_string())),
            ("e4".to_string(), Some("silver".to_string())),
        ]
    );
}

#[test]
fn a_lookup_whose_database_goes_away_waits_and_dead_letters_nothing() {
    let proxy = Proxy::start("127.0.0.1:5432");
    let table = postgres_customers();
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    scratch.write(
        "pipeline.toml",
        &pipeline_with(
            &format!(
                "url = \"postgres://postgres@127.0.0.1:{}/test\"\nconnect_attempts = 2\nbackoff_ms = 100",
                proxy.port()
            ),
            &format!(
                "table_on = [\"id\"]\nkind = \"left\"\n\
                 table = {{ connection = \"db\", query = \"SELECT id, segment, country FROM {table}\", \
                 lookup = true, schema = \"id BIGINT, segment STRING, country STRING\" }}"
            ),
        ),
    );
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "127.0.0.1:0"]);
    let written = || {
        std::fs::read_to_string(scratch.path().join("out.jsonl")).map_or(0, |t| t.lines().count())
    };
    scratch.write("in/a.csv", "event,customer_id,amount\ne1,1,1.0\n");
    wait_for("the first row", 30, || written() >= 1);
    proxy.cut();
    scratch.write("in/b.csv", "event,customer_id,amount\ne2,2,1.0\ne3,1,1.0\n");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(written(), 1, "rows joined while the database was away");
    proxy.restore();
    wait_for("the rows that waited", 60, || written() >= 3);
    // Two queries answered (the failed tries are not counted), for keys 1
    // and 2; the second batch's customer 1 came from the cache.
    let metrics = weir_tests::http_get(&scratch.read(".weir/enriched/admin.addr"), "/metrics");
    for line in [
        "weir_join_lookup_queries_total{pipeline=\"enriched\",join=\"customers\"} 2",
        "weir_join_lookup_keys_total{pipeline=\"enriched\",join=\"customers\"} 2",
        "weir_join_lookup_cache_hits_total{pipeline=\"enriched\",join=\"customers\"} 1",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
    let out = running.stop();
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", "gold", "KR"),
            row("e2", "silver", "FR"),
            row("e3", "gold", "KR"),
        ]
    );
    assert!(
        !scratch.path().join("dead.jsonl").exists() || scratch.read("dead.jsonl").trim().is_empty(),
        "{}",
        scratch.read("dead.jsonl")
    );
    let log = out.stderr();
    assert!(
        log.contains("The lookup table's database cannot be reached; the batch waits."),
        "{log}"
    );
}

#[test]
fn a_result_that_does_not_fit_the_schema_is_refused_at_check_naming_the_column() {
    let table = unique_table("customers");
    psql(&format!(
        "CREATE TABLE {table} (id BIGINT, segment TEXT, score NUMERIC(5,2)); INSERT INTO {table} VALUES (1, 'gold', 1.5)"
    ));
    let scratch = Scratch::new();
    scratch.write("in/a.csv", EVENTS);
    let write = |query: &str, schema: &str| {
        scratch.write(
            "pipeline.toml",
            &pipeline(
                weir_tests::services::POSTGRES_URL,
                &format!(
                    "table_on = [\"id\"]\ntable = {{ connection = \"db\", query = \"{query}\", schema = \"{schema}\" }}"
                ),
            ),
        );
    };
    write(
        &format!("SELECT id, segment FROM {table}"),
        "id BIGINT, tier STRING",
    );
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("key `joins[0].table`")
            && error.contains("the result has no column `tier` (it has: id, segment)"),
        "{error}"
    );
    write(
        &format!("SELECT id, score FROM {table}"),
        "id BIGINT, score DOUBLE",
    );
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("column `score`: the database gives NUMERIC, which does not read as Float64; CAST it in the query"),
        "{error}"
    );
    write(
        &format!(
            "SELECT CAST(id AS TEXT) AS id, CAST(score AS DOUBLE PRECISION) AS score FROM {table}"
        ),
        "id STRING, score DOUBLE",
    );
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("the stream's `customer_id` is Int64 but the table's `id` is Utf8"),
        "{error}"
    );
    scratch.write(
        "pipeline.toml",
        &pipeline(
            weir_tests::services::POSTGRES_URL,
            "table = { connection = \"nope\", query = \"SELECT 1\", schema = \"customer_id BIGINT\" }",
        ),
    );
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains(
            "key `joins[0].table.connection`: no [connections.nope] is declared (declared: db)"
        ),
        "{error}"
    );
}

#[test]
fn a_sqlite_table_is_looked_up_as_the_other_databases_are() {
    let scratch = Scratch::new();
    scratch.write("in/a.csv", EVENTS);
    weir_tests::services::sqlite(
        &scratch.path().join("crm.db"),
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, segment TEXT, country TEXT); \
         INSERT INTO customers VALUES (1, 'gold', 'KR'), (2, 'silver', 'FR'), (3, 'gold', 'DE');",
    );
    scratch.write(
        "pipeline.toml",
        &pipeline(
            "sqlite:crm.db",
            "table_on = [\"id\"]\n\
             table = { connection = \"db\", query = \"SELECT id, segment, country FROM customers\", \
             lookup = true, schema = \"id BIGINT, segment STRING, country STRING\" }",
        ),
    );
    let out = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        rows(&scratch),
        vec![
            row("e1", "gold", "KR"),
            row("e3", "silver", "FR"),
            row("e5", "gold", "KR"),
        ]
    );
    assert!(
        out.stderr()
            .contains("(1 lookup queries for 3 keys, 0 rows from the cache)"),
        "{}",
        out.stderr()
    );
}

#[test]
fn a_loaded_table_whose_database_goes_away_keeps_its_last_version() {
    let proxy = Proxy::start("127.0.0.1:5432");
    let table = postgres_customers();
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    scratch.write(
        "pipeline.toml",
        &pipeline_with(
            &format!(
                "url = \"postgres://postgres@127.0.0.1:{}/test\"\nconnect_attempts = 1\nbackoff_ms = 100",
                proxy.port()
            ),
            &format!(
                "table_on = [\"id\"]\n\
                 table = {{ connection = \"db\", query = \"SELECT id, segment, country FROM {table}\", \
                 refresh = \"300ms\", schema = \"id BIGINT, segment STRING, country STRING\" }}"
            ),
        ),
    );
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    let written = || {
        std::fs::read_to_string(scratch.path().join("out.jsonl")).map_or(0, |t| t.lines().count())
    };
    scratch.write("in/a.csv", "event,customer_id,amount\ne1,1,1.0\n");
    wait_for("the first row", 30, || written() >= 1);
    proxy.cut();
    // The next refreshes fail; the rows after join the version read last.
    std::thread::sleep(std::time::Duration::from_millis(800));
    scratch.write("in/b.csv", "event,customer_id,amount\ne2,2,1.0\n");
    wait_for("the row after the outage", 30, || written() >= 2);
    let out = running.stop();
    assert_eq!(
        rows(&scratch),
        vec![row("e1", "gold", "KR"), row("e2", "silver", "FR")]
    );
    let log = out.stderr();
    assert!(
        log.contains("The table's new version cannot be read; the last version read stays in use."),
        "{log}"
    );
}
