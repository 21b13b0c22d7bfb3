//! Gauge-equivariant feature fields: the kernel space, the compiled convolution against a direct sum,
//! and equivariance under changes of frame, rotations of the sphere and translations of the torus.

mod common;

use manifold_cnn::conv::{
    ConvOperator, ConvOptions, Gauge, KernelWeights, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::data::sphere::{icosahedral_rotations, rotate, rotation_permutation};
use manifold_cnn::expmap::{ExpMapTable, Radius, Tracer};
use manifold_cnn::fields::{Field, FieldConvolution, FieldKernel, FieldType};
use manifold_cnn::kernel::{KernelBasis, RadialBasis, RadialProfile};
use manifold_cnn::{HalfedgeId, Manifold, SpokeId, VertexId, O2};
use nalgebra::DMatrix;
use std::f64::consts::{PI, TAU};

use approx::assert_abs_diff_eq;
use common::angles::wrap;
use common::assert_abs_diff_eq_msg;
use common::meshes::{load, table};
use common::random::{normals, random_frames, SplitMix};
use common::slices::{max_abs, max_diff};
use common::vec3::dot;

fn radial(n: usize) -> RadialBasis {
    RadialBasis::new(RadialProfile::Gaussian, n).unwrap()
}

/// `ρ(g) x` for a whole type at one vertex.
fn acted(t: &FieldType, g: O2, x: &[f64]) -> Vec<f64> {
    let mut y = x.to_vec();
    t.act(g, &mut y);
    y
}

/// The convolution as the module docs write it, sample by sample: `Σ_s ω_s Σ_q β K(r_s, θ'_s)
/// ρ_in(T'_{q→p}) x(q)`, with the transport `T` mapping the geodesic's direction ψ at `q` to θ at
/// `p` (a reflection where the orientation flips) and `T' = Γ_p⁻¹ T Γ_q` in the gauge's frames.
fn direct_sum(
    m: &Manifold,
    table: &ExpMapTable,
    kernel: &FieldKernel,
    gauge: &Gauge,
    params: &[f64],
    x: &[f64],
) -> Vec<f64> {
    let tracer = Tracer::new(m);
    let (c_in, c_out) = (kernel.input().channels(), kernel.output().channels());
    let n = m.mesh.vertex_count();
    let area: f64 = table.sample_weights().iter().sum();
    let g = gauge.transports();
    let mut out = vec![0.0; n * c_out];
    for p in 0..n {
        for s in 0..table.samples_per_vertex() {
            if table.padded_landing(p, s).is_none() {
                continue;
            }
            let e = table.entry(p, s);
            let theta = table.sample_angles()[s];
            let omega = table.sample_weights()[s] / area;
            let k_matrix = kernel.matrix(
                params,
                table.sample_radii()[s] / table.radius(),
                g[p].inverse().apply(theta),
            );
            let (b0, b1) = (e.bary[0] as f64, e.bary[1] as f64);
            for (k, beta) in [b0, b1, 1.0 - b0 - b1].into_iter().enumerate() {
                let q = m.mesh.face_vertices(e.face)[k].index();
                let psi = table.transported_polar_angle(&tracer, p, s, k).unwrap();
                let flip =
                    e.mirrored ^ m.mesh.corner_flipped(HalfedgeId::from_face_side(e.face, k));
                let t = if flip {
                    O2 {
                        angle: theta + psi,
                        reflect: true,
                    }
                } else {
                    O2::rotation(theta - psi)
                };
                let t = g[q].then(t).then(g[p].inverse());
                let z = acted(kernel.input(), t, &x[q * c_in..(q + 1) * c_in]);
                for a in 0..c_out {
                    let v: f64 = (0..c_in).map(|l| k_matrix[a * c_in + l] * z[l]).sum();
                    out[p * c_out + a] += omega * beta * v;
                }
            }
        }
    }
    out
}

fn compiled(
    m: &Manifold,
    table: &ExpMapTable,
    kernel: &FieldKernel,
    gauge: &Gauge,
    params: &[f64],
    x: &[f64],
) -> Vec<f64> {
    let conv =
        FieldConvolution::<f64>::new(m, table, kernel.clone(), gauge, &ConvOptions::default())
            .unwrap();
    let mut y = vec![0.0; m.mesh.vertex_count() * kernel.output().channels()];
    conv.forward_vertices(x, 1, params, &mut y);
    y
}

#[test]
fn the_kernels_are_equivariant() {
    let mut rng = SplitMix(1);
    for (reflections, input, output) in [
        (false, "2x0+1x1+1x2", "1x0+2x1+1x3"),
        (true, "1x0+1x0-+1x1+1x2", "1x0+1x0-+1x1+1x2"),
    ] {
        let (input, output) = (
            FieldType::parse(input).unwrap(),
            FieldType::parse(output).unwrap(),
        );
        let k = FieldKernel::new(&input, &output, radial(2), reflections).unwrap();
        let params = normals(&mut rng, k.param_count());
        for _ in 0..20 {
            let (r, theta) = (rng.uniform(), TAU * rng.uniform());
            let gamma = if reflections && rng.below(2) == 1 {
                O2::reflection(PI * rng.uniform())
            } else {
                O2::rotation(TAU * rng.uniform())
            };
            // K(gθ) ρ_in(g) = ρ_out(g) K(θ), column by column.
            let k0 = k.matrix(&params, r, theta);
            let k1 = k.matrix(&params, r, gamma.apply(theta));
            let (ci, co) = (input.channels(), output.channels());
            for l in 0..ci {
                let mut e = vec![0.0; ci];
                e[l] = 1.0;
                let moved = acted(&input, gamma, &e);
                let lhs: Vec<f64> = (0..co)
                    .map(|a| (0..ci).map(|j| k1[a * ci + j] * moved[j]).sum())
                    .collect();
                let col: Vec<f64> = (0..co).map(|a| k0[a * ci + l]).collect();
                let rhs = acted(&output, gamma, &col);
                assert!(
                    max_diff(&lhs, &rhs) < 1e-12,
                    "{input} → {output}, {gamma:?}"
                );
            }
        }
    }
}

/// The dimension of the space of equivariant kernels between two fields, found without the library's
/// formula: the null space of the constraints on a Fourier series of each entry.
fn equivariant_dimension(fin: Field, fout: Field, reflections: bool) -> usize {
    let freq = 2 * (fin.order() + fout.order()) as usize + 2;
    let (di, d_o) = (fin.dim(), fout.dim());
    let nf = 2 * freq + 1;
    let unknowns = d_o * di * nf;
    let basis = |k: usize, t: f64| -> f64 {
        match k {
            0 => 1.0,
            k if k <= freq => (k as f64 * t).cos(),
            k => ((k - freq) as f64 * t).sin(),
        }
    };
    // K(θ)[a][l] = Σ_k c[a][l][k] φ_k(θ).
    let one = |f: Field, g: O2, v: Vec<f64>| -> Vec<f64> {
        let t = FieldType::from_runs(&[(f, 1)]);
        acted(&t, g, &v)
    };
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut rng = SplitMix(7);
    for _ in 0..6 * unknowns {
        let theta = TAU * rng.uniform();
        let g = if reflections && rng.below(2) == 1 {
            O2::reflection(PI * rng.uniform())
        } else {
            O2::rotation(TAU * rng.uniform())
        };
        // For each input basis vector e_l: K(gθ) ρ_in(g) e_l − ρ_out(g) K(θ) e_l = 0, per component a.
        for l in 0..di {
            let mut e = vec![0.0; di];
            e[l] = 1.0;
            let moved = one(fin, g, e);
            for a in 0..d_o {
                let mut row = vec![0.0; unknowns];
                for j in 0..di {
                    for k in 0..nf {
                        row[(a * di + j) * nf + k] += basis(k, g.apply(theta)) * moved[j];
                    }
                }
                // ρ_out(g) applied to the column K(θ) e_l: linear in the unknowns of column l.
                for b in 0..d_o {
                    let mut unit = vec![0.0; d_o];
                    unit[b] = 1.0;
                    let w = one(fout, g, unit)[a];
                    for k in 0..nf {
                        row[(b * di + l) * nf + k] -= w * basis(k, theta);
                    }
                }
                rows.push(row);
            }
        }
    }
    let a = DMatrix::from_fn(rows.len(), unknowns, |i, j| rows[i][j]);
    let sv = a.svd(false, false).singular_values;
    sv.iter().filter(|&&s| s < 1e-8 * sv[0]).count() + unknowns.saturating_sub(sv.len())
}

#[test]
fn the_basis_is_complete() {
    let fields = [
        Field::Scalar,
        Field::Pseudoscalar,
        Field::Order(1),
        Field::Order(2),
        Field::Order(3),
    ];
    for reflections in [false, true] {
        for &fin in &fields {
            for &fout in &fields {
                let (ti, to) = (
                    FieldType::from_runs(&[(fin, 1)]),
                    FieldType::from_runs(&[(fout, 1)]),
                );
                let expected = equivariant_dimension(fin, fout, reflections);
                match FieldKernel::new(&ti, &to, radial(1), reflections) {
                    Ok(k) => assert_eq!(
                        k.param_count(),
                        expected,
                        "{fin} → {fout}, reflections {reflections}"
                    ),
                    Err(_) => assert_eq!(expected, 0, "{fin} → {fout} has kernels"),
                }
            }
        }
    }
}

#[test]
fn the_compiled_convolution_is_the_direct_sum() {
    let mut rng = SplitMix(3);
    for (spec, reflections, input, output) in [
        ("icosphere:1", false, "2x0+1x1+1x2", "1x0+1x1+1x2"),
        ("flat-mobius:10x5", true, "1x0+1x0-+1x1+1x2", "1x0+1x0-+2x1"),
    ] {
        let m = load(spec);
        let t = table(&m, 3, 8, Radius::MeanEdgeLengths(2.5));
        let (input, output) = (
            FieldType::parse(input).unwrap(),
            FieldType::parse(output).unwrap(),
        );
        let kernel = FieldKernel::new(&input, &output, radial(3), reflections).unwrap();
        let params = normals(&mut rng, kernel.param_count());
        let x = normals(&mut rng, m.mesh.vertex_count() * input.channels());
        let frames = random_frames(&mut rng, m.mesh.vertex_count(), None, reflections);
        for gauge in [Gauge::identity(&m), Gauge::from_frames(&m, frames).unwrap()] {
            let want = direct_sum(&m, &t, &kernel, &gauge, &params, &x);
            let got = compiled(&m, &t, &kernel, &gauge, &params, &x);
            assert!(max_abs(&want) > 0.1);
            assert!(
                max_diff(&want, &got) < 1e-12 * max_abs(&want),
                "{spec}: {}",
                max_diff(&want, &got)
            );
        }
    }
}

/// Changing every vertex's frame by `g_p` changes input and output exactly as their types say:
/// `x'(p) = ρ_in(g_p)⁻¹ x(p)` gives `y'(p) = ρ_out(g_p)⁻¹ y(p)`.
#[test]
fn a_change_of_frame_changes_the_output_as_its_type_says() {
    let mut rng = SplitMix(5);
    for (spec, reflections) in [("icosphere:2", false), ("flat-mobius:12x6", true)] {
        let m = load(spec);
        let d = 16;
        let t = table(&m, 3, d, Radius::MeanEdgeLengths(2.0));
        let input = FieldType::parse(if reflections {
            "2x0+1x0-+2x1+1x2"
        } else {
            "2x0+2x1+1x2"
        })
        .unwrap();
        let output = FieldType::parse("2x0+1x1+2x2+1x3").unwrap();
        let kernel = FieldKernel::new(&input, &output, radial(2), reflections).unwrap();
        let params = normals(&mut rng, kernel.param_count());
        let n = m.mesh.vertex_count();
        let x = normals(&mut rng, n * input.channels());
        let y = compiled(&m, &t, &kernel, &Gauge::identity(&m), &params, &x);
        // Multiples of 2π/D (the grid maps onto itself) and arbitrary angles: both exact, because the
        // samples stay where they are and only the frames the values are written in change.
        for step in [Some(d), None] {
            let frames = random_frames(&mut rng, n, step, reflections);
            let (ci, co) = (input.channels(), output.channels());
            let x2: Vec<f64> = (0..n)
                .flat_map(|p| acted(&input, frames[p].inverse(), &x[p * ci..(p + 1) * ci]))
                .collect();
            let gauge = Gauge::from_frames(&m, frames.clone()).unwrap();
            let y2 = compiled(&m, &t, &kernel, &gauge, &params, &x2);
            let back: Vec<f64> = (0..n)
                .flat_map(|p| acted(&output, frames[p], &y2[p * co..(p + 1) * co]))
                .collect();
            let err = max_diff(&back, &y);
            assert!(err < 1e-9 * max_abs(&y), "{spec}, step {step:?}: {err}");
            // The frames did change the values themselves.
            assert!(max_diff(&y2, &y) > 1e-3 * max_abs(&y));
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Symmetries of the mesh: rotations of the icosphere, translations of the flat torus, the flat grid.

/// For an isometry of the mesh that maps vertex `v` to `perm[v]` (and so edges to edges and corner
/// angles to equal corner angles), the rotation `δ_v` between the frames: a tangent vector of polar
/// angle ψ at `v` (in `v`'s angle-scaled polar frame) goes to the vector of polar angle ψ + δ_v at
/// `perm[v]`.
///
/// The isometry maps the star of `v` onto the star of `perm[v]` keeping corner angles and the angle
/// sum, so every spoke's scaled polar angle moves by one constant (when it keeps the orientation):
/// `δ_v = φ(perm[v] → perm[w]) − φ(v → w)` for any neighbour `w`, e.g. the target `w0` of `v`'s
/// reference spoke (φ = 0), where it is the polar angle at `perm[v]` of the edge to `perm[w0]`. The
/// function checks that every spoke gives the same δ_v (to 1e-9): it would not if the map reversed
/// the orientation.
fn frame_rotations(m: &Manifold, perm: &[usize]) -> Vec<f64> {
    let ids: Vec<VertexId> = m.mesh.vertices().collect();
    let phi = m.frames.spoke_angles();
    ids.iter()
        .map(|&v| {
            let pv = ids[perm[v.index()]];
            let mut delta: Option<f64> = None;
            for s in m.mesh.vertex_spoke_ids(v) {
                let pw = ids[perm[m.mesh.spoke_target(s).index()]];
                let t = m
                    .mesh
                    .find_spoke(pv, pw)
                    .expect("an isometry maps edges to edges");
                let d = wrap(phi[t.index()] - phi[s.index()]);
                match delta {
                    None => delta = Some(d),
                    Some(d0) => assert_abs_diff_eq_msg!(
                        wrap(d - d0),
                        0.0,
                        epsilon = 1e-9,
                        "vertex {v}: spokes turn by {d0} and {d}"
                    ),
                }
            }
            delta.expect("every vertex has a spoke")
        })
        .collect()
}

/// The field `x` of type `t` moved by an isometry: `x'(perm[v]) = ρ(δ_v) x(v)`.
fn moved(t: &FieldType, x: &[f64], perm: &[usize], delta: &[f64]) -> Vec<f64> {
    let c = t.channels();
    let mut y = vec![0.0; x.len()];
    for (v, (&pv, &d)) in perm.iter().zip(delta).enumerate() {
        let z = acted(t, O2::rotation(d), &x[v * c..(v + 1) * c]);
        y[pv * c..(pv + 1) * c].copy_from_slice(&z);
    }
    y
}

/// The 60 rotations of the icosahedron as vertex permutations of `m` (an icosphere) with the frame
/// rotations δ_v they induce.
fn icosahedral_moves(m: &Manifold) -> Vec<(Vec<usize>, Vec<f64>)> {
    let points = m.positions.clone().expect("the icosphere has positions");
    icosahedral_rotations()
        .iter()
        .map(|r| {
            let perm: Vec<usize> = rotation_permutation(&points, r, 1e-9)
                .expect("a symmetry of the icosphere")
                .into_iter()
                .map(|q| q as usize)
                .collect();
            let delta = frame_rotations(m, &perm);
            (perm, delta)
        })
        .collect()
}

/// The sign convention of [`frame_rotations`], checked against the embedding on a small case: the
/// image `R x_v` of `v`'s 3-D frame axis, read in the 3-D frame of `π(v)` (`x`, `y = n × x`, polar
/// angles counter-clockwise about the outward normal like the spoke angles), has the angle δ_v up to
/// the angle scaling of the polar frames (a few degrees on icosphere:1, where corner angles differ
/// from 2π/degree by at most a few degrees), while −δ_v is far off wherever δ_v is not near 0 or π.
#[test]
fn the_frame_rotation_of_an_icosahedral_rotation_matches_the_embedding() {
    let m = load("icosphere:1");
    let ext = m.extrinsic_frames().unwrap();
    let mut far = 0;
    for (r, (perm, delta)) in icosahedral_rotations().iter().zip(icosahedral_moves(&m)) {
        for v in 0..m.mesh.vertex_count() {
            let rx = rotate(r, ext.x[v].into());
            let q = perm[v];
            let seen = dot(rx, ext.y[q].into()).atan2(dot(rx, ext.x[q].into()));
            assert_abs_diff_eq_msg!(
                wrap(seen - delta[v]),
                0.0,
                epsilon = 0.1,
                "vertex {v}: δ = {}, embedding {seen}",
                delta[v]
            );
            if wrap(seen + delta[v]).abs() > 0.5 {
                far += 1;
            }
        }
    }
    assert!(far > 100, "the sign of δ is tested ({far} cases)");
}

/// A smooth signal on the unit sphere.
fn smooth(p: [f64; 3]) -> f64 {
    (1.3 * p[0] + 0.4).sin() + (2.1 * p[1] - 0.3 * p[2]).cos() + 0.8 * p[0] * p[2]
}

/// The largest change, relative to the output's largest magnitude, of four convolutions on
/// icosphere:2 with a table of `d` directions under the 60 icosahedral rotations:
/// 0. scalars → 2x0+2x1+1x2 (input permuted, output permuted and rotated by δ);
/// 1. 1x0+1x1+1x2 → 2x0+1x1 (the ρm input rotated as well);
/// 2. the two layers scalars → 1x0+1x1+1x2 → 2x0+1x1 composed;
/// 3. an unconstrained ordinary convolution (harmonic:2:2, trivial group, spanning-tree gauge),
///    scalars → 8 scalars: its change is `out'(π(v)) − out(v)`.
fn icosahedral_changes(d: usize) -> [f64; 4] {
    let m = load("icosphere:2");
    let n = m.mesh.vertex_count();
    let t = table(&m, 3, d, Radius::MeanEdgeLengths(2.0));
    let moves = icosahedral_moves(&m);
    let mut rng = SplitMix(11);
    let points = m.positions.clone().unwrap();
    let x: Vec<f64> = points.iter().map(|&p| smooth(p)).collect();
    let scalar = FieldType::scalars(1);
    let mid = FieldType::parse("1x0+1x1+1x2").unwrap();
    let layer = |input: &FieldType, output: &str, rng: &mut SplitMix| {
        let output = FieldType::parse(output).unwrap();
        let k = FieldKernel::new(input, &output, radial(2), false).unwrap();
        let params = normals(rng, k.param_count());
        (k, params)
    };
    let (k0, p0) = layer(&scalar, "2x0+2x1+1x2", &mut rng);
    let (k1, p1) = layer(&scalar, "1x0+1x1+1x2", &mut rng);
    let (k2, p2) = layer(&mid, "2x0+1x1", &mut rng);
    let gauge = Gauge::identity(&m);
    let c0 =
        FieldConvolution::<f64>::new(&m, &t, k0.clone(), &gauge, &ConvOptions::default()).unwrap();
    let c1 =
        FieldConvolution::<f64>::new(&m, &t, k1.clone(), &gauge, &ConvOptions::default()).unwrap();
    let c2 =
        FieldConvolution::<f64>::new(&m, &t, k2.clone(), &gauge, &ConvOptions::default()).unwrap();
    let run = |c: &FieldConvolution<f64>, params: &[f64], x: &[f64]| {
        let mut y = vec![0.0; n * c.kernel().output().channels()];
        c.forward_vertices(x, 1, params, &mut y);
        y
    };
    // The unconstrained ordinary convolution: 10 basis functions, 8 output channels.
    let basis = KernelBasis::parse("harmonic:2:2").unwrap();
    let tree = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let free = ConvOperator::<f64>::new(&m, &t, &basis, &tree).unwrap();
    let c_free = 8;
    let w_free = normals(&mut rng, free.basis_len() * c_free);
    let run_free = |x: &[f64]| {
        let mut y = vec![0.0; n * c_free];
        free.forward(
            Signals::new(x, 1, 1).unwrap(),
            KernelWeights::new(&w_free, free.basis_len(), 1, c_free).unwrap(),
            SignalsMut::new(&mut y, 1, c_free).unwrap(),
        );
        y
    };
    let y0 = run(&c0, &p0, &x);
    let y1 = run(&c1, &p1, &x);
    let y2 = run(&c2, &p2, &y1);
    let y_free = run_free(&x);
    let free_type = FieldType::scalars(c_free);
    let mut worst = [0.0f64; 4];
    let mut change = |i: usize, got: &[f64], want: &[f64], scale: &[f64]| {
        worst[i] = worst[i].max(max_diff(got, want) / max_abs(scale));
    };
    for (perm, delta) in &moves {
        let x2 = moved(&scalar, &x, perm, delta);
        change(
            0,
            &run(&c0, &p0, &x2),
            &moved(k0.output(), &y0, perm, delta),
            &y0,
        );
        let y1_moved = moved(&mid, &y1, perm, delta);
        let y2_moved = moved(k2.output(), &y2, perm, delta);
        change(1, &run(&c2, &p2, &y1_moved), &y2_moved, &y2);
        change(2, &run(&c2, &p2, &run(&c1, &p1, &x2)), &y2_moved, &y2);
        let zero = vec![0.0; n];
        change(
            3,
            &run_free(&x2),
            &moved(&free_type, &y_free, perm, &zero),
            &y_free,
        );
    }
    worst
}

/// Under the 60 rotations of the icosahedron, scalar outputs are permuted and order-m outputs
/// permuted and rotated by the frames' rotation δ_v, to the quadrature error only: the rotated sample
/// grid at `π(v)` (directions `θ_j − δ_v` at `v`) does not land on the old one. That error falls with
/// the number of directions and stays far below the change of an unconstrained ordinary convolution.
#[test]
fn icosahedral_rotations_permute_and_rotate_the_fields() {
    let errors: Vec<(usize, [f64; 4])> = [8, 16, 32]
        .into_iter()
        .map(|d| (d, icosahedral_changes(d)))
        .collect();
    for (d, e) in &errors {
        eprintln!(
            "D = {d}: relative change 0 → 2x0+2x1+1x2 {:.2e}, 1x0+1x1+1x2 → 2x0+1x1 {:.2e}, \
             the two layers {:.2e}; unconstrained ordinary convolution {:.2e}",
            e[0], e[1], e[2], e[3]
        );
    }
    // Measured (icosphere:2, 3 rings, radius 2 mean edges), relative to the output's largest value:
    //   D = 8:  7.7e-3, 3.2e-2, 3.8e-2; unconstrained 0.23
    //   D = 16: 1.8e-3, 1.4e-2, 1.5e-2; unconstrained 0.23
    //   D = 32: 1.1e-3, 9.7e-3, 1.0e-2; unconstrained 0.23
    // (and on to 1e-4 / 9e-4 at D = 256: no floor, the limit is exact). The error falls roughly as
    // 1/D, not faster, as it would with an integrand that jumps in θ: where a geodesic passes a
    // vertex (a cone point of angle deficit ε) the landing point jumps by about ε times the distance
    // left, and a carried order-m field turns by about mε (our reading, not isolated by a test; it
    // fits the layers with order-m inputs showing ~10× the error of the lifting layer).
    for (i, layer) in ["lifting", "ρm input", "two layers"].iter().enumerate() {
        let e = |k: usize| errors[k].1[i];
        assert!(e(1) < e(0) && e(2) < e(0), "{layer}: {errors:?}");
        for (d, all) in &errors {
            // At D = 8 the layers with order-m inputs are only ~7× below the unconstrained change
            // (their error is the larger one, see above); from D = 16 on every layer is ≥ 10× below.
            if *d >= 16 || i == 0 {
                assert!(10.0 * all[i] <= all[3], "D = {d}, {layer}: {all:?}");
            }
        }
    }
}

/// The spoke from `(x, y)` to `(x + dx, y + dy)` on a grid-numbered mesh (`x + nx·y`, wrapping).
fn grid_spoke(
    m: &Manifold,
    nx: usize,
    ny: usize,
    x: usize,
    y: usize,
    dx: usize,
    dy: usize,
) -> SpokeId {
    let ids: Vec<VertexId> = m.mesh.vertices().collect();
    let v = |x: usize, y: usize| ids[x % nx + nx * (y % ny)];
    m.mesh.find_spoke(v(x, y), v(x + dx, y + dy)).unwrap()
}

/// On the flat torus every frame is the grid's (x, y) frame: spoke +x at polar angle 0 and +y at
/// π/2, at every vertex (the primitive's reference edge is +x and every angle sum is 2π).
fn assert_grid_frames(m: &Manifold, nx: usize, ny: usize, vertices: &[(usize, usize)]) {
    let phi = m.frames.spoke_angles();
    for &(x, y) in vertices {
        assert_abs_diff_eq!(
            phi[grid_spoke(m, nx, ny, x, y, 1, 0).index()],
            0.0,
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            phi[grid_spoke(m, nx, ny, x, y, 0, 1).index()],
            PI / 2.0,
            epsilon = 1e-12
        );
    }
}

/// Translations of the flat torus by whole grid steps are isometries that map every frame onto the
/// frame of the image vertex (no rotation), and the exp-map table and the operator see the same
/// geometry at every vertex: shifting the input shifts the output, exactly.
#[test]
fn translations_of_the_flat_torus_shift_the_fields_exactly() {
    let (nx, ny) = (16, 16);
    let m = load("flat-torus:16x16");
    let all: Vec<(usize, usize)> = (0..ny).flat_map(|y| (0..nx).map(move |x| (x, y))).collect();
    assert_grid_frames(&m, nx, ny, &all);
    let t = table(&m, 3, 16, Radius::Absolute(2.5));
    let input = FieldType::parse("1x0+1x1+1x2").unwrap();
    let output = FieldType::parse("1x0+2x1+1x2").unwrap();
    let kernel = FieldKernel::new(&input, &output, radial(2), false).unwrap();
    let mut rng = SplitMix(13);
    let params = normals(&mut rng, kernel.param_count());
    let n = m.mesh.vertex_count();
    let x = normals(&mut rng, n * input.channels());
    let y = compiled(&m, &t, &kernel, &Gauge::identity(&m), &params, &x);
    assert!(max_abs(&y) > 0.1);
    for (dx, dy) in [(1, 0), (0, 1), (3, 5), (15, 7)] {
        let shift: Vec<usize> = (0..n)
            .map(|v| (v % nx + dx) % nx + nx * ((v / nx + dy) % ny))
            .collect();
        let zero = vec![0.0; n];
        let x2 = moved(&input, &x, &shift, &zero);
        let y2 = compiled(&m, &t, &kernel, &Gauge::identity(&m), &params, &x2);
        let err = max_diff(&y2, &moved(&output, &y, &shift, &zero));
        assert!(err < 1e-12 * max_abs(&y), "shift ({dx}, {dy}): {err}");
    }
}

/// A constant field of orders 1 and 2 (the same components at every vertex: the frames are all
/// aligned, so it is a parallel field) through the kernel with `K0 = identity` from each field to the
/// field of its own order and one radial profile: `K(r, θ) = R(r) ρ(θ) I ρ(−θ) = R(r)`, and the
/// transport along every geodesic of the flat torus is the identity in these frames, so
///
/// ```text
/// out(p) = Σ_s ω_s R(r_s/ρ) Σ_q β_{s,q} x = (Σ_s ω_s R(r_s/ρ)) x      (Σ_q β_{s,q} = 1)
/// ```
///
/// at every vertex. Every vertex computes the same thing (exact to 1e-12 across vertices); against
/// the closed form the one rounding that is not f64 is the table's: the geodesic's direction at the
/// landing point is stored in f32 (an angle in (−π, π], error ≤ π·2⁻²⁴ ≈ 1.9e-7), which turns a
/// carried field of order m by at most m·π·2⁻²⁴: `|out − Σ ω R x| ≤ 2π·2⁻²⁴ · Σ ω R · |x|` for the
/// order-2 field.
#[test]
fn a_constant_field_on_the_flat_torus_stays_constant() {
    let (nx, ny) = (16, 16);
    let m = load("flat-torus:16x16");
    let t = table(&m, 4, 16, Radius::Absolute(2.5));
    let ty = FieldType::parse("1x1+1x2").unwrap();
    let kernel = FieldKernel::new(&ty, &ty, radial(1), false).unwrap();
    // Parameters: output field, input field, then K0 row-major; identity on the diagonal blocks.
    let params = [
        1.0, 0.0, 0.0, 1.0, // ρ1 → ρ1
        0.0, 0.0, 0.0, 0.0, // ρ2 → ρ1
        0.0, 0.0, 0.0, 0.0, // ρ1 → ρ2
        1.0, 0.0, 0.0, 1.0, // ρ2 → ρ2
    ];
    assert_eq!(kernel.param_count(), params.len());
    let n = m.mesh.vertex_count();
    let field = [0.6, -1.1, 0.9, 0.4];
    let x: Vec<f64> = (0..n).flat_map(|_| field).collect();
    let y = compiled(&m, &t, &kernel, &Gauge::identity(&m), &params, &x);
    assert_eq!(nx * ny, n);
    for v in 0..n {
        assert!(
            max_diff(&y[4 * v..4 * v + 4], &y[..4]) < 1e-12,
            "vertex {v}"
        );
    }
    let area: f64 = t.sample_weights().iter().sum();
    let gain: f64 = (0..t.samples_per_vertex())
        .map(|s| {
            t.sample_weights()[s] / area * radial(1).value(0, t.sample_radii()[s] / t.radius())
        })
        .sum();
    let want: Vec<f64> = field.iter().map(|c| gain * c).collect();
    let err = max_diff(&y[..4], &want);
    let bound = 2.0 * PI * 2f64.powi(-24) * gain * max_abs(&field);
    eprintln!("constant field: Σ ω R = {gain}, error {err:.2e} (bound {bound:.2e})");
    assert!(err <= bound, "{err} > {bound}");
}

/// On a flat grid, the scalar → order-1 kernel `K(r, θ) = R(r/ρ) (cos θ, sin θ)` (one radial
/// profile, `K0 = (1, 0)`) applied to a linear signal `f = a·x + b·y` gives `κ (a, b)` in the vertex
/// frame, at every vertex whose disc stays inside the grid: the landing point of sample `s` is
/// `p + r_s (cos θ_s, sin θ_s)` (the frame is the grid's), where barycentric interpolation of a
/// linear `f` is exact, so
///
/// ```text
/// out(p) = Σ_s ω_s R(r_s/ρ) (cos θ_s, sin θ_s) (f(p) + r_s (a cos θ_s + b sin θ_s))
/// ```
///
/// and on every ring the D ≥ 3 directions θ_j = 2πj/D are equally spaced with ω and r the ring's:
/// `Σ_j cos θ_j = Σ_j sin θ_j = Σ_j cos θ_j sin θ_j = 0` and `Σ_j cos² θ_j = Σ_j sin² θ_j = D/2`.
/// Only the gradient term survives: `out(p) = κ (a, b)` with
///
/// ```text
/// κ = Σ_s ω_s R(r_s/ρ) r_s cos² θ_s
/// ```
///
/// a finite-difference gradient (scaled by κ) that is exact for linear signals.
///
/// The one rounding that is not f64 is the table's: it stores two barycentric coordinates in f32
/// (each off by at most 2⁻²⁵ in [0, 1]; the third is 1 minus them in f64), which moves the
/// interpolated value by `δβ₀ (f₀ − f₂) + δβ₁ (f₁ − f₂)`, at most `2·2⁻²⁵·√2·|∇f|` (grid triangles'
/// sides are ≤ √2): the output is off by at most `2⁻²⁴·√2·|∇f| · Σ_s ω_s R(r_s/ρ)` (≈ 1e-7 here).
/// With D = 16 that bound is what is asserted (the measured error is far below it, errors of
/// different samples cancelling). With D = 4 directions, radius 2 and 4 rings every landing point
/// is `p ± (0.25 + k/2)` along a grid line, whose barycentric coordinates are exact in f32: there
/// the identity holds to f64 rounding (1e-12).
#[test]
fn an_order_1_kernel_takes_the_gradient_of_a_linear_signal() {
    let (nx, ny) = (14, 12);
    let m = load("grid:14x12");
    let kernel = FieldKernel::new(
        &FieldType::scalars(1),
        &FieldType::parse("1x1").unwrap(),
        radial(1),
        false,
    )
    .unwrap();
    let params = [1.0, 0.0];
    let (a, b) = (0.7, -1.3);
    let grad = f64::hypot(a, b);
    let positions = m.positions.clone().unwrap();
    let f: Vec<f64> = positions.iter().map(|p| a * p[0] + b * p[1]).collect();
    for (directions, rho, exact) in [(16, 2.5, false), (4, 2.0, true)] {
        let t = table(&m, 4, directions, Radius::Absolute(rho));
        let inside: Vec<(usize, usize)> = (0..ny)
            .flat_map(|y| (0..nx).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let (x, y) = (x as f64, y as f64);
                let (w, h) = ((nx - 1) as f64, (ny - 1) as f64);
                x - rho > 0.0 && y - rho > 0.0 && x + rho < w && y + rho < h
            })
            .collect();
        assert!(inside.len() >= 6 * 6);
        assert_grid_frames(&m, nx, ny, &inside);
        let y = compiled(&m, &t, &kernel, &Gauge::identity(&m), &params, &f);
        let area: f64 = t.sample_weights().iter().sum();
        let (mut kappa, mut gain) = (0.0, 0.0);
        for s in 0..t.samples_per_vertex() {
            let r = t.sample_radii()[s];
            let weight = t.sample_weights()[s] / area * radial(1).value(0, r / t.radius());
            kappa += weight * r * t.sample_angles()[s].cos().powi(2);
            gain += weight;
        }
        let mut worst: f64 = 0.0;
        for &(x, yy) in &inside {
            let v = x + nx * yy;
            assert_eq!(positions[v], [x as f64, yy as f64, 0.0]);
            for s in 0..t.samples_per_vertex() {
                let e = t.entry(v, s);
                assert!(!e.truncated);
                if exact {
                    // Landing points on grid lines at quarter steps: coordinates k/4.
                    assert!(e.bary.iter().all(|&c| (4.0 * c).fract() == 0.0), "{e:?}");
                }
            }
            worst = worst.max(max_diff(&y[2 * v..2 * v + 2], &[kappa * a, kappa * b]));
        }
        let bound = if exact {
            1e-12
        } else {
            2f64.powi(-24) * 2f64.sqrt() * grad * gain
        };
        eprintln!("gradient, D = {directions}: κ = {kappa}, largest error {worst:.2e} (bound {bound:.2e})");
        assert!(worst <= bound, "D = {directions}: {worst} > {bound}");
    }
}

/// `eval_corners` (what the compile calls, once per sample) gives at each corner exactly what
/// `eval` gives for that corner alone, bit for bit, for SO(2) and O(2) kernels, through the
/// `TransportedBasis` trait as well: what is shared between a sample's corners does not leak from
/// one corner into another. (The values themselves are checked against the kernel's formula by
/// tests/compile.rs and by the equivariance tests here.)
#[test]
fn evaluating_a_sample_s_corners_at_once_is_evaluating_each() {
    use manifold_cnn::conv::TransportedBasis;
    let mut rng = SplitMix(11);
    for reflections in [false, true] {
        let (input, output) = (
            FieldType::parse("2x0+1x1+1x3").unwrap(),
            FieldType::parse("1x0+2x1+1x2").unwrap(),
        );
        let kernel = FieldKernel::new(&input, &output, radial(3), reflections).unwrap();
        let nb = kernel.sampled_len();
        let mut scratch = Vec::new();
        for _ in 0..20 {
            let (r, theta) = (rng.uniform(), TAU * rng.uniform());
            let corners: Vec<(f64, f64)> = (0..3)
                .map(|k| (TAU * rng.uniform(), if k == 1 { -1.0 } else { 1.0 }))
                .collect();
            let mut at_once = vec![f64::NAN; corners.len() * nb];
            kernel.eval_corners(r, theta, &corners, &mut scratch, &mut at_once);
            let mut through_trait = vec![f64::NAN; corners.len() * nb];
            TransportedBasis::eval_corners(
                &kernel,
                r,
                theta,
                &corners,
                &mut scratch,
                &mut through_trait,
            );
            let mut each = vec![f64::NAN; corners.len() * nb];
            for (&(psi, sigma), out) in corners.iter().zip(each.chunks_exact_mut(nb)) {
                kernel.eval(r, theta, psi, sigma, out);
            }
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&at_once), bits(&each));
            assert_eq!(bits(&through_trait), bits(&each));
            assert!(each.iter().all(|x| x.is_finite()));
        }
    }
}
