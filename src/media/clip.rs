//! A clip's pictures, whatever reads them: FFmpeg for video files and animated GIF
//! (`crate::ffmpeg::decode`), `image-webp` for WebP (`super::webp`).

use super::webp::{self, WebpClip};
use crate::ffmpeg::decode::{ClipPicture, FfClip};
use crate::ffmpeg::input::{MediaError, VideoInfo};
use std::path::Path;
use std::sync::Arc;
use tiny_skia::Pixmap;

/// Probes a clip and decodes its first frame, so a corrupt or unsupported file is refused
/// before rendering starts. The error is a sentence for the user.
pub fn probe_video(path: &Path) -> Result<VideoInfo, MediaError> {
    if webp::is_webp(path) {
        return webp::probe(path);
    }
    crate::ffmpeg::decode::probe_video(path)
}

enum Source {
    Ff(Box<FfClip>),
    Webp(Box<WebpClip>),
}

/// Decodes a clip forward, handing out, for a clip time `t`, the frame shown then, at the
/// size it is drawn: an FFmpeg decoder (see its `open_*` constructors for how each kind of
/// use decodes), or a WebP animation's frames.
pub struct ClipDecoder {
    source: Source,
    /// Largest presentation time seen.
    pub last_pts: f64,
    /// The first damage the decoder met: the time in the file, seconds, and what happened.
    pub fault: Option<(f64, MediaError)>,
}

impl std::fmt::Debug for ClipDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Ff(d) => d.fmt(f),
            Source::Webp(_) => f.write_str("ClipDecoder(WebP)"),
        }
    }
}

impl ClipDecoder {
    fn with(
        path: &Path,
        out_w: u32,
        out_h: u32,
        ff: fn(&Path, u32, u32) -> Result<FfClip, MediaError>,
    ) -> Result<ClipDecoder, MediaError> {
        let source = if webp::is_webp(path) {
            Source::Webp(Box::new(WebpClip::open(path, out_w, out_h)?))
        } else {
            Source::Ff(Box::new(ff(path, out_w, out_h)?))
        };
        Ok(ClipDecoder { source, last_pts: 0.0, fault: None })
    }

    /// Opens `path`, producing RGBA frames of `out_w` x `out_h`.
    pub fn open(path: &Path, out_w: u32, out_h: u32) -> Result<ClipDecoder, MediaError> {
        Self::with(path, out_w, out_h, FfClip::open)
    }

    /// Like [`ClipDecoder::open`], but handing out the decoder's 4:2:0 planes where the
    /// frames allow it (see `FfClip::open_yuv`).
    pub fn open_yuv(path: &Path, out_w: u32, out_h: u32) -> Result<ClipDecoder, MediaError> {
        Self::with(path, out_w, out_h, FfClip::open_yuv)
    }

    /// [`ClipDecoder::open_yuv`] for one picture, as soon as possible.
    pub fn open_yuv_for_still(path: &Path, out_w: u32, out_h: u32) -> Result<ClipDecoder, MediaError> {
        Self::with(path, out_w, out_h, FfClip::open_yuv_for_still)
    }

    /// [`ClipDecoder::open_yuv`] for pictures asked for one after another, mostly forward.
    pub fn open_yuv_for_scrubbing(path: &Path, out_w: u32, out_h: u32) -> Result<ClipDecoder, MediaError> {
        Self::with(path, out_w, out_h, FfClip::open_yuv_for_scrubbing)
    }

    /// The frame shown at clip time `t` seconds (the latest starting at or before `t`), as
    /// RGBA.
    pub fn frame_at(&mut self, t: f64) -> Option<Arc<Pixmap>> {
        self.picture_at(t)?.to_pixmap()
    }

    /// Like [`ClipDecoder::frame_at`], as the decoder holds it.
    pub fn picture_at(&mut self, t: f64) -> Option<ClipPicture> {
        let (picture, last, fault) = match &mut self.source {
            Source::Ff(d) => (d.picture_at(t), d.last_pts, d.fault.take()),
            Source::Webp(d) => (d.picture_at(t), d.last_pts, d.fault.take()),
        };
        self.last_pts = self.last_pts.max(last);
        if self.fault.is_none() {
            self.fault = fault;
        }
        picture
    }

    /// Packets sent to the decoder since it was opened (frames read, for WebP).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn packets_sent(&self) -> u64 {
        match &self.source {
            Source::Ff(d) => d.packets_sent(),
            Source::Webp(d) => d.frames_read,
        }
    }
}
