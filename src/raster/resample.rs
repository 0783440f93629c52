//! The per-frame resize of a photo's 8-bit planes (Ken Burns in the planar path, and the
//! web and preview copies of a planar frame).
//!
//! It computes exactly what the two fast_image_resize passes it replaced computed (a
//! vertical pass on one channel, then a horizontal pass on rows packed four to a pixel,
//! each rounding to 8 bits, with the library's filter weights and fixed-point scaling: see
//! [`Taps`]), but fused, a group of four output rows at a time: the vertical pass of four
//! rows is interleaved in registers into one packed row, the horizontal pass runs on that
//! row, and its results are split into the four output rows in registers as they are
//! stored. Every buffer stays in the first-level cache; weights are computed once per
//! resize (once per frame for the Cb and Cr planes together), the vertical weight vectors
//! once per four rows. The library's version went through three plane-sized buffers per
//! strip (the packing and unpacking alone were 2.6 % of W1's CPU, bound by memory), and
//! computed its weights and allocated its buffers on every call (another 1-2 %).
//!
//! `tests::matches_the_two_library_passes` checks the result byte for byte against the
//! library on Ken Burns crops, whole-plane shrinks and enlargements.

use std::cell::RefCell;

/// Output rows per group whose vertical weights are computed together, and the rows of
/// each library call inside those groups: the rows, offsets and fixed-point precision the
/// library used come out of these, so they stay as they were (544-row strips, each resized
/// by `fill::resize_crop` in calls of 136 rows).
const GROUP_ROWS: u32 = 544;
const CALL_ROWS: u32 = 136;

// The library's 8-bit convolution: weights are i16 scaled by 2^precision, where precision
// is the largest below 22 that keeps twice the largest weight under 2^15.
const PRECISION_BITS: u8 = 32 - 8 - 2;
const MAX_COEFFS_PRECISION: u8 = 16 - 1;

/// The filter of one pass: output `i` is the sum over `len[i]` source samples from
/// `start[i]` times the weights `k[i * window..]` (zero beyond `len[i]`), plus half of
/// 2^`precision`, shifted right by `precision` and clamped to 0..=255.
#[derive(Debug, Default)]
pub(crate) struct Taps {
    start: Vec<u32>,
    len: Vec<u32>,
    k: Vec<i16>,
    window: usize,
    precision: u8,
    /// The largest of `start`.
    max_start: u32,
    /// The largest of `len`.
    max_len: u32,
}

impl Taps {
    /// The weights of fast_image_resize's `Convolution(Bilinear)` for `out_size` samples
    /// from `in0..in1` of a line of `in_size` samples: `precompute_coefficients` with an
    /// adaptive kernel and `Normalizer16`, step by step. None when the library would have
    /// refused the crop.
    fn bilinear(in_size: u32, in0: f64, in1: f64, out_size: u32) -> Option<Taps> {
        // fast_image_resize's crop checks (a negative start is allowed: windows clamp at 0).
        if in1 < in0 || in0 >= in_size as f64 || in1 > in_size as f64 || out_size == 0 {
            return None;
        }
        let scale = (in1 - in0) / out_size as f64;
        if scale <= 0.0 {
            return None;
        }
        let filter_scale = scale.max(1.0);
        let radius = filter_scale;
        let window = radius.ceil() as usize * 2 + 1;
        let recip = 1.0 / filter_scale;
        let filter = |x: f64| {
            let x = x.abs();
            if x < 1.0 {
                1.0 - x
            } else {
                0.0
            }
        };
        let mut values: Vec<f64> = Vec::with_capacity(window * out_size as usize);
        let (mut start, mut len) = (Vec::with_capacity(out_size as usize), Vec::with_capacity(out_size as usize));
        for out_x in 0..out_size {
            let in_center = in0 + (out_x as f64 + 0.5) * scale;
            let x_min = (in_center - radius).floor().max(0.0) as u32;
            let x_max = (in_center + radius).ceil().min(in_size as f64) as u32;
            let cur = values.len();
            let mut ww = 0.0;
            let center = in_center - 0.5;
            let (mut b0, mut b1) = (x_min, x_max);
            for x in x_min..x_max {
                let w = filter((x as f64 - center) * recip);
                if x == b0 && w == 0.0 {
                    b0 += 1;
                } else {
                    values.push(w);
                    ww += w;
                }
            }
            for &c in values.iter().rev() {
                if b1 <= b0 || c != 0.0 {
                    break;
                }
                b1 -= 1;
            }
            if ww != 0.0 {
                values[cur..].iter_mut().for_each(|w| *w /= ww);
            }
            values.resize(cur + window, 0.0);
            start.push(b0);
            len.push(b1.saturating_sub(b0));
        }
        let max_weight = values.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(0.0);
        let mut precision = 0u8;
        for p in 0..PRECISION_BITS {
            precision = p;
            if (max_weight * (1 << (p + 1)) as f64).round() as i32 >= 1 << MAX_COEFFS_PRECISION {
                break;
            }
        }
        let scale = (1 << precision) as f64;
        let mut k = vec![0i16; values.len()];
        for (i, (chunk, out)) in values.chunks_exact(window).zip(k.chunks_exact_mut(window)).enumerate() {
            for j in 0..len[i] as usize {
                out[j] = (chunk[j] * scale).round() as i16;
            }
        }
        let max_start = start.iter().copied().max().unwrap_or(0);
        let max_len = len.iter().copied().max().unwrap_or(0);
        Some(Taps { start, len, k, window, precision, max_start, max_len })
    }

    /// Weight pairs per output in [`Taps::pair_vectors`]: the window in whole groups of four.
    fn pairs(&self) -> usize {
        self.window.div_ceil(4) * 2
    }

    fn weights(&self, i: usize) -> &[i16] {
        &self.k[i * self.window..i * self.window + self.len[i] as usize]
    }

    /// Weight pairs `(k[j], k[j + 1])` as the AVX2 pass multiplies them, for whole blocks
    /// of eight outputs `b..b + 8`: for `m` in 0..4, for each even `j` below the window,
    /// four copies of output `b + m`'s pair, then four of output `b + 4 + m`'s, into `out`.
    fn pair_vectors(&self, out: &mut Vec<[i32; 8]>) {
        let pairs = self.pairs();
        out.clear();
        let pair = |i: usize, j: usize| {
            let w = &self.k[i * self.window..(i + 1) * self.window];
            let (a, b) = (w.get(j).copied().unwrap_or(0), w.get(j + 1).copied().unwrap_or(0));
            (a as u16 as i32) | ((b as i32) << 16)
        };
        for b in (0..self.start.len() / 8).map(|b| 8 * b) {
            for m in 0..4 {
                for jj in 0..pairs {
                    let (p, q) = (pair(b + m, 2 * jj), pair(b + 4 + m, 2 * jj));
                    out.push([p, p, p, p, q, q, q, q]);
                }
            }
        }
    }
}

/// Per-thread buffers: the packed row of a group of four (with zeros after it for the
/// horizontal window), four output rows for a group's last, partial quad, the horizontal
/// weights as AVX2 vectors, and the weights of the last resize.
#[derive(Default)]
struct Buffers {
    packed: Vec<u32>,
    spare: Vec<u8>,
    pairs: Vec<[i32; 8]>,
    /// The weights of the last resize, for the next one with the same sizes and crop (a
    /// frame's Cr plane after its Cb plane): the key, the horizontal taps and the
    /// vertical ones call by call.
    memo: Option<([u64; 8], Taps, Vec<Taps>)>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Resizes the part `crop` (`left, top, width, height` in source samples) of the 8-bit
/// plane `src` (`size`) into all of `dst` (`dst_size`); false if the crop leaves the plane
/// or a size is zero (the caller then draws the frame another way).
pub(crate) fn resize_plane(
    src: &[u8],
    size: (u32, u32),
    dst: &mut [u8],
    dst_size: (u32, u32),
    crop: (f64, f64, f64, f64),
) -> bool {
    let (sw, sh) = size;
    let (dw, dh) = dst_size;
    let (left, top, cw, ch) = crop;
    if dst.len() < dw as usize * dh as usize || src.len() < sw as usize * sh as usize || dw == 0 || dh == 0 {
        return false;
    }
    if !(cw > 0.0 && ch > 0.0 && left.is_finite() && top.is_finite()) {
        return false;
    }
    // Source columns the horizontal filter can reach, clamped to the plane: the columns
    // the vertical pass computes.
    let reach = (cw / dw as f64).max(1.0) * 2.0 + 2.0;
    let x0 = (left - reach).floor().max(0.0) as u32;
    let x1 = ((left + cw + reach).ceil() as u32).min(sw);
    if x1 <= x0 {
        return false;
    }
    let tw = x1 - x0;
    let (t, d) = (tw as usize, dw as usize);
    let sy = ch / dh as f64;
    let avx2 = has_avx2();
    let key = [sw as u64, sh as u64, dw as u64, dh as u64, left.to_bits(), top.to_bits(), cw.to_bits(), ch.to_bits()];
    BUFFERS.with(|cell| {
        let mut b = cell.borrow_mut();
        let Buffers { packed, spare, pairs, memo } = &mut *b;
        let same = memo.as_ref().is_some_and(|m| m.0 == key);
        if !same {
            let Some(horiz) = Taps::bilinear(tw, left - x0 as f64, left - x0 as f64 + cw, dw) else { return false };
            if avx2 {
                horiz.pair_vectors(pairs);
            }
            *memo = Some((key, horiz, Vec::new()));
        }
        let Some((_, horiz, verts)) = memo.as_mut() else { return false };
        let horiz = &*horiz;
        let mut call = 0;
        // The packed row, then zeros the horizontal window may read past its end.
        packed.clear();
        packed.resize(t + 2 * horiz.pairs() + 4, 0);
        let mut g0 = 0;
        while g0 < dh {
            let g1 = (g0 + GROUP_ROWS).min(dh);
            let rows = g1 - g0;
            let group_top = top + g0 as f64 * sy;
            let group_h = (rows as f64 * sy).min(sh as f64 - group_top);
            let sy2 = group_h / rows as f64;
            let mut c0 = 0;
            while c0 < rows {
                let c1 = (c0 + CALL_ROWS).min(rows);
                let n = c1 - c0;
                let call_top = group_top + c0 as f64 * sy2;
                let call_h = (n as f64 * sy2).min(sh as f64 - call_top);
                if !same {
                    let Some(v) = Taps::bilinear(sh, call_top, call_top + call_h, n) else { return false };
                    verts.push(v);
                }
                let Some(vert) = verts.get(call) else { return false };
                call += 1;
                // Four output rows at a time; the group's last quad repeats its last row
                // in the packing, as the library's packed strips did, and drops it after.
                let quads_from = c0 as usize / 4;
                let quads_to = (c1 as usize).div_ceil(4);
                debug_assert!(c0 % 4 == 0);
                for q in quads_from..quads_to {
                    let rows_of = |k: usize| ((4 * q + k).min(rows as usize - 1) - c0 as usize).min(n as usize - 1);
                    let taps = [0, 1, 2, 3].map(|k| {
                        let i = rows_of(k);
                        (vert.start[i] as usize, vert.weights(i))
                    });
                    let job =
                        Vertical { src, stride: sw as usize, offset: x0 as usize, taps, precision: vert.precision };
                    vertical(&job, &mut packed[..t], avx2);
                    let out_row = g0 as usize + 4 * q;
                    let keep = (rows as usize - 4 * q).min(4);
                    let out = &mut dst[out_row * d..(out_row + keep) * d];
                    horizontal(packed, horiz, pairs, out, keep, spare, avx2);
                }
                c0 = c1;
            }
            g0 = g1;
        }
        true
    })
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The vertical pass of four output rows: row `k` is the sum over `taps[k].1.len()` rows
/// of `src` (rows of `stride` bytes) from row `taps[k].0`, columns `offset..`.
struct Vertical<'a> {
    src: &'a [u8],
    stride: usize,
    offset: usize,
    taps: [(usize, &'a [i16]); 4],
    precision: u8,
}

/// Runs `job` over the columns of `packed`, interleaved: byte `k` of `packed[x]` is row `k`
/// at column `offset + x`.
fn vertical(job: &Vertical, packed: &mut [u32], avx2: bool) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the CPU supports AVX2 (checked by the caller); reads are bounds-checked
        // against `src` before the loop, writes stay inside `packed`.
        done = unsafe { vertical_avx2(job, packed) };
    }
    let _ = avx2;
    let Vertical { src, stride, offset, taps, precision } = *job;
    let half = 1i32 << (precision - 1);
    for (x, out) in packed.iter_mut().enumerate().skip(done) {
        let mut bytes = [0u8; 4];
        for (b, &(start, w)) in bytes.iter_mut().zip(&taps) {
            let mut sum = half;
            for (j, &k) in w.iter().enumerate() {
                sum += src[(start + j) * stride + offset + x] as i32 * k as i32;
            }
            *b = (sum >> precision).clamp(0, 255) as u8;
        }
        *out = u32::from_le_bytes(bytes);
    }
}

/// [`vertical`] for whole steps of 16 columns; returns how many columns it did. Windows of
/// one to four rows (Ken Burns, any shrink below 1.5) take a branch-free path with the
/// weights made once; others go to [`vertical_any_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_avx2(job: &Vertical, packed: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    let Vertical { src, stride: sw, offset, taps, precision } = *job;
    let t = packed.len();
    if !taps.iter().all(|&(_, w)| (1..=4).contains(&w.len())) {
        // SAFETY: the CPU supports AVX2 (this function's own requirement).
        return unsafe { vertical_any_avx2(job, packed) };
    }
    // Every weighted row must hold the columns read.
    let ok = taps.iter().all(|&(start, w)| (start + w.len()) * sw <= src.len()) && offset + t <= sw;
    if !ok {
        return 0;
    }
    let half = _mm256_set1_epi32(1 << (precision - 1));
    let shift = _mm_cvtsi32_si128(precision as i32);
    // Per output row: the offsets of the four source rows it reads (past its taps, its last
    // row again, at weight 0) and its two weight pairs, made once for the whole row.
    let mut from = [[0usize; 4]; 4];
    let mut k = [[_mm256_setzero_si256(); 2]; 4];
    for (r, &(start, w)) in taps.iter().enumerate() {
        let wt = |j: usize| w.get(j).copied().unwrap_or(0);
        for (j, f) in from[r].iter_mut().enumerate() {
            *f = (start + j.min(w.len() - 1)) * sw + offset;
        }
        for (p, kp) in k[r].iter_mut().enumerate() {
            *kp = _mm256_set1_epi32((wt(2 * p) as u16 as i32) | ((wt(2 * p + 1) as i32) << 16));
        }
    }
    let two = taps.map(|(_, w)| w.len() <= 2);
    let base = src.as_ptr();
    // The rows the next four output rows will read first: fetched into the cache while
    // these are computed (the source plane does not fit in the second-level cache).
    let last = taps.iter().map(|&(start, w)| start + w.len()).max().unwrap_or(0);
    let ahead: [usize; 4] = std::array::from_fn(|j| (last + j).min(src.len() / sw.max(1)) * sw + offset);
    let mut x = 0;
    while x + 16 <= t {
        if x % 64 == 0 {
            for a in ahead {
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(a + x + 64) as *const i8);
            }
        }
        // Row r's 16 columns as bytes.
        macro_rules! row {
            ($r:literal) => {{
                // SAFETY: every row in `from` is inside `src`, columns offset + x ..
                // offset + x + 16 inside the row (checked above).
                let ld = |j: usize| unsafe {
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(base.add(from[$r][j] + x) as *const __m128i))
                };
                let (a, b) = (ld(0), ld(1));
                // Lane order: unpacklo holds columns 0-3 and 8-11, unpackhi 4-7 and 12-15.
                let mut lo = _mm256_add_epi32(half, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k[$r][0]));
                let mut hi = _mm256_add_epi32(half, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k[$r][0]));
                if !two[$r] {
                    let (c, d) = (ld(2), ld(3));
                    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(c, d), k[$r][1]));
                    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(c, d), k[$r][1]));
                }
                // SAFETY: the CPU supports AVX2 (this function's own requirement).
                unsafe { to_bytes(lo, hi, shift) }
            }};
        }
        let rows = [row!(0), row!(1), row!(2), row!(3)];
        // SAFETY: the CPU supports AVX2 (this function's own requirement).
        unsafe { interleave_rows(rows, &mut packed[x..x + 16]) };
        x += 16;
    }
    x
}

/// [`vertical`] for whole steps of 16 columns with windows of any length (shrinks by 1.5
/// and more: the web and preview copies); returns how many columns it did.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_any_avx2(job: &Vertical, packed: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    let Vertical { src, stride: sw, offset, taps, precision } = *job;
    let t = packed.len();
    let half = _mm256_set1_epi32(1 << (precision - 1));
    let shift = _mm_cvtsi32_si128(precision as i32);
    // Every weighted row must hold the columns read.
    let ok = taps.iter().all(|&(start, w)| (start + w.len()) * sw <= src.len() || w.is_empty()) && offset + t <= sw;
    if !ok {
        return 0;
    }
    let mut x = 0;
    while x + 16 <= t {
        let mut rows = [_mm_setzero_si128(); 4];
        for (out, &(start, w)) in rows.iter_mut().zip(&taps) {
            let (mut lo, mut hi) = (half, half);
            let mut j = 0;
            while j < w.len() {
                // SAFETY: row start + j (and + j + 1) is inside `src`, columns
                // offset + x .. offset + x + 16 inside the row (checked above).
                let ld = |r: usize| unsafe {
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(src.as_ptr().add(r * sw + offset + x) as *const __m128i))
                };
                let a = ld(start + j);
                let (b, kb) = if j + 1 < w.len() { (ld(start + j + 1), w[j + 1]) } else { (_mm256_setzero_si256(), 0) };
                let k = _mm256_set1_epi32((w[j] as u16 as i32) | ((kb as i32) << 16));
                // Lane order: unpacklo holds columns 0-3 and 8-11, unpackhi 4-7 and 12-15.
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), k));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), k));
                j += 2;
            }
            // SAFETY: the CPU supports AVX2 (this function's own requirement).
            *out = unsafe { to_bytes(lo, hi, shift) };
        }
        // SAFETY: the CPU supports AVX2 (this function's own requirement).
        unsafe { interleave_rows(rows, &mut packed[x..x + 16]) };
        x += 16;
    }
    x
}

/// The 16 sums of a vertical pass (`lo`: columns 0-3 and 8-11, `hi`: 4-7 and 12-15, as
/// the unpacks leave them) shifted down by `shift` and clamped to bytes, in column order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn to_bytes(
    lo: std::arch::x86_64::__m256i,
    hi: std::arch::x86_64::__m256i,
    shift: std::arch::x86_64::__m128i,
) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    let v = _mm256_packs_epi32(_mm256_sra_epi32(lo, shift), _mm256_sra_epi32(hi, shift));
    _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
}

/// Four rows of 16 bytes interleaved into `out` (16 samples): byte `k` of `out[x]` is
/// row `k` at column `x`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn interleave_rows(rows: [std::arch::x86_64::__m128i; 4], out: &mut [u32]) {
    use std::arch::x86_64::*;
    assert!(out.len() >= 16);
    let (ab0, ab1) = (_mm_unpacklo_epi8(rows[0], rows[1]), _mm_unpackhi_epi8(rows[0], rows[1]));
    let (cd0, cd1) = (_mm_unpacklo_epi8(rows[2], rows[3]), _mm_unpackhi_epi8(rows[2], rows[3]));
    // SAFETY: `out` holds 16 samples, 64 bytes (checked above).
    unsafe {
        let o = out.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(o, _mm_unpacklo_epi16(ab0, cd0));
        _mm_storeu_si128(o.add(1), _mm_unpackhi_epi16(ab0, cd0));
        _mm_storeu_si128(o.add(2), _mm_unpacklo_epi16(ab1, cd1));
        _mm_storeu_si128(o.add(3), _mm_unpackhi_epi16(ab1, cd1));
    }
}

/// The horizontal pass of a packed row into the first `keep` (1..=4) rows of `out` (rows of
/// `d = out.len() / keep` samples): byte `k` of each packed sample belongs to row `k`.
/// `packed` holds zeros for a window past its samples; `pairs` is [`Taps::pair_vectors`]
/// of `taps` when `avx2`; `spare` takes the four rows when fewer are kept.
fn horizontal(
    packed: &[u32],
    taps: &Taps,
    pairs: &[[i32; 8]],
    out: &mut [u8],
    keep: usize,
    spare: &mut Vec<u8>,
    avx2: bool,
) {
    let d = out.len() / keep.max(1);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        if keep == 4 {
            // SAFETY: the CPU supports AVX2 (checked by the caller); reads are
            // bounds-checked against `packed` and `pairs`, writes against `out`.
            done = unsafe { horizontal_avx2(packed, taps, pairs, out, d) };
        } else {
            spare.resize(4 * d, 0);
            // SAFETY: as above.
            done = unsafe { horizontal_avx2(packed, taps, pairs, spare, d) };
            for k in 0..keep {
                out[k * d..k * d + done].copy_from_slice(&spare[k * d..k * d + done]);
            }
        }
    }
    let _ = (avx2, pairs, spare);
    let half = 1i32 << (taps.precision - 1);
    for i in done..d {
        let start = taps.start[i] as usize;
        let mut sums = [half; 4];
        for (j, &k) in taps.weights(i).iter().enumerate() {
            let px = packed[start + j].to_le_bytes();
            for (s, &p) in sums.iter_mut().zip(&px) {
                *s += p as i32 * k as i32;
            }
        }
        for (k, s) in sums.iter().enumerate().take(keep) {
            out[k * d + i] = (s >> taps.precision).clamp(0, 255) as u8;
        }
    }
}

/// [`horizontal`] of all four rows for whole steps of 16 outputs; returns how many it did.
/// Each step is two blocks of eight outputs, each block four accumulators of two outputs
/// (`m` and `m + 4`, one per 128-bit lane), so the packed results come out in order and
/// split into the four rows in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn horizontal_avx2(packed: &[u32], taps: &Taps, kv: &[[i32; 8]], out: &mut [u8], d: usize) -> usize {
    use std::arch::x86_64::*;
    let n = d.min(taps.start.len()) & !15;
    let pairs = taps.pairs();
    // Every window read (whole groups of four samples) must lie inside `packed`, every
    // weight vector inside `kv`, every row inside `out`.
    if kv.len() < n / 2 * pairs || taps.max_start as usize + 2 * pairs > packed.len() || out.len() < 4 * d {
        return 0;
    }
    // Windows of at most four samples (Ken Burns, any shrink below 1.5) take one load and
    // two multiplies per output pair, without a loop; weights past a window's length are 0.
    let narrow = taps.max_len <= 4;
    let half = _mm256_set1_epi32(1 << (taps.precision - 1));
    let shift = _mm_cvtsi32_si128(taps.precision as i32);
    // Four packed samples (16 bytes) to i16 pairs per byte: (s0.k, s1.k) for k = 0..3,
    // then (s2.k, s3.k).
    let first = _mm256_setr_epi8(
        0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1, 0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1,
    );
    let second = _mm256_setr_epi8(
        8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, 11, -1, 15, -1, 8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, 11,
        -1, 15, -1,
    );
    // In each 128-bit lane, byte k of its four samples together; then the lanes' dwords of
    // each row side by side, so 64-bit word k holds row k of eight samples.
    let by_row = _mm256_setr_epi8(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
    );
    let pair = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let (starts, lens) = (&taps.start[..n], &taps.len[..n]);
    let base = out.as_mut_ptr();
    let mut i = 0;
    while i + 16 <= n {
        // acc[4h + m]: lane 0 output i + 8h + m, lane 1 output i + 8h + 4 + m, four rows
        // each; its weights are entry i / 2 + 4h + m of `kv`.
        let st = &starts[i..i + 16];
        let ln = &lens[i..i + 16];
        let kb = &kv[i / 2 * pairs..(i / 2 + 8) * pairs];
        // Accumulator `a` over the taps from `j`, four at a time, while `j < used`.
        macro_rules! acc {
            ($a:literal, $used:expr) => {{
                let p = 8 * ($a / 4) + $a % 4;
                let (sp, sq) = (st[p] as usize, st[p + 4] as usize);
                let ks = &kb[$a * pairs..($a + 1) * pairs];
                let mut acc = half;
                let mut j = 0;
                while j < $used(p) {
                    // SAFETY: start + j + 4 <= start + 2 * pairs <= packed.len(), and
                    // j / 2 + 1 < pairs (checked above).
                    unsafe {
                        let v = _mm256_loadu2_m128i(
                            packed.as_ptr().add(sq + j) as *const __m128i,
                            packed.as_ptr().add(sp + j) as *const __m128i,
                        );
                        let k0 = _mm256_loadu_si256(ks.as_ptr().add(j / 2) as *const __m256i);
                        let k1 = _mm256_loadu_si256(ks.as_ptr().add(j / 2 + 1) as *const __m256i);
                        let lo = _mm256_madd_epi16(_mm256_shuffle_epi8(v, first), k0);
                        let hi = _mm256_madd_epi16(_mm256_shuffle_epi8(v, second), k1);
                        acc = _mm256_add_epi32(acc, _mm256_add_epi32(lo, hi));
                    }
                    j += 4;
                }
                _mm256_sra_epi32(acc, shift)
            }};
        }
        macro_rules! all {
            ($used:expr) => {
                [
                    acc!(0, $used),
                    acc!(1, $used),
                    acc!(2, $used),
                    acc!(3, $used),
                    acc!(4, $used),
                    acc!(5, $used),
                    acc!(6, $used),
                    acc!(7, $used),
                ]
            };
        }
        // A narrow window is one step; a wide one as many as either output needs.
        let acc = if narrow { all!(|_| 1) } else { all!(|p: usize| ln[p].max(ln[p + 4]) as usize) };
        // Packed in lane order, each block of four accumulators is outputs 8h..8h + 4, then
        // 8h + 4..8h + 8; then 64-bit word k of each holds row k of its eight outputs.
        let split = |a: __m256i, b: __m256i, c: __m256i, d: __m256i| {
            let bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
            _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(bytes, by_row), pair)
        };
        let (a, b) = (split(acc[0], acc[1], acc[2], acc[3]), split(acc[4], acc[5], acc[6], acc[7]));
        // Low lanes: rows 0 and 1 of the 16 outputs; high lanes: rows 2 and 3.
        let (even, odd) = (_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
        // SAFETY: i + 16 <= n <= d; row k of `out` is out[k * d..(k + 1) * d].
        unsafe {
            let st = |k: usize, v: __m128i| _mm_storeu_si128(base.add(k * d + i) as *mut __m128i, v);
            st(0, _mm256_castsi256_si128(even));
            st(1, _mm256_castsi256_si128(odd));
            st(2, _mm256_extracti128_si256::<1>(even));
            st(3, _mm256_extracti128_si256::<1>(odd));
        }
        i += 16;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::fill::resize_crop;
    use fast_image_resize::PixelType;

    /// The implementation this module replaced: the library's vertical pass on the strip,
    /// rows packed four to a pixel, its horizontal pass on them as RGBA, unpacked.
    fn two_library_passes(
        src: &[u8],
        size: (u32, u32),
        dst: &mut [u8],
        dst_size: (u32, u32),
        crop: (f64, f64, f64, f64),
    ) -> bool {
        let ((sw, sh), (dw, dh), (left, top, cw, ch)) = (size, dst_size, crop);
        let reach = (cw / dw as f64).max(1.0) * 2.0 + 2.0;
        let x0 = (left - reach).floor().max(0.0) as u32;
        let x1 = ((left + cw + reach).ceil() as u32).min(sw);
        let tw = x1 - x0;
        let (t, d) = (tw as usize, dw as usize);
        let sy = ch / dh as f64;
        let mut y0 = 0;
        while y0 < dh {
            let y1 = (y0 + GROUP_ROWS).min(dh);
            let rows = (y1 - y0) as usize;
            let quads = rows.div_ceil(4);
            let mut vert = vec![0u8; t * rows];
            let strip_top = top + y0 as f64 * sy;
            let strip_h = (rows as f64 * sy).min(sh as f64 - strip_top);
            if !resize_crop(
                src,
                size,
                &mut vert,
                (tw, rows as u32),
                PixelType::U8,
                (x0 as f64, strip_top, tw as f64, strip_h),
            ) {
                return false;
            }
            let mut packed = vec![0u32; t * quads];
            for (q, out) in packed.chunks_exact_mut(t).enumerate() {
                let r = |k: usize| (4 * q + k).min(rows - 1) * t;
                for (x, o) in out.iter_mut().enumerate() {
                    *o = u32::from_le_bytes([0, 1, 2, 3].map(|k| vert[r(k) + x]));
                }
            }
            let mut horiz = vec![0u32; d * quads];
            let (p, hz) = (bytemuck::cast_slice::<u32, u8>(&packed), bytemuck::cast_slice_mut::<u32, u8>(&mut horiz));
            let hcrop = (left - x0 as f64, 0.0, cw, quads as f64);
            if !resize_crop(p, (tw, quads as u32), hz, (dw, quads as u32), PixelType::U8x4, hcrop) {
                return false;
            }
            for r in 0..rows {
                for x in 0..d {
                    dst[(y0 as usize + r) * d + x] = (horiz[(r / 4) * d + x] >> (8 * (r % 4))) as u8;
                }
            }
            y0 = y1;
        }
        true
    }

    #[test]
    fn matches_the_two_library_passes() {
        // A plane with edges, ramps and noise.
        let (sw, sh) = (1000u32, 700u32);
        let src: Vec<u8> = (0..sw * sh)
            .map(|i| {
                let (x, y) = (i % sw, i / sw);
                let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 9;
                (if (x / 37 + y / 23) % 2 == 0 { x / 5 + n % 40 } else { 200 - y / 5 + n % 9 }) as u8
            })
            .collect();
        type Case = ((u32, u32), (f64, f64, f64, f64));
        let cases: [Case; 8] = [
            // Ken Burns: a zoomed crop slightly larger than the output, at fractions.
            ((874, 600), (31.7, 20.25, 951.3, 652.8)),
            ((874, 600), (0.0, 0.0, 874.0, 600.0)),
            ((873, 601), (63.01, 48.9, 874.5, 602.2)),
            // Exact halves, a strong shrink, an enlargement, odd sizes and a tiny output.
            ((500, 350), (0.0, 0.0, 1000.0, 700.0)),
            ((214, 150), (10.0, 5.5, 900.0, 640.0)),
            ((1200, 900), (100.5, 80.25, 600.0, 450.0)),
            ((37, 13), (3.0, 2.0, 500.0, 300.0)),
            ((998, 1300), (0.5, 0.0, 999.0, 700.0)),
        ];
        for (dst_size, crop) in cases {
            let n = (dst_size.0 * dst_size.1) as usize;
            let (mut want, mut got) = (vec![0u8; n], vec![1u8; n]);
            assert!(two_library_passes(&src, (sw, sh), &mut want, dst_size, crop), "{dst_size:?} {crop:?}");
            assert!(resize_plane(&src, (sw, sh), &mut got, dst_size, crop), "{dst_size:?} {crop:?}");
            let first = want.iter().zip(&got).position(|(a, b)| a != b);
            assert_eq!(first, None, "{dst_size:?} {crop:?}: first difference at sample {first:?}");
            // Again, with the weights kept from the call before.
            let mut again = vec![2u8; n];
            assert!(resize_plane(&src, (sw, sh), &mut again, dst_size, crop));
            assert!(again == got, "{dst_size:?} {crop:?}: the second call differs");
        }
        // The SIMD paths against the plain loops, edges and tails included.
        if has_avx2() {
            {
                // A Ken Burns window (four samples at most) and a strong shrink; 85 outputs
                // leave a tail for the plain loop; all four rows and a partial quad.
                for (width, in0, in1, outs) in [(100u32, 3.5, 95.0, 85usize), (400, 2.0, 390.0, 85)] {
                    let horiz = Taps::bilinear(width, in0, in1, outs as u32).expect("taps");
                    let mut packed: Vec<u32> = (0..width).map(|i| i.wrapping_mul(0x9E3779B9)).collect();
                    packed.resize(width as usize + 2 * horiz.pairs() + 4, 0);
                    let mut pairs = Vec::new();
                    horiz.pair_vectors(&mut pairs);
                    for keep in [4, 3] {
                        let (mut a, mut b) = (vec![0u8; keep * outs], vec![0u8; keep * outs]);
                        horizontal(&packed, &horiz, &pairs, &mut a, keep, &mut Vec::new(), true);
                        horizontal(&packed, &horiz, &[], &mut b, keep, &mut Vec::new(), false);
                        assert_eq!(a, b, "horizontal, window {}, {keep} rows", horiz.max_len);
                    }
                }
                // Windows of three, one, two and four rows (the branch-free pass), and ones
                // with a row of seven taps or of none (the general pass).
                let four: [(usize, &[i16]); 4] =
                    [(3, &[5000, 9000, 2384]), (4, &[16384]), (5, &[8000, 8384]), (0, &[4000, 4000, 4000, 4384])];
                let empty: [(usize, &[i16]); 4] =
                    [(3, &[5000, 9000, 2384]), (4, &[16384]), (5, &[8000, 8384]), (0, &[])];
                let seven: [(usize, &[i16]); 4] = [
                    (3, &[5000, 9000, 2384]),
                    (4, &[2000, 2000, 3000, 3000, 2000, 2000, 2384]),
                    (5, &[8000, 8384]),
                    (0, &[16384]),
                ];
                for taps in [four, empty, seven] {
                    let job = Vertical { src: &src, stride: sw as usize, offset: 17, taps, precision: 14 };
                    let (mut a, mut b) = (vec![0u32; 70], vec![0u32; 70]);
                    // SAFETY: has_avx2() above.
                    assert_eq!(unsafe { vertical_avx2(&job, &mut a) }, 64);
                    vertical(&job, &mut a, true);
                    vertical(&job, &mut b, false);
                    assert_eq!(a, b, "vertical");
                }
            }
        }
    }
}
