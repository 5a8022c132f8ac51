//! Pipeline files.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir::fuzzing::pipeline_toml(data);
});
