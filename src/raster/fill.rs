//! Filling a box with a color, a gradient or an image (fit modes and Ken Burns).

use crate::media::ClipPicture;
use crate::pixels::rounded_rect;
use crate::plan::{Fill, Fit, GradientPlan, KenBurnsPlan};
use tiny_skia::{
    FillRule, FilterQuality, GradientStop, LinearGradient, Paint, Pattern, PixmapMut, Point, RadialGradient, Rect,
    Shader, SpreadMode, Transform,
};

/// Where in time a box is painted: its local frame and length (Ken Burns), and the decoded
/// clip pictures of this output frame.
#[derive(Clone, Copy)]
pub(crate) struct Time<'a> {
    pub local: u64,
    pub len: u64,
    pub clips: super::ClipFrames<'a>,
}

/// Fills the box `(0, 0, w, h)` under transform `ts` with `fill` at `opacity`; `radius`
/// rounds the corners.
#[allow(clippy::too_many_arguments)] // a paint call: geometry, time and look, all needed
pub(crate) fn paint_box(
    pm: &mut PixmapMut,
    fill: &Fill,
    w: f32,
    h: f32,
    ts: Transform,
    opacity: f32,
    at: Time,
    radius: f32,
) {
    let Some(rect) = Rect::from_xywh(0.0, 0.0, w, h) else { return };
    let shader = match fill {
        Fill::Solid(c) => {
            let mut c = *c;
            c.apply_opacity(opacity);
            Shader::SolidColor(c)
        }
        Fill::Gradient(g) => match gradient(g, w, h, opacity) {
            Some(s) => s,
            None => return,
        },
        Fill::Image(img) => {
            // Released pixels come back here (a render loads them ahead; a still loads them).
            if let Some(pixmap) = img.source.pixmap() {
                let src = Source { pixmap: &pixmap, opaque: img.source.opaque, fit: img.fit, ken_burns: img.ken_burns };
                paint_image(pm, &src, w, h, ts, opacity, at.local, at.len, radius.max(img.corner_radius));
            }
            return;
        }
        Fill::Video(v) => {
            let radius = radius.max(v.corner_radius);
            match at.clips.get(v.clip) {
                Some(Some(ClipPicture::Rgba(pic))) => {
                    let src = Source { pixmap: pic, opaque: true, fit: v.fit, ken_burns: v.ken_burns };
                    paint_image(pm, &src, w, h, ts, opacity, at.local, at.len, radius);
                }
                Some(Some(ClipPicture::Alpha(pic))) => {
                    let src = Source { pixmap: pic, opaque: false, fit: v.fit, ken_burns: v.ken_burns };
                    paint_image(pm, &src, w, h, ts, opacity, at.local, at.len, radius);
                }
                Some(Some(ClipPicture::Yuv(pic))) => {
                    if v.ken_burns.is_none()
                        && exact_cover((pm.width(), pm.height()), pic, v.fit, (w, h), ts, opacity, radius)
                    {
                        pic.to_rgba(pm.data_mut());
                        return;
                    }
                    // Drawn upright in a box (W4's clip card): converted to RGBA a strip at a
                    // time as it is resized. The same decisions as for its RGBA copy below:
                    // what fast_upright takes or declines depends on sizes alone.
                    let (pw, ph) = (pic.planes.width as f32, pic.planes.height as f32);
                    let img_ts = ken_burns_transform(pw, ph, v.fit, v.ken_burns, w, h, at.local, at.len);
                    let placed = Placed { w, h, ts, opacity, radius, img_ts };
                    if !covers_canvas(pm, &placed) && fast_upright_in(pm, Pixels::Yuv(pic), &placed, STRIP_ROWS) {
                        return;
                    }
                    // Drawn some other way: through an RGBA copy (one per worker, reused).
                    USED.with(|u| u.set(super::painting()));
                    CLIP_RGBA.with(|cell| {
                        let mut slot = cell.borrow_mut();
                        let (pw, ph) = (pic.planes.width, pic.planes.height);
                        if slot.as_ref().map(|p| (p.width(), p.height())) != Some((pw, ph)) {
                            *slot = tiny_skia::Pixmap::new(pw, ph);
                        }
                        if let Some(rgba) = slot.as_mut() {
                            if pic.to_rgba(rgba.data_mut()) {
                                let src = Source { pixmap: rgba, opaque: true, fit: v.fit, ken_burns: v.ken_burns };
                                paint_image(pm, &src, w, h, ts, opacity, at.local, at.len, radius);
                            }
                        }
                    });
                }
                _ => {}
            }
            return;
        }
    };
    let paint = Paint { shader, anti_alias: true, ..Paint::default() };
    draw(pm, rect, radius, &paint, ts);
}

fn draw(pm: &mut PixmapMut, rect: Rect, radius: f32, paint: &Paint, ts: Transform) {
    if radius <= 0.0 && ts.is_identity() {
        pm.fill_rect(rect, paint, ts, None);
    } else if let Some(path) = rounded_rect(rect, radius) {
        pm.fill_path(&path, paint, FillRule::Winding, ts, None);
    }
}

pub(crate) fn gradient(g: &GradientPlan, w: f32, h: f32, opacity: f32) -> Option<Shader<'static>> {
    let n = g.colors.len();
    let stops: Vec<GradientStop> = g
        .colors
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut c = *c;
            c.apply_opacity(opacity);
            GradientStop::new(if n > 1 { i as f32 / (n - 1) as f32 } else { 0.0 }, c)
        })
        .collect();
    if n == 1 {
        let mut c = g.colors[0];
        c.apply_opacity(opacity);
        return Some(Shader::SolidColor(c));
    }
    let (cx, cy) = (w / 2.0, h / 2.0);
    if g.radial {
        let r = (cx * cx + cy * cy).sqrt();
        return RadialGradient::new(
            Point::from_xy(cx, cy),
            Point::from_xy(cx, cy),
            r,
            stops,
            SpreadMode::Pad,
            Transform::identity(),
        );
    }
    // The gradient line passes through the center; its half length is the box's extent along
    // the direction (CSS linear-gradient semantics), so the end colors touch the corners.
    let a = g.angle.to_radians();
    let (dx, dy) = (a.cos(), a.sin());
    let half = (w * dx.abs() + h * dy.abs()) / 2.0;
    LinearGradient::new(
        Point::from_xy(cx - dx * half, cy - dy * half),
        Point::from_xy(cx + dx * half, cy + dy * half),
        stops,
        SpreadMode::Pad,
        Transform::identity(),
    )
}

/// Shades `g` over the whole of `pm` (an opaque background over black), with the
/// geometry of [`gradient`] (CSS's: a linear gradient's end colours touch the corners, a
/// radial one reaches them), and dithered: each pixel's exact value gets triangular noise
/// of one code value either way before rounding, so a slow gradient shows no bands, only
/// a fine grain that holds still from frame to frame (the noise is a hash of the pixel's
/// position).
///
/// `opaque`: the result is composed over black (a scene background); otherwise its alpha
/// is the gradient's, dithered too (a shape's fill), premultiplied.
pub(crate) fn dithered_gradient(pm: &mut PixmapMut, g: &GradientPlan, opaque: bool) {
    let (w, h) = (pm.width(), pm.height());
    let n = g.colors.len();
    // Unpremultiplied stops, 0..=1; the result is premultiplied over black.
    let stops: Vec<[f32; 4]> = g.colors.iter().map(|c| [c.red(), c.green(), c.blue(), c.alpha()]).collect();
    if n == 0 {
        return pm.fill(tiny_skia::Color::BLACK);
    }
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let a = g.angle.to_radians();
    let (dx, dy) = (a.cos(), a.sin());
    let half = ((w as f32 * dx.abs() + h as f32 * dy.abs()) / 2.0).max(1e-3);
    let radius = (cx * cx + cy * cy).sqrt().max(1e-3);
    let at = |x: f32, y: f32| -> f32 {
        let t = if g.radial {
            ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() / radius
        } else {
            ((x - cx) * dx + (y - cy) * dy) / (2.0 * half) + 0.5
        };
        t.clamp(0.0, 1.0)
    };
    let row = w as usize * 4;
    for (y, line) in pm.data_mut().chunks_exact_mut(row).enumerate() {
        for (x, px) in line.chunks_exact_mut(4).enumerate() {
            let t = at(x as f32 + 0.5, y as f32 + 0.5);
            let c = if n == 1 {
                stops[0]
            } else {
                let s = t * (n - 1) as f32;
                let i = (s.floor() as usize).min(n - 2);
                let u = s - i as f32;
                let (p, q) = (stops[i], stops[i + 1]);
                [0, 1, 2, 3].map(|k| p[k] + (q[k] - p[k]) * u)
            };
            let noise = tpdf(x as u32, y as u32);
            let alpha = if opaque { 255 } else { (c[3] * 255.0 + noise).round().clamp(0.0, 255.0) as u8 };
            for k in 0..3 {
                px[k] = ((c[k] * c[3] * 255.0 + noise).round().clamp(0.0, 255.0) as u8).min(alpha);
            }
            px[3] = alpha;
        }
    }
}

/// Triangular noise in (-1, 1) code values, fixed per pixel: the sum of two uniform values
/// from a hash of the position (any two neighbours are uncorrelated).
#[inline]
fn tpdf(x: u32, y: u32) -> f32 {
    let mut v = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    v = v.wrapping_mul(0x297A_2D39);
    v ^= v >> 15;
    let (a, b) = ((v & 0xFFFF) as f32, (v >> 16) as f32);
    (a + b) / 65535.0 - 1.0
}

/// The image-to-box transform for a fit mode and a Ken Burns state (zoom, focus x, focus y).
pub(crate) fn image_transform(iw: f32, ih: f32, w: f32, h: f32, fit: Fit, kb: (f32, f32, f32)) -> (Transform, bool) {
    let (zoom, fx, fy) = kb;
    let (sx, sy) = fit.scale(iw, ih, w, h);
    let (sx, sy) = (sx * zoom, sy * zoom);
    let (dw, dh) = (iw * sx, ih * sy);
    // Put the focus point at the box center, then keep the box covered when the image is
    // larger than it; center it when smaller.
    let place = |box_len: f32, len: f32, focus: f32| {
        if len >= box_len {
            (box_len / 2.0 - focus * len).clamp(box_len - len, 0.0)
        } else {
            (box_len - len) / 2.0
        }
    };
    let (ox, oy) = (place(w, dw, fx), place(h, dh, fy));
    let clip = dw > w + 0.01 || dh > h + 0.01;
    (Transform::from_row(sx, 0.0, 0.0, sy, ox, oy), clip)
}

/// Pixels to draw and how they fit their box.
struct Source<'a> {
    pixmap: &'a tiny_skia::Pixmap,
    /// Every pixel is opaque (enables the fast cover path).
    opaque: bool,
    fit: Fit,
    ken_burns: Option<KenBurnsPlan>,
}

/// Where and how a picture is drawn: its box `w` x `h` under `ts` on the canvas, at
/// `opacity`, its corners rounded by `radius`, and the picture in its box by `img_ts`.
struct Placed {
    w: f32,
    h: f32,
    ts: Transform,
    opacity: f32,
    radius: f32,
    img_ts: Transform,
}

/// The image-to-box transform of `img` at local frame `local` of `len` (Ken Burns).
fn source_transform(img: &Source, w: f32, h: f32, local: u64, len: u64) -> Transform {
    let (iw, ih) = (img.pixmap.width() as f32, img.pixmap.height() as f32);
    ken_burns_transform(iw, ih, img.fit, img.ken_burns, w, h, local, len)
}

/// The transform that puts an `iw` x `ih` source fitted by `fit` into the box `w` x `h`
/// at local frame `local` of `len`, under its Ken Burns move if it has one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ken_burns_transform(
    iw: f32,
    ih: f32,
    fit: Fit,
    ken_burns: Option<KenBurnsPlan>,
    w: f32,
    h: f32,
    local: u64,
    len: u64,
) -> Transform {
    let kb = match ken_burns {
        None => (1.0, 0.5, 0.5),
        Some(k) => {
            let p = if len > 1 { local as f32 / (len - 1) as f32 } else { 1.0 };
            let e = k.easing.apply(p);
            let lerp = |a: f32, b: f32| a + (b - a) * e;
            (lerp(k.from.0, k.to.0), lerp(k.from.1, k.to.1), lerp(k.from.2, k.to.2))
        }
    };
    image_transform(iw, ih, w, h, fit, kb).0
}

/// Paints a scene background that is an opaque photo or clip covering the whole canvas,
/// untransformed; false (nothing painted) when `fill` is anything else.
pub(crate) fn paint_covering(pm: &mut PixmapMut, fill: &Fill, at: Time) -> bool {
    let (w, h) = (pm.width() as f32, pm.height() as f32);
    let ts = Transform::identity();
    match fill {
        Fill::Image(img) if img.source.opaque && img.corner_radius <= 0.0 => {
            let Some(pixmap) = img.source.pixmap() else { return false };
            let src = Source { pixmap: &pixmap, opaque: true, fit: img.fit, ken_burns: img.ken_burns };
            let img_ts = source_transform(&src, w, h, at.local, at.len);
            fast_cover(pm, &src, &Placed { w, h, ts, opacity: 1.0, radius: 0.0, img_ts })
        }
        Fill::Video(v) if v.corner_radius <= 0.0 => match at.clips.get(v.clip) {
            Some(Some(ClipPicture::Yuv(pic)))
                if v.ken_burns.is_none() && exact_cover((pm.width(), pm.height()), pic, v.fit, (w, h), ts, 1.0, 0.0) =>
            {
                pic.to_rgba(pm.data_mut())
            }
            Some(Some(ClipPicture::Rgba(pic))) => {
                let src = Source { pixmap: pic, opaque: true, fit: v.fit, ken_burns: v.ken_burns };
                let img_ts = source_transform(&src, w, h, at.local, at.len);
                fast_cover(pm, &src, &Placed { w, h, ts, opacity: 1.0, radius: 0.0, img_ts })
            }
            _ => false,
        },
        _ => false,
    }
}

/// True when a `pw` x `ph` picture fitted into the box `w` x `h` lands pixel for pixel on
/// the whole canvas: untransformed, opaque, square corners.
#[allow(clippy::too_many_arguments)]
pub(crate) fn exact_cover(
    canvas: (u32, u32),
    pic: &crate::media::YuvPicture,
    fit: Fit,
    (w, h): (f32, f32),
    ts: Transform,
    opacity: f32,
    radius: f32,
) -> bool {
    let (pw, ph) = (pic.planes.width, pic.planes.height);
    let (t, _) = image_transform(pw as f32, ph as f32, w, h, fit, (1.0, 0.5, 0.5));
    let near = |a: f32, b: f32| (a - b).abs() < 1e-3;
    (pw, ph) == canvas
        && w as u32 == pw
        && h as u32 == ph
        && ts.is_identity()
        && opacity >= 1.0
        && radius <= 0.0
        && near(t.sx, 1.0)
        && near(t.sy, 1.0)
        && near(t.tx, 0.0)
        && near(t.ty, 0.0)
}

#[allow(clippy::too_many_arguments)]
fn paint_image(
    pm: &mut PixmapMut,
    img: &Source,
    w: f32,
    h: f32,
    ts: Transform,
    opacity: f32,
    local: u64,
    len: u64,
    radius: f32,
) {
    let src = img.pixmap;
    let (iw, ih) = (src.width() as f32, src.height() as f32);
    let img_ts = source_transform(img, w, h, local, len);
    let placed = Placed { w, h, ts, opacity, radius, img_ts };
    if fast_cover(pm, img, &placed) || fast_upright(pm, img, &placed) {
        return;
    }
    // Draw the image's rectangle clipped to the box: a pattern-filled rect does both at once.
    let (dl, dt) = (img_ts.tx, img_ts.ty);
    let (dr, db) = (dl + iw * img_ts.sx, dt + ih * img_ts.sy);
    let (l, t, r, b) = (dl.max(0.0), dt.max(0.0), dr.min(w), db.min(h));
    let Some(rect) = Rect::from_ltrb(l, t, r, b) else { return };
    // Exact 1:1 draws sample without filtering (sharper and faster).
    let unscaled = (img_ts.sx - 1.0).abs() < 1e-4 && (img_ts.sy - 1.0).abs() < 1e-4 && ts.is_translate();
    let quality = if unscaled { FilterQuality::Nearest } else { FilterQuality::Bilinear };
    let shader = Pattern::new(src.as_ref(), SpreadMode::Pad, quality, opacity, img_ts);
    let paint = Paint { shader, anti_alias: !ts.is_translate(), ..Paint::default() };
    draw(pm, rect, radius, &paint, ts);
}

/// An image drawn upright (scaled and moved, not turned: layers, their enter moves, scenes
/// sliding in a transition): the part of the source over the pixels it covers is resized
/// with fast_image_resize into a buffer of those pixels, then blended through the coverage
/// of its box (rounded corners, edges between pixels) drawn as a mask. The pattern shader
/// it replaces sampled every pixel bilinearly in floats: a 720x1280 clip in W4's rounded
/// frame took 6.9 % of the render's CPU. Returns false when the case does not apply.
fn fast_upright(pm: &mut PixmapMut, img: &Source, placed: &Placed) -> bool {
    fast_upright_in(pm, Pixels::Rgba(img.pixmap), placed, STRIP_ROWS)
}

/// The pixels [`fast_upright`] resizes.
#[derive(Clone, Copy)]
enum Pixels<'a> {
    Rgba(&'a tiny_skia::Pixmap),
    /// A clip's picture, converted to RGBA a strip of the rows a strip of the resize reads
    /// at a time (a whole RGBA copy of W4's clip card took 3.7 MB a worker).
    Yuv(&'a crate::media::YuvPicture),
}

impl Pixels<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Pixels::Rgba(p) => (p.width(), p.height()),
            Pixels::Yuv(y) => (y.planes.width, y.planes.height),
        }
    }
}

/// [`fast_upright`], resizing `rows` rows of the picture at a time.
fn fast_upright_in(pm: &mut PixmapMut, src: Pixels, placed: &Placed, rows: u32) -> bool {
    let &Placed { w, h, ts, opacity, radius, img_ts } = placed;
    let upright = |t: &Transform| t.is_finite() && t.kx == 0.0 && t.ky == 0.0 && t.sx > 0.0 && t.sy > 0.0;
    if !upright(&ts) || !upright(&img_ts) {
        return false;
    }
    let (iw, ih) = src.size();
    let (iw, ih) = (iw as f32, ih as f32);
    // The image's extent clipped to the box, in box units, then in canvas pixels.
    let (l, t) = (img_ts.tx.max(0.0), img_ts.ty.max(0.0));
    let (r, b) = ((img_ts.tx + iw * img_ts.sx).min(w), (img_ts.ty + ih * img_ts.sy).min(h));
    let Some(rect) = Rect::from_ltrb(l, t, r, b) else { return true };
    let full = img_ts.post_concat(ts);
    let (cw, ch) = (pm.width() as f32, pm.height() as f32);
    let x0 = (ts.tx + l * ts.sx).floor().max(0.0);
    let y0 = (ts.ty + t * ts.sy).floor().max(0.0);
    let x1 = (ts.tx + r * ts.sx).ceil().min(cw);
    let y1 = (ts.ty + b * ts.sy).ceil().min(ch);
    if !(x1 > x0 && y1 > y0) {
        return true;
    }
    // The whole pixels inside the image: the resizer fills them; a pixel the image's edge
    // only partly covers (the mask weighs it) takes its inner neighbour's colour, as the
    // pattern's pad mode gave it.
    let (ix0, iy0) = (full.tx, full.ty);
    let (ix1, iy1) = (full.tx + iw * full.sx, full.ty + ih * full.sy);
    let xi0 = x0.max((ix0 - 1e-3).ceil());
    let yi0 = y0.max((iy0 - 1e-3).ceil());
    let xi1 = x1.min((ix1 + 1e-3).floor());
    let yi1 = y1.min((iy1 + 1e-3).floor());
    if !(xi1 > xi0 && yi1 > yi0) {
        return false;
    }
    let (sx, sy) = (full.sx as f64, full.sy as f64);
    let left = ((xi0 - full.tx) as f64 / sx).clamp(0.0, iw as f64);
    let top = ((yi0 - full.ty) as f64 / sy).clamp(0.0, ih as f64);
    let crop = (left, top, ((xi1 - xi0) as f64 / sx).min(iw as f64 - left), ((yi1 - yi0) as f64 / sy).min(ih as f64 - top));
    // A resize reads every source pixel of the part; shrunk more than 4 times each way (a
    // clip far larger than its box, or a picture scaling in from nothing) the pattern, which
    // samples only the drawn pixels, is cheaper.
    if crop.2 * crop.3 > 16.0 * ((xi1 - xi0) * (yi1 - yi0)) as f64 {
        return false;
    }
    let Some(mut mask) = tiny_skia::Mask::new((x1 - x0) as u32, (y1 - y0) as u32) else { return false };
    let Some(path) = rounded_rect(rect, radius) else { return true };
    mask.fill_path(&path, FillRule::Winding, !ts.is_translate(), ts.post_translate(-x0, -y0));
    let (dw, dh) = (mask.width(), mask.height());
    let inner = ((xi0 - x0) as u32, (yi0 - y0) as u32, (xi1 - xi0) as u32, (yi1 - yi0) as u32);
    let strips = Strips { src_size: src.size(), inner, crop, rows: rows.max(1) };
    if !strips.all_valid() {
        return false;
    }
    USED.with(|u| u.set(super::painting()));
    UPRIGHT.with(|cell| {
        // A strip of rows at a time: resized, its edges padded, blended. Every byte of a
        // strip is written (the resize, then the edges), so the last one's needs no clearing.
        let mut buf = cell.borrow_mut();
        let (l, t, iw, ih) = inner;
        for (s0, s1, crop) in strips.iter() {
            // The box's rows this strip blends: its own, and the edge rows above the first
            // strip and below the last (they repeat its first and last row).
            let r0 = if s0 == 0 { 0 } else { t + s0 };
            let r1 = if s1 == ih { dh } else { t + s1 };
            let part = (l, t + s0 - r0, iw, s1 - s0);
            buf.resize(dw as usize * (r1 - r0) as usize * 4, 0);
            if !resize_strip(src, &mut buf, (dw, r1 - r0), part, crop) {
                // Not expected: every strip's crop was checked above. Nothing drawn yet:
                // another way draws it; else what is drawn stays.
                return s0 > 0;
            }
            pad_edges(&mut buf, (dw, r1 - r0), part);
            let mask = &mask.data()[r0 as usize * dw as usize..r1 as usize * dw as usize];
            crate::pixels::blit::over_masked(pm, &buf, mask, dw as usize, (x0 as usize, y0 as usize + r0 as usize), opacity);
        }
        true
    })
}

/// The strips of rows [`fast_upright`] and [`resize_crop`] resize a picture in: the
/// resizer's intermediate and the resized pixels are then a strip each, not the picture's
/// whole box (W4's clip card held 5 MB of each a worker). Filter windows are clamped to
/// the image, not the crop, so strips sample exactly the rows a whole resize would: the
/// same pixels.
struct Strips {
    /// The source's width and height.
    src_size: (u32, u32),
    /// Where the resized part goes in the box's pixels: (left, top, width, height).
    inner: (u32, u32, u32, u32),
    /// The part of the source resized, `(left, top, width, height)` in source pixels.
    crop: (f64, f64, f64, f64),
    /// Rows of the resized part a strip (at least 1).
    rows: u32,
}

impl Strips {
    /// Each strip's rows `[s0, s1)` of the resized part and the part of the source they
    /// are resized from.
    fn iter(&self) -> impl Iterator<Item = (u32, u32, (f64, f64, f64, f64))> + '_ {
        let (ih, crop) = (self.inner.3, self.crop);
        let (sy, sh) = (crop.3 / ih as f64, self.src_size.1 as f64);
        let rows = self.rows;
        (0..ih).step_by(rows as usize).map(move |s0| {
            let s1 = s0.saturating_add(rows).min(ih);
            let top = crop.1 + s0 as f64 * sy;
            (s0, s1, (crop.0, top, crop.2, ((s1 - s0) as f64 * sy).min(sh - top)))
        })
    }

    /// Whether the resizer takes every strip's crop (its own checks, made before anything
    /// is drawn: a strip refused halfway would leave the picture half drawn).
    fn all_valid(&self) -> bool {
        let (sw, sh) = (self.src_size.0 as f64, self.src_size.1 as f64);
        self.iter().all(|(_, _, (l, t, w, h))| {
            w >= 0.0 && h >= 0.0 && l >= 0.0 && t >= 0.0 && l < sw && t < sh && l + w <= sw && t + h <= sh
        })
    }
}

/// Resizes the part `crop` of `src` into the rectangle `part` (left, top, width, height)
/// of the `size` RGBA image `dst`; false when the resizer refuses.
fn resize_strip(src: Pixels, dst: &mut [u8], size: (u32, u32), part: (u32, u32, u32, u32), crop: (f64, f64, f64, f64)) -> bool {
    use fast_image_resize as fr;
    use fr::pixels::U8x4;
    let opts = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear))
        .use_alpha(false)
        .crop(crop.0, crop.1, crop.2, crop.3);
    let Ok(mut d) = fr::images::TypedImage::<U8x4>::from_buffer(size.0, size.1, dst) else { return false };
    let Ok(mut strip) = fr::images::TypedCroppedImageMut::from_ref(&mut d, part.0, part.1, part.2, part.3) else {
        return false;
    };
    let pic = match src {
        Pixels::Rgba(pm) => {
            let Ok(s) = fr::images::TypedImageRef::<U8x4>::from_buffer(pm.width(), pm.height(), pm.data()) else {
                return false;
            };
            return RESIZER.with(|r| r.borrow_mut().resize_typed(&s, &mut strip, &opts).is_ok());
        }
        Pixels::Yuv(pic) => pic,
    };
    // The rows the resize reads: within its filter's reach (a pixel, widened by the
    // shrink ratio) of the crop, and two more; whole chroma rows.
    let (w, h) = (pic.planes.width, pic.planes.height);
    let reach = (crop.3 / part.3.max(1) as f64).max(1.0) + 2.0;
    let y0 = ((crop.1 - reach).floor().max(0.0) as u32) & !1;
    let y1 = (((crop.1 + crop.3 + reach).ceil() as u32).min(h) + 1) & !1;
    if y1 <= y0 {
        return false;
    }
    CLIP_ROWS.with(|cell| {
        let mut rows = cell.borrow_mut();
        rows.resize(w as usize * (y1 - y0) as usize * 4, 0);
        if !pic.to_rgba_rows((y0, y1), &mut rows) {
            return false;
        }
        let Ok(part) = fr::images::TypedImageRef::<U8x4>::from_buffer(w, y1 - y0, &rows) else { return false };
        let view = RowsView { rows: part.pixels(), width: w, height: h, first: y0, count: y1 - y0 };
        RESIZER.with(|r| r.borrow_mut().resize_typed(&view, &mut strip, &opts).is_ok())
    })
}

/// A picture of `height` rows of which only `count` from `first` are in memory, as the
/// resizer reads it: it reads only the rows under its filter, which [`resize_strip`] keeps
/// in memory. A row outside them reads as the nearest row inside (never used). The same
/// picture size and crop as a whole picture give the same filter weights, so the same
/// pixels.
struct RowsView<'a> {
    rows: &'a [fast_image_resize::pixels::U8x4],
    width: u32,
    height: u32,
    first: u32,
    count: u32,
}

// SAFETY: every row `iter_rows` gives is a whole row of `rows`: `width` pixels.
unsafe impl fast_image_resize::ImageView for RowsView<'_> {
    type Pixel = fast_image_resize::pixels::U8x4;

    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn iter_rows(&self, start_row: u32) -> impl Iterator<Item = &[Self::Pixel]> {
        let (w, last) = (self.width as usize, self.count.saturating_sub(1));
        (start_row..self.height).map(move |y| {
            let i = y.saturating_sub(self.first).min(last) as usize;
            &self.rows[i * w..(i + 1) * w]
        })
    }
}

/// Gives the pixels of the `size` RGBA image `buf` outside its rectangle `inner` the
/// colour of the nearest pixel inside it (at most a pixel's width on each side).
fn pad_edges(buf: &mut [u8], size: (u32, u32), inner: (u32, u32, u32, u32)) {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let (l, t, iw, ih) = (inner.0 as usize, inner.1 as usize, inner.2 as usize, inner.3 as usize);
    for y in t..t + ih {
        let row = &mut buf[y * w * 4..(y + 1) * w * 4];
        for x in 0..l {
            row.copy_within(l * 4..l * 4 + 4, x * 4);
        }
        for x in l + iw..w {
            row.copy_within((l + iw - 1) * 4..(l + iw) * 4, x * 4);
        }
    }
    for y in 0..t {
        buf.copy_within(t * w * 4..(t + 1) * w * 4, y * w * 4);
    }
    for y in t + ih..h {
        buf.copy_within((t + ih - 1) * w * 4..(t + ih) * w * 4, y * w * 4);
    }
}

thread_local! {
    /// The pixels of a strip of [`fast_upright`]'s resized image (one per worker, reused).
    static UPRIGHT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static RESIZER: std::cell::RefCell<fast_image_resize::Resizer> = std::cell::RefCell::new(fast_image_resize::Resizer::new());
    /// The rows of a clip picture a strip of [`fast_upright`]'s resize reads, in RGBA.
    static CLIP_ROWS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A clip picture converted to RGBA where it is not drawn straight into the canvas.
    static CLIP_RGBA: std::cell::RefCell<Option<tiny_skia::Pixmap>> = const { std::cell::RefCell::new(None) };
    /// The frame (of the thread's clock, [`super::painting`]) that last used the buffers above.
    static USED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Lets go of this thread's picture buffers above when its previous frame did not use
/// them, as frame `now` begins (a clip's scene is over; 12 MB a worker for W4's clip).
pub(super) fn forget_unused(now: u64) {
    if USED.with(|u| u.get()) + 1 >= now {
        return;
    }
    UPRIGHT.with(|c| *c.borrow_mut() = Vec::new());
    CLIP_ROWS.with(|c| *c.borrow_mut() = Vec::new());
    CLIP_RGBA.with(|c| *c.borrow_mut() = None);
    RESIZER.with(|r| *r.borrow_mut() = fast_image_resize::Resizer::new());
}

/// Whether a box placed so covers the canvas, untransformed, fully opaque, with square
/// corners (where [`fast_cover`] applies to an opaque picture).
fn covers_canvas(pm: &PixmapMut, placed: &Placed) -> bool {
    let &Placed { w, h, ts, opacity, radius, .. } = placed;
    ts.is_identity() && opacity >= 1.0 && radius <= 0.0 && w as u32 == pm.width() && h as u32 == pm.height()
}

/// The common case of a photo background (cover, Ken Burns): an opaque image that covers the
/// whole canvas, untransformed, fully opaque. Instead of sampling it bilinearly per pixel
/// through a pattern shader, crop the visible part of the source and resize it with SIMD
/// convolution (fast_image_resize) straight into the canvas rows: 2-3x faster at 1080p, and
/// properly filtered when it shrinks. Returns false when the case does not apply.
fn fast_cover(pm: &mut PixmapMut, img: &Source, placed: &Placed) -> bool {
    let &Placed { w, h, img_ts, .. } = placed;
    use fast_image_resize as fr;
    if !(img.opaque && covers_canvas(pm, placed)) {
        return false;
    }
    let (cw, ch) = (pm.width(), pm.height());
    let src = img.pixmap;
    let Some(crop) = cover_crop(src.width(), src.height(), img_ts, w, h) else { return false };
    resize_crop(src.data(), (src.width(), src.height()), pm.data_mut(), (cw, ch), fr::PixelType::U8x4, crop)
}

/// The part `(left, top, width, height)` of an `sw` x `sh` source that `img_ts` puts on a
/// `w` x `h` canvas, kept inside the source; `None` unless the source covers the canvas.
pub(crate) fn cover_crop(sw: u32, sh: u32, img_ts: Transform, w: f32, h: f32) -> Option<(f64, f64, f64, f64)> {
    let covers = img_ts.tx <= 0.0
        && img_ts.ty <= 0.0
        && img_ts.tx + sw as f32 * img_ts.sx >= w - 0.01
        && img_ts.ty + sh as f32 * img_ts.sy >= h - 0.01;
    if !covers || img_ts.sx <= 0.0 || img_ts.sy <= 0.0 {
        return None;
    }
    // f32 rounding can put the far edge a hair outside the image, which the resizer
    // refuses (until session 3 such frames silently fell back to the slower two-tap
    // pattern draw).
    let (sw, sh) = (sw as f64, sh as f64);
    let (left, top) =
        ((-img_ts.tx as f64 / img_ts.sx as f64).max(0.0), (-img_ts.ty as f64 / img_ts.sy as f64).max(0.0));
    let (cw_src, ch_src) = ((w as f64 / img_ts.sx as f64).min(sw - left), (h as f64 / img_ts.sy as f64).min(sh - top));
    Some((left, top, cw_src, ch_src))
}

/// Resizes the part `crop` (`(left, top, width, height)` in source pixels) of the
/// `size.0` x `size.1` image `src` into the whole of `dst` (`dst_size`), both of pixel
/// type `pt` (RGBA or one 8-bit plane), with fast_image_resize's SIMD convolution. False
/// when the resizer refuses (nothing sensible was written).
pub(crate) fn resize_crop(
    src: &[u8],
    size: (u32, u32),
    dst: &mut [u8],
    dst_size: (u32, u32),
    pt: fast_image_resize::PixelType,
    crop: (f64, f64, f64, f64),
) -> bool {
    use fast_image_resize as fr;
    let (cw, ch) = dst_size;
    let Ok(s) = fr::images::ImageRef::new(size.0, size.1, src, pt) else {
        return false;
    };
    // Under Ken Burns, planning shrank the source to the largest size it is drawn at, so
    // frames read fewer pixels. Two-tap bilinear was measured too: 2 % faster on W1 but its
    // SSIM against a lossless render fell (0.98900 vs 0.98909), so the kernel stays widened
    // for the ratio.
    let alg = fr::ResizeAlg::Convolution(fr::FilterType::Bilinear);
    // In strips of rows ([`Strips`]): the resizer's intermediate buffer is then a strip,
    // not a whole frame per worker (10-20 MB each at 1080p), and stays in cache.
    let row = cw as usize * pt.size();
    if dst.len() < row * ch as usize {
        return false;
    }
    USED.with(|u| u.set(super::painting()));
    let strips = Strips { src_size: size, inner: (0, 0, cw, ch), crop, rows: STRIP_ROWS };
    RESIZER.with(|r| {
        let mut r = r.borrow_mut();
        for (y0, y1, (l, t, w, h)) in strips.iter() {
            let Ok(mut d) =
                fr::images::Image::from_slice_u8(cw, y1 - y0, &mut dst[y0 as usize * row..y1 as usize * row], pt)
            else {
                return false;
            };
            let opts = fr::ResizeOptions::new().resize_alg(alg).use_alpha(false).crop(l, t, w, h);
            if r.resize(&s, &mut d, &opts).is_err() {
                return false;
            }
        }
        true
    })
}

/// Rows per strip of [`fast_cover`] and [`fast_upright`].
const STRIP_ROWS: u32 = 136;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_resized_in_strips_is_the_picture_resized_whole() {
        // A picture with rows and columns that all differ, scaled up and down into a
        // rounded box at a fractional place, half transparent: strips of any height,
        // with the edge rows above the first and below the last, give the same canvas.
        let mut pic = tiny_skia::Pixmap::new(150, 330).expect("size");
        for (i, p) in pic.data_mut().chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % 150, i / 150);
            p.copy_from_slice(&[(x * 5 + y) as u8, (y * 3) as u8, (x * y % 253) as u8, 255]);
        }
        let src = Source { pixmap: &pic, opaque: true, fit: Fit::Fill, ken_burns: None };
        let placed = Placed {
            w: 120.0,
            h: 300.0,
            ts: Transform::from_row(1.1, 0.0, 0.0, 1.2, 5.5, 7.25),
            opacity: 0.9,
            radius: 14.0,
            img_ts: Transform::from_scale(0.8, 300.0 / 330.0),
        };
        let paint = |rows: u32| {
            let mut canvas = tiny_skia::Pixmap::new(200, 400).expect("size");
            canvas.fill(tiny_skia::Color::from_rgba8(10, 60, 110, 255));
            assert!(fast_upright_in(&mut canvas.as_mut(), Pixels::Rgba(src.pixmap), &placed, rows));
            canvas
        };
        let whole = paint(u32::MAX);
        // Rows 7 and 367 are a quarter and three quarters outside the box: drawn too,
        // repeating the picture's first and last rows under the coverage.
        for y in [7, 8, 200, 366, 367] {
            let p = whole.pixel(70, y).expect("inside");
            assert!((p.red(), p.green(), p.blue()) != (10, 60, 110), "row {y} drawn");
        }
        assert_eq!(whole.pixel(70, 368), Some(tiny_skia::Color::from_rgba8(10, 60, 110, 255).premultiply().to_color_u8()));
        for rows in [1, 7, 136] {
            assert!(paint(rows).data() == whole.data(), "{rows} rows a strip");
        }
    }

    #[test]
    fn a_clip_picture_converted_as_it_is_resized_is_its_rgba_copy_resized() {
        // A 4:2:0 picture drawn by converting the rows each strip reads gives the canvas
        // its whole RGBA copy gives, enlarged and shrunk (a shrink reads further rows).
        let (pw, ph) = (150u32, 330u32);
        let mut planes = crate::pixels::Yuv420::new(pw, ph);
        for (i, v) in planes.y.iter_mut().enumerate() {
            *v = (16 + (i % 150 * 3 + i / 150 * 5) % 220) as u8;
        }
        for (i, (u, v)) in planes.u.iter_mut().zip(planes.v.iter_mut()).enumerate() {
            (*u, *v) = ((60 + i * 7 % 130) as u8, (200 - i / 75 * 3 % 140) as u8);
        }
        let pic = crate::media::YuvPicture { planes, bt709: true, full_range: false };
        let mut rgba = tiny_skia::Pixmap::new(pw, ph).expect("size");
        assert!(pic.to_rgba(rgba.data_mut()));
        for (ts, img_ts) in [
            (Transform::from_row(1.1, 0.0, 0.0, 1.2, 5.5, 7.25), Transform::from_scale(0.8, 300.0 / 330.0)),
            (Transform::from_row(0.35, 0.0, 0.0, 0.4, 20.25, 3.5), Transform::from_scale(0.8, 300.0 / 330.0)),
        ] {
            let placed = Placed { w: 120.0, h: 300.0, ts, opacity: 1.0, radius: 9.0, img_ts };
            let paint = |src: Pixels, rows: u32| {
                let mut canvas = tiny_skia::Pixmap::new(200, 400).expect("size");
                canvas.fill(tiny_skia::Color::from_rgba8(10, 60, 110, 255));
                assert!(fast_upright_in(&mut canvas.as_mut(), src, &placed, rows));
                canvas
            };
            let want = paint(Pixels::Rgba(&rgba), u32::MAX);
            for rows in [1, 7, 136, u32::MAX] {
                assert!(paint(Pixels::Yuv(&pic), rows).data() == want.data(), "{rows} rows a strip, {ts:?}");
            }
        }
    }
}
