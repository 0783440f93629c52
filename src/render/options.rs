//! A render's options, and their checks before any work: encoder settings, variants,
//! and the paths the outputs will take.

use crate::encode::{AudioSettings, Mp4Writer, VideoSettings};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::variants::{self, Variants};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Progress of a render, passed to the callback after every frame handed to the encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
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

/// How to render a video. Made by [`RenderOptions::new`]; its fields may then be changed.
///
/// ```
/// use std::sync::{atomic::AtomicBool, Arc};
/// let mut opts = reel::RenderOptions::new("out/ad.mp4");
/// opts.variants = reel::Variants::default().with_preview(false);
/// opts.loudness = Some(-14.0);
/// opts.progress = Some(Arc::new(|p: reel::Progress| eprintln!("{}/{}", p.frames_done, p.frames_total)));
/// opts.cancel = Some(Arc::new(AtomicBool::new(false)));
/// ```
#[derive(Clone)]
#[non_exhaustive]
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
    /// Render only these output frames, as one segment of a chunked render: the main
    /// output and the web and preview copies of that range, video only (no soundtrack, no
    /// posters), each starting with a keyframe. [`crate::stitch`] joins the segments. `None`
    /// (the default): the whole video.
    pub frames: Option<std::ops::Range<u64>>,
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
            frames: None,
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
            .field("frames", &self.frames)
            .finish()
    }
}

/// The encoder settings of a render's video outputs, checked against the plan.
pub(super) struct OutputSettings {
    pub(super) main: VideoSettings,
    pub(super) web: Option<VideoSettings>,
    pub(super) preview: Option<VideoSettings>,
}

/// An open output: its kind (`main`, `web`, `preview`), final path and writer.
pub(super) type Output = (&'static str, PathBuf, Mp4Writer);
/// An output after its last frame, with the frames it holds.
pub(super) type Written = (&'static str, PathBuf, Mp4Writer, u64);

impl OutputSettings {
    /// Every option a render takes, checked before anything is written.
    pub(super) fn check(plan: &Plan, opts: &RenderOptions) -> Result<OutputSettings> {
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
        if let Some(r) = &opts.frames {
            if r.start >= r.end || r.end > plan.frames {
                return Err(Error::Option {
                    name: "frames",
                    message: format!(
                        "expected a non-empty range of the video's {} frames, found {}..{}",
                        plan.frames, r.start, r.end
                    ),
                });
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
        if opts.variants.posters && opts.frames.is_none() {
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
    pub(super) fn open_writers(
        &self,
        plan: &Plan,
        opts: &RenderOptions,
        mix: Option<&crate::audio::MixSpec>,
    ) -> Result<Vec<Output>> {
        // Mixed once: the outputs' encoders read one run of the mix (each on its thread).
        let shared: Option<Arc<dyn crate::encode::Soundtrack>> =
            mix.map(|m| Arc::new(crate::audio::SharedMix::new(Arc::new(m.clone()))) as _);
        let audio = |bitrate: usize| shared.as_ref().map(|s| AudioSettings { soundtrack: s.clone(), bitrate });
        let tag = opts.frames.as_ref().map(|r| segment_tag(plan, r));
        let tag = tag.as_deref();
        let mut writers = vec![(
            "main",
            opts.output.clone(),
            Mp4Writer::create_with(&opts.output, &self.main, audio(opts.audio_bitrate).as_ref(), tag)?,
        )];
        // The preview carries the web copy's sound (AAC at 128 kb/s): its packets are
        // copied, not encoded again. The web copy is finished first (`render` finishes the
        // writers in this order), so its last packets are there when the preview's are.
        let mut web_sound = None;
        for (kind, settings, suffix) in [("web", &self.web, "_web.mp4"), ("preview", &self.preview, "_preview.mp4")] {
            if let Some(s) = settings {
                let p = variants::sibling(&opts.output, suffix);
                let mut w = match web_sound.take() {
                    Some(feed) => Mp4Writer::create_copying(&p, s, feed, tag)?,
                    None => Mp4Writer::create_with(&p, s, audio(variants::WEB_AUDIO_BITRATE).as_ref(), tag)?,
                };
                if kind == "web" && self.preview.is_some() {
                    web_sound = w.share_audio();
                }
                writers.push((kind, p.clone(), w));
            }
        }
        for (_, _, w) in &mut writers {
            w.stop_when(opts.cancel.clone());
        }
        Ok(writers)
    }
}

/// What a segment's files say of themselves (their MP4 `comment`): which frames of which
/// video they hold, so a stitch never takes one segment's file for another's.
pub(super) fn segment_tag(plan: &Plan, frames: &std::ops::Range<u64>) -> String {
    format!("reel segment: frames {}..{} of {} of composition {:?}", frames.start, frames.end, plan.frames, plan.id)
}
