//! Image decoding into premultiplied pixmaps, with limits against decompression bombs.

use std::borrow::Cow;
use std::path::Path;
use tiny_skia::{IntSize, Pixmap};

/// Limits applied while decoding an image, checked from its header before decoding.
///
/// ```
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.limits.image.max_pixels = 40_000_000; // 40 Mpx: refuse larger photos
/// assert_eq!(reel::ImageLimits::default().max_side, 16384);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageLimits {
    /// Largest width or height accepted.
    pub max_side: u32,
    /// Largest number of pixels accepted (checked from the header, before decoding).
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits { max_side: 16384, max_pixels: 100_000_000 }
    }
}

/// A decoded image, premultiplied RGBA, EXIF orientation applied.
pub type DecodedImage = Pixmap;

/// An image's width and height from its header, without decoding it.
pub fn image_dimensions(path: &Path) -> Result<(u32, u32), String> {
    // A PNG's size is in its first chunk: read it there, without letting a decoder parse
    // the chunks after it (an embedded colour profile is inflated while reading a header).
    if let Some(ihdr) = png_header(path) {
        return Ok((ihdr.width, ihdr.height));
    }
    if svg_file(path) {
        let bytes = read_image_file(path, ImageLimits::default())?;
        let o = Original::decode(&bytes, ImageLimits::default())?;
        return Ok((o.width(), o.height()));
    }
    let reader = ::image::ImageReader::open(path).map_err(|e| e.to_string())?;
    let reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    reader.into_dimensions().map_err(|e| format!("corrupt image: {e}"))
}

/// The bytes decoding the image in `path` holds at its peak, from its header alone: 4 a
/// pixel for the premultiplied RGBA kept, plus, for a 16-bit PNG, the 16-bit pixels the
/// decoder produces before converting them (2 bytes a channel). What the media budget
/// counts. `None` when the header cannot be read.
pub fn decoded_bytes(path: &Path) -> Option<u64> {
    let png = png_header(path);
    let (w, h) = match &png {
        Some(ihdr) => (ihdr.width, ihdr.height),
        None => image_dimensions(path).ok()?,
    };
    let pixels = u64::from(w) * u64::from(h);
    let sixteen_bit_channels = png.filter(|ihdr| ihdr.bit_depth == 16).map(|ihdr| match ihdr.colour_type {
        0 => 1, // grey
        4 => 2, // grey and alpha
        2 => 3, // RGB
        _ => 4, // RGBA (palettes are never 16-bit)
    });
    Some(pixels * (4 + sixteen_bit_channels.map_or(0, |c| 2 * c)))
}

/// Whether the file at `path` starts as an SVG document.
fn svg_file(path: &Path) -> bool {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head))
        .is_ok_and(|_| is_svg(&head))
}

/// What a PNG's first chunk (IHDR) says.
struct PngHeader {
    width: u32,
    height: u32,
    bit_depth: u8,
    colour_type: u8,
}

/// The IHDR of the PNG at `path`, `None` for any other file: the signature (8 bytes),
/// IHDR's length and type (8), width and height (8), the bit depth and the colour type.
fn png_header(path: &Path) -> Option<PngHeader> {
    let mut head = [0u8; 26];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).ok()?;
    if !head.starts_with(PNG_SIGNATURE) || &head[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some(PngHeader { width: be(&head[16..20]), height: be(&head[20..24]), bit_depth: head[24], colour_type: head[25] })
}

/// Reads and decodes a PNG, JPEG or WebP file. The error is a sentence for the user.
pub fn decode_image(path: &Path, limits: ImageLimits) -> Result<DecodedImage, String> {
    decode_image_bytes(&read_image_file(path, limits)?, limits)
}

/// Reads an image file whole, refusing one larger than any image within `limits` could be
/// (so a huge file is never read into memory to find out).
pub fn read_image_file(path: &Path, limits: ImageLimits) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    // Compressed data is smaller than the pixels; PNG's worst case is a little larger.
    let most = limits.max_pixels.saturating_mul(8).saturating_add(1 << 20);
    if len > most {
        return Err(format!("the file is {len} bytes, more than any image within the limits ({most} bytes)"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// An image file planning read and checked, held open for the render to read again: a
/// video of many photos holds none of their files' bytes between the scenes that show
/// them, and the render reads the file planning read even if its name has been moved,
/// removed or replaced since (an asset cache trimmed meanwhile). A file changed in place is
/// told by its length and a hash of its bytes. Past [`MAX_OPEN_IMAGE_FILES`] held open in
/// the process, a file is opened again by its name for each read instead (then one removed
/// since planning cannot be read).
pub(crate) struct ImageFile {
    /// The open file, or `None` when it is opened by name for each read.
    file: Option<std::sync::Mutex<std::fs::File>>,
    path: std::path::PathBuf,
    len: u64,
    hash: u64,
}

/// Image files held open at once in this process: a plan of thousands of images, or many
/// plans at once, must not use up the process's file descriptors (often 1024).
pub(crate) const MAX_OPEN_IMAGE_FILES: usize = 256;

/// Image files held open now, in this process.
static OPEN_IMAGE_FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl ImageFile {
    /// Opens `path` and reads it whole, as [`read_image_file`] does: the file, kept open
    /// while fewer than [`MAX_OPEN_IMAGE_FILES`] are, and its bytes.
    pub(crate) fn open(path: &Path, limits: ImageLimits) -> Result<(ImageFile, Vec<u8>), String> {
        use std::sync::atomic::Ordering;
        let keep = OPEN_IMAGE_FILES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_OPEN_IMAGE_FILES).then_some(n + 1))
            .is_ok();
        let opened = Self::open_as(path, limits, keep);
        if keep && !matches!(&opened, Ok((f, _)) if f.file.is_some()) {
            OPEN_IMAGE_FILES.fetch_sub(1, Ordering::AcqRel);
        }
        opened
    }

    /// [`ImageFile::open`], keeping the file open or not.
    fn open_as(path: &Path, limits: ImageLimits, keep_open: bool) -> Result<(ImageFile, Vec<u8>), String> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        // Compressed data is smaller than the pixels; PNG's worst case is a little larger.
        let most = limits.max_pixels.saturating_mul(8).saturating_add(1 << 20);
        if len > most {
            return Err(format!("the file is {len} bytes, more than any image within the limits ({most} bytes)"));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        (&mut file).take(most).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let held = ImageFile {
            file: keep_open.then(|| std::sync::Mutex::new(file)),
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            hash: hash_of(&bytes),
        };
        Ok((held, bytes))
    }

    /// The file's bytes, read again from the start; an error if they are not the bytes
    /// planning read.
    pub(crate) fn read(&self) -> Result<Vec<u8>, String> {
        use std::io::{Read, Seek, SeekFrom};
        let changed = |why: &str| format!("the image file changed after planning{why}");
        let mut bytes = Vec::with_capacity(self.len as usize);
        match &self.file {
            Some(file) => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                (&mut *file).take(self.len + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            }
            None => {
                let file = std::fs::File::open(&self.path).map_err(|e| changed(&format!(": {e}")))?;
                file.take(self.len + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            }
        }
        if bytes.len() as u64 != self.len || hash_of(&bytes) != self.hash {
            return Err(changed(""));
        }
        Ok(bytes)
    }

    /// The file's name when planning opened it.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            OPEN_IMAGE_FILES.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        }
    }
}

/// A hash of a file's bytes, to tell whether it changed.
fn hash_of(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// Decodes a PNG, JPEG or WebP image held in memory (the format is read from the content,
/// never from a name: a mislabelled file still decodes, and a file that is no image says so).
/// The result is premultiplied, with the EXIF orientation applied.
pub fn decode_image_bytes(bytes: &[u8], limits: ImageLimits) -> Result<DecodedImage, String> {
    pixmap_of(decode_dynamic(bytes, limits)?)
}

/// A decoded image as premultiplied RGBA.
fn pixmap_of(img: ::image::DynamicImage) -> Result<Pixmap, String> {
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut data = rgba.into_raw();
    premultiply(&mut data);
    let size = IntSize::from_wh(w, h).ok_or("the image is empty")?;
    Pixmap::from_vec(data, size).ok_or_else(|| "the image is too large".into())
}

/// A decoded image before it is brought to the size it is drawn at: straight RGB when the
/// file has no alpha channel (a JPEG: no RGBA copy of the whole original is made), else
/// premultiplied RGBA. EXIF orientation applied.
#[derive(Debug, Clone)]
pub enum Original {
    /// Rows of `width * 3` bytes.
    Rgb {
        /// The pixels.
        data: Vec<u8>,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Premultiplied RGBA.
    Rgba(Pixmap),
    /// An SVG document, rasterized at whatever size it is asked for.
    Svg(std::sync::Arc<resvg::usvg::Tree>),
}

impl Original {
    /// Decodes a PNG, JPEG or WebP image held in memory, as [`decode_image_bytes`] does.
    pub fn decode(bytes: &[u8], limits: ImageLimits) -> Result<Original, String> {
        if is_svg(bytes) {
            return svg_tree(bytes, limits).map(|t| Original::Svg(std::sync::Arc::new(t)));
        }
        let img = decode_dynamic(bytes, limits)?;
        if img.color().has_alpha() {
            return pixmap_of(img).map(Original::Rgba);
        }
        let (width, height) = (img.width(), img.height());
        Ok(Original::Rgb { data: rgb_of(img), width, height })
    }

    /// Width in pixels (an SVG's own size, rounded up).
    pub fn width(&self) -> u32 {
        match self {
            Original::Rgb { width, .. } => *width,
            Original::Rgba(p) => p.width(),
            Original::Svg(t) => t.size().width().ceil() as u32,
        }
    }

    /// Height in pixels (an SVG's own size, rounded up).
    pub fn height(&self) -> u32 {
        match self {
            Original::Rgb { height, .. } => *height,
            Original::Rgba(p) => p.height(),
            Original::Svg(t) => t.size().height().ceil() as u32,
        }
    }

    /// A vector image: drawn sharp at any size, so it is rasterized at the size drawn.
    pub fn is_vector(&self) -> bool {
        matches!(self, Original::Svg(_))
    }

    /// The pixels at `w` x `h` as premultiplied RGBA (no copy when RGBA at that size): the
    /// same bytes as
    /// [`resize_premultiplied`] of [`decode_image_bytes`] (Lanczos3 when the size differs;
    /// on opaque pixels, resizing RGB gives what resizing their RGBA gives). None if the
    /// size is zero or too large.
    pub fn into_pixmap_at(self, w: u32, h: u32) -> Option<Pixmap> {
        match self {
            Original::Rgba(p) if (p.width(), p.height()) == (w, h) => Some(p),
            o => o.pixmap_at(w, h),
        }
    }

    /// [`Original::into_pixmap_at`] of a shared original (copied when at its own size).
    pub fn pixmap_at(&self, w: u32, h: u32) -> Option<Pixmap> {
        match self {
            Original::Rgba(p) if (p.width(), p.height()) == (w, h) => Some(p.clone()),
            Original::Rgba(p) => Some(resize_premultiplied(p, w, h)),
            Original::Rgb { data, width, height } => {
                let rgb = resize_rgb(data.into(), *width, *height, w, h)?;
                let mut rgba = vec![255u8; rgb.len() / 3 * 4];
                for (o, px) in rgba.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                    o[..3].copy_from_slice(px);
                }
                Pixmap::from_vec(rgba, IntSize::from_wh(w, h)?)
            }
            Original::Svg(tree) => {
                let mut pixmap = Pixmap::new(w, h)?;
                let size = tree.size();
                let ts = tiny_skia::Transform::from_scale(w as f32 / size.width(), h as f32 / size.height());
                resvg::render(tree, ts, &mut pixmap.as_mut());
                Some(pixmap)
            }
        }
    }
}

/// An SVG file's text is at most this long: parsing and rasterizing grow with it.
const MAX_SVG_BYTES: usize = 4 << 20;

/// Whether `bytes` hold an SVG document (by content, as for the other formats): XML whose
/// first element is `svg`, within its first kilobytes.
fn is_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    (t.starts_with("<?xml") || t.starts_with("<svg") || t.starts_with("<!--") || t.starts_with("<!DOCTYPE"))
        && t.contains("<svg")
}

/// Parses an SVG document for drawing: plain text only (a gzip-compressed SVGZ would be
/// inflated unbounded), at most [`MAX_SVG_BYTES`]; an `<image>` naming a file or URL is
/// refused (only images embedded as data URLs are allowed, and they are not drawn: raster
/// images inside an SVG are not supported); entity expansion is bounded by the XML parser
/// (a billion-laughs document is refused). Its own size must be within `limits`.
fn svg_tree(bytes: &[u8], limits: ImageLimits) -> Result<resvg::usvg::Tree, String> {
    use resvg::usvg;
    if bytes.len() > MAX_SVG_BYTES {
        return Err(format!("the SVG is {} bytes; at most {MAX_SVG_BYTES} are read", bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the SVG is not UTF-8 text".to_string())?;
    let external = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = external.clone();
    let opts = usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(move |href: &str, _| {
                if let Ok(mut s) = seen.lock() {
                    s.get_or_insert_with(|| href.chars().take(80).collect());
                }
                None
            }),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(text.trim_start_matches('\u{feff}'), &opts)
        .map_err(|e| format!("not a valid SVG: {e}"))?;
    if let Some(href) = external.lock().ok().and_then(|s| s.clone()) {
        return Err(format!("the SVG refers to another file ({href:?}); an SVG asset must be self-contained"));
    }
    let (w, h) = (tree.size().width().ceil() as u64, tree.size().height().ceil() as u64);
    if w > limits.max_side as u64 || h > limits.max_side as u64 || w * h > limits.max_pixels {
        return Err(format!(
            "the SVG is {w}x{h}; at most {} per side and {} pixels are drawn",
            limits.max_side, limits.max_pixels
        ));
    }
    Ok(tree)
}

/// Like [`decode_image_bytes`], as RGB rows of `width * 3` bytes (alpha dropped): for
/// images known to be opaque, a quarter fewer bytes to hold and resize, and no RGBA copy
/// of a JPEG's RGB. Returns the pixels, width and height.
pub fn decode_image_rgb(bytes: &[u8], limits: ImageLimits) -> Result<(Vec<u8>, u32, u32), String> {
    let img = decode_dynamic(bytes, limits)?;
    let (w, h) = (img.width(), img.height());
    Ok((rgb_of(img), w, h))
}

/// A decoded image's pixels as RGB rows, alpha dropped; a colour JPEG's are taken as they
/// are (`into_rgb8` would copy them: another 11 MB for a W1 photo, at the render's peak).
fn rgb_of(img: ::image::DynamicImage) -> Vec<u8> {
    match img {
        ::image::DynamicImage::ImageRgb8(rgb) => rgb.into_raw(),
        img => img.into_rgb8().into_raw(),
    }
}

/// Checks the header against `limits`, then decodes with the EXIF orientation applied.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `bytes` without the colour profiles (iCCP chunks) of a PNG. reel does not manage colour,
/// and the PNG decoder inflates an embedded profile whole while reading the header, bounded
/// only by the decoder's whole allocation limit: a 1 MB chunk cost 800 MB. Other files, and
/// PNGs without a profile, are returned as they are; a malformed chunk list is left for the
/// decoder to report.
pub(crate) fn without_colour_profile(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Cow::Borrowed(bytes);
    }
    let mut profiles = Vec::new();
    let mut pos = PNG_SIGNATURE.len();
    // Chunks are length (4), type (4), data, CRC (4). A profile counts only before the
    // image data.
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = pos.saturating_add(12).saturating_add(len);
        match &head[4..8] {
            b"iCCP" => profiles.push(pos..end.min(bytes.len())),
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        pos = end;
    }
    if profiles.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for r in profiles {
        out.extend_from_slice(&bytes[from..r.start]);
        from = r.end;
    }
    out.extend_from_slice(&bytes[from..]);
    Cow::Owned(out)
}

fn decode_dynamic(bytes: &[u8], limits: ImageLimits) -> Result<::image::DynamicImage, String> {
    use ::image::ImageDecoder;
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let bytes = &*without_colour_profile(bytes);
    let format = match ::image::guess_format(&bytes[..bytes.len().min(64)]) {
        Ok(f @ (::image::ImageFormat::Png | ::image::ImageFormat::Jpeg | ::image::ImageFormat::WebP)) => f,
        Ok(::image::ImageFormat::Gif) => {
            return Err(
                "a GIF is drawn as a clip: give it a video layer (\"type\": \"video\"), which plays and loops it"
                    .into(),
            )
        }
        Ok(f) => return Err(format!("{f:?} images are not supported (PNG, JPEG, WebP or SVG)")),
        Err(_) => return Err("not a PNG, JPEG, WebP or SVG image".into()),
    };
    if format == ::image::ImageFormat::WebP
        && image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).is_ok_and(|d| d.is_animated())
    {
        return Err("an animated WebP is drawn as a clip: give it a video layer (\"type\": \"video\"), \
                    which plays and loops it"
            .into());
    }
    let reader = || ::image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader().into_dimensions().map_err(|e| format!("corrupt image: {e}"))?;
    if w == 0 || h == 0 {
        return Err("the image is empty (0 pixels)".into());
    }
    if w > limits.max_side || h > limits.max_side || w as u64 * h as u64 > limits.max_pixels {
        return Err(format!(
            "the image claims {w}x{h} pixels; at most {} per side and {} pixels are decoded",
            limits.max_side, limits.max_pixels
        ));
    }
    let mut reader = reader();
    let mut l = ::image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 8);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(|e| format!("corrupt image: {e}"))?;
    let orientation = decoder.orientation().unwrap_or(::image::metadata::Orientation::NoTransforms);
    let mut img = ::image::DynamicImage::from_decoder(decoder).map_err(|e| format!("corrupt image: {e}"))?;
    img.apply_orientation(orientation);
    Ok(img)
}

pub(crate) fn premultiply(data: &mut [u8]) {
    for px in data.chunks_exact_mut(4) {
        let a = px[3] as u16;
        if a != 255 {
            for c in &mut px[..3] {
                *c = ((*c as u16 * a + 127) / 255) as u8;
            }
        }
    }
}

/// Resizes a premultiplied pixmap with Lanczos3 (SIMD, fast_image_resize). Premultiplied
/// input is exactly what a correct resampler needs: no dark fringes at transparent edges.
pub fn resize_premultiplied(src: &Pixmap, w: u32, h: u32) -> Pixmap {
    use fast_image_resize as fr;
    let w = w.max(1);
    let h = h.max(1);
    let Some(mut dst) = Pixmap::new(w, h) else {
        return src.clone();
    };
    let src_img = match fr::images::ImageRef::new(src.width(), src.height(), src.data(), fr::PixelType::U8x4) {
        Ok(i) => i,
        Err(_) => return src.clone(),
    };
    let mut dst_img = match fr::images::Image::from_slice_u8(w, h, dst.data_mut(), fr::PixelType::U8x4) {
        Ok(i) => i,
        Err(_) => return src.clone(),
    };
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3)).use_alpha(false);
    let mut resizer = fr::Resizer::new();
    if resizer.resize(&src_img, &mut dst_img, &opts).is_err() {
        return src.clone();
    }
    // Lanczos rings: keep every channel at or below alpha, as premultiplied data must be.
    for px in dst.data_mut().chunks_exact_mut(4) {
        let a = px[3];
        for c in &mut px[..3] {
            *c = (*c).min(a);
        }
    }
    dst
}

/// Resizes RGB rows (`sw * 3` bytes each) to `w` x `h` with the same Lanczos3 as
/// [`resize_premultiplied`]: for an opaque image the same bytes as its RGBA resize, without
/// the alpha channel; `src` itself when it already has that size. `None` if the sizes do
/// not match the data.
///
/// The library's two passes run as two calls, the vertical one first as the library itself
/// orders them for 8-bit pixels: each column's vertical filter and each row's horizontal
/// filter are the same as in one call, so the bytes are too. An owned `src` is let go
/// between them: a W1 photo's reload held its decoded RGB, the library's intermediate
/// image and the result at once (about 30 MB); now two of the three at most (about 20 MB).
pub fn resize_rgb(src: Cow<'_, [u8]>, sw: u32, sh: u32, w: u32, h: u32) -> Option<Cow<'_, [u8]>> {
    use fast_image_resize as fr;
    let (w, h) = (w.max(1), h.max(1));
    if (sw, sh) == (w, h) {
        return (src.len() == w as usize * h as usize * 3).then_some(src);
    }
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    let pass = |src: &[u8], (sw, sh): (u32, u32), (w, h): (u32, u32)| -> Option<Vec<u8>> {
        let src_img = fr::images::ImageRef::new(sw, sh, src, fr::PixelType::U8x3).ok()?;
        let mut dst = vec![0u8; w as usize * h as usize * 3];
        let mut dst_img = fr::images::Image::from_slice_u8(w, h, &mut dst, fr::PixelType::U8x3).ok()?;
        fr::Resizer::new().resize(&src_img, &mut dst_img, &opts).ok()?;
        Some(dst)
    };
    if sh == h || sw == w {
        return pass(&src, (sw, sh), (w, h)).map(Cow::Owned);
    }
    let tall = pass(&src, (sw, sh), (sw, h))?;
    drop(src);
    pass(&tall, (sw, h), (w, h)).map(Cow::Owned)
}

/// Rows `y0..y1` of [`resize_rgb`]`(src, sw, sh, w, h)`, resized alone (filter windows are
/// clamped to the image, not to the part read, as for the strips of [`crate::raster`]'s
/// resizes), so an image can be resized and used a strip at a time. The same bytes up to
/// rounding: the resizer places the strip's filters from its crop in floating point, which
/// moved 0.1 % of the samples of a 700x600 image enlarged to 980x841 by 1 or 2 levels (none
/// shrunk, in `plan`'s tests).
/// `None` if the sizes do not match the data or the rows are not in the image.
pub(crate) fn resize_rgb_rows(
    src: &[u8],
    sw: u32,
    sh: u32,
    (w, h): (u32, u32),
    (y0, y1): (u32, u32),
) -> Option<Vec<u8>> {
    use fast_image_resize as fr;
    if y0 >= y1 || y1 > h || w == 0 {
        return None;
    }
    let src_img = fr::images::ImageRef::new(sw, sh, src, fr::PixelType::U8x3).ok()?;
    let mut dst = vec![0u8; w as usize * (y1 - y0) as usize * 3];
    let mut dst_img = fr::images::Image::from_slice_u8(w, y1 - y0, &mut dst, fr::PixelType::U8x3).ok()?;
    let sy = sh as f64 / h as f64;
    let top = y0 as f64 * sy;
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3)).crop(
        0.0,
        top,
        sw as f64,
        ((y1 - y0) as f64 * sy).min(sh as f64 - top),
    );
    fr::Resizer::new().resize(&src_img, &mut dst_img, &opts).ok()?;
    Some(dst)
}

/// Gives the memory of `buf[..end]` back to the system, for a buffer read front to back
/// whose front is never read again: the whole pages from where the last call stopped
/// (`given_back`, a byte offset kept by the caller, 0 at first) up to `end`. Those bytes
/// read as zero afterwards. A decoded image resized and converted a strip of rows at a
/// time ([`crate::plan::ImageSource`]) gives back the rows behind the strips, so the planes
/// they fill take the place of the image instead of adding to it. Linux only (a no-op
/// elsewhere): `madvise(MADV_DONTNEED)` on the pages of the buffer.
pub(crate) fn give_back(buf: &mut [u8], given_back: &mut usize, end: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a plain query.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => return,
        };
        let base = buf.as_mut_ptr() as usize;
        let end = end.min(buf.len());
        let from = (base + *given_back).next_multiple_of(page);
        let to = (base + end) / page * page;
        if to > from {
            // SAFETY: [from, to) is whole pages inside `buf`, a private anonymous allocation
            // of the heap (the allocator's own records lie outside it); `buf` is borrowed
            // mutably, so nothing reads those bytes as they become zeros. Failure (not
            // expected for this range) leaves the bytes as they were.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
            }
            *given_back = to - base;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (buf, given_back, end);
}

/// Decoded images shared between plans, for a caller that plans many compositions naming
/// the same files (a batch rendering one template per row). An image is found again by its
/// file's path, length and modification time, so a changed file is decoded anew. At most
/// `max_bytes` of pixels and file bytes are held; the oldest entries go first.
///
/// ```
/// let cache = reel::ImageCache::new(512 << 20);
/// let mut opts = reel::PlanOptions::new("fixtures/demo");
/// opts.image_cache = Some(cache.clone()); // share `opts` (or the cache) across plans
/// ```
#[derive(Debug)]
pub struct ImageCache {
    max_bytes: u64,
    inner: std::sync::Mutex<CacheInner>,
}

/// What a cache entry is found by: the file, its length and modification time.
type CacheKey = (std::path::PathBuf, u64, Option<std::time::SystemTime>);
/// A decoded image and the file bytes it came from.
type CacheValue = (std::sync::Arc<Original>, std::sync::Arc<[u8]>);

#[derive(Debug, Default)]
struct CacheInner {
    held: u64,
    entries: std::collections::HashMap<CacheKey, (CacheValue, u64)>,
    order: std::collections::VecDeque<CacheKey>,
}

impl ImageCache {
    /// An empty cache holding at most `max_bytes`.
    pub fn new(max_bytes: u64) -> std::sync::Arc<ImageCache> {
        std::sync::Arc::new(ImageCache { max_bytes, inner: Default::default() })
    }

    fn key(path: &Path) -> Option<CacheKey> {
        let meta = std::fs::metadata(path).ok()?;
        Some((path.to_path_buf(), meta.len(), meta.modified().ok()))
    }

    /// The decoded image of `path`, if this cache holds the file as it is now.
    pub(crate) fn get(&self, path: &Path) -> Option<CacheValue> {
        let key = Self::key(path)?;
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(&key).map(|(v, _)| v.clone())
    }

    /// Keeps `value` for `path`, dropping the oldest entries to stay within the limit;
    /// whether it is kept (not when larger than the whole cache).
    pub(crate) fn put(&self, path: &Path, value: CacheValue) -> bool {
        let Some(key) = Self::key(path) else { return false };
        let pixels = match value.0.as_ref() {
            Original::Rgb { data, .. } => data.len() as u64,
            Original::Rgba(p) => p.data().len() as u64,
            // The parsed tree: about what its text takes.
            Original::Svg(_) => 2 * value.1.len() as u64,
        };
        let size = pixels + value.1.len() as u64;
        if size > self.max_bytes {
            return false;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.entries.contains_key(&key) {
            return true;
        }
        while inner.held + size > self.max_bytes {
            let Some(old) = inner.order.pop_front() else { break };
            if let Some((_, s)) = inner.entries.remove(&old) {
                inner.held -= s;
            }
        }
        inner.held += size;
        inner.order.push_back(key.clone());
        inner.entries.insert(key, (value, size));
        true
    }
}

#[cfg(test)]
mod budget_tests {
    #[test]
    fn a_16_bit_png_counts_what_its_decoder_holds() {
        let dir = tempfile::tempdir().expect("tmp");
        let eight = dir.path().join("8.png");
        let sixteen = dir.path().join("16.png");
        ::image::RgbaImage::new(10, 5).save(&eight).expect("save");
        ::image::ImageBuffer::<::image::Rgba<u16>, Vec<u16>>::new(10, 5).save(&sixteen).expect("save");
        assert_eq!(super::decoded_bytes(&eight), Some(50 * 4));
        assert_eq!(super::decoded_bytes(&sixteen), Some(50 * (4 + 8)));
    }
}

#[cfg(test)]
mod tests {
    use super::{give_back, ImageFile, ImageLimits};

    /// No more than [`super::MAX_OPEN_IMAGE_FILES`] image files are held open in a process:
    /// past them, a file is opened by name for each read, and reads the same.
    #[test]
    fn image_files_held_open_are_bounded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let n = super::MAX_OPEN_IMAGE_FILES + 20;
        let files: Vec<ImageFile> = (0..n)
            .map(|i| {
                let path = dir.path().join(format!("{i}.png"));
                std::fs::write(&path, format!("bytes of {i}")).expect("write");
                ImageFile::open(&path, ImageLimits::default()).expect("opens").0
            })
            .collect();
        let open = files.iter().filter(|f| f.file.is_some()).count();
        assert!(open <= super::MAX_OPEN_IMAGE_FILES && open < n, "{open} of {n} held open");
        for (i, f) in files.iter().enumerate() {
            assert_eq!(f.read().expect("reads"), format!("bytes of {i}").as_bytes());
        }
    }

    /// An image file is read again as planning read it, held open or opened again by name:
    /// held open, it is still read after its name is removed; opened by name, that is an
    /// error; either way a file rewritten in place (same length or not) is an error.
    #[test]
    fn an_image_file_reads_again_as_planned_or_says_it_changed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.png");
        for keep_open in [true, false] {
            std::fs::write(&path, b"first bytes").expect("write");
            let (file, bytes) = ImageFile::open_as(&path, ImageLimits::default(), keep_open).expect("opens");
            assert_eq!(bytes, b"first bytes");
            assert_eq!(file.read().expect("reads"), b"first bytes");
            // Same length, other bytes; then longer.
            for other in [&b"other bytes"[..], b"longer bytes than that"] {
                std::fs::write(&path, b"first bytes").expect("write");
                let (file, _) = ImageFile::open_as(&path, ImageLimits::default(), keep_open).expect("opens");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, other))
                    .expect("rewrite in place");
                let why = file.read().expect_err("changed in place");
                assert!(why.contains("changed after planning"), "{why}");
            }
            std::fs::write(&path, b"first bytes").expect("write");
            let (file, _) = ImageFile::open_as(&path, ImageLimits::default(), keep_open).expect("opens");
            std::fs::remove_file(&path).expect("remove");
            match (keep_open, file.read()) {
                (true, Ok(b)) => assert_eq!(b, b"first bytes"),
                (false, Err(why)) => assert!(why.contains("changed after planning"), "{why}"),
                (keep, got) => panic!("held open: {keep}, read after removal: {got:?}"),
            }
        }
    }

    /// The whole pages below the end asked for read as zeros afterwards (their memory went
    /// back), the bytes from the first partly covered page on are kept, and a second call
    /// goes on from where the first stopped.
    #[test]
    #[cfg(target_os = "linux")]
    fn given_back_pages_read_as_zeros_and_the_rest_is_kept() {
        // SAFETY: a plain query.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let mut buf = vec![7u8; 64 * page];
        let base = buf.as_ptr() as usize;
        let zeros_below = |buf: &[u8], end: usize| {
            let cut = (base + end) / page * page - base;
            let first = (page - base % page) % page; // the first whole page
            (buf[first.min(cut)..cut].iter().all(|&b| b == 0), buf[cut..].iter().all(|&b| b == 7))
        };
        let mut given = 0;
        let end = 10 * page + page / 2;
        give_back(&mut buf, &mut given, end);
        assert_eq!(zeros_below(&buf, end), (true, true));
        assert!(buf[..end].iter().filter(|&&b| b == 0).count() >= 9 * page, "nine pages at least went back");
        let end = 40 * page + 3;
        give_back(&mut buf, &mut given, end);
        assert_eq!(zeros_below(&buf, end), (true, true));
        assert!(buf[..end].iter().filter(|&&b| b == 0).count() >= 39 * page, "and up to the new end");
        give_back(&mut buf, &mut given, 0);
        assert!(buf[40 * page + page..].iter().all(|&b| b == 7), "an earlier end gives nothing back");
    }
}
