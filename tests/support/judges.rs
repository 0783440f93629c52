//! Judges both crates' integration tests share: the `ffmpeg` program, independent of reel.
//! Included with `#[path]` (a folder without `main.rs` is not a test target of its own).

use std::path::Path;
use std::process::Command;

/// `ffmpeg`'s SSIM of `a` against `b` (all frames).
pub fn ssim(a: &Path, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-nostats", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "ssim", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    let all = log.split("All:").nth(1).expect("an SSIM line");
    all.split_whitespace().next().and_then(|v| v.parse().ok()).expect("SSIM value")
}
