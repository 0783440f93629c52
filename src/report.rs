//! What a render reports: its outputs, durations, warnings, time per stage and memory.

use crate::error::Problem;
use crate::plan::DurationInfo;
use std::path::PathBuf;

/// One file a render wrote (see [`RenderReport`]'s example).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
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

/// Seconds spent per stage, summed over threads (so they can exceed the wall time); see
/// [`RenderReport`]'s example.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct StageTimes {
    /// Fetching assets before planning (remote sources; 0 for a folder). The library's
    /// [`render`](crate::render()) does not fetch: the caller that did fills it in.
    pub fetch_s: f64,
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
    /// The posters after the frames (wall time): a render writes them here, their JPEGs
    /// made within `raster_s` by the worker that paints the poster frame; a stitch draws,
    /// encodes and writes them here.
    pub posters_s: f64,
}

/// What a render did: the files, the durations, the warnings, time and memory. Also what
/// `reel render --report` writes, as JSON.
///
/// ```no_run
/// let plan = reel::Plan::build(&reel::parse_file("ad.json")?, &reel::PlanOptions::new("assets"))?;
/// let report = reel::render(&plan, &reel::RenderOptions::new("out/ad.mp4"))?;
/// for o in &report.outputs {
///     println!("{} {}: {}x{}, {} frames, {:.2} s", o.kind, o.path.display(), o.width, o.height, o.frames, o.duration_s);
/// }
/// println!("raster {:.1} s, encode {:.1} s", report.stages.raster_s, report.stages.encode_s);
/// let json = serde_json::to_string_pretty(&report).expect("a report serializes");
/// # let _ = json;
/// # Ok::<(), reel::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct RenderReport {
    /// The composition's `id`.
    pub composition_id: String,
    /// Its `style.visualMedium` (`photorealistic`, `2d-animated`, ...), as written.
    pub visual_medium: Option<String>,
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
    /// What fetching the assets did, when the caller fetched them and says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched: Option<crate::fetch::FetchStats>,
    /// Peak resident memory of the process, bytes (Linux), if known.
    pub peak_rss_bytes: Option<u64>,
}

/// Peak resident set size of this process (VmHWM), Linux only.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
