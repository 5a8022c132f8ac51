//! The run summary: what was read, kept, filtered and dead-lettered, stage by
//! stage, and whether the counts add up (they must).

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
    pub transforms: Vec<TransformCounts>,
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
pub struct SinkCounts {
    pub name: String,
    pub target: String,
    pub rows: u64,
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
        }
    }
}

impl RunSummary {
    pub fn filtered(&self) -> u64 {
        self.transforms.iter().map(|t| t.filtered).sum()
    }

    pub fn expanded(&self) -> u64 {
        self.transforms.iter().map(|t| t.expanded).sum()
    }

    /// Every record read is accounted for: out (net of flat-map expansion),
    /// filtered, or dead-lettered.
    pub fn balanced(&self) -> bool {
        self.records_read + self.expanded() == self.rows_out + self.filtered() + self.dead_lettered
    }
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
            write!(
                f,
                "  transform {}: {} in, {} out, {} filtered, {} dead-lettered",
                t.name, t.rows_in, t.rows_out, t.filtered, t.dead_lettered
            )?;
            if t.expanded > 0 {
                write!(f, ", {} added by flat-map", t.expanded)?;
            }
            if t.failed_batches > 0 {
                write!(f, " ({} failed batches)", t.failed_batches)?;
            }
            writeln!(f)?;
        }
        for s in &self.sinks {
            writeln!(
                f,
                "  sink {}: {} rows written to {}",
                s.name, s.rows, s.target
            )?;
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
        write!(
            f,
            "  {} read = {} out + {} filtered + {} dead-lettered{}: {verdict}",
            self.records_read,
            self.rows_out,
            self.filtered(),
            self.dead_lettered,
            if self.expanded() > 0 {
                format!(" - {} added by flat-map", self.expanded())
            } else {
                String::new()
            }
        )
    }
}
