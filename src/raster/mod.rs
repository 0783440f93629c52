//! Painting one frame of a [`Plan`] with tiny-skia. Nothing here can fail: every value was
//! checked while planning, and degenerate geometry (a zero-sized box, a non-invertible
//! transform) simply draws nothing.

mod fill;
mod layer;
mod planar;
mod resample;
mod transition;

pub use planar::{render_frame_yuv, resize_planes};

use crate::media::ClipPicture;
use crate::plan::{Plan, ScenePlan};
use crate::timeline::{view, View};
use tiny_skia::{Pixmap, PixmapMut};

/// Per-worker buffers reused from frame to frame (no per-frame allocation).
#[derive(Debug)]
pub struct Scratch {
    /// The canvas size the transition buffers are made at.
    size: (u32, u32),
    /// Transition buffers, made on first use: a still or a render without transitions
    /// never needs them.
    below: Option<Pixmap>,
    above: Option<Pixmap>,
    backgrounds: Backgrounds,
    /// What the canvas given last holds, when it is a cached background with layers over it.
    canvas: Option<CanvasState>,
    /// Buffers of frames composed in 4:2:0 ([`render_frame_yuv`]).
    planes: planar::Planes,
}

impl Scratch {
    /// Buffers for a `width` x `height` canvas.
    pub fn new(width: u32, height: u32) -> Scratch {
        Scratch {
            size: (width, height),
            below: None,
            above: None,
            backgrounds: Backgrounds::default(),
            canvas: None,
            planes: Default::default(),
        }
    }
}

/// A canvas left holding scene `scene`'s cached background with layers drawn over the
/// rectangles `dirty` only. The next frame of the same scene on the same canvas copies back
/// just those rectangles instead of the whole background (W2's workers spent 5 % of the
/// CPU copying whole backgrounds).
#[derive(Debug)]
struct CanvasState {
    /// The canvas's buffer address and length: a different canvas starts from scratch.
    canvas: (usize, usize),
    /// The scene's [`ScenePlan::uid`].
    scene: u64,
    dirty: Vec<layer::PixelRect>,
}

/// The painted backgrounds of the last two scenes this worker drew, when they never change
/// (gradients): a frame copies them instead of shading every pixel again. Two entries cover
/// a transition; memory stays at two canvases per worker however many scenes there are.
#[derive(Debug, Default)]
struct Backgrounds {
    /// (the scene's [`ScenePlan::uid`], its painted background), newest last.
    entries: Vec<(u64, Pixmap)>,
}

impl Backgrounds {
    /// Puts `scene`'s cached background back into the rectangles `dirty` of `pm`, which
    /// holds that background everywhere else; false when it is not cached.
    fn restore(&self, scene: &ScenePlan, pm: &mut PixmapMut, dirty: &[layer::PixelRect]) -> bool {
        let key = scene.uid;
        let (w, h) = (pm.width(), pm.height());
        let Some((_, cached)) = self.entries.iter().find(|(k, p)| *k == key && (p.width(), p.height()) == (w, h))
        else {
            return false;
        };
        let (src, dst) = (cached.data(), pm.data_mut());
        for &(x0, y0, x1, y1) in dirty {
            let (x0, x1) = (x0.min(w) as usize * 4, x1.min(w) as usize * 4);
            for y in y0.min(h)..y1.min(h) {
                let row = y as usize * w as usize * 4;
                dst[row + x0..row + x1].copy_from_slice(&src[row + x0..row + x1]);
            }
        }
        true
    }

    /// Paints `scene`'s background into `pm`, from the cache when it is static.
    fn paint(&mut self, scene: &ScenePlan, pm: &mut PixmapMut, at: fill::Time) {
        let (w, h) = (pm.width() as f32, pm.height() as f32);
        // A photo or a clip that covers the canvas opaquely writes every pixel: no black
        // under it (filling first cost a 1080p frame about 1 ms).
        if fill::paint_covering(pm, &scene.background, at) {
            return;
        }
        let paint = |pm: &mut PixmapMut| {
            pm.fill(tiny_skia::Color::BLACK);
            fill::paint_box(pm, &scene.background, w, h, tiny_skia::Transform::identity(), 1.0, at, 0.0);
        };
        if !matches!(scene.background, crate::plan::Fill::Gradient(_)) {
            return paint(pm);
        }
        let key = scene.uid;
        if let Some((_, cached)) = self.entries.iter().find(|(k, p)| *k == key && p.width() == pm.width()) {
            pm.data_mut().copy_from_slice(cached.data());
            return;
        }
        paint(pm);
        if self.entries.len() == 2 {
            self.entries.remove(0);
        }
        let size = tiny_skia::IntSize::from_wh(pm.width(), pm.height());
        if let Some(copy) = size.and_then(|size| tiny_skia::Pixmap::from_vec(pm.data_mut().to_vec(), size)) {
            self.entries.push((key, copy));
        }
    }
}

/// Decoded video frames for one output frame: entry `i` is clip `i`'s picture, or `None`
/// where the clip is not visible (or its frame was not provided: nothing is drawn).
pub type ClipFrames<'a> = &'a [Option<ClipPicture>];

/// Paints output frame `frame` of `plan` into `out` (the canvas size; opaque result).
pub fn render_frame(plan: &Plan, frame: u64, out: &mut PixmapMut, scratch: &mut Scratch, clips: ClipFrames) {
    let canvas = (out.data_mut().as_ptr() as usize, out.data_mut().len());
    let prior = scratch.canvas.take().filter(|c| c.canvas == canvas);
    match view(plan, frame) {
        View::Gap => out.fill(plan.gap),
        View::Scene(s, local) => {
            let key = s.uid;
            let restored =
                prior.filter(|p| p.scene == key).is_some_and(|p| scratch.backgrounds.restore(s, out, &p.dirty));
            if restored {
                paint_layers(plan, s, local, out, clips);
            } else {
                paint_scene(plan, s, local, out, clips, &mut scratch.backgrounds);
            }
            let caption = plan.captions.as_ref().and_then(|c| paint_captions(c, frame, out));
            // Over a cached (gradient) background, remember what was drawn, if every layer
            // can say; other backgrounds are painted whole every frame anyway.
            if !matches!(s.background, crate::plan::Fill::Gradient(_)) {
                return;
            }
            let (w, h) = (out.width(), out.height());
            let mut dirty: Option<Vec<layer::PixelRect>> = Some(caption.into_iter().collect());
            for l in s.layers.iter().filter(|l| local >= l.start && local < l.start + l.len) {
                match (layer::bounds(plan, l, local - l.start, w, h), dirty.as_mut()) {
                    (Some(r), Some(d)) => d.extend(r),
                    _ => dirty = None,
                }
            }
            scratch.canvas = dirty.map(|dirty| CanvasState { canvas, scene: key, dirty });
            return;
        }
        View::Transition { below, above, transition, progress } => {
            let Scratch { size: (w, h), below: b, above: a, backgrounds, .. } = scratch;
            let mk = || crate::pixels::pixmap_or_tiny(*w, *h);
            let a = a.get_or_insert_with(mk);
            // Most transitions start from a copy of the lower scene: paint it in place.
            // (`below` is only made, so only made resident, by push and zoom.)
            let in_place = transition::below_in_place(transition);
            let mut paint_below = |target: &mut PixmapMut| match below {
                Some((s, local)) => paint_scene(plan, s, local, target, clips, backgrounds),
                None => target.fill(plan.gap),
            };
            let mut b = if in_place {
                paint_below(out);
                None
            } else {
                let b = b.get_or_insert_with(mk);
                paint_below(&mut b.as_mut());
                Some(b)
            };
            paint_scene(plan, above.0, above.1, &mut a.as_mut(), clips, backgrounds);
            match b.as_mut() {
                None => transition::composite_onto(out, a, transition, progress),
                Some(b) => transition::composite(out, b, a, transition, progress),
            }
        }
    }
    if let Some(c) = &plan.captions {
        paint_captions(c, frame, out);
    }
}

/// The caption line on screen at `frame`, with the word being spoken in its highlight color.
/// Returns the rectangle it drew in (clipped to the canvas), if any.
fn paint_captions(
    c: &crate::plan::captions::CaptionsPlan,
    frame: u64,
    out: &mut PixmapMut,
) -> Option<layer::PixelRect> {
    let line = c.lines.iter().find(|l| l.start <= frame && frame < l.end)?;
    let block = &line.plain;
    let (mx, my) = block.origin;
    let x = (c.x - block.width / 2.0 - mx).round();
    let y = (c.y - c.anchor_y * block.height - my).round();
    let (x, y) = (x as i32, y as i32);
    let full = |p: &tiny_skia::Pixmap| (0, 0, p.width() as i32, p.height() as i32);
    crate::pixels::blit::over(out, &block.pixmap, x, y, 1.0, full(&block.pixmap));
    if let Some(&(_, _, x0, x1)) = line.words.iter().find(|w| w.0 <= frame && frame < w.1) {
        if x1 > x0 {
            let h = line.highlight.pixmap.height() as i32;
            crate::pixels::blit::over(
                out,
                &line.highlight.pixmap,
                x,
                y,
                1.0,
                (x0.round() as i32, 0, x1.round() as i32, h),
            );
        }
    }
    let (pw, ph) = (
        block.pixmap.width().max(line.highlight.pixmap.width()),
        block.pixmap.height().max(line.highlight.pixmap.height()),
    );
    let clamp = |v: i32, max: u32| v.clamp(0, max as i32) as u32;
    let r = (
        clamp(x, out.width()),
        clamp(y, out.height()),
        clamp(x + pw as i32, out.width()),
        clamp(y + ph as i32, out.height()),
    );
    (r.0 < r.2 && r.1 < r.3).then_some(r)
}

fn paint_scene(
    plan: &Plan,
    scene: &ScenePlan,
    local: u64,
    pm: &mut PixmapMut,
    clips: ClipFrames,
    backgrounds: &mut Backgrounds,
) {
    let at = fill::Time { local, len: scene.len, clips };
    backgrounds.paint(scene, pm, at);
    paint_layers(plan, scene, local, pm, clips);
}

fn paint_layers(plan: &Plan, scene: &ScenePlan, local: u64, pm: &mut PixmapMut, clips: ClipFrames) {
    for l in &scene.layers {
        if local >= l.start && local < l.start + l.len {
            layer::paint(plan, l, local - l.start, pm, clips);
        }
    }
}
