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
#[path = "../support/judges.rs"]
mod judges;
mod media;
mod robust;
#[path = "../support/s3.rs"]
#[allow(dead_code, reason = "shared with reel-serve's tests, which list buckets")]
mod s3;
mod shaping;
mod timeline;
mod validate;
mod variants;
