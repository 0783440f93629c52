//! Compositing two rendered scenes for a transition at a given progress.

use crate::plan::{Direction, TransitionKind, TransitionPlan};
use tiny_skia::{
    Color, FilterQuality, Paint, Pattern, Pixmap, PixmapMut, PixmapPaint, Rect, Shader, SpreadMode, Transform,
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

/// A whole-pixel move of `amount` canvas lengths along `direction`: "left" moves content
/// leftwards (it enters from the right).
fn shift(direction: Direction, w: f32, h: f32, amount: f32) -> Transform {
    let (ux, uy) = match direction {
        Direction::Left => (-1.0, 0.0),
        Direction::Right => (1.0, 0.0),
        Direction::Up => (0.0, -1.0),
        Direction::Down => (0.0, 1.0),
    };
    Transform::from_translate((ux * w * amount).round(), (uy * h * amount).round())
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
    let (w, h) = (out.width() as f32, out.height() as f32);
    let shift = |amount: f32| shift(t.direction, w, h, amount);
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
            TransitionKind::Slide => draw(out, above, 1.0, shift(-(1.0 - e))),
            TransitionKind::Wipe => wipe(out, above, t.direction, w, h, e),
            // Not done in place (below_in_place is false): they read the lower scene
            // while drawing over it. The other kinds never mix by moving.
            _ => {}
        },
    }
}

/// The edge travels in the direction of movement, uncovering `above` behind it.
fn wipe(out: &mut PixmapMut, above: &Pixmap, direction: Direction, w: f32, h: f32, e: f32) {
    let r = match direction {
        Direction::Left => Rect::from_ltrb(w * (1.0 - e), 0.0, w, h),
        Direction::Right => Rect::from_ltrb(0.0, 0.0, w * e, h),
        Direction::Up => Rect::from_ltrb(0.0, h * (1.0 - e), w, h),
        Direction::Down => Rect::from_ltrb(0.0, 0.0, w, h * e),
    };
    if let Some(r) = r {
        let shader = Pattern::new(above.as_ref(), SpreadMode::Pad, FilterQuality::Nearest, 1.0, Transform::identity());
        out.fill_rect(r, &Paint { shader, ..Paint::default() }, Transform::identity(), None);
    }
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
    // Scaling by `s` about the centre shows the centred `w / s` x `h / s` part.
    let crop = |s: f32| {
        let (cw, ch) = (w as f64 / s as f64, h as f64 / s as f64);
        ((w as f64 - cw) / 2.0, (h as f64 - ch) / 2.0, cw, ch)
    };
    let rgba = fast_image_resize::PixelType::U8x4;
    let resize = |src: &[u8], dst: &mut [u8], s: f32| {
        sizes_match && super::fill::resize_crop(src, (w, h), dst, (w, h), rgba, crop(s))
    };
    // tiny-skia's transformed draw where the resizer refuses (sizes planning never makes).
    let about =
        |s: f32| Transform::from_translate(fw / 2.0, fh / 2.0).pre_scale(s, s).pre_translate(-fw / 2.0, -fh / 2.0);
    let (grow, shrink) = (1.0 + 0.25 * e, 1.25 - 0.25 * e);
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
    let (w, h) = (out.width() as f32, out.height() as f32);
    let shift = |amount: f32| shift(t.direction, w, h, amount);
    match t.kind {
        TransitionKind::Push => {
            out.fill(Color::BLACK);
            draw(out, below, 1.0, shift(e));
            draw(out, above, 1.0, shift(-(1.0 - e)));
        }
        TransitionKind::Zoom => zoom(out, below, above, e),
        // Done in place above.
        _ => {}
    }
}
