//! The two coefficient layouts of a convolution operator side by side: compile time, bytes, and the
//! forward and one-pass backward (median of 5 and of 3), each layout compiled twice in turn.
//!
//! ```text
//! cargo run --release --example layout_cost -- MESH BASIS CHANNELS
//! ```
//!
//! e.g. `icosphere:7 bins:2:8 16` (MESH as the benches take it: a primitive spec, a path, or
//! `bull_loop4`). The outputs' sums are printed so that the layouts can be seen to agree.

use manifold_cnn::conv::*;
use manifold_cnn::expmap::{ExpMapOptions, ExpMapTable};
use manifold_cnn::kernel::KernelBasis;
use manifold_cnn::{BuildOptions, Manifold};
use std::time::Instant;
#[path = "../benches/support/mod.rs"]
mod support;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mesh), Some(Ok(basis)), Some(Ok(c))) = (
        args.first(),
        args.get(1).map(|b| KernelBasis::parse(b)),
        args.get(2).map(|c| c.parse::<usize>()),
    ) else {
        eprintln!("usage: layout_cost MESH BASIS CHANNELS (e.g. icosphere:7 bins:2:8 16)");
        std::process::exit(2);
    };
    let m = Manifold::from_source(&support::source(mesh), &BuildOptions::default()).unwrap();
    let table = ExpMapTable::build(&m, &ExpMapOptions::default()).unwrap();
    let gauge = Gauge::new(&m, None, SpanningTree::Bfs).unwrap();
    let n = m.mesh.vertex_count();
    let nb = basis.len();
    let x: Vec<f32> = (0..n * c)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let w: Vec<f32> = (0..nb * c * c)
        .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5)
        .collect();
    for layout in [
        Layout::Blocks,
        Layout::PerFunction,
        Layout::Blocks,
        Layout::PerFunction,
    ] {
        let t = Instant::now();
        let op = ConvOperator::<f32>::with_options(
            &m,
            &table,
            &basis,
            &gauge,
            &ConvOptions::new().layout(layout),
        )
        .unwrap();
        let tc = t.elapsed().as_secs_f64();
        let mut out = vec![0f32; n * c];
        let mut fw = vec![];
        for _ in 0..5 {
            let t = Instant::now();
            op.forward(
                Signals::new(&x, 1, c).unwrap(),
                KernelWeights::new(&w, nb, c, c).unwrap(),
                SignalsMut::new(&mut out, 1, c).unwrap(),
            );
            fw.push(t.elapsed().as_secs_f64());
        }
        let (mut gx, mut gw) = (vec![0f32; n * c], vec![0f32; w.len()]);
        let mut bw = vec![];
        for _ in 0..3 {
            let t = Instant::now();
            op.backward(
                Signals::new(&x, 1, c).unwrap(),
                Signals::new(&out, 1, c).unwrap(),
                KernelWeights::new(&w, nb, c, c).unwrap(),
                SignalsMut::new(&mut gx, 1, c).unwrap(),
                KernelWeightsMut::new(&mut gw, nb, c, c).unwrap(),
            );
            bw.push(t.elapsed().as_secs_f64());
        }
        fw.sort_by(f64::total_cmp);
        bw.sort_by(f64::total_cmp);
        println!(
            "{layout:?}: compile {tc:.3} s, {} MiB, forward {:.4} s, backward {:.4} s, sum {}",
            op.bytes() >> 20,
            fw[2],
            bw[1],
            out.iter().map(|&v| v as f64).sum::<f64>()
        );
    }
}
