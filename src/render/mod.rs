//! Rendering a plan: every output from one pass over the frames.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`render()`]: checks, the writers, the run, committing the outputs, the report |
//! | `options.rs` | [`RenderOptions`], [`Progress`], and the checks of every option and output path before work |
//! | `pipeline.rs` | the frame loop, the encoder threads, a decoder thread per clip, the image loader |
//! | `stills.rs` | [`render_still`], [`Stills`] sessions, [`write_png`] |
//! | `stitch.rs` | [`stitch()`]: segments of a chunked render joined into the outputs |
//!
//! Frames are rasterized in parallel (rayon), converted to YUV on the same workers, and
//! handed in order through a bounded channel to each encoder thread.
//!
//! Memory is bounded by the batch size: at most two batches of frames exist at once (one
//! being rendered, one being encoded), whatever the video's length. YUV buffers come back
//! from the encoder through a free list, so steady state allocates nothing per frame.

mod options;
mod pipeline;
mod stills;
mod stitch;

pub use crate::report::{peak_rss, OutputReport, RenderReport, StageTimes};
pub use options::{Progress, ProgressFn, RenderOptions};
pub use stills::{render_still, write_png, Stills};
pub use stitch::{stitch, Segment};

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::variants::{self};
use options::OutputSettings;
use pipeline::{lower_priority, Run, Sizes};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn nanos(n: &AtomicU64) -> f64 {
    n.load(Ordering::Relaxed) as f64 / 1e9
}

/// Renders the plan to `NAME.mp4` and, per [`RenderOptions::variants`], the web copy, the
/// preview and the posters, all fed from the same frames and the same audio mix. Every
/// output is checked before the first frame; they appear under their final names together
/// when all are complete, or none does.
///
/// ```no_run
/// let parsed = reel::parse_file("fixtures/demo/demo.json")?;
/// let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new("fixtures/demo"))?;
/// let report = reel::render(&plan, &reel::RenderOptions::new("out/demo.mp4"))?;
/// for output in &report.outputs {
///     println!("{} ({} bytes)", output.path.display(), output.bytes);
/// }
/// # Ok::<(), reel::Error>(())
/// ```
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

    // A segment (a range of frames) is video only: the soundtrack and the posters are made
    // once, for the whole timeline, by `stitch`.
    let segment = opts.frames.is_some();
    let frames = opts.frames.clone().unwrap_or(0..plan.frames);
    let t_audio = Instant::now();
    // The soundtrack: mixed as it is encoded, a few milliseconds at a time, so its memory
    // does not grow with the video's length (with a loudness target, one pass measures first).
    let mix = (!plan.audio.is_empty() && !segment).then(|| {
        let frames = plan.fps.sample_at(plan.frames, crate::audio::RATE);
        crate::audio::MixSpec::new(Arc::new(plan.audio.clone()), frames, opts.loudness)
    });
    let audio_s = t_audio.elapsed().as_secs_f64();
    let writers = settings.open_writers(plan, opts, mix.as_ref())?;

    let run = Run {
        plan,
        opts,
        start,
        reached: AtomicU64::new(frames.start),
        frames,
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
        poster_frame: (opts.variants.posters && !segment).then_some(plan.poster_frame),
        poster: pipeline::Posters { quality: opts.poster_quality, made: Mutex::new(None) },
        clip_fault: Mutex::new(None),
        frames_over: AtomicBool::new(false),
        frame_sets: AtomicUsize::new(0),
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
    // An image whose file changed after planning was not drawn: stop likewise.
    if let Some((path, why)) = plan.images.iter().find_map(|u| u.source.fault()) {
        return Err(Error::io(path, std::io::Error::other(format!("{why}; the render stopped and wrote nothing"))));
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
        if let Some(jpegs) = run.poster.made.lock().ok().and_then(|mut g| g.take()) {
            for (file, width, height) in variants::write_poster_jpegs(&opts.output, jpegs?)? {
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
        composition_id: plan.id.clone(),
        visual_medium: plan.visual_medium.clone(),
        outputs,
        duration: plan.duration.clone(),
        frames,
        rendered_s: frames as f64 * plan.fps.den as f64 / plan.fps.num as f64,
        warnings: plan.warnings.clone(),
        elapsed_s: start.elapsed().as_secs_f64(),
        stages: StageTimes {
            fetch_s: 0.0,
            raster_s: nanos(&run.raster_ns),
            convert_s: nanos(&run.convert_ns),
            encode_s: (nanos(&run.encode_ns) - soundtrack_s).max(0.0),
            decode_s: nanos(&run.decode_ns),
            audio_s: audio_s + soundtrack_s,
            posters_s,
        },
        fetched: None,
        peak_rss_bytes: peak_rss(),
    })
}
