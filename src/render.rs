//! The pipeline: frames rasterized in parallel (rayon), converted to YUV on the same
//! workers, handed in order through a bounded channel to the encoder thread.
//!
//! Memory is bounded by the batch size: at most two batches of frames exist at once (one
//! being rendered, one being encoded), whatever the video's length. YUV buffers come back
//! from the encoder through a free list, so steady state allocates nothing per frame.

use crate::encode::{AudioSettings, Mp4Writer, VideoSettings, Yuv420};
use crate::error::{Error, Problem, Result};
use crate::media::ClipDecoder;
use crate::plan::{DurationInfo, Plan};
use crate::raster::{render_frame, ClipFrames, Scratch};
use crate::timeline::clip_time;
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiny_skia::Pixmap;

/// Progress of a render, passed to the callback after every frame handed to the encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Frames encoded so far.
    pub frames_done: u64,
    /// Frames in the output.
    pub frames_total: u64,
    /// Time since the render started.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to render a video.
#[derive(Clone)]
pub struct RenderOptions {
    /// Final path of the MP4.
    pub output: PathBuf,
    /// Worker threads for rasterizing (0: one per core). Ignored when `pool` is given.
    pub threads: usize,
    /// A rayon pool owned by the caller, shared between renders if it likes.
    pub pool: Option<Arc<rayon::ThreadPool>>,
    /// x264 preset.
    pub preset: String,
    /// x264 CRF.
    pub crf: u8,
    /// Called after each frame.
    pub progress: Option<ProgressFn>,
    /// Set it to stop the render; the call then returns [`Error::Cancelled`] and leaves no file.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Normalize the mix to this EBU R128 integrated loudness (LUFS), e.g. -14 for social.
    pub loudness: Option<f64>,
    /// AAC bit rate of the main output, bit/s.
    pub audio_bitrate: usize,
}

impl RenderOptions {
    /// Defaults: all cores, `veryfast`, CRF 20.
    pub fn new(output: impl Into<PathBuf>) -> RenderOptions {
        RenderOptions {
            output: output.into(),
            threads: 0,
            pool: None,
            preset: "veryfast".into(),
            crf: 20,
            progress: None,
            cancel: None,
            loudness: None,
            audio_bitrate: 192_000,
        }
    }
}

impl std::fmt::Debug for RenderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("output", &self.output)
            .field("threads", &self.threads)
            .field("preset", &self.preset)
            .field("crf", &self.crf)
            .finish()
    }
}

/// One file a render wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputReport {
    /// Where.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// Frames written.
    pub frames: u64,
    /// Codec.
    pub codec: String,
}

/// What a render did.
#[derive(Debug, Clone)]
pub struct RenderReport {
    /// Files written.
    pub outputs: Vec<OutputReport>,
    /// Target, planned and rendered durations and what the policy did.
    pub duration: DurationInfo,
    /// Frames rendered.
    pub frames: u64,
    /// Warnings from planning.
    pub warnings: Vec<Problem>,
    /// Wall time of the render (after planning).
    pub elapsed: Duration,
}

thread_local! {
    static WORKER: RefCell<Option<(Pixmap, Scratch)>> = const { RefCell::new(None) };
}

/// Renders frame `frame` into `yuv` on the calling thread, reusing that thread's buffers.
fn frame_to_yuv(plan: &Plan, frame: u64, yuv: &mut Yuv420, clips: ClipFrames) {
    WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let fits = matches!(&*slot, Some((p, _)) if p.width() == plan.width && p.height() == plan.height);
        if !fits {
            *slot = Pixmap::new(plan.width, plan.height).map(|p| (p, Scratch::new(plan.width, plan.height)));
        }
        if let Some((pixmap, scratch)) = slot.as_mut() {
            render_frame(plan, frame, &mut pixmap.as_mut(), scratch, clips);
            yuv.fill_from_rgba(pixmap.data());
        }
    })
}

/// Renders one frame to straight RGBA (opaque).
pub fn render_still(plan: &Plan, frame: u64) -> image::RgbaImage {
    let mut pixmap = crate::raster::pixmap_or_tiny(plan.width, plan.height);
    let mut scratch = Scratch::new(plan.width, plan.height);
    let frame = frame.min(plan.frames.saturating_sub(1));
    // Clips: open each visible one and decode the frame shown (one seek).
    let clips: Vec<Option<Arc<Pixmap>>> = plan
        .clips
        .iter()
        .map(|c| {
            let t = crate::timeline::clip_time(plan, c, frame)?;
            ClipDecoder::open(&c.path, c.out.0, c.out.1).ok()?.frame_at(t)
        })
        .collect();
    render_frame(plan, frame, &mut pixmap.as_mut(), &mut scratch, &clips);
    let (w, h) = (pixmap.width(), pixmap.height());
    // Frames are opaque, so premultiplied and straight RGBA are the same bytes.
    image::RgbaImage::from_raw(w, h, pixmap.take()).unwrap_or_else(|| image::RgbaImage::new(w, h))
}

/// Renders the plan to an MP4.
pub fn render(plan: &Plan, opts: &RenderOptions) -> Result<RenderReport> {
    let start = Instant::now();
    if opts.crf > 51 {
        return Err(Error::Option { name: "crf", message: format!("expected 0..=51, found {}", opts.crf) });
    }
    const PRESETS: &[&str] =
        &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
    if !PRESETS.contains(&opts.preset.as_str()) {
        return Err(Error::Option {
            name: "preset",
            message: format!("expected one of {}, found {:?}", PRESETS.join(", "), opts.preset),
        });
    }
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let pool = match &opts.pool {
        Some(p) => p.clone(),
        None => Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.threads)
                .thread_name(|i| format!("reel-raster-{i}"))
                .build()
                .map_err(|e| Error::Encode(format!("starting worker threads: {e}")))?,
        ),
    };
    let settings = VideoSettings {
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
        preset: opts.preset.clone(),
        crf: opts.crf,
        profile: "high".into(),
        level: None,
        gop: None,
        max_kbps: None,
        threads: 0,
    };
    if let Some(l) = opts.loudness {
        if !(-70.0..=0.0).contains(&l) {
            return Err(Error::Option { name: "loudness", message: format!("expected -70..=0 LUFS, found {l}") });
        }
    }
    // The soundtrack: mixed once, before frame 0 (pure; cannot fail).
    let audio = (!plan.audio.is_empty()).then(|| AudioSettings {
        samples: Arc::new(crate::audio::mix(
            &plan.audio,
            plan.fps.sample_at(plan.frames, crate::audio::RATE),
            opts.loudness,
        )),
        bitrate: opts.audio_bitrate,
    });
    let writer = Mp4Writer::create(&opts.output, &settings, audio.as_ref())?;
    let total = plan.frames;
    let batch = (pool.current_num_threads() * 2).max(2) as u64;
    let (tx, rx) = crossbeam_channel::bounded::<Yuv420>(batch as usize);
    let (free_tx, free_rx) = crossbeam_channel::unbounded::<Yuv420>();
    let cancelled = || opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));

    let result = std::thread::scope(|scope| -> Result<u64> {
        let encoder = scope.spawn(move || -> Result<(Mp4Writer, u64)> {
            let mut writer = writer;
            let mut n = 0;
            for f in rx {
                writer.write(&f)?;
                n += 1;
                if let Some(p) = &opts.progress {
                    p(Progress { frames_done: n, frames_total: total, elapsed: start.elapsed() });
                }
                let _ = free_tx.send(f);
            }
            Ok((writer, n))
        });
        // One decoder thread per clip, running ahead of the rasterizer: it sends the picture
        // of every output frame where the clip is visible, in order, through a bounded channel.
        let clip_rx: Vec<crossbeam_channel::Receiver<Option<Arc<Pixmap>>>> = plan
            .clips
            .iter()
            .map(|c| {
                let (tx, rx) = crossbeam_channel::bounded(batch as usize);
                scope.spawn(move || {
                    let mut dec = ClipDecoder::open(&c.path, c.out.0, c.out.1).ok();
                    for f in 0..total {
                        if let Some(t) = clip_time(plan, c, f) {
                            let pic = dec.as_mut().and_then(|d| d.frame_at(t));
                            if tx.send(pic).is_err() {
                                return; // the render stopped
                            }
                        }
                    }
                });
                rx
            })
            .collect();
        let mut next = 0u64;
        let mut failed = false;
        while next < total && !cancelled() {
            let end = (next + batch).min(total);
            let inputs: Vec<Vec<Option<Arc<Pixmap>>>> = (next..end)
                .map(|f| {
                    plan.clips
                        .iter()
                        .zip(&clip_rx)
                        .map(|(c, rx)| clip_time(plan, c, f).and_then(|_| rx.recv().ok().flatten()))
                        .collect()
                })
                .collect();
            let frames: Vec<Yuv420> = pool.install(|| {
                (next..end)
                    .into_par_iter()
                    .map(|i| {
                        let mut yuv = free_rx.try_recv().unwrap_or_else(|_| Yuv420::new(plan.width, plan.height));
                        frame_to_yuv(plan, i, &mut yuv, &inputs[(i - next) as usize]);
                        yuv
                    })
                    .collect()
            });
            for f in frames {
                if tx.send(f).is_err() {
                    failed = true; // the encoder stopped: its error is reported below
                    break;
                }
            }
            if failed {
                break;
            }
            next = end;
        }
        drop(tx);
        drop(clip_rx);
        let (writer, n) = encoder.join().map_err(|_| Error::Encode("the encoder thread panicked".into()))??;
        if cancelled() {
            drop(writer); // removes the temporary file
            return Err(Error::Cancelled);
        }
        writer.finish()?;
        Ok(n)
    })?;

    let bytes = std::fs::metadata(&opts.output).map(|m| m.len()).unwrap_or(0);
    Ok(RenderReport {
        outputs: vec![OutputReport {
            path: opts.output.clone(),
            bytes,
            width: plan.width,
            height: plan.height,
            frames: result,
            codec: "h264".into(),
        }],
        duration: plan.duration.clone(),
        frames: result,
        warnings: plan.warnings.clone(),
        elapsed: start.elapsed(),
    })
}

/// Writes a frame as PNG, atomically (temporary name, then rename).
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
