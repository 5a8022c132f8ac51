//! Confluent-framed Avro record values against a reader schema with evolution.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir::fuzzing::decode_avro(data);
});
