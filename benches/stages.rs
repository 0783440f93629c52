//! Per-stage criterion benches at 1080p: `cargo bench --bench stages`.
//! One group per stage; parameters in the bench names.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use reel::raster::{render_frame, Scratch};
use reel::{Plan, PlanOptions};
use std::path::Path;
use std::sync::Arc;

fn plan(json: &str, assets: &Path) -> Plan {
    Plan::build(&reel::parse(json).expect("parse"), &PlanOptions::new(assets)).expect("plan")
}

fn media() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let img = image::RgbaImage::from_fn(2400, 1600, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255])
    });
    img.save(dir.path().join("photo.png")).expect("save");
    dir
}

fn one_layer(bg: &str, layers: &str) -> String {
    format!(
        r##"{{"id": "b", "fps": 30, "scenes": [{{"id": "s", "durationFrames": 100, "background": {bg}, "layers": [{layers}]}},
        {{"id": "t", "durationFrames": 100, "background": "#203040", "transition": {{"type": "fade", "durationFrames": 20}}}}]}}"##
    )
}

fn layers(c: &mut Criterion) {
    let dir = media();
    let cases = [
        ("solid", one_layer(r##""#336699""##, "")),
        ("linear_gradient", one_layer(r##"{"type": "gradient", "colors": ["#ff0000", "#0000ff"], "angle": 30}"##, "")),
        (
            "image_cover_kenburns",
            one_layer(
                r#"{"type": "image", "asset": "photo.png", "kenBurns": {"from": {"scale": 1}, "to": {"scale": 1.15}}}"#,
                "",
            ),
        ),
        (
            "text_headline_box",
            one_layer(
                r##""#336699""##,
                r##"{"type": "text", "text": "Meet Lumen, the lamp", "fontSize": 80, "box": {"color": "#00000099", "padding": 20}}"##,
            ),
        ),
        (
            "shape_rounded_rect",
            one_layer(
                r##""#336699""##,
                r##"{"type": "shape", "fill": "#ffffff", "width": 800, "height": 400, "cornerRadius": 40}"##,
            ),
        ),
    ];
    let mut g = c.benchmark_group("layer_1080p");
    for (name, json) in &cases {
        let p = plan(json, dir.path());
        let mut pm = tiny_skia::Pixmap::new(1920, 1080).expect("pixmap");
        let mut scratch = Scratch::new(1920, 1080);
        g.bench_function(*name, |b| b.iter(|| render_frame(&p, black_box(50), &mut pm.as_mut(), &mut scratch, &[])));
    }
    g.finish();
    let p = plan(&cases[2].1, dir.path());
    let mut pm = tiny_skia::Pixmap::new(1920, 1080).expect("pixmap");
    let mut scratch = Scratch::new(1920, 1080);
    c.bench_function("transition_1080p/fade_over_kenburns", |b| {
        b.iter(|| render_frame(&p, black_box(90), &mut pm.as_mut(), &mut scratch, &[]))
    });
}

/// A W1 frame (Ken Burns photo, headline and subline on plates) and a W1 cross-fade
/// frame of two such scenes, composed in RGBA and converted to 4:2:0 (the path until
/// session 5) against composed straight in 4:2:0.
fn composed(c: &mut Criterion) {
    let dir = media();
    let scene = |id: &str, transition: &str| {
        format!(
            r##"{{"id": "{id}", "durationFrames": 100, {transition}
            "background": {{"type": "image", "asset": "photo.png", "kenBurns": {{"from": {{"scale": 1}}, "to": {{"scale": 1.15}}}}}},
            "layers": [{{"type": "text", "text": "Meet Lumen", "fontSize": 80, "x": 120, "y": 700, "anchor": "top-left",
                "box": {{"color": "#00000099", "padding": 20}}}},
              {{"type": "text", "text": "The smart desk lamp that adapts to your day", "fontSize": 44, "x": 120, "y": 852,
                "anchor": "top-left", "box": {{"color": "#00000099", "padding": 12}}}}]}}"##
        )
    };
    let json = format!(
        r#"{{"id": "c", "fps": 30, "scenes": [{}, {}]}}"#,
        scene("a", ""),
        scene("b", r#""transition": {"type": "fade", "durationFrames": 20},"#)
    );
    let p = plan(&json, dir.path());
    let mut g = c.benchmark_group("frame_1080p_w1");
    for (name, frame) in [("kenburns_text", 50u64), ("crossfade", 90)] {
        let mut pm = tiny_skia::Pixmap::new(1920, 1080).expect("pixmap");
        let mut scratch = Scratch::new(1920, 1080);
        let mut yuv = reel::pixels::Yuv420::new(1920, 1080);
        g.bench_function(format!("{name}/rgba_then_convert"), |b| {
            b.iter(|| {
                render_frame(&p, black_box(frame), &mut pm.as_mut(), &mut scratch, &[]);
                yuv.fill_from_rgba(pm.data());
            })
        });
        g.bench_function(format!("{name}/planar"), |b| {
            b.iter(|| {
                let painted = reel::raster::paint_frame(
                    &p,
                    black_box(frame),
                    &mut scratch,
                    &[],
                    &mut pm.as_mut(),
                    Some(&mut yuv),
                );
                assert_eq!(painted, reel::raster::Painted::Planes)
            })
        });
    }
    g.finish();
}

fn text(c: &mut Criterion) {
    let fonts = reel::text::FontLibrary::bundled();
    let mut spec = reel::text::TextSpec::new("The smart desk lamp that adapts to your day", "Inter", 80.0, 1680.0);
    spec.weight = 700;
    let block = fonts.layout(&spec);
    let mut pm = tiny_skia::Pixmap::new(1920, 1080).expect("pixmap");
    let mut g = c.benchmark_group("text_80px");
    g.bench_function("shape_and_raster_uncached", |b| b.iter(|| black_box(fonts.layout(black_box(&spec)))));
    g.bench_function("blit_cached", |b| {
        b.iter(|| {
            pm.draw_pixmap(
                120,
                700,
                block.pixmap.as_ref(),
                &tiny_skia::PixmapPaint::default(),
                tiny_skia::Transform::identity(),
                None,
            )
        })
    });
    g.finish();
}

fn convert(c: &mut Criterion) {
    let rgba = vec![128u8; 1920 * 1080 * 4];
    let mut yuv = reel::pixels::Yuv420::new(1920, 1080);
    c.bench_function("rgba_to_yuv420_bt709/1080p", |b| b.iter(|| yuv.fill_from_rgba(black_box(&rgba))));
    c.bench_function("rgba_to_yuv420_bt709_scalar/1080p", |b| b.iter(|| yuv.fill_from_rgba_scalar(black_box(&rgba))));
}

fn audio(c: &mut Criterion) {
    use reel::audio::{AudioPlan, Duck, Music, Placed, Sound};
    let tone = |f: f32, secs: f32| {
        Arc::new(Sound::stereo(
            (0..(secs * 48000.0) as usize)
                .flat_map(|i| {
                    let s = 0.3 * (2.0 * std::f32::consts::PI * f * i as f32 / 48000.0).sin();
                    [s, s]
                })
                .collect::<Vec<f32>>(),
        ))
    };
    let plan = AudioPlan {
        voice: vec![Placed { samples: tone(1000.0, 40.0).into(), start: 48000, gain: 1.0 }],
        music: Some(Music {
            offset: 0,
            clip: Placed { samples: tone(200.0, 20.0).into(), start: 0, gain: 0.5 },
            looped: true,
            fade_in: 48000,
            fade_out: 96000,
            duck: Some(Duck { amount_db: -12.0 }),
        }),
        tracks: vec![],
    };
    // The same two sounds as files, decoded as the mix reads them: the voice a 48 kHz mono
    // WAV, the music a 44.1 kHz stereo WAV (resampled in chunks).
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = |name: &str, rate: u32, channels: u16, f: f32, secs: f32| {
        let n = (secs * rate as f32) as usize;
        let data: Vec<u8> = (0..n * channels as usize)
            .flat_map(|i| {
                let t = (i / channels as usize) as f32 / rate as f32;
                ((0.3 * (2.0 * std::f32::consts::PI * f * t).sin() * 32767.0) as i16).to_le_bytes()
            })
            .collect();
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        let block = u32::from(channels) * 2;
        for v in [16u32, 1 | u32::from(channels) << 16, rate, rate * block, block | 16 << 16] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        let path = dir.path().join(name);
        std::fs::write(&path, out).expect("write wav");
        let file = reel::audio::AudioFile::open(&path).expect("a WAV we wrote");
        reel::audio::Source::File(Arc::new(file))
    };
    let mut files = plan.clone();
    files.voice[0].samples = wav("voice.wav", 48000, 1, 1000.0, 40.0);
    if let Some(m) = files.music.as_mut() {
        m.clip.samples = wav("music.wav", 44100, 2, 200.0, 20.0);
    }
    let mut g = c.benchmark_group("audio_mix_60s");
    g.sample_size(10);
    g.bench_function("voice_music_duck_limit", |b| b.iter(|| black_box(reel::audio::mix(&plan, 60 * 48000, None))));
    g.bench_function("with_loudness_normalization", |b| {
        b.iter(|| black_box(reel::audio::mix(&plan, 60 * 48000, Some(-14.0))))
    });
    g.bench_function("from_files_decoded_as_read", |b| {
        b.iter(|| black_box(reel::audio::mix(&files, 60 * 48000, None)))
    });
    g.finish();
}

criterion_group!(benches, layers, composed, text, convert, audio);
criterion_main!(benches);
