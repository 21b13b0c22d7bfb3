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
/// compile-time constant (16, 8, 4, 3, 2, 1: B is covered greedily) so the accumulators stay in registers
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
        // Few basis functions leave registers free: each walk over the row then covers up to 64
        // channels (4 × 16), so an entry's coefficients are loaded once for all of them.
        let widest = 16 / nb.clamp(1, 16);
        let mut l0 = 0;
        while l0 < width {
            let lanes = match ((width - l0) / 16).min(widest) {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            let mut b0 = 0;
            while b0 < nb {
                let x = src.as_ptr().add(l0);
                let c = s.coefs.as_ptr().add(b0);
                let out = yrow.add(b0 * width + l0);
                macro_rules! tile {
                    ($bn:literal) => {
                        match lanes {
                            4 => {
                                tile_f32_avx512::<$bn, 4>(cols, &coef_at, &ahead, x, c, width, out)
                            }
                            2 => {
                                tile_f32_avx512::<$bn, 2>(cols, &coef_at, &ahead, x, c, width, out)
                            }
                            _ => {
                                tile_f32_avx512::<$bn, 1>(cols, &coef_at, &ahead, x, c, width, out)
                            }
                        }
                    };
                }
                // SAFETY: every column is below col_bound (src long enough, asserted above) and
                // every coefficient block in range (constructor contract); l0 + 16·lanes ≤ width
                // and b0 + tile height ≤ nb.
                b0 += match nb - b0 {
                    16.. => tile_f32_avx512::<16, 1>(cols, &coef_at, &ahead, x, c, width, out),
                    8.. => tile!(8),
                    4.. => tile!(4),
                    // Three (the radial functions of an SO(2)-constrained harmonic:3 basis) in one
                    // walk over the row rather than two.
                    3 => tile!(3),
                    2.. => tile!(2),
                    _ => tile!(1),
                };
            }
            l0 += 16 * lanes;
        }
    }
}

/// How far ahead the AVX-512 gather prefetches coefficients: in a stream (4 KiB), and through an index.
#[cfg(target_arch = "x86_64")]
const PREFETCH_FLOATS: usize = 1024;
#[cfg(target_arch = "x86_64")]
const PREFETCH_ENTRIES: usize = 16;

/// One `BN × 16·LN` tile of the AVX-512 gather: `out[bb·width + l] = Σ_j c[coef_at(j) + bb] ·
/// x[cols[j]·width + l]`, prefetching `c + ahead(j)` on the way; returns `BN`.
///
/// # Safety
/// Every `x[cols[j]·width .. + 16·LN]`, `c[coef_at(j) .. + BN]` and `out[bb·width .. + 16·LN]`
/// (bb < BN) must be in bounds (`ahead` may point anywhere: a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_f32_avx512<const BN: usize, const LN: usize>(
    cols: &[u32],
    coef_at: &impl Fn(usize) -> usize,
    ahead: &impl Fn(usize) -> usize,
    x: *const f32,
    c: *const f32,
    width: usize,
    out: *mut f32,
) -> usize {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); LN]; BN];
    for (j, &q) in cols.iter().enumerate() {
        let xq = x.add(q as usize * width);
        let mut xv = [_mm512_setzero_ps(); LN];
        for (l, v) in xv.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(xq.add(16 * l));
        }
        let cj = c.add(coef_at(j));
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(ahead(j)) as *const i8);
        for (bb, a) in acc.iter_mut().enumerate() {
            let cv = _mm512_set1_ps(*cj.add(bb));
            for (al, &v) in a.iter_mut().zip(&xv) {
                *al = _mm512_fmadd_ps(cv, v, *al);
            }
        }
    }
    for (bb, a) in acc.iter().enumerate() {
        for (l, al) in a.iter().enumerate() {
            _mm512_storeu_ps(out.add(bb * width + 16 * l), *al);
        }
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

/// A gathered tile `[row][b][s][c]` (rows of B·S·width) reordered to `[row][s][b][c]`: one row of
/// B·width per (row, signal), the layout the weights `[b][c][o]` multiply.
fn signal_major<T: Copy>(y: &[T], basis: usize, batch: usize, width: usize, z: &mut [T]) {
    let wide = basis * batch * width;
    for (yr, zr) in y.chunks_exact(wide).zip(z.chunks_exact_mut(wide)) {
        for b in 0..basis {
            for s in 0..batch {
                let from = (b * batch + s) * width;
                let to = (s * basis + b) * width;
                zr[to..to + width].copy_from_slice(&yr[from..from + width]);
            }
        }
    }
}

/// The shape of a gathered tile: `m` rows of `[b][s][c]` (B basis functions × S signals × `width`
/// channels), as [`gather`] leaves it for a batch laid out with every signal in each row.
#[derive(Clone, Copy)]
pub(crate) struct Tile {
    pub(crate) rows: usize,
    pub(crate) basis: usize,
    pub(crate) batch: usize,
    pub(crate) width: usize,
}

impl Tile {
    fn len(&self) -> usize {
        self.rows * self.basis * self.batch * self.width
    }

    /// Offset of (row, signal) `i = r·S + s`'s first value, and of value `kk = b·width + c` from it.
    #[inline(always)]
    fn row_base(&self, i: usize) -> usize {
        (i / self.batch) * self.basis * self.batch * self.width + (i % self.batch) * self.width
    }

    #[inline(always)]
    fn k_offset(&self, kk: usize) -> usize {
        (kk / self.width) * self.batch * self.width + kk % self.width
    }
}

/// `out[(r·S + s)·n + o] = Σ_{b,c} y[r][b][s][c] · w[(b·width + c)·n + o]`: the block product of a
/// gathered tile with weights `[B·width × n]`, one output row per (row, signal). The AVX-512 kernel
/// reads the tile where it lies; elsewhere it is first reordered (into `scratch`, grown as needed)
/// for a GEMM.
pub(crate) fn tile_product<T: Real>(
    t: Tile,
    y: &[T],
    w: &[T],
    n: usize,
    out: &mut [T],
    scratch: &mut Vec<T>,
) {
    let (m, k) = (t.rows * t.batch, t.basis * t.width);
    #[cfg(target_arch = "x86_64")]
    {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && t.batch > 1
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
            unsafe { tile_product_f32_avx512(t, y32, w32, n, o32) };
            return;
        }
    }
    if t.batch == 1 {
        gemm(m, k, n, &y[..t.len()], w, out);
    } else {
        scratch.resize(scratch.len().max(t.len()), T::default());
        signal_major(&y[..t.len()], t.basis, t.batch, t.width, scratch);
        gemm(m, k, n, &scratch[..t.len()], w, out);
    }
}

/// [`tile_product`] for `f32` with AVX-512: tiles of 8 output rows × 16 columns in eight 512-bit
/// accumulators while (b, c) streams by, each row reading its own stretch of the tile; the last
/// columns, when `n` is not a multiple of 16, with masked loads and stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_product_f32_avx512(t: Tile, y: &[f32], w: &[f32], n: usize, out: &mut [f32]) {
    let (m, k) = (t.rows * t.batch, t.basis * t.width);
    assert!(y.len() >= t.len() && w.len() >= k * n && out.len() >= m * n);
    let mut i0 = 0;
    while i0 < m {
        let rows = (m - i0).min(8);
        let mut base = [0usize; 8];
        for (r, b) in base.iter_mut().enumerate().take(rows) {
            *b = t.row_base(i0 + r);
        }
        // 32 columns per pass where they fit (16 accumulators), so each broadcast feeds two FMAs.
        let mut o0 = 0;
        while o0 < n {
            if n - o0 >= 32 {
                product_tile::<2>(t, y, w, n, out, (i0, rows), &base, (o0, FULL));
                o0 += 32;
            } else {
                product_tile::<1>(t, y, w, n, out, (i0, rows), &base, (o0, lanes(n - o0)));
                o0 += 16;
            }
        }
        i0 += rows;
    }
}

/// All 16 lanes of a vector.
#[cfg(target_arch = "x86_64")]
const FULL: u16 = u16::MAX;

/// The mask of the first `min(n, 16)` lanes.
#[cfg(target_arch = "x86_64")]
fn lanes(n: usize) -> u16 {
    if n >= 16 {
        FULL
    } else {
        (1u16 << n) - 1
    }
}

/// Output rows `i0 .. i0 + rows` (at most 8), columns `o0 .. o0 + 16·NT` of [`tile_product`], each
/// row reading the tile from `base[r]`; the last vector's lanes limited to `mask` (the columns that
/// exist).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn product_tile<const NT: usize>(
    t: Tile,
    y: &[f32],
    w: &[f32],
    n: usize,
    out: &mut [f32],
    (i0, rows): (usize, usize),
    base: &[usize; 8],
    (o0, mask): (usize, u16),
) {
    use std::arch::x86_64::*;
    let plane = t.batch * t.width;
    let mut acc = [[_mm512_setzero_ps(); NT]; 8];
    // Lanes of vector u: all but the last, which keeps `mask`.
    let lane = |u: usize| if u + 1 == NT { mask } else { FULL };
    for b in 0..t.basis {
        for c in 0..t.width {
            let off = b * plane + c;
            let wp = w.as_ptr().add((b * t.width + c) * n + o0);
            // SAFETY (for the caller's asserted lengths): b < B, c < width, and the lanes read are
            // columns below n, so every address read is below (b·width + c)·n + n ≤ k·n (masked-out
            // lanes are not read); base[r] + off is inside the tile for every row below `rows`.
            let mut wv = [_mm512_setzero_ps(); NT];
            for (u, v) in wv.iter_mut().enumerate() {
                *v = _mm512_maskz_loadu_ps(lane(u), wp.add(16 * u));
            }
            for (r, a) in acc.iter_mut().enumerate().take(rows) {
                let v = _mm512_set1_ps(*y.get_unchecked(base[r] + off));
                for (au, &wu) in a.iter_mut().zip(&wv) {
                    *au = _mm512_fmadd_ps(v, wu, *au);
                }
            }
        }
    }
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (u, au) in a.iter().enumerate() {
            let p = out.as_mut_ptr().add((i0 + r) * n + o0 + 16 * u);
            _mm512_mask_storeu_ps(p, lane(u), *au);
        }
    }
}

/// `acc[(b·width + c)·n + o] += Σ_{r,s} y[r][b][s][c] · g[(r·S + s)·n + o]`: a gathered tile's share of
/// a weight gradient (`Yᵀ G` over the tile's (row, signal) pairs), in the tile's own layout with
/// AVX-512, through a reordered copy in `scratch` (grown as needed) and a GEMM elsewhere.
pub(crate) fn tile_weight_gradient<T: Real>(
    t: Tile,
    y: &[T],
    g: &[T],
    n: usize,
    acc: &mut [T],
    scratch: &mut Vec<T>,
) {
    let (m, k) = (t.rows * t.batch, t.basis * t.width);
    #[cfg(target_arch = "x86_64")]
    {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            // SAFETY: T is f32 (checked above): the same slices at their own type.
            let (y32, g32, a32) = unsafe {
                (
                    std::slice::from_raw_parts(y.as_ptr() as *const f32, y.len()),
                    std::slice::from_raw_parts(g.as_ptr() as *const f32, g.len()),
                    std::slice::from_raw_parts_mut(acc.as_mut_ptr() as *mut f32, acc.len()),
                )
            };
            // SAFETY: AVX-512F detected above; lengths are asserted inside.
            unsafe { tile_weight_gradient_f32_avx512(t, y32, g32, n, a32) };
            return;
        }
    }
    let z = if t.batch == 1 {
        &y[..t.len()]
    } else {
        scratch.resize(scratch.len().max(t.len()), T::default());
        signal_major(&y[..t.len()], t.basis, t.batch, t.width, scratch);
        &scratch[..t.len()]
    };
    // acc (k × n) += Zᵀ (k × m) · G (m × n)
    T::gemm(
        k,
        m,
        n,
        z,
        1,
        k as isize,
        &g[..m * n],
        n as isize,
        1,
        T::from_f64(1.0),
        acc,
    );
}

/// [`tile_weight_gradient`] for `f32` with AVX-512, `n % 16 == 0`: tiles of 8 rows (b, c) × 16
/// columns of `acc` in registers while the tile's (row, signal) pairs stream by.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_weight_gradient_f32_avx512(
    t: Tile,
    y: &[f32],
    g: &[f32],
    n: usize,
    acc: &mut [f32],
) {
    let (m, k) = (t.rows * t.batch, t.basis * t.width);
    assert!(y.len() >= t.len() && g.len() >= m * n && acc.len() >= k * n);
    let mut kk0 = 0;
    while kk0 < k {
        let kr = (k - kk0).min(8);
        let mut koff = [0usize; 8];
        for (j, o) in koff.iter_mut().enumerate().take(kr) {
            *o = t.k_offset(kk0 + j);
        }
        // 32 columns per pass where they fit, so each broadcast feeds two FMAs.
        let mut o0 = 0;
        while o0 < n {
            if n - o0 >= 32 {
                weight_gradient_tile::<2>(t, y, g, n, acc, (kk0, kr), &koff, (o0, FULL));
                o0 += 32;
            } else {
                let mask = lanes(n - o0);
                weight_gradient_tile::<1>(t, y, g, n, acc, (kk0, kr), &koff, (o0, mask));
                o0 += 16;
            }
        }
        kk0 += kr;
    }
}

/// Rows `kk0 .. kk0 + kr` (at most 8; tile offsets `koff`), columns `o0 .. o0 + 16·NT` of
/// [`tile_weight_gradient`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_gradient_tile<const NT: usize>(
    t: Tile,
    y: &[f32],
    g: &[f32],
    n: usize,
    acc: &mut [f32],
    (kk0, kr): (usize, usize),
    koff: &[usize; 8],
    (o0, mask): (usize, u16),
) {
    use std::arch::x86_64::*;
    let row_len = t.basis * t.batch * t.width;
    let mut a = [[_mm512_setzero_ps(); NT]; 8];
    let lane = |u: usize| if u + 1 == NT { mask } else { FULL };
    for r in 0..t.rows {
        for s in 0..t.batch {
            let base = r * row_len + s * t.width;
            // SAFETY (for the caller's asserted lengths): (r·S + s) < m rows of g of n values and
            // the lanes read are columns below n (masked-out lanes are not read); base + koff[j] is
            // inside the tile for every (row, signal, b, c).
            let gp = g.as_ptr().add((r * t.batch + s) * n + o0);
            let mut gv = [_mm512_setzero_ps(); NT];
            for (u, v) in gv.iter_mut().enumerate() {
                *v = _mm512_maskz_loadu_ps(lane(u), gp.add(16 * u));
            }
            for (j, aj) in a.iter_mut().enumerate().take(kr) {
                let v = _mm512_set1_ps(*y.get_unchecked(base + koff[j]));
                for (au, &gu) in aj.iter_mut().zip(&gv) {
                    *au = _mm512_fmadd_ps(v, gu, *au);
                }
            }
        }
    }
    for (j, aj) in a.iter().enumerate().take(kr) {
        for (u, au) in aj.iter().enumerate() {
            let p = acc.as_mut_ptr().add((kk0 + j) * n + o0 + 16 * u);
            let m = lane(u);
            _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), *au));
        }
    }
}
