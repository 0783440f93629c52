//! Video clips and the soundtrack, judged on the decoded output: every frame's source index,
//! audio/video sync, ducking and fades by band level, loudness, stream durations, bad media.

use crate::common::*;
use reel::RenderOptions;
use std::path::Path;
use std::process::Command;

const W: u32 = 160;
const H: u32 = 96;
const BITS: u32 = 8;

/// A clip whose frame i shows i in binary: 8 vertical stripes, white for 1. A keyframe
/// every 12 frames, so trims and loops seek to one inside the clip, as in real footage.
fn counter_clip(path: &Path, fps: &str, frames: u32, gop: Gop) {
    // With B-frames (three between references, the middle one a reference itself), some
    // frames are referred to by none: the decoder may pass over those it will not show.
    // Open groups of pictures start at an I-frame that is not an IDR: the B-frames decoded
    // after it but shown before it refer to the group before.
    let extra: &[&str] = match gop {
        Gop::Plain => &["-g", "12"],
        Gop::BFrames => &["-g", "24", "-bf", "3", "-x264-params", "b-pyramid=normal"],
        Gop::Open => &["-g", "24", "-bf", "3", "-x264-params", "b-pyramid=normal:open-gop=1"],
        // x265 makes open groups by default (CRA pictures with RASL leading pictures).
        Gop::Hevc => &["-c:v", "libx265", "-g", "24", "-bf", "3", "-x265-params", "log-level=error"],
        // VP9 in WebM: hidden alternate reference frames, no B-frames.
        Gop::Vp9 => &["-c:v", "libvpx-vp9", "-g", "24", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0"],
    };
    write_clip_with(path, W, H, fps, extra, (0..frames).map(counter_frame));
}

/// Frame `i` of a counter clip: `i` in binary, 8 vertical stripes, white for 1 (RGB24).
fn counter_frame(i: u32) -> Vec<u8> {
    let mut f = vec![0u8; (W * H * 3) as usize];
    for y in 0..H {
        for x in 0..W {
            let on = (i >> (BITS - 1 - x / (W / BITS))) & 1 == 1;
            let p = ((y * W + x) * 3) as usize;
            f[p..p + 3].fill(if on { 255 } else { 0 });
        }
    }
    f
}

/// [`read_index`] of an RGBA picture (a still, a decoded clip frame) of W x H.
fn rgba_index(rgba: &[u8]) -> u32 {
    let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    read_index(&rgb, W, H)
}

fn read_index(frame: &[u8], w: u32, h: u32) -> u32 {
    (0..BITS).fold(0, |acc, b| {
        let x = (b * w / BITS) + w / BITS / 2;
        let on = rgb_at(frame, w, x, h / 2)[1] > 128;
        (acc << 1) | on as u32
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Gop {
    Plain,
    BFrames,
    Open,
    Hevc,
    Vp9,
}

struct Case {
    src_fps: u32,
    src_frames: u32,
    comp_fps: &'static str,
    comp_num: u64,
    comp_den: u64,
    frames: u64,
    trim_start: f64,
    trim_end: Option<f64>,
    rate: f64,
    looped: bool,
    gop: Gop,
}

fn expected(c: &Case, n: u64) -> u32 {
    let dur = c.src_frames as f64 / c.src_fps as f64;
    let end = c.trim_end.unwrap_or(dur);
    let span = end - c.trim_start;
    let mut t = n as f64 * c.comp_den as f64 / c.comp_num as f64 * c.rate;
    if t >= span {
        t = if c.looped { t % span } else { span - 1e-4 };
    }
    (((c.trim_start + t) * c.src_fps as f64) + 1e-6).floor() as u32
}

#[test]
fn clip_frames_are_exact_across_rates_trims_and_loops() {
    // A 30 fps clip at 30 fps, entered at `trim_start` and looped.
    let at30 = |src_frames, frames, trim_start, gop| Case {
        src_fps: 30,
        src_frames,
        comp_fps: "30",
        comp_num: 30,
        comp_den: 1,
        frames,
        trim_start,
        trim_end: None,
        rate: 1.0,
        looped: true,
        gop,
    };
    let cases = [
        Case {
            src_fps: 24,
            src_frames: 72,
            comp_fps: "25",
            comp_num: 25,
            comp_den: 1,
            frames: 100,
            trim_start: 0.5,
            trim_end: None,
            rate: 1.0,
            looped: true,
            gop: Gop::Plain,
        },
        Case {
            src_fps: 30,
            src_frames: 60,
            comp_fps: "30",
            comp_num: 30,
            comp_den: 1,
            frames: 45,
            trim_start: 0.0,
            trim_end: None,
            rate: 2.0,
            looped: false,
            gop: Gop::Plain,
        },
        Case {
            src_fps: 60,
            src_frames: 180,
            comp_fps: "29.97",
            comp_num: 30000,
            comp_den: 1001,
            frames: 80,
            trim_start: 1.0,
            trim_end: None,
            rate: 0.5,
            looped: true,
            gop: Gop::Plain,
        },
        Case {
            src_fps: 30,
            src_frames: 90,
            comp_fps: "25",
            comp_num: 25,
            comp_den: 1,
            frames: 90,
            trim_start: 0.2,
            trim_end: Some(2.0),
            rate: 1.0,
            looped: true,
            gop: Gop::Plain,
        },
        // A trim deep into the clip: the decoder seeks there instead of decoding from 0.
        Case {
            src_fps: 30,
            src_frames: 150,
            comp_fps: "30",
            comp_num: 30,
            comp_den: 1,
            frames: 40,
            trim_start: 3.1,
            trim_end: None,
            rate: 1.0,
            looped: true,
            gop: Gop::Plain,
        },
        Case {
            src_fps: 60,
            src_frames: 120,
            comp_fps: "30",
            comp_num: 30,
            comp_den: 1,
            frames: 70,
            trim_start: 0.0,
            trim_end: None,
            rate: 1.0,
            looped: true,
            gop: Gop::Plain,
        },
        // B-frames: a 60 fps clip at 30 fps (every other frame is passed over, the
        // unreferenced ones undecoded), entered by a seek inside a group of pictures.
        Case {
            src_fps: 60,
            src_frames: 144,
            comp_fps: "30",
            comp_num: 30,
            comp_den: 1,
            frames: 80,
            trim_start: 0.55,
            trim_end: None,
            rate: 1.0,
            looped: true,
            gop: Gop::BFrames,
        },
        Case {
            src_fps: 30,
            src_frames: 96,
            comp_fps: "30",
            comp_num: 30,
            comp_den: 1,
            frames: 60,
            trim_start: 1.25,
            trim_end: None,
            rate: 1.0,
            looped: true,
            gop: Gop::BFrames,
        },
        // Open groups of pictures, entered inside one and looped.
        at30(100, 90, 0.71, Gop::Open),
        // HEVC with open groups, entered inside one, looped; VP9 in WebM, the same way.
        at30(101, 90, 0.71, Gop::Hevc),
        at30(102, 90, 0.71, Gop::Vp9),
        // Entered at an I-frame that is not an IDR picture, then played to the file's end.
        at30(100, 60, 1.91, Gop::Open),
    ];
    let dir = media_dir();
    for (k, c) in cases.iter().enumerate() {
        let ext = if c.gop == Gop::Vp9 { "webm" } else { "mp4" };
        let clip = dir.path().join(format!("counter{}x{}.{ext}", c.src_fps, c.src_frames));
        if !clip.exists() {
            counter_clip(&clip, &c.src_fps.to_string(), c.src_frames, c.gop);
        }
        let json = format!(
            r#"{{"id": "clip{k}", "width": {W}, "height": {H}, "fps": {fps}, "scenes": [{{"id": "s", "durationFrames": {frames},
                "background": {{"type": "video", "asset": "counter{src}x{n}.{ext}", "fit": "fill", "trimStart": {ts}, {te}
                "playbackRate": {rate}, "loop": {looped}}}}}]}}"#,
            fps = c.comp_fps,
            frames = c.frames,
            src = c.src_fps,
            n = c.src_frames,
            ts = c.trim_start,
            te = c.trim_end.map(|e| format!(r#""trimEnd": {e},"#)).unwrap_or_default(),
            rate = c.rate,
            looped = c.looped,
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let out = dir.path().join(format!("out{k}.mp4"));
        reel::render(&plan, &RenderOptions::new(&out)).expect("render");
        let (w, h, frames) = decode_rgb(&out);
        assert_eq!(frames.len() as u64, c.frames, "case {k}");
        let got: Vec<u32> = frames.iter().map(|f| read_index(f, w, h)).collect();
        let want: Vec<u32> = (0..c.frames).map(|n| expected(c, n)).collect();
        assert_eq!(
            got, want,
            "case {k}: {}fps -> {}fps, trim {} rate {} loop {}",
            c.src_fps, c.comp_fps, c.trim_start, c.rate, c.looped
        );
        // The still path (seek, decode only what that frame needs, drain) agrees with the
        // streaming path at every frame: group starts and ends, frames between source frames.
        let stills: Vec<u32> = (0..c.frames).map(|n| rgba_index(&reel::render_still(&plan, n))).collect();
        assert_eq!(stills, want, "case {k}: stills");
        // A still session: every frame forwards, then every third backwards, then jumps
        // forwards across several keyframes at once.
        let mut session = reel::Stills::new(&plan);
        let mut order: Vec<u64> = (0..c.frames).collect();
        order.extend((0..c.frames).rev().step_by(3));
        order.extend((0..c.frames).step_by(29));
        for n in order {
            assert_eq!(rgba_index(session.render(n)), want[n as usize], "case {k}: session still {n}");
        }
    }
    // One still decoder asked again: forward past where it drained, back, between frames.
    let clip = dir.path().join("counter60x144.mp4");
    let mut d = reel::media::ClipDecoder::open_yuv_for_still(&clip, W, H).expect("open");
    for (t, want) in [(0.55, 33), (0.6, 36), (1.99, 119), (0.0, 0), (0.41, 24), (2.5, 143), (1.2, 72)] {
        let pic = d.picture_at(t).and_then(|p| p.to_pixmap()).expect("picture");
        assert_eq!(rgba_index(pic.data()), want, "still decoder at {t}");
    }
}

#[test]
fn a_scrubbing_decoder_sends_each_packet_once_going_forward() {
    // B-frames in a pyramid, as x264 makes them: a group's keyframe is decoded two frames
    // before it is shown, and the last frames of a group are held for reordering until a
    // later packet comes. A preview stepping forward through the clip must get every frame
    // right without decoding a group twice (the index's decoding time of the next keyframe
    // once passed for its presentation time and sent the decoder back to the group's
    // start), and the last frame of a group must not wait for the next group's keyframe.
    let dir = media_dir();
    let clip = dir.path().join("pyramid.mp4");
    write_clip_with(&clip, W, H, "30", &["-g", "12", "-bf", "3"], (0..48).map(counter_frame));
    for step in [1, 2, 5] {
        let mut d = reel::media::ClipDecoder::open_yuv_for_scrubbing(&clip, W, H).expect("open");
        for n in (0..48u32).step_by(step) {
            let pic = d.picture_at(n as f64 / 30.0).and_then(|p| p.to_pixmap()).expect("picture");
            assert_eq!(rgba_index(pic.data()), n, "step {step}");
            if step == 1 && n % 12 == 11 {
                // Exactly the packets of the groups so far, each once.
                assert_eq!(d.packets_sent(), n as u64 + 1, "frame {n}: the next keyframe was sent");
            }
            assert!(
                d.packets_sent() <= (n as u64 / 12 + 1) * 12,
                "step {step}, frame {n}: {} packets sent",
                d.packets_sent()
            );
        }
    }
}

#[test]
fn a_variable_frame_rate_clip_shows_the_frame_of_each_time() {
    // Phones record at a variable rate. A clip whose frames keep their 30 fps times but with
    // gaps (every fifth frame dropped, and a 1/3 s hole) must show, at each output frame,
    // the last source frame at or before its time: through the render, a still and a
    // still session, entered by a seek past the hole.
    let dir = media_dir();
    let kept = |n: u32| n % 5 != 2 && !(20..30).contains(&n);
    let clip = dir.path().join("vfr.mp4");
    let select = "select='not(eq(mod(n\\,5)\\,2))*not(between(n\\,20\\,29))'";
    let extra = ["-vf", select, "-fps_mode", "passthrough", "-g", "12", "-bf", "3"];
    write_clip_with(&clip, W, H, "30", &extra, (0..72).map(counter_frame));
    for trim in [0.0f64, 1.05] {
        let json = format!(
            r#"{{"id": "vfr", "width": {W}, "height": {H}, "fps": 30, "scenes": [{{"id": "s", "durationFrames": 30,
                "background": {{"type": "video", "asset": "vfr.mp4", "fit": "fill", "trimStart": {trim}}}}}]}}"#
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let want: Vec<u32> = (0..30u32)
            .map(|k| {
                let n = (trim * 30.0 + 1e-6).floor() as u32 + k;
                (0..=n).rev().find(|&m| kept(m)).unwrap_or(0)
            })
            .collect();
        let out = dir.path().join("vfr_out.mp4");
        reel::render(&plan, &RenderOptions::new(&out)).expect("render");
        let (w, h, decoded) = decode_rgb(&out);
        let got: Vec<u32> = decoded.iter().map(|f| read_index(f, w, h)).collect();
        assert_eq!(got, want, "render, trim {trim}");
        let mut session = reel::Stills::new(&plan);
        for k in 0..30u64 {
            assert_eq!(rgba_index(&reel::render_still(&plan, k)), want[k as usize], "still {k}, trim {trim}");
            assert_eq!(rgba_index(session.render(k)), want[k as usize], "session still {k}, trim {trim}");
        }
    }
}

#[test]
fn a_clip_whose_times_start_late_plays_from_its_first_frame() {
    // MPEG-TS files stamp their first frame 1.4 s: clip time 0 is that frame, a trim counts
    // from it, and the clip's length is its own, through the render and a still.
    let dir = media_dir();
    write_clip_with(&dir.path().join("c.ts"), W, H, "30", &["-g", "12"], (0..45).map(counter_frame));
    let info = reel::media::probe_video(&dir.path().join("c.ts")).expect("probe");
    assert!((info.duration - 1.5).abs() < 0.05, "duration {}", info.duration);
    for trim in [0.0f64, 0.5] {
        let json = format!(
            r#"{{"id": "ts", "width": {W}, "height": {H}, "fps": 30, "scenes": [{{"id": "s", "durationFrames": 20,
                "background": {{"type": "video", "asset": "c.ts", "fit": "fill", "trimStart": {trim}}}}}]}}"#
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let first = (trim * 30.0).round() as u32;
        let want: Vec<u32> = (0..20).map(|k| first + k).collect();
        let out = dir.path().join("ts_out.mp4");
        reel::render(&plan, &RenderOptions::new(&out)).expect("render");
        let (w, h, decoded) = decode_rgb(&out);
        let got: Vec<u32> = decoded.iter().map(|f| read_index(f, w, h)).collect();
        assert_eq!(got, want, "render, trim {trim}");
        assert_eq!(rgba_index(&reel::render_still(&plan, 7)), want[7], "still, trim {trim}");
    }
}

#[test]
fn a_still_session_moves_between_threads_with_its_open_clip() {
    // An embedder keeps a preview's session in shared state and serves it from whichever
    // thread asks: a session (and the clip decoder it holds open) can move.
    let dir = media_dir();
    write_clip_with(&dir.path().join("c.mp4"), W, H, "30", &["-g", "12"], (0..30).map(counter_frame));
    let json = format!(
        r#"{{"id": "move", "width": {W}, "height": {H}, "fps": 30, "scenes": [{{"id": "s", "durationFrames": 30,
            "background": {{"type": "video", "asset": "c.mp4", "fit": "fill"}}}}]}}"#
    );
    let plan = plan(&json, dir.path()).expect("plan");
    let mut stills = reel::Stills::new(&plan);
    assert_eq!(rgba_index(stills.render(4)), 4);
    let (stills, later) = std::thread::scope(|s| {
        s.spawn(move || {
            let later = rgba_index(stills.render(17));
            (stills, later)
        })
        .join()
        .expect("thread")
    });
    assert_eq!(later, 17);
    drop(stills);
}

fn band_level(x: &[f32], freq: f32) -> f32 {
    // Goertzel: amplitude of one frequency over the window.
    let n = x.len() as f32;
    let w = 2.0 * std::f32::consts::PI * freq / 48000.0;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    2.0 * power.sqrt() / n
}

fn db(x: f32) -> f32 {
    20.0 * x.max(1e-9).log10()
}

#[test]
fn music_ducks_under_the_voice_fades_and_never_clips() {
    let dir = media_dir();
    write_wav(&dir.path().join("music.wav"), 44100, 1, &sine(44100, 200.0, 6.0, 0.5));
    write_wav(&dir.path().join("voice.wav"), 48000, 1, &sine(48000, 1000.0, 2.0, 0.5));
    let json = r#"{"id": "duck", "width": 64, "height": 36, "fps": 30, "scenes": [{"id": "s", "durationFrames": 180}],
        "audio": {"voiceover": {"asset": "voice.wav", "startFrame": 60},
                  "music": {"asset": "music.wav", "volume": 1.0, "fadeInFrames": 15, "fadeOutFrames": 15,
                            "duck": {"underVoiceover": true, "amountDb": -12}}}}"#;
    let plan = plan(json, dir.path()).expect("plan");
    let out = dir.path().join("duck.mp4");
    reel::render(&plan, &RenderOptions::new(&out)).expect("render");
    let a = decode_audio_left(&out);
    let win = |t0: f32, t1: f32| &a[(t0 * 48000.0) as usize..(t1 * 48000.0) as usize];
    let before = band_level(win(1.0, 1.5), 200.0);
    let during = band_level(win(3.0, 3.5), 200.0);
    let after = band_level(win(5.0, 5.4), 200.0);
    let fade_in = band_level(win(0.0, 0.1), 200.0);
    let fade_out = band_level(win(5.93, 6.0), 200.0);
    let ducked = db(during) - db(before);
    assert!((ducked + 12.0).abs() < 1.5, "ducked by {ducked:.2} dB, want -12");
    assert!((db(after) - db(before)).abs() < 1.0, "music back after the voice: {:.2} dB", db(after) - db(before));
    assert!(db(fade_in) < db(before) - 6.0, "fade in: {:.1} vs {:.1} dB", db(fade_in), db(before));
    assert!(db(fade_out) < db(before) - 6.0, "fade out: {:.1} vs {:.1} dB", db(fade_out), db(before));
    let voice = band_level(win(3.0, 3.5), 1000.0);
    assert!(db(voice) > -10.0, "the voice is there: {:.1} dB", db(voice));
    // 0.5 + 0.5 would clip: the limiter keeps it under -1 dBFS (allow the codec 0.5 dB).
    let peak = a.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(db(peak) <= -0.5, "peak {:.2} dBFS", db(peak));
}

#[test]
fn a_sound_at_frame_n_is_heard_at_frame_n() {
    let dir = media_dir();
    let mut click = vec![0f32; 4800];
    click[..240].iter_mut().enumerate().for_each(|(i, s)| *s = if i % 2 == 0 { 0.8 } else { -0.8 });
    write_wav(&dir.path().join("click.wav"), 48000, 1, &click);
    for (fps, num, den, at) in [("30", 30u64, 1u64, 45u64), ("29.97", 30000, 1001, 52), ("25", 25, 1, 33)] {
        let json = format!(
            r##"{{"id": "sync", "width": 64, "height": 36, "fps": {fps}, "scenes": [{{"id": "s", "durationFrames": 90, "background": "#000000",
                "layers": [{{"type": "shape", "fill": "#ffffff", "fromFrame": {at}, "durationFrames": 2}}]}}],
                "audio": {{"tracks": [{{"asset": "click.wav", "startFrame": {at}}}]}}}}"##
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let out = dir.path().join("sync.mp4");
        reel::render(&plan, &RenderOptions::new(&out)).expect("render");
        let (flash, t_sound) = flash_and_click(&out);
        let t_flash = flash as f64 * den as f64 / num as f64;
        assert_eq!(flash as u64, at, "{fps}");
        assert!(
            (t_sound - t_flash).abs() <= den as f64 / num as f64,
            "{fps}: flash {t_flash:.4} s, sound {t_sound:.4} s"
        );
    }
}

#[test]
fn loudness_normalization_hits_the_target() {
    let dir = media_dir();
    write_wav(&dir.path().join("tone.wav"), 48000, 1, &sine(48000, 440.0, 4.0, 0.05));
    let json = r#"{"id": "loud", "width": 64, "height": 36, "fps": 30, "scenes": [{"id": "s", "durationFrames": 120}],
        "audio": {"voiceover": {"asset": "tone.wav"}}}"#;
    let plan = plan(json, dir.path()).expect("plan");
    let out = dir.path().join("loud.mp4");
    let mut opts = RenderOptions::new(&out);
    opts.loudness = Some(-14.0);
    reel::render(&plan, &opts).expect("render");
    let o = std::process::Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(&out)
        .args(["-af", "ebur128", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let log = String::from_utf8_lossy(&o.stderr);
    let summary = &log[log.rfind("Summary:").expect("ebur128 summary")..];
    let i: f64 = summary
        .lines()
        .find_map(|l| {
            l.trim().strip_prefix("I:").map(|v| v.trim().trim_end_matches("LUFS").trim().parse().expect("LUFS"))
        })
        .expect("I:");
    assert!((i + 14.0).abs() <= 1.0, "integrated loudness {i} LUFS, want -14 +- 1");
}

#[test]
fn audio_and_video_streams_have_the_same_length() {
    let dir = media_dir();
    write_wav(&dir.path().join("long.wav"), 48000, 1, &sine(48000, 300.0, 20.0, 0.3));
    for (fps, frames) in [("25", 61u64), ("29.97", 299), ("60", 97), ("24", 1)] {
        let json = format!(
            r#"{{"id": "len", "width": 32, "height": 18, "fps": {fps}, "scenes": [{{"id": "s", "durationFrames": {frames}}}],
                "audio": {{"music": {{"asset": "long.wav"}}}}}}"#
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let out = dir.path().join("len.mp4");
        reel::render(&plan, &RenderOptions::new(&out)).expect("render");
        let p = probe(&out);
        let d = |i: usize| p["streams"][i]["duration"].as_str().expect("duration").parse::<f64>().expect("f64");
        assert_eq!(p["streams"][1]["codec_name"], "aac");
        assert_eq!(p["streams"][1]["sample_rate"], "48000");
        assert!((d(0) - d(1)).abs() <= 1024.0 / 48000.0, "{fps} x {frames}: video {} s, audio {} s", d(0), d(1));
    }
}

#[test]
fn no_audio_means_no_audio_track() {
    let dir = media_dir();
    let plan =
        plan(r#"{"id": "mute", "width": 32, "height": 18, "scenes": [{"id": "s", "durationFrames": 3}]}"#, dir.path())
            .expect("plan");
    assert!(!plan.has_audio());
    let out = dir.path().join("mute.mp4");
    reel::render(&plan, &RenderOptions::new(&out)).expect("render");
    assert_eq!(probe(&out)["streams"].as_array().expect("streams").len(), 1);
}

#[test]
fn bad_media_names_the_asset() {
    let dir = media_dir();
    std::fs::write(dir.path().join("noise.mp3"), (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>())
        .expect("write");
    std::fs::write(dir.path().join("empty.wav"), b"").expect("write");
    std::fs::write(dir.path().join("junk.mp4"), b"\x00\x00\x00\x18ftypmp42 this is not a video at all").expect("write");
    std::fs::write(dir.path().join("notes.mp4"), "these are notes, not a video\n".repeat(50)).expect("write");
    for (json, path, needle) in [
        (r#""audio": {"voiceover": {"asset": "noise.mp3"}}"#, "audio.voiceover.asset", "noise.mp3"),
        (r#""audio": {"music": {"asset": "empty.wav"}}"#, "audio.music.asset", "empty"),
        (r#""audio": {"tracks": [{"asset": "gone.wav"}]}"#, "audio.tracks[0].asset", "not found"),
        (
            r#""scenes": [{"id": "s", "durationFrames": 3, "background": {"type": "video", "asset": "junk.mp4"}}]"#,
            "scenes[0].background.asset",
            "junk.mp4",
        ),
        (
            r#""scenes": [{"id": "s", "durationFrames": 3, "layers": [{"type": "video", "asset": "notes.mp4"}]}]"#,
            "scenes[0].layers[0].asset",
            "notes.mp4",
        ),
    ] {
        let body = if json.starts_with("\"scenes\"") {
            json.to_string()
        } else {
            format!(r#""scenes": [{{"id": "s", "durationFrames": 3}}], {json}"#)
        };
        let full = format!(r#"{{"id": "bad", "width": 32, "height": 18, {body}}}"#);
        match plan(&full, dir.path()) {
            Err(reel::Error::Invalid(p)) => {
                assert!(p.0.iter().any(|p| p.path == path && p.message.contains(needle)), "{path}: {p}");
            }
            other => panic!("{path}: expected Invalid, got {other:?}"),
        }
    }
}

/// A clip whose picture flashes and whose sound clicks at the same instant (t = 1.5 s in the
/// file): trimmed by 0.5 s and played from frame 15, both land on output frame 45.
#[test]
fn a_clips_flash_and_click_stay_together() {
    let dir = media_dir();
    let clip = dir.path().join("flash.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=black:s=64x36:r=30:d=4,drawbox=c=white:t=fill:enable='between(t,1.5,1.53)'",
        ])
        .args(["-f", "lavfi", "-i", "aevalsrc='if(between(t,1.5,1.505),0.8,0)':s=44100:d=4"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&clip)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "make the flash clip");
    let json = r##"{"id": "clipsync", "width": 64, "height": 36, "fps": 30, "scenes": [
        {"id": "a", "durationFrames": 15, "background": "#000000"},
        {"id": "b", "durationFrames": 60, "background": {"type": "video", "asset": "flash.mp4", "trimStart": 0.5, "volume": 1}}]}"##;
    let plan = plan(json, dir.path()).expect("plan");
    assert!(plan.has_audio(), "the clip's sound is part of the mix");
    let out = dir.path().join("clipsync.mp4");
    let mut opts = RenderOptions::new(&out);
    opts.variants = reel::Variants::NONE;
    reel::render(&plan, &opts).expect("render");
    let (flash, click) = flash_and_click(&out);
    assert_eq!(flash, 45, "flash frame");
    click_with_flash(click, flash, "");

    // At playbackRate 2 (trim 0.5 s): the flash at 1.5 s in the file shows 0.5 s after the
    // scene starts, frame 30, and the click comes with it.
    let json = json.replace(r#""trimStart": 0.5,"#, r#""trimStart": 0.5, "playbackRate": 2,"#);
    let fast = crate::common::plan(&json, dir.path()).expect("plan");
    reel::render(&fast, &opts).expect("render");
    let (flash, click) = flash_and_click(&out);
    assert_eq!(flash, 30, "flash frame at rate 2");
    click_with_flash(click, flash, "rate 2: ");

    // The same clip in MPEG-TS, whose times start at 1.4 s: picture and sound both count
    // from the first frame, so they still land together on frame 45.
    let ts = dir.path().join("flash.ts");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&clip)
        .args(["-c", "copy"])
        .arg(&ts)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "remux the flash clip");
    let plan =
        crate::common::plan(&json.replace("flash.mp4", "flash.ts").replace(r#" "playbackRate": 2,"#, ""), dir.path())
            .expect("plan");
    reel::render(&plan, &opts).expect("render");
    let (flash, click) = flash_and_click(&out);
    assert_eq!(flash, 45, "flash frame, MPEG-TS");
    click_with_flash(click, flash, "MPEG-TS: ");
}

/// A phone-style clip with a display matrix: drawn as players show it (the `ffmpeg`
/// program's autorotation is the judge: blue on top, red below).
#[test]
fn rotation_metadata_is_applied() {
    let dir = media_dir();
    let plain = dir.path().join("plain.mp4");
    let rotated = dir.path().join("rotated.mp4");
    let run =
        |args: &[&str]| std::process::Command::new("ffmpeg").args(args).status().map(|s| s.success()).unwrap_or(false);
    assert!(run(&[
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "color=red:s=32x32:r=30:d=1[a];color=blue:s=32x32:r=30:d=1[b];[a][b]hstack",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        plain.to_str().expect("utf8")
    ]));
    // FFmpeg 5.1 writes the display matrix for "rotate" only when stream-copying.
    assert!(run(&[
        "-v",
        "error",
        "-y",
        "-i",
        plain.to_str().expect("utf8"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rotated.to_str().expect("utf8")
    ]));
    let json = r#"{"id": "rot", "width": 32, "height": 64, "scenes": [{"id": "s", "durationFrames": 5,
        "layers": [{"type": "video", "asset": "rotated.mp4", "x": 16, "y": 32}]}]}"#;
    let plan = plan(json, dir.path()).expect("plan");
    let img = reel::render_still(&plan, 2);
    let px = |y| {
        let p = img.get_pixel(16, y).0;
        [p[0], p[1], p[2]]
    };
    assert_near(px(12), [0, 0, 255], 40, "top is blue");
    assert_near(px(52), [255, 0, 0], 40, "bottom is red");
}

/// The first output frame whose centre is bright, and the first instant (seconds) the audio
/// goes above 0.2: where a flash is seen and a click heard.
fn flash_and_click(out: &Path) -> (usize, f64) {
    let (w, _, frames) = decode_rgb(out);
    let flash = frames.iter().position(|f| rgb_at(f, w, 32, 18)[0] > 128).expect("flash");
    let a = decode_audio_left(out);
    let click = a.iter().position(|s| s.abs() > 0.2).expect("click") as f64 / 48000.0;
    (flash, click)
}

/// The truncation check counts every stream: an MKV whose audio (6 s) outlasts its picture
/// (4 s) declares 6 s and is whole, not cut; the same file cut in half is refused.
#[test]
fn a_clip_whose_audio_outlasts_its_picture_is_not_truncated() {
    let dir = media_dir();
    let clip = dir.path().join("av.mkv");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4", "-f", "lavfi", "-i", "sine=d=6"])
        .args(["-c:v", "libx264", "-c:a", "libvorbis"])
        .arg(&clip)
        .status()
        .expect("run ffmpeg (installed by make test)");
    assert!(st.success());
    let json = |asset: &str| {
        format!(
            r#"{{"id": "c", "width": 160, "height": 90, "scenes": [{{"id": "s", "durationFrames": 30,
            "background": {{"type": "video", "asset": "{asset}"}}}}]}}"#
        )
    };
    plan(&json("av.mkv"), dir.path()).expect("a whole file plans");
    let bytes = std::fs::read(&clip).expect("read");
    std::fs::write(dir.path().join("cut.mkv"), &bytes[..bytes.len() / 2]).expect("write");
    let err = plan(&json("cut.mkv"), dir.path()).expect_err("a cut file is refused");
    assert!(err.to_string().contains("truncated video"), "{err}");
}

/// The click is heard within one frame (at 30 fps) of the frame the flash is seen on.
fn click_with_flash(click: f64, flash: usize, what: &str) {
    assert!(
        (click - flash as f64 / 30.0).abs() <= 1.0 / 30.0,
        "{what}click at {click:.4} s, flash at {:.4} s",
        flash as f64 / 30.0
    );
}

/// A smooth, colourful test picture (gradients and hard edges) as RGB24.
fn test_picture(w: u32, h: u32, n: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let edge = if (x / 16 + y / 16 + n).is_multiple_of(2) { 40 } else { 0 };
            v.extend([(x * 255 / w) as u8, (y * 255 / h) as u8, (128 + edge) as u8]);
        }
    }
    v
}

#[test]
fn clip_pictures_in_yuv_match_the_rgba_conversion() {
    // Clips are handed to the frame workers as 4:2:0 planes (copied at the drawn size,
    // averaged 2x2 at half size, swscale otherwise) and converted there. Every case must
    // match swscale's own RGBA conversion of the same frame within a few code values.
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("c.mp4");
    write_clip(&clip, 320, 180, "30", (0..3).map(|n| test_picture(320, 180, n)));
    for (w, h, what) in [(320, 180, "same size"), (160, 90, "exact half"), (200, 112, "scaled")] {
        let mut rgba = reel::media::ClipDecoder::open(&clip, w, h).expect("open");
        let mut yuv = reel::media::ClipDecoder::open_yuv(&clip, w, h).expect("open");
        for t in [0.0, 0.04] {
            let a = rgba.frame_at(t).expect("rgba frame");
            let pic = yuv.picture_at(t).expect("yuv frame");
            assert!(matches!(pic, reel::media::ClipPicture::Yuv(_)), "{what}: expected the 4:2:0 path");
            let b = pic.to_pixmap().expect("converted");
            assert_eq!((a.width(), a.height()), (b.width(), b.height()), "{what}");
            let (mut worst, mut sum) = (0u8, 0u64);
            for (x, y) in a.data().iter().zip(b.data()) {
                let d = x.abs_diff(*y);
                worst = worst.max(d);
                sum += d as u64;
            }
            let mean = sum as f64 / a.data().len() as f64;
            // swscale and the yuv crate round differently (measured: worst 3, mean 0.87 at
            // the same size; 6 and 1.0 at half; 13 and 1.2 scaled, where the filters
            // differ at the hard edges): allow that, nothing more.
            let limit = match what {
                "same size" => 3,
                "exact half" => 8,
                _ => 16,
            };
            assert!(worst <= limit && mean < 1.5, "{what} at {t}: worst {worst}, mean {mean:.2}");
        }
    }
    // Odd sizes cannot be 4:2:0: the decoder falls back to RGBA.
    let mut odd = reel::media::ClipDecoder::open_yuv(&clip, 161, 91).expect("open");
    assert!(matches!(odd.picture_at(0.0), Some(reel::media::ClipPicture::Rgba(_))));
}

#[test]
fn a_clip_twice_the_canvas_is_drawn_with_its_colours() {
    // The 4K-on-1080p case in small: a 640x360 clip of four flat quadrants on a 320x180
    // canvas takes the 2x2-average path; the decoded output keeps each quadrant's colour.
    let dir = tempfile::tempdir().expect("tmp");
    let q = quadrants(640, 360);
    let rgb: Vec<u8> = q.pixels().flat_map(|p| [p[0], p[1], p[2]]).collect();
    write_clip(&dir.path().join("big.mp4"), 640, 360, "30", (0..10).map(|_| rgb.clone()));
    let json = r#"{"id": "c", "width": 320, "height": 180, "fps": 30, "scenes": [{"id": "s", "durationFrames": 10,
        "background": {"type": "video", "asset": "big.mp4", "fit": "cover"}}]}"#;
    let plan = plan(json, dir.path()).expect("plan");
    let out = dir.path().join("out.mp4");
    let mut opts = reel::RenderOptions::new(&out);
    opts.variants = reel::Variants::NONE;
    reel::render(&plan, &opts).expect("render");
    let (w, _, frames) = decode_rgb(&out);
    assert_eq!(frames.len(), 10);
    for f in [&frames[0], &frames[9]] {
        assert_near(rgb_at(f, w, 40, 40), [255, 0, 0], 8, "red quadrant");
        assert_near(rgb_at(f, w, 280, 40), [0, 255, 0], 8, "green quadrant");
        assert_near(rgb_at(f, w, 40, 140), [0, 0, 255], 8, "blue quadrant");
        assert_near(rgb_at(f, w, 280, 140), [255, 255, 255], 8, "white quadrant");
    }
}

/// An image cache shared between plans (a batch) serves a file decoded once, and decodes it
/// again when the file changes: the second plan shows the new pixels.
#[test]
fn a_shared_image_cache_never_serves_a_changed_file() {
    let dir = media_dir();
    let json = r#"{"id": "c", "width": 200, "height": 100, "scenes": [{"id": "s", "durationFrames": 2,
        "background": {"type": "image", "asset": "quad.png", "fit": "fill"}}]}"#;
    let parsed = reel::parse(json).expect("parse");
    let mut opts = reel::PlanOptions::new(dir.path());
    opts.image_cache = Some(reel::media::ImageCache::new(64 << 20));
    let first = reel::render_still(&reel::Plan::build(&parsed, &opts).expect("plan"), 0);
    assert_eq!(first.get_pixel(10, 10).0, [255, 0, 0, 255], "red top-left");
    let again = reel::render_still(&reel::Plan::build(&parsed, &opts).expect("plan"), 0);
    assert_eq!(first.as_raw(), again.as_raw(), "the cached image draws the same");
    // A new picture under the same name (a different size, so a different length too).
    image::RgbaImage::from_pixel(40, 20, image::Rgba([0, 0, 255, 255]))
        .save(dir.path().join("quad.png"))
        .expect("save");
    let changed = reel::render_still(&reel::Plan::build(&parsed, &opts).expect("plan"), 0);
    assert_eq!(changed.get_pixel(10, 10).0, [0, 0, 255, 255], "the changed file is decoded again");
}

/// An animated GIF in a video layer plays at its own frame delays and loops: red for 0.5 s,
/// then green for 0.5 s, over and over; as an image layer it is refused with the way out.
#[test]
fn an_animated_gif_plays_and_loops_as_a_clip() {
    let dir = tempfile::tempdir().expect("tmp");
    let gif = dir.path().join("sticker.gif");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "color=red:size=64x64:rate=10:duration=0.5"])
        .args(["-f", "lavfi", "-i", "color=lime:size=64x64:rate=10:duration=0.5"])
        .args(["-filter_complex", "[0][1]concat=n=2:v=1,split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0"])
        .arg(&gif)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "ffmpeg made the GIF");
    let json = |kind: &str| {
        format!(
            r##"{{"id": "g", "width": 64, "height": 64, "fps": 20, "totalDurationFrames": 50,
                "scenes": [{{"id": "s", "durationFrames": 50, "background": "#000000",
                            "layers": [{{"type": "{kind}", "asset": "sticker.gif", "width": 64, "height": 64}}]}}]}}"##
        )
    };
    let problems = reel::parse(&json("image")).and_then(|p| reel::Plan::build(&p, &reel::PlanOptions::new(dir.path())));
    let err = problems.expect_err("a GIF image layer is refused").to_string();
    assert!(err.contains("\"type\": \"video\""), "{err}");
    let plan = plan(&json("video"), dir.path()).expect("plan");
    let out = dir.path().join("g.mp4");
    let mut ro = RenderOptions::new(&out);
    ro.variants = reel::Variants::NONE;
    reel::render(&plan, &ro).expect("render");
    let (w, _, frames) = decode_rgb(&out);
    // 20 fps: frames 0-9 red, 10-19 green, 20-29 red again (looped), 30-39 green.
    for (f, want) in [(3, [255, 0, 0]), (14, [0, 255, 0]), (23, [255, 0, 0]), (35, [0, 255, 0]), (44, [255, 0, 0])] {
        assert_near(rgb_at(&frames[f], w, 32, 32), want, 40, &format!("frame {f}"));
    }
}

#[test]
fn video_with_alpha_is_composited_with_its_transparency() {
    let dir = tempfile::tempdir().expect("tmp");
    // Left half transparent, right half opaque red; a half-transparent band at the bottom.
    let source = "color=red:size=64x64:rate=10:duration=1,format=rgba,\
                  geq=r=255:g=0:b=0:a='if(lt(X,32),0,if(gt(Y,47),128,255))'";
    let formats: [(&str, &[&str]); 4] = [
        ("vp9.webm", &["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"]),
        ("prores.mov", &["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le"]),
        ("qtrle.mov", &["-c:v", "qtrle", "-pix_fmt", "argb"]),
        ("png.mov", &["-c:v", "png", "-pix_fmt", "rgba"]),
    ];
    for (name, args) in formats {
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i", source])
            .args(args)
            .arg(dir.path().join(name))
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "ffmpeg made {name}");
        let json = format!(
            r##"{{"id": "a", "width": 64, "height": 64, "fps": 10, "totalDurationFrames": 5,
                "scenes": [{{"id": "s", "durationFrames": 5, "background": "#0000ff",
                            "layers": [{{"type": "video", "asset": "{name}", "width": 64, "height": 64}}]}}]}}"##
        );
        let plan = plan(&json, dir.path()).expect("plan");
        let out = dir.path().join(format!("{name}.mp4"));
        let mut ro = RenderOptions::new(&out);
        ro.variants = reel::Variants::NONE;
        reel::render(&plan, &ro).expect("render");
        let (w, _, frames) = decode_rgb(&out);
        let f = &frames[2];
        assert_near(rgb_at(f, w, 12, 20), [0, 0, 255], 40, &format!("{name}: transparent half shows the background"));
        assert_near(rgb_at(f, w, 52, 20), [255, 0, 0], 40, &format!("{name}: opaque half is the clip"));
        assert_near(rgb_at(f, w, 52, 58), [128, 0, 127], 40, &format!("{name}: half-transparent band is a mix"));
    }
}

#[test]
fn an_animated_webp_plays_and_loops_with_its_transparency() {
    let dir = tempfile::tempdir().expect("tmp");
    let webp = dir.path().join("sticker.webp");
    // 0.5 s red, 0.5 s green; the left half transparent.
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "color=red:size=64x64:rate=10:duration=0.5"])
        .args(["-f", "lavfi", "-i", "color=lime:size=64x64:rate=10:duration=0.5"])
        .args([
            "-filter_complex",
            "[0][1]concat=n=2:v=1,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='if(lt(X,32),0,255)'",
        ])
        .args(["-c:v", "libwebp_anim", "-lossless", "1", "-loop", "0"])
        .arg(&webp)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "ffmpeg made the WebP");
    let json = |kind: &str| {
        format!(
            r##"{{"id": "w", "width": 64, "height": 64, "fps": 20, "totalDurationFrames": 50,
                "scenes": [{{"id": "s", "durationFrames": 50, "background": "#0000ff",
                            "layers": [{{"type": "{kind}", "asset": "sticker.webp", "width": 64, "height": 64}}]}}]}}"##
        )
    };
    let problems = reel::parse(&json("image")).and_then(|p| reel::Plan::build(&p, &reel::PlanOptions::new(dir.path())));
    let err = problems.expect_err("an animated WebP image layer is refused").to_string();
    assert!(err.contains("\"type\": \"video\""), "{err}");
    let plan = plan(&json("video"), dir.path()).expect("plan");
    let out = dir.path().join("w.mp4");
    let mut ro = RenderOptions::new(&out);
    ro.variants = reel::Variants::NONE;
    reel::render(&plan, &ro).expect("render");
    let (w, _, frames) = decode_rgb(&out);
    // 20 fps: frames 0-9 red, 10-19 green, 20-29 red again (looped), 30-39 green.
    for (f, want) in [(3, [255, 0, 0]), (14, [0, 255, 0]), (23, [255, 0, 0]), (35, [0, 255, 0]), (44, [255, 0, 0])] {
        assert_near(rgb_at(&frames[f], w, 48, 32), want, 40, &format!("frame {f}"));
        assert_near(rgb_at(&frames[f], w, 12, 32), [0, 0, 255], 40, &format!("frame {f}, transparent half"));
    }
}
