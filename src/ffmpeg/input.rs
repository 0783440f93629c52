//! Opening media for reading: reel's own I/O on the one file, only the demuxers reel supports;
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
/// MPEG-TS, AVI and GIF (an animated GIF plays as a clip, its frame delays honoured). Playlists and other demuxers that open further files (HLS, concat,
/// image sequences) are not among them.
pub const DEMUXERS: &str = "mov,matroska,mpegts,avi,gif";

/// The options every input is opened with: only [`DEMUXERS`], and no protocol at all (the
/// file is read through reel's own I/O, see [`open_file`]).
pub(super) fn input_options() -> ff::Dictionary<'static> {
    let mut d = ff::Dictionary::new();
    d.set("format_whitelist", DEMUXERS);
    d.set("protocol_whitelist", "none");
    d
}

/// Refuses every further file a demuxer asks for (an MP4's external data references, a
/// playlist's segments): the input is the one file reel opened and nothing else.
unsafe extern "C" fn refuse_io_open(
    _: *mut ff::ffi::AVFormatContext,
    _: *mut *mut ff::ffi::AVIOContext,
    _: *const std::ffi::c_char,
    _: std::ffi::c_int,
    _: *mut *mut ff::ffi::AVDictionary,
) -> std::ffi::c_int {
    ff::ffi::AVERROR(libc::EPERM)
}

/// Opens `path` for demuxing. reel opens the file itself and FFmpeg reads it only through
/// an I/O context on that descriptor (ffmpeg-next's `StreamIo`): no protocol is ever
/// involved, whatever the file says, and any request to open another file is refused.
/// Only [`DEMUXERS`] may claim it.
pub(super) fn open_file(path: &Path) -> Result<ff::format::context::Input, MediaError> {
    crate::encode::init().map_err(|e| MediaError::Bad(e.to_string()))?;
    let file = std::fs::File::open(path).map_err(|e| MediaError::Bad(format!("cannot read the file: {e}")))?;
    let mut io = ff::format::context::StreamIo::from_read_seek(file).map_err(|e| media_error("reading the file", e))?;
    // SAFETY: a fresh context from avformat_alloc_context (checked for null) gets our I/O
    // context and the custom-I/O flag before avformat_open_input, which takes the
    // user-supplied context (a null URL is allowed with custom I/O). On failure it frees
    // the context, leaves `pb` alone (custom I/O) and nulls `ps`; `io` is then dropped
    // here. On success the context and `io` move into the wrapper, which closes the one
    // before dropping the other. `opts` is owned again and freed right after the call.
    unsafe {
        let mut ps = ff::ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(MediaError::OutOfMemory("opening the file".into()));
        }
        (*ps).pb = io.as_mut_ptr();
        (*ps).flags |= ff::ffi::AVFMT_FLAG_CUSTOM_IO;
        (*ps).io_open = Some(refuse_io_open);
        let mut opts = input_options().disown();
        let r = ff::ffi::avformat_open_input(&mut ps, std::ptr::null(), std::ptr::null_mut(), &mut opts);
        drop(ff::Dictionary::own(opts));
        if r != 0 || ps.is_null() {
            return Err(media_error("", ff::Error::from(r)));
        }
        Ok(ff::format::context::Input::wrap_with_custom_io(ps, io))
    }
}

/// An FFmpeg failure while `doing` something, told apart: out of memory is the machine's
/// fault, anything else the file's.
pub(crate) fn media_error(doing: &str, e: ff::Error) -> MediaError {
    let told = |what: String| if doing.is_empty() { what } else { format!("{doing}: {what}") };
    match e {
        ff::Error::Other { errno } if errno == libc::ENOMEM => {
            MediaError::OutOfMemory(told("FFmpeg could not allocate memory".into()))
        }
        e => MediaError::Bad(told(e.to_string())),
    }
}

/// Why a media file could not be opened or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The file is not one reel reads, or it is damaged: the asset's fault.
    Bad(String),
    /// Memory ran out while working on it: the machine's fault, never reported as a bad
    /// asset.
    OutOfMemory(String),
}

impl MediaError {
    /// The same failure, a bad file's message preceded by `context` (running out of memory
    /// is told as it is).
    pub(crate) fn in_context(self, context: &str) -> MediaError {
        match self {
            MediaError::Bad(why) => MediaError::Bad(format!("{context}: {why}")),
            oom => oom,
        }
    }

    /// The same failure, its message followed by `more`.
    pub(crate) fn followed_by(self, more: &str) -> MediaError {
        match self {
            MediaError::Bad(why) => MediaError::Bad(why + more),
            MediaError::OutOfMemory(why) => MediaError::OutOfMemory(why + more),
        }
    }

    /// The crate error for this failure on the file at JSON path `path`, the problem's
    /// message starting with `what` (the asset, say): a bad file is a problem of the input,
    /// running out of memory is not.
    pub(crate) fn into_error(self, path: impl Into<String>, what: &str) -> crate::Error {
        let path = path.into();
        match self {
            MediaError::Bad(why) => crate::Error::invalid(path, format!("{what}{why}")),
            MediaError::OutOfMemory(why) => crate::Error::OutOfMemory(format!("{path}: {what}{why}")),
        }
    }
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaError::Bad(why) => f.write_str(why),
            MediaError::OutOfMemory(why) => write!(f, "out of memory: {why}"),
        }
    }
}

impl From<String> for MediaError {
    fn from(why: String) -> MediaError {
        MediaError::Bad(why)
    }
}

impl From<&str> for MediaError {
    fn from(why: &str) -> MediaError {
        MediaError::Bad(why.to_string())
    }
}

/// Opens `path` and finds its video stream.
pub(super) fn open_input(path: &Path, probe: Probe) -> Result<(ff::format::context::Input, usize), MediaError> {
    let mut ictx = open_file(path).map_err(|e| {
        e.in_context("not a readable video file (reel reads MP4/MOV, Matroska/WebM, MPEG-TS, AVI and GIF; no playlists)")
    })?;
    let header_suffices = probe == Probe::ForDecoding && {
        let mov = ictx.format().name().split(',').any(|n| n == "mov" || n == "mp4");
        mov && ictx.streams().best(ff::media::Type::Video).is_some_and(|s| {
            let p = s.parameters();
            // SAFETY: reading plain fields of the stream's codec parameters.
            unsafe { (*p.as_ptr()).width > 0 && (*p.as_ptr()).height > 0 }
        })
    };
    if !header_suffices {
        find_stream_info(&mut ictx).map_err(|e| e.in_context("not a readable video file"))?;
    }
    let index = ictx.streams().best(ff::media::Type::Video).map(|s| s.index()).ok_or("the file has no video stream")?;
    Ok((ictx, index))
}

/// `avformat_find_stream_info` on an open input.
pub(super) fn find_stream_info(ictx: &mut ff::format::context::Input) -> Result<(), MediaError> {
    // SAFETY: an open input context, as avformat_find_stream_info requires.
    let r = unsafe { ff::ffi::avformat_find_stream_info(ictx.as_mut_ptr(), std::ptr::null_mut()) };
    if r < 0 {
        return Err(media_error("", ff::Error::from(r)));
    }
    Ok(())
}

/// The duration of a written media file as its container reports it, seconds.
pub fn container_duration(path: &Path) -> Option<f64> {
    let mut ictx = open_file(path).ok()?;
    find_stream_info(&mut ictx).ok()?;
    (ictx.duration() > 0).then(|| ictx.duration() as f64 / ff::ffi::AV_TIME_BASE as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_is_never_a_bad_asset() {
        let oom = media_error("decoding", ff::Error::Other { errno: libc::ENOMEM });
        assert!(matches!(oom, MediaError::OutOfMemory(_)), "{oom:?}");
        let err = oom.into_error("scenes[0].background.asset", "asset \"big.mp4\": ");
        assert!(matches!(err, crate::Error::OutOfMemory(_)) && !err.is_input_error(), "{err:?}");
        assert!(err.to_string().contains("scenes[0].background.asset"), "{err}");

        let bad = media_error("decoding", ff::Error::InvalidData).into_error("scenes[0].background.asset", "");
        assert!(bad.is_input_error(), "{bad:?}");
        assert_eq!(bad.problems()[0].path, "scenes[0].background.asset");
    }

    #[test]
    fn only_the_opened_file_is_read() {
        // A playlist naming a file beside it is refused: no demuxer that opens other files
        // is allowed, and the format context may not open any file itself.
        let dir = std::env::temp_dir().join(format!("reel-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let list = dir.join("list.mp4");
        std::fs::write(&list, "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n/etc/hostname\n#EXT-X-ENDLIST\n")
            .expect("write");
        let opened = open_file(&list);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(matches!(opened, Err(MediaError::Bad(_))), "{:?}", opened.err());
    }
}
