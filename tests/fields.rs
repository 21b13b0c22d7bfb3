//! Gauge-equivariant feature fields: the kernel space, the compiled convolution against a direct sum,
//! and equivariance under changes of frame, rotations of the sphere and translations of the torus.

use manifold_cnn::conv::{ConvOptions, Gauge};
use manifold_cnn::expmap::{ExpMapParams, ExpMapTable, Radius, Tracer};
use manifold_cnn::fields::{Field, FieldConvolution, FieldKernel, FieldType};
use manifold_cnn::kernel::{RadialBasis, RadialProfile};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::{BuildOptions, HalfedgeId, Manifold, O2};
use nalgebra::DMatrix;
use std::f64::consts::{PI, TAU};

fn manifold(spec: &str) -> Manifold {
    Manifold::load(spec, &BuildOptions::default()).unwrap()
}

fn table(m: &Manifold, rings: usize, directions: usize, radius_edges: f64) -> ExpMapTable {
    let params = ExpMapParams {
        rings,
        directions,
        radius: Radius::MeanEdgeLengths(radius_edges),
        ..Default::default()
    };
    ExpMapTable::build(m, &params).unwrap()
}

fn radial(n: usize) -> RadialBasis {
    RadialBasis::new(RadialProfile::Gaussian, n).unwrap()
}

fn random(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
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

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Random frames: rotations by any angle, or by multiples of 2π/D, with reflections where asked.
fn random_frames(rng: &mut SplitMix, n: usize, step: Option<usize>, reflect: bool) -> Vec<O2> {
    (0..n)
        .map(|_| {
            let angle = match step {
                Some(d) => TAU * rng.below(d) as f64 / d as f64,
                None => TAU * rng.uniform(),
            };
            O2 {
                angle: manifold_cnn::transport::wrap_angle(angle),
                reflect: reflect && rng.below(2) == 1,
            }
        })
        .collect()
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
        let params = random(&mut rng, k.param_count());
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
        let m = manifold(spec);
        let t = table(&m, 3, 8, 2.5);
        let (input, output) = (
            FieldType::parse(input).unwrap(),
            FieldType::parse(output).unwrap(),
        );
        let kernel = FieldKernel::new(&input, &output, radial(3), reflections).unwrap();
        let params = random(&mut rng, kernel.param_count());
        let x = random(&mut rng, m.mesh.vertex_count() * input.channels());
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
        let m = manifold(spec);
        let d = 16;
        let t = table(&m, 3, d, 2.0);
        let input = FieldType::parse(if reflections {
            "2x0+1x0-+2x1+1x2"
        } else {
            "2x0+2x1+1x2"
        })
        .unwrap();
        let output = FieldType::parse("2x0+1x1+2x2+1x3").unwrap();
        let kernel = FieldKernel::new(&input, &output, radial(2), reflections).unwrap();
        let params = random(&mut rng, kernel.param_count());
        let n = m.mesh.vertex_count();
        let x = random(&mut rng, n * input.channels());
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
