//! Chunked renders: segments of frames rendered apart and stitched without re-encoding.

use crate::common::*;
use crate::judges::ssim;
use reel::{RenderOptions, Segment};
use std::path::Path;

/// The colour of clip frame `n`: its number in the red and green levels.
fn frame_colour(n: u64) -> [u8; 3] {
    [((n % 16) * 16 + 8) as u8, ((n / 16 % 16) * 16 + 8) as u8, 128]
}

/// The frame number a decoded picture shows (its centre's colour).
fn frame_number(rgb: [u8; 3]) -> u64 {
    (rgb[0] as u64 / 16) + 16 * (rgb[1] as u64 / 16)
}

const W: u32 = 128;
const H: u32 = 72;
const FRAMES: u64 = 100;

fn composition(dir: &Path) -> reel::Plan {
    write_clip(
        dir.join("counter.mp4").as_path(),
        W,
        H,
        "30",
        (0..FRAMES).map(|n| frame_colour(n).repeat((W * H) as usize)),
    );
    let tone: Vec<f32> = sine(48_000, 440.0, 4.0, 0.5).into_iter().flat_map(|s| [s, s]).collect();
    write_wav(&dir.join("tone.wav"), 48_000, 2, &tone);
    let json = format!(
        r##"{{"id": "chunks", "width": {W}, "height": {H}, "fps": 30, "totalDurationFrames": {FRAMES},
            "scenes": [{{"id": "s", "durationFrames": {FRAMES},
                        "background": {{"type": "video", "asset": "counter.mp4"}},
                        "layers": [{{"type": "text", "text": "Kettle", "x": 8, "y": 50, "fontSize": 14, "color": "#ffffff"}}]}}],
            "audio": {{"music": {{"asset": "tone.wav", "volume": 1.0}}}}}}"##
    );
    plan(&json, dir).expect("plan")
}

fn render_segments(plan: &reel::Plan, dir: &Path, cuts: &[u64]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for (i, pair) in cuts.windows(2).enumerate() {
        let frames = pair[0]..pair[1];
        let mut ro = RenderOptions::new(dir.join(format!("part-{i}.mp4")));
        ro.frames = Some(frames.clone());
        let report = reel::render(plan, &ro).expect("segment renders");
        assert_eq!(report.frames, frames.end - frames.start);
        assert!(report.outputs.iter().all(|o| o.kind != "poster"), "a segment writes no posters");
        segments.push(Segment { frames, output: ro.output });
    }
    segments
}

#[test]
fn a_stitched_render_has_every_frame_once_in_order_with_unbroken_sound() {
    let dir = tempfile::tempdir().expect("tmp");
    let plan = composition(dir.path());
    let single = dir.path().join("single.mp4");
    reel::render(&plan, &RenderOptions::new(&single)).expect("single render");
    let segments = render_segments(&plan, dir.path(), &[0, 37, 38, 80, FRAMES]);
    let stitched = dir.path().join("stitched.mp4");
    let report = reel::stitch(&plan, &segments, &RenderOptions::new(&stitched)).expect("stitch");
    let kinds: Vec<&str> = report.outputs.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["main", "web", "preview", "poster", "poster"]);

    for suffix in ["", "_web", "_preview"] {
        let (a, b) = (dir.path().join(format!("single{suffix}.mp4")), dir.path().join(format!("stitched{suffix}.mp4")));
        let (pa, pb) = (probe(&a), probe(&b));
        for key in ["nb_read_frames", "r_frame_rate", "duration", "start_time", "codec_name", "width", "height"] {
            for s in 0..2 {
                assert_eq!(pa["streams"][s][key], pb["streams"][s][key], "{suffix}: stream {s} {key}");
            }
        }
        assert_eq!(pb["streams"][0]["nb_read_frames"], serde_json::json!(FRAMES.to_string()));
        let q = ssim(&b, &a);
        assert!(q >= 0.99, "{suffix}: SSIM {q} against the single render");
    }
    // Every frame once, in order: frame n shows clip frame n.
    let (w, h, frames) = decode_rgb(&stitched);
    assert_eq!(frames.len() as u64, FRAMES);
    for (n, f) in frames.iter().enumerate() {
        assert_eq!(frame_number(rgb_at(f, w, w / 2, h / 4)), n as u64, "frame {n}");
    }
    // The sound runs through the seams: the same as the single render's, no gap, no click.
    let (sa, sb) = (decode_audio_left(&single), decode_audio_left(&stitched));
    assert_eq!(sa.len(), sb.len(), "the soundtracks have the same length");
    let worst = sa.iter().zip(&sb).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "the stitched soundtrack differs from the single render's by {worst}");
    for cut in [37u64, 38, 80] {
        let at = (cut * 48_000 / 30) as usize;
        let step = sb[at - 480..at + 480].windows(2).map(|p| (p[1] - p[0]).abs()).fold(0.0f32, f32::max);
        // A 440 Hz sine at 0.5 moves at most 0.029 a sample at 48 kHz.
        assert!(step < 0.04, "a click at the seam at frame {cut}: step {step}");
    }
    // Posters: the same picture as the single render's.
    for p in ["_400w.jpg", "_800w.jpg"] {
        let a = image::open(dir.path().join(format!("single{p}"))).expect("poster").to_rgb8();
        let b = image::open(dir.path().join(format!("stitched{p}"))).expect("poster").to_rgb8();
        assert_eq!(a.dimensions(), b.dimensions());
        let diff = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        assert!(diff <= 8, "{p}: posters differ by {diff}");
    }
}

#[test]
fn a_gap_a_wrong_segment_or_a_bad_range_stitches_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let plan = composition(dir.path());
    let segments = render_segments(&plan, dir.path(), &[0, 50, FRAMES]);
    let out = dir.path().join("out.mp4");
    let stitch =
        |segs: &[Segment]| reel::stitch(&plan, segs, &RenderOptions::new(&out)).map(|_| ()).unwrap_err().to_string();
    // A segment missing: refused before any work.
    let err = stitch(&segments[..1]);
    assert!(err.contains("end at frame 50") && err.contains("100 frames"), "{err}");
    // A segment that does not hold the frames it claims (its file is another's).
    let mut wrong = segments.clone();
    wrong[1].output = segments[0].output.clone();
    let err = stitch(&wrong);
    assert!(err.contains("part-0.mp4") && err.contains("nothing was stitched"), "{err}");
    // A segment file gone.
    std::fs::remove_file(dir.path().join("part-1_web.mp4")).expect("rm");
    let err = stitch(&segments);
    assert!(err.contains("part-1_web.mp4"), "{err}");
    let names = files_in(dir.path());
    assert!(names.iter().all(|n| !n.starts_with("out") && !n.starts_with(".out")), "nothing partial: {names:?}");
    // A range outside the video, or empty.
    for frames in [90..120, 10..10] {
        let mut ro = RenderOptions::new(dir.path().join("x.mp4"));
        ro.frames = Some(frames);
        let err = reel::render(&plan, &ro).unwrap_err().to_string();
        assert!(err.contains("frames") && err.contains("100 frames"), "{err}");
    }
}
