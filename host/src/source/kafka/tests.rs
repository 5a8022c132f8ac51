//! In-process tests against librdkafka's mock cluster: offsets reach the
//! group only when the pipeline says a batch is written, and a broker that
//! goes away mid-run is waited for, with nothing lost.

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
