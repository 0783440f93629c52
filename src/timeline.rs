//! (Plan, frame) -> what is on screen: which scenes, their local frames, and the transition
//! progress. Pure; no pixels.

use crate::plan::{Plan, ScenePlan, TransitionPlan};

/// What one output frame shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum View<'a> {
    /// No scene covers the frame: the `@background` color.
    Gap,
    /// One scene at a local frame.
    Scene(&'a ScenePlan, u64),
    /// A scene entering over what was below it.
    Transition {
        /// The scene (or gap) below, at its local frame.
        below: Option<(&'a ScenePlan, u64)>,
        /// The entering scene at its local frame.
        above: (&'a ScenePlan, u64),
        /// How it enters.
        transition: &'a TransitionPlan,
        /// Linear progress, strictly between 0 and 1.
        progress: f32,
    },
}

/// The view at output frame `frame`. Past the timeline's end (policy `pad`) the last frame
/// holds.
pub(crate) fn view(plan: &Plan, frame: u64) -> View<'_> {
    let f = if plan.timeline_end > 0 { frame.min(plan.timeline_end - 1) } else { frame };
    let active = |s: &ScenePlan| s.start <= f && f < s.start + s.len;
    let Some(top) = plan.scenes.iter().rposition(active) else { return View::Gap };
    let scene = &plan.scenes[top];
    let local = f - scene.start;
    if let Some(t) = &scene.transition {
        if local < t.frames {
            let below = plan.scenes[..top].iter().rev().find(|s| active(s)).map(|s| (s, f - s.start));
            // (local + 1) / (frames + 1): never fully old nor fully new inside the overlap.
            let progress = (local + 1) as f32 / (t.frames + 1) as f32;
            return View::Transition { below, above: (scene, local), transition: t, progress };
        }
    }
    View::Scene(scene, local)
}

/// The clip time (seconds in the file) shown at output frame `frame`, or `None` when the
/// clip is not on screen then. Exact in frames: `trimStart + n / fps * playbackRate` for the
/// layer's n-th frame, wrapped when looping, held at the end otherwise.
pub(crate) fn clip_time(plan: &Plan, c: &crate::plan::ClipPlan, frame: u64) -> Option<f64> {
    let f = if plan.timeline_end > 0 { frame.min(plan.timeline_end - 1) } else { frame };
    let scene = plan.scenes.get(c.scene)?;
    if f < scene.start || f >= scene.start + scene.len || f < c.start || f >= c.start + c.len {
        return None;
    }
    let n = f - c.start;
    let t = n as f64 * plan.fps.den as f64 / plan.fps.num as f64 * c.rate;
    let span = c.end - c.trim_start;
    let t = if t < span {
        t
    } else if c.looped {
        t % span
    } else {
        // Hold the last frame: just inside the end.
        (span - 1e-4).max(0.0)
    };
    Some(c.trim_start + t)
}
