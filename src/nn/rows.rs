//! The elementwise loops of the fused layers, one feature row at a time, each compiled three times
//! (AVX-512, AVX2 + FMA, portable) and chosen at run time: the crate is built for the baseline x86-64,
//! whose SSE2 leaves these selects and conversions scalar.

// Indices over slices cut to one length first: the form the vectorizer turns into vector code.
#![allow(clippy::needless_range_loop)]
// `!(v > 0)` is true for NaN as well, which a ReLU maps to 0 (as `f64::max(NaN, 0.0)` does).
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use super::raw::Float;

/// Defines `fn $name<T: Float>(args) { body }` that runs `body` compiled for the best of AVX-512F,
/// AVX2 + FMA or the baseline that the processor supports.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident<T: Float>($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        pub(crate) fn $name<T: Float>($($arg: $ty),*) {
            #[inline(always)]
            fn imp<T: Float>($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512<T: Float>($($arg: $ty),*) {
                    imp($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<T: Float>($($arg: $ty),*) {
                    imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above, for `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

multiversion! {
    /// `acc += a·x`, in `f64`.
    fn add_weighted<T: Float>(acc: &mut [f64], x: &[T], a: f64) {
        let n = acc.len();
        let x = &x[..n];
        for j in 0..n {
            acc[j] += a * x[j].to_f64();
        }
    }
}

multiversion! {
    /// `acc += a·(x − m)²`, in `f64`.
    fn add_weighted_squares<T: Float>(acc: &mut [f64], x: &[T], m: &[f64], a: f64) {
        let n = acc.len();
        let (x, m) = (&x[..n], &m[..n]);
        for j in 0..n {
            let d = x[j].to_f64() - m[j];
            acc[j] += a * d * d;
        }
    }
}

multiversion! {
    /// `y = scale·x + shift`, then `max(·, 0)` when `relu`.
    fn affine<T: Float>(y: &mut [T], x: &[T], scale: &[T], shift: &[T], relu: bool) {
        let n = y.len();
        let (x, scale, shift) = (&x[..n], &scale[..n], &shift[..n]);
        let zero = T::default();
        for j in 0..n {
            let v = scale[j] * x[j] + shift[j];
            y[j] = if relu && !(v > zero) { zero } else { v };
        }
    }
}

/// The gradient a norm's affine map receives: `g`, or 0 where its ReLU cut (`y ≤ 0`).
#[inline(always)]
fn passed<T: Float>(g: T, y: T, relu: bool) -> T {
    let zero = T::default();
    if relu && !(y > zero) {
        zero
    } else {
        g
    }
}

multiversion! {
    /// `sg += ĝ` and `sgx += ĝ·(x − m)·iv` with `ĝ` the gradient that passed the ReLU.
    fn add_norm_sums<T: Float>(
        sums: (&mut [f64], &mut [f64]),
        xyg: (&[T], &[T], &[T]),
        m: &[T],
        iv: &[T],
        relu: bool,
    ) {
        let (sg, sgx) = sums;
        let n = sg.len();
        let (sgx, m, iv) = (&mut sgx[..n], &m[..n], &iv[..n]);
        let (x, y, g) = (&xyg.0[..n], &xyg.1[..n], &xyg.2[..n]);
        for j in 0..n {
            let gk = passed(g[j], y[j], relu);
            sg[j] += gk.to_f64();
            sgx[j] += (gk * (x[j] - m[j]) * iv[j]).to_f64();
        }
    }
}

multiversion! {
    /// `d = p·ĝ − a·(q + u·(x − m))`: a norm's input gradient (see `NormOp`).
    fn norm_input_gradient<T: Float>(
        d: &mut [T],
        xyg: (&[T], &[T], &[T]),
        pqu: (&[T], &[T], &[T]),
        m: &[T],
        a: T,
        relu: bool,
    ) {
        let n = d.len();
        let (x, y, g, m) = (&xyg.0[..n], &xyg.1[..n], &xyg.2[..n], &m[..n]);
        let (p, q, u) = (&pqu.0[..n], &pqu.1[..n], &pqu.2[..n]);
        for j in 0..n {
            let gk = passed(g[j], y[j], relu);
            d[j] = p[j] * gk - a * (q[j] + u[j] * (x[j] - m[j]));
        }
    }
}

multiversion! {
    /// Where `x > y`: `y = x` and `slot_of = slot` (ties keep the earlier slot).
    fn max_into<T: Float>(y: &mut [T], slot_of: &mut [f32], x: &[T], slot: f32) {
        let n = y.len();
        let (slot_of, x) = (&mut slot_of[..n], &x[..n]);
        for j in 0..n {
            let more = x[j] > y[j];
            y[j] = if more { x[j] } else { y[j] };
            slot_of[j] = if more { slot } else { slot_of[j] };
        }
    }
}

multiversion! {
    /// `d += g` where `slot_of == slot`.
    fn add_where_slot<T: Float>(d: &mut [T], slot_of: &[f32], g: &[T], slot: f32) {
        let n = d.len();
        let (slot_of, g) = (&slot_of[..n], &g[..n]);
        let zero = T::default();
        for j in 0..n {
            let gv = g[j];
            d[j] += if slot_of[j] == slot { gv } else { zero };
        }
    }
}

multiversion! {
    /// `d += s·x`.
    fn add_scaled<T: Float>(d: &mut [T], x: &[T], s: T) {
        let n = d.len();
        let x = &x[..n];
        for j in 0..n {
            d[j] += s * x[j];
        }
    }
}

multiversion! {
    /// The regular nonlinearity over whole rows of `c` channels (see `RegularOp`): for every band
    /// (its `w` coefficient channels, consecutive in `perm`), forward `out = P ReLU(A x)`, or with
    /// `backward` `out = Aᵀ (1_{A x > 0} ⊙ Pᵀ g)`. `at` (`Aᵀ`) and `p` are `[w][n]`; `w ≤ 33`,
    /// `n ≤ 256`.
    #[allow(clippy::too_many_arguments)]
    fn regular_rows<T: Float>(
        x: &[T],
        g: &[T],
        out: &mut [T],
        cwn: (usize, usize, usize),
        perm: &[u32],
        at: &[T],
        p: &[T],
        backward: bool,
    ) {
        let (c, w, n) = cwn;
        let (mut v, mut gv) = ([T::default(); 256], [T::default(); 256]);
        let (mut xb, mut gb) = ([T::default(); 33], [T::default(); 33]);
        let (v, gv) = (&mut v[..n], &mut gv[..n]);
        let (at, p) = (&at[..w * n], &p[..w * n]);
        for ((orow, xrow), grow) in out
            .chunks_exact_mut(c)
            .zip(x.chunks_exact(c))
            .zip(g.chunks_exact(c))
        {
            for idx in perm.chunks_exact(w) {
                for k in 0..w {
                    xb[k] = xrow[idx[k] as usize];
                    if backward {
                        gb[k] = grow[idx[k] as usize];
                    }
                }
                for t in 0..n {
                    v[t] = T::default();
                    gv[t] = T::default();
                }
                // Pᵀ g only where the backward needs it: the forward would throw it away.
                if backward {
                    for j in 0..w {
                        let (aj, pj) = (&at[j * n..(j + 1) * n], &p[j * n..(j + 1) * n]);
                        let (cj, gj) = (xb[j], gb[j]);
                        for t in 0..n {
                            v[t] += aj[t] * cj;
                            gv[t] += pj[t] * gj;
                        }
                    }
                } else {
                    for j in 0..w {
                        let (aj, cj) = (&at[j * n..(j + 1) * n], xb[j]);
                        for t in 0..n {
                            v[t] += aj[t] * cj;
                        }
                    }
                }
                // ReLU: forward keeps v where positive, backward passes the gradient there.
                let (src, mat) = if backward {
                    for t in 0..n {
                        if !(v[t] > T::default()) {
                            gv[t] = T::default();
                        }
                    }
                    (&*gv, at)
                } else {
                    for t in 0..n {
                        if !(v[t] > T::default()) {
                            v[t] = T::default();
                        }
                    }
                    (&*v, p)
                };
                for j in 0..w {
                    let row = &mat[j * n..(j + 1) * n];
                    let mut acc = T::default();
                    for t in 0..n {
                        acc += row[t] * src[t];
                    }
                    orow[idx[j] as usize] = acc;
                }
            }
        }
    }
}
