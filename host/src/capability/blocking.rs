//! Blocking on the async database drivers: the pipeline is synchronous, so
//! each capability whose driver is async blocks on a small tokio runtime
//! of its own at this edge. Made once, on first use.

use std::future::Future;
use std::sync::OnceLock;

/// The shape of runtime a driver needs.
pub enum Driver {
    /// Futures run on the calling thread only (sqlx spawns no tasks).
    CallingThread,
    /// The driver keeps background tasks (connection readers, metadata
    /// refresh), so they get a worker thread of their own (scylla).
    Background,
}

static CALLING_THREAD: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
static BACKGROUND: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

impl Driver {
    pub fn runtime(&self) -> &'static tokio::runtime::Runtime {
        match self {
            Driver::CallingThread => CALLING_THREAD.get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the database drivers")
            }),
            Driver::Background => BACKGROUND.get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("weir-driver")
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the database drivers")
            }),
        }
    }

    /// Runs `future` to its end on this driver's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }
}
