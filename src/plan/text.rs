//! Text layers: role defaults, fonts and weights, plates, strokes and shadows, and the
//! text raster's bound, checked from the shaped size before it is rasterized.

use super::check::*;
use super::color;
use super::*;
use crate::model::{self};
use crate::text::{Align, PlateSpec, TextRasters, TextSpec, DEFAULT_FAMILY};

pub(super) const ALIGNS: &[(&str, Align)] =
    &[("left", Align::Left), ("center", Align::Center), ("right", Align::Right)];

/// Role defaults on a canvas whose shorter side is 1080 pixels: (size, heading font?,
/// default weight).
pub(super) fn role(name: &str) -> Option<(f32, bool, u16)> {
    Some(match name {
        "headline" => (96.0, true, 700),
        "subheadline" => (56.0, true, 500),
        "body" => (40.0, false, 400),
        "caption" => (32.0, false, 400),
        "cta" => (48.0, true, 700),
        _ => return None,
    })
}

pub(super) fn text(ck: &mut Checker, ctx: &mut Ctx, p: &str, l: &model::Layer) -> Arc<TextPlan> {
    let typo = &ctx.style.typography;
    let role_def = match &l.role {
        None => None,
        Some(r) => {
            let v = role(r);
            if v.is_none() {
                ck.err(
                    format!("{p}.role"),
                    format!(
                        "expected one of \"headline\", \"subheadline\", \"body\", \"caption\", \"cta\", found {r:?}"
                    ),
                );
            }
            v
        }
    };
    let (role_size, heading, role_weight) = role_def.unwrap_or((48.0, false, 400));
    let tscale = typo.scale.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0) as f32;
    let size = match &l.font_size {
        Some(fs) => ctx.len(ck, &format!("{p}.fontSize"), fs, Axis::H),
        // Scaled with the canvas's shorter side, so a role reads the same relative to the
        // width of a portrait canvas as to the height of a landscape one (a headline sized
        // by the height of a 9:16 canvas was 1.78 times wider and wrapped to three lines).
        None => role_size * tscale * ctx.w.min(ctx.h) / 1080.0,
    };
    if !(size > 0.0 && size <= 2000.0) {
        ck.err(format!("{p}.fontSize"), format!("expected a size in 0..=2000 pixels (exclusive of 0), found {size}"));
    }
    let style_family = if heading { typo.heading_font.as_deref() } else { typo.body_font.as_deref() };
    let family_path = if l.font.is_some() {
        format!("{p}.font")
    } else if heading {
        "style.typography.headingFont".into()
    } else {
        "style.typography.bodyFont".into()
    };
    let wanted = l.font.as_deref().or(style_family).unwrap_or(DEFAULT_FAMILY);
    let family = match ctx.fonts.find_family(wanted) {
        Some(f) => f,
        None => {
            if ctx.font_warned.insert(wanted.to_string()) {
                ck.warn(family_path, format!("font family {wanted:?} is not available; using {DEFAULT_FAMILY:?}"));
            }
            DEFAULT_FAMILY.to_string()
        }
    };
    let style_weight = if heading { typo.heading_weight } else { typo.body_weight };
    let weight = match l.font_weight.or(style_weight) {
        None => role_weight,
        Some(w) if (1.0..=1000.0).contains(&w) => w.round() as u16,
        Some(w) => {
            ck.err(format!("{p}.fontWeight"), format!("expected a weight in 100..=900, found {w}"));
            400
        }
    };
    let weight_path = if l.font_weight.is_some() {
        format!("{p}.fontWeight")
    } else if style_weight.is_some() {
        format!("style.typography.{}Weight", if heading { "heading" } else { "body" })
    } else {
        format!("{p}.role")
    };
    warn_weight(ck, ctx, &weight_path, &family, weight);
    let color = l
        .color
        .as_deref()
        .map(|c| ck.color(&format!("{p}.color"), c, ctx.palette))
        .unwrap_or_else(|| ctx.palette.get("text").and_then(|c| color::parse_literal(c)).unwrap_or(Color::WHITE));
    let align = match &l.align {
        None => Align::Center,
        Some(a) => ck.pick(&format!("{p}.align"), a, ALIGNS).unwrap_or(Align::Center),
    };
    let line_height = ck.range(&format!("{p}.lineHeight"), l.line_height, 0.1, 10.0, 1.2) as f32;
    let letter_spacing = ck.range(&format!("{p}.letterSpacing"), l.letter_spacing, -1000.0, 1000.0, 0.0) as f32;
    let max_width = match (&l.max_width, &l.width) {
        (Some(m), _) => ctx.len(ck, &format!("{p}.maxWidth"), m, Axis::W),
        (None, Some(w)) => ctx.len(ck, &format!("{p}.width"), w, Axis::W),
        (None, None) => 0.8 * ctx.w,
    };
    let max_lines = match l.max_lines {
        None => None,
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => {
            ck.err(format!("{p}.maxLines"), format!("expected a whole number >= 1, found {n}"));
            None
        }
    };
    let plate = l.plate.as_ref().map(|b| PlateSpec {
        color: b
            .color
            .as_deref()
            .map(|c| ck.color(&format!("{p}.box.color"), c, ctx.palette))
            .unwrap_or(Color::from_rgba8(0, 0, 0, 153)),
        padding: if b.padding.is_some() {
            ctx.nonneg(ck, &format!("{p}.box.padding"), &b.padding, Axis::W)
        } else {
            size * 0.3
        },
        radius: ctx.nonneg(ck, &format!("{p}.box.cornerRadius"), &b.corner_radius, Axis::W),
    });
    let stroke = stroke(ck, ctx, &format!("{p}.stroke"), l.stroke.as_ref(), (size / 24.0).max(1.0));
    let shadow = shadow(ck, ctx, &format!("{p}.shadow"), l.shadow.as_ref(), size);
    let raw = l.text.clone().unwrap_or_else(|| {
        ck.err(format!("{p}.text"), "a text layer needs text");
        String::new()
    });
    // Shaping time and memory grow with the text before its raster can be bounded: a text
    // layer holds at most this many characters (an ad's longest paragraph is a few hundred).
    const MAX_TEXT_CHARS: usize = 5000;
    let chars = raw.chars().count();
    if chars > MAX_TEXT_CHARS {
        ck.err(
            format!("{p}.text"),
            format!("a text of {chars} characters; a text layer holds at most {MAX_TEXT_CHARS}"),
        );
    }
    let text = if l.uppercase == Some(true) { raw.to_uppercase() } else { raw };
    if !ck.problems.is_empty() {
        // Do not spend time shaping when the plan is already refused.
        return empty(ctx, size);
    }
    let size = size.clamp(1.0, 2000.0);
    let spec = TextSpec {
        text,
        family,
        weight: weight.clamp(1, 1000),
        size,
        line_height,
        letter_spacing,
        max_width: max_width.max(1.0),
        max_lines,
        align,
        color,
        plate,
        auto_fit: l.auto_fit == Some(true),
        stroke,
        shadow,
    };
    // The same text in the same style (a repeated title, a call to action) is shaped once
    // and shares one raster; found by a hash of the spec, so planning stays linear in the
    // number of texts.
    let key = format!("{spec:?}");
    if let Some(text) = ctx.texts.get(&key) {
        warn_missing(ck, &format!("{p}.text"), &text.block);
        let text = text.clone();
        ctx.text_uses.push((ctx.scene, text.clone()));
        return text;
    }
    // A block's raster is bounded on its own (four canvases, at most 64 Mpx), and all of
    // them together count against `max_media_bytes` with the images: both checked from the
    // shaped size. Planning shapes; a render paints the raster near the frames showing it.
    let canvas = ctx.w as u64 * ctx.h as u64;
    let max_pixels = (4 * canvas).clamp(1 << 20, 64 << 20);
    let left = ctx.media_left / 4;
    match ctx.fonts.shape_within(&spec, max_pixels.min(left)) {
        Ok((block, ink)) => {
            warn_missing(ck, &format!("{p}.text"), &block);
            let raster = TextRasters::new(ink, vec![spec.color], ctx.fonts.clone());
            ctx.media_left = ctx.media_left.saturating_sub(raster.bytes());
            let text = Arc::new(TextPlan { block, raster });
            ctx.texts.insert(key, text.clone());
            ctx.text_uses.push((ctx.scene, text.clone()));
            text
        }
        Err((w, h)) => {
            let what = if (w as u64 * h as u64) > max_pixels {
                format!("at most {max_pixels} pixels (four canvases, at most 64 Mpx) are allowed for one text")
            } else {
                "with the images and the texts before it, that exceeds the media limit (Limits::max_media_bytes)"
                    .to_string()
            };
            ck.err(
                format!("{p}.text"),
                format!(
                    "this text at fontSize {size:.0} (lineHeight {line_height}, shadow and stroke included) needs a {w}x{h} raster; {what}"
                ),
            );
            empty(ctx, size)
        }
    }
}

/// What a refused text is planned as: nothing, at `size` (the plan is refused anyway).
fn empty(ctx: &Ctx, size: f32) -> Arc<TextPlan> {
    let ink = crate::text::Ink::empty();
    let raster = TextRasters::new(ink, vec![Color::TRANSPARENT], ctx.fonts.clone());
    Arc::new(TextPlan { block: crate::text::TextBlock::empty(size), raster })
}

/// Warns, at `path`, about the characters of `block` that no font has.
pub(super) fn warn_missing(ck: &mut Checker, path: &str, block: &crate::text::TextBlock) {
    if block.missing.is_empty() {
        return;
    }
    let chars: Vec<String> = block.missing.iter().map(|c| format!("{c:?} (U+{:04X})", *c as u32)).collect();
    ck.warn(
        path,
        format!(
            "no font has a glyph for {}: drawn as empty boxes; add a font that covers this script \
             (reel fonts lists those available; --fonts DIR or FontLibrary::add_dir adds more)",
            chars.join(", ")
        ),
    );
}

/// Warns, once per family and weight, when `family` has no face of `weight`: the weight
/// CSS matching picks instead is drawn.
pub(super) fn warn_weight(ck: &mut Checker, ctx: &mut Ctx, path: &str, family: &str, weight: u16) {
    match ctx.fonts.matched_weight(family, weight) {
        Some(got) if got != weight && ctx.font_warned.insert(format!("{family}@{weight}")) => ck.warn(
            path,
            format!("{family:?} has no weight {weight}; drawing its {got}, the nearest by CSS font matching"),
        ),
        _ => {}
    }
}

/// An outline or border at `p`: its color (default black) and width (default `width`, at
/// most 200 px).
pub(super) fn stroke(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    s: Option<&model::Stroke>,
    width: f32,
) -> Option<(Color, f32)> {
    let s = s?;
    let c = s.color.as_deref().map(|c| ck.color(&format!("{p}.color"), c, ctx.palette)).unwrap_or(Color::BLACK);
    let w = if s.width.is_some() { ctx.nonneg(ck, &format!("{p}.width"), &s.width, Axis::W) } else { width };
    Some((c, w.min(200.0)))
}

/// A drop shadow at `p`, its defaults in proportion to `size` (a text's size, or a
/// picture's shorter side divided by ten).
pub(super) fn shadow(
    ck: &mut Checker,
    ctx: &Ctx,
    p: &str,
    s: Option<&model::Shadow>,
    size: f32,
) -> Option<crate::text::ShadowSpec> {
    let s = s?;
    Some(crate::text::ShadowSpec {
        color: s
            .color
            .as_deref()
            .map(|c| ck.color(&format!("{p}.color"), c, ctx.palette))
            .unwrap_or(Color::from_rgba8(0, 0, 0, 160)),
        dx: ck.range(&format!("{p}.offsetX"), s.offset_x, -500.0, 500.0, 0.0) as f32,
        dy: ck.range(&format!("{p}.offsetY"), s.offset_y, -500.0, 500.0, size as f64 / 16.0) as f32,
        blur: ck.range(&format!("{p}.blur"), s.blur, 0.0, 200.0, size as f64 / 10.0) as f32,
    })
}
