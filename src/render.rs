//! The pipeline: frames rasterized in parallel (rayon), converted to YUV on the same
//! workers, handed in order through a bounded channel to the encoder thread.
//!
//! Memory is bounded by the batch size: at most two batches of frames exist at once (one
//! being rendered, one being encoded), whatever the video's length. YUV buffers come back
//! from the encoder through a free list, so steady state allocates nothing per frame.

use crate::encode::{AudioSettings, Mp4Writer, Soundtrack, VideoSettings, Yuv420};
use crate::error::{Error, Problem, Result};
use crate::media::{ClipDecoder, ClipPicture};
use crate::plan::{ClipPlan, DurationInfo, Plan};
use crate::raster::{render_frame, render_frame_yuv, resize_planes, ClipFrames, Scratch};
use crate::timeline::clip_time;
use crate::variants::{self, Variants};
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Extra outputs (web copy, preview, posters); all on by default.
    pub variants: Variants,
    /// Replaces the web copy's encoder settings (default [`variants::web_settings`]).
    pub web_settings: Option<VideoSettings>,
    /// Replaces the preview's encoder settings (default [`variants::preview_settings`]).
    pub preview_settings: Option<VideoSettings>,
    /// JPEG quality of the posters, 1..=100 (default 85).
    pub poster_quality: u8,
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
            variants: Variants::default(),
            web_settings: None,
            preview_settings: None,
            poster_quality: 85,
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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutputReport {
    /// Where.
    pub path: PathBuf,
    /// `main`, `web`, `preview`, `poster`.
    pub kind: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// Frames written (1 for a poster).
    pub frames: u64,
    /// Duration read back from the written file, seconds (0 for a poster).
    pub duration_s: f64,
    /// Codecs (`h264+aac`, `h264`, `jpeg`).
    pub codec: String,
}

/// Seconds spent per stage, summed over threads (so they can exceed the wall time).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    /// Painting frames (tiny-skia).
    pub raster_s: f64,
    /// RGBA to YUV and variant resizing.
    pub convert_s: f64,
    /// Waiting on libx264 and the muxers, per output thread.
    pub encode_s: f64,
    /// Decoding video clips (on their own threads).
    pub decode_s: f64,
    /// The soundtrack: measuring its loudness (when asked) before the first frame, then
    /// mixing it and encoding it to AAC on each output's thread.
    pub audio_s: f64,
    /// Posters (resize and JPEG).
    pub posters_s: f64,
}

/// What a render did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenderReport {
    /// Files written.
    pub outputs: Vec<OutputReport>,
    /// Target, planned and rendered durations and what the policy did.
    pub duration: DurationInfo,
    /// Frames rendered.
    pub frames: u64,
    /// Rendered duration in seconds (frames / fps, exact).
    pub rendered_s: f64,
    /// Warnings from planning.
    pub warnings: Vec<Problem>,
    /// Wall time of the render (after planning), seconds.
    pub elapsed_s: f64,
    /// Time per stage.
    pub stages: StageTimes,
    /// Peak resident memory of the process, bytes (Linux), if known.
    pub peak_rss_bytes: Option<u64>,
}

/// Lowers the calling thread's scheduling priority (nice +10, Linux). Our raster
/// workers run ahead of the encoder through a bounded queue, so they have slack; libx264's
/// threads (the bottleneck) then get a core first whenever both want one.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; failure leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Peak resident set size of this process (VmHWM), Linux only.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What the workers produce for one output frame: YUV for every video output.
struct FrameSet {
    main: Yuv420,
    web: Option<Yuv420>,
    preview: Option<Yuv420>,
}

/// Per-worker buffers, reused from frame to frame.
struct Worker {
    canvas: Pixmap,
    scratch: Scratch,
    web: Option<Pixmap>,
    preview: Option<Pixmap>,
    resizer: fast_image_resize::Resizer,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// Output sizes of one render: main, and the web and preview copies when they differ.
#[derive(Clone, Copy)]
struct Sizes {
    web: Option<(u32, u32)>,
    preview: Option<(u32, u32)>,
}

fn resize_into(resizer: &mut fast_image_resize::Resizer, src: &Pixmap, dst: &mut Pixmap) {
    use fast_image_resize as fr;
    let (Ok(s), Ok(mut d)) = (
        fr::images::ImageRef::new(src.width(), src.height(), src.data(), fr::PixelType::U8x4),
        fr::images::Image::from_slice_u8(dst.width(), dst.height(), dst.data_mut(), fr::PixelType::U8x4),
    ) else {
        return;
    };
    // Opaque frames: no alpha handling needed. Bilinear-sized convolution is plenty for a
    // downscale of at most 3x and costs a third of Lanczos3.
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)).use_alpha(false);
    let _ = resizer.resize(&s, &mut d, &opts);
}

/// Renders frame `frame` on the calling thread into `set`, reusing that thread's buffers.
/// Returns (raster, convert) nanoseconds; fills `poster` when asked.
fn render_into(
    plan: &Plan,
    frame: u64,
    set: &mut FrameSet,
    sizes: Sizes,
    clips: ClipFrames,
    poster: Option<&Mutex<Option<Pixmap>>>,
) -> (u64, u64) {
    WORKER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let fits = matches!(&*slot, Some(w) if w.canvas.width() == plan.width && w.canvas.height() == plan.height
            && w.web.as_ref().map(|p| (p.width(), p.height())) == sizes.web
            && w.preview.as_ref().map(|p| (p.width(), p.height())) == sizes.preview);
        if !fits {
            *slot = Pixmap::new(plan.width, plan.height).map(|canvas| Worker {
                canvas,
                scratch: Scratch::new(plan.width, plan.height),
                web: sizes.web.and_then(|(w, h)| Pixmap::new(w, h)),
                preview: sizes.preview.and_then(|(w, h)| Pixmap::new(w, h)),
                resizer: fast_image_resize::Resizer::new(),
            });
        }
        let Some(w) = slot.as_mut() else { return (0, 0) };
        let t0 = Instant::now();
        // Photo and clip frames are composed straight in 4:2:0. The poster frame too, so
        // the videos are the same bytes with or without posters; the poster is drawn once
        // more, in RGBA.
        if render_frame_yuv(plan, frame, &mut set.main, &mut w.scratch, clips) {
            let t1 = Instant::now();
            let copies = [set.web.as_mut(), set.preview.as_mut()];
            if copies.into_iter().flatten().all(|yuv| resize_planes(&set.main, yuv)) {
                let t2 = Instant::now();
                if let Some(p) = poster {
                    render_frame(plan, frame, &mut w.canvas.as_mut(), &mut w.scratch, clips);
                    if let Ok(mut g) = p.lock() {
                        *g = Some(w.canvas.clone());
                    }
                }
                return ((t1 - t0 + t2.elapsed()).as_nanos() as u64, (t2 - t1).as_nanos() as u64);
            }
        }
        render_frame(plan, frame, &mut w.canvas.as_mut(), &mut w.scratch, clips);
        let t1 = Instant::now();
        set.main.fill_from_rgba(w.canvas.data());
        if let (Some(px), Some(yuv)) = (w.web.as_mut(), set.web.as_mut()) {
            resize_into(&mut w.resizer, &w.canvas, px);
            yuv.fill_from_rgba(px.data());
        }
        if let (Some(px), Some(yuv)) = (w.preview.as_mut(), set.preview.as_mut()) {
            resize_into(&mut w.resizer, &w.canvas, px);
            yuv.fill_from_rgba(px.data());
        }
        if let Some(p) = poster {
            if let Ok(mut g) = p.lock() {
                *g = Some(w.canvas.clone());
            }
        }
        let t2 = Instant::now();
        ((t1 - t0).as_nanos() as u64, (t2 - t1).as_nanos() as u64)
    })
}

/// Renders one frame to straight RGBA (opaque). Each call starts afresh: its buffers are
/// made and each visible clip is opened and decoded for that picture alone (the fastest
/// way to one picture). To render several, keep a [`Stills`].
pub fn render_still(plan: &Plan, frame: u64) -> image::RgbaImage {
    let mut stills = Stills::with_opener(plan, ClipDecoder::open_yuv_for_still);
    stills.render(frame);
    stills.image
}

/// How a [`Stills`] opens a clip's decoder: its path and the size it is drawn at.
type ClipOpener = fn(&Path, u32, u32) -> std::result::Result<ClipDecoder, String>;

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

fn nanos(n: &AtomicU64) -> f64 {
    n.load(Ordering::Relaxed) as f64 / 1e9
}

/// Renders the plan to `NAME.mp4` and, per [`RenderOptions::variants`], the web copy, the
/// preview and the posters, all fed from the same frames and the same audio mix.
pub fn render(plan: &Plan, opts: &RenderOptions) -> Result<RenderReport> {
    let start = Instant::now();
    let settings = OutputSettings::check(plan, opts)?;
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let pool = match &opts.pool {
        Some(p) => p.clone(),
        None => Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.threads)
                .thread_name(|i| format!("reel-raster-{i}"))
                .start_handler(|_| lower_priority())
                .build()
                .map_err(|e| Error::Encode(format!("starting worker threads: {e}")))?,
        ),
    };

    let t_audio = Instant::now();
    // The soundtrack: mixed as it is encoded, a few milliseconds at a time, so its memory
    // does not grow with the video's length (with a loudness target, one pass measures first).
    let mix = (!plan.audio.is_empty()).then(|| {
        let frames = plan.fps.sample_at(plan.frames, crate::audio::RATE);
        crate::audio::MixSpec::new(Arc::new(plan.audio.clone()), frames, opts.loudness)
    });
    let audio_s = t_audio.elapsed().as_secs_f64();
    let writers = settings.open_writers(opts, mix.as_ref())?;

    let run = Run {
        plan,
        opts,
        start,
        // The web copy reuses the main frames when it has the same size.
        sizes: Sizes {
            web: settings.web.as_ref().map(|s| (s.width, s.height)).filter(|s| *s != (plan.width, plan.height)),
            preview: settings.preview.as_ref().map(|s| (s.width, s.height)),
        },
        // Frames rendered together, one per worker; also each encoder's queue. Two per
        // worker held 3 MB frame sets longer and was no faster: on 2 cores W1 peaked at 439
        // MB with two per worker and 421 MB with one, W2 387 / 376 MB, W3 466 / 435 MB, at
        // the same times (alternating runs; libx264 keeps both cores busy while a batch
        // finishes).
        batch: pool.current_num_threads().max(2) as u64,
        poster_frame: opts.variants.posters.then_some(plan.poster_frame),
        poster: Mutex::new(None),
        clip_fault: Mutex::new(None),
        reached: AtomicU64::new(0),
        frames_over: AtomicBool::new(false),
        raster_ns: AtomicU64::new(0),
        convert_ns: AtomicU64::new(0),
        encode_ns: AtomicU64::new(0),
        decode_ns: AtomicU64::new(0),
    };
    let finished = std::thread::scope(|scope| run.stream(scope, &pool, writers))?;
    if run.cancelled() {
        return Err(Error::Cancelled); // the writers are dropped unfinished: no files remain
    }
    if let Some(e) = run.clip_fault.lock().ok().and_then(|mut g| g.take()) {
        return Err(e); // likewise: the unfinished writers remove their temporary files
    }

    // Finish every output (trailers, faststart) and write the posters under temporary
    // names, then rename them all: every output appears, or none does.
    let mut outputs = Vec::new();
    let mut pending = Vec::new();
    let mut soundtrack_s = 0.0;
    for (kind, path, writer, frames) in finished {
        let t = Instant::now();
        let (width, height) = writer.size();
        // Up to the flush, which is a frame of AAC at most.
        soundtrack_s += writer.audio_seconds();
        pending.push(writer.finish_pending()?);
        run.encode_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let codec = if mix.is_some() { "h264+aac" } else { "h264" };
        outputs.push(OutputReport {
            path,
            kind: kind.into(),
            bytes: 0,
            width,
            height,
            frames,
            duration_s: 0.0,
            codec: codec.into(),
        });
    }
    let t_posters = Instant::now();
    if run.poster_frame.is_some() {
        if let Some(frame) = run.poster.lock().ok().and_then(|mut g| g.take()) {
            for (file, width, height) in variants::write_posters(&opts.output, &frame, opts.poster_quality)? {
                let (kind, codec) = ("poster".into(), "jpeg".into());
                let path = file.target().to_path_buf();
                outputs.push(OutputReport { path, kind, bytes: 0, width, height, frames: 1, duration_s: 0.0, codec });
                pending.push(file);
            }
        }
    }
    if run.cancelled() {
        return Err(Error::Cancelled); // the pending files are removed as they drop
    }
    crate::encode::PendingFile::commit_all(pending)?;
    let posters_s = t_posters.elapsed().as_secs_f64();
    for o in &mut outputs {
        o.bytes = std::fs::metadata(&o.path).map(|m| m.len()).unwrap_or(0);
        if o.kind != "poster" {
            o.duration_s = crate::media::container_duration(&o.path).unwrap_or(0.0);
        }
    }
    let frames = outputs.first().map(|o| o.frames).unwrap_or(0);
    Ok(RenderReport {
        outputs,
        duration: plan.duration.clone(),
        frames,
        rendered_s: frames as f64 * plan.fps.den as f64 / plan.fps.num as f64,
        warnings: plan.warnings.clone(),
        elapsed_s: start.elapsed().as_secs_f64(),
        stages: StageTimes {
            raster_s: nanos(&run.raster_ns),
            convert_s: nanos(&run.convert_ns),
            encode_s: (nanos(&run.encode_ns) - soundtrack_s).max(0.0),
            decode_s: nanos(&run.decode_ns),
            audio_s: audio_s + soundtrack_s,
            posters_s,
        },
        peak_rss_bytes: peak_rss(),
    })
}

/// The encoder settings of a render's video outputs, checked against the plan.
struct OutputSettings {
    main: VideoSettings,
    web: Option<VideoSettings>,
    preview: Option<VideoSettings>,
}

/// An open output: its kind (`main`, `web`, `preview`), final path and writer.
type Output = (&'static str, PathBuf, Mp4Writer);
/// An output after its last frame, with the frames it holds.
type Written = (&'static str, PathBuf, Mp4Writer, u64);

impl OutputSettings {
    /// Every option a render takes, checked before anything is written.
    fn check(plan: &Plan, opts: &RenderOptions) -> Result<OutputSettings> {
        if opts.crf > 51 {
            return Err(Error::Option { name: "crf", message: format!("expected 0..=51, found {}", opts.crf) });
        }
        const PRESETS: &[&str] = &[
            "ultrafast",
            "superfast",
            "veryfast",
            "faster",
            "fast",
            "medium",
            "slow",
            "slower",
            "veryslow",
            "placebo",
        ];
        if !PRESETS.contains(&opts.preset.as_str()) {
            return Err(Error::Option {
                name: "preset",
                message: format!("expected one of {}, found {:?}", PRESETS.join(", "), opts.preset),
            });
        }
        if let Some(l) = opts.loudness {
            if !(-70.0..=0.0).contains(&l) {
                return Err(Error::Option { name: "loudness", message: format!("expected -70..=0 LUFS, found {l}") });
            }
        }
        if !(1..=100).contains(&opts.poster_quality) {
            return Err(Error::Option {
                name: "poster_quality",
                message: format!("expected 1..=100, found {}", opts.poster_quality),
            });
        }
        let main = VideoSettings {
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
        let web = opts.variants.web.then(|| {
            opts.web_settings
                .clone()
                .unwrap_or_else(|| variants::web_settings(plan.width, plan.height, plan.fps, &opts.preset))
        });
        let preview = opts.variants.preview.then(|| {
            opts.preview_settings
                .clone()
                .unwrap_or_else(|| variants::preview_settings(plan.width, plan.height, plan.fps, &opts.preset))
        });
        for (name, s) in [("web_settings", &web), ("preview_settings", &preview)] {
            let Some(s) = s else { continue };
            if s.width < 16 || s.height < 16 || s.width % 2 == 1 || s.height % 2 == 1 || s.fps != plan.fps || s.crf > 51
            {
                return Err(Error::Option {
                    name,
                    message: format!(
                        "expected even sizes >= 16, the plan's fps and CRF 0..=51, found {}x{} at {:?}, CRF {}",
                        s.width, s.height, s.fps, s.crf
                    ),
                });
            }
        }
        let settings = OutputSettings { main, web, preview };
        settings.check_paths(plan, opts)?;
        Ok(settings)
    }

    /// Every file this render will write: the main output, then the variants asked for.
    fn paths(&self, opts: &RenderOptions) -> Vec<PathBuf> {
        let mut out = vec![opts.output.clone()];
        if self.web.is_some() {
            out.push(variants::sibling(&opts.output, "_web.mp4"));
        }
        if self.preview.is_some() {
            out.push(variants::sibling(&opts.output, "_preview.mp4"));
        }
        if opts.variants.posters {
            out.push(variants::sibling(&opts.output, "_400w.jpg"));
            out.push(variants::sibling(&opts.output, "_800w.jpg"));
        }
        out
    }

    /// Refuses, before any work, an output that would replace something other than a
    /// regular file (a folder, a device node, a link) or a file the render reads (an
    /// asset, by any name: compared by device and inode).
    fn check_paths(&self, plan: &Plan, opts: &RenderOptions) -> Result<()> {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        for path in self.paths(opts) {
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if !meta.file_type().is_file() {
                return Err(Error::Option {
                    name: "output",
                    message: format!(
                        "{} exists and is not a regular file (a folder, a device or a link); reel will not replace it",
                        path.display()
                    ),
                });
            }
            #[cfg(unix)]
            for input in &plan.inputs {
                if std::fs::metadata(input).is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino())) {
                    return Err(Error::Option {
                        name: "output",
                        message: format!(
                            "{} is an asset this composition reads; choose another output name",
                            path.display()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Opens every writer before frame 0, so a bad output folder fails before any work.
    fn open_writers(&self, opts: &RenderOptions, mix: Option<&crate::audio::MixSpec>) -> Result<Vec<Output>> {
        let audio = |bitrate: usize| mix.map(|m| AudioSettings { soundtrack: Soundtrack::Mix(m.clone()), bitrate });
        let mut writers = vec![(
            "main",
            opts.output.clone(),
            Mp4Writer::create(&opts.output, &self.main, audio(opts.audio_bitrate).as_ref())?,
        )];
        for (kind, settings, suffix, bitrate) in
            [("web", &self.web, "_web.mp4", 128_000), ("preview", &self.preview, "_preview.mp4", 96_000)]
        {
            if let Some(s) = settings {
                let p = variants::sibling(&opts.output, suffix);
                writers.push((kind, p.clone(), Mp4Writer::create(&p, s, audio(bitrate).as_ref())?));
            }
        }
        Ok(writers)
    }
}

/// What the threads of one render share: the plan and options, the frame the workers have
/// reached, what went wrong, and the time spent per stage.
struct Run<'a> {
    plan: &'a Plan,
    opts: &'a RenderOptions,
    start: Instant,
    sizes: Sizes,
    /// Frames rendered together, and the length of each encoder's queue.
    batch: u64,
    poster_frame: Option<u64>,
    poster: Mutex<Option<Pixmap>>,
    /// The first clip that failed while rendering.
    clip_fault: Mutex<Option<Error>>,
    /// The first frame of the batch being rendered.
    reached: AtomicU64,
    /// Whether the frame loop is over.
    frames_over: AtomicBool,
    raster_ns: AtomicU64,
    convert_ns: AtomicU64,
    encode_ns: AtomicU64,
    decode_ns: AtomicU64,
}

impl<'a> Run<'a> {
    fn cancelled(&self) -> bool {
        self.opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Streams every frame to the writers: an encoder thread per output, a decoder thread
    /// per clip and the image loader, around the frame loop on this thread. Returns the
    /// writers with their frame counts, or the first encoder's error.
    fn stream<'s>(
        &'s self,
        scope: &'s std::thread::Scope<'s, '_>,
        pool: &rayon::ThreadPool,
        writers: Vec<Output>,
    ) -> Result<Vec<Written>> {
        // Frame sets the encoders are done with come back through `free`.
        let (free_tx, free_rx) = crossbeam_channel::unbounded::<FrameSet>();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for output in writers {
            let (tx, rx) = crossbeam_channel::bounded::<Arc<FrameSet>>(self.batch as usize);
            senders.push(tx);
            let free_tx = free_tx.clone();
            handles.push(scope.spawn(move || self.encode(output, rx, free_tx)));
        }
        drop(free_tx);
        let clip_rx: Vec<_> = self
            .plan
            .clips
            .iter()
            .map(|c| {
                let (tx, rx) = crossbeam_channel::bounded(CLIP_QUEUE);
                scope.spawn(move || self.decode_clip(c, tx));
                rx
            })
            .collect();
        if !self.plan.images.is_empty() {
            scope.spawn(|| self.load_images());
        }
        self.frame_loop(pool, &senders, &clip_rx, &free_rx);
        self.frames_over.store(true, Ordering::Relaxed);
        drop(senders);
        drop(clip_rx);
        let mut out = Vec::new();
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(w)) => out.push(w),
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(_) => first_err = first_err.or(Some(Error::Encode("an encoder thread panicked".into()))),
            }
        }
        match first_err {
            Some(e) => Err(e), // dropping the writers removes their temporary files
            None => Ok(out),
        }
    }

    /// An encoder thread: takes each shared frame set in order, encodes its own picture, and
    /// returns the set's buffers to the free list when it is the last to let go.
    fn encode(
        &self,
        (kind, path, mut writer): Output,
        rx: crossbeam_channel::Receiver<Arc<FrameSet>>,
        free_tx: crossbeam_channel::Sender<FrameSet>,
    ) -> Result<Written> {
        let mut n = 0;
        let pick: fn(&FrameSet) -> &Yuv420 = match kind {
            "web" => |s| s.web.as_ref().unwrap_or(&s.main),
            "preview" => |s| s.preview.as_ref().unwrap_or(&s.main),
            _ => |s| &s.main,
        };
        for set in rx {
            let t = Instant::now();
            writer.write_shared(&set, pick)?;
            self.encode_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            n += 1;
            if let (Some(p), "main") = (&self.opts.progress, kind) {
                p(Progress { frames_done: n, frames_total: self.plan.frames, elapsed: self.start.elapsed() });
            }
            if let Ok(set) = Arc::try_unwrap(set) {
                let _ = free_tx.send(set);
            }
        }
        Ok((kind, path, writer, n))
    }

    /// A clip's decoder thread, running ahead of the rasterizer: it sends the picture of
    /// every output frame where the clip is visible, in order.
    fn decode_clip(&self, c: &ClipPlan, tx: crossbeam_channel::Sender<Option<ClipPicture>>) {
        let (plan, total) = (self.plan, self.plan.frames);
        // A clip that fails mid-render stops the render with the asset and the time:
        // dropping `tx` ends the channel, the frame loop sees the fault.
        let fail = |file_t: Option<f64>, frame: u64, what: String| {
            let at = file_t.map(|t| format!(" at {t:.3} s into the file")).unwrap_or_default();
            let message = format!(
                "asset {:?}: {what}{at} (found while rendering output frame {frame}); the render stopped and wrote nothing",
                c.key
            );
            if let Ok(mut g) = self.clip_fault.lock() {
                g.get_or_insert(Error::invalid(format!("{}.asset", c.path_json), message));
            }
        };
        // Open the decoder shortly before the clip is first seen and drop it after its last
        // frame: only the clips around the current frame hold decoders and queued pictures
        // (W3 opened six 4K/60 fps decoders at once).
        let Some(first) = (0..total).find(|&f| clip_time(plan, c, f).is_some()) else { return };
        let last = (first..total).rev().find(|&f| clip_time(plan, c, f).is_some()).unwrap_or(first);
        let lead = plan.fps.frames_for_seconds(2.0) + 2 * self.batch;
        while self.reached.load(Ordering::Relaxed) + lead < first {
            if self.frames_over.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut dec = match ClipDecoder::open_yuv(&c.path, c.out.0, c.out.1) {
            Ok(d) => d,
            Err(why) => return fail(None, first, why),
        };
        for f in first..=last {
            if let Some(t) = clip_time(plan, c, f) {
                let t0 = Instant::now();
                let pic = dec.picture_at(t);
                self.decode_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                if let Some((at, what)) = dec.fault.take() {
                    return fail(Some(at), f, what);
                }
                if tx.send(pic).is_err() {
                    return; // the render stopped
                }
            }
        }
    }

    /// The image loader: image pixels are loaded a little before the first frame that shows
    /// them and released after the last, so a render holds the images around the current
    /// frame only.
    fn load_images(&self) {
        let plan = self.plan;
        let lead = plan.fps.frames_for_seconds(1.0) + 2 * self.batch;
        let last = plan.timeline_end.saturating_sub(1);
        loop {
            let over = self.frames_over.load(Ordering::Relaxed);
            // Past the timeline's end the last frame holds (policy `pad`).
            let from = self.reached.load(Ordering::Relaxed).min(last);
            let to = (from + lead).min(last) + 1;
            for u in &plan.images {
                let soon = !over && u.spans.iter().any(|&(a, b)| a < to && from < b);
                if soon && !u.source.is_loaded() {
                    // Opaque images are drawn from 4:2:0 planes where they cover the frame
                    // (photo backgrounds): make those here, off the workers.
                    if u.source.planes().is_none() {
                        let _ = u.source.pixmap();
                    }
                } else if !soon && u.source.is_loaded() {
                    u.source.release();
                }
            }
            if over {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Renders the frames a batch at a time on the workers and hands each batch, in order,
    /// to every encoder; stops early when cancelled, when a clip fails or an encoder stops.
    fn frame_loop(
        &self,
        pool: &rayon::ThreadPool,
        senders: &[crossbeam_channel::Sender<Arc<FrameSet>>],
        clip_rx: &[crossbeam_channel::Receiver<Option<ClipPicture>>],
        free_rx: &crossbeam_channel::Receiver<FrameSet>,
    ) {
        let (plan, sizes) = (self.plan, self.sizes);
        let new_set = || FrameSet {
            main: Yuv420::new(plan.width, plan.height),
            web: sizes.web.map(|(w, h)| Yuv420::new(w, h)),
            preview: sizes.preview.map(|(w, h)| Yuv420::new(w, h)),
        };
        let mut next = 0u64;
        while next < plan.frames && !self.cancelled() {
            let end = (next + self.batch).min(plan.frames);
            self.reached.store(next, Ordering::Relaxed);
            let inputs: Vec<Vec<Option<ClipPicture>>> = (next..end)
                .map(|f| {
                    plan.clips
                        .iter()
                        .zip(clip_rx)
                        .map(|(c, rx)| clip_time(plan, c, f).and_then(|_| rx.recv().ok().flatten()))
                        .collect()
                })
                .collect();
            if self.clip_fault.lock().map(|g| g.is_some()).unwrap_or(true) {
                return; // reported by `render`
            }
            let sets: Vec<FrameSet> = pool.install(|| {
                (next..end)
                    .into_par_iter()
                    .map(|i| {
                        let mut set = free_rx.try_recv().unwrap_or_else(|_| new_set());
                        let want_poster = (self.poster_frame == Some(i)).then_some(&self.poster);
                        let (r, c) = render_into(plan, i, &mut set, sizes, &inputs[(i - next) as usize], want_poster);
                        self.raster_ns.fetch_add(r, Ordering::Relaxed);
                        self.convert_ns.fetch_add(c, Ordering::Relaxed);
                        set
                    })
                    .collect()
            });
            for set in sets {
                let set = Arc::new(set);
                for tx in senders {
                    if tx.send(set.clone()).is_err() {
                        return; // an encoder stopped: its error is reported by `stream`
                    }
                }
            }
            next = end;
        }
    }
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

/// Pictures a clip decoder may have ready beyond the batch being rendered. Each is a
/// decoded frame at its drawn size (8 MB at 1080p); the decoder's own frame threads keep
/// it ahead, so a short queue costs no speed (measured on W1 and W3).
const CLIP_QUEUE: usize = 2;
