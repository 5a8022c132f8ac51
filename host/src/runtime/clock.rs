//! The monotonic clock a transform sees: it reads time as granted (stopped
//! or real), but its timers are ready at once, so a plugin cannot sleep or
//! wait in `poll` past the deadline of its call.
//!
//! wasmtime-wasi's own timers wait in the host, where epoch interruption
//! cannot reach: a transform sleeping 12 s held its pipeline 12 s against a
//! 1 s `timeout_ms`, and ignored a stop. A transform has no business waiting
//! (nothing it could wait for exists in its sandbox), so its sleeps return
//! at once, and a loop that waits for the clock to move spins in guest code,
//! where the deadline stops it.

use super::store::PluginData;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::clocks::WasiClocksCtxView;
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::Pollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Duration, Instant};

/// The clock view with timers that never wait.
struct NoWait<'a>(WasiClocksCtxView<'a>);

struct NoWaitClock;
impl HasData for NoWaitClock {
    type Data<'a> = NoWait<'a>;
}

/// A timer that is always due.
struct Due;

#[wasmtime_wasi::async_trait]
impl Pollable for Due {
    async fn ready(&mut self) {}
}

impl NoWait<'_> {
    fn due(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = self.0.table.push(Due)?;
        wasmtime_wasi::p2::subscribe(self.0.table, timer)
    }
}

impl monotonic_clock::Host for NoWait<'_> {
    fn now(&mut self) -> wasmtime::Result<Instant> {
        monotonic_clock::Host::now(&mut self.0)
    }

    fn resolution(&mut self) -> wasmtime::Result<Instant> {
        monotonic_clock::Host::resolution(&mut self.0)
    }

    fn subscribe_instant(&mut self, _when: Instant) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }

    fn subscribe_duration(&mut self, _after: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        self.due()
    }
}

/// Replaces the monotonic clock wasmtime-wasi linked with one whose
/// timers never wait. Call after `wasmtime_wasi::p2::add_to_linker_sync`.
pub fn add_to_linker(linker: &mut Linker<PluginData>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked = monotonic_clock::add_to_linker::<_, NoWaitClock>(linker, |d| NoWait(d.clocks()));
    linker.allow_shadowing(false);
    linked
}
