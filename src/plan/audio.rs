//! The soundtrack: voiceover, music and tracks checked and placed on the timeline, and
//! each clip's own sound.

use super::check::*;
use super::*;
use crate::error::Result;
use crate::media::AssetResolver;
use crate::model::{self};
use rayon::prelude::*;
use std::collections::HashMap;

/// Resolves and checks every audio file (in parallel, each decoded once and let go), and
/// places it on the timeline.
pub(super) fn audio(
    ck: &mut Checker,
    a: Option<&model::Audio>,
    assets: &dyn AssetResolver,
    fps: Fps,
    target: u64,
) -> crate::audio::AudioPlan {
    use crate::audio::{AudioPlan, Duck, Music, Placed, Source, RATE};
    let Some(a) = a else { return AudioPlan::default() };
    // (path, key, startFrame, volume)
    struct Want {
        path: String,
        key: String,
        start: u64,
        gain: f32,
    }
    let want =
        |ck: &mut Checker, p: String, key: &Option<String>, start: Option<i64>, vol: Option<f64>| -> Option<Want> {
            let start = ck.frames(&format!("{p}.startFrame"), start, 0, 0);
            let gain = ck.range(&format!("{p}.volume"), vol, 0.0, 4.0, 1.0) as f32;
            match key {
                Some(k) => Some(Want { path: format!("{p}.asset"), key: k.clone(), start, gain }),
                None => {
                    ck.err(format!("{p}.asset"), "an audio entry needs an asset");
                    None
                }
            }
        };
    let mut voice = Vec::new();
    if let Some(v) = &a.voiceover {
        match &v.segments {
            Some(segs) => {
                // The voiceover's own volume scales every segment's.
                if v.asset.is_some() {
                    ck.warn("audio.voiceover.asset", "ignored: with segments, each segment names its file");
                }
                let all = ck.range("audio.voiceover.volume", v.volume, 0.0, 4.0, 1.0) as f32;
                for (i, s) in segs.iter().enumerate() {
                    let seg = want(ck, format!("audio.voiceover.segments[{i}]"), &s.asset, s.start_frame, s.volume);
                    voice.extend(seg.map(|w| Want { gain: w.gain * all, ..w }));
                }
            }
            None => voice.extend(want(ck, "audio.voiceover".into(), &v.asset, v.start_frame, v.volume)),
        }
    }
    let music = a.music.as_ref().and_then(|m| {
        let w = want(ck, "audio.music".into(), &m.asset, m.start_frame, m.volume)?;
        let fade_in = ck.frames("audio.music.fadeInFrames", m.fade_in_frames, 0, 0);
        let fade_out = ck.frames("audio.music.fadeOutFrames", m.fade_out_frames, 0, 0);
        let duck = m.duck.as_ref().and_then(|d| {
            if d.under_voiceover == Some(false) {
                return None;
            }
            let amount = ck.range("audio.music.duck.amountDb", d.amount_db, -60.0, 0.0, -12.0) as f32;
            Some(Duck { amount_db: amount })
        });
        let offset = ck.range("audio.music.trimStart", m.trim_start, 0.0, 86_400.0, 0.0);
        let offset = (offset * RATE as f64).round() as u64;
        Some((w, m.looped.unwrap_or(true), fade_in, fade_out, duck, offset))
    });
    let tracks: Vec<Want> = a
        .tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| want(ck, format!("audio.tracks[{i}]"), &t.asset, t.start_frame, t.volume))
        .collect();

    // Resolve (all missing listed), then decode each distinct file once, in parallel.
    let all: Vec<&Want> = voice.iter().chain(music.iter().map(|m| &m.0)).chain(tracks.iter()).collect();
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    for w in &all {
        match assets.resolve(&w.key) {
            Ok(f) => {
                if !files.iter().any(|(k, _)| *k == w.key) {
                    files.push((w.key.clone(), f));
                }
            }
            Err(why) => ck.err(w.path.clone(), format!("asset {:?}: {why}", w.key)),
        }
    }
    // What each file can play: to the video's end from its earliest start, or all of it
    // for looped music. A mix decodes no further.
    let end = fps.sample_at(target, RATE);
    let looped = music.as_ref().filter(|m| m.1).map(|m| m.0.key.as_str());
    // Music that starts into its file needs that much more of it.
    let skipped = |key: &str| music.as_ref().filter(|m| m.0.key == key).map_or(0, |m| m.5);
    let playable = |key: &str| -> usize {
        if looped == Some(key) {
            return usize::MAX;
        }
        let first = all.iter().filter(|w| w.key == key).map(|w| fps.sample_at(w.start, RATE)).min();
        first.map_or(0, |s| (end.saturating_sub(s) + skipped(key)).try_into().unwrap_or(usize::MAX))
    };
    let decoded: HashMap<String, Result<Source, String>> = files
        .par_iter()
        .map(|(k, f)| {
            let file = crate::audio::AudioFile::open(f).map(|a| Source::File(Arc::new(a.cut(playable(k)))));
            (k.clone(), file)
        })
        .collect();
    for (k, r) in &decoded {
        if let Err(why) = r {
            for w in all.iter().filter(|w| w.key == *k) {
                ck.err(w.path.clone(), format!("asset {k:?}: {why}"));
            }
        }
    }
    let place = |w: &Want| -> Option<Placed> {
        let samples = decoded.get(&w.key)?.as_ref().ok()?.clone();
        Some(Placed { samples, start: fps.sample_at(w.start, RATE), gain: w.gain })
    };
    AudioPlan {
        voice: voice.iter().filter_map(place).collect(),
        music: music.and_then(|(w, looped, fi, fo, duck, offset)| {
            let clip = place(&w)?;
            let len = clip.samples.frames() as u64;
            if offset > 0 && offset >= len {
                let secs = len as f64 / RATE as f64;
                ck.err("audio.music.trimStart", format!("the file is {secs:.3} s long; trimStart is past its end"));
            }
            Some(Music {
                clip,
                looped,
                offset,
                fade_in: fps.sample_at(fi, RATE),
                fade_out: fps.sample_at(fo, RATE).min(end),
                duck,
            })
        }),
        tracks: tracks.iter().filter_map(place).collect(),
    }
}

/// A clip's own sound, placed where the clip plays: trimmed, looped like the picture (or
/// silent once a held clip ends), at the clip's volume, with 5 ms fades at the edges so cuts
/// do not click; at another playbackRate, resampled like tape (the pitch follows). Each is
/// decoded once here to check it and again by the mix.
pub(super) fn clip_audio(ck: &mut Checker, clips: &[ClipPlan], fps: Fps, audio: &mut crate::audio::AudioPlan) {
    use crate::audio::{AudioFile, ClipTrack, Placed, Source, RATE};
    let wanted: Vec<&ClipPlan> = clips.iter().filter(|c| c.volume > 0.0).collect();
    // Each file at each playback rate is checked once, however many scenes play it.
    let key = |c: &ClipPlan| (c.path.clone(), c.rate.to_bits());
    let mut keys: Vec<(std::path::PathBuf, u64)> = wanted.iter().map(|c| key(c)).collect();
    keys.sort_unstable();
    keys.dedup();
    type Opened = Result<Option<Arc<AudioFile>>, crate::ffmpeg::input::MediaError>;
    let opened: HashMap<(std::path::PathBuf, u64), Opened> = keys
        .into_par_iter()
        .map(|(path, rate)| {
            let sound = AudioFile::open_clip(&path, f64::from_bits(rate)).map(|s| s.map(Arc::new));
            ((path, rate), sound)
        })
        .collect();
    for c in wanted {
        let sound = match opened.get(&key(c)) {
            Some(Ok(Some(s))) => s.clone(),
            Some(Ok(None)) | None => continue,
            Some(Err(why)) => {
                ck.media(format!("{}.asset", c.path_json), "the clip's audio: ", why.clone());
                continue;
            }
        };
        let src_frames = sound.frames();
        let s0 = ((c.trim_start / c.rate * RATE as f64).round() as usize).min(src_frames);
        let s1 = ((c.end / c.rate * RATE as f64).round() as usize).clamp(s0, src_frames);
        let start = fps.sample_at(c.start, RATE);
        let len = (fps.sample_at(c.start + c.len, RATE) - start) as usize;
        let span = s1 - s0;
        if span == 0 || len == 0 {
            continue;
        }
        let fade = (RATE as usize / 200).min(len / 2);
        let track = ClipTrack { sound, from: s0, span, looped: c.looped, len, fade };
        audio.tracks.push(Placed { samples: Source::Clip(Arc::new(track)), start, gain: c.volume });
    }
}
