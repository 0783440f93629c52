//! Video clips: probing at plan time, and a forward-only decoder that returns, for a clip
//! time `t`, the frame whose presentation time is the latest at or before `t`, converted to
//! RGBA (BT.709 or BT.601 as the stream says) at the size it is drawn.
//!
//! Opening is in `input.rs`, a clip's sound in `clip_audio.rs`.

use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tiny_skia::{IntSize, Pixmap};

use super::input::*;
use crate::pixels::planes::{copy_plane, shrink_half};

/// Probes a clip and decodes its first frame, so a corrupt or unsupported file is refused
/// before rendering starts. The error is a sentence for the user.
pub fn probe_video(path: &Path) -> Result<VideoInfo, MediaError> {
    let (ictx, index) = open_input(path, Probe::Whole)?;
    let stream = ictx.stream(index).ok_or("the file has no video stream")?;
    let tb = stream.time_base();
    let dur = if stream.duration() > 0 {
        stream.duration() as f64 * f64::from(tb)
    } else if ictx.duration() > 0 {
        ictx.duration() as f64 / ff::ffi::AV_TIME_BASE as f64
    } else {
        0.0
    };
    let fps = stream_fps(&stream);
    let params = stream.parameters();
    let codec = ff::codec::context::Context::from_parameters(params).map_err(|e| media_error("unsupported video", e))?;
    let dec = open_decoder(codec, &stream).map_err(|e| media_error("unsupported video codec", e))?;
    let rotation = display_rotation(&stream);
    let (w, h) = if rotation % 180 == 90 { (dec.height(), dec.width()) } else { (dec.width(), dec.height()) };
    let name = dec.codec().map(|c| c.name().to_string()).unwrap_or_default();
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(format!("unsupported frame size {w}x{h} (at most 8192x8192)").into());
    }
    drop(dec);
    let start = stream_start(&stream);
    let frame_dur = fps.map(|f| 1.0 / f.as_f64()).unwrap_or(0.1);
    drop(ictx);
    if dur > 0.0 {
        check_complete(path, start, dur, frame_dur)?;
    }
    let mut d = FfClip::open(path, w.min(64), h.min(64))?;
    if d.frame_at(0.0).is_none() {
        return Err("corrupt video: no frame could be decoded".into());
    }
    if let Some((t, what)) = d.fault.take() {
        return Err(what.in_context(&format!("corrupt video at {t:.3} s")));
    }
    Ok(VideoInfo { width: w, height: h, duration: dur.max(d.last_pts - start), codec: name, fps, rotation })
}

/// Opens the decoder for a video stream: FFmpeg's own, except for VP9 with an alpha channel
/// (WebM's `alpha_mode`), whose transparency only the libvpx decoder reads (FFmpeg's VP9
/// decoder ignores the alpha planes Matroska carries beside the picture).
fn open_decoder(
    ctx: ff::codec::context::Context,
    stream: &ff::format::stream::Stream,
) -> Result<ff::decoder::Video, ff::Error> {
    let alpha = stream.metadata().get("alpha_mode").is_some_and(|v| v.trim() == "1");
    if alpha && ctx.id() == ff::codec::Id::VP9 {
        if let Some(libvpx) = ff::decoder::find_by_name("libvpx-vp9") {
            return ctx.decoder().open_as(libvpx)?.video();
        }
    }
    ctx.decoder().video()
}

/// Whether frames of this pixel format carry an alpha channel.
fn has_alpha(format: ff::format::Pixel) -> bool {
    // SAFETY: av_pix_fmt_desc_get returns null or a pointer to a static descriptor.
    unsafe {
        let desc = ff::ffi::av_pix_fmt_desc_get(format.into());
        !desc.is_null() && (*desc).flags & ff::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0
    }
}

/// Premultiplies straight RGBA in place (what tiny-skia draws); false when every pixel
/// was opaque (the picture can then take the opaque paths).
fn premultiply(rgba: &mut [u8]) -> bool {
    let mut transparent = false;
    for px in rgba.chunks_exact_mut(4) {
        let a = u16::from(px[3]);
        if a != 255 {
            transparent = true;
            for c in &mut px[..3] {
                *c = ((u16::from(*c) * a + 127) / 255) as u8;
            }
        }
    }
    transparent
}

/// Refuses a file cut short: its header (an MP4's sample table, say) promises `dur` seconds
/// but the packets stop earlier. Packets of every stream count (a clip's audio may outlast
/// its picture, and the container's duration then covers the audio); a cut file stops them
/// all. Reads packets without decoding them, from a little before the promised end, so it
/// costs a few reads, not a decode of the clip.
fn check_complete(path: &Path, start: f64, dur: f64, frame_dur: f64) -> Result<(), MediaError> {
    // The latest end time of any packet, read from `from` seconds on (None: all).
    let last_end = |from: Option<f64>| -> Result<Option<f64>, MediaError> {
        let (mut ictx, _) = open_input(path, Probe::Whole)?;
        if let Some(from) = from {
            let ts = (from * ff::ffi::AV_TIME_BASE as f64) as i64;
            if ictx.seek(ts, ..ts).is_err() {
                return Ok(None);
            }
        }
        let mut end: Option<f64> = None;
        for (stream, packet) in ictx.packets() {
            if let Some(pts) = packet.pts().or(packet.dts()) {
                let e = (pts + packet.duration().max(0)) as f64 * f64::from(stream.time_base()) - start;
                end = Some(end.map_or(e, |x: f64| x.max(e)));
            }
        }
        Ok(end)
    };
    let near_end = start + dur - 2.0;
    let end = match (near_end > start).then_some(near_end) {
        Some(from) => match last_end(Some(from))? {
            Some(e) => Some(e),
            None => last_end(None)?,
        },
        None => last_end(None)?,
    };
    // A frame and a half of slack: containers round the last frame's duration.
    let slack = (1.5 * frame_dur).max(0.05);
    match end {
        Some(e) if e + slack >= dur => Ok(()),
        Some(e) => Err(format!("truncated video: the file declares {dur:.2} s but its data ends at {e:.2} s").into()),
        None => Err(format!("truncated video: the file declares {dur:.2} s but holds no packets").into()),
    }
}

/// Rotates an RGBA buffer of `w` x `h` clockwise by `deg` (90, 180, 270).
fn rotate_rgba(src: &[u8], w: usize, h: usize, deg: u32) -> Vec<u8> {
    let mut dst = vec![0u8; src.len()];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy, dw) = match deg {
                90 => (h - 1 - y, x, h),
                180 => (w - 1 - x, h - 1 - y, w),
                _ => (y, w - 1 - x, h),
            };
            let s = (y * w + x) * 4;
            let d = (dy * dw + dx) * 4;
            dst[d..d + 4].copy_from_slice(&src[s..s + 4]);
        }
    }
    dst
}

/// Frame threads for a clip decoder: one up to the pixel rate of 4K at 30 fps, two above.
///
/// The decoder runs on its own thread, ahead of the frame workers, while libx264 and the
/// workers keep both cores busy: what counts is the CPU and memory a decode costs, not its
/// latency, and frame threads add to both. Measured with the `ffmpeg` program on W3's clips:
/// the 4K clip took 2.7 s of CPU and 92 MB with one thread, 3.1 s and 120 MB with two; the
/// 1080p60 clip 2.0 s and 64 MB against 2.1 s and 73 MB. One thread decodes 4K at about 110
/// frames a second here, well ahead of a 1080p render; past 4K30 a second thread keeps it so.
fn decoder_threads(pixels: u64, fps: f64) -> usize {
    if pixels as f64 * fps.clamp(1.0, 240.0) > 3840.0 * 2160.0 * 30.5 {
        2
    } else {
        1
    }
}

/// Times within this many seconds are the same time (frame times are rounded from their
/// stream's time base).
const TIME_EPS: f64 = 1e-6;

/// At most this many keyframes a seek steps back to find one shown at or before the time.
const SEEK_BACK_STEPS: usize = 8;

/// What a [`FfClip`] is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A render: pictures asked for in order, the decoder fed ahead on its own thread.
    Render,
    /// One picture ([`FfClip::open_yuv_for_still`]).
    Still,
    /// Pictures asked for one by one, mostly forward ([`FfClip::open_yuv_for_scrubbing`]).
    Scrub,
}

/// Presentation times of the packets last sent that a decoder remembers, to tell which
/// frames will not be shown (more than any reordering delay H.264 or HEVC allows).
const SENT_KEPT: usize = 32;

/// A first request later than this many seconds into the file seeks instead of decoding
/// forward from the start (a keyframe is rarely closer than that to the start anyway).
const FIRST_SEEK_S: f64 = 0.25;

/// At most this many earlier pictures are kept for reuse (the render's queue holds a few).
const SPARE_PICTURES: usize = 6;

/// A decoded clip frame at the size it is drawn.
#[derive(Debug, Clone)]
pub enum ClipPicture {
    /// Opaque RGBA (premultiplied and straight are the same bytes).
    Rgba(Arc<Pixmap>),
    /// Premultiplied RGBA with transparent pixels: a clip with an alpha channel (VP9 alpha
    /// in WebM, ProRes 4444, QuickTime Animation, PNG in MOV, a GIF's transparent colour).
    Alpha(Arc<Pixmap>),
    /// The decoder's own 4:2:0 planes, scaled to the drawn size; the frame worker that draws
    /// it converts it to RGBA, straight into the canvas when it covers it exactly.
    Yuv(Arc<YuvPicture>),
}

impl ClipPicture {
    /// Picture size.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn size(&self) -> (u32, u32) {
        match self {
            ClipPicture::Rgba(p) | ClipPicture::Alpha(p) => (p.width(), p.height()),
            ClipPicture::Yuv(y) => (y.planes.width, y.planes.height),
        }
    }

    /// The picture as an RGBA pixmap (converted when it is YUV).
    pub fn to_pixmap(&self) -> Option<Arc<Pixmap>> {
        match self {
            ClipPicture::Rgba(p) | ClipPicture::Alpha(p) => Some(p.clone()),
            ClipPicture::Yuv(y) => {
                let mut pm = Pixmap::new(y.planes.width, y.planes.height)?;
                y.to_rgba(pm.data_mut()).then(|| Arc::new(pm))
            }
        }
    }
}

/// A 4:2:0 picture and how to read its colours.
#[derive(Debug, Clone)]
pub struct YuvPicture {
    /// The planes (even width and height).
    pub planes: crate::pixels::Yuv420,
    /// BT.709 matrix (else BT.601), by the same rule as the RGBA path.
    pub bt709: bool,
    /// Full ("JPEG") range instead of limited.
    pub full_range: bool,
}

impl YuvPicture {
    /// Converts to opaque RGBA rows of `width * 4` bytes (the `yuv` crate's SIMD kernels,
    /// about 1 ms a 1080p frame). False if `rgba` has the wrong size.
    pub fn to_rgba(&self, rgba: &mut [u8]) -> bool {
        self.to_rgba_rows((0, self.planes.height), rgba)
    }

    /// Converts the rows `[y0, y1)` (both even) to opaque RGBA in `rgba` (`width * 4` bytes
    /// a row): the same values as those rows of [`YuvPicture::to_rgba`], since each 2x2
    /// block takes its own chroma. False if the rows or `rgba`'s size are wrong.
    pub fn to_rgba_rows(&self, (y0, y1): (u32, u32), rgba: &mut [u8]) -> bool {
        let p = &self.planes;
        let w = p.width;
        if y0 % 2 != 0 || y1 % 2 != 0 || y0 >= y1 || y1 > p.height || rgba.len() != w as usize * (y1 - y0) as usize * 4 {
            return false;
        }
        let (luma, chroma) = (y0 as usize * w as usize, (y0 / 2) as usize * (w / 2) as usize);
        let (Some(y_plane), Some(u_plane), Some(v_plane)) = (p.y.get(luma..), p.u.get(chroma..), p.v.get(chroma..)) else {
            return false;
        };
        let img = yuv::YuvPlanarImage {
            y_plane,
            y_stride: w,
            u_plane,
            u_stride: w / 2,
            v_plane,
            v_stride: w / 2,
            width: w,
            height: y1 - y0,
        };
        let range = if self.full_range { yuv::YuvRange::Full } else { yuv::YuvRange::Limited };
        let matrix = if self.bt709 { yuv::YuvStandardMatrix::Bt709 } else { yuv::YuvStandardMatrix::Bt601 };
        yuv::yuv420_to_rgba(&img, rgba, w * 4, range, matrix).is_ok()
    }
}

/// Whether a frame's colours use the BT.709 matrix: tagged so, or untagged and HD-sized.
fn is_bt709(frame: &ff::frame::Video) -> bool {
    match frame.color_space() {
        ff::color::Space::BT709 => true,
        ff::color::Space::Unspecified => frame.height() >= 720,
        _ => false,
    }
}

/// Runs `scaler` over the whole of `frame` into the planes `dst` (strides `stride`);
/// returns the rows written.
///
/// # Safety
/// `scaler` must have been made for `frame`'s format and size, and `dst` must hold the
/// output planes it was made for, each with room for its rows at `stride`.
unsafe fn scale_into(
    scaler: &mut ff::software::scaling::Context,
    frame: &ff::frame::Video,
    dst: [*mut u8; 4],
    stride: [i32; 4],
) -> i32 {
    let src = frame.as_ptr();
    // SAFETY: the source planes and strides are the decoded frame's own; the rest is the
    // caller's promise.
    unsafe {
        ff::ffi::sws_scale(
            scaler.as_mut_ptr(),
            (*src).data.as_ptr() as *const *const u8,
            (*src).linesize.as_ptr(),
            0,
            frame.height() as i32,
            dst.as_ptr(),
            stride.as_ptr(),
        )
    }
}

/// A swscale context that may move to another thread with the decoder that owns it.
struct Scaler(ff::software::scaling::Context);

// SAFETY: an SwsContext has no tie to the thread that made it; it is only ever used through
// `&mut` (one thread at a time), like the codec and format contexts ffmpeg-next already
// marks `Send`.
unsafe impl Send for Scaler {}

/// Decodes a clip forward, converting frames to premultiplied RGBA pixmaps of a fixed size.
pub(crate) struct FfClip {
    path: PathBuf,
    ictx: ff::format::context::Input,
    index: usize,
    decoder: ff::decoder::Video,
    tb: f64,
    /// The stream's start time, seconds: MPEG-TS files start at 1.4 s, say.
    start: f64,
    out: (u32, u32),
    rotation: u32,
    scaler: Option<(ff::format::Pixel, u32, u32, Scaler)>,
    /// Hand out 4:2:0 pictures where the frames allow it (see [`FfClip::open_yuv`]).
    yuv: bool,
    /// What the decoder is for.
    mode: Mode,
    /// A still's packets shown after the time wanted, not sent yet.
    held: Vec<ff::Packet>,
    /// Packets read ahead, to be fed before reading on: the keyframe a seek found; or, when a
    /// scrubbing decoder drained instead of decoding the keyframe after the picture asked
    /// for, that keyframe and the packet after it, to restart from for a later picture.
    ahead: std::collections::VecDeque<ff::Packet>,
    /// The presentation time (stream time base) of the keyframe the last seek started from.
    seek_key: Option<i64>,
    /// How much later a keyframe is shown than decoded (stream time base), as last seen:
    /// the demuxer's index holds keyframes' decoding times (MP4 with B-frames: 2 frames
    /// earlier).
    key_lead: i64,
    /// The newest decoded frame (its time and picture).
    current: Option<(f64, ClipPicture)>,
    /// Pictures handed out before; one nobody else holds any more is written over instead
    /// of allocating a new one.
    spare: Vec<ClipPicture>,
    /// A decoded frame not yet shown (its time is after the last request).
    pending: Option<(f64, ff::frame::Video)>,
    eof: bool,
    /// The time being decoded towards (the request in [`FfClip::picture_at`]).
    target: f64,
    /// Presentation times of the packets sent last (since the last seek), newest last.
    sent: std::collections::VecDeque<f64>,
    /// Packets sent to the decoder since it was opened.
    packets_sent: u64,
    /// Largest presentation time seen.
    pub last_pts: f64,
    /// The first damage the decoder met: the time in the file, seconds, and what happened.
    pub fault: Option<(f64, MediaError)>,
}

impl std::fmt::Debug for FfClip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfClip").field("path", &self.path).field("out", &self.out).finish()
    }
}

impl FfClip {
    /// Opens `path`, producing RGBA frames of `out_w` x `out_h`.
    pub fn open(path: &Path, out_w: u32, out_h: u32) -> Result<FfClip, MediaError> {
        Self::open_as(path, out_w, out_h, false, Mode::Render)
    }

    /// Like [`FfClip::open`], but [`FfClip::picture_at`] hands out the decoder's
    /// 4:2:0 planes scaled to the drawn size (a 2x2 average for an exact half, as 4K clips
    /// drawn at 1080p are) instead of RGBA: less than half the memory a queued picture
    /// holds, and the conversion to RGBA runs on the frame workers, into the canvas when the
    /// clip covers it. Frames of other pixel formats, odd sizes and rotated clips stay RGBA.
    pub fn open_yuv(path: &Path, out_w: u32, out_h: u32) -> Result<FfClip, MediaError> {
        Self::open_as(path, out_w, out_h, true, Mode::Render)
    }

    /// [`FfClip::open_yuv`] for one picture, as soon as possible: a still waits for
    /// the decoder, so it decodes on a frame thread per core (a render's decoder runs ahead
    /// on a thread of its own and takes one), and it decodes only what that picture needs:
    /// no unreferenced frame after the time asked for, and no packet after the last one that
    /// can be shown at that time (the decoder is drained instead of fed further to push the
    /// picture out of its reordering and thread delays). A request for a later time than
    /// the last seeks again.
    pub fn open_yuv_for_still(path: &Path, out_w: u32, out_h: u32) -> Result<FfClip, MediaError> {
        Self::open_as(path, out_w, out_h, true, Mode::Still)
    }

    /// [`FfClip::open_yuv`] for pictures asked for one after another, each as soon as
    /// possible (a preview scrubbing through a clip): a frame thread per core, like a still;
    /// a later time decodes forward from the last, unless a keyframe lies between them, when
    /// it seeks to that keyframe instead; an earlier time seeks.
    pub fn open_yuv_for_scrubbing(path: &Path, out_w: u32, out_h: u32) -> Result<FfClip, MediaError> {
        Self::open_as(path, out_w, out_h, true, Mode::Scrub)
    }

    fn open_as(path: &Path, out_w: u32, out_h: u32, yuv: bool, mode: Mode) -> Result<FfClip, MediaError> {
        let (ictx, index) = open_input(path, Probe::ForDecoding)?;
        let stream = ictx.stream(index).ok_or("the file has no video stream")?;
        let tb = f64::from(stream.time_base());
        let start = stream_start(&stream);
        let rotation = display_rotation(&stream);
        let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| media_error("reading the video's parameters", e))?;
        let fps = stream_fps(&stream).map_or(30.0, |f| f.as_f64());
        // SAFETY: plain fields of the codec context, filled from the stream's parameters.
        let (cw, ch) = unsafe { ((*ctx.as_ptr()).width, (*ctx.as_ptr()).height) };
        // A render's decoder runs ahead on a thread of its own; a still waits for its
        // decoder, which takes a frame thread per core.
        let threads = match mode {
            Mode::Render => decoder_threads(cw.max(0) as u64 * ch.max(0) as u64, fps),
            Mode::Still | Mode::Scrub => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        ctx.set_threading(ff::threading::Config {
            kind: ff::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        // Damage must be reported, not concealed: with frame threads FFmpeg 5.1 drops the
        // frames' decode_error_flags, but with AV_EF_EXPLODE the packet is refused instead.
        // SAFETY: a plain field of the codec context, set before the decoder opens.
        unsafe {
            (*ctx.as_mut_ptr()).err_recognition |= ff::ffi::AV_EF_EXPLODE;
        }
        let decoder = open_decoder(ctx, &stream).map_err(|e| media_error("unsupported video codec", e))?;
        Ok(FfClip {
            path: path.to_path_buf(),
            ictx,
            index,
            decoder,
            tb,
            start,
            out: (out_w.max(1), out_h.max(1)),
            rotation,
            scaler: None,
            yuv,
            mode,
            held: Vec::new(),
            ahead: std::collections::VecDeque::new(),
            seek_key: None,
            key_lead: 0,
            current: None,
            spare: Vec::new(),
            pending: None,
            eof: false,
            target: f64::NEG_INFINITY,
            sent: std::collections::VecDeque::new(),
            packets_sent: 0,
            last_pts: 0.0,
            fault: None,
        })
    }

    fn note_fault(&mut self, t: f64, what: MediaError) {
        if self.fault.is_none() {
            self.fault = Some((t, what));
        }
    }

    /// Decodes the next frame in presentation order, or `None` at the end.
    fn next_frame(&mut self) -> Option<(f64, ff::frame::Video)> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        let mut frame = ff::frame::Video::empty();
        loop {
            let got = self.decoder.receive_frame(&mut frame);
            if let Err(e) = got {
                let again = matches!(e, ff::Error::Other { errno } if errno == ff::util::error::EAGAIN);
                if !again && !matches!(e, ff::Error::Eof) {
                    self.note_fault(self.last_pts, media_error("the decoder failed", e));
                }
            }
            if got.is_ok() {
                let pts = frame.timestamp().or(frame.pts()).unwrap_or(0) as f64 * self.tb;
                self.last_pts = self.last_pts.max(pts);
                // SAFETY: the frame was just filled by the decoder; reading a plain field.
                let damage = unsafe { (*frame.as_ptr()).decode_error_flags };
                if damage != 0 || frame.is_corrupt() {
                    self.note_fault(pts, "the picture is damaged (the decoder concealed errors)".into());
                }
                return Some((pts, frame));
            }
            if self.eof {
                // Drained before a keyframe: go on from it only for a time it can show.
                let key = self.ahead.front().and_then(|k| k.pts());
                if key.is_none_or(|k| self.after(Some(k))) {
                    return None;
                }
                self.restart();
                self.seek_key = key;
                continue;
            }
            // Feed the next packet of our stream.
            let Some(packet) = self.ahead.pop_front().or_else(|| self.read_packet()) else {
                self.drain();
                continue;
            };
            // Leading pictures of the keyframe a seek started from (an open group of
            // pictures: decoded after it, shown before it, referring to the group before)
            // cannot be decoded, and are never shown: that keyframe is at or before the time.
            if packet.pts().zip(self.seek_key).is_some_and(|(p, k)| p < k) {
                continue;
            }
            if self.mode == Mode::Scrub && packet.is_key() && !self.sent.is_empty() && self.after(packet.pts()) {
                // Scrubbing, a keyframe shown after the time wanted is only needed to let
                // the frames held back for reordering out (17 ms for W1's clip, at each
                // group's end): every frame shown by then was sent before it, unless the
                // packet after it is one of its leading pictures (shown before it, referring
                // to the group before). Otherwise drain instead, and restart from that
                // keyframe when a picture it can show is asked for, as a seek to it would.
                let next = self.ahead.pop_front().or_else(|| self.read_packet());
                let leading = next.as_ref().and_then(|n| n.pts()).zip(packet.pts()).is_some_and(|(n, k)| n < k);
                if let Some(n) = next {
                    self.ahead.push_front(n);
                }
                if !leading {
                    self.ahead.push_front(packet);
                    self.drain();
                    continue;
                }
            }
            if self.mode == Mode::Still && !self.sent.is_empty() {
                // For one picture, only the packets up to the last one shown at or before
                // the time wanted are needed (a later one may still be referred to by it).
                // A packet decoded after that time (its decoding time is never after its
                // presentation time) ends the search: nothing from it on can be shown
                // then, so the decoder is drained instead of being fed the packets its
                // reordering and threads would otherwise wait for. Packets shown after the
                // time are held until a packet at or before it proves them needed (W1's
                // clip: the next group's keyframe, 17 ms to decode, was sent for a still
                // at the end of a group).
                if self.after(packet.dts()) {
                    self.held.clear();
                    self.drain();
                    continue;
                }
                if self.after(packet.pts()) {
                    self.held.push(packet);
                    continue;
                }
                for held in std::mem::take(&mut self.held) {
                    self.send(&held);
                }
            }
            self.send(&packet);
        }
    }

    /// The next packet of the clip's stream, if any.
    fn read_packet(&mut self) -> Option<ff::Packet> {
        let index = self.index;
        self.ictx.packets().find(|(stream, _)| stream.index() == index).map(|(_, p)| p)
    }

    /// Whether a packet time (in the stream's time base) is after the time being decoded
    /// towards.
    fn after(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| t as f64 * self.tb > self.target + TIME_EPS)
    }

    fn drain(&mut self) {
        self.eof = true;
        if self.decoder.id() == ff::codec::Id::H264 {
            // FFmpeg 5.1's H.264 decoder, started at an I-frame that is not an IDR picture
            // (a seek into an open group of pictures), marks the frames it holds back for
            // reordering as recovered only when a later frame lets them out; drained, it
            // drops them instead (`finalize_frame`): the last frames of such a clip, or a
            // still's frame, would never be shown. Decoded from that I-frame on (its
            // leading pictures are not sent), they are whole: let them out. After an IDR
            // picture every frame counts as recovered, and this changes nothing.
            // SAFETY: a plain field of the open codec context (frame threads copy it to
            // their own contexts with each packet, the empty drain packet included).
            unsafe {
                (*self.decoder.as_mut_ptr()).flags |= ff::ffi::AV_CODEC_FLAG_OUTPUT_CORRUPT as i32;
            }
        }
        let _ = self.decoder.send_eof();
    }

    fn send(&mut self, packet: &ff::Packet) {
        // A frame that cannot be shown (a later one sent already is at or before the time
        // wanted) and that no other frame refers to is not decoded at all: the unreferenced
        // B-frames passed over on the way to a time inside a group of pictures (a still, a
        // seek). What is shown does not change. (A 60 fps clip played at 30 fps gains
        // little: the decoder is fed ahead, so most frames it skips over are sent before
        // the request that passes them.) For one picture, an unreferenced frame after the
        // time wanted is not needed either.
        let eps = TIME_EPS;
        let pts = packet.pts().map(|p| p as f64 * self.tb);
        let passed = pts.is_some_and(|p| {
            p <= self.target + eps && self.sent.iter().any(|&s| s > p + eps && s <= self.target + eps)
        });
        let unseen = self.mode == Mode::Still && self.after(packet.pts());
        if let (true, Some(p), Some(d)) = (packet.is_key(), packet.pts(), packet.dts()) {
            self.key_lead = p - d;
        }
        self.decoder.skip_frame(if passed || unseen { ff::Discard::NonReference } else { ff::Discard::Default });
        if let Some(p) = pts {
            if self.sent.len() == SENT_KEPT {
                self.sent.pop_front();
            }
            self.sent.push_back(p);
        }
        self.packets_sent += 1;
        // A damaged packet is noted; the decoder recovers at the next keyframe.
        if let Err(e) = self.decoder.send_packet(packet) {
            let t = packet.pts().or(packet.dts()).unwrap_or(0) as f64 * self.tb;
            self.note_fault(t, media_error("the decoder refused a packet", e));
        }
    }

    fn convert(&mut self, frame: &ff::frame::Video) -> Option<ClipPicture> {
        let (w, h) = self.out;
        if self.yuv && self.rotation == 0 && w % 2 == 0 && h % 2 == 0 && frame.format() == ff::format::Pixel::YUV420P {
            return self.convert_yuv(frame).map(ClipPicture::Yuv);
        }
        let (pic, transparent) = self.convert_rgba(frame)?;
        Some(if transparent { ClipPicture::Alpha(pic) } else { ClipPicture::Rgba(pic) })
    }

    /// The frame's planes at the drawn size: copied when it is that size already, averaged
    /// 2x2 when it is exactly twice it, scaled by swscale (4:2:0 to 4:2:0, no colour
    /// conversion) otherwise.
    fn convert_yuv(&mut self, frame: &ff::frame::Video) -> Option<Arc<YuvPicture>> {
        let (w, h) = self.out;
        let bt709 = is_bt709(frame);
        let full_range = frame.color_range() == ff::color::Range::JPEG;
        let reusable = |p: &ClipPicture| matches!(p, ClipPicture::Yuv(y) if Arc::strong_count(y) == 1 && (y.planes.width, y.planes.height) == (w, h));
        let mut pic = match self.spare.iter().position(reusable).map(|i| self.spare.swap_remove(i)) {
            Some(ClipPicture::Yuv(y)) => y,
            _ => Arc::new(YuvPicture { planes: crate::pixels::Yuv420::new(w, h), bt709, full_range }),
        };
        let p = Arc::get_mut(&mut pic)?;
        p.bt709 = bt709;
        p.full_range = full_range;
        let (fw, fh) = (frame.width(), frame.height());
        let planes = &mut p.planes;
        let (w, h) = (w as usize, h as usize);
        if (fw, fh) == (w as u32, h as u32) || (fw, fh) == (2 * w as u32, 2 * h as u32) {
            let half = fw as usize == 2 * w;
            for (i, dst, pw, ph) in
                [(0, &mut planes.y, w, h), (1, &mut planes.u, w / 2, h / 2), (2, &mut planes.v, w / 2, h / 2)]
            {
                let (src, stride) = (frame.data(i), frame.stride(i));
                if half {
                    shrink_half(src, stride, dst, pw, ph);
                } else {
                    copy_plane(src, stride, dst, pw, ph);
                }
            }
            return Some(pic);
        }
        let key = (frame.format(), fw, fh);
        if self.scaler.as_ref().map(|s| (s.0, s.1, s.2)) != Some(key) {
            let flags = if fw >= 2 * w as u32 {
                ff::software::scaling::Flags::AREA
            } else {
                ff::software::scaling::Flags::BICUBIC
            };
            let ctx = ff::software::scaling::Context::get(
                key.0,
                fw,
                fh,
                ff::format::Pixel::YUV420P,
                w as u32,
                h as u32,
                flags,
            )
            .ok()?;
            self.scaler = Some((key.0, fw, fh, Scaler(ctx)));
        }
        let (_, _, _, scaler) = self.scaler.as_mut()?;
        let dst: [*mut u8; 4] =
            [planes.y.as_mut_ptr(), planes.u.as_mut_ptr(), planes.v.as_mut_ptr(), std::ptr::null_mut()];
        let dst_stride: [i32; 4] = [w as i32, (w / 2) as i32, (w / 2) as i32, 0];
        // SAFETY: the scaler was made for this frame's format and size and for 4:2:0 at
        // w x h; the planes hold exactly h rows of w and h/2 rows of w/2 samples.
        let rows = unsafe { scale_into(&mut scaler.0, frame, dst, dst_stride) };
        (rows == h as i32).then_some(pic)
    }

    /// The frame as premultiplied RGBA at the drawn size, and whether any pixel of it is
    /// transparent.
    fn convert_rgba(&mut self, frame: &ff::frame::Video) -> Option<(Arc<Pixmap>, bool)> {
        // Scale to the coded orientation, then turn to the displayed one.
        let (w, h) = if self.rotation % 180 == 90 { (self.out.1, self.out.0) } else { self.out };
        let key = (frame.format(), frame.width(), frame.height());
        if self.scaler.as_ref().map(|s| (s.0, s.1, s.2)) != Some(key) {
            let flags = if frame.width() >= w * 2 {
                ff::software::scaling::Flags::AREA
            } else {
                ff::software::scaling::Flags::BICUBIC
            };
            let mut ctx =
                ff::software::scaling::Context::get(key.0, key.1, key.2, ff::format::Pixel::RGBA, w, h, flags).ok()?;
            // swscale assumes BT.601 (PITFALLS.md).
            let bt709 = is_bt709(frame);
            let full = frame.color_range() == ff::color::Range::JPEG;
            unsafe {
                let cs = if bt709 { ff::ffi::SWS_CS_ITU709 } else { ff::ffi::SWS_CS_DEFAULT };
                let coef = ff::ffi::sws_getCoefficients(cs);
                ff::ffi::sws_setColorspaceDetails(ctx.as_mut_ptr(), coef, full as i32, coef, 1, 0, 1 << 16, 1 << 16);
            }
            self.scaler = Some((key.0, key.1, key.2, Scaler(ctx)));
        }
        let (_, _, _, scaler) = self.scaler.as_mut()?;
        // swscale writes straight into the pixmap's buffer (no intermediate frame to copy).
        let reusable = |p: &ClipPicture| matches!(p, ClipPicture::Rgba(p) | ClipPicture::Alpha(p) if Arc::strong_count(p) == 1 && p.width() == w && p.height() == h);
        let mut pic = match self.spare.iter().position(reusable) {
            Some(i) if self.rotation == 0 => match self.spare.swap_remove(i) {
                ClipPicture::Rgba(p) | ClipPicture::Alpha(p) => p,
                ClipPicture::Yuv(_) => Arc::new(Pixmap::new(w, h)?),
            },
            _ => Arc::new(Pixmap::new(w, h)?),
        };
        let buf = Arc::get_mut(&mut pic)?.data_mut();
        let dst: [*mut u8; 4] = [buf.as_mut_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()];
        let dst_stride: [i32; 4] = [(w * 4) as i32, 0, 0, 0];
        // SAFETY: the scaler was made for this frame's format and size and for RGBA at
        // w x h; `buf` holds exactly h rows of w * 4 bytes.
        let rows = unsafe { scale_into(&mut scaler.0, frame, dst, dst_stride) };
        if rows != h as i32 {
            return None;
        }
        // swscale writes straight alpha (255 for formats without it).
        let transparent = has_alpha(frame.format()) && premultiply(Arc::get_mut(&mut pic)?.data_mut());
        let (buf, w, h) = match self.rotation {
            0 => return Some((pic, transparent)),
            r => (
                rotate_rgba(pic.data(), w as usize, h as usize, r),
                if r == 180 { w } else { h },
                if r == 180 { h } else { w },
            ),
        };
        Pixmap::from_vec(buf, IntSize::from_wh(w, h)?).map(|p| (Arc::new(p), transparent))
    }

    /// The frame shown at clip time `t` seconds, counted from the stream's start (an MPEG-TS
    /// file's first frame, stamped 1.4 s, is at 0): the latest whose presentation time is at
    /// or before `t` (the first frame before the first timestamp, the last after the end).
    /// Playing forward never seeks; going back seeks once, then decodes forward.
    pub fn frame_at(&mut self, t: f64) -> Option<Arc<Pixmap>> {
        self.picture_at(t)?.to_pixmap()
    }

    /// Like [`FfClip::frame_at`], as the decoder holds it: RGBA, or 4:2:0 planes for a
    /// decoder opened with [`FfClip::open_yuv`].
    pub fn picture_at(&mut self, t: f64) -> Option<ClipPicture> {
        let eps = TIME_EPS;
        // Clip time counts from the stream's start; packets carry the file's own times.
        let t = t + self.start;
        self.target = t;
        match &self.current {
            // A still's decoder was drained for the picture it gave: start again.
            _ if self.mode == Mode::Still && (self.eof || self.current.is_some()) => self.seek(t),
            // Scrubbing forward past a keyframe: start from that keyframe.
            Some((cur, _)) if self.mode == Mode::Scrub && t > *cur + eps && self.keyframe_ahead(t) => self.seek(t),
            // Going back (a loop, a still before the last one).
            Some((cur, _)) if t + eps < *cur => self.seek(t),
            // The first request past the start (a trim): seek to the keyframe before it
            // rather than decode every frame from 0 (W3's trims decoded 90 4K frames and
            // 270 1080p frames nobody saw; a trim a minute in decoded a minute).
            None if t - self.start > FIRST_SEEK_S && self.pending.is_none() => self.seek(t),
            _ => {}
        }
        // Only the frame finally shown is converted: a 60 fps clip at 30 fps decodes two
        // frames a request but converts one.
        let mut chosen: Option<(f64, ff::frame::Video)> = None;
        loop {
            let Some((pts, frame)) = self.next_frame() else { break };
            if pts <= t + eps || (self.current.is_none() && chosen.is_none()) {
                // The first frame stands in for times before it; a frame at the time
                // itself is the one shown, whatever follows.
                let done = pts >= t - eps;
                chosen = Some((pts, frame));
                if done {
                    break;
                }
            } else {
                self.pending = Some((pts, frame));
                break;
            }
        }
        if let Some((pts, frame)) = chosen {
            if let Some(pic) = self.convert(&frame) {
                if let Some((_, old)) = self.current.replace((pts, pic)) {
                    if self.spare.len() < SPARE_PICTURES {
                        self.spare.push(old);
                    }
                }
            }
        }
        self.current.as_ref().map(|(_, p)| p.clone())
    }

    /// Packets sent to the decoder since it was opened, those of skipped frames included:
    /// the work it has done (each packet sent again after a seek counts again).
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// Whether the keyframe at or before `t` is later than every packet sent since the
    /// last seek, so seeking to it skips decoding the packets in between. A guess that only
    /// decides how fast a picture comes, never which: seeking and decoding forward give
    /// the same frame.
    fn keyframe_ahead(&self, t: f64) -> bool {
        let Some(stream) = self.ictx.stream(self.index) else { return false };
        let ts = (t / self.tb).floor() as i64;
        // SAFETY: the stream belongs to the open input; the entry is read at once, before
        // anything else touches the input.
        let key = unsafe {
            let e = ff::ffi::avformat_index_get_entry_from_timestamp(
                stream.as_ptr() as *mut _,
                ts,
                ff::ffi::AVSEEK_FLAG_BACKWARD,
            );
            if e.is_null() {
                return false;
            }
            (*e).timestamp
        };
        // The index's time may be the keyframe's decoding time: one shown after `t` (W1's
        // clip: decoded 2 frames before it is shown) would make the seek step back to the
        // keyframe before it, decoding again the whole group already decoded.
        let key = key.saturating_add(self.key_lead) as f64 * self.tb;
        key <= t + TIME_EPS && self.sent.iter().all(|&s| s + TIME_EPS < key)
    }

    fn seek(&mut self, t: f64) {
        // Start from the last keyframe shown at or before `t`. The demuxer's seek does not
        // always give that: MP4 with open groups of pictures can land on a keyframe shown
        // after `t` (the frame at `t` is then one of its leading pictures, which refer to the
        // group before), and MPEG-TS, with no index, lands on whatever packet has a time near
        // `t`. So: from where the seek lands, skip to the first keyframe (packets before it
        // cannot be decoded); while that one is shown after `t`, seek again from before it,
        // farther back each time the demuxer gives the same one, down to the stream's start.
        let av = |s: f64| (s * ff::ffi::AV_TIME_BASE as f64).floor() as i64;
        let mut ts = av(t.max(0.0));
        let mut back = 0;
        self.ahead.clear();
        for _ in 0..SEEK_BACK_STEPS {
            if self.ictx.seek(ts, ..ts).is_err() && !self.ahead.is_empty() {
                break;
            }
            // Read no further than `t`: a keyframe past it is of no use.
            let tb = self.tb;
            let past_t = |p: &ff::Packet| p.dts().or(p.pts()).is_some_and(|d| d as f64 * tb > t + TIME_EPS);
            let key =
                std::iter::from_fn(|| self.read_packet()).take_while(|p| p.is_key() || !past_t(p)).find(|p| p.is_key());
            let (shown_by_t, decoded_at) = match &key {
                Some(k) => (
                    k.pts().is_none_or(|p| p as f64 * self.tb <= t + TIME_EPS),
                    k.dts().or(k.pts()).map_or(ts, |d| av(d as f64 * self.tb)),
                ),
                None => (false, ts),
            };
            let again = key.as_ref().is_some_and(|k| self.ahead.front().is_some_and(|f| f.dts() == k.dts()));
            let missed = key.is_none();
            if key.is_some() {
                self.ahead = key.into_iter().collect();
            }
            if shown_by_t || ts < av(self.start) {
                break;
            }
            if missed || again || decoded_at > ts {
                back = (back * 2).max(ff::ffi::AV_TIME_BASE as i64 / 4);
            }
            ts = decoded_at.min(ts) - 1 - back;
        }
        self.seek_key = self.ahead.front().and_then(|p| p.pts());
        self.restart();
        self.current = None;
        self.pending = None;
    }

    /// Empties the decoder (after a drain, before a seek) for packets from a keyframe on.
    fn restart(&mut self) {
        // SAFETY: a plain field of the open codec context (see `drain`).
        unsafe {
            (*self.decoder.as_mut_ptr()).flags &= !(ff::ffi::AV_CODEC_FLAG_OUTPUT_CORRUPT as i32);
        }
        self.decoder.flush();
        self.sent.clear();
        self.held.clear();
        self.eof = false;
    }
}

#[cfg(test)]
mod tests {
    use super::{decoder_threads, YuvPicture};

    #[test]
    fn a_picture_converted_by_rows_is_the_picture_converted_whole() {
        let (w, h) = (70u32, 46u32);
        let mut planes = crate::pixels::Yuv420::new(w, h);
        for (i, v) in planes.y.iter_mut().enumerate() {
            *v = (i * 37 % 256) as u8;
        }
        for (i, (u, v)) in planes.u.iter_mut().zip(planes.v.iter_mut()).enumerate() {
            (*u, *v) = ((i * 11 % 256) as u8, (i * 29 % 256) as u8);
        }
        for (bt709, full_range) in [(true, false), (false, true)] {
            let pic = YuvPicture { planes: planes.clone(), bt709, full_range };
            let mut whole = vec![0u8; (w * h * 4) as usize];
            assert!(pic.to_rgba(&mut whole));
            let row = (w * 4) as usize;
            for (y0, y1) in [(0, 2), (2, 12), (12, 46), (30, 32)] {
                let mut part = vec![0u8; row * (y1 - y0) as usize];
                assert!(pic.to_rgba_rows((y0, y1), &mut part));
                assert!(part == whole[y0 as usize * row..y1 as usize * row], "rows {y0}..{y1}");
            }
            let mut part = vec![0u8; row * 2];
            assert!(!pic.to_rgba_rows((1, 3), &mut part), "odd rows");
            assert!(!pic.to_rgba_rows((46, 48), &mut part), "past the end");
        }
    }

    #[test]
    fn a_second_decoder_thread_only_past_4k30() {
        assert_eq!(decoder_threads(1920 * 1080, 60.0), 1);
        assert_eq!(decoder_threads(3840 * 2160, 30.0), 1);
        assert_eq!(decoder_threads(3840 * 2160, 29.97), 1);
        assert_eq!(decoder_threads(3840 * 2160, 60.0), 2);
        assert_eq!(decoder_threads(7680 * 4320, 24.0), 2);
    }
}
