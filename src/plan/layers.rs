//! Scene backgrounds and layers: fills, gradients, fits, Ken Burns, enter and exit
//! motion, keyframe tracks, and each layer's box.

use super::*;
use super::{assets::*, check::*, text::*};
use crate::anim::{Key, Preset};
use crate::model::{self, Length, StrOr};

pub(super) const FITS: &[(&str, Fit)] =
    &[("cover", Fit::Cover), ("contain", Fit::Contain), ("fill", Fit::Fill), ("none", Fit::None)];

pub(super) const ANCHORS: &[(&str, (f32, f32))] = &[
    ("center", (0.5, 0.5)),
    ("top-left", (0.0, 0.0)),
    ("top", (0.5, 0.0)),
    ("top-right", (1.0, 0.0)),
    ("left", (0.0, 0.5)),
    ("right", (1.0, 0.5)),
    ("bottom-left", (0.0, 1.0)),
    ("bottom", (0.5, 1.0)),
    ("bottom-right", (1.0, 1.0)),
];

pub(super) const SHAPES: &[(&str, ShapeKind)] =
    &[("rect", ShapeKind::Rect), ("ellipse", ShapeKind::Ellipse), ("line", ShapeKind::Line)];

pub(super) fn background(
    ck: &mut Checker,
    ctx: &mut Ctx,
    p: &str,
    bg: &StrOr<model::Background>,
    scene_len: u64,
) -> Fill {
    match bg {
        StrOr::Str(c) => Fill::Solid(ck.color(p, c, ctx.palette)),
        StrOr::Obj(b) => match b.type_.as_str() {
            "color" => match &b.color {
                Some(c) => Fill::Solid(ck.color(&format!("{p}.color"), c, ctx.palette)),
                None => {
                    ck.err(format!("{p}.color"), "a color background needs a color");
                    Fill::Solid(Color::BLACK)
                }
            },
            "gradient" => Fill::Gradient(gradient(ck, ctx, p, &b.kind, &b.colors, b.angle)),
            "image" => {
                let kb = ken_burns(ck, &format!("{p}.kenBurns"), b.ken_burns.as_ref());
                let fit = fit(ck, p, b.fit.as_deref(), Fit::Cover);
                let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &b.corner_radius, Axis::W);
                match image_plan(ck, ctx, b.asset.as_deref(), fit, kb, radius, ctx.w, ctx.h) {
                    Some(img) => Fill::Image(img),
                    None => Fill::Solid(Color::BLACK),
                }
            }
            "video" => {
                let fit = fit(ck, p, b.fit.as_deref(), Fit::Cover);
                let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &b.corner_radius, Axis::W);
                let kb = ken_burns(ck, &format!("{p}.kenBurns"), b.ken_burns.as_ref());
                let m = ClipFields {
                    trim_start: b.trim_start,
                    trim_end: b.trim_end,
                    rate: b.playback_rate,
                    looped: b.looped,
                    volume: b.volume,
                    zoom: max_zoom(kb),
                };
                let (w, h) = (ctx.w, ctx.h);
                match clip(ck, ctx, p, b.asset.as_deref(), &m, fit, (w, h), 0, scene_len) {
                    Some(clip) => Fill::Video(VideoRef { clip, fit, corner_radius: radius, ken_burns: kb }),
                    None => Fill::Solid(Color::BLACK),
                }
            }
            other => {
                ck.err(
                    format!("{p}.type"),
                    format!("expected one of \"color\", \"gradient\", \"image\", \"video\", found {other:?}"),
                );
                Fill::Solid(Color::BLACK)
            }
        },
    }
}

pub(super) fn gradient(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    kind: &Option<String>,
    colors: &Option<Vec<String>>,
    angle: Option<f64>,
) -> GradientPlan {
    let radial = match kind.as_deref() {
        None | Some("linear") => false,
        Some("radial") => true,
        Some(other) => {
            ck.err(format!("{p}.kind"), format!("expected one of \"linear\", \"radial\", found {other:?}"));
            false
        }
    };
    let colors: Vec<Color> = match colors {
        Some(c) if !c.is_empty() => {
            c.iter().enumerate().map(|(i, c)| ck.color(&format!("{p}.colors[{i}]"), c, ctx.palette)).collect()
        }
        _ => {
            ck.err(format!("{p}.colors"), "a gradient needs at least one color");
            vec![Color::BLACK]
        }
    };
    let angle = match angle {
        Some(a) if a.is_finite() => a as f32,
        Some(a) => {
            ck.err(format!("{p}.angle"), format!("expected degrees, found {a}"));
            0.0
        }
        None => 90.0,
    };
    GradientPlan { radial, colors, angle }
}

pub(super) fn fit(ck: &mut Checker, p: &str, v: Option<&str>, default: Fit) -> Fit {
    match v {
        None => default,
        Some(v) => ck.pick(&format!("{p}.fit"), v, FITS).unwrap_or(default),
    }
}

pub(super) fn ken_burns(ck: &mut Checker, p: &str, kb: Option<&model::KenBurns>) -> Option<KenBurnsPlan> {
    let kb = kb?;
    let mut point = |name: &str, pt: &Option<model::KenBurnsPoint>| {
        let pt = pt.clone().unwrap_or_default();
        let s = ck.range(&format!("{p}.{name}.scale"), pt.scale, 0.1, 10.0, 1.0) as f32;
        let x = ck.range(&format!("{p}.{name}.x"), pt.x, 0.0, 1.0, 0.5) as f32;
        let y = ck.range(&format!("{p}.{name}.y"), pt.y, 0.0, 1.0, 0.5) as f32;
        (s, x, y)
    };
    let from = point("from", &kb.from);
    let to = point("to", &kb.to);
    let easing = ck.easing(&format!("{p}.easing"), kb.easing.as_deref(), Easing::Linear);
    Some(KenBurnsPlan { from, to, easing })
}

/// The largest zoom a Ken Burns move reaches (1 without one).
fn max_zoom(kb: Option<KenBurnsPlan>) -> f32 {
    kb.map_or(1.0, |k| k.from.0.max(k.to.0).max(1.0))
}

pub(super) fn motion(
    ck: &mut Checker,
    p: &str,
    m: Option<&model::Motion>,
    default: Option<Motion>,
    is_text: bool,
) -> Option<Motion> {
    let Some(m) = m else { return default };
    let preset = ck.pick(&format!("{p}.preset"), &m.preset, Preset::NAMES)?;
    if !is_text && matches!(preset, Preset::Typewriter | Preset::WordByWord) {
        ck.err(format!("{p}.preset"), format!("{:?} is for text layers only", m.preset));
        return None;
    }
    if preset == Preset::None {
        return None;
    }
    let frames =
        ck.frames(&format!("{p}.durationFrames"), m.duration_frames, 1, default.map(|d| d.frames).unwrap_or(15));
    let easing =
        ck.easing(&format!("{p}.easing"), m.easing.as_deref(), default.map(|d| d.easing).unwrap_or(Easing::EaseOut));
    Some(Motion { preset, frames, easing })
}

/// A keyframe track: `x` and `y` are Lengths on `axis`; other values must lie in `range`
/// (the same range as the layer's static property).
pub(super) fn track(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    keys: &Option<Vec<model::Keyframe>>,
    axis: Option<Axis>,
    range: (f64, f64),
) -> Track {
    let Some(keys) = keys else { return Track::default() };
    let mut out: Vec<Key> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let kp = format!("{p}[{i}]");
        let frame = ck.frames(&format!("{kp}.frame"), Some(k.frame), 0, 0);
        if let Some(prev) = out.last() {
            if frame <= prev.frame {
                ck.err(
                    format!("{kp}.frame"),
                    format!("keyframes must be in increasing frame order: {frame} follows {}", prev.frame),
                );
            }
        }
        let value = match (axis, &k.value) {
            (Some(a), v) => ctx.len(ck, &format!("{kp}.value"), v, a),
            (None, Length::Px(v)) if (range.0..=range.1).contains(v) => *v as f32,
            (None, Length::Px(v)) => {
                ck.err(format!("{kp}.value"), format!("expected a number in {}..={}, found {v}", range.0, range.1));
                0.0
            }
            (None, v) => {
                ck.err(format!("{kp}.value"), format!("expected a number, found {v:?}"));
                0.0
            }
        };
        let easing = ck.easing(&format!("{kp}.easing"), k.easing.as_deref(), Easing::Linear);
        out.push(Key { frame, value, easing });
    }
    Track(out)
}

pub(super) fn layer(ck: &mut Checker, ctx: &mut Ctx, p: &str, l: &model::Layer, scene_len: u64) -> Option<LayerPlan> {
    let kinds = ["text", "image", "video", "shape"];
    if !kinds.contains(&l.kind.as_str()) {
        ck.err(
            format!("{p}.type"),
            format!("expected one of \"text\", \"image\", \"video\", \"shape\", found {:?}", l.kind),
        );
        return None;
    }
    ignored_fields(ck, p, l);
    let start = ck.frames(&format!("{p}.fromFrame"), l.from_frame, 0, 0);
    if start >= scene_len {
        ck.warn(
            format!("{p}.fromFrame"),
            format!("the layer starts at frame {start}, after its scene's {scene_len} frames: never visible"),
        );
    }
    let len = ck.frames(&format!("{p}.durationFrames"), l.duration_frames, 1, scene_len.saturating_sub(start).max(1));
    let mut x = ctx.len_opt(ck, &format!("{p}.x"), &l.x, Axis::W).unwrap_or(ctx.w / 2.0);
    let mut y = ctx.len_opt(ck, &format!("{p}.y"), &l.y, Axis::H).unwrap_or(ctx.h / 2.0);
    let bw = ctx.len_opt(ck, &format!("{p}.width"), &l.width, Axis::W);
    let bh = ctx.len_opt(ck, &format!("{p}.height"), &l.height, Axis::H);
    for (name, v) in [("width", bw), ("height", bh)] {
        if v.is_some_and(|v| v < 0.0) {
            ck.err(format!("{p}.{name}"), format!("expected a Length >= 0, found {}", v.unwrap_or(0.0)));
        }
    }
    let mut anchor = match &l.anchor {
        None => (0.5, 0.5),
        Some(a) => ck.pick(&format!("{p}.anchor"), a, ANCHORS).unwrap_or((0.5, 0.5)),
    };
    let opacity = ck.range(&format!("{p}.opacity"), l.opacity, 0.0, 1.0, 1.0) as f32;
    let rotation = ck.range(&format!("{p}.rotation"), l.rotation, -36000.0, 36000.0, 0.0) as f32;
    let scale = ck.range(&format!("{p}.scale"), l.scale, 0.0, 100.0, 1.0) as f32;
    let is_text = l.kind == "text";
    let default_enter = if is_text { ctx.motion.map(|m| m.enter) } else { None };
    let enter = motion(ck, &format!("{p}.enter"), l.enter.as_ref(), default_enter, is_text);
    let exit = motion(ck, &format!("{p}.exit"), l.exit.as_ref(), None, is_text);
    let kf = l.keyframes.clone().unwrap_or_default();
    let kp = format!("{p}.keyframes");
    let tracks = Tracks {
        opacity: track(ck, ctx, &format!("{kp}.opacity"), &kf.opacity, None, (0.0, 1.0)),
        x: track(ck, ctx, &format!("{kp}.x"), &kf.x, Some(Axis::W), (0.0, 0.0)),
        y: track(ck, ctx, &format!("{kp}.y"), &kf.y, Some(Axis::H), (0.0, 0.0)),
        scale: track(ck, ctx, &format!("{kp}.scale"), &kf.scale, None, (0.0, 100.0)),
        rotation: track(ck, ctx, &format!("{kp}.rotation"), &kf.rotation, None, (-36000.0, 36000.0)),
    };

    let (w, h, content) = match l.kind.as_str() {
        "text" => {
            let text = text(ck, ctx, p, l);
            (text.block.width, text.block.height, Content::Text(text))
        }
        "image" => {
            let kb = ken_burns(ck, &format!("{p}.kenBurns"), l.ken_burns.as_ref());
            let fit = fit(ck, p, l.fit.as_deref(), Fit::Contain);
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            let natural = l
                .asset
                .as_ref()
                .and_then(|k| ctx.images.get(ck, k))
                .map(|(i, _)| (i.width() as f32, i.height() as f32));
            let (w, h) = layer_box(bw, bh, natural.unwrap_or((1.0, 1.0)));
            let img = image_plan(ck, ctx, l.asset.as_deref(), fit, kb, radius, w.max(1.0), h.max(1.0))?;
            (w, h, Content::Image(img))
        }
        "video" => {
            let fit = fit(ck, p, l.fit.as_deref(), Fit::Contain);
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            let natural = l
                .asset
                .as_ref()
                .and_then(|k| ctx.videos.get(k))
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|i| (i.width as f32, i.height as f32));
            let (w, h) = layer_box(bw, bh, natural.unwrap_or((1.0, 1.0)));
            let kb = ken_burns(ck, &format!("{p}.kenBurns"), l.ken_burns.as_ref());
            let m = ClipFields {
                trim_start: l.trim_start,
                trim_end: l.trim_end,
                rate: l.playback_rate,
                looped: l.looped,
                volume: l.volume,
                zoom: max_zoom(kb),
            };
            let clip = clip(ck, ctx, p, l.asset.as_deref(), &m, fit, (w.max(1.0), h.max(1.0)), start, len)?;
            (w, h, Content::Video(VideoRef { clip, fit, corner_radius: radius, ken_burns: kb }))
        }
        _ => {
            let kind = match &l.shape {
                None => ShapeKind::Rect,
                Some(s) => ck.pick(&format!("{p}.shape"), s, SHAPES).unwrap_or(ShapeKind::Rect),
            };
            if kind == ShapeKind::Line {
                let (w, h, shape) = line(ck, ctx, p, l, &mut x, &mut y, &mut anchor);
                return Some(LayerPlan {
                    start,
                    len,
                    x,
                    y,
                    w,
                    h,
                    anchor,
                    opacity,
                    rotation,
                    scale,
                    enter,
                    exit,
                    tracks,
                    content: Content::Shape(shape),
                    decor: Decor::default(),
                });
            }
            let fill = match &l.fill {
                // Generators write a shape's colour as `color`: it is the fill then.
                None if l.color.is_some() => {
                    l.color.as_deref().map(|c| Fill::Solid(ck.color(&format!("{p}.color"), c, ctx.palette)))
                }
                None if kind == ShapeKind::Line => None,
                None => Some(Fill::Solid(Color::WHITE)),
                Some(StrOr::Str(c)) => Some(Fill::Solid(ck.color(&format!("{p}.fill"), c, ctx.palette))),
                Some(StrOr::Obj(g)) => {
                    Some(Fill::Gradient(gradient(ck, ctx, &format!("{p}.fill"), &g.kind, &g.colors, g.angle)))
                }
            };
            let stroke = match &l.stroke {
                None if kind == ShapeKind::Line => Some((Color::WHITE, 4.0)),
                None => None,
                Some(s) => {
                    let c = s
                        .color
                        .as_deref()
                        .map(|c| ck.color(&format!("{p}.stroke.color"), c, ctx.palette))
                        .unwrap_or(Color::WHITE);
                    let w = ctx.nonneg(ck, &format!("{p}.stroke.width"), &s.width, Axis::W);
                    Some((c, if s.width.is_some() { w } else { 4.0 }))
                }
            };
            let radius = ctx.nonneg(ck, &format!("{p}.cornerRadius"), &l.corner_radius, Axis::W);
            (
                bw.unwrap_or(ctx.w),
                bh.unwrap_or(ctx.h),
                Content::Shape(ShapePlan { kind, fill, stroke, corner_radius: radius, ends: None }),
            )
        }
    };
    // Pictures take a shadow and a border (`stroke`); shapes a shadow (their stroke is
    // their own outline); text draws its shadow itself.
    let decor = match &content {
        Content::Image(_) | Content::Video(_) | Content::Shape(_) => {
            let side = w.min(h).max(1.0);
            let (radius, oval, border) = match &content {
                Content::Image(i) => (i.corner_radius, false, true),
                Content::Video(v) => (v.corner_radius, false, true),
                Content::Shape(s) => (s.corner_radius, s.kind == ShapeKind::Ellipse, false),
                Content::Text(_) => (0.0, false, false),
            };
            Decor {
                shadow: super::text::shadow(ck, ctx, &format!("{p}.shadow"), l.shadow.as_ref(), side / 10.0),
                border: if border {
                    super::text::stroke(ck, ctx, &format!("{p}.stroke"), l.stroke.as_ref(), (side / 100.0).max(1.0))
                } else {
                    None
                },
                radius,
                oval,
            }
        }
        Content::Text(_) => Decor::default(),
    };
    Some(LayerPlan { start, len, x, y, w, h, anchor, opacity, rotation, scale, enter, exit, tracks, content, decor })
}

/// A line shape: from (`x1`, `y1`) to (`x2`, `y2`) when they are given (its box is then
/// the two ends' bounding box, anchored at its top-left), else across the middle of its
/// box. Its colour is `stroke.color`, else `color`, else a solid `fill`, else white; its
/// width `stroke.width`, else 4 pixels.
fn line(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    l: &model::Layer,
    x: &mut f32,
    y: &mut f32,
    anchor: &mut (f32, f32),
) -> (f32, f32, ShapePlan) {
    let solid_fill = match &l.fill {
        Some(StrOr::Str(c)) => Some(ck.color(&format!("{p}.fill"), c, ctx.palette)),
        Some(StrOr::Obj(_)) => {
            ck.warn(format!("{p}.fill"), "ignored: a line is drawn in one colour, not a gradient");
            None
        }
        None => None,
    };
    if l.shadow.is_some() {
        ck.warn(format!("{p}.shadow"), "ignored: a line casts no shadow");
    }
    let color = l.color.as_deref().map(|c| ck.color(&format!("{p}.color"), c, ctx.palette));
    let stroke = l.stroke.clone().unwrap_or_default();
    let stroke_color = stroke.color.as_deref().map(|c| ck.color(&format!("{p}.stroke.color"), c, ctx.palette));
    let width =
        if stroke.width.is_some() { ctx.nonneg(ck, &format!("{p}.stroke.width"), &stroke.width, Axis::W) } else { 4.0 };
    let color = stroke_color.or(color).or(solid_fill).unwrap_or(Color::WHITE);
    let ends = [("x1", &l.x1, Axis::W), ("y1", &l.y1, Axis::H), ("x2", &l.x2, Axis::W), ("y2", &l.y2, Axis::H)];
    let shape = |ends| ShapePlan {
        kind: ShapeKind::Line,
        fill: None,
        stroke: Some((color, width.min(2000.0))),
        corner_radius: 0.0,
        ends,
    };
    if ends.iter().all(|e| e.1.is_none()) {
        let w = ctx.len_opt(ck, &format!("{p}.width"), &l.width, Axis::W).unwrap_or(ctx.w);
        let h = ctx.len_opt(ck, &format!("{p}.height"), &l.height, Axis::H).unwrap_or(0.0);
        return (w, h, shape(None));
    }
    let mut v = [0.0f32; 4];
    for (i, (name, len, axis)) in ends.iter().enumerate() {
        match len {
            Some(len) => v[i] = ctx.len(ck, &format!("{p}.{name}"), len, *axis),
            None => ck.err(format!("{p}.{name}"), "a line given by its ends needs x1, y1, x2 and y2"),
        }
    }
    for (name, set) in [
        ("x", l.x.is_some()),
        ("y", l.y.is_some()),
        ("width", l.width.is_some()),
        ("height", l.height.is_some()),
        ("anchor", l.anchor.is_some()),
    ] {
        if set {
            ck.warn(format!("{p}.{name}"), "ignored: the line's ends place it");
        }
    }
    let (x0, y0) = (v[0].min(v[2]), v[1].min(v[3]));
    (*x, *y, *anchor) = (x0, y0, (0.0, 0.0));
    let (w, h) = ((v[2] - v[0]).abs(), (v[3] - v[1]).abs());
    (w, h, shape(Some(((v[0] - x0, v[1] - y0), (v[2] - x0, v[3] - y0)))))
}

/// A media layer's box: the given width and height, the missing one from the source's
/// aspect ratio, or the source's natural size.
pub(super) fn layer_box(bw: Option<f32>, bh: Option<f32>, (nw, nh): (f32, f32)) -> (f32, f32) {
    match (bw, bh) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, w * nh / nw),
        (None, Some(h)) => (h * nw / nh, h),
        (None, None) => (nw, nh),
    }
}

/// Warns about each field the format knows that this layer's type does not use: accepted
/// and silently ignored, it would look like a bug in the output.
fn ignored_fields(ck: &mut Checker, p: &str, l: &model::Layer) {
    let uses: &[&str] = match l.kind.as_str() {
        "text" => &[
            "text",
            "role",
            "font",
            "fontWeight",
            "fontSize",
            "align",
            "lineHeight",
            "letterSpacing",
            "maxWidth",
            "maxLines",
            "autoFit",
            "uppercase",
            "shadow",
            "box",
            "color",
            "stroke",
        ],
        "image" => &["asset", "fit", "kenBurns", "cornerRadius", "shadow", "stroke"],
        "video" => &[
            "asset",
            "fit",
            "kenBurns",
            "cornerRadius",
            "trimStart",
            "trimEnd",
            "playbackRate",
            "loop",
            "volume",
            "shadow",
            "stroke",
        ],
        "shape" => &["shape", "fill", "color", "stroke", "cornerRadius", "shadow", "x1", "y1", "x2", "y2"],
        _ => return,
    };
    let present = [
        ("text", l.text.is_some()),
        ("role", l.role.is_some()),
        ("font", l.font.is_some()),
        ("fontWeight", l.font_weight.is_some()),
        ("fontSize", l.font_size.is_some()),
        ("align", l.align.is_some()),
        ("lineHeight", l.line_height.is_some()),
        ("letterSpacing", l.letter_spacing.is_some()),
        ("maxWidth", l.max_width.is_some()),
        ("maxLines", l.max_lines.is_some()),
        ("autoFit", l.auto_fit.is_some()),
        ("uppercase", l.uppercase.is_some()),
        ("shadow", l.shadow.is_some()),
        ("box", l.plate.is_some()),
        ("color", l.color.is_some()),
        ("stroke", l.stroke.is_some()),
        ("asset", l.asset.is_some()),
        ("fit", l.fit.is_some()),
        ("kenBurns", l.ken_burns.is_some()),
        ("cornerRadius", l.corner_radius.is_some()),
        ("trimStart", l.trim_start.is_some()),
        ("trimEnd", l.trim_end.is_some()),
        ("playbackRate", l.playback_rate.is_some()),
        ("loop", l.looped.is_some()),
        ("volume", l.volume.is_some()),
        ("fill", l.fill.is_some()),
        ("shape", l.shape.is_some()),
        ("x1", l.x1.is_some()),
        ("y1", l.y1.is_some()),
        ("x2", l.x2.is_some()),
        ("y2", l.y2.is_some()),
    ];
    for (field, _) in present.into_iter().filter(|&(f, set)| set && !uses.contains(&f)) {
        ck.warn(format!("{p}.{field}"), format!("ignored: a {} layer does not use {field}", l.kind));
    }
}
