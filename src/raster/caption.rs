//! Painting a caption line: its boxes first (the line's, each word's, the spoken word's),
//! then each word's cell of the laid-out text, as its entrance and the highlight say.
//! Which line and word a frame shows comes from [`CaptionAt`]; this file only paints.

use super::frame::CaptionAt;
use super::layer::PixelRect;
use crate::anim::Easing;
use crate::plan::captions::{BoxMode, Entrance, Highlight, WordSpan, POP_FRAMES};
use tiny_skia::{FillRule, FilterQuality, Paint, Pattern, Pixmap, PixmapMut, Rect, SpreadMode, Transform};

/// How one word is drawn at this frame.
struct WordLook {
    /// 0 hides the word.
    opacity: f32,
    scale: f32,
    /// Vertical offset, pixels.
    dy: f32,
    spoken: bool,
}

/// The caption line of `c`. Returns the rectangle it may have drawn in (clipped to the
/// canvas), if any.
pub(super) fn paint(c: CaptionAt, out: &mut PixmapMut) -> Option<PixelRect> {
    let (plan, line) = (c.plan, c.line);
    let block = &line.block;
    let rasters = line.ink.get();
    let pad = plan.plate.padding;
    let line_pad = if plan.box_mode == BoxMode::Line { pad } else { 0.0 };
    // The line's box (its text plus padding) sits on the anchor; the text inside it.
    let (bw, bh) = (block.width + 2.0 * line_pad, block.height + 2.0 * line_pad);
    let (mx, my) = block.origin;
    let x = (plan.x - bw / 2.0 + line_pad - mx).round();
    let y = (plan.y - plan.anchor_y * bh + line_pad - my).round();
    let looks: Vec<WordLook> = line.words.iter().enumerate().map(|(i, w)| look(&c, i, w)).collect();

    // Boxes, under all the text.
    let fill = |out: &mut PixmapMut, r: (f32, f32, f32, f32), color: tiny_skia::Color, opacity: f32| {
        let mut color = color;
        color.apply_opacity(opacity);
        let Some(rect) = Rect::from_ltrb(r.0, r.1, r.2, r.3) else { return };
        let Some(path) = crate::pixels::rounded_rect(rect, plan.plate.radius) else { return };
        let paint = Paint { shader: tiny_skia::Shader::SolidColor(color), anti_alias: true, ..Paint::default() };
        out.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
    };
    if plan.box_mode == BoxMode::Line && looks.iter().any(|l| l.opacity > 0.0) {
        let (l, t) = (x + mx - line_pad, y + my - line_pad);
        fill(out, (l, t, l + bw, t + bh), plan.plate.color, 1.0);
    }
    for (w, lk) in line.words.iter().zip(&looks).filter(|(_, l)| l.opacity > 0.0) {
        let (x0, y0, x1, y1) = w.ink;
        // A word's box is padded sideways up to a pixel short of its cell, so the boxes of
        // two words never touch.
        let (l, r) = ((x0 - pad).max(w.cell.0 as f32 + 1.0), (x1 + pad).min(w.cell.2 as f32 - 1.0));
        let r = |grow: f32| {
            let (cx, cy) = ((l + r) / 2.0 + x, (y0 + y1) / 2.0 + y + lk.dy);
            let (hw, hh) = ((r - l) / 2.0, (y1 - y0) / 2.0);
            (cx - hw * grow, cy - hh * grow, cx + hw * grow, cy + hh * grow)
        };
        if plan.box_mode == BoxMode::Word {
            fill(out, r(lk.scale), plan.plate.color, lk.opacity);
        }
        if lk.spoken && plan.highlight == Highlight::Box {
            fill(out, r(lk.scale), plan.highlight_color, lk.opacity);
        }
    }

    // The text, word by word; the spoken word last, so a popped word is on top.
    let mut order: Vec<usize> = (0..line.words.len()).collect();
    order.sort_by_key(|&i| looks[i].spoken);
    for i in order {
        let (w, lk) = (&line.words[i], &looks[i]);
        if lk.opacity <= 0.0 {
            continue;
        }
        let colored = lk.spoken && matches!(plan.highlight, Highlight::Color | Highlight::Pop(_));
        let Some(src) = rasters.get(usize::from(colored)) else { continue };
        draw_cell(out, src, w, (x, y + lk.dy), lk.scale, lk.opacity);
    }

    // Everything drawn lies within the pixmap's rectangle grown by the padding, the rise
    // and the pop.
    let (pw, ph) = (line.ink.size().0 as f32, line.ink.size().1 as f32);
    let pop = match plan.highlight {
        Highlight::Pop(s) => s,
        _ => 1.0,
    };
    let grow = pad + plan.size + (pop - 1.0) * pw.max(ph);
    let clamp = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
    let r = (
        clamp((x - grow).floor(), out.width()),
        clamp((y - grow).floor(), out.height()),
        clamp((x + pw + grow).ceil(), out.width()),
        clamp((y + ph + grow).ceil(), out.height()),
    );
    (r.0 < r.2 && r.1 < r.3).then_some(r)
}

/// How word `i` of the line is drawn at the caption's frame.
fn look(c: &CaptionAt, i: usize, w: &WordSpan) -> WordLook {
    let plan = c.plan;
    let spoken = c.word == Some(i);
    let since = c.frame.checked_sub(w.start);
    let progress = |n: u64| since.map_or(0.0, |s| (s as f32 + 1.0) / n as f32).min(1.0);
    let t = Easing::EaseOut.apply(progress(plan.entrance_frames));
    let (opacity, mut scale, dy) = match (plan.entrance, since) {
        (Entrance::None, _) => (1.0, 1.0, 0.0),
        (_, None) => (0.0, 1.0, 0.0),
        (Entrance::Appear, Some(_)) => (1.0, 1.0, 0.0),
        (Entrance::Fade, Some(_)) => (t, 1.0, 0.0),
        (Entrance::Pop, Some(_)) => (t, 0.5 + 0.5 * Easing::Spring.apply(progress(plan.entrance_frames)), 0.0),
        (Entrance::Rise, Some(_)) => (t, 1.0, (1.0 - t) * plan.size * 0.4),
    };
    if let (Highlight::Pop(s), true) = (plan.highlight, spoken) {
        scale *= 1.0 + (s - 1.0) * Easing::EaseOut.apply(progress(POP_FRAMES));
    }
    WordLook { opacity, scale, dy: dy.round(), spoken }
}

/// Draws word `w`'s cell of `src`, placed at `at`, scaled by `scale` about its ink's
/// centre, at `opacity`.
fn draw_cell(out: &mut PixmapMut, src: &Pixmap, w: &WordSpan, at: (f32, f32), scale: f32, opacity: f32) {
    let (l, t, r, b) = w.cell;
    if r <= l || b <= t {
        return;
    }
    let (x, y) = (at.0 as i32, at.1 as i32);
    if (scale - 1.0).abs() < 1e-3 {
        crate::pixels::blit::over(out, src, x, y, opacity, w.cell);
        return;
    }
    let (cx, cy) = ((w.ink.0 + w.ink.2) / 2.0, (w.ink.1 + w.ink.3) / 2.0);
    // Source pixel (u, v) lands at at + c + (u - c) * scale.
    let ts = Transform::from_translate(at.0 + cx, at.1 + cy).pre_scale(scale, scale).pre_translate(-cx, -cy);
    let Some(dest) = Rect::from_ltrb(l as f32, t as f32, r as f32, b as f32).and_then(|r| r.transform(ts)) else {
        return;
    };
    let paint = Paint {
        shader: Pattern::new(src.as_ref(), SpreadMode::Pad, FilterQuality::Bilinear, opacity, ts),
        anti_alias: true,
        ..Paint::default()
    };
    out.fill_rect(dest, &paint, Transform::identity(), None);
}
