//! The deliverables besides the main MP4: a web copy, a preview, and poster JPEGs; and the
//! same variants for single assets (an image gets posters, a video gets web and preview).

use crate::encode::VideoSettings;
use crate::error::{Error, Result};
use crate::media::resize_premultiplied;
use crate::time::Fps;
use std::path::{Path, PathBuf};
use tiny_skia::Pixmap;

/// Which extra outputs a render writes beside `NAME.mp4` (all three by default).
///
/// ```
/// use reel::Variants;
/// let v = Variants::default().with_preview(false);
/// assert!(v.web && !v.preview && v.posters);
/// assert_eq!(Variants::parse("web, posters"), Some(v));
/// assert_eq!(Variants::parse("thumbnails"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Variants {
    /// `NAME_web.mp4`: H.264 Main, level <= 4.1, <= 1080 px short side, keyframe every 2 s,
    /// capped bitrate, AAC 128 kb/s, faststart.
    pub web: bool,
    /// `NAME_preview.mp4`: 360 px short side, low bitrate, the web copy's sound (AAC 128
    /// kb/s).
    pub preview: bool,
    /// `NAME_400w.jpg` and `NAME_800w.jpg` from the poster frame.
    pub posters: bool,
}

impl Variants {
    /// These variants, with the web copy on or off.
    pub const fn with_web(mut self, on: bool) -> Variants {
        self.web = on;
        self
    }

    /// These variants, with the preview on or off.
    pub const fn with_preview(mut self, on: bool) -> Variants {
        self.preview = on;
        self
    }

    /// These variants, with the posters on or off.
    pub const fn with_posters(mut self, on: bool) -> Variants {
        self.posters = on;
        self
    }
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

/// The AAC bit rate of the web copy and of the preview, which carries the same sound.
pub const WEB_AUDIO_BITRATE: usize = 128_000;

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

/// Writes `NAME_400w.jpg` and `NAME_800w.jpg` for `main` from an opaque frame, under
/// temporary names until committed; returns them with their sizes.
pub fn write_posters(main: &Path, frame: &Pixmap, quality: u8) -> Result<Vec<(crate::encode::PendingFile, u32, u32)>> {
    write_poster_jpegs(main, poster_jpegs(frame, quality)?)
}

/// A render's two posters, 400 and 800 pixels wide: each JPEG's bytes, width and height.
pub(crate) type PosterJpegs = [(Vec<u8>, u32, u32); 2];

/// The posters of an opaque frame as JPEGs: what a render keeps of its poster frame (a
/// few hundred kB, not the 8 MB frame).
pub(crate) fn poster_jpegs(frame: &Pixmap, quality: u8) -> Result<PosterJpegs> {
    let jpeg = |w| -> Result<(Vec<u8>, u32, u32)> {
        let p = poster(frame, w);
        // Opaque frames: premultiplied bytes are the straight bytes.
        Ok((encode_jpeg(p.data(), p.width(), p.height(), quality.clamp(1, 100))?, p.width(), p.height()))
    };
    Ok([jpeg(400)?, jpeg(800)?])
}

/// Writes posters made by [`poster_jpegs`] as `NAME_400w.jpg` and `NAME_800w.jpg` for
/// `main`, under temporary names until committed.
pub(crate) fn write_poster_jpegs(
    main: &Path,
    jpegs: PosterJpegs,
) -> Result<Vec<(crate::encode::PendingFile, u32, u32)>> {
    let mut out = Vec::new();
    for ((jpg, w, h), name) in jpegs.into_iter().zip(["_400w.jpg", "_800w.jpg"]) {
        out.push((crate::encode::PendingFile::write(&sibling(main, name), &jpg)?, w, h));
    }
    Ok(out)
}

/// Variants of a single asset, written beside it (or in `out_dir`): an image `KEY.ext` gets
/// `KEY_400w.jpg` and `KEY_800w.jpg` (EXIF orientation applied, transparency flattened onto
/// white, never upscaled: a source narrower than 400 px keeps its width in both); a video
/// `KEY.ext` gets `KEY_web.mp4` and `KEY_preview.mp4` (its audio, if any, in both).
///
/// ```no_run
/// let written = reel::variants::asset_variants("assets/photo.jpg".as_ref(), None, "veryfast")?;
/// // assets/photo_400w.jpg and assets/photo_800w.jpg
/// assert_eq!(written.len(), 2);
/// # Ok::<(), reel::Error>(())
/// ```
pub fn asset_variants(path: &Path, out_dir: Option<&Path>, preset: &str) -> Result<Vec<crate::report::OutputReport>> {
    use crate::report::OutputReport;
    let name = path.file_name().ok_or_else(|| Error::invalid("", format!("{} is not a file", path.display())))?;
    let target = out_dir.map(|d| d.join(name)).unwrap_or_else(|| path.to_path_buf());
    if let Some(d) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let report = |p: PathBuf, kind: &str, w: u32, h: u32, frames: u64, codec: &str| {
        let bytes = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let duration_s = if codec == "jpeg" { 0.0 } else { crate::media::container_duration(&p).unwrap_or(0.0) };
        OutputReport { path: p, kind: kind.into(), bytes, width: w, height: h, frames, duration_s, codec: codec.into() }
    };
    if matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "webp") {
        let key = path.display().to_string();
        let mut img = crate::media::decode_image(path, crate::media::ImageLimits::default())
            .map_err(|why| Error::invalid(key, why))?;
        // Flatten onto white (premultiplied: c + (255 - a)).
        for px in img.data_mut().chunks_exact_mut(4) {
            let k = 255 - px[3];
            px[0] = px[0].saturating_add(k);
            px[1] = px[1].saturating_add(k);
            px[2] = px[2].saturating_add(k);
            px[3] = 255;
        }
        let posters = write_posters(&target, &img, 85)?;
        let sizes: Vec<(u32, u32)> = posters.iter().map(|(_, w, h)| (*w, *h)).collect();
        let paths = crate::encode::PendingFile::commit_all(posters.into_iter().map(|(p, _, _)| p).collect())?;
        return Ok(paths.into_iter().zip(sizes).map(|(p, (w, h))| report(p, "poster", w, h, 1, "jpeg")).collect());
    }
    // Anything else is tried as a video.
    let key = path.display().to_string();
    let info = crate::media::probe_video(path).map_err(|why| why.into_error(key.clone(), ""))?;
    let fps = info.fps.unwrap_or(Fps { num: 30, den: 1 });
    let frames = fps.frames_for_seconds(info.duration).max(1);
    let web = web_settings(info.width, info.height, fps, preset);
    let preview = preview_settings(info.width, info.height, fps, preset);
    // Its sound, if it has one we read, decoded as it is encoded.
    let audio = crate::audio::AudioFile::open(path).ok().map(|f| crate::audio::Source::File(std::sync::Arc::new(f)));
    let sample_frames = fps.sample_at(frames, crate::audio::RATE) as usize;
    let settings = |bitrate| {
        audio.as_ref().map(|a| crate::encode::AudioSettings {
            soundtrack: std::sync::Arc::new(crate::audio::Fixed { source: a.clone(), frames: sample_frames }),
            bitrate,
        })
    };
    let web_path = sibling(&target, "_web.mp4");
    let preview_path = sibling(&target, "_preview.mp4");
    let mut w_out = crate::encode::Mp4Writer::create(&web_path, &web, settings(WEB_AUDIO_BITRATE).as_ref())?;
    // The preview carries the web copy's sound: its packets, copied (the web copy is
    // finished first, below).
    let mut p_out = match w_out.share_audio() {
        Some(feed) => crate::encode::Mp4Writer::create_copying(&preview_path, &preview, feed, None)?,
        None => crate::encode::Mp4Writer::create(&preview_path, &preview, None)?,
    };
    let mut dec =
        crate::media::ClipDecoder::open(path, web.width, web.height).map_err(|why| why.into_error(key.clone(), ""))?;
    let mut small = crate::pixels::pixmap_or_tiny(preview.width, preview.height);
    let (mut yw, mut yp) =
        (crate::pixels::Yuv420::new(web.width, web.height), crate::pixels::Yuv420::new(preview.width, preview.height));
    for i in 0..frames {
        let t = i as f64 * fps.den as f64 / fps.num as f64;
        let Some(pic) = dec.frame_at(t) else { break };
        yw.fill_from_rgba(pic.data());
        w_out.write(&yw)?;
        small = resize_premultiplied(&pic, small.width(), small.height());
        yp.fill_from_rgba(small.data());
        p_out.write(&yp)?;
    }
    crate::encode::PendingFile::commit_all(vec![w_out.finish_pending()?, p_out.finish_pending()?])?;
    Ok(vec![
        report(web_path, "web", web.width, web.height, frames, if audio.is_some() { "h264+aac" } else { "h264" }),
        report(
            preview_path,
            "preview",
            preview.width,
            preview.height,
            frames,
            if audio.is_some() { "h264+aac" } else { "h264" },
        ),
    ])
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
