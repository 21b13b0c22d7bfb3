//! Oracles for the convolution: the planar CNN on a flat grid, exact translation equivariance on the
//! flat torus, quadrature-level gauge independence, Funk–Hecke on the sphere, tree independence of
//! holonomy-invariant kernels, gradients against finite differences, and the mean quadrature's
//! averaging (row sums of the constant kernel) and scale invariance.

mod common;

use manifold_cnn::conv::{
    ConvOperator, ConvOptions, Gauge, KernelWeights, KernelWeightsMut, Quadrature, Real,
    SampledBasis, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::data::sphere::{axis_angle, icosahedral_rotations, Rotation};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::{primitives, BuildOptions, Manifold, MeshSource};
use std::f64::consts::PI;

use approx::assert_abs_diff_eq;
use common::assert_abs_diff_eq_msg;
use common::cli::{json, run, stderr};
use common::gradients::assert_gradient;
use common::meshes::{load, mesh_path, sane_table};
use common::random::{signal, symmetric, SplitMix};
use common::slices::{assert_falling, max_abs, max_diff};
use common::vec3::{dot, mul, mul_transpose};
use common::TempDir;

/// The exp-map table of absolute radius `radius`, checked sane.
fn table(m: &Manifold, rings: usize, directions: usize, radius: f64) -> ExpMapTable {
    let t = common::meshes::table(m, rings, directions, Radius::Absolute(radius));
    common::assert_table_sane(m, &t);
    t
}

/// A plain, unconstrained test basis written in Cartesian coordinates of the tangent plane: the
/// monomials xⁱyʲ with i + j ≤ degree (1, x, y, x², xy, y², …) times a bump in r. Nothing rotationally
/// symmetric about it. `Monomials(degree, ρ)`: the operator passes radii in units of the table radius
/// ρ, so the basis scales them back, and the kernel is the same function of the mesh's lengths
/// whatever ρ.
struct Monomials(usize, f64);
impl SampledBasis for Monomials {
    fn len(&self) -> usize {
        (self.0 + 1) * (self.0 + 2) / 2
    }
    fn eval(&self, r: f64, theta: f64, out: &mut [f64]) {
        let r = r * self.1;
        let (x, y) = (r * theta.cos(), r * theta.sin());
        let bump = (-r * r / 4.0).exp();
        let mut k = 0;
        for d in 0..=self.0 {
            for j in 0..=d {
                out[k] = x.powi((d - j) as i32) * y.powi(j as i32) * bump;
                k += 1;
            }
        }
    }
}

/// An isotropic test basis: three radial profiles of the mesh's lengths (`Radial(ρ)` scales the unit-disc
/// radius back by the table radius ρ).
struct Radial(f64);
impl SampledBasis for Radial {
    fn len(&self) -> usize {
        3
    }
    fn eval(&self, r: f64, _theta: f64, out: &mut [f64]) {
        let r = r * self.0;
        out.copy_from_slice(&[1.0, r, (-r * r).exp()]);
    }
}

/// The operator with the seed's tangent-plane integral ([`Quadrature::Integral`]): the oracles below
/// compare it with integrals written out by hand.
fn integral_op(
    m: &Manifold,
    t: &ExpMapTable,
    basis: &dyn SampledBasis,
    g: &Gauge,
) -> manifold_cnn::Result<ConvOperator<f64>> {
    let options = ConvOptions::new().quadrature(Quadrature::Integral);
    ConvOperator::with_options(m, t, basis, g, &options)
}

fn conv<T: Real>(op: &ConvOperator<T>, x: &[T], c_in: usize, w: &[T], c_out: usize) -> Vec<T> {
    let batch = x.len() / (op.vertex_count() * c_in);
    let mut out = vec![T::default(); batch * op.vertex_count() * c_out];
    op.forward(
        Signals::new(x, batch, c_in).unwrap(),
        KernelWeights::new(w, op.basis_len(), c_in, c_out).unwrap(),
        SignalsMut::new(&mut out, batch, c_out).unwrap(),
    );
    out
}

/// `(∂L/∂x, ∂L/∂W)` from `grad_out` = ∂L/∂out, each by its own method; `x` may hold a batch.
fn backward<T: Real>(
    op: &ConvOperator<T>,
    x: &[T],
    c_in: usize,
    w: &[T],
    c_out: usize,
    grad_out: &[T],
) -> (Vec<T>, Vec<T>) {
    let batch = x.len() / (op.vertex_count() * c_in);
    let nb = op.basis_len();
    let (mut gx, mut gw) = (vec![T::default(); x.len()], vec![T::default(); w.len()]);
    let g = Signals::new(grad_out, batch, c_out).unwrap();
    op.weight_gradient(
        Signals::new(x, batch, c_in).unwrap(),
        g,
        KernelWeightsMut::new(&mut gw, nb, c_in, c_out).unwrap(),
    );
    op.input_gradient(
        g,
        KernelWeights::new(w, nb, c_in, c_out).unwrap(),
        SignalsMut::new(&mut gx, batch, c_in).unwrap(),
    );
    (gx, gw)
}

/// Linear interpolation of an image on the triangulated unit grid (cells split along (x,y)–(x+1,y+1),
/// as `grid:NXxNY` is): the planar counterpart of barycentric interpolation on the mesh.
fn sample_image(img: &[f64], nx: usize, x: f64, y: f64) -> f64 {
    let (i, j) = (x.floor() as usize, y.floor() as usize);
    let (u, v) = (x - i as f64, y - j as f64);
    let at = |a: usize, b: usize| img[a + nx * b];
    if u >= v {
        // Lower triangle (0,0), (1,0), (1,1).
        (1.0 - u) * at(i, j) + (u - v) * at(i + 1, j) + v * at(i + 1, j + 1)
    } else {
        (1.0 - v) * at(i, j) + (v - u) * at(i, j + 1) + u * at(i + 1, j + 1)
    }
}

#[test]
fn flat_grid_is_planar_cross_correlation() {
    let (nx, ny, rho, rings, dirs) = (16, 14, 3.2, 4, 12);
    let m = load(&format!("grid:{nx}x{ny}"));
    let t = table(&m, rings, dirs, rho);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let basis = Monomials(2, rho);
    let op = integral_op(&m, &t, &basis, &gauge).unwrap();
    let img = signal(nx * ny, 7);
    let w = signal(6, 8);
    let out = conv(&op, &img, 1, &w, 1);
    // The same cross-correlation, written for a plain image.
    let dr = rho / rings as f64;
    let mut vals = [0.0; 6];
    let mut checked = 0;
    for y in 0..ny {
        for x in 0..nx {
            let (xf, yf) = (x as f64, y as f64);
            if xf < rho + 0.5
                || yf < rho + 0.5
                || xf > (nx - 1) as f64 - rho - 0.5
                || yf > (ny - 1) as f64 - rho - 0.5
            {
                continue;
            }
            let mut expected = 0.0;
            for i in 0..rings {
                let r = (i as f64 + 0.5) * dr;
                for j in 0..dirs {
                    let th = 2.0 * PI * j as f64 / dirs as f64;
                    basis.eval(r / rho, th, &mut vals);
                    let k: f64 = vals.iter().zip(&w).map(|(a, b)| a * b).sum();
                    let f = sample_image(&img, nx, xf + r * th.cos(), yf + r * th.sin());
                    expected += r * dr * (2.0 * PI / dirs as f64) * k * f;
                }
            }
            let got = out[x + nx * y];
            assert_abs_diff_eq_msg!(
                got,
                expected,
                epsilon = 1e-6,
                "({x}, {y}): {got} vs {expected}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} interior vertices checked");
}

#[test]
fn flat_torus_is_exactly_translation_equivariant() {
    let (nx, ny) = (12, 10);
    let m = load(&format!("flat-torus:{nx}x{ny}"));
    let t = table(&m, 3, 10, 2.7);
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = integral_op(&m, &t, &Monomials(2, 2.7), &gauge).unwrap();
    let (c_in, c_out) = (2, 3);
    let x = signal(nx * ny * c_in, 1);
    let w = signal(6 * c_in * c_out, 2);
    let out = conv(&op, &x, c_in, &w, c_out);
    for (dx, dy) in [(1, 0), (0, 1), (5, 3), (11, 9)] {
        let shift = |v: usize| (v % nx + dx) % nx + nx * ((v / nx + dy) % ny);
        let mut xs = vec![0.0; x.len()];
        for v in 0..nx * ny {
            xs[shift(v) * c_in..(shift(v) + 1) * c_in]
                .copy_from_slice(&x[v * c_in..(v + 1) * c_in]);
        }
        let outs = conv(&op, &xs, c_in, &w, c_out);
        for v in 0..nx * ny {
            for o in 0..c_out {
                let (a, b) = (outs[shift(v) * c_out + o], out[v * c_out + o]);
                assert_abs_diff_eq_msg!(
                    a,
                    b,
                    epsilon = 1e-9,
                    "shift ({dx}, {dy}), vertex {v}: {a} vs {b}"
                );
            }
        }
    }
}

/// The grid again, with every face's corners rotated and the faces shuffled at random: the same
/// surface and vertex numbering, but another reference edge at most vertices.
fn regauged_grid(nx: u32, ny: u32, seed: u64) -> MeshSource {
    let mut src = primitives::grid(nx, ny).unwrap();
    let r = signal(2 * src.faces.len(), seed);
    for (f, &u) in src.faces.iter_mut().zip(&r) {
        let k = ((u + 1.0) * 1.5) as usize % 3;
        f.rotate_left(k);
    }
    let n = src.faces.len();
    for i in (1..n).rev() {
        let j = (((r[n + i] + 1.0) / 2.0) * (i + 1) as f64) as usize % (i + 1);
        src.faces.swap(i, j);
    }
    src
}

#[test]
fn reference_edges_change_the_output_only_by_quadrature_error() {
    let (nx, ny, rho) = (24u32, 24u32, 4.0);
    let smooth: Vec<f64> = (0..nx * ny)
        .map(|v| ((v % nx) as f64 * 0.31).sin() * ((v / nx) as f64 * 0.23).cos())
        .collect();
    let w = signal(6, 3);
    let a = load(&format!("grid:{nx}x{ny}"));
    let b = Manifold::from_source(&regauged_grid(nx, ny, 11), &BuildOptions::default()).unwrap();
    let same_reference = |v: manifold_cnn::VertexId| {
        let reference = |m: &Manifold| {
            m.mesh
                .vertex_spoke_ids(v)
                .nth(m.mesh.vertex_reference_spoke(v))
                .unwrap()
        };
        a.mesh.spoke_target(reference(&a)) == b.mesh.spoke_target(reference(&b))
    };
    assert!(
        a.mesh.vertices().filter(|&v| !same_reference(v)).count() > (nx * ny / 2) as usize,
        "most reference edges must change"
    );
    // The kernel is given in the frame of the root p0: keep one whose frame is the same in both.
    let root = a
        .mesh
        .vertices()
        .find(|&v| same_reference(v) && !a.mesh.is_boundary_vertex(v))
        .unwrap();
    let interior: Vec<usize> = (0..(nx * ny) as usize)
        .filter(|v| {
            let (x, y) = ((v % nx as usize) as f64, (v / nx as usize) as f64);
            x > rho + 1.0 && y > rho + 1.0 && x < nx as f64 - rho - 2.0 && y < ny as f64 - rho - 2.0
        })
        .collect();
    let mut errors = Vec::new();
    // A ≡ 2 (mod 4): the frames here differ by multiples of π/4, which then never map the sample
    // directions onto themselves.
    for dirs in [6, 10, 18, 34] {
        let outs: Vec<Vec<f64>> = [&a, &b]
            .iter()
            .map(|m| {
                let t = table(m, 6, dirs, rho);
                let g = Gauge::new(m, Some(&[root]), SpanningTree::Bfs).unwrap();
                conv(
                    &integral_op(m, &t, &Monomials(2, rho), &g).unwrap(),
                    &smooth,
                    1,
                    &w,
                    1,
                )
            })
            .collect();
        let err = interior
            .iter()
            .map(|&v| (outs[0][v] - outs[1][v]).abs())
            .fold(0.0, f64::max);
        errors.push(err);
    }
    eprintln!("max |Δout| over interior vertices for 6, 10, 18, 34 directions: {errors:?}");
    // The interpolated signal is only piecewise linear, so the periodic rule converges like 1/A:
    // each step here multiplies A by about 1.8.
    assert_falling(&errors, 0.75, "quadrature error must fall with directions");
    assert!(errors[3] < errors[0] / 10.0, "{errors:?}");
}

/// The Funk–Hecke eigenvalue of the isotropic kernel Σ w_b k_b(r) for the spherical harmonics of
/// Legendre polynomial `legendre`, by the table's own quadrature: λ = Σ_s w_s k(r_s) P(cos r_s).
fn funk_hecke(t: &ExpMapTable, w: &[f64; 3], legendre: impl Fn(f64) -> f64) -> f64 {
    let radial = Radial(t.radius());
    let mut vals = [0.0; 3];
    t.sample_radii()
        .iter()
        .zip(t.sample_weights())
        .map(|(&r, &wt)| {
            radial.eval(r / t.radius(), 0.0, &mut vals);
            wt * legendre(r.cos()) * vals.iter().zip(w).map(|(x, y)| x * y).sum::<f64>()
        })
        .sum()
}

#[test]
fn isotropic_kernels_on_the_sphere_satisfy_funk_hecke() {
    // For a linear function g(x) = a·x and the exact exponential map of the unit sphere,
    // ∫ k(|v|) g(exp_p v) dv = g(p) ∫ k(r) cos r dμ: the convolution multiplies g by a constant. So it
    // commutes with every rotation R (g∘R is linear too). The discrete error falls with refinement.
    let a = [0.3, -0.5, 0.8];
    let w = [0.7, -0.4, 1.1];
    let mut errors = Vec::new();
    for level in [2, 3, 4] {
        let m = load(&format!("icosphere:{level}"));
        let rho = 0.6;
        let t = table(&m, 6, 24, rho);
        let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let op = integral_op(&m, &t, &Radial(t.radius()), &g).unwrap();
        let p = m.positions.as_ref().unwrap();
        let f: Vec<f64> = p
            .iter()
            .map(|x| a[0] * x[0] + a[1] * x[1] + a[2] * x[2])
            .collect();
        let out = conv(&op, &f, 1, &w, 1);
        let lambda = funk_hecke(&t, &w, |c| c);
        let exact: Vec<f64> = f.iter().map(|fv| lambda * fv).collect();
        let err = max_diff(&out, &exact) / lambda.abs();
        errors.push(err);
    }
    eprintln!("Funk–Hecke relative error at levels 2, 3, 4: {errors:?}");
    assert_falling(&errors, 0.6, "error must fall with refinement");
}

#[test]
fn backward_matches_finite_differences() {
    let m = load("icosphere:1");
    let t = table(&m, 3, 8, 0.8);
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = integral_op(&m, &t, &Monomials(2, 0.8), &g).unwrap();
    let (n, c_in, c_out, nb) = (m.mesh.vertex_count(), 2, 3, 6);
    let x = signal(n * c_in, 5);
    let w = signal(nb * c_in * c_out, 6);
    let target = signal(n * c_out, 7);
    // L = ½ Σ (out − target)²
    let loss = |x: &[f64], w: &[f64]| {
        conv(&op, x, c_in, w, c_out)
            .iter()
            .zip(&target)
            .map(|(o, t)| 0.5 * (o - t) * (o - t))
            .sum::<f64>()
    };
    let out = conv(&op, &x, c_in, &w, c_out);
    let gout: Vec<f64> = out.iter().zip(&target).map(|(o, t)| o - t).collect();
    let (gx, gw) = backward(&op, &x, c_in, &w, c_out, &gout);
    let h = 1e-6;
    assert_gradient(
        "∂L/∂x",
        |xv| loss(xv, &w),
        &x,
        &gx,
        (0..x.len()).step_by(5),
        h,
    );
    assert_gradient("∂L/∂W", |wv| loss(&x, wv), &w, &gw, 0..w.len(), h);
}

#[test]
fn f32_operator_agrees_with_f64() {
    let m = load("icosphere:2");
    let t = table(&m, 4, 12, 0.5);
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    // 1, 3, 6 and 28 basis functions: between them every tile height of the vectorised gather (16,
    // 8, 4, 3, 2, 1); batches of 3 and 16 take the block products that read a batch's gathered tile
    // in place, with whole vectors of 16 outputs (16, 32), a masked last one (4, 21 = 16 + 5,
    // 40 = 32 + 8) or the generic path (batch 1, 4 channels).
    for degree in [0, 1, 2, 6] {
        let basis = Monomials(degree, 0.5);
        let nb = basis.len();
        let op64 = ConvOperator::<f64>::new(&m, &t, &basis, &g).unwrap();
        let op32 = ConvOperator::<f32>::new(&m, &t, &basis, &g).unwrap();
        for (batch, c_in, c_out) in [
            (1, 16, 32),
            (1, 5, 4),
            (3, 16, 32),
            (3, 5, 4),
            (16, 1, 16),
            (3, 7, 40),
            (16, 3, 21),
        ] {
            let n = m.mesh.vertex_count();
            let x = signal(batch * n * c_in, 9);
            let w = signal(nb * c_in * c_out, 10);
            let out64 = conv(&op64, &x, c_in, &w, c_out);
            let (x32, w32): (Vec<f32>, Vec<f32>) = (
                x.iter().map(|&v| v as f32).collect(),
                w.iter().map(|&v| v as f32).collect(),
            );
            let out32 = conv(&op32, &x32, c_in, &w32, c_out);
            let scale = max_abs(&out64);
            for (a, b) in out64.iter().zip(&out32) {
                assert_abs_diff_eq_msg!(
                    *a,
                    *b as f64,
                    epsilon = 1e-5 * scale,
                    "B = {nb}, batch {batch}: {a} vs {b}"
                );
            }
            // Backward in both precisions, with the output as the incoming gradient.
            let (gx64, gw64) = backward(&op64, &x, c_in, &w, c_out, &out64);
            let (gx32, gw32) = backward(&op32, &x32, c_in, &w32, c_out, &out32);
            for (g64, g32) in [(&gx64, &gx32), (&gw64, &gw32)] {
                let scale = max_abs(g64);
                for (a, b) in g64.iter().zip(g32.iter()) {
                    assert_abs_diff_eq_msg!(
                        *a,
                        *b as f64,
                        epsilon = 1e-4 * scale,
                        "B = {nb}, batch {batch}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn isotropic_kernels_commute_with_the_icosahedral_rotations() {
    let group = icosahedral_rotations();
    assert_eq!(group.len(), 60);
    // A smooth, non-symmetric signal.
    let signal = |x: &[f64; 3]| (1.3 * x[0] - 0.4 * x[1] + 0.9 * x[2]).exp() + x[0] * x[1] * x[2];
    let w = [0.7, -0.4, 1.1];
    let mut by_level = Vec::new();
    for (level, dirs) in [(3, 8), (3, 16), (3, 32), (4, 32)] {
        let m = load(&format!("icosphere:{level}"));
        let p = m.positions.as_ref().unwrap();
        // Vertex lookup by rounded position.
        let key = |x: [f64; 3]| x.map(|c| (c * 1e6).round() as i64);
        let index: std::collections::HashMap<_, _> =
            p.iter().enumerate().map(|(i, x)| (key(*x), i)).collect();
        let t = table(&m, 4, dirs, 0.35);
        let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let op = integral_op(&m, &t, &Radial(t.radius()), &g).unwrap();
        let f: Vec<f64> = p.iter().map(signal).collect();
        let out = conv(&op, &f, 1, &w, 1);
        let scale = max_abs(&out);
        let mut worst: f64 = 0.0;
        for r in &group {
            // perm[v] = the vertex at R⁻¹ p_v (R⁻¹ = Rᵀ); (R f)(v) = f(R⁻¹ p_v).
            let perm: Vec<usize> = p
                .iter()
                .map(|x| {
                    let y = mul_transpose(r, *x);
                    *index
                        .get(&key(y))
                        .expect("icosahedral rotations map vertices to vertices")
                })
                .collect();
            let fr: Vec<f64> = perm.iter().map(|&u| f[u]).collect();
            let outr = conv(&op, &fr, 1, &w, 1);
            for v in 0..p.len() {
                worst = worst.max((outr[v] - out[perm[v]]).abs() / scale);
            }
        }
        by_level.push(worst);
    }
    eprintln!("icosahedral equivariance error (level, directions) (3,8) (3,16) (3,32) (4,32): {by_level:?}");
    assert!(
        by_level[1] < by_level[0] && by_level[2] < by_level[1],
        "falls with directions: {by_level:?}"
    );
    assert!(
        by_level[3] < by_level[2],
        "falls with refinement: {by_level:?}"
    );
}

use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyOptions};
use manifold_cnn::kernel::{HarmonicBasis, KernelBasis, RadialBasis, RadialProfile};

fn harmonics() -> KernelBasis {
    let radial = RadialBasis::new(RadialProfile::Gaussian, 3).unwrap();
    KernelBasis::Harmonic(HarmonicBasis::new(radial, 3).unwrap())
}

/// Max |difference| of the convolutions with two spanning trees, relative to the output scale.
fn tree_dependence(m: &Manifold, t: &ExpMapTable, basis: &dyn SampledBasis, seed: u64) -> f64 {
    let nb = basis.len();
    let (n, c_in, c_out) = (m.mesh.vertex_count(), 2, 2);
    let x = signal(n * c_in, seed);
    let w = signal(nb * c_in * c_out, seed + 1);
    let run = |tree| {
        let g = Gauge::new(m, None, tree).unwrap();
        conv(&integral_op(m, t, basis, &g).unwrap(), &x, c_in, &w, c_out)
    };
    let (a, b) = (run(SpanningTree::Bfs), run(SpanningTree::Random { seed }));
    max_diff(&a, &b) / max_abs(&a)
}

#[test]
fn holonomy_invariant_kernels_do_not_depend_on_the_spanning_tree() {
    for (spec, group, radius) in [
        ("icosphere:3", "SO2", 0.3),
        ("torus:24x12", "SO2", 0.25),
        ("flat-mobius:16x7", "Z2", 1.6),
    ] {
        let m = load(spec);
        let analysis = HolonomyAnalysis::new(&m, &HolonomyOptions::default()).unwrap();
        assert_eq!(analysis.group().name(), group, "{spec}");
        let t = table(&m, 4, 16, radius);
        let base = harmonics();
        let constrained = base.constrain(&analysis.group());
        assert!(constrained.dimension() < base.len());
        let with = tree_dependence(&m, &t, &constrained, 21);
        let without = tree_dependence(&m, &t, &base, 21);
        eprintln!("{spec}: tree dependence {with:.1e} constrained, {without:.1e} unconstrained");
        assert!(
            with < 1e-12,
            "{spec}: a {group}-invariant kernel must not see the tree ({with})"
        );
        assert!(
            without > 1e-3,
            "{spec}: an unconstrained kernel must see the tree ({without})"
        );
    }
}

#[test]
fn a_batch_is_its_signals_one_by_one() {
    let m = load("icosphere:2");
    let t = table(&m, 3, 8, 0.5);
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = integral_op(&m, &t, &Monomials(2, 0.5), &g).unwrap();
    let (n, c_in, c_out, batch) = (m.mesh.vertex_count(), 2, 3, 3);
    let x = signal(batch * n * c_in, 31);
    let w = signal(6 * c_in * c_out, 32);
    let out = conv(&op, &x, c_in, &w, c_out);
    let (gx, gw) = backward(&op, &x, c_in, &w, c_out, &out);
    let mut gw_sum = vec![0.0; w.len()];
    for i in 0..batch {
        let xi = &x[i * n * c_in..(i + 1) * n * c_in];
        let oi = conv(&op, xi, c_in, &w, c_out);
        assert_eq!(&out[i * n * c_out..(i + 1) * n * c_out], &oi[..]);
        let (gxi, gwi) = backward(&op, xi, c_in, &w, c_out, &oi);
        assert_eq!(&gx[i * n * c_in..(i + 1) * n * c_in], &gxi[..]);
        for (a, b) in gw_sum.iter_mut().zip(&gwi) {
            *a += b;
        }
    }
    for (a, b) in gw.iter().zip(&gw_sum) {
        assert_abs_diff_eq!(a, b, epsilon = 1e-12 * (1.0 + b.abs()));
    }
}

/// The row layout is the vertex layout reordered: `forward_rows`, `weight_gradient_rows` and
/// `input_gradient_rows` on reordered signals give the reordered results of `forward`, … exactly, and
/// so does the weight gradient from what `forward_rows_gathering` kept.
#[test]
fn the_row_layout_is_the_vertex_layout_reordered() {
    let m = load("icosphere:2");
    let t = table(&m, 3, 8, 0.5);
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = integral_op(&m, &t, &Monomials(2, 0.5), &g).unwrap();
    let (n, c_in, c_out, batch) = (m.mesh.vertex_count(), 2, 3, 3);
    let x = signal(batch * n * c_in, 41);
    let w = signal(6 * c_in * c_out, 42);
    let to_rows = |v: &[f64], c: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity(v.len());
        for &vert in op.order() {
            for s in 0..batch {
                let at = (s * n + vert as usize) * c;
                out.extend_from_slice(&v[at..at + c]);
            }
        }
        out
    };
    let out = conv(&op, &x, c_in, &w, c_out);
    let (gx, gw) = backward(&op, &x, c_in, &w, c_out, &out);
    let xr = to_rows(&x, c_in);
    let mut out_r = vec![0.0; out.len()];
    op.forward_rows(
        Signals::new(&xr, batch, c_in).unwrap(),
        KernelWeights::new(&w, 6, c_in, c_out).unwrap(),
        SignalsMut::new(&mut out_r, batch, c_out).unwrap(),
    );
    assert_eq!(out_r, to_rows(&out, c_out));
    let mut gw_r = vec![0.0; w.len()];
    op.weight_gradient_rows(
        Signals::new(&xr, batch, c_in).unwrap(),
        Signals::new(&out_r, batch, c_out).unwrap(),
        KernelWeightsMut::new(&mut gw_r, 6, c_in, c_out).unwrap(),
    );
    assert_eq!(gw_r, gw);
    // Keeping what the forward pass gathered gives the same output, and the same weight gradient.
    let mut kept = vec![0.0; n * 6 * batch * c_in];
    let mut out_k = vec![0.0; out.len()];
    op.forward_rows_gathering(
        Signals::new(&xr, batch, c_in).unwrap(),
        KernelWeights::new(&w, 6, c_in, c_out).unwrap(),
        SignalsMut::new(&mut out_k, batch, c_out).unwrap(),
        &mut kept,
    );
    assert_eq!(out_k, out_r);
    let mut gw_k = vec![0.0; w.len()];
    op.weight_gradient_gathered(
        &kept,
        Signals::new(&out_r, batch, c_out).unwrap(),
        KernelWeightsMut::new(&mut gw_k, 6, c_in, c_out).unwrap(),
    );
    assert_eq!(gw_k, gw);
    let mut gx_r = vec![0.0; x.len()];
    op.input_gradient_rows(
        Signals::new(&out_r, batch, c_out).unwrap(),
        KernelWeights::new(&w, 6, c_in, c_out).unwrap(),
        SignalsMut::new(&mut gx_r, batch, c_in).unwrap(),
    );
    assert_eq!(gx_r, to_rows(&gx, c_in));
}

#[test]
#[should_panic(expected = "signals on 10 vertices, but the operator has 42")]
fn signals_on_another_mesh_panic() {
    let m = load("icosphere:1");
    let t = table(&m, 2, 6, 0.5);
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f64>::new(&m, &t, &Monomials(0, 0.5), &g).unwrap();
    let x = [0.0; 10];
    let mut out = [0.0; 10];
    op.forward(
        Signals::new(&x, 1, 1).unwrap(),
        KernelWeights::new(&[1.0], 1, 1, 1).unwrap(),
        SignalsMut::new(&mut out, 1, 1).unwrap(),
    );
}

#[test]
fn views_check_their_shapes() {
    let data = [0.0f32; 12];
    assert!(Signals::new(&data, 2, 3).is_ok());
    assert!(Signals::new(&data, 5, 1).is_err());
    assert!(Signals::new(&data, 0, 1).is_err());
    assert!(Signals::new(&data, 1, 0).is_err());
    assert!(KernelWeights::new(&data, 2, 3, 2).is_ok());
    assert!(KernelWeights::new(&data, 2, 3, 3).is_err());
    assert!(KernelWeights::new(&data, 0, 3, 2).is_err());
    let mut m = [0.0f32; 12];
    assert!(SignalsMut::new(&mut m, 4, 3).is_ok());
    assert!(KernelWeightsMut::new(&mut m, 1, 1, 11).is_err());
}

#[test]
fn isotropic_kernels_commute_with_random_rotations() {
    // g(x) = (a·Rx)(b·Rx) with a ⊥ b is a degree-2 spherical harmonic for every rotation R, and an
    // isotropic kernel maps it to λ₂·g with λ₂ = ∫ k(r) P₂(cos r) dμ (Funk–Hecke): so the convolution of
    // the resampled signal g∘R equals the rotated convolution, up to discretisation, falling with
    // refinement.
    let mut rng = SplitMix(0x1234_5678_9abc_def0);
    let mut uniform = || symmetric(&mut rng);
    let rotations: Vec<Rotation> = (0..4)
        .map(|_| axis_angle([uniform(), uniform(), uniform()], PI * uniform()))
        .collect();
    let (a, b) = ([1.0, 2.0, -0.5], [2.0, -0.5, 2.0]); // a·b = 0
    let w = [0.7, -0.4, 1.1];
    let mut errors = Vec::new();
    for level in [2, 3, 4] {
        let m = load(&format!("icosphere:{level}"));
        let t = table(&m, 6, 24, 0.6);
        let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let op = integral_op(&m, &t, &Radial(t.radius()), &g).unwrap();
        let lambda = funk_hecke(&t, &w, |c| 0.5 * (3.0 * c * c - 1.0));
        let mut worst: f64 = 0.0;
        for rot in &rotations {
            let f: Vec<f64> = m
                .positions
                .as_ref()
                .unwrap()
                .iter()
                .map(|x| {
                    let y = mul(rot, *x);
                    dot(a, y) * dot(b, y)
                })
                .collect();
            let out = conv(&op, &f, 1, &w, 1);
            let scale = f.iter().fold(0.0f64, |s, v| s.max((lambda * v).abs()));
            for (o, v) in out.iter().zip(&f) {
                worst = worst.max((o - lambda * v).abs() / scale);
            }
        }
        errors.push(worst);
    }
    eprintln!("random rotations, degree-2 harmonic, relative error at levels 2, 3, 4: {errors:?}");
    assert_falling(&errors, 0.6, "error must fall with refinement");
}

#[test]
fn convolve_reports_the_layout_it_compiled() {
    use manifold_cnn::io::npz::write_npy_f32;
    let dir = TempDir::new("conv", "convolve_layout");
    let n = 42; // icosphere:1
    let x: Vec<f32> = signal(n, 43).iter().map(|&v| v as f32).collect();
    write_npy_f32(dir.arg("x.npy"), &[n as u64, 1], &x).unwrap();
    let x = dir.arg("x.npy");
    // Bins are stored per function (a sample lies in one), harmonics in blocks.
    for (basis, layout) in [("bins:2:8", "per function"), ("harmonic:2:2", "blocks")] {
        let report = json(&run(&[
            "convolve",
            "icosphere:1",
            "--signal",
            &x,
            "--kernel",
            "random:1",
            "--basis",
            basis,
            "--group",
            "trivial",
            "--json",
        ]));
        assert_eq!(report["operator_layout"], layout, "{basis}: {report}");
    }
}

#[test]
fn convolve_command_line() {
    use manifold_cnn::io::npz::{read_npy_f32, write_npy_f32};
    let dir = TempDir::new("conv", "convolve_command_line");
    let path = |name: &str| dir.arg(name);
    let n = 162; // icosphere:2
    let x: Vec<f32> = signal(n * 3, 41).iter().map(|&v| v as f32).collect();
    write_npy_f32(path("x.npy"), &[n as u64, 3], &x).unwrap();
    write_npy_f32(path("short.npy"), &[10, 3], &x[..30]).unwrap();
    let mut with_nan = x.clone();
    with_nan[7] = f32::NAN;
    write_npy_f32(path("nan.npy"), &[n as u64, 3], &with_nan).unwrap();
    let common = [
        "convolve",
        "icosphere:2",
        "--signal",
        &path("x.npy"),
        "--kernel",
        "random:3",
        "--out-channels",
        "5",
        "--radius",
        "0.5",
    ];
    let out = run(&[
        &common[..],
        &[
            "--out",
            &path("y.npy"),
            "--json",
            "--repeat",
            "2",
            "--export-operator",
            &path("op.npz"),
            "--backward",
        ],
    ]
    .concat());
    let v = json(&out);
    assert_eq!(v["vertices"], n);
    assert_eq!(v["group"], "SO2");
    for key in [
        "basis",
        "seconds_precompile",
        "seconds_forward",
        "seconds_backward",
    ] {
        assert!(v[key].is_number(), "{key}");
    }
    assert_eq!(v["quadrature"], "mean");
    let (shape, y) = read_npy_f32(path("y.npy")).unwrap();
    assert_eq!(shape, vec![n as u64, 5]);
    assert!(y.iter().all(|v| v.is_finite()) && y.iter().any(|&v| v != 0.0));
    // The integral: the same weights, every sample weighed by w_s instead of w_s / Σ_t w_t, where the
    // table's Σ_t w_t = πρ² exactly (midpoint rule in r dr) and the sphere truncates nothing.
    let integral = run(&[
        &common[..],
        &["--quadrature", "integral", "--out", &path("yi.npy")],
    ]
    .concat());
    assert!(integral.status.success(), "{}", stderr(&integral));
    let (_, yi) = read_npy_f32(path("yi.npy")).unwrap();
    let area = PI * 0.25;
    let scale = y.iter().fold(0.0f32, |a, b| a.max(b.abs())) as f64;
    for (a, b) in y.iter().zip(&yi) {
        assert_abs_diff_eq_msg!(
            *a as f64 * area,
            *b as f64,
            epsilon = 1e-5 * scale * area,
            "{a}·πρ² vs {b}"
        );
    }
    // The sphere's holonomy group is SO(2): naming C2 warns with both names, naming O2 does not.
    let small = run(&[&common[..], &["--group", "C2"]].concat());
    assert!(small.status.success());
    let err = stderr(&small);
    assert!(
        err.contains("warning") && err.contains("C2") && err.contains("SO2"),
        "{err}"
    );
    let big = run(&[&common[..], &["--group", "O2"]].concat());
    assert!(big.status.success());
    assert!(!stderr(&big).contains("warning"));
    for bad in [
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("short.npy"),
            "--kernel",
            "random:1",
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("nan.npy"),
            "--kernel",
            "random:1",
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("x.npy"),
            "--kernel",
            "random:1",
            "--group",
            "C0",
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("x.npy"),
            "--kernel",
            "random:1",
            "--group",
            "sphere",
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("x.npy"),
            "--kernel",
            "random:1",
            "--quadrature",
            "trapezoid",
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("x.npy"),
            "--kernel",
            &path("x.npy"),
        ],
        vec![
            "convolve",
            "icosphere:2",
            "--signal",
            &path("missing.npy"),
            "--kernel",
            "random:1",
        ],
    ] {
        let out = run(&bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(!out.stderr.is_empty());
    }
}

use manifold_cnn::expmap::FLAG_TRUNCATED;
use manifold_cnn::kernel::PolarBins;

/// Row sums of `A_0` in the mesh's vertex numbering.
fn row_sums<T: manifold_cnn::conv::Real>(op: &ConvOperator<T>) -> Vec<f64> {
    let a = op.basis_matrix(0);
    a.outer_iterator()
        .map(|row| row.data().iter().map(|c| c.to_f64()).sum())
        .collect()
}

/// For every vertex, the fraction of the disc's quadrature weight `Σ_s w_s` whose samples are not
/// truncated: 1 at vertices whose disc lies on the surface.
fn untruncated_weight(t: &ExpMapTable) -> Vec<f64> {
    let ns = t.samples_per_vertex();
    let total: f64 = t.sample_weights().iter().sum();
    (0..t.vertex_count())
        .map(|p| {
            (0..ns)
                .filter(|&s| t.flags()[p * ns + s] & FLAG_TRUNCATED == 0)
                .map(|s| t.sample_weights()[s])
                .sum::<f64>()
                / total
        })
        .collect()
}

#[test]
fn the_constant_kernel_averages_under_the_mean_quadrature() {
    // One ring, one sector: the indicator of the unit disc, i.e. the constant kernel 1 on the table's
    // disc. Row p of its operator sums Σ_s ω_s Σ_q β_{s,q} = Σ_s ω_s over the samples that land (the
    // barycentric weights of a landing point sum to 1), which is 1 when none is truncated (zero padding
    // drops the truncated ones, leaving their share of the disc).
    let one = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    // The strip is 4 units wide: a radius of 1.5 leaves its middle row's discs whole.
    let default_radius = ExpMapOptions::default().radius;
    for (spec, radius) in [
        (mesh_path("bull.obj"), default_radius),
        ("flat-mobius:24x5".to_string(), Radius::Absolute(1.5)),
        ("icosphere:2".to_string(), default_radius),
    ] {
        let m = load(&spec);
        let params = ExpMapOptions::new().radius(radius);
        let t = sane_table(&m, &params);
        let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let share = untruncated_weight(&t);
        let inside = share.iter().filter(|&&x| x == 1.0).count();
        assert!(inside > 0, "{spec}: some vertex must have its whole disc");
        let sums64 = row_sums(&ConvOperator::<f64>::new(&m, &t, &one, &g).unwrap());
        let sums32 = row_sums(&ConvOperator::<f32>::new(&m, &t, &one, &g).unwrap());
        let integral = row_sums(&integral_op(&m, &t, &one, &g).unwrap());
        let area: f64 = t.sample_weights().iter().sum();
        for v in 0..m.mesh.vertex_count() {
            assert_abs_diff_eq_msg!(
                sums64[v],
                share[v],
                epsilon = 1e-12,
                "{spec} vertex {v}: {}",
                sums64[v]
            );
            assert_abs_diff_eq_msg!(
                sums32[v],
                share[v],
                epsilon = 1e-6,
                "{spec} vertex {v}: {}",
                sums32[v]
            );
            assert_abs_diff_eq_msg!(
                integral[v],
                share[v] * area,
                epsilon = 1e-12 * area,
                "{spec} vertex {v}: {} vs {}",
                integral[v],
                share[v] * area
            );
        }
        let mean = |v: &[f64]| {
            let inner: Vec<f64> = (0..v.len())
                .filter(|&i| share[i] == 1.0)
                .map(|i| v[i])
                .collect();
            inner.iter().sum::<f64>() / inner.len() as f64
        };
        eprintln!(
            "{spec}: {inside} of {} vertices untruncated; their mean row sum {:.6} (mean), {:.4e} (integral)",
            m.mesh.vertex_count(),
            mean(&sums64),
            mean(&integral)
        );
    }
}

#[test]
fn the_mean_quadrature_does_not_see_the_length_unit() {
    // The same surface in units 1000 times smaller: the exp map, the gauge and the landing points are
    // the same (the radius is given in mean edge lengths), so under Mean the operator is the same to
    // rounding, and under Integral it scales by s² (dμ = r dr dθ).
    let path = mesh_path("bull.obj");
    let source = manifold_cnn::io::load_source(&path).unwrap();
    let s = 1000.0;
    let mut scaled = source.clone();
    for x in scaled.positions.as_mut().unwrap() {
        *x = x.map(|c| c * s);
    }
    let basis = harmonics();
    let params = ExpMapOptions::new()
        .rings(4)
        .directions(12)
        .radius(Radius::MeanEdgeLengths(3.0));
    let outs: Vec<[Vec<f64>; 2]> = [&source, &scaled]
        .iter()
        .map(|src| {
            let m = Manifold::from_source(src, &BuildOptions::default()).unwrap();
            let t = sane_table(&m, &params);
            let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
            let n = m.mesh.vertex_count();
            let x = signal(n * 2, 51);
            let w = signal(basis.len() * 2 * 3, 52);
            let mean = ConvOperator::<f64>::new(&m, &t, &basis, &g).unwrap();
            let integral = integral_op(&m, &t, &basis, &g).unwrap();
            [conv(&mean, &x, 2, &w, 3), conv(&integral, &x, 2, &w, 3)]
        })
        .collect();
    let (mean, integral) = (&outs[0][0], &outs[0][1]);
    let (mean_s, integral_s) = (&outs[1][0], &outs[1][1]);
    let sm = max_abs(mean);
    assert!(sm > 0.0);
    for (a, b) in mean.iter().zip(mean_s) {
        assert_abs_diff_eq_msg!(a, b, epsilon = 1e-9 * sm, "mean: {a} vs {b}");
    }
    let si = max_abs(integral);
    for (a, b) in integral.iter().zip(integral_s) {
        assert_abs_diff_eq_msg!(
            a * s * s,
            *b,
            epsilon = 1e-9 * si * s * s,
            "integral: {a}·s² vs {b}"
        );
    }
}
