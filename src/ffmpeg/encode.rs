//! H.264 and AAC encoding and MP4 muxing through ffmpeg-next.
//!
//! Notes from `PITFALLS.md`, all applied here: threads set explicitly (libavcodec defaults
//! to one); packet durations set before rescaling (FFmpeg 5.1's libx264 leaves them at 0 and
//! the MP4 would lose the last frame's duration); encoder time base 1/fps with the frame
//! index as pts, rescaled to the stream's time base read back after the header; global
//! header flag when the muxer asks; the stream tagged BT.709, limited range; output written
//! to a temporary file and renamed into place when complete.

pub use super::init;
use crate::pixels::Yuv420;

use crate::error::{Error, Result};
use crate::time::Fps;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// H.264 settings of one output.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VideoSettings {
    /// Frame width (even).
    pub width: u32,
    /// Frame height (even).
    pub height: u32,
    /// Frame rate.
    pub fps: Fps,
    /// x264 preset (`ultrafast` .. `veryslow`).
    pub preset: String,
    /// Constant rate factor, 0..=51.
    pub crf: u8,
    /// x264 profile (`high`, `main`, `baseline`).
    pub profile: String,
    /// Level (`4.1`), or none to let x264 choose.
    pub level: Option<String>,
    /// Keyframe interval in frames, or none for x264's default.
    pub gop: Option<u32>,
    /// Cap in kbit/s (VBV max rate and buffer), or none.
    pub max_kbps: Option<u32>,
    /// Encoder threads; 0 lets libavcodec choose.
    pub threads: usize,
}

impl VideoSettings {
    /// H.264 High at `width` x `height` and `fps`: preset `veryfast`, CRF 20, x264's own
    /// level, keyframe interval and rate (no cap), threads chosen by libavcodec.
    pub fn new(width: u32, height: u32, fps: Fps) -> VideoSettings {
        VideoSettings {
            width,
            height,
            fps,
            preset: "veryfast".into(),
            crf: 20,
            profile: "high".into(),
            level: None,
            gop: None,
            max_kbps: None,
            threads: 0,
        }
    }
}

/// The temporary name a final path is written under: hidden, in the same folder (so the
/// rename is atomic), unique per process.
pub fn temp_path(final_path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    final_path.with_file_name(format!(".{name}.{}-{n}.part", std::process::id()))
}

/// A complete output under its temporary name. Dropped uncommitted, it is removed.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("reel-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let report = reel::encode::PendingFile::write(&dir.join("report.json"), b"{}")?;
/// let poster = reel::encode::PendingFile::write(&dir.join("poster.jpg"), b"...")?;
/// assert!(!dir.join("report.json").exists()); // not yet under its final name
/// reel::encode::PendingFile::commit_all(vec![report, poster])?;
/// assert!(dir.join("report.json").exists() && dir.join("poster.jpg").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Writes `bytes` to a temporary file beside `target`.
    pub fn write(target: &Path, bytes: &[u8]) -> Result<PendingFile> {
        let tmp = temp_path(target);
        let pending = PendingFile { tmp, target: target.to_path_buf(), committed: false };
        std::fs::write(&pending.tmp, bytes).map_err(|e| Error::io(target, e))?;
        Ok(pending)
    }

    /// A complete file at `tmp`, to be renamed to `target`.
    pub(crate) fn adopt(tmp: PathBuf, target: PathBuf) -> PendingFile {
        PendingFile { tmp, target, committed: false }
    }

    /// The final name.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file into place.
    pub fn commit(mut self) -> Result<PathBuf> {
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        Ok(self.target.clone())
    }

    /// Commits every file, or none: when a rename fails, the files already renamed by this
    /// call are removed again and the rest are dropped (removed).
    pub fn commit_all(files: Vec<PendingFile>) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        let mut rest = files.into_iter();
        for f in rest.by_ref() {
            match f.commit() {
                Ok(p) => done.push(p),
                Err(e) => {
                    for p in &done {
                        let _ = std::fs::remove_file(p);
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The sample rate of every soundtrack reel encodes.
pub const SAMPLE_RATE: u32 = 48_000;

/// Where an output's sound comes from: interleaved stereo f32 at [`SAMPLE_RATE`], exactly
/// as long as the video. Each output reads its own stream from the start, so a soundtrack
/// is mixed as it is encoded and its memory does not grow with its length.
pub trait Soundtrack: Send + Sync + std::fmt::Debug {
    /// Sample frames in all.
    fn frames(&self) -> usize;
    /// A new stream of the samples, from the start.
    fn stream(&self) -> Box<dyn SoundStream>;
}

/// A soundtrack read in order.
pub trait SoundStream: Send {
    /// Fills `out` with the next interleaved stereo samples; returns how many values were
    /// written (fewer than `out.len()` only at the end).
    fn read(&mut self, out: &mut [f32]) -> usize;
    /// A file that could not be decoded again while streaming: its path and why.
    fn error(&self) -> Option<(&Path, &str)>;
}

/// The soundtrack of an output and its AAC bit rate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AudioSettings {
    /// The samples.
    pub soundtrack: Arc<dyn Soundtrack>,
    /// AAC bit rate in bit/s.
    pub bitrate: usize,
}

impl AudioSettings {
    /// `soundtrack` encoded as AAC at `bitrate` bit/s.
    pub fn new(soundtrack: Arc<dyn Soundtrack>, bitrate: usize) -> AudioSettings {
        AudioSettings { soundtrack, bitrate }
    }
}

/// A stream's failure as an error naming the file.
fn stream_error(stream: &dyn SoundStream) -> Result<()> {
    match stream.error() {
        Some((path, why)) => Err(Error::io(path, std::io::Error::other(why.to_string()))),
        None => Ok(()),
    }
}

/// The sound of an output, written into stream 1 of its muxer: encoded from a soundtrack,
/// or copied from another output's encoder.
pub(super) struct AudioOut {
    source: Source,
    enc_tb: ff::Rational,
    st_tb: ff::Rational,
    /// Outputs that carry this encoder's packets (see [`AudioFeed`]); `None` is sent after
    /// the last packet.
    taps: Vec<crossbeam_channel::Sender<Option<ff::Packet>>>,
}

enum Source {
    Encode(Box<Encoding>),
    /// Another output's packets; `ended` once its last has come.
    Copy { rx: crossbeam_channel::Receiver<Option<ff::Packet>>, ended: bool },
}

/// An AAC encoder fed from a soundtrack.
struct Encoding {
    encoder: ff::encoder::Audio,
    frame: ff::frame::Audio,
    frame_size: usize,
    reader: Box<dyn SoundStream>,
    /// Sample frames in the soundtrack.
    total: usize,
    /// One encoder frame of interleaved samples.
    chunk: Vec<f32>,
    /// Sample frames sent to the encoder so far.
    sent: usize,
}

/// Where a writer's sound comes from.
enum Sound<'a> {
    Encode(&'a AudioSettings),
    Copy(AudioFeed),
}

/// One output's AAC packets, for another output that carries the same sound: that output
/// copies them instead of encoding the soundtrack again (the preview carries the web
/// copy's). Made by [`Mp4Writer::share_audio`], used by [`Mp4Writer::create_copying`].
pub struct AudioFeed {
    params: ff::codec::Parameters,
    enc_tb: ff::Rational,
    rx: crossbeam_channel::Receiver<Option<ff::Packet>>,
}

impl std::fmt::Debug for AudioFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioFeed").field("queued", &self.rx.len()).finish()
    }
}

/// Writes H.264 (and AAC) in MP4 to a temporary file; [`Mp4Writer::finish`] renames it into place.
/// Dropped unfinished, it removes the temporary file.
pub struct Mp4Writer {
    octx: ff::format::context::Output,
    encoder: ff::encoder::Video,
    frame: ff::frame::Video,
    enc_tb: ff::Rational,
    st_tb: ff::Rational,
    next_pts: i64,
    fps: Fps,
    audio: Option<AudioOut>,
    /// Time spent in [`Mp4Writer::feed_audio`].
    audio_time: std::time::Duration,
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
    /// Set: stop between packets with [`Error::Cancelled`] (see [`Mp4Writer::stop_when`]).
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl std::fmt::Debug for Mp4Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Writer").field("target", &self.target).finish()
    }
}

impl Mp4Writer {
    /// Opens the encoder and the muxer for `target`.
    pub fn create(target: &Path, s: &VideoSettings, audio: Option<&AudioSettings>) -> Result<Mp4Writer> {
        Self::create_with(target, s, audio, None)
    }

    /// [`Mp4Writer::create`], with `comment` in the file's metadata (a segment of a chunked
    /// render says which frames of which video it holds there).
    pub fn create_with(
        target: &Path,
        s: &VideoSettings,
        audio: Option<&AudioSettings>,
        comment: Option<&str>,
    ) -> Result<Mp4Writer> {
        Self::open(target, s, audio.map(Sound::Encode), comment)
    }

    /// [`Mp4Writer::create_with`] for an output whose sound is another output's: `feed`'s
    /// packets are copied, nothing is encoded. That output must be finished first (its
    /// last packets come with its flush; this writer's [`Mp4Writer::finish_pending`]
    /// waits for them).
    pub fn create_copying(
        target: &Path,
        s: &VideoSettings,
        feed: AudioFeed,
        comment: Option<&str>,
    ) -> Result<Mp4Writer> {
        Self::open(target, s, Some(Sound::Copy(feed)), comment)
    }

    /// This writer's AAC packets, from here on, for another output to carry (see
    /// [`Mp4Writer::create_copying`]); `None` when it has no sound, or copies its own.
    /// Ask before the first frame: a feed gets the packets written after it was made.
    pub fn share_audio(&mut self) -> Option<AudioFeed> {
        let a = self.audio.as_mut()?;
        let Source::Encode(e) = &a.source else { return None };
        let (tx, rx) = crossbeam_channel::unbounded();
        a.taps.push(tx);
        Some(AudioFeed { params: ff::codec::Parameters::from(&e.encoder), enc_tb: a.enc_tb, rx })
    }

    fn open(target: &Path, s: &VideoSettings, sound: Option<Sound<'_>>, comment: Option<&str>) -> Result<Mp4Writer> {
        init()?;
        let tmp = temp_path(target);
        let enc_err = |what: &str, e: ff::Error| Error::Encode(format!("{what}: {e}"));
        let mut octx = ff::format::output_as(&tmp, "mp4").map_err(|e| {
            match std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp) {
                Err(io) => Error::io(&tmp, io),
                Ok(_) => {
                    let _ = std::fs::remove_file(&tmp);
                    enc_err("opening the MP4 muxer", e)
                }
            }
        })?;
        let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
        let codec = ff::encoder::find_by_name("libx264")
            .ok_or_else(|| Error::Encode("this FFmpeg build has no libx264 encoder".into()))?;
        let mut ost = octx.add_stream(codec).map_err(|e| enc_err("adding the video stream", e))?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| enc_err("creating the encoder", e))?;
        let enc_tb = ff::Rational(s.fps.den as i32, s.fps.num as i32);
        enc.set_width(s.width);
        enc.set_height(s.height);
        enc.set_format(ff::format::Pixel::YUV420P);
        enc.set_time_base(enc_tb);
        enc.set_frame_rate(Some(ff::Rational(s.fps.num as i32, s.fps.den as i32)));
        // BT.709, limited range: what our RGB -> YUV conversion produces.
        enc.set_colorspace(ff::color::Space::BT709);
        enc.set_color_range(ff::color::Range::MPEG);
        enc.set_color_primaries(ff::color::Primaries::BT709);
        enc.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
        if let Some(g) = s.gop {
            enc.set_gop(g);
        }
        if let Some(k) = s.max_kbps {
            enc.set_max_bit_rate(k as usize * 1000);
            unsafe {
                (*enc.as_mut_ptr()).rc_buffer_size = (k * 2000) as i32;
            }
        }
        enc.set_threading(ff::threading::Config {
            kind: ff::threading::Type::Frame,
            count: s.threads,
            ..Default::default()
        });
        if global_header {
            // Added to the codec's default flags, never in place of them: FFmpeg's libx264
            // defaults include closed GOPs (`+cgop`, x264's own default), which replacing
            // the flags would silently turn into open GOPs.
            add_flags(&mut enc, ff::codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = ff::Dictionary::new();
        opts.set("preset", &s.preset);
        opts.set("crf", &s.crf.to_string());
        // CRF 0 is lossless in x264, which needs the High 4:4:4 Predictive profile.
        opts.set("profile", if s.crf == 0 { "high444" } else { &s.profile });
        if let Some(l) = &s.level {
            opts.set("level", l);
        }
        if let Some(g) = s.gop {
            // A fixed keyframe cadence: no scene-cut keyframes in between, no longer GOPs.
            opts.set("x264-params", &format!("keyint={g}:min-keyint={g}:scenecut=0"));
        }
        let encoder = enc.open_with(opts).map_err(|e| enc_err("opening libx264", e))?;
        ost.set_parameters(&encoder);
        let audio = match sound {
            None => None,
            Some(Sound::Encode(a)) => Some(Self::add_audio(&mut octx, a, global_header)?),
            Some(Sound::Copy(feed)) => Some(Self::add_audio_copy(&mut octx, feed)?),
        };
        if let Some(c) = comment {
            let mut meta = ff::Dictionary::new();
            meta.set("comment", c);
            octx.set_metadata(meta);
        }
        let mut mux_opts = ff::Dictionary::new();
        mux_opts.set("movflags", "+faststart");
        octx.write_header_with(mux_opts).map_err(|e| enc_err("writing the MP4 header", e))?;
        let st_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(enc_tb);
        let mut audio = audio;
        if let Some(a) = audio.as_mut() {
            a.st_tb = octx.stream(1).map(|s| s.time_base()).unwrap_or(a.enc_tb);
        }
        let frame = ff::frame::Video::new(ff::format::Pixel::YUV420P, s.width, s.height);
        Ok(Mp4Writer {
            octx,
            encoder,
            frame,
            enc_tb,
            st_tb,
            next_pts: 0,
            fps: s.fps,
            audio,
            audio_time: std::time::Duration::ZERO,
            tmp,
            target: target.to_path_buf(),
            done: false,
            stop: None,
        })
    }

    /// FFmpeg's native AAC encoder: AAC-LC, planar float, 1024-sample frames, 48 kHz stereo.
    pub(super) fn add_audio(
        octx: &mut ff::format::context::Output,
        a: &AudioSettings,
        global_header: bool,
    ) -> Result<AudioOut> {
        let enc_err = |what: &str, e: ff::Error| Error::Encode(format!("{what}: {e}"));
        let codec = ff::encoder::find(ff::codec::Id::AAC)
            .ok_or_else(|| Error::Encode("this FFmpeg build has no AAC encoder".into()))?;
        let mut ost = octx.add_stream(codec).map_err(|e| enc_err("adding the audio stream", e))?;
        let mut enc = ff::codec::context::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(|e| enc_err("creating the AAC encoder", e))?;
        let rate = SAMPLE_RATE as i32;
        let enc_tb = ff::Rational(1, rate);
        enc.set_rate(rate);
        enc.set_channel_layout(ff::ChannelLayout::STEREO);
        enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
        enc.set_bit_rate(a.bitrate);
        enc.set_time_base(enc_tb);
        if global_header {
            add_flags(&mut enc, ff::codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc.open_as(codec).map_err(|e| enc_err("opening the AAC encoder", e))?;
        ost.set_parameters(&encoder);
        let frame_size = (encoder.frame_size() as usize).max(1);
        let mut frame = ff::frame::Audio::new(
            ff::format::Sample::F32(ff::format::sample::Type::Planar),
            frame_size,
            ff::ChannelLayout::STEREO,
        );
        frame.set_rate(rate as u32);
        let encoding = Encoding {
            encoder,
            frame,
            frame_size,
            reader: a.soundtrack.stream(),
            total: a.soundtrack.frames(),
            chunk: vec![0.0; frame_size * 2],
            sent: 0,
        };
        Ok(AudioOut { source: Source::Encode(Box::new(encoding)), enc_tb, st_tb: enc_tb, taps: Vec::new() })
    }

    /// An audio stream carrying `feed`'s packets as they are.
    fn add_audio_copy(octx: &mut ff::format::context::Output, feed: AudioFeed) -> Result<AudioOut> {
        let mut ost = octx
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| Error::Encode(format!("adding the audio stream: {e}")))?;
        ost.set_parameters(feed.params);
        // SAFETY: a plain field of the new stream's parameters: let the muxer pick the tag.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        }
        let source = Source::Copy { rx: feed.rx, ended: false };
        Ok(AudioOut { source, enc_tb: feed.enc_tb, st_tb: feed.enc_tb, taps: Vec::new() })
    }

    /// Encodes audio up to sample frame `until` (whole encoder frames only unless `last`),
    /// timing it.
    fn feed_audio(&mut self, until: usize, last: bool) -> Result<()> {
        if self.audio.is_none() {
            return Ok(());
        }
        let t = std::time::Instant::now();
        let r = self.encode_audio(until, last);
        self.audio_time += t.elapsed();
        r
    }

    /// Seconds this writer has spent on its soundtrack so far: mixing (or reading) it and
    /// encoding it to AAC, on the thread that writes.
    pub fn audio_seconds(&self) -> f64 {
        self.audio_time.as_secs_f64()
    }

    fn encode_audio(&mut self, until: usize, last: bool) -> Result<()> {
        match self.audio.as_mut() {
            Some(a) => a.encode(&mut self.octx, &self.target, until, last),
            None => Ok(()),
        }
    }
}

impl AudioOut {
    /// The time base the muxer chose for the audio stream.
    pub(super) fn set_stream_time_base(&mut self, tb: Option<ff::Rational>) {
        if let Some(tb) = tb {
            self.st_tb = tb;
        }
    }

    /// Encodes the soundtrack up to sample frame `until` (whole encoder frames only unless
    /// `last`) and writes the packets ready; a copy writes the packets come so far.
    pub(super) fn encode(
        &mut self,
        octx: &mut ff::format::context::Output,
        target: &Path,
        until: usize,
        last: bool,
    ) -> Result<()> {
        let e = match &mut self.source {
            Source::Encode(e) => e,
            Source::Copy { .. } => return self.copy(octx, target, false),
        };
        let until = until.min(e.total);
        while e.sent < until && (last || e.sent + e.frame_size <= until) {
            let n = e.frame_size.min(until - e.sent);
            e.frame.set_samples(n);
            let got = e.reader.read(&mut e.chunk[..n * 2]);
            stream_error(e.reader.as_ref())?;
            e.chunk[got..n * 2].fill(0.0);
            let src = &e.chunk[..n * 2];
            for ch in 0..2 {
                let plane = e.frame.plane_mut::<f32>(ch);
                for (i, d) in plane.iter_mut().take(n).enumerate() {
                    *d = src[i * 2 + ch];
                }
            }
            e.frame.set_pts(Some(e.sent as i64));
            e.encoder
                .send_frame(&e.frame)
                .map_err(|err| Error::Encode(format!("sending audio to the AAC encoder: {err}")))?;
            e.sent += n;
            Self::drain(&mut e.encoder, &mut self.taps, (self.enc_tb, self.st_tb), octx, target)?;
        }
        Ok(())
    }

    /// Encodes the rest of the soundtrack, flushes the encoder and writes its packets; a
    /// copy waits for the rest of its packets.
    pub(super) fn finish(&mut self, octx: &mut ff::format::context::Output, target: &Path) -> Result<()> {
        self.encode(octx, target, usize::MAX, true)?;
        let Source::Encode(e) = &mut self.source else { return self.copy(octx, target, true) };
        e.encoder.send_eof().map_err(|err| Error::Encode(format!("flushing the AAC encoder: {err}")))?;
        Self::drain(&mut e.encoder, &mut self.taps, (self.enc_tb, self.st_tb), octx, target)?;
        for tap in self.taps.drain(..) {
            let _ = tap.send(None);
        }
        Ok(())
    }

    /// Writes the packets ready, handing a copy to every tap (a tap whose output has gone
    /// is dropped).
    fn drain(
        encoder: &mut ff::encoder::Audio,
        taps: &mut Vec<crossbeam_channel::Sender<Option<ff::Packet>>>,
        (enc_tb, st_tb): (ff::Rational, ff::Rational),
        octx: &mut ff::format::context::Output,
        target: &Path,
    ) -> Result<()> {
        let mut pkt = ff::Packet::empty();
        while encoder.receive_packet(&mut pkt).is_ok() {
            taps.retain(|tap| tap.send(Some(pkt.clone())).is_ok());
            Self::write(&mut pkt, (enc_tb, st_tb), octx, target)?;
        }
        Ok(())
    }

    /// Writes an encoder's packet (in `enc_tb`) into the muxer's audio stream (in `st_tb`).
    fn write(
        pkt: &mut ff::Packet,
        (enc_tb, st_tb): (ff::Rational, ff::Rational),
        octx: &mut ff::format::context::Output,
        target: &Path,
    ) -> Result<()> {
        pkt.set_stream(1);
        pkt.rescale_ts(enc_tb, st_tb);
        pkt.write_interleaved(octx).map_err(|e| write_error(target, "writing an audio packet", e))
    }

    /// Writes the copied packets come so far; with `all`, waits for the last one. The
    /// output they come from stopping before its last is an error (this file's sound would
    /// end early).
    fn copy(&mut self, octx: &mut ff::format::context::Output, target: &Path, all: bool) -> Result<()> {
        let Source::Copy { rx, ended } = &mut self.source else { return Ok(()) };
        while !*ended {
            // Err(true): the other output's writer went without its last packet.
            let got = if all {
                rx.recv().map_err(|_| true)
            } else {
                rx.try_recv().map_err(|e| e.is_disconnected())
            };
            match got {
                Ok(Some(mut pkt)) => Self::write(&mut pkt, (self.enc_tb, self.st_tb), octx, target)?,
                Ok(None) => *ended = true,
                Err(true) => {
                    return Err(Error::Encode(format!(
                        "{}: the output whose sound this file carries stopped before its end",
                        target.display()
                    )))
                }
                Err(false) => return Ok(()),
            }
        }
        Ok(())
    }
}

impl Mp4Writer {
    /// The picture size this writer encodes.
    pub fn size(&self) -> (u32, u32) {
        (self.frame.width(), self.frame.height())
    }

    /// Encodes the next frame.
    pub fn write(&mut self, f: &Yuv420) -> Result<()> {
        let w = f.width as usize;
        for (plane, src, pw) in [(0, &f.y, w), (1, &f.u, w / 2), (2, &f.v, w / 2)] {
            let stride = self.frame.stride(plane);
            let dst = self.frame.data_mut(plane);
            for (row, chunk) in src.chunks_exact(pw).enumerate() {
                dst[row * stride..row * stride + pw].copy_from_slice(chunk);
            }
        }
        let mut frame = std::mem::replace(&mut self.frame, ff::frame::Video::empty());
        let sent = self.send(&mut frame);
        self.frame = frame;
        sent
    }

    /// Encodes the next frame, the picture `pick` finds in `owner`, without copying it:
    /// the encoder's frame points into the planes and holds a clone of `owner` until
    /// FFmpeg lets go of it (with libx264 that is before this returns: x264 copies the
    /// picture into its own frame as it takes it). [`Mp4Writer::write`] copied 3 MB a
    /// 1080p frame here first, 1.1 % of W1's CPU.
    pub fn write_shared<O: Send + Sync + 'static>(&mut self, owner: &Arc<O>, pick: fn(&O) -> &Yuv420) -> Result<()> {
        let f = pick(owner);
        let (w, h) = (f.width as usize, f.height as usize);
        if (f.width, f.height) != self.size()
            || f.y.len() < w * h
            || f.u.len() < w / 2 * (h / 2)
            || f.v.len() < w / 2 * (h / 2)
        {
            return Err(Error::Encode(format!(
                "a {}x{} picture sent to a {}x{} encoder",
                f.width,
                f.height,
                self.size().0,
                self.size().1
            )));
        }
        let mut frame = ff::frame::Video::empty();
        // SAFETY: `frame` is a fresh AVFrame we own. Its planes point into `f`, which lives
        // as long as `owner`; the one buffer reference we create owns a clone of `owner`
        // (released by `release_arc` when the last reference to the buffer goes), so the
        // planes outlive every use FFmpeg makes of them. `Arc` gives no mutable access, and
        // the buffer is marked read-only, so nobody writes into them meanwhile.
        unsafe {
            let keep = Box::into_raw(Box::new(owner.clone())) as *mut std::ffi::c_void;
            let buf = ff::ffi::av_buffer_create(
                f.y.as_ptr() as *mut u8,
                f.y.len(),
                Some(release_arc::<O>),
                keep,
                ff::ffi::AV_BUFFER_FLAG_READONLY,
            );
            if buf.is_null() {
                drop(Box::from_raw(keep as *mut Arc<O>));
                return Err(Error::Encode("out of memory wrapping a frame for libx264".into()));
            }
            let p = frame.as_mut_ptr();
            (*p).buf[0] = buf;
            (*p).format = ff::ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as i32;
            (*p).width = f.width as i32;
            (*p).height = f.height as i32;
            for (i, (plane, stride)) in [(&f.y, w), (&f.u, w / 2), (&f.v, w / 2)].into_iter().enumerate() {
                (*p).data[i] = plane.as_ptr() as *mut u8;
                (*p).linesize[i] = stride as i32;
            }
        }
        self.send(&mut frame)
    }

    /// Stamps `frame` with the next pts, encodes it, writes the packets ready, and encodes
    /// the soundtrack up to the same time.
    fn send(&mut self, frame: &mut ff::frame::Video) -> Result<()> {
        frame.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.encoder.send_frame(frame).map_err(|e| Error::Encode(format!("sending a frame to libx264: {e}")))?;
        self.drain()?;
        // Keep the audio level with the video so the muxer interleaves closely.
        let until = self.fps.sample_at(self.next_pts as u64, SAMPLE_RATE) as usize;
        self.feed_audio(until, false)
    }

    /// Stops the writer between packets, with [`Error::Cancelled`], once `flag` is set:
    /// flushing libx264's lookahead at a large size takes seconds, and a cancelled render
    /// does not wait for it (the unfinished file is removed when the writer is dropped).
    pub fn stop_when(&mut self, flag: Option<Arc<std::sync::atomic::AtomicBool>>) {
        self.stop = flag;
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn drain(&mut self) -> Result<()> {
        let mut pkt = ff::Packet::empty();
        loop {
            if self.stopped() {
                return Err(Error::Cancelled);
            }
            if self.encoder.receive_packet(&mut pkt).is_err() {
                break;
            }
            pkt.set_stream(0);
            pkt.set_duration(1);
            pkt.rescale_ts(self.enc_tb, self.st_tb);
            pkt.write_interleaved(&mut self.octx).map_err(|e| write_error(&self.target, "writing a packet", e))?;
        }
        Ok(())
    }

    /// Flushes the encoder, writes the trailer (faststart moves the index to the front) and
    /// renames the file into place.
    pub fn finish(self) -> Result<PathBuf> {
        self.finish_pending()?.commit()
    }

    /// Completes the file (flush, trailer) under its temporary name; [`PendingFile::commit`]
    /// renames it into place. A render commits all its outputs together, only once every
    /// one of them is complete.
    pub fn finish_pending(mut self) -> Result<PendingFile> {
        self.encoder.send_eof().map_err(|e| Error::Encode(format!("flushing libx264: {e}")))?;
        self.drain()?;
        let t = std::time::Instant::now();
        if let Some(a) = self.audio.as_mut() {
            a.finish(&mut self.octx, &self.target)?;
        }
        self.audio_time += t.elapsed();
        self.octx.write_trailer().map_err(|e| write_error(&self.target, "writing the MP4 trailer", e))?;
        // The pending file owns the temporary file from here on.
        self.done = true;
        Ok(PendingFile { tmp: self.tmp.clone(), target: self.target.clone(), committed: false })
    }
}

/// The free callback of a buffer made by [`Mp4Writer::write_shared`]: drops its `Arc`.
unsafe extern "C" fn release_arc<O>(opaque: *mut std::ffi::c_void, _data: *mut u8) {
    // SAFETY: `opaque` is the `Box<Arc<O>>` write_shared leaked for this buffer, and
    // FFmpeg calls this once, when the buffer's last reference goes.
    drop(unsafe { Box::from_raw(opaque as *mut Arc<O>) });
}

/// Sets `flags` on an encoder context on top of the flags it already has (the codec's
/// defaults); ffmpeg-next's `set_flags` replaces them all.
pub(super) fn add_flags(ctx: &mut ff::codec::context::Context, flags: ff::codec::Flags) {
    // SAFETY: the context is allocated and not yet opened; `flags` is a plain int field.
    unsafe {
        let p = ctx.as_mut_ptr();
        (*p).flags |= flags.bits() as std::ffi::c_int;
    }
}

/// A failed write: the operating system's error (a full disk, a quota, a file size limit)
/// as an [`Error::Io`] naming the output, anything else as an encoding error.
pub(super) fn write_error(target: &Path, what: &str, e: ff::Error) -> Error {
    match e {
        ff::Error::Other { errno } if errno > 0 && errno != ff::util::error::EINVAL => {
            Error::io(target, std::io::Error::from_raw_os_error(errno))
        }
        e => Error::Encode(format!("{what}: {e}")),
    }
}

impl Drop for Mp4Writer {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
