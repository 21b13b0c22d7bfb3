//! Radial profiles × circular harmonics.

use super::PolarPoint;
use crate::error::{Error, Num, Result};
use crate::transport::O2;

/// The shape of the radial profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RadialProfile {
    /// Hat functions `max(0, 1 − |r − c_i|/Δ)` on `[0, 1]` (zero beyond 1): piecewise-linear
    /// interpolation between the centres, summing to 1 on `[0, 1]`.
    Hat,
    /// Gaussians `exp(−(r − c_i)²/(2Δ²))`, not truncated.
    Gaussian,
}

/// `count` radial profiles centred at `c_i = i·Δ`, `Δ = 1/(count − 1)`, on the unit interval `[0, 1]`
/// (a single profile is centred at 0 with `Δ = 1`).
///
/// Radii are in units of the disc radius: the convolution evaluates the profiles at `r/ρ` with ρ the
/// exp-map table's radius (see the [module docs](super)), so the basis never carries a radius of its
/// own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RadialBasis {
    profile: RadialProfile,
    count: usize,
}

/// Largest number of radial profiles, sectors or rings a basis may have.
const MAX_COUNT: usize = 1 << 16;

pub(crate) fn check_count(name: &'static str, n: usize) -> Result<()> {
    if n == 0 || n > MAX_COUNT {
        return Err(Error::InvalidParameter {
            name,
            message: format!("must be in 1..={MAX_COUNT} (got {n})"),
        });
    }
    Ok(())
}

pub(crate) fn check_positive(name: &'static str, x: f64) -> Result<()> {
    if !(x.is_finite() && x > 0.0) {
        return Err(Error::InvalidParameter {
            name,
            message: format!("must be positive and finite (got {})", Num(x)),
        });
    }
    Ok(())
}

impl RadialBasis {
    /// `count` profiles of the given shape on the unit interval `[0, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `count` is 0 or above 65,536.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::kernel::{RadialBasis, RadialProfile};
    /// let hats = RadialBasis::new(RadialProfile::Hat, 3).unwrap();
    /// assert_eq!(hats.spacing(), 0.5);
    /// // Hats interpolate linearly: they sum to 1 on the unit interval and vanish beyond it.
    /// let sum: f64 = (0..3).map(|i| hats.value(i, 0.3)).sum();
    /// assert!((sum - 1.0).abs() < 1e-15);
    /// assert_eq!(hats.value(2, 1.01), 0.0);
    /// ```
    pub fn new(profile: RadialProfile, count: usize) -> Result<RadialBasis> {
        check_count("radial count", count)?;
        Ok(RadialBasis { profile, count })
    }

    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no profiles (never).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The shape.
    pub fn profile(&self) -> RadialProfile {
        self.profile
    }

    /// Spacing Δ of the centres.
    pub fn spacing(&self) -> f64 {
        if self.count > 1 {
            1.0 / (self.count - 1) as f64
        } else {
            1.0
        }
    }

    /// Centre of profile `i`.
    pub fn center(&self, i: usize) -> f64 {
        i as f64 * self.spacing()
    }

    /// Profile `i` at radius `r` (in units of the disc radius).
    #[inline]
    pub fn value(&self, i: usize, r: f64) -> f64 {
        let d = self.spacing();
        let x = (r - self.center(i)) / d;
        match self.profile {
            RadialProfile::Hat => {
                if r > 1.0 {
                    0.0
                } else {
                    (1.0 - x.abs()).max(0.0)
                }
            }
            RadialProfile::Gaussian => (-0.5 * x * x).exp(),
        }
    }
}

/// Radial profiles × real circular harmonics `1, cos mθ, sin mθ` (`m = 1..=M`).
///
/// Function `i·(2M + 1) + h` is `R_i(r)` times harmonic `h`: `h = 0` is 1, `h = 2m − 1` is `cos mθ`,
/// `h = 2m` is `sin mθ`. (At `r = 0` the harmonics `m > 0` are multiplied by `R_i(0)`, which is nonzero
/// only for the first profile; sample points of the convolution have `r > 0`.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HarmonicBasis {
    radial: RadialBasis,
    max_order: u32,
}

impl HarmonicBasis {
    /// Harmonics up to order `max_order` on the given radial profiles.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `max_order > 4096`.
    pub fn new(radial: RadialBasis, max_order: u32) -> Result<HarmonicBasis> {
        if max_order > 4096 {
            return Err(Error::InvalidParameter {
                name: "max_order",
                message: format!("must be at most 4096 (got {max_order})"),
            });
        }
        Ok(HarmonicBasis { radial, max_order })
    }

    /// The radial profiles.
    pub fn radial(&self) -> &RadialBasis {
        &self.radial
    }

    /// The highest harmonic `M`.
    pub fn max_order(&self) -> u32 {
        self.max_order
    }

    /// Harmonics per radial profile, `2M + 1`.
    pub fn harmonics(&self) -> usize {
        2 * self.max_order as usize + 1
    }

    /// Number of functions, `R(2M + 1)`.
    pub fn len(&self) -> usize {
        self.radial.len() * self.harmonics()
    }

    /// Whether there are no functions (never).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of `R_i(r)·cos mθ` (`sin = false`, or `m = 0`) or `R_i(r)·sin mθ`.
    ///
    /// # Panics
    /// If `i` or `m` is out of range, or `sin` with `m = 0`.
    pub fn index(&self, i: usize, m: u32, sin: bool) -> usize {
        assert!(
            i < self.radial.len() && m <= self.max_order && !(sin && m == 0),
            "no such function"
        );
        let h = if m == 0 {
            0
        } else {
            2 * m as usize - usize::from(!sin)
        };
        i * self.harmonics() + h
    }

    /// Calls `f(n, φ_n(p))` for every function, in order (harmonics by the angle-addition recurrence).
    #[inline]
    pub fn for_each_value(&self, p: PolarPoint, mut f: impl FnMut(usize, f64)) {
        let (s1, c1) = p.theta.sin_cos();
        let hn = self.harmonics();
        for i in 0..self.radial.len() {
            let rv = self.radial.value(i, p.r);
            let base = i * hn;
            f(base, rv);
            let (mut c, mut s) = (1.0, 0.0);
            for m in 1..=self.max_order as usize {
                let cn = c * c1 - s * s1;
                s = s * c1 + c * s1;
                c = cn;
                f(base + 2 * m - 1, rv * c);
                f(base + 2 * m, rv * s);
            }
        }
    }

    /// Every function at every point of a polar grid: `out[(j·R + i)·N + n] = φ_n(radii[i], angles[j])`
    /// with `R = radii.len()` (the order of an exp-map table's samples). The radial profiles are
    /// evaluated once per radius and the harmonics once per angle (by the recurrence of
    /// [`for_each_value`](Self::for_each_value), so the values are the same to the bit).
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · N`.
    pub fn evaluate_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        let (hn, nr) = (self.harmonics(), self.radial.len());
        let nb = hn * nr;
        assert_eq!(
            out.len(),
            radii.len() * angles.len() * nb,
            "out: R·A·N values"
        );
        let profiles: Vec<f64> = radii
            .iter()
            .flat_map(|&r| (0..nr).map(move |i| self.radial.value(i, r)))
            .collect();
        let mut harmonic = vec![1.0; hn];
        for (j, &theta) in angles.iter().enumerate() {
            let (s1, c1) = theta.sin_cos();
            let (mut c, mut s) = (1.0, 0.0);
            for m in 1..=self.max_order as usize {
                let cn = c * c1 - s * s1;
                s = s * c1 + c * s1;
                c = cn;
                harmonic[2 * m - 1] = c;
                harmonic[2 * m] = s;
            }
            for (i, rv) in profiles.chunks_exact(nr).enumerate() {
                let k = j * radii.len() + i;
                for (row, &rv) in out[k * nb..(k + 1) * nb].chunks_exact_mut(hn).zip(rv) {
                    row[0] = rv;
                    for (o, &h) in row[1..].iter_mut().zip(&harmonic[1..]) {
                        *o = rv * h;
                    }
                }
            }
        }
    }

    /// Coefficients of `g·k` (see the [module docs](super)).
    pub fn transform(&self, g: O2, coeffs: &[f64]) -> Vec<f64> {
        let mut out = coeffs.to_vec();
        let hn = self.harmonics();
        for i in 0..self.radial.len() {
            for m in 1..=self.max_order as usize {
                let (ic, is) = (i * hn + 2 * m - 1, i * hn + 2 * m);
                let (a, b) = (coeffs[ic], coeffs[is]);
                let (s, c) = (m as f64 * g.angle).sin_cos();
                if g.reflect {
                    out[ic] = a * c + b * s;
                    out[is] = a * s - b * c;
                } else {
                    out[ic] = a * c - b * s;
                    out[is] = a * s + b * c;
                }
            }
        }
        out
    }
}
