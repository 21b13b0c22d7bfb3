//! Kernels on the tangent plane and the holonomy constraint.
//!
//! A kernel is a function `k(r, θ)` on the tangent plane at the base vertex, in polar coordinates of
//! the vertex's polar frame ([`frames`](crate::frames); θ is the scaled polar angle). It is written in a
//! finite basis, `k = Σ_n c_n φ_n`, and every family here evaluates all its basis functions at a list of
//! points without allocating, for the convolution to call at exponential-map sample points.
//!
//! # One radius: the unit disc
//! Every basis lives on the unit disc: radii (ring edges, profile centres, Gaussian widths σ_r) are in
//! units of the disc radius, so no basis takes a radius. A convolution reads the kernel at `r/ρ` with ρ
//! the exp-map table's radius ([`ExpMapTable::radius`](crate::expmap::ExpMapTable::radius)): the disc of
//! the kernel is exactly the disc the table samples, and the same coefficients fit a mesh in any units.
//!
//! # Bases
//! - [`HarmonicBasis`]: radial profiles `R_i(r)` ([`RadialBasis`]: hat functions, i.e. piecewise-linear
//!   interpolation, or Gaussians) times real circular harmonics `1, cos mθ, sin mθ`, `m = 1..=M`:
//!   `R(1 + 2M)` functions.
//! - [`PolarBins`]: indicators of `R` rings × `A` sectors.
//! - [`GaussianMixture`]: `R × A` Gaussians in polar coordinates, centred on a polar grid, with the
//!   angle difference wrapped to `(−π, π]`.
//!
//! # Transport of a kernel
//! An element `g` of O(2) moves a kernel by `(g·k)(v) = k(g⁻¹v)`: the seed's
//! `(Γ k)(v) = k(Γ⁻¹ v)`. On harmonic coefficients, with `c_m = A_m + iB_m` the coefficient of
//! `e^{imθ}` up to conjugation:
//!
//! ```text
//! rotation by γ:            (A, B)_m ↦ (A cos mγ − B sin mγ,  A sin mγ + B cos mγ)   (c_m ↦ e^{−imγ} c_m)
//! reflection ψ ↦ a − ψ:     (A, B)_m ↦ (A cos ma + B sin ma,  A sin ma − B cos ma)   (conjugation)
//! ```
//!
//! Polar bins and Gaussian mixtures are permuted by the rotations by multiples of `2π/A` and the
//! reflections across axes at multiples of `π/A` (the group `D_A` of their grid); any other element
//! moves a kernel out of their span ([`KernelBasis::transform`] returns `None`), though the moved
//! kernel can always be evaluated ([`KernelBasis::transported_values`]).
//!
//! # The holonomy constraint
//! A kernel is well defined after transport when `g·k = k` for every `g` in the holonomy group
//! ([`holonomy`](crate::holonomy)). [`KernelBasis::constrain`] returns the invariant subspace as an
//! explicit list of basis functions ([`ConstrainedBasis`]), orthonormal in coefficient space, and the
//! orthogonal projection onto it (the group average).
//!
//! - **Harmonics: selection.** Harmonic `m` survives the rotations iff `e^{imh} = 1` for every
//!   rotation `h`: all `m` (trivial), `n | m` (`C_n`), `m = 0` (SO(2)). A reflection `ψ ↦ a − ψ`
//!   keeps one function per surviving `m`, `cos m(θ − a/2)`, symmetric about its axis. Dimensions,
//!   with `R` radial profiles: trivial `R(1 + 2M)`; `C_n` `R(1 + 2⌊M/n⌋)`; SO(2) `R`; `Z2` `R(1 + M)`;
//!   `D_n` `R(1 + ⌊M/n⌋)`; O(2) `R`.
//! - **Polar bins and Gaussian mixtures: group averaging.** If the group lies in `D_A` (finite, `n`
//!   divides `A`, reflection axes on the grid), the average over it permutes the sectors and the
//!   invariant kernels are those constant on its orbits (one basis vector per orbit and ring). If not
//!   (SO(2), O(2), `n ∤ A`, or an off-grid reflection axis), a bin kernel invariant under it must be
//!   constant on each ring: its jumps would have to form orbits of the group inside the grid, and no
//!   orbit of a rotation by `2π/n ∉ (2π/A)ℤ` (or of an off-grid reflection) stays in the grid. So the
//!   projection averages over whole rings, which is exact for bins. A Gaussian mixture holds *no*
//!   nonzero kernel invariant under such a group (a sum of `A` Gaussians around a ring keeps a ripple at
//!   harmonic `A`); its projection also averages over rings, and the result is invariant up to that
//!   ripple, of relative size about `2 exp(−σ_θ² A²/2)` ([`ConstrainedBasis::is_exact`] is then false).

mod constrained;
mod harmonic;
mod polar;

pub use constrained::ConstrainedBasis;
pub use harmonic::{HarmonicBasis, RadialBasis, RadialProfile};
pub use polar::{GaussianMixture, PolarBins};

use crate::holonomy::HolonomyGroup;
use crate::transport::O2;

/// A point of the tangent plane in polar coordinates: radius `r ≥ 0` and polar angle `θ` (any real;
/// every basis is 2π-periodic in it).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolarPoint {
    /// Radius.
    pub r: f64,
    /// Polar angle, radians.
    pub theta: f64,
}

impl PolarPoint {
    /// The point `(r, θ)`.
    pub fn new(r: f64, theta: f64) -> PolarPoint {
        PolarPoint { r, theta }
    }

    /// The point at Cartesian coordinates `(x, y)` of the polar frame.
    pub fn from_cartesian(x: f64, y: f64) -> PolarPoint {
        PolarPoint {
            r: x.hypot(y),
            theta: y.atan2(x),
        }
    }

    /// `g⁻¹` applied to the point: where `(g·k)(p) = k(g⁻¹ p)` reads the kernel.
    pub fn pulled_back(self, g: O2) -> PolarPoint {
        PolarPoint {
            r: self.r,
            theta: g.inverse().apply(self.theta),
        }
    }
}

/// A basis of kernels on the tangent plane.
#[derive(Clone, Debug, PartialEq)]
pub enum KernelBasis {
    /// Radial profiles × circular harmonics.
    Harmonic(HarmonicBasis),
    /// Rings × sectors indicators.
    Bins(PolarBins),
    /// Gaussians on a polar grid.
    Gaussian(GaussianMixture),
}

impl From<HarmonicBasis> for KernelBasis {
    fn from(b: HarmonicBasis) -> Self {
        KernelBasis::Harmonic(b)
    }
}
impl From<PolarBins> for KernelBasis {
    fn from(b: PolarBins) -> Self {
        KernelBasis::Bins(b)
    }
}
impl From<GaussianMixture> for KernelBasis {
    fn from(b: GaussianMixture) -> Self {
        KernelBasis::Gaussian(b)
    }
}

impl KernelBasis {
    /// Number of basis functions `N`.
    pub fn len(&self) -> usize {
        match self {
            KernelBasis::Harmonic(b) => b.len(),
            KernelBasis::Bins(b) => b.len(),
            KernelBasis::Gaussian(b) => b.len(),
        }
    }

    /// Whether the basis is empty (never, for a basis built by the constructors).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f(n, φ_n(p))` for the basis functions that may be nonzero at `p` (all for harmonics and
    /// Gaussians, the one bin holding `p` for bins), in increasing `n`. No allocation.
    #[inline]
    pub fn for_each_value(&self, p: PolarPoint, f: impl FnMut(usize, f64)) {
        match self {
            KernelBasis::Harmonic(b) => b.for_each_value(p, f),
            KernelBasis::Bins(b) => b.for_each_value(p, f),
            KernelBasis::Gaussian(b) => b.for_each_value(p, f),
        }
    }

    /// Every basis function at every point: `out[i·N + n] = φ_n(points[i])`. No allocation.
    ///
    /// # Panics
    /// If `out.len() != points.len() · N`.
    pub fn evaluate(&self, points: &[PolarPoint], out: &mut [f64]) {
        let n = self.len();
        assert_eq!(
            out.len(),
            points.len() * n,
            "out must hold points.len() × len() values"
        );
        for (p, row) in points.iter().zip(out.chunks_exact_mut(n.max(1))) {
            row.fill(0.0);
            self.for_each_value(*p, |i, v| row[i] = v);
        }
    }

    /// Every basis function at every point of a polar grid: `out[(j·R + i)·N + n] =
    /// φ_n(radii[i], angles[j])` with `R = radii.len()`, the order of an exp-map table's samples
    /// ([`ExpMapTable::sample_index`](crate::expmap::ExpMapTable::sample_index)). Each family
    /// evaluates its radial factors once per radius and its angular ones once per angle; the values
    /// are those of [`evaluate`](Self::evaluate) at the same points, to the bit.
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · N`.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::kernel::{KernelBasis, PolarPoint};
    /// let b = KernelBasis::parse("harmonic:2:3").unwrap();
    /// let (radii, angles) = ([0.25, 0.75], [0.0, 1.0, 2.0]);
    /// let mut grid = vec![0.0; 2 * 3 * b.len()];
    /// b.evaluate_grid(&radii, &angles, &mut grid);
    /// let mut one = vec![0.0; b.len()];
    /// b.evaluate(&[PolarPoint::new(0.75, 2.0)], &mut one);
    /// assert_eq!(&grid[(2 * 2 + 1) * b.len()..(2 * 2 + 2) * b.len()], &one[..]);
    /// ```
    pub fn evaluate_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        match self {
            KernelBasis::Harmonic(b) => b.evaluate_grid(radii, angles, out),
            KernelBasis::Bins(b) => b.evaluate_grid(radii, angles, out),
            KernelBasis::Gaussian(b) => b.evaluate_grid(radii, angles, out),
        }
    }

    /// The kernel `Σ c_n φ_n` at one point.
    ///
    /// # Panics
    /// If `coeffs.len() != N`.
    pub fn kernel_value(&self, coeffs: &[f64], p: PolarPoint) -> f64 {
        assert_eq!(
            coeffs.len(),
            self.len(),
            "one coefficient per basis function"
        );
        let mut s = 0.0;
        self.for_each_value(p, |i, v| s += coeffs[i] * v);
        s
    }

    /// The kernel at every point: `out[i] = k(points[i])`.
    ///
    /// # Panics
    /// If `coeffs.len() != N` or `out.len() != points.len()`.
    pub fn kernel_values(&self, coeffs: &[f64], points: &[PolarPoint], out: &mut [f64]) {
        assert_eq!(out.len(), points.len(), "one output per point");
        for (p, o) in points.iter().zip(out) {
            *o = self.kernel_value(coeffs, *p);
        }
    }

    /// The moved kernel `g·k` at every point, `out[i] = k(g⁻¹ points[i])`: exact for any `g`.
    ///
    /// # Panics
    /// As [`kernel_values`](Self::kernel_values).
    pub fn transported_values(
        &self,
        coeffs: &[f64],
        g: O2,
        points: &[PolarPoint],
        out: &mut [f64],
    ) {
        assert_eq!(out.len(), points.len(), "one output per point");
        for (p, o) in points.iter().zip(out) {
            *o = self.kernel_value(coeffs, p.pulled_back(g));
        }
    }

    /// Coefficients of `g·k` in this basis, if the basis span is preserved by `g`: always for
    /// harmonics; for bins and Gaussians when `g` lies in `D_A` (angle on the grid within 1e-9 rad).
    ///
    /// # Panics
    /// If `coeffs.len() != N`.
    pub fn transform(&self, g: O2, coeffs: &[f64]) -> Option<Vec<f64>> {
        assert_eq!(
            coeffs.len(),
            self.len(),
            "one coefficient per basis function"
        );
        match self {
            KernelBasis::Harmonic(b) => Some(b.transform(g, coeffs)),
            KernelBasis::Bins(b) => b.grid().transform(g, coeffs, false),
            KernelBasis::Gaussian(b) => b.grid().transform(g, coeffs, true),
        }
    }

    /// Parses a basis spec: `harmonic:R:M` (R Gaussian radial profiles × harmonics up to order M),
    /// `bins:R:A` or `gaussians:R:A` (R rings × A sectors); every basis lives on the unit disc.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) (`basis`) naming the spec.
    pub fn parse(s: &str) -> crate::Result<KernelBasis> {
        let bad = |message: String| crate::Error::InvalidParameter {
            name: "basis",
            message,
        };
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize| -> crate::Result<usize> {
            parts
                .get(i)
                .and_then(|p| p.parse::<usize>().ok())
                .ok_or_else(|| bad(format!("'{s}': expected KIND:N:M")))
        };
        if parts.len() != 3 {
            return Err(bad(format!("'{s}': expected KIND:N:M")));
        }
        match parts[0] {
            "harmonic" => {
                // The order is read as u32 itself: a larger number is an error, not truncated.
                let order = parts[2].parse::<u32>().map_err(|_| {
                    bad(format!(
                        "'{s}': the harmonic order '{}' is not an integer in 0..=2^32−1",
                        parts[2]
                    ))
                })?;
                Ok(KernelBasis::Harmonic(HarmonicBasis::new(
                    RadialBasis::new(RadialProfile::Gaussian, num(1)?)?,
                    order,
                )?))
            }
            "bins" => Ok(KernelBasis::Bins(PolarBins::new(num(1)?, num(2)?)?)),
            "gaussians" => Ok(KernelBasis::Gaussian(GaussianMixture::new(
                num(1)?,
                num(2)?,
            )?)),
            _ => Err(bad(format!(
                "'{s}': kind must be harmonic, bins or gaussians"
            ))),
        }
    }

    /// The subspace of kernels invariant under `group`, as an explicit basis, with the projection onto
    /// it (see the [module docs](self)).
    pub fn constrain(&self, group: &HolonomyGroup) -> ConstrainedBasis {
        ConstrainedBasis::new(self.clone(), *group)
    }
}
