//! Scalar types the convolution runs in: `f32` for speed, `f64` for gradient checks.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Mul};

mod sealed {
    /// Only `f32` and `f64` are [`Real`](super::Real): the SIMD kernels view `f32` slices through it.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point type the [`ConvOperator`](super::ConvOperator) can run in: `f32` or `f64` (sealed).
pub trait Real:
    sealed::Sealed
    + Copy
    + Default
    + Debug
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + 'static
{
    /// Whether `Self` is `f32`, the type the SIMD kernels are written for: the kernels are chosen by
    /// this constant, and their `f32` views of `Self` slices rely on it.
    const IS_F32: bool;
    /// Conversion from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64`.
    fn to_f64(self) -> f64;
    /// `self · a + b` with one rounding (a fused multiply-add where the processor has one).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Row-major `C (m×n) = A (m×k) · B (k×n) + beta·C`, with `A` and `B` given by row and column strides.
    ///
    /// # Panics
    /// If a stride is negative, or `A`, `B` or `C` does not fit in its slice (sizes whose products
    /// overflow included).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        rsa: isize,
        csa: isize,
        b: &[Self],
        rsb: isize,
        csb: isize,
        beta: Self,
        c: &mut [Self],
    );
}

/// Panics unless a `rows × cols` matrix with strides `rs`, `cs` lies inside a slice of `len`. Checked
/// arithmetic: a wrapped offset would pass the comparison and hand the kernel an out-of-bounds matrix.
fn check_extent(len: usize, rows: usize, cols: usize, rs: isize, cs: isize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = usize::try_from(rs)
        .ok()
        .zip(usize::try_from(cs).ok())
        .and_then(|(rs, cs)| {
            (rows - 1)
                .checked_mul(rs)?
                .checked_add((cols - 1).checked_mul(cs)?)
        });
    assert!(
        last.is_some_and(|last| last < len),
        "gemm: a {rows} × {cols} matrix with strides ({rs}, {cs}) exceeds its slice of {len}"
    );
}

macro_rules! real_impl {
    ($t:ty, $gemm:path, $is_f32:expr) => {
        impl Real for $t {
            const IS_F32: bool = $is_f32;

            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                a: &[Self],
                rsa: isize,
                csa: isize,
                b: &[Self],
                rsb: isize,
                csb: isize,
                beta: Self,
                c: &mut [Self],
            ) {
                check_extent(a.len(), m, k, rsa, csa);
                check_extent(b.len(), k, n, rsb, csb);
                assert!(
                    m.checked_mul(n).is_some_and(|mn| c.len() >= mn),
                    "gemm: output of {} values too small for {m} × {n}",
                    c.len()
                );
                // SAFETY: the extents of A, B and C were checked against their slices above.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        beta,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
            }
        }
    };
}

real_impl!(f32, matrixmultiply::sgemm, true);
real_impl!(f64, matrixmultiply::dgemm, false);
