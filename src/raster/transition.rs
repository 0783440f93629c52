//! Compositing two rendered scenes for a transition at a given progress.

use crate::plan::{Direction, TransitionKind, TransitionPlan};
use tiny_skia::{
    Color, FilterQuality, Paint, Pixmap, PixmapMut, PixmapPaint, Rect, Shader, Transform,
};

fn copy(out: &mut PixmapMut, src: &Pixmap) {
    out.data_mut().copy_from_slice(src.data());
}

fn draw(out: &mut PixmapMut, src: &Pixmap, opacity: f32, ts: Transform) {
    let paint = PixmapPaint {
        opacity,
        quality: if ts.is_translate() { FilterQuality::Nearest } else { FilterQuality::Bilinear },
        ..PixmapPaint::default()
    };
    out.draw_pixmap(0, 0, src.as_ref(), &paint, ts, None);
}

fn overlay(out: &mut PixmapMut, color: Color, alpha: f32) {
    let mut c = color;
    c.apply_opacity(alpha);
    if let Some(r) = Rect::from_xywh(0.0, 0.0, out.width() as f32, out.height() as f32) {
        let paint = Paint { shader: Shader::SolidColor(c), ..Paint::default() };
        out.fill_rect(r, &paint, Transform::identity(), None);
    }
}

/// Rounds to the nearest even whole pixel: moves and edges land on whole 2x2 blocks, so a
/// frame composed in 4:2:0 moves its chroma samples whole, exactly as its luma.
fn even(v: f32) -> i32 {
    ((v / 2.0).round() * 2.0) as i32
}

/// The unit step of `direction`: "left" moves content leftwards (it enters from the right).
fn unit(direction: Direction) -> (i32, i32) {
    match direction {
        Direction::Left => (-1, 0),
        Direction::Right => (1, 0),
        Direction::Up => (0, -1),
        Direction::Down => (0, 1),
    }
}

/// A move of `amount` canvas lengths along `direction`, in even whole pixels. An easing
/// that overshoots moves further; beyond two lengths nothing more can show.
pub(crate) fn offset(direction: Direction, w: u32, h: u32, amount: f32) -> (i32, i32) {
    let (ux, uy) = unit(direction);
    let amount = if amount.is_finite() { amount.clamp(-2.0, 2.0) } else { 0.0 };
    (even(ux as f32 * w as f32 * amount), even(uy as f32 * h as f32 * amount))
}

/// Where the two scenes of a move sit at eased progress `e` (slide: only the entering
/// one moves; push: both, the lower one a whole canvas length ahead of the entering one,
/// so they always tile the canvas), as (lower, entering) offsets.
pub(crate) fn moves(t: &TransitionPlan, w: u32, h: u32, e: f32) -> ((i32, i32), (i32, i32)) {
    match t.kind {
        TransitionKind::Push => {
            let (ux, uy) = unit(t.direction);
            let below = offset(t.direction, w, h, e);
            let len = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
            (below, (below.0.saturating_sub(ux * len(w)), below.1.saturating_sub(uy * len(h))))
        }
        _ => ((0, 0), offset(t.direction, w, h, -(1.0 - e))),
    }
}

/// The part of the canvas a wipe has uncovered at eased progress `e`: `(x0, y0, x1, y1)`
/// in pixels, its moving edge on an even pixel. The edge travels in the direction of
/// movement, uncovering the entering scene behind it.
pub(crate) fn wiped(direction: Direction, w: u32, h: u32, e: f32) -> (u32, u32, u32, u32) {
    let at = |len: u32, f: f32| even(len as f32 * f).clamp(0, len as i32) as u32;
    match direction {
        Direction::Left => (at(w, 1.0 - e), 0, w, h),
        Direction::Right => (0, 0, at(w, e), h),
        Direction::Up => (0, at(h, 1.0 - e), w, h),
        Direction::Down => (0, 0, w, at(h, e)),
    }
}

fn translate((dx, dy): (i32, i32)) -> Transform {
    Transform::from_translate(dx as f32, dy as f32)
}

/// How a transition mixes its two scenes at one progress: written once, for both
/// painters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mix {
    /// The entering scene alone (a cut).
    Above,
    /// The entering scene over the lower one at this opacity (a fade).
    CrossFade(f32),
    /// One of the two scenes under a flat colour at opacity `amount`: the lower scene fades
    /// to the colour, then the entering one out of it.
    Dip {
        /// Whether the scene shown is the entering one.
        above: bool,
        /// White, else black.
        white: bool,
        amount: f32,
    },
    /// Slide, wipe, push and zoom: the pictures move or are uncovered by this eased
    /// progress, along the transition's direction.
    Move(f32),
}

impl Mix {
    /// Whether the lower scene shows at all.
    pub(crate) fn shows_below(self) -> bool {
        !matches!(self, Mix::Above | Mix::Dip { above: true, .. })
    }

    /// Whether the entering scene shows at all.
    pub(crate) fn shows_above(self) -> bool {
        !matches!(self, Mix::Dip { above: false, .. })
    }
}

/// How `t` mixes its scenes at linear progress `p`.
pub(crate) fn mix(t: &TransitionPlan, p: f32) -> Mix {
    let e = t.easing.apply(p);
    match t.kind {
        TransitionKind::Cut => Mix::Above,
        TransitionKind::Fade => Mix::CrossFade(e),
        TransitionKind::DipToBlack | TransitionKind::DipToWhite => {
            let white = t.kind == TransitionKind::DipToWhite;
            if e < 0.5 {
                Mix::Dip { above: false, white, amount: e * 2.0 }
            } else {
                Mix::Dip { above: true, white, amount: (1.0 - e) * 2.0 }
            }
        }
        TransitionKind::Slide | TransitionKind::Wipe | TransitionKind::Push | TransitionKind::Zoom => Mix::Move(e),
    }
}

/// Whether [`composite_onto`] does `t`: its lower scene is then painted straight into the
/// output, which saves a canvas per worker and a copy per frame.
pub(crate) fn below_in_place(t: &TransitionPlan) -> bool {
    !matches!(t.kind, TransitionKind::Push | TransitionKind::Zoom)
}

/// [`composite`] for `out` holding the lower scene already (see [`below_in_place`]), or
/// nothing when the mix does not show it; [`composite`] copies the lower scene in and
/// comes here for these kinds. `above` is unread when the mix does not show it.
pub(crate) fn composite_onto(out: &mut PixmapMut, above: &Pixmap, t: &TransitionPlan, mix: Mix) {
    let (w, h) = (out.width(), out.height());
    match mix {
        Mix::Above => copy(out, above),
        Mix::CrossFade(e) => crate::pixels::blit::cross_fade_onto(out, above, e),
        Mix::Dip { above: show_above, white, amount } => {
            if show_above {
                copy(out, above);
            }
            overlay(out, if white { Color::WHITE } else { Color::BLACK }, amount);
        }
        Mix::Move(e) => match t.kind {
            TransitionKind::Slide => draw(out, above, 1.0, translate(moves(t, w, h, e).1)),
            TransitionKind::Wipe => wipe(out, above, wiped(t.direction, w, h, e)),
            // Not done in place (below_in_place is false): they read the lower scene
            // while drawing over it. The other kinds never mix by moving.
            _ => {}
        },
    }
}

/// Copies the rectangle `r` of `above` into `out` (the same size).
fn wipe(out: &mut PixmapMut, above: &Pixmap, r: (u32, u32, u32, u32)) {
    let size = (out.width() as usize, out.height() as usize);
    if (above.width() as usize, above.height() as usize) != size {
        return;
    }
    let rect = (r.0 as usize, r.1 as usize, r.2 as usize, r.3 as usize);
    crate::pixels::copy_rect(above.data(), out.data_mut(), size, 4, rect);
}

/// The scales of the zoom transition's lower and entering scenes at eased progress `e`:
/// the lower grows from 1 to 1.25, the entering one shrinks from 1.25 to 1.
pub(crate) fn zoom_scales(e: f32) -> (f32, f32) {
    (1.0 + 0.25 * e, 1.25 - 0.25 * e)
}

/// The part of a `w` x `h` picture scaled by `s` about its centre that the canvas shows:
/// the centred `w / s` x `h / s` part, as `(left, top, width, height)`.
pub(crate) fn zoom_crop(w: u32, h: u32, s: f32) -> (f64, f64, f64, f64) {
    let (cw, ch) = (w as f64 / s as f64, h as f64 / s as f64);
    ((w as f64 - cw) / 2.0, (h as f64 - ch) / 2.0, cw, ch)
}

/// The zoom transition at eased progress `e`: the lower scene grows from 1 to 1.25 times
/// its size about the centre, the upper one shrinks from 1.25 to 1 over it while fading
/// in. Both cover the canvas, so each is a crop of its scene resized to the canvas with
/// fast_image_resize's bilinear convolution, not tiny-skia's bilinear pattern (W2's 15
/// zoom frames took 0.74 s less CPU: 6 % of W2; pixels within 1 of the pattern's).
/// `below` is overwritten.
fn zoom(out: &mut PixmapMut, below: &mut Pixmap, above: &Pixmap, e: f32) {
    let (w, h) = (out.width(), out.height());
    let (fw, fh) = (w as f32, h as f32);
    let sizes_match = (below.width(), below.height()) == (w, h) && (above.width(), above.height()) == (w, h);
    let crop = |s: f32| zoom_crop(w, h, s);
    let rgba = fast_image_resize::PixelType::U8x4;
    let resize = |src: &[u8], dst: &mut [u8], s: f32| {
        sizes_match && super::fill::resize_crop(src, (w, h), dst, (w, h), rgba, crop(s))
    };
    // tiny-skia's transformed draw where the resizer refuses (sizes planning never makes).
    let about =
        |s: f32| Transform::from_translate(fw / 2.0, fh / 2.0).pre_scale(s, s).pre_translate(-fw / 2.0, -fh / 2.0);
    let (grow, shrink) = zoom_scales(e);
    if !resize(below.data(), out.data_mut(), grow) {
        copy(out, below);
        draw(out, below, 1.0, about(grow));
    }
    if resize(above.data(), below.data_mut(), shrink) {
        crate::pixels::blit::cross_fade_onto(out, below, e);
    } else {
        draw(out, above, e, about(shrink));
    }
}

/// Paints `below` turning into `above` with `mix` into `out`; `below` may be overwritten.
pub(crate) fn composite(out: &mut PixmapMut, below: &mut Pixmap, above: &Pixmap, t: &TransitionPlan, mix: Mix) {
    if below_in_place(t) {
        copy(out, below);
        return composite_onto(out, above, t, mix);
    }
    let Mix::Move(e) = mix else { return composite_onto(out, above, t, mix) };
    match t.kind {
        TransitionKind::Push => {
            let (lower, entering) = moves(t, out.width(), out.height(), e);
            // The two tile the canvas, unless an easing overshoots: black shows there.
            out.fill(Color::BLACK);
            draw(out, below, 1.0, translate(lower));
            draw(out, above, 1.0, translate(entering));
        }
        TransitionKind::Zoom => zoom(out, below, above, e),
        // Done in place above.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_are_even_bounded_and_a_push_tiles() {
        let t = |kind, direction| TransitionPlan { kind, direction, frames: 8, easing: crate::anim::Easing::Linear };
        for direction in [Direction::Left, Direction::Right, Direction::Up, Direction::Down] {
            for e in [0.0, 0.013, 0.37, 0.5, 0.999, 1.0, 1.06, -0.2, 1e30, -1e30, f32::NAN, f32::INFINITY] {
                let (lower, entering) = moves(&t(TransitionKind::Push, direction), 1080, 1920, e);
                for v in [lower.0, lower.1, entering.0, entering.1] {
                    assert!(v % 2 == 0 && v.abs() <= 3 * 1920, "{direction:?} at {e}: {lower:?} {entering:?}");
                }
                // A canvas length apart along the move: the two scenes always tile.
                let (ux, uy) = unit(direction);
                assert_eq!((lower.0 - entering.0, lower.1 - entering.1), (ux * 1080, uy * 1920));
                let (x0, y0, x1, y1) = wiped(direction, 1080, 1920, e);
                assert!(x0 <= x1 && x1 <= 1080 && y0 <= y1 && y1 <= 1920 && x0 % 2 == 0 && y0 % 2 == 0);
            }
        }
    }
}
