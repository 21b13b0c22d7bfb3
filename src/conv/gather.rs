//! The gather at the heart of the operator: `Y[p, b, :] = Σ_e coef[e, b] · src[col_e, :]`, one row
//! `p` at a time, over a CSR structure (the operator, or its transpose for the backward pass).
//!
//! The fast path keeps a 4 (basis functions) × 16 (channels) tile of `Y` in registers while it streams
//! over the row's entries, so each loaded input value feeds four fused multiply-adds; it is compiled
//! twice, and the AVX2 + FMA copy is chosen at run time where the processor has them.

use super::real::Real;
use std::ops::Range;

/// One CSR-like structure to gather over, with its index bounds established once by its maker so the
/// gather checks no entry on the way.
pub(crate) struct Structure<'a, T> {
    offsets: &'a [u32],
    /// Column (source row) of each entry.
    cols: &'a [u32],
    /// Entry of `coefs` holding each stored entry's coefficients (`None`: the entry itself).
    coef_entry: Option<&'a [u32]>,
    /// B coefficients per entry.
    coefs: &'a [T],
    basis: usize,
    /// Every column is below this.
    col_bound: usize,
}

impl<'a, T> Structure<'a, T> {
    /// # Safety
    /// Every `cols[e] < col_bound`; every `coef_entry[e]` (or, without it, every `e`) indexes a block of
    /// `basis` values inside `coefs`; `offsets` is non-decreasing and ends at most at `cols.len()`
    /// (which `coef_entry` matches in length). The gather's unchecked reads rely on these.
    pub(crate) unsafe fn new(
        offsets: &'a [u32],
        cols: &'a [u32],
        coef_entry: Option<&'a [u32]>,
        coefs: &'a [T],
        basis: usize,
        col_bound: usize,
    ) -> Self {
        debug_assert!(cols.iter().all(|&q| (q as usize) < col_bound));
        debug_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        debug_assert!(offsets.last().is_none_or(|&e| e as usize <= cols.len()));
        debug_assert!(match coef_entry {
            None => coefs.len() >= cols.len() * basis,
            Some(ce) =>
                ce.len() == cols.len()
                    && ce.iter().all(|&e| (e as usize + 1) * basis <= coefs.len()),
        });
        Structure {
            offsets,
            cols,
            coef_entry,
            coefs,
            basis,
            col_bound,
        }
    }

    /// Panics unless `src` covers every column (`width` values each) and `y` holds `rows.len()`
    /// output rows of `basis × width`: what both gather kernels need before their unchecked reads.
    /// The products are checked: a wrapped product would pass the comparison and let the kernels
    /// read and write out of bounds.
    fn check_buffers(&self, rows: &Range<usize>, src: &[T], width: usize, y: &[T]) {
        let need_src = self.col_bound.checked_mul(width);
        assert!(
            need_src.is_some_and(|n| src.len() >= n),
            "gather: source of {} values too short for {} columns × width {width}",
            src.len(),
            self.col_bound
        );
        let need_y = rows
            .len()
            .checked_mul(self.basis)
            .and_then(|n| n.checked_mul(width));
        assert!(
            need_y.is_some_and(|n| y.len() >= n),
            "gather: output of {} values too short for {} rows × B ({}) × width {width}",
            y.len(),
            rows.len(),
            self.basis
        );
    }

    /// The entries of row `p`.
    fn row(&self, p: usize) -> Range<usize> {
        let (e0, e1) = (self.offsets[p] as usize, self.offsets[p + 1] as usize);
        assert!(e0 <= e1 && e1 <= self.cols.len(), "row {p}: bad offsets");
        e0..e1
    }

    /// Offset in `coefs` of entry `e`'s coefficients.
    #[inline(always)]
    fn coef_offset(&self, e: usize) -> usize {
        match self.coef_entry {
            None => e * self.basis,
            // SAFETY: e < cols.len() == coef_entry.len() (constructor contract).
            Some(ce) => unsafe { *ce.get_unchecked(e) as usize * self.basis },
        }
    }
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
    s.check_buffers(&rows, src, width, y);
    for (i, p) in rows.enumerate() {
        let yrow = &mut y[i * row_len..(i + 1) * row_len];
        let entries = s.row(p);
        let cols = &s.cols[entries.clone()];
        let coef_base = |j: usize| s.coef_offset(entries.start + j);
        if width.is_multiple_of(16) && nb.is_multiple_of(4) {
            for l0 in (0..width).step_by(16) {
                for b0 in (0..nb).step_by(4) {
                    let mut acc = [[T::default(); 16]; 4];
                    for (j, &q) in cols.iter().enumerate() {
                        // SAFETY: every column is below col_bound (src long enough, asserted above)
                        // and every coefficient block in range (constructor contract); l0 + 16 ≤
                        // width, b0 + 4 ≤ nb.
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
                col_bound: s.col_bound,
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

/// The gather for `f32` with AVX-512: a tile of up to 16 basis functions × 16 channels (as many
/// 512-bit accumulators, half the register file) streams over the row's entries; each entry costs one
/// load of 16 input values and one broadcast coefficient per fused multiply-add. The tile height is a
/// compile-time constant (16, 8, 4, 2, 1: B is covered greedily) so the accumulators stay in registers
/// and the loop carries no per-FMA branch. Needs `width % 16 == 0`; coefficients are read in place or
/// through the transposed index.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_f32_avx512(
    s: &Structure<f32>,
    rows: Range<usize>,
    src: &[f32],
    width: usize,
    y: &mut [f32],
) {
    let nb = s.basis;
    let row_len = nb * width;
    s.check_buffers(&rows, src, width, y);
    for (i, p) in rows.enumerate() {
        let entries = s.row(p);
        let cols = &s.cols[entries.clone()];
        let coef_at = |j: usize| s.coef_offset(entries.start + j);
        // The coefficients to prefetch while entry j is read: the operator streams them from memory
        // faster than the hardware prefetcher fetches them unless asked ahead (4 KiB along the
        // stream, or 16 entries ahead through the transposed index).
        let ahead = |j: usize| match s.coef_entry {
            None => coef_at(j) + PREFETCH_FLOATS,
            Some(_) => {
                let e = entries.start + j + PREFETCH_ENTRIES;
                if e < s.cols.len() {
                    s.coef_offset(e)
                } else {
                    0
                }
            }
        };
        let yrow = y.as_mut_ptr().add(i * row_len);
        for l0 in (0..width).step_by(16) {
            let mut b0 = 0;
            while b0 < nb {
                let x = src.as_ptr().add(l0);
                let c = s.coefs.as_ptr().add(b0);
                let out = yrow.add(b0 * width + l0);
                // SAFETY: every column is below col_bound (src long enough, asserted above) and
                // every coefficient block in range (constructor contract); l0 + 16 ≤ width and
                // b0 + tile height ≤ nb.
                b0 += match nb - b0 {
                    16.. => tile_f32_avx512::<16>(cols, &coef_at, &ahead, x, c, width, out),
                    8.. => tile_f32_avx512::<8>(cols, &coef_at, &ahead, x, c, width, out),
                    4.. => tile_f32_avx512::<4>(cols, &coef_at, &ahead, x, c, width, out),
                    2.. => tile_f32_avx512::<2>(cols, &coef_at, &ahead, x, c, width, out),
                    _ => tile_f32_avx512::<1>(cols, &coef_at, &ahead, x, c, width, out),
                };
            }
        }
    }
}

/// How far ahead the AVX-512 gather prefetches coefficients: in a stream (4 KiB), and through an index.
#[cfg(target_arch = "x86_64")]
const PREFETCH_FLOATS: usize = 1024;
#[cfg(target_arch = "x86_64")]
const PREFETCH_ENTRIES: usize = 16;

/// One `BN × 16` tile of the AVX-512 gather: `out[bb·width + l] = Σ_j c[coef_at(j) + bb] ·
/// x[cols[j]·width + l]`, prefetching `c + ahead(j)` on the way; returns `BN`.
///
/// # Safety
/// Every `x[cols[j]·width .. + 16]`, `c[coef_at(j) .. + BN]` and `out[bb·width .. + 16]` (bb < BN)
/// must be in bounds (`ahead` may point anywhere: a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_f32_avx512<const BN: usize>(
    cols: &[u32],
    coef_at: &impl Fn(usize) -> usize,
    ahead: &impl Fn(usize) -> usize,
    x: *const f32,
    c: *const f32,
    width: usize,
    out: *mut f32,
) -> usize {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_setzero_ps(); BN];
    for (j, &q) in cols.iter().enumerate() {
        let xv = _mm512_loadu_ps(x.add(q as usize * width));
        let cj = c.add(coef_at(j));
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(ahead(j)) as *const i8);
        for (bb, a) in acc.iter_mut().enumerate() {
            *a = _mm512_fmadd_ps(_mm512_set1_ps(*cj.add(bb)), xv, *a);
        }
    }
    for (bb, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(out.add(bb * width), *a);
    }
    BN
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
