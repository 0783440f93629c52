//! Audio file bytes (WAV, MP3, FLAC, Ogg, M4A headers, as symphonia reads them) -> the
//! checks planning runs (decoded whole once, as a render would).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::fs::write(common::assets().join("sound"), data).expect("write the sound file");
    common::plan_and_draw(
        r#"{"id": "f", "width": 64, "height": 36, "scenes": [{"id": "s", "durationFrames": 15}],
            "audio": {"voiceover": {"asset": "sound"}}}"#,
    );
});
