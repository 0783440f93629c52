//! `reel serve` from outside: the real binary on a free port with a fresh data folder, a
//! real HTTP client, a real webhook receiver. A module per area.

mod common;
mod faults;
mod flow;
#[path = "../../../../tests/support/judges.rs"]
mod judges;
#[path = "../../../../tests/support/s3.rs"]
mod s3;
mod security;
mod workers;
