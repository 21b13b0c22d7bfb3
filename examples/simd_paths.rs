//! The convolution's SIMD paths side by side, each against the roofline of its own arithmetic peak,
//! and the backward pass against the forward, in one run.
//!
//! ```text
//! cargo run --release --example simd_paths [-- MESH] [--channels C] [--reps K] [--operator FILE]
//! ```
//!
//! MESH defaults to `bull_loop4` (meshes/bull.obj after four Loop subdivisions: 1,586,690 vertices);
//! the operator is conv_roofline's (8 rings × 16 directions, radius 3 mean edge lengths, 16 polar
//! bins, f32), loaded from FILE (default `out/simd_paths_MESH.conv`) where it was saved by an earlier
//! run, else compiled and saved there. In this order, one process: STREAM triad bandwidth; the f32
//! arithmetic peak of each path the processor has (AVX-512 FMA, AVX2 FMA, SSE2 multiply + add: what
//! the portable path is compiled for); then K rounds (default 5), each running every path's forward
//! pass (C → C channels, default 16), then the two gradients (the forward's output as the incoming
//! gradient) by their own methods (`weight_gradient`, `input_gradient`) and by the one-pass
//! `backward`, in turn, so that the paths share the machine's state;
//! medians per path. Prints a table and writes it as JSON to `out/simd_paths.json`.

use manifold_cnn::conv::{
    ConvOperator, KernelWeights, KernelWeightsMut, Signals, SignalsMut, SimdPath,
};
use manifold_cnn::{BuildOptions, Manifold};
use serde_json::json;
use std::time::Instant;

#[path = "../benches/support/mod.rs"]
mod support;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    Some(
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} takes a value")),
    )
}

/// Seconds of each pass on each path: (forward, weight gradient, input gradient) per round.
struct Times {
    forward: Vec<f64>,
    weight: Vec<f64>,
    input: Vec<f64>,
    backward: Vec<f64>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| "bull_loop4".into());
    let c: usize = flag(&args, "--channels").unwrap_or(16);
    let reps: usize = flag(&args, "--reps").unwrap_or(5);
    let op_path: String =
        flag(&args, "--operator").unwrap_or_else(|| format!("out/simd_paths_{spec}.conv"));
    std::fs::create_dir_all("out").unwrap();

    let bandwidth = support::stream_triad();
    let paths: Vec<SimdPath> = SimdPath::ALL
        .into_iter()
        .filter(|p| {
            let has = p.is_available();
            if !has {
                eprintln!("{p}: not on this processor, skipped");
            }
            has
        })
        .collect();
    let peaks: Vec<f64> = paths.iter().map(|&p| support::fma_peak(p)).collect();
    eprintln!("STREAM triad {bandwidth:.1} GB/s");
    for (p, peak) in paths.iter().zip(&peaks) {
        eprintln!("{p:>8}: f32 arithmetic peak {peak:.0} GFLOP/s");
    }

    let m = Manifold::from_source(&support::source(&spec), &BuildOptions::default()).unwrap();
    let n = m.mesh.vertex_count();
    let t = Instant::now();
    let op = match ConvOperator::<f32>::load(&op_path, &m) {
        Ok(op) => {
            eprintln!("{spec}: operator loaded from {op_path}");
            op
        }
        Err(e) => {
            eprintln!("{spec}: compiling the operator ({e})");
            let op = support::roofline_operator(&m);
            op.save(&op_path).unwrap();
            op
        }
    };
    eprintln!(
        "{spec}: {n} vertices, {} entries ({:.1} per row), B = {}, {:.1} s to get the operator",
        op.nnz(),
        op.nnz() as f64 / n as f64,
        op.basis_len(),
        t.elapsed().as_secs_f64()
    );
    drop(m);

    let nb = op.basis_len();
    let x = support::values(n * c, 1);
    let w = support::values(nb * c * c, 2);
    let mut out = vec![0f32; n * c];
    let (mut gx, mut gw) = (vec![0f32; n * c], vec![0f32; nb * c * c]);
    let mut times: Vec<Times> = paths
        .iter()
        .map(|_| Times {
            forward: vec![],
            weight: vec![],
            input: vec![],
            backward: vec![],
        })
        .collect();
    for round in 0..reps {
        for (p, tm) in paths.iter().zip(&mut times) {
            let v = op.with_simd(*p).unwrap();
            let t = Instant::now();
            v.forward(
                Signals::new(&x, 1, c).unwrap(),
                KernelWeights::new(&w, nb, c, c).unwrap(),
                SignalsMut::new(&mut out, 1, c).unwrap(),
            );
            tm.forward.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            v.weight_gradient(
                Signals::new(&x, 1, c).unwrap(),
                Signals::new(&out, 1, c).unwrap(),
                KernelWeightsMut::new(&mut gw, nb, c, c).unwrap(),
            );
            tm.weight.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            v.input_gradient(
                Signals::new(&out, 1, c).unwrap(),
                KernelWeights::new(&w, nb, c, c).unwrap(),
                SignalsMut::new(&mut gx, 1, c).unwrap(),
            );
            tm.input.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            v.backward(
                Signals::new(&x, 1, c).unwrap(),
                Signals::new(&out, 1, c).unwrap(),
                KernelWeights::new(&w, nb, c, c).unwrap(),
                SignalsMut::new(&mut gx, 1, c).unwrap(),
                KernelWeightsMut::new(&mut gw, nb, c, c).unwrap(),
            );
            tm.backward.push(t.elapsed().as_secs_f64());
        }
        eprintln!("round {} of {reps} done", round + 1);
    }

    let (flops, bytes) = (op.forward_flops(c, c), op.forward_bytes(c, c));
    let mut rows = Vec::new();
    println!(
        "{spec}, {c} → {c}, B = {nb}, median of {reps} rounds; forward {:.2} GFLOP, {:.2} GB",
        flops / 1e9,
        bytes / 1e9
    );
    println!("| path | peak GFLOP/s | roofline | forward | × roofline | weight grad | input grad | both, separately | `backward` (one pass) | `backward` / forward |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((p, peak), tm) in paths.iter().zip(&peaks).zip(times) {
        let roof = (flops / (peak * 1e9)).max(bytes / (bandwidth * 1e9));
        let (f, wg, ig) = (
            median(tm.forward.clone()),
            median(tm.weight.clone()),
            median(tm.input.clone()),
        );
        let fused = median(tm.backward.clone());
        // The two gradients by their own methods, summed per round.
        let back = median(
            tm.weight
                .iter()
                .zip(&tm.input)
                .map(|(a, b)| a + b)
                .collect(),
        );
        println!(
            "| {p} | {peak:.0} | {roof:.3} s | {f:.3} s | {:.2}× | {wg:.3} s | {ig:.3} s | {back:.3} s ({:.2}×) | {fused:.3} s | {:.2}× |",
            f / roof,
            back / f,
            fused / f
        );
        rows.push(json!({
            "path": p.name(), "peak_gflops": peak, "roofline_seconds": roof,
            "forward_seconds": f, "times_roofline": f / roof,
            "weight_gradient_seconds": wg, "input_gradient_seconds": ig,
            "separate_gradients_seconds": back, "separate_over_forward": back / f,
            "backward_seconds": fused, "backward_over_forward": fused / f,
        }));
    }
    let report = json!({
        "mesh": spec, "vertices": n, "nnz": op.nnz(), "basis": nb, "channels": c, "rounds": reps,
        "stream_triad_gb_per_second": bandwidth, "forward_flops": flops, "forward_bytes": bytes,
        "paths": rows,
    });
    std::fs::write(
        "out/simd_paths.json",
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
}
