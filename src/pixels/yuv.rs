//! RGBA -> Y'CbCr 4:2:0, BT.709 matrix, limited ("TV") range, in integer arithmetic.
//!
//! We convert ourselves instead of through swscale: the matrix is then certainly BT.709
//! (swscale defaults to BT.601, `PITFALLS.md`), and the conversion runs on the frame
//! workers in parallel instead of on the encoder thread.

/// A planar 4:2:0 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yuv420 {
    /// Luma width (even).
    pub width: u32,
    /// Luma height (even).
    pub height: u32,
    /// `width * height` luma samples.
    pub y: Vec<u8>,
    /// `width/2 * height/2` Cb samples.
    pub u: Vec<u8>,
    /// `width/2 * height/2` Cr samples.
    pub v: Vec<u8>,
}

// BT.709: Kr = 0.2126, Kb = 0.0722. Limited range: Y' in 16..=235, C in 16..=240.
// Coefficients scaled by 2^16 and rounded.
pub(crate) const YR: i32 = 11966; // 0.182586 = 219/255 * 0.2126
pub(crate) const YG: i32 = 40254; // 0.614231 = 219/255 * 0.7152
pub(crate) const YB: i32 = 4064; // 0.062007 = 219/255 * 0.0722
pub(crate) const UR: i32 = -6596; // -0.100644
pub(crate) const UG: i32 = -22189; // -0.338572
pub(crate) const UB: i32 = 28784; // 0.439216 = 224/255 * 0.5
pub(crate) const VR: i32 = 28784; // 0.439216
pub(crate) const VG: i32 = -26145; // -0.398942
pub(crate) const VB: i32 = -2639; // -0.040274

/// The signature of the `yuv` crate's packed RGB(A) to 4:2:0 conversions.
type PackedKernel = fn(
    &mut yuv::YuvPlanarImageMut<u8>,
    &[u8],
    u32,
    yuv::YuvRange,
    yuv::YuvStandardMatrix,
    yuv::YuvConversionMode,
) -> Result<(), yuv::YuvError>;

impl Yuv420 {
    /// An empty (black) frame.
    pub fn new(width: u32, height: u32) -> Yuv420 {
        let (w, h) = (width as usize, height as usize);
        Yuv420 { width, height, y: vec![16; w * h], u: vec![128; w * h / 4], v: vec![128; w * h / 4] }
    }

    /// Planes of `width` x `height` for a caller that writes every sample before any is
    /// read: zeroed, so the system brings their pages into memory as they are written (a
    /// strip at a time, for planes filled in strips) instead of all at once.
    pub(crate) fn unfilled(width: u32, height: u32) -> Yuv420 {
        let (w, h) = (width as usize, height as usize);
        Yuv420 { width, height, y: vec![0; w * h], u: vec![0; w * h / 4], v: vec![0; w * h / 4] }
    }

    /// [`Yuv420::fill_from_rgba`] from RGB rows of `width * 3` bytes (an opaque image
    /// decoded without alpha): the same conversion, the same bytes.
    pub fn fill_from_rgb(&mut self, rgb: &[u8]) {
        if self.convert_with(rgb, 3, yuv::rgb_to_yuv420).is_err() {
            let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
            self.fill_from_rgba_scalar(&rgba);
        }
    }

    /// [`Yuv420::fill_from_rgb`] of the rows from `y0` on, given as `rgb` (an even number of
    /// whole rows; `y0` even): the same bytes as converting the whole frame, since each
    /// 2x2 block is converted on its own. False if the rows do not fit.
    pub(crate) fn fill_rows_from_rgb(&mut self, y0: u32, rgb: &[u8]) -> bool {
        let (w, row) = (self.width as usize, self.width as usize * 3);
        let rows = rgb.len().checked_div(row).unwrap_or(0);
        let (y0, end) = (y0 as usize, y0 as usize + rows);
        if rows == 0 || !rgb.len().is_multiple_of(row) || !rows.is_multiple_of(2) || !y0.is_multiple_of(2) || end > self.height as usize {
            return false;
        }
        let (l, c) = (y0 * w..end * w, y0 / 2 * (w / 2)..end / 2 * (w / 2));
        let planes = [&mut self.y[l.clone()], &mut self.u[c.clone()], &mut self.v[c.clone()]];
        if convert_rows(planes, (self.width, rows as u32), rgb, 3, yuv::rgb_to_yuv420).is_err() {
            let mut strip = Yuv420::new(self.width, rows as u32);
            let rgba: Vec<u8> = rgb.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
            strip.fill_from_rgba_scalar(&rgba);
            self.y[l].copy_from_slice(&strip.y);
            self.u[c.clone()].copy_from_slice(&strip.u);
            self.v[c].copy_from_slice(&strip.v);
        }
        true
    }

    /// Converts opaque RGBA rows (`width * 4` bytes each) into this frame's planes.
    /// Chroma is the average of each 2x2 block (MPEG-2/H.264 default siting is close enough
    /// at this resolution; the error is below one code value on flat areas).
    ///
    /// Through the `yuv` crate's AVX2/SSE/NEON kernels (same matrix, range and 2x2 averaging
    /// as [`Yuv420::fill_from_rgba_scalar`], within one code value; about 4x faster at 1080p,
    /// see `benches/README.md`); the scalar version stands in if the crate refuses.
    pub fn fill_from_rgba(&mut self, rgba: &[u8]) {
        if self.convert_with(rgba, 4, yuv::rgba_to_yuv420).is_err() {
            self.fill_from_rgba_scalar(rgba);
        }
    }

    /// Runs one of the `yuv` crate's packed-to-4:2:0 kernels (BT.709, limited range) from
    /// rows of `width * bpp` bytes into these planes.
    fn convert_with(&mut self, packed: &[u8], bpp: u32, kernel: PackedKernel) -> Result<(), yuv::YuvError> {
        let size = (self.width, self.height);
        convert_rows([&mut self.y, &mut self.u, &mut self.v], size, packed, bpp, kernel)
    }

    /// The reference conversion in plain integer Rust, 16-bit fixed point.
    pub fn fill_from_rgba_scalar(&mut self, rgba: &[u8]) {
        let (w, h) = (self.width as usize, self.height as usize);
        debug_assert_eq!(rgba.len(), w * h * 4);
        let cw = w / 2;
        for cy in 0..h / 2 {
            let r0 = &rgba[(2 * cy) * w * 4..(2 * cy + 1) * w * 4];
            let r1 = &rgba[(2 * cy + 1) * w * 4..(2 * cy + 2) * w * 4];
            let (y_top, y_rest) = self.y[(2 * cy) * w..(2 * cy + 2) * w].split_at_mut(w);
            let u_row = &mut self.u[cy * cw..(cy + 1) * cw];
            let v_row = &mut self.v[cy * cw..(cy + 1) * cw];
            for cx in 0..cw {
                let mut rs = 0;
                let mut gs = 0;
                let mut bs = 0;
                for (row, yrow) in [(r0, &mut *y_top), (r1, &mut *y_rest)] {
                    for dx in 0..2 {
                        let x = 2 * cx + dx;
                        let p = &row[x * 4..x * 4 + 4];
                        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
                        yrow[x] = ((YR * r + YG * g + YB * b + (16 << 16) + (1 << 15)) >> 16) as u8;
                        rs += r;
                        gs += g;
                        bs += b;
                    }
                }
                // Sums of four: divide by 4 inside the fixed-point shift.
                u_row[cx] = ((UR * rs + UG * gs + UB * bs + (128 << 18) + (1 << 17)) >> 18).clamp(0, 255) as u8;
                v_row[cx] = ((VR * rs + VG * gs + VB * bs + (128 << 18) + (1 << 17)) >> 18).clamp(0, 255) as u8;
            }
        }
    }
}

/// Runs one of the `yuv` crate's packed-to-4:2:0 kernels (BT.709, limited range) from rows
/// of `width * bpp` bytes into the planes `[y, u, v]` of a `width` x `height` picture.
fn convert_rows(
    [y, u, v]: [&mut [u8]; 3],
    (w, h): (u32, u32),
    packed: &[u8],
    bpp: u32,
    kernel: PackedKernel,
) -> Result<(), yuv::YuvError> {
    let mut img = yuv::YuvPlanarImageMut {
        y_plane: yuv::BufferStoreMut::Borrowed(y),
        y_stride: w,
        u_plane: yuv::BufferStoreMut::Borrowed(u),
        u_stride: w / 2,
        v_plane: yuv::BufferStoreMut::Borrowed(v),
        v_stride: w / 2,
        width: w,
        height: h,
    };
    kernel(
        &mut img,
        packed,
        w * bpp,
        yuv::YuvRange::Limited,
        yuv::YuvStandardMatrix::Bt709,
        yuv::YuvConversionMode::Professional,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_colors() {
        let mut f = Yuv420::new(2, 2);
        for (rgb, yuv) in [
            ([255u8, 255, 255], [235u8, 128, 128]),
            ([0, 0, 0], [16, 128, 128]),
            ([255, 0, 0], [63, 102, 240]),
            ([0, 255, 0], [173, 42, 26]),
            ([0, 0, 255], [32, 240, 118]),
        ] {
            let px: Vec<u8> = (0..4).flat_map(|_| [rgb[0], rgb[1], rgb[2], 255]).collect();
            f.fill_from_rgba_scalar(&px);
            assert_eq!([f.y[0], f.u[0], f.v[0]], yuv, "{rgb:?}");
            f.fill_from_rgba(&px);
            assert_eq!([f.y[0], f.u[0], f.v[0]], yuv, "SIMD {rgb:?}");
        }
    }

    /// The SIMD conversion agrees with the scalar reference within one code value on every
    /// sample of a frame of pseudo-random pixels (odd sizes exercise the kernels' tails).
    #[test]
    fn simd_matches_scalar() {
        for (w, h) in [(1920u32, 1080u32), (98, 34), (2, 2)] {
            let mut seed = 0x2545_f491_u32;
            let px: Vec<u8> = (0..w * h * 4)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    if i % 4 == 3 {
                        255
                    } else {
                        (seed >> 24) as u8
                    }
                })
                .collect();
            let (mut a, mut b) = (Yuv420::new(w, h), Yuv420::new(w, h));
            a.fill_from_rgba(&px);
            b.fill_from_rgba_scalar(&px);
            for (name, x, y) in [("y", &a.y, &b.y), ("u", &a.u, &b.u), ("v", &a.v, &b.v)] {
                let worst = x.iter().zip(y).map(|(p, q)| p.abs_diff(*q)).max().unwrap_or(0);
                assert!(worst <= 1, "{w}x{h} {name}: off by {worst}");
            }
        }
    }
}
