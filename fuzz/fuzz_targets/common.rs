//! What every target shares: plan options made once (the bundled fonts load once), an
//! assets folder of this process's own, and a bounded still of what plans.

use std::path::PathBuf;
use std::sync::OnceLock;

/// An assets folder for this process: `quad.png` in it, and room for the input's file.
pub fn assets() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("reel-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("assets folder");
        let png = include_bytes!("../../tests/golden/assets/quad.png");
        std::fs::write(dir.join("quad.png"), png).expect("quad.png");
        dir
    })
}

/// Plan options over [`assets`], made once.
pub fn options() -> &'static reel::PlanOptions {
    static OPTS: OnceLock<reel::PlanOptions> = OnceLock::new();
    OPTS.get_or_init(|| reel::PlanOptions::new(assets()))
}

/// Plans `text`; whatever plans, a small canvas's middle frame is drawn (painting cannot
/// fail). Errors are the expected outcome for most inputs; only a panic, an abort or a
/// sanitizer report is a finding.
pub fn plan_and_draw(text: &str) {
    let Ok(parsed) = reel::parse(text) else { return };
    let Ok(plan) = reel::Plan::build(&parsed, options()) else { return };
    if u64::from(plan.width()) * u64::from(plan.height()) <= 640 * 360 {
        let _ = reel::render_still(&plan, plan.frame_count() / 2);
    }
}
