//! SRT / WebVTT bytes as a composition's captions file -> plan -> a still.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::fs::write(common::assets().join("c.srt"), data).expect("write the captions file");
    common::plan_and_draw(
        r#"{"id": "f", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 30}],
            "captions": {"asset": "c.srt"}}"#,
    );
});
