//! Composing a frame straight into the encoder's 4:2:0 planes, for the frames whose
//! background is a photo or a clip that covers the canvas (W1's, W3's and W4's frames).
//!
//! The RGBA path paints such a frame into a 1080p RGBA canvas (8 MB) and converts it to
//! 4:2:0 (3 MB). Here the photo is converted to 4:2:0 once per load and each frame's Ken
//! Burns resize runs on the three planes (1.5 bytes a pixel instead of 4); a clip's decoded
//! planes are copied as they are, or re-encoded to BT.709 limited range by one affine map
//! when the clip is BT.601 or full range (no round trip through RGBA). Layers and captions are
//! painted by the same code as ever into a transparent RGBA overlay, only inside their
//! bounds, and blended onto the planes there. Source-over is linear and so is the
//! BT.709 matrix, so blending in Y'CbCr gives what converting the RGBA result would,
//! except that a chroma sample under a partly covered 2x2 block mixes the block's average
//! coverage (within a few code values at edges; see the test in `tests/`).
//!
//! Transitions between two such scenes run on the planes too: cuts, fades and dips blend
//! them; slides, pushes and wipes move or uncover them by even pixels (whole chroma
//! samples), as the RGBA painter does; a zoom resizes a centred crop of each.
//!
//! Anything else (gradients, non-covering backgrounds, gaps, clip pictures handed out as
//! RGBA) says no and the caller takes the RGBA path.

use super::fill::{cover_crop, exact_cover, ken_burns_transform};
use super::layer::{self, PixelRect};
use super::resample::resize_plane;
use super::ClipFrames;
// The conversion's BT.709 limited-range coefficients (2^16 scale), for blending in Y'CbCr.
use super::frame::{Content, Picture, Shot};
use super::transition::{self, Mix};
use crate::media::{ClipPicture, YuvPicture};
use crate::pixels::yuv::{UB, UG, UR, VB, VG, VR, YB, YG, YR};
use crate::pixels::Yuv420;
use crate::plan::{Fill, Plan, TransitionKind, TransitionPlan};
use std::sync::Arc;
use tiny_skia::{PixmapMut, Transform};

/// Per-worker buffers of the planar path, made on first use.
#[derive(Debug, Default)]
pub(crate) struct Planes {
    /// The entering scene of a transition.
    above: Option<Yuv420>,
    /// The entering scene resized, in a zoom transition.
    zoomed: Option<Yuv420>,
    /// Overlays composed for the blend, with what they show: the layers of the last two
    /// scenes drawn (a transition), the overlays and the caption line.
    composed: [Option<(Shows, Composed)>; 4],
    /// When each entry of `composed` was last used, in calls.
    used: [u64; 4],
    calls: u64,
    /// The buffers of the last overlay composed and not kept (layers that change every
    /// frame), reused for the next one.
    spare: Option<Composed>,
}

/// What an overlay shows. Equal values paint equal pixels.
#[derive(Debug, PartialEq)]
enum Shows {
    /// Scene `uid`'s layers, each visible one's index and animated state, when every one
    /// of them is static content (see [`is_static`]).
    Layers(u64, Vec<(usize, layer::State)>),
    /// Caption plan `uid`'s line, as [`super::frame::CaptionAt::key`] says.
    Caption((u64, usize, Option<usize>, usize, Option<u64>)),
}

impl Shows {
    /// Whose overlay this is: a scene's or a caption plan's.
    fn owner(&self) -> (bool, u64) {
        match self {
            Shows::Layers(uid, _) => (false, *uid),
            Shows::Caption((uid, ..)) => (true, *uid),
        }
    }
}

impl Planes {
    /// Lets go of the transition buffers outside transitions and of the overlays composed
    /// for scenes and caption plans `content` does not show.
    pub(super) fn forget_unseen(&mut self, content: &Content) {
        if !matches!(content.picture, Picture::Transition { .. }) {
            self.above = None;
            self.zoomed = None;
        }
        for entry in &mut self.composed {
            let seen = match entry {
                Some((Shows::Layers(uid, _), _)) => content.shows_scene(*uid),
                Some((Shows::Caption((uid, ..)), _)) => content.caption.is_some_and(|c| c.plan.uid == *uid),
                None => true,
            };
            if !seen {
                *entry = None;
            }
        }
    }
}

/// The planar path's buffers while it composes one frame: the worker's own, and the
/// worker's RGBA canvas, lent as the overlay layers are painted into (the planar path has
/// no other use for it; a canvas-sized overlay of its own cost 8 MB a worker).
struct Bufs<'a, 'c> {
    planes: &'a mut Planes,
    /// Transparent outside the rectangles being drawn once `clear`.
    overlay: &'a mut PixmapMut<'c>,
    /// Whether `overlay` is known transparent everywhere; it is cleared on first use.
    clear: bool,
}

impl Bufs<'_, '_> {
    /// Blends an overlay onto `out`. With `shows` (what it depicts), one composed before is
    /// reused; otherwise `paint` paints it into the transparent overlay (returning the
    /// rectangles it changed), it is composed, and kept in place of the owner's earlier
    /// one or of the entry used least lately. Without `shows` (layers that change every
    /// frame) it is painted and composed every time, into reused buffers.
    fn blend_overlay(
        &mut self,
        shows: Option<Shows>,
        out: &mut Yuv420,
        paint: impl FnOnce(&mut PixmapMut) -> Vec<PixelRect>,
    ) {
        let planes = &mut *self.planes;
        planes.calls += 1;
        let found =
            shows.as_ref().and_then(|s| planes.composed.iter().position(|e| e.as_ref().is_some_and(|(k, _)| k == s)));
        if let Some(i) = found {
            if let Some((_, c)) = &planes.composed[i] {
                c.blend(out);
            }
            planes.used[i] = planes.calls;
            return;
        }
        let (w, h) = (out.width, out.height);
        let overlay = &mut *self.overlay;
        if !self.clear {
            // A canvas no painter has drawn in yet is zeroed and mostly not even in memory:
            // reading it keeps it so, where filling it would take all 8 MB.
            if !transparent(overlay.as_ref().data()) {
                overlay.fill(tiny_skia::Color::TRANSPARENT);
            }
            self.clear = true;
        }
        let mut rects = paint(overlay);
        normalize(&mut rects, w, h);
        let Some(shows) = shows else {
            planes.spare = blend_in_bands(overlay, &rects, out, planes.spare.take(), BAND_ROWS);
            clear(overlay, &rects);
            return;
        };
        let owner = shows.owner();
        let slot = planes.composed.iter().position(|e| e.as_ref().is_some_and(|(k, _)| k.owner() == owner));
        let oldest = (0..planes.used.len()).min_by_key(|&i| planes.used[i]).unwrap_or(0);
        let slot = slot.unwrap_or(oldest);
        let c = Composed::from_overlay(overlay, &rects, planes.composed[slot].take().map(|(_, c)| c));
        clear(overlay, &rects);
        c.blend(out);
        planes.composed[slot] = Some((shows, c));
        planes.used[slot] = planes.calls;
    }
}

/// Rows of an overlay composed and blended at a time when it is not kept (even).
const BAND_ROWS: u32 = 32;

/// Composes the overlay's pixels inside `rects` (even corners, disjoint) and blends them
/// onto `out` a band of `rows` (even) rows at a time, reusing `spare`'s buffers; returns
/// them for the next overlay. Nothing is kept, so only a band's buffers exist (a clip
/// card's whole overlay took 5 MB a worker); bands start on even rows, so every chroma
/// block and every pixel is the whole overlay's.
fn blend_in_bands(overlay: &PixmapMut, rects: &[PixelRect], out: &mut Yuv420, mut spare: Option<Composed>, rows: u32) -> Option<Composed> {
    let rows = rows.max(2);
    for &(x0, y0, x1, y1) in rects {
        for b0 in (y0..y1).step_by(rows as usize) {
            let band = (x0, b0, x1, (b0 + rows).min(y1));
            let c = Composed::from_overlay(overlay, &[band], spare.take());
            c.blend(out);
            spare = Some(c);
        }
    }
    spare
}

/// Whether a layer's pixels depend on its animated state alone, not on the frame: text,
/// shapes filled with a colour, a gradient or a still image, and still images (a logo
/// over a clip was painted and converted again on every frame: 3 % of W3's CPU). Clips
/// and images under a Ken Burns move change with the frame.
fn is_static(l: &crate::plan::LayerPlan) -> bool {
    let still = |fill: &Fill| match fill {
        Fill::Solid(_) | Fill::Gradient(_) => true,
        Fill::Image(img) => img.ken_burns.is_none(),
        Fill::Video(_) => false,
    };
    match &l.content {
        crate::plan::Content::Text(_) => true,
        crate::plan::Content::Shape(s) => s.fill.as_ref().is_none_or(still),
        crate::plan::Content::Image(img) => img.ken_burns.is_none(),
        crate::plan::Content::Video(_) => false,
    }
}

/// Premultiplied RGBA overlay pixels turned into what blending them onto 4:2:0 planes
/// needs, inside disjoint rectangles with even corners: per pixel the luma of the source
/// and its alpha, per 2x2 block the summed source's chroma and what is left of the
/// destination's. A text layer that holds still for seconds is painted and converted
/// once; each frame then only runs the blend (straight loops that vectorize).
#[derive(Debug, Default)]
struct Composed {
    rects: Vec<ComposedRect>,
}

#[derive(Debug, Default)]
struct ComposedRect {
    r: PixelRect,
    /// Per pixel, row by row over the rectangle: source luma (without the +16 offset).
    y_fg: Vec<u8>,
    /// Per pixel: coverage, 0..=255.
    alpha: Vec<u8>,
    /// Per row: the columns `[a, b)` (relative to the rectangle) holding any coverage.
    spans: Vec<(u32, u32)>,
    /// Per 2x2 block: the source's Cb and Cr around 128, and `1020 - ` its summed coverage.
    c_u: Vec<i16>,
    c_v: Vec<i16>,
    keep: Vec<i16>,
}

impl Composed {
    /// Converts the overlay's pixels inside `rects` (even corners, disjoint). Each output is
    /// sized first and filled by straight loops over slices, which vectorize (pushing value
    /// by value did not: a clip's overlay converted every frame took 5 % of W4's CPU).
    fn from_overlay(overlay: &PixmapMut, rects: &[PixelRect], reuse: Option<Composed>) -> Composed {
        let mut old = reuse.map(|c| c.rects).unwrap_or_default();
        let overlay = overlay.as_ref();
        let w = overlay.width() as usize;
        let src = overlay.data();
        let mut out = Vec::with_capacity(rects.len());
        for &r in rects {
            let mut c = old.pop().unwrap_or_default();
            let (x0, y0, x1, y1) = (r.0 as usize, r.1 as usize, r.2 as usize, r.3 as usize);
            let (rw, rh) = (x1 - x0, y1 - y0);
            c.r = r;
            for v in [&mut c.y_fg, &mut c.alpha] {
                v.clear();
                v.resize(rw * rh, 0);
            }
            c.spans.clear();
            for v in [&mut c.c_u, &mut c.c_v, &mut c.keep] {
                v.clear();
                v.resize(rw / 2 * (rh / 2), 0);
            }
            for ((y, y_fg), alpha) in (y0..y1).zip(c.y_fg.chunks_exact_mut(rw)).zip(c.alpha.chunks_exact_mut(rw)) {
                let row = &src[(y * w + x0) * 4..(y * w + x1) * 4];
                for ((p, yf), a) in row.chunks_exact(4).zip(y_fg.iter_mut()).zip(alpha.iter_mut()) {
                    let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
                    *yf = ((YR * r + YG * g + YB * b + (1 << 15)) >> 16) as u8;
                    *a = p[3];
                }
                let a0 = alpha.iter().position(|&a| a != 0);
                let a1 = alpha.iter().rposition(|&a| a != 0);
                c.spans.push(match (a0, a1) {
                    (Some(a0), Some(a1)) => (a0 as u32, a1 as u32 + 1),
                    _ => (0, 0),
                });
            }
            let crw = rw / 2;
            for (i, cy) in (y0 / 2..y1 / 2).enumerate() {
                let top = &src[(2 * cy * w + x0) * 4..(2 * cy * w + x1) * 4];
                let bottom = &src[((2 * cy + 1) * w + x0) * 4..((2 * cy + 1) * w + x1) * 4];
                let k = i * crw..(i + 1) * crw;
                let (us, vs, keep) = (&mut c.c_u[k.clone()], &mut c.c_v[k.clone()], &mut c.keep[k]);
                for ((((t, b), u), v), kp) in top
                    .chunks_exact(8)
                    .zip(bottom.chunks_exact(8))
                    .zip(us.iter_mut())
                    .zip(vs.iter_mut())
                    .zip(keep.iter_mut())
                {
                    let sum = |ch: usize| t[ch] as i32 + t[ch + 4] as i32 + b[ch] as i32 + b[ch + 4] as i32;
                    let (rs, gs, bs, asum) = (sum(0), sum(1), sum(2), sum(3));
                    *u = ((UR * rs + UG * gs + UB * bs + (1 << 17)) >> 18) as i16;
                    *v = ((VR * rs + VG * gs + VB * bs + (1 << 17)) >> 18) as i16;
                    *kp = (1020 - asum) as i16;
                }
            }
            out.push(c);
        }
        Composed { rects: out }
    }

    /// Source-over onto `out`: `Y = Y(src) + 16 a + (1 - a) Y(dst)` per pixel, and per 2x2
    /// block the summed source's chroma plus the destination's chroma times one minus the
    /// mean coverage. Where nothing covers a pixel or block this gives back the destination
    /// exactly, so only the covered spans of each row are visited.
    fn blend(&self, out: &mut Yuv420) {
        let w = out.width as usize;
        let cw = w / 2;
        for c in &self.rects {
            let (x0, y0, x1, y1) = (c.r.0 as usize, c.r.1 as usize, c.r.2 as usize, c.r.3 as usize);
            let rw = x1 - x0;
            for (i, &(a, b)) in c.spans.iter().enumerate() {
                let (a, b) = (a as usize, b as usize);
                if a >= b {
                    continue;
                }
                let o = (y0 + i) * w + x0;
                let fg = &c.y_fg[i * rw + a..i * rw + b];
                let al = &c.alpha[i * rw + a..i * rw + b];
                for ((d, &f), &al) in out.y[o + a..o + b].iter_mut().zip(fg).zip(al) {
                    let al = al as u32;
                    let bg = div255(16 * al + (255 - al) * *d as u32);
                    *d = (f as u32 + bg).min(255) as u8;
                }
            }
            let crw = rw / 2;
            for i in 0..(y1 - y0) / 2 {
                // The blocks under either luma row's covered span.
                let (s0, s1) = (c.spans[2 * i], c.spans[2 * i + 1]);
                let (a, b) = match (s0.0 < s0.1, s1.0 < s1.1) {
                    (false, false) => continue,
                    (true, false) => s0,
                    (false, true) => s1,
                    (true, true) => (s0.0.min(s1.0), s0.1.max(s1.1)),
                };
                let (a, b) = (a as usize / 2, (b as usize).div_ceil(2));
                let o = (y0 / 2 + i) * cw + x0 / 2;
                let k = i * crw;
                let (us, vs, keep) = (&c.c_u[k + a..k + b], &c.c_v[k + a..k + b], &c.keep[k + a..k + b]);
                // (dst - 128) * keep / 1020, rounded: 4112 / 2^22 is 1/1020 within 2e-5.
                let mix = |d: u8, keep: i16| ((d as i32 - 128) * keep as i32 * 4112 + (1 << 21)) >> 22;
                for ((d, &u), &kp) in out.u[o + a..o + b].iter_mut().zip(us).zip(keep) {
                    *d = (u as i32 + 128 + mix(*d, kp)).clamp(0, 255) as u8;
                }
                for ((d, &v), &kp) in out.v[o + a..o + b].iter_mut().zip(vs).zip(keep) {
                    *d = (v as i32 + 128 + mix(*d, kp)).clamp(0, 255) as u8;
                }
            }
        }
    }
}

/// What a covering background is drawn from.
enum Base<'a> {
    /// A photo's planes and the part of it on the canvas at this frame, `(left, top,
    /// width, height)` in source pixels.
    Photo(Arc<Yuv420>, (f64, f64, f64, f64)),
    /// A clip's decoded picture, exactly the canvas size.
    Clip(&'a YuvPicture),
}

/// The background of `shot` when it can be drawn in planes.
fn base<'a>(shot: Shot, w: u32, h: u32, clips: ClipFrames<'a>) -> Option<Base<'a>> {
    let (scene, local) = (shot.scene, shot.local);
    let (fw, fh) = (w as f32, h as f32);
    match &scene.background {
        Fill::Image(img) if img.corner_radius <= 0.0 => {
            let (iw, ih) = (img.source.width, img.source.height);
            let ts = ken_burns_transform(iw as f32, ih as f32, img.fit, img.ken_burns, fw, fh, local, scene.len);
            let crop = cover_crop(iw, ih, ts, fw, fh)?;
            Some(Base::Photo(img.source.planes()?, crop))
        }
        Fill::Video(v) if v.corner_radius <= 0.0 && v.ken_burns.is_none() => match clips.get(v.clip) {
            Some(Some(ClipPicture::Yuv(pic)))
                if exact_cover((w, h), pic, v.fit, (fw, fh), Transform::identity(), 1.0, 0.0) =>
            {
                Some(Base::Clip(pic))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Draws `base` into all of `out`; false if the resizer refused.
fn paint_base(base: &Base, out: &mut Yuv420) -> bool {
    match base {
        Base::Clip(pic) if pic.bt709 && !pic.full_range => {
            let p = &pic.planes;
            out.y.copy_from_slice(&p.y);
            out.u.copy_from_slice(&p.u);
            out.v.copy_from_slice(&p.v);
            true
        }
        Base::Clip(pic) => {
            to_bt709(pic, out);
            true
        }
        Base::Photo(src, crop) => resize_crop_planes(src, out, *crop),
    }
}

/// Composes `content` (a frame of `plan`) into `out` when every part of it can be composed
/// in planes, and returns whether it did; on false `out` holds nothing useful and the
/// caller paints the frame in RGBA.
pub(super) fn paint(
    plan: &Plan,
    content: &Content,
    out: &mut Yuv420,
    scratch: &mut super::Scratch,
    canvas: &mut PixmapMut,
    clips: ClipFrames,
) -> bool {
    let (w, h) = (plan.width, plan.height);
    if (out.width, out.height) != (w, h) || (canvas.width(), canvas.height()) != (w, h) || w % 2 != 0 || h % 2 != 0 {
        return false;
    }
    let id = (canvas.data_mut().as_ptr() as usize, canvas.data_mut().len());
    let super::Scratch { planes, clear_canvas, canvas: canvas_state, .. } = scratch;
    let mut bufs = Bufs { planes, overlay: canvas, clear: *clear_canvas == Some(id) };
    let done = compose(plan, content, out, &mut bufs, clips);
    if bufs.clear {
        // The canvas was lent: it no longer holds what the RGBA painter left.
        *clear_canvas = Some(id);
        *canvas_state = None;
    }
    done
}

/// [`paint`], with the buffers.
fn compose(plan: &Plan, content: &Content, out: &mut Yuv420, planes: &mut Bufs, clips: ClipFrames) -> bool {
    let (w, h) = (plan.width, plan.height);
    match content.picture {
        Picture::Gap | Picture::Transition { below: None, .. } => return false,
        Picture::Scene(shot) => {
            let Some(b) = base(shot, w, h, clips) else { return false };
            if !paint_scene(plan, shot, &b, out, planes, clips) {
                return false;
            }
        }
        Picture::Transition { below: Some(below), above, transition, mix } => {
            let (Some(bb), Some(ab)) = (base(below, w, h, clips), base(above, w, h, clips)) else {
                return false;
            };
            let mut above_planes = buffer(planes.planes.above.take(), w, h);
            let done = match mix {
                Mix::CrossFade(e) => {
                    paint_scene(plan, below, &bb, out, planes, clips)
                        && paint_scene(plan, above, &ab, &mut above_planes, planes, clips)
                        && {
                            cross_fade(out, &above_planes, e);
                            true
                        }
                }
                Mix::Above => paint_scene(plan, above, &ab, out, planes, clips),
                Mix::Dip { above: show_above, white, amount } => {
                    let ok = if show_above {
                        paint_scene(plan, above, &ab, out, planes, clips)
                    } else {
                        paint_scene(plan, below, &bb, out, planes, clips)
                    };
                    dip(out, white, amount);
                    ok
                }
                Mix::Move(e) => {
                    paint_move(plan, transition, e, [(below, &bb), (above, &ab)], out, &mut above_planes, planes, clips)
                }
            };
            planes.planes.above = Some(above_planes);
            if !done {
                return false;
            }
        }
    }
    if let Some(o) = content.overlay {
        blend_layers(plan, o, out, planes, clips);
    }
    if let Some(c) = content.caption {
        // The line on screen and its highlighted word: all a caption frame depends on.
        let shows = Shows::Caption(c.key());
        let paint = |o: &mut PixmapMut| super::caption::paint(c, o).into_iter().collect();
        planes.blend_overlay(Some(shows), out, paint);
    }
    true
}

/// Slide, wipe, push and zoom at eased progress `e`, as the RGBA painter composes them
/// (the same [`transition::moves`], [`transition::wiped`] and [`transition::zoom_crop`]):
/// each scene is painted whole with its layers, then moved, uncovered or resized. Moves
/// and edges fall on even pixels, so the chroma planes move by whole samples too. `spare`
/// is a canvas-sized buffer (the entering scene's).
#[allow(clippy::too_many_arguments)]
fn paint_move(
    plan: &Plan,
    t: &TransitionPlan,
    e: f32,
    [(below, bb), (above, ab)]: [(Shot, &Base); 2],
    out: &mut Yuv420,
    spare: &mut Yuv420,
    planes: &mut Bufs,
    clips: ClipFrames,
) -> bool {
    let (w, h) = (out.width, out.height);
    if t.kind == TransitionKind::Zoom {
        // The lower scene resized into `out`, the entering one into a third buffer, then
        // the entering one faded in over it.
        let mut zoomed = buffer(planes.planes.zoomed.take(), w, h);
        let (grow, shrink) = transition::zoom_scales(e);
        let done = paint_scene(plan, below, bb, spare, planes, clips)
            && resize_crop_planes(spare, out, transition::zoom_crop(w, h, grow))
            && paint_scene(plan, above, ab, spare, planes, clips)
            && resize_crop_planes(spare, &mut zoomed, transition::zoom_crop(w, h, shrink));
        if done {
            cross_fade(out, &zoomed, e);
        }
        planes.planes.zoomed = Some(zoomed);
        return done;
    }
    if !(paint_scene(plan, below, bb, out, planes, clips) && paint_scene(plan, above, ab, spare, planes, clips)) {
        return false;
    }
    if t.kind == TransitionKind::Wipe {
        copy_rect(out, spare, transition::wiped(t.direction, w, h, e));
    } else {
        let (lower, entering) = transition::moves(t, w, h, e);
        shift(out, lower);
        place(out, spare, entering);
    }
    true
}

/// `slot`'s buffer if it is `w` x `h`, else a new one.
fn buffer(slot: Option<Yuv420>, w: u32, h: u32) -> Yuv420 {
    match slot {
        Some(b) if (b.width, b.height) == (w, h) => b,
        _ => Yuv420::new(w, h),
    }
}

/// Each plane of `p` with its width and height, and the luma samples one of its samples
/// spans each way (1 for luma, 2 for chroma), with the value of black there.
fn planes_of(p: &mut Yuv420) -> [(&mut Vec<u8>, usize, usize, i32, u8); 3] {
    let (w, h) = (p.width as usize, p.height as usize);
    [(&mut p.y, w, h, 1, 16), (&mut p.u, w / 2, h / 2, 2, 128), (&mut p.v, w / 2, h / 2, 2, 128)]
}

/// Copies `src` (the size of `out`) into `out` moved by `(dx, dy)` (even), where it lands.
fn place(out: &mut Yuv420, src: &Yuv420, (dx, dy): (i32, i32)) {
    if (src.width, src.height) != (out.width, out.height) {
        return;
    }
    for ((d, pw, ph, k, _), s) in planes_of(out).into_iter().zip([&src.y, &src.u, &src.v]) {
        let (pw, ph, dx, dy) = (pw as i32, ph as i32, dx / k, dy / k);
        let (x0, x1) = (dx.max(0), (pw + dx).min(pw));
        if x0 >= x1 {
            continue;
        }
        for y in dy.max(0)..(ph + dy).min(ph) {
            let (to, from) = ((y * pw) as usize, ((y - dy) * pw) as usize);
            let (a, b) = (x0 as usize, x1 as usize);
            let (sa, sb) = ((x0 - dx) as usize, (x1 - dx) as usize);
            d[to + a..to + b].copy_from_slice(&s[from + sa..from + sb]);
        }
    }
}

/// Moves `out`'s picture by `(dx, dy)` (even), black where it uncovers the canvas.
fn shift(out: &mut Yuv420, (dx, dy): (i32, i32)) {
    if (dx, dy) == (0, 0) {
        return;
    }
    for (p, pw, ph, k, black) in planes_of(out) {
        let (n, m) = ((dy / k).unsigned_abs() as usize, (dx / k).unsigned_abs() as usize);
        let p = &mut p[..pw * ph];
        if n >= ph || m >= pw {
            p.fill(black);
            continue;
        }
        if dy > 0 {
            p.copy_within(..(ph - n) * pw, n * pw);
            p[..n * pw].fill(black);
        } else if dy < 0 {
            p.copy_within(n * pw.., 0);
            p[(ph - n) * pw..].fill(black);
        }
        if m == 0 {
            continue;
        }
        for row in p.chunks_exact_mut(pw) {
            if dx > 0 {
                row.copy_within(..pw - m, m);
                row[..m].fill(black);
            } else {
                row.copy_within(m.., 0);
                row[pw - m..].fill(black);
            }
        }
    }
}

/// Copies the rectangle `(x0, y0, x1, y1)` (even corners) of `src` into `out`, the same
/// size.
fn copy_rect(out: &mut Yuv420, src: &Yuv420, (x0, y0, x1, y1): (u32, u32, u32, u32)) {
    if (src.width, src.height) != (out.width, out.height) {
        return;
    }
    for ((d, pw, ph, k, _), s) in planes_of(out).into_iter().zip([&src.y, &src.u, &src.v]) {
        let k = k as usize;
        let rect = (x0 as usize / k, y0 as usize / k, x1 as usize / k, y1 as usize / k);
        crate::pixels::copy_rect(s, d, (pw, ph), 1, rect);
    }
}

/// The background, then the scene's layers through the overlay.
fn paint_scene(plan: &Plan, shot: Shot, b: &Base, out: &mut Yuv420, planes: &mut Bufs, clips: ClipFrames) -> bool {
    if !paint_base(b, out) {
        return false;
    }
    blend_layers(plan, shot, out, planes, clips);
    true
}

/// A scene's visible layers (or the overlays'), blended through the overlay.
fn blend_layers(plan: &Plan, shot: Shot, out: &mut Yuv420, planes: &mut Bufs, clips: ClipFrames) {
    let (w, h) = (out.width, out.height);
    let paint = |overlay: &mut PixmapMut| {
        let mut rects = Vec::new();
        for (_, l, t) in shot.visible() {
            match layer::bounds(plan, l, t, w, h) {
                Some(None) => continue,
                Some(Some(r)) => rects.push(r),
                None => rects.push((0, 0, w, h)),
            }
            layer::paint(plan, l, t, overlay, clips);
        }
        rects
    };
    // Layers that only change with their animated state are composed once per state.
    let shows = shot.visible().all(|(_, l, _)| is_static(l)).then(|| {
        Shows::Layers(shot.scene.uid, shot.visible().map(|(i, l, t)| (i, layer::state(plan, l, t))).collect())
    });
    planes.blend_overlay(shows, out, paint)
}

/// Widens `rects` to whole chroma blocks inside the `w` x `h` canvas and merges them until
/// disjoint, so each pixel is blended once.
fn normalize(rects: &mut Vec<PixelRect>, w: u32, h: u32) {
    for r in rects.iter_mut() {
        *r = (r.0 & !1, r.1 & !1, (r.2 + 1).min(w) & !1, (r.3 + 1).min(h) & !1);
    }
    rects.retain(|r| r.0 < r.2 && r.1 < r.3);
    // Merge overlapping rectangles into their union until none overlap (a handful).
    let mut i = 0;
    while i < rects.len() {
        let mut merged = false;
        for j in i + 1..rects.len() {
            let (a, b) = (rects[i], rects[j]);
            if a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3 {
                rects[i] = (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3));
                rects.swap_remove(j);
                merged = true;
                break;
            }
        }
        if !merged {
            i += 1;
        }
    }
}

/// Whether every byte of `data` is zero (one pass that vectorizes, leaving early at the
/// first block that is not: a canvas the RGBA painter drew in is opaque).
fn transparent(data: &[u8]) -> bool {
    data.chunks(4096).all(|block| block.iter().fold(0, |acc, &b| acc | b) == 0)
}

/// Makes the overlay transparent again inside `rects`.
fn clear(overlay: &mut PixmapMut, rects: &[PixelRect]) {
    let row = overlay.width() as usize * 4;
    let data = overlay.data_mut();
    for r in rects {
        for y in r.1..r.3 {
            let o = y as usize * row;
            data[o + r.0 as usize * 4..o + r.2 as usize * 4].fill(0);
        }
    }
}

/// `v / 255` rounded, for `v` in 0..=65535.
#[inline(always)]
fn div255(v: u32) -> u32 {
    let t = v + 128;
    (t + (t >> 8)) >> 8
}

/// `out = out + (above - out) * t` on every plane (source-over of `above` at opacity `t`,
/// as the RGBA cross-fade; linear, so the same in any matrix).
fn cross_fade(out: &mut Yuv420, above: &Yuv420, t: f32) {
    let a = (t.clamp(0.0, 1.0) * 255.0).round() as u16;
    for (o, y) in [(&mut out.y, &above.y), (&mut out.u, &above.u), (&mut out.v, &above.v)] {
        crate::pixels::blit::cross_fade_bytes(o, y, a);
    }
}

/// Black or white over `out` at opacity `amount`.
fn dip(out: &mut Yuv420, white: bool, amount: f32) {
    let a = (amount.clamp(0.0, 1.0) * 255.0).round() as u16;
    let luma = if white { 235 } else { 16 };
    for (plane, c) in [(&mut out.y, luma), (&mut out.u, 128), (&mut out.v, 128)] {
        for o in plane.iter_mut() {
            let v = *o as u16 * (255 - a) + c * a + 128;
            *o = ((v + (v >> 8)) >> 8) as u8;
        }
    }
}

/// Resizes every plane of `src` into `dst` (the web and preview copies of a frame composed
/// in planes), with the same filter as the RGBA copies; false if the resizer refused.
pub fn resize_planes(src: &Yuv420, dst: &mut Yuv420) -> bool {
    resize_crop_planes(src, dst, (0.0, 0.0, src.width as f64, src.height as f64))
}

/// Resizes the part `crop` (`left, top, width, height` in luma samples) of `src` into all
/// of `dst`; false if the resizer refused. Chroma sample i sits at the centre of luma
/// samples 2i and 2i + 1 (the 2x2 average of the conversion), so the chroma planes map by
/// halved coordinates.
fn resize_crop_planes(src: &Yuv420, dst: &mut Yuv420, crop: (f64, f64, f64, f64)) -> bool {
    let (sw, sh, dw, dh) = (src.width, src.height, dst.width, dst.height);
    let half = (crop.0 / 2.0, crop.1 / 2.0, crop.2 / 2.0, crop.3 / 2.0);
    resize_plane(&src.y, (sw, sh), &mut dst.y, (dw, dh), crop)
        && resize_plane(&src.u, (sw / 2, sh / 2), &mut dst.u, (dw / 2, dh / 2), half)
        && resize_plane(&src.v, (sw / 2, sh / 2), &mut dst.v, (dw / 2, dh / 2), half)
}

/// The affine map from a picture's code values `(Y, Cb - 128, Cr - 128, 1)` in matrix
/// `bt709` (else BT.601) and range `full` to BT.709 limited-range code values, in 2^16
/// fixed point: decode to R'G'B', then encode as the output is. Both steps are linear,
/// so their product is exact (the RGBA path clamps R'G'B' in between, which only
/// matters for colours outside the RGB cube).
fn matrix_to_bt709(bt709: bool, full: bool) -> [[i64; 4]; 3] {
    let (kr, kb) = if bt709 { (0.2126, 0.0722) } else { (0.299, 0.114) };
    let (ys, yo, cs) = if full { (255.0, 0.0, 255.0) } else { (219.0, 16.0, 224.0) };
    let decode = |y: f64, cb: f64, cr: f64| {
        let (y, cb, cr) = ((y - yo) / ys, cb / cs, cr / cs);
        let r = y + 2.0 * (1.0 - kr) * cr;
        let b = y + 2.0 * (1.0 - kb) * cb;
        (r, (y - kr * r - kb * b) / (1.0 - kr - kb), b)
    };
    let encode = |(r, g, b): (f64, f64, f64)| {
        let (kr, kb) = (0.2126, 0.0722);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        [16.0 + 219.0 * y, 224.0 * (b - y) / (2.0 * (1.0 - kb)), 224.0 * (r - y) / (2.0 * (1.0 - kr))]
    };
    let at = |y: f64, cb: f64, cr: f64| encode(decode(y, cb, cr));
    let o = at(0.0, 0.0, 0.0);
    let cols = [at(1.0, 0.0, 0.0), at(0.0, 1.0, 0.0), at(0.0, 0.0, 1.0)];
    let mut m = [[0i64; 4]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, col) in cols.iter().enumerate() {
            row[j] = ((col[i] - o[i]) * 65536.0).round() as i64;
        }
        // Chroma is stored around 128.
        row[3] = ((o[i] + if i == 0 { 0.0 } else { 128.0 }) * 65536.0).round() as i64;
    }
    m
}

/// [`to_bt709_plain`] compiled for AVX2 where the CPU has it (eight lanes instead of
/// SSE2's four: the conversion was 1.3 % of W1's CPU, whose clip is BT.601).
fn to_bt709(pic: &YuvPicture, out: &mut Yuv420) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2(pic: &YuvPicture, out: &mut Yuv420) {
            to_bt709_plain(pic, out)
        }
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { avx2(pic, out) };
    }
    to_bt709_plain(pic, out)
}

/// A clip picture in another matrix or range, re-encoded as BT.709 limited range. Luma
/// takes the chroma of its 2x2 block, as a 4:2:0 decode without chroma filtering would.
#[inline(always)]
fn to_bt709_plain(pic: &YuvPicture, out: &mut Yuv420) {
    let m = matrix_to_bt709(pic.bt709, pic.full_range).map(|r| r.map(|c| c as i32));
    let p = &pic.planes;
    let (w, h) = (out.width as usize, out.height as usize);
    let cw = w / 2;
    // Per chroma row: the chroma part of each luma sample's sum, spread over its two
    // columns, then the two luma rows in straight loops (they vectorize).
    let mut spread = vec![0i32; w];
    let rows = p.u.chunks_exact(cw).zip(p.v.chunks_exact(cw));
    let outs = out.u.chunks_exact_mut(cw).zip(out.v.chunks_exact_mut(cw));
    for (cy, ((us, vs), (uo, vo))) in rows.zip(outs).enumerate().take(h / 2) {
        let to_u8 = |v: i32| (v >> 16).clamp(0, 255) as u8;
        for ((((&u, &v), uo), vo), pair) in us.iter().zip(vs).zip(uo).zip(vo).zip(spread.chunks_exact_mut(2)) {
            let (cb, cr) = (u as i32 - 128, v as i32 - 128);
            *uo = to_u8(m[1][1] * cb + m[1][2] * cr + m[1][3] + (1 << 15));
            *vo = to_u8(m[2][1] * cb + m[2][2] * cr + m[2][3] + (1 << 15));
            let c = m[0][1] * cb + m[0][2] * cr + m[0][3] + (1 << 15);
            pair.copy_from_slice(&[c, c]);
        }
        for dy in 0..2 {
            let row = (2 * cy + dy) * w;
            for ((o, &y), &c) in out.y[row..row + w].iter_mut().zip(&p.y[row..row + w]).zip(&spread) {
                *o = to_u8(m[0][0] * y as i32 + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_blended_in_bands_is_the_overlay_blended_whole() {
        // Antialiased, half-transparent shapes over two rectangles, on planes that vary.
        let (w, h) = (96u32, 80u32);
        let mut px = tiny_skia::Pixmap::new(w, h).expect("size");
        let mut paint = tiny_skia::Paint::default();
        paint.set_color_rgba8(200, 40, 90, 170);
        let circle = tiny_skia::PathBuilder::from_circle(40.3, 37.7, 29.1).expect("circle");
        px.fill_path(&circle, &paint, tiny_skia::FillRule::Winding, Transform::identity(), None);
        paint.set_color_rgba8(20, 220, 60, 255);
        let bar = tiny_skia::Rect::from_xywh(70.5, 3.25, 21.0, 70.5).expect("rect");
        px.fill_rect(bar, &paint, Transform::identity(), None);
        let rects = [(2, 4, 72, 78), (72, 2, 96, 76)];
        let mut planes = Yuv420::new(w, h);
        for (i, v) in planes.y.iter_mut().enumerate() {
            *v = (i * 7 % 251) as u8;
        }
        for (i, (u, v)) in planes.u.iter_mut().zip(planes.v.iter_mut()).enumerate() {
            (*u, *v) = ((i * 13 % 256) as u8, (255 - i * 5 % 256) as u8);
        }
        let mut whole = planes.clone();
        Composed::from_overlay(&px.as_mut(), &rects, None).blend(&mut whole);
        assert_ne!(whole.y, planes.y);
        for rows in [2, 6, 32, 1000] {
            let mut banded = planes.clone();
            let spare = blend_in_bands(&px.as_mut(), &rects, &mut banded, None, rows);
            assert!(spare.is_some());
            assert!(banded.y == whole.y && banded.u == whole.u && banded.v == whole.v, "{rows} rows a band");
        }
    }

    fn apply(m: &[[i64; 4]; 3], y: u8, u: u8, v: u8) -> [u8; 3] {
        let (y, cb, cr) = (y as i64, u as i64 - 128, v as i64 - 128);
        m.map(|r| ((r[0] * y + r[1] * cb + r[2] * cr + r[3] + (1 << 15)) >> 16).clamp(0, 255) as u8)
    }

    #[test]
    fn clip_pictures_are_re_encoded_as_their_matrix_says() {
        // Every luma value against chroma from one extreme to the other, in each source
        // matrix and range: the vectorized conversion gives exactly the matrix's rounded
        // result.
        let (w, h) = (128u32, 4u32);
        for (bt709, full) in [(false, false), (false, true), (true, true), (true, false)] {
            let mut planes = Yuv420::new(w, h);
            for (i, y) in planes.y.iter_mut().enumerate() {
                *y = (i % 256) as u8;
            }
            for (i, (u, v)) in planes.u.iter_mut().zip(planes.v.iter_mut()).enumerate() {
                (*u, *v) = (((i * 37) % 256) as u8, (255 - (i * 11) % 256) as u8);
            }
            let pic = YuvPicture { planes, bt709, full_range: full };
            let mut out = Yuv420::new(w, h);
            to_bt709(&pic, &mut out);
            let m = matrix_to_bt709(bt709, full);
            let (w, cw) = (w as usize, w as usize / 2);
            for (i, &got) in out.y.iter().enumerate() {
                let c = (i / w / 2) * cw + (i % w) / 2;
                let want = apply(&m, pic.planes.y[i], pic.planes.u[c], pic.planes.v[c]);
                assert_eq!(got, want[0], "luma {i} ({bt709}, {full})");
                assert_eq!((out.u[c], out.v[c]), (want[1], want[2]), "chroma {c} ({bt709}, {full})");
            }
        }
    }

    #[test]
    fn matrix_changes_match_reference_colours() {
        // BT.709 limited range to itself: the identity.
        let same = matrix_to_bt709(true, false);
        for (y, u, v) in [(16, 128, 128), (235, 128, 128), (63, 102, 240), (100, 30, 200)] {
            assert_eq!(apply(&same, y, u, v), [y, u, v]);
        }
        // Chroma never depends on luma (grey stays grey in every matrix).
        for m in [matrix_to_bt709(false, false), matrix_to_bt709(false, true), matrix_to_bt709(true, true)] {
            assert_eq!((m[1][0], m[2][0]), (0, 0));
        }
        // Pure red, green, blue and white in BT.601 limited range, then in full range,
        // come out as the BT.709 limited values of `encode::yuv`'s reference test.
        let sd = matrix_to_bt709(false, false);
        let full = matrix_to_bt709(false, true);
        for (limited601, full601, want) in [
            ([81u8, 90, 240], [76u8, 85, 255], [63u8, 102, 240]),
            ([145, 54, 34], [150, 44, 21], [173, 42, 26]),
            ([41, 240, 110], [29, 255, 107], [32, 240, 118]),
            ([235, 128, 128], [255, 128, 128], [235, 128, 128]),
        ] {
            let got = apply(&sd, limited601[0], limited601[1], limited601[2]);
            let got_full = apply(&full, full601[0], full601[1], full601[2]);
            for (g, w) in got.iter().chain(&got_full).zip(want.iter().chain(&want)) {
                assert!(g.abs_diff(*w) <= 1, "{limited601:?} / {full601:?}: {got:?} / {got_full:?}, want {want:?}");
            }
        }
    }
}
