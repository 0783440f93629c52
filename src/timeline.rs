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
