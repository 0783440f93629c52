//! Opening media for reading: only the demuxers reel supports, only the `file` protocol;
//! stream times, rates and rotation; an output's duration read back.

use ffmpeg_next as ff;
use std::path::Path;

/// What planning needs to know about a clip.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Seconds (stream or container duration).
    pub duration: f64,
    /// Codec name.
    pub codec: String,
    /// Average frame rate, when the stream states one.
    pub fps: Option<crate::time::Fps>,
    /// Clockwise rotation players apply (0, 90, 180, 270); width and height above are
    /// already the displayed ones.
    pub rotation: u32,
}

/// The clockwise rotation (0, 90, 180 or 270) a stream's display matrix asks for.
pub(super) fn display_rotation(stream: &ff::format::stream::Stream) -> u32 {
    for sd in stream.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            let d = sd.data();
            if d.len() >= 36 {
                let m: Vec<i32> =
                    d.chunks_exact(4).take(9).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
                // SAFETY: `m` holds the nine 32-bit entries the function reads.
                let ccw = unsafe { ff::ffi::av_display_rotation_get(m.as_ptr()) };
                if ccw.is_finite() {
                    return (((-ccw).rem_euclid(360.0) / 90.0).round() as u32 % 4) * 90;
                }
            }
        }
    }
    0
}

/// When a stream's first frame is, seconds in the file's own times (0 when unknown).
pub(super) fn stream_start(stream: &ff::format::stream::Stream) -> f64 {
    let t = stream.start_time();
    if t == ff::ffi::AV_NOPTS_VALUE {
        0.0
    } else {
        t as f64 * f64::from(stream.time_base())
    }
}

/// The stream's average frame rate, when it states a valid one.
pub(super) fn stream_fps(stream: &ff::format::stream::Stream) -> Option<crate::time::Fps> {
    let rate = stream.avg_frame_rate();
    (rate.numerator() > 0 && rate.denominator() > 0)
        .then(|| crate::time::Fps::new(rate.numerator() as u32, rate.denominator() as u32))
        .flatten()
}

/// How much of a file [`open_input`] reads before returning.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Probe {
    /// `avformat_find_stream_info` always (planning's checks).
    Whole,
    /// Only where the header may not hold what a decoder needs. MP4 and MOV headers hold
    /// it (the codec's parameters, sizes, time base, rotation), so `find_stream_info`,
    /// which decodes frames to fill them in, is skipped for those (15 ms of the 16 ms it
    /// took to open W1's clip, paid again by every still in a clip scene). Planning probed
    /// every clip whole ([`probe_video`]), so nothing opened this way was refused there.
    ForDecoding,
}

/// The demuxers reel opens media with (FFmpeg's short names): MP4/MOV, Matroska/WebM,
/// MPEG-TS and AVI. Playlists and other demuxers that open further files (HLS, concat,
/// image sequences) are not among them, so a file can never make FFmpeg read another.
pub const DEMUXERS: &str = "mov,matroska,mpegts,avi";

/// The options every input is opened with: only [`DEMUXERS`], and only the `file`
/// protocol (no network, no pipes, no `subfile` or `concat` tricks).
pub(super) fn input_options() -> ff::Dictionary<'static> {
    let mut d = ff::Dictionary::new();
    d.set("format_whitelist", DEMUXERS);
    d.set("protocol_whitelist", "file");
    d
}

/// Opens `path` and finds its video stream.
pub(super) fn open_input(path: &Path, probe: Probe) -> Result<(ff::format::context::Input, usize), String> {
    crate::encode::init().map_err(|e| e.to_string())?;
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| "not a readable video file: the path holds a NUL byte".to_string())?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: the dictionary's ownership moves to this raw pointer; it is owned again below.
    let mut opts = unsafe { input_options().disown() };
    // SAFETY: `ps` is null and the path NUL-terminated, as avformat_open_input requires; on
    // failure it frees what it allocated and leaves `ps` null. `opts` is a dictionary we
    // own, given back (with the options it did not use) and freed right after.
    let r = unsafe { ff::ffi::avformat_open_input(&mut ps, c_path.as_ptr(), std::ptr::null_mut(), &mut opts) };
    // SAFETY: `opts` came from `disown` (or was replaced by FFmpeg); owned again, it is freed.
    drop(unsafe { ff::Dictionary::own(opts) });
    if r != 0 || ps.is_null() {
        return Err(format!(
            "not a readable video file (reel reads MP4/MOV, Matroska/WebM, MPEG-TS and AVI; no playlists): {}",
            ff::Error::from(r)
        ));
    }
    // SAFETY: `ps` is an open input context; the wrapper closes it when dropped.
    let mut ictx = unsafe { ff::format::context::Input::wrap(ps) };
    let header_suffices = probe == Probe::ForDecoding && {
        let mov = ictx.format().name().split(',').any(|n| n == "mov" || n == "mp4");
        mov && ictx.streams().best(ff::media::Type::Video).is_some_and(|s| {
            let p = s.parameters();
            // SAFETY: reading plain fields of the stream's codec parameters.
            unsafe { (*p.as_ptr()).width > 0 && (*p.as_ptr()).height > 0 }
        })
    };
    if !header_suffices {
        // SAFETY: an open input context, as avformat_find_stream_info requires.
        let r = unsafe { ff::ffi::avformat_find_stream_info(ictx.as_mut_ptr(), std::ptr::null_mut()) };
        if r < 0 {
            return Err(format!("not a readable video file: {}", ff::Error::from(r)));
        }
    }
    let index = ictx.streams().best(ff::media::Type::Video).map(|s| s.index()).ok_or("the file has no video stream")?;
    Ok((ictx, index))
}

/// The duration of a written media file as its container reports it, seconds.
pub fn container_duration(path: &Path) -> Option<f64> {
    crate::encode::init().ok()?;
    let ictx = ff::format::input_with_dictionary(&path, input_options()).ok()?;
    (ictx.duration() > 0).then(|| ictx.duration() as f64 / ff::ffi::AV_TIME_BASE as f64)
}
