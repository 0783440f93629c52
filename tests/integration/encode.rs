//! Encoded output judged by ffprobe/ffmpeg: codec, profile, size, pixel format, colour tags,
//! frame count, rate, duration, box order, and pixel colours after the round trip.

use crate::common::*;
use reel::RenderOptions;

fn render_json(json: &str, name: &str) -> (tempfile::TempDir, std::path::PathBuf, reel::RenderReport) {
    let dir = media_dir();
    let plan = plan(json, dir.path()).expect("valid composition");
    let out = dir.path().join(name);
    let report = reel::render(&plan, &RenderOptions::new(&out)).expect("render");
    (dir, out, report)
}

const FLAT: &str = r##"{"id": "flat", "width": 320, "height": 180, "fps": 30, "totalDurationFrames": 45,
  "scenes": [
    {"id": "a", "durationFrames": 15, "background": "#c03030"},
    {"id": "b", "durationFrames": 15, "background": {"type": "color", "color": "#3060c0"},
     "layers": [{"type": "shape", "shape": "rect", "fill": "#ffffff", "width": 80, "height": 60, "x": 40, "y": 30}]},
    {"id": "c", "durationFrames": 15, "background": "rgb(20, 160, 60)"}
  ]}"##;

#[test]
fn mp4_has_the_contracted_stream() {
    let (_dir, out, report) = render_json(FLAT, "flat.mp4");
    assert_eq!(report.frames, 45);
    let p = probe(&out);
    let v = &p["streams"][0];
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["profile"], "High");
    assert_eq!(v["pix_fmt"], "yuv420p");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(320), Some(180)));
    assert_eq!(v["color_space"], "bt709");
    assert_eq!(v["color_primaries"], "bt709");
    assert_eq!(v["color_transfer"], "bt709");
    assert_eq!(v["color_range"], "tv");
    assert_eq!(ratio(&v["r_frame_rate"]), (30, 1));
    assert_eq!(v["nb_read_frames"], "45");
    let dur: f64 = p["format"]["duration"].as_str().expect("duration").parse().expect("f64");
    assert!((dur - 1.5).abs() <= 1.0 / 30.0, "container duration {dur}");
    let boxes = mp4_boxes(&out);
    let moov = boxes.iter().position(|b| b == "moov").expect("moov");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("mdat");
    assert!(moov < mdat, "faststart: moov must come before mdat, got {boxes:?}");
}

/// The options libx264 records in its SEI message ("x264 - core ... options: ..."), split
/// into `name=value` words.
fn x264_options(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("read MP4");
    let at = bytes.windows(11).position(|w| w == b"x264 - core").expect("x264 SEI in the stream");
    let end = bytes[at..].iter().position(|&b| b == 0).map_or(bytes.len(), |n| at + n);
    let text = String::from_utf8_lossy(&bytes[at..end]).into_owned();
    let (_, opts) = text.split_once("options: ").expect("options in the SEI");
    opts.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn encoder_settings_match_the_ffmpeg_program() {
    // Our x264 must run with exactly the settings the `ffmpeg` program gives it for the same
    // preset, CRF and profile: the benchmark's floor is that program, and its defaults
    // (closed GOPs among them) are what users of FFmpeg expect.
    let (dir, out, _) = render_json(FLAT, "flat.mp4");
    let theirs = dir.path().join("ffmpeg.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=320x180:r=30", "-frames:v", "45"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high", "-pix_fmt", "yuv420p"])
        .arg(&theirs)
        .status()
        .expect("run ffmpeg");
    assert!(ok.success());
    let (ours, theirs) = (x264_options(&out), x264_options(&theirs));
    assert!(ours.iter().any(|o| o == "open_gop=0"), "closed GOPs: {ours:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn flat_colors_survive_the_round_trip() {
    let (_dir, out, _) = render_json(FLAT, "colors.mp4");
    let (w, _h, frames) = decode_rgb(&out);
    assert_eq!(frames.len(), 45);
    // Each scene's flat color, in the middle of each scene, away from edges.
    assert_near(rgb_at(&frames[7], w, 200, 120), [0xc0, 0x30, 0x30], 6, "scene a");
    assert_near(rgb_at(&frames[22], w, 200, 120), [0x30, 0x60, 0xc0], 6, "scene b background");
    assert_near(rgb_at(&frames[22], w, 40, 30), [255, 255, 255], 6, "scene b white rect");
    assert_near(rgb_at(&frames[37], w, 200, 120), [20, 160, 60], 6, "scene c");
    // Cuts are frame-exact: the last frame of a and the first of b.
    assert_near(rgb_at(&frames[14], w, 200, 120), [0xc0, 0x30, 0x30], 6, "frame 14");
    assert_near(rgb_at(&frames[15], w, 200, 120), [0x30, 0x60, 0xc0], 6, "frame 15");
}

#[test]
fn frame_timestamps_are_one_frame_apart() {
    let json = FLAT.replace("\"fps\": 30", "\"fps\": 29.97");
    let (_dir, out, _) = render_json(&json, "ntsc.mp4");
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .expect("ffprobe");
    let pts: Vec<f64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(pts.len(), 45);
    for (i, t) in pts.iter().enumerate() {
        let want = i as f64 * 1001.0 / 30000.0;
        assert!((t - want).abs() < 0.0005, "frame {i}: pts {t}, expected {want}");
    }
}

/// Every aspect ratio at its default size, and the common frame rates, give the right size,
/// rate and count.
#[test]
fn aspect_ratios_and_frame_rates() {
    for (aspect, w, h) in [("9:16", 1080, 1920), ("1:1", 1080, 1080), ("4:5", 1080, 1350), ("2:3", 1080, 1620)] {
        let json = format!(
            r##"{{"id": "a", "aspectRatio": "{aspect}", "fps": 25, "scenes": [{{"id": "s", "durationFrames": 5, "background": "#336699",
                 "layers": [{{"type": "text", "text": "Hi", "role": "headline"}}]}}]}}"##
        );
        let (_d, out, _) = render_json(&json, "aspect.mp4");
        let v = &probe(&out)["streams"][0];
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(w), Some(h)), "{aspect}");
        assert_eq!(v["nb_read_frames"], "5", "{aspect}");
    }
    for (fps, num, den, frames) in
        [("24", 24, 1, 48), ("25", 25, 1, 50), ("29.97", 30000, 1001, 60), ("60", 60, 1, 120)]
    {
        let json = format!(
            r##"{{"id": "r", "width": 160, "height": 90, "fps": {fps}, "totalDurationFrames": {frames},
                 "scenes": [{{"id": "s", "durationFrames": {frames}, "background": "#804020"}}]}}"##
        );
        let (_d, out, _) = render_json(&json, "rate.mp4");
        let p = probe(&out);
        let v = &p["streams"][0];
        assert_eq!(ratio(&v["r_frame_rate"]), (num, den), "{fps}");
        assert_eq!(v["nb_read_frames"], frames.to_string(), "{fps}");
        let dur: f64 = p["format"]["duration"].as_str().expect("duration").parse().expect("f64");
        let want = frames as f64 * den as f64 / num as f64;
        assert!((dur - want).abs() <= den as f64 / num as f64, "{fps}: duration {dur}, want {want}");
    }
}

#[test]
fn cancel_leaves_no_file() {
    let dir = media_dir();
    let plan = plan(FLAT, dir.path()).expect("plan");
    let out = dir.path().join("cancelled.mp4");
    let mut opts = RenderOptions::new(&out);
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = flag.clone();
    opts.cancel = Some(flag);
    opts.progress = Some(std::sync::Arc::new(move |p: reel::Progress| {
        if p.frames_done >= 5 {
            f2.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }));
    let before = files_in(dir.path());
    match reel::render(&plan, &opts) {
        Err(reel::Error::Cancelled) => {}
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert_eq!(files_in(dir.path()), before, "no output and no temporary file may remain");
}

#[test]
fn unwritable_folder_is_a_clear_error() {
    let dir = media_dir();
    let plan = plan(FLAT, dir.path()).expect("plan");
    // A path below a regular file cannot be created.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("write");
    let err = reel::render(&plan, &RenderOptions::new(blocker.join("out.mp4"))).expect_err("must fail");
    assert!(!err.is_input_error(), "{err}");
    assert!(err.to_string().contains("file"), "{err}");
}

/// An image that leaves the screen and comes back seconds later is released in between
/// (a render holds the images around the current frame only) and decoded again: the video
/// shows it as the still did, plain and under Ken Burns (where planning shrank the source),
/// and a still after the render (pixels decoded again) is exactly the still before it.
#[test]
fn an_image_shown_again_after_a_gap_looks_the_same() {
    // 200x100 into 160x90 covers at 0.9 (drawn as decoded); with a 1.05 zoom it is shrunk.
    let kb = r#""kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.05}}"#;
    let json = format!(
        r##"{{"id": "again", "width": 160, "height": 90, "fps": 30, "scenes": [
      {{"id": "a", "durationFrames": 10, "background": {{"type": "image", "asset": "quad.png"}}}},
      {{"id": "k", "durationFrames": 10, "background": {{"type": "image", "asset": "quad.png", {kb}}}}},
      {{"id": "gap", "durationFrames": 120, "background": "#202020"}},
      {{"id": "b", "durationFrames": 10, "background": {{"type": "image", "asset": "quad.png"}}}},
      {{"id": "k2", "durationFrames": 10, "background": {{"type": "image", "asset": "quad.png", {kb}}}}}]}}"##
    );
    let dir = media_dir();
    let plan = plan(&json, dir.path()).expect("valid composition");
    let before: Vec<image::RgbaImage> = [5, 15].iter().map(|&f| reel::render_still(&plan, f)).collect();
    let out = dir.path().join("again.mp4");
    reel::render(&plan, &RenderOptions::new(&out)).expect("render");
    for (i, f) in [(0, 145), (1, 155)] {
        let after = reel::render_still(&plan, f);
        assert!(after.as_raw() == before[i].as_raw(), "still {f} differs from the same picture before the render");
    }
    let (w, _, frames) = decode_rgb(&out);
    assert_eq!(frames.len(), 160);
    for (i, f) in [(0usize, 5usize), (0, 145), (1, 15), (1, 155)] {
        let still = &before[i];
        let diff: u64 = frames[f]
            .chunks_exact(3)
            .zip(still.pixels())
            .map(|(got, want)| (0..3).map(|c| got[c].abs_diff(want[c]) as u64).sum::<u64>())
            .sum();
        let mean = diff as f64 / (w as f64 * 90.0 * 3.0);
        assert!(mean < 3.0, "frame {f}: mean difference {mean:.2} from the still");
    }
}

#[test]
fn shared_frames_reach_the_encoder_and_a_wrong_size_is_an_error() {
    // Mp4Writer::write_shared hands libx264 the planes where the caller keeps them (an
    // Arc, released by FFmpeg): the frames must come out as written, the owner must be
    // unique again once the call returns (so the render can recycle it), and a picture
    // of another size must be refused, not read out of bounds.
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("shared.mp4");
    let mut settings = reel::encode::VideoSettings::new(64, 48, reel::Fps::new(30, 1).expect("fps"));
    settings.crf = 0;
    let mut w = reel::encode::Mp4Writer::create(&out, &settings, None).expect("writer");
    let pick: fn(&reel::pixels::Yuv420) -> &reel::pixels::Yuv420 = |f| f;
    for i in 0..6u8 {
        let mut f = reel::pixels::Yuv420::new(64, 48);
        f.y.fill(40 + 30 * i);
        f.u.fill(128);
        f.v.fill(128);
        let f = std::sync::Arc::new(f);
        w.write_shared(&f, pick).expect("write");
        assert_eq!(std::sync::Arc::strong_count(&f), 1, "frame {i}: FFmpeg still holds it");
    }
    let wrong = std::sync::Arc::new(reel::pixels::Yuv420::new(32, 48));
    assert!(w.write_shared(&wrong, pick).is_err(), "a 32x48 picture went to a 64x48 encoder");
    // Planes shorter than the picture they claim (the fields are public) are refused too.
    let mut short = reel::pixels::Yuv420::new(64, 48);
    short.y.truncate(64 * 47);
    assert!(w.write_shared(&std::sync::Arc::new(short), pick).is_err(), "a short luma plane was read");
    w.finish().expect("finish");
    // Lossless (CRF 0): each frame's luma plane comes back as written.
    let raw = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(raw.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&raw.stderr));
    let frames: Vec<&[u8]> = raw.stdout.chunks_exact(64 * 48 * 3 / 2).collect();
    assert_eq!(frames.len(), 6);
    for (i, f) in frames.iter().enumerate() {
        let want = 40 + 30 * i as u8;
        assert!(f[..64 * 48].iter().all(|&v| v == want), "frame {i}: luma {:?}, want {want}", &f[..4]);
    }
}

/// A second of a 440 Hz tone, for writers fed directly.
#[derive(Debug)]
struct Tone;

struct ToneStream(usize);

impl reel::encode::Soundtrack for Tone {
    fn frames(&self) -> usize {
        48_000
    }
    fn stream(&self) -> Box<dyn reel::encode::SoundStream> {
        Box::new(ToneStream(0))
    }
}

impl reel::encode::SoundStream for ToneStream {
    fn read(&mut self, out: &mut [f32]) -> usize {
        let n = out.len().min(2 * (48_000 - self.0));
        for (i, v) in out[..n].iter_mut().enumerate() {
            *v = 0.3 * (std::f32::consts::TAU * 440.0 * (self.0 + i / 2) as f32 / 48_000.0).sin();
        }
        self.0 += n / 2;
        n
    }
    fn error(&self) -> Option<(&std::path::Path, &str)> {
        None
    }
}

#[test]
fn a_copied_sound_is_whole_or_the_copy_fails() {
    use reel::encode::{AudioSettings, Mp4Writer, VideoSettings};
    let dir = media_dir();
    let fps = reel::Fps { num: 30, den: 1 };
    let s = VideoSettings::new(64, 36, fps);
    let frame = reel::pixels::Yuv420::new(64, 36);
    let sound = AudioSettings::new(std::sync::Arc::new(Tone), 128_000);
    let write = |source: Option<&AudioSettings>, name: &str| {
        let mut w = Mp4Writer::create(&dir.path().join(name), &s, source).expect("writer");
        let feed = w.share_audio().expect("an encoder's packets can be shared");
        let mut copy =
            Mp4Writer::create_copying(&dir.path().join(format!("copy_{name}")), &s, feed, None).expect("copy");
        assert!(copy.share_audio().is_none(), "a copy has no encoder to share");
        for _ in 0..30 {
            w.write(&frame).expect("frame");
            copy.write(&frame).expect("frame");
        }
        (w, copy)
    };
    // Finished in order: the copy carries every packet of the source.
    let (w, copy) = write(Some(&sound), "a.mp4");
    let files = vec![w.finish_pending().expect("source"), copy.finish_pending().expect("copy")];
    reel::encode::PendingFile::commit_all(files).expect("commit");
    assert_eq!(audio_packets_md5(&dir.path().join("copy_a.mp4")), audio_packets_md5(&dir.path().join("a.mp4")));
    let p = probe(&dir.path().join("copy_a.mp4"));
    assert_eq!(p["streams"][1]["codec_name"], "aac");
    let dur: f64 = p["streams"][1]["duration"].as_str().expect("duration").parse().expect("f64");
    assert!((dur - 1.0).abs() < 0.03, "copied sound lasts {dur} s");
    // The source dropped unfinished (a failed output): the copy's sound would end early,
    // so the copy fails rather than be written short.
    let (w, copy) = write(Some(&sound), "b.mp4");
    drop(w);
    let e = copy.finish_pending().expect_err("the source never finished");
    assert!(e.to_string().contains("stopped before its end"), "{e}");
    assert!(!files_in(dir.path()).iter().any(|n| n.contains("b.mp4")), "{:?}", files_in(dir.path()));
    // A writer without sound has nothing to share.
    let mut silent = Mp4Writer::create(&dir.path().join("c.mp4"), &s, None).expect("writer");
    assert!(silent.share_audio().is_none());
}
