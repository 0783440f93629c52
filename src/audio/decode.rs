//! Audio files and clips' sound: checked once while planning ([`AudioFile::open`],
//! [`AudioFile::open_clip`]), then decoded again as the mix needs them ([`FileReader`]), a
//! chain of [`Pull`] sources (the decoder, then rubato in chunks to 48 kHz). Nothing decoded
//! is kept between the two: memory does not grow with a sound's length.

use super::{Sound, RATE};
use crate::media::Pending;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

/// Longest audio file accepted, in seconds (a soundtrack, not an archive).
const MAX_SECONDS: u64 = 4 * 3600;

/// Frames decoded at a time, and the resampler's chunk size (rubato rounds it to the ratio).
const CHUNK: usize = 1024;

fn probe(source: Box<dyn MediaSource>, path: &Path) -> Result<Box<dyn FormatReader>, SymError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
}

/// A file opened once and read at positions of its own by each reader, so a reader started
/// during the render reads the file planning checked, even if its name has moved since.
struct SharedFile {
    file: Arc<std::fs::File>,
    pos: u64,
    len: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl MediaSource for SharedFile {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// A file's audio track decoded packet by packet, at the file's rate and channel count.
struct Packets {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    /// Rate and channels of the first decoded packet (0 before).
    rate: u32,
    channels: usize,
    chunk: Vec<f32>,
    bad_packets: usize,
}

/// One packet's samples, interleaved, with their rate and channel count.
struct Decoded<'a> {
    samples: &'a [f32],
    rate: u32,
    channels: usize,
}

/// What a file's header says, read when it is opened.
struct Header {
    /// Frames it declares, at its own rate.
    declared: Option<u64>,
    /// Encoder priming to drop from the start, frames.
    priming: usize,
}

impl Packets {
    fn open(file: &Arc<std::fs::File>, len: u64, path: &Path) -> Result<(Packets, Header), String> {
        let source = SharedFile { file: file.clone(), pos: 0, len };
        let format = probe(Box::new(source), path)
            .map_err(|e| format!("not a supported audio file (MP3, WAV, AAC/M4A, FLAC, Ogg Vorbis): {e}"))?;
        let track = format.default_track(TrackType::Audio).ok_or("the file has no audio track")?;
        let params = match &track.codec_params {
            Some(CodecParameters::Audio(p)) => p.clone(),
            _ => return Err("the file has no audio track".into()),
        };
        // symphonia does not remove AAC encoder priming in MP4/M4A (PITFALLS.md: 1024 samples
        // more than ffmpeg); MP3, FLAC, Vorbis and WAV are exact.
        let is_aac = params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
        let header = Header {
            // WAV's data size, FLAC's STREAMINFO, MP3's Xing/Info frame count, MP4's sample table.
            declared: track.num_frames,
            priming: if is_aac { track.delay.map(|d| d as usize).unwrap_or(1024) } else { 0 },
        };
        // A header's rate and channels are checked before a decoder is made for them (a WAV
        // can declare 4 GHz, and buffers are sized from it).
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(1);
        check_format(params.sample_rate.unwrap_or(RATE_RANGE.0), channels)?;
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| format!("unsupported audio codec: {e}"))?;
        let packets = Packets { format, decoder, track_id, rate: 0, channels: 0, chunk: Vec::new(), bad_packets: 0 };
        Ok((packets, header))
    }

    /// The next packet's samples, interleaved, with their rate and channel count; None at
    /// the end. A damaged packet is skipped, as players do.
    fn next(&mut self) -> Result<Option<Decoded<'_>>, String> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(format!("corrupt audio: {e}")),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let spec = buf.spec();
                    if self.rate == 0 {
                        check_format(spec.rate(), spec.channels().count())?;
                        self.rate = spec.rate();
                        self.channels = spec.channels().count();
                    } else if spec.rate() != self.rate || spec.channels().count() != self.channels {
                        return Err("the audio changes sample rate or channel count midway".into());
                    }
                    self.chunk.clear();
                    buf.copy_to_vec_interleaved(&mut self.chunk);
                    return Ok(Some(Decoded { samples: &self.chunk, rate: self.rate, channels: self.channels }));
                }
                Err(SymError::DecodeError(_)) => self.bad_packets += 1,
                Err(e) => return Err(format!("corrupt audio: {e}")),
            }
        }
    }
}

/// The sample rates accepted, Hz: telephone to studio rates. Outside them a file is refused
/// before it is decoded (a header can declare 1 Hz or 4 GHz; either costs gigabytes).
pub const RATE_RANGE: (u32, u32) = (8_000, 192_000);
/// The most channels a sound may have (7.1 surround).
pub const MAX_CHANNELS: usize = 8;

/// Refuses a sample rate or channel count outside what reel accepts.
fn check_format(rate: u32, channels: usize) -> Result<(), String> {
    if !(RATE_RANGE.0..=RATE_RANGE.1).contains(&rate) {
        return Err(format!("a sample rate of {rate} Hz; reel accepts {}..={} Hz", RATE_RANGE.0, RATE_RANGE.1));
    }
    if !(1..=MAX_CHANNELS).contains(&channels) {
        return Err(format!("{channels} channels; reel accepts 1..={MAX_CHANNELS}"));
    }
    Ok(())
}

/// An audio file checked by decoding it whole once: its rate, channels and length, so it can
/// be decoded again, in order, to the same samples, by each mix. It holds the open file,
/// not its samples.
#[derive(Debug)]
pub struct AudioFile {
    path: PathBuf,
    kind: Kind,
    /// The file's own rate and channel count.
    rate: u32,
    file_channels: usize,
    /// Frames at `rate`, the priming dropped (and a clip's lead included).
    native: usize,
    /// Frames played at 48 kHz (all of the file, or less when cut).
    frames: usize,
}

#[derive(Debug)]
enum Kind {
    /// An audio file, read by symphonia from the handle planning opened; `skip` frames of
    /// encoder priming dropped from its start.
    File { file: Arc<std::fs::File>, len: u64, skip: usize },
    /// A clip's sound, read by FFmpeg (by path, as the clip's picture is): `lead` frames of
    /// silence first, and at another playback rate resampled again as if it were at
    /// `playback` Hz (like tape: its pitch follows).
    Clip { lead: usize, playback: Option<u32> },
}

impl AudioFile {
    /// Decodes `path` (MP3, WAV, AAC/M4A, FLAC, Ogg Vorbis) once to check it, keeping none of
    /// it: refused when it is not audio, holds none, changes rate midway, is longer than 4
    /// hours or ends before its header says. The error is a sentence for the user.
    pub fn open(path: &Path) -> Result<AudioFile, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err("the file is empty".into());
        }
        let file = Arc::new(file);
        let (mut packets, header) = Packets::open(&file, len, path)?;
        let mut frames = 0u64;
        while let Some(d) = packets.next()? {
            let (rate, channels) = (u64::from(d.rate), d.channels.max(1) as u64);
            frames += d.samples.len() as u64 / channels;
            if rate > 0 && frames > MAX_SECONDS * rate {
                return Err(format!("the audio is longer than {MAX_SECONDS} s"));
            }
        }
        let (rate, channels) = (packets.rate, packets.channels);
        if rate == 0 || channels == 0 || frames == 0 {
            return Err(if packets.bad_packets > 0 {
                "corrupt audio: no packet could be decoded".into()
            } else {
                "the file holds no audio".into()
            });
        }
        if let Some(declared) = header.declared {
            // A tenth of a second covers encoder delay and padding, which headers count differently.
            if frames + u64::from(rate / 10) < declared {
                return Err(format!(
                    "truncated audio: the file declares {:.2} s but its data ends at {:.2} s",
                    declared as f64 / f64::from(rate),
                    frames as f64 / f64::from(rate)
                ));
            }
        }
        check_resampler(rate)?;
        let frames = frames as usize;
        let skip = header.priming.min(frames);
        let native = frames - skip;
        let at_48k = resampled_len(rate, native);
        Ok(AudioFile {
            path: path.to_path_buf(),
            kind: Kind::File { file, len, skip },
            rate,
            file_channels: channels,
            native,
            frames: at_48k,
        })
    }

    /// A video clip's sound (None when it has none), decoded once to check it, keeping none
    /// of it, to be played at `playback_rate` (1 is as recorded).
    pub fn open_clip(
        path: &Path,
        playback_rate: f64,
    ) -> Result<Option<AudioFile>, crate::ffmpeg::input::MediaError> {
        let Some(info) = crate::media::ClipAudio::probe(path)? else { return Ok(None) };
        let at_48k = resampled_len(info.rate, info.frames);
        let playback =
            ((playback_rate - 1.0).abs() > 1e-9).then(|| (RATE as f64 * playback_rate).round().max(1.0) as u32);
        check_resampler(info.rate)?;
        if let Some(p) = playback {
            check_resampler(p).map_err(|e| format!("at playbackRate {playback_rate}: {e}"))?;
        }
        Ok(Some(AudioFile {
            path: path.to_path_buf(),
            kind: Kind::Clip { lead: info.lead, playback },
            rate: info.rate,
            file_channels: 2,
            native: info.frames,
            frames: playback.map_or(at_48k, |p| resampled_len(p, at_48k)),
        }))
    }

    /// The same file played only up to 48 kHz frame `frames`.
    pub fn cut(mut self, frames: usize) -> AudioFile {
        self.frames = self.frames.min(frames);
        self
    }

    /// 1 (mono, played on both sides) or 2: a file with more channels is folded to stereo.
    pub fn channels(&self) -> usize {
        if self.file_channels == 1 {
            1
        } else {
            2
        }
    }

    /// Length in 48 kHz sample frames.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The file's path.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its frames at 48 kHz from the start: the decoder, resampled when the file is not at
    /// 48 kHz.
    fn source(&self) -> Result<Box<dyn Pull>, String> {
        let ch = self.channels();
        let (decoded, playback): (Box<dyn Pull>, _) = match &self.kind {
            Kind::File { file, len, skip } => {
                let (packets, _) = Packets::open(file, *len, &self.path)?;
                (Box::new(FileFrames { packets, skip: *skip, ch, pending: Pending::default() }), None)
            }
            Kind::Clip { lead, playback } => match crate::media::ClipAudio::open(&self.path, *lead)
                .map_err(|e| e.to_string())?
            {
                Some(clip) => (Box::new(clip), *playback),
                None => return Err("the clip's sound is gone".into()),
            },
        };
        let at_48k: Box<dyn Pull> =
            if self.rate == RATE { decoded } else { Box::new(Resampled::new(decoded, self.rate, self.native, ch)?) };
        Ok(match playback {
            Some(p) => Box::new(Resampled::new(at_48k, p, resampled_len(self.rate, self.native), ch)?),
            None => at_48k,
        })
    }

    /// All of it, decoded and resampled, in memory.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn decode_all(self: &Arc<Self>) -> Result<Sound, String> {
        let mut r = FileReader::new(self.clone());
        let ch = self.channels();
        let mut samples = Vec::with_capacity(self.frames * ch);
        for i in 0..self.frames {
            let (l, rr) = r.frame(i);
            samples.push(l);
            if ch == 2 {
                samples.push(rr);
            }
        }
        match r.error.take() {
            Some(e) => Err(e),
            None => Ok(if ch == 2 { Sound::stereo(samples) } else { Sound::mono(samples) }),
        }
    }
}

#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
/// Decodes `path` whole into f32 at 48 kHz, mono or stereo (see [`AudioFile`]).
pub fn decode_file(path: &Path) -> Result<Sound, String> {
    Arc::new(AudioFile::open(path)?).decode_all()
}

/// Folds one frame of `c` channels to the output's: mono and stereo as they are, more
/// channels as the front pair plus the others at -3 dB.
fn fold(frame: &[f32], out: &mut Vec<f32>) {
    match frame.len() {
        1 | 2 => out.extend_from_slice(frame),
        c => {
            let rest: f32 = frame[2..].iter().sum::<f32>() * std::f32::consts::FRAC_1_SQRT_2 / (c - 2) as f32;
            out.extend_from_slice(&[frame[0] + rest, frame[1] + rest]);
        }
    }
}

/// Frames in order, interleaved at a fixed channel count: a file's decoder, or a resampler
/// over another source.
pub(crate) trait Pull: Send {
    /// Appends up to `want` frames to `out` and returns how many; 0 only at the end.
    fn pull(&mut self, want: usize, out: &mut Vec<f32>) -> Result<usize, String>;
}

/// A clip's sound, decoded by FFmpeg, is pulled like a file's.
impl Pull for crate::media::ClipAudio {
    fn pull(&mut self, want: usize, out: &mut Vec<f32>) -> Result<usize, String> {
        crate::media::ClipAudio::pull(self, want, out)
    }
}

/// An audio file's frames at its own rate, the priming dropped, folded to mono or stereo.
struct FileFrames {
    packets: Packets,
    /// Priming frames still to drop.
    skip: usize,
    ch: usize,
    pending: Pending,
}

impl Pull for FileFrames {
    fn pull(&mut self, want: usize, out: &mut Vec<f32>) -> Result<usize, String> {
        while self.pending.frames(self.ch) == 0 {
            let Some(Decoded { samples, channels, .. }) = self.packets.next()? else { return Ok(0) };
            let c = channels.max(1);
            let drop = self.skip.min(samples.len() / c);
            self.skip -= drop;
            for frame in samples[drop * c..].chunks_exact(c) {
                fold(frame, &mut self.pending.data);
            }
        }
        Ok(self.pending.give(want, self.ch, out))
    }
}

/// Frames at 48 kHz from a source at `from` Hz, in the chunks [`rubato::Resampler::process_all`]
/// feeds (whole chunks while more than one is left, then the rest, then silence until the
/// delay and the length are out), so the samples are those of a whole-file resample.
pub(crate) struct Resampled {
    inner: Box<dyn Pull>,
    fft: rubato::Fft<f32>,
    ch: usize,
    /// Frames it takes at a time.
    chunk: usize,
    /// Source frames not yet fed.
    left: usize,
    /// Output frames still to drop (the resampler's delay), and still to give.
    trim: usize,
    remaining: usize,
    input: Vec<f32>,
    output: Vec<f32>,
    ready: Pending,
}

/// Refuses a rate the resampler cannot take (checked while planning, so a mix cannot fail).
fn check_resampler(from: u32) -> Result<(), String> {
    if from == RATE {
        return Ok(());
    }
    rubato::Fft::<f32>::new(from as usize, RATE as usize, CHUNK, 1, rubato::FixedSync::Both)
        .map(|_| ())
        .map_err(|e| format!("cannot resample from {from} Hz: {e}"))
}

/// Frames at 48 kHz that `frames` at `from` Hz resample to (`process_all`'s length; the
/// same `frames` at 48 kHz).
pub(crate) fn resampled_len(from: u32, frames: usize) -> usize {
    (RATE as f64 / from as f64 * frames as f64).ceil() as usize
}

impl Resampled {
    /// `inner` (`frames` frames of `ch` channels at `from` Hz) at 48 kHz.
    pub(crate) fn new(inner: Box<dyn Pull>, from: u32, frames: usize, ch: usize) -> Result<Resampled, String> {
        use rubato::Resampler;
        let fft = rubato::Fft::<f32>::new(from as usize, RATE as usize, CHUNK, ch, rubato::FixedSync::Both)
            .map_err(|e| format!("cannot resample from {from} Hz: {e}"))?;
        let (trim, out_max, chunk) = (fft.output_delay(), fft.output_frames_max(), fft.input_frames_next());
        Ok(Resampled {
            inner,
            fft,
            ch,
            chunk,
            left: frames,
            trim,
            remaining: resampled_len(from, frames),
            input: Vec::with_capacity(chunk * ch),
            output: vec![0.0; out_max * ch],
            ready: Pending::default(),
        })
    }
}

impl Pull for Resampled {
    fn pull(&mut self, want: usize, out: &mut Vec<f32>) -> Result<usize, String> {
        use audioadapter_buffers::direct::InterleavedSlice;
        use rubato::{Indexing, Resampler};
        let ch = self.ch;
        while self.ready.frames(ch) == 0 {
            if self.remaining == 0 {
                return Ok(0);
            }
            let take = self.left.min(self.chunk);
            let partial = (self.left <= self.chunk).then_some(take);
            self.input.clear();
            while self.input.len() < take * ch {
                if self.inner.pull(take - self.input.len() / ch, &mut self.input)? == 0 {
                    return Err("the audio file changed after planning: it ends early".into());
                }
            }
            self.input.resize(self.chunk * ch, 0.0);
            self.left -= take;
            let input = InterleavedSlice::new(&self.input[..], ch, self.chunk).map_err(|e| format!("{e:?}"))?;
            let frames = self.output.len() / ch;
            let mut output =
                InterleavedSlice::new_mut(&mut self.output[..], ch, frames).map_err(|e| format!("{e:?}"))?;
            let indexing =
                Indexing { input_offset: 0, output_offset: 0, active_channels_mask: None, partial_len: partial };
            let (_, n) = self
                .fft
                .process_into_buffer(&input, &mut output, Some(&indexing))
                .map_err(|e| format!("resampling: {e}"))?;
            let drop = self.trim.min(n);
            self.trim -= drop;
            let keep = (n - drop).min(self.remaining);
            self.ready.data.extend_from_slice(&self.output[drop * ch..(drop + keep) * ch]);
            self.remaining -= keep;
        }
        Ok(self.ready.give(want, ch, out))
    }
}

/// A file decoded again in order, as the mix reads it: a chunk of 48 kHz frames at a time.
pub(crate) struct FileReader {
    file: Arc<AudioFile>,
    source: Option<Box<dyn Pull>>,
    /// 48 kHz frames `start..start + buf.len() / ch`.
    buf: Vec<f32>,
    start: usize,
    /// The first failure: the rest reads as silence, and the render fails with this.
    error: Option<String>,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader").field("file", &self.file.path).field("start", &self.start).finish()
    }
}

impl FileReader {
    /// The file, and why it could not be decoded again (it changed after planning).
    pub(crate) fn error(&self) -> Option<(&Path, &str)> {
        self.error.as_deref().map(|e| (self.file.path.as_path(), e))
    }

    pub(crate) fn new(file: Arc<AudioFile>) -> FileReader {
        FileReader { file, source: None, buf: Vec::new(), start: 0, error: None }
    }

    /// Lets the decoder and its decoded chunk go, once the mix is past every frame it reads
    /// (reading again would start the file over). A failure is kept.
    pub(crate) fn release(&mut self) {
        self.source = None;
        self.buf = Vec::new();
        self.start = 0;
    }

    /// Whether a decoder is open.
    #[cfg(test)]
    pub(crate) fn is_open(&self) -> bool {
        self.source.is_some()
    }

    /// Sample frame `i` as (left, right). Reading forward is cheap; going back restarts the
    /// decoder from the file's start (a looped sound). Silence past the end or after a failure.
    pub(crate) fn frame(&mut self, i: usize) -> (f32, f32) {
        let ch = self.file.channels();
        if i >= self.file.frames || self.error.is_some() {
            return (0.0, 0.0);
        }
        if self.source.is_none() || i < self.start {
            self.buf.clear();
            self.start = 0;
            match self.file.source() {
                Ok(s) => self.source = Some(s),
                Err(e) => {
                    self.error = Some(e);
                    return (0.0, 0.0);
                }
            }
        }
        while i >= self.start + self.buf.len() / ch {
            self.start += self.buf.len() / ch;
            self.buf.clear();
            let pulled = match self.source.as_mut() {
                Some(s) => s.pull(CHUNK, &mut self.buf),
                None => Ok(0),
            };
            match pulled {
                Ok(n) if n > 0 => {}
                Ok(_) => self.error = Some("the audio file changed after planning: it ends early".into()),
                Err(e) => self.error = Some(e),
            }
            if self.error.is_some() {
                return (0.0, 0.0);
            }
        }
        let k = (i - self.start) * ch;
        if ch == 2 {
            (self.buf[k], self.buf[k + 1])
        } else {
            (self.buf[k], self.buf[k])
        }
    }
}

#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
/// Resamples `sound` from `from` Hz to 48 kHz, each channel alike: FFT-based synchronous
/// resampling (rubato), exact ratio, band-limited, its delay trimmed.
pub fn resample(sound: Sound, from: u32) -> Result<Sound, String> {
    use rubato::{Fft, FixedSync, Resampler};
    let (channels, frames) = (sound.channels(), sound.frames());
    let stereo = channels == 2;
    let input = audioadapter_buffers::owned::InterleavedOwned::new_from(sound.into_samples(), channels, frames)
        .map_err(|e| format!("resampling: {e:?}"))?;
    let mut r = Fft::<f32>::new(from as usize, RATE as usize, CHUNK, channels, FixedSync::Both)
        .map_err(|e| format!("cannot resample from {from} Hz: {e}"))?;
    let out = r.process_all(&input, frames, None).map_err(|e| format!("resampling: {e}"))?.take_data();
    Ok(if stereo { Sound::stereo(out) } else { Sound::mono(out) })
}

#[cfg(test)]
/// A 16-bit PCM WAV of `channels` interleaved channels.
pub(crate) fn write_wav(path: &std::path::Path, rate: u32, channels: u16, samples: &[f32]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| ((s * 32767.0) as i16).to_le_bytes()).collect();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (channels as u32) << 16, rate, rate * channels as u32 * 2, (channels as u32 * 2) | 16 << 16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).expect("write wav");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples as the whole file decoded at once and resampled by `process_all` (how
    /// sounds were decoded before they streamed).
    fn whole(path: &Path) -> Sound {
        let file = Arc::new(std::fs::File::open(path).expect("open"));
        let len = file.metadata().expect("metadata").len();
        let (mut packets, header) = Packets::open(&file, len, path).expect("opens");
        let (mut all, mut rate, mut channels) = (Vec::new(), 0, 0);
        while let Some(d) = packets.next().expect("decodes") {
            all.extend_from_slice(d.samples);
            (rate, channels) = (d.rate, d.channels);
        }
        let mut folded = Vec::new();
        for frame in all.chunks_exact(channels).skip(header.priming) {
            fold(frame, &mut folded);
        }
        let sound = if channels == 1 { Sound::mono(folded) } else { Sound::stereo(folded) };
        if rate == RATE {
            sound
        } else {
            resample(sound, rate).expect("resamples")
        }
    }

    fn wave(rate: u32, channels: usize, frames: usize) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| {
                let (t, c) = ((i / channels) as f32 / rate as f32, (i % channels) as f32);
                0.4 * (2.0 * std::f32::consts::PI * (300.0 + 150.0 * c) * t).sin()
            })
            .collect()
    }

    /// Decoded a chunk at a time, as a mix reads it, a file gives exactly the samples of the
    /// whole file resampled at once: at 48 kHz and not, mono, stereo and 6 channels folded,
    /// shorter than one resampler chunk, one chunk exactly, one frame more, many chunks.
    #[test]
    fn a_file_streams_the_samples_of_a_whole_decode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases = [
            (44_100, 2, 110_250),
            (44_100, 1, 1024),
            (44_100, 1, 1025),
            (44_100, 2, 300),
            (22_050, 6, 5000),
            (48_000, 2, 3000),
            (48_000, 1, 1),
        ];
        for (i, (rate, channels, frames)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.wav"));
            write_wav(&path, rate, channels as u16, &wave(rate, channels, frames));
            let expected = whole(&path);
            let file = Arc::new(AudioFile::open(&path).expect("checks"));
            assert_eq!((file.channels(), file.frames()), (expected.channels(), expected.frames()), "case {i}");
            let streamed = file.decode_all().expect("decodes again");
            assert!(streamed == expected, "case {i}: streamed samples differ");
        }
    }

    /// A clip's sound, decoded by FFmpeg and played as a scene plays it (trimmed, looped,
    /// faded, at another playback rate) streams exactly the samples of the whole decode
    /// resampled by `process_all` (to 48 kHz, then again for the rate) and cut, looped and
    /// faded in memory, as planning used to hold it. 44.1 kHz PCM in Matroska stands in for a clip.
    #[test]
    fn a_clips_sound_streams_as_its_scene_plays_it() {
        use crate::audio::{ClipTrack, Source};
        let dir = tempfile::tempdir().expect("temp dir");
        let wav = dir.path().join("clip.wav");
        write_wav(&wav, 44_100, 2, &wave(44_100, 2, 30_000));
        // Clips open only with video containers' demuxers: the same PCM, in Matroska.
        let path = dir.path().join("clip.mkv");
        let remuxed = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&wav)
            .args(["-c:a", "copy"])
            .arg(&path)
            .status()
            .expect("run ffmpeg (installed by make test)");
        assert!(remuxed.success(), "remuxing the WAV into Matroska");
        for (rate, from, span, looped, len) in
            [(1.0, 0, 32_653, false, 40_000), (1.0, 5000, 9000, true, 50_000), (1.5, 2000, 12_000, true, 31_000)]
        {
            // The reference: all of it in memory.
            let mut clip = crate::media::ClipAudio::open(&path, 0).expect("opens").expect("has sound");
            let mut all = Vec::new();
            while clip.pull(4096, &mut all).expect("decodes") > 0 {}
            let mut src = resample(Sound::stereo(all), 44_100).expect("resamples");
            if rate != 1.0 {
                src = resample(src, (RATE as f64 * rate).round() as u32).expect("resamples");
            }
            let src = src.into_samples();
            let fade = (RATE as usize / 200).min(len / 2);
            let mut want = vec![0f32; len * 2];
            for (i, frame) in want.chunks_exact_mut(2).enumerate() {
                let k = if i < span {
                    i
                } else if looped {
                    i % span
                } else {
                    break;
                };
                frame.copy_from_slice(&src[(from + k) * 2..(from + k) * 2 + 2]);
            }
            for i in 0..fade {
                let g = i as f32 / fade as f32;
                for ch in 0..2 {
                    want[i * 2 + ch] *= g;
                    want[(len - 1 - i) * 2 + ch] *= g;
                }
            }
            let sound = Arc::new(AudioFile::open_clip(&path, rate).expect("checks").expect("has sound"));
            assert_eq!(sound.frames(), src.len() / 2, "rate {rate}");
            let track = Source::Clip(Arc::new(ClipTrack { sound, from, span, looped, len, fade }));
            let mut reader = track.reader();
            let got: Vec<f32> = (0..len)
                .flat_map(|i| {
                    let (l, r) = reader.frame(i);
                    [l, r]
                })
                .collect();
            assert!(got == want, "rate {rate}, from {from}, looped {looped}: streamed samples differ");
            assert!(reader.error().is_none());
        }
    }

    /// Going back (a looped sound) restarts the file and gives the same samples again; a cut
    /// file ends at the cut; past the end is silence.
    #[test]
    fn a_reader_restarts_for_a_loop_and_ends_at_the_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.wav");
        write_wav(&path, 44_100, 2, &wave(44_100, 2, 9000));
        let file = Arc::new(AudioFile::open(&path).expect("checks").cut(7000));
        assert_eq!(file.frames(), 7000);
        let all = whole(&path);
        let mut r = FileReader::new(file);
        for pass in 0..2 {
            for i in (0..7000).step_by(3) {
                assert_eq!(r.frame(i), all.frame(i), "pass {pass}, frame {i}");
            }
        }
        assert_eq!(r.frame(7000), (0.0, 0.0));
        assert!(r.error().is_none());
    }

    /// A file cut short after it was checked reads as silence from where its data ends, and
    /// the reader says which file and why; one removed after it was checked still plays.
    #[test]
    fn a_file_changed_after_planning_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.wav");
        write_wav(&path, 48_000, 1, &wave(48_000, 1, 48_000));
        let file = Arc::new(AudioFile::open(&path).expect("checks"));
        let expected = whole(&path);
        std::fs::remove_file(&path).expect("remove");
        assert!(file.decode_all().expect("the open file still reads") == expected);

        write_wav(&path, 48_000, 1, &wave(48_000, 1, 48_000));
        let file = Arc::new(AudioFile::open(&path).expect("checks"));
        std::fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(44 + 2 * 10_000).expect("cut");
        let mut r = FileReader::new(file);
        assert_eq!(r.frame(5000), expected.frame(5000));
        assert_eq!(r.frame(20_000), (0.0, 0.0));
        let (p, why) = r.error().expect("reported");
        assert_eq!(p, path.as_path());
        assert!(why.contains("changed after planning"), "{why}");
    }
}
