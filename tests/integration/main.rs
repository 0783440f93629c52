//! The integration tests: one binary, a module per area.
//!
//! Outputs are judged by independent decoders: `ffprobe`/`ffmpeg` read the MP4s we write.

mod browser;
mod captions;
mod catalogue;
mod chunks;
mod cli;
mod common;
mod docs;
mod encode;
mod fetch;
mod fields;
mod golden;
#[path = "../judges/ffmpeg.rs"]
mod judges;
mod media;
mod robust;
mod shaping;
mod timeline;
mod validate;
mod variants;
