//! The bad-input catalogue: every case names its kind, the JSON path or asset key that
//! must appear in the error, and the exit code of the `render` binary; and nothing may be
//! written. Run through the real binary, as a backend would.

use crate::common::*;
use std::process::Command;

/// A composition with one scene of 10 frames at 64x36, with `scene` merged into the scene
/// and `top` into the composition (raw JSON fragments).
fn comp(top: &str, scene: &str) -> String {
    let top = if top.is_empty() { String::new() } else { format!("{top},") };
    let scene = if scene.is_empty() { String::new() } else { format!(",{scene}") };
    format!(
        r#"{{"id": "cat", "width": 64, "height": 36, {top} "scenes": [{{"id": "s", "durationFrames": 10 {scene}}}]}}"#
    )
}

fn layer(fields: &str) -> String {
    comp("", &format!(r#""layers": [{{{fields}}}]"#))
}

#[test]
fn catalogue_of_bad_input() {
    let dir = media_dir();
    let d = dir.path();
    std::fs::write(d.join("corrupt.png"), b"\x89PNG\r\n\x1a\ngarbage").expect("w");
    std::fs::write(d.join("empty.png"), b"").expect("w");
    std::fs::write(d.join("text.jpg"), b"just some words").expect("w");
    let mut trunc = std::fs::read(d.join("quad.png")).expect("quad");
    trunc.truncate(trunc.len() / 2);
    std::fs::write(d.join("truncated.png"), &trunc).expect("w");
    std::fs::write(d.join("noise.mp3"), (0..3000u32).map(|i| (i * 31 % 253) as u8).collect::<Vec<_>>()).expect("w");
    std::fs::write(d.join("empty.wav"), b"").expect("w");
    std::fs::write(d.join("notes.mp4"), "not a video\n".repeat(40)).expect("w");
    std::fs::write(d.join("empty.mp4"), b"").expect("w");
    std::fs::write(d.join("bad.srt"), "1\n00:00:01,000 => 00:00:02,000\nHi\n").expect("w");
    std::fs::write(d.join("empty.vtt"), "WEBVTT\n").expect("w");
    // Media cut in half: the header still promises the whole length.
    let ff = |args: &str, out: &str| {
        let st = Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args.split(' '))
            .arg(d.join(out))
            .status()
            .expect("run ffmpeg (installed by make test)");
        assert!(st.success(), "ffmpeg {args}");
        let mut bytes = std::fs::read(d.join(out)).expect("r");
        bytes.truncate(bytes.len() / 2);
        std::fs::write(d.join(format!("cut_{out}")), bytes).expect("w");
    };
    ff("-f lavfi -i testsrc2=s=160x90:r=30:d=4 -c:v libx264 -g 30 -movflags +faststart", "clip.mp4");
    ff("-f lavfi -i testsrc2=s=160x90:r=25:d=4 -c:v libvpx-vp9 -b:v 100k", "clip.webm");
    ff("-f lavfi -i sine=d=4", "tone.wav");
    ff("-f lavfi -i sine=d=4 -c:a flac", "tone.flac");
    ff("-f lavfi -i sine=d=4 -c:a libmp3lame", "tone.mp3");
    // WAV headers declaring 1 Hz and 4 GHz: either would cost gigabytes to resample.
    write_wav(&d.join("slow.wav"), 1, 1, &[0.1; 50]);
    let mut fast = std::fs::read(d.join("slow.wav")).expect("r");
    fast[24..28].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    std::fs::write(d.join("fast.wav"), fast).expect("w");
    std::fs::write(d.join("huge.srt"), "1\n1e300:00:00,000 --> 1e300:00:01,000\nHi\n").expect("w");
    std::fs::write(d.join("neg.srt"), "1\n-1:00:00,000 --> 00:00:01,000\nHi\n").expect("w");
    let outside = tempfile::tempdir().expect("tmp");
    std::fs::write(outside.path().join("secret.png"), b"x").expect("w");
    std::os::unix::fs::symlink(outside.path().join("secret.png"), d.join("link.png")).expect("link");
    std::os::unix::fs::symlink(outside.path(), d.join("linkdir")).expect("link");
    // HLS playlists (named as a playlist, and as an MP4) pointing at a clip outside the
    // assets folder: FFmpeg may open only the demuxers reel supports, so neither is read.
    let secret = outside.path().join("secret.mp4");
    std::fs::copy(d.join("clip.mp4"), &secret).expect("copy");
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n{}\n#EXTINF:4.0,\n../{}\n#EXT-X-ENDLIST\n",
        secret.display(),
        secret.display()
    );
    std::fs::write(d.join("list.m3u8"), &playlist).expect("w");
    std::fs::write(d.join("list.mp4"), &playlist).expect("w");

    // (kind, composition, text that must appear on stderr)
    let cases: Vec<(&str, String, &str)> = vec![
        ("syntax", "{".into(), "line 1, column 1"),
        ("syntax", "{\"id\": \"c\",}".into(), "line 1"),
        ("syntax", "not json".into(), "syntax"),
        ("syntax", "".into(), "syntax"),
        ("syntax", "{\"id\": \"c\", \"scenes\": [}".into(), "line 1"),
        ("type", "[]".into(), "composition object"),
        ("type", r#"{"id": 5, "scenes": []}"#.into(), "id"),
        ("type", r#"{"id": "c", "scenes": {}}"#.into(), "scenes"),
        ("type", r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": "10"}]}"#.into(), "scenes[0].durationFrames"),
        ("type", r#"{"id": "c", "scenes": [{"id": "s", "durationFrames": 2.5}]}"#.into(), "scenes[0].durationFrames"),
        ("type", layer(r#""type": "text", "text": 5"#), "scenes[0].layers[0].text"),
        ("type", layer(r#""type": "shape", "opacity": "half""#), "scenes[0].layers[0].opacity"),
        ("type", layer(r#""type": "text", "text": "x", "fontSize": [1]"#), "scenes[0].layers[0].fontSize"),
        ("type", comp(r#""width": "wide""#, ""), "width"),
        ("type", comp(r#""audio": []"#, ""), "audio"),
        ("missing field", r#"{"scenes": [{"id": "s", "durationFrames": 1}]}"#.into(), "id"),
        ("missing field", r#"{"id": "c", "scenes": [{"durationFrames": 1}]}"#.into(), "scenes[0]"),
        ("range", comp(r#""fps": 0"#, ""), "fps"),
        ("range", comp(r#""fps": 1000"#, ""), "fps"),
        ("range", comp(r#""fps": -30"#, ""), "fps"),
        ("range", comp(r#""totalDurationFrames": 0"#, ""), "totalDurationFrames"),
        ("range", comp(r#""totalDurationFrames": -5"#, ""), "totalDurationFrames"),
        ("range", comp("", r#""startFrame": -1"#), "scenes[0].startFrame"),
        ("range", layer(r#""type": "shape", "opacity": 1.5"#), "scenes[0].layers[0].opacity"),
        ("range", layer(r#""type": "shape", "opacity": -0.1"#), "scenes[0].layers[0].opacity"),
        ("range", layer(r#""type": "shape", "scale": 1e9"#), "scenes[0].layers[0].scale"),
        ("range", layer(r#""type": "text", "text": "x", "fontWeight": 0"#), "scenes[0].layers[0].fontWeight"),
        ("range", layer(r#""type": "text", "text": "x", "lineHeight": 0"#), "scenes[0].layers[0].lineHeight"),
        ("range", layer(r#""type": "text", "text": "x", "maxLines": 0"#), "scenes[0].layers[0].maxLines"),
        ("range", layer(r#""type": "shape", "fromFrame": -3"#), "scenes[0].layers[0].fromFrame"),
        ("range", comp(r#""posterFrame": 99"#, ""), "posterFrame"),
        ("range", comp(r#""style": {"typography": {"scale": -1}}"#, ""), "style.typography.scale"),
        ("size", comp(r#""width": 100000"#, ""), "width"),
        ("size", comp(r#""height": 8"#, ""), "height"),
        ("size", comp(r#""width": 65"#, ""), "width"),
        ("size", r#"{"id": "c", "aspectRatio": "16:9", "width": 640, "height": 640, "scenes": [{"id": "s", "durationFrames": 1}]}"#.into(), "aspectRatio"),
        ("limit", comp(r#""fps": 120, "totalDurationFrames": 5000000"#, ""), "totalDurationFrames"),
        ("color", comp("", r##""background": "#12""##), "scenes[0].background"),
        ("color", comp("", r#""background": "rgb(1,2)""#), "scenes[0].background"),
        ("color", comp("", r#""background": "rgba(0,0,0,2)""#), "scenes[0].background"),
        ("color", comp("", r#""background": "@brand""#), "scenes[0].background"),
        ("color", layer(r#""type": "text", "text": "x", "color": "reddish""#), "scenes[0].layers[0].color"),
        ("color", comp(r#""style": {"colorPalette": {"primary": "nope"}}"#, ""), "style.colorPalette.primary"),
        ("color", comp("", r##""background": {"type": "gradient", "colors": ["#fff", "blurple"]}"##), "scenes[0].background.colors[1]"),
        ("color", comp("", r#""background": {"type": "gradient", "colors": []}"#), "scenes[0].background.colors"),
        ("length", layer(r#""type": "shape", "x": "50px""#), "scenes[0].layers[0].x"),
        ("length", layer(r#""type": "shape", "width": "-20%" "#), "scenes[0].layers[0].width"),
        ("length", layer(r#""type": "text", "text": "x", "fontSize": "huge""#), "scenes[0].layers[0].fontSize"),
        ("length", layer(r#""type": "shape", "x": 1e12"#), "scenes[0].layers[0].x"),
        ("timing", r#"{"id": "c", "scenes": [{"id": "a", "durationFrames": 5}, {"id": "b", "durationFrames": 20, "transition": {"type": "fade", "durationFrames": 10}}]}"#.into(), "scenes[1].transition.durationFrames"),
        ("timing", r#"{"id": "c", "scenes": [{"id": "a", "durationFrames": 5}, {"id": "a", "durationFrames": 5}]}"#.into(), "scenes[1].id"),
        ("timing", layer(r#""type": "shape", "keyframes": {"opacity": [{"frame": 4, "value": 1}, {"frame": 4, "value": 0}]}"#), "scenes[0].layers[0].keyframes.opacity[1].frame"),
        ("timing", comp(r#""captions": {"words": [{"text": "a", "startFrame": 0, "endFrame": 5}, {"text": "b", "startFrame": 3, "endFrame": 8}]}"#, ""), "captions.words[1].startFrame"),
        ("timing", comp(r#""totalDurationFrames": 300, "durationPolicy": "strict""#, ""), "strict"),
        ("enum", comp(r#""aspectRatio": "21:9""#, ""), "aspectRatio"),
        ("enum", comp("", r#""transition": {"type": "swirl"}"#), "scenes[0].transition.type"),
        ("enum", layer(r#""type": "sticker""#), "scenes[0].layers[0].type"),
        ("enum", layer(r#""type": "shape", "anchor": "middle""#), "scenes[0].layers[0].anchor"),
        ("enum", layer(r#""type": "text", "text": "x", "align": "justify""#), "scenes[0].layers[0].align"),
        ("enum", layer(r#""type": "text", "text": "x", "role": "title""#), "scenes[0].layers[0].role"),
        ("enum", layer(r#""type": "shape", "shape": "star""#), "scenes[0].layers[0].shape"),
        ("enum", layer(r#""type": "shape", "enter": {"preset": "explode"}"#), "scenes[0].layers[0].enter.preset"),
        ("enum", layer(r#""type": "shape", "enter": {"preset": "typewriter"}"#), "text layers only"),
        ("enum", layer(r#""type": "shape", "enter": {"preset": "fade", "easing": "wobbly"}"#), "scenes[0].layers[0].enter.easing"),
        ("enum", layer(r#""type": "image", "asset": "quad.png", "fit": "stretch""#), "scenes[0].layers[0].fit"),
        ("enum", comp(r#""durationPolicy": "squeeze""#, ""), "durationPolicy"),
        ("enum", comp(r#""captions": {"words": [{"text": "a", "startFrame": 0, "endFrame": 5}], "style": {"position": "left"}}"#, ""), "captions.style.position"),
        ("asset missing", layer(r#""type": "image", "asset": "nope.png""#), "nope.png"),
        ("asset missing", layer(r#""type": "image""#), "scenes[0].layers[0].asset"),
        ("asset missing", comp(r#""audio": {"voiceover": {"asset": "gone.mp3"}}"#, ""), "audio.voiceover.asset"),
        ("asset missing", comp(r#""captions": {"asset": "gone.srt"}"#, ""), "captions.asset"),
        ("asset escape", layer(r#""type": "image", "asset": "/etc/hostname""#), "absolute"),
        ("asset escape", layer(r#""type": "image", "asset": "../secret.png""#), "'..'"),
        ("asset escape", layer(r#""type": "image", "asset": "a/../../secret.png""#), "'..'"),
        ("asset escape", layer(r#""type": "image", "asset": "%2e%2e/secret.png""#), "percent-encoded"),
        ("asset escape", layer(r#""type": "image", "asset": "..%2fsecret.png""#), "percent-encoded"),
        ("asset escape", layer(r#""type": "image", "asset": "..\\secret.png""#), "backslash"),
        ("asset escape", layer(r#""type": "image", "asset": "link.png""#), "outside the asset folder"),
        ("asset escape", layer(r#""type": "image", "asset": "linkdir/secret.png""#), "outside the asset folder"),
        ("asset corrupt", layer(r#""type": "image", "asset": "corrupt.png""#), "corrupt.png"),
        ("asset empty", layer(r#""type": "image", "asset": "empty.png""#), "empty"),
        ("asset truncated", layer(r#""type": "image", "asset": "truncated.png""#), "truncated.png"),
        ("asset mislabelled", layer(r#""type": "image", "asset": "text.jpg""#), "not a PNG, JPEG, WebP or SVG"),
        ("asset wrong kind", layer(r#""type": "video", "asset": "notes.mp4""#), "notes.mp4"),
        ("asset empty", comp("", r#""background": {"type": "video", "asset": "empty.mp4"}"#), "empty.mp4"),
        ("asset corrupt", comp(r#""audio": {"music": {"asset": "noise.mp3"}}"#, ""), "noise.mp3"),
        ("asset empty", comp(r#""audio": {"tracks": [{"asset": "empty.wav"}]}"#, ""), "audio.tracks[0].asset"),
        ("asset corrupt", comp(r#""captions": {"asset": "bad.srt"}"#, ""), "line 2"),
        ("asset empty", comp(r#""captions": {"asset": "empty.vtt"}"#, ""), "no cues"),
        ("asset wrong kind", comp(r#""audio": {"voiceover": {"asset": "quad.png"}}"#, ""), "quad.png"),
        ("asset truncated", layer(r#""type": "video", "asset": "cut_clip.mp4""#), "\"cut_clip.mp4\": truncated video"),
        ("asset truncated", comp("", r#""background": {"type": "video", "asset": "cut_clip.webm"}"#), "\"cut_clip.webm\": truncated video"),
        ("asset truncated", comp(r#""audio": {"voiceover": {"asset": "cut_tone.wav"}}"#, ""), "\"cut_tone.wav\": truncated audio"),
        ("asset truncated", comp(r#""audio": {"music": {"asset": "cut_tone.flac"}}"#, ""), "\"cut_tone.flac\": truncated audio"),
        ("asset truncated", comp(r#""audio": {"tracks": [{"asset": "cut_tone.mp3"}]}"#, ""), "\"cut_tone.mp3\": truncated audio"),
        ("outside by playlist", layer(r#""type": "video", "asset": "list.m3u8""#), "\"list.m3u8\""),
        ("outside by playlist", comp("", r#""background": {"type": "video", "asset": "list.mp4"}"#), "\"list.mp4\""),
        ("audio rate", comp(r#""audio": {"voiceover": {"asset": "slow.wav"}}"#, ""), "1 Hz"),
        ("audio rate", comp(r#""audio": {"music": {"asset": "fast.wav"}}"#, ""), "4000000000 Hz"),
        ("caption time", comp(r#""captions": {"asset": "huge.srt"}"#, ""), "\"huge.srt\": line 2"),
        ("caption time", comp(r#""captions": {"asset": "neg.srt"}"#, ""), "\"neg.srt\": line 2"),
        (
            "text raster",
            layer(r#""type": "text", "text": "A\nB\nC\nD\nE\nF\nG\nH\nI\nJ", "fontSize": 2000, "lineHeight": 10"#),
            "scenes[0].layers[0].text: this text at fontSize 2000",
        ),
        (
            "text length",
            layer(&format!(r#""type": "text", "text": "{}""#, "word ".repeat(2000))),
            "scenes[0].layers[0].text: a text of 10000 characters",
        ),
        (
            "keyframe range",
            layer(r#""type": "shape", "keyframes": {"scale": [{"frame": 0, "value": 1e308}]}"#),
            "scenes[0].layers[0].keyframes.scale[0].value",
        ),
        (
            "keyframe range",
            layer(r#""type": "shape", "keyframes": {"opacity": [{"frame": 0, "value": -3}]}"#),
            "keyframes.opacity[0].value: expected a number in 0..=1",
        ),
        ("option", comp("", ""), "--frobnicate"),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let bin = crate::cli::reel_bin();
    let mut failures = Vec::new();
    for (i, (kind, json, needle)) in cases.iter().enumerate() {
        let file = format!("case{i}.json");
        std::fs::write(d.join(&file), json).expect("write");
        let before = files_in(d);
        let mut args = vec!["render".into(), file.clone(), "-o".into(), "out/case.mp4".into(), "--quiet".into()];
        if *kind == "option" {
            args.push("--frobnicate".into());
        }
        let o = Command::new(&bin).current_dir(d).args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.code() != Some(2) || !err.contains(needle) || files_in(d) != before {
            failures.push(format!("#{i} {kind}: exit {:?}, wanted 2 and {needle:?} in:\n{err}", o.status.code()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // The control: the same harness on a valid composition sees exit 0 and a written file.
    std::fs::write(d.join("ok.json"), comp("", "")).expect("write");
    let o = Command::new(&bin)
        .current_dir(d)
        .args(["render", "ok.json", "-o", "out/ok.mp4", "--quiet", "--no-variants"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("out/ok.mp4").exists());
}
