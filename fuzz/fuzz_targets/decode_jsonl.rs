//! The `jsonl` decoder of the files source (and Kafka's text formats).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    weir::fuzzing::decode_text(weir::config::FileFormat::Jsonl, data);
});
