//! The deliverables besides the main MP4: a web copy, a preview, and poster JPEGs; and the
//! same variants for single assets (an image gets posters, a video gets web and preview).

use crate::encode::VideoSettings;
use crate::error::{Error, Result};
use crate::media::resize_premultiplied;
use crate::time::Fps;
use std::path::{Path, PathBuf};
use tiny_skia::Pixmap;

/// Which extra outputs a render writes beside `NAME.mp4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variants {
    /// `NAME_web.mp4`: H.264 Main, level <= 4.1, <= 1080 px short side, keyframe every 2 s,
    /// capped bitrate, AAC 128 kb/s, faststart.
    pub web: bool,
    /// `NAME_preview.mp4`: 360 px short side, low bitrate.
    pub preview: bool,
    /// `NAME_400w.jpg` and `NAME_800w.jpg` from the poster frame.
    pub posters: bool,
}

impl Default for Variants {
    fn default() -> Self {
        Variants { web: true, preview: true, posters: true }
    }
}

impl Variants {
    /// No variants: the main MP4 only.
    pub const NONE: Variants = Variants { web: false, preview: false, posters: false };

    /// Parses a comma-separated list of `web`, `preview`, `posters`.
    pub fn parse(list: &str) -> Option<Variants> {
        let mut v = Variants::NONE;
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "web" => v.web = true,
                "preview" => v.preview = true,
                "posters" => v.posters = true,
                _ => return None,
            }
        }
        Some(v)
    }
}

/// `dir/STEM_SUFFIX` for an output path `dir/STEM.ext`.
pub fn sibling(main: &Path, suffix: &str) -> PathBuf {
    let stem = main.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    main.with_file_name(format!("{stem}{suffix}"))
}

/// The size with the short side at most `short` (never upscaled), both sides even.
pub fn fit_short_side(w: u32, h: u32, short: u32) -> (u32, u32) {
    let s = w.min(h);
    if s <= short {
        return (w & !1, h & !1);
    }
    let k = short as f64 / s as f64;
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    (even(w as f64 * k), even(h as f64 * k))
}

/// The web copy's encoder settings for a `w` x `h` canvas at `fps`. Level 4.1 allows 1080p
/// up to 30 fps; faster compositions get a 720p web copy so the level still holds.
pub fn web_settings(w: u32, h: u32, fps: Fps, preset: &str) -> VideoSettings {
    let short = if fps.as_f64() > 30.5 { 720 } else { 1080 };
    let (vw, vh) = fit_short_side(w, h, short);
    // ~6 Mb/s at 1080p30, scaled by pixel rate, never under 1 Mb/s.
    let pixel_rate = vw as f64 * vh as f64 * fps.as_f64();
    let kbps = ((pixel_rate / (1920.0 * 1080.0 * 30.0)) * 6000.0).clamp(1000.0, 6000.0) as u32;
    VideoSettings {
        width: vw,
        height: vh,
        fps,
        preset: preset.into(),
        crf: 23,
        profile: "main".into(),
        level: Some("4.1".into()),
        gop: Some(((2.0 * fps.as_f64()).round() as u32).max(1)),
        max_kbps: Some(kbps),
        threads: 0,
    }
}

/// The preview's encoder settings: 360 px short side, CRF 30 capped at 800 kb/s.
pub fn preview_settings(w: u32, h: u32, fps: Fps, preset: &str) -> VideoSettings {
    let (vw, vh) = fit_short_side(w, h, 360);
    VideoSettings {
        width: vw,
        height: vh,
        fps,
        preset: preset.into(),
        crf: 30,
        profile: "main".into(),
        level: None,
        gop: Some(((2.0 * fps.as_f64()).round() as u32).max(1)),
        max_kbps: Some(800),
        threads: 0,
    }
}

/// Encodes an opaque RGBA image as a baseline JPEG with 4:2:0 chroma (jpeg-encoder).
pub fn encode_jpeg(rgba: &[u8], w: u32, h: u32, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    let (w16, h16) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w16), Ok(h16)) = (w16, h16) else {
        return Err(Error::Encode(format!("{w}x{h} is too large for a JPEG")));
    };
    enc.encode(rgba, w16, h16, jpeg_encoder::ColorType::Rgba).map_err(|e| Error::Encode(format!("JPEG: {e}")))?;
    Ok(out)
}

/// A poster `width` pixels wide (aspect kept, Lanczos3). A source narrower than `width` is
/// not upscaled: the poster keeps the source's width.
pub fn poster(frame: &Pixmap, width: u32) -> Pixmap {
    if frame.width() <= width {
        return frame.clone();
    }
    let h = ((frame.height() as f64 * width as f64 / frame.width() as f64).round() as u32).max(1);
    resize_premultiplied(frame, width, h)
}

/// Writes bytes to `path` atomically: a temporary name in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = crate::encode::temp_path(path);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Writes `NAME_400w.jpg` and `NAME_800w.jpg` for `main` from an opaque frame; returns the
/// paths with their sizes.
pub fn write_posters(main: &Path, frame: &Pixmap) -> Result<Vec<(PathBuf, u32, u32)>> {
    let mut out = Vec::new();
    for w in [400, 800] {
        let p = poster(frame, w);
        // Opaque frames: premultiplied bytes are the straight bytes.
        let jpg = encode_jpeg(p.data(), p.width(), p.height(), 85)?;
        let path = sibling(main, &format!("_{w}w.jpg"));
        write_atomic(&path, &jpg)?;
        out.push((path, p.width(), p.height()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(fit_short_side(1920, 1080, 360), (640, 360));
        assert_eq!(fit_short_side(1080, 1920, 360), (360, 640));
        assert_eq!(fit_short_side(3840, 2160, 1080), (1920, 1080));
        assert_eq!(fit_short_side(640, 360, 1080), (640, 360));
        assert_eq!(fit_short_side(1080, 1350, 360), (360, 450));
        assert_eq!(Variants::parse("web,posters"), Some(Variants { web: true, preview: false, posters: true }));
        assert_eq!(Variants::parse("gif"), None);
        assert_eq!(sibling(Path::new("out/demo.mp4"), "_web.mp4"), Path::new("out/demo_web.mp4"));
    }
}
