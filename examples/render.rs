//! The smallest program that renders a composition with the library:
//! `cargo run --release --example render -- COMPOSITION.json OUT.mp4`.
//!
//! The `reel` tool (`crates/reel-cli`) is the full front: options, progress, merge fields,
//! batches. Exit codes as there: 0 success, 2 bad input, 1 any other failure.

use std::process::ExitCode;

fn main() -> ExitCode {
    reel_process::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: render COMPOSITION.json OUT.mp4");
        return ExitCode::from(2);
    };
    let run = || -> reel::Result<reel::RenderReport> {
        let parsed = reel::parse_file(input)?;
        let assets = std::path::Path::new(input).parent().filter(|p| !p.as_os_str().is_empty());
        let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new(assets.unwrap_or(".".as_ref())))?;
        for w in plan.warnings() {
            eprintln!("warning: {w}");
        }
        reel::render(&plan, &reel::RenderOptions::new(output))
    };
    match run() {
        Ok(report) => {
            for o in &report.outputs {
                eprintln!("wrote {} ({}x{}, {} bytes)", o.path.display(), o.width, o.height, o.bytes);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_input_error() { 2 } else { 1 })
        }
    }
}
