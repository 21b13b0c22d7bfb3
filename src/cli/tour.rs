//! `manifold-cnn` with no arguments: a short tour of the pipeline.

use candle_core::DType;
use manifold_cnn::holonomy::{HolonomyAnalysis, HolonomyOptions};
use manifold_cnn::nn::{
    evaluate, train, Label, Loss, MeshLevels, Model, ModelSpec, Sample, TrainOptions,
};
use manifold_cnn::rng::SplitMix;
use manifold_cnn::transport::wrap_angle;
use manifold_cnn::{Error, Manifold};
use std::f64::consts::PI;
use std::sync::Arc;

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
    outln!("manifold-cnn tour of {name}")?;
    outln!()?;
    outln!("topology")?;
    outln!(
        "  {} vertices, {} edges, {} faces",
        mesh.vertex_count(),
        mesh.edge_count(),
        mesh.face_count()
    )?;
    outln!(
        "  {} component(s), {} boundary loop(s), orientable: {}, χ = {}, genus = {}",
        mesh.components().len(),
        mesh.boundary_loops().len(),
        mesh.is_orientable(),
        mesh.euler_characteristic(),
        mesh.genus()
            .map_or("undefined".to_string(), |g| g.to_string())
    )?;
    outln!()?;
    outln!("curvature (angle defects K_v = 2π − Θ_v)")?;
    let k = geo.vertex_curvatures(mesh);
    let (kmin, kmax) = k
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    outln!(
        "  total {:.12} = 2πχ {:+.3e}",
        k.iter().sum::<f64>(),
        geo.gauss_bonnet_residual(mesh)
    )?;
    outln!(
        "  per vertex: min {kmin:.4}, max {kmax:.4}; surface area {:.4}",
        geo.total_area()
    )?;
    outln!()?;
    outln!("connection (one O(2) element per directed edge)")?;
    let c = &m.connection;
    let mut worst_round_trip: f64 = 0.0;
    for s in mesh.spoke_ids() {
        let g = c
            .spoke_transport(s)
            .then(c.spoke_transport(mesh.spoke_opposite(s)));
        worst_round_trip = worst_round_trip.max(wrap_angle(g.angle).abs());
    }
    outln!(
        "  {} directed edges; transport there and back: max error {worst_round_trip:.1e}",
        mesh.spoke_count()
    )?;
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
    outln!(
        "  face holonomy = Σ s_v α_c − π on every face: max deviation {expected_max:.1e}; sum over faces {:.6} (2πχ = {:.6})",
        face_hol.iter().sum::<f64>(),
        2.0 * PI * mesh.euler_characteristic() as f64
    )?;
    outln!()?;
    learn(&m)?;
    outln!()?;
    outln!("next: `manifold-cnn inspect MESH --json`, `manifold-cnn train --help`, `manifold-cnn --help`")?;
    Ok(())
}

/// Random smooth fields (sums of Gaussian bumps of either sign on the surface) and noisy copies: the
/// network sees the copy and learns, per vertex, where the field is positive.
fn noisy_fields(m: &Manifold, count: usize, rng: &mut SplitMix) -> Vec<(Vec<f32>, Vec<u32>)> {
    let p = m
        .positions
        .as_ref()
        .expect("the tour's meshes have positions");
    let scale = m.geometry.total_area().sqrt();
    (0..count)
        .map(|_| {
            let bumps: Vec<(usize, f64)> = (0..6)
                .map(|i| (rng.below(p.len()), if i % 2 == 0 { 1.0 } else { -1.0 }))
                .collect();
            let field: Vec<f64> = p
                .iter()
                .map(|x| {
                    bumps
                        .iter()
                        .map(|&(c, sign)| {
                            let d2: f64 = (0..3).map(|k| (x[k] - p[c][k]).powi(2)).sum();
                            sign * (-d2 / (2.0 * (0.15 * scale).powi(2))).exp()
                        })
                        .sum()
                })
                .collect();
            let noisy = field
                .iter()
                .map(|f| (f + 0.6 * rng.normal()) as f32)
                .collect();
            let labels = field.iter().map(|&f| u32::from(f > 0.0)).collect();
            (noisy, labels)
        })
        .collect()
}

/// Trains a small network for a few seconds: the library's main job, on the tour's mesh.
fn learn(m: &Manifold) -> Result<(), Error> {
    outln!("learning (a 3-layer network on this mesh, a few seconds)")?;
    let group = HolonomyAnalysis::new(m, &HolonomyOptions::default())?.group();
    let spec = ModelSpec::from_json(
        r#"{ "input_channels": 1, "outputs": 2, "task": "vertex",
             "conv": { "basis": "harmonic:3:2", "rings": 3, "directions": 12, "radius_edges": 2.5 },
             "layers": [ { "type": "conv", "channels": 8 }, { "type": "relu" },
                         { "type": "conv", "channels": 8 }, { "type": "relu" },
                         { "type": "linear", "channels": 2 } ] }"#,
        "tour",
    )?;
    let model = Model::new(&spec, &group, 1, DType::F32)?;
    let mesh = MeshLevels::compile(Arc::new(m.clone()), Vec::new(), &spec.conv, &group, false)?;
    outln!(
        "  task: from a noisy copy of a random smooth field, mark the vertices where the field is positive"
    )?;
    outln!(
        "  measured holonomy group {}: {} kernel basis functions per convolution, {} weights",
        group.name(),
        model.basis_len(),
        model.parameter_count()
    )?;
    let mut rng = SplitMix(2024);
    let to_samples = |data: Vec<(Vec<f32>, Vec<u32>)>| -> Vec<Sample> {
        data.into_iter()
            .map(|(signal, labels)| Sample {
                mesh: 0,
                signal,
                label: Some(Label::Vertex(labels)),
            })
            .collect()
    };
    let train_set = to_samples(noisy_fields(m, 64, &mut rng));
    let test_set = to_samples(noisy_fields(m, 32, &mut rng));
    let raw_accuracy = {
        let (mut hits, mut total) = (0, 0);
        for s in &test_set {
            let Some(Label::Vertex(l)) = &s.label else {
                unreachable!()
            };
            hits += s
                .signal
                .iter()
                .zip(l)
                .filter(|(x, &c)| u32::from(**x > 0.0) == c)
                .count();
            total += l.len();
        }
        hits as f64 / total as f64
    };
    let options = TrainOptions::new()
        .epochs(12)
        .batch_size(8)
        .learning_rate(1e-2)
        .seed(1);
    let meshes = std::slice::from_ref(&mesh);
    let started = std::time::Instant::now();
    train(
        &model,
        meshes,
        &train_set,
        Some(&test_set),
        &options,
        |e, _| {
            outln!(
                "  epoch {:>2}: loss {:.4}, accuracy {:.3} (held-out fields {:.3})",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.val_accuracy.unwrap_or(f64::NAN)
            )?;
            Ok(())
        },
    )?;
    let (_, accuracy) = evaluate(&model, meshes, &test_set, 8, Loss::CrossEntropy)?;
    outln!(
        "  learned: {:.1} % of held-out vertices right, against {:.1} % for the sign of the noisy input \
         (the network learned to average over each vertex's geodesic disc); {:.1} s",
        100.0 * accuracy,
        100.0 * raw_accuracy,
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}
