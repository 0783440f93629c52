//! Pixel buffers and the small helpers every stage shares: the bottom of the crate, which
//! names nothing above it.
//!
//! - [`Yuv420`]: a planar Y'CbCr 4:2:0 frame and the BT.709 conversion into it (`yuv.rs`),
//!   what the compositor draws into and the encoder takes.
//! - RGBA pixmaps are tiny-skia's [`Pixmap`]; [`pixmap_or_tiny`] makes one that cannot fail.
//! - [`rounded_rect`]: the path of a plate, a box or a rounded image.
//! - `blit.rs`: source-over and cross-fades of premultiplied RGBA and of planes.
//! - `planes.rs`: halving and copying whole planes.

pub(crate) mod blit;
pub(crate) mod planes;
pub(crate) mod yuv;

pub use yuv::Yuv420;

use tiny_skia::{PathBuilder, Pixmap, Rect};

/// A transparent pixmap of `width` x `height`, or 1x1 when that size cannot be allocated
/// (zero or beyond tiny-skia's limits). Planning keeps real sizes far inside the limits.
pub(crate) fn pixmap_or_tiny(width: u32, height: u32) -> Pixmap {
    Pixmap::new(width.max(1), height.max(1)).unwrap_or_else(tiny)
}

#[allow(clippy::expect_used)] // 1x1 is always a valid pixmap size: this cannot fail
fn tiny() -> Pixmap {
    Pixmap::new(1, 1).expect("a 1x1 pixmap")
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

/// Copies the rectangle `(x0, y0, x1, y1)` of `src` into `dst`: two images of `size`
/// (width, height) samples of `bytes` bytes each, row after row. The rectangle is clipped
/// to the images; rows either slice lacks are skipped.
pub(crate) fn copy_rect(src: &[u8], dst: &mut [u8], size: (usize, usize), bytes: usize, rect: (usize, usize, usize, usize)) {
    let (width, height) = size;
    let (x0, y0, x1, y1) = rect;
    let (x0, x1) = (x0.min(width), x1.min(width));
    if x0 >= x1 {
        return;
    }
    let row = width * bytes;
    for y in y0.min(height)..y1.min(height) {
        let span = y * row + x0 * bytes..y * row + x1 * bytes;
        if let (Some(d), Some(s)) = (dst.get_mut(span.clone()), src.get(span)) {
            d.copy_from_slice(s);
        }
    }
}
