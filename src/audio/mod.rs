//! Audio: decoding files to 48 kHz stereo (symphonia + rubato), and mixing the soundtrack
//! (pure functions over buffers: placement, loops, fades, ducking, loudness, limiting).
//!
//! All buffers are interleaved stereo `f32` at [`RATE`]. The mix of a whole video is held in
//! memory (about 23 MB per minute); frames, which are far larger, stream.

mod decode;
mod mix;

pub use decode::{declared_seconds, decode_file, resample as resample_stereo};
pub use mix::{mix, true_peak_ceiling, AudioPlan, Duck, MixSpec, MixStream, Music, Placed};

/// The output sample rate.
pub const RATE: u32 = 48_000;
