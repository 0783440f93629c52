//! Stitching a chunked render: segments rendered with [`RenderOptions::frames`] joined
//! without re-encoding into the outputs one [`crate::render()`] would have written.

use super::options::{segment_tag, OutputSettings};
use super::{OutputReport, RenderOptions, RenderReport, StageTimes};
use crate::error::{Error, Result};
use crate::ffmpeg::encode::{AudioSettings, PendingFile};
use crate::ffmpeg::join::Joiner;
use crate::plan::Plan;
use crate::variants;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// One segment of a chunked render: the frames it holds and the path of its main output,
/// as [`crate::render()`] wrote it with [`RenderOptions::frames`] set (its web and preview
/// copies beside it, `NAME_web.mp4` and `NAME_preview.mp4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The output frames it holds.
    pub frames: Range<u64>,
    /// Its main output.
    pub output: PathBuf,
}

impl Segment {
    /// The segment in the file `output` (a segment's main output, written by
    /// [`crate::render()`] for `plan` with [`RenderOptions::frames`]): the frames it holds,
    /// as its file says. Refused when the file is not a segment of `plan`'s video.
    pub fn read(plan: &Plan, output: impl Into<PathBuf>) -> Result<Segment> {
        let output = output.into();
        let says = crate::ffmpeg::join::segment_comment(&output)?;
        let frames = (|| {
            let rest = says.strip_prefix("reel segment: frames ")?;
            let (range, _) = rest.split_once(' ')?;
            let (a, b) = range.split_once("..")?;
            Some(a.parse::<u64>().ok()?..b.parse::<u64>().ok()?)
        })();
        match frames {
            Some(frames) if says == segment_tag(plan, &frames) => Ok(Segment { frames, output }),
            _ => Err(Error::Option {
                name: "segments",
                message: format!(
                    "{} is not a segment of this video (it says {says:?}; a segment of it says {:?})",
                    output.display(),
                    segment_tag(plan, &(0..1)).replace("0..1", "A..B")
                ),
            }),
        }
    }
}

/// Joins `segments` (in order, covering every frame of `plan` once) into the outputs
/// [`crate::render()`] writes for the whole video with `opts`: `NAME.mp4` and, per
/// `opts.variants`, the web and preview copies, each the segments' H.264 packets copied
/// without re-encoding and restamped from their frame numbers, with the soundtrack mixed
/// and encoded once for the whole timeline; and the posters, rendered from the poster
/// frame. The segments must have been rendered from the same plan with the same encoder
/// settings and variants (a segment that differs, lacks a frame or holds one twice is
/// refused: nothing is ever stitched over a gap). Every output appears, or none does.
///
/// ```no_run
/// let parsed = reel::parse_file("fixtures/demo/demo.json")?;
/// let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new("fixtures/demo"))?;
/// let mut segments = Vec::new();
/// for (i, start) in (0..plan.frame_count()).step_by(120).enumerate() {
///     let frames = start..(start + 120).min(plan.frame_count());
///     let mut opts = reel::RenderOptions::new(format!("out/part-{i}.mp4"));
///     opts.frames = Some(frames.clone()); // on any machine
///     reel::render(&plan, &opts)?;
///     segments.push(reel::Segment { frames, output: opts.output });
/// }
/// reel::stitch(&plan, &segments, &reel::RenderOptions::new("out/demo.mp4"))?;
/// # Ok::<(), reel::Error>(())
/// ```
pub fn stitch(plan: &Plan, segments: &[Segment], opts: &RenderOptions) -> Result<RenderReport> {
    let start = Instant::now();
    if opts.frames.is_some() {
        return Err(Error::Option {
            name: "frames",
            message: "stitching writes the whole video: expected None".into(),
        });
    }
    let settings = OutputSettings::check(plan, opts)?;
    let mut at = 0;
    for (i, s) in segments.iter().enumerate() {
        if s.frames.start != at || s.frames.end <= s.frames.start {
            return Err(Error::Option {
                name: "segments",
                message: format!(
                    "segment {i} ({}) holds frames {}..{}; expected the next, from frame {at}",
                    s.output.display(),
                    s.frames.start,
                    s.frames.end
                ),
            });
        }
        at = s.frames.end;
    }
    if at != plan.frames {
        return Err(Error::Option {
            name: "segments",
            message: format!("the segments end at frame {at}; the video has {} frames", plan.frames),
        });
    }
    if let Some(dir) = opts.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let t_audio = Instant::now();
    let mix = (!plan.audio.is_empty()).then(|| {
        let frames = plan.fps.sample_at(plan.frames, crate::audio::RATE);
        crate::audio::MixSpec::new(Arc::new(plan.audio.clone()), frames, opts.loudness)
    });
    let audio_s = t_audio.elapsed().as_secs_f64();
    // Mixed once for every output: the joiners read one run of the mix, each on a thread.
    let shared: Option<Arc<dyn crate::encode::Soundtrack>> =
        mix.as_ref().map(|m| Arc::new(crate::audio::SharedMix::new(Arc::new(m.clone()))) as _);
    let audio = |bitrate: usize| shared.as_ref().map(|s| AudioSettings::new(s.clone(), bitrate));
    let mut kinds = vec![("main", "", opts.audio_bitrate)];
    if settings.web.is_some() {
        kinds.push(("web", "_web.mp4", variants::WEB_AUDIO_BITRATE));
    }
    // The preview's sound is the web copy's (encoded again here, the same packets: FFmpeg's
    // AAC encoder gives the same bytes for the same samples).
    if settings.preview.is_some() {
        kinds.push(("preview", "_preview.mp4", variants::WEB_AUDIO_BITRATE));
    }
    let t_join = Instant::now();
    // Every joiner (and its stream of the mix) is made first, then each runs on a thread.
    let mut joiners = Vec::new();
    for (kind, suffix, bitrate) in kinds {
        let of = move |p: &PathBuf| if suffix.is_empty() { p.clone() } else { variants::sibling(p, suffix) };
        let target = of(&opts.output);
        let mut delay = 0;
        for s in segments {
            delay = delay.max(crate::ffmpeg::join::decode_delay(&of(&s.output), plan.fps)?);
        }
        let joiner = Joiner::create(&target, &of(&segments[0].output), plan.fps, delay, audio(bitrate).as_ref())?;
        joiners.push((kind, target, of, joiner));
    }
    let codec = if mix.is_some() { "h264+aac" } else { "h264" };
    let joined: Vec<Result<(OutputReport, PendingFile)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = joiners
            .into_iter()
            .map(|(kind, target, of, mut joiner)| {
                scope.spawn(move || {
                    for s in segments {
                        if opts.cancel.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                            return Err(Error::Cancelled);
                        }
                        joiner.append(&of(&s.output), s.frames.clone(), &segment_tag(plan, &s.frames))?;
                    }
                    let (width, height) = joiner.size();
                    let frames = joiner.frames();
                    let file = joiner.finish_pending()?;
                    let (kind, codec) = (kind.into(), codec.into());
                    let report =
                        OutputReport { path: target, kind, bytes: 0, width, height, frames, duration_s: 0.0, codec };
                    Ok((report, file))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Encode("a stitching thread panicked".into()))))
            .collect()
    });
    let mut pending: Vec<PendingFile> = Vec::new();
    let mut outputs = Vec::new();
    for j in joined {
        let (report, file) = j?;
        outputs.push(report);
        pending.push(file);
    }
    let encode_s = t_join.elapsed().as_secs_f64();
    let t_posters = Instant::now();
    if opts.variants.posters {
        let still = super::render_still(plan, plan.poster_frame);
        let (w, h) = still.dimensions();
        let frame = tiny_skia::IntSize::from_wh(w, h)
            .and_then(|size| tiny_skia::Pixmap::from_vec(still.into_raw(), size))
            .ok_or_else(|| Error::Encode("the poster frame is empty".into()))?;
        for (file, width, height) in variants::write_posters(&opts.output, &frame, opts.poster_quality)? {
            let (kind, codec) = ("poster".into(), "jpeg".into());
            let path = file.target().to_path_buf();
            outputs.push(OutputReport { path, kind, bytes: 0, width, height, frames: 1, duration_s: 0.0, codec });
            pending.push(file);
        }
    }
    PendingFile::commit_all(pending)?;
    let posters_s = t_posters.elapsed().as_secs_f64();
    for o in &mut outputs {
        o.bytes = std::fs::metadata(&o.path).map(|m| m.len()).unwrap_or(0);
        if o.kind != "poster" {
            o.duration_s = crate::media::container_duration(&o.path).unwrap_or(0.0);
        }
    }
    Ok(RenderReport {
        composition_id: plan.id.clone(),
        visual_medium: plan.visual_medium.clone(),
        outputs,
        duration: plan.duration.clone(),
        frames: plan.frames,
        rendered_s: plan.frames as f64 * plan.fps.den as f64 / plan.fps.num as f64,
        warnings: plan.warnings.clone(),
        elapsed_s: start.elapsed().as_secs_f64(),
        stages: StageTimes { audio_s, encode_s, posters_s, ..StageTimes::default() },
        fetched: None,
        peak_rss_bytes: super::peak_rss(),
    })
}
