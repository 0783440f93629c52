//! The RGBA painter: any frame, painted with tiny-skia into a premultiplied RGBA canvas.
//! What to paint comes from [`Content`]; this file only paints it.

use super::frame::{Content, Picture, Shot};
use super::transition;
use super::{fill, layer, Backgrounds, CanvasState, ClipFrames, Scratch};
use crate::plan::{Fill, Plan};
use tiny_skia::PixmapMut;

/// Paints `content` (a frame of `plan`) into `out` (the canvas size; opaque result).
pub(super) fn paint(plan: &Plan, content: &Content, out: &mut PixmapMut, scratch: &mut Scratch, clips: ClipFrames) {
    let canvas = (out.data_mut().as_ptr() as usize, out.data_mut().len());
    let prior = scratch.canvas.take().filter(|c| c.canvas == canvas);
    match content.picture {
        Picture::Gap => out.fill(plan.gap),
        Picture::Scene(shot) => {
            let key = shot.scene.uid;
            let restored = prior
                .filter(|p| p.scene == key)
                .is_some_and(|p| scratch.backgrounds.restore(shot.scene, out, &p.dirty));
            if restored {
                paint_layers(plan, shot, out, clips);
            } else {
                paint_scene(plan, shot, out, clips, &mut scratch.backgrounds);
            }
            if let Some(o) = content.overlay {
                paint_layers(plan, o, out, clips);
            }
            let caption = content.caption.and_then(|c| super::caption::paint(c, out));
            // Over a cached (gradient) background, remember what was drawn, if every layer
            // can say; other backgrounds are painted whole every frame anyway.
            if !matches!(shot.scene.background, Fill::Gradient(_)) {
                return;
            }
            let (w, h) = (out.width(), out.height());
            let mut dirty: Option<Vec<layer::PixelRect>> = Some(caption.into_iter().collect());
            for (_, l, t) in shot.visible().chain(content.overlay.into_iter().flat_map(|o| o.visible())) {
                match (layer::bounds(plan, l, t, w, h), dirty.as_mut()) {
                    (Some(r), Some(d)) => d.extend(r),
                    _ => dirty = None,
                }
            }
            scratch.canvas = dirty.map(|dirty| CanvasState { canvas, scene: key, dirty });
            return;
        }
        Picture::Transition { below, above, transition, mix, .. } => {
            let Scratch { size: (w, h), below: b, above: a, backgrounds, .. } = scratch;
            let mk = || crate::pixels::pixmap_or_tiny(*w, *h);
            let a = a.get_or_insert_with(mk);
            // Most transitions start from a copy of the lower scene: paint it in place.
            // (`below` is only made, so only made resident, by push and zoom.)
            let in_place = transition::below_in_place(transition);
            let mut paint_below = |target: &mut PixmapMut| match below {
                Some(shot) if mix.shows_below() => paint_scene(plan, shot, target, clips, backgrounds),
                Some(_) => {}
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
            if mix.shows_above() {
                paint_scene(plan, above, &mut a.as_mut(), clips, backgrounds);
            }
            match b.as_mut() {
                None => transition::composite_onto(out, a, transition, mix),
                Some(b) => transition::composite(out, b, a, transition, mix),
            }
        }
    }
    if let Some(o) = content.overlay {
        paint_layers(plan, o, out, clips);
    }
    if let Some(c) = content.caption {
        super::caption::paint(c, out);
    }
}

fn paint_scene(plan: &Plan, shot: Shot, pm: &mut PixmapMut, clips: ClipFrames, backgrounds: &mut Backgrounds) {
    let at = fill::Time { local: shot.local, len: shot.scene.len, clips };
    backgrounds.paint(shot.scene, pm, at);
    paint_layers(plan, shot, pm, clips);
}

fn paint_layers(plan: &Plan, shot: Shot, pm: &mut PixmapMut, clips: ClipFrames) {
    for (_, l, t) in shot.visible() {
        layer::paint(plan, l, t, pm, clips);
    }
}
