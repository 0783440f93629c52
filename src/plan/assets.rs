//! Assets: images decoded on first use and released after their last, the media budget
//! checked from headers before anything is decoded, and video clips.

use super::*;
use super::{build::*, check::*};
use crate::media::{ImageFile, ImageLimits, Original};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};

/// The composition's images, decoded on first use and released after their last.
pub(super) struct Images {
    pub(super) entries: HashMap<String, ImageEntry>,
    /// Decoded images shared with other plans ([`PlanOptions::image_cache`]).
    pub(super) cache: Option<Arc<crate::media::ImageCache>>,
    /// The keys in the order planning first uses them.
    pub(super) order: Vec<String>,
    pub(super) limits: ImageLimits,
}

pub(super) struct ImageEntry {
    pub(super) file: std::path::PathBuf,
    /// JSON path of the first use, for the error.
    pub(super) path: String,
    /// Uses (image backgrounds and layers) still to plan.
    pub(super) uses: usize,
    pub(super) state: ImageState,
}

pub(super) enum ImageState {
    Pending,
    /// The decoded original and where it is read again from.
    Ready(Arc<Original>, ImageData),
    /// Decoded ahead of its first use and broken: why, reported at that use.
    Broken(String),
    /// Broken, and reported.
    Failed,
}

impl Images {
    /// The decoded image and where it is read again from, decoding it now if needed (a failure is
    /// reported once). The next image planning will want is decoded at the same time, on
    /// another core: two originals at most are held at once.
    pub(super) fn get(&mut self, ck: &mut Checker, key: &str) -> Option<(Arc<Original>, ImageData)> {
        if matches!(self.entries.get(key)?.state, ImageState::Pending) {
            let limits = self.limits;
            let next = self
                .order
                .iter()
                .skip_while(|k| *k != key)
                .skip(1)
                .find(|k| self.entries.get(*k).is_some_and(|e| e.uses > 0 && matches!(e.state, ImageState::Pending)))
                .cloned();
            let cache = self.cache.clone();
            // The file is kept open, its bytes let go; with a cache shared between plans,
            // the cache holds the bytes (it keeps them anyway).
            let decode = |file: &std::path::Path| -> Result<(Arc<Original>, ImageData), String> {
                if let Some((original, bytes)) = cache.as_ref().and_then(|c| c.get(file)) {
                    return Ok((original, ImageData::Bytes(bytes)));
                }
                let (held, bytes) = ImageFile::open(file, limits)?;
                let original = Arc::new(Original::decode(&bytes, limits)?);
                if let Some(c) = &cache {
                    let bytes: Arc<[u8]> = Arc::from(bytes);
                    if c.put(file, (original.clone(), bytes.clone())) {
                        return Ok((original, ImageData::Bytes(bytes)));
                    }
                }
                Ok((original, ImageData::File(Arc::new(held))))
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
            ImageState::Ready(p, data) => Some((p.clone(), data.clone())),
            _ => None,
        }
    }

    /// One use planned; after the last, the original is released.
    pub(super) fn used(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.uses = e.uses.saturating_sub(1);
            if e.uses == 0 && matches!(e.state, ImageState::Ready(..)) {
                e.state = ImageState::Pending;
            }
        }
    }

    /// Decodes what was never used (its layer had other problems), so that every broken
    /// image is still reported.
    pub(super) fn check_unused(&mut self, ck: &mut Checker) {
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

/// The image for `key`, pre-scaled (once, Lanczos3) to the largest size it is ever drawn at
/// when that is well below the source size: per-frame bilinear sampling then reads a small
/// image and never aliases.
#[allow(clippy::too_many_arguments)]
pub(super) fn image_plan(
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
    let (tw, th) = if src.is_vector() {
        // A vector image is drawn at the largest size it is shown at, sharp at any zoom,
        // within the image limits.
        let most = (ctx.images.limits.max_pixels as f32 / (iw * ih).max(1.0)).sqrt();
        let s = scale.min(most).min(ctx.images.limits.max_side as f32 / iw.max(ih).max(1.0));
        (((iw * s).ceil() as u32).max(1), ((ih * s).ceil() as u32).max(1))
    } else if shrink {
        ((iw * scale).ceil() as u32 + 2, (ih * scale).ceil() as u32 + 2)
    } else {
        (src.width(), src.height())
    };
    let limits = ctx.images.limits;
    // Drawn near the start: the pixels made here are the first frames'. Drawn later: the
    // render's loader makes them shortly before, so planning lets them go at once (and
    // holds the pixels of the first second's images only, however many photos follow).
    let keep = ctx.scene_start < ctx.keep_before;
    let source = ctx
        .sources
        .entry((key.to_string(), tw, th))
        .or_insert_with(|| {
            // A photo without an alpha channel is opaque at any size: its pixels need not be
            // made to know that. (Not enlarged: an enlarged source's planes, made in strips
            // by the loader, could differ by a level from those of its whole pixels.)
            let photo = matches!(*src, Original::Rgb { .. }) && tw <= src.width() && th <= src.height();
            if !keep && photo {
                return Arc::new(ImageSource::unloaded(bytes, limits, (tw, th), true));
            }
            // The original's size, or one it shrinks to: never zero, never larger than it.
            let (w, h) = (src.width(), src.height());
            let pixels = match Arc::try_unwrap(src) {
                Ok(original) => original.into_pixmap_at(tw, th),
                Err(shared) => shared.pixmap_at(tw, th).or_else(|| shared.pixmap_at(w, h)),
            };
            let source = ImageSource::new(bytes, limits, pixels.unwrap_or_else(|| crate::pixels::pixmap_or_tiny(1, 1)));
            if !keep {
                source.release();
            }
            Arc::new(source)
        })
        .clone();
    ctx.image_uses.push((ctx.scene, source.clone()));
    Some(ImagePlan { source, fit, ken_burns: kb, corner_radius: radius })
}

/// Refuses a composition whose decoded images would take more than
/// `Limits::max_media_bytes`, from the files' headers alone, before decoding any. Files whose
/// headers cannot be read are left to the decoders to report. False when over. (Audio files
/// are decoded as the mix reads them, so they hold no samples.) The bytes the images take,
/// or `None` when over.
pub(super) fn media_budget(
    ck: &mut Checker,
    opts: &PlanOptions,
    images: &[(String, std::path::PathBuf)],
    video_keys: &HashSet<&str>,
) -> Option<u64> {
    let image_bytes: u64 = images
        .par_iter()
        .filter(|(k, _)| !video_keys.contains(k.as_str()))
        .filter_map(|(_, f)| Some((crate::media::image_dimensions(f).ok()?, crate::media::decoded_bytes(f)?)))
        // One over the per-image limits is refused on its own, naming its key.
        .filter(|&((w, h), _)| {
            let l = opts.limits.image;
            w <= l.max_side && h <= l.max_side && w as u64 * h as u64 <= l.max_pixels
        })
        .map(|(_, bytes)| bytes)
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

/// Decoded pictures a clip's decoder may hold at the file's size: its frame threads'
/// pictures in flight and the reference frames (measured: an 8000x8000 H.264 clip held
/// 2.3 on average; this bound leaves room for streams with more references).
const CLIP_SOURCE_PICTURES: u64 = 4;
/// Pictures at the drawn size waiting between a clip's decoder and the painters (the
/// render's queue, `CLIP_QUEUE`, and the one being drawn).
const CLIP_DRAWN_PICTURES: u64 = 3;
/// How long before its first frame a render opens a clip's decoder (two seconds, and the
/// painters' batches).
const CLIP_LEAD_SECONDS: f64 = 3.0;

/// Refuses clips whose decoders would together hold more than what is left of
/// `Limits::max_media_bytes` at any moment: each clip on screen (or about to be) holds
/// [`CLIP_SOURCE_PICTURES`] 4:2:0 pictures at the file's size and [`CLIP_DRAWN_PICTURES`]
/// at its drawn size. Sixty layers showing one 8000x8000 clip took 13 GB to render; they
/// are now refused here, naming the limit.
pub(super) fn clip_memory(ck: &mut Checker, ctx: &Ctx, clips: &[ClipPlan], fps: Fps) {
    let lead = fps.frames_for_seconds(CLIP_LEAD_SECONDS);
    let mut events: Vec<(u64, i128)> = Vec::with_capacity(clips.len() * 2);
    for c in clips {
        let Some((_, Ok(info))) = ctx.videos.get(&c.key) else { continue };
        let source = info.width as u64 * info.height as u64 * 3 / 2;
        let drawn = c.out.0 as u64 * c.out.1 as u64 * 3 / 2;
        let bytes = (source * CLIP_SOURCE_PICTURES + drawn * CLIP_DRAWN_PICTURES) as i128;
        events.push((c.start.saturating_sub(lead), bytes));
        events.push((c.start + c.len, -bytes));
    }
    // Ends before starts at the same frame: a clip that ends as another starts.
    events.sort_unstable_by_key(|&(f, b)| (f, b > 0));
    let (mut held, mut peak, mut at) = (0i128, 0i128, 0u64);
    for (f, b) in events {
        held += b;
        if held > peak {
            (peak, at) = (held, f);
        }
    }
    let left = ctx.media_left as i128;
    if peak > left {
        let mb = |b: i128| b as f64 / (1 << 20) as f64;
        let n = clips.iter().filter(|c| c.start.saturating_sub(lead) <= at && at < c.start + c.len).count();
        ck.err(
            "assets",
            format!(
                "the {n} clips playing around frame {at} would hold {:.1} MB of decoded pictures; with the images \
                 and texts, the limit (Limits::max_media_bytes) leaves {:.1} MB",
                mb(peak),
                mb(left)
            ),
        );
    }
}

pub(super) struct ClipFields {
    pub(super) trim_start: Option<f64>,
    pub(super) trim_end: Option<f64>,
    pub(super) rate: Option<f64>,
    pub(super) looped: Option<bool>,
    pub(super) volume: Option<f64>,
    /// The largest Ken Burns zoom the clip is drawn at (1 without one): it is decoded that
    /// much larger, so zooming in stays sharp.
    pub(super) zoom: f32,
}

/// Registers one use of a clip; returns its index in `Plan::clips`.
#[allow(clippy::too_many_arguments)] // the clip's box and time span, all needed
pub(super) fn clip(
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
        sx.max(sy) * m.zoom.max(1.0)
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
