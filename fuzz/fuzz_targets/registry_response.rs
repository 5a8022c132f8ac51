//! A schema registry's answer bodies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir::fuzzing::registry_response(data);
});
