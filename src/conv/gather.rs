//! The gather at the heart of the operator: `Y[p, b, :] = Σ_e coef[e, b] · src[col_e, :]`, one row
//! `p` at a time, over a CSR structure (the operator, or its transpose for the backward pass), and the
//! block products that follow it.
//!
//! Three sets of kernels, chosen per call by a [`SimdPath`]: for `f32` with AVX-512, a tile of up to
//! 16 basis functions × 16 channels in registers while the gather streams over the row's entries, so
//! each loaded input value feeds up to sixteen fused multiply-adds; with AVX2 + FMA the same scheme in
//! 8-lane registers, its tiles sized for the sixteen `ymm` registers (6 × 16 or 2 × 32); and a
//! portable path of plain loops (which the compiler vectorizes for the target's baseline) and a
//! general GEMM. `f64` runs the portable loops, compiled with FMA on the two SIMD paths.

use super::real::Real;
use std::ops::Range;

/// Which kernels a convolution pass runs on: chosen per operator view
/// ([`ConvOperator::with_simd`](super::ConvOperator::with_simd)), so that tests and benchmarks can run
/// paths side by side in one process without a global switch.
///
/// The paths differ for `f32`; `f64` (the gradient-check type) runs the portable loops on every path,
/// compiled with fused multiply-adds on the two SIMD ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimdPath {
    /// What the environment variable [`SIMD_ENV`] names, where it is set to a path the processor
    /// has; otherwise the fastest the processor has.
    #[default]
    Auto,
    /// AVX-512F kernels (16-lane `zmm` tiles), with the AVX2 ones for widths that are a multiple of 8
    /// but not of 16 and for the gather through the transposed index (where they are faster).
    Avx512,
    /// AVX2 + FMA kernels (8-lane `ymm` tiles).
    Avx2,
    /// No explicit SIMD: loops the compiler vectorizes for the target's baseline, and the block
    /// products by a general GEMM (`matrixmultiply`, which picks its own kernels).
    Portable,
}

/// The environment variable [`SimdPath::Auto`] reads, once per process: `avx512`, `avx2` or
/// `portable` (case-insensitive). A value naming an unknown path or one the processor lacks is ignored
/// (the fastest path runs; [`SimdPath::resolve`] on `Auto` says which).
pub const SIMD_ENV: &str = "MANIFOLD_CNN_SIMD";

impl SimdPath {
    /// The concrete paths, fastest first.
    pub const ALL: [SimdPath; 3] = [SimdPath::Avx512, SimdPath::Avx2, SimdPath::Portable];

    /// Its name: `auto`, `avx512`, `avx2` or `portable` (what [`SIMD_ENV`] and
    /// [`parse`](Self::parse) accept).
    pub fn name(self) -> &'static str {
        match self {
            SimdPath::Auto => "auto",
            SimdPath::Avx512 => "avx512",
            SimdPath::Avx2 => "avx2",
            SimdPath::Portable => "portable",
        }
    }

    /// The path named `name` (as [`name`](Self::name) writes it, any case), if any.
    pub fn parse(name: &str) -> Option<SimdPath> {
        [SimdPath::Auto]
            .into_iter()
            .chain(SimdPath::ALL)
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this processor can run the path (`Auto` and `Portable` always can).
    pub fn is_available(self) -> bool {
        self.isa().is_some()
    }

    /// The concrete path a pass on this path runs: `Auto` resolved (see [`SIMD_ENV`]), any other
    /// path itself.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) naming the path and the
    /// processor's features if the processor cannot run it.
    pub fn resolve(self) -> crate::Result<SimdPath> {
        match self.isa() {
            Some(isa) => Ok(isa.path()),
            None => Err(crate::Error::InvalidParameter {
                name: "simd",
                message: format!(
                    "the {} path needs {}, which this processor lacks (it runs: {})",
                    self.name(),
                    match self {
                        SimdPath::Avx512 => "AVX-512F (and AVX2 + FMA)",
                        _ => "AVX2 + FMA",
                    },
                    SimdPath::ALL
                        .iter()
                        .filter(|p| p.is_available())
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    pub(crate) fn isa(self) -> Option<Isa> {
        match self {
            SimdPath::Auto => Some(Isa::auto()),
            SimdPath::Avx512 => Isa::has_avx512().then_some(Isa::Avx512),
            SimdPath::Avx2 => Isa::has_avx2().then_some(Isa::Avx2),
            SimdPath::Portable => Some(Isa::Portable),
        }
    }
}

impl std::fmt::Display for SimdPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A resolved [`SimdPath`]: the kernels a pass dispatches to. The dispatchers check the processor's
/// features again before each unsafe call (a cached bit test), so a value of this type is never
/// trusted for soundness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2,
    Portable,
}

impl Isa {
    pub(crate) fn path(self) -> SimdPath {
        match self {
            Isa::Avx512 => SimdPath::Avx512,
            Isa::Avx2 => SimdPath::Avx2,
            Isa::Portable => SimdPath::Portable,
        }
    }

    /// AVX-512F, and AVX2 + FMA beside it (the AVX-512 path falls back to the AVX2 kernels).
    fn has_avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f") && Isa::has_avx2()
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    fn has_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// What [`SimdPath::Auto`] runs: [`SIMD_ENV`]'s path where it names one the processor has, else
    /// the fastest. Read once.
    pub(crate) fn auto() -> Isa {
        static AUTO: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *AUTO.get_or_init(|| {
            let asked = std::env::var(SIMD_ENV)
                .ok()
                .and_then(|v| SimdPath::parse(&v));
            match asked
                .filter(|&p| p != SimdPath::Auto)
                .and_then(SimdPath::isa)
            {
                Some(isa) => isa,
                None if Isa::has_avx512() => Isa::Avx512,
                None if Isa::has_avx2() => Isa::Avx2,
                None => Isa::Portable,
            }
        })
    }

    /// Whether a pass of `T` on this path takes the AVX-512 `f32` kernels (features checked).
    fn avx512<T: Real>(self) -> bool {
        self == Isa::Avx512 && T::IS_F32 && Isa::has_avx512()
    }

    /// Whether it takes the AVX2 `f32` kernels (features checked); the AVX-512 path includes them.
    fn avx2<T: Real>(self) -> bool {
        self != Isa::Portable && T::IS_F32 && Isa::has_avx2()
    }

    /// Whether it takes the portable loops compiled with AVX2 + FMA (any `T`; features checked).
    fn fma(self) -> bool {
        self != Isa::Portable && Isa::has_avx2()
    }
}

/// Whether `T` is `f32` itself: the kernels are chosen by [`Real::IS_F32`] (`Real` is sealed, so only
/// `f32` sets it), and the casts below check the type as well (the comparison folds to a constant).
fn is_f32<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `v` viewed as `f32`, for the `f32` kernels.
///
/// # Panics
/// Unless `T` is `f32`: the kernels are chosen by [`Real::IS_F32`], so this holds.
fn as_f32<T: Real>(v: &[T]) -> &[f32] {
    assert!(is_f32::<T>(), "an f32 kernel was given another type");
    // SAFETY: `T` is `f32` (asserted above), so the cast is the identity.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()) }
}

/// `v` viewed as `f32`, mutably (see [`as_f32`]).
fn as_f32_mut<T: Real>(v: &mut [T]) -> &mut [f32] {
    assert!(is_f32::<T>(), "an f32 kernel was given another type");
    // SAFETY: as in `as_f32`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut f32, v.len()) }
}

/// One CSR-like structure to gather over, with its index bounds established once by its maker so the
/// gather checks no entry on the way.
///
/// Each row of the caller (a vertex) is `stack` consecutive rows here: 1 where an entry carries the
/// coefficients of all the gathered functions, B where each function has its own row of entries with
/// one coefficient each ([`Layout::PerFunction`](super::Layout::PerFunction)). Either way the gather of
/// a vertex writes B × width values, function by function.
pub(crate) struct Structure<'a, T> {
    offsets: &'a [u32],
    /// Rows per caller's row.
    stack: usize,
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
        stack: usize,
        cols: &'a [u32],
        coef_entry: Option<&'a [u32]>,
        coefs: &'a [T],
        basis: usize,
        col_bound: usize,
    ) -> Self {
        assert!(stack > 0, "at least one row per caller's row");
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
            stack,
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

/// Gathers the caller's rows `rows` into `y` (`rows.len() × B × width`) with the kernels of `isa`.
pub(crate) fn gather<T: Real>(
    s: &Structure<T>,
    rows: Range<usize>,
    src: &[T],
    width: usize,
    y: &mut [T],
    isa: Isa,
) {
    // A vertex's `stack` rows are consecutive, and so are their outputs (function by function).
    let rows = rows.start * s.stack..rows.end * s.stack;
    #[cfg(target_arch = "x86_64")]
    {
        // Through the transposed index (the input gradient), the AVX-512 path takes the AVX2 tiles:
        // each entry's coefficients are a cache line at a scattered address, and a 16-high tile
        // issues 16 broadcast loads per entry against that line where the AVX2 tiles issue 6 per
        // walk, so more entries' misses are in flight at once. Measured side by side on bull ×4,
        // 16 → 16 (BENCHMARKS.md, issue 12): input gradient 5.75 s with 16-high tiles, 3.71 s
        // with the AVX2 ones.
        let tiled16 = isa.avx512::<T>() && width.is_multiple_of(16) && s.coef_entry.is_none();
        if tiled16 || (isa.avx2::<T>() && width.is_multiple_of(8)) {
            // T is f32 (checked by `avx512`/`avx2`): the same slices at their own type.
            let s32 = Structure {
                offsets: s.offsets,
                stack: s.stack,
                cols: s.cols,
                coef_entry: s.coef_entry,
                coefs: as_f32(s.coefs),
                basis: s.basis,
                col_bound: s.col_bound,
            };
            let (src32, y32) = (as_f32(src), as_f32_mut(y));
            if tiled16 {
                // SAFETY: the processor supports AVX-512F (checked by `avx512`); buffer lengths are
                // checked inside.
                unsafe { gather_f32_avx512(&s32, rows, src32, width, y32) };
            } else {
                // SAFETY: the processor supports AVX2 and FMA (checked by `avx2`); buffer lengths
                // are checked inside.
                unsafe { gather_f32_avx2(&s32, rows, src32, width, y32) };
            }
            return;
        }
        if isa.fma() {
            // SAFETY: the processor supports the features the function was compiled for (`fma`).
            unsafe { gather_avx2(s, rows, src, width, y) };
            return;
        }
    }
    gather_rows::<T, false>(s, rows, src, width, y)
}

/// The gather for `f32` with AVX2 + FMA: [`gather_f32_avx512`]'s scheme in 8-lane registers. A tile of
/// up to 6 basis functions × 16 channels (12 accumulators, two loaded input vectors and one broadcast:
/// 15 of the 16 `ymm` registers), or 2 × 32 where B ≤ 2, streams over the row's entries with the
/// coefficient prefetch of the AVX-512 kernel; B = 16 walks each row three times (6 + 6 + 4), the
/// row's coefficients staying in L1 after the first. Needs `width % 8 == 0`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_f32_avx2(
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
        let ahead = |j: usize| prefetch_target(s, &entries, j);
        let yrow = y.as_mut_ptr().add(i * row_len);
        let widest = if nb <= 2 { 4 } else { 2 };
        let mut l0 = 0;
        while l0 < width {
            let lanes = match ((width - l0) / 8).min(widest) {
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
                    ($bn:literal, $ln:literal) => {
                        tile_f32_avx2::<$bn, $ln>(cols, &coef_at, &ahead, x, c, width, out)
                    };
                }
                // SAFETY: every column is below col_bound (src long enough, asserted above) and
                // every coefficient block in range (constructor contract); l0 + 8·lanes ≤ width
                // and b0 + tile height ≤ nb.
                b0 += match (lanes, nb - b0) {
                    (4, 2..) => tile!(2, 4),
                    (4, _) => tile!(1, 4),
                    (2, 6..) => tile!(6, 2),
                    (2, 4 | 5) => tile!(4, 2),
                    (2, 3) => tile!(3, 2),
                    (2, 2) => tile!(2, 2),
                    (2, _) => tile!(1, 2),
                    (_, 8..) => tile!(8, 1),
                    (_, 4..) => tile!(4, 1),
                    (_, 3) => tile!(3, 1),
                    (_, 2) => tile!(2, 1),
                    _ => tile!(1, 1),
                };
            }
            l0 += 8 * lanes;
        }
    }
}

/// One `BN × 8·LN` tile of the AVX2 gather: `out[bb·width + l] = Σ_j c[coef_at(j) + bb] ·
/// x[cols[j]·width + l]`, prefetching `c + ahead(j)` on the way; returns `BN`.
///
/// # Safety
/// The processor must support AVX2 and FMA. Every `x[cols[j]·width .. + 8·LN]`,
/// `c[coef_at(j) .. + BN]` and `out[bb·width .. + 8·LN]` (bb < BN) must be in bounds (`ahead` may
/// point anywhere: a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_f32_avx2<const BN: usize, const LN: usize>(
    cols: &[u32],
    coef_at: &impl Fn(usize) -> usize,
    ahead: &impl Fn(usize) -> usize,
    x: *const f32,
    c: *const f32,
    width: usize,
    out: *mut f32,
) -> usize {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); LN]; BN];
    for (j, &q) in cols.iter().enumerate() {
        let xq = x.add(q as usize * width);
        let mut xv = [_mm256_setzero_ps(); LN];
        for (l, v) in xv.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(xq.add(8 * l));
        }
        let cj = c.add(coef_at(j));
        _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(ahead(j)) as *const i8);
        for (bb, a) in acc.iter_mut().enumerate() {
            let cv = _mm256_broadcast_ss(&*cj.add(bb));
            for (al, &v) in a.iter_mut().zip(&xv) {
                *al = _mm256_fmadd_ps(cv, v, *al);
            }
        }
    }
    for (bb, a) in acc.iter().enumerate() {
        for (l, al) in a.iter().enumerate() {
            _mm256_storeu_ps(out.add(bb * width + 8 * l), *al);
        }
    }
    BN
}

/// The offset in `coefs` (relative to the row's tile) to prefetch while entry `j` of the row
/// `entries` is read: the operator streams its coefficients from memory faster than the hardware
/// prefetcher fetches them unless asked ahead (4 KiB along the stream, or 16 entries ahead through
/// the transposed index).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_target(s: &Structure<f32>, entries: &Range<usize>, j: usize) -> usize {
    match s.coef_entry {
        None => s.coef_offset(entries.start + j) + PREFETCH_FLOATS,
        Some(_) => {
            let e = entries.start + j + PREFETCH_ENTRIES;
            if e < s.cols.len() {
                s.coef_offset(e)
            } else {
                0
            }
        }
    }
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
        let ahead = |j: usize| prefetch_target(s, &entries, j);
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

/// How far ahead the SIMD gathers prefetch coefficients: in a stream (4 KiB), and through an index.
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
    let fits = |len: usize, a: usize, b: usize| a.checked_mul(b).is_some_and(|ab| len >= ab);
    assert!(
        fits(y.len(), m, k) && fits(w.len(), k, n) && fits(out.len(), m, n) && n.is_multiple_of(16)
    );
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
pub(crate) fn gemm<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    y: &[T],
    w: &[T],
    out: &mut [T],
    isa: Isa,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if isa.avx512::<T>() && n.is_multiple_of(16) {
            // T is f32 (checked by `avx512`): the same slices at their own type.
            let (y32, w32, o32) = (as_f32(y), as_f32(w), as_f32_mut(out));
            // SAFETY: AVX-512F checked by `avx512`; lengths are asserted inside.
            unsafe { gemm_f32_avx512(m, k, n, y32, w32, o32) };
            return;
        }
    }
    let _ = isa;
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
    /// `(rows · S, B · width)`: the output rows of its block product and the length of each.
    ///
    /// # Panics
    /// If either overflows.
    fn dims(&self) -> (usize, usize) {
        let m = self.rows.checked_mul(self.batch);
        let k = self.basis.checked_mul(self.width);
        m.zip(k).expect("block product: tile dimensions overflow")
    }

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
    isa: Isa,
) {
    let (m, k) = t.dims();
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = isa.avx512::<T>() && t.batch > 1;
        if avx512 || (isa != Isa::Avx512 && isa.avx2::<T>()) {
            // T is f32 (checked by `avx512`/`avx2`): the same slices at their own type.
            let (y32, w32, o32) = (as_f32(y), as_f32(w), as_f32_mut(out));
            if avx512 {
                // SAFETY: AVX-512F checked by `avx512`; lengths are asserted inside.
                unsafe { tile_product_f32_avx512(t, y32, w32, n, o32) };
            } else {
                // SAFETY: AVX2 + FMA checked by `avx2`; lengths are asserted inside.
                unsafe { tile_product_f32_avx2(t, y32, w32, n, o32) };
            }
            return;
        }
    }
    if t.batch == 1 {
        gemm(m, k, n, &y[..t.len()], w, out, isa);
    } else {
        scratch.resize(scratch.len().max(t.len()), T::default());
        signal_major(&y[..t.len()], t.basis, t.batch, t.width, scratch);
        gemm(m, k, n, &scratch[..t.len()], w, out, isa);
    }
}

/// [`tile_product`] for `f32` with AVX-512: tiles of 8 output rows × 16 columns in eight 512-bit
/// accumulators while (b, c) streams by, each row reading its own stretch of the tile; the last
/// columns, when `n` is not a multiple of 16, with masked loads and stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_product_f32_avx512(t: Tile, y: &[f32], w: &[f32], n: usize, out: &mut [f32]) {
    let (m, k) = t.dims();
    t.check_buffers(y.len(), (w.len(), k), (out.len(), m), n);
    // 32 columns per pass where they fit (16 accumulators), so each broadcast feeds two FMAs.
    register_tiles::<8>(
        m,
        n,
        16,
        |r| t.row_base(r),
        |at, base, o0, step| {
            // SAFETY: AVX-512F (this function's); lengths checked above; the columns of the step exist
            // (masked to n).
            unsafe {
                match step {
                    Step::Two => product_tile::<2>(t, y, w, n, out, at, base, (o0, FULL)),
                    Step::One => product_tile::<1>(t, y, w, n, out, at, base, (o0, FULL)),
                    Step::Tail => product_tile::<1>(t, y, w, n, out, at, base, (o0, lanes(n - o0))),
                }
            }
        },
    );
}

/// A step across the columns of a register tile: two vectors, one, or one with its last lanes masked
/// (the columns left are fewer than a vector).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Step {
    Two,
    One,
    Tail,
}

/// The loop the register-tiled block products share: the `m` rows in blocks of at most `R`, each
/// block with the tile offset `offset(row)` of its rows, and within a block the `n` columns in steps
/// of two vectors of `vector` lanes where they fit, else one, else the masked rest; `tile(at, offsets, o0,
/// step)` computes one step, `at` being the block's first row and its number of rows.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn register_tiles<const R: usize>(
    m: usize,
    n: usize,
    vector: usize,
    offset: impl Fn(usize) -> usize,
    mut tile: impl FnMut((usize, usize), &[usize; R], usize, Step),
) {
    let mut i0 = 0;
    while i0 < m {
        let rows = (m - i0).min(R);
        let mut offsets = [0usize; R];
        for (r, o) in offsets.iter_mut().enumerate().take(rows) {
            *o = offset(i0 + r);
        }
        let mut o0 = 0;
        while o0 < n {
            let (step, width) = match n - o0 {
                left if left >= 2 * vector => (Step::Two, 2 * vector),
                left if left >= vector => (Step::One, vector),
                _ => (Step::Tail, vector),
            };
            tile((i0, rows), &offsets, o0, step);
            o0 += width;
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
    isa: Isa,
) {
    let (m, k) = t.dims();
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = isa.avx512::<T>();
        if avx512 || isa.avx2::<T>() {
            // T is f32 (checked by `avx512`/`avx2`): the same slices at their own type.
            let (y32, g32, a32) = (as_f32(y), as_f32(g), as_f32_mut(acc));
            if avx512 {
                // SAFETY: AVX-512F checked by `avx512`; lengths are asserted inside.
                unsafe { tile_weight_gradient_f32_avx512(t, y32, g32, n, a32) };
            } else {
                // SAFETY: AVX2 + FMA checked by `avx2`; lengths are asserted inside.
                unsafe { tile_weight_gradient_f32_avx2(t, y32, g32, n, a32) };
            }
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
    let (m, k) = t.dims();
    t.check_buffers(y.len(), (g.len(), m), (acc.len(), k), n);
    // 32 columns per pass where they fit, so each broadcast feeds two FMAs.
    register_tiles::<8>(
        k,
        n,
        16,
        |j| t.k_offset(j),
        |at, koff, o0, step| {
            // SAFETY: AVX-512F (this function's); lengths checked above; the columns of the step exist
            // (masked to n).
            unsafe {
                match step {
                    Step::Two => weight_gradient_tile::<2>(t, y, g, n, acc, at, koff, (o0, FULL)),
                    Step::One => weight_gradient_tile::<1>(t, y, g, n, acc, at, koff, (o0, FULL)),
                    Step::Tail => {
                        weight_gradient_tile::<1>(t, y, g, n, acc, at, koff, (o0, lanes(n - o0)))
                    }
                }
            }
        },
    );
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

impl Tile {
    /// Panics unless `y` holds the tile, `a` (`a_rows × n`) and `b` (`b_rows × n`) their matrices:
    /// what the block-product kernels need before their unchecked reads and writes. Checked
    /// arithmetic: a wrapped product would pass the comparison.
    fn check_buffers(
        &self,
        y: usize,
        (a, a_rows): (usize, usize),
        (b, b_rows): (usize, usize),
        n: usize,
    ) {
        let tile = [self.basis, self.batch, self.width]
            .iter()
            .try_fold(self.rows, |acc, &f| acc.checked_mul(f));
        assert!(
            tile.is_some_and(|l| y >= l),
            "block product: tile of {y} values too short for {} rows × B {} × S {} × width {}",
            self.rows,
            self.basis,
            self.batch,
            self.width
        );
        for (what, len, rows) in [("first", a, a_rows), ("second", b, b_rows)] {
            assert!(
                rows.checked_mul(n).is_some_and(|need| len >= need),
                "block product: {what} matrix of {len} values too short for {rows} × {n}"
            );
        }
    }
}

/// The mask of the first `n` (≤ 8) lanes of an 8-lane vector, for `_mm256_maskload_ps`.
///
/// # Safety
/// The processor must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lanes8(n: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n.min(8) as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Loads 8 lanes at `p`, or with `TAIL` only those of `mask` (the others read as 0, not read).
///
/// # Safety
/// AVX2; the lanes read must be in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load8<const TAIL: bool>(
    p: *const f32,
    mask: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    if TAIL {
        _mm256_maskload_ps(p, mask)
    } else {
        _mm256_loadu_ps(p)
    }
}

/// Stores 8 lanes at `p`, or with `TAIL` only those of `mask`.
///
/// # Safety
/// AVX2; the lanes written must be in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store8<const TAIL: bool>(
    p: *mut f32,
    mask: std::arch::x86_64::__m256i,
    v: std::arch::x86_64::__m256,
) {
    use std::arch::x86_64::*;
    if TAIL {
        _mm256_maskstore_ps(p, mask, v)
    } else {
        _mm256_storeu_ps(p, v)
    }
}

/// Output rows per tile of the AVX2 block products: 6 rows × 16 columns are 12 accumulators, with
/// two loaded weight vectors and one broadcast 15 of the 16 `ymm` registers.
#[cfg(target_arch = "x86_64")]
const ROWS_AVX2: usize = 6;

/// [`tile_product`] for `f32` with AVX2 + FMA: tiles of 6 output rows × 16 columns in twelve 8-lane
/// accumulators while (b, c) streams by, each row reading its own stretch of the tile; the last
/// columns, when `n` is not a multiple of 8, with masked loads and stores.
///
/// # Safety
/// The processor must support AVX2 and FMA (lengths are checked here).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_product_f32_avx2(t: Tile, y: &[f32], w: &[f32], n: usize, out: &mut [f32]) {
    let (m, k) = t.dims();
    t.check_buffers(y.len(), (w.len(), k), (out.len(), m), n);
    register_tiles::<ROWS_AVX2>(
        m,
        n,
        8,
        |r| t.row_base(r),
        |at, base, o0, step| {
            // SAFETY: AVX2 + FMA (this function's); lengths checked above; the columns of the step
            // exist (masked to n).
            unsafe {
                match step {
                    Step::Two => product_tile_avx2::<2, false>(t, y, w, n, out, at, base, o0),
                    Step::One => product_tile_avx2::<1, false>(t, y, w, n, out, at, base, o0),
                    Step::Tail => product_tile_avx2::<1, true>(t, y, w, n, out, at, base, o0),
                }
            }
        },
    );
}

/// Output rows `i0 .. i0 + rows` (at most 6), columns `o0 .. o0 + 8·NT` of [`tile_product`] (with
/// `TAIL`, the last vector limited to the columns below `n`).
///
/// # Safety
/// AVX2 + FMA; the caller's buffers checked by [`Tile::check_buffers`] and `o0 + 8·NT ≤ n` unless
/// `TAIL`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn product_tile_avx2<const NT: usize, const TAIL: bool>(
    t: Tile,
    y: &[f32],
    w: &[f32],
    n: usize,
    out: &mut [f32],
    (i0, rows): (usize, usize),
    base: &[usize; ROWS_AVX2],
    o0: usize,
) {
    use std::arch::x86_64::*;
    let plane = t.batch * t.width;
    let mask = lanes8(n - o0 - 8 * (NT - 1));
    let mut acc = [[_mm256_setzero_ps(); NT]; ROWS_AVX2];
    for b in 0..t.basis {
        for c in 0..t.width {
            let off = b * plane + c;
            let wp = w.as_ptr().add((b * t.width + c) * n + o0);
            // SAFETY (for the checked lengths): b < B, c < width, and the lanes read are columns
            // below n, so every address read is below (b·width + c)·n + n ≤ k·n; base[r] + off is
            // inside the tile for every row below `rows`.
            let mut wv = [_mm256_setzero_ps(); NT];
            for (u, v) in wv.iter_mut().enumerate() {
                *v = if u + 1 == NT {
                    load8::<TAIL>(wp.add(8 * u), mask)
                } else {
                    _mm256_loadu_ps(wp.add(8 * u))
                };
            }
            for (r, a) in acc.iter_mut().enumerate().take(rows) {
                let v = _mm256_broadcast_ss(y.get_unchecked(base[r] + off));
                for (au, &wu) in a.iter_mut().zip(&wv) {
                    *au = _mm256_fmadd_ps(v, wu, *au);
                }
            }
        }
    }
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (u, &au) in a.iter().enumerate() {
            let p = out.as_mut_ptr().add((i0 + r) * n + o0 + 8 * u);
            if u + 1 == NT {
                store8::<TAIL>(p, mask, au);
            } else {
                _mm256_storeu_ps(p, au);
            }
        }
    }
}

/// [`tile_weight_gradient`] for `f32` with AVX2 + FMA: tiles of 6 rows (b, c) × 16 columns of `acc`
/// in twelve 8-lane registers while the tile's (row, signal) pairs stream by; the last columns, when
/// `n` is not a multiple of 8, masked.
///
/// # Safety
/// The processor must support AVX2 and FMA (lengths are checked here).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_weight_gradient_f32_avx2(t: Tile, y: &[f32], g: &[f32], n: usize, acc: &mut [f32]) {
    let (m, k) = t.dims();
    t.check_buffers(y.len(), (g.len(), m), (acc.len(), k), n);
    register_tiles::<ROWS_AVX2>(
        k,
        n,
        8,
        |j| t.k_offset(j),
        |at, koff, o0, step| {
            // SAFETY: AVX2 + FMA (this function's); lengths checked above; the columns of the step
            // exist (masked to n).
            unsafe {
                match step {
                    Step::Two => {
                        weight_gradient_tile_avx2::<2, false>(t, y, g, n, acc, at, koff, o0)
                    }
                    Step::One => {
                        weight_gradient_tile_avx2::<1, false>(t, y, g, n, acc, at, koff, o0)
                    }
                    Step::Tail => {
                        weight_gradient_tile_avx2::<1, true>(t, y, g, n, acc, at, koff, o0)
                    }
                }
            }
        },
    );
}

/// Rows `kk0 .. kk0 + kr` (at most 6; tile offsets `koff`), columns `o0 .. o0 + 8·NT` of
/// [`tile_weight_gradient`] (with `TAIL`, the last vector limited to the columns below `n`).
///
/// # Safety
/// AVX2 + FMA; the caller's buffers checked by [`Tile::check_buffers`] and `o0 + 8·NT ≤ n` unless
/// `TAIL`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn weight_gradient_tile_avx2<const NT: usize, const TAIL: bool>(
    t: Tile,
    y: &[f32],
    g: &[f32],
    n: usize,
    acc: &mut [f32],
    (kk0, kr): (usize, usize),
    koff: &[usize; ROWS_AVX2],
    o0: usize,
) {
    use std::arch::x86_64::*;
    let row_len = t.basis * t.batch * t.width;
    let mask = lanes8(n - o0 - 8 * (NT - 1));
    let mut a = [[_mm256_setzero_ps(); NT]; ROWS_AVX2];
    for r in 0..t.rows {
        for s in 0..t.batch {
            let base = r * row_len + s * t.width;
            // SAFETY (for the checked lengths): (r·S + s) < m rows of g of n values and the lanes
            // read are columns below n; base + koff[j] is inside the tile for every (row, signal,
            // b, c).
            let gp = g.as_ptr().add((r * t.batch + s) * n + o0);
            let mut gv = [_mm256_setzero_ps(); NT];
            for (u, v) in gv.iter_mut().enumerate() {
                *v = if u + 1 == NT {
                    load8::<TAIL>(gp.add(8 * u), mask)
                } else {
                    _mm256_loadu_ps(gp.add(8 * u))
                };
            }
            for (j, aj) in a.iter_mut().enumerate().take(kr) {
                let v = _mm256_broadcast_ss(y.get_unchecked(base + koff[j]));
                for (au, &gu) in aj.iter_mut().zip(&gv) {
                    *au = _mm256_fmadd_ps(v, gu, *au);
                }
            }
        }
    }
    for (j, aj) in a.iter().enumerate().take(kr) {
        for (u, &au) in aj.iter().enumerate() {
            let p = acc.as_mut_ptr().add((kk0 + j) * n + o0 + 8 * u);
            if u + 1 == NT {
                store8::<TAIL>(p, mask, _mm256_add_ps(load8::<TAIL>(p, mask), au));
            } else {
                _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), au));
            }
        }
    }
}
