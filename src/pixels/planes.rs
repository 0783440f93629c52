//! Whole planes of 8-bit samples: a 2x2 average (an exact half, as a 4K clip drawn at
//! 1080p) and a copy out of a strided buffer.

/// Halves a plane in both directions by averaging each 2x2 block (what swscale's area
/// filter does for an exact 2x shrink): `w` x `h` samples out of `2w` x `2h`.
pub(crate) fn shrink_half(src: &[u8], stride: usize, dst: &mut [u8], w: usize, h: usize) {
    for (y, d) in dst.chunks_exact_mut(w).take(h).enumerate() {
        let (Some(r0), Some(r1)) = (
            src.get(2 * y * stride..2 * y * stride + 2 * w),
            src.get((2 * y + 1) * stride..(2 * y + 1) * stride + 2 * w),
        ) else {
            return;
        };
        let done = shrink_row_simd(r0, r1, d);
        let (d, r0, r1) = (&mut d[done..], &r0[2 * done..], &r1[2 * done..]);
        for ((o, a), b) in d.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            *o = ((a[0] as u16 + a[1] as u16 + b[0] as u16 + b[1] as u16 + 2) >> 2) as u8;
        }
    }
}

/// The 2x2 average of [`shrink_half`] for the first multiple of 16 outputs of a row, 16 at a
/// time with SSE2 (part of every x86_64 CPU); returns how many it wrote. The compiler kept
/// the plain loop scalar (byte loads, two outputs an iteration: 3.9 % of W3's CPU). Each
/// 16-bit lane holds a horizontal pair: its low byte plus its high byte is the pair's sum,
/// so the result is exact, the same bytes as the plain loop.
fn shrink_row_simd(r0: &[u8], r1: &[u8], d: &mut [u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let n = d.len().min(r0.len() / 2).min(r1.len() / 2) / 16 * 16;
        let (r0, r1) = (&r0[..2 * n], &r1[..2 * n]);
        for ((o, a), b) in d[..n].chunks_exact_mut(16).zip(r0.chunks_exact(32)).zip(r1.chunks_exact(32)) {
            // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes inside a 32-byte
            // chunk `a` or `b`, and the store writes the 16 bytes of `o` (unaligned forms).
            unsafe {
                let lo = _mm_set1_epi16(0x00ff);
                let pairs = |v: __m128i| _mm_add_epi16(_mm_and_si128(v, lo), _mm_srli_epi16::<8>(v));
                let load = |s: &[u8], at: usize| _mm_loadu_si128(s.as_ptr().add(at) as *const __m128i);
                let two = _mm_set1_epi16(2);
                let s0 = _mm_add_epi16(pairs(load(a, 0)), pairs(load(b, 0)));
                let s1 = _mm_add_epi16(pairs(load(a, 16)), pairs(load(b, 16)));
                let avg0 = _mm_srli_epi16::<2>(_mm_add_epi16(s0, two));
                let avg1 = _mm_srli_epi16::<2>(_mm_add_epi16(s1, two));
                _mm_storeu_si128(o.as_mut_ptr() as *mut __m128i, _mm_packus_epi16(avg0, avg1));
            }
        }
        n
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (r0, r1, d);
        0
    }
}

/// Copies `h` rows of `w` samples from a strided plane into a packed one.
pub(crate) fn copy_plane(src: &[u8], stride: usize, dst: &mut [u8], w: usize, h: usize) {
    for (y, d) in dst.chunks_exact_mut(w).take(h).enumerate() {
        if let Some(s) = src.get(y * stride..y * stride + w) {
            d.copy_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shrink_half;

    #[test]
    fn the_simd_2x2_average_matches_the_plain_one() {
        // Odd widths leave a tail for the plain loop; a stride wider than the row too.
        for (w, h, stride) in [(1, 1, 2), (15, 3, 30), (16, 2, 40), (37, 5, 80), (960, 4, 1920)] {
            let src: Vec<u8> = (0..stride * 2 * h).map(|i| ((i * 7919 + i / 3) % 256) as u8).collect();
            let mut got = vec![0u8; w * h];
            shrink_half(&src, stride, &mut got, w, h);
            for y in 0..h {
                for x in 0..w {
                    let at = |dx: usize, dy: usize| src[(2 * y + dy) * stride + 2 * x + dx] as u16;
                    let want = ((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) >> 2) as u8;
                    assert_eq!(got[y * w + x], want, "{w}x{h} at {x},{y}");
                }
            }
        }
        // Extremes: all 255 stays 255 (no overflow in the 16-bit lanes), 0 stays 0.
        let mut got = vec![0u8; 32];
        shrink_half(&[255u8; 128], 64, &mut got, 32, 1);
        assert!(got.iter().all(|&v| v == 255));
    }
}
