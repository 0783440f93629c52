//! What the tool says while it works: a progress bar on a terminal, plain lines elsewhere
//! (never a silent wait), or JSON lines for programs; warnings, the summary and errors.

use crate::args::ProgressMode;
use crate::Failure;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shows one render's progress in the chosen mode.
#[derive(Clone)]
pub struct Reporter {
    mode: ProgressMode,
    /// A label for batch rows (`row 3 (spring)`), empty otherwise.
    label: String,
    bar: Option<indicatif::ProgressBar>,
    last_line: Arc<Mutex<Option<Instant>>>,
}

impl Reporter {
    /// A reporter for a render of `total` frames.
    pub fn new(mode: ProgressMode, label: &str, total: u64) -> Reporter {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let template = format!(
                "{label}{}{{bar:40}} {{pos}}/{{len}} frames  {{per_sec}}  ETA {{eta}}",
                if label.is_empty() { "" } else { " " }
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Reporter { mode, label: label.to_owned(), bar, last_line: Arc::new(Mutex::new(None)) }
    }

    /// The callback the library calls after each frame of the main output.
    pub fn callback(&self) -> Option<reel::render::ProgressFn> {
        if self.mode == ProgressMode::None {
            return None;
        }
        let me = self.clone();
        Some(Arc::new(move |p: reel::Progress| me.frame(p)))
    }

    fn frame(&self, p: reel::Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.frames_done);
            return;
        }
        let done = p.frames_done >= p.frames_total;
        {
            let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
            if !done && last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *last = Some(Instant::now());
        }
        let secs = p.elapsed.as_secs_f64().max(1e-9);
        let fps = p.frames_done as f64 / secs;
        match self.mode {
            ProgressMode::Json => {
                let mut line = json!({"event": "progress", "frames_done": p.frames_done, "frames_total": p.frames_total,
                    "elapsed_s": round3(secs), "fps": round3(fps)});
                if !self.label.is_empty() {
                    line["row"] = self.label.clone().into();
                }
                json_line(&line);
            }
            _ => {
                let pct = 100.0 * p.frames_done as f64 / p.frames_total.max(1) as f64;
                let eta = (p.frames_total - p.frames_done.min(p.frames_total)) as f64 / fps.max(1e-9);
                let label = if self.label.is_empty() { String::new() } else { format!("{} ", self.label) };
                eprintln!(
                    "{label}progress: {}/{} frames ({pct:.0} %), {fps:.1} fps, ETA {eta:.0} s",
                    p.frames_done, p.frames_total
                );
            }
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Writes one JSON line to standard output.
pub fn json_line(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Prints the plan's warnings in the chosen mode.
pub fn warnings(mode: ProgressMode, warnings: &[reel::Problem]) {
    for w in warnings {
        match mode {
            ProgressMode::None => {}
            ProgressMode::Json => json_line(&json!({"event": "warning", "path": w.path, "message": w.message})),
            _ => eprintln!("warning: {w}"),
        }
    }
}

/// Prints a finished render: the JSON report line, or a summary of the outputs.
pub fn finished(mode: ProgressMode, label: &str, report: &reel::RenderReport) {
    match mode {
        ProgressMode::None => {}
        ProgressMode::Json => {
            let mut line = json!({"event": "done", "report": report});
            if !label.is_empty() {
                line["row"] = label.into();
            }
            json_line(&line)
        }
        _ => {
            let secs = report.elapsed_s;
            let label = if label.is_empty() { String::new() } else { format!("{label}: ") };
            eprintln!(
                "{label}rendered {} frames in {:.1} s ({:.1} fps); {}",
                report.frames,
                secs,
                report.frames as f64 / secs.max(1e-9),
                report.duration.action
            );
            for o in &report.outputs {
                eprintln!("  {} ({}x{}, {} bytes)", o.path.display(), o.width, o.height, o.bytes);
            }
        }
    }
}

/// Prints a failure: `error: ...` lines, or one JSON error line.
pub fn report_failure(f: &Failure, json: bool) {
    let (kind, message, problems) = match f {
        Failure::Reported(_) => return,
        Failure::Reel(reel::Error::Cancelled) => ("cancelled", "cancelled; no output written".to_owned(), Vec::new()),
        Failure::Reel(e) => {
            (if e.is_input_error() { "input" } else { "failure" }, e.to_string(), e.problems().to_vec())
        }
        Failure::Usage(m) => ("input", m.clone(), Vec::new()),
    };
    if json {
        let problems: Vec<_> =
            problems.iter().map(|p| json!({"path": p.path, "message": p.message, "severity": "error"})).collect();
        json_line(&json!({"event": "error", "kind": kind, "message": message, "problems": problems}));
    } else if kind == "cancelled" {
        eprintln!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}
