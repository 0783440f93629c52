//! The `reel` tool: subcommands, exit codes, messages, and no file left behind on failure.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `reel` binary of this build. `cargo test` does not build another package's
/// binaries, so `make test` runs `cargo build --workspace --bins --tests` first; a binary older than
/// any source file it is built from is refused rather than tested.
pub fn reel_bin() -> PathBuf {
    // target/<profile>/deps/integration-xxxx -> target/<profile>/reel
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("reel");
    let hint = "run `cargo build --workspace --bins --tests` before `cargo test` (make test does)";
    let built = std::fs::metadata(&bin).and_then(|m| m.modified());
    let built = built.unwrap_or_else(|_| panic!("{} is not built: {hint}", bin.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut newest = None;
    let mut stack: Vec<PathBuf> = ["src", "crates/reel-cli/src", "crates/reel-process/src", "assets"]
        .iter()
        .map(|d| root.join(d))
        .chain(["Cargo.toml", "Cargo.lock", "crates/reel-cli/Cargo.toml"].iter().map(|f| root.join(f)))
        .collect();
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else { continue };
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).expect("read dir").flatten().map(|e| e.path()));
        } else if let Ok(t) = meta.modified() {
            if newest.is_none_or(|n| t > n) {
                newest = Some(t);
            }
        }
    }
    assert!(newest.is_none_or(|n| built >= n), "{} is older than its sources: {hint}", bin.display());
    bin
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(reel_bin()).current_dir(dir).args(args).output().expect("run render")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn renders_a_video_and_a_still() {
    let dir = media_dir();
    std::fs::write(
        dir.path().join("c.json"),
        r##"{"id": "c", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 12, "background": "#224466",
            "layers": [{"type": "image", "asset": "quad.png", "width": 80}]}]}"##,
    )
    .expect("write");
    let o = run(dir.path(), &["render", "c.json", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(probe(&dir.path().join("c.mp4"))["streams"][0]["nb_read_frames"], "12");
    let o = run(dir.path(), &["still", "c.json", "--frame", "3", "-o", "still.png"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(dir.path().join("still.png")).expect("png").to_rgba8();
    assert_eq!(img.dimensions(), (160, 90));
    assert_eq!(img.get_pixel(2, 2).0, [0x22, 0x44, 0x66, 255]);
    // The image layer (contain, 80 px wide, centered): red top-left quadrant at (50, 30).
    assert_eq!(img.get_pixel(50, 30).0, [255, 0, 0, 255]);
}

/// Each kind of bad input: exit code 2, the path or key on stderr, and no output file.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = media_dir();
    let cases: &[(&str, &str, &str)] = &[
        ("syntax", "{\"id\": \"c\",, }", "line 1, column 12"),
        ("type", r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": true}]}"#, "scenes[0].durationFrames"),
        (
            "color",
            r##"{"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "background": "#zz0000"}]}"##,
            "scenes[0].background",
        ),
        (
            "timing",
            r#"{"id": "c", "scenes": [{"id": "a", "durationFrames": 3}, {"id": "b", "durationFrames": 3, "transition": {"type": "fade", "durationFrames": 9}}]}"#,
            "scenes[1].transition.durationFrames",
        ),
        (
            "missing",
            r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "layers": [{"type": "image", "asset": "gone.png"}, {"type": "image", "asset": "gone2.png"}]}]}"#,
            "gone2.png",
        ),
        (
            "escape",
            r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "background": {"type": "image", "asset": "../../etc/hosts"}}]}"#,
            "'..'",
        ),
        (
            "size",
            r#"{"id": "c", "width": 99999, "height": 1080, "scenes": [{"id": "s", "durationFrames": 3}]}"#,
            "width",
        ),
    ];
    for (name, json, needle) in cases {
        let file = format!("{name}.json");
        std::fs::write(dir.path().join(&file), json).expect("write");
        let before = files_in(dir.path());
        let o = run(dir.path(), &["render", &file, "-o", "out.mp4", "--quiet"]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{name}: stderr lacks {needle:?}:\n{}", stderr(&o));
        assert_eq!(files_in(dir.path()), before, "{name}: no file may be written");
    }
    // A missing composition file is bad input too, but not a JSON one.
    let o = run(dir.path(), &["render", "nope.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope.json"));
    let o = run(dir.path(), &["render", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unwritable_output_exits_1_without_partial_file() {
    let dir = media_dir();
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"id": "c", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 3}]}"#,
    )
    .expect("write");
    std::fs::write(dir.path().join("blocker"), b"").expect("write");
    let o = run(dir.path(), &["render", "c.json", "-o", "blocker/out.mp4", "--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("blocker"), "{}", stderr(&o));
}

/// `--fonts DIR` adds a folder's fonts: a family missing from the bundle is then found
/// (no fallback warning) and renders differently from the fallback.
#[test]
fn fonts_folder_adds_families() {
    let dejavu = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    assert!(dejavu.exists(), "fonts-dejavu-core comes with FFmpeg's dependencies on Debian");
    let dir = media_dir();
    std::fs::create_dir(dir.path().join("fonts")).expect("mkdir");
    std::fs::copy(dejavu, dir.path().join("fonts/DejaVuSans.ttf")).expect("copy");
    std::fs::write(
        dir.path().join("f.json"),
        r##"{"id": "f", "width": 160, "height": 90, "scenes": [{"id": "s", "durationFrames": 2, "background": "#000000",
            "layers": [{"type": "text", "text": "Quartz", "font": "DejaVu Sans", "fontSize": 40}]}]}"##,
    )
    .expect("write");
    let o = run(dir.path(), &["still", "f.json", "--frame", "0", "-o", "without.png"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("\"DejaVu Sans\" is not available"), "{}", stderr(&o));
    let o = run(dir.path(), &["still", "f.json", "--frame", "0", "-o", "with.png", "--fonts", "fonts"]);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("not available"), "{}", stderr(&o));
    let a = image::open(dir.path().join("without.png")).expect("png").to_rgba8();
    let b = image::open(dir.path().join("with.png")).expect("png").to_rgba8();
    assert_ne!(a.as_raw(), b.as_raw(), "DejaVu Sans renders unlike the Inter fallback");
    let o = run(dir.path(), &["render", "f.json", "--fonts", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A disk that fills up mid-render: exit 1, the error names the output and the system's
/// reason, and no file (final or temporary) is left. A 256 KB tmpfs gives a real ENOSPC
/// where mounting is allowed (root on CI); elsewhere a 256 KB file size limit (EFBIG, with
/// SIGXFSZ ignored) fails the same writes.
#[test]
fn full_disk_is_a_clear_error_without_partial_files() {
    let dir = media_dir();
    let noise = image::RgbImage::from_fn(320, 180, |x, y| {
        let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_mul(2_654_435_761) >> 24;
        image::Rgb([v as u8, (v * 3) as u8, (v * 7) as u8])
    });
    noise.save(dir.path().join("noise.png")).expect("png");
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"id": "c", "width": 320, "height": 180, "scenes": [{"id": "s", "durationFrames": 60,
            "background": {"type": "image", "asset": "noise.png", "kenBurns": {"from": {"scale": 1.0, "x": 0.2, "y": 0.3}, "to": {"scale": 1.6, "x": 0.8, "y": 0.7}}}}]}"#,
    )
    .expect("write");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let o = if mounted {
        run(dir.path(), &["render", "c.json", "-o", "out/c.mp4", "--quiet"])
    } else {
        let script =
            format!("trap '' XFSZ; ulimit -f 256; exec {} render c.json -o out/c.mp4 --quiet", reel_bin().display());
        Command::new("sh").current_dir(dir.path()).args(["-c", &script]).output().expect("sh")
    };
    let left = files_in(&out);
    if mounted {
        let _ = Command::new("umount").arg(&out).status();
    }
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let reason = if mounted { "No space left on device" } else { "File too large" };
    assert!(err.contains("out/c.mp4") && err.contains(reason), "{err}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A small composition: `frames` frames of a flat background, with one text layer.
fn small(frames: u32, background: &str, text: &str) -> String {
    format!(
        r#"{{"id": "c", "width": 160, "height": 90, "scenes": [{{"id": "s", "durationFrames": {frames}, "background": "{background}",
            "layers": [{{"type": "text", "text": "{text}", "fontSize": 20}}]}}]}}"#
    )
}

#[test]
fn help_and_version_go_to_stdout_with_exit_0() {
    let dir = media_dir();
    let o = run(dir.path(), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    for cmd in ["render", "still", "stitch", "check", "schema", "variants", "fonts"] {
        assert!(stdout(&o).contains(cmd), "top-level help lacks {cmd}");
        let h = run(dir.path(), &[cmd, "--help"]);
        assert_eq!(h.status.code(), Some(0), "{cmd} --help");
        assert!(stdout(&h).contains("Usage: reel "), "{cmd} --help: {}", stdout(&h));
    }
    let v = run(dir.path(), &["--version"]);
    assert_eq!(v.status.code(), Some(0));
    assert_eq!(stdout(&v).trim(), format!("reel {}", env!("CARGO_PKG_VERSION")));
    // No command, or an unknown one: usage on stderr, exit 2.
    assert_eq!(run(dir.path(), &[]).status.code(), Some(2));
    assert_eq!(run(dir.path(), &["paint"]).status.code(), Some(2));
}

#[test]
fn check_lists_every_problem_as_json_and_exits_0_or_2() {
    let dir = media_dir();
    std::fs::write(
        dir.path().join("bad.json"),
        r##"{"id": "c", "scenes": [{"id": "s", "durationFrames": 3, "background": "#zz0000",
            "layers": [{"type": "image", "asset": "gone.png"}]}]}"##,
    )
    .expect("write");
    let o = run(dir.path(), &["check", "bad.json", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let problems: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON array");
    let mut got: Vec<(&str, &str)> = problems
        .as_array()
        .expect("array")
        .iter()
        .map(|p| (p["path"].as_str().expect("path"), p["severity"].as_str().expect("severity")))
        .collect();
    got.sort();
    assert_eq!(got, [("scenes[0].background", "error"), ("scenes[0].layers[0].asset", "error")], "{problems}");
    std::fs::write(
        dir.path().join("ok.json"),
        small(3, "#000000", "hi").replace("\"id\": \"c\",", "\"id\": \"c\", \"wobble\": 1,"),
    )
    .expect("write");
    let o = run(dir.path(), &["check", "ok.json", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let problems: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(problems[0]["path"], "wobble");
    assert_eq!(problems[0]["severity"], "warning");
    let o = run(dir.path(), &["check", "ok.json"]);
    assert!(stdout(&o).contains("ok: 3 frames"), "{}", stdout(&o));
    // A composition that is not UTF-8, and one that is missing: bad input.
    std::fs::write(dir.path().join("latin1.json"), b"{\"id\": \"caf\xe9\", \"scenes\": []}").expect("write");
    let o = run(dir.path(), &["check", "latin1.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("not UTF-8") && stdout(&o).contains("byte 11"), "{}", stdout(&o));
    assert_eq!(run(dir.path(), &["check", "nope.json"]).status.code(), Some(2));
}

#[test]
fn schema_prints_the_committed_schema() {
    let dir = media_dir();
    let o = run(dir.path(), &["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/composition.schema.json"))
        .expect("schema file");
    assert_eq!(stdout(&o), committed);
}

#[test]
fn standard_input_and_output_extensions() {
    let dir = media_dir();
    let json = small(6, "#336699", "in");
    let piped = |args: &[&str]| {
        use std::io::Write;
        let mut child = Command::new(reel_bin())
            .current_dir(dir.path())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(json.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("wait")
    };
    let o = piped(&["render", "-", "-o", "x.webm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("x.webm") && stderr(&o).contains(".mp4"), "{}", stderr(&o));
    let o = piped(&["render", "-"]);
    assert_eq!(o.status.code(), Some(2), "no -o with standard input");
    let o = piped(&["render", "-", "-o", "s.mp4", "--no-variants", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(probe(&dir.path().join("s.mp4"))["streams"][0]["nb_read_frames"], "6");
    let o = piped(&["still", "-", "--frame", "1", "-o", "s.jpg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".png"), "{}", stderr(&o));
    // The report may not take an output's name, nor go to a missing folder.
    std::fs::write(dir.path().join("c.json"), &json).expect("write");
    let before = files_in(dir.path());
    for report in ["c_web.mp4", "missing/r.json"] {
        let o = run(dir.path(), &["render", "c.json", "-o", "c.mp4", "--report", report, "-q"]);
        assert_eq!(o.status.code(), Some(2), "--report {report}: {}", stderr(&o));
        assert_eq!(files_in(dir.path()), before, "--report {report}: nothing may be written");
    }
}

#[test]
fn merge_fields_fill_text_and_colours_and_name_what_is_missing() {
    let dir = media_dir();
    std::fs::write(dir.path().join("t.json"), small(4, "{{bg}}", "{{greeting}}, {{name}}")).expect("write");
    let o = run(dir.path(), &["check", "t.json", "--set", "bg=#ff0000"]);
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    assert!(out.contains("scenes[0].layers[0].text: merge field {{greeting}} has no value"), "{out}");
    assert!(out.contains("{{name}}"), "every missing field: {out}");
    std::fs::write(dir.path().join("d.json"), r##"{"greeting": "Hello", "name": "Ada", "bg": "#0000ff"}"##)
        .expect("write");
    let o =
        run(dir.path(), &["still", "t.json", "--data", "d.json", "--set", "bg=#ff0000", "--frame", "0", "-o", "m.png"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let img = image::open(dir.path().join("m.png")).expect("png").to_rgba8();
    assert_eq!(img.get_pixel(2, 2).0, [255, 0, 0, 255], "--set wins over --data");
    for bad in [&["--set", "no-equals"][..], &["--set", "a b=1"], &["--data", "missing.json"]] {
        let mut args = vec!["check", "t.json"];
        args.extend_from_slice(bad);
        assert_eq!(run(dir.path(), &args).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn a_batch_renders_a_video_per_row_after_checking_every_row() {
    let dir = media_dir();
    std::fs::write(dir.path().join("t.json"), small(3, "{{bg}}", "{{title}}")).expect("write");
    std::fs::write(dir.path().join("rows.csv"), "name,title,bg\nred,\"Red, bold\",#ff0000\nblue,Blue,#0000ff\n")
        .expect("write");
    let o = run(dir.path(), &["render", "t.json", "--batch", "rows.csv", "-o", "out", "--no-variants", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(files_in(&dir.path().join("out")), ["blue.mp4", "red.mp4"]);
    let (_, _, frames) = decode_rgb(&dir.path().join("out/red.mp4"));
    let px = &frames[0][..3];
    assert!(px[0] > 200 && px[2] < 60, "red row: {px:?}");
    // JSON Lines; a row without a name, a duplicate name, a missing field: nothing rendered.
    std::fs::write(
        dir.path().join("rows.jsonl"),
        "{\"name\": \"a\", \"title\": \"A\", \"bg\": \"#000000\"}\n{\"title\": \"B\", \"bg\": \"#000000\"}\n\
         {\"name\": \"a\", \"title\": \"C\", \"bg\": \"#000000\"}\n{\"name\": \"d\", \"bg\": \"#000000\"}\n{\"name\": \"../e\", \"title\": \"E\", \"bg\": \"#000000\"}\n",
    )
    .expect("write");
    let o = run(dir.path(), &["render", "t.json", "--batch", "rows.jsonl", "-o", "out2", "-q"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    for needle in ["row 2", "taken by an earlier row", "row 4 (line 4) (d): scenes[0].layers[0].text", "\"../e\""] {
        assert!(err.contains(needle), "{needle:?} not in:\n{err}");
    }
    assert!(!dir.path().join("out2").exists(), "nothing is rendered when a row is bad");
    let o = run(dir.path(), &["render", "t.json", "--batch", "rows.txt"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(dir.path(), &["render", "t.json", "--batch", "rows.csv", "--report", "r.json"]);
    assert_eq!(o.status.code(), Some(2), "a batch writes no report file");
    assert!(stderr(&o).contains("--progress json"), "{}", stderr(&o));
}

#[test]
fn a_range_of_stills_and_its_bounds() {
    let dir = media_dir();
    std::fs::write(dir.path().join("c.json"), small(12, "#123456", "r")).expect("write");
    let o = run(dir.path(), &["still", "c.json", "--frames", "2..5", "-o", "f/{frame}.png", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(files_in(&dir.path().join("f")), ["02.png", "03.png", "04.png"]);
    let o = run(dir.path(), &["still", "c.json", "--frames", "10..", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.path().join("c.f10.png").exists() && dir.path().join("c.f11.png").exists());
    for (args, needle) in [
        (&["--frames", "5..99"][..], "0..12"),
        (&["--frame", "12"], "0..12"),
        (&["--frames", "5..2"], "no frame"),
        (&["--frames", "1..3", "-o", "one.png"], "{frame}"),
    ] {
        let mut a = vec!["still", "c.json"];
        a.extend_from_slice(args);
        let o = run(dir.path(), &a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn progress_is_plain_lines_or_json_lines_without_a_terminal() {
    let dir = media_dir();
    std::fs::write(dir.path().join("c.json"), small(20, "#222222", "p")).expect("write");
    let o = run(dir.path(), &["render", "c.json", "-o", "a.mp4", "--no-variants"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("progress: 20/20 frames (100 %)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("rendered 20 frames"), "{}", stderr(&o));
    let o = run(dir.path(), &["render", "c.json", "-o", "b.mp4", "--no-variants", "--progress", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(events.first().map(|e| e["event"].clone()), Some("progress".into()), "{events:?}");
    let done = events.last().expect("events");
    assert_eq!(done["event"], "done");
    assert_eq!(done["report"]["frames"], 20);
    let o = run(dir.path(), &["render", "nope.json", "--progress", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("an error line");
    assert_eq!(err["event"], "error");
    assert_eq!(err["kind"], "input");
}

#[test]
fn fonts_lists_the_bundled_families_and_a_folder_s() {
    let dir = media_dir();
    let o = run(dir.path(), &["fonts"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).lines().any(|l| l.starts_with("Inter ") && l.ends_with("bundled")), "{}", stdout(&o));
    std::fs::create_dir(dir.path().join("fonts")).expect("mkdir");
    std::fs::copy("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", dir.path().join("fonts/DejaVuSans.ttf"))
        .expect("DejaVu Sans (fonts-dejavu-core)");
    let o = run(dir.path(), &["fonts", "--fonts", "fonts", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let faces: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let dejavu = faces.as_array().expect("array").iter().find(|f| f["family"] == "DejaVu Sans").expect("DejaVu Sans");
    assert!(dejavu["source"].as_str().expect("source").ends_with("DejaVuSans.ttf"));
    assert_eq!(run(dir.path(), &["fonts", "--fonts", "nope"]).status.code(), Some(2));
}

/// An output never replaces a file the render reads (by any name), the composition, a
/// folder or a device node: each is refused before any work, and nothing is written.
#[test]
fn outputs_never_replace_inputs_or_special_files() {
    let dir = media_dir();
    let d = dir.path();
    std::fs::copy(d.join("quad.png"), d.join("v_400w.jpg")).expect("copy");
    std::fs::write(
        d.join("c.json"),
        r#"{"id": "c", "width": 64, "height": 36, "scenes": [{"id": "s", "durationFrames": 3,
            "layers": [{"type": "image", "asset": "quad.png"}, {"type": "image", "asset": "v_400w.jpg"}]}]}"#,
    )
    .expect("write");
    std::fs::copy(d.join("c.json"), d.join("c.mp4")).expect("copy");
    std::fs::create_dir(d.join("x_web.mp4")).expect("mkdir");
    std::os::unix::fs::symlink(d.join("quad.png"), d.join("alias.mp4")).expect("link");
    std::fs::hard_link(d.join("quad.png"), d.join("hard.mp4")).expect("hard link");
    let before = files_in(d);
    let quad = std::fs::read(d.join("quad.png")).expect("quad");
    for (args, needle) in [
        (&["render", "c.json", "-o", "v.mp4"][..], "asset"),
        (&["render", "c.json", "-o", "hard.mp4"], "asset"),
        (&["render", "c.json", "-o", "alias.mp4"], "not a regular file"),
        (&["render", "c.json", "-o", "x.mp4"], "not a regular file"),
        (&["render", "c.mp4", "-o", "c.mp4"], "the composition itself"),
        (&["render", "c.json", "-o", "o.mp4", "--report", "c.json"], "the composition itself"),
    ] {
        let o = run(d, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(files_in(d), before, "{args:?}: nothing may be written");
    }
    assert_eq!(std::fs::read(d.join("quad.png")).expect("quad"), quad, "the asset is untouched");
    // A device node named as the output (through the library's own check: the name ends in .mp4).
    let dev = d.join("dev.mp4");
    let made = Command::new("mknod").arg(&dev).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if made {
        let o = run(d, &["render", "c.json", "-o", "dev.mp4"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&dev).expect("meta").file_type().is_char_device(), "the node stays");
    }
}

#[test]
fn segments_rendered_apart_are_stitched_in_any_order() {
    let dir = media_dir();
    std::fs::write(dir.path().join("c.json"), small(40, "#204080", "Chunks")).expect("write");
    for (range, name) in [("0..15", "a.mp4"), ("15..", "b.mp4")] {
        let o = run(dir.path(), &["render", "c.json", "-o", name, "--frames", range, "-q"]);
        assert_eq!(o.status.code(), Some(0), "{range}: {}", stderr(&o));
    }
    let o = run(dir.path(), &["render", "c.json", "-o", "x.mp4", "--frames", "30..50", "-q"]);
    assert_eq!(o.status.code(), Some(2), "a range past the end: {}", stderr(&o));
    assert!(stderr(&o).contains("--frames") && stderr(&o).contains("0..40"), "{}", stderr(&o));
    // Each segment says which frames it holds: the order on the command line does not matter.
    let o = run(dir.path(), &["stitch", "c.json", "-o", "c.mp4", "b.mp4", "a.mp4", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = probe(&dir.path().join("c.mp4"));
    assert_eq!(p["streams"][0]["nb_read_frames"], "40");
    for f in ["c_web.mp4", "c_preview.mp4", "c_400w.jpg", "c_800w.jpg"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    // A missing segment, or a file that is not a segment: exit 2, nothing written.
    for args in [&["b.mp4"][..], &["a.mp4", "b.mp4", "c.mp4"][..]] {
        let mut all = vec!["stitch", "c.json", "-o", "d.mp4", "-q"];
        all.extend_from_slice(args);
        let o = run(dir.path(), &all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!files_in(dir.path()).iter().any(|f| f.contains("d.mp4") || f.starts_with("d_")), "{args:?}");
    }
}
