//! Captions: word timings from the JSON or an SRT/WebVTT file, grouped into lines, laid out
//! once per line, placed inside the safe area. A line's rasters (plain and highlighted)
//! are painted when a render comes near the line and let go after it, so captions take
//! the same memory in a 10-minute video as in a 30-second one.

use super::check::{Axis, Checker, Ctx};
use crate::model::{CaptionStyle, Captions, Length};
use crate::text::{Align, PlateSpec, TextBlock, TextRasters, TextSpec, DEFAULT_FAMILY};
use tiny_skia::Color;

/// One timed word, in frames.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    pub text: String,
    pub start: u64,
    pub end: u64,
    /// The subtitle cue the word came from (0 for words given in the JSON): a caption
    /// line never joins words of two cues.
    pub cue: u32,
}

/// One word of a caption line: when it is spoken and where it is in the line's blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WordSpan {
    pub start: u64,
    pub end: u64,
    /// The word's glyphs, in the blocks' pixmaps: x0, y0, x1, y1 (its line's band).
    pub ink: (f32, f32, f32, f32),
    /// The part of the pixmaps that belongs to this word (its ink, outline and shadow):
    /// x0, y0, x1, y1, whole pixels. The cells of a line's words tile the pixmap.
    pub cell: (i32, i32, i32, i32),
}

/// One caption line on screen.
#[derive(Debug)]
pub(crate) struct CaptionLine {
    pub start: u64,
    pub end: u64,
    /// The words' layout, without a box (boxes are painted per frame). Its `pixmap` is a
    /// placeholder: the rasters are [`CaptionLine::ink`]'s.
    pub block: TextBlock,
    /// The words in the caption colour and in the highlight colour (W4's 27 lines held 19
    /// MB when they were painted at planning and kept to the end).
    pub ink: TextRasters,
    pub words: Vec<WordSpan>,
}

/// Where caption boxes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoxMode {
    Line,
    Word,
    None,
}

/// How the spoken word stands out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Highlight {
    Color,
    Box,
    /// Drawn in the highlight color at this scale.
    Pop(f32),
    None,
}

/// How each word comes on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entrance {
    None,
    Appear,
    Fade,
    Pop,
    Rise,
}

/// Frames a spoken word takes to grow to its `pop` scale.
pub(crate) const POP_FRAMES: u64 = 4;

/// Everything needed to paint captions.
#[derive(Debug)]
pub(crate) struct CaptionsPlan {
    /// Unique in the process, as [`super::ScenePlan::uid`]: what per-worker caches key on.
    pub uid: u64,
    pub lines: Vec<CaptionLine>,
    /// Anchor point (canvas pixels) and vertical anchor (0 top, 0.5 center, 1 bottom).
    pub x: f32,
    pub y: f32,
    pub anchor_y: f32,
    /// The text size, pixels.
    pub size: f32,
    /// The box: its color, padding and corners (the padding also pads the highlight's
    /// box); where it goes.
    pub plate: PlateSpec,
    pub box_mode: BoxMode,
    pub highlight: Highlight,
    /// The highlight color (the spoken word's box with [`Highlight::Box`]).
    pub highlight_color: Color,
    pub entrance: Entrance,
    pub entrance_frames: u64,
}

impl CaptionsPlan {
    /// Whether frame `frame` of `line` differs from the frames around it only by the word
    /// spoken and the words started: no word is part-way through an animation.
    pub fn settled(&self, line: &CaptionLine, frame: u64) -> bool {
        let moving = |w: &WordSpan, n: u64| w.start <= frame && frame < w.start + n;
        let entering = !matches!(self.entrance, Entrance::None | Entrance::Appear)
            && line.words.iter().any(|w| moving(w, self.entrance_frames));
        let popping = matches!(self.highlight, Highlight::Pop(_)) && line.words.iter().any(|w| moving(w, POP_FRAMES));
        !entering && !popping
    }
}

/// Parses SRT or WebVTT into words with frame timings. Each cue's duration is shared among
/// its words by their length. Errors carry the 1-based line number.
pub(crate) fn parse_subtitles(text: &str, fps: crate::time::Fps) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    if lines.first().is_some_and(|l| l.trim_start_matches('\u{feff}').starts_with("WEBVTT")) {
        // Skip the header block.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    let mut cues = 0u32;
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        // Optional cue identifier (SRT index, VTT id), then the timing line.
        if !lines[i].contains("-->") {
            if lines[i].trim_start().starts_with("NOTE") || lines[i].trim_start().starts_with("STYLE") {
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
                continue;
            }
            i += 1;
        }
        let Some(timing) = lines.get(i) else {
            return Err(format!("line {i}: a cue ends before its timing line"));
        };
        let (a, b) = timing.split_once("-->").ok_or_else(|| {
            format!(
                "line {}: expected a timing line like 00:00:01,000 --> 00:00:02,500, found {:?}",
                i + 1,
                timing.trim()
            )
        })?;
        let b = b.split_whitespace().next().unwrap_or("");
        let (t0, t1) = match (parse_time(a.trim()), parse_time(b)) {
            (Some(t0), Some(t1)) if t1 > t0 => (t0, t1),
            (Some(_), Some(_)) => {
                return Err(format!("line {}: the cue ends before it starts: {:?}", i + 1, timing.trim()))
            }
            _ => {
                return Err(format!(
                    "line {}: expected times like 00:00:01,000 or 00:01.000, found {:?}",
                    i + 1,
                    timing.trim()
                ))
            }
        };
        i += 1;
        let mut text = String::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            text.push(' ');
            text.push_str(&strip_tags(lines[i]));
            i += 1;
        }
        let ws: Vec<&str> = text.split_whitespace().collect();
        let total: usize = ws.iter().map(|w| w.chars().count()).sum::<usize>().max(1);
        let (f0, f1) = (fps.frames_for_seconds(t0), fps.frames_for_seconds(t1).max(fps.frames_for_seconds(t0) + 1));
        let mut acc = 0usize;
        for w in &ws {
            let s = f0 + ((f1 - f0) as usize * acc / total) as u64;
            acc += w.chars().count();
            let e = (f0 + ((f1 - f0) as usize * acc / total) as u64).max(s + 1);
            words.push(Word { text: w.to_string(), start: s, end: e, cue: cues });
        }
        cues += 1;
    }
    if cues == 0 {
        return Err("no cues found (expected SRT or WebVTT)".into());
    }
    Ok(words)
}

fn parse_time(s: &str) -> Option<f64> {
    let s = s.replace(',', ".");
    let parts: Vec<&str> = s.split(':').collect();
    let secs: f64 = parts.last()?.parse().ok()?;
    let (h, m) = match parts.len() {
        3 => (parts[0].parse::<f64>().ok()?, parts[1].parse::<f64>().ok()?),
        2 => (0.0, parts[0].parse::<f64>().ok()?),
        _ => return None,
    };
    // Hours and minutes are whole, non-negative and finite; a cue's time stays within a
    // day (a video is at most an hour; 1e300 hours would overflow frame arithmetic).
    let whole = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
    (secs.is_finite() && (0.0..60.0).contains(&secs) && whole(m) && m < 60.0 && whole(h) && h < 24.0)
        .then_some(h * 3600.0 + m * 60.0 + secs)
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Validates and lays out the captions block.
pub(super) fn build(
    ck: &mut Checker,
    ctx: &mut Ctx,
    c: &Captions,
    assets: &dyn crate::media::AssetResolver,
    fps: crate::time::Fps,
) -> Option<CaptionsPlan> {
    let words: Vec<Word> = match (&c.words, &c.asset) {
        (Some(ws), _) => {
            let mut out = Vec::new();
            let mut prev_end = 0i64;
            for (i, w) in ws.iter().enumerate() {
                let p = format!("captions.words[{i}]");
                if w.text.trim().is_empty() {
                    ck.err(format!("{p}.text"), "expected a word, found an empty string");
                }
                if w.start_frame < 0 || w.end_frame <= w.start_frame {
                    ck.err(
                        format!("{p}.endFrame"),
                        format!("expected endFrame > startFrame >= 0, found {}..{}", w.start_frame, w.end_frame),
                    );
                    continue;
                }
                if w.start_frame < prev_end {
                    ck.err(
                        format!("{p}.startFrame"),
                        format!("words must be in order without overlapping: starts at {} before the previous word ends at {prev_end}", w.start_frame),
                    );
                }
                prev_end = w.end_frame;
                out.push(Word {
                    text: w.text.trim().to_string(),
                    start: w.start_frame as u64,
                    end: w.end_frame as u64,
                    cue: 0,
                });
            }
            out
        }
        (None, Some(key)) => {
            let file = match assets.resolve(key) {
                Ok(f) => f,
                Err(why) => {
                    ck.err("captions.asset", format!("asset {key:?}: {why}"));
                    return None;
                }
            };
            // The size is checked from the file's metadata before it is read, and the read
            // is bounded again in case the file grows meanwhile.
            const MAX_CAPTION_BYTES: u64 = 16 << 20;
            let read = std::fs::File::open(&file).and_then(|f| {
                use std::io::Read;
                if f.metadata()?.len() > MAX_CAPTION_BYTES {
                    return Ok(None);
                }
                let mut b = Vec::new();
                f.take(MAX_CAPTION_BYTES + 1).read_to_end(&mut b)?;
                Ok((b.len() as u64 <= MAX_CAPTION_BYTES).then_some(b))
            });
            let text = match read {
                Ok(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
                Ok(None) => {
                    ck.err("captions.asset", format!("asset {key:?}: larger than 16 MB"));
                    return None;
                }
                Err(e) => {
                    ck.err("captions.asset", format!("asset {key:?}: {e}"));
                    return None;
                }
            };
            match parse_subtitles(&text, fps) {
                Ok(w) => w,
                Err(e) => {
                    ck.err("captions.asset", format!("asset {key:?}: {e}"));
                    return None;
                }
            }
        }
        (None, None) => {
            ck.err("captions", "captions need \"words\" or an \"asset\" (SRT or WebVTT)");
            return None;
        }
    };
    let style = c.style.clone().unwrap_or_default();
    layout(ck, ctx, &words, &style, fps, c.words.is_some())
}

/// A silence at least this long between two words ends a caption line.
const PAUSE_SECONDS: f64 = 0.3;

/// Platforms' safe areas, as fractions of the canvas: top, bottom, left, right. The bottom
/// margins keep captions above each app's caption, buttons and progress bar on a 9:16
/// canvas; `youtube` is for landscape players.
const SAFE_AREAS: &[(&str, [f32; 4])] = &[
    ("tiktok", [0.08, 0.25, 0.06, 0.12]),
    ("reels", [0.12, 0.22, 0.06, 0.12]),
    ("shorts", [0.10, 0.20, 0.06, 0.12]),
    ("youtube", [0.10, 0.10, 0.05, 0.05]),
    ("none", [0.0, 0.0, 0.0, 0.0]),
];

/// Where a caption line may cut: before word `i` when the line already holds `per_line`
/// words, at a pause, at a new subtitle cue, or after a sentence's end.
fn groups(words: &[Word], per_line: usize, pause: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=words.len() {
        let cut = i == words.len() || {
            let (prev, w) = (&words[i - 1], &words[i]);
            i - start >= per_line
                || w.start >= prev.end + pause
                || w.cue != prev.cue
                || prev.text.ends_with(['.', '!', '?', '\u{2026}', '\u{3002}', '\u{ff01}', '\u{ff1f}'])
        };
        if cut {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// How every caption line looks: what [`lay_out`] needs besides the words.
struct Look {
    /// Where the words came from, for warnings: `captions.words` or `captions.asset`.
    source: &'static str,
    /// Set once a missing glyph was warned about (once for all the captions).
    warned: std::cell::Cell<bool>,
    family: String,
    weight: u16,
    uppercase: bool,
    size: f32,
    max_width: f32,
    color: Color,
    highlight: Color,
    stroke: Option<(Color, f32)>,
    shadow: Option<crate::text::ShadowSpec>,
}

const BOX_MODES: &[(&str, BoxMode)] = &[("line", BoxMode::Line), ("word", BoxMode::Word), ("none", BoxMode::None)];
const HIGHLIGHTS: &[(&str, Highlight)] =
    &[("color", Highlight::Color), ("box", Highlight::Box), ("pop", Highlight::Pop(1.2)), ("none", Highlight::None)];
const ENTRANCES: &[(&str, Entrance)] = &[
    ("none", Entrance::None),
    ("appear", Entrance::Appear),
    ("fade", Entrance::Fade),
    ("pop", Entrance::Pop),
    ("rise", Entrance::Rise),
];

fn layout(
    ck: &mut Checker,
    ctx: &mut Ctx,
    words: &[Word],
    st: &CaptionStyle,
    fps: crate::time::Fps,
    words_from_json: bool,
) -> Option<CaptionsPlan> {
    let per_line = match st.max_words_per_line {
        None => 4,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => {
            ck.err("captions.style.maxWordsPerLine", format!("expected 1..=50, found {n}"));
            4
        }
    };
    let size = ctx
        .len(ck, "captions.style.fontSize", st.font_size.as_ref().unwrap_or(&Length::Str("5%".into())), Axis::H)
        .clamp(4.0, 500.0);
    let palette = ctx.palette;
    let color =
        st.color.as_deref().map(|c| ck.color("captions.style.color", c, palette)).unwrap_or_else(|| {
            palette.get("text").and_then(|c| super::color::parse_literal(c)).unwrap_or(Color::WHITE)
        });
    let highlight_color =
        st.highlight_color.as_deref().map(|c| ck.color("captions.style.highlightColor", c, palette)).unwrap_or_else(
            || {
                palette
                    .get("accent")
                    .and_then(|c| super::color::parse_literal(c))
                    .unwrap_or(Color::from_rgba8(255, 209, 102, 255))
            },
        );
    let box_mode = match st.box_mode.as_deref() {
        None => BoxMode::Line,
        Some(m) => ck.pick("captions.style.boxMode", m, BOX_MODES).unwrap_or(BoxMode::Line),
    };
    let b = st.plate.clone().unwrap_or_default();
    let plate = PlateSpec {
        color: b
            .color
            .as_deref()
            .map(|c| ck.color("captions.style.box.color", c, palette))
            .unwrap_or(Color::from_rgba8(0, 0, 0, 160)),
        padding: if b.padding.is_some() {
            ctx.nonneg(ck, "captions.style.box.padding", &b.padding, Axis::W).min(size * 4.0)
        } else {
            size * 0.3
        },
        radius: if b.corner_radius.is_some() {
            ctx.nonneg(ck, "captions.style.box.cornerRadius", &b.corner_radius, Axis::W)
        } else {
            size * 0.2
        },
    };
    if st.plate.is_some() && box_mode == BoxMode::None {
        ck.warn("captions.style.box", "ignored: boxMode is \"none\"");
    }
    let mut highlight = match st.highlight.as_deref() {
        None => Highlight::Color,
        Some(h) => ck.pick("captions.style.highlight", h, HIGHLIGHTS).unwrap_or(Highlight::Color),
    };
    if let Highlight::Pop(s) = &mut highlight {
        *s = ck.range("captions.style.highlightScale", st.highlight_scale, 1.0, 2.0, 1.2) as f32;
    } else if st.highlight_scale.is_some() {
        ck.warn("captions.style.highlightScale", "ignored: the scale is for highlight \"pop\"");
    }
    let entrance = match st.word_entrance.as_deref() {
        None => Entrance::None,
        Some(e) => ck.pick("captions.style.wordEntrance", e, ENTRANCES).unwrap_or(Entrance::None),
    };
    let entrance_frames = ck.frames("captions.style.wordEntranceFrames", st.word_entrance_frames, 1, 5).min(600);
    if entrance_frames > 60 {
        ck.err("captions.style.wordEntranceFrames", format!("expected 1..=60, found {entrance_frames}"));
    }
    let stroke = super::text::stroke(ck, ctx, "captions.style.stroke", st.stroke.as_ref(), (size / 12.0).max(1.0));
    let shadow = super::text::shadow(ck, ctx, "captions.style.shadow", st.shadow.as_ref(), size);
    let weight = match st.font_weight {
        None => 700,
        Some(w) if (100..=900).contains(&w) => w as u16,
        Some(w) => {
            ck.err("captions.style.fontWeight", format!("expected 100..=900, found {w}"));
            700
        }
    };
    // The safe area: a platform's, margins, or the default for the canvas's shape.
    let (w, h) = (ctx.w, ctx.h);
    let named = |name: &str| SAFE_AREAS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f);
    let fractions = |f: [f32; 4]| (f[0] * h, f[1] * h, f[2] * w, f[3] * w);
    let (top, bottom, left, right) = match &st.safe_area {
        None => fractions(named(if h > w { "tiktok" } else { "youtube" }).unwrap_or([0.0; 4])),
        Some(crate::model::StrOr::Str(name)) => match named(name) {
            Some(f) => fractions(f),
            None => {
                let names: Vec<String> = SAFE_AREAS.iter().map(|(n, _)| format!("{n:?}")).collect();
                ck.err(
                    "captions.style.safeArea",
                    format!("expected one of {} or margins, found {name:?}", names.join(", ")),
                );
                (0.0, 0.0, 0.0, 0.0)
            }
        },
        Some(crate::model::StrOr::Obj(m)) => {
            let p = "captions.style.safeArea";
            (
                ctx.len_opt(ck, &format!("{p}.top"), &m.top, Axis::H).unwrap_or(0.0),
                ctx.len_opt(ck, &format!("{p}.bottom"), &m.bottom, Axis::H).unwrap_or(0.0),
                ctx.len_opt(ck, &format!("{p}.left"), &m.left, Axis::W).unwrap_or(0.0),
                ctx.len_opt(ck, &format!("{p}.right"), &m.right, Axis::W).unwrap_or(0.0),
            )
        }
    };
    if top < 0.0 || bottom < 0.0 || left < 0.0 || right < 0.0 || top + bottom > h * 0.9 || left + right > w * 0.9 {
        ck.err(
            "captions.style.safeArea",
            format!(
                "margins must be non-negative and leave a tenth of the canvas: found top {top}, bottom {bottom}, \
                 left {left}, right {right} on {w}x{h}"
            ),
        );
    }
    let x = left + (w - left - right) / 2.0;
    let (y, anchor_y) = match st.position.as_deref() {
        None | Some("bottom") => (h - bottom, 1.0),
        Some("top") => (top, 0.0),
        Some("center") => (top + (h - top - bottom) / 2.0, 0.5),
        Some(other) => {
            ck.err(
                "captions.style.position",
                format!("expected one of \"bottom\", \"top\", \"center\", found {other:?}"),
            );
            (h - bottom, 1.0)
        }
    };
    // A caption font the library lacks is an error; the body font falls back as text does.
    if let Some(f) = st.font.as_deref().filter(|f| ctx.fonts.find_family(f).is_none()) {
        ck.err("captions.style.font", format!("no font family {f:?} is available (reel fonts lists them)"));
    }
    let family = st
        .font
        .as_deref()
        .or(ctx.style.typography.body_font.as_deref())
        .and_then(|f| ctx.fonts.find_family(f))
        .unwrap_or_else(|| DEFAULT_FAMILY.into());
    let weight_path = if st.font_weight.is_some() { "captions.style.fontWeight" } else { "captions.style.font" };
    super::text::warn_weight(ck, ctx, weight_path, &family, weight);
    if !ck.problems.is_empty() {
        return None;
    }
    // A line's box stays inside the safe area: the text wraps inside its padding.
    let pad = if box_mode == BoxMode::Line { plate.padding } else { 0.0 };
    let look = Look {
        source: if words_from_json { "captions.words" } else { "captions.asset" },
        warned: std::cell::Cell::new(false),
        family,
        weight,
        uppercase: st.uppercase == Some(true),
        size,
        max_width: (w - left - right - 2.0 * pad).max(size),
        color,
        highlight: highlight_color,
        stroke,
        shadow,
    };
    let pause = fps.frames_for_seconds(PAUSE_SECONDS).max(1);
    let mut lines = Vec::new();
    for g in groups(words, per_line, pause) {
        lay_out(ck, ctx, &words[g], &look, &mut lines);
    }
    // A line stays up until the next one starts when the silence between is under a
    // second (no flicker in short pauses).
    let bridge = fps.frames_for_seconds(1.0);
    let n = lines.len();
    for i in 0..n.saturating_sub(1) {
        let next = lines[i + 1].start;
        if next > lines[i].end && next - lines[i].end < bridge {
            lines[i].end = next;
        }
    }
    Some(CaptionsPlan {
        uid: super::next_uid(),
        lines,
        x,
        y,
        anchor_y,
        size,
        plate,
        box_mode,
        highlight,
        highlight_color,
        entrance,
        entrance_frames,
    })
}

/// Lays out `words` as one caption line, or, when they take more than two lines of text
/// at the caption's width, as two halves in turn: no word is ever cut from the captions.
/// A single word too long for two lines is shortened with an ellipsis.
fn lay_out(ck: &mut Checker, ctx: &mut Ctx, words: &[Word], look: &Look, out: &mut Vec<CaptionLine>) {
    let text = words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
    let text = if look.uppercase { text.to_uppercase() } else { text };
    let mut spec = TextSpec::new(text, look.family.clone(), look.size, look.max_width);
    spec.weight = look.weight;
    spec.align = Align::Center;
    spec.max_lines = (words.len() == 1).then_some(2);
    spec.color = look.color;
    spec.stroke = look.stroke;
    spec.shadow = look.shadow;
    let (plain, ink) = match ctx.fonts.shape_within(&spec, u64::MAX) {
        Ok(shaped) => shaped,
        Err(_) => return, // not reached: no size is refused
    };
    if plain.lines > 2 && words.len() > 1 {
        let mid = words.len().div_ceil(2);
        lay_out(ck, ctx, &words[..mid], look, out);
        lay_out(ck, ctx, &words[mid..], look, out);
        return;
    }
    if !plain.missing.is_empty() && !look.warned.replace(true) {
        super::text::warn_missing(ck, look.source, &plain);
    }
    // Word k spans the glyphs after the (k-1)-th word's end up to its own, on the line of
    // its first glyph; spaces have no ink.
    let mut inks = Vec::new();
    let mut it = plain.glyphs.iter().peekable();
    for w in words {
        // A timed "word" may hold spaces ("New York"): it ends at its last piece's end.
        let mut pieces = w.text.split_whitespace().count().max(1);
        let (mut x0, mut x1, mut line) = (f32::INFINITY, f32::NEG_INFINITY, None);
        for g in it.by_ref() {
            if !g.blank {
                let first = *line.get_or_insert(g.line);
                if g.line == first {
                    x0 = x0.min(g.x0);
                    x1 = x1.max(g.x1);
                }
            }
            if g.word_end {
                pieces -= 1;
                if pieces == 0 {
                    break;
                }
            }
        }
        inks.push((line.unwrap_or(0), x0, x1));
    }
    let (pw, ph) = (ink.size.0 as i32, ink.size.1 as i32);
    let last_line = plain.bands.len().saturating_sub(1);
    let mut spans = Vec::new();
    for (k, (w, &(line, x0, x1))) in words.iter().zip(&inks).enumerate() {
        let band = plain.bands.get(line);
        let (y0, y1) = band.map_or((0.0, ph as f32), |b| (b.top, b.bottom));
        let (x0, x1) = if x1 >= x0 { (x0, x1) } else { (0.0, 0.0) };
        // The cell reaches halfway to the words beside it on its line (in either
        // direction: a right-to-left line runs the other way), and to the pixmap's edges
        // at a line's ends, its first line's top and its last line's bottom.
        let beside = |j: usize| inks.get(j).filter(|i| i.0 == line && i.2 >= i.1);
        let mut left = 0i32;
        let mut right = pw;
        for j in [k.wrapping_sub(1), k + 1] {
            if let Some(&(_, ox0, ox1)) = beside(j) {
                if ox0 + ox1 < x0 + x1 {
                    left = left.max(((ox1 + x0) / 2.0).round() as i32);
                } else {
                    right = right.min(((x1 + ox0) / 2.0).round() as i32);
                }
            }
        }
        let top = if line == 0 { 0 } else { y0.round() as i32 };
        let bottom = if line >= last_line { ph } else { y1.round() as i32 };
        spans.push(WordSpan { start: w.start, end: w.end, ink: (x0, y0, x1, y1), cell: (left, top, right, bottom) });
    }
    let start = words.first().map(|w| w.start).unwrap_or(0);
    let end = words.last().map(|w| w.end).unwrap_or(start + 1);
    let ink = TextRasters::new(ink, vec![look.color, look.highlight], ctx.fonts.clone());
    out.push(CaptionLine { start, end, block: plain, ink, words: spans });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caption line's rasters are painted when first wanted (not at planning), in the
    /// caption and the highlight colour, and painted again after being let go they are the
    /// same pixels: the render's loader lets lines go after they show.
    #[test]
    fn caption_lines_are_painted_when_wanted_and_the_same_again() {
        let json = r##"{"id": "c", "width": 320, "height": 180, "fps": 30,
          "scenes": [{"id": "s", "durationFrames": 90, "background": "#203040"}],
          "captions": {"words": [{"text": "Shadow", "startFrame": 0, "endFrame": 20},
              {"text": "and", "startFrame": 20, "endFrame": 30}, {"text": "stroke", "startFrame": 30, "endFrame": 50},
              {"text": "again", "startFrame": 60, "endFrame": 80}],
            "style": {"maxWordsPerLine": 3, "highlightColor": "#ffd166", "stroke": {"color": "#000000", "width": 3},
              "shadow": {"color": "#00000080", "offsetY": 4, "blur": 6}}}}"##;
        let parsed = crate::parse(json).expect("parses");
        let plan = crate::Plan::build(&parsed, &crate::PlanOptions::new(".")).expect("plans");
        let lines = &plan.captions.as_ref().expect("captions").lines;
        assert_eq!(lines.len(), 2);
        for line in lines {
            assert!(!line.ink.is_loaded(), "planning keeps no caption raster");
            let first = line.ink.get();
            assert!(line.ink.is_loaded());
            let [plain, high] = &first[..] else { panic!("two rasters") };
            assert_eq!((plain.width(), plain.height()), line.ink.size());
            assert!(plain.pixels().iter().any(|p| p.alpha() > 0), "the words are drawn");
            assert!(plain.data() != high.data(), "the highlight raster has its own colour");
            line.ink.release();
            assert!(!line.ink.is_loaded());
            let again = line.ink.get();
            assert!(again[0].data() == plain.data() && again[1].data() == high.data(), "painted again, the same");
        }
    }

    #[test]
    fn srt_and_vtt() {
        let fps = crate::time::Fps::new(30, 1).unwrap_or(crate::time::Fps { num: 30, den: 1 });
        let srt =
            "1\n00:00:01,000 --> 00:00:02,000\nHello <i>big</i> world\n\n2\n00:00:02,500 --> 00:00:03,000\nAgain\n";
        let w = parse_subtitles(srt, fps).unwrap_or_default();
        assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["Hello", "big", "world", "Again"]);
        assert_eq!((w[0].start, w[2].end, w[3].start), (30, 60, 75));
        let vtt = "WEBVTT\n\nintro\n00:01.000 --> 00:02.000 align:center\nHi there\n";
        assert_eq!(parse_subtitles(vtt, fps).map(|w| w.len()), Ok(2));
        let bad = "1\n00:00:01,000 -> 00:00:02,000\nHi\n";
        assert_eq!(parse_subtitles(bad, fps).err().map(|e| e.starts_with("line 2:")), Some(true));
        let bad = "1\n00:00:03,000 --> 00:00:02,000\nHi\n";
        assert!(parse_subtitles(bad, fps).is_err());
    }
}
