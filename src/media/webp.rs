//! WebP as a clip: FFmpeg 5.1 reads no animated WebP, so its frames come from `image-webp`
//! (the decoder the `image` crate uses for still WebP), one at a time, each shown for the
//! duration the file gives it; a still WebP is a clip of one frame.

use crate::ffmpeg::decode::ClipPicture;
use crate::ffmpeg::input::{MediaError, VideoInfo};
use image_webp::WebPDecoder;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use tiny_skia::{IntSize, Pixmap};

/// The largest canvas reel accepts (as for any clip).
const MAX_SIDE: u32 = 8192;

/// Frame durations of 10 ms or less play as 100 ms, as browsers play them (an animation
/// whose frames all say 0 would otherwise be over at once).
fn frame_seconds(ms: u32) -> f64 {
    if ms <= 10 {
        0.1
    } else {
        f64::from(ms) / 1000.0
    }
}

/// Whether `path` holds a WebP file (by its RIFF header, not its name).
pub(crate) fn is_webp(path: &Path) -> bool {
    let mut head = [0u8; 12];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
        && &head[..4] == b"RIFF"
        && &head[8..] == b"WEBP"
}

/// One loop of an animation as played (durations of 10 ms or less as 100 ms), read from
/// the frames' headers (ANMF chunks) without decoding them.
fn loop_seconds(path: &Path) -> Result<f64, MediaError> {
    let bad = |e: std::io::Error| MediaError::Bad(format!("corrupt WebP: {e}"));
    let mut r = BufReader::new(std::fs::File::open(path).map_err(bad)?);
    r.seek(SeekFrom::Start(12)).map_err(bad)?;
    let mut total = 0.0;
    let mut head = [0u8; 8];
    while r.read_exact(&mut head).is_ok() {
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let mut skip = size + size % 2;
        if &head[..4] == b"ANMF" && size >= 16 {
            let mut frame = [0u8; 16];
            r.read_exact(&mut frame).map_err(bad)?;
            total += frame_seconds(u32::from_le_bytes([frame[12], frame[13], frame[14], 0]));
            skip -= 16;
        }
        r.seek_relative(skip as i64).map_err(bad)?;
    }
    Ok(total)
}

type Decoder = WebPDecoder<BufReader<std::fs::File>>;

fn open(path: &Path) -> Result<Decoder, MediaError> {
    let file = std::fs::File::open(path).map_err(|e| MediaError::Bad(format!("cannot read the file: {e}")))?;
    let d = WebPDecoder::new(BufReader::new(file)).map_err(|e| MediaError::Bad(format!("corrupt WebP: {e}")))?;
    let (w, h) = d.dimensions();
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(MediaError::Bad(format!("unsupported frame size {w}x{h} (at most {MAX_SIDE}x{MAX_SIDE})")));
    }
    Ok(d)
}

/// Probes a WebP clip: its size, its length (one loop of the animation) and its first
/// frame, decoded so a damaged file is refused at planning.
pub(crate) fn probe(path: &Path) -> Result<VideoInfo, MediaError> {
    let mut clip = WebpClip::open(path, 64, 64)?;
    if clip.picture_at(0.0).is_none() {
        return Err(clip.fault.take().map_or_else(|| "corrupt WebP: no frame could be decoded".into(), |f| f.1));
    }
    let (w, h) = clip.decoder.dimensions();
    let duration = if clip.decoder.is_animated() { clip.loop_seconds } else { 0.0 };
    Ok(VideoInfo { width: w, height: h, duration, codec: "webp".into(), fps: None, rotation: 0 })
}

/// Decodes a WebP forward, frame by frame: a later time reads on, an earlier one starts
/// the animation again. Holds the canvas (one frame) and the picture last handed out.
pub(crate) struct WebpClip {
    decoder: Decoder,
    /// The composed canvas, RGB or RGBA as the file is.
    canvas: Vec<u8>,
    out: (u32, u32),
    /// When the frame in `canvas` starts, and when the next one does (seconds).
    shown: Option<f64>,
    next: f64,
    /// One loop of the animation (seconds, durations as played).
    loop_seconds: f64,
    picture: Option<ClipPicture>,
    pub(crate) frames_read: u64,
    /// The latest frame start read.
    pub(crate) last_pts: f64,
    /// The first damage met: when, and what.
    pub(crate) fault: Option<(f64, MediaError)>,
}

impl WebpClip {
    /// Opens `path`, producing pictures of `out_w` x `out_h`.
    pub(crate) fn open(path: &Path, out_w: u32, out_h: u32) -> Result<WebpClip, MediaError> {
        let decoder = open(path)?;
        let size = decoder.output_buffer_size().ok_or("the WebP is too large")?;
        let loop_seconds = if decoder.is_animated() { loop_seconds(path)? } else { 0.0 };
        Ok(WebpClip {
            decoder,
            canvas: vec![0; size],
            out: (out_w.max(1), out_h.max(1)),
            shown: None,
            next: 0.0,
            loop_seconds,
            picture: None,
            frames_read: 0,
            last_pts: 0.0,
            fault: None,
        })
    }

    fn note_fault(&mut self, t: f64, what: String) {
        if self.fault.is_none() {
            self.fault = Some((t, MediaError::Bad(what)));
        }
    }

    /// The frame shown at clip time `t` seconds: the last one starting at or before it
    /// (the first before 0, the last after the end).
    pub(crate) fn picture_at(&mut self, t: f64) -> Option<ClipPicture> {
        const EPS: f64 = 1e-6;
        if !self.decoder.is_animated() {
            if self.shown.is_none() {
                if let Err(e) = self.decoder.read_image(&mut self.canvas) {
                    self.note_fault(0.0, format!("corrupt WebP: {e}"));
                    return None;
                }
                self.frames_read = 1;
                self.shown = Some(0.0);
                self.picture = self.convert();
            }
            return self.picture.clone();
        }
        if self.shown.is_some_and(|s| t + EPS < s) {
            self.decoder.reset_animation();
            (self.shown, self.next) = (None, 0.0);
        }
        let mut read = false;
        while self.shown.is_none() || self.next <= t + EPS {
            match self.decoder.read_frame(&mut self.canvas) {
                Ok(ms) => {
                    self.shown = Some(self.next);
                    self.last_pts = self.last_pts.max(self.next);
                    self.next += frame_seconds(ms);
                    self.frames_read += 1;
                    read = true;
                }
                Err(image_webp::DecodingError::NoMoreFrames) => break,
                Err(e) => {
                    self.note_fault(self.next, format!("corrupt WebP: {e}"));
                    break;
                }
            }
        }
        if read || self.picture.is_none() {
            self.picture = self.shown.and_then(|_| self.convert());
        }
        self.picture.clone()
    }

    /// The canvas as a picture of the drawn size: premultiplied, resized with the same
    /// Lanczos3 as images.
    fn convert(&self) -> Option<ClipPicture> {
        let (w, h) = self.decoder.dimensions();
        let mut rgba = if self.decoder.has_alpha() {
            self.canvas.clone()
        } else {
            self.canvas.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect()
        };
        let transparent = rgba.chunks_exact(4).any(|p| p[3] != 255);
        super::image::premultiply(&mut rgba);
        let mut pm = Pixmap::from_vec(rgba, IntSize::from_wh(w, h)?)?;
        if (w, h) != self.out {
            pm = super::resize_premultiplied(&pm, self.out.0, self.out.1);
        }
        let pm = Arc::new(pm);
        Some(if transparent { ClipPicture::Alpha(pm) } else { ClipPicture::Rgba(pm) })
    }
}
