//! The `weir` binary.

// Window state makes and frees many small allocations (a key and its
// accumulators per group); mimalloc handles that pattern far better than
// glibc's allocator (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir::cli::main()
}
