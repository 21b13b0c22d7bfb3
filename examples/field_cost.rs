//! The cost of a gauge-equivariant layer against an isotropic one of the same width: forward plus
//! backward (input and weight gradients) of one convolution on a batch, and the operators' bytes per
//! vertex.
//!
//! ```sh
//! cargo run --release --example field_cost -- [--level 5] [--batch 8] [--runs 7]
//! ```
//!
//! Both layers map 40 channels to 40 on `icosphere:L` with the exp-map table of the spherical MNIST
//! models (3 rings × 16 directions, radius 2 mean edge lengths): the isotropic one is the SO(2)-
//! constrained `harmonic:3:3` basis (3 radial functions, `[3, 40, 40]` weights), the gauge-equivariant
//! one maps `8x0+8x1+8x2` to itself with 3 radial profiles (3·40·40 free parameters: the same count).
//! Timings are medians over `--runs`, the two layers interleaved, in one process.

use candle_core::{DType, Device, Tensor, Var};
use manifold_cnn::fields::{FieldKernel, FieldType};
use manifold_cnn::holonomy::HolonomyGroup;
use manifold_cnn::kernel::{RadialBasis, RadialProfile};
use manifold_cnn::nn::fields::FieldOp;
use manifold_cnn::nn::{ConvSpec, MeshLevels};
use manifold_cnn::{BuildOptions, Manifold};
use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn random(shape: &[usize], seed: u64) -> Result<Tensor, Box<dyn Error>> {
    let mut rng = manifold_cnn::rng::SplitMix(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn Error>> {
    let (level, batch, runs) = (arg("--level", 5), arg("--batch", 8), arg("--runs", 7));
    let spec = format!("icosphere:{level}");
    let m = Arc::new(Manifold::load(&spec, &BuildOptions::default())?);
    let n = m.mesh.vertex_count();
    let conv = ConvSpec {
        basis: "harmonic:3:3".into(),
        rings: 3,
        directions: 16,
        radius_edges: 2.0,
        padding: "zero".into(),
    };
    let t0 = Instant::now();
    let levels = MeshLevels::compile(m.clone(), vec![], &conv, &HolonomyGroup::so2(), false)?;
    let iso_compile = t0.elapsed().as_secs_f64();
    let fields = FieldType::parse("8x0+8x1+8x2")?;
    let kernel = FieldKernel::new(
        &fields,
        &fields,
        RadialBasis::new(RadialProfile::Gaussian, 3)?,
        false,
    )?;
    let levels = levels.with_fields(&[(0, kernel.clone())])?;
    let field_compile = t0.elapsed().as_secs_f64() - iso_compile;
    let iso = levels.level(0).conv.clone();
    let field: &FieldOp = levels.field_op(0, &kernel).ok_or("field op compiled")?;
    let c = fields.channels();
    let x = Var::from_tensor(&random(&[n, batch, c], 1)?)?;
    let w_iso = Var::from_tensor(&random(&[iso.basis_len(), c, c], 2)?)?;
    let w_field = Var::from_tensor(&random(&[kernel.param_count()], 3)?)?;
    let bias = Var::from_tensor(&Tensor::zeros(c, DType::F32, &Device::Cpu)?)?;
    let probe = random(&[n, batch, c], 4)?;
    let (mut t_iso, mut t_field) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let y = iso
            .for_training()
            .apply(x.as_tensor(), w_iso.as_tensor(), bias.as_tensor())?;
        (y * &probe)?.sum_all()?.backward()?;
        t_iso.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let y = field.apply(x.as_tensor(), w_field.as_tensor(), bias.as_tensor(), true)?;
        (y * &probe)?.sum_all()?.backward()?;
        t_field.push(t.elapsed().as_secs_f64());
    }
    let (iso_s, field_s) = (median(t_iso), median(t_field));
    let iso_bytes = iso.operator().bytes() as f64 / n as f64;
    let field_bytes: f64 = field
        .operators()
        .iter()
        .map(|o| o.bytes() as f64)
        .sum::<f64>()
        / n as f64;
    println!(
        "{spec} ({n} vertices), batch {batch}, {c} → {c} channels, {} threads, median of {runs}",
        rayon::current_num_threads()
    );
    println!(
        "| layer | weights | forward + backward (ms) | operator bytes / vertex | compile (s) |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| isotropic (SO(2)-constrained, B = {}) | {} | {:.1} | {:.0} | {iso_compile:.2} |",
        iso.basis_len(),
        w_iso.elem_count(),
        1e3 * iso_s,
        iso_bytes
    );
    println!(
        "| gauge-equivariant ({fields} → {fields}, B = {:?} per input class) | {} | {:.1} | {:.0} | {field_compile:.2} |",
        field.operators().iter().map(|o| o.basis_len()).collect::<Vec<_>>(),
        kernel.param_count(),
        1e3 * field_s,
        field_bytes
    );
    println!(
        "ratio gauge / isotropic: {:.1}× time, {:.1}× operator bytes",
        field_s / iso_s,
        field_bytes / iso_bytes
    );
    Ok(())
}
