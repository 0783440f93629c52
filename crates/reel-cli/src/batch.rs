//! `reel render TEMPLATE.json --batch ROWS.csv|ROWS.jsonl`: one video per row, in one process.
//!
//! Every row is checked first (its name, and its merge fields filled and parsed), so a bad
//! row stops the batch before any video is rendered. Then each row is planned and rendered
//! in turn, sharing the font library; a row that fails is reported and the batch goes on.
//! Values: `--data` < the row < `--set`.

use crate::args::RenderArgs;
use crate::commands::{self, check_extension};
use crate::input::{self, Source};
use crate::progress;
use crate::Failure;
use reel::MergeData;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Rows a batch may hold.
const MAX_ROWS: usize = 10_000;

/// One row: where it came from (`row 3`) and its values.
struct Row {
    label: String,
    data: MergeData,
}

/// Runs a batch render.
pub fn run(a: RenderArgs) -> Result<(), Failure> {
    let Some(rows_path) = a.batch.clone() else { return Ok(()) };
    if a.out.report.is_some() {
        return Err(Failure::Usage(
            "--report: a batch writes no report file; each row's report is its \"done\" line with --progress json"
                .into(),
        ));
    }
    let rows = read_rows(&rows_path)?;
    let source = Source::read(&a.input)?;
    let out_dir = a.output.clone().unwrap_or_else(|| PathBuf::from("."));
    if out_dir.extension().is_some() && !out_dir.is_dir() {
        return Err(Failure::Usage(format!(
            "-o {}: with --batch, -o names the folder the videos go to",
            out_dir.display()
        )));
    }
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(Failure::Usage(format!("-o {}: not a folder", out_dir.display())));
    }
    let base = input::data_file(&a.input)?;

    // Every row checked before any work: a usable, unique name, and its merge fields.
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    let mut jobs = Vec::new();
    for row in &rows {
        let mut data = base.clone();
        data.extend(&row.data);
        for (k, v) in &a.input.set {
            data.set(k.clone(), v.clone());
        }
        let name = match data.get(&a.name_column) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v @ serde_json::Value::Number(_)) => v.to_string(),
            _ => {
                problems.push(format!("{}: no value in the name column {:?}", row.label, a.name_column));
                continue;
            }
        };
        if !is_file_stem(&name) {
            problems.push(format!(
                "{}: {:?} in column {:?} cannot name a file (letters, digits, '.', '_', '-'; not starting with '.')",
                row.label, name, a.name_column
            ));
            continue;
        }
        if !names.insert(name.clone()) {
            problems.push(format!("{}: the name {name:?} is taken by an earlier row", row.label));
            continue;
        }
        if let Err(e) = reel::parse_merged(&source.text, &data) {
            if e.problems().is_empty() {
                problems.push(format!("{}: {e}", row.label));
            }
            for p in e.problems() {
                problems.push(format!("{} ({name}): {p}", row.label));
            }
            continue;
        }
        let out = out_dir.join(format!("{name}.mp4"));
        check_extension(&out, &["mp4"], "-o")?;
        jobs.push((format!("{} ({name})", row.label), out, data));
    }
    if !problems.is_empty() {
        eprintln!(
            "error: {} problem{} in the batch; nothing was rendered:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in &problems {
            eprintln!("  {p}");
        }
        return Err(Failure::Reported(2));
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| reel::Error::Io { path: out_dir.clone(), source: e })?;

    // One font library for every row, and the images rows share decoded once (up to 512 MB).
    let mut opts = input::plan_options(&a.input, &source.assets)?;
    opts.image_cache = Some(reel::ImageCache::new(512 << 20));
    let mode = a.out.progress_mode();
    let (mut done, mut worst) = (0, 0u8);
    for (label, out, data) in &jobs {
        let result = input::plan(&source, data, &opts).map_err(Failure::from).and_then(|plan| {
            progress::warnings(mode, plan.warnings());
            commands::run_job(&plan, out, &a.out, mode, label, None, commands::Job::Whole)
        });
        match result {
            Ok(_) => done += 1,
            Err(Failure::Reel(reel::Error::Cancelled)) => return Err(reel::Error::Cancelled.into()),
            Err(f) => {
                if mode == crate::args::ProgressMode::Json {
                    progress::json_line(&serde_json::json!({"event": "row failed", "row": label}));
                    progress::report_failure(&f, true);
                } else {
                    eprint!("{label}: ");
                    progress::report_failure(&f, false);
                }
                worst = worst.max(f.code());
            }
        }
    }
    if mode != crate::args::ProgressMode::None {
        eprintln!("batch: {done} of {} videos rendered into {}", jobs.len(), out_dir.display());
    }
    match worst {
        0 => Ok(()),
        c => Err(Failure::Reported(c)),
    }
}

/// A name a row's video may take: no folders, no hidden files.
fn is_file_stem(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The rows of a CSV file (with a header) or a JSON Lines file (an object per line).
fn read_rows(path: &Path) -> Result<Vec<Row>, Failure> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let bad = |m: String| Failure::Usage(format!("--batch {}: {m}", path.display()));
    let rows = match ext.as_deref() {
        Some("csv") => {
            let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
            let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
            if let Some(h) = headers.iter().find(|h| !reel::merge::is_field_name(h)) {
                return Err(bad(format!(
                    "the column {h:?} is not a merge field name (letters, digits, '_', '-', '.')"
                )));
            }
            let mut rows = Vec::new();
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| bad(e.to_string()))?;
                let mut data = MergeData::new();
                for (h, v) in headers.iter().zip(record.iter()) {
                    data.set(h, v);
                }
                // The header is line 1.
                rows.push(Row {
                    label: format!("row {} (line {})", i + 1, record.position().map_or(i + 2, |p| p.line() as usize)),
                    data,
                });
                if rows.len() > MAX_ROWS {
                    return Err(bad(format!("more than {MAX_ROWS} rows")));
                }
            }
            rows
        }
        Some("jsonl" | "ndjson") => {
            let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
            let mut rows = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| bad(format!("line {}: {e}", i + 1)))?;
                let data = MergeData::from_json_object(&value)
                    .ok_or_else(|| bad(format!("line {}: expected a JSON object", i + 1)))?;
                rows.push(Row { label: format!("row {} (line {})", rows.len() + 1, i + 1), data });
                if rows.len() > MAX_ROWS {
                    return Err(bad(format!("more than {MAX_ROWS} rows")));
                }
            }
            rows
        }
        _ => return Err(bad("expected a .csv (with a header) or a .jsonl file".into())),
    };
    if rows.is_empty() {
        return Err(bad("no rows".into()));
    }
    Ok(rows)
}
