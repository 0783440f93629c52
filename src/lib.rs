//! # reel: composition JSON in, H.264 MP4 out
//!
//! A video-generation service plans a video as a *composition* (timed scenes with
//! backgrounds, images, text, shapes and transitions; the format is `docs/composition.md`).
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
//! ## The pipeline, and which module does what
//!
//! ```text
//!  JSON ──model──▶ Composition ──plan──▶ Plan ──render──▶ frames ──ffmpeg::encode──▶ MP4s
//!   │ (merge: {{fields}})      │ media, audio,       │ raster (timeline,     + posters
//!   │                          │ text, anim          │  pixels), audio mix   (variants)
//! ```
//!
//! | module | job | names |
//! |---|---|---|
//! | [`model`], [`merge`] | serde types of the format, parsing, the JSON Schema; merge fields | error |
//! | [`plan`] | validation into the read-only [`Plan`]; one file per part of the format | model, media, audio, text, anim, pixels |
//! | [`fetch`] | assets from HTTP(S), S3, memory or the caller's own source, into a content-addressed cache, before planning | model, media, error |
//! | [`media`] | asset resolution inside a folder, images with limits; clips (from `ffmpeg`) | ffmpeg, pixels |
//! | `audio` | decoding (symphonia), resampling (rubato), the streaming mix | media, ffmpeg |
//! | [`text`] | bundled fonts, shaping and layout (cosmic-text), text rasters | pixels |
//! | `anim`, [`time`] | easing, keyframes, presets; rational frame rates | nothing |
//! | `timeline` | (plan, frame) -> the scenes in view and a transition's progress | plan |
//! | `raster` | what a frame shows, decided once; painted in RGBA or composed in 4:2:0; cannot fail | plan, timeline, text, pixels |
//! | [`render`](mod@render) | the frame pipeline, options, stills; [`report`] is what it returns | everything above |
//! | [`variants`] | web and preview settings, posters, asset variants | audio, media, ffmpeg, report |
//! | `ffmpeg` | **the FFmpeg boundary**: encoding and muxing ([`encode`]), clip decoding | pixels, time, error |
//! | `pixels` | the bottom: Y'CbCr planes, pixmaps, rounded rectangles, blits | nothing |
//!
//! The modules in plain type (`audio`, `anim`, `timeline`, `raster`, `ffmpeg`, `pixels`)
//! are the engine's own: crate-private, made public only by the `internals` feature that
//! reel's tests, benches and fuzz targets use, with no stability promise. What an embedder
//! needs is at the top level: [`parse`], [`Plan::build`] with [`PlanOptions`] and
//! [`Limits`], [`render()`] with [`RenderOptions`], [`render_still`] and [`Stills`],
//! [`Variants`] and [`variants::asset_variants`], [`FontLibrary`], [`ImageCache`],
//! [`AssetResolver`], and [`Error`] with its [`Problem`]s.
//!
//! No module names one above it: there are no import cycles.
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
//! follows). A clip's display matrix (rotation) is applied as players do. More in
//! `docs/design.md`.
//!
//! Process-wide settings (malloc arenas, transparent huge pages) are left to the program
//! that embeds the library; reel's own programs use `reel_process::tune_allocator`.

#![warn(missing_docs)]

/// Declares the engine's inner modules: crate-private, public only with the `internals`
/// feature, which reel's own tests, benches and fuzz targets turn on (no stability promise
/// is made for what it exposes).
macro_rules! internal {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    )*};
}

internal!(anim, audio, ffmpeg, pixels, raster);

pub mod error;
pub mod fetch;
pub use ffmpeg::encode;
pub mod media;
pub mod merge;
pub mod model;
pub mod plan;
pub mod render;
pub mod report;
pub mod text;
pub mod time;
pub(crate) mod timeline;
pub mod variants;

pub use error::{Error, Problem, Result};
pub use media::{AssetResolver, FolderAssets, ImageCache, ImageLimits};
pub use merge::MergeData;
pub use model::{
    from_path as parse_file, from_path_merged as parse_file_merged, from_str as parse, from_str_merged as parse_merged,
    json_schema, Parsed,
};
pub use plan::{DurationPolicy, Limits, Plan, PlanOptions};
pub use render::{
    render, render_still, stitch, write_png, OutputReport, Progress, RenderOptions, RenderReport, Segment, StageTimes,
    Stills,
};
pub use text::{FaceInfo, FontLibrary};
pub use time::Fps;
pub use variants::Variants;
