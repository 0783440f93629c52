//! Canvas and timing: the canvas size and frame rate, scene placement with transitions,
//! the duration policy, and the motion defaults of `style.motionLanguage`.

use super::*;
use super::{build::*, check::*};
use crate::anim::Preset;
use crate::model::{self, Composition};

#[derive(Clone, Copy)]
pub(super) struct MotionDefaults {
    pub(super) transition: (TransitionKind, u64, Easing),
    pub(super) enter: Motion,
}

pub(super) fn motion_defaults(name: &str) -> MotionDefaults {
    let m = |preset, frames, easing| Motion { preset, frames, easing };
    match name {
        "energetic" => MotionDefaults {
            transition: (TransitionKind::Push, 6, Easing::EaseOut),
            enter: m(Preset::Pop, 8, Easing::EaseOut),
        },
        "minimal" => MotionDefaults {
            transition: (TransitionKind::Fade, 12, Easing::Linear),
            enter: m(Preset::Fade, 12, Easing::EaseOut),
        },
        "playful" => MotionDefaults {
            transition: (TransitionKind::Zoom, 15, Easing::Spring),
            enter: m(Preset::ScaleIn, 18, Easing::Spring),
        },
        // cinematic, and anything else (with a warning)
        _ => MotionDefaults {
            transition: (TransitionKind::Fade, 20, Easing::EaseInOut),
            enter: m(Preset::SlideUp, 24, Easing::EaseInOut),
        },
    }
}

pub(super) const TRANSITIONS: &[(&str, TransitionKind)] = &[
    ("cut", TransitionKind::Cut),
    ("fade", TransitionKind::Fade),
    ("dipToBlack", TransitionKind::DipToBlack),
    ("dipToWhite", TransitionKind::DipToWhite),
    ("slide", TransitionKind::Slide),
    ("push", TransitionKind::Push),
    ("wipe", TransitionKind::Wipe),
    ("zoom", TransitionKind::Zoom),
];

pub(super) const DIRECTIONS: &[(&str, Direction)] =
    &[("left", Direction::Left), ("right", Direction::Right), ("up", Direction::Up), ("down", Direction::Down)];

pub(super) const ASPECTS: &[(&str, (u32, u32))] = &[
    ("16:9", (1920, 1080)),
    ("9:16", (1080, 1920)),
    ("1:1", (1080, 1080)),
    ("4:5", (1080, 1350)),
    ("2:3", (1080, 1620)),
];

/// The canvas: its size (from `aspectRatio`, `width` and `height`) and frame rate.
pub(super) fn canvas(ck: &mut Checker, comp: &Composition, lim: Limits) -> (u32, u32, Fps) {
    let aspect = match comp.aspect_ratio.as_deref() {
        None => (1920, 1080),
        Some(a) => ck.pick("aspectRatio", a, ASPECTS).unwrap_or((1920, 1080)),
    };
    let mut dim = |name: &str, v: Option<i64>, default: u32| -> u32 {
        match v {
            None => default,
            Some(v) if (16..=lim.max_side as i64).contains(&v) && v % 2 == 0 => v as u32,
            Some(v) => {
                ck.err(name, format!("expected an even number of pixels in 16..={}, found {v}", lim.max_side));
                default
            }
        }
    };
    let (mut width, mut height) = (dim("width", comp.width, aspect.0), dim("height", comp.height, aspect.1));
    match (comp.width, comp.height) {
        (Some(_), None) => height = even((width as f64 * aspect.1 as f64 / aspect.0 as f64).round() as u32),
        (None, Some(_)) => width = even((height as f64 * aspect.0 as f64 / aspect.1 as f64).round() as u32),
        _ => {}
    }
    if comp.aspect_ratio.is_some() && comp.width.is_some() && comp.height.is_some() {
        let want = aspect.0 as f64 / aspect.1 as f64;
        let got = width as f64 / height as f64;
        if (got / want - 1.0).abs() > 0.01 {
            ck.err(
                "width",
                format!(
                    "{width}x{height} does not match aspectRatio {:?} within 1 %",
                    comp.aspect_ratio.as_deref().unwrap_or("")
                ),
            );
        }
    }
    let fps = match comp.fps {
        None => Fps::new(30, 1),
        Some(v) if (1.0..=120.0).contains(&v) => Fps::from_f64(v),
        Some(v) => {
            ck.err("fps", format!("expected a frame rate in 1..=120, found {v}"));
            None
        }
    }
    .unwrap_or(Fps { num: 30, den: 1 });
    (width, height, fps)
}

/// Where the scenes fall on the timeline once the duration policy has run, and the output's
/// length and poster frame.
pub(super) struct Timing {
    pub(super) starts: Vec<u64>,
    pub(super) lens: Vec<u64>,
    pub(super) transitions: Vec<Option<TransitionPlan>>,
    /// Frames in the output.
    pub(super) target: u64,
    pub(super) duration: DurationInfo,
    /// The end of the last scene.
    pub(super) timeline_end: u64,
    pub(super) poster_frame: u64,
}

pub(super) fn timing(
    ck: &mut Checker,
    comp: &Composition,
    opts: &PlanOptions,
    fps: Fps,
    motion: Option<MotionDefaults>,
) -> Timing {
    let lim = opts.limits;
    let mut lens: Vec<u64> = Vec::new();
    let mut explicit_start: Vec<Option<u64>> = Vec::new();
    let mut transitions: Vec<Option<TransitionPlan>> = Vec::new();
    for (i, s) in comp.scenes.iter().enumerate() {
        let p = format!("scenes[{i}]");
        lens.push(ck.frames(&format!("{p}.durationFrames"), Some(s.duration_frames), 1, 1));
        explicit_start.push(s.start_frame.map(|v| ck.frames(&format!("{p}.startFrame"), Some(v), 0, 0)));
        transitions.push(transition(ck, &p, s.transition.as_ref(), motion, i));
    }
    // Overlaps may not exceed either scene.
    for i in 0..transitions.len() {
        if let Some(t) = transitions[i] {
            let prev = if i > 0 { lens[i - 1] } else { u64::MAX };
            if t.frames > lens[i] || t.frames > prev {
                let explicit = comp.scenes[i].transition.as_ref().and_then(|t| t.duration_frames).is_some();
                if explicit {
                    ck.err(
                        format!("scenes[{i}].transition.durationFrames"),
                        format!(
                            "a transition of {} frames is longer than {} ({} frames)",
                            t.frames,
                            if t.frames > lens[i] { "its scene" } else { "the previous scene" },
                            lens[i].min(prev)
                        ),
                    );
                } else {
                    // A default from the motion language that does not fit: shorten it.
                    transitions[i] = Some(TransitionPlan { frames: lens[i].min(prev), ..t });
                }
            }
        }
    }
    let starts = place(&lens, &explicit_start, &transitions);
    let planned_end = starts.iter().zip(&lens).map(|(s, l)| s + l).max().unwrap_or(0);
    let target = match comp.total_duration_frames {
        Some(v) => ck.frames("totalDurationFrames", Some(v), 1, planned_end.max(1)),
        None => planned_end.max(1),
    };
    if fps.seconds(target) > lim.max_seconds {
        ck.err(
            "totalDurationFrames",
            format!("{target} frames is {:.0} s; the limit is {} s", fps.seconds(target), lim.max_seconds),
        );
    }
    let policy = opts.duration_policy.or_else(|| {
        comp.duration_policy.as_deref().and_then(|p| {
            let v = DurationPolicy::parse(p);
            if v.is_none() {
                ck.err("durationPolicy", format!("expected one of \"fit\", \"pad\", \"strict\", found {p:?}"));
            }
            v
        })
    });
    let policy = policy.unwrap_or_default();
    let (starts, lens, duration) =
        apply_policy(ck, policy, fps, target, planned_end, starts, lens, &explicit_start, &transitions);
    let timeline_end = starts.iter().zip(&lens).map(|(s, l)| s + l).max().unwrap_or(0);

    let poster_frame = match comp.poster_frame {
        Some(v) if v >= 0 && (v as u64) < target => v as u64,
        Some(v) => {
            ck.err("posterFrame", format!("expected a frame in 0..{target}, found {v}"));
            0
        }
        None => starts.first().map(|s| s + lens[0] / 2).unwrap_or(0).min(target.saturating_sub(1)),
    };
    Timing { starts, lens, transitions, target, duration, timeline_end, poster_frame }
}

pub(super) fn even(v: u32) -> u32 {
    (v + 1) & !1
}

pub(super) fn transition(
    ck: &mut Checker,
    p: &str,
    t: Option<&model::Transition>,
    motion: Option<MotionDefaults>,
    index: usize,
) -> Option<TransitionPlan> {
    let (kind, frames, easing, direction) = match t {
        None => {
            let m = motion?;
            (m.transition.0, m.transition.1, m.transition.2, Direction::Left)
        }
        Some(t) => {
            let kind = ck.pick(&format!("{p}.transition.type"), &t.kind, TRANSITIONS).unwrap_or(TransitionKind::Cut);
            let def = motion.map(|m| m.transition.1).unwrap_or(15);
            let frames = ck.frames(&format!("{p}.transition.durationFrames"), t.duration_frames, 1, def);
            let direction = match &t.direction {
                None => Direction::Left,
                Some(d) => ck.pick(&format!("{p}.transition.direction"), d, DIRECTIONS).unwrap_or(Direction::Left),
            };
            let def = motion.map(|m| m.transition.2).unwrap_or(Easing::EaseInOut);
            let easing = ck.easing(&format!("{p}.transition.easing"), t.easing.as_deref(), def);
            (kind, frames, easing, direction)
        }
    };
    if kind == TransitionKind::Cut {
        return None;
    }
    if index == 0 {
        if t.is_some() {
            ck.warn(format!("{p}.transition"), "the first scene has no scene before it; its transition is ignored");
        }
        return None;
    }
    Some(TransitionPlan { kind, frames, direction, easing })
}

/// Start frames: explicit ones where given, else right after the previous scene minus the
/// incoming transition's overlap.
pub(super) fn place(lens: &[u64], explicit: &[Option<u64>], transitions: &[Option<TransitionPlan>]) -> Vec<u64> {
    let mut starts = Vec::with_capacity(lens.len());
    let mut prev_end = 0u64;
    for i in 0..lens.len() {
        let overlap = transitions[i].map(|t| t.frames).unwrap_or(0);
        let s = explicit[i].unwrap_or(prev_end.saturating_sub(overlap));
        starts.push(s);
        prev_end = s + lens[i];
    }
    starts
}

#[allow(clippy::too_many_arguments)] // one call site; the arguments are the timing state
pub(super) fn apply_policy(
    ck: &mut Checker,
    policy: DurationPolicy,
    fps: Fps,
    target: u64,
    planned: u64,
    starts: Vec<u64>,
    lens: Vec<u64>,
    explicit: &[Option<u64>],
    transitions: &[Option<TransitionPlan>],
) -> (Vec<u64>, Vec<u64>, DurationInfo) {
    let info = |action: String| DurationInfo { target_frames: target, planned_frames: planned, policy, action };
    if planned == target || lens.is_empty() {
        return (starts, lens, info("the timeline ends at the target; nothing to do".into()));
    }
    let secs = |f: u64| fps.seconds(f);
    match policy {
        DurationPolicy::Strict | DurationPolicy::Pad => {
            let off = planned.abs_diff(target);
            if policy == DurationPolicy::Strict && off as f64 > fps.as_f64() {
                ck.err(
                    "totalDurationFrames",
                    format!(
                        "duration policy \"strict\": the scenes end at frame {planned} ({:.3} s) but the target is {target} frames ({:.3} s), {:.3} s apart (at most 1 s allowed)",
                        secs(planned),
                        secs(target),
                        secs(off)
                    ),
                );
            }
            let action = if planned < target {
                format!("held the last frame for {} frames ({:.3} s)", target - planned, secs(target - planned))
            } else {
                format!("cut the last {} frames ({:.3} s)", planned - target, secs(planned - target))
            };
            (starts, lens, info(action))
        }
        DurationPolicy::Fit => {
            // Scale every scene's length (and explicit starts) so the timeline ends at the
            // target, keeping transitions' lengths: sum(len') - overlaps = target.
            let overlaps: u64 = transitions.iter().map(|t| t.map(|t| t.frames).unwrap_or(0)).sum();
            let sum: u64 = lens.iter().sum();
            let sequential = explicit.iter().all(|e| e.is_none());
            let k = if sequential {
                (target + overlaps) as f64 / sum.max(1) as f64
            } else {
                target as f64 / planned as f64
            };
            let mut new_lens = Vec::with_capacity(lens.len());
            let mut acc = 0.0f64;
            let mut prev_round = 0u64;
            for (i, l) in lens.iter().enumerate() {
                acc += *l as f64 * k;
                let r = acc.round() as u64;
                let min = 1
                    .max(transitions[i].map(|t| t.frames).unwrap_or(0))
                    .max(transitions.get(i + 1).copied().flatten().map(|t| t.frames).unwrap_or(0));
                new_lens.push((r - prev_round.min(r)).max(min));
                prev_round = r;
            }
            let new_explicit: Vec<Option<u64>> =
                explicit.iter().map(|e| e.map(|s| (s as f64 * k).round() as u64)).collect();
            let mut new_starts = place(&new_lens, &new_explicit, transitions);
            let end = new_starts.iter().zip(&new_lens).map(|(s, l)| s + l).max().unwrap_or(0);
            // Rounding and minimums can leave a few frames: settle them on the last scene.
            if end != target {
                let last = new_lens.len() - 1;
                let want = new_lens[last] as i64 + target as i64 - end as i64;
                if want >= 1 {
                    new_lens[last] = want as u64;
                }
                new_starts = place(&new_lens, &new_explicit, transitions);
            }
            let action = format!(
                "scaled scene durations by {:.4} so the timeline ends at frame {target} instead of {planned}",
                k
            );
            (new_starts, new_lens, info(action))
        }
    }
}
