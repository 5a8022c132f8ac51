//! The run summary: what was read, kept, filtered, aggregated and
//! dead-lettered, stage by stage, and whether the counts add up (they must).

use crate::runtime::RowSelection;
use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub source: String,
    pub batches: u64,
    /// Records the source read, decoded or not.
    pub records_read: u64,
    pub decode_dead_lettered: u64,
    /// The stream–stream join of a pipeline with two sources, which the
    /// records read enter before any transform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_join: Option<IntervalJoinCounts>,
    /// Transforms before the window (all of them without one).
    pub transforms: Vec<TransformCounts>,
    pub window: Option<WindowCounts>,
    pub after_window: Vec<TransformCounts>,
    pub sinks: Vec<SinkCounts>,
    /// Rows that came out of the last stage.
    pub rows_out: u64,
    /// Dead letters written, from every stage.
    pub dead_lettered: u64,
    pub dead_letter_target: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TransformCounts {
    pub name: String,
    /// `join` for a stream–table join, which counts as a transform does
    /// (unmatched rows it drops are `filtered`); unset for a plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Input rows that produced no output and were not rejected.
    pub filtered: u64,
    pub dead_lettered: u64,
    /// Output rows beyond one per input row (flat-map).
    pub expanded: u64,
    pub failed_batches: u64,
    /// Rows counted as both kept and rejected (or rejected twice) beyond
    /// the batch's size: never more than 0 unless weir has a bug; any makes
    /// the summary unbalanced rather than wrap below zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub overcounted: u64,
    /// A lookup join's traffic with its database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookups: Option<LookupCounts>,
    /// A join's table records refused (a changelog record that cannot be
    /// decoded): dead letters that are not rows of the stream.
    #[serde(skip_serializing_if = "is_zero")]
    pub table_dead_lettered: u64,
}

/// What a join that looks keys up asked its database, and what its cache
/// answered.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct LookupCounts {
    /// Statements run: one per batch with keys the cache did not know.
    pub queries: u64,
    /// Distinct keys those statements asked for.
    pub keys: u64,
    /// Rows whose key the cache knew (found, or known missing).
    pub cache_hits: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An interval join's rows: each row in is held (to be matched), late or
/// without an event time; joined rows go out in event-time order.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IntervalJoinCounts {
    pub name: String,
    /// The left and right sources' names.
    pub sources: [String; 2],
    /// Rows in from the left and the right source.
    pub rows_in: [u64; 2],
    /// Rows taken into the join's state, to be matched.
    pub held: u64,
    pub late_dropped: u64,
    pub late_dead_lettered: u64,
    /// Rows without an event time (always dead-lettered).
    pub untimed: u64,
    /// Joined rows made of a left and a right row.
    pub matched: u64,
    /// A `left` join's left rows that never matched, made rows with nulls.
    pub unmatched: u64,
    /// Joined rows emitted.
    pub rows_out: u64,
    /// Joined rows made but not emitted yet (waiting for the watermarks).
    pub waiting: u64,
    /// Waiting joined rows taken back from a checkpoint, and waiting rows a
    /// restart threw away (its replay makes them again).
    #[serde(skip_serializing_if = "is_zero")]
    pub restored: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub abandoned: u64,
    /// Rows held now, of each side.
    pub held_left: u64,
    pub held_right: u64,
}

impl IntervalJoinCounts {
    fn balanced(&self) -> Option<bool> {
        let rows_in = self.rows_in[0].checked_add(self.rows_in[1])?;
        let made = total(&[self.matched, self.unmatched, self.restored])?;
        Some(
            rows_in
                == total(&[
                    self.held,
                    self.late_dropped,
                    self.late_dead_lettered,
                    self.untimed,
                ])?
                && made == total(&[self.rows_out, self.waiting, self.abandoned])?,
        )
    }

    fn dead_lettered(&self) -> Option<u64> {
        self.late_dead_lettered.checked_add(self.untimed)
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct WindowCounts {
    pub kind: String,
    pub rows_in: u64,
    /// Rows added to at least one window.
    pub aggregated: u64,
    pub late_dropped: u64,
    pub late_dead_lettered: u64,
    /// Rows without an event time (always dead-lettered).
    pub untimed: u64,
    /// Aggregate rows emitted.
    pub rows_out: u64,
    /// Groups still open at the end of the run.
    pub open_groups: u64,
    /// RFC 3339, once there is one.
    pub watermark: Option<String>,
    /// The same in milliseconds since the Unix epoch (not once flushed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_ms: Option<i64>,
    /// Each source partition's watermark: the window's is the least of
    /// those not idle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionWatermark>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionWatermark {
    /// The partition's watermark id (its Kafka partition, on one topic).
    pub partition: i32,
    pub watermark_ms: Option<i64>,
    /// Idle partitions do not hold the window's watermark back.
    pub idle: bool,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct SinkCounts {
    pub name: String,
    pub target: String,
    /// Rows the sink wrote.
    pub rows: u64,
    /// Rows the sink refused (sent to the dead-letter with the reason).
    pub dead_lettered: u64,
}

/// One stage's counters, as its operator reports them.
#[derive(Debug, Clone)]
pub enum StageCounts {
    Transform(TransformCounts),
    IntervalJoin(IntervalJoinCounts),
    Window(WindowCounts),
    Sinks(Vec<SinkCounts>),
}

impl RunSummary {
    /// Takes the stages' counters in pipeline order: the transforms before
    /// the window (all of them without one), the window, the after-window
    /// transforms, the sinks.
    pub fn set_stages(&mut self, stages: impl IntoIterator<Item = StageCounts>) {
        self.transforms.clear();
        self.after_window.clear();
        self.sinks.clear();
        self.window = None;
        self.interval_join = None;
        for stage in stages {
            match stage {
                StageCounts::IntervalJoin(j) => self.interval_join = Some(j),
                StageCounts::Transform(t) if self.window.is_none() => self.transforms.push(t),
                StageCounts::Transform(t) => self.after_window.push(t),
                StageCounts::Window(w) => self.window = Some(w),
                StageCounts::Sinks(s) => self.sinks = s,
            }
        }
    }
}

impl TransformCounts {
    pub fn new(name: &str) -> Self {
        TransformCounts {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Counts a processed batch of `n` input rows made into the rows of
    /// `selection`, with `rejected` rows refused.
    pub fn record(&mut self, n: usize, selection: &RowSelection, rejected: usize) {
        let (out, distinct) = (selection.output_rows(), selection.distinct_input_rows());
        let (out, distinct, n, rejected) = (out as u64, distinct as u64, n as u64, rejected as u64);
        self.rows_out = self.rows_out.saturating_add(out);
        self.expanded = self.expanded.saturating_add(out.saturating_sub(distinct));
        self.dead_lettered = self.dead_lettered.saturating_add(rejected);
        // Checked, not wrapped: a batch whose kept and rejected rows exceed
        // its size is a miscount to show, never a huge "filtered" figure.
        let accounted = distinct.saturating_add(rejected);
        match n.checked_sub(accounted) {
            Some(filtered) => self.filtered = self.filtered.saturating_add(filtered),
            None => self.overcounted = self.overcounted.saturating_add(accounted - n),
        }
    }
}

impl SinkCounts {
    pub fn new(name: &str, target: &str) -> Self {
        SinkCounts {
            name: name.to_string(),
            target: target.to_string(),
            rows: 0,
            dead_lettered: 0,
        }
    }
}

fn sum(counts: &[TransformCounts], field: fn(&TransformCounts) -> u64) -> u64 {
    counts.iter().map(field).fold(0, u64::saturating_add)
}

/// A sum that is `None` when it overflows: counts that large cannot be
/// compared, so they do not balance.
fn total(parts: &[u64]) -> Option<u64> {
    parts.iter().try_fold(0u64, |a, &b| a.checked_add(b))
}

/// A checked sum over transforms.
fn checked(counts: &[TransformCounts], field: fn(&TransformCounts) -> u64) -> Option<u64> {
    counts.iter().try_fold(0u64, |a, t| a.checked_add(field(t)))
}

impl RunSummary {
    fn sink_dead_lettered(&self) -> u64 {
        self.sinks
            .iter()
            .map(|s| s.dead_lettered)
            .fold(0, u64::saturating_add)
    }

    /// Every record read is accounted for: out (or into a window), filtered,
    /// dead-lettered, or dropped late; and every aggregate row likewise.
    /// All arithmetic is checked: a sum that overflows does not balance.
    pub fn balanced(&self) -> bool {
        self.check().is_some_and(|ok| ok)
    }

    fn check(&self) -> Option<bool> {
        let all = |counts: &[TransformCounts]| counts.iter().all(|t| t.overcounted == 0);
        if !all(&self.transforms) || !all(&self.after_window) {
            return Some(false);
        }
        let (late_dead, untimed) = self
            .window
            .as_ref()
            .map_or((0, 0), |w| (w.late_dead_lettered, w.untimed));
        // The records the row-level stages start from: those read, or with
        // an interval join, the joined rows it emitted; what the join or
        // the decoders dead-lettered is not among them.
        // The join's letters count with the decoders', before those stages.
        let (records_in, entry_dead, join_dead) = match &self.interval_join {
            None => (self.records_read, self.decode_dead_lettered, 0),
            Some(j) => {
                let joined = self.records_read
                    == total(&[self.decode_dead_lettered, j.rows_in[0], j.rows_in[1]])?;
                if !joined || !j.balanced()? {
                    return Some(false);
                }
                let letters = total(&[self.decode_dead_lettered, j.dead_lettered()?])?;
                (j.rows_out, 0, letters)
            }
        };
        let before_dead = total(&[
            entry_dead,
            checked(&self.transforms, |t| t.dead_lettered)?,
            late_dead,
            untimed,
        ])?;
        // Rows that left the record-level part of the pipeline: aggregated
        // into windows, or out to the sinks when there is no window.
        let record_level_out = match &self.window {
            None => self.rows_out,
            Some(w) => w.aggregated.checked_add(w.late_dropped)?,
        };
        let records = records_in.checked_add(checked(&self.transforms, |t| t.expanded)?)?
            == total(&[
                record_level_out,
                checked(&self.transforms, |t| t.filtered)?,
                before_dead,
            ])?;
        let window = match &self.window {
            None => true,
            Some(w) => {
                w.rows_in
                    == total(&[
                        w.aggregated,
                        w.late_dropped,
                        w.late_dead_lettered,
                        w.untimed,
                    ])?
                    && w.rows_out
                        .checked_add(checked(&self.after_window, |t| t.expanded)?)?
                        == total(&[
                            self.rows_out,
                            checked(&self.after_window, |t| t.filtered)?,
                            checked(&self.after_window, |t| t.dead_lettered)?,
                        ])?
            }
        };
        // Each sink gets every row out: it writes it or dead-letters it.
        let mut sinks = true;
        for s in &self.sinks {
            sinks &= s.rows.checked_add(s.dead_lettered)? == self.rows_out;
        }
        let sink_dead = self
            .sinks
            .iter()
            .try_fold(0u64, |a, s| a.checked_add(s.dead_lettered))?;
        let letters = self.dead_lettered
            == total(&[
                join_dead,
                before_dead,
                checked(&self.transforms, |t| t.table_dead_lettered)?,
                checked(&self.after_window, |t| t.dead_lettered)?,
                sink_dead,
            ])?;
        Some(records && window && sinks && letters)
    }
}

/// Late rows in all, and what became of them, for the summary's lines.
fn late_rows(dropped: u64, dead_lettered: u64) -> (u64, &'static str) {
    let fate = if dead_lettered > 0 {
        "dead-lettered"
    } else {
        "dropped"
    };
    (dropped + dead_lettered, fate)
}

fn write_transform(
    f: &mut std::fmt::Formatter<'_>,
    label: &str,
    t: &TransformCounts,
) -> std::fmt::Result {
    write!(
        f,
        "  {label} {}: {} in, {} out, {} filtered, {} dead-lettered",
        t.name, t.rows_in, t.rows_out, t.filtered, t.dead_lettered
    )?;
    if t.expanded > 0 {
        write!(f, ", {} added by flat-map", t.expanded)?;
    }
    if t.table_dead_lettered > 0 {
        write!(
            f,
            " ({} table records dead-lettered)",
            t.table_dead_lettered
        )?;
    }
    if let Some(l) = t.lookups {
        write!(
            f,
            " ({} lookup queries for {} keys, {} rows from the cache)",
            l.queries, l.keys, l.cache_hits
        )?;
    }
    if t.failed_batches > 0 {
        write!(f, " ({} failed batches)", t.failed_batches)?;
    }
    if t.overcounted > 0 {
        write!(
            f,
            " (MISCOUNTED: {} rows counted both kept and rejected)",
            t.overcounted
        )?;
    }
    writeln!(f)
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "pipeline {}: {} records read from {} in {} batches",
            self.pipeline, self.records_read, self.source, self.batches
        )?;
        writeln!(f, "  decode: {} dead-lettered", self.decode_dead_lettered)?;
        if let Some(j) = &self.interval_join {
            let (late, fate) = late_rows(j.late_dropped, j.late_dead_lettered);
            writeln!(
                f,
                "  interval join {}: {} in from {}, {} from {}; {late} late ({fate}), {} without event time; {} rows out ({} matched, {} unmatched left rows, {} waiting for the watermarks), {} + {} rows held",
                j.name,
                j.rows_in[0],
                j.sources[0],
                j.rows_in[1],
                j.sources[1],
                j.untimed,
                j.rows_out,
                j.matched,
                j.unmatched,
                j.waiting,
                j.held_left,
                j.held_right,
            )?;
        }
        for t in &self.transforms {
            write_transform(f, t.kind.unwrap_or("transform"), t)?;
        }
        if let Some(w) = &self.window {
            let (late, fate) = late_rows(w.late_dropped, w.late_dead_lettered);
            writeln!(
                f,
                "  window {}: {} in, {} aggregated, {late} late ({fate}), {} without event time; {} rows out, {} groups open, watermark {}",
                w.kind,
                w.rows_in,
                w.aggregated,
                w.untimed,
                w.rows_out,
                w.open_groups,
                w.watermark.as_deref().unwrap_or("none yet")
            )?;
        }
        for t in &self.after_window {
            write_transform(f, "after-window transform", t)?;
        }
        for s in &self.sinks {
            write!(
                f,
                "  sink {}: {} rows written to {}",
                s.name, s.rows, s.target
            )?;
            if s.dead_lettered > 0 {
                write!(f, ", {} refused (dead-lettered)", s.dead_lettered)?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "  dead-letter: {} rows written to {}",
            self.dead_lettered, self.dead_letter_target
        )?;
        let verdict = if self.balanced() {
            "all accounted for"
        } else {
            "COUNTS DO NOT ADD UP (a bug in weir)"
        };
        let expanded = sum(&self.transforms, |t| t.expanded);
        let flat_map = if expanded > 0 {
            format!(" - {expanded} added by flat-map")
        } else {
            String::new()
        };
        let mut before_dead = self.dead_lettered.saturating_sub(
            sum(&self.after_window, |t| t.dead_lettered).saturating_add(self.sink_dead_lettered()),
        );
        // With an interval join, the row-level stages start from its rows
        // (its own balance is on its line), and its letters are not theirs.
        let (first, label) = match &self.interval_join {
            None => (self.records_read, "read"),
            Some(j) => {
                let join_dead = j.dead_lettered().unwrap_or(u64::MAX);
                before_dead = before_dead
                    .saturating_sub(join_dead)
                    .saturating_sub(self.decode_dead_lettered);
                (j.rows_out, "joined")
            }
        };
        match &self.window {
            None => write!(
                f,
                "  {first} {label} = {} out + {} filtered + {} dead-lettered{flat_map}: {verdict}",
                self.rows_out,
                sum(&self.transforms, |t| t.filtered),
                before_dead
            ),
            Some(w) => write!(
                f,
                "  {first} {label} = {} aggregated + {} filtered + {} dead-lettered + {} late dropped{flat_map}; {} aggregate rows, {} out: {verdict}",
                w.aggregated,
                sum(&self.transforms, |t| t.filtered),
                before_dead,
                w.late_dropped,
                w.rows_out,
                self.rows_out
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_transform(read: u64) -> RunSummary {
        RunSummary {
            records_read: read,
            transforms: vec![TransformCounts::new("t")],
            sinks: vec![SinkCounts::new("s", "out")],
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_rejecting_more_rows_than_it_has_is_a_miscount_not_a_wrap() {
        let mut summary = one_transform(4);
        // 4 rows: 2 kept, and 4 rejections (the same rows rejected twice).
        let kept = RowSelection::filter(vec![true, true, false, false].into());
        summary.transforms[0].record(4, &kept, 4);
        assert_eq!(summary.transforms[0].filtered, 0);
        assert_eq!(summary.transforms[0].overcounted, 2);
        summary.rows_out = 2;
        summary.sinks[0].rows = 2;
        summary.dead_lettered = 4;
        assert!(!summary.balanced());
        let shown = summary.to_string();
        assert!(shown.contains("MISCOUNTED: 2 rows"), "{shown}");
        assert!(
            shown.ends_with("COUNTS DO NOT ADD UP (a bug in weir)"),
            "{shown}"
        );
    }

    #[test]
    fn sums_that_overflow_do_not_balance() {
        // Wrapping arithmetic would make u64::MAX + 2 equal 1 and balance.
        let mut summary = one_transform(1);
        summary.transforms[0].filtered = u64::MAX;
        summary.transforms[0].expanded = 0;
        summary.rows_out = 2;
        summary.sinks[0].rows = 2;
        assert!(!summary.balanced());
    }

    #[test]
    fn counts_that_add_up_balance() {
        let mut summary = one_transform(4);
        let kept = RowSelection::filter(vec![true, false, false, true].into());
        summary.transforms[0].record(4, &kept, 1);
        summary.rows_out = 2;
        summary.sinks[0].rows = 2;
        summary.dead_lettered = 1;
        assert!(summary.balanced(), "{summary}");
    }
}
