//! Prometheus metrics, rendered from a pipeline's status at each scrape:
//! the counts live in the pipeline, so the exposition is a view of them.

use super::status::PipelineStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PipelineLabels {
    pipeline: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    pipeline: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    pipeline: String,
    sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JoinLabels {
    pipeline: String,
    join: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    pipeline: String,
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SideLabels {
    pipeline: String,
    join: String,
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    pipeline: String,
    topic: String,
    partition: i32,
}

type Counts = Family<PipelineLabels, Counter>;
type PluginCounts = Family<PluginLabels, Counter>;

/// The Prometheus text exposition of `statuses`.
pub fn render(statuses: &[PipelineStatus]) -> String {
    let mut registry = Registry::with_prefix("weir");
    let read = Counts::default();
    let out = Counts::default();
    let dead = Counts::default();
    let batches = Counts::default();
    let decode_dead = Counts::default();
    let late = Counts::default();
    let sink_rows = Family::<SinkLabels, Counter>::default();
    let sink_refused = Family::<SinkLabels, Counter>::default();
    let calls = PluginCounts::default();
    let rows_in = PluginCounts::default();
    let rows_out = PluginCounts::default();
    let failed = PluginCounts::default();
    let traps = PluginCounts::default();
    let interruptions = PluginCounts::default();
    let busy = Family::<PluginLabels, Counter<f64, AtomicU64>>::default();
    let memory = Family::<PluginLabels, Gauge>::default();
    let state = Family::<PluginLabels, Gauge>::default();
    let state_refusals = PluginCounts::default();
    let logs_dropped = PluginCounts::default();
    let reloads = Family::<ReloadLabels, Counter>::default();
    let lag = Family::<PartitionLabels, Gauge>::default();
    let watermark = Family::<PipelineLabels, Gauge>::default();
    let lookup_queries = Family::<JoinLabels, Counter>::default();
    let lookup_keys = Family::<JoinLabels, Counter>::default();
    let lookup_cache_hits = Family::<JoinLabels, Counter>::default();
    let interval_in = Family::<SideLabels, Counter>::default();
    let interval_out = Family::<JoinLabels, Counter>::default();
    let interval_late = Family::<JoinLabels, Counter>::default();
    let interval_held = Family::<SideLabels, Gauge>::default();
    for status in statuses {
        let counts = &status.counts;
        let p = PipelineLabels {
            pipeline: counts.pipeline.clone(),
        };
        read.get_or_create(&p).inc_by(counts.records_read);
        out.get_or_create(&p).inc_by(counts.rows_out);
        dead.get_or_create(&p).inc_by(counts.dead_lettered);
        batches.get_or_create(&p).inc_by(counts.batches);
        decode_dead
            .get_or_create(&p)
            .inc_by(counts.decode_dead_lettered);
        if let Some(w) = &counts.window {
            late.get_or_create(&p)
                .inc_by(w.late_dropped + w.late_dead_lettered);
            if let Some(ms) = w.watermark_ms {
                watermark.get_or_create(&p).set(ms);
            }
        }
        for partition in &status.progress.partitions {
            if let Some(behind) = partition.lag {
                let l = PartitionLabels {
                    pipeline: counts.pipeline.clone(),
                    topic: partition.topic.clone(),
                    partition: partition.partition,
                };
                lag.get_or_create(&l).set(behind);
            }
        }
        for (join, l) in counts
            .transforms
            .iter()
            .filter_map(|t| Some((&t.name, t.lookups?)))
        {
            let labels = JoinLabels {
                pipeline: counts.pipeline.clone(),
                join: join.clone(),
            };
            lookup_queries.get_or_create(&labels).inc_by(l.queries);
            lookup_keys.get_or_create(&labels).inc_by(l.keys);
            lookup_cache_hits
                .get_or_create(&labels)
                .inc_by(l.cache_hits);
        }
        if let Some(j) = &counts.interval_join {
            let labels = JoinLabels {
                pipeline: counts.pipeline.clone(),
                join: j.name.clone(),
            };
            interval_out.get_or_create(&labels).inc_by(j.rows_out);
            interval_late
                .get_or_create(&labels)
                .inc_by(j.late_dropped + j.late_dead_lettered);
            let held = [j.held_left, j.held_right];
            for (side, source) in j.sources.iter().enumerate() {
                let l = SideLabels {
                    pipeline: counts.pipeline.clone(),
                    join: j.name.clone(),
                    source: source.clone(),
                };
                interval_in.get_or_create(&l).inc_by(j.rows_in[side]);
                interval_held.get_or_create(&l).set(held[side] as i64);
            }
        }
        for sink in &counts.sinks {
            let l = SinkLabels {
                pipeline: counts.pipeline.clone(),
                sink: sink.name.clone(),
            };
            sink_rows.get_or_create(&l).inc_by(sink.rows);
            sink_refused.get_or_create(&l).inc_by(sink.dead_lettered);
        }
        for plugin in &status.plugins {
            let l = PluginLabels {
                pipeline: status.counts.pipeline.clone(),
                plugin: plugin.name.clone(),
            };
            let s = &plugin.stats;
            calls.get_or_create(&l).inc_by(s.calls);
            rows_in.get_or_create(&l).inc_by(s.rows_in);
            rows_out.get_or_create(&l).inc_by(s.rows_out);
            failed.get_or_create(&l).inc_by(s.failed_batches);
            traps.get_or_create(&l).inc_by(s.traps);
            interruptions.get_or_create(&l).inc_by(s.interruptions);
            busy.get_or_create(&l).inc_by(s.busy_seconds);
            memory.get_or_create(&l).set(s.memory_bytes as i64);
            state.get_or_create(&l).set(s.state_bytes as i64);
            state_refusals.get_or_create(&l).inc_by(s.state_refusals);
            logs_dropped.get_or_create(&l).inc_by(s.logs_dropped);
        }
        for event in &status.reloads {
            reloads
                .get_or_create(&ReloadLabels {
                    pipeline: status.counts.pipeline.clone(),
                    plugin: event.plugin.clone(),
                    outcome: event.outcome.clone(),
                })
                .inc();
        }
    }
    registry.register("records_read", "Records read from the source", read);
    registry.register("rows_out", "Rows written to the sinks", out);
    registry.register(
        "dead_lettered",
        "Records and rows sent to the dead-letter",
        dead,
    );
    registry.register("batches", "Batches read from the source", batches);
    registry.register(
        "decode_dead_lettered",
        "Records the decoder refused (dead-lettered)",
        decode_dead,
    );
    registry.register(
        "window_late",
        "Rows behind the watermark (dropped or dead-lettered)",
        late,
    );
    registry.register(
        "window_watermark_ms",
        "The window's event-time watermark, ms since the Unix epoch",
        watermark,
    );
    registry.register(
        "kafka_lag",
        "Records in a Kafka partition not read yet (its high watermark less the next offset)",
        lag,
    );
    registry.register(
        "join_lookup_queries",
        "Statements a lookup join ran (one per batch with keys its cache did not know)",
        lookup_queries,
    );
    registry.register(
        "join_lookup_keys",
        "Distinct keys a lookup join asked its database for",
        lookup_keys,
    );
    registry.register(
        "join_lookup_cache_hits",
        "Rows whose key a lookup join's cache knew",
        lookup_cache_hits,
    );
    registry.register(
        "interval_join_rows_in",
        "Rows an interval join took from each of its sources",
        interval_in,
    );
    registry.register(
        "interval_join_rows_out",
        "Joined rows an interval join emitted",
        interval_out,
    );
    registry.register(
        "interval_join_late",
        "Rows behind their side's watermark (dropped or dead-lettered)",
        interval_late,
    );
    registry.register(
        "interval_join_held_rows",
        "Rows an interval join holds now, of each source",
        interval_held,
    );
    registry.register("sink_rows", "Rows a sink wrote", sink_rows);
    registry.register(
        "sink_refused",
        "Rows a sink refused (dead-lettered with its reason)",
        sink_refused,
    );
    registry.register("plugin_calls", "Calls of a plugin's process", calls);
    registry.register("plugin_rows_in", "Rows given to a plugin", rows_in);
    registry.register("plugin_rows_out", "Rows a plugin returned", rows_out);
    registry.register(
        "plugin_failed_batches",
        "Batches a plugin failed (error, trap, limit, broken output)",
        failed,
    );
    registry.register("plugin_traps", "Calls that trapped", traps);
    registry.register(
        "plugin_interruptions",
        "Calls stopped at their deadline (epoch interruption)",
        interruptions,
    );
    registry.register(
        "plugin_busy_seconds",
        "Time spent in a plugin's process calls",
        busy,
    );
    registry.register(
        "plugin_memory_bytes",
        "Linear memory of a plugin's current instance",
        memory,
    );
    registry.register(
        "plugin_state_bytes",
        "Bytes of keys and values in a plugin's key-value state",
        state,
    );
    registry.register(
        "plugin_state_refusals",
        "State writes refused at the plugin's state_limit_mb (each failed its batch)",
        state_refusals,
    );
    registry.register(
        "plugin_logs_dropped",
        "Log messages dropped past the per-call budget",
        logs_dropped,
    );
    registry.register("plugin_reloads", "Reload steps by outcome", reloads);
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}
