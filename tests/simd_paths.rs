//! Every SIMD path the processor has, forced per operator view (`ConvOperator::with_simd`), against
//! the `f64` operator as reference: forward, input gradient and weight gradient, for basis sizes that
//! take every tile height of the AVX-512 and AVX2 gathers and block products, widths that are
//! multiples of 16, of 8 only, and odd (the generic loops), output widths with whole vectors and
//! masked tails, and batches of 1, 3 and 16, with the coefficients in either [`Layout`] (the `f64`
//! reference in blocks). A path the processor lacks is skipped with a note.
//!
//! Tolerances are those of the `f32` against `f64` test in tests/conv.rs: 1e-5 of the largest output
//! for the forward pass, 1e-4 of the largest gradient for the backward pass (sums of up to a few
//! hundred `f32` products per value, in each path's own order).

mod common;
use common::random::signal;
use manifold_cnn::conv::{
    ConvOperator, ConvOptions, Gauge, KernelWeights, KernelWeightsMut, Layout, Real, Signals,
    SignalsMut, SimdOperator, SimdPath, SpanningTree,
};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::kernel::{HarmonicBasis, KernelBasis, PolarBins, RadialBasis, RadialProfile};
use manifold_cnn::{BuildOptions, Manifold};

/// The paths this processor has; a note for each it lacks.
fn available_paths() -> Vec<SimdPath> {
    SimdPath::ALL
        .into_iter()
        .filter(|p| {
            let has = p.is_available();
            if !has {
                eprintln!("note: skipping the {p} path: this processor lacks it");
            }
            has
        })
        .collect()
}

/// Bases of 1, 2, 3, 5, 16 and 28 functions: between them every tile height of the gathers (AVX-512:
/// 16, 8, 4, 3, 2, 1; AVX2: 6, 4, 3, 2, 1 at 16 channels, 2 and 1 at 32, 8, 4, 3, 2, 1 at 8) and
/// the partial last tiles of the block products (6-row tiles of the AVX2 ones).
fn bases() -> Vec<KernelBasis> {
    let bins = |r, s| KernelBasis::Bins(PolarBins::new(r, s).unwrap());
    let radial = RadialBasis::new(RadialProfile::Gaussian, 4).unwrap();
    vec![
        bins(1, 1),
        bins(1, 2),
        bins(1, 3),
        bins(1, 5),
        bins(2, 8),
        KernelBasis::Harmonic(HarmonicBasis::new(radial, 3).unwrap()),
    ]
}

/// (batch, C_in, C_out): gather widths S·C_in of 16 and 48 (AVX-512 tiles), 8 and 24 (AVX2 tiles on
/// both SIMD paths), 5, 7 and 21 (generic loops); output widths of 8, 16 and 32 (whole vectors), 4,
/// 13, 21 and 40 (masked tails).
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 16, 32),
    (1, 8, 13),
    (1, 5, 4),
    (3, 16, 32),
    (3, 8, 8),
    (3, 7, 40),
    (16, 1, 16),
    (16, 3, 21),
    (3, 16, 4),
];

struct Passes<T> {
    out: Vec<T>,
    grad_x: Vec<T>,
    grad_w: Vec<T>,
    /// The same two gradients from the one-pass `backward`.
    fused_x: Vec<T>,
    fused_w: Vec<T>,
}

/// Forward, then both gradients with the output as the incoming gradient, on their own and by the
/// one-pass `backward`.
fn passes<T: Real>(p: SimdOperator<T>, x: &[T], c_in: usize, w: &[T], c_out: usize) -> Passes<T> {
    let op = p.operator();
    let (n, nb) = (op.vertex_count(), op.basis_len());
    let batch = x.len() / (n * c_in);
    let mut out = vec![T::default(); batch * n * c_out];
    p.forward(
        Signals::new(x, batch, c_in).unwrap(),
        KernelWeights::new(w, nb, c_in, c_out).unwrap(),
        SignalsMut::new(&mut out, batch, c_out).unwrap(),
    );
    let (mut grad_x, mut grad_w) = (vec![T::default(); x.len()], vec![T::default(); w.len()]);
    let g = Signals::new(&out, batch, c_out).unwrap();
    p.weight_gradient(
        Signals::new(x, batch, c_in).unwrap(),
        g,
        KernelWeightsMut::new(&mut grad_w, nb, c_in, c_out).unwrap(),
    );
    p.input_gradient(
        g,
        KernelWeights::new(w, nb, c_in, c_out).unwrap(),
        SignalsMut::new(&mut grad_x, batch, c_in).unwrap(),
    );
    let (mut fused_x, mut fused_w) = (vec![T::default(); x.len()], vec![T::default(); w.len()]);
    p.backward(
        Signals::new(x, batch, c_in).unwrap(),
        g,
        KernelWeights::new(w, nb, c_in, c_out).unwrap(),
        SignalsMut::new(&mut fused_x, batch, c_in).unwrap(),
        KernelWeightsMut::new(&mut fused_w, nb, c_in, c_out).unwrap(),
    );
    Passes {
        out,
        grad_x,
        grad_w,
        fused_x,
        fused_w,
    }
}

/// Panics unless `got` is `want` to `tol` of `want`'s largest magnitude.
fn assert_close(want: &[f64], got: &[f32], tol: f64, what: &str) {
    assert_eq!(want.len(), got.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    assert!(scale > 0.0, "{what}: the reference is all zero");
    for (i, (a, b)) in want.iter().zip(got).enumerate() {
        assert!(
            (a - *b as f64).abs() <= tol * scale,
            "{what}, value {i}: f64 {a} vs f32 {b} (scale {scale})"
        );
    }
}

#[test]
fn every_path_agrees_with_the_f64_reference() {
    let m = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
    let params = ExpMapOptions::new()
        .rings(4)
        .directions(12)
        .radius(Radius::Absolute(0.5));
    let t = ExpMapTable::build(&m, &params).unwrap();
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let n = m.mesh.vertex_count();
    let paths = available_paths();
    let blocks = ConvOptions::new().layout(Layout::Blocks);
    for basis in bases() {
        let op64 = ConvOperator::<f64>::with_options(&m, &t, &basis, &g, &blocks).unwrap();
        let op32 = [Layout::Blocks, Layout::PerFunction].map(|layout| {
            let options = ConvOptions::new().layout(layout);
            ConvOperator::<f32>::with_options(&m, &t, &basis, &g, &options).unwrap()
        });
        let nb = op64.basis_len();
        let reference = op64.with_simd(SimdPath::Auto).unwrap();
        for (batch, c_in, c_out) in SHAPES {
            let x = signal(batch * n * c_in, 9);
            let w = signal(nb * c_in * c_out, 10);
            let want = passes(reference, &x, c_in, &w, c_out);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            for (&path, op32) in paths.iter().flat_map(|p| op32.iter().map(move |o| (p, o))) {
                let p = op32.with_simd(path).unwrap();
                assert_eq!(p.path(), path);
                let got = passes(p, &x32, c_in, &w32, c_out);
                let layout = op32.layout();
                let what = |pass| {
                    format!("{path}, {layout:?}, B = {nb}, {batch} × {c_in} → {c_out}: {pass}")
                };
                assert_close(&want.out, &got.out, 1e-5, &what("forward"));
                // The f32 gradients are those of the f32 output: compare them with the f64
                // gradients of the f64 output, as tests/conv.rs does.
                assert_close(&want.grad_x, &got.grad_x, 1e-4, &what("input gradient"));
                assert_close(&want.grad_w, &got.grad_w, 1e-4, &what("weight gradient"));
                assert_close(&want.grad_x, &got.fused_x, 1e-4, &what("backward: input"));
                assert_close(&want.grad_w, &got.fused_w, 1e-4, &what("backward: weights"));
            }
        }
    }
}

#[test]
fn row_layout_passes_agree_across_paths() {
    // The passes a network runs (row layout, the weight gradient from what the forward kept, or both
    // gradients in one pass) on each path against the f64 operator's.
    let m = Manifold::load("icosphere:2", &BuildOptions::default()).unwrap();
    let t = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let basis = KernelBasis::Bins(PolarBins::new(2, 8).unwrap());
    let blocks = ConvOptions::new().layout(Layout::Blocks);
    let op64 = ConvOperator::<f64>::with_options(&m, &t, &basis, &g, &blocks).unwrap();
    let op32 = [Layout::Blocks, Layout::PerFunction].map(|layout| {
        let options = ConvOptions::new().layout(layout);
        ConvOperator::<f32>::with_options(&m, &t, &basis, &g, &options).unwrap()
    });
    let (n, nb) = (m.mesh.vertex_count(), op64.basis_len());
    for (batch, c_in, c_out) in [(1, 16, 16), (3, 8, 21), (16, 5, 7)] {
        let x = signal(batch * n * c_in, 3);
        let w = signal(nb * c_in * c_out, 4);
        let go = signal(batch * n * c_out, 5);
        let run64 = || {
            let mut out = vec![0.0; batch * n * c_out];
            let mut kept = vec![0.0; n * nb * batch * c_in];
            op64.forward_rows_gathering(
                Signals::new(&x, batch, c_in).unwrap(),
                KernelWeights::new(&w, nb, c_in, c_out).unwrap(),
                SignalsMut::new(&mut out, batch, c_out).unwrap(),
                &mut kept,
            );
            let mut gw = vec![0.0; w.len()];
            op64.weight_gradient_gathered(
                &kept,
                Signals::new(&go, batch, c_out).unwrap(),
                KernelWeightsMut::new(&mut gw, nb, c_in, c_out).unwrap(),
            );
            let mut gx = vec![0.0; x.len()];
            op64.input_gradient_rows(
                Signals::new(&go, batch, c_out).unwrap(),
                KernelWeights::new(&w, nb, c_in, c_out).unwrap(),
                SignalsMut::new(&mut gx, batch, c_in).unwrap(),
            );
            (out, gw, gx)
        };
        let (out64, gw64, gx64) = run64();
        let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (x32, w32, go32) = (f(&x), f(&w), f(&go));
        let paths = available_paths();
        for (&path, op32) in paths.iter().flat_map(|p| op32.iter().map(move |o| (p, o))) {
            let p = op32.with_simd(path).unwrap();
            let mut out = vec![0.0f32; batch * n * c_out];
            let mut kept = vec![0.0f32; n * nb * batch * c_in];
            p.forward_rows_gathering(
                Signals::new(&x32, batch, c_in).unwrap(),
                KernelWeights::new(&w32, nb, c_in, c_out).unwrap(),
                SignalsMut::new(&mut out, batch, c_out).unwrap(),
                &mut kept,
            );
            let mut gw = vec![0.0f32; w.len()];
            p.weight_gradient_gathered(
                &kept,
                Signals::new(&go32, batch, c_out).unwrap(),
                KernelWeightsMut::new(&mut gw, nb, c_in, c_out).unwrap(),
            );
            let mut gx = vec![0.0f32; x.len()];
            p.input_gradient_rows(
                Signals::new(&go32, batch, c_out).unwrap(),
                KernelWeights::new(&w32, nb, c_in, c_out).unwrap(),
                SignalsMut::new(&mut gx, batch, c_in).unwrap(),
            );
            let (mut fx, mut fw) = (vec![0.0f32; x.len()], vec![0.0f32; w.len()]);
            p.backward_rows(
                Signals::new(&x32, batch, c_in).unwrap(),
                Signals::new(&go32, batch, c_out).unwrap(),
                KernelWeights::new(&w32, nb, c_in, c_out).unwrap(),
                SignalsMut::new(&mut fx, batch, c_in).unwrap(),
                KernelWeightsMut::new(&mut fw, nb, c_in, c_out).unwrap(),
            );
            let layout = op32.layout();
            let what = |pass| format!("{path}, {layout:?}, {batch} × {c_in} → {c_out}: {pass}");
            assert_close(&gx64, &fx, 1e-4, &what("backward_rows: input"));
            assert_close(&gw64, &fw, 1e-4, &what("backward_rows: weights"));
            assert_close(&out64, &out, 1e-5, &what("forward_rows"));
            assert_close(&gw64, &gw, 1e-4, &what("weight_gradient_gathered"));
            assert_close(&gx64, &gx, 1e-4, &what("input_gradient_rows"));
        }
    }
}

#[test]
fn a_path_the_processor_lacks_is_an_error_that_names_it() {
    let m = Manifold::load("icosphere:1", &BuildOptions::default()).unwrap();
    let t = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let basis = KernelBasis::Bins(PolarBins::new(1, 1).unwrap());
    let op = ConvOperator::<f32>::new(&m, &t, &basis, &g).unwrap();
    for path in SimdPath::ALL {
        match op.with_simd(path) {
            Ok(p) => {
                assert!(path.is_available());
                assert_eq!(p.path(), path);
                assert_eq!(path.resolve().unwrap(), path);
            }
            Err(e) => {
                assert!(!path.is_available());
                let text = e.to_string();
                assert!(text.contains(path.name()), "{text}");
                eprintln!("note: {text}");
            }
        }
    }
    // Portable runs everywhere; Auto resolves to a concrete path the processor has.
    assert_eq!(
        op.with_simd(SimdPath::Portable).unwrap().path(),
        SimdPath::Portable
    );
    let auto = op.with_simd(SimdPath::Auto).unwrap().path();
    assert!(auto != SimdPath::Auto && auto.is_available());
    assert_eq!(SimdPath::Auto.resolve().unwrap(), auto);
}

#[test]
fn path_names_round_trip() {
    for path in [SimdPath::Auto].into_iter().chain(SimdPath::ALL) {
        assert_eq!(SimdPath::parse(path.name()), Some(path));
        assert_eq!(SimdPath::parse(&path.name().to_uppercase()), Some(path));
        assert_eq!(path.to_string(), path.name());
    }
    assert_eq!(SimdPath::parse("sse9"), None);
}
