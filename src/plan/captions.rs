//! Captions: word timings from the JSON or an SRT/WebVTT file, grouped into lines, laid out
//! once per line (plain and highlighted), placed inside the safe area.

use super::check::{Axis, Checker, Ctx};
use crate::model::{CaptionStyle, Captions, Length};
use crate::text::{Align, PlateSpec, TextBlock, TextSpec, DEFAULT_FAMILY};
use std::sync::Arc;
use tiny_skia::Color;

/// One timed word, in frames.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    pub text: String,
    pub start: u64,
    pub end: u64,
}

/// One caption line on screen.
#[derive(Debug)]
pub(crate) struct CaptionLine {
    pub start: u64,
    pub end: u64,
    pub plain: Arc<TextBlock>,
    pub highlight: Arc<TextBlock>,
    /// Each word's time span and its x range in the blocks' pixmaps.
    pub words: Vec<(u64, u64, f32, f32)>,
}

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
    let mut cues = 0;
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
            words.push(Word { text: w.to_string(), start: s, end: e });
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
    layout(ck, ctx, &words, &style)
}

fn layout(ck: &mut Checker, ctx: &mut Ctx, words: &[Word], st: &CaptionStyle) -> Option<CaptionsPlan> {
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
    let highlight =
        st.highlight_color.as_deref().map(|c| ck.color("captions.style.highlightColor", c, palette)).unwrap_or_else(
            || {
                palette
                    .get("accent")
                    .and_then(|c| super::color::parse_literal(c))
                    .unwrap_or(Color::from_rgba8(255, 209, 102, 255))
            },
        );
    let plate = match &st.plate {
        Some(b) => Some(PlateSpec {
            color: b
                .color
                .as_deref()
                .map(|c| ck.color("captions.style.box.color", c, palette))
                .unwrap_or(Color::from_rgba8(0, 0, 0, 160)),
            padding: if b.padding.is_some() {
                ctx.nonneg(ck, "captions.style.box.padding", &b.padding, Axis::W)
            } else {
                size * 0.3
            },
            radius: if b.corner_radius.is_some() {
                ctx.nonneg(ck, "captions.style.box.cornerRadius", &b.corner_radius, Axis::W)
            } else {
                size * 0.2
            },
        }),
        None => Some(PlateSpec { color: Color::from_rgba8(0, 0, 0, 160), padding: size * 0.3, radius: size * 0.2 }),
    };
    let (x, y, anchor_y) = match st.position.as_deref() {
        None | Some("bottom") => (ctx.w / 2.0, ctx.h * 0.9, 1.0),
        Some("top") => (ctx.w / 2.0, ctx.h * 0.1, 0.0),
        Some("center") => (ctx.w / 2.0, ctx.h * 0.5, 0.5),
        Some(other) => {
            ck.err(
                "captions.style.position",
                format!("expected one of \"bottom\", \"top\", \"center\", found {other:?}"),
            );
            (ctx.w / 2.0, ctx.h * 0.9, 1.0)
        }
    };
    if !ck.problems.is_empty() {
        return None;
    }
    let family = ctx
        .style
        .typography
        .body_font
        .as_deref()
        .and_then(|f| ctx.fonts.find_family(f))
        .unwrap_or_else(|| DEFAULT_FAMILY.into());
    let mut lines = Vec::new();
    for group in words.chunks(per_line) {
        let text = group.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
        let mut spec = TextSpec::new(text, family.clone(), size, ctx.w * 0.9);
        spec.weight = 700;
        spec.align = Align::Center;
        spec.max_lines = Some(2);
        spec.color = color;
        spec.plate = plate;
        let plain = ctx.fonts.layout(&spec);
        spec.color = highlight;
        spec.plate = plate.map(|p| PlateSpec { color: Color::TRANSPARENT, ..p });
        let high = ctx.fonts.layout(&spec);
        // Word k spans the glyphs after the (k-1)-th word end up to the k-th.
        let mut spans = Vec::new();
        let mut it = plain.glyphs.iter().peekable();
        for w in group {
            let (mut x0, mut x1) = (f32::INFINITY, f32::NEG_INFINITY);
            for g in it.by_ref() {
                x0 = x0.min(g.x0);
                x1 = x1.max(g.x1);
                if g.word_end {
                    break;
                }
            }
            spans.push((w.start, w.end, x0, x1));
        }
        let start = group.first().map(|w| w.start).unwrap_or(0);
        let end = group.last().map(|w| w.end).unwrap_or(start + 1);
        lines.push(CaptionLine { start, end, plain: Arc::new(plain), highlight: Arc::new(high), words: spans });
    }
    // A line stays up until the next one starts (no flicker in short pauses under a second).
    let n = lines.len();
    for i in 0..n.saturating_sub(1) {
        let next = lines[i + 1].start;
        if next > lines[i].end && next - lines[i].end < 30 {
            lines[i].end = next;
        }
    }
    Some(CaptionsPlan { uid: super::next_uid(), lines, x, y, anchor_y })
}

#[cfg(test)]
mod tests {
    use super::*;

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
