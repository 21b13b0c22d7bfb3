use manifold_cnn::conv::*;
use manifold_cnn::expmap::{ExpMapParams, ExpMapTable, Radius};
use manifold_cnn::kernel::*;
use manifold_cnn::*;
use std::time::Instant;
fn main() {
    let spec = std::env::args().nth(1).unwrap_or("icosphere:7".into());
    let c: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(16);
    let m = Manifold::load(&spec, &BuildOptions::default()).unwrap();
    let p = ExpMapParams {
        rings: 8,
        directions: 16,
        radius: Radius::MeanEdgeLengths(3.0),
        ..Default::default()
    };
    let t = ExpMapTable::build(&m, &p).unwrap();
    let basis = KernelBasis::Bins(PolarBins::new(2, 8, p.radius.resolve(&m)).unwrap());
    let g = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let op = ConvOperator::<f32>::new(&m, &t, &basis, &g).unwrap();
    drop(t);
    let n = m.mesh.vertex_count();
    let x: Vec<f32> = (0..n * c).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..16 * c * c).map(|i| (i % 5) as f32 * 0.01).collect();
    let mut out = vec![0f32; n * c];
    let t0 = Instant::now();
    let reps = 60;
    for _ in 0..reps {
        op.forward(&x, c, &w, c, &mut out);
    }
    let s = t0.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{spec} C={c} nnz/row {:.1} forward {:.4} s {:.1} GFLOP/s",
        op.nnz() as f64 / n as f64,
        s,
        op.forward_flops(c, c) / s / 1e9
    );
}
