//! The validation pass. One function per part of the contract; each pushes problems into a
//! [`Checker`] and returns a best-effort value so that later checks still run.

use super::color;

#[path = "captions.rs"]
pub(crate) mod captions;
use super::*;
use crate::anim::{Key, Preset};
use crate::error::{Error, Problems, Result};
use crate::media::{read_image_file, AssetResolver, ImageLimits, Original};
use crate::model::{self, Composition, Length, StrOr};
use crate::text::{Align, FontLibrary, PlateSpec, TextSpec, DEFAULT_FAMILY};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What to do when the scenes' timeline does not end at `totalDurationFrames`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationPolicy {
    /// Scale scene durations proportionally to end exactly at the target.
    #[default]
    Fit,
    /// Hold the last frame, or cut the end.
    Pad,
    /// Refuse a timeline more than one second off; otherwise pad.
    Strict,
}

impl DurationPolicy {
    /// Parses `fit`, `pad` or `strict`.
    pub fn parse(s: &str) -> Option<DurationPolicy> {
        match s {
            "fit" => Some(DurationPolicy::Fit),
            "pad" => Some(DurationPolicy::Pad),
            "strict" => Some(DurationPolicy::Strict),
            _ => None,
        }
    }
    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            DurationPolicy::Fit => "fit",
            DurationPolicy::Pad => "pad",
            DurationPolicy::Strict => "strict",
        }
    }
}

/// Limits a composition must stay within; refused before any work, naming the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest canvas side.
    pub max_side: u32,
    /// Longest output, in seconds.
    pub max_seconds: f64,
    /// Most scenes.
    pub max_scenes: usize,
    /// Most layers in one scene.
    pub max_layers: usize,
    /// Decoding limits for images.
    pub image: ImageLimits,
    /// Most memory the decoded images may take together, in bytes: every distinct image at
    /// its decoded size (4 bytes a pixel), estimated from the files' headers, before
    /// decoding. (Audio files hold no decoded samples: the mix decodes them as it goes.)
    pub max_media_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side: 8192,
            max_seconds: 3600.0,
            max_scenes: 1000,
            max_layers: 200,
            image: ImageLimits::default(),
            max_media_bytes: 2 << 30,
        }
    }
}

/// Inputs of planning besides the composition.
#[derive(Clone)]
pub struct PlanOptions {
    /// Where asset keys are looked up.
    pub assets: Arc<dyn AssetResolver>,
    /// The fonts text may use.
    pub fonts: Arc<FontLibrary>,
    /// Overrides the composition's `durationPolicy`.
    pub duration_policy: Option<DurationPolicy>,
    /// Limits.
    pub limits: Limits,
}

impl std::fmt::Debug for PlanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanOptions")
            .field("duration_policy", &self.duration_policy)
            .field("limits", &self.limits)
            .finish()
    }
}

struct Checker {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), message: message.into() });
    }
    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem { path: path.into(), message: message.into() });
    }
    fn pick<T: Copy>(&mut self, path: &str, value: &str, table: &[(&str, T)]) -> Option<T> {
        if let Some((_, v)) = table.iter().find(|(n, _)| *n == value) {
            return Some(*v);
        }
        let names: Vec<_> = table.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        self.err(path, format!("expected one of {}, found {value:?}", names.join(", ")));
        None
    }
    fn color(&mut self, path: &str, s: &str, palette: &BTreeMap<String, String>) -> Color {
        match color::parse(s, palette) {
            Ok(c) => c,
            Err(m) => {
                self.err(path, m);
                Color::BLACK
            }
        }
    }
    fn easing(&mut self, path: &str, s: Option<&str>, default: Easing) -> Easing {
        match s {
            None => default,
            Some(s) => Easing::parse(s).unwrap_or_else(|| {
                self.err(path, format!("expected an easing (\"linear\", \"easeIn\", \"easeOut\", \"easeInOut\", \"spring\" or \"cubicBezier(x1,y1,x2,y2)\" with x1, x2 in 0..=1), found {s:?}"));
                default
            }),
        }
    }
    fn range(&mut self, path: &str, v: Option<f64>, lo: f64, hi: f64, default: f64) -> f64 {
        match v {
            None => default,
            Some(v) if v.is_finite() && (lo..=hi).contains(&v) => v,
            Some(v) => {
                self.err(path, format!("expected a number in {lo}..={hi}, found {v}"));
                default
            }
        }
    }
    fn frames(&mut self, path: &str, v: Option<i64>, min: i64, default: u64) -> u64 {
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
const MAX_FRAMES: i64 = 5_000_000;

/// Canvas axis a percentage refers to.
#[derive(Clone, Copy)]
enum Axis {
    W,
    H,
}

/// The composition's images, decoded on first use and released after their last.
struct Images {
    entries: HashMap<String, ImageEntry>,
    /// The keys in the order planning first uses them.
    order: Vec<String>,
    limits: ImageLimits,
}

struct ImageEntry {
    file: std::path::PathBuf,
    /// JSON path of the first use, for the error.
    path: String,
    /// Uses (image backgrounds and layers) still to plan.
    uses: usize,
    state: ImageState,
}

enum ImageState {
    Pending,
    /// The decoded original and the file's bytes.
    Ready(Arc<Original>, Arc<[u8]>),
    /// Decoded ahead of its first use and broken: why, reported at that use.
    Broken(String),
    /// Broken, and reported.
    Failed,
}

impl Images {
    /// The decoded image and the file's bytes, decoding it now if needed (a failure is
    /// reported once). The next image planning will want is decoded at the same time, on
    /// another core: two originals at most are held at once.
    fn get(&mut self, ck: &mut Checker, key: &str) -> Option<(Arc<Original>, Arc<[u8]>)> {
        if matches!(self.entries.get(key)?.state, ImageState::Pending) {
            let limits = self.limits;
            let next = self
                .order
                .iter()
                .skip_while(|k| *k != key)
                .skip(1)
                .find(|k| self.entries.get(*k).is_some_and(|e| e.uses > 0 && matches!(e.state, ImageState::Pending)))
                .cloned();
            let decode = |file: &std::path::Path| {
                read_image_file(file, limits)
                    .and_then(|bytes| Original::decode(&bytes, limits).map(|p| (Arc::new(p), Arc::from(bytes))))
            };
            let file = self.entries.get(key)?.file.clone();
            let next_file = next.as_ref().and_then(|k| self.entries.get(k)).map(|e| e.file.clone());
            let (first, second) = rayon::join(|| decode(&file), || next_file.as_deref().map(decode));
            for (k, decoded) in [(Some(key.to_string()), Some(first)), (next, second)] {
                let (Some(k), Some(decoded)) = (k, decoded) else { continue };
                if let Some(e) = self.entries.get_mut(&k) {
                    e.state = match decoded {
                        Ok((p, bytes)) => ImageState::Ready(p, bytes),
                        Err(why) => ImageState::Broken(why),
                    };
                }
            }
        }
        let e = self.entries.get_mut(key)?;
        if let ImageState::Broken(why) = &e.state {
            ck.err(e.path.clone(), format!("asset {key:?}: {why}"));
            e.state = ImageState::Failed;
        }
        match &self.entries.get(key)?.state {
            ImageState::Ready(p, bytes) => Some((p.clone(), bytes.clone())),
            _ => None,
        }
    }

    /// One use planned; after the last, the original is released.
    fn used(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.uses = e.uses.saturating_sub(1);
            if e.uses == 0 && matches!(e.state, ImageState::Ready(..)) {
                e.state = ImageState::Pending;
            }
        }
    }

    /// Decodes what was never used (its layer had other problems), so that every broken
    /// image is still reported.
    fn check_unused(&mut self, ck: &mut Checker) {
        let pending: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.uses > 0 && matches!(e.state, ImageState::Pending | ImageState::Broken(_)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in pending {
            self.get(ck, &key);
            self.used(&key);
        }
    }
}

struct Ctx<'a> {
    w: f32,
    h: f32,
    palette: &'a BTreeMap<String, String>,
    images: Images,
    fonts: &'a FontLibrary,
    style: &'a model::Style,
    motion: Option<MotionDefaults>,
    /// Image sources by asset key and drawn size: uses of the same file at the same size
    /// share one.
    sources: HashMap<(String, u32, u32), Arc<ImageSource>>,
    /// (scene, source) for every image drawn.
    image_uses: Vec<(usize, Arc<ImageSource>)>,
    /// Text blocks laid out so far, by what they were laid out from (its Debug form).
    texts: HashMap<String, Arc<crate::text::TextBlock>>,
    /// Bytes of `Limits::max_media_bytes` not yet taken by images and text rasters.
    media_left: u64,
    font_warned: HashSet<String>,
    videos: &'a HashMap<String, (std::path::PathBuf, Result<crate::media::VideoInfo, String>)>,
    clips: Vec<ClipPlan>,
    scene: usize,
    scene_start: u64,
}

impl Ctx<'_> {
    fn len(&self, ck: &mut Checker, path: &str, l: &Length, axis: Axis) -> f32 {
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
    fn len_opt(&self, ck: &mut Checker, path: &str, l: &Option<Length>, axis: Axis) -> Option<f32> {
        l.as_ref().map(|l| self.len(ck, path, l, axis))
    }
    fn nonneg(&self, ck: &mut Checker, path: &str, l: &Option<Length>, axis: Axis) -> f32 {
        let v = self.len_opt(ck, path, l, axis).unwrap_or(0.0);
        if v < 0.0 {
            ck.err(path, format!("expected a Length >= 0, found {v}"));
            return 0.0;
        }
        v
    }
}

#[derive(Clone, Copy)]
struct MotionDefaults {
    transition: (TransitionKind, u64, Easing),
    enter: Motion,
}

fn motion_defaults(name: &str) -> MotionDefaults {
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

const TRANSITIONS: &[(&str, TransitionKind)] = &[
    ("cut", TransitionKind::Cut),
    ("fade", TransitionKind::Fade),
    ("dipToBlack", TransitionKind::DipToBlack),
    ("dipToWhite", TransitionKind::DipToWhite),
    ("slide", TransitionKind::Slide),
    ("push", TransitionKind::Push),
    ("wipe", TransitionKind::Wipe),
    ("zoom", TransitionKind::Zoom),
];
const DIRECTIONS: &[(&str, Direction)] =
    &[("left", Direction::Left), ("right", Direction::Right), ("up", Direction::Up), ("down", Direction::Down)];
const FITS: &[(&str, Fit)] =
    &[("cover", Fit::Cover), ("contain", Fit::Contain), ("fill", Fit::Fill), ("none", Fit::None)];
const ANCHORS: &[(&str, (f32, f32))] = &[
    ("center", (0.5, 0.5)),
    ("top-left", (0.0, 0.0)),
    ("top", (0.5, 0.0)),
    ("top-right", (1.0, 0.0)),
    ("left", (0.0, 0.5)),
    ("right", (1.0, 0.5)),
    ("bottom-left", (0.0, 1.0)),
    ("bottom", (0.5, 1.0)),
    ("bottom-right", (1.0, 1.0)),
];
const ALIGNS: &[(&str, Align)] = &[("left", Align::Left), ("center", Align::Center), ("right", Align::Right)];
const SHAPES: &[(&str, ShapeKind)] =
    &[("rect", ShapeKind::Rect), ("ellipse", ShapeKind::Ellipse), ("line", ShapeKind::Line)];
const ASPECTS: &[(&str, (u32, u32))] = &[
    ("16:9", (1920, 1080)),
    ("9:16", (1080, 1920)),
    ("1:1", (1080, 1080)),
    ("4:5", (1080, 1350)),
    ("2:3", (1080, 1620)),
];

/// Validates a composition into a plan. `warnings` from parsing (unknown fields) are carried
/// into the plan's warnings.
pub fn build(comp: &Composition, parse_warnings: &[Problem], opts: &PlanOptions) -> Result<Plan> {
    let mut ck = Checker { problems: Vec::new(), warnings: parse_warnings.to_vec() };
    let lim = opts.limits;

    if comp.id.trim().is_empty() {
        ck.err("id", "expected a non-empty composition id");
    }

    let (width, height, fps) = canvas(&mut ck, comp, lim);

    let style = &comp.style;
    let palette = &style.color_palette;
    for (name, value) in palette {
        if color::parse_literal(value).is_none() {
            ck.err(
                format!("style.colorPalette.{name}"),
                format!("expected a Color ({}), found {value:?}", color::ALLOWED),
            );
        }
    }
    let gap = match palette.get("background").and_then(|v| color::parse_literal(v)) {
        Some(c) => c,
        None => Color::BLACK,
    };
    let motion = match style.motion_language.as_deref() {
        None => None,
        Some(m @ ("cinematic" | "energetic" | "minimal" | "playful")) => Some(motion_defaults(m)),
        Some(other) => {
            ck.warn("style.motionLanguage", format!("unknown motion language {other:?}, using \"cinematic\""));
            Some(motion_defaults("cinematic"))
        }
    };
    if let Some(s) = style.typography.scale {
        if !(s.is_finite() && s > 0.0 && s <= 10.0) {
            ck.err("style.typography.scale", format!("expected a number in 0..=10 (exclusive of 0), found {s}"));
        }
    }

    // ---- scenes: counts, ids, durations
    if comp.scenes.is_empty() {
        ck.err("scenes", "expected at least one scene, found none");
    }
    if comp.scenes.len() > lim.max_scenes {
        ck.err("scenes", format!("{} scenes; the limit is {}", comp.scenes.len(), lim.max_scenes));
    }
    let mut ids = HashSet::new();
    for (i, s) in comp.scenes.iter().enumerate() {
        if s.id.trim().is_empty() {
            ck.err(format!("scenes[{i}].id"), "expected a non-empty scene id");
        } else if !ids.insert(s.id.as_str()) {
            ck.err(format!("scenes[{i}].id"), format!("duplicate scene id {:?}", s.id));
        }
        if s.layers.len() > lim.max_layers {
            ck.err(
                format!("scenes[{i}].layers"),
                format!("{} layers; the limit is {} per scene", s.layers.len(), lim.max_layers),
            );
        }
    }

    let Timing { starts, lens, transitions, target, duration, timeline_end, poster_frame } =
        timing(&mut ck, comp, opts, fps, motion);

    // ---- assets: resolve every key (all missing ones listed), then decode in parallel.
    let mut keys: Vec<(String, String)> = Vec::new(); // (path, key)
    for (i, s) in comp.scenes.iter().enumerate() {
        if let Some(StrOr::Obj(bg)) = &s.background {
            if bg.type_ == "image" || bg.type_ == "video" {
                match &bg.asset {
                    Some(k) => keys.push((format!("scenes[{i}].background.asset"), k.clone())),
                    None => {
                        ck.err(format!("scenes[{i}].background.asset"), "an image or video background needs an asset")
                    }
                }
            }
        }
        for (j, l) in s.layers.iter().enumerate() {
            if l.kind == "image" || l.kind == "video" {
                match &l.asset {
                    Some(k) => keys.push((format!("scenes[{i}].layers[{j}].asset"), k.clone())),
                    None => {
                        ck.err(format!("scenes[{i}].layers[{j}].asset"), format!("an {} layer needs an asset", l.kind))
                    }
                }
            }
        }
    }
    let mut resolved: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut seen = HashSet::new();
    for (path, key) in &keys {
        match opts.assets.resolve(key) {
            Ok(file) => {
                if seen.insert(key.clone()) {
                    resolved.push((key.clone(), file));
                }
            }
            Err(why) => ck.err(path.clone(), format!("asset {key:?}: {why}")),
        }
    }
    let video_keys: HashSet<&str> = comp
        .scenes
        .iter()
        .flat_map(|s| {
            let bg = match &s.background {
                Some(StrOr::Obj(b)) if b.type_ == "video" => b.asset.as_deref(),
                _ => None,
            };
            bg.into_iter().chain(s.layers.iter().filter(|l| l.kind == "video").filter_map(|l| l.asset.as_deref()))
        })
        .collect();
    let Some(image_bytes) = media_budget(&mut ck, opts, &resolved, &video_keys) else {
        // Over the memory limit: decode nothing.
        return Err(Error::Invalid(Problems(ck.problems)));
    };
    // Images are decoded when first used and released after their last use (once shrunk
    // to the size they are drawn at), so planning never holds every original at once.
    let mut images = Images { entries: HashMap::new(), order: Vec::new(), limits: lim.image };
    for (path, key) in &keys {
        if video_keys.contains(key.as_str()) {
            continue;
        }
        let Some((_, file)) = resolved.iter().find(|(k, _)| k == key) else { continue };
        let e = images.entries.entry(key.clone()).or_insert_with(|| {
            images.order.push(key.clone());
            ImageEntry { file: file.clone(), path: path.clone(), uses: 0, state: ImageState::Pending }
        });
        e.uses += 1;
    }
    let videos: HashMap<String, (std::path::PathBuf, Result<crate::media::VideoInfo, String>)> = resolved
        .par_iter()
        .filter(|(k, _)| video_keys.contains(k.as_str()))
        .map(|(k, f)| (k.clone(), (f.clone(), crate::media::probe_video(f))))
        .collect();
    for (key, (_, r)) in &videos {
        if let Err(why) = r {
            for (path, _) in keys.iter().filter(|(_, k)| k == key) {
                ck.err(path.clone(), format!("asset {key:?}: {why}"));
            }
        }
    }
    // The soundtrack (voiceover, music) decodes on its own thread while the scenes are
    // planned (their images decoded); its problems are listed after the scenes' as before.
    let (sound, (scenes, captions, clips, images)) = std::thread::scope(|scope| {
        let sound = scope.spawn(|| {
            let mut ack = Checker { problems: Vec::new(), warnings: Vec::new() };
            let plan = audio(&mut ack, comp.audio.as_ref(), opts.assets.as_ref(), fps, target);
            (plan, ack)
        });
        // ---- scenes' content
        let mut ctx = Ctx {
            w: width as f32,
            h: height as f32,
            palette,
            images,
            fonts: &opts.fonts,
            style,
            motion,
            sources: HashMap::new(),
            image_uses: Vec::new(),
            texts: HashMap::new(),
            media_left: lim.max_media_bytes.saturating_sub(image_bytes),
            font_warned: HashSet::new(),
            videos: &videos,
            clips: Vec::new(),
            scene: 0,
            scene_start: 0,
        };
        let mut scenes = Vec::new();
        for (i, s) in comp.scenes.iter().enumerate() {
            let p = format!("scenes[{i}]");
            ctx.scene = i;
            ctx.scene_start = starts[i];
            let background = match &s.background {
                None => Fill::Solid(gap),
                Some(bg) => background(&mut ck, &mut ctx, &format!("{p}.background"), bg, lens[i]),
            };
            let mut layers = Vec::new();
            for (j, l) in s.layers.iter().enumerate() {
                if let Some(lp) = layer(&mut ck, &mut ctx, &format!("{p}.layers[{j}]"), l, lens[i]) {
                    layers.push(lp);
                }
            }
            scenes.push(ScenePlan {
                uid: super::next_uid(),
                id: s.id.clone(),
                start: starts[i],
                len: lens[i],
                background,
                layers,
                transition: transitions[i],
            });
        }

        let captions =
            comp.captions.as_ref().and_then(|c| captions::build(&mut ck, &mut ctx, c, opts.assets.as_ref(), fps));
        ctx.images.check_unused(&mut ck);
        let clips = std::mem::take(&mut ctx.clips);
        let mut images: Vec<ImageUse> = Vec::new();
        for (scene, source) in std::mem::take(&mut ctx.image_uses) {
            let span = (starts[scene], starts[scene] + lens[scene]);
            match images.iter_mut().find(|u| Arc::ptr_eq(&u.source, &source)) {
                Some(u) if u.spans.contains(&span) => {}
                Some(u) => u.spans.push(span),
                None => images.push(ImageUse { source, spans: vec![span] }),
            }
        }
        (sound.join(), (scenes, captions, clips, images))
    });
    let (mut audio, ack) = sound.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    ck.problems.extend(ack.problems);
    ck.warnings.extend(ack.warnings);
    clip_audio(&mut ck, &clips, fps, &mut audio);

    if !ck.problems.is_empty() {
        return Err(Error::Invalid(Problems(ck.problems)));
    }
    // Every file the render reads, so that no output may take one's name.
    let mut inputs: Vec<std::path::PathBuf> = resolved.iter().map(|(_, f)| f.clone()).collect();
    if let Some(a) = &comp.audio {
        let voice = a
            .voiceover
            .iter()
            .flat_map(|v| v.asset.iter().chain(v.segments.iter().flatten().flat_map(|s| s.asset.iter())));
        let keys = voice
            .chain(a.music.iter().flat_map(|m| m.asset.iter()))
            .chain(a.tracks.iter().flat_map(|t| t.asset.iter()));
        inputs.extend(keys.filter_map(|k| opts.assets.resolve(k).ok()));
    }
    if let Some(k) = comp.captions.as_ref().and_then(|c| c.asset.as_ref()) {
        inputs.extend(opts.assets.resolve(k).ok());
    }
    Ok(Plan {
        inputs,
        audio,
        clips,
        images,
        captions,
        id: comp.id.clone(),
        width,
        height,
        fps,
        frames: target,
        gap,
        scenes,
        timeline_end,
        duration,
        poster_frame,
        warnings: ck.warnings,
        slide_distance: 0.06 * height as f32,
    })
}

/// The canvas: its size (from `aspectRatio`, `width` and `height`) and frame rate.
fn canvas(ck: &mut Checker, comp: &Composition, lim: Limits) -> (u32, u32, Fps) {
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
struct Timing {
    starts: Vec<u64>,
    lens: Vec<u64>,
    transitions: Vec<Option<TransitionPlan>>,
    /// Frames in the output.
    target: u64,
    duration: DurationInfo,
    /// The end of the last scene.
    timeline_end: u64,
    poster_frame: u64,
}

fn timing(
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

fn even(v: u32) -> u32 {
    (v + 1) & !1
}

fn transition(
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
            let easing = motion.map(|m| m.transition.2).unwrap_or(Easing::EaseInOut);
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
fn place(lens: &[u64], explicit: &[Option<u64>], transitions: &[Option<TransitionPlan>]) -> Vec<u64> {
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
fn apply_policy(
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

fn background(ck: &mut Checker, ctx: &mut Ctx, p: &str, bg: &StrOr<model::Background>, scene_len: u64) -> Fill {
    match bg {
        StrOr::Str(c) => Fill::Solid(ck.color(p, c, ctx.palette)),
        StrOr::Obj(b) => match b.type_.as_str() {
            "color" => match &b.color {
                Some(c) => Fill::Solid(ck.color(&format!("{p}.color"), c, ctx.palette)),
                None => {
                    ck.err(format!("{p}.color"), "a color background needs a color");
                    Fill::Solid(Color::BLACK)
                }
            },
            "gradient" => Fill::Gradient(gradient(ck, ctx, p, &b.kind, &b.colors, b.angle)),
            "image" => {
                let kb = ken_burns(ck, &format!("{p}.kenBurns"), b.ken_burns.as_ref());
                let fit = fit(ck, p, b.fit.as_deref(), Fit::Cover);
                let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &b.corner_radius, Axis::W);
                match image_plan(ck, ctx, b.asset.as_deref(), fit, kb, radius, ctx.w, ctx.h) {
                    Some(img) => Fill::Image(img),
                    None => Fill::Solid(Color::BLACK),
                }
            }
            "video" => {
                let fit = fit(ck, p, b.fit.as_deref(), Fit::Cover);
                let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &b.corner_radius, Axis::W);
                let m = ClipFields {
                    trim_start: b.trim_start,
                    trim_end: b.trim_end,
                    rate: b.playback_rate,
                    looped: b.looped,
                    volume: b.volume,
                };
                let (w, h) = (ctx.w, ctx.h);
                match clip(ck, ctx, p, b.asset.as_deref(), &m, fit, (w, h), 0, scene_len) {
                    Some(clip) => Fill::Video(VideoRef { clip, fit, corner_radius: radius }),
                    None => Fill::Solid(Color::BLACK),
                }
            }
            other => {
                ck.err(
                    format!("{p}.type"),
                    format!("expected one of \"color\", \"gradient\", \"image\", \"video\", found {other:?}"),
                );
                Fill::Solid(Color::BLACK)
            }
        },
    }
}

fn gradient(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    kind: &Option<String>,
    colors: &Option<Vec<String>>,
    angle: Option<f64>,
) -> GradientPlan {
    let radial = match kind.as_deref() {
        None | Some("linear") => false,
        Some("radial") => true,
        Some(other) => {
            ck.err(format!("{p}.kind"), format!("expected one of \"linear\", \"radial\", found {other:?}"));
            false
        }
    };
    let colors: Vec<Color> = match colors {
        Some(c) if !c.is_empty() => {
            c.iter().enumerate().map(|(i, c)| ck.color(&format!("{p}.colors[{i}]"), c, ctx.palette)).collect()
        }
        _ => {
            ck.err(format!("{p}.colors"), "a gradient needs at least one color");
            vec![Color::BLACK]
        }
    };
    let angle = match angle {
        Some(a) if a.is_finite() => a as f32,
        Some(a) => {
            ck.err(format!("{p}.angle"), format!("expected degrees, found {a}"));
            0.0
        }
        None => 90.0,
    };
    GradientPlan { radial, colors, angle }
}

fn fit(ck: &mut Checker, p: &str, v: Option<&str>, default: Fit) -> Fit {
    match v {
        None => default,
        Some(v) => ck.pick(&format!("{p}.fit"), v, FITS).unwrap_or(default),
    }
}

fn ken_burns(ck: &mut Checker, p: &str, kb: Option<&model::KenBurns>) -> Option<KenBurnsPlan> {
    let kb = kb?;
    let mut point = |name: &str, pt: &Option<model::KenBurnsPoint>| {
        let pt = pt.clone().unwrap_or_default();
        let s = ck.range(&format!("{p}.{name}.scale"), pt.scale, 0.1, 10.0, 1.0) as f32;
        let x = ck.range(&format!("{p}.{name}.x"), pt.x, 0.0, 1.0, 0.5) as f32;
        let y = ck.range(&format!("{p}.{name}.y"), pt.y, 0.0, 1.0, 0.5) as f32;
        (s, x, y)
    };
    let from = point("from", &kb.from);
    let to = point("to", &kb.to);
    let easing = ck.easing(&format!("{p}.easing"), kb.easing.as_deref(), Easing::Linear);
    Some(KenBurnsPlan { from, to, easing })
}

/// The image for `key`, pre-scaled (once, Lanczos3) to the largest size it is ever drawn at
/// when that is well below the source size: per-frame bilinear sampling then reads a small
/// image and never aliases.
#[allow(clippy::too_many_arguments)]
fn image_plan(
    ck: &mut Checker,
    ctx: &mut Ctx,
    key: Option<&str>,
    fit: Fit,
    kb: Option<KenBurnsPlan>,
    radius: f32,
    bw: f32,
    bh: f32,
) -> Option<ImagePlan> {
    let key = key?;
    let got = ctx.images.get(ck, key);
    ctx.images.used(key);
    let (src, bytes) = got?;
    let (iw, ih) = (src.width() as f32, src.height() as f32);
    let s = {
        let (sx, sy) = fit.scale(iw, ih, bw, bh);
        sx.max(sy)
    };
    let zoom = kb.map(|k| k.from.0.max(k.to.0)).unwrap_or(1.0).max(1.0);
    let scale = s * zoom;
    // Shrink once, with a good filter, to the largest size the image is drawn at. Under Ken
    // Burns every frame resamples anyway, so even a mild shrink pays: frames then read fewer
    // pixels and shrink by so little that two bilinear taps are alias-free. A still image
    // is shrunk ahead only when the ratio is large (one resampling keeps sharp edges sharp).
    let shrink = scale < 0.8 || (kb.is_some() && scale < 0.95);
    let (tw, th) = if shrink {
        ((iw * scale).ceil() as u32 + 2, (ih * scale).ceil() as u32 + 2)
    } else {
        (src.width(), src.height())
    };
    let limits = ctx.images.limits;
    let source = ctx
        .sources
        .entry((key.to_string(), tw, th))
        .or_insert_with(|| {
            // The original's size, or one it shrinks to: never zero, never larger than it.
            let (w, h) = (src.width(), src.height());
            let pixels = match Arc::try_unwrap(src) {
                Ok(original) => original.into_pixmap_at(tw, th),
                Err(shared) => shared.pixmap_at(tw, th).or_else(|| shared.pixmap_at(w, h)),
            };
            Arc::new(ImageSource::new(bytes, limits, pixels.unwrap_or_else(|| crate::raster::pixmap_or_tiny(1, 1))))
        })
        .clone();
    ctx.image_uses.push((ctx.scene, source.clone()));
    Some(ImagePlan { source, fit, ken_burns: kb, corner_radius: radius })
}

fn motion(
    ck: &mut Checker,
    p: &str,
    m: Option<&model::Motion>,
    default: Option<Motion>,
    is_text: bool,
) -> Option<Motion> {
    let Some(m) = m else { return default };
    let preset = ck.pick(&format!("{p}.preset"), &m.preset, Preset::NAMES)?;
    if !is_text && matches!(preset, Preset::Typewriter | Preset::WordByWord) {
        ck.err(format!("{p}.preset"), format!("{:?} is for text layers only", m.preset));
        return None;
    }
    if preset == Preset::None {
        return None;
    }
    let frames =
        ck.frames(&format!("{p}.durationFrames"), m.duration_frames, 1, default.map(|d| d.frames).unwrap_or(15));
    let easing =
        ck.easing(&format!("{p}.easing"), m.easing.as_deref(), default.map(|d| d.easing).unwrap_or(Easing::EaseOut));
    Some(Motion { preset, frames, easing })
}

/// A keyframe track: `x` and `y` are Lengths on `axis`; other values must lie in `range`
/// (the same range as the layer's static property).
fn track(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    keys: &Option<Vec<model::Keyframe>>,
    axis: Option<Axis>,
    range: (f64, f64),
) -> Track {
    let Some(keys) = keys else { return Track::default() };
    let mut out: Vec<Key> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let kp = format!("{p}[{i}]");
        let frame = ck.frames(&format!("{kp}.frame"), Some(k.frame), 0, 0);
        if let Some(prev) = out.last() {
            if frame <= prev.frame {
                ck.err(
                    format!("{kp}.frame"),
                    format!("keyframes must be in increasing frame order: {frame} follows {}", prev.frame),
                );
            }
        }
        let value = match (axis, &k.value) {
            (Some(a), v) => ctx.len(ck, &format!("{kp}.value"), v, a),
            (None, Length::Px(v)) if (range.0..=range.1).contains(v) => *v as f32,
            (None, Length::Px(v)) => {
                ck.err(format!("{kp}.value"), format!("expected a number in {}..={}, found {v}", range.0, range.1));
                0.0
            }
            (None, v) => {
                ck.err(format!("{kp}.value"), format!("expected a number, found {v:?}"));
                0.0
            }
        };
        let easing = ck.easing(&format!("{kp}.easing"), k.easing.as_deref(), Easing::Linear);
        out.push(Key { frame, value, easing });
    }
    Track(out)
}

fn layer(ck: &mut Checker, ctx: &mut Ctx, p: &str, l: &model::Layer, scene_len: u64) -> Option<LayerPlan> {
    let kinds = ["text", "image", "video", "shape"];
    if !kinds.contains(&l.kind.as_str()) {
        ck.err(
            format!("{p}.type"),
            format!("expected one of \"text\", \"image\", \"video\", \"shape\", found {:?}", l.kind),
        );
        return None;
    }
    let start = ck.frames(&format!("{p}.fromFrame"), l.from_frame, 0, 0);
    if start >= scene_len {
        ck.warn(
            format!("{p}.fromFrame"),
            format!("the layer starts at frame {start}, after its scene's {scene_len} frames: never visible"),
        );
    }
    let len = ck.frames(&format!("{p}.durationFrames"), l.duration_frames, 1, scene_len.saturating_sub(start).max(1));
    let x = ctx.len_opt(ck, &format!("{p}.x"), &l.x, Axis::W).unwrap_or(ctx.w / 2.0);
    let y = ctx.len_opt(ck, &format!("{p}.y"), &l.y, Axis::H).unwrap_or(ctx.h / 2.0);
    let bw = ctx.len_opt(ck, &format!("{p}.width"), &l.width, Axis::W);
    let bh = ctx.len_opt(ck, &format!("{p}.height"), &l.height, Axis::H);
    for (name, v) in [("width", bw), ("height", bh)] {
        if v.is_some_and(|v| v < 0.0) {
            ck.err(format!("{p}.{name}"), format!("expected a Length >= 0, found {}", v.unwrap_or(0.0)));
        }
    }
    let anchor = match &l.anchor {
        None => (0.5, 0.5),
        Some(a) => ck.pick(&format!("{p}.anchor"), a, ANCHORS).unwrap_or((0.5, 0.5)),
    };
    let opacity = ck.range(&format!("{p}.opacity"), l.opacity, 0.0, 1.0, 1.0) as f32;
    let rotation = ck.range(&format!("{p}.rotation"), l.rotation, -36000.0, 36000.0, 0.0) as f32;
    let scale = ck.range(&format!("{p}.scale"), l.scale, 0.0, 100.0, 1.0) as f32;
    let is_text = l.kind == "text";
    let default_enter = if is_text { ctx.motion.map(|m| m.enter) } else { None };
    let enter = motion(ck, &format!("{p}.enter"), l.enter.as_ref(), default_enter, is_text);
    let exit = motion(ck, &format!("{p}.exit"), l.exit.as_ref(), None, is_text);
    let kf = l.keyframes.clone().unwrap_or_default();
    let kp = format!("{p}.keyframes");
    let tracks = Tracks {
        opacity: track(ck, ctx, &format!("{kp}.opacity"), &kf.opacity, None, (0.0, 1.0)),
        x: track(ck, ctx, &format!("{kp}.x"), &kf.x, Some(Axis::W), (0.0, 0.0)),
        y: track(ck, ctx, &format!("{kp}.y"), &kf.y, Some(Axis::H), (0.0, 0.0)),
        scale: track(ck, ctx, &format!("{kp}.scale"), &kf.scale, None, (0.0, 100.0)),
        rotation: track(ck, ctx, &format!("{kp}.rotation"), &kf.rotation, None, (-36000.0, 36000.0)),
    };

    let (w, h, content) = match l.kind.as_str() {
        "text" => {
            let block = text(ck, ctx, p, l);
            (block.width, block.height, Content::Text(block))
        }
        "image" => {
            let kb = ken_burns(ck, &format!("{p}.kenBurns"), l.ken_burns.as_ref());
            let fit = fit(ck, p, l.fit.as_deref(), Fit::Contain);
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            let natural = l
                .asset
                .as_ref()
                .and_then(|k| ctx.images.get(ck, k))
                .map(|(i, _)| (i.width() as f32, i.height() as f32));
            let (w, h) = layer_box(bw, bh, natural.unwrap_or((1.0, 1.0)));
            let img = image_plan(ck, ctx, l.asset.as_deref(), fit, kb, radius, w.max(1.0), h.max(1.0))?;
            (w, h, Content::Image(img))
        }
        "video" => {
            let fit = fit(ck, p, l.fit.as_deref(), Fit::Contain);
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            let natural = l
                .asset
                .as_ref()
                .and_then(|k| ctx.videos.get(k))
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|i| (i.width as f32, i.height as f32));
            let (w, h) = layer_box(bw, bh, natural.unwrap_or((1.0, 1.0)));
            let m = ClipFields {
                trim_start: l.trim_start,
                trim_end: l.trim_end,
                rate: l.playback_rate,
                looped: l.looped,
                volume: l.volume,
            };
            let clip = clip(ck, ctx, p, l.asset.as_deref(), &m, fit, (w.max(1.0), h.max(1.0)), start, len)?;
            (w, h, Content::Video(VideoRef { clip, fit, corner_radius: radius }))
        }
        _ => {
            let kind = match &l.shape {
                None => ShapeKind::Rect,
                Some(s) => ck.pick(&format!("{p}.shape"), s, SHAPES).unwrap_or(ShapeKind::Rect),
            };
            let fill = match &l.fill {
                None if kind == ShapeKind::Line => None,
                None => Some(Fill::Solid(Color::WHITE)),
                Some(StrOr::Str(c)) => Some(Fill::Solid(ck.color(&format!("{p}.fill"), c, ctx.palette))),
                Some(StrOr::Obj(g)) => {
                    Some(Fill::Gradient(gradient(ck, ctx, &format!("{p}.fill"), &g.kind, &g.colors, g.angle)))
                }
            };
            let stroke = match &l.stroke {
                None if kind == ShapeKind::Line => Some((Color::WHITE, 4.0)),
                None => None,
                Some(s) => {
                    let c = s
                        .color
                        .as_deref()
                        .map(|c| ck.color(&format!("{p}.stroke.color"), c, ctx.palette))
                        .unwrap_or(Color::WHITE);
                    let w = ctx.nonneg(ck, &format!("{p}.stroke.width"), &s.width, Axis::W);
                    Some((c, if s.width.is_some() { w } else { 4.0 }))
                }
            };
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            (
                bw.unwrap_or(ctx.w),
                bh.unwrap_or(ctx.h),
                Content::Shape(ShapePlan { kind, fill, stroke, corner_radius: radius }),
            )
        }
    };
    Some(LayerPlan { start, len, x, y, w, h, anchor, opacity, rotation, scale, enter, exit, tracks, content })
}

/// Role defaults at a 1080-pixel-high canvas: (size, heading font?, default weight).
fn role(name: &str) -> Option<(f32, bool, u16)> {
    Some(match name {
        "headline" => (96.0, true, 700),
        "subheadline" => (56.0, true, 500),
        "body" => (40.0, false, 400),
        "caption" => (32.0, false, 400),
        "cta" => (48.0, true, 700),
        _ => return None,
    })
}

fn text(ck: &mut Checker, ctx: &mut Ctx, p: &str, l: &model::Layer) -> Arc<crate::text::TextBlock> {
    let typo = &ctx.style.typography;
    let role_def = match &l.role {
        None => None,
        Some(r) => {
            let v = role(r);
            if v.is_none() {
                ck.err(
                    format!("{p}.role"),
                    format!(
                        "expected one of \"headline\", \"subheadline\", \"body\", \"caption\", \"cta\", found {r:?}"
                    ),
                );
            }
            v
        }
    };
    let (role_size, heading, role_weight) = role_def.unwrap_or((48.0, false, 400));
    let tscale = typo.scale.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0) as f32;
    let size = match &l.font_size {
        Some(fs) => ctx.len(ck, &format!("{p}.fontSize"), fs, Axis::H),
        None => role_size * tscale * ctx.h / 1080.0,
    };
    if !(size > 0.0 && size <= 2000.0) {
        ck.err(format!("{p}.fontSize"), format!("expected a size in 0..=2000 pixels (exclusive of 0), found {size}"));
    }
    let style_family = if heading { typo.heading_font.as_deref() } else { typo.body_font.as_deref() };
    let family_path = if l.font.is_some() {
        format!("{p}.font")
    } else if heading {
        "style.typography.headingFont".into()
    } else {
        "style.typography.bodyFont".into()
    };
    let wanted = l.font.as_deref().or(style_family).unwrap_or(DEFAULT_FAMILY);
    let family = match ctx.fonts.find_family(wanted) {
        Some(f) => f,
        None => {
            if ctx.font_warned.insert(wanted.to_string()) {
                ck.warn(family_path, format!("font family {wanted:?} is not available; using {DEFAULT_FAMILY:?}"));
            }
            DEFAULT_FAMILY.to_string()
        }
    };
    let style_weight = if heading { typo.heading_weight } else { typo.body_weight };
    let weight = match l.font_weight.or(style_weight) {
        None => role_weight,
        Some(w) if (1.0..=1000.0).contains(&w) => w.round() as u16,
        Some(w) => {
            ck.err(format!("{p}.fontWeight"), format!("expected a weight in 100..=900, found {w}"));
            400
        }
    };
    let color = l
        .color
        .as_deref()
        .map(|c| ck.color(&format!("{p}.color"), c, ctx.palette))
        .unwrap_or_else(|| ctx.palette.get("text").and_then(|c| color::parse_literal(c)).unwrap_or(Color::WHITE));
    let align = match &l.align {
        None => Align::Center,
        Some(a) => ck.pick(&format!("{p}.align"), a, ALIGNS).unwrap_or(Align::Center),
    };
    let line_height = ck.range(&format!("{p}.lineHeight"), l.line_height, 0.1, 10.0, 1.2) as f32;
    let letter_spacing = ck.range(&format!("{p}.letterSpacing"), l.letter_spacing, -1000.0, 1000.0, 0.0) as f32;
    let max_width = match (&l.max_width, &l.width) {
        (Some(m), _) => ctx.len(ck, &format!("{p}.maxWidth"), m, Axis::W),
        (None, Some(w)) => ctx.len(ck, &format!("{p}.width"), w, Axis::W),
        (None, None) => 0.8 * ctx.w,
    };
    let max_lines = match l.max_lines {
        None => None,
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => {
            ck.err(format!("{p}.maxLines"), format!("expected a whole number >= 1, found {n}"));
            None
        }
    };
    let plate = l.plate.as_ref().map(|b| PlateSpec {
        color: b
            .color
            .as_deref()
            .map(|c| ck.color(&format!("{p}.box.color"), c, ctx.palette))
            .unwrap_or(Color::from_rgba8(0, 0, 0, 153)),
        padding: if b.padding.is_some() {
            ctx.nonneg(ck, &format!("{p}.box.padding"), &b.padding, Axis::W)
        } else {
            size * 0.3
        },
        radius: ctx.nonneg(ck, &format!("{p}.box.cornerRadius"), &b.corner_radius, Axis::W),
    });
    let stroke = l.stroke.as_ref().map(|s| {
        let c =
            s.color.as_deref().map(|c| ck.color(&format!("{p}.stroke.color"), c, ctx.palette)).unwrap_or(Color::BLACK);
        let w = if s.width.is_some() {
            ctx.nonneg(ck, &format!("{p}.stroke.width"), &s.width, Axis::W)
        } else {
            (size / 24.0).max(1.0)
        };
        (c, w.min(200.0))
    });
    let shadow = l.shadow.as_ref().map(|s| crate::text::ShadowSpec {
        color: s
            .color
            .as_deref()
            .map(|c| ck.color(&format!("{p}.shadow.color"), c, ctx.palette))
            .unwrap_or(Color::from_rgba8(0, 0, 0, 160)),
        dx: ck.range(&format!("{p}.shadow.offsetX"), s.offset_x, -500.0, 500.0, 0.0) as f32,
        dy: ck.range(&format!("{p}.shadow.offsetY"), s.offset_y, -500.0, 500.0, size as f64 / 16.0) as f32,
        blur: ck.range(&format!("{p}.shadow.blur"), s.blur, 0.0, 200.0, size as f64 / 10.0) as f32,
    });
    let raw = l.text.clone().unwrap_or_else(|| {
        ck.err(format!("{p}.text"), "a text layer needs text");
        String::new()
    });
    let text = if l.uppercase == Some(true) { raw.to_uppercase() } else { raw };
    if !ck.problems.is_empty() {
        // Do not spend time shaping when the plan is already refused.
        return Arc::new(crate::text::TextBlock::empty(size));
    }
    let size = size.clamp(1.0, 2000.0);
    let spec = TextSpec {
        text,
        family,
        weight: weight.clamp(1, 1000),
        size,
        line_height,
        letter_spacing,
        max_width: max_width.max(1.0),
        max_lines,
        align,
        color,
        plate,
        auto_fit: l.auto_fit == Some(true),
        stroke,
        shadow,
    };
    // The same text in the same style (a repeated title, a call to action) is shaped and
    // rasterized once and shared; found by a hash of the spec, so planning stays linear in
    // the number of texts.
    let key = format!("{spec:?}");
    if let Some(block) = ctx.texts.get(&key) {
        return block.clone();
    }
    // A block's raster is bounded on its own (four canvases, at most 64 Mpx), and all of
    // them together count against `max_media_bytes` with the images: both checked from the
    // shaped size, before anything is rasterized.
    let canvas = ctx.w as u64 * ctx.h as u64;
    let max_pixels = (4 * canvas).clamp(1 << 20, 64 << 20);
    let left = ctx.media_left / 4;
    match ctx.fonts.layout_within(&spec, max_pixels.min(left)) {
        Ok(block) => {
            ctx.media_left = ctx.media_left.saturating_sub(block.pixmap.data().len() as u64);
            let block = Arc::new(block);
            ctx.texts.insert(key, block.clone());
            block
        }
        Err((w, h)) => {
            let what = if (w as u64 * h as u64) > max_pixels {
                format!("at most {max_pixels} pixels (four canvases, at most 64 Mpx) are allowed for one text")
            } else {
                "with the images and the texts before it, that exceeds the media limit (Limits::max_media_bytes)"
                    .to_string()
            };
            ck.err(
                format!("{p}.text"),
                format!(
                    "this text at fontSize {size:.0} (lineHeight {line_height}, shadow and stroke included) needs a {w}x{h} raster; {what}"
                ),
            );
            Arc::new(crate::text::TextBlock::empty(size))
        }
    }
}

/// Refuses a composition whose decoded images would take more than
/// `Limits::max_media_bytes`, from the files' headers alone, before decoding any. Files whose
/// headers cannot be read are left to the decoders to report. False when over. (Audio files
/// are decoded as the mix reads them, so they hold no samples.) The bytes the images take,
/// or `None` when over.
fn media_budget(
    ck: &mut Checker,
    opts: &PlanOptions,
    images: &[(String, std::path::PathBuf)],
    video_keys: &HashSet<&str>,
) -> Option<u64> {
    let image_bytes: u64 = images
        .par_iter()
        .filter(|(k, _)| !video_keys.contains(k.as_str()))
        .filter_map(|(_, f)| crate::media::image_dimensions(f).ok())
        // One over the per-image limits is refused on its own, naming its key.
        .filter(|&(w, h)| {
            let l = opts.limits.image;
            w <= l.max_side && h <= l.max_side && w as u64 * h as u64 <= l.max_pixels
        })
        .map(|(w, h)| w as u64 * h as u64 * 4)
        .sum();
    let limit = opts.limits.max_media_bytes;
    if image_bytes > limit {
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        ck.err(
            "assets",
            format!(
                "decoded images would take {:.1} MB; the limit (Limits::max_media_bytes) is {:.1} MB",
                mb(image_bytes),
                mb(limit)
            ),
        );
        return None;
    }
    Some(image_bytes)
}

/// Resolves and checks every audio file (in parallel, each decoded once and let go), and
/// places it on the timeline.
fn audio(
    ck: &mut Checker,
    a: Option<&model::Audio>,
    assets: &dyn AssetResolver,
    fps: Fps,
    target: u64,
) -> crate::audio::AudioPlan {
    use crate::audio::{AudioPlan, Duck, Music, Placed, Source, RATE};
    let Some(a) = a else { return AudioPlan::default() };
    // (path, key, startFrame, volume)
    struct Want {
        path: String,
        key: String,
        start: u64,
        gain: f32,
    }
    let want =
        |ck: &mut Checker, p: String, key: &Option<String>, start: Option<i64>, vol: Option<f64>| -> Option<Want> {
            let start = ck.frames(&format!("{p}.startFrame"), start, 0, 0);
            let gain = ck.range(&format!("{p}.volume"), vol, 0.0, 4.0, 1.0) as f32;
            match key {
                Some(k) => Some(Want { path: format!("{p}.asset"), key: k.clone(), start, gain }),
                None => {
                    ck.err(format!("{p}.asset"), "an audio entry needs an asset");
                    None
                }
            }
        };
    let mut voice = Vec::new();
    if let Some(v) = &a.voiceover {
        match &v.segments {
            Some(segs) => {
                for (i, s) in segs.iter().enumerate() {
                    voice.extend(want(ck, format!("audio.voiceover.segments[{i}]"), &s.asset, s.start_frame, s.volume));
                }
            }
            None => voice.extend(want(ck, "audio.voiceover".into(), &v.asset, v.start_frame, v.volume)),
        }
    }
    let music = a.music.as_ref().and_then(|m| {
        let w = want(ck, "audio.music".into(), &m.asset, m.start_frame, m.volume)?;
        let fade_in = ck.frames("audio.music.fadeInFrames", m.fade_in_frames, 0, 0);
        let fade_out = ck.frames("audio.music.fadeOutFrames", m.fade_out_frames, 0, 0);
        let duck = m.duck.as_ref().and_then(|d| {
            if d.under_voiceover == Some(false) {
                return None;
            }
            let amount = ck.range("audio.music.duck.amountDb", d.amount_db, -60.0, 0.0, -12.0) as f32;
            Some(Duck { amount_db: amount })
        });
        Some((w, m.looped.unwrap_or(true), fade_in, fade_out, duck))
    });
    let tracks: Vec<Want> = a
        .tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| want(ck, format!("audio.tracks[{i}]"), &t.asset, t.start_frame, t.volume))
        .collect();

    // Resolve (all missing listed), then decode each distinct file once, in parallel.
    let all: Vec<&Want> = voice.iter().chain(music.iter().map(|m| &m.0)).chain(tracks.iter()).collect();
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    for w in &all {
        match assets.resolve(&w.key) {
            Ok(f) => {
                if !files.iter().any(|(k, _)| *k == w.key) {
                    files.push((w.key.clone(), f));
                }
            }
            Err(why) => ck.err(w.path.clone(), format!("asset {:?}: {why}", w.key)),
        }
    }
    // What each file can play: to the video's end from its earliest start, or all of it
    // for looped music. A mix decodes no further.
    let end = fps.sample_at(target, RATE);
    let looped = music.as_ref().filter(|m| m.1).map(|m| m.0.key.as_str());
    let playable = |key: &str| -> usize {
        if looped == Some(key) {
            return usize::MAX;
        }
        let first = all.iter().filter(|w| w.key == key).map(|w| fps.sample_at(w.start, RATE)).min();
        first.map_or(0, |s| end.saturating_sub(s).try_into().unwrap_or(usize::MAX))
    };
    let decoded: HashMap<String, Result<Source, String>> = files
        .par_iter()
        .map(|(k, f)| {
            let file = crate::audio::AudioFile::open(f).map(|a| Source::File(Arc::new(a.cut(playable(k)))));
            (k.clone(), file)
        })
        .collect();
    for (k, r) in &decoded {
        if let Err(why) = r {
            for w in all.iter().filter(|w| w.key == *k) {
                ck.err(w.path.clone(), format!("asset {k:?}: {why}"));
            }
        }
    }
    let place = |w: &Want| -> Option<Placed> {
        let samples = decoded.get(&w.key)?.as_ref().ok()?.clone();
        Some(Placed { samples, start: fps.sample_at(w.start, RATE), gain: w.gain })
    };
    AudioPlan {
        voice: voice.iter().filter_map(place).collect(),
        music: music.and_then(|(w, looped, fi, fo, duck)| {
            Some(Music {
                clip: place(&w)?,
                looped,
                fade_in: fps.sample_at(fi, RATE),
                fade_out: fps.sample_at(fo, RATE).min(end),
                duck,
            })
        }),
        tracks: tracks.iter().filter_map(place).collect(),
    }
}

struct ClipFields {
    trim_start: Option<f64>,
    trim_end: Option<f64>,
    rate: Option<f64>,
    looped: Option<bool>,
    volume: Option<f64>,
}

/// Registers one use of a clip; returns its index in `Plan::clips`.
#[allow(clippy::too_many_arguments)] // the clip's box and time span, all needed
fn clip(
    ck: &mut Checker,
    ctx: &mut Ctx,
    p: &str,
    key: Option<&str>,
    m: &ClipFields,
    fit: Fit,
    (bw, bh): (f32, f32),
    start: u64,
    len: u64,
) -> Option<usize> {
    let trim_start = ck.range(&format!("{p}.trimStart"), m.trim_start, 0.0, 1e6, 0.0);
    let rate = ck.range(&format!("{p}.playbackRate"), m.rate, 0.01, 100.0, 1.0);
    let volume = ck.range(&format!("{p}.volume"), m.volume, 0.0, 4.0, 1.0);
    let key = key?;
    let (path, info) = match ctx.videos.get(key) {
        Some((path, Ok(info))) => (path.clone(), info.clone()),
        _ => return None, // missing or corrupt: already reported
    };
    let end = match m.trim_end {
        None => info.duration,
        Some(e) if e.is_finite() && e > trim_start => e.min(info.duration.max(trim_start + 1e-3)),
        Some(e) => {
            ck.err(format!("{p}.trimEnd"), format!("expected seconds after trimStart ({trim_start}), found {e}"));
            info.duration
        }
    };
    if trim_start >= info.duration && info.duration > 0.0 {
        ck.err(
            format!("{p}.trimStart"),
            format!("the clip is {:.3} s long; trimStart {trim_start} is past its end", info.duration),
        );
    }
    // Decode at the drawn size (never upscale in the decoder: the rasterizer does that).
    let (iw, ih) = (info.width as f32, info.height as f32);
    let s = {
        let (sx, sy) = fit.scale(iw, ih, bw, bh);
        sx.max(sy)
    }
    .min(1.0);
    let out = (((iw * s).round() as u32).max(1), ((ih * s).round() as u32).max(1));
    ctx.clips.push(ClipPlan {
        path,
        key: key.to_string(),
        out,
        scene: ctx.scene,
        start: ctx.scene_start + start,
        len,
        trim_start,
        end: end.max(trim_start + 1e-3),
        rate,
        looped: m.looped.unwrap_or(true),
        volume: volume as f32,
        path_json: p.to_string(),
    });
    Some(ctx.clips.len() - 1)
}

/// A clip's own sound, placed where the clip plays: trimmed, looped like the picture (or
/// silent once a held clip ends), at the clip's volume, with 5 ms fades at the edges so cuts
/// do not click; at another playbackRate, resampled like tape (the pitch follows). Each is
/// decoded once here to check it and again by the mix.
fn clip_audio(ck: &mut Checker, clips: &[ClipPlan], fps: Fps, audio: &mut crate::audio::AudioPlan) {
    use crate::audio::{AudioFile, ClipTrack, Placed, Source, RATE};
    let wanted: Vec<&ClipPlan> = clips.iter().filter(|c| c.volume > 0.0).collect();
    // Each file at each playback rate is checked once, however many scenes play it.
    let key = |c: &ClipPlan| (c.path.clone(), c.rate.to_bits());
    let mut keys: Vec<(std::path::PathBuf, u64)> = wanted.iter().map(|c| key(c)).collect();
    keys.sort_unstable();
    keys.dedup();
    type Opened = Result<Option<Arc<AudioFile>>, String>;
    let opened: HashMap<(std::path::PathBuf, u64), Opened> = keys
        .into_par_iter()
        .map(|(path, rate)| {
            let sound = AudioFile::open_clip(&path, f64::from_bits(rate)).map(|s| s.map(Arc::new));
            ((path, rate), sound)
        })
        .collect();
    for c in wanted {
        let sound = match opened.get(&key(c)) {
            Some(Ok(Some(s))) => s.clone(),
            Some(Ok(None)) | None => continue,
            Some(Err(why)) => {
                ck.err(format!("{}.asset", c.path_json), format!("the clip's audio: {why}"));
                continue;
            }
        };
        let src_frames = sound.frames();
        let s0 = ((c.trim_start / c.rate * RATE as f64).round() as usize).min(src_frames);
        let s1 = ((c.end / c.rate * RATE as f64).round() as usize).clamp(s0, src_frames);
        let start = fps.sample_at(c.start, RATE);
        let len = (fps.sample_at(c.start + c.len, RATE) - start) as usize;
        let span = s1 - s0;
        if span == 0 || len == 0 {
            continue;
        }
        let fade = (RATE as usize / 200).min(len / 2);
        let track = ClipTrack { sound, from: s0, span, looped: c.looped, len, fade };
        audio.tracks.push(Placed { samples: Source::Clip(Arc::new(track)), start, gain: c.volume });
    }
}

/// A media layer's box: the given width and height, the missing one from the source's
/// aspect ratio, or the source's natural size.
fn layer_box(bw: Option<f32>, bh: Option<f32>, (nw, nh): (f32, f32)) -> (f32, f32) {
    match (bw, bh) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, w * nh / nw),
        (None, Some(h)) => (h * nw / nh, h),
        (None, None) => (nw, nh),
    }
}
