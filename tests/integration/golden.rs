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

fn check(case: &Path, make_ref: bool) -> Vec<String> {
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
    for f in frames {
        let actual = reel::render_still(&plan, f);
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
    }
    failures
}

#[test]
fn golden_frames() {
    let make_ref = std::env::var_os("MAKE_REF").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(cases.len() >= 30, "golden cases missing: found {}", cases.len());
    let failures: Vec<String> = cases.iter().flat_map(|c| check(c, make_ref)).collect();
    assert!(failures.is_empty(), "{} golden failures:\n{}", failures.len(), failures.join("\n"));
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
