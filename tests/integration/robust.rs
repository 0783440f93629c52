//! Reliability: concurrent renders, types shared across threads, faults (Ctrl-C, SIGKILL),
//! and a property test that random and mutated compositions never panic.

use crate::common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reel::{RenderOptions, Variants};
use std::process::{Command, Stdio};

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<reel::Plan>();
    check::<reel::PlanOptions>();
    check::<reel::RenderOptions>();
    check::<reel::RenderReport>();
    check::<reel::Error>();
    check::<reel::text::FontLibrary>();
}

#[test]
fn concurrent_renders_share_or_not_a_pool() {
    let dir = media_dir();
    let pool = std::sync::Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool"));
    let colors = ["#ff0000", "#00ff00", "#0000ff", "#ffffff"];
    std::thread::scope(|s| {
        for (i, c) in colors.iter().enumerate() {
            let (dir, pool) = (dir.path(), pool.clone());
            s.spawn(move || {
                let json = format!(r##"{{"id": "c{i}", "width": 96, "height": 54, "scenes": [{{"id": "s", "durationFrames": 20, "background": "{c}",
                    "layers": [{{"type": "image", "asset": "quad.png", "width": 40}}]}}]}}"##);
                let plan = plan(&json, dir).expect("plan");
                let out = dir.join(format!("c{i}.mp4"));
                let mut opts = RenderOptions::new(&out);
                opts.variants = Variants::NONE;
                if i % 2 == 0 {
                    opts.pool = Some(pool); // shared; the others build their own
                }
                reel::render(&plan, &opts).expect("render");
                let (w, _, frames) = decode_rgb(&out);
                assert_eq!(frames.len(), 20);
                let want = match i { 0 => [255, 0, 0], 1 => [0, 255, 0], 2 => [0, 0, 255], _ => [255, 255, 255] };
                assert_near(rgb_at(&frames[10], w, 3, 3), want, 8, &format!("render {i}"));
            });
        }
    });
}

/// A pool passed in outlives the plans rendered on it, and so do its workers' caches. A
/// later plan whose scene happens to sit at the address of a dropped plan's scene must
/// not get that scene's cached gradient: renders one after another on one pool, each a
/// gradient of its own colour, each plan dropped before the next is built.
#[test]
fn a_pool_reused_across_plans_never_shows_an_earlier_plans_scene() {
    let dir = media_dir();
    let pool = std::sync::Arc::new(rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool"));
    let colors =
        [("#ff0000", [255, 0, 0]), ("#00ff00", [0, 255, 0]), ("#0000ff", [0, 0, 255]), ("#ffffff", [255, 255, 255])];
    for (i, (c, want)) in colors.iter().enumerate() {
        let json = format!(
            r##"{{"id": "g{i}", "width": 96, "height": 54, "scenes": [{{"id": "s", "durationFrames": 6,
                "background": {{"type": "gradient", "colors": ["{c}", "{c}"]}}}}]}}"##
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let out = dir.path().join(format!("g{i}.mp4"));
        let mut opts = RenderOptions::new(&out);
        opts.variants = Variants::NONE;
        opts.pool = Some(pool.clone());
        reel::render(&plan, &opts).expect("render");
        drop(plan);
        let (w, _, frames) = decode_rgb(&out);
        for (n, f) in frames.iter().enumerate() {
            assert_near(rgb_at(f, w, 48, 27), *want, 8, &format!("render {i} ({c}) frame {n}"));
        }
    }
}

fn long_composition(dir: &std::path::Path) {
    std::fs::write(
        dir.join("long.json"),
        r##"{"id": "long", "width": 640, "height": 360, "scenes": [{"id": "s", "durationFrames": 3000,
            "background": {"type": "gradient", "colors": ["#000000", "#ffffff"]},
            "layers": [{"type": "text", "text": "still going", "keyframes": {"rotation": [{"frame": 0, "value": 0}, {"frame": 3000, "value": 3600}]}}]}]}"##,
    )
    .expect("write");
}

fn wait_for_progress(child: &mut std::process::Child) {
    // The progress bar is off (--quiet); wait until the temporary file appears.
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
    }
}

/// Ctrl-C, SIGTERM (a service stopping) and SIGHUP (a closed terminal): each stops the
/// render within a second, exit 130, and leaves neither an output nor a temporary file.
#[test]
fn ctrl_c_sigterm_and_sighup_stop_within_a_second_and_clean_up() {
    let dir = media_dir();
    long_composition(dir.path());
    let before = files_in(dir.path());
    for signal in ["INT", "TERM", "HUP"] {
        let mut child = start_render(dir.path(), "long.json");
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert!(child.try_wait().expect("wait").is_none(), "SIG{signal}: still rendering");
        assert!(files_in(dir.path()).iter().any(|f| f.ends_with(".part")), "a temporary file while rendering");
        let sent = std::time::Instant::now();
        Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(sent.elapsed().as_secs_f64() < 3.0, "did not stop after SIG{signal}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(sent.elapsed().as_secs_f64() < 1.5, "SIG{signal} took {:?}", sent.elapsed());
        assert_eq!(status.code(), Some(130), "SIG{signal}");
        assert_eq!(files_in(dir.path()), before, "SIG{signal}: no output and no temporary file remain");
    }
}

/// `reel render COMPOSITION -o NAME.mp4 --quiet` in `dir`, started and left running.
fn start_render(dir: &std::path::Path, composition: &str) -> std::process::Child {
    let output = composition.replace(".json", ".mp4");
    Command::new(crate::cli::reel_bin())
        .current_dir(dir)
        .args(["render", composition, "-o", &output, "--quiet"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// A frame of two hundred canvas-sized radial gradients takes many seconds to paint; Ctrl-C
/// stops it between layers, not after the frame (it took 7.8 s to stop; a layer takes
/// about 0.1 s, and the bound leaves room for a machine busy with the other tests).
#[test]
fn ctrl_c_stops_within_a_slow_frame() {
    let dir = tempfile::tempdir().expect("dir");
    let layer = serde_json::json!({"type": "shape", "shape": "rect", "x": 0, "y": 0, "width": 4096, "height": 4096,
        "opacity": 0.5, "fill": {"type": "gradient", "kind": "radial", "colors": ["#ff6b6b", "#feca57", "#1d3557"]}});
    let comp = serde_json::json!({"id": "slow", "width": 4096, "height": 4096, "fps": 30,
        "scenes": [{"id": "s", "durationFrames": 3, "layers": vec![layer; 200]}]});
    std::fs::write(dir.path().join("slow.json"), comp.to_string()).expect("write");
    let mut child = start_render(dir.path(), "slow.json");
    std::thread::sleep(std::time::Duration::from_millis(2000));
    assert!(child.try_wait().expect("wait").is_none(), "still painting the first frames");
    let sent = std::time::Instant::now();
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    let status = child.wait().expect("wait");
    assert!(sent.elapsed().as_secs_f64() < 3.0, "Ctrl-C took {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(130));
    assert_eq!(files_in(dir.path()), ["slow.json"], "no output and no temporary file remain");
}

#[test]
fn sigkill_never_leaves_a_final_file() {
    let dir = media_dir();
    long_composition(dir.path());
    let mut child = Command::new(crate::cli::reel_bin())
        .current_dir(dir.path())
        .args(["render", "long.json", "-o", "long.mp4", "--quiet"])
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    wait_for_progress(&mut child);
    let names = files_in(dir.path());
    for final_name in ["long.mp4", "long_web.mp4", "long_preview.mp4", "long_400w.jpg", "long_800w.jpg"] {
        assert!(!names.contains(&final_name.to_string()), "{final_name} exists after SIGKILL: {names:?}");
    }
}

/// Random compositions (valid shapes with random values, and random mutations of valid
/// ones): parsing and planning never panic; whatever plans renders a still without panicking.
#[test]
fn random_compositions_never_panic() {
    let dir = media_dir();
    let cases: u32 = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96);
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let value = prop_oneof![
        Just(serde_json::json!(null)),
        any::<bool>().prop_map(serde_json::Value::from),
        (-1e7f64..1e7).prop_map(serde_json::Value::from),
        (-5i64..400).prop_map(serde_json::Value::from),
        prop_oneof![
            Just("50%"),
            Just("#fff"),
            Just("@primary"),
            Just("fade"),
            Just("quad.png"),
            Just("../x"),
            Just(""),
            Just("cubicBezier(0,0,1,1)"),
            Just("-3%"),
            Just("1e400")
        ]
        .prop_map(serde_json::Value::from),
    ];
    let fields = [
        "width",
        "height",
        "fps",
        "totalDurationFrames",
        "posterFrame",
        "aspectRatio",
        "durationFrames",
        "startFrame",
        "background",
        "fromFrame",
        "x",
        "y",
        "opacity",
        "rotation",
        "scale",
        "fontSize",
        "fontWeight",
        "color",
        "maxWidth",
        "lineHeight",
        "text",
        "asset",
        "fit",
        "anchor",
        "type",
        "shape",
        "fill",
        "cornerRadius",
        "maxLines",
        "align",
        "letterSpacing",
    ];
    let strategy = (
        proptest::collection::vec((0..fields.len(), value.clone()), 0..12),
        proptest::collection::vec((0..fields.len(), value), 0..12),
        0usize..3,
    );
    runner
        .run(&strategy, |(top, layer, kind)| {
            let layer_type = ["text", "image", "shape"][kind];
            let mut comp = serde_json::json!({
                "id": "p", "width": 64, "height": 36, "style": {"colorPalette": {"primary": "#123456"}},
                "scenes": [{"id": "a", "durationFrames": 6, "layers": [{"type": layer_type, "text": "Hi", "asset": "quad.png"}]},
                           {"id": "b", "durationFrames": 6, "transition": {"type": "fade", "durationFrames": 3}}]
            });
            for (f, v) in top {
                let key = fields[f];
                if ["durationFrames", "startFrame", "background"].contains(&key) {
                    comp["scenes"][0][key] = v;
                } else {
                    comp[key] = v;
                }
            }
            for (f, v) in layer {
                comp["scenes"][0]["layers"][0][fields[f]] = v;
            }
            let text = comp.to_string();
            if let Ok(plan) = plan(&text, dir.path()) {
                // Keep stills cheap: only small canvases.
                if plan.width() as u64 * plan.height() as u64 <= 640 * 640 {
                    for f in [0, plan.frame_count() / 2, plan.frame_count().saturating_sub(1)] {
                        let img = reel::render_still(&plan, f);
                        prop_assert_eq!(img.dimensions(), (plan.width(), plan.height()));
                    }
                }
            }
            // Byte-level mutations of the text: parse must not panic either.
            let bytes = text.as_bytes();
            for cut in [bytes.len() / 3, bytes.len() / 2] {
                let _ = reel::parse(&String::from_utf8_lossy(&bytes[..cut]));
            }
            Ok(())
        })
        .expect("no panics");
}

/// A clip damaged in the middle (it opens, probes and starts fine) stops the render with the
/// asset, the time in the file and the output frame, and leaves no file behind.
#[test]
fn damage_in_the_middle_of_a_clip_is_reported_with_asset_and_time() {
    let dir = media_dir();
    let clip = dir.path().join("clip.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=6"])
        .args(["-c:v", "libx264", "-g", "30", "-movflags", "+faststart"])
        .arg(&clip)
        .status()
        .expect("run ffmpeg (installed by make test)");
    assert!(st.success());
    let mut bytes = std::fs::read(&clip).expect("read");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 3000] {
        *b ^= 0x5a;
    }
    std::fs::write(&clip, bytes).expect("write");
    let json = r#"{"id": "c", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 150,
        "background": {"type": "video", "asset": "clip.mp4"}}]}"#;
    let plan = plan(json, dir.path()).expect("the damage is past what planning reads");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let mut opts = RenderOptions::new(out.join("c.mp4"));
    opts.variants = Variants::NONE;
    let err = reel::render(&plan, &opts).expect_err("a damaged clip must not render");
    let p = &err.problems()[0];
    assert_eq!(p.path, "scenes[0].background.asset");
    assert!(p.message.contains("asset \"clip.mp4\""), "{p}");
    let t: f64 =
        p.message.split(" at ").nth(1).and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok()).expect("time");
    let frame: f64 = p
        .message
        .split("rendering output frame ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|v| v.parse().ok())
        .expect("frame");
    // The damage sits about half-way through the 6 s file; here the output frame is the file
    // time x 30, and the decoder (two frame threads) finds damage a few frames ahead.
    assert!((2.0..4.5).contains(&t), "{p}");
    assert!((frame - t * 30.0).abs() <= 10.0, "{p}");
    assert!(files_in(&out).is_empty(), "left behind: {:?}", files_in(&out));
}

/// A sound is checked while planning and decoded again as the render mixes it, from the file
/// planning opened: removed after planning, it still plays; cut short in place after
/// planning, the render stops naming the file and leaves nothing behind.
#[test]
fn a_sound_changed_after_planning_plays_or_stops_the_render() {
    let dir = media_dir();
    let wav = dir.path().join("music.wav");
    let json = r#"{"id": "c", "width": 64, "height": 36, "scenes": [{"id": "s", "durationFrames": 60}],
        "audio": {"music": {"asset": "music.wav", "loop": false}}}"#;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let mut opts = RenderOptions::new(out.join("c.mp4"));
    opts.variants = Variants::NONE;

    write_wav(&wav, 48_000, 1, &sine(48_000, 440.0, 2.0, 0.5));
    let planned = plan(json, dir.path()).expect("plans");
    std::fs::remove_file(&wav).expect("remove");
    reel::render(&planned, &opts).expect("renders from the file planning opened");
    let left = decode_audio_left(&out.join("c.mp4"));
    let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
    assert!((rms(&left[48_000..90_000]) - 0.5 / 2f32.sqrt()).abs() < 0.05, "{}", rms(&left[48_000..90_000]));
    std::fs::remove_file(out.join("c.mp4")).expect("remove");

    write_wav(&wav, 48_000, 1, &sine(48_000, 440.0, 2.0, 0.5));
    let planned = plan(json, dir.path()).expect("plans");
    std::fs::OpenOptions::new().write(true).open(&wav).expect("open").set_len(44 + 2 * 24_000).expect("cut");
    let err = reel::render(&planned, &opts).expect_err("a sound cut short must not render");
    match &err {
        reel::Error::Io { path, source } => {
            assert_eq!(path, &wav);
            assert!(source.to_string().contains("changed after planning"), "{err}");
        }
        other => panic!("expected an Io error naming the file, got {other:?}"),
    }
    assert!(files_in(&out).is_empty(), "left behind: {:?}", files_in(&out));
}

/// An image drawn after the first second is read again by the render from the file planning
/// opened (planning holds neither its pixels nor its bytes): removed after planning, it is
/// still drawn; rewritten in place after planning, the render stops naming the file and
/// leaves nothing behind.
#[test]
fn an_image_changed_after_planning_is_drawn_or_stops_the_render() {
    let dir = media_dir();
    let png = dir.path().join("late.png");
    let write = |rgb: [u8; 3]| image::RgbImage::from_pixel(64, 36, image::Rgb(rgb)).save(&png).expect("write png");
    // The photo's scene starts at frame 40, past the first second.
    let json = r##"{"id": "i", "width": 64, "height": 36, "fps": 30, "scenes": [
        {"id": "a", "durationFrames": 40, "background": "#000000"},
        {"id": "b", "durationFrames": 20, "background": {"type": "image", "asset": "late.png"},
         "transition": {"type": "cut"}}]}"##;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let mut opts = RenderOptions::new(out.join("i.mp4"));
    opts.variants = Variants::NONE;

    write([230, 20, 20]);
    let planned = plan(json, dir.path()).expect("plans");
    std::fs::remove_file(&png).expect("remove");
    reel::render(&planned, &opts).expect("renders from the file planning opened");
    let (w, _, frames) = decode_rgb(&out.join("i.mp4"));
    assert_eq!(frames.len(), 60);
    assert_near(rgb_at(&frames[50], w, 32, 18), [230, 20, 20], 12, "the removed photo, drawn");
    std::fs::remove_file(out.join("i.mp4")).expect("remove");

    write([230, 20, 20]);
    let planned = plan(json, dir.path()).expect("plans");
    write([20, 20, 230]);
    let err = reel::render(&planned, &opts).expect_err("an image changed in place must not render");
    match &err {
        reel::Error::Io { path, source } => {
            assert_eq!(path, &png);
            assert!(source.to_string().contains("changed after planning"), "{err}");
        }
        other => panic!("expected an Io error naming the file, got {other:?}"),
    }
    assert!(files_in(&out).is_empty(), "left behind: {:?}", files_in(&out));
}

/// The cancel flag stops planning too: a set flag returns `Error::Cancelled` before the
/// scenes are planned, and an unset one plans as usual.
#[test]
fn cancel_stops_planning() {
    let dir = media_dir();
    let json = r#"{"id": "c", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 3,
        "layers": [{"type": "text", "text": "one"}, {"type": "image", "asset": "quad.png"}]}]}"#;
    let parsed = reel::parse(json).expect("parse");
    let mut opts = reel::PlanOptions::new(dir.path());
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    opts.cancel = Some(flag.clone());
    assert!(matches!(reel::Plan::build(&parsed, &opts), Err(reel::Error::Cancelled)));
    flag.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(reel::Plan::build(&parsed, &opts).is_ok());
}

/// Crashes the fuzz targets found (fuzz/), each kept as the input that found it: planning
/// and drawing them must not panic.
#[test]
fn fuzz_findings_do_not_panic() {
    let dir = media_dir();
    // subtitles: U+001C (a bidi paragraph separator) inside a caption line before bytes
    // that decode to right-to-left text tripped an assertion in cosmic-text's shaper.
    let srt = std::fs::read(root().join("tests/fuzz/subtitles-bidi.srt")).expect("the fuzz finding");
    std::fs::write(dir.path().join("c.srt"), srt).expect("write");
    let comps = [
        r#"{"id": "f", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 30}],
            "captions": {"asset": "c.srt"}}"#,
        "{\"id\": \"f\", \"width\": 160, \"height\": 90, \"scenes\": [{\"id\": \"s\", \"durationFrames\": 3,
            \"layers\": [{\"type\": \"text\", \"text\": \"Hello\\u001c\\u05e9\\u05dc\\u05d5\\u05dd\\u2029\\u0645\"}]}]}",
    ];
    for json in comps {
        let plan = plan(json, dir.path()).expect("plans");
        let img = reel::render_still(&plan, 1);
        assert_eq!(img.dimensions(), (160, 90));
    }
}

/// A PNG whose colour profile (iCCP) inflates to 256 MB costs nothing: reel does not manage
/// colour and drops the chunk before decoding (it cost 800 MB). Measured on the real tool:
/// the peak RSS its report gives (VmHWM, the process's own; a spawned child's rusage would
/// start from this test process's peak).
#[test]
fn a_compressed_colour_profile_bomb_is_never_inflated() {
    use std::io::Write;
    let dir = media_dir();
    let mut png = Vec::new();
    crate::common::quadrants(64, 64)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        z.write_all(&zeros).expect("deflate");
    }
    let mut data = b"bomb\0\0".to_vec();
    data.extend(z.finish().expect("deflate"));
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend(b"iCCP");
    chunk.extend(&data);
    chunk.extend(crc32fast::hash(&chunk[4..]).to_be_bytes());
    // After the signature (8 bytes) and IHDR (25).
    png.splice(33..33, chunk);
    std::fs::write(dir.path().join("bomb.png"), &png).expect("write");
    assert!(image::load_from_memory(&png).is_ok(), "a valid PNG");
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"id": "c", "width": 64, "height": 64, "scenes": [{"id": "s", "durationFrames": 5,
            "background": {"type": "image", "asset": "bomb.png"}}]}"#,
    )
    .expect("write");
    let o = Command::new(crate::cli::reel_bin())
        .current_dir(dir.path())
        .args(["render", "c.json", "-o", "c.mp4", "--variants", "posters", "--report", "r.json", "-q"])
        .output()
        .expect("run reel");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let poster = image::open(dir.path().join("c_400w.jpg")).expect("the poster").to_rgb8();
    let px = poster.get_pixel(5, 5).0;
    assert!(px[0] > 240 && px[1] < 20 && px[2] < 20, "the image itself is drawn: {px:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).expect("report")).expect("JSON");
    let peak = report["peak_rss_bytes"].as_u64().expect("peak_rss_bytes");
    assert!(peak < 160 << 20, "peak RSS {} MB; the profile inflates to 256 MB", peak >> 20);
}
