//! The layers on feature fields commute with every change of frame: nonlinearities, normalization,
//! invariants, and whole networks of field convolutions built in two different gauges.

use candle_core::{Device, Tensor};
use manifold_cnn::conv::{ConvOptions, Gauge};
use manifold_cnn::expmap::{ExpMapParams, ExpMapTable, Radius};
use manifold_cnn::fields::{FieldConvolution, FieldKernel, FieldType};
use manifold_cnn::kernel::{RadialBasis, RadialProfile};
use manifold_cnn::nn::fields::{field_norm, invariants, norm_relu, regular_relu};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::{BuildOptions, Manifold, O2};
use std::f64::consts::TAU;

fn tensor(v: &[f64], n: usize, c: usize) -> Tensor {
    Tensor::from_vec(v.to_vec(), (n, 1, c), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn random(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
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

fn frames(rng: &mut SplitMix, n: usize, step: Option<usize>, reflect: bool) -> Vec<O2> {
    (0..n)
        .map(|_| O2 {
            angle: match step {
                Some(d) => TAU * rng.below(d) as f64 / d as f64,
                None => TAU * rng.uniform(),
            },
            reflect: reflect && rng.below(2) == 1,
        })
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn rms(a: &[f64]) -> f64 {
    (a.iter().map(|x| x * x).sum::<f64>() / a.len() as f64).sqrt()
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
    let x = random(&mut rng, n * t.channels());
    let g = frames(&mut rng, n, None, true);
    let bias = Tensor::new(&[0.3f64, -0.2, 0.5, -0.1, 0.2, 0.0, -0.4][..], &Device::Cpu).unwrap();
    let (a, b) = change(&t, &t, &g, &x, &|x| norm_relu(x, &t, Some(&bias)).unwrap());
    assert!(max_diff(&a, &b) < 1e-12, "norm relu: {}", max_diff(&a, &b));
    // The nonlinearity did something: some lengths were cut.
    assert!(max_diff(&b, &x) > 0.1);

    let areas: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
    let total: f64 = areas.iter().sum();
    let areas = Tensor::from_vec(
        areas.iter().map(|a| a / total).collect::<Vec<f64>>(),
        n,
        &Device::Cpu,
    )
    .unwrap();
    let scale = Tensor::from_vec(
        random(&mut rng, t.field_count()),
        t.field_count(),
        &Device::Cpu,
    )
    .unwrap();
    let shift = Tensor::from_vec(random(&mut rng, 3), 3, &Device::Cpu).unwrap();
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
    let x = random(&mut rng, n * t.channels());
    for samples in [5, 8, 16] {
        let g = frames(&mut rng, n, Some(samples), true);
        let (a, b) = change(&t, &t, &g, &x, &|x| regular_relu(x, &t, samples).unwrap());
        assert!(
            max_diff(&a, &b) < 1e-12,
            "N = {samples}: {}",
            max_diff(&a, &b)
        );
    }
    let mut errors = Vec::new();
    for samples in [8, 16, 32, 64, 128] {
        let g = frames(&mut rng, n, None, false);
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
        let m = Manifold::load(spec, &BuildOptions::default()).unwrap();
        let params = ExpMapParams {
            rings: 3,
            directions: 12,
            radius: Radius::MeanEdgeLengths(2.0),
            ..Default::default()
        };
        let table = ExpMapTable::build(&m, &params).unwrap();
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
            .map(|k| random(&mut rng, k.param_count()))
            .collect();
        let n = m.mesh.vertex_count();
        let x = random(&mut rng, n * 2);
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
        let g = frames(&mut rng, n, None, reflections);
        let got = network(&Gauge::from_frames(&m, g).unwrap());
        let err = max_diff(&want, &got);
        assert!(err < 1e-9 * rms(&want), "{spec}: {err}");
        assert!(rms(&want) > 1e-3);
    }
}
