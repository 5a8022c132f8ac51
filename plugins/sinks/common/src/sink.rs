//! The sink trait and the glue that exports it: the host calls the `sink`
//! world's functions, and this keeps the one instance of the sink between
//! them, so a sink is a plain struct with methods, as a transform is.

use crate::bindings::exports::weir::plugin::sink_writer::Guest;
use crate::{Batch, Config, Schema, SinkPlan, WriteReport};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

/// A sink plugin. The host opens it once per run with its config and the
/// schema of the rows it receives, calls [`Sink::write`] for every batch,
/// and ends each epoch with [`Sink::pre_commit`] then [`Sink::commit`], or
/// [`Sink::abort`]; [`Sink::close`] at the end of the run.
pub trait Sink: Sized + 'static {
    /// Checks the config (naming the key that is wrong), prepares what the
    /// sink writes to, and says which input columns `write` reads.
    fn open(config: &Config, input: &Schema) -> Result<(Self, SinkPlan), String>;

    /// Writes one batch; rows the target refuses are returned with reasons.
    fn write(&mut self, rows: Batch) -> Result<WriteReport, String>;

    /// Makes the epoch's rows ready to commit; an error aborts the epoch.
    fn pre_commit(&mut self, _epoch: u64) -> Result<(), String> {
        Ok(())
    }

    /// Makes the epoch's rows visible.
    fn commit(&mut self, _epoch: u64) -> Result<(), String> {
        Ok(())
    }

    /// Drops what the epoch wrote (the host also does, for what it holds).
    fn abort(&mut self, _epoch: u64) {}

    /// The run ends: finish what is open.
    fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// The type `export_sink!` exports; not for direct use.
#[doc(hidden)]
pub struct Exported<S>(PhantomData<S>);

thread_local! {
    // A component instance is single-threaded; the cell holds the one sink
    // of this instance, typed by the exported sink.
    static SINK: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with_sink<S: Sink, R>(f: impl FnOnce(&mut S) -> Result<R, String>) -> Result<R, String> {
    SINK.with_borrow_mut(
        |slot| match slot.as_mut().and_then(|s| s.downcast_mut::<S>()) {
            Some(sink) => f(sink),
            None => Err("the host called the sink before `open`".to_string()),
        },
    )
}

impl<S: Sink> Guest for Exported<S> {
    fn open(config: Vec<(String, String)>, input: Schema) -> Result<SinkPlan, String> {
        let (sink, plan) = S::open(&Config::new(config), &input)?;
        SINK.with_borrow_mut(|slot| *slot = Some(Box::new(sink)));
        Ok(plan)
    }

    fn write(rows: Batch) -> Result<WriteReport, String> {
        with_sink::<S, _>(|sink| sink.write(rows))
    }

    fn pre_commit(epoch: u64) -> Result<(), String> {
        with_sink::<S, _>(|sink| sink.pre_commit(epoch))
    }

    fn commit(epoch: u64) -> Result<(), String> {
        with_sink::<S, _>(|sink| sink.commit(epoch))
    }

    fn abort(epoch: u64) {
        let _ = with_sink::<S, _>(|sink| {
            sink.abort(epoch);
            Ok(())
        });
    }

    fn close() -> Result<(), String> {
        with_sink::<S, _>(|sink| sink.close())
    }
}
