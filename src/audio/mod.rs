//! Audio: decoding files to 48 kHz (symphonia + rubato), and mixing the soundtrack (pure
//! functions over buffers: placement, loops, fades, ducking, loudness, limiting).
//!
//! Decoded sounds are `f32` at [`RATE`], mono or interleaved stereo ([`Sound`]), and held in
//! memory for the whole render, cut to what the timeline plays (about 23 MB per minute of
//! stereo, half that for mono). The mix streams into the encoder in 10 ms blocks.

mod decode;
mod mix;

pub use decode::{declared_seconds, decode_file, resample};
pub use mix::{mix, true_peak_ceiling, AudioPlan, Duck, MixSpec, MixStream, Music, Placed, Sound};

/// The output sample rate.
pub const RATE: u32 = 48_000;
