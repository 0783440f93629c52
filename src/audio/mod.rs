//! Audio: decoding files to 48 kHz (symphonia + rubato), and mixing the soundtrack (pure
//! functions over buffers: placement, loops, fades, ducking, loudness, limiting).
//!
//! Sounds are `f32` at [`RATE`], mono or interleaved stereo. Audio files are checked whole
//! while planning and decoded again, in order, as the mix reads them ([`AudioFile`]): a
//! render holds a chunk of each, not its samples, however long it is; a clip's own sound
//! too ([`ClipTrack`]). Sounds made in memory ([`Sound`]) are held whole. The mix streams
//! into the encoder in 10 ms blocks.

mod decode;
mod mix;
mod shared;

#[cfg(test)]
pub(crate) use decode::write_wav;
pub use decode::AudioFile;
// The whole-buffer decode and mix are the references the streaming mix is tested and
// benched against (`internals`).
#[cfg(feature = "internals")]
pub use decode::{decode_file, resample};
#[cfg(feature = "internals")]
pub use mix::{mix, true_peak_ceiling, MixStream};
pub use mix::{AudioPlan, ClipTrack, Duck, Fixed, MixSpec, Music, Placed, Sound, Source};
pub use shared::SharedMix;

/// The output sample rate.
pub const RATE: u32 = crate::encode::SAMPLE_RATE;
