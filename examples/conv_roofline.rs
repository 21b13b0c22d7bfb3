//! Where the convolution stands against this machine's limits and against scipy and PyTorch, in one run.
//!
//! ```text
//! cargo run --release --example conv_roofline [-- MESH [--no-compare]]
//! ```
//!
//! MESH defaults to `bull_loop4` (meshes/bull.obj after four Loop subdivisions: 1,586,690 vertices).
//! It measures, in this order and in one process: STREAM triad bandwidth and the f32 FMA peak of the
//! machine; the forward pass (16 → 16 and 64 → 64 channels, 16 basis functions, 128 samples) with its
//! FLOP and byte counts and its distance to the roofline; the same mesh with its vertices randomly
//! relabelled; and, unless `--no-compare`, the exported operator run by scipy and PyTorch
//! (benches/conv_reference.py) on the same machine, with the speed-up over each. Prints a report and
//! writes it as JSON to `out/conv_roofline.json`.

use manifold_cnn::conv::{ConvOperator, KernelWeights, Signals, SignalsMut};
use manifold_cnn::io::npz::write_npy_f32;
use manifold_cnn::{BuildOptions, Manifold};
use serde_json::json;
use std::time::Instant;

#[path = "../benches/support/mod.rs"]
mod support;

fn median_forward(op: &ConvOperator<f32>, c: usize, reps: usize) -> f64 {
    let n = op.vertex_count();
    let x = support::values(n * c, 1);
    let w = support::values(op.basis_len() * c * c, 2);
    let mut out = vec![0f32; n * c];
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            op.forward(
                Signals::new(&x, 1, c).unwrap(),
                KernelWeights::new(&w, op.basis_len(), c, c).unwrap(),
                SignalsMut::new(&mut out, 1, c).unwrap(),
            );
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "bull_loop4".into());
    let compare = !args.iter().any(|a| a == "--no-compare");
    std::fs::create_dir_all("out").unwrap();

    let bandwidth = support::stream_triad();
    // 8-wide FMA chains: the peak this roofline has always used (issue 5).
    let peak = support::fma_peak(manifold_cnn::conv::SimdPath::Avx2);
    eprintln!("STREAM triad {bandwidth:.1} GB/s; f32 FMA peak {peak:.0} GFLOP/s");

    let src = support::source(&spec);
    let m = Manifold::from_source(&src, &BuildOptions::default()).unwrap();
    let n = m.mesh.vertex_count();
    let t = Instant::now();
    let op = support::roofline_operator(&m);
    let precompile = t.elapsed().as_secs_f64();
    eprintln!(
        "{spec}: {n} vertices, {} entries ({:.1} per row), precompile {precompile:.1} s",
        op.nnz(),
        op.nnz() as f64 / n as f64
    );
    let mut rows = Vec::new();
    for c in [16usize, 64] {
        let secs = median_forward(&op, c, 5);
        let (flops, bytes) = (op.forward_flops(c, c), op.forward_bytes(c, c));
        let roof = (flops / (peak * 1e9)).max(bytes / (bandwidth * 1e9));
        eprintln!(
            "forward {c:>2} → {c:<2}: {secs:.3} s, {:.1} GFLOP/s, {:.1} GB/s effective, roofline {roof:.3} s ({:.2}× it)",
            flops / secs / 1e9,
            bytes / secs / 1e9,
            secs / roof
        );
        rows.push(
            json!({"channels": c, "seconds": secs, "flops": flops, "bytes": bytes,
            "gflops_per_second": flops / secs / 1e9, "gb_per_second": bytes / secs / 1e9,
            "roofline_seconds": roof, "times_roofline": secs / roof}),
        );
    }

    let mut report = json!({
        "mesh": spec, "vertices": n, "basis": op.basis_len(), "samples": 128, "nnz": op.nnz(),
        "operator_bytes_per_vertex": op.bytes() as f64 / n as f64, "precompile_seconds": precompile,
        "nnz_per_row": op.nnz() as f64 / n as f64,
        "stream_triad_gb_per_second": bandwidth, "fma_peak_gflops": peak, "forward": rows,
    });

    let op = if compare {
        let dir = std::env::temp_dir().join("manifold-cnn-roofline");
        std::fs::create_dir_all(&dir).unwrap();
        let op_path = dir.join("op.npz");
        // The reference script draws its own weights; these only fill the archive's slot.
        op.write_npz(&op_path, &vec![0.0; op.basis_len()], 1, 1)
            .unwrap();
        let mut xs = Vec::new();
        for c in [16usize, 64] {
            let path = dir.join(format!("x{c}.npy"));
            write_npy_f32(&path, &[n as u64, c as u64], &support::values(n * c, 1)).unwrap();
            xs.push(path);
        }
        drop(op);
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/conv_reference.py");
        eprintln!("running {script} (scipy, PyTorch) on the exported operator …");
        let out = std::process::Command::new("python3")
            .arg(script)
            .arg(&op_path)
            .args(&xs)
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                for (run, row) in r["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(report["forward"].as_array().unwrap())
                {
                    let ours = row["seconds"].as_f64().unwrap();
                    for lib in ["scipy", "torch"] {
                        if let Some(t) = run[lib]["seconds"].as_f64() {
                            eprintln!(
                                "{} → {}: {lib} {t:.3} s; manifold-cnn {ours:.3} s: {:.1}× faster",
                                run["channels"],
                                run["channels"],
                                t / ours
                            );
                        }
                    }
                }
                report["reference"] = r;
            }
            Ok(o) => eprintln!(
                "reference script failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("python3 not available: {e}"),
        }
        None
    } else {
        Some(op)
    };
    drop(op);
    drop(m);
    // The same mesh with its vertices randomly relabelled: the operator reorders rows itself.
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let mut s = 0x2545F4914F6CDD1Du64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        perm.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut shuffled = src.clone();
    let p = src.positions.as_ref().unwrap();
    let mut q = vec![[0.0; 3]; n];
    for v in 0..n {
        q[perm[v] as usize] = p[v];
    }
    shuffled.positions = Some(q);
    for f in &mut shuffled.faces {
        for v in f.iter_mut() {
            *v = perm[*v as usize];
        }
    }
    drop(src);
    let relabelled = {
        let ms = Manifold::from_source(&shuffled, &BuildOptions::default()).unwrap();
        let ops = support::roofline_operator(&ms);
        median_forward(&ops, 16, 5)
    };
    let ordered16 = report["forward"][0]["seconds"].as_f64().unwrap();
    eprintln!(
        "relabelled mesh: forward 16 → 16 {relabelled:.3} s ({:.2}× the mesh in its own order)",
        relabelled / ordered16
    );
    report["relabelled_forward_16_seconds"] = json!(relabelled);
    report["relabelled_over_ordered"] = json!(relabelled / ordered16);
    std::fs::write(
        "out/conv_roofline.json",
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
