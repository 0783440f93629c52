//! Golden frames: `tests/golden/<area>/<case>.json` lists the frames to check in
//! `goldenFrames` (an unknown field to the engine, so only a warning); each frame's
//! reference is `<case>.f<N>.png` beside it. Compared per channel with a small tolerance.
//!
//! A mismatch writes `<case>.f<N>.fail.png` (expected | actual | diff, the diff amplified)
//! beside the reference. `MAKE_REF=1 cargo test golden` rewrites the references and then
//! fails, so a regenerated reference is never passed silently: look at each one, then commit.

use crate::common::root;
use image::{Rgba, RgbaImage};
use reel::{Plan, PlanOptions};
use std::path::{Path, PathBuf};

/// Largest difference allowed in any channel of any pixel.
const TOLERANCE: u8 = 2;

fn cases() -> Vec<PathBuf> {
    let dir = root().join("tests/golden");
    let mut out = Vec::new();
    for area in std::fs::read_dir(&dir).expect("tests/golden").filter_map(|e| e.ok()) {
        if !area.path().is_dir() || area.file_name() == "assets" {
            continue;
        }
        for f in std::fs::read_dir(area.path()).expect("area").filter_map(|e| e.ok()) {
            if f.path().extension().is_some_and(|e| e == "json") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

fn diff_image(expected: &RgbaImage, actual: &RgbaImage) -> (u8, RgbaImage) {
    let (w, h) = expected.dimensions();
    let mut strip = RgbaImage::new(w * 3, h);
    let mut max = 0u8;
    for y in 0..h {
        for x in 0..w {
            let e = expected.get_pixel(x, y);
            let a = actual.get_pixel(x, y);
            let d = (0..4).map(|c| e[c].abs_diff(a[c])).max().unwrap_or(0);
            max = max.max(d);
            strip.put_pixel(x, y, *e);
            strip.put_pixel(w + x, y, *a);
            let v = d.saturating_mul(16);
            strip.put_pixel(
                2 * w + x,
                y,
                if d > TOLERANCE { Rgba([255, v / 2, 0, 255]) } else { Rgba([v, v, v, 255]) },
            );
        }
    }
    (max, strip)
}

/// How far the frames users get (composed in 4:2:0 by the planar painter) are from the
/// references converted to 4:2:0, over every golden frame the planar painter draws.
#[derive(Default)]
struct PlaneStats {
    frames: usize,
    worst: [u8; 3],
    sums: [u64; 3],
    samples: [u64; 3],
}

impl PlaneStats {
    fn add(&mut self, want: &reel::pixels::Yuv420, got: &reel::pixels::Yuv420) -> [u8; 3] {
        let mut worst = [0u8; 3];
        for (i, (a, b)) in [(&want.y, &got.y), (&want.u, &got.u), (&want.v, &got.v)].into_iter().enumerate() {
            for (x, y) in a.iter().zip(b.iter()) {
                let d = x.abs_diff(*y);
                worst[i] = worst[i].max(d);
                self.sums[i] += d as u64;
            }
            self.samples[i] += a.len() as u64;
            self.worst[i] = self.worst[i].max(worst[i]);
        }
        self.frames += 1;
        worst
    }

    fn mean(&self, i: usize) -> f64 {
        self.sums[i] as f64 / self.samples[i].max(1) as f64
    }
}

/// Largest difference per pixel between the planar painter and the reference in 4:2:0:
/// luma, chroma. Measured over the frames_composed_in_planes_match_the_rgba_path photo case
/// (luma 2, chroma 16): the planar path resizes before converting and averages chroma
/// before resizing it, so hard colour edges and partly covered 2x2 blocks at text edges
/// differ in chroma by design, while luma differs only by rounding.
const PLANAR_TOLERANCE: [u8; 2] = [3, 24];

fn check(case: &Path, make_ref: bool, planes: &mut PlaneStats) -> Vec<String> {
    let text = std::fs::read_to_string(case).expect("read case");
    let frames: Vec<u64> = serde_json::from_str::<serde_json::Value>(&text).expect("json")["goldenFrames"]
        .as_array()
        .expect("goldenFrames")
        .iter()
        .map(|v| v.as_u64().expect("frame"))
        .collect();
    let parsed = reel::parse(&text).expect("parse");
    let plan = Plan::build(&parsed, &PlanOptions::new(root().join("tests/golden"))).expect("plan");
    let mut failures = Vec::new();
    let stills: Vec<(u64, image::RgbaImage)> = frames.iter().map(|&f| (f, reel::render_still(&plan, f))).collect();
    // A still session (canvas, scratch and clip decoders kept between stills) asked for the
    // same frames backwards, then forwards, gives render_still's pixels exactly.
    let mut session = reel::Stills::new(&plan);
    for (f, still) in stills.iter().rev().chain(&stills) {
        if session.render(*f) != still {
            failures.push(format!("{}: frame {f} from a Stills session differs from render_still", case.display()));
        }
    }
    for (f, actual) in stills {
        let stem = case.with_extension("");
        let reference = PathBuf::from(format!("{}.f{f}.png", stem.display()));
        let fail = PathBuf::from(format!("{}.f{f}.fail.png", stem.display()));
        let _ = std::fs::remove_file(&fail);
        if make_ref {
            actual.save(&reference).expect("write reference");
            failures.push(format!("{}: reference written; review it", reference.display()));
            continue;
        }
        let expected = match image::open(&reference) {
            Ok(i) => i.to_rgba8(),
            Err(e) => {
                failures.push(format!("{}: no reference ({e}); run with MAKE_REF=1", reference.display()));
                continue;
            }
        };
        if expected.dimensions() != actual.dimensions() {
            failures.push(format!(
                "{}: size {:?} != {:?}",
                reference.display(),
                actual.dimensions(),
                expected.dimensions()
            ));
            continue;
        }
        let (max, strip) = diff_image(&expected, &actual);
        if max > TOLERANCE {
            strip.save(&fail).expect("write fail image");
            failures.push(format!("{}: differs by up to {max} (see {})", reference.display(), fail.display()));
        }
        // The path users get: most frames reach the encoder composed in 4:2:0 by the
        // planar painter; where it draws this frame, compare it with the reference in 4:2:0.
        let (w, h) = (plan.width(), plan.height());
        let mut scratch = reel::raster::Scratch::new(w, h);
        let mut got = reel::pixels::Yuv420::new(w, h);
        let mut canvas = tiny_skia::Pixmap::new(w, h).expect("canvas");
        if in_planes(&plan, f, &mut got, &mut scratch, &mut canvas) {
            let mut want = reel::pixels::Yuv420::new(w, h);
            want.fill_from_rgba(expected.as_raw());
            let worst = planes.add(&want, &got);
            if worst[0] > PLANAR_TOLERANCE[0] || worst[1].max(worst[2]) > PLANAR_TOLERANCE[1] {
                failures.push(format!(
                    "{}: composed in 4:2:0 it differs by up to {} in luma, {} / {} in chroma",
                    reference.display(),
                    worst[0],
                    worst[1],
                    worst[2]
                ));
            }
        }
    }
    failures
}

#[test]
fn golden_frames() {
    let make_ref = std::env::var_os("MAKE_REF").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 30, "golden cases missing: found {}", cases.len());
    let mut planes = PlaneStats::default();
    let failures: Vec<String> = cases.iter().flat_map(|c| check(c, make_ref, &mut planes)).collect();
    // The agreement of the two painters over the golden frames, reported every run.
    eprintln!(
        "golden frames composed in 4:2:0: {}; against the references: luma max {} mean {:.3}, Cb max {} mean {:.3}, Cr max {} mean {:.3}",
        planes.frames,
        planes.worst[0],
        planes.mean(0),
        planes.worst[1],
        planes.mean(1),
        planes.worst[2],
        planes.mean(2)
    );
    assert!(failures.is_empty(), "{} golden failures:\n{}", failures.len(), failures.join("\n"));
    if !make_ref {
        // The photo-background cases (the frames the planar painter draws; the others reach
        // the encoder as their RGBA still converted to 4:2:0, checked above).
        assert!(planes.frames >= 3, "only {} golden frames went through the planar painter", planes.frames);
        assert!(planes.mean(0) < 0.5, "luma mean {:.3}", planes.mean(0));
        assert!(planes.mean(1).max(planes.mean(2)) < 1.2, "chroma means {:.3} / {:.3}", planes.mean(1), planes.mean(2));
    }
}

/// The harness itself must be able to fail: a one-level change in one pixel beyond the
/// tolerance is caught.
#[test]
fn golden_comparison_detects_a_change() {
    let a = RgbaImage::from_pixel(4, 4, Rgba([10, 20, 30, 255]));
    let mut b = a.clone();
    b.put_pixel(2, 2, Rgba([10, 20, 30 + TOLERANCE + 1, 255]));
    assert_eq!(diff_image(&a, &b).0, TOLERANCE + 1);
    assert_eq!(diff_image(&a, &a).0, 0);
}

#[test]
fn frames_painted_over_a_reused_canvas_equal_fresh_ones() {
    // A worker keeps its canvas between frames and, over a static (gradient) background,
    // puts back only the rectangles the last frame's layers and captions drew in. Every
    // frame painted that way, one after another on one canvas, must equal the same frame
    // painted on a new canvas: moving, scaling, rotating and stroked layers, an exit, a
    // caption line changing words, a fade into a second scene and back to a plain scene.
    let json = r##"{"id": "reuse", "width": 320, "height": 180, "fps": 30,
      "captions": {"words": [{"text": "one", "startFrame": 0, "endFrame": 8},
        {"text": "two", "startFrame": 8, "endFrame": 20}, {"text": "three", "startFrame": 20, "endFrame": 40},
        {"text": "four", "startFrame": 40, "endFrame": 60}], "style": {"maxWordsPerLine": 2}},
      "scenes": [
        {"id": "a", "durationFrames": 40,
         "background": {"type": "gradient", "colors": ["#204060", "#a04020"], "angle": 30},
         "layers": [
           {"type": "text", "text": "Slides up", "fontSize": 28, "x": 20, "y": 40, "box": {"color": "#00000099", "padding": 6},
            "enter": {"preset": "slideUp", "durationFrames": 12}, "exit": {"preset": "fade", "durationFrames": 6}},
           {"type": "text", "text": "Pops", "fontSize": 40, "x": 200, "y": 120, "fromFrame": 4,
            "enter": {"preset": "pop", "durationFrames": 14}},
           {"type": "shape", "shape": "rect", "fill": "#ffffff", "width": 60, "height": 20, "x": 40, "y": 130,
            "stroke": {"color": "#000000", "width": 6},
            "keyframes": {"x": [{"frame": 0, "value": 20}, {"frame": 39, "value": 260}],
                          "rotation": [{"frame": 0, "value": 0}, {"frame": 39, "value": 90}]}},
           {"type": "shape", "shape": "ellipse", "fill": "#ffcc00", "width": 50, "height": 50, "x": 250, "y": 30, "opacity": 0.5,
            "keyframes": {"scale": [{"frame": 0, "value": 0.4}, {"frame": 30, "value": 1.2}]}}
         ]},
        {"id": "b", "durationFrames": 30, "transition": {"type": "fade", "durationFrames": 8},
         "background": {"type": "gradient", "kind": "radial", "colors": ["#ff006e", "#0b0f1a"]},
         "layers": [{"type": "text", "text": "Second", "fontSize": 30, "x": 100, "y": 60,
                     "enter": {"preset": "slideLeft", "durationFrames": 10}}]}
      ]}"##;
    let plan = Plan::build(&reel::parse(json).expect("parse"), &PlanOptions::new(root())).expect("plan");
    let (w, h) = (plan.width(), plan.height());
    let mut canvas = tiny_skia::Pixmap::new(w, h).expect("canvas");
    let mut scratch = reel::raster::Scratch::new(w, h);
    for f in 0..plan.frame_count() {
        reel::raster::render_frame(&plan, f, &mut canvas.as_mut(), &mut scratch, &[]);
        let mut fresh = tiny_skia::Pixmap::new(w, h).expect("canvas");
        reel::raster::render_frame(&plan, f, &mut fresh.as_mut(), &mut reel::raster::Scratch::new(w, h), &[]);
        let differ = canvas.data().iter().zip(fresh.data()).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "frame {f}: {differ} bytes differ from a fresh canvas");
    }
}

#[test]
fn frames_composed_in_planes_match_the_rgba_path() {
    // Photo and clip frames go to the encoder composed straight in 4:2:0: the photo
    // resized on its planes, layers and captions painted into an RGBA overlay and blended
    // in Y'CbCr, and every kind of transition between two such scenes (a scene moved by a
    // pixel more or less than the RGBA painter moves it would differ by far more than the
    // tolerance over this photo's noise), the push and the slide under easings that
    // overshoot (the push then uncovers black; the RGBA push once left stale pixels there). Each such frame must match the RGBA render of the same frame converted to
    // 4:2:0 (what the encoder got before), and frames the planar path cannot do must say
    // so (the caller then renders them in RGBA).
    let dir = tempfile::tempdir().expect("tmp");
    // Colour gradients and hard colour edges under grey pixel noise. (Colour noise at the
    // pixel level comes out differently by design: the RGBA path resizes and then averages
    // 2x2 for chroma, the planar one averages and then resizes at half size.)
    let photo = image::RgbaImage::from_fn(640, 400, |x, y| {
        let n = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 7) % 64;
        let edge = if (x / 80 + y / 80) % 2 == 0 { 0 } else { 90 };
        let c = |v: u32| (v + n).min(255) as u8;
        image::Rgba([c(x * 160 / 639 + edge), c(y * 160 / 399), c(160 - edge), 255])
    });
    photo.save(dir.path().join("photo.png")).expect("photo");
    let logo = image::RgbaImage::from_fn(48, 32, |x, y| {
        let a = if (x as i32 - 24).pow(2) + (y as i32 - 16).pow(2) < 200 { 255 } else { (x * 5) as u8 };
        image::Rgba([255, 200, 0, a])
    });
    logo.save(dir.path().join("logo.png")).expect("logo");
    let json = r##"{"id": "planar", "width": 320, "height": 180, "fps": 30,
      "captions": {"words": [{"text": "spoken", "startFrame": 2, "endFrame": 20}, {"text": "words", "startFrame": 20, "endFrame": 70}],
        "style": {"box": {"color": "#000000AA", "padding": 6, "cornerRadius": 4}, "highlightColor": "#FFD166"}},
      "scenes": [
        {"id": "a", "durationFrames": 30,
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1, "x": 0.3}, "to": {"scale": 1.2, "x": 0.6}}},
         "layers": [
           {"type": "text", "text": "Headline", "fontSize": 30, "x": 21, "y": 101, "anchor": "top-left", "color": "#ff3366",
            "box": {"color": "#00000099", "padding": 5}, "enter": {"preset": "slideUp", "durationFrames": 10}},
           {"type": "image", "asset": "logo.png", "width": 40, "x": "91%", "y": "12%", "opacity": 0.8},
           {"type": "shape", "shape": "ellipse", "fill": "#33ccff", "width": 30, "height": 30, "x": 60, "y": 40,
            "keyframes": {"rotation": [{"frame": 0, "value": 0}, {"frame": 29, "value": 45}]}}
         ]},
        {"id": "b", "durationFrames": 30, "transition": {"type": "fade", "durationFrames": 10},
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1.3}, "to": {"scale": 1}}},
         "layers": [{"type": "text", "text": "Second", "fontSize": 24, "x": 160, "y": 90, "opacity": 0.7}]},
        {"id": "c", "durationFrames": 20, "transition": {"type": "dipToWhite", "durationFrames": 8},
         "background": {"type": "image", "asset": "photo.png", "fit": "cover"}},
        {"id": "d", "durationFrames": 20, "transition": {"type": "push", "direction": "up", "durationFrames": 6, "easing": "spring"},
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1.1, "x": 0.4}, "to": {"scale": 1}}},
         "layers": [{"type": "text", "text": "Pushed", "fontSize": 24, "x": 40, "y": 40, "color": "#66ff99"}]},
        {"id": "e", "durationFrames": 20, "transition": {"type": "wipe", "direction": "left", "durationFrames": 6},
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1.4, "x": 0.7}, "to": {"scale": 1.2}}}},
        {"id": "f", "durationFrames": 20, "transition": {"type": "zoom", "durationFrames": 6},
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1}, "to": {"scale": 1.3, "y": 0.3}}}},
        {"id": "g", "durationFrames": 20, "transition": {"type": "slide", "direction": "right", "durationFrames": 6, "easing": "cubicBezier(0.2,2.5,0.8,-1.5)"},
         "background": {"type": "image", "asset": "photo.png", "fit": "cover"},
         "layers": [{"type": "text", "text": "Slid", "fontSize": 24, "x": 200, "y": 40, "color": "#ffcc00"}]},
        {"id": "h", "durationFrames": 20, "transition": {"type": "slide", "durationFrames": 6},
         "background": {"type": "gradient", "colors": ["#204060", "#a04020"]}}
      ]}"##;
    let plan = Plan::build(&reel::parse(json).expect("parse"), &PlanOptions::new(dir.path())).expect("plan");
    let (w, h) = (plan.width(), plan.height());
    let mut canvas = tiny_skia::Pixmap::new(w, h).expect("canvas");
    let mut scratch = reel::raster::Scratch::new(w, h);
    let (mut want, mut got) = (reel::pixels::Yuv420::new(w, h), reel::pixels::Yuv420::new(w, h));
    // Scenes: a 0..30, b 20..50, c 42..62, then photos d to g (a push, a wipe, a zoom and
    // a slide into each) at 56..76, 70..90, 84..104, 98..118, and the gradient h at
    // 112..132 (the slide into h, and h, are RGBA).
    let planar_until = 112;
    let (mut worst, mut sums, mut samples) = ([0u8; 3], [0u64; 3], [0u64; 3]);
    for f in 0..plan.frame_count() {
        reel::raster::render_frame(&plan, f, &mut canvas.as_mut(), &mut scratch, &[]);
        want.fill_from_rgba(canvas.data());
        // The same worker and canvas as the RGBA frame: the planar path borrows the canvas.
        let planar = in_planes(&plan, f, &mut got, &mut scratch, &mut canvas);
        assert_eq!(planar, f < planar_until, "frame {f}: composed in planes?");
        if !planar {
            continue;
        }
        for (i, (a, b)) in [(&want.y, &got.y), (&want.u, &got.u), (&want.v, &got.v)].into_iter().enumerate() {
            for (x, y) in a.iter().zip(b.iter()) {
                let d = x.abs_diff(*y);
                worst[i] = worst[i].max(d);
                sums[i] += d as u64;
            }
            samples[i] += a.len() as u64;
        }
    }
    let mean: Vec<f64> = (0..3).map(|i| sums[i] as f64 / samples[i] as f64).collect();
    // Measured: luma worst 2, mean 0.30 (the resize runs before the conversion instead of
    // after: rounding); chroma worst 16 and 14, mean 0.77: chroma is resized at half size
    // after the 2x2 average instead of before it, which blurs hard colour edges a little
    // more, and a partly covered 2x2 block at the edge of text mixes its mean coverage.
    assert!(worst[0] <= 3 && mean[0] < 0.5, "luma: worst {}, mean {:.2}", worst[0], mean[0]);
    for i in 1..3 {
        assert!(worst[i] <= 24 && mean[i] < 1.2, "chroma {i}: worst {}, mean {:.2}", worst[i], mean[i]);
    }
}

#[test]
fn planar_frames_from_a_worker_that_drew_others_match_a_fresh_worker() {
    // The planar path keeps each scene's static layers and the caption line composed
    // between frames, keyed on the scene, the layers' states and the caption word. Frames
    // drawn by one worker in any order must equal the same frames from a fresh worker:
    // scenes a and b put different text at the same place with the same animation (a key
    // without the scene would show a's text in b), a's headline slides in and then holds,
    // and the highlighted caption word moves on while the line stays. A still image and a
    // gradient-filled shape are static content too (composed once per state); an image
    // layer under a Ken Burns move is not (scene b: cached, it would freeze).
    let dir = tempfile::tempdir().expect("tmp");
    let photo = image::RgbaImage::from_fn(400, 240, |x, y| image::Rgba([(x / 2) as u8, (y / 2) as u8, 120, 255]));
    photo.save(dir.path().join("photo.png")).expect("photo");
    let logo = image::RgbaImage::from_fn(64, 64, |x, y| image::Rgba([255, (x * 4) as u8, (y * 4) as u8, 200]));
    logo.save(dir.path().join("logo.png")).expect("logo");
    let json = r##"{"id": "cached", "width": 320, "height": 180, "fps": 30,
      "captions": {"words": [{"text": "one", "startFrame": 0, "endFrame": 12}, {"text": "two", "startFrame": 12, "endFrame": 30},
                             {"text": "three", "startFrame": 30, "endFrame": 44}],
        "style": {"box": {"color": "#000000AA", "padding": 6}, "highlightColor": "#FFD166"}},
      "scenes": [
        {"id": "a", "durationFrames": 24,
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1}, "to": {"scale": 1.2}}},
         "layers": [
           {"type": "text", "text": "Alpha", "fontSize": 30, "x": 20, "y": 60, "anchor": "top-left",
            "box": {"color": "#00000099", "padding": 5}, "enter": {"preset": "slideUp", "durationFrames": 8}},
           {"type": "shape", "shape": "rect", "fill": "#ff3366", "width": 40, "height": 10, "x": 20, "y": 110, "anchor": "top-left"},
           {"type": "image", "asset": "logo.png", "width": 40, "x": "88%", "y": "15%", "opacity": 0.8},
           {"type": "shape", "shape": "rect", "fill": {"type": "gradient", "colors": ["#204060", "#a04020"], "angle": 30},
            "width": 60, "height": 16, "x": 200, "y": 140, "anchor": "top-left", "enter": {"preset": "fade", "durationFrames": 6}}
         ]},
        {"id": "b", "durationFrames": 24, "transition": {"type": "fade", "durationFrames": 6},
         "background": {"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1.2}, "to": {"scale": 1}}},
         "layers": [
           {"type": "text", "text": "Bravo", "fontSize": 30, "x": 20, "y": 60, "anchor": "top-left",
            "box": {"color": "#00000099", "padding": 5}, "enter": {"preset": "slideUp", "durationFrames": 8}},
           {"type": "shape", "shape": "rect", "fill": "#ff3366", "width": 40, "height": 10, "x": 20, "y": 110, "anchor": "top-left"},
           {"type": "image", "asset": "photo.png", "width": 100, "height": 60, "x": 200, "y": 100, "anchor": "top-left", "fit": "cover",
            "kenBurns": {"from": {"scale": 1}, "to": {"scale": 1.5, "x": 0.2}}}
         ]}
      ]}"##;
    let plan = Plan::build(&reel::parse(json).expect("parse"), &PlanOptions::new(dir.path())).expect("plan");
    let (w, h) = (plan.width(), plan.height());
    let n = plan.frame_count();
    let mut order: Vec<u64> = (0..n).collect();
    order.extend((0..n).rev());
    // Jumps between the scenes (17 is prime to the 42 frames: every frame once).
    assert_eq!(n, 42);
    order.extend((0..n).map(|i| (i * 17) % n));
    let mut scratch = reel::raster::Scratch::new(w, h);
    let mut canvas = tiny_skia::Pixmap::new(w, h).expect("canvas");
    let (mut got, mut want) = (reel::pixels::Yuv420::new(w, h), reel::pixels::Yuv420::new(w, h));
    for f in order {
        assert!(in_planes(&plan, f, &mut got, &mut scratch, &mut canvas), "frame {f} in planes");
        let mut fresh = tiny_skia::Pixmap::new(w, h).expect("canvas");
        assert!(in_planes(&plan, f, &mut want, &mut reel::raster::Scratch::new(w, h), &mut fresh));
        let differ = [(&got.y, &want.y), (&got.u, &want.u), (&got.v, &want.v)]
            .iter()
            .map(|(a, b)| a.iter().zip(b.iter()).filter(|(x, y)| x != y).count())
            .sum::<usize>();
        assert_eq!(differ, 0, "frame {f}: {differ} samples differ from a fresh worker's");
    }
}

#[test]
fn a_worker_moving_between_painters_paints_what_a_fresh_one_does() {
    // A render's worker paints some frames in RGBA into its canvas and composes others in
    // 4:2:0, painting their layers into the same canvas, lent as a transparent overlay.
    // Frames of a gradient scene (RGBA; its background cached and restored under the
    // layers' rectangles only) and of a photo scene (planes) in turns on one worker must
    // equal each frame from a fresh worker: neither painter may find the other's pixels.
    let dir = tempfile::tempdir().expect("tmp");
    let photo = image::RgbaImage::from_fn(400, 240, |x, y| image::Rgba([(x / 2) as u8, (y / 2) as u8, 120, 255]));
    photo.save(dir.path().join("photo.png")).expect("photo");
    let json = r##"{"id": "turns", "width": 320, "height": 180, "fps": 30,
      "scenes": [
        {"id": "g", "durationFrames": 10, "background": {"type": "gradient", "colors": ["#204060", "#a04020"]},
         "layers": [{"type": "text", "text": "Gradient", "fontSize": 30, "x": 20, "y": 20, "anchor": "top-left",
                     "enter": {"preset": "slideUp", "durationFrames": 8}}]},
        {"id": "p", "durationFrames": 10, "background": {"type": "image", "asset": "photo.png"},
         "layers": [{"type": "shape", "shape": "rect", "fill": "#ff336680", "width": 300, "height": 160, "x": 10, "y": 10,
                     "anchor": "top-left"},
                    {"type": "text", "text": "Photo", "fontSize": 30, "x": 200, "y": 120, "anchor": "top-left",
                     "enter": {"preset": "fade", "durationFrames": 8}}]}
      ]}"##;
    let plan = Plan::build(&reel::parse(json).expect("parse"), &PlanOptions::new(dir.path())).expect("plan");
    let (w, h) = (plan.width(), plan.height());
    let mut scratch = reel::raster::Scratch::new(w, h);
    let mut canvas = tiny_skia::Pixmap::new(w, h).expect("canvas");
    let mut got = reel::pixels::Yuv420::new(w, h);
    for f in [0, 12, 1, 13, 2, 2, 14, 15, 3, 19, 19, 9, 10] {
        let mine = reel::raster::paint_frame(&plan, f, &mut scratch, &[], &mut canvas.as_mut(), Some(&mut got));
        let mut fresh = tiny_skia::Pixmap::new(w, h).expect("canvas");
        let mut want = reel::pixels::Yuv420::new(w, h);
        let theirs = reel::raster::paint_frame(
            &plan,
            f,
            &mut reel::raster::Scratch::new(w, h),
            &[],
            &mut fresh.as_mut(),
            Some(&mut want),
        );
        assert_eq!(mine, theirs, "frame {f}");
        assert_eq!(mine == reel::raster::Painted::Planes, f >= 10, "frame {f}: composed in planes?");
        if mine == reel::raster::Painted::Rgba {
            assert!(canvas.data() == fresh.data(), "frame {f}: the RGBA frame differs from a fresh worker's");
        } else {
            assert!(got == want, "frame {f}: the planes differ from a fresh worker's");
        }
    }
}

/// Frame `f` through the painter's one decision, offered planes, on a worker's `scratch`
/// and `canvas`: whether it composed the frame in 4:2:0 (into `planes`) rather than
/// painting it in RGBA (into `canvas`).
fn in_planes(
    plan: &reel::Plan,
    f: u64,
    planes: &mut reel::pixels::Yuv420,
    scratch: &mut reel::raster::Scratch,
    canvas: &mut tiny_skia::Pixmap,
) -> bool {
    let painted = reel::raster::paint_frame(plan, f, scratch, &[], &mut canvas.as_mut(), Some(planes));
    painted == reel::raster::Painted::Planes
}

/// Gradients are dithered: along a slow dark gradient the values do not stand in bands (each
/// code value was a 25 px band; radial gradients showed rings), in the RGBA frame and in
/// the luma the encoder is given. Unbiased dither still lets a value repeat where the exact
/// level sits on it, so the measure is the runs' mean length and how often the value
/// changes, against the bands undithered shading gives.
#[test]
fn gradients_are_dithered_without_bands() {
    // A background; a shape over the whole canvas (filled from transparent over a grey
    // background: a legibility scrim); an ellipse reaching past the canvas.
    let background = |kind: &str| {
        format!(
            r##""background": {{"type": "gradient", "kind": "{kind}", "angle": 0, "colors": ["#000000", "#1a1a1a"]}}"##
        )
    };
    let shape = |kind: &str, shape: &str| {
        format!(
            r##""background": "#1a1a1a", "layers": [{{"type": "shape", "shape": "{shape}", "x": 320, "y": 180,
                "width": {w}, "height": {h}, "fill": {{"type": "gradient", "kind": "{kind}", "angle": 0,
                "colors": ["#000000", "#00000000"]}}}}]"##,
            w = if shape == "ellipse" { 1000 } else { 640 },
            h = if shape == "ellipse" { 700 } else { 360 },
        )
    };
    let cases = [
        ("linear", background("linear")),
        ("radial", background("radial")),
        ("linear shape", shape("linear", "rect")),
        ("radial ellipse", shape("radial", "ellipse")),
    ];
    for (kind, scene) in cases {
        let json = format!(
            r##"{{"id": "g", "width": 640, "height": 360, "scenes": [{{"id": "s", "durationFrames": 5, {scene}}}]}}"##
        );
        let plan = crate::common::plan(&json, Path::new(".")).expect("plans");
        let img = reel::render_still(&plan, 0);
        let mut yuv = reel::pixels::Yuv420::new(640, 360);
        yuv.fill_from_rgba(img.as_raw());
        // The middle row, from the centre to the right edge (radial: the gradient runs
        // outwards from the centre): about 13 code values over 320 pixels.
        let green: Vec<u8> = (320..640).map(|x| img.get_pixel(x, 180).0[1]).collect();
        let luma: Vec<u8> = (320..640).map(|x| yuv.y[180 * 640 + x]).collect();
        for (what, values) in [("green", &green), ("luma", &luma)] {
            let changes = values.windows(2).filter(|w| w[0] != w[1]).count();
            let mean_run = values.len() as f32 / (changes + 1) as f32;
            let levels = (values[values.len() - 1] as i32 - values[0] as i32).unsigned_abs() as usize;
            assert!(levels >= 8, "{kind} {what}: the gradient rises ({values:?})");
            assert!(changes >= 4 * levels, "{kind} {what}: {changes} changes over {levels} levels: bands");
            // A shape's fill is dithered before it is composed, in its colour and alpha: the
            // composite keeps most of the grain (runs under 5 pixels where undithered bands
            // were 25 wide), the background's about 2.
            let most = if kind.contains(' ') { 6.0 } else { 4.0 };
            assert!(mean_run <= most, "{kind} {what}: runs of {mean_run:.1} pixels on average");
            // Dithering keeps the gradient's level: each 32-pixel span's mean rises.
            let means: Vec<f32> =
                values.chunks(32).map(|c| c.iter().map(|&v| v as f32).sum::<f32>() / c.len() as f32).collect();
            assert!(means.windows(2).all(|m| m[1] >= m[0] - 0.25), "{kind} {what}: {means:?}");
        }
    }
}
