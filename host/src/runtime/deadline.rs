//! The deadline of a plugin call and the words for its trap: a call ends
//! at its `timeout_ms` or when the run stops, and a trap is reported in the
//! pipeline's terms (the limit that was hit), for transforms and sinks alike.

use super::engine::EPOCH_TICK;
use super::state;
use super::transform::PluginLimits;
use wasmtime::Store;

/// Sets the deadline for the next call: `limits.timeout` from now, not
/// counting what `waited` says the call spent waiting on a service that
/// went away (a lookup table's database). The deadline is checked at every
/// epoch tick, and so is a stop of the run, which interrupts a call in
/// progress at once instead of waiting out its timeout.
pub(super) fn arm<T: 'static>(
    store: &mut Store<T>,
    limits: PluginLimits,
    waited: fn(&T) -> std::time::Duration,
) {
    let started = std::time::Instant::now();
    let timeout = limits.timeout.max(EPOCH_TICK);
    // Calls made after the stop (the last epoch's commit) run to the end.
    let interruptible = !super::engine::stopping();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |context| {
        if interruptible && super::engine::stopping() {
            return Err(wasmtime::Error::new(super::engine::StopRequested));
        }
        if started.elapsed().saturating_sub(waited(context.data())) >= timeout {
            return Err(wasmtime::Error::new(wasmtime::Trap::Interrupt));
        }
        Ok(wasmtime::UpdateDeadline::Continue(1))
    });
}

/// For calls that never wait on a service outside their deadline.
pub(super) fn no_wait<T>(_: &T) -> std::time::Duration {
    std::time::Duration::ZERO
}

/// The message of a trap or host error, without wasmtime's backtrace noise,
/// and in the pipeline's terms when a limit was hit.
pub(super) fn trap_reason(e: &wasmtime::Error, limits: PluginLimits) -> String {
    if let Some(stop) = e.downcast_ref::<super::engine::StopRequested>() {
        return stop.to_string();
    }
    if let Some(refused) = e.downcast_ref::<state::StateLimit>() {
        return refused.to_string();
    }
    let text = format!("{e:#}");
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            format!(
                "it exceeded its time limit of {} ms per call (`timeout_ms`)",
                limits.timeout.as_millis()
            )
        }
        _ if text.contains(super::store::MEMORY_CAP_TRAP) => {
            format!(
                "it exceeded its memory limit of {} MiB (`memory_limit_mb`)",
                limits.memory >> 20
            )
        }
        Some(trap) => trap.to_string(),
        None => text.lines().next().unwrap_or_default().to_string(),
    }
}
