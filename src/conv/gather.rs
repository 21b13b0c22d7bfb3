//! The gather at the heart of the operator: `Y[p, b, :] = Σ_e coef[e, b] · src[col_e, :]`, one row
//! `p` at a time, over a CSR structure (the operator, or its transpose for the backward pass).
//!
//! The fast path keeps a 4 (basis functions) × 16 (channels) tile of `Y` in registers while it streams
//! over the row's entries, so each loaded input value feeds four fused multiply-adds; it is compiled
//! twice, and the AVX2 + FMA copy is chosen at run time where the processor has them.

use super::real::Real;
use std::ops::Range;

/// One CSR-like structure to gather over.
pub(crate) struct Structure<'a, T> {
    pub offsets: &'a [u32],
    /// Column (source row) of each entry.
    pub cols: &'a [u32],
    /// Entry of `coefs` holding each stored entry's coefficients (`None`: the entry itself).
    pub coef_entry: Option<&'a [u32]>,
    /// B coefficients per entry.
    pub coefs: &'a [T],
    pub basis: usize,
}

#[inline(always)]
fn gather_rows<T: Real, const FMA: bool>(
    s: &Structure<T>,
    rows: Range<usize>,
    src: &[T],
    width: usize,
    y: &mut [T],
) {
    let nb = s.basis;
    let row_len = nb * width;
    let n_src = src.len() / width.max(1);
    for (i, p) in rows.enumerate() {
        let yrow = &mut y[i * row_len..(i + 1) * row_len];
        let entries = s.offsets[p] as usize..s.offsets[p + 1] as usize;
        let cols = &s.cols[entries.clone()];
        // Offsets of each entry's coefficients.
        let coef_base = |j: usize| match s.coef_entry {
            Some(ce) => ce[entries.start + j] as usize * nb,
            None => (entries.start + j) * nb,
        };
        assert!(
            cols.iter().all(|&q| (q as usize) < n_src),
            "column out of range"
        );
        assert!(
            (0..cols.len()).all(|j| coef_base(j) + nb <= s.coefs.len()),
            "coefficient out of range"
        );
        if width.is_multiple_of(16) && nb.is_multiple_of(4) {
            for l0 in (0..width).step_by(16) {
                for b0 in (0..nb).step_by(4) {
                    let mut acc = [[T::default(); 16]; 4];
                    for (j, &q) in cols.iter().enumerate() {
                        // SAFETY: every column is below n_src and every coefficient block in range
                        // (asserted above), and l0 + 16 ≤ width, b0 + 4 ≤ nb.
                        let (xs, cs) = unsafe {
                            let xp = src.as_ptr().add(q as usize * width + l0) as *const [T; 16];
                            let cp = s.coefs.as_ptr().add(coef_base(j) + b0) as *const [T; 4];
                            (&*xp, &*cp)
                        };
                        for bb in 0..4 {
                            for l in 0..16 {
                                acc[bb][l] = if FMA {
                                    cs[bb].mul_add(xs[l], acc[bb][l])
                                } else {
                                    acc[bb][l] + cs[bb] * xs[l]
                                };
                            }
                        }
                    }
                    for (bb, a) in acc.iter().enumerate() {
                        let o = (b0 + bb) * width + l0;
                        yrow[o..o + 16].copy_from_slice(a);
                    }
                }
            }
        } else {
            yrow.iter_mut().for_each(|v| *v = T::default());
            for (j, &q) in cols.iter().enumerate() {
                let q = q as usize;
                let x = &src[q * width..(q + 1) * width];
                let k = coef_base(j);
                for (b, &cb) in s.coefs[k..k + nb].iter().enumerate() {
                    for (yv, &xv) in yrow[b * width..(b + 1) * width].iter_mut().zip(x) {
                        *yv += cb * xv;
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_avx2<T: Real>(
    s: &Structure<T>,
    rows: Range<usize>,
    src: &[T],
    width: usize,
    y: &mut [T],
) {
    gather_rows::<T, true>(s, rows, src, width, y)
}

/// Gathers rows `rows` into `y` (`rows.len() × B × width`), with AVX2 + FMA where available.
pub(crate) fn gather<T: Real>(
    s: &Structure<T>,
    rows: Range<usize>,
    src: &[T],
    width: usize,
    y: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && width.is_multiple_of(16)
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            // SAFETY: T is f32 (checked above), so these are the same slices viewed at their own type.
            let cast =
                |v: &[T]| unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) };
            let s32 = Structure {
                offsets: s.offsets,
                cols: s.cols,
                coef_entry: s.coef_entry,
                coefs: cast(s.coefs),
                basis: s.basis,
            };
            let y32 =
                unsafe { std::slice::from_raw_parts_mut(y.as_mut_ptr() as *mut f32, y.len()) };
            // SAFETY: the processor supports AVX-512F (detected above); indices are checked inside.
            unsafe { gather_f32_avx512(&s32, rows, cast(src), width, y32) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features the function was compiled for.
            unsafe { gather_avx2(s, rows, src, width, y) };
            return;
        }
    }
    gather_rows::<T, false>(s, rows, src, width, y)
}

/// The gather for `f32` with AVX-512: a tile of 8 basis functions × 16 channels (eight 512-bit
/// accumulators) streams over the row's entries; each entry costs one load of 16 input values and eight
/// broadcast coefficients for eight fused multiply-adds (fewer in the last tile when B is not a multiple of
/// 8). Needs `width % 16 == 0`; coefficients are read in place or through the transposed index.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_f32_avx512(
    s: &Structure<f32>,
    rows: Range<usize>,
    src: &[f32],
    width: usize,
    y: &mut [f32],
) {
    use std::arch::x86_64::*;
    let nb = s.basis;
    let row_len = nb * width;
    let n_src = src.len() / width;
    for (i, p) in rows.enumerate() {
        let yrow = &mut y[i * row_len..(i + 1) * row_len];
        let (e0, e1) = (s.offsets[p] as usize, s.offsets[p + 1] as usize);
        let cols = &s.cols[e0..e1];
        assert!(
            cols.iter().all(|&q| (q as usize) < n_src),
            "column out of range"
        );
        // Offset of each entry's coefficients: its own position, or through the transposed index.
        let coef_at = |j: usize| match s.coef_entry {
            None => (e0 + j) * nb,
            Some(ce) => ce[e0 + j] as usize * nb,
        };
        assert!(
            (0..cols.len()).all(|j| coef_at(j) + nb <= s.coefs.len()),
            "coefficient out of range"
        );
        for l0 in (0..width).step_by(16) {
            for b0 in (0..nb).step_by(8) {
                let bn = (nb - b0).min(8);
                let mut acc = [_mm512_setzero_ps(); 8];
                for (j, &q) in cols.iter().enumerate() {
                    // SAFETY: q < n_src and coef_at(j) + nb ≤ coefs.len() (asserted), l0 + 16 ≤ width,
                    // b0 + bn ≤ nb.
                    let x = _mm512_loadu_ps(src.as_ptr().add(q as usize * width + l0));
                    let c = s.coefs.as_ptr().add(coef_at(j) + b0);
                    for (bb, a) in acc.iter_mut().enumerate().take(bn) {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(*c.add(bb)), x, *a);
                    }
                }
                for (bb, a) in acc.iter().enumerate().take(bn) {
                    _mm512_storeu_ps(yrow.as_mut_ptr().add((b0 + bb) * width + l0), *a);
                }
            }
        }
    }
}

/// `out (m × n) = y (m × k) · w (k × n)` for `f32` with AVX-512, `n % 16 == 0`: tiles of 8 rows × 16
/// columns accumulate in eight 512-bit registers while `k` streams by (w stays in cache). Replaces a
/// general GEMM call whose packing of `y` would cost as much as the product at these shapes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gemm_f32_avx512(m: usize, k: usize, n: usize, y: &[f32], w: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(y.len() >= m * k && w.len() >= k * n && out.len() >= m * n && n.is_multiple_of(16));
    let mut r0 = 0;
    while r0 < m {
        let rows = (m - r0).min(8);
        for o0 in (0..n).step_by(16) {
            let mut acc = [_mm512_setzero_ps(); 8];
            for kk in 0..k {
                // SAFETY: kk < k, o0 + 16 ≤ n, r0 + r < m: all within the asserted lengths.
                let wv = _mm512_loadu_ps(w.as_ptr().add(kk * n + o0));
                for (r, a) in acc.iter_mut().enumerate().take(rows) {
                    *a = _mm512_fmadd_ps(
                        _mm512_set1_ps(*y.get_unchecked((r0 + r) * k + kk)),
                        wv,
                        *a,
                    );
                }
            }
            for (r, a) in acc.iter().enumerate().take(rows) {
                _mm512_storeu_ps(out.as_mut_ptr().add((r0 + r) * n + o0), *a);
            }
        }
        r0 += rows;
    }
}

/// Row-major `out (m × n) = y (m × k) · w (k × n)`, overwriting `out`.
pub(crate) fn gemm<T: Real>(m: usize, k: usize, n: usize, y: &[T], w: &[T], out: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && n.is_multiple_of(16)
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            // SAFETY: T is f32 (checked above): the same slices at their own type.
            let (y32, w32, o32) = unsafe {
                (
                    std::slice::from_raw_parts(y.as_ptr() as *const f32, y.len()),
                    std::slice::from_raw_parts(w.as_ptr() as *const f32, w.len()),
                    std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut f32, out.len()),
                )
            };
            // SAFETY: AVX-512F detected above; lengths are asserted inside.
            unsafe { gemm_f32_avx512(m, k, n, y32, w32, o32) };
            return;
        }
    }
    T::gemm(
        m,
        k,
        n,
        y,
        k as isize,
        1,
        w,
        n as isize,
        1,
        T::default(),
        out,
    );
}
