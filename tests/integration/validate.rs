//! Bad input: every kind gets a clear error naming the path (or asset key), the value, and
//! what is allowed; every problem is reported at once.

use crate::common::*;
use reel::Error;

fn has(ps: &[reel::Problem], path: &str, needle: &str) {
    assert!(
        ps.iter().any(|p| p.path == path && p.message.contains(needle)),
        "no problem at {path} containing {needle:?} in:\n{}",
        ps.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    );
}

fn scene(extra: &str) -> String {
    format!(r#"{{"id": "c", "width": 160, "height": 90, "scenes": [{{"id": "s", "durationFrames": 10 {extra}}}]}}"#)
}

#[test]
fn syntax_error_has_line_and_column() {
    match reel::parse("{\n  \"id\": \"c\",\n  \"scenes\": [,]\n}") {
        Err(Error::Syntax { line, column, .. }) => assert_eq!((line, column), (3, 14)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(reel::parse(""), Err(Error::Syntax { .. })));
    assert!(matches!(reel::parse("[1, 2]"), Err(Error::Invalid(_))));
}

#[test]
fn wrong_types_name_the_path() {
    let e = reel::parse(&scene(r#", "layers": [{"type": "text", "text": "x", "fontSize": {"big": 1}}]"#)).unwrap_err();
    assert_eq!(e.problems()[0].path, "scenes[0].layers[0].fontSize");
    let e = reel::parse(r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": "ten"}]}"#).unwrap_err();
    assert_eq!(e.problems()[0].path, "scenes[0].durationFrames");
    assert!(e.problems()[0].message.contains("\"ten\""), "{e}");
    let e = reel::parse(r#"{"scenes": []}"#).unwrap_err();
    assert!(e.problems()[0].message.contains("id"), "{e}");
}

#[test]
fn bad_lengths_name_value_and_form() {
    let ps = problems(&scene(r#", "layers": [{"type": "text", "text": "x", "fontSize": "big"}]"#));
    has(&ps, "scenes[0].layers[0].fontSize", r#"expected a Length (number or "NN%"), found "big""#);
}

#[test]
fn bad_colors() {
    let ps =
        problems(&scene(r##", "background": "#12345", "layers": [{"type": "text", "text": "x", "color": "@brand"}]"##));
    has(&ps, "scenes[0].background", "\"#12345\"");
    has(&ps, "scenes[0].layers[0].color", "no \"brand\"");
    let ps = problems(
        r##"{"id": "c", "style": {"colorPalette": {"primary": "blue-ish"}}, "scenes": [{"id": "s", "durationFrames": 1}]}"##,
    );
    has(&ps, "style.colorPalette.primary", "blue-ish");
}

#[test]
fn out_of_range_numbers_and_absurd_sizes() {
    let ps = problems(
        r#"{"id": "c", "width": 100000, "height": 91, "fps": 0, "totalDurationFrames": -3,
        "scenes": [{"id": "s", "durationFrames": 0, "layers": [{"type": "shape", "opacity": 2}]}]}"#,
    );
    has(&ps, "width", "16..=8192, found 100000");
    has(&ps, "height", "even");
    has(&ps, "fps", "1..=120");
    has(&ps, "totalDurationFrames", "found -3");
    has(&ps, "scenes[0].durationFrames", "found 0");
    has(&ps, "scenes[0].layers[0].opacity", "0..=1, found 2");
    let ps = problems(
        r#"{"id": "c", "aspectRatio": "16:9", "width": 1000, "height": 1000, "scenes": [{"id": "s", "durationFrames": 1}]}"#,
    );
    has(&ps, "width", "aspectRatio");
    let ps = problems(
        r#"{"id": "c", "fps": 30, "totalDurationFrames": 4000000, "scenes": [{"id": "s", "durationFrames": 1}]}"#,
    );
    has(&ps, "totalDurationFrames", "limit");
}

#[test]
fn impossible_timings() {
    let ps = problems(
        r#"{"id": "c", "scenes": [{"id": "a", "durationFrames": 10},
        {"id": "b", "durationFrames": 30, "transition": {"type": "fade", "durationFrames": 20}},
        {"id": "b", "durationFrames": 5, "layers": [{"type": "shape", "keyframes": {"x": [{"frame": 5, "value": 1}, {"frame": 2, "value": 3}]}}]}]}"#,
    );
    has(&ps, "scenes[1].transition.durationFrames", "longer than the previous scene");
    has(&ps, "scenes[2].id", "duplicate");
    has(&ps, "scenes[2].layers[0].keyframes.x[1].frame", "increasing");
}

#[test]
fn unknown_enum_values_list_the_allowed_ones() {
    let ps = problems(&scene(
        r#", "transition": {"type": "spin"}, "layers": [{"type": "text", "text": "x", "anchor": "middle", "align": "justify",
            "enter": {"preset": "explode", "easing": "bouncy"}}, {"type": "hologram"}]"#,
    ));
    has(&ps, "scenes[0].transition.type", "\"dipToBlack\"");
    has(&ps, "scenes[0].layers[0].anchor", "\"top-left\"");
    has(&ps, "scenes[0].layers[0].align", "found \"justify\"");
    has(&ps, "scenes[0].layers[0].enter.preset", "\"slideUp\"");
    has(&ps, "scenes[0].layers[1].type", "found \"hologram\"");
    let ps = problems(r#"{"id": "c", "aspectRatio": "3:1", "scenes": [{"id": "s", "durationFrames": 1}]}"#);
    has(&ps, "aspectRatio", "\"9:16\"");
}

#[test]
fn all_problems_are_reported_at_once() {
    let ps = problems(
        r##"{"id": "c", "scenes": [
        {"id": "a", "durationFrames": 10, "background": "nope"},
        {"id": "b", "durationFrames": -1, "layers": [{"type": "text", "text": "x", "fontWeight": 5000}]}]}"##,
    );
    assert!(ps.len() >= 3, "{ps:?}");
    has(&ps, "scenes[0].background", "nope");
    has(&ps, "scenes[1].durationFrames", "-1");
    has(&ps, "scenes[1].layers[0].fontWeight", "5000");
}

#[test]
fn missing_assets_are_all_listed() {
    let ps = problems(&scene(
        r#", "background": {"type": "image", "asset": "nope/a.png"},
            "layers": [{"type": "image", "asset": "b.jpg"}, {"type": "image", "asset": "quad.png"}]"#,
    ));
    has(&ps, "scenes[0].background.asset", "\"nope/a.png\": not found");
    has(&ps, "scenes[0].layers[0].asset", "\"b.jpg\": not found");
    assert_eq!(ps.len(), 2, "{ps:?}");
}

#[test]
fn broken_images_and_sound_are_reported_together_in_order() {
    // The soundtrack decodes on its own thread while the scenes are planned: both kinds of
    // failure still come back in one error, the scenes' first, as one thread had them.
    let dir = media_dir();
    std::fs::write(dir.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\ngarbage").expect("w");
    std::fs::write(dir.path().join("noise.mp3"), (0..3000u32).map(|i| (i * 31 % 253) as u8).collect::<Vec<_>>())
        .expect("w");
    let json = r#"{"id": "c", "width": 160, "height": 90, "audio": {"music": {"asset": "noise.mp3"}},
        "scenes": [{"id": "s", "durationFrames": 10, "background": {"type": "image", "asset": "corrupt.png"}}]}"#;
    let ps = match plan(json, dir.path()) {
        Err(Error::Invalid(p)) => p.0,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let paths: Vec<&str> = ps.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["scenes[0].background.asset", "audio.music.asset"], "{ps:?}");
}

#[test]
fn broken_images_are_reported_where_they_are_used() {
    // Planning decodes the next image while it decodes one: a broken one is still
    // reported at its own use, after the problems of the scenes before it, and once.
    let dir = media_dir();
    std::fs::write(dir.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\ngarbage").expect("w");
    std::fs::write(dir.path().join("text.jpg"), b"just some words").expect("w");
    let json = r##"{"id": "c", "width": 160, "height": 90, "scenes": [
        {"id": "a", "durationFrames": 10, "background": {"type": "image", "asset": "corrupt.png"},
         "layers": [{"type": "shape", "shape": "rect", "fill": "#12345"}]},
        {"id": "b", "durationFrames": 10, "background": {"type": "image", "asset": "text.jpg"}},
        {"id": "c", "durationFrames": 10, "background": {"type": "image", "asset": "text.jpg"}}]}"##;
    let ps = match plan(json, dir.path()) {
        Err(Error::Invalid(p)) => p.0,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let paths: Vec<&str> = ps.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["scenes[0].background.asset", "scenes[0].layers[0].fill", "scenes[1].background.asset"],
        "{ps:?}"
    );
}

#[test]
fn asset_keys_that_leave_the_folder_are_refused() {
    let dir = media_dir();
    let outside = tempfile::tempdir().expect("tmp");
    quadrants(4, 4).save(outside.path().join("secret.png")).expect("save");
    std::os::unix::fs::symlink(outside.path().join("secret.png"), dir.path().join("link.png")).expect("symlink");
    for (key, why) in [
        ("/etc/passwd", "absolute"),
        ("../secret.png", "'..'"),
        ("a/../../secret.png", "'..'"),
        ("%2e%2e/secret.png", "percent-encoded"),
        ("link.png", "outside the asset folder"),
    ] {
        let json = scene(&format!(r#", "layers": [{{"type": "image", "asset": "{key}"}}]"#));
        match plan(&json, dir.path()) {
            Err(Error::Invalid(p)) => {
                assert_eq!(p.0[0].path, "scenes[0].layers[0].asset", "{key}");
                assert!(p.0[0].message.contains(why), "{key}: {}", p.0[0]);
            }
            other => panic!("{key}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn corrupt_empty_and_mislabelled_images_name_the_key() {
    let dir = media_dir();
    std::fs::write(dir.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\nthis is not a png").expect("write");
    std::fs::write(dir.path().join("empty.jpg"), b"").expect("write");
    std::fs::write(dir.path().join("text.png"), b"hello, world").expect("write");
    // A PNG header claiming 30000 x 30000 pixels in a few bytes: refused before decoding.
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&30000u32.to_be_bytes());
    ihdr.extend_from_slice(&30000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d".to_vec();
    bomb.extend_from_slice(&ihdr);
    bomb.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let idat = b"IDAT\x78\x9c\x63\x00\x00";
    bomb.extend_from_slice(&5u32.to_be_bytes());
    bomb.extend_from_slice(idat);
    bomb.extend_from_slice(&crc32(idat).to_be_bytes());
    std::fs::write(dir.path().join("bomb.png"), &bomb).expect("write");
    for (key, needle) in
        [("corrupt.png", "corrupt"), ("empty.jpg", "empty"), ("text.png", "not a PNG"), ("bomb.png", "30000x30000")]
    {
        let json = scene(&format!(r#", "layers": [{{"type": "image", "asset": "{key}"}}]"#));
        match plan(&json, dir.path()) {
            Err(Error::Invalid(p)) => {
                assert!(p.0[0].message.contains(key) && p.0[0].message.contains(needle), "{key}: {}", p.0[0]);
            }
            other => panic!("{key}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn unknown_fields_and_fonts_are_warnings() {
    let dir = media_dir();
    let p = plan(
        &scene(r#", "sparkle": 1, "layers": [{"type": "text", "text": "x", "font": "Comic Sans MS", "glow": true}]"#),
        dir.path(),
    )
    .expect("warnings are not errors");
    let w: Vec<String> = p.warnings().iter().map(|w| w.to_string()).collect();
    assert!(w.iter().any(|w| w.starts_with("scenes[0].sparkle: unknown field")), "{w:?}");
    assert!(w.iter().any(|w| w.starts_with("scenes[0].layers[0].glow: unknown field")), "{w:?}");
    assert!(w.iter().any(|w| w.starts_with("scenes[0].layers[0].font:") && w.contains("Comic Sans MS")), "{w:?}");
}

#[test]
fn envelope_is_accepted() {
    let dir = media_dir();
    let p = plan(
        r#"{"composition_id": "x", "composition": {"id": "c", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 3}]}}"#,
        dir.path(),
    )
    .expect("envelope");
    assert_eq!((p.id(), p.frame_count(), p.width()), ("c", 3, 160));
}

/// CRC-32 (IEEE), as PNG chunks carry it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn caption_problems_name_the_path_or_line() {
    let ps = problems(
        r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 30}], "captions": {"words": [
        {"text": "one", "startFrame": 0, "endFrame": 10}, {"text": "two", "startFrame": 5, "endFrame": 12},
        {"text": "three", "startFrame": 20, "endFrame": 15}]}}"#,
    );
    has(&ps, "captions.words[1].startFrame", "overlapping");
    has(&ps, "captions.words[2].endFrame", "endFrame > startFrame");
    let dir = media_dir();
    std::fs::write(
        dir.path().join("bad.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nHi\n\n2\n00:00:03.5 -> 00:00:04\nThere\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("good.vtt"), "WEBVTT\n\n00:00.500 --> 00:01.000\nHello there\n").expect("write");
    match plan(
        r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 60}], "captions": {"asset": "bad.srt"}}"#,
        dir.path(),
    ) {
        Err(Error::Invalid(p)) => {
            assert_eq!(p.0[0].path, "captions.asset");
            assert!(p.0[0].message.contains("bad.srt") && p.0[0].message.contains("line 6"), "{}", p.0[0]);
        }
        other => panic!("{other:?}"),
    }
    plan(
        r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 60}], "captions": {"asset": "good.vtt"}}"#,
        dir.path(),
    )
    .expect("WebVTT plans");
}

/// Every limit is the caller's to change, and a composition over one is refused naming it.
/// The decoded-media budget is checked from headers before anything is decoded: the corrupt
/// image in the same composition is not even reached.
#[test]
fn limits_are_named_and_a_caller_can_change_them() {
    let dir = media_dir();
    write_wav(&dir.path().join("tone.wav"), 48000, 2, &sine(48000, 440.0, 2.0, 0.5));
    std::fs::write(dir.path().join("corrupt.png"), b"\x89PNG\r\n\x1a\ngarbage").expect("w");
    let json = |extra: &str| {
        format!(
            r#"{{"id": "c", "width": 160, "height": 90, "audio": {{"music": {{"asset": "tone.wav"}}}},
            "scenes": [{{"id": "a", "durationFrames": 10, "layers": [
                {{"type": "image", "asset": "quad.png"}}, {{"type": "image", "asset": "logo.png"}} {extra}]}},
              {{"id": "b", "durationFrames": 10}}]}}"#
        )
    };
    let with = |json: &str, f: &dyn Fn(&mut reel::Limits)| {
        let mut opts = reel::PlanOptions::new(dir.path());
        f(&mut opts.limits);
        reel::Plan::build(&reel::parse(json).expect("parse"), &opts)
    };
    let refused = |r: reel::Result<reel::Plan>| match r {
        Err(Error::Invalid(p)) => p.0,
        other => panic!("expected Invalid, got {other:?}"),
    };
    // Images 200x100 + 64x64: 96,384 bytes decoded. The audio holds no decoded samples.
    assert!(with(&json(""), &|_| {}).is_ok());
    let ps = refused(with(&json(r#", {"type": "image", "asset": "corrupt.png"}"#), &|l| l.max_media_bytes = 90_000));
    has(&ps, "assets", "Limits::max_media_bytes");
    has(&ps, "assets", "decoded images would take 0.1 MB");
    assert!(!ps.iter().any(|p| p.message.contains("corrupt")), "nothing decoded: {ps:?}");
    assert!(with(&json(""), &|l| l.max_media_bytes = 96_384).is_ok());

    let ps = refused(with(&json(""), &|l| l.max_scenes = 1));
    has(&ps, "scenes", "the limit is 1");
    let ps = refused(with(&json(""), &|l| l.max_layers = 1));
    has(&ps, "scenes[0].layers", "the limit is 1");
    let ps = refused(with(&json(""), &|l| l.max_side = 128));
    has(&ps, "width", "16..=128");
    let ps = refused(with(&json(""), &|l| l.max_seconds = 0.5));
    has(&ps, "totalDurationFrames", "the limit is 0.5 s");
    let ps = refused(with(&json(""), &|l| l.image.max_pixels = 10_000));
    has(&ps, "scenes[0].layers[0].asset", "10000 pixels");
}

/// Clips' decoders count against `max_media_bytes` as they are held: every clip playing at
/// once (or opened ahead of its start) holds four pictures at the file's size and three at
/// its drawn size. Many layers showing one clip are refused before any decoder opens.
#[test]
fn clips_playing_at_once_count_against_the_media_budget() {
    let dir = tempfile::tempdir().expect("dir");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1", "-c:v", "libx264"])
        .arg(dir.path().join("clip.mp4"))
        .status()
        .expect("run ffmpeg (installed by make test)");
    assert!(st.success());
    let json = |layers: usize, second_scene: &str| {
        let layer = r#"{"type": "video", "asset": "clip.mp4", "width": 320, "height": 180}"#;
        let layers = vec![layer; layers].join(",");
        format!(
            r#"{{"id": "c", "width": 320, "height": 180, "fps": 30, "scenes": [
                {{"id": "a", "durationFrames": 30, "layers": [{layers}]}},
                {{"id": "b", "durationFrames": 300 {second_scene}}}]}}"#
        )
    };
    let plan = |json: &str, limit: u64| {
        let mut opts = reel::PlanOptions::new(dir.path());
        opts.limits.max_media_bytes = limit;
        reel::Plan::build(&reel::parse(json).expect("parse"), &opts)
    };
    // One clip: 320x180 in 4:2:0 is 86,400 bytes a picture, seven pictures: 604,800.
    let one = 604_800;
    assert!(plan(&json(1, ""), one).is_ok());
    assert!(plan(&json(10, ""), 10 * one).is_ok());
    match plan(&json(11, ""), 10 * one) {
        Err(Error::Invalid(p)) => has(&p.0, "assets", "the 11 clips playing around frame 0 would hold 6.3 MB"),
        other => panic!("expected the clip budget to refuse, got {other:?}"),
    }
    // A clip in the next scene opens three seconds ahead: it counts with the first ten.
    let next = r#", "layers": [{"type": "video", "asset": "clip.mp4", "width": 320, "height": 180}]"#;
    assert!(plan(&json(10, next), 10 * one).is_err());
    assert!(plan(&json(10, next), 11 * one).is_ok());
}

/// A character no font has is drawn as an empty box: planning warns with the text's path
/// and the characters, once per text (and once for all the captions).
#[test]
fn characters_no_font_has_are_named_in_a_warning() {
    let json = r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 30, "layers": [
        {"type": "text", "text": "Hello"},
        {"type": "text", "text": "新品 ส่วนลด ሰላም សួស្តី"}]}],
        "captions": {"words": [{"text": "ሰላም", "startFrame": 0, "endFrame": 9},
                               {"text": "世界", "startFrame": 9, "endFrame": 18}]}}"#;
    let plan = plan(json, std::path::Path::new(".")).expect("plans");
    let warnings = plan.warnings();
    let about = |path: &str| warnings.iter().filter(|w| w.path == path).collect::<Vec<_>>();
    assert!(about("scenes[0].layers[0].text").is_empty(), "{warnings:?}");
    let w = about("scenes[0].layers[1].text");
    assert_eq!(w.len(), 1, "{warnings:?}");
    // Chinese and Thai have bundled fonts; Ethiopic and Khmer do not.
    let m = &w[0].message;
    assert!(m.contains("U+1230") && m.contains("U+179F") && !m.contains("U+65B0") && !m.contains("U+0E2A"), "{m}");
    let w = about("captions.words");
    assert_eq!(w.len(), 1, "{warnings:?}");
    assert!(w[0].message.contains("U+1230") && !w[0].message.contains("U+4E16"), "{}", w[0].message);
}

/// Fields a layer's type does not use are ignored with a warning naming each; a shape's
/// `color` is its fill when it has no `fill` (generators write it so).
#[test]
fn fields_a_layer_type_does_not_use_are_named_and_a_shape_color_fills() {
    let json = r##"{"id": "c", "width": 64, "height": 36, "scenes": [{"id": "s", "durationFrames": 5,
        "background": "#000000", "layers": [
        {"type": "shape", "color": "#ff0000", "width": "100%", "height": "100%", "font": "Inter"},
        {"type": "text", "text": "Hi", "fill": "#00ff00", "cornerRadius": 4},
        {"type": "image", "asset": "quad.png", "fontWeight": 700, "trimStart": 2}]}]}"##;
    let dir = media_dir();
    let plan =
        reel::Plan::build(&reel::parse(json).expect("parse"), &reel::PlanOptions::new(dir.path())).expect("plan");
    let paths: Vec<&str> = plan.warnings().iter().map(|w| w.path.as_str()).collect();
    for p in [
        "scenes[0].layers[0].font",
        "scenes[0].layers[1].fill",
        "scenes[0].layers[1].cornerRadius",
        "scenes[0].layers[2].fontWeight",
        "scenes[0].layers[2].trimStart",
    ] {
        assert!(paths.contains(&p), "{p} in {paths:?}");
    }
    assert!(!paths.contains(&"scenes[0].layers[0].color"), "a shape's colour is used: {paths:?}");
    // Only the shape is drawn where the text and image are not: red.
    let img = reel::render_still(&plan, 0);
    assert_eq!(img.get_pixel(1, 1).0, [255, 0, 0, 255]);
}

/// serde stops at the first type error; the parser goes on to list every one, each with its
/// path, without inventing errors of its own where it repaired one (a required field of
/// the wrong type is not also reported missing).
#[test]
fn every_json_type_error_is_reported_at_once() {
    let json = r##"{"id": 7, "width": "wide", "scenes": [
        {"id": "a", "durationFrames": "ten", "layers": [{"type": "text", "text": ["no"], "opacity": "half"}]},
        "not a scene",
        {"id": "c", "durationFrames": 30, "transition": {"type": "fade", "durationFrames": 1.5}}],
        "captions": {"words": [{"text": "Hi", "startFrame": "0", "endFrame": 9}]},
        "audio": {"music": {"asset": "m.mp3", "loop": "yes"}}}"##;
    let ps = match reel::parse(json) {
        Err(reel::Error::Invalid(p)) => p.0,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let paths: Vec<&str> = ps.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "id",
            "width",
            "scenes[0].durationFrames",
            "scenes[0].layers[0].text",
            "scenes[0].layers[0].opacity",
            "scenes[1]",
            "scenes[2].transition.durationFrames",
            "captions.words[0].startFrame",
            "audio.music.loop",
        ],
        "{ps:#?}"
    );
    assert!(ps[0].message.contains("expected a string"), "{}", ps[0].message);
}
