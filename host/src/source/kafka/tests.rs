//! In-process tests against librdkafka's mock cluster: offsets reach the
//! group only when the pipeline says a batch is written, a broker that
//! goes away mid-run is waited for, with nothing lost, and the assignment
//! is announced (for the windows' watermark) at the start and at each
//! rebalance.

use super::*;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::atomic::AtomicBool;

fn produce(brokers: &str, from: usize, to: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for i in from..to {
        let value = format!("record-{i}");
        producer
            .send(BaseRecord::<(), str>::to("t").payload(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn source(brokers: &str, stop: &Arc<AtomicBool>) -> KafkaSource {
    let config: KafkaSourceConfig = toml::from_str(&format!(
        "brokers = \"{brokers}\"\ntopics = [\"t\"]\ngroup = \"g\"\nformat = \"lines\"\nmax_wait_ms = 200\n"
    ))
    .unwrap();
    let mode = RunMode {
        available_now: false,
        flush: false,
        stop: stop.clone(),
    };
    KafkaSource::new(&config, mode).unwrap()
}

/// Reads until `n` records have come; their offsets.
fn read(source: &mut KafkaSource, n: usize, commit: bool) -> Vec<i64> {
    let mut offsets = Vec::new();
    while offsets.len() < n {
        let batch = source.next_batch().unwrap().expect("a batch");
        let column = batch.rows.data.column_by_name("_offset").unwrap();
        let column = column
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        offsets.extend(column.values().iter());
        if commit {
            source.commit().unwrap();
        }
    }
    offsets
}

#[test]
fn offsets_reach_the_group_only_once_the_batch_is_written() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, 0, 10);
    let stop = Arc::new(AtomicBool::new(false));

    // Read but never written (no commit): the next member reads it all again.
    let mut first = source(&brokers, &stop);
    assert_eq!(read(&mut first, 10, false), (0..10).collect::<Vec<_>>());
    drop(first);

    let mut second = source(&brokers, &stop);
    assert_eq!(read(&mut second, 10, true), (0..10).collect::<Vec<_>>());
    second.close().unwrap();
    drop(second);

    // Written and committed: the next member starts after it.
    produce(&brokers, 10, 15);
    let mut third = source(&brokers, &stop);
    assert_eq!(read(&mut third, 5, true), (10..15).collect::<Vec<_>>());
}

#[test]
fn a_broker_that_goes_away_mid_run_is_waited_for_and_nothing_is_lost() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, 0, 10);
    let stop = Arc::new(AtomicBool::new(false));
    let mut source = source(&brokers, &stop);
    assert_eq!(read(&mut source, 10, true), (0..10).collect::<Vec<_>>());

    cluster.broker_down(1).unwrap();
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            stop.store(true, Ordering::Relaxed);
        })
    };
    // Down: no records and no error (only idle heartbeats), until asked to stop.
    while let Some(batch) = source.next_batch().unwrap() {
        assert_eq!(batch.records(), 0, "records while the broker is down");
    }
    timer.join().unwrap();
    stop.store(false, Ordering::Relaxed);

    cluster.broker_up(1).unwrap();
    produce(&brokers, 10, 20);
    assert_eq!(read(&mut source, 10, true), (10..20).collect::<Vec<_>>());
}

/// Polls `source` until it announces an assignment (at most `seconds`).
fn announced(source: &mut KafkaSource, seconds: u64) -> Vec<i32> {
    let until = Instant::now() + Duration::from_secs(seconds);
    loop {
        source.next_batch().unwrap().expect("a batch");
        if let Some(ids) = source.assignment_changed() {
            return ids;
        }
        assert!(
            Instant::now() < until,
            "no assignment announced in {seconds} s"
        );
    }
}

#[test]
fn the_assignment_is_announced_at_the_start_and_after_a_rebalance() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("t", 3, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let stop = Arc::new(AtomicBool::new(false));
    let mut first = source(&brokers, &stop);
    // Every partition, empty ones too, before any record arrives.
    assert_eq!(announced(&mut first, 30), vec![0, 1, 2]);
    first.next_batch().unwrap();
    assert_eq!(first.assignment_changed(), None, "announced once");

    // A second member joins: the first announces what it keeps.
    let mut second = source(&brokers, &stop);
    let until = Instant::now() + Duration::from_secs(60);
    let (mut kept, mut taken) = (vec![0, 1, 2], Vec::new());
    while kept.len() + taken.len() != 3 || taken.is_empty() {
        assert!(
            Instant::now() < until,
            "no rebalance: {kept:?} and {taken:?}"
        );
        first.next_batch().unwrap();
        if let Some(ids) = first.assignment_changed() {
            kept = ids;
        }
        second.next_batch().unwrap();
        if let Some(ids) = second.assignment_changed() {
            taken = ids;
        }
    }
    assert!(!kept.is_empty() && kept.len() < 3, "{kept:?}");
    // Records of the first member's partitions carry the ids it announced.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for partition in 0..3 {
        for i in 0..20 {
            let value = format!("record-{partition}-{i}");
            producer
                .send(
                    BaseRecord::<(), str>::to("t")
                        .payload(&value)
                        .partition(partition),
                )
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < kept.len() {
        assert!(Instant::now() < until, "read only partitions {seen:?}");
        let batch = first.next_batch().unwrap().expect("a batch");
        if batch.records() > 0 {
            seen.insert(batch.partition);
        }
        second.next_batch().unwrap();
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), kept);
}
