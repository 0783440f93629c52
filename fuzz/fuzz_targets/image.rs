//! Image bytes (PNG, JPEG, WebP headers and data) -> the decoder with reel's limits.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reel::media::decode_image_bytes(data, reel::media::ImageLimits::default());
    let _ = reel::media::Original::decode(data, reel::media::ImageLimits::default());
});
