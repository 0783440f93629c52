//! Captions as short-form video uses them, judged on the frames users get (`render_still`
//! paints what the encoder is given): which words share a line, that every word is shown
//! and highlighted on its own line only, and where the safe area puts them.

use crate::common::*;
use image::RgbaImage;

/// The highlight colour of these tests: nothing else in their frames is pure green.
const GREEN: &str = "#00ff00";

fn captioned(w: u32, h: u32, words: &[(&str, u64, u64)], style: &str) -> reel::Plan {
    let words: Vec<String> =
        words.iter().map(|(t, a, b)| format!(r#"{{"text": "{t}", "startFrame": {a}, "endFrame": {b}}}"#)).collect();
    let json = format!(
        r##"{{"id": "c", "width": {w}, "height": {h}, "fps": 30,
            "scenes": [{{"id": "s", "durationFrames": 200, "background": "#203040"}}],
            "captions": {{"words": [{}], "style": {{"highlightColor": "{GREEN}" {style}}}}}}}"##,
        words.join(",")
    );
    plan(&json, std::path::Path::new(".")).expect("plans")
}

/// Rows holding highlight-green pixels, as (first, last).
fn green_rows(img: &RgbaImage) -> Option<(u32, u32)> {
    let rows: Vec<u32> = (0..img.height())
        .filter(|&y| {
            (0..img.width()).any(|x| matches!(img.get_pixel(x, y).0, [r, g, b, _] if g > 200 && r < 90 && b < 90))
        })
        .collect();
    Some((*rows.first()?, *rows.last()?))
}

/// Rows holding caption text (white or green) or its box: anything lighter or darker than
/// the background by much.
fn caption_rows(img: &RgbaImage) -> Option<(u32, u32)> {
    let bg = [0x20u8, 0x30, 0x40];
    let rows: Vec<u32> = (0..img.height())
        .filter(|&y| (0..img.width()).any(|x| (0..3).any(|c| img.get_pixel(x, y).0[c].abs_diff(bg[c]) > 24)))
        .collect();
    Some((*rows.first()?, *rows.last()?))
}

#[test]
fn every_word_is_shown_and_highlighted_on_its_own_line_only() {
    // Eight long words allowed on one caption line, on a narrow canvas: they need more than
    // two lines of text, so the group is split and no word is cut off with an ellipsis.
    let words: Vec<(&str, u64, u64)> =
        ["Extraordinary", "handcrafted", "sustainable", "sneakers", "delivered", "tomorrow", "morning", "everywhere"]
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, i as u64 * 10, i as u64 * 10 + 10))
            .collect();
    let plan = captioned(320, 320, &words, r#", "maxWordsPerLine": 8, "fontSize": 28"#);
    let mut lines_seen = Vec::new();
    for (i, (word, a, _)) in words.iter().enumerate() {
        let img = reel::render_still(&plan, a + 5);
        let green = green_rows(&img).unwrap_or_else(|| panic!("word {i} ({word}) is never highlighted"));
        let text = caption_rows(&img).expect("a caption on screen");
        // One line of text is about 1.2 x 28 px: the highlight covers one line, not two.
        assert!(green.1 - green.0 < 40, "word {i}: highlight rows {green:?} span more than one line");
        assert!(text.0 <= green.0 && green.1 <= text.1);
        lines_seen.push((green.0 - text.0) / 20);
    }
    // Some words sit on the second line of text of their caption line.
    assert!(lines_seen.iter().any(|&l| l > 0), "{lines_seen:?}");
}

#[test]
fn lines_end_at_pauses_sentences_and_cues() {
    // "Done." ends a sentence, so "Next" starts a new line; "Meetings" follows a silence of
    // two thirds of a second, so it is not on screen with "Next" (frame 35); the silence is
    // under a second, so "Next" stays up until "Meetings" is said. "Again" comes after three
    // seconds: the line before it is gone in between.
    let words = [
        ("Cold", 0, 10),
        ("brew", 10, 20),
        ("Done.", 20, 30),
        ("Next", 30, 40),
        ("Meetings", 60, 70),
        ("Again", 160, 170),
    ];
    let plan = captioned(640, 360, &words, "");
    let line_at = |f: u64| caption_rows(&reel::render_still(&plan, f));
    // The caption's box (its plate): the same box is the same line of words.
    let bg = [0x20u8, 0x30, 0x40];
    let boxed = |f: u64| {
        let img = reel::render_still(&plan, f);
        let cols: Vec<u32> = (0..img.width())
            .filter(|&x| (0..img.height()).any(|y| (0..3).any(|c| img.get_pixel(x, y).0[c].abs_diff(bg[c]) > 24)))
            .collect();
        (cols.first().copied(), cols.last().copied(), line_at(f))
    };
    assert_eq!(boxed(5), boxed(15), "one line, another word spoken");
    assert_ne!(boxed(25), boxed(35), "the line after a sentence's end is a new one");
    assert_ne!(boxed(35), boxed(65), "the word after a pause starts a new line");
    assert!(line_at(50).is_some(), "held over a silence under a second");
    assert!(line_at(120).is_none(), "gone during a three-second silence");
    assert!(line_at(165).is_some());

    // SRT cues: the words of two cues never share a line, however short they are.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("c.srt"),
        "1\n00:00:00,000 --> 00:00:01,000\nHello there\n\n2\n00:00:01,000 --> 00:00:02,000\nfriend\n",
    )
    .expect("write");
    let json = format!(
        r##"{{"id": "c", "width": 640, "height": 360, "scenes": [{{"id": "s", "durationFrames": 90, "background": "#203040"}}],
            "captions": {{"asset": "c.srt", "style": {{"highlightColor": "{GREEN}"}}}}}}"##
    );
    let plan = crate::common::plan(&json, dir.path()).expect("plans");
    let first = reel::render_still(&plan, 10);
    let second = reel::render_still(&plan, 45);
    let width = |img: &RgbaImage| {
        let cols: Vec<u32> = (0..img.width())
            .filter(|&x| (0..img.height()).any(|y| img.get_pixel(x, y).0[0] > 200 && img.get_pixel(x, y).0[2] > 200))
            .collect();
        cols.last().unwrap_or(&0) - cols.first().unwrap_or(&0)
    };
    assert!(
        width(&second) < width(&first) / 2 + 20,
        "\"friend\" alone on its line: {} vs {}",
        width(&second),
        width(&first)
    );
}

#[test]
fn portrait_captions_sit_above_the_platforms_buttons() {
    let words = [("Tap", 0, 10), ("to", 10, 20), ("shop", 20, 30)];
    // Default on 9:16: TikTok's safe area, captions end 25 % above the bottom.
    let img = reel::render_still(&captioned(360, 640, &words, ""), 5);
    let rows = caption_rows(&img).expect("captions");
    assert!(rows.1 <= 480, "bottom of the captions at row {} of 640", rows.1);
    assert!(rows.1 >= 440, "on the safe area's lower edge, not far above: row {}", rows.1);
    // Landscape keeps the bottom tenth.
    let img = reel::render_still(&captioned(640, 360, &words, ""), 5);
    let rows = caption_rows(&img).expect("captions");
    assert!((310..=324).contains(&rows.1), "row {}", rows.1);
    // Named and explicit safe areas; an unknown one is an error naming the field.
    let img = reel::render_still(&captioned(360, 640, &words, r#", "safeArea": "none""#), 5);
    assert!(caption_rows(&img).expect("captions").1 >= 630);
    let img = reel::render_still(&captioned(360, 640, &words, r#", "safeArea": {"bottom": "50%"}"#), 5);
    assert!((300..=320).contains(&caption_rows(&img).expect("captions").1));
    let json = r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 30}],
        "captions": {"words": [{"text": "Hi", "startFrame": 0, "endFrame": 9}],
                     "style": {"safeArea": "snapchat", "fontWeight": 1000, "font": "Comic Sans"}}}"#;
    let err = plan(json, std::path::Path::new(".")).expect_err("refused");
    let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    for p in ["captions.style.safeArea", "captions.style.fontWeight", "captions.style.font"] {
        assert!(paths.contains(&p), "{p} in {paths:?}");
    }
}

/// Columns holding pixels that match `want`, as (first, last).
fn columns(img: &RgbaImage, want: impl Fn([u8; 4]) -> bool) -> Option<(u32, u32)> {
    let cols: Vec<u32> = (0..img.width()).filter(|&x| (0..img.height()).any(|y| want(img.get_pixel(x, y).0))).collect();
    Some((*cols.first()?, *cols.last()?))
}

fn white(p: [u8; 4]) -> bool {
    p[0] > 220 && p[1] > 220 && p[2] > 220
}

fn green(p: [u8; 4]) -> bool {
    p[1] > 200 && p[0] < 90 && p[2] < 90
}

const TWO: [(&str, u64, u64); 2] = [("Fresh", 0, 20), ("Roast", 20, 40)];

#[test]
fn words_enter_as_they_are_spoken() {
    // `appear`: while the first word is spoken the second is not on screen; once both are
    // spoken the frame equals the whole-line one.
    let style = r#", "highlight": "none", "boxMode": "none""#;
    let line = captioned(320, 180, &TWO, style);
    let appear = captioned(320, 180, &TWO, &format!(r#"{style}, "wordEntrance": "appear""#));
    let (all, first) = (reel::render_still(&line, 10), reel::render_still(&appear, 10));
    let (a, f) = (columns(&all, white).expect("text"), columns(&first, white).expect("first word"));
    assert_eq!(a.0, f.0, "the first word stays where the whole line puts it");
    assert!(f.1 < (a.0 + a.1) / 2 + 10, "only the first word shows: {f:?} of {a:?}");
    assert_eq!(reel::render_still(&line, 30), reel::render_still(&appear, 30));
    // `fade`: a word part-way in is fainter than settled; `rise` starts lower.
    let fade = captioned(320, 180, &TWO, &format!(r#"{style}, "wordEntrance": "fade", "wordEntranceFrames": 10"#));
    let peak = |img: &RgbaImage| img.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    assert!(peak(&reel::render_still(&fade, 1)) < peak(&reel::render_still(&fade, 15)));
    let rise = captioned(320, 180, &TWO, &format!(r#"{style}, "wordEntrance": "rise", "wordEntranceFrames": 10"#));
    let top = |img: &RgbaImage| caption_rows(img).expect("text").0;
    assert!(top(&reel::render_still(&rise, 0)) > top(&reel::render_still(&rise, 15)));
}

#[test]
fn the_spoken_word_gets_a_box_or_pops() {
    // `box`: a plate of the highlight colour behind the spoken word only, the text white.
    let boxed = captioned(320, 180, &TWO, r#", "highlight": "box", "boxMode": "none""#);
    let (one, two) = (reel::render_still(&boxed, 10), reel::render_still(&boxed, 30));
    let (b1, b2) = (columns(&one, green).expect("a box"), columns(&two, green).expect("a box"));
    let text = columns(&one, white).expect("text");
    assert!(b1.0 + b1.1 < b2.0 + b2.1 && b1.1 < b2.1, "the box moves with the spoken word: {b1:?} then {b2:?}");
    assert!(b1.0 < text.0, "the box pads the word: {b1:?} around text from {}", text.0);
    // `pop`: the spoken word is drawn larger than the same word in `color`.
    let color = captioned(320, 180, &TWO, r#", "highlight": "color", "boxMode": "none""#);
    let pop = captioned(320, 180, &TWO, r#", "highlight": "pop", "highlightScale": 1.5, "boxMode": "none""#);
    let width = |p: &reel::Plan| columns(&reel::render_still(p, 10), green).map(|(a, b)| b - a).unwrap_or(0);
    let (plain, popped) = (width(&color), width(&pop));
    assert!(popped as f32 > plain as f32 * 1.35, "popped {popped} px against {plain}");
}

#[test]
fn outlines_shadows_and_a_box_per_word() {
    // A red outline; a box per word: two separate plates of the box colour on the middle
    // row of the text.
    let style = r##", "highlight": "none", "stroke": {"color": "#ff0000", "width": 3},
        "boxMode": "word", "box": {"color": "#0000ff", "padding": 6}"##;
    let plan = captioned(320, 180, &TWO, style);
    let img = reel::render_still(&plan, 30);
    assert!(img.pixels().any(|p| p.0[0] > 200 && p.0[1] < 60 && p.0[2] < 60), "a red outline");
    let blue = |p: [u8; 4]| p[2] > 200 && p[0] < 60 && p[1] < 60;
    let rows = caption_rows(&img).expect("caption");
    let y = (rows.0 + rows.1) / 2;
    let runs = (1..img.width()).filter(|&x| blue(img.get_pixel(x, y).0) && !blue(img.get_pixel(x - 1, y).0)).count();
    assert_eq!(runs, 2, "one box per word on row {y}");
    // Style values that cannot be met are errors with their paths.
    let json = r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 30}],
        "captions": {"words": [{"text": "Hi", "startFrame": 0, "endFrame": 9}],
        "style": {"highlight": "glow", "boxMode": "pill", "wordEntrance": "spin", "wordEntranceFrames": 0,
                  "highlightScale": 3, "stroke": {"color": "nope"}}}}"#;
    let ps = problems(json);
    for p in [
        "captions.style.highlight",
        "captions.style.boxMode",
        "captions.style.wordEntrance",
        "captions.style.wordEntranceFrames",
        "captions.style.stroke.color",
    ] {
        assert!(ps.iter().any(|x| x.path == p), "{p} in {ps:?}");
    }
}
