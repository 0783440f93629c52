//! `render COMPOSITION.json [-o OUT.mp4] [--assets DIR] [--still FRAME]
//!  [--duration-policy fit|pad|strict] [--threads N] [--preset P] [--crf N] [--loudness LUFS] [--variants web,preview,posters | --no-variants] [--report FILE] [--fonts DIR]... [--quiet]`
//!
//! Exit codes: 0 success, 2 bad input (composition or assets), 1 any other failure.

use reel::{DurationPolicy, PlanOptions, RenderOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

struct Args {
    input: PathBuf,
    output: Option<PathBuf>,
    assets: Option<PathBuf>,
    still: Option<u64>,
    policy: Option<DurationPolicy>,
    threads: usize,
    preset: String,
    crf: u8,
    loudness: Option<f64>,
    variants: reel::Variants,
    report: Option<PathBuf>,
    fonts: Vec<PathBuf>,
    quiet: bool,
}

const USAGE: &str = "usage: render COMPOSITION.json [-o OUT.mp4] [--assets DIR] [--still FRAME] \
[--duration-policy fit|pad|strict] [--threads N] [--preset P] [--crf N] [--loudness LUFS] [--variants web,preview,posters | --no-variants] [--report FILE] [--fonts DIR]... [--quiet]";

fn parse_args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let mut a = Args {
        input: PathBuf::new(),
        output: None,
        assets: None,
        still: None,
        policy: None,
        threads: 0,
        preset: "veryfast".into(),
        crf: 20,
        loudness: None,
        variants: reel::Variants::default(),
        report: None,
        fonts: Vec::new(),
        quiet: false,
    };
    let mut input = None;
    let s = |v: Result<std::ffi::OsString, lexopt::Error>| -> Result<String, String> {
        v.map_err(|e| e.to_string())?.into_string().map_err(|_| "argument is not UTF-8".to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('o') | Long("output") => a.output = Some(s(p.value())?.into()),
            Long("assets") => a.assets = Some(s(p.value())?.into()),
            Long("still") => a.still = Some(s(p.value())?.parse().map_err(|_| "--still takes a frame number")?),
            Long("duration-policy") => {
                let v = s(p.value())?;
                a.policy = Some(
                    DurationPolicy::parse(&v)
                        .ok_or(format!("--duration-policy: expected fit, pad or strict, found {v:?}"))?,
                );
            }
            Long("threads") => a.threads = s(p.value())?.parse().map_err(|_| "--threads takes a number")?,
            Long("preset") => a.preset = s(p.value())?,
            Long("crf") => a.crf = s(p.value())?.parse().map_err(|_| "--crf takes a number 0..=51")?,
            Long("loudness") => {
                a.loudness = Some(s(p.value())?.parse().map_err(|_| "--loudness takes LUFS, e.g. -14")?)
            }
            Long("variants") => {
                let v = s(p.value())?;
                a.variants = reel::Variants::parse(&v)
                    .ok_or(format!("--variants: expected a list of web, preview, posters, found {v:?}"))?;
            }
            Long("no-variants") => a.variants = reel::Variants::NONE,
            Long("report") => a.report = Some(s(p.value())?.into()),
            Long("fonts") => a.fonts.push(s(p.value())?.into()),
            Short('q') | Long("quiet") => a.quiet = true,
            Short('h') | Long("help") => return Err(USAGE.into()),
            Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    a.input = input.ok_or(USAGE)?;
    Ok(a)
}

fn main() -> ExitCode {
    reel::tune_allocator();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reel::Error::Cancelled) => {
            eprintln!("cancelled; no output written");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_input_error() { 2 } else { 1 })
        }
    }
}

fn run(a: &Args) -> Result<(), reel::Error> {
    let parsed = reel::parse_file(&a.input)?;
    let assets = a.assets.clone().unwrap_or_else(|| a.input.parent().map(PathBuf::from).unwrap_or_default());
    let mut opts = PlanOptions::new(if assets.as_os_str().is_empty() { PathBuf::from(".") } else { assets });
    opts.duration_policy = a.policy;
    for dir in &a.fonts {
        if !dir.is_dir() {
            return Err(reel::Error::Option { name: "--fonts", message: format!("{} is not a folder", dir.display()) });
        }
        opts.fonts.add_dir(dir);
    }
    let plan = reel::Plan::build(&parsed, &opts)?;
    if !a.quiet {
        for w in plan.warnings() {
            eprintln!("warning: {w}");
        }
    }
    let stem = a.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    if let Some(frame) = a.still {
        if frame >= plan.frame_count() {
            return Err(reel::Error::Option {
                name: "--still",
                message: format!("expected a frame in 0..{}, found {frame}", plan.frame_count()),
            });
        }
        let out = a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.f{frame}.png")));
        reel::write_png(&reel::render_still(&plan, frame), &out)?;
        if !a.quiet {
            eprintln!("wrote {}", out.display());
        }
        return Ok(());
    }
    let out = a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{stem}.mp4")));
    let mut ro = RenderOptions::new(&out);
    ro.threads = a.threads;
    ro.preset = a.preset.clone();
    ro.crf = a.crf;
    ro.loudness = a.loudness;
    ro.variants = a.variants;
    // Ctrl-C: stop within a second, remove temporary files, exit 130.
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    ro.cancel = Some(cancel);
    let bar = if a.quiet {
        None
    } else {
        let bar = indicatif::ProgressBar::new(plan.frame_count());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    };
    if let Some(bar) = &bar {
        let bar = bar.clone();
        ro.progress = Some(Arc::new(move |p: reel::Progress| bar.set_position(p.frames_done)));
    }
    let report = reel::render(&plan, &ro)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(path) = &a.report {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| reel::Error::Encode(e.to_string()))?;
        std::fs::write(path, json).map_err(|e| reel::Error::Io { path: path.clone(), source: e })?;
    }
    if !a.quiet {
        let secs = report.elapsed_s;
        eprintln!(
            "rendered {} frames in {:.1} s ({:.1} fps); {}",
            report.frames,
            secs,
            report.frames as f64 / secs.max(1e-9),
            report.duration.action
        );
        for o in &report.outputs {
            eprintln!("  {} ({}x{}, {} bytes)", o.path.display(), o.width, o.height, o.bytes);
        }
    }
    Ok(())
}
