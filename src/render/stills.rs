//! Stills: one frame as an RGBA image, or many through a session that keeps its buffers
//! and clip decoders between frames (a preview scrubbing).

use crate::error::{Error, Result};
use crate::media::{ClipDecoder, ClipPicture};
use crate::plan::Plan;
use crate::raster::{render_frame, Scratch};
use crate::timeline::clip_time;
use std::path::Path;

/// Renders one frame to straight RGBA (opaque). Each call starts afresh: its buffers are
/// made and each visible clip is opened and decoded for that picture alone (the fastest
/// way to one picture). To render several, keep a [`Stills`].
///
/// ```
/// let parsed = reel::parse(
///     r##"{"id": "ad", "width": 64, "height": 36, "fps": 30, "scenes": [
///         {"id": "s", "durationFrames": 15, "background": {"type": "color", "color": "#ff0000"}}]}"##,
/// )?;
/// let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new("fixtures/demo"))?;
/// let image = reel::render_still(&plan, 7);
/// assert_eq!(image.dimensions(), (64, 36));
/// assert_eq!(image.get_pixel(10, 10).0, [255, 0, 0, 255]);
/// # Ok::<(), reel::Error>(())
/// ```
pub fn render_still(plan: &Plan, frame: u64) -> image::RgbaImage {
    let mut stills = Stills::with_opener(plan, ClipDecoder::open_yuv_for_still);
    stills.render(frame);
    stills.image
}

/// How a [`Stills`] opens a clip's decoder: its path and the size it is drawn at.
pub(super) type ClipOpener = fn(&Path, u32, u32) -> std::result::Result<ClipDecoder, crate::ffmpeg::input::MediaError>;

/// Renders stills of one plan one after another, as a preview does, keeping what it can
/// between them: the canvas and scratch buffers, and a decoder for each clip on screen,
/// which moves forward from its last picture instead of from the keyframe before each
/// one (a keyframe between the two, or going back, still seeks). Memory: the canvas, and
/// the decoders of the clips visible in the last still (one is closed when its clip goes
/// off screen). A session is `Send`: it may move to another thread between stills.
///
/// ```no_run
/// # fn main() -> Result<(), reel::Error> {
/// let parsed = reel::parse_file("composition.json")?;
/// let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new("assets"))?;
/// let mut stills = reel::Stills::new(&plan);
/// for frame in (0..plan.frame_count()).step_by(10) {
///     let image = stills.render(frame); // straight RGBA, the canvas size
///     image.save(format!("frame{frame}.png")).ok();
/// }
/// # Ok(())
/// # }
/// ```
pub struct Stills<'p> {
    plan: &'p Plan,
    open: ClipOpener,
    image: image::RgbaImage,
    scratch: Scratch,
    decoders: Vec<Option<ClipDecoder>>,
}

impl std::fmt::Debug for Stills<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.decoders.iter().filter(|d| d.is_some()).count();
        f.debug_struct("Stills").field("size", &self.image.dimensions()).field("open_clips", &open).finish()
    }
}

impl<'p> Stills<'p> {
    /// A still renderer for `plan`; buffers are made here, clips opened when first seen.
    pub fn new(plan: &'p Plan) -> Stills<'p> {
        Self::with_opener(plan, ClipDecoder::open_yuv_for_scrubbing)
    }

    fn with_opener(plan: &'p Plan, open: ClipOpener) -> Stills<'p> {
        Stills {
            plan,
            open,
            image: image::RgbaImage::new(plan.width, plan.height),
            scratch: Scratch::new(plan.width, plan.height),
            decoders: plan.clips.iter().map(|_| None).collect(),
        }
    }

    /// Renders frame `frame` (clamped to the last) and returns it: straight RGBA, opaque,
    /// the canvas size; the buffer is reused by the next call.
    pub fn render(&mut self, frame: u64) -> &image::RgbaImage {
        let plan = self.plan;
        let frame = frame.min(plan.frames.saturating_sub(1));
        let mut clips: Vec<Option<ClipPicture>> = Vec::with_capacity(plan.clips.len());
        for (c, slot) in plan.clips.iter().zip(self.decoders.iter_mut()) {
            let Some(t) = clip_time(plan, c, frame) else {
                *slot = None;
                clips.push(None);
                continue;
            };
            if slot.is_none() {
                *slot = (self.open)(&c.path, c.out.0, c.out.1).ok();
            }
            clips.push(slot.as_mut().and_then(|d| d.picture_at(t)));
        }
        let (w, h) = self.image.dimensions();
        // Frames are opaque, so premultiplied and straight RGBA are the same bytes.
        if let Some(mut canvas) = tiny_skia::PixmapMut::from_bytes(&mut self.image, w, h) {
            render_frame(plan, frame, &mut canvas, &mut self.scratch, &clips);
        }
        &self.image
    }
}

/// Writes a frame as PNG, atomically (temporary name, then rename).
///
/// ```no_run
/// let parsed = reel::parse_file("fixtures/demo/demo.json")?;
/// let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new("fixtures/demo"))?;
/// reel::write_png(&reel::render_still(&plan, 0), "out/first.png".as_ref())?;
/// # Ok::<(), reel::Error>(())
/// ```
pub fn write_png(img: &image::RgbaImage, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = crate::encode::temp_path(path);
    let res = img.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| match e {
        image::ImageError::IoError(io) => Error::io(&tmp, io),
        other => Error::Encode(other.to_string()),
    });
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
