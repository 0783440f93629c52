//! Text: the bundled font library, shaping and layout through cosmic-text, and rasterizing a
//! laid-out block once into a pixmap that frames then only blit.
//!
//! Why cosmic-text and not fontdue alone: fontdue does no shaping (no ligatures, no Arabic
//! joining, no right-to-left, only the old `kern` table), which `shared/PITFALLS.md` measured.
//! cosmic-text shapes with HarfRust, runs the Unicode bidi and line-breaking algorithms, falls
//! back per glyph, and rasterizes with swash.
//!
//! Determinism: the font database holds only the fonts bundled under `assets/fonts` (and
//! folders a caller adds), never the machine's, so a composition renders the same everywhere.

use cosmic_text::{
    fontdb, Attrs, Buffer, Family, FontSystem, Metrics, Shaping, SwashCache, SwashContent, Weight, Wrap,
};
use std::sync::{Arc, Mutex};
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Transform};

/// The family used when none is named or the named one is missing.
pub const DEFAULT_FAMILY: &str = "Inter";

macro_rules! bundled {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/", $file)) as &[u8])),*]
    };
}

/// The fonts compiled into the library.
static BUNDLED: &[(&str, &[u8])] = bundled!(
    "Inter-Thin.otf",
    "Inter-ExtraLight.otf",
    "Inter-Light.otf",
    "Inter-Regular.otf",
    "Inter-Medium.otf",
    "Inter-SemiBold.otf",
    "Inter-Bold.otf",
    "Inter-ExtraBold.otf",
    "Inter-Black.otf",
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
    "NotoSansArabic-Regular.ttf",
    "NotoSansHebrew-Regular.ttf",
    "NotoSansDevanagari-Regular.ttf",
);

/// Our fallback order: the bundled Noto faces per script, then Noto Sans for everything else.
/// Set explicitly so the choice never depends on the machine (`PITFALLS.md`).
struct BundledFallback;

impl cosmic_text::Fallback for BundledFallback {
    fn common_fallback(&self) -> &[&'static str] {
        &["Inter", "Noto Sans", "Noto Color Emoji"]
    }
    fn forbidden_fallback(&self) -> &[&'static str] {
        &[]
    }
    fn script_fallback(&self, script: unicode_script::Script, _locale: &str) -> &[&'static str] {
        use unicode_script::Script;
        match script {
            Script::Arabic => &["Noto Sans Arabic"],
            Script::Hebrew => &["Noto Sans Hebrew"],
            Script::Devanagari => &["Noto Sans Devanagari"],
            _ => &[],
        }
    }
}

/// The fonts a render may use. Cheap to share: clone the `Arc`.
pub struct FontLibrary {
    inner: Mutex<Inner>,
}

struct Inner {
    fonts: FontSystem,
    glyphs: SwashCache,
}

impl std::fmt::Debug for FontLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FontLibrary")
    }
}

impl FontLibrary {
    /// Only the bundled fonts.
    pub fn bundled() -> Arc<FontLibrary> {
        let mut db = fontdb::Database::new();
        for (_, data) in BUNDLED {
            db.load_font_source(fontdb::Source::Binary(Arc::new(*data)));
        }
        db.set_sans_serif_family(DEFAULT_FAMILY);
        let fonts = FontSystem::new_with_locale_and_db_and_fallback("en-US".into(), db, BundledFallback);
        Arc::new(FontLibrary { inner: Mutex::new(Inner { fonts, glyphs: SwashCache::new() }) })
    }

    /// Adds every font file in `dir` (not recursive into links). Returns how many faces loaded.
    pub fn add_dir(&self, dir: &std::path::Path) -> usize {
        let mut inner = self.lock();
        let before = inner.fonts.db().len();
        inner.fonts.db_mut().load_fonts_dir(dir);
        inner.fonts.db().len() - before
    }

    /// The family's name as the font database spells it, if any face has it
    /// (case-insensitive).
    pub fn find_family(&self, name: &str) -> Option<String> {
        let inner = self.lock();
        let found = inner
            .fonts
            .db()
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n))
            .find(|n| n.eq_ignore_ascii_case(name))
            .cloned();
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the font system usable: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shapes, wraps and rasterizes a text block once.
    pub fn layout(&self, spec: &TextSpec) -> TextBlock {
        let mut guard = self.lock();
        let Inner { fonts, glyphs } = &mut *guard;
        let size = spec.size.max(1.0);
        let line_px = (size * spec.line_height).max(1.0);
        let mut buffer = Buffer::new(fonts, Metrics::new(size, line_px));
        buffer.set_wrap(Wrap::WordOrGlyph);
        buffer.set_size(Some(spec.max_width.max(size)), None);
        let mut attrs = Attrs::new().family(Family::Name(&spec.family)).weight(Weight(spec.weight));
        if spec.letter_spacing != 0.0 {
            attrs = attrs.letter_spacing(spec.letter_spacing / size);
        }
        buffer.set_text(&spec.text, &attrs, Shaping::Advanced, None);
        buffer.shape_until_scroll(fonts, false);

        // Measure: lines and their extents.
        struct Line {
            x0: f32,
            w: f32,
            y: f32,
            glyphs: Vec<cosmic_text::LayoutGlyph>,
        }
        let mut lines = Vec::new();
        for run in buffer.layout_runs() {
            let x0 = run.glyphs.iter().map(|g| g.x).fold(f32::INFINITY, f32::min);
            let x0 = if x0.is_finite() { x0 } else { 0.0 };
            lines.push(Line { x0, w: run.line_w, y: run.line_y, glyphs: run.glyphs.to_vec() });
        }
        if lines.len() > spec.max_lines.unwrap_or(usize::MAX) {
            lines.truncate(spec.max_lines.unwrap_or(usize::MAX));
        }
        let text_w = lines.iter().map(|l| l.w).fold(0.0f32, f32::max).ceil();
        let text_h = (lines.len() as f32 * line_px).ceil();
        let pad = spec.plate.map(|p| p.padding).unwrap_or(0.0);
        let box_w = text_w + 2.0 * pad;
        let box_h = text_h + 2.0 * pad;
        // Glyphs may overhang the line box (accents, descenders of a tight lineHeight).
        let margin = (size * 0.5).ceil();
        let pw = (box_w + 2.0 * margin).ceil().max(1.0) as u32;
        let ph = (box_h + 2.0 * margin).ceil().max(1.0) as u32;
        let mut pixmap = crate::raster::pixmap_or_tiny(pw, ph);

        if let Some(plate) = spec.plate {
            if let Some(rect) = Rect::from_xywh(margin, margin, box_w, box_h) {
                let mut paint = Paint::default();
                paint.set_color(plate.color);
                paint.anti_alias = true;
                if let Some(path) = rounded_rect(rect, plate.radius) {
                    pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
                }
            }
        }

        let c = spec.color;
        let (cr, cg, cb, ca) = (c.red(), c.green(), c.blue(), c.alpha());
        let stride = pw as i32;
        let data = pixmap.data_mut();
        for line in &lines {
            let align_x = match spec.align {
                Align::Left => 0.0,
                Align::Center => (text_w - line.w) / 2.0,
                Align::Right => text_w - line.w,
            };
            let ox = margin + pad + align_x - line.x0;
            let oy = margin + pad + line.y;
            for g in &line.glyphs {
                let phys = g.physical((ox, oy), 1.0);
                let Some(img) = glyphs.get_image(fonts, phys.cache_key) else { continue };
                let p = img.placement;
                let (gx, gy) = (phys.x + p.left, phys.y - p.top);
                for j in 0..p.height as i32 {
                    let y = gy + j;
                    if y < 0 || y >= ph as i32 {
                        continue;
                    }
                    for i in 0..p.width as i32 {
                        let x = gx + i;
                        if x < 0 || x >= stride {
                            continue;
                        }
                        let k = (j * p.width as i32 + i) as usize;
                        let (sr, sg, sb, sa) = match img.content {
                            SwashContent::Mask => {
                                let m = img.data[k] as f32 / 255.0 * ca;
                                (cr * m, cg * m, cb * m, m)
                            }
                            SwashContent::SubpixelMask => {
                                let m = img.data[k * 4] as f32 / 255.0 * ca;
                                (cr * m, cg * m, cb * m, m)
                            }
                            SwashContent::Color => {
                                let a = img.data[k * 4 + 3] as f32 / 255.0 * ca;
                                let f = a / 255.0;
                                (
                                    img.data[k * 4] as f32 * f,
                                    img.data[k * 4 + 1] as f32 * f,
                                    img.data[k * 4 + 2] as f32 * f,
                                    a,
                                )
                            }
                        };
                        if sa <= 0.0 {
                            continue;
                        }
                        let d = ((y * stride + x) * 4) as usize;
                        let inv = 1.0 - sa;
                        let px = &mut data[d..d + 4];
                        px[0] = (sr * 255.0 + px[0] as f32 * inv).round().min(255.0) as u8;
                        px[1] = (sg * 255.0 + px[1] as f32 * inv).round().min(255.0) as u8;
                        px[2] = (sb * 255.0 + px[2] as f32 * inv).round().min(255.0) as u8;
                        px[3] = (sa * 255.0 + px[3] as f32 * inv).round().min(255.0) as u8;
                    }
                }
            }
        }
        TextBlock { pixmap, width: box_w, height: box_h, origin: (margin, margin), lines: lines.len() }
    }
}

/// Horizontal alignment of lines within a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left.
    Left,
    /// Centered.
    Center,
    /// Flush right.
    Right,
}

/// A plate drawn behind text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateSpec {
    /// Fill.
    pub color: Color,
    /// Space around the text, pixels.
    pub padding: f32,
    /// Corner radius, pixels.
    pub radius: f32,
}

/// Everything that decides how a text block looks.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSpec {
    /// The text, `\n` breaking lines.
    pub text: String,
    /// Family name (resolved, present in the library).
    pub family: String,
    /// 100..=900.
    pub weight: u16,
    /// Pixels.
    pub size: f32,
    /// Multiple of the size.
    pub line_height: f32,
    /// Extra pixels between letters.
    pub letter_spacing: f32,
    /// Wrap width, pixels.
    pub max_width: f32,
    /// Line limit.
    pub max_lines: Option<usize>,
    /// Alignment.
    pub align: Align,
    /// Fill color.
    pub color: Color,
    /// Optional plate.
    pub plate: Option<PlateSpec>,
}

/// A laid-out, rasterized text block.
#[derive(Debug, Clone)]
pub struct TextBlock {
    /// The block with a margin around it, premultiplied.
    pub pixmap: Pixmap,
    /// Width of the block (text plus padding), pixels.
    pub width: f32,
    /// Height of the block, pixels.
    pub height: f32,
    /// Where the block's top-left corner is in `pixmap`.
    pub origin: (f32, f32),
    /// Number of lines laid out.
    pub lines: usize,
}

/// A rectangle with rounded corners (plain when `r` is 0).
pub fn rounded_rect(rect: Rect, r: f32) -> Option<tiny_skia::Path> {
    let r = r.min(rect.width() / 2.0).min(rect.height() / 2.0).max(0.0);
    if r <= 0.0 {
        return Some(PathBuilder::from_rect(rect));
    }
    let (l, t, rt, b) = (rect.left(), rect.top(), rect.right(), rect.bottom());
    // Cubic approximation of a quarter circle.
    let k = r * 0.552_284_8;
    let mut pb = PathBuilder::new();
    pb.move_to(l + r, t);
    pb.line_to(rt - r, t);
    pb.cubic_to(rt - r + k, t, rt, t + r - k, rt, t + r);
    pb.line_to(rt, b - r);
    pb.cubic_to(rt, b - r + k, rt - r + k, b, rt - r, b);
    pb.line_to(l + r, b);
    pb.cubic_to(l + r - k, b, l, b - r + k, l, b - r);
    pb.line_to(l, t + r);
    pb.cubic_to(l, t + r - k, l + r - k, t, l + r, t);
    pb.close();
    pb.finish()
}
