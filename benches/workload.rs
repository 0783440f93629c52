//! The workload benchmark: `make bench` or `cargo bench --bench workload [-- w1 w2 w3 w4]`.
//!
//! For each workload it prints, measured in the same run: reel's wall time (plan + render,
//! main output only, default preset), the floor (the `ffmpeg` program encoding the same
//! frames, dumped once as raw YUV 4:2:0 in /dev/shm, with the same libx264 preset, CRF and
//! threads), their ratio, frames per second, realtime factor, peak RSS, and the share of
//! CPU time per stage. For W1 and W4 it also compares all five outputs against one `ffmpeg`
//! process writing the same three videos and two JPEGs from the raw frames.
//!
//! It ends with issue 6's targets, each with the figure this run measured and whether it
//! is met (the with-length targets when W1 and its looped copies ran).
//!
//! `batch` (also run when no workload is named) compares the `reel` tool rendering a
//! 20-row merge-field batch in one process with 20 separate `reel render` runs (needs
//! `target/release/reel`: `make bench` builds it).
//!
//! Environment: `REEL_BENCH_RUNS=N` (default 1; the median of N alternating runs is shown),
//! `REEL_BENCH_LONG=1` adds W1 looped to 120 s (`w1x4`: RSS must not grow with length) and
//! to 10 minutes (`w1x20`: W1's ratio and RSS at that length; its floor reads W1's raw
//! frames twenty times over, so run `w1` in the same run: `-- w1 w1x20`).
//! Each render runs in a child process of this binary so peak RSS is its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Workload {
    name: &'static str,
    json: PathBuf,
    assets: PathBuf,
    /// Frames that are another workload's, repeated: (its name, how many times). The
    /// floor then encodes that workload's raw frames looped, dumped earlier in the run.
    repeats: Option<(&'static str, u64)>,
}

impl Workload {
    /// A workload of its own frames.
    fn of(name: &'static str, json: PathBuf, assets: PathBuf) -> Workload {
        Workload { name, json, assets, repeats: None }
    }
}

/// One of issue 6's targets as this run measured it.
struct Verdict {
    target: &'static str,
    value: String,
    met: bool,
    note: String,
}

/// SSIM of W1's main output against a lossless render before any optimization (benches/README.md,
/// first W1 row): quality must not buy speed.
const W1_SSIM_BEFORE: f64 = 0.98901;

fn print_verdicts(verdicts: &[Verdict]) {
    if verdicts.is_empty() {
        return;
    }
    println!("targets of issue 6, as measured in this run:");
    for v in verdicts {
        let status = if v.met { "met" } else { "NOT MET" };
        let note = if v.note.is_empty() { String::new() } else { format!("  ({})", v.note) };
        println!("  {:<34} {:>9}  {status}{note}", v.target, v.value);
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workloads() -> Vec<Workload> {
    let r = root();
    vec![
        Workload::of("w1", r.join("benches/workloads/w1.json"), r.join("target/workloads/w1")),
        Workload::of("w2", r.join("benches/workloads/w2.json"), r.join("benches/workloads")),
        Workload::of("w3", r.join("benches/workloads/w3.json"), r.join("target/workloads/w3")),
        Workload::of("w4", r.join("benches/workloads/w4.json"), r.join("target/workloads/w4")),
    ]
}

fn ensure_media(w: &Workload) {
    let script = match w.name {
        "w1" => root().join("benches/workloads/make_w1_assets.sh"),
        "w3" => root().join("benches/workloads/make_w3_assets.sh"),
        "w4" => root().join("benches/workloads/make_w4_assets.sh"),
        _ => return,
    };
    if w.assets.join(if w.name == "w3" { "clip60.mp4" } else { "clip.mp4" }).exists() {
        return;
    }
    eprintln!("[{}] generating media with {}", w.name, script.display());
    let ok = Command::new("bash").arg(&script).arg(&w.assets).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "media generation failed (needs imagemagick, ffmpeg, sox, libsox-fmt-mp3, espeak-ng)");
}

/// Child mode: plan and render one composition, print one JSON line.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let (json, assets, out, variants) = (parts[0], parts[1], parts[2], parts[3] == "all");
    let lossless = parts[3] == "lossless";
    let t0 = Instant::now();
    let parsed = reel::parse_file(json).expect("parse");
    let plan = reel::Plan::build(&parsed, &reel::PlanOptions::new(assets)).expect("plan");
    let plan_s = t0.elapsed().as_secs_f64();
    if parts[3] == "still" {
        // One 1080p still after the plan is built: the first (cold: buffers allocated) and
        // the median of ten more across the timeline.
        let still_ms = |f: u64| {
            let t = Instant::now();
            let _ = reel::render_still(&plan, f);
            t.elapsed().as_secs_f64() * 1e3
        };
        let first_ms = still_ms(plan.poster_frame());
        let n = plan.frame_count();
        let (warm_median, max_ms, _) = still_stats((0..10).map(|i| still_ms(i * n / 10)).collect());
        // Every seventh frame of the whole timeline: clip scenes (a seek, then decoding
        // forward from a keyframe) are the slow ones.
        let every: Vec<f64> = (0..n).step_by(7).map(still_ms).collect();
        let count = every.len();
        let (every_median, every_max, over) = still_stats(every);
        // The same frames through one still session, as a preview scrubbing forward asks.
        let mut stills = reel::Stills::new(&plan);
        let session: Vec<f64> = (0..n)
            .step_by(7)
            .map(|f| {
                let t = Instant::now();
                let _ = stills.render(f);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let (session_median, session_max, session_over) = still_stats(session);
        println!(
            "{}",
            serde_json::json!({"first_ms": first_ms, "median_ms": warm_median, "max_ms": max_ms,
                "every7_count": count, "every7_median_ms": every_median, "every7_max_ms": every_max, "every7_over_40": over,
                "session_median_ms": session_median, "session_max_ms": session_max, "session_over_40": session_over})
        );
        return;
    }
    let mut opts = reel::RenderOptions::new(out);
    if !variants {
        opts.variants = reel::Variants::NONE;
    }
    if lossless {
        opts.crf = 0;
    }
    let report = reel::render(&plan, &opts).expect("render");
    let line = serde_json::json!({
        "plan_s": plan_s,
        "wall_s": t0.elapsed().as_secs_f64(),
        "frames": report.frames,
        "fps": plan.fps().as_f64(),
        "width": plan.width(),
        "height": plan.height(),
        "poster": plan.poster_frame(),
        "stages": report.stages,
        "peak_rss": reel::render::peak_rss(),
    });
    println!("{line}");
}

fn run_child(json: &Path, assets: &Path, out: &Path, mode: &str) -> serde_json::Value {
    let exe = std::env::current_exe().expect("exe");
    let spec = format!("{}|{}|{}|{mode}", json.display(), assets.display(), out.display());
    let o = Command::new(exe).env("REEL_BENCH_CHILD", spec).output().expect("child");
    assert!(o.status.success(), "child failed: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("json")
}

fn timed(cmd: &mut Command) -> f64 {
    timed_peak(cmd).0
}

/// [`timed`], and the program's own peak resident set in bytes: it is reaped with `wait4`,
/// which reports that one child's `ru_maxrss` (`RUSAGE_CHILDREN` gives the largest child
/// so far, a reel render).
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which std's wait cannot replace
fn timed_peak(cmd: &mut Command) -> (f64, f64) {
    use std::io::Read;
    let t = Instant::now();
    let mut child =
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().expect("run ffmpeg");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let (mut status, mut ru): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    // SAFETY: wait4 writes only the status and the struct it is given; the child is ours and
    // not waited for elsewhere.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let wall = t.elapsed().as_secs_f64();
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "ffmpeg failed: {err}");
    (wall, ru.ru_maxrss as f64 * 1024.0)
}

/// User + system CPU seconds of every child this process has waited for so far. On a
/// virtual machine whose cores are shared (steal time), the wall times of two runs minutes
/// apart can differ by 30 %; the CPU each spent moves much less, so its ratio is printed
/// beside the wall ratio.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Decodes `video` to raw frames of `pix_fmt` in `out` with the ffmpeg program.
fn dump_raw(video: &Path, pix_fmt: &str, out: &Path) {
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt])
        .arg(out)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "dumping {pix_fmt} frames failed");
}

/// Median, slowest and the share at 40 ms or more of still timings (ms).
fn still_stats(ms: Vec<f64>) -> (f64, f64, f64) {
    let max = ms.iter().copied().fold(0.0, f64::max);
    let over = ms.iter().filter(|&&m| m >= 40.0).count() as f64 / ms.len().max(1) as f64;
    (median(ms), max, over)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn raw_input(cmd: &mut Command, w: u64, h: u64, fps: f64, raw: &Path) {
    raw_input_looped(cmd, w, h, fps, raw, 1);
}

/// [`raw_input`] read `times` times over (`-stream_loop`).
fn raw_input_looped(cmd: &mut Command, w: u64, h: u64, fps: f64, raw: &Path, times: u64) {
    let fmt = if raw.extension().is_some_and(|e| e == "rgba") { "rgba" } else { "yuv420p" };
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-stream_loop", &(times.max(1) - 1).to_string()])
        .args(["-f", "rawvideo", "-pix_fmt", fmt, "-s", &format!("{w}x{h}"), "-r", &format!("{fps}"), "-i"])
        .arg(raw);
}

fn main() {
    if let Ok(spec) = std::env::var("REEL_BENCH_CHILD") {
        reel_process::tune_allocator();
        child(&spec);
        return;
    }
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let runs: usize = std::env::var("REEL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let tmp = PathBuf::from("/dev/shm/reel-bench");
    std::fs::create_dir_all(&tmp).expect("/dev/shm");
    println!(
        "machine: {} cores; preset veryfast, CRF 20, threads auto; runs: {runs}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("floor: ffmpeg encoding the same frames from raw YUV 4:2:0 in RAM (the strictest floor)");
    println!(
        "{:<4} {:>7} {:>7} {:>6} {:>6} {:>6} {:>8}  cpu share: raster convert encode decode audio",
        "", "reel s", "floor s", "ratio", "fps", "xRT", "RSS MB"
    );
    let mut verdicts = Vec::new();
    // W1's peak RSS, for the looped W1's comparison.
    let mut w1_rss = None;
    // W1's ratios (wall, CPU), for the 10-minute W1's comparison.
    let mut w1_ratio = None;
    let mut all = workloads();
    if std::env::var("REEL_BENCH_LONG").is_ok_and(|v| v == "1") {
        all.push(long_w1(&tmp));
        all.push(ten_minute_w1(&tmp));
    }
    let picked = |w: &&Workload| filter.is_empty() || filter.iter().any(|f| f == w.name);
    let bases: Vec<&str> = all.iter().filter(picked).filter_map(|w| w.repeats.map(|(b, _)| b)).collect();
    for w in all.iter().filter(picked) {
        ensure_media(w);
        let out = tmp.join(format!("{}.mp4", w.name));
        let raw = tmp.join(format!("{}.yuv", w.name));
        let raw_rgba = tmp.join(format!("{}.rgba", w.name));
        // The floor's frames: this workload's, or those it repeats, read that many times.
        let (floor_raw, times) = match w.repeats {
            Some((base, times)) => (tmp.join(format!("{base}.yuv")), times),
            None => (raw.clone(), 1),
        };
        let mut floor_rgba_s = Vec::new();
        let mut reel_s = Vec::new();
        let mut floor_s = Vec::new();
        let (mut reel_cpu, mut floor_cpu) = (Vec::new(), Vec::new());
        let mut last = serde_json::Value::Null;
        let mut ssim = 0.0;
        let mut floor_rss: f64 = 0.0;
        for run in 0..runs {
            let c0 = children_cpu_s();
            last = run_child(&w.json, &w.assets, &out, "main");
            reel_cpu.push(children_cpu_s() - c0);
            reel_s.push(last["wall_s"].as_f64().unwrap_or(0.0));
            let (fw, fh, fps) = (
                last["width"].as_u64().unwrap_or(0),
                last["height"].as_u64().unwrap_or(0),
                last["fps"].as_f64().unwrap_or(30.0),
            );
            if let (0, Some((base, times))) = (run, w.repeats) {
                // The same frames: the base workload's, dumped earlier in this run, looped.
                assert!(floor_raw.exists(), "{}: run {base} first, in the same run (`-- {base} {}`)", w.name, w.name);
                check_repeats(w, base, times);
            } else if run == 0 {
                // The same frames, dumped once: a lossless render (x264 CRF 0, the exact
                // YUV our encoder is given) decoded to raw 4:2:0 in RAM.
                let lossless = tmp.join(format!("{}_lossless.mp4", w.name));
                run_child(&w.json, &w.assets, &lossless, "lossless");
                dump_raw(&lossless, "yuv420p", &raw);
                ssim = ssim_of(&out, &lossless);
                // The workloads README's floor takes RGBA frames (ffmpeg converts them): dump
                // those too when they fit in RAM (about 8 MB a 1080p frame).
                let frames = last["frames"].as_u64().unwrap_or(0);
                if fw * fh * 4 * frames < 9_000_000_000 {
                    dump_raw(&lossless, "rgba", &raw_rgba);
                }
                let _ = std::fs::remove_file(&lossless);
            }
            if raw_rgba.exists() {
                let mut cmd = Command::new("ffmpeg");
                raw_input(&mut cmd, fw, fh, fps, &raw_rgba);
                cmd.args([
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-threads", "0",
                ])
                .arg(tmp.join("floor.mp4"));
                floor_rgba_s.push(timed(&mut cmd));
            }
            let mut cmd = Command::new("ffmpeg");
            raw_input_looped(&mut cmd, fw, fh, fps, &floor_raw, times);
            cmd.args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-threads", "0"])
                .arg(tmp.join("floor.mp4"));
            let c0 = children_cpu_s();
            let (secs, peak) = timed_peak(&mut cmd);
            floor_s.push(secs);
            floor_rss = floor_rss.max(peak);
            floor_cpu.push(children_cpu_s() - c0);
        }
        let (r, f) = (median(reel_s), median(floor_s));
        let frames = last["frames"].as_f64().unwrap_or(0.0);
        let fps = last["fps"].as_f64().unwrap_or(30.0);
        let st = &last["stages"];
        let parts = ["raster_s", "convert_s", "encode_s", "decode_s", "audio_s"].map(|k| st[k].as_f64().unwrap_or(0.0));
        let sum: f64 = parts.iter().sum::<f64>().max(1e-9);
        let share: Vec<String> = parts.iter().map(|p| format!("{:>5.1}%", 100.0 * p / sum)).collect();
        println!(
            "{:<4} {:>7.2} {:>7.2} {:>6.2} {:>6.1} {:>6.2} {:>8.0}  {}",
            w.name,
            r,
            f,
            r / f,
            frames / r,
            frames / fps / r,
            last["peak_rss"].as_f64().unwrap_or(0.0) / 1e6,
            share.join(" ")
        );
        let (rc, fc) = (median(reel_cpu), median(floor_cpu));
        println!("     CPU (user + system): reel {rc:.1} s, floor {fc:.1} s, ratio {:.2}", rc / fc.max(1e-9));
        // Issue 29: peak memory within 64 MB of the ffmpeg program's own encoding the same
        // frames with the same settings.
        let (rss, frss) = (last["peak_rss"].as_f64().unwrap_or(0.0) / 1e6, floor_rss / 1e6);
        println!("     peak RSS: reel {rss:.0} MB, the floor's ffmpeg {frss:.0} MB, {:+.0} MB", rss - frss);
        if ["w1", "w3", "w4"].contains(&w.name) {
            verdicts.push(Verdict {
                target: "peak RSS <= ffmpeg's + 64 MB",
                value: format!("{:+.0} MB", rss - frss),
                met: rss - frss <= 64.0,
                note: format!("{} {rss:.0} MB against {frss:.0} MB", w.name),
            });
        }
        let limit = match w.name {
            "w1" => Some(("W1 <= 1.2 x floor", 1.2)),
            "w2" => Some(("W2 <= 1.3 x floor", 1.3)),
            "w3" => Some(("W3 <= 1.3 x floor", 1.3)),
            "w4" => Some(("W4 <= 1.15 x floor", 1.15)),
            _ => None,
        };
        let mut ratio_note = format!("CPU ratio {:.2}", rc / fc.max(1e-9));
        if !floor_rgba_s.is_empty() {
            let fr = median(floor_rgba_s);
            println!("     floor from RGBA frames (as in benches/README.md): {fr:.2} s, ratio {:.2}", r / fr);
        }
        if let Some(dc) = clip_decode_cpu(w) {
            println!(
                "     clip decoding alone (the ffmpeg program decoding the spans the scenes show): {dc:.1} s CPU = {:.2} of the floor; reel / (floor + that): CPU {:.2}",
                dc / fc.max(1e-9),
                rc / (fc + dc).max(1e-9)
            );
            ratio_note += &format!(
                "; decoding the clips alone is {:.2} of the floor, CPU {:.2} of floor + that",
                dc / fc.max(1e-9),
                rc / (fc + dc).max(1e-9)
            );
        }
        if let Some((target, limit)) = limit {
            verdicts.push(Verdict { target, value: format!("{:.2}", r / f), met: r / f <= limit, note: ratio_note });
        }
        if w.repeats.is_none() {
            println!("     SSIM of the main output against a lossless render: {ssim:.5}");
        }
        let rss = last["peak_rss"].as_f64().unwrap_or(0.0) / 1e6;
        if w.name == "w1" {
            w1_ratio = Some((r / f, rc / fc.max(1e-9)));
        }
        if w.name == "w1x20" {
            let cpu = rc / fc.max(1e-9);
            if let Some((short_wall, short_cpu)) = w1_ratio {
                println!("     W1 in this run: ratio {short_wall:.2}, CPU {short_cpu:.2}");
                verdicts.push(Verdict {
                    target: "W1 looped to 10 min at W1's ratio (CPU, 5 %)",
                    value: format!("{cpu:.2}"),
                    met: cpu <= short_cpu * 1.05,
                    note: format!("wall {:.2}; W1 {short_wall:.2}, CPU {short_cpu:.2}", r / f),
                });
            }
        }
        // Peak memory flat with length: the looped W1s against W1 in the same run.
        let with_length = match w.name {
            "w1x4" => Some(("RSS flat with length (120 s, 10 %)", 10.0)),
            "w1x20" => Some(("RSS flat with length (10 min, 5 %)", 5.0)),
            _ => None,
        };
        if let (Some((target, limit)), Some(short)) = (with_length, w1_rss) {
            let growth = 100.0 * (rss / short - 1.0);
            verdicts.push(Verdict {
                target,
                value: format!("{growth:+.1} %"),
                met: growth <= limit,
                note: format!("{rss:.0} MB against {short:.0} MB for the 30 s W1"),
            });
        }
        if w.name == "w1" {
            w1_rss = Some(rss);
            let flat = flat_rss(&tmp, &last);
            println!(
                "     peak RSS {rss:.0} MB; reel rendering a flat colour of the same size and length (libx264, the pipeline, no media): {flat:.0} MB; W1's media and layers add {:.0} MB",
                rss - flat
            );
            verdicts.push(Verdict {
                target: "W1 peak RSS <= 300 MB",
                value: format!("{rss:.0} MB"),
                met: rss <= 300.0,
                note: format!("a flat colour of W1's size and length: {flat:.0} MB"),
            });
            verdicts.push(Verdict {
                target: "W1 SSIM not below 0.98901",
                value: format!("{ssim:.5}"),
                met: ssim >= W1_SSIM_BEFORE,
                note: String::new(),
            });
            verdicts.push(five_outputs(w, &tmp, &raw, &last));
            let still = run_child(&w.json, &w.assets, &tmp.join("still.png"), "still");
            println!(
                "w1 one 1080p still after planning: first {:.1} ms, median of ten {:.1} ms, slowest {:.1} ms; every 7th frame ({}): median {:.1} ms, slowest {:.1} ms, {:.0} % at 40 ms or more",
                still["first_ms"].as_f64().unwrap_or(0.0),
                still["median_ms"].as_f64().unwrap_or(0.0),
                still["max_ms"].as_f64().unwrap_or(0.0),
                still["every7_count"].as_u64().unwrap_or(0),
                still["every7_median_ms"].as_f64().unwrap_or(0.0),
                still["every7_max_ms"].as_f64().unwrap_or(0.0),
                100.0 * still["every7_over_40"].as_f64().unwrap_or(0.0)
            );
            println!(
                "w1 the same frames through one Stills session (decoders and buffers kept): median {:.1} ms, slowest {:.1} ms, {:.0} % at 40 ms or more",
                still["session_median_ms"].as_f64().unwrap_or(0.0),
                still["session_max_ms"].as_f64().unwrap_or(0.0),
                100.0 * still["session_over_40"].as_f64().unwrap_or(0.0)
            );
            let cold_max = still["every7_max_ms"].as_f64().unwrap_or(f64::INFINITY);
            verdicts.push(Verdict {
                target: "W1 1080p still < 40 ms",
                value: format!("{cold_max:.1} ms"),
                met: cold_max < 40.0,
                note: format!(
                    "slowest cold render_still of every 7th frame; {:.0} % of them at 40 ms or more, {:.0} % through a Stills session",
                    100.0 * still["every7_over_40"].as_f64().unwrap_or(0.0),
                    100.0 * still["session_over_40"].as_f64().unwrap_or(0.0)
                ),
            });
        }
        if w.name == "w4" {
            verdicts.push(five_outputs(w, &tmp, &raw, &last));
        }
        // A workload repeating this one's frames reads them later in the run.
        if !bases.contains(&w.name) {
            let _ = std::fs::remove_file(&raw);
        }
        let _ = std::fs::remove_file(&raw_rgba);
    }
    for base in bases {
        let _ = std::fs::remove_file(tmp.join(format!("{base}.yuv")));
    }
    if filter.is_empty() || filter.iter().any(|f| f == "batch") {
        batch(&tmp);
    }
    print_verdicts(&verdicts);
}

/// A 20-row merge-field batch in one `reel` process against 20 separate runs of the same
/// renders: what sharing the process saves per video (the fonts, and the photo every row
/// shows, decoded once).
fn batch(tmp: &Path) {
    let reel = root().join("target/release/reel");
    if !reel.exists() {
        println!("batch: skipped ({} is not built: cargo build --release -p reel-cli)", reel.display());
        return;
    }
    let dir = tmp.join("batch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    // W1's photos: every row shows the same 2400x1600 photo, as a template's background.
    let w1 = workloads().into_iter().next().expect("w1");
    ensure_media(&w1);
    let template = serde_json::json!({
        "id": "batch", "width": 1280, "height": 720, "fps": 30,
        "scenes": [{"id": "s", "durationFrames": 60,
            "background": {"type": "image", "asset": "img1.jpg",
                "kenBurns": {"from": {"scale": 1.0}, "to": {"scale": 1.1}}},
            "layers": [
                {"type": "shape", "shape": "rect", "y": "50%", "width": "70%", "height": "40%", "cornerRadius": 24,
                 "fill": {"type": "gradient", "kind": "linear", "colors": ["{{from}}", "{{to}}"], "angle": 90}},
                {"type": "text", "role": "headline", "text": "{{title}}", "y": "40%",
                 "enter": {"preset": "slideUp", "durationFrames": 15}},
                {"type": "text", "role": "body", "text": "{{line}}", "y": "60%", "font": "Noto Sans"}]}]
    });
    let json = dir.join("template.json");
    std::fs::write(&json, serde_json::to_vec(&template).expect("json")).expect("write");
    let rows: Vec<[String; 5]> = (0..20)
        .map(|i| {
            [
                format!("ad{i:02}"),
                format!("Product {i}"),
                format!("Now {} % off, this week only", 5 * i + 5),
                format!("#{:02x}3060", 40 + 8 * i),
                format!("#10{:02x}40", 200 - 6 * i),
            ]
        })
        .collect();
    let mut csv = String::from("name,title,line,from,to\n");
    for r in &rows {
        csv.push_str(&format!("{},{},\"{}\",{},{}\n", r[0], r[1], r[2], r[3], r[4]));
    }
    std::fs::write(dir.join("rows.csv"), csv).expect("write");
    let assets = w1.assets.display().to_string();
    let common = ["--no-variants", "-q", "--preset", "veryfast", "--assets", assets.as_str()];
    let t = Instant::now();
    let ok = Command::new(&reel)
        .arg("render")
        .arg(&json)
        .args(["--batch"])
        .arg(dir.join("rows.csv"))
        .arg("-o")
        .arg(dir.join("one"))
        .args(common)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "the batch failed");
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in &rows {
        let ok = Command::new(&reel)
            .arg("render")
            .arg(&json)
            .arg("-o")
            .arg(dir.join(format!("sep/{}.mp4", r[0])))
            .args(["--set", &format!("title={}", r[1]), "--set", &format!("line={}", r[2])])
            .args(["--set", &format!("from={}", r[3]), "--set", &format!("to={}", r[4])])
            .args(common)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "a separate run failed");
    }
    let separate = t.elapsed().as_secs_f64();
    // The same videos either way.
    for r in &rows {
        let a = std::fs::read(dir.join(format!("one/{}.mp4", r[0]))).expect("batch output");
        let b = std::fs::read(dir.join(format!("sep/{}.mp4", r[0]))).expect("separate output");
        assert!(a == b, "{}: the batch and the separate run differ", r[0]);
    }
    println!(
        "batch: 20 rows of 60 frames at 1280x720 in one process {one:.2} s, as 20 runs {separate:.2} s; ratio {:.2} ({:.0} ms saved a video)",
        one / separate,
        (separate - one) / 20.0 * 1e3
    );
}

/// Peak RSS (MB) of reel rendering one flat colour at the size, rate and length of the
/// render `info` describes: what the encoder and the pipeline hold whatever the content,
/// the part of a workload's peak no media or layer choice can lower.
fn flat_rss(tmp: &Path, info: &serde_json::Value) -> f64 {
    let json = tmp.join("flat.json");
    let flat = serde_json::json!({
        "id": "flat",
        "width": info["width"].as_u64().unwrap_or(1920),
        "height": info["height"].as_u64().unwrap_or(1080),
        "fps": info["fps"].as_f64().unwrap_or(30.0),
        "scenes": [{"id": "s", "durationFrames": info["frames"].as_u64().unwrap_or(900),
                    "background": {"type": "color", "color": "#336699"}}]
    });
    std::fs::write(&json, flat.to_string()).expect("flat.json");
    let r = run_child(&json, tmp, &tmp.join("flat.mp4"), "main");
    r["peak_rss"].as_f64().unwrap_or(0.0) / 1e6
}

/// CPU seconds the `ffmpeg` program takes to decode what the composition's video
/// backgrounds show (each scene's span from its trim, looped as the clip loops, on one
/// thread as reel decodes clips up to 4K30): work the encode floor never does, and the part of
/// a clip workload no renderer avoids. None when the workload has no clips.
fn clip_decode_cpu(w: &Workload) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&w.json).ok()?).ok()?;
    let fps = v["fps"].as_f64().unwrap_or(30.0);
    let c0 = children_cpu_s();
    let mut any = false;
    for s in v["scenes"].as_array()? {
        let bg = &s["background"];
        if bg["type"] != "video" {
            continue;
        }
        let asset = w.assets.join(bg["asset"].as_str()?);
        let span = s["durationFrames"].as_f64()? / fps * bg["playbackRate"].as_f64().unwrap_or(1.0);
        let trim = bg["trimStart"].as_f64().unwrap_or(0.0);
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-threads", "1", "-stream_loop", "-1"])
            .args(["-ss", &format!("{trim}"), "-t", &format!("{span}"), "-i"])
            .arg(&asset)
            .args(["-f", "null", "-"]);
        timed(&mut cmd);
        any = true;
    }
    any.then(|| children_cpu_s() - c0)
}

/// All five outputs from reel against one ffmpeg process writing the same three videos and
/// two JPEGs from the raw frames.
fn five_outputs(w: &Workload, tmp: &Path, raw: &Path, info: &serde_json::Value) -> Verdict {
    let (t, c0) = (Instant::now(), children_cpu_s());
    let all = tmp.join(format!("{}all.mp4", w.name));
    run_child(&w.json, &w.assets, &all, "all");
    let ours = t.elapsed().as_secs_f64();
    let ours_cpu = children_cpu_s() - c0;
    let (fw, fh, fps) = (
        info["width"].as_u64().unwrap_or(1920),
        info["height"].as_u64().unwrap_or(1080),
        info["fps"].as_f64().unwrap_or(30.0),
    );
    let poster = info["poster"].as_u64().unwrap_or(0);
    // Our three videos carry the soundtrack (AAC at 192 and 128 kbit/s, the preview the web
    // copy's): so do the ffmpeg program's, from the same mix (decoded from our main output,
    // before timing). The program encodes the preview's sound again: it cannot share an
    // encoder between outputs.
    let wav = tmp.join(format!("{}all.wav", w.name));
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&all)
        .args(["-vn", "-c:a", "pcm_f32le"])
        .arg(&wav)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "extracting the soundtrack failed");
    let mut cmd = Command::new("ffmpeg");
    raw_input(&mut cmd, fw, fh, fps, raw);
    cmd.arg("-i").arg(&wav);
    let g = (2.0 * fps).round() as u64;
    cmd.args([
        "-filter_complex",
        &format!("[0:v]split=4[m][w][p][j];[p]scale=-2:360[pv];[j]select='eq(n\\,{poster})',split[j1][j2];[j1]scale=400:-2[j4];[j2]scale=800:-2[j8]"),
        "-map", "[m]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
        "-map", "1:a", "-c:a", "aac", "-b:a", "192k",
    ])
    .arg(tmp.join("f_main.mp4"))
    .args(["-map", "[w]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "main", "-level", "4.1", "-maxrate", "6000k", "-bufsize", "12000k",
        "-x264-params", &format!("keyint={g}:min-keyint={g}:scenecut=0"), "-map", "1:a", "-c:a", "aac", "-b:a", "128k"])
    .arg(tmp.join("f_web.mp4"))
    .args(["-map", "[pv]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-maxrate", "800k", "-bufsize", "1600k",
        "-map", "1:a", "-c:a", "aac", "-b:a", "128k"])
    .arg(tmp.join("f_preview.mp4"))
    .args(["-map", "[j4]", "-frames:v", "1"])
    .arg(tmp.join("f_400w.jpg"))
    .args(["-map", "[j8]", "-frames:v", "1"])
    .arg(tmp.join("f_800w.jpg"));
    let c0 = children_cpu_s();
    let floor = timed(&mut cmd);
    let floor_cpu = children_cpu_s() - c0;
    println!(
        "{} all five outputs: reel {ours:.2} s, ffmpeg {floor:.2} s, ratio {:.2} (CPU {ours_cpu:.1} s / {floor_cpu:.1} s = {:.2})",
        w.name,
        ours / floor,
        ours_cpu / floor_cpu.max(1e-9)
    );
    // Issue 29 asks 1.15 of W4, the generated ad; W1's target stayed issue 6's 1.2.
    let (target, limit) = match w.name {
        "w4" => ("W4 five outputs <= 1.15 x ffmpeg", 1.15),
        _ => ("five outputs <= 1.2 x ffmpeg", 1.2),
    };
    Verdict {
        target,
        value: format!("{:.2}", ours / floor),
        met: ours / floor <= limit,
        note: format!("CPU ratio {:.2}", ours_cpu / floor_cpu.max(1e-9)),
    }
}

/// W1 looped to 120 s: the same scenes four times, the voiceover once per repeat and a
/// 120 s music bed (W1's MP3 looped, made once by the `ffmpeg` program),
/// so the soundtrack grows with the video as the pictures do.
fn long_w1(tmp: &Path) -> Workload {
    let assets = root().join("target/workloads/w1");
    let mut v = w1_json();
    let fade = serde_json::json!({"type": "fade", "durationFrames": 20});
    repeat_scenes(&mut v, 4, &fade);
    v["totalDurationFrames"] = serde_json::json!(3600 - 60);
    let voice = v["audio"]["voiceover"].clone();
    let segments: Vec<serde_json::Value> =
        (0..4).map(|k| serde_json::json!({"asset": voice["asset"], "startFrame": k * 885})).collect();
    v["audio"]["voiceover"] = serde_json::json!({ "segments": segments });
    v["audio"]["music"]["asset"] = serde_json::json!(music_bed(&assets, 120));
    let path = tmp.join("w1x4.json");
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    Workload::of("w1x4", path, assets)
}

/// W1's composition.
fn w1_json() -> serde_json::Value {
    let src = root().join("benches/workloads/w1.json");
    serde_json::from_slice(&std::fs::read(&src).expect("w1.json")).expect("json")
}

/// Repeats the composition's scenes `times` times over, each repeat entering with
/// `between` (renamed `r{repeat}-{index}`).
fn repeat_scenes(v: &mut serde_json::Value, times: u64, between: &serde_json::Value) {
    let scenes = v["scenes"].as_array().cloned().unwrap_or_default();
    let mut all = Vec::new();
    for k in 0..times {
        for (i, s) in scenes.iter().enumerate() {
            let mut s = s.clone();
            s["id"] = serde_json::json!(format!("r{k}-{i}"));
            if k > 0 && i == 0 {
                s["transition"] = between.clone();
            }
            all.push(s);
        }
    }
    v["scenes"] = serde_json::Value::Array(all);
}

/// W1's music looped to `seconds` (`musicSECONDS.mp3` beside it, made once by the
/// `ffmpeg` program); its asset key.
fn music_bed(assets: &Path, seconds: u64) -> String {
    let key = format!("music{seconds}.mp3");
    let music = assets.join(&key);
    if !music.exists() {
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-stream_loop", "-1", "-i"])
            .arg(assets.join("music.mp3"))
            .args(["-t", &seconds.to_string(), "-c:a", "libmp3lame", "-b:a", "128k"])
            .arg(&music)
            .status()
            .expect("run ffmpeg");
        assert!(st.success(), "making the {seconds} s music bed");
    }
    key
}

/// W1 looped to 10 minutes: its six scenes 20 times over, each repeat cut to the next (not
/// the motion language's fade), its voice once per repeat, a 600 s music bed. Frame `n` is W1's frame
/// `n mod 900` (checked by [`check_repeats`]), so the floor encodes W1's raw frames looped.
fn ten_minute_w1(tmp: &Path) -> Workload {
    const TIMES: u64 = 20;
    let assets = root().join("target/workloads/w1");
    let mut v = w1_json();
    let frames = v["totalDurationFrames"].as_u64().expect("W1 has totalDurationFrames");
    // A cut, not the motion language's default fade: each repeat starts whole.
    repeat_scenes(&mut v, TIMES, &serde_json::json!({"type": "cut"}));
    v["totalDurationFrames"] = serde_json::json!(frames * TIMES);
    let voice = v["audio"]["voiceover"].clone();
    let segments: Vec<serde_json::Value> =
        (0..TIMES).map(|k| serde_json::json!({"asset": voice["asset"], "startFrame": k * frames})).collect();
    v["audio"]["voiceover"] = serde_json::json!({ "segments": segments });
    v["audio"]["music"]["asset"] = serde_json::json!(music_bed(&assets, 600));
    let path = tmp.join("w1x20.json");
    std::fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    Workload { name: "w1x20", json: path, assets, repeats: Some(("w1", TIMES)) }
}

/// Checks that `w`'s frames are `base`'s repeated `times` times: stills of frames across
/// the base (a photo scene, the clip scene, a crossfade, the last frame) equal the same
/// frames in the last repeat and in a middle one.
fn check_repeats(w: &Workload, base: &str, times: u64) {
    let plan_of = |json: &Path| {
        let parsed = reel::parse_file(json).expect("parse");
        reel::Plan::build(&parsed, &reel::PlanOptions::new(&w.assets)).expect("plan")
    };
    let long = plan_of(&w.json);
    let short = plan_of(&root().join(format!("benches/workloads/{base}.json")));
    let n = short.frame_count();
    assert_eq!(long.frame_count(), n * times, "{}: {} frames", w.name, long.frame_count());
    for f in [0, 100, n / 2, n - 30, n - 1] {
        let want = reel::render_still(&short, f);
        for k in [times / 2, times - 1] {
            let got = reel::render_still(&long, f + k * n);
            assert!(got == want, "{}: frame {} is not {base}'s frame {f}", w.name, f + k * n);
        }
    }
}

/// Mean SSIM (all planes) of `a` against `reference`, by ffmpeg's ssim filter.
fn ssim_of(a: &Path, reference: &Path) -> f64 {
    let o = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(a)
        .arg("-i")
        .arg(reference)
        .args(["-lavfi", "ssim", "-f", "null", "-"])
        .output()
        .expect("ffmpeg ssim");
    let log = String::from_utf8_lossy(&o.stderr);
    log.rsplit("All:").next().and_then(|s| s.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}
