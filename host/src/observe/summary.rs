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
    pub rows_in: u64,
    pub rows_out: u64,
    /// Input rows that produced no output and were not rejected.
    pub filtered: u64,
    pub dead_lettered: u64,
    /// Output rows beyond one per input row (flat-map).
    pub expanded: u64,
    pub failed_batches: u64,
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
        for stage in stages {
            match stage {
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
        self.rows_out += out as u64;
        self.expanded += (out - distinct) as u64;
        self.dead_lettered += rejected as u64;
        self.filtered += (n - distinct - rejected) as u64;
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
    counts.iter().map(field).sum()
}

impl RunSummary {
    fn sink_dead_lettered(&self) -> u64 {
        self.sinks.iter().map(|s| s.dead_lettered).sum()
    }

    /// Rows that left the record-level part of the pipeline: aggregated into
    /// windows, or out to the sinks when there is no window.
    fn record_level_out(&self) -> u64 {
        self.window
            .as_ref()
            .map_or(self.rows_out, |w| w.aggregated + w.late_dropped)
    }

    /// Every record read is accounted for: out (or into a window), filtered,
    /// dead-lettered, or dropped late; and every aggregate row likewise.
    pub fn balanced(&self) -> bool {
        let before_dead = self.decode_dead_lettered
            + sum(&self.transforms, |t| t.dead_lettered)
            + self
                .window
                .as_ref()
                .map_or(0, |w| w.late_dead_lettered + w.untimed);
        let records = self.records_read + sum(&self.transforms, |t| t.expanded)
            == self.record_level_out() + sum(&self.transforms, |t| t.filtered) + before_dead;
        let window = self.window.as_ref().is_none_or(|w| {
            w.rows_in == w.aggregated + w.late_dropped + w.late_dead_lettered + w.untimed
                && w.rows_out + sum(&self.after_window, |t| t.expanded)
                    == self.rows_out
                        + sum(&self.after_window, |t| t.filtered)
                        + sum(&self.after_window, |t| t.dead_lettered)
        });
        // Each sink gets every row out: it writes it or dead-letters it.
        let sinks = self
            .sinks
            .iter()
            .all(|s| s.rows + s.dead_lettered == self.rows_out);
        let letters = self.dead_lettered
            == before_dead
                + sum(&self.after_window, |t| t.dead_lettered)
                + self.sink_dead_lettered();
        records && window && sinks && letters
    }
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
    if t.failed_batches > 0 {
        write!(f, " ({} failed batches)", t.failed_batches)?;
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
        for t in &self.transforms {
            write_transform(f, "transform", t)?;
        }
        if let Some(w) = &self.window {
            let late = w.late_dropped + w.late_dead_lettered;
            let fate = if w.late_dead_lettered > 0 {
                "dead-lettered"
            } else {
                "dropped"
            };
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
        let before_dead = self.dead_lettered.saturating_sub(
            sum(&self.after_window, |t| t.dead_lettered) + self.sink_dead_lettered(),
        );
        match &self.window {
            None => write!(
                f,
                "  {} read = {} out + {} filtered + {} dead-lettered{flat_map}: {verdict}",
                self.records_read,
                self.rows_out,
                sum(&self.transforms, |t| t.filtered),
                before_dead
            ),
            Some(w) => write!(
                f,
                "  {} read = {} aggregated + {} filtered + {} dead-lettered + {} late dropped{flat_map}; {} aggregate rows, {} out: {verdict}",
                self.records_read,
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
