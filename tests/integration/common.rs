//! Helpers shared by the test modules.

use reel::{Plan, PlanOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Plans a composition given as JSON text, with assets from `assets`.
pub fn plan(json: &str, assets: &Path) -> reel::Result<Plan> {
    let parsed = reel::parse(json)?;
    Plan::build(&parsed, &PlanOptions::new(assets))
}

/// A folder with test media: `quad.png` (200x100: red, green / blue, white quadrants),
/// `logo.png` (64x64, a white disc on transparency).
pub fn media_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    quadrants(200, 100).save(dir.path().join("quad.png")).expect("write quad.png");
    let logo = image::RgbaImage::from_fn(64, 64, |x, y| {
        let (dx, dy) = (x as f32 - 31.5, y as f32 - 31.5);
        if dx * dx + dy * dy < 900.0 {
            image::Rgba([255, 255, 255, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    logo.save(dir.path().join("logo.png")).expect("write logo.png");
    dir
}

/// Red, green on top; blue, white below.
pub fn quadrants(w: u32, h: u32) -> image::RgbaImage {
    image::RgbaImage::from_fn(w, h, |x, y| match (x < w / 2, y < h / 2) {
        (true, true) => image::Rgba([255, 0, 0, 255]),
        (false, true) => image::Rgba([0, 255, 0, 255]),
        (true, false) => image::Rgba([0, 0, 255, 255]),
        (false, false) => image::Rgba([255, 255, 255, 255]),
    })
}

/// `ffprobe -show_streams -show_format -count_frames` as JSON.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe (installed by `make test`)");
    assert!(out.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// The MD5 of a file's audio packets as stored (`ffmpeg -map 0:a -c copy -f md5`): equal
/// for two files only when they carry the same encoded sound.
pub fn audio_packets_md5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-c", "copy", "-f", "md5", "-"])
        .output()
        .expect("run ffmpeg (installed by `make test`)");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Decodes every frame of the first video stream to RGB24 with the `ffmpeg` program, using
/// the BT.709 matrix the stream is tagged with.
pub fn decode_rgb(path: &Path) -> (u32, u32, Vec<Vec<u8>>) {
    let p = probe(path);
    let s = &p["streams"][0];
    let (w, h) = (s["width"].as_u64().expect("width") as u32, s["height"].as_u64().expect("height") as u32);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    let size = (w * h * 3) as usize;
    let frames = out.stdout.chunks_exact(size).map(|c| c.to_vec()).collect();
    (w, h, frames)
}

/// The RGB at (x, y) of a decoded RGB24 frame.
pub fn rgb_at(frame: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * w + x) * 3) as usize;
    [frame[i], frame[i + 1], frame[i + 2]]
}

pub fn assert_near(got: [u8; 3], want: [u8; 3], tol: u8, what: &str) {
    let ok = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= tol);
    assert!(ok, "{what}: got {got:?}, expected {want:?} within {tol}");
}

/// The top-level MP4 box types in order.
pub fn mp4_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).expect("read mp4");
    let mut boxes = Vec::new();
    let mut i = 0usize;
    while i + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[i..i + 4].try_into().expect("4 bytes")) as u64;
        let kind = String::from_utf8_lossy(&data[i + 4..i + 8]).into_owned();
        if size == 1 && i + 16 <= data.len() {
            size = u64::from_be_bytes(data[i + 8..i + 16].try_into().expect("8 bytes"));
        }
        boxes.push(kind);
        if size < 8 {
            break;
        }
        i += size as usize;
    }
    boxes
}

/// Files in `dir` (names), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Parses "30000/1001" into (30000, 1001).
pub fn ratio(s: &serde_json::Value) -> (u64, u64) {
    let s = s.as_str().expect("ratio string");
    let (a, b) = s.split_once('/').expect("a/b");
    (a.parse().expect("num"), b.parse().expect("den"))
}

/// Writes a 16-bit PCM WAV.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let data: Vec<u8> = samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).expect("write wav");
}

/// A mono sine of `secs` seconds.
pub fn sine(rate: u32, freq: f32, secs: f32, amp: f32) -> Vec<f32> {
    (0..(rate as f32 * secs) as usize)
        .map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
        .collect()
}

/// Decodes the first audio stream to mono (left channel) f32 at 48 kHz with `ffmpeg`.
pub fn decode_audio_left(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-f", "f32le", "-ac", "2", "-ar", "48000", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(8).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Encodes RGB24 frames into an H.264 MP4 with the `ffmpeg` program (test media only).
pub fn write_clip(path: &Path, w: u32, h: u32, fps: &str, frames: impl Iterator<Item = Vec<u8>>) {
    write_clip_with(path, w, h, fps, &[], frames)
}

/// [`write_clip`] with more libx264 options (`-g 12` for frequent keyframes, say).
pub fn write_clip_with(path: &Path, w: u32, h: u32, fps: &str, extra: &[&str], frames: impl Iterator<Item = Vec<u8>>) {
    use std::io::Write;
    let mut child = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &format!("{w}x{h}"),
            "-r",
            fps,
            "-i",
            "-",
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p"])
        .args(extra)
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run ffmpeg");
    let mut stdin = child.stdin.take().expect("stdin");
    for f in frames {
        stdin.write_all(&f).expect("pipe frame");
    }
    drop(stdin);
    assert!(child.wait().expect("ffmpeg").success());
}

/// The problems planning `json` (with the test media) reports; panics when it plans.
pub fn problems(json: &str) -> Vec<reel::Problem> {
    let dir = media_dir();
    match plan(json, dir.path()) {
        Err(reel::Error::Invalid(p)) => p.0,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
