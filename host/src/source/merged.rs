//! Several named sources read as one: their batches taken in turn, each
//! batch's partition id telling which source it came from, and one position
//! holding each source's, so a checkpoint resumes and replays them all.

use super::{Mark, Position, RunMode, Source, SourceBatch, SourceError, SourceProgress};
use crate::config::NamedSource;
use arrow::datatypes::SchemaRef;
use std::collections::VecDeque;

/// Source `i`'s partition `p` is partition `i * STRIDE + p` of the merged
/// source: watermark ids stay distinct, and a join tells its sides apart.
pub const STRIDE: i32 = 1 << 20;

/// The index of the source a merged partition id belongs to.
pub fn input_of(partition: i32) -> usize {
    (partition / STRIDE) as usize
}

pub struct MergedSource {
    inputs: Vec<Input>,
    /// The next input to ask when taking turns.
    turn: usize,
    /// A replayed epoch: the inputs its batches came from, in order.
    replay: VecDeque<usize>,
    /// Each input's partitions as last announced (merged ids); files and
    /// the generator, which never announce, read partition 0.
    assigned: Vec<Vec<i32>>,
    announce: bool,
}

struct Input {
    name: String,
    source: Box<dyn Source>,
    /// Read to its end (a bounded run).
    done: bool,
}

impl MergedSource {
    pub fn new(configs: &[NamedSource], mode: RunMode) -> Result<Self, SourceError> {
        let mut inputs = Vec::new();
        for named in configs {
            let source = super::build_one(&named.config, mode.clone())?;
            inputs.push(Input {
                name: named.name.clone(),
                source,
                done: false,
            });
        }
        let assigned = (0..inputs.len()).map(|i| vec![i as i32 * STRIDE]).collect();
        Ok(MergedSource {
            inputs,
            turn: 0,
            replay: VecDeque::new(),
            assigned,
            announce: true,
        })
    }

    /// Each input's name and schema, in the pipeline's order.
    pub fn schemas(&self) -> Vec<(String, SchemaRef)> {
        self.inputs
            .iter()
            .map(|i| (i.name.clone(), i.source.schema()))
            .collect()
    }

    /// Reads input `index`'s next batch, its partition made a merged id.
    fn read(&mut self, index: usize) -> Result<Option<SourceBatch>, SourceError> {
        let input = &mut self.inputs[index];
        let Some(mut batch) = input.source.next_batch()? else {
            input.done = true;
            return Ok(None);
        };
        batch.partition += index as i32 * STRIDE;
        if let Some(changed) = input.source.assignment_changed() {
            self.assigned[index] = changed.iter().map(|p| p + index as i32 * STRIDE).collect();
            self.announce = true;
        }
        Ok(Some(batch))
    }
}

impl Source for MergedSource {
    /// The first input's; the join that follows has each one's.
    fn schema(&self) -> SchemaRef {
        self.inputs[0].source.schema()
    }

    fn describe(&self) -> String {
        let each: Vec<String> = self
            .inputs
            .iter()
            .map(|i| format!("{}: {}", i.name, i.source.describe()))
            .collect();
        each.join("; ")
    }

    /// The inputs in turn: a batch with records from the first that has
    /// one; an idle batch once every input still running was asked and
    /// had none; the end when every input has ended.
    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        if let Some(index) = self.replay.pop_front() {
            return match self.read(index)? {
                Some(batch) => Ok(Some(batch)),
                None => Err(SourceError::Restore(format!(
                    "source `{}` ended before the replayed epoch's batches were read again",
                    self.inputs[index].name
                ))),
            };
        }
        let mut idle = None;
        for _ in 0..self.inputs.len() {
            let index = self.turn;
            self.turn = (self.turn + 1) % self.inputs.len();
            if self.inputs[index].done {
                continue;
            }
            match self.read(index)? {
                Some(batch) if batch.records() > 0 => return Ok(Some(batch)),
                Some(batch) => idle = Some(batch),
                None => {}
            }
        }
        Ok(idle.or_else(|| {
            // Every input still running is idle; none running: the end.
            self.inputs
                .iter()
                .any(|i| !i.done)
                .then(|| SourceBatch::idle(self.schema()))
        }))
    }

    fn bounded(&self) -> bool {
        self.inputs.iter().all(|i| i.source.bounded())
    }

    fn position(&self) -> Position {
        Position::Merged(self.inputs.iter().map(|i| i.source.position()).collect())
    }

    fn restore(&mut self, position: &Position) -> Result<(), SourceError> {
        let Position::Merged(each) = position else {
            return Err(SourceError::Restore(
                "the checkpoint is of a pipeline with one source; this one reads several"
                    .to_string(),
            ));
        };
        if each.len() != self.inputs.len() {
            return Err(SourceError::Restore(format!(
                "the checkpoint has {} sources, the pipeline {}",
                each.len(),
                self.inputs.len()
            )));
        }
        for (input, position) in self.inputs.iter_mut().zip(each) {
            input
                .source
                .restore(position)
                .map_err(|e| SourceError::Restore(format!("source `{}`: {e}", input.name)))?;
        }
        Ok(())
    }

    /// Each input replays its own batches; the merged order is kept here.
    fn replay(&mut self, batches: &[Mark]) {
        self.replay = batches.iter().map(|m| input_of(m.partition)).collect();
        for (index, input) in self.inputs.iter_mut().enumerate() {
            let own: Vec<Mark> = batches
                .iter()
                .filter(|m| input_of(m.partition) == index)
                .map(|m| Mark {
                    partition: m.partition - index as i32 * STRIDE,
                    records: m.records,
                })
                .collect();
            input.source.replay(&own);
        }
    }

    fn assignment_changed(&mut self) -> Option<Vec<i32>> {
        if !std::mem::take(&mut self.announce) {
            return None;
        }
        Some(self.assigned.concat())
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        self.inputs.iter_mut().try_for_each(|i| i.source.commit())
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.inputs.iter_mut().try_for_each(|i| i.source.close())
    }

    fn check_before_reload(&mut self) -> Result<(), SourceError> {
        self.inputs
            .iter_mut()
            .try_for_each(|i| i.source.check_before_reload())
    }

    /// The files and partitions of every input, added up.
    fn progress(&self) -> SourceProgress {
        let mut total = SourceProgress::default();
        for input in &self.inputs {
            let p = input.source.progress();
            for (sum, part) in [(&mut total.files, p.files), (&mut total.bytes, p.bytes)] {
                if let Some(part) = part {
                    let s = sum.get_or_insert_with(Default::default);
                    s.done += part.done;
                    s.total += part.total;
                }
            }
            total.partitions.extend(p.partitions);
        }
        total
    }
}
