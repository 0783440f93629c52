//! Image decoding into premultiplied pixmaps, with limits against decompression bombs.

use std::path::Path;
use tiny_skia::{IntSize, Pixmap};

/// Limits applied while decoding an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let reader = ::image::ImageReader::open(path).map_err(|e| e.to_string())?;
    let reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    reader.into_dimensions().map_err(|e| format!("corrupt image: {e}"))
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

/// Decodes a PNG, JPEG or WebP image held in memory (the format is read from the content,
/// never from a name: a mislabelled file still decodes, and a file that is no image says so).
/// The result is premultiplied, with the EXIF orientation applied.
pub fn decode_image_bytes(bytes: &[u8], limits: ImageLimits) -> Result<DecodedImage, String> {
    let rgba = decode_dynamic(bytes, limits)?.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut data = rgba.into_raw();
    premultiply(&mut data);
    let size = IntSize::from_wh(w, h).ok_or("the image is empty")?;
    Pixmap::from_vec(data, size).ok_or_else(|| "the image is too large".into())
}

/// Like [`decode_image_bytes`], as RGB rows of `width * 3` bytes (alpha dropped): for
/// images known to be opaque, a quarter fewer bytes to hold and resize, and no RGBA copy
/// of a JPEG's RGB. Returns the pixels, width and height.
pub fn decode_image_rgb(bytes: &[u8], limits: ImageLimits) -> Result<(Vec<u8>, u32, u32), String> {
    let rgb = decode_dynamic(bytes, limits)?.into_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((rgb.into_raw(), w, h))
}

/// Checks the header against `limits`, then decodes with the EXIF orientation applied.
fn decode_dynamic(bytes: &[u8], limits: ImageLimits) -> Result<::image::DynamicImage, String> {
    use ::image::ImageDecoder;
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let format = match ::image::guess_format(&bytes[..bytes.len().min(64)]) {
        Ok(f @ (::image::ImageFormat::Png | ::image::ImageFormat::Jpeg | ::image::ImageFormat::WebP)) => f,
        Ok(f) => return Err(format!("{f:?} images are not supported (PNG, JPEG or WebP)")),
        Err(_) => return Err("not a PNG, JPEG or WebP image".into()),
    };
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

fn premultiply(data: &mut [u8]) {
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
/// the alpha channel. `None` if the sizes do not match the data.
pub fn resize_rgb(src: &[u8], sw: u32, sh: u32, w: u32, h: u32) -> Option<Vec<u8>> {
    use fast_image_resize as fr;
    let (w, h) = (w.max(1), h.max(1));
    let src_img = fr::images::ImageRef::new(sw, sh, src, fr::PixelType::U8x3).ok()?;
    let mut dst = vec![0u8; w as usize * h as usize * 3];
    let mut dst_img = fr::images::Image::from_slice_u8(w, h, &mut dst, fr::PixelType::U8x3).ok()?;
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new().resize(&src_img, &mut dst_img, &opts).ok()?;
    Some(dst)
}
