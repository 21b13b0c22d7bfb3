//! Bases on a polar grid of `R` rings × `A` sectors: bins and Gaussian mixtures.

use super::harmonic::{check_count, check_positive};
use super::PolarPoint;
use crate::error::Result;
use crate::holonomy::{HolonomyGroup, Rotations};
use crate::transport::{wrap_angle, O2};
use std::f64::consts::PI;

const TAU: f64 = 2.0 * PI;
/// How far (radians) an angle may be from the grid and still count as on it.
const GRID_TOLERANCE: f64 = 1e-9;

/// The sector structure shared by bins and Gaussian mixtures. Function `i·A + j` belongs to ring `i`
/// and sector (or angular centre) `j`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PolarGrid {
    pub rings: usize,
    pub sectors: usize,
}

impl PolarGrid {
    /// `t` with `angle ≡ 2πt/A`, if the angle is on the grid.
    fn grid_steps(&self, angle: f64) -> Option<usize> {
        let a = self.sectors as f64;
        let t = (angle * a / TAU).round();
        (wrap_angle(angle - TAU * t / a).abs() <= GRID_TOLERANCE)
            .then(|| (t as i64).rem_euclid(self.sectors as i64) as usize)
    }

    /// Where sector `j` goes under `g`, if `g` permutes the grid. Bins: sector `j` covers
    /// `[2πj/A, 2π(j+1)/A)`, so a reflection `ψ ↦ 2πc/A − ψ` sends it to `c − 1 − j`; Gaussians
    /// (`centered`) are centred at `2πj/A` and go to `c − j`.
    fn sector_map(&self, g: O2, centered: bool) -> Option<impl Fn(usize) -> usize> {
        let t = self.grid_steps(g.angle)?;
        let a = self.sectors;
        let reflect = g.reflect;
        Some(move |j: usize| {
            if reflect {
                let shift = if centered { 0 } else { 1 };
                (t + 2 * a - j - shift) % a
            } else {
                (j + t) % a
            }
        })
    }

    /// Coefficients of `g·k` where `g` permutes the grid: the coefficient of sector `j` moves to the
    /// sector `j` is sent to.
    pub fn transform(&self, g: O2, coeffs: &[f64], centered: bool) -> Option<Vec<f64>> {
        let map = self.sector_map(g, centered)?;
        let mut out = vec![0.0; coeffs.len()];
        for i in 0..self.rings {
            for j in 0..self.sectors {
                out[i * self.sectors + map(j)] = coeffs[i * self.sectors + j];
            }
        }
        Some(out)
    }

    /// Orbits of the sectors under `group`, if the group permutes the grid (`n | A`, reflections on
    /// the grid); `None` otherwise.
    pub fn orbits(&self, group: &HolonomyGroup, centered: bool) -> Option<Vec<Vec<usize>>> {
        let a = self.sectors;
        let n = match group.rotations() {
            Rotations::Cyclic(n) if a.is_multiple_of(n as usize) => n as usize,
            _ => return None,
        };
        let mut parent: Vec<usize> = (0..a).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut r = x;
            while p[r] != r {
                r = p[r];
            }
            let mut y = x;
            while p[y] != r {
                let next = p[y];
                p[y] = r;
                y = next;
            }
            r
        }
        let union = |p: &mut Vec<usize>, x: usize, y: usize| {
            let (rx, ry) = (find(p, x), find(p, y));
            if rx != ry {
                p[rx.max(ry)] = rx.min(ry);
            }
        };
        let step = a / n;
        for j in 0..a {
            union(&mut parent, j, (j + step) % a);
        }
        if let Some(angle) = group.reflection_angle() {
            let map = self.sector_map(
                O2 {
                    angle,
                    reflect: true,
                },
                centered,
            )?;
            for j in 0..a {
                union(&mut parent, j, map(j));
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut slot = vec![usize::MAX; a];
        for j in 0..a {
            let r = find(&mut parent, j);
            if slot[r] == usize::MAX {
                slot[r] = groups.len();
                groups.push(Vec::new());
            }
            groups[slot[r]].push(j);
        }
        Some(groups)
    }
}

/// Indicators of `R` rings × `A` sectors of the unit disc: function `i·A + j` is 1 where
/// `i/R ≤ r < (i+1)/R` (the last ring includes `r = 1`) and `2πj/A ≤ θ mod 2π < 2π(j+1)/A`.
///
/// Radii are in units of the disc radius (the exp-map table's radius ρ in a convolution; see the
/// [module docs](super)). With `R = A = 1` the one function is the indicator of the disc: the constant
/// kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolarBins {
    grid: PolarGrid,
}

impl PolarBins {
    /// `rings × sectors` bins on the unit disc.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if a count is 0 or above 65,536.
    ///
    /// # Example
    /// ```
    /// use manifold_cnn::kernel::{PolarBins, PolarPoint};
    /// use std::f64::consts::PI;
    /// let bins = PolarBins::new(2, 4).unwrap();
    /// // Ring 1 (r in [½, 1]), sector 1 (θ in [π/2, π)).
    /// assert_eq!(bins.bin(PolarPoint::new(0.75, 0.6 * PI)), Some(5));
    /// assert_eq!(bins.bin(PolarPoint::new(1.0, 0.0)), Some(4));
    /// assert_eq!(bins.bin(PolarPoint::new(1.01, 0.0)), None);
    /// ```
    pub fn new(rings: usize, sectors: usize) -> Result<PolarBins> {
        check_count("rings", rings)?;
        check_count("sectors", sectors)?;
        Ok(PolarBins {
            grid: PolarGrid { rings, sectors },
        })
    }

    pub(crate) fn grid(&self) -> &PolarGrid {
        &self.grid
    }

    /// Number of rings `R`.
    pub fn rings(&self) -> usize {
        self.grid.rings
    }

    /// Number of sectors `A`.
    pub fn sectors(&self) -> usize {
        self.grid.sectors
    }

    /// Number of functions, `R·A`.
    pub fn len(&self) -> usize {
        self.grid.rings * self.grid.sectors
    }

    /// Whether there are no functions (never).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bin holding `p`, if `0 ≤ r ≤ 1`.
    pub fn bin(&self, p: PolarPoint) -> Option<usize> {
        Some(self.ring(p.r)? * self.grid.sectors + self.sector(p.theta)?)
    }

    /// The ring holding radius `r`, if it is in [0, 1].
    fn ring(&self, r: f64) -> Option<usize> {
        let rr = self.grid.rings;
        (0.0..=1.0)
            .contains(&r)
            .then(|| ((r * rr as f64) as usize).min(rr - 1))
    }

    /// The sector holding angle `theta`, if it is finite.
    fn sector(&self, theta: f64) -> Option<usize> {
        let a = self.grid.sectors;
        theta
            .is_finite()
            .then(|| ((theta.rem_euclid(TAU) / TAU * a as f64) as usize).min(a - 1))
    }

    /// Every bin at every point of a polar grid: `out[(j·R + i)·N + n] = φ_n(radii[i], angles[j])`
    /// with `R = radii.len()` (the order of an exp-map table's samples): one [`bin`](Self::bin) per
    /// point.
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · N`.
    pub fn evaluate_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        let nb = self.len();
        assert_eq!(
            out.len(),
            radii.len() * angles.len() * nb,
            "out: R·A·N values"
        );
        out.fill(0.0);
        for (j, &theta) in angles.iter().enumerate() {
            for (i, &r) in radii.iter().enumerate() {
                if let Some(b) = self.bin(PolarPoint { r, theta }) {
                    out[(j * radii.len() + i) * nb + b] = 1.0;
                }
            }
        }
    }

    /// The bin of every point of a polar grid with its value 1:
    /// `out[j·R + i] = Some((bin, 1.0))` for the point `(radii[i], angles[j])`, `None` outside
    /// every bin (the values of [`evaluate_grid`](Self::evaluate_grid) without its zeros).
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len()`.
    pub fn evaluate_grid_bins(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) {
        assert_eq!(out.len(), radii.len() * angles.len(), "out: R·A points");
        if radii.is_empty() {
            return;
        }
        // A bin is a ring and a sector: each ring found once per radius (for a stretch of radii at
        // a time) and each sector once per angle.
        const STRETCH: usize = 32;
        let nr = radii.len();
        for (from, radii) in radii.chunks(STRETCH).enumerate() {
            let mut rings = [None; STRETCH];
            for (ring, &r) in rings.iter_mut().zip(radii) {
                *ring = self.ring(r).map(|i| i * self.grid.sectors);
            }
            let rings = &rings[..radii.len()];
            for (&theta, out) in angles.iter().zip(out.chunks_exact_mut(nr)) {
                let sector = self.sector(theta);
                let out = &mut out[from * STRETCH..][..radii.len()];
                for (o, ring) in out.iter_mut().zip(rings) {
                    *o = ring.zip(sector).map(|(i, j)| (i + j, 1.0));
                }
            }
        }
    }

    /// Calls `f(bin, 1.0)` for the bin holding `p`, if any.
    #[inline]
    pub fn for_each_value(&self, p: PolarPoint, mut f: impl FnMut(usize, f64)) {
        if let Some(b) = self.bin(p) {
            f(b, 1.0);
        }
    }
}

/// Gaussians on a polar grid: function `i·A + j` is
/// `exp(−(r − r_i)²/(2σ_r²) − wrap(θ − θ_j)²/(2σ_θ²))` with `r_i = (i + ½)/R`, `θ_j = 2πj/A` and the
/// angle difference wrapped to `(−π, π]` (continuous, since the Gaussian is even).
///
/// Radii and the radial width σ_r are in units of the disc radius (the exp-map table's radius ρ in a
/// convolution; see the [module docs](super)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianMixture {
    grid: PolarGrid,
    sigma_r: f64,
    sigma_theta: f64,
}

impl GaussianMixture {
    /// `rings × sectors` Gaussians on the unit disc with widths `σ_r = 1/(2R)` and `σ_θ = π/A` (half
    /// the spacing).
    ///
    /// # Errors
    /// As [`PolarBins::new`].
    pub fn new(rings: usize, sectors: usize) -> Result<GaussianMixture> {
        check_count("rings", rings)?;
        check_count("sectors", sectors)?;
        GaussianMixture::with_widths(
            rings,
            sectors,
            1.0 / (2.0 * rings as f64),
            PI / sectors as f64,
        )
    }

    /// `rings × sectors` Gaussians with the given widths: `sigma_r` in units of the disc radius,
    /// `sigma_theta` in radians.
    ///
    /// # Errors
    /// As [`PolarBins::new`], and if a width is not positive and finite.
    pub fn with_widths(
        rings: usize,
        sectors: usize,
        sigma_r: f64,
        sigma_theta: f64,
    ) -> Result<GaussianMixture> {
        check_count("rings", rings)?;
        check_count("sectors", sectors)?;
        check_positive("sigma_r", sigma_r)?;
        check_positive("sigma_theta", sigma_theta)?;
        Ok(GaussianMixture {
            grid: PolarGrid { rings, sectors },
            sigma_r,
            sigma_theta,
        })
    }

    pub(crate) fn grid(&self) -> &PolarGrid {
        &self.grid
    }

    /// Number of rings `R`.
    pub fn rings(&self) -> usize {
        self.grid.rings
    }

    /// Number of angular centres `A`.
    pub fn sectors(&self) -> usize {
        self.grid.sectors
    }

    /// Radial width σ_r, in units of the disc radius.
    pub fn sigma_r(&self) -> f64 {
        self.sigma_r
    }

    /// Angular width σ_θ.
    pub fn sigma_theta(&self) -> f64 {
        self.sigma_theta
    }

    /// Number of functions, `R·A`.
    pub fn len(&self) -> usize {
        self.grid.rings * self.grid.sectors
    }

    /// Whether there are no functions (never).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every function at every point of a polar grid: `out[(j·R + i)·N + n] = φ_n(radii[i], angles[j])`
    /// with `R = radii.len()` (the order of an exp-map table's samples). The radial factors are
    /// evaluated once per radius and the angular ones once per angle (the same values as
    /// [`for_each_value`](Self::for_each_value), to the bit).
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · N`.
    pub fn evaluate_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        let (rr, a) = (self.grid.rings, self.grid.sectors);
        let nb = rr * a;
        assert_eq!(
            out.len(),
            radii.len() * angles.len() * nb,
            "out: R·A·N values"
        );
        let dr = 1.0 / rr as f64;
        let (kr, kt) = (
            0.5 / (self.sigma_r * self.sigma_r),
            0.5 / (self.sigma_theta * self.sigma_theta),
        );
        let radial: Vec<f64> = radii
            .iter()
            .flat_map(|&r| {
                (0..rr).map(move |i| {
                    let x = r - (i as f64 + 0.5) * dr;
                    (-kr * x * x).exp()
                })
            })
            .collect();
        let mut angular = vec![0.0; a];
        for (j, &theta) in angles.iter().enumerate() {
            for (k, v) in angular.iter_mut().enumerate() {
                let d = wrap_angle(theta - TAU * k as f64 / a as f64);
                *v = (-kt * d * d).exp();
            }
            for (i, er) in radial.chunks_exact(rr).enumerate() {
                let k = j * radii.len() + i;
                for (row, &er) in out[k * nb..(k + 1) * nb].chunks_exact_mut(a).zip(er) {
                    for (o, &ea) in row.iter_mut().zip(&angular) {
                        *o = er * ea;
                    }
                }
            }
        }
    }

    /// Calls `f(n, φ_n(p))` for every function, in order.
    #[inline]
    pub fn for_each_value(&self, p: PolarPoint, mut f: impl FnMut(usize, f64)) {
        let (rr, a) = (self.grid.rings, self.grid.sectors);
        let dr = 1.0 / rr as f64;
        let (kr, kt) = (
            0.5 / (self.sigma_r * self.sigma_r),
            0.5 / (self.sigma_theta * self.sigma_theta),
        );
        for i in 0..rr {
            let x = p.r - (i as f64 + 0.5) * dr;
            let er = (-kr * x * x).exp();
            for j in 0..a {
                let d = wrap_angle(p.theta - TAU * j as f64 / a as f64);
                f(i * a + j, er * (-kt * d * d).exp());
            }
        }
    }
}
