//! Text: the bundled font library, shaping and layout through cosmic-text, and rasterizing a
//! laid-out block once into a pixmap that frames then only blit.
//!
//! Why cosmic-text and not fontdue alone: fontdue does no shaping (no ligatures, no Arabic
//! joining, no right-to-left, only the old `kern` table), which `shared/PITFALLS.md` measured.
//! cosmic-text shapes with HarfRust, runs the Unicode bidi and line-breaking algorithms, falls
//! back per glyph, and rasterizes with swash.
//!
//! Weights: a static family's weight is the nearest face (CSS matching). A variable font is
//! one face whose `wght` axis covers its named instances; asking for a weight inside the axis
//! sets the axis to it, for shaping (advances) and rasterizing alike, so the named instances
//! (Thin 100 ... Black 900) and every weight between them render as the font designs them
//! (`tests/fonts/ReelVarTest.ttf` and the shaping tests check it against HarfBuzz).
//!
//! Determinism: the font database holds only the fonts bundled under `assets/fonts` (and
//! folders a caller adds), never the machine's, so a composition renders the same everywhere.

use cosmic_text::{
    fontdb, Attrs, Buffer, Family, FontSystem, Metrics, Shaping, SwashCache, SwashContent, Weight, Wrap,
};
use std::sync::{Arc, Mutex};
use tiny_skia::{Color, FillRule, LineJoin, Paint, PathBuilder, Pixmap, PixmapPaint, Rect, Shader, Stroke, Transform};

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
    "NotoSansThai-Regular.ttf",
    "NotoSansThai-Bold.ttf",
    // Chinese, Japanese and Korean in one face (4 MB, Apache-2.0): Noto Sans CJK is 20 MB
    // a weight. One weight only: CJK text asked in bold is drawn regular.
    "DroidSansFallbackFull.ttf",
    // Korean: every Hangul syllable, 0.7 MB a weight.
    "NanumSquareR.ttf",
    "NanumSquareB.ttf",
    // Colour emoji (CBDT bitmaps, scaled by swash); 11 MB, the price of emoji everywhere.
    "NotoColorEmoji.ttf",
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
            Script::Thai => &["Noto Sans Thai"],
            Script::Hangul => &["NanumSquare", "Droid Sans Fallback"],
            Script::Han | Script::Hiragana | Script::Katakana | Script::Bopomofo => &["Droid Sans Fallback"],
            _ => &[],
        }
    }
}

/// One font face of a [`FontLibrary`].
///
/// ```
/// let faces = reel::FontLibrary::bundled().faces();
/// assert!(faces.iter().any(|f| f.family == "Inter" && f.weight == 700 && f.source == "bundled"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FaceInfo {
    /// The family name compositions use (`font`, `headingFont`, `bodyFont`).
    pub family: String,
    /// 100..=900 (a variable font lists its default instance).
    pub weight: u16,
    /// `normal`, `italic` or `oblique`.
    pub style: String,
    /// `bundled`, or the file it was loaded from.
    pub source: String,
}

/// The fonts a render may use. Cheap to share: clone the `Arc`.
///
/// ```
/// let fonts = reel::FontLibrary::bundled();
/// assert_eq!(fonts.find_family("inter").as_deref(), Some("Inter"));
/// let added = fonts.add_dir("fixtures/demo/fonts".as_ref()); // 0 when the folder has none
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.fonts = fonts;
/// # let _ = added;
/// ```
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

    /// This library and the fonts in `files` (bytes, and a family to know them by instead
    /// of their own), as a library of its own: a composition's fonts do not reach other
    /// renders. `Err` names the file (by index) that holds no font.
    pub fn with_files(&self, files: Vec<(Vec<u8>, Option<String>)>) -> Result<Arc<FontLibrary>, (usize, String)> {
        let mut db = self.lock().fonts.db().clone();
        for (i, (bytes, family)) in files.into_iter().enumerate() {
            let ids = db.load_font_source(fontdb::Source::Binary(Arc::new(bytes)));
            if ids.is_empty() {
                return Err((i, "not a font file (TTF, OTF or TTC)".into()));
            }
            if let Some(family) = family {
                for id in ids {
                    if let Some(mut face) = db.face(id).cloned() {
                        db.remove_face(id);
                        face.families = vec![(family.clone(), fontdb::Language::English_UnitedStates)];
                        db.push_face_info(face);
                    }
                }
            }
        }
        let fonts = FontSystem::new_with_locale_and_db_and_fallback("en-US".into(), db, BundledFallback);
        Ok(Arc::new(FontLibrary { inner: Mutex::new(Inner { fonts, glyphs: SwashCache::new() }) }))
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
        family_named(self.lock().fonts.db(), name)
    }

    /// The weight CSS font matching gives `weight` in `family`: the weight itself when a
    /// face has it (or a variable face's `wght` axis covers it), else the nearest face's
    /// by the CSS rules (below 400 the next lighter, above 500 the next heavier, then the
    /// other way). `None` when the library has no such family.
    ///
    /// ```
    /// let fonts = reel::FontLibrary::bundled();
    /// assert_eq!(fonts.matched_weight("Noto Sans", 900), Some(700));
    /// assert_eq!(fonts.matched_weight("Noto Sans", 300), Some(400));
    /// assert_eq!(fonts.matched_weight("Inter", 900), Some(900));
    /// ```
    pub fn matched_weight(&self, family: &str, weight: u16) -> Option<u16> {
        let inner = self.lock();
        let family = family_named(inner.fonts.db(), family)?;
        Some(css_weight(inner.fonts.db(), &family, weight))
    }

    /// Every face the library holds, sorted by family, weight and style: the bundled ones
    /// (`source` is `bundled`) and those added from folders (`source` is the file).
    pub fn faces(&self) -> Vec<FaceInfo> {
        let inner = self.lock();
        let mut out: Vec<FaceInfo> = inner
            .fonts
            .db()
            .faces()
            .map(|f| FaceInfo {
                family: f.families.first().map(|(n, _)| n.clone()).unwrap_or_default(),
                weight: f.weight.0,
                style: match f.style {
                    fontdb::Style::Normal => "normal",
                    fontdb::Style::Italic => "italic",
                    fontdb::Style::Oblique => "oblique",
                }
                .into(),
                source: match &f.source {
                    fontdb::Source::Binary(_) => "bundled".into(),
                    fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) => p.display().to_string(),
                },
            })
            .collect();
        out.sort_by(|a, b| (&a.family, a.weight, &a.style).cmp(&(&b.family, b.weight, &b.style)));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the font system usable: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shapes one line of text without wrapping: (glyph id, advance in pixels) in visual
    /// order, left to right. For comparing our shaping with HarfBuzz's.
    pub fn shape_glyphs(&self, text: &str, family: &str, weight: u16, size: f32) -> Vec<(u16, f32)> {
        let mut guard = self.lock();
        // Wide enough never to wrap, small enough that x positions keep their precision.
        let mut spec = TextSpec::new(text, family, size, size * 1000.0);
        spec.weight = weight;
        let lines = shape(&mut guard.fonts, &spec, text, size, Wrap::None);
        let mut glyphs: Vec<(f32, u16, f32)> =
            lines.iter().flat_map(|l| l.glyphs.iter().map(|g| (g.x, g.glyph_id, g.w))).collect();
        glyphs.sort_by(|a, b| a.0.total_cmp(&b.0));
        glyphs.into_iter().map(|(_, id, w)| (id, w)).collect()
    }

    /// Shapes, wraps and rasterizes a text block once: plate, blurred shadow, stroke, fill.
    pub fn layout(&self, spec: &TextSpec) -> TextBlock {
        match self.layout_within(spec, u64::MAX) {
            Ok(block) => block,
            Err(_) => TextBlock::empty(spec.size),
        }
    }

    /// As [`FontLibrary::layout`], but a block whose raster (text, padding, and the margin
    /// its shadow and stroke need) would hold more than `max_pixels` pixels is not
    /// rasterized: the raster's size is returned instead, found by shaping alone, before
    /// anything is allocated.
    pub fn layout_within(&self, spec: &TextSpec, max_pixels: u64) -> Result<TextBlock, (u32, u32)> {
        let (mut block, ink) = self.shape_within(spec, max_pixels)?;
        block.pixmap = self.rasterize(&ink, spec.color);
        Ok(block)
    }

    /// As [`FontLibrary::layout_within`], but without the raster: the block's `pixmap` is
    /// a 1x1 placeholder, and the [`Ink`] returned paints the real one with
    /// [`FontLibrary::rasterize`] whenever it is wanted, in any fill colour. Glyphs are
    /// named by font and glyph id, so the raster is the same however the library grows.
    pub(crate) fn shape_within(&self, spec: &TextSpec, max_pixels: u64) -> Result<(TextBlock, Ink), (u32, u32)> {
        let mut guard = self.lock();
        let Inner { fonts, .. } = &mut *guard;
        let size = if spec.auto_fit { fit_size(fonts, spec) } else { spec.size.max(1.0) };
        let line_px = (size * spec.line_height).max(1.0);
        let mut lines = shape(fonts, spec, &spec.text, size, Wrap::WordOrGlyph);
        // maxLines: cut after the last allowed line and end it with an ellipsis that fits.
        if let Some(max) = spec.max_lines {
            if lines.len() > max {
                let end = lines[max - 1].glyphs.iter().map(|g| g.end).max().unwrap_or(0).min(spec.text.len());
                let mut head = spec.text[..floor_char(&spec.text, end)].trim_end().to_string();
                for _ in 0..64 {
                    let candidate = format!("{head}\u{2026}");
                    let l = shape(fonts, spec, &candidate, size, Wrap::WordOrGlyph);
                    if l.len() <= max || head.is_empty() {
                        lines = l;
                        lines.truncate(max);
                        break;
                    }
                    head = match head.trim_end().rsplit_once(char::is_whitespace) {
                        Some((h, _)) => h.trim_end().to_string(),
                        None => head[..floor_char(&head, head.len().saturating_sub(1))].to_string(),
                    };
                }
            }
        }
        // Characters no font has: shaped as glyph 0, drawn as an empty box.
        let mut missing = Vec::new();
        for g in lines.iter().flat_map(|l| &l.glyphs).filter(|g| g.glyph_id == 0) {
            for c in spec.text.get(g.start..g.end).unwrap_or("").chars() {
                if !c.is_whitespace() && !c.is_control() && !missing.contains(&c) && missing.len() < 8 {
                    missing.push(c);
                }
            }
        }
        let text_w = lines.iter().map(|l| l.w).fold(0.0f32, f32::max).ceil();
        let text_h = (lines.len() as f32 * line_px).ceil();
        let pad = spec.plate.map(|p| p.padding).unwrap_or(0.0);
        let box_w = text_w + 2.0 * pad;
        let box_h = text_h + 2.0 * pad;
        // Glyphs may overhang the line box; shadows and strokes reach further.
        let reach = spec.shadow.map(|s| s.dx.abs().max(s.dy.abs()) + 2.0 * s.blur).unwrap_or(0.0)
            + spec.stroke.map(|s| s.1).unwrap_or(0.0);
        let margin = (size * 0.5 + reach).ceil();
        let pw = (box_w + 2.0 * margin).ceil().clamp(1.0, u32::MAX as f32) as u32;
        let ph = (box_h + 2.0 * margin).ceil().clamp(1.0, u32::MAX as f32) as u32;
        if pw as u64 * ph as u64 > max_pixels {
            return Err((pw, ph));
        }
        // Place every glyph; remember where each one is for typewriter/wordByWord reveals.
        let mut placed = Vec::new();
        let mut reveal = Vec::new();
        let mut bands = Vec::new();
        for (li, line) in lines.iter().enumerate() {
            let align_x = match spec.align {
                Align::Left => 0.0,
                Align::Center => (text_w - line.w) / 2.0,
                Align::Right => text_w - line.w,
            };
            let ox = margin + pad + align_x - line.x0;
            let oy = margin + pad + line.y;
            bands.push(Band {
                top: margin + pad + li as f32 * line_px,
                bottom: margin + pad + (li + 1) as f32 * line_px,
                rtl: line.rtl,
            });
            for g in &line.glyphs {
                let phys = g.physical((ox, oy), 1.0);
                placed.push((phys.cache_key, phys.x, phys.y));
                let word_end =
                    spec.text.get(g.end..).is_none_or(|rest| rest.starts_with(char::is_whitespace) || rest.is_empty());
                let blank = spec.text.get(g.start..g.end).is_some_and(|t| t.chars().all(char::is_whitespace));
                reveal.push(RevealGlyph { line: li, x0: ox + g.x, x1: ox + g.x + g.w, word_end, blank });
            }
        }

        let block = TextBlock {
            pixmap: crate::pixels::pixmap_or_tiny(1, 1),
            width: box_w,
            height: box_h,
            origin: (margin, margin),
            lines: lines.len(),
            size,
            glyphs: reveal,
            bands,
            missing,
        };
        let ink = Ink {
            size: (pw, ph),
            margin,
            box_size: (box_w, box_h),
            plate: spec.plate,
            shadow: spec.shadow,
            stroke: spec.stroke,
            placed,
        };
        Ok((block, ink))
    }

    /// Paints the raster `ink` describes, its glyphs filled with `color`: plate, blurred
    /// shadow, stroke, fill.
    pub(crate) fn rasterize(&self, ink: &Ink, color: Color) -> Pixmap {
        let mut guard = self.lock();
        let Inner { fonts, glyphs } = &mut *guard;
        let (pw, ph) = ink.size;
        let (margin, (box_w, box_h)) = (ink.margin, ink.box_size);
        let mut pixmap = crate::pixels::pixmap_or_tiny(pw, ph);
        if let Some(plate) = ink.plate {
            if let Some(rect) = Rect::from_xywh(margin, margin, box_w, box_h) {
                let mut paint = Paint::default();
                paint.set_color(plate.color);
                paint.anti_alias = true;
                if let Some(path) = crate::pixels::rounded_rect(rect, plate.radius) {
                    pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
                }
            }
        }

        // Fill: the glyphs alone, so the shadow can be made from their coverage.
        let mut fill = crate::pixels::pixmap_or_tiny(pw, ph);
        for &(key, x, y) in &ink.placed {
            if let Some(img) = glyphs.get_image(fonts, key) {
                blend_glyph(&mut fill, img, x, y, color);
            }
        }
        if let Some(sh) = ink.shadow {
            let mut shadow = fill.clone();
            let r = if sh.blur > 0.0 { (sh.blur / 2.0).max(1.0) as usize } else { 0 };
            shadow_from_coverage(&mut shadow, sh.color, r);
            pixmap.draw_pixmap(
                sh.dx.round() as i32,
                sh.dy.round() as i32,
                shadow.as_ref(),
                &PixmapPaint::default(),
                Transform::identity(),
                None,
            );
        }
        if let Some((color, width)) = ink.stroke.filter(|s| s.1 > 0.0) {
            let mut pb = PathBuilder::new();
            for &(key, x, y) in &ink.placed {
                if let Some(cmds) = glyphs.get_outline_commands(fonts, key) {
                    outline(&mut pb, cmds, x as f32, y as f32);
                }
            }
            if let Some(path) = pb.finish() {
                let paint = Paint { shader: Shader::SolidColor(color), anti_alias: true, ..Paint::default() };
                // Twice the width, under the fill: the visible part lies outside the glyph.
                let stroke = Stroke { width: 2.0 * width, line_join: LineJoin::Round, ..Stroke::default() };
                pixmap.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
            }
        }
        pixmap.draw_pixmap(0, 0, fill.as_ref(), &PixmapPaint::default(), Transform::identity(), None);
        pixmap
    }
}

/// What a text block's raster is made of, found by shaping ([`FontLibrary::shape_within`]):
/// its size, the plate, shadow and stroke, and each glyph's cache key (font, glyph, size)
/// and pixel position. Painting it again gives the same pixels.
#[derive(Debug, Clone)]
pub(crate) struct Ink {
    /// The raster's size, pixels.
    pub size: (u32, u32),
    margin: f32,
    box_size: (f32, f32),
    plate: Option<PlateSpec>,
    shadow: Option<ShadowSpec>,
    stroke: Option<(Color, f32)>,
    placed: Vec<(cosmic_text::CacheKey, i32, i32)>,
}

impl Ink {
    /// Nothing to paint: a 1x1 transparent raster.
    pub(crate) fn empty() -> Ink {
        Ink {
            size: (1, 1),
            margin: 0.0,
            box_size: (1.0, 1.0),
            plate: None,
            shadow: None,
            stroke: None,
            placed: Vec::new(),
        }
    }
}

/// A text's rasters, one per fill colour, painted from its [`Ink`] when first wanted and
/// let go on [`TextRasters::release`]: a render's loader paints a text's rasters a little
/// before it shows and lets them go after, so texts take the memory of those on screen,
/// not of every text in the video. Painting the same glyphs gives the same pixels, so
/// rasters let go come back the same.
pub(crate) struct TextRasters {
    ink: Ink,
    colors: Vec<Color>,
    fonts: Arc<FontLibrary>,
    slot: Mutex<Option<Arc<Vec<Pixmap>>>>,
}

impl std::fmt::Debug for TextRasters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextRasters").field("size", &self.ink.size).field("colors", &self.colors.len()).finish()
    }
}

impl TextRasters {
    /// Rasters of `ink` in each of `colors` (at least one), painted with `fonts`.
    pub(crate) fn new(ink: Ink, colors: Vec<Color>, fonts: Arc<FontLibrary>) -> TextRasters {
        TextRasters { ink, colors, fonts, slot: Mutex::new(None) }
    }

    /// The rasters' size, pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        self.ink.size
    }

    /// Bytes the rasters take when painted.
    pub(crate) fn bytes(&self) -> u64 {
        self.ink.size.0 as u64 * self.ink.size.1 as u64 * 4 * self.colors.len() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Vec<Pixmap>>>> {
        // Nothing panics while holding the lock; if something did, the slot is still valid.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rasters, in the order of the colours, painted now if they are not in memory.
    pub(crate) fn get(&self) -> Arc<Vec<Pixmap>> {
        let mut slot = self.lock();
        slot.get_or_insert_with(|| Arc::new(self.colors.iter().map(|&c| self.fonts.rasterize(&self.ink, c)).collect()))
            .clone()
    }

    /// Lets the rasters go (they come back on the next [`TextRasters::get`]).
    pub(crate) fn release(&self) {
        self.lock().take();
    }

    /// Whether the rasters are in memory.
    pub(crate) fn is_loaded(&self) -> bool {
        self.lock().is_some()
    }
}

/// The largest index <= `i` on a char boundary.
fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One laid-out line.
struct Line {
    x0: f32,
    w: f32,
    y: f32,
    rtl: bool,
    glyphs: Vec<cosmic_text::LayoutGlyph>,
}

/// `text` with the characters Unicode's bidi algorithm treats as paragraph separators
/// inside a line (U+001C..U+001E, U+0085, U+2029; lines themselves end at `\n`) replaced by
/// spaces of the same UTF-8 length, so byte offsets stay valid. cosmic-text asserts that
/// a line is one paragraph, and panicked on a caption holding U+001C before RTL text
/// (found by the `subtitles` fuzz target).
fn bidi_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let separator = |c: char| matches!(c, '\u{1c}'..='\u{1e}' | '\u{85}' | '\u{2029}' | '\r');
    if !text.contains(separator) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| match c {
            '\u{85}' => '\u{a0}',
            '\u{2029}' => '\u{2000}',
            c if separator(c) => ' ',
            c => c,
        })
        .collect::<String>()
        .into()
}

/// The family's name as `db` spells it, if any face has it (case-insensitive).
fn family_named(db: &fontdb::Database, name: &str) -> Option<String> {
    db.faces().flat_map(|f| f.families.iter().map(|(n, _)| n)).find(|n| n.eq_ignore_ascii_case(name)).cloned()
}

/// CSS font matching of `weight` within `family` (exact family name): cosmic-text itself
/// takes a family's face only at the exact weight and otherwise falls through to the
/// fallback fonts (Noto Sans 900 came out as Inter Black).
fn css_weight(db: &fontdb::Database, family: &str, weight: u16) -> u16 {
    let query = fontdb::Query { families: &[Family::Name(family)], weight: Weight(weight), ..fontdb::Query::default() };
    let Some(id) = db.query(&query) else { return weight };
    let Some(face) = db.face(id) else { return weight };
    if face.weight.0 == weight {
        return weight;
    }
    // A variable face whose `wght` axis covers the weight renders it as asked.
    let covers = db.with_face_data(id, |data, index| {
        use cosmic_text::skrifa::MetadataProvider;
        let font = cosmic_text::skrifa::FontRef::from_index(data, index).ok()?;
        let axis = font.axes().get_by_tag(cosmic_text::skrifa::Tag::new(b"wght"))?;
        Some((axis.min_value()..=axis.max_value()).contains(&(weight as f32)))
    });
    if covers == Some(Some(true)) {
        weight
    } else {
        face.weight.0
    }
}

fn shape(fonts: &mut FontSystem, spec: &TextSpec, text: &str, size: f32, wrap: Wrap) -> Vec<Line> {
    let line_px = (size * spec.line_height).max(1.0);
    let weight = css_weight(fonts.db(), &spec.family, spec.weight);
    let mut buffer = Buffer::new(fonts, Metrics::new(size, line_px));
    buffer.set_wrap(wrap);
    buffer.set_size(Some(spec.max_width.max(size)), None);
    let mut attrs = Attrs::new().family(Family::Name(&spec.family)).weight(Weight(weight));
    if spec.letter_spacing != 0.0 {
        attrs = attrs.letter_spacing(spec.letter_spacing / size);
    }
    buffer.set_text(&bidi_safe(text), &attrs, Shaping::Advanced, None);
    buffer.shape_until_scroll(fonts, false);
    buffer
        .layout_runs()
        .map(|run| {
            let x0 = run.glyphs.iter().map(|g| g.x).fold(f32::INFINITY, f32::min);
            Line {
                x0: if x0.is_finite() { x0 } else { 0.0 },
                w: run.line_w,
                y: run.line_y,
                rtl: run.rtl,
                glyphs: run.glyphs.to_vec(),
            }
        })
        .collect()
}

/// autoFit: the largest size (at most the asked one) at which the text fits `maxWidth`
/// without breaking a word, in `maxLines` lines (or its own line count when none is set).
fn fit_size(fonts: &mut FontSystem, spec: &TextSpec) -> f32 {
    let limit = spec.max_lines.unwrap_or_else(|| spec.text.lines().count().max(1));
    let fits = |fonts: &mut FontSystem, s: f32| {
        let lines = shape(fonts, spec, &spec.text, s, Wrap::Word);
        lines.len() <= limit && lines.iter().all(|l| l.w <= spec.max_width + 0.5)
    };
    let hi = spec.size.max(1.0);
    if fits(fonts, hi) {
        return hi;
    }
    let mut lo = 1.0f32;
    let mut hi = hi;
    for _ in 0..14 {
        let mid = (lo + hi) / 2.0;
        if fits(fonts, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn outline(pb: &mut PathBuilder, cmds: &[cosmic_text::Command], ox: f32, oy: f32) {
    use cosmic_text::Command as C;
    // Outlines are in pixels with y up from the glyph origin.
    for c in cmds {
        match c {
            C::MoveTo(a) => pb.move_to(ox + a.x, oy - a.y),
            C::LineTo(a) => pb.line_to(ox + a.x, oy - a.y),
            C::QuadTo(a, b) => pb.quad_to(ox + a.x, oy - a.y, ox + b.x, oy - b.y),
            C::CurveTo(a, b, e) => pb.cubic_to(ox + a.x, oy - a.y, ox + b.x, oy - b.y, ox + e.x, oy - e.y),
            C::Close => pb.close(),
        }
    }
}

/// Source-over of one glyph image at (x, y) in `color`.
fn blend_glyph(dst: &mut Pixmap, img: &cosmic_text::SwashImage, x: i32, y: i32, color: Color) {
    let (pw, ph) = (dst.width() as i32, dst.height() as i32);
    let (cr, cg, cb, ca) = (color.red(), color.green(), color.blue(), color.alpha());
    let p = img.placement;
    let (gx, gy) = (x + p.left, y - p.top);
    let data = dst.data_mut();
    for j in 0..p.height as i32 {
        let yy = gy + j;
        if yy < 0 || yy >= ph {
            continue;
        }
        for i in 0..p.width as i32 {
            let xx = gx + i;
            if xx < 0 || xx >= pw {
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
                    (img.data[k * 4] as f32 * f, img.data[k * 4 + 1] as f32 * f, img.data[k * 4 + 2] as f32 * f, a)
                }
            };
            if sa <= 0.0 {
                continue;
            }
            // usize: a large block's byte offset does not fit an i32.
            let d = (yy as usize * pw as usize + xx as usize) * 4;
            let inv = 1.0 - sa;
            let px = &mut data[d..d + 4];
            px[0] = (sr * 255.0 + px[0] as f32 * inv).round().min(255.0) as u8;
            px[1] = (sg * 255.0 + px[1] as f32 * inv).round().min(255.0) as u8;
            px[2] = (sb * 255.0 + px[2] as f32 * inv).round().min(255.0) as u8;
            px[3] = (sa * 255.0 + px[3] as f32 * inv).round().min(255.0) as u8;
        }
    }
}

/// Turns `p`, whose alpha channel holds a shape's coverage, into its shadow: the coverage
/// blurred by three box blurs of radius `r` each way (close to a Gaussian of sigma ~ r; none
/// for 0), then `color` at that coverage, premultiplied.
///
/// A shadow is one colour, so only its coverage is blurred, one byte a pixel, and the colour
/// applied after; the vertical passes run along rows (a running sum per column), so they
/// read memory in order. (Blurring the four premultiplied channels column by column took
/// 4.7 % of W4's CPU, for a clip's shadow redrawn while the clip scales in.)
pub(crate) fn shadow_from_coverage(p: &mut Pixmap, color: Color, r: usize) {
    let (w, h) = (p.width() as usize, p.height() as usize);
    let mut a: Vec<u8> = p.data().chunks_exact(4).map(|px| px[3]).collect();
    blur_coverage(&mut a, w, h, r);
    let c = color.premultiply().to_color_u8();
    let c = [c.red(), c.green(), c.blue(), c.alpha()].map(u32::from);
    for (px, &a) in p.data_mut().chunks_exact_mut(4).zip(&a) {
        let a = a as u32;
        for (d, c) in px.iter_mut().zip(c) {
            *d = ((c * a + 127) / 255) as u8;
        }
    }
}

/// Three box blurs of radius `r` each way (none for 0) of the `w` x `h` coverage `a`, one
/// byte a pixel; pixels outside count as transparent.
///
/// Each pass blurs along the rows, then down the columns with a running sum per column,
/// in place: the row blurs a column sum needs at row `y` (rows `y - r` to `y + r + 1`) are
/// kept in a ring of `2r + 2` rows, made from `a`'s rows just before the sum reaches them
/// (still unblurred: rows are written only up to `y`). The same values as blurring every
/// row into a copy of the whole mask first, without the copy (1.3 MB for W4's clip card,
/// made again on every frame it moves, on each worker at once).
pub(crate) fn blur_coverage(a: &mut [u8], w: usize, h: usize, r: usize) {
    if r == 0 || w == 0 || h == 0 || a.len() != w * h {
        return;
    }
    let ring_rows = (2 * r + 2).min(h);
    let mut ring = vec![0u8; ring_rows * w];
    let mut acc = vec![0u32; w];
    let inv = 1.0 / (2 * r + 1) as f32;
    // Blurs row `y` of `a` into its place in the ring (the row `ring_rows` before it, no
    // longer needed, was there) and adds it to the column sums.
    let take_row = |a: &[u8], ring: &mut [u8], acc: &mut [u32], y: usize| {
        let slot = (y % ring_rows) * w;
        box_row(&a[y * w..(y + 1) * w], &mut ring[slot..slot + w], r);
        for (s, &v) in acc.iter_mut().zip(&ring[slot..slot + w]) {
            *s += v as u32;
        }
    };
    for _ in 0..3 {
        acc.fill(0);
        for y in 0..(r + 1).min(h) {
            take_row(a, &mut ring, &mut acc, y);
        }
        for y in 0..h {
            for (d, &s) in a[y * w..(y + 1) * w].iter_mut().zip(acc.iter()) {
                *d = (s as f32 * inv + 0.5) as u8;
            }
            if y + r + 1 < h {
                take_row(a, &mut ring, &mut acc, y + r + 1);
            }
            if y >= r {
                let slot = ((y - r) % ring_rows) * w;
                for (s, &v) in acc.iter_mut().zip(&ring[slot..slot + w]) {
                    *s -= v as u32;
                }
            }
        }
    }
}

/// One box pass of radius `r` along a row; pixels outside the row count as transparent.
fn box_row(src: &[u8], dst: &mut [u8], r: usize) {
    let m = src.len();
    let inv = 1.0 / (2 * r + 1) as f32;
    let mut acc: u32 = src.iter().take(r + 1).map(|&v| v as u32).sum();
    for i in 0..m {
        dst[i] = (acc as f32 * inv + 0.5) as u8;
        if let Some(&v) = src.get(i + r + 1) {
            acc += v as u32;
        }
        if i >= r {
            acc -= src[i - r] as u32;
        }
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
    /// Shrink the size until the text fits `max_width` x `max_lines`.
    pub auto_fit: bool,
    /// Outline color and width in pixels.
    pub stroke: Option<(Color, f32)>,
    /// Drop shadow.
    pub shadow: Option<ShadowSpec>,
}

impl TextSpec {
    /// A spec with the defaults: weight 400, line height 1.2, left aligned, white, wrapping
    /// at `max_width`, no plate, stroke or shadow.
    pub fn new(text: impl Into<String>, family: impl Into<String>, size: f32, max_width: f32) -> TextSpec {
        TextSpec {
            text: text.into(),
            family: family.into(),
            weight: 400,
            size,
            line_height: 1.2,
            letter_spacing: 0.0,
            max_width,
            max_lines: None,
            align: Align::Left,
            color: Color::WHITE,
            plate: None,
            auto_fit: false,
            stroke: None,
            shadow: None,
        }
    }
}

/// A drop shadow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShadowSpec {
    /// Color (its alpha is the shadow's strength).
    pub color: Color,
    /// Offset, pixels.
    pub dx: f32,
    /// Offset, pixels.
    pub dy: f32,
    /// Blur radius, pixels.
    pub blur: f32,
}

/// Where one glyph is, in logical order, for reveals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RevealGlyph {
    /// Its line.
    pub line: usize,
    /// Left edge in the block's pixmap.
    pub x0: f32,
    /// Right edge in the block's pixmap.
    pub x1: f32,
    /// The glyph ends a word.
    pub word_end: bool,
    /// The glyph is white space (it has an advance but no ink).
    pub blank: bool,
}

/// The vertical extent of one line in the block's pixmap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Top, pixels.
    pub top: f32,
    /// Bottom, pixels.
    pub bottom: f32,
    /// Right-to-left line.
    pub rtl: bool,
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
    /// The size used (smaller than asked after autoFit).
    pub size: f32,
    /// Every glyph, in logical order.
    pub glyphs: Vec<RevealGlyph>,
    /// Every line's band.
    pub bands: Vec<Band>,
    /// Characters no font in the library has a glyph for (the first eight): they are drawn
    /// as empty boxes.
    pub missing: Vec<char>,
}

impl TextBlock {
    /// A block with nothing in it, at `size`: what a refused text is planned as.
    pub fn empty(size: f32) -> TextBlock {
        TextBlock {
            pixmap: crate::pixels::pixmap_or_tiny(1, 1),
            width: 1.0,
            height: 1.0,
            origin: (0.0, 0.0),
            lines: 0,
            size,
            glyphs: Vec::new(),
            bands: Vec::new(),
            missing: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{bidi_safe, blur_coverage, box_row};

    /// The blur as it was written before its ring of rows: every row blurred into a copy of
    /// the whole mask, then the columns summed from that copy.
    fn blur_with_a_whole_copy(a: &mut [u8], w: usize, h: usize, r: usize) {
        let mut tmp = vec![0u8; a.len()];
        let mut acc = vec![0u32; w];
        for _ in 0..3 {
            for (src, dst) in a.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
                box_row(src, dst, r);
            }
            box_columns(&tmp, a, w, h, r, &mut acc);
        }
    }

    /// One box pass of radius `r` down the columns of a `w` x `h` plane, row by row: `acc`
    /// holds each column's running sum.
    fn box_columns(src: &[u8], dst: &mut [u8], w: usize, h: usize, r: usize, acc: &mut [u32]) {
        let inv = 1.0 / (2 * r + 1) as f32;
        acc.fill(0);
        for row in src.chunks_exact(w).take(r + 1) {
            for (s, &v) in acc.iter_mut().zip(row) {
                *s += v as u32;
            }
        }
        for y in 0..h {
            for (d, &s) in dst[y * w..(y + 1) * w].iter_mut().zip(acc.iter()) {
                *d = (s as f32 * inv + 0.5) as u8;
            }
            if y + r + 1 < h {
                for (s, &v) in acc.iter_mut().zip(&src[(y + r + 1) * w..(y + r + 2) * w]) {
                    *s += v as u32;
                }
            }
            if y >= r {
                for (s, &v) in acc.iter_mut().zip(&src[(y - r) * w..(y - r + 1) * w]) {
                    *s -= v as u32;
                }
            }
        }
    }

    #[test]
    fn the_blur_in_place_is_the_blur_through_a_copy() {
        // Heights below, at and above the ring's 2r + 2 rows; a mask of one pixel.
        for (w, h, r) in [
            (1, 1, 1),
            (7, 3, 2),
            (9, 5, 2),
            (9, 6, 2),
            (9, 7, 2),
            (33, 17, 12),
            (40, 26, 12),
            (41, 90, 12),
            (5, 200, 3),
        ] {
            let mut seed = (w * 31 + h * 7 + r) as u32;
            let original: Vec<u8> = (0..w * h)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect();
            let (mut ours, mut theirs) = (original.clone(), original.clone());
            blur_coverage(&mut ours, w, h, r);
            blur_with_a_whole_copy(&mut theirs, w, h, r);
            assert_eq!(ours, theirs, "{w}x{h}, radius {r}");
            assert_ne!(ours, original, "{w}x{h}, radius {r}: blurred");
        }
    }

    #[test]
    fn paragraph_separators_become_spaces_of_the_same_length() {
        for (input, want) in [
            ("a\u{1c}\u{5d0}", "a \u{5d0}"),
            ("x\u{85}y\u{2029}z\r", "x\u{a0}y\u{2000}z "),
            ("plain\ntext", "plain\ntext"),
        ] {
            let got = bidi_safe(input);
            assert_eq!(got, want);
            assert_eq!(got.len(), input.len(), "byte offsets must not move");
        }
    }
}
