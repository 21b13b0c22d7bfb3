//! The layers on feature fields commute with every change of frame: nonlinearities, normalization,
//! invariants, and whole networks of field convolutions built in two different gauges.

mod common;

use candle_core::{Device, Tensor};
use manifold_cnn::conv::{ConvOptions, Gauge};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::fields::{FieldConvolution, FieldKernel, FieldType};
use manifold_cnn::kernel::{RadialBasis, RadialProfile};
use manifold_cnn::nn::fields::{field_norm, invariants, norm_relu, regular_relu};
use manifold_cnn::{Manifold, O2};
use std::f64::consts::TAU;

use common::assert_abs_diff_eq_msg;
use common::meshes::{load, table};
use common::random::{normals, random_frames, SplitMix};
use common::slices::{assert_falling, max_diff, rms};
use common::vec3::dot;

fn tensor(v: &[f64], n: usize, c: usize) -> Tensor {
    Tensor::from_vec(v.to_vec(), (n, 1, c), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// `ρ(g_p) x(p)` (or its inverse) at every vertex.
fn act_all(t: &FieldType, frames: &[O2], x: &[f64], inverse: bool) -> Vec<f64> {
    let c = t.channels();
    x.chunks_exact(c)
        .zip(frames)
        .flat_map(|(v, g)| {
            let mut v = v.to_vec();
            t.act(if inverse { g.inverse() } else { *g }, &mut v);
            v
        })
        .collect()
}

/// `f(ρ(g)⁻¹ x) = ρ(g)⁻¹ f(x)` at every vertex, for a pointwise layer `f` from type `t` to `out`.
fn change(
    t: &FieldType,
    out: &FieldType,
    g: &[O2],
    x: &[f64],
    f: &dyn Fn(&Tensor) -> Tensor,
) -> (Vec<f64>, Vec<f64>) {
    let n = g.len();
    let y = values(&f(&tensor(x, n, t.channels())));
    let x2 = act_all(t, g, x, true);
    let y2 = values(&f(&tensor(&x2, n, t.channels())));
    (act_all(out, g, &y2, false), y)
}

#[test]
fn norm_nonlinearity_normalization_and_invariants_commute_with_frames() {
    let mut rng = SplitMix(11);
    let t = FieldType::parse("3x0+2x0-+2x1+3x2").unwrap();
    let n = 40;
    let x = normals(&mut rng, n * t.channels());
    let g = random_frames(&mut rng, n, None, true);
    let bias = Tensor::new(&[0.3f64, -0.2, 0.5, -0.1, 0.2, 0.0, -0.4][..], &Device::Cpu).unwrap();
    let (a, b) = change(&t, &t, &g, &x, &|x| norm_relu(x, &t, Some(&bias)).unwrap());
    assert!(max_diff(&a, &b) < 1e-12, "norm relu: {}", max_diff(&a, &b));
    // The nonlinearity did something: some lengths were cut.
    assert!(max_diff(&b, &x) > 0.1);

    let areas: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
    let total: f64 = areas.iter().sum();
    let areas: Vec<f64> = areas.iter().map(|a| a / total).collect();
    let scale = Tensor::from_vec(
        normals(&mut rng, t.field_count()),
        t.field_count(),
        &Device::Cpu,
    )
    .unwrap();
    let shift = Tensor::from_vec(normals(&mut rng, 3), 3, &Device::Cpu).unwrap();
    let (a, b) = change(&t, &t, &g, &x, &|x| {
        field_norm(x, &t, &areas, &scale, Some(&shift)).unwrap()
    });
    assert!(max_diff(&a, &b) < 1e-12, "field norm: {}", max_diff(&a, &b));

    let inv = FieldType::scalars(t.field_count());
    let (a, b) = change(&t, &inv, &g, &x, &|x| invariants(x, &t).unwrap());
    assert!(max_diff(&a, &b) < 1e-12, "invariants: {}", max_diff(&a, &b));
}

/// The regular nonlinearity is exact for rotations by multiples of 2π/N and for reflections; for other
/// rotations its error is the aliasing of the ReLU, which falls as N grows.
#[test]
fn the_regular_nonlinearity_is_exact_on_its_grid_and_converges_off_it() {
    let mut rng = SplitMix(12);
    let t = FieldType::parse("4x0+4x1+4x2").unwrap();
    let n = 200;
    let x = normals(&mut rng, n * t.channels());
    for samples in [5, 8, 16] {
        let g = random_frames(&mut rng, n, Some(samples), true);
        let (a, b) = change(&t, &t, &g, &x, &|x| regular_relu(x, &t, samples).unwrap());
        assert!(
            max_diff(&a, &b) < 1e-12,
            "N = {samples}: {}",
            max_diff(&a, &b)
        );
    }
    let mut errors = Vec::new();
    for samples in [8, 16, 32, 64, 128] {
        let g = random_frames(&mut rng, n, None, false);
        let (a, b) = change(&t, &t, &g, &x, &|x| regular_relu(x, &t, samples).unwrap());
        let diff: Vec<f64> = a.iter().zip(&b).map(|(p, q)| p - q).collect();
        errors.push(rms(&diff) / rms(&b));
    }
    eprintln!("regular nonlinearity, relative RMS error for N = 8, 16, 32, 64, 128: {errors:?}");
    for w in errors.windows(2) {
        assert!(w[1] < w[0], "the error falls with N: {errors:?}");
    }
    // The ReLU's kink makes the band-limited projection alias at order ~N: the error falls about as
    // N^(-2) (a factor 4 per doubling); at least a factor 2 per doubling.
    for w in errors.windows(2) {
        assert!(w[1] < 0.5 * w[0], "{errors:?}");
    }
}

/// A network of field convolutions and nonlinearities ending in invariants gives the same output
/// whatever frames its features are written in: rotations on the icosphere (SO(2) kernels),
/// rotations and reflections on the Möbius strip (O(2) kernels).
#[test]
fn a_field_network_is_invariant_to_the_frames() {
    let mut rng = SplitMix(13);
    for (spec, reflections) in [("icosphere:2", false), ("flat-mobius:14x6", true)] {
        let m = load(spec);
        let table = table(&m, 3, 12, Radius::MeanEdgeLengths(2.0));
        let radial = RadialBasis::new(RadialProfile::Gaussian, 2).unwrap();
        let types = [
            FieldType::scalars(2),
            FieldType::parse(if reflections {
                "2x0+1x0-+2x1+1x2"
            } else {
                "2x0+2x1+1x2"
            })
            .unwrap(),
            FieldType::parse("1x0+2x1+1x3").unwrap(),
        ];
        let kernels: Vec<FieldKernel> = types
            .windows(2)
            .map(|w| FieldKernel::new(&w[0], &w[1], radial, reflections).unwrap())
            .collect();
        let weights: Vec<Vec<f64>> = kernels
            .iter()
            .map(|k| normals(&mut rng, k.param_count()))
            .collect();
        let n = m.mesh.vertex_count();
        let x = normals(&mut rng, n * 2);
        let network = |gauge: &Gauge| -> Vec<f64> {
            let mut h = x.clone();
            for (i, (k, w)) in kernels.iter().zip(&weights).enumerate() {
                let conv = FieldConvolution::<f64>::new(
                    &m,
                    &table,
                    k.clone(),
                    gauge,
                    &ConvOptions::default(),
                )
                .unwrap();
                let mut y = vec![0.0; n * k.output().channels()];
                conv.forward_vertices(&h, 1, w, &mut y);
                let t = tensor(&y, n, k.output().channels());
                let biases = Tensor::from_vec(vec![0.1; 8], 8, &Device::Cpu).unwrap();
                h = values(&if i + 1 < kernels.len() {
                    norm_relu(&t, k.output(), Some(&biases)).unwrap()
                } else {
                    invariants(&t, k.output()).unwrap()
                });
            }
            h
        };
        let want = network(&Gauge::identity(&m));
        let g = random_frames(&mut rng, n, None, reflections);
        let got = network(&Gauge::from_frames(&m, g).unwrap());
        let err = max_diff(&want, &got);
        assert!(err < 1e-9 * rms(&want), "{spec}: {err}");
        assert!(rms(&want) > 1e-3);
    }
}

/// Mean pooling of a vector field carries it to the coarse frames: the rotation field
/// `X(p) = e_z × p` on the unit sphere, written in the fine vertices' frames and pooled, is the same
/// field written in the coarse frames, to a discretization error that falls as the mesh is refined;
/// pooling the components as if they were scalars is not.
#[test]
fn pooling_a_vector_field_gives_it_in_the_coarse_frames() {
    use manifold_cnn::holonomy::HolonomyGroup;
    use manifold_cnn::nn::{ConvSpec, MeshLevels};
    use std::sync::Arc;
    let t = FieldType::parse("1x1").unwrap();
    // The field's components in the angle-scaled polar frame of every vertex: the scaled angle of a
    // direction is s_v times its angle from the frame's x axis.
    let sample = |m: &Manifold| -> Vec<f64> {
        let frames = m.extrinsic_frames().unwrap();
        let p = m.positions.as_ref().unwrap();
        let scales = m.frames.vertex_scales();
        (0..m.mesh.vertex_count())
            .flat_map(|v| {
                let q = p[v];
                let x = [-q[1], q[0], 0.0];
                let (cx, cy) = (dot(x, frames.x[v].into()), dot(x, frames.y[v].into()));
                let len = (cx * cx + cy * cy).sqrt();
                let angle = scales[v] * cy.atan2(cx);
                [len * angle.cos(), len * angle.sin()]
            })
            .collect()
    };
    let mut errors = Vec::new();
    for level in 2..=4 {
        let fine = Arc::new(load(&format!("icosphere:{level}")));
        let coarse = Arc::new(load(&format!("icosphere:{}", level - 1)));
        let levels = MeshLevels::compile(
            fine.clone(),
            vec![coarse.clone()],
            &ConvSpec::default(),
            &HolonomyGroup::so2(),
            false,
        )
        .unwrap();
        let n = fine.mesh.vertex_count();
        let x = Tensor::from_vec(sample(&fine), (1, n, 2), &Device::Cpu).unwrap();
        let pooled = values(&levels.pool_fields(&x, 0, &t).unwrap());
        let want = sample(&coarse);
        let diff: Vec<f64> = pooled.iter().zip(&want).map(|(a, b)| a - b).collect();
        let err = rms(&diff) / rms(&want);
        // The components pooled as scalars: each neighbour's frame is taken for the centre's.
        let naive = values(&levels.pool(&x, 0, false).unwrap());
        let diff: Vec<f64> = naive.iter().zip(&want).map(|(a, b)| a - b).collect();
        let naive_err = rms(&diff) / rms(&want);
        eprintln!(
            "icosphere:{level} → {}: relative RMS error {err:.2e} (as scalars {naive_err:.2e})",
            level - 1
        );
        assert!(err < 0.2 * naive_err, "level {level}: {err} vs {naive_err}");
        errors.push(err);
    }
    assert_falling(&errors, 0.7, "the error falls with refinement");
}

/// The field normalization's output, with unit scales and zero shifts: every scalar has area-weighted
/// mean 0 and variance 1, every other field mean squared length 1 (up to ε = 1e-5); and the regular
/// nonlinearity equals its definition evaluated directly.
#[test]
fn normalization_and_regular_nonlinearity_compute_their_definitions() {
    let mut rng = SplitMix(21);
    let t = FieldType::parse("2x0+1x0-+2x1+1x2").unwrap();
    let (n, s, c) = (30, 2, t.channels());
    let x: Vec<f64> = normals(&mut rng, n * s * c)
        .iter()
        .map(|v| 3.0 * v + 1.0)
        .collect();
    let areas: Vec<f64> = (0..n).map(|i| 1.0 + (i % 4) as f64).collect();
    let total: f64 = areas.iter().sum();
    let areas: Vec<f64> = areas.iter().map(|a| a / total).collect();
    let xt = Tensor::from_vec(x.clone(), (n, s, c), &Device::Cpu).unwrap();
    let ones = Tensor::ones(t.field_count(), candle_core::DType::F64, &Device::Cpu).unwrap();
    let zeros = Tensor::zeros(2, candle_core::DType::F64, &Device::Cpu).unwrap();
    let y = values(&field_norm(&xt, &t, &areas, &ones, Some(&zeros)).unwrap());
    let at = |r: usize, si: usize, j: usize| y[(r * s + si) * c + j];
    for si in 0..s {
        for (f, start) in t.field_offsets() {
            let m2: f64 = (0..n)
                .map(|r| {
                    areas[r]
                        * (start..start + f.dim())
                            .map(|j| at(r, si, j).powi(2))
                            .sum::<f64>()
                })
                .sum();
            if f == manifold_cnn::fields::Field::Scalar {
                let mean: f64 = (0..n).map(|r| areas[r] * at(r, si, start)).sum();
                assert_abs_diff_eq_msg!(mean, 0.0, epsilon = 1e-12, "mean {mean}");
            }
            assert_abs_diff_eq_msg!(m2, 1.0, epsilon = 1e-5, "{f}: mean square {m2}");
        }
    }
    let t = FieldType::parse("1x0+1x1+1x2").unwrap();
    let x = normals(&mut rng, 5 * 5);
    let got = values(&regular_relu(&tensor(&x, 5, 5), &t, 9).unwrap());
    for r in 0..5 {
        let c = &x[r * 5..(r + 1) * 5];
        let mut want = [0.0; 5];
        for k in 0..9 {
            let phi = TAU * k as f64 / 9.0;
            let f = c[0]
                + c[1] * phi.cos()
                + c[2] * phi.sin()
                + c[3] * (2.0 * phi).cos()
                + c[4] * (2.0 * phi).sin();
            let f = f.max(0.0);
            want[0] += f / 9.0;
            want[1] += 2.0 * f * phi.cos() / 9.0;
            want[2] += 2.0 * f * phi.sin() / 9.0;
            want[3] += 2.0 * f * (2.0 * phi).cos() / 9.0;
            want[4] += 2.0 * f * (2.0 * phi).sin() / 9.0;
        }
        assert!(max_diff(&got[r * 5..(r + 1) * 5], &want) < 1e-12);
    }
}

/// Types a user may write that give no kernel or too many parameters are errors, not panics or
/// allocations that cannot succeed.
#[test]
fn field_types_and_kernels_refuse_what_cannot_be_built() {
    for bad in [
        "",
        "0x1",
        "x1",
        "1x",
        "2x17",
        "3x0+",
        "1x-1",
        "99999999999999999999x1",
    ] {
        assert!(FieldType::parse(bad).is_err(), "{bad:?}");
    }
    let radial = RadialBasis::new(RadialProfile::Gaussian, 3).unwrap();
    let wide = FieldType::parse("1000000x0").unwrap();
    let err = FieldKernel::new(&wide, &wide, radial, false).unwrap_err();
    assert!(err.to_string().contains("parameters"), "{err}");
    // Scalars to pseudoscalars have no O(2)-equivariant kernel.
    let err = FieldKernel::new(
        &FieldType::scalars(2),
        &FieldType::parse("2x0-").unwrap(),
        radial,
        true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no O(2) kernel"), "{err}");
}

/// An SO(2) kernel cannot carry a transport that reverses orientation: refused on a non-orientable
/// mesh and with reflected frames, accepted with rotated ones.
#[test]
fn so2_kernels_are_refused_where_transport_reflects() {
    let radial = RadialBasis::new(RadialProfile::Gaussian, 1).unwrap();
    let t = FieldType::parse("1x1").unwrap();
    let so2 = FieldKernel::new(&t, &t, radial, false).unwrap();
    let params = ExpMapOptions::default();
    let strip = load("flat-mobius:12x6");
    let table = ExpMapTable::build(&strip, &params).unwrap();
    let gauge = Gauge::identity(&strip);
    let options = ConvOptions::default();
    assert!(FieldConvolution::<f64>::new(&strip, &table, so2.clone(), &gauge, &options).is_err());
    let o2 = FieldKernel::new(&t, &t, radial, true).unwrap();
    assert!(FieldConvolution::<f64>::new(&strip, &table, o2, &gauge, &options).is_ok());
    let sphere = load("icosphere:1");
    let table = ExpMapTable::build(&sphere, &params).unwrap();
    let n = sphere.mesh.vertex_count();
    let mut frames = vec![O2::rotation(0.5); n];
    let rotated = Gauge::from_frames(&sphere, frames.clone()).unwrap();
    assert!(FieldConvolution::<f64>::new(&sphere, &table, so2.clone(), &rotated, &options).is_ok());
    frames[3] = O2::reflection(0.2);
    let reflected = Gauge::from_frames(&sphere, frames).unwrap();
    assert!(FieldConvolution::<f64>::new(&sphere, &table, so2, &reflected, &options).is_err());
}
