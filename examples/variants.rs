//! `variants FILE... [--out DIR] [--preset P]`: posters for images (`KEY_400w.jpg`,
//! `KEY_800w.jpg`), web and preview copies for videos (`KEY_web.mp4`, `KEY_preview.mp4`).
//! Exit codes: 0 success, 2 bad input, 1 any other failure.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    reel::tune_allocator();
    let mut files = Vec::new();
    let mut out: Option<PathBuf> = None;
    let mut preset = "veryfast".to_string();
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--out") => out = args.next().map(PathBuf::from),
            Some("--preset") => preset = args.next().and_then(|p| p.into_string().ok()).unwrap_or(preset),
            Some("-h" | "--help") => {
                eprintln!("usage: variants FILE... [--out DIR] [--preset P]");
                return ExitCode::SUCCESS;
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        eprintln!("usage: variants FILE... [--out DIR] [--preset P]");
        return ExitCode::from(2);
    }
    let mut code = ExitCode::SUCCESS;
    for f in &files {
        match reel::variants::asset_variants(f, out.as_deref(), &preset) {
            Ok(outputs) => {
                for o in outputs {
                    eprintln!("wrote {} ({}x{}, {} bytes)", o.path.display(), o.width, o.height, o.bytes);
                }
            }
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                code = ExitCode::from(if e.is_input_error() { 2 } else { 1 });
            }
        }
    }
    code
}
