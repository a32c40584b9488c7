//! The lenient body parser az's bodies go through (JSON, then JSON5 with
//! comments and unquoted keys): never panics or overflows; strict JSON it
//! accepts reads as serde_json reads it.
#![no_main]
use azemu_emulator::arm::request::parse_lenient;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lenient = parse_lenient(data);
    if let Ok(strict) = serde_json::from_slice::<serde_json::Value>(data) {
        assert_eq!(lenient.expect("strict JSON is lenient JSON"), strict);
    }
});
