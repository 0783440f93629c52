//! One layer at one instant: animation state, transform, content.

use super::fill::paint_box;
use crate::anim::Effect;
use crate::plan::{Content, Fill, LayerPlan, Plan, ShapeKind};
use tiny_skia::{
    FillRule, FilterQuality, Paint, PathBuilder, Pattern, PixmapMut, Rect, Shader, SpreadMode, Stroke, Transform,
};

/// The animated state of a layer at local frame `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct State {
    pub x: f32,
    pub y: f32,
    pub opacity: f32,
    pub scale: f32,
    pub rotation: f32,
    pub reveal: f32,
}

pub(crate) fn state(plan: &Plan, l: &LayerPlan, t: u64) -> State {
    let mut fx = Effect::IDENTITY;
    if let Some(m) = l.enter {
        if t < m.frames {
            fx = fx.then(m.effect(t as f32 / m.frames as f32, plan.slide_distance));
        }
    }
    if let Some(m) = l.exit {
        let from_end = l.len.saturating_sub(1).saturating_sub(t);
        if from_end < m.frames {
            fx = fx.then(m.effect(from_end as f32 / m.frames as f32, plan.slide_distance));
        }
    }
    let tr = &l.tracks;
    State {
        x: tr.x.value(t).unwrap_or(l.x) + fx.dx,
        y: tr.y.value(t).unwrap_or(l.y) + fx.dy,
        opacity: (l.opacity * tr.opacity.value(t).unwrap_or(1.0) * fx.opacity).clamp(0.0, 1.0),
        scale: l.scale * tr.scale.value(t).unwrap_or(1.0) * fx.scale,
        rotation: l.rotation + tr.rotation.value(t).unwrap_or(0.0),
        reveal: fx.reveal,
    }
}

/// A layer whose box has no area draws nothing, except a line, which needs only a length.
fn empty(l: &LayerPlan) -> bool {
    match &l.content {
        Content::Shape(s) if s.kind == ShapeKind::Line => l.w <= 0.0 && l.h <= 0.0,
        _ => l.w <= 0.0 || l.h <= 0.0,
    }
}

/// A whole-pixel rectangle `[x0, x1) x [y0, y1)` of the canvas.
pub(crate) type PixelRect = (u32, u32, u32, u32);

/// Every pixel [`paint`] may change at local frame `t`, as a rectangle clipped to the
/// `cw` x `ch` canvas: `Some(None)` when it draws nothing, `None` when it cannot say (then
/// the caller must assume the whole canvas). Conservative: the layer's box (or its text
/// pixmap) under its transform, widened by its stroke and two pixels for anti-aliasing
/// and whole-pixel snapping.
pub(crate) fn bounds(plan: &Plan, l: &LayerPlan, t: u64, cw: u32, ch: u32) -> Option<Option<PixelRect>> {
    let s = state(plan, l, t);
    if s.opacity <= 0.0 || s.scale <= 0.0 || empty(l) {
        return Some(None);
    }
    let ts = Transform::from_translate(s.x, s.y)
        .pre_rotate(s.rotation)
        .pre_scale(s.scale, s.scale)
        .pre_translate(-l.anchor.0 * l.w, -l.anchor.1 * l.h);
    let (x0, y0, x1, y1) = match &l.content {
        Content::Text(text) => {
            let (mx, my) = text.block.origin;
            let (pw, ph) = text.raster.size();
            (-mx, -my, pw as f32 - mx, ph as f32 - my)
        }
        Content::Image(_) | Content::Video(_) => (0.0, 0.0, l.w, l.h),
        Content::Shape(shape) => {
            let e = shape.stroke.map_or(0.0, |(_, w)| w.max(0.0));
            (-e, -e, l.w + e, l.h + e)
        }
    };
    // A shadow reaches its offset plus twice its blur beyond the outline.
    let (x0, y0, x1, y1) = match l.decor.shadow {
        Some(sh) => {
            let b = 2.0 * sh.blur + 2.0;
            (x0.min(sh.dx - b), y0.min(sh.dy - b), x1.max(l.w + sh.dx + b), y1.max(l.h + sh.dy + b))
        }
        None => (x0, y0, x1, y1),
    };
    let mut pts = [
        tiny_skia::Point::from_xy(x0, y0),
        tiny_skia::Point::from_xy(x1, y0),
        tiny_skia::Point::from_xy(x0, y1),
        tiny_skia::Point::from_xy(x1, y1),
    ];
    ts.map_points(&mut pts);
    let (mut l0, mut t0, mut r0, mut b0) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in pts {
        if !p.x.is_finite() || !p.y.is_finite() {
            return None;
        }
        (l0, t0, r0, b0) = (l0.min(p.x), t0.min(p.y), r0.max(p.x), b0.max(p.y));
    }
    let clamp = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
    let r = (
        clamp((l0 - 2.0).floor(), cw),
        clamp((t0 - 2.0).floor(), ch),
        clamp((r0 + 2.0).ceil(), cw),
        clamp((b0 + 2.0).ceil(), ch),
    );
    Some((r.0 < r.2 && r.1 < r.3).then_some(r))
}

pub(crate) fn paint(plan: &Plan, l: &LayerPlan, t: u64, pm: &mut PixmapMut, clips: super::ClipFrames) {
    let at = super::fill::Time { local: t, len: l.len, clips };
    let s = state(plan, l, t);
    if s.opacity <= 0.0 || s.scale <= 0.0 || empty(l) {
        return;
    }
    let ts = Transform::from_translate(s.x, s.y)
        .pre_rotate(s.rotation)
        .pre_scale(s.scale, s.scale)
        .pre_translate(-l.anchor.0 * l.w, -l.anchor.1 * l.h);
    if let Some(sh) = l.decor.shadow {
        paint_shadow(pm, l, sh, ts, s.opacity, s.scale);
    }
    paint_content(pm, l, &s, ts, at);
    if let (Some((color, width)), Some(path)) = (l.decor.border, outline(l, l.decor.border.map_or(0.0, |b| b.1 / 2.0)))
    {
        if width > 0.0 {
            let mut c = color;
            c.apply_opacity(s.opacity);
            let paint = Paint { shader: Shader::SolidColor(c), anti_alias: true, ..Paint::default() };
            pm.stroke_path(&path, &paint, &Stroke { width, ..Stroke::default() }, ts, None);
        }
    }
}

/// The outline of a picture or shape, inset by `inset` (half a border's width: a border
/// lies inside the box).
fn outline(l: &LayerPlan, inset: f32) -> Option<tiny_skia::Path> {
    let rect = Rect::from_ltrb(inset, inset, l.w - inset, l.h - inset)?;
    if l.decor.oval {
        PathBuilder::from_oval(rect)
    } else {
        crate::pixels::rounded_rect(rect, (l.decor.radius - inset).max(0.0))
    }
}

/// A gradient fill, dithered as a scene background's is (tiny-skia's shader rounds each
/// pixel: a dark gradient shows bands): shaded into a pixmap of the box's size, then
/// drawn through the outline. Each worker keeps its last two such pixmaps (a scrim under
/// every frame's text is shaded once). Shading one takes about 0.1 s a million pixels and
/// cannot be cancelled midway, so a box of more than [`DITHERED_MAX_PIXELS`] falls back
/// to tiny-skia's shader, undithered.
fn dithered_fill(
    pm: &mut PixmapMut,
    g: &crate::plan::GradientPlan,
    l: &LayerPlan,
    path: &tiny_skia::Path,
    ts: Transform,
    opacity: f32,
) {
    let (w, h) = (l.w.ceil().max(1.0) as u32, l.h.ceil().max(1.0) as u32);
    let area = w as u64 * h as u64;
    let fill = |pm: &mut PixmapMut, tmp: &tiny_skia::Pixmap| {
        let fit = Transform::from_scale(l.w / w as f32, l.h / h as f32);
        let paint = Paint {
            shader: Pattern::new(tmp.as_ref(), SpreadMode::Pad, FilterQuality::Bilinear, opacity, fit),
            anti_alias: true,
            ..Paint::default()
        };
        pm.fill_path(path, &paint, FillRule::Winding, ts, None);
    };
    if area <= DITHERED_MAX_PIXELS {
        let mut key: Vec<u32> = vec![w, h, u32::from(g.radial), g.angle.to_bits()];
        key.extend(g.colors.iter().flat_map(|c| [c.red(), c.green(), c.blue(), c.alpha()].map(f32::to_bits)));
        let done = GRADIENTS.with(|cell| {
            let mut cache = cell.borrow_mut();
            let made = kept(&mut cache, key, GRADIENTS_KEPT, |_| false, || {
                let mut tmp = tiny_skia::Pixmap::new(w, h)?;
                super::fill::dithered_gradient(&mut tmp.as_mut(), g, false);
                Some(tmp)
            });
            made.map(|tmp| fill(pm, tmp)).is_some()
        });
        if done {
            return;
        }
    }
    if let Some(shader) = super::fill::gradient(g, l.w, l.h, opacity) {
        let paint = Paint { shader, anti_alias: true, ..Paint::default() };
        pm.fill_path(path, &paint, FillRule::Winding, ts, None);
    }
}

/// The largest shape gradient dithered: a full 1080p or 9:16 canvas, twice over.
const DITHERED_MAX_PIXELS: u64 = 4_200_000;

/// Dithered gradient pixmaps a worker keeps.
const GRADIENTS_KEPT: usize = 2;

thread_local! {
    static GRADIENTS: std::cell::RefCell<Vec<Kept<Vec<u32>, tiny_skia::Pixmap>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A drop shadow of the layer's outline: its coverage filled into a mask of its reach,
/// blurred, and drawn in the shadow's colour under the layer. The blur is most of the cost
/// (a clip in a shadowed frame spent 39 % of a render there), and the mask depends only on
/// the outline, the blur and the transform up to whole pixels, so each worker keeps the
/// last few it made (one byte a pixel). Nothing is drawn when the mask cannot be had.
fn paint_shadow(
    pm: &mut PixmapMut,
    l: &LayerPlan,
    sh: crate::text::ShadowSpec,
    ts: Transform,
    opacity: f32,
    scale: f32,
) {
    let Some(path) = outline(l, 0.0) else { return };
    // The offset and blur are in the layer's own pixels, as its box is.
    let ts = ts.pre_translate(sh.dx, sh.dy);
    let Some(b) = path.bounds().transform(ts) else { return };
    // The blur in canvas pixels, at most MAX_SHADOW_BLUR (a layer scaled 100 times with a
    // 200 px blur asked for a pixmap 80,000 pixels wider than the canvas).
    let blur = (sh.blur * scale.abs()).min(MAX_SHADOW_BLUR);
    let reach = (2.0 * blur).ceil() + 2.0;
    let clamp = |v: f32, max: u32| v.clamp(-reach, max as f32 + reach);
    let (x0, y0) = (clamp(b.left() - reach, pm.width()).floor(), clamp(b.top() - reach, pm.height()).floor());
    let (x1, y1) = (clamp(b.right() + reach, pm.width()).ceil(), clamp(b.bottom() + reach, pm.height()).ceil());
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let local = ts.post_translate(-x0, -y0);
    // The layer itself: a shadow it no longer matches (the layer moved or grew) is dropped
    // before its new one is made, rather than kept beside it until the next frame.
    let layer = l as *const LayerPlan as usize;
    let key: ShadowKey = (layer, [
        l.w,
        l.h,
        l.decor.radius,
        if l.decor.oval { 1.0 } else { 0.0 },
        blur,
        local.sx,
        local.kx,
        local.ky,
        local.sy,
        local.tx,
        local.ty,
        x1 - x0,
        y1 - y0,
    ]
    .map(f32::to_bits));
    SHADOWS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let made = kept(&mut cache, key, SHADOWS_KEPT, |k| k.0 == layer, || {
            // The outline's coverage, blurred; the colour is applied as it is drawn.
            #[cfg(test)]
            SHADOWS_MADE.with(|c| c.set(c.get() + 1));
            let mut mask = tiny_skia::Mask::new((x1 - x0) as u32, (y1 - y0) as u32)?;
            mask.fill_path(&path, FillRule::Winding, true, local);
            let (w, h) = (mask.width() as usize, mask.height() as usize);
            crate::text::blur_coverage(mask.data_mut(), w, h, (blur / 2.0).round() as usize);
            Some(mask)
        });
        if let Some(mask) = made {
            crate::pixels::blit::fill_masked(pm, mask, (x0 as i32, y0 as i32), sh.color, opacity);
        }
    });
}

/// An entry of a worker's small cache: its key, its value, and the frame (of the
/// thread's clock, [`super::painting`]) that last used it.
type Kept<K, V> = (K, V, u64);

/// The value kept under `key` in a worker's small cache, made (and kept, the oldest
/// dropped beyond `most`) when it is not there; `None` when it cannot be made. Before a
/// value is made, the entries it `replaces` are dropped (the same layer's, made for where it
/// was on an earlier frame), so the old and the new are not held at once.
fn kept<K: PartialEq, V>(
    cache: &mut Vec<Kept<K, V>>,
    key: K,
    most: usize,
    replaces: impl Fn(&K) -> bool,
    make: impl FnOnce() -> Option<V>,
) -> Option<&V> {
    let now = super::painting();
    let i = match cache.iter().position(|(k, ..)| *k == key) {
        Some(i) => i,
        None => {
            cache.retain(|(k, ..)| !replaces(k));
            let made = make()?;
            if cache.len() >= most {
                cache.remove(0);
            }
            cache.push((key, made, now));
            cache.len() - 1
        }
    };
    let entry = cache.get_mut(i)?;
    entry.2 = now;
    Some(&entry.1)
}

/// How many dithered gradients and shadow masks this thread keeps.
#[cfg(test)]
pub(super) fn cached() -> (usize, usize) {
    (GRADIENTS.with(|c| c.borrow().len()), SHADOWS.with(|c| c.borrow().len()))
}

#[cfg(test)]
thread_local! {
    static SHADOWS_MADE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many shadow masks this thread has made.
#[cfg(test)]
pub(super) fn shadows_made() -> usize {
    SHADOWS_MADE.with(|c| c.get())
}

/// Drops what this thread's caches hold that its previous frame did not use, as frame
/// `now` begins: a gradient or a shadow of a scene long past (a layer composed once in
/// 4:2:0 and reused is not painted again, so its entries go too).
pub(super) fn forget_unused(now: u64) {
    let recent = |used: u64| used + 1 >= now;
    GRADIENTS.with(|c| c.borrow_mut().retain(|e| recent(e.2)));
    SHADOWS.with(|c| c.borrow_mut().retain(|e| recent(e.2)));
}

/// The largest shadow blur drawn, in canvas pixels: the shadow's pixmap is at most the
/// canvas plus twice this on each side.
const MAX_SHADOW_BLUR: f32 = 128.0;

/// What a shadow pixmap depends on: the layer it is made for (its address in the plan), and
/// (f32 bits) the outline, the shadow, and the transform into the pixmap.
type ShadowKey = (usize, [u32; 13]);

/// Shadow pixmaps a worker keeps: a frame rarely shows more shadowed pictures.
const SHADOWS_KEPT: usize = 2;

thread_local! {
    static SHADOWS: std::cell::RefCell<Vec<Kept<ShadowKey, tiny_skia::Mask>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn paint_content(pm: &mut PixmapMut, l: &LayerPlan, s: &State, ts: Transform, at: super::fill::Time) {
    match &l.content {
        Content::Text(text) => {
            let block = &text.block;
            let rasters = text.raster.get();
            let Some(pixmap) = rasters.first() else { return };
            let (mx, my) = block.origin;
            let pw = pixmap.width() as f32;
            let ph = pixmap.height() as f32;
            let snapped = ts.is_translate();
            // Whole-pixel placement: where the pixmap's origin lands on the canvas.
            let origin = ((ts.tx - mx).round() as i32, (ts.ty - my).round() as i32);
            let (ts, img_ts) = if snapped {
                // Whole-pixel placement keeps glyph edges crisp and samples without filtering.
                let (tx, ty) = ((ts.tx - mx).round(), (ts.ty - my).round());
                (Transform::from_translate(tx + mx, ty + my), Transform::from_translate(-mx, -my))
            } else {
                (ts, Transform::from_translate(-mx, -my))
            };
            let quality = if snapped { FilterQuality::Nearest } else { FilterQuality::Bilinear };
            let paint = Paint {
                shader: Pattern::new(pixmap.as_ref(), SpreadMode::Pad, quality, s.opacity, img_ts),
                anti_alias: !snapped,
                ..Paint::default()
            };
            // In local box coordinates the pixmap spans (-mx, -my) .. (pw - mx, ph - my).
            let rect = |x0: f32, y0: f32, x1: f32, y1: f32| Rect::from_ltrb(x0 - mx, y0 - my, x1 - mx, y1 - my);
            // Draws part of the pixmap (its own coordinates): a plain blit when placed on
            // whole pixels, tiny-skia's filtered pattern when rotated or scaled.
            let mut draw = |x0: f32, y0: f32, x1: f32, y1: f32| {
                if snapped {
                    let r = (x0.round() as i32, y0.round() as i32, x1.round() as i32, y1.round() as i32);
                    crate::pixels::blit::over(pm, pixmap, origin.0, origin.1, s.opacity, r);
                } else if let Some(r) = rect(x0, y0, x1, y1) {
                    pm.fill_rect(r, &paint, ts, None);
                }
            };
            if s.reveal >= 1.0 || block.glyphs.is_empty() {
                draw(0.0, 0.0, pw, ph);
                return;
            }
            // typewriter / wordByWord: whole lines before the current one, then the current
            // line up to the last revealed glyph (from the right on right-to-left lines).
            let n = reveal_count(block, l.enter.map(|m| m.preset), s.reveal);
            if n == 0 {
                return;
            }
            let last = block.glyphs[n - 1];
            for (i, band) in block.bands.iter().enumerate() {
                let (top, bottom) =
                    (if i == 0 { 0.0 } else { band.top }, if i + 1 == block.bands.len() { ph } else { band.bottom });
                if i < last.line {
                    draw(0.0, top, pw, bottom);
                } else if i == last.line {
                    let on_line = block.glyphs[..n].iter().filter(|g| g.line == i);
                    if band.rtl {
                        draw(on_line.fold(f32::INFINITY, |m, g| m.min(g.x0)), top, pw, bottom);
                    } else {
                        draw(0.0, top, on_line.fold(0.0, |m, g| m.max(g.x1)), bottom);
                    }
                }
            }
        }
        Content::Image(img) => {
            paint_box(pm, &Fill::Image(img.clone()), l.w, l.h, ts, s.opacity, at, 0.0);
        }
        Content::Video(v) => {
            paint_box(pm, &Fill::Video(*v), l.w, l.h, ts, s.opacity, at, 0.0);
        }
        Content::Shape(shape) => {
            let path = match shape.kind {
                ShapeKind::Rect | ShapeKind::Ellipse => {
                    let path = outline(l, 0.0);
                    match (&shape.fill, &path) {
                        (Some(Fill::Gradient(g)), Some(path)) => dithered_fill(pm, g, l, path, ts, s.opacity),
                        (Some(fill), _) if shape.kind == ShapeKind::Rect => {
                            paint_box(pm, fill, l.w, l.h, ts, s.opacity, at, shape.corner_radius)
                        }
                        (Some(Fill::Solid(c)), Some(path)) => {
                            let mut c = *c;
                            c.apply_opacity(s.opacity);
                            let paint = Paint { shader: Shader::SolidColor(c), anti_alias: true, ..Paint::default() };
                            pm.fill_path(path, &paint, FillRule::Winding, ts, None);
                        }
                        _ => {}
                    }
                    path
                }
                ShapeKind::Line => {
                    let ((x0, y0), (x1, y1)) = shape.ends.unwrap_or(((0.0, l.h / 2.0), (l.w, l.h / 2.0)));
                    let mut pb = PathBuilder::new();
                    pb.move_to(x0, y0);
                    pb.line_to(x1, y1);
                    pb.finish()
                }
            };
            if let (Some((color, width)), Some(path)) = (shape.stroke, path) {
                if width > 0.0 {
                    let mut c = color;
                    c.apply_opacity(s.opacity);
                    let paint = Paint { shader: Shader::SolidColor(c), anti_alias: true, ..Paint::default() };
                    pm.stroke_path(&path, &paint, &Stroke { width, ..Stroke::default() }, ts, None);
                }
            }
        }
    }
}

/// How many glyphs (in logical order) a reveal fraction shows: whole glyphs for typewriter,
/// whole words for wordByWord.
fn reveal_count(block: &crate::text::TextBlock, preset: Option<crate::anim::Preset>, reveal: f32) -> usize {
    let total = block.glyphs.len();
    if preset == Some(crate::anim::Preset::WordByWord) {
        let words = block.glyphs.iter().filter(|g| g.word_end).count().max(1);
        let k = (reveal * words as f32).round() as usize;
        if k == 0 {
            return 0;
        }
        let mut seen = 0;
        for (i, g) in block.glyphs.iter().enumerate() {
            if g.word_end {
                seen += 1;
                if seen == k {
                    return i + 1;
                }
            }
        }
        total
    } else {
        ((reveal * total as f32).round() as usize).min(total)
    }
}
