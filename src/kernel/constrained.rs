//! The subspace of kernels invariant under a holonomy group, as an explicit basis.

use super::{KernelBasis, PolarPoint};
use crate::holonomy::HolonomyGroup;
use std::f64::consts::PI;

/// What one constrained basis function is, in words a reader can check.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Term {
    /// `R_i(r) · cos(mθ − phase)`.
    Harmonic { radial: usize, m: u32, phase: f64 },
    /// The normalised sum of the functions of one sector orbit in one ring.
    Orbit { ring: usize, sectors: usize },
}

/// The kernels invariant under a group, written in a [`KernelBasis`]: `B` orthonormal coefficient
/// vectors `v_b` (rows of `V`, `B × N`), so that constrained basis function `b` is `ψ_b = Σ_n v_bn φ_n`
/// and the orthogonal projection onto the invariant subspace is `P = VᵀV` (the group average).
///
/// The convolution can use the `B` functions directly: [`evaluate`](Self::evaluate) gives
/// `ψ_b(points[i])` for all `b` without allocating.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstrainedBasis {
    base: KernelBasis,
    group: HolonomyGroup,
    vectors: Vec<f64>,
    terms: Vec<Term>,
    col_offsets: Vec<u32>,
    col_entries: Vec<(u32, f64)>,
    exact: bool,
}

impl ConstrainedBasis {
    /// The invariant subspace of `base` under `group` (see the [module docs](super)).
    pub fn new(base: KernelBasis, group: HolonomyGroup) -> ConstrainedBasis {
        let n = base.len();
        let mut vectors: Vec<f64> = Vec::new();
        let mut terms = Vec::new();
        let mut exact = true;
        let mut push = |entries: &[(usize, f64)], term: Term, vectors: &mut Vec<f64>| {
            let start = vectors.len();
            vectors.resize(start + n, 0.0);
            for &(i, v) in entries {
                vectors[start + i] = v;
            }
            terms.push(term);
        };
        match &base {
            KernelBasis::Harmonic(h) => {
                for i in 0..h.radial().len() {
                    for m in 0..=h.max_order() {
                        match group.harmonic_multiplicity(m) {
                            0 => {}
                            _ if m == 0 => push(
                                &[(h.index(i, 0, false), 1.0)],
                                Term::Harmonic {
                                    radial: i,
                                    m,
                                    phase: 0.0,
                                },
                                &mut vectors,
                            ),
                            1 => {
                                // Symmetric about the axis a/2: cos m(θ − a/2).
                                let a = group.reflection_angle().unwrap_or(0.0);
                                let phase = m as f64 * a / 2.0;
                                let (s, c) = phase.sin_cos();
                                push(
                                    &[(h.index(i, m, false), c), (h.index(i, m, true), s)],
                                    Term::Harmonic {
                                        radial: i,
                                        m,
                                        phase,
                                    },
                                    &mut vectors,
                                );
                            }
                            _ => {
                                push(
                                    &[(h.index(i, m, false), 1.0)],
                                    Term::Harmonic {
                                        radial: i,
                                        m,
                                        phase: 0.0,
                                    },
                                    &mut vectors,
                                );
                                push(
                                    &[(h.index(i, m, true), 1.0)],
                                    Term::Harmonic {
                                        radial: i,
                                        m,
                                        phase: PI / 2.0,
                                    },
                                    &mut vectors,
                                );
                            }
                        }
                    }
                }
            }
            KernelBasis::Bins(_) | KernelBasis::Gaussian(_) => {
                let (grid, centered) = match &base {
                    KernelBasis::Bins(b) => (*b.grid(), false),
                    KernelBasis::Gaussian(g) => (*g.grid(), true),
                    KernelBasis::Harmonic(_) => unreachable!(),
                };
                let orbits = match grid.orbits(&group, centered) {
                    Some(o) => o,
                    None => {
                        // Whole rings: exact for bins, up to the ring ripple for Gaussians.
                        exact = !centered;
                        vec![(0..grid.sectors).collect()]
                    }
                };
                for ring in 0..grid.rings {
                    for orbit in &orbits {
                        let w = 1.0 / (orbit.len() as f64).sqrt();
                        let entries: Vec<(usize, f64)> = orbit
                            .iter()
                            .map(|&j| (ring * grid.sectors + j, w))
                            .collect();
                        push(
                            &entries,
                            Term::Orbit {
                                ring,
                                sectors: orbit.len(),
                            },
                            &mut vectors,
                        );
                    }
                }
            }
        }
        let dim = terms.len();
        // Columns: for each underlying function n, the constrained functions using it.
        let mut col_offsets = vec![0u32; n + 1];
        for b in 0..dim {
            for (i, &v) in vectors[b * n..(b + 1) * n].iter().enumerate() {
                if v != 0.0 {
                    col_offsets[i + 1] += 1;
                }
            }
        }
        for i in 0..n {
            col_offsets[i + 1] += col_offsets[i];
        }
        let mut fill: Vec<u32> = col_offsets[..n].to_vec();
        let mut col_entries = vec![(0u32, 0.0); col_offsets[n] as usize];
        for b in 0..dim {
            for (i, &v) in vectors[b * n..(b + 1) * n].iter().enumerate() {
                if v != 0.0 {
                    col_entries[fill[i] as usize] = (b as u32, v);
                    fill[i] += 1;
                }
            }
        }
        ConstrainedBasis {
            base,
            group,
            vectors,
            terms,
            col_offsets,
            col_entries,
            exact,
        }
    }

    /// The underlying basis.
    pub fn base(&self) -> &KernelBasis {
        &self.base
    }

    /// The group.
    pub fn group(&self) -> &HolonomyGroup {
        &self.group
    }

    /// Dimension `B` of the invariant subspace.
    pub fn dimension(&self) -> usize {
        self.terms.len()
    }

    /// Number of constrained basis functions, `B`.
    pub fn len(&self) -> usize {
        self.dimension()
    }

    /// Whether the invariant subspace is `{0}`.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether every kernel of the subspace is exactly invariant under the group (false only for a
    /// Gaussian mixture under a group outside `D_A`; see the [module docs](super)).
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Coefficient vector `v_b` of constrained function `b` in the underlying basis.
    ///
    /// # Panics
    /// If `b ≥ B`.
    pub fn vector(&self, b: usize) -> &[f64] {
        let n = self.base.len();
        &self.vectors[b * n..(b + 1) * n]
    }

    /// Coordinates `Vc` of a kernel's projection in the constrained basis.
    ///
    /// # Panics
    /// If `coeffs.len() != N`.
    pub fn coordinates(&self, coeffs: &[f64]) -> Vec<f64> {
        assert_eq!(
            coeffs.len(),
            self.base.len(),
            "one coefficient per basis function"
        );
        (0..self.dimension())
            .map(|b| self.vector(b).iter().zip(coeffs).map(|(v, c)| v * c).sum())
            .collect()
    }

    /// Underlying coefficients `Vᵀw` of the kernel with constrained coordinates `w`.
    ///
    /// # Panics
    /// If `w.len() != B`.
    pub fn expand(&self, w: &[f64]) -> Vec<f64> {
        assert_eq!(
            w.len(),
            self.dimension(),
            "one coordinate per constrained function"
        );
        let mut out = vec![0.0; self.base.len()];
        for (b, &wb) in w.iter().enumerate() {
            for (o, v) in out.iter_mut().zip(self.vector(b)) {
                *o += wb * v;
            }
        }
        out
    }

    /// The orthogonal projection `Pc = VᵀVc` of a kernel onto the invariant subspace.
    ///
    /// # Panics
    /// If `coeffs.len() != N`.
    pub fn project(&self, coeffs: &[f64]) -> Vec<f64> {
        self.expand(&self.coordinates(coeffs))
    }

    /// Every constrained function at every point: `out[i·B + b] = ψ_b(points[i])`. No allocation.
    ///
    /// # Panics
    /// If `out.len() != points.len() · B`.
    pub fn evaluate(&self, points: &[PolarPoint], out: &mut [f64]) {
        let b = self.dimension();
        assert_eq!(
            out.len(),
            points.len() * b,
            "out must hold points.len() × dimension() values"
        );
        if b == 0 {
            return;
        }
        for (p, row) in points.iter().zip(out.chunks_exact_mut(b)) {
            row.fill(0.0);
            self.base.for_each_value(*p, |n, v| {
                let (s, e) = (
                    self.col_offsets[n] as usize,
                    self.col_offsets[n + 1] as usize,
                );
                for &(j, c) in &self.col_entries[s..e] {
                    row[j as usize] += c * v;
                }
            });
        }
    }

    /// Every constrained function at every point of a polar grid: `out[(j·R + i)·B + b]` is
    /// function `b` at `(radii[i], angles[j])`, `R = radii.len()` (as
    /// [`KernelBasis::evaluate_grid`], whose values it projects).
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len() · B`.
    pub fn evaluate_grid(&self, radii: &[f64], angles: &[f64], out: &mut [f64]) {
        let b = self.dimension();
        let points = radii.len() * angles.len();
        assert_eq!(out.len(), points * b, "out: R·A·B values");
        if b == 0 {
            return;
        }
        let n = self.base.len();
        let mut base = vec![0.0; points * n];
        self.base.evaluate_grid(radii, angles, &mut base);
        for (values, row) in base.chunks_exact(n).zip(out.chunks_exact_mut(b)) {
            row.fill(0.0);
            for (k, &v) in values.iter().enumerate() {
                // The functions a point does not reach (all bins but one) add nothing.
                if v != 0.0 {
                    let (s, e) = (
                        self.col_offsets[k] as usize,
                        self.col_offsets[k + 1] as usize,
                    );
                    for &(j, c) in &self.col_entries[s..e] {
                        row[j as usize] += c * v;
                    }
                }
            }
        }
    }

    /// Where the constrained functions partition the disc (at most one nonzero at any point: a
    /// base of polar bins, each bin in at most one constrained function, as the orbits of bins
    /// under a group are disjoint): the function nonzero at every point of a polar grid and its
    /// value, `out[j·R + i] = Some((b, ψ_b(radii[i], angles[j])))` or `None`, and `true`.
    /// Otherwise `false`, and `out` is not written.
    ///
    /// # Panics
    /// If `out.len() != radii.len() · angles.len()` (where it returns `true`).
    pub fn evaluate_grid_partition(
        &self,
        radii: &[f64],
        angles: &[f64],
        out: &mut [Option<(usize, f64)>],
    ) -> bool {
        let KernelBasis::Bins(bins) = &self.base else {
            return false;
        };
        if self.col_offsets.windows(2).any(|w| w[1] - w[0] > 1) {
            return false;
        }
        bins.evaluate_grid_bins(radii, angles, out);
        for o in out.iter_mut() {
            if let Some((n, v)) = *o {
                let (s, e) = (
                    self.col_offsets[n] as usize,
                    self.col_offsets[n + 1] as usize,
                );
                // The one term `evaluate` adds to a zero: the same value to the bit.
                *o = self.col_entries[s..e]
                    .first()
                    .map(|&(j, c)| (j as usize, c * v));
            }
        }
        true
    }

    /// A description of constrained function `b`, e.g. `R_1(r)·cos(4θ − 0.000)` or
    /// `ring 2, orbit of 4 sectors`.
    ///
    /// # Panics
    /// If `b ≥ B`.
    pub fn describe(&self, b: usize) -> String {
        match self.terms[b] {
            Term::Harmonic { radial, m: 0, .. } => format!("R_{radial}(r)"),
            Term::Harmonic { radial, m, phase } => format!("R_{radial}(r)·cos({m}θ − {phase:.3})"),
            Term::Orbit { ring, sectors } => format!("ring {ring}, orbit of {sectors} sectors"),
        }
    }
}
