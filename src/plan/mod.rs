//! Validation and normalization: [`crate::model::Composition`] -> a read-only [`Plan`].
//!
//! Everything that can fail happens here, before frame 0: every value is checked (all
//! problems are collected, not only the first), colors and lengths are resolved to pixels,
//! timings to integer frames, assets are resolved inside their folder and decoded, fonts are
//! looked up and text is shaped and rasterized once. The rasterizer reads only the plan.
//!
//! | file | part of the contract |
//! |---|---|
//! | `build.rs` | [`build()`]: runs the parts in document order and assembles the plan; options and limits |
//! | `check.rs` | the shared checking context: the problem collector and the scene context |
//! | `timing.rs` | canvas size and frame rate, scene placement, transitions, the duration policy |
//! | `assets.rs` | images (decoded on first use, released after the last), the media budget, clips |
//! | `layers.rs` | backgrounds, fills, gradients, Ken Burns, motion, keyframes, layer boxes |
//! | `text.rs` | text layers: roles, fonts, plates, strokes, shadows, the raster bound |
//! | `audio.rs` | voiceover, music, tracks, clips' own sound |
//! | `captions.rs` | word timings or SRT/WebVTT, grouped into caption lines |
//! | `color.rs` | colour strings and the palette |

mod assets;
mod audio;
pub(crate) mod build;
pub(crate) mod captions;
mod check;
pub mod color;
mod layers;
mod text;
mod timing;

pub use build::{build, DurationPolicy, Limits, PlanOptions};

use crate::anim::{Easing, Motion, Track};
use crate::error::Problem;
use crate::text::{TextBlock, TextRasters};
use crate::time::Fps;
use std::sync::Arc;
use tiny_skia::{Color, Pixmap};

/// A validated composition, ready to render. Read-only; cheap to share between threads.
#[derive(Debug)]
pub struct Plan {
    pub(crate) id: String,
    /// `style.visualMedium`, carried into the report.
    pub(crate) visual_medium: Option<String>,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) fps: Fps,
    pub(crate) frames: u64,
    pub(crate) gap: Color,
    pub(crate) scenes: Vec<ScenePlan>,
    /// The overlays: layers over every scene, as a scene spanning the video.
    pub(crate) overlay: Option<ScenePlan>,
    pub(crate) timeline_end: u64,
    pub(crate) duration: DurationInfo,
    pub(crate) poster_frame: u64,
    pub(crate) warnings: Vec<Problem>,
    pub(crate) slide_distance: f32,
    pub(crate) audio: crate::audio::AudioPlan,
    pub(crate) clips: Vec<ClipPlan>,
    pub(crate) captions: Option<captions::CaptionsPlan>,
    /// Every image source with the frames that show it.
    pub(crate) images: Vec<ImageUse>,
    /// Every text layer's text, with the frames it is drawn in.
    pub(crate) texts: Vec<TextUse>,
    /// The asset files the render reads (no output may take one's name).
    pub(crate) inputs: Vec<std::path::PathBuf>,
}

impl Plan {
    /// Validates a parsed composition into a plan (see [`build()`]): every problem is
    /// reported at once, each with its JSON path.
    ///
    /// ```
    /// use reel::{Plan, PlanOptions};
    /// let parsed = reel::parse(
    ///     r##"{"id": "ad", "width": 64, "height": 36, "fps": 30, "scenes": [
    ///         {"id": "s", "durationFrames": 15, "background": {"type": "color", "color": "#204060"}}]}"##,
    /// )?;
    /// let plan = Plan::build(&parsed, &PlanOptions::new("fixtures/demo"))?;
    /// assert_eq!((plan.width(), plan.height(), plan.frame_count()), (64, 36, 15));
    ///
    /// let bad = reel::parse(r#"{"id": "ad", "width": -5, "scenes": [{"id": "s", "durationFrames": 0}]}"#)?;
    /// let err = Plan::build(&bad, &PlanOptions::new("fixtures/demo")).unwrap_err();
    /// let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
    /// assert!(paths.contains(&"width") && paths.contains(&"scenes[0].durationFrames"), "{paths:?}");
    /// # Ok::<(), reel::Error>(())
    /// ```
    pub fn build(parsed: &crate::Parsed, opts: &PlanOptions) -> crate::Result<Plan> {
        build::build(&parsed.composition, &parsed.warnings, opts)
    }
}

impl Plan {
    /// `style.visualMedium` as written (descriptive only: it changes no pixel).
    pub fn visual_medium(&self) -> Option<&str> {
        self.visual_medium.as_deref()
    }

    /// The composition's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Canvas width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Canvas height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// The exact frame rate.
    pub fn fps(&self) -> Fps {
        self.fps
    }
    /// Number of frames the output holds (`totalDurationFrames`).
    pub fn frame_count(&self) -> u64 {
        self.frames
    }
    /// Frame used for the posters.
    pub fn poster_frame(&self) -> u64 {
        self.poster_frame
    }
    /// Warnings: unknown fields, font fallbacks, ignored values.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
    /// What the duration policy did.
    pub fn duration(&self) -> &DurationInfo {
        &self.duration
    }
    /// True when the composition has an audio track.
    pub fn has_audio(&self) -> bool {
        !self.audio.is_empty()
    }
    /// Scene ids with their start frame and length after the duration policy.
    pub fn scene_timings(&self) -> Vec<(String, u64, u64)> {
        self.scenes.iter().map(|s| (s.id.clone(), s.start, s.len)).collect()
    }
}

/// Target, planned and rendered durations, and what the policy did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DurationInfo {
    /// `totalDurationFrames` (or the timeline's end when absent).
    pub target_frames: u64,
    /// Where the scenes' timeline ended as written.
    pub planned_frames: u64,
    /// The policy applied.
    pub policy: DurationPolicy,
    /// One sentence: what was done.
    pub action: String,
}

/// A number no other scene or caption plan of this process has had. The frame workers'
/// caches (painted gradients, what a canvas holds, composed overlays) outlive a plan when
/// the caller's rayon pool does, so they key on this, never on an address: a new plan's
/// scene can sit where a dropped plan's scene sat (it did, and a second render on one pool
/// showed the first's gradient).
pub(crate) fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug)]
pub(crate) struct ScenePlan {
    /// Unique in the process (see [`next_uid`]): what per-worker caches key on.
    pub uid: u64,
    pub id: String,
    pub start: u64,
    pub len: u64,
    pub background: Fill,
    /// What shows around a picture background that does not cover the canvas (`contain`,
    /// a zoom below 1): the background's `color`, else the palette's `background`.
    pub matte: Color,
    pub layers: Vec<LayerPlan>,
    pub transition: Option<TransitionPlan>,
}

#[derive(Debug, Clone)]
pub(crate) enum Fill {
    Solid(Color),
    Gradient(GradientPlan),
    Image(ImagePlan),
    Video(VideoRef),
}

/// A video clip drawn somewhere: which clip, how it fits its box.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VideoRef {
    pub clip: usize,
    pub fit: Fit,
    pub corner_radius: f32,
    /// Zoom and focus animated over the layer's (or scene's) life, as on an image.
    pub ken_burns: Option<KenBurnsPlan>,
}

/// One use of a video clip: where it plays on the timeline and which part of the file.
#[derive(Debug, Clone)]
pub(crate) struct ClipPlan {
    pub path: std::path::PathBuf,
    /// The asset key, for messages.
    pub key: String,
    /// Decoded frames are scaled to this size (never larger than drawn, never upscaled).
    pub out: (u32, u32),
    pub scene: usize,
    /// Absolute first frame and length of the layer (or background) on the timeline.
    pub start: u64,
    pub len: u64,
    pub trim_start: f64,
    /// Where playback ends in the file, seconds.
    pub end: f64,
    pub rate: f64,
    pub looped: bool,
    /// Gain of the clip's own audio.
    pub volume: f32,
    /// JSON path of the layer or background, for messages.
    pub path_json: String,
}

#[derive(Debug, Clone)]
pub(crate) struct GradientPlan {
    pub radial: bool,
    pub colors: Vec<Color>,
    pub angle: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    Cover,
    Contain,
    Fill,
    None,
}

impl Fit {
    /// Scale factors (x, y) that map an `iw` x `ih` source into a `bw` x `bh` box.
    pub(crate) fn scale(self, iw: f32, ih: f32, bw: f32, bh: f32) -> (f32, f32) {
        match self {
            Fit::Cover => {
                let s = (bw / iw).max(bh / ih);
                (s, s)
            }
            Fit::Contain => {
                let s = (bw / iw).min(bh / ih);
                (s, s)
            }
            Fit::Fill => (bw / iw, bh / ih),
            Fit::None => (1.0, 1.0),
        }
    }
}

/// The pixels of one image as drawn, shared by every use of the same file at the same size.
///
/// Planning decodes the image (so a broken file fails before frame 0) and keeps the pixels
/// of images drawn in the first second; a render makes the others shortly before the first
/// frame that shows them, lets them go after the last, and makes them again from the file
/// planning read if a later scene shows them. So a render holds the images of the frames
/// around the current one, not every image of the video. Decoding the same bytes with the
/// same decoder gives the same pixels; if the file changed after planning, the image is not
/// drawn and the render stops with [`crate::Error::Io`] naming it ([`ImageSource::fault`]).
pub(crate) struct ImageSource {
    /// The file, or its bytes.
    data: ImageData,
    limits: crate::media::ImageLimits,
    /// Size of the pixels (the decoded image, or the size planning shrank it to).
    pub width: u32,
    pub height: u32,
    /// Every pixel is opaque (enables the fast cover path).
    pub opaque: bool,
    pixels: std::sync::Mutex<Option<Arc<Pixmap>>>,
    /// The same pixels in 4:2:0 (opaque sources), made on first use by a frame composed
    /// in planes ([`crate::raster::paint_frame`]) or by the render's prefetch; the
    /// RGBA pixels are let go then. Lock order: `planes` before `pixels`.
    planes: std::sync::Mutex<Option<Arc<crate::pixels::Yuv420>>>,
    /// Why the pixels could not be made again, once they could not.
    fault: std::sync::Mutex<Option<String>>,
}

/// Where an image source's pixels are made again from.
#[derive(Clone)]
pub(crate) enum ImageData {
    /// The file planning read, held open (not its bytes).
    File(Arc<crate::media::ImageFile>),
    /// The file's bytes, held by an image cache shared with other plans
    /// ([`PlanOptions::image_cache`]).
    Bytes(Arc<[u8]>),
}

impl From<Arc<[u8]>> for ImageData {
    fn from(bytes: Arc<[u8]>) -> ImageData {
        ImageData::Bytes(bytes)
    }
}

impl std::fmt::Debug for ImageSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSource").field("width", &self.width).field("height", &self.height).finish()
    }
}

impl ImageSource {
    /// A source whose pixels (decoded from `bytes`, then shrunk to their size) are `pixels`.
    pub(crate) fn new(data: impl Into<ImageData>, limits: crate::media::ImageLimits, pixels: Pixmap) -> ImageSource {
        ImageSource {
            data: data.into(),
            limits,
            width: pixels.width(),
            height: pixels.height(),
            opaque: pixels.pixels().iter().all(|p| p.alpha() == 255),
            pixels: std::sync::Mutex::new(Some(Arc::new(pixels))),
            planes: std::sync::Mutex::new(None),
            fault: std::sync::Mutex::new(None),
        }
    }

    /// A source of `width` x `height` pixels, `opaque` or not, whose pixels are not made
    /// until first asked for (decoded from `bytes`, then resized to that size).
    pub(crate) fn unloaded(
        data: impl Into<ImageData>,
        limits: crate::media::ImageLimits,
        (width, height): (u32, u32),
        opaque: bool,
    ) -> ImageSource {
        ImageSource {
            data: data.into(),
            limits,
            width,
            height,
            opaque,
            pixels: std::sync::Mutex::new(None),
            planes: std::sync::Mutex::new(None),
            fault: std::sync::Mutex::new(None),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Pixmap>>> {
        // Nothing panics while holding the lock; if something did, the slot is still valid.
        self.pixels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pixels, decoding them again if they were released. `None` only if the file
    /// changed after planning ([`ImageSource::fault`] says how).
    pub(crate) fn pixmap(&self) -> Option<Arc<Pixmap>> {
        let mut slot = self.slot();
        if slot.is_none() {
            *slot = self.decode().map(Arc::new);
        }
        slot.clone()
    }

    fn decode(&self) -> Option<Pixmap> {
        let bytes = self.bytes()?;
        let pixels = crate::media::Original::decode(&bytes, self.limits)
            .and_then(|o| o.into_pixmap_at(self.width, self.height).ok_or_else(|| "the image is empty".into()));
        self.noted(pixels)
    }

    /// The file's bytes again (`None`, with the fault noted, if they are not planning's).
    fn bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match &self.data {
            ImageData::Bytes(b) => Some(std::borrow::Cow::Borrowed(b)),
            ImageData::File(f) => self.noted(f.read()).map(std::borrow::Cow::Owned),
        }
    }

    /// `result`'s value, or `None` with its error kept as this source's fault.
    fn noted<T>(&self, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|why| {
                self.fault.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(why);
            })
            .ok()
    }

    /// The file, and why this source's pixels could not be made again (it changed after
    /// planning), once they could not.
    pub(crate) fn fault(&self) -> Option<(std::path::PathBuf, String)> {
        let why = self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let path = match &self.data {
            ImageData::File(f) => f.path().to_path_buf(),
            ImageData::Bytes(_) => std::path::PathBuf::new(),
        };
        Some((path, why))
    }

    /// The pixels as BT.709 limited-range 4:2:0 planes, converted from [`ImageSource::pixmap`]
    /// once per load; `None` for sources with transparency (those are composed in RGBA).
    /// An odd width or height gets one more column or row repeating the last, so the
    /// planes have whole chroma blocks; a resize clamps to the edge anyway, so it reads the
    /// same values there.
    pub(crate) fn planes(&self) -> Option<Arc<crate::pixels::Yuv420>> {
        if !self.opaque || self.width == 0 || self.height == 0 {
            return None;
        }
        let mut slot = self.planes.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let (w, h) = (self.width as usize, self.height as usize);
            let held = self.slot().clone();
            let planes = match held {
                // Opaque, so premultiplied RGBA is straight RGBA.
                Some(pixmap) => {
                    let mut planes = crate::pixels::Yuv420::new((w + w % 2) as u32, (h + h % 2) as u32);
                    planes.fill_from_rgba(&pad_to_even(pixmap.data(), w, h, 4));
                    planes
                }
                // Not in memory: decode straight to RGB, then resize and convert it a strip
                // of rows at a time. Lanczos on opaque RGB is Lanczos on its RGBA, and a
                // strip's rows are the whole resize's rows up to rounding: the same pixels
                // shrunk, within 2 levels on 0.1 % of samples enlarged (the resizer places a
                // strip's filters from its crop in floating point).
                None => self.planes_from_file()?,
            };
            *slot = Some(Arc::new(planes));
            // A frame composed in planes needs only these: let the RGBA pixels go (13 MB
            // for a W1 photo). A frame that still wants them decodes them once again.
            self.slot().take();
        }
        slot.clone()
    }

    /// This source's planes (its size rounded up to even) from the file decoded again as
    /// RGB, resized to this source's size and converted [`PLANE_STRIP`] rows at a time.
    /// Beside the decoded image only a strip exists, where a whole resized copy and the
    /// resizer's intermediate did (a W1 photo reloaded during the clip scene, W1's peak,
    /// held 22 MB at once). The planes' pages come into memory as their strips are written,
    /// and the decoded rows no later strip reads go back to the system as the strips pass
    /// them ([`crate::media::give_back`]): the peak is the decoded image, 11.5 MB for a W1
    /// photo, where the image and the whole planes were 16.4 MB.
    fn planes_from_file(&self) -> Option<crate::pixels::Yuv420> {
        let bytes = self.bytes()?;
        let (rgb, iw, ih) = self.noted(crate::media::decode_image_rgb(&bytes, self.limits))?;
        drop(bytes);
        let planes = planes_from_rgb(rgb, (iw, ih), (self.width, self.height), true);
        self.noted(planes.ok_or_else(|| "the image decodes to another size than when planned".into()))
    }

    /// Lets the pixels go (they come back on the next [`ImageSource::pixmap`]).
    pub(crate) fn release(&self) {
        self.slot().take();
        self.planes.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Whether the pixels are in memory, as RGBA or as planes.
    pub(crate) fn is_loaded(&self) -> bool {
        // One lock at a time: holding `pixels` while taking `planes` would invert the
        // order `planes()` takes them in.
        let rgba = self.slot().is_some();
        rgba || self.planes.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

/// Rows an image source's planes are made from at a time (even).
const PLANE_STRIP: u32 = 64;

/// The planes of `rgb` (`iw` x `ih` RGB rows) resized to `w` x `h` (rounded up to even),
/// resized and converted [`PLANE_STRIP`] rows at a time; with `give_back`, the rows of `rgb`
/// no later strip reads are given back to the system as the strips pass them
/// ([`ImageSource::planes_from_file`]). `None` if the sizes do not match the data.
fn planes_from_rgb(
    mut rgb: Vec<u8>,
    (iw, ih): (u32, u32),
    (width, height): (u32, u32),
    give_back: bool,
) -> Option<crate::pixels::Yuv420> {
    let (w, h) = (width as usize, height as usize);
    let mut planes = crate::pixels::Yuv420::unfilled((w + w % 2) as u32, (h + h % 2) as u32);
    let same_size = (iw, ih) == (width, height);
    // The first source row a strip from output row `y` on may read: the resize's filter
    // (Lanczos, 3 taps each way, widened by a shrink's factor) around `y`'s centre, less a
    // margin.
    let sy = ih as f64 / h.max(1) as f64;
    let first_read = |y: usize| -> usize {
        if same_size {
            y
        } else {
            (y as f64 * sy - 3.0 * sy.max(1.0) - 2.0).floor().max(0.0) as usize
        }
    };
    let mut given_back = 0;
    let mut y0 = 0;
    while y0 < h {
        let y1 = (y0 + PLANE_STRIP as usize).min(h);
        let rows = if same_size {
            std::borrow::Cow::Borrowed(rgb.get(y0 * w * 3..y1 * w * 3)?)
        } else {
            crate::media::resize_rgb_rows(&rgb, iw, ih, (width, height), (y0 as u32, y1 as u32))?.into()
        };
        // Whole chroma blocks: an odd last column, or the odd last row (only the last strip
        // can have an odd number of rows), is repeated.
        if !planes.fill_rows_from_rgb(y0 as u32, &pad_to_even(&rows, w, y1 - y0, 3)) {
            return None;
        }
        drop(rows);
        if give_back {
            crate::media::give_back(&mut rgb, &mut given_back, first_read(y1) * iw as usize * 3);
        }
        y0 = y1;
    }
    Some(planes)
}

/// `src`, `w` x `h` pixels of `bpp` bytes, with one more column and row repeating the last
/// where `w` or `h` is odd, so 4:2:0 planes get whole chroma blocks (borrowed when even).
fn pad_to_even(src: &[u8], w: usize, h: usize, bpp: usize) -> std::borrow::Cow<'_, [u8]> {
    let (ew, eh) = (w + w % 2, h + h % 2);
    if (ew, eh) == (w, h) {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut padded = Vec::with_capacity(ew * eh * bpp);
    for y in 0..eh {
        let Some(row) = src.get(y.min(h - 1) * w * bpp..(y.min(h - 1) + 1) * w * bpp) else { break };
        padded.extend_from_slice(row);
        if ew > w {
            padded.extend_from_slice(&row[(w - 1) * bpp..]);
        }
    }
    std::borrow::Cow::Owned(padded)
}

/// Where an image source is on screen: the frame spans of the scenes that show it.
#[derive(Debug)]
pub(crate) struct ImageUse {
    pub source: Arc<ImageSource>,
    /// Half-open frame ranges on the timeline.
    pub spans: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct ImagePlan {
    pub source: Arc<ImageSource>,
    pub fit: Fit,
    pub ken_burns: Option<KenBurnsPlan>,
    pub corner_radius: f32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct KenBurnsPlan {
    pub from: (f32, f32, f32),
    pub to: (f32, f32, f32),
    pub easing: Easing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransitionKind {
    Cut,
    Fade,
    DipToBlack,
    DipToWhite,
    Slide,
    Push,
    Wipe,
    Zoom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Left,
    Right,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TransitionPlan {
    pub kind: TransitionKind,
    pub frames: u64,
    pub direction: Direction,
    pub easing: Easing,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Tracks {
    pub opacity: Track,
    pub x: Track,
    pub y: Track,
    pub scale: Track,
    pub rotation: Track,
}

#[derive(Debug)]
pub(crate) struct LayerPlan {
    pub start: u64,
    pub len: u64,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub anchor: (f32, f32),
    pub opacity: f32,
    pub rotation: f32,
    pub scale: f32,
    pub enter: Option<Motion>,
    pub exit: Option<Motion>,
    pub tracks: Tracks,
    pub content: Content,
    /// A drop shadow under a picture or shape, a border on a picture.
    pub decor: Decor,
}

/// What is drawn around a picture or shape: under it a drop shadow of its outline, over
/// its edge a border (inside the box, so the layer's bounds do not change).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Decor {
    pub shadow: Option<crate::text::ShadowSpec>,
    pub border: Option<(Color, f32)>,
    /// The outline's corner radius.
    pub radius: f32,
    /// The outline is the box's inscribed ellipse.
    pub oval: bool,
}

/// A text layer's content: its layout, and its raster painted when a render comes near
/// it (see [`TextRasters`]).
#[derive(Debug)]
pub(crate) struct TextPlan {
    /// The layout. Its `pixmap` is a placeholder: the raster is `raster`'s.
    pub block: TextBlock,
    pub raster: TextRasters,
}

/// A text drawn by the plan and the frames it is drawn in.
#[derive(Debug)]
pub(crate) struct TextUse {
    pub text: Arc<TextPlan>,
    /// Half-open frame ranges on the timeline.
    pub spans: Vec<(u64, u64)>,
}

#[derive(Debug)]
pub(crate) enum Content {
    Text(Arc<TextPlan>),
    Image(ImagePlan),
    Video(VideoRef),
    Shape(ShapePlan),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShapeKind {
    Rect,
    Ellipse,
    Line,
}

#[derive(Debug)]
pub(crate) struct ShapePlan {
    pub kind: ShapeKind,
    pub fill: Option<Fill>,
    pub stroke: Option<(Color, f32)>,
    pub corner_radius: f32,
    /// A line's two ends in its box; `None` draws it across the box's middle.
    pub ends: Option<((f32, f32), (f32, f32))>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audio::write_wav;

    /// A sound plays only as far as the timeline plays it, and a mono voice as one channel:
    /// a voice from 1 s in a 2 s video plays 1 s, music that does not loop the video's
    /// length, looped music all of itself (resampled from 44.1 kHz).
    #[test]
    fn sound_is_cut_to_what_plays() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tone = |rate: u32, channels: usize, secs: u32| -> Vec<f32> {
            (0..(rate * secs) as usize * channels).map(|i| ((i / channels) as f32 * 0.05).sin() * 0.3).collect()
        };
        write_wav(&dir.path().join("voice.wav"), 48_000, 1, &tone(48_000, 1, 3));
        write_wav(&dir.path().join("music.wav"), 44_100, 2, &tone(44_100, 2, 5));
        for looped in [false, true] {
            let json = format!(
                r#"{{"id": "a", "width": 64, "height": 36, "fps": 30, "scenes": [{{"id": "s", "durationFrames": 60}}],
                "audio": {{"voiceover": {{"asset": "voice.wav", "startFrame": 30}},
                          "music": {{"asset": "music.wav", "loop": {looped}}}}}}}"#
            );
            let comp = crate::parse(&json).expect("parses");
            let plan = Plan::build(&comp, &crate::PlanOptions::new(dir.path())).expect("plans");
            let voice = &plan.audio.voice[0].samples;
            assert_eq!((voice.channels(), voice.frames()), (1, 48_000));
            assert!(matches!(voice, crate::audio::Source::File(_)), "a file is decoded by the mix, not held");
            let music = &plan.audio.music.as_ref().expect("music").clip.samples;
            assert_eq!(music.channels(), 2);
            if looped {
                assert!((5 * 48_000 - 10..=5 * 48_000 + 10).contains(&music.frames()), "{}", music.frames());
            } else {
                assert_eq!(music.frames(), 2 * 48_000);
            }
        }
    }

    /// A released image comes back with exactly the pixels planning made, shrunk or not,
    /// and those are the pixels of the RGBA decode and Lanczos resize: a PNG with alpha
    /// (kept RGBA) and a JPEG (kept RGB, resized as RGB, widened to RGBA).
    /// A text layer's raster is painted when first wanted (planning only shapes it) and,
    /// let go and painted again, is the same pixels; the same text in the same style is one
    /// raster, held over the frames of every scene showing it.
    #[test]
    fn text_rasters_are_painted_when_wanted_and_the_same_again() {
        let text = |t: &str| {
            format!(
                r##"{{"type": "text", "text": "{t}", "fontSize": 24, "color": "#ffcc00",
                   "box": {{"color": "#00000099", "padding": 6, "cornerRadius": 4}},
                   "stroke": {{"color": "#000000", "width": 2}}, "shadow": {{"color": "#00000080", "offsetY": 3, "blur": 4}}}}"##
            )
        };
        let json = format!(
            r##"{{"id": "t", "width": 320, "height": 180, "fps": 30, "scenes": [
              {{"id": "a", "durationFrames": 30, "background": "#203040", "layers": [{a}, {b}]}},
              {{"id": "b", "durationFrames": 20, "background": "#203040", "layers": [{c}]}},
              {{"id": "c", "durationFrames": 25, "background": "#203040", "layers": [{a}]}}]}}"##,
            a = text("Repeated"),
            b = text("Once"),
            c = text("Only in b")
        );
        let parsed = crate::parse(&json).expect("parses");
        let plan = Plan::build(&parsed, &PlanOptions::new(".")).expect("plans");
        let spans: Vec<Vec<(u64, u64)>> = plan.texts.iter().map(|u| u.spans.clone()).collect();
        assert_eq!(spans, [vec![(0, 30), (50, 75)], vec![(0, 30)], vec![(30, 50)]]);
        for u in &plan.texts {
            let raster = &u.text.raster;
            assert!(!raster.is_loaded(), "planning paints no text");
            let first = raster.get();
            assert!(raster.is_loaded());
            assert_eq!(first.len(), 1);
            assert_eq!((first[0].width(), first[0].height()), raster.size());
            assert!(first[0].pixels().iter().any(|p| p.alpha() > 0), "the text is drawn");
            raster.release();
            assert!(!raster.is_loaded());
            assert!(raster.get()[0].data() == first[0].data(), "painted again, the same");
        }
    }

    #[test]
    fn released_images_reload_the_same_pixels() {
        let img = image::RgbaImage::from_fn(64, 48, |x, y| image::Rgba([(x * 4) as u8, (y * 5) as u8, 90, 255]));
        let limits = crate::media::ImageLimits::default();
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let mut file = Vec::new();
            let dynamic = match format {
                image::ImageFormat::Png => image::DynamicImage::ImageRgba8(img.clone()),
                _ => image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(img.clone()).into_rgb8()),
            };
            dynamic.write_to(&mut std::io::Cursor::new(&mut file), format).expect("encode");
            let decoded = crate::media::decode_image_bytes(&file, limits).expect("decodes");
            let original = crate::media::Original::decode(&file, limits).expect("decodes");
            assert_eq!(matches!(original, crate::media::Original::Rgb { .. }), format == image::ImageFormat::Jpeg);
            let bytes: Arc<[u8]> = Arc::from(file);
            for (w, h) in [(64, 48), (29, 21), (64, 21), (29, 48), (97, 33)] {
                let pixels = crate::media::resize_premultiplied(&decoded, w, h);
                let planned = original.pixmap_at(w, h).expect("pixels");
                assert!(planned.data() == pixels.data(), "{format:?} at {w}x{h}: planning's pixels differ");
                let source = ImageSource::new(bytes.clone(), limits, planned);
                assert!(source.is_loaded() && source.opaque);
                source.release();
                assert!(!source.is_loaded());
                let again = source.pixmap().expect("reloads");
                assert!(source.is_loaded());
                assert_eq!((again.width(), again.height()), (pixels.width(), pixels.height()));
                assert!(again.data() == pixels.data(), "{format:?} at {w}x{h}: reloaded pixels differ");
            }
        }
    }

    /// Planning keeps the pixels it made of the images drawn in the first second (the first
    /// frames want them at once) and lets every later image's go: a photo's are not made at
    /// all, an image with alpha's are made (to know it is not opaque) and let go. Made
    /// again by the render's loader, each is the pixels and planes planning would have kept.
    #[test]
    fn planning_keeps_only_the_first_seconds_pixels() {
        let dir = tempfile::tempdir().expect("temp dir");
        let rgb = image::RgbImage::from_fn(120, 80, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x ^ y) * 7 % 256) as u8])
        });
        for name in ["first.jpg", "early.jpg", "late.jpg"] {
            rgb.save(dir.path().join(name)).expect("write jpeg");
        }
        let rgba = image::RgbaImage::from_fn(60, 40, |x, y| image::Rgba([200, (x * 4) as u8, 40, (y * 6) as u8]));
        rgba.save(dir.path().join("logo.png")).expect("write png");
        // Scenes at frames 0, 20 (within the first second at 30 fps) and 40; the photos
        // cover a 64x36 canvas (shrunk), the logo is drawn at its own size.
        let json = r##"{"id": "k", "width": 64, "height": 36, "fps": 30, "scenes": [
            {"id": "a", "durationFrames": 20, "background": {"type": "image", "asset": "first.jpg"}},
            {"id": "b", "durationFrames": 20, "background": {"type": "image", "asset": "early.jpg"}},
            {"id": "c", "durationFrames": 20, "background": {"type": "image", "asset": "late.jpg"},
             "layers": [{"type": "image", "asset": "logo.png", "width": 60, "height": 40}]}]}"##;
        let plan = Plan::build(&crate::parse(json).expect("parses"), &PlanOptions::new(dir.path())).expect("plans");
        let starts: Vec<(u64, bool, bool)> =
            plan.images.iter().map(|u| (u.spans[0].0, u.source.is_loaded(), u.source.opaque)).collect();
        assert_eq!(starts, [(0, true, true), (20, true, true), (40, false, true), (40, false, false)]);
        let limits = crate::media::ImageLimits::default();
        for u in &plan.images {
            let s = &u.source;
            let file = std::fs::read(dir.path().join(if s.opaque { "late.jpg" } else { "logo.png" })).expect("read");
            let kept = crate::media::Original::decode(&file, limits)
                .expect("decodes")
                .into_pixmap_at(s.width, s.height)
                .expect("pixels");
            let again = s.pixmap().expect("made again");
            assert!(again.data() == kept.data(), "{:?}: pixels differ", u.spans);
            if s.opaque {
                let kept_planes = ImageSource::new(Arc::from(file), limits, kept).planes().expect("opaque");
                s.release();
                let planes = s.planes().expect("opaque");
                assert!(planes.y == kept_planes.y && planes.u == kept_planes.u && planes.v == kept_planes.v);
            }
        }
    }

    /// Planes made from the RGBA pixels planning holds, and planes made after a release
    /// (decoded straight to RGB, resized as RGB and converted in strips of rows), are the
    /// same bytes: odd sizes, shrinks and a stretch, a JPEG (RGB) and a PNG (RGBA, opaque).
    #[test]
    fn planes_from_rgb_match_planes_from_rgba() {
        let img = image::RgbImage::from_fn(101, 67, |x, y| {
            image::Rgb([((x * 37 + y * 11) % 256) as u8, ((x * x + y * 3) % 256) as u8, ((x ^ y) * 5 % 256) as u8])
        });
        let limits = crate::media::ImageLimits::default();
        for format in [image::ImageFormat::Jpeg, image::ImageFormat::Png] {
            let mut file = Vec::new();
            let dynamic = match format {
                image::ImageFormat::Png => {
                    image::DynamicImage::ImageRgba8(image::DynamicImage::ImageRgb8(img.clone()).into_rgba8())
                }
                _ => image::DynamicImage::ImageRgb8(img.clone()),
            };
            dynamic.write_to(&mut std::io::Cursor::new(&mut file), format).expect("encode");
            let decoded = crate::media::decode_image_bytes(&file, limits).expect("decodes");
            let bytes: Arc<[u8]> = Arc::from(file);
            // Reloads resize and convert 64 rows at a time: one strip, two, three with an
            // odd last one; a single pixel, and a 3 px wide column of three strips.
            for (w, h) in [(101, 67), (77, 45), (50, 31), (99, 66), (61, 131), (1, 1), (3, 129)] {
                let pixels = if (w, h) == (101, 67) {
                    decoded.clone()
                } else {
                    crate::media::resize_premultiplied(&decoded, w, h)
                };
                let source = ImageSource::new(bytes.clone(), limits, pixels);
                let from_rgba = source.planes().expect("opaque");
                source.release();
                let from_rgb = source.planes().expect("opaque");
                assert!(!Arc::ptr_eq(&from_rgba, &from_rgb));
                for (a, b, plane) in [
                    (&from_rgba.y, &from_rgb.y, "y"),
                    (&from_rgba.u, &from_rgb.u, "u"),
                    (&from_rgba.v, &from_rgb.v, "v"),
                ] {
                    assert!(a == b, "{format:?} at {w}x{h}: plane {plane} differs");
                }
            }
        }
    }

    /// A photo large enough that the rows behind each strip span whole pages, which a
    /// reload gives back as it goes: its planes are the same bytes as when every row is
    /// kept to the end, shrunk a little (as W1's photos are), shrunk by more than two, at
    /// its own size, enlarged, and at odd sizes. A row given back before the last strip
    /// that reads it reads as zeros.
    #[test]
    fn planes_made_while_the_decoded_rows_go_back_are_the_same() {
        let (iw, ih) = (700u32, 600u32);
        let rgb: Vec<u8> = (0..ih)
            .flat_map(|y| {
                (0..iw)
                    .flat_map(move |x| [((x + y * 3) % 251) as u8, ((y * 7) % 253) as u8, (40 + (x ^ y) % 200) as u8])
            })
            .collect();
        for (w, h) in [(640, 550), (300, 257), (700, 600), (699, 601), (980, 841), (700, 130)] {
            let kept = planes_from_rgb(rgb.clone(), (iw, ih), (w, h), false).expect("planes");
            let given = planes_from_rgb(rgb.clone(), (iw, ih), (w, h), true).expect("planes");
            for (a, b, plane) in [(&kept.y, &given.y, "y"), (&kept.u, &given.u, "u"), (&kept.v, &given.v, "v")] {
                assert!(a == b, "at {w}x{h}: plane {plane} differs");
            }
        }
    }
}
