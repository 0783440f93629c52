//! The subcommands.

use crate::args::{
    BackendArgs, CheckArgs, Cli, Command, FontsArgs, Format, KeysCommand, OutputArgs, ProgressMode, RenderArgs,
    SchemaArgs, ServeArgs, StillArgs, StitchArgs, VariantsArgs, WorkerArgs,
};
use crate::input::{self, Source};
use crate::progress::{self, Reporter};
use crate::Failure;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Runs the command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Render(a) if a.batch.is_some() => crate::batch::run(a),
        Command::Render(a) => render(a),
        Command::Still(a) => still(a),
        Command::Stitch(a) => stitch(a),
        Command::Check(a) => check(a),
        Command::Schema(a) => schema(a),
        Command::Variants(a) => variants(a),
        Command::Fonts(a) => fonts(a),
        Command::Serve(a) => serve(a),
        Command::Worker(a) => worker(a),
        Command::Keys(KeysCommand::Create { data, database, name }) => {
            let key = reel_serve::create_key_blocking(&data, database.as_deref(), &name).map_err(Failure::Usage)?;
            println!("{key}");
            Ok(())
        }
    }
}

/// The service's configuration from what `serve` and `worker` share.
fn backend_config(a: BackendArgs) -> (reel_serve::Config, bool) {
    let mut cfg = reel_serve::Config::new(&a.data);
    cfg.database = a.database;
    cfg.storage = a.storage;
    cfg.grace = std::time::Duration::from_secs(a.grace);
    cfg.lease = std::time::Duration::from_secs(a.lease_seconds);
    cfg.limits =
        reel_serve::ChildLimits { memory: a.render_memory, cpu_seconds: a.render_cpu, file_size: a.render_file_size };
    (cfg, a.log_json)
}

fn serve(a: ServeArgs) -> Result<(), Failure> {
    let (mut cfg, log_json) = backend_config(a.backend);
    cfg.listen = a.listen;
    cfg.base_url = a.base_url.map(|u| u.trim_end_matches('/').to_string());
    cfg.workers = a.workers as usize;
    cfg.rate_limit = a.rate_limit;
    cfg.max_body = a.max_body;
    cfg.max_upload = a.max_upload;
    cfg.allow_insecure_webhooks = a.allow_insecure_webhooks;
    cfg.webhook_backoff = std::time::Duration::from_secs(a.webhook_backoff);
    cfg.chunk_frames = a.chunk_frames;
    reel_serve::run_blocking(cfg, log_json).map_err(|e| {
        eprintln!("error: {e}");
        Failure::Reported(1)
    })
}

fn worker(a: WorkerArgs) -> Result<(), Failure> {
    let (mut cfg, log_json) = backend_config(a.backend);
    cfg.base_url = Some(a.base_url.trim_end_matches('/').to_string());
    cfg.workers = a.concurrency as usize;
    cfg.worker_id = reel_serve::worker_name();
    reel_serve::work_blocking(cfg, log_json).map_err(|e| {
        eprintln!("error: {e}");
        Failure::Reported(1)
    })
}

/// The process's cancel flag, set by Ctrl-C, SIGTERM and SIGHUP (installed on first use).
pub fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::Relaxed));
        flag
    })
    .clone()
}

/// The output formats each command writes, by extension.
const VIDEO_FORMATS: &[&str] = &["mp4"];
const STILL_FORMATS: &[&str] = &["png"];

/// Refuses an output whose extension reel does not write, listing the ones it does.
pub fn check_extension(path: &Path, allowed: &[&str], flag: &str) -> Result<(), Failure> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if ext.as_deref().is_some_and(|e| allowed.contains(&e)) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(|e| format!(".{e}")).collect();
    let found = match ext {
        Some(e) => format!("a .{e} file"),
        None => "a name without an extension".into(),
    };
    Err(Failure::Usage(format!(
        "{flag} {}: reel does not write {found}; it writes {}",
        path.display(),
        list.join(", ")
    )))
}

fn render(a: RenderArgs) -> Result<(), Failure> {
    let source = Source::read(&a.input)?;
    let out = match (&a.output, &source.stem) {
        (Some(o), _) => o.clone(),
        (None, Some(stem)) => PathBuf::from(format!("{stem}.mp4")),
        (None, None) => {
            return Err(Failure::Usage("-o: name the output when the composition comes from standard input".into()))
        }
    };
    check_extension(&out, VIDEO_FORMATS, "-o")?;
    check_report_path(&a.out, &out)?;
    for (flag, path) in [("-o", Some(&out)), ("--report", a.out.report.as_ref())] {
        if path.is_some_and(|p| same_file(p, &a.input.composition)) {
            return Err(Failure::Usage(format!("{flag}: that is the composition itself")));
        }
    }
    let data = input::merge_data(&a.input)?;
    let opts = input::plan_options(&a.input, &source.assets)?;
    let plan = input::plan(&source, &data, &opts)?;
    let mode = a.out.progress_mode();
    progress::warnings(mode, plan.warnings());
    let frames = match a.frames {
        None => None,
        Some(r) => {
            let n = plan.frame_count();
            let end = r.end.unwrap_or(n);
            if r.start >= end || end > n {
                return Err(Failure::Usage(format!(
                    "--frames: the composition has frames 0..{n}; found {}..{end}",
                    r.start
                )));
            }
            Some(r.start..end)
        }
    };
    let job = frames.map_or(Job::Whole, Job::Segment);
    run_job(&plan, &out, &a.out, mode, "", a.out.report.as_deref(), job)?;
    Ok(())
}

fn stitch(a: StitchArgs) -> Result<(), Failure> {
    let source = Source::read(&a.input)?;
    check_extension(&a.output, VIDEO_FORMATS, "-o")?;
    check_report_path(&a.out, &a.output)?;
    let data = input::merge_data(&a.input)?;
    let opts = input::plan_options(&a.input, &source.assets)?;
    let plan = input::plan(&source, &data, &opts)?;
    let mut segments = Vec::new();
    let mut problems = Vec::new();
    for p in &a.segments {
        match reel::Segment::read(&plan, p) {
            Ok(s) => segments.push(s),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Usage(problems.join("\n")));
    }
    segments.sort_by_key(|s| s.frames.start);
    let mode = a.out.progress_mode();
    run_job(&plan, &a.output, &a.out, mode, "", a.out.report.as_deref(), Job::Stitch(segments))?;
    Ok(())
}

/// What `run_job` writes.
pub enum Job {
    /// The whole video.
    Whole,
    /// A segment of a chunked render: these frames.
    Segment(std::ops::Range<u64>),
    /// The outputs, joined from these segments.
    Stitch(Vec<reel::Segment>),
}

/// Whether two paths name one existing file (by device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

/// The report may not take the name of an output.
pub fn check_report_path(o: &OutputArgs, out: &Path) -> Result<(), Failure> {
    let Some(report) = &o.report else { return Ok(()) };
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let report_abs = abs(report);
    let mut taken = vec![out.to_path_buf()];
    for suffix in ["_web.mp4", "_preview.mp4", "_400w.jpg", "_800w.jpg"] {
        taken.push(reel::variants::sibling(out, suffix));
    }
    if taken.iter().any(|t| abs(t) == report_abs) {
        return Err(Failure::Usage(format!("--report {}: that is the name of an output", report.display())));
    }
    if let Some(dir) = report.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Failure::Usage(format!(
                "--report {}: the folder {} does not exist",
                report.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Renders a plan (the whole video, a segment, or a stitch of segments: `job`) to `out`
/// with the options of `o`, shows progress, writes the report.
pub fn run_job(
    plan: &crate::input::Planned,
    out: &Path,
    o: &OutputArgs,
    mode: ProgressMode,
    label: &str,
    report_path: Option<&Path>,
    job: Job,
) -> Result<reel::RenderReport, Failure> {
    let mut ro = reel::RenderOptions::new(out);
    ro.threads = o.threads;
    ro.preset = o.preset.clone();
    ro.crf = o.crf;
    ro.loudness = o.loudness;
    ro.variants = if o.no_variants { reel::Variants::NONE } else { o.variants.unwrap_or_default() };
    ro.cancel = Some(cancel_flag());
    let total = match &job {
        Job::Segment(r) => r.end - r.start,
        Job::Whole | Job::Stitch(_) => plan.frame_count(),
    };
    let reporter = Reporter::new(mode, label, total);
    ro.progress = reporter.callback();
    let result = match job {
        Job::Whole => reel::render(plan, &ro),
        Job::Segment(r) => {
            ro.frames = Some(r);
            reel::render(plan, &ro)
        }
        Job::Stitch(segments) => reel::stitch(plan, &segments, &ro),
    };
    reporter.finish();
    let mut report = result?;
    report.fetched = plan.fetch_stats();
    report.stages.fetch_s = report.fetched.map_or(0.0, |f| f.seconds);
    if let Some(path) = report_path {
        let text = serde_json::to_vec_pretty(&report).map_err(|e| reel::Error::Encode(e.to_string()))?;
        write_atomically(path, &text)?;
    }
    progress::finished(mode, label, &report);
    Ok(report)
}

/// Writes `bytes` under a temporary name beside `path`, then renames it into place (the
/// library's own atomic file).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), reel::Error> {
    reel::encode::PendingFile::write(path, bytes)?.commit().map(drop)
}

fn still(a: StillArgs) -> Result<(), Failure> {
    let source = Source::read(&a.input)?;
    let data = input::merge_data(&a.input)?;
    let opts = input::plan_options(&a.input, &source.assets)?;
    let plan = input::plan(&source, &data, &opts)?;
    if !a.quiet {
        progress::warnings(ProgressMode::Plain, plan.warnings());
    }
    let n = plan.frame_count();
    let (start, end, flag) = match (a.frame, a.frames) {
        (Some(f), _) => (f, f.saturating_add(1), "--frame"),
        (None, Some(r)) => (r.start, r.end.unwrap_or(n), "--frames"),
        (None, None) => (plan.poster_frame(), plan.poster_frame() + 1, "--frame"),
    };
    if start >= n || end > n {
        let found = if end == start + 1 { start.to_string() } else { format!("{start}..{end}") };
        return Err(Failure::Usage(format!(
            "{flag}: the composition has frames 0..{n} (0 to {}); found {found}",
            n - 1
        )));
    }
    let stem = source.stem.clone().unwrap_or_else(|| "still".into());
    let pattern = match &a.output {
        Some(p) => p.to_string_lossy().into_owned(),
        None if end - start == 1 => format!("{stem}.f{start}.png"),
        None => format!("{stem}.f{{frame}}.png"),
    };
    if end - start > 1 && !pattern.contains("{frame}") {
        return Err(Failure::Usage(format!(
            "-o {pattern}: a range of frames needs {{frame}} in the name (e.g. out/f{{frame}}.png)"
        )));
    }
    check_extension(Path::new(&pattern), STILL_FORMATS, "-o")?;
    let digits = (n - 1).to_string().len();
    let cancel = cancel_flag();
    let mut stills = reel::Stills::new(&plan);
    for f in start..end {
        if cancel.load(Ordering::Relaxed) {
            return Err(reel::Error::Cancelled.into());
        }
        let path = PathBuf::from(pattern.replace("{frame}", &format!("{f:0digits$}")));
        reel::write_png(stills.render(f), &path)?;
        if !a.quiet {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn check(a: CheckArgs) -> Result<(), Failure> {
    let planned = (|| -> Result<input::Planned, Failure> {
        let source = Source::read(&a.input)?;
        let data = input::merge_data(&a.input)?;
        let opts = input::plan_options(&a.input, &source.assets)?;
        Ok(input::plan(&source, &data, &opts)?)
    })();
    let (warnings, errors, code): (Vec<reel::Problem>, Vec<reel::Problem>, u8) = match &planned {
        Ok(plan) => (plan.warnings().to_vec(), Vec::new(), 0),
        Err(f) => {
            let errors = match f {
                Failure::Reel(e) if !e.problems().is_empty() => e.problems().to_vec(),
                Failure::Reel(e) => vec![reel::Problem::new("", e.to_string())],
                Failure::Usage(m) => vec![reel::Problem::new("", m.clone())],
                Failure::Reported(_) => Vec::new(),
            };
            (Vec::new(), errors, f.code().max(2))
        }
    };
    match a.format {
        Format::Json => {
            let all: Vec<_> = errors
                .iter()
                .map(|p| (p, "error"))
                .chain(warnings.iter().map(|p| (p, "warning")))
                .map(|(p, severity)| json!({"path": p.path, "message": p.message, "severity": severity}))
                .collect();
            progress::json_line(&serde_json::Value::Array(all));
        }
        Format::Text => {
            for p in &errors {
                println!("error: {p}");
            }
            for p in &warnings {
                println!("warning: {p}");
            }
            if let Ok(plan) = &planned {
                let fps = plan.fps();
                println!(
                    "ok: {} frames at {}/{} fps ({:.2} s), {}x{}; {} warning{}",
                    plan.frame_count(),
                    fps.num,
                    fps.den,
                    plan.frame_count() as f64 * fps.den as f64 / fps.num as f64,
                    plan.width(),
                    plan.height(),
                    warnings.len(),
                    if warnings.len() == 1 { "" } else { "s" }
                );
            }
        }
    }
    match code {
        0 => Ok(()),
        c => Err(Failure::Reported(c)),
    }
}

fn schema(a: SchemaArgs) -> Result<(), Failure> {
    let mut text =
        serde_json::to_string_pretty(&reel::json_schema()).map_err(|e| reel::Error::Encode(e.to_string()))?;
    text.push('\n');
    match &a.output {
        Some(path) => write_atomically(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    Ok(())
}

fn variants(a: VariantsArgs) -> Result<(), Failure> {
    if let Some(dir) = &a.out {
        if !dir.is_dir() {
            return Err(Failure::Usage(format!("--out: {} is not a folder", dir.display())));
        }
    }
    let mut worst = 0;
    for f in &a.files {
        match reel::variants::asset_variants(f, a.out.as_deref(), &a.preset) {
            Ok(outputs) => {
                for o in outputs {
                    eprintln!("wrote {} ({}x{}, {} bytes)", o.path.display(), o.width, o.height, o.bytes);
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                worst = worst.max(Failure::Reel(e).code());
            }
        }
    }
    match worst {
        0 => Ok(()),
        c => Err(Failure::Reported(c)),
    }
}

fn fonts(a: FontsArgs) -> Result<(), Failure> {
    let lib = reel::FontLibrary::bundled();
    input::add_fonts(&lib, &a.fonts)?;
    let faces = lib.faces();
    match a.format {
        Format::Json => progress::json_line(&json!(faces)),
        Format::Text => {
            // One line per family and source: the weights and styles it has.
            let mut i = 0;
            while i < faces.len() {
                let (family, source) = (&faces[i].family, &faces[i].source);
                let group: Vec<_> =
                    faces[i..].iter().take_while(|f| &f.family == family && &f.source == source).collect();
                let mut styles: Vec<String> =
                    group
                        .iter()
                        .map(|f| {
                            if f.style == "normal" {
                                f.weight.to_string()
                            } else {
                                format!("{} {}", f.weight, f.style)
                            }
                        })
                        .collect();
                styles.dedup();
                println!("{family:<24} {:<28} {source}", styles.join(", "));
                i += group.len();
            }
        }
    }
    Ok(())
}
