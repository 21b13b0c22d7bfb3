//! Convolution benchmark: forward, forward + both gradients by their own methods, and the one-pass
//! backward of the precompiled operator, f32, on the default SIMD path (`MANIFOLD_CNN_SIMD` forces
//! one; `cargo run --release --example simd_paths` runs every path side by side).
//!
//! Meshes: icosphere:9 (2,621,442 vertices) and bull.obj after four Loop subdivisions (1,586,690
//! vertices). Table 8 rings × 16 directions, radius 3 mean edge lengths (≈ 49 distinct neighbours per
//! row). Kernels: 16 polar bins (2 rings × 8 sectors, unconstrained) and the same bins constrained to
//! SO(2) (2 functions). Channels 16 → 16 and 64 → 64.
//!
//! `cargo bench --bench conv` (about 20 minutes and 16 GB at peak). `CONV_BENCH_MESHES=icosphere:7`
//! runs a quick version. Side-by-side comparisons with scipy and PyTorch, the roofline and STREAM are
//! in `cargo run --release --example conv_roofline`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use manifold_cnn::conv::{
    ConvOperator, Gauge, KernelWeights, KernelWeightsMut, Signals, SignalsMut, SpanningTree,
};
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable, Radius};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::kernel::{KernelBasis, PolarBins};
use manifold_cnn::{BuildOptions, Manifold};
use std::time::Duration;

mod support;

fn load(spec: &str) -> Manifold {
    Manifold::from_source(&support::source(spec), &BuildOptions::default()).unwrap()
}

fn bench(c: &mut Criterion) {
    let meshes =
        std::env::var("CONV_BENCH_MESHES").unwrap_or_else(|_| "icosphere:9,bull_loop4".into());
    for spec in meshes.split(',') {
        let m = load(spec);
        let n = m.mesh.vertex_count();
        let params = ExpMapOptions::new()
            .rings(8)
            .directions(16)
            .radius(Radius::MeanEdgeLengths(3.0));
        params.validate(&m).unwrap();
        let bins = KernelBasis::Bins(PolarBins::new(2, 8).unwrap());
        let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
        let table = ExpMapTable::build(&m, &params).unwrap();
        let ops = [
            (
                "B16",
                ConvOperator::<f32>::new(&m, &table, &bins, &gauge).unwrap(),
            ),
            (
                "SO2",
                ConvOperator::<f32>::new(
                    &m,
                    &table,
                    &bins.constrain(&HolonomyGroup::so2()),
                    &gauge,
                )
                .unwrap(),
            ),
        ];
        drop(table);
        let mut g = c.benchmark_group(format!("conv/{spec}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
        g.throughput(Throughput::Elements(n as u64));
        for (name, op) in &ops {
            let nb = op.basis_len();
            for ch in [16usize, 64] {
                let x = support::values(n * ch, 1);
                let w = support::values(nb * ch * ch, 2);
                let mut out = vec![0f32; n * ch];
                let xs = Signals::new(&x, 1, ch).unwrap();
                let ws = KernelWeights::new(&w, nb, ch, ch).unwrap();
                g.bench_function(
                    BenchmarkId::new(format!("forward/{name}"), format!("{ch}to{ch}")),
                    |b| b.iter(|| op.forward(xs, ws, SignalsMut::new(&mut out, 1, ch).unwrap())),
                );
                let (mut gx, mut gw) = (vec![0f32; n * ch], vec![0f32; w.len()]);
                g.bench_function(
                    BenchmarkId::new(format!("forward+backward/{name}"), format!("{ch}to{ch}")),
                    |b| {
                        b.iter(|| {
                            op.forward(xs, ws, SignalsMut::new(&mut out, 1, ch).unwrap());
                            let gout = Signals::new(&out, 1, ch).unwrap();
                            op.weight_gradient(
                                xs,
                                gout,
                                KernelWeightsMut::new(&mut gw, nb, ch, ch).unwrap(),
                            );
                            op.input_gradient(gout, ws, SignalsMut::new(&mut gx, 1, ch).unwrap());
                        })
                    },
                );
                // Both gradients in one pass (issue 12), the forward's output as the incoming
                // gradient.
                let gout = Signals::new(&out, 1, ch).unwrap();
                g.bench_function(
                    BenchmarkId::new(format!("backward/{name}"), format!("{ch}to{ch}")),
                    |b| {
                        b.iter(|| {
                            op.backward(
                                xs,
                                gout,
                                ws,
                                SignalsMut::new(&mut gx, 1, ch).unwrap(),
                                KernelWeightsMut::new(&mut gw, nb, ch, ch).unwrap(),
                            )
                        })
                    },
                );
            }
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
