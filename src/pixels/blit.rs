//! Two pixel loops that tiny-skia would run through its general pipeline (a pattern shader
//! gathering every pixel, then source-over in floats): an untransformed, whole-pixel
//! source-over blit (text blocks, caption lines) and the cross-fade of two opaque frames.
//! Plain integer loops the compiler vectorizes; the same results within one code value.

use tiny_skia::{Pixmap, PixmapMut};

/// `x * y / 255`, rounded, for `x, y` in 0..=255.
#[inline(always)]
fn mul255(x: u32, y: u32) -> u32 {
    let t = x * y + 128;
    (t + (t >> 8)) >> 8
}

/// Pixels per step of [`blend_row`] (its stack buffer holds their inverse alphas).
const BLEND_STEP: usize = 32;

/// [`mul255`] in 16-bit lanes: `x * y + 128 + (that >> 8)` stays below 2^16 for bytes.
#[inline(always)]
fn mul255_16(x: u16, y: u16) -> u16 {
    let t = x * y + 128;
    (t + (t >> 8)) >> 8
}

/// `d = s + d * inv / 255` per byte: source-over with the source already weighted and each
/// pixel's inverse alpha spread over its four bytes. No branches, so it vectorizes.
#[inline(always)]
fn over_bytes(d: &mut [u8], s: &[u8], inv: &[u8]) {
    for ((d, &s), &i) in d.iter_mut().zip(s).zip(inv) {
        *d = (s as u16 + mul255_16(*d as u16, i as u16)).min(255) as u8;
    }
}

/// `d = s * op + d * (1 - alpha(s) * op)` over one row of premultiplied pixels. In two
/// passes without branches, so both vectorize: each pixel's inverse alpha is spread over
/// its four bytes, then every byte is blended on its own. A transparent source pixel leaves
/// `d` as it is (inverse 255) and an opaque one replaces it (inverse 0) through the same
/// arithmetic, and `mul255(x, 255) == x` lets full opacity skip a multiply. (The earlier
/// loop branched per pixel and ran one channel at a time: text plates, translucent
/// everywhere, took 2.3 % of W1's CPU.)
fn blend_row(d_row: &mut [u8], s_row: &[u8], op: u32) {
    let mut inv = [0u8; BLEND_STEP * 4];
    for (d, s) in d_row.chunks_mut(BLEND_STEP * 4).zip(s_row.chunks(BLEND_STEP * 4)) {
        // Runs of transparent pixels (most of a text block without a plate) change nothing.
        if s.chunks_exact(4).all(|px| px[3] == 0) {
            continue;
        }
        let inv = &mut inv[..s.len()];
        for (i, px) in inv.chunks_exact_mut(4).zip(s.chunks_exact(4)) {
            let a = 255 - mul255(px[3] as u32, op) as u8;
            i.copy_from_slice(&[a; 4]);
        }
        if op == 255 {
            over_bytes(d, s, inv);
        } else {
            let op = op as u16;
            for ((d, &s), &a) in d.iter_mut().zip(s).zip(inv.iter()) {
                *d = (mul255_16(s as u16, op) + mul255_16(*d as u16, a as u16)).min(255) as u8;
            }
        }
    }
}

/// Draws the part `[sx0, sx1) x [sy0, sy1)` of premultiplied `src` over `dst`, the source's
/// origin at whole pixel `(x, y)` of `dst`, at `opacity` (0..=1). Clipped to both pixmaps.
pub(crate) fn over(dst: &mut PixmapMut, src: &Pixmap, x: i32, y: i32, opacity: f32, rect: (i32, i32, i32, i32)) {
    let op = (opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
    if op == 0 {
        return;
    }
    let (sw, sh) = (src.width() as i32, src.height() as i32);
    let (dw, dh) = (dst.width() as i32, dst.height() as i32);
    // Source rectangle clipped to the source and to where it lands inside the destination.
    let sx0 = rect.0.max(0).max(-x);
    let sy0 = rect.1.max(0).max(-y);
    let sx1 = rect.2.min(sw).min(dw - x);
    let sy1 = rect.3.min(sh).min(dh - y);
    if sx0 >= sx1 || sy0 >= sy1 {
        return;
    }
    let n = (sx1 - sx0) as usize * 4;
    let (s_data, d_data) = (src.data(), dst.data_mut());
    for sy in sy0..sy1 {
        let s_off = (sy as usize * sw as usize + sx0 as usize) * 4;
        let d_off = ((sy + y) as usize * dw as usize + (sx0 + x) as usize) * 4;
        let (s_row, d_row) = (&s_data[s_off..s_off + n], &mut d_data[d_off..d_off + n]);
        blend_row(d_row, s_row, op);
    }
}

/// Draws the premultiplied pixels `src` (`w` pixels a row) over `dst` with their origin at
/// `(x, y)` (inside `dst`), each weighted by its byte of `mask` and by `opacity` (0..=1):
/// an image resized to the pixels it covers, shown through its box's coverage (rounded
/// corners, edges between pixels). Rows of `src` beyond `dst` are skipped.
pub(crate) fn over_masked(dst: &mut PixmapMut, src: &[u8], mask: &[u8], w: usize, (x, y): (usize, usize), opacity: f32) {
    let op = (opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
    let (dw, dh) = (dst.width() as usize, dst.height() as usize);
    if op == 0 || w == 0 || x >= dw || y >= dh {
        return;
    }
    let n = w.min(dw - x);
    let d_data = dst.data_mut();
    let mut weighted = [0u8; BLEND_STEP * 4];
    let mut inv = [0u8; BLEND_STEP * 4];
    for ((s_row, m_row), row) in src.chunks_exact(w * 4).zip(mask.chunks_exact(w)).zip(y..dh) {
        let d_row = &mut d_data[(row * dw + x) * 4..(row * dw + x + n) * 4];
        for ((d, s), m) in d_row.chunks_mut(BLEND_STEP * 4).zip(s_row.chunks(BLEND_STEP * 4)).zip(m_row.chunks(BLEND_STEP))
        {
            if m.iter().all(|&m| m == 0) {
                continue;
            }
            let (weighted, inv) = (&mut weighted[..d.len()], &mut inv[..d.len()]);
            for (((wp, i), px), &m) in weighted.chunks_exact_mut(4).zip(inv.chunks_exact_mut(4)).zip(s.chunks_exact(4)).zip(m)
            {
                let a = mul255(m as u32, op) as u16;
                for (w, &v) in wp.iter_mut().zip(px) {
                    *w = mul255_16(v as u16, a) as u8;
                }
                i.copy_from_slice(&[255 - mul255(px[3] as u32, a as u32) as u8; 4]);
            }
            over_bytes(d, weighted, inv);
        }
    }
}

/// Draws `color` over `dst` through the coverage `mask` (a blurred shadow), the mask's
/// origin at whole pixel `origin` of `dst`, at `opacity` (0..=1). Clipped to `dst`.
pub(crate) fn fill_masked(dst: &mut PixmapMut, mask: &tiny_skia::Mask, origin: (i32, i32), color: tiny_skia::Color, opacity: f32) {
    let op = (opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
    let c = color.premultiply().to_color_u8();
    let c = [c.red(), c.green(), c.blue(), c.alpha()].map(u32::from);
    let (mw, mh) = (mask.width() as i32, mask.height() as i32);
    let (dw, dh) = (dst.width() as i32, dst.height() as i32);
    // The mask's columns and rows that land inside `dst`.
    let (mx0, my0) = ((-origin.0).max(0), (-origin.1).max(0));
    let (mx1, my1) = (mw.min(dw - origin.0), mh.min(dh - origin.1));
    if op == 0 || mx0 >= mx1 || my0 >= my1 {
        return;
    }
    let n = (mx1 - mx0) as usize;
    let d_data = dst.data_mut();
    let mut src = [0u8; BLEND_STEP * 4];
    let mut inv = [0u8; BLEND_STEP * 4];
    for my in my0..my1 {
        let m_row = &mask.data()[(my * mw + mx0) as usize..][..n];
        let d_off = (((my + origin.1) * dw + mx0 + origin.0) * 4) as usize;
        let d_row = &mut d_data[d_off..d_off + n * 4];
        for (d, m) in d_row.chunks_mut(BLEND_STEP * 4).zip(m_row.chunks(BLEND_STEP)) {
            if m.iter().all(|&m| m == 0) {
                continue;
            }
            let (src, inv) = (&mut src[..d.len()], &mut inv[..d.len()]);
            for ((s, i), &m) in src.chunks_exact_mut(4).zip(inv.chunks_exact_mut(4)).zip(m) {
                let a = mul255(m as u32, op);
                for (s, c) in s.iter_mut().zip(c) {
                    *s = mul255(c, a) as u8;
                }
                i.copy_from_slice(&[255 - mul255(c[3], a) as u8; 4]);
            }
            over_bytes(d, src, inv);
        }
    }
}

/// [`cross_fade_onto`] from a separate `below` (the render paints `below` in place; this
/// form is what the test compares with tiny-skia).
#[cfg(test)]
pub(crate) fn cross_fade(out: &mut PixmapMut, below: &Pixmap, above: &Pixmap, t: f32) {
    out.data_mut().copy_from_slice(below.data());
    cross_fade_onto(out, above, t);
}

/// `out = below + (above - below) * t`, `out` holding `below`: `above` drawn at opacity `t`
/// (0..=1) over it, both opaque and of `out`'s size.
pub(crate) fn cross_fade_onto(out: &mut PixmapMut, above: &Pixmap, t: f32) {
    cross_fade_bytes(out.data_mut(), above.data(), (t.clamp(0.0, 1.0) * 255.0).round() as u16);
}

/// `out = (out * (255 - a) + above * a) / 255` per byte, rounded (`a` in 0..=255): the
/// cross-fade of RGBA pixels or of Y'CbCr planes alike.
pub(crate) fn cross_fade_bytes(out: &mut [u8], above: &[u8], a: u16) {
    let b = 255 - a;
    for (o, y) in out.iter_mut().zip(above) {
        let v = *o as u16 * b + *y as u16 * a + 128;
        *o = ((v + (v >> 8)) >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiny_skia::{Color, FilterQuality, PixmapPaint, Transform};

    fn noise(w: u32, h: u32, seed: u32, opaque: bool) -> Pixmap {
        let mut p = Pixmap::new(w, h).expect("pixmap");
        let mut s = seed;
        for px in p.pixels_mut() {
            let mut next = || {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            };
            let a = if opaque { 255 } else { [0, 255, next()][(next() % 3) as usize] };
            let c = |v: u8| (v as u32 * a as u32 / 255) as u8;
            *px = tiny_skia::PremultipliedColorU8::from_rgba(c(next()), c(next()), c(next()), a).expect("premul");
        }
        p
    }

    fn worst(a: &Pixmap, b: &Pixmap) -> u8 {
        a.data().iter().zip(b.data()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
    }

    /// The same pixels as tiny-skia's draw_pixmap, within one code value. tiny-skia is the
    /// reference only where the source lies inside the canvas: partly outside (a negative
    /// offset) it smears the source's edge past its end (its "partially clipped" TODO), so
    /// the reference is drawn on a larger canvas and cropped.
    #[test]
    fn over_matches_tiny_skia() {
        let src = noise(37, 23, 7, false);
        let big = noise(104, 80, 9, true);
        for (x, y, op) in [(3, 4, 1.0), (3, 4, 0.6), (-5, -6, 1.0), (-5, -6, 0.6), (50, 30, 0.3), (70, 2, 1.0)] {
            let mut want = big.clone();
            let paint = PixmapPaint { opacity: op, quality: FilterQuality::Nearest, ..PixmapPaint::default() };
            want.draw_pixmap(x + 20, y + 20, src.as_ref(), &paint, Transform::identity(), None);
            let crop =
                |p: &Pixmap| p.clone_rect(tiny_skia::IntRect::from_xywh(20, 20, 64, 40).expect("rect")).expect("crop");
            let want = crop(&want);
            let mut got = crop(&big);
            over(&mut got.as_mut(), &src, x, y, op, (0, 0, 37, 23));
            assert!(worst(&want, &got) <= 1, "at {x},{y} x{op}: off by {}", worst(&want, &got));
        }
    }

    #[test]
    fn over_masked_matches_tiny_skia() {
        let src = noise(37, 23, 7, false);
        let mask_px = noise(37, 23, 11, false);
        let mut mask = tiny_skia::Mask::new(37, 23).expect("mask");
        for (m, px) in mask.data_mut().iter_mut().zip(mask_px.pixels()) {
            *m = px.alpha();
        }
        let big = noise(104, 80, 9, true);
        for (x, y, op) in [(3, 4, 1.0), (3, 4, 0.6), (80, 70, 1.0), (0, 0, 0.3)] {
            let mut want = big.clone();
            let paint = PixmapPaint { opacity: op, quality: FilterQuality::Nearest, ..PixmapPaint::default() };
            // The mask in the destination's coordinates.
            let mut dmask = tiny_skia::Mask::new(104, 80).expect("mask");
            for row in 0..23usize {
                for col in 0..37usize {
                    if x + col < 104 && y + row < 80 {
                        dmask.data_mut()[(y + row) * 104 + x + col] = mask.data()[row * 37 + col];
                    }
                }
            }
            want.draw_pixmap(x as i32, y as i32, src.as_ref(), &paint, Transform::identity(), Some(&dmask));
            let mut got = big.clone();
            over_masked(&mut got.as_mut(), src.data(), mask.data(), 37, (x, y), op);
            assert!(worst(&want, &got) <= 1, "at {x},{y} x{op}: off by {}", worst(&want, &got));
        }
    }

    #[test]
    fn fill_masked_matches_tiny_skia() {
        let mask_px = noise(37, 23, 11, false);
        let mut mask = tiny_skia::Mask::new(37, 23).expect("mask");
        for (m, px) in mask.data_mut().iter_mut().zip(mask_px.pixels()) {
            *m = px.alpha();
        }
        let color = Color::from_rgba8(200, 40, 90, 160);
        let big = noise(104, 80, 9, true);
        for (x, y, op) in [(3, 4, 1.0), (3, 4, 0.6), (80, 70, 1.0), (-10, -5, 0.8)] {
            let mut want = big.clone();
            // The colour drawn over the mask placed in the destination's coordinates.
            let mut dmask = tiny_skia::Mask::new(104, 80).expect("mask");
            for row in 0..23i32 {
                for col in 0..37i32 {
                    let (dx, dy) = (x + col, y + row);
                    if (0..104).contains(&dx) && (0..80).contains(&dy) {
                        dmask.data_mut()[(dy * 104 + dx) as usize] = mask.data()[(row * 37 + col) as usize];
                    }
                }
            }
            let mut c = color;
            c.apply_opacity(op);
            let paint = tiny_skia::Paint { shader: tiny_skia::Shader::SolidColor(c), ..tiny_skia::Paint::default() };
            want.fill_rect(tiny_skia::Rect::from_xywh(0.0, 0.0, 104.0, 80.0).expect("rect"), &paint, Transform::identity(), Some(&dmask));
            let mut got = big.clone();
            fill_masked(&mut got.as_mut(), &mask, (x, y), color, op);
            assert!(worst(&want, &got) <= 2, "at {x},{y} x{op}: off by {}", worst(&want, &got));
        }
    }

    #[test]
    fn cross_fade_matches_tiny_skia() {
        let (below, above) = (noise(31, 17, 3, true), noise(31, 17, 5, true));
        for t in [0.0, 0.25, 0.5, 0.9, 1.0] {
            let mut want = below.clone();
            let paint = PixmapPaint { opacity: t, ..PixmapPaint::default() };
            want.draw_pixmap(0, 0, above.as_ref(), &paint, Transform::identity(), None);
            let mut got = Pixmap::new(31, 17).expect("pixmap");
            got.fill(Color::BLACK);
            cross_fade(&mut got.as_mut(), &below, &above, t);
            assert!(worst(&want, &got) <= 1, "t {t}: off by {}", worst(&want, &got));
        }
    }
}
