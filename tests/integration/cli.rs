//! The `reel` tool: subcommands, exit codes, messages, and no file left behind on failure.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `reel` binary of this build: `cargo test` at the workspace's top builds it with the
/// tests (crates/reel-cli is a default member).
pub fn reel_bin() -> PathBuf {
    // target/<profile>/deps/integration-xxxx -> target/<profile>/reel
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(Path::parent).expect("target dir").join("reel");
    assert!(bin.exists(), "{} not built: run `cargo test` at the workspace's top", bin.display());
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
