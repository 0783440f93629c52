//! Every deliverable from one render: main, web, preview, posters, and the report; the
//! duration guarantee on the written files.

use crate::common::*;
use reel::{RenderOptions, Variants};
use std::path::Path;
use std::process::Command;

fn key_frames(path: &Path) -> Vec<usize> {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .filter(|(_, l)| l.trim().starts_with('1'))
        .map(|(i, _)| i)
        .collect()
}

const FOUR: &str = r##"{"id": "v", "width": 2560, "height": 1440, "fps": 30, "totalDurationFrames": 150, "posterFrame": 100,
  "scenes": [
    {"id": "a", "durationFrames": 75, "background": "#c83c28",
     "layers": [{"type": "shape", "fill": "#1e50b4", "width": "50%", "height": "100%", "x": "75%"}]},
    {"id": "b", "durationFrames": 75, "background": "#28a050"}],
  "audio": {"voiceover": {"asset": "tone.wav"}}}"##;

#[test]
fn one_render_writes_every_deliverable() {
    let dir = media_dir();
    write_wav(&dir.path().join("tone.wav"), 48000, 1, &sine(48000, 440.0, 5.0, 0.3));
    let plan = plan(FOUR, dir.path()).expect("plan");
    let out = dir.path().join("ad.mp4");
    let report = reel::render(&plan, &RenderOptions::new(&out)).expect("render");
    let names = files_in(dir.path());
    for n in ["ad.mp4", "ad_web.mp4", "ad_preview.mp4", "ad_400w.jpg", "ad_800w.jpg"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.ends_with(".part")), "{names:?}");

    // Sizes, profiles, level, keyframes, audio, faststart, duration.
    for (file, w, h, profile) in
        [("ad.mp4", 2560, 1440, "High"), ("ad_web.mp4", 1920, 1080, "Main"), ("ad_preview.mp4", 640, 360, "Main")]
    {
        let path = dir.path().join(file);
        let p = probe(&path);
        let v = &p["streams"][0];
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(w), Some(h)), "{file}");
        assert_eq!(v["profile"], profile, "{file}");
        assert_eq!(v["nb_read_frames"], "150", "{file}");
        assert_eq!(p["streams"][1]["codec_name"], "aac", "{file}");
        let dur: f64 = p["format"]["duration"].as_str().expect("duration").parse().expect("f64");
        assert!((dur - 5.0).abs() <= 1.0 / 30.0, "{file}: {dur}");
        let boxes = mp4_boxes(&path);
        assert!(boxes.iter().position(|b| b == "moov") < boxes.iter().position(|b| b == "mdat"), "{file}: {boxes:?}");
    }
    let web = probe(&dir.path().join("ad_web.mp4"));
    assert!(web["streams"][0]["level"].as_i64().expect("level") <= 41, "level {}", web["streams"][0]["level"]);
    let abr: f64 = web["streams"][1]["bit_rate"].as_str().expect("bit_rate").parse().expect("f64");
    assert!((abr - 128_000.0).abs() < 20_000.0, "web audio {abr} b/s");
    // The preview carries the web copy's sound: the same packets (not the main output's,
    // at 192 kb/s).
    let web_sound = audio_packets_md5(&dir.path().join("ad_web.mp4"));
    assert_eq!(audio_packets_md5(&dir.path().join("ad_preview.mp4")), web_sound, "preview sound");
    assert_ne!(audio_packets_md5(&dir.path().join("ad.mp4")), web_sound, "main sound");
    assert_eq!(key_frames(&dir.path().join("ad_web.mp4")), [0, 60, 120], "a keyframe every 2 s");

    // The same picture in every copy at the same instant: a flat region of each scene.
    let mains = decode_rgb(&dir.path().join("ad.mp4"));
    for file in ["ad_web.mp4", "ad_preview.mp4"] {
        let (w, h, frames) = decode_rgb(&dir.path().join(file));
        for (f, fx, want) in
            [(30usize, 0.25f32, [0xc8, 0x3c, 0x28]), (30, 0.75, [0x1e, 0x50, 0xb4]), (120, 0.5, [0x28, 0xa0, 0x50])]
        {
            let got = rgb_at(&frames[f], w, (w as f32 * fx) as u32, h / 2);
            let main = rgb_at(&mains.2[f], mains.0, (mains.0 as f32 * fx) as u32, mains.1 / 2);
            assert_near(got, want, 8, &format!("{file} frame {f}"));
            assert_near(got, main, 8, &format!("{file} vs main, frame {f}"));
        }
    }
    // Posters from posterFrame 100 (scene b, green).
    for (file, w, h) in [("ad_400w.jpg", 400, 225), ("ad_800w.jpg", 800, 450)] {
        let img = image::open(dir.path().join(file)).expect("jpeg").to_rgb8();
        assert_eq!(img.dimensions(), (w, h), "{file}");
        assert_near(img.get_pixel(w / 2, h / 2).0, [0x28, 0xa0, 0x50], 8, file);
    }

    // The report: every output, measured from the written files.
    assert_eq!(report.outputs.len(), 5);
    for o in &report.outputs {
        assert_eq!(o.bytes, std::fs::metadata(&o.path).expect("exists").len(), "{}", o.path.display());
        if o.kind != "poster" {
            assert!((o.duration_s - 5.0).abs() <= 1.0 / 30.0, "{}: {}", o.kind, o.duration_s);
        }
    }
    assert_eq!(report.frames, 150);
    assert!((report.rendered_s - 5.0).abs() < 1e-9);
    assert!(report.stages.raster_s > 0.0 && report.stages.encode_s > 0.0);
    // The soundtrack's time (5 s mixed and encoded to AAC on each of the three encoder
    // threads) is its own stage, not part of encode_s.
    assert!(report.stages.audio_s > 0.01, "{:?}", report.stages);
    assert!(report.peak_rss_bytes.unwrap_or(0) > 0);
}

#[test]
fn variants_can_be_switched_off() {
    let dir = media_dir();
    let plan =
        plan(r#"{"id": "o", "width": 64, "height": 36, "scenes": [{"id": "s", "durationFrames": 4}]}"#, dir.path())
            .expect("plan");
    for (v, expect) in [
        (Variants::NONE, vec!["x.mp4"]),
        (Variants::NONE.with_web(true), vec!["x.mp4", "x_web.mp4"]),
        (Variants::NONE.with_posters(true), vec!["x.mp4", "x_400w.jpg", "x_800w.jpg"]),
    ] {
        let out_dir = tempfile::tempdir().expect("tmp");
        let mut opts = RenderOptions::new(out_dir.path().join("x.mp4"));
        opts.variants = v;
        reel::render(&plan, &opts).expect("render");
        assert_eq!(files_in(out_dir.path()), expect);
    }
    // A canvas narrower than a poster is not upscaled: the poster keeps the canvas width.
    let out_dir = tempfile::tempdir().expect("tmp");
    reel::render(&plan, &RenderOptions::new(out_dir.path().join("x.mp4"))).expect("render");
    assert_eq!(image::open(out_dir.path().join("x_800w.jpg")).expect("jpeg").width(), 64);
}

/// The main video is the same bytes whether or not the other outputs are asked for: the
/// poster frame of a photo scene (composed in 4:2:0) was drawn in RGBA when posters were
/// on, and the main video changed from it to the end of its GOP.
#[test]
fn the_main_video_does_not_depend_on_the_variants() {
    let dir = media_dir();
    let json = r#"{"id": "p", "width": 128, "height": 72, "fps": 30, "scenes": [{"id": "s", "durationFrames": 30,
        "background": {"type": "image", "asset": "quad.png", "fit": "cover", "kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.2}}},
        "layers": [{"type": "text", "text": "Poster", "fontSize": 20, "fromFrame": 3, "enter": {"preset": "fade", "durationFrames": 20}}]}]}"#;
    let plan = plan(json, dir.path()).expect("plan");
    let render = |v: Variants| {
        let out_dir = tempfile::tempdir().expect("tmp");
        let mut opts = RenderOptions::new(out_dir.path().join("x.mp4"));
        opts.variants = v;
        reel::render(&plan, &opts).expect("render");
        let main = std::fs::read(out_dir.path().join("x.mp4")).expect("main");
        let poster = out_dir.path().join("x_400w.jpg").exists();
        (main, poster)
    };
    let (alone, no_poster) = render(Variants::NONE);
    let (with_all, poster) = render(Variants::default());
    assert!(!no_poster && poster);
    assert!(alone == with_all, "the main video changed when the variants were on");
}

/// Whatever the scenes add up to, the written file holds exactly totalDurationFrames frames
/// and lasts that long (within one frame), audio included.
#[test]
fn every_policy_lands_on_the_target() {
    let dir = media_dir();
    write_wav(&dir.path().join("tone.wav"), 48000, 1, &sine(48000, 440.0, 10.0, 0.3));
    let cases = [
        ("fit", "30", 30.0, Some(90), "[40, 20]"),     // short of the target
        ("fit", "30", 30.0, Some(45), "[40, 20, 30]"), // past it
        ("pad", "30", 30.0, Some(90), "[40, 20]"),
        ("pad", "30", 30.0, Some(45), "[40, 20, 30]"),
        ("fit", "29.97", 30000.0 / 1001.0, Some(100), "[30, 30]"),
        ("fit", "25", 25.0, None, "[30, 20]"), // no totalDurationFrames: the timeline
    ];
    for (policy, fps, rate, total, lens) in cases {
        let lens: Vec<u64> = serde_json::from_str(lens).expect("lens");
        let scenes: Vec<String> = lens
            .iter()
            .enumerate()
            .map(|(i, l)| format!(r##"{{"id": "s{i}", "durationFrames": {l}, "background": "#404040"}}"##))
            .collect();
        let total_json = total.map(|t| format!(r#""totalDurationFrames": {t},"#)).unwrap_or_default();
        let json = format!(
            r#"{{"id": "d", "width": 64, "height": 36, "fps": {fps}, {total_json} "durationPolicy": "{policy}",
                "scenes": [{}], "audio": {{"music": {{"asset": "tone.wav"}}}}}}"#,
            scenes.join(",")
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let want = total.unwrap_or(lens.iter().sum());
        let out = dir.path().join("d.mp4");
        let mut opts = RenderOptions::new(&out);
        opts.variants = Variants::NONE;
        let report = reel::render(&plan, &opts).expect("render");
        assert_eq!(report.duration.target_frames, want);
        let p = probe(&out);
        assert_eq!(p["streams"][0]["nb_read_frames"], want.to_string(), "{policy} {fps} {total:?}");
        let dur: f64 = p["format"]["duration"].as_str().expect("duration").parse().expect("f64");
        let target = want as f64 / rate;
        assert!((dur - target).abs() <= 1.0 / rate, "{policy} {fps} {total:?}: {dur} s vs {target} s");
        let audio: f64 = p["streams"][1]["duration"].as_str().expect("duration").parse().expect("f64");
        assert!((audio - target).abs() <= 1.0 / rate, "{policy} {fps}: audio {audio} s vs {target} s");
    }
}

#[test]
fn cli_variants_and_report() {
    let dir = media_dir();
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"id": "c", "width": 64, "height": 36, "style": {"visualMedium": "photorealistic"},
            "scenes": [{"id": "s", "durationFrames": 6}]}"#,
    )
    .expect("write");
    let bin = crate::cli::reel_bin();
    let o = Command::new(&bin)
        .current_dir(dir.path())
        .args(["render", "c.json", "-o", "out/c.mp4", "--variants", "preview", "--report", "r.json", "--quiet"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files_in(&dir.path().join("out")), ["c.mp4", "c_preview.mp4"]);
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("report")).expect("json");
    assert_eq!(r["frames"], 6);
    assert_eq!(r["outputs"][1]["kind"], "preview");
    assert_eq!(r["duration"]["policy"], "fit");
    assert_eq!((&r["composition_id"], &r["visual_medium"]), (&"c".into(), &"photorealistic".into()));
    let o = Command::new(&bin)
        .current_dir(dir.path())
        .args(["render", "c.json", "-o", "n.mp4", "--no-variants", "--quiet"])
        .output()
        .expect("run");
    assert!(o.status.success());
    assert!(!dir.path().join("n_web.mp4").exists());
    let o = Command::new(&bin)
        .current_dir(dir.path())
        .args(["render", "c.json", "--variants", "gif"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn asset_variants_for_images_and_videos() {
    let dir = media_dir();
    quadrants(1000, 500).save(dir.path().join("wide.png")).expect("save");
    quadrants(300, 100).save(dir.path().join("narrow.png")).expect("save");
    let out = dir.path().join("out");
    let r =
        reel::variants::asset_variants(&dir.path().join("wide.png"), Some(&out), "veryfast").expect("image variants");
    assert_eq!(r.iter().map(|o| (o.width, o.height)).collect::<Vec<_>>(), [(400, 200), (800, 400)]);
    let img = image::open(out.join("wide_800w.jpg")).expect("jpeg").to_rgb8();
    assert_near(img.get_pixel(100, 100).0, [255, 0, 0], 10, "top-left quadrant");
    let r = reel::variants::asset_variants(&dir.path().join("narrow.png"), Some(&out), "veryfast").expect("narrow");
    assert!(r.iter().all(|o| o.width == 300), "never upscaled: {r:?}");

    write_clip(&dir.path().join("clip.mp4"), 1280, 720, "30", (0..60u32).map(|i| vec![(i * 4) as u8; 1280 * 720 * 3]));
    let r = reel::variants::asset_variants(&dir.path().join("clip.mp4"), None, "veryfast").expect("video variants");
    assert_eq!(
        r.iter().map(|o| (o.kind.as_str(), o.width, o.height)).collect::<Vec<_>>(),
        [("web", 1280, 720), ("preview", 640, 360)]
    );
    for o in &r {
        let p = probe(&o.path);
        assert_eq!(p["streams"][0]["nb_read_frames"], "60", "{}", o.path.display());
        assert!((o.duration_s - 2.0).abs() <= 1.0 / 30.0, "{}: {}", o.kind, o.duration_s);
    }
    assert!(dir.path().join("clip_web.mp4").exists() && dir.path().join("clip_preview.mp4").exists());

    // A clip with sound (44.1 kHz AAC) keeps it in both copies, decoded as it is encoded.
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2"])
        .args(["-f", "lavfi", "-i", "sine=f=440:d=2:sample_rate=44100"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k"])
        .arg(dir.path().join("voiced.mp4"))
        .status()
        .expect("run ffmpeg (installed by make test)");
    assert!(st.success());
    let r = reel::variants::asset_variants(&dir.path().join("voiced.mp4"), None, "veryfast").expect("variants");
    for o in &r {
        assert_eq!(o.codec, "h264+aac", "{}", o.kind);
        let left = decode_audio_left(&o.path);
        assert!((left.len() as f64 / 48_000.0 - 2.0).abs() < 0.05, "{}: {} samples", o.kind, left.len());
        let mid = &left[24_000..72_000];
        let rms = (mid.iter().map(|x| x * x).sum::<f32>() / mid.len() as f32).sqrt();
        // ffmpeg's sine is 1/8 full scale: RMS 0.0884.
        assert!((rms - 0.0884).abs() < 0.01, "{}: RMS {rms}", o.kind);
    }
    assert_eq!(audio_packets_md5(&r[1].path), audio_packets_md5(&r[0].path), "the preview carries the web sound");
    std::fs::write(dir.path().join("fake.mp4"), b"not a video").expect("write");
    let e = reel::variants::asset_variants(&dir.path().join("fake.mp4"), None, "veryfast").expect_err("bad input");
    assert!(e.is_input_error(), "{e}");
}

#[test]
fn outputs_can_be_tuned() {
    let dir = media_dir();
    let plan = plan(
        r##"{"id": "t", "width": 1280, "height": 720, "scenes": [{"id": "s", "durationFrames": 8,
        "background": {"type": "image", "asset": "quad.png"}}]}"##,
        dir.path(),
    )
    .expect("plan");
    let mut opts = RenderOptions::new(dir.path().join("t.mp4"));
    let mut web = reel::variants::web_settings(1280, 720, plan.fps(), "veryfast");
    (web.width, web.height) = (640, 360);
    opts.web_settings = Some(web);
    opts.variants = Variants::NONE.with_web(true).with_posters(true);
    opts.poster_quality = 10;
    reel::render(&plan, &opts).expect("render");
    let v = &probe(&dir.path().join("t_web.mp4"))["streams"][0];
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(640), Some(360)));
    let small = std::fs::metadata(dir.path().join("t_800w.jpg")).expect("poster").len();
    opts.poster_quality = 95;
    reel::render(&plan, &opts).expect("render");
    let large = std::fs::metadata(dir.path().join("t_800w.jpg")).expect("poster").len();
    assert!(small < large, "quality 10: {small} bytes, 95: {large} bytes");
    opts.poster_quality = 0;
    assert!(matches!(reel::render(&plan, &opts), Err(reel::Error::Option { name: "poster_quality", .. })));
}

#[test]
fn bad_options_fail_before_anything_is_made() {
    let dir = media_dir();
    let plan =
        plan(r##"{"id": "t", "scenes": [{"id": "s", "durationFrames": 4, "background": "#336699"}]}"##, dir.path())
            .expect("plan");
    let out = dir.path().join("new/folder/t.mp4");
    let mut odd = reel::variants::web_settings(1920, 1080, plan.fps(), "veryfast");
    odd.width = 641;
    type Set = Box<dyn Fn(&mut RenderOptions)>;
    let cases: [(&str, Set); 5] = [
        ("crf", Box::new(|o| o.crf = 52)),
        ("preset", Box::new(|o| o.preset = "warp".into())),
        ("loudness", Box::new(|o| o.loudness = Some(3.0))),
        ("poster_quality", Box::new(|o| o.poster_quality = 101)),
        ("web_settings", Box::new(move |o| o.web_settings = Some(odd.clone()))),
    ];
    for (name, set) in cases {
        let mut opts = RenderOptions::new(&out);
        set(&mut opts);
        match reel::render(&plan, &opts) {
            Err(reel::Error::Option { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected an option error, found {other:?}"),
        }
        assert!(!dir.path().join("new").exists(), "{name}: the output folder was made");
    }
}
