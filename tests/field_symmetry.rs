//! Field convolutions under the symmetries of the mesh: the 60 rotations of the icosphere (equivariant
//! to the quadrature error, far below an unconstrained convolution's change), translations of the
//! flat torus (exact), and the gradient of a linear signal on a flat grid (closed form).

use manifold_cnn::conv::{
    ConvOperator, ConvOptions, Gauge, KernelWeights, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::data::sphere::{icosahedral_rotations, rotation_permutation};
use manifold_cnn::expmap::{ExpMapParams, ExpMapTable, Radius};
use manifold_cnn::fields::{Field, FieldConvolution, FieldKernel, FieldType};
use manifold_cnn::kernel::{KernelBasis, RadialBasis, RadialProfile};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::{BuildOptions, Manifold, O2};

fn manifold(spec: &str) -> Manifold {
    Manifold::load(spec, &BuildOptions::default()).unwrap()
}

fn table(m: &Manifold, rings: usize, directions: usize, radius: Radius) -> ExpMapTable {
    let params = ExpMapParams {
        rings,
        directions,
        radius,
        ..Default::default()
    };
    ExpMapTable::build(m, &params).unwrap()
}

fn gaussians(n: usize) -> RadialBasis {
    RadialBasis::new(RadialProfile::Gaussian, n).unwrap()
}

fn compile(m: &Manifold, t: &ExpMapTable, k: &FieldKernel) -> FieldConvolution<f64> {
    FieldConvolution::new(
        m,
        t,
        k.clone(),
        &Gauge::identity(m),
        &ConvOptions::default(),
    )
    .unwrap()
}

fn apply(conv: &FieldConvolution<f64>, params: &[f64], x: &[f64]) -> Vec<f64> {
    let c = conv.kernel().output().channels();
    let mut y = vec![0.0; conv.vertex_count() * c];
    conv.forward_vertices(x, 1, params, &mut y);
    y
}

fn field_conv(
    m: &Manifold,
    t: &ExpMapTable,
    k: &FieldKernel,
    params: &[f64],
    x: &[f64],
) -> Vec<f64> {
    apply(&compile(m, t, k), params, x)
}

fn random(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix(seed);
    (0..n).map(|_| rng.normal()).collect()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// The polar angle, in the frame of `π(v)`, of the image of `v`'s polar axis under a symmetry `π` of
/// the mesh (a vertex permutation that is an isometry): the spoke `v → w` has angle `φ_v(w)` at `v`,
/// its image `π(v) → π(w)` angle `φ_{π(v)}(π(w))`, so directions at `v` turn by the difference.
fn frame_turns(m: &Manifold, perm: &[u32]) -> Vec<f64> {
    let angles = m.frames.spoke_angles();
    (0..m.mesh.vertex_count())
        .map(|v| {
            let vid = m.mesh.vertex(v).unwrap();
            let s = m.mesh.vertex_spokes(vid).start;
            let w = m.mesh.spoke_target(s).index();
            let pv = m.mesh.vertex(perm[v] as usize).unwrap();
            let image = m
                .mesh
                .vertex_spokes(pv)
                .find(|&t| m.mesh.spoke_target(t).index() == perm[w] as usize)
                .expect("a symmetry maps spokes to spokes");
            angles[image] - angles[s]
        })
        .collect()
}

/// `y'(π(v)) − ρ(δ_v) y(v)` over all vertices and channels, relative to the largest output.
fn rotation_error(t: &FieldType, y: &[f64], y_rot: &[f64], perm: &[u32], turns: &[f64]) -> f64 {
    let c = t.channels();
    let mut worst = 0.0f64;
    for v in 0..perm.len() {
        let mut moved = y[v * c..(v + 1) * c].to_vec();
        t.act(O2::rotation(turns[v]), &mut moved);
        let q = perm[v] as usize;
        for (a, b) in moved.iter().zip(&y_rot[q * c..(q + 1) * c]) {
            worst = worst.max((a - b).abs());
        }
    }
    worst / max_abs(y)
}

/// A smooth signal with no symmetry, and its rotation by the permutation.
fn sphere_signal(m: &Manifold) -> Vec<f64> {
    m.positions
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| (1.3 * p[0] - 0.4 * p[1] + 0.9 * p[2]).exp() + p[0] * p[1] * p[2])
        .collect()
}

fn permuted(x: &[f64], perm: &[u32], c: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for (v, &q) in perm.iter().enumerate() {
        out[q as usize * c..(q as usize + 1) * c].copy_from_slice(&x[v * c..(v + 1) * c]);
    }
    out
}

/// Under the 60 rotations of the icosahedral group, scalar outputs are permuted and fields of order m
/// permuted and turned by m times the angle between the frames, to the error of the quadrature (the
/// rotated sample grid does not fall on the old one), which falls with the number of directions; and
/// which is far below the change of an unconstrained convolution of the same size.
#[test]
fn field_convolutions_commute_with_the_rotations_of_the_icosphere() {
    let m = manifold("icosphere:3");
    let n = m.mesh.vertex_count();
    let x = sphere_signal(&m);
    let rotations = icosahedral_rotations();
    let perms: Vec<Vec<u32>> = rotations
        .iter()
        .map(|r| rotation_permutation(m.positions.as_ref().unwrap(), r, 1e-9).unwrap())
        .collect();
    let turns: Vec<Vec<f64>> = perms.iter().map(|p| frame_turns(&m, p)).collect();
    let t1 = FieldType::parse("1x0+1x1+1x2").unwrap();
    let t2 = FieldType::parse("2x0+1x1").unwrap();
    let k1 = FieldKernel::new(&FieldType::scalars(1), &t1, gaussians(3), false).unwrap();
    let k2 = FieldKernel::new(&t1, &t2, gaussians(3), false).unwrap();
    let (p1, p2) = (random(1, k1.param_count()), random(2, k2.param_count()));
    let mut errors = Vec::new();
    for directions in [8, 16, 32] {
        let t = table(&m, 3, directions, Radius::MeanEdgeLengths(2.5));
        let (c1, c2) = (compile(&m, &t, &k1), compile(&m, &t, &k2));
        let y1 = apply(&c1, &p1, &x);
        let y2 = apply(&c2, &p2, &y1);
        let mut worst = 0.0f64;
        for (perm, turn) in perms.iter().zip(&turns) {
            let xr = permuted(&x, perm, 1);
            let y1r = apply(&c1, &p1, &xr);
            let y2r = apply(&c2, &p2, &y1r);
            worst = worst
                .max(rotation_error(&t1, &y1, &y1r, perm, turn))
                .max(rotation_error(&t2, &y2, &y2r, perm, turn));
        }
        eprintln!("icosphere:3, {directions} directions: largest relative change {worst:.2e}");
        errors.push(worst);
    }
    assert!(errors[2] < errors[0], "the error falls with D: {errors:?}");

    // An unconstrained convolution (all harmonics up to order 2, transported along the BFS tree) of
    // about the same size, under the same rotations: its outputs change at the scale of themselves.
    let t = table(&m, 3, 32, Radius::MeanEdgeLengths(2.5));
    let basis = KernelBasis::parse("harmonic:3:2").unwrap();
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f64>::new(&m, &t, &basis, &gauge).unwrap();
    let c_out = 4;
    let w = random(3, basis.len() * c_out);
    let run = |x: &[f64]| {
        let mut y = vec![0.0; n * c_out];
        op.forward(
            Signals::new(x, 1, 1).unwrap(),
            KernelWeights::new(&w, basis.len(), 1, c_out).unwrap(),
            SignalsMut::new(&mut y, 1, c_out).unwrap(),
        );
        y
    };
    let y = run(&x);
    let scalars = FieldType::scalars(c_out);
    let mut unconstrained = 0.0f64;
    for perm in &perms {
        let yr = run(&permuted(&x, perm, 1));
        unconstrained = unconstrained.max(rotation_error(&scalars, &y, &yr, perm, &vec![0.0; n]));
    }
    eprintln!("unconstrained convolution: largest relative change {unconstrained:.2e}");
    assert!(
        10.0 * errors[2] < unconstrained,
        "{errors:?} against {unconstrained}"
    );
}

/// On the flat torus every vertex frame points the same way and a grid translation maps the mesh to
/// itself, frames to frames and samples to samples: field convolutions commute with it exactly; and a
/// constant vector field through the identity-like kernel stays constant.
#[test]
fn field_convolutions_commute_with_translations_of_the_flat_torus() {
    let (nx, ny) = (16, 16);
    let m = manifold(&format!("flat-torus:{nx}x{ny}"));
    let n = m.mesh.vertex_count();
    let t = table(&m, 3, 16, Radius::Absolute(2.5));
    let input = FieldType::parse("1x0+1x1+1x2").unwrap();
    let output = FieldType::parse("1x0+2x1+1x2").unwrap();
    let k = FieldKernel::new(&input, &output, gaussians(3), false).unwrap();
    let params = random(4, k.param_count());
    let x = random(5, n * input.channels());
    let conv = compile(&m, &t, &k);
    let y = apply(&conv, &params, &x);
    // Vertex (i, j) is i + nx·j on the primitive's grid.
    let shift = |v: usize, (dx, dy): (usize, usize)| (v % nx + dx) % nx + nx * ((v / nx + dy) % ny);
    for d in [(1, 0), (0, 1), (5, 11)] {
        let perm: Vec<u32> = (0..n).map(|v| shift(v, d) as u32).collect();
        let ys = apply(&conv, &params, &permuted(&x, &perm, input.channels()));
        let err = rotation_error(&output, &y, &ys, &perm, &vec![0.0; n]);
        assert!(err < 1e-12, "shift {d:?}: {err}");
    }
    // A constant field of order 1 (components (1, 0) everywhere: a parallel field, since the frames
    // agree and transport is the identity) through K0 = identity on one radial profile: the output is
    // the input times Σ_s ω_s R(r_s/ρ) at every vertex.
    let one = FieldType::parse("1x1").unwrap();
    let radial = gaussians(1);
    let k = FieldKernel::new(&one, &one, radial, false).unwrap();
    assert_eq!(k.param_count(), 4);
    let identity = [1.0, 0.0, 0.0, 1.0]; // K0 row-major
    let x: Vec<f64> = (0..n).flat_map(|_| [1.0, 0.0]).collect();
    let y = field_conv(&m, &t, &k, &identity, &x);
    let area: f64 = t.sample_weights().iter().sum();
    let gain: f64 = (0..t.samples_per_vertex())
        .map(|s| t.sample_weights()[s] / area * radial.value(0, t.sample_radii()[s] / t.radius()))
        .sum();
    // The table stores each transported direction as an f32 angle (rounding ≤ 2e-7 rad), so the
    // carried vector turns by up to that much: components to 1e-6 of the gain.
    for v in 0..n {
        let (y0, y1) = (y[2 * v], y[2 * v + 1]);
        assert!(
            (y0 - gain).abs() < 1e-6 * gain && y1.abs() < 1e-6 * gain,
            "{v}: ({y0}, {y1})"
        );
    }
}

/// On a flat grid, a scalar → order-1 kernel with one radial profile and K0 = (1, 0) applied to a linear
/// signal `f = a x + b y + c` gives, at every vertex whose disc stays inside the grid,
///
/// ```text
/// Σ_s ω_s R(r_s/ρ) (cos θ_s, sin θ_s) f(exp(r_s, θ_s)) = κ (a, b),   κ = Σ_s ω_s R(r_s/ρ) r_s cos²θ_s
/// ```
///
/// (the constant and the cross terms cancel over the A ≥ 3 equally spaced directions, barycentric
/// interpolation of a linear signal is exact, and the frame's axis is the grid's x): the gradient,
/// scaled, in the vertex's frame.
#[test]
fn an_order_one_kernel_takes_the_gradient_of_a_linear_signal() {
    let (nx, ny) = (14, 12);
    let m = manifold(&format!("grid:{nx}x{ny}"));
    let radius = 2.5;
    let t = table(&m, 3, 16, Radius::Absolute(radius));
    let radial = gaussians(1);
    let k = FieldKernel::new(
        &FieldType::scalars(1),
        &FieldType::from_runs(&[(Field::Order(1), 1)]),
        radial,
        false,
    )
    .unwrap();
    assert_eq!(k.param_count(), 2);
    let (a, b, c) = (0.7, -1.3, 2.0);
    let p = m.positions.as_ref().unwrap();
    let x: Vec<f64> = p.iter().map(|q| a * q[0] + b * q[1] + c).collect();
    let y = field_conv(&m, &t, &k, &[1.0, 0.0], &x);
    let area: f64 = t.sample_weights().iter().sum();
    let kappa: f64 = (0..t.samples_per_vertex())
        .map(|s| {
            let (r, th) = (t.sample_radii()[s], t.sample_angles()[s]);
            t.sample_weights()[s] / area * radial.value(0, r / radius) * r * th.cos().powi(2)
        })
        .sum();
    let frames = m.extrinsic_frames().unwrap();
    let mut checked = 0;
    for (v, q) in p.iter().enumerate() {
        let inside = q[0] >= radius
            && q[0] <= (nx - 1) as f64 - radius
            && q[1] >= radius
            && q[1] <= (ny - 1) as f64 - radius;
        if !inside {
            continue;
        }
        // The gradient (a, b) in the vertex's frame.
        let (fx, fy) = (frames.x[v], frames.y[v]);
        let want = [kappa * (a * fx.x + b * fx.y), kappa * (a * fy.x + b * fy.y)];
        // The table stores landing points as f32 barycentric coordinates (relative rounding 6e-8 of
        // an edge of length 1), which moves each sample by up to that much: f by |∇f|·6e-8.
        let tol = 1e-7 * f64::hypot(a, b);
        assert!(
            (y[2 * v] - want[0]).abs() < tol && (y[2 * v + 1] - want[1]).abs() < tol,
            "vertex {v}: {:?} against {want:?}",
            &y[2 * v..2 * v + 2]
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} interior vertices");
}
