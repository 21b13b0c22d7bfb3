//! `manifold-cnn expmap MESH --rings R --directions A [--radius X | --radius-edges K] [--padding zero|clamp]
//! [--out table.npz] [--json] [--repair]`

use manifold_cnn::expmap::{self, ExpMapTable, BYTES_PER_SAMPLE};
use manifold_cnn::Error;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Arguments of `expmap`.
#[derive(clap::Args, Debug)]
pub struct ExpmapArgs {
    /// An .obj path or a primitive (icosphere:L, grid:NXxNY, flat-torus:NXxNY, flat-mobius:NXxNY, cube:N,
    /// cone:N, torus:NUxNV, mobius:NUxNV).
    pub mesh: String,
    #[command(flatten)]
    pub table: super::TableArgs,
    /// Write the table to an .npz file.
    #[arg(long)]
    pub out: Option<String>,
    /// Print one JSON object (keys: vertices, samples (per vertex), bytes, truncated_fraction, seconds, …).
    #[arg(long)]
    pub json: bool,
    /// Repair the mesh instead of failing on the first defect.
    #[arg(long)]
    pub repair: bool,
}

/// Runs `expmap`.
pub fn run(args: &ExpmapArgs) -> Result<(), Error> {
    // Without --radius or --radius-edges: 5 mean edge lengths, as the option's help and `convolve` say.
    let params = args.table.params()?;
    let m = super::load(&args.mesh, args.repair)?;
    let rho = params.validate(&m)?;
    let samples = (m.mesh.vertex_count() * params.rings * params.directions) as f64;
    super::limits::check_memory(
        "rings, directions",
        &format!(
            "an exp-map table of {} × {} samples on {} vertices",
            params.rings,
            params.directions,
            m.mesh.vertex_count()
        ),
        &[
            (
                "exp-map table",
                samples * (BYTES_PER_SAMPLE as f64 + 4.0 / params.rings as f64),
            ),
            // The export's largest transient: 3 u32 per sample, collected in per-thread pieces
            // and then joined (twice its size at the join).
            (
                "export",
                if args.out.is_some() {
                    24.0 * samples
                } else {
                    0.0
                },
            ),
        ],
    )?;
    let t0 = Instant::now();
    let mut last = Instant::now();
    let table = ExpMapTable::build_with_progress(&m, &params, |done, total| {
        if last.elapsed().as_secs_f64() >= 1.0 && done < total {
            errln!(
                "expmap: {done} / {total} vertices ({:.0}%), {:.1} s",
                100.0 * done as f64 / total as f64,
                t0.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    let truncated = table.truncated_fraction();
    let (n, s) = (table.vertex_count(), table.samples_per_vertex());
    if let Some(path) = &args.out {
        let t = Instant::now();
        manifold_cnn::io::write_atomically(Path::new(path), |tmp| {
            expmap::write_npz(&table, &m, tmp)
        })?;
        if t.elapsed().as_secs_f64() > 1.0 {
            errln!("expmap: wrote {path} in {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    if args.json {
        super::print_json(&json!({
            "mesh": args.mesh,
            "vertices": n,
            "samples": s,
            "total_samples": n * s,
            "rings": table.rings(),
            "directions": table.directions(),
            "radius": rho,
            "bytes": table.bytes(),
            "bytes_per_sample": BYTES_PER_SAMPLE,
            "truncated_fraction": truncated,
            "seconds": seconds,
            "traces_per_second": (n * table.directions()) as f64 / seconds.max(1e-12),
            "out": args.out,
        }))?;
    } else {
        outln!("mesh               {}", args.mesh)?;
        outln!("vertices           {n}")?;
        outln!(
            "samples/vertex     {s} ({} rings × {} directions)",
            table.rings(),
            table.directions()
        )?;
        outln!(
            "radius             {rho:.6} ({:.3} mean edge lengths)",
            rho / m.geometry.mean_edge_length()
        )?;
        outln!("table              {} entries", n * s)?;
        outln!(
            "memory             {:.1} MiB ({BYTES_PER_SAMPLE} bytes/sample + 4 per trace)",
            table.bytes() as f64 / (1024.0 * 1024.0)
        )?;
        outln!("truncated          {:.4}%", 100.0 * truncated)?;
        outln!(
            "time               {seconds:.3} s ({:.3} µs per trace)",
            1e6 * seconds / (n * table.directions()).max(1) as f64
        )?;
        if let Some(path) = &args.out {
            outln!("wrote              {path}")?;
        }
    }
    Ok(())
}
