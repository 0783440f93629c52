//! What one output frame shows, decided once for both painters: the scene or scenes in view
//! at their local frames, how a transition mixes them, the layers visible in each, and the
//! caption line with its spoken word. The RGBA painter and the 4:2:0 composer only paint
//! what this says; neither looks at the timeline itself.

use super::transition::{self, Mix};
use crate::plan::captions::{CaptionLine, CaptionsPlan};
use crate::plan::{LayerPlan, Plan, ScenePlan, TransitionPlan};
use crate::timeline::{view, View};
use std::sync::atomic::{AtomicBool, Ordering};

/// One scene at one of its frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shot<'a> {
    pub scene: &'a ScenePlan,
    /// The frame within the scene.
    pub local: u64,
    /// The render's cancel flag: once set, no further layer is painted (the frame is
    /// thrown away).
    pub stop: Option<&'a AtomicBool>,
}

impl<'a> Shot<'a> {
    /// The scene's layers on screen at this frame, in painting order: each one's index in
    /// the scene, the layer, and the frame within the layer. None once the render is
    /// cancelled, so a frame of many slow layers stops within one layer's painting.
    pub fn visible(self) -> impl Iterator<Item = (usize, &'a LayerPlan, u64)> + Clone {
        let (local, stop) = (self.local, self.stop);
        self.scene
            .layers
            .iter()
            .enumerate()
            .take_while(move |_| stop.is_none_or(|s| !s.load(Ordering::Relaxed)))
            .filter(move |(_, l)| local >= l.start && local < l.start + l.len)
            .map(move |(i, l)| (i, l, local - l.start))
    }
}

/// The picture under the captions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Picture<'a> {
    /// No scene: the plan's gap colour.
    Gap,
    /// One scene.
    Scene(Shot<'a>),
    /// A scene entering over another (or over the gap, `below: None`).
    Transition {
        below: Option<Shot<'a>>,
        above: Shot<'a>,
        transition: &'a TransitionPlan,
        /// How the two are mixed at this progress.
        mix: Mix,
    },
}

/// The caption line on screen and the word being spoken on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaptionAt<'a> {
    pub plan: &'a CaptionsPlan,
    /// The line's index in `plan.lines`.
    pub index: usize,
    pub line: &'a CaptionLine,
    /// The spoken word's index in `line.words`, if one is being spoken.
    pub word: Option<usize>,
    /// The frame.
    pub frame: u64,
}

impl CaptionAt<'_> {
    /// What the caption's pixels depend on: the line, the spoken word, how many words have
    /// come on screen, and the frame itself while a word is part-way through an animation.
    pub fn key(&self) -> (u64, usize, Option<usize>, usize, Option<u64>) {
        let started = self.line.words.iter().filter(|w| w.start <= self.frame).count();
        let moving = (!self.plan.settled(self.line, self.frame)).then_some(self.frame);
        (self.plan.uid, self.index, self.word, started, moving)
    }
}

/// Everything frame `frame` of a plan shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Content<'a> {
    pub picture: Picture<'a>,
    /// The overlays, over the picture and under the caption.
    pub overlay: Option<Shot<'a>>,
    pub caption: Option<CaptionAt<'a>>,
}

impl<'a> Content<'a> {
    /// Whether the scene (or the overlays' pseudo-scene) with [`ScenePlan::uid`] `uid` is
    /// in this frame.
    pub fn shows_scene(&self, uid: u64) -> bool {
        let picture = match self.picture {
            Picture::Gap => [None, None],
            Picture::Scene(s) => [Some(s), None],
            Picture::Transition { below, above, .. } => [below, Some(above)],
        };
        picture.into_iter().chain([self.overlay]).flatten().any(|s| s.scene.uid == uid)
    }

    /// What frame `frame` of `plan` shows; painting it stops early once `stop` is set.
    pub fn at(plan: &'a Plan, frame: u64, stop: Option<&'a AtomicBool>) -> Content<'a> {
        let shot = |(scene, local)| Shot { scene, local, stop };
        let picture = match view(plan, frame) {
            View::Gap => Picture::Gap,
            View::Scene(s, local) => Picture::Scene(shot((s, local))),
            View::Transition { below, above, transition: t, progress } => Picture::Transition {
                below: below.map(shot),
                above: shot(above),
                transition: t,
                mix: transition::mix(t, progress),
            },
        };
        let caption = plan.captions.as_ref().and_then(|c| {
            let index = c.lines.iter().position(|l| l.start <= frame && frame < l.end)?;
            let line = &c.lines[index];
            let word = line.words.iter().position(|w| w.start <= frame && frame < w.end);
            Some(CaptionAt { plan: c, index, line, word, frame })
        });
        let overlay = plan.overlay.as_ref().map(|scene| Shot { scene, local: frame, stop });
        Content { picture, overlay, caption }
    }
}
