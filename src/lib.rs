//! # reel: composition JSON in, H.264 MP4 out
//!
//! A video-generation service plans a video as a *composition* (timed scenes with
//! backgrounds, images, text, shapes and transitions; the contract is `COMPOSITION.md`).
//! `reel` renders it:
//!
//! 1. **Parse** ([`parse`], [`parse_file`]): JSON text -> [`model::Composition`]. Syntax
//!    errors carry line and column, type errors the JSON path; unknown fields become warnings.
//! 2. **Plan** ([`Plan::build`]): validate everything and normalize into a read-only
//!    [`Plan`]: colors resolved, lengths in pixels, timings in integer frames, assets resolved
//!    inside their folder and decoded, text shaped and rasterized. *Every* failure happens
//!    here, before frame 0, and every problem found is reported at once.
//! 3. **Render** ([`render()`], [`render_still`]): frames are painted with tiny-skia on a rayon
//!    pool, converted to BT.709 Y'CbCr on the same workers, and streamed in order through a
//!    bounded channel to libx264 (FFmpeg linked in-process through ffmpeg-next). Painting a
//!    frame cannot fail. The MP4 is written under a temporary name and renamed when complete.
//!
//! ```no_run
//! use reel::{PlanOptions, RenderOptions};
//! let parsed = reel::parse_file("fixtures/demo/demo.json")?;
//! let plan = reel::Plan::build(&parsed, &PlanOptions::new("fixtures/demo"))?;
//! let still = reel::render_still(&plan, 0); // an image::RgbaImage
//! let report = reel::render(&plan, &RenderOptions::new("out/demo.mp4"))?;
//! println!("{} frames, {:?}", report.frames, report.duration.action);
//! # Ok::<(), reel::Error>(())
//! ```
//!
//! ## Guarantees
//! - The output holds exactly `totalDurationFrames` frames at the exact rational rate
//!   (29.97 is 30000/1001); the duration policy (`fit`, `pad`, `strict`) decides how the
//!   scenes' timeline is brought to that length.
//! - Time is integer frames; floats appear only inside one frame's interpolation.
//! - Memory does not grow with the video's length.
//! - The library does not panic on input and never leaves a partial file under a final name.
//! - Fonts come only from `assets/fonts` (compiled in) and folders the caller adds, so output
//!   does not depend on the machine.
//!
//! ## Text
//! Text is shaped with cosmic-text rather than fontdue: fontdue does no shaping (no
//! ligatures, no Arabic joining, no bidi, kerning only from the old `kern` table); cosmic-text
//! shapes with HarfRust, runs bidi and line breaking, and falls back per glyph through the
//! bundled Noto faces (Arabic, Hebrew, Devanagari). A test compares glyph ids and advances
//! with HarfBuzz's `hb-shape` for Latin, Arabic, Hebrew and Devanagari strings: they match,
//! with one known difference: cosmic-text shapes word by word, so a kerning pair that spans
//! a space (Inter kerns "," + " ") is not applied.
//!
//! ## Decisions worth knowing
//! A clip's own audio at another `playbackRate` plays like tape (resampled, the pitch
//! follows). A clip's display matrix (rotation) is applied as players do. See the issue
//! tracker's closing notes for what is not done yet.

#![warn(missing_docs)]

pub mod anim;
pub mod audio;
pub mod encode;
pub mod error;
pub mod media;
pub mod merge;
pub mod model;
pub mod plan;
pub mod raster;
pub mod render;
pub mod text;
pub mod time;
pub(crate) mod timeline;
pub mod variants;

pub use error::{Error, Problem, Result};
pub use merge::MergeData;
pub use model::{
    from_path as parse_file, from_path_merged as parse_file_merged, from_str as parse, from_str_merged as parse_merged,
    json_schema, Parsed,
};
pub use plan::{DurationPolicy, Limits, Plan, PlanOptions};
pub use render::{
    render, render_still, write_png, OutputReport, Progress, RenderOptions, RenderReport, StageTimes, Stills,
};
pub use time::Fps;
pub use variants::Variants;

use std::path::PathBuf;
use std::sync::Arc;

impl PlanOptions {
    /// Assets from `assets_dir`, the bundled fonts, the composition's duration policy
    /// (default `fit`), default limits.
    pub fn new(assets_dir: impl Into<PathBuf>) -> PlanOptions {
        PlanOptions {
            assets: Arc::new(media::FolderAssets::new(assets_dir)),
            fonts: text::FontLibrary::bundled(),
            duration_policy: None,
            limits: Limits::default(),
        }
    }
}

impl Plan {
    /// Validates a parsed composition into a plan (see [`plan::build`]).
    pub fn build(parsed: &Parsed, opts: &PlanOptions) -> Result<Plan> {
        plan::build(&parsed.composition, &parsed.warnings, opts)
    }
}
