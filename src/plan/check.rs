//! The shared checking context: the [`Checker`] that collects every problem and warning
//! with its JSON path, and the [`Ctx`] of the scene being planned (canvas, palette, fonts,
//! images, texts, the media budget).

use super::color;
use super::*;
use super::{assets::*, timing::*};
use crate::error::Result;
use crate::model::{self, Length};
use crate::text::FontLibrary;
use std::collections::{BTreeMap, HashMap, HashSet};

pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
    /// A failure that is not the input's (memory ran out decoding an asset): planning
    /// returns it instead of the problems.
    pub(super) fatal: Option<crate::Error>,
}

impl Checker {
    /// A checker holding `warnings` from parsing.
    pub(super) fn new(warnings: Vec<Problem>) -> Checker {
        Checker { problems: Vec::new(), warnings, fatal: None }
    }

    /// A media file at `path` could not be used: a problem saying `what` and why, unless
    /// memory ran out, which is kept as the plan's fatal error.
    pub(super) fn media(&mut self, path: impl Into<String>, what: &str, e: crate::ffmpeg::input::MediaError) {
        match e.into_error(path, what) {
            crate::Error::Invalid(p) => self.problems.extend(p.0),
            other => {
                self.fatal.get_or_insert(other);
            }
        }
    }

    /// The error planning returns now that checks found something: the fatal one if any,
    /// else every problem.
    pub(super) fn into_error(self) -> crate::Error {
        self.fatal.unwrap_or(crate::Error::Invalid(crate::error::Problems(self.problems)))
    }

    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), message: message.into() });
    }
    pub(super) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem { path: path.into(), message: message.into() });
    }
    pub(super) fn pick<T: Copy>(&mut self, path: &str, value: &str, table: &[(&str, T)]) -> Option<T> {
        if let Some((_, v)) = table.iter().find(|(n, _)| *n == value) {
            return Some(*v);
        }
        let names: Vec<_> = table.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        self.err(path, format!("expected one of {}, found {value:?}", names.join(", ")));
        None
    }
    pub(super) fn color(&mut self, path: &str, s: &str, palette: &BTreeMap<String, String>) -> Color {
        match color::parse(s, palette) {
            Ok(c) => c,
            Err(m) => {
                self.err(path, m);
                Color::BLACK
            }
        }
    }
    pub(super) fn easing(&mut self, path: &str, s: Option<&str>, default: Easing) -> Easing {
        match s {
            None => default,
            Some(s) => Easing::parse(s).unwrap_or_else(|| {
                self.err(path, format!("expected an easing (\"linear\", \"easeIn\", \"easeOut\", \"easeInOut\", \"spring\" or \"cubicBezier(x1,y1,x2,y2)\" with x1, x2 in 0..=1), found {s:?}"));
                default
            }),
        }
    }
    pub(super) fn range(&mut self, path: &str, v: Option<f64>, lo: f64, hi: f64, default: f64) -> f64 {
        match v {
            None => default,
            Some(v) if v.is_finite() && (lo..=hi).contains(&v) => v,
            Some(v) => {
                self.err(path, format!("expected a number in {lo}..={hi}, found {v}"));
                default
            }
        }
    }
    pub(super) fn frames(&mut self, path: &str, v: Option<i64>, min: i64, default: u64) -> u64 {
        match v {
            None => default,
            Some(v) if v >= min && v <= MAX_FRAMES => v as u64,
            Some(v) => {
                self.err(path, format!("expected a whole number of frames >= {min}, found {v}"));
                default
            }
        }
    }
}

/// No timing may exceed this (about 10 hours at 120 fps); larger values are refused.
pub(super) const MAX_FRAMES: i64 = 5_000_000;

/// Canvas axis a percentage refers to.
#[derive(Clone, Copy)]
pub(super) enum Axis {
    W,
    H,
}

pub(super) struct Ctx<'a> {
    pub(super) w: f32,
    pub(super) h: f32,
    pub(super) palette: &'a BTreeMap<String, String>,
    pub(super) images: Images,
    pub(super) fonts: &'a Arc<FontLibrary>,
    pub(super) style: &'a model::Style,
    pub(super) motion: Option<MotionDefaults>,
    /// Image sources by asset key and drawn size: uses of the same file at the same size
    /// share one.
    pub(super) sources: HashMap<(String, u32, u32), Arc<ImageSource>>,
    /// (scene, source) for every image drawn.
    pub(super) image_uses: Vec<(usize, Arc<ImageSource>)>,
    /// Text blocks laid out so far, by what they were laid out from (its Debug form).
    pub(super) texts: HashMap<String, Arc<super::TextPlan>>,
    /// (scene, text) for every text layer drawn.
    pub(super) text_uses: Vec<(usize, Arc<super::TextPlan>)>,
    /// Bytes of `Limits::max_media_bytes` not yet taken by images and text rasters.
    pub(super) media_left: u64,
    pub(super) font_warned: HashSet<String>,
    pub(super) videos:
        &'a HashMap<String, (std::path::PathBuf, Result<crate::media::VideoInfo, crate::ffmpeg::input::MediaError>)>,
    pub(super) clips: Vec<ClipPlan>,
    pub(super) scene: usize,
    pub(super) scene_start: u64,
    /// Image sources first drawn by a scene starting before this frame keep the pixels
    /// planning made; later ones are let go at once (the render's loader makes them again
    /// shortly before they are shown), so planning holds no more pixels for a video of many
    /// photos than for one of a few.
    pub(super) keep_before: u64,
}

impl Ctx<'_> {
    pub(super) fn len(&self, ck: &mut Checker, path: &str, l: &Length, axis: Axis) -> f32 {
        let base = match axis {
            Axis::W => self.w,
            Axis::H => self.h,
        };
        match l {
            Length::Px(v) if v.is_finite() && v.abs() <= 1e6 => *v as f32,
            Length::Str(s) => match s.trim().strip_suffix('%').and_then(|n| n.trim().parse::<f32>().ok()) {
                Some(p) if p.is_finite() && p.abs() <= 1e4 => p / 100.0 * base,
                _ => {
                    ck.err(path, format!("expected a Length (number or \"NN%\"), found {s:?}"));
                    0.0
                }
            },
            Length::Px(v) => {
                ck.err(path, format!("expected a Length of at most 1000000 pixels, found {v}"));
                0.0
            }
        }
    }
    pub(super) fn len_opt(&self, ck: &mut Checker, path: &str, l: &Option<Length>, axis: Axis) -> Option<f32> {
        l.as_ref().map(|l| self.len(ck, path, l, axis))
    }
    pub(super) fn nonneg(&self, ck: &mut Checker, path: &str, l: &Option<Length>, axis: Axis) -> f32 {
        let v = self.len_opt(ck, path, l, axis).unwrap_or(0.0);
        if v < 0.0 {
            ck.err(path, format!("expected a Length >= 0, found {v}"));
            return 0.0;
        }
        v
    }
}
