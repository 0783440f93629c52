//! The FFmpeg boundary: the only module that names FFmpeg (linked in-process through
//! ffmpeg-next; no `ffmpeg` program is ever run).
//!
//! | file | what |
//! |---|---|
//! | `encode.rs` | libx264 and AAC encoding, MP4 muxing, atomic output files (`reel::encode`) |
//! | `input.rs` | opening media (reel's own I/O on the one file, only the supported demuxers, no protocols), stream facts, [`input::MediaError`] |
//! | `decode.rs` | probing a clip whole; its pictures at any time, in 4:2:0 or RGBA (re-exported by `reel::media`) |
//! | `clip_audio.rs` | a clip's own sound |
//! | `join.rs` | joining H.264 segments into one MP4 without re-encoding, with the soundtrack |
//!
//! Above it, nothing knows FFmpeg's types: pictures come out as [`crate::pixels::Yuv420`]
//! planes or RGBA pixmaps, sound goes in through the [`encode::Soundtrack`] trait and comes
//! out as interleaved f32, and every FFmpeg failure becomes an [`crate::Error`] naming the
//! file.

pub(crate) mod clip_audio;
pub(crate) mod decode;
pub mod encode;
pub(crate) mod input;
pub(crate) mod join;

use crate::error::{Error, Result};
use ffmpeg_next as ff;
use std::sync::Once;

/// Initializes FFmpeg once per process (quiet logging).
pub fn init() -> Result<()> {
    static INIT: Once = Once::new();
    let mut result = Ok(());
    INIT.call_once(|| {
        result = ff::init().map_err(Error::from);
        // Quiet: every failure reaches the caller as an Error naming the file.
        ff::util::log::set_level(ff::util::log::Level::Quiet);
    });
    result
}

impl From<ff::Error> for Error {
    fn from(e: ff::Error) -> Self {
        Error::Encode(e.to_string())
    }
}
