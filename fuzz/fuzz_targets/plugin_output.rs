//! What a transform plugin returns (plan and output), as the host checks it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir::fuzzing::plugin_output(data);
});
