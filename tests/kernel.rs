//! Oracles for kernels and the holonomy constraint: closed-form dimensions, projection identities,
//! invariance of the result under every generator, and the definition `(g·k)(v) = k(g⁻¹v)`.

mod common;

use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyGroup, HolonomyOptions};
use manifold_cnn::kernel::{
    ConstrainedBasis, GaussianMixture, HarmonicBasis, KernelBasis, PolarBins, PolarPoint,
    RadialBasis, RadialProfile,
};
use manifold_cnn::transport::O2;
use std::f64::consts::PI;

use approx::assert_abs_diff_eq;
use common::assert_abs_diff_eq_msg;
use common::meshes::load;
use common::random::{symmetric, symmetrics, SplitMix};
use common::slices::{dot, max_abs, max_diff};

/// `n` random points of the disc of radius `rmax`: radius uniform in [0, rmax), angle in [−2π, 2π).
fn points(rng: &mut SplitMix, n: usize, rmax: f64) -> Vec<PolarPoint> {
    (0..n)
        .map(|_| PolarPoint::new(rmax * rng.uniform(), 2.0 * PI * symmetric(rng)))
        .collect()
}

fn harmonic(profile: RadialProfile, r: usize, m: u32) -> KernelBasis {
    HarmonicBasis::new(RadialBasis::new(profile, r).unwrap(), m)
        .unwrap()
        .into()
}

fn groups() -> Vec<HolonomyGroup> {
    vec![
        HolonomyGroup::trivial(),
        HolonomyGroup::cyclic(2),
        HolonomyGroup::cyclic(3),
        HolonomyGroup::cyclic(4),
        HolonomyGroup::cyclic(24),
        HolonomyGroup::so2(),
        HolonomyGroup::reflection(0.0),
        HolonomyGroup::reflection(0.7),
        HolonomyGroup::dihedral(4, 0.0),
        HolonomyGroup::dihedral(3, 1.1),
        HolonomyGroup::o2(),
    ]
}

/// Elements to test invariance against: all of a finite group; for SO(2) and O(2), a spread of
/// rotations (and reflections).
fn test_elements(g: &HolonomyGroup) -> Vec<O2> {
    g.elements().unwrap_or_else(|| {
        let mut v: Vec<O2> = [0.1, 1.0, 2.5, -3.0]
            .into_iter()
            .map(O2::rotation)
            .collect();
        if g.has_reflections() {
            v.extend([0.3, -2.0].into_iter().map(O2::reflection));
        }
        v
    })
}

#[test]
fn harmonic_dimensions_match_the_closed_forms() {
    for r in [1usize, 3] {
        for m in [0u32, 1, 5, 8, 9] {
            let basis = harmonic(RadialProfile::Hat, r, m);
            let dim = |g: HolonomyGroup| basis.constrain(&g).dimension();
            let mu = m as usize;
            assert_eq!(dim(HolonomyGroup::trivial()), r * (1 + 2 * mu));
            assert_eq!(dim(HolonomyGroup::so2()), r);
            assert_eq!(dim(HolonomyGroup::o2()), r);
            assert_eq!(dim(HolonomyGroup::reflection(0.4)), r * (1 + mu));
            for n in [2u32, 3, 4, 7] {
                let k = (m / n) as usize;
                assert_eq!(
                    dim(HolonomyGroup::cyclic(n)),
                    r * (1 + 2 * k),
                    "C{n}, M = {m}"
                );
                assert_eq!(
                    dim(HolonomyGroup::dihedral(n, 0.9)),
                    r * (1 + k),
                    "D{n}, M = {m}"
                );
            }
        }
    }
}

#[test]
fn polar_bin_dimensions_follow_the_orbits() {
    let (rr, a) = (3usize, 8usize);
    let bins: KernelBasis = PolarBins::new(rr, a).unwrap().into();
    let dim = |g: HolonomyGroup| bins.constrain(&g).dimension();
    assert_eq!(dim(HolonomyGroup::trivial()), rr * a);
    assert_eq!(dim(HolonomyGroup::cyclic(4)), rr * a / 4);
    assert_eq!(dim(HolonomyGroup::cyclic(8)), rr);
    // 3 ∤ 8: only ring-constant kernels are invariant under the rotation by 2π/3.
    assert_eq!(dim(HolonomyGroup::cyclic(3)), rr);
    assert_eq!(dim(HolonomyGroup::so2()), rr);
    // Reflection ψ ↦ −ψ swaps sectors j and 7 − j (8 even: no sector is fixed).
    assert_eq!(dim(HolonomyGroup::reflection(0.0)), rr * a / 2);
    // Reflection ψ ↦ 2π/8 − ψ (axis through the middle of sector 0) fixes sectors 0 and 4.
    assert_eq!(
        dim(HolonomyGroup::reflection(2.0 * PI / 8.0)),
        rr * (a + 2) / 2
    );
    // An off-grid axis leaves only ring-constant kernels.
    assert_eq!(dim(HolonomyGroup::reflection(0.3)), rr);
    // D4 with the axis on a sector boundary: sectors {0,2,4,6} and {1,3,5,7} are swapped: one orbit.
    assert_eq!(dim(HolonomyGroup::dihedral(4, 0.0)), rr);
    // D4 with the axis through sector 0's middle: the two rotation orbits stay apart.
    assert_eq!(dim(HolonomyGroup::dihedral(4, 2.0 * PI / 8.0)), 2 * rr);
    // Odd A: ψ ↦ −ψ sends j to 6 − j... for A = 7, to −1 − j mod 7, fixing j = 3.
    let odd: KernelBasis = PolarBins::new(2, 7).unwrap().into();
    assert_eq!(
        odd.constrain(&HolonomyGroup::reflection(0.0)).dimension(),
        2 * (7 + 1) / 2
    );
}

#[test]
fn gaussian_mixture_dimensions() {
    let g: KernelBasis = GaussianMixture::new(2, 8).unwrap().into();
    assert_eq!(g.constrain(&HolonomyGroup::trivial()).dimension(), 16);
    assert_eq!(g.constrain(&HolonomyGroup::cyclic(4)).dimension(), 4);
    // Centres at 2πj/8; ψ ↦ −ψ sends centre j to −j: fixes 0 and 4.
    assert_eq!(
        g.constrain(&HolonomyGroup::reflection(0.0)).dimension(),
        2 * 5
    );
    let so2 = g.constrain(&HolonomyGroup::so2());
    assert_eq!(so2.dimension(), 2);
    assert!(!so2.is_exact());
    assert!(g.constrain(&HolonomyGroup::cyclic(4)).is_exact());
}

fn all_bases() -> Vec<KernelBasis> {
    vec![
        harmonic(RadialProfile::Hat, 3, 8),
        harmonic(RadialProfile::Gaussian, 2, 5),
        PolarBins::new(3, 8).unwrap().into(),
        PolarBins::new(2, 12).unwrap().into(),
        GaussianMixture::new(2, 8).unwrap().into(),
    ]
}

#[test]
fn projection_is_an_orthogonal_idempotent_with_invariant_image() {
    let mut rng = SplitMix(7);
    for basis in all_bases() {
        for g in groups() {
            let cb = basis.constrain(&g);
            let c = symmetrics(&mut rng, basis.len());
            let d = symmetrics(&mut rng, basis.len());
            let p = cb.project(&c);
            // Idempotent.
            assert!(max_diff(&cb.project(&p), &p) < 1e-12, "{basis:?} {g}");
            // Orthogonal to what it removes, and self-adjoint.
            let removed: Vec<f64> = c.iter().zip(&p).map(|(x, y)| x - y).collect();
            assert_abs_diff_eq_msg!(dot(&p, &removed), 0.0, epsilon = 1e-12, "{g}");
            assert_abs_diff_eq_msg!(
                dot(&p, &d),
                dot(&c, &cb.project(&d)),
                epsilon = 1e-12,
                "{g}"
            );
            // Orthonormal basis vectors.
            for b in 0..cb.dimension() {
                for b2 in 0..cb.dimension() {
                    let want = if b == b2 { 1.0 } else { 0.0 };
                    assert_abs_diff_eq!(dot(cb.vector(b), cb.vector(b2)), want, epsilon = 1e-12);
                }
            }
            // Invariant under every element, in coefficient space where the basis allows it and as a
            // function (exactly where the constraint is exact).
            let pts = points(&mut rng, 40, 1.0);
            let mut k = vec![0.0; pts.len()];
            let mut gk = vec![0.0; pts.len()];
            basis.kernel_values(&p, &pts, &mut k);
            let scale = max_abs(&k).max(1e-300);
            for e in test_elements(&g) {
                if let Some(t) = basis.transform(e, &p) {
                    assert!(
                        max_diff(&t, &p) < 1e-10,
                        "{basis:?} {g}: coefficients moved by {e:?}"
                    );
                }
                basis.transported_values(&p, e, &pts, &mut gk);
                let tol = if cb.is_exact() { 1e-10 } else { 0.03 * scale };
                // Bins: a point may sit within rounding of a sector boundary; skip none, the random
                // points are generic.
                assert!(
                    max_diff(&gk, &k) < tol,
                    "{basis:?} {g}: values moved by {e:?}: {}",
                    max_diff(&gk, &k)
                );
            }
            // The removed part has no invariant component: projecting it gives zero.
            for x in cb.project(&removed) {
                assert_abs_diff_eq!(x, 0.0, epsilon = 1e-12);
            }
        }
    }
}

#[test]
fn transform_is_the_definition_g_k_of_v_equals_k_of_g_inverse_v() {
    let mut rng = SplitMix(11);
    let elements = [
        O2::rotation(0.7),
        O2::rotation(-2.1),
        O2::reflection(0.4),
        O2::reflection(-1.3),
    ];
    let basis = harmonic(RadialProfile::Hat, 3, 6);
    let c = symmetrics(&mut rng, basis.len());
    let pts = points(&mut rng, 50, 1.0);
    for g in elements {
        let t = basis.transform(g, &c).unwrap();
        let mut direct = vec![0.0; pts.len()];
        let mut via = vec![0.0; pts.len()];
        basis.transported_values(&c, g, &pts, &mut direct);
        basis.kernel_values(&t, &pts, &mut via);
        assert!(max_diff(&direct, &via) < 1e-12, "{g:?}");
    }
    // Grid elements permute bins and Gaussians exactly; others leave the span.
    let grid_elements = [
        O2::rotation(2.0 * PI * 3.0 / 8.0),
        O2::reflection(2.0 * PI / 8.0),
        O2::reflection(0.0),
    ];
    for basis in [
        KernelBasis::from(PolarBins::new(2, 8).unwrap()),
        KernelBasis::from(GaussianMixture::new(2, 8).unwrap()),
    ] {
        let c = symmetrics(&mut rng, basis.len());
        for g in grid_elements {
            let t = basis.transform(g, &c).unwrap();
            let mut direct = vec![0.0; pts.len()];
            let mut via = vec![0.0; pts.len()];
            basis.transported_values(&c, g, &pts, &mut direct);
            basis.kernel_values(&t, &pts, &mut via);
            assert!(max_diff(&direct, &via) < 1e-12, "{basis:?} {g:?}");
        }
        assert!(basis.transform(O2::rotation(0.3), &c).is_none());
    }
}

#[test]
fn rotation_shifts_the_phase_of_each_harmonic() {
    // k = cos 3θ (profile 0), moved by a rotation γ, is cos 3(θ − γ): coefficients (cos 3γ, sin 3γ).
    let basis = HarmonicBasis::new(RadialBasis::new(RadialProfile::Hat, 1).unwrap(), 4).unwrap();
    let mut c = vec![0.0; basis.len()];
    c[basis.index(0, 3, false)] = 1.0;
    let gamma = 0.37;
    let t = basis.transform(O2::rotation(gamma), &c);
    assert_abs_diff_eq!(
        t[basis.index(0, 3, false)],
        (3.0 * gamma).cos(),
        epsilon = 1e-15
    );
    assert_abs_diff_eq!(
        t[basis.index(0, 3, true)],
        (3.0 * gamma).sin(),
        epsilon = 1e-15
    );
    // Reflection ψ ↦ a − ψ conjugates: sin 2θ becomes sin 2(a − θ) = sin 2a cos 2θ − cos 2a sin 2θ.
    let mut c = vec![0.0; basis.len()];
    c[basis.index(0, 2, true)] = 1.0;
    let a = 0.9;
    let t = basis.transform(O2::reflection(a / 2.0), &c);
    assert_abs_diff_eq!(
        t[basis.index(0, 2, false)],
        (2.0 * a).sin(),
        epsilon = 1e-15
    );
    assert_abs_diff_eq!(
        t[basis.index(0, 2, true)],
        -(2.0 * a).cos(),
        epsilon = 1e-15
    );
}

#[test]
fn evaluation_matches_closed_forms() {
    let rb = RadialBasis::new(RadialProfile::Hat, 4).unwrap();
    let basis = HarmonicBasis::new(rb, 12).unwrap();
    let kb: KernelBasis = basis.into();
    let mut rng = SplitMix(3);
    let pts = points(&mut rng, 30, 1.0);
    let mut out = vec![0.0; pts.len() * kb.len()];
    kb.evaluate(&pts, &mut out);
    for (i, p) in pts.iter().enumerate() {
        let row = &out[i * kb.len()..(i + 1) * kb.len()];
        // Hats on the unit interval with spacing 1/3 sum to one.
        let sum: f64 = (0..4).map(|k| row[basis.index(k, 0, false)]).sum();
        assert_abs_diff_eq!(sum, 1.0, epsilon = 1e-12);
        for k in 0..4 {
            let rv = (1.0 - (p.r - k as f64 / 3.0).abs() * 3.0).max(0.0);
            for m in 1..=12u32 {
                let c = row[basis.index(k, m, false)];
                let s = row[basis.index(k, m, true)];
                assert_abs_diff_eq!(c, rv * (m as f64 * p.theta).cos(), epsilon = 1e-12);
                assert_abs_diff_eq!(s, rv * (m as f64 * p.theta).sin(), epsilon = 1e-12);
            }
        }
    }
    // Outside the support every hat is zero; bins are empty.
    let far = [PolarPoint::new(2.0, 0.3)];
    let mut o = vec![1.0; kb.len()];
    kb.evaluate(&far, &mut o);
    assert!(o.iter().all(|&x| x == 0.0));
    let bins = PolarBins::new(2, 4).unwrap();
    assert_eq!(
        bins.bin(PolarPoint::new(0.75, PI / 4.0 + 2.0 * PI)),
        Some(4)
    );
    assert_eq!(bins.bin(PolarPoint::new(0.25, -PI / 4.0)), Some(3));
    assert_eq!(bins.bin(PolarPoint::new(1.0, 0.0)), Some(4));
    assert_eq!(bins.bin(PolarPoint::new(1.01, 0.0)), None);
    assert_eq!(bins.bin(PolarPoint::new(0.5, f64::NAN)), None);
}

#[test]
fn constrained_evaluation_is_the_expanded_combination() {
    let mut rng = SplitMix(5);
    for basis in all_bases() {
        for g in [
            HolonomyGroup::cyclic(4),
            HolonomyGroup::reflection(0.0),
            HolonomyGroup::so2(),
        ] {
            let cb: ConstrainedBasis = basis.constrain(&g);
            let pts = points(&mut rng, 20, 1.0);
            let mut out = vec![0.0; pts.len() * cb.dimension()];
            cb.evaluate(&pts, &mut out);
            for b in 0..cb.dimension() {
                let mut vals = vec![0.0; pts.len()];
                basis.kernel_values(cb.vector(b), &pts, &mut vals);
                for (i, v) in vals.iter().enumerate() {
                    assert_abs_diff_eq_msg!(
                        out[i * cb.dimension() + b],
                        *v,
                        epsilon = 1e-12,
                        "{}",
                        cb.describe(b)
                    );
                }
            }
            // Coordinates and expansion invert each other on the subspace.
            let w = symmetrics(&mut rng, cb.dimension());
            assert!(max_diff(&cb.coordinates(&cb.expand(&w)), &w) < 1e-12);
        }
    }
}

#[test]
fn mobius_kernels_are_symmetric_across_the_band() {
    // The seed's example: on a Möbius strip the holonomy is the reflection across the band, and a
    // kernel is well defined only if it is symmetric across it: k(r, θ) = k(r, −θ) in frames whose
    // angle 0 runs along the band.
    let m = load("flat-mobius:10x4");
    let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
    let group = h.group();
    assert_eq!(group.name(), "Z2");
    let mut rng = SplitMix(13);
    for basis in all_bases() {
        let cb = basis.constrain(&group);
        assert!(cb.is_exact());
        let p = cb.project(&symmetrics(&mut rng, basis.len()));
        for q in points(&mut rng, 50, 0.99) {
            let a = basis.kernel_value(&p, q);
            let b = basis.kernel_value(&p, PolarPoint::new(q.r, -q.theta));
            assert_abs_diff_eq_msg!(a, b, epsilon = 1e-9, "{basis:?} at {q:?}");
        }
        // And the unconstrained kernel is not (for a generic kernel).
        let c = symmetrics(&mut rng, basis.len());
        let asym = points(&mut rng, 50, 0.99)
            .iter()
            .map(|q| {
                (basis.kernel_value(&c, *q)
                    - basis.kernel_value(&c, PolarPoint::new(q.r, -q.theta)))
                .abs()
            })
            .fold(0.0, f64::max);
        assert!(asym > 1e-3);
    }
}

#[test]
fn cube_and_sphere_constraints_from_their_meshes() {
    let basis = harmonic(RadialProfile::Hat, 3, 8);
    for (spec, dim) in [("icosphere:2", 3), ("flat-torus:5x5", 3 * 17)] {
        let m = load(spec);
        let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
        assert_eq!(basis.constrain(&h.group()).dimension(), dim, "{spec}");
    }
    // Cone view of the cube: C4, harmonics 0, 4, 8 → 3·(1 + 2·2) = 15.
    let m = load("cube:2");
    let h = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
    assert_eq!(basis.constrain(&h.cone_metric_group()).dimension(), 15);
}

#[test]
fn invalid_parameters_are_errors() {
    assert!(RadialBasis::new(RadialProfile::Hat, 0).is_err());
    assert!(RadialBasis::new(RadialProfile::Hat, 1 << 17).is_err());
    let rb = RadialBasis::new(RadialProfile::Hat, 2).unwrap();
    assert!(HarmonicBasis::new(rb, 5000).is_err());
    assert!(PolarBins::new(0, 4).is_err());
    assert!(PolarBins::new(2, 0).is_err());
    assert!(GaussianMixture::with_widths(2, 4, 0.0, 0.1).is_err());
    assert!(GaussianMixture::with_widths(2, 4, 0.1, f64::NAN).is_err());
    assert!(GaussianMixture::with_widths(2, 4, f64::INFINITY, 0.1).is_err());
}

#[test]
fn basis_specs_parse_strictly() {
    use manifold_cnn::kernel::KernelBasis;
    assert_eq!(KernelBasis::parse("harmonic:2:3").unwrap().len(), 2 * 7);
    assert_eq!(KernelBasis::parse("bins:2:4").unwrap().len(), 8);
    // An order past u32 is refused (it used to be truncated: 4294967299 ran as 3), as are extra or
    // missing fields and unknown kinds; each message names the spec.
    for bad in [
        "harmonic:2:4294967299",
        "harmonic:2:3:99",
        "harmonic:2",
        "bins:x:4",
        "disc:2:2",
    ] {
        let e = KernelBasis::parse(bad).unwrap_err().to_string();
        assert!(e.contains(bad), "{bad}: {e}");
    }
}
