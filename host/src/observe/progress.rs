//! Live progress of a bounded run (`weir run --available-now`) on a
//! terminal: records read, rows/s, dead-lettered so far, files done of
//! total or each partition's offset of its end offset, and an ETA where the
//! total is known. Read from the status board the pipeline publishes at
//! every batch boundary, on a thread of its own; drawn on stderr only when
//! it is a terminal. Log lines are written above the bar (see [`LogWriter`]).

use crate::observe::status::{PipelineStatus, SourceProgress, StatusBoard};
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the bar is redrawn from the board.
const TICK: Duration = Duration::from_millis(100);

/// Partitions shown by name before the rest are counted.
const PARTITIONS_SHOWN: usize = 4;

/// The bar being drawn, if any: log lines are written above it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The progress display of one run; cleared when finished or dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `board` on stderr, if stderr is a terminal; `None`
    /// (and nothing drawn) otherwise.
    pub fn start(board: StatusBoard) -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style(false, false));
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("weir-progress".into())
            .spawn(move || draw(bar, board, stopping))
            .ok()?;
        Some(Progress {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops drawing and clears the bar, so the summary prints on a clean line.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(bar) = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.end();
    }
}

/// The counts on the first line; the bar, when the total is known, and the
/// source's detail (files, partitions) each on a line of their own, so no
/// line outgrows a terminal.
fn style(with_total: bool, with_detail: bool) -> ProgressStyle {
    let mut template = String::from("{spinner} {prefix}");
    if with_total {
        template.push_str("\n  [{bar:30}] {percent:>3}% ETA {eta}");
    }
    if with_detail {
        template.push_str("\n  {wide_msg}");
    }
    ProgressStyle::with_template(&template)
        .expect("a valid template")
        .progress_chars("=> ")
}

fn draw(bar: ProgressBar, board: StatusBoard, stop: Arc<AtomicBool>) {
    let started = Instant::now();
    let mut shape = None;
    loop {
        // Once asked to stop, the board holds the run's end: draw it last.
        let last = stop.load(Ordering::Relaxed);
        let status = board.snapshot();
        let total = total(&status.progress);
        let detail = detail(&status.progress);
        let wanted = (total.is_some(), !detail.is_empty());
        if shape != Some(wanted) {
            bar.set_style(style(wanted.0, wanted.1));
            shape = Some(wanted);
        }
        bar.set_prefix(counts(&status, started.elapsed()));
        bar.set_message(detail);
        match total {
            Some((done, total)) => {
                bar.set_length(total);
                bar.set_position(done.min(total));
            }
            None => bar.tick(),
        }
        if last {
            break;
        }
        std::thread::sleep(TICK);
    }
}

/// What is done of a known total: bytes of the files, or records up to
/// every partition's end offset.
fn total(source: &SourceProgress) -> Option<(u64, u64)> {
    if let Some(bytes) = source.bytes {
        return (bytes.total > 0).then_some((bytes.done, bytes.total));
    }
    if source.partitions.is_empty() {
        return None;
    }
    let mut done = 0;
    let mut total = 0;
    for p in &source.partitions {
        let end = p.end?;
        total += (end - p.start).max(0) as u64;
        done += (p.next.min(end) - p.start).max(0) as u64;
    }
    (total > 0).then_some((done, total))
}

/// "1,234 records, 5,678 rows/s, 0 dead-lettered".
fn counts(status: &PipelineStatus, elapsed: Duration) -> String {
    let rate = status.counts.records_read as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "{} records, {} rows/s, {} dead-lettered",
        HumanCount(status.counts.records_read),
        HumanCount(rate as u64),
        HumanCount(status.counts.dead_lettered)
    )
}

/// "files 1/3", or "events/0 at 120 of 500, events/1 at 80 of 80".
fn detail(source: &SourceProgress) -> String {
    let mut parts = Vec::new();
    // Files are known once the folder is listed.
    if let Some(files) = source.files.filter(|f| f.total > 0) {
        parts.push(format!("files {}/{}", files.done, files.total));
    }
    for p in source.partitions.iter().take(PARTITIONS_SHOWN) {
        let end = p.end.map(|end| format!(" of {end}")).unwrap_or_default();
        parts.push(format!("{}/{} at {}{end}", p.topic, p.partition, p.next));
    }
    if source.partitions.len() > PARTITIONS_SHOWN {
        let more = source.partitions.len() - PARTITIONS_SHOWN;
        parts.push(format!("{more} more partitions"));
    }
    parts.join(", ")
}

/// Where log lines go: stderr, above the progress bar when one is drawn
/// (the bar is lifted, the line written, the bar drawn again).
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match active {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::status::{Done, PartitionProgress};
    use crate::observe::summary::RunSummary;

    fn partition(partition: i32, start: i64, next: i64, end: i64) -> PartitionProgress {
        PartitionProgress {
            topic: "events".into(),
            partition,
            start,
            next,
            end: Some(end),
            lag: None,
        }
    }

    #[test]
    fn kafka_progress_counts_records_up_to_each_end_offset() {
        let source = SourceProgress {
            partitions: vec![partition(0, 100, 150, 200), partition(1, 0, 300, 300)],
            ..SourceProgress::default()
        };
        assert_eq!(total(&source), Some((350, 400)));
        let status = PipelineStatus {
            counts: RunSummary {
                records_read: 350,
                ..RunSummary::default()
            },
            progress: source,
            ..PipelineStatus::default()
        };
        let text = detail(&status.progress);
        assert_eq!(text, "events/0 at 150 of 200, events/1 at 300 of 300");
        let text = counts(&status, Duration::from_secs(1));
        assert_eq!(text, "350 records, 350 rows/s, 0 dead-lettered");
    }

    #[test]
    fn files_progress_is_measured_in_bytes_and_shows_files_done() {
        let source = SourceProgress {
            files: Some(Done { done: 1, total: 3 }),
            bytes: Some(Done {
                done: 10,
                total: 30,
            }),
            partitions: Vec::new(),
        };
        assert_eq!(total(&source), Some((10, 30)));
        assert_eq!(detail(&source), "files 1/3");
    }

    #[test]
    fn an_unbounded_partition_has_no_total() {
        let mut p = partition(0, 0, 5, 10);
        p.end = None;
        let source = SourceProgress {
            partitions: vec![p],
            ..SourceProgress::default()
        };
        assert_eq!(total(&source), None);
    }
}
