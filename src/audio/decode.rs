//! Decoding an audio file with symphonia and resampling it to 48 kHz stereo with rubato.

use super::{Sound, RATE};
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Longest audio file accepted, in seconds (a soundtrack, not an archive).
const MAX_SECONDS: u64 = 4 * 3600;

/// The length a file's header declares, in seconds, without decoding it (None when the
/// header does not say or the file is not audio we read).
pub fn declared_seconds(path: &Path) -> Option<f64> {
    let file = std::fs::File::open(path).ok()?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format =
        symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default()).ok()?;
    let track = format.default_track(TrackType::Audio)?;
    let rate = match &track.codec_params {
        Some(CodecParameters::Audio(p)) => p.sample_rate?,
        _ => return None,
    };
    Some(track.num_frames? as f64 / f64::from(rate))
}

/// Decodes `path` (MP3, WAV, AAC/M4A, FLAC, Ogg Vorbis) into f32 at 48 kHz. Mono stays mono
/// (the mix plays it on both sides); more than two channels are folded down to stereo.
/// The error is a sentence for the user.
pub fn decode_file(path: &Path) -> Result<Sound, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err("the file is empty".into());
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| format!("not a supported audio file (MP3, WAV, AAC/M4A, FLAC, Ogg Vorbis): {e}"))?;
    let track = format.default_track(TrackType::Audio).ok_or("the file has no audio track")?;
    let params = match &track.codec_params {
        Some(CodecParameters::Audio(p)) => p.clone(),
        _ => return Err("the file has no audio track".into()),
    };
    let track_id = track.id;
    // What the header says the file holds, in frames at the codec rate (WAV's data size,
    // FLAC's STREAMINFO, MP3's Xing/Info frame count, MP4's sample table): a file cut short
    // decodes fewer, which is refused rather than played with silence where the rest was.
    let declared = track.num_frames;
    // symphonia does not remove AAC encoder priming in MP4/M4A (PITFALLS.md: 1024 samples
    // more than ffmpeg); MP3, FLAC, Vorbis and WAV are exact.
    let is_aac = params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;
    let skip_priming = if is_aac { track.delay.map(|d| d as usize).unwrap_or(1024) } else { 0 };
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| format!("unsupported audio codec: {e}"))?;

    let mut interleaved: Vec<f32> = Vec::new();
    let mut rate = 0u32;
    let mut channels = 0usize;
    let mut chunk: Vec<f32> = Vec::new();
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("corrupt audio: {e}")),
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = buf.spec();
                if rate == 0 {
                    rate = spec.rate();
                    channels = spec.channels().count();
                } else if spec.rate() != rate || spec.channels().count() != channels {
                    return Err("the audio changes sample rate or channel count midway".into());
                }
                chunk.clear();
                buf.copy_to_vec_interleaved(&mut chunk);
                interleaved.extend_from_slice(&chunk);
                if rate > 0 && interleaved.len() as u64 / channels.max(1) as u64 > MAX_SECONDS * rate as u64 {
                    return Err(format!("the audio is longer than {MAX_SECONDS} s"));
                }
            }
            // A damaged packet: skip it, as players do, unless nothing decodes at all.
            Err(SymError::DecodeError(_)) => bad_packets += 1,
            Err(e) => return Err(format!("corrupt audio: {e}")),
        }
    }
    if rate == 0 || channels == 0 || interleaved.is_empty() {
        return Err(if bad_packets > 0 {
            "corrupt audio: no packet could be decoded".into()
        } else {
            "the file holds no audio".into()
        });
    }
    let frames = interleaved.len() / channels;
    if let Some(declared) = declared {
        // A tenth of a second covers encoder delay and padding, which headers count differently.
        if (frames as u64) + u64::from(rate / 10) < declared {
            return Err(format!(
                "truncated audio: the file declares {:.2} s but its data ends at {:.2} s",
                declared as f64 / f64::from(rate),
                frames as f64 / f64::from(rate)
            ));
        }
    }
    let skip = skip_priming.min(frames);
    let sound = match channels {
        1 => {
            interleaved.drain(..skip);
            Sound::mono(interleaved)
        }
        2 => {
            interleaved.drain(..2 * skip);
            Sound::stereo(interleaved)
        }
        // Fold the rest in: front pair plus the others at -3 dB.
        _ => Sound::stereo(
            interleaved[skip * channels..]
                .chunks_exact(channels)
                .flat_map(|s| {
                    let rest: f32 =
                        s[2..].iter().sum::<f32>() * std::f32::consts::FRAC_1_SQRT_2 / (channels - 2) as f32;
                    [s[0] + rest, s[1] + rest]
                })
                .collect(),
        ),
    };
    if rate == RATE {
        return Ok(sound);
    }
    resample(sound, rate)
}

/// Resamples `sound` from `from` Hz to 48 kHz, each channel alike: FFT-based synchronous
/// resampling (rubato), exact ratio, band-limited, its delay trimmed.
pub fn resample(sound: Sound, from: u32) -> Result<Sound, String> {
    use rubato::{Fft, FixedSync, Resampler};
    let (channels, frames) = (sound.channels(), sound.frames());
    let stereo = channels == 2;
    let input = audioadapter_buffers::owned::InterleavedOwned::new_from(sound.into_samples(), channels, frames)
        .map_err(|e| format!("resampling: {e:?}"))?;
    let mut r = Fft::<f32>::new(from as usize, RATE as usize, 1024, channels, FixedSync::Both)
        .map_err(|e| format!("cannot resample from {from} Hz: {e}"))?;
    let out = r.process_all(&input, frames, None).map_err(|e| format!("resampling: {e}"))?.take_data();
    Ok(if stereo { Sound::stereo(out) } else { Sound::mono(out) })
}
