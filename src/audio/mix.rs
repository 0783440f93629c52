//! The soundtrack mix: pure functions of decoded buffers and sample positions.

use super::RATE;
use std::sync::Arc;

/// A decoded buffer placed on the timeline.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Interleaved stereo at 48 kHz.
    pub samples: Arc<Vec<f32>>,
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

fn add(out: &mut [f32], p: &Placed, gain_at: impl Fn(u64) -> f32) {
    let frames = out.len() as u64 / 2;
    let n = (p.samples.len() / 2) as u64;
    let end = (p.start + n).min(frames);
    for f in p.start..end {
        let g = p.gain * gain_at(f);
        let s = ((f - p.start) * 2) as usize;
        out[(f * 2) as usize] += p.samples[s] * g;
        out[(f * 2 + 1) as usize] += p.samples[s + 1] * g;
    }
}

/// Mixes the plan into `frames` stereo sample frames at 48 kHz: voice, music (looped, faded,
/// ducked where the voice actually speaks, with smooth attack and release), tracks; then
/// optional loudness normalization to `loudness_lufs` (EBU R128 integrated), then a
/// look-ahead limiter so nothing exceeds [`true_peak_ceiling`].
pub fn mix(plan: &AudioPlan, frames: u64, loudness_lufs: Option<f64>) -> Vec<f32> {
    let mut out = vec![0f32; (frames * 2) as usize];
    let mut voice = vec![0f32; if plan.music.as_ref().is_some_and(|m| m.duck.is_some()) { out.len() } else { 0 }];
    for v in &plan.voice {
        add(&mut out, v, |_| 1.0);
        if !voice.is_empty() {
            add(&mut voice, v, |_| 1.0);
        }
    }
    for t in &plan.tracks {
        add(&mut out, t, |_| 1.0);
    }
    if let Some(m) = &plan.music {
        let duck = m.duck.map(|d| duck_curve(&voice, d.amount_db));
        let n = (m.clip.samples.len() / 2) as u64;
        // Where the music ends: the video's end when looping, else the file's end.
        let stop = if m.looped { frames } else { (m.clip.start + n).min(frames) };
        let fades = |f: u64| {
            let since = f.saturating_sub(m.clip.start);
            let until = stop.saturating_sub(f + 1);
            let fin = if m.fade_in > 0 { (since as f32 / m.fade_in as f32).min(1.0) } else { 1.0 };
            let fout = if m.fade_out > 0 { (until as f32 / m.fade_out as f32).min(1.0) } else { 1.0 };
            fin * fout * duck.as_ref().map(|d| d[f as usize]).unwrap_or(1.0)
        };
        if n > 0 {
            let mut start = m.clip.start;
            while start < stop {
                let piece = Placed { samples: m.clip.samples.clone(), start, gain: m.clip.gain };
                add(&mut out[..(stop * 2) as usize], &piece, fades);
                if !m.looped {
                    break;
                }
                start += n;
            }
        }
    }
    if let Some(target) = loudness_lufs {
        if let Some(measured) = integrated_loudness(&out) {
            let gain = 10f32.powf(((target - measured) / 20.0) as f32);
            out.iter_mut().for_each(|s| *s *= gain);
        }
    }
    limit(&mut out, true_peak_ceiling());
    out
}

/// EBU R128 integrated loudness of a stereo buffer, `None` for silence.
pub fn integrated_loudness(stereo: &[f32]) -> Option<f64> {
    let mut m = ebur128::EbuR128::new(2, RATE, ebur128::Mode::I).ok()?;
    m.add_frames_f32(stereo).ok()?;
    m.loudness_global().ok().filter(|l| l.is_finite())
}

/// Per-sample-frame gain for the music: `amount_db` while the voice is active (10 ms RMS
/// above -45 dBFS, held 250 ms), 1 elsewhere; attack 80 ms, release 400 ms.
fn duck_curve(voice: &[f32], amount_db: f32) -> Vec<f32> {
    let frames = voice.len() / 2;
    let block = (RATE / 100) as usize;
    let hold_blocks = 25;
    let threshold = 10f32.powf(-45.0 / 20.0);
    let blocks = frames.div_ceil(block);
    let mut active = vec![false; blocks];
    let mut hold = 0;
    for (b, a) in active.iter_mut().enumerate() {
        let s = &voice[b * block * 2..((b + 1) * block * 2).min(voice.len())];
        let rms = (s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32).sqrt();
        if rms > threshold {
            hold = hold_blocks;
        }
        *a = hold > 0;
        hold = if hold > 0 { hold - 1 } else { 0 };
    }
    let target_low = 10f32.powf(amount_db / 20.0);
    let attack = 1.0 - (-1.0 / (0.080 * RATE as f32)).exp();
    let release = 1.0 - (-1.0 / (0.400 * RATE as f32)).exp();
    let mut g = 1.0f32;
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let target = if active[f / block] { target_low } else { 1.0 };
        let k = if target < g { attack } else { release };
        g += (target - g) * k;
        out.push(g);
    }
    out
}

/// Look-ahead peak limiter: the gain needed to keep every sample under `ceiling` is taken as
/// the minimum over the next 5 ms (so it is already down when a peak arrives), then released
/// over about 100 ms.
fn limit(stereo: &mut [f32], ceiling: f32) {
    let frames = stereo.len() / 2;
    if frames == 0 {
        return;
    }
    let look = (RATE as usize) / 200;
    let need: Vec<f32> = (0..frames)
        .map(|f| {
            let p = stereo[2 * f].abs().max(stereo[2 * f + 1].abs());
            if p > ceiling {
                ceiling / p
            } else {
                1.0
            }
        })
        .collect();
    // Sliding minimum over [f, f + look] with a monotonic deque.
    let mut deque: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut window_min = vec![1.0f32; frames];
    for i in (0..frames).rev() {
        while deque.back().is_some_and(|&j| need[j] >= need[i]) {
            deque.pop_back();
        }
        deque.push_back(i);
        while deque.front().is_some_and(|&j| j > i + look) {
            deque.pop_front();
        }
        window_min[i] = deque.front().map(|&j| need[j]).unwrap_or(1.0);
    }
    let release = 1.0 - (-1.0 / (0.1 * RATE as f32)).exp();
    let mut g = 1.0f32;
    for f in 0..frames {
        let target = window_min[f];
        g = if target < g { target } else { g + (target - g) * release };
        stereo[2 * f] *= g;
        stereo[2 * f + 1] *= g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, secs: f32, amp: f32) -> Arc<Vec<f32>> {
        let n = (secs * RATE as f32) as usize;
        Arc::new(
            (0..n)
                .flat_map(|i| {
                    let s = amp * (2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin();
                    [s, s]
                })
                .collect(),
        )
    }

    #[test]
    fn limiter_keeps_the_ceiling() {
        let plan = AudioPlan {
            voice: vec![Placed { samples: tone(440.0, 1.0, 1.0), start: 0, gain: 3.0 }],
            ..AudioPlan::default()
        };
        let out = mix(&plan, RATE as u64, None);
        let peak = out.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak <= true_peak_ceiling() + 1e-6, "{peak}");
        assert!(peak > 0.8, "{peak}");
    }

    #[test]
    fn music_ducks_under_voice_and_loops() {
        let plan = AudioPlan {
            voice: vec![Placed { samples: tone(1000.0, 1.0, 0.3), start: RATE as u64, gain: 1.0 }],
            music: Some(Music {
                clip: Placed { samples: tone(200.0, 0.5, 0.3), start: 0, gain: 1.0 },
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
