//! Painting one frame of a [`Plan`] with tiny-skia. Nothing here can fail: every value was
//! checked while planning, and degenerate geometry (a zero-sized box, a non-invertible
//! transform) simply draws nothing.

mod caption;
mod fill;
mod frame;
mod layer;
mod planar;
mod resample;
mod rgba;
mod transition;

pub use planar::resize_planes;

use crate::media::ClipPicture;
use crate::pixels::Yuv420;
use crate::plan::{Plan, ScenePlan};
use frame::Content;
use tiny_skia::{Pixmap, PixmapMut};

/// Which painter drew a frame (see [`paint_frame`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Painted {
    /// The frame is in the RGBA canvas.
    Rgba,
    /// The frame is in the 4:2:0 planes; the canvas holds nothing useful.
    Planes,
}

/// Paints output frame `frame` of `plan`: the one place that chooses a painter.
///
/// What the frame shows (the scenes in view, how a transition mixes them, the visible
/// layers, the caption line and its spoken word) is worked out once. Given `planes`, a
/// frame whose background is a photo or a clip covering the canvas, alone or in any
/// transition between two such scenes, is composed straight into the planes (BT.709
/// limited range, as the encoder takes them): [`Painted::Planes`]. Every other frame, and
/// every frame without `planes`, is painted in RGBA into `canvas` (opaque, the canvas
/// size): [`Painted::Rgba`].
///
/// `scratch` and `canvas` belong together, as a worker's: both painters reuse what the
/// canvas holds from the call before (a cached background's undrawn parts; the 4:2:0
/// path paints layers into it as a transparent overlay and leaves it so), so the canvas
/// must not be changed between calls with the same scratch.
pub fn paint_frame(
    plan: &Plan,
    frame: u64,
    scratch: &mut Scratch,
    clips: ClipFrames,
    canvas: &mut PixmapMut,
    planes: Option<&mut Yuv420>,
) -> Painted {
    let stop = scratch.stop.clone();
    let content = Content::at(plan, frame, stop.as_deref());
    scratch.forget_unseen(&content);
    if let Some(planes) = planes {
        if planar::paint(plan, &content, planes, scratch, canvas, clips) {
            return Painted::Planes;
        }
    }
    scratch.clear_canvas = None;
    rgba::paint(plan, &content, canvas, scratch, clips);
    Painted::Rgba
}

/// Paints output frame `frame` of `plan` in RGBA into `out` (the canvas size; opaque
/// result): [`paint_frame`] without planes, for stills and posters.
pub fn render_frame(plan: &Plan, frame: u64, out: &mut PixmapMut, scratch: &mut Scratch, clips: ClipFrames) {
    paint_frame(plan, frame, scratch, clips, out, None);
}

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
    /// Buffers of frames composed in 4:2:0 ([`paint_frame`]).
    planes: planar::Planes,
    /// The canvas (buffer address and length) known transparent everywhere: the 4:2:0
    /// path borrows the canvas as its overlay and keeps it so.
    clear_canvas: Option<(usize, usize)>,
    /// The render's cancel flag, if any: see [`Scratch::stop_when`].
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
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
            clear_canvas: None,
            stop: None,
        }
    }

    /// Lets go of what these buffers keep for scenes and transitions `content` does not
    /// show: transition buffers outside transitions, cached backgrounds and composed
    /// overlays of scenes out of view. A worker then holds what its current frames need,
    /// not what every scene it painted needed (W4's clip scene peaked with the buffers
    /// of transitions and scenes long past).
    fn forget_unseen(&mut self, content: &Content) {
        // The thread's own caches (dithered gradients, shadows, a picture's resize
        // buffers) keep what the thread's last frame used.
        let now = PAINTED.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        layer::forget_unused(now);
        fill::forget_unused(now);
        if !matches!(content.picture, frame::Picture::Transition { .. }) {
            self.below = None;
            self.above = None;
        }
        self.backgrounds.entries.retain(|(uid, _)| content.shows_scene(*uid));
        self.planes.forget_unseen(content);
    }

    /// Frames painted with these buffers stop between layers once `flag` is set (what
    /// they hold is then to be thrown away): a cancelled render does not wait for a frame
    /// of many slow layers.
    pub fn stop_when(&mut self, flag: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) {
        self.stop = flag;
    }
}

thread_local! {
    /// Frames this thread has begun painting: the clock its caches date their entries by.
    static PAINTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The number of the frame this thread is painting (see [`Scratch::forget_unseen`]).
fn painting() -> u64 {
    PAINTED.with(|c| c.get())
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
            let rect = (x0 as usize, y0 as usize, x1 as usize, y1 as usize);
            crate::pixels::copy_rect(src, dst, (w as usize, h as usize), 4, rect);
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
            // A gradient covering the canvas is shaded here, dithered (tiny-skia rounds each
            // pixel to the nearest code value: a dark gradient showed 45 px bands).
            if let crate::plan::Fill::Gradient(g) = &scene.background {
                return fill::dithered_gradient(pm, g, true);
            }
            pm.fill(scene.matte);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What this thread's caches and a worker's scratch hold: dithered gradients, shadow
    /// masks, the RGBA transition buffers, cached backgrounds.
    fn held(scratch: &Scratch) -> (usize, usize, bool, usize) {
        let (gradients, shadows) = layer::cached();
        (gradients, shadows, scratch.above.is_some(), scratch.backgrounds.entries.len())
    }

    #[test]
    fn a_worker_keeps_what_its_frames_use_and_lets_go_of_the_rest() {
        // Scene a: a gradient background (cached) under a gradient-filled, shadowed shape
        // (a dithered gradient and a shadow mask kept per worker); b slides in over it
        // (the RGBA transition buffers); b's own frames need none of that.
        let json = r##"{"id": "keep", "width": 160, "height": 90, "fps": 30, "scenes": [
          {"id": "a", "durationFrames": 10, "background": {"type": "gradient", "colors": ["#204060", "#a04020"]},
           "layers": [{"type": "shape", "shape": "rect", "width": 80, "height": 40, "x": 20, "y": 20, "anchor": "top-left",
                       "fill": {"type": "gradient", "colors": ["#ff0000", "#0000ff"]},
                       "shadow": {"color": "#00000080", "offsetY": 4, "blur": 6}}]},
          {"id": "b", "durationFrames": 10, "background": "#303030", "transition": {"type": "slide", "durationFrames": 4}}]}"##;
        let plan = Plan::build(&crate::parse(json).expect("parses"), &crate::PlanOptions::new(".")).expect("plans");
        let mut scratch = Scratch::new(160, 90);
        let mut canvas = Pixmap::new(160, 90).expect("canvas");
        let mut paint = |f: u64, scratch: &mut Scratch| render_frame(&plan, f, &mut canvas.as_mut(), scratch, &[]);
        paint(2, &mut scratch);
        assert_eq!(held(&scratch), (1, 1, false, 1), "scene a's frame");
        paint(3, &mut scratch);
        assert_eq!(held(&scratch), (1, 1, false, 1), "a second frame of a keeps what the first made");
        paint(7, &mut scratch);
        assert_eq!(held(&scratch), (1, 1, true, 1), "the slide into b");
        paint(8, &mut scratch);
        paint(12, &mut scratch);
        assert_eq!(held(&scratch), (1, 1, false, 0), "b alone: the transition and a's background go");
        paint(13, &mut scratch);
        assert_eq!(held(&scratch), (0, 0, false, 0), "a frame later, what a's layers used goes too");
    }

    #[test]
    fn a_moving_shadow_holds_one_mask_and_a_still_one_is_made_once() {
        // Two shadowed shapes: one moves on every frame, one stands still.
        let json = r##"{"id": "shadows", "width": 160, "height": 90, "fps": 30, "scenes": [
          {"id": "a", "durationFrames": 30, "background": "#303030",
           "layers": [{"type": "shape", "shape": "rect", "width": 40, "height": 30, "y": 10, "anchor": "top-left", "fill": "#ff0000",
                       "shadow": {"color": "#00000080", "offsetY": 4, "blur": 6},
                       "keyframes": {"x": [{"frame": 0, "value": 0}, {"frame": 29, "value": 110}]}},
                      {"type": "shape", "shape": "rect", "width": 40, "height": 30, "x": 60, "y": 50, "anchor": "top-left", "fill": "#00ff00",
                       "shadow": {"color": "#00000080", "offsetY": 4, "blur": 6}}]}]}"##;
        let plan = Plan::build(&crate::parse(json).expect("parses"), &crate::PlanOptions::new(".")).expect("plans");
        let mut scratch = Scratch::new(160, 90);
        let mut canvas = Pixmap::new(160, 90).expect("canvas");
        let made = layer::shadows_made();
        for (i, f) in (2..7).enumerate() {
            render_frame(&plan, f, &mut canvas.as_mut(), &mut scratch, &[]);
            assert_eq!(layer::cached().1, 2, "frame {f}: one mask a layer, the moving one's of this frame only");
            assert_eq!(layer::shadows_made() - made, 2 + i, "frame {f}: only the moving shadow is made again");
        }
    }
}
