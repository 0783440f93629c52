//! Composition JSON -> parse -> plan -> a still: never a panic, whatever the bytes.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        common::plan_and_draw(text);
    }
});
