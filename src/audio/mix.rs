//! The soundtrack mix: placement, loops, fades, ducking, loudness and limiting over sounds
//! read in order (in memory, or decoded as they are read).

use super::decode::{AudioFile, FileReader};
use super::RATE;
use std::sync::Arc;

/// Decoded sound at 48 kHz: one channel (played on both sides) or two, interleaved.
///
/// A mono voiceover stays mono, half the memory of a stereo copy; both give the same mix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sound {
    samples: Vec<f32>,
    stereo: bool,
}

// Building and taking apart whole sounds: the reference mix, tests and benches.
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
impl Sound {
    /// Interleaved stereo samples (left, right, left, ...); an odd last value is dropped.
    /// Spare capacity is given back (a decoder's buffer grows by doubling).
    pub fn stereo(mut samples: Vec<f32>) -> Sound {
        samples.truncate(samples.len() & !1);
        samples.shrink_to_fit();
        Sound { samples, stereo: true }
    }

    /// One channel, played on both sides.
    pub fn mono(mut samples: Vec<f32>) -> Sound {
        samples.shrink_to_fit();
        Sound { samples, stereo: false }
    }

    /// 1 or 2.
    pub fn channels(&self) -> usize {
        if self.stereo {
            2
        } else {
            1
        }
    }

    /// The samples, interleaved when stereo.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Length in sample frames.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels()
    }

    /// Sample frame `i` as (left, right). Panics past the end, like slice indexing.
    #[inline]
    pub fn frame(&self, i: usize) -> (f32, f32) {
        if self.stereo {
            (self.samples[2 * i], self.samples[2 * i + 1])
        } else {
            (self.samples[i], self.samples[i])
        }
    }

    /// Drops everything from sample frame `frames` on and the spare capacity with it.
    pub fn truncate(&mut self, frames: usize) {
        self.samples.truncate(frames.saturating_mul(self.channels()));
        self.samples.shrink_to_fit();
    }

    /// The samples, interleaved when stereo.
    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }

    /// Interleaved stereo (mono duplicated).
    pub fn into_stereo(self) -> Vec<f32> {
        if self.stereo {
            return self.samples;
        }
        self.samples.iter().flat_map(|&s| [s, s]).collect()
    }
}

/// A sound to place: samples in memory, or a checked file decoded again by each mix.
#[derive(Debug, Clone)]
pub enum Source {
    /// Decoded samples.
    Memory(Arc<Sound>),
    /// A file planning checked ([`AudioFile::open`]); nothing of it is held decoded.
    File(Arc<AudioFile>),
    /// A clip's own sound as its scene plays it.
    Clip(Arc<ClipTrack>),
}

/// A clip's own sound as its scene plays it: `span` frames of the sound from frame `from`
/// (48 kHz), looped or not, `len` frames in all, faded in and out over `fade` frames so cuts
/// do not click.
#[derive(Debug)]
pub struct ClipTrack {
    /// The clip's sound ([`AudioFile::open_clip`]).
    pub sound: Arc<AudioFile>,
    /// First frame of the sound played (the trim).
    pub from: usize,
    /// Frames of the sound played before it loops or stops.
    pub span: usize,
    /// Loop the span, or play it once and then silence.
    pub looped: bool,
    /// Frames in all.
    pub len: usize,
    /// Frames of the fade at each end.
    pub fade: usize,
}

impl ClipTrack {
    /// Frame `i` of the track, from frame `from + k` of the sound.
    #[inline]
    fn frame(&self, i: usize, sound: &mut FileReader) -> (f32, f32) {
        if i >= self.len {
            return (0.0, 0.0);
        }
        let k = if i < self.span {
            i
        } else if self.looped && self.span > 0 {
            i % self.span
        } else {
            return (0.0, 0.0);
        };
        let (l, r) = sound.frame(self.from + k);
        let g = if i < self.fade {
            i as f32 / self.fade as f32
        } else if i >= self.len - self.fade {
            (self.len - 1 - i) as f32 / self.fade as f32
        } else {
            return (l, r);
        };
        (l * g, r * g)
    }
}

impl Source {
    /// 1 or 2.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
    pub fn channels(&self) -> usize {
        match self {
            Source::Memory(s) => s.channels(),
            Source::File(f) => f.channels(),
            Source::Clip(_) => 2,
        }
    }

    /// Length in 48 kHz sample frames.
    pub fn frames(&self) -> usize {
        match self {
            Source::Memory(s) => s.frames(),
            Source::File(f) => f.frames(),
            Source::Clip(t) => t.len,
        }
    }

    pub(crate) fn reader(&self) -> Reader {
        match self {
            Source::Memory(s) => Reader::Memory(s.clone()),
            Source::File(f) => Reader::File(Box::new(FileReader::new(f.clone()))),
            Source::Clip(t) => Reader::Clip(Box::new(FileReader::new(t.sound.clone())), t.clone()),
        }
    }
}

impl From<Sound> for Source {
    fn from(s: Sound) -> Source {
        Source::Memory(Arc::new(s))
    }
}

impl From<Arc<Sound>> for Source {
    fn from(s: Arc<Sound>) -> Source {
        Source::Memory(s)
    }
}

/// Reads a [`Source`] forward (going back restarts a file from its start).
#[derive(Debug)]
pub(crate) enum Reader {
    Memory(Arc<Sound>),
    File(Box<FileReader>),
    Clip(Box<FileReader>, Arc<ClipTrack>),
}

impl Reader {
    /// Sample frame `i`; silence past the end.
    #[inline]
    pub(crate) fn frame(&mut self, i: usize) -> (f32, f32) {
        match self {
            Reader::Memory(s) if i < s.frames() => s.frame(i),
            Reader::Memory(_) => (0.0, 0.0),
            Reader::File(f) => f.frame(i),
            Reader::Clip(f, t) => t.frame(i, f),
        }
    }

    /// Lets a file's decoder go (the mix is past the sound).
    fn release(&mut self) {
        match self {
            Reader::Memory(_) => {}
            Reader::File(f) | Reader::Clip(f, _) => f.release(),
        }
    }

    /// Whether a file's decoder is open.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        match self {
            Reader::Memory(_) => false,
            Reader::File(f) | Reader::Clip(f, _) => f.is_open(),
        }
    }

    /// A file that could not be decoded again, and why.
    pub(crate) fn error(&self) -> Option<(&std::path::Path, &str)> {
        match self {
            Reader::Memory(_) => None,
            Reader::File(f) | Reader::Clip(f, _) => f.error(),
        }
    }
}

/// A sound placed on the timeline.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The sound, at 48 kHz.
    pub samples: Source,
    /// First output sample frame it plays at.
    pub start: u64,
    /// Linear gain.
    pub gain: f32,
}

/// Ducking of the music under the voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duck {
    /// Gain change while the voice speaks, dB (negative).
    pub amount_db: f32,
}

/// The music bed.
#[derive(Debug, Clone)]
pub struct Music {
    /// The file, its start and volume.
    pub clip: Placed,
    /// Repeat to the end of the video.
    pub looped: bool,
    /// Sample frames of the file skipped at its start (a loop repeats the whole file).
    pub offset: u64,
    /// Fade in, in sample frames, from the music's start.
    pub fade_in: u64,
    /// Fade out, in sample frames, ending where the music ends.
    pub fade_out: u64,
    /// Ducking, if any.
    pub duck: Option<Duck>,
}

/// Everything audible, resolved.
#[derive(Debug, Clone, Default)]
pub struct AudioPlan {
    /// The voice (one file, or one per segment).
    pub voice: Vec<Placed>,
    /// The music bed.
    pub music: Option<Music>,
    /// Other sounds (effects, clip audio).
    pub tracks: Vec<Placed>,
}

impl AudioPlan {
    /// True when nothing is audible.
    pub fn is_empty(&self) -> bool {
        self.voice.is_empty() && self.music.is_none() && self.tracks.is_empty()
    }
}

/// The ceiling of the limiter: -1 dBFS true peak, approximated by a sample-peak ceiling of
/// -1.5 dBFS (the half decibel covers inter-sample peaks of program material).
pub fn true_peak_ceiling() -> f32 {
    10f32.powf(-1.5 / 20.0)
}

/// Mixes the plan into `frames` stereo sample frames at 48 kHz: voice, music (looped, faded,
/// ducked where the voice actually speaks, with smooth attack and release), tracks; then
/// optional loudness normalization to `loudness_lufs` (EBU R128 integrated), then a
/// look-ahead limiter so nothing exceeds [`true_peak_ceiling`].
///
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // for reel's tests and benches
/// The whole mix at once; a render streams it instead ([`MixSpec::stream`]), so its memory
/// does not grow with the video's length. Both give the same samples. A file that fails to
/// decode again reads as silence here ([`MixStream::error`] reports it).
pub fn mix(plan: &AudioPlan, frames: u64, loudness_lufs: Option<f64>) -> Vec<f32> {
    let spec = MixSpec::new(Arc::new(plan.clone()), frames, loudness_lufs);
    let mut out = vec![0f32; (frames * 2) as usize];
    let n = spec.stream().read(&mut out);
    out.truncate(n);
    out
}

/// A mix to produce: what is audible, how long, and the loudness gain.
#[derive(Debug, Clone)]
pub struct MixSpec {
    /// What is audible.
    pub plan: Arc<AudioPlan>,
    /// Length in sample frames at 48 kHz.
    pub frames: u64,
    /// Loudness normalization gain, applied before the limiter.
    pub gain: Option<f32>,
}

/// Sample frames per ducking block (10 ms); the mix is computed a block at a time.
const BLOCK: u64 = (RATE / 100) as u64;
/// Look-ahead of the limiter, sample frames (5 ms).
const LOOK: u64 = (RATE / 200) as u64;

impl MixSpec {
    /// The mix of `plan` over `frames` sample frames. With `loudness_lufs`, the integrated
    /// loudness is measured first, streaming the mix once through the meter (nothing kept).
    pub fn new(plan: Arc<AudioPlan>, frames: u64, loudness_lufs: Option<f64>) -> MixSpec {
        let mut spec = MixSpec { plan, frames, gain: None };
        if let Some(target) = loudness_lufs {
            let measured = ebur128::EbuR128::new(2, RATE, ebur128::Mode::I).ok().and_then(|mut m| {
                let mut s = spec.stream();
                while s.raw_end < frames {
                    s.compute_block();
                    let (a, b) = s.raw.as_slices();
                    m.add_frames_f32(a).ok()?;
                    m.add_frames_f32(b).ok()?;
                    s.raw.clear();
                }
                m.loudness_global().ok().filter(|l| l.is_finite())
            });
            spec.gain = measured.map(|measured| 10f32.powf(((target - measured) / 20.0) as f32));
        }
        spec
    }

    /// The samples from the start, in order.
    pub fn stream(&self) -> MixStream {
        let plan = &self.plan;
        MixStream {
            voice_readers: plan.voice.iter().map(|p| p.samples.reader()).collect(),
            track_readers: plan.tracks.iter().map(|p| p.samples.reader()).collect(),
            music_reader: plan.music.as_ref().map(|m| m.clip.samples.reader()),
            spec: self.clone(),
            raw: std::collections::VecDeque::new(),
            base: 0,
            raw_end: 0,
            window: std::collections::VecDeque::new(),
            pushed: 0,
            limiter_gain: 1.0,
            hold: 0,
            duck_gain: 1.0,
            block: Vec::new(),
            voice: Vec::new(),
        }
    }
}

/// The mix produced in order, about 15 ms of it in memory at a time (and a chunk of each
/// file it decodes).
#[derive(Debug)]
pub struct MixStream {
    spec: MixSpec,
    voice_readers: Vec<Reader>,
    track_readers: Vec<Reader>,
    music_reader: Option<Reader>,
    /// Samples before the limiter (interleaved), from frame `base` to `raw_end`.
    raw: std::collections::VecDeque<f32>,
    /// Next frame to hand out.
    base: u64,
    raw_end: u64,
    /// Limiter: (frame, gain it needs) with increasing gains, for frames up to `pushed`.
    window: std::collections::VecDeque<(u64, f32)>,
    pushed: u64,
    limiter_gain: f32,
    /// Ducking: blocks the voice still holds the music down, and the smoothed gain.
    hold: u32,
    duck_gain: f32,
    block: Vec<f32>,
    voice: Vec<f32>,
}

/// Adds `p` into `out`, which holds frames `a..a + out.len() / 2`. Once the block reaches
/// the sound's end, its reader's decoder goes: a voice in twenty segments (W1 looped to ten
/// minutes) held twenty decoders and their chunks to the end of the mix.
fn add(out: &mut [f32], a: u64, p: &Placed, reader: &mut Reader) {
    let b = a + out.len() as u64 / 2;
    let n = p.samples.frames() as u64;
    let g = p.gain;
    for f in p.start.max(a)..(p.start + n).min(b) {
        let (l, r) = reader.frame((f - p.start) as usize);
        let o = ((f - a) * 2) as usize;
        out[o] += l * g;
        out[o + 1] += r * g;
    }
    if b >= p.start + n {
        reader.release();
    }
}

impl MixStream {
    /// A file of the mix that could not be decoded again (it changed after planning), and
    /// why; the samples read since are silence in its place.
    pub fn error(&self) -> Option<(&std::path::Path, &str)> {
        let mut readers = self.voice_readers.iter().chain(&self.track_readers).chain(&self.music_reader);
        readers.find_map(|r| r.error())
    }

    /// Fills `out` (interleaved stereo) with the next samples; returns how many values were
    /// written (fewer than `out.len()` only at the end of the mix).
    pub fn read(&mut self, out: &mut [f32]) -> usize {
        let total = self.spec.frames;
        let ceiling = true_peak_ceiling();
        let release = 1.0 - (-1.0 / (0.1 * RATE as f32)).exp();
        let mut written = 0;
        while written + 2 <= out.len() && self.base < total {
            let f = self.base;
            // The limiter looks 5 ms ahead: the gain each frame needs, minimum over the window.
            let ahead = (f + LOOK).min(total - 1);
            while self.raw_end <= ahead {
                self.compute_block();
            }
            while self.pushed <= ahead {
                let i = ((self.pushed - self.base) * 2) as usize;
                let p = self.raw[i].abs().max(self.raw[i + 1].abs());
                let need = if p > ceiling { ceiling / p } else { 1.0 };
                while self.window.back().is_some_and(|&(_, n)| n >= need) {
                    self.window.pop_back();
                }
                self.window.push_back((self.pushed, need));
                self.pushed += 1;
            }
            while self.window.front().is_some_and(|&(j, _)| j < f) {
                self.window.pop_front();
            }
            let target = self.window.front().map(|&(_, n)| n).unwrap_or(1.0);
            let g = &mut self.limiter_gain;
            *g = if target < *g { target } else { *g + (target - *g) * release };
            let (l, r) = (self.raw.pop_front().unwrap_or(0.0), self.raw.pop_front().unwrap_or(0.0));
            out[written] = l * *g;
            out[written + 1] = r * *g;
            written += 2;
            self.base += 1;
        }
        written
    }

    /// Mixes the next block (10 ms) before the limiter onto `raw`.
    fn compute_block(&mut self) {
        let plan = self.spec.plan.clone();
        let total = self.spec.frames;
        let a = self.raw_end;
        let b = (a + BLOCK).min(total);
        if a >= b {
            return;
        }
        let n = ((b - a) * 2) as usize;
        // The voice alone first (the ducking listens to it), then the rest onto it.
        let voice = &mut self.voice;
        voice.clear();
        voice.resize(n, 0.0);
        for (v, r) in plan.voice.iter().zip(&mut self.voice_readers) {
            add(voice, a, v, r);
        }
        let out = &mut self.block;
        out.clear();
        out.extend_from_slice(voice);
        for (t, r) in plan.tracks.iter().zip(&mut self.track_readers) {
            add(out, a, t, r);
        }
        if let (Some(m), Some(reader)) = (&plan.music, &mut self.music_reader) {
            // Ducking: is the voice speaking in this block (10 ms RMS above -45 dBFS, held
            // 250 ms)? The music's gain moves toward the target with an 80 ms attack and a
            // 400 ms release.
            let duck_target = m.duck.map(|d| {
                let rms = (voice.iter().map(|x| x * x).sum::<f32>() / voice.len().max(1) as f32).sqrt();
                if rms > 10f32.powf(-45.0 / 20.0) {
                    self.hold = 25;
                }
                let active = self.hold > 0;
                self.hold = self.hold.saturating_sub(1);
                if active {
                    10f32.powf(d.amount_db / 20.0)
                } else {
                    1.0
                }
            });
            let attack = 1.0 - (-1.0 / (0.080 * RATE as f32)).exp();
            let release = 1.0 - (-1.0 / (0.400 * RATE as f32)).exp();
            let len = m.clip.samples.frames() as u64;
            // Where the music ends: the video's end when looping, else the file's end.
            let stop = if m.looped { total } else { (m.clip.start + len.saturating_sub(m.offset)).min(total) };
            for f in a..b {
                let duck = match duck_target {
                    Some(target) => {
                        let k = if target < self.duck_gain { attack } else { release };
                        self.duck_gain += (target - self.duck_gain) * k;
                        self.duck_gain
                    }
                    None => 1.0,
                };
                if len == 0 || f < m.clip.start || f >= stop {
                    continue;
                }
                let since = f - m.clip.start;
                let at = since + m.offset;
                if !m.looped && at >= len {
                    continue;
                }
                let until = stop.saturating_sub(f + 1);
                let fin = if m.fade_in > 0 { (since as f32 / m.fade_in as f32).min(1.0) } else { 1.0 };
                let fout = if m.fade_out > 0 { (until as f32 / m.fade_out as f32).min(1.0) } else { 1.0 };
                let g = m.clip.gain * (fin * fout * duck);
                let (l, r) = reader.frame((at % len) as usize);
                let o = ((f - a) * 2) as usize;
                out[o] += l * g;
                out[o + 1] += r * g;
            }
            if b >= stop {
                reader.release();
            }
        }
        if let Some(gain) = self.spec.gain {
            out.iter_mut().for_each(|s| *s *= gain);
        }
        self.raw.extend(out.iter().copied());
        self.raw_end = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, secs: f32, amp: f32) -> Arc<Sound> {
        let n = (secs * RATE as f32) as usize;
        Arc::new(Sound::stereo(
            (0..n)
                .flat_map(|i| {
                    let s = amp * (2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin();
                    [s, s]
                })
                .collect(),
        ))
    }

    #[test]
    fn limiter_keeps_the_ceiling() {
        let plan = AudioPlan {
            voice: vec![Placed { samples: tone(440.0, 1.0, 1.0).into(), start: 0, gain: 3.0 }],
            ..AudioPlan::default()
        };
        let out = mix(&plan, RATE as u64, None);
        let peak = out.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak <= true_peak_ceiling() + 1e-6, "{peak}");
        assert!(peak > 0.8, "{peak}");
    }

    /// Read in any chunk sizes, the stream gives the samples of the whole mix, holding no
    /// more than a block and the limiter's look-ahead at a time.
    #[test]
    fn the_stream_is_the_mix_in_bounded_memory() {
        let plan = AudioPlan {
            voice: vec![Placed { samples: tone(1000.0, 1.0, 0.9).into(), start: RATE as u64 / 3, gain: 2.0 }],
            music: Some(Music {
                offset: 0,
                clip: Placed { samples: tone(200.0, 0.7, 0.5).into(), start: 100, gain: 1.0 },
                looped: true,
                fade_in: 4800,
                fade_out: 9600,
                duck: Some(Duck { amount_db: -12.0 }),
            }),
            tracks: vec![Placed { samples: tone(3000.0, 0.2, 0.8).into(), start: 70_000, gain: 1.0 }],
        };
        let frames = 2 * RATE as u64 + 77;
        for loudness in [None, Some(-14.0)] {
            let whole = mix(&plan, frames, loudness);
            assert_eq!(whole.len() as u64, frames * 2);
            let spec = MixSpec::new(Arc::new(plan.clone()), frames, loudness);
            let mut stream = spec.stream();
            let mut got = Vec::new();
            let mut most = 0;
            for size in [1usize, 2, 7, 1024, 4096, 333].iter().cycle() {
                let mut buf = vec![0f32; size * 2];
                let n = stream.read(&mut buf);
                most = most.max(stream.raw.len() / 2);
                got.extend_from_slice(&buf[..n]);
                if n < buf.len() {
                    break;
                }
            }
            assert!(got == whole, "streamed samples differ from the whole mix");
            assert!(most as u64 <= BLOCK + LOOK, "held {most} frames");
        }
    }

    /// A sound read from its file lets its decoder go once the mix is past it, so a voice in
    /// many segments holds one decoder at a time, not one a segment; the samples are those
    /// of the sound decoded whole.
    #[test]
    fn a_file_sound_lets_its_decoder_go_after_its_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v.wav");
        let wave: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        crate::audio::decode::write_wav(&path, 44_100, 1, &wave);
        let file = Arc::new(crate::audio::decode::AudioFile::open(&path).expect("checks"));
        let len = file.frames() as u64;
        let segment = |k: u64| Placed { samples: Source::File(file.clone()), start: k * (len + 4000), gain: 1.0 };
        let plan = AudioPlan { voice: (0..3).map(segment).collect(), music: None, tracks: vec![] };
        let frames = 3 * (len + 4000);
        let spec = MixSpec::new(Arc::new(plan.clone()), frames, None);
        let mut stream = spec.stream();
        let mut got = Vec::new();
        let mut buf = vec![0f32; 2 * 1000];
        let mut open_at_once = 0;
        loop {
            let n = stream.read(&mut buf);
            got.extend_from_slice(&buf[..n]);
            open_at_once = open_at_once.max(stream.voice_readers.iter().filter(|r| r.is_open()).count());
            if n < buf.len() {
                break;
            }
        }
        assert_eq!(open_at_once, 1, "one segment's decoder at a time");
        assert!(stream.voice_readers.iter().all(|r| !r.is_open()), "none left at the end");
        let decoded = Arc::new(file.decode_all().expect("decodes"));
        let in_memory = AudioPlan {
            voice: plan.voice.iter().map(|p| Placed { samples: Source::Memory(decoded.clone()), ..p.clone() }).collect(),
            music: None,
            tracks: vec![],
        };
        assert!(got == mix(&in_memory, frames, None), "the samples of the sound decoded whole");
    }

    /// A mono sound mixes exactly as the stereo sound with it on both sides, looped music
    /// and ducking included.
    #[test]
    fn mono_mixes_as_stereo() {
        let plan = |mono: bool| {
            let sound = |secs: f32, f: f32| {
                let s = tone(f, secs, 0.4);
                Arc::new(if mono {
                    Sound::mono(s.samples().iter().step_by(2).copied().collect())
                } else {
                    (*s).clone()
                })
            };
            AudioPlan {
                voice: vec![Placed { samples: sound(0.5, 700.0).into(), start: 1000, gain: 1.5 }],
                music: Some(Music {
                offset: 0,
                    clip: Placed { samples: sound(0.3, 90.0).into(), start: 0, gain: 0.8 },
                    looped: true,
                    fade_in: 100,
                    fade_out: 100,
                    duck: Some(Duck { amount_db: -9.0 }),
                }),
                tracks: vec![],
            }
        };
        let (m, s) = (plan(true), plan(false));
        assert_eq!(m.voice[0].samples.channels(), 1);
        assert_eq!(m.voice[0].samples.frames(), s.voice[0].samples.frames());
        assert!(mix(&m, RATE as u64, None) == mix(&s, RATE as u64, None));
    }

    #[test]
    fn music_ducks_under_voice_and_loops() {
        let plan = AudioPlan {
            voice: vec![Placed { samples: tone(1000.0, 1.0, 0.3).into(), start: RATE as u64, gain: 1.0 }],
            music: Some(Music {
                offset: 0,
                clip: Placed { samples: tone(200.0, 0.5, 0.3).into(), start: 0, gain: 1.0 },
                looped: true,
                fade_in: 0,
                fade_out: 0,
                duck: Some(Duck { amount_db: -12.0 }),
            }),
            tracks: vec![],
        };
        let out = mix(&plan, 4 * RATE as u64, None);
        let rms = |a: f32, b: f32| {
            let s = &out[(a * RATE as f32) as usize * 2..(b * RATE as f32) as usize * 2];
            (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt()
        };
        // Before the voice: music alone (looped past its 0.5 s).
        assert!((rms(0.6, 0.9) - 0.3 / 2f32.sqrt()).abs() < 0.01);
        // Long after the voice ends (hold 250 ms, then a 400 ms release): back up.
        assert!((rms(3.7, 4.0) - 0.3 / 2f32.sqrt()).abs() < 0.01, "{}", rms(3.7, 4.0));
    }
}

// ---- the encoder's soundtrack traits: the mix, and one sound cut or padded to a length.

impl crate::encode::Soundtrack for MixSpec {
    fn frames(&self) -> usize {
        self.frames as usize
    }
    fn stream(&self) -> Box<dyn crate::encode::SoundStream> {
        Box::new(MixSpec::stream(self))
    }
}

impl crate::encode::SoundStream for MixStream {
    fn read(&mut self, out: &mut [f32]) -> usize {
        MixStream::read(self, out)
    }
    fn error(&self) -> Option<(&std::path::Path, &str)> {
        MixStream::error(self)
    }
}

/// One sound from its start, cut or padded with silence to `frames` sample frames (an
/// asset's own soundtrack in its web and preview copies).
#[derive(Debug, Clone)]
pub struct Fixed {
    /// The sound.
    pub source: Source,
    /// Sample frames in all.
    pub frames: usize,
}

struct FixedStream {
    reader: Reader,
    pos: usize,
    frames: usize,
}

impl crate::encode::Soundtrack for Fixed {
    fn frames(&self) -> usize {
        self.frames
    }
    fn stream(&self) -> Box<dyn crate::encode::SoundStream> {
        Box::new(FixedStream { reader: self.source.reader(), pos: 0, frames: self.frames })
    }
}

impl crate::encode::SoundStream for FixedStream {
    fn read(&mut self, out: &mut [f32]) -> usize {
        let n = (out.len() / 2).min(self.frames - self.pos);
        for o in out[..n * 2].chunks_exact_mut(2) {
            (o[0], o[1]) = self.reader.frame(self.pos);
            self.pos += 1;
        }
        n * 2
    }
    fn error(&self) -> Option<(&std::path::Path, &str)> {
        self.reader.error()
    }
}
