//! `manifold-cnn` with no arguments: a short tour of the pipeline.

use manifold_cnn::transport::wrap_angle;
use manifold_cnn::Error;
use std::f64::consts::PI;

/// Arguments of `tour`.
#[derive(clap::Args)]
pub struct TourArgs {
    /// Mesh spec (default: the embedded eight.obj, a closed genus-2 surface).
    #[arg(default_value = "default")]
    pub mesh: String,
}

impl Default for TourArgs {
    fn default() -> Self {
        TourArgs {
            mesh: "default".into(),
        }
    }
}

/// Runs the tour.
pub fn run(args: &TourArgs) -> Result<(), Error> {
    let m = super::load(&args.mesh, false)?;
    let (mesh, geo) = (&m.mesh, &m.geometry);
    let name = if args.mesh == "default" {
        manifold_cnn::io::DEFAULT_MESH_NAME
    } else {
        &args.mesh
    };
    println!("manifold-cnn tour of {name}");
    println!();
    println!("topology");
    println!(
        "  {} vertices, {} edges, {} faces",
        mesh.vertex_count(),
        mesh.edge_count(),
        mesh.face_count()
    );
    println!(
        "  {} component(s), {} boundary loop(s), orientable: {}, χ = {}, genus = {}",
        mesh.components().len(),
        mesh.boundary_loops().len(),
        mesh.is_orientable(),
        mesh.euler_characteristic(),
        mesh.genus()
            .map_or("undefined".to_string(), |g| g.to_string())
    );
    println!();
    println!("curvature (angle defects K_v = 2π − Θ_v)");
    let k = geo.vertex_curvatures(mesh);
    let (kmin, kmax) = k
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    println!(
        "  total {:.12} = 2πχ {:+.3e}",
        k.iter().sum::<f64>(),
        geo.gauss_bonnet_residual(mesh)
    );
    println!(
        "  per vertex: min {kmin:.4}, max {kmax:.4}; surface area {:.4}",
        geo.total_area()
    );
    println!();
    println!("connection (one O(2) element per directed edge)");
    let c = &m.connection;
    let mut worst_round_trip: f64 = 0.0;
    for s in 0..mesh.spoke_count() {
        let g = c
            .spoke_transport(s)
            .then(c.spoke_transport(mesh.spoke_opposite(s)));
        worst_round_trip = worst_round_trip.max(wrap_angle(g.angle).abs());
    }
    println!(
        "  {} directed edges; transport there and back: max error {worst_round_trip:.1e}",
        mesh.spoke_count()
    );
    let scales = m.frames.vertex_scales();
    let face_hol: Vec<f64> = mesh
        .face_ids()
        .map(|f| {
            let vs = mesh.face_vertices(f);
            c.loop_holonomy(mesh, &vs)
                .map(|g| g.angle)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let expected_max = mesh
        .face_ids()
        .map(|f| {
            let k: f64 = (0..3)
                .map(|j| {
                    let h = manifold_cnn::HalfedgeId::from_face_side(f, j);
                    scales[mesh.halfedge_tail(h).index()] * geo.corner_angle(h)
                })
                .sum::<f64>()
                - PI;
            (wrap_angle(k) - face_hol[f.index()]).abs()
        })
        .fold(0.0, f64::max);
    println!(
        "  face holonomy = Σ s_v α_c − π on every face: max deviation {expected_max:.1e}; sum over faces {:.6} (2πχ = {:.6})",
        face_hol.iter().sum::<f64>(),
        2.0 * PI * mesh.euler_characteristic() as f64
    );
    println!();
    println!("next: `manifold-cnn inspect MESH --json`, `manifold-cnn --help`");
    Ok(())
}
