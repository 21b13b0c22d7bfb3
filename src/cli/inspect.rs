//! `manifold-cnn inspect MESH [--json] [--repair] [--out FILE.npz]`

use manifold_cnn::io::npz::NpzWriter;
use manifold_cnn::{Error, Manifold};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// Arguments of `inspect`.
#[derive(clap::Args, Default)]
pub struct InspectArgs {
    /// An .obj path or a primitive (icosphere:L, grid:NXxNY, flat-torus:NXxNY, flat-mobius:NXxNY, cube:N,
    /// cone:N, torus:NUxNV, mobius:NUxNV), or `default`.
    pub mesh: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Repair what can be repaired instead of failing on the first defect.
    #[arg(long)]
    pub repair: bool,
    /// Write geometry, frames and the connection to an .npz file.
    #[arg(long)]
    pub out: Option<String>,
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs) -> Result<(), Error> {
    let m = super::load(&args.mesh, args.repair)?;
    let mesh = &m.mesh;
    let mut defects: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &m.report.repairs {
        *defects.entry(r.kind()).or_default() += 1;
    }
    let total_curvature = m.geometry.total_curvature(mesh);
    let residual = m.geometry.gauss_bonnet_residual(mesh);
    if args.json {
        super::print_json(&json!({
            "mesh": args.mesh,
            "vertices": mesh.vertex_count(),
            "faces": mesh.face_count(),
            "edges": mesh.edge_count(),
            "components": mesh.components().len(),
            "boundary_loops": mesh.boundary_loops().len(),
            "orientable": mesh.is_orientable(),
            "euler_characteristic": mesh.euler_characteristic(),
            "genus": mesh.genus(),
            "total_curvature": total_curvature,
            "gauss_bonnet_residual": residual,
            "flipped_faces": m.report.flipped_faces,
            "defects": defects,
            "repairs": m.report.repairs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        }))?;
    } else {
        outln!("mesh               {}", args.mesh)?;
        outln!("vertices           {}", mesh.vertex_count())?;
        outln!("faces              {}", mesh.face_count())?;
        outln!("edges              {}", mesh.edge_count())?;
        outln!("components         {}", mesh.components().len())?;
        outln!("boundary loops     {}", mesh.boundary_loops().len())?;
        outln!("orientable         {}", mesh.is_orientable())?;
        outln!("euler char.        {}", mesh.euler_characteristic())?;
        match mesh.genus() {
            Some(g) => outln!("genus              {g}")?,
            None => outln!("genus              undefined (non-orientable)")?,
        }
        outln!(
            "flipped faces      {} (to orient consistently)",
            m.report.flipped_faces
        )?;
        if defects.is_empty() {
            outln!("defects            none")?;
        } else {
            for (k, n) in &defects {
                outln!("defect             {k}: {n}")?;
            }
        }
        outln!(
            "total curvature    {total_curvature:.12} (2πχ = {:.12})",
            2.0 * std::f64::consts::PI * mesh.euler_characteristic() as f64
        )?;
        outln!("Gauss-Bonnet res.  {residual:.3e}")?;
    }
    if let Some(path) = &args.out {
        manifold_cnn::io::write_atomically(Path::new(path), |tmp| write_npz(&m, tmp))?;
        if !args.json {
            outln!("wrote              {path}")?;
        }
    }
    Ok(())
}

/// Writes `inspect --out`: the mesh arrays ([`Manifold::write_mesh_arrays`]), `angle_defects` (N: the
/// Gauss–Bonnet contribution, 2π − Θ inside and π − Θ on the boundary), `vertex_areas` (N), and per
/// directed edge `edge_src`, `edge_dst`, `edge_polar_angle`, `transport_angle`, `transport_reflect`.
pub fn write_npz(m: &Manifold, path: &Path) -> Result<(), Error> {
    let mesh = &m.mesh;
    let (nv, ns) = (mesh.vertex_count() as u64, mesh.spoke_count() as u64);
    let mut w = NpzWriter::create(path)?;
    m.write_mesh_arrays(&mut w)?;
    w.f64("angle_defects", &[nv], &m.geometry.vertex_curvatures(mesh))?;
    w.f64("vertex_areas", &[nv], m.geometry.vertex_areas())?;
    let src: Vec<u32> = mesh
        .vertices()
        .flat_map(|v| mesh.vertex_spokes(v).map(move |_| v.raw()))
        .collect();
    let dst: Vec<u32> = mesh.spoke_targets().iter().map(|v| v.raw()).collect();
    let t = &m.connection;
    w.u32("edge_src", &[ns], &src)?;
    w.u32("edge_dst", &[ns], &dst)?;
    w.f64("edge_polar_angle", &[ns], m.frames.spoke_angles())?;
    w.f64("transport_angle", &[ns], t.spoke_angles())?;
    w.bool(
        "transport_reflect",
        &[ns],
        &t.spoke_transports().map(|g| g.reflect).collect::<Vec<_>>(),
    )?;
    w.finish()
}
