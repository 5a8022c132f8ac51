//! examples/etl-multi-sink against the real MariaDB and PostgreSQL, and
//! kassandra (an in-memory CQL server in the test process) for Cassandra:
//! one stream fanned out to MySQL, PostgreSQL (Redshift flavor), Cassandra
//! and Hive-layout Parquet, and the ELT variant with its SQL. Only this
//! test uses the `etl_*` tables.

use std::process::Command;
use weir_tests::cassandra::Cassandra;
use weir_tests::services::{self, MYSQL_URL, POSTGRES_URL};
use weir_tests::{Run, Scratch, toml_path, weir_bin};

/// The `etl_*` tables and the example's epoch markers: held by this test and
/// by the README's (tests/e2e/docs.rs), which run the same pipelines.
pub(crate) static ETL_TABLES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Forgets the epochs an earlier run of the example committed: the example
/// keeps checkpoints, and a run from an empty checkpoint folder that met
/// them would refuse to start.
pub(crate) fn reset_epoch_markers() {
    for sql in [
        "CREATE TABLE IF NOT EXISTS weir_epochs (sink_id VARCHAR(255) NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL)",
        "DELETE FROM weir_epochs WHERE sink_id LIKE 'etl-multi-sink/%'",
    ] {
        services::mariadb(sql);
        services::psql(sql);
    }
}

fn run(scratch: &Scratch, pipeline: &str, cassandra_url: &str) -> Run {
    let output = Command::new(weir_bin())
        .args(["run", pipeline, "--available-now"])
        .current_dir(scratch.path())
        .env("WEIR_CACHE_DIR", scratch.path().join(".cache"))
        .env("MYSQL_URL", MYSQL_URL)
        .env("PG_URL", POSTGRES_URL)
        .env("CASSANDRA_URL", cassandra_url)
        .output()
        .unwrap();
    Run(output)
}

#[test]
fn etl_fans_one_stream_out_to_mysql_postgres_cassandra_and_parquet_and_elt_loads_raw_rows() {
    let _tables = ETL_TABLES.lock().unwrap_or_else(|e| e.into_inner());
    reset_epoch_markers();
    let scratch = Scratch::example("etl-multi-sink");
    // The keyspace is the sink's to create (create_keyspace = true).
    let cassandra = Cassandra::start();
    let cassandra_url = cassandra.url("shop");
    services::mariadb("DROP TABLE IF EXISTS etl_orders");
    services::mariadb(&scratch.read("tables.sql"));
    services::psql("DROP TABLE IF EXISTS etl_orders, etl_raw_orders, etl_orders_elt");

    let summary = run(&scratch, "pipeline.toml", &cassandra_url).ok().stderr();
    assert!(
        summary.contains("10 read = 9 out + 0 filtered + 1 dead-lettered")
            && summary.contains("sink orders-mysql: 8 rows written")
            && summary.contains("1 refused (dead-lettered)")
            && summary.contains("sink orders-warehouse: 9 rows written")
            && summary.contains("sink orders-cassandra: 9 rows written")
            && summary.contains("sink orders-lake: 9 rows written"),
        "{summary}"
    );

    let mysql =
        services::mariadb("SELECT order_id, name, amount FROM etl_orders ORDER BY order_id");
    assert_eq!(
        mysql,
        "1001|KIM MIN-JUN|120.5\n1002|ANNA SCHMIDT|85\n1003|LEE SEO-YEON|45.25\n1004|JAMES BROWN|310\n1006|MARIE DUBOIS|99.9\n1007|CHOI YUNA|15\n1009|EMMA WILSON|42"
    );
    let warehouse =
        services::psql("SELECT order_id, name, amount FROM etl_orders ORDER BY order_id");
    assert_eq!(
        warehouse,
        "1001|KIM MIN-JUN|120.5\n1002|ANNA SCHMIDT|85\n1003|LEE SEO-YEON|45.25\n1004|JAMES BROWN|310\n1005|PARK JI-HOON|-5\n1006|MARIE DUBOIS|99.9\n1007|CHOI YUNA|15\n1009|EMMA WILSON|42"
    );
    let ids: Vec<i64> = (1001..=1010).collect();
    assert_eq!(
        cassandra.rows(
            "shop.etl_orders",
            "order_id, name, amount",
            "order_id",
            &ids
        ),
        warehouse
    );
    let letters = scratch.dead_letters("out/dead-letter.jsonl");
    let stages: Vec<(&str, String)> = letters
        .iter()
        .map(|l| (l["stage"].as_str().unwrap(), l["reason"].to_string()))
        .collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(
        stages
            .iter()
            .any(|(s, r)| *s == "sink:orders-mysql" && r.contains("amount_positive")),
        "{stages:?}"
    );
    assert!(
        stages
            .iter()
            .any(|(s, r)| *s == "decode:csv" && r.contains("amount")),
        "{stages:?}"
    );

    let lake = services::pyarrow(&format!(
        r#"
import pyarrow.dataset as ds
t = ds.dataset({}, format="parquet", partitioning="hive").to_table()
print(t.num_rows, sorted(set(t["country"].to_pylist())), sorted(set(str(d) for d in t["day"].to_pylist())))
"#,
        toml_path(&scratch.path().join("out/orders"))
    ));
    assert_eq!(
        lake,
        "9 ['DE', 'FR', 'KR', 'US'] ['2026-11-20', '2026-11-21']"
    );

    // ELT: raw lines in, the transformation in SQL.
    let summary = run(&scratch, "elt.toml", &cassandra_url).ok().stderr();
    assert!(summary.contains("sink raw: 12 rows written"), "{summary}");
    services::psql(&scratch.read("elt.sql"));
    assert_eq!(
        services::psql("SELECT order_id, name, amount FROM etl_orders_elt ORDER BY order_id"),
        "1001|KIM MIN-JUN|120.5\n1002|ANNA SCHMIDT|85\n1003|LEE SEO-YEON|45.25\n1004|JAMES BROWN|310\n1006|MARIE DUBOIS|99.9\n1007|CHOI YUNA|15\n1009|EMMA WILSON|42"
    );
}
