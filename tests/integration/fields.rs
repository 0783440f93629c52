//! Fields generators write, applied and judged on the frames users get: a picture's shadow
//! and border, Ken Burns on a clip, lines from point to point, overlays over every scene,
//! a `contain` background's letterbox, a music bed started into its file.

use crate::common::*;
use image::RgbaImage;

fn px(img: &RgbaImage, x: u32, y: u32) -> [u8; 3] {
    let p = img.get_pixel(x, y).0;
    [p[0], p[1], p[2]]
}

fn still(json: &str, dir: &std::path::Path, frame: u64) -> RgbaImage {
    reel::render_still(&plan(json, dir).expect("plans"), frame)
}

#[test]
fn a_picture_casts_a_shadow_and_wears_a_border() {
    // quad.png (200x100) at the centre of a grey canvas, a red 6 px border inside its box,
    // a black shadow 20 px below it, not blurred.
    let dir = media_dir();
    let json = r##"{"id": "c", "width": 400, "height": 240, "scenes": [{"id": "s", "durationFrames": 5,
        "background": "#808080", "layers": [{"type": "image", "asset": "quad.png", "x": 200, "y": 110,
        "stroke": {"color": "#ff00ff", "width": 6}, "shadow": {"color": "#000000", "offsetY": 20, "blur": 0}}]}]}"##;
    let img = still(json, dir.path(), 0);
    // The box spans x 100..300, y 60..160.
    assert_near(px(&img, 102, 100), [255, 0, 255], 8, "the border, inside the box's left edge");
    assert_near(px(&img, 150, 62), [255, 0, 255], 8, "the border, inside the top edge");
    assert_near(px(&img, 120, 80), [255, 0, 0], 8, "the picture inside its border");
    assert_near(px(&img, 200, 170), [0, 0, 0], 8, "the shadow under the box");
    assert_near(px(&img, 200, 185), [128, 128, 128], 8, "the background below the shadow");
    assert_near(px(&img, 90, 100), [128, 128, 128], 8, "nothing left of the box");
}

#[test]
fn a_clip_takes_a_ken_burns_move() {
    // A quadrant clip as the background, zoomed 2x onto its red top-left quarter by the
    // last frame: the whole canvas is red then, where the first frame shows all four.
    let dir = media_dir();
    let q = quadrants(320, 180);
    let rgb: Vec<u8> = q.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2]]).collect();
    write_clip(&dir.path().join("quad.mp4"), 320, 180, "30", (0..30).map(|_| rgb.clone()));
    let json = r#"{"id": "c", "width": 320, "height": 180, "fps": 30, "scenes": [{"id": "s", "durationFrames": 30,
        "background": {"type": "video", "asset": "quad.mp4",
        "kenBurns": {"from": {"scale": 1}, "to": {"scale": 2, "x": 0.25, "y": 0.25}}}}]}"#;
    let plan = plan(json, dir.path()).expect("plans");
    assert!(plan.warnings().is_empty(), "{:?}", plan.warnings());
    let (w, h, frames) = {
        let out = dir.path().join("kb.mp4");
        reel::render(&plan, &reel::RenderOptions::new(&out)).expect("renders");
        decode_rgb(&out)
    };
    assert_eq!((w, h), (320, 180));
    let first = &frames[0];
    assert_near(rgb_at(first, w, 40, 40), [255, 0, 0], 24, "frame 0, top left");
    assert_near(rgb_at(first, w, 280, 140), [255, 255, 255], 24, "frame 0, bottom right");
    let last = &frames[29];
    for (x, y) in [(20, 20), (300, 20), (20, 160), (300, 160)] {
        assert_near(rgb_at(last, w, x, y), [255, 0, 0], 24, &format!("last frame at {x},{y}"));
    }
}

#[test]
fn a_line_runs_from_point_to_point_in_its_colour() {
    let dir = media_dir();
    let json = r##"{"id": "c", "width": 200, "height": 200, "scenes": [{"id": "s", "durationFrames": 5,
        "background": "#000000", "layers": [
        {"type": "shape", "shape": "line", "x1": 20, "y1": 20, "x2": 180, "y2": 180, "color": "#00ff00",
         "stroke": {"width": 6}},
        {"type": "shape", "shape": "line", "x": 100, "y": 40, "width": 120, "height": 0, "fill": "#ff0000"}]}]}"##;
    let img = still(json, dir.path(), 0);
    assert_near(px(&img, 100, 100), [0, 255, 0], 8, "the diagonal's middle");
    assert_near(px(&img, 160, 160), [0, 255, 0], 8, "along the diagonal");
    assert_near(px(&img, 160, 40), [0, 0, 0], 8, "off the diagonal");
    assert_near(px(&img, 60, 40), [255, 0, 0], 8, "a line of height 0, in its fill colour");
    // A line given by its ends needs all four.
    let ps = problems(
        r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 5, "layers": [
        {"type": "shape", "shape": "line", "x1": 20, "y1": 20, "x2": 180}]}]}"#,
    );
    assert!(ps.iter().any(|p| p.path == "scenes[0].layers[0].y2"), "{ps:?}");
}

#[test]
fn overlays_stay_over_every_scene_and_transition() {
    let dir = media_dir();
    let json = r##"{"id": "c", "width": 160, "height": 90, "fps": 30, "scenes": [
        {"id": "a", "durationFrames": 30, "background": "#0000ff"},
        {"id": "b", "durationFrames": 30, "background": "#00ff00", "transition": {"type": "slide", "durationFrames": 10}}],
        "overlays": [{"type": "shape", "x": 0, "y": 0, "anchor": "top-left", "width": 20, "height": 20, "color": "#ff0000"},
                     {"type": "image", "asset": "logo.png", "x": 150, "y": 80, "width": 16, "fromFrame": 40}]}"##;
    let plan = plan(json, dir.path()).expect("plans");
    // Frame 25 is in the slide from scene a to b.
    for (frame, bg) in [(5, Some([0, 0, 255])), (25, None), (45, Some([0, 255, 0]))] {
        let img = reel::render_still(&plan, frame);
        assert_near(px(&img, 5, 5), [255, 0, 0], 8, &format!("the overlay at frame {frame}"));
        if let Some(bg) = bg {
            assert_near(px(&img, 80, 5), bg, 8, &format!("the scene at frame {frame}"));
        }
    }
    // The logo from frame 40 on only.
    assert_near(px(&reel::render_still(&plan, 45), 150, 80), [255, 255, 255], 8, "the logo at 45");
    assert_near(px(&reel::render_still(&plan, 35), 150, 80), [0, 255, 0], 8, "no logo at 35");
    // The encoder's path (frames composed in 4:2:0) shows them too.
    let out = dir.path().join("o.mp4");
    reel::render(&plan, &reel::RenderOptions::new(&out)).expect("renders");
    let (w, _, frames) = decode_rgb(&out);
    for f in [5, 25, 45] {
        assert_near(rgb_at(&frames[f], w, 5, 5), [255, 0, 0], 40, &format!("encoded frame {f}"));
    }
    // A clip cannot be an overlay.
    let ps = problems(
        r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 5}],
        "overlays": [{"type": "video", "asset": "clip.mp4"}]}"#,
    );
    assert!(ps.iter().any(|p| p.path == "overlays[0].type"), "{ps:?}");
}

#[test]
fn a_contained_background_letterboxes_in_the_background_colour() {
    // quad.png (2:1) contained in a 1:1 canvas: bands above and below.
    let dir = media_dir();
    let json = |extra: &str| {
        format!(
            r##"{{"id": "c", "width": 200, "height": 200, "style": {{"colorPalette": {{"background": "#336699"}}}},
            "scenes": [{{"id": "s", "durationFrames": 5,
            "background": {{"type": "image", "asset": "quad.png", "fit": "contain" {extra}}}}}]}}"##
        )
    };
    let img = still(&json(""), dir.path(), 0);
    assert_near(px(&img, 100, 10), [0x33, 0x66, 0x99], 4, "the palette's background above");
    assert_near(px(&img, 50, 70), [255, 0, 0], 8, "the picture");
    let img = still(&json(r#", "color": "white""#), dir.path(), 0);
    assert_near(px(&img, 100, 190), [255, 255, 255], 4, "the background's own colour below");
}

#[test]
fn music_starts_into_its_file() {
    // One second of silence then a tone: started 1 s in, the music sounds from frame 0.
    let dir = media_dir();
    let mut samples = vec![0.0; 48_000];
    samples.extend(sine(48_000, 440.0, 2.0, 0.5));
    write_wav(&dir.path().join("bed.wav"), 48_000, 1, &samples);
    let json = |trim: f64| {
        format!(
            r#"{{"id": "c", "width": 64, "height": 36, "fps": 30, "scenes": [{{"id": "s", "durationFrames": 15}}],
            "audio": {{"music": {{"asset": "bed.wav", "loop": false, "trimStart": {trim}}}}}}}"#
        )
    };
    let loudness = |trim: f64| {
        let out = dir.path().join(format!("m{trim}.mp4"));
        let plan = plan(&json(trim), dir.path()).expect("plans");
        reel::render(&plan, &reel::RenderOptions::new(&out)).expect("renders");
        let left = decode_audio_left(&out);
        (left[4_800..19_200].iter().map(|s| s * s).sum::<f32>() / 14_400.0).sqrt()
    };
    assert!(loudness(0.0) < 0.01, "the file's silent first second");
    assert!(loudness(1.0) > 0.2, "the tone, once started a second in");
    match plan(&json(5.0), dir.path()) {
        Err(reel::Error::Invalid(ps)) => assert!(ps.0.iter().any(|p| p.path == "audio.music.trimStart"), "{ps:?}"),
        other => panic!("a start past the file's end is refused, got {other:?}"),
    }
}

#[test]
fn a_transition_takes_its_easing() {
    // A 10-frame fade from black to white: half-way, linear is mid-grey, easeIn still dark.
    let grey = |easing: &str| {
        let json = format!(
            r##"{{"id": "c", "width": 32, "height": 18, "fps": 30, "scenes": [
            {{"id": "a", "durationFrames": 20, "background": "#000000"}},
            {{"id": "b", "durationFrames": 20, "background": "#ffffff",
              "transition": {{"type": "fade", "durationFrames": 10, "easing": "{easing}"}}}}]}}"##
        );
        px(&still(&json, std::path::Path::new("."), 15), 16, 9)[0]
    };
    let (linear, ease_in) = (grey("linear"), grey("easeIn"));
    assert!((110..=150).contains(&linear), "linear half-way: {linear}");
    assert!(ease_in < 60, "easeIn half-way: {ease_in}");
    let ps = problems(
        r#"{"id": "c", "scenes": [{"id": "a", "durationFrames": 20},
        {"id": "b", "durationFrames": 20, "transition": {"type": "fade", "easing": "wobbly"}}]}"#,
    );
    assert!(ps.iter().any(|p| p.path == "scenes[1].transition.easing"), "{ps:?}");
}

/// An SVG logo is rasterized at the size it is drawn: a 10-unit circle drawn 200 px wide
/// has an edge a pixel or two wide, not the 20 px ramp of an upscaled 10 px raster.
#[test]
fn an_svg_is_drawn_sharp_at_its_size_and_kept_to_itself() {
    let dir = media_dir();
    let svg = r##"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10">
        <circle cx="5" cy="5" r="4" fill="#ff0000"/></svg>"##;
    std::fs::write(dir.path().join("logo.svg"), svg).expect("write");
    let json = r##"{"id": "c", "width": 240, "height": 240, "scenes": [{"id": "s", "durationFrames": 5,
        "background": "#000000", "layers": [{"type": "image", "asset": "logo.svg", "x": 120, "y": 120, "width": 200}]}]}"##;
    let img = still(json, dir.path(), 0);
    assert_near(px(&img, 120, 120), [255, 0, 0], 4, "the circle's centre");
    assert_near(px(&img, 120, 30), [0, 0, 0], 4, "outside the circle (r = 80 px)");
    // Along the middle row, from the circle's left edge (x = 40) outwards and inwards.
    let ramp = (30..60).filter(|&x| (8..248).contains(&px(&img, x, 120)[0])).count();
    assert!(ramp <= 3, "an edge {ramp} px wide");
    // What an SVG may not do: name another file, expand entities without end, be gzipped.
    let cases = [
        ("external.svg", r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image xlink:href="/etc/hostname" width="10" height="10"/></svg>"#.to_string(), "another file"),
        ("laughs.svg", format!(
            r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol">{}]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&j;</text></svg>"#,
            (b'b'..=b'j').map(|c| { let p = (c - 1) as char; format!(r#"<!ENTITY {} "{}">"#, c as char, format!("&{p};").repeat(10)) }).collect::<String>()
        ), "not a valid SVG"),
    ];
    for (name, text, want) in cases {
        std::fs::write(dir.path().join(name), text).expect("write");
        let json = format!(
            r#"{{"id": "c", "width": 64, "height": 64, "scenes": [{{"id": "s", "durationFrames": 5,
            "layers": [{{"type": "image", "asset": "{name}"}}]}}]}}"#
        );
        match plan(&json, dir.path()) {
            Err(reel::Error::Invalid(ps)) => assert!(
                ps.0.iter().any(|p| p.path == "scenes[0].layers[0].asset"
                    && p.message.contains(want)
                    && p.message.contains(name)),
                "{name}: {ps:?}"
            ),
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
}

/// A shadow's pixmap is bounded by the canvas and the largest blur drawn, whatever the
/// layer's scale: a 20 px shape scaled 100 times with a 200 px blur (a pixmap 80,000 px
/// wider than the canvas before, 25 GB once touched) paints in bounded memory.
#[test]
fn a_huge_shadow_is_bounded() {
    let json = r##"{"id": "c", "width": 64, "height": 64, "scenes": [{"id": "s", "durationFrames": 2,
        "background": "#ffffff", "layers": [{"type": "shape", "width": 20, "height": 20, "scale": 100,
        "color": "#ff0000", "shadow": {"color": "#000000", "blur": 200, "offsetY": 500}}]}]}"##;
    let img = still(json, std::path::Path::new("."), 0);
    assert_near(px(&img, 32, 32), [255, 0, 0], 4, "the shape covers the canvas");
}

/// `style.typography.fonts`: a font file the composition brings, named by the family it
/// gives; the same glyphs as the file under its own name, not the default face's; bad
/// entries are errors at their paths.
#[test]
fn a_composition_brings_its_own_font() {
    let dir = media_dir();
    std::fs::create_dir(dir.path().join("fonts")).expect("mkdir");
    std::fs::copy(root().join("assets/fonts/NotoSans-Regular.ttf"), dir.path().join("fonts/brand.ttf")).expect("copy");
    std::fs::write(dir.path().join("fonts/fake.ttf"), b"not a font at all").expect("write");
    let json = |font: &str, fonts: &str| {
        format!(
            r##"{{"id": "c", "width": 480, "height": 120, "style": {{"typography": {{"fonts": {fonts}}}}},
                "scenes": [{{"id": "s", "durationFrames": 5, "background": "#000000",
                "layers": [{{"type": "text", "text": "Quartz glyphs", "font": "{font}", "fontSize": 48, "color": "#ffffff"}}]}}]}}"##
        )
    };
    let brought = r#"[{"asset": "fonts/brand.ttf", "family": "Brand Sans"}]"#;
    let plan_brand = plan(&json("Brand Sans", brought), dir.path()).expect("plans");
    assert!(plan_brand.warnings().is_empty(), "{:?}", plan_brand.warnings());
    let brand = reel::render_still(&plan_brand, 2);
    let noto = still(&json("Noto Sans", "[]"), dir.path(), 2);
    let inter = still(&json("Inter", "[]"), dir.path(), 2);
    assert_eq!(brand.as_raw(), noto.as_raw(), "Brand Sans is the file's glyphs");
    assert_ne!(brand.as_raw(), inter.as_raw(), "not the default face");
    // The family is the plan's own: another plan does not know it.
    let other = plan(&json("Brand Sans", "[]"), dir.path()).expect("plans");
    assert!(other.warnings().iter().any(|w| w.message.contains("Brand Sans")), "{:?}", other.warnings());
    // Without a family, the file's own name.
    let own = plan(&json("Noto Sans", r#"[{"asset": "fonts/brand.ttf"}]"#), dir.path()).expect("plans");
    assert_eq!(reel::render_still(&own, 2).as_raw(), noto.as_raw());
    let errors = problems_in(
        &json("Brand Sans", r#"[{"asset": "fonts/gone.ttf"}, {"asset": "fonts/fake.ttf", "family": ""}]"#),
        dir.path(),
    );
    assert!(
        errors.iter().any(|p| p.path == "style.typography.fonts[0].asset" && p.message.contains("not found")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|p| p.path == "style.typography.fonts[1].family"), "{errors:?}");
    let errors = problems_in(&json("Brand Sans", r#"[{"asset": "fonts/fake.ttf"}]"#), dir.path());
    assert!(
        errors.iter().any(|p| p.path == "style.typography.fonts[0].asset" && p.message.contains("not a font file")),
        "{errors:?}"
    );
}

fn problems_in(json: &str, dir: &std::path::Path) -> Vec<reel::Problem> {
    plan(json, dir).err().map(|e| e.problems().to_vec()).unwrap_or_default()
}
