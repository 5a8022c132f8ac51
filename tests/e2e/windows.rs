//! Windows and watermarks against a brute-force oracle: random out-of-order
//! streams, random watermark delays and batch sizes; and named edge cases.

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use weir::config::{LatePolicy, OutputMode, WindowConfig, WindowKind};
use weir::window::WindowOperator;

#[derive(Debug, Clone, Copy)]
struct Event {
    t: i64,
    key: u8,
    value: i64,
}

fn config(kind: WindowKind, size: i64, slide: i64, delay: i64) -> WindowConfig {
    let us = |v: i64| Some(format!("{v}us"));
    WindowConfig {
        kind,
        size: matches!(kind, WindowKind::Tumbling | WindowKind::Sliding)
            .then(|| format!("{size}us")),
        slide: (kind == WindowKind::Sliding).then(|| format!("{slide}us")),
        gap: if kind == WindowKind::Session {
            us(size)
        } else {
            None
        },
        time: Some("t".into()),
        watermark: format!("{delay}us"),
        idle_timeout: None,
        group_by: vec!["k".into()],
        aggregates: [
            "count(*) AS n",
            "sum(v) AS sum",
            "min(v) AS min",
            "max(v) AS max",
            "first(v) AS first",
            "last(v) AS last",
        ]
        .map(String::from)
        .to_vec(),
        output: OutputMode::Append,
        late: LatePolicy::Drop,
    }
}

fn batch(events: &[Event]) -> RecordBatch {
    let t = TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.t))
        .with_timezone("UTC");
    RecordBatch::try_from_iter(vec![
        ("t", Arc::new(t) as ArrayRef),
        (
            "k",
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| format!("key{}", e.key)),
            )) as ArrayRef,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.value))) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// (start, end, key, n, sum, min, max, first, last)
type Row = (i64, i64, String, i64, i64, i64, i64, i64, i64);

fn rows(batch: &RecordBatch) -> Vec<Row> {
    let ts = |i: usize| {
        batch
            .column(i)
            .as_primitive::<TimestampMicrosecondType>()
            .clone()
    };
    let int = |i: usize| batch.column(i).as_primitive::<Int64Type>().clone();
    let (start, end, keys) = (ts(0), ts(1), batch.column(2).as_string::<i32>().clone());
    (0..batch.num_rows())
        .map(|r| {
            (
                start.value(r),
                end.value(r),
                keys.value(r).to_string(),
                int(3).value(r),
                int(4).value(r),
                int(5).value(r),
                int(6).value(r),
                int(7).value(r),
                int(8).value(r),
            )
        })
        .collect()
}

/// Runs the operator over `batches` and flushes; returns every emitted row and the late count.
fn run(config: &WindowConfig, batches: &[Vec<Event>]) -> (Vec<Row>, usize) {
    let schema = batch(&[]).schema();
    let mut op = WindowOperator::new(config, &schema).unwrap();
    let (mut out, mut late) = (Vec::new(), 0);
    let now = Instant::now();
    for b in batches {
        let result = op.process(&batch(b), 0, now).unwrap();
        late += result.late.len();
        out.extend(result.rows.iter().flat_map(rows));
    }
    out.extend(op.flush().unwrap().iter().flat_map(rows));
    out.sort();
    (out, late)
}

/// Aggregates of events given in arrival order (first/last break ties by arrival).
fn aggregate(events: &[(usize, Event)]) -> (i64, i64, i64, i64, i64, i64) {
    let n = events.len() as i64;
    let sum = events.iter().map(|(_, e)| e.value).sum();
    let min = events.iter().map(|(_, e)| e.value).min().unwrap();
    let max = events.iter().map(|(_, e)| e.value).max().unwrap();
    let first = events
        .iter()
        .min_by_key(|(seq, e)| (e.t, *seq))
        .unwrap()
        .1
        .value;
    let last = events
        .iter()
        .max_by_key(|(seq, e)| (e.t, *seq))
        .unwrap()
        .1
        .value;
    (n, sum, min, max, first, last)
}

/// Events of one window, with their arrival sequence numbers.
type Members = Vec<(usize, Event)>;

/// The oracle: lateness from the watermark each event met on arrival, then
/// windows recomputed from scratch over the events they received.
fn oracle(
    kind: WindowKind,
    size: i64,
    slide: i64,
    delay: i64,
    batches: &[Vec<Event>],
) -> (Vec<Row>, usize) {
    let mut watermark = i64::MIN;
    let mut max_seen = i64::MIN;
    let mut late = 0;
    let mut seq = 0;
    let mut groups: BTreeMap<(i64, i64, u8), Members> = BTreeMap::new();
    // Sessions: per key, open sessions as (start, end, events).
    let mut sessions: BTreeMap<u8, Vec<(i64, i64, Members)>> = BTreeMap::new();
    let mut closed: Vec<(i64, i64, u8, Members)> = Vec::new();
    for b in batches {
        for e in b {
            seq += 1;
            let floor = |t: i64, step: i64| t.div_euclid(step) * step;
            match kind {
                WindowKind::Tumbling | WindowKind::Sliding => {
                    let step = if kind == WindowKind::Tumbling {
                        size
                    } else {
                        slide
                    };
                    if floor(e.t, step) + size <= watermark {
                        late += 1;
                        continue;
                    }
                    // Every window [s, s + size) containing t, by brute force over starts.
                    let mut s = floor(e.t - size, step);
                    while s <= e.t {
                        if s <= e.t && e.t < s + size && s + size > watermark {
                            groups
                                .entry((s, s + size, e.key))
                                .or_default()
                                .push((seq, *e));
                        }
                        s += step;
                    }
                }
                WindowKind::Session => {
                    if e.t + size <= watermark {
                        late += 1;
                        continue;
                    }
                    let open = sessions.entry(e.key).or_default();
                    let (mut start, mut end, mut events) = (e.t, e.t + size, vec![(seq, *e)]);
                    open.retain(|(s, en, ev)| {
                        let overlaps = *s < e.t + size && e.t < *en;
                        if overlaps {
                            start = start.min(*s);
                            end = end.max(*en);
                            events.extend(ev.iter().copied());
                        }
                        !overlaps
                    });
                    open.push((start, end, events));
                }
                WindowKind::Global => unreachable!(),
            }
        }
        max_seen = b.iter().map(|e| e.t).fold(max_seen, i64::max);
        if max_seen != i64::MIN {
            watermark = watermark.max(max_seen - delay);
        }
        for (key, open) in sessions.iter_mut() {
            open.retain(|(s, en, ev)| {
                if *en <= watermark {
                    closed.push((*s, *en, *key, ev.clone()));
                }
                *en > watermark
            });
        }
    }
    for (key, open) in sessions {
        closed.extend(open.into_iter().map(|(s, en, ev)| (s, en, key, ev)));
    }
    let mut out: Vec<Row> = groups
        .into_iter()
        .map(|((s, e, k), ev)| {
            let (n, sum, min, max, first, last) = aggregate(&ev);
            (s, e, format!("key{k}"), n, sum, min, max, first, last)
        })
        .chain(closed.into_iter().map(|(s, e, k, ev)| {
            let (n, sum, min, max, first, last) = aggregate(&ev);
            (s, e, format!("key{k}"), n, sum, min, max, first, last)
        }))
        .collect();
    out.sort();
    (out, late)
}

/// A random stream: mostly increasing time with jitter, some stragglers
/// and jumps, negative times, in random batches.
fn stream(rng: &mut ChaCha8Rng) -> Vec<Vec<Event>> {
    let n = rng.random_range(0..300);
    let base = rng.random_range(-5_000..5_000i64);
    let mut events = Vec::new();
    for i in 0..n {
        let jitter = rng.random_range(-200..200i64);
        let straggle = if rng.random_range(0..20) == 0 {
            -rng.random_range(0..3_000i64)
        } else {
            0
        };
        let jump = if rng.random_range(0..150) == 0 {
            rng.random_range(0..20_000i64)
        } else {
            0
        };
        events.push(Event {
            t: base + i as i64 * 25 + jitter + straggle + jump,
            key: rng.random_range(0..4),
            value: rng.random_range(-1_000..1_000),
        });
    }
    let mut batches = Vec::new();
    while !events.is_empty() {
        let take = rng.random_range(1..=events.len().min(40));
        batches.push(events.drain(..take).collect());
    }
    batches
}

#[test]
fn random_out_of_order_streams_match_the_oracle() {
    for seed in 0..300u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let kind = [
            WindowKind::Tumbling,
            WindowKind::Sliding,
            WindowKind::Session,
        ][seed as usize % 3];
        let size = rng.random_range(1..8) * 100;
        let slide = size / rng.random_range(1..5).min(size / 100).max(1);
        let delay = rng.random_range(0..1_500);
        let batches = stream(&mut rng);
        let (got, got_late) = run(&config(kind, size, slide, delay), &batches);
        let (want, want_late) = oracle(kind, size, slide, delay, &batches);
        assert_eq!(
            got_late, want_late,
            "late rows, seed {seed} ({kind:?}, size {size}, slide {slide}, delay {delay})"
        );
        assert_eq!(
            got, want,
            "windows, seed {seed} ({kind:?}, size {size}, slide {slide}, delay {delay})"
        );
    }
}

fn one(t: i64, key: u8, value: i64) -> Event {
    Event { t, key, value }
}

#[test]
fn an_event_on_a_boundary_belongs_to_the_window_that_starts_there() {
    let (rows, _) = run(
        &config(WindowKind::Tumbling, 100, 0, 0),
        &[vec![one(100, 0, 1), one(99, 0, 2)]],
    );
    let windows: Vec<(i64, i64, i64)> = rows.iter().map(|r| (r.0, r.1, r.3)).collect();
    assert_eq!(windows, [(0, 100, 1), (100, 200, 1)]);
}

#[test]
fn empty_windows_are_not_emitted() {
    let (rows, _) = run(
        &config(WindowKind::Tumbling, 10, 0, 0),
        &[vec![one(5, 0, 1)], vec![one(95, 0, 1)]],
    );
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 90]);
}

#[test]
fn a_single_event_fills_every_sliding_window_it_falls_in() {
    let (rows, _) = run(
        &config(WindowKind::Sliding, 60, 15, 0),
        &[vec![one(31, 1, 7)]],
    );
    let starts: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(starts, [-15, 0, 15, 30]);
    assert!(
        rows.iter()
            .all(|r| r.3 == 1 && r.4 == 7 && r.7 == 7 && r.8 == 7)
    );
}

#[test]
fn an_event_far_in_the_future_makes_the_present_late() {
    let (rows, late) = run(
        &config(WindowKind::Tumbling, 10, 0, 5),
        &[vec![one(1_000_000, 0, 1)], vec![one(3, 0, 1)]],
    );
    assert_eq!(late, 1, "the watermark jumped to 999 995");
    assert_eq!(rows.len(), 1);
}

#[test]
fn times_before_1970_window_like_any_other() {
    let (rows, _) = run(
        &config(WindowKind::Tumbling, 1_000_000, 0, 0),
        &[vec![one(-1, 0, 1), one(-1_000_000, 0, 2)]],
    );
    assert_eq!(
        rows.iter().map(|r| (r.0, r.1, r.3)).collect::<Vec<_>>(),
        [(-1_000_000, 0, 2)]
    );
}

#[test]
fn time_zones_do_not_move_windows() {
    // The same instant written in Seoul time and in UTC lands in the same
    // hour window: windows are computed on UTC instants, so no DST or offset
    // shifts them.
    let hour = 3_600_000_000i64;
    let mut cfg = config(WindowKind::Tumbling, hour, 0, 0);
    cfg.group_by.clear();
    cfg.aggregates = vec!["count(*) AS n".into()];
    let seoul = TimestampMicrosecondArray::from(vec![hour * 10 + 5]).with_timezone("+09:00");
    let utc = TimestampMicrosecondArray::from(vec![hour * 10 + 6]).with_timezone("UTC");
    let mut op = WindowOperator::new(
        &cfg,
        &RecordBatch::try_from_iter(vec![("t", Arc::new(utc.clone()) as ArrayRef)])
            .unwrap()
            .schema(),
    )
    .unwrap();
    for column in [seoul, utc] {
        let b = RecordBatch::try_from_iter(vec![(
            "t",
            Arc::new(column.with_timezone("UTC")) as ArrayRef,
        )])
        .unwrap();
        op.process(&b, 0, Instant::now()).unwrap();
    }
    let out = op.flush().unwrap().unwrap();
    assert_eq!(out.num_rows(), 1);
    assert_eq!(
        out.column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        hour * 10
    );
    assert_eq!(out.column(2).as_primitive::<Int64Type>().value(0), 2);
}

#[test]
fn update_mode_emits_changed_groups_after_each_batch() {
    let mut cfg = config(WindowKind::Tumbling, 100, 0, 1_000);
    cfg.output = OutputMode::Update;
    let schema = batch(&[]).schema();
    let mut op = WindowOperator::new(&cfg, &schema).unwrap();
    let now = Instant::now();
    let first = op
        .process(&batch(&[one(1, 0, 5), one(2, 1, 5)]), 0, now)
        .unwrap()
        .rows
        .unwrap();
    assert_eq!(
        rows(&first)
            .iter()
            .map(|r| (r.2.clone(), r.3))
            .collect::<Vec<_>>(),
        [("key0".into(), 1), ("key1".into(), 1)]
    );
    let second = op
        .process(&batch(&[one(3, 0, 5)]), 0, now)
        .unwrap()
        .rows
        .unwrap();
    assert_eq!(
        rows(&second)
            .iter()
            .map(|r| (r.2.clone(), r.3))
            .collect::<Vec<_>>(),
        [("key0".into(), 2)],
        "only the changed group"
    );
    assert!(
        op.flush().unwrap().is_none(),
        "update mode has already said everything"
    );
}

#[test]
fn state_survives_a_snapshot_and_restore() {
    let cfg = config(WindowKind::Sliding, 100, 50, 10_000);
    let schema = batch(&[]).schema();
    let now = Instant::now();
    let mut op = WindowOperator::new(&cfg, &schema).unwrap();
    op.process(&batch(&[one(10, 0, 1), one(60, 1, 2)]), 0, now)
        .unwrap();
    let snapshot = op.snapshot();
    assert_eq!(snapshot[0], weir::window::STATE_VERSION);
    let mut restored = WindowOperator::new(&cfg, &schema).unwrap();
    restored.restore(&snapshot).unwrap();
    for o in [&mut op, &mut restored] {
        o.process(&batch(&[one(70, 0, 3)]), 0, now).unwrap();
    }
    let a = rows(&op.flush().unwrap().unwrap());
    let b = rows(&restored.flush().unwrap().unwrap());
    assert_eq!(a, b);
    let mut wrong = snapshot.clone();
    wrong[0] = 99;
    assert!(restored.restore(&wrong).unwrap_err().contains("version 99"));
}

#[test]
fn median_percentile_and_count_distinct_over_a_global_window() {
    let mut cfg = config(WindowKind::Global, 0, 0, 0);
    cfg.time = None;
    cfg.aggregates = [
        "median(v) AS med",
        "percentile(v, 0.9) AS p90",
        "count(distinct v) AS distinct",
        "avg(v) AS avg",
    ]
    .map(String::from)
    .to_vec();
    let schema = batch(&[]).schema();
    let mut op = WindowOperator::new(&cfg, &schema).unwrap();
    let events: Vec<Event> = [1, 2, 2, 3, 10].iter().map(|&v| one(0, 0, v)).collect();
    assert!(
        op.process(&batch(&events), 0, Instant::now())
            .unwrap()
            .rows
            .is_none(),
        "append: only at the end"
    );
    let out = op.flush().unwrap().unwrap();
    let f = |i: usize| {
        out.column(i)
            .as_primitive::<arrow::datatypes::Float64Type>()
            .value(0)
    };
    assert_eq!(
        out.schema().field(0).name(),
        "k",
        "a global window has no window columns"
    );
    assert_eq!(f(1), 2.0);
    assert!(
        (f(2) - 7.2).abs() < 1e-9,
        "p90 of 1,2,2,3,10 interpolates to 7.2, got {}",
        f(2)
    );
    assert_eq!(out.column(3).as_primitive::<Int64Type>().value(0), 4);
    assert_eq!(f(4), 3.6);
    assert!(!out.column(1).is_null(0));
}
