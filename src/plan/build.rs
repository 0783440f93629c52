//! Planning's entry: [`build`] runs every check in document order and assembles the
//! [`Plan`]; the options and limits it takes. Each part of the contract is checked in a
//! file of its own (see `plan/mod.rs`), all pushing problems into one [`Checker`] and
//! returning a best-effort value so that later checks still run.

/// The scene index overlays are planned under (their images are resident all along).
pub(super) const OVERLAY_SCENE: usize = usize::MAX;

use super::color;
use super::*;
use super::{assets::*, audio::*, check::*, layers::*, timing::*};
use crate::error::{Error, Result};
use crate::media::{AssetResolver, ImageLimits};
use crate::model::{Composition, StrOr};
use crate::text::FontLibrary;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// What to do when the scenes' timeline does not end at `totalDurationFrames`.
///
/// ```
/// let parsed = reel::parse(r#"{"id": "ad", "fps": 30, "totalDurationFrames": 90,
///     "scenes": [{"id": "s", "durationFrames": 60}]}"#)?;
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.duration_policy = reel::DurationPolicy::parse("pad");
/// let plan = reel::Plan::build(&parsed, &opts)?;
/// assert_eq!(plan.frame_count(), 90); // the last frame is held
/// assert_eq!(reel::DurationPolicy::Pad.name(), "pad");
/// # Ok::<(), reel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
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
/// `docs/limits.md` lists each with its default and what it bounds.
///
/// ```
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.limits.max_seconds = 60.0;
/// let parsed = reel::parse(r#"{"id": "ad", "totalDurationFrames": 3600, "fps": 30,
///     "scenes": [{"id": "s", "durationFrames": 3600}]}"#)?;
/// let err = reel::Plan::build(&parsed, &opts).unwrap_err();
/// assert!(err.problems().iter().any(|p| p.message.contains("60")), "{err}");
/// # Ok::<(), reel::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
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

impl PlanOptions {
    /// Assets from `assets_dir`, the bundled fonts, the composition's duration policy
    /// (default `fit`), default limits.
    pub fn new(assets_dir: impl Into<std::path::PathBuf>) -> PlanOptions {
        PlanOptions {
            assets: Arc::new(crate::media::FolderAssets::new(assets_dir)),
            fonts: FontLibrary::bundled(),
            duration_policy: None,
            limits: Limits::default(),
            cancel: None,
            image_cache: None,
        }
    }
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

/// Inputs of planning besides the composition. Made by [`PlanOptions::new`]; its fields
/// may then be changed.
///
/// ```
/// use std::sync::{atomic::AtomicBool, Arc};
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.limits.max_side = 1920;
/// opts.duration_policy = Some(reel::DurationPolicy::Strict);
/// opts.image_cache = Some(reel::ImageCache::new(256 << 20));
/// let cancel = Arc::new(AtomicBool::new(false));
/// opts.cancel = Some(cancel.clone()); // set it from another thread to stop planning
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PlanOptions {
    /// Where asset keys are looked up.
    pub assets: Arc<dyn AssetResolver>,
    /// The fonts text may use.
    pub fonts: Arc<FontLibrary>,
    /// Overrides the composition's `durationPolicy`.
    pub duration_policy: Option<DurationPolicy>,
    /// Limits.
    pub limits: Limits,
    /// Set it to stop planning: [`build`] returns [`Error::Cancelled`] at the next layer.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Decoded images shared with other plans that name the same files (a batch of one
    /// template); none by default.
    pub image_cache: Option<Arc<crate::media::ImageCache>>,
}

impl PlanOptions {
    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Debug for PlanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanOptions")
            .field("duration_policy", &self.duration_policy)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Validates a composition into a plan. `warnings` from parsing (unknown fields) are carried
/// into the plan's warnings.
pub fn build(comp: &Composition, parse_warnings: &[Problem], opts: &PlanOptions) -> Result<Plan> {
    let mut ck = Checker::new(parse_warnings.to_vec());
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
    if comp.overlays.len() > lim.max_layers {
        ck.err("overlays", format!("{} overlays; the limit is {}", comp.overlays.len(), lim.max_layers));
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
    for (j, l) in comp.overlays.iter().enumerate().filter(|(_, l)| l.kind == "image") {
        match &l.asset {
            Some(k) => keys.push((format!("overlays[{j}].asset"), k.clone())),
            None => ck.err(format!("overlays[{j}].asset"), "an image layer needs an asset"),
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
        return Err(ck.into_error());
    };
    // Images are decoded when first used and released after their last use (once shrunk
    // to the size they are drawn at), so planning never holds every original at once.
    let mut images =
        Images { entries: HashMap::new(), cache: opts.image_cache.clone(), order: Vec::new(), limits: lim.image };
    // By key, so that planning stays linear in the number of layers.
    let files: HashMap<&str, &std::path::PathBuf> = resolved.iter().map(|(k, f)| (k.as_str(), f)).collect();
    for (path, key) in &keys {
        if video_keys.contains(key.as_str()) {
            continue;
        }
        let Some(&file) = files.get(key.as_str()) else { continue };
        let e = images.entries.entry(key.clone()).or_insert_with(|| {
            images.order.push(key.clone());
            ImageEntry { file: file.clone(), path: path.clone(), uses: 0, state: ImageState::Pending }
        });
        e.uses += 1;
    }
    type Probed = Result<crate::media::VideoInfo, crate::ffmpeg::input::MediaError>;
    let videos: HashMap<String, (std::path::PathBuf, Probed)> = resolved
        .par_iter()
        .filter(|(k, _)| video_keys.contains(k.as_str()))
        .map(|(k, f)| (k.clone(), (f.clone(), crate::media::probe_video(f))))
        .collect();
    for (key, (_, r)) in &videos {
        if let Err(why) = r {
            for (path, _) in keys.iter().filter(|(_, k)| k == key) {
                ck.media(path.clone(), &format!("asset {key:?}: "), why.clone());
            }
        }
    }
    // The soundtrack (voiceover, music) decodes on its own thread while the scenes are
    // planned (their images decoded); its problems are listed after the scenes' as before.
    // The composition's own fonts, in a library of this plan's own.
    let own_fonts = composition_fonts(&mut ck, comp, opts);
    let fonts: &Arc<FontLibrary> = own_fonts.as_ref().unwrap_or(&opts.fonts);
    let (sound, (scenes, overlay, captions, clips, images, texts)) = std::thread::scope(|scope| {
        let sound = scope.spawn(|| {
            let mut ack = Checker::new(Vec::new());
            let plan = audio(&mut ack, comp.audio.as_ref(), opts.assets.as_ref(), fps, target);
            (plan, ack)
        });
        // ---- scenes' content
        let mut ctx = Ctx {
            w: width as f32,
            h: height as f32,
            palette,
            images,
            fonts,
            style,
            motion,
            sources: HashMap::new(),
            image_uses: Vec::new(),
            text_uses: Vec::new(),
            texts: HashMap::new(),
            media_left: lim.max_media_bytes.saturating_sub(image_bytes),
            font_warned: HashSet::new(),
            videos: &videos,
            clips: Vec::new(),
            scene: 0,
            scene_start: 0,
            keep_before: fps.frames_for_seconds(1.0),
        };
        let mut scenes = Vec::new();
        for (i, s) in comp.scenes.iter().enumerate() {
            if opts.cancelled() {
                break;
            }
            let p = format!("scenes[{i}]");
            ctx.scene = i;
            ctx.scene_start = starts[i];
            let background = match &s.background {
                None => Fill::Solid(gap),
                Some(bg) => background(&mut ck, &mut ctx, &format!("{p}.background"), bg, lens[i]),
            };
            let matte = match &s.background {
                Some(StrOr::Obj(b)) if matches!(b.type_.as_str(), "image" | "video") => match &b.color {
                    // Over black: a frame is opaque.
                    Some(c) => {
                        let c = ck.color(&format!("{p}.background.color"), c, &comp.style.color_palette);
                        let a = c.alpha();
                        Color::from_rgba(c.red() * a, c.green() * a, c.blue() * a, 1.0).unwrap_or(Color::BLACK)
                    }
                    None => gap,
                },
                _ => gap,
            };
            let mut layers = Vec::new();
            for (j, l) in s.layers.iter().enumerate() {
                if opts.cancelled() {
                    break;
                }
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
                matte,
                layers,
                transition: transitions[i],
            });
        }

        // Overlays: a scene of its own over the whole video, with nothing under its layers.
        ctx.scene = OVERLAY_SCENE;
        ctx.scene_start = 0;
        let mut layers = Vec::new();
        for (j, l) in comp.overlays.iter().enumerate() {
            let p = format!("overlays[{j}]");
            if l.kind == "video" {
                ck.err(format!("{p}.type"), "an overlay is text, an image or a shape; a video belongs in a scene");
            } else if let Some(lp) = layer(&mut ck, &mut ctx, &p, l, target) {
                layers.push(lp);
            }
        }
        let overlay = (!layers.is_empty()).then(|| ScenePlan {
            uid: super::next_uid(),
            id: "overlays".into(),
            start: 0,
            len: target,
            background: Fill::Solid(Color::TRANSPARENT),
            matte: Color::TRANSPARENT,
            layers,
            transition: None,
        });

        let captions =
            comp.captions.as_ref().and_then(|c| captions::build(&mut ck, &mut ctx, c, opts.assets.as_ref(), fps));
        ctx.images.check_unused(&mut ck);
        let clips = std::mem::take(&mut ctx.clips);
        clip_memory(&mut ck, &ctx, &clips, fps);
        let span = |scene: usize| match scene {
            OVERLAY_SCENE => (0, target),
            _ => (starts[scene], starts[scene] + lens[scene]),
        };
        let images = spans_of(std::mem::take(&mut ctx.image_uses), span)
            .into_iter()
            .map(|(source, spans)| ImageUse { source, spans })
            .collect();
        let texts = spans_of(std::mem::take(&mut ctx.text_uses), span)
            .into_iter()
            .map(|(text, spans)| TextUse { text, spans })
            .collect();
        (sound.join(), (scenes, overlay, captions, clips, images, texts))
    });
    if opts.cancelled() {
        return Err(Error::Cancelled);
    }
    let (mut audio, ack) = sound.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    ck.problems.extend(ack.problems);
    ck.warnings.extend(ack.warnings);
    clip_audio(&mut ck, &clips, fps, &mut audio);

    if !ck.problems.is_empty() || ck.fatal.is_some() {
        return Err(ck.into_error());
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
        texts,
        captions,
        id: comp.id.clone(),
        visual_medium: comp.style.visual_medium.clone(),
        width,
        height,
        fps,
        frames: target,
        gap,
        scenes,
        overlay,
        timeline_end,
        duration,
        poster_frame,
        warnings: ck.warnings,
        slide_distance: 0.06 * height as f32,
    })
}

/// Largest font file a composition may bring, and all of them together.
const FONT_FILE_BYTES: u64 = 32 << 20;
const FONT_BYTES: u64 = 64 << 20;

/// A half-open range of frames on the timeline.
type Span = (u64, u64);

/// Each thing drawn, once, with the frames of the scenes that draw it (`span` of a scene
/// index), in order of first use. Things are told apart by address (they live as long as
/// the plan); uses come scene by scene, so a repeated span is the last one.
fn spans_of<T>(uses: Vec<(usize, Arc<T>)>, span: impl Fn(usize) -> Span) -> Vec<(Arc<T>, Vec<Span>)> {
    let mut out: Vec<(Arc<T>, Vec<Span>)> = Vec::new();
    let mut index: HashMap<*const T, usize> = HashMap::new();
    for (scene, thing) in uses {
        let span = span(scene);
        match index.get(&Arc::as_ptr(&thing)) {
            Some(&i) if out[i].1.last() == Some(&span) => {}
            Some(&i) => out[i].1.push(span),
            None => {
                index.insert(Arc::as_ptr(&thing), out.len());
                out.push((thing, vec![span]));
            }
        }
    }
    out
}

/// Loads `style.typography.fonts` into a library of the plan's own (none when there are none
/// or one fails: each failure is an error at its path).
fn composition_fonts(ck: &mut Checker, comp: &Composition, opts: &PlanOptions) -> Option<Arc<FontLibrary>> {
    let files = &comp.style.typography.fonts;
    if files.is_empty() {
        return None;
    }
    let mut loaded = Vec::new();
    let mut total = 0u64;
    let mut failed = false;
    for (i, f) in files.iter().enumerate() {
        let path = format!("style.typography.fonts[{i}]");
        if f.family.as_deref().is_some_and(|n| n.trim().is_empty()) {
            ck.err(format!("{path}.family"), "expected a non-empty family name");
            failed = true;
        }
        let bytes = opts.assets.resolve(&f.asset).and_then(|file| {
            let len = std::fs::metadata(&file).map_err(|e| e.to_string())?.len();
            total += len;
            if len > FONT_FILE_BYTES {
                return Err(format!("{len} bytes; a font file may have at most {FONT_FILE_BYTES}"));
            }
            if total > FONT_BYTES {
                return Err(format!("the composition's fonts pass {FONT_BYTES} bytes together"));
            }
            std::fs::read(&file).map_err(|e| e.to_string())
        });
        match bytes {
            Ok(b) => loaded.push((b, f.family.clone())),
            Err(why) => {
                ck.err(format!("{path}.asset"), format!("asset {:?}: {why}", f.asset));
                failed = true;
            }
        }
    }
    if failed {
        return None;
    }
    match opts.fonts.with_files(loaded) {
        Ok(lib) => Some(lib),
        Err((i, why)) => {
            ck.err(format!("style.typography.fonts[{i}].asset"), format!("asset {:?}: {why}", files[i].asset));
            None
        }
    }
}
