//! The training step of the sphere classifier (examples/models/sphere_classifier.json, SO(2)
//! kernels, icosphere:4 → 3 → 2, batch 32): forward, backward and AdamW in manifold-cnn, and the same
//! network in PyTorch (benches/train_reference.py, on the operators exported here) side by side.
//!
//! ```sh
//! cargo run --release --example train_step [-- STEPS]
//! ```

// Training allocates and frees large tensors every step; mimalloc keeps the pages instead of handing
// them back to the OS (page faults were a fifth of a training step with the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::io::npz::NpzWriter;
use manifold_cnn::nn::{coarser_levels, MeshLevels, Model, ModelSpec};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::{BuildOptions, Manifold};
use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn Error>> {
    // Keep freed pages (mimalloc purges them after a second by default, and every training step then
    // faults its tensors back in); `mi_option_purge_delay` is 15 in mimalloc.h's `mi_option_e`.
    // SAFETY: sets a plain option value; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(15, -1) };
    let steps: usize = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/examples/models/sphere_classifier.json"))?;
    let spec = ModelSpec::from_json(&text, "sphere_classifier.json")?;
    let model = Model::new(&spec, &HolonomyGroup::so2(), 0, DType::F32)?;
    let mesh_spec = "icosphere:4";
    let mesh = MeshLevels::compile(
        Arc::new(Manifold::load(mesh_spec, &BuildOptions::default())?),
        coarser_levels(mesh_spec, model.pooling_levels())?,
        &model.spec().conv,
        model.group(),
        false,
    )?;
    let (s, n) = (32, mesh.vertex_count());
    let mut rng = SplitMix(1);
    let x: Vec<f32> = (0..s * n).map(|_| rng.uniform() as f32).collect();
    let labels: Vec<u32> = (0..s).map(|_| rng.below(10) as u32).collect();

    let out = std::path::Path::new("out/train_step");
    std::fs::create_dir_all(out)?;
    let path = out.join("net.npz");
    let mut w = NpzWriter::create(&path)?;
    mesh.write_npz(&mut w)?;
    for (name, var) in model.var_names().iter().zip(model.vars()) {
        let dims: Vec<u64> = var.dims().iter().map(|&d| d as u64).collect();
        w.f32(name, &dims, &var.flatten_all()?.to_vec1::<f32>()?)?;
    }
    w.f32("x", &[s as u64, n as u64, 1], &x)?;
    w.u32("labels", &[s as u64], &labels)?;
    w.finish()?;

    let xt = Tensor::from_vec(x, (s, n, 1), &Device::Cpu)?;
    let yt = Tensor::from_vec(labels, s, &Device::Cpu)?;
    // A training pass (`Some` dropout seed), as `train` runs it.
    let loss = |m: &Model| candle_nn::loss::cross_entropy(&m.forward(&xt, &mesh, Some(0))?, &yt);
    let initial = loss(&model)?.to_scalar::<f32>()?;
    let mut opt = AdamW::new(
        model.vars(),
        ParamsAdamW {
            lr: 3e-3,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    if std::env::var("PROFILE").is_ok() {
        for _ in 0..5 {
            let t = Instant::now();
            let l = loss(&model)?;
            let f = t.elapsed().as_secs_f64();
            let g = l.backward()?;
            let b = t.elapsed().as_secs_f64();
            opt.step(&g)?;
            let o = t.elapsed().as_secs_f64();
            println!(
                "forward {:.1} ms backward {:.1} ms step {:.1} ms",
                f * 1e3,
                (b - f) * 1e3,
                (o - b) * 1e3
            );
        }
    }
    let mut times = Vec::new();
    for step in 0..3 + steps {
        let t = Instant::now();
        opt.backward_step(&loss(&model)?)?;
        if step >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let ours = times[times.len() / 2];
    println!(
        "manifold-cnn: {} parameters, {} vertices, batch {s}: initial loss {initial:.6}, {:.2} ms per step (median of {steps}, {} threads)",
        model.parameter_count(),
        n,
        ours * 1e3,
        rayon::current_num_threads()
    );
    let reference = std::process::Command::new("python3")
        .arg(format!("{root}/benches/train_reference.py"))
        .arg(&path)
        .arg(steps.to_string())
        .env("THREADS", rayon::current_num_threads().to_string())
        .output();
    match reference {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            if let Some(why) = v.get("skipped") {
                println!("PyTorch reference skipped: {why}");
            } else {
                let theirs = v["seconds_per_step"].as_f64().unwrap_or(f64::NAN);
                println!(
                    "PyTorch {} ({} threads): initial loss {:.6}, {:.2} ms per step",
                    v["torch"],
                    v["threads"],
                    v["initial_loss"].as_f64().unwrap_or(f64::NAN),
                    theirs * 1e3
                );
                println!(
                    "manifold-cnn is {:.2}x faster per training step",
                    theirs / ours
                );
            }
        }
        Ok(o) => println!(
            "PyTorch reference failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("python3 not available: {e}"),
    }
    Ok(())
}
