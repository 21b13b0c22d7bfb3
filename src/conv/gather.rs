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
        if width % 16 == 0 && nb % 4 == 0 {
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
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports the features the function was compiled for.
            unsafe { gather_avx2(s, rows, src, width, y) };
            return;
        }
    }
    gather_rows::<T, false>(s, rows, src, width, y)
}
