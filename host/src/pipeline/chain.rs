//! The chain of operators every batch runs through, in the order the
//! pipeline file gives: each operator's output is the next one's input, and
//! the rows an operator refuses go to the dead-letter, each with its origin
//! and the row as it entered that stage.

use super::PipelineError;
use crate::dead_letter::{DeadLetterWriter, rows_as_json};
use crate::envelope::Envelope;
use crate::observe::summary::StageCounts;
use crate::operator::DeadLetter;
use crate::operator::{Operator, OperatorError, Processed, Refusal, Watermark};
use crate::sink::SinkError;
use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;

pub(super) struct Chain {
    operators: Vec<Box<dyn Operator>>,
    /// Rows handed to the last operator (the sinks).
    rows_out: u64,
}

impl Chain {
    pub fn new(operators: Vec<Box<dyn Operator>>) -> Self {
        Chain {
            operators,
            rows_out: 0,
        }
    }

    pub fn operators(&mut self) -> &mut [Box<dyn Operator>] {
        &mut self.operators
    }

    /// Rows that reached the sinks so far.
    pub fn rows_out(&self) -> u64 {
        self.rows_out
    }

    /// Starts every operator at `epoch` (the sinks open): at the start of
    /// the run and after a restart. A sink that cannot open is named by its
    /// index under `file`'s `sinks`.
    pub fn start(
        &mut self,
        epoch: u64,
        checkpointed: bool,
        file: &str,
    ) -> Result<(), PipelineError> {
        for operator in &mut self.operators {
            operator
                .on_start(epoch, checkpointed)
                .map_err(|e| match e {
                    OperatorError::SinkOpen { index, error } => PipelineError::Sink {
                        file: file.to_string(),
                        index,
                        error: SinkError::Plugin(error),
                    },
                    other => other.into(),
                })?;
        }
        Ok(())
    }

    /// Every operator's counters, in pipeline order.
    pub fn counts(&self) -> Vec<StageCounts> {
        self.operators.iter().map(|o| o.counts()).collect()
    }

    /// Runs a batch from source partition `partition` through the chain.
    pub fn process(
        &mut self,
        rows: Envelope,
        partition: i32,
        dead_letter: &mut DeadLetterWriter,
    ) -> Result<(), PipelineError> {
        self.process_from(0, rows, partition, dead_letter)
    }

    /// Tells every operator the source's partitions (announced at the start
    /// and at each rebalance).
    pub fn assign(&mut self, partitions: &[i32]) {
        let mut partitions = partitions.to_vec();
        for operator in &mut self.operators {
            operator.on_assignment(&partitions);
            if operator.merges_partitions() {
                partitions = vec![0];
            }
        }
    }

    /// Tells every operator, in order, the watermark; what one emits runs
    /// through the operators after it.
    pub fn handle_watermark(
        &mut self,
        watermark: Watermark,
        dead_letter: &mut DeadLetterWriter,
    ) -> Result<(), PipelineError> {
        for index in 0..self.operators.len() {
            if let Some(rows) = self.operators[index].handle_watermark(watermark)? {
                self.process_from(index + 1, rows, 0, dead_letter)?;
            }
        }
        Ok(())
    }

    fn process_from(
        &mut self,
        first: usize,
        mut rows: Envelope,
        mut partition: i32,
        dead_letter: &mut DeadLetterWriter,
    ) -> Result<(), PipelineError> {
        let last = self.operators.len().saturating_sub(1);
        for index in first..self.operators.len() {
            if rows.num_rows() == 0 {
                return Ok(());
            }
            if index == last {
                self.rows_out += rows.num_rows() as u64;
            }
            let Processed {
                rows: out,
                refused,
                letters,
                stop,
            } = self.operators[index].process_batch(&rows, partition)?;
            if self.operators[index].merges_partitions() {
                partition = 0;
            }
            dead_letter_rows(dead_letter, &rows, refused)?;
            for letter in &letters {
                write_letter(dead_letter, letter)?;
            }
            if let Some(stop) = stop {
                return Err(stop.into());
            }
            match out {
                Some(out) => rows = out,
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Writes refused rows of `rows` to the dead-letter, each with its stage,
/// reason, origin and the row as it entered the stage.
fn dead_letter_rows(
    writer: &mut DeadLetterWriter,
    rows: &Envelope,
    refused: Vec<Refusal>,
) -> Result<(), PipelineError> {
    if refused.is_empty() {
        return Ok(());
    }
    let indices = UInt32Array::from_iter_values(refused.iter().map(|r| r.row as u32));
    let inputs =
        rows_as_json(&take_record_batch(&rows.data, &indices).expect("rows index this batch"));
    for (refusal, input) in refused.into_iter().zip(inputs) {
        let (source, offset) = rows.origin(refusal.row);
        let letter = DeadLetter {
            stage: refusal.stage,
            reason: refusal.reason,
            source: source.to_string(),
            offset,
            input,
        };
        write_letter(writer, &letter)?;
    }
    Ok(())
}

fn write_letter(writer: &mut DeadLetterWriter, letter: &DeadLetter) -> Result<(), PipelineError> {
    writer
        .write(letter)
        .map_err(|error| PipelineError::DeadLetterWrite {
            target: writer.target.clone(),
            error,
        })
}
