//! `reel serve` from outside: the real binary on a free port with a fresh data folder, a
//! real HTTP client, a real webhook receiver. A module per area.

mod common;
mod faults;
mod flow;
#[path = "../../../../tests/judges/ffmpeg.rs"]
mod judges;
mod security;
mod workers;
